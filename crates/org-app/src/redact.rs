//! Recursive redaction of audit metadata (§8.4).

use serde_json::Value;

const SECRET_WORDS: &[&str] = &[
    "password",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "header",
    "headers",
    "bearer",
    "cookie",
    "otp",
    "apikey",
    "privatekey",
    "dsn",
];
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("signing", "key"),
    ("backup", "code"),
    ("backup", "codes"),
    ("recovery", "code"),
    ("recovery", "codes"),
];
const SAFE_SUFFIXES: &[&str] = &["id", "type", "count", "prefix", "status", "expires_at"];

fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if c == '_' || c == '-' || c == '.' || c == ' ' {
            out.push(std::mem::take(&mut cur));
            prev_lower = false;
        } else if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut cur));
            cur.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            cur.extend(c.to_lowercase());
        }
    }
    out.push(cur);
    out.retain(|w| !w.is_empty());
    out
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_lowercase();
    if SAFE_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
        return false;
    }
    let w = words(key);
    w.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || w.windows(2)
            .any(|p| SECRET_PAIRS.contains(&(p[0].as_str(), p[1].as_str())))
}

/// Replaces the value of every secret-looking key with `"[REDACTED]"`, recursively.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(&k) {
                        Value::String("[REDACTED]".to_owned())
                    } else {
                        redact(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_redacted_recursively_and_safe_suffixes_are_kept() {
        let input = json!({
            "password": "p", "client_secret": "s", "nested": {"apiKey": "k", "api_key": "k2", "token_prefix": "abc"},
            "list": [{"Authorization": "Bearer x"}], "session_id": "keep", "token_count": 3, "name": "keep",
            "signing_key": "x", "backup_codes": ["1"], "secret_expires_at": "2025"
        });
        let out = redact(input);
        assert_eq!(out["password"], "[REDACTED]");
        assert_eq!(out["client_secret"], "[REDACTED]");
        assert_eq!(out["nested"]["apiKey"], "[REDACTED]");
        assert_eq!(out["nested"]["api_key"], "[REDACTED]");
        assert_eq!(out["nested"]["token_prefix"], "abc");
        assert_eq!(out["list"][0]["Authorization"], "[REDACTED]");
        assert_eq!(out["session_id"], "keep");
        assert_eq!(out["token_count"], 3);
        assert_eq!(out["name"], "keep");
        assert_eq!(out["signing_key"], "[REDACTED]");
        assert_eq!(out["backup_codes"], "[REDACTED]");
        assert_eq!(out["secret_expires_at"], "2025");
    }
}
