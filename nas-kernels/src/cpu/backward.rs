//! Reverse mode through [`CpuNet`]: the gradients that snip, grad_norm, fisher and jacob_cov need,
//! at the speed of the fast forward pass. The candle network ([`crate::net::CandleNet`]) is the
//! reference: `tests/execution.rs` compares every gradient with candle's autograd on random networks.
//!
//! The forward pass keeps every node's value (the [`Tape`]); the backward pass walks the nodes in
//! reverse order, accumulating `dL/d(value)` per node and `dL/dW` per conv and linear layer.
//! Batch norm runs in training mode with scale 1 and shift 0, so its gradient is the standard
//! batch-statistics one with those values.

use nas_core::graph::{NodeId, Op, PoolKind, Shape};
use nas_core::{Error, Result};

use super::{
    Act, BatchStats, BnState, ConvGeometry, ConvPath, CpuNet, ReluGates, channel_planes, channel_planes_mut,
    channel_stats, conv_by_rows, dropped, flipped, im2col, inverse_std, kernel_row_window, kernel_rows,
    missing_weights, padded_rows, par_map, unfold_columns, weights_by_rows, weights_by_taps, weights_from_rows,
    zero_columns,
};
use crate::gemm::{Kernel, product, product_strided, rows_dot, widest};

/// Every node's value after one forward pass.
#[derive(Debug)]
pub struct Tape {
    values: Vec<Option<Act>>,
    batch: usize,
    stats: BatchStats,
}

impl Tape {
    /// The value of a node.
    pub fn value(&self, id: NodeId) -> Result<&Act> {
        self.values.get(id.index()).and_then(Option::as_ref).ok_or_else(|| dropped(&format!("{id:?}")))
    }

    /// Images in the pass.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Per batch-norm node of the pass (training mode): the batch's per-channel `(mean, biased variance)`.
    pub fn batch_stats(&self) -> &BatchStats {
        &self.stats
    }
}

/// What one backward pass yields.
#[derive(Debug)]
pub struct Gradients {
    /// `dL/d(input)`, `[batch, C, H, W]`.
    pub input: Vec<f32>,
    /// `(node, W, dL/dW)` for every conv and linear layer that the output depends on.
    pub weights: Vec<(NodeId, Vec<f32>, Vec<f32>)>,
    /// `(node, dL/d(bias))` for every conv and linear layer with a bias that the output depends on.
    pub biases: Vec<(NodeId, Vec<f32>)>,
    /// `(node, dL/d(scale), dL/d(shift))` for every affine batch norm that the output depends on.
    pub batch_norms: Vec<(NodeId, Vec<f32>, Vec<f32>)>,
    /// For every weighted sum ([`CpuNet::set_mix`]) the output depends on: `(node, dL/dc_k per input
    /// (0 for a switched-off input), sum of dL/dy)`, in f64.
    pub mixes: Vec<(NodeId, Vec<f64>, f64)>,
}

impl CpuNet {
    /// A copy of the network with `W + step * direction` for each `(node, _, direction)` listed
    /// (the `weights` of [`Gradients`]); the other weights are unchanged.
    pub fn shifted(&self, along: &[(NodeId, Vec<f32>, Vec<f32>)], step: f64) -> Result<CpuNet> {
        let mut weights = self.weights.clone();
        for (id, _, dir) in along {
            let init = weights[id.index()].as_mut().ok_or_else(|| missing_weights(&self.net.node(*id).name))?;
            if init.weight.len() != dir.len() {
                return Err(Error::invalid(
                    "direction",
                    format!(
                        "{} values for the {} weights of {}",
                        dir.len(),
                        init.weight.len(),
                        self.net.node(*id).name
                    ),
                ));
            }
            for (w, d) in init.weight.iter_mut().zip(dir) {
                *w = (f64::from(*w) + step * f64::from(*d)) as f32;
            }
        }
        Ok(CpuNet {
            net: self.net.clone(),
            weights,
            bn: self.bn.clone(),
            bn_eval: self.bn_eval,
            threads: self.threads,
            gates: self.gates.clone(),
            mix: self.mix.clone(),
        })
    }

    /// The gates (`input > 0`) of every ReLU on a tape.
    pub fn relu_gates(&self, tape: &Tape) -> Result<ReluGates> {
        let mut gates = vec![None; self.net.len()];
        for id in self.net.node_ids() {
            if matches!(self.net.node(id).op, Op::Relu) {
                let input = tape.value(self.net.inputs_of(id)[0])?;
                gates[id.index()] = Some(input.data.iter().map(|&v| v > 0.0).collect());
            }
        }
        Ok(gates)
    }

    /// The network with every ReLU fixed to `gates`: each multiplies its input by its gate, forward
    /// and backward, instead of testing the sign. The network is then smooth in its weights, and a
    /// difference of gradients gives the Hessian-vector product that autograd's double backward does
    /// (which holds the ReLU masks fixed).
    pub fn with_relu_gates(mut self, gates: ReluGates) -> CpuNet {
        self.gates = Some(std::sync::Arc::new(gates));
        self
    }

    /// The Euclidean norm of every conv and linear weight, in f64.
    pub fn weight_norm(&self) -> f64 {
        self.weights.iter().flatten().flat_map(|i| &i.weight).map(|&w| f64::from(w) * f64::from(w)).sum::<f64>().sqrt()
    }

    /// The forward pass, keeping every node's value for [`CpuNet::backward`].
    pub fn forward_tape(&self, pixels: &[f32], batch: usize) -> Result<Tape> {
        let mut stats = Some(vec![None; self.net.len()]);
        let values = self.run(pixels, batch, &mut |_, _| Ok(()), true, &mut stats)?;
        Ok(Tape { values, batch, stats: stats.unwrap_or_default() })
    }

    /// The network's output on the tape.
    pub fn output<'t>(&self, tape: &'t Tape) -> Result<&'t Act> {
        tape.value(self.net.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?)
    }

    /// Back-propagates `d_output` (`dL/d(output)`, the output's shape) through the tape. `on_grad`
    /// sees each conv and linear layer's output value and its gradient (fisher reads them).
    pub fn backward(
        &self,
        tape: &Tape,
        d_output: &[f32],
        on_grad: &mut dyn FnMut(NodeId, &Act, &[f32]),
    ) -> Result<Gradients> {
        let net = &self.net;
        let batch = tape.batch;
        let out_id = net.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?;
        let input_id = net.input_id().ok_or_else(|| Error::invalid("network", "it has no input node"))?;
        if d_output.len() != tape.value(out_id)?.data.len() {
            return Err(Error::invalid(
                "output gradient",
                format!("{} values for an output of {}", d_output.len(), tape.value(out_id)?.data.len()),
            ));
        }
        let mut grads: Vec<Option<Vec<f32>>> = vec![None; net.len()];
        grads[out_id.index()] = Some(d_output.to_vec());
        if self.bn_eval && self.bn.iter().any(Option::is_some) {
            return Err(Error::Unavailable("gradients through eval-mode batch norm are not supported".into()));
        }
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        let mut batch_norms = Vec::new();
        let mut mixes = Vec::new();
        let mut d_input = None;
        let ids: Vec<NodeId> = net.node_ids().collect();
        for &id in ids.iter().rev() {
            let Some(mut g) = grads[id.index()].take() else { continue };
            let node = net.node(id);
            let inputs = net.inputs_of(id);
            let x = |k: usize| tape.value(inputs[k]);
            match &node.op {
                Op::Input { .. } => d_input = Some(g),
                Op::Relu => {
                    let input = &x(0)?.data;
                    // In place: `g` becomes the input's gradient.
                    match self.gate(id, input.len())? {
                        Some(gate) => g.iter_mut().zip(gate).for_each(|(d, &open)| *d = if open { *d } else { 0.0 }),
                        None => g.iter_mut().zip(input).for_each(|(d, &v)| *d = if v > 0.0 { *d } else { 0.0 }),
                    }
                    add_grad(&mut grads, inputs[0], g);
                }
                Op::Identity => add_grad(&mut grads, inputs[0], g),
                Op::Add if self.mix_of(id).is_some() => {
                    let coefs = self.mix_of(id).unwrap_or_default();
                    let mut d_coef = vec![0.0f64; inputs.len()];
                    for (k, (&i, c)) in inputs.iter().zip(coefs).enumerate() {
                        if let Some(c) = *c {
                            let xk = &tape.value(i)?.data;
                            d_coef[k] = xk.iter().zip(&g).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                            add_grad(&mut grads, i, g.iter().map(|&v| c * v).collect());
                        }
                    }
                    let sum = g.iter().map(|&v| f64::from(v)).sum();
                    mixes.push((id, d_coef, sum));
                }
                Op::Add => {
                    if let Some((&last, rest)) = inputs.split_last() {
                        for &i in rest {
                            add_grad(&mut grads, i, g.clone());
                        }
                        add_grad(&mut grads, last, g);
                    }
                }
                Op::Zero => {}
                Op::Concat => {
                    let mut offset = 0;
                    let out_per = node.shape.numel();
                    for &i in &inputs {
                        let per = tape.value(i)?.shape.numel();
                        let dx =
                            g.chunks_exact(out_per).flat_map(|img| img[offset..offset + per].iter().copied()).collect();
                        add_grad(&mut grads, i, dx);
                        offset += per;
                    }
                }
                Op::BatchNorm { affine, .. } => {
                    let state = self.bn.get(id.index()).and_then(Option::as_ref);
                    // The forward pass's statistics when the tape has them (the same values, one pass fewer).
                    let stats = match tape.stats.get(id.index()).and_then(Option::as_ref) {
                        Some(moments) => inverse_std(moments),
                        None => channel_stats(x(0)?, batch),
                    };
                    let (dx, dscale, dshift) = batch_norm_backward(x(0)?, &stats, state, g, batch, self.threads);
                    add_grad(&mut grads, inputs[0], dx);
                    if *affine {
                        batch_norms.push((id, dscale, dshift));
                    }
                }
                Op::GlobalAvgPool => {
                    let xs = x(0)?.shape;
                    let hw = xs.h * xs.w;
                    let dx = g.iter().flat_map(|&d| std::iter::repeat_n(d / hw as f32, hw)).collect();
                    add_grad(&mut grads, inputs[0], dx);
                }
                Op::Pool { kind, kernel, stride, padding } => {
                    let PoolKind::Avg { count_include_pad } = *kind else {
                        return Err(Error::Unavailable("gradients through max pooling are not supported".into()));
                    };
                    let dx = avg_pool_backward(
                        x(0)?.shape,
                        node.shape,
                        &g,
                        (*kernel, *stride, *padding),
                        count_include_pad,
                        self.threads,
                    );
                    add_grad(&mut grads, inputs[0], dx);
                }
                Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
                    let init = self.weights[id.index()].as_ref().ok_or_else(|| missing_weights(&node.name))?;
                    let w = &init.weight;
                    on_grad(id, tape.value(id)?, &g);
                    if init.bias.is_some() {
                        let hw = node.shape.h * node.shape.w;
                        let mut db = vec![0.0f64; *out_channels];
                        for image in g.chunks_exact(node.shape.numel()) {
                            for (d, plane) in db.iter_mut().zip(image.chunks_exact(hw)) {
                                *d += plane.iter().map(|&v| f64::from(v)).sum::<f64>();
                            }
                        }
                        biases.push((id, db.into_iter().map(|v| v as f32).collect()));
                    }
                    let geometry = ConvGeometry {
                        cin: *in_channels,
                        cout: *out_channels,
                        k: *kernel,
                        stride: *stride,
                        pad: *padding,
                        groups: *groups,
                        input: x(0)?.shape,
                        output: node.shape,
                    };
                    let (dx, dw) = conv2d_backward(&x(0)?.data, &g, batch, &geometry, w, self.threads)?;
                    add_grad(&mut grads, inputs[0], dx);
                    weights.push((id, w.clone(), dw));
                }
                Op::Linear { in_features, out_features, .. } => {
                    let init = self.weights[id.index()].as_ref().ok_or_else(|| missing_weights(&node.name))?;
                    let w = &init.weight;
                    on_grad(id, tape.value(id)?, &g);
                    let (i, o) = (*in_features, *out_features);
                    if init.bias.is_some() {
                        let mut db = vec![0.0f64; o];
                        for row in g.chunks_exact(o) {
                            db.iter_mut().zip(row).for_each(|(d, &v)| *d += f64::from(v));
                        }
                        biases.push((id, db.into_iter().map(|v| v as f32).collect()));
                    }
                    let mut dw = vec![0.0f32; o * i];
                    product(o, i, batch, (&g, true), (&x(0)?.data, false), &mut dw, false);
                    let mut dx = vec![0.0f32; batch * i];
                    product(batch, i, o, (&g, false), (w, false), &mut dx, false);
                    add_grad(&mut grads, inputs[0], dx);
                    weights.push((id, w.clone(), dw));
                }
                Op::Choice { .. } => {
                    return Err(Error::Unavailable(format!(
                        "node {:?} is a choice: run a chosen sub-network",
                        node.name
                    )));
                }
            }
        }
        let input = d_input.unwrap_or_else(|| vec![0.0; batch * net.node(input_id).shape.numel()]);
        weights.reverse();
        biases.reverse();
        batch_norms.reverse();
        mixes.reverse();
        Ok(Gradients { input, weights, biases, batch_norms, mixes })
    }
}

fn add_grad(grads: &mut [Option<Vec<f32>>], id: NodeId, g: Vec<f32>) {
    match &mut grads[id.index()] {
        Some(acc) => acc.iter_mut().zip(&g).for_each(|(a, b)| *a += b),
        slot => *slot = Some(g),
    }
}

/// `y = xh * scale + shift` with `xh = (x - mean) * inv` per channel over the batch:
/// `dx = inv * scale * (g - mean(g) - xh * mean(g * xh))`, `dscale = sum(g * xh)`, `dshift = sum(g)`.
/// `xh` is recomputed from `x` exactly as the forward pass computed it. The sums over a plane run in
/// f32 lanes ([`plane_sums`]), those over planes in f64; [`batch_norm_backward_reference`] sums all in f64.
fn batch_norm_backward(
    x: &Act,
    stats: &[(f32, f32)],
    state: Option<&BnState>,
    mut g: Vec<f32>,
    batch: usize,
    threads: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (c, hw) = (x.shape.c, x.shape.h * x.shape.w);
    let n = (batch * hw) as f64;
    // Channels over threads; `g` becomes `dx` in place, channel by channel.
    let channels: Vec<_> =
        channel_planes_mut(&mut g, c, hw).into_iter().zip(channel_planes(&x.data, c, hw)).enumerate().collect();
    let sums = par_map(channels, threads, |(ch, (mut gp, xp))| {
        widest(
            #[inline(always)]
            || {
                let (mean, inv) = stats[ch];
                let (mut sg, mut sgy) = (0.0f64, 0.0f64);
                for (gi, xi) in gp.iter().zip(&xp) {
                    let (a, b) = plane_sums(gi, xi, mean, inv);
                    sg += a;
                    sgy += b;
                }
                let k = inv * state.map_or(1.0, |s| s.scale[ch]);
                for (gi, xi) in gp.iter_mut().zip(&xp) {
                    input_gradient(gi, xi, (mean, inv, k), ((sg / n) as f32, (sgy / n) as f32));
                }
                (sg, sgy)
            },
        )
    });
    let (dshift, dscale) = sums.iter().map(|&(a, b)| (a as f32, b as f32)).unzip();
    (g, dscale, dshift)
}

/// One plane of batch norm's input gradient, in place: `g` becomes
/// `k * (g - mean(g) - xh * mean(g * xh))` with `xh = (x - mean) * inv` and `k = inv * scale`.
#[inline(always)]
fn input_gradient(g: &mut [f32], x: &[f32], (mean, inv, k): (f32, f32, f32), (mg, mgy): (f32, f32)) {
    for (d, &xv) in g.iter_mut().zip(x) {
        *d = k * (*d - mg - (xv - mean) * inv * mgy);
    }
}

/// Lanes of the f32 partial sums of [`plane_sums`]: wide enough for the compiler to vectorise.
const LANES: usize = 16;

/// `(sum g, sum g * (x - mean) * inv)` over one plane: f32 partial sums in [`LANES`] lanes (the
/// loop vectorises; no fused multiply-add, so the result is the same on every CPU), then the lanes
/// and the tail added in f64 in a fixed order.
#[inline(always)]
fn plane_sums(g: &[f32], x: &[f32], mean: f32, inv: f32) -> (f64, f64) {
    let mut s = [0.0f32; LANES];
    let mut sy = [0.0f32; LANES];
    let (gc, xc) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let (gr, xr) = (gc.remainder(), xc.remainder());
    for (gl, xl) in gc.zip(xc) {
        for l in 0..LANES {
            s[l] += gl[l];
            sy[l] += gl[l] * ((xl[l] - mean) * inv);
        }
    }
    let mut a: f64 = s.iter().map(|&v| f64::from(v)).sum();
    let mut b: f64 = sy.iter().map(|&v| f64::from(v)).sum();
    for (&gv, &xv) in gr.iter().zip(xr) {
        a += f64::from(gv);
        b += f64::from(gv) * f64::from((xv - mean) * inv);
    }
    (a, b)
}

/// The plain version of [`batch_norm_backward`] (every sum in f64): its test reference.
/// `y = xh * scale + shift` with `xh = (x - mean) * inv` per channel over the batch:
/// `dx = inv * scale * (g - mean(g) - xh * mean(g * xh))`, `dscale = sum(g * xh)`, `dshift = sum(g)`.
/// `xh` is recomputed from `x` exactly as the forward pass computed it.
#[cfg(test)]
fn batch_norm_backward_reference(
    x: &Act,
    stats: &[(f32, f32)],
    state: Option<&BnState>,
    g: &[f32],
    batch: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (c, hw) = (x.shape.c, x.shape.h * x.shape.w);
    let mut sg = vec![0.0f64; c];
    let mut sgy = vec![0.0f64; c];
    let mut xh = vec![0.0f32; hw];
    for (gi, xi) in g.chunks_exact(c * hw).zip(x.data.chunks_exact(c * hw)) {
        for ch in 0..c {
            let (gp, xp) = (&gi[ch * hw..(ch + 1) * hw], &xi[ch * hw..(ch + 1) * hw]);
            let (mean, inv) = stats[ch];
            xh.iter_mut().zip(xp).for_each(|(h, &v)| *h = (v - mean) * inv);
            sg[ch] += gp.iter().map(|&v| f64::from(v)).sum::<f64>();
            sgy[ch] += gp.iter().zip(&xh).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>();
        }
    }
    let n = (batch * hw) as f64;
    let mut dx = g.to_vec();
    for (di, xi) in dx.chunks_exact_mut(c * hw).zip(x.data.chunks_exact(c * hw)) {
        for ch in 0..c {
            let (mean, inv) = stats[ch];
            let k = inv * state.map_or(1.0, |s| s.scale[ch]);
            let r = ch * hw..(ch + 1) * hw;
            input_gradient(&mut di[r.clone()], &xi[r], (mean, inv, k), ((sg[ch] / n) as f32, (sgy[ch] / n) as f32));
        }
    }
    (dx, sgy.iter().map(|&v| v as f32).collect(), sg.iter().map(|&v| v as f32).collect())
}

/// Each output's gradient spread evenly over the inputs its window averaged.
fn avg_pool_backward(
    input: Shape,
    output: Shape,
    g: &[f32],
    (k, stride, pad): (usize, usize, usize),
    count_include_pad: bool,
    threads: usize,
) -> Vec<f32> {
    let (h, w) = (input.h, input.w);
    let count = |o: usize, len: usize| {
        let start = (o * stride) as isize - pad as isize;
        ((start + k as isize).min(len as isize) - start.max(0)).max(1) as usize
    };
    if stride == 1 && input == output && 2 * pad + 1 == k {
        // A centred stride-1 window is its own transpose: spread g / count with the forward box filter.
        let mut scaled = g.to_vec();
        for plane in scaled.chunks_exact_mut(h * w) {
            for (oy, line) in plane.chunks_exact_mut(w).enumerate() {
                for (ox, v) in line.iter_mut().enumerate() {
                    let n = if count_include_pad { k * k } else { count(oy, h) * count(ox, w) };
                    *v *= (k * k) as f32 / n as f32;
                }
            }
        }
        let spread = super::box_filter(&Act { data: scaled, shape: output }, k, pad, true, input, threads);
        return spread.data;
    }
    let mut dx = vec![0.0f32; g.len() / (output.h * output.w) * h * w];
    for (plane, gp) in dx.chunks_exact_mut(h * w).zip(g.chunks_exact(output.h * output.w)) {
        for oy in 0..output.h {
            for ox in 0..output.w {
                let (y0, x0) = ((oy * stride) as isize - pad as isize, (ox * stride) as isize - pad as isize);
                let (ys, xs) =
                    (y0.max(0)..(y0 + k as isize).min(h as isize), x0.max(0)..(x0 + k as isize).min(w as isize));
                let count = if count_include_pad { k * k } else { ys.len() * xs.len() };
                let share = gp[oy * output.w + ox] / count.max(1) as f32;
                for iy in ys {
                    for ix in xs.clone() {
                        plane[iy as usize * w + ix as usize] += share;
                    }
                }
            }
        }
    }
    dx
}

/// Images per partial weight gradient of [`conv2d_backward`]: the partials are summed in image
/// order, so the result does not depend on the number of threads.
const REDUCTION_CHUNK: usize = 4;

/// Per image and group: `dW += dy x col^T` (dot products of rows) and `dcol = W^T x dy`, folded
/// back onto the input (col2im); "same" stride-1 convolutions by kernel rows instead
/// ([`conv_by_rows_backward`]). Each run of [`REDUCTION_CHUNK`] images has its own `dW`; the runs
/// are spread over threads and their `dW` summed in image order at the end (deterministic for any
/// thread count).
fn conv2d_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    g: &ConvGeometry,
    w: &[f32],
    threads: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let path = ConvPath::of(g);
    conv2d_backward_with((x, dy), batch, g, w, threads, path)
}

/// [`conv2d_backward`] by the given path: by kernel rows, the input gradient as the transposed
/// convolution's forward pass by the path's own kernel, or with the gemm crate's products folded
/// back ([`conv_by_rows_backward`]); or by im2col (the plain path, any geometry).
fn conv2d_backward_with(
    (x, dy): (&[f32], &[f32]),
    batch: usize,
    g: &ConvGeometry,
    w: &[f32],
    threads: usize,
    path: ConvPath,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let in_per = g.input.numel();
    let out_per = g.output.numel();
    let positions = g.output.h * g.output.w;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let depth = cin_g * g.k * g.k;
    let plane_g = cin_g * g.input.h * g.input.w;
    let direct = g.k == 1 && g.stride == 1 && g.pad == 0;
    let by_rows = matches!(path, ConvPath::Rows(_)) && !direct;
    let wr = if by_rows { weights_by_rows(w, g) } else { Vec::new() };
    // The input gradient of a "same" stride-1 convolution is itself one: of `dy`, with the kernel
    // flipped and its channel roles swapped, run by this crate's own forward kernel.
    let transposed = match path {
        ConvPath::Rows(kernel) if by_rows && kernel != Kernel::Gemm => {
            let gt = g.transposed();
            let wt = weights_by_taps(&flipped(w, g), &gt);
            Some((gt, wt, kernel))
        }
        _ => None,
    };
    let mut dx = vec![0.0f32; batch * in_per];
    let chunks = batch.div_ceil(REDUCTION_CHUNK);
    let per_thread = chunks.div_ceil(threads.max(1)) * REDUCTION_CHUNK;
    let work = |xs: &[f32], dys: &[f32], dxs: &mut [f32]| -> Vec<Vec<f32>> {
        let mut partials = Vec::new();
        // im2col's rows, or the `cin * k` of the kernel-row unfold.
        let rows = if by_rows { g.cin * g.k } else { depth };
        let mut col = if direct { Vec::new() } else { vec![0.0f32; rows * positions] };
        let mut dcol = if direct || transposed.is_some() { Vec::new() } else { vec![0.0f32; rows * positions] };
        // The unfold of `dy` for the transposed convolution, its zero rows zero for good.
        let mut dy_cols =
            transposed.as_ref().map_or(Vec::new(), |(gt, ..)| vec![0.0f32; gt.cin * gt.k * padded_rows(gt)]);
        for ((xc, dyc), dxc) in xs
            .chunks(REDUCTION_CHUNK * in_per)
            .zip(dys.chunks(REDUCTION_CHUNK * out_per))
            .zip(dxs.chunks_mut(REDUCTION_CHUNK * in_per))
        {
            let mut dw = vec![0.0f32; w.len()];
            for ((xi, dyi), dxi) in
                xc.chunks_exact(in_per).zip(dyc.chunks_exact(out_per)).zip(dxc.chunks_exact_mut(in_per))
            {
                if let Some((gt, wt, kernel)) = &transposed {
                    conv_by_rows_backward(xi, dyi, g, None, (&mut dw, dxi), (&mut col, &mut dcol));
                    conv_by_rows((dyi, false), gt, (wt, *kernel), dxi, &mut dy_cols);
                    continue;
                }
                if by_rows {
                    conv_by_rows_backward(xi, dyi, g, Some(&wr), (&mut dw, dxi), (&mut col, &mut dcol));
                    continue;
                }
                for grp in 0..g.groups {
                    let xg = &xi[grp * plane_g..(grp + 1) * plane_g];
                    let dyg = &dyi[grp * cout_g * positions..(grp + 1) * cout_g * positions];
                    let dwg = &mut dw[grp * cout_g * depth..(grp + 1) * cout_g * depth];
                    let dxg = &mut dxi[grp * plane_g..(grp + 1) * plane_g];
                    let wg = &w[grp * cout_g * depth..(grp + 1) * cout_g * depth];
                    if direct {
                        rows_dot(cout_g, depth, positions, (dyg, positions), (xg, positions), dwg);
                        product(depth, positions, cout_g, (wg, true), (dyg, false), dxg, true);
                    } else {
                        im2col((xg, false), cin_g, g, &mut col);
                        rows_dot(cout_g, depth, positions, (dyg, positions), (&col, positions), dwg);
                        product(depth, positions, cout_g, (wg, true), (dyg, false), &mut dcol, false);
                        col2im(&mut dcol, cin_g, g, dxg);
                    }
                }
            }
            partials.push(dw);
        }
        partials
    };
    let runs: Vec<_> = x
        .chunks(per_thread * in_per)
        .zip(dy.chunks(per_thread * out_per))
        .zip(dx.chunks_mut(per_thread * in_per))
        .collect();
    let partials: Vec<Vec<f32>> =
        par_map(runs, threads, |((xs, dys), dxs)| work(xs, dys, dxs)).into_iter().flatten().collect();
    let mut dw = vec![0.0f32; w.len()];
    for p in partials {
        dw.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    if by_rows {
        dw = weights_from_rows(&dw, g);
    }
    Ok((dx, dw))
}

/// The backward pass of [`conv_by_rows`] for one image: per kernel row `ky`, `dW[ky] +=
/// dy x cols^T` over the output rows of its window (dot products of rows, `dw` in the layout of
/// [`weights_by_rows`]) and, given the weights `wr` ([`weights_by_rows`]), `dcols = W[ky]^T x dy`
/// (set by the centre row, added by the others), then `dcols` folded back onto the input
/// ([`fold_columns`]). Without `wr` only `dW`.
fn conv_by_rows_backward(
    x: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    wr: Option<&[f32]>,
    (dw, dx): (&mut [f32], &mut [f32]),
    (cols, dcols): (&mut [f32], &mut [f32]),
) {
    let (cin, cout, k, w, hw) = (g.cin, g.cout, g.k, g.input.w, g.input.h * g.input.w);
    let factor = cout * cin * k;
    unfold_columns((x, false), g, (cols, hw, 0));
    for (t, ky) in kernel_rows(g).enumerate() {
        let (oy0, oy1, shift) = kernel_row_window(g, ky);
        if oy0 == oy1 {
            continue;
        }
        let (n, src) = ((oy1 - oy0) * w, (oy0 as isize + shift) as usize * w);
        let dy_rows = &dy[oy0 * w..];
        rows_dot(cout, cin * k, n, (dy_rows, hw), (&cols[src..], hw), &mut dw[ky * factor..(ky + 1) * factor]);
        let Some(wr) = wr else { continue };
        product_strided(
            (cin * k, n, cout),
            (&wr[ky * factor..], (cin * k, 1)),
            (dy_rows, (1, hw)),
            (&mut dcols[src..], hw),
            t > 0,
        );
    }
    if wr.is_some() {
        fold_columns(dcols, g, dx);
    }
}

/// The transpose of [`unfold_columns`]: adds `cols[c * k + kx]` back onto plane `c` of `dx`,
/// shifted by `pad - kx` columns, where it came from inside the image. `cols` is scratch.
fn fold_columns(cols: &mut [f32], g: &ConvGeometry, dx: &mut [f32]) {
    let (k, w, hw) = (g.k, g.input.w, g.input.h * g.input.w);
    for (plane, rows) in dx.chunks_exact_mut(hw).take(g.cin).zip(cols.chunks_exact_mut(k * hw)) {
        for (kx, src) in rows.chunks_exact_mut(hw).enumerate() {
            let window = g.same_window(g.pad as isize, kx as isize).expect("a same stride-1 convolution");
            let (lo, hi) = g.inside_columns(kx as isize);
            zero_columns(src, w, lo, hi);
            plane[window.input].iter_mut().zip(&src[window.body]).for_each(|(d, &v)| *d += v);
        }
    }
}

/// The transpose of [`im2col`]: adds row `(c, ky, kx)` of `col` back onto input
/// `(c, oy*stride + ky - pad, ox*stride + kx - pad)` where that lies inside the image. `col` is
/// scratch: the values of padding positions may be zeroed.
fn col2im(col: &mut [f32], cin: usize, g: &ConvGeometry, dx: &mut [f32]) {
    let (h, w) = (g.input.h, g.input.w);
    let (oh, ow) = (g.output.h, g.output.w);
    let (s, pad) = (g.stride as isize, g.pad as isize);
    let columns: Vec<(usize, usize)> = (0..g.k as isize).map(|kx| g.inside_columns(kx)).collect();
    let mut rows = col.chunks_exact_mut(oh * ow);
    for plane in dx.chunks_exact_mut(h * w).take(cin) {
        for ky in 0..g.k as isize {
            for (kx, &(lo, hi)) in columns.iter().enumerate() {
                let Some(src) = rows.next() else { return };
                if let Some(window) = g.same_window(ky, kx as isize) {
                    // One shifted add of the whole row, once the padding columns (which would
                    // land on the neighbouring image row) are zero.
                    let body = &mut src[window.rows.start * ow..window.rows.end * ow];
                    zero_columns(body, ow, lo, hi);
                    let dst = &mut plane[window.input];
                    dst.iter_mut().zip(&body[window.body]).for_each(|(d, &v)| *d += v);
                    continue;
                }
                for (oy, line) in src.chunks_exact(ow).enumerate() {
                    let iy = oy as isize * s + ky - pad;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                    let first = (lo as isize * s + kx as isize - pad) as usize;
                    if s == 1 {
                        // Contiguous: a plain zip, which the compiler vectorises.
                        dst[first..first + (hi - lo)].iter_mut().zip(&line[lo..hi]).for_each(|(d, &v)| *d += v);
                    } else {
                        for (d, &v) in dst[first..].iter_mut().step_by(s as usize).zip(&line[lo..hi]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv2d_with;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Without a tape, a cell's convolution that only a `none` edge reads is not computed, but
    /// the ReLU before it is (it reports its input); with a tape every node is.
    #[test]
    fn a_branch_only_none_edges_read_is_not_computed_without_a_tape() {
        use nas_core::SearchSpace;
        let config =
            nas_spaces::Nb201Config { channels: 4, cells_per_stage: 1, num_classes: 10, input: Shape::new(3, 8, 8) };
        let space = nas_spaces::Nb201Space::new(config);
        let dead = "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|none~2|";
        let net = space.to_network(&space.parse(dead).unwrap()).unwrap();
        let cpu = CpuNet::new(&net, 0).unwrap();
        let (pruned, all) = (cpu.live_nodes(true), cpu.live_nodes(false));
        let count = |live: &[bool], relu: bool| {
            let kind = |op: &Op| {
                if relu { matches!(op, Op::Relu) } else { matches!(op, Op::Conv2d { kernel: 3, stride: 1, .. }) }
            };
            net.node_ids().filter(|id| live[id.index()] && kind(&net.node(*id).op)).count()
        };
        // Stride-1 3x3 convolutions: the stem's, one per cell (3 cells, dead) and the second of
        // each residual block (2).
        assert_eq!((count(&all, false), count(&pruned, false)), (1 + 3 + 2, 1 + 2));
        assert_eq!(count(&pruned, true), count(&all, true));
        assert!(all.iter().all(|&l| l));
    }

    /// Batch norm's lane sums by AVX-512 against their plain version: the same bits, on random
    /// planes of every length up to 70 (tails included).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn lane_sums_match_their_reference_bit_for_bit() {
        if crate::gemm::Kernel::own() != Some(crate::gemm::Kernel::Avx512) {
            eprintln!("no AVX-512 on this CPU: only the reference runs here");
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for len in (0..70).chain([1024, 4096]) {
            let plane: Vec<f32> =
                (0..len).map(|_| rng.random_range(-4.0f32..4.0) * 10f32.powi(rng.random_range(-3..3))).collect();
            // SAFETY: the CPU has AVX-512F (checked above).
            #[allow(unsafe_code)]
            let fast = unsafe { super::super::lane_sums_avx512(&plane) };
            assert_eq!(fast, super::super::lane_sums_reference(&plane), "length {len}");
        }
    }

    /// "Same" stride-1 convolutions by kernel rows (forward by every kernel this CPU runs, input
    /// and weight gradients) against the plain im2col path, on random images, weights, geometries,
    /// batches and thread counts.
    #[test]
    fn convolutions_by_kernel_rows_match_im2col_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut cases = vec![(3, 16, 16, 32, 32, 5), (3, 4, 8, 1, 1, 2), (5, 3, 2, 2, 7, 3), (7, 2, 3, 9, 4, 1)];
        for _ in 0..40 {
            let k = [3, 5][rng.random_range(0..2)];
            let (cin, cout) = (rng.random_range(1..7), rng.random_range(1..7));
            cases.push((k, cin, cout, rng.random_range(1..12), rng.random_range(1..12), rng.random_range(1..7)));
        }
        let close = |a: &[f32], b: &[f32]| {
            let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * scale)
        };
        for (k, cin, cout, h, w, batch) in cases {
            let g = ConvGeometry {
                cin,
                cout,
                k,
                stride: 1,
                pad: k / 2,
                groups: 1,
                input: Shape { c: cin, h, w },
                output: Shape { c: cout, h, w },
            };
            assert!(g.by_rows());
            let mut random = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
            let (x, wt, dy) = (random(batch * cin * h * w), random(cout * cin * k * k), random(batch * cout * h * w));
            let threads = 1 + batch % 3;
            let case = format!("{k}x{k}, {cin} -> {cout} channels, {h}x{w}, batch {batch}, {threads} threads");
            // Forward by every kernel-row kernel against im2col, of the input and of its ReLU (the
            // ReLU folded into the unfold: the same numbers as a convolution of the ReLU's output).
            let rectified: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            let conv = |input: &[f32], relu: bool, threads: usize, path: ConvPath| {
                conv2d_with((input, relu), batch, &g, (&wt, None), threads, path).data
            };
            let (plain, plain_relu) =
                (conv(&x, false, 1, ConvPath::Im2col), conv(&rectified, false, 1, ConvPath::Im2col));
            assert_eq!(conv(&x, true, 1, ConvPath::Im2col), plain_relu, "im2col of a ReLU, {case}");
            for kernel in Kernel::available() {
                let path = ConvPath::Rows(kernel);
                assert!(close(&conv(&x, false, threads, path), &plain), "forward {kernel:?}, {case}");
                assert_eq!(conv(&x, true, threads, path), conv(&rectified, false, threads, path), "{kernel:?}, {case}");
                assert!(close(&conv(&x, true, threads, path), &plain_relu), "forward of a ReLU {kernel:?}, {case}");
            }
            let (dx_plain, dw_plain) = conv2d_backward_with((&x, &dy), batch, &g, &wt, 1, ConvPath::Im2col).unwrap();
            for kernel in Kernel::available() {
                let (dx, dw) =
                    conv2d_backward_with((&x, &dy), batch, &g, &wt, threads, ConvPath::Rows(kernel)).unwrap();
                assert!(close(&dx, &dx_plain), "input gradient {kernel:?}, {case}");
                assert!(close(&dw, &dw_plain), "weight gradient {kernel:?}, {case}");
            }
        }
    }

    /// im2col and col2im (their one-copy path for "same" stride-1 convolutions and the line-by-line
    /// one for the rest) against the definition, on random images and geometries.
    #[test]
    fn im2col_and_col2im_match_the_definition_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut cases = vec![(3, 1, 1, 32, 32), (3, 1, 2, 9, 9), (1, 1, 0, 4, 4), (5, 1, 2, 7, 6), (3, 2, 1, 8, 8)];
        for _ in 0..30 {
            let k = [1, 3, 5][rng.random_range(0..3)];
            let stride = rng.random_range(1..3);
            cases.push((k, stride, rng.random_range(0..=k / 2 + 1), rng.random_range(1..12), rng.random_range(1..12)));
        }
        for (k, stride, pad, h, w) in cases {
            if h + 2 * pad < k || w + 2 * pad < k {
                continue;
            }
            let cin = rng.random_range(1..4);
            let (oh, ow) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
            let g = ConvGeometry {
                cin,
                cout: 1,
                k,
                stride,
                pad,
                groups: 1,
                input: Shape { c: cin, h, w },
                output: Shape { c: 1, h: oh, w: ow },
            };
            let at = |c: usize, ky: usize, kx: usize, oy: usize, ox: usize| {
                let (iy, ix) = ((oy * stride + ky) as isize - pad as isize, (ox * stride + kx) as isize - pad as isize);
                (iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w)
                    .then(|| c * h * w + iy as usize * w + ix as usize)
            };
            let x: Vec<f32> = (0..cin * h * w).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let mut col = vec![f32::NAN; cin * k * k * oh * ow];
            im2col((&x, false), cin, &g, &mut col);
            let dcol: Vec<f32> = (0..col.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let mut dx_expected = vec![0.5f32; x.len()];
            let mut q = 0;
            for c in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let from = at(c, ky, kx, oy, ox);
                                assert_eq!(
                                    col[q],
                                    from.map_or(0.0, |i| x[i]),
                                    "im2col {k}x{k}/{stride} pad {pad} {h}x{w}"
                                );
                                if let Some(i) = from {
                                    dx_expected[i] += dcol[q];
                                }
                                q += 1;
                            }
                        }
                    }
                }
            }
            let mut dx = vec![0.5f32; x.len()];
            col2im(&mut dcol.clone(), cin, &g, &mut dx);
            for (a, b) in dx.iter().zip(&dx_expected) {
                assert!((a - b).abs() < 1e-5, "col2im {k}x{k}/{stride} pad {pad} {h}x{w}: {a} vs {b}");
            }
        }
    }

    /// The stride-1 average pooling (its vectorised inner columns and the edges) against the
    /// definition, on random planes and windows; the same bits for any thread count.
    #[test]
    fn box_filter_matches_the_definition_on_random_inputs() {
        use crate::cpu::box_filter;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let mut cases = vec![(3, 1, 32, 32), (3, 1, 1, 1), (1, 0, 3, 5), (2, 0, 4, 4), (5, 2, 3, 9)];
        for _ in 0..30 {
            let k = rng.random_range(1..6);
            cases.push((k, rng.random_range(0..=k / 2), rng.random_range(1..12), rng.random_range(1..12)));
        }
        for (k, pad, h, w) in cases {
            if h + 2 * pad < k || w + 2 * pad < k {
                continue;
            }
            let planes = rng.random_range(1..6);
            let out = Shape { c: planes, h: h + 2 * pad + 1 - k, w: w + 2 * pad + 1 - k };
            let x = Act {
                data: (0..planes * h * w).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
                shape: Shape { c: planes, h, w },
            };
            for include_pad in [false, true] {
                let y = box_filter(&x, k, pad, include_pad, out, 1);
                let window = |o: usize, len: usize| (o.saturating_sub(pad), (o + k - pad).min(len));
                for (p, (plane, yp)) in x.data.chunks_exact(h * w).zip(y.data.chunks_exact(out.h * out.w)).enumerate() {
                    for oy in 0..out.h {
                        for ox in 0..out.w {
                            let ((y0, y1), (x0, x1)) = (window(oy, h), window(ox, w));
                            let sum: f64 = (y0..y1)
                                .flat_map(|iy| (x0..x1).map(move |ix| (iy, ix)))
                                .map(|(iy, ix)| f64::from(plane[iy * w + ix]))
                                .sum();
                            let n = if include_pad { k * k } else { ((y1 - y0) * (x1 - x0)).max(1) };
                            let (got, want) = (yp[oy * out.w + ox], sum / n as f64);
                            assert!(
                                (f64::from(got) - want).abs() < 1e-5,
                                "{k}x{k} pad {pad} {h}x{w} plane {p} at ({oy}, {ox}): {got} vs {want}"
                            );
                        }
                    }
                }
                assert_eq!(box_filter(&x, k, pad, include_pad, out, 3).data, y.data, "threads 3 vs 1");
            }
        }
    }

    /// Pooling without padding (max and average, any window and stride) against the plain loop:
    /// the same bits, for any thread count.
    #[test]
    fn pools_without_padding_match_the_plain_loop_bit_for_bit() {
        use crate::cpu::{pool_inside, pool_plain};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::random());
        let mut cases = vec![(2, 2, 32, 32), (2, 2, 1, 1), (3, 2, 7, 9), (1, 1, 4, 4), (3, 3, 10, 5)];
        for _ in 0..40 {
            cases.push((
                rng.random_range(1..5),
                rng.random_range(1..4),
                rng.random_range(1..12),
                rng.random_range(1..12),
            ));
        }
        for (k, stride, h, w) in cases {
            if h < k || w < k {
                continue;
            }
            let planes = rng.random_range(1..7);
            let out = Shape { c: planes, h: (h - k) / stride + 1, w: (w - k) / stride + 1 };
            let specials = [0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY];
            let data =
                (0..planes * h * w)
                    .map(|_| {
                        if rng.random_bool(0.1) {
                            specials[rng.random_range(0..4)]
                        } else {
                            rng.random_range(-1.0..1.0)
                        }
                    })
                    .collect();
            let x = Act { data, shape: Shape { c: planes, h, w } };
            for kind in
                [PoolKind::Max, PoolKind::Avg { count_include_pad: true }, PoolKind::Avg { count_include_pad: false }]
            {
                let plain = pool_plain(&x, kind, (k, stride, 0), out).unwrap().data;
                for threads in [1, 3] {
                    let fast = pool_inside(&x, kind, (k, stride), out, threads).data;
                    let same =
                        fast.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan());
                    assert!(same, "{kind:?} {k}x{k} stride {stride} {h}x{w}, {threads} threads");
                }
            }
        }
    }

    #[test]
    fn batch_norm_backward_matches_its_reference_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (batch, c, h, w) in [(1, 1, 1, 1), (3, 4, 5, 7), (8, 16, 32, 32), (2, 3, 8, 8)] {
            let shape = Shape { c, h, w };
            let n = batch * c * h * w;
            let offset: f32 = rng.random_range(-3.0..3.0);
            let x = Act { data: (0..n).map(|_| offset + rng.random_range(-2.0f32..2.0)).collect(), shape };
            let g: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let state = BnState {
                affine: true,
                scale: (0..c).map(|_| rng.random_range(0.5f32..1.5)).collect(),
                shift: (0..c).map(|_| rng.random_range(-0.5f32..0.5)).collect(),
                running_mean: vec![0.0; c],
                running_var: vec![1.0; c],
            };
            let stats = channel_stats(&x, batch);
            let fast = batch_norm_backward(&x, &stats, Some(&state), g.clone(), batch, 1);
            let plain = batch_norm_backward_reference(&x, &stats, Some(&state), &g, batch);
            // Channels over threads: the same numbers whatever the thread count.
            assert_eq!(batch_norm_backward(&x, &stats, Some(&state), g.clone(), batch, 3), fast);
            for (a, b) in [(&fast.0, &plain.0), (&fast.1, &plain.1), (&fast.2, &plain.2)] {
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() <= 1e-4 * scale, "{u} vs {v} at {batch}x{c}x{h}x{w}");
                }
            }
        }
    }
}
