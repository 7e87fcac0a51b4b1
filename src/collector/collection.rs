//! The outcome of a collection, and the garbage and live nodes it hands
//! out.

use indexmap::IndexMap;

use super::*;
use crate::SweptBecause;
use crate::dot::Fate;
use crate::explain::{Missed, NO_REFERRER};

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

    /// Why `node` was swept: everything the mark read that would have kept
    /// it and did not, in the order it was read, or
    /// [`SweptBecause::Unreachable`] alone if nothing read referred to it.
    /// `None` if the node is live, was never listed, or if the collection
    /// ran without [`Options::explain`].
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::{Duration, SystemTime};
    /// use resource_gc::{
    ///     CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf, Strength,
    ///     SweptBecause,
    /// };
    ///
    /// type Res = Node<&'static str, &'static str, &'static str>;
    /// fn node(kind: &'static str, key: &'static str) -> Res {
    ///     Node::new(kind, "default", key)
    /// }
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let yesterday = now - Duration::from_secs(86_400);
    ///
    /// struct Store;
    /// impl CollectionContext for Store {
    ///     type Kind = &'static str;
    ///     type Namespace = &'static str;
    ///     type Key = &'static str;
    ///     type Error = Infallible;
    ///     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         for key in ["index", "cached", "orphan"] {
    ///             nodes.push(&node("content", key));
    ///         }
    ///         nodes.push(&node("lease", "pull"));
    ///         Ok(())
    ///     }
    ///     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         roots.strong(&node("content", "index"));
    ///         let yesterday = roots.now() - Duration::from_secs(86_400);
    ///         roots.expiring(&node("lease", "pull"), Strength::Strong, yesterday);
    ///         Ok(())
    ///     }
    ///     fn references(&mut self, from: &Res, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         if from.key == "index" {
    ///             refs.weak(&node("content", "cached"));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut options = Options::default();
    /// options.now = Some(now);
    /// options.explain = true;
    /// let mut collector = Collector::new();
    /// let collection = collector.collect_with(&mut Store, &options).unwrap();
    /// let index = node("content", "index");
    /// assert_eq!(
    ///     collection.why_swept(&node("content", "cached")).unwrap(),
    ///     [SweptBecause::WeaklyReferenced { by: Some(&index) }]
    /// );
    /// assert_eq!(
    ///     collection.why_swept(&node("lease", "pull")).unwrap(),
    ///     [SweptBecause::LeaseExpired { by: None, at: yesterday }]
    /// );
    /// assert_eq!(
    ///     collection.why_swept(&node("content", "orphan")).unwrap(),
    ///     [SweptBecause::Unreachable]
    /// );
    /// assert_eq!(collection.why_swept(&index), None, "live");
    /// ```
    pub fn why_swept(&self, node: &Node<T, N, K>) -> Option<Vec<SweptBecause<'c, Node<T, N, K>>>> {
        let collector = self.collector;
        if !collector.explain {
            return None;
        }
        let id = collector.nodes.find(collector.nodes.hash(node), node)?;
        if !collector.listed.contains(id) || collector.marker.is_live(id) {
            return None;
        }
        let by = |from: u32| (from != NO_REFERRER).then(|| collector.nodes.get(from));
        let mut reasons: Vec<_> = collector
            .reasons
            .notes(id)
            .into_iter()
            .map(|(from, missed)| match missed {
                Missed::Weak => SweptBecause::WeaklyReferenced { by: by(from) },
                Missed::Expired(at) => SweptBecause::LeaseExpired { by: by(from), at },
                Missed::GraceEnded(at) => SweptBecause::GraceEnded { at },
                Missed::NotRetained {
                    rank,
                    created,
                    rule,
                } => SweptBecause::NotRetained {
                    by: by(from),
                    rank,
                    created,
                    rule,
                },
            })
            .collect();
        if reasons.is_empty() {
            reasons.push(SweptBecause::Unreachable);
        }
        Some(reasons)
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
        // Live nodes that hold less than they name: a report of one, when
        // the plan is re-validated, may make any of the plan live.
        let mut partly: Vec<u32> = collector
            .main
            .counts
            .expired_from
            .iter()
            .copied()
            .filter(|&id| collector.marker.is_live(id))
            .collect();
        if self.stats.nodes_expanded_flat > 0 {
            partly.extend(
                (0..collector.nodes.len() as u32).filter(|&id| collector.marker.is_flat_only(id)),
            );
        }
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
            let mut references = Vec::new();
            // Nodes of the plan that name a node the mark did not read in
            // full (reached only flat, or not at all without being
            // garbage): made live, they make live what that node names,
            // which the plan's references do not say.
            let mut naming_unread = Vec::new();
            for &(from, to) in &collector.garbage_refs {
                let (at, to_at) = (position[from as usize], position[to as usize]);
                if at == u32::MAX {
                    continue;
                }
                if to_at != u32::MAX {
                    references.push((at, to_at));
                } else if !read_in_full(&collector.marker, to) {
                    // Garbage when ordered, reached only flat since (the
                    // reference may be weak: the order keeps no strength).
                    naming_unread.push(at);
                }
            }
            for &(from, to) in &collector.garbage_out {
                let at = position[from as usize];
                if at != u32::MAX && (to == UNMET || !read_in_full(&collector.marker, to)) {
                    naming_unread.push(at);
                }
            }
            // So does every node of the plan that names one of them
            // through the plan.
            let mut referrers = references.clone();
            referrers.sort_unstable_by_key(|&(_, to)| to);
            let mut held = vec![false; nodes.len()];
            while let Some(at) = naming_unread.pop() {
                if std::mem::replace(&mut held[at as usize], true) {
                    continue;
                }
                let first = referrers.partition_point(|&(_, to)| to < at);
                naming_unread.extend(
                    referrers[first..]
                        .iter()
                        .take_while(|&&(_, to)| to == at)
                        .map(|&(from, _)| from),
                );
            }
            partly.extend(
                collector
                    .swept
                    .iter()
                    .filter(|&&id| !collector.marker.is_live(id))
                    .zip(&held)
                    .filter(|&(_, &held)| held)
                    .map(|(&id, _)| id),
            );
            references
        });
        partly.sort_unstable();
        partly.dedup();
        Plan::new(nodes, references, self.now).with_partly_held(
            partly
                .into_iter()
                .map(|id| collector.nodes.get(id).clone())
                .collect(),
        )
    }

    /// How many nodes of each kind are garbage, kinds in the order
    /// [`garbage`](Self::garbage) first names them: what a dry run prints
    /// ("would remove 3 content, 1 snapshot").
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use resource_gc::{CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf};
    ///
    /// struct Store;
    /// impl CollectionContext for Store {
    ///     type Kind = &'static str;
    ///     type Namespace = ();
    ///     type Key = u32;
    ///     type Error = Infallible;
    ///     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         for (kind, key) in [("snapshot", 1), ("content", 2), ("content", 3), ("image", 4)] {
    ///             nodes.push(&Node::new(kind, (), key));
    ///         }
    ///         Ok(())
    ///     }
    ///     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         roots.strong(&Node::new("image", (), 4));
    ///         Ok(())
    ///     }
    ///     fn references(&mut self, _: &Node<&'static str, (), u32>, _: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    /// }
    /// let mut collector = Collector::new();
    /// let collection = collector.collect_with(&mut Store, &Options::default())?;
    /// let kinds: Vec<(&&str, usize)> = collection.garbage_by_kind().into_iter().collect();
    /// assert_eq!(kinds, [(&"snapshot", 1), (&"content", 2)]);
    /// # Ok::<(), resource_gc::Error<Infallible, Node<&'static str, (), u32>>>(())
    /// ```
    pub fn garbage_by_kind(&self) -> IndexMap<&'c T, usize> {
        let mut kinds: IndexMap<&'c T, usize> = IndexMap::new();
        for node in self.garbage() {
            *kinds.entry(&node.kind).or_default() += 1;
        }
        kinds
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

/// What [`crate::dot`] reads of a collection: every node it met, by id.
impl<'c, T, N, K, S> Collection<'c, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// How many nodes the collection met: listed, reached without being
    /// listed, or named by a back-reference. Their ids are `0..met()`.
    pub(crate) fn met(&self) -> u32 {
        self.collector.nodes.len() as u32
    }

    /// The node met as `id`, what became of it, and, if the collection
    /// explains, the kind of root it is.
    pub(crate) fn met_node(&self, id: u32) -> (&'c Node<T, N, K>, Fate, Option<RootKind>) {
        let collector = self.collector;
        let fate = match (collector.listed.contains(id), collector.marker.is_live(id)) {
            (false, _) => Fate::NotListed,
            (true, true) => Fate::Live,
            (true, false) => Fate::Swept,
        };
        (
            collector.nodes.get(id),
            fate,
            collector.reasons.root_kind(id),
        )
    }

    /// The id of `node`, if the collection met it.
    pub(crate) fn id_of(&self, node: &Node<T, N, K>) -> Option<u32> {
        let nodes = &self.collector.nodes;
        nodes.find(nodes.hash(node), node)
    }

    /// The back-references: `(parent, child, strength)` by id.
    pub(crate) fn back_references(&self) -> &'c [(u32, u32, Strength)] {
        &self.collector.bindings
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
