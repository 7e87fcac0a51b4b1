//! Wide fan-out: one node with a million references (an index, a namespace
//! holding every blob) must work on both paths, and so must a million
//! references that all lead to the same node.
//!
//! The fixture computes its edges instead of storing them, so building the
//! graph costs nothing and the tests stay fast in debug builds.

mod common;

use std::convert::Infallible;

use common::{TestNode, n};
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, NodeSink, ReferenceSink,
    Strength,
};

const WIDE: u32 = 1_000_000;

/// The `Node` path costs about two seconds per million nodes in a debug
/// build: the headline tests use a full million, the variants fewer.
const NARROWER: u32 = 100_000;

/// What the hub's references lead to.
#[derive(Clone, Copy, PartialEq)]
enum Targets {
    /// The leaves `0..leaves`, each once.
    EachLeaf,
    /// Leaf 0, this many times over.
    LeafZeroOverAndOver(u32),
    /// The leaves, strongly the even ones and weakly the odd ones.
    EvenStrongOddWeak,
    /// Nodes `leaves + 2 ..`, which are not listed: every reference is a
    /// dead edge, all of them emitted in one callback.
    Unlisted,
}

/// Leaves `0..leaves` and the hub `leaves` are listed, plus `leaves + 1`,
/// which nothing references. The hub is the only root.
struct Fan {
    leaves: u32,
    targets: Targets,
    /// Expansions by key, for keys `0..leaves + 2`; unlisted targets are
    /// counted in `unlisted_expansions`.
    expansions: Vec<u8>,
    unlisted_expansions: usize,
}

impl Fan {
    fn new(leaves: u32, targets: Targets) -> Self {
        Fan {
            leaves,
            targets,
            expansions: vec![0; leaves as usize + 2],
            unlisted_expansions: 0,
        }
    }

    fn hub(&self) -> u32 {
        self.leaves
    }

    fn stray(&self) -> u32 {
        self.leaves + 1
    }

    /// The hub's references, as (target, strength).
    fn fan(&self) -> impl Iterator<Item = (u32, Strength)> + use<> {
        let (leaves, targets) = (self.leaves, self.targets);
        let width = match targets {
            Targets::LeafZeroOverAndOver(times) => times,
            _ => leaves,
        };
        (0..width).map(move |leaf| match targets {
            Targets::EachLeaf => (leaf, Strength::Strong),
            Targets::LeafZeroOverAndOver(_) => (0, Strength::Strong),
            Targets::EvenStrongOddWeak if leaf % 2 == 0 => (leaf, Strength::Strong),
            Targets::EvenStrongOddWeak => (leaf, Strength::Weak),
            Targets::Unlisted => (leaves + 2 + leaf, Strength::Strong),
        })
    }

    fn count_expansion(&mut self, key: u32) {
        match self.expansions.get_mut(key as usize) {
            Some(count) => *count += 1,
            None => self.unlisted_expansions += 1,
        }
    }

    /// Keys whose expansion count is not `expected(key)`.
    fn wrongly_expanded(&self, expected: impl Fn(u32) -> u8) -> Vec<(u32, u8)> {
        (0..self.expansions.len() as u32)
            .map(|key| (key, self.expansions[key as usize]))
            .filter(|&(key, count)| count != expected(key))
            .take(10)
            .collect()
    }
}

impl CollectionContext for Fan {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        nodes.reserve(self.leaves as usize + 2);
        (0..=self.stray()).for_each(|key| nodes.push(&n(key)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        roots.strong(&n(self.hub()));
        Ok(())
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        self.count_expansion(node.key);
        if node.key == self.hub() {
            for (target, strength) in self.fan() {
                refs.add(&n(target), strength);
            }
        }
        Ok(())
    }
}

impl DenseContext for Fan {
    type Error = Infallible;

    fn node_count(&self) -> u32 {
        self.leaves + 2
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Infallible> {
        roots.strong(self.hub());
        Ok(())
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Infallible> {
        self.count_expansion(id);
        if id == self.hub() {
            for (target, strength) in self.fan() {
                refs.add(target, strength);
            }
        }
        Ok(())
    }
}

#[test]
fn node_path_one_node_with_a_million_references_keeps_them_all() {
    let mut fan = Fan::new(WIDE, Targets::EachLeaf);
    let mut gc = Collector::new();
    let result = gc.collect(&mut fan).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(WIDE + 1)]);
    let stats = result.stats().clone();
    assert_eq!(stats.references_followed, WIDE as usize);
    assert_eq!(stats.nodes_expanded, WIDE as usize + 1);
    assert_eq!(stats.nodes_marked, WIDE as usize + 1);
    assert_eq!(fan.wrongly_expanded(|key| u8::from(key <= WIDE)), []);
}

#[test]
fn node_path_a_million_references_to_one_node_expand_it_once() {
    // Leaves 0..3, hub 3, stray 4; the hub references leaf 0 a million
    // times.
    let mut fan = Fan::new(3, Targets::LeafZeroOverAndOver(WIDE));
    let mut gc = Collector::new();
    let result = gc.collect(&mut fan).unwrap();
    assert_eq!(result.stats().references_followed, WIDE as usize);
    assert_eq!(result.stats().nodes_expanded, 2);
    let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
    assert_eq!(garbage, [1, 2, 4]);
    assert_eq!(fan.expansions, [1, 0, 0, 1, 0]);
}

#[test]
fn node_path_weak_references_in_a_wide_fan_keep_nothing() {
    let mut fan = Fan::new(NARROWER, Targets::EvenStrongOddWeak);
    let mut gc = Collector::new();
    let result = gc.collect(&mut fan).unwrap();
    let odd = (1..NARROWER).step_by(2);
    assert!(
        result
            .garbage()
            .map(|node| node.key)
            .eq(odd.chain([NARROWER + 1]))
    );
    assert_eq!(result.garbage().len(), NARROWER as usize / 2 + 1);
    assert_eq!(result.stats().weak_references, NARROWER as usize / 2);
    let hub = NARROWER;
    assert_eq!(
        fan.wrongly_expanded(|key| u8::from(key == hub || key % 2 == 0 && key < hub)),
        []
    );
}

#[test]
fn node_path_a_wide_fan_of_dead_edges_in_one_callback() {
    // Every target is unlisted, so all of them wait in the collector's side
    // buffer until the hub's callback returns.
    let mut fan = Fan::new(NARROWER, Targets::Unlisted);
    let mut gc = Collector::new();
    let result = gc.collect(&mut fan).unwrap();
    let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
    assert_eq!(garbage.len(), NARROWER as usize + 1);
    assert!(
        garbage
            .iter()
            .copied()
            .eq((0..NARROWER).chain([NARROWER + 1]))
    );
    assert_eq!(result.stats().dead_edges, NARROWER as usize);
    assert_eq!(result.stats().nodes_marked, NARROWER as usize + 1);
    assert!(
        result.is_live(&n(2 * NARROWER + 1)),
        "the last unlisted target"
    );
    assert_eq!(fan.unlisted_expansions, NARROWER as usize);
}

#[test]
fn dense_path_one_id_with_a_million_references_keeps_them_all() {
    let mut fan = Fan::new(WIDE, Targets::EachLeaf);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut fan).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [WIDE + 1]);
    assert_eq!(result.stats().references_followed, WIDE as usize);
    assert_eq!(result.stats().nodes_expanded, WIDE as usize + 1);
    assert_eq!(fan.wrongly_expanded(|key| u8::from(key <= WIDE)), []);
}

#[test]
fn dense_path_a_million_references_to_one_id_expand_it_once() {
    let mut fan = Fan::new(3, Targets::LeafZeroOverAndOver(WIDE));
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut fan).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [1, 2, 4]);
    assert_eq!(result.stats().references_followed, WIDE as usize);
    assert_eq!(result.stats().nodes_expanded, 2);
    assert_eq!(fan.expansions, [1, 0, 0, 1, 0]);
}

#[test]
fn dense_path_weak_references_in_a_million_wide_fan_keep_nothing() {
    let mut fan = Fan::new(WIDE, Targets::EvenStrongOddWeak);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut fan).unwrap();
    assert!(result.garbage().eq((1..WIDE).step_by(2).chain([WIDE + 1])));
    assert_eq!(result.garbage().len(), WIDE as usize / 2 + 1);
    assert_eq!(result.stats().weak_references, WIDE as usize / 2);
}
