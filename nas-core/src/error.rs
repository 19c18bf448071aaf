//! The one error type of the toolkit's libraries.

use std::path::PathBuf;

/// The underlying error of an [`Error`] (a csv, JSON or tensor-backend error), kept whole so a
/// caller can downcast it and match on its kind.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a library crate of the toolkit.
///
/// Messages are lowercase and name the offending value, so a CLI can print them as they are. Where
/// an underlying error caused it (an io, csv, JSON or candle error), it is kept as the
/// [`source`](std::error::Error::source) and its text is also part of the message, so printing
/// the message alone loses nothing: a printer of the whole chain skips a source whose text the
/// message already holds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user string (an architecture, a genotype, a name) could not be parsed.
    #[error("cannot parse {input:?}: {reason}")]
    Parse {
        /// The string (or a description of the data) that did not parse.
        input: String,
        /// What is wrong with it.
        reason: String,
        /// The parser's own error, where one caused it (e.g. `serde_json::Error`).
        #[source]
        source: Option<Source>,
    },

    /// A genotype does not fit its decision space.
    #[error("invalid genotype: {0}")]
    InvalidGenotype(String),

    /// A network graph is malformed: shapes that do not fit, a missing input, a cycle.
    #[error("invalid graph at node {node:?}: {reason}")]
    Graph {
        /// The node's name.
        node: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file could not be read or written (or is missing: kind [`std::io::ErrorKind::NotFound`]).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error (its kind and OS code kept).
        #[source]
        source: std::io::Error,
    },

    /// A data file was read but its content is wrong (missing column, bad value).
    #[error("{path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Data {
        /// The file.
        path: PathBuf,
        /// The line (1 = the header), where known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
        /// The reader's own error, where one caused it (e.g. `csv::Error`, `serde_json::Error`).
        #[source]
        source: Option<Source>,
    },

    /// A value the user chose is out of range or unknown.
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// What the value is for, e.g. `batch`.
        what: String,
        /// What is wrong with it.
        message: String,
    },

    /// A computation produced a value it must not (NaN, infinity where not allowed).
    #[error("numerical error: {0}")]
    Numerical(String),

    /// The tensor backend (candle, CUDA) failed while running a network or kernel.
    #[error("tensor backend: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's own error (e.g. `candle_core::Error`, `cudarc::driver::DriverError`).
        #[source]
        source: Option<Source>,
    },

    /// The requested feature or device is not available in this build or on this machine.
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// No solution meets the limits (a selection under hardware budgets); the message says what the
    /// cheapest solution costs.
    #[error("infeasible: {0}")]
    Infeasible(String),

    /// The user asked the run to stop (SIGINT); the message says what was saved.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// Shorthand for [`Error::Parse`] (no source; add one with [`Error::with_source`]).
    pub fn parse(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Parse { input: input.into(), reason: reason.into(), source: None }
    }

    /// Shorthand for [`Error::Data`] (no source; add one with [`Error::with_source`]).
    pub fn data(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> Self {
        Error::Data { path: path.into(), line, message: message.into(), source: None }
    }

    /// [`Error::Backend`] from the backend's error: its text is the message, the error the source.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend { message: err.to_string(), source: Some(Box::new(err)) }
    }

    /// [`Error::Backend`] with a message and no source.
    pub fn backend_message(message: impl Into<String>) -> Self {
        Error::Backend { message: message.into(), source: None }
    }

    /// Sets the source of a [`Error::Parse`], [`Error::Data`] or [`Error::Backend`] (the other
    /// variants have a fixed source or none, and are returned unchanged).
    pub fn with_source(mut self, err: impl Into<Source>) -> Self {
        match &mut self {
            Error::Parse { source, .. } | Error::Data { source, .. } | Error::Backend { source, .. } => {
                *source = Some(err.into());
            }
            _ => {}
        }
        self
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument { what: what.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Io`] from a `std::io::Error`. The source is the same OS error (same
    /// kind, code and text); an error without an OS code keeps its kind and text.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        let source = match err.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(err.kind(), err.to_string()),
        };
        Error::Io { path: path.into(), source }
    }

    /// [`Error::Io`] of kind [`std::io::ErrorKind::NotFound`] for a file that is not there, with
    /// `message` saying where it was looked for.
    pub fn not_found(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Io { path: path.into(), source: std::io::Error::new(std::io::ErrorKind::NotFound, message.into()) }
    }
}

/// `Result` with the toolkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn sources_are_reachable_and_messages_unchanged() {
        let os = std::io::Error::from_raw_os_error(2);
        let e = Error::io("/x/y.csv", &os);
        assert_eq!(e.to_string(), format!("/x/y.csv: {os}"));
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("an io source");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(source.raw_os_error(), Some(2));

        let missing = Error::not_found("/d/f.csv", "missing data file f.csv: looked in /d");
        assert_eq!(missing.to_string(), "/d/f.csv: missing data file f.csv: looked in /d");
        assert!(matches!(&missing, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));

        let inner = Error::parse("x", "bad");
        let outer = Error::data("t.csv", Some(3), inner.to_string()).with_source(inner);
        assert_eq!(outer.to_string(), "t.csv, line 3: cannot parse \"x\": bad");
        let mut chain = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&outer);
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        assert_eq!(chain.len(), 2);
        assert!(
            outer.source().and_then(|s| s.downcast_ref::<Error>()).is_some_and(|e| matches!(e, Error::Parse { .. }))
        );

        assert_eq!(Error::backend_message("oom").to_string(), "tensor backend: oom");
        assert!(Error::backend_message("oom").source().is_none());
        assert!(Error::invalid("a", "b").with_source(Error::parse("c", "d")).source().is_none());
    }
}
