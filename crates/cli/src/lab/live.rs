//! What the lab shows while it runs: a live table of every client's offset from true
//! time (redrawn in place on a terminal), or a progress line every few seconds
//! otherwise.
//!
//! Owns rendering only; the numbers come from [`super::Tick`]s. Must not measure.

use super::Tick;
use crate::fleet::output::human_seconds;
use std::fmt::Write as _;

fn signed(value_s: f64) -> String {
    if value_s >= 0.0 {
        format!("+{}", human_seconds(value_s))
    } else {
        human_seconds(value_s)
    }
}

/// A bar whose length is log-scaled from 1 µs (empty) to 10 s (full).
fn bar(value_s: f64) -> String {
    const WIDTH: f64 = 28.0;
    let decades = (value_s.abs().max(1e-6) / 1e-6).log10().clamp(0.0, 7.0);
    let cells = (decades / 7.0 * WIDTH).round() as usize;
    "█".repeat(cells)
}

/// The live table for one tick (`names` in client order).
pub fn table(tick: &Tick, names: &[String], bound_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gnomon lab  t = {:>5.1} s   spread {:>9}   bound {}   synchronised {}/{}",
        tick.elapsed_s,
        tick.spread_s
            .map(human_seconds)
            .unwrap_or_else(|| "-".into()),
        human_seconds(bound_s),
        tick.synchronized,
        names.len()
    );
    for (name, offset) in names.iter().zip(&tick.offsets_s) {
        let (text, drawn) = match offset {
            Some(value) => (signed(*value), bar(*value)),
            None => ("no reply".to_owned(), String::new()),
        };
        let _ = writeln!(out, "  {name:<8} {text:>11}  {drawn}");
    }
    out
}

/// A one-line progress report for logs and pipes.
pub fn line(tick: &Tick, clients: usize) -> String {
    format!(
        "t = {:.0} s: spread {} over {}/{} clients synchronised",
        tick.elapsed_s,
        tick.spread_s
            .map(human_seconds)
            .unwrap_or_else(|| "-".into()),
        tick.synchronized,
        clients
    )
}

/// Redraw in place: move up over the previous table and clear to the end.
pub fn redraw(previous_lines: usize, text: &str) -> String {
    let mut out = String::new();
    if previous_lines > 0 {
        let _ = write!(out, "\x1b[{previous_lines}A");
    }
    let _ = write!(out, "\x1b[J{text}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_grow_with_the_offset() {
        assert_eq!(bar(1e-7), "");
        assert!(bar(0.001).chars().count() < bar(1.0).chars().count());
        assert_eq!(bar(100.0).chars().count(), 28);
    }
}
