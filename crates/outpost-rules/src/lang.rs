//! The rules expression language.
//!
//! PLACEHOLDER: the public API below is the contract the engine and the
//! config code against; parsing, type-checking and compilation are to be
//! filled in.

use std::fmt;

use crate::Request;
use crate::ip::Lists;

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
    /// 1:17: unknown field "http.hots"
    ///   http.host == "a" and http.hots == "b"
    ///                        ^^^^^^^^^
    /// ```
    pub fn render(&self, source: &str) -> String {
        let line = source
            .lines()
            .nth(self.line.saturating_sub(1) as usize)
            .unwrap_or("");
        let pad = " ".repeat(self.column.saturating_sub(1) as usize);
        let carets = "^".repeat(self.len.max(1) as usize);
        format!(
            "{}:{}: {}\n  {line}\n  {pad}{carets}",
            self.line, self.column, self.message
        )
    }
}

/// A type-checked expression compiled into closures; evaluating it never
/// walks an AST or compiles a regex.
pub struct Filter {
    source: String,
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
    pub fn eval(&self, _req: &Request<'_>) -> bool {
        false
    }
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Parses, type-checks and compiles `source`; `lists` resolves `$name`.
/// Returns every problem found.
pub fn compile(source: &str, _lists: &Lists) -> Result<Filter, Vec<Diagnostic>> {
    Ok(Filter {
        source: source.to_owned(),
    })
}

/// Filters in order, indexed by the literal hosts and paths they require so
/// that most never run for a given request.
#[derive(Debug, Default)]
pub struct FilterSet {
    filters: Vec<Filter>,
}

impl FilterSet {
    pub fn new(filters: Vec<Filter>) -> Self {
        FilterSet { filters }
    }
    pub fn len(&self) -> usize {
        self.filters.len()
    }
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
    pub fn get(&self, i: usize) -> &Filter {
        &self.filters[i]
    }
    /// Calls `f` with the index of every matching filter, in order, until
    /// `f` returns `false`. `skip(i)` is asked before evaluating filter `i`
    /// so skipped rules cost nothing.
    pub fn for_each_match(
        &self,
        req: &Request<'_>,
        mut skip: impl FnMut(usize) -> bool,
        mut f: impl FnMut(usize) -> bool,
    ) {
        for (i, filter) in self.filters.iter().enumerate() {
            if !skip(i) && filter.eval(req) && !f(i) {
                return;
            }
        }
    }
}
