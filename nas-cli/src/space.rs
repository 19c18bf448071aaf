//! `nas space info`: size, decisions and network of a search space.

use std::fmt;

use clap::Args;
use nas_spaces::{Nb201Space, SpaceId};
use serde::Serialize;

use crate::vocab;

/// `nas space info`: which space.
#[derive(Clone, Debug, Args, Serialize)]
pub struct SpaceConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The space given positionally (the older spelling of --space).
    #[arg(value_name = "SPACE", value_parser = vocab::space(), hide = true)]
    #[serde(skip)]
    pub positional: Option<SpaceId>,
}

/// One decision of a space: its name and choices.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionInfo {
    /// The decision's name.
    pub name: String,
    /// The decision's options.
    pub choices: Vec<String>,
}

/// The report of `nas space info`.
#[derive(Clone, Debug, Serialize)]
pub struct SpaceReport {
    /// The search space.
    pub space: SpaceId,
    /// Number of architectures.
    pub size: u128,
    /// The space's decisions.
    pub decisions: Vec<DecisionInfo>,
    /// The network the architectures lower to, in words.
    pub network: String,
    /// Classes of the benchmark's isomorphism rule (NB201 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isomorphism_classes: Option<usize>,
}

/// Describes a space.
pub fn info(config: &SpaceConfig) -> SpaceReport {
    let id = config.positional.unwrap_or(config.space);
    let space = id.space();
    let decisions = space
        .decisions()
        .iter()
        .map(|d| DecisionInfo { name: d.name.clone(), choices: d.choices.iter().map(|c| c.to_string()).collect() })
        .collect();
    let (network, isomorphism_classes) = match id {
        SpaceId::Nb201 => {
            let s = Nb201Space::default();
            let cfg = s.config();
            let classes = s.enumerate().map(|g| Nb201Space::iso_key(&g)).collect::<std::collections::HashSet<_>>();
            (
                format!(
                    "C={} N={} cells per stage, {} classes, input {}",
                    cfg.channels, cfg.cells_per_stage, cfg.num_classes, cfg.input
                ),
                Some(classes.len()),
            )
        }
        SpaceId::Fbnet => (
            format!(
                "{} searchable layers of {} blocks, 100 classes, input 3x32x32 (HW-NAS-Bench CIFAR-100)",
                nas_spaces::fbnet::LAYERS,
                nas_spaces::fbnet::BLOCKS.len()
            ),
            None,
        ),
    };
    SpaceReport { space: id, size: space.size(), decisions, network, isomorphism_classes }
}

impl fmt::Display for SpaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "space        {}", self.space)?;
        match self.isomorphism_classes {
            Some(c) => writeln!(f, "size         {} architectures ({c} isomorphism classes)", self.size)?,
            None => writeln!(f, "size         {} architectures", self.size)?,
        }
        writeln!(f, "network      {}", self.network)?;
        writeln!(f, "decisions    {}", self.decisions.len())?;
        for d in &self.decisions {
            writeln!(f, "  {:<10} {}", d.name, d.choices.join(" | "))?;
        }
        Ok(())
    }
}
