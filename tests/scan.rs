//! The scan path: nodes listed with their references, matched by hash, no
//! key kept. It must give the oracle's answer with a good hasher, never
//! sweep a live node with a bad one (every hash colliding, or a key whose
//! `Hash` writes only part of it), and fail safe as the other paths do.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, SystemTime};

use common::oracle::oracle;
use common::{FourHashes, StoreError, any_strength, proptest_config};
use proptest::prelude::*;
use resource_gc::{
    Error, Flow, Node, Options, Phase, Progress, Reason, RootKind, ScanCollector, ScanContext,
    ScanRoots, ScanSink, Strength, SweepLimit, SweepOrder,
};

type Key = Node<u8, &'static str, u32>;

fn n(key: u32) -> Key {
    Node::new(1, "default", key)
}

/// What a [`Scanned`] store does wrong, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    FailScan,
    FailRoots,
    /// `checkpoint` returns `Abort` from its k-th call (0-based) on.
    AbortAtCheckpoint(usize),
    /// The scan panics after listing this many nodes.
    PanicAfter(usize),
}

/// One entry of a listing: a key, its references, and maybe a last use.
type Entry = (u32, Vec<(u32, Strength)>, Option<SystemTime>);

/// A listing (duplicates allowed), each entry with its references and an
/// optional last use, and roots.
#[derive(Debug)]
struct Scanned {
    listing: Vec<Entry>,
    roots: Vec<(u32, Strength)>,
    /// Roots held until a deadline: leases.
    leases: Vec<(u32, Strength, SystemTime)>,
    /// Deadlines of references, by (listing entry, reference) index.
    deadlines: BTreeMap<(usize, usize), SystemTime>,
    fault: Fault,
    checkpoints: usize,
}

impl Scanned {
    fn new(listing: Vec<Entry>) -> Self {
        Scanned {
            listing,
            roots: Vec::new(),
            leases: Vec::new(),
            deadlines: BTreeMap::new(),
            fault: Fault::None,
            checkpoints: 0,
        }
    }
}

impl ScanContext for Scanned {
    type Kind = u8;
    type Namespace = &'static str;
    type Key = u32;
    type Error = StoreError;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, &'static str, u32>) -> Result<(), StoreError> {
        if self.fault == Fault::FailScan {
            return Err(StoreError);
        }
        nodes.reserve(self.listing.len(), 0);
        for (i, (key, refs, used)) in self.listing.iter().enumerate() {
            if self.fault == Fault::PanicAfter(i) {
                panic!("the store fell over");
            }
            let mut pushed = match used {
                Some(at) => nodes.push_used(&n(*key), *at),
                None => nodes.push(&n(*key)),
            };
            for (j, &(to, strength)) in refs.iter().enumerate() {
                match self.deadlines.get(&(i, j)) {
                    Some(&expires) => pushed.expiring(&n(to), strength, expires),
                    None => pushed.add(&n(to), strength),
                };
            }
        }
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, u8, &'static str, u32>,
    ) -> Result<(), StoreError> {
        if self.fault == Fault::FailRoots {
            return Err(StoreError);
        }
        for &(key, strength) in &self.roots {
            roots.add(&n(key), strength);
        }
        for &(key, strength, expires) in &self.leases {
            roots.expiring(&n(key), strength, expires);
        }
        Ok(())
    }

    fn checkpoint(&mut self, _: &Progress) -> Flow {
        self.checkpoints += 1;
        match self.fault {
            Fault::AbortAtCheckpoint(k) if self.checkpoints > k => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

/// The keys at the garbage's places, with each place's key checked to be
/// swept at all its places or none (a node listed twice is one node).
fn swept_keys<S: BuildHasher>(
    collector: &mut ScanCollector<u8, &'static str, u32, S>,
    store: &mut Scanned,
    options: &Options,
) -> BTreeSet<u32> {
    let collection = collector.collect_with(store, options).expect("collects");
    let places: BTreeSet<u32> = collection.garbage().collect();
    assert_eq!(places.len(), collection.garbage().len());
    assert_eq!(places.len(), collection.stats().nodes_swept);
    let mut by_key: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for (place, (key, _, _)) in store.listing.iter().enumerate() {
        let entry = by_key.entry(*key).or_default();
        entry.0 += 1;
        if places.contains(&(place as u32)) {
            entry.1 += 1;
            assert!(!collection.is_live(place as u32));
        } else {
            assert!(collection.is_live(place as u32));
        }
    }
    by_key
        .into_iter()
        .filter(|&(_, (listed, swept))| {
            assert!(
                swept == 0 || swept == listed,
                "a node listed twice, half swept"
            );
            swept > 0
        })
        .map(|(key, _)| key)
        .collect()
}

/// A listing of keys `0..12` (some twice, some never: those are dead
/// edges' targets and unlisted roots), with references, roots and last
/// uses around `now`.
fn any_case() -> impl Strategy<Value = (Scanned, Duration)> {
    let entry = (
        0u32..12,
        prop::collection::vec((0u32..14, any_strength()), 0..4),
        prop::option::of(0u64..20),
    );
    (
        prop::collection::vec(entry, 0..16),
        prop::collection::vec((0u32..14, any_strength()), 0..4),
        prop::collection::vec((0u32..14, any_strength(), 0u64..20), 0..3),
        prop::collection::vec((0usize..16, 0usize..4, 0u64..20), 0..6),
        0u64..10,
    )
        .prop_map(|(listing, roots, leases, deadlines, grace)| {
            let listing = listing
                .into_iter()
                .map(|(key, refs, used)| (key, refs, used.map(at)))
                .collect();
            let mut store = Scanned::new(listing);
            store.roots = roots;
            store.leases = leases.into_iter().map(|(k, s, e)| (k, s, at(e))).collect();
            store.deadlines = deadlines
                .into_iter()
                .map(|(i, j, e)| ((i, j), at(e)))
                .collect();
            (store, Duration::from_secs(grace))
        })
}

/// `now()` minus ten seconds plus `s`: from before now to after it.
fn at(s: u64) -> SystemTime {
    now() - Duration::from_secs(10) + Duration::from_secs(s)
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
}

/// The oracle's garbage for a scan: a key's references are those it is
/// listed with (all its listings together), an unlisted key references
/// nothing, a key used within the grace period is a strong root, and a
/// lease or a reference with a deadline is held through the deadline
/// instant and not after it.
fn expected(store: &Scanned, grace: Duration) -> (BTreeSet<u32>, common::oracle::Expected) {
    let listed: Vec<u32> = store.listing.iter().map(|(k, _, _)| *k).collect();
    let held = |expires: Option<&SystemTime>| expires.is_none_or(|&at| at >= now());
    let edges: Vec<(u32, u32, Strength)> = store
        .listing
        .iter()
        .enumerate()
        .flat_map(|(i, (from, refs, _))| {
            refs.iter()
                .enumerate()
                .filter(move |&(j, _)| held(store.deadlines.get(&(i, j))))
                .map(move |(_, &(to, s))| (*from, to, s))
        })
        .collect();
    let mut roots = store.roots.clone();
    roots.extend(
        store
            .leases
            .iter()
            .filter(|(_, _, expires)| held(Some(expires)))
            .map(|&(key, strength, _)| (key, strength)),
    );
    for (key, _, used) in &store.listing {
        if let Some(at) = used {
            // Kept at the boundary: exactly `grace` old, or in the future.
            if now().duration_since(*at).map_or(true, |age| age <= grace) {
                roots.push((*key, Strength::Strong));
            }
        }
    }
    let expected = oracle(&listed, &roots, &edges);
    (expected.garbage.iter().copied().collect(), expected)
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn a_good_hasher_gives_the_oracles_answer((mut store, grace) in any_case()) {
        let (garbage, expected) = expected(&store, grace);
        let options = Options::default().now(now()).grace_period(grace);
        let mut collector = ScanCollector::new();
        prop_assert_eq!(swept_keys(&mut collector, &mut store, &options), garbage);
        let collection = collector.collect_with(&mut store, &options).unwrap();
        let stats = collection.stats();
        prop_assert_eq!(stats.nodes_listed, store.listing.len());
        let distinct: BTreeSet<u32> = store.listing.iter().map(|(k, _, _)| *k).collect();
        if distinct.len() == store.listing.len() {
            // Without a node listed twice, each node is read once, as the
            // oracle reads it.
            prop_assert_eq!(stats.references_followed, expected.references_followed);
            prop_assert_eq!(stats.dead_edges, expected.dead_edges);
            prop_assert_eq!(
                stats.weak_references,
                expected.weak_references,
            );
        }
    }

    #[test]
    fn why_live_gives_a_path_the_mark_follows((mut store, grace) in any_case()) {
        let options = Options::default().now(now()).grace_period(grace).explain(true);
        let mut collector = ScanCollector::new();
        let collection = collector.collect_with(&mut store, &options).unwrap();
        let key = |place: u32| store.listing[place as usize].0;
        // The references of a key, all its listings together, held ones only.
        let deadlines = &store.deadlines;
        let refs = |from: u32| -> Vec<(u32, Strength)> {
            store
                .listing
                .iter()
                .enumerate()
                .filter(|(_, (k, _, _))| *k == from)
                .flat_map(|(i, (_, refs, _))| {
                    refs.iter().enumerate().filter(move |&(j, _)| {
                        deadlines.get(&(i, j)).is_none_or(|&at| at >= now())
                    })
                    .map(|(_, &r)| r)
                })
                .collect()
        };
        for place in 0..store.listing.len() as u32 + 1 {
            let Some(path) = collection.why_live(place) else {
                prop_assert!(!collection.is_live(place));
                continue;
            };
            prop_assert!(collection.is_live(place));
            prop_assert_eq!(path.last().map(|&(p, _)| p), Some(place));
            // The root, and the best reach it gives.
            let (first, reason) = path[0];
            let mut reach = match reason {
                Reason::Root(RootKind::Grace) => {
                    let (_, _, used) = &store.listing[first as usize];
                    prop_assert!(used.is_some_and(|at| now().duration_since(at).map_or(true, |age| age <= grace)));
                    Strength::Strong
                }
                Reason::Root(RootKind::Explicit | RootKind::Lease) => {
                    let strengths: Vec<Strength> = store
                        .roots
                        .iter()
                        .map(|&(k, s)| (k, s))
                        .chain(store.leases.iter().filter(|l| l.2 >= now()).map(|&(k, s, _)| (k, s)))
                        .filter(|&(k, s)| k == key(first) && s != Strength::Weak)
                        .map(|(_, s)| s)
                        .collect();
                    prop_assert!(!strengths.is_empty(), "root {} is no root", key(first));
                    if strengths.iter().all(|&s| s == Strength::Flat) { Strength::Flat } else { Strength::Strong }
                }
                other => {
                    prop_assert!(false, "a path starts with {:?}", other);
                    unreachable!()
                }
            };
            for pair in path.windows(2) {
                let ((from, _), (to, reason)) = (pair[0], pair[1]);
                match reason {
                    Reason::Reference(strength) => {
                        prop_assert!(refs(key(from)).contains(&(key(to), strength)));
                        reach = match (reach, strength) {
                            (_, Strength::Structural) => reach,
                            (Strength::Strong, Strength::Strong) => Strength::Strong,
                            (Strength::Strong, Strength::Flat) => Strength::Flat,
                            _ => {
                                prop_assert!(false, "{:?} does not follow {:?}", reach, strength);
                                unreachable!()
                            }
                        };
                    }
                    // A good hasher shares a hash only within a key.
                    Reason::SameHash => prop_assert_eq!(key(from), key(to)),
                    other => prop_assert!(false, "step {:?}", other),
                }
            }
        }
    }

    #[test]
    fn referrers_first_puts_each_place_before_what_it_references((mut store, grace) in any_case()) {
        let options = Options::default().now(now()).grace_period(grace);
        let mut collector = ScanCollector::new();
        let ascending: Vec<u32> = collector.collect_with(&mut store, &options).unwrap().garbage().collect();
        let options = options.sweep_order(SweepOrder::ReferrersFirst);
        let collection = collector.collect_with(&mut store, &options).unwrap();
        let ordered: Vec<u32> = collection.garbage().collect();
        prop_assert_eq!(ordered.len(), collection.garbage().len());
        let mut sorted = ordered.clone();
        sorted.sort_unstable();
        prop_assert_eq!(&sorted, &ascending);
        // Places by key: a reference names every place of its target.
        let places_of = |key: u32| -> Vec<u32> {
            (0..store.listing.len() as u32).filter(|&p| store.listing[p as usize].0 == key).collect()
        };
        // A node listed twice is one node: its places reach each other.
        let garbage_edges = |from: u32| -> Vec<u32> {
            let key = store.listing[from as usize].0;
            store.listing[from as usize].1.iter()
                .flat_map(|&(to, _)| places_of(to))
                .chain(places_of(key))
                .filter(|p| ascending.contains(p))
                .collect()
        };
        let reaches = |from: u32, to: u32| -> bool {
            let mut seen = BTreeSet::from([from]);
            let mut stack = vec![from];
            while let Some(p) = stack.pop() {
                if p == to {
                    return true;
                }
                for q in garbage_edges(p) {
                    if seen.insert(q) {
                        stack.push(q);
                    }
                }
            }
            false
        };
        let position = |p: u32| ordered.iter().position(|&q| q == p).unwrap();
        for &from in &ordered {
            for to in garbage_edges(from) {
                // Before its target, unless they are on one cycle.
                prop_assert!(
                    position(from) <= position(to) || reaches(to, from),
                    "{} after {}, which it references", from, to
                );
            }
        }
    }

    #[test]
    fn colliding_hashes_keep_more_never_less((mut store, grace) in any_case()) {
        let (garbage, _) = expected(&store, grace);
        let options = Options::default().now(now()).grace_period(grace);
        let swept = swept_keys(&mut ScanCollector::with_hasher(FourHashes), &mut store, &options);
        prop_assert!(swept.is_subset(&garbage), "swept {:?}, garbage only {:?}", swept, garbage);
    }

    #[test]
    fn a_collector_reused_after_a_failure_answers_afresh((mut store, grace) in any_case()) {
        let (garbage, _) = expected(&store, grace);
        let options = Options::default().now(now()).grace_period(grace);
        let mut collector = ScanCollector::new();
        store.fault = Fault::FailRoots;
        prop_assert!(matches!(
            collector.collect_with(&mut store, &options),
            Err(Error::Roots(StoreError))
        ));
        store.fault = Fault::None;
        prop_assert_eq!(swept_keys(&mut collector, &mut store, &options), garbage);
    }
}

/// A key type whose `Hash` writes only its first byte, as a digest type
/// may: legal, and every key with the same first byte collides.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Prefix(String);

impl Hash for Prefix {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().first().hash(state);
    }
}

struct Prefixed;

impl ScanContext for Prefixed {
    type Kind = u8;
    type Namespace = u8;
    type Key = Prefix;
    type Error = StoreError;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, u8, Prefix>) -> Result<(), StoreError> {
        let node = |key: &str| Node::new(0, 0, Prefix(key.into()));
        // a1 → a2 (live through the root), a3 (garbage, shares their
        // hash), b1 (garbage), b2 → b3 reached only through `c`, which is
        // not listed but hashes as `c0`, a listed node.
        nodes.push(&node("a1")).strong(&node("a2"));
        nodes.push(&node("a2"));
        nodes.push(&node("a3"));
        nodes.push(&node("b1"));
        nodes.push(&node("c0")).strong(&node("b2"));
        nodes.push(&node("b2")).strong(&node("b3"));
        nodes.push(&node("b3"));
        nodes.push(&node("d0"));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ScanRoots<'_, u8, u8, Prefix>) -> Result<(), StoreError> {
        roots.strong(&Node::new(0, 0, Prefix("a1".into())));
        roots.strong(&Node::new(0, 0, Prefix("c".into())));
        Ok(())
    }
}

#[test]
fn a_lossy_hash_keeps_whole_groups() {
    let mut collector = ScanCollector::new();
    let collection = collector.collect(&mut Prefixed).unwrap();
    // Everything starting with a, b or c collides with something live;
    // only d0 is swept.
    assert_eq!(collection.garbage().collect::<Vec<_>>(), [7]);
}

#[test]
fn failures_sweep_nothing() {
    let listing = vec![
        (0, vec![(1, Strength::Strong)], None),
        (1, vec![], None),
        (2, vec![], None),
    ];
    let mut collector = ScanCollector::new();
    for (fault, check) in [
        (
            Fault::FailScan,
            (|e: &Error<StoreError, u32>| matches!(e, Error::Listing(StoreError)))
                as fn(&Error<StoreError, u32>) -> bool,
        ),
        (Fault::FailRoots, |e| matches!(e, Error::Roots(StoreError))),
        (Fault::AbortAtCheckpoint(0), |e| {
            matches!(
                e,
                Error::Aborted {
                    phase: Phase::Listing
                }
            )
        }),
        (Fault::AbortAtCheckpoint(1), |e| {
            matches!(
                e,
                Error::Aborted {
                    phase: Phase::Roots
                }
            )
        }),
        (Fault::AbortAtCheckpoint(2), |e| {
            matches!(
                e,
                Error::Aborted {
                    phase: Phase::Marking
                }
            )
        }),
    ] {
        let mut store = Scanned::new(listing.clone());
        store.roots = vec![(0, Strength::Strong)];
        store.fault = fault;
        let err = collector.collect(&mut store).unwrap_err();
        assert!(check(&err), "{fault:?}: {err:?}");
    }
    let mut store = Scanned::new(listing);
    store.roots = vec![(0, Strength::Strong)];
    assert_eq!(
        collector
            .collect(&mut store)
            .unwrap()
            .garbage()
            .collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn a_panicking_scan_returns_nothing_and_the_collector_recovers() {
    let listing: Vec<_> = (0..5).map(|k| (k, vec![], None)).collect();
    let mut collector = ScanCollector::new();
    let mut store = Scanned::new(listing.clone());
    store.fault = Fault::PanicAfter(3);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        collector.collect(&mut store).map(|c| c.garbage().count())
    }));
    assert!(panicked.is_err());
    let mut store = Scanned::new(listing);
    store.roots = vec![(4, Strength::Strong)];
    assert_eq!(
        collector
            .collect(&mut store)
            .unwrap()
            .garbage()
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

#[test]
fn pins_and_bad_limits_are_refused_explain_is_not() {
    let mut collector = ScanCollector::new();
    let mut store = Scanned::new(vec![(0, vec![], None)]);
    for options in [
        Options::default().pin("tag"),
        Options::default().sweep_limit(SweepLimit::default().max_share(1.5)),
    ] {
        let err = collector.collect_with(&mut store, &options).unwrap_err();
        assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
    }
    let options = Options::default().explain(true);
    assert_eq!(
        collector
            .collect_with(&mut store, &options)
            .unwrap()
            .garbage()
            .len(),
        1
    );
}

#[test]
fn a_sweep_over_the_limit_hands_back_what_it_would_sweep() {
    let mut store = Scanned::new((0..4).map(|k| (k, vec![], None)).collect());
    store.roots = vec![(1, Strength::Strong)];
    let options = Options::default().sweep_limit(SweepLimit::default().max_nodes(2));
    let err = ScanCollector::new()
        .collect_with(&mut store, &options)
        .unwrap_err();
    match err {
        Error::SweepLimitExceeded {
            would_sweep,
            listed,
            ..
        } => {
            assert_eq!(would_sweep, [0, 2, 3]);
            assert_eq!(listed, 4);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn the_grace_period_keeps_at_its_boundary_and_the_future() {
    let grace = Duration::from_secs(5);
    let mut store = Scanned::new(vec![
        (0, vec![(3, Strength::Strong)], Some(now() - grace)),
        (1, vec![], Some(now() - grace - Duration::from_nanos(1))),
        (2, vec![], Some(now() + Duration::from_secs(60))),
        (3, vec![], None),
    ]);
    let options = Options::default().now(now()).grace_period(grace);
    let mut collector = ScanCollector::new();
    let collection = collector.collect_with(&mut store, &options).unwrap();
    assert_eq!(collection.garbage().collect::<Vec<_>>(), [1]);
    assert_eq!(collection.stats().roots_by_kind.grace, 2);
    assert_eq!(collection.stats().next_deadline, Some(now()));
}

#[test]
fn a_lease_is_held_through_its_deadline_and_not_after() {
    let second = Duration::from_secs(1);
    let mut store = Scanned::new((0..4).map(|k| (k, vec![], None)).collect());
    store.listing[3].1 = vec![(2, Strength::Strong), (1, Strength::Strong)];
    store.deadlines.insert((3, 0), now());
    store.deadlines.insert((3, 1), now() - second);
    store.leases = vec![
        (0, Strength::Strong, now()),
        (3, Strength::Strong, now() + second),
        (1, Strength::Strong, now() - Duration::from_nanos(1)),
    ];
    let options = Options::default().now(now());
    let mut collector = ScanCollector::new();
    let collection = collector.collect_with(&mut store, &options).unwrap();
    // 0 and 3 are leased; 3's reference to 2 ends now (held), to 1 ended.
    assert_eq!(collection.garbage().collect::<Vec<_>>(), [1]);
    let counts = &collection.stats().roots_by_kind;
    assert_eq!((counts.leases, counts.leases_expired), (2, 1));
    assert_eq!(collection.stats().next_deadline, Some(now()));
    assert_eq!(
        collection.why_live(2),
        Some(vec![
            (3, Reason::Root(RootKind::Lease)),
            (2, Reason::Reference(Strength::Strong))
        ])
    );
    assert_eq!(collection.why_live(1), None);
}

/// Rows of `(key, references)` with `String` keys, listed as owned nodes
/// or as borrowed views (`Node<u8, &str, &str>`), which must hash alike.
struct Rows {
    rows: Vec<(String, Vec<String>)>,
    roots: Vec<String>,
    views: bool,
}

type Owned = Node<u8, String, String>;

impl ScanContext for Rows {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = StoreError;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, String, String>) -> Result<(), StoreError> {
        for (i, (key, refs)) in self.rows.iter().enumerate() {
            let owned = |key: &str| Owned::new(1, "ns".into(), key.into());
            // Mixed: views for every other row, and for every other
            // reference, so that views meet owned nodes both ways.
            let mut node = if self.views && i % 2 == 0 {
                nodes.push_view(&Node::new(1u8, "ns", key.as_str()))
            } else {
                nodes.push(&owned(key))
            };
            for (j, target) in refs.iter().enumerate() {
                if self.views && j % 2 == 0 {
                    node.add_view(&Node::new(1u8, "ns", target.as_str()), Strength::Strong);
                } else {
                    node.strong(&owned(target));
                }
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ScanRoots<'_, u8, String, String>) -> Result<(), StoreError> {
        for key in &self.roots {
            if self.views {
                roots.add_view(&Node::new(1u8, "ns", key.as_str()), Strength::Strong);
            } else {
                roots.strong(&Node::new(1, "ns".into(), key.clone()));
            }
        }
        Ok(())
    }
}

#[test]
fn views_hash_as_the_nodes_they_stand_for() {
    let row = |key: &str, refs: &[&str]| {
        (
            key.to_string(),
            refs.iter().map(|r| r.to_string()).collect(),
        )
    };
    let rows = vec![
        row("a", &["b", "c"]),
        row("b", &["d", "e"]),
        row("c", &[]),
        row("d", &["f"]),
        row("e", &[]),
        row("f", &[]),
        row("g", &["a", "h"]),
        row("h", &[]),
    ];
    let mut collector = ScanCollector::new();
    let mut garbage = Vec::new();
    for views in [false, true] {
        let mut store = Rows {
            rows: rows.clone(),
            roots: vec!["a".into()],
            views,
        };
        let collection = collector.collect(&mut store).unwrap();
        assert_eq!(collection.stats().nodes_marked, 6, "views: {views}");
        garbage.push(collection.garbage().collect::<Vec<_>>());
    }
    assert_eq!(garbage, [[6, 7], [6, 7]]);
}
