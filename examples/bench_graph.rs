//! Mark and sweep on one graph, every implementation side by side, with
//! ratios to the hardware floor and to a naive containerd-style collector.
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
//! Timing: `mark` is the mark, including allocating its marks; `sweep` is
//! collecting the unreachable nodes into a `Vec`. For the crate's
//! collectors, `mark` is the whole `collect()` call (on the `Node` path
//! that includes listing, i.e. interning every node) and `sweep` is
//! iterating `garbage()`; their own `Stats` phase timings are printed
//! below the table. A fresh collector's drop is timed apart, not in either.
//! Runs are interleaved (one of each implementation per round) so that
//! noise from other processes spreads evenly.
//!
//! The last lines are machine-readable:
//! `RESULT <impl> mark_ms=<f> sweep_ms=<f> reachable=<n> unreachable=<n>`
//! for floor, dense, node, naive, petgraph, then the extra implementations,
//! then `RESULT peak_above_graphs_mb=<f>` (the peak RSS above the RSS once
//! the input graphs are built: with `--only IMPL`, that implementation's own
//! working memory) and `RESULT peak_rss_mb=<f>` (the process's VmHWM).
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
    Change, Csr, Emit, Graph, Layered, NodeStore, Overlay, PauseCheck, RandomParams, Run,
    StoreParams, build_petgraph, check_pause, dense, floor, gen_random, gen_store, naive_foldhash,
    naive_sip, node, node_borrowed, node_borrowed_parallel, node_parallel, parse_graph,
    petgraph_dfs, plan_writes, proc_status_mb, reachable, write_graph,
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
const IMPLS: [&str; 13] = [
    "floor",
    "dense",
    "node",
    "naive",
    "petgraph",
    "node_reused",
    "node_foldhash",
    "naive_foldhash",
    "node_built",
    "node_views",
    "node_borrowed",
    "node_parallel",
    "node_borrowed_parallel",
];

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
    let nodes = graph.node_count();
    let roots = graph.roots.clone();
    drop(graph);
    out!(
        "built: csr {}, store {}, petgraph {} ms; rss after: {}",
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
    let mut drops: Vec<Duration> = Vec::new();
    for _ in 0..runs {
        for (i, name) in impls.iter().enumerate() {
            let run = match *name {
                "floor" => floor(&csr),
                "dense" => dense(&csr),
                "node" => {
                    let mut collector = Collector::new();
                    let run = node(&mut collector, &mut store);
                    let t = Instant::now();
                    drop(collector);
                    drops.push(t.elapsed());
                    run
                }
                "node_reused" => node(&mut reused, &mut store),
                "node_foldhash" => {
                    let mut collector =
                        Collector::with_hasher(foldhash::fast::RandomState::default());
                    node(&mut collector, &mut store)
                }
                "node_built" | "node_views" => {
                    // A store that reads references out of label strings:
                    // an owned Node built per reference, or a borrowed view.
                    store.emit = if *name == "node_built" {
                        Emit::Built
                    } else {
                        Emit::Views
                    };
                    let run = node(&mut Collector::new(), &mut store);
                    store.emit = Emit::Stored;
                    run
                }
                "naive" => naive_sip(&store),
                "node_borrowed" => node_borrowed(&store),
                "node_parallel" => node_parallel(&mut Collector::new(), &mut store, 2),
                "node_borrowed_parallel" => node_borrowed_parallel(&store, 2),
                "naive_foldhash" => naive_foldhash(&store),
                "petgraph" => petgraph_dfs(&pg, &roots),
                other => unreachable!("unknown implementation {other}"),
            };
            results[i].push(run);
        }
    }

    let summaries: Vec<Summary> = results.iter().map(|runs| Summary::of(runs)).collect();
    let total_of = |which: &str| {
        impls
            .iter()
            .position(|i| *i == which)
            .map_or(Duration::ZERO, |i| summaries[i].total)
    };
    let (floor_total, naive_total) = (total_of("floor"), total_of("naive"));
    out!("{runs} runs each, interleaved; medians. x floor and x naive compare mark + sweep.\n");
    out!(
        "{:<15} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11} {:>11}",
        "impl",
        "mark ms",
        "sweep ms",
        "total ms",
        "x floor",
        "x naive",
        "reachable",
        "unreachable"
    );
    for (name, s) in impls.iter().zip(&summaries) {
        out!(
            "{:<15} {:>10} {:>10} {:>10} {:>9.2} {:>9.3} {:>11} {:>11}",
            name,
            ms_num(s.mark),
            ms_num(s.sweep),
            ms_num(s.total),
            ratio(s.total, floor_total),
            ratio(s.total, naive_total),
            s.reachable,
            s.unreachable
        );
    }
    // The Node path's own phase timings (the dense path has one phase).
    for (name, runs) in impls.iter().zip(&results) {
        if !name.starts_with("node") {
            continue;
        }
        if let Some(line) = phase_line(runs) {
            out!("{name:<15} Stats: {line}");
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
    if !drops.is_empty() {
        out!(
            "node: dropping a fresh collector takes {} ms (median; not in the table)",
            ms_num(median(&mut drops))
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

    out!();
    for (name, s) in impls.iter().zip(&summaries) {
        out!(
            "RESULT {name} mark_ms={} sweep_ms={} reachable={} unreachable={}",
            ms_num(s.mark),
            ms_num(s.sweep),
            s.reachable,
            s.unreachable
        );
    }
    match (proc_status_mb("VmHWM"), baseline_mb) {
        (Some(peak), Some(baseline)) => {
            out!("RESULT peak_above_graphs_mb={:.1}", peak - baseline)
        }
        _ => out!("RESULT peak_above_graphs_mb=nan"),
    }
    match proc_status_mb("VmHWM") {
        Some(mb) => out!("RESULT peak_rss_mb={mb:.1}"),
        None => out!("RESULT peak_rss_mb=nan"),
    }
    ExitCode::SUCCESS
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
    ExitCode::SUCCESS
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
