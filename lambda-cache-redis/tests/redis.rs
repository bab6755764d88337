//! The shared tier on a real Redis (or Valkey) server of each test's own, between SSM caches
//! (one per simulated environment, each with its own connection) and moto behind a counting
//! proxy: every backend call is counted.
//!
//! These tests wait real time past short max ages (Redis expires keys by its own clock); they
//! assert nothing about how long anything took.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache_core::{
    Cache, Fetched, Key, Lease, LeaseSettings, LoadError, Policy, RecordOrder, SharedTier,
    TierWrite, Validator, join_all, shared_key,
};
use lambda_cache_redis::RedisTier;
use lambda_cache_ssm::{SsmCache, Value};
use lambda_cache_testkit::{
    CountingProxy, RedisServer, moto_endpoint, put_parameter, sdk_config, unique,
};

/// One environment: its own cache, its own connection to the tier, a client through `proxy`.
/// Its tier calls may take 1 s (not the default 100 ms): these tests count the protocol's
/// backend calls, and a loaded test machine must not turn a slow tier call into one more.
async fn environment(server: &RedisServer, proxy: &CountingProxy, prefix: &str) -> SsmCache {
    let tier = RedisTier::builder(server.url())
        .prefix(prefix)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a loopback URL");
    let cache = Cache::builder()
        .shared_tier(Arc::new(tier))
        .build()
        .expect("cache settings");
    SsmCache::from_config(cache, &sdk_config(proxy.endpoint()).await)
}

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await)
}

/// A counting proxy in front of moto, a new parameter `label` holding `value`, and the client
/// that changes it.
async fn parameter(
    label: &str,
    kind: ParameterType,
    value: &str,
) -> (CountingProxy, String, aws_sdk_ssm::Client) {
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let name = format!("/{}", unique(label));
    let ssm = ssm().await;
    put_parameter(&ssm, &name, kind, value).await;
    (proxy, name, ssm)
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a String parameter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_environments_reading_an_expired_key_at_once_make_one_backend_call() {
    let server = RedisServer::start();
    let (proxy, name, ssm) = parameter("fleet", ParameterType::String, "v1").await;
    let prefix = unique("t1");
    let mut fleet = Vec::new();
    for _ in 0..20 {
        fleet.push(environment(&server, &proxy, &prefix).await);
    }
    let max_age = Duration::from_millis(600);
    let name = name.as_str();
    let read_all = || {
        join_all(
            fleet
                .iter()
                .map(|env| async move { env.get_entry_with(name, max_age).await }),
        )
    };
    for read in read_all().await {
        assert_eq!(text(&read.expect("a first read")), "v1");
    }
    assert_eq!(proxy.count_of("GetParameters"), 1);
    // Past the max age, locally and in the tier; the parameter changes.
    tokio::time::sleep(max_age + Duration::from_millis(200)).await;
    put_parameter(&ssm, name, ParameterType::String, "v2").await;
    for read in read_all().await {
        assert_eq!(text(&read.expect("a read after expiry")), "v2");
    }
    assert_eq!(proxy.count_of("GetParameters"), 2);
    let waited: u64 = fleet
        .iter()
        .map(|env| env.cache().stats().shared_waits)
        .sum();
    let from_tier: u64 = fleet
        .iter()
        .map(|env| env.cache().stats().shared_hits)
        .sum();
    // 19 environments had the value from the tier, waiting for the lease holder or not.
    assert_eq!(from_tier, 2 * 19, "waited {waited}");
}

#[tokio::test]
async fn the_tier_killed_mid_test_leaves_reads_to_the_backend_without_an_error() {
    let mut server = RedisServer::start();
    let (proxy, name, ssm) = parameter("down", ParameterType::String, "v1").await;
    let prefix = unique("t2");
    let (a, b, c) = (
        environment(&server, &proxy, &prefix).await,
        environment(&server, &proxy, &prefix).await,
        environment(&server, &proxy, &prefix).await,
    );
    let max_age = Duration::from_millis(300);
    for env in [&a, &b, &c] {
        assert_eq!(
            text(&env.get_entry_with(name.as_str(), max_age).await.unwrap()),
            "v1"
        );
    }
    assert_eq!(proxy.count_of("GetParameters"), 1);
    server.kill();
    tokio::time::sleep(max_age + Duration::from_millis(100)).await;
    put_parameter(&ssm, &name, ParameterType::String, "v2").await;
    for env in [&a, &b, &c] {
        let read = env.get_entry_with(name.as_str(), max_age).await;
        assert_eq!(text(&read.expect("no error with the tier down")), "v2");
        assert!(env.cache().stats().shared_errors >= 1);
    }
    // Each environment fetched for itself.
    assert_eq!(proxy.count_of("GetParameters"), 4);
}

#[tokio::test]
async fn a_value_in_the_tier_past_the_readers_max_age_is_not_served() {
    let server = RedisServer::start();
    let (proxy, name, ssm) = parameter("old", ParameterType::String, "v1").await;
    let prefix = unique("t3");
    let a = environment(&server, &proxy, &prefix).await;
    a.get_entry_with(name.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    put_parameter(&ssm, &name, ParameterType::String, "v2").await;
    // In the tier for 60 s, but 300 ms old: too old for a reader that accepts 100 ms.
    let b = environment(&server, &proxy, &prefix).await;
    let read = b
        .get_entry_with(name.as_str(), Duration::from_millis(100))
        .await;
    assert_eq!(text(&read.unwrap()), "v2");
    assert_eq!(proxy.count_of("GetParameters"), 2);
    assert_eq!(b.cache().stats().shared_hits, 0);
    // Young enough for a reader that accepts a minute: it takes the newest (b wrote v2).
    let c = environment(&server, &proxy, &prefix).await;
    let read = c
        .get_entry_with(name.as_str(), Duration::from_secs(60))
        .await;
    assert_eq!(text(&read.unwrap()), "v2");
    assert_eq!(proxy.count_of("GetParameters"), 2);
    assert_eq!(c.cache().stats().shared_hits, 1);
}

#[tokio::test]
async fn a_secure_string_stays_out_of_the_tier_unless_the_read_opts_in() {
    let server = RedisServer::start();
    let (proxy, name, _) = parameter("secure", ParameterType::SecureString, "s3cr3t").await;
    let prefix = unique("t4");
    let (a, b) = (
        environment(&server, &proxy, &prefix).await,
        environment(&server, &proxy, &prefix).await,
    );
    let minute = Duration::from_secs(60);
    a.get_entry_with(name.as_str(), minute).await.unwrap();
    b.get_entry_with(name.as_str(), minute).await.unwrap();
    assert_eq!(proxy.count_of("GetParameters"), 2);
    // Nothing under the key in the tier: read it as any client of the cluster could.
    let tier = RedisTier::builder(server.url())
        .prefix(&prefix)
        .build()
        .unwrap();
    let key = shared_key(&prefix, 'v', Key::new("ssm", &name));
    assert_eq!(tier.read(&key).await.unwrap(), None);
    // Opted in: shared, and read back by another environment that opts in.
    let shared = Policy::new(minute).share_secrets();
    let c = environment(&server, &proxy, &prefix).await;
    c.get_entry_with(name.as_str(), shared).await.unwrap();
    assert!(tier.read(&key).await.unwrap().is_some());
    let d = environment(&server, &proxy, &prefix).await;
    let read = d.get_entry_with(name.as_str(), shared).await.unwrap();
    assert_eq!(read.as_str(), Some("s3cr3t"));
    assert_eq!(proxy.count_of("GetParameters"), 3);
}

#[tokio::test]
async fn two_prefixes_on_one_server_do_not_meet() {
    let server = RedisServer::start();
    let (proxy, name, _) = parameter("prefix", ParameterType::String, "v1").await;
    let a = environment(&server, &proxy, &unique("fn-a")).await;
    let b = environment(&server, &proxy, &unique("fn-b")).await;
    let minute = Duration::from_secs(60);
    a.get_entry_with(name.as_str(), minute).await.unwrap();
    b.get_entry_with(name.as_str(), minute).await.unwrap();
    assert_eq!(proxy.count_of("GetParameters"), 2);
    assert_eq!(b.cache().stats().shared_hits, 0);
}

#[tokio::test]
async fn a_tier_that_never_answers_costs_its_timeout_then_the_backend_answers() {
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in silent.incoming().take(4).flatten() {
            open.push(stream);
        }
        open
    });
    let (proxy, name, _) = parameter("silent", ParameterType::String, "v1").await;
    let tier = RedisTier::builder(url)
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let cache = Cache::builder()
        .shared_tier(Arc::new(tier))
        .build()
        .unwrap();
    let env = SsmCache::from_config(cache, &sdk_config(proxy.endpoint()).await);
    let read = env
        .get_entry_with(name.as_str(), Duration::from_secs(60))
        .await;
    assert_eq!(text(&read.expect("no error with a silent tier")), "v1");
    assert_eq!(proxy.count_of("GetParameters"), 1);
    assert_eq!(env.cache().stats().shared_errors, 1);
    drop(held);
}

#[tokio::test]
async fn a_token_from_the_credentials_provider_opens_the_tier_and_a_wrong_one_costs_no_read() {
    let server = RedisServer::start();
    assert_eq!(
        server.command(&["ACL", "SETUSER", "app", "on", ">tok-1", "~*", "+@all"]),
        "+OK"
    );
    // Only a user with a token may use the server now.
    assert_eq!(server.command(&["ACL", "SETUSER", "default", "off"]), "+OK");
    let (proxy, name, _) = parameter("token", ParameterType::String, "v1").await;
    let prefix = unique("t7");
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let environment = |token: &'static str| {
        let asked = Arc::clone(&asked);
        let tier = RedisTier::builder(server.url())
            .prefix(&prefix)
            .credentials(Duration::from_secs(600), move || {
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { Ok(("app".to_owned(), token.to_owned())) }
            })
            .build()
            .unwrap();
        let cache = Cache::builder()
            .shared_tier(Arc::new(tier))
            .build()
            .unwrap();
        let proxy = proxy.endpoint().to_owned();
        async move { SsmCache::from_config(cache, &sdk_config(&proxy).await) }
    };
    let minute = Duration::from_secs(60);
    let (a, b) = (environment("tok-1").await, environment("tok-1").await);
    a.get_entry_with(name.as_str(), minute).await.unwrap();
    b.get_entry_with(name.as_str(), minute).await.unwrap();
    assert_eq!(proxy.count_of("GetParameters"), 1);
    assert_eq!(b.cache().stats().shared_hits, 1);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    // A wrong token: the tier refuses it, the read goes to SSM and succeeds.
    let c = environment("wrong").await;
    let read = c.get_entry_with(name.as_str(), minute).await;
    assert_eq!(text(&read.expect("no error with a refused token")), "v1");
    assert_eq!(proxy.count_of("GetParameters"), 2);
    assert_eq!(c.cache().stats().shared_errors, 1);
}

#[tokio::test]
async fn a_failed_connection_skips_the_tier_for_retry_after_then_it_is_used_again() {
    let prefix = unique("t8");
    let (proxy, first, ssm) = parameter("skip", ParameterType::String, "v1").await;
    let second = format!("{first}-2");
    put_parameter(&ssm, &second, ParameterType::String, "v2").await;
    let minute = Duration::from_secs(60);
    // One tier that skips for an hour after a failure, one that tries again at once; both on a
    // port where nothing listens yet.
    let port = lambda_cache_testkit::free_port();
    let environment = |retry_after: Duration| {
        let tier = RedisTier::builder(format!("redis://127.0.0.1:{port}"))
            .prefix(&prefix)
            .retry_after(retry_after)
            .build()
            .unwrap();
        let cache = Cache::builder()
            .shared_tier(Arc::new(tier))
            .build()
            .unwrap();
        let proxy = proxy.endpoint().to_owned();
        async move { SsmCache::from_config(cache, &sdk_config(&proxy).await) }
    };
    let skipping = environment(Duration::from_secs(3600)).await;
    let retrying = environment(Duration::ZERO).await;
    for env in [&skipping, &retrying] {
        env.get_entry_with(first.as_str(), minute).await.unwrap();
        assert_eq!(env.cache().stats().shared_errors, 1);
    }
    let server = RedisServer::start_on(port);
    let in_tier = |name: &str| {
        let key = shared_key(&prefix, 'v', Key::new("ssm", name));
        let tier = RedisTier::builder(server.url())
            .prefix(&prefix)
            .build()
            .unwrap();
        async move { tier.read(&key).await.unwrap().is_some() }
    };
    // The server is up, but the skipping tier does not ask it: a second error, nothing written.
    skipping
        .get_entry_with(second.as_str(), minute)
        .await
        .unwrap();
    assert_eq!(skipping.cache().stats().shared_errors, 2);
    assert!(!in_tier(&second).await);
    // The retrying tier connects and writes the value back.
    retrying
        .get_entry_with(second.as_str(), minute)
        .await
        .unwrap();
    assert_eq!(retrying.cache().stats().shared_errors, 1);
    assert!(in_tier(&second).await);
    assert_eq!(proxy.count_of("GetParameters"), 4);
}

/// A server that stops answering after the tier connected (frozen, as a blackholed host): the
/// first call times out and marks the tier down, so the next fails at once ("down") instead of
/// waiting for its own timeout; once the server answers again and the skip period has passed,
/// the tier reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_that_stops_answering_is_skipped_then_recovers() {
    let server = RedisServer::start();
    let tier = RedisTier::builder(server.url())
        .prefix(format!("{}:", unique("hang")))
        .timeout(Duration::from_millis(100))
        .retry_after(Duration::from_millis(300))
        .build()
        .expect("a tier");
    assert!(tier.read("k").await.expect("a first read").is_none());
    server.pause();
    let timed_out = tier.read("k").await.expect_err("no answer");
    let said = timed_out.to_string();
    assert!(
        said.contains("timed out") || said.contains("no answer within"),
        "{said}"
    );
    let skipped = tier.read("k").await.expect_err("skipped");
    assert!(skipped.to_string().contains("down"), "{skipped}");
    server.resume();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(tier.read("k").await.expect("recovered").is_none());
}

/// A string value under a test key, read through `cache`'s tier: the loader counts in
/// `fetches`, starts `start` after the call, takes `took`, and answers `answer` (an error for
/// `None`) with version `version`.
async fn read_through(
    cache: &Cache,
    fetches: &AtomicUsize,
    start: Duration,
    took: Duration,
    answer: Option<(&str, u64)>,
) -> Result<String, LoadError<std::io::Error>> {
    tokio::time::sleep(start).await;
    let answer = answer.map(|(text, version)| (text.to_owned(), version));
    let entry = cache
        .get_or_fetch_shared(Key::new("test", "k"), MINUTE, |_| async move {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(took).await;
            let (text, version) =
                answer.ok_or_else(|| LoadError::new(std::io::Error::other("refused")))?;
            Ok(Fetched::new(text).with_validator(Validator::numbered(version)))
        })
        .await?;
    Ok(String::clone(&entry))
}

const MINUTE: Duration = Duration::from_secs(60);

/// A cache of its own with a tier of its own on `server` under `prefix`, with `lease`.
fn lease_cache(server: &RedisServer, prefix: &str, lease: LeaseSettings) -> Cache {
    cache_on(server, prefix, |tier| tier.lease(lease))
}

/// A cache of its own with a tier of its own on `server` under `prefix`, set up by `settings`.
fn cache_on(
    server: &RedisServer,
    prefix: &str,
    settings: impl FnOnce(lambda_cache_redis::RedisTierBuilder) -> lambda_cache_redis::RedisTierBuilder,
) -> Cache {
    // Tier calls may take 1 s, as in `environment`: a loaded machine adds no backend call.
    let tier = settings(
        RedisTier::builder(server.url())
            .prefix(prefix)
            .timeout(Duration::from_secs(1)),
    )
    .build()
    .expect("a loopback URL");
    Cache::builder()
        .shared_tier(Arc::new(tier))
        .build()
        .expect("cache settings")
}

/// A holds the lease for 300 ms and fails after 500 ms; B takes the lease when A's hold ends
/// (for 5 s) and fetches for 800 ms; C comes after A gave up. With a release by plain `DEL`,
/// A's release would delete B's lease and C would fetch as well (3 fetches); here C waits for
/// B's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_slower_than_its_hold_cannot_release_the_next_holders_lease() {
    let server = RedisServer::start();
    let prefix = format!("{}:", unique("own"));
    let lease = |hold| LeaseSettings {
        hold,
        wait: Duration::from_secs(5),
        poll: Duration::from_millis(25),
    };
    let a = lease_cache(&server, &prefix, lease(Duration::from_millis(300)));
    let [b, c] = [(); 2].map(|()| lease_cache(&server, &prefix, lease(Duration::from_secs(5))));
    let fetches = AtomicUsize::new(0);
    let ms = Duration::from_millis;
    let (from_a, from_b, from_c) = tokio::join!(
        read_through(&a, &fetches, ms(0), ms(500), None),
        read_through(&b, &fetches, ms(50), ms(800), Some(("b", 1))),
        read_through(&c, &fetches, ms(650), ms(0), Some(("c", 1))),
    );
    assert!(from_a.is_err());
    assert_eq!(from_b.unwrap(), "b");
    assert_eq!(from_c.unwrap(), "b", "C waited for B's value");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(c.stats().shared_hits, 1);
}

/// A reads version 1 and writes it back late (its lease ran out meanwhile); B read version 2
/// and wrote it first: the tier keeps version 2, and a later reader gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_of_an_older_version_does_not_replace_a_newer_record() {
    let server = RedisServer::start();
    let prefix = format!("{}:", unique("order"));
    let lease = LeaseSettings {
        hold: Duration::from_millis(200),
        wait: Duration::from_secs(5),
        poll: Duration::from_millis(25),
    };
    let [a, b, c] = [(); 3].map(|()| lease_cache(&server, &prefix, lease));
    let fetches = AtomicUsize::new(0);
    let ms = Duration::from_millis;
    let (from_a, from_b) = tokio::join!(
        read_through(&a, &fetches, ms(0), ms(700), Some(("v1", 1))),
        read_through(&b, &fetches, ms(100), ms(0), Some(("v2", 2))),
    );
    assert_eq!(
        (from_a.unwrap(), from_b.unwrap()),
        ("v1".into(), "v2".into())
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let later = read_through(&c, &fetches, ms(0), ms(0), Some(("v0", 0))).await;
    assert_eq!(later.unwrap(), "v2");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The same rule on the tier's own calls, without versions: the later read wins.
    let tier = RedisTier::builder(server.url())
        .prefix(&prefix)
        .build()
        .unwrap();
    let write = |text: &str, read_at: u64| TierWrite {
        key: "x:{w}:v",
        record: text.as_bytes().to_vec(),
        ttl: MINUTE,
        order: RecordOrder {
            version: None,
            read_at,
        },
        lease: Lease {
            key: "x:{w}:l",
            token: "",
        },
    };
    assert!(tier.write(write("new", 2_000)).await.unwrap());
    assert!(!tier.write(write("old", 1_000)).await.unwrap());
    let held = tier.read("x:{w}:v").await.unwrap().unwrap();
    assert_eq!(held.bytes, b"new");
}

/// Every call to SSM takes 3 s (a slow or retrying backend): the 19 environments that find the
/// lease taken wait for the holder's value, within the default deadline, instead of calling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_backend_taking_three_seconds_twenty_environments_make_one_call() {
    let server = RedisServer::start();
    let (proxy, name, _ssm) = parameter("slow", ParameterType::String, "v1").await;
    proxy.slow_down(Duration::from_secs(3));
    let prefix = unique("slow");
    let mut fleet = Vec::new();
    for _ in 0..20 {
        fleet.push(environment(&server, &proxy, &prefix).await);
    }
    let name = name.as_str();
    let reads = join_all(
        fleet
            .iter()
            .map(|env| async move { env.get_entry_with(name, MINUTE).await }),
    )
    .await;
    for read in reads {
        assert_eq!(text(&read.expect("a read")), "v1");
    }
    let errors: u64 = fleet
        .iter()
        .map(|env| env.cache().stats().shared_errors)
        .sum();
    assert_eq!(proxy.count_of("GetParameters"), 1, "tier errors: {errors}");
    let waited: u64 = fleet
        .iter()
        .map(|env| env.cache().stats().shared_waits)
        .sum();
    assert_eq!(waited, 19);
}

/// The tier over TLS (`rediss://`): a `redis-server` whose TLS certificate a CA made in the test
/// signed. Three environments that trust the CA share one SSM call; one that does not cannot
/// connect (a counted tier error) and reads SSM itself without failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_tier_is_shared_by_those_trusting_its_ca_and_skipped_by_others() {
    let server = RedisServer::start_tls();
    let (proxy, name, _ssm) = parameter("tls", ParameterType::String, "v1").await;
    let prefix = unique("tls");
    let environment = |trusting: bool| {
        let mut tier = RedisTier::builder(server.tls_url()).prefix(&prefix);
        if trusting {
            tier = tier.root_certificate(server.ca_pem());
        }
        let cache = Cache::builder()
            .shared_tier(Arc::new(tier.build().expect("a rediss URL")))
            .build()
            .expect("cache settings");
        let endpoint = proxy.endpoint().to_owned();
        async move { SsmCache::from_config(cache, &sdk_config(&endpoint).await) }
    };
    let mut trusting = Vec::new();
    for _ in 0..3 {
        trusting.push(environment(true).await);
    }
    for env in &trusting {
        let read = env.get_entry_with(name.as_str(), MINUTE).await;
        assert_eq!(text(&read.expect("a read")), "v1");
        assert_eq!(env.cache().stats().shared_errors, 0);
    }
    assert_eq!(proxy.count_of("GetParameters"), 1);
    let from_tier: u64 = trusting
        .iter()
        .map(|env| env.cache().stats().shared_hits)
        .sum();
    assert_eq!(from_tier, 2);
    let stranger = environment(false).await;
    let read = stranger.get_entry_with(name.as_str(), MINUTE).await;
    assert_eq!(text(&read.expect("a read without the tier")), "v1");
    assert_eq!(stranger.cache().stats().shared_errors, 1);
    assert_eq!(proxy.count_of("GetParameters"), 2);
}

#[test]
fn a_root_certificate_needs_a_tls_url_and_pem() {
    let err = RedisTier::builder("redis://127.0.0.1:6379")
        .root_certificate("-----BEGIN CERTIFICATE-----")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("needs a TLS URL"), "{err}");
    let err = RedisTier::builder("rediss://127.0.0.1:6379")
        .root_certificate("not a certificate")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, lambda_cache_redis::Error::InvalidCertificate { .. }),
        "{err:?}"
    );
}

/// Three environments of a fleet, each with its own cache and connection to `server`'s tier
/// under `prefix` (records up to 1 KiB).
fn three_caches(server: &RedisServer, prefix: &str) -> [Cache; 3] {
    [(); 3].map(|()| cache_on(server, prefix, |tier| tier.max_record(1024)))
}

/// A secret shared by reads that say `share_secrets` (1 call for 3 environments) and kept in
/// each process otherwise (3 calls); a DynamoDB item shared (1 GetItem); S3 bytes shared up to
/// the tier's record limit (1 GetObject), and a larger object read by each (3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_items_and_s3_bytes_go_through_the_tier() {
    use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
    use lambda_cache_testkit::{Requests, create_secret, create_table, put_item};

    let server = RedisServer::start();
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();

    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let (shared_secret, own_secret) = (unique("tier/shared"), unique("tier/own"));
    create_secret(&secrets, &shared_secret, "s1").await;
    create_secret(&secrets, &own_secret, "s2").await;
    let shared = Policy::new(MINUTE).share_secrets();
    for cache in three_caches(&server, &unique("secrets")) {
        let env = lambda_cache_secrets::SecretsCache::new(cache, secrets.clone());
        let read = env.get_entry_with(shared_secret.as_str(), shared).await;
        assert_eq!(read.expect("a shared secret").as_str(), Some("s1"));
        let read = env.get_entry_with(own_secret.as_str(), MINUTE).await;
        assert_eq!(read.expect("a secret of its own").as_str(), Some("s2"));
    }
    assert_eq!(requests.count_of(".GetSecretValue"), 1 + 3);

    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let table = unique("TierItems");
    create_table(&dynamodb, &table, ("pk", ScalarAttributeType::S), None).await;
    put_item(
        &dynamodb,
        &table,
        &[
            ("pk", AttributeValue::S("u1".into())),
            ("n", AttributeValue::N("7".into())),
            ("tags", AttributeValue::Ss(vec!["a".into(), "b".into()])),
        ],
    )
    .await;
    let key = lambda_cache_dynamodb::ItemKey::new(&table, "pk", "u1");
    let mut items = Vec::new();
    for cache in three_caches(&server, &unique("items")) {
        let env = lambda_cache_dynamodb::DynamoCache::new(cache, dynamodb.clone());
        items.push(env.get_entry_with(&key, MINUTE).await.expect("an item"));
    }
    assert_eq!(requests.count_of(".GetItem"), 1);
    assert!(
        items.iter().all(|item| **item == *items[0]),
        "the same item"
    );
    assert_eq!(items[2]["n"], AttributeValue::N("7".into()));

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .interceptor(requests.clone())
            .build(),
    );
    let bucket = unique("tier").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, size) in [("small", 512), ("large", 4096)] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(vec![7_u8; size].into())
            .send()
            .await
            .unwrap();
    }
    let gets = || {
        requests
            .all()
            .iter()
            .filter(|op| op.starts_with("GET ") && op.contains(&bucket))
            .count()
    };
    let before = gets();
    for cache in three_caches(&server, &unique("objects")) {
        let env = lambda_cache_s3::S3Cache::new(cache, s3.clone());
        let small = env.get_bytes(&format!("s3://{bucket}/small"), MINUTE).await;
        assert_eq!(small.expect("small bytes").len(), 512);
    }
    assert_eq!(gets() - before, 1);
    for cache in three_caches(&server, &unique("objects")) {
        let env = lambda_cache_s3::S3Cache::new(cache, s3.clone());
        let large = env.get_bytes(&format!("s3://{bucket}/large"), MINUTE).await;
        assert_eq!(large.expect("large bytes").len(), 4096);
    }
    assert_eq!(gets() - before, 1 + 3, "over the record limit");
}

/// 25 names read with `get_many`: the first environment reads them in 3 GetParameters calls
/// and writes them back in one pipeline; four more read all 25 from the tier (no call). Then,
/// past the max age, with 5 of the names' leases held by another environment that never
/// writes: the 20 others are fetched at once (2 calls), the 5 once their leases end (1 call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_25_names_goes_through_the_tier_in_one_round_per_step() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let client = ssm().await;
    let base = format!("/{}", unique("batch"));
    let names: Vec<String> = (0..25).map(|i| format!("{base}/p{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        put_parameter(&client, name, ParameterType::String, &format!("v{i}")).await;
    }
    let prefix = unique("batch");
    let max_age = Duration::from_millis(800);
    let mut fleet = Vec::new();
    for _ in 0..5 {
        fleet.push(environment(&server, &proxy, &prefix).await);
    }
    for env in &fleet {
        let reads = env
            .get_many(names.iter().map(String::as_str), max_age)
            .await;
        for (i, read) in reads.into_iter().enumerate() {
            assert_eq!(text(&read.expect("a value")), format!("v{i}"));
        }
    }
    assert_eq!(proxy.count_of("GetParameters"), 3);
    let from_tier: u64 = fleet.iter().map(|e| e.cache().stats().shared_hits).sum();
    assert_eq!(from_tier, 4 * 25);
    // Past the max age; another environment holds 5 leases for 400 ms and never writes.
    tokio::time::sleep(max_age + Duration::from_millis(100)).await;
    let other = RedisTier::builder(server.url())
        .prefix(&prefix)
        .build()
        .unwrap();
    let lease_keys: Vec<String> = names[..5]
        .iter()
        .map(|n| shared_key(&prefix, 'l', Key::new("ssm", n)))
        .collect();
    let leases: Vec<Lease<'_>> = lease_keys
        .iter()
        .map(|key| Lease {
            key,
            token: "another",
        })
        .collect();
    let taken = other
        .lease_many(&leases, Duration::from_millis(400))
        .await
        .unwrap();
    assert_eq!(taken, vec![true; 5]);
    let env = environment(&server, &proxy, &prefix).await;
    let reads = env
        .get_many(names.iter().map(String::as_str), max_age)
        .await;
    assert!(reads.iter().all(Result::is_ok));
    assert_eq!(proxy.count_of("GetParameters"), 3 + 2 + 1);
    assert_eq!(env.cache().stats().shared_waits, 1);
}
