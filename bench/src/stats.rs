//! Order statistics for benchmark samples.
//!
//! Medians rather than means: a single slow run (page cache miss, a noisy
//! neighbour) should not move the reported figure, and min/max show the
//! spread it hides.

/// Median, minimum and maximum of a non-empty sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for an empty sample; NaN values sort last and should not occur.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        // The two middle elements; the same one when the length is odd.
        let n = sorted.len();
        let median = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0;
        Some(Summary { median, min, max })
    }
}

/// [`Summary::of`] for a sample that may be empty: then all NaN (shown as
/// "NaN" in a report, which is what an empty phase deserves).
pub fn summary(values: impl Iterator<Item = f64>) -> Summary {
    let values: Vec<f64> = values.collect();
    Summary::of(&values).unwrap_or(Summary { median: f64::NAN, min: f64::NAN, max: f64::NAN })
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn odd_and_even_samples() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).expect("non-empty");
        assert_eq!(odd, Summary { median: 3.0, min: 1.0, max: 5.0 });
        let even = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("non-empty");
        assert_eq!(even.median, 2.5);
        assert_eq!(Summary::of(&[]), None);
    }
}
