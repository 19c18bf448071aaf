//! Training-free scores of untrained networks, as `shared/docs/algorithms.md` §2–3 defines them.
//!
//! Every score is oriented so that **higher is better**: the NTK condition number is reported
//! negated (`-kappa`), synflow as the natural log of its sum. Conv and linear weights are the
//! "weights" of the per-weight measures (biases and batch-norm parameters are not summed).
//!
//! | proxy | what it computes | batch |
//! |---|---|---|
//! | `naswot` | `log|det K|`, K from the binary codes of every ReLU input | images |
//! | `synflow` | `ln sum |W * dR/dW|`, `|W|`, f64, no batch norm, input all ones, R = sum of outputs | 1 |
//! | `snip` | `sum |W * dL/dW|`, L = cross-entropy | images |
//! | `grad_norm` | `sum over layers ||dL/dW||_2` | images |
//! | `grasp` | `sum -W * Hg`, g = dL/dW | images |
//! | `fisher` | per output channel `0.5 * mean_images (sum_positions a * dL/da)^2`, summed | images |
//! | `jacob_cov` | `-sum(log(s + k) + 1/(s + k))`, s = eigenvalues of the correlation of per-image input Jacobians; `-inf` if the output ignores the input | images |
//! | `ntk` | `-lambda_max / lambda_min` of `G G^T`, G = per-image gradients of the summed logits | first 72 |
//! | `linear_regions` | distinct ReLU sign patterns over the inputs given | inputs |
//! | `params`, `flops` | exact counts (`nas_core::count`) | none |
//!
//! Paths: naswot, linear_regions, snip, grad_norm, grasp, fisher and jacob_cov run on the fast CPU
//! network (`crate::cpu`, with its own backward pass); their candle versions (`*_candle`) are the
//! references the tests compare them with. synflow (f64) and ntk run on candle.
//!
//! Deviation: neither path has a second-order backward, so `grasp` takes the Hessian-vector product
//! `Hg` as a central difference of gradients, `(grad L(W + e g) - grad L(W - e g)) / 2e`, with
//! `e = 1e-4 * ||W|| / ||g||`, and with every ReLU's gate held at its value in the pass at `W`.
//! Autograd's double backward (the published GraSP code) holds the gates fixed the same way; a plain
//! difference would also count the ReLU kinks crossed between `W - e g` and `W + e g`, a term that
//! does not vanish as `e` shrinks. The candle reference runs in f64; the fast path runs its three
//! passes in f32 and sums in f64 (the tests bound the difference).

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use nas_core::graph::Network;
use nas_core::{Error, Result};

use crate::cpu::CpuNet;
use crate::images::ImageBatch;
use crate::linalg::{corrcoef_rows, sym_eigenvalues};
use crate::naswot::{BitCodes, KAccumulator};
use crate::net::{CandleNet, Pass, backend, to_f64_vec};

/// A training-free score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proxy {
    /// NASWOT (Mellor et al. 2021): log-determinant of the ReLU-code kernel.
    Naswot,
    /// SynFlow (Tanaka et al. 2020): synaptic saliency without data.
    Synflow,
    /// SNIP (Lee et al. 2019): connection sensitivity.
    Snip,
    /// Gradient norm of the loss.
    GradNorm,
    /// GraSP (Wang et al. 2020): gradient signal preservation.
    Grasp,
    /// Fisher (Theis et al. 2018): channel saliency.
    Fisher,
    /// Jacobian covariance (the first NASWOT paper version).
    JacobCov,
    /// Negative condition number of the NTK (TE-NAS).
    Ntk,
    /// Number of linear regions (TE-NAS).
    LinearRegions,
    /// Parameter count.
    Params,
    /// FLOP count.
    Flops,
}

impl Proxy {
    /// Every proxy, in display order.
    pub const ALL: [Proxy; 11] = [
        Proxy::Naswot,
        Proxy::Synflow,
        Proxy::Snip,
        Proxy::GradNorm,
        Proxy::Grasp,
        Proxy::Fisher,
        Proxy::JacobCov,
        Proxy::Ntk,
        Proxy::LinearRegions,
        Proxy::Params,
        Proxy::Flops,
    ];

    /// The name the CLI and reports use, e.g. `grad_norm`.
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Naswot => "naswot",
            Proxy::Synflow => "synflow",
            Proxy::Snip => "snip",
            Proxy::GradNorm => "grad_norm",
            Proxy::Grasp => "grasp",
            Proxy::Fisher => "fisher",
            Proxy::JacobCov => "jacob_cov",
            Proxy::Ntk => "ntk",
            Proxy::LinearRegions => "linear_regions",
            Proxy::Params => "params",
            Proxy::Flops => "flops",
        }
    }

    /// The proxy's name in the score cache: its name, with a revision suffix when its definition
    /// changed since scores were first cached (`grasp@2`: ReLU gates held in the Hessian-vector
    /// product), so that a cache never answers with a score of the old definition.
    pub fn cache_name(self) -> &'static str {
        match self {
            Proxy::Grasp => "grasp@2",
            other => other.name(),
        }
    }

    /// Parses a proxy name (also accepts `-` for `_`).
    pub fn parse(s: &str) -> Result<Proxy> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Proxy::ALL.into_iter().find(|p| p.name() == norm).ok_or_else(|| {
            let names: Vec<&str> = Proxy::ALL.iter().map(|p| p.name()).collect();
            Error::invalid("proxy", format!("{s:?} is not one of {}", names.join(", ")))
        })
    }

    /// Parses a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Proxy>> {
        let list: Vec<Proxy> =
            s.split(',').filter(|p| !p.trim().is_empty()).map(Proxy::parse).collect::<Result<_>>()?;
        if list.is_empty() {
            return Err(Error::invalid("proxy", format!("{s:?} names no proxy")));
        }
        Ok(list)
    }

    /// Whether the score reads the image batch (and so depends on it).
    pub fn uses_images(self) -> bool {
        !matches!(self, Proxy::Synflow | Proxy::Params | Proxy::Flops)
    }
}

impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Images per NTK evaluation (TE-NAS on NAS-Bench-201).
pub const NTK_BATCH: usize = 72;

/// Computes `proxy` for `network` on `images` with parameters initialised from `seed`.
/// For `linear_regions`, `images` are the inputs whose patterns are counted.
pub fn score(proxy: Proxy, network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let values = score_with_siblings(proxy, network, images, seed)?;
    values
        .into_iter()
        .find(|(p, _)| *p == proxy)
        .map(|(_, v)| v)
        .ok_or_else(|| Error::Numerical(format!("{proxy} was not among the scores its pass computed")))
}

/// Computes `proxy` and every other proxy its pass yields at no extra cost (snip and grad_norm
/// come from one backward pass). A NaN in any of them is an error naming it.
pub fn score_with_siblings(
    proxy: Proxy,
    network: &Network,
    images: &ImageBatch,
    seed: u64,
) -> Result<Vec<(Proxy, f64)>> {
    let values = match proxy {
        Proxy::Snip | Proxy::GradNorm => {
            let (snip, grad_norm) = snip_and_grad_norm(network, images, seed)?;
            vec![(Proxy::Snip, snip), (Proxy::GradNorm, grad_norm)]
        }
        Proxy::Params => vec![(proxy, network.counts().params as f64)],
        Proxy::Flops => vec![(proxy, network.counts().flops as f64)],
        Proxy::Naswot => vec![(proxy, naswot(network, images, seed)?)],
        Proxy::Synflow => vec![(proxy, synflow(network, seed)?)],
        Proxy::Grasp => vec![(proxy, grasp(network, images, seed)?)],
        Proxy::Fisher => vec![(proxy, fisher(network, images, seed)?)],
        Proxy::JacobCov => vec![(proxy, jacob_cov(network, images, seed)?)],
        Proxy::Ntk => vec![(proxy, ntk(network, &images.first(images.len().min(NTK_BATCH))?, seed)?)],
        Proxy::LinearRegions => vec![(proxy, linear_regions(network, images, seed)?)],
    };
    if let Some((p, _)) = values.iter().find(|(_, v)| v.is_nan()) {
        return Err(Error::Numerical(format!("{p} produced NaN")));
    }
    Ok(values)
}

fn input(cn: &CandleNet, images: &ImageBatch) -> Result<Tensor> {
    cn.tensor(images.pixels.clone(), &[images.len(), images.channels, images.height, images.width])
}

/// NASWOT: `log|det K|` over the ReLU inputs of one forward pass; `-inf` for a singular K.
/// Runs on the fast CPU path, codes packed as each ReLU is reached.
/// With the `cuda` feature and a usable GPU, the K step runs there ([`k_step_device`] says where).
pub fn naswot(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let b = images.len();
    let net = CpuNet::new(network, seed)?;
    #[cfg(feature = "cuda")]
    if let Ok(mut acc) = crate::cuda::GpuKAccumulator::new(b) {
        net.forward(&images.pixels, b, &mut |_, x| acc.add_codes(&BitCodes::pack(x, b, x.len() / b)?))?;
        return acc.score();
    }
    let mut acc = KAccumulator::new(b);
    net.forward(&images.pixels, b, &mut |_, x| acc.add_layer(x, x.len() / b))?;
    acc.score()
}

/// Where NASWOT's K step runs in this process, in words (`gpu`, or `cpu` and why not the GPU).
pub fn k_step_device() -> String {
    #[cfg(feature = "cuda")]
    return match crate::cuda::unavailable_reason() {
        None => "gpu (cuda)".into(),
        Some(why) => format!("cpu (built with cuda, but {why})"),
    };
    #[cfg(not(feature = "cuda"))]
    "cpu".into()
}

/// NASWOT on the candle path: the reference the fast path is tested against.
pub fn naswot_candle(network: &Network, images: &ImageBatch, seed: u64) -> Result<KAccumulator> {
    let cn = CandleNet::new(network, seed, DType::F32, &Device::Cpu)?;
    let b = images.len();
    let mut acc = KAccumulator::new(b);
    let mut record = |_, x: &Tensor| -> Result<()> {
        let values = x.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(backend)?;
        acc.add_layer(&values, values.len() / b)
    };
    cn.forward(&input(&cn, images)?, &mut Pass { on_relu_input: Some(&mut record), ..Pass::default() })?;
    Ok(acc)
}

/// synflow: `ln sum |W * dR/dW|` of the linearised network (see the module doc).
pub fn synflow(network: &Network, seed: u64) -> Result<f64> {
    let cn = CandleNet::new(network, seed, DType::F64, &Device::Cpu)?;
    cn.abs_params()?;
    let shape = network.input_id().map(|id| network.node(id).shape).ok_or_else(no_input)?;
    let ones = Tensor::ones((1, shape.c, shape.h, shape.w), DType::F64, cn.device()).map_err(backend)?;
    let out = cn.forward(&ones, &mut Pass { bypass_batch_norm: true, ..Pass::default() })?;
    let grads = out.output.sum_all().and_then(|r| r.backward()).map_err(backend)?;
    let sum = weight_measure(&cn, &grads, |w, g| (w * g)?.abs()?.sum_all()?.to_scalar::<f64>())?;
    Ok(sum.ln())
}

fn no_input() -> Error {
    Error::invalid("network", "it has no input node")
}

/// `(snip, grad_norm)` on the candle path: the reference of [`snip_and_grad_norm`].
pub fn snip_and_grad_norm_candle(network: &Network, images: &ImageBatch, seed: u64) -> Result<(f64, f64)> {
    let cn = CandleNet::new(network, seed, DType::F32, &Device::Cpu)?;
    let grads = cross_entropy_grads(&cn, images)?;
    let to_f64 = |t: Tensor| t.to_dtype(DType::F64)?.to_scalar::<f64>();
    let snip = weight_measure(&cn, &grads, |w, g| to_f64((w * g)?.abs()?.sum_all()?))?;
    let grad_norm = weight_measure(&cn, &grads, |_, g| Ok(to_f64(g.sqr()?.sum_all()?)?.sqrt()))?;
    Ok((snip, grad_norm))
}

/// Gradients of the mean cross-entropy of the batch.
fn cross_entropy_grads(cn: &CandleNet, images: &ImageBatch) -> Result<GradStore> {
    let (logits, _) = cn.logits(&input(cn, images)?, &mut Pass::default())?;
    cross_entropy(&logits, images)?.backward().map_err(backend)
}

fn cross_entropy(logits: &Tensor, images: &ImageBatch) -> Result<Tensor> {
    let labels = Tensor::new(images.labels.as_slice(), logits.device()).map_err(backend)?;
    candle_nn::loss::cross_entropy(logits, &labels).map_err(backend)
}

/// Sums `f(W, dW)` over every conv and linear weight.
fn weight_measure(
    cn: &CandleNet,
    grads: &GradStore,
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<f64>,
) -> Result<f64> {
    let mut total = 0.0;
    for (_, p) in cn.params() {
        if let Some(w) = p.weight() {
            // A weight the output does not depend on has no gradient: it adds nothing.
            if let Some(g) = grads.get(w.as_tensor()) {
                total += f(w.as_tensor(), g).map_err(backend)?;
            }
        }
    }
    Ok(total)
}

/// GraSP: `sum -W * Hg` with a finite-difference Hessian-vector product (see the module doc), on
/// the fast CPU path: three f32 backward passes, at `W` and `W +- e g` with the ReLU gates of the
/// pass at `W`, the sums in f64.
pub fn grasp(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    grasp_with_step(network, images, seed, GRASP_STEP)
}

/// [`grasp`] with another relative finite-difference step.
pub fn grasp_with_step(network: &Network, images: &ImageBatch, seed: u64, step: f64) -> Result<f64> {
    let net = CpuNet::new(network, seed)?;
    let grads_at = |net: &CpuNet| -> Result<(crate::cpu::Gradients, crate::cpu::Tape)> {
        let tape = net.forward_tape(&images.pixels, images.len())?;
        let d = cross_entropy_grad(net.output(&tape)?, &images.labels)?;
        Ok((net.backward(&tape, &d, &mut |_, _, _| {})?, tape))
    };
    let (grads, tape) = grads_at(&net)?;
    let gates = net.relu_gates(&tape)?;
    drop(tape);
    let g = grads.weights;
    let g_norm = g.iter().flat_map(|(_, _, d)| d).map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if g_norm == 0.0 {
        return Ok(0.0);
    }
    let eps = step * net.weight_norm() / g_norm;
    let net = net.with_relu_gates(gates);
    let plus = grads_at(&net.shifted(&g, eps)?)?.0.weights;
    let minus = grads_at(&net.shifted(&g, -eps)?)?.0.weights;
    // The same network in the same order: the three lists line up layer by layer.
    if plus.len() != g.len() || minus.len() != g.len() {
        return Err(Error::Numerical("grasp: the shifted networks have other layers with gradients".into()));
    }
    let mut total = 0.0;
    for (((_, w, _), (_, _, p)), (_, _, m)) in g.iter().zip(&plus).zip(&minus) {
        total -= w
            .iter()
            .zip(p.iter().zip(m))
            .map(|(&w, (&p, &m))| f64::from(w) * (f64::from(p) - f64::from(m)) / (2.0 * eps))
            .sum::<f64>();
    }
    Ok(total)
}

/// The finite-difference step of grasp, relative: `e = GRASP_STEP * ||W|| / ||g||`. On the f32 fast
/// path, 1e-4 balances the O(e^2) truncation (1-6 % at 1e-3 on small test networks, where batch norm
/// bends strongly) against f32 rounding (which grows below 3e-5); the result is within about 5e-4 of
/// the converged f64 value.
pub const GRASP_STEP: f64 = 1e-4;

/// GraSP on the candle path in f64: the reference of [`grasp`].
pub fn grasp_candle(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    grasp_candle_with_step(network, images, seed, GRASP_STEP)
}

/// [`grasp_candle`] with another relative finite-difference step (tests check that the result
/// does not depend on it).
pub fn grasp_candle_with_step(network: &Network, images: &ImageBatch, seed: u64, step: f64) -> Result<f64> {
    let cn = CandleNet::new(network, seed, DType::F64, &Device::Cpu)?;
    let weights: Vec<Var> = cn.params().filter_map(|(_, p)| p.weight().cloned()).collect();
    // The ReLU gates of the pass at W, held for the shifted passes.
    let mut gates = std::collections::HashMap::new();
    let mut record = |id, x: &Tensor| -> Result<()> {
        gates.insert(id, x.gt(0.0).and_then(|m| m.to_dtype(DType::F64)).map_err(backend)?);
        Ok(())
    };
    cn.forward(&input(&cn, images)?, &mut Pass { on_relu_input: Some(&mut record), ..Pass::default() })?;
    let grads_at = |cn: &CandleNet| -> Result<Vec<Tensor>> {
        let (logits, _) = cn.logits(&input(cn, images)?, &mut Pass { relu_gates: Some(&gates), ..Pass::default() })?;
        let grads = cross_entropy(&logits, images)?.backward().map_err(backend)?;
        weights
            .iter()
            .map(|w| match grads.get(w.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => w.as_tensor().zeros_like().map_err(backend),
            })
            .collect()
    };
    let g = grads_at(&cn)?;
    let originals: Vec<Tensor> =
        weights.iter().map(|w| w.as_tensor().copy()).collect::<candle_core::Result<_>>().map_err(backend)?;
    let norm = |ts: &[Tensor]| -> Result<f64> {
        let mut s = 0.0;
        for t in ts {
            s += t.sqr().and_then(|t| t.sum_all()).and_then(|t| t.to_scalar::<f64>()).map_err(backend)?;
        }
        Ok(s.sqrt())
    };
    let g_norm = norm(&g)?;
    if g_norm == 0.0 {
        return Ok(0.0);
    }
    let eps = step * norm(&originals)? / g_norm;
    let shifted = |sign: f64| -> Result<Vec<Tensor>> {
        for ((w, w0), gi) in weights.iter().zip(&originals).zip(&g) {
            w.set(&(w0 + (gi * (sign * eps)).map_err(backend)?).map_err(backend)?).map_err(backend)?;
        }
        grads_at(&cn)
    };
    let plus = shifted(1.0)?;
    let minus = shifted(-1.0)?;
    let mut total = 0.0;
    for ((w0, p), m) in originals.iter().zip(&plus).zip(&minus) {
        let hg = ((p - m).map_err(backend)? / (2.0 * eps)).map_err(backend)?;
        total -= (w0 * hg).and_then(|t| t.sum_all()).and_then(|t| t.to_scalar::<f64>()).map_err(backend)?;
    }
    Ok(total)
}

/// Fisher: per output channel of every conv and linear layer, `0.5 * mean over images of
/// (sum over positions of a * dL/da)^2`, summed.
pub fn fisher_candle(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let cn = CandleNet::new(network, seed, DType::F32, &Device::Cpu)?;
    let (logits, probes) =
        cn.logits(&input(&cn, images)?, &mut Pass { probe_layer_outputs: true, ..Pass::default() })?;
    let grads = cross_entropy(&logits, images)?.backward().map_err(backend)?;
    let mut total = 0.0;
    for p in probes {
        let Some(g) = grads.get(p.probe.as_tensor()) else { continue };
        let per_channel = (&p.value * g).map_err(backend)?;
        let per_channel = if per_channel.rank() == 4 { per_channel.sum((2, 3)) } else { Ok(per_channel) };
        let v = per_channel
            .and_then(|t| t.to_dtype(DType::F64))
            .and_then(|t| t.sqr())
            .and_then(|t| t.mean(0))
            .and_then(|t| t.sum_all())
            .and_then(|t| t.to_scalar::<f64>())
            .map_err(backend)?;
        total += 0.5 * v;
    }
    Ok(total)
}

/// jacob_cov: `-sum(log(s + k) + 1/(s + k))`, `k = 1e-5`, over the eigenvalues `s` of the
/// correlation matrix of the per-image Jacobians `d(sum of outputs)/d(input)`.
pub fn jacob_cov_candle(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let cn = CandleNet::new(network, seed, DType::F32, &Device::Cpu)?;
    let x = Var::from_tensor(&input(&cn, images)?).map_err(backend)?;
    let out = cn.forward(x.as_tensor(), &mut Pass::default())?;
    let grads = out.output.sum_all().and_then(|s| s.backward()).map_err(backend)?;
    let b = images.len();
    let j = match grads.get(x.as_tensor()) {
        Some(g) => to_f64_vec(g)?,
        None => vec![0.0; images.pixels.len()],
    };
    jacob_cov_of(&j, b)
}

/// jacob_cov from the per-image input Jacobians (`b` rows). A network whose output does not
/// depend on an image's pixels (a constant Jacobian row: cells that output zero) has no defined
/// correlation; it scores `-inf`, the lowest rank, as a singular K does for NASWOT.
fn jacob_cov_of(j: &[f64], b: usize) -> Result<f64> {
    let d = j.len() / b;
    if j.chunks_exact(d).any(|row| row.iter().all(|&v| v == row[0])) {
        return Ok(f64::NEG_INFINITY);
    }
    let corr = corrcoef_rows(j, b, d);
    if corr.iter().any(|v| v.is_nan()) {
        return Err(Error::Numerical("jacob_cov: an image has a constant input Jacobian (correlation is NaN)".into()));
    }
    let k = 1e-5;
    let eig = sym_eigenvalues(&corr, b)?;
    Ok(-eig.iter().map(|s| (s + k).ln() + 1.0 / (s + k)).sum::<f64>())
}

/// `(snip, grad_norm)` from one backward pass of the mean cross-entropy, on the fast CPU path.
pub fn snip_and_grad_norm(network: &Network, images: &ImageBatch, seed: u64) -> Result<(f64, f64)> {
    let (net, tape) = cpu_tape(network, images, seed)?;
    let d = cross_entropy_grad(net.output(&tape)?, &images.labels)?;
    let grads = net.backward(&tape, &d, &mut |_, _, _| {})?;
    let (mut snip, mut grad_norm) = (0.0, 0.0);
    for (_, w, dw) in &grads.weights {
        snip += w.iter().zip(dw).map(|(&a, &b)| f64::from((a * b).abs())).sum::<f64>();
        grad_norm += dw.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    }
    Ok((snip, grad_norm))
}

/// fisher: per output channel of every conv and linear layer, `0.5 * mean over images of
/// (sum over positions a * dL/da)^2`, summed; on the fast CPU path.
pub fn fisher(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let (net, tape) = cpu_tape(network, images, seed)?;
    let d = cross_entropy_grad(net.output(&tape)?, &images.labels)?;
    let b = images.len();
    let mut total = 0.0;
    net.backward(&tape, &d, &mut |_, a, g| {
        let (c, hw) = (a.shape.c, a.shape.h * a.shape.w);
        let mut per_channel = vec![0.0f64; c];
        for (ai, gi) in a.data.chunks_exact(c * hw).zip(g.chunks_exact(c * hw)) {
            for (ch, acc) in per_channel.iter_mut().enumerate() {
                let r = ch * hw..(ch + 1) * hw;
                let s: f64 = ai[r.clone()].iter().zip(&gi[r]).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
                *acc += s * s;
            }
        }
        total += 0.5 * per_channel.iter().sum::<f64>() / b as f64;
    })?;
    Ok(total)
}

/// jacob_cov: `-sum(log(s + k) + 1/(s + k))`, `k = 1e-5`, over the eigenvalues `s` of the
/// correlation matrix of the per-image Jacobians `d(sum of outputs)/d(input)`; fast CPU path.
pub fn jacob_cov(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let (net, tape) = cpu_tape(network, images, seed)?;
    let ones = vec![1.0f32; net.output(&tape)?.data.len()];
    let grads = net.backward(&tape, &ones, &mut |_, _, _| {})?;
    let j: Vec<f64> = grads.input.iter().map(|&v| f64::from(v)).collect();
    jacob_cov_of(&j, images.len())
}

fn cpu_tape(network: &Network, images: &ImageBatch, seed: u64) -> Result<(CpuNet, crate::cpu::Tape)> {
    let net = CpuNet::new(network, seed)?;
    let tape = net.forward_tape(&images.pixels, images.len())?;
    Ok((net, tape))
}

/// `dL/d(logits)` of the mean cross-entropy: `(softmax - onehot) / batch`.
fn cross_entropy_grad(logits: &crate::cpu::Act, labels: &[u32]) -> Result<Vec<f32>> {
    let classes = logits.shape.numel();
    let b = labels.len();
    if logits.data.len() != b * classes {
        return Err(Error::invalid("labels", format!("{b} labels for {} logits", logits.data.len())));
    }
    let mut d = vec![0.0f32; b * classes];
    for ((row, out), &label) in logits.data.chunks_exact(classes).zip(d.chunks_exact_mut(classes)).zip(labels) {
        let label = label as usize;
        if label >= classes {
            return Err(Error::invalid("labels", format!("label {label} with {classes} classes")));
        }
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        for (k, (o, e)) in out.iter_mut().zip(&exp).enumerate() {
            *o = ((e / sum - f64::from(u8::from(k == label))) / b as f64) as f32;
        }
    }
    Ok(d)
}

/// NTK condition number, negated: `-lambda_max / lambda_min` of `G G^T`, where row `i` of `G` is the
/// gradient of image `i`'s summed logits with respect to every weight (conv, linear and batch-norm
/// scale, as TE-NAS takes all parameters named `weight`), from one batched forward pass.
pub fn ntk(network: &Network, images: &ImageBatch, seed: u64) -> Result<f64> {
    let cn = CandleNet::new(network, seed, DType::F32, &Device::Cpu)?;
    let (logits, _) = cn.logits(&input(&cn, images)?, &mut Pass::default())?;
    let weights: Vec<&Var> = cn
        .params()
        .filter_map(|(_, p)| match p {
            crate::net::Params::BatchNorm { scale, .. } => Some(scale),
            other => other.weight(),
        })
        .collect();
    let b = images.len();
    let mut rows = Vec::with_capacity(b);
    for i in 0..b {
        let grads = logits.narrow(0, i, 1).and_then(|r| r.sum_all()).and_then(|s| s.backward()).map_err(backend)?;
        let mut row = Vec::new();
        for w in &weights {
            match grads.get(w.as_tensor()) {
                Some(g) => row.extend(to_f64_vec(g)?),
                None => row.extend(std::iter::repeat_n(0.0, w.as_tensor().elem_count())),
            }
        }
        rows.push(row);
    }
    let mut gram = vec![0.0; b * b];
    for i in 0..b {
        for j in i..b {
            let v: f64 = rows[i].iter().zip(&rows[j]).map(|(a, c)| a * c).sum();
            gram[i * b + j] = v;
            gram[j * b + i] = v;
        }
    }
    let eig = sym_eigenvalues(&gram, b)?;
    let (min, max) = (eig[0], eig[b - 1]);
    Ok(if min <= 0.0 { f64::NEG_INFINITY } else { -max / min })
}

/// Linear regions: the number of distinct sign patterns of all ReLU inputs over the given inputs,
/// run in batches of at most 1,000 (batch-norm statistics per batch, as TE-NAS does).
pub fn linear_regions(network: &Network, inputs: &ImageBatch, seed: u64) -> Result<f64> {
    let net = CpuNet::new(network, seed)?;
    let per = inputs.channels * inputs.height * inputs.width;
    let mut patterns = std::collections::HashSet::new();
    for chunk in inputs.pixels.chunks(1000 * per) {
        let b = chunk.len() / per;
        let mut codes: Vec<Vec<u64>> = vec![Vec::new(); b];
        net.forward(chunk, b, &mut |_, x| {
            let layer = BitCodes::pack(x, b, x.len() / b)?;
            for (code, words) in codes.iter_mut().zip(layer.words().chunks_exact(layer.words_per_image())) {
                code.extend_from_slice(words);
            }
            Ok(())
        })?;
        patterns.extend(codes);
    }
    Ok(patterns.len() as f64)
}
