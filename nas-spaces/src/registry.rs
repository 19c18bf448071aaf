//! The one registry of the toolkit's search spaces: a typed identifier that yields the space, reads
//! its architectures in every form the toolkit accepts, and says which commands run on it.

use nas_core::{Error, Genotype, Result, SearchSpace};
use serde::{Deserialize, Serialize};

use crate::data::DataDir;
use crate::fbnet::FbnetSpace;
use crate::nb201::Nb201Space;
use crate::nb201_table::Nb201Table;

/// A search space known by name (a user's CSV table is given as a file instead, see
/// [`crate::UserTable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceId {
    /// NAS-Bench-201: 15,625 cells of six edges, five operations each, with a benchmark table.
    Nb201,
    /// FBNet as HW-NAS-Bench uses it: 22 layers of nine blocks, with measured latencies (HELP).
    Fbnet,
}

impl SpaceId {
    /// Every named space.
    pub const ALL: [SpaceId; 2] = [SpaceId::Nb201, SpaceId::Fbnet];

    /// The name the command line and saved files use.
    pub fn name(self) -> &'static str {
        match self {
            SpaceId::Nb201 => "nb201",
            SpaceId::Fbnet => "fbnet",
        }
    }

    /// The space with its default network (CIFAR-10 NB201, CIFAR-100 FBNet).
    pub fn space(self) -> Box<dyn SearchSpace> {
        match self {
            SpaceId::Nb201 => Box::new(Nb201Space::default()),
            SpaceId::Fbnet => Box::new(FbnetSpace::default()),
        }
    }

    /// What an architecture of this space may be written as, for error messages.
    pub fn arch_forms(self) -> &'static str {
        match self {
            SpaceId::Nb201 => "an official string (|op~0|+|op~0|op~1|+|...|), a 6-digit ops code or a table index",
            SpaceId::Fbnet => "an arch_str (['k3_e1', ...]) or an op_idx_list (22 block indices)",
        }
    }

    /// Reads one architecture in any of the space's forms. NB201: the official string, the 6-digit
    /// ops code (`333132`) or a row index of the benchmark table (`6111`, read from `data`); FBNet:
    /// HELP's `arch_str` or `op_idx_list`.
    pub fn parse_arch(self, arch: &str, data: &DataDir) -> Result<Genotype> {
        let arch = arch.trim();
        match self {
            SpaceId::Fbnet => FbnetSpace::default().parse(arch),
            SpaceId::Nb201 => {
                if arch.contains('|') || arch.contains('~') || arch.is_empty() {
                    return Nb201Space::default().parse(arch);
                }
                if arch.len() == 6 && arch.bytes().all(|b| b.is_ascii_digit()) {
                    return Nb201Space::parse_ops_code(arch);
                }
                let idx: usize = arch.parse().map_err(|_| {
                    Error::parse(arch, format!("not an NB201 architecture: expected {}", self.arch_forms()))
                })?;
                let table = Nb201Table::load(data)?;
                table
                    .genotype(idx)
                    .cloned()
                    .ok_or_else(|| Error::invalid("table index", format!("{idx} is out of range 0..{}", table.len())))
            }
        }
    }

    /// The space an architecture string belongs to, judged from its form: FBNet's `arch_str` is a
    /// list (`['k3_e1', ...]`) and its `op_idx_list` several numbers separated by spaces; everything
    /// else is read as NB201.
    pub fn of_arch(arch: &str) -> SpaceId {
        let a = arch.trim();
        let idx_list = a.split_whitespace().count() > 1 && a.split_whitespace().all(|t| t.parse::<usize>().is_ok());
        if a.starts_with('[') || idx_list { SpaceId::Fbnet } else { SpaceId::Nb201 }
    }

    /// `Ok` when `self` is among the spaces `command` runs on, else one line naming them.
    pub fn require(self, command: &str, accepted: &[SpaceId]) -> Result<()> {
        if accepted.contains(&self) {
            return Ok(());
        }
        let names: Vec<&str> = accepted.iter().map(|s| s.name()).collect();
        Err(Error::invalid("--space", format!("{command} runs on {}, not {}", names.join(" or "), self.name())))
    }
}

impl std::fmt::Display for SpaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SpaceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nb201" | "nas-bench-201" | "nats-tss" => Ok(SpaceId::Nb201),
            "fbnet" => Ok(SpaceId::Fbnet),
            other => Err(Error::invalid("space", format!("unknown space {other:?}; available: nb201, fbnet"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for id in SpaceId::ALL {
            assert_eq!(id.name().parse::<SpaceId>().ok(), Some(id));
            assert_eq!(id.space().name(), id.name());
        }
        let e = "darts".parse::<SpaceId>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("darts") && e.contains("nb201, fbnet"), "{e}");
    }

    #[test]
    fn every_nb201_form_reads_the_same_architecture() {
        let data = DataDir::resolve(None);
        let by_string = SpaceId::Nb201.parse_arch(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
            &data,
        );
        let by_code = SpaceId::Nb201.parse_arch("333132", &data);
        assert_eq!(by_string.ok(), by_code.ok());
        assert_eq!(SpaceId::of_arch("6111"), SpaceId::Nb201);
        assert_eq!(SpaceId::of_arch("333132"), SpaceId::Nb201);
        assert_eq!(SpaceId::of_arch("0 1 2"), SpaceId::Fbnet);
        assert_eq!(SpaceId::of_arch("['k3_e1', 'skip']"), SpaceId::Fbnet);
        assert_eq!(SpaceId::of_arch("hello"), SpaceId::Nb201);
        let e = SpaceId::Nb201.parse_arch("abc", &data).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("abc") && e.contains("ops code"), "{e}");
    }

    #[test]
    fn require_names_the_accepted_spaces() {
        assert!(SpaceId::Nb201.require("nas search", &[SpaceId::Nb201]).is_ok());
        let e = SpaceId::Fbnet.require("nas search", &[SpaceId::Nb201]).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("invalid --space: nas search runs on nb201, not fbnet"));
    }
}
