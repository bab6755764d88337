//! A single-threaded executor on simulated time: tasks run until they wait on [`sleep`], and
//! the executor moves the clock to the next wake-up. Nothing sleeps for real, and a run repeats
//! itself exactly.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use lambda_cache_core::ManualClock;

thread_local! {
    /// Simulated nanoseconds since the start of the run.
    static NOW: Cell<u64> = const { Cell::new(0) };
    /// The task being polled, and the wake-ups asked for while it ran.
    static CURRENT: Cell<usize> = const { Cell::new(usize::MAX) };
    static TIMERS: RefCell<BinaryHeap<Reverse<(u64, u64, usize)>>> = RefCell::default();
    static SEQUENCE: Cell<u64> = const { Cell::new(0) };
}

/// Simulated time since the start of the run.
pub fn now() -> Duration {
    Duration::from_nanos(NOW.with(Cell::get))
}

/// Waits `wait` of simulated time.
pub fn sleep(wait: Duration) -> Sleep {
    Sleep {
        until: NOW.with(Cell::get) + u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
        asked: false,
    }
}

/// The future of [`sleep`].
pub struct Sleep {
    until: u64,
    asked: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if NOW.with(Cell::get) >= self.until {
            return Poll::Ready(());
        }
        if !self.asked {
            self.asked = true;
            let task = CURRENT.with(Cell::get);
            let sequence = SEQUENCE.with(|s| s.replace(s.get() + 1));
            TIMERS.with(|t| t.borrow_mut().push(Reverse((self.until, sequence, task))));
        }
        Poll::Pending
    }
}

/// A waker for a task that only timers wake: a task woken otherwise (one cache's waiter on
/// another's flight) would never run again, which the executor reports.
struct Unused;

impl Wake for Unused {
    fn wake(self: Arc<Self>) {}
}

/// A task: one environment's life.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Runs `tasks` to completion on simulated time, moving `clock` with it.
///
/// # Panics
/// If a task is left waiting on something other than a timer, or the clock cannot be set.
pub fn run(tasks: Vec<Task>, clock: &ManualClock) {
    NOW.with(|n| n.set(0));
    TIMERS.with(|t| t.borrow_mut().clear());
    let mut tasks: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    let waker = Waker::from(Arc::new(Unused));
    let mut cx = Context::from_waker(&waker);
    let mut poll = |id: usize, tasks: &mut Vec<Option<Task>>| {
        CURRENT.with(|c| c.set(id));
        if let Some(task) = tasks[id].as_mut()
            && task.as_mut().poll(&mut cx).is_ready()
        {
            tasks[id] = None;
        }
    };
    for id in 0..tasks.len() {
        poll(id, &mut tasks);
    }
    let start = clock.clock().now();
    while let Some(Reverse((at, _, id))) = TIMERS.with(|t| t.borrow_mut().pop()) {
        let now = NOW.with(Cell::get);
        if at > now {
            NOW.with(|n| n.set(at));
            clock.advance(Duration::from_nanos(at - now));
        }
        poll(id, &mut tasks);
    }
    let left = tasks.iter().filter(|t| t.is_some()).count();
    assert_eq!(
        left, 0,
        "{left} tasks wait on something that is not a timer"
    );
    assert_eq!(
        clock.clock().now().saturating_duration_since(start),
        now(),
        "the clock moved outside the executor"
    );
}
