//! End-to-end tests of `nas search`: the published tables, resuming after a kill, state-file
//! errors, and the score-based strategies with and without the benchmark data.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{have_table, nas, scratch, stderr, stdout};

fn search_json(args: &[&str]) -> Value {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    all.push("--json");
    let o = nas(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

#[test]
fn search_reproduces_the_benchmark_papers_rs_and_rea() {
    if !have_table() {
        return;
    }
    // 200 runs in CI; the README gives the 500-run figures. Published: REA 93.92, RS 93.70.
    let rea = search_json(&["--strategy", "rea", "--runs", "200", "--seed", "0"]);
    let rs = search_json(&["--strategy", "random", "--runs", "200", "--seed", "0"]);
    let c10 = |v: &Value| v["results"]["cifar10"]["test_mean"].as_f64().unwrap();
    assert!((c10(&rea) - 93.92).abs() < 0.3, "{}", c10(&rea));
    assert!((c10(&rs) - 93.70).abs() < 0.3, "{}", c10(&rs));
    assert!(c10(&rea) > c10(&rs));
    for d in ["cifar10", "cifar100", "ImageNet16-120"] {
        for k in ["test_mean", "test_std", "valid_mean", "valid_std"] {
            assert!(rea["results"][d][k].as_f64().is_some(), "{d} {k}");
        }
    }
    assert_eq!(rea["strategy"], "rea");
    assert_eq!(rea["runs"], 200);
    assert_eq!(rea["archs"].as_array().unwrap().len(), 200);
    assert!(rea["seconds"].as_f64().is_some());
    // Same seed, same table; another seed, another one.
    let again = search_json(&["--strategy", "rea", "--runs", "200", "--seed", "0"]);
    assert_eq!(again["results"], rea["results"]);
    let other = search_json(&["--strategy", "rea", "--runs", "200", "--seed", "1"]);
    assert_ne!(other["results"], rea["results"]);
    // Neighbourhood-aware random search runs and charges the neighbours unless told not to.
    let na = search_json(&["--strategy", "na-random", "--runs", "20"]);
    let na_free = search_json(&["--strategy", "na-random", "--runs", "20", "--free-neighbours"]);
    assert!(na["mean_evaluations"].as_f64().unwrap() < na_free["mean_evaluations"].as_f64().unwrap() / 5.0);
}

#[test]
fn search_rejects_bad_input() {
    let cases: &[(&[&str], &str)] = &[
        (&["search", "--strategy", "bogus"], "invalid value 'bogus' for '--strategy"),
        (&["search", "--dataset", "mnist"], "invalid value 'mnist' for '--dataset"),
        (&["search", "--budget-seconds", "0"], "0 seconds"),
        (&["search", "--runs", "0"], "--runs 0"),
        (&["search", "--population", "0"], "population 0"),
        (&["search", "--strategy", "naswot", "--n", "0"], "--n 0"),
        (&["search", "--strategy", "naswot", "--proxy", "bogus"], "bogus"),
    ];
    for (args, needle) in cases {
        common::assert_fails_in_one_line(args, needle);
    }
}

/// The results of a search JSON without its wall time.
fn results(v: &Value) -> (Value, Value) {
    (v["results"].clone(), v["archs"].clone())
}

#[test]
fn a_search_killed_50_times_resumes_each_time_to_the_uninterrupted_result() {
    if !have_table() {
        return;
    }
    let dir = scratch("kill");
    let state = dir.join("run.json");
    // Files of the user's beside the state, with the names a careless temporary file would take.
    let neighbours = ["run.tmp", "run.json.tmp", ".run.json.tmp"];
    for n in neighbours {
        std::fs::write(dir.join(n), format!("the user's {n}")).unwrap();
    }
    let state_arg = state.to_str().unwrap();
    let args = ["search", "--strategy", "rea", "--runs", "400", "--seed", "3", "--json"];
    let uninterrupted = search_json(&args[1..args.len() - 1]);
    // A write after every run, so that kills land in writes too; kill times spread over the run.
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for round in 0..50 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_micros(rng % 60_000);
        let mut child = Command::new(env!("CARGO_BIN_EXE_nas"))
            .args(args)
            .args(["--state", state_arg, "--checkpoint-seconds", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !state.exists() && started.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().ok();
        child.wait().unwrap();
        // The state is always a whole file: either it parses or it does not exist yet.
        if let Ok(text) = std::fs::read_to_string(&state) {
            let saved: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(saved["runs"].as_array().unwrap().len() <= 400);
        }
        if round % 10 == 9 {
            // Resume: the same answer as the uninterrupted search.
            let mut resumed = args.to_vec();
            resumed.extend(["--state", state_arg]);
            let o = nas(&resumed);
            assert!(o.status.success(), "{}", stderr(&o));
            let resumed: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
            assert_eq!(results(&resumed), results(&uninterrupted), "round {round}");
            std::fs::remove_file(&state).unwrap();
        }
    }
    eprintln!("{kills} of 50 runs killed before they finished");
    assert!(kills >= 25, "only {kills} kills landed mid-run");
    // No other file of the directory was touched, and no temporary file is left.
    for n in neighbours {
        assert_eq!(std::fs::read_to_string(dir.join(n)).unwrap(), format!("the user's {n}"));
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !neighbours.contains(&n.as_str()))
        .collect();
    assert!(names.iter().all(|n| n == "run.json" || !n.ends_with(".tmp")), "{names:?}");

    // A complete state needs no write access.
    let o = nas(&[&args[..], &["--state", state_arg]].concat());
    assert!(o.status.success());
    let mut perms = std::fs::metadata(&state).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&state, perms.clone()).unwrap();
    let o = nas(&[&args[..], &["--state", state_arg]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_or_foreign_state_file_is_an_error_and_is_left_as_it_is() {
    if !have_table() {
        return;
    }
    let dir = scratch("state");
    let state = dir.join("state.json");
    let s = state.to_str().unwrap();
    let o = nas(&["search", "--runs", "3", "--state", s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(&state).unwrap();

    // Another search's settings.
    let o = nas(&["search", "--runs", "3", "--seed", "1", "--state", s]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("belongs to another search") && err.contains("seed"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), good);

    // The same settings on another table (one accuracy changed): refused, the state untouched.
    let table = nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE).unwrap().file(nas_spaces::nb201_table::FILE);
    let text = std::fs::read_to_string(table.unwrap()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen(",9", ",8", 1);
    let other = dir.join("other");
    std::fs::create_dir_all(other.join("nb201")).unwrap();
    std::fs::write(other.join("nb201/nb201_master.csv"), lines.join("\n") + "\n").unwrap();
    let o = nas(&["search", "--runs", "3", "--state", s, "--data-dir", other.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("other inputs") && err.contains("table"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), good);

    // Truncated, and not JSON at all.
    for broken in [&good[..good.len() / 2], b"garbage".as_slice()] {
        std::fs::write(&state, broken).unwrap();
        let o = nas(&["search", "--runs", "3", "--state", s]);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains("corrupt or truncated"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(std::fs::read(&state).unwrap(), broken);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn naswot_search_runs_without_any_data_and_reports_the_chosen_network() {
    let dir = scratch("nodata");
    let o = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["search", "--strategy", "naswot", "--n", "3", "--batch", "8", "--no-cache", "--json"])
        .env("NAS_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("synthetic batch") && err.contains("no benchmark table"), "{err}");
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["runs"], 1);
    assert!(v["results"].is_null());
    let chosen = &v["chosen"];
    assert!(chosen["arch"].as_str().unwrap().starts_with('|'));
    assert!(chosen["params"].as_u64().unwrap() > 0 && chosen["flops"].as_u64().unwrap() > 0);
    assert!(chosen["score"].as_f64().is_some() || chosen["score"] == "-inf");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn score_based_searches_add_accuracies_when_the_table_is_there() {
    if !have_table() {
        return;
    }
    let dir = scratch("scored");
    let cache = dir.join("scores.jsonl");
    let c = cache.to_str().unwrap();
    let one = search_json(&["--strategy", "naswot", "--n", "3", "--batch", "8", "--cache", c]);
    let acc = &one["chosen"]["test_accuracy"];
    assert!(acc["cifar10"].as_f64().unwrap() > 10.0 && acc["ImageNet16-120"].as_f64().is_some());
    assert!(one["results"]["cifar10"]["test_mean"].as_f64().is_some());
    // Two runs: run 0 is the single run above, its scores now come from the cache.
    let two = search_json(&["--strategy", "naswot", "--n", "3", "--batch", "8", "--cache", c, "--runs", "2"]);
    assert_eq!(two["archs"][0], one["archs"][0]);
    let area = search_json(&[
        "--strategy",
        "area",
        "--n",
        "4",
        "--batch",
        "8",
        "--cache",
        c,
        "--runs",
        "2",
        "--budget-seconds",
        "3000",
    ]);
    assert_eq!(area["runs"], 2);
    assert!(area["results"]["cifar10"]["test_mean"].as_f64().unwrap() > 80.0);
    let plot = dir.join("curve.svg");
    let o = nas(&["search", "--runs", "20", "--plot", plot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("over 20 runs"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_killed_part_way_continues_from_its_saved_evaluations() {
    // One NASWOT run of 120 networks scored without the cache: seconds of work (more than the
    // second between two saves part-way), saved part-way.
    let dir = scratch("partial");
    let state = dir.join("naswot.json");
    let args = ["search", "--strategy", "naswot", "--n", "120", "--batch", "32", "--no-cache", "--seed", "2", "--json"];
    let uninterrupted = search_json(&args[1..args.len() - 1]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .args(["--state", state.to_str().unwrap(), "--checkpoint-seconds", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !state.exists() && started.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let exited = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    // The run may also have ended between that look and the kill: its state then holds no part.
    let finished_first = exited || saved["partial"].is_null();
    let o = nas(&[&args[..], &["--state", state.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(resumed["chosen"], uninterrupted["chosen"]);
    assert_eq!(resumed["archs"], uninterrupted["archs"]);
    if !finished_first {
        let done = saved["partial"]["history"].as_array().map_or(0, Vec::len);
        eprintln!("killed after {done} of 120 evaluations were saved");
        assert!(done > 0 && done < 120, "{saved}");
        assert!(stderr(&o).contains(&format!("resuming run 0 from its {done} saved evaluation(s)")), "{}", stderr(&o));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn train_final_trains_the_most_frequent_answer_as_nas_train_does() {
    let dir = common::scratch("train-final");
    let Some(train) = common::first_records("images/cifar10_train_5443.bin", 96, &dir, "train.bin") else { return };
    if !common::have_table() {
        eprintln!("skipped: no NB201 table");
        return;
    }
    let train = train.to_str().unwrap();
    let net = ["--C", "4", "--N", "1", "--seed", "2"];
    let mut args = vec!["--strategy", "rea", "--runs", "3", "--train-final", "1", "--train-images", train];
    args.extend_from_slice(&net);
    let report = search_json(&args);
    let archs: Vec<&str> = report["archs"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let trained = &report["trained"];
    let arch = trained["arch"].as_str().unwrap();
    let count = |a: &str| archs.iter().filter(|&&b| b == a).count();
    assert!(archs.iter().all(|a| count(a) <= count(arch)), "{arch} is not the most frequent of {archs:?}");
    // The same numbers as `nas train` of that answer with the same recipe and seed.
    let mut alone = vec!["train", "--arch", arch, "--images", train, "--epochs", "1", "--json"];
    alone.extend_from_slice(&net);
    let o = common::nas(&alone);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let alone: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(trained["train_loss"], alone["train_loss"]);
    assert_eq!(trained["params"], alone["params"]);
    common::assert_fails_in_one_line(
        &["search", "--strategy", "rea", "--runs", "2", "--train-final", "1"],
        "--train-images",
    );
}
