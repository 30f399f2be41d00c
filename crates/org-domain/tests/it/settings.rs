//! The value rules of the org's singleton settings: domain names (§14), logo URLs and colours
//! (§15), as tables of accepted and refused inputs.

use org_domain::DomainError;
use org_domain::branding::{logo_url, primary_color};
use org_domain::custom_domain::DomainName;

#[test]
fn domain_names_are_normalised_or_refused_by_the_syntax_of_section_14() {
    let accepted = [
        ("example.com", "example.com"),
        ("  Login.Example.COM.  ", "login.example.com"),
        ("a-b.c0.io", "a-b.c0.io"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("1.2.3.example", "1.2.3.example"),
    ];
    for (input, want) in accepted {
        assert_eq!(
            DomainName::parse(input).map(|d| d.as_str().to_owned()),
            Ok(want.to_owned()),
            "{input:?}"
        );
    }
    let long_label = format!("{}.com", "a".repeat(64));
    let too_long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
    let refused = [
        "",
        ".",
        "com",
        "localhost",
        "a..com",
        ".a.com",
        "-a.com",
        "a-.com",
        "a_b.com",
        "a b.com",
        "a/b.com",
        "a:b.com",
        "u@a.com",
        "a\\b.com",
        "1.2.3.4",
        "a.123",
        "bücher.de",
        &long_label,
        &too_long,
    ];
    for input in refused {
        match DomainName::parse(input) {
            Err(DomainError::Validation(fields)) => {
                let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(named, ["domain"], "{input:?}");
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }
    let d = DomainName::parse("example.com").unwrap();
    assert_eq!(d.txt_record_name(), "_sso-verification.example.com");
}

#[test]
fn logo_urls_are_absolute_https_without_user_info() {
    for ok in [
        "https://cdn.example.com/logo.png",
        "HTTPS://cdn.example.com",
        "https://cdn.example.com:8443/a?b=c#d",
        "https://[2001:db8::1]/x.svg",
    ] {
        assert_eq!(logo_url(ok).as_deref(), Ok(ok), "{ok}");
    }
    let at_limit = format!("https://cdn.example.com/{}", "a".repeat(2048 - 24));
    assert_eq!(at_limit.chars().count(), 2048);
    assert!(logo_url(&at_limit).is_ok());
    let over = format!("{at_limit}a");
    for bad in [
        "http://cdn.example.com/logo.png",
        "ftp://cdn.example.com/logo.png",
        "//cdn.example.com/logo.png",
        "/logo.png",
        "https://user:pw@cdn.example.com/logo.png",
        "https://user@cdn.example.com/",
        "https:///logo.png",
        "https://cdn.example.com/a b.png",
        over.as_str(),
    ] {
        assert!(logo_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn colours_are_three_or_six_hex_digits_kept_lower_case() {
    for (input, want) in [("#abc", "#abc"), ("#ABC", "#abc"), ("#00FFaa", "#00ffaa")] {
        assert_eq!(primary_color(input).as_deref(), Ok(want));
    }
    for bad in ["abc", "#ab", "#abcd", "#abcdefa", "#ggg", "red", "", "# abc"] {
        assert!(primary_color(bad).is_err(), "{bad:?}");
    }
}
