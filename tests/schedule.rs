//! The scheduler's rules, one test each, against a fake clock: every
//! instant is `t0` plus an offset, so nothing sleeps and every boundary is
//! hit to the nanosecond. Then a property test drives it with random events
//! and checks each answer against bounds derived from the rules alone, and
//! a second one checks the pause budget over long runs.
//!
//! The case count comes from `PROPTEST_CASES`.

mod common;

use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use resource_gc::{Decision, Scheduler, SchedulerConfig, SchedulerConfigError};

const NS: Duration = Duration::from_nanos(1);
const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A scheduler created at `t0`, and `t0`.
fn scheduler(config: SchedulerConfig) -> (Scheduler, Instant) {
    let t0 = Instant::now();
    (Scheduler::new(config, t0).expect("a valid config"), t0)
}

/// Defaults, but a quarter for the pause budget (100 ms of collecting
/// means 300 ms of rest, exactly in floating point) and no startup delay.
fn quarter() -> SchedulerConfig {
    SchedulerConfig::default()
        .pause_threshold(0.25)
        .startup_delay(Duration::ZERO)
}

/// Runs one successful collection from `at` for `pause`; returns its end.
fn collect(
    sched: &mut Scheduler,
    at: Instant,
    pause: Duration,
    deadline: Option<Duration>,
) -> Instant {
    assert_eq!(
        sched.poll(at),
        Decision::Collect,
        "a collection is due at {at:?}"
    );
    sched.started(at);
    let end = at + pause;
    sched.finished(end, deadline);
    end
}

#[test]
fn the_first_collection_waits_for_the_startup_delay() {
    let (mut sched, t0) = scheduler(SchedulerConfig::default());
    let startup_end = t0 + 100 * MS; // containerd's default
    assert_eq!(sched.poll(t0), Decision::WaitUntil(startup_end));
    // Writes, a threshold's worth of them, and a trigger do not bring it
    // earlier.
    for _ in 0..100 {
        sched.deleted(t0);
    }
    sched.trigger(t0);
    assert_eq!(
        sched.poll(startup_end - NS),
        Decision::WaitUntil(startup_end)
    );
    assert_eq!(sched.poll(startup_end), Decision::Collect);

    // With nothing written, it still runs: it sets the pause budget's base
    // and finds the deadlines already in the store.
    let (sched, t0) = scheduler(SchedulerConfig::default());
    assert_eq!(sched.poll(t0 + 100 * MS), Decision::Collect);

    // A zero delay collects at once.
    let (sched, t0) = scheduler(quarter());
    assert_eq!(sched.poll(t0), Decision::Collect);

    // A collection the embedder ran on its own, unasked, does not end the
    // startup delay: a trigger still waits for it.
    let (mut sched, t0) = scheduler(SchedulerConfig::default().startup_delay(SEC));
    sched.started(t0);
    sched.finished(t0 + MS, None);
    sched.trigger(t0 + MS);
    assert_eq!(sched.poll(t0 + MS), Decision::WaitUntil(t0 + SEC));
}

#[test]
fn the_deletion_threshold_collects_without_waiting_for_the_budget() {
    let (mut sched, t0) = scheduler(quarter().deletion_threshold(3));
    let end = collect(&mut sched, t0, 100 * MS, None);
    let budget_end = end + 300 * MS;

    // Below the threshold a deletion still makes a collection due, once the
    // pause budget allows (containerd collects at its next tick).
    sched.deleted(end);
    sched.deleted(end);
    assert_eq!(sched.poll(end), Decision::WaitUntil(budget_end));
    // The third deletion reaches it: due at once.
    sched.deleted(end + MS);
    assert_eq!(sched.poll(end + MS), Decision::Collect);
}

#[test]
fn the_deletion_threshold_waits_the_schedule_delay() {
    let config = quarter().deletion_threshold(2).schedule_delay(50 * MS);
    let (mut sched, t0) = scheduler(config);
    let end = collect(&mut sched, t0, 100 * MS, None);
    sched.deleted(end);
    sched.deleted(end + 10 * MS);
    // Reached at end + 10 ms, due 50 ms later, before the budget's 300 ms.
    assert_eq!(
        sched.poll(end + 10 * MS),
        Decision::WaitUntil(end + 60 * MS)
    );
    // More deletions do not postpone it.
    sched.deleted(end + 20 * MS);
    assert_eq!(sched.poll(end + 60 * MS), Decision::Collect);
}

#[test]
fn the_mutation_threshold_waits_for_the_pause_budget() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(3));
    let end = collect(&mut sched, t0, 100 * MS, None);
    let budget_end = end + 300 * MS;

    sched.mutated(end);
    sched.mutated(end);
    // Two of three: nothing to do, however long one waits.
    assert_eq!(sched.poll(end + HOUR), Decision::Idle);
    sched.mutated(end + MS);
    assert_eq!(sched.poll(end + MS), Decision::WaitUntil(budget_end));
    assert_eq!(sched.poll(budget_end), Decision::Collect);

    // Reached after the budget allows: due at once.
    let end = collect(&mut sched, budget_end, 100 * MS, None);
    let later = end + SEC;
    for _ in 0..3 {
        sched.mutated(later);
    }
    assert_eq!(sched.poll(later), Decision::Collect);
}

#[test]
fn a_zero_mutation_threshold_never_collects_for_mutations() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(0));
    let end = collect(&mut sched, t0, 100 * MS, None);
    for _ in 0..10_000 {
        sched.mutated(end);
    }
    assert_eq!(sched.poll(end + HOUR), Decision::Idle);
}

#[test]
fn the_pause_budget_counts_the_whole_collection_removal_included() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(1));
    // Marking took 10 ms, removing the garbage 990 ms: the store was
    // paused for a second, and the budget says three seconds of rest.
    // containerd would count the 10 ms and allow the next after 30 ms.
    sched.started(t0);
    let marked = t0 + 10 * MS;
    let removed = marked + 990 * MS;
    sched.finished(removed, None);
    sched.mutated(removed);
    assert_eq!(
        sched.poll(marked + 30 * MS),
        Decision::WaitUntil(removed + 3 * SEC)
    );
    assert_eq!(
        sched.poll(removed + 3 * SEC - NS),
        Decision::WaitUntil(removed + 3 * SEC)
    );
    assert_eq!(sched.poll(removed + 3 * SEC), Decision::Collect);
}

#[test]
fn the_pause_budget_uses_the_last_pause_and_a_5_ms_floor() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(1));
    let end = collect(&mut sched, t0, 400 * MS, None);
    // A collection that took no time counts as 5 ms: 15 ms of rest.
    let at = end + 1200 * MS;
    sched.mutated(at);
    let end = collect(&mut sched, at, Duration::ZERO, None);
    sched.mutated(end);
    assert_eq!(sched.poll(end), Decision::WaitUntil(end + 15 * MS));

    // At 1, the rest is zero: back to back.
    let (mut sched, t0) = scheduler(quarter().pause_threshold(1.0).mutation_threshold(1));
    let end = collect(&mut sched, t0, SEC, None);
    sched.mutated(end);
    assert_eq!(sched.poll(end), Decision::Collect);
}

#[test]
fn a_deadline_wakes_it_with_nothing_written() {
    // containerd #6294: a lease that expires on an idle daemon is never
    // collected. Here the collection reports the next deadline it saw.
    let (mut sched, t0) = scheduler(quarter());
    let end = collect(&mut sched, t0, 100 * MS, Some(HOUR));
    // A lease is held through its deadline instant: due one nanosecond
    // after it, measured from the end of the collection.
    let past = end + HOUR + NS;
    assert_eq!(sched.poll(end), Decision::WaitUntil(past));
    assert_eq!(sched.poll(end + HOUR), Decision::WaitUntil(past));
    assert_eq!(sched.poll(past), Decision::Collect);
    // That collection saw no deadline ahead: nothing more to do.
    let end = collect(&mut sched, past, 100 * MS, None);
    assert_eq!(sched.poll(end + HOUR), Decision::Idle);
}

#[test]
fn a_deadline_waits_for_the_pause_budget() {
    let (mut sched, t0) = scheduler(quarter());
    let end = collect(&mut sched, t0, 100 * MS, Some(MS));
    assert_eq!(
        sched.poll(end + 2 * MS),
        Decision::WaitUntil(end + 300 * MS)
    );
}

#[test]
fn a_deadline_written_since_the_last_collection_wakes_it() {
    let (mut sched, t0) = scheduler(quarter());
    let end = collect(&mut sched, t0, 100 * MS, None);
    // A lease taken after the collection, one write: below any threshold.
    sched.mutated(end + SEC);
    sched.expires(end + SEC, HOUR);
    assert_eq!(
        sched.poll(end + SEC),
        Decision::WaitUntil(end + SEC + HOUR + NS)
    );

    // One written while a collection runs survives its end, though the
    // collection (which listed before it) reports nothing.
    let (mut sched, t0) = scheduler(quarter());
    sched.started(t0);
    sched.expires(t0 + 50 * MS, HOUR);
    sched.finished(t0 + 100 * MS, None);
    assert_eq!(
        sched.poll(t0 + SEC),
        Decision::WaitUntil(t0 + 50 * MS + HOUR + NS)
    );

    // One written before the collection started is the collection's to
    // report: if it reports nothing, the lease is gone.
    let (mut sched, t0) = scheduler(quarter());
    sched.expires(t0, HOUR);
    let end = collect(&mut sched, t0, 100 * MS, None);
    assert_eq!(sched.poll(end + 2 * HOUR), Decision::Idle);
}

#[test]
fn failures_back_off_doubling_up_to_the_max_and_success_resets() {
    // At 1 the pause budget allows everything, so only the back-off shows.
    let config = quarter()
        .pause_threshold(1.0)
        .retry_initial(SEC)
        .retry_max(5 * SEC);
    let (mut sched, t0) = scheduler(config);
    let mut at = t0;
    for wait in [1, 2, 4, 5, 5] {
        assert_eq!(sched.poll(at), Decision::Collect);
        sched.started(at);
        let end = at + 100 * MS;
        sched.failed(end);
        let retry = end + wait * SEC;
        assert_eq!(
            sched.poll(end),
            Decision::WaitUntil(retry),
            "a wait of {wait} s"
        );
        assert_eq!(sched.poll(retry - NS), Decision::WaitUntil(retry));
        at = retry;
    }
    // A success resets it: the next failure waits a second again.
    let end = collect(&mut sched, at, 100 * MS, None);
    sched.trigger(end);
    sched.started(end);
    sched.failed(end + 100 * MS);
    assert_eq!(sched.poll(end), Decision::WaitUntil(end + 1100 * MS));
}

#[test]
fn a_retry_also_waits_for_the_pause_budget() {
    let (mut sched, t0) = scheduler(quarter().retry_initial(MS));
    sched.started(t0);
    sched.failed(t0 + SEC);
    // The failed attempt paused the store a second: three of rest.
    assert_eq!(sched.poll(t0 + SEC), Decision::WaitUntil(t0 + 4 * SEC));
}

#[test]
fn a_failure_keeps_its_reasons_and_is_retried_without_them() {
    let (mut sched, t0) = scheduler(quarter().pause_threshold(1.0));
    // The first collection fails with nothing written: it is still retried.
    sched.started(t0);
    sched.failed(t0);
    assert_eq!(sched.poll(t0 + SEC), Decision::Collect);
    let end = collect(&mut sched, t0 + SEC, 100 * MS, None);
    assert_eq!(sched.poll(end), Decision::Idle);

    // A triggered collection that fails is retried, and a trigger while it
    // backs off does not jump the queue.
    sched.trigger(end);
    sched.started(end);
    sched.failed(end);
    sched.trigger(end + MS);
    assert_eq!(sched.poll(end + MS), Decision::WaitUntil(end + SEC));
}

#[test]
fn a_trigger_collects_at_once_after_the_schedule_delay() {
    let (mut sched, t0) = scheduler(quarter());
    let end = collect(&mut sched, t0, 100 * MS, None);
    // As containerd's ScheduleAndWait: at once, pause budget or not.
    sched.trigger(end);
    assert_eq!(sched.poll(end), Decision::Collect);

    let (mut sched, t0) = scheduler(quarter().schedule_delay(50 * MS));
    let end = collect(&mut sched, t0, 100 * MS, None);
    sched.trigger(end);
    assert_eq!(sched.poll(end), Decision::WaitUntil(end + 50 * MS));
    // A second trigger does not postpone the first.
    sched.trigger(end + 40 * MS);
    assert_eq!(sched.poll(end + 50 * MS), Decision::Collect);
}

#[test]
fn writes_during_a_collection_count_for_the_next() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(2));
    sched.mutated(t0);
    sched.mutated(t0);
    sched.started(t0);
    // In flight: nothing to decide.
    assert_eq!(sched.poll(t0 + MS), Decision::Idle);
    sched.deleted(t0 + 50 * MS);
    sched.trigger(t0 + 60 * MS);
    sched.finished(t0 + 100 * MS, None);
    // The trigger came after the listing: it is still pending.
    assert_eq!(sched.poll(t0 + 100 * MS), Decision::Collect);
}

#[test]
fn started_twice_counts_from_the_first_and_finished_alone_keeps_reasons() {
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(1));
    sched.started(t0);
    sched.started(t0 + 900 * MS);
    sched.finished(t0 + SEC, None);
    sched.mutated(t0 + SEC);
    assert_eq!(sched.poll(t0 + SEC), Decision::WaitUntil(t0 + 4 * SEC));

    // A collection the scheduler was not told of: what was written may not
    // have been seen, so it stays due; the pause is taken as 5 ms.
    let (mut sched, t0) = scheduler(quarter().mutation_threshold(1));
    sched.mutated(t0);
    sched.finished(t0 + SEC, None);
    assert_eq!(
        sched.poll(t0 + SEC),
        Decision::WaitUntil(t0 + SEC + 15 * MS)
    );
}

#[test]
fn invalid_configs_are_refused() {
    let now = Instant::now();
    for share in [
        0.0,
        -0.5,
        1.0 + f64::EPSILON,
        2.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let config = SchedulerConfig::default().pause_threshold(share);
        assert_eq!(
            Scheduler::new(config, now).unwrap_err(),
            SchedulerConfigError::PauseThreshold(share)
        );
    }
    let nan = Scheduler::new(SchedulerConfig::default().pause_threshold(f64::NAN), now);
    assert!(matches!(nan, Err(SchedulerConfigError::PauseThreshold(p)) if p.is_nan()));
    for share in [f64::MIN_POSITIVE, 0.02, 0.5, 1.0] {
        let config = SchedulerConfig::default().pause_threshold(share);
        assert!(Scheduler::new(config, now).is_ok(), "{share} is valid");
    }

    let zero = SchedulerConfig::default().retry_initial(Duration::ZERO);
    let err = Scheduler::new(zero, now).unwrap_err();
    assert_eq!(
        err,
        SchedulerConfigError::Retry {
            initial: Duration::ZERO,
            max: 300 * SEC
        }
    );
    let above = SchedulerConfig::default()
        .retry_initial(SEC)
        .retry_max(SEC - NS);
    assert!(matches!(
        Scheduler::new(above, now),
        Err(SchedulerConfigError::Retry { .. })
    ));
    let equal = SchedulerConfig::default().retry_initial(SEC).retry_max(SEC);
    assert!(Scheduler::new(equal, now).is_ok());

    assert_eq!(
        SchedulerConfigError::PauseThreshold(0.0).to_string(),
        "pause_threshold must be in (0, 1], not 0"
    );
}

#[test]
fn defaults_are_containerds() {
    let config = SchedulerConfig::default();
    assert_eq!(config.pause_threshold, 0.02);
    assert_eq!(config.deletion_threshold, 0);
    assert_eq!(config.mutation_threshold, 100);
    assert_eq!(config.schedule_delay, Duration::ZERO);
    assert_eq!(config.startup_delay, 100 * MS);
    assert_eq!((config.retry_initial, config.retry_max), (SEC, 300 * SEC));
}

#[test]
fn every_instant_is_due_exactly_and_not_a_nanosecond_before() {
    let config = SchedulerConfig::default()
        .pause_threshold(0.5)
        .mutation_threshold(2)
        .deletion_threshold(2)
        .schedule_delay(7 * MS)
        .startup_delay(SEC)
        .retry_initial(3 * SEC)
        .retry_max(3 * SEC);
    let (mut sched, t0) = scheduler(config);
    let check = |sched: &Scheduler, due: Instant| {
        assert_eq!(sched.poll(due - NS), Decision::WaitUntil(due));
        assert_eq!(sched.poll(due), Decision::Collect);
    };

    // Startup.
    check(&sched, t0 + SEC);
    // Pause budget (at a half, the rest equals the pause), after the
    // mutation threshold reached exactly and its schedule delay.
    let end = collect(&mut sched, t0 + SEC, 100 * MS, None);
    sched.mutated(end);
    assert_eq!(sched.poll(end + HOUR), Decision::Idle);
    sched.mutated(end);
    check(&sched, end + 100 * MS);
    // The schedule delay, when it ends after the budget.
    let end = collect(&mut sched, end + 100 * MS, MS, None);
    sched.mutated(end + SEC);
    sched.mutated(end + SEC);
    check(&sched, end + SEC + 7 * MS);
    // The deletion threshold reached exactly, and its delay; no budget.
    let end = collect(&mut sched, end + SEC + 7 * MS, SEC, None);
    sched.deleted(end);
    sched.deleted(end);
    check(&sched, end + 7 * MS);
    // A deadline: one nanosecond past it, the budget long since allowing.
    let end = collect(&mut sched, end + 7 * MS, 100 * MS, Some(HOUR));
    check(&sched, end + HOUR + NS);
    // A retry: the back-off exactly.
    sched.started(end + HOUR + NS);
    let failed = end + HOUR + NS + 100 * MS;
    sched.failed(failed);
    check(&sched, failed + 3 * SEC);
}

// ---------------------------------------------------------------------------
// Random event sequences.

/// One thing that happens to the scheduler.
#[derive(Clone, Debug)]
enum Op {
    /// Time passes without the embedder asking (it was busy).
    Pass(u64),
    /// The embedder sleeps until the instant `poll` named, exactly.
    Sleep,
    Mutate,
    Delete,
    Trigger,
    /// A write sets a deadline this many ms ahead.
    Expire(u64),
    /// If `poll` says so, a collection of this many ms, with maybe an event
    /// halfway, that fails or reports the next deadline (ms ahead).
    Collect {
        pause: u64,
        during: Option<Box<Op>>,
        outcome: Result<Option<u64>, ()>,
    },
}

fn event() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Mutate),
        2 => Just(Op::Delete),
        1 => Just(Op::Trigger),
        1 => (0u64..5_000).prop_map(Op::Expire),
    ]
}

fn pause() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 0u64..20, 0u64..3_000]
}

fn op(forced: bool) -> impl Strategy<Value = Op> {
    let event = if forced {
        event().boxed()
    } else {
        prop_oneof![
            4 => Just(Op::Mutate),
            2 => Just(Op::Delete),
            1 => (0u64..5_000).prop_map(Op::Expire),
        ]
        .boxed()
    };
    let outcome = prop_oneof![
        1 => Just(Err(())),
        2 => Just(Ok(None)),
        2 => (0u64..20_000).prop_map(|ms| Ok(Some(ms))),
    ];
    prop_oneof![
        2 => (0u64..2_000).prop_map(Op::Pass),
        4 => Just(Op::Sleep),
        4 => event.clone(),
        4 => (pause(), proptest::option::of(event), outcome).prop_map(|(pause, during, outcome)| {
            Op::Collect { pause, during: during.map(Box::new), outcome }
        }),
    ]
}

fn share() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.02),
        Just(0.25),
        Just(0.5),
        Just(1.0),
        (1u32..=1000).prop_map(|k| f64::from(k) / 1000.0),
    ]
}

fn config(forced: bool) -> impl Strategy<Value = SchedulerConfig> {
    let deletions = if forced { 0u32..4 } else { 0u32..1 };
    (
        share(),
        deletions,
        0u32..5,
        0u64..100,
        0u64..500,
        1u64..2_000,
        0u64..4,
    )
        .prop_map(
            |(share, deletions, mutations, delay, startup, retry, doublings)| {
                SchedulerConfig::default()
                    .pause_threshold(share)
                    .deletion_threshold(deletions)
                    .mutation_threshold(mutations)
                    .schedule_delay(ms(delay))
                    .startup_delay(ms(startup))
                    .retry_initial(ms(retry))
                    .retry_max(ms(retry << doublings))
            },
        )
}

/// The reasons to collect since the last collection that started, in the
/// rules' own terms: each instant is when the rule says it is due, before
/// the startup delay and the pause budget.
#[derive(Clone, Debug, Default)]
struct Pending {
    mutations: u32,
    deletions: u32,
    forced: Option<Instant>,
    paced: Option<Instant>,
    deadline: Option<Instant>,
}

fn min_of(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Pending {
    fn merge(&mut self, other: Pending) {
        self.mutations += other.mutations;
        self.deletions += other.deletions;
        self.forced = min_of(self.forced, other.forced);
        self.paced = min_of(self.paced, other.paced);
        self.deadline = min_of(self.deadline, other.deadline);
    }
}

/// The scheduler, and what the rules say about it.
struct Sim {
    config: SchedulerConfig,
    sched: Scheduler,
    t0: Instant,
    now: Instant,
    startup_end: Instant,
    pending: Pending,
    /// No collection has ended yet.
    first: bool,
    /// The last collection failed: retry at this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The end of the last collection and its pause, floored at 5 ms.
    last: Option<(Instant, Duration)>,
    collecting: Duration,
    longest: Duration,
    collections: u32,
    forced_used: bool,
}

impl Sim {
    fn new(config: SchedulerConfig) -> Self {
        let t0 = Instant::now();
        Sim {
            sched: Scheduler::new(config.clone(), t0).expect("generated configs are valid"),
            t0,
            now: t0,
            startup_end: t0 + config.startup_delay,
            pending: Pending::default(),
            first: true,
            retry_at: None,
            backoff: config.retry_initial,
            last: None,
            collecting: Duration::ZERO,
            longest: Duration::ZERO,
            collections: 0,
            forced_used: false,
            config,
        }
    }

    /// The pause budget's end, bounded from below and above: the rest after
    /// a pause `d` is `d * (1 - p) / p`, give or take rounding; `d / p` is
    /// more.
    fn budget(&self) -> (Instant, Instant) {
        let Some((end, pause)) = self.last else {
            return (self.startup_end, self.startup_end);
        };
        let p = self.config.pause_threshold;
        let rest = pause.as_secs_f64() * (1.0 - p) / p;
        let lower = end + Duration::from_secs_f64(rest).saturating_sub(Duration::from_micros(1));
        let upper = end + Duration::from_secs_f64(pause.as_secs_f64() / p) + NS;
        (lower, upper)
    }

    /// Bounds on when the next collection is due, `None` if nothing is.
    fn due(&self) -> Option<(Instant, Instant)> {
        let (budget_lower, budget_upper) = self.budget();
        if self.first {
            return Some((self.startup_end, self.startup_end));
        }
        if let Some(retry) = self.retry_at {
            return Some((retry.max(budget_lower), retry.max(budget_upper)));
        }
        let p = &self.pending;
        let forced = p.forced.map(|at| at.max(self.startup_end));
        let lower = [p.paced, p.deadline].map(|at| at.map(|at| at.max(budget_lower)));
        let upper = [p.paced, p.deadline].map(|at| at.map(|at| at.max(budget_upper)));
        let lower = min_of(forced, min_of(lower[0], lower[1]))?;
        let upper = min_of(forced, min_of(upper[0], upper[1]))?;
        Some((lower, upper))
    }

    /// Asks, and checks the answer against the rules.
    fn poll(&self) -> Decision {
        let decision = self.sched.poll(self.now);
        match (decision, self.due()) {
            (Decision::Idle, None) => {}
            (Decision::Idle, Some(due)) => panic!("idle with a collection due in {due:?}"),
            (_, None) => panic!("{decision:?} with no reason to collect"),
            (Decision::Collect, Some((lower, _))) => {
                assert!(
                    self.now >= self.startup_end,
                    "collects before the startup delay"
                );
                assert!(
                    self.now >= lower,
                    "collects before the rules allow ({lower:?})"
                );
            }
            (Decision::WaitUntil(at), Some((lower, upper))) => {
                assert!(at > self.now, "waits until the past");
                assert!(at >= lower, "wakes before the rules allow");
                assert!(at <= upper, "wakes later than the rules say ({upper:?})");
                // Waking exactly then collects.
                assert_eq!(self.sched.poll(at), Decision::Collect);
            }
        }
        decision
    }

    fn event(&mut self, op: &Op) {
        let now = self.now;
        let due = now + self.config.schedule_delay;
        let p = &mut self.pending;
        match op {
            Op::Mutate => {
                self.sched.mutated(now);
                p.mutations += 1;
            }
            Op::Delete => {
                self.sched.deleted(now);
                p.mutations += 1;
                p.deletions += 1;
            }
            Op::Trigger => {
                self.sched.trigger(now);
                p.forced = min_of(p.forced, Some(due));
                self.forced_used = true;
            }
            Op::Expire(after) => {
                self.sched.expires(now, ms(*after));
                p.deadline = min_of(p.deadline, Some(now + ms(*after) + NS));
            }
            _ => unreachable!("not an event"),
        }
        let deletions = self.config.deletion_threshold;
        if deletions > 0 && p.deletions >= deletions {
            p.forced = min_of(p.forced, Some(due));
            self.forced_used = true;
        }
        let mutations = self.config.mutation_threshold;
        if p.deletions > 0 || (mutations > 0 && p.mutations >= mutations) {
            p.paced = min_of(p.paced, Some(due));
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Pass(passed) => self.now += ms(*passed),
            Op::Sleep => {
                if let Decision::WaitUntil(at) = self.poll() {
                    self.now = at;
                    assert_eq!(self.poll(), Decision::Collect);
                }
            }
            Op::Collect {
                pause,
                during,
                outcome,
            } => {
                if self.poll() != Decision::Collect {
                    return;
                }
                let started = self.now;
                self.sched.started(started);
                let took = std::mem::take(&mut self.pending);
                assert_eq!(self.sched.poll(self.now), Decision::Idle, "in flight");
                self.now += ms(*pause) / 2;
                if let Some(event) = during {
                    self.event(event);
                }
                self.now = started + ms(*pause);
                let span = self.now - started;
                self.collecting += span;
                self.longest = self.longest.max(span);
                self.collections += 1;
                self.last = Some((self.now, span.max(5 * MS)));
                self.first = false;
                match outcome {
                    Ok(deadline) => {
                        self.sched.finished(self.now, deadline.map(ms));
                        if let Some(after) = deadline {
                            let past = Some(self.now + ms(*after) + NS);
                            self.pending.deadline = min_of(self.pending.deadline, past);
                        }
                        self.retry_at = None;
                        self.backoff = self.config.retry_initial;
                    }
                    Err(()) => {
                        self.sched.failed(self.now);
                        self.pending.merge(took);
                        self.retry_at = Some(self.now + self.backoff);
                        self.backoff = (self.backoff * 2).min(self.config.retry_max);
                    }
                }
            }
            event => self.event(event),
        }
        self.poll();
    }

    /// Collecting took at most the pause threshold's share of the wall
    /// time, give or take the last collection (and a nanosecond of rounding
    /// each).
    fn check_pacing(&self) {
        let wall = self.now - self.t0;
        let allowed = wall.mul_f64(self.config.pause_threshold)
            + self.longest
            + self.collections * NS
            + Duration::from_micros(1);
        assert!(
            self.collecting <= allowed,
            "collected {:?} of {wall:?} at {}: more than {allowed:?}",
            self.collecting,
            self.config.pause_threshold
        );
    }
}

proptest! {
    #![proptest_config(common::proptest_config())]

    /// Whatever happens: nothing before the startup delay; every answer
    /// within the bounds the rules give (a trigger, a threshold, a deadline,
    /// a retry always lead to a wake, no later than the rule says, and
    /// nothing is collected earlier than a rule allows); `Idle` only with
    /// no reason to collect; waking at the instant named collects.
    #[test]
    fn every_answer_follows_the_rules(config in config(true), ops in vec(op(true), 0..200)) {
        let mut sim = Sim::new(config);
        sim.poll();
        for op in &ops {
            sim.step(op);
        }
        if !sim.forced_used {
            sim.check_pacing();
        }
    }

    /// Without triggers or a deletion threshold, over a long run, the time
    /// spent collecting stays within the pause threshold's share of the
    /// wall time, give or take one collection.
    #[test]
    fn collecting_stays_within_the_pause_budget(
        config in config(false),
        ops in vec(op(false), 100..400),
    ) {
        let mut sim = Sim::new(config);
        for op in &ops {
            sim.step(op);
        }
        prop_assert!(!sim.forced_used);
        sim.check_pacing();
    }
}
