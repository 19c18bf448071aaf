//! End-to-end tests of `nas data import` / `check` / `images`: the imported tables give the
//! same answers as the shared CSVs for the rows they share (skipped, and said so, without data).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{nas, scratch, stderr, stdout};

const TSS: &str = "nats/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nas-spaces/tests/fixtures").join(name)
}

fn json(args: &[&str]) -> Value {
    let o = nas(args);
    assert!(o.status.success(), "nas {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn import(from: &Path, out: &Path) -> Value {
    let v = json(&["data", "import", "--from", from.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    for key in ["kind", "rows", "out", "seconds"] {
        assert!(v.get(key).is_some(), "{v}");
    }
    v
}

/// `nas bench top` on the imported table lists the shared table's ranking of the rows the import
/// has, with the same values to the printed precision.
fn same_top(imported: &Path, shared: &Path, rows: &[u64], query: &[&str]) {
    let k = rows.len().to_string();
    let top = |dir: &Path, k: &str| {
        let mut args = vec!["bench", "top", "--data-dir", dir.to_str().unwrap(), "-k", k];
        args.extend(query);
        let text = nas(&args);
        assert!(text.status.success(), "{}", stderr(&text));
        args.push("--json");
        (stdout(&text), json(&args))
    };
    let (text, got) = top(imported, &k);
    let (_, all) = top(shared, "15625");
    let want: Vec<&Value> =
        all.as_array().unwrap().iter().filter(|r| rows.contains(&r["idx"].as_u64().unwrap())).collect();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{query:?}");
    let mut lines = text.lines().skip(1);
    for (rank, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!((&g["idx"], &g["arch"]), (&w["idx"], &w["arch"]), "{query:?}");
        let (a, b) = (g["value"].as_f64().unwrap(), w["value"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-6, "{query:?} idx {}: {a} vs {b}", g["idx"]);
        let line =
            format!("{:>4}  {:>5}  {b:>7.2}  {}", rank + 1, w["idx"].as_u64().unwrap(), w["arch"].as_str().unwrap());
        assert_eq!(lines.next(), Some(line.as_str()), "{query:?}");
    }
}

#[test]
fn imported_nats_samples_rank_as_the_shared_table() {
    let (Some(data), Some(_)) =
        (nas_spaces::data::for_tests(TSS), nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE))
    else {
        return;
    };
    let out = scratch("data-nats");
    let v = import(&data.path.join("nats/NATS-tss-v1_0-3ffb9-simple"), &out);
    assert_eq!((v["kind"].as_str(), v["rows"].as_u64()), (Some("nats-tss"), Some(15_625)));
    for query in [
        &["--dataset", "cifar10"][..],
        &["--dataset", "cifar10-valid", "--metric", "valid"],
        &["--dataset", "cifar100", "--metric", "valid"],
        &["--dataset", "ImageNet16-120", "--epochs", "12", "--metric", "valid"],
    ] {
        same_top(&out, &data.path, &[0, 11, 284], query);
    }
    let check = json(&["data", "check", "--data-dir", out.to_str().unwrap(), "--json"]);
    let entry = check["entries"].as_array().unwrap().iter().find(|e| e["path"] == "nb201/nb201_master.csv").unwrap();
    assert_eq!((entry["present"].as_bool(), entry["count"].as_u64()), (Some(true), Some(15_625)));
    assert!(entry["used_by"].as_array().unwrap().iter().any(|u| u == "nas search"));
    let hw = check["entries"].as_array().unwrap().iter().find(|e| e["path"] == "nb201/hw_nas_bench_nb201.csv").unwrap();
    assert_eq!(hw["present"].as_bool(), Some(false));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn imported_pth_fixture_ranks_as_the_shared_table() {
    let Some(data) = nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE) else { return };
    for name in ["nb201-2-legacy.pth", "nb201-2-zip.pth"] {
        let out = scratch(&format!("data-{name}"));
        let v = import(&fixture(name), &out);
        assert_eq!((v["kind"].as_str(), v["rows"].as_u64()), (Some("nb201-pth"), Some(2)));
        same_top(&out, &data.path, &[0, 1], &["--dataset", "cifar100"]);
        same_top(&out, &data.path, &[0, 1], &["--dataset", "cifar10-valid", "--epochs", "12", "--metric", "valid"]);
        std::fs::remove_dir_all(&out).unwrap();
    }
    let e = nas(&["data", "import", "--from", "/nonexistent.pth", "--out", "/tmp", "--kind", "nb201-pth"]);
    assert!(!e.status.success() && stderr(&e).lines().count() == 1, "{}", stderr(&e));
}

/// A pickle in HW-NAS-Bench's layout holding every row of the shared CSV (protocol 2, floats).
fn hw_pickle(csv_path: &Path, out: &Path) {
    let text = std::fs::read_to_string(csv_path).unwrap(); // plain CSV: no quoted fields
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let mut by: std::collections::BTreeMap<String, Vec<Vec<f64>>> = Default::default();
    for line in lines {
        let rec: Vec<&str> = line.split(',').collect();
        let cols = by.entry(rec[1].to_owned()).or_insert_with(|| vec![Vec::new(); header.len() - 2]);
        for (j, c) in cols.iter_mut().enumerate() {
            c.push(rec[j + 2].parse().unwrap_or(f64::NAN));
        }
    }
    let s = |b: &mut Vec<u8>, t: &str| {
        b.push(b'X');
        b.extend((t.len() as u32).to_le_bytes());
        b.extend(t.as_bytes());
    };
    let mut b = b"\x80\x02}(".to_vec();
    s(&mut b, "nasbench201");
    b.extend(b"}(");
    for (ds, cols) in &by {
        s(&mut b, ds);
        b.extend(b"}(");
        for (name, col) in header[2..].iter().zip(cols) {
            s(&mut b, name);
            b.extend(b"](");
            for x in col {
                b.push(b'G');
                b.extend(x.to_be_bytes());
            }
            b.push(b'e');
        }
        b.push(b'u');
    }
    b.extend(b"uu.");
    std::fs::write(out, b).unwrap();
}

#[test]
fn imported_hw_nas_bench_pickle_fits_as_the_shared_csv() {
    let Some(data) = nas_spaces::data::for_tests(nas_spaces::hw_nas_bench::FILE) else { return };
    let shared = data.path.join(nas_spaces::hw_nas_bench::FILE);
    let out = scratch("data-hw");
    let pickle = out.join("HW-NAS-Bench-v1_0.pickle");
    hw_pickle(&shared, &pickle);
    let v = import(&pickle, &out);
    assert_eq!((v["kind"].as_str(), v["rows"].as_u64()), (Some("hw-nas-bench"), Some(46_875)));
    let imported = out.join(nas_spaces::hw_nas_bench::FILE);
    assert_eq!(std::fs::read_to_string(&imported).unwrap(), std::fs::read_to_string(&shared).unwrap());
    let fit = |table: &Path, model: &Path| {
        let o = nas(&[
            "hw",
            "fit",
            "--space",
            "nb201",
            "--device",
            "pixel3_latency",
            "--data",
            table.to_str().unwrap(),
            "--train-rows",
            "1000",
            "--seed",
            "0",
            "--out",
            model.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        (
            stdout(&o).replace(table.to_str().unwrap(), "DATA").replace(model.to_str().unwrap(), "MODEL"),
            std::fs::read_to_string(model).unwrap(),
        )
    };
    let (a, ma) = fit(&imported, &out.join("a.json"));
    let (b, mb) = fit(&shared, &out.join("b.json"));
    assert_eq!(a, b);
    assert_eq!(ma.replace(imported.to_str().unwrap(), "DATA"), mb.replace(shared.to_str().unwrap(), "DATA"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn data_images_reads_every_layout() {
    for (dir, layout, n) in [
        ("cifar-10-batches-py", "cifar10-python", 6),
        ("cifar-100-python", "cifar100-python", 2),
        ("imagenet16", "imagenet16-120-python", 10),
    ] {
        let v = json(&["data", "images", fixture(dir).to_str().unwrap(), "--json"]);
        assert_eq!((v["layout"].as_str(), v["images"].as_u64()), (Some(layout), Some(n)), "{v}");
    }
    if let Some(data) = nas_spaces::data::for_tests("images/cifar100_train_first1117.bin") {
        // The binary layouts as their archives unpack: cifar-10-batches-bin/, cifar-100-binary/.
        let dir = scratch("data-images");
        let images = data.path.join("images");
        let (c10, c100) = (dir.join("cifar-10-batches-bin"), dir.join("cifar-100-binary"));
        std::fs::create_dir_all(&c10).unwrap();
        std::fs::create_dir_all(&c100).unwrap();
        std::fs::copy(images.join("cifar10_test_first846.bin"), c10.join("data_batch_1.bin")).unwrap();
        std::fs::copy(images.join("cifar10_test_first1017.bin"), c10.join("data_batch_2.bin")).unwrap();
        std::fs::copy(images.join("cifar100_train_first1117.bin"), c100.join("train.bin")).unwrap();
        for (path, layout, n) in [(c10, "cifar10-binary", 1863), (c100, "cifar100-binary", 1117)] {
            let v = json(&["data", "images", path.to_str().unwrap(), "--json"]);
            assert_eq!((v["layout"].as_str(), v["images"].as_u64()), (Some(layout), Some(n)), "{v}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let e = nas(&["data", "images", fixture("hw-nas-bench-5.pickle").to_str().unwrap()]);
    assert!(!e.status.success() && stderr(&e).contains("'data'"), "{}", stderr(&e));
}

/// A minimal protocol-2 pickler for the `.pth` fixture below.
enum P {
    Int(i64),
    F(f64),
    S(String),
    T(Vec<P>),
    L(Vec<P>),
    D(Vec<(P, P)>),
    None,
}

fn pickle(v: &P, b: &mut Vec<u8>) {
    match v {
        P::Int(i) => {
            b.push(b'J');
            b.extend((*i as i32).to_le_bytes());
        }
        P::F(x) => {
            b.push(b'G');
            b.extend(x.to_be_bytes());
        }
        P::S(s) => {
            b.push(b'X');
            b.extend((s.len() as u32).to_le_bytes());
            b.extend(s.as_bytes());
        }
        P::T(items) => {
            b.push(b'(');
            items.iter().for_each(|i| pickle(i, b));
            b.push(b't');
        }
        P::L(items) => {
            b.extend(b"](");
            items.iter().for_each(|i| pickle(i, b));
            b.push(b'e');
        }
        P::D(items) => {
            b.extend(b"}(");
            for (k, v) in items {
                pickle(k, b);
                pickle(v, b);
            }
            b.push(b'u');
        }
        P::None => b.push(b'N'),
    }
}

fn s(t: &str) -> P {
    P::S(t.to_owned())
}

/// One `ResultsCount` state dict of one epoch with the given evaluations.
fn run(seed: i64, time: f64, evals: &[(&str, f64)]) -> P {
    let at = |f: &dyn Fn(f64) -> f64| P::D(evals.iter().map(|(n, a)| (s(&format!("{n}@0")), P::F(f(*a)))).collect());
    P::D(vec![
        (s("name"), s("x")),
        (s("net_state_dict"), P::None),
        (s("train_acc1es"), P::D(vec![(P::Int(0), P::F(90.0))])),
        (s("train_losses"), P::D(vec![(P::Int(0), P::F(0.3))])),
        (s("train_times"), P::D(vec![(P::Int(0), P::F(time))])),
        (s("flop"), P::F(10.0)),
        (s("params"), P::F(0.5)),
        (s("seed"), P::Int(seed)),
        (s("epochs"), P::Int(1)),
        (s("latency"), P::L(vec![P::F(0.01)])),
        (s("eval_names"), P::L(evals.iter().map(|(n, _)| s(n)).collect())),
        (s("eval_acc1es"), at(&|a| a)),
        (s("eval_losses"), at(&|_| 1.0)),
    ])
}

/// A legacy `torch.save` of the official layout holding every architecture of the shared CSV,
/// each with one one-epoch run per dataset carrying the CSV's values (so the import is exact).
fn full_pth(csv_path: &Path, out: &Path) {
    let text = std::fs::read_to_string(csv_path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut archs = Vec::new();
    let mut infos = Vec::new();
    for line in lines {
        let r: Vec<&str> = line.split(',').collect();
        let v = |name: &str| r[col(name)].parse::<f64>().unwrap();
        let (idx, arch) = (r[0].parse::<i64>().unwrap(), r[1].to_owned());
        let record = |results: Vec<(&str, P)>| {
            let seeds = P::D(results.iter().map(|(d, _)| (s(d), P::L(vec![P::Int(777)]))).collect());
            let all = P::D(results.into_iter().map(|(d, r)| (P::T(vec![s(d), P::Int(777)]), r)).collect());
            P::D(vec![
                (s("arch_index"), P::Int(idx)),
                (s("arch_str"), s(&arch)),
                (s("all_results"), all),
                (s("dataset_seed"), seeds),
            ])
        };
        let full = record(vec![
            (
                "cifar10-valid",
                run(777, v("train_time_c10v_s"), &[("x-valid", v("c10v_valid_acc")), ("ori-test", v("c10v_test_acc"))]),
            ),
            ("cifar10", run(777, 1.0, &[("ori-test", v("c10_test_acc"))])),
            (
                "cifar100",
                run(
                    777,
                    v("train_time_c100_s"),
                    &[("x-valid", v("c100_valid_acc_derived")), ("x-test", v("c100_test_acc"))],
                ),
            ),
            (
                "ImageNet16-120",
                run(
                    777,
                    v("train_time_in16_s"),
                    &[("x-valid", v("in16_valid_acc_derived")), ("x-test", v("in16_test_acc"))],
                ),
            ),
        ]);
        let less = record(vec![("cifar10-valid", run(777, 1.0, &[("x-valid", v("e12_c10v_valid_acc"))]))]);
        archs.push(s(&arch));
        infos.push((P::Int(idx), P::D(vec![(s("less"), less), (s("full"), full)])));
    }
    let n = archs.len() as i64;
    let root = P::D(vec![
        (s("meta_archs"), P::L(archs)),
        (s("arch2infos"), P::D(infos)),
        (s("evaluated_indexes"), P::L((0..n).map(P::Int).collect())),
    ]);
    let mut b =
        b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.\x80\x02}.\x80\x02".to_vec();
    pickle(&root, &mut b);
    b.extend(b".\x80\x02].");
    std::fs::write(out, b).unwrap();
}

#[test]
fn search_on_an_imported_whole_benchmark_pth_matches_the_shared_table() {
    let Some(data) = nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE) else { return };
    let out = scratch("data-search");
    let pth = out.join("NAS-Bench-201-full.pth");
    full_pth(&data.path.join(nas_spaces::nb201_table::FILE), &pth);
    let v = import(&pth, &out);
    assert_eq!((v["rows"].as_u64(), v["with_results"].as_u64()), (Some(15_625), Some(15_625)));
    let search = |dir: &Path| {
        let args = [
            "search",
            "--strategy",
            "rea",
            "--runs",
            "20",
            "--seed",
            "3",
            "--data-dir",
            dir.to_str().unwrap(),
            "--json",
        ];
        let o = nas(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut v: Value = serde_json::from_str(&stdout(&o).replace(dir.to_str().unwrap(), "DATA")).unwrap();
        v.as_object_mut().unwrap().remove("seconds"); // wall-clock time
        v
    };
    assert_eq!(search(&out), search(&data.path));
    let top = |dir: &Path| {
        json(&["bench", "top", "--data-dir", dir.to_str().unwrap(), "--dataset", "cifar100", "-k", "20", "--json"])
    };
    assert_eq!(top(&out), top(&data.path));
    std::fs::remove_dir_all(&out).unwrap();
}
