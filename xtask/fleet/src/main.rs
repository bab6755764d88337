//! `cargo xtask fleet`: runs the fleet simulation's matrix (storm and steady, with and
//! without each feature), prints the table, writes `fleet.json` and `fleet.svg` beside this
//! crate and the table into FLEET.md.
//!
//! Options: `--envs N` (1,000), `--keys K` (20), `--max-age S` (60), `--tps T` (40),
//! `--seed N` (1), `--out DIR` (this crate's directory), `--no-write` (print only).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lambda_cache_fleet::report::{self, Row};
use lambda_cache_fleet::{Arrival, Features, Scenario, simulate};

const TABLE_START: &str = "<!-- fleet-table: written by cargo xtask fleet -->";
const TABLE_END: &str = "<!-- /fleet-table -->";

#[allow(clippy::print_stdout)] // a tool that prints its table
fn main() -> ExitCode {
    match run() {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("fleet: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let mut envs = 1_000;
    let mut keys = 20;
    let mut max_age = 60.0;
    let mut tps = 40.0;
    let mut seed = 1;
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut write = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--envs" => envs = number(&arg, &value(&arg)?)?,
            "--keys" => keys = number(&arg, &value(&arg)?)?,
            "--max-age" => max_age = number(&arg, &value(&arg)?)?,
            "--tps" => tps = number(&arg, &value(&arg)?)?,
            "--seed" => seed = number(&arg, &value(&arg)?)?,
            "--out" => out = PathBuf::from(value(&arg)?),
            "--no-write" => write = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !(1..=100_000).contains(&envs) || keys == 0 || max_age <= 0.0 || tps <= 0.0 {
        return Err(format!(
            "--envs must be 1 to 100000, --keys, --max-age and --tps above 0 (got {envs}, {keys}, {max_age}, {tps})"
        ));
    }
    let configurations = [
        Features::default(),
        Features {
            batching: true,
            ..Features::default()
        },
        Features {
            jitter: true,
            ..Features::default()
        },
        Features {
            stale_if_error: true,
            ..Features::default()
        },
        Features {
            shared: true,
            ..Features::default()
        },
        Features {
            batching: true,
            jitter: true,
            stale_if_error: true,
            shared: false,
        },
        Features {
            batching: false,
            jitter: true,
            stale_if_error: true,
            shared: true,
        },
    ];
    let arrivals = [
        Arrival::Storm {
            within: Duration::from_secs(10),
        },
        Arrival::Steady {
            warm_up: Duration::from_secs(300),
        },
    ];
    let mut rows = Vec::new();
    for arrival in arrivals {
        for features in configurations {
            let scenario = Scenario {
                envs,
                keys,
                max_age: Duration::from_secs_f64(max_age),
                tps,
                arrival,
                measured: Duration::from_secs(300),
                period: Duration::from_secs(1),
                features,
                seed,
                slow_backend: false,
                tier_down_at: None,
            };
            eprintln!("fleet: {arrival:?}, {}", features.label());
            rows.push(Row {
                scenario,
                outcome: simulate(scenario),
            });
        }
    }
    // Storms under harder conditions: a slow backend (p50 300 ms, p99 3 s), and the shared tier
    // lost 5 s into the storm.
    let all_local = Features {
        batching: true,
        jitter: true,
        stale_if_error: true,
        shared: false,
    };
    let with_tier = Features {
        batching: false,
        jitter: true,
        stale_if_error: true,
        shared: true,
    };
    for (features, slow_backend, tier_down_at) in [
        (all_local, true, None),
        (with_tier, true, None),
        (with_tier, false, Some(Duration::from_secs(5))),
        (with_tier, true, Some(Duration::from_secs(5))),
    ] {
        let scenario = Scenario {
            envs,
            keys,
            max_age: Duration::from_secs_f64(max_age),
            tps,
            arrival: arrivals[0],
            measured: Duration::from_secs(300),
            period: Duration::from_secs(1),
            features,
            seed,
            slow_backend,
            tier_down_at,
        };
        eprintln!(
            "fleet: storm, {}{}",
            features.label(),
            scenario.conditions()
        );
        rows.push(Row {
            scenario,
            outcome: simulate(scenario),
        });
    }
    let table = report::table(&rows);
    if write {
        let json = serde_json::to_string_pretty(&report::json(&rows)).map_err(|e| e.to_string())?;
        write_file(&out.join("fleet.json"), &(json + "\n"))?;
        write_file(&out.join("fleet.svg"), &report::svg(&rows))?;
        let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../FLEET.md");
        let text = std::fs::read_to_string(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
        let (Some(start), Some(end)) = (text.find(TABLE_START), text.find(TABLE_END)) else {
            return Err(format!(
                "{} has no {TABLE_START} ... {TABLE_END}",
                doc.display()
            ));
        };
        let text = format!(
            "{}{TABLE_START}\n\n{table}\n{}",
            &text[..start],
            &text[end..]
        );
        write_file(&doc, &text)?;
    }
    Ok(table)
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name} {text:?} is not a number"))
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
