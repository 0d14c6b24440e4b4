//! API benchmark: runs the eplink API server in-process on a fresh SQLite store and drives it
//! with signed HTTP requests over loopback, like the SDK does.
//!
//! Metrics: `read_rps` and `read_p99_ms` (GetVpcEndpointAttribute, 8 concurrent clients),
//! `write_p99_ms` (UpdateVpcEndpointConnectionAttribute, one client), `create_10k_endpoints_s`
//! (CreateVpcEndpoint x N from 8 clients). Prints a table; `--out PATH` writes JSON.
//!
//! `cargo run --release -p eplink-control --example bench_api -- --out target/bench/api.json`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use eplink_control::api::{self, Api};
use eplink_control::client::Client;
use eplink_control::inventory::Inventory;
use eplink_control::state::State;
use eplink_control::store::SqliteStore;
use serde_json::Value;

#[derive(Debug, Parser)]
struct Args {
    /// Write the metrics as JSON here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Endpoints to create for `create_10k_endpoints_s` (the metric is scaled to 10,000).
    #[arg(long, default_value_t = 10_000)]
    endpoints: usize,
    /// Seconds of read load.
    #[arg(long, default_value_t = 5)]
    read_secs: u64,
    /// Number of timed writes.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Concurrent clients for reads and creates.
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

const PROVIDER: (&str, &str) = ("LTAIproviderkey", "provider-secret-0001");
const CONSUMER1: (&str, &str) = ("LTAIconsumer1key", "consumer1-secret-0001");

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "index of a percentile"
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

#[expect(clippy::too_many_lines, reason = "one linear benchmark script")]
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    // The example inventory plus a /16 vSwitch, so that 10,000 endpoints fit.
    let inv_text = include_str!("inventory.toml").to_owned()
        + "\n[[vswitches]]\nid = \"vsw-bench\"\nvpc = \"vpc-consumer1\"\nzone = \"cn-hangzhou-a\"\ncidr = \"10.100.0.0/16\"\n";
    let mut inv = Inventory::parse(&inv_text).context("bench inventory")?;
    inv.store.path = dir.path().join("bench.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    inv.api.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let inv = Arc::new(inv);
    let store = SqliteStore::open(&inv.store.path)?;
    let state = State::start(Arc::clone(&inv), Box::new(store))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(inv.api.listen))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(api::serve(Api::new(state), listener, async {
        let _ = stop_rx.await;
    }));
    let endpoint = format!("127.0.0.1:{port}");
    let provider = Client::new(&endpoint, PROVIDER.0, PROVIDER.1, "cn-hangzhou");
    let consumer = Client::new(&endpoint, CONSUMER1.0, CONSUMER1.1, "cn-hangzhou");

    let svc = provider.call(
        "CreateVpcEndpointService",
        &[
            ("ServiceResourceType", "nlb".into()),
            ("AutoAcceptEnabled", "True".into()),
            ("Resource.1.ResourceId", "nlb-prov1".into()),
            ("Resource.1.ResourceType", "nlb".into()),
            ("Resource.1.ZoneId", "cn-hangzhou-a".into()),
            ("Resource.2.ResourceId", "nlb-prov2".into()),
            ("Resource.2.ResourceType", "nlb".into()),
            ("Resource.2.ZoneId", "cn-hangzhou-a".into()),
        ],
    )?;
    let sid = s(&svc, "ServiceId");
    provider.call(
        "AddUserToVpcEndpointService",
        &[
            ("ServiceId", sid.clone()),
            ("UserId", "2222222222222222".into()),
        ],
    )?;

    // --- create N endpoints from `clients` threads
    let t0 = Instant::now();
    let per = args.endpoints.div_ceil(args.clients);
    let mut handles = Vec::new();
    for w in 0..args.clients {
        let (endpoint, sid) = (endpoint.clone(), sid.clone());
        let n = per.min(args.endpoints.saturating_sub(w * per));
        handles.push(std::thread::spawn(
            move || -> anyhow::Result<Vec<String>> {
                let c = Client::new(&endpoint, CONSUMER1.0, CONSUMER1.1, "cn-hangzhou");
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    let v = c.call(
                        "CreateVpcEndpoint",
                        &[
                            ("ServiceId", sid.clone()),
                            ("VpcId", "vpc-consumer1".into()),
                            ("SecurityGroupId.1", "sg-c1all".into()),
                            ("Zone.1.ZoneId", "cn-hangzhou-a".into()),
                            ("Zone.1.VSwitchId", "vsw-bench".into()),
                        ],
                    )?;
                    ids.push(s(&v, "EndpointId"));
                }
                Ok(ids)
            },
        ));
    }
    let mut eps = Vec::new();
    for h in handles {
        eps.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("creator panicked"))??,
        );
    }
    let create_s = t0.elapsed().as_secs_f64();
    if eps.len() != args.endpoints {
        bail!("created {} endpoints, wanted {}", eps.len(), args.endpoints);
    }
    #[expect(clippy::cast_precision_loss, reason = "ratio")]
    let create_10k_s = create_s * 10_000.0 / args.endpoints as f64;

    // --- reads: GetVpcEndpointAttribute from `clients` threads
    let eps = Arc::new(eps);
    let deadline = Instant::now() + Duration::from_secs(args.read_secs);
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.clients {
        let (endpoint, eps) = (endpoint.clone(), Arc::clone(&eps));
        handles.push(std::thread::spawn(
            move || -> anyhow::Result<Vec<Duration>> {
                let c = Client::new(&endpoint, CONSUMER1.0, CONSUMER1.1, "cn-hangzhou");
                let mut lat = Vec::new();
                let mut i = w;
                while Instant::now() < deadline {
                    let id = &eps[i % eps.len()];
                    let t = Instant::now();
                    let v = c.call("GetVpcEndpointAttribute", &[("EndpointId", id.clone())])?;
                    lat.push(t.elapsed());
                    if v["EndpointId"] != Value::String(id.clone()) {
                        bail!("wrong endpoint returned");
                    }
                    i += 7;
                }
                Ok(lat)
            },
        ));
    }
    let mut reads = Vec::new();
    for h in handles {
        reads.extend(h.join().map_err(|_| anyhow::anyhow!("reader panicked"))??);
    }
    let read_elapsed = t0.elapsed().as_secs_f64();
    reads.sort();
    #[expect(clippy::cast_precision_loss, reason = "rate")]
    let read_rps = reads.len() as f64 / read_elapsed;
    let read_p99 = percentile(&reads, 0.99);

    // --- writes: UpdateVpcEndpointConnectionAttribute, one client
    let mut writes = Vec::with_capacity(args.writes);
    for i in 0..args.writes {
        let bw = 100 + (i % 200) * 100;
        let t = Instant::now();
        provider.call(
            "UpdateVpcEndpointConnectionAttribute",
            &[
                ("ServiceId", sid.clone()),
                ("EndpointId", eps[i % eps.len()].clone()),
                ("Bandwidth", bw.to_string()),
            ],
        )?;
        writes.push(t.elapsed());
    }
    writes.sort();
    let write_p99 = percentile(&writes, 0.99);
    let write_p50 = percentile(&writes, 0.5);
    let _ = consumer;

    let _ = stop_tx.send(());
    rt.block_on(server)??;

    let metrics = serde_json::json!({
        "read_rps": (read_rps * 10.0).round() / 10.0,
        "read_p99_ms": (read_p99 * 1000.0).round() / 1000.0,
        "write_p99_ms": (write_p99 * 1000.0).round() / 1000.0,
        "write_p50_ms": (write_p50 * 1000.0).round() / 1000.0,
        "create_10k_endpoints_s": (create_10k_s * 100.0).round() / 100.0,
    });
    println!("{:<24} {:>12}  target", "metric", "value");
    println!("{:<24} {:>12.1}  >= 2000", "read_rps", read_rps);
    println!("{:<24} {:>12.3}", "read_p99_ms", read_p99);
    println!("{:<24} {:>12.3}  < 10", "write_p99_ms", write_p99);
    println!("{:<24} {:>12.3}", "write_p50_ms", write_p50);
    println!(
        "{:<24} {:>12.2}  ({} endpoints, {} clients)",
        "create_10k_endpoints_s", create_10k_s, args.endpoints, args.clients
    );
    if let Some(path) = args.out {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(&metrics)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
