//! Rule phases and actions: the decision a request gets from the rules.
//!
//! Rules run in order within phases — `firewall` (the security phase), then
//! `transform` (edge logic); `ratelimit` joins with the rate-limit issue.
//! Each rule is a compiled [`Filter`] and an [`Action`]. Terminating actions
//! (`block`, `redirect`) end evaluation; `allow` ends the security phases;
//! `skip` turns off later rules or phases; header edits and rewrites
//! accumulate (later rules see the request as received, not as rewritten).
//! Evaluating allocates nothing unless a rule matches.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};

use crate::Request;
use crate::lang::{Filter, FilterSet};

mod template;

pub use template::{MAX_TEMPLATE_BYTES, Template};

/// The phases rules run in, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Security: block, allow, log, skip.
    Firewall,
    /// Edge logic: header edits, rewrites, redirects.
    Transform,
}

impl Phase {
    pub const ALL: [Phase; 2] = [Phase::Firewall, Phase::Transform];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Firewall => "firewall",
            Phase::Transform => "transform",
        }
    }

    /// Whether `allow` ends this phase (it ends every security phase).
    fn is_security(self) -> bool {
        matches!(self, Phase::Firewall)
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown phase {s:?}; expected \"firewall\" or \"transform\" (\"ratelimit\" comes with rate limiting)"))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a matching rule does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer at once with this response.
    Block(BlockResponse),
    /// Skip the rest of the security phases.
    Allow,
    /// Only record the rule id (in the access log and metrics).
    Log,
    /// Turn off later rules of these phases, and these later rules (indices
    /// into the rule set).
    Skip {
        phases: Vec<Phase>,
        rules: Vec<usize>,
    },
    SetRequestHeader(HeaderName, Template),
    RemoveRequestHeader(HeaderName),
    SetResponseHeader(HeaderName, Template),
    /// A new path and/or query for the request sent on (the route was chosen
    /// on the original). A query template that renders empty removes the query.
    Rewrite {
        path: Option<Template>,
        query: Option<Template>,
    },
    /// Answer with `status` and `Location: target`.
    Redirect {
        status: StatusCode,
        target: Template,
    },
}

impl Action {
    /// The action's name as written in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Block(_) => "block",
            Action::Allow => "allow",
            Action::Log => "log",
            Action::Skip { .. } => "skip",
            Action::SetRequestHeader(..) => "set_request_header",
            Action::RemoveRequestHeader(_) => "remove_request_header",
            Action::SetResponseHeader(..) => "set_response_header",
            Action::Rewrite { .. } => "rewrite",
            Action::Redirect { .. } => "redirect",
        }
    }
}

/// The response of a `block` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockResponse {
    /// Default 403.
    pub status: StatusCode,
    /// Default `Forbidden\n`.
    pub body: String,
    /// Default `text/plain; charset=utf-8`.
    pub content_type: HeaderValue,
}

impl Default for BlockResponse {
    fn default() -> Self {
        BlockResponse {
            status: StatusCode::FORBIDDEN,
            body: "Forbidden\n".into(),
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
        }
    }
}

/// One rule as the config defines it.
#[derive(Debug)]
pub struct Rule {
    /// Unique within the config; shown in the access log and metrics.
    pub id: Arc<str>,
    pub phase: Phase,
    pub filter: Filter,
    pub action: Action,
}

/// Every rule of a config, compiled, grouped by phase and indexed.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Rule metadata by global index (config order).
    meta: Vec<RuleMeta>,
    /// Per phase (in `Phase::ALL` order): the phase's filters and, for each,
    /// its global index.
    phases: Vec<(FilterSet, Vec<usize>)>,
}

#[derive(Debug)]
struct RuleMeta {
    id: Arc<str>,
    phase: Phase,
    action: Action,
}

/// A rule that matched, for logs, metrics and `outpost rules test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Global index of the rule (config order).
    pub rule: usize,
}

/// How evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal<'r> {
    Block(&'r BlockResponse),
    Redirect {
        status: StatusCode,
        location: String,
    },
}

/// A change to a request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit<'r> {
    Set(&'r HeaderName, String),
    Remove(&'r HeaderName),
}

/// Everything the rules decided for one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict<'r> {
    /// Every rule that matched and acted, in evaluation order.
    pub hits: Vec<Hit>,
    /// `Some` when a rule answers the request itself.
    pub terminal: Option<Terminal<'r>>,
    /// Request header edits, in order.
    pub request_headers: Vec<HeaderEdit<'r>>,
    /// Response headers to set, in order (a later one for the same name wins).
    pub response_headers: Vec<(&'r HeaderName, String)>,
    /// The rewritten path (`Some` when a rewrite changed it).
    pub path: Option<String>,
    /// The rewritten query: `Some(None)` removes it.
    pub query: Option<Option<String>>,
}

impl<'r> Verdict<'r> {
    /// Whether nothing matched (the common case, which allocated nothing).
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// State of one evaluation: what later rules are turned off.
#[derive(Default)]
struct Skips {
    phases: u8,
    /// Bitset over global rule indices; allocated on the first skip.
    rules: Vec<u64>,
}

impl Skips {
    fn phase(&self, p: Phase) -> bool {
        self.phases & (1 << p as u8) != 0
    }
    fn rule(&self, i: usize) -> bool {
        self.rules
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn skip_rule(&mut self, i: usize, total: usize) {
        if self.rules.is_empty() {
            self.rules = vec![0; total.div_ceil(64)];
        }
        self.rules[i / 64] |= 1 << (i % 64);
    }
}

impl RuleSet {
    /// Groups `rules` by phase, keeping config order within each phase.
    /// `Skip` indices refer to positions in `rules`.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let mut per_phase: Vec<(Vec<Filter>, Vec<usize>)> = Phase::ALL
            .iter()
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        let mut meta = Vec::with_capacity(rules.len());
        for (i, r) in rules.into_iter().enumerate() {
            let slot = &mut per_phase[r.phase as usize];
            slot.0.push(r.filter);
            slot.1.push(i);
            meta.push(RuleMeta {
                id: r.id,
                phase: r.phase,
                action: r.action,
            });
        }
        let phases = per_phase
            .into_iter()
            .map(|(filters, idx)| (FilterSet::new(filters), idx))
            .collect();
        RuleSet { meta, phases }
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// The id of rule `i` (global index).
    pub fn id(&self, i: usize) -> &Arc<str> {
        &self.meta[i].id
    }

    pub fn phase(&self, i: usize) -> Phase {
        self.meta[i].phase
    }

    pub fn action(&self, i: usize) -> &Action {
        &self.meta[i].action
    }

    /// Runs every phase against `req`.
    pub fn evaluate<'r>(&'r self, req: &Request<'_>) -> Verdict<'r> {
        let mut verdict = Verdict::default();
        let skips = RefCell::new(Skips::default());
        for (phase, (set, globals)) in Phase::ALL.into_iter().zip(&self.phases) {
            if set.is_empty() || skips.borrow().phase(phase) {
                continue;
            }
            let mut end_phase = false;
            set.for_each_match(
                req,
                |local| skips.borrow().rule(globals[local]),
                |local| {
                    let g = globals[local];
                    verdict.hits.push(Hit { rule: g });
                    let flow = self.apply(g, req, &mut verdict, &mut skips.borrow_mut());
                    end_phase = matches!(flow, Flow::EndPhase);
                    flow == Flow::Next && !skips.borrow().phase(phase)
                },
            );
            if verdict.terminal.is_some() {
                break;
            }
            if end_phase && phase.is_security() {
                let mut s = skips.borrow_mut();
                for p in Phase::ALL.into_iter().filter(|p| p.is_security()) {
                    s.phases |= 1 << p as u8;
                }
            }
        }
        verdict
    }

    /// Applies rule `g`'s action; says whether evaluation goes on.
    fn apply<'r>(
        &'r self,
        g: usize,
        req: &Request<'_>,
        v: &mut Verdict<'r>,
        skips: &mut Skips,
    ) -> Flow {
        match &self.meta[g].action {
            Action::Block(b) => {
                v.terminal = Some(Terminal::Block(b));
                return Flow::Stop;
            }
            Action::Redirect { status, target } => {
                v.terminal = Some(Terminal::Redirect {
                    status: *status,
                    location: target.render(req),
                });
                return Flow::Stop;
            }
            Action::Allow => return Flow::EndPhase,
            Action::Log => {}
            Action::Skip { phases, rules } => {
                for p in phases {
                    skips.phases |= 1 << *p as u8;
                }
                for &r in rules {
                    skips.skip_rule(r, self.meta.len());
                }
            }
            Action::SetRequestHeader(name, value) => {
                v.request_headers
                    .push(HeaderEdit::Set(name, value.render(req)));
            }
            Action::RemoveRequestHeader(name) => v.request_headers.push(HeaderEdit::Remove(name)),
            Action::SetResponseHeader(name, value) => {
                v.response_headers.push((name, value.render(req)))
            }
            Action::Rewrite { path, query } => {
                if let Some(p) = path {
                    v.path = Some(p.render(req));
                }
                if let Some(q) = query {
                    let q = q.render(req);
                    let q = q.strip_prefix('?').map(str::to_owned).unwrap_or(q);
                    v.query = Some((!q.is_empty()).then_some(q));
                }
            }
        }
        Flow::Next
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    EndPhase,
    Stop,
}
