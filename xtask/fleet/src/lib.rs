//! The fleet simulation: N execution environments of one function, each with its own real
//! [`Cache`], reading K parameters on every invocation from a backend that throttles above a
//! rate (SSM's 40 transactions per second by default), with the SDK's standard retries, and
//! optionally a shared tier between them ([`MemoryTier`], the protocol `lambda-cache-redis`
//! runs on Redis). Time is simulated ([`exec`]): a run of ten minutes of a thousand
//! environments takes seconds and repeats itself exactly.
//!
//! What is modelled, and what is not:
//! - An environment serves one invocation at a time (Lambda's model); invocations arrive at
//!   each environment as a Poisson process (mean [`Scenario::period`]), and each reads every
//!   key in turn.
//! - The backend admits requests through a token bucket (`tps` per second, `tps` of burst);
//!   a request takes [`BACKEND_LATENCY`], a throttled one [`THROTTLED_LATENCY`].
//! - The SDK's standard retry mode: 3 attempts, full-jitter exponential backoff from 1 s
//!   (capped at 20 s). Its retry quota (500 tokens per client) is not reached by one
//!   environment's few reads, so it is not modelled.
//! - Batching reads the missing keys of an invocation 10 to a request (GetParameters).
//! - With [`Scenario::slow_backend`], a request takes a time drawn from a log-normal law of
//!   median 300 ms and 99th percentile 3 s instead (a loaded backend), throttled or not.
//! - Shared-tier calls are instant (ElastiCache answers in well under a millisecond in the
//!   same zone). With [`Scenario::tier_down_at`] the tier fails from that moment on: every
//!   call is refused, and each environment reads the backend itself (the timeouts and the
//!   skip period of a real tier are tested against a real server).

pub mod exec;
pub mod report;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use lambda_cache_core::shared::MemoryTier;
use lambda_cache_core::{
    Cache, CacheError, Fetched, Key, ManualClock, Policy, SharedTier, Stats, Validator,
};

/// Time a backend request takes.
pub const BACKEND_LATENCY: Duration = Duration::from_millis(15);
/// Time a throttled request takes to be refused.
pub const THROTTLED_LATENCY: Duration = Duration::from_millis(5);
/// Attempts per read in the SDK's standard retry mode.
pub const ATTEMPTS: u32 = 3;
/// Names per GetParameters request.
pub const BATCH: usize = 10;
/// How far back stale-if-error may serve a value.
pub const MAX_STALE: Duration = Duration::from_secs(600);
/// The share of max age jitter may remove.
pub const JITTER: f64 = 0.2;

/// How environments start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// All start cold within `within` (a deploy, or a traffic spike scaling out), and are
    /// measured from the start.
    Storm {
        /// The span of the start times.
        within: Duration,
    },
    /// They start spread over the warm-up, and are measured after it: the fleet at rest.
    Steady {
        /// The warm-up, not measured.
        warm_up: Duration,
    },
}

/// Which of lambda-cache's features the environments use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Missing keys read 10 to a request.
    pub batching: bool,
    /// Each entry's max age shortened by up to 20%, drawn per fetch.
    pub jitter: bool,
    /// A failed refresh answered with the previous value (up to 10 minutes old).
    pub stale_if_error: bool,
    /// One shared tier for the fleet.
    pub shared: bool,
}

impl Features {
    /// The features' names, joined with `+`, or `none`.
    pub fn label(self) -> String {
        let names: Vec<&str> = [
            (self.batching, "batching"),
            (self.jitter, "jitter"),
            (self.stale_if_error, "stale-if-error"),
            (self.shared, "shared tier"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(" + ")
        }
    }
}

/// One run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Execution environments.
    pub envs: usize,
    /// Parameters each invocation reads.
    pub keys: usize,
    /// The readers' max age.
    pub max_age: Duration,
    /// The backend's rate before it throttles.
    pub tps: f64,
    /// How environments start.
    pub arrival: Arrival,
    /// Time measured.
    pub measured: Duration,
    /// Mean time between invocations of one environment.
    pub period: Duration,
    /// What the environments use.
    pub features: Features,
    /// The seed of every random draw.
    pub seed: u64,
    /// Each backend request takes a time drawn from a log-normal law (median 300 ms, p99 3 s)
    /// instead of [`BACKEND_LATENCY`].
    pub slow_backend: bool,
    /// The shared tier fails from this time of the run on (every call refused).
    pub tier_down_at: Option<Duration>,
}

impl Scenario {
    /// What the run's conditions add to its features: ` · slow backend`, ` · tier down at N s`.
    pub fn conditions(&self) -> String {
        let mut out = String::new();
        if self.slow_backend {
            out.push_str(" · slow backend");
        }
        if let Some(at) = self.tier_down_at {
            out.push_str(&format!(" · tier down at {} s", at.as_secs()));
        }
        out
    }
}

/// The slow backend's law: log-normal with this median and this 99th percentile.
const SLOW_MEDIAN: Duration = Duration::from_millis(300);
const SLOW_P99: Duration = Duration::from_secs(3);

/// What a run measured (over the measured span only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Backend requests per second of the measured span.
    pub per_second: Vec<u32>,
    /// Backend requests refused for throttling.
    pub throttled: u64,
    /// Reads made (one per key per invocation).
    pub reads: u64,
    /// Reads that returned an error to the function.
    pub failed: u64,
    /// Reads answered with a stale value after a failed refresh.
    pub stale: u64,
    /// Reads answered by the shared tier.
    pub shared_hits: u64,
    /// Read latencies in microseconds, sorted, of the reads that were not memory hits.
    pub slow_reads_us: Vec<u32>,
}

impl Outcome {
    /// Backend requests.
    pub fn requests(&self) -> u64 {
        self.per_second.iter().map(|&n| u64::from(n)).sum()
    }

    /// Backend requests per second, on average over the measured span.
    pub fn mean_tps(&self) -> f64 {
        self.requests() as f64 / self.per_second.len().max(1) as f64
    }

    /// The busiest second's backend requests.
    pub fn peak_tps(&self) -> u32 {
        self.per_second.iter().copied().max().unwrap_or(0)
    }

    /// The read latency at quantile `q` (0 to 1), memory hits (0 µs) included.
    pub fn latency_us(&self, q: f64) -> u32 {
        let zeros = self.reads.saturating_sub(self.slow_reads_us.len() as u64);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((self.reads as f64 * q).ceil() as u64).max(1);
        if rank <= zeros {
            return 0;
        }
        let index = usize::try_from(rank - zeros - 1).unwrap_or(usize::MAX);
        self.slow_reads_us
            .get(index.min(self.slow_reads_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    }
}

/// A backend request refused: the SDK's throttling error after its retries.
#[derive(Clone, Debug)]
struct Throttled;

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThrottlingException: Rate exceeded")
    }
}

impl std::error::Error for Throttled {}

impl CacheError for Throttled {
    fn is_transient(&self) -> bool {
        true
    }

    fn not_modified_without_value(_: lambda_cache_core::Key<'_>) -> Self {
        Self
    }
}

/// The shared state of a run: the backend's bucket, the random stream, the measures.
struct World {
    scenario: Scenario,
    /// Tokens in the backend's bucket, and when it was last filled.
    tokens: f64,
    filled: Duration,
    random: u64,
    /// The start of the measured span.
    from: Duration,
    outcome: Outcome,
}

impl World {
    /// A uniform draw in [0, 1) (splitmix64).
    fn uniform(&mut self) -> f64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// A request's time: [`BACKEND_LATENCY`], or a draw of the slow backend's law (a standard
    /// normal draw by Box-Muller, scaled so that its 99th percentile, z = 2.326, is `SLOW_P99`).
    fn latency(&mut self) -> Duration {
        if !self.scenario.slow_backend {
            return BACKEND_LATENCY;
        }
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let sigma = (SLOW_P99.as_secs_f64() / SLOW_MEDIAN.as_secs_f64()).ln() / 2.326;
        SLOW_MEDIAN.mul_f64((sigma * z).exp().min(100.0))
    }

    fn measuring(&self) -> bool {
        let now = exec::now();
        now >= self.from && now < self.from + self.scenario.measured
    }

    /// One request arriving now: admitted, or refused for throttling.
    fn admit(&mut self) -> bool {
        let now = exec::now();
        let rate = self.scenario.tps;
        self.tokens = (self.tokens + (now - self.filled).as_secs_f64() * rate).min(rate);
        self.filled = now;
        if self.measuring() {
            let second = usize::try_from((now - self.from).as_secs()).unwrap_or(usize::MAX);
            if let Some(count) = self.outcome.per_second.get_mut(second) {
                *count += 1;
            }
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            if self.measuring() {
                self.outcome.throttled += 1;
            }
            false
        }
    }
}

/// One backend read (a GetParameter or a GetParameters), with the SDK's retries.
async fn backend(world: &RefCell<World>) -> Result<(), Throttled> {
    for attempt in 1..=ATTEMPTS {
        let admitted = world.borrow_mut().admit();
        let latency = world.borrow_mut().latency();
        if admitted {
            exec::sleep(latency).await;
            return Ok(());
        }
        exec::sleep(THROTTLED_LATENCY.max(latency.mul_f64(0.3))).await;
        if attempt < ATTEMPTS {
            let cap = Duration::from_secs(20).min(Duration::from_secs(1) * 2_u32.pow(attempt - 1));
            let backoff = cap.mul_f64(world.borrow_mut().uniform());
            exec::sleep(backoff).await;
        }
    }
    Err(Throttled)
}

/// The parameter names, as the local cache and the tier key them.
fn names(keys: usize) -> Vec<String> {
    (0..keys).map(|k| format!("/app/param-{k:02}")).collect()
}

/// One environment's life: start, then invocations until the measured span ends.
async fn environment(
    world: Rc<RefCell<World>>,
    cache: Cache,
    names: Rc<Vec<String>>,
    start: Duration,
) {
    let (scenario, end) = {
        let w = world.borrow();
        (w.scenario, w.from + w.scenario.measured)
    };
    let policy = Policy::new(scenario.max_age);
    exec::sleep(start).await;
    let mut counted: Option<Stats> = None;
    while exec::now() < end {
        let measuring = world.borrow().measuring();
        if measuring && counted.is_none() {
            counted = Some(cache.stats());
        }
        invoke(&world, &cache, &names, policy, measuring).await;
        let gap = {
            let mut w = world.borrow_mut();
            let u = w.uniform();
            scenario.period.mul_f64(-(1.0 - u).ln())
        };
        exec::sleep(gap).await;
    }
    if let Some(before) = counted {
        let after = cache.stats();
        let mut w = world.borrow_mut();
        w.outcome.stale += after.stale_served - before.stale_served;
        w.outcome.shared_hits += after.shared_hits - before.shared_hits;
    }
}

/// One invocation: every key read, the result and the latency of each counted.
async fn invoke(
    world: &RefCell<World>,
    cache: &Cache,
    names: &[String],
    policy: Policy,
    measuring: bool,
) {
    let batching = world.borrow().scenario.features.batching;
    let record = |started: Duration, ok: bool| {
        if !measuring {
            return;
        }
        let mut w = world.borrow_mut();
        w.outcome.reads += 1;
        if !ok {
            w.outcome.failed += 1;
        }
        let us = u32::try_from((exec::now() - started).as_micros()).unwrap_or(u32::MAX);
        if us > 0 {
            w.outcome.slow_reads_us.push(us);
        }
    };
    if batching {
        let started = exec::now();
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| {
                cache
                    .get_fresh::<String>(Key::new("ssm", name), policy.max_age())
                    .is_none()
            })
            .collect();
        // The hits are answered at once.
        for _ in missing.len()..names.len() {
            record(started, true);
        }
        for chunk in missing.chunks(BATCH) {
            let fetched = backend(world).await;
            for name in chunk {
                let key = Key::new("ssm", name);
                let ok = match &fetched {
                    Ok(()) => {
                        cache.insert(key, (*name).clone(), Validator::default(), 0);
                        true
                    }
                    Err(error) => cache.serve_stale::<String, _>(key, policy, error).is_some(),
                };
                record(started, ok);
            }
        }
        return;
    }
    for name in names {
        let started = exec::now();
        let read = cache
            .get_or_fetch_shared(Key::new("ssm", name), policy, |_| async move {
                backend(world).await.map(|()| Fetched::new(name.clone()))
            })
            .await;
        record(started, read.is_ok());
    }
}

/// Runs `scenario` and returns what it measured.
///
/// # Panics
/// If the scenario cannot build its caches (a bad jitter), or a task is left stuck.
pub fn simulate(scenario: Scenario) -> Outcome {
    let clock = ManualClock::new();
    // Away from the clock's origin, so that an entry's age may reach back before the run.
    clock.advance(Duration::from_secs(3600));
    let (from, spread) = match scenario.arrival {
        Arrival::Storm { within } => (Duration::ZERO, within),
        Arrival::Steady { warm_up } => (warm_up, warm_up),
    };
    let measured_seconds = usize::try_from(scenario.measured.as_secs()).unwrap_or(usize::MAX);
    let world = Rc::new(RefCell::new(World {
        scenario,
        tokens: scenario.tps,
        filled: Duration::ZERO,
        random: scenario.seed,
        from,
        outcome: Outcome {
            per_second: vec![0; measured_seconds],
            ..Outcome::default()
        },
    }));
    let memory = scenario.features.shared.then(|| {
        Arc::new(
            MemoryTier::new("fleet:", clock.clock())
                .pausing_with(|wait| Box::pin(exec::sleep(wait))),
        )
    });
    let tier: Option<Arc<dyn SharedTier>> =
        memory.clone().map(|memory| memory as Arc<dyn SharedTier>);
    let names = Rc::new(names(scenario.keys));
    let mut tasks: Vec<exec::Task> = Vec::with_capacity(scenario.envs + 1);
    if let (Some(memory), Some(at)) = (memory, scenario.tier_down_at) {
        tasks.push(Box::pin(async move {
            exec::sleep(at).await;
            memory.set_down(true);
        }));
    }
    for env in 0..scenario.envs {
        let mut builder = Cache::builder().clock(clock.clock());
        if scenario.features.jitter {
            builder = builder
                .jitter(JITTER)
                .jitter_seed(scenario.seed ^ (env as u64 + 1));
        }
        if scenario.features.stale_if_error {
            builder = builder.stale_if_error(MAX_STALE);
        }
        if let Some(tier) = &tier {
            builder = builder.shared_tier(Arc::clone(tier));
        }
        let cache = builder.build().expect("the simulation's cache settings");
        let start = spread.mul_f64(world.borrow_mut().uniform());
        tasks.push(Box::pin(environment(
            Rc::clone(&world),
            cache,
            Rc::clone(&names),
            start,
        )));
    }
    exec::run(tasks, &clock);
    let mut outcome = std::mem::take(&mut world.borrow_mut().outcome);
    outcome.slow_reads_us.sort_unstable();
    outcome
}
