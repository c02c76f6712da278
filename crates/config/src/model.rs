//! The typed configuration: what gnomond runs with, with chrony's defaults.
//!
//! Owns the shape of [`Config`] and every default (each documented next to its field,
//! with chrony's value when gnomon differs). It must not parse text, read files or
//! resolve names: host names stay strings until the daemon resolves them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::error::Location;

/// gnomond's default configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/gnomon/gnomon.conf";
/// Default control socket path (chrony: /run/chrony/chronyd.sock).
pub const DEFAULT_COMMAND_SOCKET: &str = "/run/gnomon/gnomond.sock";
/// Default PID file (chrony: /run/chrony/chronyd.pid).
pub const DEFAULT_PID_FILE: &str = "/run/gnomon/gnomond.pid";
/// The NTP port.
pub const NTP_PORT: u16 = 123;
/// chrony's command port (UDP); gnomon keeps the value but has no UDP command port.
pub const DEFAULT_COMMAND_PORT: u16 = 323;
/// chrony's default NTS-KE port.
pub const DEFAULT_NTS_KE_PORT: u16 = 4460;

/// Which IP family names may resolve to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressFamily {
    /// IPv4 and IPv6 (the default).
    #[default]
    Any,
    /// IPv4 only (`-4`, or the `ipv4` source option).
    Ipv4,
    /// IPv6 only (`-6`, or the `ipv6` source option).
    Ipv6,
}

/// `server` or `pool` (`peer` is recognised and skipped with a warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// One server (`server NAME`).
    Server,
    /// A name resolving to many servers (`pool NAME`).
    Pool,
}

impl SourceKind {
    /// The directive word.
    pub fn directive(self) -> &'static str {
        match self {
            SourceKind::Server => "server",
            SourceKind::Pool => "pool",
        }
    }
}

/// One `server` or `pool` line. Defaults are chrony's.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceConfig {
    /// server or pool.
    pub kind: SourceKind,
    /// Host name or address, exactly as written (never resolved while parsing).
    pub name: String,
    /// Where the line is (for messages and the effective-config listing).
    pub origin: Location,
    /// True if the line came from a `sourcedir` file.
    pub from_sourcedir: bool,
    /// `port`: UDP port of the server. Default 123.
    pub port: u16,
    /// `ipv4` / `ipv6`: resolve the name to this family only. Default: any
    /// (then the daemon's `-4`/`-6`, see [`Config::address_family`], applies).
    pub family: AddressFamily,
    /// `minpoll`: shortest poll interval, log2 seconds (-7..=24). Default 6 (64 s).
    pub minpoll_log2_s: i8,
    /// `maxpoll`: longest poll interval, log2 seconds (-7..=24). Default 10 (1024 s).
    /// A value below minpoll is raised to minpoll (as chrony does), with a warning.
    pub maxpoll_log2_s: i8,
    /// `iburst`: start with a burst of 4-8 requests. Default off.
    pub iburst: bool,
    /// `burst`: send a burst when a good measurement is missing. Default off.
    pub burst: bool,
    /// `offline`: start without polling until `gnomon online`. Default off.
    pub offline: bool,
    /// `prefer`. Default off.
    pub prefer: bool,
    /// `noselect`: measure, never select. Default off.
    pub noselect: bool,
    /// `trust`. Default off.
    pub trust: bool,
    /// `require`. Default off.
    pub require: bool,
    /// `maxdelay`: reject samples with a longer round trip (seconds, 0..=1000). Default 3.
    pub maxdelay_s: f64,
    /// `maxdelayratio`: reject samples whose delay exceeds this multiple of the
    /// minimum delay. Default None (test off; chrony writes 0).
    pub maxdelayratio: Option<f64>,
    /// `maxdelaydevratio`. Default 10.
    pub maxdelaydevratio: f64,
    /// `maxsources` (pool only, 1..=16): servers wanted from the pool. Default 4.
    pub maxsources: u8,
    /// `minstratum` (0..=16): treat the source's stratum as at least this. Default 0.
    pub minstratum: u8,
    /// `polltarget`: regression samples the poll interval adapts to. Default 8.
    pub polltarget: u32,
    /// `offset`: correction added to measured offsets (seconds). Default 0.
    pub offset_s: f64,
    /// `minsamples`. Default None (the global `minsamples`).
    pub minsamples: Option<u32>,
    /// `maxsamples`. Default None (the global `maxsamples`).
    pub maxsamples: Option<u32>,
    /// Options chrony has that gnomon keeps but does not use yet, as written
    /// (`xleave`, `presend 9`, `filter 4`, `asymmetry 0.1`, ...), in line order.
    pub kept_options: Vec<String>,
}

impl SourceConfig {
    /// A source with chrony's defaults.
    pub fn new(kind: SourceKind, name: impl Into<String>, origin: Location) -> SourceConfig {
        SourceConfig {
            kind,
            name: name.into(),
            origin,
            from_sourcedir: false,
            port: NTP_PORT,
            family: AddressFamily::Any,
            minpoll_log2_s: 6,
            maxpoll_log2_s: 10,
            iburst: false,
            burst: false,
            offline: false,
            prefer: false,
            noselect: false,
            trust: false,
            require: false,
            maxdelay_s: 3.0,
            maxdelayratio: None,
            maxdelaydevratio: 10.0,
            maxsources: 4,
            minstratum: 0,
            polltarget: 8,
            offset_s: 0.0,
            minsamples: None,
            maxsamples: None,
            kept_options: Vec::new(),
        }
    }

    /// The family the daemon must resolve this source's name to: the source's own
    /// `ipv4`/`ipv6` option wins over the daemon-wide `-4`/`-6`.
    pub fn effective_family(&self, daemon_family: AddressFamily) -> AddressFamily {
        match self.family {
            AddressFamily::Any => daemon_family,
            own => own,
        }
    }
}

/// `makestep THRESHOLD LIMIT`: step instead of slewing when the offset exceeds the
/// threshold, in the first LIMIT updates (a negative limit: always).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MakeStep {
    /// Offset above which the clock is stepped (seconds).
    pub threshold_s: f64,
    /// Number of first clock updates in which stepping is allowed; negative = no limit.
    pub limit_updates: i32,
}

/// `maxchange OFFSET START IGNORE`: refuse offsets larger than OFFSET after START
/// updates; IGNORE such offsets are ignored, the next one makes the daemon exit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxChange {
    /// Largest accepted offset (seconds).
    pub offset_s: f64,
    /// The check starts after this many clock updates.
    pub start_after_updates: i32,
    /// How many too-large offsets are ignored before giving up; negative = ignore all.
    pub ignore_count: i32,
}

/// `local`: serve time as if synchronised when no source is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalReference {
    /// `stratum` (1..=15). Default 10.
    pub stratum: u8,
    /// `orphan`: ntpd-compatible orphan mode. Default off.
    pub orphan: bool,
    /// `distance`: root distance that activates the local reference (seconds). Default 1.
    pub distance_s: f64,
    /// `activate` (chrony 4.7, kept): minimum distance reached before activation
    /// (seconds). Default 0 (off).
    pub activate_s: f64,
    /// `waitsynced` (chrony 4.7, kept): seconds to wait after synchronisation. Default 0.
    pub wait_synced_s: f64,
    /// `waitunsynced` (chrony 4.7, kept): seconds to wait when never synchronised.
    /// Default (resolved while parsing, chrony's rule): 300 with orphan, else 0.
    pub wait_unsynced_s: f64,
}

impl Default for LocalReference {
    fn default() -> Self {
        LocalReference {
            stratum: 10,
            orphan: false,
            distance_s: 1.0,
            activate_s: 0.0,
            wait_synced_s: 0.0,
            wait_unsynced_s: 0.0,
        }
    }
}

/// Which log files `log` enabled. gnomon writes tracking, measurements and statistics;
/// the other chrony logs are recognised and warned about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSelection {
    /// `log tracking`: tracking.log.
    pub tracking: bool,
    /// `log measurements`: measurements.log (valid measurements only).
    pub measurements: bool,
    /// `log rawmeasurements`: measurements.log with every packet.
    pub raw_measurements: bool,
    /// `log statistics`: statistics.log.
    pub statistics: bool,
}

/// The network part of an `allow`/`deny` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subnet {
    /// No address: every IPv4 and IPv6 address.
    Everything,
    /// An address with a prefix length (a bare address has /32 or /128;
    /// chrony's short forms `10`, `10.1`, `10.1.2` have /8, /16, /24).
    Network {
        /// Network address as written (host bits are not cleared).
        address: IpAddr,
        /// Prefix length in bits.
        prefix_len: u8,
    },
    /// A host name, kept as text; the daemon resolves it at start (first address).
    Host(String),
}

/// One `allow` or `deny` line, in file order (order matters, as in chrony).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRule {
    /// allow (true) or deny (false).
    pub allow: bool,
    /// `allow all ...`: overrides earlier rules for subnets inside this one.
    pub all: bool,
    /// The network.
    pub subnet: Subnet,
}

/// `ratelimit [interval I] [burst B] [leak L]`: response rate limiting per client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// `interval`: minimum interval between responses, log2 seconds (-19..=12). Default 3.
    pub interval_log2_s: i8,
    /// `burst`: responses allowed in a burst (1..=255). Default 8.
    pub burst: u8,
    /// `leak`: responses randomly let through, as a power of 1/2 (1..=4). Default 2.
    pub leak_log2: u8,
    /// `kod` (chrony 4.4+, kept): answer some limited requests with a RATE kiss-o'-death,
    /// as a power of 1/2; 0 = off. Default 0.
    pub kod_log2: u8,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            interval_log2_s: 3,
            burst: 8,
            leak_log2: 2,
            kod_log2: 0,
        }
    }
}

/// The whole configuration. `Default` is chrony's behaviour with an empty file
/// (except where a field says gnomon differs).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `server`/`pool` lines, in order, including those read from `sourcedir` files.
    pub sources: Vec<SourceConfig>,
    /// `sourcedir DIR...` lines (kept so the daemon can reload them). Default none.
    pub source_dirs: Vec<Vec<PathBuf>>,
    /// Address family for every name (`-4`/`-6` of gnomond; not a directive).
    /// The daemon sets it with [`Config::restrict_address_family`]. Default any.
    pub address_family: AddressFamily,
    /// `makestep`. Default None: the clock is never stepped (chrony's 0 0).
    pub makestep: Option<MakeStep>,
    /// `maxchange`. Default None: no limit.
    pub maxchange: Option<MaxChange>,
    /// `maxslewrate`: fastest slew (ppm, 0..=500000). Default 83333.333 (1/12).
    pub max_slew_rate_ppm: f64,
    /// `minsources`: selectable sources needed to update the clock (>= 1). Default 1.
    pub min_sources: u32,
    /// `maxdistance`: sources with a larger root distance are rejected (seconds). Default 3.
    pub max_distance_s: f64,
    /// Selection and clock tuning (`combinelimit`, `maxjitter`, `reselectdist`,
    /// `stratumweight`, `maxupdateskew`, `corrtimeratio`, `maxdrift`, `maxclockerror`,
    /// `clockprecision`), chrony's defaults.
    pub tuning: Tuning,
    /// `driftfile FILE [interval N]`: where the frequency is saved. Default none.
    pub drift_file: Option<PathBuf>,
    /// `driftfile ... interval N` (chrony 4.7): seconds between writes. Default 3600.
    pub drift_file_interval_s: u32,
    /// `rtcsync`: let the kernel copy the system time to the RTC every 11 minutes.
    pub rtc_sync: bool,
    /// `local`. Default None (off).
    pub local: Option<LocalReference>,
    /// `leapsectz`: time zone with leap seconds (e.g. right/UTC). Default none.
    pub leap_sec_tz: Option<String>,
    /// `leapseclist` (chrony 4.6): leap-seconds.list file. Default none.
    pub leap_sec_list: Option<PathBuf>,
    /// `logdir`. Default none: no log files are written (as chrony 4).
    pub log_dir: Option<PathBuf>,
    /// `log ...`. Default none.
    pub logs: LogSelection,
    /// `pidfile`; `/` disables it. Default /run/gnomon/gnomond.pid.
    pub pid_file: Option<PathBuf>,
    /// `user`: drop root to this user after opening sockets (keeping CAP_SYS_TIME).
    /// Default None: gnomon keeps the user it was started as (chrony: its
    /// compiled-in user, `_chrony` on Debian).
    pub user: Option<String>,
    /// `bindcmdaddress PATH`: control socket; `/` disables it.
    /// Default /run/gnomon/gnomond.sock.
    pub command_socket: Option<PathBuf>,
    /// `bindcmdaddress IPv4`: kept; gnomon has no UDP command port. Default none
    /// (chrony: 127.0.0.1).
    pub command_bind_v4: Option<Ipv4Addr>,
    /// `bindcmdaddress IPv6`: kept; unused as above. Default none (chrony: ::1).
    pub command_bind_v6: Option<Ipv6Addr>,
    /// `cmdport`: kept; gnomon has no UDP command port. Default 323.
    pub command_port: u16,
    /// `port`: NTP server port, opened only when an `allow` rule exists; 0 = client only.
    /// Default 123.
    pub ntp_port: u16,
    /// `bindaddress` IPv4: address the server socket binds. Default none (any).
    pub bind_address_v4: Option<Ipv4Addr>,
    /// `bindaddress` IPv6. Default none (any).
    pub bind_address_v6: Option<Ipv6Addr>,
    /// `allow`/`deny` rules, in order. Default none: nobody is served.
    pub access_rules: Vec<AccessRule>,
    /// `ratelimit`. Default None (no rate limiting).
    pub rate_limit: Option<RateLimit>,
    /// `clientloglimit BYTES`: memory for the served clients' log (rate limiting,
    /// interleaved mode, `gnomon clients`), allocated once at start. Default 524288
    /// (chrony's).
    pub client_log_limit_bytes: u64,
    /// `noclientlog`: keep no per-client records (no `gnomon clients` entries, no
    /// interleaved replies; `ratelimit` is refused with it, as chronyd refuses to
    /// start). Default false.
    pub no_client_log: bool,
    /// `estimator crossvalidated|runstest|kalman` (gnomon only): how each source's
    /// samples become its estimate; `runstest` is chrony's method, `kalman` a Kalman
    /// filter with delay-following noise, for comparisons. Default crossvalidated.
    pub estimator: gnomon_core::source_estimator::EstimatorKind,
    /// `server_threads N` (gnomon only): serve NTP from N worker threads.
    /// Default None: the one-thread poll(2) mode (DESIGN rule 3).
    pub server_threads: Option<u32>,
    /// `metrics ADDRESS:PORT` (gnomon only): serve Prometheus /metrics there. Default off.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// `clockbound FILE [maxdrift PPM]` (gnomon only): publish now ± bound. Default off.
    pub clock_bound: Option<ClockBoundConfig>,
}

/// `clientloglimit` when not set: chrony's default, bytes.
pub const DEFAULT_CLIENT_LOG_LIMIT_BYTES: u64 = 524_288;
/// Largest `clientloglimit` gnomon accepts: the log is allocated at start, bytes.
pub const MAX_CLIENT_LOG_LIMIT_BYTES: u64 = 1 << 30;

/// Bound growth per second of age when `clockbound` names no `maxdrift`, ppm.
pub const DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM: f64 = 15.0;

/// `clockbound FILE [maxdrift PPM]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockBoundConfig {
    pub path: PathBuf,
    /// How fast the bound grows between updates (at least the dispersion rate), ppm.
    pub max_drift_ppm: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            source_dirs: Vec::new(),
            address_family: AddressFamily::Any,
            makestep: None,
            maxchange: None,
            max_slew_rate_ppm: 1e6 / 12.0,
            min_sources: 1,
            max_distance_s: 3.0,
            tuning: Tuning::default(),
            drift_file: None,
            drift_file_interval_s: 3600,
            rtc_sync: false,
            local: None,
            leap_sec_tz: None,
            leap_sec_list: None,
            log_dir: None,
            logs: LogSelection::default(),
            pid_file: Some(PathBuf::from(DEFAULT_PID_FILE)),
            user: None,
            command_socket: Some(PathBuf::from(DEFAULT_COMMAND_SOCKET)),
            command_bind_v4: None,
            command_bind_v6: None,
            command_port: DEFAULT_COMMAND_PORT,
            ntp_port: NTP_PORT,
            bind_address_v4: None,
            bind_address_v6: None,
            access_rules: Vec::new(),
            rate_limit: None,
            client_log_limit_bytes: DEFAULT_CLIENT_LOG_LIMIT_BYTES,
            no_client_log: false,
            estimator: gnomon_core::source_estimator::EstimatorKind::CrossValidated,
            server_threads: None,
            metrics_address: None,
            clock_bound: None,
        }
    }
}

impl Config {
    /// Apply gnomond's `-4`/`-6`: names (of sources without their own `ipv4`/`ipv6`)
    /// resolve to this family only.
    pub fn restrict_address_family(&mut self, family: AddressFamily) {
        self.address_family = family;
    }

    /// True if NTP clients are served: some `allow` rule exists and the port is not 0.
    pub fn serves_clients(&self) -> bool {
        self.ntp_port != 0 && self.access_rules.iter().any(|rule| rule.allow)
    }
}

/// chrony's selection and clock tuning directives, one number each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuning {
    /// `combinelimit LIMIT`: sources up to LIMIT times the reference's root distance
    /// are combined with it (0: the reference alone). Default 3.
    pub combine_limit: f64,
    /// `maxjitter SECONDS`: sources whose samples scatter more are not selected (`~`).
    /// Default 1.
    pub max_jitter_s: f64,
    /// `reselectdist SECONDS`: a new reference must be this much closer. Default 100 µs.
    pub reselect_distance_s: f64,
    /// `stratumweight SECONDS`: distance added per stratum when ranking. Default 1 ms.
    pub stratum_weight_s: f64,
    /// `maxupdateskew PPM`: frequency estimates less certain than this do not move the
    /// frequency. Default 1000.
    pub max_update_skew_ppm: f64,
    /// `corrtimeratio RATIO`: how many update intervals an offset as large as the noise
    /// takes to slew. Default 3.
    pub correction_time_ratio: f64,
    /// `maxdrift PPM`: the largest frequency correction. Default 500.
    pub max_drift_ppm: f64,
    /// `maxclockerror PPM`: how fast the local clock's error may grow, for root
    /// dispersion and selection. Default 1.
    pub max_clock_error_ppm: f64,
    /// `clockprecision SECONDS`: the precision of reading the clock, instead of the
    /// value measured at start. Default measured.
    pub clock_precision_s: Option<f64>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            combine_limit: 3.0,
            max_jitter_s: 1.0,
            reselect_distance_s: 100e-6,
            stratum_weight_s: 1e-3,
            max_update_skew_ppm: 1000.0,
            correction_time_ratio: 3.0,
            max_drift_ppm: 500.0,
            max_clock_error_ppm: 1.0,
            clock_precision_s: None,
        }
    }
}
