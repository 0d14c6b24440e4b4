//! `cargo xtask bench`: each benchmark prints a table and writes `target/bench/<name>.json`
//! (metric name → number). Ratios are against a baseline measured in the same run.
//!
//! The benchmarks themselves are binaries of the crates they measure; xtask only builds and
//! runs them (release mode), so it never needs the eBPF toolchain to compile itself.

use std::process::Command;

use anyhow::{bail, Result};

use crate::{root, run as run_cmd};

/// Runs the named benchmark (`xdp`, `api`, `reconcile`, or `all`).
pub fn run(which: &str) -> Result<()> {
    match which {
        "xdp" => xdp(),
        "api" => api(),
        "reconcile" => reconcile(),
        "all" => {
            xdp()?;
            api()?;
            reconcile()
        }
        other => bail!("unknown benchmark {other:?}: xdp, api, reconcile or all"),
    }
}

fn xdp() -> Result<()> {
    run_cmd(Command::new("cargo").args(["run", "--release", "-p", "eplink-tests", "--bin", "bench-xdp"]))
}

/// The real `eplinkd` in a gateway namespace, endpoints created through its API, the pinned
/// maps polled. The harness runs `eplinkd` from next to the bench binary, so the daemon and
/// the CLI are built in release mode first.
fn reconcile() -> Result<()> {
    run_cmd(Command::new("cargo").args(["build", "--release", "-p", "eplink-control", "--bins"]))?;
    run_cmd(Command::new("cargo").args(["run", "--release", "-p", "eplink-tests", "--bin", "bench-reconcile"]))
}

/// The API benchmark lives with the control plane (`control/examples/bench_api.rs`).
fn api() -> Result<()> {
    if !root().join("control/examples/bench_api.rs").exists() {
        bail!("the API benchmark (control/examples/bench_api.rs) is not written yet");
    }
    std::fs::create_dir_all(root().join("target/bench"))?;
    run_cmd(
        Command::new("cargo")
            .args(["run", "--release", "-p", "eplink-control", "--example", "bench_api", "--", "--out"])
            .arg(root().join("target/bench/api.json")),
    )
}
