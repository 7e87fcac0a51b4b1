//! An image pruner with rkt's and Vespa's rules, run once a simulated day.
//!
//! A Docker-like host (images with one id, any number of tags and at most
//! one parent; containers running images) is pruned by a pruner that
//! remembers when it last saw each image in use, in redb:
//!
//! ```text
//! <dir>/pruner.redb     last_used: image id -> nanoseconds since the epoch
//!                       meta:      "next_day" -> the next round's day
//! ```
//!
//! Each round is a fresh pruner, as a daily job would be: it opens the
//! database, reads its memory, collects at the simulated clock
//! (`Options::now`), applies the plan, and writes its memory back.
//!
//! - **minAge / grace period**: every image is listed with `push_used` and
//!   the last time the pruner saw it in use; an image seen for the first
//!   time counts as used now (Vespa). `Options::grace_period` is minAge.
//!   The crate keeps an image unused for *exactly* minAge; Vespa deletes it.
//! - **running containers**: their images are strong roots (rkt, Vespa).
//! - **excluded references** (`excludedRefs`): `Options::pins`, resolved by
//!   tag or by id in `resolve_pin`.
//! - **tags** are nodes that live with their image (`lives_with`); each is
//!   removed on its own, before the image, as Vespa untags one by one.
//! - **parents**: a child image references its parent, and
//!   `SweepOrder::ReferrersFirst` hands children out before parents, so the
//!   remover, which refuses what Docker refuses, never refuses.
//!
//! ```sh
//! cargo run --example image_pruner                 # in a temporary directory
//! cargo run --example image_pruner -- --dir PATH   # memory kept between runs
//! ```
//!
//! It checks what it printed and exits non-zero otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use resource_gc::{
    ApplyOptions, CollectionContext, Collector, Node, NodeSinkOf, Options, Reason, ReferenceSinkOf,
    Remover, RootKind, Step, SweepOrder, SweptBecause,
};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Nodes, time, names: pure functions, tested below.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// An image, by id (`sha256:<hex>`).
    Image,
    /// A tag (`repo:tag`), naming one image.
    Tag,
}

type Res = Node<Kind, (), String>;

fn image(id: &str) -> Res {
    Node::new(Kind::Image, (), id.to_string())
}
fn tag(name: &str) -> Res {
    Node::new(Kind::Tag, (), name.to_string())
}

const DAY: Duration = Duration::from_secs(24 * 3600);
/// Vespa's `minAge`, rkt's `--grace-period`.
const MIN_AGE: Duration = DAY;
/// The rounds of one run, a day apart.
const ROUNDS: u64 = 5;
const MB: u64 = 1 << 20;

/// Day 0 of the simulated clock: 2024-03-01 03:00 UTC. A round runs at
/// 03:00 on its day.
fn day_zero() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_709_262_000)
}
fn clock(day: u64) -> SystemTime {
    day_zero() + DAY * day as u32
}

/// A time as redb stores it: nanoseconds since the epoch.
fn to_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
fn from_nanos(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n)
}

/// `day N HH:MM` on the simulated clock.
fn when(t: SystemTime) -> String {
    let since = t.duration_since(day_zero()).unwrap_or_default().as_secs() + 3 * 3600;
    let (day, secs) = (since / 86_400, since % 86_400);
    format!("day {day} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `1 image`, `2 tags`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `1d 00:00`, `0d 12:00`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d {:02}:{:02}",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60
    )
}

/// An image id: the sha256 of its name, as a pull would give.
fn id_of(name: &str) -> String {
    let hex: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The first 8 hex digits of an id.
fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(8)]
}

/// How long ago `last_used` was at `now` (zero if in the future), and
/// whether the crate keeps it (`<=`) and whether Vespa would (`<`).
fn grace(now: SystemTime, last_used: SystemTime, min_age: Duration) -> (Duration, bool, bool) {
    let unused = now.duration_since(last_used).unwrap_or_default();
    let future = last_used > now;
    (
        unused,
        future || unused <= min_age,
        future || unused < min_age,
    )
}

// ---------------------------------------------------------------------------
// The host: images and containers, with Docker's rules for removal.

#[derive(Clone, Debug)]
struct Img {
    name: &'static str,
    tags: BTreeSet<String>,
    parent: Option<String>,
    size: u64,
}

#[derive(Clone, Debug, Default)]
struct Host {
    images: BTreeMap<String, Img>,
    /// Container name → image id.
    containers: BTreeMap<String, String>,
}

/// Why the host refused a removal.
#[derive(Debug, PartialEq, Eq)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Host {
    /// Pulls an image, if it is not there yet; returns its id.
    fn pull(&mut self, name: &'static str, tags: &[&str], parent: Option<&str>, mb: u64) -> String {
        let id = id_of(name);
        self.images.entry(id.clone()).or_insert_with(|| Img {
            name,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            parent: parent.map(id_of),
            size: mb * MB,
        });
        id
    }

    /// Moves `name` to the image `to`: the image it named loses it.
    fn retag(&mut self, name: &str, to: &str) {
        for img in self.images.values_mut() {
            img.tags.remove(name);
        }
        if let Some(img) = self.images.get_mut(to) {
            img.tags.insert(name.to_string());
        }
    }

    fn image_of_tag(&self, name: &str) -> Option<&String> {
        self.images
            .iter()
            .find(|(_, img)| img.tags.contains(name))
            .map(|(id, _)| id)
    }

    fn in_use(&self) -> BTreeSet<&String> {
        self.containers.values().collect()
    }

    /// A node for people: `tag app:1`, `image alpine 1a2b3c4d`.
    fn describe(&self, node: &Res) -> String {
        match node.kind {
            Kind::Tag => format!("tag   {}", node.key),
            Kind::Image => match self.images.get(&node.key) {
                Some(img) => format!("image {} {}", short(&node.key), img.name),
                None => format!("image {}", short(&node.key)),
            },
        }
    }

    /// Removes one tag or untagged image, refusing what Docker refuses: an
    /// image still tagged, with a child, or used by a container.
    fn remove(&mut self, node: &Res) -> Result<(), Refused> {
        match node.kind {
            Kind::Tag => {
                let id = self.image_of_tag(&node.key).cloned();
                let id = id.ok_or_else(|| Refused(format!("no tag {}", node.key)))?;
                self.images
                    .get_mut(&id)
                    .expect("found")
                    .tags
                    .remove(&node.key);
            }
            Kind::Image => {
                let id = &node.key;
                let img = self.images.get(id);
                let img = img.ok_or_else(|| Refused(format!("no image {}", short(id))))?;
                if !img.tags.is_empty() {
                    return Err(Refused(format!("{} is still tagged", short(id))));
                }
                if self.images.values().any(|i| i.parent.as_ref() == Some(id)) {
                    return Err(Refused(format!("{} has a child", short(id))));
                }
                if self.containers.values().any(|used| used == id) {
                    return Err(Refused(format!("{} is used by a container", short(id))));
                }
                self.images.remove(id);
            }
        }
        Ok(())
    }
}

/// Whether `removed` (in removal order) puts every tag before its image
/// and every child before its parent, judged on the host as it was before.
fn referrers_first(removed: &[Res], before: &Host) -> Result<(), String> {
    let at = |node: &Res| removed.iter().position(|n| n == node);
    for (i, node) in removed.iter().enumerate() {
        let (image_id, what) = match node.kind {
            Kind::Tag => (before.image_of_tag(&node.key).cloned(), "its image"),
            Kind::Image => (
                before
                    .images
                    .get(&node.key)
                    .and_then(|img| img.parent.clone()),
                "its parent",
            ),
        };
        if let Some(j) = image_id.and_then(|id| at(&image(&id))) {
            if j < i {
                return Err(format!("{} removed after {what}", before.describe(node)));
            }
        }
    }
    Ok(())
}

/// The story: what happens on the host before the round of `round`
/// (counted from the start of this run).
fn events(host: &mut Host, round: u64) -> Vec<String> {
    match round {
        0 => {
            let ubuntu = host.pull("ubuntu", &["ubuntu:22.04"], None, 78);
            let _ = ubuntu;
            let web = host.pull("web", &["web:prod"], Some("ubuntu"), 25);
            host.pull("alpine", &["alpine:3"], None, 8);
            host.pull("app-v1", &["app:1", "app:latest"], Some("alpine"), 30);
            host.pull("tool", &["tool:1"], None, 15);
            host.pull("db", &["db:stable"], None, 120);
            host.pull("debug", &[], None, 40);
            host.containers.insert("web-1".into(), web);
            vec!["pulled 7 images; container web-1 runs web:prod".into()]
        }
        1 => {
            host.containers.insert("job-1".into(), id_of("app-v1"));
            vec!["container job-1 runs app:1".into()]
        }
        2 => {
            host.containers.remove("job-1");
            let v2 = host.pull("app-v2", &["app:2"], Some("alpine"), 32);
            host.retag("app:latest", &v2);
            vec!["job-1 exited; pulled app:2 (child of alpine); app:latest moved to it".into()]
        }
        _ => vec![],
    }
}

/// Excluded references: one by tag, one by id.
fn pins() -> Vec<String> {
    vec!["db:stable".into(), id_of("debug")]
}

/// What each round of a run removes, in order.
fn expected(round: u64) -> Vec<Res> {
    match round {
        2 => vec![tag("tool:1"), image(&id_of("tool"))],
        3 => vec![tag("app:1"), image(&id_of("app-v1"))],
        4 => vec![
            tag("app:2"),
            tag("app:latest"),
            image(&id_of("app-v2")),
            tag("alpine:3"),
            image(&id_of("alpine")),
        ],
        _ => vec![],
    }
}

// ---------------------------------------------------------------------------
// The pruner's memory, in redb.

const LAST_USED: TableDefinition<&str, u64> = TableDefinition::new("last_used");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

type Memory = BTreeMap<String, SystemTime>;

/// Reads the memory and the day of the next round.
fn load(db: &Database) -> Result<(Memory, u64), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(LAST_USED)?; // so that a fresh database has both
    txn.open_table(META)?;
    txn.commit()?;
    let txn = db.begin_read()?;
    let mut memory = Memory::new();
    for row in txn.open_table(LAST_USED)?.iter()? {
        let (id, nanos) = row?;
        memory.insert(id.value().to_string(), from_nanos(nanos.value()));
    }
    let next_day = txn
        .open_table(META)?
        .get("next_day")?
        .map_or(0, |d| d.value());
    Ok((memory, next_day))
}

/// Replaces the memory and the day of the next round, in one transaction.
fn save(db: &Database, memory: &Memory, next_day: u64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.delete_table(LAST_USED)?;
    {
        let mut table = txn.open_table(LAST_USED)?;
        for (id, at) in memory {
            table.insert(id.as_str(), to_nanos(*at))?;
        }
        txn.open_table(META)?.insert("next_day", next_day)?;
    }
    txn.commit()?;
    Ok(())
}

/// Vespa's memory update, at `now`: forget images that are gone, stamp
/// images in use, and count an image first seen as used now.
fn stamp(memory: &mut Memory, host: &Host, now: SystemTime) {
    memory.retain(|id, _| host.images.contains_key(id));
    let in_use = host.in_use();
    for id in host.images.keys() {
        if in_use.contains(id) {
            memory.insert(id.clone(), now);
        } else {
            memory.entry(id.clone()).or_insert(now);
        }
    }
}

// ---------------------------------------------------------------------------
// The crate's view of the host.

struct View<'a> {
    host: &'a Host,
    memory: &'a mut Memory,
}

impl CollectionContext for View<'_> {
    type Kind = Kind;
    type Namespace = ();
    type Key = String;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
        stamp(self.memory, self.host, nodes.now());
        // Each image's tags just before it: within a tag-image group, the
        // garbage goes in this order.
        for (id, img) in &self.host.images {
            for name in &img.tags {
                nodes.push(&tag(name));
                nodes.lives_with(&tag(name), &image(id));
            }
            nodes.push_used(&image(id), self.memory[id]);
        }
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
        for id in self.host.containers.values() {
            roots.strong(&image(id));
        }
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        match node.kind {
            // A child keeps its parent.
            Kind::Image => {
                let parent = self
                    .host
                    .images
                    .get(&node.key)
                    .and_then(|i| i.parent.as_ref());
                if let Some(parent) = parent {
                    refs.strong(&image(parent));
                }
            }
            // A tag names its image and keeps nothing: weak. It is there for
            // the removal order only, so that the tag goes before its image
            // (see "API gaps" at the end of the file).
            Kind::Tag => {
                if let Some(id) = self.host.image_of_tag(&node.key) {
                    refs.weak(&image(id));
                }
            }
        }
        Ok(())
    }

    /// `excludedRefs`: a tag resolves to its image; an id is itself.
    fn resolve_pin(
        &mut self,
        name: &str,
        pins: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        if let Some(id) = self.host.image_of_tag(name) {
            pins.strong(&image(id));
        } else if self.host.images.contains_key(name) {
            pins.strong(&image(name));
        }
        Ok(())
    }
}

/// Removes a batch as one transaction (on a copy, swapped in if all of it
/// went), refusing what Docker refuses; then reports each image's bytes.
struct Remove<'h> {
    host: &'h mut Host,
    order: Vec<Res>,
    refused: Vec<Refused>,
    freed: BTreeMap<String, u64>,
}

impl Remover<Res> for Remove<'_> {
    type Error = Refused;

    fn remove(&mut self, batch: &[Res]) -> Result<(), Refused> {
        let mut next = self.host.clone();
        let mut freed = Vec::new();
        for node in batch {
            if let Some(img) = self.host.images.get(&node.key) {
                freed.push((node.key.clone(), img.size));
            }
            if let Err(refused) = next.remove(node) {
                self.refused.push(Refused(refused.0.clone()));
                return Err(refused);
            }
        }
        *self.host = next;
        self.order.extend(batch.iter().cloned());
        self.freed.extend(freed);
        Ok(())
    }

    fn clean(&mut self, node: &Res) -> Result<Option<u64>, Refused> {
        Ok(self.freed.remove(&node.key))
    }
}

// ---------------------------------------------------------------------------
// Printing.

/// What kept a root: the container running it, minAge, or the excluded
/// reference that names it.
fn root_kind(kind: RootKind, host: &Host, node: &Res) -> String {
    match kind {
        RootKind::Explicit => {
            let by = host.containers.iter().find(|(_, id)| **id == node.key);
            by.map_or("a root".into(), |(name, _)| format!("running in {name}"))
        }
        RootKind::Grace => "used within minAge".into(),
        RootKind::Pin => {
            let tags = host.images.get(&node.key).map(|i| &i.tags);
            let by = pins().into_iter().find(|pin| {
                *pin == node.key || tags.is_some_and(|tags| tags.contains(pin.as_str()))
            });
            match by {
                Some(pin) if pin == node.key => format!("excluded by id {}", short(&pin)),
                Some(pin) => format!("excluded by tag {pin}"),
                None => "excluded".into(),
            }
        }
        other => format!("{other:?}"),
    }
}

/// Why a node is kept, as a path: `app-v2 (used within minAge) -> parent alpine`.
fn why_kept(path: &[Step<'_, Res>], host: &Host) -> String {
    let name = |n: &Res| match n.kind {
        Kind::Tag => n.key.clone(),
        Kind::Image => host
            .images
            .get(&n.key)
            .map_or(short(&n.key).into(), |i| i.name.into()),
    };
    let mut out = String::new();
    for step in path {
        let node = name(step.node);
        match step.reason {
            Reason::Root(kind) => out += &format!("{node} ({})", root_kind(kind, host, step.node)),
            Reason::Reference(_) => out += &format!(" -> its parent {node}"),
            Reason::BackReference => out += &format!(" -> its tag {node}"),
            _ => out += &format!(" -> {node}"),
        }
    }
    out
}

/// Why a node is removed, from `why_swept`, and which child went first.
fn why_removed(
    reasons: &[SweptBecause<'_, Res>],
    node: &Res,
    host: &Host,
    now: SystemTime,
    earlier: &[Res],
) -> String {
    let mut parts = Vec::new();
    for reason in reasons {
        parts.push(match reason {
            SweptBecause::GraceEnded { at } => {
                let last = *at - MIN_AGE;
                let unused = now.duration_since(last).unwrap_or_default();
                format!(
                    "unused {} > minAge (last used {})",
                    span(unused),
                    when(last)
                )
            }
            SweptBecause::Unreachable if node.kind == Kind::Tag => {
                let of = host.image_of_tag(&node.key).map_or("?", |id| short(id));
                format!("untagged first: its image {of} goes")
            }
            SweptBecause::Unreachable => "nothing keeps it".into(),
            other => format!("{other:?}"),
        });
    }
    let children = earlier.iter().filter(|n| {
        n.kind == Kind::Image
            && host.images.get(&n.key).and_then(|i| i.parent.as_ref()) == Some(&node.key)
    });
    for child in children {
        parts.push(format!("after its child {}", host.images[&child.key].name));
    }
    parts.join("; ")
}

/// The images whose "why kept" each round shows.
fn explained(round: u64) -> [&'static str; 2] {
    match round {
        0 => ["web", "db"],
        1 => ["tool", "app-v1"],
        2 => ["alpine", "debug"],
        3 => ["alpine", "db"],
        _ => ["ubuntu", "debug"],
    }
}

// ---------------------------------------------------------------------------
// A run: several rounds, each a fresh pruner over the same database.

/// What was checked: what, ok, and the detail to print if not.
struct Checks(Vec<(&'static str, bool, String)>);

impl Checks {
    fn check(&mut self, ok: bool, what: &'static str, detail: String) {
        self.0.push((what, ok, detail));
    }
    fn failed(&self) -> usize {
        self.0.iter().filter(|(_, ok, _)| !ok).count()
    }
    /// Each check once, with how many times it held.
    fn summary(&self) -> Vec<(&'static str, usize, usize)> {
        let mut out: Vec<(&'static str, usize, usize)> = Vec::new();
        for &(what, ok, _) in &self.0 {
            match out.iter_mut().find(|(w, _, _)| *w == what) {
                Some(row) => (row.1, row.2) = (row.1 + ok as usize, row.2 + 1),
                None => out.push((what, ok as usize, 1)),
            }
        }
        out
    }
}

const LABEL: usize = 8;
const SUBJECT: usize = 24;

/// Runs `ROUNDS` rounds on a host set up afresh, with the pruner's memory
/// in `dir`. Prints to `out`; returns the checks.
fn run(dir: &Path, out: &mut impl Write) -> Result<Checks, Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let path = dir.join("pruner.redb");
    let mut checks = Checks(Vec::new());
    let mut host = Host::default();
    let (remembered, first_day) = load(&Database::create(&path)?)?;
    let rerun = first_day > 0;
    let memory_is = if rerun {
        format!(
            "from an earlier run: {} last-used times, next round day {first_day}",
            remembered.len()
        )
    } else {
        "new".into()
    };
    writeln!(
        out,
        "image pruner: minAge {}, a round a day at 03:00",
        span(MIN_AGE)
    )?;
    writeln!(out, "memory    {} ({memory_is})", path.display())?;
    writeln!(
        out,
        "excluded  db:stable (a tag), {} (debug's id)",
        short(&id_of("debug"))
    )?;
    writeln!(
        out,
        "boundary  unused exactly minAge: Vespa deletes, this crate keeps"
    )?;
    if rerun {
        let ok = !remembered.is_empty();
        checks.check(ok, "a re-run reads the last run's memory", String::new());
    }
    let mut saved: Option<Memory> = None;
    for round in 0..ROUNDS {
        let happened = events(&mut host, round);
        // A fresh pruner: it knows only what the database says.
        let db = Database::create(&path)?;
        let (mut memory, day) = load(&db)?;
        if let Some(saved) = &saved {
            let ok = &memory == saved;
            checks.check(
                ok,
                "the memory read back is the one written",
                format!("day {day}"),
            );
        }
        let loaded = memory.clone();
        let now = clock(day);
        let happened = if happened.is_empty() {
            "no change".into()
        } else {
            happened.join("; ")
        };
        writeln!(out, "\nday {day}: {happened}")?;

        let options = Options::default()
            .now(now)
            .grace_period(MIN_AGE)
            .sweep_order(SweepOrder::ReferrersFirst)
            .explain(true)
            .pin("db:stable")
            .pin(id_of("debug"));
        let mut collector = Collector::new();
        let mut view = View {
            host: &host,
            memory: &mut memory,
        };
        let collection = collector.collect_with(&mut view, &options)?;

        // Memory: first seen counts as now, in use is now, a remembered
        // idle image keeps its time.
        let in_use = host.in_use();
        let first_seen: Vec<&str> = memory
            .keys()
            .filter(|id| !loaded.contains_key(*id))
            .map(|id| host.images[id].name)
            .collect();
        let stamped_right = memory.iter().all(|(id, at)| match loaded.get(id) {
            _ if in_use.contains(id) => *at == now,
            Some(then) => at == then,
            None => *at == now,
        });
        checks.check(
            stamped_right,
            "first seen or in use counts as now; idle keeps its time",
            format!("day {day}"),
        );
        let remembered_db = match loaded.get(&id_of("db")) {
            Some(at) if rerun && round == 0 => format!("; db remembered: last used {}", when(*at)),
            _ => String::new(),
        };
        let first_seen = remembered_db
            + &match first_seen.len() {
                0 => String::new(),
                n if n == memory.len() => format!("; all {n} first seen now"),
                _ => format!("; {} first seen now", first_seen.join(", ")),
            };
        writeln!(
            out,
            "  {:LABEL$} read {} last-used times from redb{first_seen}",
            "memory",
            loaded.len()
        )?;
        if rerun && round == 0 {
            let db_time = memory.get(&id_of("db")).copied();
            checks.check(
                db_time.is_some_and(|t| t < now),
                "a re-run remembers db's last use from the last run",
                format!("{:?}", db_time.map(when)),
            );
        }

        // Kept: counts, then why, for two of them.
        let live: Vec<&Res> = collection.live().collect();
        let images = live.iter().filter(|n| n.kind == Kind::Image).count();
        writeln!(
            out,
            "  {:LABEL$} {images} images, {} tags",
            "kept",
            live.len() - images
        )?;
        for (i, name) in explained(round).into_iter().enumerate() {
            let node = image(&id_of(name));
            let Some(path) = collection.why_live(&node) else {
                checks.check(
                    false,
                    "every explained image is kept",
                    format!("day {day}: {name}"),
                );
                continue;
            };
            let mut why = why_kept(&path, &host);
            let (unused, crate_keeps, vespa_keeps) = grace(now, memory[&node.key], MIN_AGE);
            if path.len() == 1 && path[0].reason == Reason::Root(RootKind::Grace) {
                why += &format!(", unused {}", span(unused));
                if crate_keeps && !vespa_keeps {
                    why += " = minAge: kept (Vespa deletes)";
                }
            }
            let label = if i == 0 { "why" } else { "" };
            writeln!(
                out,
                "  {label:LABEL$} {:SUBJECT$} {why}",
                host.describe(&node)
            )?;
        }

        // Removed, and why, before applying.
        let plan = collection.plan();
        for (i, node) in plan.nodes().iter().enumerate() {
            let reasons = collection.why_swept(node).unwrap_or_default();
            let why = why_removed(&reasons, node, &host, now, &plan.nodes()[..i]);
            let label = if i == 0 { "removed" } else { "" };
            writeln!(
                out,
                "  {label:LABEL$} {:SUBJECT$} {why}",
                host.describe(node)
            )?;
        }
        if plan.is_empty() {
            writeln!(out, "  {:LABEL$} nothing", "removed")?;
        }
        drop(collection);

        // Apply: tags before images, children before parents, one pass.
        let before = host.clone();
        let mut remover = Remove {
            host: &mut host,
            order: Vec::new(),
            refused: Vec::new(),
            freed: BTreeMap::new(),
        };
        let report = plan.apply(&mut remover, &ApplyOptions::default())?;
        let (order, refused) = (remover.order, remover.refused);
        for node in &report.removed {
            if node.kind == Kind::Image {
                memory.remove(&node.key); // Vespa forgets: pulled again, it is new
            }
        }
        let tags = report
            .removed
            .iter()
            .filter(|n| n.kind == Kind::Tag)
            .count();
        writeln!(
            out,
            "  {:LABEL$} {} removed ({}, {}), {} MB freed; refused {}, failed {}, skipped {}",
            "report",
            report.removed.len(),
            count(report.removed.len() - tags, "image"),
            count(tags, "tag"),
            report.bytes_reclaimed / MB,
            refused.len(),
            report.failed.len(),
            report.skipped.len()
        )?;
        save(&db, &memory, day + 1)?;
        saved = Some(memory);

        // What this round must have done.
        let refusals = refused
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        checks.check(
            report.is_complete() && refused.is_empty(),
            "the remover never refuses: one pass, no retry",
            format!("day {day}: {refusals}"),
        );
        checks.check(
            order == report.removed && order == plan.nodes(),
            "removed exactly the plan, in plan order",
            format!("day {day}"),
        );
        let ordered = referrers_first(&order, &before);
        checks.check(
            ordered.is_ok(),
            "tags before their image, children before their parent",
            format!("day {day}: {ordered:?}"),
        );
        let described: Vec<String> = order.iter().map(|n| before.describe(n)).collect();
        checks.check(
            order == expected(round),
            "each round removes what the story says",
            format!("day {day}: {described:?}"),
        );
        let survivors = ["web", "ubuntu", "db", "debug"]
            .iter()
            .all(|n| host.images.contains_key(&id_of(n)));
        checks.check(
            survivors
                && host.image_of_tag("db:stable").is_some()
                && host.image_of_tag("web:prod").is_some(),
            "web (running), its parent, db:stable and debug (excluded) stay",
            format!("day {day}"),
        );
        if round == 1 {
            let tool = id_of("tool");
            let at_boundary = loaded.get(&tool).is_some_and(|t| *t + MIN_AGE == now);
            checks.check(
                at_boundary && host.images.contains_key(&tool),
                "tool, unused exactly minAge, survives its round",
                format!("day {day}"),
            );
        }
    }
    Ok(checks)
}

// ---------------------------------------------------------------------------

struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--dir"), Some(dir)) => Some(PathBuf::from(dir)),
        _ => return Err("usage: image_pruner [--dir PATH]".into()),
    };
    let (dir, temp) = match dir {
        Some(dir) => (dir, TempDir(None)),
        None => {
            let dir = std::env::temp_dir().join(format!("image-pruner-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            (dir.clone(), TempDir(Some(dir)))
        }
    };
    let checks = run(&dir, &mut io::stdout().lock())?;
    let failed = checks.failed();
    println!("\nchecks");
    for (what, ok, total) in checks.summary() {
        let mark = if ok == total { "ok    " } else { "FAILED" };
        println!("  {mark} {what} ({ok}/{total})");
    }
    for (what, ok, detail) in &checks.0 {
        if !ok {
            println!("  FAILED {what}: {detail}");
        }
    }
    if failed > 0 {
        drop(temp);
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_crate_keeps_at_exactly_min_age_where_vespa_deletes() {
        let now = clock(3);
        let ns = Duration::from_nanos(1);
        assert_eq!(
            grace(now, now - MIN_AGE + ns, MIN_AGE),
            (MIN_AGE - ns, true, true)
        );
        assert_eq!(grace(now, now - MIN_AGE, MIN_AGE), (MIN_AGE, true, false));
        assert_eq!(
            grace(now, now - MIN_AGE - ns, MIN_AGE),
            (MIN_AGE + ns, false, false)
        );
        assert_eq!(
            grace(now, now + HOUR, MIN_AGE),
            (Duration::ZERO, true, true)
        );
    }

    #[test]
    fn times_round_trip_and_print() {
        let t = clock(2) + HOUR + Duration::from_nanos(7);
        assert_eq!(from_nanos(to_nanos(t)), t);
        assert_eq!(when(clock(2)), "day 2 03:00");
        assert_eq!(when(clock(0) + 22 * HOUR), "day 1 01:00");
        assert_eq!(span(DAY + 90 * 60 * Duration::from_secs(1)), "1d 01:30");
    }

    #[test]
    fn ids_are_digests() {
        let id = id_of("alpine");
        assert_eq!(id.len(), "sha256:".len() + 64);
        assert_eq!(short(&id).len(), 8);
        assert_ne!(id, id_of("ubuntu"));
    }

    #[test]
    fn memory_first_seen_is_now_in_use_is_now_gone_is_forgotten() {
        let mut host = Host::default();
        host.pull("a", &[], None, 1);
        let b = host.pull("b", &[], None, 1);
        host.containers.insert("c".into(), b.clone());
        let old = clock(0);
        let mut memory = Memory::from([(id_of("a"), old), (b.clone(), old), (id_of("gone"), old)]);
        host.pull("new", &[], None, 1);
        stamp(&mut memory, &host, clock(1));
        assert_eq!(memory[&id_of("a")], old, "remembered");
        assert_eq!(memory[&b], clock(1), "in use");
        assert_eq!(memory[&id_of("new")], clock(1), "first seen");
        assert!(!memory.contains_key(&id_of("gone")));
    }

    #[test]
    fn the_host_refuses_what_docker_refuses() {
        let mut host = Host::default();
        let base = host.pull("base", &[], None, 1);
        let child = host.pull("child", &["c:1", "c:2"], Some("base"), 1);
        assert_eq!(
            host.remove(&image(&base)),
            Err(Refused(format!("{} has a child", short(&base))))
        );
        assert!(host.remove(&image(&child)).is_err(), "still tagged");
        host.containers.insert("x".into(), child.clone());
        host.remove(&tag("c:1")).unwrap();
        assert_eq!(host.images[&child].tags.len(), 1, "untagged one by one");
        host.remove(&tag("c:2")).unwrap();
        assert!(host.remove(&image(&child)).is_err(), "in use");
        host.containers.clear();
        host.remove(&image(&child)).unwrap();
        host.remove(&image(&base)).unwrap();
        assert!(host.images.is_empty());
    }

    #[test]
    fn removal_order_is_checked() {
        let mut host = Host::default();
        let base = host.pull("base", &["b:1"], None, 1);
        let child = host.pull("child", &[], Some("base"), 1);
        let good = [image(&child), tag("b:1"), image(&base)];
        assert_eq!(referrers_first(&good, &host), Ok(()));
        assert!(referrers_first(&[image(&base), image(&child)], &host).is_err());
        assert!(referrers_first(&[image(&base), tag("b:1")], &host).is_err());
    }

    #[test]
    fn retag_moves_a_tag() {
        let mut host = Host::default();
        let v1 = host.pull("v1", &["app:1", "app:latest"], None, 1);
        let v2 = host.pull("v2", &["app:2"], None, 1);
        host.retag("app:latest", &v2);
        assert_eq!(host.images[&v1].tags.len(), 1);
        assert_eq!(host.image_of_tag("app:latest"), Some(&v2));
    }

    #[test]
    fn redb_memory_round_trips() {
        let dir = std::env::temp_dir().join(format!("image-pruner-test-rt-{}", std::process::id()));
        let _guard = TempDir(Some(dir.clone()));
        fs::create_dir_all(&dir).unwrap();
        let db = Database::create(dir.join("m.redb")).unwrap();
        assert_eq!(load(&db).unwrap(), (Memory::new(), 0));
        let memory = Memory::from([("x".into(), clock(1) + Duration::from_nanos(3))]);
        save(&db, &memory, 4).unwrap();
        assert_eq!(load(&db).unwrap(), (memory, 4));
        save(&db, &Memory::new(), 5).unwrap();
        assert_eq!(load(&db).unwrap(), (Memory::new(), 5));
    }

    #[test]
    fn a_run_and_a_re_run_pass_their_checks() {
        let dir =
            std::env::temp_dir().join(format!("image-pruner-test-run-{}", std::process::id()));
        let _guard = TempDir(Some(dir.clone()));
        let _ = fs::remove_dir_all(&dir);
        for pass in 0..2 {
            let mut out = Vec::new();
            let checks = run(&dir, &mut out).unwrap();
            let failed: Vec<_> = checks.0.iter().filter(|(_, ok, _)| !ok).collect();
            assert!(
                failed.is_empty(),
                "pass {pass}: {failed:?}\n{}",
                String::from_utf8_lossy(&out)
            );
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("= minAge: kept (Vespa deletes)"));
            assert_eq!(text.contains("from an earlier run"), pass == 1);
        }
    }
}
