//! The thin layer between resources and the dense ids the mark core uses.
//!
//! It owns hashing and nothing else: one table from resource to id, where
//! the id is the insertion index. Callers hash a resource once
//! ([`Interner::hash`]) and pass the hash to the probe and, on a miss, to
//! the insert, so a reference costs one hash however it is resolved. A
//! resource is cloned only when it is inserted.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};

use indexmap::IndexMap;
use indexmap::map::RawEntryApiV1;
use indexmap::map::raw_entry_v1::RawEntryMut;

/// Ids are `u32`: half the memory of `usize` in every id-indexed buffer.
pub(crate) const MAX_IDS: usize = u32::MAX as usize;

/// Resource ⇄ dense id. Ids are stable until [`Interner::retain`].
#[derive(Debug)]
pub(crate) struct Interner<R, S> {
    map: IndexMap<R, (), S>,
}

impl<R: Hash + Eq + Clone, S: BuildHasher> Interner<R, S> {
    pub(crate) fn with_hasher(hasher: S) -> Self {
        Interner {
            map: IndexMap::with_hasher(hasher),
        }
    }

    #[inline]
    pub(crate) fn hash(&self, resource: &R) -> u64 {
        self.map.hasher().hash_one(resource)
    }

    /// The hash of whatever `feed` writes, as [`Interner::hash`] would give
    /// for a resource whose `Hash` writes the same.
    #[inline]
    pub(crate) fn hash_with(&self, feed: impl FnOnce(&mut dyn Hasher)) -> u64 {
        let mut hasher = self.map.hasher().build_hasher();
        feed(&mut hasher);
        hasher.finish()
    }

    /// The id of `resource`, whose hash is `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, resource: &R) -> Option<u32> {
        self.find_by(hash, |candidate| candidate == resource)
    }

    /// The id of the resource with hash `hash` that `is` accepts.
    #[inline]
    pub(crate) fn find_by(&self, hash: u64, is: impl Fn(&R) -> bool) -> Option<u32> {
        self.map
            .raw_entry_v1()
            .index_from_hash(hash, is)
            .map(|index| index as u32)
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
        let len = self.map.len();
        match self
            .map
            .raw_entry_mut_v1()
            .from_hash(hash, |candidate| is(&given, candidate))
        {
            RawEntryMut::Occupied(entry) => Some(entry.index() as u32),
            RawEntryMut::Vacant(_) if len >= MAX_IDS => None,
            RawEntryMut::Vacant(entry) => {
                entry.insert_hashed_nocheck(hash, make(given), ());
                Some(len as u32)
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> &R {
        self.map
            .get_index(id as usize)
            .map(|(resource, ())| resource)
            .expect("ids come from this interner")
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Keeps the resources whose id `keep` accepts, in order; the survivors
    /// are renumbered densely. Stored hashes are reused, nothing is rehashed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut id = 0u32;
        self.map.retain(|_, ()| {
            let kept = keep(id);
            id += 1;
            kept
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
    }
}
