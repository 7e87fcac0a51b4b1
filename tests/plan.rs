//! `Collection::plan` and `Plan::apply`: removal the crate vouches for.
//!
//! The model store here has metadata rows (manifests naming layers, an
//! expired lease naming blobs, snapshot chains held by their parents) and
//! payload files, one per row that has one. The files are nodes too,
//! listed with `lives_with` their row, so a file whose row is gone is
//! garbage: that is the whole recovery story of the two phases, and
//! `a_crash_between_the_phases_leaves_orphans_the_next_collection_sweeps`
//! shows it needs no recovery code.
//!
//! What apply must do is written down once, naively, in `model`: batches
//! of at most `batch_size` pending plan nodes, each protected just before
//! it joins; a failed batch or a kept node skips what it still names (the
//! plan nodes it reaches through nodes still in the store), or, without
//! known references, everything after it; an abort skips the partial batch
//! and the rest. Every test compares the report with it, and the store
//! with the oracle of `tests/common` (nothing live is ever removed).
//!
//! The first two tests are minimal reproductions of problems found in
//! `src/plan.rs` (see their comments).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use common::oracle::oracle_with_back_references;
use proptest::prelude::*;
use resource_gc::{
    ApplyError, ApplyOptions, Cause, CollectionContext, Collector, Failure, Node, NodeSinkOf,
    Options, Plan, Protect, ReferenceSinkOf, Remover, Report, Strength, SweepOrder,
};

type Res = Node<u8, u8, u32>;

// ---------------------------------------------------------------------------
// The model store.

/// A payload file's kind; its key is its row's. A row's kind is its key's
/// hundreds (1xx manifests, 2xx layers and blobs, 3xx leases, 4xx
/// snapshots), so a file names its row's node even once the row is gone.
const FILE: u8 = 9;

fn row(key: u32) -> Res {
    Node::new((key / 100) as u8, 0, key)
}

fn file(key: u32) -> Res {
    Node::new(FILE, 0, key)
}

/// Metadata rows with the rows they reference, payload files with their
/// sizes, and the rooted rows (tags, live leases, active snapshots).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Store {
    rows: BTreeMap<u32, Vec<(u32, Strength)>>,
    files: BTreeMap<u32, u64>,
    roots: BTreeSet<u32>,
}

impl Store {
    fn row(&mut self, key: u32, refs: &[(u32, Strength)]) -> &mut Self {
        self.rows.insert(key, refs.to_vec());
        self
    }

    fn file(&mut self, key: u32) -> &mut Self {
        // Distinct sizes, so a byte count says which files went.
        self.files.insert(key, 1000 + u64::from(key));
        self
    }

    /// The oracle's live nodes (rows and files), from `tests/common`. Its
    /// keys are numbers: row `k` is `2k`, file `k` is `2k + 1`, and a file
    /// lives with its row through a structural back-reference.
    fn oracle_live(&self) -> BTreeSet<Res> {
        let listed: Vec<u32> = self
            .rows
            .keys()
            .map(|&k| 2 * k)
            .chain(self.files.keys().map(|&k| 2 * k + 1))
            .collect();
        let roots: Vec<(u32, Strength)> = self
            .roots
            .iter()
            .map(|&k| (2 * k, Strength::Strong))
            .collect();
        let edges: Vec<(u32, u32, Strength)> = self
            .rows
            .iter()
            .flat_map(|(&from, refs)| refs.iter().map(move |&(to, s)| (2 * from, 2 * to, s)))
            .collect();
        let files: Vec<(u32, u32, Strength)> = self
            .files
            .keys()
            .map(|&k| (2 * k + 1, 2 * k, Strength::Structural))
            .collect();
        let expected = oracle_with_back_references(&listed, &roots, &edges, &files);
        expected
            .live
            .iter()
            .map(|&k| if k % 2 == 0 { row(k / 2) } else { file(k / 2) })
            .collect()
    }

    /// Everything the store lists, as nodes.
    fn nodes(&self) -> BTreeSet<Res> {
        let rows = self.rows.keys().map(|&k| row(k));
        rows.chain(self.files.keys().map(|&k| file(k))).collect()
    }

    /// Whether `node` is still in the store.
    fn has(&self, node: &Res) -> bool {
        if node.kind == FILE {
            self.files.contains_key(&node.key)
        } else {
            self.rows.contains_key(&node.key)
        }
    }
}

impl CollectionContext for Store {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = std::convert::Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Self::Error> {
        for &key in self.rows.keys() {
            nodes.push(&row(key));
        }
        // What the payload directory holds, row or no row.
        for &key in self.files.keys() {
            nodes.push(&file(key));
            nodes.lives_with(&file(key), &row(key));
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Self::Error> {
        for &key in &self.roots {
            roots.strong(&row(key));
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Self::Error> {
        if node.kind == FILE {
            return Ok(());
        }
        for &(to, strength) in self.rows.get(&node.key).into_iter().flatten() {
            refs.add(&row(to), strength);
        }
        Ok(())
    }
}

/// Two manifests, a lease, a snapshot chain and stray nodes: an acyclic
/// graph whose garbage shares referents with live nodes and with itself.
fn registry() -> Store {
    use Strength::{Strong, Structural};
    let mut s = Store::default();
    // Live: tagged manifest 101 with its layers; active snapshot 401.
    s.row(101, &[(201, Strong), (202, Strong)]);
    s.row(201, &[]).row(202, &[]);
    s.row(401, &[(402, Structural)]).row(402, &[]);
    // Garbage: manifests 102 and 103 share layer 205; 102 also names the
    // live layer 202.
    s.row(102, &[(202, Strong), (204, Strong), (205, Strong)]);
    s.row(103, &[(205, Strong), (206, Strong)]);
    s.row(204, &[]).row(205, &[]).row(206, &[]);
    // An expired lease (not a root) naming two blobs.
    s.row(301, &[(207, Strong), (208, Strong)]);
    s.row(207, &[]).row(208, &[]).row(209, &[]);
    // A snapshot chain 405 → 404 → 403 → live 402.
    s.row(405, &[(404, Structural)]);
    s.row(404, &[(403, Structural)]);
    s.row(403, &[(402, Structural)]);
    for key in [
        101, 102, 103, 201, 202, 204, 205, 206, 207, 209, 401, 402, 403, 404, 405,
    ] {
        s.file(key);
    }
    // A file whose row is already gone: garbage from the start.
    s.file(210);
    s.roots.extend([101, 401]);
    s
}

fn options(order: SweepOrder) -> Options {
    let mut options = Options::default();
    options.sweep_order = order;
    options.now = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    options
}

fn plan_of(store: &mut Store, order: SweepOrder) -> Plan<Res> {
    let mut collector = Collector::new();
    let collection = collector
        .collect_with(store, &options(order))
        .expect("the model store never fails");
    collection.plan()
}

// ---------------------------------------------------------------------------
// The remover, with one fault injected.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// The k-th `remove` call (0-based) returns an error.
    FailRemove(usize),
    /// The k-th `remove` call panics.
    PanicRemove(usize),
    /// The k-th `protect` call keeps its node.
    KeepAt(usize),
    /// The k-th `protect` call aborts.
    AbortAt(usize),
    /// Every `clean` from the k-th on fails: the payload store is down.
    FailClean(usize),
    /// The k-th `clean` call panics.
    PanicClean(usize),
    /// The process dies once phase one is done: no payload is removed.
    DieAfterPhaseOne,
}

#[derive(Clone, Debug, PartialEq)]
enum Event {
    Protect(Res, Protect),
    Remove(Vec<Res>),
    Clean(Res),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("injected failure")]
struct Injected;

const PANIC: &str = "injected panic";

/// Removes rows in one transaction per batch (an injected fault touches
/// nothing), files and payloads in `clean`; a node already gone is
/// removed. Logs every call.
struct ModelRemover<'s> {
    store: &'s mut Store,
    fault: Fault,
    protects: usize,
    removes: usize,
    cleans: usize,
    log: Vec<Event>,
}

impl<'s> ModelRemover<'s> {
    fn new(store: &'s mut Store, fault: Fault) -> Self {
        ModelRemover {
            store,
            fault,
            protects: 0,
            removes: 0,
            cleans: 0,
            log: Vec::new(),
        }
    }
}

impl Remover<Res> for ModelRemover<'_> {
    type Error = Injected;

    fn protect(&mut self, node: &Res) -> Protect {
        let call = self.protects;
        self.protects += 1;
        let decision = match self.fault {
            Fault::KeepAt(k) if k == call => Protect::Keep,
            Fault::AbortAt(k) if k == call => Protect::Abort,
            _ => Protect::Remove,
        };
        self.log.push(Event::Protect(node.clone(), decision));
        decision
    }

    fn remove(&mut self, batch: &[Res]) -> Result<(), Injected> {
        let call = self.removes;
        self.removes += 1;
        self.log.push(Event::Remove(batch.to_vec()));
        match self.fault {
            Fault::FailRemove(k) if k == call => return Err(Injected),
            Fault::PanicRemove(k) if k == call => panic!("{PANIC}"),
            _ => {}
        }
        for node in batch {
            // A file has no row: its only home is the payload store.
            if node.kind != FILE {
                self.store.rows.remove(&node.key);
            }
        }
        Ok(())
    }

    fn clean(&mut self, node: &Res) -> Result<Option<u64>, Injected> {
        if self.fault == Fault::DieAfterPhaseOne {
            return Ok(None);
        }
        let call = self.cleans;
        self.cleans += 1;
        self.log.push(Event::Clean(node.clone()));
        match self.fault {
            Fault::FailClean(k) if call >= k => return Err(Injected),
            Fault::PanicClean(k) if k == call => panic!("{PANIC}"),
            _ => {}
        }
        // A row's payload, or a listed file; gone already is cleaned.
        Ok(self.store.files.remove(&node.key))
    }
}

/// Keeps the injected panics out of the test output; others still print.
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<String>().map(String::as_str);
            let message = message.or_else(|| info.payload().downcast_ref::<&str>().copied());
            if message != Some(PANIC) {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// The naive model of apply.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Why {
    Kept,
    /// Named by a failed or kept node: which one is checked apart.
    NamedBy,
    Aborted,
}

/// What apply must do, by plan position.
#[derive(Debug, Default, PartialEq)]
struct Expect {
    removed: Vec<usize>,
    failed: Vec<Vec<usize>>,
    skipped: BTreeMap<usize, Why>,
    aborted: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Pending,
    Removed,
    Failed,
    Skipped,
}

/// Apply by the spec, over positions `0..len` and `(referrer, referent)`
/// references (`None`: unknown), with the remover's answers by call index.
fn model(
    len: usize,
    refs: Option<&[(usize, usize)]>,
    batch_size: usize,
    mut protect: impl FnMut(usize) -> Protect,
    mut fails: impl FnMut(usize) -> bool,
) -> Expect {
    let batch_size = batch_size.max(1);
    let mut state = vec![State::Pending; len];
    let mut e = Expect::default();
    let (mut protects, mut removes) = (0, 0);
    // What `origin` still names, and is not decided yet: with references,
    // the plan nodes it reaches through nodes still in the store; without,
    // every later node (the safe side).
    let named = |origin: usize, state: &[State]| -> Vec<usize> {
        let reached: Vec<usize> = match refs {
            None => (origin + 1..len).collect(),
            Some(refs) => {
                let mut seen = BTreeSet::new();
                let mut stack = vec![origin];
                while let Some(at) = stack.pop() {
                    for &(from, to) in refs {
                        if from == at && state[to] != State::Removed && seen.insert(to) {
                            stack.push(to);
                        }
                    }
                }
                seen.into_iter().collect()
            }
        };
        reached
            .into_iter()
            .filter(|&p| state[p] == State::Pending)
            .collect()
    };
    let mut cursor = 0;
    'plan: while cursor < len {
        let mut batch: Vec<usize> = Vec::new();
        while cursor < len && batch.len() < batch_size {
            let p = cursor;
            cursor += 1;
            if state[p] != State::Pending {
                continue;
            }
            let decision = protect(protects);
            protects += 1;
            match decision {
                Protect::Remove => batch.push(p),
                Protect::Keep => {
                    state[p] = State::Skipped;
                    e.skipped.insert(p, Why::Kept);
                    for q in named(p, &state) {
                        state[q] = State::Skipped;
                        e.skipped.insert(q, Why::NamedBy);
                    }
                    // What it names is kept, even if already in the batch.
                    batch.retain(|&q| state[q] == State::Pending);
                }
                Protect::Abort => {
                    for q in batch.into_iter().chain(p..len) {
                        if state[q] == State::Pending {
                            state[q] = State::Skipped;
                            e.skipped.insert(q, Why::Aborted);
                        }
                    }
                    e.aborted = true;
                    break 'plan;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        let failed = fails(removes);
        removes += 1;
        if failed {
            for &p in &batch {
                state[p] = State::Failed;
            }
            for &p in &batch {
                for q in named(p, &state) {
                    state[q] = State::Skipped;
                    e.skipped.insert(q, Why::NamedBy);
                }
            }
            e.failed.push(batch);
        } else {
            for &p in &batch {
                state[p] = State::Removed;
            }
        }
    }
    e.removed = (0..len).filter(|&p| state[p] == State::Removed).collect();
    e
}

/// The plan's references as positions, if known.
fn positions<R: Clone + Ord>(plan: &Plan<R>) -> Option<Vec<(usize, usize)>> {
    let at: BTreeMap<R, usize> = plan
        .nodes()
        .iter()
        .cloned()
        .enumerate()
        .map(|(p, node)| (node, p))
        .collect();
    plan.references()
        .map(|refs| refs.map(|(from, to)| (at[from], at[to])).collect())
}

/// The model's answer for `plan` and a remover with `fault`.
fn expect_for<R: Clone + Ord>(plan: &Plan<R>, batch_size: usize, fault: Fault) -> Expect {
    let refs = positions(plan);
    model(
        plan.len(),
        refs.as_deref(),
        batch_size,
        |call| match fault {
            Fault::KeepAt(k) if k == call => Protect::Keep,
            Fault::AbortAt(k) if k == call => Protect::Abort,
            _ => Protect::Remove,
        },
        |call| matches!(fault, Fault::FailRemove(k) | Fault::PanicRemove(k) if k == call),
    )
}

/// The report is the model's, and a partition of the plan: every node in
/// exactly one of removed, a failed batch, skipped. A skip named by a node
/// is named by a failed or kept node that reaches it (or, without known
/// references, comes before it).
fn check_report<R: Clone + Ord + std::fmt::Debug, E: std::fmt::Debug>(
    plan: &Plan<R>,
    report: &Report<R, E>,
    expect: &Expect,
) {
    let nodes = plan.nodes();
    let at: BTreeMap<&R, usize> = nodes.iter().enumerate().map(|(p, n)| (n, p)).collect();
    let mut seen: BTreeMap<usize, &str> = BTreeMap::new();
    let mut note = |node: &R, place: &'static str| {
        let p = *at
            .get(node)
            .unwrap_or_else(|| panic!("{node:?} is not in the plan"));
        if let Some(before) = seen.insert(p, place) {
            panic!("{node:?} is both {before} and {place}: {report:#?}");
        }
    };
    report.removed.iter().for_each(|n| note(n, "removed"));
    report
        .failed
        .iter()
        .flat_map(|f| &f.batch)
        .for_each(|n| note(n, "failed"));
    report.skipped.iter().for_each(|s| note(&s.node, "skipped"));
    assert_eq!(
        seen.len(),
        nodes.len(),
        "every plan node has one fate: {report:#?}"
    );

    let removed: Vec<usize> = report.removed.iter().map(|n| at[n]).collect();
    assert_eq!(removed, expect.removed, "removed, in plan order");
    let failed: Vec<Vec<usize>> = report
        .failed
        .iter()
        .map(|f| f.batch.iter().map(|n| at[n]).collect())
        .collect();
    assert_eq!(failed, expect.failed, "failed batches");
    assert_eq!(report.aborted, expect.aborted, "aborted");

    let refs = positions(plan);
    let origins: BTreeSet<usize> = failed
        .iter()
        .flatten()
        .copied()
        .chain(
            expect
                .skipped
                .iter()
                .filter(|(_, w)| **w == Why::Kept)
                .map(|(&p, _)| p),
        )
        .collect();
    let mut skipped = BTreeMap::new();
    for skip in &report.skipped {
        let p = at[&skip.node];
        let why = match &skip.cause {
            Cause::Kept => Why::Kept,
            Cause::Aborted => Why::Aborted,
            Cause::NamedBy(by) => {
                let by = at[by];
                assert!(
                    origins.contains(&by),
                    "{:?} named by {by}, which neither failed nor was kept",
                    skip.node
                );
                let reaches = match &refs {
                    None => by < p,
                    Some(refs) => reaches(refs, by, p),
                };
                assert!(reaches, "{by} does not name {p}");
                Why::NamedBy
            }
            other => panic!("a cause this test does not know: {other:?}"),
        };
        skipped.insert(p, why);
    }
    assert_eq!(skipped, expect.skipped, "skipped, with causes");
}

fn reaches(refs: &[(usize, usize)], from: usize, to: usize) -> bool {
    let mut seen = BTreeSet::from([from]);
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        for &(f, t) in refs {
            if f == at && seen.insert(t) {
                if t == to {
                    return true;
                }
                stack.push(t);
            }
        }
    }
    false
}

/// The calls were the documented ones: only plan nodes; every protect
/// before every clean; each batch at most `batch_size` nodes, exactly
/// those protected `Remove` since the previous batch, in plan order and
/// each node once; then one clean per removed node, in plan order.
fn check_calls(plan: &Plan<Res>, batch_size: usize, log: &[Event], report: &Report<Res, Injected>) {
    let at: HashMap<&Res, usize> = plan
        .nodes()
        .iter()
        .enumerate()
        .map(|(p, n)| (n, p))
        .collect();
    let mut since_last: Vec<usize> = Vec::new();
    let mut batched: Vec<usize> = Vec::new();
    let mut protected = BTreeSet::new();
    let mut cleaned = Vec::new();
    for event in log {
        let of = |n: &Res| {
            *at.get(n)
                .unwrap_or_else(|| panic!("{n:?} outside the plan reached the remover"))
        };
        match event {
            Event::Protect(node, decision) => {
                assert!(cleaned.is_empty(), "protect after phase two began");
                assert!(protected.insert(of(node)), "{node:?} protected twice");
                if *decision == Protect::Remove {
                    since_last.push(of(node));
                }
            }
            Event::Remove(batch) => {
                assert!(cleaned.is_empty(), "remove after phase two began");
                let batch: Vec<usize> = batch.iter().map(of).collect();
                assert!(
                    !batch.is_empty() && batch.len() <= batch_size.max(1),
                    "batch {batch:?}"
                );
                assert_eq!(batch, since_last, "a batch is what was just protected");
                since_last.clear();
                batched.extend(batch);
            }
            Event::Clean(node) => cleaned.push(node.clone()),
        }
    }
    assert!(
        batched.windows(2).all(|w| w[0] < w[1]),
        "batches in plan order, each node once: {batched:?}"
    );
    if !cleaned.is_empty() || report.removed.is_empty() {
        assert_eq!(
            cleaned, report.removed,
            "one clean per removed node, in plan order"
        );
    }
}

/// One apply of a fresh plan of `store` with `fault`, checked against the
/// model, the oracle and the documented calls. Returns the report.
fn apply_checked(
    store: &mut Store,
    order: SweepOrder,
    batch_size: usize,
    fault: Fault,
) -> (Plan<Res>, Report<Res, Injected>) {
    quiet_injected_panics();
    let before = store.clone();
    let live = before.oracle_live();
    let plan = plan_of(store, order);
    let garbage: BTreeSet<Res> = before.nodes().difference(&live).cloned().collect();
    assert_eq!(
        plan.nodes().iter().cloned().collect::<BTreeSet<_>>(),
        garbage,
        "the plan is the oracle's garbage"
    );

    let mut remover = ModelRemover::new(store, fault);
    let report = plan
        .apply(
            &mut remover,
            &ApplyOptions::default().batch_size(batch_size),
        )
        .expect("a plan without a generation always applies");
    let log = std::mem::take(&mut remover.log);
    check_calls(&plan, batch_size, &log, &report);

    // Phase one: exactly the model's rows went, nothing live did.
    let expect = expect_for(&plan, batch_size, fault);
    check_report(&plan, &report, &expect);
    for node in &live {
        assert!(
            store.has(node),
            "live {node:?} was removed ({fault:?}, batch {batch_size})"
        );
    }
    let removed_rows: BTreeSet<u32> = report
        .removed
        .iter()
        .filter(|n| n.kind != FILE)
        .map(|n| n.key)
        .collect();
    let gone_rows: BTreeSet<u32> = before
        .rows
        .keys()
        .filter(|k| !store.rows.contains_key(k))
        .copied()
        .collect();
    assert_eq!(gone_rows, removed_rows, "the rows removed are the report's");

    // Phase two: bytes are the sizes of the files that went, and a file
    // goes only with a removed row or as a removed file node.
    let gone_files: Vec<u32> = before
        .files
        .keys()
        .filter(|k| !store.files.contains_key(k))
        .copied()
        .collect();
    let bytes: u64 = gone_files.iter().map(|k| before.files[k]).sum();
    assert_eq!(report.bytes_reclaimed, bytes, "bytes reclaimed");
    let removed: BTreeSet<&Res> = report.removed.iter().collect();
    for &k in &gone_files {
        assert!(
            removed.contains(&row(k)) || removed.contains(&file(k)),
            "file {k} went without its row"
        );
    }
    let uncleaned: Vec<&Res> = report.uncleaned.iter().map(|(n, _)| n).collect();
    let expect_uncleaned: Vec<&Res> = match fault {
        Fault::FailClean(k) => report.removed.iter().skip(k).collect(),
        Fault::PanicClean(k) => report.removed.iter().skip(k).take(1).collect(),
        _ => Vec::new(),
    };
    assert_eq!(uncleaned, expect_uncleaned, "uncleaned");
    for (_, failure) in &report.uncleaned {
        match (fault, failure) {
            (Fault::FailClean(_), Failure::Error(Injected)) => {}
            (Fault::PanicClean(_), Failure::Panicked(message)) => assert_eq!(message, PANIC),
            (_, other) => panic!("{other:?} for {fault:?}"),
        }
    }
    for failed in &report.failed {
        match (fault, &failed.failure) {
            (Fault::FailRemove(_), Failure::Error(Injected)) => {}
            (Fault::PanicRemove(_), Failure::Panicked(message)) => assert_eq!(message, PANIC),
            (_, other) => panic!("{other:?} for {fault:?}"),
        }
    }
    let complete =
        report.failed.is_empty() && report.skipped.is_empty() && report.uncleaned.is_empty();
    assert_eq!(report.is_complete(), complete);
    (plan, report)
}

// ---------------------------------------------------------------------------
// Problems found in src/plan.rs.

/// A remover for hand-made plans: answers `protect` from a script, fails
/// the listed `remove` calls, logs the batches.
#[derive(Default)]
struct Scripted {
    decisions: HashMap<&'static str, Protect>,
    fail_calls: BTreeSet<usize>,
    batches: Vec<Vec<&'static str>>,
    cleaned: Vec<&'static str>,
}

impl Remover<&'static str> for Scripted {
    type Error = Injected;
    fn remove(&mut self, batch: &[&'static str]) -> Result<(), Injected> {
        self.batches.push(batch.to_vec());
        if self.fail_calls.contains(&(self.batches.len() - 1)) {
            return Err(Injected);
        }
        Ok(())
    }
    fn clean(&mut self, node: &&'static str) -> Result<Option<u64>, Injected> {
        self.cleaned.push(node);
        Ok(Some(1))
    }
    fn protect(&mut self, node: &&'static str) -> Protect {
        self.decisions.get(node).copied().unwrap_or(Protect::Remove)
    }
}

fn fates(report: &Report<&'static str, Injected>) -> Vec<(&'static str, String)> {
    let mut fates: Vec<(&'static str, String)> = report
        .removed
        .iter()
        .map(|n| (*n, "removed".to_string()))
        .collect();
    for f in &report.failed {
        fates.extend(f.batch.iter().map(|n| (*n, "failed".to_string())));
    }
    fates.extend(
        report
            .skipped
            .iter()
            .map(|s| (s.node, format!("{:?}", s.cause))),
    );
    fates.sort();
    fates
}

#[test]
fn an_abort_skips_the_partial_batch() {
    // `b` aborts while `a` waits in a batch of up to four. The doc says
    // the batch gathered so far is not started: `a` stays, and must be
    // reported skipped (Aborted). src/plan.rs breaks out with `at` at `b`
    // and marks only `at..`, so `a` is in no part of the report at all.
    let plan = Plan::new(vec!["a", "b", "c"], Some(vec![]), SystemTime::UNIX_EPOCH);
    let mut remover = Scripted {
        decisions: HashMap::from([("b", Protect::Abort)]),
        ..Scripted::default()
    };
    let report = plan
        .apply(&mut remover, &ApplyOptions::default().batch_size(4))
        .unwrap();
    assert!(remover.batches.is_empty(), "nothing was removed");
    assert!(report.aborted);
    assert_eq!(
        fates(&report),
        [
            ("a", "Aborted".to_string()),
            ("b", "Aborted".to_string()),
            ("c", "Aborted".to_string())
        ]
    );
}

#[test]
fn a_kept_node_keeps_what_it_names_even_in_the_current_batch() {
    // A cycle of garbage, a ⇄ b, in one batch. `a` joins the batch, then
    // `b` is kept, so `a` (which `b` names) must be kept too. src/plan.rs
    // marks `a` skipped (NamedBy b) but leaves it in the batch, which then
    // removes it: `a` is both removed and skipped, and a node a kept node
    // names is gone.
    let plan = Plan::new(
        vec!["a", "b"],
        Some(vec![(0, 1), (1, 0)]),
        SystemTime::UNIX_EPOCH,
    );
    let mut remover = Scripted {
        decisions: HashMap::from([("b", Protect::Keep)]),
        ..Scripted::default()
    };
    let report = plan
        .apply(&mut remover, &ApplyOptions::default().batch_size(2))
        .unwrap();
    assert_eq!(
        fates(&report),
        [
            ("a", "NamedBy(\"b\")".to_string()),
            ("b", "Kept".to_string())
        ]
    );
    assert!(remover.batches.is_empty(), "removed {:?}", remover.batches);
}

// ---------------------------------------------------------------------------
// Plans from collections.

#[test]
fn a_plan_is_the_garbage_in_order_with_the_references_among_it() {
    // ReferrersFirst reads the references among the garbage (every
    // strength, and `lives_with` as parent → child); Listing does not.
    for order in [SweepOrder::ReferrersFirst, SweepOrder::Listing] {
        let mut store = registry();
        let mut collector = Collector::new();
        let collection = collector.collect_with(&mut store, &options(order)).unwrap();
        let plan = collection.plan();
        let garbage: Vec<Res> = collection.garbage().cloned().collect();
        assert_eq!(plan.nodes(), garbage.as_slice(), "{order:?}");
        assert_eq!((plan.len(), plan.is_empty()), (garbage.len(), false));
        assert_eq!(plan.made_at(), collection.now());
        assert_eq!(plan.generation(), None);
        let in_plan: BTreeSet<&Res> = garbage.iter().collect();
        let mut expected = BTreeSet::new();
        for (&from, refs) in &store.rows {
            for &(to, _) in refs {
                expected.insert((row(from), row(to)));
            }
        }
        for &k in store.files.keys() {
            expected.insert((row(k), file(k)));
        }
        expected.retain(|(a, b)| in_plan.contains(a) && in_plan.contains(b));
        match order {
            SweepOrder::ReferrersFirst => {
                let refs: BTreeSet<(Res, Res)> = plan
                    .references()
                    .expect("ReferrersFirst reads them")
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect();
                assert_eq!(refs, expected);
                assert!(
                    !expected.is_empty(),
                    "the fixture has references among its garbage"
                );
            }
            _ => assert!(plan.references().is_none(), "Listing does not read them"),
        }
    }
}

#[test]
fn plan_new_drops_references_out_of_range() {
    let plan = Plan::new(
        vec![1, 2],
        Some(vec![(1, 0), (0, 1), (0, 2), (5, 0), (0, 1)]),
        SystemTime::UNIX_EPOCH,
    );
    let refs: Vec<(i32, i32)> = plan.references().unwrap().map(|(a, b)| (*a, *b)).collect();
    assert_eq!(refs, [(1, 2), (2, 1)]);
    assert!(
        Plan::new(vec![1], None, SystemTime::UNIX_EPOCH)
            .references()
            .is_none()
    );
}

#[test]
fn a_clean_run_removes_all_garbage_and_reclaims_its_payloads() {
    for order in [SweepOrder::ReferrersFirst, SweepOrder::Listing] {
        let mut store = registry();
        let live = store.oracle_live();
        let (plan, report) = apply_checked(&mut store, order, 3, Fault::None);
        assert!(report.is_complete() && !report.aborted, "{report:#?}");
        assert_eq!(report.removed, plan.nodes());
        assert_eq!(store.nodes(), live, "only the live nodes are left");
        // Files of garbage rows 102, 103, 204..207, 209, 403..405, and 210.
        let freed: u64 = [102, 103, 204, 205, 206, 207, 209, 210, 403, 404, 405]
            .iter()
            .map(|k| 1000 + k)
            .sum();
        assert_eq!(report.bytes_reclaimed, freed);
    }
}

#[test]
fn an_empty_plan_calls_nothing_and_is_complete() {
    let mut store = registry();
    let plan = plan_of(&mut store, SweepOrder::ReferrersFirst);
    let mut clean = store.clone();
    let mut remover = ModelRemover::new(&mut clean, Fault::None);
    plan.apply(&mut remover, &ApplyOptions::default()).unwrap();
    let plan = plan_of(&mut clean, SweepOrder::ReferrersFirst);
    assert!(plan.is_empty());
    let mut remover = ModelRemover::new(&mut clean, Fault::AbortAt(0));
    let report = plan.apply(&mut remover, &ApplyOptions::default()).unwrap();
    assert!(remover.log.is_empty(), "{:?}", remover.log);
    assert!(report.is_complete() && !report.aborted && report.bytes_reclaimed == 0);
}

// ---------------------------------------------------------------------------
// Faults at every position.

/// The store once all garbage is gone: what every rerun must reach.
fn clean_result(order: SweepOrder) -> Store {
    let mut store = registry();
    apply_checked(&mut store, order, 256, Fault::None);
    store
}

/// After a faulty apply, both ways back converge on the no-fault store:
/// the same plan again (removing what is gone succeeds), and a fresh
/// collection with its own plan, which is complete.
fn check_converges(store: &Store, plan: &Plan<Res>, order: SweepOrder, target: &Store) {
    let mut again = store.clone();
    let report = plan
        .apply(
            &mut ModelRemover::new(&mut again, Fault::None),
            &ApplyOptions::default(),
        )
        .unwrap();
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(&again, target, "the same plan applied again converges");

    let mut next = store.clone();
    let (_, report) = apply_checked(&mut next, order, 2, Fault::None);
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(&next, target, "the next collection converges");
}

fn faults_at_every_position(kind: fn(usize) -> Fault) {
    for order in [SweepOrder::ReferrersFirst, SweepOrder::Listing] {
        let target = clean_result(order);
        for batch_size in [0, 1, 2, 3, 5, 256] {
            let mut hit = false;
            for k in 0.. {
                let mut store = registry();
                let fault = kind(k);
                let (plan, report) = apply_checked(&mut store, order, batch_size, fault);
                // Past the last call the fault never fires, and the loop
                // is done; before, it must have shown in the report.
                let fired = !report.is_complete();
                if !fired {
                    // So every call was hit: one remove per batch, one
                    // protect and one clean per node, without faults.
                    let calls = match fault {
                        Fault::FailRemove(_) | Fault::PanicRemove(_) => {
                            plan.len().div_ceil(batch_size.max(1))
                        }
                        _ => plan.len(),
                    };
                    assert_eq!(k, calls, "{fault:?} did not fire (batch {batch_size})");
                    break;
                }
                hit = true;
                check_converges(&store, &plan, order, &target);
            }
            assert!(hit);
        }
    }
}

#[test]
fn a_failed_remove_at_every_call() {
    faults_at_every_position(Fault::FailRemove);
}

#[test]
fn a_panicking_remove_at_every_call() {
    faults_at_every_position(Fault::PanicRemove);
}

#[test]
fn a_kept_node_at_every_protect() {
    faults_at_every_position(Fault::KeepAt);
}

#[test]
fn an_abort_at_every_protect() {
    faults_at_every_position(Fault::AbortAt);
}

#[test]
fn a_failing_payload_store_from_every_clean() {
    faults_at_every_position(Fault::FailClean);
}

#[test]
fn a_panicking_clean_at_every_call() {
    faults_at_every_position(Fault::PanicClean);
}

#[test]
fn a_failed_batch_skips_what_it_names_and_nothing_else() {
    // Exact causes where only one is possible: manifest 102 fails alone
    // (batch of one, plan referrers first), so its layers 204 and 205, and
    // their files, are skipped as named by it; layer 205 is also named by
    // 103, which goes, but 102 still names it. Nothing else is skipped.
    quiet_injected_panics();
    let mut store = registry();
    let plan = plan_of(&mut store, SweepOrder::ReferrersFirst);
    let call = plan.nodes().iter().position(|n| *n == row(102)).unwrap();
    let (_, report) = apply_checked(
        &mut store,
        SweepOrder::ReferrersFirst,
        1,
        Fault::FailRemove(call),
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].batch, [row(102)]);
    let mut skipped: Vec<(Res, Cause<Res>)> = report
        .skipped
        .iter()
        .map(|s| (s.node.clone(), s.cause.clone()))
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    let by = Cause::NamedBy(row(102));
    let mut expected = vec![
        (row(204), by.clone()),
        (row(205), by.clone()),
        (file(102), by.clone()),
        (file(204), by.clone()),
        (file(205), by.clone()),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(skipped, expected);
    assert!(
        store.rows.contains_key(&204)
            && !store.rows.contains_key(&103)
            && !store.rows.contains_key(&206)
    );
}

#[test]
fn without_references_a_failure_skips_everything_after_it() {
    quiet_injected_panics();
    let mut store = registry();
    let (plan, report) = apply_checked(&mut store, SweepOrder::Listing, 2, Fault::FailRemove(1));
    assert!(plan.references().is_none());
    // Batches [0, 1] and [2, 3]; the second fails, the rest waits for the
    // next collection (causes are checked in `apply_checked`).
    assert_eq!(report.removed, plan.nodes()[..2]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].batch, plan.nodes()[2..4]);
    let skipped: Vec<&Res> = report.skipped.iter().map(|s| &s.node).collect();
    assert_eq!(skipped, plan.nodes()[4..].iter().collect::<Vec<_>>());
    assert!(store.rows.contains_key(&plan.nodes()[4].key));
}

#[test]
fn a_crash_between_the_phases_leaves_orphans_the_next_collection_sweeps() {
    // Phase one commits every batch, then the process dies: no payload is
    // removed. The files of the removed rows are then named by no row, and
    // the next collection finds them garbage, with no recovery code.
    for order in [SweepOrder::ReferrersFirst, SweepOrder::Listing] {
        let mut store = registry();
        let before = store.clone();
        let (plan, report) = apply_checked(&mut store, order, 4, Fault::DieAfterPhaseOne);
        assert_eq!(report.removed, plan.nodes());
        assert_eq!(report.bytes_reclaimed, 0);
        assert_eq!(store.files, before.files, "no payload went");
        let orphans: BTreeSet<Res> = store
            .files
            .keys()
            .filter(|k| !store.rows.contains_key(k))
            .map(|&k| file(k))
            .collect();
        assert!(orphans.len() > 1);

        let next = plan_of(&mut store.clone(), order);
        assert_eq!(
            next.nodes().iter().cloned().collect::<BTreeSet<_>>(),
            orphans
        );
        let (_, report) = apply_checked(&mut store, order, 4, Fault::None);
        assert!(report.is_complete());
        let freed: u64 = orphans.iter().map(|f| before.files[&f.key]).sum();
        assert_eq!(report.bytes_reclaimed, freed);
        assert_eq!(store, clean_result(order));
    }
}

// ---------------------------------------------------------------------------
// Generations.

#[test]
fn a_plan_applies_only_at_its_generation() {
    let mut store = registry();
    let plan = plan_of(&mut store, SweepOrder::ReferrersFirst).with_generation(7);
    assert_eq!(plan.generation(), Some(7));
    for (given, current) in [(Some(8), Some(8)), (Some(6), Some(6)), (None, None)] {
        let mut untouched = store.clone();
        let mut remover = ModelRemover::new(&mut untouched, Fault::None);
        let options = match given {
            Some(g) => ApplyOptions::default().generation(g),
            None => ApplyOptions::default(),
        };
        let refused = plan.apply(&mut remover, &options).unwrap_err();
        assert_eq!(
            refused,
            ApplyError::Stale {
                planned: 7,
                current
            }
        );
        assert!(refused.to_string().contains("generation 7"), "{refused}");
        assert!(remover.log.is_empty(), "a stale plan calls nothing");
        assert_eq!(untouched, store);
    }
    let report = plan
        .apply(
            &mut ModelRemover::new(&mut store, Fault::None),
            &ApplyOptions::default().generation(7),
        )
        .unwrap();
    assert!(report.is_complete());
    assert_eq!(store, clean_result(SweepOrder::ReferrersFirst));

    // A plan that recorded none applies whatever generation is given.
    let mut store = registry();
    let plan = plan_of(&mut store, SweepOrder::Listing);
    let report = plan
        .apply(
            &mut ModelRemover::new(&mut store, Fault::None),
            &ApplyOptions::default().generation(3),
        )
        .unwrap();
    assert!(report.is_complete());
}

// ---------------------------------------------------------------------------
// A collection in two parts.

#[test]
fn a_node_reported_during_marking_leaves_the_plan_and_its_references() {
    // In the snapshot manifests 102 (→ 204, 205) and 103 (→ 205, 206) are
    // garbage, with their files. While the long part runs, a writer tags
    // 102 and reports it: `finish` marks it with its closure, so 102, 204,
    // 205 and their files leave the plan, and so do the references that
    // name them (103 → 205 among them); the rest of the references stay.
    let mut snapshot = registry();
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let barrier = collector.barrier();
    let mut marking = collector.start(&options(SweepOrder::ReferrersFirst));
    let mut live = snapshot.clone();
    live.roots.insert(102);
    barrier.keep(&row(102));
    marking.mark(&mut snapshot).unwrap();
    let collection = marking.finish(&mut live).unwrap();
    let plan = collection.plan();

    let expected_live = live.oracle_live();
    let garbage: BTreeSet<Res> = live.nodes().difference(&expected_live).cloned().collect();
    assert_eq!(
        plan.nodes().iter().cloned().collect::<BTreeSet<_>>(),
        garbage
    );
    for gone in [row(102), row(204), file(102), file(204)] {
        assert!(!plan.nodes().contains(&gone), "{gone:?} turned live");
    }
    for gone in [row(205), file(205)] {
        assert!(!plan.nodes().contains(&gone), "{gone:?} turned live");
    }
    let refs: BTreeSet<(Res, Res)> = plan
        .references()
        .unwrap()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    let mut expected = BTreeSet::new();
    for (&from, to) in &live.rows {
        expected.extend(to.iter().map(|&(to, _)| (row(from), row(to))));
    }
    expected.extend(live.files.keys().map(|&k| (row(k), file(k))));
    expected.retain(|(a, b)| garbage.contains(a) && garbage.contains(b));
    assert_eq!(refs, expected);
    assert!(refs.contains(&(row(103), row(206))) && refs.contains(&(row(405), row(404))));
    // And it applies like any other.
    let mut remover = ModelRemover::new(&mut live, Fault::None);
    let report = plan.apply(&mut remover, &ApplyOptions::default()).unwrap();
    assert!(report.is_complete());
    assert!(expected_live.iter().all(|n| live.has(n)));
    assert_eq!(live.nodes(), expected_live);
}

// ---------------------------------------------------------------------------
// Serialisation.

#[cfg(feature = "serde")]
#[test]
fn a_plan_round_trips_through_json() {
    let nodes: Vec<Node<u8, String, String>> = ["manifest", "layer", "config"]
        .iter()
        .map(|k| Node::new(1, "default".to_string(), k.to_string()))
        .collect();
    let at = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    for plan in [
        Plan::new(nodes.clone(), Some(vec![(0, 1), (0, 2)]), at).with_generation(42),
        Plan::new(nodes, None, at),
    ] {
        let json = serde_json::to_string(&plan).unwrap();
        let back: Plan<Node<u8, String, String>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan, "{json}");
        assert_eq!(back.generation(), plan.generation());
        assert_eq!(back.made_at(), at);
        // A plan saved before `partly_held` existed still reads, with none.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("partly_held").unwrap();
        let back: Plan<Node<u8, String, String>> = serde_json::from_value(old).unwrap();
        assert_eq!(back.nodes(), plan.nodes());
        assert!(back.partly_held().is_empty());
    }
}

// ---------------------------------------------------------------------------
// Random graphs.

/// Rows `0..count` (kind 0) with references of every strength, cycles
/// included, a few roots, payload files for some rows and orphans.
fn random_store() -> impl Strategy<Value = Store> {
    (1u32..18).prop_flat_map(|count| {
        (
            prop::collection::vec(
                (0..count, 0..count, common::any_strength()),
                0..(2 * count as usize),
            ),
            prop::collection::btree_set(0..count, 0..3),
            prop::collection::btree_set(0..count + 3, 0..(count as usize + 3)),
        )
            .prop_map(move |(edges, roots, files)| {
                let mut store = Store::default();
                for key in 0..count {
                    store.row(key, &[]);
                }
                for (from, to, strength) in edges {
                    store.rows.get_mut(&from).unwrap().push((to, strength));
                }
                for key in files {
                    store.file(key);
                }
                store.roots = roots;
                store
            })
    })
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn apply_removes_the_garbage_minus_what_failures_still_name(
        store in random_store(),
        referrers_first in any::<bool>(),
        batch_size in 0usize..6,
        failing in prop::collection::vec(prop::bool::weighted(0.3), 40),
    ) {
        quiet_injected_panics();
        let order = if referrers_first { SweepOrder::ReferrersFirst } else { SweepOrder::Listing };
        let mut after = store.clone();
        let live = store.oracle_live();
        let plan = plan_of(&mut after, order);
        let garbage: BTreeSet<Res> = store.nodes().difference(&live).cloned().collect();
        prop_assert_eq!(plan.nodes().iter().cloned().collect::<BTreeSet<_>>(), garbage);
        prop_assert_eq!(plan.references().is_some(), referrers_first);

        let mut remover = Failing { store: &mut after, failing: &failing, calls: 0 };
        let report = plan.apply(&mut remover, &ApplyOptions::default().batch_size(batch_size)).unwrap();
        let refs = positions(&plan);
        let expect = model(plan.len(), refs.as_deref(), batch_size, |_| Protect::Remove, |c| failing.get(c) == Some(&true));
        check_report(&plan, &report, &expect);

        // Exactly the model's nodes went from the store, nothing live.
        let removed: BTreeSet<Res> = report.removed.iter().cloned().collect();
        let gone: BTreeSet<Res> = store.nodes().into_iter().filter(|n| !after.has(n)).collect();
        prop_assert_eq!(&gone, &removed);
        prop_assert!(live.iter().all(|n| after.has(n)));
        match &refs {
            // What a node still there names later in the plan is still
            // there (a cycle may name earlier nodes: documented).
            Some(refs) => for &(from, to) in refs {
                if from < to && !removed.contains(&plan.nodes()[from]) {
                    prop_assert!(!removed.contains(&plan.nodes()[to]), "{from} stays, {to} went");
                }
            },
            // The prefix before the first failed batch, nothing after.
            None => {
                let first_failure = report.failed.first().map(|f| &f.batch[0]);
                let cut = first_failure.map_or(plan.len(), |n| plan.nodes().iter().position(|m| m == n).unwrap());
                prop_assert_eq!(&report.removed[..], &plan.nodes()[..cut]);
                prop_assert!(report.failed.len() <= 1);
            }
        }
    }
}

/// Fails the `remove` calls marked in `failing`; removes rows and, in
/// `clean`, files.
struct Failing<'a> {
    store: &'a mut Store,
    failing: &'a [bool],
    calls: usize,
}

impl Remover<Res> for Failing<'_> {
    type Error = Injected;
    fn remove(&mut self, batch: &[Res]) -> Result<(), Injected> {
        self.calls += 1;
        if self.failing.get(self.calls - 1) == Some(&true) {
            return Err(Injected);
        }
        for node in batch.iter().filter(|n| n.kind != FILE) {
            self.store.rows.remove(&node.key);
        }
        Ok(())
    }
    fn clean(&mut self, node: &Res) -> Result<Option<u64>, Injected> {
        if node.kind == FILE {
            self.store.files.remove(&node.key);
        }
        Ok(None)
    }
}

/// `Report::by_kind` counts each kind's removed, failed and skipped nodes,
/// kinds in the order the report first names them.
#[test]
fn the_report_by_kind_counts_every_fate_in_first_seen_order() {
    use resource_gc::{ApplyOptions, KindCounts, Node, Plan, Remover};
    type R = Node<&'static str, (), u32>;
    /// Fails the batch holding manifest 2.
    struct FailManifest;
    impl Remover<R> for FailManifest {
        type Error = String;
        fn remove(&mut self, batch: &[R]) -> Result<(), String> {
            match batch.iter().any(|node| node.key == 2) {
                true => Err("storage error".into()),
                false => Ok(()),
            }
        }
    }
    let nodes: Vec<R> = vec![
        Node::new("image", (), 1),
        Node::new("manifest", (), 2),
        Node::new("layer", (), 3),
        Node::new("layer", (), 4),
    ];
    // Manifest 2 names layer 3: its failure skips layer 3, not layer 4.
    let plan = Plan::new(
        nodes,
        Some(vec![(0, 1), (1, 2)]),
        std::time::SystemTime::UNIX_EPOCH,
    );
    let report = plan
        .apply(&mut FailManifest, &ApplyOptions::default().batch_size(1))
        .unwrap();
    let kinds: Vec<(&str, KindCounts)> =
        report.by_kind().into_iter().map(|(k, c)| (*k, c)).collect();
    let counts = |removed, failed, skipped| {
        let mut c = KindCounts::default();
        (c.removed, c.failed, c.skipped) = (removed, failed, skipped);
        c
    };
    assert_eq!(
        kinds,
        [
            ("image", counts(1, 0, 0)),
            ("layer", counts(1, 0, 1)),
            ("manifest", counts(0, 1, 0)),
        ]
    );
}
