//! A weight-sharing supernet on the fast CPU path: [`CpuSupernet`] implements
//! [`nas_core::Supernet`] for a network whose mixed edges are weighted-sum nodes
//! ([`CpuNet::set_mix`]), with its two image halves and the weights' SGD.
//!
//! * A pass sets each mixed node from its edge's [`EdgeMode`]: `Mix(c)` gives input `k` the
//!   coefficient `c[ops[k]]` (every candidate but `none`, which is not built, runs); `Path { op, w }`
//!   gives the chosen op's input `w` and switches the others off, so only the chosen op runs.
//!   `dL/dc[edge][op]` sums, over the cells, `<dL/dy, op(x)>` for the ops that ran and, in a path
//!   pass, the sum of `dL/dy` for the others (their coefficients are scalars of value 0 in the sum,
//!   AutoDL's GDAS).
//! * Data (as `shared/peers/darts_torch.py`): the first `floor(n / 2)` images train the weights,
//!   the rest drive the architecture; one epoch is one pass over the weight half, the architecture
//!   half is cycled, reshuffled at each pass. Batches of fewer than 2 images are left out (batch
//!   norm needs two). Orders and augmentations come from the seed and the batch's index alone
//!   (ChaCha8 streams), so a resumed run sees the same images.
//! * Weights: SGD with momentum (no Nesterov), weight decay, clipping of the global norm, as
//!   PyTorch with `zero_grad(set_to_none=True)`: a tensor that a pass did not reach (an op that did
//!   not run) has no gradient, and the step leaves it and its momentum buffer alone. Batch-norm
//!   running statistics follow every training-mode pass (momentum 0.1).

use nas_core::graph::{Network, NodeId};
use nas_core::{EdgeMode, Error, Pass, Result, Split, Supernet};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cpu::CpuNet;
use crate::train::{self, Batch, ImageSet, data, loss, optim};

/// One mixed edge of the network: the weighted-sum node, the edge it belongs to and the op of each
/// of its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixedNode {
    /// The architecture position (edge) whose choice this node follows.
    pub edge: usize,
    /// The weighted-sum (`Add`) node.
    pub node: NodeId,
    /// `ops[k]`: the op index of input `k`.
    pub ops: Vec<usize>,
}

/// The weight recipe of a supernet search.
#[derive(Clone, Debug, PartialEq)]
pub struct SupernetConfig {
    /// Images per batch.
    pub batch: usize,
    /// Random crop with this padding and horizontal flip (`None`: no augmentation).
    pub augment_pad: Option<usize>,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay (added to the gradient).
    pub weight_decay: f64,
    /// Clip the weight gradient's global norm to this (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Batch-norm running-statistics momentum.
    pub bn_momentum: f64,
    /// Seed of the initial weights, the data orders and the augmentation.
    pub seed: u64,
}

/// Stream tags of the per-batch generators (epoch orders of the weight half use `1 + epoch`).
const AUGMENT_WEIGHTS: u64 = 1 << 48;
const AUGMENT_ARCH: u64 = 2 << 48;
const ORDER_ARCH: u64 = 3 << 48;

/// See the module doc.
#[derive(Debug)]
pub struct CpuSupernet {
    net: CpuNet,
    mixes: Vec<MixedNode>,
    edges: usize,
    ops: usize,
    weights_half: ImageSet,
    arch_half: ImageSet,
    config: SupernetConfig,
    loaded: [Option<Batch>; 2],
    /// The kept gradient (per tensor of `train::params_mut`) and which tensors it reached.
    grad: Option<(Vec<Vec<f32>>, Vec<bool>)>,
    /// Momentum buffers per tensor (`None` until the tensor's first step).
    buffers: Vec<Option<Vec<f32>>>,
    backup: Option<Vec<Vec<f32>>>,
    direction: Option<Vec<Vec<f32>>>,
    /// The node of each parameter tensor.
    param_nodes: Vec<usize>,
    arch_order: Option<(u64, Vec<usize>)>,
}

/// Batches of at least 2 images of an order.
fn batches(order: &[usize], batch: usize) -> impl Iterator<Item = &[usize]> {
    order.chunks(batch).filter(|b| b.len() >= 2)
}

fn count_batches(n: usize, batch: usize) -> usize {
    n / batch + usize::from(n % batch >= 2)
}

impl CpuSupernet {
    /// Sets the supernet to one sub-architecture (`path[edge]` = op) and recomputes every batch
    /// norm's statistics (reset, then a cumulative average) on `bn_batches` unaugmented batches of
    /// the weight half: the sub-architecture's network with inherited weights.
    fn calibrate(&mut self, path: &[usize], bn_batches: usize) -> Result<()> {
        let modes: Vec<EdgeMode> = path.iter().map(|&op| EdgeMode::Path { op, weight: 1.0 }).collect();
        self.set_edges(&modes)?;
        for s in self.net.bn.iter_mut().flatten() {
            s.running_mean.iter_mut().for_each(|v| *v = 0.0);
            s.running_var.iter_mut().for_each(|v| *v = 1.0);
        }
        self.net.set_eval(false);
        let b = self.config.batch;
        let available = self.weights_half.len() / b;
        for t in 0..bn_batches.min(available) {
            let pixels = self.weights_half.normalised(t * b..(t + 1) * b);
            let tape = self.net.forward_tape(&pixels, b)?;
            train::update_running_stats(&mut self.net, &tape, 1.0 / (t + 1) as f64)?;
        }
        Ok(())
    }

    /// Eval-mode logits (`[images, classes]`, row-major) of one sub-architecture with inherited
    /// weights on `set`, its batch-norm statistics recomputed as
    /// [`Supernet::path_accuracy`] does (SAEP's ensemble members).
    pub fn path_logits(&mut self, path: &[usize], bn_batches: usize, set: &ImageSet) -> Result<Vec<f32>> {
        self.calibrate(path, bn_batches)?;
        let out = train::logits(&mut self.net, set);
        self.net.set_eval(false);
        out
    }

    /// The supernet of `network` (mixed edges `mixes`, `edges` positions of `ops` candidates) on
    /// `images`, split by position into the weight half and the architecture half.
    pub fn new(
        network: &Network,
        mixes: Vec<MixedNode>,
        (edges, ops): (usize, usize),
        images: &ImageSet,
        config: SupernetConfig,
        threads: usize,
    ) -> Result<CpuSupernet> {
        if config.batch < 2 {
            return Err(Error::invalid("batch", format!("{}: a batch holds at least two images", config.batch)));
        }
        let half = images.len() / 2;
        if half < config.batch || images.len() - half < config.batch {
            return Err(Error::invalid(
                "training images",
                format!("{} images: each half needs at least one batch of {}", images.len(), config.batch),
            ));
        }
        let first: Vec<usize> = (0..half).collect();
        let rest: Vec<usize> = (half..images.len()).collect();
        let weights_half = images.subset(&first, format!("{}, weight half", images.source));
        let arch_half = images.subset(&rest, format!("{}, architecture half", images.source));
        let mut net = CpuNet::new(network, config.seed)?.with_threads(threads);
        for m in &mixes {
            if m.edge >= edges || m.ops.iter().any(|&o| o >= ops) {
                return Err(Error::invalid("supernet", format!("mixed node {:?} outside {edges} x {ops}", m.node)));
            }
            net.set_mix(m.node, m.ops.iter().map(|_| Some(1.0)).collect())?;
        }
        let mut param_nodes = Vec::new();
        for (i, (w, bn)) in net.weights.iter().zip(&net.bn).enumerate() {
            if let Some(init) = w {
                param_nodes.push(i);
                if init.bias.is_some() {
                    param_nodes.push(i);
                }
            }
            if bn.as_ref().is_some_and(|s| s.affine) {
                param_nodes.extend([i, i]);
            }
        }
        let tensors = param_nodes.len();
        Ok(CpuSupernet {
            net,
            mixes,
            edges,
            ops,
            weights_half,
            arch_half,
            config,
            loaded: [None, None],
            grad: None,
            buffers: vec![None; tensors],
            backup: None,
            direction: None,
            param_nodes,
            arch_order: None,
        })
    }

    /// The network with its current weights.
    pub fn net(&self) -> &CpuNet {
        &self.net
    }

    /// Images of the weight half and of the architecture half.
    pub fn halves(&self) -> (usize, usize) {
        (self.weights_half.len(), self.arch_half.len())
    }

    fn set_edges(&mut self, edges: &[EdgeMode]) -> Result<()> {
        if edges.len() != self.edges {
            return Err(Error::invalid("edges", format!("{} modes for {} edges", edges.len(), self.edges)));
        }
        for m in &self.mixes {
            let coefs = match &edges[m.edge] {
                EdgeMode::Mix(c) if c.len() == self.ops => m.ops.iter().map(|&o| Some(c[o])).collect(),
                EdgeMode::Mix(c) => {
                    return Err(Error::invalid("edges", format!("{} coefficients for {} ops", c.len(), self.ops)));
                }
                EdgeMode::Path { op, weight } if *op < self.ops => {
                    m.ops.iter().map(|&o| (o == *op).then_some(*weight)).collect()
                }
                EdgeMode::Path { op, .. } => return Err(Error::invalid("edges", format!("op {op} of {}", self.ops))),
            };
            self.net.set_mix(m.node, coefs)?;
        }
        Ok(())
    }

    fn slot(split: Split) -> usize {
        match split {
            Split::Weights => 0,
            Split::Arch => 1,
        }
    }

    fn params(&mut self) -> Vec<&mut Vec<f32>> {
        train::params_mut(&mut self.net)
    }
}

impl Supernet for CpuSupernet {
    fn edges(&self) -> usize {
        self.edges
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn steps_per_epoch(&self) -> usize {
        count_batches(self.weights_half.len(), self.config.batch)
    }

    fn load_batch(&mut self, split: Split, index: u64) -> Result<()> {
        let b = self.config.batch;
        let batch = match split {
            Split::Weights => {
                let per = self.steps_per_epoch() as u64;
                let (epoch, k) = (index / per, (index % per) as usize);
                let (order, _) = data::epoch_order(self.weights_half.len(), self.config.seed, epoch as usize);
                let indices = batches(&order, b).nth(k).ok_or_else(|| Error::invalid("batch", "out of range"))?;
                let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                rng.set_stream(AUGMENT_WEIGHTS | index);
                Batch::assemble(&self.weights_half, indices, self.config.augment_pad, &mut rng)
            }
            Split::Arch => {
                let per = count_batches(self.arch_half.len(), b) as u64;
                let (pass, k) = (index / per, (index % per) as usize);
                if self.arch_order.as_ref().is_none_or(|(p, _)| *p != pass) {
                    let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                    rng.set_stream(ORDER_ARCH | pass);
                    let mut order: Vec<usize> = (0..self.arch_half.len()).collect();
                    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
                    self.arch_order = Some((pass, order));
                }
                let order = self.arch_order.as_ref().map(|(_, o)| o.as_slice()).unwrap_or_default();
                let indices = batches(order, b).nth(k).ok_or_else(|| Error::invalid("batch", "out of range"))?;
                let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                rng.set_stream(AUGMENT_ARCH | index);
                Batch::assemble(&self.arch_half, indices, self.config.augment_pad, &mut rng)
            }
        };
        self.loaded[Self::slot(split)] = Some(batch);
        Ok(())
    }

    fn forward_backward(&mut self, split: Split, edges: &[EdgeMode]) -> Result<Pass> {
        self.set_edges(edges)?;
        let batch = self.loaded[Self::slot(split)]
            .take()
            .ok_or_else(|| Error::invalid("supernet", "no batch loaded for this split"))?;
        let result = (|| {
            let n = batch.labels.len();
            let classes = self.weights_half.classes;
            self.net.set_eval(false);
            let tape = self.net.forward_tape(&batch.pixels, n)?;
            let logits = &self.net.output(&tape)?.data;
            if logits.len() != n * classes {
                return Err(Error::invalid("network output", format!("{} values for {n} images", logits.len())));
            }
            let scored = loss::cross_entropy(logits, &batch.labels, classes, 0.0);
            if !scored.loss.is_finite() {
                return Err(Error::Numerical(format!("the supernet's loss became {}", scored.loss)));
            }
            let mut grads = self.net.backward(&tape, &scored.grad, &mut |_, _, _| {})?;
            train::update_running_stats(&mut self.net, &tape, self.config.bn_momentum)?;
            drop(tape);
            let mut d_coef = vec![vec![0.0f64; self.ops]; self.edges];
            let mixes = std::mem::take(&mut grads.mixes);
            for (id, d, sum) in mixes {
                let Some(m) = self.mixes.iter().find(|m| m.node == id) else { continue };
                let row = &mut d_coef[m.edge];
                match &edges[m.edge] {
                    EdgeMode::Mix(_) => m.ops.iter().zip(&d).for_each(|(&o, v)| row[o] += v),
                    EdgeMode::Path { op, .. } => {
                        for (o, r) in row.iter_mut().enumerate() {
                            if o != *op {
                                *r += sum;
                            }
                        }
                        if let Some(k) = m.ops.iter().position(|o| o == op) {
                            row[*op] += d[k];
                        }
                    }
                }
            }
            let mut reached = vec![false; self.net.network().len()];
            for id in grads.weights.iter().map(|g| g.0).chain(grads.batch_norms.iter().map(|g| g.0)) {
                reached[id.index()] = true;
            }
            let touched = self.param_nodes.iter().map(|&i| reached[i]).collect();
            let g = train::param_grads(&self.net, grads);
            self.grad = Some((g, touched));
            Ok(Pass { loss: scored.loss, correct: scored.correct, images: n, d_coef })
        })();
        self.loaded[Self::slot(split)] = Some(batch);
        result
    }

    fn weight_step(&mut self, lr: f64) -> Result<()> {
        let (mut g, touched) = self.grad.take().ok_or_else(|| Error::invalid("supernet", "no gradient kept"))?;
        if let Some(c) = self.config.clip_norm {
            optim::clip_grad_norm(&mut g, c);
        }
        let (m, wd, lr) = (self.config.momentum as f32, self.config.weight_decay as f32, lr as f32);
        let mut buffers = std::mem::take(&mut self.buffers);
        for (((p, gi), buf), &t) in self.params().into_iter().zip(&g).zip(&mut buffers).zip(&touched) {
            if !t {
                continue;
            }
            let fresh = buf.is_none();
            let b = buf.get_or_insert_with(|| vec![0.0; gi.len()]);
            for ((w, &gv), bv) in p.iter_mut().zip(gi).zip(b.iter_mut()) {
                let d = gv + wd * *w;
                *bv = if fresh { d } else { m * *bv + d };
                *w -= lr * *bv;
            }
        }
        self.buffers = buffers;
        self.grad = Some((g, touched));
        Ok(())
    }

    fn save_weights(&mut self) {
        self.backup = Some(self.params().into_iter().map(|t| t.clone()).collect());
    }

    fn restore_weights(&mut self) -> Result<()> {
        let backup = self.backup.take().ok_or_else(|| Error::invalid("supernet", "no weights saved"))?;
        for (p, b) in self.params().into_iter().zip(backup) {
            *p = b;
        }
        Ok(())
    }

    fn virtual_step(&mut self, lr: f64) -> Result<()> {
        let (g, touched) = self.grad.take().ok_or_else(|| Error::invalid("supernet", "no gradient kept"))?;
        let (m, wd, lr) = (self.config.momentum as f32, self.config.weight_decay as f32, lr as f32);
        let buffers = std::mem::take(&mut self.buffers);
        for (((p, gi), buf), &t) in self.params().into_iter().zip(&g).zip(&buffers).zip(&touched) {
            if !t {
                continue;
            }
            for (k, (w, &gv)) in p.iter_mut().zip(gi).enumerate() {
                let moment = buf.as_ref().map_or(0.0, |b| m * b[k]);
                *w -= lr * (moment + gv + wd * *w);
            }
        }
        self.buffers = buffers;
        self.grad = Some((g, touched));
        Ok(())
    }

    fn keep_direction(&mut self) -> Result<f64> {
        let (g, _) = self.grad.as_ref().ok_or_else(|| Error::invalid("supernet", "no gradient kept"))?;
        let norm = g.iter().flatten().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        self.direction = Some(g.clone());
        Ok(norm)
    }

    fn move_along_direction(&mut self, step: f64) -> Result<()> {
        let dir = self.direction.take().ok_or_else(|| Error::invalid("supernet", "no direction kept"))?;
        for (p, d) in self.params().into_iter().zip(&dir) {
            for (w, &dv) in p.iter_mut().zip(d) {
                *w = (f64::from(*w) + step * f64::from(dv)) as f32;
            }
        }
        self.direction = Some(dir);
        Ok(())
    }

    fn path_accuracy(&mut self, path: &[usize], bn_batches: usize, images: Option<usize>) -> Result<f64> {
        self.calibrate(path, bn_batches)?;
        let acc = match images {
            Some(n) if n < self.arch_half.len() => {
                let first: Vec<usize> = (0..n).collect();
                let name = format!("{}, first {n}", self.arch_half.source);
                train::evaluate(&mut self.net, &self.arch_half.subset(&first, name))
            }
            _ => train::evaluate(&mut self.net, &self.arch_half),
        };
        self.net.set_eval(false);
        acc
    }

    fn state(&self) -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = Vec::new();
        for (w, bn) in self.net.weights.iter().zip(&self.net.bn) {
            if let Some(init) = w {
                out.push(init.weight.clone());
                if let Some(b) = &init.bias {
                    out.push(b.clone());
                }
            }
            if let Some(s) = bn.as_ref().filter(|s| s.affine) {
                out.push(s.scale.clone());
                out.push(s.shift.clone());
            }
        }
        for s in self.net.bn.iter().flatten() {
            out.push(s.running_mean.clone());
            out.push(s.running_var.clone());
        }
        out.extend(self.buffers.iter().map(|b| b.clone().unwrap_or_default()));
        out
    }

    fn set_state(&mut self, state: Vec<Vec<f32>>) -> Result<()> {
        let lens: Vec<usize> = self.params().iter().map(|t| t.len()).collect();
        let bn = self.net.bn.iter().flatten().count();
        if state.len() != 2 * lens.len() + 2 * bn {
            return Err(Error::invalid(
                "supernet state",
                format!("{} tensors for a supernet of {}", state.len(), 2 * lens.len() + 2 * bn),
            ));
        }
        let mut it = state.into_iter();
        let mut params = Vec::new();
        for &l in &lens {
            let t = it.next().unwrap_or_default();
            if t.len() != l {
                return Err(Error::invalid("supernet state", format!("{} values for a tensor of {l}", t.len())));
            }
            params.push(t);
        }
        let mut running = Vec::new();
        for s in self.net.bn.iter().flatten() {
            let (m, v) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
            if m.len() != s.running_mean.len() || v.len() != s.running_var.len() {
                return Err(Error::invalid("supernet state", "running statistics of another size"));
            }
            running.push((m, v));
        }
        let mut buffers = Vec::new();
        for &l in &lens {
            let t = it.next().unwrap_or_default();
            match t.len() {
                0 => buffers.push(None),
                n if n == l => buffers.push(Some(t)),
                n => return Err(Error::invalid("supernet state", format!("{n} momentum values for a tensor of {l}"))),
            }
        }
        for (p, v) in self.params().into_iter().zip(params) {
            *p = v;
        }
        for (s, (m, v)) in self.net.bn.iter_mut().flatten().zip(running) {
            s.running_mean = m;
            s.running_var = v;
        }
        self.buffers = buffers;
        Ok(())
    }
}
