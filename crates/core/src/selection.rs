//! Source selection and combining: which sources tell the truth, which one is the
//! reference, and what their combined estimate is.
//!
//! Owns chrony-style selection: the intersection of correctness intervals (offset ±
//! root distance, Marzullo's algorithm), falseticker rejection (a source whose interval
//! misses the intersection), `minsources`, `prefer`, `require`, `trust`, `noselect`,
//! the `maxdistance` and stratum limits, chrony's "bad stats" rule (a source is not
//! selectable before its estimator has a regression, three samples: one or two samples
//! give no frequency, and a liar among early sources could then outvote the few honest
//! ones heard so far), hysteresis (`reselectdist`), and combining the
//! survivors (offset weighted by 1/distance, frequency by 1/skew²). It must not keep
//! history beyond the previous choice, nor change any source or the clock.

use gnomon_proto::{LeapIndicator, ReferenceId};

use crate::source::{SelectionCandidate, SourceId};

/// Selection settings (chrony's directives of the same names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionOptions {
    /// Fewest selectable sources needed to select any (chrony default 1).
    pub minsources: usize,
    /// Sources with a larger root distance are not selectable (chrony default 3 s).
    pub maxdistance_s: f64,
    /// A new reference must beat the current one by this much (chrony default 100 µs).
    pub reselectdist_s: f64,
    /// Distance added per stratum level when ranking (chrony default 1 ms).
    pub stratumweight_s: f64,
    /// Sources up to this multiple of the reference's distance are combined (default 3).
    pub combinelimit: f64,
    /// Sources whose samples scatter more than this (standard deviation about the
    /// estimate) are not selectable (chrony's `maxjitter`, default 1 s): chronyc's `~`.
    pub maxjitter_s: f64,
}

impl Default for SelectionOptions {
    fn default() -> Self {
        SelectionOptions {
            minsources: 1,
            maxdistance_s: 3.0,
            reselectdist_s: 100e-6,
            stratumweight_s: 1e-3,
            combinelimit: 3.0,
            maxjitter_s: 1.0,
        }
    }
}

/// chrony's `local ... orphan`: sources at or above the local stratum serve no real
/// time (they are orphans like us, or synchronised to one). They are left out of
/// selection, except that when no other source is selectable, the reachable orphan
/// at exactly the local stratum with the smallest reference ID is followed, provided
/// its ID is smaller than ours. A group of servers polling each other with the same
/// `local stratum N orphan` line so settles on one root (the smallest ID) serving its
/// own clock, the others following it; when it fails, the next smallest takes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrphanMode {
    /// The `local` stratum.
    pub stratum: u8,
    /// The reference ID other orphans know this host by (its IPv4 address). Without
    /// it no orphan is ever followed (each host would follow the other).
    pub own_reference_id: Option<ReferenceId>,
}

/// The verdict on one source, as chronyc's `sources` state column shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceVerdict {
    /// `*`: the reference.
    Selected,
    /// `+`: combined with the reference.
    Combined,
    /// `-`: a truechimer not combined.
    NotCombined,
    /// `x`: its interval misses the majority's.
    Falseticker,
    /// `~`: too far (root distance over maxdistance), too jittery (over maxjitter) or
    /// stratum 16.
    TooDistant,
    /// `?`: unreachable or no majority possible.
    Unselectable,
    /// Configured `noselect`.
    NoSelect,
}

/// The combined view of the selected sources.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CombinedEstimate {
    pub reference: SourceId,
    pub reference_id: ReferenceId,
    /// The reference's stratum (ours is one more).
    pub stratum: u8,
    /// Combined source minus local clock now, seconds.
    pub offset_s: f64,
    pub offset_sd_s: f64,
    /// Standard error of the combined offset (what the discipline's slew length uses).
    pub offset_error_s: f64,
    /// Combined frequency of the sources relative to our clock, ppm.
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    /// The reference's root delay and dispersion (grown to now).
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    /// The leap announced by a majority of the combined sources.
    pub leap: LeapIndicator,
    pub sources_combined: usize,
}

/// The result of one selection round.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionResult {
    pub verdicts: Vec<(SourceId, SourceVerdict)>,
    pub combined: Option<CombinedEstimate>,
    /// Why nothing was selected (`None` when `combined` is some).
    pub failure: Option<SelectionFailure>,
}

/// Why a selection round selected nothing: chronyd's "Can't synchronise" reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectionFailure {
    /// No source is reachable, within maxdistance and with enough samples (or fewer
    /// than `minsources` are).
    NoSelectableSources,
    /// Selectable sources exist but no majority of them agrees.
    NoMajority,
    /// Start-up, nothing selected yet: a source heard as often as the selectable
    /// ones, less the latest reply, has not got its estimate yet (chrony's "waits for
    /// stats"). Selecting now would let the first source to reach three samples,
    /// possibly a falseticker, be the reference until the others catch up.
    WaitingForSamples,
}

impl SelectionFailure {
    /// chronyd 4.3's wording after "Can't synchronise: ".
    pub fn message(self) -> &'static str {
        match self {
            SelectionFailure::NoSelectableSources => "no selectable sources",
            SelectionFailure::NoMajority => "no majority",
            SelectionFailure::WaitingForSamples => "waiting for samples",
        }
    }
}

impl SelectionResult {
    pub fn verdict(&self, id: SourceId) -> Option<SourceVerdict> {
        self.verdicts
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, v)| *v)
    }
}

/// The largest number of intervals that overlap at one point, and the interval of
/// points where that many overlap (the lowest such if several).
fn best_intersection(intervals: &[(f64, f64)]) -> (usize, f64, f64) {
    let mut edges: Vec<(f64, i32)> = Vec::with_capacity(intervals.len() * 2);
    for &(low, high) in intervals {
        edges.push((low, 1));
        edges.push((high, -1));
    }
    // Starts before ends at the same value, so touching intervals overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut depth, mut best, mut best_low, mut best_high) = (0i32, 0i32, 0.0, 0.0);
    let mut counting_best = false;
    for &(value, kind) in &edges {
        depth += kind;
        if kind == 1 && depth > best {
            best = depth;
            best_low = value;
            counting_best = true;
        } else if kind == -1 && counting_best {
            best_high = value;
            counting_best = false;
        }
    }
    (best.max(0) as usize, best_low, best_high)
}

/// chrony's "waits for stats" rule: with no reference yet and the selectable sources
/// still starting up (their reachability registers not yet full), wait while a
/// reachable source without an estimate has answered every request the selectable
/// ones did except the latest: with servers polled together, its reply is on its way.
/// Our register shifts when a request leaves, chrony's when it is answered or found
/// unanswered, so the other source's register is either the selectable one's shifted
/// right (its request not sent yet) or with the latest bit clear (sent, not answered).
/// A source whose reply is lost stops matching at the next request: the wait is
/// bounded by one poll interval, and ends for good once the registers are full.
fn start_up_wait(candidates: &[SelectionCandidate], selectable: &[&SelectionCandidate]) -> bool {
    let Some(max_selectable_reach) = selectable.iter().map(|c| c.reach).max() else {
        return false;
    };
    if selectable.iter().any(|c| c.reach_size >= 8) {
        return false;
    }
    candidates
        .iter()
        .filter(|c| c.reachable && !c.regression_ok && !c.noselect)
        .any(|c| c.reach == max_selectable_reach >> 1 || c.reach == max_selectable_reach & !1)
}

/// Select among `candidates`. `previous` is the reference of the last round; `orphan`
/// is set in `local ... orphan` mode.
pub fn select(
    candidates: &[SelectionCandidate],
    options: &SelectionOptions,
    previous: Option<SourceId>,
    orphan: Option<&OrphanMode>,
) -> SelectionResult {
    let mut verdicts: Vec<(SourceId, SourceVerdict)> = Vec::with_capacity(candidates.len());
    let mut selectable: Vec<&SelectionCandidate> = Vec::with_capacity(candidates.len());
    let mut best_orphan: Option<&SelectionCandidate> = None;
    for candidate in candidates {
        let verdict = if candidate.noselect {
            Some(SourceVerdict::NoSelect)
        } else if !candidate.reachable || !candidate.regression_ok {
            // chrony's "bad stats": a source is not selectable on one or two samples.
            Some(SourceVerdict::Unselectable)
        } else if candidate.stratum >= 16
            || !candidate.root_distance_s.is_finite()
            || candidate.root_distance_s > options.maxdistance_s
            || candidate.offset_sd_s > options.maxjitter_s
        {
            Some(SourceVerdict::TooDistant)
        } else {
            None
        };
        match verdict {
            Some(v) => verdicts.push((candidate.id, v)),
            None => match orphan {
                Some(mode) if candidate.stratum >= mode.stratum => {
                    verdicts.push((candidate.id, SourceVerdict::Unselectable));
                    if candidate.stratum == mode.stratum
                        && best_orphan.is_none_or(|b| {
                            candidate.reference_id.to_u32() < b.reference_id.to_u32()
                        })
                    {
                        best_orphan = Some(candidate);
                    }
                }
                _ => selectable.push(candidate),
            },
        }
    }
    if let (true, Some(mode), Some(root)) = (selectable.is_empty(), orphan, best_orphan) {
        if mode
            .own_reference_id
            .is_some_and(|own| root.reference_id.to_u32() < own.to_u32())
        {
            verdicts.retain(|(id, _)| *id != root.id);
            selectable.push(root);
        }
    }
    let fail = |mut verdicts: Vec<(SourceId, SourceVerdict)>,
                rest: &[&SelectionCandidate],
                failure: SelectionFailure| {
        verdicts.extend(rest.iter().map(|c| (c.id, SourceVerdict::Unselectable)));
        SelectionResult {
            verdicts,
            combined: None,
            failure: Some(failure),
        }
    };
    if selectable.is_empty() || selectable.len() < options.minsources.max(1) {
        return fail(verdicts, &selectable, SelectionFailure::NoSelectableSources);
    }
    if previous.is_none() && start_up_wait(candidates, &selectable) {
        return fail(verdicts, &selectable, SelectionFailure::WaitingForSamples);
    }
    // Trusted sources, when there are any, alone decide where the truth is.
    let trusted: Vec<&SelectionCandidate> =
        selectable.iter().copied().filter(|c| c.trust).collect();
    let voters = if trusted.is_empty() {
        &selectable
    } else {
        &trusted
    };
    let intervals: Vec<(f64, f64)> = voters
        .iter()
        .map(|c| {
            (
                c.offset_s - c.root_distance_s,
                c.offset_s + c.root_distance_s,
            )
        })
        .collect();
    let (agreeing, low, high) = best_intersection(&intervals);
    if agreeing * 2 <= voters.len() {
        // No majority agrees on anything.
        return fail(verdicts, &selectable, SelectionFailure::NoMajority);
    }
    let (truechimers, falsetickers): (Vec<&SelectionCandidate>, Vec<&SelectionCandidate>) =
        selectable.iter().partition(|c| {
            c.offset_s - c.root_distance_s <= high && c.offset_s + c.root_distance_s >= low
        });
    verdicts.extend(
        falsetickers
            .iter()
            .map(|c| (c.id, SourceVerdict::Falseticker)),
    );
    if truechimers.len() < options.minsources.max(1)
        || (selectable.iter().any(|c| c.require) && !truechimers.iter().any(|c| c.require))
    {
        return fail(verdicts, &truechimers, SelectionFailure::NoMajority);
    }
    // prefer: when a preferred source is a truechimer, only preferred ones count.
    let eligible: Vec<&SelectionCandidate> = if truechimers.iter().any(|c| c.prefer) {
        truechimers.iter().copied().filter(|c| c.prefer).collect()
    } else {
        truechimers.clone()
    };
    let score =
        |c: &SelectionCandidate| c.root_distance_s + c.stratum as f64 * options.stratumweight_s;
    let best = *eligible
        .iter()
        .min_by(|a, b| score(a).total_cmp(&score(b)).then(a.id.cmp(&b.id)))
        .expect("eligible is not empty");
    let reference = match previous.and_then(|p| eligible.iter().find(|c| c.id == p)) {
        Some(current) if score(current) <= score(best) + options.reselectdist_s => *current,
        _ => best,
    };
    let combined: Vec<&SelectionCandidate> = eligible
        .iter()
        .copied()
        .filter(|c| {
            c.id == reference.id
                || c.root_distance_s <= options.combinelimit * reference.root_distance_s
        })
        .collect();
    for candidate in &truechimers {
        let verdict = if candidate.id == reference.id {
            SourceVerdict::Selected
        } else if combined.iter().any(|c| c.id == candidate.id) {
            SourceVerdict::Combined
        } else {
            SourceVerdict::NotCombined
        };
        verdicts.push((candidate.id, verdict));
    }
    SelectionResult {
        verdicts,
        combined: Some(combine(reference, &combined)),
        failure: None,
    }
}

fn combine(reference: &SelectionCandidate, sources: &[&SelectionCandidate]) -> CombinedEstimate {
    let offset_weights: Vec<f64> = sources
        .iter()
        .map(|c| 1.0 / c.root_distance_s.max(1e-9))
        .collect();
    let offset_weight_sum: f64 = offset_weights.iter().sum();
    let offset_s = sources
        .iter()
        .zip(&offset_weights)
        .map(|(c, w)| w * c.offset_s)
        .sum::<f64>()
        / offset_weight_sum;
    let offset_variance = sources
        .iter()
        .zip(&offset_weights)
        .map(|(c, w)| w * (c.offset_sd_s.powi(2) + (c.offset_s - offset_s).powi(2)))
        .sum::<f64>()
        / offset_weight_sum;
    let offset_error_variance = sources
        .iter()
        .zip(&offset_weights)
        .map(|(c, w)| w * (c.offset_error_s.powi(2) + (c.offset_s - offset_s).powi(2)))
        .sum::<f64>()
        / offset_weight_sum;
    let frequency_weights: Vec<f64> = sources
        .iter()
        .map(|c| 1.0 / c.skew_ppm.max(1e-6).powi(2))
        .collect();
    let frequency_weight_sum: f64 = frequency_weights.iter().sum();
    let frequency_ppm = sources
        .iter()
        .zip(&frequency_weights)
        .map(|(c, w)| w * c.frequency_ppm)
        .sum::<f64>()
        / frequency_weight_sum;
    let skew_ppm = (1.0 / frequency_weight_sum).sqrt();
    CombinedEstimate {
        reference: reference.id,
        reference_id: reference.reference_id,
        stratum: reference.stratum,
        offset_s,
        offset_sd_s: offset_variance.sqrt(),
        offset_error_s: offset_error_variance.sqrt(),
        frequency_ppm,
        skew_ppm,
        root_delay_s: reference.root_delay_s,
        root_dispersion_s: reference.root_dispersion_s,
        leap: majority_leap(sources.iter().map(|c| c.leap)),
        sources_combined: sources.len(),
    }
}

/// The leap warning announced by more than half of `leaps`, else no warning.
pub fn majority_leap(leaps: impl Iterator<Item = LeapIndicator>) -> LeapIndicator {
    let (mut total, mut insert, mut delete) = (0usize, 0usize, 0usize);
    for leap in leaps {
        total += 1;
        match leap {
            LeapIndicator::InsertSecond => insert += 1,
            LeapIndicator::DeleteSecond => delete += 1,
            _ => {}
        }
    }
    if insert * 2 > total {
        LeapIndicator::InsertSecond
    } else if delete * 2 > total {
        LeapIndicator::DeleteSecond
    } else {
        LeapIndicator::NoWarning
    }
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
