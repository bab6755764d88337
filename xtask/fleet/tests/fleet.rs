//! The simulation on small fleets: it repeats itself, and each feature does what it claims,
//! counted in backend requests.

use std::time::Duration;

use lambda_cache_fleet::report::{self, Row};
use lambda_cache_fleet::{Arrival, Features, Scenario, simulate};

fn scenario(features: Features, arrival: Arrival) -> Scenario {
    Scenario {
        envs: 40,
        keys: 5,
        max_age: Duration::from_secs(30),
        tps: 40.0,
        arrival,
        measured: Duration::from_secs(90),
        period: Duration::from_secs(1),
        features,
        seed: 7,
        slow_backend: false,
        tier_down_at: None,
    }
}

const STORM: Arrival = Arrival::Storm {
    within: Duration::from_secs(5),
};

#[test]
fn a_run_repeats_itself_and_another_seed_differs() {
    let features = Features {
        jitter: true,
        ..Features::default()
    };
    let a = simulate(scenario(features, STORM));
    assert_eq!(a, simulate(scenario(features, STORM)));
    let other = simulate(Scenario {
        seed: 8,
        ..scenario(features, STORM)
    });
    assert_ne!(a.per_second, other.per_second);
}

#[test]
fn without_a_shared_tier_each_environment_fetches_each_key_each_max_age() {
    let outcome = simulate(Scenario {
        tps: 20.0,
        ..scenario(Features::default(), STORM)
    });
    // 40 environments x 5 keys, three max ages in the 90 s measured, throttled retries on top.
    assert!(outcome.requests() >= 40 * 5 * 3, "{}", outcome.requests());
    assert!(outcome.throttled > 0);
    assert_eq!(outcome.shared_hits, 0);
}

#[test]
fn batching_reads_ten_keys_a_request() {
    let keys = Scenario {
        keys: 20,
        ..scenario(Features::default(), STORM)
    };
    let one_by_one = simulate(Scenario { tps: 1e9, ..keys });
    let batched = simulate(Scenario {
        tps: 1e9,
        features: Features {
            batching: true,
            ..Features::default()
        },
        ..keys
    });
    // With no throttling, requests are exactly refreshes x requests per refresh: 20 keys,
    // one request each or two of ten.
    assert_eq!(one_by_one.requests(), 40 * 20 * 3);
    assert_eq!(batched.requests(), 40 * 2 * 3);
    assert_eq!((one_by_one.failed, batched.failed), (0, 0));
}

#[test]
fn a_shared_tier_fetches_each_key_once_per_max_age_for_the_fleet() {
    let outcome = simulate(scenario(
        Features {
            shared: true,
            ..Features::default()
        },
        STORM,
    ));
    // 5 keys, fetched at most once per max age: 0-30, 30-60, 60-90, and one more if an
    // expiry falls inside the last second.
    assert!(
        (15..=20).contains(&outcome.requests()),
        "{}",
        outcome.requests()
    );
    assert_eq!((outcome.throttled, outcome.failed), (0, 0));
    assert!(outcome.shared_hits > 0);
}

#[test]
fn stale_if_error_answers_reads_that_throttling_fails() {
    let steady = Arrival::Steady {
        warm_up: Duration::from_secs(30),
    };
    let tight = |features| Scenario {
        tps: 3.0,
        ..scenario(features, steady)
    };
    let plain = simulate(tight(Features::default()));
    let stale = simulate(tight(Features {
        stale_if_error: true,
        ..Features::default()
    }));
    assert!(plain.failed > 0);
    assert!(stale.stale > 0);
    assert!(
        stale.failed < plain.failed,
        "{} {}",
        stale.failed,
        plain.failed
    );
}

#[test]
fn the_reports_hold_every_run() {
    let rows: Vec<Row> = [
        Features::default(),
        Features {
            shared: true,
            ..Features::default()
        },
    ]
    .into_iter()
    .map(|features| {
        let scenario = Scenario {
            envs: 5,
            ..scenario(features, STORM)
        };
        Row {
            scenario,
            outcome: simulate(scenario),
        }
    })
    .collect();
    let table = report::table(&rows);
    assert_eq!(table.lines().count(), 2 + rows.len(), "{table}");
    assert!(table.contains("| storm | shared tier |"), "{table}");
    let json = report::json(&rows);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["runs"][1]["features"]["sharedTier"], true);
    let svg = report::svg(&rows);
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
}

#[test]
fn bad_arguments_are_refused_naming_them() {
    for (args, named) in [
        (&["--envs", "many"][..], "--envs \"many\" is not a number"),
        (&["--envs", "0"][..], "--envs must be 1 to 100000"),
        (&["--tps", "-1"][..], "--tps above 0"),
        (&["--keys"][..], "--keys needs a value"),
        (&["--fast"][..], "unknown argument \"--fast\""),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-cache-fleet"))
            .arg("--no-write")
            .args(args)
            .output()
            .expect("the fleet binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a table");
    }
}

#[test]
fn with_a_slow_backend_the_shared_tier_still_fetches_each_key_about_once_per_max_age() {
    let features = Features {
        jitter: true,
        stale_if_error: true,
        shared: true,
        ..Features::default()
    };
    let slow = simulate(Scenario {
        slow_backend: true,
        ..scenario(features, STORM)
    });
    // 5 keys, three max ages in the 90 s measured: about 15 fetches, whatever the latency.
    assert!(slow.requests() <= 5 * 4, "{}", slow.requests());
    assert_eq!(slow.failed, 0);
    assert!(slow.latency_us(1.0) > 300_000, "the slow backend was slow");
    let alone = simulate(Scenario {
        slow_backend: true,
        ..scenario(
            Features {
                shared: false,
                ..features
            },
            STORM,
        )
    });
    assert!(
        alone.requests() > 5 * slow.requests(),
        "{} vs {}",
        alone.requests(),
        slow.requests()
    );
}

#[test]
fn a_tier_lost_mid_storm_sends_reads_to_the_backend_without_failing_them() {
    let features = Features {
        jitter: true,
        stale_if_error: true,
        shared: true,
        ..Features::default()
    };
    let kept = simulate(Scenario {
        tps: 1e9,
        ..scenario(features, STORM)
    });
    let lost = simulate(Scenario {
        tps: 1e9,
        tier_down_at: Some(Duration::from_secs(3)),
        ..scenario(features, STORM)
    });
    assert_eq!(lost.failed, 0);
    // Without the tier each environment fetches for itself.
    assert!(
        lost.requests() > 3 * kept.requests(),
        "{} vs {}",
        lost.requests(),
        kept.requests()
    );
    assert!(lost.shared_hits < kept.shared_hits);
}
