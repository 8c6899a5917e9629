//! Time as a parameter: domain code takes `now`; the edges pick a clock.
//! The demo runs on its own clock (a busy working morning), tests on a fixed one.
use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;

/// The source of "now" for the application layer. Domain functions take a `Timestamp` instead.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time. This is the one place allowed to read the system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that runs at real speed from a chosen starting instant (the demo's working morning).
#[derive(Debug)]
pub struct OffsetClock {
    offset: SignedDuration,
}

impl OffsetClock {
    /// Starts at `start` now and advances with the wall clock.
    pub fn starting_at(start: Timestamp) -> Self {
        let offset = start.duration_since(SystemClock.now());
        Self { offset }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        SystemClock.now().checked_add(self.offset).unwrap_or(Timestamp::MAX)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(now: Timestamp) -> Self {
        Self { now: Mutex::new(now) }
    }
    pub fn set(&self, now: Timestamp) {
        if let Ok(mut guard) = self.now.lock() {
            *guard = now;
        }
    }
    pub fn advance(&self, by: SignedDuration) {
        if let Ok(mut guard) = self.now.lock() {
            *guard = guard.checked_add(by).unwrap_or(Timestamp::MAX);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().map(|g| *g).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
