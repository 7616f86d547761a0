//! `outpost logs`: access-log analytics. (Being built: see issue 3.)

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Log files to read (`-` for stdin).
    files: Vec<std::path::PathBuf>,
}

pub fn run(args: LogsArgs) -> ExitCode {
    eprintln!("outpost logs: not built yet ({} inputs given)", args.files.len());
    ExitCode::from(crate::EXIT_RUNTIME)
}
