//! Weighted least-squares lines and the Wald–Wolfowitz runs test: the arithmetic the
//! per-source estimators share ([`crate::estimator`]'s regression fits lines with it;
//! [`crate::kalman`] uses the same runs test to count the samples chrony's regression
//! would use, which steers polling).
//!
//! Owns nothing but pure functions over points; no state, no policy.

/// One-sided 5 % point of the normal distribution, for the runs test.
const RUNS_TEST_Z: f64 = 1.645;

pub(crate) fn median_of_sorted(values: &[f64]) -> f64 {
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct RegressionPoint {
    pub(crate) x_s: f64,
    pub(crate) y_s: f64,
    pub(crate) weight: f64,
}

#[derive(Debug)]
pub(crate) struct LineFit {
    pub(crate) intercept_s: f64,
    pub(crate) slope: f64,
    pub(crate) intercept_error_s: f64,
    pub(crate) slope_error: f64,
    pub(crate) unweighted_residual_sd_s: f64,
}

/// Weighted least squares `y = a + b x`; `a` is the value at x = 0 (the newest sample).
pub(crate) fn fit_line(points: &[RegressionPoint]) -> LineFit {
    let n = points.len() as f64;
    let weight_sum: f64 = points.iter().map(|p| p.weight).sum();
    // Normalise weights to a mean of one, so the residual variance reads in seconds².
    let norm = n / weight_sum;
    let mean_x = points.iter().map(|p| p.weight * p.x_s).sum::<f64>() / weight_sum;
    let mean_y = points.iter().map(|p| p.weight * p.y_s).sum::<f64>() / weight_sum;
    let sxx: f64 = points
        .iter()
        .map(|p| p.weight * norm * (p.x_s - mean_x).powi(2))
        .sum();
    let sxy: f64 = points
        .iter()
        .map(|p| p.weight * norm * (p.x_s - mean_x) * (p.y_s - mean_y))
        .sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept_s = mean_y - slope * mean_x;
    let residuals: Vec<f64> = points
        .iter()
        .map(|p| p.y_s - intercept_s - slope * p.x_s)
        .collect();
    let degrees_of_freedom = (n - 2.0).max(1.0);
    let residual_variance = points
        .iter()
        .zip(&residuals)
        .map(|(p, r)| p.weight * norm * r * r)
        .sum::<f64>()
        / degrees_of_freedom;
    let slope_variance = if sxx > 0.0 {
        residual_variance / sxx
    } else {
        f64::INFINITY
    };
    let intercept_variance = residual_variance / n + mean_x * mean_x * slope_variance;
    LineFit {
        intercept_s,
        slope,
        intercept_error_s: intercept_variance.sqrt(),
        slope_error: slope_variance.sqrt().max(1e-12),
        unweighted_residual_sd_s: (residuals.iter().map(|r| r * r).sum::<f64>()
            / degrees_of_freedom)
            .sqrt(),
    }
}

/// Wald–Wolfowitz runs test: do the residual signs change often enough for the
/// residuals to look random? Too few runs mean the line does not fit.
pub(crate) fn runs_test_passes(signs: &[bool]) -> bool {
    let n = signs.len();
    if n < 4 {
        return true;
    }
    let positives = signs.iter().filter(|s| **s).count() as f64;
    let negatives = n as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return false;
    }
    let runs = 1 + signs.windows(2).filter(|w| w[0] != w[1]).count();
    let expected = 2.0 * positives * negatives / n as f64 + 1.0;
    let variance = (expected - 1.0) * (expected - 2.0) / (n as f64 - 1.0);
    runs as f64 >= expected - RUNS_TEST_Z * variance.max(0.0).sqrt()
}
