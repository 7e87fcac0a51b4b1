//! One collection over several sources (`Sources`): listing and roots go to
//! every started source, references and removals to the owner of a node's
//! kind; a source that fails to start sits the run out, and nothing it
//! owns or may keep is swept; finish runs once per started source, after
//! removal.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::error::Error as _;
use std::rc::Rc;

use common::TestNode;
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{
    ApplyOptions, Cause, Collector, Error, Failure, Node, NodeSink, Options, Plan, Protect,
    ReferenceSink, Remover, Source, SourceError, Sources, SweepOrder,
};

/// Node `key` of kind `kind`, in namespace 0.
fn k(kind: u8, key: u32) -> TestNode {
    Node::new(kind, 0, key)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} failed on purpose")]
struct Broke(&'static str);

/// What a source was asked, in the order asked, across all sources.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Start(&'static str),
    Read(&'static str, TestNode),
    Remove(&'static str, Vec<TestNode>),
    Finish(&'static str),
}

type Log = Rc<RefCell<Vec<Call>>>;

/// Which call of a source fails.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Fail {
    #[default]
    Nothing,
    Start,
    List,
    Remove,
    Finish,
}

/// A source held in memory; every node it lists is of its own kinds
/// unless a test says otherwise.
#[derive(Clone, Debug, Default)]
struct Mem {
    name: &'static str,
    kinds: Vec<u8>,
    may_reference: Vec<u8>,
    fail: Fail,
    nodes: Vec<TestNode>,
    roots: Vec<TestNode>,
    edges: Vec<(TestNode, TestNode)>,
    /// `(child, parent)`, declared while listing.
    lives_with: Vec<(TestNode, TestNode)>,
    log: Log,
}

impl Mem {
    fn new(name: &'static str, kinds: &[u8], log: &Log) -> Self {
        Mem {
            name,
            kinds: kinds.to_vec(),
            log: Rc::clone(log),
            ..Mem::default()
        }
    }
}

impl Source for Mem {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Broke;

    fn name(&self) -> &str {
        self.name
    }
    fn kinds(&self) -> &[u8] {
        &self.kinds
    }
    fn may_reference(&self) -> &[u8] {
        &self.may_reference
    }
    fn start(&mut self) -> Result<(), Broke> {
        self.log.borrow_mut().push(Call::Start(self.name));
        match self.fail {
            Fail::Start => Err(Broke(self.name)),
            _ => Ok(()),
        }
    }
    fn list(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Broke> {
        if self.fail == Fail::List {
            return Err(Broke(self.name));
        }
        self.nodes.iter().for_each(|node| nodes.push(node));
        for (child, parent) in &self.lives_with {
            nodes.lives_with(child, parent);
        }
        Ok(())
    }
    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Broke> {
        self.roots.iter().for_each(|node| roots.strong(node));
        Ok(())
    }
    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Broke> {
        self.log
            .borrow_mut()
            .push(Call::Read(self.name, node.clone()));
        for (_, to) in self.edges.iter().filter(|(from, _)| from == node) {
            refs.strong(to);
        }
        Ok(())
    }
    fn remove(&mut self, node: &TestNode) -> Result<(), Broke> {
        self.remove_batch(std::slice::from_ref(node))
    }
    fn remove_batch(&mut self, batch: &[TestNode]) -> Result<(), Broke> {
        if self.fail == Fail::Remove {
            return Err(Broke(self.name));
        }
        self.log
            .borrow_mut()
            .push(Call::Remove(self.name, batch.to_vec()));
        self.nodes.retain(|node| !batch.contains(node));
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Broke> {
        self.log.borrow_mut().push(Call::Finish(self.name));
        match self.fail {
            Fail::Finish => Err(Broke(self.name)),
            _ => Ok(()),
        }
    }
}

/// The garbage of one collection over `sources`, as a set.
fn garbage(sources: &mut Sources<Mem>) -> BTreeSet<TestNode> {
    let mut collector = Collector::new();
    let collection = collector.collect(sources).expect("no source fails to list");
    collection.garbage().cloned().collect()
}

fn set(nodes: &[TestNode]) -> BTreeSet<TestNode> {
    nodes.iter().cloned().collect()
}

fn left_out(sources: &Sources<Mem>) -> Vec<(String, Broke)> {
    sources
        .left_out()
        .map(|(name, error)| (name.to_string(), Broke(error.0)))
        .collect()
}

/// Three sources, one kind each. Images (kind 1): image 1 is a root and
/// references content 1; image 2 is unreferenced. Content (kind 2): 1 → 2,
/// 3 alone; content 1 references snapshot 1. Snapshots (kind 3): 1 → 2,
/// 3 alone.
fn store(log: &Log) -> [Mem; 3] {
    let mut images = Mem::new("images", &[1], log);
    images.may_reference = vec![2];
    images.nodes = vec![k(1, 1), k(1, 2)];
    images.roots = vec![k(1, 1)];
    images.edges = vec![(k(1, 1), k(2, 1))];
    let mut content = Mem::new("content", &[2], log);
    content.may_reference = vec![3];
    content.nodes = vec![k(2, 1), k(2, 2), k(2, 3)];
    content.edges = vec![(k(2, 1), k(2, 2)), (k(2, 1), k(3, 1))];
    let mut snapshots = Mem::new("snapshots", &[3], log);
    snapshots.nodes = vec![k(3, 1), k(3, 2), k(3, 3)];
    snapshots.edges = vec![(k(3, 1), k(3, 2))];
    [images, content, snapshots]
}

#[test]
fn each_node_is_read_by_its_owner_and_an_unowned_kind_by_no_one() {
    let log = Log::default();
    let [mut images, content, snapshots] = store(&log);
    // A reference to kind 9, which no source owns: read by nobody.
    images.edges.push((k(1, 1), k(9, 1)));
    let mut sources = Sources::new([images, content, snapshots]).unwrap();

    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(2, 3), k(3, 3)]));
    let mut reads: Vec<(&str, TestNode)> = log
        .borrow()
        .iter()
        .filter_map(|call| match call {
            Call::Read(name, node) => Some((*name, node.clone())),
            _ => None,
        })
        .collect();
    reads.sort();
    assert_eq!(
        reads,
        [
            ("content", k(2, 1)),
            ("content", k(2, 2)),
            ("images", k(1, 1)),
            ("snapshots", k(3, 1)),
            ("snapshots", k(3, 2)),
        ]
    );
    assert_eq!(sources.left_out().count(), 0);
}

#[test]
fn a_source_that_fails_to_start_sits_out_and_nothing_it_owns_or_may_keep_is_swept() {
    let log = Log::default();
    let [mut images, mut content, snapshots] = store(&log);
    // Content 4 references snapshot 3: unreferenced, it is kept only
    // because content, left out, may reference snapshots.
    content.nodes.push(k(2, 4));
    content.edges.push((k(2, 4), k(3, 3)));
    content.fail = Fail::Start;
    // Images may not keep snapshots, and image 2 is swept as before.
    images.nodes.push(k(1, 3));
    let mut sources = Sources::new([images, content, snapshots]).unwrap();

    // Content is never listed (never half-swept); every snapshot, with
    // everything it references, is kept; images are swept normally.
    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(1, 3)]));
    assert_eq!(
        left_out(&sources),
        [("content".to_string(), Broke("content"))]
    );
    // Nothing of the left-out source was asked after its start.
    assert!(
        log.borrow()
            .iter()
            .all(|call| !matches!(call, Call::Read("content", _))),
        "{:?}",
        log.borrow()
    );
}

#[test]
fn what_a_left_out_source_may_keep_is_kept_with_its_closure_through_other_sources() {
    let log = Log::default();
    let mut leases = Mem::new("leases", &[1], &log);
    leases.may_reference = vec![2];
    leases.fail = Fail::Start;
    // Content 1 → snapshot 1 → snapshot 2; snapshot 3 unreferenced;
    // content 2 unreferenced. None has a root the run can see.
    let mut content = Mem::new("content", &[2], &log);
    content.nodes = vec![k(2, 1), k(2, 2)];
    content.edges = vec![(k(2, 1), k(3, 1))];
    let mut snapshots = Mem::new("snapshots", &[3], &log);
    snapshots.nodes = vec![k(3, 1), k(3, 2), k(3, 3)];
    snapshots.edges = vec![(k(3, 1), k(3, 2))];
    let mut sources = Sources::new([leases, content, snapshots]).unwrap();

    // All content is kept (a lease may hold any of it), and what content
    // references, through another source, with it. Snapshot 3 is not.
    assert_eq!(garbage(&mut sources), set(&[k(3, 3)]));
}

#[test]
fn a_child_that_lives_with_a_node_the_run_cannot_see_is_kept() {
    let log = Log::default();
    // Snapshots 1 and 2 live with lease 1 (a lease of another source holds
    // them); snapshot 3 lives with image 1, and images is up.
    let mut leases = Mem::new("leases", &[1], &log);
    leases.nodes = vec![k(1, 1)];
    leases.roots = vec![k(1, 1)];
    let mut images = Mem::new("images", &[2], &log);
    images.nodes = vec![k(2, 1)];
    let mut snapshots = Mem::new("snapshots", &[3], &log);
    snapshots.nodes = vec![k(3, 1), k(3, 2), k(3, 3)];
    snapshots.lives_with = vec![(k(3, 1), k(1, 1)), (k(3, 2), k(1, 1)), (k(3, 3), k(2, 1))];

    // All up: the lease holds 1 and 2; image 1 is garbage, and 3 with it.
    let mut sources = Sources::new([leases.clone(), images.clone(), snapshots.clone()]).unwrap();
    assert_eq!(garbage(&mut sources), set(&[k(2, 1), k(3, 3)]));

    // Leases down: whether lease 1 is live is unknown, so what lives with
    // it is kept; the rest is swept as before.
    leases.fail = Fail::Start;
    let mut sources = Sources::new([leases, images, snapshots]).unwrap();
    assert_eq!(garbage(&mut sources), set(&[k(2, 1), k(3, 3)]));
    assert_eq!(sources.left_out().count(), 1);
}

#[test]
fn a_node_listed_by_a_source_that_does_not_own_its_kind_is_not_a_candidate() {
    let log = Log::default();
    let [images, mut content, mut snapshots] = store(&log);
    snapshots.fail = Fail::Start;
    // Content lists a snapshot (not its kind) and an image: neither is a
    // candidate through it, so the snapshot source, down, is not half-swept.
    content.nodes.extend([k(3, 9), k(1, 9)]);
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(2, 3)]));
}

#[test]
fn two_sources_claiming_one_kind_are_refused() {
    let log = Log::default();
    let a = Mem::new("a", &[1, 2], &log);
    let b = Mem::new("b", &[3, 2], &log);
    let Err(error) = Sources::new([a, b]) else {
        panic!("two owners of kind 2 must be refused");
    };
    assert!(
        matches!(&error, SourceError::KindClaimedTwice { name, other } if name == "b" && other == "a"),
        "{error:?}"
    );
}

#[test]
fn a_failing_listing_ends_the_collection_and_names_its_source() {
    let log = Log::default();
    let [images, mut content, snapshots] = store(&log);
    content.fail = Fail::List;
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    let error = Collector::new()
        .collect(&mut sources)
        .map(|collection| collection.garbage().len())
        .expect_err("a source that cannot list fails the collection");
    let Error::Listing(SourceError::Failed { name, source }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!((name.as_str(), source), ("content", &Broke("content")));
    let inner = error.source().and_then(|e| e.source());
    assert_eq!(
        inner.and_then(|e| e.downcast_ref::<Broke>()),
        Some(&Broke("content"))
    );
}

#[test]
fn apply_routes_each_run_of_a_batch_to_its_owner_in_plan_order() {
    let log = Log::default();
    let [images, content, snapshots] = store(&log);
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    sources.start();
    // A hand-made plan whose batch of four interleaves owners.
    let plan = Plan::new(
        vec![k(2, 3), k(2, 2), k(3, 3), k(1, 2), k(2, 1)],
        None,
        std::time::SystemTime::UNIX_EPOCH,
    );
    let report = plan
        .apply(&mut sources, &ApplyOptions::default().batch_size(4))
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.removed, plan.nodes());
    let removes: Vec<Call> = log
        .borrow()
        .iter()
        .filter(|call| matches!(call, Call::Remove(..)))
        .cloned()
        .collect();
    assert_eq!(
        removes,
        [
            Call::Remove("content", vec![k(2, 3), k(2, 2)]),
            Call::Remove("snapshots", vec![k(3, 3)]),
            Call::Remove("images", vec![k(1, 2)]),
            Call::Remove("content", vec![k(2, 1)]),
        ]
    );
}

#[test]
fn a_collection_applied_through_the_composite_removes_its_garbage_from_each_owner() {
    let log = Log::default();
    let mut sources = Sources::new(store(&log)).unwrap();
    let mut collector = Collector::new();
    let collection = collector.collect(&mut sources).unwrap();
    let plan = collection.plan();
    let report = plan.apply(&mut sources, &ApplyOptions::default()).unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(set(&report.removed), set(&[k(1, 2), k(2, 3), k(3, 3)]));
    assert!(sources.finish().is_empty());
    // A second run over the same sources finds nothing left.
    assert_eq!(garbage(&mut sources), BTreeSet::new());
}

#[test]
fn apply_keeps_what_this_run_cannot_remove_safely() {
    let log = Log::default();
    let [images, mut content, snapshots] = store(&log);
    content.fail = Fail::Start;
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    sources.start();
    // A plan from a run where all started: content is left out now, and
    // snapshots are what content may reference; kind 9 has no owner.
    let plan = Plan::new(
        vec![k(1, 2), k(2, 3), k(3, 3), k(9, 1)],
        Some(vec![]),
        std::time::SystemTime::UNIX_EPOCH,
    );
    let report = plan
        .apply(&mut sources, &ApplyOptions::default().batch_size(1))
        .unwrap();
    assert_eq!(report.removed, [k(1, 2)]);
    let kept: Vec<(TestNode, Cause<TestNode>)> = report
        .skipped
        .into_iter()
        .map(|skip| (skip.node, skip.cause))
        .collect();
    assert_eq!(
        kept,
        [
            (k(2, 3), Cause::Kept),
            (k(3, 3), Cause::Kept),
            (k(9, 1), Cause::Kept),
        ]
    );
    // Asked directly, the whole batch is refused before any of it goes.
    let error = sources.remove(&[k(1, 1), k(3, 1)]).unwrap_err();
    assert!(matches!(error, SourceError::Unremovable), "{error:?}");
    assert_eq!(sources.protect(&k(1, 1)), Protect::Remove);
    let removes = log
        .borrow()
        .iter()
        .filter(|call| matches!(call, Call::Remove(..)))
        .count();
    assert_eq!(removes, 1, "{:?}", log.borrow());
}

#[test]
fn a_failing_removal_names_its_source_and_keeps_its_error() {
    let log = Log::default();
    let [images, mut content, snapshots] = store(&log);
    content.fail = Fail::Remove;
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    let mut collector = Collector::new();
    // Referrers first: the plan knows its references, so a failure skips
    // only what the failed node names (here, nothing).
    let options = Options::default().sweep_order(SweepOrder::ReferrersFirst);
    let plan = collector
        .collect_with(&mut sources, &options)
        .unwrap()
        .plan();
    let report = plan
        .apply(&mut sources, &ApplyOptions::default().batch_size(1))
        .unwrap();
    assert_eq!(set(&report.removed), set(&[k(1, 2), k(3, 3)]));
    let [failed] = &report.failed[..] else {
        panic!("{report:?}");
    };
    assert_eq!(failed.batch, [k(2, 3)]);
    let Failure::Error(error) = &failed.failure else {
        panic!("{report:?}");
    };
    assert!(
        matches!(error, SourceError::Failed { name, .. } if name == "content"),
        "{error:?}"
    );
    assert_eq!(
        error.source().and_then(|e| e.downcast_ref::<Broke>()),
        Some(&Broke("content"))
    );
}

#[test]
fn finish_runs_once_per_started_source_after_removal_and_collects_errors() {
    let log = Log::default();
    let [mut images, content, mut snapshots] = store(&log);
    images.fail = Fail::Finish;
    snapshots.fail = Fail::Start;
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    let mut collector = Collector::new();
    let plan = collector.collect(&mut sources).unwrap().plan();
    let report = plan.apply(&mut sources, &ApplyOptions::default()).unwrap();
    assert!(report.is_complete(), "{report:?}");

    let errors = sources.finish();
    let [SourceError::Failed { name, source }] = &errors[..] else {
        panic!("{errors:?}");
    };
    assert_eq!((name.as_str(), source), ("images", &Broke("images")));
    // Finishing again finishes nothing: the run is over.
    assert!(sources.finish().is_empty());

    let calls = log.borrow();
    let finishes: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c, Call::Finish(_)))
        .collect();
    assert_eq!(
        finishes,
        [&Call::Finish("images"), &Call::Finish("content")]
    );
    let last_remove = calls.iter().rposition(|c| matches!(c, Call::Remove(..)));
    let first_finish = calls.iter().position(|c| matches!(c, Call::Finish(_)));
    assert!(
        last_remove.is_some() && last_remove < first_finish,
        "{calls:?}"
    );
    // Each source started once, the left-out one included.
    let starts = calls.iter().filter(|c| matches!(c, Call::Start(_))).count();
    assert_eq!(starts, 3);
}

#[test]
fn a_run_after_finish_starts_every_source_again() {
    let log = Log::default();
    let [images, content, mut snapshots] = store(&log);
    snapshots.fail = Fail::Start;
    let mut sources = Sources::new([images, content, snapshots]).unwrap();
    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(2, 3)]));
    // Within a run, a second collection does not start anyone again.
    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(2, 3)]));
    assert_eq!(
        log.borrow()
            .iter()
            .filter(|c| matches!(c, Call::Start(_)))
            .count(),
        3
    );
    sources.finish();
    // Still left out: it fails again. The report stays until a new run.
    assert_eq!(left_out(&sources).len(), 1);
    assert_eq!(garbage(&mut sources), set(&[k(1, 2), k(2, 3)]));
    assert_eq!(
        log.borrow()
            .iter()
            .filter(|c| matches!(c, Call::Start(_)))
            .count(),
        6
    );
    assert_eq!(left_out(&sources).len(), 1);
}

#[test]
fn sources_of_different_types_compose_through_boxes() {
    let log = Log::default();
    let [images, content, snapshots] = store(&log);
    type Dyn = Box<dyn Source<Kind = u8, Namespace = u8, Key = u32, Error = Broke>>;
    let boxed: Vec<Dyn> = vec![Box::new(images), Box::new(content), Box::new(snapshots)];
    let mut sources = Sources::new(boxed).unwrap();
    let mut collector = Collector::new();
    let collection = collector.collect(&mut sources).unwrap();
    let got: BTreeSet<TestNode> = collection.garbage().cloned().collect();
    assert_eq!(got, set(&[k(1, 2), k(2, 3), k(3, 3)]));
}

// ---------------------------------------------------------------------------
// Against a naive model of the whole store.

const SOURCES: u8 = 3;
/// Kinds `0..SOURCES` are owned by the source of that number; the last
/// kind by nobody.
const KINDS: u8 = SOURCES + 1;
const KEYS: u32 = 5;

#[derive(Clone, Debug)]
struct Case {
    fails: Vec<bool>,
    /// Strong edges, each owned by the source of `from`'s kind.
    edges: Vec<(TestNode, TestNode)>,
    /// `(source, node)`: a root the source emits.
    roots: Vec<(u8, TestNode)>,
    /// `(child, parent)`, declared by the source of the child's kind.
    lives_with: Vec<(TestNode, TestNode)>,
    /// `(source, kind)`: kinds a source declares beyond what it uses.
    extra: Vec<(u8, u8)>,
}

fn any_node() -> impl Strategy<Value = TestNode> {
    (0..KINDS, 0..KEYS).prop_map(|(kind, key)| k(kind, key))
}

fn owned_node() -> impl Strategy<Value = TestNode> {
    (0..SOURCES, 0..KEYS).prop_map(|(kind, key)| k(kind, key))
}

fn case() -> impl Strategy<Value = Case> {
    (
        vec(any::<bool>(), SOURCES as usize),
        vec((owned_node(), any_node()), 0..24),
        vec((0..SOURCES, any_node()), 0..5),
        vec((owned_node(), any_node()), 0..5),
        vec((0..SOURCES, 0..KINDS), 0..3),
    )
        .prop_map(|(fails, edges, roots, lives_with, extra)| Case {
            fails,
            edges,
            roots,
            lives_with,
            extra,
        })
}

/// The sources of a case: each lists every key of its kind, and declares
/// as `may_reference` every other kind its edges and roots name.
fn sources_of(case: &Case, log: &Log) -> Vec<Mem> {
    const NAMES: [&str; SOURCES as usize] = ["a", "b", "c"];
    (0..SOURCES)
        .map(|s| {
            let mut mem = Mem::new(NAMES[s as usize], &[s], log);
            mem.nodes = (0..KEYS).map(|key| k(s, key)).collect();
            mem.edges = case
                .edges
                .iter()
                .filter(|(f, _)| f.kind == s)
                .cloned()
                .collect();
            mem.roots = case
                .roots
                .iter()
                .filter(|(o, _)| *o == s)
                .map(|(_, n)| n.clone())
                .collect();
            mem.lives_with = case
                .lives_with
                .iter()
                .filter(|(c, _)| c.kind == s)
                .cloned()
                .collect();
            let named = mem
                .edges
                .iter()
                .map(|(_, to)| to.kind)
                .chain(mem.roots.iter().map(|n| n.kind));
            let extra = case
                .extra
                .iter()
                .filter(|(o, _)| *o == s)
                .map(|(_, kind)| *kind);
            let mut kinds: Vec<u8> = named.chain(extra).filter(|&kind| kind != s).collect();
            kinds.sort_unstable();
            kinds.dedup();
            mem.may_reference = kinds;
            if case.fails[s as usize] {
                mem.fail = Fail::Start;
            }
            mem
        })
        .collect()
}

/// Everything reachable from `roots` over `edges`.
fn reach(
    roots: impl IntoIterator<Item = TestNode>,
    edges: &[(TestNode, TestNode)],
) -> BTreeSet<TestNode> {
    let mut out: HashMap<&TestNode, Vec<&TestNode>> = HashMap::new();
    for (from, to) in edges {
        out.entry(from).or_default().push(to);
    }
    let mut seen = BTreeSet::new();
    let mut stack: Vec<TestNode> = roots.into_iter().collect();
    while let Some(node) = stack.pop() {
        if seen.insert(node.clone()) {
            stack.extend(out.get(&node).into_iter().flatten().map(|&n| n.clone()));
        }
    }
    seen
}

proptest! {
    #![proptest_config(common::proptest_config())]

    /// Nothing reachable in the whole store (every source, started or
    /// not) is swept; only started sources' nodes are; and what is swept
    /// is exactly what the composite's rule leaves: unreachable from the
    /// started sources' roots and from everything kept whole for the
    /// sources left out.
    #[test]
    fn nothing_reachable_in_the_whole_store_is_swept(case in case()) {
        let log = Log::default();
        let mems = sources_of(&case, &log);
        let started = |kind: u8| kind < SOURCES && !case.fails[kind as usize];
        // The whole store: every root, every edge, parent → child for each
        // back-reference.
        let mut all_edges = case.edges.clone();
        all_edges.extend(case.lives_with.iter().map(|(c, p)| (p.clone(), c.clone())));
        let live = reach(case.roots.iter().map(|(_, n)| n.clone()), &all_edges);

        // The composite's rule, written out.
        let unknowable: BTreeSet<u8> = mems
            .iter()
            .filter(|m| m.fail == Fail::Start)
            .flat_map(|m| m.kinds.iter().chain(&m.may_reference).copied())
            .collect();
        let candidates: BTreeSet<TestNode> = mems
            .iter()
            .filter(|m| m.fail != Fail::Start)
            .flat_map(|m| m.nodes.iter().cloned())
            .collect();
        let mut roots: Vec<TestNode> = case.roots.iter().filter(|(s, _)| started(*s)).map(|(_, n)| n.clone()).collect();
        roots.extend(candidates.iter().filter(|n| unknowable.contains(&n.kind)).cloned());
        let started_lives_with = case.lives_with.iter().filter(|(c, _)| started(c.kind));
        roots.extend(started_lives_with.clone().filter(|(_, p)| unknowable.contains(&p.kind)).map(|(c, _)| c.clone()));
        let mut seen_edges: Vec<_> = case.edges.iter().filter(|(f, _)| started(f.kind)).cloned().collect();
        seen_edges.extend(started_lives_with.map(|(c, p)| (p.clone(), c.clone())));
        let kept = reach(roots, &seen_edges);
        let expected: BTreeSet<TestNode> = candidates.difference(&kept).cloned().collect();

        let mut sources = Sources::new(mems).unwrap();
        let swept = garbage(&mut sources);
        for node in &swept {
            prop_assert!(!live.contains(node), "{node:?} is reachable in the whole store");
            prop_assert!(started(node.kind), "{node:?} is not a started source's");
        }
        prop_assert_eq!(&swept, &expected);
        if case.fails.iter().all(|f| !f) {
            let unreachable: BTreeSet<TestNode> = candidates.difference(&live).cloned().collect();
            prop_assert_eq!(&swept, &unreachable);
        }
        let left: Vec<(String, Broke)> = left_out(&sources);
        prop_assert_eq!(left.len(), case.fails.iter().filter(|&&f| f).count());
    }
}
