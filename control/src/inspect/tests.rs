//! Unit tests of the pure parts: decoding, conversions, filters, rendering, exposition format.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use eplink_dataplane::abi::{
    addr_v4,
    bucket::Limit,
    flow::{PROTO_TCP, PROTO_UDP, SEEN_FIN, SEEN_RST, SEEN_SYN},
    FAMILY_V4,
};

use super::metrics::{escape_label, number, valid_name};
use super::*;

#[test]
fn mbps_from_cost_inverts_from_mbps_for_every_limit_the_api_accepts() {
    for mbps in 1..=25_600u64 {
        let l = Limit::from_mbps(mbps);
        assert_eq!(mbps_from_cost(l.cost_per_byte_q16), Some(mbps), "{mbps} Mbps");
    }
}

#[test]
fn zero_cost_means_unlimited() {
    assert_eq!(mbps_from_cost(0), None);
    assert_eq!(mbps_from_cost(Limit::UNLIMITED.cost_per_byte_q16), None);
}

#[test]
fn seen_flags_decode_to_words() {
    assert_eq!(flags_text(0), "-");
    assert_eq!(flags_text(SEEN_SYN), "syn");
    assert_eq!(flags_text(SEEN_SYN | SEEN_FIN | SEEN_RST), "syn,fin,rst");
    assert_eq!(flags_text(SEEN_FIN | 0x100), "fin", "unknown bits are ignored");
}

#[test]
fn tcp_state_follows_the_flags_of_both_directions() {
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN, Some(0)), "syn_sent");
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN, Some(SEEN_SYN)), "established");
    assert_eq!(flow_state(PROTO_TCP, 0, Some(0)), "established", "picked up mid-stream");
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN | SEEN_FIN, Some(SEEN_SYN)), "fin_wait");
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN | SEEN_FIN, Some(SEEN_SYN | SEEN_FIN)), "closing");
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN, Some(SEEN_SYN | SEEN_RST)), "reset");
    assert_eq!(flow_state(PROTO_TCP, SEEN_SYN, None), "orphan");
}

#[test]
fn udp_flows_are_active_while_their_reverse_entry_lives() {
    assert_eq!(flow_state(PROTO_UDP, 0, Some(0)), "active");
    assert_eq!(flow_state(PROTO_UDP, 0, None), "orphan");
}

#[test]
fn zone_states_and_protocols_have_names() {
    assert_eq!(zone_state_name(1), "connected");
    assert_eq!(zone_state_name(0), "disconnected");
    assert_eq!(zone_state_name(7), "unknown(7)");
    assert_eq!(proto_name(6), "tcp");
    assert_eq!(proto_name(17), "udp");
    assert_eq!(proto_name(1), "proto1");
}

#[test]
fn ipv4_addresses_come_from_the_first_four_bytes() {
    assert_eq!(ip_of(FAMILY_V4, &addr_v4([10, 0, 0, 100])), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)));
    let mut a = [0u8; 16];
    a[15] = 1;
    assert_eq!(ip_of(6, &a), "::1".parse::<IpAddr>().unwrap());
}

#[test]
fn fill_is_a_percentage_with_two_decimals() {
    assert!((fill_pct(1, 3) - 33.33).abs() < 1e-9);
    assert!((fill_pct(0, 0)).abs() < 1e-9);
    assert!((fill_pct(65_536, 65_536) - 100.0).abs() < 1e-9);
}

fn row(eni_index: u32, names: Names) -> FlowRow {
    let s = |a: [u8; 4], p: u16| SocketAddr::from((Ipv4Addr::from(a), p));
    FlowRow {
        proto: "tcp".into(),
        vpc_index: 1,
        client: s([10, 0, 0, 5], 40_000),
        eni: s([10, 0, 0, 100], 8080),
        snat: s([100, 64, 0, 1], 1234),
        vip: s([192, 0, 2, 10], 8080),
        eni_index,
        names,
        state: "established",
        fwd_flags: "syn".into(),
        rev_flags: Some("syn".into()),
        idle_s: 0,
        generation: 1,
    }
}

fn named() -> Names {
    Names {
        eni_id: Some("eni-1".into()),
        endpoint_id: Some("ep-1".into()),
        zone: Some("cn-hangzhou-a".into()),
        ..Names::default()
    }
}

#[test]
fn address_filter_matches_any_address_of_the_flow() {
    let r = row(1, Names::default());
    for a in ["10.0.0.5", "10.0.0.100", "100.64.0.1", "192.0.2.10"] {
        assert!(FlowFilter { addr: Some(a.parse().unwrap()), ..FlowFilter::default() }.matches(&r), "{a}");
    }
    assert!(!FlowFilter { addr: Some("10.0.0.6".parse().unwrap()), ..FlowFilter::default() }.matches(&r));
}

#[test]
fn port_filter_matches_client_service_or_snat_port() {
    let r = row(1, Names::default());
    for p in [40_000, 8080, 1234] {
        assert!(FlowFilter { port: Some(p), ..FlowFilter::default() }.matches(&r), "{p}");
    }
    assert!(!FlowFilter { port: Some(53), ..FlowFilter::default() }.matches(&r));
}

#[test]
fn name_filters_match_endpoint_zone_and_eni_id_or_index() {
    let r = row(7, named());
    let f = |endpoint: Option<&str>, zone: Option<&str>, eni: Option<&str>| FlowFilter {
        endpoint: endpoint.map(Into::into),
        zone: zone.map(Into::into),
        eni: eni.map(Into::into),
        ..FlowFilter::default()
    };
    assert!(f(Some("ep-1"), Some("cn-hangzhou-a"), Some("eni-1")).matches(&r));
    assert!(f(None, None, Some("7")).matches(&r));
    assert!(!f(None, None, Some("8")).matches(&r));
    assert!(!f(Some("ep-2"), None, None).matches(&r));
    assert!(!f(None, Some("cn-hangzhou-b"), None).matches(&r));
    assert!(!f(Some("ep-1"), None, None).matches(&row(7, Names::default())), "no names, no match");
}

#[test]
fn name_filters_without_a_connection_table_are_refused() {
    let dir = Directory::new(None);
    let endpoint = FlowFilter { endpoint: Some("ep-1".into()), ..FlowFilter::default() };
    assert!(matches!(endpoint.check(&dir), Err(InspectError::NeedsNames("endpoint"))));
    let zone = FlowFilter { zone: Some("z".into()), ..FlowFilter::default() };
    assert!(matches!(zone.check(&dir), Err(InspectError::NeedsNames("zone"))));
    let eni_id = FlowFilter { eni: Some("eni-1".into()), ..FlowFilter::default() };
    assert!(matches!(eni_id.check(&dir), Err(InspectError::NeedsNames("eni"))));
    let eni_index = FlowFilter { eni: Some("3".into()), port: Some(80), ..FlowFilter::default() };
    assert!(eni_index.check(&dir).is_ok());
}

#[test]
fn rates_are_deltas_over_the_interval_busiest_first() {
    let t = |p: u64, b: u64| Traffic { fwd_packets: p, fwd_bytes: b, rev_packets: p, rev_bytes: b, drops: 0 };
    let before = BTreeMap::from([(1, t(100, 10_000)), (2, t(0, 0))]);
    let after = BTreeMap::from([(1, t(300, 30_000)), (2, t(1000, 1_000_000)), (3, t(5, 500))]);
    let r = rates(&before, &after, 2.0, &Directory::default());
    assert_eq!(r.iter().map(|x| x.eni_index).collect::<Vec<_>>(), vec![2, 1, 3]);
    assert!((r[1].fwd_pps - 100.0).abs() < 1e-9);
    assert!((r[1].fwd_bps - 80_000.0).abs() < 1e-9, "bytes × 8 per second");
    assert!((r[2].fwd_pps - 2.5).abs() < 1e-9, "a new ENI counts from zero");
}

#[test]
fn counters_that_went_backwards_count_from_zero() {
    let t = |p: u64| Traffic { fwd_packets: p, ..Traffic::default() };
    let r = rates(&BTreeMap::from([(1, t(1000))]), &BTreeMap::from([(1, t(10))]), 1.0, &Directory::default());
    assert!((r[0].fwd_pps - 10.0).abs() < 1e-9);
}

#[test]
fn traffic_drops_sum_only_drop_outcomes() {
    let mut s = EniStats::default();
    s.drops[Outcome::EchoAnswered as usize] = 5;
    s.drops[Outcome::DropRateLimited as usize] = 3;
    s.drops[Outcome::DropStaleFlow as usize] = 2;
    assert_eq!(Traffic::from(&s).drops, 5);
}

#[test]
fn every_outcome_has_an_action() {
    assert_eq!(action_of(Outcome::Forwarded), "redirect");
    assert_eq!(action_of(Outcome::EchoAnswered), "tx");
    assert_eq!(action_of(Outcome::PassNoFlow), "pass");
    assert_eq!(action_of(Outcome::DropMalformed), "drop");
}

#[test]
fn prometheus_label_values_escape_backslash_quote_and_newline() {
    assert_eq!(escape_label("plain-ep_1"), "plain-ep_1");
    assert_eq!(escape_label(r#"a"b"#), r#"a\"b"#);
    assert_eq!(escape_label(r"a\b"), r"a\\b");
    assert_eq!(escape_label("a\nb"), r"a\nb");
}

#[test]
fn prometheus_numbers_are_integers_when_whole_and_spell_infinities() {
    assert_eq!(number(42.0), "42");
    assert_eq!(number(0.25), "0.25");
    assert_eq!(number(f64::INFINITY), "+Inf");
    assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    assert_eq!(number(f64::NAN), "NaN");
}

#[test]
fn prometheus_metric_names_are_validated() {
    assert!(valid_name("eplink_reconcile_lag_seconds"));
    assert!(valid_name("ns:metric_1"));
    assert!(!valid_name("1bad"));
    assert!(!valid_name("bad-name"));
    assert!(!valid_name(""));
}

#[test]
fn table_shows_index_and_a_note_when_names_are_unavailable() {
    let dir = Directory::new(None);
    let out = render::flows(&[row(3, Names::default())], 9, &dir);
    assert!(out.contains("#3"), "{out}");
    assert!(out.contains("10.0.0.5:40000 → 10.0.0.100:8080"), "{out}");
    assert!(out.contains("100.64.0.1:1234 → 192.0.2.10:8080"), "{out}");
    assert!(out.contains("1 flows shown, 9 tracked"), "{out}");
    assert!(out.contains("names unavailable"), "{out}");
    let out = render::flows(&[row(3, named())], 1, &Directory { available: true, ..Directory::default() });
    assert!(out.contains("eni-1") && out.contains("ep-1") && !out.contains("names unavailable"), "{out}");
}

#[test]
fn si_units_shorten_large_numbers() {
    assert_eq!(render::si(999.0), "999");
    assert_eq!(render::si(1500.0), "1.5k");
    assert_eq!(render::si(2_500_000.0), "2.5M");
    assert_eq!(render::si(25e9), "25.0G");
}

#[test]
fn names_come_from_the_store_read_only_and_a_missing_store_is_not_created() {
    use crate::store::{SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    assert!(matches!(names::load_table_read_only(&missing), Err(names::NamesError::NoStore(_))));
    assert!(!missing.exists(), "the CLI never creates a store");
    let path = dir.path().join("s.db");
    let mut t = crate::model::Table::default();
    t.meta.next_eni_index = 3;
    SqliteStore::open(&path).unwrap().commit(&t, &std::collections::BTreeSet::new(), None).unwrap();
    let loaded = names::load_table_read_only(&path).unwrap();
    assert!(loaded.services.is_empty() && loaded.endpoints.is_empty());
}
