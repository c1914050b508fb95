//! How a command ends: the exit code of its error's class, and one message on stderr that
//! starts with the class (`medallion: input error: jobs/nope.yaml: does not exist`).
//!
//! | exit | when                                                                     |
//! |------|--------------------------------------------------------------------------|
//! | 0    | success (also when the reader closed standard output early)              |
//! | 1    | configuration, input or data error: fix them; running again fails again |
//! | 2    | conflict, I/O error or internal error (a bug, or a panic)                |

use std::io::{self, Write as _};
use std::process::ExitCode;

use medallion_core::error::ErrorClass;

/// The exit code of a command's result; prints the error, if any.
pub fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    let e = match result {
        Ok(code) => return code,
        Err(e) => e,
    };
    if is_broken_pipe(&e) {
        return ExitCode::SUCCESS;
    }
    let class = class_of(&e);
    let mut message = message(&e);
    if class == ErrorClass::Internal && !message.ends_with("please report it") {
        message.push_str(". This is a bug, please report it");
    }
    // A closed stderr must not turn a clean failure into a panic.
    let _ = writeln!(io::stderr(), "medallion: {class}: {message}");
    ExitCode::from(class.exit_code())
}

/// A command line clap refused (exit 1: the user's input), or `--help` / `--version` (exit 0).
pub fn usage(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { 1 } else { 0 })
}

/// The class of the first engine error in the chain; an error that is no engine error and no
/// I/O error is one medallion did not expect, so internal.
pub fn class_of(e: &anyhow::Error) -> ErrorClass {
    for cause in e.chain() {
        if let Some(class) = engine_class(cause) {
            return class;
        }
        if cause.is::<io::Error>() {
            return ErrorClass::Io;
        }
    }
    ErrorClass::Internal
}

fn engine_class(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    if let Some(e) = cause.downcast_ref::<medallion_core::Error>() {
        return Some(e.class());
    }
    let e = cause.downcast_ref::<medallion_kafka::Error>()?;
    Some(match e {
        medallion_kafka::Error::Core(e) => e.class(),
        e if e.is_user_failure() => ErrorClass::Config,
        _ => ErrorClass::Io,
    })
}

/// The contexts and the error, once: an engine error's message already names its causes.
fn message(e: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in e.chain() {
        parts.push(cause.to_string());
        if engine_class(cause).is_some() {
            break;
        }
    }
    parts.join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_and_message_come_from_the_first_engine_error() {
        let e = anyhow::Error::from(medallion_core::Error::Input {
            path: "jobs/nope.yaml".into(),
            message: "does not exist".into(),
        })
        .context("planning");
        assert_eq!(class_of(&e), ErrorClass::Input);
        assert_eq!(message(&e), "planning: jobs/nope.yaml: does not exist");

        let io = medallion_core::Error::io("lake/x", io::Error::other("disk full"));
        let e = anyhow::Error::from(io);
        assert_eq!(class_of(&e), ErrorClass::Io);
        assert_eq!(
            message(&e),
            "lake/x: disk full",
            "the cause is not repeated"
        );

        let e = anyhow::anyhow!("unexpected");
        assert_eq!(class_of(&e), ErrorClass::Internal);
    }

    #[test]
    fn a_closed_pipe_is_success() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("x");
        assert!(is_broken_pipe(&e));
        assert_eq!(exit_code(Err(e)), ExitCode::SUCCESS);
    }
}
