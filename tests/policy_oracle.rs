//! Property tests of the policies against a naive oracle.
//!
//! The oracle is a breadth-first search over pairs (node, how it is
//! reached: strongly or flat), with the strength rules (from a node reached
//! strongly: strong and structural references reach strongly, flat ones
//! flat; from a node reached flat: structural references alone, flat; weak
//! keeps nothing), extended with every policy, computed the obvious way
//! from the scenario:
//!
//! - expiring roots: held while `now` is at or before the deadline; only
//!   past it, not a root;
//! - grace: a listed node last used at most the grace period before `now`
//!   (exactly that long included), or after `now`, is a strong root; a
//!   period of zero keeps what was used at `now` or later;
//! - pins: a name → nodes map; a name that maps to nothing is unknown;
//! - retention: per-group histories given in any order, ranked newest
//!   first (equal times in the order given); the first `keep_last` and
//!   those at most `keep_younger_than` old (or from the future) strong, the
//!   rest weak; no rule at all keeps every entry;
//! - back-references: `(child, parent, strength)` (`lives_with` is a
//!   structural one), followed as a reference of that strength from the
//!   parent, on each reach of the parent, listed or not.
//!
//! The scenarios hit the boundaries on purpose: last-used times exactly a
//! grace period old, deadlines exactly `now`, history entries exactly
//! `keep_younger_than` old, a grace period of zero with stamps at `now`.
//!
//! Properties: the crate agrees with the oracle exactly (garbage in listing
//! order, liveness of every node, counts), and is monotone in each policy:
//! a longer grace period, more pins, a larger `keep_last` or
//! `keep_younger_than`, a later deadline never sweep more.
//!
//! The case count comes from `PROPTEST_CASES` (proptest's default config
//! reads it).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
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

/// Whether something stamped at `offset` is within `period` seconds of now:
/// at most that old, exactly that old included, or from the future. The
/// crate's rule for grace periods and `keep_younger_than`, restated.
fn within(offset: i64, period: u64) -> bool {
    -offset <= period as i64
}

/// Whether a deadline at `offset` still holds: `now` at or before it.
fn holds(deadline: i64) -> bool {
    deadline >= 0
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
    /// Histories, in the order the store reads them (any): target and
    /// creation offset.
    histories: Vec<Vec<(u32, i64)>>,
    keep_last: Option<usize>,
    /// Seconds.
    keep_younger_than: Option<u64>,
    /// Seconds; zero keeps only stamps at `now` or later.
    grace: u64,
    /// What each pin name resolves to; an empty list is unknown too.
    pin_map: BTreeMap<String, Vec<u32>>,
    /// `Options::pins`, possibly naming names the map lacks.
    pins: Vec<String>,
    /// Back-references `(child, parent, strength)`; `None` is `lives_with`.
    bindings: Vec<(u32, u32, Option<Strength>)>,
}

const PIN_NAMES: [&str; 6] = ["p0", "p1", "p2", "p3", "unknown-1", "unknown-2"];

fn pin_names() -> impl Strategy<Value = Vec<String>> {
    vec(select(&PIN_NAMES[..]).prop_map(String::from), 0..=4)
}

/// A time offset: either anywhere in `range`, or within a second of a
/// boundary `-period` that is known only once the scenario is drawn
/// (`Near(delta)`).
#[derive(Clone, Copy, Debug)]
enum Stamp {
    At(i64),
    Near(i64),
}

impl Stamp {
    fn resolve(self, period: Option<u64>) -> i64 {
        match (self, period) {
            (Stamp::At(offset), _) | (Stamp::Near(offset), None) => offset,
            (Stamp::Near(delta), Some(period)) => delta - period as i64,
        }
    }
}

fn stamp(range: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = Stamp> {
    prop_oneof![
        3 => range.prop_map(Stamp::At),
        2 => (-1i64..=1).prop_map(Stamp::Near),
    ]
}

/// A period in seconds, zero more often than the rest.
fn period() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 3 => 0u64..=30]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1u32..=30)
        .prop_flat_map(|universe| {
            let key = 0..universe;
            let deadline = prop_oneof![3 => -10i64..=10, 1 => -1i64..=1];
            let graph = (
                vec((key.clone(), option::of(stamp(-30..=5))), 0..=40),
                vec((key.clone(), key.clone(), common::any_strength()), 0..=50),
                vec((key.clone(), common::any_strength()), 0..=4),
                vec((key.clone(), common::any_strength(), deadline), 0..=4),
            );
            let policy = (
                vec(vec((key.clone(), stamp(-40..=5)), 0..=6), 0..=3),
                option::of(0usize..=4),
                option::of(period()),
                period(),
                vec(vec(key.clone(), 0..=3), 4),
                pin_names(),
                vec(
                    (key.clone(), key, option::of(common::any_strength())),
                    0..=8,
                ),
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
                listed: listed
                    .into_iter()
                    .map(|(k, used)| (k, used.map(|u| u.resolve(Some(grace)))))
                    .collect(),
                edges,
                roots,
                leases,
                histories: histories
                    .into_iter()
                    .map(|h| {
                        h.into_iter()
                            .map(|(k, c)| (k, c.resolve(keep_younger_than)))
                            .collect()
                    })
                    .collect(),
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

    /// An empty scenario over `universe` keys, for the fixed tests.
    fn empty(universe: u32) -> Scenario {
        Scenario {
            universe,
            listed: (0..universe).map(|k| (k, None)).collect(),
            edges: Vec::new(),
            roots: Vec::new(),
            leases: Vec::new(),
            histories: Vec::new(),
            keep_last: None,
            keep_younger_than: None,
            grace: 0,
            pin_map: BTreeMap::new(),
            pins: Vec::new(),
            bindings: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// The embedder: a store over the scenario.

struct Store<'a> {
    s: &'a Scenario,
    adjacency: HashMap<u32, Vec<(u32, Strength)>>,
    rule: Retention,
    /// `references` calls per key.
    read: BTreeMap<u32, usize>,
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
            read: BTreeMap::new(),
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
        for &(child, parent, strength) in &self.s.bindings {
            match strength {
                None => nodes.lives_with(&n(child), &n(parent)),
                Some(strength) => nodes.back_reference(&n(child), &n(parent), strength),
            }
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
        *self.read.entry(node.key).or_default() += 1;
        for (i, &(target, strength)) in self
            .adjacency
            .get(&node.key)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if i % 2 == 0 {
                refs.add(&n(target), strength);
            } else {
                common::emit_named(refs, &n(target), strength);
            }
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
    /// Nodes reached strongly.
    nodes_expanded: usize,
    /// Nodes reached flat and never strongly.
    nodes_expanded_flat: usize,
    /// `references` calls per key: once for each node reached.
    read: BTreeMap<u32, usize>,
    /// Strong, flat and structural roots from `roots`: plain, unexpired,
    /// retained.
    roots: usize,
    /// Weak roots (plain, unexpired, history) and weak references read
    /// from nodes reached strongly.
    weak_references: usize,
    references_followed: usize,
    dead_edges: usize,
    counts: Counts,
    unknown_pins: Vec<String>,
}

/// The breadth-first search over `(key, strongly)`: a node reached
/// strongly, or reached flat. Each pair is visited once; a node may be
/// visited both ways.
#[derive(Default)]
struct Mark {
    visited: BTreeSet<(u32, bool)>,
    queue: VecDeque<(u32, bool)>,
}

impl Mark {
    /// Follows a reference of `strength` to `key` from something reached
    /// `strongly` (a root: as if strongly), if it is followed at all.
    fn reach(&mut self, key: u32, strength: Strength, strongly: bool) {
        let to = match strength {
            Strength::Weak => return,
            Strength::Structural => strongly,
            Strength::Strong if strongly => true,
            Strength::Flat if strongly => false,
            _ => return,
        };
        if self.visited.insert((key, to)) {
            self.queue.push_back((key, to));
        }
    }

    fn strongly(&self, key: u32) -> bool {
        self.visited.contains(&(key, true))
    }

    fn live(&self, key: u32) -> bool {
        self.strongly(key) || self.visited.contains(&(key, false))
    }
}

/// Whether a reference of `strength` from a node reached `strongly`, or
/// else flat only, is followed (counted).
fn followed(strength: Strength, strongly: bool) -> bool {
    match strength {
        Strength::Weak => false,
        Strength::Structural => true,
        _ => strongly,
    }
}

/// The rank of each entry of a history: how many entries are newer, plus
/// how many as new come before it.
fn ranks(history: &[(u32, i64)]) -> Vec<usize> {
    history
        .iter()
        .enumerate()
        .map(|(i, &(_, t))| {
            let newer = history.iter().filter(|&&(_, u)| u > t).count();
            let tied_before = history[..i].iter().filter(|&&(_, u)| u == t).count();
            newer + tied_before
        })
        .collect()
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
        m.reach(key, strength, true);
    }
    for &(key, strength, deadline) in &s.leases {
        if !holds(deadline) {
            e.counts.leases_expired += 1;
            continue;
        }
        if strength == Strength::Weak {
            e.weak_references += 1;
        } else {
            e.roots += 1;
            e.counts.leases += 1;
        }
        m.reach(key, strength, true);
    }
    let no_rule = s.keep_last.is_none() && s.keep_younger_than.is_none();
    for history in &s.histories {
        for (&(key, created), rank) in history.iter().zip(ranks(history)) {
            let kept = no_rule
                || s.keep_last.is_some_and(|k| rank < k)
                || s.keep_younger_than.is_some_and(|age| within(created, age));
            if kept {
                e.roots += 1;
                e.counts.retained += 1;
                m.reach(key, Strength::Strong, true);
            } else {
                e.weak_references += 1;
            }
        }
    }
    for name in &s.pins {
        match s.pin_map.get(name) {
            Some(keys) if !keys.is_empty() => {
                e.counts.pins += keys.len();
                keys.iter()
                    .for_each(|&k| m.reach(k, Strength::Strong, true));
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
    young
        .iter()
        .for_each(|&k| m.reach(k, Strength::Strong, true));

    // Every reference by its source: edges, and bindings turned round
    // (each distinct binding once; `lives_with` is a structural one).
    let mut adjacency: HashMap<u32, Vec<(u32, Strength)>> = HashMap::new();
    for &(from, to, strength) in &s.edges {
        adjacency.entry(from).or_default().push((to, strength));
    }
    let bindings: BTreeSet<(u32, u32, u8)> = s
        .bindings
        .iter()
        .map(|&(c, p, st)| (p, c, index(st.unwrap_or(Strength::Structural))))
        .collect();
    let mut bound: HashMap<u32, Vec<(u32, Strength)>> = HashMap::new();
    for &(parent, child, st) in &bindings {
        bound
            .entry(parent)
            .or_default()
            .push((child, STRENGTHS[st as usize]));
    }
    while let Some((from, strongly)) = m.queue.pop_front() {
        let refs = adjacency.get(&from).into_iter().flatten();
        for &(to, strength) in refs.chain(bound.get(&from).into_iter().flatten()) {
            m.reach(to, strength, strongly);
        }
    }

    // Counts: each node reached is read once, fully if reached strongly.
    let listed: BTreeSet<u32> = s.listed.iter().map(|&(k, _)| k).collect();
    let reached: BTreeSet<u32> = m.visited.iter().map(|&(k, _)| k).collect();
    for &from in &reached {
        let strongly = m.strongly(from);
        e.read.insert(from, 1);
        if strongly {
            e.nodes_expanded += 1;
        } else {
            e.nodes_expanded_flat += 1;
        }
        for &(to, strength) in adjacency.get(&from).into_iter().flatten() {
            if strongly && strength == Strength::Weak {
                e.weak_references += 1;
            }
            if followed(strength, strongly) {
                e.references_followed += 1;
                e.dead_edges += usize::from(!listed.contains(&to));
            }
        }
        for &(_, strength) in bound.get(&from).into_iter().flatten() {
            e.counts.back_references += usize::from(followed(strength, strongly));
        }
    }

    let mut seen = BTreeSet::new();
    for &(key, _) in &s.listed {
        if seen.insert(key) {
            if m.live(key) {
                e.live_listed.push(key);
            } else {
                e.garbage.push(key);
            }
        }
    }
    e.nodes_listed = seen.len();
    e.nodes_marked = reached.len();
    e.is_live = (0..s.universe).map(|k| m.live(k)).collect();
    e
}

const STRENGTHS: [Strength; 4] = [
    Strength::Strong,
    Strength::Weak,
    Strength::Flat,
    Strength::Structural,
];

/// The position of `strength` in [`STRENGTHS`].
fn index(strength: Strength) -> u8 {
    STRENGTHS
        .iter()
        .position(|&s| s == strength)
        .expect("a strength the scenarios use") as u8
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
    let mut o = Expected {
        garbage: c.garbage().map(|node| node.key).collect(),
        live_listed: c.live().map(|node| node.key).collect(),
        is_live: (0..s.universe).map(|k| c.is_live(&n(k))).collect(),
        nodes_listed: stats.nodes_listed,
        nodes_marked: stats.nodes_marked,
        nodes_expanded: stats.nodes_expanded,
        nodes_expanded_flat: stats.nodes_expanded_flat,
        read: BTreeMap::new(),
        roots: stats.roots,
        weak_references: stats.weak_references,
        references_followed: stats.references_followed,
        dead_edges: stats.dead_edges,
        counts: Counts::of(&stats.roots_by_kind),
        unknown_pins: stats.unknown_pins.clone(),
    };
    drop(c);
    o.read = store.read;
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

    /// The order a history comes in changes nothing: reversed, or rotated.
    #[test]
    fn the_order_of_a_history_changes_nothing(s in scenario(), turn in 0usize..6) {
        let mut shuffled = s.clone();
        for history in &mut shuffled.histories {
            if turn == 0 {
                history.reverse();
            } else if !history.is_empty() {
                let by = turn % history.len();
                history.rotate_left(by);
            }
        }
        // Equal times keep their order among themselves, which a shuffle
        // may change: what is kept may differ, not the rule.
        prop_assert_eq!(oracle(&shuffled), observe(&mut Gc::new(), &shuffled, &shuffled.options()).0);
        let distinct_times = s.histories.iter().all(|h| {
            h.iter().map(|&(_, t)| t).collect::<HashSet<_>>().len() == h.len()
        });
        if distinct_times {
            prop_assert_eq!(garbage(&shuffled), garbage(&s));
        }
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

    /// Weak < flat < strong < structural, for back-references too.
    #[test]
    fn a_stronger_back_reference_never_sweeps_more(s in scenario(), at in any::<prop::sample::Index>()) {
        if s.bindings.is_empty() {
            return Ok(());
        }
        let mut stronger = s.clone();
        let binding = &mut stronger.bindings[at.index(s.bindings.len())];
        binding.2 = binding.2.map(common::upgraded);
        assert_subset(&garbage(&stronger), &garbage(&s))?;
    }
}

// ---------------------------------------------------------------------------
// The boundaries, pinned down on fixed scenarios (not through the oracle),
// and a check that the generated scenarios do reach them.

/// The keys a fixed scenario sweeps, in listing order.
fn swept(s: &Scenario) -> Vec<u32> {
    let (o, _) = observe(&mut Gc::new(), s, &s.options());
    o.garbage
}

#[test]
fn each_time_boundary_keeps() {
    // Leases: deadlines 1 s ago, now, in 1 s, on 0, 1, 2.
    let mut s = Scenario::empty(3);
    s.leases = vec![
        (0, Strength::Strong, -1),
        (1, Strength::Strong, 0),
        (2, Strength::Flat, 1),
    ];
    assert_eq!(swept(&s), [0]);
    // Grace of 10 s: used 11 s, 10 s, 9 s ago, now, 5 s ahead.
    let mut s = Scenario::empty(0);
    s.universe = 5;
    s.listed = [-11, -10, -9, 0, 5]
        .iter()
        .zip(0..)
        .map(|(&t, k)| (k, Some(t)))
        .collect();
    s.grace = 10;
    assert_eq!(swept(&s), [0]);
    // A grace period of zero keeps now and later only.
    s.grace = 0;
    assert_eq!(swept(&s), [0, 1, 2]);
    // `keep_younger_than` of 10 s, entries given oldest first.
    let mut s = Scenario::empty(4);
    s.histories = vec![vec![(0, -11), (1, -10), (2, 0), (3, 3)]];
    s.keep_younger_than = Some(10);
    assert_eq!(swept(&s), [0]);
    s.keep_younger_than = Some(0);
    assert_eq!(swept(&s), [0, 1]);
}

#[test]
fn a_history_in_any_order_keeps_its_newest() {
    // Created 30, 10, 20 and 10 s ago (3 after 1): keep the newest two,
    // then the newest three (the tie goes to the one given first).
    let mut s = Scenario::empty(4);
    s.histories = vec![vec![(0, -30), (1, -10), (2, -20), (3, -10)]];
    s.keep_last = Some(2);
    assert_eq!(swept(&s), [0, 2]);
    s.keep_last = Some(1);
    assert_eq!(swept(&s), [0, 2, 3]);
    assert_eq!(ranks(&s.histories[0]), [3, 0, 2, 1]);
}

#[test]
fn back_references_follow_the_parents_reach() {
    use Strength::{Flat, Strong, Structural, Weak};
    // 0 is a flat root; 1 a strong one. Children of 0: lives_with 2,
    // strong 3, flat 4, weak 5; of 1: the same, 6..=9. 2's own structural
    // child 10 (a back-reference too) comes along, flat.
    let mut s = Scenario::empty(11);
    s.roots = vec![(0, Flat), (1, Strong)];
    s.bindings = vec![
        (2, 0, None),
        (3, 0, Some(Strong)),
        (4, 0, Some(Flat)),
        (5, 0, Some(Weak)),
        (6, 1, None),
        (7, 1, Some(Strong)),
        (8, 1, Some(Flat)),
        (9, 1, Some(Weak)),
        (10, 2, Some(Structural)),
    ];
    let (o, _) = observe(&mut Gc::new(), &s, &s.options());
    assert_eq!(o.garbage, [3, 4, 5, 9]);
    // 0 ⇢ 2, 2 ⇢ 10, 1 ⇢ 6, 7, 8.
    assert_eq!(o.counts.back_references, 5);
    assert_eq!((o.nodes_expanded, o.nodes_expanded_flat), (3, 4));
    assert_eq!(o, oracle(&s));
}

#[test]
fn the_scenarios_reach_the_boundaries() {
    let mut runner = TestRunner::deterministic();
    let strategy = scenario();
    let (mut grace_edge, mut zero_now, mut deadline_now, mut age_edge, mut ties) = (0, 0, 0, 0, 0);
    const SCENARIOS: usize = 1_000;
    for _ in 0..SCENARIOS {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        let grace = s.grace as i64;
        let stamps = || s.listed.iter().filter_map(|&(_, used)| used);
        grace_edge += usize::from(stamps().any(|t| t == -grace));
        zero_now += usize::from(grace == 0 && stamps().any(|t| t >= 0));
        deadline_now += usize::from(s.leases.iter().any(|&(_, _, d)| d == 0));
        if let Some(age) = s.keep_younger_than {
            age_edge += usize::from(
                s.histories
                    .iter()
                    .flatten()
                    .any(|&(_, c)| c == -(age as i64)),
            );
        }
        ties += usize::from(
            s.histories
                .iter()
                .any(|h| h.iter().map(|&(_, t)| t).collect::<HashSet<_>>().len() < h.len()),
        );
    }
    let hits = [grace_edge, zero_now, deadline_now, age_edge, ties];
    assert!(
        hits.iter().all(|&hit| hit >= SCENARIOS / 20),
        "boundaries hit too rarely (grace, zero grace now, deadline, age, ties): {hits:?}"
    );
}
