//! Bad input gets a clear error and loses nothing (DESIGN rule 5): generated lines
//! never panic the parser, every error names its line, and every configuration that
//! parses renders to text that parses back to the same configuration.
//! Deterministic (fixed seed) and bounded in count.

mod common;

use common::{parse_with, MemFs};
use gnomon_config::{render_effective, Config};

/// xorshift64*: a fixed, dependency-free sequence.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

const DIRECTIVES: &[&str] = &[
    "server",
    "pool",
    "peer",
    "allow",
    "deny",
    "makestep",
    "maxchange",
    "maxslewrate",
    "minsources",
    "maxdistance",
    "driftfile",
    "rtcsync",
    "local",
    "leapsectz",
    "leapseclist",
    "logdir",
    "log",
    "pidfile",
    "user",
    "bindcmdaddress",
    "cmdport",
    "port",
    "bindaddress",
    "ratelimit",
    "server_threads",
    "keyfile",
    "refclock",
    "SERVER",
    "Allow",
    "frob",
    "#",
    ";",
    "",
];

const WORDS: &[&str] = &[
    "a.example",
    "169.254.169.123",
    "172.31.0.0/16",
    "10",
    "10.1.2",
    "::1",
    "::/0",
    "0/0",
    "all",
    "iburst",
    "burst",
    "prefer",
    "noselect",
    "trust",
    "require",
    "minpoll",
    "maxpoll",
    "port",
    "maxdelay",
    "maxsources",
    "offset",
    "xleave",
    "nts",
    "key",
    "ipv4",
    "ipv6",
    "interval",
    "leak",
    "stratum",
    "orphan",
    "distance",
    "tracking",
    "statistics",
    "/",
    "/x",
    "-1",
    "0",
    "1",
    "4",
    "24",
    "25",
    "65536",
    "1e-3",
    "0.5",
    "nan",
    "x",
    "é",
    "\t",
    "#",
    "/33",
];

fn without_origins(mut config: Config) -> Config {
    for source in &mut config.sources {
        source.origin.origin.clear();
        source.origin.line_number = 0;
    }
    config
}

#[test]
fn generated_lines_never_panic_and_round_trip() {
    let fs = MemFs::new();
    let mut sequence = Sequence(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..5000 {
        let mut text = String::new();
        let lines = 1 + sequence.next() % 4;
        for _ in 0..lines {
            text.push_str(sequence.pick(DIRECTIVES));
            for _ in 0..sequence.next() % 6 {
                text.push(' ');
                text.push_str(sequence.pick(WORDS));
            }
            text.push('\n');
        }
        match parse_with(&fs, &text, "gen.conf") {
            Ok(parsed) => {
                accepted += 1;
                let rendered = render_effective(&parsed.config);
                let again = parse_with(&fs, &rendered, "effective")
                    .unwrap_or_else(|e| panic!("{e}\nfrom:\n{text}\nrendered:\n{rendered}"));
                assert_eq!(
                    without_origins(again.config),
                    without_origins(parsed.config),
                    "from:\n{text}\nrendered:\n{rendered}"
                );
            }
            Err(err) => {
                refused += 1;
                let message = err.to_string();
                assert!(message.starts_with("gen.conf:"), "{message}");
                assert!(message.contains(" — expected "), "{message}");
            }
        }
    }
    assert!(
        accepted > 200 && refused > 200,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let fs = MemFs::new();
    let mut sequence = Sequence(42);
    for _ in 0..2000 {
        let length = (sequence.next() % 200) as usize;
        let bytes: Vec<u8> = (0..length).map(|_| sequence.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_with(&fs, &text, "bytes.conf");
    }
}
