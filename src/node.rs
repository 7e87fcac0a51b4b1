//! The resource type: a `Node` names one thing in the embedder's store.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One resource in the embedder's store, named by its kind, namespace and key.
///
/// This mirrors containerd's `gc.Node { Type, Namespace, Key }`: the kind is
/// usually a small enum (content, snapshot, lease…), the namespace isolates
/// tenants, and the key is unique within a kind and namespace (a digest, a
/// `snapshotter/name`, a lease id). Any `Eq + Hash + Clone` types will do.
///
/// ```
/// use resource_gc::Node;
/// let blob = Node::new("content", "default", "sha256:1234");
/// assert_eq!(blob.to_string(), "content/default/sha256:1234");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Node<T, N, K> {
    /// What sort of resource this is: content, snapshot, lease, …
    pub kind: T,
    /// The namespace the resource lives in.
    pub namespace: N,
    /// The resource's name within its kind and namespace.
    pub key: K,
}

impl<T, N, K> Node<T, N, K> {
    /// Makes a node from its three parts.
    pub fn new(kind: T, namespace: N, key: K) -> Self {
        Node {
            kind,
            namespace,
            key,
        }
    }
}

/// Formats as `kind/namespace/key`, as containerd prints its nodes.
impl<T: fmt::Display, N: fmt::Display, K: fmt::Display> fmt::Display for Node<T, N, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.key)
    }
}

/// A borrowed stand-in for a [`Node`], so that a store can emit a
/// reference or list a node without building an owned one: a
/// `Node<Kind, &str, &str>` stands for a `Node<Kind, String, String>`, and
/// the collector builds an owned node from it only where it needs a copy:
/// for each listed node, and for a reference only to a node it has never
/// seen. This saves two string allocations per reference for stores that
/// read their references out of label strings.
///
/// It is implemented for `Node<T, &QN, &QK>` wherever `N: Borrow<QN>` and
/// `K: Borrow<QK>`; `Borrow`'s contract (equal values hash alike) is what
/// makes the lookup sound.
///
/// ```
/// use resource_gc::{Node, NodeView};
/// let owned: Node<u8, String, String> = Node::new(1, "default".into(), "sha256:ab".into());
/// let view = Node::new(1u8, "default", "sha256:ab");
/// assert!(NodeView::<u8, String, String>::is(&view, &owned));
/// assert_eq!(NodeView::<u8, String, String>::to_node(&view), owned);
/// ```
pub trait NodeView<T, N, K> {
    /// Writes what `Hash` writes for the node this stands for.
    fn hash_as_node(&self, state: &mut dyn Hasher);
    /// Whether this stands for `node`.
    fn is(&self, node: &Node<T, N, K>) -> bool;
    /// The owned node this stands for.
    fn to_node(&self) -> Node<T, N, K>;
}

impl<T, N, K, QN, QK> NodeView<T, N, K> for Node<T, &QN, &QK>
where
    T: Hash + Eq + Clone,
    N: Borrow<QN>,
    K: Borrow<QK>,
    QN: Hash + Eq + ToOwned<Owned = N> + ?Sized,
    QK: Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    fn hash_as_node(&self, mut state: &mut dyn Hasher) {
        // The order `#[derive(Hash)]` on `Node` writes its fields in.
        self.kind.hash(&mut state);
        self.namespace.hash(&mut state);
        self.key.hash(&mut state);
    }

    fn is(&self, node: &Node<T, N, K>) -> bool {
        self.kind == node.kind
            && *self.namespace == *node.namespace.borrow()
            && *self.key == *node.key.borrow()
    }

    fn to_node(&self) -> Node<T, N, K> {
        Node::new(
            self.kind.clone(),
            self.namespace.to_owned(),
            self.key.to_owned(),
        )
    }
}
