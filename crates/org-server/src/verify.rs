//! Offline verification of an NDJSON audit export (`admin verify-audit --file`, §8.3).

use org_ports::chain::{self, Link, Verdict};
use serde_json::Value;

/// Verifies every line's hash and the linkage of consecutive `seq`s; an export that starts
/// after `seq` 1 is anchored at its first `prev_hash`; gaps (filters) make it incomplete.
pub fn verify_export(text: &str) -> Verdict {
    let mut links = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let broken = |reason: String| Verdict::Broken {
            first_bad_seq: 0,
            reason: format!("line {}: {reason}", i + 1),
        };
        let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
            return broken("not a JSON object".into());
        };
        let seq = entry.get("seq").and_then(Value::as_u64);
        let hex = |k: &str| entry.get(k).and_then(Value::as_str).and_then(chain::from_hex);
        let (Some(seq), Some(prev_hash), Some(hash)) = (seq, hex("prev_hash"), hex("hash")) else {
            return broken("missing seq, prev_hash or hash".into());
        };
        links.push(Link {
            seq,
            object: chain::chained_object_of(&entry),
            prev_hash,
            hash,
        });
    }
    chain::verify(&links, None, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn export(n: u64) -> Vec<Value> {
        let mut prev = chain::GENESIS;
        (1..=n)
            .map(|seq| {
                let e = json!({
                    "seq": seq, "id": format!("id-{seq}"), "organization_id": "org", "actor_id": "system",
                    "actor_type": "system", "action": "org.updated", "target_type": null, "target_id": null,
                    "ip_address": null, "user_agent": null, "success": true, "metadata": {"n": seq},
                    "request_id": null, "created_at": "2025-03-01T12:00:00.000Z"
                });
                let hash = chain::hash_object(&prev, &e);
                let mut line = e.clone();
                line["actor"] = Value::Null;
                line["prev_hash"] = json!(chain::to_hex(&prev));
                line["hash"] = json!(chain::to_hex(&hash));
                prev = hash;
                line
            })
            .collect()
    }

    fn text(lines: &[Value]) -> String {
        lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn an_untouched_export_verifies_and_an_edited_line_is_named() {
        let lines = export(4);
        assert!(matches!(
            verify_export(&text(&lines)),
            Verdict::Intact {
                entries: 4,
                complete: true,
                ..
            }
        ));
        let mut edited = lines.clone();
        edited[2]["metadata"] = json!({"n": 99});
        assert!(matches!(
            verify_export(&text(&edited)),
            Verdict::Broken { first_bad_seq: 3, .. }
        ));
        let filtered = vec![lines[0].clone(), lines[2].clone()];
        assert!(matches!(
            verify_export(&text(&filtered)),
            Verdict::Intact { complete: false, .. }
        ));
        assert!(matches!(verify_export("{not json"), Verdict::Broken { .. }));
    }
}
