//! rkt's `image gc`, expressed by an embedder: an image store (manifests
//! naming their layers, each image with the time it was imported and last
//! used), tree stores rendered from images, and pods in their life-cycle
//! states.
//!
//! How each rkt rule maps onto the crate:
//!
//! - an image's last use (or its import, if later) is listed with
//!   [`NodeSink::push_used`]; [`Options::grace_period`] is rkt's
//!   `--grace-period` (24 h by default). Within it an image is a strong
//!   root, *with its layers*. rkt keeps an image while `now - lastUsed <=
//!   grace`, and so does the crate: used exactly `grace` ago is kept, a
//!   last use after now is kept (a negative age), and `0s` keeps only
//!   images used at or after now;
//! - a running pod holds its image strongly, whatever its age;
//! - a pod that is preparing, prepared, running or exited but not yet
//!   collected holds its tree store;
//! - rkt's exclusive lock: whatever is created after the listing is not a
//!   candidate, so nothing created during the collection is swept.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resource_gc::{
    CollectionContext, Collector, Node, NodeSink, Options, ReferenceSink, RootCounts, Stats,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// An image manifest, by image id.
    Image,
    /// A layer blob, by digest.
    Layer,
    /// An unpacked tree store, by id.
    TreeStore,
}

type Res = Node<Kind, (), String>;

fn image(id: &str) -> Res {
    Node::new(Kind::Image, (), id.to_string())
}
fn layer(digest: &str) -> Res {
    Node::new(Kind::Layer, (), digest.to_string())
}
fn tree(id: &str) -> Res {
    Node::new(Kind::TreeStore, (), id.to_string())
}

const NS: Duration = Duration::from_nanos(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// rkt's default `--grace-period`.
const GRACE: Duration = DAY;

/// "Now" in these tests.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}
fn ago(d: Duration) -> SystemTime {
    now() - d
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // Every state is part of the model; not all are used.
enum PodState {
    Preparing,
    Prepared,
    Running,
    /// Exited, not yet garbage collected: keeps its tree store.
    Exited,
    /// Exited and collected by `rkt gc`: keeps nothing.
    Collected,
}

struct Pod {
    state: PodState,
    image: String,
    tree_store: String,
}

struct Image {
    layers: Vec<String>,
    imported: SystemTime,
    last_used: Option<SystemTime>,
}

impl Image {
    /// rkt's notion of "used": the later of import and last use.
    fn last_touched(&self) -> SystemTime {
        self.last_used
            .map_or(self.imported, |u| u.max(self.imported))
    }
}

#[derive(Default)]
struct Store {
    images: BTreeMap<String, Image>,
    /// Layer digest → when it was written.
    layers: BTreeMap<String, SystemTime>,
    tree_stores: BTreeSet<String>,
    pods: BTreeMap<String, Pod>,
    /// An image a concurrent `rkt fetch` writes while the collection runs,
    /// after the listing (rkt holds a lock so that it cannot be swept).
    import_during_collection: Option<(String, Image)>,
}

impl Store {
    fn image(&mut self, id: &str, layers: &[&str], imported: SystemTime) -> &mut Self {
        for l in layers {
            self.layers.entry(l.to_string()).or_insert(imported);
        }
        let img = Image {
            layers: layers.iter().map(|l| l.to_string()).collect(),
            imported,
            last_used: None,
        };
        self.images.insert(id.into(), img);
        self
    }
    fn used(&mut self, id: &str, at: SystemTime) -> &mut Self {
        self.images.get_mut(id).unwrap().last_used = Some(at);
        self
    }
    fn layer(&mut self, digest: &str, written: SystemTime) -> &mut Self {
        self.layers.insert(digest.into(), written);
        self
    }
    fn pod(&mut self, id: &str, state: PodState, image: &str) -> &mut Self {
        let tree_store = format!("{image}-tree");
        self.tree_stores.insert(tree_store.clone());
        let pod = Pod {
            state,
            image: image.into(),
            tree_store,
        };
        self.pods.insert(id.into(), pod);
        self
    }

    fn remove(&mut self, node: &Res) {
        let removed = match node.kind {
            Kind::Image => self.images.remove(&node.key).is_some(),
            Kind::Layer => self.layers.remove(&node.key).is_some(),
            Kind::TreeStore => self.tree_stores.remove(&node.key),
        };
        assert!(removed, "{node:?} was listed, so it exists");
    }
}

impl CollectionContext for Store {
    type Kind = Kind;
    type Namespace = ();
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, (), String>) -> Result<(), Infallible> {
        for (id, img) in &self.images {
            nodes.push_used(&image(id), img.last_touched());
        }
        // Layers are listed plainly: an old layer is kept by a young
        // manifest that names it, not by its own age.
        self.layers.keys().for_each(|d| nodes.push(&layer(d)));
        self.tree_stores.iter().for_each(|t| nodes.push(&tree(t)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, Kind, (), String>) -> Result<(), Infallible> {
        // A fetch completes while the collection runs.
        if let Some((id, img)) = self.import_during_collection.take() {
            self.images.insert(id, img);
        }
        for pod in self.pods.values() {
            use PodState::*;
            if pod.state == Running {
                roots.strong(&image(&pod.image));
            }
            if matches!(pod.state, Preparing | Prepared | Running | Exited) {
                roots.strong(&tree(&pod.tree_store));
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSink<'_, Kind, (), String>,
    ) -> Result<(), Infallible> {
        if node.kind == Kind::Image {
            for l in self
                .images
                .get(&node.key)
                .map(|i| &i.layers)
                .into_iter()
                .flatten()
            {
                refs.strong(&layer(l));
            }
        }
        Ok(())
    }
}

/// One `rkt image gc` at `at` with `grace`: returns what it removed.
fn gc(store: &mut Store, at: SystemTime, grace: Duration) -> (BTreeSet<Res>, Stats) {
    let mut options = Options::default();
    options.now = Some(at);
    options.grace_period = grace;
    let mut collector = Collector::new();
    let collection = collector
        .collect_with(store, &options)
        .expect("the store never fails");
    let garbage: BTreeSet<Res> = collection.garbage().cloned().collect();
    assert_eq!(garbage.len(), collection.stats().nodes_swept);
    let stats = collection.stats().clone();
    for node in &garbage {
        store.remove(node);
    }
    (garbage, stats)
}

fn set<const N: usize>(nodes: [Res; N]) -> BTreeSet<Res> {
    nodes.into_iter().collect()
}

/// Two images sharing a layer: `recent` used an hour ago, `stale` two days
/// ago.
fn two_images() -> Store {
    let mut store = Store::default();
    store
        .image("recent", &["r1", "shared"], ago(30 * DAY))
        .used("recent", ago(HOUR))
        .image("stale", &["s1", "shared"], ago(30 * DAY))
        .used("stale", ago(2 * DAY));
    store
}

#[test]
fn images_used_within_the_grace_period_are_kept_with_their_layers() {
    let mut store = two_images();
    let (garbage, stats) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([image("stale"), layer("s1")]));
    let mut kinds = RootCounts::default();
    kinds.grace = 1;
    assert_eq!(stats.roots_by_kind, kinds);
    assert_eq!(
        store.layers.keys().collect::<Vec<_>>(),
        ["r1", "shared"],
        "the shared layer stays with the recent image"
    );
}

#[test]
fn an_image_unused_for_exactly_the_grace_period_stays() {
    // rkt: `if time.Now().Sub(ai.LastUsed) <= gracePeriod { break }`.
    let mut store = Store::default();
    store
        .image("edge", &["e1"], ago(30 * DAY))
        .used("edge", ago(GRACE))
        .image("inside", &["i1"], ago(30 * DAY))
        .used("inside", ago(GRACE - NS))
        .image("past", &["p1"], ago(30 * DAY))
        .used("past", ago(GRACE + NS));
    let (garbage, stats) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([image("past"), layer("p1")]));
    assert_eq!(stats.roots_by_kind.grace, 2);
}

#[test]
fn an_image_last_used_after_now_is_kept() {
    // A clock that ran ahead: rkt's age is negative, so `<= grace`.
    for grace in [GRACE, Duration::ZERO] {
        let mut store = two_images();
        store
            .image("ahead", &["a1", "s1"], ago(30 * DAY))
            .used("ahead", now() + HOUR);
        let (garbage, _) = gc(&mut store, now(), grace);
        let mut expected = set([image("stale")]);
        if grace.is_zero() {
            expected.extend([image("recent"), layer("r1"), layer("shared")]);
        }
        assert_eq!(garbage, expected, "grace {grace:?}: s1 stays with ahead");
        assert!(store.images.contains_key("ahead"));
    }
}

#[test]
fn a_running_pod_keeps_its_image_whatever_its_age() {
    for grace in [GRACE, Duration::ZERO] {
        let mut store = Store::default();
        store
            .image("ancient", &["a1"], ago(1000 * DAY))
            .image("exited", &["x1"], ago(1000 * DAY))
            .image("collected", &["c1"], ago(1000 * DAY))
            .image("prepared", &["p1"], ago(1000 * DAY))
            .pod("web", PodState::Running, "ancient")
            .pod("job", PodState::Exited, "exited")
            .pod("old-job", PodState::Collected, "collected")
            .pod("next", PodState::Prepared, "prepared");
        let (garbage, _) = gc(&mut store, now(), grace);
        // Only a running pod holds its image; every pod not yet collected
        // holds its tree store.
        assert_eq!(
            garbage,
            set([
                image("exited"),
                layer("x1"),
                image("collected"),
                layer("c1"),
                tree("collected-tree"),
                image("prepared"),
                layer("p1"),
            ]),
            "grace {grace:?}"
        );
        assert!(store.images.contains_key("ancient"));
        assert!(store.layers.contains_key("a1"));
    }
}

#[test]
fn a_grace_period_of_zero_removes_what_was_used_before_now() {
    // rkt's `--grace-period=0s`: `now - lastUsed <= 0` keeps only images
    // used at now or later; a nanosecond before now is removed.
    let mut store = two_images();
    store
        .used("recent", ago(NS))
        .image("now", &["n1"], ago(30 * DAY))
        .used("now", now())
        .image("ahead", &["f1", "shared"], ago(30 * DAY))
        .used("ahead", now() + NS);
    let (garbage, stats) = gc(&mut store, now(), Duration::ZERO);
    assert_eq!(
        garbage,
        set([image("recent"), layer("r1"), image("stale"), layer("s1")])
    );
    assert_eq!(stats.roots_by_kind.grace, 2);
    assert!(store.layers.contains_key("shared"), "kept with ahead");
}

#[test]
fn a_fresh_manifest_keeps_its_old_layers_until_the_grace_period_passes() {
    let mut store = Store::default();
    // Layers written a month ago, and an unrelated orphan as old.
    store
        .layer("old-1", ago(30 * DAY))
        .layer("old-2", ago(30 * DAY))
        .layer("orphan", ago(30 * DAY));
    // A manifest naming them is written ten minutes ago: nothing else
    // references the layers, and nothing references the manifest yet.
    store.images.insert(
        "fresh".into(),
        Image {
            layers: vec!["old-1".into(), "old-2".into()],
            imported: ago(10 * MINUTE),
            last_used: None,
        },
    );

    let (garbage, _) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([layer("orphan")]));

    // A day later, nobody has used it: all of it goes.
    let (garbage, _) = gc(&mut store, now() + GRACE, GRACE);
    assert_eq!(
        garbage,
        set([image("fresh"), layer("old-1"), layer("old-2")])
    );
    assert!(store.images.is_empty() && store.layers.is_empty());
}

#[test]
fn nothing_written_during_the_collection_is_swept() {
    let mut store = two_images();
    // Imported long ago (an old image pulled from a mirror keeps its
    // dates) and written after the listing.
    store.import_during_collection = Some((
        "late".into(),
        Image {
            layers: vec![],
            imported: ago(100 * DAY),
            last_used: None,
        },
    ));
    let (garbage, _) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([image("stale"), layer("s1")]));
    assert!(store.images.contains_key("late"));

    // The next collection sees it, and it is old.
    let (garbage, _) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([image("late")]));
}

// ---------------------------------------------------------------------------
// rkt's own loop, transcribed from `rkt/image_gc.go` (`gcStore`), as an
// oracle. rkt has no unit test of the comparison; this compares the crate
// with the loop itself, at the boundary and a nanosecond to either side.

/// The images rkt's `gcStore` removes: images by `lastused` ascending,
/// stopping (`break`) at the first within the grace period or in use by a
/// running pod.
fn rkt_removes(
    images: &[(&str, SystemTime)],
    running: &[&str],
    now: SystemTime,
    grace: Duration,
) -> BTreeSet<String> {
    let mut by_last_use = images.to_vec();
    by_last_use.sort_by_key(|&(_, last_used)| last_used);
    let mut removed = BTreeSet::new();
    for (id, last_used) in by_last_use {
        // `time.Now().Sub(ai.LastUsed) <= gracePeriod`: a negative age
        // (a last use after now) is within.
        let within = match now.duration_since(last_used) {
            Ok(age) => age <= grace,
            Err(_) => true,
        };
        if within || running.contains(&id) {
            break;
        }
        removed.insert(id.to_string());
    }
    removed
}

#[test]
fn the_crate_removes_the_images_rkt_removes_at_the_boundary() {
    for grace in [Duration::ZERO, NS, HOUR, GRACE] {
        // At the boundary, a nanosecond to either side, and far from it.
        let stamps = [
            ("older", ago(grace + NS)),
            ("boundary", ago(grace)),
            ("younger", now() - grace + NS),
            ("now", now()),
            ("ahead", now() + NS),
            ("ancient", ago(grace + 1000 * DAY)),
        ];
        let mut store = Store::default();
        for (id, last_used) in stamps {
            store
                .image(id, &[&format!("{id}-layer")], last_used)
                .used(id, last_used);
        }
        let (garbage, _) = gc(&mut store, now(), grace);
        let crate_removes: BTreeSet<String> = garbage
            .iter()
            .filter(|n| n.kind == Kind::Image)
            .map(|n| n.key.clone())
            .collect();
        let expected = rkt_removes(&stamps, &[], now(), grace);
        assert_eq!(crate_removes, expected, "grace {grace:?}");
        assert_eq!(
            expected,
            ["ancient", "older"].map(String::from).into(),
            "grace {grace:?}"
        );
    }
}

#[test]
fn a_running_image_does_not_shield_images_used_after_it_unlike_rkt() {
    // rkt's loop `break`s at a running pod's image, so every image with a
    // later last use is kept, however old. The crate keeps the running
    // image (and its layers) and judges every other image by its own age.
    let mut store = Store::default();
    store
        .image("web", &["w1"], ago(30 * DAY))
        .used("web", ago(10 * DAY))
        .image("old", &["o1"], ago(30 * DAY))
        .used("old", ago(5 * DAY))
        .pod("web-1", PodState::Running, "web");
    let stamps = [("web", ago(10 * DAY)), ("old", ago(5 * DAY))];
    assert_eq!(
        rkt_removes(&stamps, &["web"], now(), GRACE),
        BTreeSet::new()
    );
    let (garbage, _) = gc(&mut store, now(), GRACE);
    assert_eq!(garbage, set([image("old"), layer("o1")]));
}
