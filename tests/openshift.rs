//! OpenShift's `oc adm prune images`, expressed by an embedder: a registry
//! of images and layers, image streams whose tags keep a history of
//! revisions, and pods.
//!
//! How each OpenShift rule maps onto the crate:
//!
//! - a stream tag's history is emitted with [`ReferenceSink::history`]: the
//!   newest `keepTagRevisions` revisions, and those younger than
//!   `keepYoungerThan`, strongly; older ones weakly ([`Retention`]);
//! - a stream younger than `keepYoungerThan` references all its revisions
//!   strongly, as OpenShift does for every young object;
//! - running and pending pods, and young pods, hold their image strongly;
//!   other pods weakly (they do not keep it);
//! - an image references its layers; layers are listed before images, so
//!   the garbage lists a pruned image's layers before the image object,
//!   OpenShift's re-runnable removal order;
//! - images this registry does not manage are never listed, so never
//!   candidates;
//! - `--confirm` off (dry run): report the garbage, remove nothing;
//! - a circuit breaker: [`SweepLimit`].
//!
//! At the `keepYoungerThan` boundary (created exactly `keepYoungerThan`
//! before now), the crate and this embedder keep, as the project does at
//! every boundary. OpenShift agrees for a pod that is not running (it
//! ignores one only if `created.Before(threshold)`), but prunes an image,
//! a stream or a tag revision there (it keeps one only if
//! `created.After(threshold)`). A nanosecond to either side, both agree.
//! `keepTagRevisions` agrees exactly: rank `n` is the first not kept.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resource_gc::{
    CollectionContext, Collector, Error, Node, NodeSink, Options, ReferenceSink, Retention,
    RootCounts, Stats, SweepLimit,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Image,
    Layer,
}

type Res = Node<Kind, (), String>;
type Refs<'a> = ReferenceSink<'a, Kind, (), String>;

fn image(digest: &str) -> Res {
    Node::new(Kind::Image, (), digest.to_string())
}
fn layer(digest: &str) -> Res {
    Node::new(Kind::Layer, (), digest.to_string())
}

const NS: Duration = Duration::from_nanos(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}
fn ago(d: Duration) -> SystemTime {
    now() - d
}

// ---------------------------------------------------------------------------
// The registry and the cluster objects that reference it.

#[derive(Clone, Debug, PartialEq)]
struct Revision {
    image: String,
    created: SystemTime,
}

#[derive(Clone, Debug, PartialEq)]
struct Stream {
    created: SystemTime,
    /// Tag → revisions, newest first.
    tags: BTreeMap<String, Vec<Revision>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(dead_code)] // Every phase is part of the model; not all are used.
enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
struct Pod {
    phase: Phase,
    created: SystemTime,
    image: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Registry {
    /// Images this registry manages: digest → layers.
    images: BTreeMap<String, Vec<String>>,
    layers: BTreeMap<String, ()>,
    streams: BTreeMap<String, Stream>,
    pods: BTreeMap<String, Pod>,
}

impl Registry {
    fn image(&mut self, digest: &str, layers: &[&str]) -> &mut Self {
        for l in layers {
            self.layers.insert(l.to_string(), ());
        }
        let layers = layers.iter().map(|l| l.to_string()).collect();
        self.images.insert(digest.into(), layers);
        self
    }
    fn stream(&mut self, name: &str, created: SystemTime) -> &mut Self {
        let s = Stream {
            created,
            tags: BTreeMap::new(),
        };
        self.streams.insert(name.into(), s);
        self
    }
    /// Tags `image` as `stream:tag` at `created`: the newest revision.
    fn tag(&mut self, stream: &str, tag: &str, image: &str, created: SystemTime) -> &mut Self {
        let history = self
            .streams
            .get_mut(stream)
            .unwrap()
            .tags
            .entry(tag.into())
            .or_default();
        let revision = Revision {
            image: image.into(),
            created,
        };
        history.insert(0, revision);
        self
    }
    fn pod(&mut self, name: &str, phase: Phase, created: SystemTime, image: &str) -> &mut Self {
        let pod = Pod {
            phase,
            created,
            image: image.into(),
        };
        self.pods.insert(name.into(), pod);
        self
    }

    fn remove(&mut self, node: &Res) {
        let removed = match node.kind {
            Kind::Image => self.images.remove(&node.key).is_some(),
            Kind::Layer => self.layers.remove(&node.key).is_some(),
        };
        assert!(removed, "{node:?} was listed, so it exists");
    }
}

// ---------------------------------------------------------------------------
// The pruner.

#[derive(Clone, Copy, Debug, Default)]
struct Prune {
    keep_tag_revisions: Option<usize>,
    keep_younger_than: Option<Duration>,
    /// `--confirm`: without it, a dry run.
    confirm: bool,
    limit: SweepLimit,
}

impl Prune {
    fn rule(&self) -> Retention {
        let mut rule = Retention::default();
        rule.keep_last = self.keep_tag_revisions;
        rule.keep_younger_than = self.keep_younger_than;
        rule
    }
}

struct View<'a> {
    registry: &'a Registry,
    prune: Prune,
}

impl View<'_> {
    /// Created at most `keepYoungerThan` before now, exactly that long
    /// included (the crate's rule at every boundary), or after now.
    /// OpenShift: the same for pods (`!created.Before(threshold)`); a
    /// stream exactly at the threshold it prunes (`created.After`).
    fn young(&self, created: SystemTime, now: SystemTime) -> bool {
        self.prune
            .keep_younger_than
            .is_some_and(|age| now.duration_since(created).map_or(true, |d| d <= age))
    }
}

impl CollectionContext for View<'_> {
    type Kind = Kind;
    type Namespace = ();
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSink<'_, Kind, (), String>) -> Result<(), Infallible> {
        // Layers first: they are removed before the image objects.
        self.registry
            .layers
            .keys()
            .for_each(|l| nodes.push(&layer(l)));
        self.registry
            .images
            .keys()
            .for_each(|i| nodes.push(&image(i)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), Infallible> {
        let now = roots.now();
        let rule = self.prune.rule();
        for stream in self.registry.streams.values() {
            let young = self.young(stream.created, now);
            for history in stream.tags.values() {
                let entries: Vec<(Res, SystemTime)> = history
                    .iter()
                    .map(|r| (image(&r.image), r.created))
                    .collect();
                if young {
                    entries.iter().for_each(|(node, _)| roots.strong(node));
                } else {
                    roots.history(entries.iter().map(|(node, t)| (node, *t)), &rule);
                }
            }
        }
        for pod in self.registry.pods.values() {
            let active = matches!(pod.phase, Phase::Running | Phase::Pending);
            if active || self.young(pod.created, now) {
                roots.strong(&image(&pod.image));
            } else {
                roots.weak(&image(&pod.image));
            }
        }
        Ok(())
    }

    fn references(&mut self, node: &Res, refs: &mut Refs<'_>) -> Result<(), Infallible> {
        if node.kind == Kind::Image {
            for l in self.registry.images.get(&node.key).into_iter().flatten() {
                refs.strong(&layer(l));
            }
        }
        Ok(())
    }
}

struct Report {
    /// What was (or, in a dry run, would be) removed, in removal order.
    garbage: Vec<Res>,
    stats: Stats,
}

/// One `oc adm prune images` run, with a collector the caller keeps.
fn prune_with(
    collector: &mut Collector<Kind, (), String>,
    registry: &mut Registry,
    prune: Prune,
) -> Result<Report, Error<Infallible, Res>> {
    let mut options = Options::default();
    options.now = Some(now());
    options.sweep_limit = prune.limit;
    let mut view = View { registry, prune };
    let collection = collector.collect_with(&mut view, &options)?;
    let garbage: Vec<Res> = collection.garbage().cloned().collect();
    let stats = collection.stats().clone();
    if prune.confirm {
        garbage.iter().for_each(|node| registry.remove(node));
    }
    Ok(Report { garbage, stats })
}

fn prune(registry: &mut Registry, prune: Prune) -> Result<Report, Error<Infallible, Res>> {
    prune_with(&mut Collector::new(), registry, prune)
}

fn confirm() -> Prune {
    Prune {
        confirm: true,
        ..Prune::default()
    }
}

fn keep(revisions: usize) -> Prune {
    Prune {
        keep_tag_revisions: Some(revisions),
        ..confirm()
    }
}

/// Stream `app`, tag `latest`, five revisions `img-1` (oldest) to `img-5`,
/// tagged a day apart long ago; each image has its own layer and all share
/// `base`.
fn five_revisions() -> Registry {
    let mut r = Registry::default();
    r.stream("app", ago(100 * DAY));
    for i in 1..=5 {
        let name = format!("img-{i}");
        r.image(&name, &["base", &format!("layer-{i}")]).tag(
            "app",
            "latest",
            &name,
            ago((30 - i) * DAY),
        );
    }
    r
}

// ---------------------------------------------------------------------------
// Scenarios.

#[test]
fn keep_tag_revisions_keeps_the_newest_two_of_five() {
    let mut registry = five_revisions();
    let report = prune(&mut registry, keep(2)).unwrap();
    assert_eq!(
        report.garbage,
        [
            layer("layer-1"),
            layer("layer-2"),
            layer("layer-3"),
            image("img-1"),
            image("img-2"),
            image("img-3"),
        ]
    );
    let mut kinds = RootCounts::default();
    kinds.retained = 2;
    assert_eq!(report.stats.roots_by_kind, kinds);
    assert_eq!(report.stats.weak_references, 3);
    assert_eq!(
        registry.images.keys().collect::<Vec<_>>(),
        ["img-4", "img-5"]
    );
}

#[test]
fn an_image_referenced_weakly_and_strongly_is_kept() {
    // OpenShift bug #13677: an old revision (weak) also run by a pod
    // (strong) was pruned.
    let mut registry = five_revisions();
    registry
        .pod("web", Phase::Running, ago(40 * DAY), "img-1")
        .pod("batch", Phase::Pending, ago(40 * DAY), "img-2")
        .pod("done", Phase::Succeeded, ago(40 * DAY), "img-3");
    let report = prune(&mut registry, keep(2)).unwrap();
    assert_eq!(report.garbage, [layer("layer-3"), image("img-3")]);
    assert_eq!(report.stats.roots_by_kind.explicit, 2);
}

#[test]
fn keep_younger_than_protects_what_young_objects_reference() {
    let mut registry = five_revisions();
    // A young stream, mirroring old images with their original dates.
    registry
        .stream("mirror", ago(30 * MINUTE))
        .image("mirrored-1", &["m1"])
        .image("mirrored-2", &["m2"])
        .tag("mirror", "v1", "mirrored-1", ago(90 * DAY))
        .tag("mirror", "v1", "mirrored-2", ago(80 * DAY))
        // An old stream with a revision tagged ten minutes ago, below the
        // newest one.
        .stream("tools", ago(90 * DAY))
        .image("tool-old", &["t0"])
        .image("tool-recent", &["t1"])
        .image("tool-newest", &["t2"])
        .tag("tools", "latest", "tool-old", ago(60 * DAY))
        .tag("tools", "latest", "tool-recent", ago(10 * MINUTE))
        .tag("tools", "latest", "tool-newest", ago(5 * MINUTE))
        // A pod that finished, young: it still holds its image.
        .pod("job", Phase::Succeeded, ago(20 * MINUTE), "img-1");
    let mut options = keep(1);
    options.keep_younger_than = Some(HOUR);
    let report = prune(&mut registry, options).unwrap();
    assert_eq!(
        report.garbage,
        [
            layer("layer-2"),
            layer("layer-3"),
            layer("layer-4"),
            layer("t0"),
            image("img-2"),
            image("img-3"),
            image("img-4"),
            image("tool-old"),
        ]
    );
    // img-5 and tool-newest by rank, tool-recent by age.
    assert_eq!(report.stats.roots_by_kind.retained, 3);

    // Without keepYoungerThan, only the newest revisions and running pods
    // count.
    let mut registry = registry.clone();
    let report = prune(&mut registry, keep(1)).unwrap();
    assert_eq!(
        report.garbage,
        [
            layer("layer-1"),
            layer("m1"),
            layer("t1"),
            image("img-1"),
            image("mirrored-1"),
            image("tool-recent"),
        ]
    );
}

#[test]
fn layers_of_pruned_images_go_only_when_no_surviving_image_uses_them() {
    let mut registry = Registry::default();
    registry
        .stream("app", ago(100 * DAY))
        .image("old", &["shared", "old-only"])
        .image("new", &["shared", "new-only"])
        .image("untagged", &["shared", "new-only", "untagged-only"])
        .tag("app", "latest", "old", ago(50 * DAY))
        .tag("app", "latest", "new", ago(40 * DAY));
    let report = prune(&mut registry, keep(1)).unwrap();
    // Layers before images: if removing a layer fails, the image objects
    // still reference everything and the run can be repeated.
    assert_eq!(
        report.garbage,
        [
            layer("old-only"),
            layer("untagged-only"),
            image("old"),
            image("untagged"),
        ]
    );
    assert_eq!(
        registry.layers.keys().collect::<Vec<_>>(),
        ["new-only", "shared"]
    );
}

#[test]
fn without_a_retention_rule_nothing_is_dropped() {
    // zot's foot-gun: a retention policy with no rule deleted everything.
    let mut registry = five_revisions();
    let report = prune(&mut registry, confirm()).unwrap();
    assert_eq!(report.garbage, []);
    assert_eq!(report.stats.roots_by_kind.retained, 5);
    assert_eq!(report.stats.weak_references, 0);
    assert_eq!(registry, five_revisions());
}

#[test]
fn images_this_registry_does_not_manage_are_never_candidates() {
    let mut registry = five_revisions();
    // Tagged in a stream, but pulled through from another registry.
    registry.tag(
        "app",
        "external",
        "docker.io/library/busybox",
        ago(90 * DAY),
    );
    registry.tag("app", "external", "img-5", ago(80 * DAY));
    let report = prune(&mut registry, keep(1)).unwrap();
    assert!(!report.garbage.contains(&image("docker.io/library/busybox")));
    assert_eq!(report.garbage.len(), 8, "{:?}", report.garbage);
}

/// `keep(2)` with a circuit breaker. On [`five_revisions`] it lists eleven
/// nodes (six layers, five images) and would sweep six.
fn limited(limit: SweepLimit) -> Prune {
    Prune { limit, ..keep(2) }
}

fn max_nodes(n: usize) -> SweepLimit {
    let mut limit = SweepLimit::default();
    limit.max_nodes = Some(n);
    limit
}

fn max_share(share: f64) -> SweepLimit {
    let mut limit = SweepLimit::default();
    limit.max_share = Some(share);
    limit
}

#[test]
fn the_circuit_breaker_reports_the_would_be_sweep_and_changes_nothing() {
    // Eleven listed nodes (six layers, five images); six would be swept.
    let would_sweep = vec![
        layer("layer-1"),
        layer("layer-2"),
        layer("layer-3"),
        image("img-1"),
        image("img-2"),
        image("img-3"),
    ];
    for limit in [max_nodes(5), max_share(0.5), max_share(0.0)] {
        let mut registry = five_revisions();
        let mut collector = Collector::new();
        match prune_with(&mut collector, &mut registry, limited(limit)) {
            Err(Error::SweepLimitExceeded {
                would_sweep: got,
                listed,
                limit: reported,
            }) => {
                assert_eq!(got, would_sweep, "{limit:?}");
                assert_eq!(listed, 11);
                assert_eq!(reported, limit);
            }
            Err(other) => panic!("{limit:?}: expected SweepLimitExceeded, got {other:?}"),
            Ok(report) => panic!("{limit:?}: swept {:?}", report.garbage),
        }
        assert_eq!(registry, five_revisions(), "{limit:?}: nothing removed");

        // The same collector, without the limit, finds the same garbage.
        let report = prune_with(&mut collector, &mut registry, keep(2)).unwrap();
        assert_eq!(report.garbage, would_sweep, "{limit:?}");
    }

    // At the limit, the collection goes through.
    for limit in [max_nodes(6), max_share(6.0 / 11.0), max_share(1.0)] {
        let mut registry = five_revisions();
        let report = prune(&mut registry, limited(limit)).unwrap();
        assert_eq!(report.garbage, would_sweep, "{limit:?}");
    }
}

#[test]
fn the_circuit_breaker_trips_on_either_limit() {
    let mut limit = max_nodes(100);
    limit.max_share = Some(0.25);
    let mut registry = five_revisions();
    let err = prune(&mut registry, limited(limit)).err();
    assert!(
        matches!(err, Some(Error::SweepLimitExceeded { ref would_sweep, .. }) if would_sweep.len() == 6),
        "{err:?}"
    );
    let mut limit = max_nodes(2);
    limit.max_share = Some(1.0);
    let err = prune(&mut registry, limited(limit)).err();
    assert!(
        matches!(err, Some(Error::SweepLimitExceeded { ref would_sweep, .. }) if would_sweep.len() == 6),
        "{err:?}"
    );
    assert_eq!(registry, five_revisions());
}

#[test]
fn an_invalid_share_is_invalid_options() {
    for share in [1.5, -0.1, f64::NAN, f64::INFINITY] {
        let mut registry = five_revisions();
        match prune(&mut registry, limited(max_share(share))) {
            Err(Error::InvalidOptions { reason }) => {
                assert!(reason.contains("max_share"), "{share}: {reason}")
            }
            Err(other) => panic!("{share}: expected InvalidOptions, got {other:?}"),
            Ok(report) => panic!("{share}: swept {:?}", report.garbage),
        }
        assert_eq!(registry, five_revisions());
    }
}

#[test]
fn a_dry_run_reports_and_removes_nothing() {
    let mut registry = five_revisions();
    let dry = Prune {
        confirm: false,
        ..keep(2)
    };
    let first = prune(&mut registry, dry).unwrap();
    assert_eq!(first.garbage.len(), 6);
    assert_eq!(registry, five_revisions());
    let second = prune(&mut registry, dry).unwrap();
    assert_eq!(second.garbage, first.garbage);

    let confirmed = prune(&mut registry, keep(2)).unwrap();
    assert_eq!(confirmed.garbage, first.garbage);
    assert_eq!(registry.images.len(), 2);
    assert_eq!(prune(&mut registry, keep(2)).unwrap().garbage, []);
}

// ---------------------------------------------------------------------------
// The `keepYoungerThan` and `keepTagRevisions` boundaries.

/// OpenShift's test defaults: `keepYoungerThan` 1 h, and `n` revisions.
fn oc(keep_tag_revisions: usize) -> Prune {
    Prune {
        keep_tag_revisions: Some(keep_tag_revisions),
        keep_younger_than: Some(HOUR),
        ..confirm()
    }
}

/// OpenShift's `Pod()`, `Stream()` and `TagEvent()` have a zero creation
/// time: long ago.
fn long_ago() -> SystemTime {
    UNIX_EPOCH
}

#[test]
fn a_revision_exactly_keep_younger_than_old_is_kept_where_openshift_prunes() {
    // OpenShift keeps a tag revision only if `item.Created.After(now -
    // keepYoungerThan)`: at exactly keepYoungerThan it is prunable. The
    // crate keeps at the boundary ([`Retention::keep_younger_than`]).
    let prune_revision_created = |created: SystemTime| {
        let mut r = Registry::default();
        r.stream("app", long_ago())
            .image("rev", &["rev-layer"])
            .tag("app", "latest", "rev", created);
        prune(&mut r, oc(0)).unwrap().garbage
    };
    let gone = [layer("rev-layer"), image("rev")];
    assert_eq!(prune_revision_created(ago(HOUR + NS)), gone, "both prune");
    assert_eq!(prune_revision_created(ago(HOUR)), [], "OpenShift prunes");
    assert_eq!(prune_revision_created(ago(HOUR - NS)), [], "both keep");
    assert_eq!(prune_revision_created(now() + NS), [], "both keep");
}

#[test]
fn a_stream_exactly_keep_younger_than_old_is_kept_where_openshift_prunes() {
    // OpenShift keeps a whole stream only if `stream.CreationTimestamp
    // .After(now - keepYoungerThan)`; at equality it prunes it as any
    // other. This embedder keeps at the boundary, as the crate does.
    let prune_stream_created = |created: SystemTime| {
        let mut r = Registry::default();
        r.stream("app", created).image("rev", &["rev-layer"]).tag(
            "app",
            "latest",
            "rev",
            long_ago(),
        );
        prune(&mut r, oc(0)).unwrap().garbage
    };
    let gone = [layer("rev-layer"), image("rev")];
    assert_eq!(prune_stream_created(ago(HOUR + NS)), gone, "both prune");
    assert_eq!(prune_stream_created(ago(HOUR)), [], "OpenShift prunes");
    assert_eq!(prune_stream_created(ago(HOUR - NS)), [], "both keep");
}

#[test]
fn a_finished_pod_exactly_keep_younger_than_old_keeps_its_image_as_in_openshift() {
    // OpenShift ignores a pod that is neither running nor pending only if
    // `pod.CreationTimestamp.Before(now - keepYoungerThan)`: at equality
    // the pod still protects its image. Here the crate's rule and
    // OpenShift's agree, on both sides too.
    let prune_pod_created = |created: SystemTime| {
        let mut r = Registry::default();
        r.stream("app", long_ago())
            .image("img", &["img-layer"])
            .tag("app", "latest", "img", long_ago())
            .pod("job", Phase::Succeeded, created, "img");
        prune(&mut r, oc(0)).unwrap().garbage
    };
    let gone = [layer("img-layer"), image("img")];
    assert_eq!(prune_pod_created(ago(HOUR + NS)), gone, "both prune");
    assert_eq!(prune_pod_created(ago(HOUR)), [], "both keep");
    assert_eq!(prune_pod_created(ago(HOUR - NS)), [], "both keep");
}

#[test]
fn keep_tag_revisions_keeps_ranks_below_n_as_openshift_does() {
    // OpenShift: `if rev < keepTagRevisions` keeps; rank n is the first
    // prunable, and 0 keeps none. The crate's `keep_last` is the same.
    for n in 0..=6 {
        let mut registry = five_revisions();
        let report = prune(&mut registry, keep(n)).unwrap();
        let images: Vec<Res> = report
            .garbage
            .iter()
            .filter(|node| node.kind == Kind::Image)
            .cloned()
            .collect();
        let expected: Vec<Res> = (1..=5usize.saturating_sub(n))
            .map(|i| image(&format!("img-{i}")))
            .collect();
        assert_eq!(images, expected, "keepTagRevisions {n}");
    }
}

// ---------------------------------------------------------------------------
// OpenShift's own `TestImagePruning` (openshift/oc, `prune_test.go`), the
// cases this embedder can express: images and layers, stream tag
// histories, pods. Not expressed: controllers and builds, image ages
// (`AgedImage`), registry links, the managed annotation and `--all`,
// deletion failures, size limits. OpenShift's harness: `keepYoungerThan`
// 1 h, `keepTagRevisions` 3 unless set; `Image()` has five layers.

const LAYERS: [&str; 5] = ["layer1", "layer2", "layer3", "layer4", "layer5"];

impl Registry {
    /// A tag's history as OpenShift stores it, index 0 the current image.
    /// Every `TagEvent` in OpenShift's tests has the same (zero) `Created`,
    /// so the crate ranks them by this order: ties keep their order.
    fn history(&mut self, stream: &str, tag: &str, images: &[&str]) -> &mut Self {
        let revisions = images
            .iter()
            .map(|image| Revision {
                image: image.to_string(),
                created: long_ago(),
            })
            .collect();
        let stream = self.streams.get_mut(stream).unwrap();
        stream.tags.insert(tag.into(), revisions);
        self
    }
}

/// `sha0` (OpenShift's `sha256:000…0`), tagged `foo/bar:latest`, used by
/// pods of the given phases and ages.
fn one_image_with_pods(pods: &[(Phase, SystemTime)]) -> Registry {
    let mut r = Registry::default();
    r.image("sha0", &LAYERS)
        .stream("foo/bar", long_ago())
        .history("foo/bar", "latest", &["sha0"]);
    for (i, &(phase, created)) in pods.iter().enumerate() {
        r.pod(&format!("pod{}", i + 1), phase, created, "sha0");
    }
    r
}

#[test]
fn openshift_pods_running_or_pending_keep_their_image() {
    use Phase::*;
    let old = long_ago();
    for pods in [
        vec![(Pending, old)],
        vec![(Succeeded, old), (Succeeded, old), (Pending, old)],
        vec![(Running, old)],
        vec![(Succeeded, old), (Succeeded, old), (Running, old)],
    ] {
        let mut registry = one_image_with_pods(&pods);
        assert_eq!(prune(&mut registry, oc(0)).unwrap().garbage, [], "{pods:?}");
    }
}

#[test]
fn openshift_pods_succeeded_failed_or_unknown_do_not() {
    use Phase::*;
    let old = long_ago();
    let mut everything: Vec<Res> = LAYERS.iter().map(|l| layer(l)).collect();
    everything.push(image("sha0"));
    for pods in [
        vec![(Succeeded, old)],
        vec![(Failed, old), (Failed, old), (Failed, old)],
        vec![(Unknown, old), (Unknown, old), (Unknown, old)],
    ] {
        let mut registry = one_image_with_pods(&pods);
        let report = prune(&mut registry, oc(0)).unwrap();
        assert_eq!(report.garbage, everything, "{pods:?}");
    }
}

#[test]
fn openshift_pod_phase_succeeded_pod_less_than_min_pruning_age_does_not_prune() {
    // `AgedPod(…, 5, …)`: five minutes old.
    let mut registry = one_image_with_pods(&[(Phase::Succeeded, ago(5 * MINUTE))]);
    assert_eq!(prune(&mut registry, oc(0)).unwrap().garbage, []);
}

#[test]
fn openshift_image_stream_keep_most_recent_n_images() {
    // Revision 0 is an image of another registry: never a candidate, but
    // it still takes rank 0. With 3 kept, id4 (rank 3) goes; its layers
    // are shared with id2 and id3.
    let mut registry = Registry::default();
    registry
        .image("id2", &LAYERS)
        .image("id3", &LAYERS)
        .image("id4", &LAYERS)
        .stream("foo/bar", long_ago())
        .history(
            "foo/bar",
            "latest",
            &["otherregistry/id", "id2", "id3", "id4"],
        );
    let report = prune(&mut registry, oc(3)).unwrap();
    assert_eq!(report.garbage, [image("id4")]);
}

#[test]
fn openshift_image_stream_same_manifest_listed_multiple_times_in_tag_history() {
    // Only revision 3 (id2) is dropped from the history; id2 is still
    // revision 1, so no image goes.
    let mut registry = Registry::default();
    registry
        .image("id1", &LAYERS)
        .image("id2", &LAYERS)
        .stream("foo/bar", long_ago())
        .history("foo/bar", "latest", &["id1", "id2", "id1", "id2"]);
    let report = prune(&mut registry, oc(3)).unwrap();
    assert_eq!(report.garbage, []);
    assert_eq!(report.stats.roots_by_kind.retained, 3);
}

#[test]
fn openshift_image_stream_age_less_than_min_pruning_age_does_not_prune() {
    // `AgedStream(…, 5, …)`: without it, id4 would go as above.
    let mut registry = Registry::default();
    registry
        .image("id", &LAYERS)
        .image("id2", &LAYERS)
        .image("id3", &LAYERS)
        .image("id4", &LAYERS)
        .stream("foo/bar", ago(5 * MINUTE))
        .history("foo/bar", "latest", &["id", "id2", "id3", "id4"]);
    assert_eq!(prune(&mut registry, oc(3)).unwrap().garbage, []);
    registry.streams.get_mut("foo/bar").unwrap().created = long_ago();
    assert_eq!(prune(&mut registry, oc(3)).unwrap().garbage, [image("id4")]);
}

#[test]
fn openshift_layers_unique_to_a_pruned_image_are_pruned() {
    // `TestLayerPruning`, "layers unique to id1 pruned": one revision kept.
    let mut registry = Registry::default();
    registry
        .image("id1", &["layer1", "layer2", "layer3", "layer4"])
        .image("id2", &["layer3", "layer4", "layer5", "layer6"])
        .stream("foo/bar", long_ago())
        .history("foo/bar", "latest", &["id2", "id1"]);
    let report = prune(&mut registry, oc(1)).unwrap();
    assert_eq!(
        report.garbage,
        [layer("layer1"), layer("layer2"), image("id1")]
    );
}
