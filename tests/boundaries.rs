//! The keep-at-the-boundary rule: every policy that compares with `now`
//! keeps at exact equality, and a nanosecond decides either side.
//!
//! - an expiring reference (a lease) holds while `now <= expires`;
//! - a node listed with a last use is a strong root while `now - last_used
//!   <= grace`, or when last used after `now`, a zero grace included;
//! - a history entry is kept by `keep_younger_than` on the same rule, and
//!   by `keep_last` while its rank (newest first, by time) is below `n`;
//! - a sweep limit is "at most": exactly the limit goes ahead;
//! - a time limit reached exactly is past: `Duration::ZERO` always trips.
//!
//! Each test pins `Options::now`, so nothing sleeps.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resource_gc::{
    CollectionContext, Collector, Error, Node, NodeSink, Options, ReferenceSink, Retention,
    RootCounts, Stats, Strength, SweepLimit,
};

type N = Node<(), (), &'static str>;

fn n(key: &'static str) -> N {
    Node::new((), (), key)
}

const NS: Duration = Duration::from_nanos(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A minimal store: listed nodes (some with a last use), strong edges,
/// plain strong roots, leases and histories.
#[derive(Default)]
struct Store {
    nodes: Vec<(&'static str, Option<SystemTime>)>,
    edges: Vec<(&'static str, &'static str)>,
    roots: Vec<&'static str>,
    /// (node, strength, expires): emitted with `ReferenceSink::expiring`.
    leases: Vec<(&'static str, Strength, SystemTime)>,
    /// Entries with their creation time, and the rule.
    histories: Vec<(Vec<(&'static str, SystemTime)>, Retention)>,
}

impl Store {
    fn node(&mut self, key: &'static str) -> &mut Self {
        self.nodes.push((key, None));
        self
    }
    fn used(&mut self, key: &'static str, at: SystemTime) -> &mut Self {
        self.nodes.push((key, Some(at)));
        self
    }
    fn edge(&mut self, from: &'static str, to: &'static str) -> &mut Self {
        self.edges.push((from, to));
        self
    }
}

impl CollectionContext for Store {
    type Kind = ();
    type Namespace = ();
    type Key = &'static str;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, (), (), &'static str>) -> Result<(), Infallible> {
        for &(key, last_used) in &self.nodes {
            match last_used {
                Some(at) => nodes.push_used(&n(key), at),
                None => nodes.push(&n(key)),
            }
        }
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, (), (), &'static str>,
    ) -> Result<(), Infallible> {
        for &key in &self.roots {
            roots.strong(&n(key));
        }
        for &(key, strength, expires) in &self.leases {
            roots.expiring(&n(key), strength, expires);
        }
        for (entries, rule) in &self.histories {
            let nodes: Vec<(N, SystemTime)> = entries.iter().map(|&(k, t)| (n(k), t)).collect();
            roots.history(nodes.iter().map(|(node, t)| (node, *t)), rule);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &N,
        refs: &mut ReferenceSink<'_, (), (), &'static str>,
    ) -> Result<(), Infallible> {
        for &(from, to) in &self.edges {
            if from == node.key {
                refs.strong(&n(to));
            }
        }
        Ok(())
    }
}

fn options_at(at: SystemTime) -> Options {
    let mut o = Options::default();
    o.now = Some(at);
    o
}

/// The garbage, in listing order, and the stats.
fn collect(
    store: &mut Store,
    options: &Options,
) -> Result<(Vec<&'static str>, Stats), Error<Infallible, N>> {
    let mut collector = Collector::new();
    let collection = collector.collect_with(store, options)?;
    let garbage = collection.garbage().map(|node| node.key).collect();
    Ok((garbage, collection.stats().clone()))
}

fn garbage_at(store: &mut Store, at: SystemTime) -> (Vec<&'static str>, Stats) {
    collect(store, &options_at(at)).expect("the store never fails")
}

// ---------------------------------------------------------------------------
// Expiring references (leases).

#[test]
fn a_lease_holds_until_its_deadline_inclusive() {
    let deadline = now();
    for (at, held) in [
        (deadline - NS, true),
        (deadline, true),
        (deadline + NS, false),
    ] {
        let mut store = Store::default();
        // A lease node, held until the deadline, holding a blob and, through
        // it, a layer.
        store
            .node("lease")
            .node("blob")
            .node("layer")
            .edge("lease", "blob")
            .edge("blob", "layer");
        store.leases.push(("lease", Strength::Strong, deadline));
        let (garbage, stats) = garbage_at(&mut store, at);
        let mut counts = RootCounts::default();
        if held {
            counts.leases = 1;
            assert_eq!(garbage, Vec::<&str>::new(), "at {at:?}");
        } else {
            counts.leases_expired = 1;
            assert_eq!(garbage, ["lease", "blob", "layer"], "at {at:?}");
        }
        assert_eq!(stats.roots_by_kind, counts, "at {at:?}");
    }
}

#[test]
fn a_flat_lease_holds_its_node_until_its_deadline_inclusive() {
    let deadline = now() + HOUR;
    for (at, held) in [
        (deadline - NS, true),
        (deadline, true),
        (deadline + NS, false),
    ] {
        let mut store = Store::default();
        store.node("blob").node("layer").edge("blob", "layer");
        store.leases.push(("blob", Strength::Flat, deadline));
        let (garbage, stats) = garbage_at(&mut store, at);
        if held {
            // Flat: the blob, not what it references.
            assert_eq!(garbage, ["layer"], "at {at:?}");
            assert_eq!(stats.roots_by_kind.leases, 1);
        } else {
            assert_eq!(garbage, ["blob", "layer"], "at {at:?}");
            assert_eq!(stats.roots_by_kind.leases_expired, 1);
        }
    }
}

#[test]
fn a_weak_lease_is_not_counted_as_holding() {
    let mut store = Store::default();
    store.node("blob");
    store.leases.push(("blob", Strength::Weak, now()));
    let (garbage, stats) = garbage_at(&mut store, now());
    assert_eq!(garbage, ["blob"]);
    assert_eq!(stats.roots_by_kind, RootCounts::default());
}

// ---------------------------------------------------------------------------
// Grace period.

/// Whether a node last used at `last_used` is kept at `now()` with
/// `grace`; asserts that what it references is kept or swept with it.
fn grace_keeps(grace: Duration, last_used: SystemTime) -> bool {
    let mut store = Store::default();
    store
        .used("young", last_used)
        .node("child")
        .node("grandchild")
        .edge("young", "child")
        .edge("child", "grandchild");
    let mut options = options_at(now());
    options.grace_period = grace;
    let (garbage, stats) = collect(&mut store, &options).unwrap();
    let kept = garbage.is_empty();
    if kept {
        assert_eq!(stats.roots_by_kind.grace, 1);
    } else {
        assert_eq!(garbage, ["young", "child", "grandchild"], "all or nothing");
        assert_eq!(stats.roots_by_kind.grace, 0);
    }
    kept
}

#[test]
fn grace_keeps_a_node_used_exactly_a_grace_period_ago() {
    let grace = HOUR;
    assert!(
        !grace_keeps(grace, now() - grace - NS),
        "a nanosecond too old"
    );
    assert!(grace_keeps(grace, now() - grace), "exactly as old");
    assert!(
        grace_keeps(grace, now() - grace + NS),
        "a nanosecond younger"
    );
    assert!(grace_keeps(grace, now()), "used now");
}

#[test]
fn grace_keeps_a_node_stamped_after_now() {
    for grace in [HOUR, Duration::ZERO] {
        assert!(grace_keeps(grace, now() + NS), "{grace:?}");
        assert!(grace_keeps(grace, now() + DAY), "{grace:?}");
    }
}

#[test]
fn a_zero_grace_keeps_only_what_was_used_at_or_after_now() {
    assert!(grace_keeps(Duration::ZERO, now()));
    assert!(!grace_keeps(Duration::ZERO, now() - NS));
    assert!(!grace_keeps(Duration::ZERO, now() - DAY));
}

#[test]
fn grace_counts_each_kept_node_once_and_sweeps_the_rest() {
    let grace = HOUR;
    let mut store = Store::default();
    store
        .used("old", now() - grace - NS)
        .used("edge", now() - grace)
        .used("inside", now() - grace + NS)
        .used("ahead", now() + NS)
        .node("old-child")
        .node("edge-child")
        .edge("old", "old-child")
        .edge("edge", "edge-child");
    let mut options = options_at(now());
    options.grace_period = grace;
    let (garbage, stats) = collect(&mut store, &options).unwrap();
    assert_eq!(garbage, ["old", "old-child"]);
    assert_eq!(stats.roots_by_kind.grace, 3);
}

// ---------------------------------------------------------------------------
// Retention.

fn younger_than(age: Duration) -> Retention {
    let mut rule = Retention::default();
    rule.keep_younger_than = Some(age);
    rule
}

fn last(count: usize) -> Retention {
    let mut rule = Retention::default();
    rule.keep_last = Some(count);
    rule
}

/// The garbage of one history whose entries are the only listed nodes.
fn history_garbage(
    entries: &[(&'static str, SystemTime)],
    rule: Retention,
) -> (Vec<&'static str>, Stats) {
    let mut store = Store::default();
    for &(key, _) in entries {
        store.node(key);
    }
    store.histories.push((entries.to_vec(), rule));
    garbage_at(&mut store, now())
}

#[test]
fn keep_younger_than_keeps_an_entry_exactly_that_old() {
    let age = DAY;
    let entries = [
        ("older", now() - age - NS),
        ("exact", now() - age),
        ("younger", now() - age + NS),
        ("future", now() + NS),
    ];
    let (garbage, stats) = history_garbage(&entries, younger_than(age));
    assert_eq!(garbage, ["older"]);
    assert_eq!(stats.roots_by_kind.retained, 3);
    assert_eq!(stats.weak_references, 1);
}

#[test]
fn keep_younger_than_with_a_zero_age_keeps_now_and_later() {
    let entries = [
        ("before", now() - NS),
        ("now", now()),
        ("after", now() + NS),
    ];
    let (garbage, _) = history_garbage(&entries, younger_than(Duration::ZERO));
    assert_eq!(garbage, ["before"]);
}

#[test]
fn a_kept_entry_keeps_what_it_references() {
    let mut store = Store::default();
    store
        .node("old")
        .node("new")
        .node("old-blob")
        .node("new-blob")
        .edge("old", "old-blob")
        .edge("new", "new-blob");
    let entries = vec![("old", now() - DAY - NS), ("new", now() - DAY)];
    store.histories.push((entries, younger_than(DAY)));
    let (garbage, _) = garbage_at(&mut store, now());
    assert_eq!(garbage, ["old", "old-blob"]);
}

fn at_minutes(m: u64) -> SystemTime {
    now() - DAY + Duration::from_secs(60 * m)
}

#[test]
fn keep_last_keeps_the_truly_newest_whatever_the_input_order() {
    // t5 is the newest.
    let t = |i: u64| at_minutes(i);
    let sorted = [
        ("t5", t(5)),
        ("t4", t(4)),
        ("t3", t(3)),
        ("t2", t(2)),
        ("t1", t(1)),
    ];
    let mut reversed = sorted;
    reversed.reverse();
    let shuffled = [
        ("t3", t(3)),
        ("t5", t(5)),
        ("t1", t(1)),
        ("t4", t(4)),
        ("t2", t(2)),
    ];
    for entries in [sorted, reversed, shuffled] {
        let (mut garbage, stats) = history_garbage(&entries, last(2));
        garbage.sort_unstable();
        assert_eq!(garbage, ["t1", "t2", "t3"], "{entries:?}");
        assert_eq!(stats.roots_by_kind.retained, 2);
    }
}

#[test]
fn keep_last_keeps_ranks_below_n() {
    let entries = [
        ("a", at_minutes(3)),
        ("b", at_minutes(2)),
        ("c", at_minutes(1)),
    ];
    for (count, kept) in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3)] {
        let (garbage, stats) = history_garbage(&entries, last(count));
        assert_eq!(garbage.len(), 3 - kept, "keep_last {count}");
        assert_eq!(stats.roots_by_kind.retained, kept, "keep_last {count}");
    }
}

#[test]
fn entries_created_at_the_same_instant_keep_their_input_order() {
    let same = at_minutes(0);
    let (garbage, _) = history_garbage(&[("a", same), ("b", same), ("c", same)], last(2));
    assert_eq!(garbage, ["c"]);
    let (garbage, _) = history_garbage(&[("c", same), ("b", same), ("a", same)], last(2));
    assert_eq!(garbage, ["a"]);
    // Ties below a strictly newer entry: the newer ranks first, then the
    // tied ones in input order.
    let entries = [
        ("x", same),
        ("y", same),
        ("newest", at_minutes(1)),
        ("z", same),
    ];
    let (garbage, _) = history_garbage(&entries, last(2));
    assert_eq!(garbage, ["y", "z"]);
}

// ---------------------------------------------------------------------------
// Sweep limit.

/// Eight listed nodes: four held by a root, four garbage.
fn half_garbage() -> Store {
    let mut store = Store::default();
    for key in ["g1", "live1", "g2", "live2", "g3", "live3", "g4", "live4"] {
        store.node(key);
    }
    store.roots = vec!["live1", "live2", "live3", "live4"];
    store
}

fn limited(limit: SweepLimit) -> Result<Vec<&'static str>, Error<Infallible, N>> {
    let mut options = options_at(now());
    options.sweep_limit = limit;
    collect(&mut half_garbage(), &options).map(|(garbage, _)| garbage)
}

fn max_nodes(max: usize) -> SweepLimit {
    let mut limit = SweepLimit::default();
    limit.max_nodes = Some(max);
    limit
}

fn max_share(share: f64) -> SweepLimit {
    let mut limit = SweepLimit::default();
    limit.max_share = Some(share);
    limit
}

fn assert_trips(result: Result<Vec<&'static str>, Error<Infallible, N>>, expected: SweepLimit) {
    match result {
        Err(Error::SweepLimitExceeded {
            would_sweep,
            listed,
            limit,
        }) => {
            let keys: Vec<&str> = would_sweep.iter().map(|node| node.key).collect();
            assert_eq!(keys, ["g1", "g2", "g3", "g4"]);
            assert_eq!(listed, 8);
            assert_eq!(limit, expected);
        }
        other => panic!("{expected:?}: expected SweepLimitExceeded, got {other:?}"),
    }
}

#[test]
fn sweeping_exactly_max_nodes_goes_ahead_one_more_trips() {
    assert_eq!(limited(max_nodes(4)).unwrap(), ["g1", "g2", "g3", "g4"]);
    assert_eq!(limited(max_nodes(5)).unwrap().len(), 4);
    assert_trips(limited(max_nodes(3)), max_nodes(3));
    assert_trips(limited(max_nodes(0)), max_nodes(0));
}

#[test]
fn sweeping_exactly_max_share_goes_ahead_less_trips() {
    // 4 of 8: a share of exactly 0.5 allows it; 3/8 (exact in binary) does not.
    assert_eq!(limited(max_share(0.5)).unwrap().len(), 4);
    assert_trips(limited(max_share(0.375)), max_share(0.375));
    assert_trips(limited(max_share(0.0)), max_share(0.0));
}

#[test]
fn max_share_zero_allows_sweeping_nothing() {
    let mut store = Store::default();
    store.node("live");
    store.roots = vec!["live"];
    let mut options = options_at(now());
    options.sweep_limit = max_share(0.0);
    let (garbage, _) = collect(&mut store, &options).unwrap();
    assert!(garbage.is_empty());
}

// ---------------------------------------------------------------------------
// Time limit.

#[test]
fn a_zero_time_limit_always_times_out_and_sweeps_nothing() {
    let mut store = half_garbage();
    let mut options = options_at(now());
    options.time_limit = Some(Duration::ZERO);
    let mut collector = Collector::new();
    for _ in 0..3 {
        match collector.collect_with(&mut store, &options) {
            Err(Error::TimedOut { limit, .. }) => assert_eq!(limit, Duration::ZERO),
            Err(other) => panic!("expected TimedOut, got {other:?}"),
            Ok(collection) => panic!(
                "a zero time limit let the collection through: {:?}",
                collection.garbage().collect::<Vec<_>>()
            ),
        }
    }
    // Without the limit, the same collector finds the garbage.
    options.time_limit = None;
    let collection = collector.collect_with(&mut store, &options).unwrap();
    assert_eq!(collection.garbage().count(), 4);
}

/// The earliest instant past which a decision of this collection changes:
/// the scheduler's wake-up when nothing is written (containerd#6294).
#[test]
fn the_next_deadline_is_the_earliest_lease_grace_or_age_still_ahead() {
    let minute = Duration::from_secs(60);
    let mut store = Store::default();
    store
        .node("leased")
        .node("expired")
        .used("young", now() - 30 * minute)
        .used("old", now() - 2 * HOUR)
        .node("new-tag")
        .node("old-tag");
    store.leases = vec![
        ("leased", Strength::Strong, now() + HOUR),
        ("expired", Strength::Strong, now() - NS),
        ("leased", Strength::Weak, now() + minute),
    ];
    let mut options = options_at(now());
    options.grace_period = HOUR;

    let (_, stats) = collect(&mut store, &options).unwrap();
    assert_eq!(
        stats.next_deadline,
        Some(now() + 30 * minute),
        "the grace end"
    );

    let mut rule = Retention::default();
    rule.keep_younger_than = Some(HOUR);
    store.histories = vec![(
        vec![("new-tag", now() - 50 * minute), ("old-tag", now() - DAY)],
        rule,
    )];
    let (garbage, stats) = collect(&mut store, &options).unwrap();
    assert_eq!(
        stats.next_deadline,
        Some(now() + 10 * minute),
        "the tag's age"
    );
    assert!(garbage.contains(&"old-tag") && garbage.contains(&"expired"));

    // Nothing time-based ahead: no deadline. A weak lease keeps nothing,
    // so its deadline decides nothing.
    let mut quiet = Store::default();
    quiet.node("a").leases = vec![("a", Strength::Weak, now() + HOUR)];
    assert_eq!(collect(&mut quiet, &options).unwrap().1.next_deadline, None);
}
