//! Every crate's modules form layers: no module reaches, through `crate::` paths, a module that
//! reaches it back (in the engine, the vocabulary `io` and `ids` sit under the app and the phone;
//! in `sim`, the shared WebRTC parts in `rtc` sit under both worlds). The sans-IO state machines
//! of `sim` (SimRtc's endpoint, the TURN relay, the media paths and loss models) name no runtime,
//! so the in-memory world, unit tests and a model checker can run them.

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

fn crate_src(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("src")
}

fn assert_layered(dir: &str, expected: &[&str]) {
    let edges = graph(&crate_src(dir));
    for module in expected {
        assert!(
            edges.contains_key(*module),
            "{dir}: no module {module} in {edges:?}"
        );
    }
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "{dir}: import circles: {found:?}\nthe graph: {edges:#?}"
    );
}

#[test]
fn no_module_of_the_engine_imports_one_that_imports_it() {
    assert_layered("engine", &["app", "io", "chat"]);
}

#[test]
fn no_module_of_the_simulation_imports_one_that_imports_it() {
    assert_layered("sim", &["rtc", "world", "memory", "trace", "paths"]);
}

#[test]
fn no_module_of_the_mocks_or_the_cli_imports_one_that_imports_it() {
    assert_layered("mocks", &["webrtc"]);
    assert_layered(".", &["bdd", "cli"]);
}

#[test]
fn the_sans_io_machines_name_no_runtime() {
    let src = crate_src("sim");
    for file in [
        "rtc/endpoint/mod.rs",
        "rtc/endpoint/wire.rs",
        "rtc/endpoint/tests.rs",
        "rtc/turn.rs",
        "rtc/real_turn.rs",
        "rtc/timers.rs",
        "rtc/receive.rs",
        "paths.rs",
        "loss.rs",
        "memory/rtc.rs",
    ] {
        let text = fs::read_to_string(src.join(file)).expect("reads a sans-IO module");
        for runtime in ["turmoil", "tokio", "async ", ".await"] {
            let named = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .any(|code| code.contains(runtime));
            assert!(
                !named,
                "sim/src/{file} names {runtime:?}: a sans-IO module must not"
            );
        }
    }
}
