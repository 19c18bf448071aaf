//! LayerNAS (Fan et al., 2023): layer-by-layer search under a cost target in O(H * |S| * L)
//! evaluations. While layer `l` is searched, later layers hold a default option; candidates are
//! grouped by cost into H buckets over [cost of the all-default network, target], each bucket keeps
//! its best few; step `l` expands every kept candidate with every option of layer `l`. The answer
//! is the best kept candidate of the last step. Candidates over the target are dropped, which is
//! exact when the default options are the cheapest (as [`LayerNas::cheapest_defaults`] chooses).

use std::collections::HashMap;

use nas_core::{AdditiveCost, Decision, Error, Evaluator, Genotype, Result};

use super::mckp::meets_limit;

/// The parameters of a LayerNAS search.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNas {
    /// H: cost buckets between the all-default cost and the target.
    pub buckets: usize,
    /// Candidates kept per bucket.
    pub keep_per_bucket: usize,
    /// The option each layer holds before it is searched.
    pub defaults: Vec<usize>,
}

/// What a LayerNAS search found.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNasResult {
    /// The best candidate that meets the target.
    pub best: Genotype,
    /// Its reward.
    pub reward: f64,
    /// Its cost.
    pub cost: f64,
    /// Distinct genotypes evaluated.
    pub evaluations: usize,
}

impl LayerNas {
    /// Checked parameters: at least one bucket, at least one kept per bucket.
    pub fn new(buckets: usize, keep_per_bucket: usize, defaults: Vec<usize>) -> Result<Self> {
        if buckets == 0 || keep_per_bucket == 0 {
            return Err(Error::invalid(
                "layernas",
                format!("{buckets} buckets keeping {keep_per_bucket}: both must be >= 1"),
            ));
        }
        Ok(LayerNas { buckets, keep_per_bucket, defaults })
    }

    /// Defaults = each layer's cheapest option under an additive cost.
    pub fn cheapest_defaults(cost: &AdditiveCost) -> Vec<usize> {
        cost.entries
            .iter()
            .map(|r| r.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(j, _)| j))
            .collect()
    }

    /// Searches `decisions` for the highest reward with `cost(g) <= target`.
    pub fn run(
        &self,
        decisions: &[Decision],
        reward: &dyn Evaluator,
        cost: &dyn Fn(&Genotype) -> Result<f64>,
        target: f64,
    ) -> Result<LayerNasResult> {
        if !target.is_finite() || target < 0.0 {
            return Err(Error::invalid("cost target", format!("{target}: must be a finite number >= 0")));
        }
        let start = Genotype(self.defaults.clone());
        nas_core::genotype::validate(decisions, &start)
            .map_err(|e| Error::invalid("layernas defaults", e.to_string()))?;
        let low = cost(&start)?;
        if !meets_limit(low, target) {
            return Err(Error::Infeasible(format!(
                "the cheapest network (every layer at its default) costs {low:.6}, above the target {target}"
            )));
        }
        let width = (target - low).max(0.0) / self.buckets as f64;
        let bucket_of = |c: f64| if width > 0.0 { (((c - low) / width) as usize).min(self.buckets - 1) } else { 0 };
        let mut seen: HashMap<Genotype, (f64, f64)> = HashMap::new();
        let mut evaluate = |g: &Genotype| -> Result<(f64, f64)> {
            if let Some(v) = seen.get(g) {
                return Ok(*v);
            }
            let r = reward.evaluate(g)?.fitness;
            let c = cost(g)?;
            if !r.is_finite() || !c.is_finite() {
                return Err(Error::Numerical(format!("reward {r}, cost {c} for {g}")));
            }
            seen.insert(g.clone(), (r, c));
            Ok((r, c))
        };
        let mut kept: Vec<(Genotype, f64, f64)> = vec![{
            let (r, c) = evaluate(&start)?;
            (start.clone(), r, c)
        }];
        for (l, d) in decisions.iter().enumerate() {
            let mut buckets: Vec<Vec<(Genotype, f64, f64)>> = vec![Vec::new(); self.buckets];
            for (parent, _, _) in &kept {
                for j in 0..d.choices.len() {
                    let mut g = parent.clone();
                    g.0[l] = j;
                    let (r, c) = evaluate(&g)?;
                    if !meets_limit(c, target) {
                        continue;
                    }
                    let b = &mut buckets[bucket_of(c)];
                    if b.iter().any(|(h, _, _)| *h == g) {
                        continue;
                    }
                    b.push((g, r, c));
                    b.sort_by(|x, y| y.1.total_cmp(&x.1));
                    b.truncate(self.keep_per_bucket);
                }
            }
            kept = buckets.into_iter().flatten().collect();
        }
        let evaluations = seen.len();
        kept.into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(best, reward, cost)| LayerNasResult { best, reward, cost, evaluations })
            .ok_or_else(|| Error::Infeasible(format!("no candidate met the target {target}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::Evaluation;

    struct Sum;
    impl Evaluator for Sum {
        fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
            Ok(Evaluation { fitness: g.0.iter().map(|&v| (v * v) as f64).sum(), cost_seconds: 0.0 })
        }
    }

    #[test]
    fn finds_the_best_under_the_target_with_few_evaluations() {
        let d: Vec<Decision> = (0..5).map(|i| Decision::new(format!("l{i}"), &["a", "b", "c", "d"])).collect();
        let cost = AdditiveCost::new("c", "u", 0.0, vec![vec![0.0, 1.0, 2.0, 3.0]; 5]).unwrap();
        let nas = LayerNas::new(20, 2, LayerNas::cheapest_defaults(&cost)).unwrap();
        let r = nas.run(&d, &Sum, &|g| cost.cost(g), 6.0).unwrap();
        // Best under cost 6 with reward sum v^2: two 3s (18).
        assert_eq!(r.reward, 18.0);
        assert!(r.cost <= 6.0);
        assert!(r.evaluations < 4usize.pow(5), "{}", r.evaluations);
        assert!(nas.run(&d, &Sum, &|g| cost.cost(g), f64::NAN).is_err());
        assert!(LayerNas::new(0, 1, vec![]).is_err());
    }
}
