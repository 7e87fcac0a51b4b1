//! Roots and marking: the sinks that resolve references to ids and reach
//! them, the mark on the calling thread, and back-references.

use super::*;
use crate::Retention;
use crate::explain::{Missed, NO_REFERRER};

/// A reference the mark set aside, to resolve with others.
///
/// Resolving one reference is a chain of dependent cache misses: the
/// table's control bytes, its slot, the node there, that node's keys.
/// Resolved one at a time, the CPU waits out each chain. Resolved a batch
/// at a time in two passes, first the likely id of each in the table
/// ([`Interner::candidate`]), then one comparison each to confirm it, the
/// misses of different references overlap. On the store-shaped benchmark
/// graph this took the mark from 1.80 s to 1.29 s.
///
/// Setting a reference aside copies its target, which allocates nothing
/// only for nodes that own nothing: the mark defers only nodes without
/// drop glue (borrowed keys such as `&str`, integers). Nodes with `String`
/// keys are resolved at once, allocation-free. (No drop glue does not mean
/// small: a key of `[u8; 4096]` would be copied whole per reference.)
#[derive(Debug)]
pub(super) struct Deferred<R> {
    pub(super) hash: u64,
    pub(super) node: R,
    pub(super) how: How,
    /// The node whose references these are.
    pub(super) from: u32,
    pub(super) candidate: Option<u32>,
}

/// Nodes the mark expands before it resolves their deferred references.
pub(super) const EXPAND_BATCH: usize = 16;

/// References set aside before they are resolved anyway, mid-callback: a
/// node with a million references does not buffer them all.
pub(super) const DEFER_LIMIT: usize = 1024;

#[derive(Debug)]
pub(super) struct Unseen<R> {
    pub(super) hash: u64,
    pub(super) node: R,
    pub(super) reach: Reach,
    /// Why it is live, if the collection explains.
    pub(super) why: Option<Why>,
}

/// Where the references a sink receives come from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Origin {
    /// They are roots; plain ones are of this kind.
    Roots(RootKind),
    /// They are the references of this node.
    Node(u32),
}

impl Origin {
    pub(super) fn why(self, strength: Strength, via: Via) -> Why {
        match self {
            Origin::Node(from) => Why {
                from,
                reason: Reason::Reference(strength),
            },
            Origin::Roots(plain) => Why::root(match via {
                Via::Plain => plain,
                Via::Lease => RootKind::Lease,
                Via::Retention => RootKind::Retention,
            }),
        }
    }
}

impl<T, N, K, S> Collector<T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// The sink for roots: references resolved at once, against the table
    /// borrowed shared.
    pub(super) fn referencer<'a>(
        &'a mut self,
        counts: &'a mut EdgeCounts,
        origin: Origin,
    ) -> Referencer<'a, Node<T, N, K>, S, Marker> {
        Referencer {
            nodes: &self.nodes,
            listed: &self.listed,
            marker: &mut self.marker,
            unseen: &mut self.main.unseen,
            deferred: None,
            counts,
            origin,
            from: Reach::Strong,
            reasons: self.explain.then_some(&mut self.reasons),
        }
    }

    /// Marks on the calling thread, a batch of expansions at a time when
    /// references are set aside (see `Deferred`), else one.
    pub(super) fn mark_here<C>(&mut self, ctx: &mut C, run: &mut Run) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        while self.expand_here(ctx, run, C::references)? > 0 {}
        Ok(())
    }

    /// Expands one batch of grey nodes on the calling thread with `expand`,
    /// asks for a checkpoint every few thousand nodes, and interns the
    /// targets found outside the table. Returns how many it expanded.
    pub(super) fn expand_here<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
        mut expand: impl FnMut(
            &mut C,
            &Node<T, N, K>,
            &mut ReferenceSink<'_, T, N, K>,
        ) -> Result<(), C::Error>,
    ) -> Result<usize, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let marking = MarkView::new(&self.nodes, &self.listed, &self.bindings, run.now);
        let reasons = self.explain.then_some(&mut self.reasons);
        let before = self.main.expansions();
        let expanded = marking.expand_batch(
            &mut self.marker,
            &mut self.main,
            reasons,
            &mut |node: &Node<T, N, K>, refs: &mut ReferenceSink<'_, T, N, K>| {
                expand(ctx, node, refs)
            },
        )?;
        if before / CHECKPOINT_EVERY != self.main.expansions() / CHECKPOINT_EVERY {
            run.stats.nodes_expanded = self.main.expanded;
            run.stats.nodes_expanded_flat = self.main.expanded_flat;
            run.check(ctx, Phase::Marking)?;
        }
        self.intern_unseen()?;
        Ok(expanded)
    }
}

/// What every marking thread reads and none writes: the table, the
/// listing, the back-references.
pub(super) struct MarkView<'a, R, S> {
    pub(super) nodes: &'a Interner<R, S>,
    pub(super) listed: &'a BitSet,
    /// Sorted by parent.
    pub(super) bindings: &'a [Binding],
    pub(super) now: SystemTime,
    /// Whether references are set aside to resolve together (`Deferred`).
    pub(super) defer: bool,
}

/// One marking thread's buffers and counts, summed when the threads join.
#[derive(Debug)]
pub(super) struct ThreadState<R> {
    /// Targets found during a callback that the table did not hold yet.
    pub(super) unseen: Vec<Unseen<R>>,
    /// References set aside, resolved a batch at a time.
    pub(super) deferred: Vec<Deferred<R>>,
    pub(super) counts: EdgeCounts,
    pub(super) tally: RootCounts,
    /// Nodes whose references were followed.
    pub(super) expanded: usize,
    /// Nodes reached flat whose structure was followed.
    pub(super) expanded_flat: usize,
    /// The earliest deadline still ahead that the references emitted.
    pub(super) next_deadline: Option<SystemTime>,
    /// A thread of a shared mark: the nodes it reached flat, whose
    /// structure the calling thread follows once no strong work is left.
    pub(super) flat: Vec<u32>,
}

impl<R> Default for ThreadState<R> {
    fn default() -> Self {
        ThreadState {
            unseen: Vec::new(),
            deferred: Vec::new(),
            counts: EdgeCounts::default(),
            tally: RootCounts::default(),
            expanded: 0,
            expanded_flat: 0,
            next_deadline: None,
            flat: Vec::new(),
        }
    }
}

impl<R> ThreadState<R> {
    pub(super) fn clear(&mut self) {
        self.unseen.clear();
        self.deferred.clear();
        self.counts = EdgeCounts::default();
        self.tally = RootCounts::default();
        self.expanded = 0;
        self.expanded_flat = 0;
        self.next_deadline = None;
        self.flat.clear();
    }

    /// Expansions of either kind, for the checkpoints' cadence.
    pub(super) fn expansions(&self) -> usize {
        self.expanded + self.expanded_flat
    }

    /// Adds what another thread found and counted.
    pub(super) fn absorb(&mut self, other: ThreadState<R>) {
        self.unseen.extend(other.unseen);
        self.counts.followed += other.counts.followed;
        self.counts.weak += other.counts.weak;
        self.counts.dead += other.counts.dead;
        self.counts.expired_from.extend(other.counts.expired_from);
        self.tally.merge(&other.tally);
        self.expanded += other.expanded;
        self.expanded_flat += other.expanded_flat;
        note_deadline(&mut self.next_deadline, other.next_deadline);
    }
}

impl<'a, T, N, K, S> MarkView<'a, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    pub(super) fn new(
        nodes: &'a Interner<Node<T, N, K>, S>,
        listed: &'a BitSet,
        bindings: &'a [Binding],
        now: SystemTime,
    ) -> Self {
        MarkView {
            nodes,
            listed,
            bindings,
            now,
            defer: !std::mem::needs_drop::<Node<T, N, K>>(),
        }
    }

    /// Expands up to a batch of the grey nodes of `marks` with `expand`
    /// (the context's `references`), then resolves the references set
    /// aside. Returns how many it expanded: zero once `marks` has no grey
    /// node left.
    pub(super) fn expand_batch<M: Marks, E>(
        &self,
        marks: &mut M,
        state: &mut ThreadState<Node<T, N, K>>,
        mut reasons: Option<&mut Reasons>,
        expand: &mut impl FnMut(&Node<T, N, K>, &mut ReferenceSink<'_, T, N, K>) -> Result<(), E>,
    ) -> Result<usize, Error<E, Node<T, N, K>>> {
        let batch = if self.defer { EXPAND_BATCH } else { 1 };
        let mut expanded = 0;
        // A batch starts with every reference of the last one resolved and
        // every unseen target interned: strong work, if any is left, is on
        // the stack. Once this batch expands a strong node, its references
        // may hold more, until the batch ends.
        let mut strong_done = true;
        while expanded < batch {
            let Some((id, reach)) = marks.pop_grey(strong_done) else {
                break;
            };
            strong_done &= reach == Reach::Flat;
            let node = self.nodes.get(id);
            let mut referencer = Referencer {
                nodes: self.nodes,
                listed: self.listed,
                marker: &mut *marks,
                unseen: &mut state.unseen,
                deferred: self.defer.then_some(&mut state.deferred),
                counts: &mut state.counts,
                origin: Origin::Node(id),
                from: reach,
                reasons: reasons.as_deref_mut(),
            };
            let mut refs = ReferenceSink::new(&mut referencer, self.now, &mut state.tally, false);
            if let Err(source) = expand(node, &mut refs) {
                return Err(Error::References {
                    node: node.clone(),
                    source,
                });
            }
            note_deadline(&mut state.next_deadline, refs.next_deadline());
            if !self.bindings.is_empty() {
                state.tally.back_references +=
                    follow_bindings(self.bindings, id, reach, marks, reasons.as_deref_mut());
            }
            match reach {
                Reach::Strong => state.expanded += 1,
                Reach::Flat => state.expanded_flat += 1,
            }
            expanded += 1;
        }
        if self.defer && !state.deferred.is_empty() {
            // Each reference set aside carries its own origin.
            let mut referencer = Referencer {
                nodes: self.nodes,
                listed: self.listed,
                marker: marks,
                unseen: &mut state.unseen,
                deferred: Some(&mut state.deferred),
                counts: &mut state.counts,
                origin: Origin::Node(0),
                from: Reach::Strong,
                reasons,
            };
            referencer.resolve_deferred();
        }
        Ok(expanded)
    }
}

/// A back-reference: `(parent, child, strength)`, a reference from parent
/// to child that the child declared.
pub(super) type Binding = (u32, u32, Strength);

/// Reaches the children bound to `parent` by back-references, each as its
/// strength says from a parent reached `reach` (a structural one as the
/// parent was reached). Returns how many it followed.
pub(super) fn follow_bindings(
    bindings: &[Binding],
    parent: u32,
    reach: Reach,
    marks: &mut impl Marks,
    mut reasons: Option<&mut Reasons>,
) -> usize {
    let first = bindings.partition_point(|&(p, _, _)| p < parent);
    let children = bindings[first..]
        .iter()
        .take_while(|&&(p, _, _)| p == parent);
    let mut followed = 0;
    for &(_, child, strength) in children {
        let Some(reach) = reach.through(strength) else {
            // A weak back-reference from a parent read in full: the one
            // not followed that an explaining collection reports.
            if let Some(reasons) = reasons.as_deref_mut() {
                if reach == Reach::Strong && strength == Strength::Weak {
                    reasons.note(child, parent, Missed::Weak);
                }
            }
            continue;
        };
        if marks.reach(child, reach) {
            if let Some(reasons) = reasons.as_deref_mut() {
                let why = Why {
                    from: parent,
                    reason: Reason::BackReference,
                };
                reasons.record(child, why);
            }
        }
        followed += 1;
    }
    followed
}

#[derive(Debug, Default)]
pub(super) struct EdgeCounts {
    pub(super) followed: usize,
    pub(super) weak: usize,
    pub(super) dead: usize,
    /// Nodes that emitted an expiring reference, not weak, past its
    /// deadline: live nodes among them hold less than they name (see
    /// `Plan::apply_watched`).
    pub(super) expired_from: Vec<u32>,
}

/// The sink for roots and references: one hash and one probe per
/// reference; a clone only for a target the table does not hold, or, for
/// nodes that own nothing, a copy to resolve later (`Deferred`).
pub(super) struct Referencer<'a, R, S, M> {
    pub(super) nodes: &'a Interner<R, S>,
    pub(super) listed: &'a BitSet,
    pub(super) marker: &'a mut M,
    pub(super) unseen: &'a mut Vec<Unseen<R>>,
    /// Where references are set aside, when they are.
    pub(super) deferred: Option<&'a mut Vec<Deferred<R>>>,
    pub(super) counts: &'a mut EdgeCounts,
    pub(super) origin: Origin,
    /// How the node whose references these are was reached (roots: as if
    /// strongly).
    pub(super) from: Reach,
    /// Present when the collection explains.
    pub(super) reasons: Option<&'a mut Reasons>,
}

impl<T, N, K, S, M> EmitReference<T, N, K> for Referencer<'_, Node<T, N, K>, S, M>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
    M: Marks,
{
    #[inline]
    fn reads(&self, strength: Strength) -> bool {
        self.from == Reach::Strong || strength == Strength::Structural
    }

    #[inline]
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, via: Via) {
        if let Some(how) = self.follow(strength, via) {
            let hash = self.nodes.hash(node);
            if self.deferred.is_some() {
                self.defer(hash, node.clone(), how);
            } else {
                let id = self.nodes.find(hash, node);
                self.reach(id, hash, || node.clone(), how);
            }
        } else if self.reasons.is_some() {
            self.note_weak(node);
        }
    }

    fn expired(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        if strength == Strength::Weak {
            return;
        }
        if let Origin::Node(from) = self.origin {
            self.counts.expired_from.push(from);
        }
        if self.reasons.is_some() {
            self.note_missed(node, Missed::Expired(expires));
        }
    }

    fn not_retained(
        &mut self,
        node: &Node<T, N, K>,
        rank: usize,
        created: SystemTime,
        rule: &Retention,
    ) {
        // Counted as the weak reference it is.
        let _ = self.follow(Strength::Weak, Via::Retention);
        if self.reasons.is_some() {
            let rule = *rule;
            self.note_missed(
                node,
                Missed::NotRetained {
                    rank,
                    created,
                    rule,
                },
            );
        }
    }

    fn references(&mut self, nodes: &[Node<T, N, K>], strength: Strength) {
        if self.deferred.is_some() || nodes.len() < 2 {
            for node in nodes {
                self.reference(node, strength, Via::Plain);
            }
            return;
        }
        let Some(how) = self.follow_all(strength, nodes.len()) else {
            if self.reasons.is_some() {
                nodes.iter().for_each(|node| self.note_weak(node));
            }
            return;
        };
        // As `Deferred`, without copies: the nodes outlive this call. Hash
        // and guess a chunk's ids first, then confirm each.
        const CHUNK: usize = 16;
        let mut guesses = [(0u64, None); CHUNK];
        for chunk in nodes.chunks(CHUNK) {
            for (guess, node) in guesses.iter_mut().zip(chunk) {
                let hash = self.nodes.hash(node);
                *guess = (hash, self.nodes.candidate(hash));
            }
            for (&(hash, guess), node) in guesses.iter().zip(chunk) {
                let id = self.nodes.confirm(hash, guess, node);
                self.reach(id, hash, || node.clone(), how);
            }
        }
    }

    #[inline]
    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength, via: Via) {
        if let Some(how) = self.follow(strength, via) {
            let hash = self.nodes.hash_with(|h| view.hash_as_node(h));
            if self.deferred.is_some() {
                self.defer(hash, view.to_node(), how);
            } else {
                let id = self.nodes.find_by(hash, |c| view.is(c));
                self.reach(id, hash, || view.to_node(), how);
            }
        } else if self.reasons.is_some() {
            self.note_weak(&view.to_node());
        }
    }
}

impl<T, N, K, S, M> Referencer<'_, Node<T, N, K>, S, M>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// With explain: a reference the mark did not follow. From a node read
    /// in full (or the roots) it was weak, a reason to report if its
    /// target is swept; from a node reached flat it was not read at all.
    ///
    /// Out of line, and only ever called when explaining: the mark's own
    /// path pays one branch for it, on references it does not follow.
    #[cold]
    #[inline(never)]
    fn note_weak(&mut self, node: &Node<T, N, K>) {
        if self.from == Reach::Strong {
            self.note_missed(node, Missed::Weak);
        }
    }

    /// With explain: notes `missed` on `node`, if it is listed (only a
    /// listed node is ever swept). One hash and one probe.
    #[cold]
    #[inline(never)]
    fn note_missed(&mut self, node: &Node<T, N, K>, missed: Missed) {
        let Some(reasons) = self.reasons.as_deref_mut() else {
            return;
        };
        let Some(id) = self.nodes.find(self.nodes.hash(node), node) else {
            return;
        };
        if !self.listed.contains(id) {
            return;
        }
        let from = match self.origin {
            Origin::Node(from) => from,
            Origin::Roots(_) => NO_REFERRER,
        };
        reasons.note(id, from, missed);
    }
}

impl<R: Hash + Eq + Clone, S: BuildHasher, M: Marks> Referencer<'_, R, S, M> {
    #[inline]
    pub(super) fn defer(&mut self, hash: u64, node: R, how: How) {
        let (Some(deferred), Origin::Node(from)) = (self.deferred.as_deref_mut(), self.origin)
        else {
            unreachable!("only the references of nodes are deferred");
        };
        deferred.push(Deferred {
            hash,
            node,
            how,
            from,
            candidate: None,
        });
        if deferred.len() >= DEFER_LIMIT {
            self.resolve_deferred();
        }
    }

    /// Resolves and marks the references set aside: see [`Deferred`].
    pub(super) fn resolve_deferred(&mut self) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        for reference in deferred.iter_mut() {
            reference.candidate = self.nodes.candidate(reference.hash);
        }
        let origin = self.origin;
        for reference in deferred.drain(..) {
            let id = self
                .nodes
                .confirm(reference.hash, reference.candidate, &reference.node);
            self.origin = Origin::Node(reference.from);
            let node = reference.node;
            self.reach(id, reference.hash, || node, reference.how);
        }
        self.origin = origin;
        self.deferred = Some(deferred);
    }
}

/// How one emitted reference reaches its target, and how it was emitted,
/// for the reason a collection that explains records.
#[derive(Clone, Copy, Debug)]
pub(super) struct How {
    pub(super) reach: Reach,
    pub(super) strength: Strength,
    pub(super) via: Via,
}

impl<R, S, M: Marks> Referencer<'_, R, S, M> {
    /// Counts a reference of `strength`, and says how it reaches its target
    /// from the node being expanded, if it is followed at all.
    #[inline]
    pub(super) fn follow(&mut self, strength: Strength, via: Via) -> Option<How> {
        let how = self.follow_all(strength, 1)?;
        Some(How { via, ..how })
    }

    /// [`follow`](Self::follow) for `count` references of one strength. A
    /// flat expansion reads the structure only: what it does not follow, it
    /// does not count either.
    #[inline]
    pub(super) fn follow_all(&mut self, strength: Strength, count: usize) -> Option<How> {
        let reach = self.from.through(strength);
        match reach {
            Some(_) => self.counts.followed += count,
            None if self.from == Reach::Strong => self.counts.weak += count,
            None => {}
        }
        Some(How {
            reach: reach?,
            strength,
            via: Via::Plain,
        })
    }

    /// Marks the target found as `id`, or, if the table has never seen it,
    /// sets it aside (made by `owned`) to be interned after the callback.
    #[inline]
    pub(super) fn reach(
        &mut self,
        id: Option<u32>,
        hash: u64,
        owned: impl FnOnce() -> R,
        how: How,
    ) {
        match id {
            Some(id) => {
                if !self.listed.contains(id) {
                    self.counts.dead += 1;
                }
                let turned_live = self.marker.reach(id, how.reach);
                if let Some(reasons) = self.reasons.as_deref_mut().filter(|_| turned_live) {
                    reasons.record(id, self.origin.why(how.strength, how.via));
                }
            }
            None => {
                self.counts.dead += 1;
                let why = self
                    .reasons
                    .is_some()
                    .then(|| self.origin.why(how.strength, how.via));
                self.unseen.push(Unseen {
                    hash,
                    node: owned(),
                    reach: how.reach,
                    why,
                });
            }
        }
    }
}
