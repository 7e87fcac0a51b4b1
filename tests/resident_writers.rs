//! A resident graph collected while writers write (`SharedGraph`): threads
//! change a model store and report each change in two steps around the
//! store's commit, while a collector marks beside them and finishes inside
//! the store's lock. Inside that lock, every node the collection hands out
//! must be garbage in the store as it is: never a live node.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use resource_gc::{
    Changes, CollectionContext, Graph, Node, NodeSinkOf, Options, ReferenceSinkOf, SharedGraph,
    Strength,
};

type Res = Node<u8, (), u32>;

fn node(key: u32) -> Res {
    Node::new(0, (), key)
}

/// Nodes with their strong references, and roots.
#[derive(Clone, Debug, Default)]
struct Store {
    nodes: BTreeMap<u32, Vec<u32>>,
    roots: BTreeSet<u32>,
}

impl Store {
    fn live(&self) -> BTreeSet<u32> {
        let mut live = BTreeSet::new();
        let mut stack: Vec<u32> = self.roots.iter().copied().collect();
        while let Some(at) = stack.pop() {
            if live.insert(at) {
                stack.extend(self.nodes.get(&at).into_iter().flatten().copied());
            }
        }
        live
    }
}

impl CollectionContext for Store {
    type Kind = u8;
    type Namespace = ();
    type Key = u32;
    type Error = Infallible;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Infallible> {
        self.nodes.keys().for_each(|&key| nodes.push(&node(key)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Infallible> {
        self.roots.iter().for_each(|&key| roots.strong(&node(key)));
        Ok(())
    }

    fn references(
        &mut self,
        at: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Infallible> {
        for &to in self.nodes.get(&at.key).into_iter().flatten() {
            refs.strong(&node(to));
        }
        Ok(())
    }
}

/// A small deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

/// One writer transaction: changes the store under its lock and stages
/// the same changes; prepare before the store "commits" (inside the lock),
/// commit after.
fn write(store: &Mutex<Store>, graph: &SharedGraph<u8, (), u32>, rng: &mut Rng, keys: u32) {
    let mut changes = Changes::new();
    let mut guard = store.lock().unwrap();
    let next = guard.clone();
    let mut next = next;
    for _ in 0..1 + rng.below(3) {
        let (a, b) = (rng.below(keys), rng.below(keys));
        match rng.below(7) {
            0 => {
                // A node, written with a reference from a live one (a
                // push reusing what exists).
                if next.nodes.contains_key(&a) {
                    continue;
                }
                next.nodes.insert(a, Vec::new());
                changes.add_node(node(a));
                let live: Vec<u32> = next.live().into_iter().collect();
                if !live.is_empty() {
                    let from = live[rng.below(live.len() as u32) as usize];
                    if from != a && next.nodes.contains_key(&from) {
                        next.nodes.get_mut(&from).unwrap().push(a);
                        changes.add_reference(node(from), node(a), Strength::Strong);
                    }
                }
            }
            1 | 2 => {
                // A reference between two nodes that exist.
                if next.nodes.contains_key(&a) && next.nodes.contains_key(&b) {
                    next.nodes.get_mut(&a).unwrap().push(b);
                    changes.add_reference(node(a), node(b), Strength::Strong);
                }
            }
            3 => {
                if let Some(refs) = next.nodes.get_mut(&a) {
                    if let Some(to) = refs.pop() {
                        changes.remove_reference(node(a), node(to), Strength::Strong);
                    }
                }
            }
            4 => {
                if next.nodes.contains_key(&a) && next.roots.insert(a) {
                    changes.add_root(node(a), Strength::Strong);
                }
            }
            5 => {
                if next.roots.remove(&a) {
                    changes.remove_root(node(a), Strength::Strong);
                }
            }
            _ => {
                // The store removes a node it does not root (its own
                // cleanup): references to it dangle.
                if !next.roots.contains(&a) && next.nodes.remove(&a).is_some() {
                    changes.remove_node(node(a));
                }
            }
        }
    }
    let staged = graph.prepare(changes).unwrap();
    *guard = next;
    drop(guard);
    graph.commit(staged).unwrap();
}

fn stress(writers: usize, rounds: usize, keys: u32, seed: u64) -> (usize, usize) {
    let mut initial = Store::default();
    for key in 0..keys / 2 {
        initial
            .nodes
            .insert(key, if key > 0 { vec![key - 1] } else { vec![] });
    }
    initial.roots.insert(keys / 2 - 1);
    let graph = Graph::build(&mut initial.clone()).unwrap();
    let store = Arc::new(Mutex::new(initial));
    let shared = Arc::new(SharedGraph::new(graph));
    let stop = Arc::new(AtomicBool::new(false));
    let swept = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (store, shared, stop) =
                (Arc::clone(&store), Arc::clone(&shared), Arc::clone(&stop));
            let writes = Arc::clone(&writes);
            thread::spawn(move || {
                let mut rng = Rng(seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                while !stop.load(Ordering::Relaxed) {
                    write(&store, &shared, &mut rng, keys);
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut collections = 0;
    for round in 0..rounds {
        // Writers write between collections, and during them.
        while writes.load(Ordering::Relaxed) < round * 2 {
            thread::yield_now();
        }
        let marking = shared.mark(&Options::default());
        // The removal transaction: writers held out.
        let mut guard = store.lock().unwrap();
        let (garbage, _) = marking
            .finish(|collection| {
                let garbage: Vec<u32> = collection.garbage().map(|n| n.key).collect();
                // The counts are kept as the short part goes, not walked.
                assert_eq!(collection.garbage().len(), garbage.len());
                assert_eq!(collection.stats().nodes_swept, garbage.len());
                assert_eq!(collection.plan().len(), garbage.len());
                garbage
            })
            .unwrap();
        let live = guard.live();
        for key in &garbage {
            assert!(!live.contains(key), "swept live node {key} (seed {seed})");
        }
        let mut removal = Changes::new();
        for key in &garbage {
            guard.nodes.remove(key);
            removal.remove_node(node(*key));
        }
        // Reported inside the lock, as a writer would.
        shared.apply(removal).unwrap();
        drop(guard);
        swept.fetch_add(garbage.len(), Ordering::Relaxed);
        collections += 1;
    }
    stop.store(true, Ordering::Relaxed);
    handles.into_iter().for_each(|h| h.join().unwrap());
    // At rest, the graph is the store.
    let mut store = store.lock().unwrap().clone();
    let drift = shared.read().verify(&mut store).unwrap();
    assert!(drift.is_empty(), "{drift:?}");
    (collections, swept.load(Ordering::Relaxed))
}

#[test]
fn collections_beside_writers_sweep_nothing_live() {
    let mut swept = 0;
    for seed in 1..=4 {
        let (collections, swept_here) = stress(3, 200, 48, seed);
        assert_eq!(collections, 200);
        swept += swept_here;
    }
    // Not vacuous: what writers left unreachable was swept, beside them.
    assert!(swept > 0, "nothing swept");
}

/// A chain `0 → 1 → … → len-1` rooted at 0, as a store and its graph.
fn chain(len: u32) -> (Store, SharedGraph<u8, (), u32>) {
    let mut store = Store::default();
    for key in 0..len {
        let next = if key + 1 < len { vec![key + 1] } else { vec![] };
        store.nodes.insert(key, next);
    }
    store.roots.insert(0);
    let graph = Graph::build(&mut store.clone()).unwrap();
    (store, SharedGraph::new(graph))
}

#[test]
fn a_compaction_due_at_finish_is_counted_in_its_pause() {
    let (mut store, shared) = chain(20);
    // Queued during the long part: more added references than the base
    // holds plus the adjacency's slack (4,096), so the graph is due to
    // compact once they are applied.
    let marking = shared.mark(&Options::default());
    for from in 0..20 {
        for to in (0..210).map(|k| (from + 1 + k % 19) % 20) {
            store.nodes.get_mut(&from).unwrap().push(to);
            let mut changes = Changes::new();
            changes.add_reference(node(from), node(to), Strength::Strong);
            let staged = shared.prepare(changes).unwrap();
            shared.commit(staged).unwrap();
        }
    }
    let (swept, pause) = marking
        .finish(|collection| collection.garbage().count())
        .unwrap();
    assert_eq!(swept, 0);
    assert!(pause.compact > std::time::Duration::ZERO, "{pause:?}");
    assert!(
        pause.whole >= pause.apply + pause.mark + pause.compact,
        "{pause:?}"
    );
    let drift = shared.read().verify(&mut store.clone()).unwrap();
    assert!(drift.is_empty(), "{drift:?}");

    // Not due: no compaction, and none counted.
    let marking = shared.mark(&Options::default());
    let mut changes = Changes::new();
    changes.add_reference(node(1), node(2), Strength::Strong);
    store.nodes.get_mut(&1).unwrap().push(2);
    shared.apply(changes).unwrap();
    let (_, pause) = marking.finish(|_| ()).unwrap();
    assert_eq!(pause.compact, std::time::Duration::ZERO, "{pause:?}");
    let drift = shared.read().verify(&mut store).unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}

#[test]
fn why_live_in_a_short_part_names_the_writers_when_no_root_reaches_any_more() {
    use resource_gc::{Reason, RootKind};
    let (_, shared) = chain(3);
    let marking = shared.mark(&Options::default());
    // While the long part marks: the root goes, and a new root holds 5.
    let mut changes = Changes::new();
    changes
        .remove_root(node(0), Strength::Strong)
        .add_node(node(5))
        .add_root(node(5), Strength::Strong);
    let staged = shared.prepare(changes).unwrap();
    shared.commit(staged).unwrap();
    let ((chain_end, new), _) = marking
        .finish(|collection| {
            let path = |key| {
                collection.why_live(&node(key)).map(|steps| {
                    steps
                        .iter()
                        .map(|step| (step.node.key, step.reason))
                        .collect::<Vec<_>>()
                })
            };
            (path(2), path(5))
        })
        .unwrap();
    // The long part kept the chain; nothing reaches it in the graph now.
    assert_eq!(chain_end, Some(vec![(2, Reason::Root(RootKind::Written))]));
    assert_eq!(new, Some(vec![(5, Reason::Root(RootKind::Explicit))]));
    // The next collection sweeps the chain, and has nothing to say for it.
    let marking = shared.mark(&Options::default());
    let (answer, _) = marking
        .finish(|collection| {
            let why = collection.why_live(&node(2));
            (collection.garbage().count(), why.is_none())
        })
        .unwrap();
    assert_eq!(answer, (3, true));
}
