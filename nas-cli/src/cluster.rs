//! `nas cluster`: a `nas score`, `nas search` or `nas correlate` split over the tasks of a Slurm job
//! array, and the lossless merge of the tasks' parts.
//!
//! `submit` parses the command after `--` with the same definitions as the `nas` binary, works out
//! each task's share (score: architectures `i, i+N, ...` of the command's list, exactly `--shard
//! i/N`; search: a contiguous block of runs, `--runs-range a..b`, each run drawing from its own
//! stream of the seeded generator so that its result does not depend on the split; correlate: its
//! sample scored as by `nas score`, each task with a cache file of its own), writes the job
//! directory and submits two jobs with `sbatch --parsable`: the array, and a merge job that runs
//! `nas cluster merge DIR` once every task has succeeded (`--dependency=afterok:<array>`).
//!
//! The job directory holds:
//! - `manifest.json` ([`Manifest`], written atomically): the command, the tasks' share and what each
//!   part must contain (its architectures or its runs), the jobs submitted;
//! - `task.sbatch` and `merge.sbatch`: the scripts, plain text to read or submit by hand;
//! - `parts/`: one file per task. A score task writes `nas score --json` lines to a temporary file
//!   renamed to `part-<i>.jsonl` when the command succeeds; a search task keeps its runs in the state
//!   file `part-<i>.state.json` (`nas search --state`: a task cancelled part-way continues from its
//!   saved runs when it is resubmitted);
//! - `logs/`: each task's standard output and error;
//! - `merged.jsonl` (score: the rows in the order one `nas score --json` prints them) or
//!   `merged.json` (search: the report of `nas search --json`, built from the runs by the same code;
//!   correlate: that of `nas correlate --json`, from the union of the tasks' caches, `cache.jsonl`).
//!
//! Merging is keyed: a score row by (architecture, proxy), a run by its index. A key found twice must
//! agree bit for bit (else an error names it and both files); every key the manifest lists must be
//! there, and nothing else; the result is written atomically. `status` says which parts are complete,
//! incomplete or missing and what Slurm (`squeue`, `sacct` when accounting is on) knows of their
//! tasks; `resume` resubmits only the tasks whose part is not complete and not queued or running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use nas_core::{SearchSpace, fsio};
use nas_kernels::cache::score_json;
use nas_kernels::images::ImageDataset;
use nas_spaces::DataDir;
use serde::{Deserialize, Serialize};

use crate::score::{self, CorrelateConfig, CorrelateReport, ScoreConfig};
use crate::search::{self, PartFile, PartRuns, SearchConfig, SearchReport};
use crate::state::RunOutcome;

/// The manifest's name in the job directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's format and version.
pub const FORMAT: &str = "nas-cluster-manifest/1";
/// The most tasks one array may have.
pub const MAX_TASKS: usize = 10_000;
/// The largest part or manifest file read.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// `nas cluster submit`: the scheduler, the tasks and their resources, and the command to split.
#[derive(Clone, Debug, Args, Serialize)]
pub struct SubmitArgs {
    /// Submit to Slurm with sbatch (the one scheduler supported; required).
    #[arg(long)]
    pub slurm: bool,
    /// Tasks of the job array: the command's work is split into this many parts.
    #[arg(long, default_value_t = 4)]
    pub array: usize,
    /// Slurm partition of the tasks and of the merge job (default: the cluster's default).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each task, in Slurm's forms (e.g. 30, 2:00:00, 1-00:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs of each task.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Memory of each task, in Slurm's forms (e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// The job directory: manifest, scripts, parts, logs and the merged result.
    #[arg(long, value_name = "DIR", default_value = "nas-cluster")]
    pub dir: PathBuf,
    /// Print what would be written and submitted; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The nas command to split, after --: score (--all, --sample, --archs-file or --arch), search or
    /// correlate.
    #[arg(last = true, required = true, value_name = "NAS COMMAND")]
    pub command: Vec<String>,
}

/// `nas cluster status` and `nas cluster merge`: the job directory.
#[derive(Clone, Debug, Args, Serialize)]
pub struct DirArgs {
    /// The job directory of `nas cluster submit`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `nas cluster resume`: the job directory.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ResumeArgs {
    /// The job directory of `nas cluster submit`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print what would be written and submitted; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The commands a cluster job splits, parsed with the `nas` binary's own definitions.
#[derive(Debug, Parser)]
#[command(name = "nas")]
struct Inner {
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: InnerCommand,
}

#[derive(Debug, Subcommand)]
enum InnerCommand {
    Score(InnerWith<ScoreConfig>),
    Search(InnerWith<SearchConfig>),
    Correlate(InnerWith<CorrelateConfig>),
}

#[derive(Debug, Args)]
struct InnerWith<C: Args> {
    #[command(flatten)]
    config: C,
    #[arg(long)]
    json: bool,
}

/// The Slurm resources of the tasks.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: usize,
    /// `--mem`.
    pub mem: Option<String>,
}

/// The work of a cluster job and what each part must contain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Work {
    /// `nas score`: part i scores architectures i, i+N, ... of the list with every proxy.
    Score {
        /// The proxies' names, in the order each architecture is scored with them.
        proxies: Vec<String>,
        /// Per part, its architectures (official strings) in order.
        parts: Vec<Vec<String>>,
    },
    /// `nas correlate`: part i scores architectures i, i+N, ... of the sample as `nas score` does,
    /// keeping the scores in its own cache file; the merge correlates from their union.
    Correlate {
        /// The proxies' names, in the order each architecture is scored with them.
        proxies: Vec<String>,
        /// Per part, its architectures (official strings) in order.
        parts: Vec<Vec<String>>,
    },
    /// `nas search`: part i holds the runs `ranges[i].0 .. ranges[i].1`.
    Search {
        /// The search's runs.
        runs: usize,
        /// Per part, its runs `a..b`.
        ranges: Vec<(usize, usize)>,
    },
}

impl Work {
    /// `score` or `search`.
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Score { .. } => "score",
            Work::Correlate { .. } => "correlate",
            Work::Search { .. } => "search",
        }
    }

    /// Number of parts.
    pub fn parts(&self) -> usize {
        match self {
            Work::Score { parts, .. } | Work::Correlate { parts, .. } => parts.len(),
            Work::Search { ranges, .. } => ranges.len(),
        }
    }

    /// Items (score rows or runs) part `i` must hold.
    pub fn need(&self, i: usize) -> usize {
        match self {
            Work::Score { proxies, parts } | Work::Correlate { proxies, parts } => parts[i].len() * proxies.len(),
            Work::Search { ranges, .. } => ranges[i].1 - ranges[i].0,
        }
    }

    /// Part `i`'s file, relative to the job directory.
    pub fn part_file(&self, i: usize) -> String {
        match self {
            Work::Score { .. } | Work::Correlate { .. } => format!("parts/part-{i}.jsonl"),
            Work::Search { .. } => format!("parts/part-{i}.state.json"),
        }
    }

    /// The merged result's file, relative to the job directory.
    pub fn merged_file(&self) -> &'static str {
        match self {
            Work::Score { .. } => "merged.jsonl",
            Work::Search { .. } | Work::Correlate { .. } => "merged.json",
        }
    }
}

/// One submission: an array of tasks and the merge job that waits for it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    /// The array's job id.
    pub array_job: String,
    /// The tasks submitted, Slurm's `--array` form (e.g. `0-3`, `1,3`).
    pub tasks: String,
    /// The merge job's id.
    pub merge_job: String,
}

/// `manifest.json`: everything a merge checks against.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The nas command, as given after `--`.
    pub command: Vec<String>,
    /// The nas binary the tasks run.
    pub nas: PathBuf,
    /// The tasks' working directory (where the job was submitted; relative paths of the command
    /// are relative to it).
    pub workdir: PathBuf,
    /// The data directory the tasks use (`--data-dir`).
    pub data_dir: PathBuf,
    /// Number of tasks (parts).
    pub tasks: usize,
    /// The tasks' resources.
    pub slurm: SlurmOptions,
    /// The work and what each part must contain.
    pub work: Work,
    /// The jobs submitted, first to last.
    pub jobs: Vec<Submission>,
}

impl Manifest {
    /// Reads `DIR/manifest.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            bail!("{} holds no cluster job: {} is missing (nas cluster submit writes it)", dir.display(), MANIFEST);
        }
        let text = fsio::read_text_bounded(&path, MAX_FILE_BYTES)?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a cluster manifest ({e})", path.display()))?;
        if m.format != FORMAT {
            bail!("{} has format {:?}, expected {FORMAT:?}", path.display(), m.format);
        }
        if m.work.parts() != m.tasks {
            bail!("{} lists {} parts for {} tasks", path.display(), m.work.parts(), m.tasks);
        }
        Ok(m)
    }

    /// Writes `DIR/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        fsio::write_atomic(&dir.join(MANIFEST), &bytes)
            .with_context(|| format!("cannot write {}", dir.join(MANIFEST).display()))
    }

    /// The array script: each task runs the command on its share and writes its part.
    pub fn task_script(&self, dir: &Path) -> String {
        let n = self.tasks;
        let mut s = self.header(&format!("nas-{}", self.work.kind()));
        s.push_str(&format!("#SBATCH --array=0-{}\n", n - 1));
        s.push_str(&format!("#SBATCH --output={}/logs/task-%A_%a.out\n", dir.display()));
        s.push_str(&format!("#SBATCH --error={}/logs/task-%A_%a.err\n", dir.display()));
        s.push_str(&format!(
            "# Written by nas cluster submit: part i of {n} of `nas {}`.\n\
             # The share comes from SLURM_ARRAY_TASK_ID and the manifest's {n} parts (not from\n\
             # SLURM_ARRAY_TASK_COUNT, which is smaller when nas cluster resume resubmits some tasks).\n\
             set -euo pipefail\n\
             i=${{SLURM_ARRAY_TASK_ID:?not a Slurm array task}}\n\
             n={n}\n",
            self.command.join(" ")
        ));
        let base = self.base_command();
        let dir_q = quote(&dir.display().to_string());
        match &self.work {
            Work::Score { .. } | Work::Correlate { .. } => {
                let cache = match &self.work {
                    Work::Correlate { .. } => format!(" --cache {dir_q}/parts/cache-$i.jsonl"),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "part={dir_q}/parts/part-$i.jsonl\n\
                     tmp=\"$part.tmp.${{SLURM_JOB_ID:-$$}}\"\n\
                     {base}{cache} --shard \"$i/$n\" --json > \"$tmp\"\n\
                     mv -f \"$tmp\" \"$part\"\n"
                ));
            }
            Work::Search { ranges, .. } => {
                s.push_str("case \"$i\" in\n");
                for (i, (a, b)) in ranges.iter().enumerate() {
                    s.push_str(&format!("  {i}) range={a}..{b} ;;\n"));
                }
                s.push_str("  *) echo \"no part $i in the manifest\" >&2; exit 2 ;;\nesac\n");
                s.push_str(&format!(
                    "{base} --runs-range \"$range\" --state {dir_q}/parts/part-$i.state.json --json\n"
                ));
            }
        }
        s
    }

    /// The merge job's script.
    pub fn merge_script(&self, dir: &Path) -> String {
        let mut s = self.header("nas-merge");
        s.push_str(&format!("#SBATCH --output={}/logs/merge-%j.out\n", dir.display()));
        s.push_str("# Written by nas cluster submit: merges the parts once every task has succeeded.\n");
        s.push_str(&format!(
            "exec {} --data-dir {} cluster merge {}\n",
            quote(&self.nas.display().to_string()),
            quote(&self.data_dir.display().to_string()),
            quote(&dir.display().to_string())
        ));
        s
    }

    fn header(&self, name: &str) -> String {
        let mut s = format!("#!/bin/bash\n#SBATCH --job-name={name}\n#SBATCH --chdir={}\n", self.workdir.display());
        if let Some(p) = &self.slurm.partition {
            s.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        if let Some(t) = &self.slurm.time {
            s.push_str(&format!("#SBATCH --time={t}\n"));
        }
        s.push_str(&format!("#SBATCH --cpus-per-task={}\n", self.slurm.cpus_per_task));
        if let Some(m) = &self.slurm.mem {
            s.push_str(&format!("#SBATCH --mem={m}\n"));
        }
        s
    }

    /// The command line every task runs, before its share.
    fn base_command(&self) -> String {
        let mut words = vec![self.nas.display().to_string()];
        let inner = parse_inner(&self.command).ok();
        if inner.as_ref().is_none_or(|i| i.data_dir.is_none()) {
            words.push("--data-dir".into());
            words.push(self.data_dir.display().to_string());
        }
        let json = match inner.map(|i| i.command) {
            Some(InnerCommand::Correlate(c)) => {
                words.extend(correlate_scores(&c.config));
                false
            }
            Some(InnerCommand::Score(c)) => {
                words.extend(self.command.iter().cloned());
                c.json
            }
            Some(InnerCommand::Search(c)) => {
                words.extend(self.command.iter().cloned());
                c.json
            }
            None => false,
        };
        let mut line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        if json {
            // The task adds its own --json.
            if let Some(p) = line.iter().rposition(|w| w == "--json") {
                line.remove(p);
            }
        }
        line.join(" ")
    }
}

/// A word for the shell: as it is when it is safe, else in single quotes.
fn quote(word: &str) -> String {
    let safe = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Clap's message on one line.
fn clap_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:"))
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

fn parse_inner(command: &[String]) -> anyhow::Result<Inner> {
    Inner::try_parse_from(std::iter::once("nas".to_string()).chain(command.iter().cloned())).map_err(|e| {
        if e.kind() == clap::error::ErrorKind::InvalidSubcommand {
            let word = command.iter().find(|w| !w.starts_with('-')).map_or("", String::as_str);
            anyhow::anyhow!("nas cluster splits `nas score`, `nas search` and `nas correlate`, not `nas {word}`")
        } else {
            anyhow::anyhow!("the nas command after --: {}", clap_line(&e))
        }
    })
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// What `submit` (or `resume`) did or would do.
#[derive(Clone, Debug, Serialize)]
pub struct SubmitReport {
    /// The job directory.
    pub dir: PathBuf,
    /// `score` or `search`.
    pub kind: &'static str,
    /// Tasks of the job (parts).
    pub tasks: usize,
    /// The tasks submitted now, Slurm's `--array` form (empty when none).
    pub submitted: String,
    /// Whether nothing was written or submitted.
    pub dry_run: bool,
    /// The sbatch command lines, in order.
    pub commands: Vec<String>,
    /// The array script.
    pub script: String,
    /// The merge job's script.
    pub merge_script: String,
    /// The array's job id (none in a dry run).
    pub array_job: Option<String>,
    /// The merge job's id (none in a dry run).
    pub merge_job: Option<String>,
    /// Merge jobs of earlier submissions cancelled (their array lost a task, so they never start).
    pub cancelled: Vec<String>,
    /// What happened, when nothing was submitted.
    pub note: Option<String>,
}

impl fmt::Display for SubmitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = &self.note {
            writeln!(f, "{note}")?;
        }
        if self.commands.is_empty() {
            if !self.cancelled.is_empty() {
                writeln!(f, "cancelled the stale merge job(s) {}", self.cancelled.join(", "))?;
            }
            return Ok(());
        }
        if self.dry_run {
            writeln!(
                f,
                "# dry run: nothing written or submitted; {} would hold {MANIFEST}, task.sbatch and merge.sbatch",
                self.dir.display()
            )?;
            writeln!(f, "$ {}", self.commands[0])?;
            writeln!(f, "--- {}", self.dir.join("task.sbatch").display())?;
            write!(f, "{}", self.script)?;
            writeln!(f, "$ {}", self.commands[1])?;
            writeln!(f, "--- {}", self.dir.join("merge.sbatch").display())?;
            write!(f, "{}", self.merge_script)?;
        } else {
            let array = self.array_job.as_deref().unwrap_or("?");
            let merge = self.merge_job.as_deref().unwrap_or("?");
            writeln!(
                f,
                "submitted {} {} task(s) {} as job {array}; merge job {merge} runs after them (afterok)",
                self.kind, self.tasks, self.submitted
            )?;
            if !self.cancelled.is_empty() {
                writeln!(f, "cancelled the stale merge job(s) {}", self.cancelled.join(", "))?;
            }
            writeln!(f, "follow: nas cluster status {}", self.dir.display())?;
        }
        Ok(())
    }
}

/// `nas cluster submit`: writes the job directory and submits the array and its merge job.
pub fn submit(args: &SubmitArgs, data: &DataDir) -> anyhow::Result<SubmitReport> {
    if !args.slurm {
        bail!("nas cluster submit needs --slurm (the one scheduler supported)");
    }
    if args.array == 0 || args.array > MAX_TASKS {
        bail!("invalid --array {}: give 1 to {MAX_TASKS} tasks", args.array);
    }
    if args.cpus_per_task == 0 {
        bail!("invalid --cpus-per-task 0: give at least 1");
    }
    let dir = absolute(&args.dir)?;
    let workdir = std::env::current_dir().context("cannot read the working directory")?;
    for (what, path) in [("--dir", &dir), ("the working directory", &workdir)] {
        if path.to_string_lossy().chars().any(char::is_whitespace) {
            bail!("{what} {:?} holds whitespace, which #SBATCH lines cannot hold; use a path without", path.display());
        }
    }
    if dir.join(MANIFEST).exists() {
        bail!(
            "--dir {} already holds a cluster job ({MANIFEST}); resume it with nas cluster resume {0} or give another --dir",
            dir.display()
        );
    }
    // The command may be written with the program's name (`-- nas score ...`, as the issue and a
    // shell history show it) or without (`-- score ...`); the manifest keeps it without.
    let command: Vec<String> = match args.command.split_first() {
        Some((first, rest)) if Path::new(first).file_name().is_some_and(|n| n == "nas") => rest.to_vec(),
        _ => args.command.clone(),
    };
    let inner = parse_inner(&command)?;
    let data_dir = match &inner.data_dir {
        Some(d) => absolute(d)?,
        None => absolute(&data.path)?,
    };
    let n = args.array;
    let work = match &inner.command {
        InnerCommand::Score(c) => score_work(&c.config, &DataDir { path: data_dir.clone(), source: data.source }, n)?,
        InnerCommand::Search(c) => search_work(&c.config, n)?,
        InnerCommand::Correlate(c) => correlate_work(&c.config, n)?,
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        command,
        nas: std::env::current_exe().context("cannot find the nas binary")?,
        workdir,
        data_dir,
        tasks: n,
        slurm: SlurmOptions {
            partition: args.partition.clone(),
            time: args.time.clone(),
            cpus_per_task: args.cpus_per_task,
            mem: args.mem.clone(),
        },
        work,
        jobs: Vec::new(),
    };
    let all = format!("0-{}", n - 1);
    submit_tasks(manifest, &dir, &all, &[], args.dry_run, true)
}

fn score_work(config: &ScoreConfig, data: &DataDir, n: usize) -> anyhow::Result<Work> {
    if let Some(s) = &config.shard {
        bail!("the nas command has --shard {s}: nas cluster gives each task its shard");
    }
    let genotypes = score::architectures(config, data)?;
    if genotypes.len() < n {
        bail!("invalid --array {n}: the command scores only {} architecture(s)", genotypes.len());
    }
    let space = config.scoring.space.space();
    let archs: Vec<String> = genotypes.iter().map(|g| space.format(g)).collect();
    let parts = (0..n).map(|i| score::shard_of(archs.clone(), &format!("{i}/{n}"))).collect::<anyhow::Result<_>>()?;
    Ok(Work::Score { proxies: config.proxy.iter().map(|p| p.name().to_string()).collect(), parts })
}

/// The `nas score` command a correlate task runs: the correlate's sample, proxies and images.
fn correlate_scores(config: &CorrelateConfig) -> Vec<String> {
    let source = &config.scoring.source;
    let proxies: Vec<&str> = config.proxy.iter().map(|p| p.name()).collect();
    let mut words = vec![
        "score".to_string(),
        "--space".into(),
        config.scoring.space.to_string(),
        "--proxy".into(),
        proxies.join(","),
        "--sample".into(),
        config.sample.to_string(),
        "--seed".into(),
        config.seed.to_string(),
        "--batch".into(),
        source.batch.to_string(),
        "--init-seed".into(),
        source.init_seed.to_string(),
    ];
    if let Some(images) = &source.images {
        words.push("--images".into());
        words.push(images.display().to_string());
    }
    words
}

fn correlate_work(config: &CorrelateConfig, n: usize) -> anyhow::Result<Work> {
    config.scoring.space.require("nas cluster submit -- correlate", &[nas_spaces::SpaceId::Nb201])?;
    if config.scoring.source.images.is_none() && score::images_of(config.dataset) != ImageDataset::Cifar10 {
        bail!("correlate --dataset {} on a cluster needs --images (the synthetic batch is CIFAR-10's)", config.dataset);
    }
    if config.sample < n {
        bail!("invalid --array {n}: the command scores only {} architecture(s)", config.sample);
    }
    let space = nas_spaces::Nb201Space::default();
    let archs: Vec<String> =
        score::sample_distinct(&space, config.sample, config.seed)?.iter().map(|g| space.format(g)).collect();
    let parts = (0..n).map(|i| score::shard_of(archs.clone(), &format!("{i}/{n}"))).collect::<anyhow::Result<_>>()?;
    Ok(Work::Correlate { proxies: config.proxy.iter().map(|p| p.name().to_string()).collect(), parts })
}

fn search_work(config: &SearchConfig, n: usize) -> anyhow::Result<Work> {
    if let Some(s) = &config.state {
        bail!("the nas command has --state {}: nas cluster keeps each part's state in the job directory", s.display());
    }
    if let Some(r) = &config.runs_range {
        bail!("the nas command has --runs-range {r}: nas cluster gives each task its runs");
    }
    let runs = config.run_count();
    if runs == 0 || runs > search::MAX_RUNS {
        bail!("invalid --runs {runs}: give 1 to {} runs", search::MAX_RUNS);
    }
    if runs < n {
        bail!("invalid --array {n}: the search has only {runs} run(s) (--runs); give at most {runs} tasks");
    }
    Ok(Work::Search { runs, ranges: (0..n).map(|i| (i * runs / n, (i + 1) * runs / n)).collect() })
}

/// Writes the scripts and manifest and submits `tasks` (Slurm's `--array` form), then the merge job
/// after them (and after the still running `waiting` jobs).
fn submit_tasks(
    mut manifest: Manifest,
    dir: &Path,
    tasks: &str,
    waiting: &[String],
    dry_run: bool,
    fresh: bool,
) -> anyhow::Result<SubmitReport> {
    let task_path = dir.join("task.sbatch");
    let merge_path = dir.join("merge.sbatch");
    let script = manifest.task_script(dir);
    let merge_script = manifest.merge_script(dir);
    let mut array_cmd = vec!["sbatch".to_string(), "--parsable".into()];
    if !fresh {
        array_cmd.push(format!("--array={tasks}"));
    }
    array_cmd.push(task_path.display().to_string());
    let dependency = |array: &str| {
        let mut d = format!("--dependency=afterok:{array}");
        if !waiting.is_empty() {
            d.push_str(&format!(",afterany:{}", waiting.join(":")));
        }
        d
    };
    let merge_cmd = |array: &str| {
        vec!["sbatch".to_string(), "--parsable".into(), dependency(array), merge_path.display().to_string()]
    };
    let mut report = SubmitReport {
        dir: dir.to_path_buf(),
        kind: manifest.work.kind(),
        tasks: manifest.tasks,
        submitted: tasks.to_string(),
        dry_run,
        // As a shell would run them: the array's id in $array.
        commands: vec![
            format!("array=$({})", array_cmd.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")),
            merge_cmd("$array")
                .iter()
                .map(|w| if w.contains("$array") { w.clone() } else { quote(w) })
                .collect::<Vec<_>>()
                .join(" "),
        ],
        script,
        merge_script,
        array_job: None,
        merge_job: None,
        cancelled: Vec::new(),
        note: None,
    };
    if dry_run {
        return Ok(report);
    }
    for sub in ["parts", "logs"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    fsio::write_atomic(&task_path, report.script.as_bytes())
        .with_context(|| format!("cannot write {}", task_path.display()))?;
    fsio::write_atomic(&merge_path, report.merge_script.as_bytes())
        .with_context(|| format!("cannot write {}", merge_path.display()))?;
    manifest.write(dir)?;
    let array = sbatch(&array_cmd)?;
    // Recorded at once: a resume must know of these tasks even if the merge job cannot be submitted.
    manifest.jobs.push(Submission { array_job: array.clone(), tasks: tasks.to_string(), merge_job: String::new() });
    manifest.write(dir)?;
    let merge = sbatch(&merge_cmd(&array)).with_context(|| {
        format!(
            "array job {array} (tasks {tasks}) was submitted, but not its merge job; run nas cluster merge {} once it ends",
            dir.display()
        )
    })?;
    report.commands[0] = array_cmd.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    report.commands[1] = merge_cmd(&array).iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    if let Some(last) = manifest.jobs.last_mut() {
        last.merge_job = merge.clone();
    }
    manifest.write(dir)?;
    report.array_job = Some(array);
    report.merge_job = Some(merge);
    Ok(report)
}

/// Runs `sbatch --parsable ...` and returns the job id.
fn sbatch(command: &[String]) -> anyhow::Result<String> {
    let out = Command::new(&command[0])
        .args(&command[1..])
        .output()
        .with_context(|| format!("cannot run {} (is Slurm installed and on PATH?)", command[0]))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            command.join(" "),
            out.status,
            stderr.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{} printed no job id: {:?}", command.join(" "), stdout.trim());
    }
    Ok(id)
}

/// What Slurm says of the jobs: per array task index, the latest job's state; per job id, its state.
#[derive(Debug, Default)]
struct SlurmView {
    tasks: BTreeMap<usize, String>,
    jobs: BTreeMap<String, String>,
    /// Per job id, why it is pending (e.g. `DependencyNeverSatisfied`).
    reasons: BTreeMap<String, String>,
    /// Why nothing is known, when the tools are missing.
    note: Option<String>,
}

/// Reads `squeue` (and `sacct`, when accounting is on) for the manifest's jobs.
fn slurm_view(manifest: &Manifest) -> SlurmView {
    let mut view = SlurmView::default();
    if manifest.jobs.is_empty() {
        return view;
    }
    let ids: Vec<&str> = manifest
        .jobs
        .iter()
        .flat_map(|j| [j.array_job.as_str(), j.merge_job.as_str()])
        .filter(|id| !id.is_empty())
        .collect();
    let order: BTreeMap<&str, usize> =
        manifest.jobs.iter().enumerate().map(|(k, j)| (j.array_job.as_str(), k)).collect();
    let mut seen: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    let mut record = |id: &str, state: &str, view: &mut SlurmView| {
        let state = state.split_whitespace().next().unwrap_or(state).to_string();
        match id.split_once('_') {
            Some((job, task)) => {
                if let (Some(&k), Ok(t)) = (order.get(job), task.parse::<usize>())
                    && seen.get(&t).is_none_or(|(old, _)| *old <= k)
                {
                    seen.insert(t, (k, state));
                }
            }
            None => {
                view.jobs.insert(id.to_string(), state);
            }
        }
    };
    // sacct first (finished tasks too, when accounting is on), then squeue (the live states).
    if let Ok(out) = Command::new("sacct").args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &ids.join(",")]).output()
        && out.status.success()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((id, state)) = line.split_once('|') {
                record(id, state, &mut view);
            }
        }
    }
    match Command::new("squeue").args(["-h", "-r", "-o", "%i|%T|%r", "-j", &ids.join(",")]).output() {
        Ok(out) if out.status.success() => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut fields = line.split('|').map(str::trim);
                let (Some(id), Some(state)) = (fields.next(), fields.next()) else { continue };
                record(id, state, &mut view);
                if let Some(reason) = fields.next().filter(|r| !id.contains('_') && !r.is_empty() && *r != "None") {
                    view.reasons.insert(id.to_string(), reason.to_string());
                }
            }
        }
        Ok(out) => {
            // squeue refuses ids it no longer knows: every job has ended.
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.contains("Invalid job id") {
                view.note = Some(format!("squeue: {}", err.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
        Err(e) => view.note = Some(format!("no squeue ({e}): Slurm's view of the tasks is not known")),
    }
    view.tasks = seen.into_iter().map(|(t, (_, s))| (t, s)).collect();
    if view.note.is_none() {
        // Submitted, and neither queued nor known to accounting: ended, how is not known here.
        for t in 0..manifest.tasks {
            if !view.tasks.contains_key(&t) && manifest.jobs.iter().any(|j| task_in(&j.tasks, t)) {
                view.tasks.insert(t, "ended".into());
            }
        }
    }
    view
}

fn live(state: &str) -> bool {
    matches!(state, "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "RESIZING" | "SUSPENDED")
}

/// One part's state.
#[derive(Clone, Debug, Serialize)]
pub struct PartStatus {
    /// The part's index (its array task).
    pub index: usize,
    /// Its file, relative to the job directory.
    pub file: String,
    /// `complete`, `incomplete` (some of its items) or `missing` (no file).
    pub state: &'static str,
    /// Items (score rows, runs) in the file.
    pub have: usize,
    /// Items the part must hold.
    pub need: usize,
    /// The latest state Slurm reports of its task, when it knows one.
    pub slurm: Option<String>,
}

/// The report of `nas cluster status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// The job directory.
    pub dir: PathBuf,
    /// `score` or `search`.
    pub kind: &'static str,
    /// The nas command.
    pub command: String,
    /// Every part.
    pub parts: Vec<PartStatus>,
    /// Parts complete.
    pub complete: usize,
    /// Whether the merged result exists.
    pub merged: bool,
    /// The submissions: array job, tasks, merge job and its state.
    pub jobs: Vec<String>,
    /// Why Slurm's view is missing, if it is.
    pub note: Option<String>,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: nas {} in {} parts, {} complete; merged: {}",
            self.dir.display(),
            self.command,
            self.parts.len(),
            self.complete,
            if self.merged { "yes" } else { "no" }
        )?;
        for j in &self.jobs {
            writeln!(f, "  {j}")?;
        }
        writeln!(f, "{:<5} {:<28} {:<11} {:>12} slurm", "part", "file", "state", "items")?;
        for p in &self.parts {
            writeln!(
                f,
                "{:<5} {:<28} {:<11} {:>12} {}",
                p.index,
                p.file,
                p.state,
                format!("{}/{}", p.have, p.need),
                p.slurm.as_deref().unwrap_or("-")
            )?;
        }
        if let Some(n) = &self.note {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

/// Items each part holds now (score rows, or runs of its state file), `None` where it has no file.
fn part_haves(dir: &Path, manifest: &Manifest, data: &DataDir) -> anyhow::Result<Vec<Option<usize>>> {
    let exists: Vec<bool> = (0..manifest.tasks).map(|i| dir.join(manifest.work.part_file(i)).exists()).collect();
    let counts = match &manifest.work {
        Work::Score { .. } | Work::Correlate { .. } => (0..manifest.tasks)
            .map(|i| if exists[i] { read_rows(&dir.join(manifest.work.part_file(i))).map(|r| r.len()) } else { Ok(0) })
            .collect::<anyhow::Result<Vec<_>>>()?,
        Work::Search { .. } if exists.iter().any(|&e| e) => {
            read_search_parts(dir, manifest, data)?.iter().map(|p| p.runs.len()).collect()
        }
        Work::Search { .. } => vec![0; manifest.tasks],
    };
    Ok(exists.into_iter().zip(counts).map(|(e, c)| e.then_some(c)).collect())
}

/// `nas cluster status`: each part's state and what Slurm knows of its task.
pub fn status(args: &DirArgs, data: &DataDir) -> anyhow::Result<StatusReport> {
    let dir = absolute(&args.dir)?;
    let manifest = Manifest::read(&dir)?;
    let view = slurm_view(&manifest);
    let data = manifest_data(&manifest, data);
    let mut parts = Vec::new();
    for (i, have) in part_haves(&dir, &manifest, &data)?.into_iter().enumerate() {
        let need = manifest.work.need(i);
        let state = match have {
            None => "missing",
            Some(h) if h >= need => "complete",
            Some(_) => "incomplete",
        };
        parts.push(PartStatus {
            index: i,
            file: manifest.work.part_file(i),
            state,
            have: have.unwrap_or(0),
            need,
            slurm: view.tasks.get(&i).cloned(),
        });
    }
    let jobs = manifest
        .jobs
        .iter()
        .map(|j| {
            let merge = match (view.jobs.get(&j.merge_job), view.reasons.get(&j.merge_job)) {
                (Some(s), Some(r)) if r.contains("NeverSatisfied") => {
                    format!(" ({s}, {r}: a task did not succeed; nas cluster resume resubmits it)")
                }
                (Some(s), Some(r)) => format!(" ({s}, {r})"),
                (Some(s), None) => format!(" ({s})"),
                _ => String::new(),
            };
            format!("array job {} tasks {}, merge job {}{merge}", j.array_job, j.tasks, j.merge_job)
        })
        .collect();
    Ok(StatusReport {
        dir: dir.clone(),
        kind: manifest.work.kind(),
        command: manifest.command.join(" "),
        complete: parts.iter().filter(|p| p.state == "complete").count(),
        parts,
        merged: dir.join(manifest.work.merged_file()).exists(),
        jobs,
        note: view.note,
    })
}

/// `nas cluster resume`: resubmits the tasks whose part is not complete and whose task is not
/// queued or running, with a new merge job after them.
pub fn resume(args: &ResumeArgs, data: &DataDir) -> anyhow::Result<SubmitReport> {
    let dir = absolute(&args.dir)?;
    let manifest = Manifest::read(&dir)?;
    let st = status(&DirArgs { dir: dir.clone() }, data)?;
    let view = slurm_view(&manifest);
    let running: Vec<usize> = st
        .parts
        .iter()
        .filter(|p| p.state != "complete" && p.slurm.as_deref().is_some_and(live))
        .map(|p| p.index)
        .collect();
    let missing: Vec<usize> =
        st.parts.iter().filter(|p| p.state != "complete" && !running.contains(&p.index)).map(|p| p.index).collect();
    let empty = |note: String| SubmitReport {
        dir: dir.clone(),
        kind: manifest.work.kind(),
        tasks: manifest.tasks,
        submitted: String::new(),
        dry_run: args.dry_run,
        commands: Vec::new(),
        script: String::new(),
        merge_script: String::new(),
        array_job: None,
        merge_job: None,
        cancelled: Vec::new(),
        note: Some(note),
    };
    let stale: Vec<String> = manifest
        .jobs
        .iter()
        .map(|j| j.merge_job.clone())
        .filter(|m| view.jobs.get(m).is_some_and(|s| live(s)))
        .collect();
    let cancel = |jobs: &[String]| -> anyhow::Result<()> {
        for m in jobs {
            let out = Command::new("scancel").arg(m).output().context("cannot run scancel")?;
            if !out.status.success() {
                bail!("scancel {m} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
        Ok(())
    };
    if missing.is_empty() && !running.is_empty() {
        return Ok(empty(format!("nothing to resubmit: part(s) {} are queued or running", list(&running))));
    }
    if missing.is_empty() {
        if st.merged {
            return Ok(empty(format!("all {} parts are complete and merged: nothing to resubmit", manifest.tasks)));
        }
        // Every part is there, but the merge job cannot start (a task was cancelled after its part
        // was written): merge here.
        if args.dry_run {
            return Ok(empty(format!("all {} parts are complete: would merge them here", manifest.tasks)));
        }
        cancel(&stale)?;
        let merged = merge(&DirArgs { dir: dir.clone() }, data)?;
        let mut report = empty(format!(
            "all {} parts are complete: nothing to resubmit; merged them here -> {}",
            manifest.tasks,
            merged.merged.display()
        ));
        report.cancelled = stale;
        return Ok(report);
    }
    // Tasks still queued or running: the new merge job waits for their jobs too.
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    for j in &manifest.jobs {
        let tasks_live = running.iter().any(|t| view.tasks.get(t).is_some_and(|s| live(s)) && task_in(&j.tasks, *t));
        if tasks_live {
            waiting.insert(j.array_job.clone());
        }
    }
    let tasks = list(&missing);
    let waiting: Vec<String> = waiting.into_iter().collect();
    if !args.dry_run {
        // What a cancelled score task left half-written (its temporary file) goes.
        for &i in &missing {
            let part = dir.join(manifest.work.part_file(i));
            let prefix =
                format!("{}.tmp.", part.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()));
            if let Ok(entries) = std::fs::read_dir(dir.join("parts")) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        cancel(&stale)?;
    }
    let mut report = submit_tasks(manifest, &dir, &tasks, &waiting, args.dry_run, false)?;
    report.cancelled = stale;
    Ok(report)
}

/// Whether task `t` is in Slurm's `--array` form `tasks` (`0-3`, `1,3`, `0-3,7`).
fn task_in(tasks: &str, t: usize) -> bool {
    tasks.split(',').any(|r| match r.split_once('-') {
        Some((a, b)) => a.parse::<usize>().is_ok_and(|a| a <= t) && b.parse::<usize>().is_ok_and(|b| t <= b),
        None => r.parse::<usize>() == Ok(t),
    })
}

fn list(items: &[usize]) -> String {
    items.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// The report of `nas cluster merge`.
#[derive(Clone, Debug, Serialize)]
pub struct MergeReport {
    /// The job directory.
    pub dir: PathBuf,
    /// `score` or `search`.
    pub kind: &'static str,
    /// Parts merged.
    pub parts: usize,
    /// Items merged: score rows, or runs.
    pub items: usize,
    /// Items found in more than one part (each identical, bit for bit).
    pub duplicates: usize,
    /// The merged result.
    pub merged: PathBuf,
    /// The search's report (search jobs): `nas search --json` of the whole command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchReport>,
    /// The correlation's report (correlate jobs): `nas correlate --json` of the whole command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlate: Option<CorrelateReport>,
}

impl fmt::Display for MergeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.kind == "search" { "runs" } else { "score rows" };
        writeln!(
            f,
            "merged {} parts: {} {what}, each exactly once ({} found twice, identical) -> {}",
            self.parts,
            self.items,
            self.duplicates,
            self.merged.display()
        )?;
        if let Some(s) = &self.search {
            write!(f, "{s}")?;
        }
        if let Some(c) = &self.correlate {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// One line of `nas score --json`, as read back from a part (the fields in the same order, so that
/// it is written back unchanged).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row {
    arch: String,
    proxy: String,
    #[serde(with = "score_json")]
    score: f64,
    seconds: f64,
    cached: bool,
    images: String,
    batch: usize,
    init_seed: u64,
}

impl Row {
    /// Whether two rows hold the same result, bit for bit (their wall time and cache use aside).
    fn same(&self, other: &Row) -> bool {
        self.score.to_bits() == other.score.to_bits()
            && self.images == other.images
            && self.batch == other.batch
            && self.init_seed == other.init_seed
    }
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = fsio::read_text_bounded(path, MAX_FILE_BYTES)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: not a line of nas score --json ({e})", path.display(), k + 1))
        })
        .collect()
}

/// The data directory of the tasks (the manifest's), as the command's data.
fn manifest_data(manifest: &Manifest, data: &DataDir) -> DataDir {
    DataDir { path: manifest.data_dir.clone(), source: data.source }
}

/// `nas cluster merge`: checks every part against the manifest and writes the merged result.
pub fn merge(args: &DirArgs, data: &DataDir) -> anyhow::Result<MergeReport> {
    let dir = absolute(&args.dir)?;
    let manifest = Manifest::read(&dir)?;
    let merged = dir.join(manifest.work.merged_file());
    let (mut search, mut correlate) = (None, None);
    let (items, duplicates) = match &manifest.work {
        Work::Score { proxies, parts } => {
            let (bytes, items, duplicates) = merge_scores(&dir, &manifest, proxies, parts)?;
            fsio::write_atomic(&merged, &bytes).with_context(|| format!("cannot write {}", merged.display()))?;
            (items, duplicates)
        }
        Work::Correlate { proxies, parts } => {
            let (bytes, items, duplicates) = merge_scores(&dir, &manifest, proxies, parts)?;
            let scores = dir.join("scores.jsonl");
            fsio::write_atomic(&scores, &bytes).with_context(|| format!("cannot write {}", scores.display()))?;
            // The parts' caches, concatenated (the cache format allows a repeated header), serve
            // every score of the correlation: nothing is computed again.
            let mut cache = Vec::new();
            for i in 0..parts.len() {
                let part = dir.join(format!("parts/cache-{i}.jsonl"));
                if part.exists() {
                    cache.extend(fsio::read_bounded(&part, MAX_FILE_BYTES)?);
                    if !cache.ends_with(b"\n") {
                        cache.push(b'\n');
                    }
                }
            }
            let cache_path = dir.join("cache.jsonl");
            fsio::write_atomic(&cache_path, &cache)
                .with_context(|| format!("cannot write {}", cache_path.display()))?;
            let mut config = match parse_inner(&manifest.command)?.command {
                InnerCommand::Correlate(c) => c.config,
                _ => bail!("the manifest's command is not a correlate"),
            };
            config.scoring.source.cache = Some(cache_path);
            config.scoring.source.no_cache = false;
            let report = score::correlate(&config, &manifest_data(&manifest, data))?;
            let mut bytes = serde_json::to_vec(&report)?;
            bytes.push(b'\n');
            fsio::write_atomic(&merged, &bytes).with_context(|| format!("cannot write {}", merged.display()))?;
            correlate = Some(report);
            (items, duplicates)
        }
        Work::Search { runs, ranges } => {
            let config = search_config(&manifest)?;
            let data = manifest_data(&manifest, data);
            let files = part_files(&dir, &manifest, ranges);
            let mut duplicates = 0;
            let report = search::merge(&config, &data, &files, &mut |parts| {
                let (runs, d) = combine_runs(&dir, *runs, parts)?;
                duplicates = d;
                Ok(runs)
            })?;
            let mut bytes = serde_json::to_vec(&report)?;
            bytes.push(b'\n');
            fsio::write_atomic(&merged, &bytes).with_context(|| format!("cannot write {}", merged.display()))?;
            search = Some(report);
            (*runs, duplicates)
        }
    };
    Ok(MergeReport {
        dir,
        kind: manifest.work.kind(),
        parts: manifest.tasks,
        items,
        duplicates,
        merged,
        search,
        correlate,
    })
}

fn part_files(dir: &Path, manifest: &Manifest, ranges: &[(usize, usize)]) -> Vec<PartFile> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| PartFile { path: dir.join(manifest.work.part_file(i)), range: a..b })
        .collect()
}

fn read_search_parts(dir: &Path, manifest: &Manifest, data: &DataDir) -> anyhow::Result<Vec<PartRuns>> {
    let Work::Search { ranges, .. } = &manifest.work else { bail!("not a search job") };
    let config = search_config(manifest)?;
    let files = part_files(dir, manifest, ranges);
    let mut read = Vec::new();
    // A merge that stops after reading: the parts as they are, complete or not.
    let result = search::merge(&config, data, &files, &mut |parts| {
        read = parts;
        bail!("read only")
    });
    match result {
        Err(_) if read.len() == files.len() => Ok(read),
        Err(e) => Err(e),
        Ok(_) => Ok(read),
    }
}

fn search_config(manifest: &Manifest) -> anyhow::Result<SearchConfig> {
    match parse_inner(&manifest.command)?.command {
        InnerCommand::Search(c) => Ok(c.config),
        _ => bail!("the manifest's command is not a search"),
    }
}

/// The score parts merged: every (architecture, proxy) of the manifest exactly once, in the order
/// one process prints them; the bytes of the merged file, its rows and the duplicates seen.
fn merge_scores(
    dir: &Path,
    manifest: &Manifest,
    proxies: &[String],
    parts: &[Vec<String>],
) -> anyhow::Result<(Vec<u8>, usize, usize)> {
    let expected: BTreeSet<(&str, &str)> =
        parts.iter().flatten().flat_map(|a| proxies.iter().map(move |p| (a.as_str(), p.as_str()))).collect();
    let mut found: BTreeMap<(String, String), (Row, PathBuf)> = BTreeMap::new();
    let mut duplicates = 0;
    let mut absent = Vec::new();
    for i in 0..parts.len() {
        let path = dir.join(manifest.work.part_file(i));
        if !path.exists() {
            absent.push(i);
            continue;
        }
        for row in read_rows(&path)? {
            if !expected.contains(&(row.arch.as_str(), row.proxy.as_str())) {
                bail!(
                    "{} holds architecture {} with proxy {}, which the manifest does not list",
                    path.display(),
                    row.arch,
                    row.proxy
                );
            }
            let key = (row.arch.clone(), row.proxy.clone());
            match found.get(&key) {
                Some((old, old_path)) => {
                    if !old.same(&row) {
                        bail!(
                            "architecture {} proxy {}: {} has score {} ({} images {}, init seed {}), {} has {} ({} images {}, init seed {}): the parts disagree",
                            row.arch,
                            row.proxy,
                            old_path.display(),
                            crate::Score(old.score),
                            old.batch,
                            old.images,
                            old.init_seed,
                            path.display(),
                            crate::Score(row.score),
                            row.batch,
                            row.images,
                            row.init_seed
                        );
                    }
                    duplicates += 1;
                }
                None => {
                    found.insert(key, (row, path.clone()));
                }
            }
        }
    }
    // Missing rows, per part.
    let mut short = Vec::new();
    for (i, archs) in parts.iter().enumerate() {
        if absent.contains(&i) {
            short.push(format!("part {i} ({}) is missing", manifest.work.part_file(i)));
            continue;
        }
        let lacking: Vec<String> = archs
            .iter()
            .flat_map(|a| proxies.iter().map(move |p| (a, p)))
            .filter(|(a, p)| !found.contains_key(&((*a).clone(), (*p).clone())))
            .map(|(a, p)| format!("{a} {p}"))
            .collect();
        if !lacking.is_empty() {
            short.push(format!(
                "part {i} ({}) lacks {} of {} rows (first: {})",
                manifest.work.part_file(i),
                lacking.len(),
                archs.len() * proxies.len(),
                lacking[0]
            ));
        }
    }
    if !short.is_empty() {
        bail!("incomplete: {}; run nas cluster resume {}", short.join("; "), dir.display());
    }
    // One process's order: architecture k of the list is part k % N's k / N-th.
    let n = parts.len();
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut bytes = Vec::new();
    let mut items = 0;
    for k in 0..total {
        let arch = &parts[k % n][k / n];
        for p in proxies {
            let (row, _) = &found[&(arch.clone(), p.clone())];
            serde_json::to_writer(&mut bytes, row)?;
            bytes.push(b'\n');
            items += 1;
        }
    }
    Ok((bytes, items, duplicates))
}

/// The search parts' runs put together: run i exactly once for i in 0..runs; duplicates must agree.
fn combine_runs(dir: &Path, runs: usize, parts: Vec<PartRuns>) -> anyhow::Result<(Vec<RunOutcome>, usize)> {
    let mut found: BTreeMap<usize, (RunOutcome, String, PathBuf)> = BTreeMap::new();
    let mut duplicates = 0;
    let mut short = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if part.runs.len() < part.range.len() {
            let what = if part.path.exists() { "holds" } else { "is missing: it holds" };
            short.push(format!(
                "part {i} ({}) {what} {} of runs {}..{}",
                part.path.display(),
                part.runs.len(),
                part.range.start,
                part.range.end
            ));
        }
        for (k, outcome) in part.runs.into_iter().enumerate() {
            let run = part.range.start + k;
            let text = serde_json::to_string(&outcome)?;
            match found.get(&run) {
                Some((_, old, old_path)) => {
                    if *old != text {
                        bail!(
                            "run {run}: {} and {} disagree (found {} and {}): the parts differ",
                            old_path.display(),
                            part.path.display(),
                            found[&run].0.found,
                            outcome.found
                        );
                    }
                    duplicates += 1;
                }
                None => {
                    found.insert(run, (outcome, text, part.path.clone()));
                }
            }
        }
    }
    if !short.is_empty() {
        bail!("incomplete: {}; run nas cluster resume {}", short.join("; "), dir.display());
    }
    if let Some((&extra, _)) = found.range(runs..).next() {
        bail!("a part holds run {extra}, but the search has {runs} runs");
    }
    if found.len() != runs {
        let lacking: Vec<usize> = (0..runs).filter(|r| !found.contains_key(r)).collect();
        bail!("incomplete: runs {} are in no part; run nas cluster resume {}", list(&lacking), dir.display());
    }
    Ok((found.into_values().map(|(o, _, _)| o).collect(), duplicates))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn outcome(found: &str, score: f64) -> RunOutcome {
        RunOutcome { found: found.into(), evaluations: 3, score: Some(score), curve: vec![(0, 0.0, found.into())] }
    }

    fn part(name: &str, range: std::ops::Range<usize>, runs: Vec<RunOutcome>) -> PartRuns {
        PartRuns { path: PathBuf::from(name), range, runs }
    }

    #[test]
    fn runs_combine_by_index_and_duplicates_must_agree_bit_for_bit() {
        let dir = Path::new("job");
        let parts = || {
            vec![
                part("p0", 0..2, vec![outcome("a", 1.0), outcome("b", 2.0)]),
                part("p1", 2..3, vec![outcome("c", 3.0)]),
                // An overlapping part (an earlier split): run 1 again, identical.
                part("p2", 1..2, vec![outcome("b", 2.0)]),
            ]
        };
        let (runs, duplicates) = combine_runs(dir, 3, parts()).unwrap();
        assert_eq!(runs.iter().map(|r| r.found.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(duplicates, 1);

        let mut bad = parts();
        bad[2].runs[0].score = Some(f64::from_bits(2.0f64.to_bits() + 1));
        let e = combine_runs(dir, 3, bad).unwrap_err().to_string();
        assert!(e.contains("run 1: p0 and p2 disagree"), "{e}");

        let mut short = parts();
        short[1].runs.clear();
        let e = combine_runs(dir, 3, short).unwrap_err().to_string();
        assert!(e.contains("incomplete: part 1 (p1) is missing: it holds 0 of runs 2..3"), "{e}");

        let e = combine_runs(dir, 2, parts()).unwrap_err().to_string();
        assert!(e.contains("holds run 2, but the search has 2 runs"), "{e}");
    }

    #[test]
    fn task_lists_and_shell_words() {
        assert!(task_in("0-3", 2) && task_in("1,3", 3) && !task_in("1,3", 2) && task_in("0-1,7", 7));
        assert_eq!(quote("--shard"), "--shard");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
