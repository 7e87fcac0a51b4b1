//! Mark and sweep on one graph, every implementation side by side, with
//! ratios to the hardware floor and to a naive containerd-style collector
//! (as it is, and presized); and a resident graph's collection, build,
//! cost per reported change and bytes.
//!
//! ```text
//! python3 ../shared/bench/gen_graph.py store --images 2500 > store.txt
//! cargo run --release --example bench_graph -- store.txt
//! python3 ../shared/bench/gen_graph.py random | cargo run --release --example bench_graph -- -
//! cargo run --release --example bench_graph -- --gen store --nodes 1000000
//! cargo run --release --example bench_graph -- --gen random --nodes 100000 --emit > random.txt
//! cargo run --release --example bench_graph -- --pause store.txt --runs 3
//! ```
//!
//! Options: `--runs K` (default 5; medians are shown), `--seed S` (with
//! `--gen`), `--only floor,node,...` (a subset, e.g. under a profiler;
//! RESULT lines then only for those), `--emit` (write the generated graph
//! in the text format and exit). `--gen store --nodes N` picks the image
//! count for about N nodes; without `--nodes`, `gen_graph.py`'s defaults.
//!
//! The implementations (`--only` takes these names), all over the same
//! graph, built outside any timing:
//!
//! - `floor`: CSR, a bitset and an explicit stack, the hardware floor, in
//!   the graph file's numbering (the generator's: an image's manifests,
//!   configs and snapshots are numbered side by side);
//! - `floor_listed`: the same over the CSR renumbered in the order the
//!   owned-key store lists its nodes, which is the order `resident`
//!   numbers them in: the floor for `resident`'s numbering;
//! - `dense`: the crate's `DenseCollector` over the CSR;
//! - `node` and its variants: the crate's `Collector` over a
//!   containerd-like `HashMap` store of `Node<u8, String, String>` (owned
//!   keys), fresh per run unless `_reused`; `_foldhash` hashes with
//!   foldhash; `_built` and `_views` have the store build a node or a view
//!   per reference; `_push` has the store list one node at a time
//!   (`NodeSink::push`) where the others list them all in one call
//!   (`NodeSink::extend`); `_borrowed` lends the store as
//!   `Node<u8, &str, &str>`; `_parallel` marks on two threads;
//! - `naive`, `naive_foldhash`: containerd's tricolor mark written plainly
//!   over the same store, `HashSet<&Node>` (SipHash, foldhash), the sets
//!   growing as they fill; `naive_presized`: `naive` with both sets
//!   created with the node count as their capacity, as the crate's own
//!   table is reserved from the listing;
//! - `petgraph`: `Dfs` over a prebuilt petgraph `Graph`;
//! - `scan`: the crate's `ScanCollector` over the same owned-key store,
//!   each node listed with its references (the map's entries), fresh per
//!   run; its `sweep` walks the store's keys again to turn the garbage's
//!   places into nodes, as an embedder would;
//! - `resident`: the crate's `Graph`, kept between collections, built once
//!   from one listing of the owned-key store (`Graph::build`, outside the
//!   timing), then `Graph::collect` with default options per run.
//!
//! Timing: `mark` is the mark, including allocating its marks; `sweep` is
//! collecting the unreachable nodes into a `Vec`; `drop` is freeing what
//! the run allocated once the sweep is done (marks, sets, stacks, the
//! garbage `Vec`, the collection, and a fresh collector with its copies
//! of the nodes: for `node` at 1.5M nodes, a sizeable part of its time).
//! `total` is the three together, and the `x floor`, `x naive` and
//! `x presized` ratios compare totals. What outlives a run is not dropped
//! in it: `node_reused`'s collector (which drops the last run's copies
//! inside the next `collect()`, so inside `mark`), `resident`'s graph,
//! the store. For the crate's collectors, `mark` is the whole `collect()`
//! call (on the `Node` path that includes listing, i.e. interning every
//! node; for `resident`, its mark over dense ids and its own sweep into a
//! list of ids) and `sweep` is iterating `garbage()`; their own `Stats`
//! phase timings are printed below the table.
//! Runs are interleaved (one of each implementation per round) so that
//! noise from other processes spreads evenly: compare figures from one
//! run, not across runs.
//!
//! With `resident` selected, once the runs are done and checked, on the
//! same graph:
//!
//! - the first commit after the build, an empty `Changes` (the build
//!   ends compacted, so this is what a commit costs that compacts
//!   nothing);
//! - 100,000 changes, staged 100 to a `Changes` (a store transaction) and
//!   reported by `Graph::prepare` then `Graph::commit`, timed together
//!   (staging them, cloning the nodes' strings, is not: it happens inside
//!   the store's transaction). In rounds of six, all strong: a new node
//!   and a reference to it from a random node (two changes), a reference
//!   added between random nodes, one of the graph's references removed,
//!   a root added on a random node, one of the graph's roots removed
//!   (each original reference or root at most once; once they run out,
//!   those added here). At 1.5M nodes they are too few to trigger a
//!   compaction (one comes after about half the references' count in
//!   changes); the first commit's time is what one costs;
//! - `runs` more collections after the changes (a compacted graph plus
//!   the changes' deltas), not interleaved, for comparison;
//! - the graph's `heap_bytes()` as built and compacted, and a second graph
//!   built from the same listing with no references (nodes and roots
//!   alone), after one collection each so that the mark's colours count.
//!   `heap_bytes()` counts the interning table, the node slots
//!   (`Node<u8, String, String>`, 56 bytes each, the `String`s' headers
//!   included), the listed bits, the adjacency, the maps and the mark's
//!   colours and stack, by capacity; not the bytes the two `String`s of
//!   each node point to (the key copies). The `+resident` figure of the
//!   `built:` line is the whole graph's RSS, key copies included;
//! - last, the same graph shared (`SharedGraph`) for the pause of a
//!   collection beside a writer, as `--pause` measures it for the
//!   resident graph (below): `RESULT resident_pause_spread …` and
//!   `RESULT resident_pause_tail …`.
//!
//! The last lines are machine-readable:
//! `RESULT <impl> mark_ms=<f> sweep_ms=<f> reachable=<n> unreachable=<n>
//! drop_ms=<f>` for floor, dense, node, naive, petgraph, then the extra
//! implementations in table order; with `resident`,
//! `RESULT resident_build ms=<f>` (`Graph::build` from the listing),
//! `RESULT resident_change ns_per_change=<f> changes=<n> batch=<n>
//! compact_ms=<f>` (prepare + commit over the changes, divided by their
//! count; and the first commit's compaction),
//! `RESULT resident_bytes per_node=<f> per_reference=<f> built_mb=<f>
//! compacted_mb=<f>` (per node: the graph without references over the
//! node count, its roots' map included; per reference: the full graph as
//! built less that, over the reference count; then the full graph's
//! `heap_bytes()` as built and compacted, in MiB: compacted, each
//! reference takes 4 bytes instead of 8, and each adjacency an offset per
//! node); then `RESULT peak_above_graphs_mb=<f>` (the peak RSS above the
//! RSS once the input graphs, the resident one included, are built: with
//! `--only IMPL`, that implementation's own working memory) and
//! `RESULT peak_rss_mb=<f>` (the process's VmHWM), both taken when the
//! runs are done, before the resident graph's extras.
//! Every implementation must find
//! the same reachable and unreachable counts, or this exits with status 1;
//! malformed input exits with status 2 and the line at fault.
//!
//! `--pause` measures instead a collection in two parts while a writer
//! writes (`Collector::start`, `Marking::mark`, `Marking::finish`), on the
//! owned-key store, with one collector kept across runs as a long-lived
//! one is. Each round runs, side by side:
//!
//! - `collect`: one plain `collect()`, for comparison; its time is how
//!   long the writer of the round's `pause` spreads its writes over;
//! - `pause`: `start` under the writers' lock, then the long part (`mark`)
//!   over the snapshot on this thread while a writer thread makes 1,000
//!   barrier entries' worth of writes spread over that time, each under
//!   the writers' lock and reported through the `Barrier` before it is
//!   released: references added from live nodes to existing ones, half of
//!   them garbage in the snapshot, and new images as roots referencing
//!   existing nodes. The writes go to an overlay that the live store reads
//!   and the snapshot does not. Then, once the writer is done, `finish`
//!   under the lock over the live store: the pause;
//! - `pause_catchup`: the same, with one more `Marking::step` over the
//!   snapshot once the writer is done, outside the lock, as the README
//!   advises: `finish` has only what came after it (here nothing);
//! - `pause_tail`: the same as `pause`, with all 1,000 entries written after the long
//!   part returned, so that `finish` takes in every one of them: the worst
//!   case for these writes.
//!
//! After each, every node reachable in the final graph (snapshot plus
//! overlay, by a plain breadth-first search) must be live in the
//! collection, or this exits with status 1. It prints
//! `RESULT pause entries=1000 finish_ms=<f> whole_ms=<f> start_ms=<f>
//! mark_ms=<f> in_finish=<n> collect_ms=<f>` (medians; `whole` is from
//! `start` to `finish` returning, less the time the long part, once done,
//! waited for the writer to make its last writes; `start` the part under
//! the lock before the long part, `mark` the long part, `in_finish` the
//! entries written after the long part returned) and the same for
//! `pause_catchup` and `pause_tail`.

#[path = "../benches/support/mod.rs"]
mod support;

use std::fs::File;
use std::io::{self, BufReader, Write as _};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use resource_gc::{Collector, Options};

use support::{
    Change, Csr, Emit, Graph, Layered, NodeStore, NodesOnly, Overlay, PauseCheck, RandomParams,
    Resident, ResidentChanges, Run, StoreParams, apply_changes, build_petgraph, build_resident,
    check_pause, dense, dropped, floor, gen_random, gen_store, listing_order, naive_foldhash,
    naive_presized, naive_sip, node, node_borrowed, node_borrowed_parallel, node_fresh,
    node_parallel, parse_graph, petgraph_dfs, plan_changes, plan_writes, proc_status_mb, reachable,
    resident, write_graph,
};

/// `println!` that ends the program quietly when stdout is closed (say,
/// piped into `head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        if writeln!(io::stdout(), $($arg)*).is_err() {
            std::process::exit(141);
        }
    };
}

const USAGE: &str = "usage: bench_graph <file|-> [--runs K] [--only IMPL,...]
       bench_graph --gen store|random [--nodes N] [--seed S] [--runs K] [--only IMPL,...] [--emit]
       bench_graph --pause <file|-> [--runs K]    (or --pause --gen ...)";

enum Source {
    File(String),
    Gen {
        shape: String,
        nodes: Option<usize>,
        seed: u64,
    },
}

struct Args {
    source: Source,
    runs: usize,
    emit: bool,
    /// Only these implementations (for profiling); all by default.
    only: Option<Vec<String>>,
    /// Measure the pause of a collection in two parts instead.
    pause: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut shape = None;
    let mut nodes = None;
    let mut seed = 1;
    let mut runs = 5;
    let mut emit = false;
    let mut only = None;
    let mut pause = false;
    fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a valid number"))
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gen" => shape = Some(args.next().ok_or("--gen needs store or random")?),
            "--nodes" => nodes = Some(number("--nodes", args.next())?),
            "--seed" => seed = number("--seed", args.next())?,
            "--runs" => runs = number("--runs", args.next())?,
            "--emit" => emit = true,
            "--pause" => pause = true,
            "--only" => {
                let list = args
                    .next()
                    .ok_or("--only needs a list of implementations")?;
                let list: Vec<String> = list.split(',').map(str::to_string).collect();
                if let Some(bad) = list.iter().find(|i| !IMPLS.contains(&i.as_str())) {
                    return Err(format!("--only: unknown implementation {bad}"));
                }
                only = Some(list);
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path if file.is_none() => file = Some(path.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if pause && (emit || only.is_some()) {
        return Err("--pause takes neither --emit nor --only".into());
    }
    let source = match (file, shape) {
        (Some(path), None) if nodes.is_none() => Source::File(path),
        (None, Some(shape)) if shape == "store" || shape == "random" => {
            Source::Gen { shape, nodes, seed }
        }
        (None, Some(shape)) => return Err(format!("--gen {shape}: expected store or random")),
        (None, None) => return Err("give a graph file, `-` for stdin, or --gen".into()),
        _ => return Err("give either a graph file or --gen, not both".into()),
    };
    Ok(Args {
        source,
        runs,
        emit,
        only,
        pause,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("bench_graph: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let (graph, origin) = match load(&args.source) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("bench_graph: {message}");
            return ExitCode::from(2);
        }
    };
    if args.emit {
        return match write_graph(&graph, io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(141),
            Err(e) => {
                eprintln!("bench_graph: writing the graph: {e}");
                ExitCode::from(2)
            }
        };
    }
    out!("{} ({origin} in {})", graph.summary(), ms(start.elapsed()));
    if graph.node_count() == 0 {
        eprintln!("bench_graph: the graph has no nodes");
        return ExitCode::from(2);
    }
    if args.pause {
        return pause(graph, args.runs);
    }
    let selected: Vec<&'static str> = IMPLS
        .into_iter()
        .filter(|i| {
            args.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|o| o == i))
        })
        .collect();
    bench(graph, args.runs, &selected)
}

fn load(source: &Source) -> Result<(Graph, String), String> {
    match source {
        Source::File(path) if path == "-" => parse_graph(io::stdin().lock())
            .map(|g| (g, "parsed from stdin".to_string()))
            .map_err(|e| format!("<stdin>: {e}")),
        Source::File(path) => {
            let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
            parse_graph(BufReader::with_capacity(1 << 16, file))
                .map(|g| (g, format!("parsed from {path}")))
                .map_err(|e| format!("{path}: {e}"))
        }
        Source::Gen { shape, nodes, seed } => {
            let graph = if shape == "store" {
                let params = match nodes {
                    Some(n) => StoreParams::for_nodes(*n),
                    None => StoreParams::default(),
                };
                gen_store(&StoreParams {
                    seed: *seed,
                    ..params
                })
            } else {
                let params = RandomParams::for_nodes(nodes.unwrap_or(100_000));
                gen_random(&RandomParams {
                    seed: *seed,
                    ..params
                })
            };
            Ok((graph, format!("generated, seed {seed},")))
        }
    }
}

/// The implementations, in table order; the first five are the required
/// RESULT lines, in that order.
const IMPLS: [&str; 18] = [
    "floor",
    "dense",
    "node",
    "naive",
    "petgraph",
    "naive_presized",
    "resident",
    "floor_listed",
    "node_reused",
    "node_foldhash",
    "naive_foldhash",
    "node_built",
    "node_views",
    "node_push",
    "node_borrowed",
    "node_parallel",
    "node_borrowed_parallel",
    "scan",
];

/// Changes reported to the resident graph after the runs, and how many to
/// a batch (one `Changes`, one store transaction).
const CHANGES: usize = 100_000;
const CHANGES_PER_BATCH: usize = 100;

fn bench(graph: Graph, runs: usize, impls: &[&str]) -> ExitCode {
    let rss = |what: &str| {
        proc_status_mb("VmRSS").map_or(String::new(), |mb| format!("{what} {mb:.0} MB"))
    };
    let mut memory = vec![rss("graph")];
    let t = Instant::now();
    let csr = Csr::from_graph(&graph);
    let csr_time = t.elapsed();
    memory.push(rss("+csr"));
    let t = Instant::now();
    let mut store = NodeStore::from_graph(&graph, &csr);
    let store_time = t.elapsed();
    memory.push(rss("+store"));
    let t = Instant::now();
    let pg = build_petgraph(&graph);
    let pg_time = t.elapsed();
    memory.push(rss("+petgraph"));
    // The resident graph, built once from one listing of the owned-key
    // store, and the changes to report to it once the runs are done.
    let with_resident = impls.contains(&"resident");
    let (mut resident_graph, build_time) = if with_resident {
        let (built, took) = build_resident(&mut store);
        memory.push(rss("+resident"));
        (Some(built), took)
    } else {
        (None, Duration::ZERO)
    };
    let plan = if with_resident {
        plan_changes(&graph, CHANGES, CHANGES_PER_BATCH, 11)
    } else {
        Vec::new()
    };
    // The floor again, over the CSR numbered in the store's listing order,
    // as the resident graph numbers its nodes.
    let csr_listed = if impls.contains(&"floor_listed") {
        csr.renumbered(&listing_order(&graph, &store))
    } else {
        Csr::default()
    };
    // The writes of `--pause`, for the resident graph's pause below.
    let pause_writes = if with_resident {
        let snapshot_live = reachable(&csr, None);
        pause_changes(&graph, &plan_writes(&graph, &snapshot_live, ENTRIES, 7))
    } else {
        Vec::new()
    };
    let nodes = graph.node_count();
    let roots = graph.roots.clone();
    drop(graph);
    let resident_built = if with_resident {
        format!(", resident {}", ms_num(build_time))
    } else {
        String::new()
    };
    out!(
        "built: csr {}, store {}, petgraph {}{resident_built} ms; rss after: {}",
        ms_num(csr_time),
        ms_num(store_time),
        ms_num(pg_time),
        memory.join(", ")
    );

    // From here on the peak RSS is the implementations' own: reset it
    // (Linux: writing 5 to clear_refs sets VmHWM to the current VmRSS).
    // With `--only IMPL`, the peak above this baseline is that one
    // implementation's working memory.
    let baseline_mb = reset_peak_rss();

    // node_reused: one untimed collection first, so each timed one starts
    // by dropping the last one's copies, as a long-lived collector does.
    let mut reused = Collector::new();
    if impls.contains(&"node_reused") {
        node(&mut reused, &mut store);
    }
    let mut results: Vec<Vec<Run>> = vec![Vec::with_capacity(runs); impls.len()];
    for _ in 0..runs {
        for (i, name) in impls.iter().enumerate() {
            let run = match *name {
                "floor" => floor(&csr),
                "floor_listed" => floor(&csr_listed),
                "dense" => dense(&csr),
                "node" => node_fresh(Collector::new(), &mut store),
                "node_reused" => node(&mut reused, &mut store),
                "node_foldhash" => node_fresh(
                    Collector::with_hasher(foldhash::fast::RandomState::default()),
                    &mut store,
                ),
                "node_built" | "node_views" => {
                    // A store that reads references out of label strings:
                    // an owned Node built per reference, or a borrowed view.
                    store.emit = if *name == "node_built" {
                        Emit::Built
                    } else {
                        Emit::Views
                    };
                    let run = node_fresh(Collector::new(), &mut store);
                    store.emit = Emit::Stored;
                    run
                }
                "node_push" => {
                    store.push_one_by_one = true;
                    let run = node_fresh(Collector::new(), &mut store);
                    store.push_one_by_one = false;
                    run
                }
                "naive" => naive_sip(&store),
                "naive_presized" => naive_presized(&store),
                "resident" => match resident_graph.as_mut() {
                    Some(graph) => resident(graph),
                    None => unreachable!("the resident graph is built when selected"),
                },
                "node_borrowed" => node_borrowed(&store),
                "scan" => support::scan(&mut store),
                "node_parallel" => {
                    let mut collector = Collector::new();
                    let mut run = node_parallel(&mut collector, &mut store, 2);
                    run.drop += dropped(collector);
                    run
                }
                "node_borrowed_parallel" => node_borrowed_parallel(&store, 2),
                "naive_foldhash" => naive_foldhash(&store),
                "petgraph" => petgraph_dfs(&pg, &roots),
                other => unreachable!("unknown implementation {other}"),
            };
            results[i].push(run);
        }
    }
    // The implementations' peak, before the resident graph's extras below.
    let peak_mb = proc_status_mb("VmHWM");

    let summaries: Vec<Summary> = results.iter().map(|runs| Summary::of(runs)).collect();
    let total_of = |which: &str| {
        impls
            .iter()
            .position(|i| *i == which)
            .map_or(Duration::ZERO, |i| summaries[i].total)
    };
    let (floor_total, naive_total, presized_total) = (
        total_of("floor"),
        total_of("naive"),
        total_of("naive_presized"),
    );
    out!(
        "{runs} runs each, interleaved; medians. total = mark + sweep + drop; the ratios compare totals.\n"
    );
    out!(
        "{:<22} {:>10} {:>10} {:>9} {:>10} {:>9} {:>9} {:>10} {:>11} {:>11}",
        "impl",
        "mark ms",
        "sweep ms",
        "drop ms",
        "total ms",
        "x floor",
        "x naive",
        "x presized",
        "reachable",
        "unreachable"
    );
    for (name, s) in impls.iter().zip(&summaries) {
        out!(
            "{:<22} {:>10} {:>10} {:>9} {:>10} {:>9.2} {:>9.3} {:>10.3} {:>11} {:>11}",
            name,
            ms_num(s.mark),
            ms_num(s.sweep),
            ms_num(s.drop),
            ms_num(s.total),
            ratio(s.total, floor_total),
            ratio(s.total, naive_total),
            ratio(s.total, presized_total),
            s.reachable,
            s.unreachable
        );
    }
    // The crate's own phase timings (the dense path has one phase).
    for (name, runs) in impls.iter().zip(&results) {
        if !name.starts_with("node") && *name != "resident" && *name != "scan" {
            continue;
        }
        if let Some(line) = phase_line(runs) {
            out!("{name:<22} Stats: {line}");
        }
    }
    let node_stats = impls
        .iter()
        .zip(&results)
        .find(|(name, _)| name.starts_with("node"))
        .and_then(|(_, runs)| runs[0].stats.as_ref());
    if let Some(stats) = node_stats {
        out!(
            "node Stats: listed {}, roots {}, marked {}, expanded {}, references {}, dead edges {}, swept {}",
            stats.nodes_listed,
            stats.roots,
            stats.nodes_marked,
            stats.nodes_expanded,
            stats.references_followed,
            stats.dead_edges,
            stats.nodes_swept
        );
    }

    // Agreement: every run of every implementation, with each other and
    // with the node count.
    let expected = (summaries[0].reachable, summaries[0].unreachable);
    let mut disagree = Vec::new();
    if expected.0 + expected.1 != nodes {
        disagree.push(format!(
            "{}: reachable {} + unreachable {} != {nodes} nodes",
            impls[0], expected.0, expected.1
        ));
    }
    for (name, runs) in impls.iter().zip(&results) {
        for (k, run) in runs.iter().enumerate() {
            if run.counts() != expected {
                disagree.push(format!(
                    "{name} (run {}): reachable {}, unreachable {}; {} says {}, {}",
                    k + 1,
                    run.reachable,
                    run.unreachable,
                    impls[0],
                    expected.0,
                    expected.1
                ));
            }
        }
    }
    if !disagree.is_empty() {
        eprintln!("bench_graph: the implementations disagree:");
        for line in disagree {
            eprintln!("  {line}");
        }
        return ExitCode::from(1);
    }

    if let (Some(r), Some(f)) = (
        impls.iter().position(|i| *i == "resident"),
        impls.iter().position(|i| *i == "floor_listed"),
    ) {
        out!(
            "resident: {:.2}x floor_listed (the floor over the same numbering, the store's listing order)",
            ratio(summaries[r].total, summaries[f].total)
        );
    }
    let extras = resident_graph
        .as_mut()
        .map(|graph| resident_extras(graph, &store, &plan, build_time, runs));
    // The pause last: it takes the graph.
    if let Some(graph) = resident_graph.take() {
        resident_pause(graph, &pause_writes, runs);
    }

    out!();
    for (name, s) in impls.iter().zip(&summaries) {
        out!(
            "RESULT {name} mark_ms={} sweep_ms={} reachable={} unreachable={} drop_ms={}",
            ms_num(s.mark),
            ms_num(s.sweep),
            s.reachable,
            s.unreachable,
            ms_num(s.drop)
        );
    }
    for line in extras.into_iter().flatten() {
        out!("{line}");
    }
    match (peak_mb, baseline_mb) {
        (Some(peak), Some(baseline)) => {
            out!("RESULT peak_above_graphs_mb={:.1}", peak - baseline)
        }
        _ => out!("RESULT peak_above_graphs_mb=nan"),
    }
    match peak_mb {
        Some(mb) => out!("RESULT peak_rss_mb={mb:.1}"),
        None => out!("RESULT peak_rss_mb=nan"),
    }
    ExitCode::SUCCESS
}

/// The resident graph's figures beyond the table, measured once the runs
/// are done (see the module's documentation): prints what it measured and
/// returns its RESULT lines.
fn resident_extras(
    graph: &mut Resident,
    store: &NodeStore,
    plan: &[ResidentChanges],
    build_time: Duration,
    runs: usize,
) -> Vec<String> {
    let references = graph.reference_count();
    let built_bytes = graph.heap_bytes();
    // The first commit after a build compacts: the build leaves every
    // reference in the adjacency's delta lists.
    let t = Instant::now();
    if let Err(e) = graph.apply(&ResidentChanges::new()) {
        eprintln!("bench_graph: an empty commit failed: {e}");
    }
    let compact_time = t.elapsed();
    let compacted_bytes = graph.heap_bytes();
    let applied = apply_changes(graph, plan);
    let mut after: Vec<Duration> = (0..runs).map(|_| resident(graph).total()).collect();
    let after = median(&mut after);
    // The same nodes and roots without a reference: what the nodes cost.
    let (mut bare, _) = build_resident(&mut NodesOnly(store));
    drop(resident(&mut bare));
    let bare_bytes = bare.heap_bytes();
    let nodes = bare.listed_count();
    drop(bare);

    let mb = |bytes: usize| bytes as f64 / (1 << 20) as f64;
    out!(
        "\nresident: built from one listing in {} ms; heap_bytes {:.1} MB as built, {:.1} MB compacted, {:.1} MB for the nodes and roots alone ({nodes} nodes, {references} references)",
        ms_num(build_time),
        mb(built_bytes),
        mb(compacted_bytes),
        mb(bare_bytes)
    );
    out!(
        "resident: the first commit after the build took {} ms (the build ends compacted: an empty commit)",
        ms_num(compact_time)
    );
    out!(
        "resident: {} changes in {} batches (prepare + commit): {} ms, {:.0} ns a change, slowest batch {} ms",
        applied.changes,
        plan.len(),
        ms_num(applied.total),
        applied.ns_per_change(),
        ms_num(applied.slowest)
    );
    out!(
        "resident: after them, collect (mark + sweep + drop) {} ms, median of {runs}, not interleaved",
        ms_num(after)
    );
    vec![
        format!("RESULT resident_build ms={}", ms_num(build_time)),
        format!(
            "RESULT resident_change ns_per_change={:.1} changes={} batch={CHANGES_PER_BATCH} compact_ms={}",
            applied.ns_per_change(),
            applied.changes,
            ms_num(compact_time)
        ),
        format!(
            "RESULT resident_bytes per_node={:.1} per_reference={:.1} built_mb={:.1} compacted_mb={:.1}",
            bare_bytes as f64 / nodes.max(1) as f64,
            built_bytes.saturating_sub(bare_bytes) as f64 / references.max(1) as f64,
            mb(built_bytes),
            mb(compacted_bytes)
        ),
    ]
}

/// Barrier entries the writer makes in each collection of `--pause`.
const ENTRIES: usize = 1000;

/// `--pause`: see the module's documentation.
fn pause(graph: Graph, runs: usize) -> ExitCode {
    let t = Instant::now();
    let csr = Csr::from_graph(&graph);
    let mut store = NodeStore::from_graph(&graph, &csr);
    let snapshot_live = reachable(&csr, None);
    let writes = plan_writes(&graph, &snapshot_live, ENTRIES, 7);
    drop(snapshot_live);
    out!(
        "built: csr and store in {}; {} writes, {ENTRIES} barrier entries; rss {:.0} MB",
        ms(t.elapsed()),
        writes.len(),
        proc_status_mb("VmRSS").unwrap_or(f64::NAN)
    );

    // One collector for every run, as a long-lived one (and its barrier)
    // is: each `start` drops the last run's copies, under the lock.
    let mut collector = Collector::new();
    let mut collect_runs = Vec::new();
    let (mut spread, mut catch_up, mut tail) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=runs {
        let plain = node(&mut collector, &mut store);
        out!("round {round}: collect {} ms", ms_num(plain.mark));
        let long_part = plain.mark;
        collect_runs.push(plain);
        for (label, schedule, list) in [
            ("pause", Schedule::Spread(long_part), &mut spread),
            ("pause_catchup", Schedule::CatchUp(long_part), &mut catch_up),
            ("pause_tail", Schedule::AfterMark, &mut tail),
        ] {
            let run = match pause_run(&mut collector, &store, &graph, &csr, &writes, schedule) {
                Ok(run) => run,
                Err(message) => {
                    eprintln!("bench_graph: {label}, round {round}: {message}");
                    return ExitCode::from(1);
                }
            };
            out!("round {round}: {label:<10} {}", run.line());
            list.push(run);
        }
    }

    let collect_ms = Summary::of(&collect_runs).mark;
    out!("\n{runs} rounds, interleaved; medians.");
    for (label, list) in [
        ("pause", &mut spread),
        ("pause_catchup", &mut catch_up),
        ("pause_tail", &mut tail),
    ] {
        let pick = |list: &mut Vec<PauseRun>, f: fn(&PauseRun) -> Duration| {
            median(&mut list.iter().map(f).collect::<Vec<_>>())
        };
        let finish = pick(list, |r| r.finish);
        let whole = pick(list, |r| r.whole);
        let start = pick(list, |r| r.start);
        let long = pick(list, |r| r.long);
        let mut in_finish: Vec<usize> = list.iter().map(|r| r.in_finish).collect();
        in_finish.sort_unstable();
        let in_finish = in_finish[in_finish.len() / 2];
        out!(
            "{label:<10} finish {} ms = 1/{:.0} of whole {} ms (collect {} ms; start {} ms, long part {} ms)",
            ms_num(finish),
            ratio(whole, finish),
            ms_num(whole),
            ms_num(collect_ms),
            ms_num(start),
            ms_num(long)
        );
        out!(
            "RESULT {label} entries={ENTRIES} finish_ms={} whole_ms={} start_ms={} mark_ms={} in_finish={in_finish} collect_ms={}",
            ms_num(finish),
            ms_num(whole),
            ms_num(start),
            ms_num(long),
            ms_num(collect_ms)
        );
    }
    let changes = pause_changes(&graph, &writes);
    let (built, build) = build_resident(&mut store);
    out!("\nresident: built from one listing in {} ms", ms_num(build));
    resident_pause(built, &changes, runs);
    ExitCode::SUCCESS
}

/// `writes` as the resident graph's `Changes`, one per write (one
/// store transaction each).
fn pause_changes(graph: &Graph, writes: &[Change]) -> Vec<ResidentChanges> {
    writes
        .iter()
        .enumerate()
        .map(|(i, &write)| {
            let mut changes = ResidentChanges::new();
            match write {
                Change::Reference { from, to } => {
                    changes.add_reference(
                        graph.store_node(from),
                        graph.store_node(to),
                        resource_gc::Strength::Strong,
                    );
                }
                Change::Root { to } => {
                    let root = resource_gc::Node::new(
                        support::IMAGE,
                        graph.namespace(to).to_string(),
                        format!("bench/new-image-{i}"),
                    );
                    changes
                        .add_root(root.clone(), resource_gc::Strength::Strong)
                        .add_reference(root, graph.store_node(to), resource_gc::Strength::Strong);
                }
            }
            changes
        })
        .collect()
}

/// `--pause` for the resident graph: a `SharedGraph` built from one
/// listing of the same owned-key store; each round, a writer thread makes
/// the same writes as `Changes` (one prepare and commit each, a
/// transaction a write) either spread over the long part (`mark`: they
/// queue) or all after it (every one is then `finish`'s); `finish` takes
/// them in. Prints `RESULT resident_pause_spread …` and
/// `RESULT resident_pause_tail entries=… finish_ms=… apply_ms=… mark_ms=…
/// long_ms=…` (medians): `finish_ms` is the whole short part, writers
/// held out.
fn resident_pause(built: Resident, changes: &[ResidentChanges], runs: usize) {
    let shared = resource_gc::SharedGraph::new(built);
    let options = Options::default();
    // The long part's length, for spreading the writes over it: the
    // shortest of three, as the first, cold, can take many times as long
    // (at 10M, 30 s against 0.2 s), and writes spread over that would
    // mostly come after the long part.
    let mut long_estimate = Duration::MAX;
    for _ in 0..3 {
        let probe = Instant::now();
        let marking = shared.mark(&options);
        long_estimate = long_estimate.min(probe.elapsed());
        if let Err(e) = marking.finish(|_| ()) {
            eprintln!("bench_graph: resident pause: {e}");
            return;
        }
    }
    out!(
        "resident pause: writes spread over {} ms, the long part's shortest of 3",
        ms_num(long_estimate)
    );
    for (label, spread) in [
        ("resident_pause_spread", true),
        ("resident_pause_tail", false),
    ] {
        let mut rows: Vec<(Duration, Duration, Duration, Duration, usize)> = Vec::new();
        for round in 1..=runs {
            let long_done = AtomicBool::new(false);
            let (long, pause) = thread::scope(|scope| {
                let writer = scope.spawn(|| {
                    let begun = Instant::now();
                    let mut after_long = 0;
                    for (i, write) in changes.iter().enumerate() {
                        if spread {
                            let due =
                                long_estimate.mul_f64((i + 1) as f64 / (changes.len() + 1) as f64);
                            if let Some(wait) = due.checked_sub(begun.elapsed()) {
                                thread::sleep(wait);
                            }
                        } else {
                            while !long_done.load(Ordering::Acquire) {
                                thread::sleep(Duration::from_micros(200));
                            }
                        }
                        after_long += usize::from(long_done.load(Ordering::Acquire));
                        let staged = shared.prepare(write.clone()).expect("the graph has room");
                        shared.commit(staged).expect("staged on this graph");
                    }
                    after_long
                });
                let start = Instant::now();
                let marking = shared.mark(&options);
                let long = start.elapsed();
                long_done.store(true, Ordering::Release);
                // Not the collection's time: the writer's last writes.
                let after_long = writer.join().expect("the writer panicked");
                let finished = marking.finish(|collection| collection.garbage().len());
                (long, finished.map(|done| (done, after_long)))
            });
            let ((swept, pause), after_long) = match pause {
                Ok(done) => done,
                Err(e) => {
                    eprintln!("bench_graph: {label}, round {round}: {e}");
                    return;
                }
            };
            out!(
                "round {round}: {label:<22} long part {} ms, finish {} ms (apply {} ms, mark {} ms, compact {} ms), {} nodes named, {after_long} of {} writes after the long part, swept {swept}",
                ms_num(long),
                ms_num(pause.whole),
                ms_num(pause.apply),
                ms_num(pause.mark),
                ms_num(pause.compact),
                pause.queued,
                changes.len()
            );
            rows.push((pause.whole, pause.apply, pause.mark, long, pause.queued));
        }
        let pick = |f: fn(&(Duration, Duration, Duration, Duration, usize)) -> Duration| {
            median(&mut rows.iter().map(f).collect::<Vec<_>>())
        };
        out!(
            "RESULT {label} entries={ENTRIES} writes={} finish_ms={} apply_ms={} mark_ms={} long_ms={}",
            changes.len(),
            ms_num(pick(|r| r.0)),
            ms_num(pick(|r| r.1)),
            ms_num(pick(|r| r.2)),
            ms_num(pick(|r| r.3))
        );
    }
}

/// When the writer of a `--pause` run writes.
#[derive(Clone, Copy)]
enum Schedule {
    /// Evenly over about this long from the start of the long part.
    Spread(Duration),
    /// The same, with one more step over the snapshot once the long part
    /// is done, just before the lock is taken, as the README advises:
    /// `finish` then has only what came in between.
    CatchUp(Duration),
    /// Every write once the long part has returned.
    AfterMark,
}

/// One collection in two parts with a writer alongside.
struct PauseRun {
    /// `start` and opening the snapshot, under the writers' lock.
    start: Duration,
    /// The long part, `mark`.
    long: Duration,
    /// `finish`, under the writers' lock: the pause.
    finish: Duration,
    /// From `start` to `finish` returning, less the wait for the writer
    /// to finish its writes between the two parts.
    whole: Duration,
    /// That wait.
    waited: Duration,
    /// Entries written after the long part returned.
    in_finish: usize,
    /// The collection's own count of reports.
    reported: usize,
    check: PauseCheck,
}

impl PauseRun {
    fn line(&self) -> String {
        format!(
            "start {} ms, long part {} ms, finish {} ms, whole {} ms (writer waited for {} ms); {} reported, {} after the long part; swept {} (final graph's garbage {})",
            ms_num(self.start),
            ms_num(self.long),
            ms_num(self.finish),
            ms_num(self.whole),
            ms_num(self.waited),
            self.reported,
            self.in_finish,
            self.check.swept,
            self.check.final_garbage
        )
    }
}

/// One collection in two parts of `store` by `collector`, while a writer
/// thread makes `writes` on `schedule`, then checked against the final
/// graph.
fn pause_run(
    collector: &mut Collector<u8, String, String>,
    store: &NodeStore,
    graph: &Graph,
    csr: &Csr,
    writes: &[Change],
    schedule: Schedule,
) -> Result<PauseRun, String> {
    // The writers' lock, and what they wrote since the snapshot.
    let writers = Mutex::new(Overlay::default());
    let barrier = collector.barrier();
    let long_done = AtomicBool::new(false);
    let options = Options::default();

    let whole = Instant::now();
    let lock = writers.lock().expect("writers' lock");
    let mut marking = collector.start(&options);
    // The store itself is the snapshot: writers write to the overlay.
    let mut snapshot = Layered::snapshot(store);
    drop(lock);
    let start = whole.elapsed();

    let (long, waited, in_finish) = thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let begun = Instant::now();
            let mut after = 0;
            for (i, &write) in writes.iter().enumerate() {
                match schedule {
                    Schedule::Spread(over) | Schedule::CatchUp(over) => {
                        let due = over.mul_f64((i + 1) as f64 / (writes.len() + 1) as f64);
                        if let Some(wait) = due.checked_sub(begun.elapsed()) {
                            thread::sleep(wait);
                        }
                    }
                    Schedule::AfterMark => {
                        while !long_done.load(Ordering::Acquire) {
                            thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
                let mut overlay = writers.lock().expect("writers' lock");
                if long_done.load(Ordering::Acquire) {
                    after += write.entries();
                }
                // Reported before the lock is released.
                overlay.apply(graph, write, |node| barrier.keep(node));
            }
            after
        });
        let marked = marking.mark(&mut snapshot);
        let long = whole.elapsed() - start;
        long_done.store(true, Ordering::Release);
        // Not the collection's time: the writer's last planned writes.
        let t = Instant::now();
        let after = writer.join().expect("the writer panicked");
        let waited = t.elapsed();
        marked?;
        if let Schedule::CatchUp(_) = schedule {
            // Outside the lock: what the writer reported since the long part.
            let _done = marking.step(&mut snapshot, usize::MAX)?;
            return Ok((long, waited, 0));
        }
        Ok((long, waited, after))
    })
    .map_err(|e: resource_gc::Error<std::convert::Infallible, _>| {
        format!("the long part failed: {e}")
    })?;

    let overlay = writers.lock().expect("writers' lock");
    let t = Instant::now();
    let collection = marking
        .finish(&mut Layered::live(store, &overlay))
        .map_err(|e| format!("finish failed: {e}"))?;
    let finish = t.elapsed();
    let whole = whole.elapsed() - waited;
    let check = check_pause(&collection, graph, csr, &overlay)?;
    Ok(PauseRun {
        start,
        long,
        finish,
        whole,
        waited,
        in_finish,
        reported: collection.stats().reported,
        check,
    })
}

/// Medians over the runs of one implementation.
struct Summary {
    mark: Duration,
    sweep: Duration,
    drop: Duration,
    total: Duration,
    reachable: usize,
    unreachable: usize,
}

impl Summary {
    fn of(runs: &[Run]) -> Self {
        let pick = |f: fn(&Run) -> Duration| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        Summary {
            mark: pick(|r| r.mark),
            sweep: pick(|r| r.sweep),
            drop: pick(|r| r.drop),
            total: pick(Run::total),
            reachable: runs[0].reachable,
            unreachable: runs[0].unreachable,
        }
    }
}

/// The crate's own phase timings, medians, where it has them.
fn phase_line(runs: &[Run]) -> Option<String> {
    let stats: Vec<_> = runs.iter().filter_map(|r| r.stats.as_ref()).collect();
    if stats.is_empty() {
        return None;
    }
    let pick = |f: fn(&resource_gc::Stats) -> Duration| {
        ms_num(median(&mut stats.iter().map(|s| f(s)).collect::<Vec<_>>()))
    };
    Some(format!(
        "listing {} ms, mark {} ms, sweep (count) {} ms",
        pick(|s| s.listing_time),
        pick(|s| s.mark_time),
        pick(|s| s.sweep_time)
    ))
}

/// Resets the peak RSS to the current RSS and returns that, in MiB; `None`
/// where the kernel does not offer it.
fn reset_peak_rss() -> Option<f64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_mb("VmRSS")
}

fn median(values: &mut [Duration]) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        f64::NAN
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

fn ms_num(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn ms(d: Duration) -> String {
    format!("{} ms", ms_num(d))
}
