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
//!   with a [`Strength`]: strong, weak or flat.
//! - [`Collector`]: runs a collection and keeps its tables for the next.
//! - [`Collection`]: the outcome. [`garbage`](Collection::garbage) is what
//!   you may remove; [`is_live`](Collection::is_live) and
//!   [`stats`](Collection::stats) answer the rest. Removing is yours.
//!
//! The one rule: a live node is never swept. If the collection cannot see
//! the whole graph (a callback fails or panics, the embedder aborts, a time
//! limit passes) it returns an [`Error`] and nothing to remove.
//!
//! ```
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use resource_gc::{CollectionContext, Collector, Node, NodeSink, ReferenceSink};
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
//!     fn all(&mut self, nodes: &mut NodeSink<'_, &'static str, &'static str, String>) -> Result<(), Infallible> {
//!         nodes.reserve(self.blobs.len());
//!         for digest in self.blobs.keys() {
//!             nodes.push(&blob(digest));
//!         }
//!         Ok(())
//!     }
//!
//!     fn roots(&mut self, roots: &mut ReferenceSink<'_, &'static str, &'static str, String>) -> Result<(), Infallible> {
//!         for target in &self.images {
//!             roots.strong(&blob(target));
//!         }
//!         Ok(())
//!     }
//!
//!     fn references(&mut self, node: &Blob, refs: &mut ReferenceSink<'_, &'static str, &'static str, String>) -> Result<(), Infallible> {
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
//! - **Weak**: keeps nothing (OpenShift's weak image references). Useful so
//!   that reports can show the edge while liveness ignores it.
//! - **Flat**: the target is live, but its references are not followed
//!   through this edge (containerd's flat leases). A node reached both flat
//!   and strongly is expanded.
//!
//! See `ARCHITECTURE.md` for how the crate is laid out.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bitset;
mod collector;
mod context;
mod dense;
mod error;
mod intern;
mod mark;
mod node;
mod policy;

pub use collector::{Collection, Collector, Options, Stats};
pub use context::{CollectionContext, Flow, NodeSink, Phase, Progress, ReferenceSink};
pub use dense::{DenseCollection, DenseCollector, DenseContext, DenseSink};
pub use error::{CollectError, Error};
pub use node::Node;
pub use policy::{Retention, RootCounts, SweepLimit};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// How strongly a root or reference holds its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strength {
    /// Keeps the target and everything it references.
    Strong,
    /// Keeps nothing.
    Weak,
    /// Keeps the target only; its references are not followed through this
    /// edge.
    Flat,
}
