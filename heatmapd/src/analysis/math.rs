//! Derivative, percent change and least-squares trend of one heatmap row.
//!
//! A row is a list of cells over an ascending temperature axis that may be
//! non-uniform; missing cells (`None`) are skipped when looking for
//! neighbours.

/// Slope above which a trend is `Positive`, and whose negative is the bound for `Negative`.
pub const DIRECTION_THRESHOLD: f64 = 0.05;

/// Returns d/dT of each present cell.
///
/// A cell with present neighbours on both sides gets the central difference
/// between those neighbours, `(y[right] - y[left]) / (T[right] - T[left])`;
/// the first and last present cells get the forward or backward difference
/// with their one neighbour. Missing cells, and a cell with no present
/// neighbour at all, get `None`.
pub fn derivative(temperatures: &[f64], cells: &[Option<f64>]) -> Vec<Option<f64>> {
    let present: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].is_some()).collect();
    let mut out = vec![None; cells.len()];
    for (position, &i) in present.iter().enumerate() {
        let left = position.checked_sub(1).map(|p| present[p]);
        let right = present.get(position + 1).copied();
        let (from, to) = match (left, right) {
            (Some(left), Some(right)) => (left, right),
            (None, Some(right)) => (i, right),
            (Some(left), None) => (left, i),
            (None, None) => continue,
        };
        let dy = cells[to].unwrap_or_default() - cells[from].unwrap_or_default();
        out[i] = Some(dy / (temperatures[to] - temperatures[from]));
    }
    out
}

/// Percent change of a cell against the previous present cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PercentChange {
    /// A finite change in percent.
    Value(f64),
    /// From 0 to a positive value.
    Infinite,
    /// From 0 to a negative value.
    NegativeInfinite,
}

/// Returns the percent change of each present cell against the previous
/// present cell: `(y - previous) / previous * 100`, 0 from 0 to 0, and
/// [`PercentChange::Infinite`] from 0 to anything else. The first present
/// cell and missing cells get `None`.
pub fn percent_change(cells: &[Option<f64>]) -> Vec<Option<PercentChange>> {
    let mut previous: Option<f64> = None;
    let mut out = Vec::with_capacity(cells.len());
    for cell in cells {
        let Some(y) = *cell else {
            out.push(None);
            continue;
        };
        out.push(previous.map(|before| {
            if before != 0.0 {
                PercentChange::Value((y - before) / before * 100.0)
            } else if y == 0.0 {
                PercentChange::Value(0.0)
            } else if y > 0.0 {
                PercentChange::Infinite
            } else {
                PercentChange::NegativeInfinite
            }
        }));
        previous = Some(y);
    }
    out
}

/// Direction of a trend line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Slope above [`DIRECTION_THRESHOLD`].
    Positive,
    /// Slope below minus [`DIRECTION_THRESHOLD`].
    Negative,
    /// Anything in between.
    Neutral,
}

impl Direction {
    /// Returns the word written in the trends CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Positive => "Positive",
            Direction::Negative => "Negative",
            Direction::Neutral => "Neutral",
        }
    }
}

/// A least-squares line `y = slope * T + intercept` through a row's present cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Change of accuracy per unit of temperature.
    pub slope: f64,
    /// Accuracy at temperature 0 on the line.
    pub intercept: f64,
    /// Sign of the slope beyond [`DIRECTION_THRESHOLD`].
    pub direction: Direction,
    /// Share of the row's variance the line explains, in [0, 1].
    pub r_squared: f64,
}

/// Fits a least-squares line through the present cells.
///
/// Returns `None` for fewer than 2 present cells, where no line is defined.
/// A row whose present cells are all equal gets slope 0 and R² = 1: the
/// flat line fits it exactly, although R² = 1 - SS_res / SS_tot is 0/0 there.
pub fn trend(temperatures: &[f64], cells: &[Option<f64>]) -> Option<Trend> {
    let points: Vec<(f64, f64)> = temperatures
        .iter()
        .zip(cells)
        .filter_map(|(&t, cell)| cell.map(|y| (t, y)))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let first = points[0].1;
    if points.iter().all(|&(_, y)| y == first) {
        return Some(Trend {
            slope: 0.0,
            intercept: first,
            direction: Direction::Neutral,
            r_squared: 1.0,
        });
    }

    let n = points.len() as f64;
    let mean_t = points.iter().map(|&(t, _)| t).sum::<f64>() / n;
    let mean_y = points.iter().map(|&(_, y)| y).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|&(t, _)| (t - mean_t).powi(2)).sum();
    let sxy: f64 = points
        .iter()
        .map(|&(t, y)| (t - mean_t) * (y - mean_y))
        .sum();
    if sxx == 0.0 {
        // Every point at one temperature: only a CSV with repeated columns gets here.
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_t;
    let ss_tot: f64 = points.iter().map(|&(_, y)| (y - mean_y).powi(2)).sum();
    let ss_res: f64 = points
        .iter()
        .map(|&(t, y)| (y - (intercept + slope * t)).powi(2))
        .sum();
    let direction = if slope > DIRECTION_THRESHOLD {
        Direction::Positive
    } else if slope < -DIRECTION_THRESHOLD {
        Direction::Negative
    } else {
        Direction::Neutral
    };
    Some(Trend {
        slope,
        intercept,
        direction,
        r_squared: (1.0 - ss_res / ss_tot).clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIS: [f64; 4] = [0.0, 0.5, 1.0, 2.0];

    fn rounded(values: &[Option<f64>]) -> Vec<Option<String>> {
        values
            .iter()
            .map(|v| v.map(|x| format!("{x:.4}")))
            .collect()
    }

    fn s(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn derivative_skips_gaps_on_uneven_axis() {
        let cells = [Some(0.2), None, Some(0.6), Some(0.7)];
        assert_eq!(
            rounded(&derivative(&AXIS, &cells)),
            [s("0.4000"), None, s("0.2500"), s("0.1000")]
        );
    }

    #[test]
    fn derivative_from_zero_start() {
        let cells = [Some(0.0), Some(0.0), Some(0.5), None];
        assert_eq!(
            rounded(&derivative(&AXIS, &cells)),
            [s("0.0000"), s("0.5000"), s("1.0000"), None]
        );
    }

    #[test]
    fn derivative_of_single_point_is_empty() {
        assert_eq!(
            derivative(&AXIS, &[None, Some(0.9), None, None]),
            [None, None, None, None]
        );
        assert_eq!(
            derivative(&AXIS, &[None, None, None, None]),
            [None, None, None, None]
        );
    }

    #[test]
    fn derivative_of_two_points() {
        let cells = [Some(1.0), None, None, Some(0.0)];
        assert_eq!(
            derivative(&AXIS, &cells),
            [Some(-0.5), None, None, Some(-0.5)]
        );
    }

    #[test]
    fn percent_change_cases() {
        let cells = [Some(0.2), None, Some(0.6), Some(0.7)];
        let changes = percent_change(&cells);
        assert_eq!(changes[0], None);
        assert_eq!(changes[1], None);
        let Some(PercentChange::Value(third)) = changes[2] else {
            panic!("expected a value")
        };
        assert_eq!(format!("{third:.4}"), "200.0000");
        let Some(PercentChange::Value(last)) = changes[3] else {
            panic!("expected a value")
        };
        assert_eq!(format!("{last:.4}"), "16.6667");

        let zero_start = percent_change(&[Some(0.0), Some(0.0), Some(0.5), None]);
        assert_eq!(
            zero_start,
            [
                None,
                Some(PercentChange::Value(0.0)),
                Some(PercentChange::Infinite),
                None
            ]
        );
        assert_eq!(
            percent_change(&[Some(0.0), Some(-0.5)])[1],
            Some(PercentChange::NegativeInfinite)
        );
        assert_eq!(
            percent_change(&[Some(1.0), None, None, Some(0.0)])[3],
            Some(PercentChange::Value(-100.0))
        );
    }

    #[test]
    fn trend_through_gaps() {
        let fit = trend(&AXIS, &[Some(0.2), None, Some(0.6), Some(0.7)]).unwrap();
        assert_eq!(
            format!("{:.4} {:.4} {:.4}", fit.slope, fit.intercept, fit.r_squared),
            "0.2500 0.2500 0.8929"
        );
        assert_eq!(fit.direction, Direction::Positive);
    }

    #[test]
    fn trend_from_zero_start() {
        let fit = trend(&AXIS, &[Some(0.0), Some(0.0), Some(0.5), None]).unwrap();
        assert_eq!(
            format!("{:.4} {:.4} {:.4}", fit.slope, fit.intercept, fit.r_squared),
            "0.5000 -0.0833 0.7500"
        );
    }

    #[test]
    fn trend_of_two_points_fits_exactly() {
        let fit = trend(&AXIS, &[Some(1.0), None, None, Some(0.0)]).unwrap();
        assert_eq!(fit.slope, -0.5);
        assert_eq!(fit.intercept, 1.0);
        assert_eq!(fit.direction, Direction::Negative);
        assert_eq!(fit.r_squared, 1.0);
    }

    #[test]
    fn trend_of_flat_row() {
        let fit = trend(&AXIS, &[Some(0.1); 4]).unwrap();
        assert_eq!(
            fit,
            Trend {
                slope: 0.0,
                intercept: 0.1,
                direction: Direction::Neutral,
                r_squared: 1.0
            }
        );
    }

    #[test]
    fn trend_needs_two_points() {
        assert_eq!(trend(&AXIS, &[None, Some(0.9), None, None]), None);
        assert_eq!(trend(&AXIS, &[None; 4]), None);
    }

    #[test]
    fn direction_thresholds() {
        let axis = [0.0, 1.0];
        assert_eq!(
            trend(&axis, &[Some(0.0), Some(0.05)]).unwrap().direction,
            Direction::Neutral
        );
        assert_eq!(
            trend(&axis, &[Some(0.0), Some(0.06)]).unwrap().direction,
            Direction::Positive
        );
        assert_eq!(
            trend(&axis, &[Some(0.06), Some(0.0)]).unwrap().direction,
            Direction::Negative
        );
    }
}
