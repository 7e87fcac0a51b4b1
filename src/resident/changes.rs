//! Changes to a resident graph, staged as a store transaction stages its
//! writes, and applied in two steps around the store's commit:
//!
//! 1. [`Graph::prepare`], **before** the store commits: everything that
//!    makes more live (a node, a reference, a root, a later use or
//!    deadline) is applied at once, and recorded to undo;
//! 2. [`Graph::commit`], **after** the store committed: everything that
//!    makes less live (removals, an earlier use or deadline) is applied;
//!    or [`Graph::abort`], if the store did not commit: the additions are
//!    undone.
//!
//! So between the two steps the graph holds the union of the store before
//! and after the transaction, and a collection then keeps whatever either
//! makes live: a change committed in the store but not yet in the graph
//! cannot make a collection sweep what it made live. After the commit the
//! graph is as the store is after the changes applied in order, however
//! many of them touch one thing (a node removed and listed again, a use
//! corrected then renewed, a lease given back and taken again). Costs: one
//! hash per node named; a removed reference costs the length of its
//! referrer's row, twice.

use std::sync::Arc;
use std::time::SystemTime;

use super::*;
use crate::Strength;

/// Changes to a store, to report to its [`Graph`]: staged inside the store
/// transaction, applied by [`Graph::prepare`] and [`Graph::commit`]. Owns
/// its nodes and borrows nothing, so it can be built while the store
/// transaction is open.
#[derive(Clone, Debug)]
pub struct Changes<T, N, K> {
    ops: Vec<Op<T, N, K>>,
}

#[derive(Clone, Debug)]
enum Op<T, N, K> {
    AddNode(Node<T, N, K>, Option<SystemTime>),
    RemoveNode(Node<T, N, K>),
    Touch(Node<T, N, K>, SystemTime),
    AddReference(Edge<T, N, K>, Option<SystemTime>),
    RemoveReference(Edge<T, N, K>, bool),
    Renew(Edge<T, N, K>, SystemTime),
    AddRoot(Node<T, N, K>, Strength, Option<SystemTime>),
    RemoveRoot(Node<T, N, K>, Strength, bool),
    RenewRoot(Node<T, N, K>, Strength, SystemTime),
    Bind {
        child: Node<T, N, K>,
        parent: Node<T, N, K>,
        strength: Strength,
    },
}

#[derive(Clone, Debug)]
struct Edge<T, N, K> {
    from: Node<T, N, K>,
    to: Node<T, N, K>,
    strength: Strength,
}

impl<T, N, K> Op<T, N, K> {
    /// The nodes the change names, in the order `stage` takes their ids.
    fn nodes(&self) -> (&Node<T, N, K>, Option<&Node<T, N, K>>) {
        match self {
            Op::AddNode(node, _)
            | Op::RemoveNode(node)
            | Op::Touch(node, _)
            | Op::AddRoot(node, ..)
            | Op::RemoveRoot(node, ..)
            | Op::RenewRoot(node, ..) => (node, None),
            Op::AddReference(edge, _) | Op::RemoveReference(edge, _) | Op::Renew(edge, _) => {
                (&edge.from, Some(&edge.to))
            }
            Op::Bind { child, parent, .. } => (child, Some(parent)),
        }
    }
}

/// A node of staged changes, looked up before `prepare` in a graph that
/// does not change until then (a collection's long part holds it still):
/// so the lookup, a hash and a comparison with cold key bytes, is paid by
/// the writer, not inside a collection's pause.
#[derive(Clone, Copy, Debug)]
pub(super) enum Resolved {
    /// In the graph, with this id.
    Known(u32),
    /// Not in the graph: interned with this hash.
    New(u64),
    /// The same node as the one at this position of the changes' nodes,
    /// which was new.
    Again(u32),
}

impl<T, N, K> Default for Changes<T, N, K> {
    fn default() -> Self {
        Changes { ops: Vec::new() }
    }
}

impl<T, N, K> Changes<T, N, K> {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many changes are staged.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Every node the changes name, in the order `stage` takes their ids.
    fn nodes(&self) -> impl Iterator<Item = &Node<T, N, K>> {
        self.ops.iter().flat_map(|op| {
            let (first, second) = op.nodes();
            std::iter::once(first).chain(second)
        })
    }

    /// A node the store now lists: a candidate, as
    /// [`NodeSink::push`](crate::NodeSink::push).
    pub fn add_node(&mut self, node: Node<T, N, K>) -> &mut Self {
        self.ops.push(Op::AddNode(node, None));
        self
    }

    /// A node the store now lists, used at `last_used`: as
    /// [`NodeSink::push_used`](crate::NodeSink::push_used).
    pub fn add_node_used(&mut self, node: Node<T, N, K>, last_used: SystemTime) -> &mut Self {
        self.ops.push(Op::AddNode(node, Some(last_used)));
        self
    }

    /// A node the store removed: no longer a candidate, and its
    /// references, its back-references to parents and its last use are
    /// gone with it. Roots on it and references to it stay until they are
    /// removed themselves (a reference to it is a dead edge meanwhile).
    /// Report it for a node the store never listed, too (an image deleted):
    /// the graph keeps a node's references until then, named or not.
    pub fn remove_node(&mut self, node: Node<T, N, K>) -> &mut Self {
        self.ops.push(Op::RemoveNode(node));
        self
    }

    /// The node was used at `at` (for the grace period): the later of this
    /// and the last use counts... unless `at` is earlier, which the graph
    /// takes as a correction, applied at commit.
    pub fn touch(&mut self, node: Node<T, N, K>, at: SystemTime) -> &mut Self {
        self.ops.push(Op::Touch(node, at));
        self
    }

    /// A reference from `from` to `to` of `strength`. References are
    /// counted: added twice, it must be removed twice.
    pub fn add_reference(
        &mut self,
        from: Node<T, N, K>,
        to: Node<T, N, K>,
        strength: Strength,
    ) -> &mut Self {
        let edge = Edge { from, to, strength };
        self.ops.push(Op::AddReference(edge, None));
        self
    }

    /// A reference that holds until `expires`, that instant included, as
    /// [`ReferenceSink::expiring`](crate::ReferenceSink::expiring). Copies
    /// of one expiring reference share one deadline: the later.
    pub fn add_expiring_reference(
        &mut self,
        from: Node<T, N, K>,
        to: Node<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        let edge = Edge { from, to, strength };
        self.ops.push(Op::AddReference(edge, Some(expires)));
        self
    }

    /// Removes one copy of a reference added with
    /// [`add_reference`](Self::add_reference). With no copy left (after
    /// the removals staged before it), it removes nothing.
    pub fn remove_reference(
        &mut self,
        from: Node<T, N, K>,
        to: Node<T, N, K>,
        strength: Strength,
    ) -> &mut Self {
        let edge = Edge { from, to, strength };
        self.ops.push(Op::RemoveReference(edge, false));
        self
    }

    /// Removes one copy of a reference added with
    /// [`add_expiring_reference`](Self::add_expiring_reference).
    pub fn remove_expiring_reference(
        &mut self,
        from: Node<T, N, K>,
        to: Node<T, N, K>,
        strength: Strength,
    ) -> &mut Self {
        let edge = Edge { from, to, strength };
        self.ops.push(Op::RemoveReference(edge, true));
        self
    }

    /// Sets the deadline of an expiring reference: a lease renewed (later:
    /// applied at prepare) or shortened (earlier: at commit).
    pub fn renew_reference(
        &mut self,
        from: Node<T, N, K>,
        to: Node<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        let edge = Edge { from, to, strength };
        self.ops.push(Op::Renew(edge, expires));
        self
    }

    /// A root on `node` of `strength`, as
    /// [`ReferenceSink::add`](crate::ReferenceSink::add) in
    /// [`roots`](crate::CollectionContext::roots). Counted, as references
    /// are.
    pub fn add_root(&mut self, node: Node<T, N, K>, strength: Strength) -> &mut Self {
        self.ops.push(Op::AddRoot(node, strength, None));
        self
    }

    /// A root that holds until `expires`, that instant included: a lease.
    pub fn add_expiring_root(
        &mut self,
        node: Node<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        self.ops.push(Op::AddRoot(node, strength, Some(expires)));
        self
    }

    /// Removes one copy of a root added with [`add_root`](Self::add_root).
    pub fn remove_root(&mut self, node: Node<T, N, K>, strength: Strength) -> &mut Self {
        self.ops.push(Op::RemoveRoot(node, strength, false));
        self
    }

    /// Removes one copy of a root added with
    /// [`add_expiring_root`](Self::add_expiring_root).
    pub fn remove_expiring_root(&mut self, node: Node<T, N, K>, strength: Strength) -> &mut Self {
        self.ops.push(Op::RemoveRoot(node, strength, true));
        self
    }

    /// Sets the deadline of an expiring root: a lease renewed or shortened.
    pub fn renew_root(
        &mut self,
        node: Node<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        self.ops.push(Op::RenewRoot(node, strength, expires));
        self
    }

    /// `child` lives as long as `parent`, as
    /// [`NodeSink::back_reference`](crate::NodeSink::back_reference) (and
    /// [`lives_with`](crate::NodeSink::lives_with) with
    /// `Strength::Structural`). It goes when the child is removed.
    pub fn back_reference(
        &mut self,
        child: Node<T, N, K>,
        parent: Node<T, N, K>,
        strength: Strength,
    ) -> &mut Self {
        self.ops.push(Op::Bind {
            child,
            parent,
            strength,
        });
        self
    }
}

/// Changes applied halfway: their additions are in the graph, their
/// removals wait. Hand it back to [`Graph::commit`] once the store has
/// committed, or to [`Graph::abort`] if it has not.
///
/// Dropped without either, the additions stay and the removals are
/// forgotten: the graph keeps more than the store, never less, and
/// [`Graph::verify`] reports the difference. While one is held, the graph
/// does not compact (compaction renumbers ids).
#[derive(Debug)]
#[must_use = "commit it after the store commits, or abort it"]
pub struct Prepared {
    graph: Arc<()>,
    /// Which `prepare` this was: prepares run inside store transactions,
    /// so their order is the store's.
    seq: u64,
    /// Each time the changes set, as the graph held it when `prepare`
    /// returned: at commit the changes set it only if it is still that
    /// (changes prepared since, committed in the store after these, have
    /// the last word).
    seen: HashMap<Clock, Option<SystemTime>>,
    /// Every node an addition named, by id: what a collection running
    /// while these changes were staged must keep, with its closure (the
    /// write barrier's reports; a removal only makes less live).
    pub(super) named: Vec<u32>,
    undo: Vec<Undo>,
    later: Vec<Later>,
    /// The changes in order, as far as the graph needs them to apply
    /// several to one thing (a node removed and listed again, a lease
    /// shortened then renewed) as the store applied them.
    sequence: Sequence,
}

/// An addition, to undo on abort.
#[derive(Debug)]
enum Undo {
    Listed(u32),
    LastUsed(u32, Option<SystemTime>),
    Reference(u32, u32),
    Deadline((u32, u32), Option<SystemTime>),
    Root(u32),
    RootDeadline(u32, Option<SystemTime>),
    Bound { child: u32, parent: u32, edge: u32 },
}

/// A removal, to apply on commit.
#[derive(Debug)]
enum Later {
    /// The copies of the node's references and back-references that its
    /// removal takes: those there when it was staged, less those an
    /// earlier removal in the same changes takes. `relisted`: listed again
    /// later in the same changes.
    Unlist {
        id: u32,
        references: Vec<u32>,
        parents: Vec<(u32, u32)>,
        relisted: bool,
    },
    Reference(u32, u32),
    Root(u32),
}

/// A time the graph keeps: a listed node's last use, the deadline of an
/// expiring reference `(referrer, packed edge)` or of an expiring root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Clock {
    LastUsed(u32),
    Deadline(u32, u32),
    RootDeadline(u32),
}

/// What the changes staged so far leave, where the graph, which applies
/// the additions at once and the removals later, differs from the store,
/// which applied them in order.
#[derive(Debug, Default)]
struct Sequence {
    /// Copies of each reference `(referrer, packed edge)` that a staged
    /// removal takes at commit.
    references: HashMap<(u32, u32), u32>,
    /// Copies of each back-reference `(child, parent, packed edge)` that
    /// a staged removal takes at commit.
    bound: HashMap<(u32, u32, u32), u32>,
    /// Copies of each root that a staged removal takes at commit.
    roots: HashMap<u32, u32>,
    /// Each time the changes set, as the last of them leaves it (`None`:
    /// gone): set at commit, whatever the graph raised it to meanwhile.
    clocks: HashMap<Clock, Option<SystemTime>>,
}

impl Sequence {
    /// The time `clock` has after the changes staged so far: theirs if
    /// they set it, else the graph's.
    fn clock(&self, clock: Clock, graph: Option<SystemTime>) -> Option<SystemTime> {
        self.clocks.get(&clock).copied().unwrap_or(graph)
    }
}

/// [`Graph::commit`] or [`Graph::abort`] was given changes prepared on
/// another graph; nothing was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("these changes were prepared on another graph")]
pub struct NotThisGraph;

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Step one, before the store commits: applies every change that makes
    /// more live, in order, and keeps the rest for [`commit`](Self::commit).
    /// Returns `Err` with nothing applied only if the graph is full (more
    /// nodes than ids).
    pub fn prepare(&mut self, changes: &Changes<T, N, K>) -> Result<Prepared, GraphError<T, N, K>> {
        self.prepare_resolved(changes, None)
    }

    /// [`prepare`](Self::prepare), with the changes' nodes looked up
    /// already by [`resolve`](Self::resolve) in this graph as it still is.
    pub(super) fn prepare_resolved(
        &mut self,
        changes: &Changes<T, N, K>,
        resolved: Option<&[Resolved]>,
    ) -> Result<Prepared, GraphError<T, N, K>> {
        // Every id first: a full graph stages nothing.
        let ids = self.ids(changes, resolved)?;
        self.prepares += 1;
        let mut prepared = Prepared {
            graph: Arc::clone(&self.pending),
            seq: self.prepares,
            seen: HashMap::default(),
            named: Vec::new(),
            undo: Vec::new(),
            later: Vec::new(),
            sequence: Sequence::default(),
        };
        let mut ids = ids.iter();
        for op in &changes.ops {
            self.stage(op, &mut ids, &mut prepared);
        }
        for &clock in prepared.sequence.clocks.keys() {
            prepared.seen.insert(clock, self.clock(clock));
        }
        Ok(prepared)
    }

    /// Step two, after the store committed: applies the removals.
    pub fn commit(&mut self, prepared: Prepared) -> Result<(), NotThisGraph> {
        if !Arc::ptr_eq(&prepared.graph, &self.pending) {
            return Err(NotThisGraph);
        }
        let Prepared {
            graph,
            seq,
            seen,
            later,
            sequence,
            ..
        } = prepared;
        for change in later {
            self.apply_later(change, seq);
        }
        for (clock, at) in sequence.clocks {
            if seen
                .get(&clock)
                .is_none_or(|&seen| self.clock(clock) == seen)
            {
                self.set_clock(clock, at);
            }
        }
        drop(graph);
        self.forget_listings();
        let _ = self.maybe_compact();
        Ok(())
    }

    /// The store did not commit: undoes the additions.
    pub fn abort(&mut self, prepared: Prepared) -> Result<(), NotThisGraph> {
        if !Arc::ptr_eq(&prepared.graph, &self.pending) {
            return Err(NotThisGraph);
        }
        let Prepared { graph, undo, .. } = prepared;
        self.undo(undo);
        drop(graph);
        self.forget_listings();
        Ok(())
    }

    /// [`prepare`](Self::prepare) and [`commit`](Self::commit) at once,
    /// for changes made with the writers held out and the graph under the
    /// same lock (nothing can run between the two steps).
    pub fn apply(&mut self, changes: &Changes<T, N, K>) -> Result<(), GraphError<T, N, K>> {
        let prepared = self.prepare(changes)?;
        self.commit(prepared).expect("prepared on this graph");
        Ok(())
    }

    /// Looks up every node `changes` name, without changing the graph: the
    /// part of [`prepare`](Self::prepare) that reads keys, done ahead.
    /// Valid for [`prepare_resolved`](Self::prepare_resolved) as long as
    /// the graph does not change in between.
    pub(super) fn resolve(&self, changes: &Changes<T, N, K>) -> Vec<Resolved> {
        let nodes: Vec<&Node<T, N, K>> = changes.nodes().collect();
        let mut resolved = Vec::with_capacity(nodes.len());
        // The new nodes so far, by hash and position: few per change.
        let mut new: Vec<(u64, u32)> = Vec::new();
        for (at, node) in nodes.iter().enumerate() {
            let hash = self.hasher.hash_one(node);
            let this = match self.find_hashed(hash, node) {
                Some(id) => Resolved::Known(id),
                None => match new
                    .iter()
                    .find(|&&(seen, first)| seen == hash && nodes[first as usize] == *node)
                {
                    Some(&(_, first)) => Resolved::Again(first),
                    None => {
                        new.push((hash, at as u32));
                        Resolved::New(hash)
                    }
                },
            };
            resolved.push(this);
        }
        resolved
    }

    /// The id of every node `changes` name, in order, interned if new.
    fn ids(
        &mut self,
        changes: &Changes<T, N, K>,
        resolved: Option<&[Resolved]>,
    ) -> Result<Vec<u32>, GraphError<T, N, K>> {
        let full = || crate::Error::TooManyNodes {
            max: MAX_IDS as u64,
        };
        let mut ids = Vec::with_capacity(changes.ops.len() * 2);
        match resolved {
            None => {
                for node in changes.nodes() {
                    ids.push(self.intern(node).ok_or_else(full)?);
                }
            }
            Some(resolved) => {
                debug_assert_eq!(resolved.len(), changes.nodes().count());
                for (node, &this) in changes.nodes().zip(resolved) {
                    let id = match this {
                        Resolved::Known(id) => id,
                        Resolved::New(hash) => self.intern_hashed(hash, node).ok_or_else(full)?,
                        Resolved::Again(first) => ids[first as usize],
                    };
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    fn stage(&mut self, op: &Op<T, N, K>, ids: &mut std::slice::Iter<'_, u32>, p: &mut Prepared) {
        match op {
            Op::AddNode(_, last_used) => {
                let id = next(ids);
                p.named.push(id);
                self.listed_by.insert(id, p.seq);
                // Removed earlier in these changes: listed again, with no
                // last use but this one; each removal takes the references
                // it found and leaves the node.
                let mut was_listed = None;
                for later in p.later.iter_mut().rev() {
                    if let Later::Unlist {
                        id: removed,
                        relisted,
                        ..
                    } = later
                    {
                        if *removed == id {
                            was_listed.get_or_insert(*relisted);
                            *relisted = true;
                        }
                    }
                }
                let was_listed = was_listed.unwrap_or_else(|| self.listed.contains(id));
                if self.listed.insert(id) {
                    self.listed_count += 1;
                    p.undo.push(Undo::Listed(id));
                }
                if last_used.is_some() || !was_listed {
                    let clock = Clock::LastUsed(id);
                    let before = if was_listed {
                        p.sequence.clock(clock, self.last_used.get(&id).copied())
                    } else {
                        None
                    };
                    p.sequence.clocks.insert(clock, before.max(*last_used));
                }
                if let Some(at) = *last_used {
                    self.raise_last_used(id, at, p);
                }
            }
            Op::RemoveNode(_) => {
                let id = next(ids);
                let mut references = Vec::new();
                self.references.for_each(id, |edge| references.push(edge));
                references.sort_unstable();
                let mut taken = Vec::new();
                for copies in references.chunk_by(|a, b| a == b) {
                    let edge = copies[0];
                    let waiting = p.sequence.references.entry((id, edge)).or_default();
                    let left = (copies.len() as u32).saturating_sub(*waiting);
                    taken.extend(std::iter::repeat_n(edge, left as usize));
                    *waiting = copies.len() as u32;
                    if unpack(edge).2 {
                        p.sequence.clocks.insert(Clock::Deadline(id, edge), None);
                    }
                }
                let mut parents = self.parents.get(&id).cloned().unwrap_or_default();
                parents.sort_unstable();
                let mut unbound = Vec::new();
                for copies in parents.chunk_by(|a, b| a == b) {
                    let (parent, edge) = copies[0];
                    let waiting = p.sequence.bound.entry((id, parent, edge)).or_default();
                    let left = (copies.len() as u32).saturating_sub(*waiting);
                    unbound.extend(std::iter::repeat_n((parent, edge), left as usize));
                    *waiting = copies.len() as u32;
                }
                p.later.push(Later::Unlist {
                    id,
                    references: taken,
                    parents: unbound,
                    relisted: false,
                });
                p.sequence.clocks.insert(Clock::LastUsed(id), None);
            }
            Op::Touch(_, at) => {
                let id = next(ids);
                p.named.push(id);
                p.sequence.clocks.insert(Clock::LastUsed(id), Some(*at));
                self.raise_last_used(id, *at, p);
            }
            Op::AddReference(edge, expires) => {
                let (from, packed) = edge_ids(ids, edge.strength, expires.is_some());
                p.named.extend([from, unpack(packed).0]);
                self.references.add(from, packed);
                p.undo.push(Undo::Reference(from, packed));
                if let Some(at) = *expires {
                    // A deadline is kept while a copy is: none before, this
                    // copy's is the deadline.
                    let clock = Clock::Deadline(from, packed);
                    let before = p
                        .sequence
                        .clock(clock, self.deadlines.get(&(from, packed)).copied());
                    p.sequence
                        .clocks
                        .insert(clock, Some(before.map_or(at, |before| before.max(at))));
                    self.raise_deadline((from, packed), at, p);
                }
            }
            Op::RemoveReference(edge, expiring) => {
                let (from, packed) = edge_ids(ids, edge.strength, *expiring);
                let mut copies = 0u32;
                self.references
                    .for_each(from, |e| copies += u32::from(e == packed));
                let waiting = p.sequence.references.entry((from, packed)).or_default();
                // None left to remove, after the removals staged before.
                if copies <= *waiting {
                    return;
                }
                *waiting += 1;
                if *expiring && copies == *waiting {
                    p.sequence
                        .clocks
                        .insert(Clock::Deadline(from, packed), None);
                }
                p.later.push(Later::Reference(from, packed));
            }
            Op::Renew(edge, at) => {
                let (from, packed) = edge_ids(ids, edge.strength, true);
                p.named.extend([from, unpack(packed).0]);
                let clock = Clock::Deadline(from, packed);
                let before = p
                    .sequence
                    .clock(clock, self.deadlines.get(&(from, packed)).copied());
                // No copy to renew: nothing to keep.
                if before.is_some() {
                    p.sequence.clocks.insert(clock, Some(*at));
                    self.raise_deadline((from, packed), *at, p);
                }
            }
            Op::AddRoot(_, strength, expires) => {
                let packed = pack(next(ids), *strength, expires.is_some());
                p.named.push(unpack(packed).0);
                *self.roots.entry(packed).or_default() += 1;
                p.undo.push(Undo::Root(packed));
                if let Some(at) = *expires {
                    let clock = Clock::RootDeadline(packed);
                    let before = p
                        .sequence
                        .clock(clock, self.root_deadlines.get(&packed).copied());
                    p.sequence
                        .clocks
                        .insert(clock, Some(before.map_or(at, |before| before.max(at))));
                    self.raise_root_deadline(packed, at, p);
                }
            }
            Op::RemoveRoot(_, strength, expiring) => {
                let packed = pack(next(ids), *strength, *expiring);
                let copies = self.roots.get(&packed).copied().unwrap_or(0);
                let waiting = p.sequence.roots.entry(packed).or_default();
                if copies <= *waiting {
                    return;
                }
                *waiting += 1;
                if *expiring && copies == *waiting {
                    p.sequence.clocks.insert(Clock::RootDeadline(packed), None);
                }
                p.later.push(Later::Root(packed));
            }
            Op::RenewRoot(_, strength, at) => {
                let packed = pack(next(ids), *strength, true);
                p.named.push(unpack(packed).0);
                let clock = Clock::RootDeadline(packed);
                let before = p
                    .sequence
                    .clock(clock, self.root_deadlines.get(&packed).copied());
                if before.is_some() {
                    p.sequence.clocks.insert(clock, Some(*at));
                    self.raise_root_deadline(packed, *at, p);
                }
            }
            Op::Bind { strength, .. } => {
                let (child, parent) = (next(ids), next(ids));
                p.named.extend([child, parent]);
                self.bind(child, parent, *strength);
                p.undo.push(Undo::Bound {
                    child,
                    parent,
                    edge: pack(child, *strength, false),
                });
            }
        }
    }

    /// Makes `at` the last use of `id` now if it is later, to undo on
    /// abort: between the two steps the graph keeps the later of the old
    /// and the new.
    fn raise_last_used(&mut self, id: u32, at: SystemTime, p: &mut Prepared) {
        let before = self.last_used.get(&id).copied();
        if before.is_none_or(|before| before < at) {
            self.last_used.insert(id, at);
            p.undo.push(Undo::LastUsed(id, before));
        }
    }

    /// As [`raise_last_used`](Self::raise_last_used), for the deadline of
    /// an expiring reference.
    fn raise_deadline(&mut self, key: (u32, u32), at: SystemTime, p: &mut Prepared) {
        let before = self.deadlines.get(&key).copied();
        if before.is_none_or(|before| before < at) {
            self.deadlines.insert(key, at);
            p.undo.push(Undo::Deadline(key, before));
        }
    }

    /// As [`raise_last_used`](Self::raise_last_used), for the deadline of
    /// an expiring root.
    fn raise_root_deadline(&mut self, edge: u32, at: SystemTime, p: &mut Prepared) {
        let before = self.root_deadlines.get(&edge).copied();
        if before.is_none_or(|before| before < at) {
            self.root_deadlines.insert(edge, at);
            p.undo.push(Undo::RootDeadline(edge, before));
        }
    }

    /// At commit: a time as the changes left it.
    fn set_clock(&mut self, clock: Clock, at: Option<SystemTime>) {
        match (clock, at) {
            (Clock::LastUsed(id), Some(at)) => {
                self.last_used.insert(id, at);
            }
            (Clock::LastUsed(id), None) => {
                self.last_used.remove(&id);
            }
            (Clock::Deadline(from, edge), Some(at)) => {
                self.deadlines.insert((from, edge), at);
            }
            (Clock::Deadline(from, edge), None) => {
                self.deadlines.remove(&(from, edge));
            }
            (Clock::RootDeadline(edge), Some(at)) => {
                if self.roots.contains_key(&edge) {
                    self.root_deadlines.insert(edge, at);
                }
            }
            (Clock::RootDeadline(edge), None) => {
                self.root_deadlines.remove(&edge);
            }
        }
    }

    fn undo(&mut self, undo: Vec<Undo>) {
        for change in undo.into_iter().rev() {
            match change {
                Undo::Listed(id) => self.unlist(id),
                Undo::LastUsed(id, before) => match before {
                    Some(at) => {
                        self.last_used.insert(id, at);
                    }
                    None => {
                        self.last_used.remove(&id);
                    }
                },
                Undo::Reference(from, edge) => {
                    self.references.remove(from, edge);
                }
                Undo::Deadline(key, before) => match before {
                    Some(at) => {
                        self.deadlines.insert(key, at);
                    }
                    None => {
                        self.deadlines.remove(&key);
                    }
                },
                Undo::Root(edge) => self.remove_root(edge),
                Undo::RootDeadline(edge, before) => match before {
                    Some(at) => {
                        self.root_deadlines.insert(edge, at);
                    }
                    None => {
                        self.root_deadlines.remove(&edge);
                    }
                },
                Undo::Bound {
                    child,
                    parent,
                    edge,
                } => self.unbind(child, parent, edge),
            }
        }
    }

    /// With no `Prepared` outstanding, no removal is staged to weigh
    /// against a listing.
    fn forget_listings(&mut self) {
        if Arc::strong_count(&self.pending) == 1 {
            self.listed_by.clear();
        }
    }

    /// A time the graph keeps, now.
    fn clock(&self, clock: Clock) -> Option<SystemTime> {
        match clock {
            Clock::LastUsed(id) => self.last_used.get(&id).copied(),
            Clock::Deadline(from, edge) => self.deadlines.get(&(from, edge)).copied(),
            Clock::RootDeadline(edge) => self.root_deadlines.get(&edge).copied(),
        }
    }

    fn apply_later(&mut self, change: Later, seq: u64) {
        match change {
            Later::Unlist {
                id,
                references,
                parents,
                relisted,
            } => {
                for edge in references {
                    self.references.remove(id, edge);
                }
                for (parent, edge) in parents {
                    self.unbind(id, parent, edge);
                }
                // Listed again by changes prepared after these (their store
                // transaction committed later): that listing stands.
                let relisted_since = self.listed_by.get(&id).is_some_and(|&by| by > seq);
                if !relisted && !relisted_since {
                    self.unlist(id);
                }
            }
            Later::Reference(from, edge) => {
                self.references.remove(from, edge);
            }
            Later::Root(edge) => self.remove_root(edge),
        }
    }

    fn unlist(&mut self, id: u32) {
        if self.listed.contains(id) {
            self.listed.remove(id);
            self.listed_count -= 1;
            if let Some(unlisted) = &mut self.unlisted {
                unlisted.push(id);
            }
        }
    }

    fn remove_root(&mut self, edge: u32) {
        if let Some(count) = self.roots.get_mut(&edge) {
            *count -= 1;
            if *count == 0 {
                self.roots.remove(&edge);
                self.root_deadlines.remove(&edge);
            }
        }
    }

    fn unbind(&mut self, child: u32, parent: u32, edge: u32) {
        if !self.bound.remove(parent, edge) {
            return;
        }
        if let Some(parents) = self.parents.get_mut(&child) {
            if let Some(at) = parents.iter().position(|&p| p == (parent, edge)) {
                parents.swap_remove(at);
            }
            if parents.is_empty() {
                self.parents.remove(&child);
            }
        }
    }
}

/// The next of the ids [`Graph::ids`] found, one per node, in order.
fn next(ids: &mut std::slice::Iter<'_, u32>) -> u32 {
    *ids.next().expect("one id per node of the changes")
}

/// A reference's referrer and packed edge, from the next two ids.
fn edge_ids(ids: &mut std::slice::Iter<'_, u32>, strength: Strength, expires: bool) -> (u32, u32) {
    let from = next(ids);
    (from, pack(next(ids), strength, expires))
}
