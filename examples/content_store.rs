//! Garbage collection over a real content store on disk.
//!
//! The layout follows containerd's content store:
//!
//! ```text
//! <root>/blobs/sha256/<hex>         a blob
//! <root>/blobs/sha256/<hex>.labels  its labels, one `key=value` a line
//! <root>/images                     one image a line: `<name> <digest>`
//! <root>/leases/<id>                one digest a line, and `expire=<unix secs>`
//! ```
//!
//! The `CollectionContext` reads the directory as it is; the example then
//! deletes the garbage files. It also shows the fail-safe rule: a labels file
//! that cannot be read or parsed fails the collection, and nothing is deleted.
//!
//! Run it with `cargo run --example content_store`.

use std::collections::BTreeSet;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use resource_gc::{
    CollectError, CollectionContext, Collector, Error, Node, NodeSink, ReferenceSink, Strength,
};

type Blob = Node<&'static str, &'static str, String>;
type Refs<'a> = ReferenceSink<'a, &'static str, &'static str, String>;

fn blob(digest: &str) -> Blob {
    Node::new("content", "default", digest.to_string())
}

/// A stand-in for sha256, so that the example needs no extra crate: std's
/// SipHash as 16 hex digits. It is neither collision-resistant nor stable
/// across Rust releases, which is fine for a store that lives for one run.
fn digest(data: &str) -> String {
    let mut hasher = DefaultHasher::new();
    data.hash(&mut hasher);
    format!("sha256:{:016x}", hasher.finish())
}

/// The hex part of a well-formed digest, and `None` for anything else.
fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    let is_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex.len() == 16 && is_hex).then_some(hex)
}

/// Why the store could not answer. The collector keeps it as the source of
/// its own error, so the caller can tell exactly which file is at fault.
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("cannot read {}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}, line {line}: {problem}", .path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

fn read(path: &Path) -> Result<String, StoreError> {
    fs::read_to_string(path).map_err(|source| StoreError::Io {
        path: path.into(),
        source,
    })
}

/// `text` as a digest, or the error that line `index` of `path` is malformed.
fn checked<'t>(text: &'t str, path: &Path, index: usize) -> Result<&'t str, StoreError> {
    hex_of(text)
        .map(|_| text)
        .ok_or_else(|| StoreError::Malformed {
            path: path.into(),
            line: index + 1,
            problem: format!("{text:?} is not a digest"),
        })
}

struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    fn create(root: PathBuf) -> io::Result<DiskStore> {
        fs::create_dir_all(root.join("blobs").join("sha256"))?;
        fs::create_dir_all(root.join("leases"))?;
        // The images file always exists: a missing one is an error, never
        // "no images", which would make every blob garbage.
        fs::write(root.join("images"), "")?;
        Ok(DiskStore { root })
    }

    fn blob_path(&self, digest: &str, suffix: &str) -> PathBuf {
        let hex = hex_of(digest).expect("every key is a digest checked on the way in");
        self.root
            .join("blobs")
            .join("sha256")
            .join(format!("{hex}{suffix}"))
    }

    /// Writes the labels first, then the blob: a blob on disk always has its
    /// labels, so a missing labels file is damage, not "no references".
    fn write_blob(&self, data: &str, labels: &[(&str, &str)]) -> io::Result<String> {
        let digest = digest(data);
        let text: String = labels.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        fs::write(self.blob_path(&digest, ".labels"), text)?;
        fs::write(self.blob_path(&digest, ""), data)?;
        Ok(digest)
    }

    fn add_image(&self, name: &str, digest: &str) -> io::Result<()> {
        let images = self.root.join("images");
        fs::write(
            &images,
            fs::read_to_string(&images)? + &format!("{name} {digest}\n"),
        )
    }

    fn add_lease(&self, id: &str, expire: SystemTime, digests: &[&str]) -> io::Result<()> {
        let secs = expire
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(io::Error::other)?;
        let text = format!("expire={}\n{}\n", secs.as_secs(), digests.join("\n"));
        fs::write(self.root.join("leases").join(id), text)
    }

    /// Every file under blobs/sha256, to show what a collection deleted.
    fn files(&self) -> io::Result<BTreeSet<String>> {
        let entries = fs::read_dir(self.root.join("blobs").join("sha256"))?;
        entries
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    /// A blob's first line, which says what it is (a real blob would be
    /// parsed as JSON; this one is for printing only).
    fn describe(&self, digest: &str) -> String {
        let data = fs::read_to_string(self.blob_path(digest, "")).unwrap_or_default();
        data.lines().next().unwrap_or("unreadable").to_string()
    }

    /// Deletes the labels, then the blob: if we stop in between, the blob is
    /// still listed and still unreachable, so the next collection finishes.
    fn delete(&self, digest: &str) -> io::Result<()> {
        match fs::remove_file(self.blob_path(digest, ".labels")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::remove_file(self.blob_path(digest, ""))
    }
}

impl CollectionContext for DiskStore {
    type Kind = &'static str;
    type Namespace = &'static str;
    type Key = String;
    type Error = StoreError;

    /// The blobs on disk. Only names shaped like a digest are listed, so
    /// labels files, a writer's temporary files and strays are never
    /// candidates, hence never deleted. Blobs written after this returns are
    /// not candidates either.
    fn all(
        &mut self,
        nodes: &mut NodeSink<'_, &'static str, &'static str, String>,
    ) -> Result<(), StoreError> {
        let dir = self.root.join("blobs").join("sha256");
        let io_error = |source| StoreError::Io {
            path: dir.clone(),
            source,
        };
        for entry in fs::read_dir(&dir).map_err(io_error)? {
            let digest = format!(
                "sha256:{}",
                entry.map_err(io_error)?.file_name().to_string_lossy()
            );
            if hex_of(&digest).is_some() {
                nodes.push(&blob(&digest));
            }
        }
        Ok(())
    }

    /// Every image's target, and what every unexpired lease holds.
    fn roots(&mut self, roots: &mut Refs<'_>) -> Result<(), StoreError> {
        let images = self.root.join("images");
        for (i, line) in read(&images)?.lines().enumerate() {
            let target = line.rsplit_once(' ').map_or(line, |(_name, target)| target);
            roots.strong(&blob(checked(target, &images, i)?));
        }
        let dir = self.root.join("leases");
        let io_error = |source| StoreError::Io {
            path: dir.clone(),
            source,
        };
        for entry in fs::read_dir(&dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            let text = read(&path)?;
            // containerd writes RFC 3339 in `containerd.io/gc.expire`; seconds
            // keep this example free of a date parser. No expiry: never expires.
            // (containerd also deletes an expired lease; here its file stays,
            // holding nothing.)
            let mut expires = None;
            for (i, line) in text.lines().enumerate() {
                if let Some(secs) = line.strip_prefix("expire=") {
                    let secs = secs.parse().map_err(|e| StoreError::Malformed {
                        path: path.clone(),
                        line: i + 1,
                        problem: format!("bad expiry: {e}"),
                    })?;
                    expires = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
                }
            }
            let held = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.starts_with("expire="));
            for (i, line) in held {
                let node = blob(checked(line, &path, i)?);
                match expires {
                    Some(deadline) => roots.expiring(&node, Strength::Strong, deadline),
                    None => roots.strong(&node),
                }
            }
        }
        Ok(())
    }

    /// What the blob's labels name. Labels other than references (such as
    /// `containerd.io/distribution.source.*`) are ignored; anything
    /// unreadable or malformed is an error, so the collection sweeps nothing.
    fn references(&mut self, node: &Blob, refs: &mut Refs<'_>) -> Result<(), StoreError> {
        // The collector also asks about dead edges' targets (it cannot tell a
        // dangling digest from a root-like resource that is never listed).
        // A blob that is not there references nothing; a blob that is there
        // without its labels is damage.
        if !self.blob_path(&node.key, "").exists() {
            return Ok(());
        }
        let path = self.blob_path(&node.key, ".labels");
        for (i, line) in read(&path)?.lines().enumerate() {
            let Some((key, value)) = line.split_once('=') else {
                let problem = format!("{line:?} is not key=value");
                return Err(StoreError::Malformed {
                    path,
                    line: i + 1,
                    problem,
                });
            };
            if key.starts_with("containerd.io/gc.ref.content") {
                refs.strong(&blob(checked(value, &path, i)?));
            }
        }
        Ok(())
    }
}

/// Collects, then deletes the garbage, only if the collection succeeded:
/// an error means the mark did not see the whole graph. Returns what was
/// deleted. A blob that cannot be deleted is reported and skipped; the next
/// collection will find it again.
fn collect_and_delete(
    collector: &mut Collector<&'static str, &'static str, String>,
    store: &mut DiskStore,
) -> Result<BTreeSet<String>, CollectError<DiskStore>> {
    let collection = collector.collect(store)?;
    let s = collection.stats();
    let (leases, expired) = (s.roots_by_kind.leases, s.roots_by_kind.leases_expired);
    println!(
        "  {} blobs listed, {} marked",
        s.nodes_listed, s.nodes_marked
    );
    println!("  {leases} held by leases, {expired} by expired leases (not held)");
    println!("  {} dead edge, {} garbage", s.dead_edges, s.nodes_swept);
    let mut deleted = BTreeSet::new();
    for node in collection.garbage() {
        println!("  deleting {} ({})", node.key, store.describe(&node.key));
        match store.delete(&node.key) {
            Ok(()) => drop(deleted.insert(node.key.clone())),
            Err(e) => eprintln!("  could not delete {}: {e}", node.key),
        }
    }
    Ok(deleted)
}

/// Removes the store's directory however `main` ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = TempDir(
        std::env::temp_dir().join(format!("resource-gc-content-store-{}", std::process::id())),
    );
    let _ = fs::remove_dir_all(&dir.0); // Left by an earlier run with our pid?
    let mut store = DiskStore::create(dir.0.clone())?;
    println!("store in {}", dir.0.display());

    // app:v2: an index naming its amd64 manifest and an arm64 one that was
    // never pulled (a dead edge); the manifest names its config and layers.
    let base = store.write_blob("layer base", &[])?;
    let v2_layer = store.write_blob("layer app v2", &[])?;
    let v2_config = store.write_blob("config app v2", &[])?;
    let v2_manifest = store.write_blob(
        &format!("manifest app v2\n{v2_config}\n{base}\n{v2_layer}\n"),
        &[
            ("containerd.io/distribution.source.docker.io", "library/app"),
            ("containerd.io/gc.ref.content.config", &v2_config),
            ("containerd.io/gc.ref.content.l.0", &base),
            ("containerd.io/gc.ref.content.l.1", &v2_layer),
        ],
    )?;
    let arm64 = digest("manifest app v2 arm64");
    let refs = [
        ("containerd.io/gc.ref.content.m.0", v2_manifest.as_str()),
        ("containerd.io/gc.ref.content.m.1", &arm64),
    ];
    let index = store.write_blob(&format!("index app v2\n{v2_manifest}\n{arm64}\n"), &refs)?;
    store.add_image("docker.io/library/app:v2", &index)?;

    // What deleting the image app:v1 left behind: its manifest, config and
    // own layer are garbage; the base layer it shares with app:v2 is not.
    let v1_layer = store.write_blob("layer app v1", &[])?;
    let v1_config = store.write_blob("config app v1", &[])?;
    let v1_manifest = store.write_blob(
        &format!("manifest app v1\n{v1_config}\n{base}\n{v1_layer}\n"),
        &[
            ("containerd.io/gc.ref.content.config", &v1_config),
            ("containerd.io/gc.ref.content.l.0", &base),
            ("containerd.io/gc.ref.content.l.1", &v1_layer),
        ],
    )?;

    // A pull in progress holds its first layer with a lease for an hour; an
    // abandoned pull's lease expired an hour ago, so its layer is garbage.
    let hour = Duration::from_secs(3600);
    let fresh = store.write_blob("layer being pulled", &[])?;
    store.add_lease("pull-42", SystemTime::now() + hour, &[&fresh])?;
    let abandoned = store.write_blob("layer of an abandoned pull", &[])?;
    store.add_lease("pull-17", SystemTime::now() - hour, &[&abandoned])?;
    println!(
        "wrote {} files (blobs and their labels)",
        store.files()?.len()
    );

    let mut collector = Collector::new();

    // 1. A torn write: the last bytes of v2's manifest labels are lost. The
    // collection cannot know all of the manifest's layers, so it must fail.
    let labels = store.blob_path(&v2_manifest, ".labels");
    let intact = fs::read_to_string(&labels)?;
    println!(
        "labels of {v2_manifest} (manifest app v2), in {}:",
        labels.display()
    );
    intact.lines().for_each(|line| println!("  {line}"));
    fs::write(&labels, &intact[..intact.len() - 10])?;
    let before = store.files()?;
    println!("\n== collection with a torn labels file");
    match collect_and_delete(&mut collector, &mut store) {
        Err(Error::References {
            node,
            source: StoreError::Malformed { line, problem, .. },
        }) => {
            let what = store.describe(&node.key);
            println!(
                "  failed, as it must: the labels of {} ({what}) are torn",
                node.key
            );
            println!("  line {line}: {problem}");
            assert_eq!(node, blob(&v2_manifest));
        }
        other => panic!("a torn labels file must fail the collection, got {other:?}"),
    }
    assert_eq!(
        store.files()?,
        before,
        "a failed collection must delete nothing"
    );
    println!("  nothing deleted: still {} files", before.len());

    // 2. Repaired, the collection succeeds and the garbage goes.
    fs::write(&labels, intact)?;
    println!("\n== collection after repairing the labels");
    let deleted = collect_and_delete(&mut collector, &mut store)?;

    // 3. Nothing is left to find.
    println!("\n== collection again");
    let again = collect_and_delete(&mut collector, &mut store)?;

    // CI runs this example: fail loudly if the outcome ever changes.
    let expected: BTreeSet<String> = [v1_manifest, v1_config, v1_layer, abandoned].into();
    assert_eq!(deleted, expected, "the wrong blobs were deleted");
    assert!(again.is_empty(), "a second collection must find no garbage");
    let left: BTreeSet<String> = store
        .files()?
        .into_iter()
        .filter(|f| !f.ends_with(".labels"))
        .collect();
    let kept = [index, v2_manifest, v2_config, base, v2_layer, fresh];
    assert_eq!(
        left,
        kept.iter()
            .map(|d| hex_of(d).expect("a digest").to_string())
            .collect(),
        "the wrong blobs are left"
    );
    println!(
        "\nok: {} blobs left, {} deleted; removing {}",
        left.len(),
        deleted.len(),
        dir.0.display()
    );
    Ok(())
}
