//! The scan path alongside writers: the long part scans and marks a
//! snapshot (an MVCC read transaction) with no writer held out; writers
//! report through a [`Barrier`] what they make live; the short part, under
//! the writers' lock, marks the reports with their closure over the
//! snapshot and hands out the garbage.
//!
//! Why the snapshot's references are enough for the closure, with no read
//! of the live store: take a node live at the short part and a path to it
//! from a root. The last edge of the path added after the snapshot (or the
//! root, if it was added) had its target reported; every edge after it was
//! there before the snapshot and still is, so it is in the scan's place
//! array. A reported node the scan did not list was written after it: it
//! is no candidate, and whatever it references was reported by the writer
//! that added the reference. (The `Node` path's `Marking` makes the same
//! argument; see `collector/barrier.rs`.)

use std::hash::{BuildHasher, Hash, RandomState};

use super::collector::ScanRun;
use super::{ScanCollection, ScanCollector, ScanContext};
use crate::collector::Reporting;
use crate::{Barrier, Error, Node, Options};

/// A scan collection in two parts, under way: see
/// [`ScanCollector::start`]. It borrows the collector until
/// [`finish`](Self::finish) or until it is dropped; dropping it abandons
/// the collection, sweeping nothing, and stops the barrier's reports.
#[derive(Debug)]
pub struct ScanMarking<'c, T, N, K, S = RandomState> {
    collector: &'c mut ScanCollector<T, N, K, S>,
    options: Options,
    stage: Stage,
    /// Stops the barrier's reports when the marking ends, however it ends.
    _reporting: Reporting<Node<T, N, K>>,
}

/// Where a two-part scan collection stands.
#[derive(Debug)]
enum Stage {
    /// Started; the long part has not run.
    Ready(ScanRun),
    /// The long part is done: the snapshot is scanned and marked.
    Marked(ScanRun),
    /// The options were refused, for this reason.
    Invalid(String),
    /// A step failed (or is running): nothing more is done.
    Failed,
}

impl<T, N, K, S> ScanCollector<T, N, K, S>
where
    T: Hash + Clone,
    N: Hash + Clone,
    K: Hash + Clone,
    S: BuildHasher,
{
    /// The write barrier of collections started with
    /// [`start`](Self::start): hand a clone to every writer, once. The
    /// rule for writers is [`Barrier`]'s.
    pub fn barrier(&self) -> Barrier<T, N, K> {
        Barrier {
            reports: std::sync::Arc::clone(&self.reports),
        }
    }

    /// Starts a scan collection in two parts, for a store whose writers
    /// keep writing while it runs. Call it **under the writers' lock**,
    /// and open the snapshot the long part will scan under the same lock:
    /// from here on writers report through [`barrier`](Self::barrier), and
    /// whatever they committed before is in the snapshot. Then release the
    /// lock and:
    ///
    /// 1. [`ScanMarking::mark`] over the snapshot, with writers writing;
    /// 2. take the writers' lock, [`ScanMarking::finish`], remove the
    ///    garbage (its places are those of the scan `mark` read: walk
    ///    that snapshot again to name them), release the lock.
    ///
    /// The options are checked at the first call. `now` is read here.
    pub fn start(&mut self, options: &Options) -> ScanMarking<'_, T, N, K, S> {
        self.reports.activate();
        let reporting = Reporting(std::sync::Arc::clone(&self.reports));
        let stage = match self.begin(options) {
            Ok(run) => Stage::Ready(run),
            Err(reason) => Stage::Invalid(reason),
        };
        ScanMarking {
            collector: self,
            options: options.clone(),
            stage,
            _reporting: reporting,
        }
    }
}

impl<'c, T, N, K, S> ScanMarking<'c, T, N, K, S>
where
    T: Hash + Clone,
    N: Hash + Clone,
    K: Hash + Clone,
    S: BuildHasher,
{
    /// The long part over `snapshot`: scans it, reads its roots, marks, and
    /// takes in what writers reported meanwhile, once (`finish` takes the
    /// rest). No lock is needed. Once it has succeeded, calling it again
    /// does nothing, not even take in new reports; once it has failed,
    /// every later call fails with [`Error::Poisoned`].
    pub fn mark<C>(&mut self, snapshot: &mut C) -> Result<(), Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut run = match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Ready(run) => run,
            Stage::Marked(run) => {
                self.stage = Stage::Marked(run);
                return Ok(());
            }
            Stage::Invalid(reason) => return Err(Error::InvalidOptions { reason }),
            Stage::Failed => return Err(Error::Poisoned),
        };
        let collector = &mut *self.collector;
        collector.scan_and_mark(snapshot, &mut run)?;
        // One round: writers may report for ever, and `finish` takes the
        // rest with them held out.
        if collector.take_reports(&mut run) > 0 {
            collector.mark_grey(snapshot, &mut run)?;
        }
        self.stage = Stage::Marked(run);
        Ok(())
    }

    /// The short part, under the writers' lock: marks what writers
    /// reported since the long part took in their last reports, with its
    /// closure over the snapshot's references, and returns the collection.
    /// Remove its garbage before releasing the lock.
    ///
    /// It reads nothing from `live` but its
    /// [`checkpoint`](ScanContext::checkpoint); its work grows with the
    /// reports, not with the store. If the long part has not run, `finish`
    /// runs it first, over `live`, under the lock: then the garbage's
    /// places are those of a scan of `live`.
    pub fn finish<C>(mut self, live: &mut C) -> Result<ScanCollection<'c>, Error<C::Error, u32>>
    where
        C: ScanContext<Kind = T, Namespace = N, Key = K>,
    {
        self.mark(live)?;
        let Stage::Marked(mut run) = std::mem::replace(&mut self.stage, Stage::Failed) else {
            return Err(Error::Poisoned);
        };
        let ScanMarking {
            collector, options, ..
        } = self;
        // Writers are held out: once these reports are marked, no more come.
        while collector.take_reports(&mut run) > 0 {
            collector.mark_grey(live, &mut run)?;
        }
        collector.reports.deactivate();
        collector.conclude(run, &options)
    }
}
