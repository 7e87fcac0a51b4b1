//! The one error type of a collection.

use std::time::Duration;

use crate::{Phase, SweepLimit};

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
    /// [`crate::CollectionContext::resolve_pin`] failed for one pin.
    #[error("resolving the pin {name:?} failed")]
    Resolving {
        /// The pin's name.
        name: String,
        /// The embedder's error.
        #[source]
        source: E,
    },
    /// The collection would sweep more than [`crate::Options::sweep_limit`]
    /// allows. It swept nothing; `would_sweep` is what it would have swept,
    /// in listing order (the limit is checked before any
    /// [`crate::SweepOrder`] is applied, so a tripped breaker costs no more
    /// callbacks), for the caller to inspect and, if it decides to, remove
    /// explicitly.
    #[error(
        "the collection would sweep {} of {listed} nodes, past the limit {limit:?}",
        would_sweep.len()
    )]
    SweepLimitExceeded {
        /// The garbage, had the limit not stopped it.
        would_sweep: Vec<R>,
        /// How many nodes were listed.
        listed: usize,
        /// The limit that was configured.
        limit: SweepLimit,
    },
    /// A setting in [`crate::Options`] is unusable.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// [`crate::CollectionContext::checkpoint`] asked to stop.
    #[error("the collection was aborted during {phase}")]
    Aborted {
        /// The phase the collection was in.
        phase: Phase,
    },
    /// An earlier call of this collection in two parts
    /// ([`crate::Marking`]) failed or panicked, so it cannot go on.
    #[error("an earlier step of this collection failed; it sweeps nothing")]
    Poisoned,
    /// The collection was cancelled through [`crate::Options::cancel`].
    #[error("the collection was cancelled during {phase}")]
    Cancelled {
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
    /// Memory for a size the embedder gave (a [`crate::DenseContext`]'s
    /// node count) could not be allocated.
    #[error("could not allocate {bytes} bytes")]
    OutOfMemory {
        /// How much was asked for.
        bytes: usize,
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
