//! The library's one error type: every failure a user can meet, and the
//! exit code the command line gives it (2 for bad input, 1 for a failure).

use crate::benes::GroupNotAPermutation;
use crate::compress::images::ImagesError;
use crate::compress::model::ModelError;
use crate::compress::morph::MorphError;
use crate::compress::onnx::OnnxError;
use crate::compress::run::RunError;
use crate::compress::tensors::TensorError;
use crate::compress::CompressError;
use crate::config::ConfigError;
use crate::cosim::CosimError;
use crate::flow::FlowError;
use crate::package::PackageError;

/// A third-party parser's message on one line: errors that quote the
/// offending source (toml, pest) span several lines with carets, and a
/// rejection here is always one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A TOML error as `line L, column C: message`, on one line (the crate's
/// own rendering quotes the source over several lines).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = one_line(e.message());
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return message;
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Tensor(#[from] TensorError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error(transparent)]
    Compress(#[from] CompressError),
    #[error(transparent)]
    Morph(#[from] MorphError),
    #[error(transparent)]
    Images(#[from] ImagesError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Cosim(#[from] CosimError),
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Route(#[from] GroupNotAPermutation),
    /// A command-line argument outside what the command accepts.
    #[error("{0}")]
    Usage(String),
    /// Checks that ran and failed (a regression's failing points).
    #[error("{0}")]
    Failed(String),
}

/// Exit code for bad input: a configuration, file or argument the user can fix.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a failure: a tool, a write, a mismatch, an internal error.
pub const EXIT_FAILURE: u8 = 1;

impl Error {
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            Error::Config(_)
            | Error::Tensor(_)
            | Error::Model(_)
            | Error::Onnx(_)
            | Error::Compress(_)
            | Error::Morph(_)
            | Error::Run(_)
            | Error::Route(_)
            | Error::Usage(_) => true,
            Error::Failed(_) => false,
            Error::Package(e) => matches!(e, PackageError::Config(_)),
            Error::Images(e) => !matches!(e, ImagesError::Write { .. }),
            Error::Cosim(e) => matches!(e, CosimError::Package(_)),
            Error::Flow(e) => e.is_usage(),
        };
        if usage {
            EXIT_USAGE
        } else {
            EXIT_FAILURE
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_exits_2_and_failures_1() {
        let config = Error::from(ConfigError::Read {
            path: "x".into(),
            reason: "missing".into(),
        });
        assert_eq!(config.exit_code(), EXIT_USAGE);
        let check = Error::from(PackageError::Check("bug".into()));
        assert_eq!(check.exit_code(), EXIT_FAILURE);
        let tool = Error::from(CosimError::Tool("verilator failed".into()));
        assert_eq!(tool.exit_code(), EXIT_FAILURE);
        let write = Error::from(ImagesError::Write {
            path: "out".into(),
            reason: "read-only".into(),
        });
        assert_eq!(write.exit_code(), EXIT_FAILURE);
        let read = Error::from(ImagesError::Read {
            path: "in".into(),
            reason: "missing".into(),
        });
        assert_eq!(read.exit_code(), EXIT_USAGE);
    }
}
