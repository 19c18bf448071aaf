//! Fuzz target of the score cache reader (harness shared with nas-spaces). `NAS_FUZZ_CASES` sets
//! the cases.
#![allow(clippy::unwrap_used)]

#[path = "../../nas-spaces/tests/fuzz/harness.rs"]
mod harness;

use harness::{Verdict, corpus_dir, fuzz, scratch};
use nas_kernels::cache::{HEADER, ScoreCache, ScoreRecord};

#[test]
fn fuzz_cache_file() {
    let path = scratch("scores.jsonl");
    let header = format!("{HEADER}\n");
    let tokens = [
        header.as_str(),
        "\n",
        "{",
        "}",
        "\"score\":",
        "\"nan\"",
        "\"inf\"",
        "\"-inf\"",
        "1e309",
        "-0.0",
        "5e-324",
        "18446744073709551615",
        "-1",
        "\"batch\":",
        "\"seed\":",
        "null",
        "\u{0}",
    ];
    let counter = std::cell::Cell::new(0u64);
    fuzz("cache_file", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "cache"), &tokens, harness::FILES, |b| {
        std::fs::write(&path, b).unwrap();
        match ScoreCache::open(&path) {
            Ok(mut cache) => {
                // Append-only: a new record goes after the bytes that were there, reads back exact.
                counter.set(counter.get() + 1);
                let score = f64::from_bits(0x4067_f4a0_e1c7_91b3 ^ counter.get());
                let before = cache.len();
                let r = ScoreRecord {
                    space: "fuzz".into(),
                    arch: format!("probe{}", counter.get()),
                    proxy: "naswot".into(),
                    images: "none".into(),
                    batch: 0,
                    seed: 0,
                    score,
                    seconds: 0.0,
                };
                cache.insert(&r).unwrap();
                drop(cache);
                let after = std::fs::read(&path).unwrap();
                assert!(after.starts_with(b), "the cache rewrote what it had");
                let again = ScoreCache::open(&path).unwrap();
                assert_eq!(again.get("fuzz", &r.arch, "naswot", "none", 0, 0).map(f64::to_bits), Some(score.to_bits()));
                assert!(again.len() >= before);
                Verdict::Accepted
            }
            Err(e) => {
                assert_eq!(std::fs::read(&path).unwrap(), b, "a refused file was changed");
                Verdict::Refused(e.to_string())
            }
        }
    });
}
