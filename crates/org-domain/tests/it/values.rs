//! Property tests: every value object accepts exactly its valid inputs and round-trips them.

use std::collections::BTreeSet;

use org_domain::{Capability, CapabilitySet, Email, OrgName, Role, RoleSlug, Slug};
use proptest::prelude::*;

const RESERVED: &[&str] = &[
    "api", "www", "mail", "ftp", "admin", "root", "support", "help", "docs", "blog", "news", "status", "health",
    "ping", "cdn", "assets", "static",
];

proptest! {
    #[test]
    fn valid_slugs_round_trip(s in "[a-z0-9][a-z0-9_-]{2,49}") {
        prop_assume!(!RESERVED.contains(&s.as_str()));
        let slug = Slug::parse(&s).unwrap();
        prop_assert_eq!(slug.as_str(), s.as_str());
    }

    #[test]
    fn slugs_with_a_bad_character_are_rejected(prefix in "[a-z0-9]{2,10}", bad in "[A-Z .@/é]", suffix in "[a-z0-9]{0,10}") {
        let input = format!("{prefix}{bad}{suffix}");
        prop_assert!(Slug::parse(&input).is_err());
    }

    #[test]
    fn slugs_of_the_wrong_length_are_rejected(s in "[a-z0-9]{0,2}|[a-z0-9]{51,80}") {
        prop_assert!(Slug::parse(&s).is_err());
    }

    #[test]
    fn slugs_starting_with_a_separator_are_rejected(s in "[-_][a-z0-9]{2,20}") {
        prop_assert!(Slug::parse(&s).is_err());
    }

    #[test]
    fn org_names_are_trimmed_and_round_trip(core in "[A-Za-z0-9][A-Za-z0-9 &.'é日本-]{0,97}[A-Za-z0-9]", pad in "[ \t]{0,3}") {
        let name = OrgName::parse(&format!("{pad}{core}{pad}")).unwrap();
        prop_assert_eq!(name.as_str(), core.as_str());
        prop_assert_eq!(OrgName::parse(name.as_str()).unwrap(), name);
    }

    #[test]
    fn org_names_with_control_characters_are_rejected(a in "[a-z]{2,10}", c in "[\u{0}-\u{1f}\u{7f}]", b in "[a-z]{2,10}") {
        let input = format!("{a}{c}{b}");
        prop_assert!(OrgName::parse(&input).is_err());
    }

    #[test]
    fn org_names_of_the_wrong_length_are_rejected(s in "[a-z]{0,1}|[a-z]{101,140}", pad in " {0,5}") {
        let input = format!("{pad}{s}{pad}");
        prop_assert!(OrgName::parse(&input).is_err());
    }

    #[test]
    fn emails_are_normalised_case_insensitively(local in "[a-zA-Z0-9._%+-]{1,30}", domain in "[a-zA-Z0-9-]{1,20}\\.[a-zA-Z]{2,6}", pad in " {0,2}") {
        let raw = format!("{pad}{local}@{domain}{pad}");
        let email = Email::parse(&raw).unwrap();
        let expected = format!("{local}@{domain}").to_lowercase();
        prop_assert_eq!(email.as_str(), expected.as_str());
        prop_assert_eq!(Email::parse(&raw.to_uppercase()).unwrap(), email.clone());
        prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
    }

    #[test]
    fn strings_without_exactly_one_at_are_not_emails(s in "[a-z0-9.]{1,30}", t in "[a-z0-9.]{1,10}") {
        prop_assert!(Email::parse(&s).is_err());
        let input = format!("{s}@{t}@{t}");
        prop_assert!(Email::parse(&input).is_err());
        let input = format!("@{t}");
        prop_assert!(Email::parse(&input).is_err());
        let input = format!("{s}@");
        prop_assert!(Email::parse(&input).is_err());
    }

    #[test]
    fn role_slugs_round_trip_and_built_in_names_are_refused(s in "[a-z0-9_-]{2,50}") {
        let parsed = RoleSlug::parse(&s);
        if matches!(s.as_str(), "owner" | "admin" | "member") {
            prop_assert!(parsed.is_err());
        } else {
            let slug = parsed.unwrap();
            prop_assert_eq!(slug.as_str(), s.as_str());
            prop_assert_eq!(Role::parse(&s).unwrap(), Role::Custom(slug));
        }
    }

    #[test]
    fn role_slugs_of_the_wrong_shape_are_rejected(s in "[a-z]{0,1}|[a-z]{51,60}|[a-z]{1,5}[A-Z. ][a-z]{1,5}") {
        prop_assert!(RoleSlug::parse(&s).is_err());
    }

    #[test]
    fn unknown_capability_strings_are_rejected(s in "[a-z_.]{1,30}") {
        let known = Capability::ALL.iter().any(|c| c.as_str() == s);
        prop_assert_eq!(Capability::parse(&s).is_some(), known);
    }

    #[test]
    fn capability_sets_behave_like_sets(a in proptest::collection::vec(0..19_usize, 0..19), b in proptest::collection::vec(0..19_usize, 0..19)) {
        let to_set = |v: &[usize]| v.iter().map(|i| Capability::ALL[*i]).collect::<CapabilitySet>();
        let model = |v: &[usize]| v.iter().copied().collect::<BTreeSet<usize>>();
        let (sa, sb) = (to_set(&a), to_set(&b));
        prop_assert_eq!(sa.is_subset_of(sb), model(&a).is_subset(&model(&b)));
        prop_assert_eq!(sa.iter().count(), model(&a).len());
        prop_assert!(sa.is_subset_of(sa.resolved()));
    }
}

#[test]
fn every_capability_round_trips_and_four_are_owner_only() {
    for c in Capability::ALL {
        assert_eq!(Capability::parse(c.as_str()), Some(c));
    }
    let owner_only: Vec<&str> = Capability::ALL
        .iter()
        .filter(|c| !c.is_grantable())
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        owner_only,
        [
            "org.delete",
            "org.ownership.transfer",
            "org.admins.manage",
            "billing.credentials.manage"
        ]
    );
    assert_eq!(CapabilitySet::grantable().iter().count(), 15);
    assert_eq!(CapabilitySet::all().iter().count(), 19);
}

#[test]
fn implications_are_applied_when_resolving() {
    let set: CapabilitySet = [
        Capability::ServicesManage,
        Capability::EndUsersManage,
        Capability::RiskPoliciesManage,
    ]
    .into_iter()
    .collect();
    let resolved = set.resolved();
    for c in [
        Capability::ServicesView,
        Capability::EndUsersView,
        Capability::RiskEventsView,
    ] {
        assert!(resolved.contains(c), "{c}");
    }
    assert!(!CapabilitySet::EMPTY.resolved().contains(Capability::ServicesView));
}

#[test]
fn reserved_slugs_are_refused() {
    for r in RESERVED {
        assert!(Slug::parse(r).is_err(), "{r}");
    }
}
