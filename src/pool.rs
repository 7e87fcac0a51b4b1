//! The grey nodes the threads of a parallel mark hand each other.
//!
//! It knows ids, not nodes: whoever marks decides what a grey id means. It
//! never blocks a thread that has work. A thread blocks only in
//! [`Pool::refill`], with nothing left to do, and the mark is over once
//! every thread blocks there: no one can make more work.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The grey nodes the threads of a shared mark hand each other, and how
/// they know the mark is over: every thread is waiting for work, so none
/// can make more.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
    /// Some thread waits for work: whoever has some to spare shares it.
    hungry: AtomicBool,
    /// A thread failed: the others stop at their next batch.
    stopped: AtomicBool,
}

struct PoolState {
    grey: Vec<u32>,
    threads: usize,
    waiting: usize,
    done: bool,
}

impl Pool {
    pub(crate) fn new(grey: Vec<u32>, threads: usize) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                grey,
                threads,
                waiting: 0,
                done: false,
            }),
            wake: Condvar::new(),
            hungry: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// No code that can panic runs under the lock, but a poisoned lock
    /// would still hold consistent counts.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure `local` has grey nodes, taking a share of the pool's,
    /// waiting for some if need be. `false` when the mark is over.
    pub(crate) fn refill(&self, local: &mut Vec<u32>) -> bool {
        if self.stopped() {
            return false;
        }
        if !local.is_empty() {
            return true;
        }
        let mut state = self.lock();
        loop {
            if state.done || self.stopped() {
                return false;
            }
            if !state.grey.is_empty() {
                let take = state.grey.len().div_ceil(state.threads - state.waiting);
                let from = state.grey.len() - take;
                local.extend(state.grey.drain(from..));
                return true;
            }
            state.waiting += 1;
            if state.waiting == state.threads {
                state.done = true;
                self.wake.notify_all();
                return false;
            }
            self.hungry.store(true, Relaxed);
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
    }

    /// Gives the older half of `local` (the bottom of the stack, far from
    /// what this thread is working on) to a thread that waits for work.
    #[inline]
    pub(crate) fn share(&self, local: &mut Vec<u32>) {
        if !self.hungry.load(Relaxed) || local.len() < 2 {
            return;
        }
        let mut state = self.lock();
        if state.waiting == 0 {
            return;
        }
        state.grey.extend(local.drain(..local.len() / 2));
        self.hungry.store(false, Relaxed);
        self.wake.notify_all();
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Relaxed)
    }

    /// Ends the mark for every thread. Whether this call is the one that
    /// ended it.
    pub(crate) fn stop(&self) -> bool {
        let mut state = self.lock();
        let first = !state.done && !self.stopped();
        self.stopped.store(true, Relaxed);
        state.done = true;
        self.wake.notify_all();
        first
    }

    /// Only `threads` threads could start: the mark ends when they all
    /// wait.
    pub(crate) fn started(&self, threads: usize) {
        let mut state = self.lock();
        state.threads = threads;
        if state.waiting == state.threads {
            state.done = true;
            self.wake.notify_all();
        }
    }

    /// The pool's room for grey nodes, empty, to keep for the next round.
    pub(crate) fn into_grey(self) -> Vec<u32> {
        let mut grey = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .grey;
        grey.clear();
        grey
    }

    /// A guard that stops the mark if its thread unwinds, so that no other
    /// thread waits forever for work the panicking one would have shared.
    pub(crate) fn stop_on_unwind(&self) -> StopOnUnwind<'_> {
        StopOnUnwind(self)
    }
}

pub(crate) struct StopOnUnwind<'a>(&'a Pool);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_are_split_among_the_threads() {
        let pool = Pool::new((0..10).collect(), 3);
        let mut first = Vec::new();
        assert!(pool.refill(&mut first));
        assert_eq!(first.len(), 4, "a third, rounded up");
        assert!(pool.refill(&mut first), "a thread with work goes on");
        assert_eq!(first.len(), 4, "and takes nothing more");
    }

    #[test]
    fn the_mark_ends_when_every_thread_waits_and_shared_work_is_done_once() {
        let pool = Pool::new(vec![0], 2);
        // Each thread "expands" what it holds; node 0 makes 99 more, which
        // whoever holds it shares once the other waits for work.
        let drain = || {
            let mut local = Vec::new();
            let mut done = Vec::new();
            while pool.refill(&mut local) {
                if let Some(at) = local.iter().position(|&id| id == 0) {
                    done.push(local.swap_remove(at));
                    while !pool.hungry.load(Relaxed) {
                        std::thread::yield_now();
                    }
                    local.extend(1..100);
                    pool.share(&mut local);
                }
                done.append(&mut local);
            }
            done
        };
        let mut done = std::thread::scope(|scope| {
            let helper = scope.spawn(drain);
            let mut done = drain();
            done.extend(helper.join().unwrap());
            done
        });
        done.sort_unstable();
        assert_eq!(done, (0..100).collect::<Vec<u32>>(), "each id done once");
    }

    #[test]
    fn fewer_threads_than_asked_still_end_the_mark() {
        let pool = Pool::new(Vec::new(), 4);
        pool.started(1);
        assert!(!pool.refill(&mut Vec::new()));
    }

    #[test]
    fn only_the_first_stop_is_first_and_a_stopped_pool_hands_out_nothing() {
        let pool = Pool::new(vec![1, 2, 3], 2);
        assert!(pool.stop());
        assert!(!pool.stop());
        let mut local = vec![7];
        assert!(!pool.refill(&mut local), "not even to a thread with work");
        assert!(pool.into_grey().is_empty());
    }
}
