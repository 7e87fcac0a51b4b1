//! The settings of one collection: `Options`, and the order the garbage
//! comes in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

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
    /// A handle to cancel the collection from any thread: see [`Cancel`].
    pub cancel: Option<Cancel>,
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
