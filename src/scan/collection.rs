//! The outcome of a scan collection: places in the scan, in the order to
//! remove them.

use super::Held;
use super::Scanned;
use crate::Stats;
use crate::dense::ExactLen;
use crate::mark::{DeadIds, Marker};

/// The outcome of a scan collection: places in the scan.
#[derive(Debug)]
pub struct ScanCollection<'c> {
    pub(super) marker: &'c Marker,
    pub(super) scanned: &'c Scanned,
    pub(super) held: &'c [Held],
    /// The garbage in removal order, when that is not ascending.
    pub(super) order: Option<&'c [u32]>,
    pub(super) stats: Stats,
}

impl<'c> ScanCollection<'c> {
    /// Counts and timings. `nodes_listed` counts places, a node listed
    /// twice included; `dead_edges` counts followed references to nodes
    /// the scan did not list.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether the node at `place` in the scan was reached. Places past
    /// the scan are not live.
    pub fn is_live(&self, place: u32) -> bool {
        self.marker.is_live(place)
    }

    /// The places in the scan of the unreachable nodes: ascending, so that
    /// a second walk over the same snapshot meets them in order; with
    /// [`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst), each before what it references
    /// (every strength; a cycle's places together, ascending), as
    /// [`crate::Collection::garbage`] orders them.
    pub fn garbage(&self) -> impl ExactSizeIterator<Item = u32> + use<'c> {
        match self.order {
            None => Garbage::Ascending(ExactLen {
                inner: self.marker.dead_ids(),
                remaining: self.stats.nodes_swept,
            }),
            Some(order) => Garbage::Ordered(order.iter().copied()),
        }
    }
}

/// [`ScanCollection::garbage`]'s two orders behind one type.
enum Garbage<'c> {
    Ascending(ExactLen<DeadIds<'c>>),
    Ordered(std::iter::Copied<std::slice::Iter<'c, u32>>),
}

impl Iterator for Garbage<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            Garbage::Ascending(dead) => dead.next(),
            Garbage::Ordered(order) => order.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Garbage::Ascending(dead) => dead.size_hint(),
            Garbage::Ordered(order) => order.size_hint(),
        }
    }
}

impl ExactSizeIterator for Garbage<'_> {}
