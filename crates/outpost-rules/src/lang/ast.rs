//! The syntax tree of a rules expression and its canonical printing.
//!
//! `Display` prints canonical source: `parse(&expr.to_string())` gives back
//! an equal tree (spans are ignored by `==` for exactly that reason), so
//! tools can normalise rules and the round-trip property test can check the
//! parser against the printer.

use std::fmt::{self, Display, Write};

use crate::ip::Cidr;

/// A byte range in the source. Two spans always compare equal, so trees
/// parsed from differently formatted sources compare by structure only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Sources are at most `MAX_SOURCE_LEN` bytes, far below u32::MAX.
        let clamp = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }
    pub(crate) fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end.max(self.start),
        }
    }
}

/// A condition: logic over comparisons, set tests and boolean values.
///
/// `Or`, `Xor` and `And` are n-ary and keep the grouping the source wrote:
/// `a and b and c` is one `And` of three, `(a and b) and c` nests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Or(Vec<Expr>),
    Xor(Vec<Expr>),
    And(Vec<Expr>),
    /// `not e` / `!e`; the span is the operator's.
    Not(Box<Expr>, Span),
    Compare(Box<Compare>),
    In(Box<In>),
    /// A boolean value used as a condition: `ssl`, `starts_with(..)`, `any(..)`.
    Value(Value),
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub lhs: Value,
    pub op: CmpOp,
    pub op_span: Span,
    pub rhs: Value,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    Wildcard,
}

/// `lhs in { .. }` or `lhs in $list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct In {
    pub lhs: Value,
    pub set: Set,
    /// The set or list name.
    pub set_span: Span,
}

/// The right side of `in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    Members(Vec<Member>),
    /// A named IP list, `$name`, resolved when compiling.
    List(String),
}

/// One literal of a `{ .. }` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub lit: Literal,
    pub span: Span,
}

/// An operand: a field, a literal or a function call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind {
    Field(Field),
    Lit(Literal),
    Call(Call),
}

/// `name`, `name["key"]`, `name["key"][*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub key: Option<Vec<u8>>,
    /// `[*]`: the element being iterated by the enclosing `any`/`all`.
    pub each: bool,
}

/// `name(arg, ..)`; arguments are expressions so `any(..)` can take a
/// condition; value arguments are `Expr::Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Expr>,
}

/// Literals. Strings are bytes: `\xNN` escapes may produce any byte, and
/// header values need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(Vec<u8>),
    Int(i64),
    Bool(bool),
    /// An address is a full-length prefix.
    Ip(Cidr),
}

impl Expr {
    /// The source range the expression covers.
    pub fn span(&self) -> Span {
        match self {
            Expr::Or(v) | Expr::Xor(v) | Expr::And(v) => match (v.first(), v.last()) {
                (Some(a), Some(b)) => a.span().to(b.span()),
                _ => Span::default(),
            },
            Expr::Not(e, s) => s.to(e.span()),
            Expr::Compare(c) => c.lhs.span.to(c.rhs.span),
            Expr::In(i) => i.lhs.span.to(i.set_span),
            Expr::Value(v) => v.span,
        }
    }

    /// Binding strength for printing: higher binds tighter.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::Xor(_) => 2,
            Expr::And(_) => 3,
            Expr::Not(..) => 4,
            _ => 5,
        }
    }
}

impl CmpOp {
    /// The operator as written in canonical source.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "contains",
            CmpOp::Matches => "matches",
            CmpOp::Wildcard => "wildcard",
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(v) => join(f, self, v, " or "),
            Expr::Xor(v) => join(f, self, v, " xor "),
            Expr::And(v) => join(f, self, v, " and "),
            Expr::Not(e, _) => {
                f.write_str("not ")?;
                child(f, e, e.precedence() < 4)
            }
            Expr::Compare(c) => write!(f, "{} {} {}", c.lhs, c.op.as_str(), c.rhs),
            Expr::In(i) => write!(f, "{} in {}", i.lhs, i.set),
            Expr::Value(v) => v.fmt(f),
        }
    }
}

/// Prints an n-ary operator; children that bind no tighter than the parent
/// (including the same operator, to keep the tree's grouping) get parens.
fn join(f: &mut fmt::Formatter<'_>, parent: &Expr, items: &[Expr], sep: &str) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        child(f, e, e.precedence() <= parent.precedence())?;
    }
    Ok(())
}

fn child(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens { write!(f, "({e})") } else { e.fmt(f) }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Set::List(name) => write!(f, "${name}"),
            Set::Members(m) => {
                f.write_char('{')?;
                for m in m {
                    write!(f, " {}", m.lit)?;
                }
                f.write_str(" }")
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ValueKind::Lit(l) => l.fmt(f),
            ValueKind::Field(x) => x.fmt(f),
            ValueKind::Call(c) => {
                write!(f, "{}(", c.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.fmt(f)?;
                }
                f.write_char(')')
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(key) = &self.key {
            f.write_char('[')?;
            write_str_lit(f, key)?;
            f.write_char(']')?;
        }
        if self.each {
            f.write_str("[*]")?;
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_str_lit(f, s),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Ip(c) if c.len() == full_len(c) => write!(f, "{}", c.addr()),
            Literal::Ip(c) => write!(f, "{c}"),
        }
    }
}

pub(crate) fn full_len(c: &Cidr) -> u8 {
    if c.addr().is_ipv4() { 32 } else { 128 }
}

/// Writes bytes as a double-quoted literal: printable text as is, quotes,
/// backslashes and line breaks escaped, everything else as `\xNN`.
pub(crate) fn write_str_lit(f: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        write!(f, "\\x{b:02x}")?;
                    }
                }
                c => f.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    f.write_char('"')
}
