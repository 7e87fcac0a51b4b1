//! The naive oracle the property tests compare the crate with, computed as
//! a least fixpoint over two sets of keys, not as a mark:
//!
//! - `S`, reached strongly: strong and structural roots; the target of a
//!   strong or structural reference from a node in `S`.
//! - `F`, reached flat: flat roots; the target of a flat reference from a
//!   node in `S`; the target of a structural reference from a node in `F`.
//!
//! Weak references keep nothing. A back-reference `(child, parent,
//! strength)` is a reference `parent → child` of that strength. A node is
//! live iff it is in `S ∪ F`; `references` is read once for each: fully
//! for `S`, for its structure only for `F \ S`.

use std::collections::{BTreeSet, HashSet};

use resource_gc::Strength;

/// What a collection must answer, computed the naive way.
#[derive(Debug, Default)]
pub struct Expected {
    /// Every key reached strongly or flat, listed or not: `S ∪ F`. These
    /// are also exactly the keys whose references are read, once each.
    pub live: BTreeSet<u32>,
    /// `S`: the keys reached strongly, whose references are all followed.
    pub strong: BTreeSet<u32>,
    /// `F \ S`: the keys reached flat only, whose structure (structural
    /// references and back-references) alone is followed.
    pub flat_only: BTreeSet<u32>,
    /// Listed keys that are not live, each once, in first-listing order.
    pub garbage: Vec<u32>,
    /// Listed keys that are live, each once, in first-listing order.
    pub live_listed: Vec<u32>,
    /// Distinct listed keys.
    pub nodes_listed: usize,
    /// Strong, flat and structural roots, duplicates included.
    pub roots: usize,
    /// References followed: strong, flat and structural ones from `S`,
    /// structural ones from `F \ S`, duplicates included.
    pub references_followed: usize,
    /// Weak roots, plus weak references read from `S`.
    pub weak_references: usize,
    /// References followed whose target was not listed.
    pub dead_edges: usize,
    /// Distinct back-references followed, by the same rule.
    pub back_references: usize,
}

/// Whether a reference of `strength` from a node reached strongly
/// (`strongly`) or only flat is followed.
fn followed(strength: Strength, strongly: bool) -> bool {
    if strongly {
        strength != Strength::Weak
    } else {
        strength == Strength::Structural
    }
}

/// The oracle's answer for a listing (in order, duplicates allowed), roots
/// and edges `(from, to, strength)`.
pub fn oracle(
    listed: &[u32],
    roots: &[(u32, Strength)],
    edges: &[(u32, u32, Strength)],
) -> Expected {
    oracle_with_back_references(listed, roots, edges, &[])
}

/// As [`oracle`], with back-references `(child, parent, strength)`.
pub fn oracle_with_back_references(
    listed: &[u32],
    roots: &[(u32, Strength)],
    edges: &[(u32, u32, Strength)],
    back_references: &[(u32, u32, Strength)],
) -> Expected {
    use Strength::{Flat, Strong, Structural, Weak};
    let strong_or_structural = |s: Strength| s == Strong || s == Structural;
    let mut s: BTreeSet<u32> = BTreeSet::new();
    let mut f: BTreeSet<u32> = BTreeSet::new();
    for &(key, strength) in roots {
        if strong_or_structural(strength) {
            s.insert(key);
        } else if strength == Flat {
            f.insert(key);
        }
    }
    // Every reference `from → to`: edges, and back-references turned round.
    let all: Vec<(u32, u32, Strength)> = edges
        .iter()
        .copied()
        .chain(back_references.iter().map(|&(c, p, st)| (p, c, st)))
        .collect();
    loop {
        let before = (s.len(), f.len());
        for &(from, to, strength) in &all {
            if s.contains(&from) && strong_or_structural(strength) {
                s.insert(to);
            }
            if s.contains(&from) && strength == Flat {
                f.insert(to);
            }
            if f.contains(&from) && strength == Structural {
                f.insert(to);
            }
        }
        if (s.len(), f.len()) == before {
            break;
        }
    }

    let listed_set: HashSet<u32> = listed.iter().copied().collect();
    let mut e = Expected {
        live: s.union(&f).copied().collect(),
        flat_only: f.difference(&s).copied().collect(),
        ..Expected::default()
    };
    for &(_, strength) in roots {
        if strength == Weak {
            e.weak_references += 1;
        } else {
            e.roots += 1;
        }
    }
    for &(from, to, strength) in edges {
        let strongly = s.contains(&from);
        if !e.live.contains(&from) {
            continue;
        }
        if strongly && strength == Weak {
            e.weak_references += 1;
        }
        if followed(strength, strongly) {
            e.references_followed += 1;
            e.dead_edges += usize::from(!listed_set.contains(&to));
        }
    }
    // Each distinct back-reference is followed once per expansion of its
    // parent.
    let mut counted = HashSet::new();
    for &(child, parent, strength) in back_references {
        if e.live.contains(&parent)
            && followed(strength, s.contains(&parent))
            && counted.insert((parent, child, strength))
        {
            e.back_references += 1;
        }
    }
    e.strong = s;

    let mut seen = HashSet::new();
    for &key in listed {
        if seen.insert(key) {
            if e.live.contains(&key) {
                e.live_listed.push(key);
            } else {
                e.garbage.push(key);
            }
        }
    }
    e.nodes_listed = seen.len();
    e
}
