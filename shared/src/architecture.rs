//! The shape of the code, checked on every `make test` (docs/architecture.md):
//! layers import only downward, sibling modules import each other in one direction
//! only, every module says what it owns, and files stay short enough to read whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Past this a file is split, unless its doc comment says why it reads better whole.
const MAX_LINES: usize = 600;
const WHOLE_MARKER: &str = "reads better whole";

struct SourceFile {
    /// Module path inside the crate, e.g. `["app", "api", "messages"]`; `mod.rs` and
    /// `lib.rs` name their directory's module.
    module: Vec<String>,
    is_mod_root: bool,
    path: PathBuf,
    text: String,
}

fn sources() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap_or(&path);
            let mut module: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            let is_mod_root = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
            if is_mod_root {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push(SourceFile {
                module,
                is_mod_root,
                path,
                text,
            });
        }
    }
    out
}

/// The code of a file without comments (doc links name modules without importing them).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first identifier of each top-level element of a `{a, b::c, d::{e}}` group.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && (c.is_alphanumeric() || c == '_') => {
                heads.push(ident_at(&s[i..]));
                start = false;
            }
            _ => {}
        }
    }
    heads
}

/// Every module path a file refers to, resolved to absolute paths (`crate::` dropped).
fn references(file: &SourceFile) -> BTreeSet<Vec<String>> {
    // What `super` means here: the parent of this module.
    let mut here = file.module.clone();
    here.pop();
    let mut out = BTreeSet::new();
    let code: String = code_lines(&file.text).collect::<Vec<_>>().join("\n");
    for (prefix, base) in [("crate::", Vec::new()), ("super::", here.clone())] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let preceded_by_path = at >= 2 && &rest[at - 2..at] == "::";
            let mut tail = &rest[at + prefix.len()..];
            rest = tail;
            if preceded_by_path && prefix == "super::" {
                continue; // the second `super` of `super::super::`, handled below
            }
            let mut path = base.clone();
            while let Some(t) = tail.strip_prefix("super::") {
                path.pop();
                tail = t;
            }
            if let Some(group) = tail.strip_prefix('{') {
                for head in group_heads(group) {
                    let mut p = path.clone();
                    p.push(head);
                    out.insert(p);
                }
                continue;
            }
            // Follow `a::b::c` while segments are lower-case (modules), stop at items.
            loop {
                let seg = ident_at(tail);
                if seg.is_empty() {
                    break;
                }
                path.push(seg.clone());
                match tail[seg.len()..].strip_prefix("::") {
                    Some(t) if seg.chars().next().is_some_and(|c| c.is_lowercase()) => tail = t,
                    _ => break,
                }
            }
            out.insert(path);
        }
    }
    out
}

/// The sibling module (child of `parent`) a path lands in, if any.
fn child_of<'a>(parent: &[String], path: &'a [String]) -> Option<&'a str> {
    (path.len() > parent.len() && path.starts_with(parent)).then(|| path[parent.len()].as_str())
}

/// Edges between the children of `parent`: `a -> b` when a file inside child `a`
/// refers to something inside child `b`. A module's own `mod.rs` is its namespace
/// (declarations and re-exports), not a sibling.
fn sibling_edges(files: &[SourceFile], parent: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| child_of(parent, &f.module).map(str::to_owned))
        .collect();
    for f in files {
        if f.is_mod_root && f.module == parent {
            continue;
        }
        let Some(from) = child_of(parent, &f.module) else {
            continue;
        };
        for r in references(f) {
            if let Some(to) = child_of(parent, &r) {
                if to != from && modules.contains(to) {
                    edges
                        .entry(from.to_owned())
                        .or_default()
                        .insert(to.to_owned());
                }
            }
        }
    }
    edges
}

/// Every cycle, once each: for each module, the shortest way back to itself.
fn find_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut seen: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    let mut cycles = Vec::new();
    for start in edges.keys() {
        // Breadth-first from `start`, remembering how each module was reached.
        let mut came_from: BTreeMap<String, String> = BTreeMap::new();
        let mut frontier = vec![start.clone()];
        let mut found = None;
        while found.is_none() && !frontier.is_empty() {
            let mut next_frontier = Vec::new();
            for node in &frontier {
                for next in edges.get(node).into_iter().flatten() {
                    if next == start {
                        found = Some(node.clone());
                        break;
                    }
                    if !came_from.contains_key(next) {
                        came_from.insert(next.clone(), node.clone());
                        next_frontier.push(next.clone());
                    }
                }
                if found.is_some() {
                    break;
                }
            }
            frontier = next_frontier;
        }
        let Some(mut last) = found else {
            continue;
        };
        let mut path = vec![start.clone()];
        let mut back = vec![last.clone()];
        while let Some(prev) = came_from.get(&last).filter(|p| *p != start) {
            back.push(prev.clone());
            last = prev.clone();
        }
        back.reverse();
        path.extend(back.into_iter().filter(|n| n != start));
        path.push(start.clone());
        if seen.insert(path.iter().cloned().collect()) {
            cycles.push(path);
        }
    }
    cycles
}

fn module_names(files: &[SourceFile]) -> BTreeSet<Vec<String>> {
    files
        .iter()
        .filter(|f| f.is_mod_root && !f.module.is_empty())
        .map(|f| f.module.clone())
        .collect()
}

#[test]
fn no_import_cycles_between_sibling_modules() {
    let files = sources();
    let mut parents = module_names(&files);
    parents.insert(Vec::new());
    let mut cycles = Vec::new();
    for parent in &parents {
        for c in find_cycles(&sibling_edges(&files, parent)) {
            cycles.push(format!("in {:?}: {}", parent.join("::"), c.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn layers_import_only_downward() {
    // Which top-level modules each layer may name.
    let allowed: &[(&str, &[&str])] = &[
        ("domain", &["domain"]),
        ("ports", &["ports", "domain"]),
        ("provider", &["provider", "ports", "domain", "tls"]),
        ("aws", &["aws", "ports", "domain", "tls"]),
        ("tls", &["tls"]),
    ];
    let mut wrong = Vec::new();
    for f in sources() {
        let Some(layer) = f.module.first() else {
            continue;
        };
        let refs = references(&f);
        if let Some((_, ok)) = allowed.iter().find(|(l, _)| l == layer) {
            for r in &refs {
                if let Some(top) = r.first() {
                    let is_layer = ["domain", "ports", "provider", "aws", "app", "tls"]
                        .contains(&top.as_str());
                    if is_layer && !ok.contains(&top.as_str()) {
                        wrong.push(format!("{} names {}", f.path.display(), r.join("::")));
                    }
                }
            }
        }
        // Use cases talk to ports; only the wiring names the AWS adapters.
        let wiring = [["app", "config"], ["app", "functions"]];
        if layer == "app" && !wiring.iter().any(|w| f.module == w) {
            for r in refs
                .iter()
                .filter(|r| r.first().map(String::as_str) == Some("aws"))
            {
                wrong.push(format!("{} names {}", f.path.display(), r.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

#[test]
fn files_stay_short_enough_to_read_whole() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|f| f.text.lines().count() > MAX_LINES)
        .filter(|f| {
            let doc: String = f
                .text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect();
            !doc.contains(WHOLE_MARKER)
        })
        .map(|f| format!("{} ({} lines)", f.path.display(), f.text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "split these, or say in the doc comment why each {WHOLE_MARKER}: {long:#?}"
    );
}

/// Where the channel kinds may be told apart by name: the kind's own rules and the one
/// send dispatch in `hsm-send`. Everywhere else asks the kind (`window`, `has_templates`,
/// `check_text`...), so SMS adds no `if kind == ...` across the code.
const KIND_DISPATCH: [&[&str]; 2] = [&["domain", "channel"], &["app", "outbound"]];

#[test]
fn channel_kinds_are_told_apart_only_by_their_rules_and_the_send_dispatch() {
    let named: Vec<String> = sources()
        .iter()
        .filter(|f| !KIND_DISPATCH.iter().any(|m| f.module == *m))
        .filter(|f| f.module != ["architecture"])
        .filter(|f| f.module.last().is_none_or(|m| m != "tests"))
        .filter(|f| {
            // Test modules inside a file come last: only the code before them counts.
            let code = f.text.split("#[cfg(test)]").next().unwrap_or_default();
            code_lines(code)
                .any(|l| l.contains("ChannelKind::Sms") || l.contains("ChannelKind::Whatsapp"))
        })
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(
        named.is_empty(),
        "these tell the channel kinds apart by name; ask the kind instead: {named:#?}"
    );
}

#[test]
fn every_module_says_what_it_owns() {
    let silent: Vec<String> = sources()
        .iter()
        .filter(|f| !f.text.starts_with("//!"))
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(
        silent.is_empty(),
        "modules without a //! doc comment: {silent:#?}"
    );
}

#[test]
fn the_checker_sees_a_cycle_and_a_grouped_import() {
    let file = |module: &[&str], text: &str| SourceFile {
        module: module.iter().map(|s| s.to_string()).collect(),
        is_mod_root: false,
        path: PathBuf::from(module.join("/")),
        text: text.into(),
    };
    let files = vec![
        file(
            &["app", "a"],
            "use super::{b::Thing, c};\n// use super::d;\n",
        ),
        file(&["app", "b"], "use crate::app::a::Other;\n"),
        file(&["app", "c"], "fn f() { super::super::domain::x(); }\n"),
    ];
    let edges = sibling_edges(&files, &["app".to_owned()]);
    assert_eq!(
        edges.get("a").cloned().unwrap_or_default(),
        BTreeSet::from(["b".to_owned(), "c".to_owned()])
    );
    assert_eq!(find_cycles(&edges), vec![vec!["a", "b", "a"]]);
    assert!(references(&files[2]).contains(&vec!["domain".to_owned(), "x".to_owned()]));
}
