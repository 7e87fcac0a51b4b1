//! Duplicates: the same root emitted twice, the same edge emitted twice, the
//! same node listed twice. containerd re-expands duplicate roots; this crate
//! expands every node at most once, sweeps every node at most once, and
//! sweeps in the order the listing first named the nodes.

mod common;

use common::{MemStore, expansions, n, run};
use resource_gc::{
    Collector,
    Strength::{Flat, Strong},
};

/// A store listing `keys` in this order, duplicates included.
fn listing(keys: &[u32]) -> MemStore {
    MemStore {
        listed: keys.iter().map(|&key| n(key)).collect(),
        ..MemStore::default()
    }
}

#[test]
fn a_root_emitted_twice_is_expanded_once() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong).root(0, Strong).edge(0, 1, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(garbage, [2]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

#[test]
fn a_root_emitted_a_thousand_times_is_expanded_once_and_counted_each_time() {
    let mut store = MemStore::with_nodes(2);
    for _ in 0..1000 {
        store.root(1, Strong);
    }
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(0)]);
    // Stats::roots counts emitted roots, duplicates included.
    assert_eq!(result.stats().roots, 1000);
    assert_eq!(result.stats().nodes_expanded, 1);
    assert_eq!(result.stats().nodes_marked, 1);
    drop(result);
    assert_eq!(expansions(&store), [(1, 1)]);
}

#[test]
fn a_root_also_reached_by_an_edge_is_expanded_once() {
    // 0 and 1 are both roots, and 0 → 1.
    let mut store = MemStore::with_nodes(2);
    store.root(0, Strong).root(1, Strong).edge(0, 1, Strong);
    run(&mut store);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

#[test]
fn an_edge_emitted_three_times_expands_its_target_once() {
    let mut store = MemStore::with_nodes(3);
    store.root(0, Strong);
    for _ in 0..3 {
        store.edge(0, 1, Strong);
    }
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(2)]);
    // Every emitted reference is counted, duplicates included.
    assert_eq!(result.stats().references_followed, 3);
    assert_eq!(result.stats().nodes_expanded, 2);
    drop(result);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

#[test]
fn the_same_target_from_many_parents_is_expanded_once() {
    // 1..=50 are roots and all reference 0.
    let mut store = MemStore::with_nodes(51);
    for parent in 1..=50 {
        store.root(parent, Strong).edge(parent, 0, Strong);
    }
    let (_, garbage) = run(&mut store);
    assert!(garbage.is_empty());
    let counts = expansions(&store);
    assert_eq!(counts.len(), 51);
    assert!(counts.iter().all(|&(_, count)| count == 1), "{counts:?}");
}

#[test]
fn a_node_listed_twice_and_unreachable_is_swept_once() {
    let mut store = listing(&[0, 1, 1, 2]);
    store.root(0, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1), &n(2)]);
    assert_eq!(result.garbage().len(), 2);
    assert_eq!(result.stats().nodes_swept, 2);
    // Stats::nodes_listed counts distinct nodes.
    assert_eq!(result.stats().nodes_listed, 3);
}

#[test]
fn a_node_listed_twice_and_live_is_reported_live_once() {
    let mut store = listing(&[0, 1, 0, 0]);
    store.root(0, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.live().collect::<Vec<_>>(), [&n(0)]);
    assert_eq!(result.live().len(), 1);
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(1)]);
}

#[test]
fn every_node_listed_many_times_is_swept_once() {
    // 0..10, listed five times over.
    let keys: Vec<u32> = (0..5).flat_map(|_| 0..10).collect();
    let mut store = listing(&keys);
    let (live, garbage) = run(&mut store);
    assert!(live.is_empty());
    assert_eq!(garbage, (0..10).collect::<Vec<_>>());
}

#[test]
fn garbage_comes_in_the_order_the_listing_first_named_it() {
    let mut store = listing(&[5, 3, 9, 3, 1, 5, 7]);
    store.root(9, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(garbage, [5, 3, 1, 7]);
    assert_eq!(live, [9]);
}

#[test]
fn garbage_order_is_the_same_on_every_run() {
    // Key order is scrambled and every collector hashes with its own random
    // seed: the order must still be the listing's.
    let keys: Vec<u32> = (0..500).map(|i| (i * 7919) % 1009).collect();
    let mut store = listing(&keys);
    store.root(keys[250], Strong);
    let expected: Vec<u32> = keys.iter().copied().filter(|&k| k != keys[250]).collect();
    for _ in 0..5 {
        let (_, garbage) = run(&mut store);
        assert_eq!(garbage, expected);
    }
}

#[test]
fn live_comes_in_the_order_the_listing_first_named_it() {
    let mut store = listing(&[4, 2, 8, 2, 6, 4]);
    store.root(8, Strong).edge(8, 6, Strong).edge(8, 4, Strong);
    let (live, garbage) = run(&mut store);
    assert_eq!(live, [4, 8, 6]);
    assert_eq!(garbage, [2]);
}

#[test]
fn garbage_len_is_exact_while_it_is_consumed() {
    let mut store = listing(&[0, 1, 2, 1, 3, 0]);
    store.root(2, Strong);
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).unwrap();
    let mut garbage = result.garbage();
    for remaining in (0..=3).rev() {
        assert_eq!(garbage.len(), remaining);
        assert_eq!(garbage.size_hint(), (remaining, Some(remaining)));
        assert_eq!(garbage.next().is_some(), remaining > 0);
    }
    assert_eq!(garbage.next(), None);
    let mut live = result.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live.next(), Some(&n(2)));
    assert_eq!(live.len(), 0);
}

#[test]
fn a_node_both_flat_and_strong_root_twice_is_expanded_once() {
    let mut store = MemStore::with_nodes(2);
    store
        .root(0, Flat)
        .root(0, Strong)
        .root(0, Flat)
        .root(0, Strong);
    store.edge(0, 1, Strong);
    let (live, _) = run(&mut store);
    assert_eq!(live, [0, 1]);
    assert_eq!(expansions(&store), [(0, 1), (1, 1)]);
}

/// More nodes than a fresh collector enters into its table at once (it
/// appends listed nodes and enters them in batches of 2^18), so that
/// duplicates, grace-period roots and back-references cross batches.
#[test]
fn duplicates_grace_and_bindings_across_many_batches() {
    use resource_gc::{CollectionContext, NodeSink, Options, ReferenceSink};
    use std::convert::Infallible;
    use std::time::Duration;

    const N: u32 = 700_000;
    struct Big;
    impl CollectionContext for Big {
        type Kind = u8;
        type Namespace = u8;
        type Key = u32;
        type Error = Infallible;

        fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
            for k in 0..N {
                if k % 11 == 0 {
                    nodes.push_used(&n(k), nodes.now());
                } else {
                    nodes.push(&n(k));
                }
                if k % 5 == 0 {
                    nodes.push(&n(k)); // twice in a row
                }
                if k % 7 == 0 {
                    nodes.push_used(&n(k), nodes.now()); // young the second time
                }
                if k % 3 == 0 && k >= 300_000 {
                    nodes.push(&n(k - 300_000)); // again, a batch or more later
                }
                if k % 550_000 == 0 {
                    // Before the child is listed, or after (k = 0).
                    nodes.lives_with(&n(k + 1), &n(k));
                }
            }
            Ok(())
        }

        fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
            roots.strong(&n(1));
            Ok(())
        }

        fn references(
            &mut self,
            _: &common::TestNode,
            _: &mut ReferenceSink<'_, u8, u8, u32>,
        ) -> Result<(), Infallible> {
            Ok(())
        }
    }

    let is_live = |k: u32| k == 1 || k % 11 == 0 || k % 7 == 0 || k == 550_001;
    let mut options = Options::default();
    options.grace_period = Duration::from_secs(3600);
    let mut gc = Collector::new();
    for run in ["fresh", "reused"] {
        let result = gc.collect_with(&mut Big, &options).unwrap();
        assert_eq!(result.stats().nodes_listed, N as usize, "{run}");
        let live: Vec<u32> = result.live().map(|node| node.key).collect();
        let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
        assert_eq!(
            live,
            (0..N).filter(|&k| is_live(k)).collect::<Vec<_>>(),
            "{run}"
        );
        assert_eq!(
            garbage,
            (0..N).filter(|&k| !is_live(k)).collect::<Vec<_>>(),
            "{run}"
        );
    }
}
