//! ENI address management inside a vSwitch (R11): reserved addresses, in-use checks, assignment.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::{Ipv4Network, Ipv6Network};

use super::ModelError;

/// Why an address cannot be used (the `EniIpUnavailable` detail).
fn unavailable(ip: &dyn std::fmt::Display, vsw: &str, why: &'static str) -> ModelError {
    ModelError::EniIpUnavailable(ip.to_string(), vsw.to_owned(), why)
}

/// True for the system-reserved addresses of a block: the first and the last three.
#[must_use]
pub fn is_reserved_v4(cidr: Ipv4Network, ip: Ipv4Addr) -> bool {
    let first = u32::from(cidr.network());
    let last = u32::from(cidr.broadcast());
    let x = u32::from(ip);
    x == first || (x >= last - 2 && x <= last)
}

/// Checks a requested IPv4 address, or picks the lowest free one. `extra` holds addresses
/// taken earlier in the same command (not yet in `used`).
pub fn assign_v4(
    vsw: &str,
    cidr: Ipv4Network,
    used: &BTreeSet<Ipv4Addr>,
    extra: &[Ipv4Addr],
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, ModelError> {
    if let Some(ip) = requested {
        if !cidr.contains(ip) {
            return Err(ModelError::IllegalParam(
                "Ip",
                format!("{ip} is outside the CIDR block {cidr} of vSwitch {vsw}"),
            ));
        }
        if is_reserved_v4(cidr, ip) {
            return Err(unavailable(&ip, vsw, "it is a system-reserved address"));
        }
        if used.contains(&ip) || extra.contains(&ip) {
            return Err(unavailable(&ip, vsw, "it is already in use"));
        }
        return Ok(ip);
    }
    let first = u32::from(cidr.network()) + 1;
    let last = u32::from(cidr.broadcast()) - 3;
    // Walk the used set in order to the first gap: O(used) without a lookup per candidate.
    let mut c = first;
    loop {
        for u in used.range(Ipv4Addr::from(c)..) {
            match u32::from(*u).cmp(&c) {
                std::cmp::Ordering::Equal => c += 1,
                std::cmp::Ordering::Greater => break,
                std::cmp::Ordering::Less => {}
            }
        }
        if c > last {
            return Err(ModelError::VSwitchIpExhausted(vsw.to_owned()));
        }
        if extra.contains(&Ipv4Addr::from(c)) {
            c += 1;
            continue;
        }
        return Ok(Ipv4Addr::from(c));
    }
}

/// Checks a requested IPv6 address, or picks the lowest free one (same reservation rule).
pub fn assign_v6(
    vsw: &str,
    cidr: Ipv6Network,
    used: &BTreeSet<Ipv6Addr>,
    extra: &[Ipv6Addr],
    requested: Option<Ipv6Addr>,
) -> Result<Ipv6Addr, ModelError> {
    let first = u128::from(cidr.network());
    let last = u128::from(cidr.broadcast());
    let reserved = |x: u128| x == first || (x <= last && x >= last - 2);
    if let Some(ip) = requested {
        if !cidr.contains(ip) {
            return Err(ModelError::IllegalParam(
                "Ipv6Address",
                format!("{ip} is outside the IPv6 block {cidr} of vSwitch {vsw}"),
            ));
        }
        if reserved(u128::from(ip)) {
            return Err(unavailable(&ip, vsw, "it is a system-reserved address"));
        }
        if used.contains(&ip) || extra.contains(&ip) {
            return Err(unavailable(&ip, vsw, "it is already in use"));
        }
        return Ok(ip);
    }
    // A /64 never runs out in practice; scan a bounded window to stay O(used).
    (first + 1..=first + 1 + (used.len() + extra.len()) as u128)
        .map(Ipv6Addr::from)
        .find(|ip| !used.contains(ip) && !extra.contains(ip))
        .ok_or_else(|| ModelError::VSwitchIpExhausted(vsw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn r11_reserved_addresses_of_a_slash24() {
        let n = net("192.168.1.0/24");
        for r in [
            "192.168.1.0",
            "192.168.1.253",
            "192.168.1.254",
            "192.168.1.255",
        ] {
            assert!(is_reserved_v4(n, ip(r)), "{r}");
        }
        for ok in ["192.168.1.1", "192.168.1.252", "192.168.1.100"] {
            assert!(!is_reserved_v4(n, ip(ok)), "{ok}");
        }
    }

    #[test]
    fn r11_requested_reserved_address_is_refused() {
        let n = net("192.168.1.0/24");
        for r in [
            "192.168.1.0",
            "192.168.1.253",
            "192.168.1.254",
            "192.168.1.255",
        ] {
            let e = assign_v4("vsw-a", n, &BTreeSet::new(), &[], Some(ip(r))).unwrap_err();
            assert_eq!(e.code(), "EniIpUnavailable");
        }
    }

    #[test]
    fn r11_requested_used_address_is_refused() {
        let n = net("192.168.1.0/24");
        let used = BTreeSet::from([ip("192.168.1.10")]);
        let e = assign_v4("vsw-a", n, &used, &[], Some(ip("192.168.1.10"))).unwrap_err();
        assert_eq!(e.code(), "EniIpUnavailable");
    }

    #[test]
    fn r11_requested_address_outside_cidr_is_refused() {
        let e = assign_v4(
            "vsw-a",
            net("192.168.1.0/24"),
            &BTreeSet::new(),
            &[],
            Some(ip("192.168.2.5")),
        )
        .unwrap_err();
        assert_eq!(e.code(), "IllegalParam.Ip");
    }

    #[test]
    fn r11_system_assigns_first_free_non_reserved() {
        let n = net("192.168.1.0/24");
        let used = BTreeSet::from([ip("192.168.1.1")]);
        assert_eq!(
            assign_v4("vsw-a", n, &used, &[], None).unwrap(),
            ip("192.168.1.2")
        );
    }

    #[test]
    fn r11_exhausted_vswitch_is_refused() {
        let n = net("192.168.9.0/29");
        let mut used = BTreeSet::new();
        for _ in 0..4 {
            let a = assign_v4("vsw-t", n, &used, &[], None).unwrap();
            assert!(!is_reserved_v4(n, a));
            used.insert(a);
        }
        let e = assign_v4("vsw-t", n, &used, &[], None).unwrap_err();
        assert_eq!(e.code(), "ResourceNotEnough.VSwitchIp");
    }

    #[test]
    fn r11_assignment_skips_addresses_planned_in_the_same_call() {
        let n = net("192.168.1.0/24");
        let used = BTreeSet::from([ip("192.168.1.1"), ip("192.168.1.3")]);
        assert_eq!(
            assign_v4("v", n, &used, &[ip("192.168.1.2")], None).unwrap(),
            ip("192.168.1.4")
        );
        assert_eq!(
            assign_v4("v", n, &used, &[ip("192.168.1.2")], Some(ip("192.168.1.2")))
                .unwrap_err()
                .code(),
            "EniIpUnavailable"
        );
    }

    #[test]
    fn r12_ipv6_assignment_skips_reserved_and_used() {
        let n: Ipv6Network = "2408:4000:1:1::/64".parse().unwrap();
        let first: Ipv6Addr = "2408:4000:1:1::1".parse().unwrap();
        assert_eq!(
            assign_v6("v", n, &BTreeSet::new(), &[], None).unwrap(),
            first
        );
        let used = BTreeSet::from([first]);
        assert_eq!(
            assign_v6("v", n, &used, &[], None).unwrap(),
            "2408:4000:1:1::2".parse::<Ipv6Addr>().unwrap()
        );
        assert!(assign_v6("v", n, &used, &[], Some(first)).is_err());
        assert!(
            assign_v6(
                "v",
                n,
                &BTreeSet::new(),
                &[],
                Some("2408:4000:1:1::".parse().unwrap())
            )
            .is_err()
        );
    }
}
