//! Wilson score confidence intervals for the mean accuracy of a heatmap cell.

/// The standard normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.959964;

/// A confidence interval within [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Computes the 95% Wilson score interval of a mean over `n` grades whose
/// accuracies sum to `successes`.
///
/// The sum of accuracies counts as the number of successes, which is exact
/// for 0/1 grades. Fractional grades (0.5 for a half-right answer) are
/// treated as that fraction of a success, so the interval is the one of a
/// binomial proportion with the same mean. This is an approximation: it
/// ignores that fractional grades vary less than 0/1 grades with the same
/// mean, so their interval comes out somewhat wide. Returns `None` when `n`
/// is 0, and also when `successes` is not in [0, n].
pub fn wilson_interval(successes: f64, n: u64) -> Option<Interval> {
    if n == 0 || !(0.0..=n as f64).contains(&successes) {
        return None;
    }
    let n = n as f64;
    let p = successes / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half_width = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At p = 0 and p = 1 one bound is exactly 0 or 1; rounding in the
    // subtraction would otherwise leave values such as 2.8e-17.
    let low = if p == 0.0 {
        0.0
    } else {
        (center - half_width).max(0.0)
    };
    let high = if p == 1.0 {
        1.0
    } else {
        (center + half_width).min(1.0)
    };
    Some(Interval { low, high })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds to 4 decimals, as the CSVs print the bounds.
    fn round4(value: f64) -> f64 {
        (value * 10_000.0).round() / 10_000.0
    }

    fn bounds(successes: f64, n: u64) -> (f64, f64) {
        let interval = wilson_interval(successes, n).expect("an interval");
        (round4(interval.low), round4(interval.high))
    }

    #[test]
    fn eight_of_ten() {
        assert_eq!(bounds(8.0, 10), (0.4902, 0.9433));
    }

    #[test]
    fn none_of_five() {
        let interval = wilson_interval(0.0, 5).unwrap();
        assert_eq!(interval.low, 0.0);
        assert_eq!(round4(interval.high), 0.4345);
    }

    #[test]
    fn all_of_ten() {
        let interval = wilson_interval(10.0, 10).unwrap();
        assert_eq!(round4(interval.low), 0.7225);
        assert_eq!(interval.high, 1.0);
    }

    #[test]
    fn single_grade() {
        assert_eq!(bounds(1.0, 1), (0.2065, 1.0));
        assert_eq!(bounds(0.0, 1), (0.0, 0.7935));
    }

    #[test]
    fn fractional_grades_use_their_sum() {
        assert_eq!(bounds(1.5, 3), (0.1253, 0.8747));
        assert_eq!(bounds(0.5, 1), (0.0546, 0.9454));
    }

    #[test]
    fn interval_is_symmetric_around_half() {
        let interval = wilson_interval(1.0, 2).unwrap();
        assert_eq!(round4(interval.low), 0.0945);
        assert_eq!(round4(interval.high), 0.9055);
        assert!((interval.low + interval.high - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_grades_no_interval() {
        assert_eq!(wilson_interval(0.0, 0), None);
    }

    #[test]
    fn impossible_sums_have_no_interval() {
        assert_eq!(wilson_interval(-0.5, 3), None);
        assert_eq!(wilson_interval(3.5, 3), None);
        assert_eq!(wilson_interval(f64::NAN, 3), None);
    }
}
