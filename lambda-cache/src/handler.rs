//! `lambda_runtime` integration (feature `lambda-runtime`): a handler whose declared entries are
//! refreshed when each invocation starts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use lambda_cache_core::emf::MetricsReporter;
use lambda_runtime::{LambdaEvent, Service};

use crate::entries::{Entries, Snapshot};

/// A `lambda_runtime` service that refreshes its [`Entries`] at the start of every invocation
/// and hands the handler the resulting [`Snapshot`]. Build it with [`Entries::handler`].
///
/// ```no_run
/// use std::time::Duration;
/// use lambda_cache::entries::{Entries, Snapshot};
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>, cached: Snapshot) -> Result<Value, Error> {
///     let rates = cached.get::<f64>("rates")?;
///     Ok(serde_json::json!({ "rate": rates, "request": event.context.request_id }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let entries = Entries::builder()
///         .load("rates", Duration::from_secs(300), || async { Ok::<_, std::io::Error>(1.08_f64) })
///         .build()?; // declaration errors stop the function here, before any invocation
///     lambda_runtime::run(entries.handler(handler)).await
/// }
/// ```
#[derive(Clone)]
pub struct CachedHandler<F> {
    entries: Entries,
    handler: F,
    metrics: Option<Arc<MetricsReporter>>,
}

impl std::fmt::Debug for CachedHandler<()> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedHandler")
            .field("entries", &self.entries)
            .finish()
    }
}

impl Entries {
    /// Wraps `handler` so that each invocation first refreshes these entries; a refresh failure
    /// (after each entry's stale-if-error policy) fails the invocation with the typed error.
    ///
    /// ```no_run
    /// # async fn handler(_: lambda_runtime::LambdaEvent<serde_json::Value>, _: lambda_cache::entries::Snapshot)
    /// #     -> Result<serde_json::Value, lambda_runtime::Error> { Ok(serde_json::Value::Null) }
    /// # async fn f() -> Result<(), lambda_runtime::Error> {
    /// let entries = lambda_cache::entries::Entries::builder().build()?;
    /// lambda_runtime::run(entries.handler(handler)).await
    /// # }
    /// ```
    pub fn handler<F>(self, handler: F) -> CachedHandler<F> {
        CachedHandler {
            entries: self,
            handler,
            metrics: None,
        }
    }
}

impl<F> CachedHandler<F> {
    /// Writes the cache's counters as a CloudWatch EMF line to standard output at the end of
    /// an invocation, at most once per the reporter's interval (60 s by default). Lambda sends
    /// the line to CloudWatch Logs, which makes metrics of it; nothing is sent on the request
    /// path.
    ///
    /// ```no_run
    /// # async fn handler(_: lambda_runtime::LambdaEvent<serde_json::Value>, _: lambda_cache::entries::Snapshot)
    /// #     -> Result<serde_json::Value, lambda_runtime::Error> { Ok(serde_json::Value::Null) }
    /// # async fn f() -> Result<(), lambda_runtime::Error> {
    /// use lambda_cache::emf::{Emf, MetricsReporter};
    /// let emf = Emf::new("LambdaCache")?.dimension("FunctionName", "checkout")?;
    /// let reporter = MetricsReporter::new(emf, lambda_cache::Cache::global());
    /// let entries = lambda_cache::entries::Entries::builder().build()?;
    /// lambda_runtime::run(entries.handler(handler).with_metrics(reporter)).await
    /// # }
    /// ```
    #[must_use]
    pub fn with_metrics(mut self, reporter: MetricsReporter) -> Self {
        self.metrics = Some(Arc::new(reporter));
        self
    }
}

impl<E, R, F, Fut> Service<LambdaEvent<E>> for CachedHandler<F>
where
    E: Send + 'static,
    F: Fn(LambdaEvent<E>, Snapshot) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<R, lambda_runtime::Error>> + Send + 'static,
{
    type Response = R;
    type Error = lambda_runtime::Error;
    type Future = Pin<Box<dyn Future<Output = Result<R, lambda_runtime::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<E>) -> Self::Future {
        let entries = self.entries.clone();
        let handler = self.handler.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let snapshot = entries.refresh().await?;
            let answer = handler(event, snapshot).await;
            if let Some(metrics) = metrics {
                metrics.report();
            }
            answer
        })
    }
}
