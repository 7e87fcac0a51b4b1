//! Property tests for `SweepOrder::ReferrersFirst`, on random graphs of at
//! most 30 keys (random strengths, duplicate listings, dead edges to keys
//! the listing misses, self loops, cycles), over the shared [`MemStore`]:
//!
//! 1. It hands out a permutation of the `Listing` garbage, each node once,
//!    with the same live set and the same stats apart from timings, at the
//!    documented cost of one more `references` call per garbage node.
//! 2. For every reference, of any strength, from garbage `x` to garbage
//!    `y` that is not on a cycle of the garbage subgraph (`y` does not reach
//!    `x` back through references among garbage), `x` comes before `y`.
//! 3. It is deterministic: a fresh and a reused collector agree.
//! 4. Ties keep listing order: with no references among garbage the order
//!    is the listing order, and on an acyclic garbage subgraph it is the
//!    first topological order by listing position. On any graph it is the
//!    documented one: the nodes of a cycle go together, in listing order,
//!    once nothing outside their cycle that remains references them, the
//!    first listed of those ready first.
//! 5. Fail safe: a `references` failure in the ordering pass, or an abort
//!    from a checkpoint in `Phase::Ordering`, ends the collection with its
//!    error and nothing to remove; the collector stays usable.
//! 6. References from garbage to live or unlisted nodes, the strengths of
//!    references among garbage, and their duplicates do not change the
//!    order.
//!
//! Reachability within the garbage is computed here with a plain
//! breadth-first search. The case count comes from `PROPTEST_CASES`.

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use common::{Fault, MemStore, StoreError, TestNode, n};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use resource_gc::{
    CollectError, CollectionContext, Collector, Error, Flow, NodeSink, Options, Phase, Progress,
    ReferenceSink, Stats, Strength, SweepOrder,
};

type Gc = Collector<u8, u8, u32>;

// ---------------------------------------------------------------------------
// Random graphs.

/// Keys are `0..universe`, at most 30 of them; only keys below `listable`
/// are listed, and not necessarily all of them, so references to the rest
/// are dead edges.
#[derive(Clone, Debug)]
struct Graph {
    universe: u32,
    /// In listing order, duplicates included.
    listed: Vec<u32>,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
}

/// Few roots, so that most of the graph is garbage and the garbage has
/// references, cycles and self loops of its own. Keys are drawn below 30
/// and folded into range, rather than drawn from a range that depends on
/// `universe`: `prop_flat_map` makes shrinking very slow.
fn graph() -> impl Strategy<Value = Graph> {
    (
        1u32..=30,
        0u32..=4,
        vec(0u32..30, 0..=45),
        vec((0u32..30, common::any_strength()), 0..=3),
        vec((0u32..30, 0u32..30, common::any_strength()), 0..=50),
    )
        .prop_map(|(universe, unlisted, listed, roots, edges)| {
            let listable = universe.saturating_sub(unlisted).max(1);
            Graph {
                universe,
                listed: listed.into_iter().map(|k| k % listable).collect(),
                roots: roots.into_iter().map(|(k, s)| (k % universe, s)).collect(),
                edges: edges
                    .into_iter()
                    .map(|(from, to, s)| (from % universe, to % universe, s))
                    .collect(),
            }
        })
}

impl Graph {
    fn store(&self) -> MemStore {
        let mut store = MemStore {
            listed: self.listed.iter().map(|&k| n(k)).collect(),
            roots: self.roots.iter().map(|&(k, s)| (n(k), s)).collect(),
            ..MemStore::default()
        };
        for &(from, to, strength) in &self.edges {
            store.edge(from, to, strength);
        }
        store
    }

    /// The same graph with other references: the garbage's references are
    /// never read by the mark, so the garbage stays the same.
    fn with_edges(&self, edges: Vec<(u32, u32, Strength)>) -> Graph {
        Graph {
            edges,
            ..self.clone()
        }
    }

    /// The references between two distinct garbage nodes, as pairs.
    fn garbage_edges(&self, garbage: &[u32]) -> Vec<(u32, u32)> {
        let garbage: HashSet<u32> = garbage.iter().copied().collect();
        self.edges
            .iter()
            .filter(|&&(from, to, _)| {
                from != to && garbage.contains(&from) && garbage.contains(&to)
            })
            .map(|&(from, to, _)| (from, to))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Running a collection.

fn options(order: SweepOrder) -> Options {
    let mut options = Options::default();
    options.sweep_order = order;
    options
}

/// What one collection answered, copied out of the borrowed result.
#[derive(Debug)]
struct Run {
    garbage: Vec<u32>,
    /// `garbage().len()`, as the `ExactSizeIterator` reports it.
    garbage_len: usize,
    live: Vec<u32>,
    stats: Stats,
    /// How many times `references` was called, per key.
    expansions: HashMap<u32, usize>,
}

fn collect(
    gc: &mut Gc,
    store: &mut MemStore,
    order: SweepOrder,
) -> Result<Run, CollectError<MemStore>> {
    store.expansions.clear();
    let result = gc.collect_with(store, &options(order))?;
    let run = Run {
        garbage: result.garbage().map(|node| node.key).collect(),
        garbage_len: result.garbage().len(),
        live: result.live().map(|node| node.key).collect(),
        stats: result.stats().clone(),
        expansions: HashMap::new(),
    };
    Ok(Run {
        expansions: store
            .expansions
            .iter()
            .map(|(node, &count)| (node.key, count))
            .collect(),
        ..run
    })
}

/// One collection by a fresh collector, which must succeed.
fn run(g: &Graph, order: SweepOrder) -> Run {
    collect(&mut Gc::new(), &mut g.store(), order).expect("the store does not fail")
}

/// The stats without their timings.
fn untimed(stats: &Stats) -> Stats {
    let mut stats = stats.clone();
    stats.listing_time = Duration::ZERO;
    stats.mark_time = Duration::ZERO;
    stats.sweep_time = Duration::ZERO;
    stats
}

// ---------------------------------------------------------------------------
// The checks.

/// For each garbage key, the garbage keys it reaches through references
/// among garbage, itself included: a breadth-first search per key.
fn reachability(garbage: &[u32], edges: &[(u32, u32)]) -> HashMap<u32, HashSet<u32>> {
    let mut adjacency: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(from, to) in edges {
        adjacency.entry(from).or_default().push(to);
    }
    garbage
        .iter()
        .map(|&start| {
            let mut seen = HashSet::from([start]);
            let mut queue = VecDeque::from([start]);
            while let Some(at) = queue.pop_front() {
                for &to in adjacency.get(&at).into_iter().flatten() {
                    if seen.insert(to) {
                        queue.push_back(to);
                    }
                }
            }
            (start, seen)
        })
        .collect()
}

/// Property 2: every reference among garbage that is not on a cycle of the
/// garbage subgraph goes from an earlier node to a later one.
fn check_referrers_first(g: &Graph, order: &[u32]) -> Result<(), TestCaseError> {
    let position: HashMap<u32, usize> = order.iter().enumerate().map(|(at, &k)| (k, at)).collect();
    let edges = g.garbage_edges(order);
    let reaches = reachability(order, &edges);
    for &(from, to) in &edges {
        if reaches[&to].contains(&from) {
            continue; // On a cycle: either way round is right.
        }
        prop_assert!(
            position[&from] < position[&to],
            "{} references {}, which does not reach it back, yet comes after it: {:?}",
            from,
            to,
            order
        );
    }
    Ok(())
}

/// The first topological order of `garbage` (in listing order) by listing
/// position: repeatedly the first node that no remaining node references.
/// `None` if the references among garbage have a cycle (self loops aside).
fn first_topological_order(garbage: &[u32], edges: &[(u32, u32)]) -> Option<Vec<u32>> {
    let mut remaining = garbage.to_vec();
    let mut order = Vec::with_capacity(garbage.len());
    while !remaining.is_empty() {
        let waits = |k: u32| {
            edges
                .iter()
                .any(|&(from, to)| to == k && from != k && remaining.contains(&from))
        };
        let at = remaining.iter().position(|&k| !waits(k))?;
        order.push(remaining.remove(at));
    }
    Some(order)
}

/// The documented order, naively: the garbage's strongly connected
/// components (keys that reach each other) go whole, each once nothing
/// outside it that remains references it; among those ready, the one listed
/// first goes first, its nodes in listing order.
fn model_order(garbage: &[u32], edges: &[(u32, u32)]) -> Vec<u32> {
    let reaches = reachability(garbage, edges);
    let component = |k: u32| -> Vec<u32> {
        let both = |j: &&u32| reaches[&k].contains(j) && reaches[j].contains(&k);
        garbage.iter().filter(both).copied().collect()
    };
    let mut remaining = garbage.to_vec();
    let mut order = Vec::with_capacity(garbage.len());
    while !remaining.is_empty() {
        let ready = |k: u32| {
            let members = component(k);
            !edges.iter().any(|&(from, to)| {
                members.contains(&to) && !members.contains(&from) && remaining.contains(&from)
            })
        };
        let first = remaining
            .iter()
            .copied()
            .find(|&k| ready(k))
            .expect("the components form no cycle");
        let members = component(first);
        order.extend(&members);
        remaining.retain(|k| !members.contains(k));
    }
    order
}

/// Property 1 between a `Listing` and a `ReferrersFirst` run of one graph.
fn check_same_collection(listing: &Run, ordered: &Run) -> Result<(), TestCaseError> {
    let mut sorted = ordered.garbage.clone();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    prop_assert_eq!(before, sorted.len(), "duplicates: {:?}", &ordered.garbage);
    let mut expected = listing.garbage.clone();
    expected.sort_unstable();
    prop_assert_eq!(&sorted, &expected, "not the same garbage");
    prop_assert_eq!(ordered.garbage_len, ordered.garbage.len());
    prop_assert_eq!(&ordered.live, &listing.live);
    prop_assert_eq!(untimed(&ordered.stats), untimed(&listing.stats));
    // The documented cost: one more `references` call per garbage node, and
    // nothing else. The mark never reads a garbage node's references.
    let garbage: HashSet<u32> = listing.garbage.iter().copied().collect();
    let keys: HashSet<u32> = listing
        .expansions
        .keys()
        .chain(ordered.expansions.keys())
        .copied()
        .collect();
    for key in keys {
        let extra = usize::from(garbage.contains(&key));
        let was = listing.expansions.get(&key).copied().unwrap_or(0);
        prop_assert_eq!(
            ordered.expansions.get(&key).copied().unwrap_or(0),
            was + extra,
            "references calls for {}",
            key
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The properties.

/// Proptest's defaults (so `PROPTEST_CASES` sets the case count), with the
/// XorShift generator, faster in the debug profile, and without a
/// regression file (proptest would write `proptest-regressions/` into the
/// crate on a failure): the failing cases worth keeping are plain tests
/// below.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..common::proptest_config()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Properties 1 and 2.
    #[test]
    fn referrers_come_first_in_a_permutation_of_the_garbage(g in graph()) {
        let listing = run(&g, SweepOrder::Listing);
        let ordered = run(&g, SweepOrder::ReferrersFirst);
        check_same_collection(&listing, &ordered)?;
        check_referrers_first(&g, &ordered.garbage)?;
    }

    /// Property 3: a fresh collector, the same one again, and collectors
    /// that kept other nodes from a previous collection, so that their ids
    /// (and their hashers) differ, agree. One kept what another graph found
    /// live; the other kept all of this graph's nodes, listed backwards, so
    /// that its ids run against listing order.
    #[test]
    fn the_order_is_deterministic(g in graph(), warmup in graph(), warm_order in any::<bool>()) {
        let listing = run(&g, SweepOrder::Listing);
        let mut fresh = Gc::new();
        let mut store = g.store();
        let first = collect(&mut fresh, &mut store, SweepOrder::ReferrersFirst).unwrap();
        let again = collect(&mut fresh, &mut store, SweepOrder::ReferrersFirst).unwrap();
        prop_assert_eq!(&again.garbage, &first.garbage, "the same collector, again");

        let mut backwards = g.clone();
        backwards.listed.reverse();
        backwards.roots = backwards.listed.iter().map(|&k| (k, Strength::Strong)).collect();
        let warm_order = if warm_order { SweepOrder::ReferrersFirst } else { SweepOrder::Listing };
        for (what, warm) in [("another graph", &warmup), ("all live, backwards", &backwards)] {
            let mut reused = Gc::new();
            collect(&mut reused, &mut warm.store(), warm_order).unwrap();
            let ordered = collect(&mut reused, &mut store, SweepOrder::ReferrersFirst).unwrap();
            prop_assert_eq!(&ordered.garbage, &first.garbage, "reused after {}", what);
            check_same_collection(&listing, &ordered)?;
        }
    }

    /// Property 4: with no references between distinct garbage nodes (self
    /// loops and references to live and unlisted nodes stay), the order is
    /// the listing order.
    #[test]
    fn without_references_among_garbage_the_listing_order_stays(g in graph()) {
        let listing = run(&g, SweepOrder::Listing);
        let among = g.garbage_edges(&listing.garbage);
        let g = g.with_edges(
            g.edges
                .iter()
                .copied()
                .filter(|&(from, to, _)| !among.contains(&(from, to)))
                .collect(),
        );
        let ordered = run(&g, SweepOrder::ReferrersFirst);
        prop_assert_eq!(&ordered.garbage, &listing.garbage);
    }

    /// Property 4, the general case: when the garbage subgraph is acyclic
    /// (references here all go from a lower key to a higher one, self loops
    /// aside, while listing order is random), among the nodes ready to go
    /// the first listed goes first.
    #[test]
    fn acyclic_garbage_gets_its_first_topological_order(g in graph()) {
        let g = g.with_edges(g.edges.iter().map(|&(a, b, s)| (a.min(b), a.max(b), s)).collect());
        let listing = run(&g, SweepOrder::Listing);
        let ordered = run(&g, SweepOrder::ReferrersFirst);
        let expected = first_topological_order(&listing.garbage, &g.garbage_edges(&listing.garbage))
            .expect("references from lower to higher keys have no cycle");
        prop_assert_eq!(&ordered.garbage, &expected);
        check_referrers_first(&g, &ordered.garbage)?;
    }

    /// Properties 2 and 4, exactly, as `SweepOrder::ReferrersFirst`
    /// documents them: the nodes of a reference cycle go together, after
    /// everything that references any of them, and ties keep listing order.
    #[test]
    fn the_order_is_the_documented_one(g in graph()) {
        let listing = run(&g, SweepOrder::Listing);
        let ordered = run(&g, SweepOrder::ReferrersFirst);
        let expected = model_order(&listing.garbage, &g.garbage_edges(&listing.garbage));
        prop_assert_eq!(&ordered.garbage, &expected);
    }

    /// Property 6: references from garbage to live or unlisted nodes, added
    /// or removed, and the strengths and duplicates of references among
    /// garbage, leave the order as it was.
    #[test]
    fn only_references_among_garbage_count(
        g in graph(),
        extra in vec((any::<Index>(), any::<Index>(), common::any_strength()), 0..=20),
        strengths in vec(common::any_strength(), 50),
        duplicate in any::<bool>(),
    ) {
        let listing = run(&g, SweepOrder::Listing);
        let ordered = run(&g, SweepOrder::ReferrersFirst);
        if listing.garbage.is_empty() {
            return Ok(());
        }
        let garbage: HashSet<u32> = listing.garbage.iter().copied().collect();
        // Live listed keys, keys in the universe that are not listed, and
        // keys no graph names.
        let others: Vec<u32> = (0..g.universe + 3).filter(|k| !garbage.contains(k)).collect();
        let mut edges: Vec<(u32, u32, Strength)> = g
            .edges
            .iter()
            .zip(&strengths)
            .filter(|&(&(from, to, _), _)| !garbage.contains(&from) || garbage.contains(&to))
            .map(|(&(from, to, s), &other)| {
                let among = garbage.contains(&from);
                (from, to, if among { other } else { s })
            })
            .collect();
        if duplicate {
            edges.extend(edges.clone().into_iter().rev());
        }
        for (from, to, s) in extra {
            edges.push((*from.get(&listing.garbage), *to.get(&others), s));
        }
        let changed = g.with_edges(edges);
        let again = run(&changed, SweepOrder::Listing);
        prop_assert_eq!(&again.garbage, &listing.garbage, "the garbage changed");
        let reordered = run(&changed, SweepOrder::ReferrersFirst);
        prop_assert_eq!(&reordered.garbage, &ordered.garbage);
    }

    /// Property 5: `references` failing for a garbage node can only happen
    /// in the ordering pass; that collection returns the failure, for that
    /// node, and nothing to remove. The collector stays usable.
    #[test]
    fn a_failure_while_ordering_sweeps_nothing(g in graph(), at in any::<Index>()) {
        let listing = run(&g, SweepOrder::Listing);
        if listing.garbage.is_empty() {
            return Ok(());
        }
        let bad = *at.get(&listing.garbage);
        let mut store = g.store();
        store.fault = Fault::FailReferencesOf(n(bad));
        let mut gc = Gc::new();
        // The mark never reads a garbage node's references.
        let unordered = collect(&mut gc, &mut store, SweepOrder::Listing)
            .expect("the mark does not expand garbage");
        prop_assert_eq!(&unordered.garbage, &listing.garbage);
        match collect(&mut gc, &mut store, SweepOrder::ReferrersFirst) {
            Err(Error::References { node, source }) => {
                prop_assert_eq!(node, n(bad));
                prop_assert_eq!(source, StoreError);
            }
            Err(other) => prop_assert!(false, "the wrong error: {:?}", other),
            Ok(run) => prop_assert!(false, "swept {:?} although {} failed", run.garbage, bad),
        }
        store.fault = Fault::None;
        let after = collect(&mut gc, &mut store, SweepOrder::ReferrersFirst).unwrap();
        prop_assert_eq!(&after.garbage, &run(&g, SweepOrder::ReferrersFirst).garbage);
    }
}

// ---------------------------------------------------------------------------
// Fixed cases.

/// Garbage keys `0..count`, no roots.
fn garbage_only(count: u32, edges: &[(u32, u32)]) -> Graph {
    Graph {
        universe: count,
        listed: (0..count).collect(),
        roots: Vec::new(),
        edges: edges
            .iter()
            .map(|&(from, to)| (from, to, Strength::Strong))
            .collect(),
    }
}

/// The smallest graph the ordering must get right where a cycle sits
/// above a node listed before it: 1 ⇄ 2, and 1 → 0. Nothing reaches 1 from
/// 0, so 1 must come before 0.
#[test]
fn a_node_referenced_from_a_cycle_waits_for_it() {
    let g = garbage_only(3, &[(1, 2), (2, 1), (1, 0)]);
    let ordered = run(&g, SweepOrder::ReferrersFirst);
    check_referrers_first(&g, &ordered.garbage).unwrap();
    // The cycle goes together, in listing order.
    assert_eq!(ordered.garbage, [1, 2, 0]);
}

/// A weak reference orders removal like a strong one.
#[test]
fn weak_and_flat_references_count() {
    for strength in [
        Strength::Weak,
        Strength::Flat,
        Strength::Strong,
        Strength::Structural,
    ] {
        let mut g = garbage_only(3, &[]);
        g.edges = vec![(2, 0, strength), (1, 2, strength)];
        assert_eq!(run(&g, SweepOrder::ReferrersFirst).garbage, [1, 2, 0]);
    }
}

/// A store that aborts at the first checkpoint of the ordering pass and
/// records the phase of every checkpoint.
struct AbortWhileOrdering {
    store: MemStore,
    phases: Vec<Phase>,
}

impl CollectionContext for AbortWhileOrdering {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.store.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        self.store.roots(roots)
    }

    fn references(
        &mut self,
        node: &TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        self.store.references(node, refs)
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        self.phases.push(progress.phase);
        match progress.phase {
            Phase::Ordering => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

/// Property 5, the abort: 5000 garbage nodes (a checkpoint comes every 4096
/// of them while ordering) and a few live ones.
#[test]
fn an_abort_while_ordering_sweeps_nothing() {
    const COUNT: u32 = 5010;
    let mut store = MemStore::with_nodes(COUNT);
    store.root(0, Strength::Strong);
    for key in 0..10 {
        store.edge(key, key + 1, Strength::Strong);
    }
    // Garbage references garbage listed before it: the order must reverse.
    for key in 12..COUNT {
        store.edge(key, key - 1, Strength::Weak);
    }
    let mut ctx = AbortWhileOrdering {
        store,
        phases: Vec::new(),
    };
    let mut gc = Gc::new();

    let listing: Vec<u32> = gc
        .collect(&mut ctx)
        .expect("no checkpoint while listing the garbage in order")
        .garbage()
        .map(|node| node.key)
        .collect();
    assert_eq!(listing, (11..COUNT).collect::<Vec<_>>());
    assert!(!ctx.phases.contains(&Phase::Ordering), "{:?}", ctx.phases);

    ctx.phases.clear();
    let err = gc
        .collect_with(&mut ctx, &options(SweepOrder::ReferrersFirst))
        .map(|result| result.garbage().cloned().collect::<Vec<_>>())
        .expect_err("the checkpoint aborts the ordering");
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Ordering
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        ctx.phases.last(),
        Some(&Phase::Ordering),
        "{:?}",
        ctx.phases
    );

    // The same collector, not aborted, orders the garbage.
    let ordered: Vec<u32> = gc
        .collect_with(&mut ctx.store, &options(SweepOrder::ReferrersFirst))
        .expect("nothing aborts")
        .garbage()
        .map(|node| node.key)
        .collect();
    assert_eq!(ordered, (11..COUNT).rev().collect::<Vec<_>>());
}

/// Garbage listed child first, whose children declare their parent with
/// `lives_with` or `back_reference`: the parent is their referrer, so it
/// goes first, whatever the strength.
struct Bound {
    strength: Option<Strength>,
}

impl CollectionContext for Bound {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        // 0 and 1 are bound to 2; 3 to 0 (a chain 2 → 0 → 3); 4 is free.
        for key in 0..5 {
            nodes.push(&n(key));
        }
        for (child, parent) in [(0, 2), (1, 2), (3, 0)] {
            match self.strength {
                None => nodes.lives_with(&n(child), &n(parent)),
                Some(strength) => nodes.back_reference(&n(child), &n(parent), strength),
            }
        }
        Ok(())
    }

    fn roots(&mut self, _: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), StoreError> {
        Ok(())
    }

    fn references(
        &mut self,
        _: &TestNode,
        _: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[test]
fn back_references_order_the_parent_first() {
    for strength in [
        None,
        Some(Strength::Strong),
        Some(Strength::Weak),
        Some(Strength::Flat),
        Some(Strength::Structural),
    ] {
        let mut gc = Gc::new();
        let collection = gc
            .collect_with(
                &mut Bound { strength },
                &options(SweepOrder::ReferrersFirst),
            )
            .unwrap();
        let order: Vec<u32> = collection.garbage().map(|node| node.key).collect();
        assert_eq!(order, [2, 0, 1, 3, 4], "{strength:?}");
        let listing: Vec<u32> = gc
            .collect_with(&mut Bound { strength }, &options(SweepOrder::Listing))
            .unwrap()
            .garbage()
            .map(|node| node.key)
            .collect();
        assert_eq!(listing, [0, 1, 2, 3, 4], "{strength:?}");
    }
}
