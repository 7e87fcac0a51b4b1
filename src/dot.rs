//! A picture of a small collection: Graphviz DOT of every node it met,
//! styled by what became of it, and the references among them, read again
//! from the store.
//!
//! Made for debugging and for documentation, not for a store of millions
//! of nodes: it asks for the references of every node once more, and keeps
//! the whole text in memory. It knows nothing of the mark: it reads the
//! outcome through a few crate-internal accessors of [`Collection`].

use std::collections::HashMap;
use std::fmt::{Debug, Display, Write as _};
use std::hash::{BuildHasher, Hash};
use std::time::SystemTime;

use crate::context::{EmitReference, Via};
use crate::{
    CollectError, Collection, CollectionContext, Error, Node, NodeView, ReferenceSink, Retention,
    RootCounts, RootKind, Strength, SweptBecause,
};

/// What became of a node a collection met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Listed and live.
    Live,
    /// Listed and garbage.
    Swept,
    /// Not listed, so never swept, live or not.
    NotListed,
}

impl<'c, T, N, K, S> Collection<'c, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug + Display,
    N: Eq + Hash + Clone + Debug + Display,
    K: Eq + Hash + Clone + Debug + Display,
    S: BuildHasher,
{
    /// The collection as a [Graphviz](https://graphviz.org) DOT graph, for
    /// a small store: `dot -Tsvg` draws it. It calls
    /// [`references`](CollectionContext::references) once more for every
    /// node the collection met, so `ctx` should be the store as the
    /// collection saw it; its error, if any, is returned as
    /// [`Error::References`].
    ///
    /// Nodes are labelled `kind/namespace/key` (their [`Display`]), in the
    /// order the collection met them:
    ///
    /// | node | drawn |
    /// |---|---|
    /// | live | green |
    /// | swept | red |
    /// | not listed (never swept), or only named by a reference read here | white, dashed outline |
    /// | a root | double outline, and a line saying its kind (`root: lease`) |
    ///
    /// References, from the referrer to the target:
    ///
    /// | reference | drawn |
    /// |---|---|
    /// | strong | solid |
    /// | weak | dashed, grey |
    /// | flat | dotted |
    /// | structural | bold |
    /// | expired ([`ReferenceSink::expiring`] past its deadline) | dashed, red, labelled `expired` |
    /// | a history entry not retained | dashed, grey, labelled with its rank |
    /// | back-reference ([`crate::NodeSink::back_reference`]) | as its strength, with a hollow arrowhead |
    ///
    /// Every reference is drawn, read by the mark or not: a node kept
    /// flat is read for its structure only, so a solid edge from a live
    /// node to a swept one is a reference the mark did not follow
    /// ([`Strength::Flat`]).
    ///
    /// Roots are marked only if the collection ran with
    /// [`Options::explain`](crate::Options::explain): the kind of a root is
    /// the first step of [`why_live`](Self::why_live), which only an
    /// explaining collection records. Swept nodes then also get a line
    /// saying why ([`why_swept`](Self::why_swept)). Without it, nodes are
    /// drawn live or swept and nothing more. The roots' own references
    /// (what [`CollectionContext::roots`] emits) are not drawn: a root is a
    /// node, not an edge.
    ///
    /// Labels are escaped: quotes, backslashes and line breaks in a key come
    /// out as written; other control characters as `\u{…}`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use resource_gc::{CollectionContext, Collector, Node, NodeSinkOf, Options, ReferenceSinkOf};
    ///
    /// type Blob = Node<&'static str, &'static str, &'static str>;
    /// fn blob(key: &'static str) -> Blob {
    ///     Node::new("content", "default", key)
    /// }
    ///
    /// struct Store;
    /// impl CollectionContext for Store {
    ///     type Kind = &'static str;
    ///     type Namespace = &'static str;
    ///     type Key = &'static str;
    ///     type Error = Infallible;
    ///     fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         ["manifest", "layer", "old"].iter().for_each(|key| nodes.push(&blob(key)));
    ///         Ok(())
    ///     }
    ///     fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         roots.strong(&blob("manifest"));
    ///         Ok(())
    ///     }
    ///     fn references(&mut self, node: &Blob, refs: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
    ///         match node.key {
    ///             "manifest" => refs.strong(&blob("layer")),
    ///             "old" => refs.weak(&blob("layer")),
    ///             _ => {}
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut options = Options::default();
    /// options.explain = true;
    /// let mut collector = Collector::new();
    /// let collection = collector.collect_with(&mut Store, &options).unwrap();
    /// let dot = collection.to_dot(&mut Store).unwrap();
    /// assert!(dot.starts_with("digraph collection {"));
    /// assert!(dot.contains("n0 -> n1 [style=solid];"), "manifest → layer, strong");
    /// assert!(dot.contains("n2 -> n1 [style=dashed, color=\"#888888\"];"), "old ⇢ layer, weak");
    /// assert!(dot.contains("label=\"content/default/manifest\\nroot\""));
    /// assert!(dot.contains("label=\"content/default/old\\nswept: unreachable\""));
    /// ```
    pub fn to_dot<C>(&self, ctx: &mut C) -> Result<String, CollectError<C>>
    where
        C: CollectionContext<Kind = T, Namespace = N, Key = K>,
    {
        let met = self.met();
        let mut edges = Vec::new();
        let mut outside = Outside::default();
        for id in 0..met {
            let (node, _, _) = self.met_node(id);
            let mut sink = Edges {
                collection: self,
                from: id,
                edges: &mut edges,
                outside: &mut outside,
            };
            let mut ignored = RootCounts::default();
            let mut refs = ReferenceSink::new(&mut sink, self.now(), &mut ignored, false);
            if let Err(source) = ctx.references(node, &mut refs) {
                return Err(Error::References {
                    node: node.clone(),
                    source,
                });
            }
        }
        for &(parent, child, strength) in self.back_references() {
            edges.push(Edge {
                from: parent,
                to: Target::Met(child),
                drawn: Drawn::BackReference(strength),
            });
        }

        let mut out = String::from("digraph collection {\n");
        out.push_str("  rankdir=LR;\n");
        out.push_str(
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n",
        );
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        for id in 0..met {
            let (node, fate, root) = self.met_node(id);
            let why = match fate {
                Fate::Swept => self.why_swept(node),
                _ => None,
            };
            write_node(&mut out, Target::Met(id), node, fate, root, why.as_deref());
        }
        for (at, node) in outside.nodes.iter().enumerate() {
            let target = Target::Outside(at as u32);
            write_node(&mut out, target, node, Fate::NotListed, None, None);
        }
        for edge in &edges {
            write_edge(&mut out, edge);
        }
        out.push_str("}\n");
        Ok(out)
    }
}

/// A node in the picture: one the collection met, by id, or one only a
/// reference read for the picture named, by its place in [`Outside`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Met(u32),
    Outside(u32),
}

impl Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Met(id) => write!(f, "n{id}"),
            Target::Outside(at) => write!(f, "x{at}"),
        }
    }
}

/// How an edge is drawn: what kind of reference it is.
#[derive(Clone, Copy, Debug)]
enum Drawn {
    Reference(Strength),
    Expired,
    NotRetained { rank: usize },
    BackReference(Strength),
}

#[derive(Debug)]
struct Edge {
    /// Only the nodes the collection met are asked for references.
    from: u32,
    to: Target,
    drawn: Drawn,
}

/// Nodes the collection never met, named by a reference read for the
/// picture (a garbage node's reference to a removed one, say).
struct Outside<R> {
    nodes: Vec<R>,
    at: HashMap<R, u32>,
}

impl<R> Default for Outside<R> {
    fn default() -> Self {
        Outside {
            nodes: Vec::new(),
            at: HashMap::new(),
        }
    }
}

/// The sink the picture reads references into.
struct Edges<'a, 'c, T, N, K, S> {
    collection: &'a Collection<'c, T, N, K, S>,
    from: u32,
    edges: &'a mut Vec<Edge>,
    outside: &'a mut Outside<Node<T, N, K>>,
}

impl<T, N, K, S> Edges<'_, '_, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    fn edge(&mut self, node: &Node<T, N, K>, drawn: Drawn) {
        let to = match self.collection.id_of(node) {
            Some(id) => Target::Met(id),
            None => {
                let outside = &mut *self.outside;
                let next = outside.nodes.len() as u32;
                let at = *outside.at.entry(node.clone()).or_insert(next);
                if at == next {
                    outside.nodes.push(node.clone());
                }
                Target::Outside(at)
            }
        };
        self.edges.push(Edge {
            from: self.from,
            to,
            drawn,
        });
    }
}

impl<T, N, K, S> EmitReference<T, N, K> for Edges<'_, '_, T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    fn reference(&mut self, node: &Node<T, N, K>, strength: Strength, _via: Via) {
        self.edge(node, Drawn::Reference(strength));
    }

    fn reference_view(&mut self, view: &dyn NodeView<T, N, K>, strength: Strength, _via: Via) {
        self.edge(&view.to_node(), Drawn::Reference(strength));
    }

    fn expired(&mut self, node: &Node<T, N, K>, _strength: Strength, _expires: SystemTime) {
        self.edge(node, Drawn::Expired);
    }

    fn not_retained(
        &mut self,
        node: &Node<T, N, K>,
        rank: usize,
        _created: SystemTime,
        _rule: &Retention,
    ) {
        self.edge(node, Drawn::NotRetained { rank });
    }
}

/// One node statement: its label, and the style of its fate.
fn write_node<R: Display>(
    out: &mut String,
    target: Target,
    node: &R,
    fate: Fate,
    root: Option<RootKind>,
    why: Option<&[SweptBecause<'_, R>]>,
) {
    let mut label = node.to_string();
    if let Some(kind) = root {
        label.push('\n');
        label.push_str(root_name(kind));
    }
    if let Some(why) = why {
        label.push_str("\nswept: ");
        let mut said: Vec<&str> = Vec::new();
        for because in why {
            let phrase = swept_name(because);
            if !said.contains(&phrase) {
                said.push(phrase);
            }
        }
        label.push_str(&said.join(", "));
    }
    let style = match fate {
        Fate::Live => "fillcolor=\"#d5e8d4\", color=\"#82b366\"",
        Fate::Swept => "fillcolor=\"#f8cecc\", color=\"#b85450\"",
        Fate::NotListed => "style=\"rounded,dashed\", fillcolor=white, color=\"#888888\"",
    };
    let _ = write!(out, "  {target} [label=\"");
    escape(&label, out);
    let _ = write!(out, "\", {style}");
    if root.is_some() {
        out.push_str(", peripheries=2");
    }
    out.push_str("];\n");
}

/// One edge statement, styled by its kind of reference.
fn write_edge(out: &mut String, edge: &Edge) {
    let style = |strength| match strength {
        Strength::Strong => "style=solid",
        Strength::Weak => "style=dashed, color=\"#888888\"",
        Strength::Flat => "style=dotted",
        Strength::Structural => "style=bold",
    };
    let _ = write!(out, "  n{} -> {} [", edge.from, edge.to);
    let _ = match edge.drawn {
        Drawn::Reference(strength) => write!(out, "{}", style(strength)),
        Drawn::Expired => write!(out, "style=dashed, color=\"#b85450\", label=\"expired\""),
        Drawn::NotRetained { rank } => {
            write!(out, "{}, label=\"rank {rank}\"", style(Strength::Weak))
        }
        Drawn::BackReference(strength) => write!(out, "{}, arrowhead=empty", style(strength)),
    };
    out.push_str("];\n");
}

/// The second line of a root's label.
fn root_name(kind: RootKind) -> &'static str {
    match kind {
        RootKind::Explicit => "root",
        RootKind::Lease => "root: lease",
        RootKind::Grace => "root: grace period",
        RootKind::Pin => "root: pin",
        RootKind::Retention => "root: retained",
        RootKind::Written => "root: written",
    }
}

/// A reason to sweep, in a few words.
fn swept_name<R>(because: &SweptBecause<'_, R>) -> &'static str {
    match because {
        SweptBecause::Unreachable => "unreachable",
        SweptBecause::WeaklyReferenced { .. } => "weakly referenced",
        SweptBecause::LeaseExpired { .. } => "lease expired",
        SweptBecause::GraceEnded { .. } => "grace ended",
        SweptBecause::NotRetained { .. } => "not retained",
    }
}

/// Writes `text` as the inside of a DOT quoted string, to be shown as it
/// is: a quote or a backslash escaped (a lone backslash would start one of
/// Graphviz's label escapes, `\N` or `\l`), a line break as `\n`, any
/// other control character spelled out, since Graphviz would not show it.
pub(crate) fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape(text, &mut out);
        out
    }

    #[test]
    fn escape_keeps_the_text_as_written() {
        assert_eq!(escaped("plain/key:1"), "plain/key:1");
        assert_eq!(escaped("say \"hi\""), "say \\\"hi\\\"");
        assert_eq!(escaped(r"C:\dir\N"), r"C:\\dir\\N");
        assert_eq!(escaped("two\nlines"), "two\\nlines");
        assert_eq!(escaped("tab\there\r"), "tab\\\\u{9}here\\\\u{d}");
        assert_eq!(escaped("ünïcode ✓"), "ünïcode ✓");
    }
}
