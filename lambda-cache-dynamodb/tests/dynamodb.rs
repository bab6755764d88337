//! DynamoDB through the real aws-sdk-dynamodb client against the moto server, counting the
//! requests that reach it. Run with `cargo xtask test`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use lambda_cache_core::{Cache, CacheError, ManualClock};
use lambda_cache_dynamodb::{DynamoCache, Error, ItemKey, KeyValue};
use lambda_cache_testkit::{Requests, create_table, moto_endpoint, sdk_config, unique};

const MINUTE: Duration = Duration::from_secs(60);

struct Fixture {
    dynamodb: DynamoCache,
    clock: ManualClock,
    requests: Requests,
    admin: aws_sdk_dynamodb::Client,
}

async fn fixture() -> Fixture {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let counted = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(requests.clone())
        .build();
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    Fixture {
        dynamodb: DynamoCache::new(cache, aws_sdk_dynamodb::Client::from_conf(counted)),
        clock,
        requests,
        admin: aws_sdk_dynamodb::Client::new(&config),
    }
}

impl Fixture {
    /// A new table keyed by `hash` (and `sort`), each with its attribute type.
    async fn table(
        &self,
        hash: (&str, ScalarAttributeType),
        sort: Option<(&str, ScalarAttributeType)>,
    ) -> String {
        let table = unique("table");
        create_table(&self.admin, &table, hash, sort).await;
        table
    }

    async fn put(&self, table: &str, item: &[(&str, AttributeValue)]) {
        lambda_cache_testkit::put_item(&self.admin, table, item).await;
    }

    /// Requests of `operation` (`GetItem` does not count `BatchGetItem`).
    fn calls(&self, operation: &str) -> usize {
        self.requests.count_of(&format!(".{operation}"))
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

#[tokio::test]
async fn a_hit_makes_no_call_and_a_change_arrives_after_max_age() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(&table, &[("pk", s("u1")), ("name", s("Ada"))]).await;
    let key = ItemKey::new(&table, "pk", "u1");

    let first = f.dynamodb.get_entry(&key).await.unwrap();
    assert_eq!(first["name"], s("Ada"));
    f.put(&table, &[("pk", s("u1")), ("name", s("Grace"))])
        .await;
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(f.dynamodb.get_entry(&key).await.unwrap()["name"], s("Ada"));
    assert_eq!(f.calls("GetItem"), 1, "a hit makes no call");
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(
        f.dynamodb.get_entry(&key).await.unwrap()["name"],
        s("Grace")
    );
    assert_eq!(f.calls("GetItem"), 2);
}

#[tokio::test]
async fn number_keys_are_canonical_and_binary_keys_work() {
    let f = fixture().await;
    let numbers = f.table(("id", ScalarAttributeType::N), None).await;
    f.put(&numbers, &[("id", n("1")), ("v", s("one"))]).await;
    for text in ["1", "1.0", "01", "1e0"] {
        let key = ItemKey::new(&numbers, "id", KeyValue::n(text).unwrap());
        let item = f.dynamodb.get_entry(&key).await.unwrap();
        assert_eq!(item["v"], s("one"), "{text}");
    }
    assert_eq!(f.calls("GetItem"), 1, "1, 1.0, 01 and 1e0 are one key");
    let by_integer = ItemKey::new(&numbers, "id", 1_i64);
    f.dynamodb.get_entry(&by_integer).await.unwrap();
    assert_eq!(f.calls("GetItem"), 1);

    let bytes = f.table(("b", ScalarAttributeType::B), None).await;
    let id = vec![0_u8, 159, 146, 150];
    f.put(
        &bytes,
        &[("b", AttributeValue::B(id.clone().into())), ("v", s("bin"))],
    )
    .await;
    let item = f
        .dynamodb
        .get_entry(&ItemKey::new(&bytes, "b", id))
        .await
        .unwrap();
    assert_eq!(item["v"], s("bin"));
    assert_eq!(f.calls("GetItem"), 2);
}

#[tokio::test]
async fn hash_and_sort_keys_name_one_item_each() {
    let f = fixture().await;
    let table = f
        .table(
            ("customer", ScalarAttributeType::S),
            Some(("order", ScalarAttributeType::N)),
        )
        .await;
    f.put(
        &table,
        &[
            ("customer", s("c1")),
            ("order", n("1")),
            ("total", n("10.5")),
        ],
    )
    .await;
    f.put(
        &table,
        &[("customer", s("c1")), ("order", n("2")), ("total", n("99"))],
    )
    .await;
    let first = ItemKey::new(&table, "customer", "c1").sort("order", 1_i64);
    let second = ItemKey::new(&table, "customer", "c1").sort("order", KeyValue::n("2.0").unwrap());
    assert_eq!(
        f.dynamodb.get_entry(&first).await.unwrap()["total"],
        n("10.5")
    );
    assert_eq!(
        f.dynamodb.get_entry(&second).await.unwrap()["total"],
        n("99")
    );
    assert_eq!(f.calls("GetItem"), 2);
    f.dynamodb.get_entry(&first).await.unwrap();
    f.dynamodb.get_entry(&second).await.unwrap();
    assert_eq!(f.calls("GetItem"), 2, "both cached apart");
}

#[tokio::test]
async fn projection_and_consistent_read_are_part_of_the_key() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(
        &table,
        &[
            ("pk", s("u1")),
            ("name", s("Ada")),
            ("email", s("ada@example.com")),
        ],
    )
    .await;
    let whole = ItemKey::new(&table, "pk", "u1");
    let projected = ItemKey::new(&table, "pk", "u1").projection(["name"]);
    let consistent = ItemKey::new(&table, "pk", "u1").consistent_read(true);

    let item = f.dynamodb.get_entry(&whole).await.unwrap();
    assert_eq!(item.len(), 3);
    let item = f.dynamodb.get_entry(&projected).await.unwrap();
    let mut names: Vec<_> = item.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["name", "pk"],
        "the projection and the key attributes"
    );
    f.dynamodb.get_entry(&consistent).await.unwrap();
    assert_eq!(f.calls("GetItem"), 3, "three keys, three reads");
    for key in [&whole, &projected, &consistent] {
        f.dynamodb.get_entry(key).await.unwrap();
    }
    assert_eq!(f.calls("GetItem"), 3, "each cached under its own key");
}

#[tokio::test]
async fn two_hundred_fifty_keys_take_three_batch_calls_in_request_order() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    for i in 0..250 {
        f.put(
            &table,
            &[("pk", s(&format!("u{i}"))), ("i", n(&i.to_string()))],
        )
        .await;
    }
    let mut keys: Vec<ItemKey> = (0..250)
        .map(|i| ItemKey::new(&table, "pk", format!("u{i}")))
        .collect();
    // A duplicate is asked for once and answered twice.
    keys.push(ItemKey::new(&table, "pk", "u7"));
    let items = f.dynamodb.get_many(&keys, MINUTE).await;
    assert_eq!(f.calls("BatchGetItem"), 3);
    assert_eq!(items.len(), 251);
    for (i, item) in items.iter().take(250).enumerate() {
        assert_eq!(
            item.as_ref().unwrap()["i"],
            n(&i.to_string()),
            "in request order"
        );
    }
    assert_eq!(items[250].as_ref().unwrap()["i"], n("7"));

    // Each item is cached on its own: a single read is a hit, and so is the batch again.
    f.dynamodb.get_entry(&keys[42]).await.unwrap();
    f.dynamodb.get_many(&keys, MINUTE).await;
    assert_eq!(f.calls("BatchGetItem"), 3);
    assert_eq!(f.calls("GetItem"), 0);
}

#[tokio::test]
async fn a_missing_item_and_a_missing_table_are_typed_errors_naming_them() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(&table, &[("pk", s("here"))]).await;

    let absent = ItemKey::new(&table, "pk", "absent");
    let err = f.dynamodb.get_entry(&absent).await.unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            key: format!("{table}@@absent")
        }
    );
    assert!(!err.is_transient());

    // In a batch, only the missing key fails.
    let keys = [ItemKey::new(&table, "pk", "here"), absent.clone()];
    let items = f.dynamodb.get_many(&keys, MINUTE).await;
    assert!(items[0].is_ok());
    assert_eq!(
        items[1].as_ref().err(),
        Some(&Error::NotFound {
            key: format!("{table}@@absent")
        })
    );

    let nowhere = ItemKey::new("no-such-table", "pk", "u1");
    let err = f.dynamodb.get_entry(&nowhere).await.unwrap_err();
    assert_eq!(
        err,
        Error::TableNotFound {
            table: "no-such-table".into()
        }
    );
    assert!(!err.is_transient(), "a missing table is permanent");
    assert!(err.to_string().contains("no-such-table"));
    let items = f
        .dynamodb
        .get_many(std::slice::from_ref(&nowhere), MINUTE)
        .await;
    assert_eq!(
        items[0].as_ref().err(),
        Some(&Error::TableNotFound {
            table: "no-such-table".into()
        })
    );

    // A malformed key fails before any call.
    let before = f.requests.count();
    let err = f
        .dynamodb
        .get_entry(&ItemKey::new(&table, "pk", ""))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    assert_eq!(f.requests.count(), before);
}

#[tokio::test]
async fn items_decode_into_your_types_once_per_fetch() {
    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct User {
        pk: String,
        age: u32,
        tags: Vec<String>,
    }
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(
        &table,
        &[
            ("pk", s("u1")),
            ("age", n("42")),
            ("tags", AttributeValue::L(vec![s("admin")])),
        ],
    )
    .await;
    let key = ItemKey::new(&table, "pk", "u1");
    let user = f.dynamodb.get_item::<User>(&key, MINUTE).await.unwrap();
    assert_eq!(
        *user,
        User {
            pk: "u1".into(),
            age: 42,
            tags: vec!["admin".into()]
        }
    );
    let again = f.dynamodb.get_item::<User>(&key, MINUTE).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&user.value_arc(), &again.value_arc()),
        "not decoded again"
    );
    f.dynamodb.get_entry(&key).await.unwrap();
    assert_eq!(f.calls("GetItem"), 1, "typed and raw reads share one call");

    // Decoded as old as the item: read at t = 0, decoded at 59 s, stale at 61 s.
    let other = ItemKey::new(&table, "pk", "u2");
    f.put(
        &table,
        &[
            ("pk", s("u2")),
            ("age", n("1")),
            ("tags", AttributeValue::L(vec![])),
        ],
    )
    .await;
    f.dynamodb.get_entry(&other).await.unwrap();
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(
        f.dynamodb
            .get_item::<User>(&other, MINUTE)
            .await
            .unwrap()
            .age,
        1
    );
    f.put(
        &table,
        &[
            ("pk", s("u2")),
            ("age", n("2")),
            ("tags", AttributeValue::L(vec![])),
        ],
    )
    .await;
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(
        f.dynamodb
            .get_item::<User>(&other, MINUTE)
            .await
            .unwrap()
            .age,
        2
    );
    assert_eq!(f.calls("GetItem"), 3);

    #[derive(Debug, serde::Deserialize)]
    struct Wrong {
        #[allow(dead_code)]
        missing: u32,
    }
    let err = f
        .dynamodb
        .get_item::<Wrong>(&key, MINUTE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { key: k, .. } if *k == format!("{table}@@u1")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("admin"), "{err}");
}

#[tokio::test]
async fn many_items_are_read_even_when_their_keys_differ_in_projection() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(&table, &[("pk", s("a")), ("x", n("1")), ("y", n("2"))])
        .await;
    let keys = [
        ItemKey::new(&table, "pk", "a"),
        ItemKey::new(&table, "pk", "a").projection(["x"]),
    ];
    let items = f.dynamodb.get_many(&keys, MINUTE).await;
    assert_eq!(items[0].as_ref().unwrap().len(), 3);
    let projected: HashMap<_, _> = items[1].as_ref().unwrap().value().clone();
    assert_eq!(projected.len(), 2);
    assert_eq!(f.calls("BatchGetItem"), 2, "one call per projection");
}

/// With refresh ahead, reads past 0.8 of the max age are answered with the held item at once
/// and one GetItem runs in the background; the next read has the new item. One thread: the
/// background refresh runs only when the test awaits, so the reads before that are answered
/// before it can end.
#[tokio::test]
async fn refresh_ahead_answers_at_once_and_refreshes_the_item_in_the_background() {
    let f = fixture().await;
    let table = f.table(("pk", ScalarAttributeType::S), None).await;
    f.put(&table, &[("pk", s("u1")), ("name", s("Ada"))]).await;
    let key = ItemKey::new(&table, "pk", "u1");
    let policy = lambda_cache_core::Policy::new(Duration::from_secs(60))
        .refresh_ahead(0.8)
        .unwrap();
    f.dynamodb.get_entry_with(&key, policy).await.unwrap();
    f.put(&table, &[("pk", s("u1")), ("name", s("Grace"))])
        .await;
    f.clock.advance(Duration::from_secs(50));
    for _ in 0..10 {
        let held = f.dynamodb.get_entry_with(&key, policy).await.unwrap();
        assert_eq!(held["name"], s("Ada"), "the held item, at once");
    }
    let mut name = s("Ada");
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        name = f.dynamodb.get_entry_with(&key, policy).await.unwrap()["name"].clone();
        if name == s("Grace") {
            break;
        }
    }
    assert_eq!(name, s("Grace"));
    assert_eq!(f.calls("GetItem"), 2, "one background call");
}
