//! The driver: runs one collection over a [`CollectionContext`], mapping
//! `Node`s to dense ids for the mark core and keeping its tables between
//! collections.
//!
//! Order of work, and why:
//!
//! 1. **Listing** (`all`): every candidate is interned. This is where the
//!    cost of hashing and cloning keys is paid, once per node and
//!    collection: nodes are appended and settled into the table in
//!    batches, in bucket order (see `Lister`).
//!    Listing first also means that whatever a writer creates after `all`
//!    returns is not a candidate and cannot be swept by this collection.
//! 2. **Roots**, then **marking** (`references` per grey node): every
//!    reference is one hash and one probe into the table. A node that owns
//!    memory is not cloned, except targets the listing did not name (dead
//!    edges, root-like resources the store never sweeps), which go to a
//!    side buffer interned after the callback returns, because the node
//!    being expanded is borrowed from the table meanwhile. A node that owns
//!    nothing is copied, to resolve references in batches (`Deferred`).
//! 3. **Sweep**: the listed ids that are not live, in listing order, with
//!    no callback and no hashing; then, only if the breaker allows it and
//!    `SweepOrder::ReferrersFirst` asks for it, one more pass reads the
//!    references of the garbage to order it.
//!
//! Any error, abort or time-out returns before anything is handed out. A
//! panic in a callback unwinds out of [`Collector::collect`]; every
//! per-collection buffer is reset at the start of the next one, so the
//! collector stays usable.
//!
//! The rooms of this folder follow those phases: `options` (what a
//! collection is asked), `listing`, `marking` (roots, references, the mark
//! on the calling thread), `parallel` (the mark on several threads),
//! `sweep` (ordering the garbage), `collection` (the outcome) and `stats`.
//! This file drives them and keeps what lives between collections.

use std::borrow::Cow;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::bitset::{BitSet, Ones};
use crate::context::{EmitNode, EmitReference, Via};
use crate::explain::{Missed, NO_REFERRER, Reasons, Why};
use crate::intern::Interner;
use crate::mark::{MAX_IDS, Marker, Marks, Reach};
use crate::order::referrers_first;
use crate::policy::{grace_end, note_deadline, within_grace};
use crate::pool::Pool;
use crate::{
    CollectError, CollectionContext, Error, Flow, Node, NodeSink, NodeView, Phase, Plan, Progress,
    Reason, ReferenceSink, RootCounts, RootKind, SharedContext, Step, Strength, SweepLimit,
};

mod barrier;
mod collection;
mod listing;
mod marking;
mod options;
mod parallel;
mod stats;
mod sweep;

pub use barrier::{Barrier, Marking, Stepped, Watch};
pub(crate) use barrier::{Reporting, Reports};
pub use collection::Collection;
pub use options::{Cancel, Options, SweepOrder};
pub use stats::Stats;

use listing::*;
use marking::*;
use parallel::mark_threads;
use sweep::*;

/// How many nodes are expanded between two checkpoints.
pub(crate) const CHECKPOINT_EVERY: usize = 4096;

/// Counts one expansion of a node reached `reach`, and says whether a
/// checkpoint is due: the dense and scan paths' marks share this.
#[inline]
pub(crate) fn count_expansion(stats: &mut Stats, reach: Reach) -> bool {
    match reach {
        Reach::Strong => stats.nodes_expanded += 1,
        Reach::Flat => stats.nodes_expanded_flat += 1,
    }
    (stats.nodes_expanded + stats.nodes_expanded_flat) % CHECKPOINT_EVERY == 0
}

/// A reusable mark-and-sweep collector over [`Node`]s.
///
/// It keeps its allocations between collections (table capacity, buffers),
/// not its nodes: the copies one collection made are dropped when the next
/// one starts. Keeping them would let a steady-state store probe for each
/// node instead of copying it again, but a probe lands at a random place
/// in the table, a cache miss or several, while copying every node and
/// settling the copies in bucket order walks the table: on the 1.5M-node
/// benchmark store, the second is about a third faster even counting the
/// drop of the last copies.
///
/// The [`Collection`] a run returns borrows the collector, not the store, so
/// the store can be changed (garbage removed) while the result is read.
/// Keep the collector beside the store rather than inside it.
///
/// `S` hashes nodes. The default, [`RandomState`], resists HashDoS, which
/// matters when keys come from untrusted clients; a store whose keys are
/// its own may choose a faster hasher with [`Collector::with_hasher`].
#[derive(Debug)]
pub struct Collector<T, N, K, S = RandomState> {
    nodes: Interner<Node<T, N, K>, S>,
    marker: Marker,
    /// Ids listed by the current collection.
    listed: BitSet,
    /// The garbage ids in removal order, when `ordered`.
    swept: Vec<u32>,
    /// When ordered: the references among the garbage, `(from, to)` ids,
    /// sorted and without duplicates.
    garbage_refs: Vec<(u32, u32)>,
    /// When ordered: the references, not weak, from the garbage to nodes
    /// the mark did not read in full, `(from, to)` ids (`to` is
    /// `sweep::UNMET` for a node never met). A plan's re-validation needs
    /// them: see `Collection::plan`.
    garbage_out: Vec<(u32, u32)>,
    /// The garbage is handed out from `swept`, not in listing order.
    ordered: bool,
    /// The calling thread's marking buffers and counts.
    main: ThreadState<Node<T, N, K>>,
    /// Room to sort the listed nodes appended but not yet in the table.
    settling: Vec<(u64, u32)>,
    /// Listed ids used within the grace period.
    young: Vec<u32>,
    /// Back-references as `(parent, child, strength)`, sorted by parent
    /// for marking.
    bindings: Vec<Binding>,
    /// Why each live node is live, when the collection explains.
    reasons: Reasons,
    explain: bool,
    /// What writers report during a collection in two parts.
    reports: Arc<Reports<Node<T, N, K>>>,
    /// When explaining: listed ids whose grace period had ended, and when.
    stale: Vec<(u32, SystemTime)>,
    /// The reports being marked, swapped out of `reports`.
    reported: Vec<Node<T, N, K>>,
    /// Every node reported during this collection: `finish` reads their
    /// references again, from the live store.
    rewritten: Vec<Node<T, N, K>>,
}

impl<T, N, K> Collector<T, N, K>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
{
    /// A collector with the default, HashDoS-resistant hasher.
    pub fn new() -> Self {
        Self::with_hasher(RandomState::new())
    }
}

impl<T, N, K> Default for Collector<T, N, K>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T, N, K, S> Collector<T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// A collector that hashes nodes with `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        Collector {
            nodes: Interner::with_hasher(hasher),
            marker: Marker::default(),
            listed: BitSet::default(),
            swept: Vec::new(),
            garbage_refs: Vec::new(),
            garbage_out: Vec::new(),
            ordered: false,
            main: ThreadState::default(),
            settling: Vec::new(),
            young: Vec::new(),
            bindings: Vec::new(),
            reasons: Reasons::default(),
            explain: false,
            stale: Vec::new(),
            reports: Arc::default(),
            reported: Vec::new(),
            rewritten: Vec::new(),
        }
    }

    /// Runs one collection with default [`Options`].
    pub fn collect<C>(&mut self, ctx: &mut C) -> Result<Collection<'_, T, N, K, S>, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        self.collect_with(ctx, &Options::default())
    }

    /// Runs one collection: lists the candidates, marks from the roots and
    /// returns what is unreachable. Removing it is the caller's business.
    ///
    /// On any error nothing is returned for removal.
    pub fn collect_with<C>(
        &mut self,
        ctx: &mut C,
        options: &Options,
    ) -> Result<Collection<'_, T, N, K, S>, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        self.run(ctx, options, Self::mark_here)
    }

    /// One collection, with `mark` following references from the roots.
    fn run<C>(
        &mut self,
        ctx: &mut C,
        options: &Options,
        mark: impl FnOnce(&mut Self, &mut C, &mut Run) -> Result<(), CollectError<C>>,
    ) -> Result<Collection<'_, T, N, K, S>, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut run = self.begin(options)?;
        self.list(ctx, &mut run, options)?;
        self.read_roots(ctx, &mut run, options)?;
        mark(self, ctx, &mut run)?;
        self.marked(ctx, &mut run)?;
        // Sweep. The breaker before ordering: a tripped one needs no more
        // callbacks.
        let sweep_start = Instant::now();
        self.check_sweep_limit(&run.stats, options)?;
        if options.sweep_order == SweepOrder::ReferrersFirst {
            self.order_referrers_first(ctx, &mut run)?;
        }
        run.stats.sweep_time = sweep_start.elapsed();
        Ok(self.outcome(run, options))
    }

    /// Starts a collection: checks the options, reads the clock, forgets
    /// the last collection.
    fn begin<E>(&mut self, options: &Options) -> Result<Run, CollectErrorOf<E, T, N, K>> {
        let start = Instant::now();
        if let Some(reason) = options.sweep_limit.invalid() {
            return Err(Error::InvalidOptions { reason });
        }
        self.explain = options.explain;
        Ok(Run {
            now: options.now.unwrap_or_else(SystemTime::now),
            checkpoint: Checkpoint::new(start, options),
            stats: Stats::default(),
            tally: RootCounts::default(),
            mark_start: start,
            next_deadline: None,
        })
    }

    /// Lists the candidates.
    fn list<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
        options: &Options,
    ) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        // Here, not in `begin`: dropping the last collection's copies takes
        // a while on a large store, and a collection in two parts begins
        // under the writers' lock.
        self.start_collection();
        let now = run.now;
        let mut too_many = false;
        let mut lister = Lister {
            settling: &mut self.settling,
            bound: Vec::new(),
            unsettled_from: self.nodes.len() as u32,
            settled_young: 0,
            nodes: &mut self.nodes,
            listed: &mut self.listed,
            young: &mut self.young,
            bindings: &mut self.bindings,
            now,
            grace_period: options.grace_period,
            too_many: &mut too_many,
            next_deadline: None,
            stale: self.explain.then_some(&mut self.stale),
            settled_stale: 0,
        };
        ctx.all(&mut NodeSink::new(&mut lister, now))
            .map_err(Error::Listing)?;
        lister.finish();
        run.next_deadline = lister.next_deadline;
        // Why a node listed with a last use may be swept: its grace ended.
        for (id, at) in self.stale.drain(..) {
            self.reasons.note(id, NO_REFERRER, Missed::GraceEnded(at));
        }
        // Keep none of the settling room through the mark.
        self.settling = Vec::new();
        if too_many {
            return Err(too_many_nodes());
        }
        run.stats.nodes_listed = self.listed.count();
        run.stats.listing_time = run.checkpoint.elapsed();
        run.check(ctx, Phase::Listing)
    }

    /// Reads the roots: the embedder's, then pins, then what is within the
    /// grace period.
    fn read_roots<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
        options: &Options,
    ) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let now = run.now;
        run.mark_start = Instant::now();
        self.marker
            .reset_listed(self.nodes.len(), run.stats.nodes_listed);
        self.bindings
            .sort_unstable_by_key(|&(parent, child, strength)| (parent, child, strength as u8));
        self.bindings.dedup();
        let mut counts = EdgeCounts::default();
        let mut referencer = self.referencer(&mut counts, Origin::Roots(RootKind::Explicit));
        let mut roots = ReferenceSink::new(&mut referencer, now, &mut run.tally, true);
        ctx.roots(&mut roots).map_err(Error::Roots)?;
        note_deadline(&mut run.next_deadline, roots.next_deadline());
        self.intern_unseen()?;
        run.stats.roots = counts.followed;
        run.stats.weak_references = counts.weak;

        for name in &options.pins {
            let mut pin_counts = EdgeCounts::default();
            let mut referencer = self.referencer(&mut pin_counts, Origin::Roots(RootKind::Pin));
            let mut pins = ReferenceSink::new(&mut referencer, now, &mut run.tally, false);
            ctx.resolve_pin(name, &mut pins)
                .map_err(|source| Error::Resolving {
                    name: name.clone(),
                    source,
                })?;
            note_deadline(&mut run.next_deadline, pins.next_deadline());
            self.intern_unseen()?;
            // A pin that resolves only weakly keeps nothing: it is unknown.
            match pin_counts.followed {
                0 => run.stats.unknown_pins.push(name.clone()),
                resolved => run.tally.pins += resolved,
            }
        }

        self.young.sort_unstable();
        self.young.dedup();
        run.tally.grace = self.young.len();
        for &id in &self.young {
            if self.marker.reach(id, Reach::Strong) && self.explain {
                self.reasons.record(id, Why::root(RootKind::Grace));
            }
        }
        run.check(ctx, Phase::Roots)
    }

    /// The mark is over: its counts go into the stats, and the embedder is
    /// asked once more whether to go on.
    fn marked<C>(&mut self, ctx: &mut C, run: &mut Run) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        self.count_marked(run);
        run.check(ctx, Phase::Marking)
    }

    /// Puts the mark's counts into the stats: the nodes read, the
    /// references followed, the live and the garbage listed nodes. Word by
    /// word: no walk over the nodes.
    fn count_marked(&mut self, run: &mut Run) {
        let (marked, stats) = (&self.main, &mut run.stats);
        stats.nodes_expanded = marked.expanded;
        stats.nodes_expanded_flat = marked.expanded_flat;
        stats.references_followed = marked.counts.followed;
        stats.dead_edges = marked.counts.dead;
        // Counted as nodes turned live: no walk over the colours, which a
        // collection in two parts would pay under the writers' lock. Listed
        // ids are `0..nodes_listed`: ids are handed out in listing order,
        // and nodes interned later (unseen targets, `lives_with` parents)
        // come after every listed one.
        let (live, live_listed) = self.marker.live_counts();
        debug_assert!(
            self.listed
                .iter()
                .enumerate()
                .all(|(at, id)| at == id as usize)
        );
        debug_assert_eq!(live, self.marker.live_count());
        debug_assert_eq!(
            live_listed,
            self.marker.live_count_below(stats.nodes_listed)
        );
        stats.nodes_marked = live;
        stats.nodes_swept = stats.nodes_listed - live_listed;
        stats.mark_time = run.mark_start.elapsed();
    }

    /// Fails with the would-be sweep if it is past the limit.
    fn check_sweep_limit<E>(
        &self,
        stats: &Stats,
        options: &Options,
    ) -> Result<(), CollectErrorOf<E, T, N, K>> {
        options
            .sweep_limit
            .check(stats.nodes_swept, stats.nodes_listed, || {
                garbage_ids(&self.listed, &self.marker)
                    .map(|id| self.nodes.get(id).clone())
                    .collect()
            })
    }

    /// The outcome: the stats, with every root's reason counted, and the
    /// collector's marks to read the garbage from.
    fn outcome(&mut self, run: Run, options: &Options) -> Collection<'_, T, N, K, S> {
        let Run {
            now,
            mut stats,
            mut tally,
            next_deadline,
            ..
        } = run;
        tally.merge(&self.main.tally);
        stats.next_deadline = next_deadline;
        note_deadline(&mut stats.next_deadline, self.main.next_deadline);
        stats.weak_references += self.main.counts.weak;
        stats.roots_by_kind = tally;
        self.ordered = options.sweep_order == SweepOrder::ReferrersFirst;
        Collection {
            collector: self,
            stats,
            now,
        }
    }

    /// Drops the last collection's copies and forgets every mark, keeping
    /// the allocations.
    fn start_collection(&mut self) {
        self.nodes.clear();
        self.listed.clear();
        self.swept.clear();
        self.garbage_refs.clear();
        self.garbage_out.clear();
        self.ordered = false;
        self.main.clear();
        self.settling.clear();
        self.young.clear();
        // A listing that failed leaves its grace notes behind.
        self.stale.clear();
        self.bindings.clear();
        self.reasons.clear();
        self.rewritten.clear();
        self.marker.reset(0);
    }

    /// Interns the targets a callback found outside the table and marks
    /// them. They were not listed, so they are never swept.
    fn intern_unseen<E, R>(&mut self) -> Result<(), Error<E, R>> {
        for unseen in self.main.unseen.drain(..) {
            let id = self
                .nodes
                .intern(unseen.hash, Cow::Owned(unseen.node))
                .ok_or_else(too_many_nodes)?;
            self.marker.grow(self.nodes.len());
            if self.marker.reach(id, unseen.reach) {
                if let Some(why) = unseen.why {
                    self.reasons.record(id, why);
                }
            }
        }
        Ok(())
    }
}

/// The error of a collection whose context's error is `E`.
type CollectErrorOf<E, T, N, K> = Error<E, Node<T, N, K>>;

fn too_many_nodes<E, R>() -> Error<E, R> {
    Error::TooManyNodes {
        max: MAX_IDS as u64,
    }
}

/// Stops a collection that ran out of time or that the embedder cancels.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    start: Instant,
    time_limit: Option<Duration>,
    cancel: Option<Cancel>,
}

impl Checkpoint {
    pub(crate) fn new(start: Instant, options: &Options) -> Self {
        Checkpoint {
            start,
            time_limit: options.time_limit,
            cancel: options.cancel.clone(),
        }
    }

    /// Time since the collection started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// `ask` is the context's `checkpoint` method, so both paths share this.
    pub(crate) fn check<X, E, R>(
        &mut self,
        ctx: &mut X,
        phase: Phase,
        stats: &Stats,
        ask: impl FnOnce(&mut X, &Progress) -> Flow,
    ) -> Result<(), Error<E, R>> {
        self.overdue(phase)?;
        let elapsed = self.start.elapsed();
        let progress = Progress {
            phase,
            nodes_listed: stats.nodes_listed,
            nodes_expanded: stats.nodes_expanded + stats.nodes_expanded_flat,
            elapsed,
        };
        match ask(ctx, &progress) {
            Flow::Continue => Ok(()),
            Flow::Abort => Err(Error::Aborted { phase }),
        }
    }

    /// The time limit and the cancel handle, for threads that cannot ask
    /// the context.
    fn overdue<E, R>(&self, phase: Phase) -> Result<(), Error<E, R>> {
        if self.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
            return Err(Error::Cancelled { phase });
        }
        match self.time_limit {
            // At the limit itself, stop: stopping keeps everything.
            Some(limit) if self.start.elapsed() >= limit => Err(Error::TimedOut { limit, phase }),
            _ => Ok(()),
        }
    }
}

/// What one collection carries from phase to phase.
#[derive(Debug)]
struct Run {
    now: SystemTime,
    checkpoint: Checkpoint,
    stats: Stats,
    tally: RootCounts,
    /// When the roots were first read.
    mark_start: Instant,
    /// The earliest deadline still ahead, outside the mark's threads.
    next_deadline: Option<SystemTime>,
}

impl Run {
    fn check<C: CollectionContext>(
        &mut self,
        ctx: &mut C,
        phase: Phase,
    ) -> Result<(), CollectError<C>> {
        self.checkpoint
            .check(ctx, phase, &self.stats, C::checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::convert::Infallible;

    type N = Node<u8, u8, char>;

    struct Graph {
        all: Vec<char>,
        roots: Vec<char>,
        edges: HashMap<char, Vec<char>>,
    }

    fn node(key: char) -> N {
        Node::new(1, 0, key)
    }

    impl CollectionContext for Graph {
        type Kind = u8;
        type Namespace = u8;
        type Key = char;
        type Error = Infallible;

        fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, char>) -> Result<(), Infallible> {
            self.all.iter().for_each(|&k| nodes.push(&node(k)));
            Ok(())
        }
        fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, char>) -> Result<(), Infallible> {
            self.roots.iter().for_each(|&k| roots.strong(&node(k)));
            Ok(())
        }
        fn references(
            &mut self,
            n: &N,
            refs: &mut ReferenceSink<'_, u8, u8, char>,
        ) -> Result<(), Infallible> {
            for &k in self.edges.get(&n.key).into_iter().flatten() {
                refs.strong(&node(k));
            }
            Ok(())
        }
    }

    /// The keys of what a collection of `graph` by `gc` sweeps, in order.
    fn swept_keys(
        gc: &mut Collector<u8, u8, char>,
        graph: &mut Graph,
        options: &Options,
    ) -> String {
        let collection = gc.collect_with(graph, options).unwrap();
        collection.garbage().map(|n| n.key).collect()
    }

    /// containerd's `TestGCRoots` graph.
    fn canonical() -> Graph {
        let edges = [
            ('A', 'B'),
            ('B', 'A'),
            ('C', 'D'),
            ('C', 'F'),
            ('C', 'B'),
            ('E', 'F'),
            ('E', 'G'),
            ('F', 'H'),
        ];
        let mut map: HashMap<char, Vec<char>> = HashMap::new();
        for (a, b) in edges {
            map.entry(a).or_default().push(b);
        }
        Graph {
            all: "ABCDEFGH".chars().collect(),
            roots: vec!['A', 'C'],
            edges: map,
        }
    }

    #[test]
    fn containerd_canonical_case() {
        let mut gc = Collector::new();
        let result = gc.collect(&mut canonical()).unwrap();
        let live: String = result.live().map(|n| n.key).collect();
        let swept: String = result.garbage().map(|n| n.key).collect();
        assert_eq!(live, "ABCDFH");
        assert_eq!(swept, "EG");
        let s = result.stats();
        assert_eq!((s.nodes_listed, s.roots, s.nodes_marked), (8, 2, 6));
        assert_eq!((s.nodes_expanded, s.references_followed), (6, 6));
        assert_eq!((s.dead_edges, s.nodes_swept), (0, 2));
    }

    #[test]
    fn why_live_walks_back_to_a_root() {
        let mut gc = Collector::new();
        let options = Options {
            explain: true,
            ..Options::default()
        };
        let result = gc.collect_with(&mut canonical(), &options).unwrap();
        let path: Vec<(char, Reason)> = result
            .why_live(&node('H'))
            .unwrap()
            .into_iter()
            .map(|step| (step.node.key, step.reason))
            .collect();
        let strong = Reason::Reference(Strength::Strong);
        assert_eq!(
            path,
            [
                ('C', Reason::Root(RootKind::Explicit)),
                ('F', strong),
                ('H', strong)
            ]
        );
        assert!(
            result.why_live(&node('E')).is_none(),
            "garbage has no reason"
        );
        let quiet = gc.collect(&mut canonical()).unwrap();
        assert!(quiet.why_live(&node('H')).is_none(), "off unless asked");
    }

    #[test]
    fn referrers_first_orders_the_garbage_for_one_pass_removal() {
        let mut graph = canonical();
        graph.roots.clear();
        let mut gc = Collector::new();
        let options = Options {
            sweep_order: SweepOrder::ReferrersFirst,
            ..Options::default()
        };
        let order = swept_keys(&mut gc, &mut graph, &options);
        // C and E are referenced by nothing. C goes first (listed first),
        // and frees the A⇄B cycle, which goes together, in listing order.
        assert_eq!(order, "CABDEFGH");
        let listing = swept_keys(&mut gc, &mut graph, &Options::default());
        assert_eq!(listing, "ABCDEFGH");
    }

    #[test]
    fn a_tripped_breaker_skips_ordering_and_reports_listing_order() {
        let mut graph = canonical();
        graph.roots.clear();
        let mut options = Options {
            sweep_order: SweepOrder::ReferrersFirst,
            ..Options::default()
        };
        options.sweep_limit.max_nodes = Some(7);
        let err = Collector::new()
            .collect_with(&mut graph, &options)
            .unwrap_err();
        let Error::SweepLimitExceeded {
            would_sweep,
            listed,
            ..
        } = err
        else {
            panic!("expected the breaker, got {err}");
        };
        let keys: String = would_sweep.iter().map(|n| n.key).collect();
        assert_eq!((keys.as_str(), listed), ("ABCDEFGH", 8));
    }

    /// Pins resolve "strong:X" strongly and "weak:X" weakly.
    struct Pinned(Graph);

    impl CollectionContext for Pinned {
        type Kind = u8;
        type Namespace = u8;
        type Key = char;
        type Error = Infallible;

        fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, char>) -> Result<(), Infallible> {
            self.0.all(nodes)
        }
        fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, char>) -> Result<(), Infallible> {
            self.0.roots(roots)
        }
        fn references(
            &mut self,
            n: &N,
            refs: &mut ReferenceSink<'_, u8, u8, char>,
        ) -> Result<(), Infallible> {
            self.0.references(n, refs)
        }
        fn resolve_pin(
            &mut self,
            name: &str,
            pins: &mut ReferenceSink<'_, u8, u8, char>,
        ) -> Result<(), Infallible> {
            let key = name.chars().last().unwrap();
            match name.split_once(':').unwrap().0 {
                "strong" => pins.strong(&node(key)),
                _ => pins.weak(&node(key)),
            }
            Ok(())
        }
    }

    #[test]
    fn a_pin_that_resolves_only_weakly_is_unknown_and_keeps_nothing() {
        let mut gc = Collector::new();
        let options = Options {
            pins: vec!["strong:G".into(), "weak:E".into()],
            ..Options::default()
        };
        let result = gc.collect_with(&mut Pinned(canonical()), &options).unwrap();
        let swept: String = result.garbage().map(|n| n.key).collect();
        assert_eq!(swept, "E", "G is pinned, E is not");
        assert_eq!(result.stats().unknown_pins, ["weak:E"]);
        assert_eq!(result.stats().roots_by_kind.pins, 1);
    }

    #[test]
    fn reuse_starts_each_collection_afresh() {
        let mut gc = Collector::new();
        let mut graph = canonical();
        assert_eq!(gc.collect(&mut graph).unwrap().garbage().len(), 2);
        graph.all.retain(|&k| k != 'E' && k != 'G');
        graph.edges.remove(&'E');
        let result = gc.collect(&mut graph).unwrap();
        assert_eq!(result.garbage().len(), 0);
        assert_eq!(gc.nodes.len(), 6, "the table holds this run's nodes only");
        graph.roots = vec!['A'];
        let swept = swept_keys(&mut gc, &mut graph, &Options::default());
        assert_eq!(swept, "CDFH");
    }

    #[test]
    fn nodes_listed_many_times_are_kept_once() {
        let mut graph = canonical();
        graph.all = graph.all.repeat(100);
        for reused in [false, true] {
            let mut gc = Collector::new();
            if reused {
                gc.collect(&mut canonical()).unwrap();
            }
            let swept = swept_keys(&mut gc, &mut graph, &Options::default());
            assert_eq!(swept, "EG");
            assert_eq!(gc.nodes.len(), 8, "one copy per node (reused: {reused})");
        }
    }
}
