//! The `outpost logs` command line: raw clap arguments, validated into a `Request` in one
//! step before any input is read.

use clap::{Args, Subcommand, ValueEnum};
use outpost_logs::report::threats::ThreatConfig;
use outpost_logs::report::top::{TopBy, TopOptions};
use outpost_logs::time::parse_duration;
use outpost_logs::{FilterArgs, FormatChoice, ReportSpec};

use super::output::{OutputMode, OutputOptions};

/// Analyse access logs: Outpost JSON, NGINX/Apache combined and common, or any NGINX
/// `log_format`. Inputs are files (plain, .gz, .zst), globs, or `-` for stdin.
#[derive(Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    report: ReportCmd,
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Requests (or bytes) per key, with share of total.
    Top(TopArgs),
    /// 4xx and 5xx counts by status and by path, and the error rate over time.
    Errors(ErrorsArgs),
    /// Requests, errors and bytes per time bucket, with sparklines.
    Timeline(TimelineArgs),
    /// Totals, time range, unique IPs, bandwidth, latency percentiles.
    Summary(SummaryArgs),
    /// Scanners, credential stuffing, injection signatures, unusual methods, floods.
    Threats(ThreatsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    Ip,
    Path,
    Status,
    Ua,
    Referer,
    Host,
    Method,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Auto,
    Json,
    Combined,
    Common,
}

#[derive(Args)]
struct TopArgs {
    /// The key to group by.
    #[arg(long, value_enum, default_value = "ip")]
    by: ByArg,
    /// Rank by response bytes instead of requests.
    #[arg(long)]
    bytes: bool,
    /// Rows to show.
    #[arg(short = 'n', long, default_value_t = 10)]
    n: usize,
    /// Count every key exactly (memory grows with distinct keys) instead of Space-Saving.
    #[arg(long)]
    exact: bool,
    /// Most counters held per thread without --exact (64 bytes each); default 8192 or 16 x N.
    #[arg(long)]
    capacity: Option<usize>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ErrorsArgs {
    /// Rows in the by-path table.
    #[arg(short = 'n', long, default_value_t = 10)]
    n: usize,
    /// Bucket width for the error rate over time (`auto`, 1m, 5m, 1h, 1d...).
    #[arg(long, default_value = "auto")]
    bucket: String,
    /// Count paths exactly instead of Space-Saving.
    #[arg(long)]
    exact: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct TimelineArgs {
    /// Bucket width (`auto`, 1m, 5m, 1h, 1d...); `auto` shows at most 60 rows.
    #[arg(long, default_value = "auto")]
    bucket: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SummaryArgs {
    /// Count unique IPs exactly instead of HyperLogLog (±1%, 16 KiB).
    #[arg(long)]
    exact: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ThreatsArgs {
    /// Distinct 404 paths from one IP that make it a scanner.
    #[arg(long, default_value_t = 20)]
    scanner_404_paths: u64,
    /// POSTs to login-like paths answered 401/403 from one IP that flag credential stuffing.
    #[arg(long, default_value_t = 10)]
    stuffing_failures: u64,
    /// Requests from one IP within one minute that flag a flood.
    #[arg(long, default_value_t = 600)]
    flood_per_minute: u64,
    /// Methods that are not unusual (comma-separated).
    #[arg(long, default_value = "GET,HEAD,POST,PUT,DELETE,PATCH,OPTIONS")]
    allowed_methods: String,
    /// Most client IPs given per-IP state (about 250 bytes each).
    #[arg(long, default_value_t = 500_000)]
    max_tracked_ips: usize,
    /// Sample lines per finding.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Findings listed per detector.
    #[arg(short = 'n', long, default_value_t = 10)]
    n: usize,
    #[command(flatten)]
    common: Common,
}

/// Options shared by every report.
#[derive(Args, Clone)]
pub struct Common {
    /// Log files or globs; `-` (or nothing) reads stdin. Gzip and zstd are detected.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Input format; `auto` detects it per file.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// An NGINX `log_format` string, e.g. '$remote_addr - $remote_user [$time_local] "$request" $status ...'.
    #[arg(long, value_name = "FORMAT", conflicts_with = "format")]
    log_format: Option<String>,
    /// Keep reading a growing file and refresh the report (survives rotation).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Seconds between refreshes with --follow.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub refresh: f64,
    /// Only lines at or after this time: RFC 3339 (2026-11-27T10:00:00Z), a date, or a duration ago (1h).
    #[arg(long)]
    since: Option<String>,
    /// Only lines before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Only these statuses or classes, comma-separated: 404,5xx.
    #[arg(long)]
    status: Option<String>,
    /// Only clients in this CIDR (repeatable).
    #[arg(long, value_name = "CIDR")]
    ip: Vec<String>,
    /// Only paths starting with this prefix.
    #[arg(long)]
    path_prefix: Option<String>,
    /// Only these methods, comma-separated.
    #[arg(long)]
    method: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (the footer goes to stderr).
    #[arg(long)]
    csv: bool,
    /// Print the first malformed lines with file and line number.
    #[arg(long)]
    show_bad: bool,
    /// Worker threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The current time for relative --since/--until (for reproducible runs).
    #[arg(long, hide = true)]
    pub now: Option<String>,
    #[arg(skip)]
    pub filter: FilterArgs,
}

/// A validated `outpost logs` invocation.
pub struct Request {
    pub spec: ReportSpec,
    pub format: FormatChoice,
    pub output: OutputOptions,
    pub common: Common,
}

fn bucket(s: &str) -> Result<Option<i64>, String> {
    if s == "auto" {
        return Ok(None);
    }
    let ms = parse_duration(s)
        .ok_or_else(|| format!("--bucket: `{s}` is not auto or a duration (1m, 1h)"))?;
    if ms % 1000 != 0 {
        return Err(format!("--bucket: `{s}` must be whole seconds"));
    }
    Ok(Some(ms))
}

impl LogsArgs {
    /// Validates the arguments into a `Request`.
    pub fn into_request(self) -> Result<Request, String> {
        let (spec, common) = match self.report {
            ReportCmd::Top(a) => (ReportSpec::Top(top_options(&a)), a.common),
            ReportCmd::Errors(a) => {
                let capacity = (!a.exact).then(|| outpost_logs::counter::capacity_for(a.n));
                (
                    ReportSpec::Errors {
                        n: a.n,
                        capacity,
                        bucket_ms: bucket(&a.bucket)?,
                    },
                    a.common,
                )
            }
            ReportCmd::Timeline(a) => (
                ReportSpec::Timeline {
                    bucket_ms: bucket(&a.bucket)?,
                },
                a.common,
            ),
            ReportCmd::Summary(a) => (ReportSpec::Summary { exact: a.exact }, a.common),
            ReportCmd::Threats(a) => {
                let config = ThreatConfig {
                    scanner_min_404_paths: a.scanner_404_paths,
                    stuffing_min_failures: a.stuffing_failures,
                    flood_per_minute: a.flood_per_minute,
                    allowed_methods: a
                        .allowed_methods
                        .split(',')
                        .map(|m| m.trim().to_ascii_uppercase())
                        .collect(),
                    max_tracked_ips: a.max_tracked_ips,
                    samples: a.samples,
                    top: a.n,
                };
                (ReportSpec::Threats(config), a.common)
            }
        };
        if !(common.refresh > 0.0 && common.refresh.is_finite()) {
            return Err("--refresh must be a positive number of seconds".into());
        }
        let format = match (&common.log_format, common.format) {
            (Some(f), _) => {
                outpost_logs::template::Template::compile(f)
                    .map_err(|e| format!("--log-format: {e}"))?;
                FormatChoice::Custom(f.clone())
            }
            (None, FormatArg::Auto) => FormatChoice::Auto,
            (None, FormatArg::Json) => FormatChoice::Json,
            (None, FormatArg::Combined) => FormatChoice::Combined,
            (None, FormatArg::Common) => FormatChoice::Common,
        };
        let mode = if common.json {
            OutputMode::Json
        } else if common.csv {
            OutputMode::Csv
        } else {
            OutputMode::Text
        };
        let mut common = common;
        common.filter = FilterArgs {
            since: common.since.clone(),
            until: common.until.clone(),
            status: common.status.clone(),
            ip: common.ip.clone(),
            path_prefix: common.path_prefix.clone(),
            method: common.method.clone(),
        };
        let output = OutputOptions {
            mode,
            show_bad: common.show_bad,
        };
        Ok(Request {
            spec,
            format,
            output,
            common,
        })
    }
}

fn top_options(a: &TopArgs) -> TopOptions {
    let by = match a.by {
        ByArg::Ip => TopBy::Ip,
        ByArg::Path => TopBy::Path,
        ByArg::Status => TopBy::Status,
        ByArg::Ua => TopBy::Ua,
        ByArg::Referer => TopBy::Referer,
        ByArg::Host => TopBy::Host,
        ByArg::Method => TopBy::Method,
    };
    let capacity = (!a.exact).then(|| {
        a.capacity
            .unwrap_or(outpost_logs::counter::capacity_for(a.n))
    });
    TopOptions {
        by,
        bytes: a.bytes,
        n: a.n,
        capacity,
    }
}
