//! Fail safe: a collection that cannot see the whole graph returns an error
//! and nothing to remove. Every failing callback maps to its own variant
//! with the embedder's error kept as the source; an abort from `checkpoint`
//! names the phase; a time limit that passes is an error too.

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::{Fault, MemStore, StoreError, TestNode, n};
use resource_gc::{
    CollectError, CollectionContext, Collector, Error, Flow, NodeSink, Options, Phase, Progress,
    ReferenceSink, Strength::Strong,
};

/// Roots {0}; 0 → 1 → 2 → 3; 4 unreachable.
fn chain_store(fault: Fault) -> MemStore {
    let mut store = MemStore::with_nodes(5);
    store.root(0, Strong);
    store
        .edge(0, 1, Strong)
        .edge(1, 2, Strong)
        .edge(2, 3, Strong);
    store.fault = fault;
    store
}

/// Runs one collection that must fail, and returns its error.
fn fail(store: &mut MemStore) -> CollectError<MemStore> {
    Collector::new()
        .collect(store)
        .map(|result| result.garbage().cloned().collect::<Vec<_>>())
        .expect_err("the collection must fail")
}

/// The error's source, which must be the store's own error.
fn store_source(err: &CollectError<MemStore>) -> &StoreError {
    err.source()
        .expect("the store's error is kept as the source")
        .downcast_ref::<StoreError>()
        .expect("the source is the store's error itself")
}

#[test]
fn a_failing_listing_is_a_listing_error_and_nothing_else_is_called() {
    let mut store = chain_store(Fault::FailListing);
    let err = fail(&mut store);
    assert!(matches!(err, Error::Listing(StoreError)), "{err:?}");
    assert_eq!(*store_source(&err), StoreError);
    assert!(store.expansions.is_empty(), "no references after a failure");
    assert_eq!(store.checkpoints, 0, "no checkpoint after a failure");
}

#[test]
fn a_failing_roots_is_a_roots_error_and_no_references_are_read() {
    let mut store = chain_store(Fault::FailRoots);
    let err = fail(&mut store);
    assert!(matches!(err, Error::Roots(StoreError)), "{err:?}");
    assert_eq!(*store_source(&err), StoreError);
    assert!(store.expansions.is_empty());
}

#[test]
fn a_failing_references_names_the_node_and_keeps_the_source() {
    let mut store = chain_store(Fault::FailReferencesOf(n(2)));
    let err = fail(&mut store);
    match &err {
        Error::References { node, source } => {
            assert_eq!(*node, n(2));
            assert_eq!(*source, StoreError);
        }
        other => panic!("expected a references error, got {other:?}"),
    }
    assert_eq!(*store_source(&err), StoreError);
    // Marking stopped at the failure: 3, beyond it, was never expanded.
    assert_eq!(store.expansions.get(&n(2)), Some(&1));
    assert_eq!(store.expansions.get(&n(3)), None);
}

#[test]
fn a_failing_references_of_the_first_root_fails_the_collection() {
    let mut store = chain_store(Fault::FailReferencesOf(n(0)));
    let err = fail(&mut store);
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(0)),
        "{err:?}"
    );
}

#[test]
fn a_failing_references_of_an_unlisted_node_fails_the_collection() {
    // 0 → 50, and 50 is not listed: its references are still read, so its
    // failure must still fail the whole collection.
    let mut store = chain_store(Fault::FailReferencesOf(n(50)));
    store.edge(3, 50, Strong);
    let err = fail(&mut store);
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(50)),
        "{err:?}"
    );
}

#[test]
fn a_failing_references_of_an_unreachable_node_is_never_seen() {
    // 4 is unreachable, so its references are never read and its fault
    // never fires: the collection succeeds.
    let mut store = chain_store(Fault::FailReferencesOf(n(4)));
    let mut gc = Collector::new();
    let result = gc.collect(&mut store).expect("4 is never expanded");
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(4)]);
}

#[test]
fn error_messages_say_what_failed() {
    let listing = fail(&mut chain_store(Fault::FailListing));
    assert_eq!(listing.to_string(), "listing the nodes failed");
    let roots = fail(&mut chain_store(Fault::FailRoots));
    assert_eq!(roots.to_string(), "reading the roots failed");
    let refs = fail(&mut chain_store(Fault::FailReferencesOf(n(1))));
    let message = refs.to_string();
    assert!(
        message.starts_with("reading the references of ") && message.ends_with(" failed"),
        "{message}"
    );
    assert!(message.contains("key: 1"), "names the node: {message}");
    // The source's own message is not repeated in the top-level one.
    assert!(!message.contains("on purpose"), "{message}");
    assert_eq!(
        store_source(&refs).to_string(),
        "the store failed on purpose"
    );
}

#[test]
fn abort_at_the_first_checkpoint_is_aborted_during_listing() {
    let mut store = chain_store(Fault::AbortAtCheckpoint(0));
    let err = fail(&mut store);
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Listing
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the collection was aborted during listing");
    assert!(err.source().is_none(), "an abort has no source");
    assert!(store.expansions.is_empty());
}

#[test]
fn abort_at_the_second_checkpoint_is_aborted_during_roots() {
    let mut store = chain_store(Fault::AbortAtCheckpoint(1));
    let err = fail(&mut store);
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Roots
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the collection was aborted during roots");
    assert!(store.expansions.is_empty(), "aborted before marking");
}

#[test]
fn abort_at_the_last_checkpoint_is_aborted_during_marking() {
    // A small graph has three checkpoints: after listing, after the roots
    // and after marking. Aborting at the last still returns nothing.
    let mut store = chain_store(Fault::AbortAtCheckpoint(2));
    let err = fail(&mut store);
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Marking
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the collection was aborted during marking");
    assert_eq!(store.checkpoints, 3);
}

#[test]
fn abort_during_a_long_mark_stops_marking_early() {
    // A chain of 20,000: checkpoints come every few thousand expansions, so
    // an abort at the first marking checkpoint stops well before the end.
    const LEN: u32 = 20_000;
    let mut store = MemStore::with_nodes(LEN);
    store.root(0, Strong);
    for key in 0..LEN - 1 {
        store.edge(key, key + 1, Strong);
    }
    store.fault = Fault::AbortAtCheckpoint(2);
    let err = fail(&mut store);
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Marking
            }
        ),
        "{err:?}"
    );
    let expanded = store.expansions.len();
    assert!(expanded < LEN as usize, "marking went on: {expanded}");
}

#[test]
fn a_time_limit_that_passes_during_listing_is_timed_out() {
    let mut store = Slow(chain_store(Fault::None));
    let mut options = Options::default();
    options.time_limit = Some(Duration::from_nanos(1));
    let err = Collector::new()
        .collect_with(&mut store, &options)
        .map(|result| result.garbage().count())
        .expect_err("the listing alone outlasts the limit");
    assert!(
        matches!(
            err,
            Error::TimedOut {
                limit,
                phase: Phase::Listing
            } if limit == Duration::from_nanos(1)
        ),
        "{err:?}"
    );
    assert!(err.source().is_none());
    let message = err.to_string();
    assert!(
        message.contains("time limit") && message.contains("1ns"),
        "{message}"
    );
    assert!(message.contains("listing"), "{message}");
    assert!(store.0.expansions.is_empty());
}

#[test]
fn a_generous_time_limit_changes_nothing() {
    let mut store = chain_store(Fault::None);
    let mut options = Options::default();
    options.time_limit = Some(Duration::from_secs(3600));
    let mut gc = Collector::new();
    let result = gc.collect_with(&mut store, &options).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [&n(4)]);
}

#[test]
fn checkpoints_see_the_phases_in_order_with_progress() {
    let mut store = Recording {
        inner: chain_store(Fault::None),
        seen: Vec::new(),
    };
    let mut gc = Collector::new();
    gc.collect(&mut store).unwrap();
    assert_eq!(
        store.seen,
        [
            (Phase::Listing, 5, 0),
            (Phase::Roots, 5, 0),
            (Phase::Marking, 5, 4),
        ]
    );
}

#[test]
fn a_failed_collection_sweeps_nothing_even_when_most_of_the_graph_is_garbage() {
    // 1000 unreachable nodes, one live node whose references fail: the
    // caller gets an error, not 1000 nodes to remove.
    let mut store = MemStore::with_nodes(1001);
    store.root(1000, Strong);
    store.fault = Fault::FailReferencesOf(n(1000));
    let err = fail(&mut store);
    assert!(matches!(err, Error::References { .. }), "{err:?}");
}

/// A store whose listing takes a couple of milliseconds.
struct Slow(MemStore);

impl CollectionContext for Slow {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.0.roots(roots)
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        self.0.references(node, refs)
    }
}

/// A store that records each checkpoint's phase, nodes listed and nodes
/// expanded.
struct Recording {
    inner: MemStore,
    seen: Vec<(Phase, usize, usize)>,
}

impl CollectionContext for Recording {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.inner.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.inner.roots(roots)
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        self.inner.references(node, refs)
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        self.seen.push((
            progress.phase,
            progress.nodes_listed,
            progress.nodes_expanded,
        ));
        Flow::Continue
    }
}
