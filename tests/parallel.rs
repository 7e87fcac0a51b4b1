//! The parallel mark ([`Collector::collect_parallel`]) against the
//! sequential one: the same garbage in the same order, the same live nodes,
//! the same counts, each reached node read exactly once, on random graphs
//! with every strength (structural included, so that nodes are reached flat
//! and strongly), dead edges (unlisted targets, which take extra rounds),
//! back-references of every strength and keys of both kinds (`u32`, whose references the
//! mark sets aside in batches, and `String`, resolved at once or a slice at
//! a time). Then what can go wrong with threads: a failing callback, a
//! panicking one, a time limit, and the checkpoints that cannot run while
//! the threads mark.
//!
//! The small-graph properties' case count comes from `PROPTEST_CASES`; the
//! large graphs are a fixed dozen, each large enough for the threads to
//! hand work to each other.

mod common;

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

use common::oracle::{Expected, oracle_with_back_references};
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{
    CollectionContext, Collector, Error, Flow, Node, NodeSink, Options, Phase, Progress, Reason,
    ReferenceSink, SharedContext, Stats, Strength,
};

type Key<K> = Node<u8, u8, K>;

/// A store whose references any number of threads may read at once. It
/// counts expansions per node and the threads that made them.
struct SharedStore<K> {
    listed: Vec<Key<K>>,
    roots: Vec<(Key<K>, Strength)>,
    edges: HashMap<Key<K>, Vec<(Key<K>, Strength)>>,
    /// `(child, parent, strength)`: `back_reference`, or `lives_with` for
    /// a structural one.
    bindings: Vec<(Key<K>, Key<K>, Strength)>,
    /// Emit a node's references a run of equal strength at a time.
    slices: bool,
    fail_at: Option<Key<K>>,
    panic_at: Option<Key<K>>,
    /// The first expansion sleeps this long.
    first_sleep: Option<Duration>,
    expansions: Mutex<HashMap<Key<K>, usize>>,
    /// Calls through `references` (`&mut self`), not `references_shared`.
    exclusive_calls: usize,
    threads: Mutex<HashSet<ThreadId>>,
    checkpoints: Vec<Phase>,
    abort_at_checkpoint: Option<usize>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("the store failed on purpose")]
struct StoreError;

impl<K> SharedStore<K> {
    fn new() -> Self {
        SharedStore {
            listed: Vec::new(),
            roots: Vec::new(),
            edges: HashMap::new(),
            bindings: Vec::new(),
            slices: false,
            fail_at: None,
            panic_at: None,
            first_sleep: None,
            expansions: Mutex::default(),
            exclusive_calls: 0,
            threads: Mutex::default(),
            checkpoints: Vec::new(),
            abort_at_checkpoint: None,
        }
    }
}

impl<K> CollectionContext for SharedStore<K>
where
    K: Eq + Hash + Clone + Debug + Send + Sync,
{
    type Kind = u8;
    type Namespace = u8;
    type Key = K;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, K>) -> Result<(), StoreError> {
        for node in &self.listed {
            nodes.push(node);
        }
        for (child, parent, strength) in &self.bindings {
            if *strength == Strength::Structural {
                nodes.lives_with(child, parent);
            } else {
                nodes.back_reference(child, parent, *strength);
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, K>) -> Result<(), StoreError> {
        for (node, strength) in &self.roots {
            roots.add(node, *strength);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Key<K>,
        refs: &mut ReferenceSink<'_, u8, u8, K>,
    ) -> Result<(), StoreError> {
        self.exclusive_calls += 1;
        self.references_shared(node, refs)
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        self.checkpoints.push(progress.phase);
        match self.abort_at_checkpoint {
            Some(k) if self.checkpoints.len() > k => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

impl<K> SharedContext for SharedStore<K>
where
    K: Eq + Hash + Clone + Debug + Send + Sync,
{
    fn references_shared(
        &self,
        node: &Key<K>,
        refs: &mut ReferenceSink<'_, u8, u8, K>,
    ) -> Result<(), StoreError> {
        let first = {
            let mut expansions = self.expansions.lock().unwrap();
            *expansions.entry(node.clone()).or_default() += 1;
            expansions.len() == 1
        };
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        if let Some(pause) = self.first_sleep.filter(|_| first) {
            std::thread::sleep(pause);
        }
        if self.fail_at.as_ref() == Some(node) {
            return Err(StoreError);
        }
        if self.panic_at.as_ref() == Some(node) {
            panic!("the store panics on purpose");
        }
        let targets = self.edges.get(node).map_or(&[][..], Vec::as_slice);
        if self.slices {
            for run in targets.chunk_by(|a, b| a.1 == b.1) {
                let nodes: Vec<Key<K>> = run.iter().map(|(node, _)| node.clone()).collect();
                refs.add_all(&nodes, run[0].1);
            }
        } else {
            for (i, (target, strength)) in targets.iter().enumerate() {
                if i % 2 == 0 {
                    refs.add(target, *strength);
                } else {
                    common::emit_named(refs, target, *strength);
                }
            }
        }
        Ok(())
    }
}

/// A graph by key number; `make` turns numbers into keys.
#[derive(Clone, Debug)]
struct Graph {
    universe: u32,
    listed: Vec<u32>,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
    /// `(child, parent, strength)`.
    bindings: Vec<(u32, u32, Strength)>,
}

impl Graph {
    fn store<K: Eq + Hash>(&self, make: fn(u32) -> K, slices: bool) -> SharedStore<K> {
        let node = |k: u32| Node::new(1, 0, make(k));
        let mut store = SharedStore::new();
        store.listed = self.listed.iter().map(|&k| node(k)).collect();
        store.roots = self.roots.iter().map(|&(k, s)| (node(k), s)).collect();
        for &(from, to, strength) in &self.edges {
            store
                .edges
                .entry(node(from))
                .or_default()
                .push((node(to), strength));
        }
        store.bindings = self
            .bindings
            .iter()
            .map(|&(child, parent, s)| (node(child), node(parent), s))
            .collect();
        store.slices = slices;
        store
    }
}

fn graph(max_listable: u32, max_edges: usize) -> impl Strategy<Value = Graph> {
    (0..=max_listable, 0u32..=6)
        .prop_flat_map(move |(listable, unlisted)| {
            let universe = (listable + unlisted).max(1);
            let listed = vec(0..listable.max(1), 0..=listable as usize * 3 / 2);
            let roots = vec((0..universe, common::any_strength()), 0..=8);
            let edges = vec(
                (0..universe, 0..universe, common::any_strength()),
                0..=max_edges,
            );
            let bindings = vec((0..universe, 0..universe, common::any_strength()), 0..=6);
            (Just(universe), listed, roots, edges, bindings)
        })
        .prop_map(|(universe, listed, roots, edges, bindings)| Graph {
            universe,
            listed,
            roots,
            edges,
            bindings,
        })
}

/// A large graph, made from `seed`: `listable` nodes, many roots and a
/// wide, deep web of mostly strong edges, a tenth of the targets unlisted.
fn large_graph(seed: u64, listable: u32) -> Graph {
    let mut state = seed | 1;
    let mut next = move |below: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % u64::from(below)) as u32
    };
    let universe = listable + listable / 10;
    let strength = |r: u32| match r {
        0 => Strength::Weak,
        1 | 2 => Strength::Flat,
        3 | 4 => Strength::Structural,
        _ => Strength::Strong,
    };
    Graph {
        universe,
        listed: (0..listable).collect(),
        roots: (0..20)
            .map(|_| (next(universe), strength(next(8))))
            .collect(),
        edges: (0..listable * 2)
            .map(|_| (next(universe), next(universe), strength(next(8))))
            .collect(),
        bindings: (0..listable / 50)
            .map(|_| (next(universe), next(universe), strength(next(8))))
            .collect(),
    }
}

/// What a collection answered, with its timings zeroed.
#[derive(Debug, PartialEq)]
struct Outcome<K> {
    garbage: Vec<K>,
    live: Vec<K>,
    stats: Stats,
    expansions: Vec<(K, usize)>,
}

fn outcome<K>(
    result: Result<resource_gc::Collection<'_, u8, u8, K>, impl Debug>,
    store: &SharedStore<K>,
) -> Outcome<K>
where
    K: Eq + Hash + Ord + Clone + Debug,
{
    let collection = result.expect("the store does not fail");
    let mut stats = collection.stats().clone();
    stats.listing_time = Duration::ZERO;
    stats.mark_time = Duration::ZERO;
    stats.sweep_time = Duration::ZERO;
    let mut expansions: Vec<(K, usize)> = store
        .expansions
        .lock()
        .unwrap()
        .iter()
        .map(|(node, &count)| (node.key.clone(), count))
        .collect();
    expansions.sort();
    Outcome {
        garbage: collection.garbage().map(|n| n.key.clone()).collect(),
        live: collection.live().map(|n| n.key.clone()).collect(),
        stats,
        expansions,
    }
}

fn threads(n: usize) -> Options {
    let mut options = Options::default();
    options.mark_threads = n;
    options
}

/// Collects `g` sequentially and on `n` threads, with keys from `make`,
/// and compares.
fn same_both_ways<K>(
    g: &Graph,
    make: fn(u32) -> K,
    slices: bool,
    n: usize,
) -> Result<(), TestCaseError>
where
    K: Eq + Hash + Ord + Clone + Debug + Send + Sync,
{
    let mut store = g.store(make, slices);
    let sequential = outcome(Collector::new().collect(&mut store), &store);
    let mut store = g.store(make, slices);
    let mut gc = Collector::new();
    let parallel = outcome(gc.collect_parallel(&mut store, &threads(n)), &store);
    prop_assert_eq!(&parallel, &sequential);
    prop_assert!(parallel.expansions.iter().all(|&(_, count)| count == 1));
    // Reused: the same again.
    let mut store = g.store(make, slices);
    let again = outcome(gc.collect_parallel(&mut store, &threads(n)), &store);
    prop_assert_eq!(&again, &sequential);
    Ok(())
}

fn string_key(k: u32) -> String {
    format!("key-{k}")
}

fn u32_key(k: u32) -> u32 {
    k
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn parallel_marks_what_the_sequential_mark_marks(
        g in graph(40, 100),
        n in 2usize..=4,
        slices in any::<bool>(),
    ) {
        same_both_ways(&g, u32_key, slices, n)?;
        same_both_ways(&g, string_key, slices, n)?;
    }

    #[test]
    fn parallel_matches_the_oracle(g in graph(40, 100), n in 2usize..=4) {
        let mut store = g.store(u32_key, false);
        let observed = outcome(Collector::new().collect_parallel(&mut store, &threads(n)), &store);
        matches_the_oracle(&g, &observed)?;
    }
}

impl Graph {
    fn oracle(&self) -> Expected {
        oracle_with_back_references(&self.listed, &self.roots, &self.edges, &self.bindings)
    }
}

/// `observed` (with `u32` keys) is the oracle's answer for `g`: garbage,
/// live nodes, counts, and every reached node read exactly once.
fn matches_the_oracle(g: &Graph, observed: &Outcome<u32>) -> Result<(), TestCaseError> {
    let e = g.oracle();
    prop_assert_eq!(&observed.garbage, &e.garbage);
    prop_assert_eq!(&observed.live, &e.live_listed);
    let s = &observed.stats;
    prop_assert_eq!(s.nodes_marked, e.live.len());
    prop_assert_eq!(s.nodes_expanded, e.strong.len());
    prop_assert_eq!(s.nodes_expanded_flat, e.flat_only.len());
    prop_assert_eq!(s.roots, e.roots);
    prop_assert_eq!(s.references_followed, e.references_followed);
    prop_assert_eq!(s.weak_references, e.weak_references);
    prop_assert_eq!(s.dead_edges, e.dead_edges);
    prop_assert_eq!(s.roots_by_kind.back_references, e.back_references);
    let read: Vec<(u32, usize)> = e.live.iter().map(|&k| (k, 1)).collect();
    prop_assert_eq!(&observed.expansions, &read, "each reached node read once");
    Ok(())
}

/// Chains of structural references under a flat root, half of them also
/// reached strongly at their middle from a strong root: the threads do the
/// strong work while flat structure waits. Each chain node references a
/// bait of its own strongly, kept only where the chain is reached strongly.
fn flat_and_strong_chains(width: u32, depth: u32) -> Graph {
    use Strength::{Flat, Strong, Structural, Weak};
    let chain = |c: u32, d: u32| 2 + c * depth + d;
    let nodes = 2 + width * depth;
    let bait = |k: u32| nodes + k;
    let mut g = Graph {
        universe: 2 * nodes,
        listed: (0..2 * nodes).collect(),
        roots: vec![(0, Flat), (1, Strong)],
        edges: Vec::new(),
        bindings: Vec::new(),
    };
    for c in 0..width {
        g.edges.push((0, chain(c, 0), Structural));
        if c % 2 == 0 {
            g.edges.push((1, chain(c, depth / 2), Strong));
        }
        for d in 0..depth {
            let k = chain(c, d);
            if d + 1 < depth {
                if d % 3 == 0 {
                    g.bindings.push((chain(c, d + 1), k, Structural));
                } else {
                    g.edges.push((k, chain(c, d + 1), Structural));
                }
            }
            g.edges.push((k, bait(k), Strong));
            g.edges.push((k, bait(k), Weak));
        }
    }
    g
}

#[test]
fn threads_do_strong_work_and_flat_structure_waits_for_it() {
    let g = flat_and_strong_chains(128, 40);
    for n in [2, 4] {
        let checked = same_both_ways(&g, u32_key, false, n).and_then(|()| {
            let mut store = g.store(u32_key, n == 4);
            let mut gc = Collector::new();
            let observed = outcome(gc.collect_parallel(&mut store, &threads(n)), &store);
            prop_assert!(store.threads.lock().unwrap().len() > 1, "threads marked");
            matches_the_oracle(&g, &observed)
        });
        if let Err(failure) = checked {
            panic!("{n} threads: {failure}");
        }
    }
    let e = g.oracle();
    // The strong root, and half of the even chains with their baits.
    assert_eq!(e.strong.len(), 1 + 64 * 20 * 2);
    // The flat root, the odd chains, the first half of the even ones.
    assert_eq!(e.flat_only.len(), 1 + 64 * 40 + 64 * 20);
}

/// Large enough for the threads to hand work to each other; a fixed set
/// of seeds, because `PROPTEST_CASES` would override a fixed case count.
#[test]
fn parallel_marks_large_graphs_as_the_sequential_mark() {
    for seed in 0..12u64 {
        let g = large_graph(seed, 2_000 + 350 * seed as u32);
        let n = [2, 3, 8, 16][seed as usize % 4];
        let slices = seed % 3 == 0;
        let checked = same_both_ways(&g, u32_key, slices, n)
            .and_then(|()| same_both_ways(&g, string_key, slices, n))
            .and_then(|()| {
                let mut store = g.store(u32_key, slices);
                let mut gc = Collector::new();
                let observed = outcome(gc.collect_parallel(&mut store, &threads(n)), &store);
                matches_the_oracle(&g, &observed)
            });
        if let Err(failure) = checked {
            panic!("seed {seed}: {failure}");
        }
    }
}

/// Node `k` of the fixed graphs: a root fanning out to `width` chains of
/// `depth` nodes each, so every thread has work.
fn fan(width: u32, depth: u32) -> SharedStore<u32> {
    let mut g = Graph {
        universe: 1 + width * depth,
        listed: (0..1 + width * depth).collect(),
        roots: vec![(0, Strength::Strong)],
        edges: Vec::new(),
        bindings: Vec::new(),
    };
    for chain in 0..width {
        let first = 1 + chain * depth;
        g.edges.push((0, first, Strength::Strong));
        for k in first..first + depth - 1 {
            g.edges.push((k, k + 1, Strength::Strong));
        }
    }
    // And one garbage node, so there is something to sweep.
    g.listed.push(g.universe);
    g.universe += 1;
    g.store(u32_key, false)
}

fn key(k: u32) -> Key<u32> {
    Node::new(1, 0, k)
}

#[test]
fn the_threads_share_the_work() {
    let mut store = fan(64, 1_000);
    let options = threads(2);
    let mut gc = Collector::new();
    let garbage: Vec<u32> = gc
        .collect_parallel(&mut store, &options)
        .unwrap()
        .garbage()
        .map(|n| n.key)
        .collect();
    assert_eq!(garbage, [64_001]);
    assert_eq!(
        store.threads.lock().unwrap().len(),
        2,
        "both threads expanded nodes"
    );
}

#[test]
fn a_failing_callback_on_any_thread_sweeps_nothing() {
    for at in [0, 1, 500, 40_000, 63_999] {
        let mut store = fan(64, 1_000);
        store.fail_at = Some(key(at));
        let mut gc = Collector::new();
        let err = gc.collect_parallel(&mut store, &threads(2)).unwrap_err();
        match err {
            Error::References { node, source } => {
                assert_eq!((node, source), (key(at), StoreError));
            }
            other => panic!("expected the callback's error, got {other}"),
        }
        // The collector is usable afterwards.
        store.fail_at = None;
        let swept = gc.collect_parallel(&mut store, &threads(2)).unwrap();
        assert_eq!(swept.garbage().len(), 1);
    }
}

#[test]
fn a_panicking_callback_on_any_thread_unwinds_and_leaves_the_collector_usable() {
    for at in [0, 1, 500, 40_000, 63_999] {
        let mut store = fan(64, 1_000);
        store.panic_at = Some(key(at));
        let mut gc = Collector::new();
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            gc.collect_parallel(&mut store, &threads(3))
                .map(|c| c.garbage().len())
        }));
        let payload = unwound.expect_err("the panic reaches the caller");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the store panics on purpose"),
            "the store's own panic, at {at}"
        );
        store.panic_at = None;
        let swept = gc.collect_parallel(&mut store, &threads(3)).unwrap();
        assert_eq!(swept.garbage().len(), 1);
    }
}

#[test]
fn the_time_limit_holds_while_the_threads_mark() {
    // The first expansion outlasts the limit; listing and roots are far
    // quicker than it, so the threads are the ones to notice.
    let mut store = fan(64, 1_000);
    store.first_sleep = Some(Duration::from_millis(600));
    let mut options = threads(2);
    options.time_limit = Some(Duration::from_millis(300));
    let err = Collector::new()
        .collect_parallel(&mut store, &options)
        .unwrap_err();
    match err {
        Error::TimedOut { phase, .. } => assert_eq!(phase, Phase::Marking),
        other => panic!("expected a time-out, got {other}"),
    }
    let expanded = store.expansions.lock().unwrap().len();
    assert!(expanded < 64_001, "stopped early: {expanded} expanded");
}

#[test]
fn checkpoints_come_before_and_after_the_threads_mark() {
    let mut store = fan(64, 1_000);
    Collector::new()
        .collect_parallel(&mut store, &threads(2))
        .unwrap();
    assert_eq!(
        store.checkpoints,
        [Phase::Listing, Phase::Roots, Phase::Marking]
    );
    // Sequentially, there are more: every few thousand expansions.
    let mut store = fan(64, 1_000);
    Collector::new().collect(&mut store).unwrap();
    assert!(store.checkpoints.len() > 3);
    // An abort once the threads are done sweeps nothing.
    let mut store = fan(64, 1_000);
    store.abort_at_checkpoint = Some(2);
    let err = Collector::new()
        .collect_parallel(&mut store, &threads(2))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Marking
            }
        ),
        "{err}"
    );
}

#[test]
fn explaining_marks_on_one_thread_and_explains() {
    let mut store = fan(4, 10);
    let mut options = threads(4);
    options.explain = true;
    let mut gc = Collector::new();
    let collection = gc.collect_parallel(&mut store, &options).unwrap();
    let path = collection.why_live(&key(10)).expect("node 10 is live");
    let keys: Vec<u32> = path.iter().map(|step| step.node.key).collect();
    assert_eq!(keys, (0..=10).collect::<Vec<_>>());
    assert_eq!(path[10].reason, Reason::Reference(Strength::Strong));
    assert_eq!(store.threads.lock().unwrap().len(), 1);
}

#[test]
fn unlisted_targets_take_more_rounds() {
    // 0 → 100 → 101 → 102 → 1: the middle is never listed, and each
    // unlisted node is interned between rounds before it is expanded.
    let g = Graph {
        universe: 103,
        listed: vec![0, 1, 2],
        roots: vec![(0, Strength::Strong)],
        edges: vec![
            (0, 100, Strength::Strong),
            (100, 101, Strength::Strong),
            (101, 102, Strength::Strong),
            (102, 1, Strength::Strong),
        ],
        bindings: Vec::new(),
    };
    let mut store = g.store(u32_key, false);
    let mut gc = Collector::new();
    let collection = gc.collect_parallel(&mut store, &threads(2)).unwrap();
    let garbage: Vec<u32> = collection.garbage().map(|n| n.key).collect();
    assert_eq!(garbage, [2]);
    assert_eq!(collection.stats().dead_edges, 3);
    assert_eq!(collection.stats().nodes_expanded, 5);
}

#[test]
fn the_time_limit_holds_along_a_chain_the_listing_never_named() {
    // 0 → 1 → … → 20_000, none listed but the root: a mark with one grey
    // node at a time, which the calling thread does alone.
    let mut store: SharedStore<u32> = SharedStore::new();
    store.listed = vec![key(0)];
    store.roots = vec![(key(0), Strength::Strong)];
    for k in 0..20_000 {
        store
            .edges
            .insert(key(k), vec![(key(k + 1), Strength::Strong)]);
    }
    store.first_sleep = Some(Duration::from_millis(300));
    let mut options = threads(2);
    options.time_limit = Some(Duration::from_millis(100));
    let err = Collector::new()
        .collect_parallel(&mut store, &options)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                phase: Phase::Marking,
                ..
            }
        ),
        "{err}"
    );
    let expanded = store.expansions.lock().unwrap().len();
    assert!(expanded <= 2 * 4_096, "stopped early: {expanded} expanded");
}

#[test]
fn too_many_threads_is_invalid_and_zero_asks_the_system() {
    let mut store = fan(64, 100);
    let err = Collector::new()
        .collect_parallel(&mut store, &threads(257))
        .unwrap_err();
    match err {
        Error::InvalidOptions { reason } => assert!(reason.contains("257"), "{reason}"),
        other => panic!("expected invalid options, got {other}"),
    }
    assert!(store.expansions.lock().unwrap().is_empty(), "nothing ran");
    let mut gc = Collector::new();
    let swept = gc.collect_parallel(&mut store, &threads(0)).unwrap();
    assert_eq!(swept.garbage().map(|n| n.key).collect::<Vec<_>>(), [6_401]);
    // Wide enough that 256 threads start: 16 grey nodes each.
    let mut store = fan(5_000, 2);
    let swept = gc.collect_parallel(&mut store, &threads(256)).unwrap();
    assert_eq!(swept.garbage().len(), 1);
    assert!(store.threads.lock().unwrap().len() > 1);
}

#[test]
fn one_thread_and_explain_mark_through_references() {
    for (n, explain, exclusive) in [(1, false, true), (4, true, true), (2, false, false)] {
        let mut store = fan(64, 100);
        let mut options = threads(n);
        options.explain = explain;
        Collector::new()
            .collect_parallel(&mut store, &options)
            .unwrap();
        let expanded = store.expansions.lock().unwrap().len();
        let expected = if exclusive { expanded } else { 0 };
        assert_eq!(
            store.exclusive_calls, expected,
            "{n} threads, explain {explain}"
        );
    }
}

/// A collection in two parts whose long part marks on several threads
/// (`Marking::mark_parallel`) answers as the one-call sequential one; a
/// report made during it keeps what it names.
#[test]
fn a_two_part_collection_marks_in_parallel_as_in_sequence() {
    for seed in 0..4u64 {
        let g = large_graph(seed, 3_000);
        let n = [2, 3, 8, 16][seed as usize];
        let mut store = g.store(u32_key, seed % 2 == 0);
        let sequential = outcome(Collector::new().collect(&mut store), &store);

        let mut store = g.store(u32_key, seed % 2 == 0);
        let mut gc = Collector::new();
        let barrier = gc.barrier();
        let mut marking = gc.start(&threads(n));
        marking.mark_parallel(&mut store).unwrap();
        let mut stats_free = outcome(marking.finish(&mut store), &store);
        assert_eq!(stats_free.garbage, sequential.garbage, "seed {seed}");
        assert_eq!(stats_free.live, sequential.live, "seed {seed}");
        stats_free.stats.reported = 0;
        assert_eq!(stats_free.stats, sequential.stats, "seed {seed}");
        assert!(!barrier.is_collecting());

        // The same, with the first garbage node reported while it marks.
        let Some(&kept) = sequential.garbage.first() else {
            continue;
        };
        let mut store = g.store(u32_key, seed % 2 == 0);
        let mut marking = gc.start(&threads(n));
        barrier.keep(&key(kept));
        marking.mark_parallel(&mut store).unwrap();
        let collection = marking.finish(&mut store).unwrap();
        assert!(collection.is_live(&key(kept)), "seed {seed}");
        assert_eq!(collection.stats().reported, 1);
        assert!(collection.garbage().len() < sequential.garbage.len());
    }
}
