//! The thin layer between resources and the dense ids the mark core uses.
//!
//! It owns hashing and nothing else: a table of ids keyed by the resources
//! they stand for, and the resources in id order. Callers hash a resource
//! once ([`Interner::hash`]) and pass the hash to the probe and, on a miss,
//! to the insert, so a reference costs one hash however it is resolved. A
//! resource is cloned only when it is inserted.
//!
//! The table holds `u32` ids, not resources or their hashes: 4 bytes a slot
//! (plus hashbrown's control byte), where an `IndexMap` would keep an 8-byte
//! hash beside each resource and an 8-byte index a slot. The price is that
//! growing the table rehashes the resources; callers presize it from the
//! embedder's hint ([`Interner::reserve`]), and pruning renumbers ids in
//! place without rehashing ([`Interner::retain`]).

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// Ids are `u32`: half the memory of `usize` in every id-indexed buffer.
pub(crate) const MAX_IDS: usize = u32::MAX as usize;

/// Resource ⇄ dense id. Ids are stable until [`Interner::retain`].
#[derive(Debug)]
pub(crate) struct Interner<R, S> {
    ids: HashTable<u32>,
    resources: Vec<R>,
    hasher: S,
}

impl<R: Hash + Eq + Clone, S: BuildHasher> Interner<R, S> {
    pub(crate) fn with_hasher(hasher: S) -> Self {
        Interner {
            ids: HashTable::new(),
            resources: Vec::new(),
            hasher,
        }
    }

    #[inline]
    pub(crate) fn hash(&self, resource: &R) -> u64 {
        self.hasher.hash_one(resource)
    }

    /// The hash of whatever `feed` writes, as [`Interner::hash`] would give
    /// for a resource whose `Hash` writes the same.
    #[inline]
    pub(crate) fn hash_with(&self, feed: impl FnOnce(&mut dyn Hasher)) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        feed(&mut hasher);
        hasher.finish()
    }

    /// The id of `resource`, whose hash is `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, resource: &R) -> Option<u32> {
        self.find_by(hash, |candidate| candidate == resource)
    }

    /// The id most likely to stand for a resource whose hash is `hash`: the
    /// last one in its probe sequence whose control byte matches, without
    /// comparing any resource. It touches only the table, so a caller can
    /// look up many this way, their cache misses overlapping, and then
    /// confirm each with one comparison (falling back to
    /// [`Interner::find`] when it fails).
    #[inline]
    pub(crate) fn candidate(&self, hash: u64) -> Option<u32> {
        let mut candidate = None;
        self.ids.find(hash, |&id| {
            candidate = Some(id);
            false
        });
        candidate
    }

    /// The id of the resource with hash `hash` that `is` accepts.
    #[inline]
    pub(crate) fn find_by(&self, hash: u64, is: impl Fn(&R) -> bool) -> Option<u32> {
        let resources = &self.resources;
        self.ids
            .find(hash, |&id| is(&resources[id as usize]))
            .copied()
    }

    /// The id of `resource`, inserting it if it is new (a borrowed one is
    /// cloned then, and only then). `None` when the table already holds
    /// [`MAX_IDS`] resources.
    #[inline]
    pub(crate) fn intern(&mut self, hash: u64, resource: Cow<'_, R>) -> Option<u32> {
        self.intern_with(hash, resource, |r, c| *c == **r, Cow::into_owned)
    }

    /// The id of the resource that `given` stands for: `is` recognises it in
    /// the table, `make` turns it into one to insert if it is new.
    #[inline]
    pub(crate) fn intern_with<G>(
        &mut self,
        hash: u64,
        given: G,
        is: impl Fn(&G, &R) -> bool,
        make: impl FnOnce(G) -> R,
    ) -> Option<u32> {
        let (resources, hasher) = (&self.resources, &self.hasher);
        let entry = self.ids.entry(
            hash,
            |&id| is(&given, &resources[id as usize]),
            |&id| hasher.hash_one(&resources[id as usize]),
        );
        match entry {
            Entry::Occupied(entry) => Some(*entry.get()),
            Entry::Vacant(_) if resources.len() >= MAX_IDS => None,
            Entry::Vacant(entry) => {
                let id = resources.len() as u32;
                entry.insert(id);
                self.resources.push(make(given));
                Some(id)
            }
        }
    }

    /// Appends `resource` under a new id without entering it in the table:
    /// [`Interner::settle`] does that later, for many at once. `None` when
    /// the table already holds [`MAX_IDS`] resources.
    #[inline]
    pub(crate) fn push_unsettled(&mut self, resource: R) -> Option<u32> {
        if self.resources.len() >= MAX_IDS {
            return None;
        }
        self.resources.push(resource);
        Some((self.resources.len() - 1) as u32)
    }

    /// Enters the appended ids `appended` into the table. An id whose
    /// resource equals one already there (or an earlier one of
    /// `appended`) stays out, and `duplicate(id, existing)` is told.
    /// `scratch` is room to sort in, left empty.
    ///
    /// Why later and together: hashing a batch in one loop lets the loads
    /// of different resources overlap, and inserting in the order of the
    /// table's buckets walks the table front to back, where inserting in
    /// listing order jumps to a random bucket, a cache miss, per resource.
    /// The mask below comes from hashbrown's capacity; were it wrong, only
    /// the order (speed) would suffer, never what is inserted.
    pub(crate) fn settle(
        &mut self,
        appended: Range<u32>,
        scratch: &mut Vec<(u64, u32)>,
        mut duplicate: impl FnMut(u32, u32),
    ) {
        let Interner {
            ids,
            resources,
            hasher,
        } = self;
        scratch.clear();
        scratch.extend(appended.map(|id| (hasher.hash_one(&resources[id as usize]), id)));
        let rehash = |&id: &u32| hasher.hash_one(&resources[id as usize]);
        ids.reserve(scratch.len(), rehash);
        let buckets = ids.capacity().saturating_mul(8) / 7;
        let mask = buckets
            .checked_next_power_of_two()
            .map_or(u64::MAX, |b| b as u64 - 1);
        // Equal resources hash alike, so they end up side by side, the
        // lowest id (listed first) first.
        scratch.sort_unstable_by_key(|&(hash, id)| (hash & mask, id));
        for &(hash, id) in scratch.iter() {
            let resource = &resources[id as usize];
            match ids.entry(hash, |&e| resources[e as usize] == *resource, rehash) {
                Entry::Occupied(entry) => duplicate(id, *entry.get()),
                Entry::Vacant(entry) => {
                    entry.insert(id);
                }
            }
        }
        scratch.clear();
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> &R {
        &self.resources[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.resources.len()
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        let (resources, hasher) = (&self.resources, &self.hasher);
        self.ids
            .reserve(additional, |&id| hasher.hash_one(&resources[id as usize]));
        self.resources.reserve(additional);
    }

    /// Keeps the resources whose id `keep` accepts, in order; the survivors
    /// are renumbered densely, in the table too, without rehashing.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        const DROPPED: u32 = u32::MAX;
        let mut next = 0u32;
        let renumbered: Vec<u32> = (0..self.resources.len() as u32)
            .map(|id| {
                if keep(id) {
                    next += 1;
                    next - 1
                } else {
                    DROPPED
                }
            })
            .collect();
        self.ids.retain(|id| {
            *id = renumbered[*id as usize];
            *id != DROPPED
        });
        let mut id = 0;
        self.resources.retain(|_| {
            id += 1;
            renumbered[id - 1] != DROPPED
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::RandomState;

    #[test]
    fn intern_find_get_retain() {
        let mut t = Interner::with_hasher(RandomState::new());
        let words = ["a", "b", "c", "b"];
        let ids: Vec<u32> = words
            .iter()
            .map(|w| t.intern(t.hash(w), Cow::Borrowed(w)).unwrap())
            .collect();
        assert_eq!(ids, [0, 1, 2, 1]);
        assert_eq!(t.find(t.hash(&"c"), &"c"), Some(2));
        assert_eq!(t.find(t.hash(&"z"), &"z"), None);
        let fed = t.hash_with(|h| "c".hash(&mut { h }));
        assert_eq!(fed, t.hash(&"c"), "hashing through dyn Hasher agrees");
        t.retain(|id| id != 1);
        assert_eq!(t.len(), 2);
        assert_eq!(*t.get(1), "c");
        assert_eq!(t.find(t.hash(&"c"), &"c"), Some(1));
        assert_eq!(t.find(t.hash(&"b"), &"b"), None);
    }

    #[test]
    fn settle_enters_appended_ids_and_reports_duplicates() {
        let mut t = Interner::with_hasher(RandomState::new());
        assert_eq!(t.intern(t.hash(&7u32), Cow::Owned(7)), Some(0));
        for value in [1u32, 2, 1, 7, 3, 2] {
            t.push_unsettled(value).unwrap();
        }
        assert_eq!(t.find(t.hash(&1), &1), None, "not in the table yet");
        let mut duplicates = Vec::new();
        let mut scratch = Vec::new();
        t.settle(1..7, &mut scratch, |dup, existing| {
            duplicates.push((dup, existing))
        });
        assert!(scratch.is_empty());
        duplicates.sort_unstable();
        // ids: 7→0, 1→1, 2→2, 1→3, 7→4, 3→5, 2→6
        assert_eq!(duplicates, [(3, 1), (4, 0), (6, 2)]);
        for (value, id) in [(7u32, 0), (1, 1), (2, 2), (3, 5)] {
            assert_eq!(t.find(t.hash(&value), &value), Some(id));
        }
    }

    #[test]
    fn growth_without_a_hint_keeps_every_id() {
        let mut t = Interner::with_hasher(RandomState::new());
        for i in 0..10_000u32 {
            assert_eq!(t.intern(t.hash(&i), Cow::Owned(i)), Some(i));
        }
        t.retain(|id| id % 3 == 0);
        for i in (0..10_000u32).step_by(3) {
            assert_eq!(t.find(t.hash(&i), &i), Some(i / 3));
            assert_eq!(*t.get(i / 3), i);
        }
        assert_eq!(t.find(t.hash(&1), &1), None);
    }
}
