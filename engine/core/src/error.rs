//! Errors of the engine. One enum per phase; every message says what to do next.
//!
//! Every error has a [class](ErrorClass) that says what happened (the user's configuration,
//! input or data said no; a conflict with another writer; the environment's storage; a bug),
//! and the class decides the command-line exit code.

use std::fmt;

mod class;
pub use class::ErrorClass;

/// A problem found in a job spec, schema or environment file, before any data is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file the problem is in (as given by the user).
    pub file: String,
    /// The field path inside the file, e.g. `silver.rules[1].on_fail` (empty for the whole file).
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl SpecError {
    pub fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

fn join_spec_errors(errors: &[SpecError]) -> String {
    let mut out = format!(
        "{} problem(s) in the spec; nothing was read or written:",
        errors.len()
    );
    for e in errors {
        out.push_str("\n  ");
        out.push_str(&e.to_string());
    }
    out
}

/// Every error the engine returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec, schema or environment files are invalid (all problems listed).
    #[error("{}", join_spec_errors(.0))]
    Spec(Vec<SpecError>),

    /// The environment runs only promoted releases and this spec is not one
    /// (`medallion promote`; see docs/promotion.md).
    #[error("not promoted: {0}")]
    NotPromoted(String),

    /// A path or table outside the selected environment was requested.
    #[error("environment isolation: {0}")]
    Isolation(String),

    /// A source could not be read (not a per-record problem: those are quarantined).
    #[error("source {path}: {message}")]
    Source { path: String, message: String },

    /// A quality rule with `on_fail: fail` did not hold. No table was changed.
    #[error(
        "quality rule '{rule}' (on_fail: fail) failed for {failed} row(s) of {table}; example: {example}. \
         The run was aborted and no table was changed: fix the input or relax the rule's on_fail"
    )]
    QualityFailed {
        table: String,
        rule: String,
        failed: u64,
        example: String,
    },

    /// A Delta table operation failed.
    #[error("table {table}: {source}")]
    Table {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },

    /// The catalog could not be read or written.
    #[error("catalog: {0}")]
    Catalog(String),

    /// A query failed.
    #[error("{context}: {source}{hint}", hint = class::memory_hint(source))]
    Query {
        context: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("{0}{hint}", hint = class::memory_hint(.0))]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A path the user named (a job file or folder, a query) does not exist or cannot be used.
    #[error("{path}: {message}")]
    Input { path: String, message: String },

    /// A configuration problem that is not inside one spec file (e.g. no environments file,
    /// an environment setting the storage client refuses).
    #[error("{0}")]
    Config(String),

    /// Another writer changed the same table or catalog entry first; running again resolves it.
    #[error("{0}")]
    Conflict(String),

    /// Something that should not happen. The class prefix (`internal error`) says the rest.
    #[error("{0}. This is a bug, please report it")]
    Internal(String),
}

impl Error {
    /// What happened, for the user: which side is at fault and what exit code it gets.
    pub fn class(&self) -> ErrorClass {
        use class::{arrow_class, datafusion_class, delta_class};
        match self {
            Error::Spec(_) | Error::Isolation(_) | Error::NotPromoted(_) | Error::Config(_) => {
                ErrorClass::Config
            }
            Error::Source { .. } | Error::Input { .. } => ErrorClass::Input,
            Error::QualityFailed { .. } => ErrorClass::Data,
            Error::Table { source, .. } | Error::Delta(source) => delta_class(source),
            Error::Catalog(_) | Error::Io { .. } => ErrorClass::Io,
            Error::Query { source, .. } => datafusion_class(source, true),
            Error::DataFusion(e) => datafusion_class(e, false),
            Error::Arrow(e) => arrow_class(e),
            Error::Conflict(_) => ErrorClass::Conflict,
            Error::Internal(_) => ErrorClass::Internal,
        }
    }

    /// True when the run failed because the user's configuration, input or data said no
    /// (exit code 1), rather than because something broke (exit code 2).
    pub fn is_user_failure(&self) -> bool {
        self.class().is_user_failure()
    }

    pub(crate) fn table(table: impl Into<String>, source: deltalake::DeltaTableError) -> Self {
        Error::Table {
            table: table.into(),
            source,
        }
    }

    pub(crate) fn query(
        context: impl Into<String>,
        source: datafusion::error::DataFusionError,
    ) -> Self {
        Error::Query {
            context: context.into(),
            source,
        }
    }

    /// A query's execution error (a bare DataFusion error) with the context it ran in.
    pub(crate) fn in_query(self, context: impl Into<String>) -> Self {
        match self {
            Error::DataFusion(source) => Error::query(context, source),
            other => other,
        }
    }

    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
