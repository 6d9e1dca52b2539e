//! `GET /metrics`: the server's counters in the Prometheus text exposition format (0.0.4).
//!
//! - `lockbox_requests_total{operation, status}`: every request answered, refusals
//!   included (operation `-` when none was named: `/health`, `/metrics`, a wrong path).
//! - `lockbox_request_duration_seconds{operation}`: a histogram of the time from the request
//!   head to the answer.
//! - `lockbox_throttled_requests_total{operation}`: requests answered ThrottlingException.
//! - `lockbox_token_errors_total`: token failures the engine met (token unreachable, a
//!   PKCS#11 call failed), from `lockbox::token_error_count`.
//! - `lockbox_requests_in_flight`, `lockbox_max_concurrent_requests`.
//!
//! No label comes from a request's text: operations are the frontend's static names, so a
//! client cannot grow the series without bound, and no key id, principal or access key id is
//! ever a label. The endpoint is not authenticated, as `/health` is not (decision
//! 0029-request-log-metrics-and-reservations.md): what it tells is counts, which a scraper must reach
//! without SigV4 credentials.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parking_lot::Mutex;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at or under each bound (not cumulative here; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counts {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    throttled: BTreeMap<&'static str, u64>,
}

/// The server's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    counts: Mutex<Counts>,
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn observe(
        &self,
        operation: Option<&'static str>,
        status: u16,
        error_code: Option<&str>,
        seconds: f64,
    ) {
        let op = operation.unwrap_or("-");
        let mut c = self.counts.lock();
        *c.requests.entry((op, status)).or_default() += 1;
        let h = c.latency.entry(op).or_default();
        h.count += 1;
        h.sum += seconds;
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.buckets[i] += 1;
        }
        if error_code == Some("ThrottlingException") {
            *c.throttled.entry(op).or_default() += 1;
        }
    }

    /// The exposition text.
    pub(crate) fn render(
        &self,
        in_flight: usize,
        max_in_flight: usize,
        token_errors: u64,
    ) -> String {
        let c = self.counts.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lockbox_requests_total Requests answered, by operation and HTTP status.\n\
             # TYPE lockbox_requests_total counter"
        );
        for ((op, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "lockbox_requests_total{{operation=\"{op}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP lockbox_request_duration_seconds Time from request head to answer.\n\
             # TYPE lockbox_request_duration_seconds histogram"
        );
        for (op, h) in &c.latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "lockbox_request_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "lockbox_request_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}\n\
                 lockbox_request_duration_seconds_sum{{operation=\"{op}\"}} {}\n\
                 lockbox_request_duration_seconds_count{{operation=\"{op}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP lockbox_throttled_requests_total Requests answered ThrottlingException.\n\
             # TYPE lockbox_throttled_requests_total counter"
        );
        for (op, n) in &c.throttled {
            let _ = writeln!(
                out,
                "lockbox_throttled_requests_total{{operation=\"{op}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP lockbox_token_errors_total Token failures met by operations (unreachable \
             token, failed PKCS#11 call).\n\
             # TYPE lockbox_token_errors_total counter\n\
             lockbox_token_errors_total {token_errors}\n\
             # HELP lockbox_requests_in_flight Requests being served now.\n\
             # TYPE lockbox_requests_in_flight gauge\n\
             lockbox_requests_in_flight {in_flight}\n\
             # HELP lockbox_max_concurrent_requests The in-flight limit (max_concurrent_requests).\n\
             # TYPE lockbox_max_concurrent_requests gauge\n\
             lockbox_max_concurrent_requests {max_in_flight}"
        );
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_latencies_and_throttles_render_as_prometheus_text() {
        let m = Metrics::default();
        m.observe(Some("Encrypt"), 200, None, 0.003);
        m.observe(Some("Encrypt"), 200, None, 0.2);
        m.observe(Some("Encrypt"), 400, Some("ThrottlingException"), 0.0005);
        m.observe(None, 404, Some("UnknownOperationException"), 0.0001);
        let text = m.render(1, 64, 2);
        for line in [
            "lockbox_requests_total{operation=\"Encrypt\",status=\"200\"} 2",
            "lockbox_requests_total{operation=\"Encrypt\",status=\"400\"} 1",
            "lockbox_requests_total{operation=\"-\",status=\"404\"} 1",
            "lockbox_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.001\"} 1",
            "lockbox_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.005\"} 2",
            "lockbox_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.1\"} 2",
            "lockbox_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.25\"} 3",
            "lockbox_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"+Inf\"} 3",
            "lockbox_request_duration_seconds_count{operation=\"Encrypt\"} 3",
            "lockbox_throttled_requests_total{operation=\"Encrypt\"} 1",
            "lockbox_token_errors_total 2",
            "lockbox_requests_in_flight 1",
            "lockbox_max_concurrent_requests 64",
            "# TYPE lockbox_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line}:\n{text}");
        }
    }
}
