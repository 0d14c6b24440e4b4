//! Builds the XDP program (`ebpf/`, nightly, bpfel-unknown-none) so this crate can embed it.
//!
//! The nested cargo gets its own target directory (`target/ebpf`) so it never waits on the
//! outer build's lock, and a clean environment so the outer build's compiler settings do
//! not leak into it. `cargo xtask setup` installs the toolchain this needs.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("dataplane/ lives in the workspace root").to_path_buf();
    let ebpf_dir = root.join("ebpf");
    let target_dir = root.join("target").join("ebpf");
    for p in ["src", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", ebpf_dir.join(p).display());
    }
    println!("cargo:rerun-if-changed={}", manifest_dir.join("abi/src").display());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("abi/Cargo.toml").display());

    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ebpf_dir)
        .args(["+nightly", "build", "--release", "--locked"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback");
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let leaks = k.starts_with("CARGO_") || k.starts_with("RUSTC") || k == "RUSTFLAGS" || k == "RUSTUP_TOOLCHAIN" || k == "RUSTDOC";
        if leaks && k != "CARGO_HOME" {
            cmd.env_remove(&k);
        }
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("running `cargo +nightly build` in {}: {e}", ebpf_dir.display()));
    assert!(
        status.success(),
        "building the XDP program failed ({status}); if the toolchain is missing, run `cargo xtask setup` \
         (nightly rust-src, LLVM 22, bpf-linker)"
    );
    let object = target_dir.join("bpfel-unknown-none/release/eplink");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("eplink.bpf.o");
    std::fs::copy(&object, &out).unwrap_or_else(|e| panic!("copying {} to {}: {e}", object.display(), out.display()));
}
