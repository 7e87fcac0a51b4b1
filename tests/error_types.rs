//! The embedder's error type: anything `Debug + Display + 'static` will do,
//! `anyhow::Error` and `Box<dyn std::error::Error + Send + Sync>` included,
//! neither of which is a `std::error::Error`. A failure still sweeps
//! nothing, the embedder's error comes back whole (its message, its chain),
//! and an error type that is a `std::error::Error` is still the crate
//! error's `source()`.

use std::error::Error as StdError;
use std::fmt::{self, Debug, Display};
use std::sync::Mutex;

use anyhow::anyhow;
use resource_gc::{
    CollectError, CollectionContext, Collector, DenseCollector, DenseContext, DenseSink, Error,
    Node, NodeSink, Options, ReferenceSink, SharedContext, Source, SourceError, Sources,
};

type Res = Node<u8, u8, u32>;

fn n(key: u32) -> Res {
    Node::new(1, 0, key)
}

/// An embedder's typed error, a `std::error::Error`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("row {0} is corrupt")]
struct Corrupt(u32);

/// Roots {0}; 0 → 1 → 2; 3 is garbage. Reading the references of
/// `fail_at` fails with `error(fail_at)`.
struct Store<E> {
    fail_at: Option<u32>,
    error: fn(u32) -> E,
    /// Whose references were read, in order.
    read: Mutex<Vec<u32>>,
}

impl<E> Store<E> {
    fn new(fail_at: Option<u32>, error: fn(u32) -> E) -> Self {
        Store {
            fail_at,
            error,
            read: Mutex::default(),
        }
    }

    fn read(&self) -> Vec<u32> {
        self.read.lock().unwrap().clone()
    }
}

impl<E: Debug + Display + 'static> CollectionContext for Store<E> {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = E;

    fn all(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), E> {
        (0..4).for_each(|key| nodes.push(&n(key)));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), E> {
        roots.strong(&n(0));
        Ok(())
    }

    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), E> {
        self.references_shared(node, refs)
    }
}

// `collect_parallel` also wants `E: Send`, which it checks itself.
impl<E: Debug + Display + 'static> SharedContext for Store<E> {
    fn references_shared(
        &self,
        node: &Res,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), E> {
        self.read.lock().unwrap().push(node.key);
        if self.fail_at == Some(node.key) {
            return Err((self.error)(node.key));
        }
        if node.key < 2 {
            refs.strong(&n(node.key + 1));
        }
        Ok(())
    }
}

/// Collects `store`, which must fail, and returns the error.
fn fail<E: Debug + Display + 'static>(store: &mut Store<E>) -> CollectError<Store<E>> {
    match Collector::new().collect(store) {
        Ok(collection) => panic!(
            "the collection must fail, but swept {:?}",
            collection.garbage().collect::<Vec<_>>()
        ),
        Err(err) => err,
    }
}

/// The error an anyhow embedder makes: its typed error, with context.
fn anyhow_error(key: u32) -> anyhow::Error {
    anyhow::Error::new(Corrupt(key)).context(format!("reading the row of {key}"))
}

/// What an anyhow embedder writes to turn the crate's error into its own,
/// chain kept.
fn to_anyhow<R: Debug>(err: Error<anyhow::Error, R>) -> anyhow::Error {
    let what = err.to_string();
    match err.into_source() {
        Some(source) => source.context(what),
        None => anyhow::Error::msg(what),
    }
}

#[test]
fn the_store_sweeps_3_when_nothing_fails() {
    // The failing tests below would pass vacuously if there were nothing
    // to sweep.
    let mut store = Store::new(None, anyhow_error);
    let mut collector = Collector::new();
    let collection = collector.collect(&mut store).unwrap();
    assert_eq!(collection.garbage().collect::<Vec<_>>(), [&n(3)]);
    assert_eq!(store.read(), [0, 1, 2]);
}

#[test]
fn an_anyhow_error_in_references_is_a_references_error_with_the_error_whole() {
    let mut store = Store::new(Some(1), anyhow_error);
    let err = fail(&mut store);
    assert_eq!(store.read(), [0, 1], "marking stops at the failure");
    let Error::References { node, source } = &err else {
        panic!("expected a references error, got {err:?}");
    };
    assert_eq!(*node, n(1));
    assert_eq!(source.to_string(), "reading the row of 1");
    assert_eq!(
        format!("{source:#}"),
        "reading the row of 1: row 1 is corrupt"
    );
    assert_eq!(source.downcast_ref::<Corrupt>(), Some(&Corrupt(1)));
    assert_eq!(
        err.to_string(),
        format!("reading the references of {:?} failed", n(1))
    );
    // Debug shows the embedder's error too.
    assert!(format!("{err:?}").contains("row 1 is corrupt"), "{err:?}");
}

#[test]
fn an_anyhow_error_becomes_an_anyhow_error_with_the_whole_chain() {
    let err = to_anyhow(fail(&mut Store::new(Some(2), anyhow_error)));
    assert_eq!(
        format!("{err:#}"),
        format!(
            "reading the references of {:?} failed: reading the row of 2: row 2 is corrupt",
            n(2)
        )
    );
    assert_eq!(err.downcast_ref::<Corrupt>(), Some(&Corrupt(2)));
    assert_eq!(err.root_cause().to_string(), "row 2 is corrupt");
}

#[test]
fn an_anyhow_error_in_a_parallel_mark_is_a_references_error() {
    // `collect_parallel` needs the error `Send`: anyhow's is.
    let mut store = Store::new(Some(2), anyhow_error);
    let options = Options::default().mark_threads(2);
    let err = match Collector::new().collect_parallel(&mut store, &options) {
        Ok(collection) => panic!(
            "the collection must fail, but swept {:?}",
            collection.garbage().collect::<Vec<_>>()
        ),
        Err(err) => err,
    };
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(2)),
        "{err:?}"
    );
    assert_eq!(
        err.into_source().map(|source| format!("{source:#}")),
        Some("reading the row of 2: row 2 is corrupt".to_string())
    );
}

#[test]
fn an_error_without_the_embedders_has_no_source_to_take() {
    // Too many threads: refused before the store is asked anything.
    let mut store = Store::new(None, anyhow_error);
    let options = Options::default().mark_threads(1000);
    let Err(err) = Collector::new().collect_parallel(&mut store, &options) else {
        panic!("1000 threads must be refused");
    };
    assert!(matches!(err, Error::InvalidOptions { .. }), "{err:?}");
    let what = err.to_string();
    let err = to_anyhow(err);
    assert_eq!(format!("{err:#}"), what);
    assert!(store.read().is_empty());
}

type Boxed = Box<dyn StdError + Send + Sync>;

fn boxed_error(key: u32) -> Boxed {
    Box::new(Corrupt(key))
}

#[test]
fn a_boxed_error_in_references_is_a_references_error_with_the_error_whole() {
    let mut store = Store::new(Some(2), boxed_error);
    let err = fail(&mut store);
    assert_eq!(store.read(), [0, 1, 2]);
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(2)),
        "{err:?}"
    );
    let source = err.into_source().expect("a references error carries one");
    assert_eq!(source.to_string(), "row 2 is corrupt");
    assert_eq!(source.downcast_ref::<Corrupt>(), Some(&Corrupt(2)));
}

#[test]
fn a_boxed_error_in_a_parallel_mark_is_a_references_error() {
    let mut store = Store::new(Some(1), boxed_error);
    let options = Options::default().mark_threads(2);
    let Err(err) = Collector::new().collect_parallel(&mut store, &options) else {
        panic!("the collection must fail");
    };
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(1)),
        "{err:?}"
    );
}

#[test]
fn mapping_the_source_to_a_std_error_makes_the_error_a_std_error() {
    let err = fail(&mut Store::new(Some(1), anyhow_error)).map_source(std::io::Error::other);
    assert!(
        matches!(&err, Error::References { node, .. } if *node == n(1)),
        "{err:?}"
    );
    let source = err.source().expect("an io::Error is a std error");
    assert_eq!(source.to_string(), "reading the row of 1");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("the source is the io::Error mapped to");
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
}

#[test]
fn a_std_error_is_still_the_source() {
    fn std_error<T: StdError + Send + Sync + 'static>(_: &T) {}

    let err = fail(&mut Store::new(Some(1), Corrupt));
    std_error(&err);
    assert!(matches!(err, Error::References { .. }), "{err:?}");
    let source = err.source().expect("the store's error is the source");
    assert_eq!(source.downcast_ref::<Corrupt>(), Some(&Corrupt(1)));
    assert_eq!(err.into_source(), Some(Corrupt(1)));
}

/// A dense store of ids 0..3 whose roots cannot be read.
struct Dense;

impl DenseContext for Dense {
    type Error = Boxed;

    fn node_count(&self) -> u32 {
        3
    }
    fn roots(&mut self, _: &mut DenseSink<'_>) -> Result<(), Boxed> {
        Err("the root table is locked".into())
    }
    fn references(&mut self, _: u32, _: &mut DenseSink<'_>) -> Result<(), Boxed> {
        Ok(())
    }
}

#[test]
fn a_boxed_error_in_a_dense_store_is_a_roots_error() {
    let mut collector = DenseCollector::new();
    let Err(err) = collector.collect(&mut Dense) else {
        panic!("the collection must fail");
    };
    assert!(matches!(err, Error::Roots(_)), "{err:?}");
    assert_eq!(
        err.into_source().map(|source| source.to_string()),
        Some("the root table is locked".to_string())
    );
}

/// A source of one kind, whose start or references may fail with
/// `error(name)`.
struct Part<E> {
    name: &'static str,
    kind: [u8; 1],
    may_reference: Vec<u8>,
    fail_start: bool,
    fail_references_of: Option<Res>,
    nodes: Vec<Res>,
    roots: Vec<Res>,
    edges: Vec<(Res, Res)>,
    error: fn(&'static str) -> E,
}

fn k(kind: u8, key: u32) -> Res {
    Node::new(kind, 0, key)
}

/// Images: image 1 is a root, references content 1; image 2 is garbage.
/// Content: 1 → 2; 3 is garbage.
fn parts<E>(error: fn(&'static str) -> E) -> [Part<E>; 2] {
    let images = Part {
        name: "images",
        kind: [1],
        may_reference: vec![2],
        fail_start: false,
        fail_references_of: None,
        nodes: vec![k(1, 1), k(1, 2)],
        roots: vec![k(1, 1)],
        edges: vec![(k(1, 1), k(2, 1))],
        error,
    };
    let content = Part {
        name: "content",
        kind: [2],
        may_reference: vec![],
        fail_start: false,
        fail_references_of: None,
        nodes: vec![k(2, 1), k(2, 2), k(2, 3)],
        roots: vec![],
        edges: vec![(k(2, 1), k(2, 2))],
        error,
    };
    [images, content]
}

impl<E: Debug + Display + 'static> Source for Part<E> {
    type Kind = u8;
    type Namespace = u8;
    type Key = u32;
    type Error = E;

    fn name(&self) -> &str {
        self.name
    }
    fn kinds(&self) -> &[u8] {
        &self.kind
    }
    fn may_reference(&self) -> &[u8] {
        &self.may_reference
    }
    fn start(&mut self) -> Result<(), E> {
        if self.fail_start {
            return Err((self.error)(self.name));
        }
        Ok(())
    }
    fn list(&mut self, nodes: &mut NodeSink<'_, u8, u8, u32>) -> Result<(), E> {
        self.nodes.iter().for_each(|node| nodes.push(node));
        Ok(())
    }
    fn roots(&mut self, roots: &mut ReferenceSink<'_, u8, u8, u32>) -> Result<(), E> {
        self.roots.iter().for_each(|node| roots.strong(node));
        Ok(())
    }
    fn references(
        &mut self,
        node: &Res,
        refs: &mut ReferenceSink<'_, u8, u8, u32>,
    ) -> Result<(), E> {
        if self.fail_references_of.as_ref() == Some(node) {
            return Err((self.error)(self.name));
        }
        for (_, to) in self.edges.iter().filter(|(from, _)| from == node) {
            refs.strong(to);
        }
        Ok(())
    }
    fn remove(&mut self, node: &Res) -> Result<(), E> {
        self.nodes.retain(|n| n != node);
        Ok(())
    }
}

fn source_anyhow(name: &'static str) -> anyhow::Error {
    anyhow!("{name} is offline").context(format!("connecting to {name}"))
}

#[test]
fn the_sources_sweep_when_nothing_fails() {
    let mut sources = Sources::new(parts(source_anyhow)).unwrap();
    let mut collector = Collector::new();
    let collection = collector.collect(&mut sources).unwrap();
    assert_eq!(
        collection.garbage().collect::<Vec<_>>(),
        [&k(1, 2), &k(2, 3)]
    );
}

#[test]
fn an_anyhow_error_in_a_source_is_a_references_error_with_the_whole_chain() {
    let [images, mut content] = parts(source_anyhow);
    content.fail_references_of = Some(k(2, 1));
    let mut sources = Sources::new([images, content]).unwrap();
    let mut collector = Collector::new();
    let err = match collector.collect(&mut sources) {
        Ok(collection) => panic!(
            "the collection must fail, but swept {:?}",
            collection.garbage().collect::<Vec<_>>()
        ),
        Err(err) => err,
    };
    let Error::References { node, source } = &err else {
        panic!("expected a references error, got {err:?}");
    };
    assert_eq!(*node, k(2, 1));
    let SourceError::Failed { name, source } = source else {
        panic!("expected a failed source, got {source:?}");
    };
    assert_eq!(name, "content");
    assert_eq!(
        format!("{source:#}"),
        "connecting to content: content is offline"
    );

    // Into one anyhow error, each layer a link of the chain.
    let outer = err.to_string();
    let failed = err.into_source().expect("a references error carries one");
    let middle = failed.to_string();
    let err = failed
        .into_source()
        .expect("a failed source carries its error")
        .context(middle)
        .context(outer);
    let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
    assert_eq!(
        chain,
        [
            format!("reading the references of {:?} failed", k(2, 1)),
            "source \"content\" failed".to_string(),
            "connecting to content".to_string(),
            "content is offline".to_string(),
        ]
    );
}

#[test]
fn a_source_left_out_with_an_anyhow_error_keeps_it_readable() {
    let [images, mut content] = parts(source_anyhow);
    content.fail_start = true;
    let mut sources = Sources::new([images, content]).unwrap();
    let mut collector = Collector::new();
    let collection = collector.collect(&mut sources).unwrap();
    // Content is not listed; image 2 is still garbage.
    assert_eq!(collection.garbage().collect::<Vec<_>>(), [&k(1, 2)]);
    let left_out: Vec<(&str, String)> = sources
        .left_out()
        .map(|(name, error)| (name, format!("{error:#}")))
        .collect();
    assert_eq!(
        left_out,
        [(
            "content",
            "connecting to content: content is offline".to_string()
        )]
    );
}

#[test]
fn a_std_error_in_a_source_is_the_source_of_the_source_error() {
    fn std_error<T: StdError + Send + Sync + 'static>(_: &T) {}

    let [images, mut content] = parts(|name| Corrupt(name.len() as u32));
    content.fail_references_of = Some(k(2, 1));
    let mut sources = Sources::new([images, content]).unwrap();
    let mut collector = Collector::new();
    let Err(err) = collector.collect(&mut sources) else {
        panic!("the collection must fail");
    };
    std_error(&err);
    let failed = err
        .source()
        .expect("the source error is the source")
        .downcast_ref::<SourceError<Corrupt>>()
        .expect("of the source error's type");
    std_error(failed);
    let corrupt = failed
        .source()
        .expect("the source's error is the source of the source error")
        .downcast_ref::<Corrupt>();
    assert_eq!(corrupt, Some(&Corrupt("content".len() as u32)));
    let mapped = err
        .into_source()
        .expect("a references error carries one")
        .map_source(|corrupt| corrupt.0);
    assert!(
        matches!(&mapped, SourceError::Failed { name, source: 7 } if name == "content"),
        "{mapped:?}"
    );
    assert_eq!(mapped.into_source(), Some(7));
}

/// Compiles only if the crate error is a `std::error::Error` exactly when
/// the embedder's is: `Display` and `Debug` always.
#[test]
fn the_crate_errors_show_and_debug_whatever_the_embedders_error() {
    fn shows<T: Display + Debug + Send + Sync + 'static>() {}
    shows::<Error<anyhow::Error, Res>>();
    shows::<Error<Boxed, u32>>();
    shows::<SourceError<anyhow::Error>>();
    shows::<Error<SourceError<Boxed>, Res>>();

    struct Shown;
    impl Debug for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Shown")
        }
    }
    impl Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("shown")
        }
    }
    let err: Error<Shown, u32> = Error::References {
        node: 4,
        source: Shown,
    };
    assert_eq!(err.to_string(), "reading the references of 4 failed");
    assert_eq!(format!("{err:?}"), "References { node: 4, source: Shown }");
}
