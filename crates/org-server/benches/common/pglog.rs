//! PostgreSQL's statement log (`log_min_duration_statement = 0`): what a request ran, and
//! how long PostgreSQL spent on it.

use std::path::Path;

/// The statements logged after byte `from` (by the backend `pid` when given), with the milliseconds PostgreSQL spent on each
/// (parse, bind and execute summed). The delivery worker's poll (every 250 ms: a claim of due
/// deliveries in its own transaction, and the pending count) is left out.
pub fn logged_since(log: &Path, from: u64, pid: Option<i32>) -> Vec<(String, f64)> {
    let tag = pid.map(|p| format!("[{p}]"));
    let text = std::fs::read(log).unwrap_or_default();
    let new = String::from_utf8_lossy(&text[(from as usize).min(text.len())..]).into_owned();
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut extra = 0.0;
    for line in new.lines() {
        let Some(at) = line.find(" LOG:  duration: ") else {
            continue;
        };
        if tag.as_ref().is_some_and(|t| !line[..at].contains(t.as_str())) {
            continue;
        }
        let rest = &line[at + " LOG:  duration: ".len()..];
        let Some((d, rest)) = rest.split_once(" ms  ") else {
            continue;
        };
        let d: f64 = d.parse().unwrap_or(0.0);
        if let Some(sql) = rest.strip_prefix("statement: ") {
            out.push((sql.to_owned(), d + extra));
            extra = 0.0;
        } else if let Some(q) = rest.strip_prefix("execute ") {
            let sql = q.split_once(": ").map_or(q, |(_, s)| s);
            out.push((sql.to_owned(), d + extra));
            extra = 0.0;
        } else {
            // parse / bind of the statement executed next on that connection.
            extra += d;
        }
    }
    let polls = out
        .iter()
        .filter(|(q, _)| q.contains("\"webhook_deliveries\"") && q.contains("FOR UPDATE"))
        .count();
    let mut drop_begin = polls;
    let mut drop_commit = polls;
    out.retain(|(q, _)| {
        let worker = q.contains("\"webhook_deliveries\"") || q.starts_with("SELECT (SELECT");
        if worker {
            return false;
        }
        if q == "BEGIN" && drop_begin > 0 {
            drop_begin -= 1;
            return false;
        }
        if q == "COMMIT" && drop_commit > 0 {
            drop_commit -= 1;
            return false;
        }
        true
    });
    out
}

/// The short name of a statement: its verb and first table.
pub fn statement_kind(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let verb = words.first().copied().unwrap_or("").to_uppercase();
    let after = match verb.as_str() {
        "SELECT" | "DELETE" => "FROM",
        "INSERT" => "INTO",
        "UPDATE" => "UPDATE",
        _ => return verb,
    };
    let table = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case(after))
        .and_then(|i| words.get(i + 1))
        .map(|t| t.trim_matches('"').to_owned())
        .unwrap_or_default();
    format!("{verb} {table}")
}
