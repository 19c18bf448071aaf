//! Tidy test: the crate layering and dependency owners stated in ARCHITECTURE.md hold in `cargo metadata`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn fenced_block<'a>(doc: &'a str, tag: &str) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let start = doc.find(&format!("```{tag}\n")).unwrap_or_else(|| panic!("ARCHITECTURE.md has no ```{tag} block"));
    let body = &doc[start + tag.len() + 4..];
    let body = &body[..body.find("```").expect("closed block")];
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once("->").expect("a `a -> b c` line");
            (k.trim(), v.split_whitespace().collect())
        })
        .collect()
}

#[test]
fn layering_and_owners_match_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let allowed = fenced_block(&doc, "deps");
    let owners = fenced_block(&doc, "owners");

    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(members, allowed.keys().copied().collect(), "ARCHITECTURE.md lists exactly the workspace crates");

    for p in packages {
        let name = p["name"].as_str().unwrap();
        for dep in p["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let dev = dep["kind"].as_str() == Some("dev");
            if members.contains(dep_name) && !dev {
                assert!(allowed[name].contains(dep_name), "{name} must not depend on {dep_name} (ARCHITECTURE.md)");
            }
            if let Some(owner) = owners.get(dep_name) {
                assert!(owner.contains(name), "{dep_name} belongs to {owner:?}, not {name}");
            }
        }
    }
}

/// The binary only parses, calls and prints: its source holds no JSON trees, no string matched
/// against a space, strategy or method name, and no experiment code (ARCHITECTURE.md, nas-cli).
#[test]
fn the_binary_holds_no_experiment_logic() {
    let main = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    let code: String = main.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for banned in ["serde_json::Value", "json!", "Map<String", "Nb201Table", "SearchSpace", "ArchScorer", "for g in"] {
        assert!(!code.contains(banned), "src/main.rs uses {banned:?}: that belongs in the library");
    }
    for name in ["\"nb201\"", "\"fbnet\"", "\"rea\"", "\"naswot\"", "\"mathnas\"", "\"exact\"", "\"cifar10\""] {
        assert!(!code.contains(name), "src/main.rs matches the name {name}: use the library's typed values");
    }
    assert!(
        code.lines().count() < 250,
        "src/main.rs grew to {} lines: move logic into the library",
        code.lines().count()
    );
    // The library's command modules hand out typed reports, not JSON trees.
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("json!("), "{} builds JSON by hand", path.display());
        assert!(
            !text.contains("serde_json::Value") || path.ends_with("state.rs") || path.ends_with("search.rs"),
            "{} passes serde_json::Value around",
            path.display()
        );
    }
}
