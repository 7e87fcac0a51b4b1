//! When to collect: a pure state machine the embedder drives.
//!
//! The collector decides *what* is garbage; this module decides *when* to
//! look. It owns no thread and reads no clock: every call takes the
//! embedder's `now` (an [`Instant`]), so a test drives it with a fake
//! clock and never sleeps. It is containerd's GC scheduler
//! (`plugins/gc/scheduler.go`, formerly `gc/scheduler/scheduler.go`) with
//! the same knobs and defaults, taken apart into events and a question:
//!
//! - events: [`Scheduler::mutated`], [`Scheduler::deleted`],
//!   [`Scheduler::trigger`], [`Scheduler::expires`], and around each
//!   collection [`Scheduler::started`] then [`Scheduler::finished`] or
//!   [`Scheduler::failed`];
//! - the question: [`Scheduler::poll`], answered with a [`Decision`].
//!
//! It fixes three faults of containerd's scheduler:
//!
//! 1. **Deadlines wake it** (containerd #6294). containerd collects only
//!    after writes, so a lease that expires on an idle daemon is never
//!    collected. Here [`Scheduler::finished`] takes the time until the
//!    earliest future deadline the collection saw (a lease's expiry, a grace
//!    period's end), and the scheduler asks for a collection just after it,
//!    with nothing written.
//! 2. **The pause budget counts the whole collection.** containerd paces by
//!    the time its metadata pass held the lock, not by the removal of
//!    content and snapshots that follows it. Here the span from
//!    [`Scheduler::started`] to [`Scheduler::finished`] is the pause, so the
//!    embedder reports `finished` after it has removed the garbage.
//! 3. **Failures back off.** containerd retries a failed collection one
//!    second later than its last interval, forever. Here the retry waits
//!    [`SchedulerConfig::retry_initial`], doubling per failure up to
//!    [`SchedulerConfig::retry_max`], and a success resets it.
//!
//! # Driving it
//!
//! One loop, wherever the embedder keeps its background work: ask, then
//! collect, wait for the instant named, or wait for a write. A write wakes
//! the loop early (a channel, a condition variable): it may have made a
//! collection due.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::{Duration, Instant};
//! use resource_gc::{Decision, Scheduler, SchedulerConfig};
//!
//! const MS: Duration = Duration::from_millis(1);
//!
//! // A fake clock: `now` moves only when the loop says so.
//! let start = Instant::now();
//! let mut now = start;
//! let config = SchedulerConfig::default().mutation_threshold(10);
//! let mut sched = Scheduler::new(config, now).expect("a valid config");
//!
//! // The store: thirty writes, 100 ms apart from 1 s on, and a lease, taken
//! // before the start, that expires at 30 s.
//! let mut writes: VecDeque<Instant> = (10..40).map(|i| start + i * 100 * MS).collect();
//! let lease_expires = start + Duration::from_secs(30);
//! let mut collections = Vec::new();
//!
//! loop {
//!     let next_write = writes.front().copied();
//!     match sched.poll(now) {
//!         Decision::Collect => {
//!             sched.started(now);
//!             collections.push(now);
//!             now += 100 * MS; // mark, sweep, and remove the garbage
//!             // The collector reports the time to the next deadline it saw.
//!             sched.finished(now, lease_expires.checked_duration_since(now));
//!         }
//!         Decision::WaitUntil(at) if next_write.is_none_or(|write| at <= write) => now = at,
//!         Decision::Idle if next_write.is_none() => break,
//!         // A write comes first, and wakes the loop.
//!         _ => {
//!             now = writes.pop_front().expect("a write is next");
//!             sched.mutated(now);
//!         }
//!     }
//! }
//!
//! // At startup (100 ms). Then the tenth write, at 1.9 s, allows one, but the
//! // pause budget makes it wait: 100 ms of collecting at 2% is 4.9 s of
//! // rest. Then just past the lease's expiry, with nothing written since.
//! assert_eq!(collections[0], start + 100 * MS);
//! assert_eq!(collections[1], start + 5100 * MS);
//! assert_eq!(collections[2], lease_expires + Duration::from_nanos(1));
//! assert_eq!(collections.len(), 3);
//! ```
//!
//! # Why the state is shaped this way
//!
//! The reasons to collect pile up between collections. [`Scheduler::started`]
//! takes the pending ones into the collection in flight and leaves an empty
//! pile for writes that come during it: the collection may not see them (it
//! lists first), so they count for the next one. A failure puts the reasons
//! it took back, so nothing a failed collection was meant to clean is
//! forgotten.

use std::time::{Duration, Instant};

/// The least a collection is taken to pause, as containerd's
/// `minimumGCTime`: a store that collects in no time would otherwise be
/// collected back to back.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// The step from a deadline to the first instant past it: a lease is held
/// through its deadline instant, so a collection exactly then keeps it.
const PAST: Duration = Duration::from_nanos(1);

/// When to collect: containerd's knobs, its defaults, and the retry
/// back-off containerd lacks.
///
/// Fields are public to read and to set; the setters chain, since a
/// `#[non_exhaustive]` struct cannot be built from a literal outside this
/// crate. [`Scheduler::new`] checks the values.
///
/// ```
/// use std::time::Duration;
/// use resource_gc::SchedulerConfig;
///
/// let config = SchedulerConfig::default()
///     .pause_threshold(0.05)
///     .deletion_threshold(20)
///     .startup_delay(Duration::from_secs(1));
/// assert_eq!(config.mutation_threshold, 100);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// The most of wall time collections may take, in (0, 1]: after a
    /// collection that paused for `d`, the next one the budget governs
    /// starts no earlier than `d * (1 - p) / p` after it ended. containerd's
    /// default, 0.02, is 20 ms of every second. Unlike containerd, 1 is
    /// allowed (back to back), nothing is clamped, and the budget uses the
    /// last pause rather than the average of all of them, which lags behind
    /// a store that grows.
    pub pause_threshold: f64,
    /// Deletions since the last collection that make one due at once, pause
    /// budget or not (at `deletion_threshold` exactly). Zero, the default,
    /// turns this off. Whatever it is, any deletion makes a collection due
    /// once the pause budget allows, as in containerd.
    pub deletion_threshold: u32,
    /// Mutations since the last collection that make one due once the pause
    /// budget allows (at `mutation_threshold` exactly). A deletion counts as
    /// a mutation too. Zero turns this off. Default 100.
    pub mutation_threshold: u32,
    /// How long after a reason to collect (a threshold reached, a trigger)
    /// the collection is due. Default zero.
    pub schedule_delay: Duration,
    /// How long after [`Scheduler::new`] the first collection is due, with
    /// or without a reason: it sets the base of the pause budget and finds
    /// the deadlines already in the store. Nothing is collected earlier, a
    /// trigger included. Default 100 ms.
    pub startup_delay: Duration,
    /// How long after a first failure to retry. Default 1 s; must be more
    /// than zero.
    pub retry_initial: Duration,
    /// The longest wait before a retry: each failure doubles the wait up to
    /// this. Default 5 min; must be at least `retry_initial`.
    pub retry_max: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            pause_threshold: 0.02,
            deletion_threshold: 0,
            mutation_threshold: 100,
            schedule_delay: Duration::ZERO,
            startup_delay: Duration::from_millis(100),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
        }
    }
}

impl SchedulerConfig {
    /// Sets [`pause_threshold`](Self::pause_threshold).
    #[must_use]
    pub fn pause_threshold(mut self, share: f64) -> Self {
        self.pause_threshold = share;
        self
    }

    /// Sets [`deletion_threshold`](Self::deletion_threshold).
    #[must_use]
    pub fn deletion_threshold(mut self, deletions: u32) -> Self {
        self.deletion_threshold = deletions;
        self
    }

    /// Sets [`mutation_threshold`](Self::mutation_threshold).
    #[must_use]
    pub fn mutation_threshold(mut self, mutations: u32) -> Self {
        self.mutation_threshold = mutations;
        self
    }

    /// Sets [`schedule_delay`](Self::schedule_delay).
    #[must_use]
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// Sets [`startup_delay`](Self::startup_delay).
    #[must_use]
    pub fn startup_delay(mut self, delay: Duration) -> Self {
        self.startup_delay = delay;
        self
    }

    /// Sets [`retry_initial`](Self::retry_initial).
    #[must_use]
    pub fn retry_initial(mut self, wait: Duration) -> Self {
        self.retry_initial = wait;
        self
    }

    /// Sets [`retry_max`](Self::retry_max).
    #[must_use]
    pub fn retry_max(mut self, wait: Duration) -> Self {
        self.retry_max = wait;
        self
    }

    fn check(&self) -> Result<(), SchedulerConfigError> {
        // Written so that NaN fails: every comparison with it is false.
        if !(self.pause_threshold > 0.0 && self.pause_threshold <= 1.0) {
            return Err(SchedulerConfigError::PauseThreshold(self.pause_threshold));
        }
        if self.retry_initial.is_zero() || self.retry_initial > self.retry_max {
            return Err(SchedulerConfigError::Retry {
                initial: self.retry_initial,
                max: self.retry_max,
            });
        }
        Ok(())
    }
}

/// Why [`Scheduler::new`] refused a [`SchedulerConfig`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerConfigError {
    /// [`SchedulerConfig::pause_threshold`] is not in (0, 1], or is NaN.
    #[error("pause_threshold must be in (0, 1], not {0}")]
    PauseThreshold(f64),
    /// [`SchedulerConfig::retry_initial`] is zero (the retries would spin)
    /// or above [`SchedulerConfig::retry_max`].
    #[error("retry_initial must be above zero and at most retry_max ({max:?}), not {initial:?}")]
    Retry {
        /// The configured first wait.
        initial: Duration,
        /// The configured longest wait.
        max: Duration,
    },
}

/// What to do now, from [`Scheduler::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Collect now: call [`Scheduler::started`], collect, remove the
    /// garbage, then [`Scheduler::finished`] (or [`Scheduler::failed`]).
    Collect,
    /// Nothing is due before this instant, always later than the `now`
    /// asked about. Poll again then, or after the next event.
    WaitUntil(Instant),
    /// Nothing is due until an event: a write, a trigger, a deadline, or
    /// the end of the collection in flight.
    Idle,
}

/// Decides when to collect, from the events the embedder reports.
///
/// A pure state machine: no thread, no clock; every call takes the
/// embedder's `now`. Report every write ([`mutated`](Self::mutated) or
/// [`deleted`](Self::deleted)), bracket every collection with
/// [`started`](Self::started) and [`finished`](Self::finished) or
/// [`failed`](Self::failed), and drive it from one loop:
///
/// ```text
/// loop {
///     match sched.poll(now) {
///         Collect => { sched.started(now); collect; remove the garbage;
///                      sched.finished(now, next_deadline) }
///         WaitUntil(t) => sleep until t, or until a write comes
///         Idle => wait for a write
///     }
/// }
/// ```
///
/// Unlike containerd's scheduler, it wakes for the next deadline a
/// collection saw with nothing written (containerd #6294), it paces by the
/// whole collection, removal included, and it backs off after a failure.
///
/// # The rule at each boundary
///
/// Every instant `poll` names is due at that instant: `poll(t)` returns
/// [`Decision::Collect`] once `now >= t`, so waking exactly at a
/// [`Decision::WaitUntil`] collects. What each instant is:
///
/// - **startup**: the first collection is due at `new`'s `now` plus
///   `startup_delay`, and nothing, not even a trigger, is due before it.
/// - **thresholds** are reached at equality: the `mutation_threshold`-th
///   mutation, the `deletion_threshold`-th deletion. `schedule_delay` after
///   the event that reached it, the collection is due (the mutation
///   threshold also waits for the pause budget).
/// - **pause budget**: after a collection that paused for `d` (from
///   `started` to `finished` or `failed`, at least 5 ms), the budget allows
///   the next one `d * (1 - p) / p` (rounded up to the nanosecond) after it
///   ended, and exactly then.
/// - **deadlines**: a deadline `d` after `finished`'s `now` makes a
///   collection due one nanosecond after it, since a lease is held through
///   its deadline instant; and not before the pause budget allows.
///   Measuring from the end of the collection rather than from the
///   collector's own `now` errs late, never early.
/// - **retries**: after a failure, the retry is due once the back-off has
///   passed (exactly then) and the pause budget allows, whatever else is
///   pending; a trigger does not jump the back-off either.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resource_gc::{Decision, Scheduler, SchedulerConfig};
///
/// let t0 = Instant::now();
/// let config = SchedulerConfig::default().startup_delay(Duration::from_secs(1));
/// let mut sched = Scheduler::new(config, t0).unwrap();
/// let startup_end = t0 + Duration::from_secs(1);
/// assert_eq!(sched.poll(t0), Decision::WaitUntil(startup_end));
/// assert_eq!(sched.poll(startup_end), Decision::Collect);
///
/// sched.started(startup_end);
/// let end = startup_end + Duration::from_millis(100);
/// sched.finished(end, None);
/// assert_eq!(sched.poll(end), Decision::Idle);
///
/// // A trigger collects at once: containerd's `ScheduleAndWait`.
/// sched.trigger(end);
/// assert_eq!(sched.poll(end), Decision::Collect);
/// ```
#[derive(Clone, Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    /// When the first collection is due, and the earliest any is. `None`:
    /// past what an `Instant` can hold, so never.
    startup_end: Option<Instant>,
    /// The earliest the pause budget allows the next collection. `None`:
    /// never.
    budget_end: Option<Instant>,
    /// Reasons come in since the collection in flight started, or since
    /// the last one if none is in flight.
    pending: Reasons,
    running: Option<Running>,
    last: Outcome,
    /// What the next failure waits before its retry.
    backoff: Duration,
}

/// The collection in flight.
#[derive(Clone, Debug)]
struct Running {
    started: Instant,
    /// The reasons it was started for, put back if it fails.
    took: Reasons,
}

/// How the last collection ended.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// None has ended yet: the first is due at the end of startup.
    Nothing,
    Succeeded,
    /// Retry at this instant (`None`: never, past what an `Instant` holds).
    Failed {
        retry_at: Option<Instant>,
    },
}

/// Reasons to collect. Each instant is when that reason makes a collection
/// due, before the pause budget and the startup delay are applied; `None`
/// means no such reason (or one past what an `Instant` can hold).
#[derive(Clone, Copy, Debug, Default)]
struct Reasons {
    mutations: u32,
    deletions: u32,
    /// A trigger or the deletion threshold: due then, pause budget or not.
    forced: Option<Instant>,
    /// The mutation threshold or a deletion: due then, or once the pause
    /// budget allows, whichever is later.
    paced: Option<Instant>,
    /// The first instant past the earliest deadline known: due then, or
    /// once the pause budget allows.
    deadline: Option<Instant>,
}

impl Reasons {
    /// Turns the counts into due instants, for the event seen at `now`.
    /// The earliest instant wins, so a later event never postpones a
    /// collection (containerd keeps the earlier schedule too).
    fn note(&mut self, now: Instant, config: &SchedulerConfig) {
        let due = now.checked_add(config.schedule_delay);
        if config.deletion_threshold > 0 && self.deletions >= config.deletion_threshold {
            self.forced = earliest(self.forced, due);
        }
        let mutations_reached =
            config.mutation_threshold > 0 && self.mutations >= config.mutation_threshold;
        if self.deletions > 0 || mutations_reached {
            self.paced = earliest(self.paced, due);
        }
    }

    fn merge(&mut self, other: Reasons) {
        self.mutations = self.mutations.saturating_add(other.mutations);
        self.deletions = self.deletions.saturating_add(other.deletions);
        self.forced = earliest(self.forced, other.forced);
        self.paced = earliest(self.paced, other.paced);
        self.deadline = earliest(self.deadline, other.deadline);
    }
}

impl Scheduler {
    /// A scheduler started at `now`: the first collection is due
    /// [`startup_delay`](SchedulerConfig::startup_delay) later.
    pub fn new(config: SchedulerConfig, now: Instant) -> Result<Self, SchedulerConfigError> {
        config.check()?;
        let startup_end = now.checked_add(config.startup_delay);
        Ok(Scheduler {
            backoff: config.retry_initial,
            config,
            startup_end,
            budget_end: startup_end,
            pending: Reasons::default(),
            running: None,
            last: Outcome::Nothing,
        })
    }

    /// What to do at `now`; see the [boundary rules](Self#the-rule-at-each-boundary).
    /// While a collection is in flight (after [`started`](Self::started),
    /// before it is reported done), [`Decision::Idle`].
    pub fn poll(&self, now: Instant) -> Decision {
        match self.due() {
            Some(at) if now >= at => Decision::Collect,
            Some(at) => Decision::WaitUntil(at),
            None => Decision::Idle,
        }
    }

    /// A write that deleted nothing. Counts toward
    /// [`mutation_threshold`](SchedulerConfig::mutation_threshold).
    pub fn mutated(&mut self, now: Instant) {
        self.pending.mutations = self.pending.mutations.saturating_add(1);
        self.pending.note(now, &self.config);
    }

    /// A write that deleted something (a lease, an image, a reference):
    /// there may be garbage. A deletion is a mutation too; report each
    /// write once.
    pub fn deleted(&mut self, now: Instant) {
        self.pending.mutations = self.pending.mutations.saturating_add(1);
        self.pending.deletions = self.pending.deletions.saturating_add(1);
        self.pending.note(now, &self.config);
    }

    /// Asks for a collection [`schedule_delay`](SchedulerConfig::schedule_delay)
    /// from `now`, without waiting for the pause budget, as containerd's
    /// `ScheduleAndWait` does: someone is waiting for it. Not before the
    /// startup delay has passed, nor before a failure's back-off.
    pub fn trigger(&mut self, now: Instant) {
        let due = now.checked_add(self.config.schedule_delay);
        self.pending.forced = earliest(self.pending.forced, due);
    }

    /// A write set a deadline `after` from `now` (a lease that expires, a
    /// node whose grace period ends): a collection is due just past it,
    /// once the pause budget allows, even if nothing else is written. The
    /// deadlines a collection sees it reports to [`finished`](Self::finished);
    /// this is for one written since, which no collection may see before it
    /// passes.
    pub fn expires(&mut self, now: Instant, after: Duration) {
        let past = now.checked_add(after).and_then(|at| at.checked_add(PAST));
        self.pending.deadline = earliest(self.pending.deadline, past);
    }

    /// A collection starts at `now`. It is taken to answer every reason
    /// reported before; reasons reported while it runs count for the next.
    /// Called again before it is reported done, the collection still counts
    /// from the first call.
    pub fn started(&mut self, now: Instant) {
        let took = std::mem::take(&mut self.pending);
        match &mut self.running {
            Some(running) => running.took.merge(took),
            None => self.running = Some(Running { started: now, took }),
        }
    }

    /// The collection in flight ended at `now`, its garbage removed (the
    /// removal is part of the pause the budget counts). `next_deadline` is
    /// the time from the collection's `now` until the earliest deadline it
    /// saw that had not passed (a lease's expiry, a grace period's end), if
    /// any: a collection is due just past it, measured from this `now`.
    /// From a collection: [`Stats::next_deadline`](crate::Stats::next_deadline)
    /// less [`Collection::now`](crate::Collection::now), as in
    /// `stats.next_deadline.and_then(|at| at.duration_since(collection.now()).ok())`.
    ///
    /// Without a [`started`](Self::started) before it, the collection is
    /// taken to have paused 5 ms, and every reason pending is kept: the
    /// scheduler cannot know which writes it saw.
    pub fn finished(&mut self, now: Instant, next_deadline: Option<Duration>) {
        let started = self.running.take().map_or(now, |running| running.started);
        self.budget_end = self.budget_after(started, now);
        if let Some(after) = next_deadline {
            self.expires(now, after);
        }
        self.last = Outcome::Succeeded;
        self.backoff = self.config.retry_initial;
    }

    /// The collection in flight failed at `now`: nothing, or not all of the
    /// garbage, was removed. It is retried after the back-off
    /// ([`retry_initial`](SchedulerConfig::retry_initial), doubling per
    /// failure in a row up to [`retry_max`](SchedulerConfig::retry_max)),
    /// and not before the pause budget allows: a failed collection paused
    /// the store as well. The reasons it was started for are kept.
    pub fn failed(&mut self, now: Instant) {
        let started = match self.running.take() {
            Some(running) => {
                self.pending.merge(running.took);
                self.pending.note(now, &self.config);
                running.started
            }
            None => now,
        };
        self.budget_end = self.budget_after(started, now);
        self.last = Outcome::Failed {
            retry_at: now.checked_add(self.backoff),
        };
        self.backoff = self.backoff.saturating_mul(2).min(self.config.retry_max);
    }

    /// When the next collection is due; `None` if nothing is.
    fn due(&self) -> Option<Instant> {
        if self.running.is_some() {
            return None;
        }
        let due = match self.last {
            Outcome::Nothing => self.startup_end,
            Outcome::Failed { retry_at } => latest(retry_at, self.budget_end),
            Outcome::Succeeded => {
                let Reasons {
                    forced,
                    paced,
                    deadline,
                    ..
                } = self.pending;
                let budgeted =
                    |at: Option<Instant>| at.and_then(|at| latest(Some(at), self.budget_end));
                earliest(forced, earliest(budgeted(paced), budgeted(deadline)))
            }
        };
        due.and_then(|at| latest(Some(at), self.startup_end))
    }

    /// The earliest the budget allows a collection after one that ran from
    /// `started` to `ended`: the pause `d` must be at most `p` of the
    /// span from its start to the next start, so the rest between them is
    /// at least `d * (1 - p) / p`.
    fn budget_after(&self, started: Instant, ended: Instant) -> Option<Instant> {
        let pause = ended.saturating_duration_since(started).max(MIN_PAUSE);
        let p = self.config.pause_threshold;
        let rest = (pause.as_nanos() as f64 * ((1.0 - p) / p)).ceil();
        // Rounded up, so the share never comes out above `p`; a rest past
        // what a `Duration` of nanoseconds holds is never.
        if rest >= u64::MAX as f64 {
            return None;
        }
        ended.checked_add(Duration::from_nanos(rest as u64))
    }
}

/// The earlier of two optional instants, `None` being "no such instant".
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The later of two instants, `None` being "never": never wins.
fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    Some(a?.max(b?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn budget_rest_is_exact_for_exact_thresholds() {
        let t0 = Instant::now();
        let sched = Scheduler::new(SchedulerConfig::default().pause_threshold(0.25), t0).unwrap();
        // 100 ms at a quarter: 300 ms of rest.
        assert_eq!(sched.budget_after(t0, t0 + 100 * MS), Some(t0 + 400 * MS));
        // Shorter than the floor: taken as 5 ms.
        assert_eq!(sched.budget_after(t0, t0 + MS), Some(t0 + MS + 15 * MS));
    }

    #[test]
    fn budget_is_never_for_an_absurd_rest() {
        let t0 = Instant::now();
        let config = SchedulerConfig::default().pause_threshold(f64::MIN_POSITIVE);
        let sched = Scheduler::new(config, t0).unwrap();
        assert_eq!(sched.budget_after(t0, t0 + MS), None);
    }

    #[test]
    fn never_wins_latest_and_loses_earliest() {
        let t0 = Instant::now();
        assert_eq!(latest(Some(t0), None), None);
        assert_eq!(earliest(Some(t0), None), Some(t0));
        assert_eq!(earliest(Some(t0 + MS), Some(t0)), Some(t0));
    }

    #[test]
    fn a_failure_puts_back_what_the_collection_took() {
        let t0 = Instant::now();
        let config = SchedulerConfig::default()
            .mutation_threshold(3)
            .startup_delay(Duration::ZERO);
        let mut sched = Scheduler::new(config, t0).unwrap();
        sched.mutated(t0);
        sched.mutated(t0);
        sched.started(t0);
        sched.mutated(t0);
        sched.failed(t0 + MS);
        // Two before plus one during: the threshold is reached.
        assert_eq!(sched.pending.mutations, 3);
        assert!(sched.pending.paced.is_some());
    }
}
