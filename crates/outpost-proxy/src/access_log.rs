//! The access-log writer: records travel from the request path through a
//! bounded channel to one writer thread, which serializes and writes them.
//! A full channel drops the record and counts it; requests never wait on disk.
//! `reopen()` (SIGUSR1) closes and reopens the file for log rotation.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use outpost_config::{AccessLog as AccessLogConfig, LogTarget};
use outpost_logs::record::AccessRecord;

use crate::metrics::Metrics;

/// Bytes buffered by the writer before a write(2). 64 KiB.
const WRITE_BUFFER: usize = 64 * 1024;

enum Msg {
    Record(Box<AccessRecord>),
    Reopen,
}

/// Handle to a running writer; cloned into every request's observation.
#[derive(Clone)]
pub struct AccessLogger {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
    pub config: AccessLogConfig,
}

impl AccessLogger {
    /// Starts the writer thread. The file is opened (created, appended) now so a
    /// bad path is reported at startup or reload rather than lost later.
    pub fn start(config: &AccessLogConfig, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let sink = open(&config.target)?;
        let (tx, rx) = sync_channel(config.buffer);
        let target = config.target.clone();
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("outpost-access-log".into())
            .spawn(move || writer(rx, sink, target, m))?;
        Ok(AccessLogger {
            tx,
            metrics,
            config: config.clone(),
        })
    }

    /// Queues a record; never blocks. Drops and counts when the buffer is full.
    pub fn log(&self, record: Box<AccessRecord>) {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.access_log_dropped.inc();
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Asks the writer to reopen its file (after rotation). Never blocks.
    pub fn reopen(&self) {
        let _ = self.tx.try_send(Msg::Reopen);
    }
}

fn open(target: &LogTarget) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match target {
        LogTarget::Stdout => Box::new(BufWriter::with_capacity(WRITE_BUFFER, std::io::stdout())),
        LogTarget::File(path) => {
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            Box::new(BufWriter::with_capacity(WRITE_BUFFER, f))
        }
    })
}

fn writer(
    rx: Receiver<Msg>,
    mut sink: Box<dyn Write + Send>,
    target: LogTarget,
    metrics: Arc<Metrics>,
) {
    let mut line = Vec::with_capacity(1024);
    // Block for the next message; then drain what is queued before flushing, so
    // a burst costs one write(2).
    while let Ok(mut msg) = rx.recv() {
        loop {
            match msg {
                Msg::Record(r) => {
                    line.clear();
                    r.to_json_line(&mut line);
                    if sink.write_all(&line).is_err() {
                        metrics.access_log_write_errors.inc();
                    }
                }
                Msg::Reopen => {
                    let _ = sink.flush();
                    match open(&target) {
                        Ok(s) => sink = s,
                        Err(e) => {
                            metrics.access_log_write_errors.inc();
                            tracing::error!(error = %e, "cannot reopen access log; keeping the old file");
                        }
                    }
                }
            }
            match rx.try_recv() {
                Ok(m) => msg = m,
                Err(_) => break,
            }
        }
        if sink.flush().is_err() {
            metrics.access_log_write_errors.inc();
        }
    }
    let _ = sink.flush();
}
