//! Comparison, text and set operators: type rules and the closures they
//! compile to.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use memchr::memmem::Finder;
use regex::bytes::{Regex, RegexBuilder};

use super::{
    Compiler, Int, Ip, Pred, Str, Typed, describe, int_test, into_each, into_each_int, str_test,
};
use crate::ip::IpList;
use crate::lang::ast::{CmpOp, Compare, In, Literal, Member, Set, Span, ValueKind, full_len};
use crate::lang::fields::{self, Ty};
use crate::lang::glob::Glob;
use crate::lang::runtime;
use crate::lang::{MAX_REGEX_INPUT, MAX_REGEX_SIZE};

/// Sets up to this size are scanned; bigger ones are hashed.
const SMALL_SET: usize = 8;

impl Compiler<'_> {
    pub(super) fn compare(&mut self, c: &Compare) -> Option<Pred> {
        if let Some(p) = self.lower_literal(c) {
            return p;
        }
        let l = self.value(&c.lhs);
        let r = self.value(&c.rhs);
        let (l, r) = (l?, r?);
        match c.op {
            CmpOp::Contains | CmpOp::Matches | CmpOp::Wildcard => self.text_op(c, l, r),
            _ => self.order_op(c, l, r),
        }
    }

    /// `lower(x) == "lit"` and `lower(x) contains "lit"` with a lowercase
    /// literal compare `x` itself ignoring ASCII case: no lowered copy. `None`
    /// when the comparison has another shape.
    fn lower_literal(&mut self, c: &Compare) -> Option<Option<Pred>> {
        let (ValueKind::Call(call), ValueKind::Lit(Literal::Str(lit))) = (&c.lhs.kind, &c.rhs.kind)
        else {
            return None;
        };
        let shape = call.name == "lower" && call.args.len() == 1;
        let op = matches!(c.op, CmpOp::Eq | CmpOp::Contains);
        if !shape || !op || lit.is_empty() || lit.iter().any(u8::is_ascii_uppercase) {
            return None;
        }
        let s = self.str_arg("lower", &call.args[0]);
        let lit = lit.clone();
        Some(s.map(|s| match c.op {
            CmpOp::Eq => str_test(s, move |v| v.eq_ignore_ascii_case(&lit)),
            _ => str_test(s, move |v| runtime::contains_ignore_case(v, &lit)),
        }))
    }

    fn text_op(&mut self, c: &Compare, l: Typed, r: Typed) -> Option<Pred> {
        let op = c.op.as_str();
        let Typed::Str(s) = l else {
            let msg = format!(
                "operator \"{op}\" needs a string, but {} is {}",
                describe(&c.lhs),
                l.ty().noun()
            );
            self.error(c.lhs.span, msg);
            return None;
        };
        let Typed::Str(Str::Lit(pat)) = r else {
            let msg = format!("operator \"{op}\" needs a string literal on its right");
            self.error(c.rhs.span, msg);
            return None;
        };
        Some(match c.op {
            CmpOp::Contains => {
                let finder = Finder::new(&pat).into_owned();
                str_test(s, move |v| finder.find(v).is_some())
            }
            CmpOp::Matches => {
                let re = self.regex(&pat, c.rhs.span)?;
                str_test(s, move |v| re.is_match(&v[..v.len().min(MAX_REGEX_INPUT)]))
            }
            _ => {
                let glob = Glob::new(&pat);
                str_test(s, move |v| glob.matches(v))
            }
        })
    }

    fn regex(&mut self, pat: &[u8], span: Span) -> Option<Regex> {
        let Ok(pat) = std::str::from_utf8(pat) else {
            self.error(span, "a regex must be valid UTF-8".to_owned());
            return None;
        };
        let built = RegexBuilder::new(pat)
            .size_limit(MAX_REGEX_SIZE)
            .dfa_size_limit(MAX_REGEX_SIZE)
            .build();
        match built {
            Ok(re) => Some(re),
            Err(regex::Error::CompiledTooBig(_)) => {
                let msg = format!(
                    "regex is too big: compiled, it exceeds the {} KiB limit",
                    MAX_REGEX_SIZE / 1024
                );
                self.error(span, msg);
                None
            }
            Err(e) => {
                self.error(span, format!("invalid regex: {}", regex_reason(&e)));
                None
            }
        }
    }

    fn order_op(&mut self, c: &Compare, l: Typed, r: Typed) -> Option<Pred> {
        let eq_only = matches!(c.op, CmpOp::Eq | CmpOp::Ne);
        match (l, r) {
            (Typed::Str(a), Typed::Str(b)) => Some(str_cmp(a, c.op, b)),
            (Typed::Int(a), Typed::Int(b)) => Some(int_cmp(a, c.op, b)),
            (Typed::Bool(a), Typed::Bool(b)) if eq_only => {
                let ne = c.op == CmpOp::Ne;
                Some(Box::new(move |e| (a(e) == b(e)) != ne))
            }
            (Typed::Ip(a), Typed::Ip(b)) if eq_only => Some(ip_eq(a, c.op == CmpOp::Ne, b)),
            (l, r) if l.ty() == r.ty() => {
                let msg = format!(
                    "operator \"{}\" needs strings or integers, but {} is {}",
                    c.op.as_str(),
                    describe(&c.lhs),
                    l.ty().noun()
                );
                self.error(c.op_span, msg);
                None
            }
            (l, r) => {
                let msg = format!(
                    "cannot compare {} ({}) with {} ({})",
                    describe(&c.lhs),
                    l.ty().noun(),
                    describe(&c.rhs),
                    r.ty().noun()
                );
                self.error(c.lhs.span.to(c.rhs.span), msg);
                None
            }
        }
    }

    pub(super) fn in_set(&mut self, i: &In) -> Option<Pred> {
        let l = self.value(&i.lhs)?;
        match &i.set {
            Set::List(name) => self.in_list(l, name, i),
            Set::Members(m) => self.in_members(l, m, i),
        }
    }

    fn in_list(&mut self, l: Typed, name: &str, i: &In) -> Option<Pred> {
        let Typed::Ip(ip) = l else {
            let msg = format!(
                "in ${name} needs an IP address on its left, but {} is {}",
                describe(&i.lhs),
                l.ty().noun()
            );
            self.error(i.lhs.span, msg);
            return None;
        };
        let Some(list) = self.lists.get(name) else {
            let hint = fields::suggest(name, self.lists.keys().map(String::as_str));
            self.error(i.set_span, format!("unknown IP list ${name}{hint}"));
            return None;
        };
        Some(ip_in(ip, Arc::clone(list)))
    }

    fn in_members(&mut self, l: Typed, members: &[Member], i: &In) -> Option<Pred> {
        let ty = l.ty();
        if ty == Ty::Bool {
            let msg = format!(
                "in {{...}} needs a string, integer or IP address on its left, but {} is a boolean",
                describe(&i.lhs)
            );
            self.error(i.lhs.span, msg);
            return None;
        }
        let mut ok = true;
        for m in members {
            let mty = super::literal(&m.lit).ty();
            if mty != ty {
                ok = false;
                let msg = format!(
                    "set member {} is {}, but {} is {}",
                    m.lit,
                    mty.noun(),
                    describe(&i.lhs),
                    ty.noun()
                );
                self.error(m.span, msg);
            }
        }
        ok.then(|| set_pred(l, members))
    }
}

/// The first line of the regex crate's message that says what is wrong.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or(""))
        .to_owned()
}

fn order(op: CmpOp) -> fn(Ordering) -> bool {
    match op {
        CmpOp::Eq => Ordering::is_eq,
        CmpOp::Ne => Ordering::is_ne,
        CmpOp::Lt => Ordering::is_lt,
        CmpOp::Le => Ordering::is_le,
        CmpOp::Gt => Ordering::is_gt,
        _ => Ordering::is_ge,
    }
}

/// `a op b` on strings: bytewise, so lexicographic for ordering.
fn str_cmp(a: Str, op: CmpOp, b: Str) -> Pred {
    let t = order(op);
    match (a, b) {
        (a, Str::Lit(l)) if op == CmpOp::Eq => str_test(a, move |v| v == l.as_slice()),
        (a, Str::Lit(l)) if op == CmpOp::Ne => str_test(a, move |v| v != l.as_slice()),
        (a, Str::Lit(l)) => str_test(a, move |v| t(v.cmp(&l))),
        (Str::Lit(l), b) => str_test(b, move |v| t(l.as_slice().cmp(v))),
        (a, b) => {
            let (a, b) = (into_each(a), into_each(b));
            Box::new(move |e| a(e, &mut |x| b(e, &mut |y| t(x.cmp(y)))))
        }
    }
}

fn int_cmp(a: Int, op: CmpOp, b: Int) -> Pred {
    let t = order(op);
    match (a, b) {
        (a, Int::Lit(n)) => int_test(a, move |v| t(v.cmp(&n))),
        (Int::Lit(n), b) => int_test(b, move |v| t(n.cmp(&v))),
        (a, b) => {
            let (a, b) = (into_each_int(a), into_each_int(b));
            Box::new(move |e| a(e, &mut |x| b(e, &mut |y| t(x.cmp(&y)))))
        }
    }
}

/// `ip.src == 10.0.0.0/8` means "inside the prefix"; an address is its
/// own full-length prefix.
fn ip_eq(a: Ip, ne: bool, b: Ip) -> Pred {
    match (a, b) {
        (Ip::Src, Ip::Lit(c)) | (Ip::Lit(c), Ip::Src) if c.len() == full_len(&c) => {
            let addr = c.addr();
            Box::new(move |e| (e.req.client_ip == addr) != ne)
        }
        (Ip::Src, Ip::Lit(c)) | (Ip::Lit(c), Ip::Src) => {
            Box::new(move |e| c.contains(e.req.client_ip) != ne)
        }
        (Ip::Lit(x), Ip::Lit(y)) => {
            let r = (x == y) != ne;
            Box::new(move |_| r)
        }
        (Ip::Src, Ip::Src) => Box::new(move |_| !ne),
    }
}

fn ip_in(ip: Ip, list: Arc<IpList>) -> Pred {
    match ip {
        Ip::Src => Box::new(move |e| list.contains(e.req.client_ip)),
        Ip::Lit(c) => {
            let r = list.contains(c.addr());
            Box::new(move |_| r)
        }
    }
}

/// Builds the set for `l in { members }` (types already checked).
fn set_pred(l: Typed, members: &[Member]) -> Pred {
    match l {
        Typed::Str(s) => {
            let set = StrSet::new(members.iter().filter_map(|m| match &m.lit {
                Literal::Str(s) => Some(s.as_slice()),
                _ => None,
            }));
            str_test(s, move |v| set.contains(v))
        }
        Typed::Int(n) => {
            let mut set: Vec<i64> = members
                .iter()
                .filter_map(|m| match m.lit {
                    Literal::Int(n) => Some(n),
                    _ => None,
                })
                .collect();
            set.sort_unstable();
            set.dedup();
            int_test(n, move |v| set.binary_search(&v).is_ok())
        }
        Typed::Ip(ip) => {
            let list = IpList::new(members.iter().filter_map(|m| match m.lit {
                Literal::Ip(c) => Some(c),
                _ => None,
            }));
            ip_in(ip, Arc::new(list))
        }
        Typed::Bool(_) => Box::new(|_| false),
    }
}

/// A set of byte strings: a short list scanned in order, or a hash set.
enum StrSet {
    Small(Vec<Box<[u8]>>),
    Hash(HashSet<Box<[u8]>>),
}

impl StrSet {
    fn new<'a>(members: impl Iterator<Item = &'a [u8]>) -> StrSet {
        let set: HashSet<Box<[u8]>> = members.map(Box::from).collect();
        if set.len() <= SMALL_SET {
            StrSet::Small(set.into_iter().collect())
        } else {
            StrSet::Hash(set)
        }
    }

    fn contains(&self, v: &[u8]) -> bool {
        match self {
            StrSet::Small(list) => list.iter().any(|m| **m == *v),
            StrSet::Hash(set) => set.contains(v),
        }
    }
}
