//! The dense path: ids `0..node_count()` are the candidates, there is no
//! listing and no hashing. The same promises hold as on the `Node` path
//! (strengths, expansion once, fail safe, reuse); garbage comes ascending,
//! and an id beyond `node_count` is an error, never a panic.

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::StoreError;
use resource_gc::{
    DenseCollector, DenseContext, DenseSink, Error, Flow, Options, Phase, Progress, Strength,
    Strength::{Flat, Strong, Weak},
};

/// What a [`Dense`] store does wrong, if anything.
#[derive(Clone, Debug, PartialEq)]
enum Fault {
    None,
    FailRoots,
    FailReferencesOf(u32),
    /// `checkpoint` returns `Abort` from its k-th call (0-based) on.
    AbortAtCheckpoint(usize),
}

/// Ids `0..count`, roots and edges of any strength, and a fault.
struct Dense {
    count: u32,
    roots: Vec<(u32, Strength)>,
    edges: Vec<Vec<(u32, Strength)>>,
    fault: Fault,
    /// How often `references` was called, by id.
    expansions: Vec<usize>,
    checkpoints: Vec<Phase>,
}

impl Dense {
    fn new(count: u32) -> Self {
        Dense {
            count,
            roots: Vec::new(),
            edges: vec![Vec::new(); count as usize],
            fault: Fault::None,
            expansions: vec![0; count as usize],
            checkpoints: Vec::new(),
        }
    }

    fn root(&mut self, id: u32, strength: Strength) -> &mut Self {
        self.roots.push((id, strength));
        self
    }

    fn edge(&mut self, from: u32, to: u32, strength: Strength) -> &mut Self {
        self.edges[from as usize].push((to, strength));
        self
    }

    /// Ids expanded, each with how often, ascending.
    fn expanded(&self) -> Vec<(u32, usize)> {
        (0..self.expansions.len() as u32)
            .map(|id| (id, self.expansions[id as usize]))
            .filter(|&(_, count)| count > 0)
            .collect()
    }
}

impl DenseContext for Dense {
    type Error = StoreError;

    fn node_count(&self) -> u32 {
        self.count
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), StoreError> {
        if self.fault == Fault::FailRoots {
            return Err(StoreError);
        }
        for &(id, strength) in &self.roots {
            roots.add(id, strength);
        }
        Ok(())
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), StoreError> {
        self.expansions[id as usize] += 1;
        if self.fault == Fault::FailReferencesOf(id) {
            return Err(StoreError);
        }
        for &(target, strength) in &self.edges[id as usize] {
            refs.add(target, strength);
        }
        Ok(())
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        let call = self.checkpoints.len();
        self.checkpoints.push(progress.phase);
        match self.fault {
            Fault::AbortAtCheckpoint(k) if call >= k => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

/// The garbage of one collection with a fresh collector, ascending.
fn garbage(store: &mut Dense) -> Vec<u32> {
    DenseCollector::new()
        .collect(store)
        .expect("the store does not fail")
        .garbage()
        .collect()
}

/// containerd's `TestGCRoots` graph by id, A..H = 0..7: roots {A, C};
/// A→B, B→A, C→D, C→F, C→B, E→F, E→G, F→H.
fn containerd_canonical() -> Dense {
    let mut store = Dense::new(8);
    store.root(0, Strong).root(2, Strong);
    for (from, to) in [
        (0, 1),
        (1, 0),
        (2, 3),
        (2, 5),
        (2, 1),
        (4, 5),
        (4, 6),
        (5, 7),
    ] {
        store.edge(from, to, Strong);
    }
    store
}

#[test]
fn containerd_canonical_case_by_id() {
    let mut store = containerd_canonical();
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [4, 6]);
    let live: Vec<u32> = (0..8).filter(|&id| result.is_live(id)).collect();
    assert_eq!(live, [0, 1, 2, 3, 5, 7]);
    let stats = result.stats();
    assert_eq!(stats.nodes_listed, 8);
    assert_eq!(stats.roots, 2);
    assert_eq!(stats.nodes_marked, 6);
    assert_eq!(stats.nodes_expanded, 6);
    assert_eq!(stats.references_followed, 6);
    assert_eq!(stats.nodes_swept, 2);
    assert_eq!(stats.dead_edges, 0, "no dead edges on the dense path");
    drop(result);
    assert_eq!(
        store.expanded(),
        [(0, 1), (1, 1), (2, 1), (3, 1), (5, 1), (7, 1)]
    );
}

#[test]
fn garbage_is_ascending_across_word_boundaries() {
    // Every third id live, over lengths around multiples of 32 and 64.
    for count in [1, 31, 32, 33, 63, 64, 65, 100, 129] {
        let mut store = Dense::new(count);
        for id in (0..count).step_by(3) {
            store.root(id, Flat);
        }
        let expected: Vec<u32> = (0..count).filter(|id| id % 3 != 0).collect();
        let mut gc = DenseCollector::new();
        let result = gc.collect(&mut store).unwrap();
        assert_eq!(result.garbage().len(), expected.len(), "count {count}");
        assert_eq!(
            result.garbage().collect::<Vec<_>>(),
            expected,
            "count {count}"
        );
    }
}

#[test]
fn garbage_is_ascending_whatever_order_the_roots_come_in() {
    let mut store = Dense::new(10);
    store
        .root(9, Strong)
        .root(3, Strong)
        .root(6, Strong)
        .edge(9, 0, Strong);
    assert_eq!(garbage(&mut store), [1, 2, 4, 5, 7, 8]);
}

#[test]
fn no_ids_means_no_garbage() {
    let mut store = Dense::new(0);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.garbage().next(), None);
    assert!(!result.is_live(0));
}

#[test]
fn no_roots_means_every_id_is_garbage() {
    let mut store = Dense::new(70);
    store.edge(0, 1, Strong);
    assert_eq!(garbage(&mut store), (0..70).collect::<Vec<_>>());
    assert_eq!(store.expanded(), []);
}

#[test]
fn garbage_len_is_exact_while_it_is_consumed() {
    let mut store = Dense::new(40);
    store.root(10, Strong);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    let mut garbage = result.garbage();
    for remaining in (0..=39).rev() {
        assert_eq!(garbage.len(), remaining);
        assert_eq!(garbage.next().is_some(), remaining > 0);
    }
}

#[test]
fn a_flat_root_is_kept_but_its_references_are_not_followed() {
    let mut store = Dense::new(3);
    store.root(0, Flat).edge(0, 1, Strong);
    assert_eq!(garbage(&mut store), [1, 2]);
    assert_eq!(store.expanded(), [(0, 1)], "read once, for its structure");
}

#[test]
fn a_flat_edge_keeps_its_target_but_not_the_targets_children() {
    let mut store = Dense::new(3);
    store.root(0, Strong).edge(0, 1, Flat).edge(1, 2, Strong);
    assert_eq!(garbage(&mut store), [2]);
    assert_eq!(store.expanded(), [(0, 1), (1, 1)]);
}

#[test]
fn flat_then_strong_expands_once_in_either_order() {
    for strengths in [[Flat, Strong], [Strong, Flat]] {
        let mut store = Dense::new(4);
        store.root(0, Strong);
        store.edge(0, 1, strengths[0]).edge(0, 1, strengths[1]);
        store.edge(1, 2, Strong);
        assert_eq!(garbage(&mut store), [3], "{strengths:?}");
        assert_eq!(store.expanded(), [(0, 1), (1, 1), (2, 1)], "{strengths:?}");
    }
}

#[test]
fn a_flat_root_reached_strongly_later_is_expanded() {
    let mut store = Dense::new(4);
    store
        .root(1, Flat)
        .root(0, Strong)
        .edge(0, 1, Strong)
        .edge(1, 2, Strong);
    assert_eq!(garbage(&mut store), [3]);
    assert_eq!(store.expanded(), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn weak_roots_and_edges_keep_nothing() {
    let mut store = Dense::new(4);
    store
        .root(0, Weak)
        .root(1, Strong)
        .edge(1, 2, Weak)
        .edge(0, 3, Strong);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [0, 2, 3]);
    assert_eq!(result.stats().weak_references, 2);
    assert_eq!(result.stats().roots, 1);
    assert_eq!(result.stats().references_followed, 0);
    drop(result);
    assert_eq!(store.expanded(), [(1, 1)]);
}

#[test]
fn weak_then_strong_keeps_and_strong_then_weak_keeps() {
    let mut store = Dense::new(3);
    store
        .root(1, Weak)
        .root(0, Strong)
        .edge(0, 1, Strong)
        .edge(0, 2, Strong);
    store.edge(0, 2, Weak);
    assert_eq!(garbage(&mut store), []);
    assert_eq!(store.expanded(), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn duplicate_roots_and_edges_expand_each_id_once() {
    let mut store = Dense::new(4);
    for _ in 0..3 {
        store.root(0, Strong).edge(0, 1, Strong).edge(2, 1, Strong);
    }
    store.root(2, Strong);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [3]);
    assert_eq!(result.stats().roots, 4);
    assert_eq!(result.stats().references_followed, 6);
    drop(result);
    assert_eq!(store.expanded(), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn cycles_and_self_loops_expand_each_id_once() {
    // 0 ⇄ 1, 1 → 1, 1 → 2; 3 ⇄ 4 unreachable.
    let mut store = Dense::new(5);
    store.root(0, Strong).edge(0, 1, Strong).edge(1, 0, Strong);
    store.edge(1, 1, Strong).edge(1, 2, Strong);
    store.edge(3, 4, Strong).edge(4, 3, Strong);
    assert_eq!(garbage(&mut store), [3, 4]);
    assert_eq!(store.expanded(), [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn an_out_of_range_reference_is_an_error_not_a_panic() {
    let mut store = Dense::new(3);
    store.root(0, Strong).edge(0, 1, Strong).edge(1, 7, Strong);
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(err, Error::IdOutOfRange { id: 7, len: 3 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "id 7 is out of range: the context has 3 ids"
    );
}

#[test]
fn an_out_of_range_root_is_an_error_and_nothing_is_expanded() {
    let mut store = Dense::new(3);
    store.root(0, Strong).root(3, Strong);
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(err, Error::IdOutOfRange { id: 3, len: 3 }),
        "{err:?}"
    );
    assert_eq!(store.expanded(), []);
}

#[test]
fn out_of_range_is_an_error_whatever_the_strength() {
    for strength in [Strong, Flat, Weak] {
        let mut store = Dense::new(2);
        store.root(0, Strong).edge(0, u32::MAX, strength);
        let err = DenseCollector::new()
            .collect(&mut store)
            .map(|result| result.garbage().count())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::IdOutOfRange {
                    id: u32::MAX,
                    len: 2
                }
            ),
            "{strength:?}: {err:?}"
        );
    }
}

#[test]
fn the_first_out_of_range_id_is_the_one_reported() {
    let mut store = Dense::new(2);
    store.root(0, Strong).edge(0, 5, Strong).edge(0, 9, Strong);
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(err, Error::IdOutOfRange { id: 5, len: 2 }),
        "{err:?}"
    );
}

#[test]
fn any_id_on_an_empty_context_is_out_of_range() {
    let mut store = Dense::new(0);
    store.roots.push((0, Strong));
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(err, Error::IdOutOfRange { id: 0, len: 0 }),
        "{err:?}"
    );
}

#[test]
fn the_last_id_in_range_is_fine() {
    let mut store = Dense::new(3);
    store.root(2, Strong).edge(2, 0, Strong);
    assert_eq!(garbage(&mut store), [1]);
}

#[test]
fn is_live_is_false_beyond_the_ids() {
    let mut store = Dense::new(3);
    store.root(0, Strong);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    assert!(result.is_live(0));
    assert!(!result.is_live(1));
    assert!(!result.is_live(3));
    assert!(!result.is_live(u32::MAX));
}

#[test]
fn a_failing_roots_is_a_roots_error_with_its_source() {
    let mut store = containerd_canonical();
    store.fault = Fault::FailRoots;
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(matches!(err, Error::Roots(StoreError)), "{err:?}");
    assert!(err.source().unwrap().is::<StoreError>());
    assert_eq!(store.expanded(), []);
}

#[test]
fn a_failing_references_names_the_id_and_keeps_the_source() {
    let mut store = containerd_canonical();
    store.fault = Fault::FailReferencesOf(5);
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::References {
                node: 5,
                source: StoreError
            }
        ),
        "{err:?}"
    );
    assert!(err.source().unwrap().is::<StoreError>());
    assert_eq!(err.to_string(), "reading the references of 5 failed");
}

#[test]
fn checkpoints_come_after_the_roots_and_after_marking() {
    let mut store = containerd_canonical();
    garbage(&mut store);
    assert_eq!(store.checkpoints, [Phase::Roots, Phase::Marking]);
}

#[test]
fn abort_at_each_checkpoint_names_its_phase() {
    for (call, phase) in [(0, Phase::Roots), (1, Phase::Marking)] {
        let mut store = containerd_canonical();
        store.fault = Fault::AbortAtCheckpoint(call);
        let err = DenseCollector::new()
            .collect(&mut store)
            .map(|result| result.garbage().count())
            .unwrap_err();
        assert!(
            matches!(err, Error::Aborted { phase: p } if p == phase),
            "checkpoint {call}: {err:?}"
        );
    }
}

#[test]
fn abort_during_a_long_mark_stops_marking_early() {
    const LEN: u32 = 20_000;
    let mut store = Dense::new(LEN);
    store.root(0, Strong);
    for id in 0..LEN - 1 {
        store.edge(id, id + 1, Strong);
    }
    store.fault = Fault::AbortAtCheckpoint(1);
    let err = DenseCollector::new()
        .collect(&mut store)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Aborted {
                phase: Phase::Marking
            }
        ),
        "{err:?}"
    );
    let expanded = store.expanded().len();
    assert!(expanded < LEN as usize, "marking went on: {expanded}");
}

#[test]
fn a_time_limit_that_passes_is_timed_out() {
    let mut store = SlowRoots(containerd_canonical());
    let mut options = Options::default();
    options.time_limit = Some(Duration::from_nanos(1));
    let err = DenseCollector::new()
        .collect_with(&mut store, &options)
        .map(|result| result.garbage().count())
        .unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { limit, phase: Phase::Roots } if limit == Duration::from_nanos(1)),
        "{err:?}"
    );
}

#[test]
fn reuse_with_fewer_ids_does_not_report_ids_beyond_them() {
    let mut gc = DenseCollector::new();
    let mut big = Dense::new(100);
    big.root(99, Strong);
    assert_eq!(gc.collect(&mut big).unwrap().garbage().len(), 99);
    let mut small = Dense::new(5);
    small.root(1, Strong);
    let result = gc.collect(&mut small).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [0, 2, 3, 4]);
    assert_eq!(result.stats().nodes_listed, 5);
    assert!(!result.is_live(99), "the last collection's marks are gone");
}

#[test]
fn reuse_with_more_ids_starts_them_unmarked() {
    let mut gc = DenseCollector::new();
    let mut small = Dense::new(5);
    for id in 0..5 {
        small.root(id, Strong);
    }
    assert_eq!(gc.collect(&mut small).unwrap().garbage().len(), 0);
    let mut big = Dense::new(70);
    big.root(69, Strong);
    let result = gc.collect(&mut big).unwrap();
    assert_eq!(
        result.garbage().collect::<Vec<_>>(),
        (0..69).collect::<Vec<_>>()
    );
}

#[test]
fn reuse_after_each_kind_of_failure_is_correct() {
    let faults = [
        Fault::FailRoots,
        Fault::FailReferencesOf(1),
        Fault::AbortAtCheckpoint(0),
        Fault::AbortAtCheckpoint(1),
    ];
    for fault in faults {
        let mut gc = DenseCollector::new();
        let mut store = containerd_canonical();
        store.fault = fault.clone();
        assert!(gc.collect(&mut store).is_err(), "{fault:?}");
        store.fault = Fault::None;
        store.roots = vec![(4, Strong)];
        let result = gc.collect(&mut store).unwrap();
        assert_eq!(
            result.garbage().collect::<Vec<_>>(),
            [0, 1, 2, 3],
            "{fault:?}"
        );
    }
}

#[test]
fn reuse_after_an_out_of_range_error_is_correct() {
    // The failed run marked 0 and 1 before 1's bad reference; the next run
    // roots only 2.
    let mut gc = DenseCollector::new();
    let mut store = Dense::new(4);
    store.root(0, Strong).edge(0, 1, Strong).edge(1, 4, Strong);
    assert!(gc.collect(&mut store).is_err());
    store.roots = vec![(2, Strong)];
    store.edges[1].clear();
    let result = gc.collect(&mut store).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [0, 1, 3]);
}

#[test]
fn reuse_over_changing_roots_is_correct_every_time() {
    let mut gc = DenseCollector::new();
    let mut store = containerd_canonical();
    let cases: [(&[u32], &[u32]); 4] = [
        (&[0, 2], &[4, 6]),
        (&[4], &[0, 1, 2, 3]),
        (&[], &[0, 1, 2, 3, 4, 5, 6, 7]),
        (&[1, 4], &[2, 3]),
    ];
    for (roots, expected) in cases {
        store.roots = roots.iter().map(|&id| (id, Strong)).collect();
        let result = gc.collect(&mut store).unwrap();
        assert_eq!(result.garbage().collect::<Vec<_>>(), expected, "{roots:?}");
    }
}

/// A dense store whose roots take a couple of milliseconds.
struct SlowRoots(Dense);

impl DenseContext for SlowRoots {
    type Error = StoreError;

    fn node_count(&self) -> u32 {
        self.0.node_count()
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.roots(roots)
    }

    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), StoreError> {
        self.0.references(id, refs)
    }
}

#[test]
fn a_flat_reach_keeps_the_structure_flat_on_the_dense_path_too() {
    use Strength::Structural;
    // A flat lease (0) holds snapshot 9, whose parents are 8 and 7; each
    // names a blob strongly (19, 18, 17). The chain is kept, the blobs not.
    let mut store = Dense::new(20);
    store.root(0, Strong).edge(0, 9, Flat);
    store.edge(9, 8, Structural).edge(8, 7, Structural);
    store
        .edge(9, 19, Strong)
        .edge(8, 18, Strong)
        .edge(7, 17, Strong);
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut store).unwrap();
    let live: Vec<u32> = (0..20).filter(|&id| result.is_live(id)).collect();
    assert_eq!(live, [0, 7, 8, 9]);
    let stats = result.stats();
    assert_eq!((stats.nodes_expanded, stats.nodes_expanded_flat), (1, 3));
    assert_eq!(stats.references_followed, 3);
    // Strongly, the structure is strong.
    let mut store = Dense::new(20);
    store.root(9, Strong);
    store.edge(9, 8, Structural).edge(8, 7, Structural);
    store
        .edge(9, 19, Strong)
        .edge(8, 18, Strong)
        .edge(7, 17, Strong);
    let result = gc.collect(&mut store).unwrap();
    let live: Vec<u32> = (0..20).filter(|&id| result.is_live(id)).collect();
    assert_eq!(live, [7, 8, 9, 17, 18, 19]);
}

#[test]
fn structural_through_the_sink_shorthand() {
    struct Chain;
    impl DenseContext for Chain {
        type Error = std::convert::Infallible;
        fn node_count(&self) -> u32 {
            3
        }
        fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Self::Error> {
            roots.flat(2);
            Ok(())
        }
        fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Self::Error> {
            if id > 0 {
                refs.structural(id - 1);
            }
            Ok(())
        }
    }
    let mut gc = DenseCollector::new();
    let result = gc.collect(&mut Chain).unwrap();
    assert_eq!(result.garbage().len(), 0);
    assert_eq!(result.stats().nodes_expanded_flat, 3);
}
