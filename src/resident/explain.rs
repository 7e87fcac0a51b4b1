//! "Why is this still here?" over a resident graph: a path from a root to
//! a live node, searched when asked rather than recorded by every mark.
//!
//! The search walks the graph as the collection left it, from the same
//! roots and by the same rules as the mark (`Reach::through`, deadlines
//! held until and at their instant, the grace period with `now`), breadth
//! first, so the path it returns is a shortest one. Like `referrers`, it
//! is an operator's question: one walk over the graph per question, and
//! nothing kept between them, so the mark pays nothing for it.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::*;
use crate::explain::{Reason, RootKind, Step};
use crate::mark::Reach;
use crate::policy::within_grace;

/// How the search reached a state: from which state, and why.
#[derive(Clone, Copy)]
struct Via {
    from: Option<(u32, Reach)>,
    reason: Reason,
}

impl<T, N, K, S> Graph<T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// A shortest path by which the mark at `now` with `grace_period`
    /// reaches `target`, root first; `None` if it does not.
    pub(super) fn path_to(
        &self,
        target: u32,
        now: SystemTime,
        grace_period: Duration,
    ) -> Option<Vec<(u32, Reason)>> {
        // A node is reached strongly or flat; a strong reach is searched
        // even where a flat one came first, as the mark upgrades it.
        let index = |id: u32, reach: Reach| id as usize * 2 + usize::from(reach == Reach::Flat);
        let mut seen: Vec<Option<Via>> = vec![None; self.nodes.len() * 2];
        let mut queue = VecDeque::new();
        let mut enter = |id: u32, reach: Reach, via: Via, queue: &mut VecDeque<(u32, Reach)>| {
            let slot = &mut seen[index(id, reach)];
            if slot.is_none() {
                *slot = Some(via);
                queue.push_back((id, reach));
            }
        };
        for &edge in self.roots.keys() {
            let (id, strength, expires) = unpack(edge);
            let deadline = self.root_deadlines.get(&edge).copied();
            if expires && deadline.is_some_and(|at| now > at) {
                continue;
            }
            if let Some(reach) = Reach::Strong.through(strength) {
                let kind = if expires {
                    RootKind::Lease
                } else {
                    RootKind::Explicit
                };
                let via = Via {
                    from: None,
                    reason: Reason::Root(kind),
                };
                enter(id, reach, via, &mut queue);
            }
        }
        for (&id, &at) in &self.last_used {
            if self.listed.contains(id) && within_grace(at, now, grace_period) {
                let via = Via {
                    from: None,
                    reason: Reason::Root(RootKind::Grace),
                };
                enter(id, Reach::Strong, via, &mut queue);
            }
        }
        let mut found = None;
        while let Some((id, reach)) = queue.pop_front() {
            if id == target {
                found = Some((id, reach));
                break;
            }
            let mut follow = |edge: u32, bound: bool| {
                let (to, strength, expires) = unpack(edge);
                let Some(next) = reach.through(strength) else {
                    return;
                };
                let deadline = self.deadlines.get(&(id, edge)).copied();
                if expires && deadline.is_some_and(|at| now > at) {
                    return;
                }
                let reason = if bound {
                    Reason::BackReference
                } else {
                    Reason::Reference(strength)
                };
                let via = Via {
                    from: Some((id, reach)),
                    reason,
                };
                enter(to, next, via, &mut queue);
            };
            self.references.for_each(id, |edge| follow(edge, false));
            self.bound.for_each(id, |edge| follow(edge, true));
        }
        let mut path = Vec::new();
        let mut at = Some(found?);
        while let Some((id, reach)) = at {
            let via = seen[index(id, reach)]?;
            path.push((id, via.reason));
            at = via.from;
        }
        path.reverse();
        Some(path)
    }
}

impl<'g, T, N, K, S> ResidentCollection<'g, T, N, K, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// Why `node` is live: a path from a root to it, root first, each step
    /// saying how it is reached, as
    /// [`Collection::why_live`](crate::Collection::why_live) gives. `None`
    /// if the node is not live.
    ///
    /// Searched when asked (a walk over the graph, breadth first: a
    /// shortest path), so it needs no [`Options::explain`](crate::Options::explain).
    /// In a collection alongside writers ([`SharedGraph`]), a node that
    /// changes during the collection kept (named by a writer's addition,
    /// or reached by the long part through something removed since) and
    /// that no root reaches in the graph as it now is has a path of one
    /// step: [`RootKind::Written`].
    pub fn why_live(&self, node: &Node<T, N, K>) -> Option<Vec<Step<'g, Node<T, N, K>>>> {
        let graph = self.graph;
        let id = graph.find(node)?;
        if !graph.marker.is_live(id) {
            return None;
        }
        let path = graph
            .path_to(id, self.now, self.grace_period)
            .unwrap_or_else(|| vec![(id, Reason::Root(RootKind::Written))]);
        let steps = path.into_iter().map(|(id, reason)| Step {
            node: &graph.nodes[id as usize],
            reason,
        });
        Some(steps.collect())
    }
}
