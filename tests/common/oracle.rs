//! The naive oracle the property tests compare the crate with: a plain
//! breadth-first search over adjacency lists, with the strength rules
//! (strong keeps and expands, flat keeps, weak keeps nothing).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use resource_gc::Strength;

/// What a collection must answer, computed the naive way.
#[derive(Debug, Default)]
pub struct Expected {
    /// Every key reached strongly or flat, listed or not.
    pub live: BTreeSet<u32>,
    /// The keys reached strongly: the only ones whose references are read.
    pub expanded: BTreeSet<u32>,
    /// Listed keys that are not live, each once, in first-listing order.
    pub garbage: Vec<u32>,
    /// Listed keys that are live, each once, in first-listing order.
    pub live_listed: Vec<u32>,
    /// Distinct listed keys.
    pub nodes_listed: usize,
    /// Strong and flat roots, duplicates included.
    pub roots: usize,
    /// Strong and flat references read from expanded nodes.
    pub references_followed: usize,
    /// Weak roots, plus weak references read from expanded nodes.
    pub weak_references: usize,
    /// Strong and flat references read from expanded nodes whose target was
    /// not listed.
    pub dead_edges: usize,
}

/// Marks `target`; whether the reference keeps it.
fn reach(e: &mut Expected, queue: &mut VecDeque<u32>, target: u32, strength: Strength) -> bool {
    if strength != Strength::Weak {
        e.live.insert(target);
    }
    if strength == Strength::Strong && e.expanded.insert(target) {
        queue.push_back(target);
    }
    strength != Strength::Weak
}

/// The oracle's answer for a listing (in order, duplicates allowed), roots
/// and edges `(from, to, strength)`; a source's edges in emission order.
pub fn oracle(
    listed: &[u32],
    roots: &[(u32, Strength)],
    edges: &[(u32, u32, Strength)],
) -> Expected {
    let mut adjacency: HashMap<u32, Vec<(u32, Strength)>> = HashMap::new();
    for &(from, to, strength) in edges {
        adjacency.entry(from).or_default().push((to, strength));
    }
    let listed_set: HashSet<u32> = listed.iter().copied().collect();
    let mut e = Expected::default();
    let mut queue = VecDeque::new();
    for &(target, strength) in roots {
        if reach(&mut e, &mut queue, target, strength) {
            e.roots += 1;
        } else {
            e.weak_references += 1;
        }
    }
    while let Some(from) = queue.pop_front() {
        for &(target, strength) in adjacency.get(&from).into_iter().flatten() {
            if reach(&mut e, &mut queue, target, strength) {
                e.references_followed += 1;
                e.dead_edges += usize::from(!listed_set.contains(&target));
            } else {
                e.weak_references += 1;
            }
        }
    }
    let mut seen = HashSet::new();
    for &key in listed {
        if seen.insert(key) {
            if e.live.contains(&key) {
                e.live_listed.push(key);
            } else {
                e.garbage.push(key);
            }
        }
    }
    e.nodes_listed = seen.len();
    e
}
