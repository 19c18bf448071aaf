//! Exact counts as additive tables, the form MathNAS and LayerNAS limit: `base` = the count of the
//! all-option-0 network, `entries[i][j]` = what setting decision `i` to option `j` (others at 0)
//! adds. This is exact whenever the count is additive over decisions, which holds for spaces whose
//! layer geometry does not depend on the choices: NB201 (cells of fixed shape) and FBNet (a fixed
//! stage layout: each layer's input and output channels, stride and spatial size are set by its
//! position, and `skip` at a stage's first layer is a fixed 1x1 conv). The tests check it on random
//! architectures.

use nas_core::{AdditiveCost, Genotype, Network, Result, SearchSpace};

/// A count of a network as a table by probing one decision at a time around the all-0 network.
/// `measure` gives the network's count in the table's unit.
pub fn probe_table(
    space: &dyn SearchSpace,
    name: &str,
    unit: &str,
    measure: &dyn Fn(&Network) -> f64,
) -> Result<AdditiveCost> {
    let decisions = space.decisions();
    let zero = Genotype(vec![0; decisions.len()]);
    let base = measure(&space.to_network(&zero)?);
    let mut entries = Vec::with_capacity(decisions.len());
    for (i, d) in decisions.iter().enumerate() {
        let mut row = Vec::with_capacity(d.choices.len());
        for j in 0..d.choices.len() {
            let mut g = zero.clone();
            g.0[i] = j;
            row.push(if j == 0 { 0.0 } else { measure(&space.to_network(&g)?) - base });
        }
        entries.push(row);
    }
    AdditiveCost::new(name, unit, base, entries)
}

/// FLOPs (`nas_core::count` conventions) in millions, as an additive table named `flops`.
pub fn flops_table(space: &dyn SearchSpace) -> Result<AdditiveCost> {
    probe_table(space, "flops", "MFLOPs", &|n| n.counts().flops as f64 / 1e6)
}

/// Parameters as an additive table named `params`.
pub fn params_table(space: &dyn SearchSpace) -> Result<AdditiveCost> {
    probe_table(space, "params", "parameters", &|n| n.counts().params as f64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nas_spaces::{FbnetSpace, Nb201Space};
    use rand::SeedableRng;

    /// Integer tables (no rounding anywhere): base + sum of entries equals the IR's exact count.
    fn check_additive(space: &dyn SearchSpace, samples: usize) {
        let m = space.decisions().len();
        let counts = |g: &Genotype| {
            let c = space.to_network(g).unwrap().counts();
            (c.flops as i128, c.params as i128)
        };
        let zero = Genotype(vec![0; m]);
        let base = counts(&zero);
        let entries: Vec<Vec<(i128, i128)>> = space
            .decisions()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (0..d.choices.len())
                    .map(|j| {
                        let mut g = zero.clone();
                        g.0[i] = j;
                        let c = counts(&g);
                        (c.0 - base.0, c.1 - base.1)
                    })
                    .collect()
            })
            .collect();
        let flops = flops_table(space).unwrap();
        let params = params_table(space).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..samples {
            let g = space.sample(&mut rng);
            let sum = g.0.iter().zip(&entries).fold(base, |(f, p), (&j, r)| (f + r[j].0, p + r[j].1));
            let exact = counts(&g);
            assert_eq!(sum, exact, "{}", space.format(&g));
            let mflops = exact.0 as f64 / 1e6;
            assert!((flops.cost(&g).unwrap() - mflops).abs() < 1e-9 * mflops, "{}", space.format(&g));
            assert!((params.cost(&g).unwrap() - exact.1 as f64).abs() < 1e-6, "{}", space.format(&g));
        }
    }

    #[test]
    fn fbnet_flops_and_params_are_exactly_additive() {
        let space = FbnetSpace::default();
        check_additive(&space, 200);
        let t = flops_table(&space).unwrap();
        assert_eq!((t.entries.len(), t.entries[0].len()), (22, 9));
        assert!(t.entries.iter().all(|r| r[0] == 0.0));
    }

    #[test]
    fn nb201_flops_are_exactly_additive() {
        check_additive(&Nb201Space::default(), 300);
    }
}
