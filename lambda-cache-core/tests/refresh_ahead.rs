//! Refresh ahead and stale while revalidate, on the manual clock: who is answered at once, who
//! waits, and how many backend calls happen, counted by the loader.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::TestError;
use lambda_cache_core::{Cache, Entry, Fetched, Key, ManualClock, Policy};
use tokio::sync::Semaphore;

const MAX_AGE: Duration = Duration::from_secs(100);
const KEY: Key<'static> = Key::new("test", "rates");

/// What the test loader's future gives.
type Answer = std::pin::Pin<Box<dyn Future<Output = Result<Fetched<usize>, TestError>> + Send>>;

/// A loader whose calls are counted and held until the test lets them answer (one permit
/// each), answering the call's number, or failing as told.
#[derive(Clone)]
struct Backend {
    calls: Arc<AtomicUsize>,
    answers: Arc<Semaphore>,
    failing: Arc<AtomicUsize>,
}

impl Backend {
    fn new() -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            answers: Arc::new(Semaphore::new(0)),
            failing: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets `n` calls answer.
    fn answer(&self, n: usize) {
        self.answers.add_permits(n);
    }

    /// The next `n` calls fail with a throttle (transient).
    fn fail_next(&self, n: usize) {
        self.failing.store(n, Ordering::SeqCst);
    }

    fn fetch(&self) -> impl FnOnce(Option<Entry<usize>>) -> Answer + Send + 'static {
        let backend = self.clone();
        move |_previous| {
            Box::pin(async move {
                let call = backend.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let permit = backend.answers.acquire().await.expect("open");
                permit.forget();
                let fail = backend
                    .failing
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    Err(TestError::Throttled)
                } else {
                    Ok(Fetched::new(call))
                }
            })
        }
    }
}

/// Polls `future` once: ready now, or not.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Lets spawned tasks run until `done` holds (each turn yields to the runtime).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the background refresh did not end");
}

fn setup() -> (Cache, ManualClock, Backend) {
    let manual = ManualClock::new();
    let cache = Cache::builder()
        .clock(manual.clock())
        .refresh_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    (cache, manual, Backend::new())
}

async fn read(cache: &Cache, backend: &Backend, policy: Policy) -> Result<Entry<usize>, TestError> {
    cache.get_or_refresh(KEY, policy, backend.fetch()).await
}

/// First read of the key, answered: value 1, one call.
async fn primed(cache: &Cache, backend: &Backend, policy: Policy) {
    backend.answer(1);
    assert_eq!(*read(cache, backend, policy).await.unwrap(), 1);
    assert_eq!(backend.calls(), 1);
}

#[tokio::test]
async fn at_eight_tenths_of_max_age_a_hundred_readers_are_answered_at_once_and_one_refresh_runs() {
    let (cache, clock, backend) = setup();
    let policy = Policy::new(MAX_AGE).refresh_ahead(0.8).unwrap();
    primed(&cache, &backend, policy).await;

    clock.advance(Duration::from_secs(79));
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 1);
    assert_eq!(backend.calls(), 1, "before 0.8 of max age: a plain hit");

    clock.advance(Duration::from_secs(1));
    for _ in 0..100 {
        let mut answer = pin!(read(&cache, &backend, policy));
        match poll_once(answer.as_mut()) {
            Poll::Ready(value) => assert_eq!(*value.unwrap(), 1),
            Poll::Pending => panic!("a reader waited for the refresh"),
        }
    }
    until(|| backend.calls() == 2).await;
    assert_eq!(backend.calls(), 2, "100 readers, one background call");
    assert_eq!(cache.stats().refreshed_ahead, 1);

    backend.answer(1);
    until(|| cache.stats().publishes >= 2).await;
    let renewed = read(&cache, &backend, policy).await.unwrap();
    assert_eq!((*renewed, backend.calls()), (2, 2));
    assert_eq!(
        clock
            .clock()
            .now()
            .saturating_duration_since(renewed.fetched_at()),
        Duration::ZERO,
        "the refreshed value is as old as the read that started it"
    );
}

#[tokio::test]
async fn past_max_age_a_reader_waits_unless_stale_while_revalidate_covers_it() {
    let (cache, clock, backend) = setup();
    let policy = Policy::new(MAX_AGE);
    primed(&cache, &backend, policy).await;
    clock.advance(MAX_AGE + Duration::from_secs(5));
    let mut waiting = pin!(read(&cache, &backend, policy));
    assert!(
        poll_once(waiting.as_mut()).is_pending(),
        "without the window, past max age: waits"
    );
    backend.answer(1);
    assert_eq!(*waiting.await.unwrap(), 2);

    let (cache, clock, backend) = setup();
    let policy = Policy::new(MAX_AGE).stale_while_revalidate(Duration::from_secs(30));
    primed(&cache, &backend, policy).await;
    clock.advance(MAX_AGE + Duration::from_secs(5));
    let mut answered = pin!(read(&cache, &backend, policy));
    match poll_once(answered.as_mut()) {
        Poll::Ready(value) => assert_eq!(*value.unwrap(), 1),
        Poll::Pending => panic!("within the window a reader waited"),
    }
    until(|| backend.calls() == 2).await;
    assert_eq!(cache.stats().served_while_revalidating, 1);
    backend.answer(1);
    until(|| cache.stats().publishes >= 2).await;
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 2);

    // Past the window too: waits again.
    clock.advance(MAX_AGE + Duration::from_secs(31));
    let mut late = pin!(read(&cache, &backend, policy));
    assert!(poll_once(late.as_mut()).is_pending());
    backend.answer(1);
    assert_eq!(*late.await.unwrap(), 3);
}

#[tokio::test]
async fn a_failed_background_refresh_leaves_the_value_and_a_later_read_retries() {
    let (cache, clock, backend) = setup();
    let policy = Policy::new(MAX_AGE).refresh_ahead(0.8).unwrap();
    primed(&cache, &backend, policy).await;
    clock.advance(Duration::from_secs(85));
    backend.fail_next(1);
    backend.answer(1);
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 1);
    until(|| cache.stats().errors == 1).await;
    assert_eq!(
        *read(&cache, &backend, policy).await.unwrap(),
        1,
        "the value stays"
    );
    until(|| backend.calls() == 3).await;
    assert_eq!(cache.stats().refreshed_ahead, 2, "the later read retried");
    backend.answer(1);
    until(|| cache.stats().publishes >= 2).await;
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 3);
}

/// A refresh frozen mid-flight: the clock jumps 10 minutes while the backend has not answered.
/// A reader whose value is still valid is answered at once; the refresh is given up at the
/// timeout (counted), and a later read starts another, which may answer late.
#[tokio::test]
async fn a_refresh_in_flight_across_a_freeze_never_fails_a_reader_holding_a_valid_value() {
    let (cache, clock, backend) = setup();
    let hour = Duration::from_secs(3600);
    let policy = Policy::new(hour).refresh_ahead(0.8).unwrap();
    primed(&cache, &backend, policy).await;
    clock.advance(Duration::from_secs(48 * 60));
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 1);
    until(|| backend.calls() == 2).await;

    clock.advance(Duration::from_secs(10 * 60));
    for _ in 0..10 {
        let mut answer = pin!(read(&cache, &backend, policy));
        match poll_once(answer.as_mut()) {
            Poll::Ready(value) => assert_eq!(*value.unwrap(), 1),
            Poll::Pending => panic!("a reader with a valid value waited for a frozen refresh"),
        }
    }
    // The backend never answers that call: the refresh is given up at its timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cache.stats().errors,
        1,
        "the timeout counted as a failed fetch"
    );
    assert_eq!(*read(&cache, &backend, policy).await.unwrap(), 1);
    until(|| backend.calls() == 3).await;
    // This one answers (late, after the jump): the value is renewed.
    backend.answer(2);
    until(|| cache.stats().publishes >= 2).await;
    let renewed = read(&cache, &backend, policy).await.unwrap();
    assert!(*renewed >= 2, "{}", *renewed);
}

#[test]
fn outside_a_runtime_nothing_is_spawned_and_the_held_value_answers() {
    let (cache, clock, backend) = setup();
    let policy = Policy::new(MAX_AGE).refresh_ahead(0.5).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(primed(&cache, &backend, policy));
    clock.advance(Duration::from_secs(60));
    let mut answer = pin!(read(&cache, &backend, policy));
    match poll_once(answer.as_mut()) {
        Poll::Ready(value) => assert_eq!(*value.unwrap(), 1),
        Poll::Pending => panic!("waited"),
    }
    assert_eq!((backend.calls(), cache.stats().refreshed_ahead), (1, 0));
}
