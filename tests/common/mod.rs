//! An in-memory store for the integration tests: nodes, roots and edges of
//! any strength, with hooks to fail or panic in a chosen callback.
#![allow(dead_code)] // Each test file uses a different part of it.

pub mod oracle;

use std::collections::HashMap;

use resource_gc::{
    CollectionContext, Collector, Flow, Node, NodeSink, Progress, ReferenceSink, Strength,
};

/// Small parts keep property-test graphs readable when they fail.
pub type TestNode = Node<u8, u8, u32>;

/// Node `key` of kind 1 in namespace 0.
pub fn n(key: u32) -> TestNode {
    Node::new(1, 0, key)
}

/// What the store does wrong, if anything.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Fault {
    #[default]
    None,
    FailListing,
    FailRoots,
    FailReferencesOf(TestNode),
    PanicInReferencesOf(TestNode),
    /// `checkpoint` returns `Abort` from its k-th call (0-based) on.
    AbortAtCheckpoint(usize),
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("the store failed on purpose")]
pub struct StoreError;

#[derive(Clone, Debug, Default)]
pub struct MemStore {
    /// What `all` lists, in this order, duplicates included.
    pub listed: Vec<TestNode>,
    pub roots: Vec<(TestNode, Strength)>,
    pub edges: HashMap<TestNode, Vec<(TestNode, Strength)>>,
    /// `(child, parent, strength)`, declared after the listing with
    /// `back_reference` (`lives_with` for a structural one).
    pub back_references: Vec<(TestNode, TestNode, Strength)>,
    pub fault: Fault,
    /// How many times `references` was called for each node.
    pub expansions: HashMap<TestNode, usize>,
    /// Checkpoint calls so far, across collections: reset it before reusing
    /// a store with `Fault::AbortAtCheckpoint`.
    pub checkpoints: usize,
}

impl MemStore {
    /// Nodes `0..count` listed, no roots, no edges.
    pub fn with_nodes(count: u32) -> Self {
        MemStore {
            listed: (0..count).map(n).collect(),
            ..Self::default()
        }
    }

    pub fn root(&mut self, key: u32, strength: Strength) -> &mut Self {
        self.roots.push((n(key), strength));
        self
    }

    pub fn edge(&mut self, from: u32, to: u32, strength: Strength) -> &mut Self {
        self.edges
            .entry(n(from))
            .or_default()
            .push((n(to), strength));
        self
    }

    pub fn back_reference(&mut self, child: u32, parent: u32, strength: Strength) -> &mut Self {
        self.back_references.push((n(child), n(parent), strength));
        self
    }
}

/// Emits a reference through the sink's method named for its strength
/// (`strong`, `weak`, `flat`, `structural`) rather than through `add`.
pub fn emit_named<T, N, K>(
    refs: &mut ReferenceSink<'_, T, N, K>,
    node: &Node<T, N, K>,
    s: Strength,
) {
    match s {
        Strength::Strong => refs.strong(node),
        Strength::Weak => refs.weak(node),
        Strength::Flat => refs.flat(node),
        Strength::Structural => refs.structural(node),
        other => refs.add(node, other),
    }
}

impl CollectionContext for MemStore {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        if self.fault == Fault::FailListing {
            return Err(StoreError);
        }
        nodes.reserve(self.listed.len());
        for node in &self.listed {
            nodes.push(node);
        }
        for (child, parent, strength) in &self.back_references {
            if *strength == Strength::Structural {
                nodes.lives_with(child, parent);
            } else {
                nodes.back_reference(child, parent, *strength);
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        if self.fault == Fault::FailRoots {
            return Err(StoreError);
        }
        for (node, strength) in &self.roots {
            roots.add(node, *strength);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        *self.expansions.entry(node.clone()).or_default() += 1;
        match &self.fault {
            Fault::FailReferencesOf(bad) if bad == node => return Err(StoreError),
            Fault::PanicInReferencesOf(bad) if bad == node => panic!("store panics on purpose"),
            _ => {}
        }
        // Every other reference through the method named for its strength.
        let targets = self.edges.get(node).into_iter().flatten();
        for (i, (target, strength)) in targets.enumerate() {
            if i % 2 == 0 {
                refs.add(target, *strength);
            } else {
                emit_named(refs, target, *strength);
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, _progress: &Progress) -> Flow {
        let call = self.checkpoints;
        self.checkpoints += 1;
        match self.fault {
            Fault::AbortAtCheckpoint(k) if call >= k => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

/// Live and garbage keys of one collection by a fresh collector, each in
/// listing order.
pub fn run(store: &mut MemStore) -> (Vec<u32>, Vec<u32>) {
    let mut gc = Collector::new();
    let result = gc.collect(store).expect("the store does not fail");
    (
        result.live().map(|node| node.key).collect(),
        result.garbage().map(|node| node.key).collect(),
    )
}

/// The nodes `references` was called for, with how often, by key.
pub fn expansions(store: &MemStore) -> Vec<(u32, usize)> {
    let mut counts: Vec<(u32, usize)> = store
        .expansions
        .iter()
        .map(|(node, &count)| (node.key, count))
        .collect();
    counts.sort_unstable();
    counts
}

/// The property tests' settings: the case count from `PROPTEST_CASES`, and
/// XorShift, which in the debug profile generates cases several times
/// faster than proptest's default ChaCha.
pub fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..proptest::test_runner::Config::default()
    }
}

/// Any strength, each as likely.
pub fn any_strength() -> impl proptest::strategy::Strategy<Value = Strength> {
    use proptest::prelude::Just;
    proptest::prop_oneof![
        Just(Strength::Strong),
        Just(Strength::Weak),
        Just(Strength::Flat),
        Just(Strength::Structural),
    ]
}

/// The strengths that keep their target, each as likely.
pub fn keeping_strength() -> impl proptest::strategy::Strategy<Value = Strength> {
    use proptest::prelude::Just;
    proptest::prop_oneof![
        Just(Strength::Strong),
        Just(Strength::Flat),
        Just(Strength::Structural),
    ]
}

/// `strength` made one step stronger, in the order in which each keeps at
/// least what the one before keeps: weak < flat < strong < structural.
/// (Structural is above strong: from a node reached flat, a strong
/// reference is not followed, a structural one is.)
pub fn upgraded(strength: Strength) -> Strength {
    match strength {
        Strength::Weak => Strength::Flat,
        Strength::Flat => Strength::Strong,
        _ => Strength::Structural,
    }
}

/// A hasher whose every hash is one of four: nearly every node collides.
#[derive(Clone, Default)]
pub struct FourHashes;

pub struct Truncated(std::hash::DefaultHasher);

impl std::hash::Hasher for Truncated {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn finish(&self) -> u64 {
        self.0.finish() & 3
    }
}

impl std::hash::BuildHasher for FourHashes {
    type Hasher = Truncated;
    fn build_hasher(&self) -> Truncated {
        Truncated(std::hash::DefaultHasher::new())
    }
}
