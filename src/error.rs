//! The one error type of a collection.

use std::time::Duration;

use crate::{Phase, SweepLimit};

/// Why a collection returned nothing to remove.
///
/// `E` is the embedder's own error ([`crate::CollectionContext::Error`]).
/// `R` names a resource: a [`crate::Node`] on the `Node` path, a `u32` id
/// on the dense path. Whatever the variant, the collection swept nothing:
/// the mark could not see the whole graph, and a partial mark must never
/// decide what is garbage.
///
/// It is [`Display`](std::fmt::Display) and [`Debug`] whatever `E` is
/// (that is, for any `E: Debug`, given an `R: Debug`, as a
/// [`crate::Node`] and a `u32` are). It implements [`std::error::Error`] when `E` does, with the
/// embedder's error as its [`source`](std::error::Error::source). An `E`
/// that does not, such as `anyhow::Error`, is taken back out with
/// [`into_source`](Self::into_source), which keeps the chain:
///
/// ```
/// # use anyhow::anyhow;
/// fn to_anyhow(err: resource_gc::Error<anyhow::Error, u32>) -> anyhow::Error {
///     let what = err.to_string();
///     match err.into_source() {
///         Some(source) => source.context(what),
///         None => anyhow::Error::msg(what),
///     }
/// }
///
/// let source = anyhow!("disk gone").context("reading row 7");
/// let err = to_anyhow(resource_gc::Error::References { node: 7, source });
/// assert_eq!(
///     format!("{err:#}"),
///     "reading the references of 7 failed: reading row 7: disk gone",
/// );
/// ```
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
    /// A context emitted, into a [`crate::Graph`] being built, something
    /// decided at one instant (`add_if`, `history`), which a graph kept
    /// between collections could not keep true. Report such references as
    /// changes when they change, or collect with a
    /// [`crate::Collector`].
    #[error("a resident graph cannot keep `{what}`: it is decided at one instant")]
    NotResident {
        /// The sink method the context called.
        what: &'static str,
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

impl<E, R> Error<E, R> {
    /// The embedder's error, if this error carries one
    /// ([`Listing`](Self::Listing), [`Roots`](Self::Roots),
    /// [`References`](Self::References), [`Resolving`](Self::Resolving)).
    ///
    /// For an `E` that is not a [`std::error::Error`], so not the
    /// [`source`](std::error::Error::source): take this error's message
    /// first (its [`Display`](std::fmt::Display) never includes `E`'s),
    /// then the embedder's error, and chain them as `E` chains.
    pub fn into_source(self) -> Option<E> {
        match self {
            Error::Listing(source) | Error::Roots(source) => Some(source),
            Error::References { source, .. } | Error::Resolving { source, .. } => Some(source),
            Error::SweepLimitExceeded { .. }
            | Error::InvalidOptions { .. }
            | Error::Aborted { .. }
            | Error::Poisoned
            | Error::Cancelled { .. }
            | Error::TimedOut { .. }
            | Error::IdOutOfRange { .. }
            | Error::NotResident { .. }
            | Error::TooManyNodes { .. }
            | Error::OutOfMemory { .. } => None,
        }
    }

    /// The same error with the embedder's error converted by `f`: say, to
    /// a type that implements [`std::error::Error`], so that this one does
    /// too. The variant and what else it carries are kept.
    pub fn map_source<F>(self, f: impl FnOnce(E) -> F) -> Error<F, R> {
        match self {
            Error::Listing(source) => Error::Listing(f(source)),
            Error::Roots(source) => Error::Roots(f(source)),
            Error::References { node, source } => Error::References {
                node,
                source: f(source),
            },
            Error::Resolving { name, source } => Error::Resolving {
                name,
                source: f(source),
            },
            Error::SweepLimitExceeded {
                would_sweep,
                listed,
                limit,
            } => Error::SweepLimitExceeded {
                would_sweep,
                listed,
                limit,
            },
            Error::InvalidOptions { reason } => Error::InvalidOptions { reason },
            Error::Aborted { phase } => Error::Aborted { phase },
            Error::Poisoned => Error::Poisoned,
            Error::Cancelled { phase } => Error::Cancelled { phase },
            Error::TimedOut { limit, phase } => Error::TimedOut { limit, phase },
            Error::IdOutOfRange { id, len } => Error::IdOutOfRange { id, len },
            Error::NotResident { what } => Error::NotResident { what },
            Error::TooManyNodes { max } => Error::TooManyNodes { max },
            Error::OutOfMemory { bytes } => Error::OutOfMemory { bytes },
        }
    }
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
