//! A plain growable bitset over dense ids.

/// One bit per id; ids beyond the end read as unset.
#[derive(Debug, Default)]
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
}
