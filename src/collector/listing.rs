//! Listing: interning every candidate, settled into the table in batches.

use super::*;
use crate::intern::{TOUCH_GROUP, touch};

/// The listing's sink: interns every candidate, records listing order,
/// the nodes within the grace period and the back-references.
///
/// Every listed node is appended as it comes, and entered into the table
/// in batches ([`Interner::settle`]), which turns a cache miss per node
/// into a walk along the table. A node listed twice has two ids until its
/// batch settles; then the later copy is dropped and its id merged into
/// the earlier.
pub(super) struct Lister<'a, R, S> {
    /// Room to sort appended ids by bucket.
    pub(super) settling: &'a mut Vec<(u64, u32)>,
    /// Back-references as `(child, parent, strength)`, until the listing
    /// is over.
    pub(super) bound: Vec<(R, R, Strength)>,
    /// Ids from this one on are appended, not yet in the table.
    pub(super) unsettled_from: u32,
    /// How much of `young` holds settled ids.
    pub(super) settled_young: usize,
    pub(super) nodes: &'a mut Interner<R, S>,
    pub(super) listed: &'a mut BitSet,
    pub(super) young: &'a mut Vec<u32>,
    pub(super) bindings: &'a mut Vec<Binding>,
    pub(super) now: SystemTime,
    pub(super) grace_period: Duration,
    pub(super) too_many: &'a mut bool,
    /// The earliest end of a grace period still ahead.
    pub(super) next_deadline: Option<SystemTime>,
    /// When the collection explains: listed ids whose grace period had
    /// ended, with when; settled like `young`.
    pub(super) stale: Option<&'a mut Vec<(u32, SystemTime)>>,
    /// How much of `stale` holds settled ids.
    pub(super) settled_stale: usize,
}

impl<R: Hash + Eq + Clone, S: BuildHasher> Lister<'_, R, S> {
    #[inline]
    pub(super) fn list(&mut self, id: u32) {
        self.listed.insert(id);
    }

    #[inline]
    pub(super) fn intern(&mut self, node: &R) -> Option<u32> {
        let id = self
            .nodes
            .intern(self.nodes.hash(node), Cow::Borrowed(node));
        if id.is_none() {
            *self.too_many = true;
        }
        id
    }

    /// Lists the collector's copy of a node, with its last use if any.
    #[inline]
    pub(super) fn node_owned(&mut self, node: R, last_used: Option<SystemTime>) {
        let Some(id) = self.append(node) else { return };
        self.list(id);
        let Some(at) = last_used else { return };
        if within_grace(at, self.now, self.grace_period) {
            self.young.push(id);
            note_deadline(&mut self.next_deadline, grace_end(at, self.grace_period));
        } else if let Some(stale) = self.stale.as_deref_mut() {
            // Past it: only `at + grace < now` gets here, so the sum fits.
            stale.push((id, grace_end(at, self.grace_period).unwrap_or(at)));
        }
    }

    /// Appends a node, to settle later. A full batch settles first, here
    /// rather than after the push: every id it merges must already be in
    /// `listed` and `young`.
    #[inline]
    pub(super) fn append(&mut self, node: R) -> Option<u32> {
        if self.nodes.len() - self.unsettled_from as usize >= SETTLE_BATCH {
            self.settle();
        }
        let id = self.nodes.push_unsettled(node);
        if id.is_none() {
            *self.too_many = true;
        }
        id
    }

    /// Settles the last batch, then interns what `lives_with` named: nodes
    /// not listed get ids after every listed one.
    pub(super) fn finish(&mut self) {
        self.settle();
        for (child, parent, strength) in std::mem::take(&mut self.bound) {
            if let (Some(child), Some(parent)) = (self.intern(&child), self.intern(&parent)) {
                self.bindings.push((parent, child, strength));
            }
        }
    }

    /// Enters the appended nodes into the table. A node listed twice is
    /// merged into its first id, and the ids after it move down: only this
    /// batch's ids move, and only the tail of `young` past what is settled,
    /// and the batch's `listed` bits, name them.
    pub(super) fn settle(&mut self) {
        let start = self.unsettled_from;
        let appended = start..self.nodes.len() as u32;
        let moved = self.nodes.settle(appended.clone(), self.settling);
        self.unsettled_from = self.nodes.len() as u32;
        if let Some(now) = moved {
            // Every appended id was listed; the kept ones now fill the
            // front of the batch. (A node merged into an earlier batch's
            // was listed there: during the listing, the table holds only
            // listed nodes.)
            for id in self.unsettled_from..appended.end {
                self.listed.remove(id);
            }
            for id in &mut self.young[self.settled_young..] {
                if *id >= start {
                    *id = now[(*id - start) as usize];
                }
            }
            if let Some(stale) = self.stale.as_deref_mut() {
                for (id, _) in &mut stale[self.settled_stale..] {
                    if *id >= start {
                        *id = now[(*id - start) as usize];
                    }
                }
            }
        }
        self.settled_young = self.young.len();
        self.settled_stale = self.stale.as_deref().map_or(0, Vec::len);
    }
}

/// Appended nodes settle into the table this many at a time: enough to
/// touch each stretch of a large table several times per batch, little
/// enough (4 MiB of hashes and ids, freed once the listing is done) to add
/// little to the peak memory.
pub(super) const SETTLE_BATCH: usize = 1 << 18;

impl<T, N, K, S> EmitNode<T, N, K> for Lister<'_, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    #[inline]
    fn node(&mut self, node: &Node<T, N, K>, last_used: Option<SystemTime>) {
        self.node_owned(node.clone(), last_used);
    }

    fn nodes(&mut self, nodes: &mut dyn Iterator<Item = &Node<T, N, K>>) {
        // A group's key bytes are touched before any is copied, so that
        // their cache misses overlap (see `touch`).
        let mut group: [Option<&Node<T, N, K>>; TOUCH_GROUP] = [None; TOUCH_GROUP];
        loop {
            let mut len = 0;
            for (slot, node) in group.iter_mut().zip(&mut *nodes) {
                *slot = Some(node);
                len += 1;
            }
            touch(group[..len].iter().flatten().copied());
            for node in group[..len].iter().flatten() {
                self.node_owned((*node).clone(), None);
            }
            if len < TOUCH_GROUP {
                return;
            }
        }
    }

    #[inline]
    fn node_view(&mut self, view: &dyn NodeView<T, N, K>, last_used: Option<SystemTime>) {
        // The copy the collector keeps is built once, here.
        self.node_owned(view.to_node(), last_used);
    }

    fn bind(&mut self, child: &Node<T, N, K>, parent: &Node<T, N, K>, strength: Strength) {
        // Resolved once the listing is over (`Lister::finish`), so that a
        // node named here first still takes its place in the listing
        // where it is pushed.
        self.bound.push((child.clone(), parent.clone(), strength));
    }

    fn reserve(&mut self, additional: usize) {
        self.nodes.reserve(additional.min(MAX_IDS));
        self.settling.reserve(additional.min(SETTLE_BATCH));
    }
}
