//! A plain growable bitset over dense ids.

/// One bit per id; ids beyond the end read as unset.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// Unsets every bit, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
    }

    #[inline]
    pub(crate) fn contains(&self, id: u32) -> bool {
        let id = id as usize;
        self.words
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    #[inline]
    pub(crate) fn remove(&mut self, id: u32) {
        let id = id as usize;
        if let Some(word) = self.words.get_mut(id / 64) {
            *word &= !(1 << (id % 64));
        }
    }

    /// The words, bit `i` of word `w` standing for id `64 * w + i`.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// How many bits are set.
    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The set ids, ascending.
    pub(crate) fn iter(&self) -> Ones<'_> {
        Ones {
            words: self.words.iter(),
            base: 0,
            word: 0,
        }
    }

    /// Sets the bit; returns whether it was unset before.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        let id = id as usize;
        let word = id / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let bit = 1 << (id % 64);
        let was_unset = self.words[word] & bit == 0;
        self.words[word] |= bit;
        was_unset
    }
}

/// See [`BitSet::iter`].
#[derive(Clone, Debug)]
pub(crate) struct Ones<'a> {
    words: std::slice::Iter<'a, u64>,
    /// The first id of the word `word` came from.
    base: u32,
    /// The set bits of the current word not yet yielded.
    word: u64,
}

impl Iterator for Ones<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.word == 0 {
            self.word = *self.words.next()?;
            self.base = self.base.wrapping_add(64);
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        // `base` runs one word ahead: it started at 0 - 64.
        Some(self.base.wrapping_sub(64) + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_novelty_and_clear_forgets() {
        let mut s = BitSet::default();
        assert!(!s.contains(130));
        assert!(s.insert(130));
        assert!(!s.insert(130));
        assert!(s.contains(130));
        assert!(!s.contains(129));
        s.remove(130);
        s.remove(100_000);
        assert!(!s.contains(130));
        assert!(s.insert(130));
        s.clear();
        assert!(!s.contains(130));
    }

    #[test]
    fn iter_yields_the_set_ids_ascending_and_count_counts_them() {
        let mut s = BitSet::default();
        assert_eq!(s.iter().next(), None);
        let ids = [0, 1, 63, 64, 65, 127, 128, 1000, 4095];
        for &id in ids.iter().rev() {
            s.insert(id);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), ids);
        assert_eq!(s.count(), ids.len());
        s.remove(64);
        assert_eq!(s.iter().filter(|&id| id == 64).count(), 0);
        assert_eq!(s.count(), ids.len() - 1);
    }
}
