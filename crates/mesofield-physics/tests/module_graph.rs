//! The module graph of every crate in the workspace is free of import
//! circles: read from the source's `use` lines and `crate::` paths, the
//! modules under one parent depend on each other without a cycle. A child
//! naming its own ancestor (`super::Spec`, the parent's types) is the usual
//! Rust shape and is not an edge; so is any path to the crate root, whose
//! re-exports are a facade.
//!
//! The rule is on siblings: an edge a -> b is lifted to the two children of
//! a and b's lowest common ancestor that contain them, so a circle through
//! folders (`fts::lfts -> scft::descent -> fts::compressor`, a circle of
//! `fts` and `scft`) is caught as well as one between two files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`,
/// `lib.rs` and `main.rs` the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
        parts.clear();
    }
    parts
}

/// The source with comments and string literals blanked out.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn ident_at(b: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&b[start..i]).into_owned(), i)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Paths of a use tree at `i` (`a::b::{c, d::e}`), each with `prefix`.
fn use_tree(b: &[u8], i: usize, prefix: &Module, out: &mut Vec<Module>) -> usize {
    let mut path = prefix.clone();
    let mut i = skip_space(b, i);
    loop {
        if b.get(i) == Some(&b'{') {
            i += 1;
            loop {
                i = skip_space(b, i);
                if b.get(i) == Some(&b'}') {
                    return i + 1;
                }
                i = use_tree(b, i, &path, out);
                i = skip_space(b, i);
                if b.get(i) == Some(&b',') {
                    i += 1;
                }
                if i >= b.len() {
                    return i;
                }
            }
        }
        let (name, next) = ident_at(b, i);
        if name.is_empty() {
            out.push(path);
            return i;
        }
        path.push(name);
        i = skip_space(b, next);
        if b.get(i) == Some(&b':') && b.get(i + 1) == Some(&b':') {
            i = skip_space(b, i + 2);
        } else {
            out.push(path);
            return i;
        }
    }
}

/// Every module path a file names, absolute from the crate root: `crate::`
/// paths anywhere (use trees included), and use trees that start at
/// `self`, at a child declared in the file, or at `super` on a line of the
/// file's own level.
fn named_paths(module: &Module, code: &str) -> Vec<Module> {
    let b = code.as_bytes();
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            let rest = l.strip_prefix("mod ")?;
            rest.strip_suffix(';').map(|n| n.trim().to_string())
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':');
        if boundary && code[i..].starts_with("crate::") {
            i = use_tree(b, i + 7, &Vec::new(), &mut out);
            continue;
        }
        let at_line_start = i == 0 || b[i - 1] == b'\n';
        if at_line_start {
            let line_end = code[i..].find('\n').map_or(b.len(), |e| i + e);
            let line = &code[i..line_end];
            let use_at = line.strip_prefix("pub use ").map(|_| 8).or(line.strip_prefix("use ").map(|_| 4));
            if let Some(skip) = use_at {
                let (first, _) = ident_at(b, i + skip);
                let base: Option<Module> = match first.as_str() {
                    "self" => Some(module.clone()),
                    "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
                    name if children.contains(name) => Some(module.clone()),
                    _ => None,
                };
                if let Some(base) = base {
                    let start = if matches!(first.as_str(), "self" | "super") {
                        skip_space(b, i + skip + first.len() + 2)
                    } else {
                        i + skip
                    };
                    let mut found = Vec::new();
                    use_tree(b, start, &base, &mut found);
                    out.extend(found);
                }
            }
        }
        i += 1;
    }
    out
}

/// Lifts a -> b to the children of their lowest common ancestor; None when
/// one contains the other.
fn sibling_edge(a: &Module, b: &Module) -> Option<(Module, Module)> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if common == a.len() || common == b.len() {
        return None;
    }
    Some((a[..=common].to_vec(), b[..=common].to_vec()))
}

/// One cycle in `edges`, if any (depth-first search).
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|m| m == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// The sibling edges of one crate, each with the file that makes it.
fn crate_edges(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let module = module_of(src, file);
        if module.is_empty() {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for path in named_paths(&module, &code) {
            // The longest prefix that is a module file.
            let target = (1..=path.len()).rev().map(|k| path[..k].to_vec()).find(|p| modules.contains(p));
            let Some(target) = target else { continue };
            if let Some((a, b)) = sibling_edge(&module, &target) {
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    edges
}

#[test]
fn no_import_circles_in_any_crate() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(crates).unwrap().map(|e| e.unwrap().path().join("src")).collect();
    dirs.sort();
    let mut circles = Vec::new();
    for src in dirs.iter().filter(|d| d.is_dir()) {
        let edges = crate_edges(src);
        checked += 1;
        if let Some(cycle) = find_cycle(&edges) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            circles.push(format!("{}: {}", src.display(), names.join(" -> ")));
        }
    }
    assert!(checked >= 5, "found only {checked} crates under {}", crates.display());
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

/// The checker itself finds a circle between siblings and through folders,
/// and lets a child name its parent.
#[test]
fn the_checker_sees_circles() {
    let paths = |module: &str, code: &str| {
        let m: Module = module.split("::").map(String::from).collect();
        named_paths(&m, &code_only(code))
    };
    let p = paths(
        "fts::lfts",
        "use crate::{scft::free_energy, fields::{a, b}};\n// crate::hidden::x\nfn f() { crate::rng::StreamRng::new(); }",
    );
    let joined: Vec<String> = p.iter().map(|m| m.join("::")).collect();
    assert_eq!(joined, ["scft::free_energy", "fields::a", "fields::b", "rng::StreamRng::new"]);
    let child = paths("fig4::pool", "use super::Fig4Spec;\nuse super::rbms::{A, B};");
    assert_eq!(child[0], ["fig4", "Fig4Spec"]);
    assert_eq!(child[1], ["fig4", "rbms", "A"]);
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    assert_eq!(sibling_edge(&m("fig4::pool"), &m("fig4")), None);
    assert_eq!(sibling_edge(&m("fts::lfts"), &m("scft::descent")), Some((m("fts"), m("scft"))));
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    edges.entry(m("fts")).or_default().insert(m("scft"));
    edges.entry(m("scft")).or_default().insert(m("hamiltonian"));
    assert!(find_cycle(&edges).is_none());
    edges.entry(m("scft")).or_default().insert(m("fts"));
    assert_eq!(find_cycle(&edges).unwrap().len(), 3);
}
