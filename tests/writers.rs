//! Collecting while writers write: `Collector::start`, `Marking` and the
//! `Barrier`, against a naive oracle, over an in-memory MVCC store shaped
//! like a container engine's metadata (content, images, leases, snapshot
//! chains, containers).
//!
//! The guarantee under test (ARCHITECTURE.md, "Collecting while writers
//! write"): at `finish`, no node of the garbage is reachable in the live
//! store, provided every writer reported, before releasing the writers'
//! lock, every root it added, the target of every reference it added (new
//! or old) and every node it (re)wrote that only its grace period keeps.
//!
//! - The store: copy-on-write versions behind the writers' lock; a snapshot
//!   is a clone of the `Arc`. Its writer API reports by a `Rule`: the
//!   barrier's, the earlier unsound one, or the barrier's with one path
//!   that forgets.
//! - A threaded stress: writer threads against collections in a loop.
//! - Every interleaving of small writer scripts with a collection's steps;
//!   the same enumeration shows that the two broken rules do sweep live
//!   nodes (negative controls: the checks can fail).
//! - A property test: the garbage at `finish` lies between what is
//!   unreachable in the live store and what nothing could have kept.
//! - Failure, abandon, cancel, and the options that meet the barrier.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hash};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier as Rendezvous, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::oracle::{Expected, oracle};
use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{
    Barrier, Cancel, CollectionContext, Collector, Error, Node, NodeSinkOf, Options, Phase, Reason,
    ReferenceSinkOf, RootKind, SharedContext, Stepped, Strength, SweepOrder,
};

// ---------------------------------------------------------------------------
// Nodes

/// Blobs: layers, configs and manifests, by digest. Listed.
const CONTENT: u8 = 0;
/// Snapshots; a snapshot's parent is part of it (structural). Listed.
const SNAPSHOT: u8 = 1;
/// Images (tags): roots naming a manifest. Never listed, never swept.
const IMAGE: u8 = 2;
/// Leases: roots holding blobs and snapshots, some until a deadline, some
/// flat. Never listed.
const LEASE: u8 = 3;
/// Containers: roots holding a snapshot. Never listed.
const CONTAINER: u8 = 4;

/// Keys as the collector sees them. `u32` nodes own nothing, so the mark
/// sets references aside and resolves them in batches (a `step` of budget
/// 1 may expand a batch); `String` digests own memory, so the mark expands
/// one node at a time, which gives the enumeration a finer grain.
trait Key: Clone + Eq + Hash + Debug + Send + Sync + 'static {
    fn of(id: u32) -> Self;
    fn id(&self) -> u32;
}

impl Key for u32 {
    fn of(id: u32) -> Self {
        id
    }
    fn id(&self) -> u32 {
        *self
    }
}

impl Key for String {
    fn of(id: u32) -> Self {
        format!("sha256:{id:08x}")
    }
    fn id(&self) -> u32 {
        u32::from_str_radix(&self["sha256:".len()..], 16).expect("a digest made by `of`")
    }
}

type Res<K> = Node<u8, u8, K>;

fn node<K: Key>(kind: u8, id: u32) -> Res<K> {
    Node::new(kind, 0, K::of(id))
}

/// One number per node, for the oracle (`common::oracle` speaks `u32`).
fn code(kind: u8, id: u32) -> u32 {
    (u32::from(kind) << 24) | id
}

fn kind_id<K: Key>(n: &Res<K>) -> (u8, u32) {
    (n.kind, n.key.id())
}

// ---------------------------------------------------------------------------
// Time: every collection runs at a fixed `Options::now`.

fn now0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}
const HOUR: Duration = Duration::from_secs(3600);
/// Blobs written at most this long before `now` are kept (`push_used`).
const GRACE: Duration = Duration::from_secs(15 * 60);
/// How far the stress's clock moves between two collections.
const ROUND: Duration = Duration::from_secs(10 * 60);

fn young(written: SystemTime, now: SystemTime) -> bool {
    now.duration_since(written).map_or(true, |age| age <= GRACE)
}

fn options(now: SystemTime) -> Options {
    let mut options = Options::default();
    options.now = Some(now);
    options.grace_period = GRACE;
    options.mark_threads = 2;
    options
}

// ---------------------------------------------------------------------------
// One version of the store

#[derive(Clone, Debug)]
struct Blob {
    /// A manifest's config and layers; nothing for other blobs.
    refs: Vec<u32>,
    written: SystemTime,
}

#[derive(Clone, Debug, Default)]
struct Lease {
    /// `None`: held until deleted.
    expires: Option<SystemTime>,
    /// A flat lease (containerd's `gc.flat`) holds what it names with its
    /// structure only.
    flat: bool,
    blobs: BTreeSet<u32>,
    snapshots: BTreeSet<u32>,
}

#[derive(Clone, Debug)]
struct Snap {
    parent: Option<u32>,
    /// The layer it was unpacked from (`gc.ref.content`): a strong
    /// reference, which a flat reach does not follow.
    layer: u32,
}

#[derive(Clone, Debug)]
struct Graph {
    blobs: BTreeMap<u32, Blob>,
    snapshots: BTreeMap<u32, Snap>,
    images: BTreeMap<u32, u32>,
    leases: BTreeMap<u32, Lease>,
    containers: BTreeMap<u32, u32>,
    /// The store's clock: writes are stamped with it, leases run from it.
    clock: SystemTime,
    /// Whether blobs are listed with their write time, so that the grace
    /// period keeps fresh ones. Without it, only references keep.
    grace: bool,
}

impl Graph {
    fn new(grace: bool) -> Self {
        Graph {
            blobs: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            images: BTreeMap::new(),
            leases: BTreeMap::new(),
            containers: BTreeMap::new(),
            clock: now0(),
            grace,
        }
    }

    /// A blob written long before any grace period.
    fn old_blob(&mut self, id: u32, refs: &[u32]) -> &mut Self {
        let written = now0() - 2 * HOUR;
        let refs = refs.to_vec();
        self.blobs.insert(id, Blob { refs, written });
        self
    }

    fn has(&self, kind: u8, id: u32) -> bool {
        match kind {
            CONTENT => self.blobs.contains_key(&id),
            SNAPSHOT => self.snapshots.contains_key(&id),
            IMAGE => self.images.contains_key(&id),
            LEASE => self.leases.contains_key(&id),
            _ => self.containers.contains_key(&id),
        }
    }

    fn remove(&mut self, kind: u8, id: u32) {
        match kind {
            CONTENT => self.blobs.remove(&id).map(drop),
            SNAPSHOT => self.snapshots.remove(&id).map(drop),
            other => panic!("kind {other} is never listed, so never garbage"),
        };
    }
}

// ---------------------------------------------------------------------------
// The writers' operations, each one transaction

/// Key spaces, small so that digests are reused, deleted and written again.
const LAYERS: u32 = 12;
const CONFIG: u32 = 100;
const MANIFEST: u32 = 200;
const MANIFESTS: u32 = 6;
const IMAGES: u32 = 4;
const LEASES: u32 = 6;
const SNAPSHOTS: u32 = 8;
const CONTAINERS: u32 = 3;

#[derive(Clone, Debug)]
enum Op {
    /// `ctr pull`: writes what is missing of the config and layers (a layer
    /// present is reused by digest; a deleted one is written again), writes
    /// the manifest if missing, points `image` at it.
    Pull {
        image: u32,
        manifest: u32,
        config: u32,
        layers: Vec<u32>,
    },
    /// Points `image` at a manifest that exists (a re-tag).
    Tag {
        image: u32,
        manifest: u32,
    },
    DeleteImage {
        image: u32,
    },
    /// `ctr content rm`: whatever still names it.
    DeleteBlob {
        blob: u32,
    },
    /// A pull under a lease: writes `blob` if missing, adds it to `lease`
    /// (created if missing).
    PullIntoLease {
        lease: u32,
        blob: u32,
    },
    /// Adds an existing blob to `lease` (created if missing).
    LeaseBlob {
        lease: u32,
        blob: u32,
    },
    /// Moves the lease's deadline before the clock.
    ExpireLease {
        lease: u32,
    },
    DeleteLease {
        lease: u32,
    },
    /// Content ingest: the blob is (re)written and named by nothing; only
    /// the grace period keeps it.
    Ingest {
        blob: u32,
    },
    /// A new snapshot on `parent` (if that exists), unpacked from `layer`,
    /// under `lease` (created if missing).
    Prepare {
        lease: u32,
        snapshot: u32,
        parent: Option<u32>,
        layer: u32,
    },
    /// A container on an existing snapshot.
    Run {
        container: u32,
        snapshot: u32,
    },
    DeleteContainer {
        container: u32,
    },
    DeleteSnapshot {
        snapshot: u32,
    },
}

/// A pull of `manifest`, whose config and layers follow from its digest
/// (content addressing: the same manifest always names the same blobs, and
/// manifests share layers).
fn pull(image: u32, manifest: u32) -> Op {
    let m = manifest - MANIFEST;
    let mut layers = vec![(m * 5) % LAYERS, (m * 5 + 3) % LAYERS, (m * 7 + 1) % LAYERS];
    layers.sort_unstable();
    layers.dedup();
    Op::Pull {
        image,
        manifest,
        config: CONFIG + m,
        layers,
    }
}

/// What a writer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::enum_variant_names,
    reason = "`OldRule` names the earlier rule, as the docs do"
)]
enum Rule {
    /// The barrier's rule: every root added, the target of every reference
    /// added (not weak), new or old, and a (re)written blob the grace
    /// period keeps.
    Correct,
    /// The earlier, unsound rule: roots, and only targets (and written
    /// blobs) that existed before the transaction.
    OldRule,
    /// The barrier's rule, except that `Op::Tag` reports nothing.
    SkipRetag,
}

/// Collects one transaction's reports as its rule says.
struct Reporter<'a> {
    rule: Rule,
    /// The version before the transaction.
    before: &'a Graph,
    silent: bool,
    out: Vec<(u8, u32)>,
}

impl Reporter<'_> {
    fn root(&mut self, kind: u8, id: u32) {
        if !self.silent {
            self.out.push((kind, id));
        }
    }

    fn target(&mut self, kind: u8, id: u32) {
        let due = match self.rule {
            Rule::OldRule => self.before.has(kind, id),
            Rule::Correct | Rule::SkipRetag => true,
        };
        if due && !self.silent {
            self.out.push((kind, id));
        }
    }

    /// A blob written: due only where the grace period keeps it. Writers
    /// cannot tell "only by grace" cheaply, so every write is reported.
    fn written(&mut self, id: u32) {
        if self.before.grace {
            self.target(CONTENT, id);
        }
    }
}

fn lease<'g>(g: &'g mut Graph, r: &mut Reporter<'_>, id: u32) -> &'g mut Lease {
    if !g.leases.contains_key(&id) {
        r.root(LEASE, id);
    }
    let clock = g.clock;
    g.leases.entry(id).or_insert_with(|| Lease {
        // Every third lease is flat; odd ones expire, some soon.
        flat: id % 3 == 2,
        expires: (id % 2 == 1).then(|| clock + if id % 4 == 1 { HOUR } else { 3 * HOUR }),
        ..Lease::default()
    })
}

fn point(g: &mut Graph, r: &mut Reporter<'_>, image: u32, manifest: u32) {
    let old = g.images.insert(image, manifest);
    if old.is_none() {
        r.root(IMAGE, image);
    }
    if old != Some(manifest) {
        r.target(CONTENT, manifest);
    }
}

fn write_blob(g: &mut Graph, r: &mut Reporter<'_>, id: u32, refs: Vec<u32>) {
    let written = g.clock;
    g.blobs.insert(id, Blob { refs, written });
    r.written(id);
}

fn apply(g: &mut Graph, op: &Op, r: &mut Reporter<'_>) {
    match *op {
        Op::Pull {
            image,
            manifest,
            config,
            ref layers,
        } => {
            for &blob in std::iter::once(&config).chain(layers) {
                if !g.blobs.contains_key(&blob) {
                    write_blob(g, r, blob, Vec::new());
                }
            }
            if !g.blobs.contains_key(&manifest) {
                let refs: Vec<u32> = std::iter::once(config).chain(layers.clone()).collect();
                for &target in &refs {
                    r.target(CONTENT, target);
                }
                write_blob(g, r, manifest, refs);
            }
            point(g, r, image, manifest);
        }
        Op::Tag { image, manifest } => {
            if g.blobs.contains_key(&manifest) {
                point(g, r, image, manifest);
            }
        }
        Op::DeleteImage { image } => drop(g.images.remove(&image)),
        Op::DeleteBlob { blob } => drop(g.blobs.remove(&blob)),
        Op::PullIntoLease { lease: l, blob } => {
            if !g.blobs.contains_key(&blob) {
                write_blob(g, r, blob, Vec::new());
            }
            if lease(g, r, l).blobs.insert(blob) {
                r.target(CONTENT, blob);
            }
        }
        Op::LeaseBlob { lease: l, blob } => {
            if g.blobs.contains_key(&blob) && lease(g, r, l).blobs.insert(blob) {
                r.target(CONTENT, blob);
            }
        }
        Op::ExpireLease { lease } => {
            let past = g.clock - Duration::from_secs(1);
            if let Some(lease) = g.leases.get_mut(&lease) {
                lease.expires = Some(past);
            }
        }
        Op::DeleteLease { lease } => drop(g.leases.remove(&lease)),
        Op::Ingest { blob } => {
            let refs = g
                .blobs
                .get(&blob)
                .map(|b| b.refs.clone())
                .unwrap_or_default();
            write_blob(g, r, blob, refs);
        }
        Op::Prepare {
            lease: l,
            snapshot,
            parent,
            layer,
        } => {
            if !g.snapshots.contains_key(&snapshot) {
                let parent = parent.filter(|p| g.snapshots.contains_key(p));
                g.snapshots.insert(snapshot, Snap { parent, layer });
                if let Some(parent) = parent {
                    r.target(SNAPSHOT, parent);
                }
                r.target(CONTENT, layer);
                if lease(g, r, l).snapshots.insert(snapshot) {
                    r.target(SNAPSHOT, snapshot);
                }
            }
        }
        Op::Run {
            container,
            snapshot,
        } => {
            if g.snapshots.contains_key(&snapshot) {
                let old = g.containers.insert(container, snapshot);
                if old.is_none() {
                    r.root(CONTAINER, container);
                }
                if old != Some(snapshot) {
                    r.target(SNAPSHOT, snapshot);
                }
            }
        }
        Op::DeleteContainer { container } => drop(g.containers.remove(&container)),
        Op::DeleteSnapshot { snapshot } => drop(g.snapshots.remove(&snapshot)),
    }
}

// ---------------------------------------------------------------------------
// The store: versions behind the writers' lock

struct Store<K: Key> {
    /// The writers' lock, and the live version behind it.
    live: Mutex<Arc<Graph>>,
    barrier: Barrier<u8, u8, K>,
    rule: Rule,
    /// The reports made while a collection ran, as oracle codes.
    log: Mutex<Vec<u32>>,
    /// Transactions committed while a collection ran.
    during: AtomicUsize,
}

impl<K: Key> Store<K> {
    fn new(graph: Graph, rule: Rule, barrier: Barrier<u8, u8, K>) -> Self {
        Store {
            live: Mutex::new(Arc::new(graph)),
            barrier,
            rule,
            log: Mutex::default(),
            during: AtomicUsize::new(0),
        }
    }

    /// One transaction: under the lock, copy the version, change it, report
    /// as the rule says, publish, release.
    fn write(&self, op: &Op) {
        let mut live = self.live.lock().unwrap();
        let before = Arc::clone(&live);
        let mut r = Reporter {
            rule: self.rule,
            before: &before,
            silent: self.rule == Rule::SkipRetag && matches!(op, Op::Tag { .. }),
            out: Vec::new(),
        };
        apply(Arc::make_mut(&mut live), op, &mut r);
        // Both ways of reporting: a node, and a view that builds one only
        // while a collection runs.
        for (i, &(kind, id)) in r.out.iter().enumerate() {
            if i % 2 == 0 {
                self.barrier.keep(&node(kind, id));
            } else {
                self.barrier.keep_view(&Node::new(kind, &0u8, &K::of(id)));
            }
        }
        // Read under the lock, which `start` and `finish` also hold.
        if self.barrier.is_collecting() {
            let mut log = self.log.lock().unwrap();
            log.extend(r.out.iter().map(|&(kind, id)| code(kind, id)));
            self.during.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn version(&self) -> Arc<Graph> {
        Arc::clone(&self.live.lock().unwrap())
    }
}

// ---------------------------------------------------------------------------
// A read view of one version

#[derive(Clone, Default)]
enum Fault {
    #[default]
    None,
    /// `references` of this node (an oracle code) fails.
    Fail(u32),
    /// `references` of this node panics.
    Panic(u32),
    /// `references` calls this with each node's code.
    Hook(Arc<dyn Fn(u32) + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
#[error("the store failed on purpose")]
struct Broken;

struct View<K> {
    g: Arc<Graph>,
    fault: Fault,
    _key: PhantomData<fn() -> K>,
}

impl<K> View<K> {
    fn new(g: Arc<Graph>) -> Self {
        View {
            g,
            fault: Fault::None,
            _key: PhantomData,
        }
    }
}

impl<K: Key> CollectionContext for View<K> {
    type Kind = u8;
    type Namespace = u8;
    type Key = K;
    type Error = Broken;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Broken> {
        nodes.reserve(self.g.blobs.len() + self.g.snapshots.len());
        for (&id, blob) in &self.g.blobs {
            if self.g.grace {
                nodes.push_used(&node(CONTENT, id), blob.written);
            } else {
                nodes.push(&node(CONTENT, id));
            }
        }
        for &id in self.g.snapshots.keys() {
            nodes.push(&node(SNAPSHOT, id));
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Broken> {
        for &id in self.g.images.keys() {
            roots.strong(&node(IMAGE, id));
        }
        for &id in self.g.containers.keys() {
            roots.strong(&node(CONTAINER, id));
        }
        for (&id, lease) in &self.g.leases {
            match lease.expires {
                Some(deadline) => roots.expiring(&node(LEASE, id), Strength::Strong, deadline),
                None => roots.strong(&node(LEASE, id)),
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        n: &Res<K>,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Broken> {
        self.references_shared(n, refs)
    }
}

impl<K: Key> SharedContext for View<K> {
    fn references_shared(
        &self,
        n: &Res<K>,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Broken> {
        let (kind, id) = kind_id(n);
        match &self.fault {
            Fault::Fail(at) if *at == code(kind, id) => return Err(Broken),
            Fault::Panic(at) if *at == code(kind, id) => panic!("the store panics on purpose"),
            Fault::Hook(hook) => hook(code(kind, id)),
            _ => {}
        }
        let g = &self.g;
        match kind {
            CONTENT => {
                if let Some(blob) = g.blobs.get(&id) {
                    let targets: Vec<Res<K>> =
                        blob.refs.iter().map(|&t| node(CONTENT, t)).collect();
                    refs.strong_all(&targets);
                }
            }
            SNAPSHOT => {
                if let Some(snap) = g.snapshots.get(&id) {
                    if let Some(parent) = snap.parent {
                        refs.structural(&node(SNAPSHOT, parent));
                    }
                    refs.strong(&node(CONTENT, snap.layer));
                }
            }
            IMAGE => {
                if let Some(&manifest) = g.images.get(&id) {
                    refs.structural(&node(CONTENT, manifest));
                }
            }
            LEASE => {
                if let Some(lease) = g.leases.get(&id) {
                    let strength = if lease.flat {
                        Strength::Flat
                    } else {
                        Strength::Strong
                    };
                    for &blob in &lease.blobs {
                        refs.add(&node(CONTENT, blob), strength);
                    }
                    for &snapshot in &lease.snapshots {
                        refs.add(&node(SNAPSHOT, snapshot), strength);
                    }
                }
            }
            _ => {
                if let Some(&snapshot) = g.containers.get(&id) {
                    refs.strong(&node(SNAPSHOT, snapshot));
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The oracle

/// One version as the oracle's lists: candidates, roots held at `now`,
/// references.
struct Lists {
    listed: Vec<u32>,
    roots: Vec<(u32, Strength)>,
    edges: Vec<(u32, u32, Strength)>,
}

fn lists(g: &Graph, now: SystemTime) -> Lists {
    use Strength::{Flat, Strong, Structural};
    let mut l = Lists {
        listed: Vec::new(),
        roots: Vec::new(),
        edges: Vec::new(),
    };
    for (&id, blob) in &g.blobs {
        l.listed.push(code(CONTENT, id));
        if g.grace && young(blob.written, now) {
            l.roots.push((code(CONTENT, id), Strong));
        }
        for &t in &blob.refs {
            l.edges.push((code(CONTENT, id), code(CONTENT, t), Strong));
        }
    }
    for (&id, snap) in &g.snapshots {
        l.listed.push(code(SNAPSHOT, id));
        if let Some(parent) = snap.parent {
            l.edges
                .push((code(SNAPSHOT, id), code(SNAPSHOT, parent), Structural));
        }
        l.edges
            .push((code(SNAPSHOT, id), code(CONTENT, snap.layer), Strong));
    }
    for (&id, &manifest) in &g.images {
        l.roots.push((code(IMAGE, id), Strong));
        l.edges
            .push((code(IMAGE, id), code(CONTENT, manifest), Structural));
    }
    for (&id, &snapshot) in &g.containers {
        l.roots.push((code(CONTAINER, id), Strong));
        l.edges
            .push((code(CONTAINER, id), code(SNAPSHOT, snapshot), Strong));
    }
    for (&id, lease) in &g.leases {
        // Held through its deadline instant, as `expiring` says.
        if lease.expires.is_none_or(|deadline| now <= deadline) {
            l.roots.push((code(LEASE, id), Strong));
        }
        let strength = if lease.flat { Flat } else { Strong };
        for &blob in &lease.blobs {
            l.edges
                .push((code(LEASE, id), code(CONTENT, blob), strength));
        }
        for &snapshot in &lease.snapshots {
            l.edges
                .push((code(LEASE, id), code(SNAPSHOT, snapshot), strength));
        }
    }
    l
}

/// What a collection of `g` alone at `now` must answer.
fn expected(g: &Graph, now: SystemTime) -> Expected {
    let l = lists(g, now);
    oracle(&l.listed, &l.roots, &l.edges)
}

/// The nodes of `garbage` that are live in `g` at `now`: the guarantee is
/// that there are none.
fn swept_live(garbage: &[(u8, u32)], g: &Graph, now: SystemTime) -> Vec<(u8, u32)> {
    let live = expected(g, now).live;
    garbage
        .iter()
        .copied()
        .filter(|&(kind, id)| live.contains(&code(kind, id)))
        .collect()
}

/// Everything a collection could possibly keep: what the roots of any of
/// `versions` or any report reach over the references of all of them
/// together, every strength but weak followed from every node. The mark
/// reads only these versions, so it keeps nothing outside this set.
fn could_keep(versions: &[&Graph], now: SystemTime, reported: &[u32]) -> HashSet<u32> {
    let mut edges: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut todo: Vec<u32> = reported.to_vec();
    for g in versions {
        let l = lists(g, now);
        todo.extend(l.roots.iter().map(|&(c, _)| c));
        for (from, to, strength) in l.edges {
            if strength != Strength::Weak {
                edges.entry(from).or_default().push(to);
            }
        }
    }
    let mut seen = HashSet::new();
    while let Some(c) = todo.pop() {
        if seen.insert(c) {
            todo.extend(edges.get(&c).into_iter().flatten());
        }
    }
    seen
}

fn remove_garbage(g: &mut Graph, garbage: &[(u8, u32)]) {
    for &(kind, id) in garbage {
        g.remove(kind, id);
    }
}

/// A hasher without a random seed: a replayed schedule takes the same steps.
type Fixed = BuildHasherDefault<DefaultHasher>;

// ---------------------------------------------------------------------------
// The threaded stress

/// Seeded xorshift: no dependency, reproducible writers.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u32) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % u64::from(n)) as u32
    }
}

fn random_blob(rng: &mut XorShift) -> u32 {
    match rng.below(3) {
        0 => rng.below(LAYERS),
        1 => CONFIG + rng.below(MANIFESTS),
        _ => MANIFEST + rng.below(MANIFESTS),
    }
}

fn random_op(rng: &mut XorShift) -> Op {
    match rng.below(20) {
        0..=3 => pull(rng.below(IMAGES), MANIFEST + rng.below(MANIFESTS)),
        4 | 5 => Op::Tag {
            image: rng.below(IMAGES),
            manifest: MANIFEST + rng.below(MANIFESTS),
        },
        6 | 7 => Op::DeleteImage {
            image: rng.below(IMAGES),
        },
        8 | 9 => Op::DeleteBlob {
            blob: random_blob(rng),
        },
        10 => Op::PullIntoLease {
            lease: rng.below(LEASES),
            blob: rng.below(LAYERS),
        },
        11 => Op::LeaseBlob {
            lease: rng.below(LEASES),
            blob: random_blob(rng),
        },
        12 => Op::ExpireLease {
            lease: rng.below(LEASES),
        },
        13 => Op::DeleteLease {
            lease: rng.below(LEASES),
        },
        14 => Op::Ingest {
            blob: random_blob(rng),
        },
        15 | 16 => Op::Prepare {
            lease: rng.below(LEASES),
            snapshot: rng.below(SNAPSHOTS),
            parent: if rng.below(4) > 0 {
                Some(rng.below(SNAPSHOTS))
            } else {
                None
            },
            layer: rng.below(LAYERS),
        },
        17 => Op::Run {
            container: rng.below(CONTAINERS),
            snapshot: rng.below(SNAPSHOTS),
        },
        18 => Op::DeleteContainer {
            container: rng.below(CONTAINERS),
        },
        _ => Op::DeleteSnapshot {
            snapshot: rng.below(SNAPSHOTS),
        },
    }
}

/// Stops the writers however the collecting thread leaves, so that a
/// failed assertion does not leave `thread::scope` waiting for them.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Stressed {
    rounds: usize,
    /// `(round, node)` for every live node in a garbage.
    violations: Vec<(usize, (u8, u32))>,
    /// Rounds whose `Stats::reported` differed from the writers' reports.
    miscounted: Vec<usize>,
    /// Transactions committed while a collection ran.
    during: usize,
    reported: usize,
    swept: usize,
    elapsed: Duration,
}

/// `rounds` collections in the two-part protocol while `writers` threads
/// write, each with its own seed. After each `finish`, under the lock, the
/// oracle over the live version checks the garbage; then it is removed.
fn stress(rule: Rule, rounds: usize, writers: u64, seed: u64) -> Stressed {
    let start = Instant::now();
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let store = Store::<u32>::new(Graph::new(true), rule, collector.barrier());
    let mut rng = XorShift::new(seed);
    for _ in 0..40 {
        store.write(&random_op(&mut rng));
    }
    let stop = AtomicBool::new(false);
    let mut out = Stressed::default();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (store, stop) = (&store, &stop);
            scope.spawn(move || {
                let mut rng = XorShift::new(seed ^ (w + 1) << 32);
                while !stop.load(Ordering::Relaxed) {
                    store.write(&random_op(&mut rng));
                    std::thread::yield_now();
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        for round in 0..rounds {
            let mut options = options(now0());
            if round % 5 == 4 {
                options.sweep_order = SweepOrder::ReferrersFirst;
            }
            // Under the lock: the clock moves on, `start`, the snapshot.
            let (mut marking, mut snapshot, now) = {
                let mut live = store.live.lock().unwrap();
                let g = Arc::make_mut(&mut live);
                g.clock += ROUND;
                let now = g.clock;
                options.now = Some(now);
                store.log.lock().unwrap().clear();
                let marking = collector.start(&options);
                (marking, View::<u32>::new(Arc::clone(&live)), now)
            };
            // The long part, with no lock: each way the protocol allows.
            match round % 4 {
                0 => marking.mark(&mut snapshot).unwrap(),
                1 => marking.mark_parallel(&mut snapshot).unwrap(),
                how => {
                    let budget = if how == 2 { 1 } else { 8 };
                    while marking.step(&mut snapshot, budget).unwrap() == Stepped::More {
                        std::thread::yield_now();
                    }
                }
            }
            let mut live = store.live.lock().unwrap();
            let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
            let garbage: Vec<(u8, u32)> = collection.garbage().map(kind_id).collect();
            let stats = collection.stats();
            for bad in swept_live(&garbage, &live, now) {
                out.violations.push((round, bad));
            }
            if stats.reported != store.log.lock().unwrap().len() {
                out.miscounted.push(round);
            }
            out.reported += stats.reported;
            out.swept += garbage.len();
            remove_garbage(Arc::make_mut(&mut live), &garbage);
            out.rounds += 1;
        }
    });
    out.during = store.during.load(Ordering::Relaxed);
    out.elapsed = start.elapsed();
    out
}

#[test]
fn stress_writers_write_while_collections_run_and_nothing_live_is_swept() {
    // Debug builds run about ten times slower: fewer rounds keep them
    // within seconds; release runs thousands.
    let rounds = if cfg!(debug_assertions) {
        2_000
    } else {
        12_000
    };
    let out = stress(Rule::Correct, rounds, 2, 0x5eed);
    eprintln!(
        "stress: {} rounds in {:?}; {} transactions during collections, {} reports, {} swept",
        out.rounds, out.elapsed, out.during, out.reported, out.swept
    );
    assert!(
        out.violations.is_empty(),
        "live nodes swept: {:?}",
        out.violations
    );
    assert!(
        out.miscounted.is_empty(),
        "Stats::reported is off in rounds {:?}",
        out.miscounted
    );
    // Not vacuous: writers did write during collections, reports were
    // marked, and garbage was swept.
    assert!(
        out.during > rounds / 10,
        "too few overlapping writes: {}",
        out.during
    );
    assert!(out.reported > 0 && out.swept > 0, "{out:?}");
}

// ---------------------------------------------------------------------------
// Every interleaving
//
// Why an exhaustive enumeration rather than loom or shuttle: the barrier's
// `std::sync::Mutex` and `AtomicBool` are not theirs, so they could not
// intercept them; and they need not, because the protocol orders writers
// and the collection through the writers' lock. `start` and `finish` hold
// it, so each transaction is wholly before or wholly after them; a step
// does not, but it reads only the snapshot, which no writer changes, and
// the reports. So what can differ between runs is where each transaction
// falls among the collection's calls, and every such placement is tried
// here. The one thing finer than a transaction is a step taking a
// transaction's reports while the writer is still making them; what a
// step does with a report (mark it over the snapshot) does not depend on
// the others, so that is the transaction's reports taken in two steps
// rather than one. The threaded stress exercises it.

#[derive(Debug, Default)]
struct Explored {
    runs: usize,
    /// For each interleaving that swept a live node: its trace (`w` a
    /// transaction, `S` start, `s` a step, `F` finish) and those nodes.
    violations: Vec<(String, Vec<(u8, u32)>)>,
    /// Interleavings whose `Stats::reported` differed from the reports.
    miscounted: Vec<String>,
}

impl Explored {
    fn swept(&self) -> BTreeSet<(u8, u32)> {
        self.violations
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect()
    }
}

/// Runs the interleaving that `prefix` chooses (`true`: the next writer
/// transaction goes first; past the prefix, the collection goes first),
/// recording each choice made into `taken`. Returns the trace, the live
/// nodes swept, and whether the report count matched.
fn replay<K: Key>(
    collector: &mut Collector<u8, u8, K, Fixed>,
    initial: &Graph,
    script: &[Op],
    rule: Rule,
    prefix: &[bool],
    taken: &mut Vec<bool>,
) -> (String, Vec<(u8, u32)>, bool) {
    let store = Store::<K>::new(initial.clone(), rule, collector.barrier());
    let mut txns = script.iter();
    let mut trace = String::new();
    let mut writer_first = |txns_left: usize| {
        txns_left > 0 && {
            let choice = prefix.get(taken.len()).copied().unwrap_or(false);
            taken.push(choice);
            choice
        }
    };
    while writer_first(txns.len()) {
        store.write(txns.next().unwrap());
        trace.push('w');
    }
    let options = options(now0());
    let (mut marking, mut snapshot) = {
        let live = store.live.lock().unwrap();
        (collector.start(&options), View::<K>::new(Arc::clone(&live)))
    };
    trace.push('S');
    let mut done = false;
    loop {
        if writer_first(txns.len()) {
            store.write(txns.next().unwrap());
            trace.push('w');
        } else if !done {
            done = marking.step(&mut snapshot, 1).unwrap() == Stepped::Done;
            trace.push('s');
        } else {
            break;
        }
    }
    let live = store.live.lock().unwrap();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    trace.push('F');
    let garbage: Vec<(u8, u32)> = collection.garbage().map(kind_id).collect();
    let counted = collection.stats().reported == store.log.lock().unwrap().len();
    (trace, swept_live(&garbage, &live, now0()), counted)
}

/// Every interleaving of `script` (in its order) with `start`, `step(.., 1)`
/// until `Done`, and `finish`, depth first by replay: each run records its
/// choices, the next flips the last "collection first" to "writer first".
fn explore<K: Key>(initial: &Graph, script: &[Op], rule: Rule) -> Explored {
    let mut out = Explored::default();
    let mut prefix: Vec<bool> = Vec::new();
    // One collector for every run, as a store keeps one: each collection
    // starts afresh, and reusing it is what the collector is for.
    let mut collector = Collector::with_hasher(Fixed::default());
    loop {
        let mut taken = Vec::new();
        let (trace, swept, counted) =
            replay::<K>(&mut collector, initial, script, rule, &prefix, &mut taken);
        out.runs += 1;
        if !swept.is_empty() {
            out.violations.push((trace.clone(), swept));
        }
        if !counted {
            out.miscounted.push(trace);
        }
        let Some(last) = taken.iter().rposition(|&writer| !writer) else {
            break;
        };
        taken.truncate(last);
        taken.push(true);
        prefix = taken;
    }
    out
}

// Script A's names.
const M1: u32 = MANIFEST;
const M2: u32 = MANIFEST + 1;
const C1: u32 = CONFIG;
const C2: u32 = CONFIG + 1;
const L1: u32 = 0;
const L2: u32 = 1;
/// A loose blob that a new lease takes.
const X: u32 = 2;
/// A loose blob removed, then pulled again into an old lease.
const B: u32 = 3;

/// Image 0 on manifest M1; manifest M2 orphaned; blobs X and B loose;
/// lease 0 (plain, no deadline) empty. All written long ago.
fn script_a_store(grace: bool) -> Graph {
    let mut g = Graph::new(grace);
    g.old_blob(M1, &[C1, L1])
        .old_blob(C1, &[])
        .old_blob(L1, &[]);
    g.old_blob(M2, &[C2, L2])
        .old_blob(C2, &[])
        .old_blob(L2, &[]);
    g.old_blob(X, &[]).old_blob(B, &[]);
    g.images.insert(0, M1);
    g.leases.insert(0, Lease::default());
    g
}

fn script_a() -> Vec<Op> {
    vec![
        // Re-tag the orphaned manifest: a new root, an old target.
        Op::Tag {
            image: 1,
            manifest: M2,
        },
        // A new lease (1: expiring) on an existing blob.
        Op::LeaseBlob { lease: 1, blob: X },
        // `ctr content rm`, then the same digest pulled again into the old
        // lease 0: the target is "new" to its transaction, yet listed.
        Op::DeleteBlob { blob: B },
        Op::PullIntoLease { lease: 0, blob: B },
        // A deletion: what the snapshot kept for it is floating garbage.
        Op::DeleteImage { image: 0 },
    ]
}

// Script B's names.
const M3: u32 = MANIFEST + 3;
const C3: u32 = CONFIG + 3;
/// A loose layer that a new manifest reuses.
const Y: u32 = 4;
/// The layers of snapshots S2 and S1, held only through them.
const W: u32 = 5;
const Z: u32 = 6;
const S1: u32 = 1;
const S2: u32 = 2;
const S3: u32 = 3;

/// Image 0 on manifest M1; layer Y loose; the chain S2 → S1 (layers W and
/// Z) held by the flat lease 2, which keeps the chain but not the layers.
fn script_b_store(grace: bool) -> Graph {
    let mut g = Graph::new(grace);
    g.old_blob(M1, &[C1, L1])
        .old_blob(C1, &[])
        .old_blob(L1, &[]);
    g.old_blob(Y, &[]).old_blob(W, &[]).old_blob(Z, &[]);
    g.snapshots.insert(
        S1,
        Snap {
            parent: None,
            layer: Z,
        },
    );
    g.snapshots.insert(
        S2,
        Snap {
            parent: Some(S1),
            layer: W,
        },
    );
    let flat = Lease {
        flat: true,
        snapshots: BTreeSet::from([S2]),
        ..Lease::default()
    };
    g.leases.insert(2, flat);
    g
}

fn script_b() -> Vec<Op> {
    vec![
        // A pull that reuses the shared layer L1 and the loose layer Y.
        Op::Pull {
            image: 3,
            manifest: M3,
            config: C3,
            layers: vec![L1, Y],
        },
        Op::DeleteImage { image: 0 },
        // A container on the flat-held S2: the chain is now held strongly,
        // so its layers W and Z are live too.
        Op::Run {
            container: 1,
            snapshot: S2,
        },
        // A new snapshot on S2 from layer Y, under a new lease.
        Op::Prepare {
            lease: 0,
            snapshot: S3,
            parent: Some(S2),
            layer: Y,
        },
    ]
}

/// Each script is explored with both key types (batches and single
/// expansions) and with and without the grace period (with it, every blob
/// written is also reported as written; without it, only references keep).
/// `String` keys step one node at a time, which multiplies the
/// interleavings by about seven: debug builds explore them only with the
/// grace periods in `string_graces`.
fn explore_all(
    store: fn(bool) -> Graph,
    script: &[Op],
    rule: Rule,
    string_graces: &[bool],
) -> Vec<(String, Explored)> {
    let mut out = Vec::new();
    for grace in [false, true] {
        let g = store(grace);
        out.push((
            format!("u32, grace {grace}"),
            explore::<u32>(&g, script, rule),
        ));
        if !cfg!(debug_assertions) || string_graces.contains(&grace) {
            let explored = explore::<String>(&g, script, rule);
            out.push((format!("String, grace {grace}"), explored));
        }
    }
    out
}

/// At least the interleavings of the script with `start`, the listing, the
/// roots and `finish`: the enumeration is not vacuous.
fn at_least(script: &[Op]) -> usize {
    let w = script.len();
    (1..=w)
        .map(|i| (4 + i) as f64 / i as f64)
        .product::<f64>()
        .round() as usize
}

fn assert_all_safe(store: fn(bool) -> Graph, script: &[Op]) {
    for (config, explored) in explore_all(store, script, Rule::Correct, &[false]) {
        eprintln!("{config}: {} interleavings", explored.runs);
        assert!(explored.runs >= at_least(script), "{config}: {explored:?}");
        assert!(
            explored.violations.is_empty(),
            "{config}: live nodes swept in {} of {} interleavings, first {:?}",
            explored.violations.len(),
            explored.runs,
            explored.violations.first()
        );
        assert!(
            explored.miscounted.is_empty(),
            "{config}: {:?}",
            explored.miscounted.first()
        );
    }
}

#[test]
fn every_interleaving_of_retag_lease_delete_repull_and_untag_is_safe() {
    assert_all_safe(script_a_store, &script_a());
}

#[test]
fn every_interleaving_of_a_reusing_pull_a_container_and_a_snapshot_chain_is_safe() {
    assert_all_safe(script_b_store, &script_b());
}

#[test]
fn negative_control_a_writer_path_that_skips_its_report_sweeps_a_live_node() {
    // The re-tag path reports nothing: in every configuration some
    // interleaving sweeps the re-tagged manifest or what it names. This is
    // what shows the safety checks above can fail.
    for (config, explored) in explore_all(script_a_store, &script_a(), Rule::SkipRetag, &[]) {
        eprintln!(
            "SkipRetag, {config}: {} of {} interleavings sweep live nodes {:?}",
            explored.violations.len(),
            explored.runs,
            explored.swept()
        );
        assert!(
            !explored.violations.is_empty(),
            "{config}: no violation found"
        );
        let retagged = BTreeSet::from([(CONTENT, M2), (CONTENT, C2), (CONTENT, L2)]);
        assert!(
            explored.swept().is_subset(&retagged),
            "{config}: {:?}",
            explored.swept()
        );
        // Reports were still counted right: what goes wrong is the rule.
        assert!(explored.miscounted.is_empty(), "{config}");
    }
}

#[test]
fn negative_control_the_old_rule_sweeps_a_blob_deleted_and_pulled_again() {
    // The bug a previous helper found: "report targets that already
    // existed" skips B, removed and then pulled again into lease 0 in
    // another transaction. Some interleaving sweeps B while lease 0 holds
    // it, and only B: this is the regression witness.
    for (config, explored) in explore_all(script_a_store, &script_a(), Rule::OldRule, &[]) {
        eprintln!(
            "OldRule, {config}: {} of {} interleavings sweep live nodes {:?}",
            explored.violations.len(),
            explored.runs,
            explored.swept()
        );
        assert_eq!(explored.swept(), BTreeSet::from([(CONTENT, B)]), "{config}");
        // Each such interleaving removes B (the third transaction) after
        // the collection started: before it, B is not even listed.
        for (trace, _) in &explored.violations {
            let start = trace.find('S').unwrap();
            assert!(trace[..start].matches('w').count() < 3, "{config}: {trace}");
        }
    }
    // Its hole is exactly the re-written key: script B writes only new keys
    // or references old ones, and the old rule holds there.
    for (config, explored) in explore_all(script_b_store, &script_b(), Rule::OldRule, &[]) {
        assert!(
            explored.violations.is_empty(),
            "{config}: {:?}",
            explored.violations.first()
        );
    }
}

// ---------------------------------------------------------------------------
// The previous helper's reproduction, on this store

/// Lease 0 holds nothing; blob B is loose. After `start` (and, if
/// `mark_first`, after the long part), B is removed and then pulled again
/// into lease 0 (or, `via_image`, into a new manifest under a new image).
/// Returns the live nodes swept.
fn repull(rule: Rule, mark_first: bool, via_image: bool) -> Vec<(u8, u32)> {
    let mut g = Graph::new(false);
    g.old_blob(B, &[]);
    g.leases.insert(0, Lease::default());
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let store = Store::new(g, rule, collector.barrier());
    let options = options(now0());
    let (mut marking, mut snapshot) = {
        let live = store.live.lock().unwrap();
        (collector.start(&options), View::new(Arc::clone(&live)))
    };
    if mark_first {
        marking.mark(&mut snapshot).unwrap();
    }
    store.write(&Op::DeleteBlob { blob: B });
    store.write(&if via_image {
        Op::Pull {
            image: 1,
            manifest: M3,
            config: C3,
            layers: vec![B],
        }
    } else {
        Op::PullIntoLease { lease: 0, blob: B }
    });
    if !mark_first {
        marking.mark(&mut snapshot).unwrap();
    }
    let live = store.live.lock().unwrap();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    let garbage: Vec<(u8, u32)> = collection.garbage().map(kind_id).collect();
    swept_live(&garbage, &live, now0())
}

#[test]
fn a_blob_deleted_and_pulled_again_during_the_collection_is_kept() {
    for mark_first in [true, false] {
        for via_image in [false, true] {
            let swept = repull(Rule::Correct, mark_first, via_image);
            assert!(
                swept.is_empty(),
                "mark first {mark_first}, via image {via_image}: {swept:?}"
            );
        }
        // The old rule's witness, in both orders: lease 0 was expanded over
        // the snapshot, where it held nothing, and B was never reported.
        let swept = repull(Rule::OldRule, mark_first, false);
        assert_eq!(swept, [(CONTENT, B)], "mark first {mark_first}");
    }
}

// ---------------------------------------------------------------------------
// The property

#[derive(Clone, Debug)]
enum Action {
    Write(Op),
    Step(usize),
    /// The rest of the long part at once.
    Mark,
    /// The rest of the long part on two threads.
    MarkParallel,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let blob = || {
        prop_oneof![
            0..LAYERS,
            CONFIG..CONFIG + MANIFESTS,
            MANIFEST..MANIFEST + MANIFESTS
        ]
    };
    prop_oneof![
        3 => (0..IMAGES, MANIFEST..MANIFEST + MANIFESTS).prop_map(|(i, m)| pull(i, m)),
        2 => (0..IMAGES, MANIFEST..MANIFEST + MANIFESTS)
            .prop_map(|(image, manifest)| Op::Tag { image, manifest }),
        1 => (0..IMAGES).prop_map(|image| Op::DeleteImage { image }),
        2 => blob().prop_map(|blob| Op::DeleteBlob { blob }),
        1 => (0..LEASES, 0..LAYERS).prop_map(|(lease, blob)| Op::PullIntoLease { lease, blob }),
        1 => (0..LEASES, blob()).prop_map(|(lease, blob)| Op::LeaseBlob { lease, blob }),
        1 => (0..LEASES).prop_map(|lease| Op::ExpireLease { lease }),
        1 => (0..LEASES).prop_map(|lease| Op::DeleteLease { lease }),
        1 => blob().prop_map(|blob| Op::Ingest { blob }),
        2 => (0..LEASES, 0..SNAPSHOTS, proptest::option::of(0..SNAPSHOTS), 0..LAYERS).prop_map(
            |(lease, snapshot, parent, layer)| Op::Prepare { lease, snapshot, parent, layer }
        ),
        1 => (0..CONTAINERS, 0..SNAPSHOTS)
            .prop_map(|(container, snapshot)| Op::Run { container, snapshot }),
        1 => (0..CONTAINERS).prop_map(|container| Op::DeleteContainer { container }),
        1 => (0..SNAPSHOTS).prop_map(|snapshot| Op::DeleteSnapshot { snapshot }),
    ]
}

fn action_strategy() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => op_strategy().prop_map(Action::Write),
        6 => (1usize..4).prop_map(Action::Step),
        1 => Just(Action::Mark),
        1 => Just(Action::MarkParallel),
    ]
}

/// Writes `before` an hour before `now`, starts a collection at `now`,
/// runs `during` (writes and steps), finishes, and checks the bounds.
fn bounded<K: Key>(
    grace: bool,
    order: SweepOrder,
    before: &[Op],
    during: &[Action],
) -> Result<(), TestCaseError> {
    let mut collector: Collector<u8, u8, K> = Collector::new();
    let mut g = Graph::new(grace);
    g.clock = now0() - HOUR;
    let store = Store::<K>::new(g, Rule::Correct, collector.barrier());
    for op in before {
        store.write(op);
    }
    let now = now0();
    let mut options = options(now);
    options.sweep_order = order;
    let (snapshot, mut marking) = {
        let mut live = store.live.lock().unwrap();
        Arc::make_mut(&mut live).clock = now;
        (Arc::clone(&live), collector.start(&options))
    };
    let mut view = View::<K>::new(Arc::clone(&snapshot));
    let mut steps = 0;
    for action in during {
        match action {
            Action::Write(op) => store.write(op),
            Action::Step(budget) => {
                let _ = marking.step(&mut view, *budget).unwrap();
                steps += 1;
            }
            Action::Mark => {
                marking.mark(&mut view).unwrap();
                steps += 1;
            }
            Action::MarkParallel => {
                marking.mark_parallel(&mut view).unwrap();
                steps += 1;
            }
        }
    }
    let live = store.version();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    let garbage: Vec<(u8, u32)> = collection.garbage().map(kind_id).collect();
    prop_assert_eq!(garbage.len(), collection.stats().nodes_swept);

    // Safe: nothing reachable in the live version is garbage.
    let swept = swept_live(&garbage, &live, now);
    prop_assert!(swept.is_empty(), "live nodes swept: {:?}", swept);

    // Not lax: what no root of either version and no report could reach
    // is garbage, if it was listed (from the snapshot once a step ran,
    // else `finish` listed the live version).
    // Referrers first, for every reference of the live version among the
    // garbage: the order was computed over the snapshot, but a reference
    // added since would have had its target reported, so it is not among
    // the garbage. (Snapshot parents may form cycles when a key is deleted
    // and prepared again; those go together, and are left out here.)
    if order == SweepOrder::ReferrersFirst {
        let at: BTreeMap<(u8, u32), usize> =
            garbage.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let at = |c: u32| at.get(&((c >> 24) as u8, c & 0xff_ffff)).copied();
        for (from, to, _) in lists(&live, now).edges {
            if (from >> 24, to >> 24) == (u32::from(SNAPSHOT), u32::from(SNAPSHOT)) {
                continue;
            }
            if let (Some(f), Some(t)) = (at(from), at(to)) {
                prop_assert!(f < t, "{:x} → {:x} handed out as {}, {}", from, to, f, t);
            }
        }
    }

    let log = store.log.lock().unwrap().clone();
    prop_assert_eq!(collection.stats().reported, log.len());
    let listed_from = if steps > 0 { &snapshot } else { &live };
    let kept = could_keep(&[&snapshot, &live], now, &log);
    let garbage: BTreeSet<u32> = garbage.iter().map(|&(kind, id)| code(kind, id)).collect();
    for c in lists(listed_from, now).listed {
        prop_assert!(
            kept.contains(&c) || garbage.contains(&c),
            "{:x} could be kept by nothing, yet is not garbage",
            c
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn the_garbage_lies_between_the_live_stores_unreachable_and_what_nothing_could_keep(
        grace in any::<bool>(),
        strings in any::<bool>(),
        referrers_first in any::<bool>(),
        before in vec(op_strategy(), 0..30),
        during in vec(action_strategy(), 0..30),
    ) {
        let order = if referrers_first { SweepOrder::ReferrersFirst } else { SweepOrder::Listing };
        if strings {
            bounded::<String>(grace, order, &before, &during)?;
        } else {
            bounded::<u32>(grace, order, &before, &during)?;
        }
    }
}

// ---------------------------------------------------------------------------
// Failure, abandon, cancel

/// Script A's store and its collector's barrier, with the correct rule.
fn store_a(collector: &Collector<u8, u8, u32>) -> Store<u32> {
    Store::new(script_a_store(false), Rule::Correct, collector.barrier())
}

/// A whole two-part collection with no writer, checked against the oracle.
fn collects_fine(collector: &mut Collector<u8, u8, u32>, store: &Store<u32>) {
    let live = store.version();
    let mut marking = collector.start(&options(now0()));
    marking.mark(&mut View::new(Arc::clone(&live))).unwrap();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    let garbage: Vec<u32> = collection.garbage().map(|n| code(n.kind, n.key)).collect();
    assert_eq!(garbage, expected(&live, now0()).garbage);
    assert_eq!(collection.stats().reported, 0);
}

#[test]
fn a_failing_or_panicking_step_poisons_the_marking_and_the_collector_recovers() {
    for panics in [false, true] {
        let mut collector: Collector<u8, u8, u32> = Collector::new();
        let store = store_a(&collector);
        let mut marking = collector.start(&options(now0()));
        let mut snapshot = View::new(store.version());
        let at = code(CONTENT, M1);
        snapshot.fault = if panics {
            Fault::Panic(at)
        } else {
            Fault::Fail(at)
        };
        store.write(&script_a()[0]);
        let failed = loop {
            match catch_unwind(AssertUnwindSafe(|| marking.step(&mut snapshot, 1))) {
                Ok(Ok(Stepped::More)) => {}
                Ok(Ok(Stepped::Done)) => panic!("M1 is reachable: its references fail"),
                Ok(Err(error)) => break Some(error),
                Err(_) => break None,
            }
        };
        match failed {
            Some(Error::References { node: at, .. }) => assert_eq!(at, node(CONTENT, M1)),
            Some(other) => panic!("{other:?}"),
            None => assert!(panics, "only the panicking store unwinds"),
        }
        // Every later call refuses, `finish` included, even over a sound
        // store: a partial mark must not decide what is garbage.
        let again = marking.step(&mut View::new(store.version()), 1);
        assert!(matches!(again, Err(Error::Poisoned)), "{again:?}");
        let finished = marking.finish(&mut View::new(store.version()));
        assert!(
            matches!(finished, Err(Error::Poisoned)),
            "{:?}",
            finished.map(|_| ())
        );
        assert!(!store.barrier.is_collecting());
        collects_fine(&mut collector, &store);
    }
}

#[test]
fn a_dropped_marking_stops_the_reports_and_leaves_the_collector_reusable() {
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let store = store_a(&collector);
    let mut marking = collector.start(&options(now0()));
    assert!(store.barrier.is_collecting());
    let mut snapshot = View::new(store.version());
    for _ in 0..3 {
        let _ = marking.step(&mut snapshot, 1).unwrap();
    }
    store.write(&script_a()[0]);
    assert_eq!(
        store.log.lock().unwrap().len(),
        2,
        "image 1 and M2, reported"
    );
    drop(marking);
    // Abandoned: writers' reports are one atomic load again, and dropped.
    assert!(!store.barrier.is_collecting());
    store.write(&script_a()[1]);
    assert_eq!(store.log.lock().unwrap().len(), 2);
    // The collector collects, in one part and in two, as if nothing
    // happened: nothing reported before counts.
    let live = store.version();
    let collection = collector.collect_with(&mut View::new(Arc::clone(&live)), &options(now0()));
    let garbage: Vec<u32> = collection
        .unwrap()
        .garbage()
        .map(|n| code(n.kind, n.key))
        .collect();
    assert_eq!(garbage, expected(&live, now0()).garbage);
    collects_fine(&mut collector, &store);
}

#[test]
fn cancel_from_another_thread_stops_a_long_mark() {
    // A chain of 20 000 blobs under image 0, and 100 loose ones. The mark
    // stops at blob 100 until the other thread has cancelled, so the
    // cancel lands mid-mark, and the next checkpoint (every few thousand
    // nodes) stops it.
    const CHAIN: u32 = 20_000;
    let mut g = Graph::new(false);
    for id in 0..CHAIN + 100 {
        let refs: &[u32] = if id + 1 < CHAIN { &[id + 1] } else { &[] };
        g.old_blob(id, refs);
    }
    g.images.insert(0, 0);
    let g = Arc::new(g);
    let cancel = Cancel::new();
    let mut cancelling = options(now0());
    cancelling.cancel = Some(cancel.clone());
    let rendezvous = Arc::new(Rendezvous::new(2));
    let expanded = Arc::new(AtomicUsize::new(0));
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let barrier = collector.barrier();
    let outcome = std::thread::scope(|scope| {
        let canceller = Arc::clone(&rendezvous);
        scope.spawn(move || {
            canceller.wait();
            cancel.cancel();
            canceller.wait();
        });
        let mut marking = collector.start(&cancelling);
        let mut snapshot = View::<u32>::new(Arc::clone(&g));
        let (hook_rendezvous, hook_expanded) = (Arc::clone(&rendezvous), Arc::clone(&expanded));
        snapshot.fault = Fault::Hook(Arc::new(move |at| {
            hook_expanded.fetch_add(1, Ordering::Relaxed);
            if at == code(CONTENT, 100) {
                hook_rendezvous.wait(); // let the other thread cancel
                hook_rendezvous.wait(); // and wait until it has
            }
        }));
        let marked = marking.mark(&mut snapshot);
        let finished = marking.finish(&mut View::new(Arc::clone(&g))).map(|_| ());
        (marked, finished)
    });
    let (marked, finished) = outcome;
    assert!(
        matches!(
            marked,
            Err(Error::Cancelled {
                phase: Phase::Marking
            })
        ),
        "{marked:?}"
    );
    assert!(matches!(finished, Err(Error::Poisoned)), "{finished:?}");
    let expanded = expanded.load(Ordering::Relaxed);
    assert!(
        expanded < CHAIN as usize / 2,
        "the mark went on: {expanded} expanded"
    );
    assert!(!barrier.is_collecting());
    // The handle stays cancelled; a fresh collection without it runs.
    let mut marking = collector.start(&options(now0()));
    marking.mark(&mut View::new(Arc::clone(&g))).unwrap();
    let collection = marking.finish(&mut View::new(Arc::clone(&g))).unwrap();
    assert_eq!(collection.garbage().len(), 100);
}

// ---------------------------------------------------------------------------
// What `finish` does alone, and what it never sweeps

#[test]
fn finish_with_no_step_at_all_does_the_whole_collection_over_the_live_store() {
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let store = store_a(&collector);
    let marking = collector.start(&options(now0()));
    store.write(&script_a()[0]);
    store.write(&Op::Ingest { blob: 50 });
    let live = store.version();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    let garbage: Vec<u32> = collection.garbage().map(|n| code(n.kind, n.key)).collect();
    let expected = expected(&live, now0());
    // Listed, rooted and marked over the live version: exactly its garbage,
    // the new blob 50 included, and M2 (re-tagged) not.
    assert_eq!(garbage, expected.garbage);
    assert!(garbage.contains(&code(CONTENT, 50)));
    assert!(!garbage.contains(&code(CONTENT, M2)));
    assert_eq!(collection.stats().nodes_listed, expected.nodes_listed);
    assert_eq!(collection.stats().reported, 2);
}

#[test]
fn nodes_created_after_start_under_new_keys_are_never_garbage() {
    for steps_first in [true, false] {
        let mut collector: Collector<u8, u8, u32> = Collector::new();
        let store = store_a(&collector);
        let (mut marking, mut snapshot) = {
            let live = store.live.lock().unwrap();
            (
                collector.start(&options(now0())),
                View::<u32>::new(Arc::clone(&live)),
            )
        };
        if steps_first {
            while marking.step(&mut snapshot, 1).unwrap() == Stepped::More {}
        }
        // New keys that nothing names, written with no report at all (not
        // even the writers' rule): unreachable in the live store, but
        // created after the snapshot the listing reads.
        {
            let mut live = store.live.lock().unwrap();
            let g = Arc::make_mut(&mut live);
            g.old_blob(50, &[51]).old_blob(51, &[]);
            g.snapshots.insert(
                60,
                Snap {
                    parent: Some(61),
                    layer: 50,
                },
            );
            g.snapshots.insert(
                61,
                Snap {
                    parent: None,
                    layer: 51,
                },
            );
        }
        marking.mark(&mut snapshot).unwrap();
        let live = store.version();
        let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
        let garbage: BTreeSet<(u8, u32)> = collection.garbage().map(kind_id).collect();
        let new = [(CONTENT, 50), (CONTENT, 51), (SNAPSHOT, 60), (SNAPSHOT, 61)];
        let unreachable = expected(&live, now0()).garbage;
        for n in new {
            assert!(
                unreachable.contains(&code(n.0, n.1)),
                "{n:?} is unreachable"
            );
            assert!(
                !garbage.contains(&n),
                "{n:?} was not listed, yet is garbage"
            );
        }
        assert_eq!(collection.stats().reported, 0);
    }
}

// ---------------------------------------------------------------------------
// Options that meet the barrier

#[test]
fn a_reported_node_is_explained_as_written() {
    // Reported during the long part (taken in by a step) or after it
    // (taken in by `finish`): either way a writer's report is its root.
    for mark_first in [true, false] {
        let mut collector: Collector<u8, u8, u32> = Collector::new();
        let store = store_a(&collector);
        let mut options = options(now0());
        options.explain = true;
        let mut marking = collector.start(&options);
        let mut snapshot = View::new(store.version());
        if mark_first {
            marking.mark(&mut snapshot).unwrap();
        }
        store.write(&script_a()[0]);
        if !mark_first {
            marking.mark(&mut snapshot).unwrap();
        }
        let collection = marking.finish(&mut View::new(store.version())).unwrap();
        let path = |n: Res<u32>| -> Vec<((u8, u32), Reason)> {
            let steps = collection.why_live(&n).expect("live, and explained");
            steps.iter().map(|s| (kind_id(s.node), s.reason)).collect()
        };
        let written = Reason::Root(RootKind::Written);
        assert_eq!(
            path(node(CONTENT, M2)),
            [((CONTENT, M2), written)],
            "{mark_first}"
        );
        assert_eq!(
            path(node(CONTENT, C2)),
            [
                ((CONTENT, M2), written),
                ((CONTENT, C2), Reason::Reference(Strength::Strong))
            ],
            "{mark_first}"
        );
        // A node the snapshot kept keeps its plain reason.
        assert_eq!(path(node(IMAGE, 0))[0].1, Reason::Root(RootKind::Explicit));
    }
}

#[test]
fn referrers_first_skips_what_turned_live_and_keeps_referrers_first() {
    // Script A's store, plus garbage with references among it: manifests
    // M4 → C4, L4 and M5 → L4; the chain S3 → S2 → S1 on layers L4, L5.
    let mut g = script_a_store(false);
    let (m4, m5, c4, l4, l5) = (MANIFEST + 4, MANIFEST + 5, CONFIG + 4, 8, 9);
    g.old_blob(m4, &[c4, l4])
        .old_blob(m5, &[l4])
        .old_blob(c4, &[]);
    g.old_blob(l4, &[]).old_blob(l5, &[]);
    g.snapshots.insert(
        S1,
        Snap {
            parent: None,
            layer: l5,
        },
    );
    g.snapshots.insert(
        S2,
        Snap {
            parent: Some(S1),
            layer: l4,
        },
    );
    g.snapshots.insert(
        S3,
        Snap {
            parent: Some(S2),
            layer: l4,
        },
    );
    let mut collector: Collector<u8, u8, u32> = Collector::new();
    let store = Store::new(g, Rule::Correct, collector.barrier());
    let mut options = options(now0());
    options.sweep_order = SweepOrder::ReferrersFirst;
    let mut marking = collector.start(&options);
    // The long part orders the garbage, M2 and what it names included.
    marking.mark(&mut View::new(store.version())).unwrap();
    store.write(&script_a()[0]);
    let live = store.version();
    let collection = marking.finish(&mut View::new(Arc::clone(&live))).unwrap();
    let handed = collection.garbage();
    let announced = handed.len();
    let garbage: Vec<u32> = handed.map(|n| code(n.kind, n.key)).collect();
    assert_eq!(
        garbage.len(),
        announced,
        "the iterator's length is what it hands out"
    );
    let expected: BTreeSet<u32> = expected(&live, now0()).garbage.into_iter().collect();
    assert_eq!(garbage.iter().copied().collect::<BTreeSet<_>>(), expected);
    for turned_live in [M2, C2, L2] {
        assert!(!garbage.contains(&code(CONTENT, turned_live)));
    }
    // Referrers first: for every reference among the garbage, the referrer
    // comes before its target.
    let at = |c: u32| garbage.iter().position(|&g| g == c);
    let mut checked = 0;
    for (from, to, _) in lists(&live, now0()).edges {
        if let (Some(f), Some(t)) = (at(from), at(to)) {
            assert!(
                f < t,
                "{from:x} → {to:x} handed out as {f}, {t}: {garbage:x?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "the order was tested on {checked} references");
}

/// Writers that never stop reporting do not keep `mark` (or a step) from
/// ending: reports are taken in at most once a step, and the rest wait for
/// the next step or for `finish` (found by review: the step looped on
/// reports of nodes already live, with no checkpoint).
#[test]
fn a_writer_that_never_stops_reporting_does_not_hold_up_the_long_part() {
    let mut store = common::MemStore::with_nodes(50);
    store.root(0, resource_gc::Strength::Strong);
    for key in 0..49 {
        store.edge(key, key + 1, resource_gc::Strength::Strong);
    }
    let mut gc = Collector::new();
    let barrier = gc.barrier();
    let stop = AtomicBool::new(false);
    let writes = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let mut marking = gc.start(&Options::default());
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                barrier.keep(&common::n(1));
                writes.fetch_add(1, Ordering::Relaxed);
            }
        });
        while writes.load(Ordering::Relaxed) == 0 {
            std::hint::spin_loop();
        }
        for budget in [1, 8, usize::MAX] {
            let _ = marking
                .step(&mut store, budget)
                .expect("the store never fails");
        }
        marking.mark(&mut store).expect("the store never fails");
        stop.store(true, Ordering::Relaxed);
        let collection = marking.finish(&mut store).expect("the store never fails");
        assert_eq!(collection.garbage().len(), 0);
        assert!(collection.stats().reported > 0);
    });
}

/// `keep_all` reports a slice under one lock, as `keep` would one by one,
/// and nothing while no collection runs.
#[test]
fn keep_all_reports_a_slice() {
    let mut store = common::MemStore::with_nodes(6);
    store.root(0, resource_gc::Strength::Strong);
    let mut gc = Collector::new();
    let barrier = gc.barrier();
    barrier.keep_all(&[common::n(4), common::n(5)]);
    let mut marking = gc.start(&Options::default());
    barrier.keep_all(&[common::n(2), common::n(3)]);
    marking.mark(&mut store).unwrap();
    let collection = marking.finish(&mut store).unwrap();
    let garbage: Vec<u32> = collection.garbage().map(|node| node.key).collect();
    assert_eq!(garbage, [1, 4, 5]);
    assert_eq!(collection.stats().reported, 2);
}

/// A lease, node 0, listed and a root, holding blob 1 until `expires`:
/// the store as the snapshot saw it (expired) or as it is (renewed).
struct Leased {
    expires: SystemTime,
}

type Plain = Node<u8, u8, u32>;

impl CollectionContext for Leased {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = std::convert::Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Self::Error> {
        nodes.push(&Plain::new(0, 0, 0));
        nodes.push(&Plain::new(0, 0, 1));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Self::Error> {
        roots.strong(&Plain::new(0, 0, 0));
        Ok(())
    }

    fn references(
        &mut self,
        node: &Plain,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Self::Error> {
        if node.key == 0 {
            refs.expiring(&Plain::new(0, 0, 1), Strength::Strong, self.expires);
        }
        Ok(())
    }
}

#[test]
fn a_lease_renewed_during_the_mark_keeps_what_it_holds_when_only_the_lease_is_reported() {
    let now = now0();
    let mut collector = Collector::new();
    let barrier = collector.barrier();
    let mut marking = collector.start(&Options::default().now(now));
    let mut snapshot = Leased {
        expires: now - Duration::from_secs(1),
    };
    marking.mark(&mut snapshot).unwrap();
    // The lease had expired in the snapshot; a writer renews it and
    // reports the lease alone. `finish` reads it again from the live store.
    barrier.keep(&Plain::new(0, 0, 0));
    let mut live = Leased {
        expires: now + Duration::from_secs(3600),
    };
    let collection = marking.finish(&mut live).unwrap();
    assert_eq!(
        collection.garbage().count(),
        0,
        "the renewed lease holds blob 1"
    );
}
