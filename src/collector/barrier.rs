//! Collecting while writers write: a collection in two parts, and the
//! write barrier that makes it safe.
//!
//! The long part ([`Marking::step`], [`Marking::mark`]) lists and marks a
//! consistent snapshot of the store (an MVCC read transaction), with no
//! writer held out. Meanwhile every writer reports, through a [`Barrier`],
//! each node that gains a way to be live: every root added, the target of
//! every reference added. The short part ([`Marking::finish`])
//! runs under the writers' lock: it marks what was reported since, with
//! its closure, and hands out the garbage. Its work grows with the reports,
//! not with the store.
//!
//! Why reporting additions is enough (an insertion barrier over a
//! snapshot): take a candidate `x` that is live when `finish` runs, and a
//! path to it from a root. If no edge of the path, nor the root, was added
//! after the snapshot, they all were there before it and still are, so the
//! long part marked `x`. Otherwise take the last edge of the path added
//! after the snapshot (deleted and added again counts as added), `u → v`;
//! its writer reported `v`. Every edge after it was there before the
//! snapshot and still is, so marking `v` with its closure, over the
//! snapshot or the live store alike, reaches `x`. A root added after the
//! snapshot is reported the same way. Deletions need no report: they only
//! make less live, and what the snapshot kept for them goes at the next
//! collection.
//!
//! Nodes are their keys. A node created after the snapshot under a new key
//! was not listed, so it is never a candidate; but one deleted and written
//! again under the same key (a blob removed, then pulled again by digest)
//! is the listed candidate. That is why the rule asks for the target of
//! *every* reference added, new or not: "it did not exist a moment ago"
//! does not make a target safe.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::*;

/// What a [`Barrier`], its collector and its [`Watch`]es share.
#[derive(Debug)]
pub(crate) struct Reports<R> {
    /// How many listen: a collection in two parts under way (at most one)
    /// and each live [`Watch`]. Zero, and a report is one atomic load.
    listeners: AtomicUsize,
    state: Mutex<Listening<R>>,
}

/// Who keeps reports, and what they kept.
#[derive(Debug)]
struct Listening<R> {
    /// A collection in two parts is under way.
    collecting: bool,
    /// Reports for the collection, since it last took them.
    reported: Vec<R>,
    /// Each live watch's id and every report since it began.
    watches: Vec<(u64, Vec<R>)>,
    next_watch: u64,
}

impl<R> Default for Reports<R> {
    fn default() -> Self {
        Reports {
            listeners: AtomicUsize::new(0),
            state: Mutex::new(Listening {
                collecting: false,
                reported: Vec::new(),
                watches: Vec::new(),
                next_watch: 0,
            }),
        }
    }
}

impl<R> Reports<R> {
    fn lock(&self) -> MutexGuard<'_, Listening<R>> {
        // A writer that panicked while pushing left whole Vecs.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether anyone keeps reports. Acquire pairs with the release of
    /// `activate` and `watch`; the writers' lock, which both are called
    /// under, orders them anyway.
    #[inline]
    fn is_listened(&self) -> bool {
        self.listeners.load(Ordering::Acquire) != 0
    }

    /// Keeps reports for a collection from now on, forgetting any earlier
    /// ones.
    pub(crate) fn activate(&self) {
        let mut state = self.lock();
        state.reported.clear();
        if !state.collecting {
            state.collecting = true;
            self.listeners.fetch_add(1, Ordering::Release);
        }
    }

    pub(crate) fn deactivate(&self) {
        let mut state = self.lock();
        state.reported.clear();
        if state.collecting {
            state.collecting = false;
            self.listeners.fetch_sub(1, Ordering::Release);
        }
    }

    /// Swaps the collection's reports with `into` (an empty buffer).
    pub(crate) fn take(&self, into: &mut Vec<R>) {
        std::mem::swap(&mut self.lock().reported, into);
    }

    fn report(&self, nodes: &[R])
    where
        R: Clone,
    {
        let mut state = self.lock();
        let Listening {
            collecting,
            reported,
            watches,
            ..
        } = &mut *state;
        if *collecting {
            reported.extend_from_slice(nodes);
        }
        for (_, seen) in watches {
            seen.extend_from_slice(nodes);
        }
    }

    fn watch(&self) -> u64 {
        let mut state = self.lock();
        let id = state.next_watch;
        state.next_watch += 1;
        state.watches.push((id, Vec::new()));
        self.listeners.fetch_add(1, Ordering::Release);
        id
    }

    fn unwatch(&self, id: u64) {
        let mut state = self.lock();
        state.watches.retain(|(watch, _)| *watch != id);
        self.listeners.fetch_sub(1, Ordering::Release);
    }

    /// Calls `each` for the reports of watch `id` from position `from` on;
    /// returns the position after the last.
    fn seen_since(&self, id: u64, from: usize, mut each: impl FnMut(&R)) -> usize {
        let state = self.lock();
        let Some((_, seen)) = state.watches.iter().find(|(watch, _)| *watch == id) else {
            return from;
        };
        for node in seen.get(from..).unwrap_or_default() {
            each(node);
        }
        seen.len()
    }
}

/// Where writers report what they make live while a collection runs
/// alongside them ([`Collector::start`]). Cheap to clone and to call from
/// any thread; when no such collection runs, a report is one atomic load.
///
/// **The rule for writers.** Inside each write transaction, before the
/// writers' lock is released, call [`keep`](Self::keep) for every node
/// that gains a way to be live:
///
/// - every root added: a new image, tag, lease, container, pin;
/// - the target of every reference added (not weak), whether the target
///   is old or was written in the same transaction: a manifest naming a
///   layer by digest, a lease taking a blob, a re-tag of an old manifest.
///   A target written just now may carry a key the collection listed (a
///   blob removed, then pulled again), and then it is that candidate;
/// - the target of every reference made stronger (weak to flat or strong,
///   flat to strong);
/// - every node whose policy data now keeps more: a lease renewed (report
///   the lease: the snapshot may have seen its references expired, so the
///   short part reads a reported node's references again, from the live
///   store on the `Node` path, and keeps what its expired ones named on
///   the scan path), a node written or used again under a key that may have
///   existed when the collection started, if its grace period
///   (`push_used`) is what keeps it (report the node): the snapshot saw
///   the old deadline or the old time.
///
/// In short, every change that makes something more live. Nothing else:
/// deletions (of nodes, references or roots) only make less live.
/// Reporting more than the rule asks is safe: it only keeps more.
/// A transaction that reports and then aborts keeps what it reported
/// until the next collection, nothing worse.
///
/// The barrier is [`Collector::barrier`]'s, one per collector for its
/// whole life: hand clones to the writers once.
#[derive(Debug)]
pub struct Barrier<T, N, K> {
    pub(crate) reports: Arc<Reports<Node<T, N, K>>>,
}

impl<T, N, K> Clone for Barrier<T, N, K> {
    fn clone(&self) -> Self {
        Barrier {
            reports: Arc::clone(&self.reports),
        }
    }
}

impl<T: Clone, N: Clone, K: Clone> Barrier<T, N, K> {
    /// Reports that `node` gained a way to be live: the collection under
    /// way keeps it, and everything it references, whatever the snapshot
    /// said.
    #[inline]
    pub fn keep(&self, node: &Node<T, N, K>) {
        if self.reports.is_listened() {
            self.reports.report(std::slice::from_ref(node));
        }
    }

    /// As [`keep`](Self::keep) for each of `nodes`, taking the barrier's
    /// lock once: a pull reports its manifest, config and layers together.
    #[inline]
    pub fn keep_all(&self, nodes: &[Node<T, N, K>]) {
        if self.reports.is_listened() && !nodes.is_empty() {
            self.reports.report(nodes);
        }
    }

    /// As [`keep`](Self::keep), for the node `view` stands for: it is
    /// built only while a collection runs.
    #[inline]
    pub fn keep_view(&self, view: &impl NodeView<T, N, K>) {
        if self.reports.is_listened() {
            self.reports.report(std::slice::from_ref(&view.to_node()));
        }
    }

    /// Whether a collection in two parts is under way, so that reports are
    /// kept.
    #[inline]
    pub fn is_collecting(&self) -> bool {
        self.reports.is_listened() && self.reports.lock().collecting
    }
}

impl<T, N, K> Barrier<T, N, K> {
    /// Starts keeping every report from now on, for as long as the
    /// returned [`Watch`] lives: what [`Plan::apply_watched`] re-validates
    /// a plan with when it is applied later than it was made (a dry run
    /// now, apply after review).
    ///
    /// Start it **under the writers' lock, at a moment when the store is
    /// what the plan's collection saw**: before [`Collector::start`], or
    /// before a one-part collection that holds the writers out, or just
    /// after [`Marking::finish`], before the lock is released. Reports
    /// before the watch began are not in it; a plan made from an older
    /// view than the watch's start is not re-validated by it.
    ///
    /// A watch keeps every report until it is dropped: drop it once its
    /// plan is applied. A plan knows only the nodes its collection met:
    /// [`Plan::apply_watched`] says what that asks of writers.
    pub fn watch(&self) -> Watch<T, N, K> {
        let id = self.reports.watch();
        Watch {
            reports: Arc::clone(&self.reports),
            id,
        }
    }
}

/// Every node writers reported through a [`Barrier`] since
/// [`Barrier::watch`]: what re-validates a plan applied later than it was
/// made ([`Plan::apply_watched`]). Dropping it stops the keeping.
#[derive(Debug)]
pub struct Watch<T, N, K> {
    reports: Arc<Reports<Node<T, N, K>>>,
    id: u64,
}

impl<T, N, K> Watch<T, N, K> {
    /// Calls `each` for every node reported from report number `from` on,
    /// in report order; returns the number after the last, to pass as
    /// `from` next time.
    pub fn reported_since(&self, from: usize, each: impl FnMut(&Node<T, N, K>)) -> usize {
        self.reports.seen_since(self.id, from, each)
    }

    /// Whether any of `nodes` was reported since the watch began. Not
    /// enough, alone, for a [`Remover`](crate::Remover) to check its batch
    /// again inside its own transaction: a report of another node may make
    /// the batch live (see [`Plan::apply_watched`]).
    pub fn reported_any(&self, nodes: &[Node<T, N, K>]) -> bool
    where
        T: PartialEq,
        N: PartialEq,
        K: PartialEq,
    {
        let mut any = false;
        self.reported_since(0, |node| any = any || nodes.contains(node));
        any
    }
}

impl<T, N, K> Drop for Watch<T, N, K> {
    fn drop(&mut self) {
        self.reports.unwatch(self.id);
    }
}

/// How far a [`Marking`] got in one [`step`](Marking::step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Stepped {
    /// There is more to do: call `step` again.
    More,
    /// The long part is done: call [`finish`](Marking::finish) under the
    /// writers' lock (or `step` again, to take in what writers reported
    /// meanwhile).
    Done,
}

/// Where a [`Marking`] is.
#[derive(Debug)]
enum Stage {
    /// The options were unusable; the first call says why.
    Invalid(String),
    Listing,
    Roots,
    Marking,
    /// The long part is done.
    Marked,
    /// A call failed or panicked: nothing may be swept.
    Failed,
}

/// A collection in two parts, under way: see [`Collector::start`]. It
/// borrows the collector until [`finish`](Self::finish) or until it is
/// dropped; dropping it abandons the collection, sweeping nothing.
#[derive(Debug)]
pub struct Marking<'c, T, N, K, S = RandomState> {
    collector: &'c mut Collector<T, N, K, S>,
    options: Options,
    run: Option<Run>,
    stage: Stage,
    /// The garbage is ordered for removal (`SweepOrder::ReferrersFirst`).
    ordered: bool,
    /// Stops the barrier's reports when the marking ends, however it ends.
    _reporting: Reporting<Node<T, N, K>>,
}

/// Stops a barrier's reports when dropped.
#[derive(Debug)]
pub(crate) struct Reporting<R>(pub(crate) Arc<Reports<R>>);

impl<R> Drop for Reporting<R> {
    fn drop(&mut self) {
        self.0.deactivate();
    }
}

impl<T, N, K, S> Collector<T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// The write barrier of collections started with
    /// [`start`](Self::start): hand a clone to every writer, once.
    pub fn barrier(&self) -> Barrier<T, N, K> {
        Barrier {
            reports: Arc::clone(&self.reports),
        }
    }

    /// Starts a collection in two parts, for a store whose writers keep
    /// writing while it runs. Call it **under the writers' lock**, and open
    /// the snapshot the long part will read (an MVCC read transaction)
    /// under the same lock: from here on, writers report through
    /// [`barrier`](Self::barrier), and whatever they committed before is
    /// in the snapshot. Then release the lock and:
    ///
    /// 1. [`Marking::mark`] (or [`Marking::step`] in bounded steps) over the
    ///    snapshot, with writers writing;
    /// 2. take the writers' lock, [`Marking::finish`] over the live store,
    ///    remove the garbage, release the lock.
    ///
    /// The options are checked at the first call. `now` is read here: the
    /// whole collection runs at this instant.
    pub fn start(&mut self, options: &Options) -> Marking<'_, T, N, K, S> {
        self.reports.activate();
        let reporting = Reporting(Arc::clone(&self.reports));
        let (run, stage) = match self.begin::<std::convert::Infallible>(options) {
            Ok(run) => (Some(run), Stage::Listing),
            Err(Error::InvalidOptions { reason }) => (None, Stage::Invalid(reason)),
            Err(_) => unreachable!("begin only checks the options"),
        };
        Marking {
            collector: self,
            options: options.clone(),
            run,
            stage,
            ordered: false,
            _reporting: reporting,
        }
    }

    /// Reads again, from `live`, the references of every node reported
    /// during this collection, and marks what they keep. A report may be a
    /// lease renewed after the mark read it, when its references were
    /// held with a deadline already past; reaching the lease again would
    /// not read it again. (More than the writers' rule asks, which names
    /// those targets too: a writer that reports only the lease is safe.)
    fn reread_reported<C>(&mut self, live: &mut C, run: &mut Run) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut rewritten = std::mem::take(&mut self.rewritten);
        let mut ids: Vec<u32> = rewritten
            .iter()
            .filter_map(|node| self.nodes.find(self.nodes.hash(node), node))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        // Counted once already, when the mark first read them.
        let (mut counts, mut tally) = (EdgeCounts::default(), RootCounts::default());
        for id in ids {
            let node = self.nodes.get(id).clone();
            let mut referencer = self.referencer(&mut counts, Origin::Node(id));
            let mut refs = ReferenceSink::new(&mut referencer, run.now, &mut tally, false);
            if let Err(source) = live.references(&node, &mut refs) {
                return Err(Error::References { node, source });
            }
            let deadline = refs.next_deadline();
            note_deadline(&mut self.main.next_deadline, deadline);
        }
        rewritten.clear();
        self.rewritten = rewritten;
        self.intern_unseen()?;
        self.mark_here(live, run)
    }

    /// Marks what writers reported since the last call, as strong roots.
    /// Returns how many reports there were.
    fn take_reports<E>(&mut self, run: &mut Run) -> Result<usize, CollectErrorOf<E, T, N, K>> {
        self.reports.take(&mut self.reported);
        let count = self.reported.len();
        if count == 0 {
            return Ok(0);
        }
        self.rewritten.extend_from_slice(&self.reported);
        let mut reported = std::mem::take(&mut self.reported);
        let mut counts = EdgeCounts::default();
        let mut referencer = self.referencer(&mut counts, Origin::Roots(RootKind::Written));
        for node in reported.drain(..) {
            referencer.reference(&node, Strength::Strong, Via::Plain);
        }
        self.reported = reported;
        self.intern_unseen()?;
        run.stats.reported += count;
        Ok(count)
    }
}

impl<'c, T, N, K, S> Marking<'c, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// Runs the long part to its end over `snapshot`: lists, reads the
    /// roots, marks, and takes in what writers reported meanwhile. No lock
    /// is needed: `snapshot` is a consistent view that writers do not
    /// change.
    pub fn mark<C>(&mut self, snapshot: &mut C) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        while self.step(snapshot, usize::MAX)? == Stepped::More {}
        Ok(())
    }

    /// As [`mark`](Self::mark), with the marking spread over
    /// [`Options::mark_threads`] threads, as
    /// [`Collector::collect_parallel`] spreads it; the listing and the
    /// roots stay on the calling thread.
    pub fn mark_parallel<C>(&mut self, snapshot: &mut C) -> Result<(), CollectError<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
        C::Error: Send,
        Node<T, N, K>: Send + Sync,
        S: Sync,
    {
        let threads = match mark_threads(&self.options) {
            Ok(threads) => threads,
            Err(error) => {
                self.stage = Stage::Failed;
                return Err(error);
            }
        };
        // The listing and the roots, or the error a failed marking owes.
        while !matches!(self.stage, Stage::Marking | Stage::Marked) {
            let _ = self.step(snapshot, 1)?;
        }
        if threads > 1 {
            let stage = std::mem::replace(&mut self.stage, Stage::Failed);
            let run = self
                .run
                .as_mut()
                .expect("a marking past its roots has its run");
            self.collector.mark_shared(snapshot, run, threads)?;
            if self.collector.take_reports(run)? > 0 {
                self.collector.mark_shared(snapshot, run, threads)?;
            }
            self.stage = stage;
        }
        // What is left: reports since, and the removal order.
        self.mark(snapshot)
    }

    /// Runs a bounded step of the long part over `snapshot`: the listing,
    /// or the roots, or up to about `budget` nodes marked (a batch may
    /// overrun it by a few). An async runtime or a single-threaded engine
    /// interleaves steps with its own work; [`Cancel`] and the time limit
    /// are checked in every step.
    ///
    /// Any error ends the collection: every later call returns
    /// [`Error::Poisoned`], and nothing is swept.
    pub fn step<C>(&mut self, snapshot: &mut C, budget: usize) -> Result<Stepped, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        // Failed until this step succeeds: an error or a panic leaves it so.
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        let (Some(run), collector) = (self.run.as_mut(), &mut *self.collector) else {
            return Err(match stage {
                Stage::Invalid(reason) => Error::InvalidOptions { reason },
                _ => Error::Poisoned,
            });
        };
        let next = match stage {
            Stage::Invalid(_) | Stage::Failed => return Err(Error::Poisoned),
            Stage::Listing => {
                collector.list(snapshot, run, &self.options)?;
                Stage::Roots
            }
            Stage::Roots => {
                collector.read_roots(snapshot, run, &self.options)?;
                Stage::Marking
            }
            Stage::Marking | Stage::Marked => {
                // Reports are taken in at most once a step, when the grey
                // nodes run out: writers that never stop reporting must not
                // keep a step (or `mark`) from ending. What they report
                // after it waits for the next step, or for `finish`.
                let (budget, mut expanded, mut took_reports) = (budget.max(1), 0, false);
                let drained = loop {
                    let batch = collector.expand_here(snapshot, run, C::references)?;
                    expanded += batch;
                    if batch == 0 {
                        if took_reports || collector.take_reports(run)? == 0 {
                            break true;
                        }
                        took_reports = true;
                    } else if expanded >= budget {
                        break false;
                    }
                };
                run.check(snapshot, Phase::Marking)?;
                if drained {
                    // The removal order, here rather than under the lock:
                    // what turns live later is skipped as the garbage is
                    // handed out, and a reference among what stays garbage
                    // cannot be new unless it is weak (a target of any
                    // other strength is reported); a weak one added since
                    // is missing from the order, which only orders
                    // removal.
                    if self.options.sweep_order == SweepOrder::ReferrersFirst && !self.ordered {
                        collector.order_referrers_first(snapshot, run)?;
                        self.ordered = true;
                    }
                    Stage::Marked
                } else {
                    Stage::Marking
                }
            }
        };
        self.stage = next;
        Ok(match self.stage {
            Stage::Marked => Stepped::Done,
            _ => Stepped::More,
        })
    }

    /// The short part, under the writers' lock, over the live store: marks
    /// what writers reported since the long part took in their last
    /// reports, with its closure (references read from `live` for nodes
    /// the long part did not expand), and returns the collection. Remove
    /// its garbage before releasing the lock.
    ///
    /// Every node reported during the collection has its references read
    /// again from `live` here (a lease renewed since the mark read it).
    /// Its work grows with what writers reported, not with the store. If
    /// the long part is not done, `finish` does the rest of it first, over
    /// `live`, under the lock.
    pub fn finish<C>(mut self, live: &mut C) -> Result<Collection<'c, T, N, K, S>, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        while self.step(live, usize::MAX)? == Stepped::More {}
        self.stage = Stage::Failed;
        let Marking {
            collector,
            options,
            run,
            ..
        } = self;
        let mut run = run.expect("a marked collection has its run");
        // Writers are held out: once the reports are in and marked, no
        // more come.
        while collector.take_reports(&mut run)? > 0 {
            collector.mark_here(live, &mut run)?;
        }
        collector.reread_reported(live, &mut run)?;
        collector.reports.deactivate();
        collector.marked(live, &mut run)?;
        collector.check_sweep_limit(&run.stats, &options)?;
        Ok(collector.outcome(run, &options))
    }
}
