//! Vespa's `ContainerImagePruner`, expressed by an embedder: a Docker-like
//! image store (an image has one id, zero or more tags and at most one
//! parent; containers use images) and a pruner that remembers, across
//! calls, when it last saw each image in use.
//!
//! How each Vespa rule maps onto the crate:
//!
//! - the pruner's memory is the embedder's own `HashMap`: in `all` an image
//!   used by a container is stamped with [`NodeSink::now`], an image seen
//!   for the first time too, and each image is listed with
//!   [`NodeSink::push_used`]; `minAge` is [`Options::grace_period`];
//! - `excludedRefs` are [`Options::pins`], resolved by
//!   [`CollectionContext::resolve_pin`], by tag or by id;
//! - a tag lives as long as its image ([`NodeSink::lives_with`]) and is
//!   listed before it, so an image with several tags is removed tag by tag;
//! - a child image references its parent, and images are listed children
//!   first, so the garbage comes in an order Docker accepts: no retries,
//!   no shuffling.
//!
//! Where the crate and Vespa part: at exactly `minAge`. Vespa keeps an
//! image only while `now - lastUsed < minAge`, so one unused for exactly
//! `minAge` is deleted; the crate keeps at every boundary (`now - lastUsed
//! <= grace` is kept), so it is kept, and goes a nanosecond later. One
//! nanosecond to either side of the boundary, both answer the same.
//! Vespa's own tests never land on the boundary: they step the clock by
//! whole minutes with `minAge = 1h - 1s`, and the transcriptions below do
//! the same.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resource_gc::{
    CollectionContext, Collector, Error, Node, NodeSink, Options, ReferenceSink, Stats,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Image,
    Tag,
}

type Res = Node<Kind, (), String>;
type Refs<'a> = ReferenceSink<'a, Kind, (), String>;

fn image(id: &str) -> Res {
    Node::new(Kind::Image, (), id.to_string())
}
fn tag(name: &str) -> Res {
    Node::new(Kind::Tag, (), name.to_string())
}

const NS: Duration = Duration::from_nanos(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const MIN_AGE: Duration = HOUR;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

// ---------------------------------------------------------------------------
// The image store, with Docker's rules for deletion.

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("the Docker daemon did not answer")]
struct DaemonError;

#[derive(Default)]
struct DockerImage {
    tags: BTreeSet<String>,
    parent: Option<String>,
}

#[derive(Default)]
struct Docker {
    images: BTreeMap<String, DockerImage>,
    /// Container name → image id.
    containers: BTreeMap<String, String>,
    /// A pin whose lookup fails.
    failing_lookup: Option<String>,
}

impl Docker {
    fn image(&mut self, id: &str, parent: Option<&str>, tags: &[&str]) -> &mut Self {
        let img = DockerImage {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            parent: parent.map(Into::into),
        };
        self.images.insert(id.into(), img);
        self
    }
    fn container(&mut self, name: &str, image: &str) -> &mut Self {
        self.containers.insert(name.into(), image.into());
        self
    }

    fn image_of_tag(&self, name: &str) -> Option<&String> {
        self.images
            .iter()
            .find(|(_, img)| img.tags.contains(name))
            .map(|(id, _)| id)
    }

    /// Image ids, every child before its parent.
    fn children_first(&self) -> Vec<&String> {
        let parent = |id: &str| self.images.get(id).and_then(|i| i.parent.as_deref());
        let depth = |id: &str| {
            let mut depth = 0;
            let mut next = parent(id);
            while let Some(id) = next {
                depth += 1;
                next = parent(id);
            }
            depth
        };
        let mut ids: Vec<&String> = self.images.keys().collect();
        ids.sort_by_key(|id| std::cmp::Reverse(depth(id)));
        ids
    }

    /// Removes one tag or image, refusing what Docker refuses.
    fn remove(&mut self, node: &Res) -> Result<(), String> {
        match node.kind {
            Kind::Tag => {
                let id = self
                    .image_of_tag(&node.key)
                    .ok_or(format!("no tag {}", node.key))?
                    .clone();
                self.images.get_mut(&id).unwrap().tags.remove(&node.key);
            }
            Kind::Image => {
                let id = &node.key;
                let img = self.images.get(id).ok_or(format!("no image {id}"))?;
                if !img.tags.is_empty() {
                    return Err(format!("{id} is still tagged {:?}", img.tags));
                }
                if self.images.values().any(|i| i.parent.as_ref() == Some(id)) {
                    return Err(format!("{id} has children"));
                }
                if self.containers.values().any(|used| used == id) {
                    return Err(format!("{id} is used by a container"));
                }
                self.images.remove(id);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The pruner: the embedder's code on top of the crate.

struct Pruner {
    /// When each image was last seen in use; an image first seen counts as
    /// used then. Kept across calls; an image is forgotten when it is
    /// removed, so that one pulled again counts as first seen.
    last_used: HashMap<String, SystemTime>,
    /// Reused across calls, as a long-running pruner would.
    collector: Collector<Kind, (), String>,
    /// Vespa's `minImageAgeToDelete`: [`Options::grace_period`].
    min_age: Duration,
}

impl Default for Pruner {
    fn default() -> Self {
        Pruner {
            last_used: HashMap::new(),
            collector: Collector::default(),
            min_age: MIN_AGE,
        }
    }
}

/// What one `prune` call sees: the daemon, and the pruner's memory.
struct View<'a> {
    docker: &'a Docker,
    last_used: &'a mut HashMap<String, SystemTime>,
}

impl CollectionContext for View<'_> {
    type Kind = Kind;
    type Namespace = ();
    type Key = String;
    type Error = DaemonError;

    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, (), String>) -> Result<(), DaemonError> {
        let now = nodes.now();
        let docker = self.docker;
        self.last_used
            .retain(|id, _| docker.images.contains_key(id));
        let in_use: HashSet<&String> = docker.containers.values().collect();
        for id in docker.images.keys() {
            if in_use.contains(id) {
                self.last_used.insert(id.clone(), now);
            } else {
                self.last_used.entry(id.clone()).or_insert(now);
            }
        }
        // Tags first, then images, children before parents: the garbage
        // comes out in this order, which Docker accepts.
        for (id, img) in &docker.images {
            for name in &img.tags {
                nodes.push(&tag(name));
                nodes.lives_with(&tag(name), &image(id));
            }
        }
        for id in docker.children_first() {
            nodes.push_used(&image(id), self.last_used[id]);
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), DaemonError> {
        for id in self.docker.containers.values() {
            roots.strong(&image(id));
        }
        Ok(())
    }

    fn references(&mut self, node: &Res, refs: &mut Refs<'_>) -> Result<(), DaemonError> {
        if node.kind == Kind::Image {
            if let Some(parent) = self
                .docker
                .images
                .get(&node.key)
                .and_then(|i| i.parent.as_ref())
            {
                refs.strong(&image(parent));
            }
        }
        Ok(())
    }

    /// `excludedRefs`: a tag resolves to its image's id; an id is itself.
    fn resolve_pin(&mut self, name: &str, pins: &mut Refs<'_>) -> Result<(), DaemonError> {
        if self.docker.failing_lookup.as_deref() == Some(name) {
            return Err(DaemonError);
        }
        if let Some(id) = self.docker.image_of_tag(name) {
            pins.strong(&image(id));
        } else if self.docker.images.contains_key(name) {
            pins.strong(&image(name));
        }
        Ok(())
    }
}

struct Pruned {
    /// In the order removed.
    removed: Vec<Res>,
    stats: Stats,
}

impl Pruner {
    /// One pruning pass. Every removal must succeed at the first try.
    fn prune(
        &mut self,
        docker: &mut Docker,
        now: SystemTime,
        excluded: &[&str],
    ) -> Result<Pruned, Error<DaemonError, Res>> {
        let mut options = Options::default();
        options.now = Some(now);
        options.grace_period = self.min_age;
        options.pins = excluded.iter().map(|s| s.to_string()).collect();
        let mut view = View {
            docker,
            last_used: &mut self.last_used,
        };
        let collection = self.collector.collect_with(&mut view, &options)?;
        let removed: Vec<Res> = collection.garbage().cloned().collect();
        let stats = collection.stats().clone();
        for node in &removed {
            docker
                .remove(node)
                .unwrap_or_else(|why| panic!("removing {node:?} needed a retry: {why}"));
            // Vespa's `lastTimeUsedByImageId.remove(image.id())`: an image
            // pulled again before the next call is first seen anew.
            if node.kind == Kind::Image {
                self.last_used.remove(&node.key);
            }
        }
        Ok(Pruned { removed, stats })
    }
}

fn ids(docker: &Docker) -> Vec<&str> {
    docker.images.keys().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------
// Scenarios.

#[test]
fn last_use_is_remembered_across_calls_and_first_sight_counts_as_use() {
    let mut docker = Docker::default();
    docker
        .image("sha256:a", None, &[])
        .image("sha256:b", None, &[])
        .container("node-1", "sha256:a");
    let mut pruner = Pruner::default();

    // First seen now: neither goes, whatever its real age.
    let pruned = pruner.prune(&mut docker, t0(), &[]).unwrap();
    assert_eq!(pruned.removed, []);
    assert_eq!(pruner.last_used["sha256:b"], t0());

    // a still in use at 30 min; its container goes right after.
    let pruned = pruner.prune(&mut docker, t0() + 30 * MINUTE, &[]).unwrap();
    assert_eq!(pruned.removed, []);
    docker.containers.clear();
    assert_eq!(pruner.last_used["sha256:a"], t0() + 30 * MINUTE);

    // b unused for a nanosecond less than minAge: kept, as in Vespa.
    let pruned = pruner.prune(&mut docker, t0() + HOUR - NS, &[]).unwrap();
    assert_eq!(pruned.removed, []);

    // An image pulled now is first seen at the next call.
    docker.image("sha256:c", None, &[]);
    // b unused for exactly minAge. Vespa deletes it here (it keeps only
    // `now - lastUsed < minAge`); the crate keeps at the boundary, so b
    // stays.
    let pruned = pruner.prune(&mut docker, t0() + HOUR, &[]).unwrap();
    assert_eq!(pruned.removed, []);
    assert_eq!(pruned.stats.roots_by_kind.grace, 3);

    // A nanosecond past minAge, b goes, as in Vespa; a (used 30 min ago)
    // and c (first seen at 1 h) stay.
    let pruned = pruner.prune(&mut docker, t0() + HOUR + NS, &[]).unwrap();
    assert_eq!(pruned.removed, [image("sha256:b")]);
    assert_eq!(pruned.stats.roots_by_kind.grace, 2);
    assert!(!pruner.last_used.contains_key("sha256:b"), "forgotten");

    // a, exactly minAge after its last use: kept (Vespa deletes); then gone.
    let pruned = pruner.prune(&mut docker, t0() + 90 * MINUTE, &[]).unwrap();
    assert_eq!(pruned.removed, []);
    let pruned = pruner
        .prune(&mut docker, t0() + 90 * MINUTE + NS, &[])
        .unwrap();
    assert_eq!(pruned.removed, [image("sha256:a")]);
    assert_eq!(ids(&docker), ["sha256:c"]);

    let pruned = pruner
        .prune(&mut docker, t0() + 2 * HOUR + NS, &[])
        .unwrap();
    assert_eq!(pruned.removed, [image("sha256:c")]);
    assert!(pruner.last_used.is_empty(), "c is forgotten once removed");
}

#[test]
fn unused_for_exactly_min_age_is_kept_unlike_vespa() {
    // Vespa: kept iff `Duration.between(lastUsed, now).minus(minAge)
    // .isNegative()`, that is `now - lastUsed < minAge`. The crate keeps
    // at the boundary (`<=`): at exactly minAge, Vespa deletes and the
    // crate keeps. A nanosecond to either side, they agree; a last use
    // after now (a clock that ran ahead) is kept by both.
    let unused_for = |since: Option<Duration>, ahead: Duration| {
        let mut docker = Docker::default();
        docker.image("sha256:i", None, &["i:1"]);
        let mut pruner = Pruner::default();
        let last_used = match since {
            Some(age) => t0() - age,
            None => t0() + ahead,
        };
        pruner.last_used.insert("sha256:i".into(), last_used);
        pruner.prune(&mut docker, t0(), &[]).unwrap().removed
    };
    let gone = [tag("i:1"), image("sha256:i")];
    assert_eq!(unused_for(Some(MIN_AGE - NS), NS), [], "both keep");
    assert_eq!(unused_for(Some(MIN_AGE), NS), [], "Vespa deletes");
    assert_eq!(unused_for(Some(MIN_AGE + NS), NS), gone, "both delete");
    assert_eq!(unused_for(None, NS), [], "the future: both keep");
    assert_eq!(unused_for(None, DAY), [], "far in the future: both keep");
}

/// Old images, already known to the pruner as unused for a day.
fn old_images(docker: &Docker) -> Pruner {
    let day_ago = t0() - 24 * HOUR;
    Pruner {
        last_used: docker
            .images
            .keys()
            .map(|id| (id.clone(), day_ago))
            .collect(),
        ..Pruner::default()
    }
}

fn three_images() -> Docker {
    let mut docker = Docker::default();
    docker
        .image("sha256:x", None, &["app:1"])
        .image("sha256:y", None, &["app:2"])
        .image("sha256:z", None, &[]);
    docker
}

#[test]
fn excluded_refs_by_tag_and_by_id() {
    let mut docker = three_images();
    let mut pruner = old_images(&docker);
    let pruned = pruner
        .prune(&mut docker, t0(), &["app:1", "sha256:z"])
        .unwrap();
    assert_eq!(pruned.removed, [tag("app:2"), image("sha256:y")]);
    assert_eq!(pruned.stats.roots_by_kind.pins, 2);
    assert!(pruned.stats.unknown_pins.is_empty());
    assert_eq!(ids(&docker), ["sha256:x", "sha256:z"]);
    assert!(docker.images["sha256:x"].tags.contains("app:1"));
}

#[test]
fn without_exclusions_every_old_image_goes() {
    let mut docker = three_images();
    let mut pruner = old_images(&docker);
    let pruned = pruner.prune(&mut docker, t0(), &[]).unwrap();
    assert_eq!(
        pruned.removed,
        [
            tag("app:1"),
            tag("app:2"),
            image("sha256:x"),
            image("sha256:y"),
            image("sha256:z"),
        ]
    );
    assert!(docker.images.is_empty());
}

#[test]
fn an_image_with_several_tags() {
    let mut docker = Docker::default();
    docker.image("sha256:m", None, &["m:latest", "m:1.0", "m:stable"]);

    // Pinning one tag keeps the image and so every tag of it.
    let mut pruner = old_images(&docker);
    let pruned = pruner.prune(&mut docker, t0(), &["m:1.0"]).unwrap();
    assert_eq!(pruned.removed, []);
    assert_eq!(pruned.stats.roots_by_kind.back_references, 3);

    // Unpinned, it is removed tag by tag, then the image.
    let pruned = pruner.prune(&mut docker, t0(), &[]).unwrap();
    assert_eq!(
        pruned.removed,
        [
            tag("m:1.0"),
            tag("m:latest"),
            tag("m:stable"),
            image("sha256:m")
        ]
    );
}

#[test]
fn children_keep_parents_and_go_first() {
    let mut docker = Docker::default();
    docker
        .image("sha256:1-base", None, &["base:1"])
        .image("sha256:2-mid", Some("sha256:1-base"), &[])
        .image("sha256:3-leaf", Some("sha256:2-mid"), &["app:1"])
        .image("sha256:4-other", Some("sha256:1-base"), &["other:1"])
        .container("node-1", "sha256:3-leaf");
    let mut pruner = old_images(&docker);

    // The container's image keeps its parents; the other child goes.
    let pruned = pruner.prune(&mut docker, t0(), &[]).unwrap();
    assert_eq!(pruned.removed, [tag("other:1"), image("sha256:4-other")]);

    // Once unused for longer than minAge, the whole chain goes, leaf
    // first. (At exactly minAge it would still be kept: the boundary.)
    docker.containers.clear();
    let pruned = pruner.prune(&mut docker, t0() + HOUR + NS, &[]).unwrap();
    assert_eq!(
        pruned.removed,
        [
            tag("base:1"),
            tag("app:1"),
            image("sha256:3-leaf"),
            image("sha256:2-mid"),
            image("sha256:1-base"),
        ]
    );
}

#[test]
fn an_unknown_excluded_ref_is_reported_not_an_error() {
    let mut docker = three_images();
    let mut pruner = old_images(&docker);
    let pruned = pruner
        .prune(&mut docker, t0(), &["nope:1", "app:1", "sha256:missing"])
        .unwrap();
    assert_eq!(pruned.stats.unknown_pins, ["nope:1", "sha256:missing"]);
    assert_eq!(pruned.stats.roots_by_kind.pins, 1);
    assert_eq!(
        pruned.removed,
        [tag("app:2"), image("sha256:y"), image("sha256:z")]
    );
}

#[test]
fn a_failing_lookup_is_an_error_and_removes_nothing() {
    let mut docker = three_images();
    docker.failing_lookup = Some("app:2".into());
    let mut pruner = old_images(&docker);
    let err = pruner
        .prune(&mut docker, t0(), &["app:1", "app:2"])
        .err()
        .expect("the lookup fails");
    match &err {
        Error::Resolving { name, source } => {
            assert_eq!(name, "app:2");
            assert_eq!(source, &DaemonError);
        }
        other => panic!("expected Error::Resolving, got {other:?}"),
    }
    assert_eq!(
        std::error::Error::source(&err).map(|e| e.to_string()),
        Some(DaemonError.to_string())
    );
    assert_eq!(ids(&docker), ["sha256:x", "sha256:y", "sha256:z"]);
    assert_eq!(docker.images["sha256:y"].tags.len(), 1);

    // Once the daemon answers, the same call prunes.
    docker.failing_lookup = None;
    let pruned = pruner
        .prune(&mut docker, t0(), &["app:1", "app:2"])
        .unwrap();
    assert_eq!(pruned.removed, [image("sha256:z")]);
}

// ---------------------------------------------------------------------------
// Vespa's own `ContainerImagePrunerTest` (the parent-aware version),
// transcribed. Its `Tester` runs the pruner once with a 999-day minAge to
// stamp every image as first seen, then, at each check, advances the clock
// and prunes with `minAge = 1h - 1s`: `expectDeletedImages(...)` is 60
// minutes on. Vespa asserts only that the named images are gone; these
// assert the exact removals, in order (tags, then images, children first).

/// Vespa's `Tester`, over the embedder above.
struct Tester {
    docker: Docker,
    pruner: Pruner,
    clock: SystemTime,
    initialized: bool,
}

impl Tester {
    fn new() -> Self {
        Tester {
            docker: Docker::default(),
            pruner: Pruner::default(),
            clock: t0(),
            initialized: false,
        }
    }

    /// An image the daemon lists. Vespa's `<none>:<none>` is an untagged
    /// image: Docker's placeholder, not a tag, so it is left out.
    fn image(&mut self, id: &str, parent: Option<&str>, tags: &[&str]) -> &mut Self {
        let tags: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| *t != "<none>:<none>")
            .collect();
        self.docker.image(id, parent, &tags);
        self
    }

    fn container(&mut self, name: &str, image: &str) -> &mut Self {
        self.docker.container(name, image);
        self
    }

    /// `expectDeletedImages`: an hour on.
    fn expect_deleted(&mut self, removed: &[Res]) -> &mut Self {
        self.expect_deleted_after(60, &[], removed)
    }

    /// `expectDeletedImagesAfterMinutes`, with `excludedRefs`.
    fn expect_deleted_after(
        &mut self,
        minutes: u32,
        excluded: &[&str],
        removed: &[Res],
    ) -> &mut Self {
        if !self.initialized {
            self.pruner.min_age = 999 * DAY;
            let init = self.pruner.prune(&mut self.docker, self.clock, &[]);
            assert_eq!(init.unwrap().removed, []);
            self.initialized = true;
        }
        self.clock += minutes * MINUTE;
        self.pruner.min_age = HOUR - SECOND;
        let pruned = self
            .pruner
            .prune(&mut self.docker, self.clock, excluded)
            .unwrap();
        assert_eq!(pruned.removed, removed, "{minutes} minutes on");
        self
    }
}

#[test]
fn vespa_no_images_means_no_unused_images() {
    Tester::new().expect_deleted(&[]);
}

#[test]
fn vespa_single_image_without_containers_is_unused() {
    // Even though nothing is using the image, it is kept for at least 1 h.
    Tester::new()
        .image("image-1", None, &[])
        .expect_deleted_after(0, &[], &[])
        .expect_deleted_after(30, &[], &[])
        .expect_deleted_after(30, &[], &[image("image-1")]);
}

#[test]
fn vespa_single_image_with_container_is_used() {
    Tester::new()
        .image("image-1", None, &[])
        .container("container-1", "image-1")
        .expect_deleted(&[]);
}

#[test]
fn vespa_multiple_unused_images_are_identified() {
    Tester::new()
        .image("image-1", None, &[])
        .image("image-2", None, &[])
        .expect_deleted(&[image("image-1"), image("image-2")]);
}

#[test]
fn vespa_multiple_unused_leaves_are_identified() {
    Tester::new()
        .image("parent-image", None, &[])
        .image("image-1", Some("parent-image"), &[])
        .image("image-2", Some("parent-image"), &[])
        .expect_deleted(&[image("image-1"), image("image-2"), image("parent-image")]);
}

#[test]
fn vespa_unused_leaf_with_used_sibling_is_identified() {
    // Deleting the only tag deletes the image, in Docker; here, the tag
    // and then the image.
    Tester::new()
        .image("parent-image", None, &[])
        .image("image-1", Some("parent-image"), &["latest"])
        .image("image-2", Some("parent-image"), &["1.24"])
        .container("vespa-node-1", "image-1")
        .expect_deleted(&[tag("1.24"), image("image-2")]);
}

#[test]
fn vespa_unused_images_with_multiple_tags() {
    Tester::new()
        .image("parent-image", None, &[])
        .image(
            "image-1",
            Some("parent-image"),
            &["vespa-6", "vespa-6.28", "vespa:latest"],
        )
        .expect_deleted(&[
            tag("vespa-6"),
            tag("vespa-6.28"),
            tag("vespa:latest"),
            image("image-1"),
            image("parent-image"),
        ]);
}

#[test]
fn vespa_unused_images_with_multiple_untagged() {
    Tester::new()
        .image("image1", None, &["<none>:<none>"])
        .image("image2", None, &["<none>:<none>"])
        .expect_deleted(&[image("image1"), image("image2")]);
}

#[test]
fn vespa_tagged_image_with_no_containers_is_unused() {
    Tester::new()
        .image("image-1", None, &["vespa-6"])
        .expect_deleted(&[tag("vespa-6"), image("image-1")]);
}

#[test]
fn vespa_unused_images_with_simple_image_gc() {
    let mut tester = Tester::new();
    tester
        .image("parent-image", None, &[])
        .expect_deleted_after(30, &[], &[])
        .image("image-1", Some("parent-image"), &[])
        .expect_deleted_after(0, &[], &[])
        // parent-image has been unused for 1 h, but image-1 depends on it
        // and has been unused for only 30 min: parent-image stays.
        .expect_deleted_after(30, &[], &[])
        .expect_deleted_after(30, &[], &[image("image-1"), image("parent-image")]);
}

#[test]
fn vespa_re_downloading_image_is_not_immediately_deleted() {
    let mut tester = Tester::new();
    tester
        .image("image", None, &[])
        .expect_deleted(&[image("image")])
        // Pulled again at once: first seen now, so not deleted.
        .image("image", None, &[])
        .expect_deleted_after(0, &[], &[])
        .expect_deleted_after(10, &[], &[])
        // An hour after it was pulled again, it goes again.
        .expect_deleted(&[image("image")]);
}

#[test]
fn vespa_re_downloading_image_is_not_immediately_deleted_when_deleting_by_tag() {
    let gone = [tag("image-1"), tag("my-tag"), image("image")];
    let mut tester = Tester::new();
    tester
        .image("image", None, &["image-1", "my-tag"])
        .expect_deleted(&gone)
        .image("image", None, &["image-1", "my-tag"])
        .expect_deleted_after(0, &[], &[])
        .expect_deleted_after(10, &[], &[])
        .expect_deleted(&gone);
}

#[test]
fn vespa_does_not_delete_excluded_by_id_images() {
    // image-1 and parent-image would go too, but image-1 is excluded and
    // keeps its parent: only image-2 goes.
    Tester::new()
        .image("parent-image", None, &[])
        .image("image-1", Some("parent-image"), &[])
        .image("image-2", Some("parent-image"), &[])
        .expect_deleted_after(60, &["image-1"], &[image("image-2")]);
}

#[test]
fn vespa_does_not_delete_excluded_by_tag_images() {
    Tester::new()
        .image("parent-image", None, &["rhel-6"])
        .image("image-1", Some("parent-image"), &["vespa:6.288.16"])
        .image("image-2", Some("parent-image"), &["vespa:6.289.94"])
        .expect_deleted_after(
            60,
            &["vespa:6.288.16"],
            &[tag("vespa:6.289.94"), image("image-2")],
        );
}

#[test]
fn vespa_excluding_not_downloaded_image_is_noop() {
    Tester::new()
        .image("parent-image", None, &["rhel-6"])
        .image("image-1", Some("parent-image"), &["vespa:6.288.16"])
        .image("image-2", Some("parent-image"), &["vespa:6.289.94"])
        .expect_deleted_after(
            60,
            &["vespa:6.300.1"],
            &[
                tag("vespa:6.288.16"),
                tag("vespa:6.289.94"),
                tag("rhel-6"),
                image("image-1"),
                image("image-2"),
                image("parent-image"),
            ],
        );
}
