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
//! cannot make a collection sweep what it made live. Costs: one hash per
//! node named; a removed reference costs the length of its referrer's row.

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
    /// [`add_reference`](Self::add_reference).
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
    undo: Vec<Undo>,
    later: Vec<Later>,
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
    /// The node's references and back-references as they were when its
    /// removal was staged; `relisted`: listed again later in the same
    /// changes, with this last use.
    Unlist {
        id: u32,
        references: Vec<u32>,
        parents: Vec<(u32, u32)>,
        relisted: Option<Option<SystemTime>>,
    },
    LastUsed(u32, SystemTime),
    Reference(u32, u32),
    Deadline((u32, u32), SystemTime),
    Root(u32),
    RootDeadline(u32, SystemTime),
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
        let mut prepared = Prepared {
            graph: Arc::clone(&self.pending),
            undo: Vec::new(),
            later: Vec::new(),
        };
        for op in &changes.ops {
            if let Err(full) = self.stage(op, &mut prepared) {
                self.undo(std::mem::take(&mut prepared.undo));
                return Err(full);
            }
        }
        Ok(prepared)
    }

    /// Step two, after the store committed: applies the removals.
    pub fn commit(&mut self, prepared: Prepared) -> Result<(), NotThisGraph> {
        if !Arc::ptr_eq(&prepared.graph, &self.pending) {
            return Err(NotThisGraph);
        }
        let Prepared { graph, later, .. } = prepared;
        for change in later {
            self.apply_later(change);
        }
        drop(graph);
        self.maybe_compact();
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

    fn id(&mut self, node: &Node<T, N, K>) -> Result<u32, GraphError<T, N, K>> {
        self.intern(node).ok_or(crate::Error::TooManyNodes {
            max: MAX_IDS as u64,
        })
    }

    fn stage(&mut self, op: &Op<T, N, K>, p: &mut Prepared) -> Result<(), GraphError<T, N, K>> {
        match op {
            Op::AddNode(node, last_used) => {
                let id = self.id(node)?;
                if self.listed.insert(id) {
                    self.listed_count += 1;
                    p.undo.push(Undo::Listed(id));
                }
                if let Some(at) = *last_used {
                    let before = self.last_used.get(&id).copied();
                    if before.is_none_or(|before| before < at) {
                        self.last_used.insert(id, at);
                        p.undo.push(Undo::LastUsed(id, before));
                    }
                }
                // Removed earlier in these changes, listed again: the
                // removal takes the old references and leaves the node.
                for later in p.later.iter_mut().rev() {
                    if let Later::Unlist {
                        id: removed,
                        relisted,
                        ..
                    } = later
                    {
                        if *removed == id {
                            *relisted = Some(*last_used);
                            break;
                        }
                    }
                }
            }
            Op::RemoveNode(node) => {
                let id = self.id(node)?;
                let mut references = Vec::new();
                self.references.for_each(id, |edge| references.push(edge));
                let parents = self.parents.get(&id).cloned().unwrap_or_default();
                p.later.push(Later::Unlist {
                    id,
                    references,
                    parents,
                    relisted: None,
                });
            }
            Op::Touch(node, at) => {
                let id = self.id(node)?;
                let before = self.last_used.get(&id).copied();
                if before.is_none_or(|before| before < *at) {
                    self.last_used.insert(id, *at);
                    p.undo.push(Undo::LastUsed(id, before));
                } else {
                    p.later.push(Later::LastUsed(id, *at));
                }
            }
            Op::AddReference(edge, expires) => {
                let (from, packed) = self.edge(edge, expires.is_some())?;
                self.references.add(from, packed);
                p.undo.push(Undo::Reference(from, packed));
                if let Some(at) = *expires {
                    let before = self.deadlines.get(&(from, packed)).copied();
                    if before.is_none_or(|before| before < at) {
                        self.deadlines.insert((from, packed), at);
                        p.undo.push(Undo::Deadline((from, packed), before));
                    }
                }
            }
            Op::RemoveReference(edge, expiring) => {
                let (from, packed) = self.edge(edge, *expiring)?;
                p.later.push(Later::Reference(from, packed));
            }
            Op::Renew(edge, at) => {
                let (from, packed) = self.edge(edge, true)?;
                let before = self.deadlines.get(&(from, packed)).copied();
                if before.is_none_or(|before| before < *at) {
                    self.deadlines.insert((from, packed), *at);
                    p.undo.push(Undo::Deadline((from, packed), before));
                } else {
                    p.later.push(Later::Deadline((from, packed), *at));
                }
            }
            Op::AddRoot(node, strength, expires) => {
                let packed = pack(self.id(node)?, *strength, expires.is_some());
                *self.roots.entry(packed).or_default() += 1;
                p.undo.push(Undo::Root(packed));
                if let Some(at) = *expires {
                    let before = self.root_deadlines.get(&packed).copied();
                    if before.is_none_or(|before| before < at) {
                        self.root_deadlines.insert(packed, at);
                        p.undo.push(Undo::RootDeadline(packed, before));
                    }
                }
            }
            Op::RemoveRoot(node, strength, expiring) => {
                let packed = pack(self.id(node)?, *strength, *expiring);
                p.later.push(Later::Root(packed));
            }
            Op::RenewRoot(node, strength, at) => {
                let packed = pack(self.id(node)?, *strength, true);
                let before = self.root_deadlines.get(&packed).copied();
                if before.is_none_or(|before| before < *at) {
                    self.root_deadlines.insert(packed, *at);
                    p.undo.push(Undo::RootDeadline(packed, before));
                } else {
                    p.later.push(Later::RootDeadline(packed, *at));
                }
            }
            Op::Bind {
                child,
                parent,
                strength,
            } => {
                let (child, parent) = (self.id(child)?, self.id(parent)?);
                self.bind(child, parent, *strength);
                p.undo.push(Undo::Bound {
                    child,
                    parent,
                    edge: pack(child, *strength, false),
                });
            }
        }
        Ok(())
    }

    fn edge(
        &mut self,
        edge: &Edge<T, N, K>,
        expires: bool,
    ) -> Result<(u32, u32), GraphError<T, N, K>> {
        let from = self.id(&edge.from)?;
        let to = self.id(&edge.to)?;
        Ok((from, pack(to, edge.strength, expires)))
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

    fn apply_later(&mut self, change: Later) {
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
                match relisted {
                    Some(last_used) => match last_used {
                        Some(at) => {
                            self.last_used.insert(id, at);
                        }
                        None => {
                            self.last_used.remove(&id);
                        }
                    },
                    None => {
                        self.unlist(id);
                        self.last_used.remove(&id);
                    }
                }
            }
            Later::LastUsed(id, at) => {
                self.last_used.insert(id, at);
            }
            Later::Reference(from, edge) => {
                self.references.remove(from, edge);
            }
            Later::Deadline(key, at) => {
                self.deadlines.insert(key, at);
            }
            Later::Root(edge) => self.remove_root(edge),
            Later::RootDeadline(edge, at) => {
                self.root_deadlines.insert(edge, at);
            }
        }
    }

    fn unlist(&mut self, id: u32) {
        if self.listed.contains(id) {
            self.listed.remove(id);
            self.listed_count -= 1;
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
