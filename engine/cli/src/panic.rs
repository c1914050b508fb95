//! Panics are bugs: one line that says so, not a backtrace, unless `RUST_BACKTRACE` asks for one.

use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::process::ExitCode;

/// The exit code of a panic: an internal error.
const PANIC_EXIT: u8 = 2;

/// Replaces the default panic message (thread name, location, backtrace note) with one line,
/// unless `RUST_BACKTRACE` is set (to anything but `0`): then the default hook prints the
/// backtrace as usual.
pub fn install_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        return;
    }
    panic::set_hook(Box::new(|info| {
        // Printing to a closed stderr must not panic again.
        let _ = writeln!(std::io::stderr(), "{}", one_line(info));
    }));
}

fn one_line(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    let at = info
        .location()
        .map(|l| format!(" (at {}:{})", l.file(), l.line()))
        .unwrap_or_default();
    format!(
        "medallion: internal error: {message}{at}; this is a bug, please report it \
         (set RUST_BACKTRACE=1 for a backtrace)"
    )
}

/// Runs the program; a panic that reaches here exits with the internal-error code (2), its
/// message already printed by the hook.
pub fn catch(main: impl FnOnce() -> ExitCode) -> ExitCode {
    panic::catch_unwind(AssertUnwindSafe(main)).unwrap_or(ExitCode::from(PANIC_EXIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_panic_is_one_line_that_says_it_is_a_bug_and_exits_2() {
        let seen = Arc::new(Mutex::new(String::new()));
        let previous = panic::take_hook();
        let sink = seen.clone();
        panic::set_hook(Box::new(move |info| {
            *sink.lock().unwrap() = one_line(info);
        }));
        let code = catch(|| panic!("boom {}", 42));
        panic::set_hook(previous);
        assert_eq!(code, ExitCode::from(2));
        let line = seen.lock().unwrap().clone();
        assert!(
            line.starts_with("medallion: internal error: boom 42 (at engine/cli/src/panic.rs:"),
            "{line}"
        );
        assert!(
            line.ends_with(
                "; this is a bug, please report it (set RUST_BACKTRACE=1 for a backtrace)"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}
