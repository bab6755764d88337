//! Read latency across a TTL boundary: one reader reads one SSM parameter (through the real SDK
//! against the emulator) every 20 µs for 3 s while it expires every 100 ms, without and with
//! refresh ahead (0.8), beside the same reads of a key that never expires (the hit). Prints
//! one JSON object: p50, p99, p99.99 and max in nanoseconds of each, and the reads over
//! 100 µs (those that waited for the backend). The first (cold) read is not measured.
//!
//! Writes the JSON to the file named by `LAMBDA_CACHE_BOUNDARY_REPORT`, or prints it. Run by
//! `cargo xtask bench-boundary` and `cargo xtask bench`, which start the emulator. A bench
//! target (no harness), so that `cargo bench` builds it with the other benchmarks.
#![allow(missing_docs, clippy::print_stdout)] // its output is the report
#![allow(clippy::disallowed_methods)] // wall-clock latencies are the measurement

use std::time::{Duration, Instant};

use lambda_cache::{Cache, Fetched, Key, LoadError, Policy};

const RUN: Duration = Duration::from_secs(3);
const PACE: Duration = Duration::from_micros(20);
const TTL: Duration = Duration::from_millis(100);

/// One mode's latencies, sorted.
struct Figures(Vec<u64>);

impl Figures {
    fn at(&self, q: f64) -> u64 {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[i]
    }

    fn json(&self) -> String {
        let waited = self.0.iter().filter(|ns| **ns > 100_000).count();
        format!(
            "{{\"reads\":{},\"p50\":{},\"p99\":{},\"p99_99\":{},\"max\":{},\"over_100us\":{waited}}}",
            self.0.len(),
            self.at(0.5),
            self.at(0.99),
            self.at(0.9999),
            self.0.last().copied().unwrap_or(0)
        )
    }
}

async fn measure(client: &aws_sdk_ssm::Client, name: &str, policy: Policy) -> Figures {
    let cache = Cache::builder().build().expect("a cache");
    let mut latencies = Vec::with_capacity(200_000);
    let started = Instant::now();
    let mut next = started;
    // The first read (the cold miss) is not measured: every mode starts with the key held.
    let mut measured = false;
    while started.elapsed() < RUN {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        next += PACE;
        let (client, owned) = (client.clone(), name.to_owned());
        let read = Instant::now();
        let value = cache
            .get_or_refresh(Key::new("ssm", name), policy, move |_previous| async move {
                let out = client
                    .get_parameter()
                    .name(owned)
                    .send()
                    .await
                    .map_err(|e| LoadError::new(lambda_cache::ssm::AwsError::from_sdk(e)))?;
                let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
                Ok::<_, LoadError<lambda_cache::ssm::AwsError>>(Fetched::new(value))
            })
            .await
            .expect("a read");
        if measured {
            latencies.push(u64::try_from(read.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        measured = true;
        std::hint::black_box(value);
        // Let the runtime run the background refresh's task between reads.
        tokio::task::yield_now().await;
    }
    latencies.sort_unstable();
    Figures(latencies)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let endpoint = lambda_cache_testkit::moto_endpoint();
    let config = lambda_cache_testkit::sdk_config(&endpoint).await;
    let client = aws_sdk_ssm::Client::new(&config);
    let name = format!("/{}/boundary", lambda_cache_testkit::unique("bench"));
    lambda_cache_testkit::put_parameter(
        &client,
        &name,
        aws_sdk_ssm::types::ParameterType::String,
        "v",
    )
    .await;
    let hit = measure(&client, &name, Policy::new(Duration::from_secs(3600))).await;
    let expiring = measure(&client, &name, Policy::new(TTL)).await;
    let ahead = measure(
        &client,
        &name,
        Policy::new(TTL)
            .refresh_ahead(0.8)
            .expect("0.8 is in range"),
    )
    .await;
    let report = format!(
        "{{\"hit\":{},\"ttl_100ms\":{},\"ttl_100ms_refresh_ahead\":{}}}",
        hit.json(),
        expiring.json(),
        ahead.json()
    );
    match std::env::var_os("LAMBDA_CACHE_BOUNDARY_REPORT") {
        Some(path) => std::fs::write(&path, format!("{report}\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display())),
        None => println!("{report}"),
    }
}
