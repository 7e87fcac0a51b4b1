//! Property tests against a naive oracle: a plain breadth-first search over
//! adjacency lists with the crate's strength rules (a queue of the nodes
//! reached strongly; flat marks live only; weak keeps nothing).
//!
//! Both paths are checked: the `Node` path ([`Collector`], over the shared
//! [`MemStore`] fixture, with duplicate listings, dead edges to unlisted
//! keys, roots on unlisted keys, self loops) and the dense path
//! ([`DenseCollector`], ids in range). The `Node` path is checked twice:
//! with `u32` keys, whose references the mark sets aside and resolves in
//! batches, and with `String` keys, which it resolves one at a time. The case count comes from
//! `PROPTEST_CASES` (proptest's default config reads it).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;

use common::oracle::{Expected, oracle};
use common::{MemStore, TestNode, n};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, Node, NodeSink,
    ReferenceSink, Stats, Strength,
};

// ---------------------------------------------------------------------------
// The oracle.

// ---------------------------------------------------------------------------
// Random graphs.

fn keeping_strength() -> impl Strategy<Value = Strength> {
    prop_oneof![Just(Strength::Strong), Just(Strength::Flat)]
}

/// A graph for the `Node` path. Keys are `0..universe`; only keys below
/// `listable` are ever listed, so the rest (and any listable key the listing
/// happens to miss) are dead-edge targets.
#[derive(Clone, Debug)]
struct Graph {
    universe: u32,
    /// In listing order, duplicates included.
    listed: Vec<u32>,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (0u32..=40, 0u32..=4)
        .prop_flat_map(|(listable, unlisted)| {
            let universe = (listable + unlisted).max(1);
            let listed = vec(0..listable.max(1), 0..=if listable == 0 { 0 } else { 60 });
            let roots = vec((0..universe, common::any_strength()), 0..=8);
            let edges = vec((0..universe, 0..universe, common::any_strength()), 0..=100);
            (Just(universe), listed, roots, edges)
        })
        .prop_map(|(universe, listed, roots, edges)| Graph {
            universe,
            listed,
            roots,
            edges,
        })
}

impl Graph {
    fn store(&self) -> MemStore {
        let mut store = MemStore {
            listed: self.listed.iter().map(|&k| n(k)).collect(),
            roots: self.roots.iter().map(|&(k, s)| (n(k), s)).collect(),
            ..MemStore::default()
        };
        for &(from, to, strength) in &self.edges {
            store.edge(from, to, strength);
        }
        store
    }

    fn oracle(&self) -> Expected {
        oracle(&self.listed, &self.roots, &self.edges)
    }

    /// The graph after the embedder removed `swept`: gone from the listing,
    /// and their own references with them. References *to* them stay.
    fn without(&self, swept: &[u32]) -> Graph {
        let swept: HashSet<u32> = swept.iter().copied().collect();
        Graph {
            universe: self.universe,
            listed: self
                .listed
                .iter()
                .copied()
                .filter(|k| !swept.contains(k))
                .collect(),
            roots: self.roots.clone(),
            edges: self
                .edges
                .iter()
                .copied()
                .filter(|(from, _, _)| !swept.contains(from))
                .collect(),
        }
    }
}

/// A graph for the dense path: ids `0..count`, all of them candidates.
#[derive(Clone, Debug)]
struct DenseGraph {
    count: u32,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
}

fn dense_graph() -> impl Strategy<Value = DenseGraph> {
    dense_graph_of_at_least(0)
}

/// Generating non-empty graphs directly, rather than rejecting empty ones,
/// keeps long runs (100,000 cases) under proptest's cap on rejections.
fn dense_graph_of_at_least(min_count: u32) -> impl Strategy<Value = DenseGraph> {
    (min_count..=40)
        .prop_flat_map(|count| {
            let id = 0..count.max(1);
            let empty = count == 0;
            let roots = vec(
                (id.clone(), common::any_strength()),
                0..=if empty { 0 } else { 8 },
            );
            let edges = vec(
                (id.clone(), id, common::any_strength()),
                0..=if empty { 0 } else { 100 },
            );
            (Just(count), roots, edges)
        })
        .prop_map(|(count, roots, edges)| DenseGraph {
            count,
            roots,
            edges,
        })
}

impl DenseGraph {
    fn store(&self) -> DenseStore {
        let mut edges = vec![Vec::new(); self.count as usize];
        for &(from, to, strength) in &self.edges {
            edges[from as usize].push((to, strength));
        }
        DenseStore {
            roots: self.roots.clone(),
            edges,
            expansions: vec![0; self.count as usize],
        }
    }

    fn oracle(&self) -> Expected {
        let listed: Vec<u32> = (0..self.count).collect();
        oracle(&listed, &self.roots, &self.edges)
    }

    /// The store compacted after a collection: the live ids renumbered
    /// densely in order, references to swept ids dropped (they can only come
    /// from nodes that were not expanded, or be weak).
    fn compacted(&self, live: &[u32]) -> DenseGraph {
        let renumber: HashMap<u32, u32> = live
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new as u32))
            .collect();
        DenseGraph {
            count: live.len() as u32,
            roots: self
                .roots
                .iter()
                .filter_map(|&(k, s)| Some((*renumber.get(&k)?, s)))
                .collect(),
            edges: self
                .edges
                .iter()
                .filter_map(|&(a, b, s)| Some((*renumber.get(&a)?, *renumber.get(&b)?, s)))
                .collect(),
        }
    }
}

/// A dense store over adjacency lists that counts its expansions.
struct DenseStore {
    roots: Vec<(u32, Strength)>,
    edges: Vec<Vec<(u32, Strength)>>,
    expansions: Vec<usize>,
}

impl DenseContext for DenseStore {
    type Error = Infallible;

    fn node_count(&self) -> u32 {
        self.edges.len() as u32
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Infallible> {
        for &(id, strength) in &self.roots {
            roots.add(id, strength);
        }
        Ok(())
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Infallible> {
        self.expansions[id as usize] += 1;
        for &(target, strength) in &self.edges[id as usize] {
            refs.add(target, strength);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Running a collection and reading everything out of it.

/// What one collection answered, copied out of the borrowed result.
#[derive(Debug)]
struct Observed {
    garbage: Vec<u32>,
    /// `garbage().len()`, as the `ExactSizeIterator` reports it.
    garbage_len: usize,
    live_listed: Vec<u32>,
    live_len: usize,
    /// `is_live` for every key of the universe.
    is_live: Vec<bool>,
    stats: Stats,
    /// How many times `references` was called, per key; only non-zero.
    expansions: HashMap<u32, usize>,
}

type NodeCollector = Collector<u8, u8, u32>;

fn collect_nodes<S: std::hash::BuildHasher>(
    gc: &mut Collector<u8, u8, u32, S>,
    g: &Graph,
) -> Observed {
    let mut store = g.store();
    let collection = gc
        .collect(&mut store)
        .expect("a store without a fault never fails");
    let observed = Observed {
        garbage: collection.garbage().map(|node| node.key).collect(),
        garbage_len: collection.garbage().len(),
        live_listed: collection.live().map(|node| node.key).collect(),
        live_len: collection.live().len(),
        is_live: (0..g.universe).map(|k| collection.is_live(&n(k))).collect(),
        stats: collection.stats().clone(),
        expansions: HashMap::new(),
    };
    drop(collection);
    Observed {
        expansions: expansions_by_key(&store.expansions),
        ..observed
    }
}

/// A [`MemStore`] whose nodes have `String` keys: nodes that own memory.
/// It emits roots and references a run of equal strength at a time, with
/// `add_all`, where [`MemStore`] emits them one by one.
struct OwnedKeys(MemStore);

/// `targets` as owned nodes, a slice per run of equal strength.
fn emit_runs(targets: &[(TestNode, Strength)], refs: &mut ReferenceSink<'_, u8, u8, String>) {
    for run in targets.chunk_by(|a, b| a.1 == b.1) {
        let nodes: Vec<OwnedNode> = run.iter().map(|(node, _)| owned(node)).collect();
        refs.add_all(&nodes, run[0].1);
    }
}

type OwnedNode = Node<u8, u8, String>;

fn owned(node: &TestNode) -> OwnedNode {
    Node::new(node.kind, node.namespace, node.key.to_string())
}

impl CollectionContext for OwnedKeys {
    type Kind = u8;
    type Namespace = u8;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, String>) -> Result<(), Infallible> {
        for node in &self.0.listed {
            nodes.push(&owned(node));
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, String>) -> Result<(), Infallible> {
        emit_runs(&self.0.roots, roots);
        Ok(())
    }

    fn references(
        &mut self,
        node: &OwnedNode,
        refs: &mut ReferenceSink<'_, u8, u8, String>,
    ) -> Result<(), Infallible> {
        let key: u32 = node.key.parse().expect("keys are numbers");
        let node = Node::new(node.kind, node.namespace, key);
        emit_runs(self.0.edges.get(&node).map_or(&[], Vec::as_slice), refs);
        *self.0.expansions.entry(node).or_default() += 1;
        Ok(())
    }
}

fn collect_owned(gc: &mut Collector<u8, u8, String>, g: &Graph) -> Observed {
    let mut store = OwnedKeys(g.store());
    let collection = gc
        .collect(&mut store)
        .expect("a store without a fault never fails");
    let key = |node: &OwnedNode| node.key.parse().expect("keys are numbers");
    let observed = Observed {
        garbage: collection.garbage().map(key).collect(),
        garbage_len: collection.garbage().len(),
        live_listed: collection.live().map(key).collect(),
        live_len: collection.live().len(),
        is_live: (0..g.universe)
            .map(|k| collection.is_live(&owned(&n(k))))
            .collect(),
        stats: collection.stats().clone(),
        expansions: HashMap::new(),
    };
    drop(collection);
    Observed {
        expansions: expansions_by_key(&store.0.expansions),
        ..observed
    }
}

/// Hashes to one of four values: collisions everywhere.
#[derive(Clone, Default)]
struct Colliding;

struct CollidingHasher(std::hash::DefaultHasher);

impl std::hash::BuildHasher for Colliding {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher(std::hash::DefaultHasher::new())
    }
}

impl std::hash::Hasher for CollidingHasher {
    fn finish(&self) -> u64 {
        self.0.finish() & 3
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
}

fn expansions_by_key(expansions: &HashMap<TestNode, usize>) -> HashMap<u32, usize> {
    expansions
        .iter()
        .map(|(node, &count)| (node.key, count))
        .collect()
}

fn collect_dense(gc: &mut DenseCollector, g: &DenseGraph) -> Observed {
    let mut store = g.store();
    let collection = gc
        .collect(&mut store)
        .expect("a store without a fault never fails");
    let is_live: Vec<bool> = (0..g.count).map(|id| collection.is_live(id)).collect();
    let observed = Observed {
        garbage: collection.garbage().collect(),
        garbage_len: collection.garbage().len(),
        live_listed: (0..g.count).filter(|&id| is_live[id as usize]).collect(),
        live_len: is_live.iter().filter(|&&live| live).count(),
        is_live,
        stats: collection.stats().clone(),
        expansions: HashMap::new(),
    };
    // Ids out of range are not live, whatever an earlier, larger collection
    // left behind.
    for beyond in [g.count, g.count + 1, g.count + 63, g.count + 1000] {
        assert!(!collection.is_live(beyond), "id {beyond} beyond the count");
    }
    drop(collection);
    Observed {
        expansions: store
            .expansions
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count > 0)
            .map(|(id, &count)| (id as u32, count))
            .collect(),
        ..observed
    }
}

// ---------------------------------------------------------------------------
// The checks.

/// Everything a collection must satisfy, first on its own terms, then
/// against the oracle. `listed` is the listing in order, duplicates
/// included (on the dense path, the ids in order); `roots` the roots
/// emitted.
fn check(
    listed: &[u32],
    roots: &[(u32, Strength)],
    e: &Expected,
    o: &Observed,
) -> Result<(), TestCaseError> {
    // The garbage: each once, in first-listing order.
    let mut first_listing: HashMap<u32, usize> = HashMap::new();
    for (position, &key) in listed.iter().enumerate() {
        first_listing.entry(key).or_insert(position);
    }
    let garbage_set: HashSet<u32> = o.garbage.iter().copied().collect();
    prop_assert_eq!(garbage_set.len(), o.garbage.len(), "garbage has duplicates");
    for pair in o.garbage.windows(2) {
        let (a, b) = (first_listing.get(&pair[0]), first_listing.get(&pair[1]));
        prop_assert!(
            a.is_some() && b.is_some() && a < b,
            "garbage {:?} out of first-listing order",
            pair
        );
    }
    for pair in o.live_listed.windows(2) {
        prop_assert!(
            first_listing[&pair[0]] < first_listing[&pair[1]],
            "live {:?} out of first-listing order",
            pair
        );
    }

    // Live and swept partition the listed set.
    let live_set: HashSet<u32> = o.live_listed.iter().copied().collect();
    prop_assert!(
        live_set.is_disjoint(&garbage_set),
        "live ∩ swept = {:?}",
        live_set.intersection(&garbage_set).collect::<Vec<_>>()
    );
    let listed_set: HashSet<u32> = listed.iter().copied().collect();
    let union: HashSet<u32> = live_set.union(&garbage_set).copied().collect();
    prop_assert_eq!(&union, &listed_set, "live ∪ swept ≠ listed");
    for &key in &o.garbage {
        prop_assert!(!o.is_live[key as usize], "{} swept but is_live", key);
    }
    for &key in &o.live_listed {
        prop_assert!(o.is_live[key as usize], "{} live() but not is_live", key);
    }

    // A listed root that keeps its target is never swept.
    for &(key, strength) in roots {
        if strength != Strength::Weak && listed_set.contains(&key) {
            prop_assert!(!garbage_set.contains(&key), "root {} swept", key);
            prop_assert!(o.is_live[key as usize], "root {} not live", key);
        }
    }

    // Exactly the oracle.
    prop_assert_eq!(&o.garbage, &e.garbage, "garbage differs from the oracle");
    prop_assert_eq!(
        &o.live_listed,
        &e.live_listed,
        "live differs from the oracle"
    );
    for (key, &live) in o.is_live.iter().enumerate() {
        prop_assert_eq!(
            live,
            e.live.contains(&(key as u32)),
            "is_live({}) differs from the oracle",
            key
        );
    }

    // Each node expanded at most once, and exactly those reached strongly.
    for (&key, &count) in &o.expansions {
        prop_assert_eq!(count, 1, "{} expanded {} times", key, count);
    }
    let expanded: BTreeSet<u32> = o.expansions.keys().copied().collect();
    prop_assert_eq!(&expanded, &e.expanded, "expanded set differs");

    // Stats.
    let s = &o.stats;
    prop_assert_eq!(s.nodes_swept, o.garbage.len());
    prop_assert_eq!(o.garbage_len, o.garbage.len(), "garbage().len() lies");
    prop_assert_eq!(o.live_len, o.live_listed.len(), "live().len() lies");
    prop_assert_eq!(s.nodes_listed, e.nodes_listed);
    prop_assert_eq!(s.nodes_listed, listed_set.len());
    prop_assert_eq!(s.nodes_expanded, e.expanded.len());
    prop_assert_eq!(s.nodes_marked, e.live.len());
    prop_assert_eq!(s.roots, e.roots);
    prop_assert_eq!(s.references_followed, e.references_followed);
    prop_assert_eq!(s.weak_references, e.weak_references);
    prop_assert_eq!(s.dead_edges, e.dead_edges);
    Ok(())
}

fn check_nodes(g: &Graph, o: &Observed) -> Result<(), TestCaseError> {
    check(&g.listed, &g.roots, &g.oracle(), o)
}

fn check_dense(g: &DenseGraph, o: &Observed) -> Result<(), TestCaseError> {
    let listed: Vec<u32> = (0..g.count).collect();
    check(&listed, &g.roots, &g.oracle(), o)
}

fn is_subset(smaller: &[u32], larger: &[u32]) -> bool {
    let larger: HashSet<u32> = larger.iter().copied().collect();
    smaller.iter().all(|k| larger.contains(k))
}

/// How an existing root or edge is made stronger.
fn upgraded(strength: Strength) -> Strength {
    match strength {
        Strength::Weak => Strength::Flat,
        _ => Strength::Strong,
    }
}

// ---------------------------------------------------------------------------
// The `Node` path.

proptest! {
    #![proptest_config(common::proptest_config())]
    #[test]
    fn node_path_matches_the_oracle(g in graph()) {
        let mut gc = NodeCollector::new();
        let first = collect_nodes(&mut gc, &g);
        check_nodes(&g, &first)?;
        // A dry run, then the same again on the reused collector.
        let again = collect_nodes(&mut gc, &g);
        check_nodes(&g, &again)?;
    }

    #[test]
    fn node_path_with_owned_keys_matches_the_oracle(g in graph()) {
        let mut gc = Collector::new();
        let first = collect_owned(&mut gc, &g);
        check_nodes(&g, &first)?;
        let again = collect_owned(&mut gc, &g);
        check_nodes(&g, &again)?;
    }

    #[test]
    fn node_path_with_colliding_hashes_matches_the_oracle(g in graph()) {
        // Four hash values in all: every lookup meets many candidates that
        // are not the node, whichever way the path resolves references.
        let mut gc = Collector::with_hasher(Colliding);
        for _ in 0..2 {
            check_nodes(&g, &collect_nodes(&mut gc, &g))?;
        }
    }

    #[test]
    fn node_path_sweeps_nothing_once_the_garbage_is_removed(g in graph()) {
        let mut gc = NodeCollector::new();
        let first = collect_nodes(&mut gc, &g);
        check_nodes(&g, &first)?;
        let after = g.without(&first.garbage);
        let second = collect_nodes(&mut gc, &after);
        prop_assert!(second.garbage.is_empty(), "swept again: {:?}", second.garbage);
        prop_assert_eq!(&second.live_listed, &first.live_listed);
        check_nodes(&after, &second)?;
    }

    #[test]
    fn node_path_another_root_never_grows_the_sweep(
        g in graph(),
        at in any::<Index>(),
        strength in keeping_strength(),
    ) {
        let mut gc = NodeCollector::new();
        let before = collect_nodes(&mut gc, &g);
        let mut more = g.clone();
        let key = at.index(g.universe as usize) as u32;
        more.roots.push((key, strength));
        let after = collect_nodes(&mut gc, &more);
        prop_assert!(
            is_subset(&after.garbage, &before.garbage),
            "root {:?} {:?} grew the sweep: {:?} → {:?}",
            key, strength, before.garbage, after.garbage
        );
        prop_assert!(!after.garbage.contains(&key));
        check_nodes(&more, &after)?;
    }

    #[test]
    fn node_path_weak_additions_change_nothing(
        g in graph(),
        from in any::<Index>(),
        to in any::<Index>(),
        as_root in any::<bool>(),
    ) {
        let mut gc = NodeCollector::new();
        let before = collect_nodes(&mut gc, &g);
        let mut more = g.clone();
        let (from, to) = (
            from.index(g.universe as usize) as u32,
            to.index(g.universe as usize) as u32,
        );
        if as_root {
            more.roots.push((to, Strength::Weak));
        } else {
            more.edges.push((from, to, Strength::Weak));
        }
        let after = collect_nodes(&mut gc, &more);
        prop_assert_eq!(&after.garbage, &before.garbage);
        prop_assert_eq!(&after.live_listed, &before.live_listed);
        prop_assert_eq!(&after.is_live, &before.is_live);
        prop_assert_eq!(&after.expansions, &before.expansions);
        check_nodes(&more, &after)?;
    }

    #[test]
    fn node_path_stronger_references_never_grow_the_sweep(
        g in graph(),
        at in any::<Index>(),
        root in any::<bool>(),
    ) {
        let mut gc = NodeCollector::new();
        let before = collect_nodes(&mut gc, &g);
        let mut stronger = g.clone();
        if root && !g.roots.is_empty() {
            let root = &mut stronger.roots[at.index(g.roots.len())];
            root.1 = upgraded(root.1);
        } else if !g.edges.is_empty() {
            let edge = &mut stronger.edges[at.index(g.edges.len())];
            edge.2 = upgraded(edge.2);
        }
        let after = collect_nodes(&mut gc, &stronger);
        prop_assert!(
            is_subset(&after.garbage, &before.garbage),
            "upgrading grew the sweep: {:?} → {:?}",
            before.garbage, after.garbage
        );
        check_nodes(&stronger, &after)?;
    }

    /// One collector through a sequence of unrelated graphs: whatever the
    /// table kept from the last one must not change this one's answer.
    #[test]
    fn node_path_reused_across_unrelated_graphs(graphs in vec(graph(), 1..=4)) {
        let mut gc = NodeCollector::new();
        for g in &graphs {
            let o = collect_nodes(&mut gc, g);
            check_nodes(g, &o)?;
        }
    }
}

// ---------------------------------------------------------------------------
// The dense path.

proptest! {
    #![proptest_config(common::proptest_config())]
    #[test]
    fn dense_path_matches_the_oracle(g in dense_graph()) {
        let mut gc = DenseCollector::new();
        let first = collect_dense(&mut gc, &g);
        check_dense(&g, &first)?;
        let again = collect_dense(&mut gc, &g);
        check_dense(&g, &again)?;
    }

    #[test]
    fn dense_path_sweeps_nothing_once_compacted(g in dense_graph()) {
        let mut gc = DenseCollector::new();
        let first = collect_dense(&mut gc, &g);
        check_dense(&g, &first)?;
        let after = g.compacted(&first.live_listed);
        let second = collect_dense(&mut gc, &after);
        prop_assert!(second.garbage.is_empty(), "swept again: {:?}", second.garbage);
        check_dense(&after, &second)?;
    }

    #[test]
    fn dense_path_another_root_never_grows_the_sweep(
        g in dense_graph_of_at_least(1),
        at in any::<Index>(),
        strength in keeping_strength(),
    ) {
                let mut gc = DenseCollector::new();
        let before = collect_dense(&mut gc, &g);
        let mut more = g.clone();
        let id = at.index(g.count as usize) as u32;
        more.roots.push((id, strength));
        let after = collect_dense(&mut gc, &more);
        prop_assert!(
            is_subset(&after.garbage, &before.garbage),
            "root {:?} {:?} grew the sweep: {:?} → {:?}",
            id, strength, before.garbage, after.garbage
        );
        prop_assert!(!after.garbage.contains(&id));
        check_dense(&more, &after)?;
    }

    #[test]
    fn dense_path_weak_additions_change_nothing(
        g in dense_graph_of_at_least(1),
        from in any::<Index>(),
        to in any::<Index>(),
        as_root in any::<bool>(),
    ) {
                let mut gc = DenseCollector::new();
        let before = collect_dense(&mut gc, &g);
        let mut more = g.clone();
        let (from, to) = (
            from.index(g.count as usize) as u32,
            to.index(g.count as usize) as u32,
        );
        if as_root {
            more.roots.push((to, Strength::Weak));
        } else {
            more.edges.push((from, to, Strength::Weak));
        }
        let after = collect_dense(&mut gc, &more);
        prop_assert_eq!(&after.garbage, &before.garbage);
        prop_assert_eq!(&after.is_live, &before.is_live);
        prop_assert_eq!(&after.expansions, &before.expansions);
        check_dense(&more, &after)?;
    }

    #[test]
    fn dense_path_stronger_references_never_grow_the_sweep(
        g in dense_graph(),
        at in any::<Index>(),
        root in any::<bool>(),
    ) {
        let mut gc = DenseCollector::new();
        let before = collect_dense(&mut gc, &g);
        let mut stronger = g.clone();
        if root && !g.roots.is_empty() {
            let root = &mut stronger.roots[at.index(g.roots.len())];
            root.1 = upgraded(root.1);
        } else if !g.edges.is_empty() {
            let edge = &mut stronger.edges[at.index(g.edges.len())];
            edge.2 = upgraded(edge.2);
        }
        let after = collect_dense(&mut gc, &stronger);
        prop_assert!(
            is_subset(&after.garbage, &before.garbage),
            "upgrading grew the sweep: {:?} → {:?}",
            before.garbage, after.garbage
        );
        check_dense(&stronger, &after)?;
    }

    /// One dense collector through graphs of varying sizes: a larger
    /// earlier collection must leave nothing behind.
    #[test]
    fn dense_path_reused_across_unrelated_graphs(graphs in vec(dense_graph(), 1..=4)) {
        let mut gc = DenseCollector::new();
        for g in &graphs {
            let o = collect_dense(&mut gc, g);
            check_dense(g, &o)?;
        }
    }
}

// ---------------------------------------------------------------------------
// The oracle itself, on containerd's canonical graph, so that a wrong
// oracle cannot make every property vacuous.

#[test]
fn the_oracle_on_containerds_canonical_graph() {
    let s = Strength::Strong;
    let edges = [
        (0, 1, s),
        (1, 0, s),
        (2, 3, s),
        (2, 5, s),
        (2, 1, s),
        (4, 5, s),
        (4, 6, s),
        (5, 7, s),
    ];
    let listed: Vec<u32> = (0..8).collect();
    let e = oracle(&listed, &[(0, s), (2, s)], &edges);
    assert_eq!(e.garbage, [4, 6]);
    assert_eq!(e.live_listed, [0, 1, 2, 3, 5, 7]);
    assert_eq!(e.expanded.len(), 6);
    assert_eq!(e.references_followed, 6);
}

#[test]
fn the_oracle_on_flat_weak_and_dead_edges() {
    use Strength::{Flat, Strong, Weak};
    // 0 flat root → its strong edge to 1 is not followed; 2 strong root →
    // 3 flat (kept, not expanded: 3 → 4 is not followed), → 9 unlisted, whose
    // strong edge to 5 is followed; 6 weak root.
    let edges = [
        (0, 1, Strong),
        (2, 3, Flat),
        (3, 4, Strong),
        (2, 9, Strong),
        (9, 5, Strong),
        (2, 6, Weak),
    ];
    let listed = [4, 0, 1, 2, 3, 4, 5, 6, 0];
    let e = oracle(&listed, &[(0, Flat), (2, Strong), (6, Weak)], &edges);
    assert_eq!(e.garbage, [4, 1, 6]);
    assert_eq!(e.live_listed, [0, 2, 3, 5]);
    assert_eq!(e.expanded, BTreeSet::from([2, 9, 5]));
    assert_eq!((e.roots, e.weak_references), (2, 2));
    assert_eq!((e.references_followed, e.dead_edges), (3, 1));
    assert_eq!(e.nodes_listed, 7);
}
