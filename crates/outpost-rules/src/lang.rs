//! The rules expression language: parse, type-check, compile once into
//! closures, evaluate per request without walking a tree.
//!
//! An expression such as `http.host == "example.com" and
//! starts_with(http.request.uri.path, "/admin") and not ip.src in {
//! 10.0.0.0/8 }` is [`parse`]d into an [`Expr`], type-checked and compiled
//! by [`compile()`] into a [`Filter`]; a [`FilterSet`] indexes many filters by
//! the hosts and paths they require. The language (fields, operators,
//! multi-value semantics, limits) is documented in `docs/rules-language.md`.

mod ast;
mod compile;
mod fields;
mod glob;
mod index;
mod lexer;
mod parser;
mod runtime;

pub use ast::{
    Call, CmpOp, Compare, Expr, Field, In, Literal, Member, Set, Span, Value, ValueKind,
};

use std::fmt;

use crate::Request;
use crate::ip::Lists;
use runtime::Env;

/// Longest expression accepted, in bytes. Default 16 KiB.
pub const MAX_SOURCE_LEN: usize = 16 * 1024;
/// Longest string literal (after escapes), in bytes. Default 4 KiB.
pub const MAX_STRING_LEN: usize = 4 * 1024;
/// Most members in one `{ .. }` set. Default 4,096: below what
/// `MAX_SOURCE_LEN` would allow (about 8,000 one-digit members), so it is a
/// real bound; large IP lists belong in named lists, `in $name`.
pub const MAX_SET_MEMBERS: usize = 4096;
/// Deepest nesting of parentheses, `not` and function calls. Default 64.
pub const MAX_DEPTH: usize = 64;
/// Largest compiled form of one regex (and of its lazy DFA cache), in
/// bytes: a bigger pattern is a compile error. Default 1 MiB.
pub const MAX_REGEX_SIZE: usize = 1 << 20;
/// `matches` looks at the first this many bytes of a value only, so a
/// regex costs at most linear time in this bound. Default 8 KiB.
pub const MAX_REGEX_INPUT: usize = 8 * 1024;

/// One problem in an expression, located by 1-based line and column (in
/// characters) and a length in characters for the caret underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: u32,
    pub column: u32,
    pub len: u32,
    pub message: String,
}

impl Diagnostic {
    /// Renders the error with the offending source line and a caret under
    /// the problem, e.g.
    ///
    /// ```text
    /// 1:22: unknown field "http.hots"; did you mean "http.host"?
    ///   http.host == "a" and http.hots == "b"
    ///                        ^^^^^^^^^
    /// ```
    pub fn render(&self, source: &str) -> String {
        let line = source
            .lines()
            .nth(self.line.saturating_sub(1) as usize)
            .unwrap_or("")
            // Columns count characters; a tab shown as one space keeps the
            // caret under the right one.
            .replace('\t', " ");
        let pad = " ".repeat(self.column.saturating_sub(1) as usize);
        let carets = "^".repeat(self.len.max(1) as usize);
        format!(
            "{}:{}: {}\n  {line}\n  {pad}{carets}",
            self.line, self.column, self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// A problem located by byte span, before it is turned into line/column.
#[derive(Debug, Clone)]
pub(crate) struct Diag {
    pub span: Span,
    pub message: String,
}

impl Diag {
    pub(crate) fn new(start: usize, end: usize, message: impl Into<String>) -> Diag {
        Diag::at(Span::new(start, end), message)
    }
    pub(crate) fn at(span: Span, message: impl Into<String>) -> Diag {
        Diag {
            span,
            message: message.into(),
        }
    }

    /// Line, column and length in characters; the underline stops at the
    /// end of the first line it covers.
    fn locate(&self, src: &str) -> Diagnostic {
        let floor = |i: u32| {
            let mut i = (i as usize).min(src.len());
            while !src.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let (start, end) = (floor(self.span.start), floor(self.span.end));
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let count = |s: &str| u32::try_from(s.chars().count()).unwrap_or(u32::MAX);
        Diagnostic {
            line: u32::try_from(src[..start].matches('\n').count()).unwrap_or(u32::MAX) + 1,
            column: count(&src[line_start..start]) + 1,
            len: count(&src[start..end.clamp(start, line_end)]).max(1),
            message: self.message.clone(),
        }
    }
}

fn locate_all(src: &str, diags: Vec<Diag>) -> Vec<Diagnostic> {
    diags.iter().map(|d| d.locate(src)).collect()
}

/// A type-checked expression compiled into closures; evaluating it never
/// walks an AST or compiles a regex.
pub struct Filter {
    source: String,
    expr: Expr,
    pred: compile::Pred,
    hint: index::Hint,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("source", &self.source)
            .finish()
    }
}

impl Filter {
    /// Whether the request matches.
    pub fn eval(&self, req: &Request<'_>) -> bool {
        (self.pred)(&Env { req, elem: &[] })
    }
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The parsed expression (its `Display` is the canonical form).
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

/// Parses `source` into a syntax tree without type-checking it.
pub fn parse(source: &str) -> Result<Expr, Vec<Diagnostic>> {
    parser::parse(source).map_err(|d| locate_all(source, d))
}

/// Parses, type-checks and compiles `source`; `lists` resolves `$name`.
/// Returns every problem found.
pub fn compile(source: &str, lists: &Lists) -> Result<Filter, Vec<Diagnostic>> {
    let expr = parse(source)?;
    let pred = compile::compile(&expr, lists).map_err(|d| locate_all(source, d))?;
    Ok(Filter {
        source: source.to_owned(),
        hint: index::Hint::of(&expr),
        expr,
        pred,
    })
}

/// Filters in order, indexed by the literal hosts and paths they require so
/// that most never run for a given request.
#[derive(Debug, Default)]
pub struct FilterSet {
    filters: Vec<Filter>,
    index: index::Index,
}

impl FilterSet {
    pub fn new(filters: Vec<Filter>) -> Self {
        let index = index::Index::new(filters.iter().map(|f| &f.hint));
        FilterSet { filters, index }
    }
    pub fn len(&self) -> usize {
        self.filters.len()
    }
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
    /// Filter `i`; panics if `i >= len()`.
    pub fn get(&self, i: usize) -> &Filter {
        &self.filters[i]
    }
    /// Calls `f` with the index of every matching filter, in order, until
    /// `f` returns `false`. `skip(i)` is asked before evaluating filter `i`
    /// so skipped rules cost nothing; filters the index rules out are
    /// neither asked about nor evaluated.
    pub fn for_each_match(
        &self,
        req: &Request<'_>,
        mut skip: impl FnMut(usize) -> bool,
        mut f: impl FnMut(usize) -> bool,
    ) {
        self.index
            .candidates(req, |i| skip(i) || !self.filters[i].eval(req) || f(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_diagnostics_in_characters() {
        let src = "é == 1 and\n  http.hots == \"b\"";
        let d = Diag::new(14, 23, "x").locate(src);
        assert_eq!((d.line, d.column, d.len), (2, 3, 9));
        let d = Diag::new(src.len(), src.len(), "x").locate(src);
        assert_eq!((d.line, d.len), (2, 1));
    }

    #[test]
    fn filters_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Filter>();
        check::<FilterSet>();
    }
}
