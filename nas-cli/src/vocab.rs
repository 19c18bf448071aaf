//! The command line's vocabulary: every closed set is parsed by clap, which lists its possible
//! values in `--help` and refuses others with one line; every flag that appears in several commands
//! means the same there (checked by `tests/help.rs`).

use clap::builder::{PossibleValuesParser, TypedValueParser};
use nas_kernels::Proxy;
use nas_spaces::{Dataset, Epochs, SpaceId, Split};

/// `--space`: the search spaces of `nas_spaces::SpaceId`.
pub fn space() -> impl TypedValueParser<Value = SpaceId> {
    PossibleValuesParser::new(SpaceId::ALL.map(SpaceId::name)).try_map(|s| s.parse::<SpaceId>())
}

/// `--dataset`: the benchmark's datasets.
pub fn dataset() -> impl TypedValueParser<Value = Dataset> {
    PossibleValuesParser::new(Dataset::ALL.map(Dataset::name)).try_map(|s| s.parse::<Dataset>())
}

/// `--metric`: the split an accuracy is measured on.
pub fn split() -> impl TypedValueParser<Value = Split> {
    PossibleValuesParser::new(["train", "valid", "test"]).try_map(|s| s.parse::<Split>())
}

/// `--proxy`: the training-free scores.
pub fn proxy() -> impl TypedValueParser<Value = Proxy> {
    PossibleValuesParser::new(Proxy::ALL.map(Proxy::name)).try_map(|s| Proxy::parse(&s))
}

/// `--hp`: the benchmark's training schedule, 12 or 200 epochs.
pub fn hp() -> impl TypedValueParser<Value = Epochs> {
    PossibleValuesParser::new(["12", "200"]).map(|s| if s == "12" { Epochs::E12 } else { Epochs::E200 })
}

/// The value a command's arguments have when none is given: the defaults of its clap definition, so
/// that a library caller starts from exactly what `nas` does.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = cmd.try_get_matches_from(std::iter::empty::<String>());
    // Every argument of the library's configs has a default or is optional: a missing one is a bug
    // of this crate, caught by the tests that build each default.
    #[allow(clippy::expect_used)]
    let matches = matches.expect("every config argument has a default");
    #[allow(clippy::expect_used)]
    T::from_arg_matches(&matches).expect("defaults parse")
}

/// A command's arguments parsed from `args` (without the command name), as `nas` would.
pub fn parse<T: clap::Args + clap::FromArgMatches>(args: &[&str]) -> anyhow::Result<T> {
    let cmd = T::augment_args(clap::Command::new("nas").no_binary_name(true));
    let matches = cmd.try_get_matches_from(args).map_err(|e| anyhow::anyhow!("{}", e.render().to_string().trim()))?;
    Ok(T::from_arg_matches(&matches)?)
}
