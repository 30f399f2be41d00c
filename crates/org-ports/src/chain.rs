//! The audit hash chain of contract §8.3: `hash = SHA-256(prev_hash ‖ JCS(e))` over the 14
//! members of an entry, and its verification. Stores compute it at commit; the CLI and the
//! export verifier check it.

use chrono::SecondsFormat;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::audit::AuditDraft;

/// 32 raw bytes of a SHA-256.
pub type Hash = [u8; 32];

/// The `prev_hash` of `seq` 1.
pub const GENESIS: Hash = [0; 32];

/// The 14 members of `e` (§8.3), in the order the contract lists them.
pub const MEMBERS: [&str; 14] = [
    "seq",
    "id",
    "organization_id",
    "actor_id",
    "actor_type",
    "action",
    "target_type",
    "target_id",
    "ip_address",
    "user_agent",
    "success",
    "metadata",
    "request_id",
    "created_at",
];

/// The object `e` of a served entry (any JSON object with at least those members): exactly the
/// 14 members, absent ones as `null`.
pub fn chained_object_of(entry: &serde_json::Map<String, Value>) -> Value {
    Value::Object(
        MEMBERS
            .iter()
            .map(|k| ((*k).to_owned(), entry.get(*k).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

/// The object `e` of §8.3, exactly the 14 members, as served.
pub fn chained_object(seq: u64, d: &AuditDraft) -> Value {
    json!({
        "seq": seq,
        "id": d.id.to_string(),
        "organization_id": d.org_id.map(|o| o.to_string()),
        "actor_id": d.actor.id,
        "actor_type": d.actor.kind.as_str(),
        "action": d.action,
        "target_type": d.target_type,
        "target_id": d.target_id,
        "ip_address": d.ip_address,
        "user_agent": d.user_agent,
        "success": d.success,
        "metadata": d.metadata,
        "request_id": d.request_id,
        "created_at": d.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

/// `SHA-256(prev ‖ JCS(e))` for an arbitrary `e`.
pub fn hash_object(prev: &Hash, e: &Value) -> Hash {
    // JCS of a serde_json::Value cannot fail: every key is a string and every number finite.
    let canonical = serde_jcs::to_vec(e).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev);
    h.update(&canonical);
    h.finalize().into()
}

/// The hash of entry `seq` with draft `d` after `prev`.
pub fn entry_hash(prev: &Hash, seq: u64, d: &AuditDraft) -> Hash {
    hash_object(prev, &chained_object(seq, d))
}

/// Lower-case hex, as hashes appear on the wire.
pub fn to_hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex characters.
pub fn from_hex(text: &str) -> Option<Hash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0_u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// One link of a chain as read back: the object `e`, and the stored `prev_hash` and `hash`.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub seq: u64,
    pub object: Value,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// Outcome of a verification (§8.3 `verify-audit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every hash and every consecutive pair verified. `complete` is false when `seq` has gaps.
    Intact {
        entries: u64,
        head: Option<Hash>,
        complete: bool,
    },
    /// The first entry that does not verify, and why.
    Broken { first_bad_seq: u64, reason: String },
}

/// Verifies links in ascending `seq` order. The first link is anchored at its own `prev_hash`
/// (or at `anchor` when given, e.g. the zero hash for a log that starts at `seq` 1).
/// With `contiguous` (a whole log read from the store), a gap in `seq` is a deletion;
/// without it (an export, possibly filtered), gaps only make the result incomplete.
pub fn verify(links: &[Link], anchor: Option<Hash>, contiguous: bool) -> Verdict {
    let mut complete = true;
    let mut prev: Option<&Link> = None;
    for link in links {
        let expected_prev = match prev {
            None => anchor.unwrap_or(link.prev_hash),
            Some(p) => {
                if link.seq <= p.seq {
                    return Verdict::Broken {
                        first_bad_seq: link.seq,
                        reason: format!("seq {} follows seq {}", link.seq, p.seq),
                    };
                }
                if link.seq != p.seq + 1 {
                    if contiguous {
                        let reason = format!("entries {} to {} are missing", p.seq + 1, link.seq - 1);
                        return Verdict::Broken {
                            first_bad_seq: link.seq,
                            reason,
                        };
                    }
                    complete = false;
                    link.prev_hash
                } else {
                    p.hash
                }
            }
        };
        if link.prev_hash != expected_prev {
            return Verdict::Broken {
                first_bad_seq: link.seq,
                reason: "prev_hash does not match the previous entry".to_owned(),
            };
        }
        if link.object.get("seq").and_then(Value::as_u64) != Some(link.seq) {
            return Verdict::Broken {
                first_bad_seq: link.seq,
                reason: "seq differs from the hashed entry".to_owned(),
            };
        }
        if hash_object(&link.prev_hash, &link.object) != link.hash {
            return Verdict::Broken {
                first_bad_seq: link.seq,
                reason: "hash does not match the entry".to_owned(),
            };
        }
        prev = Some(link);
    }
    if links.first().is_some_and(|l| l.seq != 1 && anchor == Some(GENESIS)) {
        complete = false;
    }
    Verdict::Intact {
        entries: links.len() as u64,
        head: links.last().map(|l| l.hash),
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of contract §8.3.
    fn example() -> Value {
        serde_json::from_str(
            r#"{"action":"role.created","actor_id":"0195a0c4-5a11-7b22-8c33-4d5e6f708192","actor_type":"user","created_at":"2025-03-01T12:00:00.000Z","id":"0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e20","ip_address":"203.0.113.7","metadata":{"permissions":["audit_logs.view"],"slug":"auditor"},"organization_id":"0195a0c4-5f00-7a10-8b2c-3d4e5f607182","request_id":"0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e11","seq":1,"success":true,"target_id":"0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e21","target_type":"role","user_agent":"curl/8.5.0"}"#,
        )
        .unwrap_or_default()
    }

    #[test]
    fn the_contracts_worked_example_hashes_to_its_published_value() {
        let h = hash_object(&GENESIS, &example());
        assert_eq!(
            to_hex(&h),
            "aea4c02d150652ea5cde6f4d98d9a8da87649b45d08729a7c6745e4a135dda80"
        );
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
    }

    fn chain(n: u64) -> Vec<Link> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut object = example();
                object["seq"] = json!(seq);
                let hash = hash_object(&prev, &object);
                let link = Link {
                    seq,
                    object,
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                link
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let links = chain(5);
        assert_eq!(
            verify(&links, Some(GENESIS), true),
            Verdict::Intact {
                entries: 5,
                head: Some(links[4].hash),
                complete: true
            }
        );
        assert!(
            matches!(
                verify(&links[2..], None, true),
                Verdict::Intact {
                    entries: 3,
                    complete: true,
                    ..
                }
            ),
            "a pruned prefix is anchored"
        );
    }

    #[test]
    fn altered_deleted_inserted_and_reordered_entries_are_found_at_the_right_seq() {
        let mut altered = chain(5);
        altered[2].object["action"] = json!("role.deleted");
        assert_eq!(bad(verify(&altered, Some(GENESIS), true)), 3);
        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(bad(verify(&deleted, Some(GENESIS), true)), 3);
        let mut reordered = chain(5);
        reordered.swap(1, 2);
        (reordered[1].seq, reordered[2].seq) = (2, 3);
        assert_eq!(bad(verify(&reordered, Some(GENESIS), true)), 2);
        let mut inserted = chain(5);
        let mut extra = inserted[1].clone();
        extra.object["action"] = json!("org.updated");
        inserted.insert(2, extra);
        assert_eq!(bad(verify(&inserted, Some(GENESIS), true)), 2);
        let mut relinked = chain(5);
        relinked[3].prev_hash = [1; 32];
        assert_eq!(bad(verify(&relinked, Some(GENESIS), true)), 4);
    }

    #[test]
    fn a_filtered_export_with_gaps_is_intact_but_not_complete() {
        let links = chain(6);
        let filtered = vec![links[0].clone(), links[2].clone(), links[3].clone()];
        assert!(matches!(
            verify(&filtered, None, false),
            Verdict::Intact {
                entries: 3,
                complete: false,
                ..
            }
        ));
    }

    fn bad(v: Verdict) -> u64 {
        match v {
            Verdict::Broken { first_bad_seq, .. } => first_bad_seq,
            Verdict::Intact { .. } => 0,
        }
    }
}
