//! SCIM 2.0 conformance of `/scim/v2` (API.md §10), judged by two third-party tools from
//! PyPI run against the real binary, on SQLite and on PostgreSQL: scim2-tester (its
//! `check_server`, through `scim_conformance/run_scim2_tester.py`) and scim-sanity (`probe
//! --strict --json-output`).
//!
//! The tools live in a virtualenv under the target dir (`<target>/scim-venv`), made on first
//! use from the pinned `scim_conformance/requirements.txt` with `python3.11` (else a `python3`
//! of 3.11 or newer, or `ORG_TEST_PYTHON`) and reused while that list is unchanged. Every
//! failing check must be waived below, naming the contract rule that the tool disagrees with
//! (the contract wins); the same list is in `docs/SCIM.md` ("Conformance tools"). Each run
//! prints a summary per tool (checks run / passed / failed / waived) on stderr, past the test
//! harness's capture, and leaves the tools' raw output in `<target>/scim-conformance/`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::support::{Node, s};

const REQUIREMENTS: &str = include_str!("scim_conformance/requirements.txt");
const SCIM2_TESTER_RUNNER: &str = include_str!("scim_conformance/run_scim2_tester.py");

/// A check a tool fails on purpose: the tool expects something the contract rules out.
struct Waiver {
    tool: Tool,
    /// The check's name as the tool reports it (scim2-tester: `<resource type>/<check>`,
    /// scim-sanity: the test name).
    check: &'static str,
    /// Whether the tool's message shows exactly this disagreement (and not some other failure
    /// of the same check).
    matches: fn(&str) -> bool,
    /// The contract rule that wins.
    rule: &'static str,
}

/// Keep short; each entry is also listed, with its reason, in docs/SCIM.md ("Conformance
/// tools").
const WAIVERS: &[Waiver] = &[
    // The tool removes every optional writable attribute and expects it gone; `active` is the
    // membership's state, which always is one of two.
    Waiver {
        tool: Tool::Scim2Tester,
        check: "User/check_remove_attribute",
        matches: |m| m.starts_with("Failed to remove attribute 'active'") && m.contains("'active' cannot be removed"),
        rule: "§10.3: `active` is the membership's state (true = active, false = deactivated), always assigned; \
               removing it is 400 mutability like userName",
    },
    // The tool compares the members it sent with the members returned, `display` included.
    Waiver {
        tool: Tool::Scim2Tester,
        check: "Group/check_add_attribute",
        matches: |m| patched_equals_returned(m, "'members'", &[("display", None)]),
        rule: "§10.4: a Group member is {value, display, $ref, type}; `display` is read-only and filled in by the server",
    },
    Waiver {
        tool: Tool::Scim2Tester,
        check: "Group/check_replace_attribute",
        matches: |m| patched_equals_returned(m, "'members'", &[("display", None)]),
        rule: "§10.4: a Group member is {value, display, $ref, type}; `display` is read-only and filled in by the server",
    },
    // Seed-dependent: the tool may replace `emails` with a non-work or non-primary element.
    Waiver {
        tool: Tool::Scim2Tester,
        check: "User/check_replace_attribute",
        matches: |m| patched_equals_returned(m, "'emails'", &[("type", Some("'work'")), ("primary", Some("True"))]),
        rule: "§10.3: `emails` is the membership's one e-mail, rendered as [{value, type: \"work\", primary: true}]",
    },
    // The probe adds the member "fake-member-id" and expects 200.
    Waiver {
        tool: Tool::ScimSanity,
        check: "PATCH /Groups/{id} add member",
        matches: |m| m == "[fail] Expected 200, got 400",
        rule: "§10.4: member values must be users with a membership in the org, else 400 invalidValue",
    },
];

/// Whether a scim2-tester "PATCH modify() returned unexpected value for <attr>" message
/// differs only in the given fields: each `(field, value)` is set to `value` in the patched
/// text (`None`: in the returned text, to `None`) before the two are compared.
fn patched_equals_returned(message: &str, attr: &str, fields: &[(&str, Option<&str>)]) -> bool {
    let Some(rest) = message.strip_prefix(&format!("PATCH modify() returned unexpected value for {attr}.")) else {
        return false;
    };
    let Some((patched, returned)) = rest
        .trim()
        .strip_prefix("Patched value:")
        .and_then(|r| r.split_once("Returned value:"))
    else {
        return false;
    };
    let (mut patched, mut returned) = (patched.trim().to_owned(), returned.trim().to_owned());
    for (field, value) in fields {
        match value {
            Some(v) => patched = set_field(&patched, field, v),
            None => returned = set_field(&returned, field, "None"),
        }
    }
    patched == returned
}

/// `text` (a Python repr) with every `field=<value>` set to `field=<to>`; a value is a quoted
/// string or a bare word.
fn set_field(text: &str, field: &str, to: &str) -> String {
    let key = format!("{field}=");
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&key) {
        let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        if !boundary {
            continue;
        }
        let end = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => rest[1..].find(q).map_or(rest.len(), |j| j + 2),
            _ => rest.find([',', ')']).unwrap_or(rest.len()),
        };
        out.push_str(to);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Scim2Tester,
    ScimSanity,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Self::Scim2Tester => "scim2-tester",
            Self::ScimSanity => "scim-sanity",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One check of a tool, reduced to what the verdict needs.
#[derive(Debug)]
struct Outcome {
    check: String,
    verdict: Verdict,
    /// The tool's message (what waivers match).
    message: String,
    /// Debugging data shown with a failure.
    detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    Skipped,
}

/// The counts of one tool's run, after waivers.
#[derive(Debug, Default)]
struct Tally {
    run: usize,
    passed: usize,
    failed: Vec<String>,
    waived: Vec<String>,
    skipped: usize,
}

fn tally(tool: Tool, outcomes: &[Outcome]) -> Tally {
    let mut t = Tally::default();
    for o in outcomes {
        match o.verdict {
            Verdict::Skipped => t.skipped += 1,
            Verdict::Passed => {
                t.run += 1;
                t.passed += 1;
            }
            Verdict::Failed => {
                t.run += 1;
                let waiver = WAIVERS
                    .iter()
                    .find(|w| w.tool == tool && w.check == o.check && (w.matches)(&o.message));
                match waiver {
                    Some(w) => {
                        let first = o.message.lines().next().unwrap_or_default();
                        t.waived.push(format!("{}: {first} (contract {})", o.check, w.rule));
                    }
                    None => t
                        .failed
                        .push(format!("{}: {}{}", o.check, o.message, o.detail).replace('\n', " ")),
                }
            }
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// The tools' virtualenv

/// `<target dir>/scim-venv`, with the pinned tools installed; made once per process and
/// guarded by a file lock against other processes.
fn venv() -> &'static Path {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(make_venv) {
        Ok(p) => p,
        Err(why) => panic!("cannot set up the SCIM conformance tools: {why}"),
    }
}

fn target_dir() -> PathBuf {
    crate::support::target_dir()
}

fn make_venv() -> Result<PathBuf, String> {
    crate::support::make_venv("scim-venv", REQUIREMENTS, &base_python()?)
}

/// `ORG_TEST_PYTHON`, else the first of `python3.11`, `python3` that is Python 3.11 or newer
/// (what scim2-tester needs) with `venv`.
fn base_python() -> Result<String, String> {
    let candidates = match std::env::var("ORG_TEST_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => vec!["python3.11".to_owned(), "python3".to_owned()],
    };
    candidates
        .iter()
        .find(|p| {
            Command::new(p.as_str())
                .args(["-c", "import sys, venv; sys.exit(sys.version_info < (3, 11))"])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .cloned()
        .ok_or_else(|| format!("no Python 3.11 or newer with venv among {candidates:?} (set ORG_TEST_PYTHON)"))
}

// ---------------------------------------------------------------------------------------------
// The tools

/// Runs a tool to its end (blocking), returning its stdout; keeps it in the report dir.
fn run_tool(tool: Tool, backend: Backend, c: &mut Command) -> String {
    let started = Instant::now();
    let out = c.stdin(Stdio::null()).output().expect("run the tool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let reports = target_dir().join("scim-conformance");
    let _ = std::fs::create_dir_all(&reports);
    let _ = std::fs::write(
        reports.join(format!("{}-{}.json", tool.name(), backend.name())),
        &stdout,
    );
    let _ = std::fs::write(
        reports.join(format!("{}-{}.stderr", tool.name(), backend.name())),
        &out.stderr,
    );
    assert!(
        stdout.trim_start().starts_with('{'),
        "{} printed no JSON ({}, {:?}): {}{}",
        tool.name(),
        out.status,
        started.elapsed(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// scim2-tester: SUCCESS, COMPLIANT and ACCEPTABLE pass; ERROR, CRITICAL and DEVIATION (a
/// SHOULD not followed) fail; SKIPPED is not run.
fn scim2_tester(backend: Backend, scim_base: &str, token: &str) -> (String, Vec<Outcome>) {
    let dir = target_dir().join("scim-conformance");
    std::fs::create_dir_all(&dir).expect("report dir");
    let runner = dir.join("run_scim2_tester.py");
    std::fs::write(&runner, SCIM2_TESTER_RUNNER).expect("write the runner");
    let stdout = run_tool(
        Tool::Scim2Tester,
        backend,
        Command::new(venv().join("bin").join("python"))
            .arg(&runner)
            .args([scim_base, token]),
    );
    let report: Value = serde_json::from_str(&stdout).expect("scim2-tester JSON");
    let outcomes = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let check = match r["resource_type"].as_str() {
                Some(rt) => format!("{rt}/{}", s(&r["title"])),
                None => s(&r["title"]).to_owned(),
            };
            let verdict = match s(&r["status"]) {
                "SUCCESS" | "COMPLIANT" | "ACCEPTABLE" => Verdict::Passed,
                "SKIPPED" => Verdict::Skipped,
                _ => Verdict::Failed,
            };
            let detail = match (verdict, r["data"].as_str()) {
                (Verdict::Failed, Some(data)) => format!(" [{}] | data: {data}", s(&r["status"])),
                _ => format!(" [{}]", s(&r["status"])),
            };
            Outcome {
                check,
                verdict,
                message: s(&r["reason"]).to_owned(),
                detail,
            }
        })
        .collect();
    (s(&report["version"]).to_owned(), outcomes)
}

/// scim-sanity in strict mode: `pass` passes; `fail`, `error` and `warn` (a deviation its
/// strict mode still only warns about) fail; `skip` is not run.
fn scim_sanity(backend: Backend, scim_base: &str, token: &str) -> (String, Vec<Outcome>) {
    let stdout = run_tool(
        Tool::ScimSanity,
        backend,
        Command::new(venv().join("bin").join("python"))
            .args(["-m", "scim_sanity", "probe", scim_base, "--token", token])
            .args([
                "--strict",
                "--json-output",
                "--i-accept-side-effects",
                "--timeout",
                "10",
            ]),
    );
    let report: Value = serde_json::from_str(&stdout).expect("scim-sanity JSON");
    let outcomes = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let verdict = match s(&r["status"]) {
                "pass" => Verdict::Passed,
                "skip" => Verdict::Skipped,
                _ => Verdict::Failed,
            };
            Outcome {
                check: s(&r["name"]).to_owned(),
                verdict,
                message: format!("[{}] {}", s(&r["status"]), s(&r["message"])),
                detail: String::new(),
            }
        })
        .collect();
    (s(&report["scim_sanity_version"]).to_owned(), outcomes)
}

// ---------------------------------------------------------------------------------------------
// The test

async fn conformance(backend: Backend) {
    tokio::task::spawn_blocking(venv).await.expect("venv");
    // The tier of new orgs; `tier_enterprise` has `allow_scim` (§10.1). The tools send a few
    // hundred requests a minute; the limits are not under test here.
    let node = Node::on(backend == Backend::Postgres)
        .await
        .with("ORG_SERVER_DEFAULT_TIER_ID", "tier_enterprise")
        .with("ORG_SERVER_RATE_LIMIT__SCIM_PER_TOKEN", "100000")
        .with("ORG_SERVER_RATE_LIMIT__PER_IP", "100000");
    let owner = node.token("owner@example.com");
    let server = node.serve().await;
    let c = server.client();
    // One org per tool, so that neither sees what the other left behind.
    let tester_org = c.create_org(&owner, "tester", "Conformance tester").await;
    let tester_token = c.scim_token(&tester_org, "tester").await;
    let sanity_org = c.create_org(&owner, "sanity", "Conformance sanity").await;
    let sanity_token = c.scim_token(&sanity_org, "sanity").await;
    let base = server.base.clone();
    let scim_base = format!("{base}/scim/v2");

    let mut report = String::new();
    let mut failures = Vec::new();
    let runs = [(Tool::Scim2Tester, tester_token), (Tool::ScimSanity, sanity_token)];
    for (tool, token) in runs {
        let started = Instant::now();
        let scim_base = scim_base.clone();
        let (version, outcomes) = tokio::task::spawn_blocking(move || match tool {
            Tool::Scim2Tester => scim2_tester(backend, &scim_base, &token),
            Tool::ScimSanity => scim_sanity(backend, &scim_base, &token),
        })
        .await
        .expect("tool run");
        let t = tally(tool, &outcomes);
        let _ = writeln!(
            report,
            "SCIM conformance [{}] {} {version}: {} checks run, {} passed, {} failed, {} waived ({} skipped) in {:.1}s",
            backend.name(),
            tool.name(),
            t.run,
            t.passed,
            t.failed.len(),
            t.waived.len(),
            t.skipped,
            started.elapsed().as_secs_f64()
        );
        for w in &t.waived {
            let _ = writeln!(report, "    waived  {w}");
        }
        for f in &t.failed {
            let _ = writeln!(report, "    FAILED  {f}");
        }
        assert!(t.run > 0, "{} ran no check", tool.name());
        failures.extend(t.failed.iter().map(|f| format!("{}: {f}", tool.name())));
    }
    // Past the harness's capture, so that the numbers show in every `cargo test` run.
    let _ = std::io::stderr().write_all(report.as_bytes());
    let log = server.log_tail();
    drop(server);
    assert!(
        failures.is_empty(),
        "{} unwaived SCIM conformance failure(s) on {}:\n{}\nserver log (tail):\n{log}",
        failures.len(),
        backend.name(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim_conformance_tools_find_no_unwaived_failure_on_sqlite() {
    conformance(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim_conformance_tools_find_no_unwaived_failure_on_postgres() {
    conformance(Backend::Postgres).await;
}

#[test]
fn every_waiver_names_a_check_and_a_contract_rule() {
    for w in WAIVERS {
        assert!(!w.check.is_empty(), "a waiver without a check");
        assert!(w.rule.contains('§'), "{}: name the contract rule (API.md §…)", w.check);
    }
}

#[test]
fn waivers_match_only_the_disagreement_they_name() {
    let members = |returned_display: &str, returned_value: &str| {
        format!(
            "PATCH modify() returned unexpected value for 'members'.\n\
             Patched value: [Members(value='u1', ref='http://h/Users/u1', display=None, type='User')]\n\
             Returned value: [Members(value='{returned_value}', ref='http://h/Users/{returned_value}', \
             display={returned_display}, type='User')]"
        )
    };
    let emails = |patched_type: &str, patched_value: &str| {
        format!(
            "PATCH modify() returned unexpected value for 'emails'.\n\
             Patched value: [Emails(value='{patched_value}', type='{patched_type}', primary=False)]\n\
             Returned value: [Emails(value='a@b.com', type='work', primary=True)]"
        )
    };
    let waived = |tool: Tool, check: &str, message: &str| {
        WAIVERS
            .iter()
            .any(|w| w.tool == tool && w.check == check && (w.matches)(message))
    };
    let cases = [
        (
            Tool::Scim2Tester,
            "Group/check_add_attribute",
            members("'a@b.com'", "u1"),
            true,
        ),
        (
            Tool::Scim2Tester,
            "Group/check_replace_attribute",
            members("'x, (y)'", "u1"),
            true,
        ),
        (
            Tool::Scim2Tester,
            "Group/check_add_attribute",
            members("'a@b.com'", "u2"),
            false,
        ),
        (
            Tool::Scim2Tester,
            "Group/check_add_attribute",
            "Failed to add attribute 'members': 400".into(),
            false,
        ),
        (
            Tool::Scim2Tester,
            "User/check_replace_attribute",
            emails("home", "a@b.com"),
            true,
        ),
        (
            Tool::Scim2Tester,
            "User/check_replace_attribute",
            emails("work", "c@d.com"),
            false,
        ),
        (
            Tool::Scim2Tester,
            "User/check_remove_attribute",
            "Failed to remove attribute 'active': \
             Operations[0]: 'active' cannot be removed"
                .into(),
            true,
        ),
        (
            Tool::Scim2Tester,
            "User/check_remove_attribute",
            "Failed to remove attribute 'name': 500".into(),
            false,
        ),
        (
            Tool::ScimSanity,
            "PATCH /Groups/{id} add member",
            "[fail] Expected 200, got 400".into(),
            true,
        ),
        (
            Tool::ScimSanity,
            "PATCH /Groups/{id} add member",
            "[fail] Expected 200, got 500".into(),
            false,
        ),
        (
            Tool::ScimSanity,
            "PATCH /Groups/{id} remove members",
            "[fail] Expected 200, got 400".into(),
            false,
        ),
    ];
    for (tool, check, message, expected) in cases {
        assert_eq!(waived(tool, check, &message), expected, "{check}: {message}");
    }
}
