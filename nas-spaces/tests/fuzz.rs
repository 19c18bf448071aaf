//! Fuzz targets of the parsers of user input in this crate (harness: `fuzz/harness.rs`): NB201 and
//! FBNet architecture strings, the benchmark table, user tables, the HW-NAS-Bench layout and the
//! pickle interpreter. `NAS_FUZZ_CASES` sets the cases per target.
#![allow(clippy::unwrap_used)]

#[path = "fuzz/harness.rs"]
mod harness;

use harness::{Verdict, corpus_dir, fuzz, scratch};
use nas_core::SearchSpace;
use nas_spaces::{Dataset, FbnetSpace, HwNasBench, Nb201Space, Nb201Table, UserTable};

const NUMBERS: &[&str] = &[
    "inf",
    "-inf",
    "NaN",
    "nan",
    "1e309",
    "-1e309",
    "-1",
    "-0",
    "0",
    "1e-320",
    "18446744073709551615",
    "18446744073709551616",
    "15625",
    "15624",
    "-9223372036854775808",
    "",
    " ",
    "\"",
    "\"\"",
    ",",
    ",,",
    "\n",
    "\r\n",
    "\u{0}",
    "\u{feff}",
    "é",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses, and when it parses, checks that printing and parsing again gives the same genotype.
fn round_trip(space: &dyn SearchSpace, s: &str) -> Verdict {
    match space.parse(s) {
        Ok(g) => {
            let again = space.parse(&space.format(&g)).unwrap();
            assert_eq!(again, g, "{s:?} does not round-trip");
            space.to_network(&g).unwrap();
            Verdict::Accepted
        }
        Err(e) => Verdict::Refused(e.to_string()),
    }
}

#[test]
fn fuzz_nb201_arch() {
    let space = Nb201Space::default();
    let tokens = [
        "|",
        "+",
        "~",
        "~0",
        "~1",
        "~2",
        "~3",
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "|+|",
        "||",
    ];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("nb201_arch", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "nb201_arch"), &tokens, harness::FAST, |b| {
        let s = text(b);
        let _ = Nb201Space::parse_ops_code(&s).map(|g| assert_eq!(Nb201Space::ops_code(&g), s.trim()));
        round_trip(&space, &s)
    });
}

#[test]
fn fuzz_fbnet_arch() {
    let space = FbnetSpace::default();
    let tokens = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip", " ", "8", "9"];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("fbnet_arch", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "fbnet_arch"), &tokens, harness::FAST, |b| {
        let s = text(b);
        let _ = FbnetSpace::parse_idx(&s);
        round_trip(&space, &s)
    });
}

#[test]
fn fuzz_nb201_table() {
    let path = scratch("nb201_master.csv");
    let tokens = ["idx", "arch_str", "ops", "iso_rep_idx", "c10_test_acc", "|none~0|", "|+|", "421211"];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("nb201_table", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "nb201_table"), &tokens, harness::FILES, |b| {
        std::fs::write(&path, b).unwrap();
        match Nb201Table::from_csv(&path) {
            Ok(t) => {
                for name in t.column_names().map(str::to_string).collect::<Vec<_>>() {
                    assert!(t.column(&name).unwrap().iter().all(|v| v.is_finite() || v.is_nan()));
                }
                for i in 0..t.len() {
                    let g = t.genotype(i).unwrap();
                    assert_eq!(t.index_of(g), Some(i));
                    assert!(t.iso_rep(i).is_none_or(|r| r <= i));
                }
                let _ = t.top(Dataset::Cifar10, nas_spaces::Split::Test, nas_spaces::Epochs::E200, 3);
                Verdict::Accepted
            }
            Err(e) => Verdict::Refused(e.to_string()),
        }
    });
}

#[test]
fn fuzz_user_table() {
    let path = scratch("user_table.csv");
    let tokens = ["enc", "acc", "lat", "-", "0", "1", "2"];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("user_table", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "user_table"), &tokens, harness::FILES, |b| {
        std::fs::write(&path, b).unwrap();
        let mut verdict = Verdict::Refused("no separator worked".into());
        for sep in [None, Some("-")] {
            verdict = match UserTable::from_csv(&path, "enc", sep) {
                Ok(t) => {
                    for g in t.genotypes() {
                        assert_eq!(t.parse(&t.format(g)).ok().as_ref(), Some(g));
                    }
                    for col in ["acc", "lat", "enc"] {
                        if let Ok(v) = t.metric(col) {
                            assert!(v.iter().all(|x| x.is_finite()) && v.len() == t.len());
                        }
                    }
                    Verdict::Accepted
                }
                Err(e) => Verdict::Refused(e.to_string()),
            };
            if let Verdict::Refused(m) = &verdict {
                assert!(!m.contains('\n'), "{m:?}");
            }
        }
        verdict
    });
}

#[test]
fn fuzz_hw_nas_bench() {
    let path = scratch("hw_nas_bench.csv");
    let tokens = ["idx", "dataset", "cifar10", "cifar100", "ImageNet16-120", "cifar10-valid", "edgegpu_latency"];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("hw_nas_bench", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "hw_nas_bench"), &tokens, harness::FILES, |b| {
        std::fs::write(&path, b).unwrap();
        match HwNasBench::from_csv(&path) {
            Ok(hw) => {
                for d in hw.datasets().collect::<Vec<_>>() {
                    for m in hw.metrics() {
                        for (idx, v) in hw.rows(d, m).unwrap() {
                            assert!(idx < nas_spaces::nb201::SIZE);
                            assert!(v.is_none_or(|x| x.is_finite() && x >= 0.0));
                        }
                    }
                }
                Verdict::Accepted
            }
            Err(e) => Verdict::Refused(e.to_string()),
        }
    });
}

#[test]
fn fuzz_pickle() {
    // Opcodes the interpreter knows, so mutations build new structures, not only noise.
    let tokens: &[&[u8]] = &[
        b"\x80\x04",
        b"\x95",
        b".",
        b"(",
        b"0",
        b"1",
        b"2",
        b"}",
        b"]",
        b")",
        b"l",
        b"t",
        b"d",
        b"s",
        b"u",
        b"a",
        b"e",
        b"q\x00",
        b"h\x00",
        b"h\x01",
        b"\x94",
        b"N",
        b"K\x07",
        b"J\xff\xff\xff\x7f",
        b"M\x01\x01",
        b"G",
        b"\x85",
        b"\x86",
        b"\x87",
        b"\x88",
        b"\x89",
        b"\x8a\x08",
        b"\x8c\x03abc",
        b"X\xff\xff\xff\xff",
        b"\x93",
        b"R",
        b"b",
        b"cnumpy\ndtype\n",
        b"ccollections\nOrderedDict\n",
        b"\x81",
        b"\x8f",
        b"\x90",
        b"\x91",
        b"\x8d",
        b"\x8e",
        b"\x8c\x02f8",
        b"\x8c\x02<i",
        b"C\x08\x00\x00\x00\x00\x00\x00\xf0\x7f",
    ];
    fuzz("pickle", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "pickle"), tokens, harness::FAST, |b| {
        nas_spaces::nats::parse_pickle(b).into()
    });
}
