//! The dense path: for stores that already number their resources densely
//! (row ids, inode numbers, slab indices). No `Node`, no hashing, no
//! interning: the embedder's ids go straight into the mark core, and the
//! collector's state is the two colour bits per id plus the grey stack.
//!
//! Ids the embedder emits are checked against [`DenseContext::node_count`];
//! one out of range ends the collection with [`Error::IdOutOfRange`], never
//! a panic and never a partial sweep. A node count whose colour bits (two
//! per id) cannot be allocated is [`Error::OutOfMemory`].

use std::time::Instant;

use crate::collector::{Checkpoint, count_expansion};
use crate::mark::{Marker, Marks, Reach};
use crate::{Error, Flow, Options, Phase, Progress, Stats, Strength};

/// A store whose resources are the ids `0..node_count()`.
///
/// Every id in that range is a candidate: ids the store does not use (free
/// slab slots, say) come back as garbage, and the store skips them when it
/// removes. Callbacks, failures and checkpoints behave as for
/// [`crate::CollectionContext`].
pub trait DenseContext {
    /// The embedder's own error, carried by [`Error`]: as for
    /// [`crate::CollectionContext::Error`], any type that can be shown and
    /// debugged, kept as the [`source`](std::error::Error::source) when it
    /// implements [`std::error::Error`].
    type Error: std::fmt::Debug + std::fmt::Display + 'static;

    /// How many ids there are. Read once, at the start of a collection.
    fn node_count(&self) -> u32;

    /// Emits the roots.
    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Self::Error>;

    /// Emits what `id` references. Called once for every id reached: for
    /// an id reached only flat, the sink follows its
    /// [`Strength::Structural`] references only, flat, and ignores the
    /// rest (see [`Strength`]).
    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Self::Error>;

    /// See [`crate::CollectionContext::checkpoint`].
    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        let _ = progress;
        Flow::Continue
    }
}

/// Where a [`DenseContext`] emits roots and references by id.
pub struct DenseSink<'a> {
    marker: &'a mut Marker,
    len: u32,
    /// How the node whose references these are was reached.
    from: Reach,
    followed: usize,
    weak: usize,
    /// The first id out of range, if any: reported once the callback
    /// returns.
    out_of_range: Option<u32>,
}

impl DenseSink<'_> {
    /// Emits a reference to `id` of the given strength.
    #[inline]
    pub fn add(&mut self, id: u32, strength: Strength) {
        if id >= self.len {
            self.out_of_range.get_or_insert(id);
            return;
        }
        match self.from.through(strength) {
            Some(reach) => {
                self.followed += 1;
                self.marker.reach(id, reach);
            }
            // A flat expansion reads the structure only.
            None if self.from == Reach::Strong => self.weak += 1,
            None => {}
        }
    }

    /// Emits a strong reference: `id` and everything it references are kept.
    #[inline]
    pub fn strong(&mut self, id: u32) {
        self.add(id, Strength::Strong);
    }

    /// Emits a weak reference: it keeps nothing.
    #[inline]
    pub fn weak(&mut self, id: u32) {
        self.add(id, Strength::Weak);
    }

    /// Emits a flat reference: `id` is kept, its references are not
    /// followed through this one.
    #[inline]
    pub fn flat(&mut self, id: u32) {
        self.add(id, Strength::Flat);
    }

    /// Emits a structural reference: `id` is held as the node whose
    /// references these are is held.
    #[inline]
    pub fn structural(&mut self, id: u32) {
        self.add(id, Strength::Structural);
    }

    /// Emits strong references to every id in `ids`.
    #[inline]
    pub fn strong_all(&mut self, ids: &[u32]) {
        for &id in ids {
            self.strong(id);
        }
    }
}

/// A reusable collector for a [`DenseContext`]; it keeps its buffers
/// between collections.
#[derive(Debug, Default)]
pub struct DenseCollector {
    marker: Marker,
    len: u32,
}

impl DenseCollector {
    /// A collector with no buffers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one collection with default [`Options`].
    pub fn collect<C: DenseContext>(
        &mut self,
        ctx: &mut C,
    ) -> Result<DenseCollection<'_>, Error<C::Error, u32>> {
        self.collect_with(ctx, &Options::default())
    }

    /// Marks from the roots and returns the ids that are unreachable.
    /// On any error nothing is returned for removal.
    pub fn collect_with<C: DenseContext>(
        &mut self,
        ctx: &mut C,
        options: &Options,
    ) -> Result<DenseCollection<'_>, Error<C::Error, u32>> {
        let start = Instant::now();
        if let Some(reason) = options.sweep_limit.invalid() {
            return Err(Error::InvalidOptions { reason });
        }
        let mut checkpoint = Checkpoint::new(start, options);
        let mut stats = Stats::default();
        self.len = 0;
        let len = ctx.node_count();
        self.marker
            .try_reset(len as usize)
            .map_err(|_| Error::OutOfMemory {
                bytes: (len as usize).div_ceil(32) * 8,
            })?;
        self.len = len;
        stats.nodes_listed = self.len as usize;

        let mut sink = DenseSink {
            marker: &mut self.marker,
            len: self.len,
            from: Reach::Strong,
            followed: 0,
            weak: 0,
            out_of_range: None,
        };
        ctx.roots(&mut sink).map_err(Error::Roots)?;
        sink.check_range()?;
        stats.roots = std::mem::take(&mut sink.followed);
        checkpoint.check(ctx, Phase::Roots, &stats, C::checkpoint)?;

        // No buffers here: strong work not on the stack is no work at all.
        while let Some((id, reach)) = sink.marker.pop_grey(true) {
            sink.from = reach;
            ctx.references(id, &mut sink)
                .map_err(|source| Error::References { node: id, source })?;
            sink.check_range()?;
            if count_expansion(&mut stats, reach) {
                checkpoint.check(ctx, Phase::Marking, &stats, C::checkpoint)?;
            }
        }
        checkpoint.check(ctx, Phase::Marking, &stats, C::checkpoint)?;
        stats.references_followed = sink.followed;
        stats.weak_references = sink.weak;
        stats.nodes_marked = self.marker.live_count();
        stats.mark_time = start.elapsed();
        stats.nodes_swept = stats.nodes_listed - stats.nodes_marked;
        let collection = DenseCollection {
            collector: self,
            stats,
        };
        let (swept, listed) = (collection.stats.nodes_swept, collection.stats.nodes_listed);
        options
            .sweep_limit
            .check(swept, listed, || collection.garbage().collect())?;
        Ok(collection)
    }
}

impl DenseSink<'_> {
    fn check_range<E, R>(&mut self) -> Result<(), Error<E, R>> {
        match self.out_of_range.take() {
            None => Ok(()),
            Some(id) => Err(Error::IdOutOfRange { id, len: self.len }),
        }
    }
}

/// The outcome of a dense collection.
#[derive(Debug)]
pub struct DenseCollection<'c> {
    collector: &'c DenseCollector,
    stats: Stats,
}

impl<'c> DenseCollection<'c> {
    /// Counts and timings. `nodes_listed` is the id count; there is no
    /// listing phase and no dead edge on this path.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether `id` was reached by strong or flat references. Ids out of
    /// range are not live.
    pub fn is_live(&self, id: u32) -> bool {
        self.collector.marker.is_live(id)
    }

    /// The unreachable ids, ascending.
    pub fn garbage(&self) -> impl ExactSizeIterator<Item = u32> + use<'c> {
        let dead = self.collector.marker.dead_ids();
        ExactLen {
            inner: dead,
            remaining: self.stats.nodes_swept,
        }
    }
}

/// An iterator whose length the stats already know.
pub(crate) struct ExactLen<I> {
    pub(crate) inner: I,
    pub(crate) remaining: usize,
}

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.remaining -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Adjacency lists by id; `roots` strong.
    struct Csr {
        edges: Vec<Vec<u32>>,
        roots: Vec<u32>,
    }

    impl DenseContext for Csr {
        type Error = Infallible;
        fn node_count(&self) -> u32 {
            self.edges.len() as u32
        }
        fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Infallible> {
            roots.strong_all(&self.roots);
            Ok(())
        }
        fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Infallible> {
            refs.strong_all(&self.edges[id as usize]);
            Ok(())
        }
    }

    #[test]
    fn containerd_canonical_case_by_id() {
        // A..H = 0..7; roots {A, C}.
        let mut csr = Csr {
            edges: vec![
                vec![1],
                vec![0],
                vec![3, 5, 1],
                vec![],
                vec![5, 6],
                vec![7],
                vec![],
                vec![],
            ],
            roots: vec![0, 2],
        };
        let mut gc = DenseCollector::new();
        let result = gc.collect(&mut csr).unwrap();
        assert_eq!(result.garbage().collect::<Vec<_>>(), [4, 6]);
        assert_eq!(result.garbage().len(), 2);
        assert!(result.is_live(7) && !result.is_live(8));
        assert_eq!(result.stats().references_followed, 6);
    }

    #[test]
    fn an_id_out_of_range_is_an_error_not_a_panic() {
        let mut csr = Csr {
            edges: vec![vec![1], vec![9]],
            roots: vec![0],
        };
        let err = DenseCollector::new().collect(&mut csr).unwrap_err();
        assert!(
            matches!(err, Error::IdOutOfRange { id: 9, len: 2 }),
            "{err}"
        );
    }
}
