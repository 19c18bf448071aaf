//! Runs any architecture graph ([`Network`]) as a real candle network.
//!
//! * **Initialisation** (PyTorch's defaults, drawn from a seeded ChaCha8 stream in node order):
//!   conv and linear weights and biases `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, which is PyTorch's
//!   `kaiming_uniform_(a = sqrt(5))`; batch-norm scale 1 and shift 0.
//! * **Batch norm** always uses the statistics of the batch (training mode, biased variance,
//!   eps 1e-5), as every training-free score asks. [`Pass::bypass_batch_norm`] skips it (synflow).
//! * **Pooling** with kernel == stride and no padding uses candle's pooling; other windows (the
//!   3x3 stride-1 average pool of cell spaces) are a sum of shifted slices of the padded input,
//!   divided by the number of real inputs when padding is not counted. This form has a backward
//!   pass, which candle's own pooling lacks for such windows.
//! * Parameters are candle [`Var`]s, so any scalar of a forward pass can be differentiated with
//!   respect to them (and to the input, when the input is a `Var`).

use candle_core::{DType, Device, Tensor, Var};
use nas_core::graph::{Network, NodeId, Op, PoolKind, Shape};
use nas_core::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Converts a candle error into the toolkit's.
pub(crate) fn backend(e: candle_core::Error) -> Error {
    Error::backend(e)
}

/// Learned parameters of one node.
#[derive(Debug)]
pub enum Params {
    /// A convolution's parameters.
    Conv {
        /// `[out, in / groups, k, k]`.
        weight: Var,
        /// `[out]`, where the conv has a bias.
        bias: Option<Var>,
    },
    /// An affine batch norm's parameters.
    BatchNorm {
        /// Per-channel scale.
        scale: Var,
        /// Per-channel shift.
        shift: Var,
    },
    /// A linear layer's parameters.
    Linear {
        /// `[out, in]`.
        weight: Var,
        /// `[out]`, where the layer has a bias.
        bias: Option<Var>,
    },
}

impl Params {
    /// The weight whose per-weight measures the scores sum (conv and linear only).
    pub fn weight(&self) -> Option<&Var> {
        match self {
            Params::Conv { weight, .. } | Params::Linear { weight, .. } => Some(weight),
            Params::BatchNorm { .. } => None,
        }
    }

    /// Every parameter tensor of the node.
    pub fn all(&self) -> Vec<&Var> {
        match self {
            Params::Conv { weight, bias } | Params::Linear { weight, bias } => {
                std::iter::once(weight).chain(bias.as_ref()).collect()
            }
            Params::BatchNorm { scale, shift } => vec![scale, shift],
        }
    }
}

/// Called with each ReLU node and its input.
pub type ReluHook<'a> = dyn FnMut(NodeId, &Tensor) -> Result<()> + 'a;

/// What a forward pass does besides computing the output.
#[derive(Default)]
pub struct Pass<'a> {
    /// Treat every batch norm as the identity.
    pub bypass_batch_norm: bool,
    /// Called with the input of every ReLU, in execution order.
    pub on_relu_input: Option<&'a mut ReluHook<'a>>,
    /// Add a zero-valued [`Var`] to the output of every conv and linear node, so that a backward
    /// pass gives the gradient with respect to each layer's output (activation-gradient scores).
    pub probe_layer_outputs: bool,
    /// Fixed ReLU gates by node (0/1 tensors of the input's shape): a gated ReLU multiplies its
    /// input by its gate instead of testing the input's sign (see [`crate::scores::grasp`]).
    pub relu_gates: Option<&'a std::collections::HashMap<NodeId, Tensor>>,
}

impl std::fmt::Debug for Pass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass")
            .field("bypass_batch_norm", &self.bypass_batch_norm)
            .field("on_relu_input", &self.on_relu_input.is_some())
            .field("probe_layer_outputs", &self.probe_layer_outputs)
            .field("relu_gates", &self.relu_gates.map(|g| g.len()))
            .finish()
    }
}

/// The result of a forward pass.
#[derive(Debug)]
pub struct Outputs {
    /// The network output, `[batch, C, H, W]` (a linear head gives `[batch, classes, 1, 1]`).
    pub output: Tensor,
    /// The probes of every conv and linear node, when asked for.
    pub probes: Vec<LayerProbe>,
}

/// The output of one conv or linear node and the zero [`Var`] added to it: the gradient of a
/// scalar with respect to `probe` is its gradient with respect to the layer's output.
#[derive(Debug)]
pub struct LayerProbe {
    /// The conv or linear node.
    pub node: NodeId,
    /// Its output.
    pub value: Tensor,
    /// The zero variable added to the output.
    pub probe: Var,
}

/// A network with its parameters, ready to run on a device.
#[derive(Debug)]
pub struct CandleNet {
    net: Network,
    params: Vec<Option<Params>>,
    device: Device,
    dtype: DType,
}

impl CandleNet {
    /// Builds the network with freshly initialised parameters (see the module doc).
    pub fn new(net: &Network, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::invalid("dtype", format!("{dtype:?}; networks run in f32 or f64")));
        }
        let var = |data: &[f32], shape: candle_core::Shape| -> Result<Var> {
            let t = Tensor::from_slice(data, shape, device).and_then(|t| t.to_dtype(dtype)).map_err(backend)?;
            Var::from_tensor(&t).map_err(backend)
        };
        let mut params = Vec::with_capacity(net.len());
        for (id, init) in net.node_ids().zip(initial_weights(net, seed)?) {
            let p = match (&net.node(id).op, init) {
                (Op::Conv2d { in_channels, out_channels, kernel, groups, .. }, Some(init)) => Some(Params::Conv {
                    weight: var(&init.weight, (*out_channels, in_channels / groups, *kernel, *kernel).into())?,
                    bias: init.bias.map(|b| var(&b, b.len().into())).transpose()?,
                }),
                (Op::Linear { in_features, out_features, .. }, Some(init)) => Some(Params::Linear {
                    weight: var(&init.weight, (*out_features, *in_features).into())?,
                    bias: init.bias.map(|b| var(&b, b.len().into())).transpose()?,
                }),
                (Op::BatchNorm { channels, affine: true }, _) => Some(Params::BatchNorm {
                    scale: Var::ones(*channels, dtype, device).map_err(backend)?,
                    shift: Var::zeros(*channels, dtype, device).map_err(backend)?,
                }),
                _ => None,
            };
            params.push(p);
        }
        Ok(CandleNet { net: net.clone(), params, device: device.clone(), dtype })
    }

    /// The architecture it runs.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The candle device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The float type of its parameters and activations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// `(node, parameters)` of every node that has any, in node order.
    pub fn params(&self) -> impl Iterator<Item = (NodeId, &Params)> + '_ {
        self.net.node_ids().zip(&self.params).filter_map(|(id, p)| p.as_ref().map(|p| (id, p)))
    }

    /// Replaces every parameter by its absolute value (synflow's linearisation).
    pub fn abs_params(&self) -> Result<()> {
        for (_, p) in self.params() {
            for v in p.all() {
                v.set(&v.as_tensor().abs().map_err(backend)?).map_err(backend)?;
            }
        }
        Ok(())
    }

    /// Runs the network on `x` (`[batch, C, H, W]`, of the network's input shape).
    pub fn forward(&self, x: &Tensor, pass: &mut Pass<'_>) -> Result<Outputs> {
        let input_shape = self.net.input_id().map(|id| self.net.node(id).shape);
        let dims = x.dims();
        let fits = matches!((input_shape, dims), (Some(s), [_, c, h, w]) if (s.c, s.h, s.w) == (*c, *h, *w));
        if !fits {
            return Err(Error::invalid(
                "network input",
                format!("tensor of shape {dims:?} for a network taking [batch, {}]", shape_text(input_shape)),
            ));
        }
        let x = x.to_dtype(self.dtype).map_err(backend)?;
        // Consumers left per node, so activations are dropped as soon as nothing reads them.
        let mut readers = self.net.read_counts();
        let mut values: Vec<Option<Tensor>> = vec![None; self.net.len()];
        let mut probes = Vec::new();
        let out_id = self.net.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?;
        for id in self.net.node_ids() {
            let node = self.net.node(id);
            let inputs: Vec<Tensor> = self
                .net
                .inputs_of(id)
                .into_iter()
                .map(|i| values[i.index()].clone().ok_or_else(|| missing(&self.net, i)))
                .collect::<Result<_>>()?;
            let y = match &node.op {
                Op::Input { .. } => x.clone(),
                Op::Relu => {
                    if let Some(f) = pass.on_relu_input.as_mut() {
                        f(id, &inputs[0])?;
                    }
                    match pass.relu_gates.and_then(|g| g.get(&id)) {
                        Some(gate) => (&inputs[0] * gate).map_err(backend)?,
                        None => inputs[0].relu().map_err(backend)?,
                    }
                }
                op => self.apply(id, op, node.shape, &inputs, pass.bypass_batch_norm).map_err(backend)?,
            };
            let y = if pass.probe_layer_outputs && matches!(node.op, Op::Conv2d { .. } | Op::Linear { .. }) {
                let probe = Var::zeros(y.shape(), y.dtype(), y.device()).map_err(backend)?;
                let probed = (&y + probe.as_tensor()).map_err(backend)?;
                probes.push(LayerProbe { node: id, value: y, probe });
                probed
            } else {
                y
            };
            for i in self.net.inputs_of(id) {
                readers[i.index()] -= 1;
                if readers[i.index()] == 0 && i != out_id {
                    values[i.index()] = None;
                }
            }
            values[id.index()] = Some(y);
        }
        let output = values[out_id.index()].take().ok_or_else(|| missing(&self.net, out_id))?;
        Ok(Outputs { output, probes })
    }

    /// Logits `[batch, classes]` of a network whose output is a vector per image.
    pub fn logits(&self, x: &Tensor, pass: &mut Pass<'_>) -> Result<(Tensor, Vec<LayerProbe>)> {
        let out = self.forward(x, pass)?;
        let b = out.output.dim(0).map_err(backend)?;
        Ok((out.output.reshape((b, ())).map_err(backend)?, out.probes))
    }

    fn apply(&self, id: NodeId, op: &Op, shape: Shape, xs: &[Tensor], bypass_bn: bool) -> candle_core::Result<Tensor> {
        let x = &xs[0];
        let params = self.params[id.index()].as_ref();
        match (op, params) {
            (Op::Conv2d { stride, padding, groups, .. }, Some(Params::Conv { weight, bias })) => {
                let y = x.conv2d(weight.as_tensor(), *padding, *stride, 1, *groups)?;
                match bias {
                    Some(b) => y.broadcast_add(&b.as_tensor().reshape((1, (), 1, 1))?),
                    None => Ok(y),
                }
            }
            (Op::BatchNorm { .. }, _) if bypass_bn => Ok(x.clone()),
            (Op::BatchNorm { .. }, p) => {
                let mean = x.mean_keepdim((0, 2, 3))?;
                let centred = x.broadcast_sub(&mean)?;
                let var = centred.sqr()?.mean_keepdim((0, 2, 3))?;
                let y = centred.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
                match p {
                    Some(Params::BatchNorm { scale, shift }) => y
                        .broadcast_mul(&scale.as_tensor().reshape((1, (), 1, 1))?)?
                        .broadcast_add(&shift.as_tensor().reshape((1, (), 1, 1))?),
                    _ => Ok(y),
                }
            }
            (Op::Pool { kind, kernel, stride, padding }, _) => pool(x, *kind, *kernel, *stride, *padding, shape),
            (Op::GlobalAvgPool, _) => x.mean_keepdim((2, 3)),
            (Op::Linear { .. }, Some(Params::Linear { weight, bias })) => {
                let b = x.dim(0)?;
                let flat = x.reshape((b, ()))?;
                let mut y = flat.matmul(&weight.as_tensor().t()?)?;
                if let Some(bias) = bias {
                    y = y.broadcast_add(bias.as_tensor())?;
                }
                y.reshape((b, (), 1, 1))
            }
            (Op::Add, _) => {
                let mut acc = x.clone();
                for other in &xs[1..] {
                    acc = (acc + other)?;
                }
                Ok(acc)
            }
            (Op::Concat, _) => Tensor::cat(xs, 1),
            (Op::Zero, _) => x.zeros_like(),
            (Op::Identity, _) => Ok(x.clone()),
            (op, _) => Err(candle_core::Error::Msg(format!("cannot run a {} node here", op.kind()))),
        }
    }

    /// A tensor of this network's dtype on its device.
    pub fn tensor(&self, data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data, shape, &self.device).and_then(|t| t.to_dtype(self.dtype)).map_err(backend)
    }
}

fn shape_text(s: Option<Shape>) -> String {
    s.map_or_else(|| "?".into(), |s| format!("{}, {}, {}", s.c, s.h, s.w))
}

fn missing(net: &Network, id: NodeId) -> Error {
    Error::Graph { node: net.node(id).name.clone(), reason: "its value was dropped before a reader ran".into() }
}

/// Initial weights of a conv or linear node (batch norm starts at scale 1, shift 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Init {
    /// Conv `[out, in / groups, k, k]` or linear `[out, in]`, row-major.
    pub weight: Vec<f32>,
    /// The bias `[out]`, where the node has one.
    pub bias: Option<Vec<f32>>,
}

/// The initial weights of every node (`None` for nodes without conv or linear weights), drawn
/// from ChaCha8 seeded with `seed`, node by node, weight before bias: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
/// Both execution paths start from these values.
pub fn initial_weights(net: &Network, seed: u64) -> Result<Vec<Option<Init>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |fan_in: usize, n: usize| -> Vec<f32> {
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        (0..n).map(|_| rng.random_range(-bound..bound) as f32).collect()
    };
    net.node_ids()
        .map(|id| {
            let node = net.node(id);
            Ok(match node.op {
                Op::Conv2d { in_channels, out_channels, kernel, groups, bias, .. } => {
                    let fan_in = in_channels / groups * kernel * kernel;
                    let weight = draw(fan_in, out_channels * fan_in);
                    Some(Init { weight, bias: bias.then(|| draw(fan_in, out_channels)) })
                }
                Op::Linear { in_features, out_features, bias } => {
                    let weight = draw(in_features, out_features * in_features);
                    Some(Init { weight, bias: bias.then(|| draw(in_features, out_features)) })
                }
                Op::Choice { .. } => {
                    return Err(Error::Unavailable(format!(
                        "node {:?} is a choice of candidates: run a chosen sub-network, not the supernet",
                        node.name
                    )));
                }
                _ => None,
            })
        })
        .collect()
}

/// Pooling for any window: candle's kernels where kernel == stride and there is no padding,
/// otherwise shifted slices (differentiable for every window).
fn pool(x: &Tensor, kind: PoolKind, k: usize, stride: usize, pad: usize, out: Shape) -> candle_core::Result<Tensor> {
    if matches!(kind, PoolKind::Max) && pad > 0 {
        return Err(candle_core::Error::Msg("padded max pooling is not supported".into()));
    }
    if k == stride && pad == 0 {
        return match kind {
            PoolKind::Avg { .. } => x.avg_pool2d(k),
            PoolKind::Max => x.max_pool2d(k),
        };
    }
    let (_, _, h, w) = x.dims4()?;
    let padded = x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?;
    let span_h = (out.h - 1) * stride + 1;
    let span_w = (out.w - 1) * stride + 1;
    let mut acc: Option<Tensor> = None;
    for dy in 0..k {
        for dx in 0..k {
            let mut s = padded.narrow(2, dy, span_h)?.narrow(3, dx, span_w)?;
            if stride > 1 {
                let rows = Tensor::arange_step(0u32, span_h as u32, stride as u32, x.device())?;
                let cols = Tensor::arange_step(0u32, span_w as u32, stride as u32, x.device())?;
                s = s.contiguous()?.index_select(&rows, 2)?.contiguous()?.index_select(&cols, 3)?;
            }
            acc = Some(match (acc, kind) {
                (None, _) => s,
                (Some(a), PoolKind::Avg { .. }) => (a + s)?,
                (Some(a), PoolKind::Max) => a.maximum(&s)?,
            });
        }
    }
    let acc = acc.ok_or_else(|| candle_core::Error::Msg("pooling window of size 0".into()))?;
    match kind {
        PoolKind::Max => Ok(acc),
        PoolKind::Avg { count_include_pad: true } => acc / (k * k) as f64,
        PoolKind::Avg { count_include_pad: false } => {
            // Number of real inputs under each window.
            let count = |len: usize, out_len: usize| -> Vec<f64> {
                (0..out_len)
                    .map(|o| {
                        let start = (o * stride) as isize - pad as isize;
                        (start..start + k as isize).filter(|&i| i >= 0 && (i as usize) < len).count() as f64
                    })
                    .collect()
            };
            let ch = count(h, out.h);
            let cw = count(w, out.w);
            let counts: Vec<f64> = ch.iter().flat_map(|a| cw.iter().map(move |b| a * b)).collect();
            let counts = Tensor::from_vec(counts, (1, 1, out.h, out.w), x.device())?.to_dtype(x.dtype())?;
            acc.broadcast_div(&counts)
        }
    }
}

/// All values of a tensor, flattened, as f64.
pub(crate) fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>> {
    t.flatten_all().and_then(|t| t.to_dtype(DType::F64)).and_then(|t| t.to_vec1::<f64>()).map_err(backend)
}
