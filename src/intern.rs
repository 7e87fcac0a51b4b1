//! The thin layer between resources and the dense ids the mark core uses.
//!
//! It owns hashing and nothing else: a table of ids keyed by the resources
//! they stand for, and the resources in id order. Callers hash a resource
//! once ([`Interner::hash`]) and pass the hash to the probe and, on a miss,
//! to the insert, so a reference costs one hash however it is resolved.
//! Many resources at once are better appended and settled into the table
//! together, in bucket order ([`Interner::settle`]).
//!
//! The table holds `u32` ids, not resources or their hashes: 4 bytes a slot
//! (plus hashbrown's control byte), where an `IndexMap` would keep an 8-byte
//! hash beside each resource and an 8-byte index a slot. The price is that
//! growing the table rehashes the resources; callers presize it from the
//! embedder's hint ([`Interner::reserve`]).

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

// Ids are `u32`, half the memory of `usize` in every id-indexed buffer,
// and below the mark's limit.
use crate::mark::MAX_IDS;

/// How many resources [`touch`] reaches for before they are hashed.
pub(crate) const TOUCH_GROUP: usize = 16;

/// Starts loading the memory the `Hash` of each of `resources` will read,
/// so that hashing them next finds it in cache.
///
/// Why: a key's bytes (a `String`'s, or the `&str` a borrowed key points
/// at) are usually far from the node and cold. Hashing one node with
/// SipHash takes more instructions than the CPU looks ahead, so hashing
/// node after node waits out each node's cache misses in turn. Touching a
/// group first costs a few instructions per key and has all their misses
/// in flight at once. It reads one byte at each end of every slice the
/// `Hash` writes, through a hasher that computes nothing: on the 1.5M-node
/// benchmark store with borrowed keys, hashing the listing went from 529
/// to 174 ms. Touching the references the mark sets aside, instead of
/// hashing each as it is emitted, measured slower: a node's targets tend
/// to sit together, and hashing them in emission order uses that.
#[inline]
pub(crate) fn touch<'r, R: Hash + 'r>(resources: impl Iterator<Item = &'r R>) {
    let mut touch = Touch(0);
    for resource in resources {
        resource.hash(&mut touch);
    }
    std::hint::black_box(touch.0);
}

/// See [`touch`].
struct Touch(u8);

impl Hasher for Touch {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if let (Some(first), Some(last)) = (bytes.first(), bytes.last()) {
            self.0 ^= first ^ last;
        }
    }

    fn finish(&self) -> u64 {
        u64::from(self.0)
    }
}

/// Resource ⇄ dense id. Ids are stable until [`Interner::clear`], except
/// that settling moves the ids of its own batch down over duplicates.
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

    /// A guess at the id of a resource whose hash is `hash`: the last one
    /// in its probe sequence whose control byte matches, without comparing
    /// any resource. Usually right, never trusted. It touches only the table, so a caller can
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

    /// The id of `resource`, whose hash is `hash`, trying `guess` (from
    /// [`Interner::candidate`]) with one comparison before a full find.
    #[inline]
    pub(crate) fn confirm(&self, hash: u64, guess: Option<u32>, resource: &R) -> Option<u32> {
        match guess {
            Some(id) if self.resources[id as usize] == *resource => Some(id),
            _ => self.find(hash, resource),
        }
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
        let (resources, hasher) = (&self.resources, &self.hasher);
        let entry = self.ids.entry(
            hash,
            |&id| resources[id as usize] == *resource,
            |&id| hasher.hash_one(&resources[id as usize]),
        );
        match entry {
            Entry::Occupied(entry) => Some(*entry.get()),
            Entry::Vacant(_) if resources.len() >= MAX_IDS => None,
            Entry::Vacant(entry) => {
                let id = resources.len() as u32;
                entry.insert(id);
                self.resources.push(resource.into_owned());
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

    /// Enters the appended ids `appended`, the last ones, into the table.
    /// A resource equal to one already there, or to an earlier one of
    /// `appended`, is dropped, and the ids after it move down so ids stay
    /// dense. Returns `None` if nothing was dropped; else, for each id of
    /// `appended` in order, the id it has now (a dropped one's is the id of
    /// its equal). `scratch` is room to sort in, left empty.
    ///
    /// Why later and together: hashing a batch, a group touched ahead at a
    /// time ([`touch`]), lets the loads of different resources overlap, and
    /// inserting in the order of the
    /// table's buckets walks the table front to back, where inserting in
    /// listing order jumps to a random bucket, a cache miss, per resource.
    /// The mask below comes from hashbrown's capacity; were it wrong, only
    /// the order (speed) would suffer, never what is inserted.
    pub(crate) fn settle(
        &mut self,
        appended: Range<u32>,
        scratch: &mut Vec<(u64, u32)>,
    ) -> Option<Vec<u32>> {
        debug_assert_eq!(appended.end as usize, self.resources.len());
        let Interner {
            ids,
            resources,
            hasher,
        } = self;
        let start = appended.start;
        scratch.clear();
        // A resource that owns its keys was cloned moments ago, into memory
        // of ours: already in cache. Borrowed keys point into the store.
        let touch_ahead = !std::mem::needs_drop::<R>();
        let end = appended.end;
        for group in appended.step_by(TOUCH_GROUP) {
            let group = group..(group.saturating_add(TOUCH_GROUP as u32)).min(end);
            if touch_ahead {
                touch(group.clone().map(|id| &resources[id as usize]));
            }
            scratch.extend(group.map(|id| (hasher.hash_one(&resources[id as usize]), id)));
        }
        let rehash = |&id: &u32| hasher.hash_one(&resources[id as usize]);
        ids.reserve(scratch.len(), rehash);
        let buckets = ids.capacity().saturating_mul(8) / 7;
        let mask = buckets
            .checked_next_power_of_two()
            .map_or(u64::MAX, |b| b as u64 - 1);
        // Equal resources hash alike, so they meet here, the lowest id
        // (listed first) first, and that one goes into the table.
        scratch.sort_unstable_by_key(|&(hash, id)| (hash & mask, id));
        const KEPT: u32 = u32::MAX;
        let mut equal_to: Vec<u32> = Vec::new();
        for &(hash, id) in scratch.iter() {
            let resource = &resources[id as usize];
            match ids.entry(hash, |&e| resources[e as usize] == *resource, rehash) {
                Entry::Occupied(entry) => {
                    if equal_to.is_empty() {
                        equal_to = vec![KEPT; scratch.len()];
                    }
                    equal_to[(id - start) as usize] = *entry.get();
                }
                Entry::Vacant(entry) => {
                    entry.insert(id);
                }
            }
        }
        scratch.clear();
        if equal_to.is_empty() {
            return None;
        }
        let mut now = vec![0; equal_to.len()];
        let mut next = start;
        for (at, &equal) in equal_to.iter().enumerate() {
            if equal == KEPT {
                now[at] = next;
                next += 1;
            }
        }
        for (at, &equal) in equal_to.iter().enumerate() {
            if equal != KEPT {
                now[at] = if equal >= start {
                    now[(equal - start) as usize]
                } else {
                    equal
                };
            }
        }
        // Move each kept id down in the table, in ascending order: a slot
        // already moved then holds a smaller id than any still to find.
        for (at, &equal) in equal_to.iter().enumerate() {
            let old = start + at as u32;
            if equal == KEPT && now[at] != old {
                let hash = hasher.hash_one(&resources[old as usize]);
                // Kept means inserted above; panicking (nothing is swept)
                // beats a table that names the wrong node.
                let slot = ids
                    .find_mut(hash, |&e| e == old)
                    .expect("kept ids are in the table");
                *slot = now[at];
            }
        }
        let mut write = start as usize;
        for (at, &equal) in equal_to.iter().enumerate() {
            if equal == KEPT {
                resources.swap(write, start as usize + at);
                write += 1;
            }
        }
        resources.truncate(write);
        Some(now)
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> &R {
        &self.resources[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.resources.len()
    }

    /// Makes room for about `additional` more resources, if the allocator
    /// can: a hint it cannot meet is dropped, and the table grows as
    /// resources come instead (`reserve` would abort the process). The
    /// resources first: they are the larger, and their room is not written
    /// until used, where the table's control bytes are.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.resources.try_reserve(additional).is_ok() {
            let (resources, hasher) = (&self.resources, &self.hasher);
            let _dropped_if_too_big = self
                .ids
                .try_reserve(additional, |&id| hasher.hash_one(&resources[id as usize]));
        }
    }

    /// Forgets every resource, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
        self.resources.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::RandomState;

    #[test]
    fn intern_find_get_clear() {
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
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(t.hash(&"c"), &"c"), None);
        assert_eq!(t.intern(t.hash(&"z"), Cow::Borrowed(&"z")), Some(0));
    }

    #[test]
    fn settle_enters_appended_ids_and_drops_duplicates() {
        let mut t = Interner::with_hasher(RandomState::new());
        assert_eq!(t.intern(t.hash(&7u32), Cow::Owned(7)), Some(0));
        for value in [1u32, 2, 1, 7, 3, 2] {
            t.push_unsettled(value).unwrap();
        }
        assert_eq!(t.find(t.hash(&1), &1), None, "not in the table yet");
        let mut scratch = Vec::new();
        let now = t
            .settle(1..7, &mut scratch)
            .expect("duplicates were dropped");
        assert!(scratch.is_empty());
        // Appended 1→1, 2→2, 1→3, 7→4, 3→5, 2→6: the second 1, the 7 and
        // the second 2 are dropped, and 3 moves down from 5 to 3.
        assert_eq!(now, [1, 2, 1, 0, 3, 2]);
        assert_eq!(t.len(), 4);
        for (value, id) in [(7u32, 0), (1, 1), (2, 2), (3, 3)] {
            assert_eq!(t.find(t.hash(&value), &value), Some(id));
            assert_eq!(*t.get(id), value);
        }
        assert_eq!(t.settle(4..4, &mut scratch), None);
    }

    /// Every hash equal: each probe meets every id, so moving ids down in
    /// the wrong order would find a moved slot instead of the right one.
    #[test]
    fn settle_with_one_hash_for_all() {
        #[derive(Clone, Default)]
        struct Constant;
        impl BuildHasher for Constant {
            type Hasher = ConstantHasher;
            fn build_hasher(&self) -> ConstantHasher {
                ConstantHasher
            }
        }
        struct ConstantHasher;
        impl Hasher for ConstantHasher {
            fn finish(&self) -> u64 {
                42
            }
            fn write(&mut self, _: &[u8]) {}
        }
        let mut t = Interner::with_hasher(Constant);
        // Each value twice in a row: every kept id but the first moves.
        let values: Vec<u32> = (0..200).map(|i| i / 2).collect();
        for &v in &values {
            t.push_unsettled(v).unwrap();
        }
        let now = t.settle(0..200, &mut Vec::new()).unwrap();
        assert_eq!(t.len(), 100);
        for (at, &v) in values.iter().enumerate() {
            assert_eq!(*t.get(now[at]), v);
            assert_eq!(t.find(t.hash(&v), &v), Some(now[at]));
        }
    }

    #[test]
    fn growth_without_a_hint_keeps_every_id() {
        let mut t = Interner::with_hasher(RandomState::new());
        for i in 0..10_000u32 {
            assert_eq!(t.intern(t.hash(&i), Cow::Owned(i)), Some(i));
        }
        for i in 0..10_000u32 {
            assert_eq!(t.find(t.hash(&i), &i), Some(i));
            assert_eq!(*t.get(i), i);
        }
        assert_eq!(t.find(t.hash(&10_000), &10_000), None);
    }
}
