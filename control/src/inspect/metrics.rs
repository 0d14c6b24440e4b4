//! Prometheus text exposition (format 0.0.4) of the dataplane's counters, for `GET /metrics`.

use std::{collections::BTreeMap, fmt::Write as _};

use eplink_dataplane::{Maps, abi::Outcome};

use super::{Directory, InspectError, Traffic, flow_counts, hash_maps_view, maps_view};
use crate::model::DataplaneZone;

/// Escapes a label value: backslash, double quote and newline.
#[must_use]
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A metric family being written: HELP and TYPE once, then samples.
struct Family<'a> {
    out: &'a mut String,
    name: String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name: name.to_owned() }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(&self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` spelled as Prometheus does.
#[must_use]
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
#[must_use]
pub fn valid_name(name: &str) -> bool {
    let mut cs = name.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[expect(clippy::cast_precision_loss, reason = "Prometheus samples are f64")]
fn f(v: u64) -> f64 {
    v as f64
}

/// The ENIs to report: every ENI of the table plus every index with counters.
fn eni_labels(dir: &Directory, indexes: impl Iterator<Item = u32>) -> BTreeMap<u32, [String; 4]> {
    let mut out = BTreeMap::new();
    for i in indexes {
        let n = dir.names(i);
        let eni = n.eni_id.clone().unwrap_or_else(|| format!("#{i}"));
        out.insert(i, [eni, i.to_string(), n.endpoint_id.unwrap_or_default(), n.zone.unwrap_or_default()]);
    }
    out
}

/// The whole exposition: per-ENI and per-endpoint counters, drops by reason, outcomes,
/// flows, map fill, then `extra` gauges verbatim (name, value; invalid names are skipped,
/// since one bad line would make Prometheus reject the whole scrape).
///
/// Map read failures do not fail the scrape: they are reported in
/// `eplink_dataplane_read_errors` so an alert can fire on them.
#[must_use]
pub fn metrics_text(maps: &Maps, view: Option<&[DataplaneZone]>, extra: &[(String, f64)]) -> String {
    let mut out = String::new();
    let errors = render(&mut out, maps, view).err().map_or(0, |_| 1);
    let mut fam = Family::new(&mut out, "eplink_dataplane_read_errors", "gauge", "1 if reading the pinned maps failed during this scrape.");
    fam.sample(&[], f(errors));
    for (name, value) in extra {
        if valid_name(name) {
            let mut fam = Family::new(&mut out, name, "gauge", "Reported by eplinkd.");
            fam.sample(&[], *value);
        }
    }
    out
}

fn render(out: &mut String, maps: &Maps, view: Option<&[DataplaneZone]>) -> Result<(), InspectError> {
    let dir = Directory::new(view);
    // With the committed table at hand, read only its ENIs (and any still published): a
    // scrape must not read every slot of a 65,536-entry per-CPU array.
    let stats = match view {
        Some(v) => {
            let mut idx: std::collections::BTreeSet<u32> = v.iter().map(|z| z.eni_index).collect();
            idx.extend(maps.enis.iter().filter_map(std::result::Result::ok).map(|(_, i)| i));
            super::eni_stats_of(maps, idx)?
        }
        None => super::all_eni_stats(maps)?,
    };
    let flows = maps.flows()?;
    let per_eni_flows = flow_counts(&flows);
    let mut indexes: Vec<u32> = stats.keys().copied().collect();
    indexes.extend(view.unwrap_or_default().iter().map(|z| z.eni_index));
    let labels = eni_labels(&dir, indexes.into_iter());
    let traffic: BTreeMap<u32, Traffic> =
        labels.keys().map(|i| (*i, stats.get(i).map(Traffic::from).unwrap_or_default())).collect();
    let names = ["eni", "eni_index", "endpoint", "zone"];
    let with = |l: &[String; 4], more: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
        names.iter().zip(l.iter()).map(|(k, v)| (*k, v.clone())).chain(more.iter().map(|(k, v)| (*k, (*v).to_owned()))).collect()
    };
    let emit = |fam: &mut Family, l: Vec<(&'static str, String)>, v: u64| {
        let refs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fam.sample(&refs, f(v));
    };

    let mut fam = Family::new(out, "eplink_eni_packets_total", "counter", "Packets through an ENI, by direction (forward = consumer to service).");
    for (i, l) in &labels {
        emit(&mut fam, with(l, &[("direction", "forward")]), traffic[i].fwd_packets);
        emit(&mut fam, with(l, &[("direction", "reverse")]), traffic[i].rev_packets);
    }
    let mut fam = Family::new(out, "eplink_eni_bytes_total", "counter", "Frame bytes through an ENI, by direction.");
    for (i, l) in &labels {
        emit(&mut fam, with(l, &[("direction", "forward")]), traffic[i].fwd_bytes);
        emit(&mut fam, with(l, &[("direction", "reverse")]), traffic[i].rev_bytes);
    }
    let mut fam = Family::new(out, "eplink_eni_drops_total", "counter", "Packets of an ENI dropped, by reason (only reasons seen so far).");
    for (i, l) in &labels {
        if let Some(s) = stats.get(i) {
            for o in Outcome::ALL.iter().filter(|o| o.is_drop() && s.drops[**o as usize] != 0) {
                emit(&mut fam, with(l, &[("reason", o.name())]), s.drops[*o as usize]);
            }
        }
    }
    let mut fam = Family::new(out, "eplink_eni_flows", "gauge", "Tracked flows of an ENI.");
    for (i, l) in &labels {
        emit(&mut fam, with(l, &[]), per_eni_flows.get(i).copied().unwrap_or(0));
    }

    // Per endpoint connection: every zone ENI of the endpoint together.
    let mut by_ep: BTreeMap<(String, String), Traffic> = BTreeMap::new();
    for z in view.unwrap_or_default() {
        let t = by_ep.entry((z.endpoint_id.clone(), z.service_id.clone())).or_default();
        let s = traffic.get(&z.eni_index).copied().unwrap_or_default();
        t.fwd_packets += s.fwd_packets;
        t.fwd_bytes += s.fwd_bytes;
        t.rev_packets += s.rev_packets;
        t.rev_bytes += s.rev_bytes;
        t.drops += s.drops;
    }
    let ep = |fam: &mut Family, (e, s): &(String, String), dir: Option<&str>, v: u64| {
        let mut l = vec![("endpoint", e.as_str()), ("service", s.as_str())];
        if let Some(d) = dir {
            l.push(("direction", d));
        }
        fam.sample(&l, f(v));
    };
    let mut fam = Family::new(out, "eplink_connection_packets_total", "counter", "Packets of an endpoint connection (all its zone ENIs), by direction.");
    for (k, t) in &by_ep {
        ep(&mut fam, k, Some("forward"), t.fwd_packets);
        ep(&mut fam, k, Some("reverse"), t.rev_packets);
    }
    let mut fam = Family::new(out, "eplink_connection_bytes_total", "counter", "Frame bytes of an endpoint connection, by direction.");
    for (k, t) in &by_ep {
        ep(&mut fam, k, Some("forward"), t.fwd_bytes);
        ep(&mut fam, k, Some("reverse"), t.rev_bytes);
    }
    let mut fam = Family::new(out, "eplink_connection_drops_total", "counter", "Dropped packets of an endpoint connection, every reason together.");
    for (k, t) in &by_ep {
        ep(&mut fam, k, None, t.drops);
    }

    let g = maps.global_stats()?;
    let mut fam = Family::new(out, "eplink_packets_total", "counter", "Packets the XDP program handled, by outcome.");
    for o in Outcome::ALL {
        fam.sample(&[("outcome", o.name()), ("action", super::action_of(o))], f(g[o as usize]));
    }
    let mut fam = Family::new(out, "eplink_flows", "gauge", "Tracked flows (forward entries of CT_FWD).");
    fam.sample(&[], f(u64::try_from(flows.len()).unwrap_or(u64::MAX)));

    let rows = if view.is_some() { hash_maps_view(maps)? } else { maps_view(maps)? };
    let mut fam = Family::new(out, "eplink_map_entries", "gauge", "Entries in use in a pinned map (keys; non-zero slots for arrays).");
    for r in &rows {
        fam.sample(&[("map", r.name)], f(r.entries));
    }
    let mut fam = Family::new(out, "eplink_map_max_entries", "gauge", "Capacity of a pinned map.");
    for r in &rows {
        fam.sample(&[("map", r.name)], f(u64::from(r.max_entries)));
    }
    let mut fam = Family::new(out, "eplink_map_fill_ratio", "gauge", "Entries in use over capacity (0 to 1).");
    for r in &rows {
        fam.sample(&[("map", r.name)], r.fill_pct / 100.0);
    }
    Ok(())
}
