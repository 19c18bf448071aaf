//! The same command with a cold and a warm score cache prints byte-identical JSON, timing fields
//! (`seconds`, `seconds_computed`, `solve_seconds`) and the `cached` flag aside: scores read back
//! from the cache are the bits that were computed.
#![allow(clippy::unwrap_used)]

mod common;
use common::{nas, scratch, stderr, stdout};

const IMAGES: &str = "images/cifar10_test_first846.bin";

/// The output with the values of timing keys (and `cached`) blanked.
fn untimed(text: &str) -> String {
    let mut out = text.to_string();
    for key in ["\"seconds\":", "\"seconds_computed\":", "\"solve_seconds\":", "\"cached\":"] {
        let mut from = 0;
        while let Some(i) = out[from..].find(key) {
            let start = from + i + key.len();
            let end = out[start..].find([',', '}']).map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "_");
            from = start;
        }
    }
    out
}

fn cold_then_warm(name: &str, args: &[&str]) {
    let dir = scratch(name);
    let cache = dir.join("scores.jsonl");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--cache", cache.to_str().unwrap(), "--json"]);
    let cold = nas(&all);
    assert!(cold.status.success(), "{args:?}: {}", stderr(&cold));
    let warm = nas(&all);
    assert!(warm.status.success(), "{args:?}: {}", stderr(&warm));
    assert_eq!(untimed(&stdout(&cold)), untimed(&stdout(&warm)), "{args:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cold_and_warm_caches_give_the_same_json() {
    let Some(data) = nas_spaces::data::for_tests(IMAGES) else { return };
    let img = data.file(IMAGES).unwrap();
    let img = img.to_str().unwrap();
    let scoring = ["--images", img, "--batch", "16"];
    cold_then_warm(
        "score",
        &[&["score", "--proxy", "naswot,synflow,snip", "--sample", "6", "--seed", "4"][..], &scoring[..]].concat(),
    );
    cold_then_warm("fbnet", &["mathnas", "--space", "fbnet", "--proxy", "params", "--max-mflops", "60"]);
    if !common::have_table() {
        return;
    }
    cold_then_warm(
        "correlate",
        &[&["correlate", "--proxy", "naswot,synflow", "--sample", "12"][..], &scoring[..]].concat(),
    );
    for strategy in ["naswot", "area"] {
        cold_then_warm(
            strategy,
            &[&["search", "--strategy", strategy, "--n", "5", "--runs", "2"][..], &scoring[..]].concat(),
        );
    }
}

#[test]
fn untimed_blanks_only_timing_values() {
    assert_eq!(
        untimed(r#"{"a":1.5,"seconds":0.25,"b":{"solve_seconds":3e-5},"cached":true}"#),
        r#"{"a":1.5,"seconds":_,"b":{"solve_seconds":_},"cached":_}"#
    );
}
