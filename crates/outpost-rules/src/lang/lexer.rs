//! Splits source into tokens with byte spans.
//!
//! Words are runs of `[A-Za-z0-9_.:/]`, classified afterwards: all digits is
//! an integer, a word with `:` or a leading digit is an IP address or CIDR
//! (`10.0.0.0/8`, `2001:db8::/32`, `::1`), anything else an identifier
//! (field, function or keyword). Identifiers never contain `:` or `/`, so
//! bare IP literals need no quotes.

use super::Diag;
use super::MAX_STRING_LEN;
use super::ast::Span;

/// One token and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Int(String),
    Ip(String),
    Str(Vec<u8>),
    /// `$name`.
    List(String),
    Op(Op),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    XorXor,
    Bang,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Star,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::EqEq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::AndAnd => "&&",
            Op::OrOr => "||",
            Op::XorXor => "^^",
            Op::Bang => "!",
            Op::LParen => "(",
            Op::RParen => ")",
            Op::LBrace => "{",
            Op::RBrace => "}",
            Op::LBracket => "[",
            Op::RBracket => "]",
            Op::Comma => ",",
            Op::Star => "*",
        }
    }
}

/// Operators, longest first so `<=` wins over `<`.
const OPS: &[Op] = &[
    Op::EqEq,
    Op::Ne,
    Op::Le,
    Op::Ge,
    Op::AndAnd,
    Op::OrOr,
    Op::XorXor,
    Op::Lt,
    Op::Gt,
    Op::Bang,
    Op::LParen,
    Op::RParen,
    Op::LBrace,
    Op::RBrace,
    Op::LBracket,
    Op::RBracket,
    Op::Comma,
    Op::Star,
];

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/')
}

/// Tokenizes `src`; the last token is `Eof`. Stops at the first error:
/// after a broken string literal nothing that follows can be trusted.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Diag> {
    let mut lx = Lexer {
        src: src.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_space();
        let start = lx.pos;
        let Some(&b) = lx.src.get(start) else {
            out.push(Token {
                tok: Tok::Eof,
                span: Span::new(start, start),
            });
            return Ok(out);
        };
        let tok = lx.next(b, src)?;
        out.push(Token {
            tok,
            span: Span::new(start, lx.pos),
        });
    }
}

struct Lexer<'s> {
    src: &'s [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn skip_space(&mut self) {
        while self.src.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn next(&mut self, b: u8, src: &str) -> Result<Tok, Diag> {
        let start = self.pos;
        if b == b'"' {
            return self.string(start);
        }
        if b == b'r' && matches!(self.peek(1), Some(b'"' | b'#')) {
            return self.raw_string(start);
        }
        if b == b'$' {
            self.pos += 1;
            let name = self.word(src);
            if name.is_empty() {
                return Err(Diag::new(start, start + 1, "expected a list name after $"));
            }
            return Ok(Tok::List(name.to_owned()));
        }
        if is_word(b) {
            return Ok(classify(self.word(src)));
        }
        for op in OPS {
            if self.src[start..].starts_with(op.as_str().as_bytes()) {
                self.pos += op.as_str().len();
                return Ok(Tok::Op(*op));
            }
        }
        Err(self.unexpected(start, src))
    }

    fn word<'s>(&mut self, src: &'s str) -> &'s str {
        let start = self.pos;
        while self.peek(0).is_some_and(is_word) {
            self.pos += 1;
        }
        &src[start..self.pos]
    }

    fn unexpected(&self, start: usize, src: &str) -> Diag {
        let c = src[start..].chars().next().unwrap_or(' ');
        let hint = match c {
            '=' => "; use == to compare",
            '&' => "; use && or and",
            '|' => "; use || or or",
            '\'' => "; strings use double quotes",
            _ => "",
        };
        Diag::new(
            start,
            start + c.len_utf8(),
            format!("unexpected character \"{}\"{hint}", c.escape_default()),
        )
    }

    /// `"..."` with escapes `\" \\ \n \r \t \xNN`.
    fn string(&mut self, start: usize) -> Result<Tok, Diag> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek(0) else {
                return Err(Diag::new(start, self.pos, "unterminated string"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => out.push(self.escape()?),
                b => out.push(b),
            }
            if out.len() > MAX_STRING_LEN {
                return Err(too_long(start, self.pos));
            }
        }
        Ok(Tok::Str(out))
    }

    fn escape(&mut self) -> Result<u8, Diag> {
        let at = self.pos - 1;
        let b = self.peek(0);
        self.pos += 1;
        Ok(match b {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'x') => {
                let hex = |o| self.peek(o).and_then(|b: u8| (b as char).to_digit(16));
                match (hex(0), hex(1)) {
                    (Some(h), Some(l)) => {
                        self.pos += 2;
                        (h * 16 + l) as u8
                    }
                    _ => return Err(Diag::new(at, self.pos, "\\x needs two hex digits")),
                }
            }
            None => return Err(Diag::new(at, self.pos, "unterminated string")),
            Some(_) => {
                let end = (self.pos..=self.src.len())
                    .find(|&i| i == self.src.len() || (self.src[i] & 0xC0) != 0x80)
                    .unwrap_or(self.src.len());
                self.pos = end;
                return Err(Diag::new(
                    at,
                    end,
                    "unknown escape; use \\\" \\\\ \\n \\r \\t or \\xNN (or a raw string r\"...\")",
                ));
            }
        })
    }

    /// `r"..."`, `r#"..."#` (any number of `#`): no escapes.
    fn raw_string(&mut self, start: usize) -> Result<Tok, Diag> {
        self.pos += 1;
        let mut hashes = 0;
        while self.peek(0) == Some(b'#') {
            hashes += 1;
            self.pos += 1;
        }
        if self.peek(0) != Some(b'"') {
            return Err(Diag::new(
                start,
                self.pos,
                "expected \" to start a raw string",
            ));
        }
        self.pos += 1;
        let body = self.pos;
        let mut close = vec![b'"'];
        close.extend(std::iter::repeat_n(b'#', hashes));
        let Some(len) = memchr::memmem::find(&self.src[body..], &close) else {
            self.pos = self.src.len();
            return Err(Diag::new(start, body, "unterminated raw string"));
        };
        if len > MAX_STRING_LEN {
            return Err(too_long(start, body + len + close.len()));
        }
        self.pos = body + len + close.len();
        Ok(Tok::Str(self.src[body..body + len].to_vec()))
    }
}

fn too_long(start: usize, end: usize) -> Diag {
    Diag::new(
        start,
        end,
        format!("string literal is longer than {MAX_STRING_LEN} bytes"),
    )
}

fn classify(word: &str) -> Tok {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        Tok::Int(word.to_owned())
    } else if word.contains(':') || word.starts_with(|c: char| c.is_ascii_digit()) {
        Tok::Ip(word.to_owned())
    } else {
        Tok::Ident(word.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn classifies_words() {
        assert_eq!(
            toks("ip.src in {10.0.0.0/8, ::1 fe80::/10 7} $bad"),
            vec![
                Tok::Ident("ip.src".into()),
                Tok::Ident("in".into()),
                Tok::Op(Op::LBrace),
                Tok::Ip("10.0.0.0/8".into()),
                Tok::Op(Op::Comma),
                Tok::Ip("::1".into()),
                Tok::Ip("fe80::/10".into()),
                Tok::Int("7".into()),
                Tok::Op(Op::RBrace),
                Tok::List("bad".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(r##""a\"b\\\n\x41" r"x\d" r#"q"x"#"##),
            vec![
                Tok::Str(b"a\"b\\\nA".to_vec()),
                Tok::Str(b"x\\d".to_vec()),
                Tok::Str(b"q\"x".to_vec()),
                Tok::Eof
            ]
        );
        assert!(lex("\"abc").is_err());
        assert!(lex("\"\\q\"").is_err());
        assert!(lex("\"\\x4\"").is_err());
        assert!(lex("r#\"abc\"").is_err());
        let long = format!("\"{}\"", "a".repeat(MAX_STRING_LEN + 1));
        assert!(lex(&long).is_err());
        let ok = format!("\"{}\"", "a".repeat(MAX_STRING_LEN));
        assert!(lex(&ok).is_ok());
    }

    #[test]
    fn operators_longest_first() {
        assert_eq!(
            toks("a<=b!=c&&!d"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op(Op::Le),
                Tok::Ident("b".into()),
                Tok::Op(Op::Ne),
                Tok::Ident("c".into()),
                Tok::Op(Op::AndAnd),
                Tok::Op(Op::Bang),
                Tok::Ident("d".into()),
                Tok::Eof
            ]
        );
        assert!(lex("a = b").is_err());
        assert!(lex("é").is_err());
    }
}
