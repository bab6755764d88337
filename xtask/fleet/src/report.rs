//! The simulation's outputs: a Markdown table, JSON, and an SVG plot of backend requests per
//! second.

use std::fmt::Write as _;

use crate::{Arrival, Outcome, Scenario};

/// One run: its settings and what it measured.
pub struct Row {
    /// The settings.
    pub scenario: Scenario,
    /// The measures.
    pub outcome: Outcome,
}

fn arrival(scenario: &Scenario) -> &'static str {
    match scenario.arrival {
        Arrival::Storm { .. } => "storm",
        Arrival::Steady { .. } => "steady",
    }
}

/// Whether the busiest second stayed within the backend's rate, and the margin: how much of
/// the rate was left in that second (negative: how far over).
fn verdict(row: &Row) -> String {
    let limit = row.scenario.tps;
    let peak = f64::from(row.outcome.peak_tps());
    let margin = (limit - peak) / limit * 100.0;
    if peak <= limit {
        format!("yes ({margin:.0}% spare)")
    } else {
        format!("no ({:.1}× the limit)", peak / limit)
    }
}

fn ms(us: u32) -> String {
    if us == 0 {
        "0".to_owned()
    } else {
        format!("{:.0}", f64::from(us) / 1000.0)
    }
}

/// The Markdown table: one line per run.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| arrival | features | backend req/s mean | peak | throttled | failed reads | stale served | shared-tier hits | read p50 / p99 / max (ms) | peak ≤ limit? |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for row in rows {
        let o = &row.outcome;
        let _ = writeln!(
            out,
            "| {} | {}{} | {:.1} | {} | {} | {} | {} | {} | {} / {} / {} | {} |",
            arrival(&row.scenario),
            row.scenario.features.label(),
            row.scenario.conditions(),
            o.mean_tps(),
            o.peak_tps(),
            o.throttled,
            o.failed,
            o.stale,
            o.shared_hits,
            ms(o.latency_us(0.5)),
            ms(o.latency_us(0.99)),
            ms(o.latency_us(1.0)),
            verdict(row),
        );
    }
    out
}

/// Every run's settings and measures, the per-second series included.
pub fn json(rows: &[Row]) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let (s, o) = (&row.scenario, &row.outcome);
            serde_json::json!({
                "arrival": arrival(s),
                "features": {
                    "batching": s.features.batching,
                    "jitter": s.features.jitter,
                    "staleIfError": s.features.stale_if_error,
                    "sharedTier": s.features.shared,
                },
                "slowBackend": s.slow_backend,
                "tierDownAtSeconds": s.tier_down_at.map(|at| at.as_secs()),
                "environments": s.envs,
                "keys": s.keys,
                "maxAgeSeconds": s.max_age.as_secs_f64(),
                "limitTps": s.tps,
                "measuredSeconds": s.measured.as_secs(),
                "seed": s.seed,
                "backendRequests": o.requests(),
                "meanTps": o.mean_tps(),
                "peakTps": o.peak_tps(),
                "throttled": o.throttled,
                "reads": o.reads,
                "failedReads": o.failed,
                "staleServed": o.stale,
                "sharedHits": o.shared_hits,
                "readLatencyMs": {
                    "p50": f64::from(o.latency_us(0.5)) / 1000.0,
                    "p99": f64::from(o.latency_us(0.99)) / 1000.0,
                    "max": f64::from(o.latency_us(1.0)) / 1000.0,
                },
                "requestsPerSecond": o.per_second,
            })
        })
        .collect();
    serde_json::json!({ "runs": runs })
}

/// An SVG plot of backend requests per second against time, one line per run of the storm,
/// on a log scale, with the limit drawn across.
pub fn svg(rows: &[Row]) -> String {
    const W: f64 = 860.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 250.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 40.0;
    const COLOURS: [&str; 8] = [
        "#d62728", "#ff7f0e", "#8c564b", "#9467bd", "#1f77b4", "#2ca02c", "#17becf", "#7f7f7f",
    ];
    // The storms of the feature matrix (the runs under other conditions are in the table).
    let storm: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            matches!(r.scenario.arrival, Arrival::Storm { .. })
                && r.scenario.conditions().is_empty()
        })
        .collect();
    let seconds = storm
        .iter()
        .map(|r| r.outcome.per_second.len())
        .max()
        .unwrap_or(1);
    let top = storm
        .iter()
        .map(|r| r.outcome.peak_tps())
        .max()
        .unwrap_or(1)
        .max(100);
    let decades = f64::from(top).log10().ceil();
    let x = |s: f64| LEFT + s / seconds as f64 * (W - LEFT - RIGHT);
    // log10(1 + n), so that zero sits on the axis.
    let y = |n: f64| H - BOTTOM - (1.0 + n).log10() / decades * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="14">Backend requests per second, cold-start storm ({} environments × {} keys, max age {} s)</text>"#,
        storm.first().map_or(0, |r| r.scenario.envs),
        storm.first().map_or(0, |r| r.scenario.keys),
        storm.first().map_or(0, |r| r.scenario.max_age.as_secs()),
    );
    for decade in 0..=decades as u32 {
        let n = if decade == 0 {
            0.0
        } else {
            10_f64.powi(decade as i32)
        };
        let yy = y(n);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            n
        );
    }
    for s in (0..=seconds).step_by(60) {
        let xx = x(s as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{xx:.1}" y="{}" text-anchor="middle">{s} s</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    if let Some(first) = storm.first() {
        let limit = y(first.scenario.tps);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{limit:.1}" y2="{limit:.1}" stroke="black" stroke-dasharray="6 4"/><text x="{}" y="{:.1}">limit {} req/s</text>"##,
            W - RIGHT,
            LEFT + 6.0,
            limit - 5.0,
            first.scenario.tps
        );
    }
    for (i, row) in storm.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = row
            .outcome
            .per_second
            .iter()
            .enumerate()
            .map(|(s, &n)| format!("{:.1},{:.1}", x(s as f64 + 0.5), y(f64::from(n))))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
        let ly = TOP + 20.0 + i as f64 * 18.0;
        let _ = writeln!(
            out,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 12.0,
            W - RIGHT + 32.0,
            W - RIGHT + 38.0,
            ly + 4.0,
            row.scenario.features.label()
        );
    }
    out.push_str("</svg>\n");
    out
}
