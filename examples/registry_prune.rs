//! An image registry pruner with OpenShift's `oc adm prune images`
//! semantics, on a registry kept in redb.
//!
//! ```text
//! <dir>/registry.redb   images     image → its manifest
//!                       manifests  manifest blob → size, config, layers
//!                       layers     layer blob → size
//!                       configs    config blob → size
//!                       streams    image stream → when it was created
//!                       tags       `stream:tag` → its history, newest first
//!                       pods       pod → phase, created, image
//!                       meta       the registry's generation
//! ```
//!
//! The rules, as OpenShift has them:
//!
//! - a tag's history is emitted with `ReferenceSink::history`: the newest
//!   `--keep-tag-revisions` revisions and those younger than
//!   `--keep-younger-than` strongly, older ones weakly (they keep nothing);
//! - a stream younger than `--keep-younger-than` keeps all its revisions;
//! - running and pending pods keep their image, and so do pods younger
//!   than the threshold; other pods hold it weakly (they are not roots);
//! - an image references its manifest, a manifest its config and layers:
//!   one collection, `SweepOrder::ReferrersFirst`, so a layer goes only
//!   after the last image holding it, and in one plan: images, then
//!   manifests, then layers and configs.
//!
//! Without `--confirm` it is a dry run: it prints the plan and removes
//! nothing. To check itself, the default run then applies that same plan
//! as `--confirm` would. Removal is one transaction per node, and the
//! storage fails once on one blob (the manifest of `web-2`, simulated): the
//! report lists the failure, skips the layer and config that manifest
//! still names, removes the rest, and a re-run removes what was left.
//!
//! ```sh
//! cargo run --example registry_prune                    # dry run, then apply and check
//! cargo run --example registry_prune -- --confirm       # apply
//! cargo run --example registry_prune -- --keep-tag-revisions 2 --keep-younger-than 30m
//! cargo run --example registry_prune -- --dir PATH      # a registry kept between runs
//! ```
//!
//! It checks what it printed and exits non-zero otherwise.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use resource_gc::{
    ApplyOptions, Cause, CollectionContext, Collector, Failure, Node, NodeSinkOf, Options, Plan,
    ReferenceSinkOf, Remover, Report, Retention, Stats, Strength, SweepOrder, SweptBecause,
};

// ---------------------------------------------------------------------------
// Arguments and durations: pure functions, tested below.

const USAGE: &str = "usage: registry_prune [--confirm] [--keep-tag-revisions N] \
                     [--keep-younger-than DURATION] [--dir PATH]";

#[derive(Clone, Debug, PartialEq)]
struct Args {
    /// Remove; without it, a dry run.
    confirm: bool,
    keep_tag_revisions: usize,
    keep_younger_than: Duration,
    dir: Option<PathBuf>,
    help: bool,
}

impl Default for Args {
    /// `oc adm prune images`' defaults.
    fn default() -> Self {
        Args {
            confirm: false,
            keep_tag_revisions: 3,
            keep_younger_than: Duration::from_secs(60 * 60),
            dir: None,
            help: false,
        }
    }
}

/// Parses `--flag value` and `--flag=value`, as `oc` takes them.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline {
                Some(value) => Ok(value.to_string()),
                None => it.next().ok_or(format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "--confirm" if inline.is_none() => out.confirm = true,
            "--confirm" => {
                out.confirm = match inline {
                    Some("true") => true,
                    Some("false") => false,
                    _ => return Err(format!("{arg}: true or false")),
                }
            }
            "--keep-tag-revisions" => {
                let n = value(&flag)?;
                out.keep_tag_revisions = n
                    .parse()
                    .map_err(|e| format!("--keep-tag-revisions {n}: {e}"))?;
            }
            "--keep-younger-than" => {
                let d = value(&flag)?;
                out.keep_younger_than =
                    parse_duration(&d).map_err(|e| format!("--keep-younger-than {d}: {e}"))?;
            }
            "--dir" => out.dir = Some(value(&flag)?.into()),
            "-h" | "--help" => out.help = true,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(out)
}

/// A Go duration, as `oc` takes it: `60m`, `1h30m`, `1.5h`, `300ms`, `0`.
/// Units `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`; never negative.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.starts_with('-') {
        return Err("must not be negative".into());
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let unit_at = rest
            .find(|c: char| !is_number(c))
            .ok_or("missing unit (ns, us, ms, s, m, h)")?;
        let (number, tail) = rest.split_at(unit_at);
        let next_at = tail.find(is_number).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(next_at);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("unknown unit {unit:?} (ns, us, ms, s, m, h)")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(format!("{number:?} is not a number"));
        }
        let whole: u128 = match whole {
            "" => 0,
            _ => whole
                .parse()
                .map_err(|_| format!("{number:?} is too large"))?,
        };
        let mut part = whole.checked_mul(scale).ok_or("too large")?;
        let digits = &fraction[..fraction.len().min(18)];
        if !digits.is_empty() {
            let f: u128 = digits.parse().map_err(|_| "bad fraction")?;
            part += f * scale / 10u128.pow(digits.len() as u32);
        }
        nanos = nanos.checked_add(part).ok_or("too large")?;
        rest = next;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| "too large")?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A duration for people, in the units `parse_duration` reads back:
/// `1h`, `1h30m`, `45s`, `0s`; below a second or with a fraction, Rust's.
fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{d:?}");
    }
    let secs = d.as_secs();
    let mut out = String::new();
    for (n, unit) in [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")] {
        if n != 0 {
            out += &format!("{n}{unit}");
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// An age, rounded down to its largest unit: `4d`, `50m`.
fn age(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, … `11th`, `21st`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        _ if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
    }
}

// ---------------------------------------------------------------------------
// Records and rules: pure functions, tested below.

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A record's fields, one `name=value` a line.
fn fields(record: &str) -> impl Iterator<Item = (&str, &str)> {
    record.lines().filter_map(|line| line.split_once('='))
}

fn field<'r>(record: &'r str, name: &str) -> Option<&'r str> {
    fields(record).find(|&(k, _)| k == name).map(|(_, v)| v)
}

/// A tag's history, one `created-secs image` a line, newest first. An
/// entry whose time cannot be read has `None`: the caller keeps it.
fn parse_history(record: &str) -> Vec<(&str, Option<SystemTime>)> {
    record
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(created, image)| (image, created.parse().ok().map(at)))
        .collect()
}

/// Created at most `age` before `now` (exactly `age` included), or after
/// `now`. OpenShift keeps a pod at the boundary too; a stream or a tag
/// revision there it prunes.
fn young(created: SystemTime, now: SystemTime, age: Duration) -> bool {
    now.duration_since(created).map_or(true, |d| d <= age)
}

/// How a pod holds its image: strongly if running or pending, or young;
/// weakly otherwise (not a root). A record it cannot read keeps.
fn pod_hold(record: &str, now: SystemTime, keep_younger_than: Duration) -> Strength {
    let active = matches!(field(record, "phase"), Some("Running" | "Pending"));
    let known = matches!(
        field(record, "phase"),
        Some("Running" | "Pending" | "Succeeded" | "Failed" | "Unknown")
    );
    let created = field(record, "created")
        .and_then(|s| s.parse().ok())
        .map(at);
    let is_young = created.is_none_or(|c| young(c, now, keep_younger_than));
    if active || !known || is_young {
        Strength::Strong
    } else {
        Strength::Weak
    }
}

// ---------------------------------------------------------------------------
// The registry: redb.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Image,
    Manifest,
    Layer,
    Config,
}

/// Listing order: images, then the blobs.
const KINDS: [Kind; 4] = [Kind::Image, Kind::Manifest, Kind::Layer, Kind::Config];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Manifest => "manifest",
            Kind::Layer => "layer",
            Kind::Config => "config",
        }
    }

    fn table(self) -> TableDefinition<'static, &'static str, &'static str> {
        TableDefinition::new(match self {
            Kind::Image => "images",
            Kind::Manifest => "manifests",
            Kind::Layer => "layers",
            Kind::Config => "configs",
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Images are cluster-wide: no namespace.
type Res = Node<Kind, (), String>;

fn res(kind: Kind, key: &str) -> Res {
    Node::new(kind, (), key.to_string())
}

fn show(node: &Res) -> String {
    format!("{:<8}  {}", node.kind, node.key)
}

const STREAMS: TableDefinition<&str, u64> = TableDefinition::new("streams");
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
const PODS: TableDefinition<&str, &str> = TableDefinition::new("pods");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

struct Registry {
    db: Database,
}

impl Registry {
    fn open(path: &Path) -> Result<Registry, redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        for kind in KINDS {
            txn.open_table(kind.table())?; // so that readers find every table
        }
        txn.open_table(STREAMS)?;
        txn.open_table(TAGS)?;
        txn.open_table(PODS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Registry { db })
    }

    /// A read transaction, and the rules to read it with.
    fn view(&self, args: &Args) -> Result<View, redb::Error> {
        let txn = self.db.begin_read()?;
        let tables = KINDS
            .iter()
            .map(|kind| txn.open_table(kind.table()))
            .collect::<Result<Vec<_>, _>>()?;
        let generation = txn
            .open_table(META)?
            .get("generation")?
            .map_or(0, |g| g.value());
        Ok(View {
            tables,
            streams: txn.open_table(STREAMS)?,
            tags: txn.open_table(TAGS)?,
            pods: txn.open_table(PODS)?,
            generation,
            rule: Retention::default()
                .keep_last(args.keep_tag_revisions)
                .keep_younger_than(args.keep_younger_than),
            keep_younger_than: args.keep_younger_than,
        })
    }
}

fn bump_generation(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    let generation = meta.get("generation")?.map_or(0, |g| g.value());
    meta.insert("generation", generation + 1)?;
    Ok(())
}

/// One read transaction of the registry.
struct View {
    tables: Vec<ReadOnlyTable<&'static str, &'static str>>,
    streams: ReadOnlyTable<&'static str, u64>,
    tags: ReadOnlyTable<&'static str, &'static str>,
    pods: ReadOnlyTable<&'static str, &'static str>,
    generation: u64,
    rule: Retention,
    keep_younger_than: Duration,
}

impl View {
    fn table(&self, kind: Kind) -> &ReadOnlyTable<&'static str, &'static str> {
        &self.tables[KINDS.iter().position(|&k| k == kind).expect("a table")]
    }

    /// Every image and blob, as `(kind, key)`.
    fn rows(&self) -> Result<BTreeSet<(Kind, String)>, redb::Error> {
        let mut rows = BTreeSet::new();
        for kind in KINDS {
            for row in self.table(kind).iter()? {
                rows.insert((kind, row?.0.value().to_string()));
            }
        }
        Ok(rows)
    }

    fn exists(&self, node: &Res) -> Result<bool, redb::Error> {
        Ok(self.table(node.kind).get(node.key.as_str())?.is_some())
    }
}

impl CollectionContext for View {
    type Kind = Kind;
    type Namespace = ();
    type Key = String;
    type Error = redb::Error;

    /// Images and blobs are candidates; streams and pods are not.
    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), redb::Error> {
        for kind in KINDS {
            for row in self.table(kind).iter()? {
                nodes.push(&res(kind, row?.0.value()));
            }
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), redb::Error> {
        let now = roots.now();
        for row in self.tags.iter()? {
            let (tag, history) = row?;
            let (tag, history) = (tag.value(), history.value());
            let stream = tag.rsplit_once(':').map_or(tag, |(stream, _)| stream);
            // A young stream keeps every revision; so does one not found.
            let stream_created = self.streams.get(stream)?.map(|c| at(c.value()));
            let young_stream = stream_created.is_none_or(|c| young(c, now, self.keep_younger_than));
            let mut entries = Vec::new();
            for (image, created) in parse_history(history) {
                match created {
                    Some(created) if !young_stream => {
                        entries.push((res(Kind::Image, image), created))
                    }
                    _ => roots.strong(&res(Kind::Image, image)),
                }
            }
            roots.history(entries.iter().map(|(node, t)| (node, *t)), &self.rule);
        }
        for row in self.pods.iter()? {
            let (_, pod) = row?;
            if let Some(image) = field(pod.value(), "image") {
                let hold = pod_hold(pod.value(), now, self.keep_younger_than);
                roots.add(&res(Kind::Image, image), hold);
            }
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), redb::Error> {
        let Some(record) = self.table(node.kind).get(node.key.as_str())? else {
            return Ok(());
        };
        for (name, value) in fields(record.value()) {
            match (node.kind, name) {
                (Kind::Image, "manifest") => refs.strong(&res(Kind::Manifest, value)),
                (Kind::Manifest, "config") => refs.strong(&res(Kind::Config, value)),
                (Kind::Manifest, "layer") => refs.strong(&res(Kind::Layer, value)),
                _ => {}
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Removal: one redb transaction per node; the storage fails once on one blob.

#[derive(Debug)]
enum StorageError {
    Db(redb::Error),
    /// The simulated failure.
    Io(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Db(e) => write!(f, "database: {e}"),
            StorageError::Io(e) => f.write_str(e),
        }
    }
}

struct Prune<'r> {
    registry: &'r Registry,
    /// Fails the first time it is asked to remove this node.
    fail_once: Option<Res>,
    /// The sizes of removed blobs, for `clean` to report.
    sizes: HashMap<Res, u64>,
}

impl Prune<'_> {
    fn remove_rows(&mut self, batch: &[Res]) -> Result<(), redb::Error> {
        let txn = self.registry.db.begin_write()?;
        for node in batch {
            let mut table = txn.open_table(node.kind.table())?;
            // Already gone is fine.
            if let Some(record) = table.remove(node.key.as_str())? {
                let size = field(record.value(), "size").and_then(|s| s.parse().ok());
                self.sizes.insert(node.clone(), size.unwrap_or(0));
            }
        }
        bump_generation(&txn)?;
        txn.commit()?;
        Ok(())
    }
}

impl Remover<Res> for Prune<'_> {
    type Error = StorageError;

    fn remove(&mut self, batch: &[Res]) -> Result<(), StorageError> {
        if let Some(node) = batch.iter().find(|n| self.fail_once.as_ref() == Some(n)) {
            let message = format!(
                "s3: 503 SlowDown deleting {}/{} (simulated)",
                node.kind, node.key
            );
            self.fail_once = None;
            return Err(StorageError::Io(message));
        }
        self.remove_rows(batch).map_err(StorageError::Db)
    }

    /// The blob's bytes live in its row here; a registry would delete the
    /// blob's file or object at this point.
    fn clean(&mut self, node: &Res) -> Result<Option<u64>, StorageError> {
        Ok(self.sizes.remove(node))
    }
}

// ---------------------------------------------------------------------------
// The story: a registry with streams, tags and pods.

const MIB: u64 = 1 << 20;
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86400);

/// The blob the storage refuses to delete once.
fn failing() -> Res {
    res(Kind::Manifest, "web-2")
}

fn seed(registry: &Registry, now: SystemTime) -> Result<(), redb::Error> {
    let txn = registry.db.begin_write()?;
    {
        let mut images = txn.open_table(Kind::Image.table())?;
        let mut manifests = txn.open_table(Kind::Manifest.table())?;
        let mut layers = txn.open_table(Kind::Layer.table())?;
        let mut configs = txn.open_table(Kind::Config.table())?;
        let mut image = |name: &str, shared: &[&str]| -> Result<(), redb::Error> {
            let (app, config) = (format!("{name}-app"), format!("{name}-config"));
            let mut manifest = format!("size=2048\nconfig={config}\nlayer={app}\n");
            for layer in shared {
                manifest += &format!("layer={layer}\n");
            }
            images.insert(name, format!("manifest={name}").as_str())?;
            manifests.insert(name, manifest.as_str())?;
            layers.insert(app.as_str(), format!("size={}", 4 * MIB).as_str())?;
            configs.insert(config.as_str(), "size=6144")?;
            Ok(())
        };
        for name in ["web-1", "web-2"] {
            image(name, &["base", "deps-1"])?;
        }
        for name in ["web-3", "web-4", "web-5"] {
            image(name, &["base", "deps-2"])?;
        }
        for name in [
            "dev-1", "dev-2", "dev-3", "dev-4", "tool-1", "tool-2", "orphan-1",
        ] {
            image(name, &["base"])?;
        }
        layers.insert("base", format!("size={}", 30 * MIB).as_str())?;
        layers.insert("deps-1", format!("size={}", 12 * MIB).as_str())?;
        layers.insert("deps-2", format!("size={}", 12 * MIB).as_str())?;
    }
    let history = |revisions: &[(&str, Duration)]| -> String {
        let lines = revisions
            .iter()
            .map(|(image, ago)| format!("{} {image}", secs(now - *ago)));
        lines.collect::<Vec<_>>().join("\n")
    };
    txn.open_table(STREAMS)?
        .insert("shop/web", secs(now - 30 * DAY))?;
    let mut tags = txn.open_table(TAGS)?;
    let latest: Vec<(&str, Duration)> = ["web-5", "web-4", "web-3", "web-2", "web-1"]
        .into_iter()
        .zip(1..)
        .map(|(image, days)| (image, days * DAY))
        .collect();
    tags.insert("shop/web:latest", history(&latest).as_str())?;
    let dev = [
        ("dev-4", 20 * MINUTE),
        ("dev-3", 30 * MINUTE),
        ("dev-2", 40 * MINUTE),
        ("dev-1", 50 * MINUTE),
    ];
    tags.insert("shop/web:dev", history(&dev).as_str())?;
    drop(tags);
    let mut pods = txn.open_table(PODS)?;
    for (pod, phase, ago, image) in [
        ("web-canary", "Running", 6 * DAY, "web-1"),
        ("migrate", "Succeeded", 2 * DAY, "web-2"),
        ("batch", "Pending", 3 * DAY, "tool-1"),
        ("report", "Succeeded", 10 * MINUTE, "tool-2"),
    ] {
        let record = format!("phase={phase}\ncreated={}\nimage={image}", secs(now - ago));
        pods.insert(pod, record.as_str())?;
    }
    drop(pods);
    bump_generation(&txn)?;
    txn.commit()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Collecting and printing.

/// One collection: the plan, why each pruned image goes, and the stats.
struct Collected {
    plan: Plan<Res>,
    why: Vec<(Res, String)>,
    stats: Stats,
}

fn collect(
    collector: &mut Collector<Kind, (), String>,
    view: &mut View,
    now: SystemTime,
) -> Result<Collected, Box<dyn std::error::Error>> {
    let options = Options::default()
        .now(now)
        .explain(true)
        .sweep_order(SweepOrder::ReferrersFirst);
    let collection = collector.collect_with(view, &options)?;
    let plan = collection.plan().with_generation(view.generation);
    let why = plan
        .nodes()
        .iter()
        .filter(|node| node.kind == Kind::Image)
        .map(|node| {
            let reasons = collection.why_swept(node).unwrap_or_default();
            let text: Vec<String> = reasons.iter().map(|r| swept_because(r, now)).collect();
            (node.clone(), text.join("; "))
        })
        .collect();
    Ok(Collected {
        plan,
        why,
        stats: collection.stats().clone(),
    })
}

fn swept_because(why: &SweptBecause<'_, Res>, now: SystemTime) -> String {
    match why {
        SweptBecause::Unreachable => "untagged, no pod uses it".into(),
        SweptBecause::NotRetained { rank, created, .. } => {
            let old = now.duration_since(*created).unwrap_or_default();
            format!(
                "{} newest revision of its tag, {} old",
                ordinal(rank + 1),
                age(old)
            )
        }
        SweptBecause::WeaklyReferenced { by: None } => "a weak root (a finished pod)".into(),
        SweptBecause::WeaklyReferenced { by: Some(by) } => format!("weakly by {}", show(by)),
        other => format!("{other:?}"),
    }
}

fn print_plan(plan: &Plan<Res>) {
    for kind in KINDS {
        let keys: Vec<&str> = plan
            .nodes()
            .iter()
            .filter(|node| node.kind == kind)
            .map(|node| node.key.as_str())
            .collect();
        if !keys.is_empty() {
            println!("  {kind:<8}  {:>2}  {}", keys.len(), keys.join(", "));
        }
    }
}

fn print_report(report: &Report<Res, StorageError>) {
    let mut label = "removed";
    for node in &report.removed {
        println!("  {label:<8}  {}", show(node));
        label = "";
    }
    for failed in &report.failed {
        for node in &failed.batch {
            let why = match &failed.failure {
                Failure::Error(e) => e.to_string(),
                Failure::Panicked(message) => format!("panicked: {message}"),
            };
            println!("  {:<8}  {:<22}  {why}", "failed", show(node));
        }
    }
    for skip in &report.skipped {
        let why = match &skip.cause {
            Cause::NamedBy(by) => format!("still named by {} {}", by.kind, by.key),
            Cause::Kept => "kept by the remover".into(),
            Cause::Aborted => "the apply stopped".into(),
            other => format!("{other:?}"),
        };
        println!("  {:<8}  {:<22}  {why}", "skipped", show(&skip.node));
    }
    println!("  reclaimed {}", bytes(report.bytes_reclaimed));
}

/// Removes a temporary registry however `main` ends.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if args.help {
        println!("{USAGE}");
        return Ok(());
    }
    let (dir, temp) = match &args.dir {
        Some(dir) => (dir.clone(), TempDir(None)),
        None => {
            let dir = std::env::temp_dir().join(format!("registry-prune-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            (dir.clone(), TempDir(Some(dir)))
        }
    };
    fs::create_dir_all(&dir)?;
    let path = dir.join("registry.redb");
    let fresh = !path.exists();
    let registry = Registry::open(&path)?;
    // The clock, read once: the seed and every collection use it.
    let now = SystemTime::now();
    if fresh {
        seed(&registry, now)?;
    }
    let kept = if temp.0.is_some() {
        "removed at the end"
    } else {
        "kept"
    };
    println!("registry in {} ({kept})", path.display());
    let rows_before = registry.view(&args)?.rows()?;
    println!(
        "  {} images, {} blobs",
        rows_before
            .iter()
            .filter(|(k, _)| *k == Kind::Image)
            .count(),
        rows_before
            .iter()
            .filter(|(k, _)| *k != Kind::Image)
            .count(),
    );
    if fresh {
        println!(
            "  shop/web:latest  web-5 … web-1, a day apart; shop/web:dev  dev-4 … dev-1, 20-50m old"
        );
        println!("  pods             web-canary running web-1; migrate finished 2d ago, web-2;");
        println!("                   batch pending, tool-1; report finished 10m ago, tool-2");
        println!("  untagged         orphan-1, tool-1, tool-2");
    }

    // The dry run.
    let mut collector = Collector::new();
    let mut view = registry.view(&args)?;
    let generation = view.generation;
    let first = collect(&mut collector, &mut view, now)?;
    drop(view);
    let plan = &first.plan;
    println!(
        "\n== plan: {} to prune, referrers first (keep-tag-revisions {}, keep-younger-than {})",
        plan.len(),
        args.keep_tag_revisions,
        format_duration(args.keep_younger_than)
    );
    print_plan(plan);
    for (node, why) in &first.why {
        println!("  {:<8}  {:<22}  {why}", "why", show(node));
    }
    let kinds = &first.stats.roots_by_kind;
    println!(
        "  kept: {} tag revisions by rank or age, {} by running, pending or young pods; {} weak references keep nothing",
        kinds.retained, kinds.explicit, first.stats.weak_references
    );
    let view = registry.view(&args)?;
    let dry_run_clean = view.rows()? == rows_before && view.generation == generation;
    drop(view);
    if args.confirm {
        println!("\n== --confirm: applying the plan, one transaction per node");
    } else {
        println!("  dry run: nothing removed; --confirm removes it");
        println!("\n== applying the same plan, as --confirm would, one transaction per node");
    }
    let fail = failing();
    if plan.nodes().contains(&fail) {
        println!("  (the storage refuses {} {} once)", fail.kind, fail.key);
    }

    // Apply, at the generation the plan was made at.
    let mut remover = Prune {
        registry: &registry,
        fail_once: Some(fail.clone()),
        sizes: HashMap::new(),
    };
    let report = plan.apply(
        &mut remover,
        &ApplyOptions::default().batch_size(1).generation(generation),
    )?;
    print_report(&report);
    let failed: BTreeSet<Res> = report.failed.iter().flat_map(|f| f.batch.clone()).collect();
    let skipped: BTreeSet<Res> = report.skipped.iter().map(|s| s.node.clone()).collect();
    let left: BTreeSet<Res> = failed.union(&skipped).cloned().collect();
    let after_apply = registry.view(&args)?;
    let removed_gone = report
        .removed
        .iter()
        .all(|n| !after_apply.exists(n).unwrap_or(true));
    let left_there = left.iter().all(|n| after_apply.exists(n).unwrap_or(false));
    drop(after_apply);

    // The re-run: what the failure left, now that the storage is healthy.
    let mut view = registry.view(&args)?;
    let generation = view.generation;
    let second = collect(&mut collector, &mut view, now)?;
    drop(view);
    println!("\n== re-run: {} to prune", second.plan.len());
    print_plan(&second.plan);
    let report2 = second.plan.apply(
        &mut remover,
        &ApplyOptions::default().batch_size(1).generation(generation),
    )?;
    print_report(&report2);
    let third = collect(&mut collector, &mut registry.view(&args)?, now)?;
    println!("\n== again: {} to prune", third.plan.len());

    // Check what was printed: CI runs this example end to end.
    let planned: Vec<&Res> = plan.nodes().iter().collect();
    let accounted: Vec<&Res> = plan
        .nodes()
        .iter()
        .filter(|n| report.removed.contains(n) || left.contains(n))
        .collect();
    let expected_removed: Vec<Res> = plan
        .nodes()
        .iter()
        .filter(|n| !left.contains(n))
        .cloned()
        .collect();
    let each_once = report.removed.len() + failed.len() + skipped.len() == plan.len();
    let second_set: BTreeSet<Res> = second.plan.nodes().iter().cloned().collect();
    let all_removed: BTreeSet<Res> = report
        .removed
        .iter()
        .chain(&report2.removed)
        .cloned()
        .collect();
    let plan_set: BTreeSet<Res> = plan.nodes().iter().cloned().collect();
    let mut checks = vec![
        (dry_run_clean, "collecting and printing the plan removed nothing".to_string()),
        (
            accounted == planned && each_once && report.removed == expected_removed,
            "apply did exactly the dry run's plan: removed all of it but what failed or was skipped".to_string(),
        ),
        (removed_gone && left_there, "removed rows are gone, failed and skipped ones are there".to_string()),
        (second_set == left, "the re-run's plan is what the failure left".to_string()),
        (report2.is_complete() && all_removed == plan_set, "the re-run removed it: the two applies removed the dry run's plan".to_string()),
        (third.plan.is_empty(), "a third collection finds nothing".to_string()),
    ];
    if fresh {
        let story: BTreeSet<Res> = [
            res(Kind::Image, "web-2"),
            res(Kind::Image, "orphan-1"),
            res(Kind::Manifest, "web-2"),
            res(Kind::Manifest, "orphan-1"),
            res(Kind::Layer, "web-2-app"),
            res(Kind::Layer, "orphan-1-app"),
            res(Kind::Config, "web-2-config"),
            res(Kind::Config, "orphan-1-config"),
        ]
        .into();
        let defaults = Args {
            confirm: args.confirm,
            dir: args.dir.clone(),
            ..Args::default()
        };
        let order: Vec<Kind> = plan.nodes().iter().map(|n| n.kind).collect();
        let mut sorted = order.clone();
        sorted.sort_by_key(|k| (*k != Kind::Image, *k == Kind::Layer || *k == Kind::Config));
        let fail_skips: BTreeSet<Res> = [
            res(Kind::Layer, "web-2-app"),
            res(Kind::Config, "web-2-config"),
        ]
        .into();
        let view = registry.view(&args)?;
        let shared_kept = ["base", "deps-1", "deps-2"]
            .iter()
            .all(|l| view.exists(&res(Kind::Layer, l)).unwrap_or(false));
        let images_kept = ["web-1", "web-3", "dev-1", "tool-1", "tool-2"]
            .iter()
            .all(|i| view.exists(&res(Kind::Image, i)).unwrap_or(false));
        drop(view);
        if args == defaults {
            checks.push((plan_set == story, "the plan: web-2 (old revision, finished pod) and orphan-1 (untagged), their manifests, app layers and configs".to_string()));
            checks.push((images_kept, "kept: web-1 (running pod), web-3 (rank), dev-1 (age), tool-1 (pending pod), tool-2 (young pod)".to_string()));
            checks.push((
                failed == BTreeSet::from([fail.clone()])
                    && matches!(&report.failed[..], [f] if matches!(f.failure, Failure::Error(StorageError::Io(_)))),
                "the report lists the one simulated failure".to_string(),
            ));
            checks.push((
                skipped == fail_skips
                    && report
                        .skipped
                        .iter()
                        .all(|s| s.cause == Cause::NamedBy(fail.clone())),
                "it skipped what the failed manifest still names, and nothing else".to_string(),
            ));
            checks.push((
                report.bytes_reclaimed == 4 * MIB + 6144 + 2048,
                "it reclaimed orphan-1's manifest, app layer and config".to_string(),
            ));
            checks.push((
                shared_kept,
                "shared layers stay: base, deps-1 (web-1), deps-2".to_string(),
            ));
        }
        checks.push((
            order == sorted,
            "images first, then manifests, then layers and configs".to_string(),
        ));
    }
    let failures = checks.iter().filter(|(ok, _)| !ok).count();
    println!("\n== checks");
    for (ok, what) in &checks {
        println!("  {} {what}", if *ok { "ok    " } else { "FAILED" });
    }
    if failures > 0 {
        drop(temp);
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_ocs() {
        let args = parse(&[]).unwrap();
        assert!(!args.confirm, "a dry run by default");
        assert_eq!(args.keep_tag_revisions, 3);
        assert_eq!(args.keep_younger_than, Duration::from_secs(3600));
        assert_eq!(args.dir, None);
    }

    #[test]
    fn flags_with_spaces_or_equals() {
        let args = parse(&[
            "--confirm",
            "--keep-tag-revisions=5",
            "--keep-younger-than",
            "90m",
            "--dir=/tmp/r",
        ])
        .unwrap();
        assert!(args.confirm);
        assert_eq!(args.keep_tag_revisions, 5);
        assert_eq!(args.keep_younger_than, 90 * MINUTE);
        assert_eq!(args.dir, Some(PathBuf::from("/tmp/r")));
        assert!(!parse(&["--confirm=false"]).unwrap().confirm);
        assert!(parse(&["--confirm=maybe"]).is_err());
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["--keep-tag-revisions"]).is_err());
        assert!(parse(&["--keep-tag-revisions", "-1"]).is_err());
        assert!(parse(&["--keep-younger-than", "1y"]).is_err());
        assert!(parse(&["--prune-over-size-limit"]).is_err());
        assert!(parse(&["--help"]).unwrap().help);
    }

    #[test]
    fn durations_as_go_writes_them() {
        let d = |s: &str| parse_duration(s).unwrap();
        assert_eq!(d("60m"), Duration::from_secs(3600));
        assert_eq!(d("1h"), d("60m"));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("1h0m0s"), Duration::from_secs(3600));
        assert_eq!(d("300ms"), Duration::from_millis(300));
        assert_eq!(d("2us"), d("2µs"));
        assert_eq!(d(".5s"), Duration::from_millis(500));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d("+1s"), Duration::from_secs(1));
        for bad in [
            "",
            "1",
            "h",
            "-1h",
            "1d",
            "1..5h",
            ".h",
            "1h 30m",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_print_and_read_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(45), "45s"),
            (Duration::from_secs(90061), "25h1m1s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(age(50 * MINUTE), "50m");
        assert_eq!(age(4 * DAY + MINUTE), "4d");
        let ordinals: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .map(ordinal)
            .into();
        assert_eq!(
            ordinals,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }

    #[test]
    fn young_keeps_at_the_boundary_and_in_the_future() {
        let now = at(1_700_000_000);
        let hour = Duration::from_secs(3600);
        assert!(young(now - hour, now, hour));
        assert!(!young(now - hour - Duration::from_secs(1), now, hour));
        assert!(young(now + hour, now, hour));
    }

    #[test]
    fn pods_hold_their_image_as_openshift_has_it() {
        let now = at(1_700_000_000);
        let hour = Duration::from_secs(3600);
        let pod = |phase: &str, ago: Duration| {
            let record = format!("phase={phase}\ncreated={}\nimage=x", secs(now - ago));
            pod_hold(&record, now, hour)
        };
        assert_eq!(pod("Running", DAY), Strength::Strong);
        assert_eq!(pod("Pending", DAY), Strength::Strong);
        for done in ["Succeeded", "Failed", "Unknown"] {
            assert_eq!(pod(done, DAY), Strength::Weak, "{done}");
            assert_eq!(pod(done, 10 * MINUTE), Strength::Strong, "{done}, young");
        }
        // What it cannot read keeps.
        assert_eq!(pod("Evicted?", DAY), Strength::Strong);
        assert_eq!(
            pod_hold("phase=Succeeded\nimage=x", now, hour),
            Strength::Strong
        );
    }

    #[test]
    fn histories_and_fields() {
        let history = parse_history("200 web-2\n100 web-1\nnever web-0");
        assert_eq!(
            history,
            [
                ("web-2", Some(at(200))),
                ("web-1", Some(at(100))),
                ("web-0", None)
            ]
        );
        let record = "size=10\nconfig=c\nlayer=a\nlayer=b";
        assert_eq!(field(record, "size"), Some("10"));
        let layers: Vec<&str> = fields(record)
            .filter(|(k, _)| *k == "layer")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(layers, ["a", "b"]);
    }
}
