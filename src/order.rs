//! Removal order over dense positions: referrers before what they
//! reference, so a store that refuses to delete a referenced resource (a
//! parent image, a blob still named) never needs a retry.
//!
//! Works on positions `0..count` and edges between them; knows nothing of
//! `Node`, hashing or callbacks. The nodes of a reference cycle cannot all
//! go after their referrers, so cycles are condensed into their strongly
//! connected components first (Tarjan's algorithm, iterative: no
//! recursion), and the components are ordered topologically. Deterministic:
//! among the components ready to go, the one with the lowest position goes
//! first, and a component's nodes go in position order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const UNVISITED: u32 = u32::MAX;

/// Orders positions `0..count` so that for every edge `(from, to)` that is
/// not on a cycle, `from` comes before `to`. Sorts and deduplicates `edges`.
/// Self-loops need no care: an edge inside a component orders nothing.
pub(crate) fn referrers_first(count: usize, edges: &mut Vec<(u32, u32)>) -> Vec<u32> {
    edges.sort_unstable();
    edges.dedup();
    let first_edge = first_edge_of(count, edges.iter().map(|&(from, _)| from));
    let targets = |p: u32| &edges[first_edge[p as usize]..first_edge[p as usize + 1]];

    let (component, components) = strongly_connected(count, &targets);

    // A component's nodes in position order, and its lowest position.
    let first_member = first_edge_of(components, component.iter().copied());
    let mut members = vec![0u32; count];
    let mut filled = first_member.clone();
    for p in 0..count as u32 {
        let c = component[p as usize] as usize;
        members[filled[c]] = p;
        filled[c] += 1;
    }
    let members_of = |c: usize| &members[first_member[c]..first_member[c + 1]];

    // Kahn's algorithm over the components.
    let mut waiting_on = vec![0u32; components];
    for &(from, to) in edges.iter() {
        if component[from as usize] != component[to as usize] {
            waiting_on[component[to as usize] as usize] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<(u32, usize)>> = (0..components)
        .filter(|&c| waiting_on[c] == 0)
        .map(|c| Reverse((members_of(c)[0], c)))
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse((_, c))) = ready.pop() {
        for &p in members_of(c) {
            order.push(p);
            for &(_, to) in targets(p) {
                let to_component = component[to as usize] as usize;
                if to_component != c {
                    waiting_on[to_component] -= 1;
                    if waiting_on[to_component] == 0 {
                        ready.push(Reverse((members_of(to_component)[0], to_component)));
                    }
                }
            }
        }
    }
    debug_assert_eq!(order.len(), count, "the condensation is acyclic");
    order
}

/// Offsets into a list grouped by key: entries of key `k` are at
/// `offsets[k]..offsets[k + 1]`, given each entry's key in order.
fn first_edge_of(keys: usize, of_each: impl Iterator<Item = u32>) -> Vec<usize> {
    let mut offsets = vec![0usize; keys + 1];
    for key in of_each {
        offsets[key as usize + 1] += 1;
    }
    for k in 0..keys {
        offsets[k + 1] += offsets[k];
    }
    offsets
}

/// Tarjan's strongly connected components, with an explicit call stack.
/// Returns each position's component and the number of components.
fn strongly_connected<'e>(
    count: usize,
    targets: &impl Fn(u32) -> &'e [(u32, u32)],
) -> (Vec<u32>, usize) {
    let mut t = Tarjan {
        index: vec![UNVISITED; count],
        lowlink: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        calls: Vec::new(),
        next_index: 0,
        component: vec![0; count],
        components: 0,
    };
    for root in 0..count as u32 {
        if t.index[root as usize] != UNVISITED {
            continue;
        }
        t.visit(root);
        while let Some(&(v, done)) = t.calls.last() {
            if let Some(&(_, w)) = targets(v).get(done) {
                t.calls.last_mut().expect("just read").1 += 1;
                if t.index[w as usize] == UNVISITED {
                    t.visit(w);
                } else if t.on_stack[w as usize] {
                    t.lowlink[v as usize] = t.lowlink[v as usize].min(t.index[w as usize]);
                }
            } else {
                t.finish(v);
            }
        }
    }
    (t.component, t.components)
}

struct Tarjan {
    index: Vec<u32>,
    lowlink: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    /// The depth-first path: each node with how many of its edges are done.
    calls: Vec<(u32, usize)>,
    next_index: u32,
    component: Vec<u32>,
    components: usize,
}

impl Tarjan {
    fn visit(&mut self, p: u32) {
        self.index[p as usize] = self.next_index;
        self.lowlink[p as usize] = self.next_index;
        self.next_index += 1;
        self.stack.push(p);
        self.on_stack[p as usize] = true;
        self.calls.push((p, 0));
    }

    /// All of `v`'s edges are done: return to its caller, and if `v` roots
    /// a component, pop the component off the stack.
    fn finish(&mut self, v: u32) {
        self.calls.pop();
        if let Some(&(u, _)) = self.calls.last() {
            self.lowlink[u as usize] = self.lowlink[u as usize].min(self.lowlink[v as usize]);
        }
        if self.lowlink[v as usize] == self.index[v as usize] {
            loop {
                let w = self.stack.pop().expect("v is on the stack");
                self.on_stack[w as usize] = false;
                self.component[w as usize] = self.components as u32;
                if w == v {
                    break;
                }
            }
            self.components += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_go_first_and_ties_keep_position_order() {
        // 3 → 1 → 0, 2 alone.
        let order = referrers_first(4, &mut vec![(3, 1), (1, 0), (1, 0)]);
        assert_eq!(order, [2, 3, 1, 0]);
    }

    #[test]
    fn a_cycle_goes_together_in_position_order() {
        // 0 → 1 → 2 → 0, and 2 → 3; self-loop on 3.
        let order = referrers_first(4, &mut vec![(0, 1), (1, 2), (2, 0), (2, 3), (3, 3)]);
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn a_node_below_a_cycle_waits_for_the_whole_cycle() {
        // 1 ⇄ 2, 1 → 0: 0 is not on the cycle, so it goes last.
        let order = referrers_first(3, &mut vec![(1, 2), (2, 1), (1, 0)]);
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn every_edge_off_cycles_is_respected() {
        let mut edges = vec![(5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (5, 0)];
        let order = referrers_first(6, &mut edges);
        assert_eq!(order, [5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn a_long_chain_does_not_recurse() {
        let n = 200_000u32;
        let mut edges: Vec<(u32, u32)> = (1..n).map(|p| (p, p - 1)).collect();
        edges.push((0, n - 1)); // one big cycle
        let order = referrers_first(n as usize, &mut edges);
        assert_eq!(order, (0..n).collect::<Vec<_>>());
    }
}
