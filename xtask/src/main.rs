//! `cargo xtask`: everything a fresh machine needs, behind one entry point.
//!
//! `setup` installs the toolchain (idempotent), `test` runs every test suite, `demo` runs
//! the main job, `bench` measures, `build-ebpf` builds the XDP object alone.

mod bench;
mod setup;

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "eplink developer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building and testing need: nightly rust-src, LLVM 22, bpf-linker, iproute2
    /// tools, iperf3; mount bpffs.
    Setup,
    /// Build the XDP object (ebpf/) with the nightly toolchain.
    BuildEbpf,
    /// Set up, then run every test: unit, packet fixtures, namespaces, SDK compatibility.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, then run the demo: namespaces, eplinkd, the seed's workflow with the eplink
    /// CLI, real traffic through the ENIs, the operator's view.
    Demo,
    /// Set up, then run benchmarks and write target/bench/<name>.json.
    Bench {
        /// Which benchmark: xdp, api, reconcile or all.
        #[arg(default_value = "all")]
        which: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup::ensure(),
        Cmd::BuildEbpf => build_ebpf(),
        Cmd::Test { args } => test(&args),
        Cmd::Demo => {
            setup::ensure()?;
            run(Command::new("cargo").args(["build", "--release", "-p", "eplink-control", "--bins"]))?;
            run(Command::new("cargo").args(["run", "--release", "-p", "eplink-tests", "--bin", "demo"]))
        }
        Cmd::Bench { which } => {
            setup::ensure()?;
            bench::run(&which)
        }
    }
}

/// The workspace root (xtask lives one level below it).
#[must_use]
#[expect(clippy::missing_panics_doc, reason = "xtask always lives inside the workspace")]
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is in the workspace").to_path_buf()
}

/// Runs a command in the workspace root; fails with its exit status.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.current_dir(root()).status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn build_ebpf() -> Result<()> {
    run(Command::new("cargo")
        .args(["+nightly", "build", "--release", "--locked", "--target-dir", "../target/ebpf"])
        .current_dir(root().join("ebpf"))
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback"))
        .map(|()| println!("built {}", root().join("target/ebpf/bpfel-unknown-none/release/eplink").display()))
}

fn test(extra: &[String]) -> Result<()> {
    setup::ensure()?;
    let mut failed = Vec::new();
    // Namespaces and BPF programs need root; the tests clean up after themselves.
    let mut cargo = Command::new("cargo");
    cargo.args(["test", "--workspace", "--no-fail-fast"]).args(extra);
    if let Err(e) = run(&mut cargo) {
        failed.push(format!("cargo test: {e}"));
    }
    // `cargo test --workspace` built eplinkd already (control's integration tests use it);
    // building it again alone would recompile the crate with another feature set.
    if !extra.is_empty() {
        run(Command::new("cargo").args(["build", "-p", "eplink-control", "--bin", "eplinkd"]))?;
    }
    let sdk = root().join("tests/sdk/run.sh");
    if let Err(e) = run(Command::new("bash").arg(sdk).env("EPLINKD_BIN", root().join("target/debug/eplinkd"))) {
        failed.push(format!("SDK compatibility suite: {e}"));
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}
