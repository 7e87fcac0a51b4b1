//! `Collection::to_dot`: the DOT text of a fixed graph, read back with a
//! small parser for the statements it writes (no Graphviz needed): one
//! statement per node met, styled by its fate and root kind; one edge per
//! reference read again, styled by its strength; labels that come back as
//! the keys were, quotes, backslashes and line breaks included.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use resource_gc::{
    CollectError, CollectionContext, Collector, Error, Node, NodeSinkOf, Options, ReferenceSinkOf,
    Retention, Strength,
};

type Res = Node<&'static str, &'static str, String>;

fn node(kind: &'static str, key: &str) -> Res {
    Node::new(kind, "default", key.to_string())
}

const AWKWARD: &str = "say \"hi\"\\path\nnext\tline";

/// A small containerd-like store, with one node of every fate and one
/// reference of every kind:
///
/// - `image` (not listed, an explicit root) → `manifest`, structural;
/// - `manifest` → `layer`, strong; → `config`, weak; → `gone` (never
///   listed, never met), strong;
/// - `lease` (a lease root) → `snap-2`, flat; `snap-2` → `snap-1`,
///   structural; → `layer` expired;
/// - `old` (garbage) → `layer`, strong; → `history`, not retained;
/// - `child` lives with `manifest` (a back-reference); `AWKWARD`, garbage.
struct Store {
    now: SystemTime,
    fail: bool,
}

impl CollectionContext for Store {
    type Kind = &'static str;
    type Namespace = &'static str;
    type Key = String;
    type Error = Failure;

    fn all(&mut self, nodes: &mut NodeSinkOf<'_, Self>) -> Result<(), Failure> {
        for key in ["manifest", "layer", "config", "snap-2", "snap-1"] {
            nodes.push(&node("content", key));
        }
        nodes.push(&node("lease", "lease"));
        for key in ["old", "history", "child", AWKWARD] {
            nodes.push(&node("content", key));
        }
        nodes.lives_with(&node("content", "child"), &node("content", "manifest"));
        Ok(())
    }

    fn roots(&mut self, roots: &mut ReferenceSinkOf<'_, Self>) -> Result<(), Failure> {
        roots.strong(&node("image", "app:latest"));
        let later = roots.now() + Duration::from_secs(60);
        roots.expiring(&node("lease", "lease"), Strength::Strong, later);
        Ok(())
    }

    fn references(
        &mut self,
        from: &Res,
        refs: &mut ReferenceSinkOf<'_, Self>,
    ) -> Result<(), Failure> {
        if self.fail && from.key == "old" {
            return Err(Failure);
        }
        let earlier = self.now - Duration::from_secs(60);
        match (from.kind, from.key.as_str()) {
            ("image", _) => refs.structural(&node("content", "manifest")),
            (_, "manifest") => {
                refs.strong(&node("content", "layer"));
                refs.weak(&node("content", "config"));
                refs.strong(&node("content", "gone"));
            }
            ("lease", _) => {
                refs.flat(&node("content", "snap-2"));
                refs.expiring(&node("content", "layer"), Strength::Strong, earlier);
            }
            (_, "snap-2") => refs.structural(&node("content", "snap-1")),
            (_, "old") => {
                refs.strong(&node("content", "layer"));
                let mut rule = Retention::default();
                rule.keep_last = Some(0);
                refs.history([(&node("content", "history"), earlier)], &rule);
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the store failed on purpose")]
struct Failure;

/// One statement of the DOT text: a node or an edge, with its attributes,
/// quoted values unescaped.
#[derive(Debug)]
enum Statement {
    Node(String, HashMap<String, String>),
    Edge(String, String, HashMap<String, String>),
}

/// Reads the DOT the crate writes: a `digraph` whose statements are one a
/// line, `id [attrs];` or `a -> b [attrs];`, after the defaults.
fn parse(dot: &str) -> Vec<Statement> {
    let body = dot
        .strip_prefix("digraph collection {\n")
        .and_then(|rest| rest.strip_suffix("}\n"))
        .expect("one digraph");
    let mut statements = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        let statement = line.strip_suffix(';').expect("a statement ends with ;");
        let Some((head, attrs)) = statement.split_once(" [") else {
            assert_eq!(statement, "rankdir=LR", "a graph attribute");
            continue;
        };
        let attrs = attributes(attrs.strip_suffix(']').expect("attributes end with ]"));
        match head.split_once(" -> ") {
            Some((from, to)) => statements.push(Statement::Edge(from.into(), to.into(), attrs)),
            None if head == "node" || head == "edge" => {}
            None => statements.push(Statement::Node(head.into(), attrs)),
        }
    }
    statements
}

/// `key=value, key="quoted"` as a map, quoted values unescaped as
/// Graphviz reads them: `\"` a quote, `\\` a backslash, `\n` a line break.
fn attributes(text: &str) -> HashMap<String, String> {
    let mut attrs = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return attrs;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().expect("a quoted value ends") {
                    '"' => break,
                    '\\' => match chars.next().expect("an escape has a second character") {
                        'n' => value.push('\n'),
                        c @ ('"' | '\\') => value.push(c),
                        c => panic!("an escape Graphviz would read as a label escape: \\{c}"),
                    },
                    '\n' => panic!("a raw line break inside a quoted value"),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(chars.by_ref().take_while(|&c| c != ',' && c != ' '));
        }
        assert!(attrs.insert(key.trim().to_string(), value).is_none());
        // The separator after a quoted value.
        while chars.next_if(|&c| c == ',' || c == ' ').is_some() {}
    }
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn options(explain: bool) -> Options {
    let mut options = Options::default();
    options.now = Some(now());
    options.explain = explain;
    options
}

/// Nodes by label, and edges as `(from label, to label, attributes)`.
type Picture = (
    HashMap<String, HashMap<String, String>>,
    Vec<(String, String, HashMap<String, String>)>,
);

fn picture(explain: bool) -> Picture {
    let mut store = Store {
        now: now(),
        fail: false,
    };
    let mut gc = Collector::new();
    let collection = gc.collect_with(&mut store, &options(explain)).unwrap();
    let dot = collection.to_dot(&mut store).unwrap();
    let statements = parse(&dot);
    let mut label_of = HashMap::new();
    let mut nodes = HashMap::new();
    for statement in &statements {
        if let Statement::Node(id, attrs) = statement {
            let label = attrs["label"].clone();
            // The node's own name, without the lines about root or sweep.
            let name = label.split("\nroot").next().unwrap();
            let name = name.split("\nswept: ").next().unwrap().to_string();
            assert!(
                label_of.insert(id.clone(), name.clone()).is_none(),
                "{id} twice"
            );
            assert!(nodes.insert(name, attrs.clone()).is_none(), "{label} twice");
        }
    }
    let mut edges = Vec::new();
    for statement in statements {
        if let Statement::Edge(from, to, attrs) = statement {
            let (from, to) = (&label_of[&from], &label_of[&to]);
            edges.push((from.clone(), to.clone(), attrs));
        }
    }
    (nodes, edges)
}

/// The name `content/default/key` as a label shows it: other control
/// characters than a line break spelled out.
fn content(key: &str) -> String {
    format!("content/default/{}", key.replace('\t', "\\u{9}"))
}

#[test]
fn nodes_are_styled_by_fate_and_roots_by_kind() {
    let (nodes, _) = picture(true);
    let live = ["manifest", "layer", "snap-2", "snap-1", "child"];
    let swept = ["config", "old", "history", AWKWARD];
    assert_eq!(nodes.len(), live.len() + swept.len() + 3, "{nodes:#?}");
    let fill = |name: &str| nodes[name].get("fillcolor").cloned();
    for key in live {
        assert_eq!(fill(&content(key)).as_deref(), Some("#d5e8d4"), "{key}");
    }
    for key in swept {
        assert_eq!(fill(&content(key)).as_deref(), Some("#f8cecc"), "{key}");
    }
    for name in ["image/default/app:latest", &content("gone")] {
        assert_eq!(nodes[name]["style"], "rounded,dashed", "{name}: not listed");
    }
    assert_eq!(
        nodes["lease/default/lease"]["label"],
        "lease/default/lease\nroot: lease"
    );
    assert_eq!(
        nodes["image/default/app:latest"]["label"],
        "image/default/app:latest\nroot"
    );
    let roots: Vec<&String> = nodes
        .iter()
        .filter(|(_, attrs)| attrs.get("peripheries").map(String::as_str) == Some("2"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(roots.len(), 2, "{roots:?}");
    assert_eq!(
        nodes[&content("config")]["label"],
        format!("{}\nswept: weakly referenced", content("config"))
    );
    assert_eq!(
        nodes[&content("history")]["label"],
        format!("{}\nswept: unreachable", content("history")),
        "garbage `old` was not read by the mark"
    );
}

#[test]
fn edges_are_styled_by_strength() {
    let (_, edges) = picture(true);
    let style = |from: &str, to: &str| -> Vec<String> {
        edges
            .iter()
            .filter(|(f, t, _)| (f.as_str(), t.as_str()) == (from, to))
            .map(|(_, _, attrs)| {
                let mut attrs: Vec<String> =
                    attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                attrs.sort();
                attrs.join(" ")
            })
            .collect()
    };
    let manifest = content("manifest");
    assert_eq!(style("image/default/app:latest", &manifest), ["style=bold"]);
    assert_eq!(style(&manifest, &content("layer")), ["style=solid"]);
    assert_eq!(style(&manifest, &content("gone")), ["style=solid"]);
    assert_eq!(
        style(&manifest, &content("config")),
        ["color=#888888 style=dashed"]
    );
    assert_eq!(
        style("lease/default/lease", &content("snap-2")),
        ["style=dotted"]
    );
    assert_eq!(
        style("lease/default/lease", &content("layer")),
        ["color=#b85450 label=expired style=dashed"]
    );
    assert_eq!(
        style(&content("snap-2"), &content("snap-1")),
        ["style=bold"]
    );
    assert_eq!(
        style(&content("old"), &content("history")),
        ["color=#888888 label=rank 0 style=dashed"],
        "a garbage node's references are read again for the picture"
    );
    assert_eq!(
        style(&manifest, &content("child")),
        ["arrowhead=empty style=bold"],
        "a back-reference, from parent to child"
    );
    assert_eq!(edges.len(), 10, "{edges:#?}");
}

#[test]
fn labels_come_back_as_the_keys_were() {
    let (nodes, _) = picture(true);
    let awkward = "content/default/say \"hi\"\\path\nnext\\u{9}line";
    assert_eq!(
        nodes[awkward]["label"],
        format!("{awkward}\nswept: unreachable"),
        "quotes, backslashes and line breaks as they were, a tab spelled out"
    );
}

#[test]
fn the_escaping_is_exact() {
    let mut store = Store {
        now: now(),
        fail: false,
    };
    let mut gc = Collector::new();
    let collection = gc.collect_with(&mut store, &options(false)).unwrap();
    let dot = collection.to_dot(&mut store).unwrap();
    let expected = r#"label="content/default/say \"hi\"\\path\nnext\\u{9}line""#;
    assert!(dot.contains(expected), "{dot}");
    assert_eq!(
        dot.lines().count(),
        dot.split('\n').count() - 1,
        "one statement a line"
    );
}

#[test]
fn without_explain_roots_are_not_marked() {
    let (nodes, edges) = picture(false);
    for (name, attrs) in &nodes {
        assert!(!attrs.contains_key("peripheries"), "{name}");
        assert!(!attrs["label"].contains("root"), "{name}");
        assert!(!attrs["label"].contains("swept:"), "{name}");
    }
    assert_eq!(edges.len(), 10, "the same references");
}

#[test]
fn a_failing_store_fails_the_picture() {
    let mut store = Store {
        now: now(),
        fail: false,
    };
    let mut gc = Collector::new();
    let collection = gc.collect_with(&mut store, &options(true)).unwrap();
    store.fail = true;
    let error: CollectError<Store> = collection.to_dot(&mut store).unwrap_err();
    let Error::References { node, .. } = error else {
        panic!("expected the store's error, got {error}");
    };
    assert_eq!(node, self::node("content", "old"));
}
