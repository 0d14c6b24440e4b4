//! `eplinkd`: the eplink control daemon (inventory, connection table, API server).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use eplink_control::api::{self, Api};
use eplink_control::inventory::Inventory;
use eplink_control::reconcile;
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
    /// Serve the API and store only: load no XDP program and write no maps (for
    /// control-plane tests and API-only hosts).
    #[arg(long)]
    no_dataplane: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Colour only for a terminal: a log file or journal must not carry escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    // The dataplane comes up before the API: a daemon that cannot forward must not accept
    // endpoints. A restarted daemon adopts the pinned maps and links, so flows survive.
    let dataplane = if args.no_dataplane {
        tracing::warn!("--no-dataplane: the connection table is not loaded into any XDP maps");
        None
    } else {
        let (dp, ifindexes) = reconcile::runner::start_dataplane(&inv).context("start the dataplane")?;
        tracing::info!(pin_dir = %inv.dataplane.pin_dir.display(), interfaces = ifindexes.len(), "dataplane loaded");
        Some((dp, ifindexes))
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some((dp, ifindexes)) = dataplane {
        let metrics = Arc::new(reconcile::runner::LoopMetrics::default());
        reconcile::runner::spawn(dp, ifindexes, state.clone(), rt.handle().clone(), Arc::clone(&metrics))
            .context("start the reconciler")?;
        let listen = inv.dataplane.metrics_listen;
        let m = rt.block_on(tokio::net::TcpListener::bind(listen)).with_context(|| format!("bind metrics {listen}"))?;
        rt.spawn(metrics_server(m, state.clone(), metrics));
        tracing::info!(%listen, "metrics serving at /metrics");
    }
    let no_dataplane = args.no_dataplane;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(inv.api.listen)
            .await
            .with_context(|| format!("bind API {}", inv.api.listen))?;
        tracing::info!(listen = %inv.api.listen, region = %inv.region, "API serving");
        // DNS for endpoint names (R18-R20). Not fatal: the dataplane and the API work without it.
        match tokio::net::UdpSocket::bind(inv.dns.listen).await {
            Ok(sock) => {
                tracing::info!(listen = %inv.dns.listen, zone = %eplink_control::model::dns::apex(&inv), "DNS serving");
                let health = eplink_control::dns::EniHealth::default();
                tokio::spawn(eplink_control::dns::serve(state.clone(), sock, health));
            }
            Err(e) => tracing::error!(listen = %inv.dns.listen, error = %e, "DNS not served"),
        }
        // Health probes of service resources (R24): a failed resource's zone connections
        // move to another resource of its zone. Never without the dataplane: API-only
        // daemons cannot reach the VIPs, and every resource would be marked down.
        if inv.health.enabled && !no_dataplane {
            let h = &inv.health;
            let cfg = eplink_control::health::ProbeConfig {
                interval: std::time::Duration::from_millis(h.interval_ms),
                timeout: std::time::Duration::from_millis(h.timeout_ms),
                fall: h.fall,
                rise: h.rise,
            };
            tracing::info!(interval_ms = h.interval_ms, fall = h.fall, rise = h.rise, "resource health probes running");
            tokio::spawn(eplink_control::health::run(state.clone(), cfg, Box::new(eplink_control::health::default_target)));
        } else if no_dataplane {
            tracing::info!("resource health probes off (--no-dataplane)");
        } else {
            tracing::warn!("resource health probes off ([health] enabled = false): failed resources keep their zone connections");
        }
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

/// Prometheus text at `GET /metrics`: the pinned maps read afresh at each scrape, named
/// from the committed table, plus the reconcile loop's counters.
async fn metrics_server(listener: tokio::net::TcpListener, state: State, lm: Arc<reconcile::runner::LoopMetrics>) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (state, lm) = (state.clone(), Arc::clone(&lm));
            async move {
                let text = tokio::task::spawn_blocking(move || {
                    let inv = state.inventory();
                    let view = eplink_control::model::dataplane_view(&state.read(), inv);
                    match eplink_dataplane::Maps::open_pinned(&inv.dataplane.pin_dir) {
                        Ok(maps) => eplink_control::inspect::metrics_text(&maps, Some(&view), &lm.gauges()),
                        Err(e) => format!("# pinned maps unreadable: {e}\n"),
                    }
                })
                .await
                .unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}
