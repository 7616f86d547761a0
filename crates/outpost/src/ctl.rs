//! `outpost ctl`: operates a running node through its admin API. `purge`
//! sends one `POST /purge` (the cache's `Purge` JSON, so the wire format
//! has one owner) with the bearer token and prints what the node did.
//!
//! Exit codes: 0 done; 1 the admin API could not be reached, timed out or
//! refused the request (the reason is printed on one line); 2 usage error.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{ArgGroup, Args, Subcommand};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use outpost_cache::{Purge, PurgeMode, PurgeTarget};

use crate::EXIT_RUNTIME;

/// Exit code for a usage error found after parsing (clap uses 2 too).
const EXIT_USAGE: u8 = 2;
/// Largest admin answer read. 64 KiB.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Args)]
pub struct CtlArgs {
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Purge cached objects on a running node (hard: delete; --soft: mark stale).
    #[command(
        after_help = "Examples:\n  outpost ctl purge --token T --url https://example.com/a?x=1\n  \
        outpost ctl purge --token T --prefix example.com/static/ --soft\n  \
        outpost ctl purge --admin http://10.0.0.5:9901 --tag product-42\n\n\
        Exit codes: 0 purged, 1 admin API unreachable or request refused, 2 usage error."
    )]
    Purge(PurgeArgs),
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("what").required(true).args(["url", "prefix", "host", "tag", "all"])
))]
struct PurgeArgs {
    /// The node's admin listener.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9901")]
    admin: String,
    /// The admin bearer token (admin.token in the node's config).
    #[arg(long, env = "OUTPOST_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    /// One URL with all its variants: `https://example.com/a?x=1` or `example.com/a`.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Every URL of a host under a path prefix: `example.com/static/`.
    #[arg(long, value_name = "HOST/PATH")]
    prefix: Option<String>,
    /// Every object of a host.
    #[arg(long)]
    host: Option<String>,
    /// Every object whose tag header (`Cache-Tag`) listed this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Everything.
    #[arg(long)]
    all: bool,
    /// Mark stale instead of deleting: the next request revalidates, and
    /// stale-if-error may still serve the object while the origin is down.
    #[arg(long)]
    soft: bool,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    timeout: u64,
}

pub fn run(args: CtlArgs) -> ExitCode {
    match args.command {
        CtlCommand::Purge(p) => purge(p),
    }
}

fn purge(args: PurgeArgs) -> ExitCode {
    let authority = match admin_authority(&args.admin) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("outpost ctl purge: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let request = Purge {
        target: target(&args),
        mode: if args.soft {
            PurgeMode::Soft
        } else {
            PurgeMode::Hard
        },
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost ctl purge: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let call = post_purge(&authority, &args.token, &request);
    let limit = Duration::from_secs(args.timeout);
    let answer = rt.block_on(async {
        match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "no answer from the admin API at {authority} within {}s",
                args.timeout
            )),
        }
    });
    match answer {
        Ok(done) => {
            let mode = if args.soft { "marked stale" } else { "purged" };
            println!(
                "{mode} {} object(s) in {} ms",
                done.objects, done.elapsed_ms
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outpost ctl purge: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn target(args: &PurgeArgs) -> PurgeTarget {
    // clap's group guarantees exactly one of them.
    if let Some(url) = &args.url {
        PurgeTarget::Url { url: url.clone() }
    } else if let Some(prefix) = &args.prefix {
        PurgeTarget::Prefix {
            prefix: prefix.clone(),
        }
    } else if let Some(host) = &args.host {
        PurgeTarget::Host { host: host.clone() }
    } else if let Some(tag) = &args.tag {
        PurgeTarget::Tag { tag: tag.clone() }
    } else {
        PurgeTarget::All
    }
}

/// `http://HOST:PORT` (or `HOST:PORT`) to `HOST:PORT`. The admin listener
/// speaks plain HTTP on loopback or a private interface.
fn admin_authority(admin: &str) -> anyhow::Result<String> {
    if admin.starts_with("https://") {
        bail!("--admin {admin:?}: the admin API is plain HTTP; use http://HOST:PORT");
    }
    let rest = admin.strip_prefix("http://").unwrap_or(admin);
    let authority = rest.trim_end_matches('/');
    let uri: http::Uri = format!("http://{authority}/")
        .parse()
        .ok()
        .filter(|u: &http::Uri| u.port_u16().is_some() && u.path() == "/")
        .with_context(|| format!("--admin {admin:?}: expected http://HOST:PORT"))?;
    Ok(uri.authority().map(ToString::to_string).unwrap_or_default())
}

/// What the node answered to a purge.
#[derive(serde::Deserialize)]
struct Done {
    objects: u64,
    elapsed_ms: f64,
}

async fn post_purge(authority: &str, token: &str, purge: &Purge) -> anyhow::Result<Done> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("cannot reach the admin API at {authority}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("cannot talk HTTP to the admin API at {authority}"))?;
    tokio::spawn(conn);
    let body = serde_json::to_vec(purge).context("cannot encode the purge request")?;
    let req = http::Request::post("/purge")
        .header(http::header::HOST, authority)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .context("cannot build the request (is the token printable ASCII?)")?;
    let resp = sender
        .send_request(req)
        .await
        .with_context(|| format!("the admin API at {authority} closed the connection"))?;
    let status = resp.status();
    let answer = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the admin API's answer: {e}"))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&answer);
        let reason = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        bail!("the admin API answered {status}: {reason}");
    }
    serde_json::from_slice(&answer).context("unexpected answer from the admin API")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(
            admin_authority("http://127.0.0.1:9901").unwrap(),
            "127.0.0.1:9901"
        );
        assert_eq!(admin_authority("[::1]:9901/").unwrap(), "[::1]:9901");
        assert!(admin_authority("https://127.0.0.1:9901").is_err());
        assert!(admin_authority("127.0.0.1").is_err());
        assert!(admin_authority("http://127.0.0.1:9901/x").is_err());
    }
}
