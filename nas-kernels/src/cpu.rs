//! A fast f32 CPU forward pass of any architecture graph, for scores that need no gradient
//! (NASWOT, linear regions).
//!
//! Same network, same initial weights ([`crate::net::initial_weights`]) and same training-mode
//! batch norm as the candle path ([`crate::net::CandleNet`]), which is its reference: a test
//! compares the two on random networks and inputs. What makes it fast: convolutions as one
//! matrix product per image (im2col, skipped for 1x1 stride-1 convs) with `gemm`'s SIMD kernels,
//! images split over threads, batch statistics accumulated in one pass, and activations dropped
//! as soon as their last reader has run.

use nas_core::graph::{Network, NodeId, Op, PoolKind, Shape};
use nas_core::{Error, Result};

use crate::gemm::{Kernel, widest};
use crate::net::{Init, initial_weights};

mod backward;
pub use backward::{Gradients, Tape};

/// An activation of a whole batch, `[batch, c, h, w]` row-major.
#[derive(Clone, Debug)]
pub struct Act {
    /// The values, row-major.
    pub data: Vec<f32>,
    /// The per-sample shape.
    pub shape: Shape,
}

/// A network with its weights, ready for fast forward passes.
#[derive(Debug)]
pub struct CpuNet {
    pub(crate) net: Network,
    pub(crate) weights: Vec<Option<Init>>,
    /// Batch-norm state by node index (scale, shift, running statistics); `None` for other nodes.
    pub(crate) bn: Vec<Option<BnState>>,
    /// Batch norm normalises with the running statistics (PyTorch's eval mode) instead of the batch's.
    pub(crate) bn_eval: bool,
    pub(crate) threads: usize,
    /// Fixed ReLU gates by node index ([`CpuNet::with_relu_gates`]); `None`: ReLUs test the sign.
    gates: Option<std::sync::Arc<ReluGates>>,
    /// Per-input coefficients of weighted-sum `Add` nodes, by node index ([`CpuNet::set_mix`]);
    /// empty or `None`: a plain sum.
    pub(crate) mix: Vec<Option<Vec<Option<f32>>>>,
}

/// The state of one batch-norm node: its affine scale and shift (1 and 0, and never trained, when
/// the node is not affine) and its running statistics (PyTorch's: mean 0 and variance 1 at the start).
#[derive(Clone, Debug, PartialEq)]
pub struct BnState {
    /// Whether the layer has a learned scale and shift.
    pub affine: bool,
    /// The learned per-channel scale (gamma).
    pub scale: Vec<f32>,
    /// The learned per-channel shift (beta).
    pub shift: Vec<f32>,
    /// Running mean of the batch statistics (eval mode).
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance of the batch statistics (eval mode).
    pub running_var: Vec<f32>,
}

impl BnState {
    fn new(channels: usize, affine: bool) -> Self {
        BnState {
            affine,
            scale: vec![1.0; channels],
            shift: vec![0.0; channels],
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
        }
    }

    /// Scale 1 and shift 0: the affine step changes nothing and is skipped.
    fn is_identity(&self) -> bool {
        self.scale.iter().all(|&v| v == 1.0) && self.shift.iter().all(|&v| v == 0.0)
    }
}

/// Per batch-norm node of a training-mode pass: the batch's per-channel mean and biased variance.
pub type BatchStats = Vec<Option<Vec<(f64, f64)>>>;

/// One gate per ReLU input value (`input > 0` of some pass), by node index; `None` for other nodes.
pub type ReluGates = Vec<Option<Vec<bool>>>;

impl CpuNet {
    /// The fixed gate of ReLU `id` when the network has gates; an error if its length is not `len`.
    fn gate(&self, id: NodeId, len: usize) -> Result<Option<&[bool]>> {
        let Some(gates) = &self.gates else { return Ok(None) };
        match gates.get(id.index()).and_then(Option::as_ref) {
            Some(g) if g.len() == len => Ok(Some(g)),
            other => Err(Error::invalid(
                "relu gates",
                format!("{} gates for the {len} inputs of {}", other.map_or(0, Vec::len), self.net.node(id).name),
            )),
        }
    }

    /// The network with the weights `CandleNet::new(net, seed, ..)` gets.
    pub fn new(net: &Network, seed: u64) -> Result<Self> {
        let weights = initial_weights(net, seed)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bn = net
            .node_ids()
            .map(|id| match net.node(id).op {
                Op::BatchNorm { channels, affine } => Some(BnState::new(channels, affine)),
                _ => None,
            })
            .collect();
        Ok(CpuNet { net: net.clone(), weights, bn, bn_eval: false, threads, gates: None, mix: Vec::new() })
    }

    /// Makes `Add` node `id` a weighted sum for the following passes: `y = sum_k c_k x_k` over the
    /// inputs with `coefs[k] = Some(c_k)`; an input with `None` is not computed at all (nor is
    /// anything that only it reads) and contributes zero. The backward pass then reports
    /// `dL/dc_k = <dL/dy, x_k>` per input and the sum of `dL/dy` ([`Gradients::mixes`]). This is
    /// how a supernet's mixed edge runs: its candidates are the node's inputs.
    pub fn set_mix(&mut self, id: NodeId, coefs: Vec<Option<f32>>) -> Result<()> {
        if id.index() >= self.net.len() || !matches!(self.net.node(id).op, Op::Add) {
            return Err(Error::invalid("mix", format!("node {id:?} is not a sum")));
        }
        let inputs = self.net.inputs_of(id).len();
        if coefs.len() != inputs {
            return Err(Error::invalid(
                "mix",
                format!("{} coefficients for the {inputs} inputs of {}", coefs.len(), self.net.node(id).name),
            ));
        }
        if self.mix.len() != self.net.len() {
            self.mix = vec![None; self.net.len()];
        }
        self.mix[id.index()] = Some(coefs);
        Ok(())
    }

    /// The coefficients of a weighted-sum node, if it is one.
    pub(crate) fn mix_of(&self, id: NodeId) -> Option<&[Option<f32>]> {
        self.mix.get(id.index()).and_then(Option::as_deref)
    }

    /// By node index, whether the node is a ReLU that only convolutions read (not the output).
    fn relus_into_convs(&self) -> Vec<bool> {
        let is_conv = |r: &NodeId| matches!(self.net.node(*r).op, Op::Conv2d { .. });
        self.net
            .node_ids()
            .map(|id| {
                let readers = self.net.consumers_of(id);
                matches!(self.net.node(id).op, Op::Relu)
                    && Some(id) != self.net.output_id()
                    && !readers.is_empty()
                    && readers.iter().all(is_conv)
            })
            .collect()
    }

    /// Which nodes a pass computes: those the output depends on through inputs that are not
    /// switched off by a weighted sum's `None` (all of them without weighted sums). With `prune`,
    /// only through inputs whose values are read (not those of `Zero` nodes), and every ReLU,
    /// whose input the pass reports.
    pub(crate) fn live_nodes(&self, prune: bool) -> Vec<bool> {
        let n = self.net.len();
        if !prune && self.mix.iter().all(Option::is_none) {
            return vec![true; n];
        }
        let mut live = vec![false; n];
        if let Some(out) = self.net.output_id() {
            live[out.index()] = true;
        }
        for id in self.net.node_ids().rev() {
            // A ReLU runs for the input it reports; a zero reads no value.
            let op = &self.net.node(id).op;
            live[id.index()] |= prune && matches!(op, Op::Relu);
            if !live[id.index()] || prune && matches!(op, Op::Zero) {
                continue;
            }
            let coefs = self.mix_of(id);
            for (k, i) in self.net.inputs_of(id).into_iter().enumerate() {
                if coefs.is_none_or(|c| c[k].is_some()) {
                    live[i.index()] = true;
                }
            }
        }
        live
    }

    /// The network with work split over `threads` threads (at least 1). Results depend on the
    /// split only through the order of the weight-gradient sums, which is fixed for a given count.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Batch norm in eval mode (`true`: normalise with the running statistics) or training mode.
    pub fn set_eval(&mut self, eval: bool) {
        self.bn_eval = eval;
    }

    /// The graph this network runs.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The conv and linear weights by node index.
    pub fn weights(&self) -> &[Option<Init>] {
        &self.weights
    }

    /// The batch-norm state by node index.
    pub fn batch_norms(&self) -> &[Option<BnState>] {
        &self.bn
    }

    /// Runs the network on `batch` inputs (`pixels` = `[batch, C, H, W]`), calling `on_relu_input`
    /// with the input of every ReLU (`[batch, units]`); returns the output.
    pub fn forward(
        &self,
        pixels: &[f32],
        batch: usize,
        on_relu_input: &mut dyn FnMut(NodeId, &[f32]) -> Result<()>,
    ) -> Result<Act> {
        let out_id = self.net.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?;
        let mut values = self.run(pixels, batch, on_relu_input, false, &mut None)?;
        values[out_id.index()].take().ok_or_else(|| dropped(&self.net.node(out_id).name))
    }

    /// Latency of a forward pass on this machine: `warmup` untimed passes, then the median of
    /// `repeats` timed ones, in milliseconds, on a fixed input of `batch` images.
    pub fn median_latency_ms(&self, batch: usize, warmup: usize, repeats: usize) -> Result<f64> {
        let input_id = self.net.input_id().ok_or_else(|| Error::invalid("network", "it has no input node"))?;
        if repeats == 0 {
            return Err(Error::invalid("repeats", "0: time at least one pass"));
        }
        let n = batch * self.net.node(input_id).shape.numel();
        let pixels: Vec<f32> = (0..n).map(|i| ((i % 251) as f32 / 125.0) - 1.0).collect();
        for _ in 0..warmup {
            self.forward(&pixels, batch, &mut |_, _| Ok(()))?;
        }
        let mut ms = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let started = std::time::Instant::now();
            std::hint::black_box(self.forward(&pixels, batch, &mut |_, _| Ok(()))?);
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        Ok(ms[ms.len() / 2])
    }

    /// The value of every node (`keep`), or only the output's, with buffers reused and freed.
    fn run(
        &self,
        pixels: &[f32],
        batch: usize,
        on_relu_input: &mut dyn FnMut(NodeId, &[f32]) -> Result<()>,
        keep: bool,
        stats: &mut Option<BatchStats>,
    ) -> Result<Vec<Option<Act>>> {
        let input_id = self.net.input_id().ok_or_else(|| Error::invalid("network", "it has no input node"))?;
        let out_id = self.net.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?;
        let in_shape = self.net.node(input_id).shape;
        if batch == 0 || pixels.len() != batch * in_shape.numel() {
            return Err(Error::invalid(
                "network input",
                format!("{} values for a batch of {batch} inputs of {in_shape}", pixels.len()),
            ));
        }
        // Without a tape or batch statistics to report, a node whose value no computed node reads
        // is not computed: in NB201 a cell node whose out-edges are all `none` (the space leaves
        // such edges out; a `Zero` node reads its input for the shape only).
        let prune = !keep && stats.is_none();
        let live = self.live_nodes(prune);
        let reads = |id: NodeId, k: usize| {
            self.mix_of(id).is_none_or(|c| c[k].is_some()) && !(prune && matches!(self.net.node(id).op, Op::Zero))
        };
        let mut readers = vec![0usize; self.net.len()];
        for id in self.net.node_ids().filter(|id| live[id.index()]) {
            for (k, i) in self.net.inputs_of(id).into_iter().enumerate() {
                readers[i.index()] += usize::from(reads(id, k));
            }
        }
        let mut values: Vec<Option<Act>> = vec![None; self.net.len()];
        // Without a tape, an identity whose input is read elsewhere too holds no value of its own:
        // its readers read its source's (no copy), which lives until they have all read it. So does
        // a ReLU read by convolutions only, which then apply it as they unfold their input
        // (`true`: read through a ReLU).
        let mut alias: Vec<Option<(NodeId, bool)>> = vec![None; self.net.len()];
        // (With a tape the ReLU's own output is kept; fixed gates are not a sign test.)
        let into_convs =
            if keep || self.gates.is_some() { vec![false; self.net.len()] } else { self.relus_into_convs() };
        for id in self.net.node_ids() {
            if !live[id.index()] {
                continue;
            }
            let node = self.net.node(id);
            let mix = self.mix_of(id);
            let (inputs, through_relu): (Vec<NodeId>, Vec<bool>) =
                self.net.inputs_of(id).into_iter().map(|i| alias[i.index()].unwrap_or((i, false))).unzip();
            if into_convs[id.index()] {
                let source = inputs[0];
                on_relu_input(id, &values[source.index()].as_ref().ok_or_else(|| dropped(&node.name))?.data)?;
                alias[id.index()] = Some((source, true));
                readers[source.index()] = readers[source.index()] + readers[id.index()] - 1;
                if readers[source.index()] == 0 && source != out_id {
                    values[source.index()] = None;
                }
                continue;
            }
            // Elementwise ops reuse their first input's buffer when nothing else reads it.
            let reusable = !keep
                && mix.is_none()
                && matches!(node.op, Op::Relu | Op::Add | Op::Identity | Op::BatchNorm { .. })
                && readers[inputs[0].index()] == 1
                && inputs[0] != out_id
                && inputs.iter().filter(|&&i| i == inputs[0]).count() == 1;
            let mut first = if reusable { values[inputs[0].index()].take() } else { None };
            if matches!(node.op, Op::Identity) && first.is_none() && !keep && id != out_id {
                let source = inputs[0];
                alias[id.index()] = Some((source, through_relu[0]));
                readers[source.index()] = readers[source.index()] + readers[id.index()] - 1;
                if readers[source.index()] == 0 && source != out_id {
                    values[source.index()] = None;
                }
                continue;
            }
            let arg =
                |k: usize| -> Result<&Act> { values[inputs[k].index()].as_ref().ok_or_else(|| dropped(&node.name)) };
            let y: Act = match &node.op {
                Op::Input { .. } => Act { data: pixels.to_vec(), shape: in_shape },
                Op::Relu => {
                    let gate = self.gate(id, batch * node.shape.numel())?;
                    match first.take() {
                        Some(mut x) => {
                            on_relu_input(id, &x.data)?;
                            relu(&mut x.data, None, gate, self.threads);
                            x
                        }
                        None => {
                            // The input stays (another node or the tape reads it): one pass that reads
                            // it and writes the output, rather than a copy and a second pass over the copy.
                            let x = arg(0)?;
                            on_relu_input(id, &x.data)?;
                            let mut data = vec![0.0f32; x.data.len()];
                            relu(&mut data, Some(&x.data), gate, self.threads);
                            Act { data, shape: x.shape }
                        }
                    }
                }
                Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
                    let Some(Init { weight, bias }) = &self.weights[id.index()] else {
                        return Err(missing_weights(&node.name));
                    };
                    let geometry = ConvGeometry {
                        cin: *in_channels,
                        cout: *out_channels,
                        k: *kernel,
                        stride: *stride,
                        pad: *padding,
                        groups: *groups,
                        input: arg(0)?.shape,
                        output: node.shape,
                    };
                    conv2d((&arg(0)?.data, through_relu[0]), batch, &geometry, (weight, bias.as_deref()), self.threads)
                }
                Op::BatchNorm { .. } => {
                    let x = match first.take() {
                        Some(x) => x,
                        None => arg(0)?.clone(),
                    };
                    let state = self.bn.get(id.index()).and_then(Option::as_ref);
                    match state {
                        Some(state) if self.bn_eval => batch_norm_eval(x, state),
                        _ => {
                            let (y, moments) = batch_norm(x, batch, state, self.threads);
                            if let Some(stats) = stats.as_mut() {
                                stats[id.index()] = Some(moments);
                            }
                            y
                        }
                    }
                }
                Op::Pool { kind, kernel, stride, padding } => {
                    pool(arg(0)?, *kind, (*kernel, *stride, *padding), node.shape, self.threads)?
                }
                Op::GlobalAvgPool => {
                    let x = arg(0)?;
                    let hw = x.shape.h * x.shape.w;
                    Act {
                        data: x.data.chunks_exact(hw).map(|c| c.iter().sum::<f32>() / hw as f32).collect(),
                        shape: node.shape,
                    }
                }
                Op::Linear { in_features, out_features, .. } => {
                    let Some(Init { weight, bias }) = &self.weights[id.index()] else {
                        return Err(missing_weights(&node.name));
                    };
                    let x = arg(0)?;
                    let mut y = vec![0.0f32; batch * out_features];
                    for (xi, yi) in x.data.chunks_exact(*in_features).zip(y.chunks_exact_mut(*out_features)) {
                        for (o, w) in yi.iter_mut().zip(weight.chunks_exact(*in_features)) {
                            *o = xi.iter().zip(w).map(|(a, b)| a * b).sum::<f32>();
                        }
                        if let Some(b) = bias {
                            yi.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                        }
                    }
                    Act { data: y, shape: node.shape }
                }
                Op::Add if mix.is_some() => {
                    let mut acc = vec![0.0f32; batch * node.shape.numel()];
                    for (k, c) in mix.into_iter().flatten().enumerate() {
                        if let Some(c) = *c {
                            acc.iter_mut().zip(&arg(k)?.data).for_each(|(a, b)| *a += c * b);
                        }
                    }
                    Act { data: acc, shape: node.shape }
                }
                Op::Add => {
                    let (mut acc, from) = match first.take() {
                        Some(x) => (x.data, 1),
                        // The first input stays: the first two summed into a new buffer in one pass.
                        None if inputs.len() > 1 => {
                            let (a, b) = (&arg(0)?.data, &arg(1)?.data);
                            (
                                widest(
                                    #[inline(always)]
                                    || a.iter().zip(b).map(|(x, y)| x + y).collect(),
                                ),
                                2,
                            )
                        }
                        None => (arg(0)?.data.clone(), 1),
                    };
                    for k in from..inputs.len() {
                        let x = &arg(k)?.data;
                        par_chunks(
                            &mut acc,
                            self.threads,
                            #[inline(always)]
                            |out, at| out.iter_mut().zip(&x[at..]).for_each(|(a, b)| *a += b),
                        );
                    }
                    Act { data: acc, shape: node.shape }
                }
                Op::Concat => {
                    let mut data = Vec::with_capacity(batch * node.shape.numel());
                    for b in 0..batch {
                        for k in 0..inputs.len() {
                            let x = arg(k)?;
                            let per = x.shape.numel();
                            data.extend_from_slice(&x.data[b * per..(b + 1) * per]);
                        }
                    }
                    Act { data, shape: node.shape }
                }
                Op::Zero => Act { data: vec![0.0; batch * node.shape.numel()], shape: node.shape },
                Op::Identity => match first.take() {
                    Some(x) => x,
                    None => arg(0)?.clone(),
                },
                Op::Choice { .. } => {
                    return Err(Error::Unavailable(format!(
                        "node {:?} is a choice: run a chosen sub-network",
                        node.name
                    )));
                }
            };
            for (k, i) in inputs.into_iter().enumerate() {
                if !reads(id, k) {
                    continue;
                }
                readers[i.index()] -= 1;
                if readers[i.index()] == 0 && i != out_id && !keep {
                    values[i.index()] = None;
                }
            }
            if keep || readers[id.index()] > 0 || id == out_id {
                values[id.index()] = Some(y);
            }
        }
        Ok(values)
    }
}

fn dropped(name: &str) -> Error {
    Error::Graph { node: name.into(), reason: "its value was dropped before it was read".into() }
}

fn missing_weights(name: &str) -> Error {
    Error::Graph { node: name.into(), reason: "no weights were initialised for it".into() }
}

#[derive(Clone, Copy, Debug)]
struct ConvGeometry {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    input: Shape,
    output: Shape,
}

impl ConvGeometry {
    /// The output columns `lo..hi` whose input column `ox * stride + kx - pad` lies inside the image
    /// (the others read padding): shared by `im2col` and its transpose.
    fn inside_columns(&self, kx: isize) -> (usize, usize) {
        let (s, pad, w, ow) = (self.stride as isize, self.pad as isize, self.input.w as isize, self.output.w as isize);
        let lo = ((pad - kx).max(0) + s - 1) / s;
        let hi = ((w - 1 + pad - kx).div_euclid(s) + 1).clamp(lo, ow);
        (lo.min(ow) as usize, hi as usize)
    }

    /// The convolution whose forward pass is this one's input gradient when it runs by kernel
    /// rows: from `cout` channels to `cin`, the same kernel size, padding and image size (its
    /// weights are [`flipped`]).
    fn transposed(&self) -> ConvGeometry {
        ConvGeometry {
            cin: self.cout,
            cout: self.cin,
            input: Shape { c: self.cout, ..self.output },
            output: Shape { c: self.cin, ..self.input },
            ..*self
        }
    }

    /// Whether the convolution runs by kernel rows ([`conv_by_rows`]): one group, stride 1,
    /// output the size of the input, a kernel wider than 1.
    fn by_rows(&self) -> bool {
        self.groups == 1 && self.k > 1 && self.same_window(0, 0).is_some()
    }

    /// For a stride-1 convolution whose output has the input's size, where the unfolded row
    /// `(ky, kx)` reads the input plane (see [`SameWindow`]). `None` for other geometries.
    fn same_window(&self, ky: isize, kx: isize) -> Option<SameWindow> {
        let (h, w) = (self.input.h as isize, self.input.w as isize);
        if self.stride != 1 || self.output.h != self.input.h || self.output.w != self.input.w {
            return None;
        }
        let dy = ky - self.pad as isize;
        let (oy0, oy1) = ((-dy).max(0), (h - dy).min(h));
        if oy0 >= oy1 {
            return Some(SameWindow { rows: 0..0, body: 0..0, input: 0..0 });
        }
        // Position `i` of the rows `oy0..oy1`, flattened, reads plane value `src + i` where that
        // lies inside the plane (`src` may be -1, and the last values may run past its end).
        let src = (oy0 + dy) * w + kx - self.pad as isize;
        let len = (oy1 - oy0) * w;
        let (i0, i1) = ((-src).max(0), len.min(h * w - src));
        let range = |a: isize, b: isize| a as usize..b as usize;
        Some(SameWindow { rows: range(oy0, oy1), body: range(i0, i1), input: range(src + i0, src + i1) })
    }
}

/// How an unfolded row of a "same" stride-1 convolution reads the input plane: output rows
/// `rows` keep the kernel row inside the image (the others are padding); of those rows, flattened,
/// positions `body` are a copy of plane positions `input` (as many; the rest are padding). The
/// columns that wrap around from the neighbouring image row are padding too (`zero_columns`).
struct SameWindow {
    rows: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
    input: std::ops::Range<usize>,
}

/// Convolution of a batch: per image and group, `out[cout_g, P] = W[cout_g, cin_g*k*k] x col[cin_g*k*k, P]`,
/// of the input `x` or, with `relu`, of `max(x, 0)` (a ReLU applied as the input is unfolded).
/// "Same" stride-1 convolutions run by kernel rows ([`conv_by_rows`]) with this crate's own
/// kernel where the CPU runs one, the others by im2col.
fn conv2d(x: (&[f32], bool), batch: usize, g: &ConvGeometry, w: (&[f32], Option<&[f32]>), threads: usize) -> Act {
    let path = ConvPath::of(g);
    conv2d_with(x, batch, g, w, threads, path)
}

/// How [`conv2d_with`] runs a convolution.
#[derive(Clone, Copy, Debug)]
enum ConvPath {
    /// The plain path, any geometry: one product per image and group over its im2col copy.
    Im2col,
    /// By kernel rows ([`conv_by_rows`], "same" stride-1 convolutions only), with the products of
    /// this kernel (the gemm crate's: one per kernel row).
    Rows(Kernel),
}

impl ConvPath {
    /// The fastest path for the geometry on this CPU: by kernel rows ("same" stride-1
    /// convolutions) with this crate's own kernel where the CPU runs one, else by im2col.
    fn of(g: &ConvGeometry) -> Self {
        if g.by_rows() { ConvPath::Rows(Kernel::own().unwrap_or(Kernel::Gemm)) } else { ConvPath::Im2col }
    }
}

/// [`conv2d`] by the given path.
fn conv2d_with(
    (x, relu): (&[f32], bool),
    batch: usize,
    g: &ConvGeometry,
    (w, bias): (&[f32], Option<&[f32]>),
    threads: usize,
    path: ConvPath,
) -> Act {
    let in_per = g.input.numel();
    let out_per = g.output.numel();
    let positions = g.output.h * g.output.w;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let depth = cin_g * g.k * g.k;
    // A 1x1 stride-1 convolution multiplies the input itself, unless a ReLU is applied to it
    // (then by im2col, which is that copy).
    let direct = g.k == 1 && g.stride == 1 && g.pad == 0 && !relu;
    let rows_kernel = match path {
        ConvPath::Rows(kernel) if !direct => Some(kernel),
        _ => None,
    };
    let by_rows = rows_kernel.is_some();
    let wt = if by_rows { weights_by_taps(w, g) } else { Vec::new() };
    let mut out = vec![0.0f32; batch * out_per];
    let per_thread = batch.div_ceil(threads.max(1));
    let work = |xs: &[f32], ys: &mut [f32]| {
        // im2col's rows, or the `cin * k` of the kernel-row unfold with their zero rows (which
        // no image overwrites).
        let len = if by_rows { g.cin * g.k * padded_rows(g) } else { depth * positions };
        let mut col = if direct { Vec::new() } else { vec![0.0f32; len] };
        for (xi, yi) in xs.chunks_exact(in_per).zip(ys.chunks_exact_mut(out_per)) {
            if let Some(kernel) = rows_kernel {
                conv_by_rows((xi, relu), g, (&wt, kernel), yi, &mut col);
            } else {
                for grp in 0..g.groups {
                    let xg = &xi[grp * cin_g * g.input.h * g.input.w..(grp + 1) * cin_g * g.input.h * g.input.w];
                    let rhs: &[f32] = if direct {
                        xg
                    } else {
                        im2col((xg, relu), cin_g, g, &mut col);
                        &col
                    };
                    let wg = &w[grp * cout_g * depth..(grp + 1) * cout_g * depth];
                    let yg = &mut yi[grp * cout_g * positions..(grp + 1) * cout_g * positions];
                    crate::gemm::product(cout_g, positions, depth, (wg, false), (rhs, false), yg, false);
                }
            }
            if let Some(b) = bias {
                for (plane, &bv) in yi.chunks_exact_mut(positions).zip(b) {
                    plane.iter_mut().for_each(|v| *v += bv);
                }
            }
        }
    };
    let runs: Vec<_> = x.chunks(per_thread * in_per).zip(out.chunks_mut(per_thread * out_per)).collect();
    par_map(runs, threads, |(xs, ys)| work(xs, ys));
    Act { data: out, shape: g.output }
}

/// The weights `[cout][cin][ky][kx]` of a convolution that runs by kernel rows
/// ([`conv_by_rows`]) as `[ky][cout][cin][kx]`: kernel row `ky`'s `cout x (cin * k)` factor.
fn weights_by_rows(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    reorder_kernel_rows(w, g, true)
}

/// The weights `[cout][cin][ky][kx]` of a convolution that runs by kernel rows as
/// `[ky][cin][kx][cout]`, the layout [`crate::gemm::shifted_product`] reads.
fn weights_by_taps(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, depth, cout) = (g.k, g.cin * g.k, g.cout);
    let mut out = vec![0.0f32; w.len()];
    for ky in 0..k {
        for o in 0..cout {
            for c in 0..g.cin {
                for kx in 0..k {
                    out[(ky * depth + c * k + kx) * cout + o] = w[((o * g.cin + c) * k + ky) * k + kx];
                }
            }
        }
    }
    out
}

/// The weights `[cout][cin][ky][kx]` of a one-group convolution as those of its transposed
/// ([`ConvGeometry::transposed`]): `[cin][cout][k-1-ky][k-1-kx]`.
fn flipped(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, cin, cout) = (g.k, g.cin, g.cout);
    let mut out = vec![0.0f32; w.len()];
    for o in 0..cout {
        for c in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    out[((c * cout + o) * k + (k - 1 - ky)) * k + (k - 1 - kx)] = w[((o * cin + c) * k + ky) * k + kx];
                }
            }
        }
    }
    out
}

/// The inverse of [`weights_by_rows`].
fn weights_from_rows(wr: &[f32], g: &ConvGeometry) -> Vec<f32> {
    reorder_kernel_rows(wr, g, false)
}

/// Moves each kernel line `(cout, cin, ky)` (its `k` taps) between the layouts `[cout][cin][ky][kx]`
/// and `[ky][cout][cin][kx]`: into the second with `into_rows`, back into the first without.
fn reorder_kernel_rows(w: &[f32], g: &ConvGeometry, into_rows: bool) -> Vec<f32> {
    let (k, cin, cout) = (g.k, g.cin, g.cout);
    let mut out = vec![0.0f32; w.len()];
    for o in 0..cout {
        for c in 0..cin {
            for ky in 0..k {
                let natural = ((o * cin + c) * k + ky) * k;
                let by_rows = (ky * cout + o) * cin * k + c * k;
                let (from, to) = if into_rows { (natural, by_rows) } else { (by_rows, natural) };
                out[to..to + k].copy_from_slice(&w[from..from + k]);
            }
        }
    }
    out
}

/// The output rows `oy0..oy1` of a "same" stride-1 convolution whose kernel row `ky` lies inside
/// the image, and the shift `ky - pad` of the input rows they read.
fn kernel_row_window(g: &ConvGeometry, ky: usize) -> (usize, usize, isize) {
    let (h, dy) = (g.input.h as isize, ky as isize - g.pad as isize);
    let (oy0, oy1) = ((-dy).max(0), (h - dy).min(h));
    (oy0 as usize, oy1.max(oy0) as usize, dy)
}

/// The kernel rows of a convolution that runs by kernel rows, the centre one first: its window
/// covers every output, so its product sets them and the others add.
fn kernel_rows(g: &ConvGeometry) -> impl Iterator<Item = usize> {
    let pad = g.pad;
    std::iter::once(pad).chain((0..g.k).filter(move |&ky| ky != pad))
}

/// The length of one row of [`conv_by_rows`]'s unfold: the image's rows and `pad` zero rows
/// above and below.
fn padded_rows(g: &ConvGeometry) -> usize {
    (g.input.h + 2 * g.pad) * g.input.w
}

/// One image of a "same" stride-1 convolution (one group) by kernel rows: the input unfolded
/// along the kernel's columns only ([`unfold_columns`], `cin * k` rows, each with `pad` zero
/// rows above and below; the `k * k`-fold im2col copy would be three times as large for 3x3),
/// then kernel row `ky` multiplies `W[:, :, ky, :]` with those rows shifted by `ky` image rows (a
/// strided view, no copy), the `k` products summed: one [`crate::gemm::shifted_product`]
/// `kernel`, or with [`Kernel::Gemm`] one gemm crate product per kernel row. `wt` is
/// [`weights_by_taps`]; `cols` holds `cin * k` rows of [`padded_rows`], their zero rows zero.
fn conv_by_rows(x: (&[f32], bool), g: &ConvGeometry, (wt, kernel): (&[f32], Kernel), y: &mut [f32], cols: &mut [f32]) {
    let (depth, cout, k, w, hw) = (g.cin * g.k, g.cout, g.k, g.input.w, g.input.h * g.input.w);
    let ldb = padded_rows(g);
    unfold_columns(x, g, (cols, ldb, g.pad * w));
    if kernel != Kernel::Gemm {
        crate::gemm::shifted_product(kernel, (hw, cout, depth, k, w), wt, (cols, ldb), (y, hw));
        return;
    }
    for ky in 0..k {
        crate::gemm::product_strided(
            (cout, hw, depth),
            (&wt[ky * depth * cout..], (cout, 1)),
            (&cols[ky * w..], (1, ldb)),
            (&mut *y, hw),
            ky > 0,
        );
    }
}

/// Unfolds one image's `cin` planes along the kernel's columns for [`conv_by_rows`]:
/// `cols[c * k + kx]` is plane `c` shifted by `kx - pad` columns, zero where that reads outside
/// the image (the row `(c, pad, kx)` of [`im2col`]); of `max(x, 0)` with `relu`. Row `r` is
/// written at `cols[r * stride + offset..][..h * w]`, nothing else.
fn unfold_columns((x, relu): (&[f32], bool), g: &ConvGeometry, (cols, stride, offset): (&mut [f32], usize, usize)) {
    let (k, w, hw) = (g.k, g.input.w, g.input.h * g.input.w);
    for (plane, rows) in x.chunks_exact(hw).take(g.cin).zip(cols.chunks_mut(k * stride)) {
        for (kx, dst) in rows.chunks_mut(stride).map(|r| &mut r[offset..offset + hw]).enumerate() {
            let window = g.same_window(g.pad as isize, kx as isize).expect("a same stride-1 convolution");
            let (lo, hi) = g.inside_columns(kx as isize);
            dst[..window.body.start].fill(0.0);
            dst[window.body.end..].fill(0.0);
            copy_in(&mut dst[window.body], &plane[window.input], relu);
            zero_columns(dst, w, lo, hi);
        }
    }
}

/// Unfolds one image's `cin` planes into `col[cin*k*k][oh*ow]`: row `(c, ky, kx)` holds input
/// `(c, oy*stride + ky - pad, ox*stride + kx - pad)`, zero outside the image. Rows of stride-1
/// convolutions are shifted copies of input rows. Of `max(x, 0)` with `relu`.
fn im2col((x, relu): (&[f32], bool), cin: usize, g: &ConvGeometry, col: &mut [f32]) {
    let (h, w) = (g.input.h, g.input.w);
    let (oh, ow) = (g.output.h, g.output.w);
    let (s, pad) = (g.stride as isize, g.pad as isize);
    let columns: Vec<(usize, usize)> = (0..g.k as isize).map(|kx| g.inside_columns(kx)).collect();
    let mut rows = col.chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(h * w).take(cin) {
        for ky in 0..g.k as isize {
            for (kx, &(lo, hi)) in columns.iter().enumerate() {
                let Some(dst) = rows.next() else { return };
                if let Some(window) = g.same_window(ky, kx as isize) {
                    // The whole row is one shifted copy of the plane; then the columns that
                    // wrapped around from the neighbouring image row are padding again.
                    let (r, b) = (window.rows, window.body);
                    dst[..r.start * ow].fill(0.0);
                    dst[r.end * ow..].fill(0.0);
                    let body = &mut dst[r.start * ow..r.end * ow];
                    body[..b.start].fill(0.0);
                    body[b.end..].fill(0.0);
                    copy_in(&mut body[b], &plane[window.input], relu);
                    zero_columns(body, ow, lo, hi);
                    continue;
                }
                for (oy, line) in dst.chunks_exact_mut(ow).enumerate() {
                    let iy = oy as isize * s + ky - pad;
                    if iy < 0 || iy >= h as isize {
                        line.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    line[..lo].fill(0.0);
                    line[hi..].fill(0.0);
                    let first = (lo as isize * s + kx as isize - pad) as usize;
                    if s == 1 {
                        copy_in(&mut line[lo..hi], &src[first..first + (hi - lo)], relu);
                    } else {
                        for (v, &x) in line[lo..hi].iter_mut().zip(src[first..].iter().step_by(s as usize)) {
                            *v = if relu { x.max(0.0) } else { x };
                        }
                    }
                }
            }
        }
    }
}

/// `dst = src`, or `max(src, 0)` with `relu` (the same operation as the ReLU node's pass).
#[inline(always)]
fn copy_in(dst: &mut [f32], src: &[f32], relu: bool) {
    if relu {
        widest(
            #[inline(always)]
            || dst.iter_mut().zip(src).for_each(|(d, &x)| *d = x.max(0.0)),
        );
    } else {
        dst.copy_from_slice(src);
    }
}

/// Zeroes columns `..lo` and `hi..` of every line of `rows` (lines of `width`): a strided pass per
/// column, since these are one or two values a line (a fill per line costs a call to memset each).
/// `rows` may be empty (a kernel row wholly in the padding of a short image).
pub(crate) fn zero_columns(rows: &mut [f32], width: usize, lo: usize, hi: usize) {
    if rows.is_empty() {
        return;
    }
    for column in (0..lo).chain(hi..width) {
        rows[column..].iter_mut().step_by(width).for_each(|v| *v = 0.0);
    }
}

/// Stride-1 average pooling as two 1-D window sums (rows, then columns), divided by the number of
/// inputs under each window (or `k * k` when padding counts). Planes are split over `threads`
/// threads; each plane's numbers do not depend on the split.
fn box_filter(x: &Act, k: usize, pad: usize, count_include_pad: bool, out: Shape, threads: usize) -> Act {
    let (h, w) = (x.shape.h, x.shape.w);
    // Input index range of output position `o` along an axis of length `len`.
    let window = |o: usize, len: usize| {
        let start = o as isize - pad as isize;
        (start.max(0) as usize, ((start + k as isize).min(len as isize)).max(0) as usize)
    };
    let cols: Vec<(usize, usize)> = (0..out.w).map(|o| window(o, w)).collect();
    let rows: Vec<(usize, usize)> = (0..out.h).map(|o| window(o, h)).collect();
    // Output columns whose window lies wholly inside the row: a sum of `k` shifted slices there.
    let inner_hi = (w + pad + 1).saturating_sub(k).min(out.w);
    let inner = if inner_hi > pad { pad..inner_hi } else { 0..0 };
    let inv: Vec<f32> = rows
        .iter()
        .flat_map(|&(y0, y1)| {
            cols.iter().map(move |&(x0, x1)| {
                1.0 / if count_include_pad { (k * k) as f32 } else { ((y1 - y0) * (x1 - x0)).max(1) as f32 }
            })
        })
        .collect();
    let planes = x.data.len() / (h * w);
    let mut data = vec![0.0f32; planes * out.h * out.w];
    let per = planes.div_ceil(threads.max(1)).max(1);
    let runs: Vec<_> = x.data.chunks(per * h * w).zip(data.chunks_mut(per * out.h * out.w)).collect();
    par_map(runs, threads, |(xs, ys)| {
        widest(
            #[inline(always)]
            || {
                let mut row_sums = vec![0.0f32; h * out.w];
                let mut edge = vec![0.0f32; h];
                // What `iter().sum()` of floats starts from (its sum of nothing).
                let zero: f32 = std::iter::empty::<f32>().sum();
                for (plane, dst) in xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(out.h * out.w)) {
                    // Rows: with the output as wide as the input, the inner columns of all rows at
                    // once as `k` shifted slices of the whole plane (long vectors; the values that
                    // wrap around a row's end land on edge columns, set right after); else row by row.
                    if !inner.is_empty() {
                        if out.w == w {
                            let body = inner.start..(h - 1) * w + inner.end;
                            add_shifted(&mut row_sums[body.clone()], plane, body.start - pad, k);
                        } else {
                            for (src, sums) in plane.chunks_exact(w).zip(row_sums.chunks_exact_mut(out.w)) {
                                add_shifted(&mut sums[inner.clone()], src, inner.start - pad, k);
                            }
                        }
                    }
                    // The edge columns (windows cut by the padding), one column of every row at a
                    // time: the same left-to-right sums as `iter().sum()` per row, without a short
                    // loop per row.
                    for o in (0..inner.start).chain(inner.end..out.w) {
                        edge.fill(zero);
                        for i in cols[o].0..cols[o].1 {
                            edge.iter_mut().zip(plane[i..].iter().step_by(w)).for_each(|(e, &v)| *e += v);
                        }
                        row_sums[o..].iter_mut().step_by(out.w).zip(&edge).for_each(|(r, &e)| *r = e);
                    }
                    // Columns: window row `d` adds input row `oy + d - pad` onto every output row
                    // `oy` that reads it, all rows at once; then each output times its 1 / count.
                    dst.fill(0.0);
                    for d in 0..k {
                        let (oy0, oy1) = (pad.saturating_sub(d), (h + pad).saturating_sub(d).min(out.h));
                        if oy0 >= oy1 {
                            continue;
                        }
                        let from = (oy0 + d - pad) * out.w;
                        let lines = &mut dst[oy0 * out.w..oy1 * out.w];
                        lines.iter_mut().zip(&row_sums[from..]).for_each(|(o, v)| *o += v);
                    }
                    dst.iter_mut().zip(&inv).for_each(|(o, i)| *o *= i);
                }
            },
        )
    });
    Act { data, shape: out }
}

/// `out[i] = src[start + i] + src[start + i + 1] + ... + src[start + i + k - 1]`, added left to
/// right (the sums of a box filter's rows).
#[inline(always)]
fn add_shifted(out: &mut [f32], src: &[f32], start: usize, k: usize) {
    let n = out.len();
    out.copy_from_slice(&src[start..start + n]);
    for d in 1..k {
        out.iter_mut().zip(&src[start + d..start + d + n]).for_each(|(o, &v)| *o += v);
    }
}

/// Training-mode batch norm, in place: per channel, mean and biased variance over images and
/// positions (in f64), eps 1e-5, then the affine scale and shift unless they are 1 and 0 (the
/// untrained network's values). Returns the output and the batch's `(mean, biased variance)`.
/// Channels are split over `threads` threads; each channel is summed by one thread in image
/// order, so the result does not depend on the thread count.
fn batch_norm(mut x: Act, batch: usize, state: Option<&BnState>, threads: usize) -> (Act, Vec<(f64, f64)>) {
    let (c, hw) = (x.shape.c, x.shape.h * x.shape.w);
    let affine = state.filter(|s| !s.is_identity());
    let channels: Vec<_> = channel_planes_mut(&mut x.data, c, hw).into_iter().enumerate().collect();
    let moments = par_map(channels, threads, |(ch, mut planes)| {
        widest(
            #[inline(always)]
            || {
                let moments = plane_moments(planes.iter().map(|p| &**p), batch * hw);
                let (mean, inv) = inverse_std(&[moments])[0];
                for plane in &mut planes {
                    match affine {
                        Some(s) => {
                            let (a, b) = (s.scale[ch], s.shift[ch]);
                            plane.iter_mut().for_each(|v| *v = (*v - mean) * inv * a + b);
                        }
                        None => plane.iter_mut().for_each(|v| *v = (*v - mean) * inv),
                    }
                }
                moments
            },
        )
    });
    (x, moments)
}

/// The planes of a `[batch, c, hw]` buffer by channel: `out[ch]` holds channel `ch`'s plane of
/// every image, in image order.
pub(crate) fn channel_planes(data: &[f32], c: usize, hw: usize) -> Vec<Vec<&[f32]>> {
    let mut out: Vec<Vec<&[f32]>> = (0..c).map(|_| Vec::new()).collect();
    for (q, plane) in data.chunks_exact(hw).enumerate() {
        out[q % c].push(plane);
    }
    out
}

/// [`channel_planes`], mutable.
pub(crate) fn channel_planes_mut(data: &mut [f32], c: usize, hw: usize) -> Vec<Vec<&mut [f32]>> {
    let mut out: Vec<Vec<&mut [f32]>> = (0..c).map(|_| Vec::new()).collect();
    for (q, plane) in data.chunks_exact_mut(hw).enumerate() {
        out[q % c].push(plane);
    }
    out
}

/// ReLU of `src` into `out`, or of `out` in place without `src`; with `gate`, the held gates
/// instead (a value passes where its gate is open). Split over threads ([`par_chunks`]).
fn relu(out: &mut [f32], src: Option<&[f32]>, gate: Option<&[bool]>, threads: usize) {
    par_chunks(
        out,
        threads,
        #[inline(always)]
        |o, at| {
            let n = o.len();
            match (src.map(|s| &s[at..at + n]), gate.map(|g| &g[at..at + n])) {
                (None, None) => o.iter_mut().for_each(|v| *v = v.max(0.0)),
                (None, Some(g)) => o.iter_mut().zip(g).for_each(|(v, &open)| *v = if open { *v } else { 0.0 }),
                (Some(s), None) => o.iter_mut().zip(s).for_each(|(v, &x)| *v = x.max(0.0)),
                (Some(s), Some(g)) => o.iter_mut().zip(s.iter().zip(g)).for_each(|(v, (&x, &open))| {
                    *v = if open { x } else { 0.0 };
                }),
            }
        },
    );
}

/// Elementwise passes over fewer values than this stay on the calling thread.
const PAR_ELEMENTWISE: usize = 1 << 16;

/// `f(chunk, offset)` over consecutive chunks of `out` (`offset` the chunk's first index), one
/// per thread when `out` is long enough, compiled wide ([`widest`]). For elementwise passes: the
/// values do not depend on the split.
fn par_chunks(out: &mut [f32], threads: usize, f: impl Fn(&mut [f32], usize) + Sync) {
    let runs = if out.len() < PAR_ELEMENTWISE { 1 } else { threads.max(1) };
    let per = out.len().div_ceil(runs).max(1);
    let chunks: Vec<(usize, &mut [f32])> = out.chunks_mut(per).enumerate().map(|(i, c)| (i * per, c)).collect();
    par_map(chunks, runs, |(at, chunk)| {
        widest(
            #[inline(always)]
            || f(chunk, at),
        )
    });
}

/// `f` of every item, the items split into at most `threads` runs of consecutive ones, each a task
/// of rayon's thread pool (none for one run: it runs on the calling thread); the results in item
/// order. The split, and so every result, depends on `threads` only, not on the pool. A pool
/// rather than threads spawned per call: a pass runs a few hundred of these, and a spawn and join
/// cost about as much as a small op (6 % of a NASWOT pass on the 2-core machine).
pub(crate) fn par_map<I: Send, T: Send>(items: Vec<I>, threads: usize, f: impl Fn(I) -> T + Sync) -> Vec<T> {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    if per >= items.len() {
        return items.into_iter().map(f).collect();
    }
    let mut runs: Vec<Vec<I>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        runs.push(items.by_ref().take(per).collect());
    }
    let f = &f;
    let mut results: Vec<Vec<T>> = runs.iter().map(|_| Vec::new()).collect();
    rayon::scope(|s| {
        for (run, out) in runs.into_iter().zip(results.iter_mut()) {
            s.spawn(move |_| *out = run.into_iter().map(f).collect());
        }
    });
    results.into_iter().flatten().collect()
}

/// Eval-mode batch norm, in place: `(x - running_mean) / sqrt(running_var + 1e-5) * scale + shift`.
fn batch_norm_eval(mut x: Act, s: &BnState) -> Act {
    let hw = x.shape.h * x.shape.w;
    let c = x.shape.c;
    let coef: Vec<(f32, f32)> = (0..c)
        .map(|ch| {
            let inv = 1.0 / (f64::from(s.running_var[ch]) + 1e-5).sqrt();
            let a = f64::from(s.scale[ch]) * inv;
            (a as f32, (f64::from(s.shift[ch]) - f64::from(s.running_mean[ch]) * a) as f32)
        })
        .collect();
    for image in x.data.chunks_exact_mut(c * hw) {
        for (plane, &(a, b)) in image.chunks_exact_mut(hw).zip(&coef) {
            plane.iter_mut().for_each(|v| *v = *v * a + b);
        }
    }
    x
}

/// Per channel of a batch: the mean and `1 / sqrt(var + 1e-5)` (biased variance, sums in f64).
fn channel_stats(x: &Act, batch: usize) -> Vec<(f32, f32)> {
    inverse_std(&channel_moments(x, batch))
}

fn inverse_std(moments: &[(f64, f64)]) -> Vec<(f32, f32)> {
    moments.iter().map(|&(mean, var)| (mean as f32, (1.0 / (var + 1e-5).sqrt()) as f32)).collect()
}

/// Per channel of a batch: the mean and the biased variance, sums in f64.
fn channel_moments(x: &Act, batch: usize) -> Vec<(f64, f64)> {
    let (c, hw) = (x.shape.c, x.shape.h * x.shape.w);
    channel_planes(&x.data, c, hw).into_iter().map(|planes| plane_moments(planes.into_iter(), batch * hw)).collect()
}

/// The mean and biased variance of the `n` values of some planes, summed in f64: plane by plane,
/// each in eight independent sums ([`lane_sums`]), not one long chain of dependent adds.
#[inline(always)]
fn plane_moments<'a>(planes: impl Iterator<Item = &'a [f32]>, n: usize) -> (f64, f64) {
    let (mut sum, mut sq) = (0.0f64, 0.0f64);
    for plane in planes {
        let (s, q) = lane_sums(plane);
        sum += s.iter().sum::<f64>();
        sq += q.iter().sum::<f64>();
    }
    let mean = sum / n as f64;
    (mean, (sq / n as f64 - mean * mean).max(0.0))
}

/// Lanes of [`lane_sums`].
const MOMENT_LANES: usize = 8;

/// The sums of a plane's values and of their squares in f64, in [`MOMENT_LANES`] lanes: lane `l`
/// adds values `l`, `l + 8`, ... in order, the last `len % 8` values go to lane 0. By AVX-512
/// where the CPU has it (the same operations, the same bits), else [`lane_sums_reference`].
#[inline(always)]
fn lane_sums(plane: &[f32]) -> ([f64; MOMENT_LANES], [f64; MOMENT_LANES]) {
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::Kernel::own() == Some(crate::gemm::Kernel::Avx512) {
        // SAFETY: the CPU has AVX-512F (detected at run time).
        #[allow(unsafe_code)]
        return unsafe { lane_sums_avx512(plane) };
    }
    lane_sums_reference(plane)
}

/// The plain [`lane_sums`].
#[inline(always)]
fn lane_sums_reference(plane: &[f32]) -> ([f64; MOMENT_LANES], [f64; MOMENT_LANES]) {
    let (mut s, mut q) = ([0.0f64; MOMENT_LANES], [0.0f64; MOMENT_LANES]);
    let chunks = plane.chunks_exact(MOMENT_LANES);
    let rest = chunks.remainder();
    for lanes in chunks {
        for l in 0..MOMENT_LANES {
            let v = f64::from(lanes[l]);
            s[l] += v;
            q[l] += v * v;
        }
    }
    for &v in rest {
        s[0] += f64::from(v);
        q[0] += f64::from(v) * f64::from(v);
    }
    (s, q)
}

/// [`lane_sums`] by AVX-512: eight floats widened to one vector of f64 lanes per step.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
fn lane_sums_avx512(plane: &[f32]) -> ([f64; MOMENT_LANES], [f64; MOMENT_LANES]) {
    use std::arch::x86_64::{
        _mm256_loadu_ps, _mm512_add_pd, _mm512_cvtps_pd, _mm512_mul_pd, _mm512_setzero_pd, _mm512_storeu_pd,
    };
    let chunks = plane.chunks_exact(MOMENT_LANES);
    let rest = chunks.remainder();
    let (mut sv, mut qv) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    for lanes in chunks {
        // SAFETY: `lanes` holds eight floats.
        let v = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(lanes.as_ptr()) });
        sv = _mm512_add_pd(sv, v);
        qv = _mm512_add_pd(qv, _mm512_mul_pd(v, v));
    }
    let (mut s, mut q) = ([0.0f64; MOMENT_LANES], [0.0f64; MOMENT_LANES]);
    // SAFETY: each array holds eight f64s.
    unsafe {
        _mm512_storeu_pd(s.as_mut_ptr(), sv);
        _mm512_storeu_pd(q.as_mut_ptr(), qv);
    }
    for &v in rest {
        s[0] += f64::from(v);
        q[0] += f64::from(v) * f64::from(v);
    }
    (s, q)
}

fn pool(x: &Act, kind: PoolKind, (k, stride, pad): (usize, usize, usize), out: Shape, threads: usize) -> Result<Act> {
    let (h, w) = (x.shape.h, x.shape.w);
    if matches!(kind, PoolKind::Max) && pad > 0 {
        return Err(Error::Unavailable("padded max pooling is not supported".into()));
    }
    if let (PoolKind::Avg { count_include_pad }, 1) = (kind, stride) {
        return Ok(box_filter(x, k, pad, count_include_pad, out, threads));
    }
    if pad == 0 && out.h > 0 && out.w > 0 && (out.h - 1) * stride + k <= h && (out.w - 1) * stride + k <= w {
        return Ok(pool_inside(x, kind, (k, stride), out, threads));
    }
    pool_plain(x, kind, (k, stride, pad), out)
}

/// Pooling whose windows all lie inside the image (no padding), a whole output row at a time:
/// window position `(iy, ix)` adds (or maxes) its input onto every output of the row, in the
/// order of [`pool_plain`]'s window loop, so the same bits. Planes are split over `threads`.
fn pool_inside(x: &Act, kind: PoolKind, (k, stride): (usize, usize), out: Shape, threads: usize) -> Act {
    let (h, w) = (x.shape.h, x.shape.w);
    let planes = x.data.len() / (h * w);
    let mut data = vec![0.0f32; planes * out.h * out.w];
    let per = planes.div_ceil(threads.max(1)).max(1);
    let runs: Vec<_> = x.data.chunks(per * h * w).zip(data.chunks_mut(per * out.h * out.w)).collect();
    let max = matches!(kind, PoolKind::Max);
    par_map(runs, threads, |(xs, ys)| {
        widest(
            #[inline(always)]
            || {
                for (plane, dst) in xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(out.h * out.w)) {
                    for (oy, row) in dst.chunks_exact_mut(out.w).enumerate() {
                        row.fill(if max { f32::NEG_INFINITY } else { 0.0 });
                        for iy in 0..k {
                            for ix in 0..k {
                                let src = plane[(oy * stride + iy) * w + ix..].iter().step_by(stride);
                                if max {
                                    row.iter_mut().zip(src).for_each(|(o, &v)| *o = o.max(v));
                                } else {
                                    row.iter_mut().zip(src).for_each(|(o, &v)| *o += v);
                                }
                            }
                        }
                        if !max {
                            row.iter_mut().for_each(|o| *o /= (k * k) as f32);
                        }
                    }
                }
            },
        )
    });
    Act { data, shape: out }
}

/// Pooling by its definition, one output at a time: any window, padding and count.
fn pool_plain(x: &Act, kind: PoolKind, (k, stride, pad): (usize, usize, usize), out: Shape) -> Result<Act> {
    let (h, w) = (x.shape.h, x.shape.w);
    let mut data = Vec::with_capacity(x.data.len() / (h * w) * out.h * out.w);
    for plane in x.data.chunks_exact(h * w) {
        for oy in 0..out.h {
            for ox in 0..out.w {
                let (y0, x0) = ((oy * stride) as isize - pad as isize, (ox * stride) as isize - pad as isize);
                let (mut acc, mut count) =
                    (if matches!(kind, PoolKind::Max) { f32::NEG_INFINITY } else { 0.0 }, 0usize);
                for iy in y0.max(0)..(y0 + k as isize).min(h as isize) {
                    for ix in x0.max(0)..(x0 + k as isize).min(w as isize) {
                        let v = plane[iy as usize * w + ix as usize];
                        acc = if matches!(kind, PoolKind::Max) { acc.max(v) } else { acc + v };
                        count += 1;
                    }
                }
                data.push(match kind {
                    PoolKind::Max => acc,
                    PoolKind::Avg { count_include_pad: true } => acc / (k * k) as f32,
                    PoolKind::Avg { count_include_pad: false } => acc / count.max(1) as f32,
                });
            }
        }
    }
    Ok(Act { data, shape: out })
}
