//! The resource type: a `Node` names one thing in the embedder's store.

use std::fmt;

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
