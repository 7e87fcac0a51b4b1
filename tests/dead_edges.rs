//! Dead edges: references to nodes the listing did not name. They are not
//! errors (the target was removed, or is a root-like resource such as an
//! image that the store never sweeps); they are counted, the target's own
//! references are still followed, and the target is never garbage.

mod common;

use common::{MemStore, TestNode, expansions, n, run};
use resource_gc::{
    Collector, Node,
    Strength::{Flat, Strong, Weak},
};

#[test]
fn an_edge_to_an_unlisted_node_is_counted_not_an_error() {
    // 0..3 listed; 0 → 7, and 7 is not listed.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 7, Strong).edge(0, 1, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 1);
    assert_eq!(result.stats().references_followed, 2);
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(2)]);
}

#[test]
fn an_unlisted_target_is_live_but_never_garbage_nor_in_live() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong).edge(0, 9, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert!(result.is_live(&n(9)), "reached, so live");
    // live() and garbage() report listed nodes only.
    assert_eq!(result.live().collect::<Vec<_>>(), [&n(0)]);
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1)]);
    // Stats::nodes_marked counts reached nodes, listed or not.
    assert_eq!(result.stats().nodes_marked, 2);
}

#[test]
fn an_unlisted_target_still_has_its_references_followed() {
    // An image (unlisted, never swept) holds content 1, which holds 2:
    // root 0 → image 100 → 1 → 2. Content 3 is unreferenced.
    let mut store = MemStore::with_nodes(4);
    store.root(0, Strong).edge(0, 100, Strong);
    store.edge(100, 1, Strong).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1, 2]);
    assert_eq!(garbage, [3]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1), (100, 1)]);
}

#[test]
fn an_unlisted_root_still_has_its_references_followed() {
    // The root itself is an image the listing does not name.
    let mut store = MemStore::with_nodes(3);
    store.root(100, Strong).edge(100, 1, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(0), &n(2)]);
    assert!(result.is_live(&n(100)));
    assert!(result.is_live(&n(1)));
    drop(result);
    assert_eq!(expansions(&store), [(1, 1), (100, 1)]);
}

#[test]
fn an_unlisted_target_reached_twice_is_expanded_once_and_counted_twice() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).root(1, Strong);
    store
        .edge(0, 50, Strong)
        .edge(1, 50, Strong)
        .edge(50, 2, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.stats().dead_edges, 2);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (2, 1), (50, 1)]);
}

#[test]
fn an_unlisted_target_referenced_twice_in_one_callback_is_expanded_once() {
    // Both references arrive before the collector can intern the target.
    let mut store = MemStore::with_nodes(1);
    store
        .root(0, Strong)
        .edge(0, 60, Strong)
        .edge(0, 60, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 2);
    assert_eq!(result.stats().nodes_marked, 2);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (60, 1)]);
}

#[test]
fn a_cycle_among_unlisted_nodes_terminates() {
    // 0 → 70 → 71 → 70, with 71 → 1: nothing unlisted is swept, 1 is kept.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 70, Strong);
    store
        .edge(70, 71, Strong)
        .edge(71, 70, Strong)
        .edge(71, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1), (70, 1), (71, 1)]);
}

#[test]
fn a_flat_edge_to_an_unlisted_node_is_counted_and_read_for_its_structure_only() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong).edge(0, 80, Flat).edge(80, 1, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 1);
    assert!(result.is_live(&n(80)));
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1)]);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (80, 1)]);
}

#[test]
fn a_weak_edge_to_an_unlisted_node_is_not_a_dead_edge() {
    // Stats::dead_edges counts strong and flat references only.
    let mut store = MemStore::with_nodes(1);
    store.root(0, Strong).edge(0, 90, Weak);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 0);
    assert_eq!(result.stats().weak_references, 1);
    assert!(!result.is_live(&n(90)));
    drop(result);
    assert_eq!(expansions(&store), [(0, 1)]);
}

#[test]
fn a_thousand_dead_edges_are_each_counted() {
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong);
    for target in 1000..2000 {
        store.edge(0, target, Strong);
    }
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 1000);
    assert_eq!(result.stats().nodes_marked, 1001);
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1)]);
}

#[test]
fn only_dead_edges_and_no_listing_sweeps_nothing() {
    let mut store = MemStore::default();
    store.root(0, Strong).edge(0, 1, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.live().len(), 0);
    assert_eq!(result.stats().nodes_listed, 0);
    assert_eq!(result.stats().dead_edges, 1);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

#[test]
fn a_node_of_another_kind_with_the_same_key_is_a_different_node() {
    // Listed: content 5 (kind 1). Referenced: kind 2, key 5 — not listed,
    // so a dead edge, and content 5 stays unreachable.
    let other_kind: TestNode = Node::new(2, 0, 5);
    let other_namespace: TestNode = Node::new(1, 3, 5);
    let mut store = MemStore::with_nodes(6);
    store.root(0, Strong);
    store.edges.insert(
        n(0),
        vec![
            (other_kind.clone(), Strong),
            (other_namespace.clone(), Strong),
        ],
    );
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 2);
    assert!(result.is_live(&other_kind) && result.is_live(&other_namespace));
    assert!(!result.is_live(&n(5)));
    let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
    assert_eq!(garbage, [1, 2, 3, 4, 5]);
}

#[test]
fn a_node_removed_since_the_last_collection_is_a_dead_edge_then() {
    // The collector keeps node 1 from the first collection; it is no longer
    // listed in the second, so a reference to it is dead and it is not
    // garbage.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Strong);
    let mut gc = Collector::new();
    assert_eq!(gc.collect(&mut store).unwrap().stats().dead_edges, 0);
    store.listed.retain(|node| node.key != 1);
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.stats().dead_edges, 1);
    assert!(result.is_live(&n(1)));
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(2)]);
    assert_eq!(result.live().collect::<Vec<_>>(), [&n(0)]);
}
