//! "Why is this still here?": `Collection::why_live` against the oracle.
//! A path exists exactly for the live nodes, and every path is a real chain
//! in the store: a non-weak root, then emitted references of the strength
//! the step names, each from a node whose references were read.

mod common;

use std::collections::HashSet;

use common::oracle::oracle;
use common::{MemStore, n};
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{Collector, Options, Reason, RootKind, Strength};

const KEYS: u32 = 24;

fn strength() -> impl Strategy<Value = Strength> {
    prop_oneof![
        3 => Just(Strength::Strong),
        1 => Just(Strength::Weak),
        1 => Just(Strength::Flat),
    ]
}

/// A store over keys `0..KEYS`: some listed (duplicates allowed), roots and
/// edges of any strength, unlisted keys included (dead edges).
fn store() -> impl Strategy<Value = MemStore> {
    (
        vec(0..KEYS, 0..30),
        vec((0..KEYS, strength()), 0..5),
        vec((0..KEYS, 0..KEYS, strength()), 0..60),
    )
        .prop_map(|(listed, roots, edges)| {
            let mut store = MemStore {
                listed: listed.into_iter().map(n).collect(),
                ..MemStore::default()
            };
            for (key, strength) in roots {
                store.root(key, strength);
            }
            for (from, to, strength) in edges {
                store.edge(from, to, strength);
            }
            store
        })
}

/// Listing, roots and edges by key.
type Keys = (Vec<u32>, Vec<(u32, Strength)>, Vec<(u32, u32, Strength)>);

fn keys(store: &MemStore) -> Keys {
    let listed = store.listed.iter().map(|node| node.key).collect();
    let roots = store.roots.iter().map(|(node, s)| (node.key, *s)).collect();
    let mut edges = Vec::new();
    for (from, targets) in &store.edges {
        for (to, s) in targets {
            edges.push((from.key, to.key, *s));
        }
    }
    (listed, roots, edges)
}

fn explaining() -> Options {
    let mut options = Options::default();
    options.explain = true;
    options
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn every_live_node_has_a_real_path_from_a_root(mut store in store()) {
        let (listed, roots, edges) = keys(&store);
        let expected = oracle(&listed, &roots, &edges);
        let root_set: HashSet<(u32, Strength)> = roots.iter().copied().collect();
        let edge_set: HashSet<(u32, u32, Strength)> = edges.iter().copied().collect();

        let mut gc = Collector::new();
        let collection = gc.collect_with(&mut store, &explaining()).unwrap();
        for key in 0..KEYS {
            let path = collection.why_live(&n(key));
            prop_assert_eq!(
                path.is_some(),
                expected.live.contains(&key),
                "key {}: a path exists exactly for live nodes",
                key
            );
            let Some(path) = path else { continue };
            prop_assert_eq!(path.last().unwrap().node.key, key, "the path ends at the node");

            let first = &path[0];
            prop_assert_eq!(first.reason, Reason::Root(RootKind::Explicit));
            let held = [Strength::Strong, Strength::Flat]
                .into_iter()
                .any(|s| root_set.contains(&(first.node.key, s)));
            prop_assert!(held, "{} is not a strong or flat root", first.node.key);

            let mut seen = HashSet::from([first.node.key]);
            for pair in path.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                prop_assert!(seen.insert(to.node.key), "the path repeats {}", to.node.key);
                prop_assert!(
                    expected.expanded.contains(&from.node.key),
                    "{} was never expanded, yet the path continues from it",
                    from.node.key
                );
                let Reason::Reference(strength) = to.reason else {
                    return Err(TestCaseError::fail(format!("{:?} mid-path", to.reason)));
                };
                prop_assert_ne!(strength, Strength::Weak);
                prop_assert!(
                    edge_set.contains(&(from.node.key, to.node.key, strength)),
                    "no {:?} edge {} → {}",
                    strength,
                    from.node.key,
                    to.node.key
                );
            }
        }
    }

    #[test]
    fn explaining_changes_no_answer(mut store in store()) {
        let mut gc = Collector::new();
        let plain: Vec<u32> = gc.collect(&mut store).unwrap().garbage().map(|n| n.key).collect();
        let explained: Vec<u32> = gc
            .collect_with(&mut store, &explaining())
            .unwrap()
            .garbage()
            .map(|n| n.key)
            .collect();
        prop_assert_eq!(plain, explained);
    }
}

#[test]
fn lease_pin_grace_and_back_reference_reasons() {
    use resource_gc::{CollectionContext, NodeSinkOf, ReferenceSinkOf};
    use std::convert::Infallible;
    use std::time::{Duration, SystemTime};

    struct Store;
    impl CollectionContext for Store {
        type Kind = u8;
        type Namespace = u8;
        type Key = u32;
        type Error = Infallible;
        fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
            for key in 0..5 {
                nodes.push(&n(key));
            }
            nodes.push_used(&n(5), nodes.now());
            nodes.lives_with(&n(6), &n(5));
            nodes.push(&n(6));
            Ok(())
        }
        fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
            let later = roots.now() + Duration::from_secs(60);
            roots.expiring(&n(0), Strength::Strong, later);
            Ok(())
        }
        fn references(
            &mut self,
            node: &common::TestNode,
            refs: &mut ReferenceSinkOf<'_, Self>,
        ) -> Result<(), Infallible> {
            if node.key == 0 {
                refs.flat(&n(1));
            }
            Ok(())
        }
        fn resolve_pin(
            &mut self,
            _name: &str,
            pins: &mut ReferenceSinkOf<'_, Self>,
        ) -> Result<(), Infallible> {
            pins.strong(&n(2));
            Ok(())
        }
    }

    let mut options = explaining();
    options.now = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
    options.grace_period = Duration::from_secs(10);
    options.pins = vec!["stable".into()];
    let mut gc = Collector::new();
    let collection = gc.collect_with(&mut Store, &options).unwrap();
    let why = |key| -> Vec<(u32, Reason)> {
        collection
            .why_live(&n(key))
            .unwrap_or_default()
            .into_iter()
            .map(|step| (step.node.key, step.reason))
            .collect()
    };
    assert_eq!(why(0), [(0, Reason::Root(RootKind::Lease))]);
    assert_eq!(
        why(1),
        [
            (0, Reason::Root(RootKind::Lease)),
            (1, Reason::Reference(Strength::Flat))
        ]
    );
    assert_eq!(why(2), [(2, Reason::Root(RootKind::Pin))]);
    assert_eq!(why(3), [], "garbage has no reason");
    assert_eq!(why(5), [(5, Reason::Root(RootKind::Grace))]);
    assert_eq!(
        why(6),
        [
            (5, Reason::Root(RootKind::Grace)),
            (6, Reason::BackReference)
        ]
    );
}
