//! `outpost logs`: access-log analytics. Parses the command line into a typed request
//! (`args`), runs the `outpost-logs` analyzer over the inputs, and prints the report.
//! This module owns only the CLI surface, the progress bar and error text.

mod args;
mod output;

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outpost_logs::follow::Follower;
use outpost_logs::input::{self, Source};
use outpost_logs::{Analysis, Filter, ScanConfig};

pub use args::LogsArgs;

/// Runs `outpost logs`.
pub fn run(args: LogsArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("outpost logs: {msg}");
            ExitCode::from(crate::EXIT_RUNTIME)
        }
    }
}

fn run_inner(args: LogsArgs) -> Result<ExitCode, String> {
    let req = args.into_request()?;
    if let Some(n) = req.common.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let now_ms = match req.common.now.as_deref() {
        Some(s) => {
            outpost_logs::time::parse_iso8601(s.as_bytes()).ok_or("--now: not an RFC 3339 time")?
        }
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    let filter = Filter::build(&req.common.filter, now_ms).map_err(|e| e.to_string())?;
    let sources = input::expand(&req.common.files).map_err(|e| e.to_string())?;
    for s in &sources {
        if let Source::File(p) = s {
            std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let mut analysis = Analysis::new(req.spec.clone(), &filter);
    if req.common.follow {
        return follow(&req, &filter, &sources, analysis);
    }
    let progress = AtomicU64::new(0);
    let cfg = ScanConfig {
        format: &req.format,
        filter: &filter,
        progress: Some(&progress),
        chunk: outpost_logs::engine::DEFAULT_CHUNK,
    };
    let total: u64 = sources
        .iter()
        .filter_map(|s| match s {
            Source::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Source::Stdin => None,
        })
        .sum();
    output::with_progress(&progress, total, || {
        for s in &sources {
            analysis.read_source(s, &cfg).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })?;
    output::print(&analysis, &req.output, false);
    Ok(ExitCode::SUCCESS)
}

/// `--follow`: report on the file so far, then re-report every `--refresh` seconds with
/// what was appended, across rotations. Runs until interrupted.
#[expect(
    clippy::disallowed_methods,
    reason = "`outpost logs` runs no async runtime: sleeping between polls blocks nothing else"
)]
fn follow(
    req: &args::Request,
    filter: &Filter,
    sources: &[Source],
    mut analysis: Analysis,
) -> Result<ExitCode, String> {
    let [Source::File(path)] = sources else {
        return Err("--follow needs exactly one plain file".into());
    };
    let cfg = ScanConfig {
        format: &req.format,
        filter,
        progress: None,
        chunk: outpost_logs::engine::DEFAULT_CHUNK,
    };
    let mut follower = Follower::new(path.clone());
    let name = path.display().to_string();
    let mut idx = analysis.add_input(name.clone());
    let mut first = true;
    loop {
        let chunks = follower.poll().map_err(|e| format!("{name}: {e}"))?;
        let changed = !chunks.is_empty();
        for c in chunks {
            if c.rotated {
                idx = analysis.add_input(format!("{name} (after rotation)"));
            }
            analysis.feed(idx, &c.data, c.base_offset, c.base_line, &cfg);
        }
        if changed || first {
            output::print(&analysis, &req.output, !first);
            first = false;
        }
        std::thread::sleep(Duration::from_secs_f64(req.common.refresh));
    }
}
