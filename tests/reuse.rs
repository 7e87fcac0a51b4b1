//! A `Collector` is reused across collections: it keeps its allocations,
//! and drops the last collection's nodes at the start of the next one.
//! None of that may show in the results: each collection must answer exactly as
//! a fresh collector would, as the store changes underneath, and after
//! collections that failed, aborted, timed out or panicked.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::oracle::{Expected, oracle_with_back_references};
use common::{Fault, MemStore, StoreError, TestNode, expansions, n};
use resource_gc::{
    CollectionContext, Collector, NodeSink, Options, ReferenceSink, Strength,
    Strength::{Flat, Strong, Structural, Weak},
};

type Gc = Collector<u8, u8, u32>;

/// Live and garbage keys of one collection, each in listing order.
fn run(gc: &mut Gc, store: &mut MemStore) -> (Vec<u32>, Vec<u32>) {
    let result = gc.collect(store).expect("the store does not fail");
    (
        result.live().map(|node| node.key).collect(),
        result.garbage().map(|node| node.key).collect(),
    )
}

/// The garbage keys, in listing order.
fn garbage(gc: &mut Gc, store: &mut MemStore) -> Vec<u32> {
    run(gc, store).1
}

/// containerd's `TestGCRoots` graph: A..H = 0..7; roots {A, C}; A→B,
/// B→A, C→D, C→F, C→B, E→F, E→G, F→H.
fn containerd_canonical() -> MemStore {
    let mut store = MemStore::with_nodes(8);
    store.root(0, Strong).root(2, Strong);
    for (from, to) in [
        (0, 1),
        (1, 0),
        (2, 3),
        (2, 5),
        (2, 1),
        (4, 5),
        (4, 6),
        (5, 7),
    ] {
        store.edge(from, to, Strong);
    }
    store
}

/// Removes `key` from the store: no longer listed, and its edges gone.
fn remove(store: &mut MemStore, key: u32) {
    store.listed.retain(|node| node.key != key);
    store.edges.remove(&n(key));
}

#[test]
fn the_canonical_store_collected_removed_and_collected_again() {
    let mut gc = Collector::new();
    let mut store = containerd_canonical();
    assert_eq!(garbage(&mut gc, &mut store), [4, 6]);

    // The store removes E and G: nothing left to sweep.
    remove(&mut store, 4);
    remove(&mut store, 6);
    assert_eq!(run(&mut gc, &mut store), (vec![0, 1, 2, 3, 5, 7], vec![]));

    // C is no longer a root: C, D, F, H go.
    store.roots.retain(|(node, _)| *node != n(2));
    assert_eq!(run(&mut gc, &mut store), (vec![0, 1], vec![2, 3, 5, 7]));

    // And with no roots at all, A and B go too.
    store.roots.clear();
    assert_eq!(garbage(&mut gc, &mut store), [0, 1, 2, 3, 5, 7]);
}

#[test]
fn the_same_store_collected_twice_gives_the_same_answer() {
    let mut gc = Collector::new();
    let mut store = containerd_canonical();
    let first = run(&mut gc, &mut store);
    let second = run(&mut gc, &mut store);
    assert_eq!(first, second);
    assert_eq!(second, (vec![0, 1, 2, 3, 5, 7], vec![4, 6]));
}

#[test]
fn a_node_swept_then_re_added_and_referenced_is_live() {
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Strong);
    assert_eq!(garbage(&mut gc, &mut store), [2]);

    remove(&mut store, 2);
    assert_eq!(garbage(&mut gc, &mut store), []);

    // 2 comes back, and 1 references it now.
    store.listed.push(n(2));
    store.edge(1, 2, Strong);
    assert_eq!(run(&mut gc, &mut store), (vec![0, 1, 2], vec![]));
}

#[test]
fn a_node_swept_and_still_listed_next_time_is_swept_again() {
    // The store did not remove it: the collector still reports it.
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong);
    assert_eq!(garbage(&mut gc, &mut store), [1, 2]);
    assert_eq!(garbage(&mut gc, &mut store), [1, 2]);
}

#[test]
fn a_node_live_last_time_and_unreferenced_now_is_garbage() {
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Strong).edge(1, 2, Strong);
    assert_eq!(garbage(&mut gc, &mut store), []);
    store.edges.remove(&n(0));
    let mut result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1), &n(2)]);
    assert!(
        !result.is_live(&n(1)),
        "last collection's marks are forgotten"
    );
    result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().len(), 2);
}

#[test]
fn a_node_live_last_time_and_gone_now_is_neither_live_nor_garbage() {
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Strong);
    assert_eq!(garbage(&mut gc, &mut store), [2]);
    remove(&mut store, 1);
    store.edges.remove(&n(0));
    let result = gc.collect(&mut store).unwrap();
    assert!(!result.is_live(&n(1)));
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(2)]);
    assert_eq!(result.live().collect::<Vec<_>>(), [&n(0)]);
    assert_eq!(result.stats().nodes_listed, 2);
}

#[test]
fn a_node_live_last_time_and_unlisted_now_but_referenced_is_a_dead_edge() {
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Flat).edge(1, 2, Strong);
    assert_eq!(garbage(&mut gc, &mut store), [2]);
    store.listed.retain(|node| node.key != 1);
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 1);
    assert!(result.is_live(&n(1)));
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(2)]);
}

#[test]
fn an_unlisted_target_of_last_time_is_a_candidate_once_listed() {
    // First 0 → 9 with 9 unlisted (kept, never swept). Then 9 is listed
    // and nothing references it: it must be garbage.
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(1);
    store.root(0, Strong).edge(0, 9, Strong);
    assert_eq!(garbage(&mut gc, &mut store), []);
    store.listed.push(n(9));
    store.edges.clear();
    assert_eq!(run(&mut gc, &mut store), (vec![0], vec![9]));
}

#[test]
fn garbage_follows_this_listings_order_not_the_collectors_table() {
    // The first collection keeps 2 and 4; the second lists them amid new
    // nodes, in another order. The sweep order is the second listing's.
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(5);
    store.root(2, Strong).root(4, Strong);
    assert_eq!(garbage(&mut gc, &mut store), [0, 1, 3]);
    store.roots.clear();
    store.listed = [7, 4, 0, 2, 8, 3].map(n).to_vec();
    assert_eq!(garbage(&mut gc, &mut store), [7, 4, 0, 2, 8, 3]);
}

#[test]
fn a_store_that_grows_and_shrinks_between_collections() {
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(10);
    store.root(0, Strong);
    for key in 0..9 {
        store.edge(key, key + 1, Strong);
    }
    assert_eq!(garbage(&mut gc, &mut store), []);
    // Grow to 1000: only 0..10 are reachable.
    store.listed = (0..1000).map(n).collect();
    assert_eq!(garbage(&mut gc, &mut store), (10..1000).collect::<Vec<_>>());
    // Shrink to 0..5 and cut the chain after 2.
    store.listed = (0..5).map(n).collect();
    store.edges.remove(&n(2));
    assert_eq!(garbage(&mut gc, &mut store), [3, 4]);
    // Nothing listed at all.
    store.listed.clear();
    assert_eq!(run(&mut gc, &mut store), (vec![], vec![]));
    // Back to ten.
    store.listed = (0..10).map(n).collect();
    assert_eq!(garbage(&mut gc, &mut store), [3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn one_collector_alternating_between_two_stores() {
    let mut gc = Collector::new();
    let mut canonical = containerd_canonical();
    let mut other = MemStore {
        listed: (5..12).map(n).collect(),
        ..MemStore::default()
    };
    other.root(11, Strong).edge(11, 5, Strong);
    for _ in 0..3 {
        assert_eq!(garbage(&mut gc, &mut canonical), [4, 6]);
        assert_eq!(garbage(&mut gc, &mut other), [6, 7, 8, 9, 10]);
    }
}

#[test]
fn a_collector_with_its_own_hasher_is_reusable_too() {
    let mut gc = Collector::with_hasher(foldhash::fast::FixedState::with_seed(7));
    let mut store = containerd_canonical();
    let swept: Vec<u32> = gc
        .collect(&mut store)
        .unwrap()
        .garbage()
        .map(|node| node.key)
        .collect();
    assert_eq!(swept, [4, 6]);
    store.roots.clear();
    store.root(4, Strong);
    let swept: Vec<u32> = gc
        .collect(&mut store)
        .unwrap()
        .garbage()
        .map(|node| node.key)
        .collect();
    assert_eq!(swept, [0, 1, 2, 3]);
}

#[test]
fn after_each_kind_of_failure_the_next_collection_is_correct() {
    let faults = [
        (Fault::FailListing, "listing the nodes failed"),
        (Fault::FailRoots, "reading the roots failed"),
        (
            Fault::FailReferencesOf(n(5)),
            "reading the references of Node { kind: 1, namespace: 0, key: 5 } failed",
        ),
        (
            Fault::AbortAtCheckpoint(0),
            "the collection was aborted during listing",
        ),
        (
            Fault::AbortAtCheckpoint(1),
            "the collection was aborted during roots",
        ),
        (
            Fault::AbortAtCheckpoint(2),
            "the collection was aborted during marking",
        ),
    ];
    for (fault, message) in faults {
        let mut gc = Collector::new();
        let mut store = containerd_canonical();
        assert_eq!(garbage(&mut gc, &mut store), [4, 6], "{fault:?}");
        // The failing collection sees a changed store: root E, not C.
        store.roots = vec![(n(4), Strong)];
        store.fault = fault.clone();
        // MemStore counts checkpoints over its lifetime; count this run's.
        store.checkpoints = 0;
        let err = gc
            .collect(&mut store)
            .map(|result| result.garbage().count());
        assert_eq!(err.unwrap_err().to_string(), message);
        // The next one sees it changed again: root B, node 8 new.
        store.fault = Fault::None;
        store.roots = vec![(n(1), Strong)];
        store.listed.push(n(8));
        assert_eq!(
            run(&mut gc, &mut store),
            (vec![0, 1], vec![2, 3, 4, 5, 6, 7, 8]),
            "{fault:?}"
        );
    }
}

#[test]
fn after_a_time_out_the_next_collection_is_correct() {
    let mut gc = Collector::new();
    let mut store = SlowListing(containerd_canonical());
    let mut options = Options::default();
    options.time_limit = Some(Duration::from_nanos(1));
    assert!(gc.collect_with(&mut store, &options).is_err());
    store.0.roots = vec![(n(4), Strong)];
    let swept: Vec<u32> = gc
        .collect(&mut store)
        .unwrap()
        .garbage()
        .map(|node| node.key)
        .collect();
    assert_eq!(swept, [0, 1, 2, 3]);
}

#[test]
fn after_two_failures_in_a_row_the_next_collection_is_correct() {
    // Two failed collections in a row: the table is never pruned in
    // between, and must still not leak into the results.
    let mut gc = Collector::new();
    let mut store = containerd_canonical();
    assert_eq!(garbage(&mut gc, &mut store), [4, 6]);
    store.fault = Fault::FailReferencesOf(n(7));
    assert!(gc.collect(&mut store).is_err());
    store.listed.push(n(20));
    store.edge(7, 20, Strong);
    assert!(gc.collect(&mut store).is_err());
    store.fault = Fault::None;
    store.edges.remove(&n(7));
    assert_eq!(garbage(&mut gc, &mut store), [4, 6, 20]);
}

/// A store whose listing takes a couple of milliseconds.
struct SlowListing(MemStore);

impl CollectionContext for SlowListing {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.0.roots(roots)
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        self.0.references(node, refs)
    }
}

// A long run of collections over a store that churns, checked at every
// step against the oracle of `common::oracle`. Some steps fail, abort or
// panic on purpose.

/// A small deterministic generator, so that a failure replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % u64::from(bound)) as u32
    }

    fn strength(&mut self) -> Strength {
        [Strong, Strong, Strong, Flat, Structural, Structural, Weak][self.below(7) as usize]
    }
}

/// The oracle's answer for `store` as it is.
fn expected(store: &MemStore) -> Expected {
    let listed: Vec<u32> = store.listed.iter().map(|node| node.key).collect();
    let roots: Vec<(u32, Strength)> = store.roots.iter().map(|(k, s)| (k.key, *s)).collect();
    let mut edges = Vec::new();
    for (from, targets) in &store.edges {
        edges.extend(targets.iter().map(|(to, s)| (from.key, to.key, *s)));
    }
    let back: Vec<(u32, u32, Strength)> = store
        .back_references
        .iter()
        .map(|(child, parent, s)| (child.key, parent.key, *s))
        .collect();
    oracle_with_back_references(&listed, &roots, &edges, &back)
}

/// One of the store's roots, or any node if it has none: a fault there is
/// likely to fire.
fn some_root(store: &MemStore, rng: &mut Lcg) -> TestNode {
    match store.roots.len() as u32 {
        0 => n(rng.below(40)),
        len => store.roots[rng.below(len) as usize].0.clone(),
    }
}

/// Changes the store a little: nodes come and go (some listed twice),
/// edges and roots are added and dropped. Keys run over `0..40`, so some
/// edges lead to nodes that are not listed.
fn churn(store: &mut MemStore, rng: &mut Lcg) {
    for _ in 0..4 {
        let key = rng.below(40);
        match rng.below(8) {
            6 => {
                let (parent, strength) = (rng.below(40), rng.strength());
                store.back_reference(key, parent, strength);
            }
            7 => store
                .back_references
                .retain(|(child, _, _)| child.key != key),
            0 | 1 => store.listed.push(n(key)),
            2 => store.listed.retain(|node| node.key != key),
            3 => {
                let to = rng.below(40);
                let strength = rng.strength();
                store.edge(key, to, strength);
            }
            4 => {
                store.edges.remove(&n(key));
            }
            _ => {
                // Adding is likelier than removing, so that a fair share of
                // the store stays live.
                if rng.below(3) != 0 || store.roots.is_empty() {
                    let strength = rng.strength();
                    store.root(key, strength);
                } else {
                    let at = rng.below(store.roots.len() as u32) as usize;
                    store.roots.remove(at);
                }
            }
        }
    }
}

#[test]
fn a_long_run_over_a_churning_store_matches_the_oracle_at_every_step() {
    let mut rng = Lcg(0x5eed);
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(30);
    for _ in 0..80 {
        let (from, to) = (rng.below(30), rng.below(40));
        let strength = rng.strength();
        store.edge(from, to, strength);
    }
    store.root(0, Strong).root(1, Flat).root(2, Strong);

    for step in 0..300 {
        churn(&mut store, &mut rng);
        // One step in five goes wrong first, on the store as it is now.
        let fault = match rng.below(15) {
            0 => Fault::FailListing,
            1 => Fault::AbortAtCheckpoint(rng.below(3) as usize),
            2 => Fault::FailReferencesOf(some_root(&store, &mut rng)),
            _ => Fault::None,
        };
        if fault != Fault::None {
            store.fault = fault;
            store.checkpoints = 0;
            // The fault may not fire (an unreached node): then it succeeds.
            let _ = gc
                .collect(&mut store)
                .map(|result| result.garbage().count());
            store.fault = Fault::None;
        }
        if rng.below(10) == 0 {
            store.fault = Fault::PanicInReferencesOf(some_root(&store, &mut rng));
            let _ = catch_unwind(AssertUnwindSafe(|| gc.collect(&mut store).is_ok()));
            store.fault = Fault::None;
        }

        let e = expected(&store);
        store.expansions.clear();
        let result = gc.collect(&mut store).unwrap();
        let swept: Vec<u32> = result.garbage().map(|node| node.key).collect();
        assert_eq!(swept, e.garbage, "step {step}");
        for key in 0..40 {
            assert_eq!(
                result.is_live(&n(key)),
                e.live.contains(&key),
                "step {step}, key {key}"
            );
        }
        let s = result.stats();
        assert_eq!(
            (s.nodes_expanded, s.nodes_expanded_flat),
            (e.strong.len(), e.flat_only.len()),
            "step {step}"
        );
        drop(result);
        let read: Vec<(u32, usize)> = e.live.iter().map(|&k| (k, 1)).collect();
        assert_eq!(expansions(&store), read, "step {step}");
    }
}

#[test]
fn reused_and_fresh_collectors_agree_on_every_step_of_a_churning_store() {
    // The same churn, compared with a fresh collector each step rather than
    // with the plain search: counts must agree too, not only the sweep.
    let mut rng = Lcg(0xc0ffee);
    let mut reused = Collector::new();
    let mut store = MemStore::with_nodes(30);
    store.root(0, Strong);
    for step in 0..100 {
        churn(&mut store, &mut rng);
        let mut fresh = Collector::new();
        let expected = fresh.collect(&mut store).unwrap();
        let result = reused.collect(&mut store).unwrap();
        assert!(result.garbage().eq(expected.garbage()), "step {step}");
        assert!(result.live().eq(expected.live()), "step {step}");
        let (a, b) = (result.stats(), expected.stats());
        let counts = |s: &resource_gc::Stats| {
            (
                s.nodes_listed,
                s.roots,
                s.nodes_marked,
                s.nodes_expanded,
                s.nodes_expanded_flat,
                s.roots_by_kind.back_references,
                s.references_followed,
                s.weak_references,
                s.dead_edges,
                s.nodes_swept,
            )
        };
        assert_eq!(counts(a), counts(b), "step {step}");
    }
}

#[test]
fn a_node_reached_flat_then_strongly_then_flat_again_is_read_as_reached_each_time() {
    // 0 flat root ⇢ 1 structural; 1 → 2 strong, 1 ⇢ 3 structural. Then a
    // strong root 4 → 1 too, then not again: the last collection's reach
    // must not leak into the next.
    let mut gc = Collector::new();
    let mut store = MemStore::with_nodes(5);
    store
        .root(0, Flat)
        .edge(0, 1, Structural)
        .edge(1, 2, Strong)
        .edge(1, 3, Structural)
        .edge(4, 1, Strong);
    let flat = |gc: &mut Gc, store: &mut MemStore| {
        store.expansions.clear();
        let result = gc.collect(store).unwrap();
        let s = result.stats();
        assert_eq!((s.nodes_expanded, s.nodes_expanded_flat), (0, 3));
        assert_eq!(result.garbage().map(|n| n.key).collect::<Vec<_>>(), [2, 4]);
        drop(result);
        assert_eq!(expansions(store), [(0, 1), (1, 1), (3, 1)]);
    };
    flat(&mut gc, &mut store);
    store.root(4, Strong);
    store.expansions.clear();
    let result = gc.collect(&mut store).unwrap();
    let s = result.stats();
    assert_eq!((s.nodes_expanded, s.nodes_expanded_flat), (4, 1));
    assert_eq!(result.garbage().len(), 0);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]);
    store.roots.pop();
    flat(&mut gc, &mut store);
}

#[test]
fn expansions_stay_once_per_node_across_reuse() {
    let mut gc = Collector::new();
    let mut store = containerd_canonical();
    for round in 0..5 {
        store.expansions = HashMap::new();
        assert_eq!(garbage(&mut gc, &mut store), [4, 6], "round {round}");
        assert_eq!(store.expansions.len(), 6, "round {round}");
        assert!(store.expansions.values().all(|&count| count == 1));
    }
}
