//! Endpoint domain names and what they resolve to (R18–R20), as pure functions over the table:
//! the DNS server parses a query, asks [`resolve`], and writes the answer.

use std::net::IpAddr;

use super::{Endpoint, Table};
use crate::inventory::Inventory;

/// The record type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `A`.
    V4,
    /// `AAAA`.
    V6,
}

/// What a name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name<'a> {
    /// `ep-….epsrv-….<region>.privatelink.<suffix>`: every healthy zone.
    Endpoint(&'a Endpoint),
    /// `ep-…-<zone>.epsrv-….<region>.privatelink.<suffix>`: that zone.
    Zone(&'a Endpoint, String),
}

/// The zone of the eplink domain (`<region>.privatelink.<suffix>`), for which the server is
/// authoritative.
#[must_use]
pub fn apex(inv: &Inventory) -> String {
    format!("{}.privatelink.{}", inv.region, inv.domain_suffix)
}

/// Finds the endpoint (and zone) a query name stands for. Case-insensitive; a trailing dot
/// is allowed.
#[must_use]
pub fn lookup<'a>(table: &'a Table, inv: &Inventory, name: &str) -> Option<Name<'a>> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = name.strip_suffix(&format!(".{}", apex(inv)))?;
    let (first, svc) = rest.split_once('.')?;
    if svc.contains('.') {
        return None;
    }
    // Endpoint ids are `ep-` + 20 characters; a zone name appends `-<zone>`.
    let (ep_id, zone) = match first.get(..23) {
        Some(id) if first.len() == 23 => (id, None),
        Some(id) => (id, Some(first[23..].strip_prefix('-')?)),
        None => return None,
    };
    let e = table.endpoints.get(ep_id).filter(|e| e.service_id == svc)?;
    match zone {
        None => Some(Name::Endpoint(e)),
        Some(z) if e.zones.contains_key(z) => Some(Name::Zone(e, z.to_owned())),
        Some(_) => None,
    }
}

/// The addresses for `name`, or `None` for NXDOMAIN.
///
/// - R18: the endpoint name answers with the ENI address of every zone; a zone name with its
///   zone's. Draining ENIs of a smooth migration are never answered (R28).
/// - R19: zones that would not forward (connection not accepted, zone disconnected, resource
///   unhealthy) or whose ENI `healthy` says is down are left out of the endpoint name; if every
///   zone is down, all are answered (failing open beats answering nothing, and a connection
///   that awaits acceptance still resolves).
/// - R20: with zone affinity on both the service and the endpoint, a client in a zone that has
///   an endpoint zone gets that zone's address first; everyone else gets all addresses in an
///   order rotated by `spread` (pass a random number per query) so traffic spreads over zones.
#[must_use]
pub fn resolve(
    table: &Table,
    inv: &Inventory,
    name: &str,
    family: Family,
    client_zone: Option<&str>,
    healthy: &dyn Fn(&str) -> bool,
    spread: usize,
) -> Option<Vec<IpAddr>> {
    let addr = |e: &super::Eni| match family {
        Family::V4 => Some(IpAddr::V4(e.ip)),
        Family::V6 => e.ip6.map(IpAddr::V6),
    };
    match lookup(table, inv, name)? {
        Name::Zone(e, z) => Some(addr(&e.zones[&z].eni).into_iter().collect()),
        Name::Endpoint(e) => {
            // A zone is up when traffic to it would be forwarded (connection accepted, zone
            // connected to a healthy resource) and the prober has not marked its ENI down.
            let svc = table.services.get(&e.service_id);
            let forwarding = |z: &super::EndpointZone| {
                e.connection == super::ConnectionStatus::Connected
                    && matches!(
                        z.status,
                        super::ZoneStatus::Connected | super::ZoneStatus::Migrating
                    )
                    && z.resource_id.as_ref().is_some_and(|r| {
                        svc.and_then(|s| s.resources.get(&(z.zone.clone(), r.clone())))
                            .is_some_and(|res| res.healthy)
                    })
            };
            let mut zones: Vec<&super::EndpointZone> = e
                .zones
                .values()
                .filter(|z| forwarding(z) && healthy(&z.eni.id))
                .collect();
            if zones.is_empty() {
                zones = e.zones.values().collect();
            }
            let affinity = e.zone_affinity
                && table
                    .services
                    .get(&e.service_id)
                    .is_some_and(|s| s.zone_affinity);
            let local = client_zone.and_then(|cz| zones.iter().position(|z| z.zone == cz));
            match (affinity, local) {
                (true, Some(i)) => {
                    let own = zones.remove(i);
                    zones.insert(0, own);
                }
                _ if !zones.is_empty() => {
                    let n = zones.len();
                    zones.rotate_left(spread % n);
                }
                _ => {}
            }
            Some(zones.into_iter().filter_map(|z| addr(&z.eni)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::*;

    fn ips(v: &[IpAddr]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn r18_endpoint_name_answers_every_zone_and_zone_names_their_own() {
        let (w, _svc, ep) = two_zone_endpoint(false);
        let e = &w.t.endpoints[&ep];
        let all = |_: &str| true;
        let name = Table::endpoint_domain(&w.inv, e);
        assert!(name.ends_with(".cn-hangzhou.privatelink.aliyuncs.com"));
        let mut got = ips(&resolve(&w.t, &w.inv, &name, Family::V4, None, &all, 0).unwrap());
        got.sort();
        assert_eq!(got, vec!["192.168.1.1", "192.168.2.1"]);
        let zname = Table::zone_domain(&w.inv, e, "cn-hangzhou-b");
        assert_eq!(
            ips(&resolve(&w.t, &w.inv, &zname, Family::V4, None, &all, 0).unwrap()),
            vec!["192.168.2.1"]
        );
        // case and trailing dot do not matter; unknown names are NXDOMAIN
        assert!(
            resolve(
                &w.t,
                &w.inv,
                &(name.to_uppercase() + "."),
                Family::V4,
                None,
                &all,
                0
            )
            .is_some()
        );
        assert!(
            resolve(
                &w.t,
                &w.inv,
                "ep-nope.epsrv-nope.cn-hangzhou.privatelink.aliyuncs.com",
                Family::V4,
                None,
                &all,
                0
            )
            .is_none()
        );
        assert!(resolve(&w.t, &w.inv, "example.com", Family::V4, None, &all, 0).is_none());
        // no IPv6 on an IPv4 endpoint: NODATA, not NXDOMAIN
        assert_eq!(
            resolve(&w.t, &w.inv, &name, Family::V6, None, &all, 0),
            Some(vec![])
        );
    }

    #[test]
    fn r19_unhealthy_zone_leaves_the_name_and_comes_back() {
        let (w, _svc, ep) = two_zone_endpoint(false);
        let e = &w.t.endpoints[&ep];
        let name = Table::endpoint_domain(&w.inv, e);
        let down = e.zones["cn-hangzhou-a"].eni.id.clone();
        let healthy = |id: &str| id != down;
        assert_eq!(
            ips(&resolve(&w.t, &w.inv, &name, Family::V4, None, &healthy, 0).unwrap()),
            vec!["192.168.2.1"]
        );
        let none = |_: &str| false;
        assert_eq!(
            resolve(&w.t, &w.inv, &name, Family::V4, None, &none, 0)
                .unwrap()
                .len(),
            2,
            "fail open"
        );
        let all = |_: &str| true;
        assert_eq!(
            resolve(&w.t, &w.inv, &name, Family::V4, None, &all, 0)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn r19_disconnected_zone_or_failed_resource_leaves_the_name() {
        let (mut w, svc, ep) = two_zone_endpoint(false);
        let name = Table::endpoint_domain(&w.inv, &w.t.endpoints[&ep]);
        let all = |_: &str| true;
        w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, false))
            .unwrap();
        assert_eq!(
            ips(&resolve(&w.t, &w.inv, &name, Family::V4, None, &all, 0).unwrap()),
            vec!["192.168.2.1"]
        );
        w.run(PROVIDER, |t, c| t.enable_zone(c, &svc, &ep, A))
            .unwrap();
        assert_eq!(
            resolve(&w.t, &w.inv, &name, Family::V4, None, &all, 0)
                .unwrap()
                .len(),
            2
        );
        // zone B's resources all fail, so nothing can take over in B: B leaves the name
        let inv = w.inv.clone();
        for r in ["nlb-prov1", "nlb-prov2"] {
            w.t.set_resource_health(&inv, &svc, B, r, false);
        }
        assert_eq!(
            ips(&resolve(&w.t, &w.inv, &name, Family::V4, None, &all, 0).unwrap()),
            vec!["192.168.1.1"]
        );
    }

    #[test]
    fn r20_zone_affinity_puts_the_local_zone_first_else_spreads() {
        let (w, _svc, ep) = two_zone_endpoint(true);
        let e = &w.t.endpoints[&ep];
        let name = Table::endpoint_domain(&w.inv, e);
        let all = |_: &str| true;
        for spread in 0..4 {
            let got = ips(&resolve(
                &w.t,
                &w.inv,
                &name,
                Family::V4,
                Some("cn-hangzhou-b"),
                &all,
                spread,
            )
            .unwrap());
            assert_eq!(got[0], "192.168.2.1");
        }
        let firsts: std::collections::BTreeSet<String> = (0..4)
            .map(|s| {
                ips(&resolve(
                    &w.t,
                    &w.inv,
                    &name,
                    Family::V4,
                    Some("cn-hangzhou-z"),
                    &all,
                    s,
                )
                .unwrap())[0]
                    .clone()
            })
            .collect();
        assert_eq!(
            firsts.len(),
            2,
            "queries from elsewhere spread over both zones"
        );
    }

    #[test]
    fn r20_without_affinity_the_local_zone_is_not_preferred() {
        let (w, _svc, ep) = two_zone_endpoint(false);
        let name = Table::endpoint_domain(&w.inv, &w.t.endpoints[&ep]);
        let all = |_: &str| true;
        let firsts: std::collections::BTreeSet<String> = (0..4)
            .map(|s| {
                ips(&resolve(
                    &w.t,
                    &w.inv,
                    &name,
                    Family::V4,
                    Some("cn-hangzhou-b"),
                    &all,
                    s,
                )
                .unwrap())[0]
                    .clone()
            })
            .collect();
        assert_eq!(firsts.len(), 2);
    }
}
