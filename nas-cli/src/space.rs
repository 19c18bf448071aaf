//! `nas space ...`

use clap::{Args, Subcommand};
use nas_core::SearchSpace;
use nas_spaces::Nb201Space;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// Size, decisions and network of a space.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The space: nb201.
    space: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: SpaceCommand) -> anyhow::Result<()> {
    let SpaceCommand::Info(args) = cmd;
    let space = space_by_name(&args.space)?;
    let decisions: Vec<_> = space.decisions().iter().map(|d| json!({"name": d.name, "choices": d.choices})).collect();
    let cfg = space.config();
    let classes = space.enumerate().map(|g| Nb201Space::iso_key(&g)).collect::<std::collections::HashSet<_>>().len();
    if args.json {
        return crate::print_json(&json!({
            "space": space.name(),
            "size": space.size() as u64,
            "decisions": decisions,
            "network": cfg,
            "isomorphism_classes": classes,
        }));
    }
    println!("space        {}", space.name());
    println!("size         {} architectures ({classes} isomorphism classes)", space.size());
    println!(
        "network      C={} N={} cells per stage, {} classes, input {}",
        cfg.channels, cfg.cells_per_stage, cfg.num_classes, cfg.input
    );
    println!("decisions    {}", space.decisions().len());
    for d in space.decisions() {
        println!("  {:<10} {}", d.name, d.choices.join(" | "));
    }
    Ok(())
}

/// The space named on the command line.
pub fn space_by_name(name: &str) -> anyhow::Result<Nb201Space> {
    match name {
        "nb201" | "nas-bench-201" => Ok(Nb201Space::default()),
        other => anyhow::bail!("unknown space {other:?}; available: nb201"),
    }
}
