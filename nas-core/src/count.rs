//! Exact parameter and FLOP counts of a [`Network`], the one implementation the toolkit uses.
//!
//! FLOPs are multiply-accumulates plus elementwise work, per sample, with these conventions
//! (those of the common PyTorch counters, ptflops and the NAS-Bench-201 code):
//!
//! | op | params | FLOPs |
//! |---|---|---|
//! | conv | `k*k*cin/g*cout` (+`cout` bias) | `k*k*cin/g*cout*H_out*W_out` (+`cout*H_out*W_out` bias) |
//! | linear | `in*out` (+`out`) | `in*out` (+`out`) |
//! | batch norm | `2*C` if affine | `2` per element if affine, else `1` |
//! | ReLU | 0 | `1` per element |
//! | pool (avg/max) | 0 | `k*k` per output element |
//! | global average pool | 0 | `1` per input element |
//! | add, concat, zero, identity | 0 | 0 |
//! | choice | sum of candidates | sum of candidates (a supernet runs them all) |

use serde::{Deserialize, Serialize};

use crate::graph::{Network, Op, Shape};

/// Parameters and FLOPs of one op or of a whole network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Learned parameters.
    pub params: u64,
    /// Per-sample FLOPs (multiply-accumulates plus elementwise work, see the table above).
    pub flops: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts { params: self.params + o.params, flops: self.flops + o.flops }
    }
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |a, b| a + b)
    }
}

/// Counts of `op` with inputs of shapes `inputs` producing `out`.
pub fn op_counts(op: &Op, inputs: &[Shape], out: Shape) -> Counts {
    let n_out = out.numel() as u64;
    match op {
        Op::Conv2d { in_channels, out_channels, kernel, groups, bias, .. } => {
            let per_position = (kernel * kernel * in_channels / groups * out_channels) as u64;
            let b = if *bias { *out_channels as u64 } else { 0 };
            let positions = (out.h * out.w) as u64;
            Counts { params: per_position + b, flops: (per_position + b) * positions }
        }
        Op::Linear { in_features, out_features, bias } => {
            let w = (in_features * out_features) as u64;
            let b = if *bias { *out_features as u64 } else { 0 };
            Counts { params: w + b, flops: w + b }
        }
        Op::BatchNorm { channels, affine } => {
            let (params, per) = if *affine { (2 * *channels as u64, 2) } else { (0, 1) };
            Counts { params, flops: per * n_out }
        }
        Op::Relu => Counts { params: 0, flops: n_out },
        Op::Pool { kernel, .. } => Counts { params: 0, flops: (kernel * kernel) as u64 * n_out },
        Op::GlobalAvgPool => Counts { params: 0, flops: inputs.first().map_or(0, |s| s.numel() as u64) },
        Op::Choice { candidates } => candidates.iter().map(Network::counts).sum(),
        Op::Input { .. } | Op::Add | Op::Concat | Op::Zero | Op::Identity => Counts::default(),
    }
}

impl Network {
    /// Counts of every node, in topological order.
    pub fn node_counts(&self) -> Vec<Counts> {
        self.nodes()
            .map(|(id, n)| {
                let inputs: Vec<Shape> = self.inputs_of(id).into_iter().map(|i| self.node(i).shape).collect();
                op_counts(&n.op, &inputs, n.shape)
            })
            .collect()
    }

    /// Total parameters and FLOPs per sample.
    pub fn counts(&self) -> Counts {
        self.node_counts().into_iter().sum()
    }
}
