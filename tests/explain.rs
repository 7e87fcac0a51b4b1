//! "Why is this still here?": `Collection::why_live` against the oracle.
//! A path exists exactly for the live nodes, and every path is a real chain
//! in the store: a non-weak root, then emitted references of the strength
//! the step names, each from a node whose references were followed that
//! far: any reference but a weak one from a node reached strongly, only a
//! structural one (or a structural back-reference) from a node reached
//! flat only.

mod common;

use std::collections::HashSet;

use common::oracle::oracle_with_back_references;
use common::{MemStore, n};
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{Collector, Options, Reason, RootKind, Strength};

const KEYS: u32 = 24;

fn strength() -> impl Strategy<Value = Strength> {
    prop_oneof![
        3 => Just(Strength::Strong),
        1 => Just(Strength::Weak),
        2 => Just(Strength::Flat),
        3 => Just(Strength::Structural),
    ]
}

/// A store over keys `0..KEYS`: some listed (duplicates allowed), roots,
/// edges and back-references of any strength, unlisted keys included (dead
/// edges).
fn store() -> impl Strategy<Value = MemStore> {
    (
        vec(0..KEYS, 0..30),
        vec((0..KEYS, strength()), 0..5),
        vec((0..KEYS, 0..KEYS, strength()), 0..60),
        vec((0..KEYS, 0..KEYS, strength()), 0..6),
    )
        .prop_map(|(listed, roots, edges, back)| {
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
            for (child, parent, strength) in back {
                store.back_reference(child, parent, strength);
            }
            store
        })
}

type Triples = Vec<(u32, u32, Strength)>;

/// Listing, roots, edges and back-references `(child, parent, strength)`
/// by key.
type Keys = (Vec<u32>, Vec<(u32, Strength)>, Triples, Triples);

fn keys(store: &MemStore) -> Keys {
    let listed = store.listed.iter().map(|node| node.key).collect();
    let roots = store.roots.iter().map(|(node, s)| (node.key, *s)).collect();
    let mut edges = Vec::new();
    for (from, targets) in &store.edges {
        for (to, s) in targets {
            edges.push((from.key, to.key, *s));
        }
    }
    let back = store
        .back_references
        .iter()
        .map(|(child, parent, s)| (child.key, parent.key, *s))
        .collect();
    (listed, roots, edges, back)
}

/// Whether a reference of `strength` is followed from a node reached
/// strongly, or else flat.
fn followed(strength: Strength, strongly: bool) -> bool {
    if strongly {
        strength != Strength::Weak
    } else {
        strength == Strength::Structural
    }
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
        let (listed, roots, edges, back) = keys(&store);
        let expected = oracle_with_back_references(&listed, &roots, &edges, &back);
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
            let held = [Strength::Strong, Strength::Flat, Strength::Structural]
                .into_iter()
                .any(|s| root_set.contains(&(first.node.key, s)));
            prop_assert!(held, "{} is not a strong, flat or structural root", first.node.key);

            let mut seen = HashSet::from([first.node.key]);
            for pair in path.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                prop_assert!(seen.insert(to.node.key), "the path repeats {}", to.node.key);
                let strongly = expected.strong.contains(&from.node.key);
                prop_assert!(
                    strongly || expected.flat_only.contains(&from.node.key),
                    "{} was never reached, yet the path continues from it",
                    from.node.key
                );
                let (from, to_key) = (from.node.key, to.node.key);
                match to.reason {
                    Reason::Reference(strength) => {
                        prop_assert!(
                            edge_set.contains(&(from, to_key, strength)),
                            "no {:?} edge {} → {}", strength, from, to_key
                        );
                        prop_assert!(
                            followed(strength, strongly),
                            "{:?} edge {} → {} followed from a node reached {}",
                            strength, from, to_key, if strongly { "strongly" } else { "flat" }
                        );
                    }
                    Reason::BackReference => {
                        let followed_back = back
                            .iter()
                            .any(|&(c, p, s)| (c, p) == (to_key, from) && followed(s, strongly));
                        prop_assert!(followed_back, "no back-reference {} ⇢ {} to follow", from, to_key);
                    }
                    other => return Err(TestCaseError::fail(format!("{other:?} mid-path"))),
                }
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
            // 1 is reached flat only: what lives with it is kept, a strong
            // back-reference from it is not followed.
            nodes.lives_with(&n(7), &n(1));
            nodes.back_reference(&n(8), &n(1), Strength::Strong);
            for key in 7..10 {
                nodes.push(&n(key));
            }
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
            match node.key {
                0 => refs.flat(&n(1)),
                1 => {
                    refs.structural(&n(9));
                    refs.strong(&n(3));
                }
                _ => {}
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
    let lease = (0, Reason::Root(RootKind::Lease));
    let flat = (1, Reason::Reference(Strength::Flat));
    assert_eq!(why(7), [lease, flat, (7, Reason::BackReference)]);
    assert_eq!(why(8), [], "a strong back-reference from a flat node");
    assert_eq!(
        why(9),
        [lease, flat, (9, Reason::Reference(Strength::Structural))]
    );
    assert_eq!(why(5), [(5, Reason::Root(RootKind::Grace))]);
    assert_eq!(
        why(6),
        [
            (5, Reason::Root(RootKind::Grace)),
            (6, Reason::BackReference)
        ]
    );
}
