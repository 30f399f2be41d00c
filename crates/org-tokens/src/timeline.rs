//! The signing-key timeline of §2.8: which stored key signs at a given time, which verify and
//! are published, and the times a rotation sets. Pure: the time is an argument.

use chrono::{DateTime, Duration, Utc};

use crate::Keys;

/// How long after a rotation the new key starts signing (it is published at once).
pub const ROTATION_DELAY: Duration = Duration::minutes(10);

/// How long after the last token of a key can expire the key keeps verifying.
pub const RETIREMENT_MARGIN: Duration = Duration::minutes(5);

/// One stored key and its timeline.
#[derive(Clone, Debug)]
pub struct TimedKey {
    /// The key (its own signing key only).
    pub keys: Keys,
    /// Published (JWKS, verification) from this time.
    pub published_at: DateTime<Utc>,
    /// Signs from this time…
    pub signs_from: DateTime<Utc>,
    /// …until this time (`None`: no end set yet).
    pub signs_until: Option<DateTime<Utc>>,
    /// Leaves the JWKS and the verification set at this time (`None`: not retiring).
    pub retire_after: Option<DateTime<Utc>>,
}

impl TimedKey {
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.published_at <= now && self.retire_after.is_none_or(|r| now < r)
    }

    fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.is_live(now) && self.signs_from <= now && self.signs_until.is_none_or(|u| now < u)
    }
}

/// The times a rotation at `now` sets: the new key's `signs_from`, and the old keys'
/// `signs_until` and `retire_after` (after the last token the old key signed has expired,
/// plus a margin).
pub fn rotation_times(now: DateTime<Utc>, access_ttl: Duration) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    let switch = now + ROTATION_DELAY;
    (switch, switch, switch + access_ttl + RETIREMENT_MARGIN)
}

/// The key set at `now`: the signing key is the live key that signs at `now` with the latest
/// `signs_from` (if none does, the live key with the latest `signs_from` that has started);
/// every other live key verifies and is published. `None` when no key is live.
pub fn key_set(keys: &[TimedKey], now: DateTime<Utc>) -> Option<Keys> {
    let mut live: Vec<&TimedKey> = keys.iter().filter(|k| k.is_live(now)).collect();
    live.sort_by_key(|k| std::cmp::Reverse(k.signs_from));
    let signer = live
        .iter()
        .find(|k| k.signs_at(now))
        .or_else(|| live.iter().find(|k| k.signs_from <= now))
        .or_else(|| live.last())?;
    let mut set = signer.keys.clone();
    for k in &live {
        if k.keys.kid() != signer.keys.kid() {
            set = set.with_verification_key(&k.keys);
        }
    }
    Some(set)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn a_rotation_publishes_at_once_switches_after_ten_minutes_and_retires_after_ttl_and_margin() {
        let old = Keys::generate();
        let new = Keys::generate();
        // Rotation at minute 100 with a 15-minute access TTL.
        let (signs_from, signs_until, retire_after) = rotation_times(at(100), Duration::minutes(15));
        assert_eq!((signs_from, signs_until, retire_after), (at(110), at(110), at(130)));
        let stored = [
            TimedKey {
                keys: old.clone(),
                published_at: at(0),
                signs_from: at(0),
                signs_until: Some(signs_until),
                retire_after: Some(retire_after),
            },
            TimedKey {
                keys: new.clone(),
                published_at: at(100),
                signs_from,
                signs_until: None,
                retire_after: None,
            },
        ];
        let both = vec![old.kid().to_owned(), new.kid().to_owned()];
        let table = [
            // (minute, signing kid, kids that verify and are published)
            (99, old.kid(), vec![old.kid().to_owned()]),
            (100, old.kid(), both.clone()),
            (109, old.kid(), both.clone()),
            (110, new.kid(), vec![new.kid().to_owned(), old.kid().to_owned()]),
            (129, new.kid(), vec![new.kid().to_owned(), old.kid().to_owned()]),
            (130, new.kid(), vec![new.kid().to_owned()]),
        ];
        for (minute, signer, mut kids) in table {
            let set = key_set(&stored, at(minute)).unwrap();
            assert_eq!(set.kid(), signer, "minute {minute}");
            let mut got = set.kids();
            got.sort();
            kids.sort();
            assert_eq!(got, kids, "minute {minute}");
            assert_eq!(set.jwks()["keys"].as_array().map(Vec::len), Some(kids.len()));
        }
        assert!(key_set(&[], at(0)).is_none());
    }

    #[test]
    fn two_rotations_in_a_row_keep_the_first_key_signing_until_its_switch() {
        let (a, b, c) = (Keys::generate(), Keys::generate(), Keys::generate());
        let ttl = Duration::minutes(15);
        let (b_from, a_until, a_retire) = rotation_times(at(10), ttl);
        let (c_from, b_until, b_retire) = rotation_times(at(12), ttl);
        let stored = [
            TimedKey {
                keys: a.clone(),
                published_at: at(0),
                signs_from: at(0),
                signs_until: Some(a_until),
                retire_after: Some(a_retire),
            },
            TimedKey {
                keys: b.clone(),
                published_at: at(10),
                signs_from: b_from,
                signs_until: Some(b_until),
                retire_after: Some(b_retire),
            },
            TimedKey {
                keys: c.clone(),
                published_at: at(12),
                signs_from: c_from,
                signs_until: None,
                retire_after: None,
            },
        ];
        assert_eq!(key_set(&stored, at(15)).unwrap().kid(), a.kid());
        assert_eq!(key_set(&stored, at(20)).unwrap().kid(), b.kid());
        assert_eq!(key_set(&stored, at(22)).unwrap().kid(), c.kid());
        assert_eq!(key_set(&stored, at(22)).unwrap().kids().len(), 3);
        assert_eq!(key_set(&stored, at(60)).unwrap().kids(), vec![c.kid().to_owned()]);
    }
}
