//! Type-checks an [`Expr`] and compiles it into a tree of closures, in one
//! pass that keeps going after an error so every problem is reported.
//!
//! Each operand compiles to a typed source: strings are a literal, a plain
//! field getter, the `[*]` element, or a walker over several values; every
//! operator then becomes one closure around a test, specialised for the
//! source kind so `http.host == "x"` is a getter call and a slice compare.
//! Regexes, globs, substring finders and sets are built here, once.

mod ops;

use http::HeaderName;

use super::Diag;
use super::ast::{Call, Expr, Field, Literal, Value, ValueKind};
use super::fields::{self, Access, FieldDef, Ty};
use super::runtime::{self, Env, Getter, IntSink, StrSink};
use crate::ip::{Cidr, Lists};

/// A compiled condition.
pub(crate) type Pred = Box<dyn Fn(&Env<'_>) -> bool + Send + Sync>;
/// Calls the sink with each string value; `true` if the sink said `true`.
type EachStr = Box<dyn Fn(&Env<'_>, StrSink<'_>) -> bool + Send + Sync>;
/// [`EachStr`] for integers.
type EachInt = Box<dyn Fn(&Env<'_>, IntSink<'_>) -> bool + Send + Sync>;

/// A compiled string operand.
enum Str {
    Lit(Vec<u8>),
    Get(Getter),
    /// The element `[*]` stands for inside `any`/`all`.
    Elem,
    Each(EachStr),
}

enum Int {
    Lit(i64),
    Each(EachInt),
}

enum Ip {
    Lit(Cidr),
    Src,
}

/// A compiled operand of known type.
enum Typed {
    Bool(Pred),
    Str(Str),
    Int(Int),
    Ip(Ip),
}

impl Typed {
    fn ty(&self) -> Ty {
        match self {
            Typed::Bool(_) => Ty::Bool,
            Typed::Str(_) => Ty::Str,
            Typed::Int(_) => Ty::Int,
            Typed::Ip(_) => Ty::Ip,
        }
    }
}

/// Compiles `e`, resolving `$name` in `lists`.
pub(crate) fn compile(e: &Expr, lists: &Lists) -> Result<Pred, Vec<Diag>> {
    let mut c = Compiler {
        lists,
        diags: Vec::new(),
        each: Vec::new(),
    };
    match c.expr(e) {
        Some(p) if c.diags.is_empty() => Ok(p),
        _ => {
            c.diags.sort_by_key(|d| (d.span.start, d.span.end));
            Err(c.diags)
        }
    }
}

struct Compiler<'l> {
    lists: &'l Lists,
    diags: Vec<Diag>,
    /// One slot per enclosing `any`/`all`: the `[*]` field it iterates,
    /// once seen.
    each: Vec<Option<Field>>,
}

impl Compiler<'_> {
    fn error(&mut self, span: super::ast::Span, message: String) {
        self.diags.push(Diag::at(span, message));
    }

    fn expr(&mut self, e: &Expr) -> Option<Pred> {
        match e {
            Expr::Or(v) => {
                let ps = self.exprs(v)?;
                Some(Box::new(move |e| ps.iter().any(|p| p(e))))
            }
            Expr::And(v) => {
                let ps = self.exprs(v)?;
                Some(Box::new(move |e| ps.iter().all(|p| p(e))))
            }
            Expr::Xor(v) => {
                let ps = self.exprs(v)?;
                Some(Box::new(move |e| {
                    ps.iter().fold(false, |acc, p| acc ^ p(e))
                }))
            }
            Expr::Not(x, _) => {
                let p = self.expr(x)?;
                Some(Box::new(move |e| !p(e)))
            }
            Expr::Compare(c) => self.compare(c),
            Expr::In(i) => self.in_set(i),
            Expr::Value(v) => {
                let t = self.value(v)?;
                self.condition(t, v)
            }
        }
    }

    /// Compiles every item (all of them, to report every error).
    fn exprs(&mut self, v: &[Expr]) -> Option<Box<[Pred]>> {
        let ps: Vec<Option<Pred>> = v.iter().map(|e| self.expr(e)).collect();
        ps.into_iter().collect::<Option<Vec<_>>>().map(Into::into)
    }

    fn condition(&mut self, t: Typed, v: &Value) -> Option<Pred> {
        let ty = match t {
            Typed::Bool(p) => return Some(p),
            t => t.ty(),
        };
        let hint = match ty {
            Ty::Str => format!("; compare it, e.g. {v} == \"...\""),
            Ty::Int => format!("; compare it, e.g. {v} > 0"),
            _ => String::new(),
        };
        let msg = format!(
            "a condition must be true or false, but {} is {}{hint}",
            describe(v),
            ty.noun()
        );
        self.error(v.span, msg);
        None
    }

    fn value(&mut self, v: &Value) -> Option<Typed> {
        match &v.kind {
            ValueKind::Lit(l) => Some(literal(l)),
            ValueKind::Field(f) => self.field(f, v),
            ValueKind::Call(c) => self.call(c, v),
        }
    }

    /// A function argument: a value, or a condition as a boolean.
    fn arg(&mut self, e: &Expr) -> Option<Typed> {
        match e {
            Expr::Value(v) => self.value(v),
            e => self.expr(e).map(Typed::Bool),
        }
    }

    fn field(&mut self, f: &Field, v: &Value) -> Option<Typed> {
        let Some(def) = fields::field(&f.name) else {
            let hint = fields::suggest(&f.name, fields::FIELDS.iter().map(|d| d.name));
            self.error(v.span, format!("unknown field \"{}\"{hint}", f.name));
            return None;
        };
        if def.keyed() && f.key.is_none() {
            let msg = format!(
                "{0} has one value per name; pick one, e.g. {0}[\"name\"]",
                def.name
            );
            self.error(v.span, msg);
            return None;
        }
        if !def.keyed() && (f.key.is_some() || f.each) {
            let msg = format!("{} has a single value; it takes no [..]", def.name);
            self.error(v.span, msg);
            return None;
        }
        if f.each {
            return self.bind_each(f, v);
        }
        self.access(def, f.key.as_deref(), v)
    }

    /// `[*]`: the element of the innermost `any`/`all`, which may iterate
    /// only one field.
    fn bind_each(&mut self, f: &Field, v: &Value) -> Option<Typed> {
        let msg = match self.each.last_mut() {
            None => "[*] stands for each value inside any(...) or all(...) only".to_owned(),
            Some(slot @ None) => {
                *slot = Some(f.clone());
                return Some(Typed::Str(Str::Elem));
            }
            Some(Some(bound)) if bound == f => return Some(Typed::Str(Str::Elem)),
            Some(Some(bound)) => format!("any()/all() iterate over one field, here {bound}"),
        };
        self.error(v.span, msg);
        None
    }

    fn access(&mut self, def: &FieldDef, key: Option<&[u8]>, v: &Value) -> Option<Typed> {
        let key = key.unwrap_or_default().to_vec();
        let s = match def.access {
            Access::Str(get) => Str::Get(get),
            Access::Ssl => return Some(Typed::Bool(Box::new(|e| e.req.tls.is_some()))),
            Access::IpSrc => return Some(Typed::Ip(Ip::Src)),
            Access::CookieHeader => Str::Each(Box::new(|e, f| runtime::cookie_header(e.req, f))),
            Access::Arg => Str::Each(Box::new(move |e, f| runtime::args(e.req, &key, f))),
            Access::Cookie => Str::Each(Box::new(move |e, f| runtime::cookies(e.req, &key, f))),
            Access::Header => {
                let Ok(name) = HeaderName::from_bytes(&key) else {
                    self.error(v.span, "not a valid header name".to_owned());
                    return None;
                };
                Str::Each(Box::new(move |e, f| {
                    e.req.headers.get_all(&name).iter().any(|h| f(h.as_bytes()))
                }))
            }
        };
        Some(Typed::Str(s))
    }

    fn call(&mut self, c: &Call, v: &Value) -> Option<Typed> {
        let Some(&(name, arity)) = fields::FUNCTIONS.iter().find(|(n, _)| *n == c.name) else {
            let hint = fields::suggest(&c.name, fields::FUNCTIONS.iter().map(|f| f.0));
            self.error(v.span, format!("unknown function {}(){hint}", c.name));
            return None;
        };
        if c.args.len() != arity {
            let s = if arity == 1 { "" } else { "s" };
            let given = match c.args.len() {
                1 => "1 was".to_owned(),
                n => format!("{n} were"),
            };
            let msg = format!("{name}() takes {arity} argument{s}, but {given} given");
            self.error(v.span, msg);
            return None;
        }
        match name {
            "any" | "all" => self.quantifier(name == "any", c, v),
            "starts_with" | "ends_with" => {
                let s = self.str_arg(name, &c.args[0]);
                let lit = self.lit_arg(name, &c.args[1]);
                let (s, lit) = (s?, lit?);
                Some(Typed::Bool(if name == "starts_with" {
                    str_test(s, move |v| v.starts_with(&lit))
                } else {
                    str_test(s, move |v| v.ends_with(&lit))
                }))
            }
            "len" => Some(Typed::Int(len(self.str_arg(name, &c.args[0])?))),
            _ => {
                let s = self.str_arg(name, &c.args[0])?;
                Some(Typed::Str(map_str(s, transform(name))))
            }
        }
    }

    fn str_arg(&mut self, func: &str, e: &Expr) -> Option<Str> {
        match self.arg(e)? {
            Typed::Str(s) => Some(s),
            t => {
                let msg = format!(
                    "{func}() needs a string, but {} is {}",
                    describe(e),
                    t.ty().noun()
                );
                self.error(e.span(), msg);
                None
            }
        }
    }

    fn lit_arg(&mut self, func: &str, e: &Expr) -> Option<Vec<u8>> {
        if let Expr::Value(Value {
            kind: ValueKind::Lit(Literal::Str(s)),
            ..
        }) = e
        {
            return Some(s.clone());
        }
        let msg = format!("{func}() needs a string literal as its second argument, e.g. \"/api/\"");
        self.error(e.span(), msg);
        None
    }

    /// `any(cond)` / `all(cond)` over the values of the `[*]` field in `cond`.
    fn quantifier(&mut self, any: bool, c: &Call, v: &Value) -> Option<Typed> {
        self.each.push(None);
        let pred = self.arg(&c.args[0]);
        let bound = self.each.pop().flatten();
        let pred = match pred? {
            Typed::Bool(p) => p,
            t => return self.condition(t, v).map(Typed::Bool),
        };
        let name = if any { "any" } else { "all" };
        let Some(field) = bound else {
            let msg = format!(
                "{name}() needs a field with [*] in its condition, \
                 e.g. {name}(http.request.headers[\"x\"][*] == \"v\")"
            );
            self.error(v.span, msg);
            return None;
        };
        let def = fields::field(&field.name)?;
        let Some(Typed::Str(src)) = self.access(def, field.key.as_deref(), v) else {
            return None;
        };
        let each = into_each(src);
        Some(Typed::Bool(if any {
            Box::new(move |e| {
                each(e, &mut |x| {
                    pred(&Env {
                        req: e.req,
                        elem: x,
                    })
                })
            })
        } else {
            Box::new(move |e| {
                !each(e, &mut |x| {
                    !pred(&Env {
                        req: e.req,
                        elem: x,
                    })
                })
            })
        }))
    }
}

fn literal(l: &Literal) -> Typed {
    match l {
        Literal::Str(s) => Typed::Str(Str::Lit(s.clone())),
        Literal::Int(n) => Typed::Int(Int::Lit(*n)),
        Literal::Bool(b) => {
            let b = *b;
            Typed::Bool(Box::new(move |_| b))
        }
        // Client addresses arrive unmapped, so `::ffff:10.0.0.1` must be too.
        Literal::Ip(c) => Typed::Ip(Ip::Lit(c.unmapped())),
    }
}

/// `http.host`, or `"abc"`, or `lower(http.request.headers["x"])`, for
/// messages; long operands are cut short.
fn describe(v: &impl std::fmt::Display) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

fn transform(name: &str) -> fn(&[u8], StrSink<'_>) -> bool {
    match name {
        "lower" => runtime::lower,
        "upper" => runtime::upper,
        _ => runtime::url_decode,
    }
}

/// The predicate "some value of `s` passes `test`".
fn str_test<T>(s: Str, test: T) -> Pred
where
    T: Fn(&[u8]) -> bool + Send + Sync + 'static,
{
    match s {
        Str::Lit(l) => {
            let r = test(&l);
            Box::new(move |_| r)
        }
        Str::Get(get) => Box::new(move |e| test(get(e.req))),
        Str::Elem => Box::new(move |e| test(e.elem)),
        Str::Each(each) => Box::new(move |e| each(e, &mut |v| test(v))),
    }
}

fn int_test<T>(n: Int, test: T) -> Pred
where
    T: Fn(i64) -> bool + Send + Sync + 'static,
{
    match n {
        Int::Lit(n) => {
            let r = test(n);
            Box::new(move |_| r)
        }
        Int::Each(each) => Box::new(move |e| each(e, &mut |v| test(v))),
    }
}

fn into_each(s: Str) -> EachStr {
    match s {
        Str::Lit(l) => Box::new(move |_, f| f(&l)),
        Str::Get(get) => Box::new(move |e, f| f(get(e.req))),
        Str::Elem => Box::new(|e, f| f(e.elem)),
        Str::Each(each) => each,
    }
}

fn into_each_int(n: Int) -> EachInt {
    match n {
        Int::Lit(n) => Box::new(move |_, f| f(n)),
        Int::Each(each) => each,
    }
}

/// Applies a transform to every value of `s` (at compile time for literals).
fn map_str(s: Str, map: fn(&[u8], StrSink<'_>) -> bool) -> Str {
    match s {
        Str::Lit(l) => {
            let mut out = Vec::new();
            map(&l, &mut |v| {
                out = v.to_vec();
                true
            });
            Str::Lit(out)
        }
        Str::Get(get) => Str::Each(Box::new(move |e, f| map(get(e.req), f))),
        Str::Elem => Str::Each(Box::new(move |e, f| map(e.elem, f))),
        Str::Each(each) => Str::Each(Box::new(move |e, f| each(e, &mut |v| map(v, f)))),
    }
}

fn len(s: Str) -> Int {
    let n = |v: &[u8]| i64::try_from(v.len()).unwrap_or(i64::MAX);
    match s {
        Str::Lit(l) => Int::Lit(n(&l)),
        Str::Get(get) => Int::Each(Box::new(move |e, f| f(n(get(e.req))))),
        s => {
            let each = into_each(s);
            Int::Each(Box::new(move |e, f| each(e, &mut |v| f(n(v)))))
        }
    }
}
