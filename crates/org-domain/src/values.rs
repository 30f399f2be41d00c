//! Constrained value objects, parsed at construction (contract §1.2, §3.4, §4.2, §7).

use std::fmt;

use crate::error::FieldError;

const RESERVED_SLUGS: &[&str] = &[
    "api", "www", "mail", "ftp", "admin", "root", "support", "help", "docs", "blog", "news", "status", "health",
    "ping", "cdn", "assets", "static",
];

fn char_len(s: &str) -> usize {
    s.chars().count()
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_value!(/// Organization slug: `^[a-z0-9][a-z0-9_-]{2,49}$`, not reserved (§4.2).
    Slug);
string_value!(/// Organization name: trimmed, 2–100 characters, no control characters (§4.2).
    OrgName);
string_value!(/// E-mail address, trimmed and lower-cased; comparisons are case-insensitive (§1.2).
    Email);
string_value!(/// Custom role slug: `^[a-z0-9_-]{2,50}$`, not a built-in role name (§3.4).
    RoleSlug);
string_value!(/// Custom role name: trimmed, 1–100 characters, no control characters (§7).
    RoleName);
string_value!(/// Custom role description: at most 500 characters (§7).
    Description);

impl Slug {
    /// Parses an organization slug.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let len = input.len();
        let mut chars = input.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = input
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !(3..=50).contains(&len) || !first_ok || !rest_ok {
            return Err(FieldError::new(
                "slug",
                "must be 3-50 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
            ));
        }
        if RESERVED_SLUGS.contains(&input) {
            return Err(FieldError::new("slug", format!("'{input}' is a reserved slug")));
        }
        Ok(Self(input.to_owned()))
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

impl OrgName {
    /// Parses an organization name (trimmed first).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        if !(2..=100).contains(&char_len(trimmed)) {
            return Err(FieldError::new("name", "must be 2-100 characters"));
        }
        if has_control(trimmed) {
            return Err(FieldError::new("name", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl RoleName {
    /// Parses a custom role name (trimmed first).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        if !(1..=100).contains(&char_len(trimmed)) {
            return Err(FieldError::new("name", "must be 1-100 characters"));
        }
        if has_control(trimmed) {
            return Err(FieldError::new("name", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Case-insensitive key used for name uniqueness among an org's custom roles.
    pub fn unique_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl Description {
    /// Parses a description of at most 500 characters.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        if char_len(input) > 500 {
            return Err(FieldError::new("description", "must be at most 500 characters"));
        }
        Ok(Self(input.to_owned()))
    }
}

impl RoleSlug {
    /// Parses a custom role slug.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let ok = (2..=50).contains(&input.len())
            && input
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(FieldError::new(
                "slug",
                "must be 2-50 characters of a-z, 0-9, '-' or '_'",
            ));
        }
        if matches!(input, "owner" | "admin" | "member") {
            return Err(FieldError::new("slug", format!("'{input}' is a built-in role")));
        }
        Ok(Self(input.to_owned()))
    }
}

impl Email {
    /// Parses and normalises an e-mail address: trimmed, lower-cased, `local@domain`, ≤ 254.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let normalised = input.trim().to_lowercase();
        let invalid = || FieldError::new("email", "must be a valid e-mail address");
        if normalised.is_empty() || char_len(&normalised) > 254 {
            return Err(invalid());
        }
        let (local, domain) = normalised.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        let no_bad_chars = !normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
        if local.is_empty() || local.len() > 64 || !domain_ok || !no_bad_chars {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }
}
