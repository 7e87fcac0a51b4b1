//! Weak roots and references keep nothing: their targets are swept unless
//! something else reaches them, and are never expanded through them.

mod common;

use common::{MemStore, expansions, n, run};
use resource_gc::{
    Collector,
    Strength::{Flat, Strong, Weak},
};

#[test]
fn a_weak_root_keeps_nothing_and_is_not_expanded() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Weak).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert!(live.is_empty());
    assert_eq!(garbage, [0, 1]);
    assert_eq!(expansions(&store), []);
}

#[test]
fn a_weak_edge_does_not_keep_its_target() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Weak).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), [(0, 1)]);
}

#[test]
fn a_weak_then_strong_reference_keeps_and_expands_the_target_once() {
    // The weak reference comes first, from the roots; the strong one later,
    // from 0's references.
    let mut store = MemStore::with_nodes(3);
    store.root(1, Weak).root(0, Strong);
    store.edge(0, 1, Strong).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn a_strong_then_weak_reference_keeps_the_target() {
    // A weak reference after a strong one must not undo it.
    let mut store = MemStore::with_nodes(3);
    store
        .root(1, Strong)
        .root(1, Weak)
        .root(0, Strong)
        .edge(0, 1, Weak);
    store.edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn a_weak_reference_to_a_flat_held_node_does_not_expand_it() {
    let mut store = MemStore::with_nodes(3);
    store
        .root(1, Flat)
        .root(0, Strong)
        .edge(0, 1, Weak)
        .edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)], "1 for its structure");
}

#[test]
fn a_weak_back_edge_does_not_close_a_cycle() {
    // 0 (root) → 1 strong; 1 → 2 strong; 2 → 0 weak; 3 → 0 strong but 3 is
    // only held weakly by 2.
    let mut store = MemStore::with_nodes(4);
    store.root(0, Strong).edge(0, 1, Strong).edge(1, 2, Strong);
    store.edge(2, 0, Weak).edge(2, 3, Weak).edge(3, 0, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert_eq!(garbage, [3]);
}

#[test]
fn a_cycle_held_only_by_weak_references_is_swept() {
    // 1 ⇄ 2 strongly, and 0 (root) → 1 weakly: refcounting with weak refs
    // would still leak the cycle.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Weak);
    store.edge(1, 2, Strong).edge(2, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
}

#[test]
fn weak_references_are_counted_apart_from_strong_and_flat_ones() {
    // Roots: 0 strong, 1 weak, 2 flat. References: 0 → 3 weak, 0 → 3 weak,
    // 0 → 4 strong.
    let mut store = MemStore::with_nodes(5);
    store.root(0, Strong).root(1, Weak).root(2, Flat);
    store.edge(0, 3, Weak).edge(0, 3, Weak).edge(0, 4, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    let stats = result.stats();
    assert_eq!(
        stats.weak_references, 3,
        "one weak root, two weak references"
    );
    assert_eq!(stats.roots, 2, "strong and flat roots only");
    assert_eq!(
        stats.references_followed, 1,
        "strong and flat references only"
    );
    assert_eq!(stats.nodes_marked, 3);
    let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
    assert_eq!(garbage, [1, 3]);
}

#[test]
fn only_weak_roots_sweep_everything() {
    let mut store = MemStore::with_nodes(10);
    for key in 0..10 {
        store.root(key, Weak);
        store.edge(key, (key + 1) % 10, Strong);
    }
    let (live, garbage) = run(&mut store);
    assert!(live.is_empty());
    assert_eq!(garbage, (0..10).collect::<Vec<_>>());
    assert_eq!(expansions(&store), []);
}

#[test]
fn a_weakly_referenced_node_is_not_live() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong).edge(0, 1, Weak);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert!(result.is_live(&n(0)));
    assert!(!result.is_live(&n(1)));
}
