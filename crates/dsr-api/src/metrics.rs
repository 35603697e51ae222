//! Prometheus text exposition: request counts and latency histograms per route, and
//! gauges the caller adds at scrape time (queue depth, index size, task outcomes).
//!
//! Written by hand (a few counters and one histogram family): `metrics` +
//! `metrics-exporter-prometheus` would bring a global recorder and an HTTP listener we do
//! not want; routes are labelled by their template (`/api/v1/requests/{id}`), never by
//! the path a caller sent, so no id or personal value can appear in a label.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One route template and method: its latency and its answers by status.
#[derive(Debug, Default, Clone)]
struct Series {
    latency: Histogram,
    statuses: Vec<(u16, u64)>,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// By route template, then method. Looked up by `&str`: recording a request does
    /// not allocate once its route has been seen.
    series: Mutex<HashMap<String, Vec<(String, Series)>>>,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let by_method = match all.get_mut(route) {
            Some(v) => v,
            None => all.entry(route.to_owned()).or_default(),
        };
        let i = match by_method.iter().position(|(m, _)| m == method) {
            Some(i) => i,
            None => {
                by_method.push((method.to_owned(), Series::default()));
                by_method.len() - 1
            }
        };
        let s = &mut by_method[i].1;
        match s.statuses.iter_mut().find(|(st, _)| *st == status) {
            Some((_, n)) => *n += 1,
            None => s.statuses.push((status, 1)),
        }
        let h = &mut s.latency;
        h.count += 1;
        h.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
    }

    /// Every series, sorted by method and route (a stable exposition).
    fn snapshot(&self) -> BTreeMap<(String, String), Series> {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = BTreeMap::new();
        for (route, v) in all.iter() {
            for (m, s) in v {
                let mut s = s.clone();
                s.statuses.sort_unstable();
                out.insert((m.clone(), route.clone()), s);
            }
        }
        out
    }

    /// The text exposition, with `extra` (already formatted families) appended.
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        out.push_str("# HELP dsr_http_requests_total HTTP requests answered, by route template and status.\n# TYPE dsr_http_requests_total counter\n");
        let series = self.snapshot();
        for ((m, r), s) in &series {
            for (st, n) in &s.statuses {
                let _ = writeln!(
                    out,
                    "dsr_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP dsr_http_request_duration_seconds Time to answer, by route template.\n# TYPE dsr_http_request_duration_seconds histogram\n");
        for ((m, r), s) in &series {
            let h = &s.latency;
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "dsr_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "dsr_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "dsr_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "dsr_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                h.count
            );
        }
        out.push_str(extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/api/v1/subjects", 200, Duration::from_micros(300));
        m.observe("GET", "/api/v1/subjects", 200, Duration::from_millis(3));
        let t = m.render("");
        assert!(t.contains("dsr_http_requests_total{method=\"GET\",route=\"/api/v1/subjects\",status=\"200\"} 2"), "{t}");
        assert!(t.contains("le=\"0.0005\"} 1"), "{t}");
        assert!(t.contains("le=\"0.005\"} 2"), "{t}");
        assert!(t.contains("le=\"+Inf\"} 2"), "{t}");
    }
}
