//! Progress bars on a terminal for `medallion run` (stderr; nothing when stdout is piped).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use medallion_core::report::Progress;

#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

fn bar(total_bytes: Option<u64>) -> ProgressBar {
    match total_bytes {
        Some(t) if t > 0 => {
            let b = ProgressBar::new(t);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b
        }
        _ => {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg:30} {pos} rows {per_sec}")
                    .expect("template"),
            );
            b
        }
    }
}

impl Progress for Bars {
    fn start(&self, stage: &str, total_bytes: Option<u64>) {
        let b = bar(total_bytes);
        b.set_message(stage.to_string());
        *self.bar.lock().expect("lock") = Some(b);
    }
    fn advance(&self, rows: u64, bytes: u64) {
        if let Some(b) = self.bar.lock().expect("lock").as_ref() {
            if b.length().is_some() {
                b.inc(bytes);
            } else {
                b.inc(rows);
            }
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("lock").take() {
            b.finish_and_clear();
        }
    }
}
