//! Numbers the embedder gives that size an allocation: a hint too large to
//! meet is dropped, a size too large to allocate is an error, and neither
//! aborts the process. The allocations are tried under a limited address
//! space: each test runs itself again in a child process under
//! `ulimit -v`, where the allocator refuses what the machine could fake.

mod common;

use std::process::Command;

use common::{MemStore, run};
use resource_gc::{
    CollectionContext, DenseCollector, DenseContext, DenseSink, Error, NodeSink, ReferenceSink,
};

/// The variable that tells a test it is the child under the limit.
const CHILD: &str = "RESOURCE_GC_LIMITED_CHILD";

/// Runs the test `name` again in a child process with at most 1 GiB of
/// address space, and says whether it passed. In the child, `true`.
fn under_limited_address_space(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let me = std::env::current_exe().expect("the test binary");
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ulimit -v 1048576 && exec "$0" --exact "$1" --test-threads 1 --nocapture"#)
        .arg(me)
        .arg(name)
        .env(CHILD, "1")
        .status()
        .expect("a shell");
    assert!(status.success(), "{name} under ulimit -v: {status}");
    false
}

/// One node, and a hint of `u32::MAX` more.
struct Boastful(MemStore);

impl CollectionContext for Boastful {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = common::StoreError;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), Self::Error> {
        nodes.reserve(u32::MAX as usize);
        nodes.reserve(usize::MAX);
        self.0.all(nodes)
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), Self::Error> {
        self.0.roots(roots)
    }

    fn references(
        &mut self,
        node: &common::TestNode,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), Self::Error> {
        self.0.references(node, refs)
    }
}

#[test]
fn a_reserve_hint_the_allocator_cannot_meet_is_dropped() {
    if !under_limited_address_space("a_reserve_hint_the_allocator_cannot_meet_is_dropped") {
        return;
    }
    let mut store = MemStore::with_nodes(3);
    store.root(0, resource_gc::Strength::Strong);
    let mut boastful = Boastful(store.clone());
    let mut gc = resource_gc::Collector::new();
    let result = gc.collect(&mut boastful).expect("a hint is only a hint");
    let garbage: Vec<u32> = result.garbage().map(|node| node.key).collect();
    assert_eq!(garbage, [1, 2]);
    assert_eq!(run(&mut store).1, garbage);
}

/// As many ids as `u32` has: two bits each is 1 GiB of colours.
struct Huge;

impl DenseContext for Huge {
    type Error = std::convert::Infallible;

    fn node_count(&self) -> u32 {
        u32::MAX
    }

    fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Self::Error> {
        roots.strong(0);
        Ok(())
    }

    fn references(&mut self, _: u32, _: &mut DenseSink<'_>) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn a_dense_node_count_too_large_to_allocate_is_an_error() {
    if !under_limited_address_space("a_dense_node_count_too_large_to_allocate_is_an_error") {
        return;
    }
    let mut gc = DenseCollector::new();
    let err = gc.collect(&mut Huge).unwrap_err();
    assert!(
        matches!(err, Error::OutOfMemory { bytes } if bytes >= 1 << 30),
        "{err}"
    );
    assert!(err.to_string().starts_with("could not allocate"));
    // Nothing is kept from the failed attempt: a small store works.
    struct Small;
    impl DenseContext for Small {
        type Error = std::convert::Infallible;
        fn node_count(&self) -> u32 {
            2
        }
        fn roots(&mut self, roots: &mut DenseSink<'_>) -> Result<(), Self::Error> {
            roots.strong(1);
            Ok(())
        }
        fn references(&mut self, _: u32, _: &mut DenseSink<'_>) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    let result = gc.collect(&mut Small).unwrap();
    assert_eq!(result.garbage().collect::<Vec<_>>(), [0]);
}
