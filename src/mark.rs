//! The mark core: dense `u32` ids, two colour bits per node, a grey stack.
//!
//! Invariants this module keeps, and the rest of the crate relies on:
//!
//! - It knows nothing of `Node`, hashing, clocks or I/O. Ids are dense
//!   (`0..len`); whoever maps resources to ids owns that mapping.
//! - Each node has two bits, stored side by side in one word so that a
//!   reach touches one cache line: `LIVE` (the node is kept) and `EXPANDED`
//!   (all its references are, or will be, followed). White is `00`; a node
//!   held flat is `LIVE` only; a node reached strongly is `LIVE | EXPANDED`.
//! - A node is pushed on the grey stack once, when it turns `EXPANDED`.
//!   A node a flat reach turns live from white is pushed once on the
//!   *flat* stack: its structure, and only that, is to be followed
//!   ([`Reach::Flat`]). The grey set *is* the two stacks; a popped node is
//!   black.
//! - Strong work goes first: a flat node is popped only once no strong work
//!   is left ([`Marks::pop_grey`] is told when that is), and then only if
//!   it has not turned `EXPANDED` since. A flat expansion reaches only
//!   flat, so by then the strongly reached set is final, and a node is
//!   expanded exactly once: fully if it is reached strongly at all, for
//!   its structure if it is reached only flat. That set does not depend
//!   on the order of the mark, so neither do the counts.
//! - Nothing here recurses: marking depth is bounded by heap memory, not by
//!   the thread's stack.
//! - Colour words are atomics so that several threads can mark at once
//!   ([`SharedMarks`]), each with a grey stack of its own: a node turns grey
//!   in exactly one thread, the one whose `fetch_or` set its `EXPANDED` bit.
//!   A single thread reaches through `&mut` and pays no atomic operation.

use std::collections::TryReserveError;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::Strength;

/// Ids are `u32`: half the memory of `usize` in every id-indexed buffer.
pub(crate) const MAX_IDS: usize = u32::MAX as usize;

const LIVE: u64 = 0b01;
/// The `LIVE` bit of every pair in a word.
const LIVE_BITS: u64 = 0x5555_5555_5555_5555;
const EXPANDED: u64 = 0b10;
const BITS_PER_NODE: usize = 2;
const NODES_PER_WORD: usize = 64 / BITS_PER_NODE;

/// How a node is reached, and so how much of it is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reach {
    /// Kept, and every reference it has is followed.
    Strong,
    /// Kept, and only its structure ([`Strength::Structural`] references,
    /// `lives_with` children) is followed, flat in turn.
    Flat,
}

impl Reach {
    /// How a reference of `strength`, from a node reached `self`, reaches
    /// its target; `None` if it is not followed: weak, or anything but
    /// structure from a flat reach.
    #[inline]
    pub(crate) fn through(self, strength: Strength) -> Option<Reach> {
        match (strength, self) {
            (Strength::Structural, from) => Some(from),
            (Strength::Strong, Reach::Strong) => Some(Reach::Strong),
            (Strength::Flat, Reach::Strong) => Some(Reach::Flat),
            _ => None,
        }
    }
}

/// Where a mark records what it reaches, and finds what to expand next:
/// the whole [`Marker`] on one thread, or one thread's [`SharedMarks`].
pub(crate) trait Marks {
    /// Records that `id` is reached, and says whether that made it live: it
    /// was white before.
    ///
    /// Strong: kept, and queued for a full expansion unless it already was.
    /// Flat: kept, and, if it was white, queued for a flat expansion.
    fn reach(&mut self, id: u32, reach: Reach) -> bool;

    /// Takes the next grey node and how far to expand it: a strong one if
    /// there is any, else, if `strong_done` (the caller knows no strong
    /// work is pending anywhere), a flat one not reached strongly since.
    fn pop_grey(&mut self, strong_done: bool) -> Option<(u32, Reach)>;
}

/// Colour bits and the grey stacks for one mark.
#[derive(Debug, Default)]
pub(crate) struct Marker {
    colours: Vec<AtomicU64>,
    len: usize,
    grey: Vec<u32>,
    /// Nodes reached flat from white, whose structure is to be followed.
    flat: Vec<u32>,
    /// Ids below this are the listed ones ([`Marker::reset_listed`]).
    listed: usize,
    /// How many ids turned live, and how many of them were listed: counted
    /// as they turn, so that the sweep's counts need no walk over the
    /// colours (a collection in two parts would pay it under the lock).
    live: Counts,
}

/// Ids turned live, in all and below the listed bound.
#[derive(Debug, Default)]
struct Counts {
    live: AtomicUsize,
    listed: AtomicUsize,
}

impl Marker {
    /// Forgets every colour and sizes the marker for ids `0..len`, keeping
    /// the allocations of earlier marks.
    pub(crate) fn reset(&mut self, len: usize) {
        self.reset_listed(len, 0);
    }

    /// As [`reset`](Self::reset), for a mark whose listed ids are
    /// `0..listed`.
    pub(crate) fn reset_listed(&mut self, len: usize, listed: usize) {
        self.colours.clear();
        self.grey.clear();
        self.flat.clear();
        self.len = 0;
        self.listed = listed;
        self.live = Counts::default();
        self.grow(len);
    }

    /// How many ids turned live, and how many of those are listed.
    pub(crate) fn live_counts(&self) -> (usize, usize) {
        (self.live.live.load(Relaxed), self.live.listed.load(Relaxed))
    }

    /// As [`reset`](Self::reset), or an error if the colours for `len`
    /// ids cannot be allocated: for a length the embedder gave.
    pub(crate) fn try_reset(&mut self, len: usize) -> Result<(), TryReserveError> {
        self.colours.clear();
        self.colours.try_reserve(len.div_ceil(NODES_PER_WORD))?;
        self.reset(len);
        Ok(())
    }

    /// Makes room for ids `0..len`; new ids start white.
    pub(crate) fn grow(&mut self, len: usize) {
        if len > self.len {
            self.len = len;
            let words = len.div_ceil(NODES_PER_WORD);
            self.colours.resize_with(words, AtomicU64::default);
        }
    }

    /// How many nodes are grey (strong work).
    pub(crate) fn grey_len(&self) -> usize {
        self.grey.len()
    }

    /// Whether nodes reached flat wait for their structure to be followed.
    pub(crate) fn has_flat(&self) -> bool {
        !self.flat.is_empty()
    }

    /// Takes over the flat nodes a thread of a shared mark reached.
    pub(crate) fn add_flat(&mut self, flat: &mut Vec<u32>) {
        self.flat.append(flat);
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
            flat: Vec::new(),
            listed: self.listed,
            live: 0,
            live_listed: 0,
            counts: &self.live,
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

    /// Whether `id` was reached flat and never strongly: its references
    /// beyond its structure were not followed.
    pub(crate) fn is_flat_only(&self, id: u32) -> bool {
        if id as usize >= self.len {
            return false;
        }
        let (word, shift) = slot(id);
        (self.colours[word].load(Relaxed) >> shift) & (LIVE | EXPANDED) == LIVE
    }

    /// How many of the ids `0..len` are live, a word at a time.
    pub(crate) fn live_count_below(&self, len: usize) -> usize {
        let (full, rest) = (len / NODES_PER_WORD, len % NODES_PER_WORD);
        let live = |word: &AtomicU64| word.load(Relaxed) & LIVE_BITS;
        let mut count: usize = self.colours[..full]
            .iter()
            .map(|w| live(w).count_ones() as usize)
            .sum();
        if rest > 0 {
            let mask = LIVE_BITS >> ((NODES_PER_WORD - rest) * BITS_PER_NODE);
            count += (live(&self.colours[full]) & mask).count_ones() as usize;
        }
        count
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

    /// The live bits of the ids `64 * word .. 64 * word + 64`, one bit an
    /// id, as a [`crate::bitset::BitSet`] word: to sweep a set of ids a
    /// word at a time. Ids beyond the marker are white.
    #[inline]
    pub(crate) fn live_bits(&self, word: usize) -> u64 {
        let half = |at: usize| -> u64 {
            let Some(colour) = self.colours.get(at) else {
                return 0;
            };
            // The LIVE bit of each pair, packed: the even bits compacted.
            let mut x = colour.load(Relaxed) & LIVE_BITS;
            x = (x | x >> 1) & 0x3333_3333_3333_3333;
            x = (x | x >> 2) & 0x0f0f_0f0f_0f0f_0f0f;
            x = (x | x >> 4) & 0x00ff_00ff_00ff_00ff;
            x = (x | x >> 8) & 0x0000_ffff_0000_ffff;
            (x | x >> 16) & 0x0000_0000_ffff_ffff
        };
        let bits = half(2 * word) | half(2 * word + 1) << 32;
        // Words past `len` may hold stale colours from a longer mark.
        let first = word * 64;
        if first + 64 <= self.len {
            bits
        } else if first >= self.len {
            0
        } else {
            bits & ((1u64 << (self.len - first)) - 1)
        }
    }

    /// Bytes held by the colour bits and the grey and flat stacks.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.colours.capacity() * 8 + (self.grey.capacity() + self.flat.capacity()) * 4
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
    fn reach(&mut self, id: u32, reach: Reach) -> bool {
        debug_assert!((id as usize) < self.len, "id {id} beyond marker");
        let (word, shift) = slot(id);
        let colour = self.colours[word].get_mut();
        let was_white = *colour & (LIVE << shift) == 0;
        if was_white {
            *self.live.live.get_mut() += 1;
            *self.live.listed.get_mut() += usize::from((id as usize) < self.listed);
        }
        match reach {
            Reach::Strong => {
                if *colour & (EXPANDED << shift) == 0 {
                    *colour |= (LIVE | EXPANDED) << shift;
                    self.grey.push(id);
                }
            }
            Reach::Flat => {
                if was_white {
                    *colour |= LIVE << shift;
                    self.flat.push(id);
                }
            }
        }
        was_white
    }

    #[inline]
    fn pop_grey(&mut self, strong_done: bool) -> Option<(u32, Reach)> {
        if let Some(id) = self.grey.pop() {
            return Some((id, Reach::Strong));
        }
        if !strong_done {
            return None;
        }
        while let Some(id) = self.flat.pop() {
            let (word, shift) = slot(id);
            if *self.colours[word].get_mut() & (EXPANDED << shift) == 0 {
                return Some((id, Reach::Flat));
            }
        }
        None
    }
}

/// One thread of a shared mark: reaches through atomic `fetch_or` on the
/// colours every thread shares, and keeps the nodes it turned grey on a
/// stack of its own (which it may share out: [`SharedMarks::grey`]). It
/// does strong work only: the nodes it reaches flat go to its `flat`
/// stack, for the calling thread to follow once no strong work is left.
///
/// `Relaxed` is enough: a colour bit says only that some thread has taken
/// the node; the nodes themselves are not written during the mark, and
/// joining the threads orders every bit before the sweep reads it.
#[derive(Debug)]
pub(crate) struct SharedMarks<'a> {
    colours: &'a [AtomicU64],
    /// This thread's grey nodes.
    pub(crate) grey: Vec<u32>,
    /// The nodes this thread reached flat from white.
    pub(crate) flat: Vec<u32>,
    listed: usize,
    /// Ids this thread turned live, and those of them listed: added to the
    /// marker's counts when the thread is done.
    live: usize,
    live_listed: usize,
    counts: &'a Counts,
}

impl Drop for SharedMarks<'_> {
    fn drop(&mut self) {
        self.counts.live.fetch_add(self.live, Relaxed);
        self.counts.listed.fetch_add(self.live_listed, Relaxed);
    }
}

impl Marks for SharedMarks<'_> {
    #[inline]
    fn reach(&mut self, id: u32, reach: Reach) -> bool {
        let (word, shift) = slot(id);
        let colour = &self.colours[word];
        let bits = match reach {
            Reach::Strong => (LIVE | EXPANDED) << shift,
            Reach::Flat => LIVE << shift,
        };
        // Most references reach nodes already taken; a plain load spares
        // them the locked instruction.
        let seen = colour.load(Relaxed);
        if seen & bits == bits {
            return false;
        }
        let before = colour.fetch_or(bits, Relaxed);
        let was_white = before & (LIVE << shift) == 0;
        if was_white {
            self.live += 1;
            self.live_listed += usize::from((id as usize) < self.listed);
        }
        match reach {
            Reach::Strong if before & (EXPANDED << shift) == 0 => self.grey.push(id),
            Reach::Flat if was_white => self.flat.push(id),
            _ => {}
        }
        was_white
    }

    #[inline]
    fn pop_grey(&mut self, _strong_done: bool) -> Option<(u32, Reach)> {
        Some((self.grey.pop()?, Reach::Strong))
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

    /// Marks from what is grey, following `edges` as a collector would:
    /// each through the reach its source was expanded with.
    fn drain(m: &mut Marker, edges: &[(u32, u32, Strength)]) -> Vec<(u32, Reach)> {
        let mut expanded = Vec::new();
        while let Some((id, reach)) = m.pop_grey(true) {
            expanded.push((id, reach));
            for &(from, to, s) in edges {
                if let Some(through) = reach.through(s).filter(|_| from == id) {
                    m.reach(to, through);
                }
            }
        }
        expanded
    }

    #[test]
    fn strong_expands_once_flat_expands_structure_once() {
        let mut m = Marker::default();
        m.reset(5);
        assert!(m.reach(0, Reach::Strong));
        assert!(!m.reach(0, Reach::Strong));
        assert_eq!(m.pop_grey(true), Some((0, Reach::Strong)));
        assert_eq!(m.pop_grey(true), None, "a node is queued once");
        assert!(m.reach(1, Reach::Flat));
        assert!(!m.reach(1, Reach::Flat));
        assert!(m.is_live(1));
        assert_eq!(
            m.pop_grey(true),
            Some((1, Reach::Flat)),
            "once, for its structure"
        );
        assert_eq!(m.pop_grey(true), None);
        m.reach(1, Reach::Strong);
        assert_eq!(
            m.pop_grey(true),
            Some((1, Reach::Strong)),
            "flat then strong expands"
        );
        m.reach(2, Reach::Strong);
        assert!(!m.reach(2, Reach::Flat), "strong then flat: nothing more");
        assert_eq!(m.pop_grey(true), Some((2, Reach::Strong)));
        assert_eq!(m.pop_grey(true), None);
        assert_eq!(m.live_count(), 3);
    }

    #[test]
    fn flat_work_waits_for_strong_work_and_yields_to_it() {
        let mut m = Marker::default();
        m.reset(3);
        m.reach(0, Reach::Flat);
        m.reach(1, Reach::Flat);
        m.reach(2, Reach::Strong);
        assert_eq!(m.pop_grey(false), Some((2, Reach::Strong)));
        assert_eq!(m.pop_grey(false), None, "strong work may still be pending");
        m.reach(0, Reach::Strong);
        assert_eq!(m.pop_grey(true), Some((0, Reach::Strong)));
        assert_eq!(m.pop_grey(true), Some((1, Reach::Flat)));
        assert_eq!(
            m.pop_grey(true),
            None,
            "0 was reached strongly: its flat entry is dropped"
        );
    }

    #[test]
    fn structure_passes_the_reach_on() {
        use Strength::{Flat, Strong, Structural, Weak};
        // 0 (flat root) ⇢ 1 structural ⇢ 2 structural; 1 → 3 strong,
        // 1 → 4 flat, 1 → 5 weak: only the structure is followed, flat.
        let edges = [
            (0, 1, Structural),
            (1, 2, Structural),
            (1, 3, Strong),
            (1, 4, Flat),
            (1, 5, Weak),
        ];
        let mut m = Marker::default();
        m.reset(6);
        m.reach(0, Reach::Flat);
        let expanded = drain(&mut m, &edges);
        assert_eq!(
            expanded,
            [(0, Reach::Flat), (1, Reach::Flat), (2, Reach::Flat)]
        );
        let live: Vec<u32> = (0..6).filter(|&i| m.is_live(i)).collect();
        assert_eq!(live, [0, 1, 2]);
        // Strongly, everything but the weak edge.
        m.reset(6);
        m.reach(0, Reach::Strong);
        drain(&mut m, &edges);
        let live: Vec<u32> = (0..6).filter(|&i| m.is_live(i)).collect();
        assert_eq!(live, [0, 1, 2, 3, 4]);
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
        m.reach(a, Reach::Strong);
        m.reach(c, Reach::Strong);
        drain(&mut m, &edges);
        let live: Vec<u32> = (0..8).filter(|&i| m.is_live(i)).collect();
        assert_eq!(live, vec![a, b, c, d, f, h]);
    }

    #[test]
    fn reset_forgets_colours_and_grow_starts_white() {
        let mut m = Marker::default();
        m.reset(100);
        m.reach(99, Reach::Strong);
        m.reset(100);
        assert!(!m.is_live(99));
        assert_eq!(m.pop_grey(true), None);
        m.grow(200);
        assert!(!m.is_live(150));
        assert!(!m.is_live(10_000), "beyond the marker is white");
    }

    #[test]
    fn live_bits_are_the_live_ids_of_a_word() {
        for len in [0, 1, 31, 32, 33, 64, 65, 100, 200] {
            let mut m = Marker::default();
            m.reset(len);
            for id in (0..len as u32).filter(|id| id % 3 == 0 || id % 7 == 1) {
                m.reach(
                    id,
                    if id % 2 == 0 {
                        Reach::Flat
                    } else {
                        Reach::Strong
                    },
                );
            }
            for word in 0..4 {
                let expected = (0..64)
                    .filter(|bit| m.is_live((word * 64 + bit) as u32))
                    .fold(0u64, |bits, bit| bits | 1 << bit);
                assert_eq!(m.live_bits(word), expected, "len {len} word {word}");
            }
        }
    }

    #[test]
    fn dead_ids_are_the_white_and_only_in_range() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let mut m = Marker::default();
            m.reset(len);
            for id in (0..len as u32).filter(|id| id % 3 == 0) {
                m.reach(id, Reach::Flat);
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
        m.reach(7, Reach::Flat);
        let (mut turned_live, mut grey, mut flat) = (0, Vec::new(), Vec::new());
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let race = || {
                let mut marks = m.shared();
                start.wait();
                let mut turned = 0;
                for id in 0..LEN {
                    let reach = if id % 5 == 0 {
                        Reach::Flat
                    } else {
                        Reach::Strong
                    };
                    turned += usize::from(marks.reach(id, reach));
                    turned += usize::from(marks.reach(id, Reach::Strong));
                }
                let grey = std::mem::take(&mut marks.grey);
                (turned, grey, std::mem::take(&mut marks.flat))
            };
            let theirs = scope.spawn(race);
            let mine = race();
            for (turned, ids, flat_ids) in [mine, theirs.join().unwrap()] {
                turned_live += turned;
                grey.extend(ids);
                flat.extend(flat_ids);
            }
        });
        grey.sort_unstable();
        let expected: Vec<u32> = (0..LEN).collect();
        assert_eq!(grey, expected, "each id queued strongly exactly once");
        flat.sort_unstable();
        let flat_ids = flat.len();
        flat.dedup();
        assert_eq!(flat.len(), flat_ids, "flat entries are queued at most once");
        assert!(flat.iter().all(|&id| id % 5 == 0 && id != 7));
        assert_eq!(
            turned_live,
            LEN as usize - 1,
            "each id turned live once, 7 before"
        );
        assert_eq!(m.live_count(), LEN as usize);
        assert_eq!(
            m.live_counts().0,
            LEN as usize,
            "counted as they turned, 7 included"
        );
    }

    #[test]
    fn live_count_below_counts_whole_and_partial_words() {
        let mut m = Marker::default();
        m.reset(100);
        for id in [0, 5, 31, 32, 63, 64, 70, 99] {
            m.reach(id, Reach::Flat);
        }
        for len in [0, 1, 6, 31, 32, 33, 64, 65, 71, 99, 100] {
            let expected = (0..len as u32).filter(|&id| m.is_live(id)).count();
            assert_eq!(m.live_count_below(len), expected, "len {len}");
        }
    }

    #[test]
    fn two_bits_per_node() {
        let mut m = Marker::default();
        m.reset(1 << 20);
        assert_eq!(m.heap_bytes(), (1 << 20) / 4);
    }
}
