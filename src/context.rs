//! What the embedder implements: [`CollectionContext`], and the sinks the
//! crate hands to its callbacks.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::time::{Duration, SystemTime};

use crate::policy::note_deadline;
use crate::{Node, NodeView, Retention, RootCounts};

/// The embedder's view of its store, as the collector asks for it.
///
/// A collection calls [`all`](Self::all) once, then [`roots`](Self::roots)
/// once, then [`references`](Self::references) once for every node it
/// reaches, however many roots or references lead to it. Every
/// callback emits into a sink the crate passes in, by reference, so a node
/// that owns memory (`String` keys) is cloned only when the collector
/// sees it for the first time.
///
/// Any error a callback returns ends the collection with that error and
/// nothing to remove; so does a panic. The collector is still usable
/// afterwards.
///
/// A reference to a node that [`all`](Self::all) did not list is a *dead
/// edge* (the target was removed, or never existed). It is not an error:
/// the collection counts it, still asks for the target's references (it may
/// be a root-like resource the store never sweeps, such as an image), and
/// never sweeps it.
pub trait CollectionContext {
    /// The kind of a node: content, snapshot, lease, …
    type Kind: Eq + Hash + Clone + Debug;
    /// The namespace of a node.
    type Namespace: Eq + Hash + Clone + Debug;
    /// The key of a node within its kind and namespace.
    type Key: Eq + Hash + Clone + Debug;
    /// The embedder's own error, carried by [`crate::Error`].
    ///
    /// Anything that can be shown and debugged will do: a type
    /// implementing [`std::error::Error`], which [`crate::Error`] then
    /// gives as its [`source`](std::error::Error::source), but also
    /// `anyhow::Error` or `Box<dyn std::error::Error + Send + Sync>`,
    /// which do not implement it ([`crate::Error::into_source`] takes
    /// them back out). [`Collector::collect_parallel`](crate::Collector::collect_parallel)
    /// also needs it [`Send`].
    type Error: Debug + Display + 'static;

    /// Lists every node that may be swept: the candidates. Nodes not listed
    /// are never swept, so resources created after this call returns are
    /// safe from this collection. A store that holds its nodes in memory
    /// lists them fastest in one call, [`NodeSink::extend`].
    fn all(
        &mut self,
        nodes: &mut NodeSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Emits the roots, each with the strength it is held with: strong
    /// roots keep everything they reference, flat roots (containerd's flat
    /// leases) keep themselves and their structure, weak roots keep
    /// nothing. A structural root is strong.
    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Emits what `node` references, every [`Strength`] included.
    ///
    /// Called once per collection for every node reached. For a node
    /// reached strongly, everything it emits is followed. For a node
    /// reached only flat, the sink follows its structure,
    /// [`Strength::Structural`] references (flat, in turn), and ignores the
    /// rest, so the callback need not know which reach it serves. (The
    /// mark follows all strong work first, so a node reached both ways is
    /// read once, fully.)
    ///
    /// `node` may not exist: a dead edge's target is expanded too, because
    /// a store may reach candidates through resources it never lists (an
    /// image, a container). As in containerd, a node that does not exist
    /// references nothing: return `Ok(())` without emitting, not an error.
    fn references(
        &mut self,
        node: &Node<Self::Kind, Self::Namespace, Self::Key>,
        refs: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Resolves a pin, one of [`Options::pins`](crate::Options::pins): a
    /// name such as an image tag or id, to the nodes it names, emitted
    /// strongly into `pins`. A name that emits nothing (or only weak
    /// references) is unknown: reported
    /// in [`Stats::unknown_pins`](crate::Stats::unknown_pins), not an error.
    /// The default knows no names.
    fn resolve_pin(
        &mut self,
        name: &str,
        pins: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error> {
        let _ = (name, pins);
        Ok(())
    }

    /// Called between phases and every few thousand nodes marked, so that
    /// the embedder can cancel a collection. [`Flow::Abort`] ends it with
    /// [`crate::Error::Aborted`] and nothing to remove.
    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        let _ = progress;
        Flow::Continue
    }
}

/// A [`CollectionContext`] whose references several threads can read at
/// once, for [`Collector::collect_parallel`](crate::Collector::collect_parallel).
///
/// A store behind a read transaction or a read lock usually has this for
/// free: implement [`references_shared`](Self::references_shared), and
/// let [`CollectionContext::references`] call it.
pub trait SharedContext: CollectionContext + Sync {
    /// As [`CollectionContext::references`], through a shared borrow, and
    /// from several threads at once (still once per reached node and
    /// collection). It must emit what `references` would.
    fn references_shared(
        &self,
        node: &Node<Self::Kind, Self::Namespace, Self::Key>,
        refs: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;
}

/// The [`NodeSink`] a context `C` lists into: lets an implementation write
/// `nodes: &mut NodeSinkOf<'_, Self>`.
pub type NodeSinkOf<'a, C> = NodeSink<
    'a,
    <C as CollectionContext>::Kind,
    <C as CollectionContext>::Namespace,
    <C as CollectionContext>::Key,
>;

/// The [`ReferenceSink`] a context `C` emits into: lets an implementation
/// write `refs: &mut ReferenceSinkOf<'_, Self>`.
pub type ReferenceSinkOf<'a, C> = ReferenceSink<
    'a,
    <C as CollectionContext>::Kind,
    <C as CollectionContext>::Namespace,
    <C as CollectionContext>::Key,
>;

/// How strongly a root or reference holds its target.
///
/// | strength | keeps the target | the target's references followed |
/// |---|---|---|
/// | `Strong` | yes | all of them |
/// | `Flat` | yes | its structure only |
/// | `Structural` | as the referrer is held | as the referrer's are |
/// | `Weak` | no | none |
///
/// "Structure" is what a node cannot be kept without: its
/// `Structural` references and its [`lives_with`](crate::NodeSink::lives_with)
/// children. A flat reach follows it, flat in turn, and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strength {
    /// Keeps the target and everything it references.
    Strong,
    /// Keeps nothing. It still says who refers to whom, for the removal
    /// order ([`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst)).
    Weak,
    /// Keeps the target and its structure, but not its other references
    /// (containerd's flat leases: a flat-leased image keeps its manifest,
    /// not the manifest's layers).
    Flat,
    /// The target is part of the referrer: it is held however the referrer
    /// is held, on every reach of it. Through a strong reach it is strong;
    /// through a flat reach it is flat, and passes flatness on to its own
    /// structure. A snapshot's parent, an image's target, a row's payload
    /// file. As a root (there is no referrer) it is strong.
    Structural,
}

/// Whether a collection goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop now; nothing is swept.
    Abort,
}

/// A phase of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// [`CollectionContext::all`]: listing the candidates.
    Listing,
    /// [`CollectionContext::roots`]: reading the roots.
    Roots,
    /// [`CollectionContext::references`]: following references.
    Marking,
    /// [`CollectionContext::references`] of the garbage, to order its
    /// removal ([`crate::SweepOrder::ReferrersFirst`]).
    Ordering,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Listing => "listing",
            Phase::Roots => "roots",
            Phase::Marking => "marking",
            Phase::Ordering => "ordering",
        })
    }
}

/// How far a collection has come, for [`CollectionContext::checkpoint`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Progress {
    /// The phase the collection is in, or has just finished.
    pub phase: Phase,
    /// Distinct nodes listed so far.
    pub nodes_listed: usize,
    /// Nodes read so far: fully, or for their structure only.
    pub nodes_expanded: usize,
    /// Time since the collection started.
    pub elapsed: Duration,
}

pub(crate) trait EmitNode<T, N, K> {
    fn node(&mut self, node: &Node<T, N, K>, last_used: Option<SystemTime>);
    /// Each of `nodes` as [`EmitNode::node`], with no last use; a sink may
    /// read several ahead (they are all borrowed for the call).
    fn nodes(&mut self, nodes: &mut dyn Iterator<Item = &Node<T, N, K>>) {
        for node in nodes {
            self.node(node, None);
        }
    }
    fn node_view(&mut self, view: &dyn NodeView<T, N, K>, last_used: Option<SystemTime>);
    fn bind(&mut self, child: &Node<T, N, K>, parent: &Node<T, N, K>, strength: Strength);
    fn reserve(&mut self, additional: usize);
}

pub(crate) trait EmitReference<T, N, K> {
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, via: Via);
    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength, via: Via);
    /// Whether a reference of `strength` emitted here is read at all
    /// (followed, or counted as weak): not when a node reached only flat
    /// emits anything but structure.
    fn reads(&self, strength: Strength) -> bool {
        let _ = strength;
        true
    }

    /// Each of `nodes` as [`EmitReference::reference`] with `Via::Plain`;
    /// a sink may resolve them together.
    fn references(&mut self, nodes: &[Node<T, N, K>], strength: Strength) {
        for node in nodes {
            self.reference(node, strength, Via::Plain);
        }
    }

    /// A reference of `strength` (one that is read) whose deadline
    /// `expires` had passed: it holds nothing. An explaining collection, a
    /// picture of the graph, the removal order and a plan's re-validation
    /// want to hear of it.
    fn expired(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        let _ = (node, strength, expires);
    }

    /// Whether this sink keeps references across time (a resident
    /// graph): it takes an expiring reference with its deadline
    /// ([`keep_deadline`](Self::keep_deadline)), not the decision at `now`.
    fn keeps_deadlines(&self) -> bool {
        false
    }

    /// An expiring reference, for a sink that [`keeps_deadlines`](Self::keeps_deadlines).
    fn keep_deadline(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        let _ = (node, strength, expires);
    }

    /// For a sink that keeps references across time: refuses an emission
    /// decided at one instant (`add_if`, `history`), which it could not
    /// keep true. Returns whether it refused; the default does not.
    fn refuse_instant(&mut self, what: &'static str) -> bool {
        let _ = what;
        false
    }

    /// A history entry `rule` lets go: a weak reference, told apart so
    /// that an explaining collection can say which rule and rank.
    fn not_retained(
        &mut self,
        node: &Node<T, N, K>,
        rank: usize,
        created: SystemTime,
        rule: &Retention,
    ) {
        let _ = (rank, created, rule);
        self.reference(node, Strength::Weak, Via::Retention);
    }
}

/// Which sink method a reference came through: a root's kind, if it is one.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    Plain,
    Lease,
    Retention,
}

/// Where [`CollectionContext::all`] lists the candidates.
pub struct NodeSink<'a, T, N, K> {
    emit: &'a mut dyn EmitNode<T, N, K>,
    now: SystemTime,
}

impl<'a, T, N, K> NodeSink<'a, T, N, K> {
    pub(crate) fn new(emit: &'a mut dyn EmitNode<T, N, K>, now: SystemTime) -> Self {
        NodeSink { emit, now }
    }

    /// The time this collection runs at: read once, the same in every
    /// callback.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Lists `node` as a candidate. The collector keeps a copy of every
    /// listed node for the length of the collection (it hands the garbage
    /// out from them). Listing a node twice is harmless: the second copy
    /// is dropped within the listing.
    #[inline]
    pub fn push(&mut self, node: &Node<T, N, K>) {
        self.emit.node(node, None);
    }

    /// Lists every one of `nodes`, as [`push`](Self::push) does one at a
    /// time. Lending them for the whole call lets the collector read a
    /// few ahead before it copies them: with owned keys whose bytes are
    /// far apart in memory (a `HashMap` of `String`s), the copies' cache
    /// misses then overlap instead of coming one after another.
    pub fn extend<'n>(&mut self, nodes: impl IntoIterator<Item = &'n Node<T, N, K>>)
    where
        T: 'n,
        N: 'n,
        K: 'n,
    {
        self.emit.nodes(&mut nodes.into_iter());
    }

    /// Lists the node `view` stands for. The collector builds its copy
    /// straight from the view, so the store need not build a node of its
    /// own first: see [`NodeView`].
    #[inline]
    pub fn push_view(&mut self, view: &impl NodeView<T, N, K>) {
        self.emit.node_view(view, None);
    }

    /// Lists `node` with the time it was created or last used. Used at
    /// most [`Options::grace_period`](crate::Options::grace_period) before
    /// [`now`](Self::now) (exactly that long ago included), or after `now`
    /// (a writer whose clock runs ahead), it is a strong root: kept, *and so
    /// is everything it references* — git's rule, because a writer stores
    /// blobs before the manifest or ref that names them. A zero grace
    /// period still keeps a node used at or after `now`, as rkt's
    /// `--grace-period=0s` does.
    #[inline]
    pub fn push_used(&mut self, node: &Node<T, N, K>, last_used: SystemTime) {
        self.emit.node(node, Some(last_used));
    }

    /// As [`push_used`](Self::push_used), for the node `view` stands for:
    /// see [`push_view`](Self::push_view).
    #[inline]
    pub fn push_used_view(&mut self, view: &impl NodeView<T, N, K>, last_used: SystemTime) {
        self.emit.node_view(view, Some(last_used));
    }

    /// Declares that `child` lives as long as `parent` does: a
    /// [`Structural`](crate::Strength::Structural) reference from `parent`
    /// to `child` that the child declares, without writing to the parent.
    /// A blob file that belongs to its metadata row; a chunk that belongs
    /// to its object. It is followed on every reach of the parent, as the
    /// parent is reached: a parent reached strongly keeps the child and
    /// everything it references; a parent reached flat keeps the child
    /// flat. The same as [`back_reference`](Self::back_reference) with
    /// `Strength::Structural`.
    pub fn lives_with(&mut self, child: &Node<T, N, K>, parent: &Node<T, N, K>) {
        self.back_reference(child, parent, Strength::Structural);
    }

    /// As [`lives_with`](Self::lives_with), for the nodes two views stand
    /// for. The collector keeps the pair until the listing ends, so it
    /// copies both, as `lives_with` does.
    pub fn lives_with_view(
        &mut self,
        child: &impl NodeView<T, N, K>,
        parent: &impl NodeView<T, N, K>,
    ) {
        self.lives_with(&child.to_node(), &parent.to_node());
    }

    /// Declares a reference from `parent` to `child` of the given strength,
    /// that the child declares without writing to the parent: containerd's
    /// `containerd.io/gc.bref.*` labels are `Strength::Strong` ones,
    /// followed when the parent's references are (a strong reach), not
    /// through a flat one. It counts as a reference from parent to child
    /// for [`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst),
    /// whatever its strength. The parent need not exist (yet); the child is
    /// still listed with [`push`](Self::push) like any other candidate.
    pub fn back_reference(
        &mut self,
        child: &Node<T, N, K>,
        parent: &Node<T, N, K>,
        strength: Strength,
    ) {
        self.emit.bind(child, parent, strength);
    }

    /// Says that about `additional` more nodes follow, so the collector
    /// sizes its tables once instead of growing them as it goes. A hint,
    /// never a promise: one the allocator cannot meet is dropped, and the
    /// tables grow as nodes come.
    pub fn reserve(&mut self, additional: usize) {
        self.emit.reserve(additional);
    }
}

/// Where [`CollectionContext::roots`] and
/// [`CollectionContext::references`] emit references.
pub struct ReferenceSink<'a, T, N, K> {
    emit: &'a mut dyn EmitReference<T, N, K>,
    now: SystemTime,
    tally: &'a mut RootCounts,
    /// Plain emissions that keep something count as explicit roots.
    roots: bool,
    /// The earliest deadline still ahead that was emitted here.
    next_deadline: Option<SystemTime>,
}

impl<'a, T, N, K> ReferenceSink<'a, T, N, K> {
    pub(crate) fn new(
        emit: &'a mut dyn EmitReference<T, N, K>,
        now: SystemTime,
        tally: &'a mut RootCounts,
        roots: bool,
    ) -> Self {
        ReferenceSink {
            emit,
            now,
            tally,
            roots,
            next_deadline: None,
        }
    }

    /// The earliest lease deadline or retention age still ahead that the
    /// callback emitted.
    pub(crate) fn next_deadline(&self) -> Option<SystemTime> {
        self.next_deadline
    }

    /// The time this collection runs at: read once, the same in every
    /// callback.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Emits a reference of the given strength.
    #[inline]
    pub fn add(&mut self, node: &Node<T, N, K>, strength: Strength) {
        if self.roots && strength != Strength::Weak {
            self.tally.explicit += 1;
        }
        self.emit.reference(node, strength, Via::Plain);
    }

    /// Emits a reference to the node `view` stands for, without building
    /// it unless the collector has never seen it: see [`NodeView`]. Counts
    /// like [`add`](Self::add).
    #[inline]
    pub fn add_view(&mut self, view: &impl NodeView<T, N, K>, strength: Strength) {
        if self.roots && strength != Strength::Weak {
            self.tally.explicit += 1;
        }
        self.emit.reference_view(view, strength, Via::Plain);
    }

    /// Emits a reference of the given strength to each of `nodes`, as
    /// [`add`](Self::add) would one at a time. Prefer it where the store
    /// keeps a node's references in a slice: the collector resolves them
    /// together, so that their cache misses overlap.
    #[inline]
    pub fn add_all(&mut self, nodes: &[Node<T, N, K>], strength: Strength) {
        if self.roots && strength != Strength::Weak {
            self.tally.explicit += nodes.len();
        }
        self.emit.references(nodes, strength);
    }

    /// Emits a strong reference to each of `nodes`: see
    /// [`add_all`](Self::add_all).
    #[inline]
    pub fn strong_all(&mut self, nodes: &[Node<T, N, K>]) {
        self.add_all(nodes, Strength::Strong);
    }

    /// Emits a strong reference: `node` is kept, and so is everything it
    /// references.
    #[inline]
    pub fn strong(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Strong);
    }

    /// Emits a weak reference: it does not keep `node`.
    #[inline]
    pub fn weak(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Weak);
    }

    /// Emits a flat reference: `node` is kept with its structure, but its
    /// other references are not followed through this one.
    #[inline]
    pub fn flat(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Flat);
    }

    /// Emits a structural reference: `node` is part of the node whose
    /// references these are, and is held as that node is held (see
    /// [`Strength::Structural`]). A snapshot's parent, an image's target.
    #[inline]
    pub fn structural(&mut self, node: &Node<T, N, K>) {
        self.add(node, Strength::Structural);
    }

    /// Emits a reference that holds until `expires`, that instant
    /// included: only once [`now`](Self::now) is past it does the reference
    /// hold nothing (containerd's `now.After(expire)`). This is a lease:
    /// emit the lease node as an expiring root, and in its `references`
    /// what it holds — flat for a flat lease.
    ///
    /// A deadline the store cannot parse is the store's business; the safe
    /// choice is to keep: emit the reference with [`add`](Self::add).
    pub fn expiring(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        if !self.emit.reads(strength) {
            return;
        }
        if self.emit.keeps_deadlines() {
            return self.emit.keep_deadline(node, strength, expires);
        }
        if self.now > expires {
            self.tally.leases_expired += 1;
            self.emit.expired(node, strength, expires);
            return;
        }
        if strength != Strength::Weak {
            self.tally.leases += 1;
            note_deadline(&mut self.next_deadline, Some(expires));
        }
        self.emit.reference(node, strength, Via::Lease);
    }

    /// As [`expiring`](Self::expiring), for the node `view` stands for,
    /// built only if the collector has never seen it (or, when explaining,
    /// if the lease has expired): see [`NodeView`].
    pub fn expiring_view(
        &mut self,
        view: &impl NodeView<T, N, K>,
        strength: Strength,
        expires: SystemTime,
    ) {
        if !self.emit.reads(strength) {
            return;
        }
        if self.emit.keeps_deadlines() {
            return self.emit.keep_deadline(&view.to_node(), strength, expires);
        }
        if self.now > expires {
            self.tally.leases_expired += 1;
            self.emit.expired(&view.to_node(), strength, expires);
            return;
        }
        if strength != Strength::Weak {
            self.tally.leases += 1;
            note_deadline(&mut self.next_deadline, Some(expires));
        }
        self.emit.reference_view(view, strength, Via::Lease);
    }

    /// Emits a reference only if `condition` holds at [`now`](Self::now),
    /// such as containerd's `containerd.io/gc.cond.*` "used within 2 h".
    pub fn add_if(
        &mut self,
        node: &Node<T, N, K>,
        strength: Strength,
        condition: impl FnOnce(SystemTime) -> bool,
    ) {
        if self.emit.refuse_instant("add_if") {
            return;
        }
        if condition(self.now) {
            self.add(node, strength);
        }
    }

    /// Emits the entries of one history, each with the time it was
    /// created, strongly where `rule` keeps them and weakly elsewhere. Call
    /// it once per group (one image stream tag, say).
    ///
    /// The entries may come in any order: they are ranked by time, newest
    /// first (rank 0), and entries created at the same instant keep the
    /// order they came in. So `keep_last` keeps the newest, whatever order
    /// the store read them in.
    pub fn history<'n>(
        &mut self,
        entries: impl IntoIterator<Item = (&'n Node<T, N, K>, SystemTime)>,
        rule: &Retention,
    ) where
        T: 'n,
        N: 'n,
        K: 'n,
    {
        if self.emit.refuse_instant("history") {
            return;
        }
        let mut entries: Vec<_> = entries.into_iter().collect();
        // Stable, so ties keep their order; a sorted history is not moved.
        entries.sort_by(|(_, a), (_, b)| b.cmp(a));
        for (rank, (node, created)) in entries.into_iter().enumerate() {
            let strength = rule.strength(rank, created, self.now);
            if !self.emit.reads(strength) {
                continue;
            }
            if strength != Strength::Strong {
                self.emit.not_retained(node, rank, created, rule);
                continue;
            }
            self.tally.retained += 1;
            let young_until = rule.young_until(rank, created, self.now);
            note_deadline(&mut self.next_deadline, young_until);
            self.emit.reference(node, strength, Via::Retention);
        }
    }
}
