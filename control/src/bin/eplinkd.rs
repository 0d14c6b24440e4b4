//! `eplinkd`: the eplink control daemon (inventory, connection table, API server).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use eplink_control::api::{self, Api};
use eplink_control::inventory::Inventory;
use eplink_control::state::State;
use eplink_control::store::SqliteStore;

/// The eplink control daemon.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inventory file (TOML, see docs/inventory.md).
    #[arg(long, env = "EPLINK_INVENTORY")]
    inventory: PathBuf,
    /// Override the inventory's `[api] listen` address.
    #[arg(long)]
    api_listen: Option<std::net::SocketAddr>,
    /// Override the inventory's `[store] path`.
    #[arg(long)]
    store: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EPLINK_LOG").unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut inv = Inventory::load(&args.inventory).with_context(|| "invalid inventory".to_string())?;
    if let Some(a) = args.api_listen {
        inv.api.listen = a;
    }
    if let Some(s) = args.store {
        inv.store.path = s;
    }
    let inv = Arc::new(inv);
    let store = SqliteStore::open(&inv.store.path)
        .with_context(|| format!("open store {}", inv.store.path.display()))?;
    let state = State::start(Arc::clone(&inv), Box::new(store)).context("load the store")?;
    {
        let t = state.read();
        tracing::info!(
            services = t.services.len(),
            endpoints = t.endpoints.len(),
            store = %inv.store.path.display(),
            "connection table loaded"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(inv.api.listen)
            .await
            .with_context(|| format!("bind API {}", inv.api.listen))?;
        tracing::info!(listen = %inv.api.listen, region = %inv.region, "API serving");
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down");
        };
        api::serve(Api::new(state), listener, shutdown).await.context("API server")
    })
}
