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

use std::borrow::Cow;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::{Duration, Instant, SystemTime};

use crate::bitset::{BitSet, Ones};
use crate::context::{EmitNode, EmitReference, Via};
use crate::explain::{Reasons, Why};
use crate::intern::Interner;
use crate::mark::{MAX_IDS, Marker, Marks, Reach};
use crate::order::referrers_first;
use crate::policy::within_grace;
use crate::pool::Pool;
use crate::{
    CollectError, CollectionContext, Error, Flow, Node, NodeSink, NodeView, Phase, Progress,
    Reason, ReferenceSink, RootCounts, RootKind, SharedContext, Step, Strength, SweepLimit,
};

/// How many nodes are expanded between two checkpoints.
pub(crate) const CHECKPOINT_EVERY: usize = 4096;

/// Settings for one collection.
///
/// The dense path reads only `time_limit` and `sweep_limit`; the policies
/// that need names or times (`now`, `grace_period`, `pins`) are for the
/// `Node` path.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Give up, sweeping nothing, once a collection has run this long
    /// (reaching the limit exactly counts as past it). Checked between
    /// phases and every few thousand nodes marked, so a single slow
    /// callback can overrun it.
    pub time_limit: Option<Duration>,
    /// The time the collection runs at. `None` reads the system clock, once
    /// per collection; every time-based decision of that collection, the
    /// callbacks' included ([`NodeSink::now`], [`ReferenceSink::now`]), uses
    /// that one reading. Tests set it, so they never sleep.
    pub now: Option<SystemTime>,
    /// Nodes listed with [`NodeSink::push_used`] at most this long before
    /// `now` (exactly this long included), or after `now`, are strong
    /// roots. Zero, the default, keeps only nodes used at or after `now`.
    pub grace_period: Duration,
    /// Names (tags, ids) of resources to keep regardless, resolved by
    /// [`CollectionContext::resolve_pin`]; Vespa's `excludedRefs`.
    pub pins: Vec<String>,
    /// The most one collection may sweep. Unlimited by default.
    pub sweep_limit: SweepLimit,
    /// Record why each node is live, for [`Collection::why_live`]. Costs
    /// 8 bytes per node; off by default.
    pub explain: bool,
    /// The order [`Collection::garbage`] hands the garbage out in.
    pub sweep_order: SweepOrder,
    /// How many threads [`Collector::collect_parallel`] marks with, the
    /// calling one included, at most 256. Zero, the default, asks the
    /// system ([`std::thread::available_parallelism`]); one marks on the
    /// calling thread. [`Collector::collect_with`] always marks on the
    /// calling thread.
    pub mark_threads: usize,
}

/// The order of the garbage a collection returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SweepOrder {
    /// The order [`CollectionContext::all`] first listed the nodes in.
    #[default]
    Listing,
    /// Referrers before what they reference, so that a store that refuses
    /// to delete a resource something still names (a parent image, a blob
    /// a manifest lists) can remove in one pass, without retries. Costs one
    /// more [`CollectionContext::references`] call per garbage node; a
    /// failure there fails the collection like any other. The nodes of a
    /// reference cycle go together, after everything that references any
    /// of them; ties keep listing order. References of every strength
    /// count, and so does [`NodeSink::lives_with`]: a garbage parent goes
    /// before the children bound to it.
    ReferrersFirst,
}

/// Counts and timings of one collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Distinct nodes [`CollectionContext::all`] listed: the candidates.
    pub nodes_listed: usize,
    /// Strong and flat roots [`CollectionContext::roots`] emitted,
    /// duplicates included, expired ones not.
    pub roots: usize,
    /// Why nodes are kept, by kind of root.
    pub roots_by_kind: RootCounts,
    /// Pins that resolved to nothing.
    pub unknown_pins: Vec<String>,
    /// Distinct nodes found live, including reached nodes that were not
    /// listed.
    pub nodes_marked: usize,
    /// Nodes whose references were followed: the nodes reached strongly.
    pub nodes_expanded: usize,
    /// Nodes reached flat whose structure was followed: their
    /// [`Strength::Structural`] references and
    /// [`lives_with`](NodeSink::lives_with) children. A node reached flat
    /// and later strongly counts here and in `nodes_expanded`.
    pub nodes_expanded_flat: usize,
    /// Strong, flat and structural references emitted by
    /// [`CollectionContext::references`].
    pub references_followed: usize,
    /// Weak roots and references emitted; they keep nothing.
    pub weak_references: usize,
    /// Strong and flat references emitted by
    /// [`CollectionContext::references`] to nodes the listing did not name.
    /// Roots and pins naming unlisted nodes are not counted here.
    pub dead_edges: usize,
    /// Listed nodes found unreachable.
    pub nodes_swept: usize,
    /// Time spent listing the candidates.
    pub listing_time: Duration,
    /// Time spent reading roots and following references.
    pub mark_time: Duration,
    /// Time spent collecting the unreachable nodes.
    pub sweep_time: Duration,
}

/// One line for a log: counts, then time per phase.
///
/// ```
/// let stats = resource_gc::Stats::default();
/// assert_eq!(
///     stats.to_string(),
///     "listed 0, roots 0, marked 0, swept 0, references 0 (weak 0, dead 0); \
///      listing 0ns, mark 0ns, sweep 0ns"
/// );
/// ```
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "listed {}, roots {}, marked {}, swept {}, references {} (weak {}, dead {}); \
             listing {:?}, mark {:?}, sweep {:?}",
            self.nodes_listed,
            self.roots,
            self.nodes_marked,
            self.nodes_swept,
            self.references_followed,
            self.weak_references,
            self.dead_edges,
            self.listing_time,
            self.mark_time,
            self.sweep_time
        )
    }
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
}

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
struct Deferred<R> {
    hash: u64,
    node: R,
    how: How,
    /// The node whose references these are.
    from: u32,
    candidate: Option<u32>,
}

/// Nodes the mark expands before it resolves their deferred references.
const EXPAND_BATCH: usize = 16;

/// The most threads one mark may use: [`Options::mark_threads`].
const MAX_MARK_THREADS: usize = 256;

/// References set aside before they are resolved anyway, mid-callback: a
/// node with a million references does not buffer them all.
const DEFER_LIMIT: usize = 1024;

#[derive(Debug)]
struct Unseen<R> {
    hash: u64,
    node: R,
    reach: Reach,
    /// Why it is live, if the collection explains.
    why: Option<Why>,
}

/// Where the references a sink receives come from.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// They are roots; plain ones are of this kind.
    Roots(RootKind),
    /// They are the references of this node.
    Node(u32),
}

impl Origin {
    fn why(self, strength: Strength, via: Via) -> Why {
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
            ordered: false,
            main: ThreadState::default(),
            settling: Vec::new(),
            young: Vec::new(),
            bindings: Vec::new(),
            reasons: Reasons::default(),
            explain: false,
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

    /// As [`collect_with`](Self::collect_with), with the mark spread over
    /// [`Options::mark_threads`] threads, which call
    /// [`SharedContext::references_shared`] at once. The listing, the roots
    /// and the sweep run on the calling thread, as do the callbacks that
    /// take `&mut self`.
    ///
    /// The outcome is the one [`collect_with`](Self::collect_with) gives:
    /// the same garbage in the same order, the same counts. Only the order
    /// in which nodes are expanded differs.
    ///
    /// Threads start once there are enough grey nodes to share (a few
    /// dozen); until then, and between rounds, the calling thread marks
    /// alone, through `references_shared` too. A round ends when no grey
    /// node is left; targets the listing did not name are interned then,
    /// and may start another.
    ///
    /// While threads mark, [`CollectionContext::checkpoint`] is not called
    /// (it needs `&mut self`); it is between rounds and every few thousand
    /// nodes the calling thread marks alone. [`Options::time_limit`] holds
    /// throughout: every thread checks it every few thousand nodes. To
    /// cancel mid-round, fail `references_shared`. When several callbacks
    /// fail, the error returned is the first to stop the threads, which
    /// need not be the one the sequential mark would meet first.
    ///
    /// With one thread, or with [`Options::explain`] (so that the path
    /// [`Collection::why_live`] reports is the one a single thread finds
    /// first), it marks as `collect_with` does, through
    /// [`CollectionContext::references`]. A thread the system refuses to
    /// start means one thread fewer, not an error. A panic in any thread
    /// unwinds out of this call once every thread has stopped.
    ///
    /// More than 256 threads is [`Error::InvalidOptions`].
    pub fn collect_parallel<C>(
        &mut self,
        ctx: &mut C,
        options: &Options,
    ) -> Result<Collection<'_, T, N, K, S>, CollectError<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
        C::Error: Send,
        Node<T, N, K>: Send + Sync,
        S: Sync,
    {
        let threads = match options.mark_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if n > MAX_MARK_THREADS => {
                return Err(Error::InvalidOptions {
                    reason: format!("mark_threads is {n}, more than {MAX_MARK_THREADS}"),
                });
            }
            n => n,
        };
        if threads < 2 || options.explain {
            return self.run(ctx, options, Self::mark_here);
        }
        self.run(ctx, options, |collector, ctx, run| {
            collector.mark_shared(ctx, run, threads)
        })
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
        let start = Instant::now();
        if let Some(reason) = options.sweep_limit.invalid() {
            return Err(Error::InvalidOptions { reason });
        }
        let now = options.now.unwrap_or_else(SystemTime::now);
        let mut run = Run {
            now,
            checkpoint: Checkpoint::new(start, options),
            stats: Stats::default(),
            tally: RootCounts::default(),
        };
        self.start_collection();
        self.explain = options.explain;

        // Listing.
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
        };
        ctx.all(&mut NodeSink::new(&mut lister, now))
            .map_err(Error::Listing)?;
        lister.finish();
        // Keep none of the settling room through the mark.
        self.settling = Vec::new();
        if too_many {
            return Err(too_many_nodes());
        }
        run.stats.nodes_listed = self.listed.count();
        run.stats.listing_time = start.elapsed();
        run.check(ctx, Phase::Listing)?;

        // Roots: the embedder's, then pins, then what is within the grace
        // period.
        let mark_start = Instant::now();
        self.marker.reset(self.nodes.len());
        self.bindings
            .sort_unstable_by_key(|&(parent, child, strength)| (parent, child, strength as u8));
        self.bindings.dedup();
        let mut counts = EdgeCounts::default();
        let mut referencer = self.referencer(&mut counts, Origin::Roots(RootKind::Explicit));
        ctx.roots(&mut ReferenceSink::new(
            &mut referencer,
            now,
            &mut run.tally,
            true,
        ))
        .map_err(Error::Roots)?;
        self.intern_unseen()?;
        run.stats.roots = counts.followed;
        run.stats.weak_references = counts.weak;

        for name in &options.pins {
            let mut pin_counts = EdgeCounts::default();
            let mut referencer = self.referencer(&mut pin_counts, Origin::Roots(RootKind::Pin));
            ctx.resolve_pin(
                name,
                &mut ReferenceSink::new(&mut referencer, now, &mut run.tally, false),
            )
            .map_err(|source| Error::Resolving {
                name: name.clone(),
                source,
            })?;
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
        run.check(ctx, Phase::Roots)?;

        mark(self, ctx, &mut run)?;
        let marked = &self.main;
        run.stats.nodes_expanded = marked.expanded;
        run.stats.nodes_expanded_flat = marked.expanded_flat;
        run.check(ctx, Phase::Marking)?;
        let Run {
            now,
            mut checkpoint,
            mut stats,
            mut tally,
        } = run;
        tally.merge(&marked.tally);
        stats.references_followed = marked.counts.followed;
        stats.weak_references += marked.counts.weak;
        stats.dead_edges = marked.counts.dead;
        stats.nodes_marked = self.marker.live_count();
        stats.roots_by_kind = tally;
        stats.mark_time = mark_start.elapsed();

        // Sweep.
        let sweep_start = Instant::now();
        stats.nodes_swept = garbage_ids(&self.listed, &self.marker).count();
        // Before ordering: a tripped breaker needs no more callbacks.
        let limit = options.sweep_limit;
        if limit.exceeded(stats.nodes_swept, stats.nodes_listed) {
            let garbage = garbage_ids(&self.listed, &self.marker);
            let garbage = garbage.map(|id| self.nodes.get(id).clone());
            return Err(Error::SweepLimitExceeded {
                would_sweep: garbage.collect(),
                listed: stats.nodes_listed,
                limit,
            });
        }
        if options.sweep_order == SweepOrder::ReferrersFirst {
            self.swept.extend(garbage_ids(&self.listed, &self.marker));
            self.order_referrers_first(ctx, now, &mut checkpoint, &stats)?;
        }
        self.ordered = options.sweep_order == SweepOrder::ReferrersFirst;
        stats.sweep_time = sweep_start.elapsed();
        Ok(Collection {
            collector: self,
            stats,
            now,
        })
    }

    /// The sink for roots: references resolved at once, against the table
    /// borrowed shared.
    fn referencer<'a>(
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
    fn mark_here<C>(&mut self, ctx: &mut C, run: &mut Run) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        while self.expand_here(ctx, run, C::references)? > 0 {}
        Ok(())
    }

    /// Expands one batch of grey nodes on the calling thread with `expand`,
    /// asks for a checkpoint every few thousand nodes, and interns the
    /// targets found outside the table. Returns how many it expanded.
    fn expand_here<C>(
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
        let marking = Marking::new(&self.nodes, &self.listed, &self.bindings, run.now);
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
            run.check(ctx, Phase::Marking)?;
        }
        self.intern_unseen()?;
        Ok(expanded)
    }

    /// Marks on up to `threads` threads, the calling one among them.
    ///
    /// While there are few grey nodes the calling thread expands them
    /// alone (starting threads for a handful costs more than it saves:
    /// think of a chain of nodes the listing did not name). Once there are
    /// enough, a round starts: the threads share the grey nodes until none
    /// is left; then the calling thread interns the targets they found
    /// outside the table, which may make more grey nodes.
    fn mark_shared<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
        threads: usize,
    ) -> Result<(), CollectError<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
        C::Error: Send,
        Node<T, N, K>: Send + Sync,
        S: Sync,
    {
        let shared = |ctx: &mut C, node: &Node<T, N, K>, refs: &mut ReferenceSink<'_, T, N, K>| {
            ctx.references_shared(node, refs)
        };
        loop {
            let grey = self.marker.grey_len();
            if grey == 0 && !self.marker.has_flat() {
                return Ok(());
            }
            // Few strong nodes, or only flat ones (which the calling thread
            // follows alone, once no strong work is left).
            if grey < threads * EXPAND_BATCH {
                self.expand_here(ctx, run, shared)?;
                continue;
            }
            let pool = Pool::new(self.marker.take_grey(), threads);
            let outcomes = {
                let marking = Marking::new(&self.nodes, &self.listed, &self.bindings, run.now);
                let marker = &self.marker;
                let (ctx, checkpoint) = (&*ctx, &run.checkpoint);
                let work = || {
                    let _stop = pool.stop_on_unwind();
                    marking.work(marker, &pool, checkpoint, ctx)
                };
                std::thread::scope(|scope| {
                    // Stops the pool if the calling thread unwinds before it
                    // works, so that no helper waits for it forever.
                    let _stop = pool.stop_on_unwind();
                    // A thread the system refuses only means fewer threads.
                    let helpers: Vec<_> = (1..threads)
                        .map_while(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
                        .collect();
                    pool.started(helpers.len() + 1);
                    let mine = work();
                    let theirs = helpers.into_iter().map(|helper| {
                        helper
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    });
                    std::iter::once(mine).chain(theirs).collect::<Vec<_>>()
                })
            };
            self.marker.give_grey_back(pool.into_grey());
            let mut failure = None;
            for outcome in outcomes {
                match outcome {
                    Ok((state, mut flat)) => {
                        self.marker.add_flat(&mut flat);
                        self.main.absorb(state);
                    }
                    // The error that stopped the others, not one that
                    // raced it.
                    Err(Failed { first, error }) => {
                        if first || failure.is_none() {
                            failure = Some(error);
                        }
                    }
                }
            }
            if let Some(error) = failure {
                return Err(error);
            }
            self.intern_unseen()?;
            if self.marker.grey_len() > 0 {
                run.stats.nodes_expanded = self.main.expanded;
                run.check(ctx, Phase::Marking)?;
            }
        }
    }

    /// Reorders the garbage so that referrers come first, asking the store
    /// for the references of each garbage node.
    fn order_referrers_first<C>(
        &mut self,
        ctx: &mut C,
        now: SystemTime,
        checkpoint: &mut Checkpoint,
        stats: &Stats,
    ) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut position = vec![NOT_GARBAGE; self.nodes.len()];
        for (at, &id) in self.swept.iter().enumerate() {
            position[id as usize] = at as u32;
        }
        let mut edges = Vec::new();
        for (at, &id) in self.swept.iter().enumerate() {
            let node = self.nodes.get(id);
            let mut finder = GarbageEdges {
                nodes: &self.nodes,
                position: &position,
                from: at as u32,
                edges: &mut edges,
            };
            let mut ignored = RootCounts::default();
            let mut refs = ReferenceSink::new(&mut finder, now, &mut ignored, false);
            if let Err(source) = ctx.references(node, &mut refs) {
                return Err(Error::References {
                    node: node.clone(),
                    source,
                });
            }
            if (at + 1) % CHECKPOINT_EVERY == 0 {
                checkpoint.check(ctx, Phase::Ordering, stats, C::checkpoint)?;
            }
        }
        // A back-reference is a reference from parent to child: the
        // parent goes first.
        for &(parent, child, _) in &self.bindings {
            let (from, to) = (position[parent as usize], position[child as usize]);
            if from != NOT_GARBAGE && to != NOT_GARBAGE {
                edges.push((from, to));
            }
        }
        let order = referrers_first(self.swept.len(), &mut edges);
        let listed_order = std::mem::take(&mut self.swept);
        self.swept = order
            .into_iter()
            .map(|at| listed_order[at as usize])
            .collect();
        Ok(())
    }

    /// Drops the last collection's copies and forgets every mark, keeping
    /// the allocations.
    fn start_collection(&mut self) {
        self.nodes.clear();
        self.listed.clear();
        self.swept.clear();
        self.ordered = false;
        self.main.clear();
        self.settling.clear();
        self.young.clear();
        self.bindings.clear();
        self.reasons.clear();
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

fn too_many_nodes<E, R>() -> Error<E, R> {
    Error::TooManyNodes {
        max: MAX_IDS as u64,
    }
}

/// Stops a collection that ran out of time or that the embedder cancels.
pub(crate) struct Checkpoint {
    start: Instant,
    time_limit: Option<Duration>,
}

impl Checkpoint {
    pub(crate) fn new(start: Instant, options: &Options) -> Self {
        Checkpoint {
            start,
            time_limit: options.time_limit,
        }
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
            nodes_expanded: stats.nodes_expanded,
            elapsed,
        };
        match ask(ctx, &progress) {
            Flow::Continue => Ok(()),
            Flow::Abort => Err(Error::Aborted { phase }),
        }
    }

    /// The time limit alone, for threads that cannot ask the context.
    fn overdue<E, R>(&self, phase: Phase) -> Result<(), Error<E, R>> {
        match self.time_limit {
            // At the limit itself, stop: stopping keeps everything.
            Some(limit) if self.start.elapsed() >= limit => Err(Error::TimedOut { limit, phase }),
            _ => Ok(()),
        }
    }
}

/// What one collection carries from phase to phase.
struct Run {
    now: SystemTime,
    checkpoint: Checkpoint,
    stats: Stats,
    tally: RootCounts,
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

/// What every marking thread reads and none writes: the table, the
/// listing, the back-references.
struct Marking<'a, R, S> {
    nodes: &'a Interner<R, S>,
    listed: &'a BitSet,
    /// Sorted by parent.
    bindings: &'a [Binding],
    now: SystemTime,
    /// Whether references are set aside to resolve together (`Deferred`).
    defer: bool,
}

/// One marking thread's buffers and counts, summed when the threads join.
#[derive(Debug)]
struct ThreadState<R> {
    /// Targets found during a callback that the table did not hold yet.
    unseen: Vec<Unseen<R>>,
    /// References set aside, resolved a batch at a time.
    deferred: Vec<Deferred<R>>,
    counts: EdgeCounts,
    tally: RootCounts,
    /// Nodes whose references were followed.
    expanded: usize,
    /// Nodes reached flat whose structure was followed.
    expanded_flat: usize,
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
        }
    }
}

impl<R> ThreadState<R> {
    fn clear(&mut self) {
        self.unseen.clear();
        self.deferred.clear();
        self.counts = EdgeCounts::default();
        self.tally = RootCounts::default();
        self.expanded = 0;
        self.expanded_flat = 0;
    }

    /// Expansions of either kind, for the checkpoints' cadence.
    fn expansions(&self) -> usize {
        self.expanded + self.expanded_flat
    }

    /// Adds what another thread found and counted.
    fn absorb(&mut self, other: ThreadState<R>) {
        self.unseen.extend(other.unseen);
        self.counts.followed += other.counts.followed;
        self.counts.weak += other.counts.weak;
        self.counts.dead += other.counts.dead;
        self.tally.merge(&other.tally);
        self.expanded += other.expanded;
        self.expanded_flat += other.expanded_flat;
    }
}

impl<'a, T, N, K, S> Marking<'a, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn new(
        nodes: &'a Interner<Node<T, N, K>, S>,
        listed: &'a BitSet,
        bindings: &'a [Binding],
        now: SystemTime,
    ) -> Self {
        Marking {
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
    fn expand_batch<M: Marks, E>(
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
            // A flat expansion follows structure only: what else the
            // callback emits (leases, histories) is not counted either.
            let mut unfollowed = RootCounts::default();
            let tally = match reach {
                Reach::Strong => &mut state.tally,
                Reach::Flat => &mut unfollowed,
            };
            let mut refs = ReferenceSink::new(&mut referencer, self.now, tally, false);
            if let Err(source) = expand(node, &mut refs) {
                return Err(Error::References {
                    node: node.clone(),
                    source,
                });
            }
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

    /// One thread of a shared mark: takes grey nodes from `pool`, expands
    /// them with [`SharedContext::references_shared`], and gives half of
    /// its own back whenever another thread has run out. Ends when every
    /// thread has run out, or one has failed. Returns its counts and the
    /// nodes it reached flat, whose structure the calling thread follows.
    fn work<C>(
        &self,
        marker: &Marker,
        pool: &Pool,
        checkpoint: &Checkpoint,
        ctx: &C,
    ) -> Result<(ThreadState<Node<T, N, K>>, Vec<u32>), Failure<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut marks = marker.shared();
        let mut state = ThreadState::default();
        let mut next_check = CHECKPOINT_EVERY;
        let mut expand = |node: &Node<T, N, K>, refs: &mut ReferenceSink<'_, T, N, K>| {
            ctx.references_shared(node, refs)
        };
        while pool.refill(&mut marks.grey) {
            while !pool.stopped() {
                let outcome = self
                    .expand_batch(&mut marks, &mut state, None, &mut expand)
                    .and_then(|expanded| {
                        if state.expansions() >= next_check {
                            next_check = state.expansions() + CHECKPOINT_EVERY;
                            checkpoint.overdue(Phase::Marking)?;
                        }
                        Ok(expanded)
                    });
                match outcome {
                    Ok(0) => break,
                    Ok(_) => pool.share(&mut marks.grey),
                    Err(error) => {
                        let first = pool.stop();
                        return Err(Failed { first, error });
                    }
                }
            }
        }
        Ok((state, marks.flat))
    }
}

/// A back-reference: `(parent, child, strength)`, a reference from parent
/// to child that the child declared.
type Binding = (u32, u32, Strength);

/// Reaches the children bound to `parent` by back-references, each as its
/// strength says from a parent reached `reach` (a structural one as the
/// parent was reached). Returns how many it followed.
fn follow_bindings(
    bindings: &[Binding],
    parent: u32,
    reach: Reach,
    marks: &mut impl Marks,
    mut reasons: Option<&mut Reasons>,
) -> usize {
    let first = bindings.partition_point(|&(p, _, _)| p < parent);
    let children = bindings[first..].iter().take_while(|&&(p, _, _)| p == parent);
    let mut followed = 0;
    for &(_, child, strength) in children {
        let Some(reach) = reach.through(strength) else {
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

/// A marking thread's error, and whether it was the first: the one that
/// stopped the others.
struct Failed<E> {
    first: bool,
    error: E,
}

type Failure<C> = Failed<CollectError<C>>;

/// The listing's sink: interns every candidate, records listing order,
/// the nodes within the grace period and the back-references.
///
/// Every listed node is appended as it comes, and entered into the table
/// in batches ([`Interner::settle`]), which turns a cache miss per node
/// into a walk along the table. A node listed twice has two ids until its
/// batch settles; then the later copy is dropped and its id merged into
/// the earlier.
struct Lister<'a, R, S> {
    /// Room to sort appended ids by bucket.
    settling: &'a mut Vec<(u64, u32)>,
    /// Back-references as `(child, parent, strength)`, until the listing
    /// is over.
    bound: Vec<(R, R, Strength)>,
    /// Ids from this one on are appended, not yet in the table.
    unsettled_from: u32,
    /// How much of `young` holds settled ids.
    settled_young: usize,
    nodes: &'a mut Interner<R, S>,
    listed: &'a mut BitSet,
    young: &'a mut Vec<u32>,
    bindings: &'a mut Vec<Binding>,
    now: SystemTime,
    grace_period: Duration,
    too_many: &'a mut bool,
}

impl<R: Hash + Eq + Clone, S: BuildHasher> Lister<'_, R, S> {
    #[inline]
    fn list(&mut self, id: u32) {
        self.listed.insert(id);
    }

    #[inline]
    fn intern(&mut self, node: &R) -> Option<u32> {
        let id = self
            .nodes
            .intern(self.nodes.hash(node), Cow::Borrowed(node));
        if id.is_none() {
            *self.too_many = true;
        }
        id
    }

    /// Appends a node, to settle later. A full batch settles first, here
    /// rather than after the push: every id it merges must already be in
    /// `listed` and `young`.
    #[inline]
    fn append(&mut self, node: R) -> Option<u32> {
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
    fn finish(&mut self) {
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
    fn settle(&mut self) {
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
        }
        self.settled_young = self.young.len();
    }
}

/// Appended nodes settle into the table this many at a time: enough to
/// touch each stretch of a large table several times per batch, little
/// enough (4 MiB of hashes and ids, freed once the listing is done) to add
/// little to the peak memory.
const SETTLE_BATCH: usize = 1 << 18;

impl<T, N, K, S> EmitNode<T, N, K> for Lister<'_, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    #[inline]
    fn node(&mut self, node: &Node<T, N, K>, last_used: Option<SystemTime>) {
        let id = self.append(node.clone());
        let Some(id) = id else { return };
        self.list(id);
        if last_used.is_some_and(|at| within_grace(at, self.now, self.grace_period)) {
            self.young.push(id);
        }
    }

    #[inline]
    fn node_view(&mut self, view: &dyn NodeView<T, N, K>) {
        let id = self.append(view.to_node());
        match id {
            Some(id) => self.list(id),
            None => *self.too_many = true,
        }
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

/// The listed ids that are not live, in listing order.
fn garbage_ids<'a>(listed: &'a BitSet, marker: &'a Marker) -> impl Iterator<Item = u32> + 'a {
    listed.iter().filter(|&id| !marker.is_live(id))
}

/// `position` of an id that is not garbage.
const NOT_GARBAGE: u32 = u32::MAX;

/// The sink for the references of garbage nodes, when ordering removal:
/// keeps the edges between garbage nodes, as positions in the sweep.
struct GarbageEdges<'a, R, S> {
    nodes: &'a Interner<R, S>,
    position: &'a [u32],
    from: u32,
    edges: &'a mut Vec<(u32, u32)>,
}

impl<T, N, K, S> EmitReference<T, N, K> for GarbageEdges<'_, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn reference(&mut self, node: &Node<T, N, K>, _strength: Strength, _via: Via) {
        let to = self.nodes.find(self.nodes.hash(node), node);
        self.edge_to(to);
    }

    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, _strength: Strength) {
        let hash = self.nodes.hash_with(|h| view.hash_as_node(h));
        let to = self.nodes.find_by(hash, |c| view.is(c));
        self.edge_to(to);
    }
}

impl<R, S> GarbageEdges<'_, R, S> {
    fn edge_to(&mut self, to: Option<u32>) {
        if let Some(&to) = to.and_then(|id| self.position.get(id as usize)) {
            if to != NOT_GARBAGE {
                self.edges.push((self.from, to));
            }
        }
    }
}

#[derive(Debug, Default)]
struct EdgeCounts {
    followed: usize,
    weak: usize,
    dead: usize,
}

/// The sink for roots and references: one hash and one probe per
/// reference; a clone only for a target the table does not hold, or, for
/// nodes that own nothing, a copy to resolve later (`Deferred`).
struct Referencer<'a, R, S, M> {
    nodes: &'a Interner<R, S>,
    listed: &'a BitSet,
    marker: &'a mut M,
    unseen: &'a mut Vec<Unseen<R>>,
    /// Where references are set aside, when they are.
    deferred: Option<&'a mut Vec<Deferred<R>>>,
    counts: &'a mut EdgeCounts,
    origin: Origin,
    /// How the node whose references these are was reached (roots: as if
    /// strongly).
    from: Reach,
    /// Present when the collection explains.
    reasons: Option<&'a mut Reasons>,
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
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, via: Via) {
        if let Some(how) = self.follow(strength, via) {
            let hash = self.nodes.hash(node);
            if self.deferred.is_some() {
                self.defer(hash, node.clone(), how);
            } else {
                let id = self.nodes.find(hash, node);
                self.reach(id, hash, || node.clone(), how);
            }
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
    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength) {
        if let Some(how) = self.follow(strength, Via::Plain) {
            let hash = self.nodes.hash_with(|h| view.hash_as_node(h));
            if self.deferred.is_some() {
                self.defer(hash, view.to_node(), how);
            } else {
                let id = self.nodes.find_by(hash, |c| view.is(c));
                self.reach(id, hash, || view.to_node(), how);
            }
        }
    }
}

impl<R: Hash + Eq + Clone, S: BuildHasher, M: Marks> Referencer<'_, R, S, M> {
    #[inline]
    fn defer(&mut self, hash: u64, node: R, how: How) {
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
    fn resolve_deferred(&mut self) {
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
struct How {
    reach: Reach,
    strength: Strength,
    via: Via,
}

impl<R, S, M: Marks> Referencer<'_, R, S, M> {
    /// Counts a reference of `strength`, and says how it reaches its target
    /// from the node being expanded, if it is followed at all.
    #[inline]
    fn follow(&mut self, strength: Strength, via: Via) -> Option<How> {
        let how = self.follow_all(strength, 1)?;
        Some(How { via, ..how })
    }

    /// [`follow`](Self::follow) for `count` references of one strength. A
    /// flat expansion reads the structure only: what it does not follow, it
    /// does not count either.
    #[inline]
    fn follow_all(&mut self, strength: Strength, count: usize) -> Option<How> {
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
    fn reach(&mut self, id: Option<u32>, hash: u64, owned: impl FnOnce() -> R, how: How) {
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

/// The outcome of one collection: what is live, what is garbage, and how
/// the collection went. It borrows the [`Collector`], so the garbage is
/// handed out by reference, without a copy.
#[derive(Debug)]
pub struct Collection<'c, T, N, K, S = RandomState> {
    collector: &'c Collector<T, N, K, S>,
    stats: Stats,
    now: SystemTime,
}

impl<'c, T, N, K, S> Collection<'c, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// Counts and timings.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The time the collection ran at.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Whether `node` was reached from a root by strong or flat references.
    /// A node the collection never saw is not live.
    pub fn is_live(&self, node: &Node<T, N, K>) -> bool {
        let nodes = &self.collector.nodes;
        nodes
            .find(nodes.hash(node), node)
            .is_some_and(|id| self.collector.marker.is_live(id))
    }

    /// Why `node` is live: the path from a root to it, root first, each step
    /// saying how it is reached. `None` if the node is not live, or if the
    /// collection ran without [`Options::explain`].
    ///
    /// The path is the one the mark found first; there may be others.
    pub fn why_live(&self, node: &Node<T, N, K>) -> Option<Vec<Step<'c, Node<T, N, K>>>> {
        let collector = self.collector;
        let id = collector.nodes.find(collector.nodes.hash(node), node)?;
        let path = collector.reasons.path(id)?;
        let steps = path.into_iter().map(|(id, reason)| Step {
            node: collector.nodes.get(id),
            reason,
        });
        Some(steps.collect())
    }

    /// The listed nodes that are unreachable, each once, in the order
    /// [`Options::sweep_order`] asks for (by default the order the listing
    /// first named them). These are what the caller may remove.
    pub fn garbage(
        &self,
    ) -> impl ExactSizeIterator<Item = &'c Node<T, N, K>> + use<'c, T, N, K, S> {
        let collector = self.collector;
        let ids = if collector.ordered {
            ListedIds::Ordered(collector.swept.iter())
        } else {
            ListedIds::Listed {
                ones: collector.listed.iter(),
                live: false,
            }
        };
        Listed {
            collector,
            ids,
            remaining: self.stats.nodes_swept,
        }
    }

    /// The listed nodes that are live, each once, in listing order.
    pub fn live(&self) -> impl ExactSizeIterator<Item = &'c Node<T, N, K>> + use<'c, T, N, K, S> {
        Listed {
            collector: self.collector,
            ids: ListedIds::Listed {
                ones: self.collector.listed.iter(),
                live: true,
            },
            remaining: self.stats.nodes_listed - self.stats.nodes_swept,
        }
    }
}

/// Listed nodes, the live or the dead ones; the length is known from the
/// stats.
struct Listed<'c, T, N, K, S> {
    collector: &'c Collector<T, N, K, S>,
    ids: ListedIds<'c>,
    remaining: usize,
}

enum ListedIds<'c> {
    /// The garbage, in the order [`SweepOrder::ReferrersFirst`] gave it.
    Ordered(std::slice::Iter<'c, u32>),
    /// The listed ids whose liveness is `live`, ascending: ids are handed
    /// out in listing order, so this is the listing order.
    Listed { ones: Ones<'c>, live: bool },
}

impl<'c, T, N, K, S> Iterator for Listed<'c, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    type Item = &'c Node<T, N, K>;

    fn next(&mut self) -> Option<Self::Item> {
        let marker = &self.collector.marker;
        let id = match &mut self.ids {
            ListedIds::Ordered(ids) => *ids.next()?,
            ListedIds::Listed { ones, live } => ones.find(|&id| marker.is_live(id) == *live)?,
        };
        self.remaining -= 1;
        Some(self.collector.nodes.get(id))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T, N, K, S> ExactSizeIterator for Listed<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
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
