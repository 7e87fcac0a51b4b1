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

/// The sink for the references of garbage nodes, when ordering removal:
/// keeps the edges between garbage nodes, as positions in the sweep.
pub(super) struct GarbageEdges<'a, R, S> {
    pub(super) nodes: &'a Interner<R, S>,
    pub(super) position: &'a [u32],
    pub(super) from: u32,
    pub(super) edges: &'a mut Vec<(u32, u32)>,
}

impl<T, N, K, S> EmitReference<T, N, K> for GarbageEdges<'_, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn reference(&mut self, node: &Node<T, N, K>, _strength: Strength, _via: Via) {
        let to = self.nodes.find(self.nodes.hash(node), node);
        self.edge_to(to);
    }

    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, _strength: Strength, _via: Via) {
        let hash = self.nodes.hash_with(|h| view.hash_as_node(h));
        let to = self.nodes.find_by(hash, |c| view.is(c));
        self.edge_to(to);
    }

    /// A lease past its deadline still names what it held: renewed (a
    /// plan re-validated), it holds it again.
    fn expired(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        let _ = expires;
        self.reference(node, strength, Via::Lease);
    }
}

impl<R, S> GarbageEdges<'_, R, S> {
    pub(super) fn edge_to(&mut self, to: Option<u32>) {
        if let Some(&to) = to.and_then(|id| self.position.get(id as usize)) {
            if to != NOT_GARBAGE {
                self.edges.push((self.from, to));
            }
        }
    }
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
        let mut edges = Vec::new();
        for (at, &id) in self.swept.iter().enumerate() {
            let node = self.nodes.get(id);
            let mut finder = GarbageEdges {
                nodes: &self.nodes,
                position: &position,
                from: at as u32,
                edges: &mut edges,
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
        for &(parent, child, _) in &self.bindings {
            let (from, to) = (position[parent as usize], position[child as usize]);
            if from != NOT_GARBAGE && to != NOT_GARBAGE {
                edges.push((from, to));
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
        let listed_order = std::mem::take(&mut self.swept);
        self.swept = order
            .into_iter()
            .map(|at| listed_order[at as usize])
            .collect();
        Ok(())
    }
}
