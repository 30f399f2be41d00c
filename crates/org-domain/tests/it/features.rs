//! Feature resolution (§22.2) and the feature gate (§22.4): one mechanism for every gated
//! operation.

use org_domain::{DomainError, Feature, FeatureOverrides, Features, Tier};

fn tier(name: &str) -> Tier {
    Tier::defaults()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| Tier::defaults()[0].clone())
}

#[test]
fn effective_features_are_the_tier_s_unless_an_override_says_otherwise() {
    let free = tier("free");
    let pro = tier("pro");
    assert!(!Features::effective(Some(&free), None).allows(Feature::CustomDomain));
    assert!(Features::effective(Some(&pro), None).allows(Feature::Branding));
    let grant = FeatureOverrides {
        allow_custom_domain: Some(true),
        ..FeatureOverrides::default()
    };
    let on_free = Features::effective(Some(&free), Some(&grant));
    assert!(on_free.allows(Feature::CustomDomain));
    assert!(!on_free.allows(Feature::Branding));
    let withhold = FeatureOverrides {
        allow_branding: Some(false),
        allow_scim: Some(false),
        ..FeatureOverrides::default()
    };
    let on_pro = Features::effective(Some(&pro), Some(&withhold));
    assert!(!on_pro.allows(Feature::Branding) && !on_pro.allows(Feature::Scim));
    assert!(on_pro.allows(Feature::CustomDomain));
}

#[test]
fn an_unknown_tier_allows_only_what_the_overrides_grant() {
    assert_eq!(Features::effective(None, None), Features::none());
    let grant = FeatureOverrides {
        allow_siem: Some(true),
        ..FeatureOverrides::default()
    };
    assert!(Features::effective(None, Some(&grant)).allows(Feature::Siem));
}

#[test]
fn the_gate_names_the_feature_with_the_contract_s_wording() {
    let none = Features::none();
    for (feature, name) in [
        (Feature::CustomDomain, "Custom Domain"),
        (Feature::Branding, "Custom Branding"),
        (Feature::Scim, "SCIM Provisioning"),
        (Feature::Siem, "Log Streaming (SIEM)"),
    ] {
        let err = none.gate(feature).unwrap_err();
        assert_eq!(err, DomainError::FeatureNotInTier(feature));
        assert_eq!(
            err.to_string(),
            format!("The feature '{name}' is not available on your current plan")
        );
    }
    assert_eq!(
        Features::effective(Some(&tier("enterprise")), None).gate(Feature::Siem),
        Ok(())
    );
}
