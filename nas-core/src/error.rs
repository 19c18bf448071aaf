//! The one error type of the toolkit's libraries.

use std::path::PathBuf;

/// Everything that can go wrong in a library crate of the toolkit.
///
/// Messages are lowercase and name the offending value, so a CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user string (an architecture, a genotype, a name) could not be parsed.
    #[error("cannot parse {input:?}: {reason}")]
    Parse { input: String, reason: String },

    /// A genotype does not fit its decision space.
    #[error("invalid genotype: {0}")]
    InvalidGenotype(String),

    /// A network graph is malformed: shapes that do not fit, a missing input, a cycle.
    #[error("invalid graph at node {node:?}: {reason}")]
    Graph { node: String, reason: String },

    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },

    /// A data file was read but its content is wrong (missing column, bad value).
    #[error("{path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Data { path: PathBuf, line: Option<u64>, message: String },

    /// A value the user chose is out of range or unknown.
    #[error("invalid {what}: {message}")]
    InvalidArgument { what: String, message: String },

    /// A computation produced a value it must not (NaN, infinity where not allowed).
    #[error("numerical error: {0}")]
    Numerical(String),

    /// The tensor backend (candle, CUDA) failed while running a network or kernel.
    #[error("tensor backend: {0}")]
    Backend(String),

    /// The requested feature or device is not available in this build or on this machine.
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// No solution meets the limits (a selection under hardware budgets); the message says what the
    /// cheapest solution costs.
    #[error("infeasible: {0}")]
    Infeasible(String),
}

impl Error {
    /// Shorthand for [`Error::Parse`].
    pub fn parse(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Parse { input: input.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument { what: what.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Io`] from a `std::io::Error`.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        Error::Io { path: path.into(), message: err.to_string() }
    }
}

/// `Result` with the toolkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
