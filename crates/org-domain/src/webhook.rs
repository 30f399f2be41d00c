//! Webhook endpoints and their deliveries (§9): subscription rules, the retry schedule of
//! §9.7 and the auto-disable rule. Secrets are opaque strings here; adapters encrypt them.

use chrono::{DateTime, Duration, Utc};

use crate::error::{DomainError, FieldError};

/// Why an endpoint was disabled by the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisabledReason {
    /// Failed attempts and no success for 5 consecutive days.
    Failing,
    /// The receiver answered 410 Gone.
    Gone,
}

impl DisabledReason {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Gone => "gone",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Failing, Self::Gone].into_iter().find(|r| r.as_str() == text)
    }
}

/// Delivery status (§9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Attempts per delivery (§9.7).
pub const MAX_ATTEMPTS: u32 = 8;

/// Delay before attempt `n + 1` after `n` failed attempts (§9.7), before jitter: immediately,
/// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. `None` once all 8 attempts are used.
pub fn base_delay(failed_attempts: u32) -> Option<Duration> {
    let secs = match failed_attempts {
        0 => 0,
        1 => 5,
        2 => 5 * 60,
        3 => 30 * 60,
        4 => 2 * 3600,
        5 => 5 * 3600,
        6 | 7 => 10 * 3600,
        _ => return None,
    };
    Some(Duration::seconds(secs))
}

/// When the next attempt is due after a failure at `now`. `jitter` in `[0, 1)` adds up to 10 %
/// of the delay; a `Retry-After` (429/503) lengthens it, capped at 24 h.
pub fn next_attempt_at(
    failed_attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Option<DateTime<Utc>> {
    let base = base_delay(failed_attempts)?;
    let jitter_ms = (base.num_milliseconds() as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
    let mut delay = base + Duration::milliseconds(jitter_ms);
    if let Some(ra) = retry_after {
        delay = delay.max(ra.min(Duration::hours(24)));
    }
    Some(now + delay)
}

/// An endpoint fails for good after this long without a success (§9.7).
pub const FAILING_WINDOW_DAYS: i64 = 5;

/// Whether an endpoint failing since `failing_since` is to be disabled at `now`.
pub fn should_auto_disable(failing_since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    failing_since.is_some_and(|since| now - since >= Duration::days(FAILING_WINDOW_DAYS))
}

/// Parses a webhook name: trimmed, 1–100 characters.
pub fn webhook_name(input: &str) -> Result<String, FieldError> {
    let t = input.trim();
    let n = t.chars().count();
    if n == 0 || n > 100 || t.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(t.to_owned())
}

/// Validates a subscription list against the subscribable types: at least one, each known;
/// duplicates collapse (order kept).
pub fn subscription(events: &[String], known: &[&str]) -> Result<Vec<String>, DomainError> {
    if events.is_empty() {
        return Err(DomainError::invalid("events", "subscribe to at least one event type"));
    }
    let mut errors = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if !known.contains(&e.as_str()) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("unknown event type '{e}'"),
            ));
        } else if !out.contains(e) {
            out.push(e.clone());
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(DomainError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default()
    }

    #[test]
    fn the_schedule_has_eight_attempts_with_the_contract_delays() {
        let delays: Vec<i64> = (0..8).map(|n| base_delay(n).map_or(-1, |d| d.num_seconds())).collect();
        assert_eq!(delays, [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert_eq!(base_delay(8), None);
        assert_eq!(next_attempt_at(8, t0(), 0.0, None), None);
    }

    #[test]
    fn jitter_adds_at_most_ten_percent_and_retry_after_lengthens_up_to_a_day() {
        let at = |j, ra| {
            next_attempt_at(2, t0(), j, ra)
                .map(|d| (d - t0()).num_seconds())
                .unwrap_or_default()
        };
        assert_eq!(at(0.0, None), 300);
        assert_eq!(at(0.999_999, None), 329);
        assert_eq!(
            at(0.0, Some(Duration::seconds(10))),
            300,
            "a shorter Retry-After does not shorten"
        );
        assert_eq!(at(0.0, Some(Duration::hours(3))), 3 * 3600);
        assert_eq!(at(0.0, Some(Duration::days(9))), 86_400);
    }

    #[test]
    fn endpoints_failing_for_five_days_are_disabled() {
        assert!(!should_auto_disable(None, t0()));
        assert!(!should_auto_disable(
            Some(t0()),
            t0() + Duration::days(5) - Duration::seconds(1)
        ));
        assert!(should_auto_disable(Some(t0()), t0() + Duration::days(5)));
    }

    #[test]
    fn subscriptions_must_name_known_types_and_collapse_duplicates() {
        let known = ["member.added", "role.created"];
        let ok = subscription(
            &["role.created".into(), "member.added".into(), "role.created".into()],
            &known,
        );
        assert_eq!(ok, Ok(vec!["role.created".to_owned(), "member.added".to_owned()]));
        assert!(subscription(&[], &known).is_err());
        let fields = match subscription(&["x".into(), "member.added".into(), "webhook.test.ping".into()], &known) {
            Err(DomainError::Validation(e)) => e.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => vec![format!("{other:?}")],
        };
        assert_eq!(fields, ["events[0]", "events[2]"]);
    }
}
