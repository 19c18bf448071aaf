//! End-to-end tests of `nas cluster`: the dry run's scripts, merges of hand-made parts (a
//! disagreeing duplicate, an incomplete set, foreign rows), one-line errors, and, when a Slurm
//! cluster answers (`sinfo`; `scripts/slurm-local.sh` starts one on this machine), real job arrays:
//! score, search and correlate jobs through 4 tasks equal one process, bit for bit; a score task
//! cancelled mid-way is resubmitted alone by `nas cluster resume`; a cancelled search task continues
//! from the runs its state file kept.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nas_cli::cluster::{FORMAT, Manifest, SlurmOptions, Work};
use serde_json::Value;

mod common;
use common::{assert_fails_in_one_line, nas, scratch, stderr, stdout};

const IMAGES: &str = "images/cifar10_test_first1017.bin";

fn s(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn ok(args: &[&str]) -> String {
    let o = nas(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn dry_run_prints_the_array_script_and_the_dependent_merge_job() {
    let dir = scratch("cluster-dry");
    let job = dir.join("job");
    let job_s = job.to_str().unwrap();
    let text = ok(&[
        "cluster",
        "submit",
        "--slurm",
        "--array",
        "4",
        "--partition",
        "short",
        "--time",
        "10:00",
        "--mem",
        "2G",
        "--cpus-per-task",
        "2",
        "--dir",
        job_s,
        "--dry-run",
        "--",
        "score",
        "--space",
        "nb201",
        "--proxy",
        "params,naswot",
        "--sample",
        "24",
        "--batch",
        "16",
    ]);
    for needle in [
        "#SBATCH --array=0-3",
        "#SBATCH --partition=short",
        "#SBATCH --time=10:00",
        "#SBATCH --mem=2G",
        "#SBATCH --cpus-per-task=2",
        "SLURM_ARRAY_TASK_ID",
        "score --space nb201 --proxy params,naswot --sample 24 --batch 16 --shard \"$i/$n\" --json",
        "parts/part-$i.jsonl",
        "sbatch --parsable",
        "--dependency=afterok:",
        "cluster merge",
        "$ array=$(sbatch --parsable ",
        "$ sbatch --parsable --dependency=afterok:$array ",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    assert!(!job.exists(), "a dry run wrote {}", job.display());

    // The issue's own spelling, with the program's name after `--`, prints the same scripts.
    let score = ["score", "--space", "nb201", "--proxy", "params,naswot", "--sample", "24", "--batch", "16"];
    let head = ["cluster", "submit", "--slurm", "--array", "4", "--dir", job_s, "--dry-run", "--"];
    let without: Vec<&str> = head.iter().chain(&score).copied().collect();
    let with: Vec<&str> = head.iter().chain(&["nas"]).chain(&score).copied().collect();
    assert_eq!(ok(&with), ok(&without));

    // Search splits over runs: contiguous blocks, each part's state in the job directory.
    let text = ok(&[
        "cluster",
        "submit",
        "--slurm",
        "--array",
        "3",
        "--dir",
        job_s,
        "--dry-run",
        "--",
        "search",
        "--strategy",
        "naswot",
        "--runs",
        "7",
        "--n",
        "3",
    ]);
    for needle in ["#SBATCH --array=0-2", "0) range=0..2", "1) range=2..4", "2) range=4..7", "--runs-range \"$range\""]
    {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    // Correlate: its sample scored by `nas score` tasks, each keeping its scores in its own cache.
    let text = ok(&[
        "cluster",
        "submit",
        "--slurm",
        "--array",
        "2",
        "--dir",
        job_s,
        "--dry-run",
        "--",
        "correlate",
        "--sample",
        "10",
        "--proxy",
        "naswot",
    ]);
    for needle in
        ["score --space nb201 --proxy naswot --sample 10 --seed 0", "parts/cache-$i.jsonl", "--shard \"$i/$n\""]
    {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    // JSON: the scripts and the sbatch commands.
    let v: Value = serde_json::from_str(
        ok(&["cluster", "submit", "--slurm", "--array", "2", "--dir", job_s, "--dry-run", "--json", "--", "search"])
            .trim(),
    )
    .unwrap();
    assert!(v["script"].as_str().unwrap().contains("#SBATCH --array=0-1"));
    assert!(v["commands"][1].as_str().unwrap().contains("--dependency=afterok:"));
    assert_eq!(v["dry_run"], true);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn submit_errors_are_one_line() {
    let dir = scratch("cluster-errors");
    let job = dir.join("job");
    let job_s = job.to_str().unwrap();
    let submit = |extra: &[&str], needle: &str| {
        let mut args = vec!["cluster", "submit", "--dir", job_s, "--dry-run"];
        args.extend_from_slice(extra);
        assert_fails_in_one_line(&args, needle);
    };
    submit(&["--", "score", "--sample", "8"], "--slurm");
    submit(&["--slurm", "--", "arch", "show", "1"], "not `nas arch`");
    submit(&["--slurm", "--", "correlate", "--dataset", "cifar100"], "needs --images");
    submit(&["--slurm", "--array", "0", "--", "score", "--sample", "8"], "invalid --array 0");
    submit(&["--slurm", "--array", "9", "--", "score", "--sample", "8"], "invalid --array 9");
    submit(&["--slurm", "--array", "5", "--", "search", "--runs", "4"], "invalid --array 5");
    submit(&["--slurm", "--", "score", "--sample", "8", "--shard", "0/2"], "--shard 0/2");
    submit(&["--slurm", "--", "search", "--state", "x.json"], "--state x.json");
    submit(&["--slurm", "--", "score", "--sample", "8", "--bogus"], "--bogus");
    submit(&["--slurm", "--", "score"], "exactly one of");
    assert_fails_in_one_line(
        &["cluster", "submit", "--slurm", "--dir", "a b", "--dry-run", "--", "score", "--sample", "8"],
        "holds whitespace",
    );
    // A part's runs (set by the cluster, hidden from --help) are checked like any flag.
    assert_fails_in_one_line(
        &["search", "--strategy", "naswot", "--runs", "5", "--runs-range", "3..9"],
        "invalid --runs-range \"3..9\"",
    );
    assert_fails_in_one_line(&["cluster", "merge", job_s], "manifest.json is missing");
    assert_fails_in_one_line(&["cluster", "status", job_s], "manifest.json is missing");
    assert_fails_in_one_line(&["cluster", "resume", job_s], "manifest.json is missing");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(job.join("manifest.json"), "{\"format\":").unwrap();
    assert_fails_in_one_line(&["cluster", "merge", job_s], "is not a cluster manifest");
    submit(&["--slurm", "--", "score", "--sample", "8"], "already holds a cluster job");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hand-made score job of two parts: part 0 scores a, c (with two proxies), part 1 scores b.
fn hand_made_job(dir: &Path) {
    let manifest = Manifest {
        format: FORMAT.into(),
        command: s(&["score", "--arch", "a", "--arch", "b", "--arch", "c", "--proxy", "params,naswot"]),
        nas: PathBuf::from("nas"),
        workdir: dir.to_path_buf(),
        data_dir: dir.to_path_buf(),
        tasks: 2,
        slurm: SlurmOptions { cpus_per_task: 1, ..SlurmOptions::default() },
        work: Work::Score { proxies: s(&["params", "naswot"]), parts: vec![s(&["a", "c"]), s(&["b"])] },
        jobs: Vec::new(),
    };
    std::fs::create_dir_all(dir.join("parts")).unwrap();
    manifest.write(dir).unwrap();
}

fn row(arch: &str, proxy: &str, score: &str) -> String {
    format!(
        r#"{{"arch":"{arch}","proxy":"{proxy}","score":{score},"seconds":0.25,"cached":false,"images":"synthetic","batch":16,"init_seed":0}}"#
    )
}

fn write_part(dir: &Path, i: usize, rows: &[String]) {
    std::fs::write(dir.join(format!("parts/part-{i}.jsonl")), rows.join("\n") + "\n").unwrap();
}

#[test]
fn merge_of_hand_made_parts_is_keyed_checked_and_complete() {
    let dir = scratch("cluster-merge");
    let d = dir.to_str().unwrap();
    hand_made_job(&dir);
    let part0 = [
        row("a", "params", "1.0"),
        row("a", "naswot", "\"-inf\""),
        row("c", "params", "3.0"),
        row("c", "naswot", "0.1"),
    ];
    let part1 = [row("b", "params", "2.0"), row("b", "naswot", "0.30000000000000004")];

    // Nothing there yet: the error names every missing part, on one line.
    assert_fails_in_one_line(&["cluster", "merge", d], "part 0 (parts/part-0.jsonl) is missing; part 1");
    write_part(&dir, 0, &part0);
    assert_fails_in_one_line(&["cluster", "merge", d], "incomplete: part 1 (parts/part-1.jsonl) is missing");
    let status: Value = serde_json::from_str(ok(&["cluster", "status", d, "--json"]).trim()).unwrap();
    assert_eq!(status["complete"], 1);
    assert_eq!(status["parts"][1]["state"], "missing");
    // A part short of a row.
    write_part(&dir, 1, &part1[..1]);
    assert_fails_in_one_line(
        &["cluster", "merge", d],
        "part 1 (parts/part-1.jsonl) lacks 1 of 2 rows (first: b naswot)",
    );
    assert!(ok(&["cluster", "status", d]).contains("incomplete"));

    // Complete, with part 1 also holding one of part 0's rows (identical): merged in one process's
    // order (a, b, c), every score exact.
    let mut with_dup = part1.to_vec();
    with_dup.push(row("a", "naswot", "\"-inf\""));
    write_part(&dir, 1, &with_dup);
    let report: Value = serde_json::from_str(ok(&["cluster", "merge", d, "--json"]).trim()).unwrap();
    assert_eq!(report["items"], 6);
    assert_eq!(report["duplicates"], 1);
    let merged = std::fs::read_to_string(dir.join("merged.jsonl")).unwrap();
    let expected = [&part0[..2], &part1[..], &part0[2..]].concat().join("\n") + "\n";
    assert_eq!(merged, expected);
    assert!(ok(&["cluster", "status", d]).contains("2 complete; merged: yes"));
    // Every part there but no merged result (the merge job could not start): resume merges here.
    std::fs::remove_file(dir.join("merged.jsonl")).unwrap();
    assert!(ok(&["cluster", "resume", d]).contains("merged them here"));
    assert_eq!(std::fs::read_to_string(dir.join("merged.jsonl")).unwrap(), expected);

    // A duplicate that disagrees in the last bit: named with both files.
    let mut bad = part1.to_vec();
    bad.push(row("c", "naswot", "0.10000000000000002"));
    write_part(&dir, 1, &bad);
    assert_fails_in_one_line(&["cluster", "merge", d], "architecture c proxy naswot");
    let o = nas(&["cluster", "merge", d]);
    let err = stderr(&o);
    assert!(err.contains("part-0.jsonl") && err.contains("part-1.jsonl") && err.contains("disagree"), "{err}");

    // A row the manifest does not list; a line that is not a score row.
    write_part(&dir, 1, &[part1[0].clone(), part1[1].clone(), row("z", "params", "9.0")]);
    assert_fails_in_one_line(
        &["cluster", "merge", d],
        "architecture z with proxy params, which the manifest does not list",
    );
    write_part(&dir, 1, &[part1[0].clone(), "{\"arch\":".into()]);
    assert_fails_in_one_line(&["cluster", "merge", d], "part-1.jsonl:2: not a line of nas score --json");
    // The merged file of the good merge is untouched by the failed ones.
    assert_eq!(std::fs::read_to_string(dir.join("merged.jsonl")).unwrap(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- On a real Slurm cluster -------------------------------------------------------------------

/// Whether a Slurm cluster answers with a usable node (else the caller skips, and this says so).
fn have_slurm() -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%t"]).output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| !l.starts_with("down"))
    });
    if !up {
        eprintln!("skipped: no Slurm cluster answers (sinfo); scripts/slurm-local.sh starts one on this machine");
    }
    up
}

fn images() -> Option<String> {
    let data = nas_spaces::data::for_tests(IMAGES)?;
    Some(data.file(IMAGES).unwrap().to_str().unwrap().to_string())
}

/// Whether job `id` (or any task of it) is still in the queue.
fn queued(id: &str) -> bool {
    let o = Command::new("squeue").args(["-h", "-r", "-o", "%i", "-j", id]).output().unwrap();
    o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

fn wait_gone(id: &str, what: &str) {
    let start = Instant::now();
    while queued(id) {
        assert!(start.elapsed() < Duration::from_secs(600), "{what} (job {id}) still queued after 600 s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Submits `command` through `tasks` tasks into `dir`; the report.
fn submit(dir: &Path, tasks: &str, command: &[&str]) -> Value {
    let mut args =
        vec!["cluster", "submit", "--slurm", "--array", tasks, "--dir", dir.to_str().unwrap(), "--json", "--"];
    args.extend_from_slice(command);
    serde_json::from_str(ok(&args).trim()).unwrap()
}

/// The lines of `nas score --json` without their wall time and cache flag (the rest is the result).
fn results(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v.as_object_mut().unwrap().remove("cached");
            v
        })
        .collect()
}

fn score_command(images: &str) -> Vec<&str> {
    vec![
        "score",
        "--space",
        "nb201",
        "--proxy",
        "params,flops,naswot",
        "--sample",
        "24",
        "--batch",
        "16",
        "--images",
        images,
        "--no-cache",
    ]
}

#[test]
fn a_score_job_through_four_tasks_equals_one_process() {
    let (true, Some(images)) = (have_slurm(), images()) else { return };
    let dir = scratch("cluster-score").join("job");
    let command = score_command(&images);
    let started = Instant::now();
    let job = submit(&dir, "4", &command);
    wait_gone(job["merge_job"].as_str().unwrap(), "the merge job");
    eprintln!("score job: 4 tasks and the merge in {:.1} s", started.elapsed().as_secs_f64());
    let merged = std::fs::read_to_string(dir.join("merged.jsonl"))
        .unwrap_or_else(|e| panic!("no merged.jsonl ({e}); {}", ok(&["cluster", "status", dir.to_str().unwrap()])));
    let mut single = command.clone();
    single.push("--json");
    let one = ok(&single);
    assert_eq!(results(&merged), results(&one), "the merged scores differ from one process's");
    assert_eq!(results(&merged).len(), 72);
    let status: Value =
        serde_json::from_str(ok(&["cluster", "status", dir.to_str().unwrap(), "--json"]).trim()).unwrap();
    assert_eq!(status["complete"], 4);
    assert_eq!(status["merged"], true);
}

#[test]
fn a_task_cancelled_mid_way_is_resubmitted_alone_by_resume() {
    let (true, Some(images)) = (have_slurm(), images()) else { return };
    let dir = scratch("cluster-resume").join("job");
    let d = dir.to_str().unwrap();
    let command = score_command(&images);
    let job = submit(&dir, "4", &command);
    let array = job["array_job"].as_str().unwrap().to_string();
    // Cancel task 1 once it runs (or before it starts, if the others are quicker).
    let task = format!("{array}_1");
    let start = Instant::now();
    loop {
        let o = Command::new("squeue").args(["-h", "-r", "-o", "%i %T", "-j", &array]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if text.lines().any(|l| l == format!("{task} RUNNING")) || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = Command::new("scancel").arg(&task).output().unwrap();
    assert!(o.status.success(), "scancel {task}: {}", String::from_utf8_lossy(&o.stderr));
    wait_gone(&array, "the array");
    let status: Value = serde_json::from_str(ok(&["cluster", "status", d, "--json"]).trim()).unwrap();
    if status["parts"][1]["state"] == "complete" {
        eprintln!("skipped: task 1 finished before scancel reached it");
        return;
    }
    assert_eq!(status["complete"], 3, "{status}");
    // The merge job waits for an array that can no longer succeed; merging by hand says what is missing.
    assert_fails_in_one_line(&["cluster", "merge", d], "incomplete: part 1 (parts/part-1.jsonl) is missing");

    let resumed: Value = serde_json::from_str(ok(&["cluster", "resume", d, "--json"]).trim()).unwrap();
    assert_eq!(resumed["submitted"], "1", "{resumed}");
    assert_eq!(resumed["cancelled"][0], job["merge_job"], "{resumed}");
    wait_gone(resumed["merge_job"].as_str().unwrap(), "the resumed merge job");
    let merged = std::fs::read_to_string(dir.join("merged.jsonl")).unwrap();
    let mut single = command.clone();
    single.push("--json");
    let one = ok(&single);
    assert_eq!(results(&merged), results(&one), "the resumed job's scores differ from one process's");
    let status: Value = serde_json::from_str(ok(&["cluster", "status", d, "--json"]).trim()).unwrap();
    assert_eq!(status["complete"], 4);
    let again: Value = serde_json::from_str(ok(&["cluster", "resume", d, "--json"]).trim()).unwrap();
    assert!(again["note"].as_str().unwrap().contains("complete and merged: nothing to resubmit"), "{again}");
}

#[test]
fn a_search_through_four_tasks_equals_one_process() {
    let (true, Some(images)) = (have_slurm(), images()) else { return };
    let dir = scratch("cluster-search").join("job");
    let command = [
        "search",
        "--strategy",
        "naswot",
        "--runs",
        "6",
        "--n",
        "3",
        "--batch",
        "16",
        "--images",
        &images,
        "--no-cache",
    ];
    let started = Instant::now();
    let job = submit(&dir, "4", &command);
    wait_gone(job["merge_job"].as_str().unwrap(), "the merge job");
    eprintln!("search job: 4 tasks and the merge in {:.1} s", started.elapsed().as_secs_f64());
    let text = std::fs::read_to_string(dir.join("merged.json"))
        .unwrap_or_else(|e| panic!("no merged.json ({e}); {}", ok(&["cluster", "status", dir.to_str().unwrap()])));
    let mut merged: Value = serde_json::from_str(text.trim()).unwrap();
    let mut single = command.to_vec();
    single.push("--json");
    let mut one: Value = serde_json::from_str(ok(&single).trim()).unwrap();
    // Everything but the wall time.
    merged.as_object_mut().unwrap().remove("seconds");
    one.as_object_mut().unwrap().remove("seconds");
    assert_eq!(merged, one);
    assert_eq!(merged["archs"].as_array().unwrap().len(), 6);
}

#[test]
fn a_correlate_through_four_tasks_equals_one_process() {
    let (true, Some(images)) = (have_slurm(), images()) else { return };
    if !common::have_table() {
        return;
    }
    let dir = scratch("cluster-correlate").join("job");
    let command =
        ["correlate", "--sample", "24", "--proxy", "params,naswot", "--batch", "16", "--images", &images, "--no-cache"];
    let job = submit(&dir, "4", &command);
    assert!(job["script"].as_str().unwrap().contains("--cache"), "each task keeps its scores: {job}");
    wait_gone(job["merge_job"].as_str().unwrap(), "the merge job");
    let text = std::fs::read_to_string(dir.join("merged.json"))
        .unwrap_or_else(|e| panic!("no merged.json ({e}); {}", ok(&["cluster", "status", dir.to_str().unwrap()])));
    let mut merged: Value = serde_json::from_str(text.trim()).unwrap();
    let mut single = command.to_vec();
    single.push("--json");
    let mut one: Value = serde_json::from_str(ok(&single).trim()).unwrap();
    // Everything but the seconds spent computing: the merge computes nothing (0 s).
    for (v, merge) in [(&mut merged, true), (&mut one, false)] {
        for r in v["results"].as_array_mut().unwrap() {
            let seconds = r.as_object_mut().unwrap().remove("seconds_computed").unwrap();
            assert_eq!(seconds.as_f64() == Some(0.0), merge, "{seconds}");
        }
    }
    assert_eq!(merged, one);
}

#[test]
fn a_search_task_cancelled_mid_way_continues_from_its_saved_runs() {
    let (true, Some(images)) = (have_slurm(), images()) else { return };
    let dir = scratch("cluster-search-resume").join("job");
    let d = dir.to_str().unwrap();
    let command = [
        "search",
        "--strategy",
        "naswot",
        "--runs",
        "8",
        "--n",
        "4",
        "--batch",
        "16",
        "--images",
        &images,
        "--no-cache",
        "--checkpoint-seconds",
        "0",
    ];
    let job = submit(&dir, "2", &command);
    let array = job["array_job"].as_str().unwrap().to_string();
    // Cancel task 1 once its state file holds a run (of its 4).
    let state = dir.join("parts/part-1.state.json");
    let saved = || -> usize {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        serde_json::from_str::<Value>(&text).ok().and_then(|v| v["runs"].as_array().map(Vec::len)).unwrap_or(0)
    };
    let start = Instant::now();
    while saved() == 0 && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = Command::new("scancel").arg(format!("{array}_1")).output().unwrap();
    assert!(o.status.success(), "scancel: {}", String::from_utf8_lossy(&o.stderr));
    wait_gone(&array, "the array");
    let kept = saved();
    if kept == 4 {
        eprintln!("skipped: task 1 finished before scancel reached it");
        return;
    }
    assert!(kept >= 1, "the cancelled task saved no run");
    let status: Value = serde_json::from_str(ok(&["cluster", "status", d, "--json"]).trim()).unwrap();
    assert_eq!(status["parts"][1]["state"], "incomplete", "{status}");
    assert_eq!(status["parts"][1]["have"], kept, "{status}");
    assert_fails_in_one_line(&["cluster", "merge", d], &format!("holds {kept} of runs 4..8"));

    let resumed: Value = serde_json::from_str(ok(&["cluster", "resume", d, "--json"]).trim()).unwrap();
    assert_eq!(resumed["submitted"], "1", "{resumed}");
    let new_array = resumed["array_job"].as_str().unwrap().to_string();
    wait_gone(resumed["merge_job"].as_str().unwrap(), "the resumed merge job");
    let log = std::fs::read_to_string(dir.join(format!("logs/task-{new_array}_1.err"))).unwrap();
    assert!(log.contains(&format!("resuming from {kept} completed run(s)")), "{log}");
    let mut merged: Value =
        serde_json::from_str(std::fs::read_to_string(dir.join("merged.json")).unwrap().trim()).unwrap();
    let mut single = command.to_vec();
    single.push("--json");
    let mut one: Value = serde_json::from_str(ok(&single).trim()).unwrap();
    merged.as_object_mut().unwrap().remove("seconds");
    one.as_object_mut().unwrap().remove("seconds");
    assert_eq!(merged, one);
}
