//! A graph from one full listing: `all`, `roots`, then `references` of
//! every node the graph holds, listed or only named (a dead edge's target,
//! an image the store never sweeps), each once.

use std::time::SystemTime;

use super::*;
use crate::context::{EmitNode, EmitReference, Via};
use crate::{
    CollectError, CollectionContext, Error, NodeSink, NodeView, ReferenceSink, RootCounts, Strength,
};

impl<T, N, K> Graph<T, N, K, RandomState>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
{
    /// Builds the graph of the store `ctx` lists: every node, root,
    /// reference (with its deadline, if it expires), back-reference and
    /// last-used time, read once. Call it at startup, with writers held
    /// out (or over a snapshot, holding the writers' changes back until it
    /// returns, then preparing and committing them in order).
    ///
    /// The references of every node the listing names are read, listed
    /// or not (an image the store never sweeps, named by a root). A node
    /// the store neither lists nor names anywhere cannot be read: if the
    /// store keeps references of such a node and names it later, report
    /// them ([`Changes::add_reference`]) with the change that names it.
    /// Once read or reported, a node's references stay until the store
    /// removes them or the node ([`Changes::remove_node`]), named or not.
    ///
    /// A context that emits something decided at one instant
    /// ([`ReferenceSink::add_if`], [`ReferenceSink::history`]) gets
    /// [`Error::NotResident`]: a graph kept between collections could not
    /// keep it true.
    pub fn build<C>(ctx: &mut C) -> Result<Self, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        Self::build_with_hasher(ctx, RandomState::new())
    }
}

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// As [`build`](Graph::build), hashing with `hasher`.
    pub fn build_with_hasher<C>(ctx: &mut C, hasher: S) -> Result<Self, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut graph = Graph::with_hasher(hasher);
        let now = SystemTime::now();
        let mut builder = Builder {
            graph: &mut graph,
            from: None,
            refused: None,
            full: false,
        };
        ctx.all(&mut NodeSink::new(&mut builder, now))
            .map_err(Error::Listing)?;
        builder.check()?;
        let mut ignored = RootCounts::default();
        ctx.roots(&mut ReferenceSink::new(
            &mut builder,
            now,
            &mut ignored,
            true,
        ))
        .map_err(Error::Roots)?;
        builder.check()?;
        // Nodes interned while reading references are read in turn.
        let mut next = 0;
        while next < builder.graph.nodes.len() {
            let node = builder.graph.nodes[next].clone();
            builder.from = Some(next as u32);
            let mut refs = ReferenceSink::new(&mut builder, now, &mut ignored, false);
            ctx.references(&node, &mut refs)
                .map_err(|source| Error::References { node, source })?;
            builder.check()?;
            next += 1;
        }
        // Everything went into the delta lists: into the compact base, in
        // the order a mark reaches it.
        graph.compact();
        Ok(graph)
    }
}

/// The sink of a build: listed nodes, roots and references go straight
/// into the graph.
struct Builder<'g, T, N, K, S> {
    graph: &'g mut Graph<T, N, K, S>,
    /// Whose references these are; `None`: the roots.
    from: Option<u32>,
    /// A sink method the graph cannot keep, if one was called.
    refused: Option<&'static str>,
    /// The graph ran out of ids.
    full: bool,
}

impl<T, N, K, S> Builder<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn check<E>(&mut self) -> Result<(), Error<E, Node<T, N, K>>> {
        if let Some(what) = self.refused.take() {
            return Err(Error::NotResident { what });
        }
        if self.full {
            return Err(Error::TooManyNodes {
                max: MAX_IDS as u64,
            });
        }
        Ok(())
    }

    fn intern(&mut self, node: &Node<T, N, K>) -> Option<u32> {
        let id = self.graph.intern(node);
        self.full |= id.is_none();
        id
    }

    fn edge(&mut self, node: &Node<T, N, K>, strength: Strength, expires: Option<SystemTime>) {
        let Some(to) = self.intern(node) else { return };
        let graph = &mut *self.graph;
        let edge = pack(to, strength, expires.is_some());
        match self.from {
            None => {
                *graph.roots.entry(edge).or_default() += 1;
                if let Some(at) = expires {
                    keep_later(graph.root_deadlines.entry(edge).or_insert(at), at);
                }
            }
            Some(from) => {
                graph.references.add(from, edge);
                if let Some(at) = expires {
                    keep_later(graph.deadlines.entry((from, edge)).or_insert(at), at);
                }
            }
        }
    }
}

/// Two copies of one expiring edge share a deadline: the later one, which
/// keeps more.
fn keep_later(deadline: &mut SystemTime, at: SystemTime) {
    *deadline = (*deadline).max(at);
}

impl<T, N, K, S> EmitNode<T, N, K> for Builder<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn node(&mut self, node: &Node<T, N, K>, last_used: Option<SystemTime>) {
        let Some(id) = self.intern(node) else { return };
        self.graph.list(id, last_used);
    }

    fn node_view(&mut self, view: &dyn NodeView<T, N, K>, last_used: Option<SystemTime>) {
        self.node(&view.to_node(), last_used);
    }

    fn bind(&mut self, child: &Node<T, N, K>, parent: &Node<T, N, K>, strength: Strength) {
        let (Some(child), Some(parent)) = (self.intern(child), self.intern(parent)) else {
            return;
        };
        self.graph.bind(child, parent, strength);
    }

    fn reserve(&mut self, additional: usize) {
        // A hint: one the allocator cannot meet is dropped.
        let additional = additional.min(MAX_IDS);
        let graph = &mut *self.graph;
        let _ = graph.nodes.try_reserve(additional);
        let (nodes, hasher) = (&graph.nodes, &graph.hasher);
        let _ = graph
            .table
            .try_reserve(additional, |&id| hasher.hash_one(&nodes[id as usize]));
    }
}

impl<T, N, K, S> EmitReference<T, N, K> for Builder<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, _via: Via) {
        self.edge(node, strength, None);
    }

    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength, _via: Via) {
        self.edge(&view.to_node(), strength, None);
    }

    fn keeps_deadlines(&self) -> bool {
        true
    }

    fn keep_deadline(&mut self, node: &Node<T, N, K>, strength: Strength, expires: SystemTime) {
        self.edge(node, strength, Some(expires));
    }

    fn refuse_instant(&mut self, what: &'static str) -> bool {
        self.refused.get_or_insert(what);
        true
    }
}

impl<T, N, K, S> Graph<T, N, K, S> {
    /// Lists `id`, with its last use if it has one (the later of two).
    pub(super) fn list(&mut self, id: u32, last_used: Option<SystemTime>) {
        if self.listed.insert(id) {
            self.listed_count += 1;
        }
        if let Some(at) = last_used {
            keep_later(self.last_used.entry(id).or_insert(at), at);
        }
    }

    /// `child` lives with `parent`, held through `strength`.
    pub(super) fn bind(&mut self, child: u32, parent: u32, strength: Strength) {
        let edge = pack(child, strength, false);
        self.bound.add(parent, edge);
        self.parents.entry(child).or_default().push((parent, edge));
    }
}
