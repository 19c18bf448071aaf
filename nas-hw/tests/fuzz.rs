//! Fuzz targets of this crate's readers of user input (harness shared with nas-spaces): measurement
//! files in the HELP and HW-NAS-Bench layouts, and fitted model JSON. `NAS_FUZZ_CASES` sets the
//! cases per target.
#![allow(clippy::unwrap_used)]

#[path = "../../nas-spaces/tests/fuzz/harness.rs"]
mod harness;

use harness::{Verdict, corpus_dir, fuzz, scratch};
use nas_core::{Genotype, SearchSpace};
use nas_hw::LatencyModel;
use nas_spaces::{FbnetSpace, Nb201Space};

const NUMBERS: &[&str] = &[
    "inf",
    "-inf",
    "NaN",
    "1e309",
    "-1e309",
    "-1",
    "0",
    "-0",
    "1e-320",
    "18446744073709551615",
    "15625",
    "",
    "\"",
    ",",
    "\n",
    "\u{0}",
];

#[test]
fn fuzz_measurements() {
    let path = scratch("measurements.csv");
    let (nb201, fbnet) = (Nb201Space::default(), FbnetSpace::default());
    let lookup = |i: usize| nb201.genotype_at(i as u128).ok();
    let tokens = ["idx", "dataset", "cifar10", "arch_str", "op_idx_list", "pixel3", "cpu_ms", "edgegpu_latency", "|"];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("measurements", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "measurements"), &tokens, harness::FILES, |b| {
        std::fs::write(&path, b).unwrap();
        let mut verdict = Verdict::Refused("no column".into());
        for (space, column) in [
            (&nb201 as &dyn SearchSpace, "cpu_ms"),
            (&nb201, "edgegpu_latency"),
            (&fbnet, "pixel3"),
            (&fbnet, "raspi4"),
        ] {
            let v = match nas_hw::data::read(&path, column, space, None, &lookup) {
                Ok(m) => {
                    assert!(m.rows.iter().all(|r| r.value.is_finite() && r.value > 0.0));
                    assert!(!m.rows.is_empty());
                    Verdict::Accepted
                }
                Err(e) => Verdict::Refused(e.to_string()),
            };
            match &v {
                Verdict::Refused(m) => assert!(!m.contains('\n'), "{m:?}"),
                Verdict::Accepted => verdict = Verdict::Accepted,
            }
            if let (Verdict::Refused(_), Verdict::Refused(_)) = (&verdict, &v) {
                verdict = v;
            }
        }
        verdict
    });
}

#[test]
fn fuzz_model_json() {
    let (nb201, fbnet) = (Nb201Space::default(), FbnetSpace::default());
    let probes: Vec<Genotype> = (0..40u128)
        .map(|i| nb201.genotype_at(i * 390).unwrap())
        .chain((0..10u128).map(|i| fbnet.genotype_at(i * 1_000_000_007).unwrap()))
        .chain([Genotype(vec![4, 0, 0, 0, 0, 3]), Genotype(vec![9; 6]), Genotype(vec![])])
        .collect();
    let tokens = [
        "[",
        "]",
        "{",
        "}",
        ":",
        "null",
        "true",
        "false",
        "\"cell\"",
        "\"table\"",
        "\"nb201\"",
        "\"fbnet\"",
        "\"pairs\"",
        "\"weights\"",
        "\"entries\"",
        "[0.5]",
        "1e308",
        "-1e308",
    ];
    let tokens: Vec<&str> = tokens.iter().chain(NUMBERS).copied().collect();
    fuzz("model_json", &corpus_dir(env!("CARGO_MANIFEST_DIR"), "model_json"), &tokens, harness::FAST, |b| {
        let text = String::from_utf8_lossy(b);
        match LatencyModel::from_json(&text) {
            Ok(model) => {
                model.validate().unwrap();
                for g in &probes {
                    match model.predict(g) {
                        Ok(v) => assert!(v.is_finite() && v >= 0.0, "predicted {v}"),
                        Err(e) => assert!(!e.to_string().contains('\n')),
                    }
                }
                Verdict::Accepted
            }
            Err(e) => Verdict::Refused(e.to_string()),
        }
    });
}
