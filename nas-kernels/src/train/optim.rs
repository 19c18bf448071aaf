//! Optimisers, learning-rate schedules and gradient clipping, with PyTorch's semantics.
//!
//! * SGD (`torch.optim.SGD`, dampening 0): `d = g + wd * p`; momentum buffer `b = d` at the first
//!   step, then `b = momentum * b + d`; Nesterov `d = d + momentum * b`, else `d = b`; `p -= lr * d`.
//! * Adam / AdamW (`torch.optim.Adam` / `AdamW`): bias-corrected moments; Adam adds `wd * p` to the
//!   gradient, AdamW multiplies `p` by `1 - lr * wd` first (decoupled weight decay).
//! * Clipping (`clip_grad_norm_`): the gradients scaled by `max_norm / (norm + 1e-6)` when that is
//!   below 1, `norm` the Euclidean norm of all gradients together.
//!
//! Updates run in f32, like PyTorch's float tensors; norms are summed in f64.

use serde::{Deserialize, Serialize};

/// Which optimiser updates the weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Optimizer {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Momentum factor.
        momentum: f64,
        /// Nesterov's momentum instead of the plain one.
        nesterov: bool,
    },
    /// Adam (Kingma and Ba, 2015), weight decay added to the gradient.
    Adam {
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the root of the second moment.
        eps: f64,
    },
    /// AdamW (Loshchilov and Hutter, 2019): decoupled weight decay.
    AdamW {
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the root of the second moment.
        eps: f64,
    },
}

impl Optimizer {
    /// The benchmark's SGD: momentum 0.9, Nesterov.
    pub const NB201_SGD: Optimizer = Optimizer::Sgd { momentum: 0.9, nesterov: true };
}

/// The learning rate over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// `lr * (1 + cos(pi * t / T)) / 2`, per step `t` of `T` (annealed to 0), as the benchmark's.
    Cosine,
    /// The base rate, times 0.1 from half the epochs on and 0.01 from three quarters on.
    Step,
}

/// The learning rate of step `step` (0-based) of `total` steps, `per_epoch` steps an epoch, with
/// a linear warm-up over the first `warmup` steps (`lr * (t + 1) / warmup`) after which the
/// schedule runs over the remaining steps.
pub fn learning_rate(base: f64, schedule: Schedule, step: usize, total: usize, per_epoch: usize, warmup: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let (t, span) = ((step - warmup) as f64, total.saturating_sub(warmup).max(1) as f64);
    match schedule {
        Schedule::Constant => base,
        Schedule::Cosine => 0.5 * base * (1.0 + (std::f64::consts::PI * t / span).cos()),
        Schedule::Step => {
            let epochs = (total as f64 / per_epoch.max(1) as f64).max(1.0);
            let epoch = (step / per_epoch.max(1)) as f64;
            if epoch >= 0.75 * epochs {
                base * 0.01
            } else if epoch >= 0.5 * epochs {
                base * 0.1
            } else {
                base
            }
        }
    }
}

/// Scales `grads` so their global Euclidean norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(grads: &mut [Vec<f32>], max_norm: f64) -> f64 {
    let norm = grads.iter().flatten().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = coef as f32;
        grads.iter_mut().flatten().for_each(|g| *g *= c);
    }
    norm
}

/// The optimiser's state: the step count and one or two buffers per parameter tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// Updates done so far.
    pub steps: u64,
    /// SGD's momentum buffers, or Adam's first moments (empty before the first step).
    pub first: Vec<Vec<f32>>,
    /// Adam's second moments (empty for SGD).
    pub second: Vec<Vec<f32>>,
}

impl OptimizerState {
    /// One update of every parameter tensor `params[i]` with its gradient `grads[i]`.
    pub fn step(&mut self, opt: Optimizer, params: &mut [&mut Vec<f32>], grads: &[Vec<f32>], lr: f64, wd: f64) {
        let first_step = self.first.is_empty();
        if first_step {
            self.first = grads.iter().map(|g| vec![0.0; g.len()]).collect();
            if !matches!(opt, Optimizer::Sgd { .. }) {
                self.second = grads.iter().map(|g| vec![0.0; g.len()]).collect();
            }
        }
        self.steps += 1;
        let (lr32, wd32) = (lr as f32, wd as f32);
        match opt {
            Optimizer::Sgd { momentum, nesterov } => {
                let m = momentum as f32;
                for ((p, g), buf) in params.iter_mut().zip(grads).zip(&mut self.first) {
                    for ((w, &gv), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                        let mut d = gv + wd32 * *w;
                        if momentum != 0.0 {
                            *b = if first_step { d } else { m * *b + d };
                            d = if nesterov { d + m * *b } else { *b };
                        }
                        *w -= lr32 * d;
                    }
                }
            }
            Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps } => {
                let decoupled = matches!(opt, Optimizer::AdamW { .. });
                let t = self.steps as i32;
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                let (b1, b2, e) = (beta1 as f32, beta2 as f32, eps as f32);
                let step_size = (lr / c1) as f32;
                let c2_sqrt = c2.sqrt() as f32;
                for (((p, g), m1), m2) in params.iter_mut().zip(grads).zip(&mut self.first).zip(&mut self.second) {
                    for (((w, &gv), a), v) in p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut()) {
                        let gv = if decoupled {
                            *w *= 1.0 - lr32 * wd32;
                            gv
                        } else {
                            gv + wd32 * *w
                        };
                        *a = b1 * *a + (1.0 - b1) * gv;
                        *v = b2 * *v + (1.0 - b2) * gv * gv;
                        *w -= step_size * *a / (v.sqrt() / c2_sqrt + e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two SGD steps on one weight, worked out by hand from PyTorch's update rule.
    #[test]
    fn sgd_follows_pytorch() {
        let mut state = OptimizerState::default();
        let mut p = vec![1.0f32];
        let opt = Optimizer::Sgd { momentum: 0.9, nesterov: true };
        // step 1: d = 0.5 + 0.1 * 1 = 0.6, b = 0.6, d = 0.6 + 0.9 * 0.6 = 1.14, p = 1 - 0.1 * 1.14
        state.step(opt, &mut [&mut p], &[vec![0.5]], 0.1, 0.1);
        assert!((p[0] - 0.886).abs() < 1e-6, "{}", p[0]);
        // step 2: d = 0.2 + 0.0886 = 0.2886, b = 0.54 + 0.2886 = 0.8286, d = 0.2886 + 0.74574
        state.step(opt, &mut [&mut p], &[vec![0.2]], 0.1, 0.1);
        assert!((p[0] - (0.886 - 0.1 * 1.03434)).abs() < 1e-6, "{}", p[0]);
        let mut q = vec![1.0f32];
        let mut plain = OptimizerState::default();
        plain.step(Optimizer::Sgd { momentum: 0.0, nesterov: false }, &mut [&mut q], &[vec![0.5]], 0.1, 0.0);
        assert!((q[0] - 0.95).abs() < 1e-7);
    }

    #[test]
    fn schedules_and_clipping() {
        assert_eq!(learning_rate(0.1, Schedule::Cosine, 0, 100, 10, 0), 0.1);
        assert!((learning_rate(0.1, Schedule::Cosine, 50, 100, 10, 0) - 0.05).abs() < 1e-12);
        assert!(learning_rate(0.1, Schedule::Cosine, 99, 100, 10, 0) < 1e-4);
        assert_eq!(learning_rate(0.1, Schedule::Constant, 77, 100, 10, 0), 0.1);
        assert_eq!(learning_rate(0.1, Schedule::Step, 49, 100, 10, 0), 0.1);
        assert!((learning_rate(0.1, Schedule::Step, 50, 100, 10, 0) - 0.01).abs() < 1e-12);
        assert!((learning_rate(0.1, Schedule::Step, 80, 100, 10, 0) - 0.001).abs() < 1e-12);
        assert!((learning_rate(0.1, Schedule::Cosine, 1, 100, 10, 4) - 0.05).abs() < 1e-12);
        assert_eq!(learning_rate(0.1, Schedule::Cosine, 4, 100, 10, 4), 0.1);
        let mut g = vec![vec![3.0f32], vec![4.0]];
        assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
        assert_eq!(g, vec![vec![3.0], vec![4.0]]);
        clip_grad_norm(&mut g, 1.0);
        assert!((g[0][0] - 0.6).abs() < 1e-6 && (g[1][0] - 0.8).abs() < 1e-6);
    }
}
