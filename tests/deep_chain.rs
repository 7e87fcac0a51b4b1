//! Marking must not recurse: a chain of a million references has to be
//! followed with heap memory, on both the `Node` path and the dense path.
//! A recursive mark would overflow the 2 MiB stack of a test thread long
//! before the end of the chain.
//!
//! The fixtures compute edges arithmetically instead of storing them in a
//! map, so that building the graph costs next to nothing and the test stays
//! fast in debug builds.

mod common;

use std::convert::Infallible;

use common::{TestNode, n};
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, NodeSink, ReferenceSink,
};

const LEN: u32 = 1_000_000;

/// The `Node` path costs about two seconds per million nodes in a debug
/// build, so only the headline test walks a full million there; the
/// variants use a chain that is still far deeper than any stack could
/// recurse (a 2 MiB stack holds a few tens of thousands of frames).
const SHORT: u32 = 100_000;

/// Nodes `0..len` listed, plus `extra` listed after them; `k → k+1` for
/// every `k + 1 < len`, and optionally `len-1 → 0` to close a ring.
struct Chain {
    len: u32,
    extra: Vec<u32>,
    root: u32,
    ring: bool,
    /// Whether the chain's nodes are listed at all; when not, every link is
    /// a dead edge and every node goes through the collector's side buffer.
    listed: bool,
    expansions: Vec<u8>,
}

impl Chain {
    fn new(len: u32, root: u32) -> Self {
        Chain {
            len,
            extra: Vec::new(),
            root,
            ring: false,
            listed: true,
            expansions: vec![0; len as usize],
        }
    }

    fn next(&self, key: u32) -> Option<u32> {
        match key + 1 {
            next if next < self.len => Some(next),
            _ if self.ring => Some(0),
            _ => None,
        }
    }

    fn assert_each_expanded_once(&self, from: u32) {
        let wrong = self
            .expansions
            .iter()
            .enumerate()
            .find(|&(key, &count)| count != u8::from(key as u32 >= from));
        assert_eq!(
            wrong, None,
            "(key, expansions) expanded a wrong number of times"
        );
    }
}

impl CollectionContext for Chain {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        if self.listed {
            nodes.reserve(self.len as usize + self.extra.len());
            (0..self.len).for_each(|k| nodes.push(&n(k)));
        }
        self.extra.iter().for_each(|&k| nodes.push(&n(k)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        roots.strong(&n(self.root));
        Ok(())
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        if let Some(count) = self.expansions.get_mut(node.key as usize) {
            *count += 1;
        }
        if let Some(next) = self.next(node.key) {
            refs.strong(&n(next));
        }
        Ok(())
    }
}

impl DenseContext for Chain {
    type Error = Infallible;

    fn node_count(&self) -> u32 {
        self.len
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Infallible> {
        roots.strong(self.root);
        Ok(())
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Infallible> {
        self.expansions[id as usize] += 1;
        if let Some(next) = self.next(id) {
            refs.strong(next);
        }
        Ok(())
    }
}

#[test]
fn node_path_follows_a_million_link_chain_without_overflowing_the_stack() {
    let mut chain = Chain::new(LEN, 0);
    // One node off the chain, so that the test also sees a non-empty sweep.
    chain.extra.push(LEN);
    let mut gc = Collector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(LEN)]);
    assert_eq!(result.live().len(), LEN as usize);
    assert!(result.is_live(&n(LEN - 1)), "the tail is live");
    let stats = result.stats().clone();
    assert_eq!(stats.nodes_expanded, LEN as usize);
    assert_eq!(stats.references_followed, LEN as usize - 1);
    assert_eq!(stats.nodes_marked, LEN as usize);
    chain.assert_each_expanded_once(0);
}

#[test]
fn node_path_chain_rooted_in_the_middle_sweeps_exactly_the_first_half() {
    let mut chain = Chain::new(SHORT, SHORT / 2);
    let mut gc = Collector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().len(), SHORT as usize / 2);
    // Listing order: the garbage is 0, 1, …, SHORT/2 - 1.
    assert!(result.garbage().map(|node| node.key).eq(0..SHORT / 2));
    chain.assert_each_expanded_once(SHORT / 2);
}

#[test]
fn node_path_follows_a_long_ring_back_to_its_start() {
    // Rooted at the last node: everything is reached through the edge that
    // closes the ring.
    let mut chain = Chain::new(SHORT, SHORT - 1);
    chain.ring = true;
    let mut gc = Collector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.stats().nodes_expanded, SHORT as usize);
    chain.assert_each_expanded_once(0);
}

#[test]
fn node_path_follows_a_long_chain_of_dead_edges() {
    // Nothing on the chain is listed, only node SHORT, which is garbage.
    // Every link goes through the side buffer of targets the listing did
    // not name.
    let mut chain = Chain::new(SHORT, 0);
    chain.listed = false;
    chain.extra.push(SHORT);
    let mut gc = Collector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(SHORT)]);
    let stats = result.stats();
    assert_eq!(stats.dead_edges, SHORT as usize - 1);
    assert_eq!(stats.nodes_marked, SHORT as usize);
    assert!(result.is_live(&n(SHORT - 1)));
    chain.assert_each_expanded_once(0);
}

#[test]
fn dense_path_follows_a_million_link_chain_without_overflowing_the_stack() {
    let mut chain = Chain::new(LEN, 0);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.stats().nodes_expanded, LEN as usize);
    assert_eq!(result.stats().nodes_marked, LEN as usize);
    chain.assert_each_expanded_once(0);
}

#[test]
fn dense_path_chain_rooted_in_the_middle_sweeps_exactly_the_first_half() {
    let mut chain = Chain::new(LEN, LEN / 2);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert!(result.garbage().eq(0..LEN / 2));
    assert_eq!(result.garbage().len(), LEN as usize / 2);
    chain.assert_each_expanded_once(LEN / 2);
}

#[test]
fn dense_path_follows_a_million_link_ring_back_to_its_start() {
    let mut chain = Chain::new(LEN, LEN / 3);
    chain.ring = true;
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut chain).unwrap();
    assert_eq!(result.garbage().len(), 0);
    chain.assert_each_expanded_once(0);
}
