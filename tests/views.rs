//! `NodeView`: emitting and listing borrowed stand-ins (`Node<u8, &str,
//! &str>` for `Node<u8, String, String>`) gives exactly the answers that
//! emitting owned nodes gives — same garbage, same live set, same stats —
//! including dead edges (an unseen view is cloned into the table).

mod common;

use std::convert::Infallible;

use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{
    CollectionContext, Collector, Node, NodeSinkOf, ReferenceSinkOf, Stats, Strength,
};

type Owned = Node<u8, String, String>;

/// A store whose references live in label strings, as containerd's do:
/// `(namespace, key, strength)` per reference.
#[derive(Clone, Debug)]
struct LabelStore {
    listed: Vec<(String, String)>,
    roots: Vec<(String, String, Strength)>,
    labels: Vec<Vec<(String, String, Strength)>>,
    /// Emit views (true) or build owned nodes (false).
    views: bool,
}

fn key_of(i: u32) -> (String, String) {
    (format!("ns{}", i % 2), format!("sha256:{i:04}"))
}

impl LabelStore {
    fn labels_of(&self, node: &Owned) -> &[(String, String, Strength)] {
        let index = node.key.trim_start_matches("sha256:").parse::<usize>().ok();
        index
            .filter(|_| node.namespace == key_of(index.unwrap() as u32).0)
            .and_then(|i| self.labels.get(i))
            .map_or(&[], Vec::as_slice)
    }
}

impl CollectionContext for LabelStore {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
        for (ns, key) in &self.listed {
            if self.views {
                nodes.push_view(&Node::new(1, ns.as_str(), key.as_str()));
            } else {
                nodes.push(&Node::new(1, ns.clone(), key.clone()));
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
        for (ns, key, strength) in &self.roots {
            if self.views {
                roots.add_view(&Node::new(1, ns.as_str(), key.as_str()), *strength);
            } else {
                roots.add(&Node::new(1, ns.clone(), key.clone()), *strength);
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Owned,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        for (ns, key, strength) in self.labels_of(node) {
            if self.views {
                refs.add_view(&Node::new(1, ns.as_str(), key.as_str()), *strength);
            } else {
                refs.add(&Node::new(1, ns.clone(), key.clone()), *strength);
            }
        }
        Ok(())
    }
}

const KEYS: u32 = 30;

fn strength() -> impl Strategy<Value = Strength> {
    prop_oneof![
        3 => Just(Strength::Strong),
        1 => Just(Strength::Weak),
        1 => Just(Strength::Flat),
    ]
}

/// Keys beyond `KEYS` have no labels: references to them are dead edges
/// when unlisted.
fn store() -> impl Strategy<Value = LabelStore> {
    (
        vec(0..KEYS + 5, 0..40),
        vec((0..KEYS + 5, strength()), 0..5),
        vec(vec((0..KEYS + 5, strength()), 0..4), KEYS as usize),
    )
        .prop_map(|(listed, roots, labels)| {
            let with = |(i, s): (u32, Strength)| {
                let (ns, key) = key_of(i);
                (ns, key, s)
            };
            LabelStore {
                listed: listed.into_iter().map(key_of).collect(),
                roots: roots.into_iter().map(with).collect(),
                labels: labels
                    .into_iter()
                    .map(|refs| refs.into_iter().map(with).collect())
                    .collect(),
                views: false,
            }
        })
}

/// Garbage and live keys in order, and the stats without timings.
fn outcome(
    gc: &mut Collector<u8, String, String>,
    store: &mut LabelStore,
) -> (Vec<String>, Vec<String>, Stats) {
    let collection = gc.collect(store).unwrap();
    let garbage = collection.garbage().map(|n| n.key.clone()).collect();
    let live = collection.live().map(|n| n.key.clone()).collect();
    let mut stats = collection.stats().clone();
    stats.listing_time = Default::default();
    stats.mark_time = Default::default();
    stats.sweep_time = Default::default();
    (garbage, live, stats)
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn views_answer_exactly_as_owned_nodes_do(store in store()) {
        let mut owned = store.clone();
        let mut viewed = LabelStore { views: true, ..store };
        let by_owned = outcome(&mut Collector::new(), &mut owned);
        let by_view = outcome(&mut Collector::new(), &mut viewed);
        prop_assert_eq!(&by_view, &by_owned);

        // And mixed on one reused collector: the table holds nodes
        // interned from views, then probed by owned nodes, and back.
        let mut gc = Collector::new();
        prop_assert_eq!(&outcome(&mut gc, &mut viewed), &by_owned);
        prop_assert_eq!(&outcome(&mut gc, &mut owned), &by_owned);
        prop_assert_eq!(&outcome(&mut gc, &mut viewed), &by_owned);
    }
}

/// The policy calls have view twins that answer as the owned ones do:
/// `push_used_view`, `expiring_view`, `lives_with_view`.
#[derive(Clone, Copy)]
struct Policies {
    views: bool,
}

fn owned(key: &str) -> Owned {
    Node::new(1, "ns".to_string(), key.to_string())
}

fn now() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

impl CollectionContext for Policies {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
        for (key, used) in [("young", now() - HOUR), ("old", now() - 3 * HOUR)] {
            match self.views {
                true => nodes.push_used_view(&Node::new(1, "ns", key), used),
                false => nodes.push_used(&owned(key), used),
            }
        }
        for key in ["leased", "expired", "child", "orphan", "parent"] {
            nodes.push(&owned(key));
        }
        match self.views {
            true => {
                nodes.lives_with_view(&Node::new(1, "ns", "child"), &Node::new(1, "ns", "parent"))
            }
            false => nodes.lives_with(&owned("child"), &owned("parent")),
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
        for (key, expires) in [
            ("leased", now() + HOUR),
            ("expired", now() - HOUR),
            ("parent", now()),
        ] {
            match self.views {
                true => roots.expiring_view(&Node::new(1, "ns", key), Strength::Strong, expires),
                false => roots.expiring(&owned(key), Strength::Strong, expires),
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        _: &Owned,
        _: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        Ok(())
    }
}

#[test]
fn the_policy_calls_answer_the_same_with_views() {
    let options = resource_gc::Options::default()
        .now(now())
        .grace_period(2 * HOUR);
    let mut answers = Vec::new();
    for views in [false, true] {
        let mut gc = Collector::new();
        let result = gc.collect_with(&mut Policies { views }, &options).unwrap();
        let garbage: Vec<String> = result.garbage().map(|node| node.key.clone()).collect();
        let stats = result.stats();
        answers.push((garbage, stats.roots_by_kind.clone(), stats.next_deadline));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, ["old", "expired", "orphan"]);
    let counts = &answers[0].1;
    assert_eq!(
        (counts.leases, counts.leases_expired, counts.grace),
        (2, 1, 1)
    );
    assert_eq!(counts.back_references, 1);
}
