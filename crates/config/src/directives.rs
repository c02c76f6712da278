//! The catalogue of directive names: every chrony 4.x directive, gnomon's own ones,
//! and whether gnomon supports each.
//!
//! Owns the answer to "known but unsupported" versus "unknown". It must not parse
//! arguments (the parser does) and holds no state. Sources: chrony.conf(5) of
//! chrony 4.3 and chrony's conf.c up to 4.7 (newer directives are marked).

/// What gnomon does with a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Parsed and applied.
    Supported,
    /// chrony knows it; gnomon does not support it yet: warning, line skipped.
    Unsupported,
    /// chrony itself no longer supports it (chrony warns too): warning, line skipped.
    Obsolete,
}

/// Directives gnomon parses (see the parser for each one's arguments).
pub const SUPPORTED: &[&str] = &[
    "allow",
    "bindaddress",
    "bindcmdaddress",
    "clientloglimit",
    "clockbound",
    "clockprecision",
    "cmdport",
    "combinelimit",
    "confdir",
    "corrtimeratio",
    "deny",
    "driftfile",
    "estimator",
    "include",
    "leapseclist",
    "leapsectz",
    "local",
    "log",
    "logdir",
    "makestep",
    "maxchange",
    "maxclockerror",
    "maxdistance",
    "maxdrift",
    "maxjitter",
    "maxslewrate",
    "maxupdateskew",
    "metrics",
    "minsources",
    "noclientlog",
    "pidfile",
    "pool",
    "port",
    "ratelimit",
    "reselectdist",
    "rtcsync",
    "server",
    "server_threads",
    "sourcedir",
    "stratumweight",
    "user",
];

/// Directives of chrony 4.x that gnomon recognises but does not support yet.
pub const UNSUPPORTED: &[&str] = &[
    "acquisitionport",
    "authselectmode",
    "bindacqaddress",
    "bindacqdevice",
    "bindcmddevice",
    "binddevice",
    "broadcast",
    "cmdallow",
    "cmddeny",
    "cmdratelimit",
    "dscp",
    "dumpdir",
    "fallbackdrift",
    "hwclockfile",
    "hwtimestamp",
    "hwtstimeout",
    "initstepslew",
    "keyfile",
    "leapsecmode",
    "lock_all",
    "logbanner",
    "logchange",
    "mailonchange",
    "manual",
    "maxntsconnections",
    "maxsamples",
    "minsamples",
    "nocerttimecheck",
    "nosystemcert",
    "ntpsigndsocket",
    "ntsaeads",
    "ntscachedir",
    "ntsdumpdir",
    "ntsntpserver",
    "ntsport",
    "ntsprocesses",
    "ntsratelimit",
    "ntsrefresh",
    "ntsrotate",
    "ntsservercert",
    "ntsserverkey",
    "ntstrustedcerts",
    "opencommands",
    "peer",
    "ptpdomain",
    "ptpport",
    "refclock",
    "refresh",
    "rtcautotrim",
    "rtcdevice",
    "rtcfile",
    "rtconutc",
    "sched_priority",
    "smoothtime",
    "tempcomp",
];

/// Directives chrony 4 dropped (it warns, or silently ignores `dumponexit`).
pub const OBSOLETE: &[&str] = &[
    "commandkey",
    "dumponexit",
    "generatecommandkey",
    "linux_freq_scale",
    "linux_hz",
];

/// Look a directive up, case-insensitively as chrony does. None: unknown word.
pub fn support_of(directive: &str) -> Option<Support> {
    let name = directive.to_ascii_lowercase();
    let name = name.as_str();
    if SUPPORTED.contains(&name) {
        Some(Support::Supported)
    } else if UNSUPPORTED.contains(&name) {
        Some(Support::Unsupported)
    } else if OBSOLETE.contains(&name) {
        Some(Support::Obsolete)
    } else {
        None
    }
}

/// Why a known directive is skipped, for the warning.
pub fn skip_reason(directive: &str) -> String {
    match directive {
        "peer" => "symmetric peers are not supported by gnomon yet; use `server` on both \
                   hosts; line skipped"
            .to_string(),
        "refclock" => "reference clocks are not supported by gnomon yet; line skipped".into(),
        "keyfile" => "symmetric-key authentication is not supported by gnomon yet; \
                      line skipped"
            .into(),
        name if name.starts_with("nts") || name == "nosystemcert" || name == "nocerttimecheck" => {
            "NTS is not supported by gnomon yet; line skipped".into()
        }
        name if OBSOLETE.contains(&name) => {
            "obsolete chrony directive (chrony ignores it too); line skipped".into()
        }
        _ => "known chrony directive not supported by gnomon yet; line skipped".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_do_not_overlap_and_are_sorted() {
        for list in [SUPPORTED, UNSUPPORTED, OBSOLETE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        for name in SUPPORTED {
            assert!(!UNSUPPORTED.contains(name) && !OBSOLETE.contains(name));
        }
        for name in UNSUPPORTED {
            assert!(!OBSOLETE.contains(name));
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(support_of("SERVER"), Some(Support::Supported));
        assert_eq!(support_of("KeyFile"), Some(Support::Unsupported));
        assert_eq!(support_of("linux_hz"), Some(Support::Obsolete));
        assert_eq!(support_of("severs"), None);
    }
}
