//! Flat roots and references (containerd's flat leases): the target is
//! kept, but its own references are not followed through that edge. A node
//! reached both flat and strongly is expanded, once.

mod common;

use common::{MemStore, expansions, n, run};
use resource_gc::{
    Collector,
    Strength::{Flat, Strong, Weak},
};

#[test]
fn a_flat_root_is_kept_but_not_expanded() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Flat).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), []);
}

#[test]
fn a_flat_edge_keeps_its_target_but_not_the_targets_children() {
    // 0 (root) → 1 flat; 1 → 2 strong.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Flat).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1)]);
}

#[test]
fn containerd_flat_lease_keeps_only_what_it_holds() {
    // A lease (3) held strongly as a root holds a manifest (0) flat. The
    // manifest's config (1) and layer (2) are not held by the lease; a
    // second manifest (4), held strongly by the lease, keeps its layer (5).
    let mut store = MemStore::with_nodes(6);
    store.root(3, Strong).edge(3, 0, Flat).edge(3, 4, Strong);
    store
        .edge(0, 1, Strong)
        .edge(0, 2, Strong)
        .edge(4, 5, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 3, 4, 5]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), [(3, 1), (4, 1), (5, 1)]);
}

#[test]
fn flat_then_strong_expands_the_node_once() {
    // 1 is a flat root first; 0's strong reference to it comes later, while
    // marking, and must still get it expanded.
    let mut store = MemStore::with_nodes(3);
    store.root(1, Flat).root(0, Strong);
    store.edge(0, 1, Strong).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn strong_then_flat_expands_the_node_once() {
    let mut store = MemStore::with_nodes(3);
    store.root(1, Strong).root(0, Strong);
    store.edge(0, 1, Flat).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert!(garbage.is_empty());
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn flat_and_strong_in_the_same_callback_expand_once_in_either_order() {
    for strengths in [[Flat, Strong], [Strong, Flat]] {
        let mut store = MemStore::with_nodes(3);
        store.root(0, Strong);
        store.edge(0, 1, strengths[0]).edge(0, 1, strengths[1]);
        store.edge(1, 2, Strong);
        let (live, garbage) = run(&mut store);
        assert_eq!(live, [0, 1, 2], "{strengths:?}");
        assert!(garbage.is_empty(), "{strengths:?}");
        assert_eq!(
            expansions(&store),
            [(0, 1), (1, 1), (2, 1)],
            "{strengths:?}"
        );
    }
}

#[test]
fn a_flat_self_loop_and_flat_cycle_do_not_expand() {
    // 0 is a flat root with a strong self-loop and a strong edge to 1: none
    // of it is read, since 0 is never reached strongly.
    let mut store = MemStore::with_nodes(2);
    store.root(0, Flat).edge(0, 0, Strong).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1]);
    assert_eq!(expansions(&store), []);
}

#[test]
fn a_chain_of_flat_edges_keeps_only_the_first_link() {
    // 0 (root) → 1 flat → 2 flat → 3: only 1 is kept; 1 is never expanded,
    // so its flat edge to 2 is never even read.
    let mut store = MemStore::with_nodes(4);
    store.root(0, Strong).edge(0, 1, Flat);
    store.edge(1, 2, Flat).edge(2, 3, Flat);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2, 3]);
}

#[test]
fn flat_roots_and_references_are_counted_and_marked() {
    let mut store = MemStore::with_nodes(4);
    store
        .root(0, Strong)
        .root(1, Flat)
        .edge(0, 2, Flat)
        .edge(0, 2, Weak);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    let stats = result.stats();
    assert_eq!(stats.roots, 2);
    assert_eq!(stats.references_followed, 1);
    assert_eq!(stats.weak_references, 1);
    assert_eq!(stats.nodes_marked, 3);
    assert_eq!(stats.nodes_expanded, 1);
    assert!(result.is_live(&n(1)) && result.is_live(&n(2)));
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(3)]);
}

#[test]
fn a_flat_root_reached_strongly_much_later_is_expanded() {
    // 100 is a flat root; a chain 0 → 1 → … → 99 → 100 reaches it strongly
    // at the very end, after 100 expansions.
    let mut store = MemStore::with_nodes(102);
    store.root(100, Flat).root(0, Strong);
    for key in 0..100 {
        store.edge(key, key + 1, Strong);
    }
    store.edge(100, 101, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live.len(), 102);
    assert!(garbage.is_empty());
    assert_eq!(store.expansions.get(&n(100)), Some(&1));
}
