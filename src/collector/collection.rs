//! The outcome of a collection, and the garbage and live nodes it hands
//! out.

use super::*;

/// The outcome of one collection: what is live, what is garbage, and how
/// the collection went. It borrows the [`Collector`], so the garbage is
/// handed out by reference, without a copy.
#[derive(Debug)]
pub struct Collection<'c, T, N, K, S = RandomState> {
    pub(super) collector: &'c Collector<T, N, K, S>,
    pub(super) stats: Stats,
    pub(super) now: SystemTime,
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

    /// The garbage as an owned [`Plan`], in the order
    /// [`garbage`](Self::garbage) hands it out, with the references among
    /// it if the collection read them ([`SweepOrder::ReferrersFirst`]):
    /// what [`Plan::apply`] removes, skipping what a failure still names.
    /// Without them, a failure during apply skips everything after it.
    pub fn plan(&self) -> Plan<Node<T, N, K>> {
        let collector = self.collector;
        let nodes: Vec<Node<T, N, K>> = self.garbage().cloned().collect();
        let references = collector.ordered.then(|| {
            // Positions in the plan, by id; garbage turned live since the
            // order was made (a collection in two parts) has none.
            let mut position = vec![u32::MAX; collector.nodes.len()];
            let ids = collector
                .swept
                .iter()
                .filter(|&&id| !collector.marker.is_live(id));
            for (at, &id) in ids.enumerate() {
                position[id as usize] = at as u32;
            }
            collector
                .garbage_refs
                .iter()
                .map(|&(from, to)| (position[from as usize], position[to as usize]))
                .filter(|&(from, to)| from != u32::MAX && to != u32::MAX)
                .collect()
        });
        Plan::new(nodes, references, self.now)
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
            // A collection in two parts ordered the garbage before its
            // short part, which may have found some of it live.
            ListedIds::Ordered(ids) => *ids.find(|&&id| !marker.is_live(id))?,
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
