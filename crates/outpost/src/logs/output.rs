//! Printing a finished report (text, CSV or JSON) with its footer, and the progress bar
//! shown on stderr for large inputs when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use outpost_logs::{Analysis, JsonOutput, render};

/// Inputs smaller than this (256 MiB) get no progress bar.
const PROGRESS_MIN_BYTES: u64 = 256 << 20;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Clone)]
pub struct OutputOptions {
    pub mode: OutputMode,
    pub show_bad: bool,
}

/// Prints the report; `refresh` clears a terminal first (follow mode).
pub fn print(analysis: &Analysis, opts: &OutputOptions, refresh: bool) {
    let report = analysis.report();
    let (inputs, tally) = (analysis.inputs(), analysis.tally());
    let footer = render::footer(inputs, tally, opts.show_bad);
    let tty = std::io::stdout().is_terminal();
    let mut out = String::new();
    if refresh {
        out.push_str(if tty { "\x1b[H\x1b[2J" } else { "\n" });
    }
    match opts.mode {
        OutputMode::Json => {
            let json = JsonOutput {
                report: &report,
                inputs,
                lines: tally,
            };
            out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default());
            out.push('\n');
        }
        OutputMode::Csv => {
            out.push_str(&render::csv(&report.document()));
            eprint!("{footer}");
        }
        OutputMode::Text => {
            let color = tty && std::env::var_os("NO_COLOR").is_none();
            out.push_str(&render::text(&report.document(), color));
            out.push('\n');
            out.push_str(&footer);
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// Runs `work` while a progress bar on stderr follows `done` out of `total` bytes, when
/// stderr is a terminal and the input is large.
pub fn with_progress<T>(done: &AtomicU64, total: u64, work: impl FnOnce() -> T) -> T {
    if total < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return work();
    }
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            // Refresh every 100 ms until the work is done (the sender is dropped).
            while let Err(RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(100))
            {
                bar.set_position(done.load(Ordering::Relaxed).min(total));
            }
            bar.finish_and_clear();
        });
        let result = work();
        drop(stop);
        result
    })
}
