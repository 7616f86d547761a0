//! `outpost logs` end to end: golden outputs for every report and input format on the
//! fixture logs in `tests/fixtures/logs`, plus gzip/zstd/stdin inputs, malformed and
//! truncated input, a missing file, and follow mode with lines appended during the test.
//!
//! Golden files live in `tests/golden/logs/NAME.txt`; run with `UPDATE_GOLDEN=1` to
//! rewrite them after an intended change, and review the diff.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs")
}

/// Runs `outpost logs ARGS` in the fixtures directory, with `stdin` piped in.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("logs")
        .args(args)
        .current_dir(fixtures())
        .env("RAYON_NUM_THREADS", "2")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn outpost");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(data) = stdin {
        input.write_all(data).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("outpost runs")
}

fn stdout_of(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Compares `actual` with the golden file `name`, or rewrites it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/logs")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        want,
        "output differs from {} (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

fn check(name: &str, args: &[&str]) {
    golden(name, &stdout_of(args, None));
}

const CUSTOM: &str = r#"$msec $remote_addr $host "$request" $status $body_bytes_sent $request_time "$http_user_agent""#;

#[test]
fn top_every_key_and_format() {
    check("top_ip_combined", &["top", "combined.log"]);
    check(
        "top_path_bytes_combined",
        &["top", "--by", "path", "--bytes", "-n", "5", "combined.log"],
    );
    check(
        "top_status_common",
        &["top", "--by", "status", "common.log"],
    );
    check(
        "top_ua_combined",
        &["top", "--by", "ua", "-n", "5", "combined.log"],
    );
    check(
        "top_referer_combined",
        &["top", "--by", "referer", "combined.log"],
    );
    check(
        "top_method_json",
        &["top", "--by", "method", "outpost.json"],
    );
    check(
        "top_host_custom",
        &["top", "--by", "host", "--log-format", CUSTOM, "custom.log"],
    );
    check(
        "top_ip_exact_json_output",
        &["top", "--exact", "-n", "3", "--json", "combined.log"],
    );
    check(
        "top_path_csv",
        &["top", "--by", "path", "-n", "4", "--csv", "combined.log"],
    );
    // A tiny bound makes Space-Saving drop keys: the heavy hitters stay, marked approximate.
    check(
        "top_ip_bounded",
        &["top", "-n", "3", "--capacity", "4", "combined.log"],
    );
}

#[test]
fn errors_timeline_summary() {
    check("errors_combined", &["errors", "combined.log"]);
    check(
        "errors_json_input_csv",
        &["errors", "--csv", "outpost.json"],
    );
    check(
        "timeline_combined_15m",
        &["timeline", "--bucket", "15m", "combined.log"],
    );
    check(
        "timeline_custom_auto",
        &["timeline", "--log-format", CUSTOM, "custom.log"],
    );
    check(
        "timeline_json",
        &["timeline", "--bucket", "1h", "--json", "common.log"],
    );
    check("summary_json_input", &["summary", "outpost.json"]);
    check(
        "summary_combined_exact",
        &["summary", "--exact", "combined.log"],
    );
    check(
        "summary_custom_latency",
        &["summary", "--log-format", CUSTOM, "custom.log"],
    );
}

#[test]
fn threats_report_and_thresholds() {
    check(
        "threats_combined",
        &["threats", "--flood-per-minute", "20", "combined.log"],
    );
    check(
        "threats_json",
        &["threats", "--json", "--samples", "1", "combined.log"],
    );
    // Raising the thresholds above the evidence removes the per-IP findings.
    let quiet = stdout_of(
        &[
            "threats",
            "--scanner-404-paths",
            "26",
            "--stuffing-failures",
            "13",
            "--flood-per-minute",
            "31",
            "combined.log",
        ],
        None,
    );
    assert!(
        !quiet.contains("scanner ")
            && !quiet.contains("credential_stuffing")
            && !quiet.contains("flood "),
        "{quiet}"
    );
}

#[test]
fn filters_apply_to_every_report() {
    check(
        "filters_top_path",
        &[
            "top",
            "--by",
            "path",
            "--status",
            "4xx",
            "--ip",
            "203.0.113.0/24",
            "--method",
            "get",
            "--path-prefix",
            "/w",
            "combined.log",
        ],
    );
    check(
        "filters_since_until_errors",
        &[
            "errors",
            "--since",
            "2026-11-27T09:30:00Z",
            "--until",
            "2026-11-27T09:45",
            "combined.log",
        ],
    );
    // Relative times count back from --now.
    let relative = stdout_of(
        &[
            "summary",
            "--since",
            "30m",
            "--now",
            "2026-11-27T10:00:00Z",
            "combined.log",
        ],
        None,
    );
    let absolute = stdout_of(
        &["summary", "--since", "2026-11-27T09:30:00Z", "combined.log"],
        None,
    );
    assert_eq!(relative, absolute);
    check(
        "filters_ipv6_timeline",
        &["timeline", "--ip", "2001:db8::/64", "combined.log"],
    );
    check(
        "filters_threats_status",
        &["threats", "--status", "404", "combined.log"],
    );
}

#[test]
fn compressed_stdin_and_globs() {
    let plain = stdout_of(&["top", "combined.log"], None);
    let gz = stdout_of(&["top", "combined.log.gz"], None);
    assert_eq!(gz, plain.replace("combined.log ", "combined.log.gz "));
    let data = std::fs::read(fixtures().join("combined.log")).expect("fixture");
    let stdin = stdout_of(&["top", "-"], Some(&data));
    assert_eq!(stdin, plain.replace("combined.log ", "- "));
    let gz_data = std::fs::read(fixtures().join("combined.log.gz")).expect("fixture");
    assert_eq!(
        stdout_of(&["top"], Some(&gz_data)),
        stdin,
        "no file argument reads stdin, gzip detected"
    );
    let zst = stdout_of(&["summary", "outpost.json.zst"], None);
    let json = stdout_of(&["summary", "outpost.json"], None);
    assert_eq!(zst, json.replace("outpost.json ", "outpost.json.zst "));
    check("glob_two_formats", &["top", "--by", "status", "co*.log"]);
}

#[test]
fn malformed_lines_are_counted_and_shown() {
    check(
        "show_bad",
        &["summary", "--show-bad", "combined.log", "outpost.json"],
    );
}

#[test]
fn truncated_gzip_keeps_what_was_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = std::fs::read(fixtures().join("combined.log.gz")).expect("fixture");
    let cut = dir.path().join("cut.log.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).expect("write");
    let out = run(&["summary", cut.to_str().expect("utf-8 path")], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("read error, kept what was read before it"),
        "{text}"
    );
    let requests: u64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("requests")
                .map(|v| v.trim().parse().expect("number"))
        })
        .expect("requests line");
    assert!(requests > 20 && requests < 153, "kept a prefix: {requests}");
}

#[test]
fn missing_file_is_one_line_and_exit_1() {
    let out = run(&["top", "combined.log", "nope.log"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("outpost logs: nope.log: "), "{err}");
    assert!(out.stdout.is_empty());
    let bad = run(
        &["top", "--log-format", "no variables", "combined.log"],
        None,
    );
    assert_eq!(bad.status.code(), Some(1));
    let bad = run(&["top", "--status", "6xx", "combined.log"], None);
    assert_eq!(bad.status.code(), Some(1));
}

/// Reads the child's stdout on a thread; `wait_for` returns once a line matches.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn new(r: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("expected output did not appear");
    }
}

#[test]
fn follow_sees_appended_lines_and_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let lines: Vec<String> = std::fs::read_to_string(fixtures().join("common.log"))
        .expect("fixture")
        .lines()
        .map(String::from)
        .collect();
    std::fs::write(&path, format!("{}\n", lines[..5].join("\n"))).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["logs", "summary", "--follow", "--refresh", "0.05"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = Lines::new(child.stdout.take().expect("stdout"));
    let is_requests = |n: u32| {
        move |l: &str| l.split_whitespace().collect::<Vec<_>>() == ["requests", &n.to_string()]
    };
    out.wait_for(is_requests(5));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    // A partial line is not counted until its newline arrives.
    write!(f, "{}\n{}", lines[5], lines[6]).expect("append");
    f.flush().expect("flush");
    out.wait_for(is_requests(6));
    writeln!(f).expect("append");
    out.wait_for(is_requests(7));
    // Rotation: rename away and start a new file.
    std::fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
    std::fs::write(&path, format!("{}\n{}\n", lines[7], lines[8])).expect("write");
    out.wait_for(is_requests(9));
    let _ = child.kill();
    let _ = child.wait();
}
