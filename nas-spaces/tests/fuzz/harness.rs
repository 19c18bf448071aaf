//! The fuzz harness shared by the crates' `tests/fuzz.rs` (included with `#[path]`): proptest
//! generates inputs that are either a file of the target's seed corpus (`<crate>/tests/fuzz-corpus/
//! <target>/`) after a few random mutations (bit flips, byte edits, deletions, duplicated chunks,
//! splices with other corpus files, insertions of the format's tokens such as `inf`, `1e309`,
//! `-1`, separators and quotes) or plain random bytes, and runs the parser on each. The property:
//! it never panics, and every error is one line.
//!
//! Bounded and reproducible: `NAS_FUZZ_CASES` cases per target when set, else the target's own
//! default ([`FAST`] for parsers of strings and bytes, [`FILES`] for readers that go through a file);
//! all random choices from `NAS_FUZZ_SEED` (default 0) and the target's name. Each target prints its
//! number of executions.
#![allow(dead_code, clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Default cases of a target that parses in memory (about 30 us each).
pub const FAST: u32 = 20_000;
/// Default cases of a target that writes each input to a file and reads it (a few ms each).
pub const FILES: u32 = 1_500;
/// Largest input handed to a parser.
pub const MAX_INPUT: usize = 1 << 16;

/// What a parser said about one input.
pub enum Verdict {
    Accepted,
    /// Refused with this message.
    Refused(String),
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Verdict {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(_) => Verdict::Accepted,
            Err(e) => Verdict::Refused(e.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Delete(Index, u8),
    Duplicate(Index, u8),
    InsertToken(Index, Index),
    ReplaceWithToken(Index, u8, Index),
    Truncate(Index),
    Splice(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), 1u8..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        3 => (any::<Index>(), 1u8..12, any::<Index>()).prop_map(|(i, n, t)| Mutation::ReplaceWithToken(i, n, t)),
        1 => (any::<Index>()).prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(c, a, b)| Mutation::Splice(c, a, b)),
    ]
}

fn apply(mut v: Vec<u8>, muts: &[Mutation], tokens: &[Vec<u8>], corpus: &[Vec<u8>]) -> Vec<u8> {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    for m in muts {
        let len = v.len();
        match m {
            Mutation::FlipBit(i, b) if len > 0 => v[at(i, len)] ^= 1 << b,
            Mutation::SetByte(i, b) if len > 0 => v[at(i, len)] = *b,
            Mutation::Delete(i, n) if len > 0 => {
                let a = at(i, len);
                v.drain(a..(a + *n as usize).min(len));
            }
            Mutation::Duplicate(i, n) if len > 0 => {
                let a = at(i, len);
                let chunk = v[a..(a + *n as usize).min(len)].to_vec();
                v.splice(a..a, chunk);
            }
            Mutation::InsertToken(i, t) if !tokens.is_empty() => {
                let a = at(i, len + 1);
                v.splice(a..a, tokens[t.index(tokens.len())].iter().copied());
            }
            Mutation::ReplaceWithToken(i, n, t) if !tokens.is_empty() => {
                let a = at(i, len + 1);
                v.splice(a..(a + *n as usize).min(len), tokens[t.index(tokens.len())].iter().copied());
            }
            Mutation::Truncate(i) => v.truncate(at(i, len + 1)),
            Mutation::Splice(c, a, b) if !corpus.is_empty() => {
                let other = &corpus[c.index(corpus.len())];
                let (from, to) = (at(a, other.len() + 1), at(b, len + 1));
                v.truncate(to);
                v.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
        v.truncate(MAX_INPUT);
    }
    v
}

/// The seed corpus of a target: every file of `dir`, sorted by name.
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "fuzz corpus {} is empty", dir.display());
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn cases(default: u32) -> u32 {
    std::env::var("NAS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seed_for(name: &str) -> [u8; 32] {
    let seed: u64 = std::env::var("NAS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = [0u8; 32];
    for (k, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(h.wrapping_add(k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    }
    out
}

/// Fuzzes `parse` with inputs grown from the corpus in `corpus_dir` and the format's `tokens`,
/// `default_cases` times unless `NAS_FUZZ_CASES` says otherwise. Panics (fails the test) on a panic
/// of the parser or an error message of more than one line.
pub fn fuzz<T: AsRef<[u8]>>(
    name: &str,
    corpus_dir: &Path,
    tokens: &[T],
    default_cases: u32,
    parse: impl Fn(&[u8]) -> Verdict,
) {
    let corpus = corpus(corpus_dir);
    let tokens: Vec<Vec<u8>> = tokens.iter().map(|t| t.as_ref().to_vec()).collect();
    let (c, t) = (corpus.clone(), tokens.clone());
    let mutated = (0..corpus.len(), proptest::collection::vec(mutation(), 0..8))
        .prop_map(move |(i, muts)| apply(c[i].clone(), &muts, &t, &c));
    let random = proptest::collection::vec(any::<u8>(), 0..512);
    let input = prop_oneof![6 => mutated, 1 => random];
    let config =
        Config { cases: cases(default_cases), failure_persistence: None, max_shrink_iters: 2000, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_for(name)));
    let (runs, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let result = runner.run(&input, |bytes| {
        runs.fetch_add(1, Ordering::Relaxed);
        match catch_unwind(AssertUnwindSafe(|| parse(&bytes))) {
            Err(_) => Err(TestCaseError::fail(format!("the parser panicked on {:?}", String::from_utf8_lossy(&bytes)))),
            Ok(Verdict::Accepted) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Verdict::Refused(m)) if m.contains('\n') || m.is_empty() => Err(TestCaseError::fail(format!(
                "an error that is not one line: {m:?}, on {:?}",
                String::from_utf8_lossy(&bytes)
            ))),
            Ok(Verdict::Refused(_)) => Ok(()),
        }
    });
    eprintln!(
        "fuzz {name}: {} executions ({} accepted) in {:.2} s",
        runs.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// A scratch file for parsers that read paths; `fuzz_file` writes each input there.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nas-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The corpus folder of `target` in the crate being tested.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir).join("tests/fuzz-corpus").join(target)
}
