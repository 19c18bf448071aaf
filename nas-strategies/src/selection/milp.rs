//! The MathNAS selection as a mixed-integer program on good_lp, solved with microlp (pure Rust, so
//! the default build needs no native library): binaries `x[i][j]`, `sum_j x[i][j] = 1` per
//! position, `base_k + sum c_k[i][j] x[i][j] <= limit_k` per limit, `x[i][nb_i] <= x[i+1][nb_{i+1}]`
//! for variable depth, maximise `sum v[i][j] x[i][j]`. The general path for models the exact
//! solver ([`super::mckp::solve`]) does not cover, and its cross-check in tests.

use good_lp::{Expression, ProblemVariables, ResolutionError, Solution, SolverModel, constraint, microlp, variable};
use nas_core::{Error, Result};

use super::mckp::{MckpProblem, MckpSolution, tolerance};

/// Solves the selection with good_lp's microlp. Errors with [`Error::Infeasible`] when no choice
/// meets the limits.
pub fn solve_milp(p: &MckpProblem) -> Result<MckpSolution> {
    let mut vars = ProblemVariables::new();
    let x: Vec<Vec<good_lp::Variable>> =
        p.values.iter().map(|row| row.iter().map(|_| vars.add(variable().binary())).collect()).collect();
    let mut objective = Expression::from(0.0);
    for (row, xs) in p.values.iter().zip(&x) {
        for (v, xv) in row.iter().zip(xs) {
            objective += *v * *xv;
        }
    }
    let mut model = vars.maximise(objective).using(microlp);
    for xs in &x {
        let sum: Expression = xs.iter().copied().sum();
        model = model.with(constraint!(sum == 1.0));
    }
    for (cost, &limit) in p.costs.iter().zip(&p.limits) {
        let mut used = Expression::from(cost.base);
        for (row, xs) in cost.entries.iter().zip(&x) {
            for (c, xv) in row.iter().zip(xs) {
                used += *c * *xv;
            }
        }
        // The same feasible set as the exact solver's: the limit plus the one tolerance.
        model = model.with(constraint!(used <= limit + tolerance(limit)));
    }
    for i in 0..p.positions().saturating_sub(1) {
        if let (Some(a), Some(b)) = (p.no_block[i], p.no_block[i + 1]) {
            model = model.with(constraint!(x[i][a] <= x[i + 1][b]));
        }
    }
    let solution = match model.solve() {
        Ok(s) => s,
        Err(ResolutionError::Infeasible) => return Err(p.infeasible()),
        Err(e) => return Err(Error::Numerical(format!("microlp: {e}"))),
    };
    let choice: Vec<usize> = x
        .iter()
        .map(|xs| {
            xs.iter()
                .enumerate()
                .max_by(|a, b| solution.value(*a.1).total_cmp(&solution.value(*b.1)))
                .map_or(0, |(j, _)| j)
        })
        .collect();
    if !p.is_feasible(&choice) {
        return Err(Error::Numerical(format!(
            "microlp's rounded answer {choice:?} costs {:?}, over the limits {:?}",
            p.costs_of(&choice),
            p.limits
        )));
    }
    Ok(MckpSolution {
        value: p.value(&choice),
        costs: p.costs_of(&choice),
        choice: nas_core::Genotype(choice),
        nodes: 0,
    })
}
