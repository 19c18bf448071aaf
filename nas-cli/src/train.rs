//! `nas train`: trains one architecture on real images with the fast CPU engine
//! (`nas_kernels::train`), with checkpoints that resume bit-identically.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::fmt;

use anyhow::Context;
use clap::{Args, ValueEnum};
use nas_core::SearchSpace;
use nas_kernels::cpu::CpuNet;
use nas_kernels::train::{
    self, CheckpointSpec, EpochMetrics, ImageSet, Optimizer, Schedule, TrainConfig, TrainObserver,
};
use nas_spaces::nb201::{Nb201Config, Nb201Space};
use nas_spaces::{DataDir, SpaceId};
use serde::Serialize;

use crate::vocab;

/// The learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleArg {
    /// Cosine annealing to 0 over the run.
    Cosine,
    /// Step decay.
    Step,
    /// A constant rate.
    Constant,
}

/// The optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerArg {
    /// SGD with momentum (Nesterov by default).
    Sgd,
    /// Adam.
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
}

/// `nas train`: the architecture, the images and the recipe.
#[derive(Clone, Debug, Args, Serialize)]
pub struct TrainArgs {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The architecture. NB201: official string, 6-digit ops code or table index.
    #[arg(long)]
    pub arch: String,
    /// The images. Here: the training set, a CIFAR-10 binary file.
    #[arg(long, value_name = "FILE")]
    pub images: PathBuf,
    /// Test images (CIFAR-10 binary layout), evaluated in eval mode after training.
    #[arg(long, value_name = "FILE")]
    pub test_images: Option<PathBuf>,
    /// Train on a seeded half of --images and also report the accuracy on the other half
    /// (the benchmark's cifar10-valid style split).
    #[arg(long)]
    pub valid_split: bool,
    /// Epochs to train.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 5)]
    pub cells: usize,
    /// Seed of every random choice of the command. Here: the initial weights, the data order and the
    /// augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per batch. Here: per training step (the last partial batch of an epoch is kept).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Learning-rate schedule (per step).
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Epochs of linear warm-up before the schedule.
    #[arg(long, default_value_t = 0)]
    pub warmup_epochs: usize,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptimizerArg,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Plain momentum instead of Nesterov's.
    #[arg(long)]
    pub no_nesterov: bool,
    /// Weight decay on every parameter (decoupled for AdamW).
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Clip the gradients' global norm to this (0: no clipping).
    #[arg(long, default_value_t = 5.0)]
    pub clip: f64,
    /// Label smoothing of the cross-entropy.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// No random crop and flip.
    #[arg(long)]
    pub no_augment: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Checkpoint file: resumed from when it exists, written at the end of every epoch.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Per-epoch metrics as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Write the trained weights and running statistics as a safetensors file.
    #[arg(long, value_name = "FILE")]
    pub save_weights: Option<PathBuf>,
    /// An SVG plot. Here: the training loss and accuracy per epoch (and the test accuracy at the end).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// The report of `nas train`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOutcome {
    /// The search space.
    pub space: SpaceId,
    /// The architecture, official string.
    pub arch: String,
    /// The architecture's ops code.
    pub ops: String,
    /// Channels of the first stage (C).
    #[serde(rename = "C")]
    pub channels: usize,
    /// Cells per stage (N).
    #[serde(rename = "N")]
    pub cells: usize,
    /// The seed of the command's random choices.
    pub seed: u64,
    /// Images per batch.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f64,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Worker threads.
    pub threads: usize,
    /// Accuracy on the held-out half with `--valid-split` (percent).
    pub valid_accuracy: Option<f64>,
    /// Images of the held-out half.
    pub valid_images: usize,
    /// The training run's report.
    #[serde(flatten)]
    pub report: train::TrainReport,
}

/// Progress on standard error when it is a terminal; metrics lines when asked.
struct Observer {
    visible: bool,
    metrics: Option<std::fs::File>,
    epochs: usize,
    started: std::time::Instant,
    images: usize,
    batch: usize,
}

impl TrainObserver for Observer {
    fn stop_requested(&self) -> bool {
        crate::interrupt::requested()
    }

    fn on_step(&mut self, epoch: usize, step: usize, steps: usize, loss: f64) -> nas_core::Result<()> {
        self.images += self.batch;
        if self.visible {
            let rate = self.images as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            eprint!("\repoch {epoch}/{} step {step}/{steps} loss {loss:.4} {rate:.0} img/s   ", self.epochs);
            let _ = std::io::stderr().flush();
        }
        Ok(())
    }

    fn on_epoch(&mut self, m: &EpochMetrics) -> nas_core::Result<()> {
        if self.visible {
            eprintln!(
                "\repoch {}/{} loss {:.4} train accuracy {:.2}% {:.0} img/s {:.1} s      ",
                m.epoch, self.epochs, m.train_loss, m.train_accuracy, m.images_per_second, m.seconds
            );
        }
        if let Some(f) = &mut self.metrics {
            let line = serde_json::to_string(m).map_err(|e| nas_core::Error::invalid("metrics", e.to_string()))?;
            writeln!(f, "{line}").map_err(|e| nas_core::Error::invalid("metrics file", e.to_string()))?;
        }
        self.started = std::time::Instant::now();
        self.images = 0;
        Ok(())
    }
}

impl TrainArgs {
    /// `nas train --arch ARCH --images IMAGES` with every other option at its default, for the
    /// experiments that train architectures as `nas train` does.
    pub fn recipe(arch: &str, images: &Path) -> anyhow::Result<TrainArgs> {
        vocab::parse(&["--arch", arch, "--images", &images.to_string_lossy()])
    }
}

/// One standalone training of a cell in a study: `nas train`'s recipe at these sizes, kept in a
/// state directory under a name made of its ops code and settings (see [`cached_run`]).
#[derive(Clone, Copy, Debug)]
pub struct CellTraining<'a> {
    /// The cell's ops code (or any `--arch` spelling).
    pub ops: &'a str,
    /// The training images.
    pub images: &'a Path,
    /// Test images evaluated after training, when given.
    pub test_images: Option<&'a Path>,
    /// Epochs.
    pub epochs: usize,
    /// Channels of the first stage.
    pub channels: usize,
    /// Cells per stage.
    pub cells: usize,
    /// Images per batch.
    pub batch: usize,
    /// The training seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: Option<usize>,
}

impl CellTraining<'_> {
    /// Its name in a state directory.
    pub fn name(&self) -> String {
        format!("{}-C{}-N{}-e{}-b{}-seed{}", self.ops, self.channels, self.cells, self.epochs, self.batch, self.seed)
    }

    /// Trains it (resumed from its checkpoint in `dir`, or read back from its result there) and
    /// keeps what `keep` makes of the outcome and the trained network as `NAME.RESULT`.
    pub fn cached<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        dir: Option<&Path>,
        result: &str,
        max_bytes: u64,
        data: &DataDir,
        keep: impl FnOnce(TrainOutcome, CpuNet) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        cached_run(dir, &self.name(), result, max_bytes, |checkpoint| {
            let mut args = TrainArgs::recipe(self.ops, self.images)?;
            args.epochs = self.epochs;
            args.channels = self.channels;
            args.cells = self.cells;
            args.batch = self.batch;
            args.seed = self.seed;
            args.threads = self.threads;
            args.test_images = self.test_images.map(Path::to_path_buf);
            args.checkpoint = checkpoint;
            let (outcome, net) = run_with_network(&args, data)?;
            keep(outcome, net)
        })
    }
}

/// A training run kept in a state directory (created when missing; none: always run):
/// `DIR/NAME.RESULT` holds its result once it has ended and is read back instead of training again
/// (at most `max_bytes`); `DIR/NAME.ckpt`, handed to `run`, is its checkpoint while it runs and is
/// removed once the result is written.
pub fn cached_run<T: Serialize + serde::de::DeserializeOwned>(
    dir: Option<&Path>,
    name: &str,
    result: &str,
    max_bytes: u64,
    run: impl FnOnce(Option<PathBuf>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let Some(dir) = dir else { return run(None) };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let path = dir.join(format!("{name}.{result}"));
    if path.exists() {
        let text = nas_core::fsio::read_text_bounded(&path, max_bytes)?;
        return serde_json::from_str(&text)
            .with_context(|| format!("the run result {} is damaged; delete it", path.display()));
    }
    let checkpoint = dir.join(format!("{name}.ckpt"));
    let value = run(Some(checkpoint.clone()))?;
    nas_core::fsio::write_atomic(&path, &serde_json::to_vec(&value)?)?;
    // The result replaces the checkpoint.
    let _ = std::fs::remove_file(&checkpoint);
    Ok(value)
}

/// Trains one architecture and evaluates it.
pub fn run(args: &TrainArgs, data: &DataDir) -> anyhow::Result<TrainOutcome> {
    run_with_network(args, data).map(|(outcome, _)| outcome)
}

/// [`run`], also handing back the trained network.
pub fn run_with_network(args: &TrainArgs, data: &DataDir) -> anyhow::Result<(TrainOutcome, CpuNet)> {
    args.space.require("nas train", &[SpaceId::Nb201])?;
    let config =
        Nb201Config { channels: args.channels, cells_per_stage: args.cells, ..Nb201Config::for_dataset("cifar10")? };
    let space = Nb201Space::new(config);
    let genotype = SpaceId::Nb201.parse_arch(&args.arch, data)?;
    let network = space.to_network(&genotype)?;
    let arch = space.format(&genotype);
    let classes = config.num_classes;
    let images = ImageSet::read_cifar10(&args.images, classes)?;
    let (train_set, valid_set) = if args.valid_split {
        let (a, b) = images.split_half(args.seed);
        (a, Some(b))
    } else {
        (images, None)
    };
    let test_set = args.test_images.as_deref().map(|p| ImageSet::read_cifar10(p, classes)).transpose()?;
    let optimizer = match args.optimizer {
        OptimizerArg::Sgd => Optimizer::Sgd { momentum: args.momentum, nesterov: !args.no_nesterov },
        OptimizerArg::Adam => Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        OptimizerArg::Adamw => Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    };
    let schedule = match args.schedule {
        ScheduleArg::Cosine => Schedule::Cosine,
        ScheduleArg::Step => Schedule::Step,
        ScheduleArg::Constant => Schedule::Constant,
    };
    if args.clip.is_nan() || args.clip < 0.0 {
        anyhow::bail!("invalid --clip {}: it must be >= 0 (0: no clipping)", args.clip);
    }
    let recipe = TrainConfig {
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        schedule,
        warmup_epochs: args.warmup_epochs,
        optimizer,
        weight_decay: args.weight_decay,
        clip_norm: (args.clip > 0.0).then_some(args.clip),
        label_smoothing: args.label_smoothing,
        augment_pad: (!args.no_augment).then_some(4),
        bn_momentum: 0.1,
        seed: args.seed,
    };
    recipe.validate(train_set.len())?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let resuming = args.checkpoint.as_deref().is_some_and(|p| p.exists());
    let metrics = match &args.metrics {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(resuming)
                .write(true)
                .truncate(!resuming)
                .open(p)
                .with_context(|| format!("cannot open the metrics file {}", p.display()))?,
        ),
        None => None,
    };
    let mut observer = Observer {
        visible: std::io::stderr().is_terminal(),
        metrics,
        epochs: args.epochs,
        started: std::time::Instant::now(),
        images: 0,
        batch: args.batch,
    };
    let label = format!("nb201 {arch} C={} N={} classes={classes}", args.channels, args.cells);
    let spec = args.checkpoint.as_deref().map(|path| CheckpointSpec { path, label: &label });
    let cooperating = crate::interrupt::Cooperation::begin();
    let (report, mut net) =
        train::train(&network, &recipe, &train_set, test_set.as_ref(), spec, threads, &mut observer)?;
    drop(cooperating);
    let valid_accuracy = valid_set.as_ref().map(|v| train::evaluate(&mut net, v)).transpose()?;
    if let Some(p) = &args.save_weights {
        train::save_safetensors(&net, p)?;
    }
    if let Some(p) = &args.plot {
        let svg = curves_svg(&Nb201Space::ops_code(&genotype), args, &report);
        nas_core::fsio::write_atomic(p, svg.as_bytes())
            .with_context(|| format!("cannot write the plot {}", p.display()))?;
    }
    let outcome = TrainOutcome {
        space: SpaceId::Nb201,
        ops: Nb201Space::ops_code(&genotype),
        arch,
        channels: args.channels,
        cells: args.cells,
        seed: args.seed,
        batch: args.batch,
        lr: args.lr,
        schedule,
        threads,
        valid_accuracy,
        valid_images: valid_set.as_ref().map_or(0, ImageSet::len),
        report,
    };
    Ok((outcome, net))
}

/// The loss and the accuracies against epochs.
fn curves_svg(ops: &str, args: &TrainArgs, report: &train::TrainReport) -> String {
    let epochs =
        |f: fn(&EpochMetrics) -> f64| report.history.iter().map(|m| (m.epoch as f64, f(m))).collect::<Vec<_>>();
    let subtitle = format!("NB201 ops {ops}, C={} N={}, seed {}", args.channels, args.cells, args.seed);
    let mut accuracy = vec![("train".to_string(), epochs(|m| m.train_accuracy))];
    if let Some(t) = report.test_accuracy {
        accuracy.push((format!("test {t:.2}% at the end"), vec![(report.epochs as f64, t)]));
    }
    crate::plot::lines_svg(&[
        crate::plot::Lines {
            title: "training loss".into(),
            subtitle: subtitle.clone(),
            x_label: "epoch".into(),
            y_label: "cross-entropy (mean over the epoch)".into(),
            series: vec![("train".into(), epochs(|m| m.train_loss))],
        },
        crate::plot::Lines {
            title: "accuracy".into(),
            subtitle,
            x_label: "epoch".into(),
            y_label: "accuracy (%)".into(),
            series: accuracy,
        },
    ])
}

impl fmt::Display for TrainOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = &self.report;
        writeln!(
            f,
            "{} (C={}, N={}, {} parameters), seed {}",
            self.arch, self.channels, self.cells, report.params, self.seed
        )?;
        if let Some(e) = report.resumed_from_epoch {
            writeln!(f, "resumed from the checkpoint after epoch {e}")?;
        }
        for m in &report.history {
            writeln!(
                f,
                "epoch {:>3}: loss {:.4}, train accuracy {:.2}%, lr {:.5}, {:.1} s, {:.0} img/s",
                m.epoch, m.train_loss, m.train_accuracy, m.lr, m.seconds, m.images_per_second
            )?;
        }
        if let Some(v) = self.valid_accuracy {
            writeln!(f, "valid accuracy {v:.2}% ({} images)", self.valid_images)?;
        }
        if let Some(t) = report.test_accuracy {
            writeln!(f, "test accuracy {t:.2}% ({} images)", report.test_images)?;
        }
        writeln!(
            f,
            "{:.0} training images/s, {:.1} s in all ({} threads)",
            report.images_per_second, report.seconds, self.threads
        )
    }
}
