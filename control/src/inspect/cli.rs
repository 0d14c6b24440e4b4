//! `eplink dp …`: the dataplane inspection commands (pinned maps, no daemon needed).
//!
//! Exit codes: 0 ok, 2 usage, 5 no dataplane pinned (or its maps unreadable), 6 the
//! inventory or store could not be read.

use std::{
    io::Write as _,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use eplink_dataplane::Clock;

use super::{Directory, FlowFilter, InspectError, names::NamesError};
use crate::inventory::Inventory;

/// Default pin directory when neither `--pin-dir` nor an inventory names one.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/eplink";

/// eplink dp: what the dataplane is really doing, read from its pinned BPF maps.
#[derive(Debug, Parser)]
#[command(name = "eplink dp", version)]
pub struct DpCli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// bpffs directory of the pinned maps (default: the inventory's `[dataplane] pin_dir`,
    /// else /sys/fs/bpf/eplink).
    #[arg(long, global = true, env = "EPLINK_PIN_DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Inventory file: its store gives ENIs their ids, endpoints, zones and resources
    /// (read-only; the daemon may be down).
    #[arg(long, global = true, env = "EPLINK_INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// What to show.
    #[command(subcommand)]
    pub command: DpCmd,
}

/// Inspection commands.
#[derive(Debug, Subcommand)]
pub enum DpCmd {
    /// Every pinned map: type, sizes, capacity, entries in use and fill.
    Maps,
    /// Every published ENI: names, zone connection, VIP, limit, flows and counters.
    Enis,
    /// Tracked flows (both directions joined), filtered.
    Flows(FlowArgs),
    /// Outcome counters (what the program did with every packet) and per-ENI drop reasons.
    Stats,
    /// Live per-ENI packet and bit rates.
    Top(TopArgs),
    /// The Prometheus exposition the daemon serves, computed from the pinned maps.
    Metrics,
}

/// `dp flows` filters.
#[derive(Debug, Args)]
pub struct FlowArgs {
    /// Only flows of this endpoint (`ep-…`; needs --inventory).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only flows of this zone (needs --inventory).
    #[arg(long)]
    pub zone: Option<String>,
    /// Only flows of this ENI: `eni-…` (needs --inventory) or its index.
    #[arg(long)]
    pub eni: Option<String>,
    /// Only flows with this address anywhere (client, ENI, SNAT or VIP).
    #[arg(long)]
    pub addr: Option<IpAddr>,
    /// Only flows with this port anywhere (client, service or SNAT port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Print only the counts.
    #[arg(long)]
    pub count: bool,
}

/// `dp top` options.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between samples.
    #[arg(long, default_value_t = 1.0, value_parser = positive_secs)]
    pub interval: f64,
    /// Stop after this many screens (default: until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.05 => Ok(v),
        _ => Err(format!("{s:?}: expected a number of seconds, at least 0.05")),
    }
}

/// Failures of `eplink dp`.
#[derive(Debug, thiserror::Error)]
pub enum DpError {
    /// The dataplane could not be read.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// Names could not be read.
    #[error(transparent)]
    Names(#[from] NamesError),
    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

impl DpError {
    /// The process exit code.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            DpError::Inspect(InspectError::NeedsNames(_)) => 2,
            DpError::Inspect(_) => 5,
            DpError::Names(_) => 6,
            DpError::Io(_) => 1,
        }
    }
}

fn print_json(v: &impl Serialize) -> Result<(), DpError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn print(s: &str) -> Result<(), DpError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `dp flows --json`.
#[derive(Serialize)]
struct FlowsJson<'a> {
    /// Flows that passed the filters.
    shown: usize,
    /// Every tracked flow.
    total: usize,
    flows: &'a [super::FlowRow],
}

/// Runs `eplink dp …`.
pub fn run(cli: &DpCli) -> Result<(), DpError> {
    let inv = cli.inventory.as_deref().map(Inventory::load).transpose().map_err(NamesError::from)?;
    let pin_dir = cli
        .pin_dir
        .clone()
        .or_else(|| inv.as_ref().map(|i| i.dataplane.pin_dir.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PIN_DIR));
    let maps = super::open(&pin_dir)?;
    let view = match &inv {
        Some(inv) => {
            let table = super::names::load_table_read_only(&inv.store.path)?;
            Some(crate::model::dataplane_view(&table, inv))
        }
        None => None,
    };
    let dir = Directory::new(view.as_deref());
    match &cli.command {
        DpCmd::Maps => {
            let rows = super::maps_view(&maps)?;
            if cli.json { print_json(&rows) } else { print(&super::render::maps(&rows)) }
        }
        DpCmd::Enis => {
            let rows = super::enis_view(&maps, &dir)?;
            if cli.json { print_json(&rows) } else { print(&super::render::enis(&rows, &dir)) }
        }
        DpCmd::Flows(a) => {
            let filter = FlowFilter {
                endpoint: a.endpoint.clone(),
                zone: a.zone.clone(),
                eni: a.eni.clone(),
                addr: a.addr,
                port: a.port,
            };
            let clock = Clock::open_pinned(&pin_dir).map_err(InspectError::from)?;
            let (rows, total) = super::flows_view(&maps, &clock, &dir, &filter)?;
            let shown = if a.count { &[][..] } else { &rows[..] };
            if cli.json {
                print_json(&FlowsJson { shown: rows.len(), total, flows: shown })
            } else if a.count {
                print(&format!("{} flows shown, {total} tracked\n", rows.len()))
            } else {
                print(&super::render::flows(&rows, total, &dir))
            }
        }
        DpCmd::Stats => {
            let v = super::stats_view(&maps, &dir)?;
            if cli.json { print_json(&v) } else { print(&super::render::stats(&v, &dir)) }
        }
        DpCmd::Top(a) => top(&maps, &dir, a, cli.json),
        DpCmd::Metrics => print(&super::metrics_text(&maps, view.as_deref(), &[])),
    }
}

/// `dp top --json` prints one object per screen (JSON lines).
#[derive(Serialize)]
struct TopJson<'a> {
    interval_s: f64,
    enis: &'a [super::RateRow],
}

fn top(maps: &eplink_dataplane::Maps, dir: &Directory, a: &TopArgs, json: bool) -> Result<(), DpError> {
    let mut before = super::sample(maps)?;
    let mut t0 = Instant::now();
    let mut screens = 0u64;
    while a.count.is_none_or(|c| screens < c) {
        std::thread::sleep(Duration::from_secs_f64(a.interval));
        let after = super::sample(maps)?;
        let t1 = Instant::now();
        let secs = (t1 - t0).as_secs_f64();
        let rows = super::rates(&before, &after, secs, dir);
        if json {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer(&mut out, &TopJson { interval_s: secs, enis: &rows }).map_err(std::io::Error::from)?;
            writeln!(out)?;
            out.flush()?;
        } else {
            // Clear the screen only on a terminal, so `dp top --count 3 > file` stays readable.
            let clear = if std::io::IsTerminal::is_terminal(&std::io::stdout()) { "\x1b[H\x1b[2J" } else { "" };
            print(&format!("{clear}{}{}", super::render::top(&rows, secs), super::render::names_note(dir)))?;
            if clear.is_empty() {
                print("\n")?;
            }
        }
        before = after;
        t0 = t1;
        screens += 1;
    }
    Ok(())
}
