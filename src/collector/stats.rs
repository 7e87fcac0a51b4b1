//! What one collection counted and timed.

use std::time::SystemTime;

use super::*;

/// Counts and timings of one collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Distinct nodes [`CollectionContext::all`] listed: the candidates.
    pub nodes_listed: usize,
    /// Roots [`CollectionContext::roots`] emitted that keep something
    /// (strong, flat, structural), duplicates included, expired ones not.
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
    /// Nodes reached only flat, whose structure was followed instead: their
    /// [`Strength::Structural`] references and
    /// [`lives_with`](NodeSink::lives_with) children. A node reached both
    /// ways counts in `nodes_expanded` only.
    pub nodes_expanded_flat: usize,
    /// References [`CollectionContext::references`] emitted that were
    /// followed: strong, flat and structural ones from nodes reached
    /// strongly, structural ones from nodes reached only flat.
    pub references_followed: usize,
    /// Weak roots, and weak references emitted by nodes reached strongly;
    /// they keep nothing. (A node reached only flat follows its structure
    /// only, and counts nothing else it emits.)
    pub weak_references: usize,
    /// Followed references (as `references_followed` counts them) to nodes
    /// the listing did not name. In a collection in two parts, that
    /// includes nodes written after `start`, which the listing could not
    /// name.
    /// Roots and pins naming unlisted nodes are not counted here.
    pub dead_edges: usize,
    /// Nodes writers reported through the [`Barrier`](crate::Barrier)
    /// during a collection in two parts, each marked as a strong root.
    pub reported: usize,
    /// Listed nodes found unreachable.
    pub nodes_swept: usize,
    /// The earliest instant after which a time-based decision of this
    /// collection changes: a lease it held expires
    /// ([`ReferenceSink::expiring`]), a node it kept for its grace period
    /// leaves it, a history entry kept for its age grows too old. A
    /// collection past it may sweep more even if nothing was written: a
    /// scheduler wakes then (containerd collects expired leases only after
    /// a write, containerd#6294). Conditions of
    /// [`ReferenceSink::add_if`] are the embedder's and are not seen.
    pub next_deadline: Option<SystemTime>,
    /// Time spent listing the candidates.
    pub listing_time: Duration,
    /// Time spent reading roots and following references.
    pub mark_time: Duration,
    /// Time spent collecting the unreachable nodes.
    pub sweep_time: Duration,
}

/// One line for a log: counts, then time per phase. "live" counts every
/// node found live, the ones the listing did not name (dead edges' targets,
/// roots the store never sweeps) included, and says how many of those
/// there are.
///
/// ```
/// let mut stats = resource_gc::Stats::default();
/// stats.nodes_listed = 15;
/// stats.nodes_swept = 3;
/// stats.nodes_marked = 14;
/// assert_eq!(
///     stats.to_string(),
///     "listed 15, swept 3, live 14 (2 not listed), roots 0, references 0 (weak 0, dead 0); \
///      listing 0ns, mark 0ns, sweep 0ns"
/// );
/// ```
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let live_listed = self.nodes_listed.saturating_sub(self.nodes_swept);
        write!(
            f,
            "listed {}, swept {}, live {} ({} not listed), roots {}, references {} \
             (weak {}, dead {}); listing {:?}, mark {:?}, sweep {:?}",
            self.nodes_listed,
            self.nodes_swept,
            self.nodes_marked,
            self.nodes_marked.saturating_sub(live_listed),
            self.roots,
            self.references_followed,
            self.weak_references,
            self.dead_edges,
            self.listing_time,
            self.mark_time,
            self.sweep_time
        )
    }
}
