//! The release binary as the benches that run it need it: its path, CPU pinning, a child
//! killed on drop, the admin CLI, and the median of a round's figures.

use std::path::Path;
use std::process::{Child, Command};

use serde_json::Value;

pub fn server_bin() -> &'static str {
    env!("CARGO_BIN_EXE_org-server")
}

/// `program` pinned to the CPUs `cpu` names (`taskset -c`).
pub fn pinned(cpu: &str, program: &str) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", cpu, program]);
    c
}

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The median; of an even count, the mean of the middle two.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

/// The admin CLI on the config file `cfg`; its JSON output.
pub fn cli(cfg: &Path, args: &[&str]) -> Value {
    let out = Command::new(server_bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// CPU seconds (user + system) of a process so far, from `/proc` (USER_HZ = 100).
pub fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the cluster in `data_dir`: its postmaster and its children (the backends, the
/// WAL writer, the checkpointer), exited ones included; 0 without one.
pub fn cluster_cpu(data_dir: Option<&std::path::Path>) -> f64 {
    let Some(postmaster) = data_dir
        .and_then(|d| std::fs::read_to_string(d.join("postmaster.pid")).ok())
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
    else {
        return 0.0;
    };
    // The postmaster's own time and that of its reaped children (backends that exited), then
    // the live children's.
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).unwrap_or_default();
    let f: Vec<f64> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let mut total = f.get(11..15).map_or(0.0, |t| t.iter().sum::<f64>()) / 100.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(postmaster) {
            total += cpu_of(pid);
        }
    }
    total
}

/// Waits up to 30 s for `GET {base}/healthz` to answer 2xx; panics with the server's log.
pub async fn wait_healthy(base: &str, log: &Path) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the server did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
