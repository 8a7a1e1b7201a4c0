//! `GET /api/metrics`: the hub's figures as JSON. The hub writes these types and the
//! toolkit reads them back; every field has a default, so that a figure a hub does not
//! give is absent, not a failure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsReport {
    pub timestamp: String,
    pub hub: HubFigures,
    pub process: ProcessFigures,
    pub clients: ClientFigures,
    pub servers: ServerCounts,
    pub tools: Exposure,
    pub tool_calls: ToolCalls,
    pub tool_call_latency: LatencySnapshot,
    /// `null` without an LLM configured: "no data", never "0% success".
    pub llm: Option<LlmReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HubFigures {
    /// A [`crate::api::HubState`] word.
    pub state: String,
    pub pid: u32,
    pub port: u16,
    pub uptime_s: u64,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessFigures {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientFigures {
    pub active: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerCounts {
    pub total: usize,
    pub connected: usize,
    pub connecting: usize,
    pub disconnected: usize,
    pub disabled: usize,
}

/// How many of the backends' tools the hub exposes (also in `/api/health`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exposure {
    pub exposed: usize,
    pub total: usize,
    pub filtered: usize,
    pub filtering: bool,
    /// "151/362 (58.3% filtered)", the form the system mcphub replaces reported.
    pub summary: String,
}

impl Exposure {
    pub fn new(total: usize, exposed: usize, filtering: bool) -> Exposure {
        let exposed = exposed.min(total);
        let rate = if total == 0 {
            0.0
        } else {
            (total - exposed) as f64 / total as f64
        };
        Exposure {
            exposed,
            total,
            filtered: total - exposed,
            filtering,
            summary: format!("{exposed}/{total} ({:.1}% filtered)", rate * 100.0),
        }
    }

    /// The share of the tools the filter hides, 0 to 1.
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.filtered as f64 / self.total as f64
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolCalls {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
}

/// The LLM categorizer's figures since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmReport {
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub success: u64,
    /// `None` before the first request.
    pub success_rate: Option<f64>,
    pub latency_ms: Quantiles,
    pub cache: CacheFigures,
    pub queue_depth: usize,
    /// A [`crate::api::CircuitState`] word.
    pub circuit_state: String,
    pub parse_errors: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheFigures {
    pub hits: u64,
    pub misses: u64,
    /// `None` before the first lookup.
    pub hit_rate: Option<f64>,
}

/// The upper bounds, in seconds, of the hub's tool-call latency buckets: 0.5 ms doubling
/// to about 65 s, since proxied calls span both ends (the Prometheus histogram and this
/// snapshot share them).
pub fn latency_bounds() -> impl Iterator<Item = f64> {
    (0..18).map(|i| 0.0005 * 2f64.powf(f64::from(i)))
}

/// Cumulative latency distribution of tool calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySnapshot {
    /// Upper bounds in seconds; the last bucket (+Inf) is implied by `count`.
    pub bounds: Vec<f64>,
    /// Cumulative counts per bound.
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl LatencySnapshot {
    /// An empty distribution in the hub's buckets.
    pub fn empty() -> LatencySnapshot {
        let bounds: Vec<f64> = latency_bounds().collect();
        LatencySnapshot {
            counts: vec![0; bounds.len()],
            bounds,
            count: 0,
            sum_seconds: 0.0,
        }
    }

    /// Adds one observation.
    pub fn record(&mut self, secs: f64) {
        self.count += 1;
        self.sum_seconds += secs;
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
    }

    /// The calls between `earlier` and `self`.
    pub fn since(&self, earlier: &LatencySnapshot) -> LatencySnapshot {
        if earlier.bounds != self.bounds {
            return self.clone();
        }
        LatencySnapshot {
            bounds: self.bounds.clone(),
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
            sum_seconds: (self.sum_seconds - earlier.sum_seconds).max(0.0),
        }
    }

    /// The q-quantile in seconds, interpolated inside its bucket as Prometheus'
    /// `histogram_quantile` does; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let mut prev_bound = 0.0;
        let mut prev_count = 0u64;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if *count as f64 >= rank {
                let in_bucket = (count - prev_count) as f64;
                if in_bucket == 0.0 {
                    return Some(*bound);
                }
                return Some(
                    prev_bound + (bound - prev_bound) * (rank - prev_count as f64) / in_bucket,
                );
            }
            prev_bound = *bound;
            prev_count = *count;
        }
        // Above the largest bound: the largest bound is all that can be said.
        self.bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_the_report_did() {
        assert_eq!(
            Exposure::new(362, 151, true).summary,
            "151/362 (58.3% filtered)"
        );
        assert_eq!(Exposure::new(0, 0, false).summary, "0/0 (0.0% filtered)");
        assert_eq!(Exposure::new(4, 1, true).rate(), 0.75);
    }

    #[test]
    fn a_hub_that_gives_fewer_figures_is_read_with_the_rest_absent() {
        let r: MetricsReport =
            serde_json::from_str(r#"{"tool_calls": {"total": 3}, "llm": null}"#).unwrap();
        assert_eq!((r.tool_calls.total, r.tool_calls.success), (3, 0));
        assert_eq!(r.llm, None);
    }
}
