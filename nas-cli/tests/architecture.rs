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
