//! A request pacer that keeps one worker within its Railway plan's published rate limits
//! (requests per second and per hour), shared by every clone of a client and so by every run the
//! worker executes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::RailwayError;

/// Railway plan whose API limits apply (docs: Free 100/h; Hobby 1 000/h and 10/s; Pro 10 000/h
/// and 50/s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Plan {
    /// 100 requests an hour.
    Free,
    /// 1 000 requests an hour, 10 a second.
    #[default]
    Hobby,
    /// 10 000 requests an hour, 50 a second.
    Pro,
}

impl Plan {
    /// Parses `free`, `hobby` or `pro` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "free" | "trial" => Some(Self::Free),
            "hobby" => Some(Self::Hobby),
            "pro" => Some(Self::Pro),
            _ => None,
        }
    }

    /// Requests per second. Railway states none for Free; Hobby's 10 is used as the cautious
    /// assumption.
    pub fn per_second(self) -> usize {
        match self {
            Self::Free | Self::Hobby => 10,
            Self::Pro => 50,
        }
    }

    /// Requests per hour the plan allows.
    pub fn per_hour(self) -> usize {
        match self {
            Self::Free => 100,
            Self::Hobby => 1000,
            Self::Pro => 10_000,
        }
    }

    /// `free`, `hobby` or `pro`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Hobby => "hobby",
            Self::Pro => "pro",
        }
    }
}

/// The per-second window is measured with a margin, so that requests leaving together but
/// arriving with network jitter still fall into distinct seconds at Railway.
const SECOND: Duration = Duration::from_millis(1100);
const HOUR: Duration = Duration::from_secs(3600);

/// How long a request may wait for the hourly budget before the read fails with
/// [`RailwayError::RateLimited`] (Inngest then retries the step when the budget is back, instead
/// of a step holding a connection for up to an hour).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug)]
struct Window {
    second: VecDeque<Instant>,
    hour: VecDeque<Instant>,
}

/// Shared request pacer; cheap to clone, clones share the budget.
#[derive(Clone, Debug)]
pub struct Pacer {
    plan: Plan,
    max_wait: Duration,
    window: Arc<Mutex<Window>>,
}

impl Pacer {
    /// A pacer for `plan`'s limits, waiting at most [`DEFAULT_MAX_WAIT`] for the hourly budget.
    pub fn new(plan: Plan) -> Self {
        Self {
            plan,
            max_wait: DEFAULT_MAX_WAIT,
            window: Arc::new(Mutex::new(Window {
                second: VecDeque::new(),
                hour: VecDeque::new(),
            })),
        }
    }

    /// Longest wait for the hourly budget before failing with `RateLimited`.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The plan whose limits apply.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// Requests sent in the last hour.
    pub fn sent_last_hour(&self) -> usize {
        let mut w = self.lock();
        prune(&mut w, Instant::now());
        w.hour.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long to wait before one more request fits, recording it when it fits now.
    fn try_take(&self, now: Instant) -> Option<Duration> {
        let mut w = self.lock();
        prune(&mut w, now);
        let wait_second = (w.second.len() >= self.plan.per_second())
            .then(|| {
                w.second
                    .front()
                    .map(|t| (*t + SECOND).saturating_duration_since(now))
            })
            .flatten();
        // Requests are also spread evenly over the second: a burst of the whole budget would
        // queue at Railway's edge, and queueing delays are what turn a kept limit into eleven
        // arrivals within one second there.
        let spacing = SECOND / self.plan.per_second().max(1) as u32;
        let wait_spacing = w
            .second
            .back()
            .map(|t| (*t + spacing).saturating_duration_since(now))
            .filter(|d| !d.is_zero());
        let wait_second = wait_second.max(wait_spacing);
        let wait_hour = (w.hour.len() >= self.plan.per_hour())
            .then(|| {
                w.hour
                    .front()
                    .map(|t| (*t + HOUR).saturating_duration_since(now))
            })
            .flatten();
        match wait_second.max(wait_hour) {
            Some(wait) => Some(wait.max(Duration::from_millis(1))),
            None => {
                w.second.push_back(now);
                w.hour.push_back(now);
                None
            }
        }
    }

    /// Waits until one more request fits the plan, then records it.
    pub async fn acquire(&self) -> Result<(), RailwayError> {
        loop {
            let Some(wait) = self.try_take(Instant::now()) else {
                return Ok(());
            };
            if wait > self.max_wait {
                return Err(RailwayError::RateLimited { retry_after: wait });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

fn prune(w: &mut Window, now: Instant) {
    while w
        .second
        .front()
        .is_some_and(|t| now.duration_since(*t) >= SECOND)
    {
        w.second.pop_front();
    }
    while w
        .hour
        .front()
        .is_some_and(|t| now.duration_since(*t) >= HOUR)
    {
        w.hour.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse() {
        assert_eq!(Plan::parse("Pro"), Some(Plan::Pro));
        assert_eq!(Plan::parse("hobby"), Some(Plan::Hobby));
        assert_eq!(Plan::parse("free"), Some(Plan::Free));
        assert_eq!(Plan::parse("team"), None);
        assert_eq!(Plan::default(), Plan::Hobby);
    }

    #[test]
    fn per_second_budget_spread_over_the_second() {
        let p = Pacer::new(Plan::Hobby);
        let t0 = Instant::now();
        let spacing = SECOND / 10;
        assert_eq!(p.try_take(t0), None);
        let wait = p.try_take(t0).expect("the second waits its turn");
        assert_eq!(wait, spacing);
        for i in 1..10 {
            assert_eq!(p.try_take(t0 + spacing * i), None, "{i}");
        }
        // Ten in the last 1.1 s: the eleventh waits until the first leaves the window.
        let wait = p.try_take(t0 + spacing * 10 - Duration::from_millis(1));
        assert!(wait.is_some(), "eleventh waits");
        assert_eq!(p.try_take(t0 + SECOND), None, "a window later it fits");
    }

    #[tokio::test]
    async fn hourly_budget_fails_with_retry_after() {
        let p = Pacer::new(Plan::Free);
        let t0 = Instant::now();
        for i in 0..100u64 {
            // Spread over time so only the hourly limit binds.
            assert_eq!(p.try_take(t0 + Duration::from_secs(2 * i)), None);
        }
        let wait = p
            .try_take(t0 + Duration::from_secs(300))
            .expect("101st waits");
        assert!(wait > Duration::from_secs(3000), "{wait:?}");
        match p.acquire().await {
            Err(RailwayError::RateLimited { retry_after }) => {
                assert!(retry_after > DEFAULT_MAX_WAIT)
            }
            other => panic!("{other:?}"),
        }
    }
}
