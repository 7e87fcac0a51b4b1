//! "Why is this still here?": the first reason each node became live, kept
//! only when [`crate::Options::explain`] asks for it, so that the default
//! mark spends no memory on it.
//!
//! Each live node records one [`Why`]: the node it was reached from (or
//! none, for a root) and how. Reasons are written once, when a node first
//! turns live, and its referrer was live before it, so following `from`
//! always ends at a root: a path, never a cycle.
//!
//! The other side, "why was this swept?", is what was read and did not
//! keep: a weak reference, a lease past its deadline, a history entry a
//! retention rule let go. Each is a [`Missed`], noted when it is read,
//! whether or not its target turns live later; the question is asked only
//! of garbage, so a note on a node that ended up live is never shown.

use std::time::SystemTime;

use crate::{Retention, Strength};

/// What kind of root kept a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootKind {
    /// Emitted plainly by [`crate::CollectionContext::roots`].
    Explicit,
    /// Emitted with a deadline that had not passed
    /// ([`crate::ReferenceSink::expiring`]).
    Lease,
    /// Used within the grace period ([`crate::NodeSink::push_used`]).
    Grace,
    /// Named by one of [`crate::Options::pins`].
    Pin,
    /// A history entry a [`crate::Retention`] rule keeps, emitted by
    /// [`crate::CollectionContext::roots`].
    Retention,
    /// Reported by a writer through the [`crate::Barrier`] while the
    /// collection ran.
    Written,
}

/// Why one node on a path is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// It is a root of this kind.
    Root(RootKind),
    /// The previous node on the path references it with this strength.
    Reference(Strength),
    /// It declared that it lives with the previous node
    /// ([`crate::NodeSink::lives_with`]).
    BackReference,
    /// It shares its hash with the previous node, on the scan path
    /// ([`crate::ScanCollector`]), which keeps such nodes together.
    SameHash,
}

/// One step on the path from a root to a live node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step<'c, R> {
    /// The node.
    pub node: &'c R,
    /// Why it is live: a root, or how the previous step reaches it.
    pub reason: Reason,
}

/// Why a listed node was swept: each thing read that would have kept it,
/// and what stopped it. [`crate::Collection::why_swept`] returns every one
/// the mark read, in the order it read them.
///
/// `by` names the node whose references said it, or is `None` for a
/// root: emitted by [`crate::CollectionContext::roots`] or by a pin.
/// Only references that were read count: a node reached only flat is read
/// for its structure alone ([`crate::CollectionContext::references`]), so
/// what else it emits is no reason for anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SweptBecause<'c, R> {
    /// Nothing read refers to it at all: no reference, weak or expired,
    /// from a root or from a node whose references were read. It comes
    /// alone, when there is no other reason.
    Unreachable,
    /// Referenced only weakly, by this root or live node (a weak
    /// [`back_reference`](crate::NodeSink::back_reference) included).
    WeaklyReferenced {
        /// The referrer; `None` for a weak root.
        by: Option<&'c R>,
    },
    /// Held by a lease ([`crate::ReferenceSink::expiring`]) whose deadline
    /// `at` had passed. An expired weak reference would not have kept it
    /// either, and is not reported.
    LeaseExpired {
        /// Who emitted the lease; `None` for a root (a lease node itself).
        by: Option<&'c R>,
        /// The deadline: the lease held through it, and `now` was later.
        at: SystemTime,
    },
    /// Listed with a last use ([`crate::NodeSink::push_used`]) whose grace
    /// period ([`crate::Options::grace_period`]) ended at `at`, before
    /// `now`.
    GraceEnded {
        /// The last use plus the grace period.
        at: SystemTime,
    },
    /// A [`crate::ReferenceSink::history`] entry that `rule` does not
    /// keep: `rank` places from the newest (0 is the newest), so at or
    /// past `keep_last`, and created longer than `keep_younger_than`
    /// before `now`, for whichever of the two the rule sets.
    NotRetained {
        /// Whose history it is; `None` for a history emitted by the roots.
        by: Option<&'c R>,
        /// Places from the newest entry of its history.
        rank: usize,
        /// When the entry was created.
        created: SystemTime,
        /// The rule the history was emitted with.
        rule: Retention,
    },
}

/// What one reference read did not keep, and why: [`SweptBecause`] by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    Weak,
    GraceEnded(SystemTime),
    Expired(SystemTime),
    NotRetained {
        rank: usize,
        created: SystemTime,
        rule: Retention,
    },
}

/// One [`Missed`] noted for a node, chained to the one noted before it.
#[derive(Clone, Copy, Debug)]
struct Note {
    from: u32,
    missed: Missed,
    /// The node's previous note, or [`NO_NOTE`].
    previous: u32,
}

const NO_NOTE: u32 = u32::MAX;

/// `from` for a root.
pub(crate) const NO_REFERRER: u32 = u32::MAX;

/// The first reason a node turned live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Why {
    pub(crate) from: u32,
    pub(crate) reason: Reason,
}

impl Why {
    pub(crate) fn root(kind: RootKind) -> Self {
        Why {
            from: NO_REFERRER,
            reason: Reason::Root(kind),
        }
    }
}

/// Reasons by id: why each live id is live, and what was read and did not
/// keep each other one.
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    whys: Vec<Option<Why>>,
    /// Every note, chained per node, newest first, from `last_note`.
    notes: Vec<Note>,
    /// By id: its newest note, or `NO_NOTE`.
    last_note: Vec<u32>,
}

impl Reasons {
    pub(crate) fn clear(&mut self) {
        self.whys.clear();
        self.notes.clear();
        self.last_note.clear();
    }

    /// Notes that a reference from `from` (`NO_REFERRER` for a root) to
    /// `id` was read and did not keep it, because of `missed`. A note
    /// already taken is not taken twice (one node emitting the same weak
    /// reference twice).
    pub(crate) fn note(&mut self, id: u32, from: u32, missed: Missed) {
        let at = id as usize;
        if at >= self.last_note.len() {
            self.last_note.resize(at + 1, NO_NOTE);
        }
        let previous = self.last_note[at];
        // Each node's references are read in one go (and the roots' all
        // before any node's), so a repeat can only be among the newest
        // notes, those from the same `from`.
        let mut back = previous;
        while let Some(note) = self.notes.get(back as usize).filter(|n| n.from == from) {
            if note.missed == missed {
                return;
            }
            back = note.previous;
        }
        // Past `u32::MAX` notes the chains could not be told from their
        // end: further notes are dropped (the node then reads as less
        // explained, never as live).
        let Ok(index) = u32::try_from(self.notes.len()) else {
            return;
        };
        if index == NO_NOTE {
            return;
        }
        self.notes.push(Note {
            from,
            missed,
            previous,
        });
        self.last_note[at] = index;
    }

    /// The notes on `id`, as `(from, missed)`, in the order they were
    /// noted.
    pub(crate) fn notes(&self, id: u32) -> Vec<(u32, Missed)> {
        let mut notes = Vec::new();
        let mut at = self.last_note.get(id as usize).copied().unwrap_or(NO_NOTE);
        while let Some(note) = self.notes.get(at as usize) {
            notes.push((note.from, note.missed));
            at = note.previous;
        }
        notes.reverse();
        notes
    }

    /// How `id` turned live, if it is a root: the kind of root.
    pub(crate) fn root_kind(&self, id: u32) -> Option<RootKind> {
        match (*self.whys.get(id as usize)?)? {
            Why {
                from: NO_REFERRER,
                reason: Reason::Root(kind),
            } => Some(kind),
            _ => None,
        }
    }

    /// Records `why` for `id`, which has just turned live.
    pub(crate) fn record(&mut self, id: u32, why: Why) {
        let id = id as usize;
        if id >= self.whys.len() {
            self.whys.resize(id + 1, None);
        }
        self.whys[id].get_or_insert(why);
    }

    /// The ids and reasons from a root to `id`, root first.
    pub(crate) fn path(&self, id: u32) -> Option<Vec<(u32, Reason)>> {
        let mut path = Vec::new();
        let mut at = id;
        // Bounded by the number of ids, in case an invariant ever breaks.
        for _ in 0..=self.whys.len() {
            let why = (*self.whys.get(at as usize)?)?;
            path.push((at, why.reason));
            if why.from == NO_REFERRER {
                path.reverse();
                return Some(path);
            }
            at = why.from;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_runs_from_the_root() {
        let mut r = Reasons::default();
        r.record(3, Why::root(RootKind::Lease));
        r.record(
            7,
            Why {
                from: 3,
                reason: Reason::Reference(Strength::Flat),
            },
        );
        r.record(7, Why::root(RootKind::Explicit));
        let path = r.path(7).unwrap();
        assert_eq!(
            path,
            [
                (3, Reason::Root(RootKind::Lease)),
                (7, Reason::Reference(Strength::Flat))
            ],
            "the first reason recorded wins"
        );
        assert_eq!(r.path(5), None);
    }

    #[test]
    fn notes_come_back_in_order_each_once() {
        let mut r = Reasons::default();
        let at = SystemTime::UNIX_EPOCH;
        r.note(4, NO_REFERRER, Missed::Expired(at));
        r.note(2, 9, Missed::Weak);
        r.note(4, 7, Missed::Weak);
        r.note(4, 7, Missed::Expired(at));
        r.note(4, 7, Missed::Weak);
        r.note(4, 8, Missed::Weak);
        assert_eq!(
            r.notes(4),
            [
                (NO_REFERRER, Missed::Expired(at)),
                (7, Missed::Weak),
                (7, Missed::Expired(at)),
                (8, Missed::Weak)
            ],
            "a repeat from the same referrer is dropped"
        );
        assert_eq!(r.notes(2), [(9, Missed::Weak)]);
        assert_eq!(r.notes(3), []);
        assert_eq!(r.notes(100), []);
        r.clear();
        assert_eq!(r.notes(4), []);
    }

    #[test]
    fn root_kind_is_for_roots_only() {
        let mut r = Reasons::default();
        r.record(1, Why::root(RootKind::Pin));
        r.record(
            2,
            Why {
                from: 1,
                reason: Reason::Reference(Strength::Strong),
            },
        );
        assert_eq!(r.root_kind(1), Some(RootKind::Pin));
        assert_eq!(r.root_kind(2), None);
        assert_eq!(r.root_kind(3), None);
    }
}
