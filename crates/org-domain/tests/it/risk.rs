//! The risk engine of §16.3 (factors, capped score, the action table, flagging) and the
//! whole-result rules of the risk settings (§16.1).

use chrono::{DateTime, Duration, Utc};
use org_domain::risk::{
    DeviceKey, EnforcementMode, GeoPoint, LoginFacts, PastLogin, RiskAction, RiskFactor, RiskPolicy,
    RiskSettingsUpdate, action, assess, flagged, haversine_km, impossible_travel, new_device, score, velocity,
};
use org_domain::{DomainError, FieldError};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

const PARIS: GeoPoint = GeoPoint {
    lat: 48.8566,
    long: 2.3522,
};
const SYDNEY: GeoPoint = GeoPoint {
    lat: -33.8688,
    long: 151.2093,
};
const VERSAILLES: GeoPoint = GeoPoint {
    lat: 48.8049,
    long: 2.1204,
};

fn key(name: &str) -> Option<DeviceKey> {
    DeviceKey::of(Some(name), None, |_| unreachable!())
}

fn login(at: DateTime<Utc>, device: Option<DeviceKey>, geo: Option<GeoPoint>) -> LoginFacts {
    LoginFacts {
        at,
        has_user: true,
        device_key: device,
        geo,
    }
}

fn past(at: DateTime<Utc>, device: Option<DeviceKey>, geo: Option<GeoPoint>) -> PastLogin {
    PastLogin {
        at,
        success: true,
        device_key: device,
        geo,
    }
}

fn policy(mode: EnforcementMode) -> RiskPolicy {
    RiskPolicy {
        enforcement_mode: mode,
        ..RiskPolicy::DEFAULT
    }
}

#[test]
fn paris_then_sydney_ten_minutes_later_is_impossible_travel() {
    let history = [past(t0(), key("laptop"), Some(PARIS))];
    let now = login(t0() + Duration::minutes(10), key("laptop"), Some(SYDNEY));
    assert!(impossible_travel(&now, &history));
    let a = assess(&now, &history, &RiskPolicy::DEFAULT);
    assert_eq!(a.factors, [RiskFactor::ImpossibleTravel]);
    assert_eq!(a.score, 50);
}

#[test]
fn travel_needs_distance_speed_a_recent_success_and_coordinates() {
    let cases: Vec<(&str, Vec<PastLogin>, LoginFacts, bool)> = vec![
        (
            "Paris then Sydney 30 hours later: outside the 24 h window",
            vec![past(t0(), None, Some(PARIS))],
            login(t0() + Duration::hours(30), None, Some(SYDNEY)),
            false,
        ),
        (
            "Paris then Sydney 23 hours later: about 740 km/h, plausible",
            vec![past(t0(), None, Some(PARIS))],
            login(t0() + Duration::hours(23), None, Some(SYDNEY)),
            false,
        ),
        (
            "Paris then Versailles 1 second later: under 500 km",
            vec![past(t0(), None, Some(PARIS))],
            login(t0() + Duration::seconds(1), None, Some(VERSAILLES)),
            false,
        ),
        (
            "the previous located login failed: it places nobody",
            vec![PastLogin {
                success: false,
                ..past(t0(), None, Some(PARIS))
            }],
            login(t0() + Duration::minutes(10), None, Some(SYDNEY)),
            false,
        ),
        (
            "this login has no coordinates",
            vec![past(t0(), None, Some(PARIS))],
            login(t0() + Duration::minutes(10), None, None),
            false,
        ),
        (
            "the most recent located success counts, not an older one",
            vec![
                past(t0(), None, Some(PARIS)),
                past(t0() + Duration::hours(20), None, Some(SYDNEY)),
                past(t0() + Duration::hours(21), None, None),
            ],
            login(t0() + Duration::hours(21), None, Some(SYDNEY)),
            false,
        ),
        (
            "same instant: the elapsed time counts as 60 s",
            vec![past(t0(), None, Some(PARIS))],
            login(t0(), None, Some(SYDNEY)),
            true,
        ),
    ];
    for (name, history, now, expected) in cases {
        assert_eq!(impossible_travel(&now, &history), expected, "{name}");
    }
}

#[test]
fn haversine_paris_sydney_is_about_16960_km() {
    let d = haversine_km(PARIS, SYDNEY);
    assert!((16_900.0..17_000.0).contains(&d), "{d}");
    assert!(haversine_km(PARIS, PARIS).abs() < 1e-9);
}

#[test]
fn an_unknown_device_is_new_and_a_known_one_within_90_days_is_not() {
    let history = [
        past(t0() - Duration::days(10), key("phone"), None),
        past(t0() - Duration::days(100), key("old-laptop"), None),
        PastLogin {
            success: false,
            ..past(t0() - Duration::days(1), key("tablet"), None)
        },
    ];
    let cases = [
        ("a device seen 10 days ago", key("phone"), false),
        ("a device seen only 100 days ago", key("old-laptop"), true),
        ("a device seen only in a failed attempt", key("tablet"), true),
        ("a device never seen", key("desktop"), true),
        ("no device key at all", None, false),
    ];
    for (name, device, expected) in cases {
        assert_eq!(new_device(&login(t0(), device, None), &history), expected, "{name}");
    }
    let a = assess(&login(t0(), key("desktop"), None), &history, &RiskPolicy::DEFAULT);
    assert_eq!((a.score, a.factors), (20, vec![RiskFactor::NewDevice]));
}

#[test]
fn the_device_key_is_the_device_id_else_the_user_agent_digest_else_none() {
    let digest = |ua: &str| format!("sha({ua})");
    assert_eq!(
        DeviceKey::of(Some("d1"), Some("Mozilla"), digest).unwrap().as_str(),
        "id:d1"
    );
    assert_eq!(
        DeviceKey::of(None, Some("Mozilla"), digest).unwrap().as_str(),
        "ua:sha(Mozilla)"
    );
    assert_eq!(DeviceKey::of(None, None, digest), None);
    assert_eq!(DeviceKey::of(Some(""), Some(""), digest), None);
}

#[test]
fn a_burst_of_attempts_reaches_the_velocity_threshold() {
    let failed = |mins: i64| PastLogin {
        success: false,
        ..past(t0() - Duration::minutes(mins), None, None)
    };
    // Nine attempts in the last hour (one 61 minutes ago does not count): this is the tenth.
    let mut history: Vec<PastLogin> = (1..=9).map(failed).collect();
    history.push(failed(61));
    let now = login(t0(), None, None);
    assert!(velocity(&now, &history, 10));
    assert!(
        !velocity(&now, &history[1..], 10),
        "nine in the window, this one included"
    );
    let a = assess(&now, &history, &RiskPolicy::DEFAULT);
    assert_eq!((a.score, a.factors), (30, vec![RiskFactor::Velocity]));
    // An attempt without a user is scored on velocity only.
    let anonymous = LoginFacts {
        has_user: false,
        device_key: key("x"),
        geo: Some(SYDNEY),
        ..now
    };
    let a = assess(&anonymous, &history, &RiskPolicy::DEFAULT);
    assert_eq!(a.factors, vec![RiskFactor::Velocity]);
}

#[test]
fn all_three_factors_cap_the_score_at_100() {
    let history = [past(t0(), key("a"), Some(PARIS))];
    let p = RiskPolicy {
        velocity_threshold: 1,
        ..RiskPolicy::DEFAULT
    };
    let a = assess(
        &login(t0() + Duration::minutes(5), key("b"), Some(SYDNEY)),
        &history,
        &p,
    );
    assert_eq!(a.factors, RiskFactor::ALL);
    assert_eq!(a.score, 100);
}

#[test]
fn each_mode_maps_the_three_bands_to_its_actions() {
    use RiskAction::{Allow, Block, ChallengeMfa};
    // Defaults: low 30, medium 70. Scores below, in and above the middle band.
    let table = [
        (EnforcementMode::LogOnly, [Allow, Allow, Allow], [false, false, false]),
        (EnforcementMode::Monitor, [Allow, Allow, Allow], [false, true, true]),
        (
            EnforcementMode::Challenge,
            [Allow, ChallengeMfa, ChallengeMfa],
            [false, true, true],
        ),
        (
            EnforcementMode::Block,
            [Allow, ChallengeMfa, Block],
            [false, true, true],
        ),
    ];
    for (mode, actions, flags) in table {
        let p = policy(mode);
        for (i, s) in [29u8, 30, 70].into_iter().enumerate() {
            assert_eq!(action(s, &p), actions[i], "{} at {s}", mode.as_str());
            assert_eq!(flagged(s, &p), flags[i], "{} flag at {s}", mode.as_str());
        }
        assert_eq!(action(69, &p), actions[1], "{} at 69", mode.as_str());
    }
}

#[test]
fn a_partial_update_is_validated_against_the_stored_values() {
    let stored = RiskPolicy::DEFAULT; // low 30, medium 70
    type Case = (&'static str, RiskSettingsUpdate, Result<(), Vec<&'static str>>);
    let cases: Vec<Case> = vec![
        (
            "low above the stored medium",
            RiskSettingsUpdate {
                low_threshold: Some(80),
                ..Default::default()
            },
            Err(vec!["low_threshold"]),
        ),
        (
            "medium under the stored low",
            RiskSettingsUpdate {
                medium_threshold: Some(30),
                ..Default::default()
            },
            Err(vec!["medium_threshold"]),
        ),
        (
            "both moved together",
            RiskSettingsUpdate {
                low_threshold: Some(80),
                medium_threshold: Some(90),
                ..Default::default()
            },
            Ok(()),
        ),
        (
            "out-of-range values, each on its field",
            RiskSettingsUpdate {
                enforcement_mode: Some("strict".to_owned()),
                new_device_score: Some(101),
                velocity_threshold: Some(0),
                velocity_score: Some(-1),
                impossible_travel_score: Some(i64::MAX),
                ..Default::default()
            },
            Err(vec![
                "enforcement_mode",
                "new_device_score",
                "impossible_travel_score",
                "velocity_score",
                "velocity_threshold",
            ]),
        ),
        (
            "velocity threshold at its maximum",
            RiskSettingsUpdate {
                velocity_threshold: Some(10_000),
                ..Default::default()
            },
            Ok(()),
        ),
        (
            "velocity threshold above it",
            RiskSettingsUpdate {
                velocity_threshold: Some(10_001),
                ..Default::default()
            },
            Err(vec!["velocity_threshold"]),
        ),
    ];
    for (name, update, expected) in cases {
        let got = stored.merged(&update).map(|_| ()).map_err(|e| match e {
            DomainError::Validation(f) => f.into_iter().map(|FieldError { field, .. }| field).collect::<Vec<_>>(),
            other => panic!("{name}: {other:?}"),
        });
        let expected = expected.map_err(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn the_defaults_hold_the_rules_and_record_no_change_against_themselves() {
    assert_eq!(RiskPolicy::DEFAULT.check(), Ok(()));
    assert!(RiskPolicy::DEFAULT.changes_to(&RiskPolicy::DEFAULT).is_empty());
    let moved = RiskPolicy {
        low_threshold: 10,
        ..RiskPolicy::DEFAULT
    };
    let fields: Vec<&str> = RiskPolicy::DEFAULT.changes_to(&moved).iter().map(|c| c.field).collect();
    assert_eq!(fields, ["low_threshold"]);
}

fn any_policy() -> impl Strategy<Value = RiskPolicy> {
    (
        0..4usize,
        0u8..=100,
        0u8..=100,
        0u8..=100,
        0u8..=100,
        1u16..=10_000,
        0u8..=100,
    )
        .prop_map(|(m, low, medium, nd, it, vt, vs)| RiskPolicy {
            enforcement_mode: EnforcementMode::ALL[m],
            low_threshold: low.min(medium.saturating_sub(1)),
            medium_threshold: medium.max(1),
            new_device_score: nd,
            impossible_travel_score: it,
            velocity_threshold: vt,
            velocity_score: vs,
        })
}

fn any_factors() -> impl Strategy<Value = Vec<RiskFactor>> {
    proptest::sample::subsequence(RiskFactor::ALL.to_vec(), 0..=3)
}

fn any_point() -> impl Strategy<Value = GeoPoint> {
    (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, long)| GeoPoint { lat, long })
}

proptest! {
    #[test]
    fn the_score_never_drops_when_a_factor_is_added(p in any_policy(), factors in any_factors(), extra in 0..3usize) {
        let mut more = factors.clone();
        let f = RiskFactor::ALL[extra];
        if !more.contains(&f) {
            more.push(f);
        }
        prop_assert!(score(&factors, &p) <= score(&more, &p));
        prop_assert!(score(&more, &p) <= 100);
    }

    #[test]
    fn the_score_never_drops_when_a_factor_weighs_more(p in any_policy(), factors in any_factors(), which in 0..3usize, bump in 0u8..=100) {
        let mut heavier = p;
        match RiskFactor::ALL[which] {
            RiskFactor::NewDevice => heavier.new_device_score = p.new_device_score.max(bump),
            RiskFactor::ImpossibleTravel => heavier.impossible_travel_score = p.impossible_travel_score.max(bump),
            RiskFactor::Velocity => heavier.velocity_score = p.velocity_score.max(bump),
        }
        prop_assert!(score(&factors, &p) <= score(&factors, &heavier));
    }

    #[test]
    fn a_login_from_the_same_place_is_never_impossible_travel(here in any_point(), secs in 0i64..200_000) {
        let history = [past(t0(), None, Some(here))];
        let now = login(t0() + Duration::seconds(secs), None, Some(here));
        prop_assert!(!impossible_travel(&now, &history));
    }

    #[test]
    fn the_action_never_softens_as_the_score_rises(p in any_policy(), a in 0u8..=100, b in 0u8..=100) {
        let rank = |x: RiskAction| match x { RiskAction::Allow => 0, RiskAction::ChallengeMfa => 1, RiskAction::Block => 2 };
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(rank(action(lo, &p)) <= rank(action(hi, &p)));
    }

    #[test]
    fn a_valid_policy_survives_an_empty_update(p in any_policy()) {
        prop_assert_eq!(p.check(), Ok(()));
        prop_assert_eq!(p.merged(&RiskSettingsUpdate::default()), Ok(p));
    }
}
