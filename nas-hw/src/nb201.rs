//! A latency model of NAS-Bench-201 cells that says what actually executes.
//!
//! Every one of the 15 cells of a network has the same genotype, so the cost is an intercept (stem,
//! reductions, head) plus per-cell terms. What a plain table of one entry per (edge, op) misses,
//! found in HW-NAS-Bench's measurements:
//! - **dead branches**: an op whose result cannot reach the cell output (its target node feeds only
//!   `none` edges) is removed by the deployment framework on some devices (edge GPU, Edge TPU) and
//!   costs nothing there; on others it runs.
//! - **zero inputs**: an op that reads a node with no live input (all its edges are `none`) sees a
//!   constant; the Edge TPU compiler folds it away too.
//! - **a cell that outputs zeros** makes the whole network constant: it is priced by its own term.
//! - **sums and fusion**: the cost of a node depends on how many inputs it sums (one add per extra
//!   input, or a fused add), and pairs of ops that execute together share or fuse kernels, so the
//!   model can add one term per pair of live edges and their ops.
//!
//! [`Pruning`] names the execution rule; the fit picks it (and whether to use the pair terms) per
//! device by validation on the training rows.

use serde::{Deserialize, Serialize};

use nas_core::Genotype;
use nas_spaces::nb201::{EDGES, NONE};

/// Which ops the deployed network executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pruning {
    /// Every op that is not `none` runs.
    Nothing,
    /// Ops whose result cannot reach the cell output are removed.
    DeadOutputs,
    /// Also ops that only read a node with no live input (a constant) are removed.
    DeadAndConstant,
}

impl Pruning {
    /// Every rule, from the least to the most pruning.
    pub const ALL: [Pruning; 3] = [Pruning::Nothing, Pruning::DeadOutputs, Pruning::DeadAndConstant];

    /// The rule in words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Pruning::Nothing => "every op that is not none runs",
            Pruning::DeadOutputs => "ops that cannot reach the output are skipped",
            Pruning::DeadAndConstant => "ops that cannot reach the output or read only constants are skipped",
        }
    }
}

/// Liveness of the cell's nodes: `computed[j]` (node j depends on the cell input) and `used[j]`
/// (node j reaches the cell output through ops that are not `none`).
pub fn liveness(g: &Genotype) -> ([bool; 4], [bool; 4]) {
    let mut computed = [true, false, false, false];
    for j in 1..4 {
        computed[j] = EDGES.iter().zip(&g.0).any(|(&(a, b), &op)| b == j && op != NONE && computed[a]);
    }
    let mut used = [false, false, false, true];
    for i in (0..3).rev() {
        used[i] = EDGES.iter().zip(&g.0).any(|(&(a, b), &op)| a == i && op != NONE && used[b]);
    }
    (computed, used)
}

/// Which of the six edges execute under `pruning`.
pub fn executed_edges(g: &Genotype, pruning: Pruning) -> [bool; 6] {
    let (computed, used) = liveness(g);
    let mut out = [false; 6];
    for (e, (&(a, b), &op)) in EDGES.iter().zip(&g.0).enumerate() {
        out[e] = op != NONE
            && match pruning {
                Pruning::Nothing => true,
                Pruning::DeadOutputs => used[b],
                Pruning::DeadAndConstant => used[b] && computed[a],
            };
    }
    out
}

/// Number of features of [`features`].
pub fn feature_count(pairs: bool) -> usize {
    2 + 30 + 9 + 4 + if pairs { 15 * 16 } else { 0 }
}

/// Human-readable names of the features, in order.
pub fn feature_names(pairs: bool) -> Vec<String> {
    let ops = nas_spaces::nb201::OPS;
    let mut v = vec!["intercept".to_string(), "constant_output".to_string()];
    for (a, b) in EDGES {
        for op in ops {
            v.push(format!("edge{b}<-{a}:{op}"));
        }
    }
    for j in 1..4 {
        for k in [0, 2, 3] {
            v.push(format!("node{j}:{k}_inputs"));
        }
    }
    v.extend(["node1:computed", "node2:computed", "node1:used", "node2:used"].map(String::from));
    if pairs {
        for x in 0..6 {
            for y in x + 1..6 {
                for p in &ops[1..] {
                    for q in &ops[1..] {
                        v.push(format!("pair edge{x}:{p} & edge{y}:{q}"));
                    }
                }
            }
        }
    }
    v
}

/// The feature vector of a cell under an execution rule.
pub fn features(g: &Genotype, pruning: Pruning, pairs: bool) -> Vec<f64> {
    let (computed, used) = liveness(g);
    let run = executed_edges(g, pruning);
    let mut f = Vec::with_capacity(feature_count(pairs));
    f.push(1.0);
    f.push(if computed[3] { 0.0 } else { 1.0 });
    for (e, &op) in g.0.iter().enumerate() {
        for o in 0..5 {
            f.push(if run[e] && op == o { 1.0 } else { 0.0 });
        }
    }
    for j in 1..4 {
        let n = EDGES.iter().enumerate().filter(|(e, (_, b))| *b == j && run[*e]).count();
        for k in [0, 2, 3] {
            f.push(if n == k { 1.0 } else { 0.0 });
        }
    }
    for v in [computed[1], computed[2], used[1], used[2]] {
        f.push(if v { 1.0 } else { 0.0 });
    }
    if pairs {
        for x in 0..6 {
            for y in x + 1..6 {
                let mut block = [0.0; 16];
                if run[x] && run[y] {
                    block[(g.0[x] - 1) * 4 + (g.0[y] - 1)] = 1.0;
                }
                f.extend(block);
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_branches_and_constant_inputs_are_found() {
        // 1 <- 0 conv, everything else none: node 1 never reaches the output.
        let g = Genotype(vec![3, 0, 0, 0, 0, 0]);
        assert_eq!(executed_edges(&g, Pruning::Nothing), [true, false, false, false, false, false]);
        assert_eq!(executed_edges(&g, Pruning::DeadOutputs), [false; 6]);
        // 3 <- 2 conv where node 2 has no live input: it runs unless constants are folded.
        let g = Genotype(vec![0, 0, 0, 0, 0, 3]);
        assert_eq!(executed_edges(&g, Pruning::DeadOutputs), [false, false, false, false, false, true]);
        assert_eq!(executed_edges(&g, Pruning::DeadAndConstant), [false; 6]);
        assert_eq!(features(&g, Pruning::Nothing, true).len(), feature_count(true));
        assert_eq!(feature_names(true).len(), feature_count(true));
    }
}
