//! The one error type of a collection.

use std::time::Duration;

use crate::Phase;

/// Why a collection returned nothing to remove.
///
/// `E` is the embedder's own error ([`crate::CollectionContext::Error`]);
/// it is kept as the [`source`](std::error::Error::source). `R` names a
/// resource: a [`crate::Node`] on the `Node` path, a `u32` id on the dense
/// path. Whatever the
/// variant, the collection swept nothing: the mark could not see the whole
/// graph, and a partial mark must never decide what is garbage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E, R> {
    /// [`crate::CollectionContext::all`] failed.
    #[error("listing the nodes failed")]
    Listing(#[source] E),
    /// [`crate::CollectionContext::roots`] failed.
    #[error("reading the roots failed")]
    Roots(#[source] E),
    /// [`crate::CollectionContext::references`] failed for one node.
    #[error("reading the references of {node:?} failed")]
    References {
        /// The node whose references could not be read.
        node: R,
        /// The embedder's error.
        #[source]
        source: E,
    },
    /// [`crate::CollectionContext::checkpoint`] asked to stop.
    #[error("the collection was aborted during {phase}")]
    Aborted {
        /// The phase the collection was in.
        phase: Phase,
    },
    /// The collection ran past [`crate::Options::time_limit`].
    #[error("the collection ran past its time limit of {limit:?} during {phase}")]
    TimedOut {
        /// The limit that was configured.
        limit: Duration,
        /// The phase the collection was in.
        phase: Phase,
    },
    /// A [`crate::DenseContext`] emitted an id beyond its node count.
    #[error("id {id} is out of range: the context has {len} ids")]
    IdOutOfRange {
        /// The id emitted.
        id: u32,
        /// [`crate::DenseContext::node_count`].
        len: u32,
    },
    /// The store has more distinct nodes than 32-bit ids can number.
    #[error("the store lists more than {max} distinct nodes")]
    TooManyNodes {
        /// The most nodes one collector can hold.
        max: u64,
    },
}

/// The error of a collection over the context `C`: its own error type, and
/// its nodes as the resource type.
pub type CollectError<C> = Error<
    <C as crate::CollectionContext>::Error,
    crate::Node<
        <C as crate::CollectionContext>::Kind,
        <C as crate::CollectionContext>::Namespace,
        <C as crate::CollectionContext>::Key,
    >,
>;
