//! One collection over a store made of several sources, each owning some
//! kinds: containerd's plug-in collectors (`metadata/gc.go`: a `Collector`
//! per resource type, whose `CollectionContext` lists, reports active and
//! leased resources, removes and finishes), generalised so that a source's
//! nodes may reference nodes of other sources.
//!
//! [`Sources`] is a [`CollectionContext`] that routes: listing and roots go
//! to every started source, references to the owner of the node's kind. It
//! is a [`Remover`] that routes removals the same way, and its
//! [`finish`](Sources::finish) ends the run.
//!
//! A source that fails to start is left out of the run, as containerd
//! skips it for the round. What that costs is decided here, once: its
//! kinds are never listed, so never swept, and since its references cannot
//! be read, everything it declared it may reference is kept whole (see
//! [`Sources::start`]).

use std::collections::{HashMap, HashSet};
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::time::SystemTime;

use crate::context::EmitNode;
use crate::{
    CollectionContext, Node, NodeSink, NodeSinkOf, NodeView, ReferenceSink, ReferenceSinkOf,
    Remover, Strength,
};

/// One part of a store made of several: the nodes of the kinds it owns,
/// what they reference, and how to remove them. Compose sources with
/// [`Sources`].
///
/// Named for what it is to the collection: one place the nodes come from.
/// It is containerd's plug-in `Collector` and its `CollectionContext` in
/// one: [`start`](Self::start) is `StartCollection`, [`list`](Self::list)
/// is `All`, [`roots`](Self::roots) is `Active` and `Leased`,
/// [`remove`](Self::remove) is `Remove`, [`finish`](Self::finish) is
/// `Finish`.
///
/// A run of the composite calls, on a source that started: `list` and
/// `roots` once per collection, `references` for each of its nodes reached,
/// `remove_batch` for the garbage of its kinds, and `finish` once. A
/// source whose `start` failed is asked nothing else until the next run.
///
/// **What a source promises.** It lists only nodes of its own
/// [`kinds`](Self::kinds) (others are dropped from the listing), and every
/// node of another source that its own could keep (referenced from its
/// nodes, named as a root, or declared as a back-reference's child) is of
/// one of the kinds in [`may_reference`](Self::may_reference). That
/// declaration is what keeps the store safe when the source cannot start.
///
/// A lease of another source that holds nodes of this one (containerd's
/// `Leased`) is a [`NodeSink::back_reference`] from the lease to each node
/// it holds, declared while listing: only the owner of a node's kind is
/// asked for its references.
pub trait Source {
    /// The kind of a node, as in [`CollectionContext::Kind`].
    type Kind: Eq + Hash + Clone + Debug;
    /// The namespace of a node.
    type Namespace: Eq + Hash + Clone + Debug;
    /// The key of a node within its kind and namespace.
    type Key: Eq + Hash + Clone + Debug;
    /// The source's own error, carried by a [`SourceError`]: as for
    /// [`CollectionContext::Error`], any type that can be shown and
    /// debugged, kept as the [`source`](std::error::Error::source) when it
    /// implements [`std::error::Error`].
    type Error: Debug + Display + 'static;

    /// The source's name, for errors and [`Sources::left_out`].
    fn name(&self) -> &str;

    /// The kinds this source owns: no other source may own them. Read once,
    /// by [`Sources::new`].
    fn kinds(&self) -> &[Self::Kind];

    /// The kinds of other sources' nodes that this source's nodes may keep
    /// (see the trait's docs). Read once, by [`Sources::new`]. The default
    /// is none: the source's nodes keep only each other.
    fn may_reference(&self) -> &[Self::Kind] {
        &[]
    }

    /// Starts a run: opens what the source needs (a transaction, a lock, a
    /// connection). An error leaves the source out of this run. The default
    /// needs nothing.
    fn start(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Lists the source's nodes: the candidates of its kinds.
    fn list(
        &mut self,
        nodes: &mut NodeSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Emits the source's roots: what is active, and what its leases hold
    /// ([`ReferenceSink::expiring`]). The default has none.
    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error> {
        let _ = roots;
        Ok(())
    }

    /// Emits what `node`, of one of this source's kinds, references, as
    /// [`CollectionContext::references`] does. The default references
    /// nothing (containerd's plug-in resources are leaves).
    fn references(
        &mut self,
        node: &Node<Self::Kind, Self::Namespace, Self::Key>,
        refs: &mut ReferenceSink<'_, Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error> {
        let _ = (node, refs);
        Ok(())
    }

    /// Removes one of the source's nodes. A node already gone is removed:
    /// return `Ok`.
    fn remove(
        &mut self,
        node: &Node<Self::Kind, Self::Namespace, Self::Key>,
    ) -> Result<(), Self::Error>;

    /// Removes consecutive nodes of a plan, all of this source's kinds, in
    /// order. The default removes them one by one, so a failure leaves the
    /// ones before it removed (they were garbage: that is safe, and the
    /// next collection does not list them). Override it to remove a batch
    /// in one transaction.
    fn remove_batch(
        &mut self,
        batch: &[Node<Self::Kind, Self::Namespace, Self::Key>],
    ) -> Result<(), Self::Error> {
        batch.iter().try_for_each(|node| self.remove(node))
    }

    /// Ends the run, once removal is over: where slow work belongs
    /// (deleting files, as containerd's content store does in `Finish`).
    /// The default has nothing to do.
    fn finish(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Lets [`Sources`] hold sources of different types:
/// `Sources<Box<dyn Source<Kind = …, Namespace = …, Key = …, Error = …>>>`.
impl<S: Source + ?Sized> Source for Box<S> {
    type Kind = S::Kind;
    type Namespace = S::Namespace;
    type Key = S::Key;
    type Error = S::Error;

    fn name(&self) -> &str {
        (**self).name()
    }
    fn kinds(&self) -> &[Self::Kind] {
        (**self).kinds()
    }
    fn may_reference(&self) -> &[Self::Kind] {
        (**self).may_reference()
    }
    fn start(&mut self) -> Result<(), Self::Error> {
        (**self).start()
    }
    fn list(
        &mut self,
        nodes: &mut NodeSink<'_, S::Kind, S::Namespace, S::Key>,
    ) -> Result<(), S::Error> {
        (**self).list(nodes)
    }
    fn roots(
        &mut self,
        roots: &mut ReferenceSink<'_, S::Kind, S::Namespace, S::Key>,
    ) -> Result<(), S::Error> {
        (**self).roots(roots)
    }
    fn references(
        &mut self,
        node: &Node<S::Kind, S::Namespace, S::Key>,
        refs: &mut ReferenceSink<'_, S::Kind, S::Namespace, S::Key>,
    ) -> Result<(), S::Error> {
        (**self).references(node, refs)
    }
    fn remove(&mut self, node: &Node<S::Kind, S::Namespace, S::Key>) -> Result<(), S::Error> {
        (**self).remove(node)
    }
    fn remove_batch(
        &mut self,
        batch: &[Node<S::Kind, S::Namespace, S::Key>],
    ) -> Result<(), S::Error> {
        (**self).remove_batch(batch)
    }
    fn finish(&mut self) -> Result<(), S::Error> {
        (**self).finish()
    }
}

/// Why [`Sources`] failed, or refused.
///
/// As [`crate::Error`]: always [`Display`], [`Debug`] when `E` is, and a
/// [`std::error::Error`] whose [`source`](std::error::Error::source) is
/// the source's error when `E` is one; [`into_source`](Self::into_source)
/// takes out an `E` that is not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError<E> {
    /// One source failed: to start (see [`Sources::left_out`]), list, read
    /// roots or references, remove, or finish.
    #[error("source {name:?} failed")]
    Failed {
        /// The source's [`name`](Source::name).
        name: String,
        /// The source's error.
        #[source]
        source: E,
    },
    /// Two sources claim one kind. A kind has one owner: asking one of them
    /// for the references of the other's nodes would miss what they keep.
    #[error("sources {name:?} and {other:?} both claim one kind")]
    KindClaimedTwice {
        /// The source that claimed the kind second.
        name: String,
        /// The source that claimed it first.
        other: String,
    },
    /// A node to remove is of a kind no started source owns, or of a kind
    /// a source left out may reference: this run cannot remove it safely.
    /// The batch was not started.
    #[error("no source started in this run may remove a node of this kind")]
    Unremovable,
}

impl<E> SourceError<E> {
    /// The source's error, if this error carries one
    /// ([`Failed`](Self::Failed)). As [`crate::Error::into_source`].
    pub fn into_source(self) -> Option<E> {
        match self {
            SourceError::Failed { source, .. } => Some(source),
            SourceError::KindClaimedTwice { .. } | SourceError::Unremovable => None,
        }
    }

    /// The same error with the source's error converted by `f`. As
    /// [`crate::Error::map_source`].
    pub fn map_source<F>(self, f: impl FnOnce(E) -> F) -> SourceError<F> {
        match self {
            SourceError::Failed { name, source } => SourceError::Failed {
                name,
                source: f(source),
            },
            SourceError::KindClaimedTwice { name, other } => {
                SourceError::KindClaimedTwice { name, other }
            }
            SourceError::Unremovable => SourceError::Unremovable,
        }
    }
}

/// Several [`Source`]s as one store: a [`CollectionContext`] and a
/// [`Remover`] that route each call to the sources it concerns.
///
/// A run: [`start`](Self::start) (or let the collection start it), collect,
/// apply the plan, [`finish`](Self::finish). A source that fails to start
/// sits the run out, and the collection goes on without it: its nodes are
/// not swept, nor is anything it may reference ([`start`](Self::start)
/// says why), and [`left_out`](Self::left_out) says which and why.
///
/// ```
/// use resource_gc::{ApplyOptions, Collector, Node, NodeSink, ReferenceSink, Source, Sources};
///
/// type Res = Node<&'static str, &'static str, &'static str>;
/// fn node(kind: &'static str, key: &'static str) -> Res {
///     Node::new(kind, "default", key)
/// }
///
/// #[derive(Debug)]
/// struct Down;
/// impl std::fmt::Display for Down {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("not reachable")
///     }
/// }
/// impl std::error::Error for Down {}
///
/// /// A source of one kind, held in memory.
/// struct Mem {
///     kind: [&'static str; 1],
///     may_reference: Vec<&'static str>,
///     up: bool,
///     nodes: Vec<Res>,
///     roots: Vec<Res>,
///     edges: Vec<(Res, Res)>,
/// }
///
/// impl Source for Mem {
///     type Kind = &'static str;
///     type Namespace = &'static str;
///     type Key = &'static str;
///     type Error = Down;
///
///     fn name(&self) -> &str {
///         self.kind[0]
///     }
///     fn kinds(&self) -> &[&'static str] {
///         &self.kind
///     }
///     fn may_reference(&self) -> &[&'static str] {
///         &self.may_reference
///     }
///     fn start(&mut self) -> Result<(), Down> {
///         if self.up { Ok(()) } else { Err(Down) }
///     }
///     fn list(&mut self, nodes: &mut NodeSink<'_, &'static str, &'static str, &'static str>) -> Result<(), Down> {
///         self.nodes.iter().for_each(|n| nodes.push(n));
///         Ok(())
///     }
///     fn roots(&mut self, roots: &mut ReferenceSink<'_, &'static str, &'static str, &'static str>) -> Result<(), Down> {
///         self.roots.iter().for_each(|n| roots.strong(n));
///         Ok(())
///     }
///     fn references(&mut self, from: &Res, refs: &mut ReferenceSink<'_, &'static str, &'static str, &'static str>) -> Result<(), Down> {
///         self.edges.iter().filter(|(f, _)| f == from).for_each(|(_, to)| refs.strong(to));
///         Ok(())
///     }
///     fn remove(&mut self, node: &Res) -> Result<(), Down> {
///         self.nodes.retain(|n| n != node);
///         Ok(())
///     }
/// }
///
/// let images = Mem {
///     kind: ["image"], may_reference: vec!["content"], up: true,
///     nodes: vec![node("image", "app")],
///     roots: vec![node("image", "app")],
///     edges: vec![(node("image", "app"), node("content", "layer"))],
/// };
/// let content = Mem {
///     kind: ["content"], may_reference: vec![], up: true,
///     nodes: vec![node("content", "layer"), node("content", "old")],
///     roots: vec![], edges: vec![],
/// };
/// // Snapshots reference only snapshots, and cannot start this time.
/// let snapshots = Mem {
///     kind: ["snapshot"], may_reference: vec![], up: false,
///     nodes: vec![node("snapshot", "unused")],
///     roots: vec![], edges: vec![],
/// };
/// let mut sources = Sources::new([images, content, snapshots])?;
///
/// let mut collector = Collector::new();
/// let collection = collector.collect(&mut sources).expect("no source fails to list");
/// // Snapshots sit this run out: none is swept, not even "unused".
/// assert_eq!(sources.left_out().map(|(name, _)| name).collect::<Vec<_>>(), ["snapshot"]);
/// let plan = collection.plan();
/// assert_eq!(plan.nodes(), [node("content", "old")]);
///
/// // Each node goes to the source that owns it; then each started source finishes.
/// let report = plan.apply(&mut sources, &ApplyOptions::default()).expect("no generation to check");
/// assert_eq!(report.removed, [node("content", "old")]);
/// assert!(sources.finish().is_empty());
/// // Had snapshots declared `may_reference: vec!["content"]`, "old" would
/// // have been kept too: a snapshot the run cannot read might name it.
/// # Ok::<(), resource_gc::SourceError<Down>>(())
/// ```
pub struct Sources<S: Source> {
    entries: Vec<Entry<S>>,
    /// The owner of each kind, by position in `entries`.
    owners: HashMap<S::Kind, usize>,
    /// Whether a run is on: between the first start and `finish`.
    running: bool,
    /// The kinds whose nodes this run cannot see whole: owned by a source
    /// left out, or declared as what one may reference.
    unknowable: HashSet<S::Kind>,
    /// Nodes kept whole this run, emitted as strong roots: listed nodes of
    /// unknowable kinds, and children that live with a node of one.
    kept: Vec<Node<S::Kind, S::Namespace, S::Key>>,
}

struct Entry<S: Source> {
    source: S,
    name: String,
    kinds: Vec<S::Kind>,
    may_reference: Vec<S::Kind>,
    state: State<S::Error>,
}

/// Where a source is in the run.
enum State<E> {
    /// Not asked to start in this run (or the run is finished).
    Idle,
    Started,
    /// Its start failed, with this error; kept to report until the next run.
    LeftOut(E),
}

impl<S: Source> Sources<S> {
    /// Composes `sources`, in this order (the order they are listed,
    /// asked for roots and finished in). Refuses two sources that claim
    /// one kind.
    pub fn new(sources: impl IntoIterator<Item = S>) -> Result<Self, SourceError<S::Error>> {
        let mut entries = Vec::new();
        let mut owners: HashMap<S::Kind, usize> = HashMap::new();
        for source in sources {
            let at = entries.len();
            let name = source.name().to_string();
            let kinds = source.kinds().to_vec();
            for kind in &kinds {
                match owners.get(kind) {
                    Some(&other) if other != at => {
                        let other: &Entry<S> = &entries[other];
                        return Err(SourceError::KindClaimedTwice {
                            name,
                            other: other.name.clone(),
                        });
                    }
                    _ => {
                        owners.insert(kind.clone(), at);
                    }
                }
            }
            entries.push(Entry {
                may_reference: source.may_reference().to_vec(),
                source,
                name,
                kinds,
                state: State::Idle,
            });
        }
        Ok(Sources {
            entries,
            owners,
            running: false,
            unknowable: HashSet::new(),
            kept: Vec::new(),
        })
    }

    /// Starts a run, unless one is on: starts every source, in order, and
    /// leaves out those that fail. [`CollectionContext::all`] calls it, so
    /// calling it first is only needed to start under a lock of one's own,
    /// or to read [`left_out`](Self::left_out) before collecting.
    ///
    /// A source left out is not swept: none of its kinds is listed. Nor is
    /// anything it may reference: its references cannot be read, so any
    /// node of a kind in its [`may_reference`](Source::may_reference) may
    /// be live through it, and is kept *with everything it references*
    /// (emitted as a strong root), as is a child that
    /// [lives with](NodeSink::back_reference) a node of such a kind or of
    /// the left-out source's own. Keeping them whole rather than not
    /// listing them matters: an unlisted node is not swept, but what it
    /// references would be, unless something else reached it.
    pub fn start(&mut self) {
        if self.running {
            return;
        }
        self.running = true;
        self.unknowable.clear();
        self.kept.clear();
        for entry in &mut self.entries {
            entry.state = match entry.source.start() {
                Ok(()) => State::Started,
                Err(error) => {
                    self.unknowable.extend(entry.kinds.iter().cloned());
                    self.unknowable.extend(entry.may_reference.iter().cloned());
                    State::LeftOut(error)
                }
            };
        }
    }

    /// The sources left out of the current (or last) run, in order: each
    /// name with the error its start returned.
    pub fn left_out(&self) -> impl Iterator<Item = (&str, &S::Error)> {
        self.entries.iter().filter_map(|entry| match &entry.state {
            State::LeftOut(error) => Some((entry.name.as_str(), error)),
            _ => None,
        })
    }

    /// Ends the run: calls [`Source::finish`] on every started source, in
    /// order, once removal is over. A failure stops none of the others:
    /// the errors are returned, in order. After a failed collection, finish
    /// too: the sources finish having removed nothing. The next collection
    /// starts a new run, in which sources left out are tried again.
    pub fn finish(&mut self) -> Vec<SourceError<S::Error>> {
        self.running = false;
        self.kept.clear();
        let mut errors = Vec::new();
        for entry in &mut self.entries {
            if let State::Started = entry.state {
                entry.state = State::Idle;
                if let Err(source) = entry.source.finish() {
                    errors.push(SourceError::Failed {
                        name: entry.name.clone(),
                        source,
                    });
                }
            }
        }
        errors
    }

    /// The started source that may remove nodes of `kind` in this run.
    fn remover_of(&self, kind: &S::Kind) -> Option<usize> {
        let &at = self.owners.get(kind)?;
        let started = matches!(self.entries[at].state, State::Started);
        (started && !self.unknowable.contains(kind)).then_some(at)
    }
}

/// Wraps a source's error with its name.
fn failed<E>(name: &str) -> impl FnOnce(E) -> SourceError<E> + '_ {
    move |source| SourceError::Failed {
        name: name.to_string(),
        source,
    }
}

impl<S: Source> CollectionContext for Sources<S> {
    type Kind = S::Kind;
    type Namespace = S::Namespace;
    type Key = S::Key;
    type Error = SourceError<S::Error>;

    /// Lists the nodes of every started source, each source's own kinds
    /// only. Starts a run first, unless one is on.
    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Self::Error> {
        self.start();
        self.kept.clear();
        let now = nodes.now();
        for entry in &mut self.entries {
            if !matches!(entry.state, State::Started) {
                continue;
            }
            let mut listing = Listing {
                sink: nodes,
                kinds: &entry.kinds,
                unknowable: &self.unknowable,
                kept: &mut self.kept,
            };
            entry
                .source
                .list(&mut NodeSink::new(&mut listing, now))
                .map_err(failed(&entry.name))?;
        }
        Ok(())
    }

    /// Asks every started source for its roots, then keeps whole what a
    /// source left out may keep.
    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Self::Error> {
        for entry in &mut self.entries {
            if matches!(entry.state, State::Started) {
                entry.source.roots(roots).map_err(failed(&entry.name))?;
            }
        }
        roots.add_all(&self.kept, Strength::Strong);
        Ok(())
    }

    /// Asks the owner of `node`'s kind. A node of a kind nobody owns
    /// references nothing; one whose owner is left out may, but whatever
    /// it may keep is kept whole this run ([`Sources::start`]).
    fn references(
        &mut self,
        node: &Node<S::Kind, S::Namespace, S::Key>,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Self::Error> {
        let Some(&at) = self.owners.get(&node.kind) else {
            return Ok(());
        };
        let entry = &mut self.entries[at];
        match entry.state {
            State::Started => entry
                .source
                .references(node, refs)
                .map_err(failed(&entry.name)),
            _ => Ok(()),
        }
    }
}

impl<S: Source> Remover<Node<S::Kind, S::Namespace, S::Key>> for Sources<S> {
    type Error = SourceError<S::Error>;

    /// Removes `batch` through the owners of its nodes: each run of
    /// consecutive nodes of one owner is one [`Source::remove_batch`], in
    /// plan order, so referrers still go first. A batch spanning several
    /// sources is one transaction per source, not one in all: on a
    /// failure, the runs before it are removed though the batch is
    /// reported failed. That is safe (they were garbage) and a second apply
    /// converges.
    ///
    /// Refuses the whole batch, before removing any of it, if a node is
    /// one this run may not remove ([`SourceError::Unremovable`]);
    /// [`Plan::apply`](crate::Plan::apply) never hands such a node over,
    /// since [`protect`](Remover::protect) keeps it.
    fn remove(&mut self, batch: &[Node<S::Kind, S::Namespace, S::Key>]) -> Result<(), Self::Error> {
        let owners = batch
            .iter()
            .map(|node| self.remover_of(&node.kind).ok_or(SourceError::Unremovable))
            .collect::<Result<Vec<usize>, _>>()?;
        let mut start = 0;
        while start < batch.len() {
            let owner = owners[start];
            let end = start + owners[start..].iter().take_while(|&&o| o == owner).count();
            let entry = &mut self.entries[owner];
            entry
                .source
                .remove_batch(&batch[start..end])
                .map_err(failed(&entry.name))?;
            start = end;
        }
        Ok(())
    }

    /// Keeps a node of a kind no started source owns, or of a kind a source
    /// left out may reference: a plan made in another run (or by hand) may
    /// hold one, and this run cannot tell whether it is live.
    fn protect(&mut self, node: &Node<S::Kind, S::Namespace, S::Key>) -> crate::Protect {
        match self.remover_of(&node.kind) {
            Some(_) => crate::Protect::Remove,
            None => crate::Protect::Keep,
        }
    }
}

/// The listing of one source: its own kinds only, and what this run must
/// keep whole set aside.
struct Listing<'a, 's, T, N, K> {
    sink: &'a mut NodeSink<'s, T, N, K>,
    kinds: &'a [T],
    unknowable: &'a HashSet<T>,
    kept: &'a mut Vec<Node<T, N, K>>,
}

impl<T, N, K> EmitNode<T, N, K> for Listing<'_, '_, T, N, K>
where
    T: Eq + Hash + Clone,
    N: Clone,
    K: Clone,
{
    fn node(&mut self, node: &Node<T, N, K>, last_used: Option<SystemTime>) {
        // A node of a kind the source does not own is not its to offer:
        // dropped, so a source left out can never be half-swept by another.
        if !self.kinds.contains(&node.kind) {
            return;
        }
        // With every source started (the common case) nothing is hashed.
        if !self.unknowable.is_empty() && self.unknowable.contains(&node.kind) {
            self.kept.push(node.clone());
        }
        match last_used {
            Some(at) => self.sink.push_used(node, at),
            None => self.sink.push(node),
        }
    }

    fn node_view(&mut self, view: &dyn NodeView<T, N, K>, last_used: Option<SystemTime>) {
        // A view hides its kind: it is built into a node to read it. The
        // collector copies each listed node anyway; this is one more copy.
        self.node(&view.to_node(), last_used);
    }

    fn bind(&mut self, child: &Node<T, N, K>, parent: &Node<T, N, K>, strength: Strength) {
        // A parent this run cannot see whole may be live through a source
        // left out, and the child with it.
        if !self.unknowable.is_empty() && self.unknowable.contains(&parent.kind) {
            self.kept.push(child.clone());
        }
        self.sink.back_reference(child, parent, strength);
    }

    fn reserve(&mut self, additional: usize) {
        self.sink.reserve(additional);
    }
}
