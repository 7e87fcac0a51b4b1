//! Adjacency kept between collections: a compact base (CSR: one offset
//! per node, one `u32` per edge) built at the last compaction, and per
//! node a linked list of the edges added since. Removing an edge marks its
//! slot dead. When the added and dead slots pass half the base, the whole
//! is rebuilt into a new base: O(nodes + edges), once per as many changes,
//! so O(1) amortised per change.
//!
//! Knows nothing of nodes, hashing or time: rows are dense ids, edges are
//! packed `u32`s (see [`pack`]).

use crate::Strength;

/// No edge: the end of a delta list, or a dead slot.
pub(crate) const NIL: u32 = u32::MAX;

/// Bits of a packed edge below the target id: the strength (two bits) and
/// whether the edge expires.
const CODE_BITS: u32 = 3;
const EXPIRES: u32 = 0b100;

/// The most ids a packed edge can name.
pub(crate) const MAX_IDS: usize = (u32::MAX >> CODE_BITS) as usize;

/// An edge to `target` of `strength`, expiring or not, as one `u32`.
#[inline]
pub(crate) fn pack(target: u32, strength: Strength, expires: bool) -> u32 {
    debug_assert!((target as usize) < MAX_IDS);
    let code = match strength {
        Strength::Strong => 0,
        Strength::Weak => 1,
        Strength::Flat => 2,
        Strength::Structural => 3,
    };
    target << CODE_BITS | code | if expires { EXPIRES } else { 0 }
}

/// The target, the strength and whether it expires.
#[inline]
pub(crate) fn unpack(edge: u32) -> (u32, Strength, bool) {
    let strength = match edge & 0b11 {
        0 => Strength::Strong,
        1 => Strength::Weak,
        2 => Strength::Flat,
        _ => Strength::Structural,
    };
    (edge >> CODE_BITS, strength, edge & EXPIRES != 0)
}

/// Rows of packed edges, by dense id.
#[derive(Debug, Default)]
pub(crate) struct Adjacency {
    /// `offsets[id]..offsets[id + 1]` is the base row of `id`, for ids
    /// below `offsets.len() - 1`.
    offsets: Vec<u32>,
    base: Vec<u32>,
    /// The first delta slot of each id's added edges, or `NIL`.
    head: Vec<u32>,
    /// `(edge, next)`: a packed edge (or `NIL`, dead) and the next slot.
    delta: Vec<(u32, u32)>,
    /// Dead slots, base or delta.
    dead: usize,
}

impl Adjacency {
    /// Rows for ids `0..len`, the new ones empty.
    pub(crate) fn grow(&mut self, len: usize) {
        if self.head.len() < len {
            self.head.resize(len, NIL);
        }
    }

    /// Live edges.
    pub(crate) fn edge_count(&self) -> usize {
        self.base.len() + self.delta.len() - self.dead
    }

    pub(crate) fn add(&mut self, from: u32, edge: u32) {
        let slot = self.delta.len() as u32;
        let head = &mut self.head[from as usize];
        self.delta.push((edge, *head));
        *head = slot;
    }

    /// Removes one copy of `edge` from `from`'s row; says whether there
    /// was one. Costs the length of the row.
    pub(crate) fn remove(&mut self, from: u32, edge: u32) -> bool {
        if let Some(range) = self.base_range(from) {
            if let Some(slot) = self.base[range].iter_mut().find(|e| **e == edge) {
                *slot = NIL;
                self.dead += 1;
                return true;
            }
        }
        let mut at = self.head.get(from as usize).copied().unwrap_or(NIL);
        while at != NIL {
            let (slot_edge, next) = &mut self.delta[at as usize];
            if *slot_edge == edge {
                *slot_edge = NIL;
                self.dead += 1;
                return true;
            }
            at = *next;
        }
        false
    }

    /// Calls `each` for every live edge of `from`'s row. The mark walks
    /// [`base_row`](Self::base_row) itself instead: a call per edge cost a
    /// quarter of a resident mark.
    #[inline]
    pub(crate) fn for_each(&self, from: u32, mut each: impl FnMut(u32)) {
        for &edge in self.base_row(from) {
            if edge != NIL {
                each(edge);
            }
        }
        self.for_each_added(from, each);
    }

    /// `from`'s row in the compact base, dead slots (`NIL`) included.
    #[inline]
    pub(crate) fn base_row(&self, from: u32) -> &[u32] {
        match self.base_range(from) {
            Some(range) => &self.base[range],
            None => &[],
        }
    }

    /// Calls `each` for the live edges added to `from`'s row since the
    /// last compaction.
    #[inline]
    pub(crate) fn for_each_added(&self, from: u32, mut each: impl FnMut(u32)) {
        if self.delta.is_empty() {
            return;
        }
        let mut at = self.head.get(from as usize).copied().unwrap_or(NIL);
        while at != NIL {
            let (edge, next) = self.delta[at as usize];
            if edge != NIL {
                each(edge);
            }
            at = next;
        }
    }

    #[inline]
    fn base_range(&self, from: u32) -> Option<std::ops::Range<usize>> {
        let from = from as usize;
        if from + 1 >= self.offsets.len() {
            return None;
        }
        Some(self.offsets[from] as usize..self.offsets[from + 1] as usize)
    }

    /// Whether the added and dead slots are enough to pay for a rebuild.
    pub(crate) fn wants_compaction(&self) -> bool {
        self.delta.len() + self.dead > self.base.len() / 2 + 4096
    }

    /// Rebuilds the base from every live edge, rows renumbered by `new_id`
    /// (`NIL`: the row and every edge to it go) for `rows` new ids.
    pub(crate) fn compact(&mut self, rows: usize, new_id: &[u32]) {
        let mut counts = vec![0u32; rows + 1];
        for from in 0..self.head.len() as u32 {
            let to_row = new_id[from as usize];
            if to_row == NIL {
                continue;
            }
            self.for_each(from, |edge| {
                if new_id[(edge >> CODE_BITS) as usize] != NIL {
                    counts[to_row as usize + 1] += 1;
                }
            });
        }
        for row in 0..rows {
            counts[row + 1] += counts[row];
        }
        let mut base = vec![0u32; counts[rows] as usize];
        let mut fill = counts.clone();
        for from in 0..self.head.len() as u32 {
            let to_row = new_id[from as usize];
            if to_row == NIL {
                continue;
            }
            self.for_each(from, |edge| {
                let target = new_id[(edge >> CODE_BITS) as usize];
                if target != NIL {
                    base[fill[to_row as usize] as usize] =
                        target << CODE_BITS | (edge & ((1 << CODE_BITS) - 1));
                    fill[to_row as usize] += 1;
                }
            });
        }
        self.offsets = counts;
        self.base = base;
        self.head.clear();
        self.head.resize(rows, NIL);
        self.delta = Vec::new();
        self.dead = 0;
    }

    /// Bytes held on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.base.capacity() + self.head.capacity()) * 4
            + self.delta.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(adjacency: &Adjacency, from: u32) -> Vec<u32> {
        let mut edges = Vec::new();
        adjacency.for_each(from, |e| edges.push(e));
        edges.sort_unstable();
        edges
    }

    #[test]
    fn pack_round_trips() {
        for strength in [
            Strength::Strong,
            Strength::Weak,
            Strength::Flat,
            Strength::Structural,
        ] {
            for expires in [false, true] {
                let target = (MAX_IDS - 1) as u32;
                assert_eq!(
                    unpack(pack(target, strength, expires)),
                    (target, strength, expires)
                );
            }
        }
    }

    #[test]
    fn add_remove_clear_and_compact() {
        let mut a = Adjacency::default();
        a.grow(4);
        let e = |t| pack(t, Strength::Strong, false);
        a.add(0, e(1));
        a.add(0, e(2));
        a.add(0, e(2));
        a.add(1, e(3));
        assert_eq!(row(&a, 0), [e(1), e(2), e(2)]);
        assert!(a.remove(0, e(2)));
        assert_eq!(row(&a, 0), [e(1), e(2)]);
        assert!(!a.remove(0, e(3)));
        // Compact, dropping id 2: its row and edges to it go; 3 becomes 2.
        a.compact(3, &[0, 1, NIL, 2]);
        assert_eq!(row(&a, 0), [e(1)]);
        assert_eq!(row(&a, 1), [e(2)]);
        assert_eq!(a.edge_count(), 2);
        // Base and delta together.
        a.add(1, e(0));
        assert_eq!(row(&a, 1), [e(0), e(2)]);
        assert!(a.remove(1, e(2)));
        assert!(a.remove(0, e(1)));
        assert_eq!(row(&a, 0), []);
        assert_eq!(a.edge_count(), 1);
    }
}
