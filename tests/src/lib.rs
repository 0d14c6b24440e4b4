//! Shared support for eplink's integration tests, demo and benchmarks: running code inside a
//! namespace, and writing benchmark reports.
#![expect(clippy::missing_panics_doc, reason = "test support: a set-up that fails panics with its cause")]

use std::thread;

pub mod gateway;

use eplink_dataplane::fixture::Netns;

/// Runs `f` on a new thread that lives in namespace `ns`, and returns its result.
pub fn in_ns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    let name = ns.name.clone();
    thread::spawn(move || {
        let _in = eplink_dataplane::fixture::enter_netns(&name);
        f()
    })
}

/// Writes benchmark metrics to `target/bench/<name>.json` (an object: metric -> number) and
/// prints them as a table.
pub fn report(name: &str, metrics: &[(&str, f64)]) -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    let obj: serde_json::Map<String, serde_json::Value> =
        metrics.iter().map(|(k, v)| ((*k).to_string(), serde_json::json!(v))).collect();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&obj)? + "\n")?;
    println!("\n{name} benchmark");
    let w = metrics.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in metrics {
        println!("  {k:<w$}  {v:>12.3}");
    }
    println!("  -> {}", path.canonicalize().unwrap_or(path.clone()).display());
    Ok(())
}
