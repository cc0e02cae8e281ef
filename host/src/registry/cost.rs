//! What a policy version's decisions cost on this node: CPU time and wall-clock time per
//! decision, in histograms that decision threads update without a lock.

use crate::engine::Cost;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: quantiles are exact to within 19%.
const STEPS: usize = 4;
/// Powers of two covered, in nanoseconds: up to 2^40 ns (18 minutes).
const OCTAVES: usize = 40;
const BUCKETS: usize = OCTAVES * STEPS;

/// A log-scaled histogram of nanoseconds.
#[derive(Debug)]
struct Histogram {
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// The bucket of a value: its power of two and, within it, which quarter.
fn bucket(nanos: u64) -> usize {
    if nanos < STEPS as u64 {
        return nanos as usize;
    }
    let octave = 63 - nanos.leading_zeros() as usize;
    let step = ((nanos >> (octave - 2)) & 0b11) as usize;
    ((octave - 1) * STEPS + step).min(BUCKETS - 1)
}

/// The largest value a bucket holds.
fn upper_bound(index: usize) -> u64 {
    if index < STEPS {
        return index as u64;
    }
    let octave = index / STEPS + 1;
    let step = (index % STEPS) as u64;
    ((4 + step + 1) << (octave - 2)) - 1
}

impl Histogram {
    fn record(&self, value: Duration) {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn summary(&self) -> Quantiles {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let at = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (index, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return Duration::from_nanos(upper_bound(index));
                }
            }
            Duration::from_nanos(upper_bound(BUCKETS - 1))
        };
        let sum = self.sum_nanos.load(Ordering::Relaxed);
        Quantiles {
            mean: Duration::from_nanos(sum.checked_div(total).unwrap_or(0)),
            p50: at(0.5),
            p99: at(0.99),
        }
    }
}

/// Mean and quantiles of one measure (quantiles are bucket upper bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Quantiles {
    #[serde(serialize_with = "millis")]
    pub mean: Duration,
    #[serde(serialize_with = "millis")]
    pub p50: Duration,
    #[serde(serialize_with = "millis")]
    pub p99: Duration,
}

fn millis<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64() * 1000.0)
}

/// A version's decisions so far: how many, CPU time and wall-clock time per decision (in
/// milliseconds when serialized).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CostSummary {
    pub decisions: u64,
    pub cpu_ms: Quantiles,
    pub wall_ms: Quantiles,
}

/// The cost histograms of one version.
#[derive(Debug, Default)]
pub struct CostStats {
    cpu: Histogram,
    wall: Histogram,
    decisions: AtomicU64,
}

impl CostStats {
    /// Counts one decision that ran.
    pub fn record(&self, cost: Cost) {
        self.cpu.record(cost.cpu);
        self.wall.record(cost.wall);
        self.decisions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn summary(&self) -> CostSummary {
        CostSummary {
            decisions: self.decisions.load(Ordering::Relaxed),
            cpu_ms: self.cpu.summary(),
            wall_ms: self.wall.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_hold_their_values() {
        let mut last = 0;
        for index in 0..BUCKETS {
            let bound = upper_bound(index);
            assert!(index == 0 || bound > last, "bucket {index}");
            assert_eq!(bucket(bound), index, "bucket {index} holds its bound");
            if index > 0 {
                assert_eq!(
                    bucket(last + 1),
                    index,
                    "bucket {index} starts after {last}"
                );
            }
            last = bound;
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let stats = CostStats::default();
        for micros in 1..=1000u64 {
            stats.record(Cost {
                cpu: Duration::from_micros(micros),
                wall: Duration::from_micros(micros * 2),
            });
        }
        let summary = stats.summary();
        assert_eq!(summary.decisions, 1000);
        let close = |got: Duration, want: f64| {
            let got = got.as_secs_f64() * 1e6;
            assert!(got >= want && got <= want * 1.25, "{got} µs vs {want} µs");
        };
        close(summary.cpu_ms.p50, 500.0);
        close(summary.cpu_ms.p99, 990.0);
        close(summary.wall_ms.p99, 1980.0);
        assert_eq!(summary.cpu_ms.mean, Duration::from_nanos(500_500));
        assert_eq!(CostStats::default().summary(), CostSummary::default());
    }
}
