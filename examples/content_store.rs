//! A content and snapshot store the way containerd keeps one, on a real
//! embedded database, collected while a writer writes.
//!
//! ```text
//! <dir>/metadata.redb                      one redb table per resource type,
//!                                          keyed `<namespace>/<name>`; a row is
//!                                          its fields and labels, `name=value`
//!                                          a line
//! <dir>/blobs/sha256/<hex>                 content, shared by every namespace
//! <dir>/snapshots/<ns>/<snapshotter>/<key> a snapshot's directory
//! <dir>/ingests/<ns>/<ref>                 a write in progress
//! ```
//!
//! It pulls two images, runs a container, deletes one image, and collects:
//! `Collector::start` under the writers' lock with a redb read transaction
//! as the snapshot, `Marking::mark` over it while a writer pulls a third
//! image reusing a layer (reporting through the `Barrier`), and
//! `Marking::finish` under the lock over the live database. It prints the
//! plan (a dry run), why one layer is kept and one lease swept, applies the
//! plan through a `Remover` (metadata in one redb transaction per batch,
//! then the files), and checks that a second collection finds nothing.
//!
//! ```sh
//! cargo run --example content_store                      # in a temporary directory
//! cargo run --example content_store -- --dir PATH        # kept between runs
//! cargo run --release --example content_store -- --images 2000   # a large store
//! ```
//!
//! It checks what it printed and exits non-zero otherwise.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use resource_gc::{
    ApplyOptions, CollectionContext, Collector, Flow, Node, NodeSinkOf, Options, Progress, Reason,
    ReferenceSinkOf, Remover, RootKind, ScanCollector, ScanContext, ScanRoots, ScanSink, Step,
    Strength, SweepOrder, SweptBecause,
};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Resources and what their rows say: pure functions, tested below.

/// Resource types, like containerd's `gc.ResourceType`; one redb table each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Image,
    Container,
    Lease,
    Ingest,
    Content,
    Snapshot,
}

const KINDS: [Kind; 6] = [
    Kind::Image,
    Kind::Container,
    Kind::Lease,
    Kind::Ingest,
    Kind::Content,
    Kind::Snapshot,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Container => "container",
            Kind::Lease => "lease",
            Kind::Ingest => "ingest",
            Kind::Content => "content",
            Kind::Snapshot => "snapshot",
        }
    }

    fn table(self) -> TableDefinition<'static, &'static str, &'static str> {
        TableDefinition::new(self.name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Owned keys: redb hands keys out through guards, so nodes cannot borrow
/// them past a callback.
type Res = Node<Kind, String, String>;
type Barrier = resource_gc::Barrier<Kind, String, String>;

/// The store's generation, bumped by every write transaction.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Every namespace that ever had a row.
const NAMESPACES: TableDefinition<&str, ()> = TableDefinition::new("namespaces");

const REF_CONTENT: &str = "containerd.io/gc.ref.content";
const REF_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.";
const GC_ROOT: &str = "containerd.io/gc.root";
const GC_EXPIRE: &str = "containerd.io/gc.expire";
const GC_FLAT: &str = "containerd.io/gc.flat";

/// A row's table key: the namespace is part of it.
fn row_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A row's fields and labels, one `name=value` a line (`name` alone: empty).
fn fields(record: &str) -> impl Iterator<Item = (&str, &str)> {
    record
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| line.split_once('=').unwrap_or((line, "")))
}

fn field<'r>(record: &'r str, name: &str) -> Option<&'r str> {
    fields(record).find(|&(k, _)| k == name).map(|(_, v)| v)
}

/// Whether `label` is `prefix` or `prefix` followed by `.` or `/`, as
/// containerd reads `containerd.io/gc.ref.content[.suffix]`.
fn has_label_prefix(label: &str, prefix: &str) -> bool {
    label
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '/']))
}

/// What a row of `kind` references, with how strongly: containerd's rules.
fn references_of(kind: Kind, record: &str) -> Vec<(Kind, Cow<'_, str>, Strength)> {
    // A flat lease keeps what it holds with its structure, nothing more.
    let held = if kind == Kind::Lease && field(record, GC_FLAT).is_some() {
        Strength::Flat
    } else {
        Strength::Strong
    };
    let mut refs = Vec::new();
    for (name, value) in fields(record) {
        let reference = match (kind, name) {
            (Kind::Image, "target") => (Kind::Content, value.into(), Strength::Structural),
            (Kind::Container, "image") => (Kind::Image, value.into(), Strength::Strong),
            (Kind::Container, "snapshot") => (Kind::Snapshot, value.into(), Strength::Strong),
            (Kind::Lease, "content") => (Kind::Content, value.into(), held),
            (Kind::Lease, "snapshot") => (Kind::Snapshot, value.into(), held),
            (Kind::Lease, "ingest") => (Kind::Ingest, value.into(), held),
            (Kind::Snapshot, "parent") => (Kind::Snapshot, value.into(), Strength::Structural),
            (Kind::Content | Kind::Snapshot, label) if has_label_prefix(label, REF_CONTENT) => {
                (Kind::Content, value.into(), Strength::Strong)
            }
            (Kind::Content | Kind::Snapshot, label) => match label.strip_prefix(REF_SNAPSHOT) {
                // `gc.ref.snapshot.<snapshotter>[/…]=<key>` names `<snapshotter>/<key>`.
                Some(rest) if !rest.is_empty() => {
                    let snapshotter = rest.split('/').next().unwrap_or(rest);
                    let key = format!("{snapshotter}/{value}");
                    (Kind::Snapshot, key.into(), Strength::Strong)
                }
                _ => continue,
            },
            _ => continue,
        };
        refs.push(reference);
    }
    refs
}

/// How a row is a root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    No,
    Strong,
    /// Held through this instant.
    Until(SystemTime),
}

fn root_of(kind: Kind, record: &str) -> Root {
    match kind {
        Kind::Image | Kind::Container => Root::Strong,
        // An expiry the store cannot parse keeps: the safe side.
        Kind::Lease => match field(record, GC_EXPIRE) {
            None => Root::Strong,
            Some(at) => parse_rfc3339(at).map_or(Root::Strong, Root::Until),
        },
        // As containerd: an ingest is a root only until its expiry.
        Kind::Ingest => match field(record, "expire") {
            None => Root::No,
            Some(at) => parse_rfc3339(at).map_or(Root::Strong, Root::Until),
        },
        Kind::Content | Kind::Snapshot if field(record, GC_ROOT).is_some() => Root::Strong,
        Kind::Content | Kind::Snapshot => Root::No,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `t` as containerd writes `containerd.io/gc.expire`: RFC 3339, UTC.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, at or after 1970; `None` for
/// anything else.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(at, c)| b[at] != c) || !b"Tt ".contains(&b[10]) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let padded = format!("{:0<9}", &fraction[..len.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &fraction[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let secs = u64::try_from(secs - offset).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn sha256(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `sha256:` and the first 12 hex digits, for people.
fn short(key: &str) -> &str {
    let end = key.find("sha256:").map_or(key.len(), |at| at + 19);
    &key[..end.min(key.len())]
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        _ if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
    }
}

// ---------------------------------------------------------------------------
// The store: redb for metadata, files for payloads.

struct Store {
    db: Database,
    dir: PathBuf,
    /// The writers' lock: redb serialises writers itself; this also orders
    /// them with `Collector::start` and `Marking::finish`.
    writers: Mutex<()>,
}

impl Store {
    fn open(dir: &Path) -> Result<Store, redb::Error> {
        for sub in ["blobs/sha256", "snapshots", "ingests"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let db = Database::create(dir.join("metadata.redb"))?;
        let txn = db.begin_write()?;
        for kind in KINDS {
            txn.open_table(kind.table())?; // so that readers find every table
        }
        txn.open_table(META)?;
        txn.open_table(NAMESPACES)?;
        txn.commit()?;
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            writers: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.writers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join("blobs/sha256").join(hex)
    }

    fn snapshot_dir(&self, namespace: &str, key: &str) -> PathBuf {
        self.dir.join("snapshots").join(namespace).join(key)
    }

    fn ingest_dir(&self, namespace: &str, reference: &str) -> PathBuf {
        self.dir.join("ingests").join(namespace).join(reference)
    }

    /// Writes a blob by its digest (content first, metadata after).
    fn write_blob(&self, data: &[u8]) -> io::Result<String> {
        let digest = sha256(data);
        let path = self.blob_path(&digest);
        if !path.exists() {
            fs::write(path, data)?;
        }
        Ok(digest)
    }

    /// One write transaction under the writers' lock; `barrier`, if given,
    /// hears of every root and reference target the transaction adds.
    fn write<T>(
        &self,
        barrier: Option<&Barrier>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, redb::Error>,
    ) -> Result<T, redb::Error> {
        let _writers = self.lock();
        let txn = self.db.begin_write()?;
        let out = f(&mut Tx { txn: &txn, barrier })?;
        bump_generation(&txn)?;
        txn.commit()?;
        Ok(out)
    }

    /// A read transaction: a consistent snapshot of the metadata.
    fn view(&self) -> Result<View, redb::Error> {
        let txn = self.db.begin_read()?;
        let tables = KINDS
            .iter()
            .map(|kind| txn.open_table(kind.table()))
            .collect::<Result<Vec<_>, _>>()?;
        let generation = txn
            .open_table(META)?
            .get("generation")?
            .map_or(0, |g| g.value());
        let namespaces = txn.open_table(NAMESPACES)?;
        let namespaces = namespaces
            .iter()?
            .map(|row| Ok(row?.0.value().to_string()))
            .collect::<Result<_, redb::Error>>()?;
        Ok(View {
            tables,
            generation,
            namespaces,
            progress: None,
            checkpoints: 0,
        })
    }
}

fn bump_generation(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    let generation = meta.get("generation")?.map_or(0, |g| g.value());
    meta.insert("generation", generation + 1)?;
    Ok(())
}

/// A write transaction, with the write barrier's rule built in.
struct Tx<'t> {
    txn: &'t WriteTransaction,
    barrier: Option<&'t Barrier>,
}

impl Tx<'_> {
    fn put(&mut self, kind: Kind, ns: &str, name: &str, record: &str) -> Result<(), redb::Error> {
        let key = row_key(ns, name);
        self.txn
            .open_table(kind.table())?
            .insert(key.as_str(), record)?;
        self.txn.open_table(NAMESPACES)?.insert(ns, ())?;
        if let Some(barrier) = self.barrier {
            // Every root added, and the target of every reference added.
            if root_of(kind, record) != Root::No {
                barrier.keep_view(&Node::new(kind, ns, name));
            }
            for (kind, target, strength) in references_of(kind, record) {
                if strength != Strength::Weak {
                    barrier.keep_view(&Node::new(kind, ns, &*target));
                }
            }
        }
        Ok(())
    }

    fn delete(&mut self, kind: Kind, ns: &str, name: &str) -> Result<bool, redb::Error> {
        let mut table = self.txn.open_table(kind.table())?;
        Ok(table.remove(row_key(ns, name).as_str())?.is_some())
    }
}

/// The metadata as one read transaction saw it: the snapshot of the long
/// part, or, opened under the writers' lock, the live store.
struct View {
    tables: Vec<ReadOnlyTable<&'static str, &'static str>>,
    generation: u64,
    namespaces: Vec<String>,
    progress: Option<ProgressBar>,
    checkpoints: usize,
}

impl View {
    fn table(&self, kind: Kind) -> &ReadOnlyTable<&'static str, &'static str> {
        &self.tables[KINDS
            .iter()
            .position(|&k| k == kind)
            .expect("every kind has a table")]
    }

    fn exists(&self, node: &Res) -> Result<bool, redb::Error> {
        let key = row_key(&node.namespace, &node.key);
        Ok(self.table(node.kind).get(key.as_str())?.is_some())
    }

    /// The rows that are roots, held strongly: for ever (`None`), or until
    /// a lease's deadline.
    fn each_root(
        &self,
        mut f: impl FnMut(&Node<Kind, &str, &str>, Option<SystemTime>),
    ) -> Result<(), redb::Error> {
        self.each_row(|kind, ns, name, record| {
            let node = Node::new(kind, ns, name);
            match root_of(kind, record) {
                Root::No => {}
                Root::Strong => f(&node, None),
                Root::Until(at) => f(&node, Some(at)),
            }
        })
    }

    /// Rows of every kind, as `(kind, namespace, name, record)`.
    fn each_row(&self, mut f: impl FnMut(Kind, &str, &str, &str)) -> Result<(), redb::Error> {
        for kind in KINDS {
            for row in self.table(kind).iter()? {
                let (key, record) = row?;
                if let Some((ns, name)) = key.value().split_once('/') {
                    f(kind, ns, name, record.value());
                }
            }
        }
        Ok(())
    }
}

impl CollectionContext for View {
    type Kind = Kind;
    type Namespace = String;
    type Key = String;
    type Error = redb::Error;

    /// Every row. Images and containers are roots, so never swept; listing
    /// them keeps `dead_edges` meaning "dangling".
    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), redb::Error> {
        self.each_row(|kind, ns, name, _| nodes.push_view(&Node::new(kind, ns, name)))
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), redb::Error> {
        self.each_root(|node, until| match until {
            None => roots.add_view(node, Strength::Strong),
            Some(at) => roots.expiring_view(node, Strength::Strong, at),
        })
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), redb::Error> {
        let key = row_key(&node.namespace, &node.key);
        // A node with no row (a dead edge's target) references nothing.
        let Some(record) = self.table(node.kind).get(key.as_str())? else {
            return Ok(());
        };
        for (kind, target, strength) in references_of(node.kind, record.value()) {
            refs.add_view(
                &Node::new(kind, node.namespace.as_str(), &*target),
                strength,
            );
        }
        Ok(())
    }

    fn checkpoint(&mut self, progress: &Progress) -> Flow {
        self.checkpoints += 1;
        if let Some(bar) = &self.progress {
            bar.set_message(progress.phase.to_string());
            bar.set_length(progress.nodes_listed as u64);
            bar.set_position(progress.nodes_expanded as u64);
        }
        Flow::Continue
    }
}

/// The scan path over the same read transaction: each row listed with the
/// references its labels name, as views into redb's pages, so no key is
/// copied; garbage comes back as places in this walk.
impl ScanContext for View {
    type Kind = Kind;
    type Namespace = String;
    type Key = String;
    type Error = redb::Error;

    fn scan(&mut self, nodes: &mut ScanSink<'_, Kind, String, String>) -> Result<(), redb::Error> {
        self.each_row(|kind, ns, name, record| {
            let mut node = nodes.push_view(&Node::new(kind, ns, name));
            for (target_kind, target, strength) in references_of(kind, record) {
                node.add_view(&Node::new(target_kind, ns, &*target), strength);
            }
        })
    }

    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, Kind, String, String>,
    ) -> Result<(), redb::Error> {
        self.each_root(|node, until| match until {
            None => roots.add_view(node, Strength::Strong),
            Some(at) => roots.expiring_view(node, Strength::Strong, at),
        })
    }
}

impl View {
    /// The rows at `places` (ascending) of a walk in `each_row`'s order.
    fn rows_at(&self, places: impl Iterator<Item = u32>) -> Result<BTreeSet<Res>, redb::Error> {
        let mut places = places.peekable();
        let mut place = 0u32;
        let mut rows = BTreeSet::new();
        self.each_row(|kind, ns, name, _| {
            if places.next_if_eq(&place).is_some() {
                rows.insert(Node::new(kind, ns.to_string(), name.to_string()));
            }
            place += 1;
        })?;
        Ok(rows)
    }
}

// ---------------------------------------------------------------------------
// Removal: metadata in one transaction per batch, then the files.

struct Remove<'s> {
    store: &'s Store,
    transactions: usize,
    /// Files and directories deleted, with their sizes.
    deleted: Vec<(PathBuf, u64)>,
    /// Blobs whose metadata went but whose file another namespace holds.
    shared: Vec<(PathBuf, String)>,
}

impl Remover<Res> for Remove<'_> {
    type Error = redb::Error;

    fn remove(&mut self, batch: &[Res]) -> Result<(), redb::Error> {
        let txn = self.store.db.begin_write()?;
        for node in batch {
            // Already gone is fine.
            let mut table = txn.open_table(node.kind.table())?;
            table.remove(row_key(&node.namespace, &node.key).as_str())?;
        }
        bump_generation(&txn)?;
        txn.commit()?;
        self.transactions += 1;
        Ok(())
    }

    fn clean(&mut self, node: &Res) -> Result<Option<u64>, redb::Error> {
        let path = match node.kind {
            Kind::Content => {
                // Blobs are shared by namespaces: the file goes with the last row.
                let view = self.store.view()?;
                for ns in &view.namespaces {
                    if view.exists(&Node::new(Kind::Content, ns.clone(), node.key.clone()))? {
                        let path = self.store.blob_path(&node.key);
                        self.shared.push((path, ns.clone()));
                        return Ok(Some(0));
                    }
                }
                self.store.blob_path(&node.key)
            }
            Kind::Snapshot => self.store.snapshot_dir(&node.namespace, &node.key),
            Kind::Ingest => self.store.ingest_dir(&node.namespace, &node.key),
            _ => return Ok(None),
        };
        let size = remove_path(&path)?;
        self.deleted.push((path, size));
        Ok(Some(size))
    }
}

/// Removes a file or a directory tree; returns the bytes its files held.
fn remove_path(path: &Path) -> io::Result<u64> {
    let size = disk_usage(path)?;
    let removed = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(size),
    }
}

fn disk_usage(path: &Path) -> io::Result<u64> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::read_dir(path)?
            .map(|entry| disk_usage(&entry?.path()))
            .sum(),
        Ok(meta) => Ok(meta.len()),
    }
}

// ---------------------------------------------------------------------------
// Writing the story: pulls, a container, leases.

/// What each key is, for printing.
#[derive(Default)]
struct Names(BTreeMap<String, String>);

impl Names {
    fn of(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
}

struct Pulled {
    /// `(digest, what)` of every blob written.
    blobs: Vec<(String, String)>,
    /// Snapshot keys, bottom first.
    chain: Vec<String>,
}

/// A layer: `size` bytes of `name`.
fn layer(name: &str, size: usize) -> Vec<u8> {
    let line = format!("{name}\n");
    line.repeat(size / line.len() + 1).into_bytes()
}

/// Pulls an image into `ns`: blobs first, then one transaction of
/// metadata; with `unpack`, snapshots chained as containerd unpacks
/// layers; with `arm64`, an index that also names an arm64 manifest that
/// is never pulled (a dead reference).
fn pull(
    store: &Store,
    barrier: Option<&Barrier>,
    ns: &str,
    image: &str,
    layers: &[(&str, usize)],
    unpack: bool,
    arm64: bool,
) -> Result<Pulled, redb::Error> {
    let mut blobs = Vec::new();
    let mut digests = Vec::new();
    for &(name, size) in layers {
        let data = layer(name, size);
        let digest = store.write_blob(&data)?;
        blobs.push((digest.clone(), format!("layer {name}")));
        digests.push((digest, data));
    }
    // Chain ids: chain(n) = sha256(chain(n-1) + " " + diff_id(n)).
    let mut chain: Vec<String> = Vec::new();
    for (digest, _) in &digests {
        chain.push(match chain.last() {
            None => digest.clone(),
            Some(below) => sha256(format!("{below} {digest}").as_bytes()),
        });
    }
    let chain: Vec<String> = chain.iter().map(|id| format!("overlayfs/{id}")).collect();
    let diff_ids: Vec<String> = digests.iter().map(|(d, _)| format!("\"{d}\"")).collect();
    let config = store.write_blob(
        format!(
            "{{\"architecture\":\"amd64\",\"rootfs\":{{\"diff_ids\":[{}]}}}}",
            diff_ids.join(",")
        )
        .as_bytes(),
    )?;
    let tag = image.rsplit('/').next().unwrap_or(image);
    blobs.push((config.clone(), format!("config {tag}")));
    let layer_json: Vec<String> = digests
        .iter()
        .map(|(d, _)| format!("{{\"digest\":\"{d}\"}}"))
        .collect();
    let manifest = store.write_blob(
        format!(
            "{{\"config\":{{\"digest\":\"{config}\"}},\"layers\":[{}]}}",
            layer_json.join(",")
        )
        .as_bytes(),
    )?;
    blobs.push((manifest.clone(), format!("manifest {tag}")));
    let mut index = None;
    if arm64 {
        let missing = sha256(format!("arm64 manifest of {image}").as_bytes());
        let digest = store.write_blob(
            format!(
                "{{\"manifests\":[{{\"digest\":\"{manifest}\"}},{{\"digest\":\"{missing}\"}}]}}"
            )
            .as_bytes(),
        )?;
        blobs.push((digest.clone(), format!("index {tag}")));
        index = Some((digest, missing));
    }
    if unpack {
        for (key, (_, data)) in chain.iter().zip(&digests) {
            let dir = store.snapshot_dir(ns, key);
            fs::create_dir_all(&dir)?;
            fs::write(dir.join("layer"), data)?;
        }
    }
    store.write(barrier, |tx| {
        for (digest, data) in &digests {
            tx.put(Kind::Content, ns, digest, &format!("size={}", data.len()))?;
        }
        let mut record = String::from("size=0\n");
        if unpack && let Some(top) = chain.last() {
            let (snapshotter, key) = top.split_once('/').expect("snapshotter/key");
            record += &format!("{REF_SNAPSHOT}{snapshotter}={key}\n");
        }
        tx.put(Kind::Content, ns, &config, &record)?;
        let mut record = format!("{REF_CONTENT}.config={config}\n");
        for (i, (digest, _)) in digests.iter().enumerate() {
            record += &format!("{REF_CONTENT}.l.{i}={digest}\n");
        }
        tx.put(Kind::Content, ns, &manifest, &record)?;
        if let Some((index, missing)) = &index {
            let record = format!("{REF_CONTENT}.m.0={manifest}\n{REF_CONTENT}.m.1={missing}\n");
            tx.put(Kind::Content, ns, index, &record)?;
        }
        if unpack {
            for (i, key) in chain.iter().enumerate() {
                let record = i
                    .checked_sub(1)
                    .map_or(String::new(), |below| format!("parent={}", chain[below]));
                tx.put(Kind::Snapshot, ns, key, &record)?;
            }
        }
        let target = index.as_ref().map_or(&manifest, |(index, _)| index);
        tx.put(Kind::Image, ns, image, &format!("target={target}"))
    })?;
    Ok(Pulled {
        blobs,
        chain: if unpack { chain } else { Vec::new() },
    })
}

const NS: &str = "default";
const TEAM: &str = "team-b";
const APP_V1: &str = "docker.io/library/app:v1";
const APP_V2: &str = "docker.io/library/app:v2";
const APP_V3: &str = "docker.io/library/app:v3";
const BASE: (&str, usize) = ("debian base", 48 << 10);
const PYTHON: (&str, usize) = ("python runtime", 32 << 10);

/// What the story expects of the collection.
struct Story {
    names: Names,
    /// The layer app:v3 reuses: garbage in the snapshot, kept by the barrier.
    reused: Res,
    /// A layer kept through image → index → manifest.
    base: Res,
    expired_lease: Res,
    /// What the first collection must sweep.
    garbage: BTreeSet<Res>,
}

fn res(kind: Kind, ns: &str, key: &str) -> Res {
    Node::new(kind, ns.to_string(), key.to_string())
}

fn line(verb: &str, what: &str, detail: &str) {
    println!("  {verb:<8} {what:<38} {detail}");
}

fn build(store: &Store, fillers: usize) -> Result<Story, redb::Error> {
    let mut names = Names::default();
    let mut note = |pulled: &Pulled| {
        for (digest, what) in &pulled.blobs {
            names.0.insert(digest.clone(), what.clone());
        }
    };
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);

    let v1 = pull(
        store,
        None,
        NS,
        APP_V1,
        &[BASE, PYTHON, ("app v1", 8 << 10)],
        true,
        false,
    )?;
    note(&v1);
    line(
        "pulled",
        &format!("{NS}/{APP_V1}"),
        "manifest, config, 3 layers, unpacked",
    );
    let v2 = pull(
        store,
        None,
        NS,
        APP_V2,
        &[BASE, ("app v2", 8 << 10)],
        true,
        true,
    )?;
    note(&v2);
    line(
        "pulled",
        &format!("{NS}/{APP_V2}"),
        "index (its arm64 manifest never pulled)",
    );
    let team = pull(
        store,
        None,
        TEAM,
        APP_V1,
        &[BASE, PYTHON, ("app v1", 8 << 10)],
        false,
        false,
    )?;
    note(&team);
    line(
        "pulled",
        &format!("{TEAM}/{APP_V1}"),
        "the same digests, another namespace",
    );

    // A container: its read-write snapshot on top of app:v2's chain.
    let rw = "overlayfs/web-rw";
    fs::create_dir_all(store.snapshot_dir(NS, rw))?;
    fs::write(
        store.snapshot_dir(NS, rw).join("upper"),
        layer("web writes", 4 << 10),
    )?;
    store.write(None, |tx| {
        let parent = v2.chain.last().expect("app:v2 is unpacked");
        tx.put(Kind::Snapshot, NS, rw, &format!("parent={parent}"))?;
        tx.put(
            Kind::Container,
            NS,
            "web",
            &format!("image={APP_V2}\nsnapshot={rw}"),
        )
    })?;
    line(
        "ran",
        &format!("{NS}/web"),
        "on app:v2, snapshot overlayfs/web-rw",
    );

    // An abandoned pull: its lease expired an hour ago; it held a blob.
    let partial = store.write_blob(&layer("half a layer", 16 << 10))?;
    names
        .0
        .insert(partial.clone(), "layer of an abandoned pull".into());
    let expire = rfc3339(now - hour);
    store.write(None, |tx| {
        tx.put(Kind::Content, NS, &partial, "size=16384")?;
        tx.put(
            Kind::Lease,
            NS,
            "pull-7",
            &format!("{GC_EXPIRE}={expire}\ncontent={partial}"),
        )
    })?;
    line(
        "leased",
        &format!("{NS}/pull-7"),
        &format!("expired {expire}"),
    );

    // A flat lease over an exported snapshot: its parent chain stays
    // (structural), the blob its label names does not.
    let cache = store.write_blob(&layer("build cache", 12 << 10))?;
    names.0.insert(cache.clone(), "build cache".into());
    for (key, name) in [
        ("overlayfs/build-base", "build base"),
        ("overlayfs/build-top", "build top"),
    ] {
        fs::create_dir_all(store.snapshot_dir(NS, key))?;
        fs::write(
            store.snapshot_dir(NS, key).join("layer"),
            layer(name, 4 << 10),
        )?;
        names.0.insert(key.into(), format!("snapshot {name}"));
    }
    store.write(None, |tx| {
        tx.put(Kind::Content, NS, &cache, "size=12288")?;
        tx.put(Kind::Snapshot, NS, "overlayfs/build-base", "")?;
        let record = format!("parent=overlayfs/build-base\n{REF_CONTENT}.cache={cache}");
        tx.put(Kind::Snapshot, NS, "overlayfs/build-top", &record)?;
        tx.put(
            Kind::Lease,
            NS,
            "export-1",
            &format!("{GC_FLAT}=true\nsnapshot=overlayfs/build-top"),
        )
    })?;
    line(
        "leased",
        &format!("{NS}/export-1"),
        "flat, over snapshot overlayfs/build-top",
    );

    // A write in progress, held until its expiry; a blob rooted by label.
    let upload = "upload-3f2a";
    fs::create_dir_all(store.ingest_dir(NS, upload))?;
    fs::write(
        store.ingest_dir(NS, upload).join("data"),
        layer("partial upload", 2 << 10),
    )?;
    let key = store.write_blob(b"-----BEGIN PUBLIC KEY-----\n")?;
    names.0.insert(key.clone(), "signing key".into());
    store.write(None, |tx| {
        tx.put(
            Kind::Ingest,
            NS,
            upload,
            &format!("expire={}", rfc3339(now + hour)),
        )?;
        tx.put(
            Kind::Content,
            NS,
            &key,
            &format!("size=27\n{GC_ROOT}={}", rfc3339(now)),
        )
    })?;
    line("ingest", &format!("{NS}/{upload}"), "expires in an hour");
    line("rooted", &format!("{NS}/{}", short(&key)), GC_ROOT);

    if fillers > 0 {
        let started = Instant::now();
        build_fillers(store, fillers)?;
        let what = format!("{fillers} images, every other one deleted");
        line("filled", &format!("{NS}/docker.io/fill/*"), &what);
        println!("           in {:.1?}", started.elapsed());
    }

    store.write(None, |tx| tx.delete(Kind::Image, NS, APP_V1))?;
    line("deleted", &format!("{NS}/{APP_V1}"), "");

    let digest_of = |what: &str| {
        let found = v1.blobs.iter().find(|(_, w)| w == what);
        found.expect("app:v1 has it").0.clone()
    };
    for (key, layer) in v1
        .chain
        .iter()
        .zip(["debian base", "python runtime", "app v1"])
    {
        names.0.insert(key.clone(), format!("unpacked {layer}"));
    }
    let garbage = BTreeSet::from([
        res(Kind::Content, NS, &digest_of("manifest app:v1")),
        res(Kind::Content, NS, &digest_of("config app:v1")),
        res(Kind::Content, NS, &digest_of("layer app v1")),
        res(Kind::Snapshot, NS, &v1.chain[2]),
        res(Kind::Lease, NS, "pull-7"),
        res(Kind::Content, NS, &partial),
        res(Kind::Content, NS, &cache),
    ]);
    Ok(Story {
        reused: res(Kind::Content, NS, &digest_of("layer python runtime")),
        base: res(Kind::Content, NS, &digest_of("layer debian base")),
        expired_lease: res(Kind::Lease, NS, "pull-7"),
        names,
        garbage,
    })
}

/// Scale mode: `count` images of three blobs each, sharing 16 layers, in
/// transactions of 500 images; every other one deleted.
fn build_fillers(store: &Store, count: usize) -> Result<(), redb::Error> {
    let shared: Vec<String> = (0..16)
        .map(|i| store.write_blob(&layer(&format!("fill shared {i}"), 1024)))
        .collect::<Result<_, _>>()?;
    let mut start = 0;
    while start < count {
        let end = (start + 500).min(count);
        let mut rows = Vec::new();
        for i in start..end {
            let own = store.write_blob(&layer(&format!("fill layer {i}"), 512))?;
            let config = store.write_blob(format!("{{\"fill\":{i}}}").as_bytes())?;
            // Odd and even images share each layer: deleting the even ones leaves it.
            let shared = &shared[(i / 2) % shared.len()];
            let manifest = store.write_blob(
                format!("{{\"fill\":{i},\"layers\":[\"{shared}\",\"{own}\"]}}").as_bytes(),
            )?;
            let record = format!(
                "{REF_CONTENT}.config={config}\n{REF_CONTENT}.l.0={shared}\n{REF_CONTENT}.l.1={own}"
            );
            rows.push((i, own, config, manifest, record));
        }
        store.write(None, |tx| {
            for digest in &shared {
                tx.put(Kind::Content, NS, digest, "size=1024")?;
            }
            for (i, own, config, manifest, record) in &rows {
                tx.put(Kind::Content, NS, own, "size=512")?;
                tx.put(Kind::Content, NS, config, "")?;
                tx.put(Kind::Content, NS, manifest, record)?;
                tx.put(
                    Kind::Image,
                    NS,
                    &format!("docker.io/fill/{i}:latest"),
                    &format!("target={manifest}"),
                )?;
            }
            Ok(())
        })?;
        start = end;
    }
    store.write(None, |tx| {
        for i in (0..count).step_by(2) {
            tx.delete(Kind::Image, NS, &format!("docker.io/fill/{i}:latest"))?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Printing.

fn describe(node: &Res, names: &Names) -> String {
    let key = match node.kind {
        Kind::Content | Kind::Snapshot => short(&node.key),
        _ => &node.key,
    };
    let line = format!(
        "{:<9} {:<7} {:<29} {}",
        node.kind,
        node.namespace,
        key,
        names.of(&node.key)
    );
    line.trim_end().to_string()
}

fn reason(reason: Reason) -> &'static str {
    match reason {
        Reason::Root(RootKind::Explicit) => "root",
        Reason::Root(RootKind::Lease) => "root: lease, not expired",
        Reason::Root(RootKind::Written) => "root: reported by a writer",
        Reason::Root(_) => "root",
        Reason::Reference(Strength::Strong) => "strong reference",
        Reason::Reference(Strength::Flat) => "flat reference",
        Reason::Reference(Strength::Structural) => "structural reference",
        Reason::Reference(_) => "reference",
        Reason::BackReference => "lives with",
        _ => "?",
    }
}

fn print_why_live(node: &Res, path: &[Step<'_, Res>], names: &Names) {
    let name = names.of(&node.key);
    println!("\nwhy is {name} ({} {}) live?", node.kind, short(&node.key));
    for step in path {
        println!(
            "  {:<27} {}",
            reason(step.reason),
            describe(step.node, names)
        );
    }
}

fn swept_because(why: &SweptBecause<'_, Res>) -> String {
    match why {
        SweptBecause::Unreachable => "nothing live refers to it".into(),
        SweptBecause::LeaseExpired { by: None, at } => {
            format!("a lease, expired at {}", rfc3339(*at))
        }
        SweptBecause::LeaseExpired { by: Some(by), at } => {
            format!("held by {by}, whose lease expired at {}", rfc3339(*at))
        }
        SweptBecause::WeaklyReferenced { by } => format!("only weakly referenced by {by:?}"),
        other => format!("{other:?}"),
    }
}

/// Where `--images` sends its progress: a bar on a terminal, nothing
/// elsewhere.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("  {msg:<9} [{bar:30}] {pos}/{len} nodes expanded")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

// ---------------------------------------------------------------------------

struct Args {
    dir: Option<PathBuf>,
    images: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        dir: None,
        images: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => args.dir = Some(it.next().ok_or("--dir needs a path")?.into()),
            "--images" => {
                let n = it.next().ok_or("--images needs a number")?;
                args.images = n.parse().map_err(|e| format!("--images {n}: {e}"))?;
            }
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; use --dir PATH, --images N"
                ));
            }
        }
    }
    Ok(args)
}

/// Removes a temporary store however `main` ends.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let args = args()?;
    let (dir, _temp) = match &args.dir {
        Some(dir) => (dir.clone(), TempDir(None)),
        None => {
            let dir = std::env::temp_dir().join(format!("content-store-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            (dir.clone(), TempDir(Some(dir)))
        }
    };
    // A store kept from an earlier run already has app:v3, and more garbage.
    let fresh = !dir.join("metadata.redb").exists();
    let store = Arc::new(Store::open(&dir)?);
    let kept = if _temp.0.is_some() {
        "removed at the end"
    } else {
        "kept"
    };
    println!("store in {} ({kept})\n", dir.display());

    let story = build(&store, args.images)?;
    let names = &story.names;

    // A collection in two parts, while a writer pulls app:v3, which reuses
    // app:v1's python layer: garbage in the snapshot, live at the finish.
    let mut collector = Collector::new();
    let barrier = collector.barrier();
    let options = Options::default()
        .explain(true)
        .sweep_order(SweepOrder::ReferrersFirst);
    let (go, wait) = mpsc::channel::<()>();
    let writer = thread::spawn({
        let (store, barrier) = (Arc::clone(&store), barrier.clone());
        move || {
            wait.recv().ok();
            let layers = [BASE, PYTHON, ("app v3", 8 << 10)];
            pull(&store, Some(&barrier), NS, APP_V3, &layers, true, false)
        }
    });

    println!("\n== collecting, while a writer pulls {APP_V3}");
    let (mut marking, mut snapshot) = {
        let _writers = store.lock();
        (collector.start(&options), store.view()?)
    };
    if args.images > 0 {
        snapshot.progress = Some(progress_bar());
    }
    let _ = marking.step(&mut snapshot, 1)?; // the listing: the writer goes after it
    go.send(())?;
    marking.mark(&mut snapshot)?;
    let v3 = writer.join().expect("the writer does not panic")?;
    let reused = names.of(&story.reused.key);
    println!("  writer: pulled {APP_V3} during the mark, reusing {reused}");
    if let Some(bar) = snapshot.progress.take() {
        bar.finish_and_clear();
        println!(
            "  progress: {} checkpoints fed the bar",
            snapshot.checkpoints
        );
    }

    // The short part, under the lock: finish, plan, apply, release.
    let writers = store.lock();
    let finish_started = Instant::now();
    let mut live = store.view()?;
    let collection = marking.finish(&mut live)?;
    let finish_time = finish_started.elapsed();
    let stats = collection.stats().clone();
    println!(
        "  listed {}, live {}, swept {}; {} reports from the writer",
        stats.nodes_listed, stats.nodes_marked, stats.nodes_swept, stats.reported
    );
    println!(
        "  mark {:.1?} with writers writing; finish {:.1?} under the lock",
        stats.mark_time, finish_time
    );

    // The dry run.
    let plan = collection.plan().with_generation(live.generation);
    println!(
        "\n== dry run: the plan, referrers first ({} nodes)",
        plan.len()
    );
    let mut fillers = 0;
    for node in plan.nodes() {
        if names.0.contains_key(&node.key) || node.kind == Kind::Lease {
            println!("  {}", describe(node, names));
        } else {
            fillers += 1;
        }
    }
    if fillers > 0 {
        println!("  … and {fillers} nodes of deleted filler images");
    }
    let reused_path = collection.why_live(&story.reused).unwrap_or_default();
    let base_path = collection.why_live(&story.base).unwrap_or_default();
    print_why_live(&story.base, &base_path, names);
    print_why_live(&story.reused, &reused_path, names);
    let why_swept = collection
        .why_swept(&story.expired_lease)
        .unwrap_or_default();
    println!("\nwhy is lease {} swept?", story.expired_lease.key);
    for why in &why_swept {
        println!("  {}", swept_because(why));
    }
    let kept_by_writer =
        reused_path.first().map(|s| s.reason) == Some(Reason::Root(RootKind::Written));
    let lease_expired = matches!(why_swept.as_slice(), [SweptBecause::LeaseExpired { .. }]);
    drop((reused_path, base_path, why_swept));

    // The same question to the scan path, over the live store as the lock
    // holds it: one walk of the rows with their labels, no key kept. And,
    // for the time, a fresh `Collector` in one part over the same view.
    let scan_view = store.view()?;
    let scan_started = Instant::now();
    let mut scanner = ScanCollector::new();
    let scanned = scanner.collect(&mut store.view()?)?;
    let scan_time = scan_started.elapsed();
    let scan_garbage = scan_view.rows_at(scanned.garbage())?;
    let node_started = Instant::now();
    let one_part = Collector::new()
        .collect(&mut store.view()?)?
        .garbage()
        .len();
    let node_time = node_started.elapsed();
    let same_as_plan = scan_garbage.len() == plan.len()
        && plan.nodes().iter().all(|node| scan_garbage.contains(node));
    println!("\n== the scan path, same store");
    println!(
        "  {} nodes to sweep, {} the plan's; scan {:.1?}, one-part Collector {:.1?} ({one_part} nodes)",
        scan_garbage.len(),
        if same_as_plan { "exactly" } else { "NOT" },
        scan_time,
        node_time,
    );
    let scan_agrees = same_as_plan && one_part == plan.len();
    drop((scanned, scan_view));

    // Apply, at the generation the plan was made at.
    let mut remover = Remove {
        store: &store,
        transactions: 0,
        deleted: Vec::new(),
        shared: Vec::new(),
    };
    let generation = store.view()?.generation;
    let report = plan.apply(
        &mut remover,
        &ApplyOptions::default().generation(generation),
    )?;
    drop(collection);
    drop(writers);
    println!("\n== apply");
    println!(
        "  removed {} (metadata in {} transaction{}), skipped {}, failed {}, uncleaned {}",
        report.removed.len(),
        remover.transactions,
        if remover.transactions == 1 { "" } else { "s" },
        report.skipped.len(),
        report.failed.len(),
        report.uncleaned.len()
    );
    println!(
        "  deleted {} files and directories, {} reclaimed",
        remover.deleted.len(),
        bytes(report.bytes_reclaimed)
    );
    if let Some((_, ns)) = remover.shared.first() {
        let count = remover.shared.len();
        println!("  kept the files of {count} blobs whose rows namespace {ns} still has");
    }

    // A second collection, over the store as it is now.
    let again = collector.collect_with(&mut store.view()?, &options)?;
    let again_stats = again.stats().clone();
    println!("\n== second collection");
    println!(
        "  listed {}, swept {}, dead references {} (app:v2's arm64 manifest)",
        again_stats.nodes_listed, again_stats.nodes_swept, again_stats.dead_edges
    );
    drop(again);

    // Check what was printed: CI runs this example end to end.
    let view = store.view()?;
    let planned: BTreeSet<Res> = plan.nodes().iter().cloned().collect();
    let mut checks = vec![
        (
            story.garbage.is_subset(&planned)
                && (args.images > 0 || !fresh || planned == story.garbage),
            "the plan is app:v1's leftovers, the expired lease and what it and the flat lease's snapshot name".to_string(),
        ),
        (
            !planned.contains(&story.reused) && view.exists(&story.reused)?,
            format!("the layer {APP_V3} reused is kept"),
        ),
        (
            kept_by_writer || !fresh,
            "it is kept because the writer reported it".to_string(),
        ),
        (
            lease_expired,
            "the expired lease is swept for expiring".to_string(),
        ),
        (report.is_complete(), "the plan applied whole".to_string()),
        (
            planned.iter().all(|node| !view.exists(node).unwrap_or(true)),
            "the plan's rows are gone".to_string(),
        ),
        (
            remover.deleted.iter().all(|(path, _)| !path.exists())
                && remover.shared.iter().all(|(path, _)| path.exists()),
            "the swept files are gone, shared blobs' files stay".to_string(),
        ),
        (
            v3.chain.iter().all(|key| store.snapshot_dir(NS, key).exists()),
            format!("{APP_V3}'s snapshots are there"),
        ),
        (again_stats.nodes_swept == 0, "the second collection finds nothing".to_string()),
        (
            scan_agrees,
            "the scan path and a one-part Collector sweep the plan's nodes".to_string(),
        ),
        (again_stats.dead_edges == 1, "one dead reference, tolerated".to_string()),
    ];
    if args.images > 0 {
        let expected = story.garbage.len() + 3 * args.images.div_ceil(2);
        checks.push((
            !fresh || planned.len() == expected,
            format!("{expected} nodes swept in all"),
        ));
    }
    let failed = checks.iter().filter(|(ok, _)| !ok).count();
    println!("\n== checks");
    for (ok, what) in &checks {
        println!("  {} {what}", if *ok { "ok    " } else { "FAILED" });
    }
    println!("\ndone in {:.2?}", started.elapsed());
    if failed > 0 {
        drop(_temp);
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_labels_are_strong_references_with_containerds_prefix_rule() {
        let record = "containerd.io/gc.ref.content.l.0=sha256:a\n\
                      containerd.io/gc.ref.content=sha256:b\n\
                      containerd.io/gc.ref.content/x=sha256:c\n\
                      containerd.io/gc.ref.contentious=sha256:d\n\
                      containerd.io/distribution.source.docker.io=library/app";
        let refs = references_of(Kind::Content, record);
        let keys: Vec<&str> = refs.iter().map(|(_, key, _)| &**key).collect();
        assert_eq!(keys, ["sha256:a", "sha256:b", "sha256:c"]);
        assert!(
            refs.iter()
                .all(|r| r.0 == Kind::Content && r.2 == Strength::Strong)
        );
    }

    #[test]
    fn snapshot_labels_name_snapshotter_and_key() {
        let record = "containerd.io/gc.ref.snapshot.overlayfs=sha256:top\n\
                      containerd.io/gc.ref.snapshot.native/1=abc\n\
                      containerd.io/gc.ref.snapshot.=nothing";
        let refs = references_of(Kind::Content, record);
        let keys: Vec<&str> = refs.iter().map(|(_, key, _)| &**key).collect();
        assert_eq!(keys, ["overlayfs/sha256:top", "native/abc"]);
        assert!(refs.iter().all(|r| r.0 == Kind::Snapshot));
    }

    #[test]
    fn structure_and_flat_leases() {
        let image = references_of(Kind::Image, "target=sha256:m");
        assert_eq!(image[0].2, Strength::Structural);
        let parent = references_of(Kind::Snapshot, "parent=overlayfs/p");
        assert_eq!(
            (parent[0].0, parent[0].2),
            (Kind::Snapshot, Strength::Structural)
        );
        let flat = references_of(
            Kind::Lease,
            "containerd.io/gc.flat=true\nsnapshot=overlayfs/s",
        );
        assert_eq!(flat[0].2, Strength::Flat);
        let strong = references_of(Kind::Lease, "content=sha256:c\ningest=up");
        assert_eq!(
            strong.iter().map(|r| r.2).collect::<Vec<_>>(),
            [Strength::Strong; 2]
        );
        assert_eq!(strong[1].0, Kind::Ingest);
    }

    #[test]
    fn roots() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(root_of(Kind::Image, ""), Root::Strong);
        assert_eq!(root_of(Kind::Lease, "content=x"), Root::Strong);
        let lease = format!("{GC_EXPIRE}=2023-11-14T22:13:20Z");
        assert_eq!(root_of(Kind::Lease, &lease), Root::Until(at));
        assert_eq!(
            root_of(Kind::Lease, &format!("{GC_EXPIRE}=soon")),
            Root::Strong,
            "keeps"
        );
        assert_eq!(root_of(Kind::Ingest, ""), Root::No);
        assert_eq!(
            root_of(Kind::Ingest, "expire=2023-11-14T22:13:20Z"),
            Root::Until(at)
        );
        assert_eq!(
            root_of(Kind::Content, &format!("{GC_ROOT}=now")),
            Root::Strong
        );
        assert_eq!(root_of(Kind::Content, "size=1"), Root::No);
    }

    #[test]
    fn rfc3339_round_trips_and_rejects() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(at));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(at));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.5Z"),
            Some(at + Duration::from_millis(500))
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "+023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        for secs in [0, 86_399, 951_782_400, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
    }

    #[test]
    fn fields_and_keys() {
        assert_eq!(field("a=1\nb=2=3\nc", "b"), Some("2=3"));
        assert_eq!(field("a=1\nc", "c"), Some(""));
        assert_eq!(field("a=1", "z"), None);
        assert_eq!(row_key("team-b", "overlayfs/x"), "team-b/overlayfs/x");
        assert_eq!(short("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short("overlayfs/web-rw"), "overlayfs/web-rw");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
