//! `nas export`: an architecture's network with its weights (trained, from a `nas train`
//! checkpoint, or the initial ones of a seed) as ONNX (`nas_kernels::onnx`) and safetensors, and a
//! reference input and output of the project's own forward pass to check the ONNX file against
//! (`scripts/check_onnx.py` runs it in onnxruntime).

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use nas_core::SearchSpace;
use nas_kernels::cpu::CpuNet;
use nas_kernels::{onnx, train};
use nas_spaces::nb201::{Nb201Config, Nb201Space};
use nas_spaces::{DataDir, SpaceId};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::vocab;

/// `nas export`: which network, which weights, which files.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ExportConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The architecture. NB201: official string, 6-digit ops code or table index.
    #[arg(long)]
    pub arch: String,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 5)]
    pub cells: usize,
    /// The trained weights: a `nas train --checkpoint` file of the same architecture, C and N
    /// (default: the initial weights of --seed).
    #[arg(long, value_name = "CHECKPOINT")]
    pub weights: Option<PathBuf>,
    /// Seed of every random choice of the command. Here: the initial weights without --weights, and
    /// the reference input.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the network as an ONNX model (opset 17, inference mode, dynamic batch).
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
    /// Write the weights and running statistics as a safetensors file.
    #[arg(long, value_name = "FILE")]
    pub safetensors: Option<PathBuf>,
    /// Write a reference for checking the export: a safetensors file with a seeded standard-normal
    /// `input` and the `logits` of the project's own eval-mode forward pass.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Images in the reference input.
    #[arg(long, default_value_t = 4)]
    pub reference_batch: usize,
}

/// The report of `nas export`.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    /// The architecture, official string.
    pub arch: String,
    /// Channels of the first stage (C).
    #[serde(rename = "C")]
    pub channels: usize,
    /// Cells per stage (N).
    #[serde(rename = "N")]
    pub cells: usize,
    /// Trainable parameters.
    pub params: u64,
    /// Where the weights came from.
    pub weights: String,
    /// The ONNX file and its opset.
    pub onnx: Option<String>,
    /// The ONNX opset.
    pub opset: i64,
    /// The ONNX file's size in bytes.
    pub onnx_bytes: Option<usize>,
    /// The safetensors file.
    pub safetensors: Option<String>,
    /// The reference file.
    pub reference: Option<String>,
}

/// Builds the network, loads its weights and writes the files asked for.
pub fn run(config: &ExportConfig, data: &DataDir) -> anyhow::Result<ExportReport> {
    config.space.require("export", &[SpaceId::Nb201])?;
    if config.onnx.is_none() && config.safetensors.is_none() && config.reference.is_none() {
        bail!("nothing to export: give --onnx FILE, --safetensors FILE or --reference FILE");
    }
    if config.channels == 0 || config.cells == 0 {
        bail!("invalid --C {} --N {}: both must be at least 1", config.channels, config.cells);
    }
    if config.reference_batch == 0 {
        bail!("invalid --reference-batch 0: at least one image");
    }
    let space_config = Nb201Config {
        channels: config.channels,
        cells_per_stage: config.cells,
        ..Nb201Config::for_dataset("cifar10")?
    };
    let space = Nb201Space::new(space_config);
    let genotype = SpaceId::Nb201.parse_arch(&config.arch, data)?;
    let network = space.to_network(&genotype)?;
    let mut net = CpuNet::new(&network, config.seed)?;
    let weights = match &config.weights {
        Some(path) => {
            train::load_weights(&mut net, path)?;
            path.display().to_string()
        }
        None => format!("initial (seed {})", config.seed),
    };
    net.set_eval(true);
    if let Some(path) = &config.onnx {
        let bytes = onnx::to_onnx(&net, "nas-rs")?;
        nas_core::fsio::write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &config.safetensors {
        train::save_safetensors(&net, path)?;
    }
    if let Some(path) = &config.reference {
        let shape = space_config.input;
        let n = config.reference_batch;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        // Standard normal by Box-Muller.
        let mut normal = || {
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        };
        let input: Vec<f32> = (0..n * shape.c * shape.h * shape.w).map(|_| normal()).collect();
        let out = net.forward(&input, n, &mut |_, _| Ok(()))?;
        let classes = out.data.len() / n;
        train::write_safetensors(
            path,
            &[
                ("input".into(), vec![n, shape.c, shape.h, shape.w], &input),
                ("logits".into(), vec![n, classes], &out.data),
            ],
        )?;
    }
    let shown = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Ok(ExportReport {
        arch: space.format(&genotype),
        channels: config.channels,
        cells: config.cells,
        params: network.counts().params,
        weights,
        onnx_bytes: config.onnx.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len() as usize),
        onnx: shown(&config.onnx),
        opset: onnx::OPSET,
        safetensors: shown(&config.safetensors),
        reference: shown(&config.reference),
    })
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} (C={}, N={}, {} parameters), weights: {}",
            self.arch, self.channels, self.cells, self.params, self.weights
        )?;
        if let (Some(p), Some(b)) = (&self.onnx, self.onnx_bytes) {
            writeln!(f, "ONNX (opset {}): {p} ({b} bytes)", self.opset)?;
        }
        if let Some(p) = &self.safetensors {
            writeln!(f, "safetensors: {p}")?;
        }
        if let Some(p) = &self.reference {
            writeln!(f, "reference input and logits: {p} (check: scripts/check_onnx.py ONNX {p})")?;
        }
        Ok(())
    }
}
