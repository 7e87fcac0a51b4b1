//! The sweep's one extra pass: the references among the garbage, to
//! order its removal referrers first.

use super::*;

/// The listed ids that are not live, in listing order.
pub(super) fn garbage_ids<'a>(
    listed: &'a BitSet,
    marker: &'a Marker,
) -> impl Iterator<Item = u32> + 'a {
    listed.iter().filter(|&id| !marker.is_live(id))
}

/// `position` of an id that is not garbage.
pub(super) const NOT_GARBAGE: u32 = u32::MAX;

/// The target of an edge out of the garbage that the collection never met.
pub(super) const UNMET: u32 = u32::MAX;

/// The sink for the references of garbage nodes, when ordering removal:
/// keeps the edges between garbage nodes, as positions in the sweep, and,
/// apart, those that hold (not weak) a node the mark did not read in full:
/// reached only flat, or not at all without being garbage (an unlisted
/// node no root reached, or one never met: [`UNMET`]).
pub(super) struct GarbageEdges<'a, R, S> {
    pub(super) nodes: &'a Interner<R, S>,
    pub(super) marker: &'a Marker,
    pub(super) position: &'a [u32],
    pub(super) from: u32,
    pub(super) edges: &'a mut Vec<(u32, u32)>,
    /// `(from, to)`: a position in the sweep, an id or [`UNMET`].
    pub(super) outward: &'a mut Vec<(u32, u32)>,
}

impl<T, N, K, S> EmitReference<T, N, K> for GarbageEdges<'_, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, _via: Via) {
        let to = self.nodes.find(self.nodes.hash(node), node);
        self.edge_to(to, strength);
    }

    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength, _via: Via) {
        let hash = self.nodes.hash_with(|h| view.hash_as_node(h));
        let to = self.nodes.find_by(hash, |c| view.is(c));
        self.edge_to(to, strength);
    }

    /// A lease past its deadline still names what it held: renewed (a
    /// plan re-validated), it holds it again.
    fn expired(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        let _ = expires;
        self.reference(node, strength, Via::Lease);
    }
}

impl<R, S> GarbageEdges<'_, R, S> {
    pub(super) fn edge_to(&mut self, to: Option<u32>, strength: Strength) {
        let at = to.and_then(|id| self.position.get(id as usize).map(|&at| (id, at)));
        match at {
            Some((_, at)) if at != NOT_GARBAGE => self.edges.push((self.from, at)),
            _ if strength == Strength::Weak => {}
            Some((id, _)) => {
                if !read_in_full(self.marker, id) {
                    self.outward.push((self.from, id));
                }
            }
            None => self.outward.push((self.from, UNMET)),
        }
    }
}

/// Whether the mark followed every reference of `id`: it reached it
/// strongly. What it reaches is live already.
pub(super) fn read_in_full(marker: &Marker, id: u32) -> bool {
    marker.is_live(id) && !marker.is_flat_only(id)
}

impl<T, N, K, S> Collector<T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// Orders the garbage so that referrers come first, asking the store
    /// for the references of each garbage node.
    pub(super) fn order_referrers_first<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
    ) -> Result<(), CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        self.swept.clear();
        self.swept.extend(garbage_ids(&self.listed, &self.marker));
        let mut position = vec![NOT_GARBAGE; self.nodes.len()];
        for (at, &id) in self.swept.iter().enumerate() {
            position[id as usize] = at as u32;
        }
        let (mut edges, mut outward) = (Vec::new(), Vec::new());
        for (at, &id) in self.swept.iter().enumerate() {
            let node = self.nodes.get(id);
            let mut finder = GarbageEdges {
                nodes: &self.nodes,
                marker: &self.marker,
                position: &position,
                from: at as u32,
                edges: &mut edges,
                outward: &mut outward,
            };
            let mut ignored = RootCounts::default();
            let mut refs = ReferenceSink::new(&mut finder, run.now, &mut ignored, false);
            if let Err(source) = ctx.references(node, &mut refs) {
                return Err(Error::References {
                    node: node.clone(),
                    source,
                });
            }
            if (at + 1) % CHECKPOINT_EVERY == 0 {
                run.check(ctx, Phase::Ordering)?;
            }
        }
        // A back-reference is a reference from parent to child: the
        // parent goes first.
        for &(parent, child, strength) in &self.bindings {
            let (from, to) = (position[parent as usize], position[child as usize]);
            if from == NOT_GARBAGE {
                continue;
            }
            if to != NOT_GARBAGE {
                edges.push((from, to));
            } else if strength != Strength::Weak && !read_in_full(&self.marker, child) {
                outward.push((from, child));
            }
        }
        let order = referrers_first(self.swept.len(), &mut edges);
        // Kept by id, for a plan: who references whom among the garbage.
        self.garbage_refs.clear();
        let swept = &self.swept;
        self.garbage_refs.extend(
            edges
                .iter()
                .map(|&(from, to)| (swept[from as usize], swept[to as usize])),
        );
        // And, by id, the edges out of it to nodes not read in full.
        self.garbage_out.clear();
        self.garbage_out
            .extend(outward.iter().map(|&(from, to)| (swept[from as usize], to)));
        let listed_order = std::mem::take(&mut self.swept);
        self.swept = order
            .into_iter()
            .map(|at| listed_order[at as usize])
            .collect();
        Ok(())
    }
}
