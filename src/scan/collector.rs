//! The scan path's collector: the phases of a collection in order, each
//! a method the one-part [`ScanCollector::collect_with`] and the two-part
//! [`ScanMarking`](super::ScanMarking) share.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{Held, ScanCollection, ScanContext, ScanRoots, ScanSink, Scanned, UNLISTED, refused};
use crate::collector::{Checkpoint, Reports, count_expansion};
use crate::mark::{MAX_IDS, Marker, Marks, Reach};
use crate::order::referrers_first;
use crate::{Error, Node, Options, Phase, RootCounts, RootKind, Stats, SweepOrder};

/// A reusable collector for a [`ScanContext`]; it keeps its buffers
/// between collections.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::convert::Infallible;
/// use resource_gc::{Node, ScanCollector, ScanContext, ScanRoots, ScanSink};
///
/// type Blob = Node<u8, String, String>;
/// fn blob(digest: &str) -> Blob {
///     Node::new(0, "default".to_string(), digest.to_string())
/// }
///
/// /// Blobs by digest, each row holding the digests it references, as a
/// /// table of an embedded database would; images name their manifests.
/// struct Store {
///     rows: BTreeMap<String, Vec<String>>,
///     images: Vec<String>,
/// }
///
/// impl ScanContext for Store {
///     type Kind = u8;
///     type Namespace = String;
///     type Key = String;
///     type Error = Infallible;
///
///     fn scan(&mut self, nodes: &mut ScanSink<'_, u8, String, String>) -> Result<(), Infallible> {
///         for (digest, refs) in &self.rows {
///             let mut node = nodes.push(&blob(digest));
///             for target in refs {
///                 node.strong(&blob(target));
///             }
///         }
///         Ok(())
///     }
///
///     fn roots(&mut self, roots: &mut ScanRoots<'_, u8, String, String>) -> Result<(), Infallible> {
///         for manifest in &self.images {
///             roots.strong(&blob(manifest));
///         }
///         Ok(())
///     }
/// }
///
/// let mut store = Store {
///     rows: BTreeMap::from([
///         ("sha256:config".to_string(), vec![]),
///         ("sha256:layer".to_string(), vec![]),
///         ("sha256:manifest".to_string(), vec!["sha256:config".into(), "sha256:layer".into()]),
///         ("sha256:orphan".to_string(), vec!["sha256:layer".into()]),
///     ]),
///     images: vec!["sha256:manifest".into()],
/// };
/// let mut collector = ScanCollector::new();
/// let collection = collector.collect(&mut store)?;
/// // Places in the scan, ascending: walk the same rows again to remove.
/// let mut garbage = collection.garbage().peekable();
/// let doomed: Vec<String> = (0u32..)
///     .zip(store.rows.keys())
///     .filter(|(place, _)| garbage.next_if_eq(place).is_some())
///     .map(|(_, digest)| digest.clone())
///     .collect();
/// for digest in &doomed {
///     store.rows.remove(digest);
/// }
/// assert_eq!(doomed, ["sha256:orphan"]);
/// # Ok::<(), resource_gc::Error<Infallible, u32>>(())
/// ```
///
/// Memory: per listed node, a table slot of 12 bytes (plus hashbrown's
/// control byte and spare room), an 8-byte start and two colour bits; per
/// reference, 9 bytes during the scan and 13 while the targets are
/// resolved, all of it kept as capacity for the next collection. No key
/// is copied.
#[derive(Debug)]
pub struct ScanCollector<T, N, K, S = RandomState> {
    scanned: Scanned,
    marker: Marker,
    held: Vec<Held>,
    order: Vec<u32>,
    hasher: S,
    /// What writers report during a collection in two parts.
    pub(super) reports: Arc<Reports<Node<T, N, K>>>,
    /// The reports being marked, swapped out of `reports`.
    reported: Vec<Node<T, N, K>>,
}

/// One collection under way: what its phases carry from one to the next,
/// across the two parts of [`ScanCollector::start`].
#[derive(Debug)]
pub(super) struct ScanRun {
    now: SystemTime,
    grace_period: Duration,
    checkpoint: Checkpoint,
    stats: Stats,
    mark_start: Instant,
}

impl<T, N, K> Default for ScanCollector<T, N, K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, N, K> ScanCollector<T, N, K> {
    /// A collector with SipHash under a random key, as
    /// [`crate::Collector::new`].
    pub fn new() -> Self {
        Self::with_hasher(RandomState::new())
    }
}

impl<T, N, K, S> ScanCollector<T, N, K, S> {
    /// A collector with the given hasher. A keyed one (the default) keeps
    /// chance collisions, and with them garbage kept, out of an
    /// attacker's hands.
    pub fn with_hasher(hasher: S) -> Self {
        ScanCollector {
            scanned: Scanned::default(),
            marker: Marker::default(),
            held: Vec::new(),
            order: Vec::new(),
            hasher,
            reports: Arc::default(),
            reported: Vec::new(),
        }
    }
}

impl<T: Hash, N: Hash, K: Hash, S: BuildHasher> ScanCollector<T, N, K, S> {
    /// Runs one collection with default [`Options`].
    pub fn collect<C>(&mut self, ctx: &mut C) -> Result<ScanCollection<'_>, Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        self.collect_with(ctx, &Options::default())
    }

    /// Scans, marks from the roots and returns the places of the listed
    /// nodes that are unreachable, with writers held out meanwhile (for a
    /// collection alongside them, [`start`](Self::start)). On any error
    /// nothing is returned for removal.
    ///
    /// Of [`Options`], this path reads `now`, `grace_period`,
    /// `sweep_limit`, `time_limit` and `cancel`, and marks on the calling
    /// thread. `explain` changes nothing: [`ScanCollection::why_live`]
    /// searches when asked. `sweep_order` orders
    /// [`ScanCollection::garbage`]. Pins (emit them as roots) are refused
    /// with [`Error::InvalidOptions`].
    pub fn collect_with<C>(
        &mut self,
        ctx: &mut C,
        options: &Options,
    ) -> Result<ScanCollection<'_>, Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut run = self
            .begin(options)
            .map_err(|reason| Error::InvalidOptions { reason })?;
        self.scan_and_mark(ctx, &mut run)?;
        self.conclude(run, options)
    }

    /// Checks the options and starts a run: `now` is read here.
    pub(super) fn begin(&mut self, options: &Options) -> Result<ScanRun, String> {
        let start = Instant::now();
        if let Some(reason) = refused(options) {
            return Err(reason);
        }
        Ok(ScanRun {
            now: options.now.unwrap_or_else(SystemTime::now),
            grace_period: options.grace_period,
            checkpoint: Checkpoint::new(start, options),
            stats: Stats::default(),
            mark_start: start,
        })
    }

    /// The long part: scans, reads the roots, marks.
    pub(super) fn scan_and_mark<C>(
        &mut self,
        ctx: &mut C,
        run: &mut ScanRun,
    ) -> Result<(), Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        let listing_start = Instant::now();
        self.scanned.clear();
        let mut sink = ScanSink {
            scanned: &mut self.scanned,
            hasher: &self.hasher,
            now: run.now,
            grace_period: run.grace_period,
        };
        ctx.scan(&mut sink).map_err(Error::Listing)?;
        if self.scanned.too_many {
            return Err(Error::TooManyNodes {
                max: MAX_IDS as u64,
            });
        }
        let len = self.scanned.len();
        self.scanned.starts.push(self.scanned.target_hashes.len());
        self.resolve_targets();
        run.stats.nodes_listed = len;
        run.stats.listing_time = listing_start.elapsed();
        run.checkpoint
            .check(ctx, Phase::Listing, &run.stats, C::checkpoint)?;

        run.mark_start = Instant::now();
        self.marker.try_reset(len).map_err(|_| Error::OutOfMemory {
            bytes: len.div_ceil(32) * 8,
        })?;
        self.held.clear();
        let mut roots = ScanRoots {
            scanned: &self.scanned,
            marker: &mut self.marker,
            hasher: &self.hasher,
            now: run.now,
            held: &mut self.held,
            counts: RootCounts::default(),
            roots: 0,
            weak: 0,
            next_deadline: self.scanned.next_deadline,
        };
        ctx.roots(&mut roots).map_err(Error::Roots)?;
        let stats = &mut run.stats;
        stats.roots = roots.roots;
        stats.weak_references = roots.weak;
        stats.roots_by_kind = roots.counts;
        stats.next_deadline = roots.next_deadline;
        for &place in &self.scanned.young {
            self.marker.reach(place, Reach::Strong);
            self.held.push(Held {
                place,
                kind: RootKind::Grace,
                reach: Reach::Strong,
            });
        }
        stats.roots_by_kind.grace = self.scanned.young.len();
        run.checkpoint
            .check(ctx, Phase::Roots, &run.stats, C::checkpoint)?;
        self.mark_grey(ctx, run)
    }

    /// Expands every grey place: its references from the place array, its
    /// group by hash.
    pub(super) fn mark_grey<C>(
        &mut self,
        ctx: &mut C,
        run: &mut ScanRun,
    ) -> Result<(), Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        let Scanned {
            starts,
            targets,
            strengths,
            groups,
            ..
        } = &self.scanned;
        let stats = &mut run.stats;
        while let Some((place, reach)) = self.marker.pop_grey(true) {
            let refs = starts[place as usize]..starts[place as usize + 1];
            for (&target, &strength) in targets[refs.clone()].iter().zip(&strengths[refs]) {
                let Some(strength) = strength else {
                    continue;
                };
                match reach.through(strength) {
                    Some(to) => {
                        stats.references_followed += 1;
                        if target == UNLISTED {
                            stats.dead_edges += 1;
                        } else {
                            self.marker.reach(target, to);
                        }
                    }
                    // A flat expansion reads the structure only.
                    None if reach == Reach::Strong => stats.weak_references += 1,
                    None => {}
                }
            }
            if !groups.is_empty() {
                for mate in self.scanned.mates(place) {
                    self.marker.reach(mate, reach);
                }
            }
            if count_expansion(stats, reach) {
                run.checkpoint
                    .check(ctx, Phase::Marking, stats, C::checkpoint)?;
            }
        }
        run.checkpoint
            .check(ctx, Phase::Marking, stats, C::checkpoint)
    }

    /// Marks what writers reported since the last call as strong roots
    /// ([`RootKind::Written`]), and says how many there were. A node the
    /// scan did not list was written after it: not a candidate, nothing
    /// to mark.
    pub(super) fn take_reports(&mut self, run: &mut ScanRun) -> usize {
        self.reports.take(&mut self.reported);
        let count = self.reported.len();
        for node in self.reported.drain(..) {
            if let Some(place) = self.scanned.find(self.hasher.hash_one(&node)) {
                self.marker.reach(place, Reach::Strong);
                self.held.push(Held {
                    place,
                    kind: RootKind::Written,
                    reach: Reach::Strong,
                });
                // A reported node may be a lease renewed since the scan,
                // which saw some of its references expired, and may have
                // been expanded already: keep what those name too. (More
                // than the writer's rule asks, so a writer that reports
                // only the lease is safe.)
                for from in std::iter::once(place).chain(self.scanned.mates(place)) {
                    let s = &self.scanned;
                    let refs = s.starts[from as usize]..s.starts[from as usize + 1];
                    for (&target, strength) in
                        s.targets[refs.clone()].iter().zip(&s.strengths[refs])
                    {
                        if strength.is_none() && target != UNLISTED {
                            self.marker.reach(target, Reach::Strong);
                        }
                    }
                }
            }
        }
        run.stats.reported += count;
        count
    }

    /// Counts, orders and checks the limit: the collection, or the error
    /// that hands nothing out.
    pub(super) fn conclude<E>(
        &mut self,
        run: ScanRun,
        options: &Options,
    ) -> Result<ScanCollection<'_>, Error<E, u32>> {
        let mut stats = run.stats;
        stats.nodes_marked = self.marker.live_count();
        stats.nodes_swept = stats.nodes_listed - stats.nodes_marked;
        stats.mark_time = run.mark_start.elapsed();
        self.order.clear();
        let ordered = options.sweep_order == SweepOrder::ReferrersFirst;
        if ordered {
            self.order_referrers_first();
        }
        let collection = ScanCollection {
            marker: &self.marker,
            scanned: &self.scanned,
            held: &self.held,
            order: ordered.then_some(self.order.as_slice()),
            stats,
        };
        let (swept, listed) = (collection.stats.nodes_swept, collection.stats.nodes_listed);
        options
            .sweep_limit
            .check(swept, listed, || collection.garbage().collect())?;
        Ok(collection)
    }

    /// The garbage in [`SweepOrder::ReferrersFirst`] order, into
    /// `self.order`: the references among the garbage, every strength,
    /// and the groups of places that share a hash, ordered by
    /// `crate::order`.
    fn order_referrers_first(&mut self) {
        let dead: Vec<u32> = self.marker.dead_ids().collect();
        let s = &self.scanned;
        let mut edges = Vec::new();
        for (from, &place) in dead.iter().enumerate() {
            let refs = s.starts[place as usize]..s.starts[place as usize + 1];
            // Places that share a hash are one node as far as the mark
            // knows (a node listed twice), so they go as one: a cycle.
            let mates = s.mates(place);
            for target in s.targets[refs].iter().copied().chain(mates) {
                if target != UNLISTED && !self.marker.is_live(target) {
                    // Dead places are ascending, and `target` is one.
                    if let Ok(to) = dead.binary_search(&target) {
                        edges.push((from as u32, to as u32));
                    }
                }
            }
        }
        let order = referrers_first(dead.len(), &mut edges);
        self.order
            .extend(order.into_iter().map(|at| dead[at as usize]));
    }

    /// Turns the references' target hashes into places, once every node
    /// is listed, and sorts the groups of places that share a hash.
    fn resolve_targets(&mut self) {
        let s = &mut self.scanned;
        s.targets.clear();
        s.targets.reserve(s.target_hashes.len());
        for &hash in &s.target_hashes {
            s.targets.push(s.find(hash).unwrap_or(UNLISTED));
        }
        s.target_hashes.clear();
        s.groups.sort_unstable();
    }
}
