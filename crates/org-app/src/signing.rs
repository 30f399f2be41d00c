//! Webhook signatures (§9.6): the compat `X-Webhook-Signature` and Standard Webhooks
//! `webhook-signature`, both HMAC-SHA256 over the exact bytes sent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `sha256=<hex>` of HMAC-SHA256 keyed with the whole secret string (`whsec_…`) over the body.
pub fn compat_signature(secret: &str, body: &[u8]) -> String {
    let mac = hmac(secret.as_bytes(), &[body]);
    format!("sha256={}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The signing key of a `whsec_` secret: the base64 decoding of the part after the prefix.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()
}

/// `v1,<base64>` entries, one per secret (newest first), space-separated, over
/// `<id>.<timestamp>.<body>`.
pub fn standard_signature(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    secrets
        .iter()
        .filter_map(|s| secret_key(s))
        .map(|key| {
            format!(
                "v1,{}",
                STANDARD.encode(hmac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let sig = standard_signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn compat_signature_is_hex_hmac_keyed_with_the_whole_secret() {
        // RFC 4231 test case 2 (key "Jefe"), wrapped in the compat format.
        assert_eq!(
            compat_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_rotation_overlap_signs_with_every_secret_newest_first() {
        let (new, old) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_dGhlIG9sZCBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=",
        );
        let both = standard_signature(&[new, old], "id", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(
            parts,
            [
                standard_signature(&[new], "id", 1, b"{}"),
                standard_signature(&[old], "id", 1, b"{}")
            ]
        );
    }
}
