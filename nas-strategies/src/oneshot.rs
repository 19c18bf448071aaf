//! Weight-sharing one-shot search over any [`nas_core::Supernet`]: DARTS (first and second
//! order), MiLeNAS, GDAS, SPOS / RSPS and neighbourhood-aware DARTS, as
//! `shared/peers/darts_torch.py` and `shared/docs/algorithms.md` §7 define them. Tensor-free: the
//! supernet answers losses and `dL/dc` (gradients with respect to each edge's op coefficients);
//! this module owns the architecture parameters `alpha` (`edges x ops`), their parametrisation
//! (softmax, Gumbel) and their optimiser.
//!
//! Per step `s` of `epochs x steps_per_epoch` (weights: SGD at the cosine rate
//! `lr_min + (lr - lr_min)(1 + cos(pi s / total)) / 2`, the supernet's own optimiser):
//!
//! * `darts` (first order, DARTS-V1): a weight step on weight batch `s` with every edge the mix
//!   `softmax(alpha)`, then an Adam step of `alpha` with `dL_val/dalpha` on the next architecture
//!   batch, at the updated weights.
//! * `darts2` (second order, DARTS-V2, the original order: architecture step first): the virtual
//!   step `w' = w - lr (momentum buffer + dL_train/dw + wd w)`; at `w'`, `dL_val/dalpha` and
//!   `dL_val/dw'`; with `eps = 0.01 / |dL_val/dw'|`, the Hessian-vector product as the finite
//!   difference `(dL_train/dalpha(w + eps v) - dL_train/dalpha(w - eps v)) / (2 eps)`; the
//!   architecture gradient `dL_val/dalpha - lr * that`; then the weight step on the same batch.
//! * `milenas`: as darts, the architecture gradient `dL_val/dalpha + lambda dL_train/dalpha`, the
//!   second term from the weight step's own pass (as the peer computes it).
//! * `gdas`: every pass samples per edge `h = one_hot(argmax p) - p + p` (straight-through),
//!   `p = softmax((log_softmax(alpha) + g) / tau)`, `g` Gumbel(0, 1) (redrawn when not finite);
//!   only the sampled op runs; `tau` linear per epoch from `tau_max` to `tau_min`.
//! * `spos` / `rsps` (the same procedure under its two names): a uniformly sampled single path per
//!   weight step, no `alpha`; after training, `rank` architectures drawn uniformly from the space,
//!   each scored by its inherited-weight accuracy on the architecture half with batch-norm
//!   statistics recomputed on `bn_batches` weight-half batches; the best one is the answer.
//! * `na-darts` (neighbourhood-aware DARTS, this toolkit's formulation): as darts, but the
//!   architecture gradient is the mean over `1 + neighbours` evaluations on the same architecture
//!   batch: at `alpha` itself and at `alpha + delta (e[edge][op] - e[edge][d_edge])` for
//!   `neighbours` one-edit neighbours `(edge, op)` of the current discrete architecture
//!   `d = argmax alpha`, drawn uniformly (edge uniform, then one of its other ops). The loss it
//!   descends is the validation loss averaged over the architecture's neighbourhood, so `alpha`
//!   prefers regions where nearby architectures are good too (NA-RS's neighbourhood mean, applied to
//!   the relaxation). Each perturbation is a constant shift, so its gradient is the gradient at the
//!   shifted point.
//!
//! `alpha`: `1e-3 * N(0, 1)` from the seed; Adam with `alpha_lr`, betas `(0.5, 0.999)`, weight decay
//! `alpha_wd` added to the gradient (PyTorch's `Adam(weight_decay=..)`). The derived architecture
//! is the argmax per edge over all ops (the answer); the argmax over the ops but `none` (op 0) is
//! reported beside it. Randomness: step `s` draws from ChaCha8 stream `1 + s` of the seed XOR a
//! fixed tag (stream 0 gives `alpha`; the tag keeps these streams apart from the supernet's own, which
//! start from the plain seed), the ranking from its own stream, so a run resumed from a [`SearchState`] is the
//! uninterrupted one.

use std::time::Instant;

use nas_core::{EdgeMode, Error, Pass, Result, Split, Supernet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A one-shot method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// DARTS, first order.
    Darts,
    /// DARTS, second order (finite-difference Hessian-vector product).
    Darts2,
    /// MiLeNAS, mixed-level first order.
    Milenas,
    /// GDAS, Gumbel hard sampling with straight-through gradients.
    Gdas,
    /// Single-path one-shot: uniform single paths, then ranking by inherited weights.
    Spos,
    /// Random search with parameter sharing (the same procedure as [`Method::Spos`]).
    Rsps,
    /// Neighbourhood-aware DARTS (see the module doc).
    NaDarts,
}

impl Method {
    /// Whether the method has architecture parameters (all but the single-path samplers).
    pub fn has_alpha(self) -> bool {
        !matches!(self, Method::Spos | Method::Rsps)
    }

    /// The method's name as the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Darts => "darts",
            Method::Darts2 => "darts2",
            Method::Milenas => "milenas",
            Method::Gdas => "gdas",
            Method::Spos => "spos",
            Method::Rsps => "rsps",
            Method::NaDarts => "na-darts",
        }
    }
}

/// How much the sub-architectures of a single-path supernet share weights (Zhang et al. 2020:
/// reducing the sharing reduces the interference between child models; Zhao et al. 2021: few-shot
/// NAS). With reduced sharing the architectures fall into groups and each group trains and ranks
/// with its own copy of the supernet's weights (and optimiser state, and batch-norm statistics);
/// a weight step on a sampled path trains the copy of that path's group, so the total number of
/// weight steps is the same for every setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sharing {
    /// One weight set for every architecture (plain one-shot).
    #[default]
    All,
    /// Few-shot NAS: one sub-supernet per op of `edge` (the architectures with that op there).
    FewShot {
        /// The split edge.
        edge: usize,
    },
    /// `groups` weight sets; an architecture's group is a seeded hash of it (a random partition).
    Groups {
        /// Number of groups.
        groups: usize,
    },
}

impl Sharing {
    /// Whether every architecture shares one weight set.
    pub fn is_all(&self) -> bool {
        matches!(self, Sharing::All | Sharing::Groups { groups: 1 })
    }

    /// Weight sets once split, for a supernet of `ops` candidates per edge (1 for [`Sharing::is_all`]).
    pub fn groups(&self, ops: usize) -> usize {
        match *self {
            Sharing::All => 1,
            Sharing::FewShot { .. } => ops,
            Sharing::Groups { groups } => groups.max(1),
        }
    }

    /// The group of `arch` (op per edge); `seed` draws the partition of [`Sharing::Groups`].
    pub fn group(&self, arch: &[usize], ops: usize, seed: u64) -> usize {
        match *self {
            Sharing::All => 0,
            Sharing::FewShot { edge } => arch.get(edge).copied().unwrap_or(0),
            Sharing::Groups { groups } => {
                let index = arch.iter().rev().fold(0u64, |acc, &k| acc.wrapping_mul(ops as u64).wrapping_add(k as u64));
                (splitmix64(index ^ seed ^ SEED_TAG) % groups.max(1) as u64) as usize
            }
        }
    }
}

impl std::fmt::Display for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sharing::All => write!(f, "all"),
            Sharing::FewShot { edge } => write!(f, "few-shot:{edge}"),
            Sharing::Groups { groups } => write!(f, "groups:{groups}"),
        }
    }
}

impl std::str::FromStr for Sharing {
    type Err = Error;
    /// `all`, `few-shot:EDGE` or `groups:G`.
    fn from_str(s: &str) -> Result<Self> {
        let number =
            |v: &str| v.parse::<usize>().map_err(|_| Error::parse(s, "expected all, few-shot:EDGE or groups:G"));
        match s.split_once(':') {
            None if s == "all" => Ok(Sharing::All),
            Some(("few-shot", e)) => Ok(Sharing::FewShot { edge: number(e)? }),
            Some(("groups", g)) => Ok(Sharing::Groups { groups: number(g)? }),
            _ => Err(Error::parse(s, "expected all, few-shot:EDGE or groups:G")),
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// Everything a one-shot search needs besides the supernet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneShotConfig {
    /// The method.
    pub method: Method,
    /// Epochs (passes over the weight half).
    pub epochs: usize,
    /// Initial weight learning rate (cosine per step to `lr_min`).
    pub lr: f64,
    /// Final weight learning rate.
    pub lr_min: f64,
    /// Adam learning rate of `alpha`.
    pub alpha_lr: f64,
    /// Adam weight decay of `alpha`.
    pub alpha_wd: f64,
    /// MiLeNAS' weight of the training-loss gradient.
    pub lambda: f64,
    /// GDAS' first temperature.
    pub tau_max: f64,
    /// GDAS' last temperature.
    pub tau_min: f64,
    /// SPOS / RSPS: architectures ranked after training.
    pub rank: usize,
    /// SPOS / RSPS: also rank the same `rank` architectures after each of the last `rank_epochs`
    /// epochs (the supernet ranking study: how much the ranking moves from epoch to epoch).
    #[serde(default)]
    pub rank_epochs: usize,
    /// SPOS / RSPS: weight-half batches that recompute batch-norm statistics per ranked architecture.
    pub bn_batches: usize,
    /// SPOS / RSPS: images of the architecture half each ranked architecture is scored on (`None`:
    /// all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_images: Option<usize>,
    /// SPOS / RSPS: seed of the ranked architectures (`None`: `seed`), so that supernets of
    /// different seeds rank the same architectures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_seed: Option<u64>,
    /// SPOS / RSPS: how much the sub-architectures share weights (see [`Sharing`]).
    #[serde(default, skip_serializing_if = "Sharing::is_all")]
    pub sharing: Sharing,
    /// With reduced [`Sharing`]: epochs trained with one shared weight set before it is copied
    /// into one set per group (few-shot NAS' split of a trained supernet; 0: the groups train from
    /// the initial weights).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub split_epoch: usize,
    /// NA-DARTS: neighbours per architecture step.
    pub neighbours: usize,
    /// NA-DARTS: the logit shift toward a neighbour.
    pub delta: f64,
    /// Seed of `alpha`, the samples and the ranking.
    pub seed: u64,
}

impl OneShotConfig {
    /// The peer's recipe for `method`: lr 0.025 to 0.001, alpha Adam 3e-4 with weight decay 1e-3,
    /// lambda 1, tau 10 to 0.1, 20 ranked architectures with 4 batch-norm batches, 2 neighbours at
    /// delta 1.
    pub fn new(method: Method, epochs: usize, seed: u64) -> Self {
        OneShotConfig {
            method,
            epochs,
            lr: 0.025,
            lr_min: 0.001,
            alpha_lr: 3e-4,
            alpha_wd: 1e-3,
            lambda: 1.0,
            tau_max: 10.0,
            tau_min: 0.1,
            rank: 20,
            rank_epochs: 0,
            bn_batches: 4,
            rank_images: None,
            rank_seed: None,
            sharing: Sharing::All,
            split_epoch: 0,
            neighbours: 2,
            delta: 1.0,
            seed,
        }
    }

    /// Checks every value once (an error names the offending one).
    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "0: search at least one epoch"));
        }
        if !(positive(self.lr) && self.lr_min.is_finite() && self.lr_min >= 0.0) {
            return Err(Error::invalid("learning rate", format!("{} to {}", self.lr, self.lr_min)));
        }
        if !(positive(self.alpha_lr) && self.alpha_wd.is_finite() && self.alpha_wd >= 0.0) {
            return Err(Error::invalid("alpha optimiser", format!("lr {}, wd {}", self.alpha_lr, self.alpha_wd)));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::invalid("lambda", format!("{}: it must be >= 0", self.lambda)));
        }
        if !positive(self.tau_max) || !positive(self.tau_min) {
            return Err(Error::invalid("tau", format!("{} to {}: both must be positive", self.tau_max, self.tau_min)));
        }
        if matches!(self.method, Method::Spos | Method::Rsps) && self.rank == 0 {
            return Err(Error::invalid("rank", "0: rank at least one architecture"));
        }
        if matches!(self.method, Method::Spos | Method::Rsps) && self.bn_batches == 0 {
            return Err(Error::invalid("bn batches", "0: recompute batch-norm statistics on at least one batch"));
        }
        if self.rank_images == Some(0) {
            return Err(Error::invalid("rank images", "0: score on at least one image"));
        }
        if !self.sharing.is_all() {
            if self.method.has_alpha() {
                return Err(Error::invalid(
                    "sharing",
                    format!("{}: reduced sharing is for spos and rsps, not {}", self.sharing, self.method.name()),
                ));
            }
            if self.split_epoch >= self.epochs {
                return Err(Error::invalid(
                    "split epoch",
                    format!("{}: the split must come before the last epoch ({})", self.split_epoch, self.epochs),
                ));
            }
        }
        if let Sharing::Groups { groups: 0 } = self.sharing {
            return Err(Error::invalid("sharing", "groups:0: at least one group"));
        }
        if !self.delta.is_finite() {
            return Err(Error::invalid("delta", format!("{}", self.delta)));
        }
        Ok(())
    }
}

/// Adam's state for `alpha`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    /// Steps taken.
    pub steps: u64,
    /// First moments.
    pub m: Vec<Vec<f64>>,
    /// Second moments.
    pub v: Vec<Vec<f64>>,
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// The derived architecture after the epoch (op per edge; `None` for SPOS / RSPS but the last
    /// epoch, which holds the ranked answer).
    pub arch: Option<Vec<usize>>,
    /// The argmax over the ops but `none`.
    pub arch_non_none: Option<Vec<usize>>,
    /// `softmax(alpha)` per edge (uniform for the single-path samplers).
    pub alphas: Vec<Vec<f64>>,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Mean loss of the weight steps.
    pub train_loss: f64,
    /// Percent of weight-step images classified right.
    pub train_accuracy: f64,
    /// Mean loss of the architecture steps.
    pub arch_loss: Option<f64>,
    /// Percent of architecture-step images classified right.
    pub arch_accuracy: Option<f64>,
    /// GDAS' temperature of the epoch.
    pub tau: Option<f64>,
    /// The weight learning rate of the epoch's last step.
    pub lr: f64,
    /// SPOS / RSPS with `rank_epochs`: the inherited-weight accuracy of each ranked architecture
    /// (in the order drawn, the same architectures every epoch) after this epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Vec<f64>>,
}

/// Everything needed to continue a search after its last completed epoch (the supernet's own state
/// is saved beside it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchState {
    /// Epochs completed.
    pub epoch: usize,
    /// Weight steps completed.
    pub step: u64,
    /// Architecture batches used.
    pub arch_batches: u64,
    /// The architecture parameters.
    pub alpha: Vec<Vec<f64>>,
    /// Adam's state of `alpha`.
    pub adam: AdamState,
    /// Every completed epoch.
    pub history: Vec<EpochRecord>,
}

/// One ranked architecture of SPOS / RSPS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// Op per edge.
    pub arch: Vec<usize>,
    /// Inherited-weight accuracy on the architecture half (percent).
    pub accuracy: f64,
}

/// The result of [`search`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OneShotResult {
    /// The answer: op per edge.
    pub arch: Vec<usize>,
    /// The argmax over the ops but `none` (methods with `alpha`).
    pub arch_non_none: Option<Vec<usize>>,
    /// The final state (alpha, history).
    pub state: SearchState,
    /// SPOS / RSPS: every ranked architecture, in the order drawn.
    pub ranking: Vec<Ranked>,
    /// The epoch the run continued from, when it resumed.
    pub resumed_from_epoch: Option<usize>,
}

/// Where a search continues: its state and the supernet's tensors saved with it (as
/// [`OneShotObserver::on_epoch`] hands them over).
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The search state after its last completed epoch.
    pub state: SearchState,
    /// The supernet's tensors of that moment.
    pub tensors: Vec<Vec<f32>>,
}

/// The weight sets of a run: one (plain sharing) or one per group once split. The live group's
/// set is in the supernet; the others wait in `stash`. Swapping is an exact copy, so a run's
/// result does not depend on which group happens to be live.
struct WeightSets<'a> {
    net: &'a mut dyn Supernet,
    stash: Vec<Vec<Vec<f32>>>,
    live: usize,
}

impl<'a> WeightSets<'a> {
    fn new(net: &'a mut dyn Supernet) -> Self {
        WeightSets { net, stash: Vec::new(), live: 0 }
    }

    fn split(&mut self, groups: usize) {
        if self.stash.is_empty() && groups > 1 {
            self.stash = vec![self.net.state(); groups];
            self.stash[0] = Vec::new();
            self.live = 0;
        }
    }

    fn select(&mut self, group: usize) -> Result<()> {
        if self.stash.is_empty() || group == self.live {
            return Ok(());
        }
        let next = std::mem::take(&mut self.stash[group]);
        self.stash[self.live] = self.net.state();
        self.net.set_state(next)?;
        self.live = group;
        Ok(())
    }

    /// Inherited-weight accuracy of `arch` with its group's weights.
    fn path_accuracy(&mut self, arch: &[usize], group: usize, config: &OneShotConfig) -> Result<f64> {
        self.select(group)?;
        self.net.path_accuracy(arch, config.bn_batches, config.rank_images)
    }

    /// Every set in group order (just the supernet's state before a split).
    fn tensors(&self) -> Vec<Vec<f32>> {
        if self.stash.is_empty() {
            return self.net.state();
        }
        let mut out = Vec::new();
        for (g, set) in self.stash.iter().enumerate() {
            if g == self.live { out.extend(self.net.state()) } else { out.extend(set.iter().cloned()) }
        }
        out
    }

    /// Restores what [`WeightSets::tensors`] gave: one set, or `groups` of them.
    fn restore(&mut self, mut tensors: Vec<Vec<f32>>, groups: usize) -> Result<()> {
        let one = self.net.state().len();
        if tensors.len() == one {
            return self.net.set_state(tensors);
        }
        if groups < 2 || tensors.len() != one * groups {
            return Err(Error::invalid(
                "supernet state",
                format!("{} tensors: neither one weight set ({one}) nor {groups} of them", tensors.len()),
            ));
        }
        let mut stash = Vec::with_capacity(groups);
        for _ in 0..groups {
            let rest = tensors.split_off(one);
            stash.push(std::mem::replace(&mut tensors, rest));
        }
        self.net.set_state(std::mem::take(&mut stash[0]))?;
        self.stash = stash;
        self.live = 0;
        Ok(())
    }
}

/// Receives progress; returning an error stops the search with it.
pub trait OneShotObserver {
    /// After each weight step: epoch (1-based), step in the epoch (1-based), steps per epoch, loss.
    fn on_step(&mut self, _epoch: usize, _step: usize, _steps: usize, _loss: f64) -> Result<()> {
        Ok(())
    }
    /// After each epoch, with the state to save and the supernet's tensors that go with it (every
    /// weight set, one after the other, once a reduced [`Sharing`] has split them).
    fn on_epoch(&mut self, _state: &SearchState, _tensors: &[Vec<f32>]) -> Result<()> {
        Ok(())
    }
    /// After each ranked architecture (1-based count of `of`).
    fn on_rank(&mut self, _done: usize, _of: usize) -> Result<()> {
        Ok(())
    }
}

/// An observer that ignores everything.
#[derive(Debug)]
pub struct Quiet;
impl OneShotObserver for Quiet {}

/// `softmax` of one row.
pub fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let e: Vec<f64> = row.iter().map(|&v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// The first index of the largest value.
pub fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().fold(0, |best, (k, &v)| if v > row[best] { k } else { best })
}

/// The derived architectures of `alpha`: argmax over all ops, and over the ops but op 0 (`none`).
pub fn derive(alpha: &[Vec<f64>]) -> (Vec<usize>, Vec<usize>) {
    let all = alpha.iter().map(|r| argmax(r)).collect();
    let non_none = alpha.iter().map(|r| 1 + argmax(&r[1..])).collect();
    (all, non_none)
}

/// `dL/dalpha` of one softmax row from `dL/dc`.
fn softmax_backward(p: &[f64], d: &[f64]) -> Vec<f64> {
    let dot: f64 = p.iter().zip(d).map(|(a, b)| a * b).sum();
    p.iter().zip(d).map(|(pj, dj)| pj * (dj - dot)).collect()
}

/// One GDAS sample of an edge: the op, its straight-through weight and the soft probabilities.
struct Sample {
    op: usize,
    weight: f32,
    probs: Vec<f64>,
}

fn gumbel_sample(alpha: &[f64], tau: f64, rng: &mut ChaCha8Rng) -> Sample {
    let max = alpha.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let lse = max + alpha.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    loop {
        let g: Vec<f64> = alpha.iter().map(|_| -(-(1.0 - rng.random::<f64>()).ln()).ln()).collect();
        if g.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let z: Vec<f64> = alpha.iter().zip(&g).map(|(a, gi)| (a - lse + gi) / tau).collect();
        let probs = softmax(&z);
        if probs.iter().any(|p| !p.is_finite()) {
            continue;
        }
        let op = argmax(&probs);
        // h = one_hot - p.detach() + p, in f32 as PyTorch's: the chosen op's value.
        let p = probs[op] as f32;
        return Sample { op, weight: (1.0 - p) + p, probs };
    }
}

/// `dL/dalpha` of one GDAS row from `dL/dh` (straight-through: `dL/dp = dL/dh`).
fn gumbel_backward(alpha: &[f64], s: &Sample, tau: f64, d: &[f64]) -> Vec<f64> {
    let dz: Vec<f64> = softmax_backward(&s.probs, d).into_iter().map(|v| v / tau).collect();
    let soft = softmax(alpha);
    let total: f64 = dz.iter().sum();
    dz.iter().zip(&soft).map(|(u, q)| u - q * total).collect()
}

/// How the architecture gradient is read from a pass.
enum Modes {
    Soft(Vec<Vec<f64>>),
    Gumbel(Vec<Sample>, f64),
}

impl Modes {
    fn edges(&self) -> Vec<EdgeMode> {
        match self {
            Modes::Soft(p) => p.iter().map(|r| EdgeMode::Mix(r.iter().map(|&v| v as f32).collect())).collect(),
            Modes::Gumbel(s, _) => s.iter().map(|s| EdgeMode::Path { op: s.op, weight: s.weight }).collect(),
        }
    }

    fn alpha_grad(&self, alpha: &[Vec<f64>], d_coef: &[Vec<f64>]) -> Vec<Vec<f64>> {
        match self {
            Modes::Soft(p) => p.iter().zip(d_coef).map(|(p, d)| softmax_backward(p, d)).collect(),
            Modes::Gumbel(s, tau) => {
                alpha.iter().zip(s).zip(d_coef).map(|((a, s), d)| gumbel_backward(a, s, *tau, d)).collect()
            }
        }
    }
}

fn soft(alpha: &[Vec<f64>]) -> Modes {
    Modes::Soft(alpha.iter().map(|r| softmax(r)).collect())
}

fn adam_step(alpha: &mut [Vec<f64>], grad: &[Vec<f64>], adam: &mut AdamState, lr: f64, wd: f64) {
    let (b1, b2, eps) = (0.5f64, 0.999f64, 1e-8);
    if adam.m.is_empty() {
        adam.m = alpha.iter().map(|r| vec![0.0; r.len()]).collect();
        adam.v = adam.m.clone();
    }
    adam.steps += 1;
    let t = adam.steps as i32;
    let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
    for (((a, g), m), v) in alpha.iter_mut().zip(grad).zip(&mut adam.m).zip(&mut adam.v) {
        for (((a, &g), m), v) in a.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g + wd * *a;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *a -= lr / c1 * *m / (v.sqrt() / c2.sqrt() + eps);
        }
    }
}

/// DARTS' second-order architecture gradient at `alpha` on the loaded weight and architecture
/// batches (the module doc's `darts2` steps: virtual step, `dL_val/dalpha` and `dL_val/dw'`, the
/// finite-difference Hessian-vector product), and the validation pass at the virtual weights. The
/// weights are left as they were. With `lr = 0` it is the first-order gradient.
pub fn unrolled_gradient(net: &mut dyn Supernet, alpha: &[Vec<f64>], lr: f64) -> Result<(Vec<Vec<f64>>, Pass)> {
    let modes = soft(alpha);
    let e = modes.edges();
    net.save_weights();
    net.forward_backward(Split::Weights, &e)?;
    net.virtual_step(lr)?;
    let val = net.forward_backward(Split::Arch, &e)?;
    let mut grad = modes.alpha_grad(alpha, &val.d_coef);
    let norm = net.keep_direction()?;
    net.restore_weights()?;
    if norm > 0.0 && norm.is_finite() {
        let eps = 0.01 / norm;
        net.save_weights();
        net.move_along_direction(eps)?;
        let plus = net.forward_backward(Split::Weights, &e)?;
        net.move_along_direction(-2.0 * eps)?;
        let minus = net.forward_backward(Split::Weights, &e)?;
        net.restore_weights()?;
        add_scaled(&mut grad, &modes.alpha_grad(alpha, &plus.d_coef), -lr / (2.0 * eps));
        add_scaled(&mut grad, &modes.alpha_grad(alpha, &minus.d_coef), lr / (2.0 * eps));
    }
    Ok((grad, val))
}

/// Mixed into the seed, so that the method's streams are not the supernet's (which draws its
/// initial weights and data orders from `ChaCha8Rng::seed_from_u64(seed)` itself).
const SEED_TAG: u64 = 0x6f6e_6573_686f_7421;

fn step_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SEED_TAG);
    rng.set_stream(stream);
    rng
}

/// Stream of the SPOS / RSPS ranking draws.
const RANK_STREAM: u64 = 1 << 62;

/// `1e-3 * N(0, 1)` per entry (Box-Muller on stream 0 of the seed).
pub fn initial_alpha(edges: usize, ops: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = step_rng(seed, 0);
    (0..edges)
        .map(|_| {
            (0..ops)
                .map(|_| {
                    let (u, v) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                    1e-3 * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
                })
                .collect()
        })
        .collect()
}

fn add_scaled(acc: &mut [Vec<f64>], g: &[Vec<f64>], s: f64) {
    for (a, g) in acc.iter_mut().zip(g) {
        a.iter_mut().zip(g).for_each(|(a, g)| *a += s * g);
    }
}

/// The architectures SPOS / RSPS rank: `config.rank` uniform draws from the ranking stream.
fn ranked_archs(edges: usize, ops: usize, config: &OneShotConfig) -> Vec<Vec<usize>> {
    let mut rng = step_rng(config.rank_seed.unwrap_or(config.seed), RANK_STREAM);
    (0..config.rank).map(|_| (0..edges).map(|_| rng.random_range(0..ops)).collect()).collect()
}

/// Runs `config.method` on `net`, continuing from `resume` when given. See the module doc.
pub fn search(
    net: &mut dyn Supernet,
    config: &OneShotConfig,
    resume: Option<Resume>,
    observer: &mut dyn OneShotObserver,
) -> Result<OneShotResult> {
    config.validate()?;
    let (edges, ops) = (net.edges(), net.ops());
    if let Sharing::FewShot { edge } = config.sharing
        && edge >= edges
    {
        return Err(Error::invalid("sharing", format!("few-shot:{edge}: the supernet has edges 0 to {}", edges - 1)));
    }
    let groups = config.sharing.groups(ops);
    let group_of = |arch: &[usize]| config.sharing.group(arch, ops, config.seed);
    let mut sets = WeightSets::new(net);
    let per_epoch = sets.net.steps_per_epoch();
    if edges == 0 || ops < 2 || per_epoch == 0 {
        return Err(Error::invalid("supernet", format!("{edges} edges of {ops} ops, {per_epoch} steps an epoch")));
    }
    let total = (per_epoch * config.epochs) as f64;
    let resumed = resume.as_ref().map(|r| r.state.epoch);
    let mut state = match resume {
        Some(Resume { state: s, tensors }) => {
            if s.alpha.len() != edges || s.alpha.iter().any(|r| r.len() != ops) || s.epoch > config.epochs {
                return Err(Error::invalid("search state", "it does not fit this supernet and schedule"));
            }
            sets.restore(tensors, groups)?;
            s
        }
        None => SearchState {
            epoch: 0,
            step: 0,
            arch_batches: 0,
            alpha: initial_alpha(edges, ops, config.seed),
            adam: AdamState::default(),
            history: Vec::new(),
        },
    };
    let method = config.method;
    for epoch in state.epoch..config.epochs {
        let started = Instant::now();
        if epoch >= config.split_epoch {
            sets.split(groups);
        }
        let tau = config.tau_max - (config.tau_max - config.tau_min) * epoch as f64 / (config.epochs.max(2) - 1) as f64;
        let (mut wl, mut wc, mut wn, mut al, mut ac, mut an) = (0.0, 0usize, 0usize, 0.0, 0usize, 0usize);
        let mut lr = config.lr;
        for k in 0..per_epoch {
            let s = state.step;
            lr = config.lr_min
                + 0.5 * (config.lr - config.lr_min) * (1.0 + (std::f64::consts::PI * s as f64 / total).cos());
            let mut rng = step_rng(config.seed, 1 + s);
            sets.net.load_batch(Split::Weights, s)?;
            let weight_pass = match method {
                Method::Spos | Method::Rsps => {
                    let arch: Vec<usize> = (0..edges).map(|_| rng.random_range(0..ops)).collect();
                    sets.select(group_of(&arch))?;
                    let path: Vec<EdgeMode> = arch.iter().map(|&op| EdgeMode::Path { op, weight: 1.0 }).collect();
                    let p = sets.net.forward_backward(Split::Weights, &path)?;
                    sets.net.weight_step(lr)?;
                    p
                }
                Method::Darts2 => {
                    sets.net.load_batch(Split::Arch, state.arch_batches)?;
                    state.arch_batches += 1;
                    let (grad, val) = unrolled_gradient(&mut *sets.net, &state.alpha, lr)?;
                    adam_step(&mut state.alpha, &grad, &mut state.adam, config.alpha_lr, config.alpha_wd);
                    (al, ac, an) = (al + val.loss * val.images as f64, ac + val.correct, an + val.images);
                    let p = sets.net.forward_backward(Split::Weights, &soft(&state.alpha).edges())?;
                    sets.net.weight_step(lr)?;
                    p
                }
                _ => {
                    let modes = if method == Method::Gdas {
                        Modes::Gumbel(state.alpha.iter().map(|a| gumbel_sample(a, tau, &mut rng)).collect(), tau)
                    } else {
                        soft(&state.alpha)
                    };
                    let p = sets.net.forward_backward(Split::Weights, &modes.edges())?;
                    let train_grad = (method == Method::Milenas).then(|| modes.alpha_grad(&state.alpha, &p.d_coef));
                    sets.net.weight_step(lr)?;
                    sets.net.load_batch(Split::Arch, state.arch_batches)?;
                    state.arch_batches += 1;
                    let modes = if method == Method::Gdas {
                        Modes::Gumbel(state.alpha.iter().map(|a| gumbel_sample(a, tau, &mut rng)).collect(), tau)
                    } else {
                        soft(&state.alpha)
                    };
                    let val = sets.net.forward_backward(Split::Arch, &modes.edges())?;
                    let mut grad = modes.alpha_grad(&state.alpha, &val.d_coef);
                    if let Some(g) = &train_grad {
                        add_scaled(&mut grad, g, config.lambda);
                    }
                    if method == Method::NaDarts && config.neighbours > 0 {
                        let (current, _) = derive(&state.alpha);
                        for _ in 0..config.neighbours {
                            let e = rng.random_range(0..edges);
                            let o = (current[e] + 1 + rng.random_range(0..ops - 1)) % ops;
                            let mut shifted = state.alpha.clone();
                            shifted[e][o] += config.delta;
                            shifted[e][current[e]] -= config.delta;
                            let m = soft(&shifted);
                            let v = sets.net.forward_backward(Split::Arch, &m.edges())?;
                            add_scaled(&mut grad, &m.alpha_grad(&shifted, &v.d_coef), 1.0);
                        }
                        let n = (1 + config.neighbours) as f64;
                        grad.iter_mut().flatten().for_each(|g| *g /= n);
                    }
                    adam_step(&mut state.alpha, &grad, &mut state.adam, config.alpha_lr, config.alpha_wd);
                    (al, ac, an) = (al + val.loss * val.images as f64, ac + val.correct, an + val.images);
                    p
                }
            };
            (wl, wc, wn) =
                (wl + weight_pass.loss * weight_pass.images as f64, wc + weight_pass.correct, wn + weight_pass.images);
            state.step += 1;
            observer.on_step(epoch + 1, k + 1, per_epoch, weight_pass.loss)?;
        }
        let (arch, non_none) = derive(&state.alpha);
        let has_alpha = method.has_alpha();
        state.history.push(EpochRecord {
            epoch: epoch + 1,
            arch: has_alpha.then_some(arch),
            arch_non_none: has_alpha.then_some(non_none),
            alphas: if has_alpha {
                state.alpha.iter().map(|r| softmax(r)).collect()
            } else {
                vec![vec![1.0 / ops as f64; ops]; edges]
            },
            seconds: started.elapsed().as_secs_f64(),
            train_loss: wl / wn.max(1) as f64,
            train_accuracy: 100.0 * wc as f64 / wn.max(1) as f64,
            arch_loss: (an > 0).then(|| al / an as f64),
            arch_accuracy: (an > 0).then(|| 100.0 * ac as f64 / an as f64),
            tau: (method == Method::Gdas).then_some(tau),
            lr,
            ranking: None,
        });
        if !method.has_alpha() && epoch + config.rank_epochs >= config.epochs {
            let mut accuracies = Vec::with_capacity(config.rank);
            for arch in ranked_archs(edges, ops, config) {
                accuracies.push(sets.path_accuracy(&arch, group_of(&arch), config)?);
            }
            if let Some(last) = state.history.last_mut() {
                last.ranking = Some(accuracies);
            }
        }
        state.epoch = epoch + 1;
        observer.on_epoch(&state, &sets.tensors())?;
    }
    let mut ranking = Vec::new();
    let (arch, arch_non_none) = if method.has_alpha() {
        let (a, n) = derive(&state.alpha);
        (a, Some(n))
    } else {
        for (i, arch) in ranked_archs(edges, ops, config).into_iter().enumerate() {
            let accuracy = sets.path_accuracy(&arch, group_of(&arch), config)?;
            ranking.push(Ranked { arch, accuracy });
            observer.on_rank(i + 1, config.rank)?;
        }
        let best = ranking.iter().enumerate().fold(0, |b, (i, r)| if r.accuracy > ranking[b].accuracy { i } else { b });
        let answer = ranking[best].arch.clone();
        if let Some(last) = state.history.last_mut() {
            last.arch = Some(answer.clone());
        }
        (answer, None)
    };
    Ok(OneShotResult { arch, arch_non_none, state, ranking, resumed_from_epoch: resumed })
}
