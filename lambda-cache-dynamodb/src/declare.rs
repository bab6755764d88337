//! Items declared for the facade's `Entries`: every stale item of one set of entries is read in
//! one batch of BatchGetItem calls.

use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare, Policy};

use crate::{DynamoCache, Error, ItemKey};

/// An item declared for the facade's `Entries`; its entry name defaults to the seed's
/// `table@@hash[@@sort]`.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_dynamodb::ItemKey;
/// let user = lambda_cache_dynamodb::item(ItemKey::new("Users", "pk", "u1")).entry_name("user");
/// # let _ = user;
/// ```
pub fn item(key: ItemKey) -> Declare<ItemKey> {
    Declare::new(key)
}

impl Declaration for ItemKey {
    type Service = DynamoCache;
    type Error = Error;

    fn declared(&self) -> &str {
        self.label()
    }

    fn default_entry_name(&self) -> String {
        self.to_string()
    }

    fn check(&self) -> Result<(), Error> {
        ItemKey::check(self)
    }

    fn global_service() -> BoxFuture<'static, DynamoCache> {
        Box::pin(async { DynamoCache::global().await.clone() })
    }

    fn refresh<'a>(
        dynamodb: &'a DynamoCache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Error>>> {
        Box::pin(async move {
            dynamodb
                .read_declared(&batch)
                .await
                .into_iter()
                .map(|read| read.map(|entry| entry.value_arc() as AnyValue))
                .collect()
        })
    }
}
