//! The resident [`Graph`] against a [`Collector`] over the same store.
//!
//! A model store is the one truth: keys with kinds and namespaces, listed
//! or not, with last uses; plain and expiring references and roots of
//! every strength, counted; back-references. The graph is built from it,
//! then each random change of the store is mirrored as [`Changes`], in
//! random batches that reach the graph through `apply`, through `prepare`
//! and `commit`, or through `prepare` and `abort` (the store then does not
//! change). After every batch the graph must collect what a fresh
//! [`Collector`] collects over the store, and at the end
//! [`Graph::verify`] must find no drift.
//!
//! 1. Equivalence: the garbage and `is_live` of every key, for random
//!    grace periods and both sweep orders (with `ReferrersFirst`, a
//!    referrer comes before what it references, outside cycles), on a
//!    store of 24 keys and on one of three (long batches that touch one
//!    thing many times).
//! 2. The transaction window: between `prepare` and `commit` a collection
//!    sweeps nothing the old or the new store keeps; then the graph is
//!    the new store (commit) or the old (abort).
//! 3. Compaction: thousands of changes, nodes dropped and renumbered, keys
//!    removed and listed again; never while a `Prepared` is outstanding.
//! 4. `verify` finds a change the embedder forgot to report (unsafe when
//!    the graph lacks it), or reported and did not make.
//! 5. Errors, never panics: `NotResident`, `NotThisGraph`,
//!    `InvalidOptions`, limits, cancellation; a dropped `Prepared`.
//! 6. The boundaries: a deadline at `now` holds, a nanosecond after it
//!    does not; a last use exactly a grace period ago, or after `now`,
//!    keeps.
//!
//! Several changes to one thing in one batch have tests of their own:
//! each swept a live node, or kept a deadline the store no longer had,
//! before the graph applied a batch as the store does, in order.
//!
//! The case count comes from `PROPTEST_CASES` (the compaction property
//! runs a fiftieth of it: each case makes thousands of changes).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use resource_gc::{
    Cancel, Changes, CollectionContext, Collector, Drift, Error, Graph, Node, NodeSink,
    NotThisGraph, Options, Reason, ReferenceSink, Retention, RootKind, Step, Strength, SweepLimit,
    SweepOrder,
};

type TestNode = Node<u8, u8, u32>;
type TestGraph = Graph<u8, u8, u32>;
type TestChanges = Changes<u8, u8, u32>;

/// Node `key`, of kind `key % 3` in namespace `key % 2`: one node per key.
fn node(key: u32) -> TestNode {
    Node::new((key % 3) as u8, (key % 2) as u8, key)
}

const SEC: Duration = Duration::from_secs(1);
/// A second, in the nanoseconds from `now` that changes are timed with.
const SECS: i64 = 1_000_000_000;

/// Every collection here runs at this instant.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// `now` moved by `offset` nanoseconds.
fn at(offset: i64) -> SystemTime {
    if offset >= 0 {
        now() + Duration::from_nanos(offset as u64)
    } else {
        now() - Duration::from_nanos(offset.unsigned_abs())
    }
}

const STRENGTHS: [Strength; 4] = [
    Strength::Strong,
    Strength::Weak,
    Strength::Flat,
    Strength::Structural,
];

fn code(strength: Strength) -> u8 {
    STRENGTHS.iter().position(|&s| s == strength).unwrap() as u8
}

fn strength(code: u8) -> Strength {
    STRENGTHS[code as usize]
}

// ---------------------------------------------------------------------------
// The model store.

/// `(from, to, strength code)`; for a back-reference `(child, parent,
/// strength code)`.
type Ref = (u32, u32, u8);
/// `(key, strength code)`.
type Root = (u32, u8);

/// A store as its embedder sees it. Counted: a reference added twice is
/// there twice. Copies of one expiring reference (or root) share one
/// deadline, the later, as the graph documents; a renewal sets it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Store {
    /// Listed keys, with their last use.
    listed: BTreeMap<u32, Option<SystemTime>>,
    refs: BTreeMap<Ref, u32>,
    expiring: BTreeMap<Ref, (u32, SystemTime)>,
    roots: BTreeMap<Root, u32>,
    expiring_roots: BTreeMap<Root, (u32, SystemTime)>,
    /// `(child, parent, strength)`: declared by the child in the listing.
    bindings: BTreeMap<Ref, u32>,
}

impl CollectionContext for Store {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        for (&key, &used) in &self.listed {
            match used {
                Some(at) => nodes.push_used(&node(key), at),
                None => nodes.push(&node(key)),
            }
        }
        for (&(child, parent, s), &copies) in &self.bindings {
            for _ in 0..copies {
                match strength(s) {
                    Strength::Structural => nodes.lives_with(&node(child), &node(parent)),
                    s => nodes.back_reference(&node(child), &node(parent), s),
                }
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        for (&(key, s), &copies) in &self.roots {
            for _ in 0..copies {
                roots.add(&node(key), strength(s));
            }
        }
        for (&(key, s), &(copies, deadline)) in &self.expiring_roots {
            for _ in 0..copies {
                roots.expiring(&node(key), strength(s), deadline);
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        from: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        assert_eq!(from, &node(from.key), "a node this store never named");
        let row = (from.key, 0, 0)..=(from.key, u32::MAX, u8::MAX);
        for (&(_, to, s), &copies) in self.refs.range(row.clone()) {
            for _ in 0..copies {
                refs.add(&node(to), strength(s));
            }
        }
        for (&(_, to, s), &(copies, deadline)) in self.expiring.range(row) {
            for _ in 0..copies {
                refs.expiring(&node(to), strength(s), deadline);
            }
        }
        Ok(())
    }
}

/// One change of the store, as generated: `usize`s pick an existing
/// entry modulo their number (a change that finds none is skipped);
/// times are nanoseconds from `now`.
#[derive(Clone, Copy, Debug)]
enum Op {
    AddNode(u32, Option<i64>),
    RemoveNode(u32),
    Touch(usize, i64),
    AddRef(u32, u32, Strength),
    AddExpiringRef(u32, u32, Strength, i64),
    RemoveRef(usize),
    RemoveExpiringRef(usize),
    RenewRef(usize, i64),
    AddRoot(u32, Strength),
    AddExpiringRoot(u32, Strength, i64),
    RemoveRoot(usize),
    RemoveExpiringRoot(usize),
    RenewRoot(usize, i64),
    Bind(u32, u32, Strength),
}

/// The `pick`-th key of `map`, modulo its length.
fn nth<K: Copy, V>(map: &BTreeMap<K, V>, pick: usize) -> Option<K> {
    (!map.is_empty()).then(|| *map.keys().nth(pick % map.len()).unwrap())
}

/// One fewer copy of `key`; the entry goes with its last copy.
fn decrement<K: Ord>(map: &mut BTreeMap<K, u32>, key: K) {
    let copies = map.get_mut(&key).unwrap();
    *copies -= 1;
    if *copies == 0 {
        map.remove(&key);
    }
}

/// One fewer copy of an expiring `key`; its deadline goes with the last.
fn decrement_expiring<K: Ord>(map: &mut BTreeMap<K, (u32, SystemTime)>, key: K) {
    let entry = map.get_mut(&key).unwrap();
    entry.0 -= 1;
    if entry.0 == 0 {
        map.remove(&key);
    }
}

/// One more copy of an expiring `key`; copies share the later deadline.
fn increment_expiring<K: Ord>(
    map: &mut BTreeMap<K, (u32, SystemTime)>,
    key: K,
    deadline: SystemTime,
) {
    let entry = map.entry(key).or_insert((0, deadline));
    entry.0 += 1;
    entry.1 = entry.1.max(deadline);
}

impl Store {
    /// Makes `op` in the store, if it applies, and reports it in `changes`.
    fn apply(&mut self, op: &Op, changes: &mut TestChanges) {
        match *op {
            Op::AddNode(key, used) => {
                let slot = self.listed.entry(key).or_insert(None);
                match used {
                    Some(offset) => {
                        // Listed again: the later of two last uses.
                        *slot = Some(slot.map_or(at(offset), |before| before.max(at(offset))));
                        changes.add_node_used(node(key), at(offset));
                    }
                    None => {
                        changes.add_node(node(key));
                    }
                }
            }
            Op::RemoveNode(key) => {
                self.listed.remove(&key);
                self.refs.retain(|&(from, _, _), _| from != key);
                self.expiring.retain(|&(from, _, _), _| from != key);
                self.bindings.retain(|&(child, _, _), _| child != key);
                changes.remove_node(node(key));
            }
            Op::Touch(pick, offset) => {
                if let Some(key) = nth(&self.listed, pick) {
                    self.listed.insert(key, Some(at(offset)));
                    changes.touch(node(key), at(offset));
                }
            }
            Op::AddRef(from, to, s) => {
                *self.refs.entry((from, to, code(s))).or_default() += 1;
                changes.add_reference(node(from), node(to), s);
            }
            Op::AddExpiringRef(from, to, s, offset) => {
                increment_expiring(&mut self.expiring, (from, to, code(s)), at(offset));
                changes.add_expiring_reference(node(from), node(to), s, at(offset));
            }
            Op::RemoveRef(pick) => {
                if let Some(key @ (from, to, s)) = nth(&self.refs, pick) {
                    decrement(&mut self.refs, key);
                    changes.remove_reference(node(from), node(to), strength(s));
                }
            }
            Op::RemoveExpiringRef(pick) => {
                if let Some(key @ (from, to, s)) = nth(&self.expiring, pick) {
                    decrement_expiring(&mut self.expiring, key);
                    changes.remove_expiring_reference(node(from), node(to), strength(s));
                }
            }
            Op::RenewRef(pick, offset) => {
                if let Some(key @ (from, to, s)) = nth(&self.expiring, pick) {
                    self.expiring.get_mut(&key).unwrap().1 = at(offset);
                    changes.renew_reference(node(from), node(to), strength(s), at(offset));
                }
            }
            Op::AddRoot(key, s) => {
                *self.roots.entry((key, code(s))).or_default() += 1;
                changes.add_root(node(key), s);
            }
            Op::AddExpiringRoot(key, s, offset) => {
                increment_expiring(&mut self.expiring_roots, (key, code(s)), at(offset));
                changes.add_expiring_root(node(key), s, at(offset));
            }
            Op::RemoveRoot(pick) => {
                if let Some(root @ (key, s)) = nth(&self.roots, pick) {
                    decrement(&mut self.roots, root);
                    changes.remove_root(node(key), strength(s));
                }
            }
            Op::RemoveExpiringRoot(pick) => {
                if let Some(root @ (key, s)) = nth(&self.expiring_roots, pick) {
                    decrement_expiring(&mut self.expiring_roots, root);
                    changes.remove_expiring_root(node(key), strength(s));
                }
            }
            Op::RenewRoot(pick, offset) => {
                if let Some(root @ (key, s)) = nth(&self.expiring_roots, pick) {
                    self.expiring_roots.get_mut(&root).unwrap().1 = at(offset);
                    changes.renew_root(node(key), strength(s), at(offset));
                }
            }
            Op::Bind(child, parent, s) => {
                *self.bindings.entry((child, parent, code(s))).or_default() += 1;
                changes.back_reference(node(child), node(parent), s);
            }
        }
    }

    /// `ops` made in a copy of the store, and reported.
    fn after(&self, ops: &[Op]) -> (Store, TestChanges) {
        let mut next = self.clone();
        let mut changes = Changes::new();
        for op in ops {
            next.apply(op, &mut changes);
        }
        (next, changes)
    }

    /// The keys a listing names: listed, a root's (expired or not), either
    /// end of a back-reference, and what their references name,
    /// transitively. The rows a listing reads.
    fn named(&self) -> BTreeSet<u32> {
        let mut named: BTreeSet<u32> = self.listed.keys().copied().collect();
        named.extend(
            self.roots
                .keys()
                .chain(self.expiring_roots.keys())
                .map(|r| r.0),
        );
        named.extend(self.bindings.keys().flat_map(|&(c, p, _)| [c, p]));
        let mut stack: Vec<u32> = named.iter().copied().collect();
        while let Some(key) = stack.pop() {
            let row = (key, 0, 0)..=(key, u32::MAX, u8::MAX);
            let targets = self.refs.range(row.clone()).map(|(r, _)| r.1);
            let targets: Vec<u32> = targets
                .chain(self.expiring.range(row).map(|(r, _)| r.1))
                .collect();
            for to in targets {
                if named.insert(to) {
                    stack.push(to);
                }
            }
        }
        named
    }

    /// A store built from `ops`, unreported, without the references of
    /// unlisted nodes that nothing names: a listing cannot read them, so
    /// a graph built from it cannot hold them (see `Graph::build`).
    fn from_ops(ops: &[Op]) -> Store {
        let mut store = Store::default();
        let mut unreported = Changes::new();
        for op in ops {
            store.apply(op, &mut unreported);
        }
        let named = store.named();
        store.refs.retain(|r, _| named.contains(&r.0));
        store.expiring.retain(|r, _| named.contains(&r.0));
        store
    }

    /// Every reference and back-reference (parent to child), of any
    /// strength, expired or not: what the removal order must respect.
    fn edges(&self) -> Vec<(u32, u32)> {
        let refs = self.refs.keys().chain(self.expiring.keys());
        let refs = refs.map(|&(from, to, _)| (from, to));
        let bound = self
            .bindings
            .keys()
            .map(|&(child, parent, _)| (parent, child));
        refs.chain(bound).collect()
    }
}

// ---------------------------------------------------------------------------
// Collections, by the graph and by a collector.

/// The keys `is_live` is asked about: every key a test uses, and more.
const ASKED: u32 = 48;

#[derive(Debug, PartialEq)]
struct Outcome {
    /// In the order handed out.
    garbage: Vec<u32>,
    /// The keys below `ASKED` that are live, listed or not.
    live: BTreeSet<u32>,
    nodes_listed: usize,
}

impl Outcome {
    fn garbage_set(&self) -> BTreeSet<u32> {
        self.garbage.iter().copied().collect()
    }
}

fn options(grace: Duration, order: SweepOrder) -> Options {
    Options::default()
        .now(now())
        .grace_period(grace)
        .sweep_order(order)
}

fn by_collector(store: &mut Store, options: &Options) -> Outcome {
    let mut gc = Collector::<u8, u8, u32>::new();
    let collection = gc
        .collect_with(store, options)
        .expect("the store never fails");
    Outcome {
        garbage: collection.garbage().map(|n| n.key).collect(),
        live: (0..ASKED)
            .filter(|&k| collection.is_live(&node(k)))
            .collect(),
        nodes_listed: collection.stats().nodes_listed,
    }
}

fn by_graph(graph: &mut TestGraph, options: &Options) -> Outcome {
    let collection = graph.collect(options).expect("the graph collects");
    let outcome = Outcome {
        garbage: collection.garbage().map(|n| n.key).collect(),
        live: (0..ASKED)
            .filter(|&k| collection.is_live(&node(k)))
            .collect(),
        nodes_listed: collection.stats().nodes_listed,
    };
    assert_eq!(collection.stats().nodes_swept, outcome.garbage.len());
    outcome
}

/// Whether `from` reaches `to` through `edges`.
fn reaches(edges: &BTreeMap<u32, BTreeSet<u32>>, from: u32, to: u32) -> bool {
    let mut seen = BTreeSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            return true;
        }
        for &next in edges.get(&at).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    false
}

/// Referrers first: for every reference among the garbage from `x` to `y`
/// that no path from `y` leads back from, `x` comes before `y`.
fn check_referrers_first(what: &str, order: &[u32], store: &Store) -> Result<(), TestCaseError> {
    let position: HashMap<u32, usize> = order.iter().enumerate().map(|(i, &k)| (k, i)).collect();
    let mut among: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (from, to) in store.edges() {
        if from != to && position.contains_key(&from) && position.contains_key(&to) {
            among.entry(from).or_default().insert(to);
        }
    }
    for (&from, targets) in &among {
        for &to in targets {
            if !reaches(&among, to, from) {
                prop_assert!(
                    position[&from] < position[&to],
                    "{}: {} references {} but comes after it in {:?}",
                    what,
                    from,
                    to,
                    order
                );
            }
        }
    }
    Ok(())
}

/// The graph collects what a collector over `store` collects, with both
/// sweep orders.
fn check_same(
    what: &str,
    graph: &mut TestGraph,
    store: &mut Store,
    grace: Duration,
) -> Result<(), TestCaseError> {
    for order in [SweepOrder::Listing, SweepOrder::ReferrersFirst] {
        let options = options(grace, order);
        let expected = by_collector(store, &options);
        let got = by_graph(graph, &options);
        prop_assert_eq!(
            got.garbage_set(),
            expected.garbage_set(),
            "{}, {:?}: garbage",
            what,
            order
        );
        prop_assert_eq!(&got.live, &expected.live, "{}, {:?}: live", what, order);
        prop_assert_eq!(got.nodes_listed, expected.nodes_listed, "{}: listed", what);
        if order == SweepOrder::ReferrersFirst {
            check_referrers_first(what, &got.garbage, store)?;
        }
    }
    Ok(())
}

fn check_no_drift(what: &str, graph: &TestGraph, store: &mut Store) -> Result<(), TestCaseError> {
    let drift = graph.verify(store).expect("the store never fails");
    prop_assert!(drift.is_empty(), "{}: {:?}", what, drift);
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies.

/// Most changes name keys in `0..HOT`, so that the same nodes are listed,
/// removed, listed again, referenced and rooted; the rest in `0..KEYS`.
const HOT: u32 = 8;
const KEYS: u32 = 24;

fn key_in(hot: u32, keys: u32) -> impl Strategy<Value = u32> + Clone {
    prop_oneof![3 => 0..hot, 1 => 0..keys]
}

/// Grace periods: zero, 1 s, 2 s.
fn grace() -> impl Strategy<Value = Duration> {
    prop_oneof![Just(Duration::ZERO), Just(SEC), Just(2 * SEC)]
}

/// Times around `now` and around the grace periods' boundaries, in
/// nanoseconds from `now`.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(-3 * SECS),
        Just(-2 * SECS - 1),
        Just(-2 * SECS),
        Just(-SECS - 1),
        Just(-SECS),
        Just(-1),
        Just(0),
        Just(1),
        Just(SECS),
    ]
}

fn pick() -> impl Strategy<Value = usize> {
    0usize..32
}

fn op() -> impl Strategy<Value = Op> {
    op_in(HOT, KEYS)
}

/// Changes on keys mostly below `hot`, all below `keys`.
fn op_in(hot: u32, keys: u32) -> impl Strategy<Value = Op> {
    let s = common::any_strength;
    let key = || key_in(hot, keys);
    prop_oneof![
        3 => (key(), proptest::option::of(offset())).prop_map(|(k, t)| Op::AddNode(k, t)),
        2 => key().prop_map(Op::RemoveNode),
        2 => (pick(), offset()).prop_map(|(p, t)| Op::Touch(p, t)),
        4 => (key(), key(), s()).prop_map(|(a, b, s)| Op::AddRef(a, b, s)),
        3 => (key(), key(), s(), offset()).prop_map(|(a, b, s, t)| Op::AddExpiringRef(a, b, s, t)),
        2 => pick().prop_map(Op::RemoveRef),
        2 => pick().prop_map(Op::RemoveExpiringRef),
        2 => (pick(), offset()).prop_map(|(p, t)| Op::RenewRef(p, t)),
        2 => (key(), s()).prop_map(|(k, s)| Op::AddRoot(k, s)),
        2 => (key(), s(), offset()).prop_map(|(k, s, t)| Op::AddExpiringRoot(k, s, t)),
        1 => pick().prop_map(Op::RemoveRoot),
        1 => pick().prop_map(Op::RemoveExpiringRoot),
        2 => (pick(), offset()).prop_map(|(p, t)| Op::RenewRoot(p, t)),
        2 => (key(), key(), s()).prop_map(|(c, p, s)| Op::Bind(c, p, s)),
    ]
}

/// How a batch of changes reaches the graph.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Apply,
    Commit,
    /// `prepare`, a collection in the window, then `commit`.
    Window,
    /// `prepare`, then `abort`: the store does not commit.
    Abort,
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Apply),
        Just(Mode::Commit),
        Just(Mode::Window),
        Just(Mode::Abort),
    ]
}

fn batch() -> impl Strategy<Value = (Mode, Vec<Op>)> {
    (mode(), vec(op(), 1..=8))
}

// ---------------------------------------------------------------------------
// 1. Equivalence.

/// Between `prepare` and `commit`, the graph sweeps nothing that the old
/// or the new store keeps: what it sweeps is garbage on each side or not
/// there at all (a node the transaction adds or removes; or both, which
/// only the window lists).
fn check_window(
    what: &str,
    graph: &mut TestGraph,
    old: &mut Store,
    new: &mut Store,
    grace: Duration,
) -> Result<(), TestCaseError> {
    for order in [SweepOrder::Listing, SweepOrder::ReferrersFirst] {
        let options = options(grace, order);
        let before = by_collector(old, &options);
        let after = by_collector(new, &options);
        let swept = by_graph(graph, &options).garbage_set();
        for key in &swept {
            let kept_before = before.live.contains(key);
            let kept_after = after.live.contains(key);
            prop_assert!(
                !kept_before && !kept_after,
                "{}, {:?}: swept {} in the window (old keeps it: {}, new: {}); \
                 old sweeps {:?}, new {:?}",
                what,
                order,
                key,
                kept_before,
                kept_after,
                before.garbage_set(),
                after.garbage_set()
            );
        }
    }
    Ok(())
}

/// Builds the graph of the store `initial` makes, mirrors `batches` into
/// it, and checks it against the store after each.
fn run(initial: &[Op], batches: &[(Mode, Vec<Op>)], grace: Duration) -> Result<(), TestCaseError> {
    let mut store = Store::from_ops(initial);
    let mut graph = TestGraph::build(&mut store).expect("the store never fails");
    check_no_drift("built", &graph, &mut store)?;
    check_same("built", &mut graph, &mut store, grace)?;
    for (i, (mode, ops)) in batches.iter().enumerate() {
        let what = format!("batch {i} ({mode:?})");
        let (mut next, changes) = store.after(ops);
        match mode {
            Mode::Apply => graph.apply(&changes).expect("room for every node"),
            Mode::Commit => {
                let prepared = graph.prepare(&changes).expect("room for every node");
                graph.commit(prepared).expect("this graph");
            }
            Mode::Window => {
                let prepared = graph.prepare(&changes).expect("room for every node");
                check_window(&what, &mut graph, &mut store, &mut next, grace)?;
                graph.commit(prepared).expect("this graph");
            }
            Mode::Abort => {
                let prepared = graph.prepare(&changes).expect("room for every node");
                graph.abort(prepared).expect("this graph");
                next = store.clone();
            }
        }
        store = next;
        let options = options(grace, SweepOrder::Listing);
        let expected = by_collector(&mut store, &options);
        let got = by_graph(&mut graph, &options);
        prop_assert_eq!(
            got.garbage_set(),
            expected.garbage_set(),
            "{}: garbage",
            what
        );
        prop_assert_eq!(got.live, expected.live, "{}: live", what);
    }
    check_same("at the end", &mut graph, &mut store, grace)?;
    check_no_drift("at the end", &graph, &mut store)?;
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn the_graph_collects_what_a_collector_collects(
        initial in vec(op(), 0..=30),
        batches in vec(batch(), 1..=10),
        grace in grace(),
    ) {
        run(&initial, &batches, grace)?;
    }

    /// The same on three keys and longer batches: one batch removes a
    /// node, lists it again, references from it, removes it again, renews
    /// and shortens the same lease.
    #[test]
    fn the_graph_collects_what_a_collector_collects_on_three_keys(
        initial in vec(op_in(2, 3), 0..=12),
        batches in vec((mode(), vec(op_in(2, 3), 1..=16)), 1..=6),
        grace in grace(),
    ) {
        run(&initial, &batches, grace)?;
    }

    /// A random transaction: in the window between `prepare` and
    /// `commit`, a collection sweeps nothing that either side keeps;
    /// after `commit` the graph is the new store, after `abort` the old.
    #[test]
    fn the_window_keeps_what_either_side_keeps(
        initial in vec(op(), 0..=30),
        txn in vec(op(), 1..=12),
        grace in grace(),
        commits in any::<bool>(),
    ) {
        let mut old = Store::from_ops(&initial);
        let mut graph = TestGraph::build(&mut old).unwrap();
        let (mut new, changes) = old.after(&txn);
        let prepared = graph.prepare(&changes).unwrap();
        check_window("window", &mut graph, &mut old, &mut new, grace)?;
        let mut after = if commits {
            graph.commit(prepared).unwrap();
            new
        } else {
            graph.abort(prepared).unwrap();
            old
        };
        check_same("after", &mut graph, &mut after, grace)?;
        check_no_drift("after", &graph, &mut after)?;
    }
}

// ---------------------------------------------------------------------------
// 3. Compaction.

/// How many nodes the graph holds, interned ids included: only a
/// compaction lowers it. Read from its `Debug`.
fn interned(graph: &TestGraph) -> usize {
    let debug = format!("{graph:?}");
    let rest = debug
        .split("nodes: ")
        .nth(1)
        .expect("Debug names the nodes");
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Keys of the nodes `churn` lists and removes: above every other key.
const CHURN: u32 = 10_000;

/// Lists `count` nodes from key `first` on, each with a reference to
/// itself and one to key `k % KEYS`, then removes them (four slots of
/// adjacency each, two added, two dead), in batches of 30 through `apply`,
/// each mirrored in `store`, which ends as it was. Returns the most nodes
/// the graph held.
fn churn_from(graph: &mut TestGraph, store: &mut Store, first: u32, count: u32) -> usize {
    let unchurned = store.clone();
    let mut most = interned(graph);
    let mut at = first;
    while at < first + count {
        let keys = at..(at + 30).min(first + count);
        at = keys.end;
        let added: Vec<Op> = keys
            .clone()
            .flat_map(|k| {
                [
                    Op::AddNode(k, None),
                    Op::AddRef(k, k, Strength::Weak),
                    Op::AddRef(k, k % KEYS, Strength::Strong),
                ]
            })
            .collect();
        apply(graph, store, &added);
        most = most.max(interned(graph));
        let removed: Vec<Op> = keys.map(Op::RemoveNode).collect();
        apply(graph, store, &removed);
    }
    assert_eq!(*store, unchurned, "the churn leaves the store as it was");
    most
}

/// Enough changes to compact the graph of a small store (1,500 nodes,
/// 6,000 slots). Returns the most nodes the graph held.
fn churn(graph: &mut TestGraph, store: &mut Store) -> usize {
    churn_from(graph, store, CHURN, 1500)
}

/// A store from `ops`, unreported, and its graph.
fn built(ops: &[Op]) -> (TestGraph, Store) {
    let mut store = Store::from_ops(ops);
    (TestGraph::build(&mut store).unwrap(), store)
}

/// Mirrors `ops` into the graph with `apply`.
fn apply(graph: &mut TestGraph, store: &mut Store, ops: &[Op]) {
    let (next, changes) = store.after(ops);
    graph.apply(&changes).unwrap();
    *store = next;
}

/// An image the store never sweeps (unlisted) keeps its references while
/// no tag names it: tagged again, it holds them again. A compaction that
/// dropped its row with it swept a live node.
#[test]
fn compaction_keeps_the_references_of_an_unlisted_node_nothing_names() {
    use Strength::Strong;
    let (image, manifest) = (40, 1);
    let (mut graph, mut store) = built(&[
        Op::AddNode(manifest, None),
        Op::AddRef(image, manifest, Strong),
        Op::AddRoot(image, Strong),
    ]);
    apply(&mut graph, &mut store, &[Op::RemoveRoot(0)]);
    check_no_drift("untagged", &graph, &mut store).unwrap();
    let most = churn(&mut graph, &mut store);
    assert!(interned(&graph) < most, "the churn compacted the graph");
    apply(&mut graph, &mut store, &[Op::AddRoot(image, Strong)]);
    check_same("tagged again", &mut graph, &mut store, Duration::ZERO).unwrap();
    assert!(
        by_graph(&mut graph, &options(Duration::ZERO, SweepOrder::Listing))
            .live
            .contains(&manifest)
    );
    check_no_drift("tagged again", &graph, &mut store).unwrap();
}

/// Random changes between churns that compact the graph again and again:
/// ids renumbered under nodes that stay, nodes dropped and their keys
/// listed again (the churn reuses its keys), removals prepared before a
/// compaction and committed after.
fn run_compacting(
    initial: &[Op],
    rounds: &[((Mode, Vec<Op>), u32)],
    grace: Duration,
) -> Result<(), TestCaseError> {
    let (mut graph, mut store) = built(initial);
    let (mut most, mut compactions) = (interned(&graph), 0);
    for (i, ((mode, ops), churned)) in rounds.iter().enumerate() {
        let what = format!("round {i} ({mode:?})");
        let (mut next, changes) = store.after(ops);
        let prepared = graph.prepare(&changes).unwrap();
        // While the batch is prepared, the churn cannot compact.
        let before = interned(&graph);
        let first = CHURN + (i as u32 % 4) * 500;
        most = most.max(churn_from(&mut graph, &mut next, first, *churned));
        prop_assert!(
            interned(&graph) >= before,
            "{}: compacted while prepared",
            what
        );
        match mode {
            Mode::Abort => {
                graph.abort(prepared).unwrap();
                // The store did not commit the batch; the churn left it
                // as it was.
                next = store.clone();
            }
            Mode::Window => {
                check_window(&what, &mut graph, &mut store, &mut next, grace)?;
                graph.commit(prepared).unwrap();
            }
            Mode::Apply | Mode::Commit => graph.commit(prepared).unwrap(),
        }
        store = next;
        if interned(&graph) < most {
            compactions += 1;
            most = interned(&graph);
        }
        let options = options(grace, SweepOrder::Listing);
        let expected = by_collector(&mut store, &options);
        let got = by_graph(&mut graph, &options);
        prop_assert_eq!(
            got.garbage_set(),
            expected.garbage_set(),
            "{}: garbage",
            what
        );
        prop_assert_eq!(got.live, expected.live, "{}: live", what);
    }
    prop_assert!(compactions > 0, "the graph never compacted");
    check_same("at the end", &mut graph, &mut store, grace)?;
    check_no_drift("at the end", &graph, &mut store)?;
    Ok(())
}

/// Thousands of changes a case: a fiftieth of `PROPTEST_CASES`, at least
/// three. (Run without `proptest!`, which would read `PROPTEST_CASES`
/// over this.)
#[test]
fn the_graph_stays_exact_through_compactions() {
    let config = common::proptest_config();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: (config.cases / 50).max(3),
        ..config
    });
    let cases = (
        vec(op(), 0..=30),
        vec((batch(), 100..=160u32), 14..=20),
        grace(),
    );
    let outcome = runner.run(&cases, |(initial, rounds, grace)| {
        run_compacting(&initial, &rounds, grace)
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// 60 copies of a weak reference `1 → 2` added and removed in one batch:
/// 120 slots of adjacency, and the store as it was.
fn tip(graph: &mut TestGraph) {
    let mut changes = Changes::new();
    for _ in 0..60 {
        changes.add_reference(node(1), node(2), Strength::Weak);
    }
    for _ in 0..60 {
        changes.remove_reference(node(1), node(2), Strength::Weak);
    }
    graph.apply(&changes).unwrap();
}

#[test]
fn a_compaction_drops_what_carries_nothing_and_renumbers_the_rest() {
    use Strength::{Strong, Weak};
    let (mut graph, mut store) = built(&[
        Op::AddNode(1, None),
        Op::AddNode(2, None),
        Op::AddRoot(1, Strong),
        Op::AddRef(1, 2, Weak),
    ]);
    let built = interned(&graph);
    // 4,000 slots: not yet.
    let most = churn_from(&mut graph, &mut store, CHURN, 1000);
    // Listed after 1,000 nodes that will be dropped: renumbered.
    apply(
        &mut graph,
        &mut store,
        &[
            Op::AddNode(20, None),
            Op::AddNode(21, Some(-5 * SECS)),
            Op::AddRef(1, 20, Strong),
            Op::AddExpiringRef(20, 21, Strong, 0),
            // A dead edge: 22 is named, never listed; kept.
            Op::AddRef(20, 22, Strong),
            Op::Bind(23, 21, Strong),
            Op::AddNode(23, None),
        ],
    );
    assert_eq!(interned(&graph), most, "no compaction yet");
    tip(&mut graph);
    assert_eq!(interned(&graph), built + 4, "the churn's nodes are gone");
    check_same("compacted", &mut graph, &mut store, Duration::ZERO).unwrap();
    check_no_drift("compacted", &graph, &mut store).unwrap();
    let outcome = by_graph(&mut graph, &options(Duration::ZERO, SweepOrder::Listing));
    assert_eq!(outcome.garbage_set(), BTreeSet::from([2]));
    assert!(
        outcome
            .live
            .is_superset(&BTreeSet::from([1, 20, 21, 22, 23]))
    );
    // A key the compaction dropped, listed again: a new id.
    apply(
        &mut graph,
        &mut store,
        &[
            Op::AddNode(CHURN + 5, None),
            Op::AddRef(21, CHURN + 5, Strong),
        ],
    );
    let outcome = by_graph(&mut graph, &options(Duration::ZERO, SweepOrder::Listing));
    assert_eq!(outcome.garbage_set(), BTreeSet::from([2]));
    check_same("listed again", &mut graph, &mut store, Duration::ZERO).unwrap();
    check_no_drift("listed again", &graph, &mut store).unwrap();
    // The lease from 20 to 21 still expires, at its instant.
    let late = options(Duration::ZERO, SweepOrder::Listing).now(at(1));
    let outcome = by_graph(&mut graph, &late);
    assert_eq!(
        outcome.garbage_set(),
        BTreeSet::from([2, 21, 23, CHURN + 5])
    );
}

/// A removal prepared before the churn and committed after it: the graph
/// does not compact while it is outstanding (its ids would name other
/// nodes), and compacts once it is committed.
#[test]
fn no_compaction_while_a_prepared_is_outstanding() {
    use Strength::Strong;
    let (mut graph, mut store) = built(&[Op::AddNode(1, None), Op::AddRoot(1, Strong)]);
    // Ids for 30 and 31 above 900 that the compaction will drop.
    churn_from(&mut graph, &mut store, CHURN, 900);
    apply(
        &mut graph,
        &mut store,
        &[
            Op::AddNode(30, None),
            Op::AddNode(31, None),
            Op::AddNode(32, Some(0)),
            Op::AddRef(1, 30, Strong),
            Op::AddRef(30, 31, Strong),
        ],
    );
    // Prepared: 31 loses its referrer, 32 its last use.
    let (next, changes) = store.after(&[Op::RemoveRef(1), Op::Touch(3, -5 * SECS)]);
    assert_eq!(changes.len(), 2);
    let prepared = graph.prepare(&changes).unwrap();
    store = next;
    let most = churn_from(&mut graph, &mut store, CHURN + 1000, 900);
    assert_eq!(interned(&graph), most, "no compaction while prepared");
    graph.commit(prepared).unwrap();
    assert_eq!(interned(&graph), 4, "compacted at the commit");
    let outcome = by_graph(&mut graph, &options(Duration::ZERO, SweepOrder::Listing));
    assert_eq!(outcome.garbage_set(), BTreeSet::from([31, 32]));
    check_same("committed", &mut graph, &mut store, Duration::ZERO).unwrap();
    check_no_drift("committed", &graph, &mut store).unwrap();
}

// ---------------------------------------------------------------------------
// 2. The transaction window.

/// Garbage keys of the graph at `now`, with no grace period.
fn garbage(graph: &mut TestGraph) -> BTreeSet<u32> {
    by_graph(graph, &options(Duration::ZERO, SweepOrder::Listing)).garbage_set()
}

/// Manifests 1 and 2, with layers 3 and 4; the tag (a root) on 1.
fn tagged() -> (TestGraph, Store) {
    use Strength::Strong;
    built(&[
        Op::AddNode(1, None),
        Op::AddNode(2, None),
        Op::AddNode(3, None),
        Op::AddNode(4, None),
        Op::AddRef(1, 3, Strong),
        Op::AddRef(2, 4, Strong),
        Op::AddRoot(1, Strong),
    ])
}

/// The tag moves from manifest 1 to manifest 2.
fn move_tag() -> TestChanges {
    let mut changes = Changes::new();
    changes
        .remove_root(node(1), Strength::Strong)
        .add_root(node(2), Strength::Strong);
    changes
}

#[test]
fn a_tag_moved_sweeps_neither_manifest_until_the_commit() {
    let (mut graph, mut store) = tagged();
    assert_eq!(garbage(&mut graph), BTreeSet::from([2, 4]));
    let prepared = graph.prepare(&move_tag()).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::new(), "in the window");
    graph.commit(prepared).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::from([1, 3]), "committed");
    store.roots.clear();
    store.roots.insert((2, code(Strength::Strong)), 1);
    check_same("committed", &mut graph, &mut store, Duration::ZERO).unwrap();
    check_no_drift("committed", &graph, &mut store).unwrap();
}

#[test]
fn a_tag_move_aborted_leaves_the_old_tag() {
    let (mut graph, mut store) = tagged();
    let prepared = graph.prepare(&move_tag()).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::new(), "in the window");
    graph.abort(prepared).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::from([2, 4]), "aborted");
    check_no_drift("aborted", &graph, &mut store).unwrap();
}

/// Each kind of removal waits for the commit, and each kind of addition
/// is undone by an abort: with a lease shortened, a use corrected to an
/// earlier one, a node removed and a reference removed.
#[test]
fn every_removal_waits_for_the_commit() {
    use Strength::Strong;
    let (mut graph, store) = built(&[
        Op::AddNode(1, Some(0)),
        Op::AddNode(2, None),
        Op::AddNode(3, None),
        Op::AddNode(4, None),
        Op::AddExpiringRoot(2, Strong, 0),
        Op::AddRef(2, 3, Strong),
        Op::AddExpiringRef(2, 4, Strong, 0),
    ]);
    assert_eq!(garbage(&mut graph), BTreeSet::new());
    let (mut new, changes) = store.after(&[
        Op::Touch(0, -1),
        Op::RenewRoot(0, -1),
        Op::RemoveRef(0),
        Op::RenewRef(0, -1),
        Op::RemoveNode(3),
    ]);
    assert_eq!(changes.len(), 5);
    let prepared = graph.prepare(&changes).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::new(), "in the window");
    graph.commit(prepared).unwrap();
    // 3 is gone; 1 was used before `now`; the lease on 2 expired.
    assert_eq!(garbage(&mut graph), BTreeSet::from([1, 2, 4]));
    check_same("committed", &mut graph, &mut new, Duration::ZERO).unwrap();
    check_no_drift("committed", &graph, &mut new).unwrap();
}

#[test]
fn an_abort_undoes_every_addition() {
    use Strength::{Flat, Strong};
    let (mut graph, mut store) = built(&[
        Op::AddNode(1, Some(-5 * SECS)),
        Op::AddNode(2, None),
        Op::AddExpiringRoot(2, Strong, -1),
        Op::AddExpiringRef(1, 2, Strong, -1),
    ]);
    let before = garbage(&mut graph);
    assert_eq!(before, BTreeSet::from([1, 2]));
    let (_, changes) = store.after(&[
        Op::AddNode(3, Some(0)),
        Op::Touch(0, 0),
        Op::RenewRoot(0, 0),
        Op::AddRef(3, 4, Flat),
        Op::AddExpiringRoot(4, Strong, 0),
        Op::AddRoot(2, Flat),
        Op::Bind(5, 3, Strong),
        Op::AddNode(5, None),
        Op::AddExpiringRef(1, 2, Strong, 0),
    ]);
    let prepared = graph.prepare(&changes).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::new());
    graph.abort(prepared).unwrap();
    assert_eq!(garbage(&mut graph), before);
    check_same("aborted", &mut graph, &mut store, Duration::ZERO).unwrap();
    check_no_drift("aborted", &graph, &mut store).unwrap();
}

// ---------------------------------------------------------------------------
// Several changes to one thing in one batch end as in the store, applied
// in order. Each of these swept a live node, or kept a deadline the store
// no longer has, when the graph applied every removal after every
// addition.

/// Runs `ops` on the store of `initial` as one batch, and checks the
/// graph at `now` with `grace`.
fn one_batch(initial: &[Op], ops: &[Op], grace: Duration) -> (TestGraph, Store) {
    let (mut graph, store) = built(initial);
    let (mut store, changes) = store.after(ops);
    assert_eq!(changes.len(), ops.len(), "every change applies");
    graph.apply(&changes).unwrap();
    check_same("one batch", &mut graph, &mut store, grace).unwrap();
    check_no_drift("one batch", &graph, &mut store).unwrap();
    (graph, store)
}

#[test]
fn a_use_corrected_then_renewed_in_one_batch_keeps_the_renewal() {
    // Used 3 s ago; corrected to 5 s ago, then used now: kept.
    let (mut graph, _) = one_batch(
        &[Op::AddNode(1, Some(-3 * SECS))],
        &[Op::Touch(0, -5 * SECS), Op::Touch(0, 0)],
        Duration::ZERO,
    );
    assert_eq!(garbage(&mut graph), BTreeSet::new());
}

#[test]
fn a_lease_shortened_then_renewed_in_one_batch_holds() {
    use Strength::Strong;
    let (mut graph, _) = one_batch(
        &[
            Op::AddNode(1, None),
            Op::AddNode(2, None),
            Op::AddRoot(1, Strong),
            Op::AddExpiringRef(1, 2, Strong, -SECS),
            Op::AddExpiringRoot(3, Strong, -SECS),
            Op::AddNode(3, None),
        ],
        &[
            Op::RenewRef(0, -2 * SECS),
            Op::RenewRef(0, 0),
            Op::RenewRoot(0, -2 * SECS),
            Op::RenewRoot(0, 0),
        ],
        Duration::ZERO,
    );
    assert_eq!(garbage(&mut graph), BTreeSet::new());
}

#[test]
fn a_node_removed_listed_and_used_in_one_batch_keeps_the_use() {
    let (mut graph, _) = one_batch(
        &[Op::AddNode(1, Some(-5 * SECS))],
        &[Op::RemoveNode(1), Op::AddNode(1, None), Op::Touch(0, 0)],
        Duration::ZERO,
    );
    assert_eq!(garbage(&mut graph), BTreeSet::new());
}

#[test]
fn a_node_removed_twice_in_one_batch_loses_each_reference_once() {
    use Strength::Strong;
    // 1 → 2, then: removed, the reference again, removed, the reference
    // again: the store has one copy.
    let (mut graph, _) = one_batch(
        &[
            Op::AddNode(1, None),
            Op::AddNode(2, None),
            Op::AddRoot(1, Strong),
            Op::AddRef(1, 2, Strong),
            Op::Bind(2, 1, Strong),
        ],
        &[
            Op::RemoveNode(1),
            Op::AddRef(1, 2, Strong),
            Op::RemoveNode(1),
            Op::AddRef(1, 2, Strong),
            Op::RemoveNode(2),
            Op::Bind(2, 1, Strong),
            Op::RemoveNode(2),
            Op::Bind(2, 1, Strong),
            Op::AddNode(2, None),
        ],
        Duration::ZERO,
    );
    // 1, unlisted, is still a root: one copy of 1 → 2 keeps 2.
    assert_eq!(garbage(&mut graph), BTreeSet::new());
    let (mut graph, _) = one_batch(
        &[
            Op::AddNode(1, None),
            Op::AddNode(2, None),
            Op::AddRoot(1, Strong),
            Op::AddRef(1, 2, Strong),
        ],
        // One removal of the reference, then of its node: the copies
        // added after stay.
        &[
            Op::RemoveRef(0),
            Op::RemoveNode(1),
            Op::AddRef(1, 2, Strong),
            Op::AddRef(1, 2, Strong),
            Op::RemoveRef(0),
        ],
        Duration::ZERO,
    );
    assert_eq!(garbage(&mut graph), BTreeSet::new());
}

#[test]
fn a_lease_given_back_and_taken_again_has_the_new_deadline() {
    use Strength::Strong;
    // The last copy goes with its deadline: taken again for less, or in
    // the same batch, the lease has the new deadline, not the old.
    for split in [false, true] {
        let initial = [
            Op::AddNode(1, None),
            Op::AddNode(2, None),
            Op::AddRoot(1, Strong),
            Op::AddExpiringRef(1, 2, Strong, SECS),
            Op::AddExpiringRoot(2, Strong, SECS),
        ];
        let ops = [
            Op::RemoveExpiringRef(0),
            Op::RemoveExpiringRoot(0),
            Op::AddExpiringRef(1, 2, Strong, -1),
            Op::AddExpiringRoot(2, Strong, -1),
        ];
        let (mut graph, mut store) = built(&initial);
        if split {
            apply(&mut graph, &mut store, &ops[..2]);
            apply(&mut graph, &mut store, &ops[2..]);
        } else {
            apply(&mut graph, &mut store, &ops);
        }
        check_same("taken again", &mut graph, &mut store, Duration::ZERO).unwrap();
        check_no_drift("taken again", &graph, &mut store).unwrap();
        assert_eq!(garbage(&mut graph), BTreeSet::from([2]));
    }
}

/// A removal of what the graph does not hold (the store had none left)
/// takes nothing added after it.
#[test]
fn a_removal_of_nothing_takes_nothing() {
    use Strength::Strong;
    let (mut graph, _) = built(&[Op::AddNode(1, None), Op::AddRoot(1, Strong)]);
    let mut changes = Changes::new();
    changes
        .remove_reference(node(1), node(2), Strong)
        .remove_root(node(2), Strong)
        .add_reference(node(1), node(2), Strong)
        .add_root(node(3), Strong)
        .add_node(node(2))
        .add_node(node(3));
    graph.apply(&changes).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::new());
}

// ---------------------------------------------------------------------------
// 4. Verify.

/// A graph of `initial` after `reported` (mirrored), and its store after
/// `made` too (not mirrored), with the drift between them.
fn drift(initial: &[Op], reported: &[Op], made: &[Op]) -> (Drift<u8, u8, u32>, TestGraph, Store) {
    let (mut graph, store) = built(initial);
    let (_, changes) = store.after(reported);
    graph.apply(&changes).unwrap();
    let (mut store, _) = store.after(made);
    let drift = graph.verify(&mut store).unwrap();
    (drift, graph, store)
}

fn base() -> Vec<Op> {
    use Strength::Strong;
    vec![
        Op::AddNode(1, Some(-SECS)),
        Op::AddNode(2, None),
        Op::AddNode(3, None),
        Op::AddRoot(1, Strong),
        Op::AddRef(1, 2, Strong),
        Op::AddExpiringRef(1, 3, Strong, SECS),
    ]
}

#[test]
fn verify_finds_an_unreported_reference_and_calls_it_unsafe() {
    use Strength::Strong;
    let (drift, mut graph, mut store) = drift(
        &base(),
        &[],
        &[Op::AddRef(2, 4, Strong), Op::AddNode(4, None)],
    );
    assert_eq!(drift.missing_references, [(node(2), node(4), Strong)]);
    assert_eq!(drift.missing_nodes, [node(4)]);
    assert!(drift.is_unsafe());
    // Why it is unsafe: the graph does not hold 4 at all; told it is
    // listed but not that 2 references it, it would sweep it.
    let mut changes = Changes::new();
    changes.add_node(node(4));
    graph.apply(&changes).unwrap();
    assert!(garbage(&mut graph).contains(&4));
    assert!(
        by_collector(&mut store, &options(Duration::ZERO, SweepOrder::Listing))
            .live
            .contains(&4)
    );
    let drift = graph.verify(&mut store).unwrap();
    assert!(drift.missing_nodes.is_empty());
    assert_eq!(drift.missing_references, [(node(2), node(4), Strong)]);
}

#[test]
fn verify_finds_every_unreported_change() {
    use Strength::{Flat, Strong, Weak};
    let (d, ..) = drift(&base(), &[], &[Op::AddRoot(2, Flat)]);
    assert_eq!(d.missing_roots, [(node(2), Flat)]);
    assert!(d.is_unsafe());
    let (d, ..) = drift(&base(), &[], &[Op::Bind(3, 2, Weak)]);
    assert_eq!(d.missing_references, [(node(2), node(3), Weak)]);
    assert!(d.is_unsafe());
    let (d, ..) = drift(&base(), &[], &[Op::Touch(0, 0)]);
    assert_eq!(d.times, [node(1)]);
    assert!(d.is_unsafe());
    let (d, ..) = drift(&base(), &[], &[Op::RenewRef(0, 2 * SECS)]);
    assert_eq!(d.times, [node(1)]);
    assert!(d.is_unsafe());
    let (d, ..) = drift(&base(), &[], &[Op::AddNode(5, None)]);
    assert_eq!(d.missing_nodes, [node(5)]);
    // A node the graph does not know it cannot sweep.
    assert!(!d.is_unsafe());
    // Removals the embedder did not report: the graph keeps more.
    let (d, ..) = drift(&base(), &[], &[Op::RemoveRef(0)]);
    assert_eq!(d.extra_references, [(node(1), node(2), Strong)]);
    assert!(!d.is_unsafe() && !d.is_empty());
    let (d, ..) = drift(&base(), &[], &[Op::RemoveRoot(0)]);
    assert_eq!(d.extra_roots, [(node(1), Strong)]);
    assert!(!d.is_unsafe() && !d.is_empty());
    let (d, ..) = drift(&base(), &[], &[Op::RemoveNode(2)]);
    assert_eq!(d.extra_nodes, [node(2)]);
    assert!(!d.is_unsafe() && !d.is_empty());
}

#[test]
fn verify_finds_every_change_reported_and_not_made() {
    use Strength::{Strong, Structural};
    let (d, ..) = drift(&base(), &[Op::AddRef(2, 3, Strong)], &[]);
    assert_eq!(d.extra_references, [(node(2), node(3), Strong)]);
    assert!(!d.is_unsafe() && !d.is_empty());
    let (d, ..) = drift(&base(), &[Op::AddRoot(3, Strong)], &[]);
    assert_eq!(d.extra_roots, [(node(3), Strong)]);
    assert!(!d.is_unsafe());
    let (d, ..) = drift(&base(), &[Op::AddNode(6, None)], &[]);
    assert_eq!(d.extra_nodes, [node(6)]);
    assert!(!d.is_unsafe());
    let (d, ..) = drift(&base(), &[Op::Bind(3, 2, Structural)], &[]);
    assert_eq!(d.extra_references, [(node(2), node(3), Structural)]);
    assert!(!d.is_unsafe());
    // A time reported and not made is a difference all the same.
    let (d, ..) = drift(&base(), &[Op::Touch(0, 0)], &[]);
    assert_eq!(d.times, [node(1)]);
    // Reported and made: nothing.
    let ops = [Op::AddRef(2, 3, Strong), Op::Touch(0, 0), Op::RemoveNode(3)];
    let (d, ..) = drift(&base(), &ops, &ops);
    assert!(d.is_empty(), "{d:?}");
}

// ---------------------------------------------------------------------------
// 5. Errors, never panics.

/// A store that also emits something decided at one instant: `add_if` in
/// its roots, or a `history` in the references of node 1.
struct Instantly {
    store: Store,
    what: &'static str,
}

impl CollectionContext for Instantly {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        self.store.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        if self.what == "add_if" {
            roots.add_if(&node(2), Strength::Strong, |_| true);
        }
        self.store.roots(roots)
    }

    fn references(
        &mut self,
        from: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        if self.what == "history" && from.key == 1 {
            let entries = [(&node(2), now()), (&node(3), now() - SEC)];
            refs.history(entries, &Retention::default().keep_last(1));
        }
        self.store.references(from, refs)
    }
}

#[test]
fn what_is_decided_at_one_instant_is_not_resident() {
    for what in ["add_if", "history"] {
        let (graph, store) = built(&base());
        let mut ctx = Instantly { store, what };
        match TestGraph::build(&mut ctx) {
            Err(Error::NotResident { what: refused }) => assert_eq!(refused, what),
            other => panic!("{what}: {other:?}"),
        }
        match graph.verify(&mut ctx) {
            Err(Error::NotResident { what: refused }) => assert_eq!(refused, what),
            other => panic!("{what}: {other:?}"),
        }
        // A collector takes it.
        let mut gc = Collector::<u8, u8, u32>::new();
        let collection = gc.collect_with(&mut ctx, &options(Duration::ZERO, SweepOrder::Listing));
        assert!(collection.unwrap().is_live(&node(2)), "{what}");
    }
}

#[test]
fn changes_prepared_on_another_graph_are_refused() {
    let (mut one, store) = tagged();
    let (mut other, _) = tagged();
    let prepared = one.prepare(&move_tag()).unwrap();
    assert_eq!(other.commit(prepared), Err(NotThisGraph));
    let prepared = one.prepare(&move_tag()).unwrap();
    assert_eq!(other.abort(prepared), Err(NotThisGraph));
    // Nothing applied to the other graph.
    let mut old = store.clone();
    check_no_drift("other", &other, &mut old).unwrap();
    assert_eq!(garbage(&mut other), BTreeSet::from([2, 4]));
    // The first keeps both additions (each Prepared dropped), never the
    // removals: more than the new store, never less.
    let mut new = store.clone();
    new.roots.clear();
    new.roots.insert((2, code(Strength::Strong)), 1);
    let mut d = one.verify(&mut new).unwrap();
    d.extra_roots.sort_by_key(|(n, _)| n.key);
    assert_eq!(
        d.extra_roots,
        [(node(1), Strength::Strong), (node(2), Strength::Strong)]
    );
    assert!(!d.is_unsafe());
    assert_eq!(
        NotThisGraph.to_string(),
        "these changes were prepared on another graph"
    );
}

#[test]
fn a_dropped_prepared_keeps_the_additions_and_lets_the_graph_compact() {
    let (mut graph, store) = tagged();
    let (mut new, changes) = store.after(&[Op::RemoveRoot(0), Op::AddRoot(2, Strength::Strong)]);
    drop(graph.prepare(&changes).unwrap());
    assert_eq!(garbage(&mut graph), BTreeSet::new(), "both tags hold");
    let d = graph.verify(&mut new).unwrap();
    assert_eq!(d.extra_roots, [(node(1), Strength::Strong)]);
    assert!(!d.is_unsafe());
    let most = churn(&mut graph, &mut new);
    assert!(interned(&graph) < most, "compacted after the drop");
    let d = graph.verify(&mut new).unwrap();
    assert_eq!(d.extra_roots, [(node(1), Strength::Strong)]);
    // Reported again, the removal lands.
    let mut changes = Changes::new();
    changes.remove_root(node(1), Strength::Strong);
    graph.apply(&changes).unwrap();
    check_no_drift("reported again", &graph, &mut new).unwrap();
    assert_eq!(garbage(&mut graph), BTreeSet::from([1, 3]));
}

#[test]
fn options_the_graph_cannot_honour_are_invalid() {
    let (mut graph, _) = tagged();
    let base = options(Duration::ZERO, SweepOrder::Listing);
    for (what, options) in [
        ("pins", base.clone().pin("app:stable")),
        (
            "share",
            base.clone()
                .sweep_limit(SweepLimit::default().max_share(1.5)),
        ),
    ] {
        match graph.collect(&options) {
            Err(Error::InvalidOptions { reason }) => assert!(!reason.is_empty()),
            other => panic!("{what}: {other:?}"),
        }
    }
    // The graph is still usable.
    assert_eq!(garbage(&mut graph), BTreeSet::from([2, 4]));
}

#[test]
fn limits_stop_the_collection() {
    let (mut graph, mut store) = tagged();
    let base = options(Duration::ZERO, SweepOrder::ReferrersFirst);
    match graph.collect(&base.clone().sweep_limit(SweepLimit::default().max_nodes(1))) {
        Err(Error::SweepLimitExceeded {
            would_sweep,
            listed,
            ..
        }) => {
            assert_eq!(would_sweep, [node(2), node(4)]);
            assert_eq!(listed, 4);
        }
        other => panic!("{other:?}"),
    }
    // At most: exactly the limit goes ahead, in the order referrers first.
    let at_limit = base.clone().sweep_limit(SweepLimit::default().max_nodes(2));
    let collection = graph.collect(&at_limit).unwrap();
    assert_eq!(
        collection.garbage().map(|n| n.key).collect::<Vec<_>>(),
        [2, 4]
    );
    let plan = collection.plan();
    assert_eq!(plan.nodes(), [node(2), node(4)]);
    drop(collection);
    let half = base
        .clone()
        .sweep_limit(SweepLimit::default().max_share(0.5));
    assert!(graph.collect(&half).is_ok());
    let mut gc = Collector::<u8, u8, u32>::new();
    assert!(gc.collect_with(&mut store, &half).is_ok());
    match graph.collect(&base.clone().time_limit(Duration::ZERO)) {
        Err(Error::TimedOut { .. }) => {}
        other => panic!("{other:?}"),
    }
    let cancel = Cancel::new();
    cancel.cancel();
    match graph.collect(&base.clone().cancel(cancel)) {
        Err(Error::Cancelled { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(garbage(&mut graph), BTreeSet::from([2, 4]));
}

// ---------------------------------------------------------------------------
// 6. Boundaries: a deadline holds at its instant; a grace period keeps at
// its end, and anything used after `now`.

/// The garbage of the graph and of a collector at `now + offset`, which
/// must agree.
fn garbage_at(
    graph: &mut TestGraph,
    store: &mut Store,
    offset: i64,
    grace: Duration,
) -> BTreeSet<u32> {
    let options = options(grace, SweepOrder::Listing).now(at(offset));
    let expected = by_collector(store, &options);
    let got = by_graph(graph, &options);
    assert_eq!(got.garbage, expected.garbage, "at {offset} ns");
    assert_eq!(got.live, expected.live, "at {offset} ns");
    got.garbage_set()
}

#[test]
fn a_deadline_holds_at_its_instant_and_not_a_nanosecond_after() {
    use Strength::{Flat, Strong, Structural};
    // A lease (an expiring root) on 1, which holds 2; an expiring
    // reference from the root 3 to 4, which holds 5. All at `now`.
    let ops = [
        Op::AddNode(1, None),
        Op::AddNode(2, None),
        Op::AddNode(4, None),
        Op::AddNode(5, None),
        Op::AddExpiringRoot(1, Flat, 0),
        Op::AddRef(1, 2, Structural),
        Op::AddRoot(3, Strong),
        Op::AddExpiringRef(3, 4, Strong, 0),
        Op::AddRef(4, 5, Strong),
    ];
    // Built with the deadlines, or told them as changes.
    let (mut built_graph, mut store) = built(&ops);
    let mut told = TestGraph::new();
    told.apply(&Store::default().after(&ops).1).unwrap();
    for graph in [&mut built_graph, &mut told] {
        assert_eq!(
            garbage_at(graph, &mut store, -1, Duration::ZERO),
            BTreeSet::new()
        );
        assert_eq!(
            garbage_at(graph, &mut store, 0, Duration::ZERO),
            BTreeSet::new()
        );
        assert_eq!(
            garbage_at(graph, &mut store, 1, Duration::ZERO),
            BTreeSet::from([1, 2, 4, 5])
        );
    }
    // Renewed by a nanosecond: holds a nanosecond longer.
    let (mut store, changes) = store.after(&[Op::RenewRoot(0, 1), Op::RenewRef(0, 1)]);
    built_graph.apply(&changes).unwrap();
    assert_eq!(
        garbage_at(&mut built_graph, &mut store, 1, Duration::ZERO),
        BTreeSet::new()
    );
    assert_eq!(
        garbage_at(&mut built_graph, &mut store, 2, Duration::ZERO),
        BTreeSet::from([1, 2, 4, 5])
    );
}

#[test]
fn a_grace_period_keeps_at_its_end_and_anything_used_later() {
    use Strength::Strong;
    let grace = 2 * SEC;
    let ops = [
        // Used exactly a grace period ago, and what it references.
        Op::AddNode(1, Some(-2 * SECS)),
        Op::AddNode(2, None),
        Op::AddRef(1, 2, Strong),
        // A nanosecond more.
        Op::AddNode(3, Some(-2 * SECS - 1)),
        // Used after `now` (a clock ahead).
        Op::AddNode(4, Some(SECS)),
    ];
    let (mut graph, mut store) = built(&ops);
    assert_eq!(
        garbage_at(&mut graph, &mut store, 0, grace),
        BTreeSet::from([3])
    );
    assert_eq!(
        garbage_at(&mut graph, &mut store, 1, grace),
        BTreeSet::from([1, 2, 3])
    );
    // A zero grace period keeps what was used at `now` or after.
    assert_eq!(
        garbage_at(&mut graph, &mut store, 0, Duration::ZERO),
        BTreeSet::from([1, 2, 3])
    );
    assert_eq!(
        garbage_at(&mut graph, &mut store, SECS, Duration::ZERO),
        BTreeSet::from([1, 2, 3])
    );
    assert_eq!(
        garbage_at(&mut graph, &mut store, SECS + 1, Duration::ZERO),
        BTreeSet::from([1, 2, 3, 4])
    );
    // A use corrected to an earlier one, through changes.
    let (mut store, changes) = store.after(&[Op::Touch(0, -2 * SECS - 1)]);
    graph.apply(&changes).unwrap();
    assert_eq!(
        garbage_at(&mut graph, &mut store, 0, grace),
        BTreeSet::from([1, 2, 3])
    );
}

// ---------------------------------------------------------------------------
// Why is this live?

/// How far a node is reached: strongly (0) or flat (1), as the mark's
/// `Reach`; `through` as the mark follows a reference.
fn through(reach: u8, strength: Strength) -> Option<u8> {
    match (strength, reach) {
        (Strength::Structural, reach) => Some(reach),
        (Strength::Strong, 0) => Some(0),
        (Strength::Flat, 0) => Some(1),
        _ => None,
    }
}

/// The strongest of some reaches.
fn best(reaches: impl Iterator<Item = Option<u8>>) -> Option<u8> {
    reaches.flatten().min()
}

/// `path` is one the mark follows in `store` at `now()` with `grace`: a
/// root of its kind, then references (held at `now`) or back-references
/// that the reach so far follows, ending at `key`.
fn check_path(
    store: &Store,
    path: &[Step<'_, TestNode>],
    key: u32,
    grace: Duration,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(path.last().map(|step| step.node.key), Some(key));
    let first = path[0].node.key;
    let mut reach = match path[0].reason {
        Reason::Root(RootKind::Explicit) => best(
            store
                .roots
                .keys()
                .filter(|&&(k, _)| k == first)
                .map(|&(_, s)| through(0, strength(s))),
        ),
        Reason::Root(RootKind::Lease) => best(
            store
                .expiring_roots
                .iter()
                .filter(|&(&(k, _), &(_, deadline))| k == first && now() <= deadline)
                .map(|(&(_, s), _)| through(0, strength(s))),
        ),
        Reason::Root(RootKind::Grace) => {
            let used = store.listed.get(&first).copied().flatten();
            used.is_some_and(|at| at + grace >= now()).then_some(0)
        }
        other => return Err(TestCaseError::fail(format!("root {first}: {other:?}"))),
    };
    prop_assert!(
        reach.is_some(),
        "{:?} does not hold {}",
        path[0].reason,
        first
    );
    for pair in path.windows(2) {
        let (from, to) = (pair[0].node.key, pair[1].node.key);
        let r = reach.unwrap();
        reach = match pair[1].reason {
            Reason::Reference(s) => {
                let plain = store.refs.contains_key(&(from, to, code(s)));
                let held = store
                    .expiring
                    .get(&(from, to, code(s)))
                    .is_some_and(|&(_, deadline)| now() <= deadline);
                prop_assert!(plain || held, "no {:?} reference {} -> {}", s, from, to);
                through(r, s)
            }
            Reason::BackReference => best(
                store
                    .bindings
                    .keys()
                    .filter(|&&(child, parent, _)| child == to && parent == from)
                    .map(|&(_, _, s)| through(r, strength(s))),
            ),
            other => return Err(TestCaseError::fail(format!("{from} -> {to}: {other:?}"))),
        };
        prop_assert!(reach.is_some(), "{} -> {} is not followed", from, to);
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config())]

    /// Every live node has a path the mark follows; no other node has one.
    #[test]
    fn why_live_gives_a_path_the_mark_follows(
        initial in vec(op(), 0..=40),
        later in vec(op(), 0..=20),
        grace in grace(),
    ) {
        let (mut graph, mut store) = built(&initial);
        apply(&mut graph, &mut store, &later);
        let collection = graph.collect(&options(grace, SweepOrder::Listing)).unwrap();
        for key in 0..ASKED {
            let path = collection.why_live(&node(key));
            prop_assert_eq!(path.is_some(), collection.is_live(&node(key)), "key {}", key);
            if let Some(path) = path {
                check_path(&store, &path, key, grace)?;
            }
        }
    }
}
