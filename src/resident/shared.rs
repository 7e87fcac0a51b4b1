//! A resident graph collected while writers write: [`SharedGraph`].
//!
//! The long part marks the graph as it stood when the collection began,
//! holding it for reading; writers meanwhile do not wait for it: their
//! changes queue. The short part, holding the graph for writing, applies
//! the queue in order and marks, with their closure, every node the queued
//! additions name: the write barrier's reports, taken from the changes
//! themselves. Its work grows with the queue, not with the graph.
//!
//! Why that is enough is the two-part collection's argument
//! (`collector/barrier.rs`): a candidate live at the end has a path from a
//! root; if none of it was added during the collection, the long part
//! marked it; else the last edge added, or the root, was in a queued
//! change, whose nodes the short part marks with their closure over the
//! graph as it now is.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime};

use super::changes::Resolved;
use super::collect::check_options;
use super::*;
use crate::mark::Reach;
use crate::{Error, Options, Stats};

/// A [`Graph`] shared by writers and a collector that runs beside them:
/// writers [`prepare`](Self::prepare) and [`commit`](Self::commit) their
/// changes from any thread; a collection's long part
/// ([`mark`](Self::mark)) does not hold them up, and its short part
/// ([`ResidentMarking::finish`]) holds them out only while it takes in
/// what they changed meanwhile.
pub struct SharedGraph<T, N, K, S = RandomState> {
    graph: RwLock<Graph<T, N, K, S>>,
    queue: Mutex<Queue<T, N, K>>,
}

impl<T, N, K, S> Debug for SharedGraph<T, N, K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedGraph").finish_non_exhaustive()
    }
}

/// Changes that arrived while a collection marked.
struct Queue<T, N, K> {
    collecting: bool,
    /// Which collection is (or was last) collecting: the graph holds still
    /// from its `mark` until its `finish`.
    collection: u64,
    slots: Vec<Arc<Mutex<Slot<T, N, K>>>>,
}

/// One writer's changes, from `prepare` on.
enum Slot<T, N, K> {
    /// Queued during a collection, with its nodes looked up in the graph
    /// as that collection holds it still (`None`: not looked up); whether
    /// the store has committed yet.
    Queued(Changes<T, N, K>, Option<Vec<Resolved>>, Outcome),
    /// Applied halfway (prepared) on the graph, or already finished
    /// (`None`).
    Prepared(Option<Prepared>),
    /// A commit or abort of changes prepared before the collection began.
    Ending(Option<Prepared>, Outcome),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Committed,
    Aborted,
}

/// Changes prepared on a [`SharedGraph`]: hand it back to
/// [`SharedGraph::commit`] once the store committed, or to
/// [`SharedGraph::abort`].
#[must_use = "commit it after the store commits, or abort it"]
pub struct Staged<T, N, K> {
    slot: Arc<Mutex<Slot<T, N, K>>>,
}

impl<T, N, K> Debug for Staged<T, N, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged").finish_non_exhaustive()
    }
}

fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    // What a panicking writer left is whole: every change is applied, or
    // queued, as one step.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T, N, K, S> SharedGraph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Shares `graph`.
    pub fn new(graph: Graph<T, N, K, S>) -> Self {
        SharedGraph {
            graph: RwLock::new(graph),
            queue: Mutex::new(Queue {
                collecting: false,
                collection: 0,
                slots: Vec::new(),
            }),
        }
    }

    /// The graph, for reading (`verify`, `referrers`): waits while a
    /// collection's short part or a writer holds it.
    pub fn read(&self) -> RwLockReadGuard<'_, Graph<T, N, K, S>> {
        self.graph.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The graph, unshared.
    pub fn into_inner(self) -> Graph<T, N, K, S> {
        self.graph
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// As [`Graph::prepare`], before the store commits. While a collection
    /// marks, the changes queue instead (nothing waits for the mark), and
    /// the collection's short part applies them; their nodes are looked up
    /// here, beside the mark, so that the short part need not.
    pub fn prepare(
        &self,
        changes: Changes<T, N, K>,
    ) -> Result<Staged<T, N, K>, GraphError<T, N, K>> {
        let collection = {
            let queue = lock(&self.queue);
            if !queue.collecting {
                return self.prepare_now(queue, changes);
            }
            queue.collection
        };
        // The graph holds still while this collection marks: looked up
        // now, the nodes keep their ids until its short part applies the
        // queue. The queue's lock is not held here: the short part takes
        // the graph's before it.
        let resolved = self.read().resolve(&changes);
        self.queue(changes, collection, resolved)
    }

    /// Queues `changes`, whose nodes were looked up (`resolved`) while
    /// collection number `collection` marked; prepares them at once if no
    /// collection marks any more.
    fn queue(
        &self,
        changes: Changes<T, N, K>,
        collection: u64,
        resolved: Vec<Resolved>,
    ) -> Result<Staged<T, N, K>, GraphError<T, N, K>> {
        let mut queue = lock(&self.queue);
        if !queue.collecting {
            return self.prepare_now(queue, changes);
        }
        // Another collection began meanwhile: the ids may have moved (a
        // compaction between the two), so the short part looks them up.
        let resolved = (queue.collection == collection).then_some(resolved);
        let slot = Arc::new(Mutex::new(Slot::Queued(
            changes,
            resolved,
            Outcome::Pending,
        )));
        queue.slots.push(Arc::clone(&slot));
        Ok(Staged { slot })
    }

    /// Prepares `changes` on the graph, no collection marking: the queue's
    /// lock, held, keeps one from starting meanwhile.
    fn prepare_now(
        &self,
        _queue: MutexGuard<'_, Queue<T, N, K>>,
        changes: Changes<T, N, K>,
    ) -> Result<Staged<T, N, K>, GraphError<T, N, K>> {
        let mut graph = self.graph.write().unwrap_or_else(PoisonError::into_inner);
        let prepared = graph.prepare(&changes)?;
        Ok(Staged {
            slot: Arc::new(Mutex::new(Slot::Prepared(Some(prepared)))),
        })
    }

    /// As [`Graph::commit`], after the store committed.
    pub fn commit(&self, staged: Staged<T, N, K>) -> Result<(), NotThisGraph> {
        self.end(staged, Outcome::Committed)
    }

    /// As [`Graph::abort`]: the store did not commit.
    pub fn abort(&self, staged: Staged<T, N, K>) -> Result<(), NotThisGraph> {
        self.end(staged, Outcome::Aborted)
    }

    fn end(&self, staged: Staged<T, N, K>, outcome: Outcome) -> Result<(), NotThisGraph> {
        let mut queue = lock(&self.queue);
        let mut slot = lock(&staged.slot);
        match &mut *slot {
            Slot::Queued(_, _, pending) | Slot::Ending(_, pending) => {
                *pending = outcome;
                Ok(())
            }
            Slot::Prepared(prepared) => {
                let Some(prepared) = prepared.take() else {
                    return Ok(());
                };
                if queue.collecting {
                    *slot = Slot::Ending(Some(prepared), outcome);
                    drop(slot);
                    queue.slots.push(Arc::clone(&staged.slot));
                    return Ok(());
                }
                let mut graph = self.graph.write().unwrap_or_else(PoisonError::into_inner);
                match outcome {
                    Outcome::Aborted => graph.abort(prepared),
                    _ => graph.commit(prepared),
                }
            }
        }
    }

    /// As [`prepare`](Self::prepare) and [`commit`](Self::commit) at once.
    pub fn apply(&self, changes: Changes<T, N, K>) -> Result<(), GraphError<T, N, K>> {
        let staged = self.prepare(changes)?;
        self.commit(staged).expect("staged on this graph");
        Ok(())
    }

    /// The long part of a collection alongside writers: marks the graph
    /// as it stands now, holding it for reading, while writers' changes
    /// queue instead of waiting. Call it with no lock held; then, **inside
    /// a store transaction that holds the writers out** (where the
    /// garbage will be removed), [`ResidentMarking::finish`].
    ///
    /// One collection at a time: a second one started before the first
    /// finishes gets [`Error::InvalidOptions`] at `finish`, and sweeps
    /// nothing.
    pub fn mark(&self, options: &Options) -> ResidentMarking<'_, T, N, K, S> {
        let start = Instant::now();
        let now = options.now.unwrap_or_else(SystemTime::now);
        let long = check_options(options).and_then(|()| {
            let mut queue = lock(&self.queue);
            if queue.collecting {
                return Err(Error::InvalidOptions {
                    reason: "a collection of this graph is already running".into(),
                });
            }
            queue.collecting = true;
            queue.collection += 1;
            Ok(())
        });
        let long = long.map(|()| {
            // Writers queue from here on: the graph is what it was.
            let graph = self.read();
            let mut marker = Marker::default();
            graph
                .mark_into(&mut marker, options, now, start, None)
                .and_then(|mut stats| {
                    let swept = graph.sweep_into(&marker, options, &mut stats)?;
                    Ok(Long {
                        marker,
                        listed: graph.listed.clone(),
                        stats,
                        swept,
                    })
                })
        });
        // Started: `finish` or drop ends it. Not started: nothing to end.
        let started = long.is_ok();
        ResidentMarking {
            shared: self,
            long: Some(long.and_then(|long| long)),
            started,
            options: options.clone(),
            start,
            now,
        }
    }

    /// Applies what queued and stops queuing: see [`Graph::take_queue`].
    fn stop_queuing(&self, graph: &mut Graph<T, N, K, S>) -> (Vec<u32>, Vec<u32>) {
        let mut queue = lock(&self.queue);
        let slots = std::mem::take(&mut queue.slots);
        queue.collecting = false;
        graph.take_queue(slots)
    }
}

/// What the long part found.
struct Long {
    marker: Marker,
    /// What was listed when the long part began: with the white ids of
    /// `marker`, the candidates.
    listed: BitSet,
    stats: Stats,
    swept: (Vec<u32>, Option<Vec<(u32, u32)>>),
}

/// A collection of a [`SharedGraph`] whose long part is done: see
/// [`SharedGraph::mark`]. Dropped without [`finish`](Self::finish), it
/// applies what queued and sweeps nothing.
#[must_use = "finish it inside a store transaction, or drop it to abandon the collection"]
pub struct ResidentMarking<'s, T, N, K, S = RandomState>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    shared: &'s SharedGraph<T, N, K, S>,
    long: Option<Result<Long, GraphError<T, N, K>>>,
    started: bool,
    options: Options,
    start: Instant,
    now: SystemTime,
}

impl<T, N, K, S> Debug for ResidentMarking<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentMarking").finish_non_exhaustive()
    }
}

impl<T, N, K, S> Drop for ResidentMarking<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    fn drop(&mut self) {
        if self.started && self.long.is_some() {
            let mut graph = self
                .shared
                .graph
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.stop_queuing(&mut graph);
            let _ = graph.maybe_compact();
        }
    }
}

impl<T, N, K, S> ResidentMarking<'_, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// The short part, **inside a store transaction that holds the writers
    /// out**: applies the changes that queued, marks every node their
    /// additions name with its closure over the graph as it now is, and
    /// calls `remove` with the collection, the graph held for writing.
    /// Remove its garbage from the store in that transaction (or take its
    /// [`plan`](ResidentCollection::plan)); report the removal to the graph
    /// after `finish` returns. Writers' `prepare` and `commit` wait for
    /// `finish` only.
    ///
    /// On any error (of either part) nothing is returned for removal, and
    /// the queue is applied all the same.
    pub fn finish<R>(
        mut self,
        remove: impl FnOnce(&ResidentCollection<'_, T, N, K, S>) -> R,
    ) -> Result<(R, Pause), GraphError<T, N, K>> {
        let long = self.long.take().expect("finish runs once");
        let shared = self.shared;
        let pause = Instant::now();
        let mut graph = shared.graph.write().unwrap_or_else(PoisonError::into_inner);
        // No compaction while ids are still the long part's.
        let hold = Arc::clone(&graph.pending);
        let (reported, mut removed) = if self.started {
            shared.stop_queuing(&mut graph)
        } else {
            (Vec::new(), Vec::new())
        };
        removed.sort_unstable();
        removed.dedup();
        let applied = Instant::now();
        let finished = (|| {
            let Long {
                marker,
                listed: candidates,
                mut stats,
                swept: (swept, references),
            } = long?;
            graph.marker = marker;
            let turned = graph.mark_reported(
                &reported,
                &candidates,
                &self.options,
                self.now,
                self.start,
                &mut stats,
            )?;
            // Candidates the queue took out of the store, and did not put
            // back, are no garbage of this collection: the store has
            // removed them already.
            let mut gone = 0;
            for &id in &removed {
                if candidates.contains(id)
                    && !graph.marker.is_live(id)
                    && !graph.listed.contains(id)
                {
                    gone += 1;
                }
            }
            stats.nodes_swept -= turned + gone;
            stats.nodes_listed = graph.listed_count;
            stats.reported = reported.len();
            let marked = Instant::now();
            let collection = ResidentCollection {
                graph: &graph,
                swept,
                references,
                stats,
                now: self.now,
                grace_period: self.options.grace_period,
            };
            let result = remove(&collection);
            Ok((result, marked))
        })();
        let removed = Instant::now();
        drop(hold);
        let compacted = graph.maybe_compact();
        let end = Instant::now();
        let (result, marked) = finished?;
        Ok((
            result,
            Pause {
                queued: reported.len(),
                apply: applied - pause,
                mark: marked - applied,
                compact: if compacted {
                    end - removed
                } else {
                    Duration::ZERO
                },
                whole: end - pause,
            },
        ))
    }
}

/// How long a [`ResidentMarking::finish`] held writers out, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pause {
    /// Nodes the queued changes named, marked with their closure.
    pub queued: usize,
    /// Applying the queued changes.
    pub apply: std::time::Duration,
    /// Marking what they named, and filtering the garbage.
    pub mark: std::time::Duration,
    /// Compacting the graph once the caller's `remove` returned, if the
    /// changes made it due: rare (after about half the references' count
    /// in changes) but a walk over the whole graph, and writers wait for
    /// it too. Zero when not due.
    pub compact: std::time::Duration,
    /// The whole short part, the caller's `remove` and the compaction
    /// included: how long writers were held out.
    pub whole: std::time::Duration,
}

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Applies what queued during a collection, in order; returns the ids
    /// of every node an addition named, and of every node unlisted
    /// meanwhile (a removal committed, a listing aborted).
    fn take_queue(&mut self, slots: Vec<Arc<Mutex<Slot<T, N, K>>>>) -> (Vec<u32>, Vec<u32>) {
        let mut reported = Vec::new();
        self.unlisted = Some(Vec::new());
        for slot in slots {
            let mut slot = lock(&slot);
            match std::mem::replace(&mut *slot, Slot::Prepared(None)) {
                Slot::Queued(changes, resolved, outcome) => {
                    if outcome == Outcome::Aborted {
                        continue;
                    }
                    // A graph too full for the changes keeps them out; the
                    // writer's commit then finds nothing to do, and verify
                    // reports what is missing.
                    let Ok(prepared) = self.prepare_resolved(&changes, resolved.as_deref()) else {
                        continue;
                    };
                    // Named by id as they were staged: no second hash.
                    reported.extend_from_slice(&prepared.named);
                    if outcome == Outcome::Committed {
                        let _ = self.commit(prepared);
                    } else {
                        *slot = Slot::Prepared(Some(prepared));
                    }
                }
                Slot::Ending(Some(prepared), outcome) => {
                    let _ = match outcome {
                        Outcome::Aborted => self.abort(prepared),
                        Outcome::Committed => self.commit(prepared),
                        Outcome::Pending => {
                            *slot = Slot::Prepared(Some(prepared));
                            Ok(())
                        }
                    };
                }
                other => *slot = other,
            }
        }
        let removed = self.unlisted.take().unwrap_or_default();
        (reported, removed)
    }

    /// Marks `reported` strongly, with their closure over the graph as it
    /// now is; returns how many of `candidates` that left white turned
    /// live.
    fn mark_reported(
        &mut self,
        reported: &[u32],
        candidates: &BitSet,
        options: &Options,
        now: SystemTime,
        start: Instant,
        stats: &mut Stats,
    ) -> Result<usize, GraphError<T, N, K>> {
        let mut marker = std::mem::take(&mut self.marker);
        marker.grow(self.nodes.len());
        let mut checkpoint = crate::collector::Checkpoint::new(start, options);
        let mut mark = collect::Mark {
            marker: &mut marker,
            listed: &self.listed,
            any_unlisted: self.listed_count < self.nodes.len(),
            deadlines: &self.deadlines,
            now,
            stats,
            next_deadline: None,
            candidates: Some(candidates),
            turned: 0,
            counts: Default::default(),
        };
        for &id in reported {
            mark.reach(id, Reach::Strong);
        }
        let expanded = self.expand(&mut mark, &mut checkpoint);
        let turned = mark.turned;
        self.marker = marker;
        expanded?;
        stats.nodes_marked = self.marker.live_count();
        Ok(turned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Strength;

    type TestGraph = Graph<u8, u8, u32>;

    fn node(key: u32) -> Node<u8, u8, u32> {
        Node::new(0, 0, key)
    }

    /// A writer looks its nodes up while one collection marks and queues
    /// them in the next, after a compaction renumbered the ids: the ids it
    /// found are stale, and the short part must look the nodes up again
    /// instead of applying them.
    #[test]
    fn changes_looked_up_in_one_collection_and_queued_in_the_next_are_looked_up_again() {
        let mut graph = TestGraph::new();
        let mut setup = Changes::new();
        for key in 0..40 {
            setup.add_node(node(key));
        }
        // A root on the last key only: compaction numbers it first.
        setup.add_root(node(39), Strength::Strong);
        graph.apply(&setup).unwrap();
        let shared = SharedGraph::new(graph);

        // The writer's lookup, during collection 1.
        let first = shared.mark(&Options::default());
        let mut changes = Changes::new();
        changes.add_root(node(3), Strength::Strong);
        let resolved = shared.read().resolve(&changes);
        let collection = lock(&shared.queue).collection;
        drop(first);

        // Between the two: enough references to compact the graph, which
        // renumbers from the roots: node 3's id moves.
        let before = shared.read().find(&node(3));
        let mut churn = Changes::new();
        for k in 0..4200 {
            churn.add_reference(node(39), node(k % 39), Strength::Weak);
        }
        shared.apply(churn).unwrap();
        assert_ne!(shared.read().find(&node(3)), before, "renumbered");

        // Queued during collection 2.
        let second = shared.mark(&Options::default());
        let staged = shared.queue(changes, collection, resolved).unwrap();
        drop(second);
        shared.commit(staged).unwrap();

        let mut graph = shared.into_inner();
        let collection = graph.collect(&Options::default()).unwrap();
        let live: Vec<u32> = (0..40).filter(|&k| collection.is_live(&node(k))).collect();
        assert_eq!(live, [3, 39], "the new root is on node 3");
    }
}
