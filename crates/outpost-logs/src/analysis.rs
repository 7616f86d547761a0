//! One entry point for every report: `ReportSpec` says which report with which options,
//! `Analysis` runs it over inputs (files, streams, or followed growth), and `Report` is
//! the result, serialisable for `--json` and renderable as a `Document`.

use serde::Serialize;

use crate::engine::{InputInfo, ScanConfig, Session, Tally};
use crate::filter::Filter;
use crate::input::{InputError, Source};
use crate::report::Document;
use crate::report::errors::{ErrorsAnalyzer, ErrorsReport};
use crate::report::summary::{SummaryAnalyzer, SummaryReport};
use crate::report::threats::{ThreatConfig, ThreatsAnalyzer, ThreatsReport};
use crate::report::timeline::{TimelineAnalyzer, TimelineReport};
use crate::report::top::{TopAnalyzer, TopOptions, TopReport};

/// Which report to build.
#[derive(Debug, Clone)]
pub enum ReportSpec {
    Top(TopOptions),
    Errors {
        n: usize,
        capacity: Option<usize>,
        bucket_ms: Option<i64>,
    },
    Timeline {
        bucket_ms: Option<i64>,
    },
    Summary {
        exact: bool,
    },
    Threats(ThreatConfig),
}

/// A finished report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    Top(TopReport),
    Errors(ErrorsReport),
    Timeline(TimelineReport),
    Summary(SummaryReport),
    Threats(ThreatsReport),
}

impl Report {
    pub fn document(&self) -> Document {
        match self {
            Report::Top(r) => r.document(),
            Report::Errors(r) => r.document(),
            Report::Timeline(r) => r.document(),
            Report::Summary(r) => r.document(),
            Report::Threats(r) => r.document(),
        }
    }
}

/// A report being computed. One exists per run, so variant sizes do not matter.
#[allow(clippy::large_enum_variant, reason = "one value per run")]
pub enum Analysis {
    Top(Session<TopAnalyzer>),
    Errors(Session<ErrorsAnalyzer>),
    Timeline(Session<TimelineAnalyzer>),
    Summary(Session<SummaryAnalyzer>),
    Threats(Session<ThreatsAnalyzer>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Analysis::Top($s) => $e,
            Analysis::Errors($s) => $e,
            Analysis::Timeline($s) => $e,
            Analysis::Summary($s) => $e,
            Analysis::Threats($s) => $e,
        }
    };
}

impl Analysis {
    pub fn new(spec: ReportSpec, filter: &Filter) -> Analysis {
        match spec {
            ReportSpec::Top(o) => Analysis::Top(Session::new(TopAnalyzer(o), filter)),
            ReportSpec::Errors {
                n,
                capacity,
                bucket_ms,
            } => Analysis::Errors(Session::new(
                ErrorsAnalyzer {
                    n,
                    capacity,
                    width_ms: bucket_ms,
                },
                filter,
            )),
            ReportSpec::Timeline { bucket_ms } => Analysis::Timeline(Session::new(
                TimelineAnalyzer {
                    width_ms: bucket_ms,
                },
                filter,
            )),
            ReportSpec::Summary { exact } => {
                Analysis::Summary(Session::new(SummaryAnalyzer { exact }, filter))
            }
            ReportSpec::Threats(c) => {
                Analysis::Threats(Session::new(ThreatsAnalyzer::new(c), filter))
            }
        }
    }

    /// Reads a whole source (see `Session::read_source`).
    pub fn read_source(&mut self, source: &Source, cfg: &ScanConfig<'_>) -> Result<(), InputError> {
        each!(self, s => s.read_source(source, cfg))
    }

    /// Registers an input fed with `feed` (follow mode); returns its index.
    pub fn add_input(&mut self, name: String) -> u32 {
        each!(self, s => s.add_input(name))
    }

    /// Feeds whole lines of input `idx` starting at `base_offset` / `base_line`.
    pub fn feed(
        &mut self,
        idx: u32,
        buf: &[u8],
        base_offset: u64,
        base_line: u64,
        cfg: &ScanConfig<'_>,
    ) -> u64 {
        each!(self, s => s.feed(idx, buf, base_offset, base_line, cfg))
    }

    pub fn tally(&self) -> &Tally {
        each!(self, s => &s.tally)
    }

    pub fn inputs(&self) -> &[InputInfo] {
        each!(self, s => &s.inputs)
    }

    pub fn report(&self) -> Report {
        match self {
            Analysis::Top(s) => Report::Top(s.analyzer.report(&s.acc)),
            Analysis::Errors(s) => Report::Errors(s.analyzer.report(&s.acc)),
            Analysis::Timeline(s) => Report::Timeline(s.analyzer.report(&s.acc)),
            Analysis::Summary(s) => Report::Summary(s.analyzer.report(&s.acc)),
            Analysis::Threats(s) => Report::Threats(s.analyzer.report(&s.acc)),
        }
    }
}

/// The `--json` output: the report and the input accounting.
#[derive(Debug, Serialize)]
pub struct JsonOutput<'a> {
    pub report: &'a Report,
    pub inputs: &'a [InputInfo],
    pub lines: &'a Tally,
}
