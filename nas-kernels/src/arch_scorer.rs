//! Scores architectures of a search space through the score cache: the one entry point the CLI
//! and score-based search strategies use.

use std::cell::RefCell;
use std::time::Instant;

use nas_core::{Evaluation, Evaluator, Genotype, Network, Result, Scorer, SearchSpace};

use crate::cache::{ScoreCache, ScoreRecord, images_key};
use crate::images::{ImageBatch, random_crops};
use crate::scores::{self, Proxy, score_with_siblings};

/// Inputs for `linear_regions`: this many random crops of the image batch, of the thin space's input size.
pub const LINEAR_REGION_INPUTS: usize = 3000;

/// A computed (or cached) score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The score (higher is better).
    pub score: f64,
    /// Seconds spent computing it; 0 when it came from the cache.
    pub seconds: f64,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Scores genotypes of one space on one image batch with one initialisation seed.
pub struct ArchScorer<'a> {
    space: &'a dyn SearchSpace,
    thin_space: Option<&'a dyn SearchSpace>,
    images: ImageBatch,
    images_key: String,
    crops: ImageBatch,
    crops_key: String,
    seed: u64,
    cache: RefCell<ScoreCache>,
}

impl std::fmt::Debug for ArchScorer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchScorer")
            .field("space", &self.space.name())
            .field("images", &self.images.source)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<'a> ArchScorer<'a> {
    /// `thin_space`, when given, builds the (narrow) networks whose linear regions are counted,
    /// on random crops of its input size; without it the space's own networks are used on the full images.
    pub fn new(
        space: &'a dyn SearchSpace,
        thin_space: Option<&'a dyn SearchSpace>,
        images: ImageBatch,
        seed: u64,
        cache: ScoreCache,
    ) -> Result<Self> {
        let crops = match thin_space.map(|t| t.genotype_at(0).and_then(|g| t.to_network(&g))).transpose()? {
            Some(net) => {
                let size = net.input_id().map_or(images.height, |id| net.node(id).shape.h);
                random_crops(&images, size, LINEAR_REGION_INPUTS, seed)?
            }
            None => images.clone(),
        };
        Ok(ArchScorer {
            space,
            thin_space,
            images_key: images_key(&images),
            crops_key: images_key(&crops),
            images,
            crops,
            seed,
            cache: RefCell::new(cache),
        })
    }

    /// The image batch scores are computed on.
    pub fn images(&self) -> &ImageBatch {
        &self.images
    }

    /// The space whose genotypes are scored.
    pub fn space(&self) -> &dyn SearchSpace {
        self.space
    }

    /// The score of `g`, from the cache when it holds it, else computed and added to the cache.
    pub fn score(&self, g: &Genotype, proxy: Proxy) -> Result<Scored> {
        let arch = self.space.format(g);
        let (images, key) = match proxy {
            Proxy::LinearRegions => (&self.crops, self.crops_key.as_str()),
            p if p.uses_images() => (&self.images, self.images_key.as_str()),
            _ => (&self.images, "none"),
        };
        let batch = if key == "none" { 0 } else { images.len() };
        let space_name = self.space.name();
        if let Some(v) = self.cache.borrow().get(space_name, &arch, proxy.cache_name(), key, batch, self.seed) {
            return Ok(Scored { score: v, seconds: 0.0, cached: true });
        }
        let started = Instant::now();
        let network = match (proxy, self.thin_space) {
            (Proxy::LinearRegions, Some(thin)) => thin.to_network(g)?,
            _ => self.space.to_network(g)?,
        };
        // Proxies computed by the same pass (snip and grad_norm) are cached together.
        let values = score_with_siblings(proxy, &network, images, self.seed)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut mine = None;
        for (p, value) in values {
            self.cache.borrow_mut().insert(&ScoreRecord {
                space: space_name.into(),
                arch: arch.clone(),
                proxy: p.cache_name().into(),
                images: key.into(),
                batch,
                seed: self.seed,
                score: value,
                seconds,
            })?;
            if p == proxy {
                mine = Some(value);
            }
        }
        let score = mine.ok_or_else(|| nas_core::Error::Numerical(format!("{proxy} was not computed")))?;
        Ok(Scored { score, seconds, cached: false })
    }
}

/// A score as a search fitness (no simulated training time is charged).
#[derive(Debug)]
pub struct ScoreEvaluator<'s, 'a> {
    /// The scorer (and its cache) that computes the scores.
    pub scorer: &'s ArchScorer<'a>,
    /// The proxy used as fitness.
    pub proxy: Proxy,
}

impl Evaluator for ScoreEvaluator<'_, '_> {
    fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
        let s = self.scorer.score(g, self.proxy)?;
        Ok(Evaluation { fitness: s.score, cost_seconds: 0.0 })
    }
}

/// The same score of a network given as IR (no genotype, so not cached): the proxy on the
/// scorer's image batch and seed (`linear_regions` on its crops), as [`ArchScorer::score`] computes it.
impl Scorer for ScoreEvaluator<'_, '_> {
    fn name(&self) -> &str {
        self.proxy.name()
    }

    fn score(&self, network: &Network) -> Result<f64> {
        let images = if self.proxy == Proxy::LinearRegions { &self.scorer.crops } else { &self.scorer.images };
        scores::score(self.proxy, network, images, self.scorer.seed)
    }
}

#[cfg(test)]
mod tests {
    use nas_core::{Scorer, Shape};
    use nas_spaces::{Nb201Config, Nb201Space};

    use super::*;
    use crate::cache::ScoreCache;
    use crate::images;

    #[test]
    fn the_scorer_of_a_network_gives_the_evaluator_s_fitness_of_its_genotype() {
        let space = Nb201Space::new(Nb201Config {
            channels: 4,
            cells_per_stage: 1,
            num_classes: 10,
            input: Shape::new(3, 16, 16),
        });
        let batch = images::synthetic(12, 3, 16, 16, 10, 7);
        let scorer = ArchScorer::new(&space, None, batch, 3, ScoreCache::disabled()).unwrap();
        for arch in [
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        ] {
            let g = space.parse(arch).unwrap();
            let net = space.to_network(&g).unwrap();
            for proxy in [Proxy::Naswot, Proxy::Synflow] {
                let eval = ScoreEvaluator { scorer: &scorer, proxy };
                assert_eq!(Scorer::name(&eval), proxy.name());
                assert_eq!(Scorer::score(&eval, &net).unwrap(), eval.evaluate(&g).unwrap().fitness, "{proxy} {arch}");
            }
        }
    }
}
