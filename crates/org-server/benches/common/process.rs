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
