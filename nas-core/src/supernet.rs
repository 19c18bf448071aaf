//! The weight-sharing supernet as one-shot search methods see it: tensor-free, object safe.
//!
//! A supernet has `edges` positions (NB201: the 6 cell edges, shared by every cell) with `ops`
//! candidate operations each. A pass sets every edge to an [`EdgeMode`]: a weighted sum of all
//! candidates, or one candidate times a weight. It answers the loss and `dL/dc`, the gradient of
//! the loss with respect to each edge's coefficients `c` (the architecture gradient before the
//! method's own parametrisation: softmax, Gumbel, ...). The weights and their optimiser live behind
//! the trait (`nas_kernels::supernet` implements it on the fast CPU path, and the conformance
//! tests of `nas_strategies::oneshot` with a scalar toy).

use crate::Result;

/// Which half of the training images a batch comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The first half: trains the weights.
    Weights,
    /// The second half: drives the architecture step (and ranks sub-architectures).
    Arch,
}

/// How one edge runs in a pass.
#[derive(Clone, Debug, PartialEq)]
pub enum EdgeMode {
    /// `sum_k c_k op_k(x)` over every candidate (one coefficient per op); an op whose output is
    /// always zero (`none`) is not computed.
    Mix(Vec<f32>),
    /// Only `op` runs, its output times `weight`. The other ops' coefficients enter the output as
    /// scalars of value 0 (AutoDL's GDAS: `sum_{k != op} h_k`), so their `dL/dc` is the sum of the
    /// edge's upstream gradient.
    Path {
        /// The op that runs.
        op: usize,
        /// Its coefficient (1 for a fixed path, the straight-through one-hot weight for GDAS).
        weight: f32,
    },
}

/// What one forward-backward pass answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Pass {
    /// Mean cross-entropy of the batch.
    pub loss: f64,
    /// Images classified right.
    pub correct: usize,
    /// Images in the batch.
    pub images: usize,
    /// `dL/dc[edge][op]`, summed over every place the edge appears (all cells).
    pub d_coef: Vec<Vec<f64>>,
}

/// A weight-sharing supernet with its data and its weight optimiser.
pub trait Supernet {
    /// Architecture positions (edges) whose choice is searched.
    fn edges(&self) -> usize;
    /// Candidate operations per edge.
    fn ops(&self) -> usize;
    /// Weight steps per epoch (batches of the weight half).
    fn steps_per_epoch(&self) -> usize;
    /// Loads batch `index` of a split (counted from 0 over the whole run: weight batch `index`
    /// is step `index % steps_per_epoch` of epoch `index / steps_per_epoch`; the architecture half
    /// is cycled, reshuffled at each pass). Same index, same images and augmentation.
    fn load_batch(&mut self, split: Split, index: u64) -> Result<()>;
    /// Forward and backward on the split's loaded batch with every edge set by `edges`; keeps the
    /// weight gradient for [`Supernet::weight_step`] (replacing the kept one).
    fn forward_backward(&mut self, split: Split, edges: &[EdgeMode]) -> Result<Pass>;
    /// One optimiser step of the weights with the kept gradient, at learning rate `lr`.
    fn weight_step(&mut self, lr: f64) -> Result<()>;
    /// Saves a copy of the weights (for the unrolled steps of second-order DARTS).
    fn save_weights(&mut self);
    /// Restores the copy saved by [`Supernet::save_weights`].
    fn restore_weights(&mut self) -> Result<()>;
    /// The optimiser's step at `lr` with the kept gradient, without changing its state (momentum
    /// buffers, step count): DARTS' virtual step `w - lr * (momentum * buffer + g + wd * w)`.
    fn virtual_step(&mut self, lr: f64) -> Result<()>;
    /// Keeps the current weight gradient as a direction; returns its Euclidean norm.
    fn keep_direction(&mut self) -> Result<f64>;
    /// `w += step * direction` with the direction kept by [`Supernet::keep_direction`].
    fn move_along_direction(&mut self, step: f64) -> Result<()>;
    /// Eval-mode accuracy (percent) of one sub-architecture (`path[edge]` = op) on the
    /// architecture half (its first `images` when given), after recomputing every batch norm's
    /// statistics (reset, then a cumulative average) on `bn_batches` unaugmented batches of the
    /// weight half.
    fn path_accuracy(&mut self, path: &[usize], bn_batches: usize, images: Option<usize>) -> Result<f64>;
    /// Everything that a resumed run needs (weights, running statistics, optimiser buffers).
    fn state(&self) -> Vec<Vec<f32>>;
    /// Restores [`Supernet::state`]; an error if it does not fit.
    fn set_state(&mut self, state: Vec<Vec<f32>>) -> Result<()>;
}
