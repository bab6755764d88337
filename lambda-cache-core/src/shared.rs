//! One value per type per process, built once on first use: the AWS configuration and clients
//! that every service crate shares in an execution environment.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;

use hashbrown::HashMap;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

static REGISTRY: Lazy<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// The process-wide value of type `T`, built by `init` the first time any caller asks for it.
///
/// Concurrent first callers wait for one `init`; later callers get a clone at once. Service
/// crates keep the AWS configuration here, so that SSM, Secrets Manager and S3 clients in one
/// execution environment share one configuration (and one credentials cache) whichever crate
/// asks first.
///
/// ```
/// #[derive(Clone, Debug, PartialEq)]
/// struct Settings(u32);
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let a = lambda_cache_core::shared(|| async { Settings(1) }).await;
/// let b = lambda_cache_core::shared(|| async { Settings(2) }).await; // not called
/// assert_eq!(a, b);
/// # });
/// ```
pub async fn shared<T, F, Fut>(init: F) -> T
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let cell = {
        let mut registry = REGISTRY.lock();
        Arc::clone(
            registry
                .entry(TypeId::of::<T>())
                .or_insert_with(|| Arc::new(OnceCell::<T>::new())),
        )
    };
    let cell = cell
        .downcast::<OnceCell<T>>()
        .unwrap_or_else(|_| unreachable!("the registry is keyed by the cell's type"));
    cell.get_or_init(init).await.clone()
}
