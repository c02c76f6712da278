//! The `server` and `pool` directives (and their options), as in chrony's
//! `CPS_ParseNTPSourceAdd`.
//!
//! Owns option names, value ranges and which options gnomon uses, keeps, or refuses.
//! It must not resolve the name or touch the network: the name stays a string.

use super::error::{ConfigError, Problem, Warning};
use super::model::{AddressFamily, SourceConfig, SourceKind};
use super::values::LineCtx;

/// Options that take no value.
const FLAGS: &[&str] = &[
    "auto_offline",
    "burst",
    "copy",
    "iburst",
    "ipv4",
    "ipv6",
    "noselect",
    "nts",
    "offline",
    "prefer",
    "require",
    "trust",
    "xleave",
];

/// Options that take one value.
const VALUED: &[&str] = &[
    "asymmetry",
    "certset",
    "extfield",
    "filter",
    "key",
    "maxdelay",
    "maxdelaydevratio",
    "maxdelayquant",
    "maxdelayratio",
    "maxpoll",
    "maxsamples",
    "maxsources",
    "mindelay",
    "minpoll",
    "minsamples",
    "minstratum",
    "ntsport",
    "offset",
    "polltarget",
    "port",
    "presend",
    "version",
];

/// What the parser does with one source line.
#[derive(Debug)]
pub enum SourceOutcome {
    /// Use the source (warnings may still have been added for kept options).
    Keep(SourceConfig),
    /// Skip the line; the warning says why (authentication gnomon cannot do yet:
    /// using the source unauthenticated would silently weaken security).
    Skip(Warning),
}

/// Expected-text shown for an unknown option.
const EXPECTED_OPTION: &str = "a server/pool option: iburst, burst, prefer, noselect, trust, \
     require, minpoll N, maxpoll N, port N, maxdelay S, maxsources N, ... (see docs/config.md)";

/// Parse `server|pool NAME [OPTION]...` (args exclude the directive word).
pub fn parse_source(
    ctx: &LineCtx,
    kind: SourceKind,
    args: &[&str],
    warnings: &mut Vec<Warning>,
) -> Result<SourceOutcome, ConfigError> {
    let Some((name, options)) = args.split_first() else {
        return Err(ctx.missing(
            "host name or address",
            format!("{} NAME [OPTION]...", kind.directive()),
        ));
    };
    let mut source = SourceConfig::new(kind, *name, ctx.location.clone());
    let mut authentication = None;
    let mut index = 0;
    while index < options.len() {
        let written = options[index];
        let option = written.to_ascii_lowercase();
        if FLAGS.contains(&option.as_str()) {
            apply_flag(&mut source, &option, &mut authentication);
            index += 1;
            continue;
        }
        if !VALUED.contains(&option.as_str()) {
            return Err(ctx.error(
                Problem::UnknownOption {
                    directive: ctx.directive.to_string(),
                    option: written.to_string(),
                },
                EXPECTED_OPTION,
            ));
        }
        let value = ctx.option_value(&option, options, index + 1, expected_value(&option))?;
        apply_value(ctx, &mut source, &option, value, &mut authentication)?;
        index += 2;
    }
    if let Some(what) = authentication {
        return Ok(SourceOutcome::Skip(ctx.warning(format!(
            "{what} authentication is not supported by gnomon yet; source {} skipped \
             (it is never used unauthenticated)",
            source.name
        ))));
    }
    if kind == SourceKind::Server && source.maxsources != 4 {
        warnings.push(ctx.warning("maxsources applies to pool only; ignored for server"));
    }
    if source.maxpoll_log2_s < source.minpoll_log2_s {
        warnings.push(ctx.warning(format!(
            "maxpoll {} is below minpoll {}; raised to {} as chrony does",
            source.maxpoll_log2_s, source.minpoll_log2_s, source.minpoll_log2_s
        )));
        source.maxpoll_log2_s = source.minpoll_log2_s;
    }
    if !source.kept_options.is_empty() {
        warnings.push(ctx.warning(format!(
            "option(s) {} kept but not used by gnomon yet",
            source.kept_options.join(", ")
        )));
    }
    Ok(SourceOutcome::Keep(source))
}

fn apply_flag(source: &mut SourceConfig, option: &str, authentication: &mut Option<&str>) {
    match option {
        "burst" => source.burst = true,
        "iburst" => source.iburst = true,
        "offline" => source.offline = true,
        "prefer" => source.prefer = true,
        "noselect" => source.noselect = true,
        "trust" => source.trust = true,
        "require" => source.require = true,
        "ipv4" => source.family = AddressFamily::Ipv4,
        "ipv6" => source.family = AddressFamily::Ipv6,
        "nts" => *authentication = Some("NTS"),
        // auto_offline, copy, xleave: kept for a later gnomon.
        other => source.kept_options.push(other.to_string()),
    }
}

fn expected_value(option: &str) -> &'static str {
    match option {
        "minpoll" | "maxpoll" => "an integer from -7 to 24",
        "presend" => "an integer from -32 to 32",
        "port" | "ntsport" => "an integer from 0 to 65535",
        "maxdelay" => "a number from 0 to 1000",
        "maxdelayratio" | "maxdelaydevratio" | "mindelay" => "a number of at least 0",
        "maxdelayquant" => "a number from 0 to 1",
        "asymmetry" => "a number from -0.5 to 0.5",
        "offset" => "a number",
        "maxsources" => "an integer from 1 to 16",
        "minstratum" => "an integer from 0 to 16",
        "polltarget" => "an integer from 1 to 2147483647",
        "version" => "an integer from 1 to 4",
        "key" => "an integer from 1 to 4294967295",
        "certset" => "an integer from 0 to 4294967295",
        "extfield" => "F323 or F324",
        _ => "an integer from 0 to 2147483647",
    }
}

fn apply_value(
    ctx: &LineCtx,
    source: &mut SourceConfig,
    option: &str,
    value: &str,
    authentication: &mut Option<&str>,
) -> Result<(), ConfigError> {
    const ANY: f64 = f64::INFINITY;
    match option {
        "minpoll" => source.minpoll_log2_s = ctx.int(option, value, -7, 24)? as i8,
        "maxpoll" => source.maxpoll_log2_s = ctx.int(option, value, -7, 24)? as i8,
        "port" => source.port = ctx.port(option, value)?,
        "maxdelay" => source.maxdelay_s = ctx.number(option, value, 0.0, 1000.0)?,
        "maxdelayratio" => {
            let ratio = ctx.number(option, value, 0.0, ANY)?;
            source.maxdelayratio = (ratio > 0.0).then_some(ratio);
        }
        "maxdelaydevratio" => source.maxdelaydevratio = ctx.number(option, value, 0.0, ANY)?,
        "maxsources" => source.maxsources = ctx.int(option, value, 1, 16)? as u8,
        "minstratum" => source.minstratum = ctx.int(option, value, 0, 16)? as u8,
        "polltarget" => source.polltarget = ctx.int(option, value, 1, i32::MAX.into())? as u32,
        "offset" => source.offset_s = ctx.number(option, value, -ANY, ANY)?,
        "minsamples" => {
            source.minsamples = Some(ctx.int(option, value, 0, i32::MAX.into())? as u32)
        }
        "maxsamples" => {
            source.maxsamples = Some(ctx.int(option, value, 0, i32::MAX.into())? as u32)
        }
        "key" => {
            ctx.int(option, value, 1, u32::MAX.into())?;
            *authentication = Some("symmetric-key");
        }
        _ => {
            // Kept-but-unused options: validate as chrony does, keep as written.
            match option {
                "presend" => drop(ctx.int(option, value, -32, 32)?),
                "ntsport" => drop(ctx.port(option, value)?),
                "mindelay" => drop(ctx.number(option, value, 0.0, ANY)?),
                "maxdelayquant" => drop(ctx.number(option, value, 0.0, 1.0)?),
                "asymmetry" => drop(ctx.number(option, value, -0.5, 0.5)?),
                "version" => drop(ctx.int(option, value, 1, 4)?),
                "certset" => drop(ctx.int(option, value, 0, u32::MAX.into())?),
                "extfield" => {
                    if !value.eq_ignore_ascii_case("f323") && !value.eq_ignore_ascii_case("f324") {
                        return Err(ctx.invalid(option, value, expected_value(option)));
                    }
                }
                _ => drop(ctx.int(option, value, 0, i32::MAX.into())?),
            }
            source.kept_options.push(format!("{option} {value}"));
        }
    }
    Ok(())
}
