//! Recursive-descent parser from tokens to [`Expr`].
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! or     := xor (("or" | "||") xor)*
//! xor    := and (("xor" | "^^") and)*
//! and    := unary (("and" | "&&") unary)*
//! unary  := ("not" | "!") unary | "(" or ")" | test
//! test   := value [cmp value | "in" set]
//! cmp    := == != < <= > >= contains matches wildcard
//! set    := "{" (literal ","?)* "}" | "$" name
//! value  := literal | name "(" [or ("," or)*] ")" | name ["[" string "]"] ["[" "*" "]"]
//! ```
//!
//! Syntax errors stop parsing (what follows cannot be trusted); bad
//! literals (a CIDR with host bits, an integer too large) are recorded and
//! parsing goes on, so one pass reports them all. Nesting is bounded by
//! [`MAX_DEPTH`], which also bounds every later recursion
//! over the tree.

use super::ast::{Call, CmpOp, Expr, Field, In, Literal, Member, Set, Span, Value, ValueKind};
use super::lexer::{Op, Tok, Token, lex};
use super::{Diag, MAX_DEPTH, MAX_SET_MEMBERS, MAX_SOURCE_LEN};
use crate::ip::Cidr;

/// Words the grammar reserves; they cannot name fields or functions.
const KEYWORDS: &[&str] = &[
    "and", "or", "xor", "not", "in", "contains", "matches", "wildcard", "true", "false",
];

/// Parses a whole expression, returning every problem found.
pub(crate) fn parse(src: &str) -> Result<Expr, Vec<Diag>> {
    if src.len() > MAX_SOURCE_LEN {
        let msg = format!(
            "expression is {} bytes long; the limit is {MAX_SOURCE_LEN}",
            src.len()
        );
        return Err(vec![Diag::new(0, 0, msg)]);
    }
    let toks = lex(src).map_err(|d| vec![d])?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        diags: Vec::new(),
    };
    let result = p.or().and_then(|e| p.end().map(|()| e));
    match result {
        Ok(e) if p.diags.is_empty() => Ok(e),
        Ok(_) => Err(p.diags),
        Err(d) => {
            p.diags.push(d);
            p.diags.sort_by_key(|d| d.span.start);
            Err(p.diags)
        }
    }
}

type PResult<T> = Result<T, Diag>;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Problems that did not stop parsing.
    diags: Vec<Diag>,
}

impl Parser {
    fn peek(&self) -> &Token {
        // `lex` always ends with `Eof`, and `bump` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == kw)
    }

    fn is_op(&self, op: Op) -> bool {
        self.peek().tok == Tok::Op(op)
    }

    /// Consumes `kw` or `op` if next.
    fn eat(&mut self, kw: &str, op: Op) -> Option<Span> {
        (self.is_kw(kw) || self.is_op(op)).then(|| self.bump().span)
    }

    fn expect(&mut self, op: Op, what: &str) -> PResult<Span> {
        if self.is_op(op) {
            return Ok(self.bump().span);
        }
        Err(self.error(what))
    }

    fn error(&self, expected: &str) -> Diag {
        let t = self.peek();
        Diag {
            span: t.span,
            message: format!("expected {expected}, found {}", describe(&t.tok)),
        }
    }

    fn end(&mut self) -> PResult<()> {
        match self.peek().tok {
            Tok::Eof => Ok(()),
            Tok::Op(Op::RParen) => Err(Diag {
                span: self.peek().span,
                message: "unmatched )".into(),
            }),
            _ => Err(self.error("and, or, xor or the end of the expression")),
        }
    }

    /// Runs `f` one nesting level deeper, refusing past `MAX_DEPTH`.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            return Err(Diag {
                span: self.peek().span,
                message: format!("expression nests deeper than {MAX_DEPTH} levels"),
            });
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> PResult<Expr> {
        self.chain("or", Op::OrOr, Self::xor, Expr::Or)
    }

    fn xor(&mut self) -> PResult<Expr> {
        self.chain("xor", Op::XorXor, Self::and, Expr::Xor)
    }

    fn and(&mut self) -> PResult<Expr> {
        self.chain("and", Op::AndAnd, Self::unary, Expr::And)
    }

    /// `next (op next)*`, one n-ary node when there is more than one.
    fn chain(
        &mut self,
        kw: &str,
        op: Op,
        next: fn(&mut Self) -> PResult<Expr>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> PResult<Expr> {
        let mut items = vec![next(self)?];
        while self.eat(kw, op).is_some() {
            items.push(next(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            make(items)
        })
    }

    fn unary(&mut self) -> PResult<Expr> {
        if let Some(span) = self.eat("not", Op::Bang) {
            let e = self.nested(Self::unary)?;
            return Ok(Expr::Not(Box::new(e), span));
        }
        if self.is_op(Op::LParen) {
            self.bump();
            let e = self.nested(Self::or)?;
            self.expect(Op::RParen, ")")?;
            return Ok(e);
        }
        self.test()
    }

    fn test(&mut self) -> PResult<Expr> {
        let lhs = self.value()?;
        if let Some(op) = self.cmp_op() {
            let op_span = self.bump().span;
            let rhs = self.value()?;
            return Ok(Expr::Compare(Box::new(super::ast::Compare {
                lhs,
                op,
                op_span,
                rhs,
            })));
        }
        if self.is_kw("in") {
            self.bump();
            let (set, set_span) = self.set()?;
            return Ok(Expr::In(Box::new(In { lhs, set, set_span })));
        }
        Ok(Expr::Value(lhs))
    }

    fn cmp_op(&self) -> Option<CmpOp> {
        Some(match &self.peek().tok {
            Tok::Op(Op::EqEq) => CmpOp::Eq,
            Tok::Op(Op::Ne) => CmpOp::Ne,
            Tok::Op(Op::Lt) => CmpOp::Lt,
            Tok::Op(Op::Le) => CmpOp::Le,
            Tok::Op(Op::Gt) => CmpOp::Gt,
            Tok::Op(Op::Ge) => CmpOp::Ge,
            Tok::Ident(w) if w == "contains" => CmpOp::Contains,
            Tok::Ident(w) if w == "matches" => CmpOp::Matches,
            Tok::Ident(w) if w == "wildcard" => CmpOp::Wildcard,
            _ => return None,
        })
    }

    fn set(&mut self) -> PResult<(Set, Span)> {
        let t = self.peek().clone();
        match t.tok {
            Tok::List(name) => {
                self.bump();
                return Ok((Set::List(name), t.span));
            }
            Tok::Op(Op::LBrace) => self.bump(),
            _ => return Err(self.error("{ or a $list after in")),
        };
        let mut members = Vec::new();
        loop {
            if self.is_op(Op::RBrace) {
                let end = self.bump().span;
                return Ok((Set::Members(members), t.span.to(end)));
            }
            if members.len() == MAX_SET_MEMBERS {
                return Err(Diag {
                    span: t.span.to(self.peek().span),
                    message: format!("set has more than {MAX_SET_MEMBERS} members"),
                });
            }
            let next = self.peek().clone();
            let lit = match self.literal(&next)? {
                Some(Literal::Bool(_)) | None => {
                    return Err(self.error("a string, number or IP address in the set, or }"));
                }
                Some(lit) => lit,
            };
            self.bump();
            members.push(Member {
                lit,
                span: next.span,
            });
            if self.is_op(Op::Comma) {
                self.bump();
            }
        }
    }

    /// The literal `t` spells, if any; bad numbers and CIDRs are recorded
    /// and stand in as `0`.
    fn literal(&mut self, t: &Token) -> PResult<Option<Literal>> {
        Ok(Some(match &t.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Ident(w) if w == "true" => Literal::Bool(true),
            Tok::Ident(w) if w == "false" => Literal::Bool(false),
            Tok::Int(n) => Literal::Int(n.parse().unwrap_or_else(|_| {
                self.diags
                    .push(Diag::at(t.span, format!("integer {n} is too large")));
                0
            })),
            Tok::Ip(w) => match w.parse::<Cidr>() {
                Ok(c) => Literal::Ip(c),
                Err(e) => {
                    self.diags.push(Diag::at(t.span, e.to_string()));
                    Literal::Int(0)
                }
            },
            _ => return Ok(None),
        }))
    }

    fn value(&mut self) -> PResult<Value> {
        let t = self.peek().clone();
        if let Some(lit) = self.literal(&t)? {
            self.bump();
            return Ok(Value {
                kind: ValueKind::Lit(lit),
                span: t.span,
            });
        }
        let Tok::Ident(name) = &t.tok else {
            return Err(self.error("a field, function or literal"));
        };
        if KEYWORDS.contains(&name.as_str()) {
            return Err(self.error("a field, function or literal"));
        }
        self.bump();
        if self.is_op(Op::LParen) {
            return self.call(name.clone(), t.span);
        }
        self.field(name.clone(), t.span)
    }

    fn call(&mut self, name: String, start: Span) -> PResult<Value> {
        self.bump();
        let mut args = Vec::new();
        if !self.is_op(Op::RParen) {
            loop {
                args.push(self.nested(Self::or)?);
                if !self.is_op(Op::Comma) {
                    break;
                }
                self.bump();
            }
        }
        let end = self.expect(Op::RParen, ", or ) in the argument list")?;
        Ok(Value {
            kind: ValueKind::Call(Call { name, args }),
            span: start.to(end),
        })
    }

    fn field(&mut self, name: String, start: Span) -> PResult<Value> {
        let mut field = Field {
            name,
            key: None,
            each: false,
        };
        let mut span = start;
        if self.is_op(Op::LBracket) {
            self.bump();
            if self.is_op(Op::Star) {
                self.bump();
                field.each = true;
            } else {
                let Tok::Str(key) = &self.peek().tok else {
                    return Err(self.error("a quoted name like [\"user-agent\"] or [*]"));
                };
                field.key = Some(key.clone());
                self.bump();
            }
            span = start.to(self.expect(Op::RBracket, "]")?);
        }
        if field.key.is_some() && self.is_op(Op::LBracket) {
            self.bump();
            self.expect(Op::Star, "* in [*]")?;
            field.each = true;
            span = start.to(self.expect(Op::RBracket, "]")?);
        }
        Ok(Value {
            kind: ValueKind::Field(field),
            span,
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => format!("keyword {w}"),
        Tok::Ident(w) => format!("{w:?}"),
        Tok::Int(n) => format!("number {n}"),
        Tok::Ip(w) => format!("address {w}"),
        Tok::Str(_) => "a string".into(),
        Tok::List(n) => format!("${n}"),
        Tok::Op(op) => format!("{:?}", op.as_str()),
        Tok::Eof => "the end of the expression".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s).unwrap_or_else(|d| panic!("{s}: {d:?}"))
    }

    #[test]
    fn precedence_not_and_xor_or() {
        let e = p("a or b xor c and not d");
        assert_eq!(e.to_string(), "a or b xor c and not d");
        let Expr::Or(items) = &e else { panic!() };
        assert!(matches!(&items[1], Expr::Xor(x) if matches!(x[1], Expr::And(_))));
        assert_eq!(p("(a or b) and c").to_string(), "(a or b) and c");
        assert_eq!(p("(a and b) and c").to_string(), "(a and b) and c");
        assert_eq!(
            p("!(a == 1) && b || c ^^ d").to_string(),
            "not a == 1 and b or c xor d"
        );
    }

    #[test]
    fn values_and_sets() {
        let s = r#"any(lower(http.request.headers["X"][*]) contains "a") and ip.src in {10.0.0.0/8, 1.2.3.4 ::1} and x in $bad"#;
        assert_eq!(
            p(s).to_string(),
            r#"any(lower(http.request.headers["X"][*]) contains "a") and ip.src in { 10.0.0.0/8 1.2.3.4 ::1 } and x in $bad"#
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "a ==",
            "(a",
            "a)",
            "a == b == c",
            "a in 5",
            "f(a b)",
            "x[y]",
            "and",
            "a in { true }",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let d =
            parse("ip.src in { 10.0.0.1/8 1.2.3.4/33 } or n == 99999999999999999999").unwrap_err();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep).is_err());
        let ok = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(&ok).is_ok());
        assert!(parse(&"not ".repeat(10_000)).is_err());
    }

    /// The deepest accepted nesting parses on a 1 MiB stack even unoptimised
    /// (it measured about 500 KiB), so a config thread never overflows.
    #[test]
    fn max_depth_fits_a_small_stack() {
        let calls = format!("{}a{}", "f(x == ".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        let ok = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || parse(&calls).is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(ok);
    }
}
