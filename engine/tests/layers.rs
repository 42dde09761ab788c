//! The engine's modules form layers: no module reaches, through `crate::` paths, a module that
//! reaches it back. The vocabulary (`io`, `ids`) and the leaves (`error`, `call_state`) sit
//! under the app and the phone, never the other way round.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level module a source file belongs to (`app/manager.rs` -> `app`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("reads the source tree")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file names through `crate::` paths, outside comments. `crate::Error` is the
/// `error` module's type, re-exported at the root.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            match name.as_str() {
                "" => {}
                "Error" => {
                    found.insert("error".to_owned());
                }
                _ => {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// The module graph of a crate's `src`: each top-level module and those it uses.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(src, &file) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("reads a source file");
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(uses(&text).into_iter().filter(|m| *m != module));
    }
    edges
}

/// Every cycle's modules, found by a depth-first search from each module in name order.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            found.push(path[at..].to_vec());
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, found);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_module_of_the_engine_imports_one_that_imports_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    assert!(
        edges.contains_key("app") && edges.contains_key("io"),
        "{edges:?}"
    );
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "import circles: {found:?}\nthe graph: {edges:#?}"
    );
}

#[test]
fn the_cycle_finder_finds_a_circle_and_passes_a_layering() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            edges
                .entry((*from).into())
                .or_default()
                .insert((*to).into());
            edges.entry((*to).into()).or_default();
        }
        edges
    };
    let layered = graph(&[
        ("app", "io"),
        ("phone", "app"),
        ("phone", "io"),
        ("io", "ids"),
    ]);
    assert!(cycles(&layered).is_empty());
    let circle = graph(&[("app", "io"), ("io", "phone"), ("phone", "app")]);
    assert_eq!(cycles(&circle), [vec!["app", "io", "phone"]]);
    assert_eq!(
        uses("use crate::io::{Input};\n// crate::phone in a comment\nlet e = crate::Error::X;"),
        BTreeSet::from(["error".to_owned(), "io".to_owned()])
    );
}
