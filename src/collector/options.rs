//! The settings of one collection: `Options`, and the order the garbage
//! comes in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// Settings for one collection.
///
/// The dense path reads only `time_limit`, `sweep_limit` and `cancel`; the
/// policies that need names or times (`now`, `grace_period`, `pins`) are
/// for the `Node` path.
///
/// Outside the crate, `Options { explain: true, ..Default::default() }`
/// does not compile (the struct may grow fields), so each field has a
/// chainable setter of its name:
///
/// ```
/// use std::time::Duration;
/// use resource_gc::{Options, SweepLimit, SweepOrder};
///
/// let options = Options::default()
///     .grace_period(Duration::from_secs(3600))
///     .pin("app:stable")
///     .sweep_limit(SweepLimit::default().max_share(0.5))
///     .sweep_order(SweepOrder::ReferrersFirst)
///     .explain(true);
/// assert_eq!(options.pins, ["app:stable"]);
/// ```
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
    /// Record why each node is live, for [`Collection::why_live`], and why
    /// each swept one was swept, for [`Collection::why_swept`]. Costs 12
    /// bytes per node, and a note per weak, expired or unretained
    /// reference read and per node past its grace period; off by default.
    pub explain: bool,
    /// The order [`Collection::garbage`] hands the garbage out in.
    pub sweep_order: SweepOrder,
    /// How many threads [`Collector::collect_parallel`] marks with, the
    /// calling one included, at most 256. Zero, the default, asks the
    /// system ([`std::thread::available_parallelism`]); one marks on the
    /// calling thread. [`Collector::collect_with`] always marks on the
    /// calling thread.
    pub mark_threads: usize,
    /// A handle to cancel the collection from any thread: see [`Cancel`].
    pub cancel: Option<Cancel>,
}

impl Options {
    /// Sets [`time_limit`](Self::time_limit).
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Sets [`now`](Self::now).
    #[must_use]
    pub fn now(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Sets [`grace_period`](Self::grace_period).
    #[must_use]
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Adds one name to [`pins`](Self::pins).
    #[must_use]
    pub fn pin(mut self, name: impl Into<String>) -> Self {
        self.pins.push(name.into());
        self
    }

    /// Sets [`sweep_limit`](Self::sweep_limit).
    #[must_use]
    pub fn sweep_limit(mut self, limit: SweepLimit) -> Self {
        self.sweep_limit = limit;
        self
    }

    /// Sets [`explain`](Self::explain).
    #[must_use]
    pub fn explain(mut self, explain: bool) -> Self {
        self.explain = explain;
        self
    }

    /// Sets [`sweep_order`](Self::sweep_order).
    #[must_use]
    pub fn sweep_order(mut self, order: SweepOrder) -> Self {
        self.sweep_order = order;
        self
    }

    /// Sets [`mark_threads`](Self::mark_threads).
    #[must_use]
    pub fn mark_threads(mut self, threads: usize) -> Self {
        self.mark_threads = threads;
        self
    }

    /// Sets [`cancel`](Self::cancel).
    #[must_use]
    pub fn cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = Some(cancel);
        self
    }
}

/// Cancels a running collection from any thread. The collection stops at
/// its next checkpoint (every few thousand nodes, and between phases and
/// steps) with [`crate::Error::Cancelled`], sweeping nothing; the collector
/// stays usable. Clones share one flag; a handle stays cancelled, so give
/// each collection a fresh one.
///
/// ```
/// use resource_gc::{Cancel, Options};
///
/// let cancel = Cancel::new();
/// let mut options = Options::default();
/// options.cancel = Some(cancel.clone());
/// std::thread::spawn(move || cancel.cancel()).join().unwrap();
/// assert!(options.cancel.as_ref().unwrap().is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A handle not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the collection to stop at its next checkpoint.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called on this handle or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
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
