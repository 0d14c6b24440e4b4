//! ENI addresses on the consumer-facing interfaces, over netlink: the kernel answers ARP for
//! an ENI only if the address is local. They are added as /32 (no prefix route, so two VPCs
//! with the same CIDR do not fight over routes), and only /32 addresses inside a vSwitch
//! CIDR of the interface's VPC are considered eplink's to remove.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};

use super::{IfIndexes, ReconcileError};
use crate::inventory::Inventory;

fn nl(e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Netlink(e.to_string())
}

/// Whether `addr` is one eplink may own on the VPC interface `ifname`.
fn managed(inv: &Inventory, ifname: &str, addr: IpAddr, prefix: u8) -> bool {
    let IpAddr::V4(a) = addr else { return false };
    if prefix != 32 {
        return false;
    }
    inv.vpcs
        .iter()
        .filter(|v| v.gateway_interface == ifname)
        .any(|v| inv.vswitches.iter().any(|s| s.vpc == v.id && s.cidr.contains(a)))
}

/// Makes the eplink-managed addresses of every VPC interface equal to `want`; returns the
/// number of addresses added or removed.
pub async fn sync_eni_addresses(
    inv: &Inventory,
    ifindexes: &IfIndexes,
    want: &BTreeMap<String, Vec<IpAddr>>,
) -> Result<usize, ReconcileError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(nl)?;
    let task = tokio::spawn(conn);
    let mut changes = 0;
    let ifnames: std::collections::BTreeSet<&String> = inv.vpcs.iter().map(|v| &v.gateway_interface).collect();
    for ifname in ifnames {
        let Some(&index) = ifindexes.get(ifname) else { continue };
        let wanted: &[IpAddr] = want.get(ifname).map_or(&[], Vec::as_slice);
        let mut live: Vec<(IpAddr, AddressMessage)> = Vec::new();
        let mut stream = handle.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = stream.try_next().await.map_err(nl)? {
            let addr = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            if let Some(addr) = addr.filter(|a| managed(inv, ifname, *a, msg.header.prefix_len)) {
                live.push((addr, msg));
            }
        }
        for a in wanted {
            if !live.iter().any(|(l, _)| l == a) {
                handle.address().add(index, *a, 32).execute().await.map_err(nl)?;
                changes += 1;
            }
        }
        for (a, msg) in live {
            if !wanted.contains(&a) {
                handle.address().del(msg).execute().await.map_err(nl)?;
                changes += 1;
            }
        }
    }
    task.abort();
    Ok(changes)
}
