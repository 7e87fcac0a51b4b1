//! Mark and sweep, side by side, on the same graphs: the ratios between
//! implementations are what matters; absolute times vary with the machine.
//!
//! Groups: `store-10k`, `store-1M`, `random-10k`, `random-1M` (and the 10M
//! ones with `RESOURCE_GC_BENCH_LARGE=1`). In each group, for the same
//! graph:
//!
//! - `floor`: CSR + bitset + explicit stack; the hardware floor.
//! - `dense`: `DenseCollector` over the same CSR (fresh per run).
//! - `node`: `Collector` (SipHash) over a containerd-like `HashMap` store
//!   of `Node<u8, String, String>`, fresh per run (its drop is not timed).
//! - `node_reused`: the same with one collector kept across runs: it
//!   keeps its allocations, and drops the last run's copies inside the
//!   timing (where `node` drops its whole collector outside it).
//! - `node_borrowed`: a fresh `Collector` over the same store lent as a
//!   `StoreView`, whose nodes are `Node<u8, &str, &str>` borrowing the
//!   store's strings: the zero-copy `Node` path. Its collector owns no
//!   strings, so its drop (one free per table) is inside the timing.
//! - `node_parallel`, `node_borrowed_parallel`: `node` and
//!   `node_borrowed` with `Collector::collect_parallel` marking on two
//!   threads (`Options::mark_threads = 2`); listing and sweep stay on one.
//! - `node_foldhash`: `node` with `Collector::with_hasher(foldhash)`. In
//!   the 10k groups only, unless `RESOURCE_GC_BENCH_LARGE=1`: at 1M nodes
//!   every `Node`-path iteration takes seconds on a small machine, and
//!   criterion runs at least 11 of each. `examples/bench_graph.rs` always
//!   measures it.
//! - `naive`, `naive_foldhash`: containerd's tricolor mark written plainly,
//!   with `HashSet<&Node>` (SipHash / foldhash).
//! - `naive_presized`: `naive` with both sets created with the node count
//!   as their capacity, as the crate's own table is reserved from the
//!   listing: the baseline the owned-key path has to beat.
//! - `petgraph`: `Dfs` over a prebuilt petgraph `Graph`.
//! - `scan`: `ScanCollector` (SipHash) over the same store, each node
//!   listed with its references; the sweep walks the store's keys again to
//!   turn the garbage's places into nodes. Fresh per run, dropped inside
//!   the timing (it owns no key).
//!
//! Every iteration is mark + sweep (the garbage collected into a `Vec`).
//! Building the graphs is outside the timed part. Throughput is in nodes.
//!
//! Group `pause`, one function per store size (`pause/store-10k`,
//! `pause/store-1M`, ...): the short part of a collection in two parts,
//! `Marking::finish`, alone, with 1,000 barrier entries to take in. Each
//! iteration starts a collection with one collector kept across
//! iterations, runs the long part (`mark`) over the snapshot, reports the
//! entries through the `Barrier` (references added to existing nodes,
//! half of them garbage in the snapshot, and new roots: `plan_writes`),
//! then times `finish` over the live store, the snapshot plus those
//! writes. Only `finish` is timed (`iter_custom`), but every iteration
//! pays for the long part, so at 1M nodes one takes seconds. Throughput is
//! in entries.
//!
//! Group `resident`: the crate's `Graph`, kept between collections, over
//! the same owned-key store, built once from one listing outside the
//! timing.
//!
//! - `collect/store-10k`, `collect/store-1M` (and `collect/store-10M`
//!   with `RESOURCE_GC_BENCH_LARGE=1`): `Graph::collect` with default
//!   options plus iterating `garbage()` into a `Vec`, on the graphs of the
//!   `store-*` groups. Throughput in nodes. Compare with `floor` in the
//!   group of the same size: the graph numbers nodes in the store's
//!   listing order, which (hash order here, key order in a real store)
//!   has none of the generator's locality that the CSR floor enjoys.
//! - `changes/store-1M`: one batch of 100 changes (`Graph::prepare` then
//!   `Graph::commit`, one store transaction's worth) cycling through the
//!   100,000 of `plan_changes` (a new node and a reference to it, a
//!   reference added, one removed, a root added, one removed); the first
//!   commit after the build, which compacts all of the build's adjacency,
//!   is made once before, untimed. Later passes over the plan re-add and
//!   re-remove, so the graph keeps growing and compacts now and then,
//!   inside the timing. Throughput in changes.
//!
//! `cargo bench --bench mark_sweep -- store-1M` runs one group; HTML
//! reports land in `target/criterion/`. For one-shot tables with mark and
//! sweep apart and peak RSS, see `examples/bench_graph.rs`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use petgraph::graph::DiGraph;
use resource_gc::{Collection, Collector, Options};

use support::{
    Csr, Graph, Layered, NodeStore, Overlay, RandomParams, Resident, ResidentChanges, StoreNode,
    StoreParams, build_petgraph, build_resident, check_pause, dense, floor, gen_random, gen_store,
    naive_foldhash, naive_presized, naive_sip, node, node_borrowed, node_borrowed_parallel,
    node_parallel, petgraph_dfs, plan_changes, plan_writes, reachable, resident, scan,
};

/// Groups at least this big get the short configuration.
const BIG: usize = 500_000;

/// `RESOURCE_GC_BENCH_LARGE=1`: add the 10M groups.
fn large() -> bool {
    std::env::var_os("RESOURCE_GC_BENCH_LARGE").is_some_and(|v| v == "1")
}

fn sizes() -> Vec<(&'static str, usize)> {
    let mut sizes = vec![("10k", 10_000), ("1M", 1_000_000)];
    if large() {
        sizes.push(("10M", 10_000_000));
    }
    sizes
}

fn mark_sweep(c: &mut Criterion) {
    for (label, nodes) in sizes() {
        bench_graph(
            c,
            &format!("store-{label}"),
            gen_store(&StoreParams::for_nodes(nodes)),
        );
        bench_graph(
            c,
            &format!("random-{label}"),
            gen_random(&RandomParams::for_nodes(nodes)),
        );
    }
}

/// The graph in the form each implementation reads, built on first use so
/// that a group the command-line filter skips costs only its generation.
struct Forms {
    csr: Csr,
    store: NodeStore,
    pg: DiGraph<(), ()>,
    roots: Vec<u32>,
    /// For `node_reused`: has already run one collection.
    reused: Collector<u8, String, String>,
}

impl Forms {
    fn build(name: &str, graph: &Graph) -> Self {
        let csr = Csr::from_graph(graph);
        let mut store = NodeStore::from_graph(graph, &csr);
        let pg = build_petgraph(graph);
        let roots = graph.roots.clone();

        // All implementations must agree before any is timed.
        let expected = floor(&csr).counts();
        let mut reused = Collector::new();
        let checks = [
            ("dense", dense(&csr).counts()),
            ("node", node(&mut reused, &mut store).counts()),
            ("node_borrowed", node_borrowed(&store).counts()),
            (
                "node_parallel",
                node_parallel(&mut Collector::new(), &mut store, 2).counts(),
            ),
            (
                "node_borrowed_parallel",
                node_borrowed_parallel(&store, 2).counts(),
            ),
            ("naive", naive_sip(&store).counts()),
            ("naive_presized", naive_presized(&store).counts()),
            ("scan", scan(&mut store).counts()),
            ("petgraph", petgraph_dfs(&pg, &roots).counts()),
        ];
        for (which, counts) in checks {
            assert_eq!(
                counts, expected,
                "{name}: {which} disagrees with floor on (reachable, unreachable)"
            );
        }
        Forms {
            csr,
            store,
            pg,
            roots,
            reused,
        }
    }
}

/// One group: every implementation on `graph`. The forms live for this
/// group only, so memory is one graph's worth at a time.
fn bench_graph(c: &mut Criterion, name: &str, graph: Graph) {
    eprintln!("{name}: {}", graph.summary());
    let mut slot: Option<Forms> = None;
    let graph = &graph;

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(graph.node_count() as u64));
    configure(&mut group, graph.node_count());

    group.bench_function("floor", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| floor(black_box(&f.csr)))
    });
    group.bench_function("dense", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| dense(black_box(&f.csr)))
    });
    // A fresh collector per iteration; it is dropped outside the timing.
    group.bench_function("node", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter_batched(
            Collector::new,
            |mut collector| (node(&mut collector, &mut f.store), collector),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("node_reused", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| node(&mut f.reused, &mut f.store))
    });
    group.bench_function("node_borrowed", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| node_borrowed(black_box(&f.store)))
    });
    group.bench_function("node_parallel", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter_batched(
            Collector::new,
            |mut collector| (node_parallel(&mut collector, &mut f.store, 2), collector),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("node_borrowed_parallel", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| node_borrowed_parallel(black_box(&f.store), 2))
    });
    if graph.node_count() < BIG || large() {
        group.bench_function("node_foldhash", |b| {
            let f = slot.get_or_insert_with(|| Forms::build(name, graph));
            b.iter_batched(
                || Collector::with_hasher(foldhash::fast::RandomState::default()),
                |mut collector| (node(&mut collector, &mut f.store), collector),
                BatchSize::PerIteration,
            )
        });
    }
    group.bench_function("naive", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| naive_sip(black_box(&f.store)))
    });
    group.bench_function("naive_presized", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| naive_presized(black_box(&f.store)))
    });
    group.bench_function("naive_foldhash", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| naive_foldhash(black_box(&f.store)))
    });
    group.bench_function("scan", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| scan(black_box(&mut f.store)))
    });
    group.bench_function("petgraph", |b| {
        let f = slot.get_or_insert_with(|| Forms::build(name, graph));
        b.iter(|| petgraph_dfs(black_box(&f.pg), &f.roots))
    });
    group.finish();
}

/// Small samples and short measurements, so that the default set stays at
/// a few minutes: the 1M groups are dominated by the `Node`-path and naive
/// implementations at 1-5 s an iteration (slow 2-core VM), 11 iterations
/// each (criterion's minimum of 10 samples, plus one warm-up).
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, nodes: usize) {
    if nodes >= BIG {
        // One iteration takes 10 ms to seconds here: flat sampling keeps
        // it at sample_size iterations or a little more, not the 55 that
        // linear sampling needs at least.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
}

/// Barrier entries each collection of the `pause` group takes in.
const ENTRIES: usize = 1000;

fn pause(c: &mut Criterion) {
    let mut group = c.benchmark_group("pause");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    for (label, nodes) in sizes() {
        configure(&mut group, nodes);
        let mut slot: Option<PauseForms> = None;
        group.bench_function(format!("store-{label}"), |b| {
            let f = slot.get_or_insert_with(|| PauseForms::build(nodes));
            b.iter_custom(|iters| (0..iters).map(|_| f.finish_once()).sum())
        });
    }
    group.finish();
}

/// A store, the writes made after its snapshot, and a collector.
struct PauseForms {
    store: NodeStore,
    /// The writes, for the live store to read.
    overlay: Overlay,
    /// What the writers report for them, in order.
    reports: Vec<StoreNode>,
    collector: Collector<u8, String, String>,
}

impl PauseForms {
    fn build(nodes: usize) -> Self {
        let graph = gen_store(&StoreParams::for_nodes(nodes));
        eprintln!("pause: {}", graph.summary());
        let csr = Csr::from_graph(&graph);
        let store = NodeStore::from_graph(&graph, &csr);
        let writes = plan_writes(&graph, &reachable(&csr, None), ENTRIES, 7);
        let (overlay, reports) = Overlay::of(&graph, &writes);
        assert_eq!(reports.len(), ENTRIES);
        let mut forms = PauseForms {
            store,
            overlay,
            reports,
            collector: Collector::new(),
        };
        // Once untimed, checked against the final graph.
        let (collection, _) = finish_timed(
            &mut forms.collector,
            &forms.store,
            &forms.overlay,
            &forms.reports,
        );
        if let Err(message) = check_pause(&collection, &graph, &csr, &forms.overlay) {
            panic!("pause: {message}");
        }
        assert_eq!(collection.stats().reported, ENTRIES);
        drop(collection);
        forms
    }

    /// One collection; the time its `finish` took.
    fn finish_once(&mut self) -> Duration {
        let (collection, elapsed) = finish_timed(
            &mut self.collector,
            &self.store,
            &self.overlay,
            &self.reports,
        );
        black_box(collection.stats().nodes_swept);
        elapsed
    }
}

/// One collection in two parts of `store` by `collector`: the long part
/// over the snapshot, then `reports` through the barrier, then `finish`
/// over the live store (`store` and `overlay`), timed.
fn finish_timed<'c>(
    collector: &'c mut Collector<u8, String, String>,
    store: &NodeStore,
    overlay: &Overlay,
    reports: &[StoreNode],
) -> (Collection<'c, u8, String, String>, Duration) {
    let barrier = collector.barrier();
    let mut marking = collector.start(&Options::default());
    if let Err(e) = marking.mark(&mut Layered::snapshot(store)) {
        panic!("pause: the long part failed: {e}");
    }
    for node in reports {
        barrier.keep(node);
    }
    let mut live = Layered::live(store, overlay);
    let start = Instant::now();
    let collection = match marking.finish(&mut live) {
        Ok(collection) => collection,
        Err(e) => panic!("pause: finish failed: {e}"),
    };
    (collection, start.elapsed())
}

/// Changes to a batch in `resident/changes`, and in all.
const BATCH: usize = 100;
const CHANGES: usize = 100_000;

fn resident_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("resident");
    for (label, nodes) in sizes() {
        configure(&mut group, nodes);
        group.throughput(Throughput::Elements(nodes as u64));
        let mut slot: Option<Resident> = None;
        group.bench_function(format!("collect/store-{label}"), |b| {
            let graph = slot.get_or_insert_with(|| resident_built(nodes));
            b.iter(|| resident(graph))
        });
    }
    let nodes = 1_000_000;
    // A batch takes well under a millisecond: the small groups' sampling.
    configure(&mut group, BATCH);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut slot: Option<(Resident, Vec<ResidentChanges>)> = None;
    group.bench_function("changes/store-1M", |b| {
        let (graph, plan) = slot.get_or_insert_with(|| {
            let g = gen_store(&StoreParams::for_nodes(nodes));
            eprintln!("resident/changes: {}", g.summary());
            let csr = Csr::from_graph(&g);
            let mut store = NodeStore::from_graph(&g, &csr);
            let (mut graph, _) = build_resident(&mut store);
            // The first commit compacts what the build left: not a batch's.
            graph
                .apply(&ResidentChanges::new())
                .expect("an empty commit");
            (graph, plan_changes(&g, CHANGES, BATCH, 11))
        });
        let mut next = 0;
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let changes = &plan[next % plan.len()];
                next += 1;
                let start = Instant::now();
                let prepared = graph.prepare(changes).expect("the graph is not full");
                graph.commit(prepared).expect("prepared on this graph");
                took += start.elapsed();
            }
            took
        })
    });
    group.finish();
}

/// The resident graph of the `store-*` group of about `nodes` nodes,
/// checked against the floor.
fn resident_built(nodes: usize) -> Resident {
    let g = gen_store(&StoreParams::for_nodes(nodes));
    eprintln!("resident/collect: {}", g.summary());
    let csr = Csr::from_graph(&g);
    let mut store = NodeStore::from_graph(&g, &csr);
    let (mut graph, _) = build_resident(&mut store);
    assert_eq!(
        resident(&mut graph).counts(),
        floor(&csr).counts(),
        "resident disagrees with floor on (reachable, unreachable)"
    );
    graph
}

criterion_group!(benches, mark_sweep, pause, resident_group);
criterion_main!(benches);
