//! Every command's `--help` lists every flag with a help text, and a flag name means one thing in
//! every command: the first sentence of its help is the same wherever it appears.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

mod common;

/// A command's path and its flags with their help texts.
type Walked = (Vec<String>, Vec<(String, String)>);

/// The `nas` command tree, rebuilt from its help output.
fn walk(path: Vec<String>, out: &mut Vec<Walked>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let o = common::nas(&args);
    assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
    let text = common::stdout(&o);
    let mut flags = Vec::new();
    let mut subcommands = Vec::new();
    let mut section = "";
    let mut last: Option<usize> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = if line.starts_with("Commands") {
                "commands"
            } else if line.starts_with("Options") || line.starts_with("Arguments") {
                "options"
            } else {
                ""
            };
            last = None;
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match section {
            "commands" => {
                let name = t.split_whitespace().next().unwrap().to_string();
                if name != "help" {
                    subcommands.push(name);
                }
            }
            "options" if line.starts_with("  -") || line.starts_with("  <") || line.starts_with("  [") => {
                let (flag, help) = match t.split_once("  ") {
                    Some((f, h)) => (f.trim().to_string(), h.trim().to_string()),
                    None => (t.to_string(), String::new()),
                };
                let name = flag
                    .split([',', ' ', '='])
                    .map(str::trim)
                    .find(|w| w.starts_with("--") || w.starts_with('<'))
                    .unwrap_or(&flag)
                    .to_string();
                flags.push((name, help));
                last = Some(flags.len() - 1);
            }
            "options" => {
                // A help text that starts on the next line, or continues there.
                if let Some(i) = last {
                    let h = &mut flags[i].1;
                    if !h.is_empty() {
                        h.push(' ');
                    }
                    h.push_str(t);
                }
            }
            _ => {}
        }
    }
    out.push((path.clone(), flags));
    for s in subcommands {
        let mut p = path.clone();
        p.push(s);
        walk(p, out);
    }
}

fn first_sentence(help: &str) -> String {
    let h = help.split(" [default").next().unwrap_or(help).split(" [possible").next().unwrap_or(help);
    h.split(". ").next().unwrap_or(h).trim_end_matches('.').trim().to_string()
}

#[test]
fn every_flag_has_help_and_one_meaning() {
    let mut commands = Vec::new();
    walk(Vec::new(), &mut commands);
    assert!(commands.len() >= 15, "walked only {} commands", commands.len());
    let mut meanings: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (path, flags) in &commands {
        for (flag, help) in flags {
            assert!(!help.is_empty(), "nas {} {flag} has no help text", path.join(" "));
            if flag.starts_with("--") && !["--help", "--version"].contains(&flag.as_str()) {
                meanings.entry(flag.clone()).or_default().entry(first_sentence(help)).or_default().push(path.join(" "));
            }
        }
    }
    // A flag of one name reads the same in every command, except where the sentence names the one
    // space or table it applies to.
    let mut clashes = Vec::new();
    for (flag, senses) in &meanings {
        if senses.len() > 1 {
            clashes.push(format!("{flag}: {senses:?}"));
        }
    }
    assert!(clashes.is_empty(), "flags with several meanings:\n{}", clashes.join("\n"));
}

#[test]
fn library_configs_start_from_the_command_lines_defaults() {
    let search: nas_cli::search::SearchConfig = nas_cli::vocab::defaults();
    assert_eq!(search.strategy, nas_cli::search::Strategy::Rea);
    assert_eq!(search.budget_seconds, 12_000.0);
    let score: nas_cli::score::ScoreConfig = nas_cli::vocab::defaults();
    assert_eq!(score.scoring.source.batch, 128);
    let m: nas_cli::mathnas::MathNasConfig = nas_cli::vocab::defaults();
    assert_eq!(m.device, "edgegpu");
    let l: nas_cli::mathnas::LayerNasConfig = nas_cli::vocab::defaults();
    assert_eq!(l.buckets, 100);
}
