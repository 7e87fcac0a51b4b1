//! "Why is this still here?": the first reason each node became live, kept
//! only when [`crate::Options::explain`] asks for it, so that the default
//! mark spends no memory on it.
//!
//! Each live node records one [`Why`]: the node it was reached from (or
//! none, for a root) and how. Reasons are written once, when a node first
//! turns live, and its referrer was live before it, so following `from`
//! always ends at a root: a path, never a cycle.

use crate::Strength;

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

/// Reasons by id, for the ids that are live.
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    whys: Vec<Option<Why>>,
}

impl Reasons {
    pub(crate) fn clear(&mut self) {
        self.whys.clear();
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
}
