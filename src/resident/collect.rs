//! A collection over a resident graph: the mark core over dense ids, edges
//! read from the adjacency, deadlines and last uses compared with `now`.
//! No callback, no hash, no copy of a node.

use std::time::{Instant, SystemTime};

use super::*;
use crate::collector::{CHECKPOINT_EVERY, Checkpoint};
use crate::mark::{Marks, Reach};
use crate::order::referrers_first;
use crate::policy::{grace_end, note_deadline, within_grace};
use crate::{Error, Flow, Options, Phase, Plan, Stats, Strength, SweepOrder};

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Collects over the graph: marks from its roots (expiring ones held
    /// while `now <= deadline`), and from the listed nodes used within
    /// [`Options::grace_period`], and returns the listed nodes it did not
    /// reach. Reads nothing from the store.
    ///
    /// Reads `now`, `grace_period`, `time_limit`, `cancel`, `sweep_limit`
    /// and `sweep_order` from `options`. Pins by name are a
    /// [`Collector`](crate::Collector)'s: a graph's pins are roots, so
    /// `pins` set is [`Error::InvalidOptions`]. `explain` changes nothing:
    /// [`ResidentCollection::why_live`] searches when asked; "why was this
    /// swept?" is a `Collector`'s.
    pub fn collect(
        &mut self,
        options: &Options,
    ) -> Result<ResidentCollection<'_, T, N, K, S>, GraphError<T, N, K>> {
        let start = Instant::now();
        check_options(options)?;
        let now = options.now.unwrap_or_else(SystemTime::now);
        let mut stats = self.mark(options, now, start, None)?;
        let marker = std::mem::take(&mut self.marker);
        let swept = self.sweep_into(&marker, options, &mut stats);
        self.marker = marker;
        let (swept, references) = swept?;
        Ok(ResidentCollection {
            graph: self,
            swept,
            references,
            stats,
            now,
            grace_period: options.grace_period,
        })
    }

    /// The listed nodes `marker` did not reach, in removal order, with the
    /// references among them if ordered referrers first; or the sweep
    /// limit's error.
    pub(super) fn sweep_into(
        &self,
        marker: &Marker,
        options: &Options,
        stats: &mut Stats,
    ) -> Result<(Vec<u32>, Option<Vec<(u32, u32)>>), GraphError<T, N, K>> {
        let sweep_start = Instant::now();
        let mut swept: Vec<u32> = Vec::new();
        for (word, &listed) in self.listed.words().iter().enumerate() {
            let mut dead = listed & !marker.live_bits(word);
            while dead != 0 {
                swept.push((word * 64) as u32 + dead.trailing_zeros());
                dead &= dead - 1;
            }
        }
        stats.nodes_swept = swept.len();
        options
            .sweep_limit
            .check(stats.nodes_swept, stats.nodes_listed, || {
                swept
                    .iter()
                    .map(|&id| self.nodes[id as usize].clone())
                    .collect()
            })?;
        let references = (options.sweep_order == SweepOrder::ReferrersFirst)
            .then(|| self.order_referrers_first(&mut swept));
        stats.sweep_time = sweep_start.elapsed();
        Ok((swept, references))
    }

    /// Marks from the roots (but those on `skip`) and the nodes used within
    /// the grace period. Returns the counts.
    fn mark(
        &mut self,
        options: &Options,
        now: SystemTime,
        start: Instant,
        skip: Option<u32>,
    ) -> Result<Stats, GraphError<T, N, K>> {
        let mut marker = std::mem::take(&mut self.marker);
        let marked = self.mark_into(&mut marker, options, now, start, skip);
        self.marker = marker;
        marked
    }

    /// [`mark`](Self::mark) into a marker of the caller's: a graph shared
    /// for reading marks with its own.
    pub(super) fn mark_into(
        &self,
        marker: &mut Marker,
        options: &Options,
        now: SystemTime,
        start: Instant,
        skip: Option<u32>,
    ) -> Result<Stats, GraphError<T, N, K>> {
        let mut checkpoint = Checkpoint::new(start, options);
        let mut stats = Stats {
            nodes_listed: self.listed_count,
            ..Stats::default()
        };
        let len = self.nodes.len();
        marker.try_reset(len).map_err(|_| Error::OutOfMemory {
            bytes: len.div_ceil(32) * 8,
        })?;
        let mut mark = Mark {
            marker: &mut *marker,
            listed: &self.listed,
            any_unlisted: self.listed_count < self.nodes.len(),
            deadlines: &self.deadlines,
            now,
            stats: &mut stats,
            next_deadline: None,
            candidates: None,
            turned: 0,
            counts: EdgeCounts::default(),
        };

        // Last pushed, first marked: in the order compaction numbered them.
        for (&edge, _) in self.roots.iter().rev() {
            let (id, _, expires) = unpack(edge);
            if skip == Some(id) {
                continue;
            }
            let deadline = expires
                .then(|| self.root_deadlines.get(&edge).copied())
                .flatten();
            mark.root(edge, deadline);
        }
        for (&id, &at) in &self.last_used {
            if self.listed.contains(id) && within_grace(at, now, options.grace_period) {
                mark.stats.roots_by_kind.grace += 1;
                note_deadline(&mut mark.next_deadline, grace_end(at, options.grace_period));
                mark.marker.reach(id, Reach::Strong);
            }
        }
        checkpoint.check(&mut (), Phase::Roots, mark.stats, |_, _| Flow::Continue)?;

        self.expand(&mut mark, &mut checkpoint)?;
        let Mark { next_deadline, .. } = mark;
        checkpoint.check(&mut (), Phase::Marking, &stats, |_, _| Flow::Continue)?;
        stats.nodes_marked = marker.live_count();
        stats.next_deadline = next_deadline;
        stats.mark_time = start.elapsed();
        Ok(stats)
    }

    /// Expands grey nodes until there are none.
    pub(super) fn expand(
        &self,
        mark: &mut Mark<'_>,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), GraphError<T, N, K>> {
        let bound = self.bound.edge_count() > 0;
        while let Some((id, reach)) = mark.marker.pop_grey(true) {
            // The compact row straight, no closure: this loop is the mark.
            for &edge in self.references.base_row(id) {
                if edge != adjacency::NIL {
                    mark.follow(id, reach, edge);
                }
            }
            self.references
                .for_each_added(id, |edge| mark.follow(id, reach, edge));
            if bound {
                self.bound.for_each(id, |edge| mark.follow(id, reach, edge));
            }
            let expanded = match reach {
                Reach::Strong => &mut mark.counts.expanded,
                Reach::Flat => &mut mark.counts.expanded_flat,
            };
            *expanded += 1;
            if (mark.counts.expanded + mark.counts.expanded_flat) % CHECKPOINT_EVERY == 0 {
                mark.flush();
                checkpoint.check(&mut (), Phase::Marking, mark.stats, |_, _| Flow::Continue)?;
            }
        }
        mark.flush();
        Ok(())
    }

    /// What removing every root on `root` would free: the listed nodes
    /// live now and garbage without those roots — what is reachable only
    /// through it (`docker system df`'s unique size, Nix's closure size
    /// when summed with the embedder's sizes). `root` itself is among them
    /// if it is listed and nothing else holds it. Two marks, no listing.
    ///
    /// Reads the same options as [`collect`](Self::collect).
    pub fn freed_without_root(
        &mut self,
        root: &Node<T, N, K>,
        options: &Options,
    ) -> Result<Vec<&Node<T, N, K>>, GraphError<T, N, K>> {
        let start = Instant::now();
        check_options(options)?;
        let Some(skip) = self.find(root) else {
            return Ok(Vec::new());
        };
        let now = options.now.unwrap_or_else(SystemTime::now);
        self.mark(options, now, start, Some(skip))?;
        let mut held_without = BitSet::default();
        for id in self.listed.iter() {
            if self.marker.is_live(id) {
                held_without.insert(id);
            }
        }
        self.mark(options, now, start, None)?;
        let freed = self
            .listed
            .iter()
            .filter(|&id| self.marker.is_live(id) && !held_without.contains(id))
            .map(|id| &self.nodes[id as usize])
            .collect();
        Ok(freed)
    }

    /// Puts `swept` in removal order, referrers first; returns the
    /// references among it, as positions in the new order.
    pub(super) fn order_referrers_first(&self, swept: &mut Vec<u32>) -> Vec<(u32, u32)> {
        const NOT_GARBAGE: u32 = u32::MAX;
        let mut position = vec![NOT_GARBAGE; self.nodes.len()];
        for (at, &id) in swept.iter().enumerate() {
            position[id as usize] = at as u32;
        }
        let mut edges = Vec::new();
        for (at, &id) in swept.iter().enumerate() {
            let mut each = |edge: u32| {
                let to = position[unpack(edge).0 as usize];
                if to != NOT_GARBAGE {
                    edges.push((at as u32, to));
                }
            };
            self.references.for_each(id, &mut each);
            self.bound.for_each(id, &mut each);
        }
        let order = referrers_first(swept.len(), &mut edges);
        let mut new_position = vec![0u32; swept.len()];
        for (new, &old) in order.iter().enumerate() {
            new_position[old as usize] = new as u32;
        }
        *swept = order.iter().map(|&old| swept[old as usize]).collect();
        let mut references: Vec<(u32, u32)> = edges
            .into_iter()
            .map(|(from, to)| (new_position[from as usize], new_position[to as usize]))
            .collect();
        references.sort_unstable();
        references
    }
}

/// What a resident collection cannot do with `options`.
pub(super) fn check_options<E, R>(options: &Options) -> Result<(), Error<E, R>> {
    if let Some(reason) = options.sweep_limit.invalid() {
        return Err(Error::InvalidOptions { reason });
    }
    if !options.pins.is_empty() {
        return Err(Error::InvalidOptions {
            reason: "a resident graph resolves no pins by name: add them as roots".into(),
        });
    }
    Ok(())
}

/// The mark's state while it runs: borrowed apart from the adjacency it
/// reads.
pub(super) struct Mark<'a> {
    pub(super) marker: &'a mut Marker,
    pub(super) listed: &'a BitSet,
    /// Whether any node is unlisted: if none, no edge is dead, and the
    /// mark need not look.
    pub(super) any_unlisted: bool,
    pub(super) deadlines: &'a HashMap<(u32, u32), SystemTime>,
    pub(super) now: SystemTime,
    pub(super) stats: &'a mut Stats,
    pub(super) next_deadline: Option<SystemTime>,
    /// A collection's short part: the long part's candidates (listed when
    /// it began; those it left white are garbage), to count the ones that
    /// turn live now.
    pub(super) candidates: Option<&'a BitSet>,
    pub(super) turned: usize,
    /// The per-edge and per-node counts, kept here rather than behind
    /// `stats` so the row walk keeps them in registers; `expand` adds them
    /// to `stats`.
    pub(super) counts: EdgeCounts,
}

/// Counts the mark keeps by value while it walks rows.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct EdgeCounts {
    followed: usize,
    weak: usize,
    dead: usize,
    expanded: usize,
    expanded_flat: usize,
}

impl Mark<'_> {
    /// Adds the counts kept by value to `stats`.
    fn flush(&mut self) {
        let counts = std::mem::take(&mut self.counts);
        let stats = &mut *self.stats;
        stats.references_followed += counts.followed;
        stats.weak_references += counts.weak;
        stats.dead_edges += counts.dead;
        stats.nodes_expanded += counts.expanded;
        stats.nodes_expanded_flat += counts.expanded_flat;
    }

    /// Reaches `id`; in a short part, counts a candidate turned live.
    #[inline(always)]
    pub(super) fn reach(&mut self, id: u32, reach: Reach) {
        let turned = self.marker.reach(id, reach);
        if turned
            && self
                .candidates
                .is_some_and(|candidates| candidates.contains(id))
        {
            self.turned += 1;
        }
    }

    /// Whether an expiring edge holds: until its deadline, that instant
    /// included. One with no deadline known holds (keep when unsure).
    #[inline]
    fn holds(&mut self, deadline: Option<SystemTime>, strength: Strength) -> bool {
        match deadline {
            Some(at) if self.now > at => {
                self.stats.roots_by_kind.leases_expired += 1;
                false
            }
            _ => {
                if strength != Strength::Weak {
                    self.stats.roots_by_kind.leases += 1;
                    note_deadline(&mut self.next_deadline, deadline);
                }
                true
            }
        }
    }

    fn root(&mut self, edge: u32, deadline: Option<SystemTime>) {
        let (id, strength, expires) = unpack(edge);
        if expires && !self.holds(deadline, strength) {
            return;
        }
        match Reach::Strong.through(strength) {
            Some(reach) => {
                self.stats.roots += 1;
                if !expires {
                    self.stats.roots_by_kind.explicit += 1;
                }
                if !self.listed.contains(id) {
                    self.stats.dead_edges += 1;
                }
                self.reach(id, reach);
            }
            None => self.stats.weak_references += 1,
        }
    }

    // Once per edge: inlined into the row walk, it costs what the dense
    // path's sink costs.
    #[inline(always)]
    fn follow(&mut self, from: u32, reach: Reach, edge: u32) {
        let (to, strength, expires) = unpack(edge);
        let Some(next) = reach.through(strength) else {
            if reach == Reach::Strong {
                self.counts.weak += 1;
            }
            return;
        };
        if expires {
            let deadline = self.deadlines.get(&(from, edge)).copied();
            if !self.holds(deadline, strength) {
                return;
            }
        }
        self.counts.followed += 1;
        if self.any_unlisted && !self.listed.contains(to) {
            self.counts.dead += 1;
        }
        self.reach(to, next);
    }
}

/// The outcome of [`Graph::collect`]: what is garbage, in removal order,
/// and the counts. It borrows the graph; remove the garbage from the store
/// and report it ([`Changes::remove_node`]) once this is dropped.
#[derive(Debug)]
pub struct ResidentCollection<'g, T, N, K, S = RandomState> {
    pub(super) graph: &'g Graph<T, N, K, S>,
    pub(super) swept: Vec<u32>,
    /// Who references whom among the garbage, by position in `swept`.
    pub(super) references: Option<Vec<(u32, u32)>>,
    pub(super) stats: Stats,
    pub(super) now: SystemTime,
    /// The grace period the collection ran with, for `why_live`.
    pub(super) grace_period: std::time::Duration,
}

impl<'g, T, N, K, S> ResidentCollection<'g, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Counts and timings. `listing_time` is zero: there is no listing.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The time the collection ran at.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The listed nodes that are unreachable, each once: referrers first
    /// with [`SweepOrder::ReferrersFirst`], else in id order.
    pub fn garbage(
        &self,
    ) -> impl ExactSizeIterator<Item = &'g Node<T, N, K>> + use<'_, 'g, T, N, K, S> {
        let graph = self.graph;
        Garbage {
            ids: self.swept.iter(),
            graph,
            remaining: self.stats.nodes_swept,
        }
    }

    /// The ids of the garbage, with their positions in `swept`: a
    /// collection's short part leaves in `swept` what turned live, or left
    /// the store, since; they are skipped here.
    fn garbage_ids(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        let graph = self.graph;
        self.swept
            .iter()
            .copied()
            .enumerate()
            .filter(move |&(_, id)| is_garbage(graph, id))
    }

    /// Whether `node` was reached (listed or not). A node the graph does
    /// not hold is not.
    pub fn is_live(&self, node: &Node<T, N, K>) -> bool {
        self.graph
            .find(node)
            .is_some_and(|id| self.graph.marker.is_live(id))
    }

    /// The garbage as an owned [`Plan`], with the references among it when
    /// ordered [`SweepOrder::ReferrersFirst`]. To apply it later than it
    /// was made, record a generation ([`Plan::with_generation`]): a
    /// [`Watch`](crate::Watch) re-validates a [`Collector`](crate::Collector)'s
    /// plans; a resident graph's writers report to the graph instead.
    pub fn plan(&self) -> Plan<Node<T, N, K>> {
        let graph = self.graph;
        let mut position = vec![u32::MAX; self.swept.len()];
        let mut nodes = Vec::with_capacity(self.stats.nodes_swept);
        for (at, id) in self.garbage_ids() {
            position[at] = nodes.len() as u32;
            nodes.push(graph.nodes[id as usize].clone());
        }
        let references = self.references.as_ref().map(|references| {
            references
                .iter()
                .map(|&(from, to)| (position[from as usize], position[to as usize]))
                .filter(|&(from, to)| from != u32::MAX && to != u32::MAX)
                .collect()
        });
        Plan::new(nodes, references, self.now)
    }
}

/// Whether `id`, a candidate the long part left white, is still garbage:
/// not reached since, and still listed.
#[inline]
fn is_garbage<T, N, K, S>(graph: &Graph<T, N, K, S>, id: u32) -> bool {
    !graph.marker.is_live(id) && graph.listed.contains(id)
}

/// [`ResidentCollection::garbage`]: the long part's garbage, less what
/// the short part took back; its length is counted, not walked.
struct Garbage<'a, 'g, T, N, K, S> {
    ids: std::slice::Iter<'a, u32>,
    graph: &'g Graph<T, N, K, S>,
    remaining: usize,
}

impl<'g, T, N, K, S> Iterator for Garbage<'_, 'g, T, N, K, S> {
    type Item = &'g Node<T, N, K>;

    fn next(&mut self) -> Option<Self::Item> {
        let graph = self.graph;
        let id = self
            .ids
            .by_ref()
            .copied()
            .find(|&id| is_garbage(graph, id))?;
        self.remaining -= 1;
        Some(&graph.nodes[id as usize])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T, N, K, S> ExactSizeIterator for Garbage<'_, '_, T, N, K, S> {}
