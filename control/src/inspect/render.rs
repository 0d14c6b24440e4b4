//! Aligned-table renderings of the dataplane views (JSON goes straight through serde).

use std::fmt::Write as _;

use super::{Directory, EniRow, FlowRow, MapRow, Names, RateRow, StatsView};
use crate::cli::output::table;

fn or_dash(s: Option<&String>) -> String {
    s.map_or_else(|| "-".to_owned(), Clone::clone)
}

/// The ENI column: its id when known, else `#<index>`.
fn eni_cell(index: u32, n: &Names) -> String {
    n.eni_id.clone().unwrap_or_else(|| format!("#{index}"))
}

/// A footnote when names are unavailable.
#[must_use]
pub fn names_note(dir: &Directory) -> &'static str {
    if dir.available {
        ""
    } else {
        "(names unavailable: ENIs shown by index; pass --inventory or set EPLINK_INVENTORY to see ids)\n"
    }
}

/// Human units: `1.5k`, `12.3M`, `4.0G`.
#[must_use]
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[expect(clippy::cast_precision_loss, reason = "counters rounded for display")]
fn si_u(v: u64) -> String {
    if v < 10_000 { v.to_string() } else { si(v as f64) }
}

/// `eplink dp maps`.
#[must_use]
pub fn maps(rows: &[MapRow]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.to_owned(),
                r.kind.clone(),
                r.id.to_string(),
                r.key_size.to_string(),
                r.value_size.to_string(),
                r.max_entries.to_string(),
                r.entries.to_string(),
                format!("{:.2}%", r.fill_pct),
                r.counts.to_owned(),
            ]
        })
        .collect();
    table(&["MAP", "TYPE", "ID", "KEY", "VALUE", "MAX", "ENTRIES", "FILL", "ENTRIES ARE"], &body)
}

/// `eplink dp enis`.
#[must_use]
pub fn enis(rows: &[EniRow], dir: &Directory) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let n = &r.names;
            vec![
                eni_cell(r.eni_index, n),
                r.eni_index.to_string(),
                or_dash(n.endpoint_id.as_ref()),
                or_dash(n.zone.as_ref()),
                or_dash(n.state.as_ref()),
                r.dp_state.clone(),
                or_dash(n.resource_id.as_ref()),
                n.vpc_id.clone().map_or_else(|| r.vpc_index.to_string(), |v| format!("{v}({})", r.vpc_index)),
                r.address.to_string(),
                r.vip.map_or_else(|| "-".into(), |v| v.to_string()),
                r.bandwidth_mbps.map_or_else(|| "unlimited".into(), |m| format!("{m}Mbps")),
                r.flows.to_string(),
                format!("{}/{}", si_u(r.traffic.fwd_packets), si_u(r.traffic.fwd_bytes)),
                format!("{}/{}", si_u(r.traffic.rev_packets), si_u(r.traffic.rev_bytes)),
                r.traffic.drops.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &["ENI", "IDX", "ENDPOINT", "ZONE", "STATE", "DATAPLANE", "RESOURCE", "VPC", "ADDRESS", "VIP", "LIMIT", "FLOWS", "FWD PKT/B", "REV PKT/B", "DROPS"],
        &body,
    );
    out.push_str(names_note(dir));
    out
}

/// `eplink dp flows`.
#[must_use]
pub fn flows(rows: &[FlowRow], total: usize, dir: &Directory) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.proto.clone(),
                r.vpc_index.to_string(),
                format!("{} → {}", r.client, r.eni),
                format!("{} → {}", r.snat, r.vip),
                eni_cell(r.eni_index, &r.names),
                or_dash(r.names.endpoint_id.as_ref()),
                or_dash(r.names.zone.as_ref()),
                r.state.to_owned(),
                format!("{}/{}", r.fwd_flags, r.rev_flags.as_deref().unwrap_or("gone")),
                format!("{}s", r.idle_s),
            ]
        })
        .collect();
    let mut out = table(&["PROTO", "VPC", "CLIENT → ENI", "SNAT → VIP", "ENI", "ENDPOINT", "ZONE", "STATE", "FLAGS FWD/REV", "IDLE"], &body);
    let _ = writeln!(out, "{} flows shown, {total} tracked", rows.len());
    out.push_str(names_note(dir));
    out
}

/// `eplink dp stats`.
#[must_use]
pub fn stats(v: &StatsView, dir: &Directory) -> String {
    let g: Vec<Vec<String>> =
        v.global.iter().map(|r| vec![r.outcome.to_owned(), r.packets.to_string(), r.action.to_owned()]).collect();
    let mut out = table(&["OUTCOME", "PACKETS", "ACTION"], &g);
    out.push('\n');
    if v.per_eni.is_empty() {
        out.push_str("no per-ENI drops\n");
    } else {
        let e: Vec<Vec<String>> = v
            .per_eni
            .iter()
            .map(|r| {
                vec![
                    eni_cell(r.eni_index, &r.names),
                    r.eni_index.to_string(),
                    or_dash(r.names.endpoint_id.as_ref()),
                    or_dash(r.names.zone.as_ref()),
                    r.outcome.to_owned(),
                    r.packets.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&["ENI", "IDX", "ENDPOINT", "ZONE", "REASON", "PACKETS"], &e));
    }
    out.push_str(names_note(dir));
    out
}

/// One `eplink dp top` screen.
#[must_use]
pub fn top(rows: &[RateRow], interval_s: f64) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                eni_cell(r.eni_index, &r.names),
                or_dash(r.names.endpoint_id.as_ref()),
                or_dash(r.names.zone.as_ref()),
                si(r.fwd_pps),
                format!("{}b/s", si(r.fwd_bps)),
                si(r.rev_pps),
                format!("{}b/s", si(r.rev_bps)),
                si(r.drop_pps),
            ]
        })
        .collect();
    let mut out = format!("per-ENI rates over {interval_s:.1}s\n");
    out.push_str(&table(&["ENI", "ENDPOINT", "ZONE", "FWD PPS", "FWD BPS", "REV PPS", "REV BPS", "DROP PPS"], &body));
    out
}
