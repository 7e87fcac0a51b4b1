//! Shared by the criterion bench (`benches/mark_sweep.rs`) and
//! `examples/bench_graph.rs`, which includes it with
//! `#[path = "../benches/support/mod.rs"] mod support;`.
//!
//! - [`Graph`]: a resource graph as `gen_graph.py` describes it: nodes
//!   (type, namespace, key) numbered in order, edges, roots.
//! - [`gen_store`] and [`gen_random`]: the two shapes of
//!   `shared/bench/gen_graph.py`, generated in-process and deterministically
//!   (own PRNG, no `rand`), so that neither the bench nor CI needs python.
//!   Same structure and proportions as the python script; not the same
//!   bytes (different PRNG).
//! - [`parse_graph`] / [`write_graph`]: the `# gcgraph v1` text format. The
//!   parser never panics: any malformed line is a [`ParseError`] with its
//!   1-based line number.
//! - [`Csr`], [`NodeStore`], [`build_petgraph`]: the same graph in the form
//!   each implementation wants, built outside any timed region.
//! - The implementations, each returning a [`Run`] (mark, sweep and drop
//!   timed separately, reachable and unreachable counts): [`floor`],
//!   [`dense`], [`node`], [`naive`] (as it is, [`naive_presized`]),
//!   [`petgraph_dfs`], [`resident`].
//! - The resident graph's other figures: [`build_resident`],
//!   [`plan_changes`] and [`apply_changes`], [`NodesOnly`] (for its bytes
//!   per node), and [`Csr::renumbered`] with [`listing_order`] (the floor
//!   in its numbering).
//!
//! "Reachable" is everywhere "listed and live": every node of the graph is
//! listed, so `reachable + unreachable == node_count` for all of them, and
//! every implementation computes `unreachable` by actually sweeping (the
//! garbage is collected into a `Vec`, as a store would before removing it).

// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, VisitMap};
use resource_gc::{
    Changes, Collection, CollectionContext, Collector, DenseCollector, DenseContext, DenseSink,
    Node, NodeSink, Options, ReferenceSink, ScanCollector, ScanContext, ScanRoots, ScanSink,
    SharedContext, Stats, Strength,
};

// ---------------------------------------------------------------------------
// The graph

/// Node types, as in containerd and `gen_graph.py`.
pub const CONTENT: u8 = 1;
pub const SNAPSHOT: u8 = 2;
pub const CONTAINER: u8 = 3;
pub const LEASE: u8 = 5;
pub const INGEST: u8 = 6;
pub const IMAGE: u8 = 7;

/// A resource graph: nodes `0..node_count()` in definition order, edges
/// `from -> to`, roots. Keys are stored back to back in one string, so a
/// 10M-node graph costs about its text size, not 10M allocations.
#[derive(Debug, Default)]
pub struct Graph {
    /// `store`, `random`, or whatever the file's header says.
    pub shape: String,
    kinds: Vec<u8>,
    node_ns: Vec<u32>,
    namespaces: Vec<String>,
    ns_index: HashMap<String, u32>,
    keys: String,
    key_ends: Vec<usize>,
    /// `(from, to)`: `from` references `to`.
    pub edges: Vec<(u32, u32)>,
    /// Strong roots; duplicates allowed.
    pub roots: Vec<u32>,
}

impl Graph {
    pub fn new(shape: &str) -> Self {
        Graph {
            shape: shape.to_string(),
            ..Graph::default()
        }
    }

    pub fn node_count(&self) -> usize {
        self.kinds.len()
    }

    pub fn kind(&self, id: u32) -> u8 {
        self.kinds[id as usize]
    }

    pub fn namespace(&self, id: u32) -> &str {
        &self.namespaces[self.node_ns[id as usize] as usize]
    }

    pub fn key(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.key_ends[id - 1] };
        &self.keys[start..self.key_ends[id]]
    }

    /// Adds a node and returns its id. The caller keeps the count below
    /// `u32::MAX`.
    pub fn add_node(&mut self, kind: u8, namespace: &str, key: &str) -> u32 {
        let id = self.kinds.len() as u32;
        let ns = match self.ns_index.get(namespace) {
            Some(&ns) => ns,
            None => {
                let ns = self.namespaces.len() as u32;
                self.namespaces.push(namespace.to_string());
                self.ns_index.insert(namespace.to_string(), ns);
                ns
            }
        };
        self.kinds.push(kind);
        self.node_ns.push(ns);
        self.keys.push_str(key);
        self.key_ends.push(self.keys.len());
        id
    }

    pub fn add_edge(&mut self, from: u32, to: u32) {
        self.edges.push((from, to));
    }

    pub fn add_root(&mut self, id: u32) {
        self.roots.push(id);
    }

    fn reserve(&mut self, nodes: usize, edges: usize, roots: usize) {
        self.kinds.reserve(nodes);
        self.node_ns.reserve(nodes);
        self.key_ends.reserve(nodes);
        self.edges.reserve(edges);
        self.roots.reserve(roots);
    }

    /// The node as the `Node` path sees it: owned strings.
    pub fn store_node(&self, id: u32) -> StoreNode {
        Node::new(
            self.kind(id),
            self.namespace(id).to_string(),
            self.key(id).to_string(),
        )
    }

    /// A one-line description: shape and counts.
    pub fn summary(&self) -> String {
        format!(
            "{} graph: {} nodes, {} edges, {} roots",
            self.shape,
            self.node_count(),
            self.edges.len(),
            self.roots.len()
        )
    }
}

// ---------------------------------------------------------------------------
// Deterministic generators

/// splitmix64: tiny, fast, and good enough for graph shapes.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_0f9c_6a11_d3c5)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`; `n > 0`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Normal, by Box-Muller.
    pub fn gauss(&mut self, mean: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        mean + sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -(1.0 - self.next_f64()).ln() * mean
    }

    /// Writes `sha256:` and 64 hex digits into `out` (cleared first).
    pub fn digest(&mut self, out: &mut String) {
        out.clear();
        out.push_str("sha256:");
        for _ in 0..4 {
            let _ = write!(out, "{:016x}", self.next_u64());
        }
    }
}

/// Parameters of the store shape; defaults as in `gen_graph.py store`.
#[derive(Clone, Debug)]
pub struct StoreParams {
    pub namespaces: usize,
    /// Images per namespace.
    pub images: usize,
    /// Mean layers per image.
    pub layers: usize,
    /// Containers per namespace.
    pub containers: usize,
    /// Leases per namespace.
    pub leases: usize,
    /// Fraction of images deleted, and of the layer pool left as orphans.
    pub garbage: f64,
    pub seed: u64,
}

impl Default for StoreParams {
    fn default() -> Self {
        StoreParams {
            namespaces: 4,
            images: 250,
            layers: 8,
            containers: 50,
            leases: 10,
            garbage: 0.3,
            seed: 1,
        }
    }
}

/// Nodes per image (and namespace) of the store shape with default
/// parameters, measured: `gen_graph.py store --namespaces 4 --images 2500`
/// gives 147,446 nodes.
const STORE_NODES_PER_IMAGE: f64 = 14.7;

impl StoreParams {
    /// Default parameters with the image count chosen so that the graph
    /// has about `nodes` nodes.
    pub fn for_nodes(nodes: usize) -> Self {
        let p = StoreParams::default();
        let fixed = p.namespaces * (2 * p.containers + 5 * p.leases);
        let per_ns = nodes.saturating_sub(fixed) as f64 / p.namespaces as f64;
        StoreParams {
            images: ((per_ns / STORE_NODES_PER_IMAGE).round() as usize).max(1),
            ..p
        }
    }
}

/// Heavy head, long tail, within `0..n`: as `gen_graph.py`'s `zipf_index`.
fn zipf_index(rng: &mut Rng, n: usize) -> usize {
    const S: f64 = 1.1;
    let x = (n as f64 * rng.next_f64().powf(1.0 + 2.0 * S)) as usize;
    x.min(n - 1)
}

/// A container-image store, per namespace: a shared pool of layer blobs
/// (Zipf-shared between images); images -> (index ->) manifests -> config
/// and layers; configs -> snapshot chains (a snapshot's parent is the
/// previous layer's, chains shared by prefix); containers -> an active
/// snapshot on a live image's chain; leases -> in-flight blobs and an
/// ingest; a fraction of images deleted and orphaned blobs and snapshots.
/// Same structure as `gen_graph.py store`.
pub fn gen_store(p: &StoreParams) -> Graph {
    let mut rng = Rng::new(p.seed);
    let mut g = Graph::new("store");
    let mut d = String::new();
    let mut key = String::new();
    for n in 0..p.namespaces {
        let ns = format!("ns{n}");
        let pool = (p.images * p.layers / 3).max(8);
        let layer_blob: Vec<u32> = (0..pool)
            .map(|_| {
                rng.digest(&mut d);
                g.add_node(CONTENT, &ns, &d)
            })
            .collect();
        // (parent snapshot or NONE, layer) -> snapshot: the python keys
        // chains by their layer prefix; this is the same identity.
        const NONE: u32 = u32::MAX;
        let mut chain_of: HashMap<(u32, u32), u32> = HashMap::new();
        let mut tops: Vec<(u32, bool)> = Vec::new();
        let mut layers: Vec<u32> = Vec::new();
        for i in 0..p.images {
            let live = rng.next_f64() >= p.garbage;
            let mean = p.layers as f64;
            let nlayers = (rng.gauss(mean, mean / 3.0) as i64).max(1) as usize;
            layers.clear();
            layers.extend((0..nlayers).map(|_| zipf_index(&mut rng, pool) as u32));
            let platforms = if rng.next_f64() < 0.2 { 2 } else { 1 };
            let mut manifests = [0u32; 2];
            for manifest_slot in manifests.iter_mut().take(platforms) {
                rng.digest(&mut d);
                let manifest = g.add_node(CONTENT, &ns, &d);
                rng.digest(&mut d);
                let config = g.add_node(CONTENT, &ns, &d);
                g.add_edge(manifest, config);
                for &l in &layers {
                    g.add_edge(manifest, layer_blob[l as usize]);
                }
                let mut parent = NONE;
                for &l in &layers {
                    let sid = match chain_of.get(&(parent, l)) {
                        Some(&sid) => sid,
                        None => {
                            rng.digest(&mut d);
                            key.clear();
                            key.push_str("overlayfs/");
                            key.push_str(&d);
                            let sid = g.add_node(SNAPSHOT, &ns, &key);
                            chain_of.insert((parent, l), sid);
                            if parent != NONE {
                                g.add_edge(sid, parent);
                            }
                            sid
                        }
                    };
                    parent = sid;
                }
                g.add_edge(config, parent);
                *manifest_slot = manifest;
                tops.push((parent, live));
            }
            let target = if platforms > 1 {
                rng.digest(&mut d);
                let index = g.add_node(CONTENT, &ns, &d);
                for &m in &manifests[..platforms] {
                    g.add_edge(index, m);
                }
                index
            } else {
                manifests[0]
            };
            if live {
                key.clear();
                let _ = write!(key, "registry.example/app{i}:v{}", rng.below(100));
                let image = g.add_node(IMAGE, &ns, &key);
                g.add_edge(image, target);
                g.add_root(image);
            }
        }
        let mut live_tops: Vec<u32> = tops.iter().filter(|t| t.1).map(|t| t.0).collect();
        if live_tops.is_empty() {
            live_tops = tops.iter().map(|t| t.0).collect();
        }
        for c in 0..p.containers {
            let container = g.add_node(CONTAINER, &ns, &format!("container-{c}"));
            let active = g.add_node(SNAPSHOT, &ns, &format!("overlayfs/active-{c}"));
            if !live_tops.is_empty() {
                g.add_edge(active, live_tops[rng.below(live_tops.len())]);
            }
            g.add_edge(container, active);
            g.add_root(container);
        }
        for l in 0..p.leases {
            let lease = g.add_node(LEASE, &ns, &format!("lease-{l}"));
            g.add_root(lease);
            for _ in 0..1 + rng.below(5) {
                rng.digest(&mut d);
                let blob = g.add_node(CONTENT, &ns, &d);
                g.add_edge(lease, blob);
            }
            let ingest = g.add_node(INGEST, &ns, &format!("ingest-{l}"));
            g.add_edge(lease, ingest);
            g.add_edge(ingest, layer_blob[rng.below(layer_blob.len())]);
        }
        // Orphans: blobs and snapshots no one references any more.
        for _ in 0..(pool as f64 * p.garbage) as usize {
            rng.digest(&mut d);
            g.add_node(CONTENT, &ns, &d);
            rng.digest(&mut d);
            key.clear();
            key.push_str("overlayfs/");
            key.push_str(&d);
            g.add_node(SNAPSHOT, &ns, &key);
        }
    }
    g
}

/// Parameters of the random shape; defaults as in `gen_graph.py random`.
#[derive(Clone, Debug)]
pub struct RandomParams {
    pub nodes: usize,
    /// Mean out-degree (exponentially distributed).
    pub degree: f64,
    /// Fraction of the nodes that are roots (at least one).
    pub root_fraction: f64,
    pub namespaces: usize,
    pub seed: u64,
}

impl Default for RandomParams {
    fn default() -> Self {
        RandomParams {
            nodes: 100_000,
            degree: 3.0,
            root_fraction: 0.01,
            namespaces: 4,
            seed: 1,
        }
    }
}

impl RandomParams {
    pub fn for_nodes(nodes: usize) -> Self {
        RandomParams {
            nodes,
            ..RandomParams::default()
        }
    }
}

/// `nodes` content blobs over `namespaces` namespaces, each with an
/// exponentially distributed number of references (mean `degree`) to
/// uniformly chosen nodes; `root_fraction` of the nodes, distinct, are
/// roots. Same structure as `gen_graph.py random`.
pub fn gen_random(p: &RandomParams) -> Graph {
    let mut rng = Rng::new(p.seed);
    let mut g = Graph::new("random");
    let n = p.nodes.min(u32::MAX as usize - 1);
    let namespaces: Vec<String> = (0..p.namespaces.max(1)).map(|i| format!("ns{i}")).collect();
    g.reserve(n, (n as f64 * p.degree) as usize, 0);
    let mut d = String::new();
    for i in 0..n {
        rng.digest(&mut d);
        g.add_node(CONTENT, &namespaces[i % namespaces.len()], &d);
    }
    for a in 0..n {
        let k = if p.degree > 0.0 {
            rng.exponential(p.degree) as usize
        } else {
            0
        };
        for _ in 0..k {
            let b = rng.below(n) as u32;
            g.add_edge(a as u32, b);
        }
    }
    // Distinct roots: a partial Fisher-Yates shuffle.
    let count = ((n as f64 * p.root_fraction) as usize).max(1).min(n);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    for i in 0..count {
        let j = i + rng.below(n - i);
        ids.swap(i, j);
        g.add_root(ids[i]);
    }
    g
}

// ---------------------------------------------------------------------------
// The text format

/// A malformed line of a `# gcgraph v1` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reservations taken from a header are capped at this, so a lying header
/// cannot make the parser allocate absurdly up front.
const MAX_HINT: usize = 1 << 26;

/// Counts a header announces: checked at the end of the file.
#[derive(Default)]
struct Announced {
    line: usize,
    nodes: Option<usize>,
    edges: Option<usize>,
    roots: Option<usize>,
}

/// Parses the text format of `gen_graph.py`:
///
/// ```text
/// # gcgraph v1 <shape> nodes=<N> edges=<E> roots=<R>
/// n <type> <namespace> <key>    node; its id is the count of n-lines before it
/// e <from-id> <to-id>           from references to
/// r <id>                        id is a root
/// ```
///
/// Blank lines and other `#` lines are ignored; the header is optional, but
/// if present it must be the first line, say `v1`, and its counts must
/// match the file. Fields are separated by ASCII whitespace. A node's
/// (type, namespace, key) must be unique. Never panics: any malformed line
/// is an error naming its 1-based line number.
pub fn parse_graph(mut input: impl BufRead) -> Result<Graph, ParseError> {
    let mut g = Graph::new("unknown");
    let mut announced = Announced::default();
    // Line of each node, for the duplicate check after the last line.
    let mut node_lines: Vec<usize> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let read = input.read_until(b'\n', &mut buf).map_err(|e| ParseError {
            line: line_no + 1,
            message: format!("read error: {e}"),
        })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = std::str::from_utf8(&buf).map_err(|_| err("not valid UTF-8".into()))?;
        let mut fields = line.split_ascii_whitespace();
        let Some(tag) = fields.next() else {
            continue; // blank
        };
        if tag.starts_with('#') {
            let is_header = (tag == "#" && line.split_ascii_whitespace().nth(1) == Some("gcgraph"))
                || tag == "#gcgraph";
            if is_header {
                if line_no != 1 {
                    return Err(err(
                        "a `# gcgraph` header must be the first line (two files concatenated?)"
                            .into(),
                    ));
                }
                parse_header(line, &mut g, &mut announced).map_err(err)?;
                let hint = |n: Option<usize>| n.unwrap_or(0).min(MAX_HINT);
                g.reserve(
                    hint(announced.nodes),
                    hint(announced.edges),
                    hint(announced.roots),
                );
                node_lines.reserve(hint(announced.nodes));
            }
            continue;
        }
        let fields: Vec<&str> = fields.collect();
        let want = |n: usize, usage: &str| {
            if fields.len() == n {
                Ok(())
            } else {
                Err(err(format!(
                    "`{tag}` record has {} field(s) after the tag, expected {n}: `{usage}`",
                    fields.len()
                )))
            }
        };
        let defined = g.node_count();
        match tag {
            "n" => {
                want(3, "n <type> <namespace> <key>")?;
                let kind: u8 = fields[0].parse().map_err(|_| {
                    err(format!(
                        "node type `{}` is not an integer in 0..=255",
                        fields[0]
                    ))
                })?;
                if defined >= u32::MAX as usize {
                    return Err(err(format!("more than {} nodes", u32::MAX)));
                }
                g.add_node(kind, fields[1], fields[2]);
                node_lines.push(line_no);
            }
            "e" => {
                want(2, "e <from-id> <to-id>")?;
                let from = parse_id(fields[0], defined).map_err(&err)?;
                let to = parse_id(fields[1], defined).map_err(&err)?;
                if g.edges.len() >= u32::MAX as usize {
                    return Err(err(format!("more than {} edges", u32::MAX)));
                }
                g.add_edge(from, to);
            }
            "r" => {
                want(1, "r <id>")?;
                let id = parse_id(fields[0], defined).map_err(&err)?;
                g.add_root(id);
            }
            other => {
                return Err(err(format!(
                    "unknown record `{other}`: expected `n`, `e`, `r` or a `#` comment"
                )));
            }
        }
    }
    let counts = [
        ("nodes", announced.nodes, g.node_count()),
        ("edges", announced.edges, g.edges.len()),
        ("roots", announced.roots, g.roots.len()),
    ];
    for (what, said, got) in counts {
        if let Some(said) = said.filter(|&said| said != got) {
            return Err(ParseError {
                line: announced.line,
                message: format!(
                    "the header announces {what}={said} but the file has {got} (truncated?)"
                ),
            });
        }
    }
    check_unique(&g, &node_lines)?;
    Ok(g)
}

fn parse_header(line: &str, g: &mut Graph, announced: &mut Announced) -> Result<(), String> {
    announced.line = 1;
    let line = line.trim_start_matches('#');
    let mut words = line.split_ascii_whitespace().skip(1); // "gcgraph"
    match words.next() {
        Some("v1") => {}
        Some(v) => return Err(format!("unsupported format version `{v}` (this reads v1)")),
        None => return Err("header lacks a version: expected `# gcgraph v1 ...`".into()),
    }
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            g.shape = word.to_string();
            continue;
        };
        let slot = match name {
            "nodes" => &mut announced.nodes,
            "edges" => &mut announced.edges,
            "roots" => &mut announced.roots,
            _ => continue, // unknown attributes are for other readers
        };
        *slot = Some(
            value
                .parse()
                .map_err(|_| format!("header count `{word}` is not a non-negative integer"))?,
        );
    }
    Ok(())
}

fn parse_id(field: &str, defined: usize) -> Result<u32, String> {
    let id: u64 = field
        .parse()
        .map_err(|_| format!("`{field}` is not a node id (a non-negative integer)"))?;
    if id >= defined as u64 {
        return Err(format!(
            "node {id} is not defined (yet): {defined} node(s) so far, and every `n` line \
             must come before the `e` and `r` lines that name it"
        ));
    }
    Ok(id as u32)
}

/// Two nodes with the same (type, namespace, key) would be one node on the
/// `Node` path and two on the others.
fn check_unique(g: &Graph, node_lines: &[usize]) -> Result<(), ParseError> {
    let mut seen: HashMap<(u8, u32, &str), u32> = HashMap::with_capacity(g.node_count());
    for id in 0..g.node_count() as u32 {
        let name = (g.kind(id), g.node_ns[id as usize], g.key(id));
        if let Some(first) = seen.insert(name, id) {
            return Err(ParseError {
                line: node_lines[id as usize],
                message: format!(
                    "duplicate node `{} {} {}`: same type, namespace and key as node {first} \
                     (line {})",
                    name.0,
                    g.namespace(id),
                    name.2,
                    node_lines[first as usize]
                ),
            });
        }
    }
    Ok(())
}

/// Writes `g` in the text format, as `gen_graph.py` does: header, nodes,
/// then edges, then roots.
pub fn write_graph(g: &Graph, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    writeln!(
        out,
        "# gcgraph v1 {} nodes={} edges={} roots={}",
        g.shape,
        g.node_count(),
        g.edges.len(),
        g.roots.len()
    )?;
    for id in 0..g.node_count() as u32 {
        writeln!(out, "n {} {} {}", g.kind(id), g.namespace(id), g.key(id))?;
    }
    for &(a, b) in &g.edges {
        writeln!(out, "e {a} {b}")?;
    }
    for &r in &g.roots {
        writeln!(out, "r {r}")?;
    }
    out.flush()
}

// ---------------------------------------------------------------------------
// The forms each implementation reads

/// Compressed sparse rows: the targets of node `i` are
/// `targets[offsets[i]..offsets[i + 1]]`, in edge order.
#[derive(Debug, Default)]
pub struct Csr {
    pub offsets: Vec<u32>,
    pub targets: Vec<u32>,
    pub roots: Vec<u32>,
}

impl Csr {
    /// Counting sort of the edges by source; panics only beyond
    /// `u32::MAX` edges, which the parser rejects.
    pub fn from_graph(g: &Graph) -> Self {
        let n = g.node_count();
        let mut offsets = vec![0u32; n + 1];
        for &(a, _) in &g.edges {
            offsets[a as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut next: Vec<u32> = offsets[..n].to_vec();
        let mut targets = vec![0u32; g.edges.len()];
        for &(a, b) in &g.edges {
            let slot = &mut next[a as usize];
            targets[*slot as usize] = b;
            *slot += 1;
        }
        Csr {
            offsets,
            targets,
            roots: g.roots.clone(),
        }
    }

    pub fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    pub fn targets_of(&self, id: u32) -> &[u32] {
        let id = id as usize;
        &self.targets[self.offsets[id] as usize..self.offsets[id + 1] as usize]
    }
    /// The same graph with node `i` renumbered `new_id[i]` (a permutation
    /// of `0..node_count()`); each row keeps its edge order.
    pub fn renumbered(&self, new_id: &[u32]) -> Self {
        let n = self.node_count();
        assert_eq!(new_id.len(), n, "one new id per node");
        let mut old_id = vec![0u32; n];
        for (old, &new) in new_id.iter().enumerate() {
            old_id[new as usize] = old as u32;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(self.targets.len());
        offsets.push(0);
        for &old in &old_id {
            targets.extend(self.targets_of(old).iter().map(|&t| new_id[t as usize]));
            offsets.push(targets.len() as u32);
        }
        Csr {
            offsets,
            targets,
            roots: self.roots.iter().map(|&r| new_id[r as usize]).collect(),
        }
    }
}

/// Each node's position in `store`'s listing (`refs.keys()`, the order in
/// which `CollectionContext::all` lists it and so the order in which a
/// resident graph built from it numbers it), by graph id.
pub fn listing_order(g: &Graph, store: &NodeStore) -> Vec<u32> {
    let ids: HashMap<(u8, &str, &str), u32> = (0..g.node_count() as u32)
        .map(|id| ((g.kind(id), g.namespace(id), g.key(id)), id))
        .collect();
    let mut new_id = vec![0u32; g.node_count()];
    for (position, node) in store.refs.keys().enumerate() {
        let id = ids[&(node.kind, node.namespace.as_str(), node.key.as_str())];
        new_id[id as usize] = position as u32;
    }
    new_id
}

/// A resource on the `Node` path: type, namespace, key, as containerd has
/// them (its keys are strings; a digest key is `sha256:` and 64 hex).
pub type StoreNode = Node<u8, String, String>;

/// A containerd-like store in memory: each resource with the resources
/// its labels reference, in a `HashMap` with the default hasher, and the
/// roots (images, containers, leases) as nodes.
#[derive(Debug, Default)]
pub struct NodeStore {
    /// hashbrown's map with std's SipHash: std's `HashMap` itself, plus
    /// `Equivalent`, so that [`StoreView`] can look nodes up by borrowed
    /// views.
    pub refs: hashbrown::HashMap<StoreNode, Vec<StoreNode>, RandomState>,
    pub roots: Vec<StoreNode>,
    /// How `references` emits its targets.
    pub emit: Emit,
    /// `all` lists one node at a time (`NodeSink::push`), not all in one
    /// call (`NodeSink::extend`).
    pub push_one_by_one: bool,
}

/// How a [`NodeStore`] emits references.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emit {
    /// The stored target `Node`s, by reference, as one slice
    /// (`strong_all`): no allocation.
    #[default]
    Stored,
    /// A `Node` built per reference, as a store that reads references out
    /// of label strings must: two `String` allocations per reference.
    Built,
    /// A `Node<u8, &str, &str>` view per reference (`add_view`): no
    /// allocation unless the collector has never seen the target.
    Views,
}

impl NodeStore {
    pub fn from_graph(g: &Graph, csr: &Csr) -> Self {
        let mut refs =
            hashbrown::HashMap::with_capacity_and_hasher(g.node_count(), RandomState::new());
        for id in 0..g.node_count() as u32 {
            let targets = csr.targets_of(id).iter().map(|&t| g.store_node(t));
            refs.insert(g.store_node(id), targets.collect());
        }
        NodeStore {
            refs,
            roots: g.roots.iter().map(|&r| g.store_node(r)).collect(),
            emit: Emit::Stored,
            push_one_by_one: false,
        }
    }

    pub fn node_count(&self) -> usize {
        self.refs.len()
    }

    /// Lists every node, as `all` does.
    fn all_into(&self, nodes: &mut NodeSink<'_, u8, String, String>) {
        nodes.reserve(self.refs.len());
        if self.push_one_by_one {
            for node in self.refs.keys() {
                nodes.push(node);
            }
        } else {
            nodes.extend(self.refs.keys());
        }
    }
}

/// What containerd does: list every key, emit the roots, and for each
/// node look its references up in the store and emit them borrowed.
impl CollectionContext for NodeStore {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, String, String>) -> Result<(), Infallible> {
        self.all_into(nodes);
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        for root in &self.roots {
            roots.strong(root);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &StoreNode,
        refs: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        self.references_shared(node, refs)
    }
}

impl SharedContext for NodeStore {
    fn references_shared(
        &self,
        node: &StoreNode,
        refs: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        let targets = self.refs.get(node).into_iter().flatten();
        match self.emit {
            Emit::Stored => refs.strong_all(self.refs.get(node).map_or(&[], Vec::as_slice)),
            Emit::Built => targets
                .for_each(|t| refs.strong(&Node::new(t.kind, t.namespace.clone(), t.key.clone()))),
            Emit::Views => targets.for_each(|t| {
                let view = Node::new(t.kind, t.namespace.as_str(), t.key.as_str());
                refs.add_view(&view, Strength::Strong)
            }),
        }
        Ok(())
    }
}

/// A node as [`StoreView`] emits it: strings borrowed from the store.
pub type ViewNode<'s> = Node<u8, &'s str, &'s str>;

/// A [`NodeStore`] lent to the collector for one collection: the nodes it
/// emits borrow the store's strings, so the collector's copy of a node is
/// two pointers and a kind, never an allocation. This is how an embedder
/// that can hold its store still during a collection (a read transaction,
/// a read lock) makes the `Node` path zero-copy: borrowed key types, no
/// other change. The collector cannot outlive the borrow, so it is fresh
/// each time.
pub struct StoreView<'s>(pub &'s NodeStore);

/// The scan path: every node followed by its references, in the map's
/// order, which is stable while the map is not written to, so that the
/// garbage's places can be walked again.
impl ScanContext for NodeStore {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, String, String>) -> Result<(), Infallible> {
        nodes.reserve(self.refs.len(), 0);
        for (node, targets) in &self.refs {
            nodes.push(node).strong_all(targets);
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ScanRoots<'_, u8, String, String>) -> Result<(), Infallible> {
        for root in &self.roots {
            roots.strong(root);
        }
        Ok(())
    }
}

/// A borrowed view as a key of the store's map: hashes and compares as
/// the owned node it stands for.
#[derive(Hash)]
struct Lookup<'v, 's>(&'v ViewNode<'s>);

impl hashbrown::Equivalent<StoreNode> for Lookup<'_, '_> {
    fn equivalent(&self, owned: &StoreNode) -> bool {
        self.0.kind == owned.kind && self.0.namespace == owned.namespace && self.0.key == owned.key
    }
}

fn view(node: &StoreNode) -> ViewNode<'_> {
    Node::new(node.kind, node.namespace.as_str(), node.key.as_str())
}

impl<'s> CollectionContext for StoreView<'s> {
    type Kind = u8;
    type Namespace = &'s str;
    type Key = &'s str;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, &'s str, &'s str>) -> Result<(), Infallible> {
        nodes.reserve(self.0.refs.len());
        for node in self.0.refs.keys() {
            nodes.push(&view(node));
        }
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, u8, &'s str, &'s str>,
    ) -> Result<(), Infallible> {
        for root in &self.0.roots {
            roots.strong(&view(root));
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &ViewNode<'s>,
        refs: &mut ReferenceSink<'_, u8, &'s str, &'s str>,
    ) -> Result<(), Infallible> {
        self.references_shared(node, refs)
    }
}

impl<'s> SharedContext for StoreView<'s> {
    fn references_shared(
        &self,
        node: &ViewNode<'s>,
        refs: &mut ReferenceSink<'_, u8, &'s str, &'s str>,
    ) -> Result<(), Infallible> {
        for target in self.0.refs.get(&Lookup(node)).into_iter().flatten() {
            refs.strong(&view(target));
        }
        Ok(())
    }
}

/// The same edges in a petgraph `Graph` (u32 indices).
pub fn build_petgraph(g: &Graph) -> DiGraph<(), ()> {
    let mut pg = DiGraph::with_capacity(g.node_count(), g.edges.len());
    for _ in 0..g.node_count() {
        pg.add_node(());
    }
    for &(a, b) in &g.edges {
        pg.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), ());
    }
    pg
}

// ---------------------------------------------------------------------------
// The implementations

/// One mark and sweep.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Marking, including allocating the marks; for the crate's `Node`
    /// path, the whole `collect()` call (listing, roots, marking).
    pub mark: Duration,
    /// Collecting the unreachable nodes into a `Vec`; for the crate's
    /// collectors, iterating `garbage()`.
    pub sweep: Duration,
    /// Freeing what the run allocated, once the sweep is done: its marks,
    /// sets, garbage `Vec` and collection; for a fresh collector, added by
    /// whoever holds it, the collector (and with it its copies of the
    /// nodes). What outlives the run (a reused collector, a resident
    /// graph) is not dropped here.
    pub drop: Duration,
    /// Listed nodes found live.
    pub reachable: usize,
    /// Listed nodes found unreachable (the length of the swept `Vec`).
    pub unreachable: usize,
    /// The crate's own counts and phase timings, where there are some.
    pub stats: Option<Stats>,
}

impl Run {
    /// Mark, sweep and drop.
    pub fn total(&self) -> Duration {
        self.mark + self.sweep + self.drop
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.reachable, self.unreachable)
    }
}

/// The hardware floor: CSR, a bitset, an explicit stack; sweep = the unset
/// bits.
pub fn floor(csr: &Csr) -> Run {
    let start = Instant::now();
    let n = csr.node_count();
    let mut marks = vec![0u64; n.div_ceil(64)];
    let mut stack: Vec<u32> = Vec::new();
    for &root in &csr.roots {
        let (w, bit) = (root as usize / 64, 1u64 << (root % 64));
        if marks[w] & bit == 0 {
            marks[w] |= bit;
            stack.push(root);
        }
    }
    while let Some(id) = stack.pop() {
        for &t in csr.targets_of(id) {
            let (w, bit) = (t as usize / 64, 1u64 << (t % 64));
            if marks[w] & bit == 0 {
                marks[w] |= bit;
                stack.push(t);
            }
        }
    }
    let mark = start.elapsed();

    let start = Instant::now();
    let mut garbage: Vec<u32> = Vec::new();
    for (w, &word) in marks.iter().enumerate() {
        let mut dead = !word;
        let base = w * 64;
        if base + 64 > n {
            dead &= (1u64 << (n - base)) - 1; // n - base < 64 here
        }
        while dead != 0 {
            garbage.push((base + dead.trailing_zeros() as usize) as u32);
            dead &= dead - 1;
        }
    }
    let sweep = start.elapsed();
    let unreachable = garbage.len();
    Run {
        mark,
        sweep,
        drop: dropped((garbage, marks, stack)),
        reachable: n - unreachable,
        unreachable,
        stats: None,
    }
}

/// How long dropping `value` takes.
pub fn dropped<T>(value: T) -> Duration {
    let start = Instant::now();
    drop(value);
    start.elapsed()
}

/// The CSR as a [`DenseContext`].
pub struct CsrContext<'a>(pub &'a Csr);

impl DenseContext for CsrContext<'_> {
    type Error = Infallible;

    fn node_count(&self) -> u32 {
        self.0.node_count() as u32
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Infallible> {
        roots.strong_all(&self.0.roots);
        Ok(())
    }

    #[inline]
    fn references(&mut self, id: u32, refs: &mut DenseSink<'_>) -> Result<(), Infallible> {
        refs.strong_all(self.0.targets_of(id));
        Ok(())
    }
}

/// The crate's dense path over the CSR, with a fresh collector per run
/// (as the floor allocates its bitset per run).
pub fn dense(csr: &Csr) -> Run {
    let start = Instant::now();
    let mut collector = DenseCollector::new();
    let collection = match collector.collect(&mut CsrContext(csr)) {
        Ok(collection) => collection,
        Err(e) => fail(&format!("the dense collection failed: {e}")),
    };
    let mark = start.elapsed();
    let start = Instant::now();
    let garbage: Vec<u32> = collection.garbage().collect();
    let sweep = start.elapsed();
    let unreachable = garbage.len();
    let stats = collection.stats().clone();
    let start = Instant::now();
    drop((garbage, collection));
    drop(collector);
    Run {
        mark,
        sweep,
        drop: start.elapsed(),
        reachable: csr.node_count() - unreachable,
        unreachable,
        stats: Some(stats),
    }
}

/// The crate's `Node` path with `collector`, fresh or reused. The mark is
/// the whole `collect()` (listing, roots, marking, and the internal sweep
/// count); the sweep is iterating `garbage()` into a `Vec`; the drop is
/// the collection's and the `Vec`'s. Dropping a fresh collector is the
/// caller's, to add to [`Run::drop`].
pub fn node<S: BuildHasher>(
    collector: &mut Collector<u8, String, String, S>,
    store: &mut NodeStore,
) -> Run {
    let start = Instant::now();
    timed(start, collector.collect(store), "the Node collection")
}

/// [`node`] marking on `threads` threads ([`Collector::collect_parallel`]).
pub fn node_parallel<S: BuildHasher + Sync>(
    collector: &mut Collector<u8, String, String, S>,
    store: &mut NodeStore,
    threads: usize,
) -> Run {
    let start = Instant::now();
    let result = collector.collect_parallel(store, &parallel(threads));
    timed(start, result, "the parallel Node collection")
}

/// The crate's scan path over the owned-key store, a fresh collector with
/// the default hasher (SipHash). `sweep` includes walking the store's keys
/// a second time to turn the garbage's places back into nodes, as an
/// embedder would, into a `Vec<&StoreNode>` as [`naive`]'s sweep does.
pub fn scan(store: &mut NodeStore) -> Run {
    let start = Instant::now();
    let mut collector = ScanCollector::new();
    let collection = match collector.collect(store) {
        Ok(collection) => collection,
        Err(e) => panic!("the scan collection failed: {e}"),
    };
    let mark = start.elapsed();
    let start = Instant::now();
    let mut places = collection.garbage().peekable();
    let mut garbage: Vec<&StoreNode> = Vec::with_capacity(places.len());
    for (place, node) in store.refs.keys().enumerate() {
        if places.next_if_eq(&(place as u32)).is_some() {
            garbage.push(node);
        }
    }
    let sweep = start.elapsed();
    let stats = collection.stats().clone();
    let unreachable = garbage.len();
    let reachable = stats.nodes_listed - unreachable;
    drop(places);
    Run {
        mark,
        sweep,
        drop: dropped((garbage, collector)),
        reachable,
        unreachable,
        stats: Some(stats),
    }
}

/// A fresh collector with the default hasher over a [`StoreView`], timed
/// as [`node`] times a fresh one.
pub fn node_borrowed(store: &NodeStore) -> Run {
    let start = Instant::now();
    let mut collector = Collector::new();
    let result = collector.collect(&mut StoreView(store));
    let mut run = timed(start, result, "the borrowed Node collection");
    run.drop += dropped(collector);
    run
}

/// [`node_borrowed`] marking on `threads` threads.
pub fn node_borrowed_parallel(store: &NodeStore, threads: usize) -> Run {
    let start = Instant::now();
    let mut collector = Collector::new();
    let result = collector.collect_parallel(&mut StoreView(store), &parallel(threads));
    let mut run = timed(start, result, "the parallel borrowed Node collection");
    run.drop += dropped(collector);
    run
}

fn parallel(threads: usize) -> Options {
    let mut options = Options::default();
    options.mark_threads = threads;
    options
}

/// A [`Run`] of a collection that started at `start`: the mark ends now,
/// the sweep is iterating `garbage()` into a `Vec`, the drop is the
/// collection's and the `Vec`'s.
fn timed<E: fmt::Display, T, N, K, S>(
    start: Instant,
    result: Result<Collection<'_, T, N, K, S>, E>,
    what: &str,
) -> Run
where
    T: Eq + std::hash::Hash + Clone + fmt::Debug,
    N: Eq + std::hash::Hash + Clone + fmt::Debug,
    K: Eq + std::hash::Hash + Clone + fmt::Debug,
    S: BuildHasher,
{
    let collection = match result {
        Ok(collection) => collection,
        Err(e) => fail(&format!("{what} failed: {e}")),
    };
    let mark = start.elapsed();
    let start = Instant::now();
    let garbage: Vec<&Node<T, N, K>> = collection.garbage().collect();
    let sweep = start.elapsed();
    let stats = collection.stats().clone();
    let unreachable = garbage.len();
    Run {
        mark,
        sweep,
        drop: dropped((garbage, collection)),
        reachable: stats.nodes_listed - unreachable,
        unreachable,
        stats: Some(stats),
    }
}

/// [`node`] with a fresh collector, dropped in [`Run::drop`].
pub fn node_fresh<S: BuildHasher>(
    mut collector: Collector<u8, String, String, S>,
    store: &mut NodeStore,
) -> Run {
    let mut run = node(&mut collector, store);
    run.drop += dropped(collector);
    run
}

/// containerd's tricolor mark, written naively: grey stack, `seen` (grey
/// or black) and `black` sets of borrowed nodes hashed with `S`,
/// references looked up in the store's map; sweep = every key not black.
/// With `presize`, both sets are created with the store's node count as
/// their capacity (as the crate's collectors reserve their table from
/// the listing), so that neither rehashes as it grows.
pub fn naive<S: BuildHasher + Default>(store: &NodeStore, presize: bool) -> Run {
    let start = Instant::now();
    let capacity = if presize { store.node_count() } else { 0 };
    let mut seen: HashSet<&StoreNode, S> =
        HashSet::with_capacity_and_hasher(capacity, S::default());
    let mut black: HashSet<&StoreNode, S> =
        HashSet::with_capacity_and_hasher(capacity, S::default());
    let mut grey: Vec<&StoreNode> = Vec::new();
    for root in &store.roots {
        if seen.insert(root) {
            grey.push(root);
        }
    }
    while let Some(node) = grey.pop() {
        for target in store.refs.get(node).into_iter().flatten() {
            if seen.insert(target) {
                grey.push(target);
            }
        }
        black.insert(node);
    }
    let mark = start.elapsed();
    let start = Instant::now();
    let garbage: Vec<&StoreNode> = store.refs.keys().filter(|k| !black.contains(k)).collect();
    let sweep = start.elapsed();
    let unreachable = garbage.len();
    Run {
        mark,
        sweep,
        drop: dropped((garbage, seen, black, grey)),
        reachable: store.refs.len() - unreachable,
        unreachable,
        stats: None,
    }
}

/// [`naive`] with SipHash (std's default).
pub fn naive_sip(store: &NodeStore) -> Run {
    naive::<RandomState>(store, false)
}

/// [`naive`] with SipHash and both sets presized to the node count.
pub fn naive_presized(store: &NodeStore) -> Run {
    naive::<RandomState>(store, true)
}

/// [`naive`] with foldhash.
pub fn naive_foldhash(store: &NodeStore) -> Run {
    naive::<foldhash::fast::RandomState>(store, false)
}

/// petgraph's `Dfs` from every root, one discovered set for all of them;
/// sweep = the undiscovered nodes.
pub fn petgraph_dfs(pg: &DiGraph<(), ()>, roots: &[u32]) -> Run {
    let start = Instant::now();
    let mut dfs = Dfs::empty(pg);
    for &root in roots {
        let root = NodeIndex::new(root as usize);
        if !dfs.discovered.is_visited(&root) {
            dfs.move_to(root);
            while dfs.next(pg).is_some() {}
        }
    }
    let mark = start.elapsed();
    let start = Instant::now();
    let garbage: Vec<NodeIndex> = pg
        .node_indices()
        .filter(|i| !dfs.discovered.is_visited(i))
        .collect();
    let sweep = start.elapsed();
    let unreachable = garbage.len();
    Run {
        mark,
        sweep,
        drop: dropped((garbage, dfs)),
        reachable: pg.node_count() - unreachable,
        unreachable,
        stats: None,
    }
}

// ---------------------------------------------------------------------------
// The resident graph

/// The crate's [`resource_gc::Graph`] of the owned-key [`NodeStore`].
pub type Resident = resource_gc::Graph<u8, String, String>;

/// Changes to a [`Resident`] graph.
pub type ResidentChanges = Changes<u8, String, String>;

/// The resident graph of `store`, built from one listing
/// ([`resource_gc::Graph::build`]), and how long that took.
pub fn build_resident<C>(store: &mut C) -> (Resident, Duration)
where
    C: CollectionContext<Kind = u8, Namespace = String, Key = String>,
    C::Error: fmt::Display,
{
    let start = Instant::now();
    match Resident::build(store) {
        Ok(graph) => (graph, start.elapsed()),
        Err(e) => fail(&format!("building the resident graph failed: {e}")),
    }
}

/// One collection over a built resident graph (`Graph::collect` with
/// default options): the mark is the whole `collect()` call (its mark over
/// dense ids and its own sweep into a list of ids), the sweep is iterating
/// `garbage()` into a `Vec`, as for the crate's other collectors; the drop
/// is the collection's and the `Vec`'s. The graph outlives the run, as the
/// store does.
pub fn resident(graph: &mut Resident) -> Run {
    let options = Options::default();
    let start = Instant::now();
    let collection = match graph.collect(&options) {
        Ok(collection) => collection,
        Err(e) => fail(&format!("the resident collection failed: {e}")),
    };
    let mark = start.elapsed();
    let start = Instant::now();
    let garbage: Vec<&StoreNode> = collection.garbage().collect();
    let sweep = start.elapsed();
    let stats = collection.stats().clone();
    let unreachable = garbage.len();
    Run {
        mark,
        sweep,
        drop: dropped((garbage, collection)),
        reachable: stats.nodes_listed - unreachable,
        unreachable,
        stats: Some(stats),
    }
}

/// A [`NodeStore`]'s nodes and roots without their references: its
/// resident graph costs what a graph costs per node (and per root), so
/// that the full graph's bytes less its bytes are the references' cost.
pub struct NodesOnly<'a>(pub &'a NodeStore);

impl CollectionContext for NodesOnly<'_> {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, String, String>) -> Result<(), Infallible> {
        self.0.all_into(nodes);
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        roots.strong_all(&self.0.roots);
        Ok(())
    }

    fn references(
        &mut self,
        _node: &StoreNode,
        _refs: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        Ok(())
    }
}

/// One change of [`plan_changes`], in graph ids.
#[derive(Clone, Copy, Debug)]
enum Planned {
    /// A new content blob, `bench/blob-<n>` in `from`'s namespace, and a
    /// reference from `from` to it: two changes.
    Blob {
        from: u32,
        n: usize,
    },
    AddReference {
        from: u32,
        to: u32,
    },
    RemoveReference {
        from: u32,
        to: u32,
    },
    AddRoot(u32),
    RemoveRoot(u32),
}

/// `count` changes to report to the resident graph of `g`, deterministic
/// in `seed`, staged `batch` to a [`Changes`] (one store transaction
/// each). They come in rounds of six, all strong:
///
/// - a new node (a content blob) and a reference to it from a random
///   existing node: two changes;
/// - a reference added between two random existing nodes;
/// - a reference removed: one of the graph's edges, each at most once, in
///   random order (once they run out, the ones added here, oldest first);
/// - a root added on a random existing node;
/// - a root removed: one of the graph's roots, likewise.
pub fn plan_changes(g: &Graph, count: usize, batch: usize, seed: u64) -> Vec<ResidentChanges> {
    assert!(g.node_count() > 0 && batch > 0, "changes need a node");
    let mut rng = Rng::new(seed);
    let n = g.node_count();
    // Partial Fisher-Yates over the edges and the roots: each drawn once.
    let mut edge_order: Vec<u32> = (0..g.edges.len() as u32).collect();
    let mut root_order: Vec<u32> = (0..g.roots.len() as u32).collect();
    fn draw(order: &mut [u32], drawn: &mut usize, rng: &mut Rng) -> Option<u32> {
        let i = *drawn;
        if i >= order.len() {
            return None;
        }
        let j = i + rng.below(order.len() - i);
        order.swap(i, j);
        *drawn += 1;
        Some(order[i])
    }
    let (mut edges_drawn, mut roots_drawn) = (0, 0);
    let (mut added_refs, mut added_roots) = (Vec::new(), Vec::new());
    let (mut refs_removed, mut roots_removed) = (0, 0);
    let mut planned = Vec::with_capacity(count);
    let mut blobs = 0;
    let mut changes = 0;
    let mut round = 0usize;
    while changes < count {
        let change = match round % 5 {
            0 => {
                blobs += 1;
                Planned::Blob {
                    from: rng.below(n) as u32,
                    n: blobs - 1,
                }
            }
            1 => {
                let (from, to) = (rng.below(n) as u32, rng.below(n) as u32);
                added_refs.push((from, to));
                Planned::AddReference { from, to }
            }
            2 => {
                let (from, to) = match draw(&mut edge_order, &mut edges_drawn, &mut rng) {
                    Some(e) => g.edges[e as usize],
                    None => {
                        refs_removed += 1;
                        added_refs[refs_removed - 1]
                    }
                };
                Planned::RemoveReference { from, to }
            }
            3 => {
                let id = rng.below(n) as u32;
                added_roots.push(id);
                Planned::AddRoot(id)
            }
            _ => {
                let id = match draw(&mut root_order, &mut roots_drawn, &mut rng) {
                    Some(r) => g.roots[r as usize],
                    None => {
                        roots_removed += 1;
                        added_roots[roots_removed - 1]
                    }
                };
                Planned::RemoveRoot(id)
            }
        };
        changes += if let Planned::Blob { .. } = change {
            2
        } else {
            1
        };
        planned.push(change);
        round += 1;
    }
    let mut out = Vec::new();
    let mut staged = Changes::new();
    for change in planned {
        match change {
            Planned::Blob { from, n } => {
                let blob = Node::new(
                    CONTENT,
                    g.namespace(from).to_string(),
                    format!("bench/blob-{n}"),
                );
                staged.add_node(blob.clone());
                staged.add_reference(g.store_node(from), blob, Strength::Strong);
            }
            Planned::AddReference { from, to } => {
                staged.add_reference(g.store_node(from), g.store_node(to), Strength::Strong);
            }
            Planned::RemoveReference { from, to } => {
                staged.remove_reference(g.store_node(from), g.store_node(to), Strength::Strong);
            }
            Planned::AddRoot(id) => {
                staged.add_root(g.store_node(id), Strength::Strong);
            }
            Planned::RemoveRoot(id) => {
                staged.remove_root(g.store_node(id), Strength::Strong);
            }
        }
        if staged.len() >= batch {
            out.push(std::mem::take(&mut staged));
        }
    }
    if !staged.is_empty() {
        out.push(staged);
    }
    out
}

/// What [`apply_changes`] measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Applied {
    /// Changes reported (`Changes::len` summed).
    pub changes: usize,
    /// `prepare` + `commit`, summed over the batches.
    pub total: Duration,
    /// The slowest batch: one that compacted stands out.
    pub slowest: Duration,
}

impl Applied {
    pub fn ns_per_change(&self) -> f64 {
        self.total.as_secs_f64() * 1e9 / self.changes.max(1) as f64
    }
}

/// Reports each batch of `plan` to `graph` in two steps, `prepare` then
/// `commit`, as an embedder does around its store's commit; times those
/// (staging the `Changes` is the caller's, inside its transaction).
pub fn apply_changes(graph: &mut Resident, plan: &[ResidentChanges]) -> Applied {
    let mut applied = Applied::default();
    for changes in plan {
        let start = Instant::now();
        let prepared = match graph.prepare(changes) {
            Ok(prepared) => prepared,
            Err(e) => fail(&format!("preparing changes failed: {e}")),
        };
        if graph.commit(prepared).is_err() {
            fail("committing changes failed: prepared on another graph");
        }
        let took = start.elapsed();
        applied.total += took;
        applied.slowest = applied.slowest.max(took);
        applied.changes += changes.len();
    }
    applied
}

/// The collectors here cannot fail on these stores; if one does anyway,
/// say so and stop rather than report numbers.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

// ---------------------------------------------------------------------------
// Collecting while writers write (`Collector::start`, `Barrier`)

/// What writers changed after the snapshot was opened: references and
/// roots added, nodes created. The [`NodeStore`] stays the snapshot;
/// [`Layered::live`] reads the two together as the live store.
#[derive(Debug, Default)]
pub struct Overlay {
    /// References added, by referencing node.
    pub refs: hashbrown::HashMap<StoreNode, Vec<StoreNode>, RandomState>,
    /// Roots added.
    pub roots: Vec<StoreNode>,
    /// Nodes created, in order: the `i`th has graph id `node_count + i`.
    pub created: Vec<StoreNode>,
    /// The references added, as graph ids, for [`reachable`].
    pub id_edges: Vec<(u32, u32)>,
    /// The roots added, as graph ids.
    pub id_roots: Vec<u32>,
}

/// One write transaction of the benchmark's writer, in graph ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A reference `from -> to` added between existing nodes: one barrier
    /// entry, `to`.
    Reference { from: u32, to: u32 },
    /// A new image created as a root, referencing the existing `to`: two
    /// barrier entries, the new root and `to`.
    Root { to: u32 },
}

impl Change {
    /// How many nodes the barrier rule has this write report.
    pub fn entries(self) -> usize {
        match self {
            Change::Reference { .. } => 1,
            Change::Root { .. } => 2,
        }
    }
}

impl Overlay {
    /// Applies `write` and calls `report` with every node the barrier rule
    /// asks a writer to report for it: the target of each reference added
    /// to an existing node, each root added.
    pub fn apply(&mut self, g: &Graph, write: Change, mut report: impl FnMut(&StoreNode)) {
        match write {
            Change::Reference { from, to } => {
                let target = g.store_node(to);
                report(&target);
                self.refs
                    .entry(g.store_node(from))
                    .or_default()
                    .push(target);
                self.id_edges.push((from, to));
            }
            Change::Root { to } => {
                let id = (g.node_count() + self.created.len()) as u32;
                let key = format!("bench/new-image-{}", self.created.len());
                let root = Node::new(IMAGE, g.namespace(to).to_string(), key);
                let target = g.store_node(to);
                report(&root);
                report(&target);
                self.refs.entry(root.clone()).or_default().push(target);
                self.roots.push(root.clone());
                self.created.push(root);
                self.id_edges.push((id, to));
                self.id_roots.push(id);
            }
        }
    }

    /// Applies every write, reporting nothing: the live store of writes
    /// made after the snapshot, for a bench that reports them itself.
    pub fn of(g: &Graph, writes: &[Change]) -> (Self, Vec<StoreNode>) {
        let mut overlay = Overlay::default();
        let mut reports = Vec::new();
        for &write in writes {
            overlay.apply(g, write, |node| reports.push(node.clone()));
        }
        (overlay, reports)
    }
}

/// `entries` barrier entries' worth of writes, deterministic in `seed`:
/// three references to existing nodes, then one new root (two entries),
/// and again. Every reference comes from a node live in the snapshot
/// (`live`, from [`reachable`]), so that its target must survive. Half of
/// the targets are garbage in the snapshot, so that keeping them means
/// marking their closure; the others are any node.
pub fn plan_writes(g: &Graph, live: &[u64], entries: usize, seed: u64) -> Vec<Change> {
    let mut rng = Rng::new(seed);
    let n = g.node_count();
    assert!(n > 0, "writes need an existing node");
    // Rejection sampling, with a way out for graphs without either kind.
    let pick = |want_live: bool, rng: &mut Rng| {
        let mut id = rng.below(n) as u32;
        for _ in 0..1000 {
            if bit(live, id) == want_live {
                break;
            }
            id = rng.below(n) as u32;
        }
        id
    };
    let mut writes = Vec::new();
    let mut left = entries;
    while left > 0 {
        let to = if rng.below(2) == 0 {
            pick(false, &mut rng)
        } else {
            rng.below(n) as u32
        };
        let write = if writes.len() % 4 == 3 && left >= 2 {
            Change::Root { to }
        } else {
            Change::Reference {
                from: pick(true, &mut rng),
                to,
            }
        };
        left -= write.entries();
        writes.push(write);
    }
    writes
}

/// Whether bit `id` of `bits` is set.
#[inline]
pub fn bit(bits: &[u64], id: u32) -> bool {
    bits[id as usize / 64] & (1 << (id % 64)) != 0
}

/// The nodes reachable from the roots in `csr` and `overlay` (whose
/// created nodes have ids from `csr.node_count()` on), as a bitset over
/// those ids: a plain breadth-first search, nothing of the crate's.
pub fn reachable(csr: &Csr, overlay: Option<&Overlay>) -> Vec<u64> {
    let n = csr.node_count();
    let created = overlay.map_or(0, |o| o.created.len());
    let mut added: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut roots = csr.roots.clone();
    if let Some(o) = overlay {
        for &(from, to) in &o.id_edges {
            added.entry(from).or_default().push(to);
        }
        roots.extend(&o.id_roots);
    }
    let mut bits = vec![0u64; (n + created).div_ceil(64)];
    let mut queue = std::collections::VecDeque::new();
    let visit = |id: u32, bits: &mut Vec<u64>, queue: &mut std::collections::VecDeque<u32>| {
        if !bit(bits, id) {
            bits[id as usize / 64] |= 1 << (id % 64);
            queue.push_back(id);
        }
    };
    for &root in &roots {
        visit(root, &mut bits, &mut queue);
    }
    while let Some(id) = queue.pop_front() {
        let stored = if (id as usize) < n {
            csr.targets_of(id)
        } else {
            &[]
        };
        for &to in stored.iter().chain(added.get(&id).into_iter().flatten()) {
            visit(to, &mut bits, &mut queue);
        }
    }
    bits
}

/// A [`NodeStore`] as one part of a collection reads it: the snapshot
/// alone, or the live store (the snapshot and what writers added since).
pub struct Layered<'a> {
    pub base: &'a NodeStore,
    pub overlay: Option<&'a Overlay>,
}

impl<'a> Layered<'a> {
    /// The snapshot: none of the writers' changes.
    pub fn snapshot(base: &'a NodeStore) -> Self {
        Layered {
            base,
            overlay: None,
        }
    }

    /// The live store.
    pub fn live(base: &'a NodeStore, overlay: &'a Overlay) -> Self {
        Layered {
            base,
            overlay: Some(overlay),
        }
    }
}

impl CollectionContext for Layered<'_> {
    type Kind = u8;
    type Namespace = String;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, String, String>) -> Result<(), Infallible> {
        let created = self.overlay.map_or(&[][..], |o| &o.created);
        nodes.reserve(self.base.refs.len() + created.len());
        for node in self.base.refs.keys().chain(created) {
            nodes.push(node);
        }
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        roots.strong_all(&self.base.roots);
        if let Some(overlay) = self.overlay {
            roots.strong_all(&overlay.roots);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &StoreNode,
        refs: &mut ReferenceSink<'_, u8, String, String>,
    ) -> Result<(), Infallible> {
        refs.strong_all(self.base.refs.get(node).map_or(&[], Vec::as_slice));
        if let Some(added) = self.overlay.and_then(|o| o.refs.get(node)) {
            refs.strong_all(added);
        }
        Ok(())
    }
}

/// What [`check_pause`] found.
#[derive(Clone, Copy, Debug)]
pub struct PauseCheck {
    /// Listed nodes unreachable in the final graph.
    pub final_garbage: usize,
    /// What the collection swept.
    pub swept: usize,
}

/// Checks a collection in two parts against the final graph (the snapshot
/// plus `overlay`, searched by [`reachable`]): every node reachable there
/// must be live in the collection, so that none of its garbage is.
pub fn check_pause(
    collection: &Collection<'_, u8, String, String>,
    g: &Graph,
    csr: &Csr,
    overlay: &Overlay,
) -> Result<PauseCheck, String> {
    let live = reachable(csr, Some(overlay));
    let n = g.node_count();
    let (mut reachable_listed, mut wrong) = (0, Vec::new());
    for (w, &word) in live.iter().enumerate() {
        let mut ones = word;
        while ones != 0 {
            let id = w * 64 + ones.trailing_zeros() as usize;
            ones &= ones - 1;
            let node = if id < n {
                reachable_listed += 1;
                g.store_node(id as u32)
            } else {
                overlay.created[id - n].clone()
            };
            if !collection.is_live(&node) {
                wrong.push(node);
            }
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "{} node(s) reachable in the final graph are garbage to the collection, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(3)]
        ));
    }
    Ok(PauseCheck {
        final_garbage: n - reachable_listed,
        swept: collection.garbage().len(),
    })
}

// ---------------------------------------------------------------------------
// Memory

/// A field of `/proc/self/status` in MiB (`VmHWM` = peak RSS, `VmRSS` =
/// current RSS); `None` off Linux.
pub fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    let kb: f64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Graph, ParseError> {
        parse_graph(text.as_bytes())
    }

    #[test]
    fn round_trip_and_agreement() {
        let g = gen_store(&StoreParams {
            images: 20,
            ..StoreParams::default()
        });
        let mut text = Vec::new();
        write_graph(&g, &mut text).unwrap();
        let g = parse_graph(&text[..]).unwrap();
        let csr = Csr::from_graph(&g);
        let mut store = NodeStore::from_graph(&g, &csr);
        let expected = floor(&csr).counts();
        assert!(expected.0 > 0 && expected.1 > 0);
        assert_eq!(dense(&csr).counts(), expected);
        assert_eq!(node_fresh(Collector::new(), &mut store).counts(), expected);
        assert_eq!(naive_sip(&store).counts(), expected);
        assert_eq!(naive_presized(&store).counts(), expected);
        let (mut graph, _) = build_resident(&mut store);
        assert_eq!(resident(&mut graph).counts(), expected);
        let plan = plan_changes(&g, 600, 100, 3);
        assert_eq!(plan.iter().map(Changes::len).sum::<usize>(), 600);
        let applied = apply_changes(&mut graph, &plan);
        assert_eq!(applied.changes, 600);
        assert_eq!(
            petgraph_dfs(&build_petgraph(&g), &g.roots).counts(),
            expected
        );
    }

    #[test]
    fn malformed_lines_are_numbered_errors() {
        let head = "# gcgraph v1 t\nn 1 ns0 a\nn 1 ns0 b\n";
        for (tail, line) in [
            ("x 1\n", 4),
            ("n 1 ns0\n", 4),
            ("n 300 ns0 c\n", 4),
            ("e 0\n", 4),
            ("e 0 z\n", 4),
            ("e 0 2\n", 4),
            ("e 0 99999999999999999999999\n", 4),
            ("\nr 5\n", 5),
            ("n 1 ns0 a\n", 4),
        ] {
            let err = parse(&format!("{head}{tail}")).unwrap_err();
            assert_eq!(err.line, line, "{tail:?}: {err}");
        }
        assert_eq!(parse("# gcgraph v2\n").unwrap_err().line, 1);
        assert_eq!(
            parse("# gcgraph v1 t nodes=3\nn 1 a b\n").unwrap_err().line,
            1
        );
        assert!(parse("\n# comment\n").is_ok());
    }
}
