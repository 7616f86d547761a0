//! Any text as a rules expression: parsing, compiling and evaluating must
//! never panic; every diagnostic must render; a parsed tree printed and
//! parsed again must be the same tree; a compiled filter must give the same
//! answer alone and through a `FilterSet` index.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use outpost_rules::OwnedRequest;
use outpost_rules::ip::{IpList, Lists};
use outpost_rules::lang::{self, FilterSet, MAX_SOURCE_LEN};

fn fixtures() -> &'static (Lists, Vec<OwnedRequest>) {
    static F: OnceLock<(Lists, Vec<OwnedRequest>)> = OnceLock::new();
    F.get_or_init(|| {
        let mut lists: Lists = HashMap::new();
        let list = IpList::new(["192.0.2.0/24".parse().unwrap()]);
        lists.insert("bad".to_owned(), Arc::new(list));
        let headers = [
            "User-Agent: Mozilla/5.0".to_owned(),
            "Cookie: a=1; b=2".to_owned(),
            "X-Forwarded-For: 1.2.3.4".to_owned(),
            "X-Forwarded-For: 5.6.7.8".to_owned(),
        ];
        let reqs = [
            ("POST https://example.com/admin/x?a=1&b=%41+c", "192.0.2.9"),
            ("GET http://b.test/", "2001:db8::1"),
        ]
        .map(|(line, ip)| OwnedRequest::parse(line, ip.parse().unwrap(), &headers).unwrap());
        (lists, reqs.to_vec())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (lists, reqs) = fixtures();
    if let Ok(expr) = lang::parse(src) {
        let printed = expr.to_string();
        // Canonical printing can be longer than the source (escapes), and
        // then past the source limit; only shorter prints must re-parse.
        if printed.len() <= MAX_SOURCE_LEN {
            let again = lang::parse(&printed).expect("a printed expression parses");
            assert_eq!(again, expr, "{printed}");
        }
    }
    match lang::compile(src, lists) {
        Ok(filter) => {
            let answers: Vec<bool> = reqs.iter().map(|r| filter.eval(&r.view())).collect();
            let set = FilterSet::new(vec![filter]);
            for (r, want) in reqs.iter().zip(answers) {
                let mut got = false;
                set.for_each_match(
                    &r.view(),
                    |_| false,
                    |_| {
                        got = true;
                        true
                    },
                );
                assert_eq!(got, want, "index disagrees on {src}");
            }
        }
        Err(diags) => {
            assert!(!diags.is_empty());
            for d in diags {
                let _ = d.render(src);
            }
        }
    }
});
