//! Removal order over dense positions: referrers before what they
//! reference, so a store that refuses to delete a referenced resource (a
//! parent image, a blob still named) never needs a retry.
//!
//! Works on positions `0..count` and edges between them; knows nothing of
//! `Node`, hashing or callbacks. Deterministic: among the nodes ready to
//! go, the lowest position goes first; a cycle is broken at its lowest
//! position.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Orders positions `0..count` so that for every edge `(from, to)` not on a
/// cycle, `from` comes before `to`. Sorts and deduplicates `edges`.
pub(crate) fn referrers_first(count: usize, edges: &mut Vec<(u32, u32)>) -> Vec<u32> {
    edges.retain(|&(from, to)| from != to);
    edges.sort_unstable();
    edges.dedup();

    let mut first_edge = vec![0usize; count + 1];
    let mut waiting_on = vec![0u32; count];
    for &(from, to) in edges.iter() {
        first_edge[from as usize + 1] += 1;
        waiting_on[to as usize] += 1;
    }
    for p in 0..count {
        first_edge[p + 1] += first_edge[p];
    }

    let mut ready: BinaryHeap<Reverse<u32>> = (0..count as u32)
        .filter(|&p| waiting_on[p as usize] == 0)
        .map(Reverse)
        .collect();
    let mut done = vec![false; count];
    let mut order = Vec::with_capacity(count);
    let mut lowest_not_done = 0;
    while order.len() < count {
        let next = match ready.pop() {
            Some(Reverse(p)) => p,
            // Only cycles remain: break the one with the lowest position.
            None => {
                while done[lowest_not_done] {
                    lowest_not_done += 1;
                }
                lowest_not_done as u32
            }
        };
        if std::mem::replace(&mut done[next as usize], true) {
            continue;
        }
        order.push(next);
        let targets = &edges[first_edge[next as usize]..first_edge[next as usize + 1]];
        for &(_, to) in targets {
            let to = to as usize;
            if !done[to] {
                waiting_on[to] -= 1;
                if waiting_on[to] == 0 {
                    ready.push(Reverse(to as u32));
                }
            }
        }
    }
    order
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
    fn a_cycle_is_broken_at_its_lowest_position() {
        // 0 → 1 → 2 → 0, and 2 → 3; self-loop on 3.
        let order = referrers_first(4, &mut vec![(0, 1), (1, 2), (2, 0), (2, 3), (3, 3)]);
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn every_edge_off_cycles_is_respected() {
        let mut edges = vec![(5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (5, 0)];
        let order = referrers_first(6, &mut edges);
        assert_eq!(order, [5, 4, 3, 2, 1, 0]);
    }
}
