//! The authoritative DNS server for endpoint and zone domain names (UDP): parses queries with
//! `hickory-proto`, answers from the committed table through [`crate::model::dns::resolve`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use rand::Rng;
use tokio::net::UdpSocket;

use crate::inventory::Inventory;
use crate::model::Table;
use crate::model::dns::{Family, lookup, resolve};
use crate::state::State;

/// TTL of every answer, short so that health changes (R19) reach clients quickly.
pub const TTL_S: u32 = 5;

/// Health of zone ENIs by ENI id, written by the prober; an ENI not in the map is healthy.
pub type EniHealth = Arc<RwLock<HashMap<String, bool>>>;

/// The zone a client queries from: the zone of the vSwitch, in the endpoint's VPC, whose block
/// holds the source address (VPCs may overlap, so only the endpoint's own VPC is searched).
fn client_zone(inv: &Inventory, table: &Table, qname: &str, src: IpAddr) -> Option<String> {
    let IpAddr::V4(v4) = src else { return None };
    let e = match lookup(table, inv, qname)? {
        crate::model::dns::Name::Endpoint(e) | crate::model::dns::Name::Zone(e, _) => e,
    };
    inv.vswitches
        .iter()
        .find(|v| v.vpc == e.vpc_id && v.cidr.contains(v4))
        .map(|v| v.zone.clone())
}

/// Builds the reply to one query packet; `None` for packets that are not queries.
#[must_use]
pub fn answer(
    table: &Table,
    inv: &Inventory,
    health: &EniHealth,
    packet: &[u8],
    src: IpAddr,
) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.authoritative = true;
    let Some(q) = req.queries.first().cloned() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp.to_vec().ok();
    };
    resp.add_query(q.clone());
    let qname = q.name().to_ascii();
    let apex = crate::model::dns::apex(inv);
    if !qname
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .ends_with(&apex)
    {
        resp.metadata.authoritative = false;
        resp.metadata.response_code = ResponseCode::Refused;
        return resp.to_vec().ok();
    }
    let family = match q.query_type() {
        RecordType::A => Some(Family::V4),
        RecordType::AAAA => Some(Family::V6),
        _ => None,
    };
    let healthy = |id: &str| {
        health
            .read()
            .map_or(true, |h| h.get(id).copied().unwrap_or(true))
    };
    let zone = client_zone(inv, table, &qname, src);
    let spread = rand::rng().random::<u32>() as usize;
    match family {
        Some(f) => match resolve(table, inv, &qname, f, zone.as_deref(), &healthy, spread) {
            None => {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            Some(addrs) => {
                for a in addrs {
                    let rdata = match a {
                        IpAddr::V4(x) => RData::A(A(x)),
                        IpAddr::V6(x) => RData::AAAA(AAAA(x)),
                    };
                    resp.add_answer(Record::from_rdata(q.name().clone(), TTL_S, rdata));
                }
            }
        },
        // Other types of an existing name: NODATA; of an unknown name: NXDOMAIN.
        None if lookup(table, inv, &qname).is_none() => {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        None => {}
    }
    resp.to_vec().ok()
}

/// Serves DNS over UDP on `socket` until the task is dropped.
pub async fn serve(state: State, socket: UdpSocket, health: EniHealth) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from): (usize, SocketAddr) = socket.recv_from(&mut buf).await?;
        let reply = {
            let table = state.read();
            answer(&table, state.inventory(), &health, &buf[..n], from.ip())
        };
        if let Some(r) = reply
            && let Err(e) = socket.send_to(&r, from).await
        {
            tracing::debug!(error = %e, %from, "DNS reply not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    use super::*;
    use crate::model::tests_support::{World, seed_state, service_req};
    use crate::model::{CreateEndpoint, CreateService};
    use crate::store::SqliteStore;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn setup() -> (State, String) {
        let inv = Inventory::parse(include_str!("../examples/inventory.toml")).unwrap();
        let st = State::start(Arc::new(inv), Box::new(SqliteStore::in_memory().unwrap())).unwrap();
        let service = CreateService {
            zone_affinity: true,
            ..service_req(&[("nlb-prov1", "cn-hangzhou-a"), ("nlb-prov1", "cn-hangzhou-b")], true)
        };
        let endpoint = CreateEndpoint {
            zone_affinity: true,
            ..World::endpoint_req("", &[("cn-hangzhou-a", "vsw-c1a"), ("cn-hangzhou-b", "vsw-c1b")])
        };
        let ep = seed_state(&st, service, endpoint);
        let name = Table::endpoint_domain(st.inventory(), &st.read().endpoints[&ep]);
        (st, name)
    }

    fn addrs(reply: &[u8]) -> (ResponseCode, Vec<IpAddr>) {
        let m = Message::from_vec(reply).unwrap();
        let a = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        (m.metadata.response_code, a)
    }

    #[test]
    fn r18_r20_real_udp_query_answers_local_zone_first() {
        let (st, name) = setup();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (rc, ips) = rt.block_on(async {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = sock.local_addr().unwrap();
            let server = tokio::spawn(serve(st.clone(), sock, EniHealth::default()));
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client
                .send_to(&query(&name, RecordType::A), addr)
                .await
                .unwrap();
            let mut buf = vec![0u8; 1500];
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            server.abort();
            addrs(&buf[..n])
        });
        assert_eq!(rc, ResponseCode::NoError);
        assert_eq!(ips.len(), 2);
        // a client inside vsw-c1b (zone b) gets zone b's ENI first (zone affinity)
        let t = st.read();
        let reply = answer(
            &t,
            st.inventory(),
            &EniHealth::default(),
            &query(&name, RecordType::A),
            "192.168.2.50".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            addrs(&reply).1[0],
            IpAddr::V4(Ipv4Addr::new(192, 168, 2, 1))
        );
    }

    #[test]
    fn r19_unhealthy_eni_is_left_out_and_names_outside_are_refused() {
        let (st, name) = setup();
        let t = st.read();
        let inv = st.inventory();
        let health = EniHealth::default();
        let eni_a = t.endpoints.values().next().unwrap().zones["cn-hangzhou-a"]
            .eni
            .id
            .clone();
        health.write().unwrap().insert(eni_a, false);
        let src: IpAddr = "192.168.1.9".parse().unwrap();
        let (_, ips) = addrs(&answer(&t, inv, &health, &query(&name, RecordType::A), src).unwrap());
        assert_eq!(ips, vec![IpAddr::V4(Ipv4Addr::new(192, 168, 2, 1))]);
        let (rc, _) =
            addrs(&answer(&t, inv, &health, &query("example.com.", RecordType::A), src).unwrap());
        assert_eq!(rc, ResponseCode::Refused);
        let bogus = "ep-00000000000000000000.epsrv-00000000000000000000.cn-hangzhou.privatelink.aliyuncs.com.";
        let (rc, _) = addrs(&answer(&t, inv, &health, &query(bogus, RecordType::A), src).unwrap());
        assert_eq!(rc, ResponseCode::NXDomain);
        let (rc, ips) =
            addrs(&answer(&t, inv, &health, &query(&name, RecordType::TXT), src).unwrap());
        assert_eq!((rc, ips.len()), (ResponseCode::NoError, 0));
    }
}
