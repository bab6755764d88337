//! The shared tier's protocol on the in-memory tier and a manual clock: several caches (the
//! environments of a fleet) on one tier, every backend call counted. The same protocol on a
//! real Redis is tested in lambda-cache-redis.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_cache_core::shared::MemoryTier;
use lambda_cache_core::{
    Cache, CacheError, Entry, Fetched, Key, Lease, LeaseSettings, ManualClock, Policy, RecordOrder,
    SharedTier, SharedValue, TierWrite, Validator,
};

const MINUTE: Duration = Duration::from_secs(60);
const KEY: Key<'static> = Key::new("ssm", "/app/db-url");

#[derive(Clone, Debug, PartialEq)]
struct Throttled;

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("throttled")
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

/// A value that may be a secret.
#[derive(Clone, Debug, PartialEq)]
struct Param {
    text: String,
    secret: bool,
}

impl SharedValue for Param {
    const TAG: &'static str = "test.Param";

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.secret));
        out.extend_from_slice(self.text.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (secret, text) = bytes.split_first()?;
        Some(Self {
            text: String::from_utf8(text.to_vec()).ok()?,
            secret: *secret == 1,
        })
    }

    fn is_secret(&self) -> bool {
        self.secret
    }
}

/// A fleet: caches on one manual clock and one tier, and a backend that counts its calls.
struct Fleet {
    clock: ManualClock,
    tier: Arc<MemoryTier>,
    calls: Arc<AtomicUsize>,
}

impl Fleet {
    fn new() -> Self {
        let clock = ManualClock::new();
        // Away from the clock's origin, so that an entry's age can reach back before it.
        clock.advance(Duration::from_secs(3600));
        let tier = Arc::new(MemoryTier::new("fn-a:", clock.clock()).pausing_by(clock.clone()));
        Self {
            clock,
            tier,
            calls: Arc::default(),
        }
    }

    fn cache(&self) -> Cache {
        Cache::builder()
            .clock(self.clock.clock())
            .shared_tier(Arc::clone(&self.tier) as Arc<dyn SharedTier>)
            .build()
            .unwrap()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn read(
        &self,
        cache: &Cache,
        policy: impl Into<Policy>,
        answer: Result<Param, Throttled>,
    ) -> Result<Entry<Param>, Throttled> {
        let calls = Arc::clone(&self.calls);
        cache
            .get_or_fetch_shared(KEY, policy, |_| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                answer.map(|v| Fetched::new(v).with_validator(Validator::from(3_i64)))
            })
            .await
    }
}

fn plain(text: &str) -> Param {
    Param {
        text: text.to_owned(),
        secret: false,
    }
}

fn secret(text: &str) -> Param {
    Param {
        text: text.to_owned(),
        secret: true,
    }
}

#[tokio::test]
async fn a_value_one_cache_fetched_is_read_by_the_others_as_old_as_it_is() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    assert_eq!(
        fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap().text,
        "v1"
    );
    fleet.clock.advance(Duration::from_secs(40));
    let from_tier = fleet.read(&b, MINUTE, Ok(plain("v2"))).await.unwrap();
    assert_eq!(from_tier.text, "v1");
    assert_eq!(from_tier.validator().token(), Some("3"));
    assert_eq!(fleet.calls(), 1);
    assert_eq!(b.stats().shared_hits, 1);
    // 40 s old when it came, so b holds it for 20 s more, not 60.
    fleet.clock.advance(Duration::from_secs(21));
    assert_eq!(
        fleet.read(&b, MINUTE, Ok(plain("v2"))).await.unwrap().text,
        "v2"
    );
    assert_eq!(fleet.calls(), 2);
}

#[tokio::test]
async fn a_value_older_than_the_readers_max_age_is_not_served() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap();
    fleet.clock.advance(Duration::from_secs(30));
    let read = fleet
        .read(&b, Duration::from_secs(10), Ok(plain("v2")))
        .await;
    assert_eq!(read.unwrap().text, "v2");
    assert_eq!(fleet.calls(), 2);
    assert_eq!(b.stats().shared_hits, 0);
    // And once past the writer's max age the tier drops it: a third cache fetches too.
    fleet.clock.advance(Duration::from_secs(61));
    let c = fleet.cache();
    assert_eq!(
        fleet.read(&c, MINUTE, Ok(plain("v3"))).await.unwrap().text,
        "v3"
    );
    assert_eq!(fleet.calls(), 3);
}

#[tokio::test]
async fn a_cache_that_finds_the_lease_taken_waits_for_the_value_then_fetches_itself() {
    let fleet = Fleet::new();
    let settings = LeaseSettings::default();
    // Another environment holds the lease and never writes (it died).
    let key = lambda_cache_core::shared_key("fn-a:", 'l', KEY);
    let lease = Lease {
        key: &key,
        token: "another",
    };
    assert!(fleet.tier.lease(lease, settings.hold).await.unwrap());
    let a = fleet.cache();
    let before = fleet.clock.clock().now();
    assert_eq!(
        fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap().text,
        "v1"
    );
    assert_eq!(fleet.calls(), 1);
    assert_eq!(a.stats().shared_waits, 1);
    // It waited the whole wait, and no more, before fetching.
    assert_eq!(
        fleet.clock.clock().now().saturating_duration_since(before),
        settings.wait
    );
}

#[tokio::test]
async fn a_tier_that_is_down_sends_reads_to_the_backend_without_an_error() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    fleet.tier.set_down(true);
    assert_eq!(
        fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap().text,
        "v1"
    );
    assert_eq!(
        fleet.read(&b, MINUTE, Ok(plain("v1"))).await.unwrap().text,
        "v1"
    );
    assert_eq!(fleet.calls(), 2);
    // One failed read each, then straight to the backend: no lease, no write.
    assert_eq!((a.stats().shared_errors, b.stats().shared_errors), (1, 1));
    assert_eq!(fleet.tier.calls(), 2);
    // Back up: the next miss writes, and another cache reads it.
    fleet.tier.set_down(false);
    fleet.clock.advance(MINUTE * 2);
    fleet.read(&a, MINUTE, Ok(plain("v2"))).await.unwrap();
    assert_eq!(
        fleet.read(&b, MINUTE, Ok(plain("v3"))).await.unwrap().text,
        "v2"
    );
    assert_eq!(fleet.calls(), 3);
}

#[tokio::test]
async fn secrets_stay_in_the_process_unless_the_read_opts_in() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    fleet.read(&a, MINUTE, Ok(secret("s1"))).await.unwrap();
    assert_eq!(
        fleet.read(&b, MINUTE, Ok(secret("s2"))).await.unwrap().text,
        "s2"
    );
    assert_eq!(fleet.calls(), 2, "the secret was not shared");
    // Opted in, by both writer and reader.
    let shared = Policy::new(MINUTE).share_secrets();
    fleet.clock.advance(MINUTE * 2);
    fleet.read(&a, shared, Ok(secret("s3"))).await.unwrap();
    let c = fleet.cache();
    // A reader that did not opt in does not take it from the tier...
    assert_eq!(
        fleet.read(&c, MINUTE, Ok(secret("s4"))).await.unwrap().text,
        "s4"
    );
    // ...one that did does.
    let d = fleet.cache();
    assert_eq!(
        fleet.read(&d, shared, Ok(secret("s5"))).await.unwrap().text,
        "s3"
    );
    assert_eq!(fleet.calls(), 4);
}

#[tokio::test]
async fn a_failed_backend_with_a_shared_value_at_hand_is_served_stale_locally() {
    let fleet = Fleet::new();
    let a = Cache::builder()
        .clock(fleet.clock.clock())
        .shared_tier(Arc::clone(&fleet.tier) as Arc<dyn SharedTier>)
        .stale_if_error(Duration::from_secs(600))
        .build()
        .unwrap();
    fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap();
    fleet.clock.advance(MINUTE * 2);
    let stale = fleet.read(&a, MINUTE, Err(Throttled)).await.unwrap();
    assert_eq!(stale.text, "v1");
    assert_eq!(a.stats().stale_served, 1);
    assert_eq!(fleet.calls(), 2);
}

#[tokio::test]
async fn a_forced_refresh_goes_to_the_backend() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap();
    let forced = fleet
        .read(&b, Duration::ZERO, Ok(plain("v2")))
        .await
        .unwrap();
    assert_eq!(forced.text, "v2");
    assert_eq!(fleet.calls(), 2);
}

#[tokio::test]
async fn a_value_from_the_tier_takes_no_jitter() {
    let fleet = Fleet::new();
    let a = fleet.cache();
    let b = Cache::builder()
        .clock(fleet.clock.clock())
        .shared_tier(Arc::clone(&fleet.tier) as Arc<dyn SharedTier>)
        .jitter(0.5)
        .build()
        .unwrap();
    fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap();
    fleet.clock.advance(Duration::from_secs(40));
    fleet.read(&b, MINUTE, Ok(plain("v2"))).await.unwrap();
    // 59 s old: fresh for b whatever jitter would have drawn (up to 30 s off its max age).
    fleet.clock.advance(Duration::from_secs(19));
    assert_eq!(
        fleet.read(&b, MINUTE, Ok(plain("v2"))).await.unwrap().text,
        "v1"
    );
    assert_eq!(b.stats().hits, 1);
    assert_eq!(fleet.calls(), 1);
}

#[tokio::test]
async fn the_lease_is_released_once_the_value_is_written_or_the_fetch_failed() {
    let fleet = Fleet::new();
    let a = fleet.cache();
    let key = lambda_cache_core::shared_key("fn-a:", 'l', KEY);
    let lease = Lease {
        key: &key,
        token: "test",
    };
    fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap();
    assert!(fleet.tier.lease(lease, MINUTE).await.unwrap(), "left held");
    fleet.tier.release(lease).await.unwrap();
    fleet.clock.advance(MINUTE * 2);
    fleet.read(&a, MINUTE, Err(Throttled)).await.unwrap_err();
    assert!(fleet.tier.lease(lease, MINUTE).await.unwrap(), "left held");
}

#[tokio::test]
async fn a_zero_poll_does_not_wait_for_the_lease_holder() {
    let fleet = Fleet::new();
    let settings = LeaseSettings {
        poll: Duration::ZERO,
        ..LeaseSettings::default()
    };
    let tier = Arc::new(
        MemoryTier::new("fn-a:", fleet.clock.clock())
            .pausing_by(fleet.clock.clone())
            .with_lease(settings),
    );
    let key = lambda_cache_core::shared_key("fn-a:", 'l', KEY);
    let lease = Lease {
        key: &key,
        token: "another",
    };
    assert!(tier.lease(lease, settings.hold).await.unwrap());
    let a = Cache::builder()
        .clock(fleet.clock.clock())
        .shared_tier(tier as Arc<dyn SharedTier>)
        .build()
        .unwrap();
    let before = fleet.clock.clock().now();
    assert_eq!(
        fleet.read(&a, MINUTE, Ok(plain("v1"))).await.unwrap().text,
        "v1"
    );
    assert_eq!(fleet.calls(), 1);
    assert_eq!(a.stats().shared_waits, 1);
    assert_eq!(fleet.clock.clock().now(), before);
}

#[tokio::test]
async fn a_lease_is_released_only_by_its_holder() {
    let fleet = Fleet::new();
    let key = lambda_cache_core::shared_key("fn-a:", 'l', KEY);
    let (slow, next) = (
        Lease {
            key: &key,
            token: "slow",
        },
        Lease {
            key: &key,
            token: "next",
        },
    );
    let hold = Duration::from_secs(5);
    assert!(fleet.tier.lease(slow, hold).await.unwrap());
    assert!(!fleet.tier.lease(next, hold).await.unwrap(), "held");
    // The slow holder outlives its hold; the next one takes the lease.
    fleet.clock.advance(hold);
    assert!(fleet.tier.lease(next, hold).await.unwrap());
    // The slow one's release, and its write-back, leave the next holder's lease alone...
    fleet.tier.release(slow).await.unwrap();
    let write = |lease| TierWrite {
        key: "fn-a:{v}",
        record: vec![1],
        ttl: MINUTE,
        order: RecordOrder {
            version: None,
            read_at: 1,
        },
        lease,
    };
    assert!(fleet.tier.write(write(slow)).await.unwrap());
    assert!(!fleet.tier.lease(slow, hold).await.unwrap(), "still held");
    // ...its holder's own write-back releases it.
    fleet.tier.write(write(next)).await.unwrap();
    assert!(fleet.tier.lease(slow, hold).await.unwrap(), "released");
}

#[tokio::test]
async fn a_late_write_of_an_older_value_leaves_the_newer_record() {
    let fleet = Fleet::new();
    let no_lease = Lease {
        key: "fn-a:{l}",
        token: "",
    };
    let write = |text: &str, version: Option<u64>, read_at: u64| TierWrite {
        key: "fn-a:{k}:v",
        record: text.as_bytes().to_vec(),
        ttl: MINUTE,
        order: RecordOrder { version, read_at },
        lease: no_lease,
    };
    let held = || async {
        let record = fleet.tier.read("fn-a:{k}:v").await.unwrap().unwrap();
        String::from_utf8(record.bytes).unwrap()
    };
    // Versions decide where both have one, whatever the order of reads.
    assert!(fleet.tier.write(write("v2", Some(2), 1_000)).await.unwrap());
    assert!(!fleet.tier.write(write("v1", Some(1), 2_000)).await.unwrap());
    assert_eq!(held().await, "v2");
    assert!(fleet.tier.write(write("v3", Some(3), 500)).await.unwrap());
    assert_eq!(held().await, "v3");
    // The same version read later renews it; read earlier, it does not.
    assert!(
        fleet
            .tier
            .write(write("v3 again", Some(3), 3_000))
            .await
            .unwrap()
    );
    assert!(
        !fleet
            .tier
            .write(write("v3 older", Some(3), 2_500))
            .await
            .unwrap()
    );
    assert_eq!(held().await, "v3 again");
    // Without a version, the later read wins.
    assert!(!fleet.tier.write(write("x", None, 2_999)).await.unwrap());
    assert!(fleet.tier.write(write("y", None, 4_000)).await.unwrap());
    assert_eq!(held().await, "y");
}

#[tokio::test]
async fn a_value_is_written_back_as_old_as_it_is() {
    let fleet = Fleet::new();
    let (a, b) = (fleet.cache(), fleet.cache());
    // a's loader answers a value already 20 s old (read from another store).
    let calls = Arc::clone(&fleet.calls);
    a.get_or_fetch_shared(KEY, MINUTE, |_| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Throttled>(Fetched::new(plain("v1")).with_age(Duration::from_secs(20)))
    })
    .await
    .unwrap();
    fleet.clock.advance(Duration::from_secs(10));
    let from_tier = fleet.read(&b, MINUTE, Ok(plain("v2"))).await.unwrap();
    assert_eq!(from_tier.text, "v1");
    let age = fleet
        .clock
        .clock()
        .now()
        .saturating_duration_since(from_tier.fetched_at());
    assert_eq!(age, Duration::from_secs(30));
    // 41 s later it is 71 s old, past the max age: the tier no longer holds it.
    fleet.clock.advance(Duration::from_secs(31));
    assert_eq!(
        fleet
            .tier
            .read("fn-a:{ssm:0::/app/db-url}:v")
            .await
            .unwrap(),
        None
    );
    assert_eq!(fleet.calls(), 1);
}

#[tokio::test]
async fn a_value_from_the_tier_weighs_against_the_byte_budget() {
    let fleet = Fleet::new();
    let a = fleet.cache();
    let b = Cache::builder()
        .clock(fleet.clock.clock())
        .shared_tier(Arc::clone(&fleet.tier) as Arc<dyn SharedTier>)
        .max_bytes(1 << 20)
        .build()
        .unwrap();
    fleet
        .read(&a, MINUTE, Ok(plain(&"x".repeat(1000))))
        .await
        .unwrap();
    fleet.read(&b, MINUTE, Ok(plain("other"))).await.unwrap();
    assert_eq!(b.stats().shared_hits, 1);
    // The record's size: the value and its few bytes of framing.
    assert!((1000..1100).contains(&b.weight()), "{}", b.weight());
}
