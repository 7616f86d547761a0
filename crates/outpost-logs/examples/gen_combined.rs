//! Seeded generator of a realistic NGINX `combined` access log for `bench/run logs`.
//!
//! `cargo run --release -p outpost-logs --example gen_combined -- OUT BYTES [SEED]`
//!
//! About 1M client IPs and 100k paths, both Zipf-distributed (s = 1.0), a status mix
//! dominated by 200 with 3xx/4xx/5xx tails, 24 user agents (Zipf), 40% of requests with a
//! referer, timestamps advancing about 50 lines per second. The same seed always gives
//! the same bytes. No dependencies: SplitMix64 and inverse-CDF sampling.

use std::io::{BufWriter, Write};

const IPS: usize = 1_000_000;
const PATHS: usize = 100_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf(s = 1) over `n` ranks by binary search in the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        let cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        let total = acc;
        Zipf(cdf.into_iter().map(|c| c / total).collect())
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

const UAS: [&str; 24] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Wget/1.21.4",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 zgrab/0.x",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
    "-",
];

const SECTIONS: [&str; 10] = [
    "products",
    "api/v1/items",
    "blog",
    "static/js",
    "static/css",
    "images",
    "account",
    "search",
    "category",
    "api/v2/cart",
];
const EXT: [&str; 6] = ["", ".html", ".js", ".css", ".png", ".json"];

fn path(i: usize) -> String {
    let h = mix(i as u64 ^ 0x5eed);
    let sec = SECTIONS[(h % SECTIONS.len() as u64) as usize];
    let ext = EXT[((h >> 8) % EXT.len() as u64) as usize];
    let q = if (h >> 16) % 7 == 0 {
        format!("?page={}", (h >> 20) % 50)
    } else {
        String::new()
    };
    format!("/{sec}/{}{ext}{q}", (h >> 24) % 1_000_000)
}

fn ip(i: usize) -> String {
    let h = mix(i as u64 ^ 0x1b_0000);
    if h % 50 == 0 {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            (h >> 8) & 0xffff,
            (h >> 24) & 0xffff,
            (h >> 40) & 0xffff
        )
    } else {
        let v = (h >> 16) as u32;
        format!(
            "{}.{}.{}.{}",
            (v >> 24).max(1),
            (v >> 16) & 255,
            (v >> 8) & 255,
            v & 255
        )
    }
}

fn status(rng: &mut Rng) -> u16 {
    let r = rng.unit();
    const MIX: [(f64, u16); 12] = [
        (0.760, 200),
        (0.070, 304),
        (0.020, 301),
        (0.015, 302),
        (0.010, 206),
        (0.075, 404),
        (0.010, 403),
        (0.008, 401),
        (0.012, 400),
        (0.010, 500),
        (0.006, 502),
        (0.004, 503),
    ];
    let mut acc = 0.0;
    for (p, s) in MIX {
        acc += p;
        if r < acc {
            return s;
        }
    }
    200
}

fn method(rng: &mut Rng) -> &'static str {
    match rng.next() % 100 {
        0..=89 => "GET",
        90..=96 => "POST",
        97..=98 => "HEAD",
        _ => "PUT",
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn main() -> std::io::Result<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(bytes)) = (args.get(1), args.get(2).and_then(|b| b.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen_combined OUT BYTES [SEED]");
        return Ok(std::process::ExitCode::from(2));
    };
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(42u64);
    let mut rng = Rng(seed);
    let ips: Vec<String> = (0..IPS).map(ip).collect();
    let paths: Vec<String> = (0..PATHS).map(path).collect();
    let (zip_ip, zip_path, zip_ua) = (Zipf::new(IPS), Zipf::new(PATHS), Zipf::new(UAS.len()));
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let (mut written, mut t) = (0u64, 1_795_651_200u64); // 2026-11-26T00:00:00Z
    let mut line = String::with_capacity(512);
    while written < bytes {
        use std::fmt::Write as _;
        line.clear();
        t += u64::from(rng.next() % 50 == 0);
        let (days, rem) = (t / 86_400, t % 86_400);
        // The log spans about one day from 2026-11-26 (day 20,783 of the epoch).
        let dom = 26 + (days - 20_783);
        let st = status(&mut rng);
        let size = if st == 304 {
            0
        } else {
            200 + (rng.unit().powi(3) * 200_000.0) as u64
        };
        let referer = if rng.next() % 10 < 4 {
            format!(
                "https://www.example.com{}",
                paths[zip_path.sample(&mut rng)]
            )
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            line,
            "{} - - [{:02}/{}/2026:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"",
            ips[zip_ip.sample(&mut rng)],
            dom,
            MONTHS[10],
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            method(&mut rng),
            paths[zip_path.sample(&mut rng)],
            st,
            size,
            referer,
            UAS[zip_ua.sample(&mut rng)],
        );
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    w.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}
