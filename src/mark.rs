//! The mark core: dense `u32` ids, two colour bits per node, a grey stack.
//!
//! Invariants this module keeps, and the rest of the crate relies on:
//!
//! - It knows nothing of `Node`, hashing, clocks or I/O. Ids are dense
//!   (`0..len`); whoever maps resources to ids owns that mapping.
//! - Each node has two bits, stored side by side in one word so that a
//!   reach touches one cache line: `LIVE` (the node is kept) and `EXPANDED`
//!   (its references are, or will be, followed). White is `00`; a node held
//!   flat is `LIVE` only; a node reached strongly is `LIVE | EXPANDED` and
//!   is pushed on the grey stack exactly once. The grey set *is* the stack;
//!   a popped node is black.
//! - Nothing here recurses: marking depth is bounded by heap memory, not by
//!   the thread's stack.
//! - Colour words are atomics so that several threads can mark at once
//!   ([`SharedMarks`]), each with a grey stack of its own: a node turns grey
//!   in exactly one thread, the one whose `fetch_or` set its `EXPANDED` bit.
//!   A single thread reaches through `&mut` and pays no atomic operation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Strength;

const LIVE: u64 = 0b01;
/// The `LIVE` bit of every pair in a word.
const LIVE_BITS: u64 = 0x5555_5555_5555_5555;
const EXPANDED: u64 = 0b10;
const BITS_PER_NODE: usize = 2;
const NODES_PER_WORD: usize = 64 / BITS_PER_NODE;

/// Where a mark records what it reaches, and finds what to expand next:
/// the whole [`Marker`] on one thread, or one thread's [`SharedMarks`].
pub(crate) trait Marks {
    /// Records that `id` is referenced with `strength`, and says whether
    /// that made it live: it was white before.
    ///
    /// Strong: kept, and queued for expansion unless it already was. Flat:
    /// kept, not expanded through this reference. Weak: nothing.
    fn reach(&mut self, id: u32, strength: Strength) -> bool;

    /// Takes the next grey node, whose references the caller then follows.
    fn pop_grey(&mut self) -> Option<u32>;
}

/// Colour bits and the grey stack for one mark.
#[derive(Debug, Default)]
pub(crate) struct Marker {
    colours: Vec<AtomicU64>,
    len: usize,
    grey: Vec<u32>,
}

impl Marker {
    /// Forgets every colour and sizes the marker for ids `0..len`, keeping
    /// the allocations of earlier marks.
    pub(crate) fn reset(&mut self, len: usize) {
        self.colours.clear();
        self.grey.clear();
        self.len = 0;
        self.grow(len);
    }

    /// Makes room for ids `0..len`; new ids start white.
    pub(crate) fn grow(&mut self, len: usize) {
        if len > self.len {
            self.len = len;
            let words = len.div_ceil(NODES_PER_WORD);
            self.colours.resize_with(words, AtomicU64::default);
        }
    }

    /// How many nodes are grey.
    pub(crate) fn grey_len(&self) -> usize {
        self.grey.len()
    }

    /// Hands the grey stack out, for the threads of a shared mark to share
    /// ([`Marker::shared`]); the marker's own stack is left empty.
    pub(crate) fn take_grey(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.grey)
    }

    /// Takes back an emptied grey stack for its capacity, unless the
    /// marker has grey nodes again.
    pub(crate) fn give_grey_back(&mut self, grey: Vec<u32>) {
        debug_assert!(grey.is_empty());
        if self.grey.is_empty() {
            self.grey = grey;
        }
    }

    /// One thread's access to the colours, with a grey stack of its own.
    pub(crate) fn shared(&self) -> SharedMarks<'_> {
        SharedMarks {
            colours: &self.colours,
            grey: Vec::new(),
        }
    }

    /// Whether `id` was reached strongly or flat. Ids beyond the marker are
    /// white.
    #[inline]
    pub(crate) fn is_live(&self, id: u32) -> bool {
        if id as usize >= self.len {
            return false;
        }
        let (word, shift) = slot(id);
        self.colours[word].load(Relaxed) & (LIVE << shift) != 0
    }

    /// How many ids are live.
    pub(crate) fn live_count(&self) -> usize {
        self.colours
            .iter()
            .map(|w| (w.load(Relaxed) & LIVE_BITS).count_ones() as usize)
            .sum()
    }

    /// The ids `0..len` that are not live, ascending, a word at a time.
    pub(crate) fn dead_ids(&self) -> DeadIds<'_> {
        DeadIds {
            words: self.colours.iter(),
            len: self.len,
            next_base: 0,
            base: 0,
            mask: 0,
        }
    }

    /// Bytes held by the colour bits and the grey stack.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.colours.capacity() * 8 + self.grey.capacity() * 4
    }
}

/// The colour word of `id`, and the shift of its pair of bits there.
#[inline]
fn slot(id: u32) -> (usize, u32) {
    let id = id as usize;
    (
        id / NODES_PER_WORD,
        ((id % NODES_PER_WORD) * BITS_PER_NODE) as u32,
    )
}

impl Marks for Marker {
    #[inline]
    fn reach(&mut self, id: u32, strength: Strength) -> bool {
        debug_assert!((id as usize) < self.len, "id {id} beyond marker");
        let (word, shift) = slot(id);
        let colour = self.colours[word].get_mut();
        let was_white = *colour & (LIVE << shift) == 0;
        match strength {
            Strength::Strong => {
                if *colour & (EXPANDED << shift) == 0 {
                    *colour |= (LIVE | EXPANDED) << shift;
                    self.grey.push(id);
                }
            }
            Strength::Flat => *colour |= LIVE << shift,
            Strength::Weak => return false,
        }
        was_white
    }

    #[inline]
    fn pop_grey(&mut self) -> Option<u32> {
        self.grey.pop()
    }
}

/// One thread of a shared mark: reaches through atomic `fetch_or` on the
/// colours every thread shares, and keeps the nodes it turned grey on a
/// stack of its own (which it may share out: [`SharedMarks::grey`]).
///
/// `Relaxed` is enough: a colour bit says only that some thread has taken
/// the node; the nodes themselves are not written during the mark, and
/// joining the threads orders every bit before the sweep reads it.
#[derive(Debug)]
pub(crate) struct SharedMarks<'a> {
    colours: &'a [AtomicU64],
    /// This thread's grey nodes.
    pub(crate) grey: Vec<u32>,
}

impl Marks for SharedMarks<'_> {
    #[inline]
    fn reach(&mut self, id: u32, strength: Strength) -> bool {
        let (word, shift) = slot(id);
        let colour = &self.colours[word];
        let bits = match strength {
            Strength::Strong => (LIVE | EXPANDED) << shift,
            Strength::Flat => LIVE << shift,
            Strength::Weak => return false,
        };
        // Most references reach nodes already taken; a plain load spares
        // them the locked instruction.
        let seen = colour.load(Relaxed);
        if seen & bits == bits {
            return false;
        }
        let before = colour.fetch_or(bits, Relaxed);
        if bits & (EXPANDED << shift) != 0 && before & (EXPANDED << shift) == 0 {
            self.grey.push(id);
        }
        before & (LIVE << shift) == 0
    }

    #[inline]
    fn pop_grey(&mut self) -> Option<u32> {
        self.grey.pop()
    }
}

/// See [`Marker::dead_ids`].
pub(crate) struct DeadIds<'a> {
    words: std::slice::Iter<'a, AtomicU64>,
    len: usize,
    /// The first id of the next word.
    next_base: usize,
    /// The first id of the word `mask` came from.
    base: usize,
    /// The dead ids of the current word not yet yielded, as `LIVE` bits.
    mask: u64,
}

impl Iterator for DeadIds<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.mask == 0 {
            let word = self.words.next()?.load(Relaxed);
            self.base = self.next_base;
            self.next_base += NODES_PER_WORD;
            self.mask = !word & LIVE_BITS;
            let beyond = self.next_base.saturating_sub(self.len);
            if beyond > 0 {
                // The last word: ids past `len` are not nodes.
                self.mask &= LIVE_BITS >> (beyond * BITS_PER_NODE);
            }
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some((self.base + bit / BITS_PER_NODE) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut Marker, edges: &[(u32, u32, Strength)]) {
        while let Some(id) = m.pop_grey() {
            for &(from, to, s) in edges {
                if from == id {
                    m.reach(to, s);
                }
            }
        }
    }

    #[test]
    fn strong_expands_once_flat_keeps_weak_ignores() {
        let mut m = Marker::default();
        m.reset(5);
        m.reach(0, Strength::Strong);
        m.reach(0, Strength::Strong);
        assert_eq!(m.pop_grey(), Some(0));
        assert_eq!(m.pop_grey(), None, "a node is queued once");
        m.reach(1, Strength::Flat);
        assert!(m.is_live(1));
        assert_eq!(m.pop_grey(), None, "flat does not queue");
        m.reach(1, Strength::Strong);
        assert_eq!(m.pop_grey(), Some(1), "flat then strong expands");
        m.reach(2, Strength::Weak);
        assert!(!m.is_live(2));
        assert_eq!(m.live_count(), 2);
    }

    #[test]
    fn containerd_canonical_graph() {
        // Roots {A, C}; A→B, B→A, C→D, C→F, C→B, E→F, E→G, F→H.
        let [a, b, c, d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7];
        let s = Strength::Strong;
        let edges = [
            (a, b, s),
            (b, a, s),
            (c, d, s),
            (c, f, s),
            (c, b, s),
            (e, f, s),
            (e, g, s),
            (f, h, s),
        ];
        let mut m = Marker::default();
        m.reset(8);
        m.reach(a, s);
        m.reach(c, s);
        drain(&mut m, &edges);
        let live: Vec<u32> = (0..8).filter(|&i| m.is_live(i)).collect();
        assert_eq!(live, vec![a, b, c, d, f, h]);
    }

    #[test]
    fn reset_forgets_colours_and_grow_starts_white() {
        let mut m = Marker::default();
        m.reset(100);
        m.reach(99, Strength::Strong);
        m.reset(100);
        assert!(!m.is_live(99));
        assert_eq!(m.pop_grey(), None);
        m.grow(200);
        assert!(!m.is_live(150));
        assert!(!m.is_live(10_000), "beyond the marker is white");
    }

    #[test]
    fn dead_ids_are_the_white_and_only_in_range() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let mut m = Marker::default();
            m.reset(len);
            for id in (0..len as u32).filter(|id| id % 3 == 0) {
                m.reach(id, Strength::Flat);
            }
            let dead: Vec<u32> = m.dead_ids().collect();
            let expected: Vec<u32> = (0..len as u32).filter(|id| id % 3 != 0).collect();
            assert_eq!(dead, expected, "len {len}");
        }
    }

    #[test]
    fn racing_threads_turn_each_node_grey_once() {
        // Both threads reach every id, in the same order, so they race on
        // each one: exactly one of them must queue it.
        const LEN: u32 = 200_000;
        let mut m = Marker::default();
        m.reset(LEN as usize);
        m.reach(7, Strength::Flat);
        let (mut turned_live, mut grey) = (0, Vec::new());
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let race = || {
                let mut marks = m.shared();
                start.wait();
                let mut turned = 0;
                for id in 0..LEN {
                    let strength = if id % 5 == 0 {
                        Strength::Flat
                    } else {
                        Strength::Strong
                    };
                    turned += usize::from(marks.reach(id, strength));
                    turned += usize::from(marks.reach(id, Strength::Strong));
                }
                (turned, marks.grey)
            };
            let theirs = scope.spawn(race);
            let mine = race();
            for (turned, ids) in [mine, theirs.join().unwrap()] {
                turned_live += turned;
                grey.extend(ids);
            }
        });
        grey.sort_unstable();
        let expected: Vec<u32> = (0..LEN).collect();
        assert_eq!(grey, expected, "each id queued exactly once");
        assert_eq!(
            turned_live,
            LEN as usize - 1,
            "each id turned live once, 7 before"
        );
        assert_eq!(m.live_count(), LEN as usize);
    }

    #[test]
    fn two_bits_per_node() {
        let mut m = Marker::default();
        m.reset(1 << 20);
        assert_eq!(m.heap_bytes(), (1 << 20) / 4);
    }
}
