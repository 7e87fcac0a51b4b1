//! containerd's collector, expressed by an embedder: a metadata store with
//! content, snapshots, images, containers, leases and ingests per
//! namespace, whose GC behaviour lives in labels (`containerd.io/gc.*`),
//! as in `metadata/gc.go`.
//!
//! How each containerd rule maps onto the crate:
//!
//! - images: listed, and plain strong roots; an image's target is a
//!   [`Strength::Structural`] reference, so that a flat lease holding the
//!   image keeps its target (`resourceImageFlat` → `resourceContentFlat`);
//! - containers: plain strong roots (containerd never sweeps them);
//! - a snapshot's parent: a structural reference, kept through a flat
//!   lease as containerd's `resourceSnapshotFlat` keeps it;
//! - `containerd.io/gc.root`: a strong root;
//! - a lease: the lease node is an expiring root
//!   ([`ReferenceSink::expiring`], held until `now` is past the deadline,
//!   as containerd's `now.After(expire)`) and holds its resources in its
//!   `references`, flat for `containerd.io/gc.flat`;
//! - an ingest: an expiring root whose reference is its expected content;
//! - `containerd.io/gc.ref.*` labels: strong references, which a flat
//!   reach does not follow;
//! - `containerd.io/gc.bref.content*` labels:
//!   [`NodeSink::back_reference`] with `Strength::Strong`, followed when
//!   the parent is reached strongly, not through a flat hold;
//! - `containerd.io/gc.cond.<name> = usedat<2h`: the reference named
//!   `<name>` holds only while `containerd.io/usedat.<name>` is within 2 h
//!   of now ([`ReferenceSink::add_if`]).
//!
//! Times in labels are Unix seconds (containerd writes RFC 3339; parsing it
//! is beside the point here).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resource_gc::{
    CollectionContext, Collector, Node, NodeSink, Options, ReferenceSink, RootCounts, Stats,
    Strength,
};

// ---------------------------------------------------------------------------
// The embedder's store.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Content,
    Snapshot,
    Image,
    Lease,
    Ingest,
}

type Ns = &'static str;
type Res = Node<Kind, Ns, String>;
type Refs<'a> = ReferenceSink<'a, Kind, Ns, String>;
type Labels = BTreeMap<String, String>;

const GC_ROOT: &str = "containerd.io/gc.root";
const GC_EXPIRE: &str = "containerd.io/gc.expire";
const GC_FLAT: &str = "containerd.io/gc.flat";
const REF_CONTENT: &str = "containerd.io/gc.ref.content";
const REF_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.";
const BREF_CONTENT: &str = "containerd.io/gc.bref.content";
const COND: &str = "containerd.io/gc.cond.";
const USED_AT: &str = "containerd.io/usedat.";

const DEFAULT: Ns = "default";
const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
const NANO: Duration = Duration::from_nanos(1);

fn content(ns: Ns, digest: &str) -> Res {
    Node::new(Kind::Content, ns, digest.to_string())
}
fn snapshot(ns: Ns, key: &str) -> Res {
    Node::new(Kind::Snapshot, ns, key.to_string())
}
fn image(ns: Ns, name: &str) -> Res {
    Node::new(Kind::Image, ns, name.to_string())
}
fn lease(ns: Ns, id: &str) -> Res {
    Node::new(Kind::Lease, ns, id.to_string())
}
fn ingest(ns: Ns, id: &str) -> Res {
    Node::new(Kind::Ingest, ns, id.to_string())
}
/// Shorthands in the default namespace.
fn blob(digest: &str) -> Res {
    content(DEFAULT, digest)
}
fn snap(key: &str) -> Res {
    snapshot(DEFAULT, key)
}

/// Times `offset` after and before the tests' arbitrary "zero".
fn at(offset: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + offset
}
fn before(offset: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) - offset
}
fn unix(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}
fn parse_time(value: &str) -> Option<SystemTime> {
    value
        .parse::<u64>()
        .ok()
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}
fn parse_duration(value: &str) -> Option<Duration> {
    let (number, unit) = value.split_at(value.len().checked_sub(1)?);
    let number: u64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    Some(Duration::from_secs(number * unit))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[derive(Default)]
struct Snapshot {
    parent: Option<String>,
    labels: Labels,
}

#[derive(Default)]
struct Lease {
    labels: Labels,
    resources: Vec<Res>,
}

struct Ingest {
    expected: String,
    expires: Option<SystemTime>,
}

struct Container {
    snapshot: String,
    labels: Labels,
}

#[derive(Default)]
struct Namespace {
    content: BTreeMap<String, Labels>,
    /// By `snapshotter/name`.
    snapshots: BTreeMap<String, Snapshot>,
    /// Image name → target digest.
    images: BTreeMap<String, String>,
    containers: BTreeMap<String, Container>,
    leases: BTreeMap<String, Lease>,
    ingests: BTreeMap<String, Ingest>,
}

impl Namespace {
    fn blob(&mut self, digest: &str, pairs: &[(&str, &str)]) -> &mut Self {
        self.content.insert(digest.into(), labels(pairs));
        self
    }
    fn snapshot(&mut self, key: &str, parent: Option<&str>, pairs: &[(&str, &str)]) -> &mut Self {
        let s = Snapshot {
            parent: parent.map(Into::into),
            labels: labels(pairs),
        };
        self.snapshots.insert(key.into(), s);
        self
    }
    fn image(&mut self, name: &str, target: &str) -> &mut Self {
        self.images.insert(name.into(), target.into());
        self
    }
    fn container(&mut self, id: &str, snapshot: &str, pairs: &[(&str, &str)]) -> &mut Self {
        let c = Container {
            snapshot: snapshot.into(),
            labels: labels(pairs),
        };
        self.containers.insert(id.into(), c);
        self
    }
    fn lease(&mut self, id: &str, pairs: &[(&str, &str)], resources: Vec<Res>) -> &mut Self {
        let l = Lease {
            labels: labels(pairs),
            resources,
        };
        self.leases.insert(id.into(), l);
        self
    }
    fn ingest(&mut self, id: &str, expected: &str, expires: Option<SystemTime>) -> &mut Self {
        let i = Ingest {
            expected: expected.into(),
            expires,
        };
        self.ingests.insert(id.into(), i);
        self
    }
}

#[derive(Default)]
struct Store {
    namespaces: BTreeMap<Ns, Namespace>,
}

impl Store {
    fn ns(&mut self, ns: Ns) -> &mut Namespace {
        self.namespaces.entry(ns).or_default()
    }
    fn default_ns(&mut self) -> &mut Namespace {
        self.ns(DEFAULT)
    }

    fn remove(&mut self, node: &Res) {
        let Some(space) = self.namespaces.get_mut(&node.namespace) else {
            return;
        };
        let key = &node.key;
        let removed = match node.kind {
            Kind::Content => space.content.remove(key).is_some(),
            Kind::Snapshot => space.snapshots.remove(key).is_some(),
            Kind::Image => space.images.remove(key).is_some(),
            Kind::Lease => space.leases.remove(key).is_some(),
            Kind::Ingest => space.ingests.remove(key).is_some(),
        };
        assert!(removed, "garbage {node:?} was listed, so it exists");
    }

    fn exists(&self, node: &Res) -> bool {
        self.namespaces.get(&node.namespace).is_some_and(|space| {
            let key = &node.key;
            match node.kind {
                Kind::Content => space.content.contains_key(key),
                Kind::Snapshot => space.snapshots.contains_key(key),
                Kind::Image => space.images.contains_key(key),
                Kind::Lease => space.leases.contains_key(key),
                Kind::Ingest => space.ingests.contains_key(key),
            }
        })
    }
}

/// The `usedat<…>` condition on the reference named `name`, if any: the
/// longest age, and when the reference was last used. A condition that
/// cannot be parsed is ignored, so the reference holds (fail safe).
fn condition(labels: &Labels, name: &str) -> Option<(Duration, SystemTime)> {
    let cond = labels.get(&format!("{COND}{name}"))?;
    let limit = parse_duration(cond.strip_prefix("usedat<")?)?;
    let used = parse_time(labels.get(&format!("{USED_AT}{name}"))?)?;
    Some((limit, used))
}

/// containerd's label references: `gc.ref.content[.name|/name]` and
/// `gc.ref.snapshot.<snapshotter>[.name|/name]`, each possibly conditional.
fn label_references(ns: Ns, labels: &Labels, strength: Strength, refs: &mut Refs<'_>) {
    for (key, value) in labels {
        let (target, name) = if let Some(rest) = key.strip_prefix(REF_CONTENT) {
            if !(rest.is_empty() || rest.starts_with(['.', '/'])) {
                continue;
            }
            (content(ns, value), &rest[rest.len().min(1)..])
        } else if let Some(rest) = key.strip_prefix(REF_SNAPSHOT) {
            let (snapshotter, name) = rest.split_once(['.', '/']).unwrap_or((rest, ""));
            (snapshot(ns, &format!("{snapshotter}/{value}")), name)
        } else {
            continue;
        };
        match condition(labels, name) {
            Some((limit, used)) => refs.add_if(&target, strength, |now| {
                now.duration_since(used).map_or(true, |age| age < limit)
            }),
            None => refs.add(&target, strength),
        }
    }
}

impl CollectionContext for Store {
    type Kind = Kind;
    type Namespace = Ns;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, Ns, String>) -> Result<(), Infallible> {
        for (&ns, space) in &self.namespaces {
            for (digest, labels) in &space.content {
                let node = content(ns, digest);
                nodes.push(&node);
                for (key, parent) in labels {
                    if key.starts_with(BREF_CONTENT) {
                        let parent = content(ns, parent);
                        nodes.back_reference(&node, &parent, Strength::Strong);
                    }
                }
            }
            space
                .snapshots
                .keys()
                .for_each(|k| nodes.push(&snapshot(ns, k)));
            space.images.keys().for_each(|k| nodes.push(&image(ns, k)));
            space.leases.keys().for_each(|k| nodes.push(&lease(ns, k)));
            space
                .ingests
                .keys()
                .for_each(|k| nodes.push(&ingest(ns, k)));
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), Infallible> {
        for (&ns, space) in &self.namespaces {
            for name in space.images.keys() {
                roots.strong(&image(ns, name));
            }
            for container in space.containers.values() {
                roots.strong(&snapshot(ns, &container.snapshot));
                label_references(ns, &container.labels, Strength::Strong, roots);
            }
            for (digest, labels) in &space.content {
                if labels.contains_key(GC_ROOT) {
                    roots.strong(&content(ns, digest));
                }
            }
            for (key, s) in &space.snapshots {
                if s.labels.contains_key(GC_ROOT) {
                    roots.strong(&snapshot(ns, key));
                }
            }
            for (id, i) in &space.ingests {
                if let Some(expires) = i.expires {
                    roots.expiring(&ingest(ns, id), Strength::Strong, expires);
                }
            }
            for (id, l) in &space.leases {
                let node = lease(ns, id);
                // An expiry that cannot be parsed keeps the lease.
                match l.labels.get(GC_EXPIRE).map(|v| parse_time(v)) {
                    Some(Some(expires)) => roots.expiring(&node, Strength::Strong, expires),
                    Some(None) | None => roots.strong(&node),
                }
            }
        }
        Ok(())
    }

    fn references(&mut self, node: &Res, refs: &mut Refs<'_>) -> Result<(), Infallible> {
        let ns = node.namespace;
        let Some(space) = self.namespaces.get(&ns) else {
            return Ok(());
        };
        match node.kind {
            Kind::Content => {
                if let Some(labels) = space.content.get(&node.key) {
                    label_references(ns, labels, Strength::Strong, refs);
                }
            }
            Kind::Snapshot => {
                if let Some(s) = space.snapshots.get(&node.key) {
                    if let Some(parent) = &s.parent {
                        refs.structural(&snapshot(ns, parent));
                    }
                    label_references(ns, &s.labels, Strength::Strong, refs);
                }
            }
            Kind::Image => {
                if let Some(target) = space.images.get(&node.key) {
                    refs.structural(&content(ns, target));
                }
            }
            Kind::Lease => {
                if let Some(l) = space.leases.get(&node.key) {
                    let strength = if l.labels.contains_key(GC_FLAT) {
                        Strength::Flat
                    } else {
                        Strength::Strong
                    };
                    for resource in &l.resources {
                        refs.add(resource, strength);
                    }
                }
            }
            Kind::Ingest => {
                if let Some(i) = space.ingests.get(&node.key) {
                    refs.strong(&content(ns, &i.expected));
                }
            }
        }
        Ok(())
    }
}

/// One collection at `now`: returns the garbage and the stats, then removes
/// the garbage from the store, as containerd does after its transaction.
fn gc(store: &mut Store, now: SystemTime) -> (BTreeSet<Res>, Stats) {
    let mut options = Options::default();
    options.now = Some(now);
    let mut collector = Collector::new();
    let collection = collector
        .collect_with(store, &options)
        .expect("the store never fails");
    assert_eq!(collection.now(), now);
    let garbage: BTreeSet<Res> = collection.garbage().cloned().collect();
    let live: BTreeSet<Res> = collection.live().cloned().collect();
    let stats = collection.stats().clone();
    assert!(garbage.iter().all(|node| !collection.is_live(node)));
    assert!(live.iter().all(|node| collection.is_live(node)));
    assert_eq!(garbage.len() + live.len(), stats.nodes_listed);
    assert_eq!(garbage.len(), stats.nodes_swept);
    for node in &garbage {
        store.remove(node);
    }
    (garbage, stats)
}

fn set<const N: usize>(nodes: [Res; N]) -> BTreeSet<Res> {
    nodes.into_iter().collect()
}

// ---------------------------------------------------------------------------
// Scenarios.

/// A pulled image: manifest → config, layer, and the unpacked snapshot
/// chain its label names. Held by a lease only, as during a pull.
fn pulled_under_lease(store: &mut Store, lease_labels: &[(&str, &str)]) {
    store
        .default_ns()
        .blob(
            "sha256:manifest",
            &[
                ("containerd.io/gc.ref.content.config", "sha256:config"),
                ("containerd.io/gc.ref.content.l.0", "sha256:layer"),
                ("containerd.io/gc.ref.snapshot.overlayfs", "unpacked"),
            ],
        )
        .blob("sha256:config", &[])
        .blob("sha256:layer", &[])
        .blob("sha256:orphan", &[])
        .snapshot("overlayfs/unpacked", Some("overlayfs/base"), &[])
        .snapshot("overlayfs/base", None, &[])
        .lease("pull", lease_labels, vec![blob("sha256:manifest")]);
}

#[test]
fn an_unexpired_lease_keeps_its_content_and_what_that_references() {
    let mut store = Store::default();
    let expires = unix(at(2 * HOUR));
    pulled_under_lease(&mut store, &[(GC_EXPIRE, &expires)]);

    let (garbage, stats) = gc(&mut store, at(HOUR));
    assert_eq!(garbage, set([blob("sha256:orphan")]));
    let mut kinds = RootCounts::default();
    kinds.leases = 1;
    assert_eq!(stats.roots_by_kind, kinds);
    for kept in [
        lease(DEFAULT, "pull"),
        blob("sha256:manifest"),
        blob("sha256:config"),
        blob("sha256:layer"),
        snap("overlayfs/unpacked"),
        snap("overlayfs/base"),
    ] {
        assert!(store.exists(&kept), "{kept:?}");
    }
}

#[test]
fn a_lease_holds_at_its_deadline_and_expires_a_nanosecond_later() {
    // containerd: `now.After(expire)`; at the instant itself it holds.
    for (now, held) in [
        (at(2 * HOUR) - NANO, true),
        (at(2 * HOUR), true),
        (at(2 * HOUR) + NANO, false),
    ] {
        let mut store = Store::default();
        let expires = unix(at(2 * HOUR));
        pulled_under_lease(&mut store, &[(GC_EXPIRE, &expires)]);
        let (garbage, stats) = gc(&mut store, now);
        assert_eq!(garbage.contains(&lease(DEFAULT, "pull")), !held, "{now:?}");
        assert_eq!(garbage.contains(&blob("sha256:layer")), !held, "{now:?}");
        assert_eq!(stats.roots_by_kind.leases, usize::from(held));
        assert_eq!(stats.roots_by_kind.leases_expired, usize::from(!held));
    }
}

#[test]
fn an_expired_lease_keeps_nothing_and_is_swept_itself() {
    for now in [at(2 * HOUR) + NANO, at(3 * HOUR)] {
        let mut store = Store::default();
        let expires = unix(at(2 * HOUR));
        pulled_under_lease(&mut store, &[(GC_EXPIRE, &expires)]);

        let (garbage, stats) = gc(&mut store, now);
        assert_eq!(
            garbage,
            set([
                lease(DEFAULT, "pull"),
                blob("sha256:manifest"),
                blob("sha256:config"),
                blob("sha256:layer"),
                blob("sha256:orphan"),
                snap("overlayfs/unpacked"),
                snap("overlayfs/base"),
            ])
        );
        let mut kinds = RootCounts::default();
        kinds.leases_expired = 1;
        assert_eq!(stats.roots_by_kind, kinds);
        assert_eq!(stats.roots, 0);
    }
}

#[test]
fn a_lease_without_a_readable_expiry_is_kept() {
    for expire in [None, Some("next tuesday")] {
        let mut store = Store::default();
        let pairs: Vec<(&str, &str)> = expire.iter().map(|&v| (GC_EXPIRE, v)).collect();
        pulled_under_lease(&mut store, &pairs);
        let (garbage, stats) = gc(&mut store, at(100 * HOUR));
        assert_eq!(garbage, set([blob("sha256:orphan")]), "{expire:?}");
        assert_eq!(stats.roots_by_kind.explicit, 1);
    }
}

#[test]
fn a_flat_lease_keeps_the_blob_but_not_what_its_labels_reference() {
    let mut store = Store::default();
    let expires = unix(at(2 * HOUR));
    pulled_under_lease(&mut store, &[(GC_EXPIRE, &expires), (GC_FLAT, "")]);

    let (garbage, _) = gc(&mut store, at(HOUR));
    assert_eq!(
        garbage,
        set([
            blob("sha256:config"),
            blob("sha256:layer"),
            blob("sha256:orphan"),
            snap("overlayfs/unpacked"),
            snap("overlayfs/base"),
        ])
    );
    assert!(store.exists(&lease(DEFAULT, "pull")));
    assert!(store.exists(&blob("sha256:manifest")));
}

#[test]
fn a_blob_held_flat_by_a_lease_and_strongly_by_an_image_is_expanded() {
    let mut store = Store::default();
    let expires = unix(at(2 * HOUR));
    pulled_under_lease(&mut store, &[(GC_EXPIRE, &expires), (GC_FLAT, "")]);
    store
        .default_ns()
        .image("docker.io/library/app:1", "sha256:manifest");
    let (garbage, _) = gc(&mut store, at(HOUR));
    assert_eq!(garbage, set([blob("sha256:orphan")]));
}

#[test]
fn gc_root_labelled_content_and_snapshots_are_roots() {
    let mut store = Store::default();
    store
        .default_ns()
        .blob(
            "sha256:pinned",
            &[
                (GC_ROOT, ""),
                ("containerd.io/gc.ref.content", "sha256:pinned-child"),
            ],
        )
        .blob("sha256:pinned-child", &[])
        .blob(
            "sha256:unpinned",
            &[("containerd.io/gc.ref.content", "sha256:unpinned-child")],
        )
        .blob("sha256:unpinned-child", &[])
        .snapshot(
            "overlayfs/kept",
            Some("overlayfs/kept-parent"),
            &[(GC_ROOT, "")],
        )
        .snapshot("overlayfs/kept-parent", None, &[])
        .snapshot("overlayfs/loose", None, &[]);

    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(
        garbage,
        set([
            blob("sha256:unpinned"),
            blob("sha256:unpinned-child"),
            snap("overlayfs/loose"),
        ])
    );
    let mut kinds = RootCounts::default();
    kinds.explicit = 2;
    assert_eq!(stats.roots_by_kind, kinds);
}

#[test]
fn an_ingest_keeps_its_expected_content_until_it_expires() {
    let mut store = Store::default();
    store
        .default_ns()
        .blob("sha256:fresh", &[])
        .blob("sha256:stale", &[])
        .ingest("upload-fresh", "sha256:fresh", Some(at(HOUR)))
        .ingest("upload-stale", "sha256:stale", Some(before(HOUR)))
        // Not written yet: a dead edge, which is no error.
        .ingest("upload-empty", "sha256:not-yet", Some(at(HOUR)))
        // No expiry and no lease: nothing holds it.
        .ingest("upload-abandoned", "sha256:fresh", None);

    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(
        garbage,
        set([
            ingest(DEFAULT, "upload-stale"),
            ingest(DEFAULT, "upload-abandoned"),
            blob("sha256:stale"),
        ])
    );
    assert_eq!(stats.dead_edges, 1);
    let mut kinds = RootCounts::default();
    kinds.leases = 2;
    kinds.leases_expired = 1;
    assert_eq!(stats.roots_by_kind, kinds);
}

#[test]
fn a_back_reference_keeps_the_child_while_its_parent_lives() {
    let mut store = Store::default();
    store
        .default_ns()
        .image("docker.io/library/app:1", "sha256:manifest")
        .blob("sha256:manifest", &[])
        // A signature the manifest knows nothing of: it names its parent.
        .blob(
            "sha256:signature",
            &[("containerd.io/gc.bref.content.sig", "sha256:manifest")],
        )
        .blob(
            "sha256:sbom",
            &[("containerd.io/gc.bref.content/sbom", "sha256:manifest")],
        )
        .blob("sha256:other", &[]);

    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(garbage, set([blob("sha256:other")]));
    assert_eq!(stats.roots_by_kind.back_references, 2);

    // The image is deleted: its manifest goes, and the children with it.
    store.default_ns().images.clear();
    let (garbage, stats) = gc(&mut store, at(HOUR));
    assert_eq!(
        garbage,
        set([
            blob("sha256:manifest"),
            blob("sha256:signature"),
            blob("sha256:sbom"),
        ])
    );
    assert_eq!(stats.roots_by_kind.back_references, 0);
}

#[test]
fn a_back_reference_to_a_parent_that_does_not_exist_yet() {
    // The child is pushed first, under a lease; its parent does not exist.
    let mut store = Store::default();
    let expires = unix(at(HOUR));
    store
        .default_ns()
        .blob(
            "sha256:signature",
            &[("containerd.io/gc.bref.content", "sha256:manifest")],
        )
        .lease(
            "push",
            &[(GC_EXPIRE, &expires)],
            vec![blob("sha256:signature")],
        );
    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(garbage, set([]));
    assert_eq!(stats.dead_edges, 0);

    // An image is tagged before its manifest is written: the parent is a
    // dead edge, yet wanted, so its back-referenced child stays.
    store
        .default_ns()
        .image("registry/app:2", "sha256:manifest");
    let (garbage, stats) = gc(&mut store, at(2 * HOUR));
    assert_eq!(garbage, set([lease(DEFAULT, "push")]));
    assert_eq!(stats.roots_by_kind.back_references, 1);

    // The manifest arrives: the child lives with it.
    store.default_ns().blob("sha256:manifest", &[]);
    let (garbage, _) = gc(&mut store, at(3 * HOUR));
    assert_eq!(garbage, set([]));

    // A child whose parent never comes, once its lease is gone, goes.
    store.default_ns().images.clear();
    store.default_ns().blob(
        "sha256:orphan-signature",
        &[("containerd.io/gc.bref.content", "sha256:never")],
    );
    let (garbage, _) = gc(&mut store, at(4 * HOUR));
    assert_eq!(
        garbage,
        set([
            blob("sha256:manifest"),
            blob("sha256:signature"),
            blob("sha256:orphan-signature"),
        ])
    );
}

/// A build-cache index, a root, referencing its cache blob only while the
/// cache was used within the last two hours.
fn cache_store(used: SystemTime) -> Store {
    let mut store = Store::default();
    let used = unix(used);
    store
        .default_ns()
        .blob(
            "sha256:cache-index",
            &[
                (GC_ROOT, ""),
                ("containerd.io/gc.ref.content.cache", "sha256:cache-blob"),
                ("containerd.io/gc.cond.cache", "usedat<2h"),
                ("containerd.io/usedat.cache", &used),
                ("containerd.io/gc.ref.content.always", "sha256:always"),
            ],
        )
        .blob("sha256:cache-blob", &[])
        .blob("sha256:always", &[]);
    store
}

#[test]
fn a_conditional_reference_holds_only_while_its_condition_does() {
    let mut store = cache_store(at(Duration::ZERO));
    let (garbage, _) = gc(&mut store, at(HOUR));
    assert_eq!(garbage, set([]));

    let mut store = cache_store(at(Duration::ZERO));
    let (garbage, _) = gc(&mut store, at(3 * HOUR));
    assert_eq!(garbage, set([blob("sha256:cache-blob")]));

    // Used again within the window: held again.
    let mut store = cache_store(at(2 * HOUR + 30 * MINUTE));
    let (garbage, _) = gc(&mut store, at(3 * HOUR));
    assert_eq!(garbage, set([]));
}

#[test]
fn a_back_reference_is_not_followed_through_a_flat_hold() {
    let mut store = Store::default();
    store
        .default_ns()
        .blob("sha256:manifest", &[])
        .blob(
            "sha256:signature",
            &[("containerd.io/gc.bref.content", "sha256:manifest")],
        )
        .lease("flat", &[(GC_FLAT, "")], vec![blob("sha256:manifest")]);
    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(garbage, set([blob("sha256:signature")]));
    assert_eq!(stats.roots_by_kind.back_references, 0);
}

#[test]
fn namespaces_are_separate() {
    let mut store = Store::default();
    store.ns("a").image("app", "sha256:same");
    store.ns("a").blob("sha256:same", &[]);
    store.ns("b").blob("sha256:same", &[]);
    let (garbage, _) = gc(&mut store, at(Duration::ZERO));
    assert_eq!(garbage, set([content("b", "sha256:same")]));
}

#[test]
fn root_counts_by_kind() {
    let mut store = Store::default();
    let live = unix(at(HOUR));
    let dead = unix(before(HOUR));
    let used = unix(at(Duration::ZERO));
    store
        .default_ns()
        // Two images, one sharing its manifest with the container's labels.
        .image("app:1", "sha256:m1")
        .image("app:2", "sha256:m2")
        .blob("sha256:m1", &[])
        .blob("sha256:m2", &[])
        // A container: its snapshot, a label reference, and a conditional
        // one that holds (three explicit roots).
        .container(
            "web",
            "overlayfs/web",
            &[
                ("containerd.io/gc.ref.content.spec", "sha256:m1"),
                ("containerd.io/gc.ref.content.cache", "sha256:cache"),
                ("containerd.io/gc.cond.cache", "usedat<2h"),
                ("containerd.io/usedat.cache", &used),
            ],
        )
        .snapshot("overlayfs/web", None, &[])
        .blob("sha256:cache", &[])
        // One gc.root blob (an explicit root).
        .blob("sha256:root", &[(GC_ROOT, "")])
        // A back-reference to m2.
        .blob(
            "sha256:sig",
            &[("containerd.io/gc.bref.content", "sha256:m2")],
        )
        // Leases and ingests: one live and one expired of each, and one
        // lease without an expiry (an explicit root).
        .blob("sha256:leased", &[])
        .blob("sha256:ingested", &[])
        .lease("live", &[(GC_EXPIRE, &live)], vec![blob("sha256:leased")])
        .lease("dead", &[(GC_EXPIRE, &dead)], vec![])
        .lease("forever", &[], vec![])
        .ingest("up-live", "sha256:ingested", Some(at(HOUR)))
        .ingest("up-dead", "sha256:gone", Some(before(HOUR)))
        .blob("sha256:junk", &[]);

    let (garbage, stats) = gc(&mut store, at(30 * MINUTE));
    assert_eq!(
        garbage,
        set([
            blob("sha256:junk"),
            lease(DEFAULT, "dead"),
            ingest(DEFAULT, "up-dead"),
        ])
    );
    let mut kinds = RootCounts::default();
    kinds.explicit = 2 + 3 + 1 + 1;
    kinds.leases = 2;
    kinds.leases_expired = 2;
    kinds.back_references = 1;
    assert_eq!(stats.roots_by_kind, kinds);
    assert_eq!(stats.roots, 7 + 2);
}

/// containerd's `TestMetadataCollector` (core/metadata/db_test.go), the
/// resources the crate models: images, containers' snapshots, `gc.root`,
/// plain and flat leases, label references, snapshot chains.
#[test]
fn containerd_test_metadata_collector() {
    let mut store = Store::default();
    let ns = store.ns("test");
    ns.blob("blob1", &[])
        .blob("blob2", &[])
        .blob("blob3", &[])
        .blob("blob4", &[(GC_ROOT, "")])
        .image("image-1", "blob2")
        .snapshot("native/1", None, &[])
        .snapshot("native/2", Some("native/1"), &[])
        .snapshot("native/3", Some("native/2"), &[])
        .snapshot("native/4", Some("native/3"), &[])
        .snapshot("native/5", Some("native/3"), &[])
        .container("1", "native/4", &[])
        // A plain lease: what it holds keeps its label references.
        .blob("blob5", &[("containerd.io/gc.ref.content.0", "blob6")])
        .blob("blob6", &[])
        .snapshot(
            "native/6",
            None,
            &[("containerd.io/gc.ref.content.0", "blob7")],
        )
        .blob("blob7", &[])
        .lease(
            "lease-1",
            &[],
            vec![content("test", "blob5"), snapshot("test", "native/6")],
        )
        // A flat lease: what it holds keeps its parents, not its labels.
        .blob("blob8", &[("containerd.io/gc.ref.content.0", "blob9")])
        .blob("blob9", &[])
        .snapshot(
            "native/7",
            None,
            &[("containerd.io/gc.ref.content.0", "blob10")],
        )
        .snapshot("native/8", Some("native/7"), &[])
        .snapshot("native/9", Some("native/8"), &[])
        .blob("blob10", &[])
        .lease(
            "lease-2",
            &[(GC_FLAT, "")],
            vec![content("test", "blob8"), snapshot("test", "native/9")],
        )
        .blob("blob11", &[])
        .blob("blob12", &[])
        .lease("lease-3", &[], vec![content("test", "blob11")]);

    let (garbage, stats) = gc(&mut store, at(Duration::ZERO));
    let test = |key: &str| content("test", key);
    assert_eq!(
        garbage,
        set([
            test("blob1"),
            test("blob3"),
            snapshot("test", "native/5"),
            test("blob9"),
            test("blob10"),
            test("blob12"),
        ])
    );
    for kept in [
        "native/1", "native/4", "native/6", "native/7", "native/8", "native/9",
    ] {
        assert!(store.exists(&snapshot("test", kept)), "{kept}");
    }
    // native/9 and its parents were reached flat and read for their
    // structure only; blob8 too.
    assert_eq!(stats.nodes_expanded_flat, 4);
}

/// containerd's `TestGCRefs`, flat cases: a flat image keeps its target
/// content flat (none of the image's or the content's labels), a flat
/// snapshot keeps its parent flat.
#[test]
fn containerd_test_gc_refs_flat_image_and_snapshot() {
    let image1 = image("ns1", "image1");
    let mut store = Store::default();
    store
        .ns("ns1")
        .blob("dgst3", &[("containerd.io/gc.ref.content", "dgst1")])
        .blob("dgst1", &[])
        .image("image1", "dgst3")
        .lease("pull", &[(GC_FLAT, "")], vec![image1.clone()]);
    store
        .ns("ns3")
        .snapshot("overlay/sn1", None, &[])
        .snapshot(
            "overlay/sn2",
            Some("overlay/sn1"),
            &[("containerd.io/gc.ref.content", "dgst2")],
        )
        .blob("dgst2", &[])
        .lease(
            "pull",
            &[(GC_FLAT, "")],
            vec![snapshot("ns3", "overlay/sn2")],
        );
    // The image must be held by the flat lease alone: here images are not
    // roots by themselves, as containerd's expired images are not.
    let mut leased_only = LeasedImages(store);
    let mut options = Options::default();
    options.now = Some(at(Duration::ZERO));
    let mut collector = Collector::new();
    let collection = collector.collect_with(&mut leased_only, &options).unwrap();
    let garbage: BTreeSet<Res> = collection.garbage().cloned().collect();
    assert_eq!(
        garbage,
        set([content("ns1", "dgst1"), content("ns3", "dgst2")]),
        "the flat image keeps dgst3 flat, the flat sn2 keeps sn1 flat"
    );
    assert!(collection.is_live(&image1));
    assert!(collection.is_live(&content("ns1", "dgst3")));
    assert!(collection.is_live(&snapshot("ns3", "overlay/sn1")));
}

/// The containerd store with images that are not roots by themselves, as
/// containerd's expired images are not: only what leases them keeps them.
struct LeasedImages(Store);

impl CollectionContext for LeasedImages {
    type Kind = Kind;
    type Namespace = Ns;
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, Ns, String>) -> Result<(), Infallible> {
        self.0.all(nodes)
    }

    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), Infallible> {
        for (&ns, space) in &self.0.namespaces {
            for id in space.leases.keys() {
                roots.strong(&lease(ns, id));
            }
        }
        Ok(())
    }

    fn references(&mut self, node: &Res, refs: &mut Refs<'_>) -> Result<(), Infallible> {
        self.0.references(node, refs)
    }
}
