//! Flat roots and references (containerd's flat leases): the target is
//! kept, but its own references are not followed through that edge, except
//! its structure ([`Structural`] references), which is kept flat in turn.
//! Every node reached is expanded exactly once: fully if it is reached
//! strongly at all, for its structure only if it is reached only flat.

mod common;

use common::{MemStore, expansions, n, run};
use resource_gc::{
    Collector,
    Strength::{Flat, Strong, Structural, Weak},
};

#[test]
fn a_flat_root_is_kept_but_its_references_are_not_followed() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Flat).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1, 2]);
    assert_eq!(expansions(&store), [(0, 1)], "read once, for its structure");
}

#[test]
fn a_flat_edge_keeps_its_target_but_not_the_targets_children() {
    // 0 (root) → 1 flat; 1 → 2 strong.
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).edge(0, 1, Flat).edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
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
    assert_eq!(expansions(&store), [(0, 1), (3, 1), (4, 1), (5, 1)]);
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
    // 0 is a flat root with a strong self-loop and a strong edge to 1:
    // neither is followed, since 0 is never reached strongly.
    let mut store = MemStore::with_nodes(2);
    store.root(0, Flat).edge(0, 0, Strong).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0]);
    assert_eq!(garbage, [1]);
    assert_eq!(expansions(&store), [(0, 1)]);
}

#[test]
fn a_chain_of_flat_edges_keeps_only_the_first_link() {
    // 0 (root) → 1 flat → 2 flat → 3: only 1 is kept; 1 is read for its
    // structure only, so its flat edge to 2 is not followed.
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

#[test]
fn a_flat_reach_keeps_the_structure_flat_and_nothing_else() {
    // containerd's TestMetadataCollector: a flat lease (0) holds snapshot
    // 9; 9 → 8 → 7 are parents (structural); each names a blob by label
    // (strong): 9 → 19, 8 → 18, 7 → 17. The chain is kept, the blobs not.
    let mut store = MemStore::with_nodes(20);
    store.root(0, Strong).edge(0, 9, Flat);
    store.edge(9, 8, Structural).edge(8, 7, Structural);
    store
        .edge(9, 19, Strong)
        .edge(8, 18, Strong)
        .edge(7, 17, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    let live: Vec<u32> = result.live().map(|node| node.key).collect();
    assert_eq!(live, [0, 7, 8, 9]);
    let stats = result.stats();
    assert_eq!((stats.nodes_expanded, stats.nodes_expanded_flat), (1, 3));
    // 0 → 9, and the two parent links; the label references are not
    // followed, nor counted.
    assert_eq!(stats.references_followed, 3);
    assert_eq!(stats.weak_references, 0);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (7, 1), (8, 1), (9, 1)]);
}

#[test]
fn structure_is_strong_through_a_strong_reach() {
    let mut store = MemStore::with_nodes(20);
    store.root(9, Strong);
    store.edge(9, 8, Structural).edge(8, 7, Structural);
    store
        .edge(9, 19, Strong)
        .edge(8, 18, Strong)
        .edge(7, 17, Strong);
    let (live, _) = run(&mut store);
    assert_eq!(live, [7, 8, 9, 17, 18, 19]);
}

#[test]
fn a_node_reached_flat_and_strongly_is_expanded_once_fully() {
    // 1 is reached flat (root) and, much later, strongly at the end of a
    // chain: its strong label reference (1 → 2) is followed, and it is
    // read once, whatever the order.
    let mut store = MemStore::with_nodes(60);
    store.root(1, Flat).root(10, Strong);
    for key in 10..50 {
        store.edge(key, key + 1, Strong);
    }
    store
        .edge(50, 1, Strong)
        .edge(1, 2, Strong)
        .edge(1, 3, Structural);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert!(result.is_live(&n(2)) && result.is_live(&n(3)));
    assert_eq!(result.stats().nodes_expanded_flat, 0);
    drop(result);
    assert_eq!(store.expansions.get(&n(1)), Some(&1));
}

#[test]
fn a_structural_root_is_strong() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Structural).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
}

#[test]
fn structure_reaches_through_a_flat_cycle_once_each() {
    // A flat root 0 ⇄ 1 structural, 1 → 2 strong: 0 and 1 kept, each read
    // once; 2 not.
    let mut store = MemStore::with_nodes(3);
    store
        .root(0, Flat)
        .edge(0, 1, Structural)
        .edge(1, 0, Structural);
    store.edge(1, 2, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

/// Emits, from node 0, a live and an expired structural lease.
struct StructuralLeases {
    root: resource_gc::Strength,
}

impl resource_gc::CollectionContext for StructuralLeases {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = std::convert::Infallible;

    fn all(&mut self, nodes: &mut resource_gc::NodeSinkOf<'_, Self>) -> Result<(), Self::Error> {
        (0..3).for_each(|key| nodes.push(&n(key)));
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut resource_gc::ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Self::Error> {
        roots.add(&n(0), self.root);
        Ok(())
    }

    fn references(
        &mut self,
        node: &common::TestNode,
        refs: &mut resource_gc::ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Self::Error> {
        if node.key != 0 {
            return Ok(());
        }
        let now = refs.now();
        let hour = std::time::Duration::from_secs(3600);
        refs.expiring(&n(1), Structural, now + hour);
        refs.expiring(&n(2), Structural, now - hour);
        // Not read from a node reached only flat: neither counted.
        refs.expiring(&n(2), Strong, now + hour);
        refs.expiring(&n(2), Strong, now - hour);
        Ok(())
    }
}

#[test]
fn leases_read_from_structure_count_as_from_a_strong_reach() {
    for (root, leases, expired) in [(Strong, 2, 2), (Flat, 1, 1)] {
        let mut gc = Collector::new();
        let result = gc.collect(&mut StructuralLeases { root }).unwrap();
        let counts = &result.stats().roots_by_kind;
        assert_eq!(
            (counts.leases, counts.leases_expired),
            (leases, expired),
            "{root:?}"
        );
        assert!(result.is_live(&n(1)), "{root:?}");
        assert_eq!(result.is_live(&n(2)), root == Strong, "{root:?}");
    }
}
