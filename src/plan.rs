//! Removal the crate vouches for: a [`Plan`] of the garbage, owned and in
//! removal order, and [`Plan::apply`], which removes exactly it and
//! nothing else, item by item or batch by batch, in two phases.
//!
//! Why the crate does this and not each embedder: the half after the
//! decision is where peers fail in public. One failed removal stopped
//! containerd's whole cleanup; OpenShift aggregates errors by hand; Vespa
//! retries parents until their children are gone. Here:
//!
//! - **A failure stops nothing.** A batch that fails (or panics) is
//!   reported with its error, and everything it references is skipped,
//!   since the failed node still names it; the rest goes on.
//! - **Two phases.** Metadata first, batch by batch, each batch one
//!   transaction of the embedder's ([`Remover::remove`]); then, once every
//!   batch is committed, the payloads (files, chunks) of what was removed
//!   ([`Remover::clean`]), as containerd does in its `Finish`. A crash
//!   between the two leaves payloads that no metadata names: garbage by
//!   definition, which the next collection sweeps, with no recovery code.
//! - **A last word.** [`Remover::protect`] may keep one node (an open
//!   handle, a protected name) or stop the whole apply, just before each.
//! - **A plan made earlier is checked.** A plan carries the store's
//!   generation when it was made ([`Plan::with_generation`]); applied to
//!   another generation, it refuses ([`ApplyError::Stale`]) rather than
//!   guess.
//!
//! It knows nothing of the collector: a plan is a list and the references
//! among it, and apply walks them.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::SystemTime;

use indexmap::IndexMap;

use crate::Node;

/// The garbage of one collection, owned, in removal order, with who
/// references whom among it: what [`apply`](Self::apply) will remove, and
/// nothing else. `Clone`, to print or keep a dry run; serialisable with the
/// `serde` feature.
///
/// From [`Collection::plan`](crate::Collection::plan).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Plan<R> {
    nodes: Vec<R>,
    /// `(referrer, referent)` positions in `nodes`, sorted, or `None` if
    /// the collection did not read the references among its garbage.
    references: Option<Vec<(u32, u32)>>,
    made_at: SystemTime,
    generation: Option<u64>,
    /// Live nodes that held less than they name when the plan was made.
    // A function, not `default`: serde's `default` would ask `R: Default`.
    #[cfg_attr(feature = "serde", serde(default = "Vec::new"))]
    partly_held: Vec<R>,
}

impl<R> Plan<R> {
    /// A plan of `nodes`, in this order, with the references among them as
    /// `(referrer, referent)` positions in `nodes` (`None` if unknown).
    /// Positions out of range are dropped.
    pub fn new(nodes: Vec<R>, references: Option<Vec<(u32, u32)>>, made_at: SystemTime) -> Self {
        let references = references.map(|mut refs| {
            refs.retain(|&(from, to)| (from as usize) < nodes.len() && (to as usize) < nodes.len());
            refs.sort_unstable();
            refs.dedup();
            refs
        });
        Plan {
            nodes,
            references,
            made_at,
            generation: None,
            partly_held: Vec::new(),
        }
    }

    /// The nodes to remove, in removal order.
    pub fn nodes(&self) -> &[R] {
        &self.nodes
    }

    /// How many nodes the plan removes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the plan removes nothing.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Who references whom among the plan's nodes, `(referrer, referent)`,
    /// if the collection read it ([`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst)).
    pub fn references(&self) -> Option<impl Iterator<Item = (&R, &R)>> {
        let refs = self.references.as_ref()?;
        Some(
            refs.iter()
                .map(|&(from, to)| (&self.nodes[from as usize], &self.nodes[to as usize])),
        )
    }

    /// The time of the collection that made the plan.
    pub fn made_at(&self) -> SystemTime {
        self.made_at
    }

    /// Records the store's generation (a version, a transaction id) the
    /// plan was made at: [`apply`](Self::apply) then refuses to run at any
    /// other ([`ApplyOptions::generation`]).
    #[must_use]
    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// Records [`partly_held`](Self::partly_held).
    pub(crate) fn with_partly_held(mut self, nodes: Vec<R>) -> Self {
        self.partly_held = nodes;
        self
    }

    /// The nodes that held less than they name when the plan was made:
    /// live nodes reached only flat, so that their references beyond their
    /// structure were not followed, or naming something through a lease
    /// already expired; and, with known [`references`](Self::references),
    /// nodes of the plan that name, directly or through the plan, a node
    /// the collection did not read in full (one of those live nodes, or a
    /// node it neither listed nor reached), which may name more of the
    /// plan than its references say. A writer that reports one of them (a
    /// flat-held snapshot now held strongly, a lease renewed, a tag on a
    /// manifest that names such a snapshot) may have made any node of the
    /// plan live again, so [`apply_watched`](Self::apply_watched) then
    /// keeps everything not removed yet. Recorded by
    /// [`Collection::plan`](crate::Collection::plan); empty for a plan
    /// made with [`new`](Self::new).
    pub fn partly_held(&self) -> &[R] {
        &self.partly_held
    }

    /// The generation the plan was made at, if recorded.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Removes the plan's nodes through `remover`, in plan order: metadata
    /// in batches of [`ApplyOptions::batch_size`], then, once all batches
    /// are done, payloads node by node. Nothing outside the plan is
    /// touched; a node the plan names that is already gone counts as
    /// removed, if the remover says so (removing what is gone should
    /// succeed), so a second apply of the same plan converges.
    ///
    /// A batch that fails or panics fails whole (a batch is one
    /// transaction: all of it or none), and every node it references is
    /// skipped, transitively: a failed node still names them. So is
    /// everything a [`Protect::Keep`] keeps. Without known references
    /// ([`references`](Self::references) is `None`), a failure skips
    /// every node not removed yet: nothing live is touched, but a node
    /// removed before the failure may still be named by one that stays
    /// (both garbage; the next collection takes the rest). So, within a
    /// cycle of garbage, may a node removed before a member that names it
    /// fails.
    ///
    /// The report is exact only if each [`Remover::remove`] is all or
    /// none. A remover that cannot promise that (several stores, each with
    /// its own transaction) should be given a `batch_size` of one.
    ///
    /// Refuses to start, with nothing removed, if the plan's generation is
    /// not the store's ([`ApplyError::Stale`]).
    pub fn apply<M: Remover<R>>(
        &self,
        remover: &mut M,
        options: &ApplyOptions,
    ) -> Result<Report<R, M::Error>, ApplyError>
    where
        R: Clone,
    {
        self.run(remover, options, |_: &mut Vec<Revived<R>>| {})
    }

    /// The apply loop; before each batch, `revived` adds what writers made
    /// live since its last call.
    fn run<M: Remover<R>>(
        &self,
        remover: &mut M,
        options: &ApplyOptions,
        mut revived: impl FnMut(&mut Vec<Revived<R>>),
    ) -> Result<Report<R, M::Error>, ApplyError>
    where
        R: Clone,
    {
        if let Some(planned) = self.generation {
            match options.generation {
                Some(current) if current == planned => {}
                current => return Err(ApplyError::Stale { planned, current }),
            }
        }
        let batch_size = options.batch_size.max(1);
        let mut fate = vec![Fate::Pending; self.nodes.len()];
        let referents = Referents::new(self.nodes.len(), self.references.as_deref());
        let mut report = Report::default();
        let mut batch: Vec<usize> = Vec::with_capacity(batch_size);
        let mut batch_nodes: Vec<R> = Vec::with_capacity(batch_size);
        let mut live_again = Vec::new();
        // Positions whose referents a node made live again has kept.
        let mut revived_through = vec![false; self.nodes.len()];
        let mut at = 0;
        'plan: while at < self.nodes.len() {
            batch.clear();
            while at < self.nodes.len() && batch.len() < batch_size {
                let position = at;
                at += 1;
                if fate[position] != Fate::Pending {
                    continue;
                }
                match remover.protect(&self.nodes[position]) {
                    Protect::Remove => batch.push(position),
                    Protect::Keep => {
                        fate[position] = Fate::Kept;
                        report.skipped.push(Skip {
                            node: self.nodes[position].clone(),
                            cause: Cause::Kept,
                        });
                        referents.skip(position, &mut fate, &self.nodes, &mut report.skipped);
                        // What it names may sit in this batch already (a
                        // cycle; a plan built by hand): it stays too.
                        batch.retain(|&p| fate[p] == Fate::Pending);
                    }
                    Protect::Abort => {
                        // Nothing more is removed; the batch gathered so far
                        // is not started either.
                        for &p in &batch {
                            fate[p] = Fate::Kept;
                            report.skipped.push(Skip {
                                node: self.nodes[p].clone(),
                                cause: Cause::Aborted,
                            });
                        }
                        at = position;
                        break 'plan;
                    }
                }
            }
            // Re-validation, as late as the crate can: what writers made
            // live since the plan was made stays, with all it names.
            revived(&mut live_again);
            for revival in live_again.drain(..) {
                match revival {
                    Revived::Planned(at) => {
                        if fate[at] == Fate::Pending {
                            fate[at] = Fate::Kept;
                            report.skipped.push(Skip {
                                node: self.nodes[at].clone(),
                                cause: Cause::Reported,
                            });
                        }
                        // Whatever became of it: removed, it may have been
                        // written again under its key; failed or kept, it
                        // kept only what it names through nodes still
                        // there. Live now, it holds what it names, through
                        // nodes removed too (a removed parent's children
                        // still declare it).
                        referents.skip_revived(
                            at,
                            &mut fate,
                            &mut revived_through,
                            &self.nodes,
                            &mut report.skipped,
                        );
                    }
                    Revived::Holder(holder) => {
                        for (at, fate) in fate.iter_mut().enumerate() {
                            if *fate == Fate::Pending {
                                *fate = Fate::Kept;
                                report.skipped.push(Skip {
                                    node: self.nodes[at].clone(),
                                    cause: Cause::NamedBy(holder.clone()),
                                });
                            }
                        }
                    }
                }
            }
            batch.retain(|&p| fate[p] == Fate::Pending);
            if batch.is_empty() {
                continue;
            }
            batch_nodes.clear();
            batch_nodes.extend(batch.iter().map(|&p| self.nodes[p].clone()));
            match catch_unwind(AssertUnwindSafe(|| remover.remove(&batch_nodes))) {
                Ok(Ok(())) => {
                    for &position in &batch {
                        fate[position] = Fate::Removed;
                    }
                }
                outcome => {
                    let error = match outcome {
                        Ok(Err(error)) => Failure::Error(error),
                        Err(panic) => Failure::Panicked(panic_message(&*panic)),
                        Ok(Ok(())) => unreachable!(),
                    };
                    report.failed.push(Failed {
                        batch: batch_nodes.clone(),
                        failure: error,
                    });
                    for &position in &batch {
                        fate[position] = Fate::Failed;
                    }
                    for &position in &batch {
                        referents.skip(position, &mut fate, &self.nodes, &mut report.skipped);
                    }
                }
            }
        }
        // An abort leaves the rest where it is.
        for (fate, node) in fate[at..].iter_mut().zip(&self.nodes[at..]) {
            if *fate == Fate::Pending {
                *fate = Fate::Kept;
                report.skipped.push(Skip {
                    node: node.clone(),
                    cause: Cause::Aborted,
                });
            }
        }
        report.aborted = at < self.nodes.len();

        // Phase two: the payloads of what is gone from the metadata.
        for (position, node) in self.nodes.iter().enumerate() {
            if fate[position] != Fate::Removed {
                continue;
            }
            let mut freed = None;
            match catch_unwind(AssertUnwindSafe(|| remover.clean(node))) {
                Ok(Ok(bytes)) => {
                    if let Some(bytes) = bytes {
                        report.bytes_reclaimed = report.bytes_reclaimed.saturating_add(bytes);
                    }
                    freed = bytes;
                }
                Ok(Err(error)) => report.uncleaned.push((node.clone(), Failure::Error(error))),
                Err(panic) => report
                    .uncleaned
                    .push((node.clone(), Failure::Panicked(panic_message(&*panic)))),
            }
            report.removed.push(node.clone());
            report.removed_bytes.push(freed);
        }
        Ok(report)
    }
}

impl<T, N, K> Plan<Node<T, N, K>>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
{
    /// As [`apply`](Self::apply), re-validating the plan against what
    /// writers reported through the collector's [`Barrier`](crate::Barrier)
    /// since `watch` began ([`Barrier::watch`](crate::Barrier::watch)): a
    /// node of the plan reported live since (a new reference to it, a root
    /// on it, a lease renewed) is not removed, nor is anything it names,
    /// through any number of the plan's references; each is reported
    /// skipped, [`Cause::Reported`] or [`Cause::NamedBy`]. The references
    /// are followed through nodes already removed too, and from a
    /// reported node already removed: written again under its key, it is
    /// still the parent its children's back-references name. Without known
    /// references ([`references`](Self::references) is `None`), one such
    /// report keeps everything not removed yet.
    ///
    /// The check runs just before each batch. A writer that commits
    /// between that check and the batch's transaction is not seen by it:
    /// so either apply with the writers held out (one lock over the whole
    /// apply, as containerd removes under its database's lock), or, for a
    /// store whose writers commit between batches, have
    /// [`Remover::remove`], inside its own transaction, fail the batch if
    /// the watch holds a report made since the last
    /// [`Remover::protect`] call, which comes just before the check: keep
    /// the count [`Watch::reported_since`](crate::Watch::reported_since)
    /// returns in `protect`, and ask again from it in `remove`. The batch
    /// stays, what it names stays, the report says so, and the next check
    /// sees the report. Asking only whether a node of the batch was
    /// reported ([`Watch::reported_any`](crate::Watch::reported_any)) is
    /// not enough: a report of a node later in a plan without references,
    /// or of a [`partly_held`](Self::partly_held) one, may make nodes of
    /// the batch live without naming them.
    ///
    /// What is removed stays removed: a node made live again keeps what it
    /// names that is not removed yet. In referrers-first order
    /// ([`SweepOrder::ReferrersFirst`](crate::SweepOrder::ReferrersFirst))
    /// a node still in the store names nothing of the plan already
    /// removed, except within a cycle; in listing order it may, and a flat
    /// hold made strong or a lease renewed may name what was removed while
    /// it held it flat or not at all, as after any collection.
    ///
    /// A node the collection neither listed nor reached (an unlisted image
    /// no root held when the plan was made) is unknown to the plan: a
    /// report of it keeps nothing. A writer that roots or references such
    /// a node while it names nodes of the plan must report those too.
    pub fn apply_watched<M: Remover<Node<T, N, K>>>(
        &self,
        remover: &mut M,
        options: &ApplyOptions,
        watch: &crate::Watch<T, N, K>,
    ) -> Result<Report<Node<T, N, K>, M::Error>, ApplyError> {
        // Built at the first report: most applies see none.
        // A node's position in the plan, if it is in it, and whether it is
        // partly held (a node of the plan may be both).
        let mut positions: Option<HashMap<&Node<T, N, K>, (Option<usize>, bool)>> = None;
        let mut seen = 0;
        self.run(
            remover,
            options,
            |live_again: &mut Vec<Revived<Node<T, N, K>>>| {
                seen = watch.reported_since(seen, |node| {
                    let positions = positions.get_or_insert_with(|| {
                        let mut positions = HashMap::new();
                        for (at, node) in self.nodes.iter().enumerate() {
                            positions.entry(node).or_insert((None, false)).0 = Some(at);
                        }
                        for node in &self.partly_held {
                            positions.entry(node).or_insert((None, false)).1 = true;
                        }
                        positions
                    });
                    let Some(&(at, holder)) = positions.get(node) else {
                        return;
                    };
                    if let Some(at) = at {
                        live_again.push(Revived::Planned(at));
                    }
                    if holder {
                        live_again.push(Revived::Holder(node.clone()));
                    }
                });
            },
        )
    }
}

/// A report that re-validation acts on.
enum Revived<R> {
    /// A node of the plan, at this position.
    Planned(usize),
    /// A node that held part of the plan less than it names
    /// ([`Plan::partly_held`]).
    Holder(R),
}

/// What became of a plan position while applying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Pending,
    Removed,
    Failed,
    /// Kept: vetoed, skipped or after an abort.
    Kept,
}

/// The referents of each plan position, to skip what a failed or kept
/// node still names.
struct Referents<'a> {
    /// `None`: unknown, so a failure skips everything not removed yet.
    refs: Option<&'a [(u32, u32)]>,
    len: usize,
}

impl<'a> Referents<'a> {
    fn new(len: usize, refs: Option<&'a [(u32, u32)]>) -> Self {
        Referents { refs, len }
    }

    /// As [`skip`](Self::skip), for a node writers made live again, which
    /// may sit anywhere in the plan: its references are followed through
    /// every node, removed, failed or kept ones too, each once over the
    /// apply (`through`); without known references, everything not
    /// removed yet stays.
    fn skip_revived<R: Clone>(
        &self,
        from: usize,
        fate: &mut [Fate],
        through: &mut [bool],
        nodes: &[R],
        out: &mut Vec<Skip<R>>,
    ) {
        let keep = |position: usize, fate: &mut [Fate], out: &mut Vec<Skip<R>>| {
            if fate[position] == Fate::Pending {
                fate[position] = Fate::Kept;
                out.push(Skip {
                    node: nodes[position].clone(),
                    cause: Cause::NamedBy(nodes[from].clone()),
                });
            }
        };
        let Some(refs) = self.refs else {
            for position in 0..self.len {
                keep(position, fate, out);
            }
            return;
        };
        if std::mem::replace(&mut through[from], true) {
            return;
        }
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            let first = refs.partition_point(|&(f, _)| (f as usize) < at);
            for &(_, to) in refs[first..].iter().take_while(|&&(f, _)| f as usize == at) {
                let to = to as usize;
                keep(to, fate, out);
                if !std::mem::replace(&mut through[to], true) {
                    stack.push(to);
                }
            }
        }
    }

    /// Marks kept, and reports, everything `from` still names, through any
    /// number of references, that is not removed yet.
    fn skip<R: Clone>(&self, from: usize, fate: &mut [Fate], nodes: &[R], out: &mut Vec<Skip<R>>) {
        let cause = nodes[from].clone();
        let keep = |position: usize, fate: &mut [Fate], out: &mut Vec<Skip<R>>| {
            if fate[position] == Fate::Pending {
                fate[position] = Fate::Kept;
                out.push(Skip {
                    node: nodes[position].clone(),
                    cause: Cause::NamedBy(cause.clone()),
                });
                true
            } else {
                false
            }
        };
        let Some(refs) = self.refs else {
            for position in from + 1..self.len {
                keep(position, fate, out);
            }
            return;
        };
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            let first = refs.partition_point(|&(f, _)| (f as usize) < at);
            for &(_, to) in refs[first..].iter().take_while(|&&(f, _)| f as usize == at) {
                if keep(to as usize, fate, out) {
                    stack.push(to as usize);
                }
            }
        }
    }
}

/// The message a panic carried, if it was a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_string())
}

/// What removes a plan's nodes from the store: the embedder's.
pub trait Remover<R> {
    /// The embedder's error, reported per failed batch.
    type Error;

    /// Phase one: removes the metadata of `batch` (consecutive nodes of the
    /// plan, referrers first) as one transaction: all of it, or, on an
    /// error, none. A node already gone is removed: return `Ok`.
    fn remove(&mut self, batch: &[R]) -> Result<(), Self::Error>;

    /// Phase two, once every batch is done: removes what `node` kept
    /// outside the metadata (a file, chunks), and says how many bytes that
    /// freed, if it knows. The default has nothing to clean. A failure
    /// leaves a payload no metadata names: garbage for the next
    /// collection, if payloads are nodes the store lists.
    fn clean(&mut self, node: &R) -> Result<Option<u64>, Self::Error> {
        let _ = node;
        Ok(None)
    }

    /// Asked just before each node is put in a batch: remove it, keep it
    /// (and what it references), or stop the whole apply. The default
    /// removes.
    fn protect(&mut self, node: &R) -> Protect {
        let _ = node;
        Protect::Remove
    }
}

/// The last word on one node, from [`Remover::protect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protect {
    /// Remove it.
    Remove,
    /// Keep it, and everything it references: reported as skipped.
    Keep,
    /// Stop: remove nothing more (what is already removed stays removed).
    Abort,
}

/// Settings for [`Plan::apply`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// How many nodes one [`Remover::remove`] call (one transaction)
    /// removes at most. At least one; the default is 256.
    pub batch_size: usize,
    /// The store's generation now, for a plan that recorded one
    /// ([`Plan::with_generation`]): apply refuses unless they are equal.
    pub generation: Option<u64>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            batch_size: 256,
            generation: None,
        }
    }
}

impl ApplyOptions {
    /// Sets [`batch_size`](Self::batch_size).
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`generation`](Self::generation).
    #[must_use]
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }
}

/// Why [`Plan::apply`] removed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The plan was made at another generation of the store than the one
    /// given (or none was given): something may have changed since, and
    /// guessing which plan entries still hold is not safe. Collect again.
    #[error(
        "the plan was made at generation {planned}, the store is at {current:?}: collect again"
    )]
    Stale {
        /// The generation the plan was made at.
        planned: u64,
        /// The generation given to apply, if any.
        current: Option<u64>,
    },
}

/// What [`Plan::apply`] did: every node of the plan is in exactly one of
/// `removed`, a batch of `failed`, or `skipped`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Report<R, E> {
    /// Removed from the metadata, in plan order.
    pub removed: Vec<R>,
    /// The batches that failed, each with the embedder's error or the
    /// panic's message. Their nodes are still there.
    pub failed: Vec<Failed<R, E>>,
    /// Not tried, each with why.
    pub skipped: Vec<Skip<R>>,
    /// Removed, but whose payload [`Remover::clean`] failed to remove: left
    /// for the next collection.
    pub uncleaned: Vec<(R, Failure<E>)>,
    /// Bytes [`Remover::clean`] reported freed.
    pub bytes_reclaimed: u64,
    /// [`Protect::Abort`] stopped the apply.
    pub aborted: bool,
    /// What [`Remover::clean`] reported for each of `removed`, in step.
    removed_bytes: Vec<Option<u64>>,
}

impl<R, E> Default for Report<R, E> {
    fn default() -> Self {
        Report {
            removed: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
            uncleaned: Vec::new(),
            bytes_reclaimed: 0,
            aborted: false,
            removed_bytes: Vec::new(),
        }
    }
}

impl<R, E> Report<R, E> {
    /// Whether every node of the plan was removed and cleaned.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.uncleaned.is_empty()
    }
}

/// What [`Plan::apply`] did to the nodes of one kind: see
/// [`Report::by_kind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindCounts {
    /// Removed.
    pub removed: usize,
    /// In a batch that failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
    /// Bytes [`Remover::clean`] reported freed by the removed ones.
    pub bytes_reclaimed: u64,
}

impl<T: Eq + Hash, N, K, E> Report<Node<T, N, K>, E> {
    /// The report counted per kind, kinds in the order the plan first
    /// names them (removed nodes first, then failed, then skipped: each
    /// in plan order), as an operator reads a plan.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use resource_gc::{ApplyOptions, Node, Plan, Remover};
    ///
    /// struct Remove;
    /// impl Remover<Node<&'static str, (), u32>> for Remove {
    ///     type Error = std::io::Error;
    ///     fn remove(&mut self, _: &[Node<&'static str, (), u32>]) -> Result<(), Self::Error> {
    ///         Ok(())
    ///     }
    ///     fn clean(&mut self, node: &Node<&'static str, (), u32>) -> Result<Option<u64>, Self::Error> {
    ///         Ok(Some(u64::from(node.key) * 100))
    ///     }
    /// }
    /// let nodes = vec![Node::new("image", (), 1), Node::new("layer", (), 2), Node::new("layer", (), 3)];
    /// let report = Plan::new(nodes, None, SystemTime::UNIX_EPOCH)
    ///     .apply(&mut Remove, &ApplyOptions::default())
    ///     .unwrap();
    /// let kinds: Vec<(&&str, usize, u64)> = report
    ///     .by_kind()
    ///     .into_iter()
    ///     .map(|(kind, counts)| (kind, counts.removed, counts.bytes_reclaimed))
    ///     .collect();
    /// assert_eq!(kinds, [(&"image", 1, 100), (&"layer", 2, 500)]);
    /// ```
    pub fn by_kind(&self) -> IndexMap<&T, KindCounts> {
        let mut kinds: IndexMap<&T, KindCounts> = IndexMap::new();
        for (at, node) in self.removed.iter().enumerate() {
            let counts = kinds.entry(&node.kind).or_default();
            counts.removed += 1;
            // A report built by hand has no bytes per node.
            let bytes = self.removed_bytes.get(at).copied().flatten().unwrap_or(0);
            counts.bytes_reclaimed = counts.bytes_reclaimed.saturating_add(bytes);
        }
        for failed in &self.failed {
            for node in &failed.batch {
                kinds.entry(&node.kind).or_default().failed += 1;
            }
        }
        for skip in &self.skipped {
            kinds.entry(&skip.node.kind).or_default().skipped += 1;
        }
        kinds
    }
}

/// A batch that [`Remover::remove`] could not remove.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failed<R, E> {
    /// Its nodes, all still there.
    pub batch: Vec<R>,
    /// Why.
    pub failure: Failure<E>,
}

/// Why a removal failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// The embedder's error.
    Error(E),
    /// The remover panicked, with this message; the panic was caught.
    Panicked(String),
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(error) => error.fmt(f),
            Failure::Panicked(message) => write!(f, "panicked: {message}"),
        }
    }
}

/// A node [`Plan::apply`] did not try to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skip<R> {
    /// The node.
    pub node: R,
    /// Why it was kept.
    pub cause: Cause<R>,
}

/// Why [`Plan::apply`] kept a node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause<R> {
    /// [`Remover::protect`] kept it.
    Kept,
    /// A node that failed to go, or was kept, still names it, directly or
    /// through others it names (or, without known references, it came
    /// after a failure, or a node writers made live again may name it); or
    /// a node writers reported held less than it names when the plan was
    /// made ([`Plan::partly_held`]), and may hold it now.
    NamedBy(R),
    /// [`Protect::Abort`] stopped the apply before it.
    Aborted,
    /// A writer reported it live since the plan was made
    /// ([`Plan::apply_watched`]).
    Reported,
}
