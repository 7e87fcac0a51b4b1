//! The scan path alongside writers: a collection in two parts over a
//! snapshot, writers reporting through the barrier, must never sweep what
//! is live when it finishes, and with no writes it answers as one part
//! does.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use common::oracle::oracle;
use common::{FourHashes, any_strength, proptest_config};
use proptest::prelude::*;
use resource_gc::{
    Barrier, Error, Node, Options, RootKind, ScanCollector, ScanContext, ScanRoots, ScanSink,
    Strength,
};

type Key = Node<u8, &'static str, u32>;

fn n(key: u32) -> Key {
    Node::new(1, "default", key)
}

/// Rows by key, each with its references, and the roots: the live store,
/// or a snapshot of it.
#[derive(Clone, Debug, Default)]
struct Store {
    rows: BTreeMap<u32, Vec<(u32, Strength)>>,
    roots: BTreeSet<u32>,
}

impl ScanContext for Store {
    type Kind = u8;
    type Namespace = &'static str;
    type Key = u32;
    type Error = Infallible;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, &'static str, u32>) -> Result<(), Infallible> {
        for (&key, refs) in &self.rows {
            let mut node = nodes.push(&n(key));
            for &(to, strength) in refs {
                node.add(&n(to), strength);
            }
        }
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, u8, &'static str, u32>,
    ) -> Result<(), Infallible> {
        for &key in &self.roots {
            roots.strong(&n(key));
        }
        Ok(())
    }
}

impl Store {
    /// The keys live in this store, by the oracle.
    fn live(&self) -> BTreeSet<u32> {
        let listed: Vec<u32> = self.rows.keys().copied().collect();
        let roots: Vec<(u32, Strength)> =
            self.roots.iter().map(|&r| (r, Strength::Strong)).collect();
        let edges: Vec<(u32, u32, Strength)> = self
            .rows
            .iter()
            .flat_map(|(&from, refs)| refs.iter().map(move |&(to, s)| (from, to, s)))
            .collect();
        oracle(&listed, &roots, &edges).live
    }

    /// The key at each place of a scan of this store.
    fn key_at(&self, place: u32) -> u32 {
        *self
            .rows
            .keys()
            .nth(place as usize)
            .expect("a place of the scan")
    }
}

/// A write, as a writer applies it to the live store, reporting by the
/// barrier's rule: the target of every reference added (not weak), every
/// root added. Keys are small, so a write may reuse a deleted key.
#[derive(Clone, Debug)]
enum Write {
    /// A node written (again), with references.
    Put(u32, Vec<(u32, Strength)>),
    /// A reference added to an existing node.
    Link(u32, u32, Strength),
    /// A reference removed.
    Unlink(u32, usize),
    Root(u32),
    Unroot(u32),
    Delete(u32),
}

fn apply(store: &mut Store, barrier: &Barrier<u8, &'static str, u32>, write: &Write) {
    let report = |to: u32, strength: Strength| {
        if strength != Strength::Weak {
            barrier.keep(&n(to));
        }
    };
    match write {
        Write::Put(key, refs) => {
            for &(to, strength) in refs {
                report(to, strength);
            }
            store.rows.insert(*key, refs.clone());
        }
        Write::Link(from, to, strength) => {
            if let Some(refs) = store.rows.get_mut(from) {
                refs.push((*to, *strength));
                report(*to, *strength);
            }
        }
        Write::Unlink(from, at) => {
            if let Some(refs) = store.rows.get_mut(from) {
                if *at < refs.len() {
                    refs.remove(*at);
                }
            }
        }
        Write::Root(key) => {
            store.roots.insert(*key);
            barrier.keep(&n(*key));
        }
        Write::Unroot(key) => {
            store.roots.remove(key);
        }
        Write::Delete(key) => {
            store.rows.remove(key);
        }
    }
}

fn any_write() -> impl Strategy<Value = Write> {
    let key = 0u32..12;
    prop_oneof![
        (
            key.clone(),
            prop::collection::vec((0u32..12, any_strength()), 0..3)
        )
            .prop_map(|(k, refs)| Write::Put(k, refs)),
        (key.clone(), 0u32..12, any_strength()).prop_map(|(a, b, s)| Write::Link(a, b, s)),
        (key.clone(), 0usize..3).prop_map(|(a, at)| Write::Unlink(a, at)),
        key.clone().prop_map(Write::Root),
        key.clone().prop_map(Write::Unroot),
        key.prop_map(Write::Delete),
    ]
}

fn any_store() -> impl Strategy<Value = Store> {
    (
        prop::collection::btree_map(
            0u32..12,
            prop::collection::vec((0u32..12, any_strength()), 0..3),
            0..12,
        ),
        prop::collection::btree_set(0u32..12, 0..3),
    )
        .prop_map(|(rows, roots)| Store { rows, roots })
}

/// A collection in two parts over `store` with `during_mark` written
/// during the long part and `before_finish` after it: nothing live at the
/// finish is swept, and the ordered garbage is the same set.
fn two_parts<S: std::hash::BuildHasher>(
    mut collector: ScanCollector<u8, &'static str, u32, S>,
    store: Store,
    during_mark: &[Write],
    before_finish: &[Write],
) -> Result<(), TestCaseError> {
    let mut live = store;
    let barrier = collector.barrier();
    // Under the writers' lock: start, and open the snapshot.
    let options = Options::default().sweep_order(resource_gc::SweepOrder::ReferrersFirst);
    let mut marking = collector.start(&options);
    let mut snapshot = live.clone();
    prop_assert!(barrier.is_collecting());
    // The long part, with writers writing before and after it reads.
    for write in during_mark {
        apply(&mut live, &barrier, write);
    }
    marking.mark(&mut snapshot).unwrap();
    for write in before_finish {
        apply(&mut live, &barrier, write);
    }
    // Under the lock again.
    let collection = marking.finish(&mut live.clone()).unwrap();
    let alive = live.live();
    let garbage: Vec<u32> = collection.garbage().collect();
    prop_assert_eq!(garbage.len(), collection.stats().nodes_swept);
    for &place in &garbage {
        prop_assert!(!collection.is_live(place));
        let key = snapshot.key_at(place);
        prop_assert!(
            !alive.contains(&key),
            "swept {} which is live: {:?}",
            key,
            live
        );
    }
    prop_assert!(!barrier.is_collecting());
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn what_is_live_at_the_finish_is_never_swept(
        store in any_store(),
        during_mark in prop::collection::vec(any_write(), 0..8),
        before_finish in prop::collection::vec(any_write(), 0..8),
    ) {
        two_parts(ScanCollector::new(), store, &during_mark, &before_finish)?;
    }

    #[test]
    fn nor_when_nearly_every_hash_collides(
        store in any_store(),
        during_mark in prop::collection::vec(any_write(), 0..8),
        before_finish in prop::collection::vec(any_write(), 0..8),
    ) {
        two_parts(ScanCollector::with_hasher(FourHashes), store, &during_mark, &before_finish)?;
    }

    #[test]
    fn with_no_writes_two_parts_answer_as_one(store in any_store()) {
        let mut snapshot = store;
        let mut collector = ScanCollector::new();
        let one: Vec<u32> = collector.collect(&mut snapshot).unwrap().garbage().collect();
        let mut marking = collector.start(&Options::default());
        marking.mark(&mut snapshot).unwrap();
        let two: Vec<u32> = marking.finish(&mut snapshot.clone()).unwrap().garbage().collect();
        prop_assert_eq!(one, two);
    }
}

#[test]
fn a_reused_key_reported_during_the_mark_is_kept_and_says_why() {
    // 1 is garbage in the snapshot; a writer links the root 0 to it.
    let mut live = Store::default();
    live.rows.insert(0, vec![]);
    live.rows.insert(1, vec![(2, Strength::Strong)]);
    live.rows.insert(2, vec![]);
    live.roots.insert(0);
    let mut collector = ScanCollector::new();
    let barrier = collector.barrier();
    let mut marking = collector.start(&Options::default());
    let mut snapshot = live.clone();
    marking.mark(&mut snapshot).unwrap();
    apply(&mut live, &barrier, &Write::Link(0, 1, Strength::Strong));
    let collection = marking.finish(&mut live).unwrap();
    assert_eq!(collection.garbage().count(), 0);
    assert_eq!(collection.stats().reported, 1);
    let why = collection.why_live(2).unwrap();
    assert_eq!(why[0], (1, resource_gc::Reason::Root(RootKind::Written)));
}

#[test]
fn dropping_a_marking_stops_the_reports_and_a_failure_poisons_it() {
    let mut collector = ScanCollector::<u8, &'static str, u32>::new();
    let barrier = collector.barrier();
    {
        let _marking = collector.start(&Options::default());
        assert!(barrier.is_collecting());
    }
    assert!(!barrier.is_collecting());
    let mut marking = collector.start(&Options::default().pin("tag"));
    let mut store = Store::default();
    assert!(matches!(
        marking.mark(&mut store),
        Err(Error::InvalidOptions { .. })
    ));
    assert!(matches!(marking.mark(&mut store), Err(Error::Poisoned)));
    assert!(matches!(marking.finish(&mut store), Err(Error::Poisoned)));
    assert!(!barrier.is_collecting());
}

/// A store whose checkpoint stands in for a writer that never stops: each
/// checkpoint reports a node, as `keep` from another thread would.
struct Busy {
    inner: Store,
    barrier: Barrier<u8, &'static str, u32>,
    calls: usize,
}

impl ScanContext for Busy {
    type Kind = u8;
    type Namespace = &'static str;
    type Key = u32;
    type Error = Infallible;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, &'static str, u32>) -> Result<(), Infallible> {
        self.inner.scan(nodes)
    }

    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, u8, &'static str, u32>,
    ) -> Result<(), Infallible> {
        self.inner.roots(roots)
    }

    fn checkpoint(&mut self, _: &resource_gc::Progress) -> resource_gc::Flow {
        self.calls += 1;
        self.barrier.keep(&n(0));
        if self.calls > 10_000 {
            resource_gc::Flow::Abort
        } else {
            resource_gc::Flow::Continue
        }
    }
}

#[test]
fn the_long_part_ends_while_writers_keep_reporting() {
    let mut store = Store::default();
    store.rows.insert(0, vec![]);
    let mut collector = ScanCollector::new();
    let barrier = collector.barrier();
    let mut marking = collector.start(&Options::default());
    let mut busy = Busy {
        inner: store.clone(),
        barrier,
        calls: 0,
    };
    marking.mark(&mut busy).unwrap();
    // Under the lock the writer is held out: its last report comes in.
    let collection = marking.finish(&mut store).unwrap();
    assert_eq!(collection.garbage().count(), 0);
}

/// A lease, node 0, listed and a root, holding blob 1 until `expires`.
struct Leased {
    expires: std::time::SystemTime,
}

impl ScanContext for Leased {
    type Kind = u8;
    type Namespace = &'static str;
    type Key = u32;
    type Error = Infallible;

    fn scan(&mut self, nodes: &mut ScanSink<'_, u8, &'static str, u32>) -> Result<(), Infallible> {
        nodes
            .push(&n(0))
            .expiring(&n(1), Strength::Strong, self.expires);
        nodes.push(&n(1));
        Ok(())
    }

    fn roots(
        &mut self,
        roots: &mut ScanRoots<'_, u8, &'static str, u32>,
    ) -> Result<(), Infallible> {
        roots.strong(&n(0));
        Ok(())
    }
}

#[test]
fn a_lease_renewed_during_the_mark_keeps_what_it_holds_when_only_the_lease_is_reported() {
    use std::time::{Duration, SystemTime};
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut collector = ScanCollector::new();
    let barrier = collector.barrier();
    let mut marking = collector.start(&Options::default().now(now));
    let mut snapshot = Leased {
        expires: now - Duration::from_secs(1),
    };
    marking.mark(&mut snapshot).unwrap();
    // The lease was expired in the snapshot; a writer renews it and
    // reports the lease alone.
    barrier.keep(&n(0));
    let mut live = Leased {
        expires: now + Duration::from_secs(3600),
    };
    let garbage: Vec<u32> = marking.finish(&mut live).unwrap().garbage().collect();
    assert!(
        garbage.is_empty(),
        "swept {garbage:?}: the renewed lease holds blob 1"
    );
}
