//! A picture of one collection over a small containerd-like store: images,
//! manifests and layers, snapshots, leases. It prints Graphviz DOT on
//! stdout, and why each garbage node was swept on stderr.
//!
//! ```text
//! cargo run --example collection_dot | dot -Tsvg > collection.svg
//! ```
//!
//! The store holds:
//!
//! - an image (not a candidate: images are roots) whose manifest lists a
//!   config and two layers; the config names the image's unpacked top
//!   snapshot, whose parent is the bottom one;
//! - a flat lease over a build's snapshot chain: the lease keeps the
//!   chain (parents are structural), not the cache blob the build
//!   snapshot references;
//! - the previous manifest, which the current one references weakly;
//! - an expired lease over a half-downloaded layer;
//! - a layer nothing references.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use resource_gc::{
    CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf, Strength,
};

type Res = Node<&'static str, &'static str, &'static str>;

fn res(kind: &'static str, key: &'static str) -> Res {
    Node::new(kind, "default", key)
}

fn content(digest: &'static str) -> Res {
    res("content", digest)
}

fn snapshot(key: &'static str) -> Res {
    res("snapshot", key)
}

/// The store: what exists, and who references whom with what strength.
struct Store {
    /// Candidates: every blob, snapshot and lease.
    candidates: Vec<Res>,
    references: HashMap<Res, Vec<(Res, Strength)>>,
    /// Leases with their deadline.
    leases: Vec<(Res, SystemTime)>,
    images: Vec<Res>,
}

impl CollectionContext for Store {
    type Kind = &'static str;
    type Namespace = &'static str;
    type Key = &'static str;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
        self.candidates.iter().for_each(|node| nodes.push(node));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
        self.images.iter().for_each(|image| roots.strong(image));
        for (lease, deadline) in &self.leases {
            roots.expiring(lease, Strength::Strong, *deadline);
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        for (target, strength) in self.references.get(node).into_iter().flatten() {
            refs.add(target, *strength);
        }
        Ok(())
    }
}

fn main() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let hour = Duration::from_secs(3600);
    let image = res("image", "docker.io/library/app:1.0");
    let (build, pull) = (res("lease", "build-42"), res("lease", "pull-7"));
    let references = HashMap::from([
        // An image's target is part of it.
        (
            image.clone(),
            vec![(content("sha256:m1"), Strength::Structural)],
        ),
        (
            content("sha256:m1"),
            vec![
                (content("sha256:c1"), Strength::Strong),
                (content("sha256:l1"), Strength::Strong),
                (content("sha256:l2"), Strength::Strong),
                (content("sha256:m0"), Strength::Weak),
            ],
        ),
        (
            content("sha256:m0"),
            vec![(content("sha256:l1"), Strength::Strong)],
        ),
        (
            content("sha256:c1"),
            vec![(snapshot("overlayfs/s2"), Strength::Strong)],
        ),
        (
            snapshot("overlayfs/s2"),
            vec![(snapshot("overlayfs/s1"), Strength::Structural)],
        ),
        (
            build.clone(),
            vec![(snapshot("overlayfs/build-rw"), Strength::Flat)],
        ),
        (
            snapshot("overlayfs/build-rw"),
            vec![
                (snapshot("overlayfs/s2"), Strength::Structural),
                (content("sha256:cache"), Strength::Strong),
            ],
        ),
        (pull.clone(), vec![(content("sha256:l3"), Strength::Strong)]),
    ]);
    let mut store = Store {
        candidates: vec![
            content("sha256:m1"),
            content("sha256:c1"),
            content("sha256:l1"),
            content("sha256:l2"),
            content("sha256:m0"),
            content("sha256:l3"),
            content("sha256:l9"),
            content("sha256:cache"),
            snapshot("overlayfs/s1"),
            snapshot("overlayfs/s2"),
            snapshot("overlayfs/build-rw"),
            build.clone(),
            pull.clone(),
        ],
        references,
        leases: vec![(build, now + hour), (pull, now - hour)],
        images: vec![image],
    };

    let mut options = Options::default();
    options.now = Some(now);
    // Roots are marked, and the garbage says why, only when explaining.
    options.explain = true;
    let mut collector = Collector::new();
    let collection = collector
        .collect_with(&mut store, &options)
        .expect("the store never fails");
    for node in collection.garbage() {
        let why = collection.why_swept(node).expect("explained garbage");
        eprintln!("swept {node}: {why:?}");
    }
    let dot = collection
        .to_dot(&mut store)
        .expect("the store never fails");
    print!("{dot}");
}
