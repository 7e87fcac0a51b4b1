//! Cycles, self-loops and shared subgraphs: tracing, unlike reference
//! counting, keeps a cycle exactly when a root reaches it, and each node is
//! expanded once however many paths lead to it.

mod common;

use common::{MemStore, expansions, n, run};
use resource_gc::{Collector, Strength::Strong};

/// What [`expansions`] returns when each of `keys` was expanded once.
fn once(keys: &[u32]) -> Vec<(u32, usize)> {
    let mut counts: Vec<(u32, usize)> = keys.iter().map(|&key| (key, 1)).collect();
    counts.sort_unstable();
    counts
}

const A: u32 = 0;
const B: u32 = 1;
const C: u32 = 2;
const D: u32 = 3;
const E: u32 = 4;
const F: u32 = 5;
const G: u32 = 6;
const H: u32 = 7;

/// containerd's `TestGCRoots` graph: roots {A, C}; A→B, B→A, C→D, C→F,
/// C→B, E→F, E→G, F→H.
fn containerd_canonical() -> MemStore {
    let mut store = MemStore::with_nodes(8);
    store.root(A, Strong).root(C, Strong);
    for (from, to) in [
        (A, B),
        (B, A),
        (C, D),
        (C, F),
        (C, B),
        (E, F),
        (E, G),
        (F, H),
    ] {
        store.edge(from, to, Strong);
    }
    store
}

#[test]
fn containerd_canonical_case_keeps_abcdfh_and_sweeps_eg() {
    let mut store = containerd_canonical();
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [A, B, C, D, F, H]);
    assert_eq!(garbage, [E, G]);
}

#[test]
fn containerd_canonical_case_expands_each_live_node_once_and_no_garbage() {
    // B is reached from A, from C and back from itself through A; F from C
    // and from the garbage E. Each is still expanded once, and E, G never.
    let mut store = containerd_canonical();
    run(&mut store);
    assert_eq!(expansions(&store), once(&[A, B, C, D, F, H]));
}

#[test]
fn containerd_canonical_case_stats() {
    let mut store = containerd_canonical();
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    let stats = result.stats();
    assert_eq!(stats.nodes_listed, 8);
    assert_eq!(stats.roots, 2);
    assert_eq!(stats.nodes_marked, 6);
    assert_eq!(stats.nodes_expanded, 6);
    // A→B, B→A, C→D, C→F, C→B, F→H: the edges out of E are never read.
    assert_eq!(stats.references_followed, 6);
    assert_eq!(stats.weak_references, 0);
    assert_eq!(stats.dead_edges, 0);
    assert_eq!(stats.nodes_swept, 2);
}

#[test]
fn an_unreachable_two_node_cycle_is_swept() {
    // Reference counting would leak this pair; tracing must not.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(1, 2, Strong).edge(2, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), once(&[0]));
}

#[test]
fn a_reachable_two_node_cycle_is_kept_and_each_expanded_once() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Strong);
    store.edge(1, 2, Strong).edge(2, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), once(&[0, 1, 2]));
}

#[test]
fn a_self_loop_on_a_root_terminates_and_expands_once() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong).edge(0, 0, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1]);
    assert_eq!(expansions(&store), once(&[0]));
}

#[test]
fn a_self_loop_does_not_keep_an_unreachable_node() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(2, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), once(&[0]));
}

#[test]
fn a_self_loop_in_the_middle_of_a_chain_does_not_stop_the_chain() {
    let mut store = MemStore::with_nodes(4);
    store.root(0, Strong).edge(0, 1, Strong);
    store.edge(1, 1, Strong).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert_eq!(garbage, [3]);
    assert_eq!(expansions(&store), once(&[0, 1, 2]));
}

#[test]
fn a_ring_reached_at_any_member_is_kept_whole() {
    const LEN: u32 = 1000;
    for entry in [0, 1, LEN / 2, LEN - 1] {
        let mut store = MemStore::with_nodes(LEN + 1);
        for key in 0..LEN {
            store.edge(key, (key + 1) % LEN, Strong);
        }
        // Node LEN points into the ring but nothing points at it.
        store.edge(LEN, 0, Strong);
        store.root(entry, Strong);
        let (live, garbage) = run(&mut store);
        assert_eq!(live, (0..LEN).collect::<Vec<_>>(), "entry {entry}");
        assert_eq!(garbage, [LEN], "entry {entry}");
        assert_eq!(expansions(&store), once(&live), "entry {entry}");
    }
}

#[test]
fn an_unreachable_ring_is_swept_whole() {
    let mut store = MemStore::with_nodes(1001);
    for key in 1..=1000 {
        store.edge(key, key % 1000 + 1, Strong);
    }
    store.root(0, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, (1..=1000).collect::<Vec<_>>());
}

#[test]
fn a_complete_graph_expands_each_node_once() {
    // Every node references every node, itself included: 400 edges, 20
    // expansions.
    let mut store = MemStore::with_nodes(21);
    for from in 0..20 {
        for to in 0..20 {
            store.edge(from, to, Strong);
        }
    }
    store.root(7, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(20)]);
    assert_eq!(result.stats().references_followed, 400);
    assert_eq!(result.stats().nodes_expanded, 20);
    drop(result);
    assert_eq!(expansions(&store), once(&(0..20).collect::<Vec<_>>()));
}

#[test]
fn a_diamond_expands_the_shared_node_once() {
    // 0 → {1, 2} → 3 → 4: 3 and 4 are reached twice, expanded once.
    let mut store = MemStore::with_nodes(6);
    store.root(0, Strong);
    store.edge(0, 1, Strong).edge(0, 2, Strong);
    store
        .edge(1, 3, Strong)
        .edge(2, 3, Strong)
        .edge(3, 4, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2, 3, 4]);
    assert_eq!(garbage, [5]);
    assert_eq!(expansions(&store), once(&[0, 1, 2, 3, 4]));
}

#[test]
fn a_subgraph_shared_by_many_roots_is_expanded_once() {
    // Roots 0..100 all reference the chain 100 → 101 → … → 199.
    let mut store = MemStore::with_nodes(250);
    for root in 0..100 {
        store.root(root, Strong).edge(root, 100, Strong);
    }
    for key in 100..199 {
        store.edge(key, key + 1, Strong);
    }
    let (live, garbage) = run(&mut store);
    assert_eq!(live, (0..200).collect::<Vec<_>>());
    assert_eq!(garbage, (200..250).collect::<Vec<_>>());
    assert_eq!(expansions(&store), once(&live));
}

#[test]
fn a_subgraph_shared_by_live_and_garbage_nodes_is_kept_but_its_garbage_parent_swept() {
    // 0 (root) → 2 and 1 (unreachable) → 2 → 3: only 1 goes.
    let mut store = MemStore::with_nodes(4);
    store.root(0, Strong).edge(0, 2, Strong);
    store.edge(1, 2, Strong).edge(2, 3, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 2, 3]);
    assert_eq!(garbage, [1]);
}

#[test]
fn a_cycle_back_into_the_roots_expands_each_root_once() {
    // Roots 0 and 1 reference each other through 2: 0 → 2 → 1 → 0.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).root(1, Strong);
    store
        .edge(0, 2, Strong)
        .edge(2, 1, Strong)
        .edge(1, 0, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), once(&[0, 1, 2]));
}
