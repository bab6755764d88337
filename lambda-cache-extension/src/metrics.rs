//! What each route did: hits, misses, stale and negative answers, backend calls, their errors
//! and latency. Served in `/v1/stats` (totals since start) and written to standard output as
//! CloudWatch EMF lines (what happened since the last lines), at most once a minute and at
//! SHUTDOWN.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_cache::emf::{Emf, Metric, write_out};
use lambda_cache::{Clock, Instant};
use parking_lot::Mutex;

/// The shortest time between two reports.
const INTERVAL: Duration = Duration::from_secs(60);

/// The service a request reads from: the `Route` dimension of its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    DynamoDb,
    Ssm,
    Secrets,
    AppConfig,
}

const ROUTES: [Route; 4] = [
    Route::DynamoDb,
    Route::Ssm,
    Route::Secrets,
    Route::AppConfig,
];

impl Route {
    fn name(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::Ssm => "ssm",
            Self::Secrets => "secrets",
            Self::AppConfig => "appconfig",
        }
    }
}

/// What the SDK endpoint (`POST /`) was asked: the operations answered from the cache, the
/// others passed through per service, and the requests refused for their signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    GetParameter,
    GetParameters,
    GetParametersByPath,
    GetSecretValue,
    BatchGetSecretValue,
    GetItem,
    BatchGetItem,
    SsmPassthrough,
    SecretsPassthrough,
    DynamoDbPassthrough,
    StartConfigurationSession,
    GetLatestConfiguration,
    Refused,
}

const OPERATIONS: [Operation; 13] = [
    Operation::GetParameter,
    Operation::GetParameters,
    Operation::GetParametersByPath,
    Operation::GetSecretValue,
    Operation::BatchGetSecretValue,
    Operation::GetItem,
    Operation::BatchGetItem,
    Operation::SsmPassthrough,
    Operation::SecretsPassthrough,
    Operation::DynamoDbPassthrough,
    Operation::StartConfigurationSession,
    Operation::GetLatestConfiguration,
    Operation::Refused,
];

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::GetParameter => "GetParameter",
            Self::GetParameters => "GetParameters",
            Self::GetParametersByPath => "GetParametersByPath",
            Self::GetSecretValue => "GetSecretValue",
            Self::BatchGetSecretValue => "BatchGetSecretValue",
            Self::GetItem => "GetItem",
            Self::BatchGetItem => "BatchGetItem",
            Self::SsmPassthrough => "ssm:passthrough",
            Self::SecretsPassthrough => "secretsmanager:passthrough",
            Self::DynamoDbPassthrough => "dynamodb:passthrough",
            Self::StartConfigurationSession => "StartConfigurationSession",
            Self::GetLatestConfiguration => "GetLatestConfiguration",
            Self::Refused => "refused",
        }
    }
}

/// One route's counts, as read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    stale: u64,
    negative_hits: u64,
    calls: u64,
    errors: u64,
    ahead: u64,
    revalidating: u64,
}

impl Counts {
    fn since(self, earlier: Counts) -> Counts {
        Counts {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            stale: self.stale.saturating_sub(earlier.stale),
            negative_hits: self.negative_hits.saturating_sub(earlier.negative_hits),
            calls: self.calls.saturating_sub(earlier.calls),
            errors: self.errors.saturating_sub(earlier.errors),
            ahead: self.ahead.saturating_sub(earlier.ahead),
            revalidating: self.revalidating.saturating_sub(earlier.revalidating),
        }
    }
}

/// Latency buckets: four per doubling of microseconds, from 1 µs to past 10 minutes.
const BUCKETS: usize = 128;

#[derive(Debug, Default)]
struct RouteMetrics {
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    negative_hits: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
    /// Hits past the refresh-ahead share of the TTL (each starts or joins a refresh).
    ahead: AtomicU64,
    /// Answers past the TTL within the stale-while-revalidate window.
    revalidating: AtomicU64,
    /// Backend latency since the last report.
    latency: Latency,
}

impl RouteMetrics {
    fn counts(&self) -> Counts {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Counts {
            hits: get(&self.hits),
            misses: get(&self.misses),
            stale: get(&self.stale),
            negative_hits: get(&self.negative_hits),
            calls: get(&self.calls),
            errors: get(&self.errors),
            ahead: get(&self.ahead),
            revalidating: get(&self.revalidating),
        }
    }
}

/// A histogram of backend call times, taken whole at each report.
#[derive(Debug)]
struct Latency([AtomicU64; BUCKETS]);

impl Default for Latency {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Latency {
    fn bucket(took: Duration) -> usize {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let index = (4.0 * ((micros as f64) + 1.0).log2()) as usize;
        index.min(BUCKETS - 1)
    }

    /// The upper bound of bucket `index`.
    fn bound(index: usize) -> Duration {
        #[allow(clippy::cast_precision_loss)]
        let micros = 2_f64.powf((index as f64 + 1.0) / 4.0) - 1.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Duration::from_micros(micros.ceil() as u64)
    }

    fn record(&self, took: Duration) {
        self.0[Self::bucket(took)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts since the last take, which start again from zero.
    fn take(&self) -> [u64; BUCKETS] {
        std::array::from_fn(|i| self.0[i].swap(0, Ordering::Relaxed))
    }

    /// The `q` quantile (0 to 1) of `counts`, as its bucket's upper bound; none if empty.
    fn quantile(counts: &[u64; BUCKETS], q: f64) -> Option<Duration> {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::bound(index));
            }
        }
        Some(Self::bound(BUCKETS - 1))
    }
}

/// What the last report covered.
#[derive(Debug)]
struct Reported {
    at: Instant,
    routes: [Counts; 4],
    /// The cache's counters at the last report.
    cache: lambda_cache::Stats,
    /// The SDK endpoint's counts at the last report.
    operations: [u64; 13],
}

/// Every route's metrics, and where they are reported.
#[derive(Debug)]
pub(crate) struct Metrics {
    routes: [RouteMetrics; 4],
    /// Requests of the SDK endpoint, per [`Operation`].
    operations: [AtomicU64; 13],
    /// Entries dropped because a write passed through changed them.
    invalidated: AtomicU64,
    /// `None` when `CACHE_EXTENSION_METRICS=off`.
    emf: Option<Emf>,
    clock: Clock,
    reported: Mutex<Reported>,
}

impl Metrics {
    pub(crate) fn new(emf: Option<Emf>, clock: Clock) -> Self {
        Self {
            routes: Default::default(),
            operations: Default::default(),
            invalidated: AtomicU64::new(0),
            emf,
            reported: Mutex::new(Reported {
                at: clock.now(),
                routes: [Counts::default(); 4],
                cache: lambda_cache::Stats::default(),
                operations: [0; 13],
            }),
            clock,
        }
    }

    fn route(&self, route: Route) -> &RouteMetrics {
        &self.routes[route as usize]
    }

    /// A request answered from memory.
    pub(crate) fn hit(&self, route: Route) {
        self.route(route).hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A request that found nothing fresh (it fetched, joined a fetch, or was refused).
    pub(crate) fn miss(&self, route: Route) {
        self.route(route).misses.fetch_add(1, Ordering::Relaxed);
    }

    /// A request answered with a value past its TTL because the backend failed.
    pub(crate) fn stale(&self, route: Route) {
        self.route(route).stale.fetch_add(1, Ordering::Relaxed);
    }

    /// A hit past the refresh-ahead share of its TTL.
    pub(crate) fn refreshed_ahead(&self, route: Route) {
        self.route(route).ahead.fetch_add(1, Ordering::Relaxed);
    }

    /// A request answered past its TTL, within the stale-while-revalidate window.
    pub(crate) fn served_while_revalidating(&self, route: Route) {
        self.route(route)
            .revalidating
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request answered with a remembered failure.
    pub(crate) fn negative_hit(&self, route: Route) {
        self.route(route)
            .negative_hits
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A backend call that took `took`, and whether it failed.
    pub(crate) fn call(&self, route: Route, took: Duration, failed: bool) {
        let metrics = self.route(route);
        metrics.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            metrics.errors.fetch_add(1, Ordering::Relaxed);
        }
        metrics.latency.record(took);
    }

    /// A request of the SDK endpoint.
    pub(crate) fn operation(&self, operation: Operation) {
        self.operations[operation as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Entries a write passed through dropped.
    pub(crate) fn invalidated(&self, entries: usize) {
        self.invalidated
            .fetch_add(entries as u64, Ordering::Relaxed);
    }

    /// The SDK endpoint's totals since start, for `/v1/stats`.
    pub(crate) fn sdk_json(&self) -> serde_json::Value {
        let mut operations = serde_json::Map::new();
        for operation in OPERATIONS {
            operations.insert(
                operation.name().to_owned(),
                self.operations[operation as usize]
                    .load(Ordering::Relaxed)
                    .into(),
            );
        }
        serde_json::json!({
            "operations": operations,
            "invalidated": self.invalidated.load(Ordering::Relaxed),
        })
    }

    /// Remembered failures answered, all routes.
    pub(crate) fn negative_hits(&self) -> u64 {
        self.routes.iter().map(|r| r.counts().negative_hits).sum()
    }

    /// Totals since start, per route, for `/v1/stats`.
    pub(crate) fn json(&self) -> serde_json::Value {
        let mut routes = serde_json::Map::new();
        for route in ROUTES {
            let c = self.route(route).counts();
            routes.insert(
                route.name().to_owned(),
                serde_json::json!({
                    "hits": c.hits,
                    "misses": c.misses,
                    "staleServed": c.stale,
                    "negativeHits": c.negative_hits,
                    "backendCalls": c.calls,
                    "backendErrors": c.errors,
                    "refreshedAhead": c.ahead,
                    "servedWhileRevalidating": c.revalidating,
                }),
            );
        }
        serde_json::Value::Object(routes)
    }

    /// Writes the EMF lines due (once `INTERVAL` has passed since the last, or always when
    /// `now` is set, at SHUTDOWN): one per route that did anything, and one of the cache's
    /// evictions and entries. Nothing when metrics are off.
    pub(crate) fn report(&self, cache: lambda_cache::Stats, entries: usize, now: bool) {
        for line in self.lines(cache, entries, now) {
            write_out(&line);
        }
    }

    fn lines(&self, cache: lambda_cache::Stats, entries: usize, now: bool) -> Vec<String> {
        let Some(emf) = &self.emf else {
            return Vec::new();
        };
        let at = self.clock.now();
        let mut reported = self.reported.lock();
        if !now && at.saturating_duration_since(reported.at) < INTERVAL {
            return Vec::new();
        }
        let timestamp = self.clock.unix_millis();
        let mut lines = Vec::new();
        for route in ROUTES {
            let metrics = self.route(route);
            let counts = metrics.counts();
            let delta = counts.since(reported.routes[route as usize]);
            reported.routes[route as usize] = counts;
            let latency = metrics.latency.take();
            if delta == Counts::default() {
                continue;
            }
            let mut values = vec![
                Metric::count("Hits", delta.hits),
                Metric::count("Misses", delta.misses),
                Metric::count("StaleServed", delta.stale),
                Metric::count("NegativeHits", delta.negative_hits),
                Metric::count("BackendCalls", delta.calls),
                Metric::count("BackendErrors", delta.errors),
                Metric::count("RefreshedAhead", delta.ahead),
                Metric::count("ServedWhileRevalidating", delta.revalidating),
            ];
            if let (Some(p50), Some(p99)) = (
                Latency::quantile(&latency, 0.5),
                Latency::quantile(&latency, 0.99),
            ) {
                values.push(Metric::millis("BackendLatencyP50", p50));
                values.push(Metric::millis("BackendLatencyP99", p99));
            }
            lines.push(emf.line(timestamp, &[("Route", route.name())], &values));
        }
        for operation in OPERATIONS {
            let count = self.operations[operation as usize].load(Ordering::Relaxed);
            let delta = count.saturating_sub(reported.operations[operation as usize]);
            reported.operations[operation as usize] = count;
            if delta > 0 {
                lines.push(emf.line(
                    timestamp,
                    &[("Operation", operation.name())],
                    &[Metric::count("SdkRequests", delta)],
                ));
            }
        }
        let delta = cache.since(&reported.cache);
        reported.cache = cache;
        reported.at = at;
        lines.push(emf.line(
            timestamp,
            &[],
            &[
                Metric::count("Evictions", delta.evictions),
                Metric::count("Entries", entries as u64),
                Metric::count("SharedTierHits", delta.shared_hits),
                Metric::count("SharedTierWaits", delta.shared_waits),
                Metric::count("SharedTierErrors", delta.shared_errors),
            ],
        ));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_come_from_the_buckets() {
        let latency = Latency::default();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let counts = latency.take();
        let p50 = Latency::quantile(&counts, 0.5).unwrap();
        let p99 = Latency::quantile(&counts, 0.99).unwrap();
        // Four buckets per doubling: a bound is at most 19% above the value it holds.
        assert!(
            p50 >= Duration::from_millis(50) && p50 <= Duration::from_millis(60),
            "{p50:?}"
        );
        assert!(
            p99 >= Duration::from_millis(99) && p99 <= Duration::from_millis(118),
            "{p99:?}"
        );
        assert_eq!(Latency::quantile(&latency.take(), 0.5), None, "taken whole");
        assert_eq!(Latency::bucket(Duration::from_secs(100_000)), BUCKETS - 1);
    }

    #[test]
    fn lines_hold_what_happened_since_the_last() {
        let emf = Emf::new("Test").unwrap();
        let metrics = Metrics::new(Some(emf), Clock::real());
        let stats = |evictions: u64, shared_hits: u64| {
            let mut stats = lambda_cache::Stats::default();
            stats.evictions = evictions;
            stats.shared_hits = shared_hits;
            stats
        };
        assert!(
            metrics.lines(stats(0, 0), 0, false).is_empty(),
            "not a minute yet"
        );
        metrics.hit(Route::Ssm);
        metrics.miss(Route::Ssm);
        metrics.call(Route::Ssm, Duration::from_millis(3), false);
        let lines = metrics.lines(stats(2, 5), 1, true);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let ssm: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (ssm["Route"].as_str(), ssm["Hits"].as_u64()),
            (Some("ssm"), Some(1))
        );
        assert!(ssm["BackendLatencyP99"].as_f64().unwrap() >= 3.0);
        let cache: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (
                cache["Evictions"].as_u64(),
                cache["SharedTierHits"].as_u64()
            ),
            (Some(2), Some(5))
        );
        metrics.hit(Route::Ssm);
        let lines = metrics.lines(stats(2, 7), 1, true);
        let ssm: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (ssm["Hits"].as_u64(), ssm["Misses"].as_u64()),
            (Some(1), Some(0))
        );
        assert!(ssm.get("BackendLatencyP50").is_none(), "no call this time");
        let cache: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (
                cache["Evictions"].as_u64(),
                cache["SharedTierHits"].as_u64()
            ),
            (Some(0), Some(2))
        );
        assert!(
            Metrics::new(None, Clock::real())
                .lines(stats(0, 0), 0, true)
                .is_empty()
        );
    }
}
