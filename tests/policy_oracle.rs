//! Property tests of the policies against a naive oracle.
//!
//! The oracle is a plain breadth-first search (strong expands, flat keeps
//! only, weak keeps nothing) extended with every policy, computed the
//! obvious way from the scenario:
//!
//! - expiring roots: held while `now` is before the deadline; at or after
//!   it, not a root;
//! - grace: a listed node with a last-used time within the grace period of
//!   `now` (or in the future) is a strong root; a period of zero disables;
//! - pins: a name → nodes map; a name that maps to nothing is unknown;
//! - retention: per-group histories, newest first; the newest `keep_last`
//!   and those younger than `keep_younger_than` strong, the rest weak; no
//!   rule at all keeps every entry;
//! - back-references: `(child, parent)`, followed as a strong reference
//!   from the parent whenever the parent is expanded, listed or not.
//!
//! Properties: the crate agrees with the oracle exactly (garbage in listing
//! order, liveness of every node, counts), and is monotone in each policy:
//! a longer grace period, more pins, a larger `keep_last` or
//! `keep_younger_than`, a later deadline never sweep more.
//!
//! The case count comes from `PROPTEST_CASES` (proptest's default config
//! reads it).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use resource_gc::{
    CollectionContext, Collector, Node, NodeSink, Options, ReferenceSink, Retention, RootCounts,
    Stats, Strength,
};

type N = Node<u8, u8, u32>;

fn n(key: u32) -> N {
    Node::new(0, 0, key)
}

/// The time the collections run at; scenario times are offsets from it in
/// seconds, negative in the past.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000)
}

fn at(offset: i64) -> SystemTime {
    if offset >= 0 {
        now() + Duration::from_secs(offset as u64)
    } else {
        now() - Duration::from_secs(offset.unsigned_abs())
    }
}

/// Whether something at `offset` is within `period` seconds of now: the
/// crate's rule for grace periods and `keep_younger_than`, restated.
fn within(offset: i64, period: u64) -> bool {
    period > 0 && -offset < period as i64
}

// ---------------------------------------------------------------------------
// Scenarios.

#[derive(Clone, Debug)]
struct Scenario {
    /// Keys are `0..universe`.
    universe: u32,
    /// The listing in order, duplicates included, each with its last-used
    /// offset, if any.
    listed: Vec<(u32, Option<i64>)>,
    edges: Vec<(u32, u32, Strength)>,
    roots: Vec<(u32, Strength)>,
    /// Expiring roots: target, strength, deadline offset.
    leases: Vec<(u32, Strength, i64)>,
    /// Histories, newest first: target and creation offset.
    histories: Vec<Vec<(u32, i64)>>,
    keep_last: Option<usize>,
    /// Seconds.
    keep_younger_than: Option<u64>,
    /// Seconds; zero disables.
    grace: u64,
    /// What each pin name resolves to; an empty list is unknown too.
    pin_map: BTreeMap<String, Vec<u32>>,
    /// `Options::pins`, possibly naming names the map lacks.
    pins: Vec<String>,
    /// Back-references `(child, parent)`.
    bindings: Vec<(u32, u32)>,
}

const PIN_NAMES: [&str; 6] = ["p0", "p1", "p2", "p3", "unknown-1", "unknown-2"];

fn pin_names() -> impl Strategy<Value = Vec<String>> {
    vec(select(&PIN_NAMES[..]).prop_map(String::from), 0..=4)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1u32..=30)
        .prop_flat_map(|universe| {
            let key = 0..universe;
            let graph = (
                vec((key.clone(), option::of(-30i64..=5)), 0..=40),
                vec((key.clone(), key.clone(), common::any_strength()), 0..=50),
                vec((key.clone(), common::any_strength()), 0..=4),
                vec((key.clone(), common::any_strength(), -10i64..=10), 0..=4),
            );
            let policy = (
                vec(vec((key.clone(), -40i64..=5), 0..=6), 0..=3),
                option::of(0usize..=4),
                option::of(0u64..=30),
                0u64..=30,
                vec(vec(key.clone(), 0..=3), 4),
                pin_names(),
                vec((key.clone(), key), 0..=8),
            );
            (Just(universe), graph, policy)
        })
        .prop_map(|(universe, graph, policy)| {
            let (listed, edges, roots, leases) = graph;
            let (histories, keep_last, keep_younger_than, grace, targets, pins, bindings) = policy;
            let pin_map = PIN_NAMES[..4]
                .iter()
                .map(|name| name.to_string())
                .zip(targets)
                .collect();
            Scenario {
                universe,
                listed,
                edges,
                roots,
                leases,
                histories,
                keep_last,
                keep_younger_than,
                grace,
                pin_map,
                pins,
                bindings,
            }
        })
}

impl Scenario {
    fn rule(&self) -> Retention {
        let mut rule = Retention::default();
        rule.keep_last = self.keep_last;
        rule.keep_younger_than = self.keep_younger_than.map(Duration::from_secs);
        rule
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.now = Some(now());
        options.grace_period = Duration::from_secs(self.grace);
        options.pins = self.pins.clone();
        options
    }
}

// ---------------------------------------------------------------------------
// The embedder: a store over the scenario.

struct Store<'a> {
    s: &'a Scenario,
    adjacency: HashMap<u32, Vec<(u32, Strength)>>,
    rule: Retention,
}

impl<'a> Store<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut adjacency: HashMap<u32, Vec<(u32, Strength)>> = HashMap::new();
        for &(from, to, strength) in &s.edges {
            adjacency.entry(from).or_default().push((to, strength));
        }
        Store {
            s,
            adjacency,
            rule: s.rule(),
        }
    }
}

impl CollectionContext for Store<'_> {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        for &(key, used) in &self.s.listed {
            match used {
                Some(offset) => nodes.push_used(&n(key), at(offset)),
                None => nodes.push(&n(key)),
            }
        }
        for &(child, parent) in &self.s.bindings {
            nodes.lives_with(&n(child), &n(parent));
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Infallible> {
        for &(key, strength) in &self.s.roots {
            roots.add(&n(key), strength);
        }
        for &(key, strength, deadline) in &self.s.leases {
            roots.expiring(&n(key), strength, at(deadline));
        }
        for history in &self.s.histories {
            let entries: Vec<(N, SystemTime)> =
                history.iter().map(|&(k, c)| (n(k), at(c))).collect();
            roots.history(entries.iter().map(|(node, t)| (node, *t)), &self.rule);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &N,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        for &(target, strength) in self.adjacency.get(&node.key).into_iter().flatten() {
            refs.add(&n(target), strength);
        }
        Ok(())
    }

    fn resolve_pin(
        &mut self,
        name: &str,
        pins: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Infallible> {
        for &key in self.s.pin_map.get(name).into_iter().flatten() {
            pins.strong(&n(key));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The oracle.

#[derive(Debug, Default, PartialEq)]
struct Counts {
    explicit: usize,
    leases: usize,
    leases_expired: usize,
    grace: usize,
    pins: usize,
    retained: usize,
    back_references: usize,
}

impl Counts {
    fn of(r: &RootCounts) -> Counts {
        Counts {
            explicit: r.explicit,
            leases: r.leases,
            leases_expired: r.leases_expired,
            grace: r.grace,
            pins: r.pins,
            retained: r.retained,
            back_references: r.back_references,
        }
    }
}

#[derive(Debug, Default, PartialEq)]
struct Expected {
    /// Listed keys that are not live, each once, in first-listing order.
    garbage: Vec<u32>,
    /// Listed keys that are live, each once, in first-listing order.
    live_listed: Vec<u32>,
    /// Liveness of every key of the universe.
    is_live: Vec<bool>,
    nodes_listed: usize,
    nodes_marked: usize,
    nodes_expanded: usize,
    /// Strong and flat roots from `roots`: plain, unexpired, retained.
    roots: usize,
    /// Weak roots (plain, unexpired, history) and weak references read.
    weak_references: usize,
    references_followed: usize,
    dead_edges: usize,
    counts: Counts,
    unknown_pins: Vec<String>,
}

/// The breadth-first mark: what is live, what was reached strongly, and
/// the strongly reached nodes whose references are still to be read.
#[derive(Default)]
struct Mark {
    live: BTreeSet<u32>,
    expanded: BTreeSet<u32>,
    queue: VecDeque<u32>,
}

impl Mark {
    fn reach(&mut self, key: u32, strength: Strength) {
        match strength {
            Strength::Weak => {}
            Strength::Flat => {
                self.live.insert(key);
            }
            Strength::Strong => {
                self.live.insert(key);
                if self.expanded.insert(key) {
                    self.queue.push_back(key);
                }
            }
            other => unreachable!("this oracle's scenarios never emit {other:?}"),
        }
    }
}

fn oracle(s: &Scenario) -> Expected {
    let mut e = Expected::default();
    let mut m = Mark::default();

    for &(key, strength) in &s.roots {
        if strength == Strength::Weak {
            e.weak_references += 1;
        } else {
            e.roots += 1;
            e.counts.explicit += 1;
        }
        m.reach(key, strength);
    }
    for &(key, strength, deadline) in &s.leases {
        if deadline <= 0 {
            e.counts.leases_expired += 1;
            continue;
        }
        if strength == Strength::Weak {
            e.weak_references += 1;
        } else {
            e.roots += 1;
            e.counts.leases += 1;
        }
        m.reach(key, strength);
    }
    let no_rule = s.keep_last.is_none() && s.keep_younger_than.is_none();
    for history in &s.histories {
        for (rank, &(key, created)) in history.iter().enumerate() {
            let kept = no_rule
                || s.keep_last.is_some_and(|k| rank < k)
                || s.keep_younger_than.is_some_and(|age| within(created, age));
            if kept {
                e.roots += 1;
                e.counts.retained += 1;
                m.reach(key, Strength::Strong);
            } else {
                e.weak_references += 1;
            }
        }
    }
    for name in &s.pins {
        match s.pin_map.get(name) {
            Some(keys) if !keys.is_empty() => {
                e.counts.pins += keys.len();
                keys.iter().for_each(|&k| m.reach(k, Strength::Strong));
            }
            _ => e.unknown_pins.push(name.clone()),
        }
    }
    let young: BTreeSet<u32> = s
        .listed
        .iter()
        .filter(|(_, used)| used.is_some_and(|offset| within(offset, s.grace)))
        .map(|&(key, _)| key)
        .collect();
    e.counts.grace = young.len();
    young.iter().for_each(|&k| m.reach(k, Strength::Strong));

    let listed: BTreeSet<u32> = s.listed.iter().map(|&(k, _)| k).collect();
    let mut adjacency: HashMap<u32, Vec<(u32, Strength)>> = HashMap::new();
    for &(from, to, strength) in &s.edges {
        adjacency.entry(from).or_default().push((to, strength));
    }
    let bindings: BTreeSet<(u32, u32)> = s.bindings.iter().map(|&(c, p)| (p, c)).collect();
    while let Some(from) = m.queue.pop_front() {
        for &(to, strength) in adjacency.get(&from).into_iter().flatten() {
            if strength == Strength::Weak {
                e.weak_references += 1;
            } else {
                e.references_followed += 1;
                if !listed.contains(&to) {
                    e.dead_edges += 1;
                }
            }
            m.reach(to, strength);
        }
        for &(_, child) in bindings.range((from, 0)..=(from, u32::MAX)) {
            e.counts.back_references += 1;
            m.reach(child, Strength::Strong);
        }
    }

    let mut seen = BTreeSet::new();
    for &(key, _) in &s.listed {
        if seen.insert(key) {
            if m.live.contains(&key) {
                e.live_listed.push(key);
            } else {
                e.garbage.push(key);
            }
        }
    }
    e.nodes_listed = seen.len();
    e.nodes_marked = m.live.len();
    e.nodes_expanded = m.expanded.len();
    e.is_live = (0..s.universe).map(|k| m.live.contains(&k)).collect();
    e
}

// ---------------------------------------------------------------------------
// The crate.

type Gc = Collector<u8, u8, u32>;

fn observe(gc: &mut Gc, s: &Scenario, options: &Options) -> (Expected, Stats) {
    let mut store = Store::new(s);
    let c = gc
        .collect_with(&mut store, options)
        .expect("the store never fails");
    let stats = c.stats().clone();
    let o = Expected {
        garbage: c.garbage().map(|node| node.key).collect(),
        live_listed: c.live().map(|node| node.key).collect(),
        is_live: (0..s.universe).map(|k| c.is_live(&n(k))).collect(),
        nodes_listed: stats.nodes_listed,
        nodes_marked: stats.nodes_marked,
        nodes_expanded: stats.nodes_expanded,
        roots: stats.roots,
        weak_references: stats.weak_references,
        references_followed: stats.references_followed,
        dead_edges: stats.dead_edges,
        counts: Counts::of(&stats.roots_by_kind),
        unknown_pins: stats.unknown_pins.clone(),
    };
    (o, stats)
}

/// The garbage of one collection with the scenario's own options.
fn garbage(s: &Scenario) -> BTreeSet<u32> {
    let (o, _) = observe(&mut Gc::new(), s, &s.options());
    o.garbage.into_iter().collect()
}

fn assert_subset(more: &BTreeSet<u32>, less: &BTreeSet<u32>) -> Result<(), TestCaseError> {
    prop_assert!(
        more.is_subset(less),
        "swept more: {:?} not in {:?}",
        more.difference(less).collect::<Vec<_>>(),
        less
    );
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn the_crate_agrees_with_the_oracle(s in scenario()) {
        let expected = oracle(&s);
        let mut gc = Gc::new();
        let (first, stats) = observe(&mut gc, &s, &s.options());
        prop_assert_eq!(&first, &expected);
        prop_assert_eq!(stats.nodes_swept, expected.garbage.len());
        // A reused collector answers the same.
        let (second, _) = observe(&mut gc, &s, &s.options());
        prop_assert_eq!(&second, &expected);
    }

    #[test]
    fn a_longer_grace_period_never_sweeps_more(s in scenario(), extra in 0u64..=30) {
        let mut longer = s.clone();
        longer.grace += extra;
        assert_subset(&garbage(&longer), &garbage(&s))?;
    }

    #[test]
    fn more_pins_never_sweep_more(s in scenario(), extra in pin_names()) {
        let mut more = s.clone();
        more.pins.extend(extra);
        assert_subset(&garbage(&more), &garbage(&s))?;
    }

    #[test]
    fn a_larger_keep_last_never_sweeps_more(
        s in scenario(),
        keep in 0usize..=4,
        extra in 0usize..=4,
    ) {
        let mut s = s;
        s.keep_last = Some(keep);
        let mut larger = s.clone();
        larger.keep_last = Some(keep + extra);
        assert_subset(&garbage(&larger), &garbage(&s))?;
    }

    #[test]
    fn a_larger_keep_younger_than_never_sweeps_more(
        s in scenario(),
        age in 0u64..=30,
        extra in 0u64..=30,
    ) {
        let mut s = s;
        s.keep_younger_than = Some(age);
        let mut larger = s.clone();
        larger.keep_younger_than = Some(age + extra);
        assert_subset(&garbage(&larger), &garbage(&s))?;
    }

    #[test]
    fn a_later_deadline_never_sweeps_more(
        s in scenario(),
        extras in vec(0i64..=10, 4),
    ) {
        let mut later = s.clone();
        for (lease, extra) in later.leases.iter_mut().zip(extras) {
            lease.2 += extra;
        }
        assert_subset(&garbage(&later), &garbage(&s))?;
    }
}
