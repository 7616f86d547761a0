//! The [`FilterSet`](super::FilterSet) index: which filters can possibly
//! match a request, judged by the literal hosts and paths they require.
//!
//! A filter that provably requires `http.host == "x"` (or `in {..}`), an
//! exact `http.request.uri.path`, or `starts_with(http.request.uri.path,
//! "/p")` is filed under those literals; every other filter is evaluated
//! for every request. Only requirements that hold on every path to `true`
//! count: a conjunct of an `and`, or the same kind of requirement on every
//! branch of an `or`. Anything else (under `not`, `xor`, `any`, ...) is not
//! a requirement, and the filter is always evaluated.

use std::collections::HashMap;

use super::ast::{CmpOp, Expr, Literal, Set, Value, ValueKind};
use super::fields::{HOST, PATH};
use crate::Request;

/// What a filter requires of a request, as far as analysis can prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hint {
    None,
    /// The host is one of these.
    Hosts(Vec<Vec<u8>>),
    /// The path is one of these.
    Paths(Vec<Vec<u8>>),
    /// The path starts with one of these.
    Prefixes(Vec<Vec<u8>>),
}

impl Hint {
    /// The requirement `e` imposes.
    pub(crate) fn of(e: &Expr) -> Hint {
        let mut h = match e {
            Expr::And(v) => v
                .iter()
                .map(Hint::of)
                .max_by_key(Hint::rank)
                .unwrap_or(Hint::None),
            Expr::Or(v) => union(v.iter().map(Hint::of)),
            Expr::Compare(c) if c.op == CmpOp::Eq => literal_eq(&c.lhs, &c.rhs)
                .or_else(|| literal_eq(&c.rhs, &c.lhs))
                .unwrap_or(Hint::None),
            Expr::In(i) => match &i.set {
                Set::Members(m) => strings(m.iter().map(|m| &m.lit))
                    .and_then(|keys| field_hint(&i.lhs, keys, false))
                    .unwrap_or(Hint::None),
                Set::List(_) => Hint::None,
            },
            Expr::Value(v) => prefix(v).unwrap_or(Hint::None),
            _ => Hint::None,
        };
        if let Hint::Hosts(k) | Hint::Paths(k) | Hint::Prefixes(k) = &mut h {
            k.sort();
            k.dedup();
        }
        h
    }

    /// Preference within an `and`: a host narrows most.
    fn rank(&self) -> u8 {
        match self {
            Hint::None => 0,
            Hint::Prefixes(_) => 1,
            Hint::Paths(_) => 2,
            Hint::Hosts(_) => 3,
        }
    }
}

/// An `or` requires what all its branches require: hosts if all require
/// hosts; path prefixes if all require paths or prefixes (an exact path is
/// also a prefix of itself).
fn union(hints: impl Iterator<Item = Hint>) -> Hint {
    let mut out: Option<Hint> = None;
    for h in hints {
        out = Some(match (out, h) {
            (_, Hint::None) => return Hint::None,
            (None, h) => h,
            (Some(Hint::Hosts(mut a)), Hint::Hosts(b)) => {
                a.extend(b);
                Hint::Hosts(a)
            }
            (Some(Hint::Paths(mut a)), Hint::Paths(b)) => {
                a.extend(b);
                Hint::Paths(a)
            }
            (
                Some(Hint::Paths(mut a) | Hint::Prefixes(mut a)),
                Hint::Paths(b) | Hint::Prefixes(b),
            ) => {
                a.extend(b);
                Hint::Prefixes(a)
            }
            _ => return Hint::None,
        });
    }
    out.unwrap_or(Hint::None)
}

/// `field == "lit"` for the host or path field.
fn literal_eq(field: &Value, lit: &Value) -> Option<Hint> {
    let ValueKind::Lit(Literal::Str(s)) = &lit.kind else {
        return None;
    };
    field_hint(field, vec![s.clone()], false)
}

/// `starts_with(http.request.uri.path, "lit")`.
fn prefix(v: &Value) -> Option<Hint> {
    let ValueKind::Call(c) = &v.kind else {
        return None;
    };
    let [Expr::Value(field), Expr::Value(lit)] = c.args.as_slice() else {
        return None;
    };
    let ValueKind::Lit(Literal::Str(s)) = &lit.kind else {
        return None;
    };
    (c.name == "starts_with")
        .then(|| field_hint(field, vec![s.clone()], true))
        .flatten()
}

fn field_hint(v: &Value, keys: Vec<Vec<u8>>, prefix: bool) -> Option<Hint> {
    let ValueKind::Field(f) = &v.kind else {
        return None;
    };
    if f.key.is_some() || f.each {
        return None;
    }
    match (f.name.as_str(), prefix) {
        (HOST, false) => Some(Hint::Hosts(keys)),
        (PATH, false) => Some(Hint::Paths(keys)),
        (PATH, true) => Some(Hint::Prefixes(keys)),
        _ => None,
    }
}

fn strings<'a>(lits: impl Iterator<Item = &'a Literal>) -> Option<Vec<Vec<u8>>> {
    lits.map(|l| match l {
        Literal::Str(s) => Some(s.clone()),
        _ => None,
    })
    .collect()
}

/// Filter indices filed by host, exact path and path prefix, plus those
/// always evaluated; every list ascending.
#[derive(Debug, Default)]
pub(crate) struct Index {
    hosts: HashMap<Box<[u8]>, Vec<usize>>,
    paths: HashMap<Box<[u8]>, Vec<usize>>,
    prefixes: HashMap<Box<[u8]>, Vec<usize>>,
    /// Distinct prefix lengths, ascending: one lookup each per request.
    prefix_lens: Vec<usize>,
    always: Vec<usize>,
}

/// Lists merged on the stack up to this many; more spill to the heap.
const STACK_LISTS: usize = 16;

impl Index {
    pub(crate) fn new<'h>(hints: impl Iterator<Item = &'h Hint>) -> Index {
        let mut ix = Index::default();
        for (i, h) in hints.enumerate() {
            let (map, keys) = match h {
                Hint::None => {
                    ix.always.push(i);
                    continue;
                }
                Hint::Hosts(k) => (&mut ix.hosts, k),
                Hint::Paths(k) => (&mut ix.paths, k),
                Hint::Prefixes(k) => (&mut ix.prefixes, k),
            };
            for k in keys {
                map.entry(k.as_slice().into()).or_default().push(i);
            }
        }
        ix.prefix_lens = ix.prefixes.keys().map(|k| k.len()).collect();
        ix.prefix_lens.sort_unstable();
        ix.prefix_lens.dedup();
        ix
    }

    /// Calls `f` with every filter that may match `req`, ascending, until
    /// `f` returns `false`.
    pub(crate) fn candidates(&self, req: &Request<'_>, f: impl FnMut(usize) -> bool) {
        let mut lists = Lists {
            stack: [&[]; STACK_LISTS],
            n: 0,
            heap: Vec::new(),
        };
        lists.push(&self.always);
        if let Some(l) = self.hosts.get(req.host.as_bytes()) {
            lists.push(l);
        }
        let path = req.path.as_bytes();
        if let Some(l) = self.paths.get(path) {
            lists.push(l);
        }
        for &len in &self.prefix_lens {
            let Some(p) = path.get(..len) else { break };
            if let Some(l) = self.prefixes.get(p) {
                lists.push(l);
            }
        }
        if lists.heap.is_empty() {
            merge(&mut lists.stack[..lists.n], f);
        } else {
            lists.heap.extend_from_slice(&lists.stack[..lists.n]);
            merge(&mut lists.heap, f);
        }
    }
}

/// The non-empty candidate lists of one request.
struct Lists<'a> {
    stack: [&'a [usize]; STACK_LISTS],
    n: usize,
    heap: Vec<&'a [usize]>,
}

impl<'a> Lists<'a> {
    fn push(&mut self, l: &'a [usize]) {
        if l.is_empty() {
        } else if self.n < STACK_LISTS {
            self.stack[self.n] = l;
            self.n += 1;
        } else {
            self.heap.push(l);
        }
    }
}

/// Merges ascending lists, skipping repeats (a filter filed under two
/// prefixes of the same path).
fn merge(lists: &mut [&[usize]], mut f: impl FnMut(usize) -> bool) {
    if let [only] = lists {
        for &i in *only {
            if !f(i) {
                return;
            }
        }
        return;
    }
    let mut last = usize::MAX;
    loop {
        let mut best = None;
        let mut min = usize::MAX;
        for (j, l) in lists.iter().enumerate() {
            if let Some(&h) = l.first()
                && h < min
            {
                min = h;
                best = Some(j);
            }
        }
        let Some(j) = best else { return };
        lists[j] = &lists[j][1..];
        if min != last {
            last = min;
            if !f(min) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(s: &str) -> Hint {
        Hint::of(&crate::lang::parse(s).unwrap())
    }

    fn keys(k: &[&str]) -> Vec<Vec<u8>> {
        k.iter().map(|k| k.as_bytes().to_vec()).collect()
    }

    #[test]
    fn hints() {
        assert_eq!(
            hint(r#"http.host == "a" and ssl"#),
            Hint::Hosts(keys(&["a"]))
        );
        assert_eq!(hint(r#""a" == http.host"#), Hint::Hosts(keys(&["a"])));
        assert_eq!(
            hint(r#"http.host in {"b" "a"}"#),
            Hint::Hosts(keys(&["a", "b"]))
        );
        assert_eq!(
            hint(r#"starts_with(http.request.uri.path, "/a") and http.request.uri.path == "/a/b""#),
            Hint::Paths(keys(&["/a/b"]))
        );
        assert_eq!(
            hint(r#"http.request.uri.path == "/x" or starts_with(http.request.uri.path, "/y")"#),
            Hint::Prefixes(keys(&["/x", "/y"]))
        );
        assert_eq!(hint(r#"http.host == "a" or ssl"#), Hint::None);
        assert_eq!(hint(r#"not http.host == "a""#), Hint::None);
        assert_eq!(hint(r#"http.host != "a""#), Hint::None);
        assert_eq!(hint(r#"http.host == "a" xor ssl"#), Hint::None);
        assert_eq!(hint(r#"lower(http.host) == "a""#), Hint::None);
    }

    #[test]
    fn merge_dedups_in_order() {
        let mut out = Vec::new();
        let (a, b, c) = ([1, 4, 7], [2, 4, 9], [0]);
        merge(&mut [&a[..], &b[..], &c[..]], |i| {
            out.push(i);
            i < 7
        });
        assert_eq!(out, [0, 1, 2, 4, 7]);
    }
}
