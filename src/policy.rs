//! Policies that decide liveness with more than reachability: time, pins,
//! retention, limits. Each is a pure function of the collection's `now`, and
//! each takes effect only as extra roots or as the strength of a reference,
//! so the mark core never sees a clock.
//!
//! Every comparison keeps at its boundary: a node used exactly a grace
//! period ago, a history entry exactly as old as `keep_younger_than`, a
//! lease whose deadline is exactly `now`, are kept; so is anything stamped
//! after `now`, whatever the period, zero included (a writer's clock may
//! run ahead, and sweeping is the side that cannot be undone).

use std::time::{Duration, SystemTime};

use crate::{Error, Strength};

/// Whether a node last used (or created) at `last_used` is within a grace
/// period of `grace` at `now`: at most `grace` old, exactly `grace`
/// included, or stamped after `now` (a writer's clock may run ahead). Zero
/// keeps what was used at `now` or later, as rkt's `--grace-period=0s`.
pub(crate) fn within_grace(last_used: SystemTime, now: SystemTime, grace: Duration) -> bool {
    match now.duration_since(last_used) {
        Ok(age) => age <= grace,
        Err(_) => true,
    }
}

/// Keeps in `next` the earlier of it and `at`: the next instant at which
/// a time-based decision changes.
pub(crate) fn note_deadline(next: &mut Option<SystemTime>, at: Option<SystemTime>) {
    if let Some(at) = at {
        *next = Some(next.map_or(at, |next| next.min(at)));
    }
}

/// The instant past which a node used at `last_used` leaves a grace
/// period of `grace`.
pub(crate) fn grace_end(last_used: SystemTime, grace: Duration) -> Option<SystemTime> {
    last_used.checked_add(grace)
}

/// Which entries of a history (image stream tags, build results, releases)
/// hold their target strongly; the others hold it weakly.
///
/// This is OpenShift's `keepTagRevisions` and `keepYoungerThan`, and zot's
/// `mostRecentlyPushedCount` and `pushedWithin`. An entry is kept if *any*
/// configured rule keeps it. With no rule configured, every entry is kept:
/// a retention rule never deletes by omission.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use resource_gc::{Retention, Strength};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
/// let mut rule = Retention::default();
/// assert_eq!(rule.strength(7, SystemTime::UNIX_EPOCH, now), Strength::Strong);
///
/// rule.keep_last = Some(2);
/// assert_eq!(rule.strength(1, SystemTime::UNIX_EPOCH, now), Strength::Strong);
/// assert_eq!(rule.strength(2, SystemTime::UNIX_EPOCH, now), Strength::Weak);
///
/// rule.keep_younger_than = Some(Duration::from_secs(3600));
/// let recent = now - Duration::from_secs(60);
/// assert_eq!(rule.strength(5, recent, now), Strength::Strong);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Keep the newest this many entries of each history.
    pub keep_last: Option<usize>,
    /// Keep entries created at most this long before `now` (exactly this
    /// long included), and entries created after `now`.
    pub keep_younger_than: Option<Duration>,
}

impl Retention {
    /// Sets [`keep_last`](Self::keep_last).
    #[must_use]
    pub fn keep_last(mut self, n: usize) -> Self {
        self.keep_last = Some(n);
        self
    }

    /// Sets [`keep_younger_than`](Self::keep_younger_than).
    #[must_use]
    pub fn keep_younger_than(mut self, age: Duration) -> Self {
        self.keep_younger_than = Some(age);
        self
    }

    /// The strength of the entry `rank` places from the newest (0 is the
    /// newest), created at `created`.
    pub fn strength(&self, rank: usize, created: SystemTime, now: SystemTime) -> Strength {
        let no_rule = self.keep_last.is_none() && self.keep_younger_than.is_none();
        let recent_enough = self.keep_last.is_some_and(|n| rank < n);
        let young_enough = self
            .keep_younger_than
            .is_some_and(|age| within_grace(created, now, age));
        if no_rule || recent_enough || young_enough {
            Strength::Strong
        } else {
            Strength::Weak
        }
    }

    /// For an entry kept by its age alone, the instant past which it is
    /// not; `None` if its age does not decide.
    pub(crate) fn young_until(
        &self,
        rank: usize,
        created: SystemTime,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let no_rule = self.keep_last.is_none() && self.keep_younger_than.is_none();
        let recent_enough = self.keep_last.is_some_and(|n| rank < n);
        let age = self.keep_younger_than?;
        if no_rule || recent_enough || !within_grace(created, now, age) {
            return None;
        }
        grace_end(created, age)
    }
}

/// A circuit breaker: the most one collection may sweep. Above it the
/// collection fails with [`crate::Error::SweepLimitExceeded`], which carries
/// the would-be sweep; nothing is removed unless the caller, having looked,
/// removes it explicitly. The default has no limit.
///
/// "At most" includes the limit: a collection that would sweep exactly
/// `max_nodes`, or exactly `max_share` of the listed nodes, goes ahead;
/// one node more trips the breaker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SweepLimit {
    /// At most this many nodes.
    pub max_nodes: Option<usize>,
    /// At most this share of the listed nodes, from 0.0 to 1.0.
    pub max_share: Option<f64>,
}

impl SweepLimit {
    /// Sets [`max_nodes`](Self::max_nodes).
    #[must_use]
    pub fn max_nodes(mut self, max: usize) -> Self {
        self.max_nodes = Some(max);
        self
    }

    /// Sets [`max_share`](Self::max_share), from 0.0 to 1.0.
    #[must_use]
    pub fn max_share(mut self, share: f64) -> Self {
        self.max_share = Some(share);
        self
    }

    /// Why the limit is unusable, if it is.
    pub(crate) fn invalid(&self) -> Option<String> {
        let share = self.max_share?;
        (!(0.0..=1.0).contains(&share))
            .then(|| format!("sweep_limit.max_share must be within 0.0 and 1.0, not {share}"))
    }

    /// Whether sweeping `count` of `listed` nodes goes past the limit.
    pub(crate) fn exceeded(&self, count: usize, listed: usize) -> bool {
        self.max_nodes.is_some_and(|max| count > max)
            || self
                .max_share
                .is_some_and(|share| count as f64 > share * listed as f64)
    }

    /// [`Error::SweepLimitExceeded`] with what `would_sweep` gives, if
    /// sweeping `swept` of `listed` nodes goes past the limit. Every path
    /// checks it the same way, before handing anything out.
    pub(crate) fn check<E, R>(
        self,
        swept: usize,
        listed: usize,
        would_sweep: impl FnOnce() -> Vec<R>,
    ) -> Result<(), Error<E, R>> {
        if self.exceeded(swept, listed) {
            return Err(Error::SweepLimitExceeded {
                would_sweep: would_sweep(),
                listed,
                limit: self,
            });
        }
        Ok(())
    }
}

/// Why nodes are kept: how many roots, and reasons to keep, of each kind,
/// so an operator can see why so much is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RootCounts {
    /// Roots that keep something (strong, flat, structural) emitted plainly by
    /// [`crate::CollectionContext::roots`].
    pub explicit: usize,
    /// References that keep something, with a deadline that had not passed
    /// ([`crate::ReferenceSink::expiring`]), usually leases.
    pub leases: usize,
    /// References with a deadline that had passed: not held.
    pub leases_expired: usize,
    /// Distinct listed nodes kept because they were used within the grace
    /// period.
    pub grace: usize,
    /// Nodes that pins resolved to, strongly or flat.
    pub pins: usize,
    /// History entries a [`Retention`] rule held strongly.
    pub retained: usize,
    /// Back-references followed: children kept because their parent lives.
    /// A child bound to one parent with two strengths counts twice.
    pub back_references: usize,
}

impl RootCounts {
    /// Adds another thread's counts.
    pub(crate) fn merge(&mut self, other: &RootCounts) {
        let RootCounts {
            explicit,
            leases,
            leases_expired,
            grace,
            pins,
            retained,
            back_references,
        } = other;
        self.explicit += explicit;
        self.leases += leases;
        self.leases_expired += leases_expired;
        self.grace += grace;
        self.pins += pins;
        self.retained += retained;
        self.back_references += back_references;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_edges() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let hour = Duration::from_secs(10);
        let ns = Duration::from_nanos(1);
        assert!(within_grace(now - Duration::from_secs(9), now, hour));
        assert!(within_grace(now - hour, now, hour), "exactly as old is in");
        assert!(
            !within_grace(now - hour - ns, now, hour),
            "a nanosecond more is out"
        );
        assert!(within_grace(now + hour, now, hour), "the future is within");
        let zero = Duration::ZERO;
        assert!(within_grace(now, now, zero), "zero keeps what is used now");
        assert!(
            within_grace(now + ns, now, zero),
            "and what is stamped later"
        );
        assert!(!within_grace(now - ns, now, zero), "but nothing older");
    }

    #[test]
    fn sweep_limit_checks() {
        let limit = SweepLimit {
            max_nodes: Some(10),
            max_share: Some(0.5),
        };
        assert!(!limit.exceeded(10, 100));
        assert!(limit.exceeded(11, 100));
        assert!(limit.exceeded(6, 10));
        assert!(!SweepLimit::default().exceeded(usize::MAX, 1));
        let bad = SweepLimit {
            max_nodes: None,
            max_share: Some(f64::NAN),
        };
        assert!(bad.invalid().is_some());
    }
}
