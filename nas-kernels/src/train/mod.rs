//! Training any architecture graph on the fast CPU path ([`crate::cpu::CpuNet`]): the pieces
//! ([`optim`], [`loss`], [`data`], [`checkpoint`]) and [`train`], which runs a whole recipe.
//!
//! The candle network is the reference: `tests/training.rs` compares the gradients of the loss with
//! respect to every parameter (conv and linear weights and biases, batch-norm scales and shifts)
//! with candle's autograd on random networks, and a few SGD steps on both paths.
//!
//! A step, as PyTorch's `loss.backward(); clip_grad_norm_(..); opt.step()`: the training-mode
//! forward (batch statistics; the running statistics updated with momentum 0.1 and the unbiased
//! variance, PyTorch's `BatchNorm2d`), cross-entropy, the backward pass, clipping by global norm,
//! the update with the step's learning rate. Evaluation uses the running statistics (eval mode).
//!
//! Determinism: every random draw flows from the seed ([`data`]'s streams, [`crate::net::initial_weights`]),
//! and every reduction runs in a fixed order whatever the number of threads, so the same
//! configuration gives bit-identical weights, and a run resumed from a checkpoint ends with the
//! weights of an uninterrupted one.

pub mod checkpoint;
pub mod data;
pub mod loss;
pub mod optim;

use std::path::Path;
use std::time::Instant;

use nas_core::graph::{Network, Op};
use nas_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::cpu::CpuNet;
pub use checkpoint::Checkpoint;
pub use data::{Batch, ImageSet};
pub use optim::{Optimizer, OptimizerState, Schedule};

/// A training recipe. [`TrainConfig::nb201`] is the benchmark's (shortened) one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to train.
    pub epochs: usize,
    /// Images per step (the last partial batch of an epoch is kept).
    pub batch: usize,
    /// Base learning rate.
    pub lr: f64,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Epochs of linear warm-up before the schedule.
    pub warmup_epochs: usize,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Weight decay on every parameter (PyTorch's `weight_decay`; decoupled for AdamW).
    pub weight_decay: f64,
    /// Clip the gradients' global norm to this (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Label smoothing of the cross-entropy (0: none).
    pub label_smoothing: f64,
    /// Random crop with this padding and horizontal flip (`None`: no augmentation).
    pub augment_pad: Option<usize>,
    /// Batch-norm running-statistics momentum (PyTorch's 0.1).
    pub bn_momentum: f64,
    /// Seed of the initial weights and of the data order and augmentation.
    pub seed: u64,
}

impl TrainConfig {
    /// NB201's recipe for `epochs` epochs: SGD lr 0.1, momentum 0.9, Nesterov, weight decay 5e-4,
    /// cosine per step, clip 5, batch 64, crop 32 pad 4 + flip.
    pub fn nb201(epochs: usize, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch: 64,
            lr: 0.1,
            schedule: Schedule::Cosine,
            warmup_epochs: 0,
            optimizer: Optimizer::NB201_SGD,
            weight_decay: 5e-4,
            clip_norm: Some(5.0),
            label_smoothing: 0.0,
            augment_pad: Some(4),
            bn_momentum: 0.1,
            seed,
        }
    }

    /// Checks every value once (an error names the offending one).
    pub fn validate(&self, train_images: usize) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "0: train at least one epoch"));
        }
        if self.batch == 0 {
            return Err(Error::invalid("batch", "0: a batch holds at least one image"));
        }
        if train_images < self.batch {
            return Err(Error::invalid(
                "training images",
                format!("{train_images} images, fewer than one batch of {}", self.batch),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("learning rate", format!("{}: it must be a positive number", self.lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid("weight decay", format!("{}: it must be >= 0", self.weight_decay)));
        }
        if let Some(c) = self.clip_norm.filter(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(Error::invalid("clip norm", format!("{c}: it must be a positive number")));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::invalid("label smoothing", format!("{}: it must be in [0, 1)", self.label_smoothing)));
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return Err(Error::invalid("batch-norm momentum", format!("{}: it must be in [0, 1]", self.bn_momentum)));
        }
        if self.warmup_epochs >= self.epochs && self.warmup_epochs > 0 {
            return Err(Error::invalid("warm-up", format!("{} epochs of {}", self.warmup_epochs, self.epochs)));
        }
        match self.optimizer {
            Optimizer::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                Err(Error::invalid("momentum", format!("{momentum}: it must be in [0, 1)")))
            }
            Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps }
                if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0) =>
            {
                Err(Error::invalid("adam", format!("betas ({beta1}, {beta2}), eps {eps}")))
            }
            _ => Ok(()),
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's images (each batch's loss weighted by its size).
    pub train_loss: f64,
    /// Percent of training images whose augmented version was classified right.
    pub train_accuracy: f64,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Images trained on in the epoch.
    pub images: usize,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Training throughput of the epoch.
    pub images_per_second: f64,
    /// Variance of the mini-batch gradients over the epoch's steps, per parameter and averaged
    /// over the parameters: `(mean_t |g_t|^2 - |mean_t g_t|^2) / P` of the unclipped gradients (the
    /// weights move during the epoch, as in Shu et al.'s measurement).
    #[serde(default)]
    pub gradient_variance: f64,
}

/// The result of [`train`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainReport {
    /// Epochs trained in all.
    pub epochs: usize,
    /// Optimiser steps in all.
    pub steps: usize,
    /// Training images.
    pub train_images: usize,
    /// The last epoch's.
    pub train_loss: f64,
    /// The last epoch's training accuracy (percent, train mode).
    pub train_accuracy: f64,
    /// Eval-mode accuracy on the test set, percent (when one was given).
    pub test_accuracy: Option<f64>,
    /// Test images evaluated.
    pub test_images: usize,
    /// Mean over epochs of the training images per second (forward, backward and update).
    pub images_per_second: f64,
    /// Wall time of this call (training done here plus evaluation).
    pub seconds: f64,
    /// The epoch the run continued from, when it resumed from a checkpoint.
    pub resumed_from_epoch: Option<usize>,
    /// Trainable parameters.
    pub params: usize,
    /// Metrics of every epoch.
    pub history: Vec<EpochMetrics>,
}

/// Receives progress; every method has a default that does nothing. Returning an error from a
/// method stops the run with that error.
pub trait TrainObserver {
    /// After each step: epoch (1-based), step within the epoch, steps per epoch, the step's loss.
    fn on_step(&mut self, _epoch: usize, _step: usize, _steps: usize, _loss: f64) -> Result<()> {
        Ok(())
    }
    /// After each epoch (and its checkpoint).
    fn on_epoch(&mut self, _metrics: &EpochMetrics) -> Result<()> {
        Ok(())
    }
    /// Asked after each step: `true` stops the run there with [`Error::Interrupted`], after
    /// writing the checkpoint (when there is one) of the epoch so far, which a resumed run continues
    /// from that step to the uninterrupted run's result.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// What a checkpoint written inside an epoch holds besides the completed epochs: where in the
/// epoch it stopped and the epoch's sums so far (the augmentation stream is replayed on resume).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct PartialEpoch {
    batches: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    grad_sum: Vec<Vec<f64>>,
    grad_sq: f64,
    steps: usize,
    seconds: f64,
}

/// An observer that ignores everything.
#[derive(Debug)]
pub struct Silent;
impl TrainObserver for Silent {}

/// Where a run keeps its checkpoint and what identifies the run.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointSpec<'a> {
    /// The checkpoint file.
    pub path: &'a Path,
    /// A description of the network for the key and its error messages (e.g. the arch string and sizes).
    pub label: &'a str,
}

/// Every trainable tensor of the network in a fixed order: per node, the conv or linear weight
/// and bias, then the affine batch norm's scale and shift.
pub fn params_mut(net: &mut CpuNet) -> Vec<&mut Vec<f32>> {
    let mut out = Vec::new();
    for (w, bn) in net.weights.iter_mut().zip(net.bn.iter_mut()) {
        if let Some(init) = w {
            out.push(&mut init.weight);
            if let Some(b) = &mut init.bias {
                out.push(b);
            }
        }
        if let Some(s) = bn.as_mut().filter(|s| s.affine) {
            out.push(&mut s.scale);
            out.push(&mut s.shift);
        }
    }
    out
}

/// `(name, values)` of every trainable tensor, in [`params_mut`]'s order, with PyTorch-like names.
pub fn named_params(net: &CpuNet) -> Vec<(String, &[f32])> {
    let mut out = Vec::new();
    for ((id, w), bn) in net.net.node_ids().zip(&net.weights).zip(&net.bn) {
        let name = &net.net.node(id).name;
        if let Some(init) = w {
            out.push((format!("{name}.weight"), init.weight.as_slice()));
            if let Some(b) = &init.bias {
                out.push((format!("{name}.bias"), b.as_slice()));
            }
        }
        if let Some(s) = bn.as_ref().filter(|s| s.affine) {
            out.push((format!("{name}.weight"), s.scale.as_slice()));
            out.push((format!("{name}.bias"), s.shift.as_slice()));
        }
    }
    out
}

/// The gradient of every tensor of [`params_mut`], in its order: zero for a tensor the loss does
/// not depend on (PyTorch's zero gradient through `x * 0`).
pub fn param_grads(net: &CpuNet, grads: crate::cpu::Gradients) -> Vec<Vec<f32>> {
    let n = net.net.len();
    let mut dw: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut db: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut dbn: Vec<Option<(Vec<f32>, Vec<f32>)>> = vec![None; n];
    for (id, _, g) in grads.weights {
        dw[id.index()] = Some(g);
    }
    for (id, g) in grads.biases {
        db[id.index()] = Some(g);
    }
    for (id, s, t) in grads.batch_norms {
        dbn[id.index()] = Some((s, t));
    }
    let mut out = Vec::new();
    for (i, (w, bn)) in net.weights.iter().zip(&net.bn).enumerate() {
        if let Some(init) = w {
            out.push(dw[i].take().unwrap_or_else(|| vec![0.0; init.weight.len()]));
            if let Some(b) = &init.bias {
                out.push(db[i].take().unwrap_or_else(|| vec![0.0; b.len()]));
            }
        }
        if let Some(s) = bn.as_ref().filter(|s| s.affine) {
            let (a, b) = dbn[i].take().unwrap_or_else(|| (vec![0.0; s.scale.len()], vec![0.0; s.shift.len()]));
            out.push(a);
            out.push(b);
        }
    }
    out
}

/// Folds a training pass's batch statistics into the running ones (PyTorch: `r = (1 - m) r + m x`,
/// the variance unbiased, `n / (n - 1)` with `n` = images x positions).
pub fn update_running_stats(net: &mut CpuNet, tape: &crate::cpu::Tape, momentum: f64) -> Result<()> {
    let batch = tape.batch_size();
    for (id, stats) in net.net.node_ids().zip(tape.batch_stats()) {
        let (Some(stats), Some(state)) = (stats, net.bn[id.index()].as_mut()) else { continue };
        let shape = net.net.node(id).shape;
        let n = (batch * shape.h * shape.w) as f64;
        let unbias = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
        for ((rm, rv), &(mean, var)) in state.running_mean.iter_mut().zip(state.running_var.iter_mut()).zip(stats) {
            *rm = ((1.0 - momentum) * f64::from(*rm) + momentum * mean) as f32;
            *rv = ((1.0 - momentum) * f64::from(*rv) + momentum * var * unbias) as f32;
        }
    }
    Ok(())
}

/// Eval-mode accuracy (percent) of `net` on `set`.
pub fn evaluate(net: &mut CpuNet, set: &ImageSet) -> Result<f64> {
    let out = logits(net, set)?;
    let scored = loss::cross_entropy(&out, &set.labels, set.classes, 0.0);
    Ok(100.0 * scored.correct as f64 / set.len() as f64)
}

/// Eval-mode logits of `net` on every image of `set`, `[images, classes]` row-major.
pub fn logits(net: &mut CpuNet, set: &ImageSet) -> Result<Vec<f32>> {
    if set.is_empty() {
        return Err(Error::invalid("test images", "an empty set"));
    }
    let was_eval = net.bn_eval;
    net.set_eval(true);
    let classes = set.classes;
    let mut all = Vec::with_capacity(set.len() * classes);
    let result = (|| -> Result<()> {
        for start in (0..set.len()).step_by(256) {
            let end = (start + 256).min(set.len());
            let out = net.forward(&set.normalised(start..end), end - start, &mut |_, _| Ok(()))?;
            if out.data.len() != (end - start) * classes {
                return Err(Error::invalid(
                    "network output",
                    format!("{} values per image for {classes} classes", out.data.len() / (end - start)),
                ));
            }
            all.extend_from_slice(&out.data);
        }
        Ok(())
    })();
    net.set_eval(was_eval);
    result?;
    Ok(all)
}

/// Number of trainable parameters of a network (conv and linear weights and biases, affine batch norm).
fn count_params(net: &Network) -> usize {
    net.node_ids()
        .map(|id| match net.node(id).op {
            Op::Conv2d { in_channels, out_channels, kernel, groups, bias, .. } => {
                out_channels * in_channels / groups * kernel * kernel + if bias { out_channels } else { 0 }
            }
            Op::Linear { in_features, out_features, bias } => {
                out_features * in_features + if bias { out_features } else { 0 }
            }
            Op::BatchNorm { channels, affine: true } => 2 * channels,
            _ => 0,
        })
        .sum()
}

/// Adds one step's gradients to the epoch's sums (in f64, in parameter order: deterministic).
fn accumulate_gradient(sum: &mut Vec<Vec<f64>>, sq: &mut f64, g: &[Vec<f32>]) {
    if sum.is_empty() {
        *sum = g.iter().map(|t| vec![0.0; t.len()]).collect();
    }
    for (s, t) in sum.iter_mut().zip(g) {
        for (a, &b) in s.iter_mut().zip(t) {
            *a += f64::from(b);
            *sq += f64::from(b) * f64::from(b);
        }
    }
}

/// `(mean |g|^2 - |mean g|^2) / P` from the sums of `steps` gradients; 0 for fewer than two steps.
fn gradient_variance(sum: &[Vec<f64>], sq: f64, steps: usize) -> f64 {
    let params: usize = sum.iter().map(Vec::len).sum();
    if steps < 2 || params == 0 {
        return 0.0;
    }
    let n = steps as f64;
    let mean_sq: f64 = sum.iter().flatten().map(|s| (s / n) * (s / n)).sum();
    ((sq / n - mean_sq) / params as f64).max(0.0)
}

/// The network's state as tensors: the parameters, the running statistics, then the optimiser's buffers.
fn state_tensors(net: &mut CpuNet, opt: &OptimizerState) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = params_mut(net).into_iter().map(|t| t.clone()).collect();
    for s in net.bn.iter().flatten() {
        out.push(s.running_mean.clone());
        out.push(s.running_var.clone());
    }
    out.extend(opt.first.iter().cloned());
    out.extend(opt.second.iter().cloned());
    out
}

/// Restores [`state_tensors`]; an error if the shapes do not fit the network.
fn restore(net: &mut CpuNet, ck: &Checkpoint, path: &Path) -> Result<OptimizerState> {
    let bad = |why: String| Error::data(path, None, format!("checkpoint does not fit this network: {why}"));
    let mut tensors = ck.tensors.iter();
    let mut take = |len: usize, what: &str| -> Result<Vec<f32>> {
        match tensors.next() {
            Some(t) if t.len() == len => Ok(t.clone()),
            Some(t) => Err(bad(format!("{} values for {what} of {len}", t.len()))),
            None => Err(bad(format!("no values for {what}"))),
        }
    };
    let lens: Vec<usize> = params_mut(net).iter().map(|t| t.len()).collect();
    let values: Vec<Vec<f32>> = lens.iter().map(|&l| take(l, "a parameter")).collect::<Result<_>>()?;
    for (dst, v) in params_mut(net).into_iter().zip(values) {
        *dst = v;
    }
    let bn_lens: Vec<usize> = net.bn.iter().flatten().map(|s| s.running_mean.len()).collect();
    let mut running = Vec::new();
    for &l in &bn_lens {
        running.push((take(l, "running means")?, take(l, "running variances")?));
    }
    for (s, (m, v)) in net.bn.iter_mut().flatten().zip(running) {
        s.running_mean = m;
        s.running_var = v;
    }
    let mut opt = OptimizerState { steps: ck.step as u64, ..OptimizerState::default() };
    for (count, dst) in [(ck.first_moments, &mut opt.first), (ck.second_moments, &mut opt.second)] {
        if count != 0 && count != lens.len() {
            return Err(bad(format!("{count} optimiser buffers for {} parameters", lens.len())));
        }
        for &l in lens.iter().take(count) {
            dst.push(take(l, "an optimiser buffer")?);
        }
    }
    if tensors.next().is_some() {
        return Err(bad("more tensors than the network has".into()));
    }
    Ok(opt)
}

/// A hash of the network's nodes (names and op labels, in order), as a checkpoint's key holds it.
fn graph_hash(network: &Network) -> String {
    let fnv = |h: u64, bytes: &[u8]| bytes.iter().fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let graph = network.node_ids().fold(0xcbf2_9ce4_8422_2325, |h, id| {
        let node = network.node(id);
        fnv(h, format!("{}:{};", node.name, node.op.label()).as_bytes())
    });
    format!("{graph:016x}")
}

/// Loads the trained weights and running statistics of a `nas train` checkpoint into `net`; an
/// error naming the file if it is missing, damaged, or of another network.
pub fn load_weights(net: &mut CpuNet, path: &Path) -> Result<()> {
    let ck = Checkpoint::read(path)?.ok_or_else(|| Error::not_found(path, "no such checkpoint"))?;
    let wanted = graph_hash(&net.net);
    if ck.key.get("graph_hash").and_then(|h| h.as_str()) != Some(wanted.as_str()) {
        let of = ck.key.get("network").and_then(|n| n.as_str()).unwrap_or("an unknown network");
        return Err(Error::data(path, None, format!("a checkpoint of {of}, not of this network")));
    }
    restore(net, &ck, path).map(|_| ())
}

/// The key a checkpoint must match: the network (its label and graph), the recipe and the training images.
fn run_key(label: &str, network: &Network, config: &TrainConfig, train: &ImageSet) -> Result<serde_json::Value> {
    let fnv = |h: u64, bytes: &[u8]| bytes.iter().fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    let images = train.labels.iter().fold(fnv(BASIS, &train.pixels), |h, l| fnv(h, &l.to_le_bytes()));
    let mut key = serde_json::json!({
        "network": label,
        "graph_hash": graph_hash(network),
        "train_images": train.len(),
        "train_images_hash": format!("{images:016x}"),
    });
    let cfg = serde_json::to_value(config).map_err(|e| Error::invalid("config", e.to_string()))?;
    if let (Some(k), serde_json::Value::Object(c)) = (key.as_object_mut(), cfg) {
        k.extend(c);
    }
    Ok(key)
}

/// The checkpoint of a run after `epochs` completed epochs and `step` steps (`extra`: the epoch so
/// far when it stops inside one).
fn checkpoint_of(
    key: &serde_json::Value,
    epochs: usize,
    step: usize,
    history: &[EpochMetrics],
    net: &mut CpuNet,
    opt: &OptimizerState,
    extra: serde_json::Value,
) -> Checkpoint {
    Checkpoint {
        key: key.clone(),
        epoch: epochs,
        step,
        history: history.to_vec(),
        first_moments: opt.first.len(),
        second_moments: opt.second.len(),
        extra,
        tensors: state_tensors(net, opt),
    }
}

/// Trains `network` with `config` on `train` and tests it on `test` (eval mode). With a
/// checkpoint, a run that finds one of the same key continues from it, and a checkpoint is
/// written at the end of every epoch; a checkpoint of another run, or a damaged one, is an error
/// and is left as it is. A loss that stops being finite stops the run with the step and the last
/// finite loss. Returns the report and the trained network.
pub fn train(
    network: &Network,
    config: &TrainConfig,
    train: &ImageSet,
    test: Option<&ImageSet>,
    checkpoint: Option<CheckpointSpec<'_>>,
    threads: usize,
    observer: &mut dyn TrainObserver,
) -> Result<(TrainReport, CpuNet)> {
    let started = Instant::now();
    config.validate(train.len())?;
    if let Some(t) = test
        && (t.classes != train.classes
            || (t.channels, t.height, t.width) != (train.channels, train.height, train.width))
    {
        return Err(Error::invalid(
            "test images",
            format!("{} do not have the training images' shape and classes", t.source),
        ));
    }
    let mut net = CpuNet::new(network, config.seed)?.with_threads(threads);
    let classes = train.classes;
    let per_epoch = train.len().div_ceil(config.batch);
    let total = per_epoch * config.epochs;
    let warmup = config.warmup_epochs * per_epoch;
    let mut opt = OptimizerState::default();
    let mut history = Vec::new();
    let (mut start_epoch, mut step, mut resumed) = (0, 0, None);
    let mut partial: Option<PartialEpoch> = None;
    let key = match checkpoint {
        Some(spec) => Some(run_key(spec.label, network, config, train)?),
        None => None,
    };
    if let (Some(spec), Some(key)) = (checkpoint, &key)
        && let Some(ck) = Checkpoint::read(spec.path)?
    {
        checkpoint::check_key(spec.path, &ck.key, key)?;
        opt = restore(&mut net, &ck, spec.path)?;
        (start_epoch, step, history) = (ck.epoch, ck.step, ck.history.clone());
        resumed = Some(ck.epoch);
        if let Some(p) = ck.extra.get("partial_epoch") {
            partial = Some(serde_json::from_value(p.clone()).map_err(|e| {
                Error::invalid("checkpoint", format!("{}: a damaged partial epoch ({e})", spec.path.display()))
            })?);
        }
    }
    let mut last_finite = f64::NAN;
    for epoch in start_epoch..config.epochs {
        net.set_eval(false);
        let epoch_started = Instant::now();
        let (order, mut rng) = data::epoch_order(train.len(), config.seed, epoch);
        let mut lr = config.lr;
        // The epoch's sums (of the loss, and of the gradient and its squared norm over the steps),
        // continued from a checkpoint written inside it.
        let so_far = partial.take().unwrap_or_default();
        let PartialEpoch {
            batches: done,
            mut loss_sum,
            mut correct,
            mut seen,
            mut grad_sum,
            mut grad_sq,
            mut steps,
            ..
        } = so_far.clone();
        for (k, indices) in order.chunks(config.batch).enumerate() {
            if k < done {
                // Done before the checkpoint: only its augmentation draws are replayed.
                Batch::assemble(train, indices, config.augment_pad, &mut rng);
                continue;
            }
            lr = optim::learning_rate(config.lr, config.schedule, step, total, per_epoch, warmup);
            let batch = Batch::assemble(train, indices, config.augment_pad, &mut rng);
            let tape = net.forward_tape(&batch.pixels, indices.len())?;
            let logits = &net.output(&tape)?.data;
            if logits.len() != indices.len() * classes {
                return Err(Error::invalid(
                    "network output",
                    format!("{} values per image for {classes} classes", logits.len() / indices.len()),
                ));
            }
            let scored = loss::cross_entropy(logits, &batch.labels, classes, config.label_smoothing);
            if !scored.loss.is_finite() {
                return Err(Error::Numerical(format!(
                    "the loss became {} at step {} (epoch {}); the last finite loss was {last_finite:.6}",
                    scored.loss,
                    step + 1,
                    epoch + 1
                )));
            }
            last_finite = scored.loss;
            let grads = net.backward(&tape, &scored.grad, &mut |_, _, _| {})?;
            update_running_stats(&mut net, &tape, config.bn_momentum)?;
            drop(tape);
            let mut g = param_grads(&net, grads);
            accumulate_gradient(&mut grad_sum, &mut grad_sq, &g);
            steps += 1;
            if let Some(c) = config.clip_norm {
                optim::clip_grad_norm(&mut g, c);
            }
            opt.step(config.optimizer, &mut params_mut(&mut net), &g, lr, config.weight_decay);
            step += 1;
            loss_sum += scored.loss * indices.len() as f64;
            correct += scored.correct;
            seen += indices.len();
            observer.on_step(epoch + 1, k + 1, per_epoch, scored.loss)?;
            if observer.stop_requested() && k + 1 < per_epoch {
                let so_far = PartialEpoch {
                    batches: k + 1,
                    loss_sum,
                    correct,
                    seen,
                    grad_sum,
                    grad_sq,
                    steps,
                    seconds: so_far.seconds + epoch_started.elapsed().as_secs_f64(),
                };
                let saved = match (checkpoint, &key) {
                    (Some(spec), Some(key)) => {
                        let extra = serde_json::json!({ "partial_epoch": so_far });
                        checkpoint_of(key, epoch, step, &history, &mut net, &opt, extra).write(spec.path)?;
                        format!("{} holds it; the same command resumes there", spec.path.display())
                    }
                    _ => "nothing was saved (no checkpoint)".to_string(),
                };
                return Err(Error::Interrupted(format!(
                    "after step {step} (epoch {}, batch {} of {per_epoch}): {saved}",
                    epoch + 1,
                    k + 1
                )));
            }
        }
        let seconds = so_far.seconds + epoch_started.elapsed().as_secs_f64();
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / seen as f64,
            train_accuracy: 100.0 * correct as f64 / seen as f64,
            lr,
            images: seen,
            seconds,
            images_per_second: seen as f64 / seconds.max(1e-9),
            gradient_variance: gradient_variance(&grad_sum, grad_sq, steps),
        };
        history.push(metrics.clone());
        if let (Some(spec), Some(key)) = (checkpoint, &key) {
            checkpoint_of(key, epoch + 1, step, &history, &mut net, &opt, serde_json::Value::Null).write(spec.path)?;
        }
        observer.on_epoch(&metrics)?;
        if observer.stop_requested() && epoch + 1 < config.epochs {
            let saved = checkpoint.map_or("nothing was saved (no checkpoint)".to_string(), |spec| {
                format!("{} holds it; the same command resumes there", spec.path.display())
            });
            return Err(Error::Interrupted(format!("after epoch {} of {}: {saved}", epoch + 1, config.epochs)));
        }
    }
    let test_accuracy = match test {
        Some(t) => Some(evaluate(&mut net, t)?),
        None => None,
    };
    let last = history.last().cloned();
    let report = TrainReport {
        epochs: config.epochs,
        steps: step,
        train_images: train.len(),
        train_loss: last.as_ref().map_or(f64::NAN, |m| m.train_loss),
        train_accuracy: last.as_ref().map_or(f64::NAN, |m| m.train_accuracy),
        test_accuracy,
        test_images: test.map_or(0, ImageSet::len),
        images_per_second: history.iter().map(|m| m.images_per_second).sum::<f64>() / history.len().max(1) as f64,
        seconds: started.elapsed().as_secs_f64(),
        resumed_from_epoch: resumed,
        params: count_params(network),
        history,
    };
    Ok((report, net))
}

/// The network's parameters and batch-norm running statistics as a safetensors file (F32,
/// PyTorch-like names: `<node>.weight`, `<node>.bias`, `<bn>.running_mean`, `<bn>.running_var`),
/// written atomically.
pub fn save_safetensors(net: &CpuNet, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    for ((id, w), bn) in net.net.node_ids().zip(&net.weights).zip(&net.bn) {
        let node = net.net.node(id);
        let name = &node.name;
        if let Some(init) = w {
            let shape = match node.op {
                Op::Conv2d { in_channels, out_channels, kernel, groups, .. } => {
                    vec![out_channels, in_channels / groups, kernel, kernel]
                }
                Op::Linear { in_features, out_features, .. } => vec![out_features, in_features],
                _ => vec![init.weight.len()],
            };
            tensors.push((format!("{name}.weight"), shape, &init.weight));
            if let Some(b) = &init.bias {
                tensors.push((format!("{name}.bias"), vec![b.len()], b));
            }
        }
        if let Some(s) = bn {
            if s.affine {
                tensors.push((format!("{name}.weight"), vec![s.scale.len()], &s.scale));
                tensors.push((format!("{name}.bias"), vec![s.shift.len()], &s.shift));
            }
            tensors.push((format!("{name}.running_mean"), vec![s.running_mean.len()], &s.running_mean));
            tensors.push((format!("{name}.running_var"), vec![s.running_var.len()], &s.running_var));
        }
    }
    write_safetensors(path, &tensors)
}

/// Named F32 tensors `(name, shape, values)` as a safetensors file, written atomically.
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, &[f32])]) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let end = offset + 4 * values.len();
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut json = serde_json::to_vec(&header).map_err(|e| Error::invalid("safetensors header", e.to_string()))?;
    // The format asks for the data to start 8-byte aligned: pad the header with spaces.
    while (8 + json.len()) % 8 != 0 {
        json.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + json.len() + offset);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for (_, _, values) in tensors {
        for v in values.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    checkpoint::write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_variance_is_the_mean_per_parameter_variance_over_steps() {
        // Parameter a: 1, 3 (variance 1); parameter b: 2, 2 (variance 0): mean 0.5.
        let (mut sum, mut sq) = (Vec::new(), 0.0);
        accumulate_gradient(&mut sum, &mut sq, &[vec![1.0], vec![2.0]]);
        accumulate_gradient(&mut sum, &mut sq, &[vec![3.0], vec![2.0]]);
        assert!((gradient_variance(&sum, sq, 2) - 0.5).abs() < 1e-12);
        assert_eq!(gradient_variance(&sum, sq, 1), 0.0);
    }
}
