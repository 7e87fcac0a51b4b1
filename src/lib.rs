//! Mark-and-sweep garbage collection over the typed resource graphs of
//! storage engines: you say what exists and who references whom, the crate
//! says, safely and fast, what is garbage.
//!
//! # From the top
//!
//! - [`Node`]: one resource, named by kind, namespace and key, like
//!   containerd's `gc.Node`.
//! - [`CollectionContext`]: the trait you implement over your store. It
//!   lists every node that may be swept ([`all`](CollectionContext::all)),
//!   the roots, and the references of one node, each emitted into a sink
//!   ([`NodeSinkOf`], [`ReferenceSinkOf`]) with a [`Strength`]: strong, weak
//!   or flat.
//! - [`Collector`]: runs a collection and keeps its allocations for the next;
//!   [`collect_parallel`](Collector::collect_parallel) marks on several
//!   threads.
//! - [`Collection`]: the outcome. [`garbage`](Collection::garbage) is what
//!   you may remove; [`is_live`](Collection::is_live) and
//!   [`stats`](Collection::stats) answer the rest. Removing is yours.
//!
//! The one rule: a live node is never swept. If the collection cannot see
//! the whole graph (a callback fails or panics, the embedder aborts, a time
//! limit passes) it returns an [`Error`] and nothing to remove.
//!
//! Callbacks fail with your own error type
//! ([`CollectionContext::Error`]): any `Debug + Display + 'static` type. A
//! [`std::error::Error`] is the [`source`](std::error::Error::source) of
//! the crate's [`Error`]; `anyhow::Error` or `Box<dyn std::error::Error +
//! Send + Sync>`, which are not, are taken back out with
//! [`Error::into_source`].
//!
//! ```
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use resource_gc::{CollectionContext, Collector, Node, NodeSinkOf, ReferenceSinkOf};
//!
//! type Blob = Node<&'static str, &'static str, String>;
//!
//! /// A content store: blobs by digest, and labels naming what they reference.
//! struct Store {
//!     blobs: HashMap<String, Vec<String>>,
//!     images: Vec<String>,
//! }
//!
//! fn blob(digest: &str) -> Blob {
//!     Node::new("content", "default", digest.to_string())
//! }
//!
//! impl CollectionContext for Store {
//!     type Kind = &'static str;
//!     type Namespace = &'static str;
//!     type Key = String;
//!     type Error = Infallible;
//!
//!     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         nodes.reserve(self.blobs.len());
//!         for digest in self.blobs.keys() {
//!             nodes.push(&blob(digest));
//!         }
//!         Ok(())
//!     }
//!
//!     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for target in &self.images {
//!             roots.strong(&blob(target));
//!         }
//!         Ok(())
//!     }
//!
//!     fn references(&mut self, node: &Blob, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for child in self.blobs.get(&node.key).into_iter().flatten() {
//!             refs.strong(&blob(child));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut store = Store {
//!     blobs: HashMap::from([
//!         ("manifest".into(), vec!["config".into(), "layer".into()]),
//!         ("config".into(), vec![]),
//!         ("layer".into(), vec![]),
//!         ("old-layer".into(), vec![]),
//!     ]),
//!     images: vec!["manifest".into()],
//! };
//!
//! let mut collector = Collector::new();
//! let collection = collector.collect(&mut store).expect("the store never fails");
//! let garbage: Vec<&Blob> = collection.garbage().collect();
//! assert_eq!(garbage, [&blob("old-layer")]);
//! assert!(collection.is_live(&blob("layer")));
//! assert_eq!(collection.stats().nodes_swept, 1);
//!
//! // Removal is the store's: here, after the collection is done with.
//! let garbage: Vec<Blob> = garbage.into_iter().cloned().collect();
//! for node in garbage {
//!     store.blobs.remove(&node.key);
//! }
//! assert_eq!(store.blobs.len(), 3);
//! ```
//!
//! # Strengths
//!
//! - **Strong**: the target is live, and its references are followed.
//! - **Weak**: keeps nothing (OpenShift's old image revisions), but still
//!   says who refers to whom: it counts for the removal order
//!   ([`SweepOrder::ReferrersFirst`]).
//! - **Flat**: the target is live with its structure, but its other
//!   references are not followed through this edge (containerd's flat
//!   leases). A node reached both flat and strongly is expanded fully.
//! - **Structural**: the target is part of the referrer, held however the
//!   referrer is held: strongly through a strong reach, flat through a
//!   flat one (a snapshot's parent, an image's target, a row's payload
//!   file). [`NodeSink::lives_with`] declares one from the child's side.
//!
//! Every node reached is read once
//! ([`references`](CollectionContext::references)): fully if it is reached
//! strongly at all, for its structure only if it is reached only flat.
//!
//! Every comparison with `now` keeps at its boundary: a lease is held
//! through its deadline instant, a node used exactly a grace period ago is
//! kept, and so is a node stamped after `now`, whatever the grace period.
//!
//! # Policies
//!
//! Every system this crate generalises decides liveness with more than
//! reachability. Each policy below takes effect as an extra root or as the
//! strength of a reference, and every time-based one reads the same `now`:
//! [`Options::now`], or the system clock read once per collection.
//!
//! | policy | how to say it | seen in |
//! |---|---|---|
//! | expiring roots (leases) | [`ReferenceSink::expiring`] in `roots` | containerd leases, ingests |
//! | flat leases | the lease's `references` emitted with [`ReferenceSink::flat`] | containerd `gc.flat` |
//! | parts: a snapshot's parent, an image's target | [`ReferenceSink::structural`], or [`NodeSink::lives_with`] from the child | containerd's flat snapshots and images |
//! | grace period | [`NodeSink::push_used`] + [`Options::grace_period`] | rkt, git, Vespa `minAge` |
//! | back-references | [`NodeSink::back_reference`] | containerd `gc.bref.*` |
//! | conditional references | [`ReferenceSink::add_if`] | containerd `gc.cond.*` |
//! | pins by alias | [`Options::pins`] + [`CollectionContext::resolve_pin`] | Vespa `excludedRefs` |
//! | keep N per group | [`ReferenceSink::history`] + [`Retention`] | OpenShift `keepTagRevisions`, `keepYoungerThan` |
//! | circuit breaker | [`Options::sweep_limit`] | — |
//! | removal order: referrers first | [`Options::sweep_order`] | Vespa (parents after children), OpenShift |
//! | "why is this still here?" | [`Options::explain`] + [`Collection::why_live`] | `nix-store --query --roots`, `git fsck` |
//! | "why was this swept?" | [`Options::explain`] + [`Collection::why_swept`] | `nix-store --gc --print-dead` (without the why) |
//! | dry run | look at [`Collection::garbage`], remove nothing | OpenShift, every CLI |
//!
//! [`Stats::roots_by_kind`] says how much each policy keeps.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::{Duration, SystemTime};
//! use resource_gc::{
//!     CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf, Retention, Strength,
//! };
//!
//! type Res = Node<&'static str, &'static str, &'static str>;
//! fn node(kind: &'static str, key: &'static str) -> Res {
//!     Node::new(kind, "default", key)
//! }
//! const HOUR: Duration = Duration::from_secs(3600);
//!
//! struct Store {
//!     now: SystemTime,
//! }
//!
//! impl CollectionContext for Store {
//!     type Kind = &'static str;
//!     type Namespace = &'static str;
//!     type Key = &'static str;
//!     type Error = Infallible;
//!
//!     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for key in ["leased", "old", "v1", "v2", "v3", "pinned", "child"] {
//!             nodes.push(&node("content", key));
//!         }
//!         // Written a minute ago: within a one-hour grace period.
//!         nodes.push_used(&node("content", "fresh"), self.now - Duration::from_secs(60));
//!         // A child that lives as long as its parent, declared by the child.
//!         nodes.lives_with(&node("content", "child"), &node("content", "v3"));
//!         Ok(())
//!     }
//!
//!     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         // A lease that expires in an hour holds what it references.
//!         roots.expiring(&node("lease", "pull"), Strength::Strong, roots.now() + HOUR);
//!         // A tag's history, newest first: keep the newest two.
//!         let mut rule = Retention::default();
//!         rule.keep_last = Some(2);
//!         let history = [(node("content", "v3"), self.now), (node("content", "v2"), self.now - HOUR),
//!                        (node("content", "v1"), self.now - 2 * HOUR)];
//!         roots.history(history.iter().map(|(n, at)| (n, *at)), &rule);
//!         Ok(())
//!     }
//!
//!     fn references(&mut self, from: &Res, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         if from.key == "pull" {
//!             refs.strong(&node("content", "leased"));
//!             // Only while "old" was used within the last two hours.
//!             let last_used = self.now - 3 * HOUR;
//!             refs.add_if(&node("content", "old"), Strength::Strong, |now| now < last_used + 2 * HOUR);
//!         }
//!         Ok(())
//!     }
//!
//!     fn resolve_pin(&mut self, name: &str, pins: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         if name == "app:stable" {
//!             pins.strong(&node("content", "pinned"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut options = Options::default();
//! options.now = Some(now);
//! options.grace_period = HOUR;
//! options.pins = vec!["app:stable".into(), "app:gone".into()];
//!
//! let mut collector = Collector::new();
//! let collection = collector.collect_with(&mut Store { now }, &options).unwrap();
//! let garbage: Vec<&str> = collection.garbage().map(|n| n.key).collect();
//! assert_eq!(garbage, ["old", "v1"]);
//! let kinds = &collection.stats().roots_by_kind;
//! assert_eq!((kinds.leases, kinds.retained, kinds.grace, kinds.pins), (1, 2, 1, 1));
//! assert_eq!(kinds.back_references, 1);
//! assert_eq!(collection.stats().unknown_pins, ["app:gone"]);
//! ```
//!
//! # Owned keys or borrowed keys
//!
//! The collector keeps a copy of every node it meets, for the length of a
//! collection. With owned keys (`Node<Kind, String, String>`) a copy
//! allocates; in exchange the collector owns what it hands out and can
//! outlive any borrow of the store.
//!
//! A store that can hold still for the length of a collection (a read
//! transaction, a read lock) can instead lend itself and emit nodes that
//! borrow its own strings: `Node<Kind, &'s str, &'s str>`. A copy is then
//! a few pointers. Nodes that own nothing also let the mark set
//! references aside and resolve them in batches whose cache misses
//! overlap. On the store-shaped benchmark graph (see the README) this
//! makes the collector about 1.8× faster than with owned keys, and about
//! three times as fast as containerd's algorithm. The collector borrows
//! the store then, so it is made for one collection:
//!
//! ```
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use resource_gc::{CollectionContext, Collector, Node, NodeSinkOf, ReferenceSinkOf};
//!
//! struct Store {
//!     children: HashMap<String, Vec<String>>,
//!     roots: Vec<String>,
//! }
//!
//! /// The store, lent to one collection.
//! struct Lent<'s>(&'s Store);
//!
//! fn blob(key: &str) -> Node<&'static str, &'static str, &str> {
//!     Node::new("content", "default", key)
//! }
//!
//! impl<'s> CollectionContext for Lent<'s> {
//!     type Kind = &'static str;
//!     type Namespace = &'static str;
//!     type Key = &'s str;
//!     type Error = Infallible;
//!
//!     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for key in self.0.children.keys() {
//!             nodes.push(&blob(key));
//!         }
//!         Ok(())
//!     }
//!
//!     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for key in &self.0.roots {
//!             roots.strong(&blob(key));
//!         }
//!         Ok(())
//!     }
//!
//!     fn references(
//!         &mut self,
//!         node: &Node<&'static str, &'static str, &'s str>,
//!         refs: &mut ReferenceSinkOf<'_, Self>,
//!     ) -> Result<(), Infallible> {
//!         for child in self.0.children.get(node.key).into_iter().flatten() {
//!             refs.strong(&blob(child));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut store = Store {
//!     children: HashMap::from([
//!         ("manifest".into(), vec!["layer".into()]),
//!         ("layer".into(), vec![]),
//!         ("old-layer".into(), vec![]),
//!     ]),
//!     roots: vec!["manifest".into()],
//! };
//! let garbage: Vec<String> = {
//!     let mut collector = Collector::new();
//!     let collection = collector.collect(&mut Lent(&store)).unwrap();
//!     collection.garbage().map(|node| node.key.to_string()).collect()
//! };
//! // The collection is over and the store is free again.
//! for key in garbage {
//!     store.children.remove(&key);
//! }
//! assert_eq!(store.children.len(), 2);
//! ```
//!
//! # Marking on several threads
//!
//! Marking is bound by memory latency: each reference is a few cache
//! misses into the store's memory and the collector's table. A store
//! whose references several threads may read at once implements
//! [`SharedContext`] (a `&self` twin of
//! [`references`](CollectionContext::references)), and
//! [`Collector::collect_parallel`] spreads the mark over
//! [`Options::mark_threads`] threads, with the same outcome as
//! [`Collector::collect_with`]. On the 2-core benchmark machine two
//! threads halve the mark phase (see the README).
//!
//! ```
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use resource_gc::{
//!     CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf, SharedContext,
//! };
//!
//! type Blob = Node<&'static str, &'static str, u64>;
//!
//! /// Blob ids, each with the ids it references.
//! struct Store(HashMap<u64, Vec<u64>>);
//!
//! fn blob(id: u64) -> Blob {
//!     Node::new("content", "default", id)
//! }
//!
//! impl CollectionContext for Store {
//!     type Kind = &'static str;
//!     type Namespace = &'static str;
//!     type Key = u64;
//!     type Error = Infallible;
//!
//!     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         self.0.keys().for_each(|&id| nodes.push(&blob(id)));
//!         Ok(())
//!     }
//!
//!     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         roots.strong(&blob(0));
//!         Ok(())
//!     }
//!
//!     fn references(&mut self, node: &Blob, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         self.references_shared(node, refs)
//!     }
//! }
//!
//! impl SharedContext for Store {
//!     fn references_shared(&self, node: &Blob, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         for &id in self.0.get(&node.key).into_iter().flatten() {
//!             refs.strong(&blob(id));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! // 0 → 1 → 2 → … → 9_999; 10_000 … 10_999 are unreferenced.
//! let mut store = Store((0..11_000).map(|id| (id, if id < 9_999 { vec![id + 1] } else { vec![] })).collect());
//! let mut options = Options::default();
//! options.mark_threads = 2;
//! let mut collector = Collector::new();
//! let collection = collector.collect_parallel(&mut store, &options).unwrap();
//! assert_eq!(collection.garbage().len(), 1_000);
//! assert_eq!(collection.stats().nodes_expanded, 10_000);
//! ```
//!
//! # Collecting while writers write
//!
//! [`Collector::collect`] sees the store as it is for the length of the
//! collection: writers must wait. A collection in two parts holds them
//! out only for the second, short part:
//!
//! 1. Under the writers' lock, [`Collector::start`], and open a snapshot
//!    of the store (an MVCC read transaction) there.
//! 2. Without the lock, [`Marking::mark`] (or [`Marking::step`], bounded)
//!    over the snapshot.
//! 3. Under the lock, [`Marking::finish`] over the live store, then
//!    remove the garbage, then release the lock.
//!
//! Meanwhile every writer reports, through the [`Barrier`], each node that
//! gains a way to be live: every root it adds, and the target of every
//! reference it adds. `finish` marks those with their closure, so its work
//! grows with the reports, not with the store. Deletions need no report.
//!
//! ```
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use std::sync::{Arc, Mutex};
//! use resource_gc::{CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf};
//!
//! type Blob = Node<&'static str, &'static str, u32>;
//! fn blob(id: u32) -> Blob {
//!     Node::new("content", "default", id)
//! }
//!
//! /// One version of the store: blob ids with what they reference; the
//! /// roots. Writers copy, change and swap it under the lock.
//! #[derive(Clone, Default)]
//! struct Version {
//!     refs: HashMap<u32, Vec<u32>>,
//!     roots: Vec<u32>,
//! }
//! struct View(Arc<Version>);
//!
//! impl CollectionContext for View {
//!     type Kind = &'static str;
//!     type Namespace = &'static str;
//!     type Key = u32;
//!     type Error = Infallible;
//!     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         self.0.refs.keys().for_each(|&id| nodes.push(&blob(id)));
//!         Ok(())
//!     }
//!     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         self.0.roots.iter().for_each(|&id| roots.strong(&blob(id)));
//!         Ok(())
//!     }
//!     fn references(&mut self, node: &Blob, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
//!         self.0.refs.get(&node.key).into_iter().flatten().for_each(|&id| refs.strong(&blob(id)));
//!         Ok(())
//!     }
//! }
//!
//! // 1 → 2 is rooted; 3 → 4 is not (yet); 5 never is.
//! let store = Mutex::new(Arc::new(Version {
//!     refs: HashMap::from([(1, vec![2]), (2, vec![]), (3, vec![4]), (4, vec![]), (5, vec![])]),
//!     roots: vec![1],
//! }));
//! let mut collector = Collector::new();
//! let barrier = collector.barrier();
//!
//! let (mut marking, mut snapshot) = {
//!     let live = store.lock().unwrap();
//!     (collector.start(&Options::default()), View(Arc::clone(&live)))
//! };
//! // A writer roots 3, which existed: it reports it.
//! {
//!     let mut live = store.lock().unwrap();
//!     let mut next = Version::clone(&live);
//!     next.roots.push(3);
//!     barrier.keep(&blob(3));
//!     *live = Arc::new(next);
//! }
//! marking.mark(&mut snapshot)?;
//!
//! let live = store.lock().unwrap();
//! let collection = marking.finish(&mut View(Arc::clone(&live)))?;
//! let garbage: Vec<u32> = collection.garbage().map(|node| node.key).collect();
//! assert_eq!(garbage, [5]);
//! # Ok::<(), resource_gc::Error<Infallible, Blob>>(())
//! ```
//!
//! The rule for writers, what they need not report, and why that is enough
//! are on [`Barrier`] and in `ARCHITECTURE.md`. The dense path has no
//! two-part form yet: its candidates are the ids `0..node_count()` read at
//! the start, so it would need writers to number new resources past them
//! and report by id; it did not fall out of this design, and is not built.
//!
//! # Scanning instead of asking
//!
//! A store that reads a node's references along with the node (a table
//! scan in one read transaction) can list both at once: implement
//! [`ScanContext`] and collect with [`ScanCollector`]. It copies no key.
//! It matches references to nodes by a 64-bit hash, in a way that can keep
//! garbage but never sweeps a live node. Garbage comes back as places in
//! the scan, for a second walk over the same snapshot. Pins are refused on
//! this path; strengths, grace periods, leases, the sweep limit, removal
//! order and [`ScanCollection::why_live`] hold as elsewhere, and
//! [`ScanCollector::start`] collects alongside writers as
//! [`Collector::start`] does. [`ScanCollector`] has an example.
//!
//! # Keeping the graph resident
//!
//! A [`Collector`] lists the store at every collection. A store that
//! reports its changes can keep a [`Graph`] instead: built once
//! ([`Graph::build`], through the same [`CollectionContext`]), then told
//! each change as [`Changes`], in two steps around the store's commit
//! ([`Graph::prepare`] applies additions before it, [`Graph::commit`]
//! removals after it, [`Graph::abort`] undoes), so that between them the
//! graph keeps whatever the store before or after makes live.
//! [`Graph::collect`] then marks dense ids with no callback and no hash;
//! [`Graph::verify`] compares the graph with a fresh listing. The README's
//! "Keeping the graph resident" has a complete example.
//!
//! See `ARCHITECTURE.md` for how the crate is laid out.

#![forbid(unsafe_code)]
// `Node<T, N, K>` in tuples and results is this crate's vocabulary; an
// alias for each would hide what a signature says.
#![allow(clippy::type_complexity)]
#![deny(missing_docs)]

mod bitset;
mod collector;
mod compose;
mod context;
mod dense;
mod dot;
mod error;
mod explain;
mod intern;
mod mark;
mod node;
mod order;
mod plan;
mod policy;
mod pool;
mod resident;
mod scan;
mod schedule;

pub use collector::{
    Barrier, Cancel, Collection, Collector, Marking, Options, Stats, Stepped, SweepOrder, Watch,
};
pub use compose::{Source, SourceError, Sources};
pub use context::{
    CollectionContext, Flow, NodeSink, NodeSinkOf, Phase, Progress, ReferenceSink, ReferenceSinkOf,
    SharedContext, Strength,
};
pub use dense::{DenseCollection, DenseCollector, DenseContext, DenseSink};
pub use error::{CollectError, Error};
pub use explain::{Reason, RootKind, Step, SweptBecause};
pub use node::{Node, NodeView};
pub use plan::{
    ApplyError, ApplyOptions, Cause, Failed, Failure, KindCounts, Plan, Protect, Remover, Report,
    Skip,
};
pub use policy::{Retention, RootCounts, SweepLimit};
pub use resident::{
    Changes, Drift, Graph, NotThisGraph, Pause, Prepared, ResidentCollection, ResidentMarking,
    SharedGraph, Staged,
};
pub use scan::{
    ScanCollection, ScanCollector, ScanContext, ScanMarking, ScanRefs, ScanRoots, ScanSink,
};
pub use schedule::{Decision, Scheduler, SchedulerConfig, SchedulerConfigError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
