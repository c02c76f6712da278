//! The simple directives: one function per directive that checks its arguments and
//! sets its [`Config`] fields.
//!
//! Owns argument syntax and ranges of every supported directive except the source
//! directives (see `source`), `allow`/`deny` (see `access`) and the file-including
//! ones (see `parser`). It must not read files or resolve names.

use std::net::IpAddr;
use std::path::PathBuf;

use super::error::{ConfigError, Problem, Warning};
use super::model::{
    ClockBoundConfig, Config, LocalReference, MakeStep, MaxChange, RateLimit,
    DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM, MAX_CLIENT_LOG_LIMIT_BYTES,
};
use super::values::LineCtx;

const ANY: f64 = f64::INFINITY;

/// Apply one simple directive (lower-case name). Returns false if the directive is
/// not one of the simple ones.
pub fn apply_simple(
    ctx: &LineCtx,
    config: &mut Config,
    args: &[&str],
    warnings: &mut Vec<Warning>,
) -> Result<bool, ConfigError> {
    match ctx.directive {
        "makestep" => {
            let a = ctx.exactly(args, &["threshold", "limit"], "makestep THRESHOLD LIMIT")?;
            config.makestep = Some(MakeStep {
                threshold_s: ctx.number("makestep threshold", a[0], 0.0, ANY)?,
                limit_updates: int32(ctx, "makestep limit", a[1])?,
            });
        }
        "maxchange" => {
            let usage = "maxchange OFFSET START IGNORE";
            let a = ctx.exactly(args, &["offset", "start", "ignore"], usage)?;
            config.maxchange = Some(MaxChange {
                offset_s: ctx.number("maxchange offset", a[0], 0.0, ANY)?,
                start_after_updates: int32(ctx, "maxchange start", a[1])?,
                ignore_count: int32(ctx, "maxchange ignore", a[2])?,
            });
        }
        "maxslewrate" => {
            let a = ctx.exactly(args, &["rate in ppm"], "maxslewrate RATE-IN-PPM")?;
            config.max_slew_rate_ppm = ctx.number("maxslewrate", a[0], 0.0, ANY)?;
        }
        "minsources" => {
            let a = ctx.exactly(args, &["number of sources"], "minsources N")?;
            config.min_sources = ctx.int("minsources", a[0], 1, i32::MAX.into())? as u32;
        }
        "maxdistance" => {
            let a = ctx.exactly(args, &["distance"], "maxdistance SECONDS")?;
            config.max_distance_s = ctx.number("maxdistance", a[0], 0.0, ANY)?;
        }
        "combinelimit" => {
            config.tuning.combine_limit = tuning(ctx, args, "combinelimit", "LIMIT", 0.0)?
        }
        "maxjitter" => config.tuning.max_jitter_s = tuning(ctx, args, "maxjitter", "SECONDS", 0.0)?,
        "reselectdist" => {
            config.tuning.reselect_distance_s = tuning(ctx, args, "reselectdist", "SECONDS", 0.0)?;
        }
        "stratumweight" => {
            config.tuning.stratum_weight_s = tuning(ctx, args, "stratumweight", "SECONDS", 0.0)?;
        }
        "maxupdateskew" => {
            config.tuning.max_update_skew_ppm = tuning(ctx, args, "maxupdateskew", "PPM", 0.0)?;
        }
        "corrtimeratio" => {
            config.tuning.correction_time_ratio = tuning(ctx, args, "corrtimeratio", "RATIO", 0.0)?;
        }
        "maxdrift" => config.tuning.max_drift_ppm = tuning(ctx, args, "maxdrift", "PPM", 0.0)?,
        "maxclockerror" => {
            config.tuning.max_clock_error_ppm = tuning(ctx, args, "maxclockerror", "PPM", 0.0)?;
        }
        "clockprecision" => {
            let a = ctx.exactly(args, &["precision"], "clockprecision SECONDS")?;
            // chrony accepts 1 ns to 1 s.
            config.tuning.clock_precision_s =
                Some(ctx.number("clockprecision", a[0], 1e-9, 1.0)?);
        }
        "driftfile" => driftfile(ctx, config, args)?,
        "rtcsync" => {
            ctx.none(args)?;
            config.rtc_sync = true;
        }
        "local" => config.local = Some(local(ctx, args)?),
        "leapsectz" => config.leap_sec_tz = Some(one(ctx, args, "time zone", "leapsectz TZ")?),
        "leapseclist" => {
            config.leap_sec_list = Some(path(ctx, args, "file", "leapseclist FILE")?);
        }
        "logdir" => config.log_dir = Some(path(ctx, args, "directory", "logdir DIRECTORY")?),
        "log" => log(ctx, config, args, warnings)?,
        "pidfile" => {
            let file = path(ctx, args, "file", "pidfile FILE (or / to disable)")?;
            config.pid_file = (file.as_os_str() != "/").then_some(file);
        }
        "user" => config.user = Some(one(ctx, args, "user name", "user NAME")?),
        "bindcmdaddress" => bindcmdaddress(ctx, config, args, warnings)?,
        "cmdport" => {
            let a = ctx.exactly(args, &["port"], "cmdport PORT")?;
            config.command_port = ctx.port("cmdport", a[0])?;
            // `cmdport 0` (no UDP command port) is what gnomon does anyway.
            if config.command_port != 0 {
                warnings.push(ctx.warning(
                    "kept; gnomon has no UDP command port (it uses the Unix control socket)",
                ));
            }
        }
        "port" => {
            let a = ctx.exactly(args, &["port"], "port PORT")?;
            config.ntp_port = ctx.port("port", a[0])?;
        }
        "bindaddress" => {
            let a = ctx.exactly(args, &["address"], "bindaddress ADDRESS")?;
            match ctx.ip("bindaddress", a[0])? {
                IpAddr::V4(v4) => config.bind_address_v4 = Some(v4),
                IpAddr::V6(v6) => config.bind_address_v6 = Some(v6),
            }
        }
        "ratelimit" => {
            let limit = ratelimit(ctx, args)?;
            if config.no_client_log {
                return Err(without_client_log(ctx));
            }
            config.rate_limit = Some(limit);
        }
        "noclientlog" => {
            ctx.none(args)?;
            if config.rate_limit.is_some() {
                return Err(without_client_log(ctx));
            }
            config.no_client_log = true;
        }
        "clientloglimit" => {
            let a = ctx.exactly(args, &["bytes"], "clientloglimit BYTES")?;
            config.client_log_limit_bytes =
                ctx.int("clientloglimit", a[0], 0, MAX_CLIENT_LOG_LIMIT_BYTES as i64)? as u64;
        }
        "estimator" => {
            let a = ctx.exactly(
                args,
                &["method"],
                "estimator crossvalidated|runstest|kalman",
            )?;
            config.estimator = gnomon_core::source_estimator::EstimatorKind::from_name(a[0])
                .ok_or_else(|| {
                    ctx.invalid("estimator", a[0], "crossvalidated, runstest or kalman")
                })?;
        }
        "server_threads" => {
            let a = ctx.exactly(args, &["number of threads"], "server_threads N")?;
            let threads = ctx.int("server_threads", a[0], 0, 1024)? as u32;
            config.server_threads = (threads > 0).then_some(threads);
        }
        "metrics" => {
            let a = ctx.exactly(args, &["address:port"], "metrics ADDRESS:PORT")?;
            let expected = "ADDRESS:PORT, e.g. 127.0.0.1:9123 or [::1]:9123";
            let address = a[0]
                .parse()
                .map_err(|_| ctx.invalid("metrics", a[0], expected))?;
            config.metrics_address = Some(address);
        }
        "clockbound" => clockbound(ctx, config, args)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// `ratelimit` and `noclientlog` together: chronyd exits ("Rate limiting cannot be
/// enabled with noclientlog"); so does gnomond, naming the later of the two lines.
fn without_client_log(ctx: &LineCtx) -> ConfigError {
    ctx.error(
        Problem::Conflict {
            directive: ctx.directive.to_string(),
            other: if ctx.directive == "ratelimit" {
                "noclientlog"
            } else {
                "ratelimit"
            }
            .to_string(),
        },
        "either ratelimit or noclientlog (rate limiting needs the client log; \
         chronyd refuses both too)",
    )
}

fn int32(ctx: &LineCtx, what: &str, value: &str) -> Result<i32, ConfigError> {
    Ok(ctx.int(what, value, i32::MIN.into(), i32::MAX.into())? as i32)
}

fn one(ctx: &LineCtx, args: &[&str], what: &str, usage: &str) -> Result<String, ConfigError> {
    Ok(ctx.exactly(args, &[what], usage)?[0].to_string())
}

fn path(ctx: &LineCtx, args: &[&str], what: &str, usage: &str) -> Result<PathBuf, ConfigError> {
    one(ctx, args, what, usage).map(PathBuf::from)
}

fn clockbound(ctx: &LineCtx, config: &mut Config, args: &[&str]) -> Result<(), ConfigError> {
    const USAGE: &str = "clockbound FILE [maxdrift PPM]";
    let Some((file, options)) = args.split_first() else {
        return Err(ctx.missing("file", USAGE));
    };
    let mut clock_bound = ClockBoundConfig {
        path: PathBuf::from(file),
        max_drift_ppm: DEFAULT_CLOCKBOUND_MAX_DRIFT_PPM,
    };
    match options {
        [] => {}
        [option, value] if option.eq_ignore_ascii_case("maxdrift") => {
            clock_bound.max_drift_ppm = ctx.number("clockbound maxdrift", value, 0.0, 1e5)?;
        }
        [option] if option.eq_ignore_ascii_case("maxdrift") => {
            return Err(ctx.missing("maxdrift value", USAGE));
        }
        [option, ..] => return Err(ctx.invalid("clockbound option", option, USAGE)),
    }
    config.clock_bound = Some(clock_bound);
    Ok(())
}

fn driftfile(ctx: &LineCtx, config: &mut Config, args: &[&str]) -> Result<(), ConfigError> {
    const USAGE: &str = "driftfile FILE [interval SECONDS]";
    let Some((file, options)) = args.split_first() else {
        return Err(ctx.missing("file", USAGE));
    };
    match options {
        [] => {}
        [option, value] if option.eq_ignore_ascii_case("interval") => {
            config.drift_file_interval_s =
                ctx.int("driftfile interval", value, 0, i32::MAX.into())? as u32;
        }
        [option] if option.eq_ignore_ascii_case("interval") => {
            return Err(ctx.missing("interval value", USAGE));
        }
        [option, ..] if !option.eq_ignore_ascii_case("interval") => {
            return Err(ctx.error(
                Problem::UnknownOption {
                    directive: "driftfile".into(),
                    option: option.to_string(),
                },
                USAGE,
            ));
        }
        [_, _, extra, ..] => {
            return Err(ctx.error(Problem::UnexpectedArgument(extra.to_string()), USAGE));
        }
        _ => unreachable!("every shape of options is matched above"),
    }
    config.drift_file = Some(PathBuf::from(file));
    Ok(())
}

fn local(ctx: &LineCtx, args: &[&str]) -> Result<LocalReference, ConfigError> {
    const USAGE: &str =
        "local [stratum N] [orphan] [distance S] [activate S] [waitsynced S] [waitunsynced S]";
    let mut local = LocalReference::default();
    let mut wait_unsynced_s = None;
    let mut index = 0;
    while index < args.len() {
        let written = args[index];
        let option = written.to_ascii_lowercase();
        if option == "orphan" {
            local.orphan = true;
            index += 1;
            continue;
        }
        let known = [
            "stratum",
            "distance",
            "activate",
            "waitsynced",
            "waitunsynced",
        ];
        if !known.contains(&option.as_str()) {
            return Err(ctx.error(
                Problem::UnknownOption {
                    directive: "local".into(),
                    option: written.to_string(),
                },
                USAGE,
            ));
        }
        let value = ctx.option_value(&option, args, index + 1, USAGE)?;
        let what = format!("local {option}");
        match option.as_str() {
            "stratum" => local.stratum = ctx.int(&what, value, 1, 15)? as u8,
            "distance" => local.distance_s = ctx.number(&what, value, 0.0, ANY)?,
            "activate" => local.activate_s = ctx.number(&what, value, 0.0, ANY)?,
            "waitsynced" => local.wait_synced_s = ctx.number(&what, value, 0.0, ANY)?,
            _ => wait_unsynced_s = Some(ctx.number(&what, value, 0.0, ANY)?),
        }
        index += 2;
    }
    local.wait_unsynced_s = wait_unsynced_s.unwrap_or(if local.orphan { 300.0 } else { 0.0 });
    Ok(local)
}

fn log(
    ctx: &LineCtx,
    config: &mut Config,
    args: &[&str],
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let mut unsupported = Vec::new();
    // chrony compares log names case-sensitively.
    for name in args {
        match *name {
            "tracking" => config.logs.tracking = true,
            "measurements" => config.logs.measurements = true,
            "rawmeasurements" => {
                config.logs.measurements = true;
                config.logs.raw_measurements = true;
            }
            "statistics" => config.logs.statistics = true,
            "selection" | "rtc" | "refclocks" | "tempcomp" => unsupported.push(*name),
            other => {
                return Err(ctx.invalid(
                    "log",
                    other,
                    "log names: tracking, measurements, rawmeasurements, statistics \
                     (chrony's selection, rtc, refclocks, tempcomp are recognised)",
                ))
            }
        }
    }
    if !unsupported.is_empty() {
        warnings.push(ctx.warning(format!(
            "log {} not written by gnomon yet; skipped",
            unsupported.join(" ")
        )));
    }
    Ok(())
}

fn bindcmdaddress(
    ctx: &LineCtx,
    config: &mut Config,
    args: &[&str],
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    const USAGE: &str = "bindcmdaddress PATH (a control socket path starting with /, \
                         or / to disable) or an IP address";
    let a = ctx.exactly(args, &["address or path"], USAGE)?;
    let value = a[0];
    if value.starts_with('/') {
        config.command_socket = (value != "/").then(|| PathBuf::from(value));
        return Ok(());
    }
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => config.command_bind_v4 = Some(v4),
        Ok(IpAddr::V6(v6)) => config.command_bind_v6 = Some(v6),
        Err(_) => return Err(ctx.invalid("bindcmdaddress", value, USAGE)),
    }
    warnings.push(ctx.warning(
        "IP address kept; gnomon has no UDP command port (it uses the Unix control socket)",
    ));
    Ok(())
}

fn ratelimit(ctx: &LineCtx, args: &[&str]) -> Result<RateLimit, ConfigError> {
    const USAGE: &str = "ratelimit [interval -19..12] [burst 1..255] [leak 1..4] [kod 0..4]";
    let mut limit = RateLimit::default();
    for pair in args.chunks(2) {
        let option = pair[0].to_ascii_lowercase();
        let known = ["interval", "burst", "leak", "kod"];
        if !known.contains(&option.as_str()) {
            return Err(ctx.error(
                Problem::UnknownOption {
                    directive: "ratelimit".into(),
                    option: pair[0].to_string(),
                },
                USAGE,
            ));
        }
        let Some(value) = pair.get(1) else {
            return Err(ctx.missing(&format!("{option} value"), USAGE));
        };
        let what = format!("ratelimit {option}");
        match option.as_str() {
            "interval" => limit.interval_log2_s = ctx.int(&what, value, -19, 12)? as i8,
            "burst" => limit.burst = ctx.int(&what, value, 1, 255)? as u8,
            "leak" => limit.leak_log2 = ctx.int(&what, value, 1, 4)? as u8,
            _ => limit.kod_log2 = ctx.int(&what, value, 0, 4)? as u8,
        }
    }
    Ok(limit)
}

/// One of chrony's tuning directives: `NAME VALUE`, VALUE a number of at least `min`.
fn tuning(
    ctx: &LineCtx,
    args: &[&str],
    name: &str,
    unit: &str,
    min: f64,
) -> Result<f64, ConfigError> {
    let a = ctx.exactly(args, &["value"], &format!("{name} {unit}"))?;
    ctx.number(name, a[0], min, ANY)
}
