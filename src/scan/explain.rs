//! "Why is this still here?" on the scan path: a shortest path from a
//! root, searched when asked over the places and their references by the
//! mark's rules. The mark records nothing for it.

use super::{Held, ScanCollection, UNLISTED};
use crate::Reason;
use crate::mark::Reach;

/// Not yet reached by the search.
const UNSEEN: usize = usize::MAX;
/// Reached as a root.
const ROOT: usize = usize::MAX - 1;

/// A search state: a place and how it is reached. A place reached both
/// ways is two states, as the mark reads it fully once reached strongly.
fn state(place: u32, reach: Reach) -> usize {
    place as usize * 2 + usize::from(reach == Reach::Flat)
}

fn place_of(state: usize) -> u32 {
    (state / 2) as u32
}

fn reach_of(state: usize) -> Reach {
    if state % 2 == 0 {
        Reach::Strong
    } else {
        Reach::Flat
    }
}

impl ScanCollection<'_> {
    /// Why the node at `place` is live: a shortest path from a root to it,
    /// each step a place in the scan and how the step before reaches it
    /// (the first step is the root, [`Reason::Root`]). `None` if the node
    /// was swept, or `place` is past the scan.
    ///
    /// Searched when asked, breadth first over every root by the mark's
    /// rules (strong and flat reach, structure from a flat reach, groups
    /// of places that share a hash, [`Reason::SameHash`]): it costs a walk
    /// of what the roots reach and sixteen bytes per place, per call.
    pub fn why_live(&self, place: u32) -> Option<Vec<(u32, Reason)>> {
        if !self.is_live(place) {
            return None;
        }
        let scanned = self.scanned;
        let len = scanned.len();
        let mut parent = vec![UNSEEN; len * 2];
        let mut queue = std::collections::VecDeque::new();
        for held in self.held {
            let at = state(held.place, held.reach);
            if parent[at] == UNSEEN {
                parent[at] = ROOT;
                queue.push_back(at);
            }
        }
        let found = 'search: loop {
            let at = queue.pop_front()?;
            if place_of(at) == place {
                break 'search at;
            }
            let (from, reach) = (place_of(at), reach_of(at));
            let refs = scanned.starts[from as usize]..scanned.starts[from as usize + 1];
            let edges = scanned.targets[refs.clone()]
                .iter()
                .zip(&scanned.strengths[refs])
                .filter(|&(&target, _)| target != UNLISTED)
                .filter_map(|(&target, &strength)| Some(state(target, reach.through(strength?)?)));
            let next: Vec<usize> = edges
                .chain(scanned.mates(from).map(|m| state(m, reach)))
                .collect();
            for to in next {
                if parent[to] == UNSEEN {
                    parent[to] = at;
                    queue.push_back(to);
                }
            }
        };
        let mut path = Vec::new();
        let mut at = found;
        loop {
            let (to, reach) = (place_of(at), reach_of(at));
            let before = parent[at];
            if before == ROOT {
                let kind = self
                    .held
                    .iter()
                    .find(|held: &&Held| held.place == to && held.reach == reach)
                    .map(|held| held.kind)?;
                path.push((to, Reason::Root(kind)));
                break;
            }
            let from = place_of(before);
            path.push((to, self.reason(from, reach_of(before), to, reach)));
            at = before;
        }
        path.reverse();
        Some(path)
    }

    /// How `from`, reached `by`, reaches `to` with `reach`: a reference
    /// of the strength that does so, else their shared hash.
    fn reason(&self, from: u32, by: Reach, to: u32, reach: Reach) -> Reason {
        let scanned = self.scanned;
        let refs = scanned.starts[from as usize]..scanned.starts[from as usize + 1];
        scanned.targets[refs.clone()]
            .iter()
            .zip(&scanned.strengths[refs])
            .find_map(|(&target, &strength)| {
                let strength = strength?;
                (target == to && by.through(strength) == Some(reach)).then_some(strength)
            })
            .map_or(Reason::SameHash, Reason::Reference)
    }
}
