//! Retries of transient failures with exponential backoff, and parsing of
//! the `Retry-After` header.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{BackendError, Client, GenerateRequest, Generation};

/// Largest share of a backoff delay removed at random, so clients that
/// failed together do not retry together.
const JITTER: f64 = 0.2;

/// How often and how long to retry transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included. 0 counts as 1.
    pub max_attempts: u32,
    /// Delay after the first failed attempt, doubled after each further one.
    pub base_delay: Duration,
    /// Upper limit of a delay, also for a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Returns the delay after failed attempt number `attempt` (counting
    /// from 1) without jitter: `base_delay * 2^(attempt - 1)`, at most
    /// `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Returns the delay before the next attempt after failed attempt number
    /// `attempt`: the backoff less up to 20 % at random, but no less than the
    /// error's `Retry-After` (itself capped at `max_delay`).
    pub fn delay_after(&self, attempt: u32, error: &BackendError) -> Duration {
        let backoff = self
            .backoff(attempt)
            .mul_f64(1.0 - JITTER * fastrand::f64());
        match error.retry_after() {
            Some(wait) => backoff.max(wait.min(self.max_delay)),
            None => backoff,
        }
    }
}

/// A retry about to happen, passed to the callback of [`generate_with_retry`].
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// Number of the attempt that failed, counting from 1.
    pub attempt: u32,
    /// The error of the failed attempt.
    pub error: &'a BackendError,
    /// Wait before the next attempt.
    pub delay: Duration,
}

/// Result of [`generate_with_retry`].
#[derive(Debug)]
pub struct RetryOutcome {
    /// The generation, or the error of the last attempt.
    pub result: Result<Generation, BackendError>,
    /// Attempts made, at least 1.
    pub attempts: u32,
}

/// Sends a generation, retrying transient failures with exponential backoff
/// up to `policy.max_attempts` attempts.
///
/// Model-not-found, permanent errors and cancellation end it at once.
/// `on_retry` is called before each wait, after the retry is logged with
/// `warn!`. Cancelling `cancel` during a wait ends it with
/// [`BackendError::Cancelled`].
pub async fn generate_with_retry<F>(
    client: &Client,
    request: &GenerateRequest,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut on_retry: F,
) -> RetryOutcome
where
    F: FnMut(&RetryEvent<'_>),
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match client.generate(request, cancel).await {
            Ok(generation) => {
                return RetryOutcome {
                    result: Ok(generation),
                    attempts: attempt,
                };
            }
            Err(error) => error,
        };
        if !error.is_transient() || attempt >= max_attempts {
            return RetryOutcome {
                result: Err(error),
                attempts: attempt,
            };
        }

        let delay = policy.delay_after(attempt, &error);
        warn!(
            model = %request.model,
            url = %error.url(),
            attempt,
            max_attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "generation failed, retrying"
        );
        on_retry(&RetryEvent {
            attempt,
            error: &error,
            delay,
        });
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                return RetryOutcome {
                    result: Err(BackendError::Cancelled {
                        url: error.url().to_owned(),
                        model: Some(request.model.clone()),
                    }),
                    attempts: attempt,
                };
            }
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Parses a `Retry-After` header: delay-seconds (`"120"`) or an HTTP date,
/// which counts from now and gives zero when past. Returns `None` when the
/// value is neither.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TransientKind;

    fn transient(retry_after: Option<Duration>) -> BackendError {
        BackendError::Transient {
            kind: TransientKind::Status,
            url: "http://127.0.0.1:1/api/generate".to_owned(),
            model: Some("m".to_owned()),
            status: Some(503),
            detail: "busy".to_owned(),
            retry_after,
        }
    }

    #[test]
    fn backoff_doubles_up_to_cap() {
        let policy = RetryPolicy::default();
        let ms: Vec<u128> = (1..=9).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(
            ms,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(policy.backoff(200), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_a_fifth_below() {
        let policy = RetryPolicy::default();
        for attempt in 1..=8 {
            let full = policy.backoff(attempt);
            for _ in 0..50 {
                let delay = policy.delay_after(attempt, &transient(None));
                assert!(delay <= full, "attempt {attempt}: {delay:?} > {full:?}");
                assert!(
                    delay >= full.mul_f64(0.8),
                    "attempt {attempt}: {delay:?} too short"
                );
            }
        }
    }

    #[test]
    fn retry_after_sets_minimum_up_to_cap() {
        let policy = RetryPolicy::default();
        let delay = policy.delay_after(1, &transient(Some(Duration::from_secs(7))));
        assert_eq!(delay, Duration::from_secs(7));
        let delay = policy.delay_after(1, &transient(Some(Duration::from_secs(3600))));
        assert_eq!(delay, Duration::from_secs(30));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = SystemTime::now() + Duration::from_secs(100);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            parsed > Duration::from_secs(90) && parsed <= Duration::from_secs(100),
            "{parsed:?}"
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
