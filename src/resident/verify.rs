//! Trust, but verify: the graph against a fresh listing of the store.

use std::collections::HashMap as StdMap;
use std::time::SystemTime;

use super::*;
use crate::{CollectError, CollectionContext, Strength};

/// How a [`Graph`] differs from a fresh listing of its store
/// ([`Graph::verify`]). *Missing* is in the store and not in the graph: a
/// change the embedder did not report, and the dangerous kind (a missing
/// reference or root can let a collection sweep a live node). *Extra* is
/// in the graph and not in the store: the graph keeps more than it must.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drift<T, N, K> {
    /// Listed by the store, not by the graph.
    pub missing_nodes: Vec<Node<T, N, K>>,
    /// Listed by the graph, not by the store.
    pub extra_nodes: Vec<Node<T, N, K>>,
    /// References (and back-references, parent to child) the store has
    /// and the graph lacks, once per missing copy: `(from, to, strength)`.
    pub missing_references: Vec<(Node<T, N, K>, Node<T, N, K>, Strength)>,
    /// References the graph has and the store lacks.
    pub extra_references: Vec<(Node<T, N, K>, Node<T, N, K>, Strength)>,
    /// Roots the store has and the graph lacks.
    pub missing_roots: Vec<(Node<T, N, K>, Strength)>,
    /// Roots the graph has and the store lacks.
    pub extra_roots: Vec<(Node<T, N, K>, Strength)>,
    /// Nodes whose last use, or one of whose deadlines (of a reference it
    /// makes, or of a root on it), differs.
    pub times: Vec<Node<T, N, K>>,
}

impl<T, N, K> Default for Drift<T, N, K> {
    fn default() -> Self {
        Drift {
            missing_nodes: Vec::new(),
            extra_nodes: Vec::new(),
            missing_references: Vec::new(),
            extra_references: Vec::new(),
            missing_roots: Vec::new(),
            extra_roots: Vec::new(),
            times: Vec::new(),
        }
    }
}

impl<T, N, K> Drift<T, N, K> {
    /// Whether the graph and the store agree.
    pub fn is_empty(&self) -> bool {
        self.missing_nodes.is_empty()
            && self.extra_nodes.is_empty()
            && self.missing_references.is_empty()
            && self.extra_references.is_empty()
            && self.missing_roots.is_empty()
            && self.extra_roots.is_empty()
            && self.times.is_empty()
    }

    /// Whether the graph lacks something the store has: the drift that can
    /// make a collection sweep a live node.
    pub fn is_unsafe(&self) -> bool {
        !(self.missing_references.is_empty()
            && self.missing_roots.is_empty()
            && self.times.is_empty())
    }
}

/// A reference, by its ends' nodes: `(from, to, packed strength and
/// whether it expires)`; the `to` of a packed edge is dropped.
type Key<'a, T, N, K> = (&'a Node<T, N, K>, &'a Node<T, N, K>, u32);

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Lists the store afresh through `ctx` (as [`Graph::build`] does) and
    /// says how the graph differs. Run it with the store still, or over a
    /// snapshot with no changes prepared since it was taken. A schedule
    /// for it, and tests, catch a change the embedder forgot to report.
    pub fn verify<C>(&self, ctx: &mut C) -> Result<Drift<T, N, K>, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let fresh = Graph::<T, N, K, RandomState>::build(ctx)?;
        let mut drift = Drift::default();
        for id in fresh.listed.iter() {
            let node = &fresh.nodes[id as usize];
            if !self.is_listed(node) {
                drift.missing_nodes.push(node.clone());
            }
        }
        for id in self.listed.iter() {
            let node = &self.nodes[id as usize];
            if !fresh.is_listed(node) {
                drift.extra_nodes.push(node.clone());
            }
        }

        // The rows a listing reads: a fresh listing cannot see the row of
        // an unlisted node nothing names, which is no drift.
        let read = self.read_by_listing();
        let read = |id: u32| read[id as usize] || fresh.find(&self.nodes[id as usize]).is_some();
        let mut edges: StdMap<Key<'_, T, N, K>, i64> = StdMap::new();
        let mut deadlines: StdMap<Key<'_, T, N, K>, [Option<SystemTime>; 2]> = StdMap::new();
        for (side, graph) in [(0, Side::Fresh(&fresh)), (1, Side::Kept(self))] {
            let sign = if side == 0 { 1 } else { -1 };
            graph.each_edge(&read, |key, deadline| {
                *edges.entry(key).or_default() += sign;
                if unpack(key.2).2 {
                    deadlines.entry(key).or_default()[side] = deadline;
                }
            });
        }
        for ((from, to, code), count) in edges {
            let strength = unpack(code).1;
            let entry = (from.clone(), to.clone(), strength);
            for _ in 0..count.unsigned_abs() {
                if count > 0 {
                    drift.missing_references.push(entry.clone());
                } else {
                    drift.extra_references.push(entry.clone());
                }
            }
        }

        let mut roots: StdMap<(&Node<T, N, K>, u32), i64> = StdMap::new();
        let mut root_deadlines: StdMap<(&Node<T, N, K>, u32), [Option<SystemTime>; 2]> =
            StdMap::new();
        for (side, graph) in [(0, Side::Fresh(&fresh)), (1, Side::Kept(self))] {
            let sign = if side == 0 { 1 } else { -1 };
            graph.each_root(|node, code, count, deadline| {
                *roots.entry((node, code)).or_default() += sign * i64::from(count);
                if unpack(code).2 {
                    root_deadlines.entry((node, code)).or_default()[side] = deadline;
                }
            });
        }
        for ((node, code), count) in roots {
            let entry = (node.clone(), unpack(code).1);
            for _ in 0..count.unsigned_abs() {
                if count > 0 {
                    drift.missing_roots.push(entry.clone());
                } else {
                    drift.extra_roots.push(entry.clone());
                }
            }
        }

        let mut times: Vec<&Node<T, N, K>> = Vec::new();
        times.extend(
            deadlines
                .into_iter()
                .filter(|(_, [a, b])| a.is_some() && b.is_some() && a != b)
                .map(|((from, _, _), _)| from),
        );
        times.extend(
            root_deadlines
                .into_iter()
                .filter(|(_, [a, b])| a.is_some() && b.is_some() && a != b)
                .map(|((node, _), _)| node),
        );
        for id in fresh.listed.iter() {
            let node = &fresh.nodes[id as usize];
            let kept = self.find(node).and_then(|id| self.last_used.get(&id));
            if fresh.last_used.get(&id) != kept && self.is_listed(node) {
                times.push(node);
            }
        }
        let mut seen = std::collections::HashSet::new();
        drift.times = times
            .into_iter()
            .filter(|node| seen.insert(*node))
            .cloned()
            .collect();
        Ok(drift)
    }
}

/// Either graph of a comparison, with their different hashers.
enum Side<'a, T, N, K, S> {
    Fresh(&'a Graph<T, N, K, RandomState>),
    Kept(&'a Graph<T, N, K, S>),
}

impl<'a, T, N, K, S> Side<'a, T, N, K, S> {
    /// Every reference and back-reference, with its deadline if it
    /// expires; of the kept graph, only those of the rows `read` names.
    fn each_edge(
        &self,
        read: &dyn Fn(u32) -> bool,
        mut each: impl FnMut(Key<'a, T, N, K>, Option<SystemTime>),
    ) {
        match *self {
            Side::Fresh(graph) => graph.each_edge(&|_| true, &mut each),
            Side::Kept(graph) => graph.each_edge(read, &mut each),
        }
    }

    fn each_root(&self, mut each: impl FnMut(&'a Node<T, N, K>, u32, u32, Option<SystemTime>)) {
        match *self {
            Side::Fresh(graph) => graph.each_root(&mut each),
            Side::Kept(graph) => graph.each_root(&mut each),
        }
    }
}

impl<T, N, K, S> Graph<T, N, K, S> {
    /// The ids whose rows a listing reads: the listed nodes, the roots'
    /// targets, both ends of every back-reference (the listing declares
    /// them), and what their rows name, transitively.
    fn read_by_listing(&self) -> Vec<bool> {
        fn visit(id: u32, read: &mut [bool], stack: &mut Vec<u32>) {
            if !read[id as usize] {
                read[id as usize] = true;
                stack.push(id);
            }
        }
        let len = self.nodes.len();
        let mut read = vec![false; len];
        let mut stack = Vec::new();
        for id in self.listed.iter() {
            visit(id, &mut read, &mut stack);
        }
        for &edge in self.roots.keys() {
            visit(unpack(edge).0, &mut read, &mut stack);
        }
        for parent in 0..len as u32 {
            self.bound.for_each(parent, |edge| {
                visit(parent, &mut read, &mut stack);
                visit(unpack(edge).0, &mut read, &mut stack);
            });
        }
        while let Some(id) = stack.pop() {
            let mut each = |edge: u32| visit(unpack(edge).0, &mut read, &mut stack);
            self.references.for_each(id, &mut each);
            self.bound.for_each(id, &mut each);
        }
        read
    }

    fn each_edge<'a>(
        &'a self,
        read: &dyn Fn(u32) -> bool,
        each: &mut impl FnMut(Key<'a, T, N, K>, Option<SystemTime>),
    ) {
        for from in 0..self.nodes.len() as u32 {
            if !read(from) {
                continue;
            }
            let node = &self.nodes[from as usize];
            self.references.for_each(from, |edge| {
                let (to, _, _) = unpack(edge);
                let deadline = self.deadlines.get(&(from, edge)).copied();
                each((node, &self.nodes[to as usize], edge & 0b111), deadline);
            });
            self.bound.for_each(from, |edge| {
                let (to, _, _) = unpack(edge);
                // Told apart from a reference by a bit no packed edge
                // code uses.
                each(
                    (node, &self.nodes[to as usize], edge & 0b111 | 0b1000),
                    None,
                );
            });
        }
    }

    fn each_root<'a>(
        &'a self,
        each: &mut impl FnMut(&'a Node<T, N, K>, u32, u32, Option<SystemTime>),
    ) {
        for (&edge, &count) in &self.roots {
            let (id, _, _) = unpack(edge);
            let deadline = self.root_deadlines.get(&edge).copied();
            each(&self.nodes[id as usize], edge & 0b111, count, deadline);
        }
    }
}
