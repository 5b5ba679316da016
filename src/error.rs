//! The library's one error type: every failure a user can meet, and the
//! exit code the command line gives it (2 for bad input, 1 for a failure).

use crate::compress::choices::ChoicesError;
use crate::compress::morph::MorphError;
use crate::compress::CompressError;
use crate::config::ConfigError;
use crate::cosim::CosimError;
use crate::flow::FlowError;
use crate::images::{DecodeError, ImagesError};
use crate::loadport::RouteError;
use crate::network::model::ModelError;
use crate::network::onnx::OnnxError;
use crate::network::tensors::TensorError;
use crate::package::PackageError;
use crate::run::RunError;

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
    Choices(#[from] ChoicesError),
    #[error(transparent)]
    Images(#[from] ImagesError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Cosim(#[from] CosimError),
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Route(#[from] RouteError),
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
            | Error::Choices(_)
            | Error::Decode(_)
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
