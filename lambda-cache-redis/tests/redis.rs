//! The shared tier on a real Redis (or Valkey) server of each test's own, between SSM caches
//! (one per simulated environment, each with its own connection) and moto behind a counting
//! proxy: every backend call is counted.
//!
//! These tests wait real time past short max ages (Redis expires keys by its own clock); they
//! assert nothing about how long anything took.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache_core::{Cache, Key, Policy, SharedTier, join_all, shared_key};
use lambda_cache_redis::RedisTier;
use lambda_cache_ssm::{SsmCache, Value};
use lambda_cache_testkit::{
    CountingProxy, RedisServer, moto_endpoint, put_parameter, sdk_config, unique,
};

/// One environment: its own cache, its own connection to the tier, a client through `proxy`.
async fn environment(server: &RedisServer, proxy: &CountingProxy, prefix: &str) -> SsmCache {
    let tier = RedisTier::builder(server.url())
        .prefix(prefix)
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
