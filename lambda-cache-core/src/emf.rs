//! Metrics in CloudWatch's Embedded Metric Format (EMF): one JSON line per report, written to
//! standard output, which Lambda sends to CloudWatch Logs, where CloudWatch turns it into
//! metrics. No API call, no agent, nothing on the request path.
//!
//! [`Emf`] renders lines (a namespace, dimensions, metrics); [`MetricsReporter`] writes a
//! cache's counters ([`Stats`]) as one, at most once per interval. The extension writes its
//! per-route lines with the same [`Emf`].

use std::fmt::{self, Write as _};
use std::time::Duration;

use parking_lot::Mutex;

use crate::{Cache, Instant, Stats, shown};

/// The unit of a metric, as CloudWatch names it.
///
/// ```
/// assert_eq!(lambda_cache_core::emf::Unit::Milliseconds.as_str(), "Milliseconds");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// A number of events.
    Count,
    /// A duration.
    Milliseconds,
    /// A size.
    Bytes,
}

impl Unit {
    /// CloudWatch's name for the unit.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::emf::Unit::Count.as_str(), "Count");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
        }
    }
}

/// One metric of a line: its name, value and unit.
///
/// ```
/// use lambda_cache_core::emf::{Metric, Unit};
/// let hits = Metric::count("Hits", 12);
/// assert_eq!((hits.name, hits.value, hits.unit), ("Hits", 12.0, Unit::Count));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric<'a> {
    /// The metric's name (1 to 255 characters).
    pub name: &'a str,
    /// Its value; a value that is not finite is left out of the line.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
}

impl<'a> Metric<'a> {
    /// A count.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::emf::Metric::count("Misses", 3).value, 3.0);
    /// ```
    #[allow(clippy::cast_precision_loss)] // counts past 2^53 are not met in one interval
    pub fn count(name: &'a str, count: u64) -> Self {
        Self {
            name,
            value: count as f64,
            unit: Unit::Count,
        }
    }

    /// A duration, in milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p99 = lambda_cache_core::emf::Metric::millis("BackendLatencyP99", Duration::from_micros(2_500));
    /// assert_eq!(p99.value, 2.5);
    /// ```
    pub fn millis(name: &'a str, duration: Duration) -> Self {
        Self {
            name,
            value: duration.as_secs_f64() * 1000.0,
            unit: Unit::Milliseconds,
        }
    }
}

/// A namespace or dimension CloudWatch would refuse; names what was given.
///
/// ```
/// let err = lambda_cache_core::emf::Emf::new("").unwrap_err();
/// assert!(err.to_string().contains("namespace"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmfError {
    what: &'static str,
    input: String,
    reason: &'static str,
}

impl fmt::Display for EmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metrics {} {}: {}",
            self.what,
            shown(&self.input),
            self.reason
        )
    }
}

impl std::error::Error for EmfError {}

/// Renders EMF lines under one namespace and a fixed set of dimensions (such as the function's
/// name).
///
/// ```
/// use lambda_cache_core::emf::{Emf, Metric};
/// let emf = Emf::new("LambdaCache")?.dimension("FunctionName", "checkout")?;
/// let line = emf.line(1_700_000_000_000, &[("Route", "ssm")], &[Metric::count("Hits", 7)]);
/// assert!(line.starts_with(r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"LambdaCache","Dimensions":[["FunctionName","Route"]]"#));
/// assert!(line.ends_with(r#""FunctionName":"checkout","Route":"ssm","Hits":7}"#));
/// # Ok::<(), lambda_cache_core::emf::EmfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
}

impl Emf {
    /// Dimensions a metric may have in CloudWatch.
    pub const MAX_DIMENSIONS: usize = 30;

    /// Lines under `namespace` (1 to 255 ASCII characters, not starting with `AWS/`).
    ///
    /// # Errors
    /// [`EmfError`] naming the namespace when CloudWatch would refuse it.
    ///
    /// ```
    /// assert!(lambda_cache_core::emf::Emf::new("AWS/Lambda").is_err());
    /// ```
    pub fn new(namespace: impl Into<String>) -> Result<Self, EmfError> {
        let namespace = namespace.into();
        let reason = if namespace.is_empty() || namespace.len() > 255 {
            Some("give 1 to 255 characters")
        } else if !namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            Some("give printable ASCII only")
        } else if namespace.starts_with("AWS/") {
            Some("AWS/ is reserved for AWS's own metrics")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(EmfError {
                what: "namespace",
                input: namespace,
                reason,
            }),
            None => Ok(Self {
                namespace,
                dimensions: Vec::new(),
            }),
        }
    }

    /// Adds a dimension every line carries: a name of 1 to 255 ASCII characters not starting
    /// with `:`, a value of 1 to 1,024 characters; at most [`Emf::MAX_DIMENSIONS`] less one (a
    /// line may add one of its own).
    ///
    /// # Errors
    /// [`EmfError`] naming the dimension.
    ///
    /// ```
    /// use lambda_cache_core::emf::Emf;
    /// assert!(Emf::new("N")?.dimension("FunctionName", "").is_err());
    /// assert!(Emf::new("N")?.dimension("FunctionName", "checkout").is_ok());
    /// # Ok::<(), lambda_cache_core::emf::EmfError>(())
    /// ```
    pub fn dimension(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, EmfError> {
        let (name, value) = (name.into(), value.into());
        let bad_name = if name.is_empty() || name.len() > 255 {
            Some("give a name of 1 to 255 characters")
        } else if !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') || name.starts_with(':')
        {
            Some("give a name of printable ASCII, not starting with ':'")
        } else if name == "_aws" || self.dimensions.iter().any(|(n, _)| *n == name) {
            Some("the name is taken")
        } else if self.dimensions.len() + 1 >= Self::MAX_DIMENSIONS {
            Some("too many dimensions: CloudWatch takes 30 per metric")
        } else {
            None
        };
        if let Some(reason) = bad_name {
            return Err(EmfError {
                what: "dimension",
                input: name,
                reason,
            });
        }
        if value.is_empty() || value.chars().count() > 1024 {
            return Err(EmfError {
                what: "dimension",
                input: name,
                reason: "give a value of 1 to 1,024 characters",
            });
        }
        self.dimensions.push((name, value));
        Ok(self)
    }

    /// The namespace.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::emf::Emf::new("N")?.namespace(), "N");
    /// # Ok::<(), lambda_cache_core::emf::EmfError>(())
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// One line: `metrics` at `timestamp_ms` (milliseconds since the Unix epoch, as
    /// [`crate::Clock::unix_millis`] gives), under this emitter's dimensions and `extra` ones
    /// (the caller's own names, such as `Route`). Metrics whose value is not finite are left out.
    ///
    /// ```
    /// use lambda_cache_core::emf::{Emf, Metric};
    /// let line = Emf::new("N")?.line(5, &[], &[Metric::count("Evictions", 2)]);
    /// assert_eq!(
    ///     line,
    ///     r#"{"_aws":{"Timestamp":5,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"Evictions","Unit":"Count"}]}]},"Evictions":2}"#
    /// );
    /// # Ok::<(), lambda_cache_core::emf::EmfError>(())
    /// ```
    pub fn line(
        &self,
        timestamp_ms: u64,
        extra: &[(&str, &str)],
        metrics: &[Metric<'_>],
    ) -> String {
        let dimensions: Vec<(&str, &str)> = self
            .dimensions
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect();
        let metrics: Vec<&Metric<'_>> = metrics.iter().filter(|m| m.value.is_finite()).collect();
        let mut out = String::with_capacity(256);
        let _ = write!(
            out,
            r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":"#
        );
        json_string(&mut out, &self.namespace);
        out.push_str(r#","Dimensions":[["#);
        for (i, (name, _)) in dimensions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, name);
        }
        out.push_str(r#"]],"Metrics":["#);
        for (i, metric) in metrics.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"Name":"#);
            json_string(&mut out, metric.name);
            let _ = write!(out, r#","Unit":"{}"}}"#, metric.unit.as_str());
        }
        out.push_str("]}]}");
        for (name, value) in &dimensions {
            out.push(',');
            json_string(&mut out, name);
            out.push(':');
            json_string(&mut out, value);
        }
        for metric in metrics {
            out.push(',');
            json_string(&mut out, metric.name);
            out.push(':');
            json_number(&mut out, metric.value);
        }
        out.push('}');
        out
    }

    /// One line of a cache's counters over an interval (`delta`, as [`Stats::since`] gives):
    /// `Hits`, `Misses`, `Fetches`, `FetchErrors`, `StaleServed`, `Evictions`, `NotModified`
    /// (fetches that kept the held value), `RefreshedAhead` and `ServedWhileRevalidating`.
    ///
    /// ```
    /// use lambda_cache_core::{Stats, emf::Emf};
    /// let line = Emf::new("N")?.stats_line(5, &Stats::default());
    /// assert!(line.contains(r#""Hits":0,"Misses":0,"Fetches":0,"FetchErrors":0,"StaleServed":0,"Evictions":0"#));
    /// # Ok::<(), lambda_cache_core::emf::EmfError>(())
    /// ```
    pub fn stats_line(&self, timestamp_ms: u64, delta: &Stats) -> String {
        self.line(
            timestamp_ms,
            &[],
            &[
                Metric::count("Hits", delta.hits),
                Metric::count("Misses", delta.misses),
                Metric::count("Fetches", delta.fetches),
                Metric::count("FetchErrors", delta.errors),
                Metric::count("StaleServed", delta.stale_served),
                Metric::count("Evictions", delta.evictions),
                Metric::count("NotModified", delta.not_modified),
                Metric::count("RefreshedAhead", delta.refreshed_ahead),
                Metric::count("ServedWhileRevalidating", delta.served_while_revalidating),
            ],
        )
    }
}

/// `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite number as JSON: whole numbers without a fraction.
fn json_number(out: &mut String, value: f64) {
    #[allow(clippy::cast_possible_truncation)] // whole and within ±2^53: exact
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Writes a cache's counters as an EMF line to standard output at most once per interval
/// (60 s by default): call [`MetricsReporter::report`] at the end of each invocation, and
/// [`MetricsReporter::flush`] when the function shuts down. Each line holds what happened since
/// the one before.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
/// let cache = Cache::builder().build()?;
/// let reporter = MetricsReporter::new(Emf::new("LambdaCache")?, &cache);
/// // At the end of an invocation: a line only once a minute.
/// let _written = reporter.report();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MetricsReporter {
    emf: Emf,
    cache: Cache,
    interval: Duration,
    /// When the last line was written, and the counters it covered up to.
    last: Mutex<(Instant, Stats)>,
}

impl MetricsReporter {
    /// A reporter of `cache`'s counters, every 60 s at most.
    ///
    /// ```
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?);
    /// # let _ = reporter;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(emf: Emf, cache: &Cache) -> Self {
        Self {
            last: Mutex::new((cache.clock().now(), cache.stats())),
            emf,
            cache: cache.clone(),
            interval: Duration::from_secs(60),
        }
    }

    /// Sets the shortest time between two lines.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?)
    ///     .interval(Duration::from_secs(300));
    /// # let _ = reporter;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The line due now, if the interval has passed since the last one; the counters it covers
    /// are then counted as reported.
    ///
    /// ```
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?);
    /// assert_eq!(reporter.due_line(), None); // not a minute yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn due_line(&self) -> Option<String> {
        let now = self.cache.clock().now();
        let mut last = self.last.lock();
        if now.saturating_duration_since(last.0) < self.interval {
            return None;
        }
        Some(self.take(&mut last, now))
    }

    /// The line of everything not yet reported, whatever the time (at shutdown).
    ///
    /// ```
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?);
    /// assert!(reporter.flush_line().contains(r#""Hits":0"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_line(&self) -> String {
        let now = self.cache.clock().now();
        let mut last = self.last.lock();
        self.take(&mut last, now)
    }

    fn take(&self, last: &mut (Instant, Stats), now: Instant) -> String {
        let stats = self.cache.stats();
        let line = self
            .emf
            .stats_line(self.cache.clock().unix_millis(), &stats.since(&last.1));
        *last = (now, stats);
        line
    }

    /// Writes the due line (if any) to standard output; true if one was written.
    ///
    /// ```no_run
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// # let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?);
    /// reporter.report();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> bool {
        self.due_line().map(|line| write_out(&line)).is_some()
    }

    /// Writes everything not yet reported to standard output.
    ///
    /// ```no_run
    /// # use lambda_cache_core::{Cache, emf::{Emf, MetricsReporter}};
    /// # let reporter = MetricsReporter::new(Emf::new("N")?, &Cache::builder().build()?);
    /// reporter.flush();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) {
        write_out(&self.flush_line());
    }
}

/// One line on standard output, whole (the lock keeps it from interleaving with others). A
/// closed standard output loses the line: metrics never fail the function.
///
/// ```no_run
/// lambda_cache_core::emf::write_out(r#"{"_aws":{}}"#);
/// ```
pub fn write_out(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_the_aws_block() {
        let emf = Emf::new("Name \"quoted\"")
            .unwrap()
            .dimension("FunctionName", "f\n1")
            .unwrap();
        let line = emf.line(
            42,
            &[("Route", "dynamodb")],
            &[
                Metric::count("Hits", 3),
                Metric::millis("P99", Duration::from_micros(1500)),
                Metric {
                    name: "Bad",
                    value: f64::NAN,
                    unit: Unit::Count,
                },
            ],
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).expect(&line);
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(parsed["_aws"]["Timestamp"], 42);
        assert_eq!(directive["Namespace"], "Name \"quoted\"");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["FunctionName", "Route"]])
        );
        assert_eq!(directive["Metrics"].as_array().map(Vec::len), Some(2));
        assert_eq!(parsed["FunctionName"], "f\n1");
        assert_eq!(parsed["Hits"], 3);
        assert_eq!(parsed["P99"], 1.5);
        assert!(parsed.get("Bad").is_none());
    }

    #[test]
    fn namespaces_and_dimensions_are_checked_and_named() {
        for bad in ["", "AWS/Lambda", "tab\there", &"n".repeat(256)] {
            let err = Emf::new(bad).unwrap_err();
            assert!(err.to_string().starts_with("metrics namespace "), "{err}");
        }
        let emf = Emf::new("N").unwrap();
        for (name, value) in [
            ("", "v"),
            (":x", "v"),
            ("_aws", "v"),
            ("n", ""),
            ("n", &"v".repeat(1025)),
        ] {
            let err = emf.clone().dimension(name, value).unwrap_err();
            assert!(err.to_string().starts_with("metrics dimension "), "{err}");
        }
        let mut many = emf.dimension("d0", "v").unwrap();
        for i in 1..Emf::MAX_DIMENSIONS - 1 {
            many = many.dimension(format!("d{i}"), "v").unwrap();
        }
        let err = many.dimension("one-more", "v").unwrap_err();
        assert!(err.to_string().contains("30 per metric"), "{err}");
    }

    #[cfg(feature = "test-util")]
    #[test]
    fn a_reporter_writes_deltas_at_most_once_per_interval() {
        use crate::{ManualClock, Policy};
        let manual = ManualClock::new();
        let cache = Cache::builder().clock(manual.clock()).build().unwrap();
        let reporter = MetricsReporter::new(Emf::new("N").unwrap(), &cache);
        let read = || {
            futures_lite(
                cache.get_or_load("k", Policy::new(Duration::from_secs(600)), || async {
                    Ok::<_, std::io::Error>(1_u8)
                }),
            )
            .expect("loaded");
        };
        read();
        read();
        assert_eq!(reporter.due_line(), None);
        manual.advance(Duration::from_secs(60));
        let line: serde_json::Value = serde_json::from_str(&reporter.due_line().unwrap()).unwrap();
        assert_eq!(
            (line["Hits"].as_u64(), line["Misses"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(line["_aws"]["Timestamp"], 60_000);
        assert_eq!(reporter.due_line(), None, "once per interval");
        read();
        let flushed: serde_json::Value = serde_json::from_str(&reporter.flush_line()).unwrap();
        assert_eq!(
            (flushed["Hits"].as_u64(), flushed["Misses"].as_u64()),
            (Some(1), Some(0))
        );
    }

    /// Runs a future that never waits (a cache read whose fetch is ready at once).
    #[cfg(feature = "test-util")]
    fn futures_lite<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }
}
