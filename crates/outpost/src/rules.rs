//! `outpost rules test`: runs a config's rules against one request described
//! on the command line and prints which rules matched, in order, and the
//! final decision — the same evaluation the proxy runs, without a socket.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use outpost_rules::OwnedRequest;
use outpost_rules::engine::{Action, HeaderEdit, RuleSet, Terminal, Verdict};

use crate::EXIT_CONFIG;

#[derive(Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Evaluate the rules of a config against one request.
    #[command(
        after_help = "Example: outpost rules test --config outpost.toml --ip 1.2.3.4 \
        -H 'User-Agent: curl/8' 'GET https://example.com/admin?x=1'"
    )]
    Test {
        /// Path to the TOML configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Client IP address (ip.src).
        #[arg(long, default_value = "127.0.0.1")]
        ip: IpAddr,
        /// A request header, 'Name: value'; repeat for more.
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        #[arg(
            help = "The request: '[METHOD] URL', e.g. 'GET https://example.com/admin?x=1'. \
            An https URL stands for a TLS 1.3 connection with the URL's host as SNI."
        )]
        request: String,
    },
}

pub fn run(args: RulesArgs) -> ExitCode {
    match args.command {
        RulesCommand::Test {
            config,
            ip,
            headers,
            request,
        } => test(&config, ip, &headers, &request),
    }
}

fn test(file: &std::path::Path, ip: IpAddr, headers: &[String], line: &str) -> ExitCode {
    let req = match OwnedRequest::parse(line, ip, headers) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("outpost rules test: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match outpost_config::load_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.render(file));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let verdict = config.rules.evaluate(&req.view());
    print!("{}", report(&config.rules, &req, &verdict));
    ExitCode::SUCCESS
}

/// The human-readable result: matched rules in order, then the decision.
fn report(rules: &RuleSet, req: &OwnedRequest, v: &Verdict<'_>) -> String {
    let mut out = String::new();
    let scheme = if req.tls.is_some() { "https" } else { "http" };
    let _ = writeln!(
        out,
        "request: {} {scheme}://{}{} from {} ({} rules in config)",
        req.method,
        req.host,
        req.uri,
        req.view().client_ip,
        rules.len()
    );
    if v.hits.is_empty() {
        out.push_str("matched: none\n");
    }
    for (n, hit) in v.hits.iter().enumerate() {
        let action = rules.action(hit.rule);
        let _ = writeln!(
            out,
            "matched {}: {} [{}] -> {}",
            n + 1,
            rules.id(hit.rule),
            rules.phase(hit.rule),
            describe(action)
        );
    }
    out.push_str(&decision(rules, v));
    out
}

fn describe(action: &Action) -> String {
    match action {
        Action::Block(b) => format!("block {}", b.status.as_u16()),
        Action::Redirect { status, .. } => format!("redirect {}", status.as_u16()),
        other => other.name().to_string(),
    }
}

fn decision(rules: &RuleSet, v: &Verdict<'_>) -> String {
    let mut out = String::new();
    let last = v.hits.last().map(|h| rules.id(h.rule).to_string());
    match &v.terminal {
        Some(Terminal::Block(b)) => {
            let _ = writeln!(
                out,
                "decision: block with {} (rule {})",
                b.status,
                last.unwrap_or_default()
            );
            return out;
        }
        Some(Terminal::Redirect { status, location }) => {
            let _ = writeln!(
                out,
                "decision: redirect {} to {location} (rule {})",
                status.as_u16(),
                last.unwrap_or_default()
            );
            return out;
        }
        None => out.push_str("decision: pass to the route\n"),
    }
    for edit in &v.request_headers {
        let _ = match edit {
            HeaderEdit::Set(name, value) => writeln!(out, "  request header {name}: {value}"),
            HeaderEdit::Remove(name) => writeln!(out, "  request header {name} removed"),
        };
    }
    if let Some(p) = &v.path {
        let _ = writeln!(out, "  path rewritten to {p}");
    }
    match &v.query {
        Some(Some(q)) => {
            let _ = writeln!(out, "  query rewritten to {q}");
        }
        Some(None) => out.push_str("  query removed\n"),
        None => {}
    }
    for (name, value) in &v.response_headers {
        let _ = writeln!(out, "  response header {name}: {value}");
    }
    out
}
