//! What kind of failure an [`Error`](super::Error) is, for the user: whose side is at fault,
//! what to do about it, and which exit code the command line returns.
//!
//! | class      | what happened                                              | exit |
//! |------------|------------------------------------------------------------|------|
//! | `config`   | a spec, schema, environment or setting is invalid          | 1    |
//! | `input`    | an input (job path, source file, query) is missing or bad  | 1    |
//! | `data`     | the data said no (a `fail` rule, a value the SQL rejects)  | 1    |
//! | `conflict` | another writer changed the same table first; run again    | 2    |
//! | `io`       | storage, network or a service of the environment failed    | 2    |
//! | `internal` | a bug in medallion                                         | 2    |

use std::fmt;

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use deltalake::kernel::transaction::TransactionError;
use deltalake::DeltaTableError;

/// What happened, from the user's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A spec, schema, environment or setting is invalid: fix the configuration.
    Config,
    /// An input the user named (job path, source file, query) is missing or unusable.
    Input,
    /// The data said no: a `fail` rule did not hold, or the SQL rejected a value.
    Data,
    /// Another writer committed first; running again resolves it.
    Conflict,
    /// Storage, network or a service of the environment failed; often transient.
    Io,
    /// A bug in medallion.
    Internal,
}

impl ErrorClass {
    /// True when the user's configuration, input or data is at fault (running again
    /// unchanged fails the same way).
    pub fn is_user_failure(self) -> bool {
        matches!(self, Self::Config | Self::Input | Self::Data)
    }

    /// The command-line exit code: 1 when the user's side said no, 2 when something broke.
    pub fn exit_code(self) -> u8 {
        if self.is_user_failure() {
            1
        } else {
            2
        }
    }

    /// A short name for logs and machines (`input`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Input => "input",
            Self::Data => "data",
            Self::Conflict => "conflict",
            Self::Io => "io",
            Self::Internal => "internal",
        }
    }

    /// The prefix of the message shown to the user (`input error`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Config => "configuration error",
            Self::Input => "input error",
            Self::Data => "data error",
            Self::Conflict => "conflict",
            Self::Io => "I/O error",
            Self::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Delta: a lost commit race is a conflict, unsound commit actions are a bug, anything else
/// is the storage of the lake.
pub(super) fn delta_class(e: &DeltaTableError) -> ErrorClass {
    match e {
        DeltaTableError::VersionAlreadyExists(_) | DeltaTableError::VersionMismatch(..) => {
            ErrorClass::Conflict
        }
        DeltaTableError::Transaction { source } => match source {
            TransactionError::VersionAlreadyExists(_)
            | TransactionError::CommitConflict(_)
            | TransactionError::MaxCommitAttempts(_) => ErrorClass::Conflict,
            _ => ErrorClass::Io,
        },
        DeltaTableError::CommitValidation { .. } => ErrorClass::Internal,
        _ => ErrorClass::Io,
    }
}

/// Arrow: values that cannot be parsed, cast or computed are the data's; reading and writing
/// is I/O; anything else (schemas, offsets, unsupported types) is medallion's own doing.
pub(super) fn arrow_class(e: &ArrowError) -> ErrorClass {
    match e {
        ArrowError::CastError(_)
        | ArrowError::ParseError(_)
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::DivideByZero
        | ArrowError::CsvError(_)
        | ArrowError::JsonError(_) => ErrorClass::Data,
        ArrowError::IoError(..) | ArrowError::ExternalError(_) | ArrowError::MemoryError(_) => {
            ErrorClass::Io
        }
        _ => ErrorClass::Internal,
    }
}

/// DataFusion. `user_sql`: the query is the user's (`silver.sql`, a Gold table, `medallion
/// sql`), so a query the planner refuses is configuration and one that fails on a value is
/// data; for medallion's own queries those are bugs.
pub(super) fn datafusion_class(e: &DataFusionError, user_sql: bool) -> ErrorClass {
    use DataFusionError as D;
    match e {
        D::Context(_, inner) | D::Diagnostic(_, inner) => datafusion_class(inner, user_sql),
        D::Shared(inner) => datafusion_class(inner, user_sql),
        D::Collection(all) => all
            .first()
            .map_or(ErrorClass::Internal, |e| datafusion_class(e, user_sql)),
        D::ArrowError(e, _) => arrow_class(e),
        D::ParquetError(_) | D::ObjectStore(_) | D::IoError(_) | D::ResourcesExhausted(_) => {
            ErrorClass::Io
        }
        D::External(inner) => external_class(inner.as_ref()),
        D::SQL(..)
        | D::Plan(_)
        | D::SchemaError(..)
        | D::NotImplemented(_)
        | D::Configuration(_)
            if user_sql =>
        {
            ErrorClass::Config
        }
        D::Execution(m) if from_cluster(m) => cluster_class(m),
        D::Execution(_) if user_sql => ErrorClass::Data,
        _ => ErrorClass::Internal,
    }
}

/// What to do when a query ran out of the memory pool (a hash join's build side or a window
/// does not spill): the text appended to its message; empty for any other error.
pub(super) fn memory_hint(e: &DataFusionError) -> &'static str {
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        ". The SQL may use three quarters of the memory budget: raise the budget \
         (`medallion run --memory-limit MIB`, or the environment's `memory_limit_mib`)"
    } else {
        ""
    }
}

/// A failure a Ballista cluster reported: its client turns transport errors and failed jobs
/// into execution errors carrying only text.
fn from_cluster(m: &str) -> bool {
    m.contains("tonic::transport::Error")
        || (m.starts_with("Job ") && m.contains(" failed"))
        || m.starts_with("Fail to execute query")
}

/// A cluster job fails for the data only when a computation said no (a cast, a division by
/// zero, an overflow); anything else (an executor lost, out of memory, denied access to the
/// lake, a scheduler restart, unreachable) is the environment's service failing.
fn cluster_class(m: &str) -> ErrorClass {
    const DATA: [&str; 4] = ["Divide by zero", "Cast error", "Compute error", "overflow"];
    if DATA.iter().any(|d| m.contains(d)) {
        ErrorClass::Data
    } else {
        ErrorClass::Io
    }
}

/// An error a table provider or object store handed to DataFusion.
fn external_class(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ErrorClass {
    if let Some(e) = e.downcast_ref::<DeltaTableError>() {
        delta_class(e)
    } else if let Some(e) = e.downcast_ref::<ArrowError>() {
        arrow_class(e)
    } else if let Some(e) = e.downcast_ref::<DataFusionError>() {
        datafusion_class(e, false)
    } else if let Some(e) = e.downcast_ref::<super::Error>() {
        e.class()
    } else {
        ErrorClass::Io
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, SpecError};

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "x")
    }

    #[test]
    fn every_variant_has_a_class_and_exit_code() {
        let cases: Vec<(Error, ErrorClass)> = vec![
            (
                Error::Spec(vec![SpecError::new("f", "p", "m")]),
                ErrorClass::Config,
            ),
            (Error::Isolation("x".into()), ErrorClass::Config),
            (Error::Config("x".into()), ErrorClass::Config),
            (
                Error::Source {
                    path: "in".into(),
                    message: "does not exist".into(),
                },
                ErrorClass::Input,
            ),
            (
                Error::Input {
                    path: "jobs/x.yaml".into(),
                    message: "does not exist".into(),
                },
                ErrorClass::Input,
            ),
            (
                Error::QualityFailed {
                    table: "t".into(),
                    rule: "r".into(),
                    failed: 1,
                    example: "e".into(),
                },
                ErrorClass::Data,
            ),
            (Error::Catalog("x".into()), ErrorClass::Io),
            (
                Error::io("p", io(std::io::ErrorKind::PermissionDenied)),
                ErrorClass::Io,
            ),
            (Error::Conflict("x".into()), ErrorClass::Conflict),
            (Error::Internal("x".into()), ErrorClass::Internal),
            (
                Error::table("t", DeltaTableError::VersionAlreadyExists(3)),
                ErrorClass::Conflict,
            ),
            (
                Error::Delta(DeltaTableError::Generic("x".into())),
                ErrorClass::Io,
            ),
            (
                Error::Arrow(ArrowError::CastError("x".into())),
                ErrorClass::Data,
            ),
            (
                Error::Arrow(ArrowError::SchemaError("x".into())),
                ErrorClass::Internal,
            ),
        ];
        for (e, class) in cases {
            assert_eq!(e.class(), class, "{e:?}");
            let code = if class.is_user_failure() { 1 } else { 2 };
            assert_eq!(class.exit_code(), code, "{e:?}");
            assert_eq!(e.is_user_failure(), code == 1, "{e:?}");
        }
    }

    #[test]
    fn user_sql_is_configuration_or_data_and_ours_is_a_bug() {
        let plan = || DataFusionError::Plan("table 'gold.nope' not found".into());
        assert_eq!(Error::query("q", plan()).class(), ErrorClass::Config);
        assert_eq!(Error::DataFusion(plan()).class(), ErrorClass::Internal);
        let exec = || DataFusionError::Execution("division by zero".into());
        assert_eq!(Error::query("q", exec()).class(), ErrorClass::Data);
        let ctx = DataFusionError::Context(
            "reading".into(),
            Box::new(DataFusionError::IoError(io(std::io::ErrorKind::Other))),
        );
        assert_eq!(Error::query("q", ctx).class(), ErrorClass::Io);
        let ext = DataFusionError::External(Box::new(DeltaTableError::VersionAlreadyExists(1)));
        assert_eq!(Error::DataFusion(ext).class(), ErrorClass::Conflict);
    }

    #[test]
    fn an_unreachable_cluster_is_an_io_failure_in_its_context() {
        let e = DataFusionError::Execution(
            "tonic::transport::Error(Transport, ConnectError(\"tcp connect error\", 127.0.0.1:9))"
                .into(),
        );
        let e = Error::DataFusion(e).in_query("jobs/a.yaml: gold table gold.x");
        assert_eq!(e.class(), ErrorClass::Io);
        assert!(
            e.to_string().starts_with("jobs/a.yaml: gold table gold.x"),
            "{e}"
        );
    }

    #[test]
    fn internal_errors_say_they_are_bugs_once() {
        let e = Error::Internal("boom".into());
        assert_eq!(e.to_string(), "boom. This is a bug, please report it");
        assert_eq!(e.class().label(), "internal error");
    }

    #[test]
    fn a_query_out_of_memory_says_how_to_raise_the_budget() {
        let oom = DataFusionError::ResourcesExhausted("Failed to allocate 272.0 MB".into());
        let wrapped = DataFusionError::Context("join".into(), Box::new(oom));
        let e = Error::query("jobs/x.yaml: silver.sql", wrapped);
        let text = e.to_string();
        assert!(text.starts_with("jobs/x.yaml: silver.sql: join"), "{text}");
        assert!(
            text.ends_with("or the environment's `memory_limit_mib`)"),
            "{text}"
        );
        assert!(text.contains("--memory-limit MIB"), "{text}");
        // A set rule's query is a bare DataFusion error: the same hint.
        let bare = Error::DataFusion(DataFusionError::ResourcesExhausted("x".into()));
        assert!(bare.to_string().contains("--memory-limit MIB"), "{bare}");
        let other = Error::query("q", DataFusionError::Execution("Divide by zero".into()));
        assert_eq!(other.to_string(), "q: Execution error: Divide by zero");
    }
}
