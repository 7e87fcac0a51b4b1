//! Property tests against a naive oracle: a least fixpoint over the set of
//! nodes reached strongly and the set reached flat (see `common::oracle`),
//! with every strength: strong, flat, structural (held as the referrer is
//! held) and weak, and back-references of every strength.
//!
//! Both paths are checked: the `Node` path ([`Collector`], over the shared
//! [`MemStore`] fixture, with duplicate listings, dead edges to unlisted
//! keys, roots on unlisted keys, self loops, back-references) and the dense path
//! ([`DenseCollector`], ids in range). The `Node` path is checked twice:
//! with `u32` keys, whose references the mark sets aside and resolves in
//! batches, and with `String` keys, which it resolves one at a time. The case count comes from
//! `PROPTEST_CASES` (proptest's default config reads it).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;

use common::oracle::{Expected, oracle, oracle_with_back_references};
use common::{MemStore, TestNode, emit_named, keeping_strength, n, upgraded};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, Node, NodeSink,
    ReferenceSink, Stats, Strength,
};

// ---------------------------------------------------------------------------
// Random graphs.

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
    /// `(child, parent, strength)`.
    back: Vec<(u32, u32, Strength)>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (0u32..=40, 0u32..=4)
        .prop_flat_map(|(listable, unlisted)| {
            let universe = (listable + unlisted).max(1);
            let listed = vec(0..listable.max(1), 0..=if listable == 0 { 0 } else { 60 });
            let roots = vec((0..universe, common::any_strength()), 0..=8);
            let edges = vec((0..universe, 0..universe, common::any_strength()), 0..=100);
            let back = vec((0..universe, 0..universe, common::any_strength()), 0..=6);
            (Just(universe), listed, roots, edges, back)
        })
        .prop_map(|(universe, listed, roots, edges, back)| Graph {
            universe,
            listed,
            roots,
            edges,
            back,
        })
}

/// Keys appended to a graph of `base` keys so that one node, `x`, is
/// reached flat down a chain of structural references (one link possibly
/// a structural back-reference) from a flat root, and, if `strongly`,
/// strongly from a strong root too, that root emitted before or after the
/// flat one. The chain and `x` also reference baits strongly, flat and
/// weakly: kept exactly when `x` is reached strongly (the weak one never).
#[derive(Clone, Debug)]
struct Reaches {
    chain: Vec<u32>,
    x: u32,
    strong_bait: u32,
    flat_bait: u32,
    weak_bait: u32,
    strong_root: u32,
    strongly: bool,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
    back: Vec<(u32, u32, Strength)>,
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    chain_len: u32,
    strongly: bool,
    strong_first: bool,
    /// How the strong root reaches `x`: strong or structural.
    strong_link: Strength,
    /// Which link of the chain is a back-reference (none past its end).
    back_link: u32,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        1u32..=4,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(Strength::Strong), Just(Strength::Structural)],
        0u32..=6,
    )
        .prop_map(
            |(chain_len, strongly, strong_first, strong_link, back_link)| Shape {
                chain_len,
                strongly,
                strong_first,
                strong_link,
                back_link,
            },
        )
}

impl Reaches {
    fn new(base: u32, shape: Shape, back_references: bool) -> Reaches {
        use Strength::{Flat, Strong, Structural, Weak};
        let chain: Vec<u32> = (base..base + shape.chain_len).collect();
        let x = base + shape.chain_len;
        let (strong_bait, flat_bait, weak_bait, strong_root) = (x + 1, x + 2, x + 3, x + 4);
        let mut r = Reaches {
            chain: chain.clone(),
            x,
            strong_bait,
            flat_bait,
            weak_bait,
            strong_root,
            strongly: shape.strongly,
            roots: Vec::new(),
            edges: Vec::new(),
            back: Vec::new(),
        };
        let flat_root = (chain[0], Flat);
        let strong_root = (strong_root, Strong);
        r.roots = match (shape.strongly, shape.strong_first) {
            (false, _) => vec![flat_root],
            (true, true) => vec![strong_root, flat_root],
            (true, false) => vec![flat_root, strong_root],
        };
        let mut path = chain.clone();
        path.push(x);
        for (link, pair) in path.windows(2).enumerate() {
            if back_references && link as u32 == shape.back_link {
                r.back.push((pair[1], pair[0], Structural));
            } else {
                r.edges.push((pair[0], pair[1], Structural));
            }
        }
        for &from in &path {
            r.edges.push((from, strong_bait, Strong));
            r.edges.push((from, flat_bait, Flat));
            r.edges.push((from, weak_bait, Weak));
        }
        r.edges.push((strong_root.0, x, shape.strong_link));
        r
    }

    /// The keys it adds.
    fn keys(&self) -> std::ops::Range<u32> {
        self.chain[0]..self.strong_root + 1
    }

    /// What the oracle must say of these keys, and what the crate did.
    fn check(&self, e: &Expected, o: &Observed) -> Result<(), TestCaseError> {
        for &k in &self.chain {
            prop_assert!(e.flat_only.contains(&k), "chain {} is flat only", k);
        }
        prop_assert!(e.live.contains(&self.x));
        prop_assert_eq!(e.strong.contains(&self.x), self.strongly);
        prop_assert_eq!(e.live.contains(&self.strong_bait), self.strongly);
        prop_assert_eq!(e.live.contains(&self.flat_bait), self.strongly);
        prop_assert!(!e.live.contains(&self.weak_bait));
        prop_assert_eq!(o.expansions.get(&self.x), Some(&1), "x read once");
        prop_assert_eq!(o.expansions.contains_key(&self.strong_bait), self.strongly);
        Ok(())
    }
}

impl Graph {
    /// This graph with [`Reaches`] appended, its keys listed.
    fn with_reaches(&self, shape: Shape) -> (Graph, Reaches) {
        let r = Reaches::new(self.universe, shape, true);
        let mut g = self.clone();
        g.listed.extend(r.keys());
        g.universe = r.keys().end;
        g.roots.extend(&r.roots);
        g.edges.extend(&r.edges);
        g.back.extend(&r.back);
        (g, r)
    }
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
        for &(child, parent, strength) in &self.back {
            store.back_reference(child, parent, strength);
        }
        store
    }

    fn oracle(&self) -> Expected {
        oracle_with_back_references(&self.listed, &self.roots, &self.edges, &self.back)
    }

    /// The graph after the embedder removed `swept`: gone from the listing,
    /// and their own references and back-references with them. References
    /// *to* them stay.
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
            back: self
                .back
                .iter()
                .copied()
                .filter(|(child, _, _)| !swept.contains(child))
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

    /// This graph with [`Reaches`] appended (back-references as edges).
    fn with_reaches(&self, shape: Shape) -> (DenseGraph, Reaches) {
        let r = Reaches::new(self.count, shape, false);
        let mut g = self.clone();
        g.count = r.keys().end;
        g.roots.extend(&r.roots);
        g.edges.extend(&r.edges);
        (g, r)
    }

    /// The store compacted after a collection: the live ids renumbered
    /// densely in order, references to swept ids dropped (they can only come
    /// from nodes that were not reached, be weak, or be other than
    /// structural from a node reached flat only).
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
        // Every other reference through the method named for its strength.
        for (i, &(target, strength)) in self.edges[id as usize].iter().enumerate() {
            match strength {
                _ if i % 2 == 0 => refs.add(target, strength),
                Strength::Strong => refs.strong(target),
                Strength::Weak => refs.weak(target),
                Strength::Flat => refs.flat(target),
                Strength::Structural => refs.structural(target),
                other => refs.add(target, other),
            }
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

/// `targets` as owned nodes, a slice per run of equal strength (a run of
/// one through the method named for its strength).
fn emit_runs(targets: &[(TestNode, Strength)], refs: &mut ReferenceSink<'_, u8, u8, String>) {
    for run in targets.chunk_by(|a, b| a.1 == b.1) {
        let nodes: Vec<OwnedNode> = run.iter().map(|(node, _)| owned(node)).collect();
        match nodes.as_slice() {
            [one] => emit_named(refs, one, run[0].1),
            _ => refs.add_all(&nodes, run[0].1),
        }
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
        // In one call, where the other stores push one at a time: up to 60
        // nodes, so several of the collector's read-ahead groups, the last
        // one partial, duplicates across groups.
        let listed: Vec<OwnedNode> = self.0.listed.iter().map(owned).collect();
        nodes.extend(&listed);
        for (child, parent, strength) in &self.0.back_references {
            nodes.back_reference(&owned(child), &owned(parent), *strength);
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

    // `references` read exactly once for each node reached at all.
    for (&key, &count) in &o.expansions {
        prop_assert_eq!(count, 1, "{} expanded {} times", key, count);
    }
    let expanded: BTreeSet<u32> = o.expansions.keys().copied().collect();
    prop_assert_eq!(
        &expanded,
        &e.live,
        "the nodes read differ from those reached"
    );

    // Stats.
    let s = &o.stats;
    prop_assert_eq!(s.nodes_swept, o.garbage.len());
    prop_assert_eq!(o.garbage_len, o.garbage.len(), "garbage().len() lies");
    prop_assert_eq!(o.live_len, o.live_listed.len(), "live().len() lies");
    prop_assert_eq!(s.nodes_listed, e.nodes_listed);
    prop_assert_eq!(s.nodes_listed, listed_set.len());
    prop_assert_eq!(s.nodes_expanded, e.strong.len());
    prop_assert_eq!(s.nodes_expanded_flat, e.flat_only.len());
    prop_assert_eq!(s.roots_by_kind.back_references, e.back_references);
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
        what in 0u8..3,
    ) {
        let mut gc = NodeCollector::new();
        let before = collect_nodes(&mut gc, &g);
        let mut more = g.clone();
        let (from, to) = (
            from.index(g.universe as usize) as u32,
            to.index(g.universe as usize) as u32,
        );
        match what {
            0 => more.roots.push((to, Strength::Weak)),
            1 => more.edges.push((from, to, Strength::Weak)),
            _ => more.back.push((to, from, Strength::Weak)),
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
        what in 0u8..3,
    ) {
        let mut gc = NodeCollector::new();
        let before = collect_nodes(&mut gc, &g);
        let mut stronger = g.clone();
        if what == 0 && !g.roots.is_empty() {
            let root = &mut stronger.roots[at.index(g.roots.len())];
            root.1 = upgraded(root.1);
        } else if what == 1 && !g.back.is_empty() {
            let back = &mut stronger.back[at.index(g.back.len())];
            back.2 = upgraded(back.2);
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

    /// A node reached flat down a structural chain and, or not, strongly
    /// through another path, in either root order: read once, fully if
    /// reached strongly at all, and what it references kept accordingly.
    #[test]
    fn node_path_reached_flat_and_strongly(g in graph(), shape in shape()) {
        let (g, r) = g.with_reaches(shape);
        let e = g.oracle();
        let mut gc = NodeCollector::new();
        let o = collect_nodes(&mut gc, &g);
        check_nodes(&g, &o)?;
        r.check(&e, &o)?;
        let o = collect_owned(&mut Collector::new(), &g);
        check_nodes(&g, &o)?;
        r.check(&e, &o)?;
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

    #[test]
    fn dense_path_reached_flat_and_strongly(g in dense_graph(), shape in shape()) {
        let (g, r) = g.with_reaches(shape);
        let o = collect_dense(&mut DenseCollector::new(), &g);
        check_dense(&g, &o)?;
        r.check(&g.oracle(), &o)?;
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
    assert_eq!(e.strong.len(), 6);
    assert!(e.flat_only.is_empty());
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
    assert_eq!(e.strong, BTreeSet::from([2, 9, 5]));
    assert_eq!(e.flat_only, BTreeSet::from([0, 3]));
    assert_eq!((e.roots, e.weak_references), (2, 2));
    assert_eq!((e.references_followed, e.dead_edges), (3, 1));
    assert_eq!(e.nodes_listed, 7);
}

#[test]
fn the_oracle_on_structure_reached_flat_and_strongly() {
    use Strength::{Flat, Strong, Structural, Weak};
    // 0 flat root ⇢ 1 structural ⇢ 2 structural (a back-reference, 2
    // declares it) ⇢ 3 unlisted structural. From 1: strong → 4, flat → 5,
    // weak → 6, none followed (1 is flat only). 7 strong root → 2
    // structural: 2 is reached strongly too, and so are 3 and 8, its
    // strong target; its flat target 9 is kept flat, and 9's strong
    // target 10 is not; its structural target 11 is, flat.
    let edges = [
        (0, 1, Structural),
        (1, 4, Strong),
        (1, 5, Flat),
        (1, 6, Weak),
        (2, 3, Structural),
        (7, 2, Structural),
        (2, 8, Strong),
        (2, 9, Flat),
        (9, 10, Strong),
        (9, 11, Structural),
    ];
    let back = [(2, 1, Structural), (4, 1, Strong), (5, 9, Flat)];
    let listed = [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11];
    let e = oracle_with_back_references(&listed, &[(0, Flat), (7, Strong)], &edges, &back);
    assert_eq!(e.garbage, [4, 5, 6, 10]);
    assert_eq!(e.strong, BTreeSet::from([2, 3, 7, 8]));
    assert_eq!(e.flat_only, BTreeSet::from([0, 1, 9, 11]));
    // 0→1, 7→2, 2→3, 2→8, 2→9 from S; 9→11 from F \ S.
    assert_eq!((e.references_followed, e.dead_edges), (6, 1));
    assert_eq!(e.weak_references, 0, "1's weak edge is not even read");
    assert_eq!(
        e.back_references, 1,
        "only 1 ⇢ 2, structural, through a flat 1"
    );
    // Without the strong root, 2 and 3 are flat only, and 8, 9 garbage.
    let e = oracle_with_back_references(&listed, &[(0, Flat)], &edges, &back);
    assert_eq!(e.garbage, [4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(e.flat_only, BTreeSet::from([0, 1, 2, 3]));
    assert!(e.strong.is_empty());
    // A structural root is a strong one.
    let e = oracle(&listed, &[(1, Structural)], &edges);
    assert_eq!(e.strong, BTreeSet::from([1, 4]));
    assert_eq!(e.flat_only, BTreeSet::from([5]));
    assert_eq!(
        (e.roots, e.weak_references, e.references_followed),
        (1, 1, 2)
    );
}
