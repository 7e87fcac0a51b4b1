//! A state-machine test: a store evolves through random operations (nodes,
//! edges and roots come and go) and is collected now and then by ONE
//! [`Collector`] (and one [`DenseCollector`] over a dense view of the same
//! store), reused across every collection, including ones that fail or
//! panic. After every collection that succeeds, the answer must be exactly
//! a naive oracle's. This is what exercises the collectors' state between
//! collections: the intern table pruned after a completed collection, and
//! the buffers reset after a failed or panicked one.
//!
//! The case count comes from `PROPTEST_CASES`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use common::oracle::Expected;
use common::{Fault, MemStore, StoreError, TestNode, n};
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{
    CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, Error, Flow, NodeSink,
    Phase, Progress, ReferenceSink, Stats, Strength,
};

/// Most operations pick keys in `0..HOT`: few enough that they keep
/// hitting the same nodes, so that nodes are listed, dropped, relisted and
/// referenced while unlisted. The rest pick in `0..KEYS`, so that the
/// tables also span more than one word of colour and listed bits.
const HOT: u32 = 12;
const KEYS: u32 = 40;

/// What the test's contexts panic with, on purpose.
const DELIBERATE_PANIC: &str = "the store panics on purpose";

// ---------------------------------------------------------------------------
// The oracle: `common::oracle`'s fixpoint.

/// The oracle over edges kept by source, and back-references.
fn oracle(
    listed: &[u32],
    roots: &[(u32, Strength)],
    edges: &BTreeMap<u32, Vec<(u32, Strength)>>,
    back: &[(u32, u32, Strength)],
) -> Expected {
    let edges: Vec<(u32, u32, Strength)> = edges
        .iter()
        .flat_map(|(&from, targets)| targets.iter().map(move |&(to, s)| (from, to, s)))
        .collect();
    common::oracle::oracle_with_back_references(listed, roots, &edges, back)
}

// ---------------------------------------------------------------------------
// The store, its dense view, and their oracles.

/// The store's graph by key: the listing in order, roots, and edges by
/// source (each source's edges in the order the store emits them).
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    listed: Vec<u32>,
    roots: Vec<(u32, Strength)>,
    edges: BTreeMap<u32, Vec<(u32, Strength)>>,
    /// `(child, parent, strength)`; the dense view has none.
    back: Vec<(u32, u32, Strength)>,
}

fn snapshot(store: &MemStore) -> Snapshot {
    Snapshot {
        listed: store.listed.iter().map(|node| node.key).collect(),
        roots: store.roots.iter().map(|(node, s)| (node.key, *s)).collect(),
        edges: store
            .edges
            .iter()
            .filter(|(_, targets)| !targets.is_empty())
            .map(|(from, targets)| {
                let targets = targets.iter().map(|(to, s)| (to.key, *s)).collect();
                (from.key, targets)
            })
            .collect(),
        back: store
            .back_references
            .iter()
            .map(|(child, parent, s)| (child.key, parent.key, *s))
            .collect(),
    }
}

impl Snapshot {
    fn oracle(&self) -> Expected {
        oracle(&self.listed, &self.roots, &self.edges, &self.back)
    }

    /// The dense view's references: the edges, then each back-reference
    /// as a reference its parent emits (the dense path has no
    /// back-references of its own).
    fn dense_edges(&self) -> BTreeMap<u32, Vec<(u32, Strength)>> {
        let mut edges = self.edges.clone();
        for &(child, parent, strength) in &self.back {
            edges.entry(parent).or_default().push((child, strength));
        }
        edges
    }

    /// Ids for the dense view: one past the largest key the store mentions,
    /// so the id count grows and shrinks as the store does.
    fn dense_count(&self) -> u32 {
        let listed = self.listed.iter().copied();
        let roots = self.roots.iter().map(|&(k, _)| k);
        let edges = self.dense_edges();
        let edges = edges.iter().flat_map(|(&from, targets)| {
            std::iter::once(from).chain(targets.iter().map(|&(to, _)| to))
        });
        listed
            .chain(roots)
            .chain(edges)
            .max()
            .map_or(0, |max| max + 1)
    }

    /// The dense oracle: every id in range is a candidate.
    fn dense_oracle(&self) -> Expected {
        let listed: Vec<u32> = (0..self.dense_count()).collect();
        oracle(&listed, &self.roots, &self.dense_edges(), &[])
    }

    fn dense_view(&self, mishap: Option<Mishap<u32>>, abort_at: Option<usize>) -> DenseView {
        let count = self.dense_count();
        let mut edges = vec![Vec::new(); count as usize];
        for (from, targets) in self.dense_edges() {
            edges[from as usize] = targets;
        }
        DenseView {
            roots: self.roots.clone(),
            edges,
            mishap,
            abort_at,
            checkpoints: 0,
            expansions: vec![0; count as usize],
        }
    }
}

// ---------------------------------------------------------------------------
// Stores that go wrong.

/// A callback that goes wrong; `R` names a node.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Callback<R> {
    /// `all` (`node_count` on the dense path, which can only panic).
    Listing,
    Roots,
    References(R),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Trouble {
    /// The callback returns the store's error.
    Fail,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Mishap<R> {
    at: Callback<R>,
    trouble: Trouble,
    /// Whether the callback first emits everything it would have (so the
    /// collector holds half-done work: interned nodes, unseen targets, grey
    /// nodes) and only then goes wrong.
    after_emitting: bool,
}

impl<R: PartialEq> Mishap<R> {
    /// Goes wrong if this is the callback, before or after `emit` as told.
    fn around<T>(
        mishap: &Option<Self>,
        at: Callback<R>,
        emit: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(mishap) = mishap.as_ref().filter(|m| m.at == at) else {
            return emit();
        };
        if !mishap.after_emitting {
            mishap.go_wrong()?;
        }
        let emitted = emit()?;
        mishap.go_wrong()?;
        Ok(emitted)
    }

    fn go_wrong(&self) -> Result<(), StoreError> {
        match self.trouble {
            Trouble::Fail => Err(StoreError),
            Trouble::Panic => panic!("{DELIBERATE_PANIC}"),
        }
    }
}

/// The fixture store with a mishap of this test's own on top (the fixture's
/// own faults strike before a callback emits anything, and cannot panic in
/// `all` or `roots`). The fixture's `fault` field still drives checkpoint
/// aborts.
struct Faulty<'s> {
    store: &'s mut MemStore,
    mishap: Option<Mishap<TestNode>>,
}

impl CollectionContext for Faulty<'_> {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        let store = &mut *self.store;
        Mishap::around(&self.mishap, Callback::Listing, || store.all(nodes))
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        let store = &mut *self.store;
        Mishap::around(&self.mishap, Callback::Roots, || store.roots(roots))
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        let store = &mut *self.store;
        let at = Callback::References(node.clone());
        Mishap::around(&self.mishap, at, || store.references(node, refs))
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        self.store.checkpoint(progress)
    }
}

/// The store seen by the dense path: ids are keys, all of them candidates.
struct DenseView {
    roots: Vec<(u32, Strength)>,
    edges: Vec<Vec<(u32, Strength)>>,
    mishap: Option<Mishap<u32>>,
    /// `checkpoint` aborts from its k-th call (0-based) on.
    abort_at: Option<usize>,
    checkpoints: usize,
    expansions: Vec<usize>,
}

impl DenseContext for DenseView {
    type Error = StoreError;

    fn node_count(&self) -> u32 {
        let count = self.edges.len() as u32;
        Mishap::around(&self.mishap, Callback::Listing, || Ok(count)).unwrap_or(count)
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), StoreError> {
        let emit = || {
            for &(id, strength) in &self.roots {
                roots.add(id, strength);
            }
            Ok(())
        };
        Mishap::around(&self.mishap, Callback::Roots, emit)
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), StoreError> {
        let (edges, expansions) = (&self.edges, &mut self.expansions);
        let emit = || {
            expansions[id as usize] += 1;
            for &(target, strength) in &edges[id as usize] {
                refs.add(target, strength);
            }
            Ok(())
        };
        Mishap::around(&self.mishap, Callback::References(id), emit)
    }

    fn checkpoint(&mut self, _progress: &Progress) -> Flow {
        let call = self.checkpoints;
        self.checkpoints += 1;
        match self.abort_at {
            Some(k) if call >= k => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Clone, Debug)]
enum Op {
    /// Lists the key (again, if it already is: a duplicate listing).
    AddNode(u32),
    /// Lists the keys `from..from + len` (capped at `KEYS`).
    AddNodes {
        from: u32,
        len: u32,
    },
    /// Unlists every listing of the key; with `drop_edges`, its own
    /// references go too, as when a store deletes a resource. Without, the
    /// key becomes a root-like resource the store never sweeps.
    RemoveNode {
        key: u32,
        drop_edges: bool,
    },
    AddEdge(u32, u32, Strength),
    /// Removes one of the key's references, picked modulo their number.
    RemoveEdge(u32, usize),
    AddRoot(u32, Strength),
    /// `back_reference(child, parent, strength)`, structural ones through
    /// `lives_with` (the `Node` path only).
    AddBackReference(u32, u32, Strength),
    /// Removes one back-reference, picked modulo their number.
    RemoveBackReference(usize),
    /// Removes one root, picked modulo their number.
    RemoveRoot(usize),
    /// A collection; with `remove_swept` the embedder then removes the
    /// garbage (unlisted, and its references gone), else it is a dry run.
    Collect {
        remove_swept: bool,
    },
    /// A collection that goes wrong in a callback: it must end in an error
    /// (or a panic) and leave the store as it was. `References` picks one of
    /// the nodes the oracle says are reached (so read), modulo their number.
    Troubled(Mishap<usize>),
    /// A collection that the store aborts at its k-th checkpoint.
    Abort(usize),
}

fn key() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0..HOT, 1 => 0..KEYS]
}

/// Picks one element of a collection, modulo its length.
fn selector() -> impl Strategy<Value = usize> {
    0usize..64
}

fn mishap() -> impl Strategy<Value = Mishap<usize>> {
    let at = prop_oneof![
        1 => Just(Callback::Listing),
        1 => Just(Callback::Roots),
        3 => selector().prop_map(Callback::References),
    ];
    let trouble = prop_oneof![Just(Trouble::Fail), Just(Trouble::Panic)];
    (at, trouble, any::<bool>()).prop_map(|(at, trouble, after_emitting)| Mishap {
        at,
        trouble,
        after_emitting,
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => key().prop_map(Op::AddNode),
        1 => (0..KEYS, 1..=KEYS).prop_map(|(from, len)| Op::AddNodes { from, len }),
        2 => (key(), any::<bool>())
            .prop_map(|(key, drop_edges)| Op::RemoveNode { key, drop_edges }),
        6 => (key(), key(), common::any_strength()).prop_map(|(a, b, s)| Op::AddEdge(a, b, s)),
        2 => (key(), selector()).prop_map(|(a, i)| Op::RemoveEdge(a, i)),
        2 => (key(), common::any_strength()).prop_map(|(k, s)| Op::AddRoot(k, s)),
        1 => (key(), key(), common::any_strength())
            .prop_map(|(c, p, s)| Op::AddBackReference(c, p, s)),
        1 => selector().prop_map(Op::RemoveBackReference),
        1 => selector().prop_map(Op::RemoveRoot),
        4 => any::<bool>().prop_map(|remove_swept| Op::Collect { remove_swept }),
        2 => mishap().prop_map(Op::Troubled),
        1 => (0usize..3).prop_map(Op::Abort),
    ]
}

/// A store to start from.
fn initial_store() -> impl Strategy<Value = MemStore> {
    (
        vec(key(), 0..=30),
        vec((key(), common::any_strength()), 0..=4),
        vec((key(), key(), common::any_strength()), 0..=40),
    )
        .prop_map(|(listed, roots, edges)| {
            let mut store = MemStore {
                listed: listed.into_iter().map(n).collect(),
                roots: roots.into_iter().map(|(k, s)| (n(k), s)).collect(),
                ..MemStore::default()
            };
            for (from, to, s) in edges {
                store.edge(from, to, s);
            }
            store
        })
}

// ---------------------------------------------------------------------------
// Running the model.

type NodeCollector = Collector<u8, u8, u32>;

/// One successful collection, copied out of the borrowed result.
#[derive(Debug)]
struct Observed {
    garbage: Vec<u32>,
    garbage_len: usize,
    live_listed: Vec<u32>,
    /// `is_live` for every key in `0..ASKED`.
    is_live: Vec<bool>,
    stats: Stats,
    /// `references` calls per key; only non-zero counts.
    expansions: BTreeMap<u32, usize>,
}

/// The keys `is_live` is asked about: every key, and some never used.
const ASKED: u32 = KEYS + 3;

fn check(what: &str, e: &Expected, o: &Observed) -> Result<(), TestCaseError> {
    prop_assert_eq!(&o.garbage, &e.garbage, "{}: garbage", what);
    prop_assert_eq!(&o.live_listed, &e.live_listed, "{}: live", what);
    for (key, &live) in o.is_live.iter().enumerate() {
        let expected = e.live.contains(&(key as u32));
        prop_assert_eq!(live, expected, "{}: is_live({})", what, key);
    }
    // `references` read exactly once for every node reached at all.
    for (&key, &count) in &o.expansions {
        prop_assert_eq!(count, 1, "{}: {} expanded {} times", what, key, count);
    }
    let expanded: BTreeSet<u32> = o.expansions.keys().copied().collect();
    prop_assert_eq!(&expanded, &e.live, "{}: nodes read", what);
    let s = &o.stats;
    prop_assert_eq!(s.nodes_swept, o.garbage.len(), "{}: nodes_swept", what);
    prop_assert_eq!(o.garbage_len, o.garbage.len(), "{}: garbage().len()", what);
    prop_assert_eq!(s.nodes_listed, e.nodes_listed, "{}: nodes_listed", what);
    prop_assert_eq!(s.nodes_expanded, e.strong.len(), "{}: nodes_expanded", what);
    prop_assert_eq!(
        s.nodes_expanded_flat,
        e.flat_only.len(),
        "{}: nodes_expanded_flat",
        what
    );
    prop_assert_eq!(
        s.roots_by_kind.back_references,
        e.back_references,
        "{}: back_references",
        what
    );
    prop_assert_eq!(s.nodes_marked, e.live.len(), "{}: nodes_marked", what);
    prop_assert_eq!(s.roots, e.roots, "{}: roots", what);
    prop_assert_eq!(
        s.references_followed,
        e.references_followed,
        "{}: references_followed",
        what
    );
    prop_assert_eq!(s.weak_references, e.weak_references, "{}: weak", what);
    prop_assert_eq!(s.dead_edges, e.dead_edges, "{}: dead_edges", what);
    Ok(())
}

struct Model {
    store: MemStore,
    gc: NodeCollector,
    dense: DenseCollector,
    collections: usize,
}

impl Model {
    fn new(store: MemStore) -> Self {
        Model {
            store,
            gc: NodeCollector::new(),
            dense: DenseCollector::new(),
            collections: 0,
        }
    }

    fn reset_store_hooks(&mut self, fault: Fault) {
        self.store.fault = fault;
        self.store.expansions.clear();
        self.store.checkpoints = 0;
    }

    /// A collection on both paths that must succeed and match the oracle;
    /// returns the `Node` path's garbage.
    fn collect(&mut self) -> Result<Vec<u32>, TestCaseError> {
        self.collections += 1;
        let what = format!("collection {}", self.collections);
        let before = snapshot(&self.store);
        self.reset_store_hooks(Fault::None);
        let collection = match self.gc.collect(&mut self.store) {
            Ok(collection) => collection,
            Err(err) => return Err(TestCaseError::fail(format!("{what}: {err}"))),
        };
        let observed = Observed {
            garbage: collection.garbage().map(|node| node.key).collect(),
            garbage_len: collection.garbage().len(),
            live_listed: collection.live().map(|node| node.key).collect(),
            is_live: (0..ASKED).map(|k| collection.is_live(&n(k))).collect(),
            stats: collection.stats().clone(),
            expansions: BTreeMap::new(),
        };
        drop(collection);
        let observed = Observed {
            expansions: self
                .store
                .expansions
                .iter()
                .map(|(node, &count)| (node.key, count))
                .collect(),
            ..observed
        };
        check(&what, &before.oracle(), &observed)?;
        prop_assert_eq!(&snapshot(&self.store), &before, "{}: store changed", &what);

        let what = format!("dense {what}");
        let mut view = before.dense_view(None, None);
        let count = view.node_count();
        let collection = match self.dense.collect(&mut view) {
            Ok(collection) => collection,
            Err(err) => return Err(TestCaseError::fail(format!("{what}: {err}"))),
        };
        let dense = Observed {
            garbage: collection.garbage().collect(),
            garbage_len: collection.garbage().len(),
            live_listed: (0..count).filter(|&id| collection.is_live(id)).collect(),
            is_live: (0..ASKED).map(|id| collection.is_live(id)).collect(),
            stats: collection.stats().clone(),
            expansions: BTreeMap::new(),
        };
        drop(collection);
        let dense = Observed {
            expansions: (0..count)
                .filter(|&id| view.expansions[id as usize] > 0)
                .map(|id| (id, view.expansions[id as usize]))
                .collect(),
            ..dense
        };
        check(&what, &before.dense_oracle(), &dense)?;
        Ok(observed.garbage)
    }

    /// The embedder removes what a collection swept.
    fn remove(&mut self, garbage: &[u32]) {
        let garbage: HashSet<u32> = garbage.iter().copied().collect();
        self.store
            .listed
            .retain(|node| !garbage.contains(&node.key));
        self.store
            .edges
            .retain(|from, _| !garbage.contains(&from.key));
        self.store
            .back_references
            .retain(|(child, _, _)| !garbage.contains(&child.key));
    }

    /// A collection that goes wrong in a callback, on both paths: an error
    /// naming what failed, or a panic; and the store as it was.
    fn troubled(&mut self, mishap: Mishap<usize>) -> Result<(), TestCaseError> {
        let before = snapshot(&self.store);
        let expanded: Vec<u32> = before.oracle().live.into_iter().collect();
        let at = match mishap.at {
            Callback::Listing => Callback::Listing,
            Callback::Roots => Callback::Roots,
            // Nothing is expanded: nothing to go wrong in but the roots.
            Callback::References(_) if expanded.is_empty() => Callback::Roots,
            Callback::References(i) => Callback::References(expanded[i % expanded.len()]),
        };
        let mishap = Mishap {
            at,
            trouble: mishap.trouble,
            after_emitting: mishap.after_emitting,
        };
        let what = format!("{mishap:?}");

        self.reset_store_hooks(Fault::None);
        let on_node = Mishap {
            at: match at {
                Callback::Listing => Callback::Listing,
                Callback::Roots => Callback::Roots,
                Callback::References(key) => Callback::References(n(key)),
            },
            trouble: mishap.trouble,
            after_emitting: mishap.after_emitting,
        };
        let mut ctx = Faulty {
            store: &mut self.store,
            mishap: Some(on_node),
        };
        let gc = &mut self.gc;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            gc.collect(&mut ctx).map(|c| c.stats().clone())
        }));
        match (mishap.trouble, outcome) {
            (Trouble::Panic, outcome) => {
                prop_assert!(outcome.is_err(), "{}: no panic but {:?}", &what, outcome);
            }
            (Trouble::Fail, Err(_)) => prop_assert!(false, "{}: panicked", &what),
            (Trouble::Fail, Ok(result)) => match (at, &result) {
                (Callback::Listing, Err(Error::Listing(StoreError)))
                | (Callback::Roots, Err(Error::Roots(StoreError))) => {}
                (Callback::References(bad), Err(Error::References { node, .. })) => {
                    prop_assert_eq!(node, &n(bad), "{}: the error names another node", &what);
                }
                _ => prop_assert!(false, "{}: {:?}", &what, result),
            },
        }
        for (node, &count) in &self.store.expansions {
            prop_assert_eq!(count, 1, "{}: {:?} expanded {} times", &what, node, count);
        }
        prop_assert_eq!(&snapshot(&self.store), &before, "{}: store changed", &what);

        // The dense path's `node_count` cannot fail, only panic: a failing
        // listing becomes failing roots there.
        let dense_at = match (at, mishap.trouble) {
            (Callback::Listing, Trouble::Fail) => Callback::Roots,
            (at, _) => at,
        };
        let dense_mishap = Mishap {
            at: dense_at,
            ..mishap
        };
        let mut view = before.dense_view(Some(dense_mishap), None);
        let dense = &mut self.dense;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            dense.collect(&mut view).map(|c| c.stats().clone())
        }));
        let what = format!("dense {what}");
        match (mishap.trouble, outcome) {
            (Trouble::Panic, outcome) => {
                prop_assert!(outcome.is_err(), "{}: no panic but {:?}", &what, outcome);
            }
            (Trouble::Fail, Err(_)) => prop_assert!(false, "{}: panicked", &what),
            (Trouble::Fail, Ok(result)) => match (dense_at, &result) {
                (Callback::Roots, Err(Error::Roots(StoreError))) => {}
                (Callback::References(bad), Err(Error::References { node, .. })) => {
                    prop_assert_eq!(*node, bad, "{}: the error names another id", &what);
                }
                _ => prop_assert!(false, "{}: {:?}", &what, result),
            },
        }
        prop_assert!(
            view.expansions.iter().all(|&count| count <= 1),
            "{}: an id expanded twice",
            &what
        );
        Ok(())
    }

    /// A collection the store aborts at its k-th checkpoint, on both paths.
    fn aborted(&mut self, k: usize) -> Result<(), TestCaseError> {
        let before = snapshot(&self.store);
        self.reset_store_hooks(Fault::AbortAtCheckpoint(k));
        let result = self.gc.collect(&mut self.store).map(|c| c.stats().clone());
        // Checkpoints: after listing, after roots, after marking.
        let expected = [Phase::Listing, Phase::Roots, Phase::Marking][k];
        match &result {
            Err(Error::Aborted { phase }) => {
                prop_assert_eq!(*phase, expected, "abort at checkpoint {}", k);
            }
            _ => prop_assert!(false, "abort at checkpoint {}: {:?}", k, result),
        }
        self.reset_store_hooks(Fault::None);
        prop_assert_eq!(&snapshot(&self.store), &before, "abort: store changed");

        // The dense path has no listing: checkpoints after roots, marking.
        let k = k.min(1);
        let mut view = before.dense_view(None, Some(k));
        let result = self.dense.collect(&mut view).map(|c| c.stats().clone());
        let expected = [Phase::Roots, Phase::Marking][k];
        match &result {
            Err(Error::Aborted { phase }) => {
                prop_assert_eq!(*phase, expected, "dense abort at checkpoint {}", k);
            }
            _ => prop_assert!(false, "dense abort at checkpoint {}: {:?}", k, result),
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let store = &mut self.store;
        match *op {
            Op::AddNode(key) => store.listed.push(n(key)),
            Op::AddNodes { from, len } => {
                store.listed.extend((from..KEYS.min(from + len)).map(n));
            }
            Op::RemoveNode { key, drop_edges } => {
                store.listed.retain(|node| node.key != key);
                if drop_edges {
                    store.edges.remove(&n(key));
                }
            }
            Op::AddEdge(from, to, strength) => {
                store.edge(from, to, strength);
            }
            Op::RemoveEdge(from, at) => {
                if let Some(targets) = store.edges.get_mut(&n(from)) {
                    if !targets.is_empty() {
                        targets.remove(at % targets.len());
                    }
                }
            }
            Op::AddRoot(key, strength) => {
                store.root(key, strength);
            }
            Op::AddBackReference(child, parent, strength) => {
                store.back_reference(child, parent, strength);
            }
            Op::RemoveBackReference(at) => {
                if !store.back_references.is_empty() {
                    store
                        .back_references
                        .remove(at % store.back_references.len());
                }
            }
            Op::RemoveRoot(at) => {
                if !store.roots.is_empty() {
                    store.roots.remove(at % store.roots.len());
                }
            }
            Op::Collect { remove_swept } => {
                let garbage = self.collect()?;
                if remove_swept {
                    self.remove(&garbage);
                    // What the embedder removed is gone for good: nothing
                    // is left to sweep right away.
                    let again = self.collect()?;
                    prop_assert!(again.is_empty(), "swept after removal: {:?}", again);
                }
            }
            Op::Troubled(mishap) => self.troubled(mishap)?,
            Op::Abort(k) => self.aborted(k)?,
        }
        Ok(())
    }
}

/// Silences the panics the test's stores raise on purpose (thousands of
/// them at high case counts); any other panic is reported as usual.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if message != Some(DELIBERATE_PANIC) {
                default(info);
            }
        }));
    });
}

fn run(store: MemStore, ops: &[Op]) -> Result<(), TestCaseError> {
    quiet_deliberate_panics();
    let mut model = Model::new(store);
    for op in ops {
        model.apply(op)?;
    }
    // Whatever the last operation was, the reused collectors still answer
    // exactly.
    model.collect()?;
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn one_collector_through_an_evolving_store(
        store in initial_store(),
        ops in vec(op(), 1..=60),
    ) {
        run(store, &ops)?;
    }

    /// The same, starting empty and with more operations: the store grows
    /// from nothing, so the table sees every node arrive.
    #[test]
    fn one_collector_from_an_empty_store(ops in vec(op(), 1..=100)) {
        run(MemStore::default(), &ops)?;
    }
}

// ---------------------------------------------------------------------------
// Fixed sequences the model must handle, so a broken model cannot pass
// vacuously.

#[test]
fn a_failed_and_a_panicked_collection_leave_the_collector_exact() {
    use Strength::{Flat, Strong, Weak};
    quiet_deliberate_panics();
    let mut store = MemStore::with_nodes(6);
    store
        .root(0, Strong)
        .edge(0, 1, Strong)
        .edge(1, 2, Flat)
        .edge(2, 3, Strong)
        .edge(0, 4, Weak)
        .edge(1, 9, Strong)
        .edge(9, 5, Strong);
    let troubled = |at, trouble, after_emitting| {
        Op::Troubled(Mishap {
            at,
            trouble,
            after_emitting,
        })
    };
    let ops = [
        Op::Collect {
            remove_swept: false,
        },
        // Read: 0, 1, 2 (flat, for its structure), 5, 9 (unlisted). Fails
        // in references(2).
        troubled(Callback::References(2), Trouble::Fail, true),
        troubled(Callback::References(0), Trouble::Panic, false),
        Op::RemoveNode {
            key: 1,
            drop_edges: false,
        },
        // Read: 0, 1 (unlisted now), 2, 5, 9. Panics in references(9),
        // once its reference to 5 is emitted.
        troubled(Callback::References(4), Trouble::Panic, true),
        troubled(Callback::Listing, Trouble::Panic, true),
        troubled(Callback::Roots, Trouble::Fail, true),
        Op::Collect { remove_swept: true },
        Op::Abort(2),
        Op::AddNode(1),
    ];
    let mut model = Model::new(store);
    for op in &ops {
        model.apply(op).unwrap();
    }
    assert_eq!(model.collect().unwrap(), Vec::<u32>::new());
    let s = snapshot(&model.store);
    assert_eq!(s.listed, [0, 2, 5, 1], "3 and 4 were swept and removed");
}

#[test]
fn the_oracle_follows_an_unlisted_node_and_stops_at_flat() {
    use Strength::{Flat, Strong, Weak};
    let edges = BTreeMap::from([
        (0, vec![(7, Strong), (1, Flat), (2, Weak)]),
        (7, vec![(3, Strong)]),
        (1, vec![(4, Strong)]),
    ]);
    let e = oracle(&[4, 3, 2, 1, 0, 3], &[(0, Strong), (4, Weak)], &edges, &[]);
    assert_eq!(e.garbage, [4, 2]);
    assert_eq!(e.live_listed, [3, 1, 0]);
    assert_eq!(e.strong, BTreeSet::from([0, 7, 3]));
    assert_eq!(e.flat_only, BTreeSet::from([1]));
    assert_eq!(e.live, BTreeSet::from([0, 1, 3, 7]));
    assert_eq!((e.roots, e.weak_references), (1, 2));
    assert_eq!((e.references_followed, e.dead_edges), (3, 1));
    assert_eq!(e.nodes_listed, 5);
}
