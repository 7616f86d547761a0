//! `outpost serve`: loads the config, starts the server, and turns process
//! events into server calls: SIGHUP and config-file changes reload, SIGUSR1
//! reopens the access log, SIGTERM/SIGINT drain and exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher;
use outpost_proxy::{Server, StartError};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

/// File-change events are coalesced for this long before reloading, so an
/// editor's write-rename-chmod sequence causes one reload. 250 ms.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(250);

pub fn serve(path: &Path) -> ExitCode {
    init_tracing();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = match outpost_config::load_file(path) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.render(path));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // One worker: a current-thread runtime, no work-stealing bookkeeping and no
    // cross-thread wake-ups. More: tokio's multi-thread scheduler.
    let mut rt = if config.server.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if config.server.workers > 0 {
            b.worker_threads(config.server.workers);
        }
        b
    };
    let rt = match rt.enable_all().thread_name("outpost-worker").build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    rt.block_on(run(config, path.to_path_buf()))
}

async fn run(config: outpost_config::Config, path: PathBuf) -> ExitCode {
    // The watch starts before the listeners do, so a change made as soon as
    // the node reports its address is never missed; it is applied once the
    // server is up.
    let watch = config
        .server
        .watch_config
        .then(|| watch_file(&path))
        .flatten();
    let server = match Server::start(config, Some(path.clone())).await {
        Ok(s) => s,
        Err(StartError::Config(errors)) => {
            let err = outpost_config::LoadError::Invalid(errors);
            eprint!("{}", err.render(&path));
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("outpost: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if let Some(a) = server.admin_addr().await {
        tracing::info!(address = %a, "admin listening");
    }
    let _watcher = watch.map(|(watcher, changes)| {
        reload_on_change(changes, server.clone());
        watcher
    });
    match wait_for_signals(&server).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpost: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

async fn wait_for_signals(server: &Arc<Server>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Errors are logged by the server; the old config keeps serving.
                let _ = server.reload_from_file().await;
            }
            _ = usr1.recv() => server.reopen_logs(),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let deadline = server.shared.runtime.load().config.server.shutdown_timeout;
    tracing::info!(?deadline, "shutting down: draining connections");
    if server.shutdown(deadline).await {
        tracing::info!("drained; exiting");
    } else {
        tracing::warn!("shutdown deadline passed with connections still open; exiting");
    }
    Ok(())
}

/// Watches the config file's directory (editors replace files by rename);
/// the receiver gets a signal when the file changes (one pending at most).
fn watch_file(path: &Path) -> Option<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let file = std::fs::canonicalize(path).ok()?;
    let dir = file.parent()?.to_path_buf();
    let (tx, rx) = mpsc::channel::<()>(1);
    let target = file.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && ev
                .paths
                .iter()
                .any(|p| p == &target || p.file_name() == target.file_name())
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot watch config file; use SIGHUP to reload"))
    .ok()?;
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .map_err(
            |e| tracing::warn!(error = %e, "cannot watch config directory; use SIGHUP to reload"),
        )
        .ok()?;
    Some((watcher, rx))
}

/// Reloads from the file on every change signal, after `WATCH_DEBOUNCE` so
/// one save (often several events) makes one reload.
fn reload_on_change(mut changes: mpsc::Receiver<()>, server: Arc<Server>) {
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            tokio::time::sleep(WATCH_DEBOUNCE).await;
            while changes.try_recv().is_ok() {}
            let _ = server.reload_from_file().await;
        }
    });
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OUTPOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
