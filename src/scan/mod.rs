//! The scan path: for stores that read every node together with its
//! references in one pass (a table scan in a read transaction), and want
//! no copy of their keys made.
//!
//! [`ScanContext::scan`] lists each node followed by its references. The
//! collector keeps no node: it numbers nodes by their place in the scan,
//! hashes each node and each reference once, and keeps the hashes, the
//! references as dense ids, and the colour bits. The mark then runs on the
//! dense ids without a callback, and the garbage comes back as places in
//! the scan, ascending, for the store to remove in a second pass over the
//! same snapshot.
//!
//! # Identity by hash, and why it never sweeps a live node
//!
//! A reference is matched to a listed node by its 64-bit hash alone; no
//! key is compared. Two different nodes may share a hash (by chance, or
//! because a key's `Hash` writes only part of it). Every such case errs
//! towards keeping:
//!
//! - Listed nodes that share a hash form a group that is marked as one: a
//!   reference to any of them reaches all of them, with the same reach,
//!   and each one's references are followed. A node listed twice is such
//!   a group.
//! - A reference to a node that was not listed, whose hash a listed node
//!   has, reaches that listed node: one more node kept. The unlisted node
//!   references nothing on this path (see the contract on
//!   [`ScanContext::scan`]), so nothing is lost by not telling them apart.
//!
//! So a collision can keep garbage, never sweep a live node. With a keyed
//! hasher (the default, SipHash with a random key) collisions are rare
//! enough that the garbage kept this way is not measurable.
//!
//! The mark core ([`crate::mark`]) sees only dense ids; this module owns
//! the hashing and the numbering, and never touches a key after hashing
//! it. It makes no I/O and reads the clock once per collection, when
//! [`Options::now`] is unset.

use std::hash::{BuildHasher, Hash, Hasher};
use std::time::SystemTime;

use hashbrown::HashTable;

mod collection;
mod collector;
mod explain;
mod writers;

pub use collection::ScanCollection;
pub use collector::ScanCollector;
pub use writers::ScanMarking;

use crate::mark::{MAX_IDS, Marker, Marks, Reach};
use crate::policy::{grace_end, note_deadline, within_grace};
use crate::{Flow, Node, NodeView, Options, Progress, RootCounts, RootKind, Strength};

/// A store that lists every node with its references in one pass.
///
/// Implement this instead of [`crate::CollectionContext`] when reading a
/// node's references is cheapest while the node is at hand (the refs sit
/// in the same row, page or bucket), and copying keys is what a
/// collection would otherwise spend its time on: owned keys read out of
/// an embedded database.
pub trait ScanContext {
    /// The kind of a node.
    type Kind: Hash;
    /// The namespace of a node.
    type Namespace: Hash;
    /// The key of a node within its kind and namespace.
    type Key: Hash;
    /// The embedder's own error, as for
    /// [`crate::CollectionContext::Error`].
    type Error: std::fmt::Debug + std::fmt::Display + 'static;

    /// Lists every candidate with [`ScanSink::push`], each followed by all
    /// of its references ([`ScanRefs`]).
    ///
    /// The contract: a node whose references matter is listed. A node
    /// not listed (a dead edge's target, a root the scan skips) references
    /// nothing on this path, and is never swept. A resource that must
    /// never be swept but references candidates (an image, a container)
    /// is listed like the rest and also emitted as a root.
    ///
    /// The garbage is handed back as places in this listing (the first
    /// node pushed is 0), so list in an order you can walk again: the
    /// same read transaction, iterated twice, does.
    fn scan(
        &mut self,
        nodes: &mut ScanSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Emits the roots, each with the strength it is held with, as
    /// [`crate::CollectionContext::roots`] does. A root the scan did not
    /// list keeps nothing.
    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// See [`crate::CollectionContext::checkpoint`].
    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        let _ = progress;
        Flow::Continue
    }
}

/// Hashes nodes for the sinks, so that the sinks need not be generic over
/// the hasher (the trait's signatures name only the node types).
trait NodeHasher<T, N, K> {
    fn hash_node(&self, node: &Node<T, N, K>) -> u64;
    /// The hash of the node `view` stands for, as `hash_node` gives it.
    fn hash_view(&self, view: &dyn NodeView<T, N, K>) -> u64;
}

impl<T: Hash, N: Hash, K: Hash, S: BuildHasher> NodeHasher<T, N, K> for S {
    #[inline]
    fn hash_node(&self, node: &Node<T, N, K>) -> u64 {
        self.hash_one(node)
    }

    #[inline]
    fn hash_view(&self, view: &dyn NodeView<T, N, K>) -> u64 {
        let mut hasher = self.build_hasher();
        view.hash_as_node(&mut hasher);
        hasher.finish()
    }
}

/// A table entry: a place and its hash, in 12 bytes where `(u64, u32)`
/// takes 16 (the hash split so that the entry aligns to 4).
#[derive(Clone, Copy, Debug)]
struct Slot {
    hash: [u32; 2],
    place: u32,
}

impl Slot {
    fn new(hash: u64, place: u32) -> Self {
        Slot {
            hash: [hash as u32, (hash >> 32) as u32],
            place,
        }
    }

    #[inline]
    fn hash(&self) -> u64 {
        u64::from(self.hash[0]) | (u64::from(self.hash[1]) << 32)
    }
}

/// A reference's target that the scan did not list.
const UNLISTED: u32 = u32::MAX;

/// The collector's state, without the hasher: the part the sinks write.
#[derive(Debug, Default)]
struct Scanned {
    /// Listed nodes by hash, as a place and its hash: the first place listed
    /// with that hash.
    places: HashTable<Slot>,
    /// Where each place's references start in `targets`; one more entry
    /// than places, once the scan is over.
    starts: Vec<usize>,
    /// The references in listing order: target hashes during the scan,
    /// places (or [`UNLISTED`]) after it.
    target_hashes: Vec<u64>,
    targets: Vec<u32>,
    /// Each reference's strength; `None` for one whose deadline has
    /// passed, which keeps nothing and still orders removal (as on the
    /// `Node` path).
    strengths: Vec<Option<Strength>>,
    /// Places that share a hash with an earlier one, as `(a, b)` both
    /// ways, sorted once the scan is over: marked as one.
    groups: Vec<(u32, u32)>,
    /// Places within their grace period: strong roots.
    young: Vec<u32>,
    /// Too many places for a `u32`.
    too_many: bool,
    next_deadline: Option<SystemTime>,
}

impl Scanned {
    fn clear(&mut self) {
        self.places.clear();
        self.starts.clear();
        self.target_hashes.clear();
        self.targets.clear();
        self.strengths.clear();
        self.groups.clear();
        self.young.clear();
        self.too_many = false;
        self.next_deadline = None;
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// The places that share `place`'s hash, once the scan is over.
    fn mates(&self, place: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.groups.partition_point(|&(a, _)| a < place);
        self.groups[first..]
            .iter()
            .take_while(move |&&(a, _)| a == place)
            .map(|&(_, mate)| mate)
    }

    #[inline]
    fn find(&self, hash: u64) -> Option<u32> {
        self.places
            .find(hash, |slot| slot.hash() == hash)
            .map(|slot| slot.place)
    }
}

/// Where [`ScanContext::scan`] lists nodes.
pub struct ScanSink<'a, T, N, K> {
    scanned: &'a mut Scanned,
    hasher: &'a dyn NodeHasher<T, N, K>,
    now: SystemTime,
    grace_period: std::time::Duration,
}

impl<'a, T, N, K> ScanSink<'a, T, N, K> {
    /// The instant the collection runs at (see [`Options::now`]).
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Says that about `nodes` more nodes, with `references` references
    /// in all, follow. A hint: one the allocator cannot meet is dropped.
    pub fn reserve(&mut self, nodes: usize, references: usize) {
        let s = &mut *self.scanned;
        let nodes = nodes.min(MAX_IDS);
        let _ = s.places.try_reserve(nodes, Slot::hash);
        let _ = s.starts.try_reserve(nodes.saturating_add(1));
        let _ = s.target_hashes.try_reserve(references);
        let _ = s.strengths.try_reserve(references);
    }

    /// Lists `node`, a candidate. Its references follow, through what this
    /// returns.
    pub fn push(&mut self, node: &Node<T, N, K>) -> ScanRefs<'_, 'a, T, N, K> {
        let hash = self.hasher.hash_node(node);
        self.push_hashed(hash, None)
    }

    /// As [`push`](Self::push), for the node `view` stands for, which is
    /// hashed as that node and never built (see [`NodeView`]).
    pub fn push_view(&mut self, view: &impl NodeView<T, N, K>) -> ScanRefs<'_, 'a, T, N, K> {
        let hash = self.hasher.hash_view(view);
        self.push_hashed(hash, None)
    }

    /// As [`push`](Self::push), for a node last used (or created) at
    /// `last_used`: within [`Options::grace_period`] of now, or after now,
    /// it is a strong root (the same rule as
    /// [`crate::NodeSink::push_used`]).
    pub fn push_used(
        &mut self,
        node: &Node<T, N, K>,
        last_used: SystemTime,
    ) -> ScanRefs<'_, 'a, T, N, K> {
        let hash = self.hasher.hash_node(node);
        self.push_hashed(hash, Some(last_used))
    }

    /// As [`push_used`](Self::push_used), for the node `view` stands for.
    pub fn push_used_view(
        &mut self,
        view: &impl NodeView<T, N, K>,
        last_used: SystemTime,
    ) -> ScanRefs<'_, 'a, T, N, K> {
        let hash = self.hasher.hash_view(view);
        self.push_hashed(hash, Some(last_used))
    }

    fn push_hashed(
        &mut self,
        hash: u64,
        last_used: Option<SystemTime>,
    ) -> ScanRefs<'_, 'a, T, N, K> {
        let s = &mut *self.scanned;
        let place = s.len();
        if place >= MAX_IDS {
            // Refused whole once the scan returns; its references are
            // dropped meanwhile.
            s.too_many = true;
            return ScanRefs { sink: self };
        }
        let place = place as u32;
        s.starts.push(s.target_hashes.len());
        match s.find(hash) {
            None => {
                s.places
                    .insert_unique(hash, Slot::new(hash, place), Slot::hash);
            }
            Some(first) => {
                s.groups.push((first, place));
                s.groups.push((place, first));
            }
        }
        if let Some(at) = last_used {
            if within_grace(at, self.now, self.grace_period) {
                s.young.push(place);
                note_deadline(&mut s.next_deadline, grace_end(at, self.grace_period));
            }
        }
        ScanRefs { sink: self }
    }
}

/// The references of the node just pushed into a [`ScanSink`].
pub struct ScanRefs<'s, 'a, T, N, K> {
    sink: &'s mut ScanSink<'a, T, N, K>,
}

impl<T, N, K> ScanRefs<'_, '_, T, N, K> {
    /// A reference of the given strength.
    #[inline]
    pub fn add(&mut self, target: &Node<T, N, K>, strength: Strength) -> &mut Self {
        let hash = self.sink.hasher.hash_node(target);
        self.link(hash, Some(strength))
    }

    /// As [`add`](Self::add), for the node `view` stands for, never built.
    #[inline]
    pub fn add_view(&mut self, view: &impl NodeView<T, N, K>, strength: Strength) -> &mut Self {
        let hash = self.sink.hasher.hash_view(view);
        self.link(hash, Some(strength))
    }

    #[inline]
    fn link(&mut self, hash: u64, strength: Option<Strength>) -> &mut Self {
        let s = &mut *self.sink.scanned;
        if !s.too_many {
            s.target_hashes.push(hash);
            s.strengths.push(strength);
        }
        self
    }

    /// A reference held until `expires`, as
    /// [`crate::ReferenceSink::expiring`]: held through the deadline
    /// instant, keeping nothing once `now` is past it (it still orders
    /// removal, [`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst)). The scan decides at
    /// listing, for every node listed, so [`Stats::next_deadline`](crate::Stats::next_deadline) may
    /// name the deadline of a reference whose node was not reached (an
    /// earlier wake-up, never a later one), and [`RootCounts`] does not
    /// count references.
    pub fn expiring(
        &mut self,
        target: &Node<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        let hash = self.sink.hasher.hash_node(target);
        self.link_until(hash, strength, expires)
    }

    /// As [`expiring`](Self::expiring), for the node `view` stands for.
    pub fn expiring_view(
        &mut self,
        view: &impl NodeView<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) -> &mut Self {
        let hash = self.sink.hasher.hash_view(view);
        self.link_until(hash, strength, expires)
    }

    fn link_until(&mut self, hash: u64, strength: Strength, expires: SystemTime) -> &mut Self {
        if self.sink.now > expires {
            return self.link(hash, None);
        }
        if strength != Strength::Weak {
            note_deadline(&mut self.sink.scanned.next_deadline, Some(expires));
        }
        self.link(hash, Some(strength))
    }

    /// A strong reference.
    pub fn strong(&mut self, target: &Node<T, N, K>) -> &mut Self {
        self.add(target, Strength::Strong)
    }

    /// A weak reference: it keeps nothing.
    pub fn weak(&mut self, target: &Node<T, N, K>) -> &mut Self {
        self.add(target, Strength::Weak)
    }

    /// A flat reference: keeps the target and its structure.
    pub fn flat(&mut self, target: &Node<T, N, K>) -> &mut Self {
        self.add(target, Strength::Flat)
    }

    /// A structural reference: followed however the node is reached.
    pub fn structural(&mut self, target: &Node<T, N, K>) -> &mut Self {
        self.add(target, Strength::Structural)
    }

    /// Strong references to every node of `targets`.
    pub fn strong_all<'n>(
        &mut self,
        targets: impl IntoIterator<Item = &'n Node<T, N, K>>,
    ) -> &mut Self
    where
        T: 'n,
        N: 'n,
        K: 'n,
    {
        for target in targets {
            self.add(target, Strength::Strong);
        }
        self
    }
}

/// Where [`ScanContext::roots`] emits roots.
pub struct ScanRoots<'a, T, N, K> {
    scanned: &'a Scanned,
    marker: &'a mut Marker,
    hasher: &'a dyn NodeHasher<T, N, K>,
    now: SystemTime,
    /// Each root that names a listed place, for `why_live`.
    held: &'a mut Vec<Held>,
    counts: RootCounts,
    roots: usize,
    weak: usize,
    next_deadline: Option<SystemTime>,
}

/// A root that names a listed place: the place, why, and how far it is
/// followed.
#[derive(Clone, Copy, Debug)]
struct Held {
    place: u32,
    kind: RootKind,
    reach: Reach,
}

impl<T, N, K> ScanRoots<'_, T, N, K> {
    /// The instant the collection runs at (see [`Options::now`]).
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// A root held with `strength`: strong and structural roots keep what
    /// they reference, flat ones keep the node and its structure, weak
    /// ones keep nothing.
    #[inline]
    pub fn add(&mut self, node: &Node<T, N, K>, strength: Strength) {
        let hash = self.hasher.hash_node(node);
        self.hold(hash, strength, RootKind::Explicit);
    }

    /// As [`add`](Self::add), for the node `view` stands for, never built.
    pub fn add_view(&mut self, view: &impl NodeView<T, N, K>, strength: Strength) {
        let hash = self.hasher.hash_view(view);
        self.hold(hash, strength, RootKind::Explicit);
    }

    /// A strong root.
    pub fn strong(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Strong);
    }

    /// A flat root (containerd's flat lease).
    pub fn flat(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Flat);
    }

    /// A weak root: it keeps nothing, and is counted.
    pub fn weak(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Weak);
    }

    /// A root held until `expires` (a lease), as
    /// [`crate::ReferenceSink::expiring`]: held through the deadline
    /// instant itself, expired only once `now` is past it. An expired one
    /// keeps nothing and is counted in
    /// [`RootCounts::leases_expired`]; a held one's deadline is
    /// [`Stats::next_deadline`](crate::Stats::next_deadline) if none comes sooner.
    pub fn expiring(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        let hash = self.hasher.hash_node(node);
        self.hold_until(hash, strength, expires);
    }

    /// As [`expiring`](Self::expiring), for the node `view` stands for.
    pub fn expiring_view(
        &mut self,
        view: &impl NodeView<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) {
        let hash = self.hasher.hash_view(view);
        self.hold_until(hash, strength, expires);
    }

    fn hold_until(&mut self, hash: u64, strength: Strength, expires: SystemTime) {
        if self.now > expires {
            self.counts.leases_expired += 1;
            return;
        }
        if strength != Strength::Weak {
            note_deadline(&mut self.next_deadline, Some(expires));
        }
        self.hold(hash, strength, RootKind::Lease);
    }

    #[inline]
    fn hold(&mut self, hash: u64, strength: Strength, kind: RootKind) {
        let Some(reach) = Reach::Strong.through(strength) else {
            self.weak += 1;
            return;
        };
        self.roots += 1;
        match kind {
            RootKind::Lease => self.counts.leases += 1,
            _ => self.counts.explicit += 1,
        }
        if let Some(place) = self.scanned.find(hash) {
            self.marker.reach(place, reach);
            self.held.push(Held { place, kind, reach });
        }
    }
}

/// Why `options` cannot run on the scan path, if they cannot.
fn refused(options: &Options) -> Option<String> {
    if let Some(reason) = options.sweep_limit.invalid() {
        return Some(reason);
    }
    if !options.pins.is_empty() {
        return Some("the scan path resolves no pins: emit the pinned nodes as roots".into());
    }
    None
}
