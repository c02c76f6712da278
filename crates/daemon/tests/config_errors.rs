//! Every error path: the message names FILE:LINE, the problem, the line itself and
//! what was expected.

mod common;

use common::{error_of, parse, parse_with, MemFs};
use gnomon_config::{Config, ConfigError, Location, Problem, MAX_LINE_CHARS};

const F: &str = "/etc/gnomon/gnomon.conf";

fn assert_error(text: &str, expected: &str) {
    assert_eq!(error_of(text), expected, "for {text:?}");
}

#[test]
fn brief_example() {
    assert_error(
        "# comment\n\n; more\n! more\n% more\n  # indented\nserver a.b minpoll x\n",
        &format!(
            "{F}:7: invalid minpoll value \"x\" in: server a.b minpoll x — expected an \
             integer from -7 to 24"
        ),
    );
}

#[test]
fn unknown_directive_with_suggestion() {
    assert_error(
        "sever 169.254.169.123 iburst",
        &format!(
            "{F}:1: unknown directive \"sever\" in: sever 169.254.169.123 iburst — expected a \
             chrony.conf directive (server, pool, allow, makestep, ...; see docs/config.md); \
             did you mean \"server\"?"
        ),
    );
    let text = error_of("frobnicate 1");
    assert!(text.starts_with(&format!("{F}:1: unknown directive \"frobnicate\"")));
    assert!(!text.contains("did you mean"));
}

#[test]
fn trailing_comments_are_not_comments() {
    // chrony only knows whole-line comments.
    assert_error(
        "server a.b iburst # Amazon",
        &format!(
            "{F}:1: unknown server option \"#\" in: server a.b iburst # Amazon — expected a \
             server/pool option: iburst, burst, prefer, noselect, trust, require, minpoll N, \
             maxpoll N, port N, maxdelay S, maxsources N, ... (see docs/config.md)"
        ),
    );
}

#[test]
fn source_errors() {
    assert_error(
        "server",
        &format!(
            "{F}:1: missing host name or address in: server — expected server NAME [OPTION]..."
        ),
    );
    assert_error(
        "pool p.example maxsources 17",
        &format!(
            "{F}:1: invalid maxsources value \"17\" in: pool p.example maxsources 17 — expected \
             an integer from 1 to 16"
        ),
    );
    assert_error(
        "server a.b maxpoll",
        &format!(
            "{F}:1: missing maxpoll value in: server a.b maxpoll — expected an integer from -7 to 24"
        ),
    );
    assert_error(
        "server a.b minpoll 25",
        &format!(
            "{F}:1: invalid minpoll value \"25\" in: server a.b minpoll 25 — expected an integer \
             from -7 to 24"
        ),
    );
    assert_error(
        "server a.b port 70000",
        &format!(
            "{F}:1: invalid port value \"70000\" in: server a.b port 70000 — expected an integer \
             from 0 to 65535"
        ),
    );
    assert_error(
        "server a.b maxdelay -1",
        &format!(
            "{F}:1: invalid maxdelay value \"-1\" in: server a.b maxdelay -1 — expected a number \
             from 0 to 1000"
        ),
    );
    assert_error(
        "server a.b iburst frob",
        &format!(
            "{F}:1: unknown server option \"frob\" in: server a.b iburst frob — expected a \
             server/pool option: iburst, burst, prefer, noselect, trust, require, minpoll N, \
             maxpoll N, port N, maxdelay S, maxsources N, ... (see docs/config.md)"
        ),
    );
    assert_error(
        "server a.b key 0",
        &format!(
            "{F}:1: invalid key value \"0\" in: server a.b key 0 — expected an integer from 1 \
             to 4294967295"
        ),
    );
    assert_error(
        "server a.b extfield F999",
        &format!(
            "{F}:1: invalid extfield value \"F999\" in: server a.b extfield F999 — expected F323 \
             or F324"
        ),
    );
    assert_error(
        "server a.b version 5",
        &format!(
            "{F}:1: invalid version value \"5\" in: server a.b version 5 — expected an integer \
             from 1 to 4"
        ),
    );
    assert_error(
        "server a.b offset nan",
        &format!(
            "{F}:1: invalid offset value \"nan\" in: server a.b offset nan — expected a number"
        ),
    );
}

#[test]
fn clock_directive_errors() {
    assert_error(
        "makestep 1",
        &format!("{F}:1: missing limit in: makestep 1 — expected makestep THRESHOLD LIMIT"),
    );
    assert_error(
        "makestep 1 3 5",
        &format!("{F}:1: unexpected argument \"5\" in: makestep 1 3 5 — expected makestep THRESHOLD LIMIT"),
    );
    assert_error(
        "makestep one 3",
        &format!(
            "{F}:1: invalid makestep threshold value \"one\" in: makestep one 3 — expected a \
             number of at least 0"
        ),
    );
    assert_error(
        "makestep 1 3.5",
        &format!(
            "{F}:1: invalid makestep limit value \"3.5\" in: makestep 1 3.5 — expected an \
             integer from -2147483648 to 2147483647"
        ),
    );
    assert_error(
        "maxchange 1000 1",
        &format!(
            "{F}:1: missing ignore in: maxchange 1000 1 — expected maxchange OFFSET START IGNORE"
        ),
    );
    assert_error(
        "maxslewrate fast",
        &format!(
            "{F}:1: invalid maxslewrate value \"fast\" in: maxslewrate fast — expected a number \
             of at least 0"
        ),
    );
    assert_error(
        "minsources 0",
        &format!(
            "{F}:1: invalid minsources value \"0\" in: minsources 0 — expected an integer from 1 \
             to 2147483647"
        ),
    );
    assert_error(
        "maxdistance",
        &format!("{F}:1: missing distance in: maxdistance — expected maxdistance SECONDS"),
    );
    assert_error(
        "driftfile",
        &format!("{F}:1: missing file in: driftfile — expected driftfile FILE [interval SECONDS]"),
    );
    assert_error(
        "driftfile /x every 5",
        &format!(
            "{F}:1: unknown driftfile option \"every\" in: driftfile /x every 5 — expected \
             driftfile FILE [interval SECONDS]"
        ),
    );
    assert_error(
        "driftfile /x interval",
        &format!(
            "{F}:1: missing interval value in: driftfile /x interval — expected driftfile FILE \
             [interval SECONDS]"
        ),
    );
    assert_error(
        "rtcsync yes",
        &format!("{F}:1: unexpected argument \"yes\" in: rtcsync yes — expected `rtcsync` with no argument"),
    );
    assert_error(
        "leapsectz right/UTC extra",
        &format!(
            "{F}:1: unexpected argument \"extra\" in: leapsectz right/UTC extra — expected \
             leapsectz TZ"
        ),
    );
}

#[test]
fn local_and_log_errors() {
    assert_error(
        "local stratum 16",
        &format!(
            "{F}:1: invalid local stratum value \"16\" in: local stratum 16 — expected an \
             integer from 1 to 15"
        ),
    );
    assert_error(
        "local orphan loud",
        &format!(
            "{F}:1: unknown local option \"loud\" in: local orphan loud — expected local \
             [stratum N] [orphan] [distance S] [activate S] [waitsynced S] [waitunsynced S]"
        ),
    );
    assert_error(
        "local distance",
        &format!(
            "{F}:1: missing distance value in: local distance — expected local [stratum N] \
             [orphan] [distance S] [activate S] [waitsynced S] [waitunsynced S]"
        ),
    );
    // chrony's log names are case-sensitive.
    assert_error(
        "log Tracking",
        &format!(
            "{F}:1: invalid log value \"Tracking\" in: log Tracking — expected log names: \
             tracking, measurements, rawmeasurements, statistics (chrony's selection, rtc, \
             refclocks, tempcomp are recognised)"
        ),
    );
}

#[test]
fn server_and_access_errors() {
    assert_error(
        "allow 172.31.0.0/33",
        &format!(
            "{F}:1: invalid subnet value \"172.31.0.0/33\" in: allow 172.31.0.0/33 — expected \
             [all] [ADDRESS[/BITS] | SHORT-IPv4[/BITS] | HOSTNAME], e.g. 172.31.0.0/16, 10.1, \
             2001:db8::/32, all"
        ),
    );
    assert_error(
        "deny 10.0.0.0/8 11.0.0.0/8",
        &format!(
            "{F}:1: unexpected argument \"11.0.0.0/8\" in: deny 10.0.0.0/8 11.0.0.0/8 — expected \
             [all] [ADDRESS[/BITS] | SHORT-IPv4[/BITS] | HOSTNAME], e.g. 172.31.0.0/16, 10.1, \
             2001:db8::/32, all"
        ),
    );
    assert_error(
        "port -1",
        &format!(
            "{F}:1: invalid port value \"-1\" in: port -1 — expected an integer from 0 to 65535"
        ),
    );
    assert_error(
        "bindaddress eth0",
        &format!(
            "{F}:1: invalid bindaddress value \"eth0\" in: bindaddress eth0 — expected an IPv4 \
             or IPv6 address"
        ),
    );
    assert_error(
        "bindcmdaddress localhost",
        &format!(
            "{F}:1: invalid bindcmdaddress value \"localhost\" in: bindcmdaddress localhost — \
             expected bindcmdaddress PATH (a control socket path starting with /, or / to \
             disable) or an IP address"
        ),
    );
    assert_error(
        "cmdport",
        &format!("{F}:1: missing port in: cmdport — expected cmdport PORT"),
    );
    assert_error(
        "ratelimit interval 13",
        &format!(
            "{F}:1: invalid ratelimit interval value \"13\" in: ratelimit interval 13 — expected \
             an integer from -19 to 12"
        ),
    );
    assert_error(
        "ratelimit burst",
        &format!(
            "{F}:1: missing burst value in: ratelimit burst — expected ratelimit [interval \
             -19..12] [burst 1..255] [leak 1..4] [kod 0..4]"
        ),
    );
    assert_error(
        "ratelimit rate 3",
        &format!(
            "{F}:1: unknown ratelimit option \"rate\" in: ratelimit rate 3 — expected ratelimit \
             [interval -19..12] [burst 1..255] [leak 1..4] [kod 0..4]"
        ),
    );
    assert_error(
        "server_threads many",
        &format!(
            "{F}:1: invalid server_threads value \"many\" in: server_threads many — expected an \
             integer from 0 to 1024"
        ),
    );
    assert_error(
        "estimator ekf",
        &format!(
            "{F}:1: invalid estimator value \"ekf\" in: estimator ekf — expected \
             crossvalidated, runstest or kalman"
        ),
    );
    assert_error(
        "clientloglimit 2GB",
        &format!(
            "{F}:1: invalid clientloglimit value \"2GB\" in: clientloglimit 2GB — expected an \
             integer from 0 to 1073741824"
        ),
    );
    assert_error(
        "noclientlog yes",
        &format!("{F}:1: unexpected argument \"yes\" in: noclientlog yes — expected `noclientlog` with no argument"),
    );
    // chronyd starts neither ("Fatal error : Rate limiting cannot be enabled with
    // noclientlog", which `chronyd -p` does not check); the later line is named.
    assert_error(
        "allow\nratelimit interval 1\nnoclientlog",
        &format!(
            "{F}:3: noclientlog cannot be used with ratelimit in: noclientlog — expected \
             either ratelimit or noclientlog (rate limiting needs the client log; chronyd \
             refuses both too)"
        ),
    );
    assert_error(
        "noclientlog\nratelimit",
        &format!(
            "{F}:2: ratelimit cannot be used with noclientlog in: ratelimit — expected \
             either ratelimit or noclientlog (rate limiting needs the client log; chronyd \
             refuses both too)"
        ),
    );
    assert_error(
        "pidfile",
        &format!("{F}:1: missing file in: pidfile — expected pidfile FILE (or / to disable)"),
    );
    assert_error(
        "user a b",
        &format!("{F}:1: unexpected argument \"b\" in: user a b — expected user NAME"),
    );
}

#[test]
fn file_directive_errors() {
    assert_error(
        "include",
        &format!("{F}:1: missing file or pattern in: include — expected include FILE-OR-GLOB"),
    );
    assert_error(
        "include /nonexistent/gnomon-extra.conf",
        &format!(
            "{F}:1: cannot read /nonexistent/gnomon-extra.conf: No such file or directory in: \
             include /nonexistent/gnomon-extra.conf — expected a readable file"
        ),
    );
    assert_error(
        "confdir",
        &format!("{F}:1: missing directory in: confdir — expected confdir DIRECTORY..."),
    );
    assert_error(
        "sourcedir /a /b /c /d /e /f /g /h /i /j /k",
        &format!(
            "{F}:1: unexpected argument \"/k\" in: sourcedir /a /b /c /d /e /f /g /h /i /j /k — \
             expected at most 10 directories"
        ),
    );
}

#[test]
fn errors_in_included_files_name_that_file() {
    let fs = MemFs::new().with("/etc/gnomon/conf.d/10-bad.conf", "\nmakestep 1\n");
    let err = parse_with(&fs, "rtcsync\nconfdir /etc/gnomon/conf.d\n", F).unwrap_err();
    assert_eq!(
        err.location(),
        Some(&Location {
            origin: "/etc/gnomon/conf.d/10-bad.conf".into(),
            line_number: 2
        })
    );
}

#[test]
fn include_loops_stop() {
    let fs = MemFs::new().with("/etc/gnomon/loop.conf", "include /etc/gnomon/loop.conf\n");
    let err = parse_with(&fs, "include /etc/gnomon/loop.conf\n", F).unwrap_err();
    assert_eq!(err.problem(), Some(&Problem::IncludeTooDeep { max: 10 }));
    assert!(err
        .to_string()
        .starts_with("/etc/gnomon/loop.conf:1: files are included more than 10 levels deep"));
}

#[test]
fn long_lines() {
    let long = format!("server {}", "a".repeat(MAX_LINE_CHARS));
    let err = parse(&long).unwrap_err();
    assert_eq!(err.problem(), Some(&Problem::LineTooLong { max: 2046 }));
    let text = err.to_string();
    assert!(text.starts_with(&format!(
        "{F}:1: line is longer than 2046 characters in: server aaa"
    )));
    assert!(text.ends_with("… — expected a shorter line (chrony's limit)"));
    // chrony measures comment lines too.
    assert!(parse(&format!("#{}", "c".repeat(MAX_LINE_CHARS))).is_err());
}

#[test]
fn unreadable_top_level_file() {
    let err = Config::load(std::path::Path::new("/nonexistent/gnomon.conf"), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }));
    assert_eq!(
        err.to_string(),
        "/nonexistent/gnomon.conf: cannot read configuration file: No such file or directory \
         (os error 2)"
    );
}
