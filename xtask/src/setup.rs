//! Installs the toolchain and tools eplink needs, skipping whatever is already there.
//!
//! The recipe is the one DESIGN.md records as verified on this machine kind: Debian's
//! LLVM 22 development packages, bpf-linker 0.13 built against them (it matches nightly's
//! LLVM), and nightly's rust-src for `-Z build-std=core`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::run;

const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// Debian packages: what needs them.
const PACKAGES: &[(&str, &str)] = &[
    ("llvm-22-dev", "bpf-linker build"),
    ("libpolly-22-dev", "bpf-linker build"),
    ("zlib1g-dev", "bpf-linker build"),
    ("libzstd-dev", "bpf-linker build"),
    ("iproute2", "namespaces in tests and the demo"),
    ("ethtool", "veth offload settings in tests and the demo"),
    ("iputils-ping", "ping through the ENI"),
    ("iperf3", "bandwidth measurements"),
    ("bpftool", "raw map dumps"),
    ("curl", "HTTP requests in the demo"),
];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs every set-up step that is not done yet.
pub fn ensure() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).filter(|p| !installed(p)).collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!("missing Debian packages {missing:?}; run `cargo xtask setup` as root");
        }
        println!("setup: installing {}", missing.join(" "));
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }

    let src = Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]).output();
    let has_src = src.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("rust-src")));
    if !has_src {
        println!("setup: adding rust-src to the nightly toolchain");
        run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
            .context("the nightly toolchain must be installed (it is preinstalled on this machine kind)")?;
    }

    let linker = Command::new("bpf-linker").arg("--version").output();
    let linker_ok = linker.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION));
    if !linker_ok {
        println!("setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (a few minutes)");
        let path = format!("{LLVM_BIN}:{}", std::env::var("PATH").unwrap_or_default());
        run(Command::new("cargo")
            .args(["install", "bpf-linker", "--locked", "--version", &format!("={BPF_LINKER_VERSION}")])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("PATH", path))?;
    }

    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts.lines().any(|l| l.split_whitespace().nth(2) == Some("bpf")) {
        if !is_root() {
            bail!("no bpffs mounted; run as root (or `mount -t bpf bpf /sys/fs/bpf`)");
        }
        println!("setup: mounting bpffs on /sys/fs/bpf");
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}
