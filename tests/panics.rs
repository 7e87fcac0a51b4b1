//! A panic in a callback unwinds out of `collect` and yields nothing; the
//! collector is left with half-done per-collection state (a partial
//! listing, partial marks, targets not yet interned), and the next
//! collection with the same collector must not see any of it.
//!
//! The panics print their message to stderr; that is expected.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{Fault, MemStore, StoreError, TestNode, n};
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, Flow, NodeSink,
    Progress, ReferenceSink,
    Strength::{self, Strong},
};

type Gc = Collector<u8, u8, u32>;

/// Runs one collection, catching a panic: `Err(message)` if it panicked,
/// else the garbage keys in listing order (or the error's message).
fn try_collect<C>(gc: &mut Gc, ctx: &mut C) -> Result<Result<Vec<u32>, String>, String>
where
    C: CollectionContext<Kind = u8, Namespace = u8, Key = u32>,
{
    catch_unwind(AssertUnwindSafe(|| {
        gc.collect(ctx)
            .map(|result| result.garbage().map(|node| node.key).collect())
            .map_err(|err| err.to_string())
    }))
    .map_err(|payload| panic_message(payload.as_ref()))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Roots {0}; 0 → 1 → 2, 0 → 3; 4 and 5 unreachable.
fn store() -> MemStore {
    let mut store = MemStore::with_nodes(6);
    store.root(0, Strong);
    store
        .edge(0, 1, Strong)
        .edge(1, 2, Strong)
        .edge(0, 3, Strong);
    store
}

#[test]
fn a_panic_in_references_propagates_out_of_collect() {
    let mut store = store();
    store.fault = Fault::PanicInReferencesOf(n(1));
    let outcome = try_collect(&mut Collector::new(), &mut store);
    assert_eq!(outcome, Err("store panics on purpose".to_string()));
}

#[test]
fn after_a_panic_in_references_the_same_collector_is_correct() {
    let mut gc = Collector::new();
    let mut store = store();
    store.fault = Fault::PanicInReferencesOf(n(1));
    assert!(try_collect(&mut gc, &mut store).is_err());
    store.fault = Fault::None;
    store.expansions.clear();
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4, 5])));
    let mut expanded: Vec<u32> = store.expansions.keys().map(|node| node.key).collect();
    expanded.sort_unstable();
    assert_eq!(expanded, [0, 1, 2, 3]);
    assert!(store.expansions.values().all(|&count| count == 1));
}

#[test]
fn after_a_panic_the_same_collector_is_correct_on_a_different_store() {
    let mut gc = Collector::new();
    let mut bad = store();
    bad.fault = Fault::PanicInReferencesOf(n(2));
    assert!(try_collect(&mut gc, &mut bad).is_err());
    // Now nodes 10..15, root 14 → 12; the first store's nodes are gone.
    let mut good = MemStore {
        listed: (10..15).map(n).collect(),
        ..MemStore::default()
    };
    good.root(14, Strong).edge(14, 12, Strong);
    assert_eq!(try_collect(&mut gc, &mut good), Ok(Ok(vec![10, 11, 13])));
}

#[test]
fn after_a_panic_midway_through_the_listing_those_nodes_are_not_candidates() {
    // The listing pushes 0..6 and panics; the next lists only 4 and 5.
    // Nodes 0..4 must not come back as garbage: they are no longer listed.
    let mut gc = Collector::new();
    let mut store = Panicky::new(store(), Some(At::Listing));
    assert!(try_collect(&mut gc, &mut store).is_err());
    store.at = None;
    store.inner.listed = vec![n(4), n(5)];
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4, 5])));
}

#[test]
fn after_a_panic_midway_through_the_roots_those_roots_are_forgotten() {
    // The roots callback emits 0 and 4 strongly, then panics. Next time
    // only 0 is a root: 4 must be garbage again.
    let mut gc = Collector::new();
    let mut store = Panicky::new(store(), Some(At::Roots));
    store.inner.root(4, Strong);
    assert!(try_collect(&mut gc, &mut store).is_err());
    store.at = None;
    store.inner.roots.pop();
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4, 5])));
}

#[test]
fn after_a_panic_with_unlisted_targets_pending_they_are_forgotten() {
    // 0's references emit 4 (unlisted this time, so held aside until the
    // callback returns), then panic. Next time 4 is listed and nothing
    // references it: it must be garbage, not marked by the stale reference.
    let mut gc = Collector::new();
    let mut store = Panicky::new(MemStore::with_nodes(1), Some(At::ReferencesOf(n(0))));
    store.inner.root(0, Strong).edge(0, 4, Strong);
    assert!(try_collect(&mut gc, &mut store).is_err());
    store.at = None;
    store.inner.listed = vec![n(0), n(4)];
    store.inner.edges.clear();
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4])));
}

#[test]
fn after_a_panic_in_checkpoint_the_same_collector_is_correct() {
    for call in 0..3 {
        let mut gc = Collector::new();
        let mut store = Panicky::new(store(), Some(At::Checkpoint(call)));
        assert_eq!(
            try_collect(&mut gc, &mut store),
            Err("checkpoint panics on purpose".to_string()),
            "checkpoint {call}"
        );
        store.at = None;
        assert_eq!(
            try_collect(&mut gc, &mut store),
            Ok(Ok(vec![4, 5])),
            "checkpoint {call}"
        );
    }
}

#[test]
fn a_panic_between_two_good_collections_does_not_disturb_the_third() {
    // The first collection keeps 0..4 interned; the second panics halfway
    // through marking a changed store; the third sees yet another store.
    let mut gc = Collector::new();
    let mut store = store();
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4, 5])));

    store.roots.clear();
    store.root(4, Strong).root(0, Strong).edge(4, 5, Strong);
    store.fault = Fault::PanicInReferencesOf(n(1));
    assert!(try_collect(&mut gc, &mut store).is_err());

    // Third: root 5 only; 0..5 unreachable, 6 new and unreachable.
    store.fault = Fault::None;
    store.roots.clear();
    store.root(5, Strong);
    store.listed.push(n(6));
    assert_eq!(
        try_collect(&mut gc, &mut store),
        Ok(Ok(vec![0, 1, 2, 3, 4, 6]))
    );
}

#[test]
fn many_panics_in_a_row_leave_the_collector_usable() {
    let mut gc = Collector::new();
    let mut store = store();
    for bad in [0, 1, 2, 3, 0, 2] {
        store.fault = Fault::PanicInReferencesOf(n(bad));
        assert!(try_collect(&mut gc, &mut store).is_err(), "node {bad}");
    }
    store.fault = Fault::None;
    assert_eq!(try_collect(&mut gc, &mut store), Ok(Ok(vec![4, 5])));
}

#[test]
fn an_error_after_a_panic_is_still_reported() {
    let mut gc = Collector::new();
    let mut store = store();
    store.fault = Fault::PanicInReferencesOf(n(3));
    assert!(try_collect(&mut gc, &mut store).is_err());
    store.fault = Fault::FailRoots;
    assert_eq!(
        try_collect(&mut gc, &mut store),
        Ok(Err("reading the roots failed".to_string()))
    );
}

#[test]
fn dense_after_a_panic_in_references_the_same_collector_is_correct() {
    let mut gc = DenseCollector::new();
    let mut store = DensePanicky {
        edges: vec![vec![1], vec![2], vec![], vec![], vec![0]],
        roots: vec![0],
        panic_in: Some(1),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| gc.collect(&mut store).is_ok()));
    assert!(outcome.is_err(), "the panic propagates");
    store.panic_in = None;
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn dense_after_a_panic_the_marks_of_the_panicked_run_are_forgotten() {
    // The panicked run reached 0, 1 and 2 from root 0; the next run has no
    // roots at all, so everything is garbage.
    let mut gc = DenseCollector::new();
    let mut store = DensePanicky {
        edges: vec![vec![1, 2], vec![], vec![], vec![]],
        roots: vec![0],
        panic_in: Some(2),
    };
    assert!(catch_unwind(AssertUnwindSafe(|| gc.collect(&mut store).is_ok())).is_err());
    store.panic_in = None;
    store.roots.clear();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [0, 1, 2, 3]);
}

/// Where a [`Panicky`] store panics, after doing its work up to then.
#[derive(Clone, Debug, PartialEq)]
enum At {
    /// After listing everything.
    Listing,
    /// After emitting every root.
    Roots,
    /// After emitting the node's references.
    ReferencesOf(TestNode),
    /// At the k-th checkpoint (0-based).
    Checkpoint(usize),
}

/// A [`MemStore`] that panics after doing part of its work, so that the
/// collector is mid-way through updating its state when it unwinds.
struct Panicky {
    inner: MemStore,
    at: Option<At>,
    checkpoints: usize,
}

impl Panicky {
    fn new(inner: MemStore, at: Option<At>) -> Self {
        Panicky {
            inner,
            at,
            checkpoints: 0,
        }
    }
}

impl CollectionContext for Panicky {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.inner.all(nodes)?;
        if self.at == Some(At::Listing) {
            panic!("listing panics on purpose");
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.inner.roots(roots)?;
        if self.at == Some(At::Roots) {
            panic!("roots panics on purpose");
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        self.inner.references(node, refs)?;
        if self.at.as_ref() == Some(&At::ReferencesOf(node.clone())) {
            panic!("references panics on purpose");
        }
        Ok(())
    }

    fn checkpoint(&mut self, _progress: &Progress) -> Flow {
        let call = self.checkpoints;
        self.checkpoints += 1;
        if self.at == Some(At::Checkpoint(call)) {
            panic!("checkpoint panics on purpose");
        }
        Flow::Continue
    }
}

/// Adjacency lists by id, strong roots, and one id whose references panic
/// after they are emitted.
struct DensePanicky {
    edges: Vec<Vec<u32>>,
    roots: Vec<u32>,
    panic_in: Option<u32>,
}

impl DenseContext for DensePanicky {
    type Error = StoreError;

    fn node_count(&self) -> u32 {
        self.edges.len() as u32
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), StoreError> {
        roots.strong_all(&self.roots);
        Ok(())
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), StoreError> {
        for &target in &self.edges[id as usize] {
            refs.add(target, Strength::Strong);
        }
        if self.panic_in == Some(id) {
            panic!("dense references panics on purpose");
        }
        Ok(())
    }
}
