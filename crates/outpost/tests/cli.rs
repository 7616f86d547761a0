//! The `outpost` binary as users run it: exit codes, `outpost check` error
//! output (golden file), and `serve` with signals on a real process.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outpost"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, actual: &str) {
    let path = fixtures().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, want,
        "golden file {name} differs (UPDATE_GOLDEN=1 to accept)"
    );
}

#[test]
fn version_and_usage_exit_codes() {
    let out = bin().arg("version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("outpost 0."));
    let out = bin().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn check_accepts_the_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for entry in std::fs::read_dir(&root).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let out = bin().arg("check").arg(&p).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn check_lists_every_error_with_its_path() {
    let out = bin()
        .current_dir(fixtures())
        .args(["check", "bad.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    golden("bad.toml.errors", &String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_reports_syntax_errors_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.toml");
    std::fs::write(&p, "[[listeners]]\nname = \"x\"\naddress = \n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["check", "broken.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("broken.toml: TOML syntax error at line 3, column"),
        "{err}"
    );
    let out = bin()
        .args(["check", "/nonexistent/outpost.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let out = bin()
        .args(["serve", "--config", "/nonexistent/outpost.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

/// A running `outpost serve` whose stderr we read for the bound address.
struct Serve {
    child: Child,
    addr: SocketAddr,
    /// Further stderr lines, after the first listener's address.
    lines: std::sync::mpsc::Receiver<String>,
    _stderr: std::thread::JoinHandle<()>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path) -> Serve {
    let mut child = bin()
        .args(["serve", "--config"])
        .arg(config)
        .env("OUTPOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // From here on, Drop kills the child even if the address never shows up.
    let mut serve = Serve {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        lines: rx,
        _stderr: reader,
    };
    serve.addr = serve.next_address("listening");
    serve
}

impl Serve {
    /// The address in the next stderr line containing `what` and `address=`.
    fn next_address(&self, what: &str) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("server did not report its address");
            if let Some(i) = line.find("address=")
                && line.contains(what)
            {
                let addr: String = line[i + 8..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                return strip_ansi(&addr).parse().unwrap();
            }
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in s.chars() {
        match (skip, c) {
            (_, '\u{1b}') => skip = true,
            (true, 'm') => skip = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

fn http_get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Polls until `f` holds, for at most 10 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        pause();
    }
    false
}

#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous test polling a condition between checks"
)]
fn pause() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn serve_reloads_on_sighup_and_file_change_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("outpost.toml");
    let good = std::fs::read_to_string(fixtures().join("good.toml")).unwrap();
    // SIGHUP is the reload path under test first, so start without watching.
    std::fs::write(&cfg, format!("[server]\nwatch_config = false\n{good}")).unwrap();
    let mut serve = start(&cfg);
    assert!(http_get(serve.addr).ends_with("v1"));

    std::fs::write(
        &cfg,
        format!(
            "[server]\nwatch_config = false\n{}",
            good.replace("v1", "v2")
        ),
    )
    .unwrap();
    signal(&serve.child, "-HUP");
    assert!(
        eventually(|| http_get(serve.addr).ends_with("v2")),
        "SIGHUP reload"
    );

    // An invalid file is rejected and v2 keeps serving.
    std::fs::write(&cfg, "[[listeners]]\nname = 1\n").unwrap();
    signal(&serve.child, "-HUP");
    std::thread::yield_now();
    assert!(http_get(serve.addr).ends_with("v2"));

    signal(&serve.child, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        pause();
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_reloads_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("outpost.toml");
    let good = std::fs::read_to_string(fixtures().join("good.toml")).unwrap();
    std::fs::write(&cfg, &good).unwrap();
    let serve = start(&cfg);
    assert!(http_get(serve.addr).ends_with("v1"));
    // Editors often write a temp file and rename it over the original.
    let tmp = dir.path().join(".outpost.toml.swp");
    std::fs::write(&tmp, good.replace("v1", "v3")).unwrap();
    std::fs::rename(&tmp, &cfg).unwrap();
    assert!(
        eventually(|| http_get(serve.addr).ends_with("v3")),
        "file-change reload"
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&cfg)
        .unwrap();
    f.write_all(good.replace("v1", "v4").as_bytes()).unwrap();
    drop(f);
    assert!(
        eventually(|| http_get(serve.addr).ends_with("v4")),
        "in-place write reload"
    );
}

#[test]
fn rules_test_prints_matched_rules_and_the_decision() {
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml");
    let run = |args: &[&str]| {
        let out = bin()
            .args(["rules", "test", "--config"])
            .arg(&quickstart)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut transcript = String::new();
    for args in [
        &["--ip", "192.0.2.7", "GET http://127.0.0.1:8080/"][..],
        &["--ip", "::ffff:192.0.2.7", "GET http://127.0.0.1:8080/"][..],
        &["GET http://127.0.0.1:8080/.git/config"][..],
        &[
            "-H",
            "User-Agent: curl/8",
            "GET https://example.com/home?x=1",
        ][..],
        &["POST http://example.com/api/items"][..],
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(0), "{stderr}");
        transcript.push_str(&format!(
            "$ outpost rules test {}\n{stdout}\n",
            args.join(" ")
        ));
    }
    golden("rules-test.out", &transcript);

    let (code, _, stderr) = run(&["GET example.com/"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "outpost rules test: URL must start with http:// or https://\n"
    );
    let out = bin()
        .args(["rules", "test", "--config", "nope.toml", "http://a/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

/// A one-response-per-connection origin on a std thread: every answer is
/// cacheable for 10 minutes and tagged `t1`; counts the requests.
fn cacheable_origin() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            h.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\ncache-tag: t1\r\n\
                  content-length: 6\r\nconnection: close\r\n\r\ncached",
            );
        }
    });
    (addr, hits)
}

const CTL_TOKEN: &str = "ctl-test-token-0123456789";

fn ctl_purge(admin: SocketAddr, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin()
        .args(["ctl", "purge", "--admin", &format!("http://{admin}")])
        .args(args)
        .env_remove("OUTPOST_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ctl_purge_purges_through_the_admin_api_and_reports_failures_in_one_line() {
    use std::sync::atomic::Ordering;
    let (origin, hits) = cacheable_origin();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nwatch_config = false\n[access_log]\nenabled = false\n\
             [admin]\naddress = \"127.0.0.1:0\"\ntoken = \"{CTL_TOKEN}\"\n\
             [[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\
             [[pools]]\nname = \"origin\"\norigins = [\"{origin}\"]\n\
             [[routes]]\nname = \"cached\"\npool = \"origin\"\n[routes.cache]\n"
        ),
    )
    .unwrap();
    let serve = start(&cfg);
    let admin = serve.next_address("admin listening");
    assert!(http_get(serve.addr).ends_with("cached"));
    assert!(http_get(serve.addr).contains("cache-status: outpost; hit"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let (code, stdout, stderr) = ctl_purge(admin, &["--token", CTL_TOKEN, "--tag", "t1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("purged 1 object(s) in "), "{stdout}");
    assert!(http_get(serve.addr).contains("fwd=uri-miss"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The token may come from the environment; --soft marks stale.
    let out = bin()
        .args([
            "ctl",
            "purge",
            "--admin",
            &admin.to_string(),
            "--all",
            "--soft",
        ])
        .env("OUTPOST_ADMIN_TOKEN", CTL_TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("marked stale 1 object(s) in "));

    let (code, _, stderr) = ctl_purge(admin, &["--token", "not-the-token-0000", "--all"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "outpost ctl purge: the admin API answered 401 Unauthorized: invalid or missing bearer token\n"
    );
    let (code, _, stderr) = ctl_purge(admin, &["--token", CTL_TOKEN, "--url", "/no-host"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "outpost ctl purge: the admin API answered 400 Bad Request: invalid purge url \"/no-host\"\n"
    );

    // Nothing listening: one line, exit 1.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, stderr) = ctl_purge(dead, &["--token", CTL_TOKEN, "--all"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "outpost ctl purge: cannot reach the admin API at {dead}: "
        )),
        "{stderr}"
    );

    // Usage errors: no target, two targets, an https admin URL.
    assert_eq!(ctl_purge(admin, &["--token", CTL_TOKEN]).0, Some(2));
    assert_eq!(
        ctl_purge(admin, &["--token", CTL_TOKEN, "--all", "--tag", "x"]).0,
        Some(2)
    );
    let out = bin()
        .args([
            "ctl",
            "purge",
            "--admin",
            "https://127.0.0.1:9901",
            "--token",
            "t",
            "--all",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
