//! Standard output for the commands. The reader may close it early (`medallion tables | head
//! -1`): that is not an error, and the rest of the output is discarded, as a Unix tool that
//! dies of SIGPIPE would (Rust ignores SIGPIPE, so the write fails with `BrokenPipe` instead).
//! Every command writes through [`stdout`] with `write!`/`writeln!`: `print!` would panic.

use std::io::{self, StdoutLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Locked standard output that turns a closed pipe into "discard the rest".
pub struct Stdout(StdoutLock<'static>);

/// Standard output, locked for the caller.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// True once the reader has closed standard output.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

impl Stdout {
    fn or_closed<T>(&self, r: io::Result<T>, discarded: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(discarded)
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if closed() {
            return Ok(buf.len());
        }
        let r = self.0.write(buf);
        self.or_closed(r, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if closed() {
            return Ok(());
        }
        let r = self.0.flush();
        self.or_closed(r, ())
    }
}
