//! Quickstart: one garbage collection over a small containerd-shaped store.
//!
//! The store holds what containerd's metadata database holds: images naming
//! a target blob, blobs naming other blobs and snapshots in
//! `containerd.io/gc.ref.*` labels, snapshot chains, a container, leases.
//! We implement `CollectionContext` over it, run one collection, explain
//! every decision, remove the garbage, and check a second collection is clean.
//!
//! Run it with `cargo run --example quickstart`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;

use resource_gc::{CollectionContext, Collector, Node, NodeSink, ReferenceSink, Strength};

/// The store, one resource a line with its fields and labels, as a metadata
/// dump would show it. Digests are readable stand-ins, and `gc.*` labels are
/// short for `containerd.io/gc.*`.
const STORE: &str = "
# app:v2 is a multi-arch index. Its s390x manifest was deleted, but the index
# still names it: a dead edge, which must not stop the collection.
image     docker.io/library/app:v2  target=sha256:app-v2-index
content   sha256:app-v2-index       gc.ref.content.m.0=sha256:app-v2-manifest gc.ref.content.m.1=sha256:app-v2-s390x
content   sha256:app-v2-manifest    gc.ref.content.config=sha256:app-v2-config gc.ref.content.l.0=sha256:layer-base gc.ref.content.l.1=sha256:layer-app-v2
content   sha256:layer-base
content   sha256:layer-app-v2
# The config names the top of the image's unpacked snapshot chain.
content   sha256:app-v2-config      gc.ref.snapshot.overlayfs=chain-app-v2
snapshot  overlayfs/chain-base
snapshot  overlayfs/chain-app-v2    parent=overlayfs/chain-base
# A container's read-write snapshot sits on top of the chain.
container web                       snapshot=overlayfs/web-rw
snapshot  overlayfs/web-rw          parent=overlayfs/chain-app-v2
# A pull in progress: its lease keeps a blob that no manifest names yet.
lease     pull-1234                 content=sha256:layer-fresh
content   sha256:layer-fresh
# A flat lease keeps the manifest it holds, but not the layer it names.
lease     export-5678               gc.flat=true content=sha256:tool-manifest
content   sha256:tool-manifest      gc.ref.content.l.0=sha256:tool-layer
content   sha256:tool-layer
# Pinned by an operator.
content   sha256:signing-key        gc.root=2024-05-01T00:00:00Z
# Left behind by deleting the image app:v1. Its manifest, config, own layer
# and own snapshot are garbage; the layer and snapshot it shares with app:v2
# are not.
content   sha256:app-v1-manifest    gc.ref.content.config=sha256:app-v1-config gc.ref.content.l.0=sha256:layer-base gc.ref.content.l.1=sha256:layer-app-v1
content   sha256:app-v1-config      gc.ref.snapshot.overlayfs=chain-app-v1
content   sha256:layer-app-v1
snapshot  overlayfs/chain-app-v1    parent=overlayfs/chain-base
";

/// Resource types, like containerd's `gc.ResourceType`. (`Ord`, because the
/// store keeps nodes in a `BTreeMap`, for a stable printing order.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Image,
    Container,
    Lease,
    Content,
    Snapshot,
}

const KINDS: [Kind; 5] = [
    Kind::Image,
    Kind::Container,
    Kind::Lease,
    Kind::Content,
    Kind::Snapshot,
];

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{self:?}").to_lowercase()) // `pad` honours `{:<9}`.
    }
}

type Res = Node<Kind, String, String>;
type Refs<'a> = ReferenceSink<'a, Kind, String, String>;

fn res(kind: Kind, key: &str) -> Res {
    Node::new(kind, "default".to_string(), key.to_string())
}

/// containerd's metadata for one namespace: every resource with its labels.
/// (Fields such as an image's target are kept as labels too, for brevity.)
struct Store(BTreeMap<Res, Vec<(String, String)>>);

impl Store {
    fn parse(text: &str) -> Store {
        let mut store = BTreeMap::new();
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
        for mut words in lines.map(str::split_whitespace) {
            let kind = words
                .next()
                .and_then(|word| KINDS.into_iter().find(|k| k.to_string() == word));
            let kind = kind.expect("every line starts with a known kind");
            let key = words.next().expect("every line has a key after its kind");
            let labels = words.map(|label| {
                let (k, v) = label.split_once('=').expect("labels are key=value");
                let k = k
                    .strip_prefix("gc.")
                    .map_or(k.into(), |k| format!("containerd.io/gc.{k}"));
                (k, v.to_string())
            });
            store.insert(res(kind, key), labels.collect());
        }
        Store(store)
    }

    /// The roots, with why each is one. Both the collector and the
    /// explanations read this, so they cannot disagree.
    fn roots(&self) -> impl Iterator<Item = (&Res, &'static str)> {
        self.0.iter().filter_map(|(node, labels)| match node.kind {
            Kind::Image => Some((node, "root: every image is")),
            Kind::Container => Some((node, "root: every container is")),
            // A real store would emit a lease with `ReferenceSink::expiring`,
            // so that it holds nothing past its `gc.expire` label.
            Kind::Lease => Some((node, "root: every unexpired lease is")),
            _ if labels.iter().any(|(k, _)| k == "containerd.io/gc.root") => {
                Some((node, "root: labelled containerd.io/gc.root"))
            }
            _ => None,
        })
    }

    /// What `node` references, through which label, and how strongly.
    fn references_of(&self, node: &Res) -> Vec<(&str, Res, Strength)> {
        let labels = self.0.get(node).map(Vec::as_slice).unwrap_or_default();
        // A flat lease keeps what it holds, but not what that references.
        let flat = labels.iter().any(|(k, _)| k == "containerd.io/gc.flat");
        let strength = if flat {
            Strength::Flat
        } else {
            Strength::Strong
        };
        let mut refs = Vec::new();
        for (k, v) in labels {
            let target = match k.as_str() {
                "target" | "content" => res(Kind::Content, v),
                "snapshot" | "parent" => res(Kind::Snapshot, v),
                k if k.starts_with("containerd.io/gc.ref.content") => res(Kind::Content, v),
                k => match k.strip_prefix("containerd.io/gc.ref.snapshot.") {
                    // `gc.ref.snapshot.<snapshotter>[/…]=<name>` names `<snapshotter>/<name>`.
                    Some(rest) => {
                        let snapshotter = rest.split('/').next().unwrap_or(rest);
                        res(Kind::Snapshot, &format!("{snapshotter}/{v}"))
                    }
                    None => continue, // Not a reference: gc.root, gc.flat, …
                },
            };
            refs.push((k.as_str(), target, strength));
        }
        refs
    }
}

impl CollectionContext for Store {
    type Kind = Kind;
    type Namespace = String;
    type Key = String;
    type Error = Infallible; // An in-memory map cannot fail to read.

    // Images, containers and leases are listed too: they are roots, so they
    // are never swept, and listing them keeps `dead_edges` meaning "dangling".
    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, String, String>) -> Result<(), Infallible> {
        nodes.reserve(self.0.len());
        self.0.keys().for_each(|node| nodes.push(node));
        Ok(())
    }

    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), Infallible> {
        Store::roots(self).for_each(|(node, _)| roots.strong(node));
        Ok(())
    }

    fn references(&mut self, node: &Res, refs: &mut Refs<'_>) -> Result<(), Infallible> {
        for (_, target, strength) in self.references_of(node) {
            refs.add(&target, strength);
        }
        Ok(())
    }
}

/// How the explainer first reached a node: it is a root, or from a referrer.
enum Via {
    Root(&'static str),
    From(Res),
}

/// The crate has no "why is this live?" API yet, so we redo the mark as a
/// BFS over the store's own data, remembering the first way to each node (a
/// shortest path). Returns that map, the nodes expanded (reached strongly),
/// and the dead edges met on the way.
fn explain(store: &Store) -> (HashMap<Res, Via>, HashSet<Res>, Vec<String>) {
    let (mut via, mut strong, mut dead) = (HashMap::new(), HashSet::new(), Vec::new());
    let mut queue = VecDeque::new();
    for (node, why) in store.roots() {
        via.insert(node.clone(), Via::Root(why));
        strong.insert(node.clone());
        queue.push_back(node.clone());
    }
    while let Some(node) = queue.pop_front() {
        for (label, target, strength) in store.references_of(&node) {
            if !store.0.contains_key(&target) {
                dead.push(format!("{} names {} in {label}", node.key, target.key));
            }
            // Only a strong way in expands a node, so it is the one to show,
            // even if a flat one came first.
            if strength == Strength::Strong && strong.insert(target.clone()) {
                via.insert(target.clone(), Via::From(node.clone()));
                queue.push_back(target);
            } else {
                via.entry(target).or_insert_with(|| Via::From(node.clone()));
            }
        }
    }
    (via, strong, dead)
}

/// "root → key → … → key": the path that keeps `node`.
fn path<'a>(via: &'a HashMap<Res, Via>, mut node: &'a Res) -> String {
    let mut hops = Vec::new();
    while let Via::From(referrer) = &via[node] {
        hops.push(node.key.clone());
        node = referrer;
    }
    hops.push(format!("{} {}", node.kind, node.key));
    hops.reverse();
    hops.join(" → ")
}

fn main() {
    let mut store = Store::parse(STORE);

    // One collector, reused below: its allocations carry over between
    // collections.
    let mut collector = Collector::new();
    let collection = collector
        .collect(&mut store)
        .expect("an in-memory store cannot fail");
    let s = collection.stats();
    println!("== first collection");
    println!(
        "{} listed, {} roots, {} marked (dead edges' targets included), {} expanded",
        s.nodes_listed, s.roots, s.nodes_marked, s.nodes_expanded
    );
    println!(
        "{} references followed, {} dead edge, {} swept",
        s.references_followed, s.dead_edges, s.nodes_swept
    );
    println!(
        "took {:?} listing, {:?} marking, {:?} sweeping",
        s.listing_time, s.mark_time, s.sweep_time
    );

    let (via, strong, dead) = explain(&store);
    println!("\nkept ({}), and why:", collection.live().len());
    for node in collection.live() {
        let why = match &via[node] {
            Via::Root(why) => why.to_string(),
            Via::From(_) if !strong.contains(node) => format!("kept flat by {}", path(&via, node)),
            Via::From(_) => format!("kept by {}", path(&via, node)),
        };
        println!("  {:<9} {:<24}  {why}", node.kind, node.key);
    }
    // The explainer must agree with the collector, or the explanations lie.
    let agree = |node: &Res| collection.is_live(node) == via.contains_key(node);
    assert!(
        store.0.keys().all(agree),
        "the explainer disagrees with the collector"
    );
    println!("\ndead edges ({}), ignored:", s.dead_edges);
    for edge in &dead {
        println!("  {edge}, which no longer exists");
    }
    assert_eq!(dead.len(), s.dead_edges);

    // Why garbage: who references it, and why that referrer does not count.
    let mut referrers: HashMap<Res, Vec<&Res>> = HashMap::new();
    for node in store.0.keys() {
        for (_, target, _) in store.references_of(node) {
            referrers.entry(target).or_default().push(node);
        }
    }
    println!("\nswept ({}), and why:", collection.garbage().len());
    for node in collection.garbage() {
        let why = match referrers.get(node) {
            None => "no referrer".to_string(),
            Some(by) => {
                let by = by.iter().map(|r| match &via.get(r) {
                    Some(Via::From(lease)) if !strong.contains(r) => {
                        format!(
                            "{}, held flat by {} {}: not followed",
                            r.key, lease.kind, lease.key
                        )
                    }
                    _ => format!("{}, itself garbage", r.key),
                });
                format!("referenced only by {}", by.collect::<Vec<_>>().join("; "))
            }
        };
        println!("  {:<9} {:<24}  {why}", node.kind, node.key);
    }

    // Removal is the store's job. `Collection` borrows the collector, not
    // the store, so the store can remove while we walk the garbage.
    let swept: BTreeSet<String> = collection.garbage().map(|node| node.to_string()).collect();
    collection
        .garbage()
        .for_each(|node| drop(store.0.remove(node)));

    let again = collector
        .collect(&mut store)
        .expect("an in-memory store cannot fail");
    let s = again.stats();
    println!("\n== second collection, after removing the garbage");
    println!(
        "{} listed, {} marked, {} swept",
        s.nodes_listed, s.nodes_marked, s.nodes_swept
    );

    // CI runs this example: fail loudly if the crate's answer ever changes.
    assert_eq!(s.nodes_swept, 0, "a second collection must find no garbage");
    let expected = BTreeSet::from([
        "content/default/sha256:app-v1-config",
        "content/default/sha256:app-v1-manifest",
        "content/default/sha256:layer-app-v1",
        "content/default/sha256:tool-layer",
        "snapshot/default/overlayfs/chain-app-v1",
    ]);
    assert!(
        swept.iter().map(String::as_str).eq(expected),
        "first collection swept {swept:?}"
    );
    println!("\nok: exactly app:v1's leftovers and the flat lease's layer were swept");
}
