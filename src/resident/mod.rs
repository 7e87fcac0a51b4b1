//! A graph the crate keeps between collections, for stores that report
//! their changes: each collection then marks dense ids, with no listing,
//! no callback and no hash.
//!
//! - `mod.rs` (here): the [`Graph`]: nodes interned once, what is listed,
//!   last-used times, roots, references and back-references with their
//!   strengths and deadlines; interning and compaction.
//! - `build.rs`: a graph from one full listing through a
//!   [`CollectionContext`](crate::CollectionContext).
//! - `changes.rs`: [`Changes`], staged as a store transaction is, applied
//!   in two steps ([`Graph::prepare`], [`Graph::commit`]).
//! - `collect.rs`: a collection over the graph ([`Graph::collect`],
//!   [`ResidentCollection`]).
//! - `shared.rs`: a graph collected while writers write
//!   ([`SharedGraph`], [`ResidentMarking`]).
//! - `verify.rs`: the graph against a fresh listing ([`Graph::verify`],
//!   [`Drift`]).
//!
//! Invariants: an id names one node between compactions; a compaction
//! renumbers every id (in the order a mark reaches them) and drops the
//! nodes that are neither listed nor named by anything and have no
//! references of their own. The mark never hashes: every edge is a packed
//! id (`adjacency.rs`).

mod adjacency;
mod build;
mod changes;
mod collect;
mod explain;
mod shared;
mod verify;

use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::SystemTime;

use std::sync::Arc;

use hashbrown::HashTable;

use crate::Node;
use crate::bitset::BitSet;
use crate::mark::Marker;
use adjacency::{Adjacency, MAX_IDS, pack, unpack};

pub use changes::{Changes, NotThisGraph, Prepared};
pub use collect::ResidentCollection;
pub use shared::{Pause, ResidentMarking, SharedGraph, Staged};
pub use verify::Drift;

/// A map keyed by ids: ids need no keyed hash, only a spread one.
type HashMap<K, V> = hashbrown::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// FxHash's step over the `u32`s of an id key: ids are dense, chosen by
/// the graph, not by anyone who could aim collisions at it.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte));
        }
    }

    #[inline]
    fn write_u32(&mut self, word: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The error of building a graph from a context, of preparing changes
/// (the graph is full) and of collecting over it.
type GraphError<T, N, K> = crate::Error<std::convert::Infallible, Node<T, N, K>>;

/// The graph of a store, kept between collections: see the crate docs,
/// "Keeping the graph resident".
///
/// Built once from a full listing ([`Graph::build`]); then the embedder
/// reports each change of its store as [`Changes`], staged inside its
/// store transaction and applied in two steps around the store's commit
/// ([`prepare`](Self::prepare) before, [`commit`](Self::commit) after),
/// and collects with [`collect`](Self::collect), as often as it likes:
/// a collection marks dense ids and reads nothing from the store.
/// [`verify`](Self::verify) compares the graph with a fresh listing.
pub struct Graph<T, N, K, S = RandomState> {
    hasher: S,
    /// Ids, keyed by the nodes they stand for.
    table: HashTable<u32>,
    nodes: Vec<Node<T, N, K>>,
    /// The candidates: what the store lists.
    listed: BitSet,
    listed_count: usize,
    /// Last-used times of listed nodes that have one.
    last_used: HashMap<u32, SystemTime>,
    /// References, by referrer.
    references: Adjacency,
    /// Back-references, by parent: `parent → child`, declared by the child.
    bound: Adjacency,
    /// Each child's back-references, `(parent, packed edge)`, to forget
    /// them with the child.
    parents: HashMap<u32, Vec<(u32, u32)>>,
    /// Deadlines of expiring references, by `(referrer, packed edge)`.
    deadlines: HashMap<(u32, u32), SystemTime>,
    /// Roots, by packed edge, with how many times each was added. Ordered
    /// by target id: the mark pushes them in the order compaction
    /// numbered them (see `compact`).
    roots: std::collections::BTreeMap<u32, u32>,
    /// Deadlines of expiring roots, by packed edge.
    root_deadlines: HashMap<u32, SystemTime>,
    marker: Marker,
    /// One more holder per [`Prepared`] not yet committed or aborted: the
    /// graph compacts only when there is none, and a `Prepared` knows its
    /// graph by it.
    pending: Arc<()>,
    /// How many `prepare`s have run: orders a staged removal against the
    /// listings prepared after it.
    prepares: u64,
    /// The `prepare` that last listed each node, while any `Prepared` is
    /// outstanding: a removal staged before it must not undo it.
    listed_by: HashMap<u32, u64>,
    /// While a collection's short part applies its queue: every node
    /// unlisted, to count the candidates that left.
    pub(super) unlisted: Option<Vec<u32>>,
}

impl<T, N, K, S> Debug for Graph<T, N, K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.nodes.len())
            .field("listed", &self.listed_count)
            .field("references", &self.references.edge_count())
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl<T, N, K> Default for Graph<T, N, K, RandomState> {
    fn default() -> Self {
        Self::with_hasher(RandomState::new())
    }
}

impl<T, N, K> Graph<T, N, K, RandomState> {
    /// An empty graph: a store with nothing in it yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T, N, K, S> Graph<T, N, K, S> {
    /// An empty graph that hashes nodes with `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        Graph {
            hasher,
            table: HashTable::new(),
            nodes: Vec::new(),
            listed: BitSet::default(),
            listed_count: 0,
            last_used: HashMap::default(),
            references: Adjacency::default(),
            bound: Adjacency::default(),
            parents: HashMap::default(),
            deadlines: HashMap::default(),
            roots: std::collections::BTreeMap::new(),
            root_deadlines: HashMap::default(),
            marker: Marker::default(),
            pending: Arc::new(()),
            prepares: 0,
            listed_by: HashMap::default(),
            unlisted: None,
        }
    }

    /// How many nodes the store lists: the candidates.
    pub fn listed_count(&self) -> usize {
        self.listed_count
    }

    /// How many references and back-references the graph holds.
    pub fn reference_count(&self) -> usize {
        self.references.edge_count() + self.bound.edge_count()
    }

    /// Bytes the graph holds on the heap beyond the nodes' own
    /// allocations (a `String` key's bytes): the table, the node slots,
    /// the adjacency, the maps and the mark's colour bits, by capacity.
    pub fn heap_bytes(&self) -> usize {
        let map = |len: usize, entry: usize| len * (entry + 1) * 8 / 7;
        self.table.capacity() * 5
            + self.nodes.capacity() * std::mem::size_of::<Node<T, N, K>>()
            + self.listed_count.div_ceil(8)
            + self.references.heap_bytes()
            + self.bound.heap_bytes()
            + map(self.last_used.capacity(), 20)
            + map(self.parents.capacity(), 28)
            + map(self.deadlines.capacity(), 24)
            + self.roots.len() * 16
            + map(self.root_deadlines.capacity(), 20)
            + self.marker.heap_bytes()
    }
}

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn find(&self, node: &Node<T, N, K>) -> Option<u32> {
        self.find_hashed(self.hasher.hash_one(node), node)
    }

    /// [`find`](Self::find), given the node's hash.
    fn find_hashed(&self, hash: u64, node: &Node<T, N, K>) -> Option<u32> {
        let nodes = &self.nodes;
        self.table
            .find(hash, |&id| nodes[id as usize] == *node)
            .copied()
    }

    /// The id of `node`, interned if new. `None`: the graph is full.
    fn intern(&mut self, node: &Node<T, N, K>) -> Option<u32> {
        self.intern_hashed(self.hasher.hash_one(node), node)
    }

    /// [`intern`](Self::intern), given the node's hash.
    fn intern_hashed(&mut self, hash: u64, node: &Node<T, N, K>) -> Option<u32> {
        if let Some(id) = self.find_hashed(hash, node) {
            return Some(id);
        }
        if self.nodes.len() >= MAX_IDS {
            return None;
        }
        let id = self.nodes.len() as u32;
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(&nodes[id as usize]));
        self.nodes.push(node.clone());
        self.references.grow(self.nodes.len());
        self.bound.grow(self.nodes.len());
        Some(id)
    }

    /// Whether `node` is listed.
    pub fn is_listed(&self, node: &Node<T, N, K>) -> bool {
        self.find(node).is_some_and(|id| self.listed.contains(id))
    }

    /// Who references `node`, with each reference's strength: a walk over
    /// every row (no reverse edges are kept; see the crate docs for why),
    /// so for an operator's question, not for a hot path.
    pub fn referrers(&self, node: &Node<T, N, K>) -> Vec<(&Node<T, N, K>, crate::Strength)> {
        let Some(target) = self.find(node) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for from in 0..self.nodes.len() as u32 {
            let mut each = |edge: u32| {
                let (to, strength, _) = unpack(edge);
                if to == target {
                    found.push((&self.nodes[from as usize], strength));
                }
            };
            self.references.for_each(from, &mut each);
            self.bound.for_each(from, &mut each);
        }
        found
    }

    /// Rebuilds the adjacency when enough has changed since the last
    /// time, dropping the nodes that are neither listed nor named by
    /// anything and have no references of their own (what the store
    /// removed for good). Amortised O(1) per change; called after each
    /// commit.
    /// Compacts if due and nothing prepared holds the ids; says whether
    /// it did.
    fn maybe_compact(&mut self) -> bool {
        let prepared = Arc::strong_count(&self.pending) > 1;
        let due = self.references.wants_compaction() || self.bound.wants_compaction();
        if !prepared && due {
            self.compact();
        }
        !prepared && due
    }

    /// Renumbers the ids that are still needed, in the order a mark reaches them, and
    /// rebuilds everything keyed by id.
    fn compact(&mut self) {
        const GONE: u32 = u32::MAX;
        let len = self.nodes.len();
        // Needed: listed, a root's target, a node with references or
        // back-references of its own, or named by a needed row. The row of
        // an unlisted node (an image the store never sweeps) is the
        // store's until the store removes the node, even while nothing
        // names it: named again, it holds again what it held. What goes is
        // what carries nothing: unlisted, no root, an empty row (removed,
        // or only ever a target), and named by no row.
        //
        // New ids go in the order a mark would reach them (depth first from
        // the roots, then from the rest), so that a mark reads the colours
        // and rows nearly in order: numbered in listing order (hash or
        // digest order), the same mark took 9x as long on the benchmark's
        // store graph.
        let mut new_id = vec![GONE; len];
        let mut next = 0u32;
        let mut stack: Vec<u32> = Vec::new();
        let mut number = |stack: &mut Vec<u32>, new_id: &mut [u32]| {
            while let Some(id) = stack.pop() {
                new_id[id as usize] = next;
                next += 1;
                let mut visit = |edge: u32| {
                    let (to, _, _) = unpack(edge);
                    if new_id[to as usize] == GONE {
                        // Queued: numbered when popped.
                        new_id[to as usize] = GONE - 1;
                        stack.push(to);
                    }
                };
                self.references.for_each(id, &mut visit);
                self.bound.for_each(id, &mut visit);
            }
        };
        // As the mark starts: every root queued, the first on top.
        for &edge in self.roots.keys().rev() {
            let (id, _, _) = unpack(edge);
            if new_id[id as usize] == GONE {
                new_id[id as usize] = GONE - 1;
                stack.push(id);
            }
        }
        number(&mut stack, &mut new_id);
        let mut seeds: Vec<u32> = self.listed.iter().collect();
        for (&child, parents) in &self.parents {
            if self.listed.contains(child) {
                seeds.extend(parents.iter().map(|&(parent, _)| parent));
            }
        }
        for id in 0..len as u32 {
            let mut row = false;
            self.references.for_each(id, |_| row = true);
            self.bound.for_each(id, |_| row = true);
            if row {
                seeds.push(id);
            }
        }
        for seed in seeds {
            if new_id[seed as usize] == GONE {
                new_id[seed as usize] = GONE - 1;
                stack.push(seed);
                number(&mut stack, &mut new_id);
            }
        }
        let rows = next as usize;
        let renumber = |edge: u32| {
            let (to, strength, expires) = unpack(edge);
            (new_id[to as usize] != GONE).then(|| pack(new_id[to as usize], strength, expires))
        };
        self.references.compact(rows, &new_id);
        self.bound.compact(rows, &new_id);

        let mut slots: Vec<Option<Node<T, N, K>>> = Vec::with_capacity(rows);
        slots.resize_with(rows, || None);
        for (id, node) in std::mem::take(&mut self.nodes).into_iter().enumerate() {
            if new_id[id] != GONE {
                slots[new_id[id] as usize] = Some(node);
            }
        }
        self.nodes = slots
            .into_iter()
            .map(|node| node.expect("every new id is some old id's"))
            .collect();
        self.table.clear();
        // Room for a quarter more nodes: growing the table rehashes every
        // node, and that should happen once per compaction at most, not
        // in the middle of a collection's short part. A hint: dropped if
        // the allocator cannot meet it.
        let headroom = rows / 4;
        let _ = self.nodes.try_reserve_exact(headroom);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        let _ = self
            .table
            .try_reserve(rows + headroom, |&id| hasher.hash_one(&nodes[id as usize]));
        for id in 0..rows as u32 {
            let hash = hasher.hash_one(&nodes[id as usize]);
            self.table
                .insert_unique(hash, id, |&id| hasher.hash_one(&nodes[id as usize]));
        }
        let mut listed = BitSet::default();
        for id in self.listed.iter() {
            listed.insert(new_id[id as usize]);
        }
        self.listed = listed;
        self.last_used = std::mem::take(&mut self.last_used)
            .into_iter()
            .filter(|&(id, _)| new_id[id as usize] != GONE)
            .map(|(id, at)| (new_id[id as usize], at))
            .collect();
        self.parents = std::mem::take(&mut self.parents)
            .into_iter()
            .filter(|&(child, _)| new_id[child as usize] != GONE)
            .map(|(child, parents)| {
                let parents = parents
                    .into_iter()
                    .filter(|&(parent, _)| new_id[parent as usize] != GONE)
                    .filter_map(|(parent, edge)| Some((new_id[parent as usize], renumber(edge)?)))
                    .collect();
                (new_id[child as usize], parents)
            })
            .collect();
        self.deadlines = std::mem::take(&mut self.deadlines)
            .into_iter()
            .filter_map(|((from, edge), at)| {
                let from = new_id[from as usize];
                (from != GONE).then_some(())?;
                Some(((from, renumber(edge)?), at))
            })
            .collect();
        self.roots = std::mem::take(&mut self.roots)
            .into_iter()
            .filter_map(|(edge, count)| Some((renumber(edge)?, count)))
            .collect();
        // Compaction runs with no `Prepared` outstanding.
        self.listed_by.clear();
        self.root_deadlines = std::mem::take(&mut self.root_deadlines)
            .into_iter()
            .filter_map(|(edge, at)| Some((renumber(edge)?, at)))
            .collect();
    }
}
