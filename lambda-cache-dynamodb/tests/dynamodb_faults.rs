//! What the emulator cannot do, on wiremock: unprocessed keys, throttling and 5xx, each request
//! counted.

use std::time::Duration;

use lambda_cache_core::{Cache, CacheError, ManualClock, Policy};
use lambda_cache_dynamodb::{DynamoCache, Error, ItemKey};
use lambda_cache_testkit::{aws_json, sdk_config};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method};
use wiremock::{Mock, MockServer};

const MINUTE: Duration = Duration::from_secs(60);
const GET_ITEM: &str = "DynamoDB_20120810.GetItem";
const BATCH: &str = "DynamoDB_20120810.BatchGetItem";

async fn cache_on(server: &MockServer) -> (DynamoCache, ManualClock) {
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let config = sdk_config(&server.uri()).await;
    (DynamoCache::from_config(cache, &config), clock)
}

fn item(pk: &str, v: u32) -> serde_json::Value {
    json!({"pk": {"S": pk}, "v": {"N": v.to_string()}})
}

async fn requests_to(server: &MockServer, target: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .get("x-amz-target")
                .is_some_and(|t| t.to_str().unwrap_or_default() == target)
        })
        .count()
}

#[tokio::test]
async fn unprocessed_keys_are_asked_for_again_until_every_key_is_answered() {
    let server = MockServer::start().await;
    // First answer: k1, with k2 and k3 unprocessed. Second: k2, with k3 unprocessed. Third: k3.
    let answers = [
        json!({"Responses": {"T11": [item("k1", 1)]},
               "UnprocessedKeys": {"T11": {"Keys": [{"pk": {"S": "k2"}}, {"pk": {"S": "k3"}}]}}}),
        json!({"Responses": {"T11": [item("k2", 2)]},
               "UnprocessedKeys": {"T11": {"Keys": [{"pk": {"S": "k3"}}]}}}),
        json!({"Responses": {"T11": [item("k3", 3)]}, "UnprocessedKeys": {}}),
    ];
    for (priority, answer) in (1_u8..).zip(answers) {
        Mock::given(method("POST"))
            .and(header("x-amz-target", BATCH))
            .respond_with(aws_json(200, answer))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    let (dynamodb, _clock) = cache_on(&server).await;
    let keys: Vec<ItemKey> = ["k1", "k2", "k3"]
        .into_iter()
        .map(|k| ItemKey::new("T11", "pk", k))
        .collect();
    let items = dynamodb.get_many(&keys, MINUTE).await;
    for (i, item) in items.iter().enumerate() {
        let v = item.as_ref().unwrap()["v"].as_n().unwrap().clone();
        assert_eq!(v, (i + 1).to_string());
    }
    assert_eq!(requests_to(&server, BATCH).await, 3);
    // The second and third calls asked only for what was left.
    let bodies: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(!bodies[1].contains("k1") && bodies[1].contains("k2") && bodies[1].contains("k3"));
    assert!(!bodies[2].contains("k2") && bodies[2].contains("k3"));
}

#[tokio::test]
async fn keys_still_unprocessed_after_every_attempt_are_throttled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", BATCH))
        .respond_with(aws_json(
            200,
            json!({"Responses": {"T11": []},
                   "UnprocessedKeys": {"T11": {"Keys": [{"pk": {"S": "k1"}}]}}}),
        ))
        .mount(&server)
        .await;
    let (dynamodb, _clock) = cache_on(&server).await;
    let items = dynamodb
        .get_many(&[ItemKey::new("T11", "pk", "k1")], MINUTE)
        .await;
    assert_eq!(
        items[0].as_ref().err(),
        Some(&Error::Throttled {
            table: "T11".into()
        })
    );
    assert_eq!(requests_to(&server, BATCH).await, 8, "bounded attempts");
}

async fn mount_then_fail(
    server: &MockServer,
    target: &str,
    first: serde_json::Value,
    status: u16,
    code: &str,
) {
    Mock::given(method("POST"))
        .and(header("x-amz-target", target))
        .respond_with(aws_json(200, first))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", target))
        .respond_with(aws_json(
            status,
            json!({"__type": code, "message": "slow down"}),
        ))
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn throttling_with_a_recent_value_serves_it_and_counts_it() {
    for code in [
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    ] {
        let server = MockServer::start().await;
        mount_then_fail(&server, GET_ITEM, json!({"Item": item("u1", 1)}), 400, code).await;
        let (dynamodb, clock) = cache_on(&server).await;
        let key = ItemKey::new("Users", "pk", "u1");
        let policy = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
        dynamodb.get_entry_with(&key, policy).await.unwrap();
        clock.advance(Duration::from_secs(120));
        let served = dynamodb.get_entry_with(&key, policy).await.unwrap();
        assert_eq!(served["v"].as_n().unwrap(), "1", "{code}");
        assert_eq!(dynamodb.cache().stats().stale_served, 1, "{code}");
        assert_eq!(requests_to(&server, GET_ITEM).await, 2);

        // Without stale-if-error the read fails, transiently, naming the table.
        let err = dynamodb.get_entry_with(&key, MINUTE).await.unwrap_err();
        assert_eq!(
            err,
            Error::Throttled {
                table: "Users".into()
            },
            "{code}"
        );
        assert!(err.is_transient());
    }
}

#[tokio::test]
async fn a_throttled_batch_serves_recent_values_where_the_policy_allows() {
    let server = MockServer::start().await;
    mount_then_fail(
        &server,
        BATCH,
        json!({"Responses": {"T11": [item("a", 1), item("b", 2)]}}),
        400,
        "ThrottlingException",
    )
    .await;
    let (dynamodb, clock) = cache_on(&server).await;
    let keys = [
        ItemKey::new("T11", "pk", "a"),
        ItemKey::new("T11", "pk", "b"),
    ];
    let tolerant = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
    dynamodb.get_many(&keys, tolerant).await;
    clock.advance(Duration::from_secs(120));
    let served = dynamodb.get_many(&keys, tolerant).await;
    assert!(served.iter().all(Result::is_ok), "{served:?}");
    assert_eq!(dynamodb.cache().stats().stale_served, 2);
    let failed = dynamodb.get_many(&keys, MINUTE).await;
    let throttled = Error::Throttled {
        table: "T11".into(),
    };
    assert!(failed.iter().all(|r| r.as_ref().err() == Some(&throttled)));
}

#[tokio::test]
async fn a_server_error_is_transient_and_a_missing_table_is_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Broken"))
        .respond_with(aws_json(
            500,
            json!({"__type": "InternalServerError", "message": "oops"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Gone"))
        .respond_with(aws_json(
            400,
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                   "message": "Requested resource not found"}),
        ))
        .mount(&server)
        .await;
    let (dynamodb, _clock) = cache_on(&server).await;
    let err = dynamodb
        .get_entry(&ItemKey::new("Broken", "pk", "u1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Service { table, failure } if table == "Broken" && failure.status == Some(500)),
        "{err:?}"
    );
    assert!(err.is_transient());
    let err = dynamodb
        .get_entry(&ItemKey::new("Gone", "pk", "u1"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::TableNotFound {
            table: "Gone".into()
        }
    );
    assert!(!err.is_transient());
}
