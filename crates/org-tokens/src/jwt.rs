//! Access tokens as JWTs (§2.1): signing, and validation of steps 1–4 in the contract's order
//! (size and shape, header, signature and issuer, times).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation};
use org_ports::{AccessClaims, TokenRejection};
use serde::{Deserialize, Serialize};

use crate::keys::Keys;

/// Tokens larger than this are refused before parsing (§2.1 step 1).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Leeway for `exp`, `iat` and `nbf`.
const LEEWAY_SECS: i64 = 60;
/// The `typ` header of access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims as they are serialized in a token (§2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    sub: String,
    email: String,
    is_platform_owner: bool,
    jti: String,
    sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    aud: String,
    iss: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

impl From<&AccessClaims> for Wire {
    fn from(c: &AccessClaims) -> Self {
        Self {
            sub: c.sub.clone(),
            email: c.email.clone(),
            is_platform_owner: c.is_platform_owner,
            jti: c.jti.clone(),
            sid: c.sid.clone(),
            org: c.org.clone(),
            service: c.service.clone(),
            aud: c.aud.clone(),
            iss: c.iss.clone(),
            iat: c.iat,
            exp: c.exp,
            nbf: c.nbf,
        }
    }
}

impl From<Wire> for AccessClaims {
    fn from(w: Wire) -> Self {
        Self {
            sub: w.sub,
            email: w.email,
            is_platform_owner: w.is_platform_owner,
            jti: w.jti,
            sid: w.sid,
            org: w.org,
            service: w.service,
            aud: w.aud,
            iss: w.iss,
            iat: w.iat,
            exp: w.exp,
            nbf: w.nbf,
        }
    }
}

/// Signs claims with the signing key (also used by tests to forge edge cases).
pub fn sign(keys: &Keys, claims: &AccessClaims) -> String {
    let mut header = Header::new(keys.alg().jwt());
    header.kid = Some(keys.kid().to_owned());
    header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
    jsonwebtoken::encode(&header, &Wire::from(claims), keys.encoding()).unwrap_or_default()
}

fn is_b64url(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates steps 1–4 of §2.1 (the audience and the session are checked by the caller).
pub fn validate(keys: &Keys, issuer: &str, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejection> {
    let claims = verify_signed(keys, issuer, token)?;
    check_times(&claims, now)?;
    Ok(claims)
}

/// Steps 1–3 of §2.1: size and shape, header, signature and issuer. A pure function of the
/// token and the key set, so its result may be kept for as long as the key set stands.
pub(crate) fn verify_signed(keys: &Keys, issuer: &str, token: &str) -> Result<AccessClaims, TokenRejection> {
    // 1. Size and shape.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::Invalid("token too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_b64url(p)) {
        return Err(TokenRejection::Invalid("malformed token"));
    }
    // 2. Header: algorithm, key id, no key-carrying headers, type.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid("malformed token header"))?;
    // Only the algorithm of the configured signing key (§2.1, §21.8).
    let alg = keys.alg().jwt();
    if header.alg != alg {
        return Err(TokenRejection::Invalid("algorithm not accepted"));
    }
    let Some(key) = header.kid.as_deref().and_then(|kid| keys.decoding(kid)) else {
        return Err(TokenRejection::Invalid("unknown key id"));
    };
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
        return Err(TokenRejection::Invalid("forbidden token header"));
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenRejection::Invalid("wrong token type"));
    }
    // 3. Signature and issuer (times are checked below, in the contract's order).
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<Wire>(token, key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => TokenRejection::Invalid("wrong issuer"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::Invalid("invalid signature"),
            _ => TokenRejection::Invalid("invalid token"),
        })?
        .claims;
    Ok(claims.into())
}

/// Step 4 of §2.1: `exp` (with leeway), `iat` not in the future, `nbf` reached.
pub(crate) fn check_times(claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenRejection> {
    let now = now.timestamp();
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenRejection::Expired);
    }
    if claims.iat > now.saturating_add(LEEWAY_SECS) {
        return Err(TokenRejection::Invalid("token issued in the future"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(TokenRejection::Invalid("token not yet valid"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The pure checks of §2.1 steps 1–4, in the contract's order, and the `JwtTokens`
    //! memory of verified signatures. What these refusals look like on the wire (401
    //! `JWT_ERROR` / `TOKEN_EXPIRED`) is tested through HTTP in `org-http`.

    use std::sync::OnceLock;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{DateTime, Duration, Utc};
    use org_ports::{AccessClaims, AccessTokens, TokenRejection};
    use serde_json::{Value, json};

    use super::{ACCESS_TOKEN_TYP, sign, validate};
    use crate::{JwtTokens, Keys, SigningAlg};

    const ISSUER: &str = "https://id.test";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn claims() -> AccessClaims {
        let iat = now().timestamp();
        AccessClaims {
            sub: "0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e11".into(),
            email: "owner@acme.test".into(),
            is_platform_owner: false,
            jti: "0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e12".into(),
            sid: "0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e13".into(),
            org: None,
            service: None,
            aud: "platform".into(),
            iss: ISSUER.into(),
            iat,
            exp: iat + 900,
            nbf: None,
        }
    }

    /// One RSA key per test process: generating it is slow in debug builds.
    fn rsa() -> Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys::generate_for(SigningAlg::RS256).unwrap())
            .clone()
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn part(token: &str, i: usize) -> String {
        token.split('.').nth(i).unwrap().to_owned()
    }

    /// `token` with its header replaced (the signature no longer matches, which the header
    /// checks come before).
    fn with_header(token: &str, header: Value) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
        parts.join(".")
    }

    fn with_payload(token: &str, payload: Value) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        parts.join(".")
    }

    fn invalid(why: &'static str) -> Result<AccessClaims, TokenRejection> {
        Err(TokenRejection::Invalid(why))
    }

    #[test]
    fn a_signed_token_carries_the_contract_header_and_validates_to_its_claims() {
        let keys = Keys::generate();
        let token = sign(&keys, &claims());
        assert_eq!(
            decode(&part(&token, 0)),
            json!({"alg": "EdDSA", "kid": keys.kid(), "typ": ACCESS_TOKEN_TYP})
        );
        let payload = decode(&part(&token, 1));
        assert_eq!(payload["sub"], claims().sub);
        assert_eq!(payload["iss"], ISSUER);
        for absent in ["org", "service", "nbf"] {
            assert!(payload.get(absent).is_none(), "{absent} is omitted when absent");
        }
        assert_eq!(validate(&keys, ISSUER, &token, now()), Ok(claims()));
        let scoped = AccessClaims {
            org: Some("acme".into()),
            aud: "org:acme".into(),
            nbf: Some(now().timestamp()),
            ..claims()
        };
        let token = sign(&keys, &scoped);
        assert_eq!(decode(&part(&token, 1))["org"], "acme");
        assert_eq!(validate(&keys, ISSUER, &token, now()), Ok(scoped));
    }

    #[test]
    fn malformed_tokens_are_refused_before_their_header_is_read() {
        let keys = Keys::generate();
        let good = sign(&keys, &claims());
        let (header, rest) = good.split_once('.').unwrap();
        let cases = [
            ("empty", String::new(), "malformed token"),
            ("one part", "not-a-token".to_owned(), "malformed token"),
            (
                "two parts",
                good.rsplit_once('.').unwrap().0.to_owned(),
                "malformed token",
            ),
            ("four parts", format!("{good}.x"), "malformed token"),
            (
                "an empty part",
                format!("{header}..{}", part(&good, 2)),
                "malformed token",
            ),
            ("padding", format!("{header}=.{rest}"), "malformed token"),
            ("standard base64", format!("{header}+/.{rest}"), "malformed token"),
            ("whitespace", format!(" {good}"), "malformed token"),
            ("not JSON", format!("bm90IGpzb24.{rest}"), "malformed token header"),
            (
                "not a header",
                format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1,2]")),
                "malformed token header",
            ),
        ];
        for (name, token, why) in cases {
            assert_eq!(validate(&keys, ISSUER, &token, now()), invalid(why), "{name}");
        }
    }

    #[test]
    fn tokens_over_8_kib_are_refused_before_parsing() {
        let keys = Keys::generate();
        let sized = |len: usize| AccessClaims {
            email: "a".repeat(len),
            ..claims()
        };
        // The longest claims whose token still fits, and one character more.
        let fits = (5000..7000)
            .take_while(|&len| sign(&keys, &sized(len)).len() <= 8 * 1024)
            .last()
            .unwrap();
        let token = sign(&keys, &sized(fits));
        assert!(token.len() > 8 * 1024 - 4, "{}", token.len());
        assert_eq!(validate(&keys, ISSUER, &token, now()), Ok(sized(fits)));
        let big = sign(&keys, &sized(fits + 1));
        assert!(big.len() > 8 * 1024, "{}", big.len());
        assert_eq!(validate(&keys, ISSUER, &big, now()), invalid("token too large"));
        assert_eq!(
            validate(&keys, ISSUER, &"a".repeat(8193), now()),
            invalid("token too large")
        );
    }

    #[test]
    fn only_the_configured_algorithm_with_a_known_kid_a_plain_header_and_the_at_jwt_type_pass() {
        let keys = Keys::generate();
        let good = sign(&keys, &claims());
        let kid = keys.kid().to_owned();
        let jwk = keys.jwks()["keys"][0].clone();
        let h = |extra: Value| {
            let mut header = json!({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    header.as_object_mut().unwrap().remove(k);
                } else {
                    header[k] = v.clone();
                }
            }
            with_header(&good, header)
        };
        let cases = [
            // Step 2 in order: the algorithm first, then the key id, then key-carrying
            // headers, then the type.
            ("HS256", h(json!({"alg": "HS256"})), "algorithm not accepted"),
            ("RS256", h(json!({"alg": "RS256"})), "algorithm not accepted"),
            ("ES256", h(json!({"alg": "ES256"})), "algorithm not accepted"),
            (
                "HS256 and no kid",
                h(json!({"alg": "HS256", "kid": null})),
                "algorithm not accepted",
            ),
            ("no kid", h(json!({"kid": null})), "unknown key id"),
            ("unknown kid", h(json!({"kid": "someone-else"})), "unknown key id"),
            (
                "unknown kid and a jku",
                h(json!({"kid": "x", "jku": "https://evil.test"})),
                "unknown key id",
            ),
            (
                "jku",
                h(json!({"jku": "https://evil.test/jwks"})),
                "forbidden token header",
            ),
            (
                "x5u",
                h(json!({"x5u": "https://evil.test/cert"})),
                "forbidden token header",
            ),
            ("jwk", h(json!({"jwk": jwk})), "forbidden token header"),
            ("x5c", h(json!({"x5c": ["MIIB"]})), "forbidden token header"),
            (
                "jku and the JWT type",
                h(json!({"jku": "https://evil.test", "typ": "JWT"})),
                "forbidden token header",
            ),
            ("typ JWT", h(json!({"typ": "JWT"})), "wrong token type"),
            ("typ in upper case", h(json!({"typ": "AT+JWT"})), "wrong token type"),
            ("no typ", h(json!({"typ": null})), "wrong token type"),
        ];
        for (name, token, why) in cases {
            assert_eq!(validate(&keys, ISSUER, &token, now()), invalid(why), "{name}");
        }
        // `none` is no algorithm at all.
        for alg in ["none", "None", ""] {
            let token = h(json!({"alg": alg}));
            assert!(
                matches!(validate(&keys, ISSUER, &token, now()), Err(TokenRejection::Invalid(_))),
                "alg {alg:?}"
            );
            let unsigned = format!("{}.{}.", part(&token, 0), part(&token, 1));
            assert!(
                validate(&keys, ISSUER, &unsigned, now()).is_err(),
                "unsigned alg {alg:?}"
            );
        }
        // The token all these started from passes.
        assert_eq!(validate(&keys, ISSUER, &good, now()), Ok(claims()));
    }

    #[test]
    fn the_signature_and_then_the_issuer_are_checked_before_the_times() {
        let keys = Keys::generate();
        let good = sign(&keys, &claims());
        let mut payload = decode(&part(&good, 1));
        payload["is_platform_owner"] = json!(true);
        let expired = AccessClaims {
            exp: now().timestamp() - 3600,
            ..claims()
        };
        let other = sign(
            &keys,
            &AccessClaims {
                jti: "other".into(),
                ..claims()
            },
        );
        let cases = [
            ("tampered payload", with_payload(&good, payload), "invalid signature"),
            (
                "another token's signature",
                format!("{}.{}.{}", part(&good, 0), part(&good, 1), part(&other, 2)),
                "invalid signature",
            ),
            (
                "a tampered expired token",
                with_payload(&sign(&keys, &expired), json!({"exp": 1})),
                "invalid signature",
            ),
            (
                "wrong issuer",
                sign(
                    &keys,
                    &AccessClaims {
                        iss: "https://evil.test".into(),
                        ..claims()
                    },
                ),
                "wrong issuer",
            ),
            (
                "issuer with a trailing slash",
                sign(
                    &keys,
                    &AccessClaims {
                        iss: format!("{ISSUER}/"),
                        ..claims()
                    },
                ),
                "wrong issuer",
            ),
            (
                "wrong issuer and expired",
                sign(
                    &keys,
                    &AccessClaims {
                        iss: "https://evil.test".into(),
                        ..expired.clone()
                    },
                ),
                "wrong issuer",
            ),
            (
                "signed by another key",
                sign(&Keys::generate(), &claims()),
                "unknown key id",
            ),
        ];
        for (name, token, why) in cases {
            assert_eq!(validate(&keys, ISSUER, &token, now()), invalid(why), "{name}");
        }
        // A signature made for one kid does not verify under another key's kid.
        let foreign = Keys::generate();
        let relabelled = with_header(
            &sign(&foreign, &claims()),
            json!({"alg": "EdDSA", "kid": keys.kid(), "typ": "at+jwt"}),
        );
        assert_eq!(
            validate(&keys, ISSUER, &relabelled, now()),
            invalid("invalid signature")
        );
    }

    #[test]
    fn the_times_allow_sixty_seconds_of_leeway_and_no_more() {
        let keys = Keys::generate();
        let t = now().timestamp();
        let at = |c: AccessClaims| validate(&keys, ISSUER, &sign(&keys, &c), now());
        let cases = [
            (
                "exp just passed within the leeway",
                AccessClaims {
                    exp: t - 60,
                    iat: t - 960,
                    ..claims()
                },
                Ok(()),
            ),
            (
                "exp past the leeway",
                AccessClaims {
                    exp: t - 61,
                    iat: t - 961,
                    ..claims()
                },
                Err(TokenRejection::Expired),
            ),
            (
                "iat within the leeway",
                AccessClaims {
                    iat: t + 60,
                    exp: t + 960,
                    ..claims()
                },
                Ok(()),
            ),
            (
                "iat in the future",
                AccessClaims {
                    iat: t + 61,
                    exp: t + 961,
                    ..claims()
                },
                Err(TokenRejection::Invalid("token issued in the future")),
            ),
            (
                "nbf within the leeway",
                AccessClaims {
                    nbf: Some(t + 60),
                    ..claims()
                },
                Ok(()),
            ),
            (
                "nbf not reached",
                AccessClaims {
                    nbf: Some(t + 61),
                    ..claims()
                },
                Err(TokenRejection::Invalid("token not yet valid")),
            ),
            (
                "expired and issued in the future",
                AccessClaims {
                    iat: t + 3600,
                    exp: t - 3600,
                    ..claims()
                },
                Err(TokenRejection::Expired),
            ),
        ];
        for (name, c, expected) in cases {
            assert_eq!(at(c.clone()), expected.map(|()| c), "{name}");
        }
        let token = sign(&keys, &claims());
        let later = |secs| validate(&keys, ISSUER, &token, now() + Duration::seconds(secs));
        assert!(later(960).is_ok());
        assert_eq!(later(961), Err(TokenRejection::Expired));
    }

    #[test]
    fn a_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired() {
        let old = Keys::generate();
        let token = sign(&old, &claims());
        let rotated = Keys::generate().with_verification_key(&old);
        assert_eq!(validate(&rotated, ISSUER, &token, now()), Ok(claims()));
        let fresh = sign(&rotated, &claims());
        assert_eq!(decode(&part(&fresh, 0))["kid"], rotated.kid());
        assert_ne!(rotated.kid(), old.kid());
        assert_eq!(validate(&rotated, ISSUER, &fresh, now()), Ok(claims()));
        assert_eq!(validate(&old, ISSUER, &fresh, now()), invalid("unknown key id"));
        let retired = Keys::generate();
        assert_eq!(validate(&retired, ISSUER, &token, now()), invalid("unknown key id"));
    }

    #[test]
    fn an_rs256_key_set_signs_rs256_and_accepts_no_eddsa_token_even_from_a_verifying_key() {
        let ed = Keys::generate();
        let eddsa = sign(&ed, &claims());
        let rs = rsa().with_verification_key(&ed);
        let rs256 = sign(&rs, &claims());
        assert_eq!(
            decode(&part(&rs256, 0)),
            json!({"alg": "RS256", "kid": rsa().kid(), "typ": "at+jwt"})
        );
        assert_eq!(validate(&rs, ISSUER, &rs256, now()), Ok(claims()));
        assert_eq!(validate(&rs, ISSUER, &eddsa, now()), invalid("algorithm not accepted"));
        // And the other way round.
        let back = ed.with_verification_key(&rsa());
        assert_eq!(
            validate(&back, ISSUER, &rs256, now()),
            invalid("algorithm not accepted")
        );
        assert_eq!(validate(&back, ISSUER, &eddsa, now()), Ok(claims()));
        // An EdDSA signature relabelled RS256 under the RSA kid does not verify.
        let relabelled = with_header(&eddsa, json!({"alg": "RS256", "kid": rsa().kid(), "typ": "at+jwt"}));
        assert_eq!(validate(&rs, ISSUER, &relabelled, now()), invalid("invalid signature"));
    }

    #[test]
    fn an_rs256_key_survives_a_pem_round_trip_and_verifies_its_tokens() {
        let keys = rsa();
        let pem = keys.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = Keys::from_pem(&pem).unwrap();
        assert_eq!((again.alg(), again.kid()), (SigningAlg::RS256, keys.kid()));
        assert_eq!(again.jwks(), keys.jwks());
        assert_eq!(validate(&again, ISSUER, &sign(&keys, &claims()), now()), Ok(claims()));
        assert_eq!(validate(&keys, ISSUER, &sign(&again, &claims()), now()), Ok(claims()));
    }

    #[test]
    fn the_adapter_checks_the_times_of_a_remembered_token_on_every_call() {
        let tokens = JwtTokens::new(Keys::generate(), ISSUER);
        let token = tokens.sign(&claims());
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        assert_eq!(
            tokens.verify(&token, now() + Duration::seconds(961)),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            tokens.verify(&token, now() - Duration::seconds(61)),
            Err(TokenRejection::Invalid("token issued in the future"))
        );
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        // A refusal is not remembered as a success either.
        let tampered = format!("{token}x");
        assert!(tokens.verify(&tampered, now()).is_err());
        assert!(tokens.verify(&tampered, now()).is_err());
    }

    #[test]
    fn the_adapter_forgets_remembered_tokens_when_its_keys_are_replaced() {
        let old = Keys::generate();
        let tokens = JwtTokens::new(old.clone(), ISSUER);
        let token = tokens.sign(&claims());
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        tokens.replace_keys(Keys::generate().with_verification_key(&old));
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        assert_eq!(tokens.jwks()["keys"].as_array().map(Vec::len), Some(2));
        tokens.replace_keys(Keys::generate());
        assert_eq!(tokens.verify(&token, now()), invalid("unknown key id"));
        assert_eq!(tokens.jwks()["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(tokens.jwks(), tokens.keys().jwks());
    }

    #[test]
    fn the_adapter_issues_and_demands_its_issuer_without_a_trailing_slash() {
        let tokens = JwtTokens::new(Keys::generate(), "https://id.test/");
        assert_eq!(tokens.issuer(), ISSUER);
        let token = tokens.sign(&claims());
        assert_eq!(tokens.verify(&token, now()), Ok(claims()));
        let elsewhere = tokens.sign(&AccessClaims {
            iss: "https://other.test".into(),
            ..claims()
        });
        assert_eq!(tokens.verify(&elsewhere, now()), invalid("wrong issuer"));
        assert_eq!(
            validate(&tokens.keys(), "https://other.test", &token, now()),
            invalid("wrong issuer")
        );
    }
}
