//! End-to-end tests of the real `eplinkd` process: crash safety under `kill -9`, concurrent
//! writers, restart reload. Every spawned daemon is killed when its guard drops, even when an
//! assertion fails.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eplink_control::client::Client;
use serde_json::Value;

use common::{C1_UID, CONSUMER1, Daemon, PROVIDER};

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn setup_connected(p: &Client, c: &Client) -> (String, String) {
    let svc = p
        .call(
            "CreateVpcEndpointService",
            &[
                ("ServiceResourceType", "nlb".into()),
                ("AutoAcceptEnabled", "False".into()),
                ("Resource.1.ResourceId", "nlb-prov1".into()),
                ("Resource.1.ResourceType", "nlb".into()),
                ("Resource.1.ZoneId", "cn-hangzhou-a".into()),
                ("Resource.2.ResourceId", "nlb-prov1".into()),
                ("Resource.2.ResourceType", "nlb".into()),
                ("Resource.2.ZoneId", "cn-hangzhou-b".into()),
            ],
        )
        .unwrap();
    let sid = s(&svc, "ServiceId");
    p.call(
        "AddUserToVpcEndpointService",
        &[("ServiceId", sid.clone()), ("UserId", C1_UID.to_string())],
    )
    .unwrap();
    let ep = c
        .call(
            "CreateVpcEndpoint",
            &[
                ("ServiceId", sid.clone()),
                ("VpcId", "vpc-consumer1".into()),
                ("SecurityGroupId.1", "sg-c1all".into()),
                ("Zone.1.ZoneId", "cn-hangzhou-a".into()),
                ("Zone.1.VSwitchId", "vsw-c1a".into()),
                ("Zone.2.ZoneId", "cn-hangzhou-b".into()),
                ("Zone.2.VSwitchId", "vsw-c1b".into()),
            ],
        )
        .unwrap();
    (sid, s(&ep, "EndpointId"))
}

#[test]
fn crash_safety_acknowledged_calls_survive_kill9() {
    let mut d = Daemon::new();
    let (p, c) = (d.client(PROVIDER), d.client(CONSUMER1));
    let (sid, eid) = setup_connected(&p, &c);
    p.call(
        "EnableVpcEndpointConnection",
        &[
            ("ServiceId", sid.clone()),
            ("EndpointId", eid.clone()),
            ("Bandwidth", "1500".into()),
        ],
    )
    .unwrap();
    p.call(
        "DisableVpcEndpointZoneConnection",
        &[
            ("ServiceId", sid.clone()),
            ("EndpointId", eid.clone()),
            ("ZoneId", "cn-hangzhou-b".into()),
        ],
    )
    .unwrap();
    let before = p
        .call("ListVpcEndpointConnections", &[("ServiceId", sid.clone())])
        .unwrap();
    d.kill9();
    d.start();
    let after = p
        .call("ListVpcEndpointConnections", &[("ServiceId", sid.clone())])
        .unwrap();
    assert_eq!(
        before["Connections"], after["Connections"],
        "the connection table changed across kill -9"
    );
    let conn = &after["Connections"][0];
    assert_eq!(s(conn, "ConnectionStatus"), "Connected");
    assert_eq!(conn["Bandwidth"], 1500);
    let zb = conn["Zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| s(z, "ZoneId") == "cn-hangzhou-b")
        .unwrap();
    assert_eq!(s(zb, "ZoneStatus"), "Disconnected");
    // ENI indexes continue after the restart instead of restarting at zero
    let e2 = c
        .call(
            "CreateVpcEndpoint",
            &[
                ("ServiceId", sid.clone()),
                ("VpcId", "vpc-consumer1".into()),
                ("SecurityGroupId.1", "sg-c1all".into()),
                ("Zone.1.ZoneId", "cn-hangzhou-a".into()),
                ("Zone.1.VSwitchId", "vsw-c1a".into()),
            ],
        )
        .unwrap();
    let zones = c
        .call(
            "ListVpcEndpointZones",
            &[("EndpointId", s(&e2, "EndpointId"))],
        )
        .unwrap();
    let first = c
        .call("ListVpcEndpointZones", &[("EndpointId", eid)])
        .unwrap();
    let ips: Vec<String> = first["Zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| s(z, "EniIp"))
        .collect();
    assert!(
        !ips.contains(&s(&zones["Zones"][0], "EniIp")),
        "an address was handed out twice"
    );
}

#[test]
fn crash_safety_kill9_during_concurrent_writes() {
    let mut d = Daemon::new();
    let p = d.client(PROVIDER);
    let svc = p
        .call(
            "CreateVpcEndpointService",
            &[("ServiceResourceType", "nlb".into())],
        )
        .unwrap();
    let sid = s(&svc, "ServiceId");
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let attempted = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..4i64 {
        let (p, sid, acked, attempted, stop) = (
            d.client(PROVIDER),
            sid.clone(),
            Arc::clone(&acked),
            Arc::clone(&attempted),
            Arc::clone(&stop),
        );
        threads.push(std::thread::spawn(move || {
            let mut uid = 5_000_000_000_000_000 + w * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                attempted.lock().unwrap().push(uid);
                if p.call(
                    "AddUserToVpcEndpointService",
                    &[("ServiceId", sid.clone()), ("UserId", uid.to_string())],
                )
                .is_err()
                {
                    return;
                }
                acked.lock().unwrap().push(uid);
                uid += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    d.kill9();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(
        acked.len() >= 40,
        "only {} writes acknowledged",
        acked.len()
    );
    d.start();
    let mut present = Vec::new();
    let mut token = String::new();
    loop {
        let mut params = vec![("ServiceId", sid.clone()), ("MaxResults", "50".to_owned())];
        if !token.is_empty() {
            params.push(("NextToken", token.clone()));
        }
        let page = p.call("ListVpcEndpointServiceUsers", &params).unwrap();
        present.extend(
            page["Users"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|u| u["UserId"].as_i64()),
        );
        token = s(&page, "NextToken");
        if token.is_empty() {
            break;
        }
    }
    for uid in &acked {
        assert!(
            present.contains(uid),
            "acknowledged whitelist entry {uid} lost after kill -9"
        );
    }
    for uid in &present {
        assert!(
            *uid == 1_111_111_111_111_111 || attempted.contains(uid),
            "{uid} appeared from nowhere"
        );
    }
}

#[test]
fn concurrent_writers_never_lose_an_update() {
    let d = Daemon::new();
    let p = d.client(PROVIDER);
    let svc = p
        .call(
            "CreateVpcEndpointService",
            &[("ServiceResourceType", "nlb".into())],
        )
        .unwrap();
    let sid = s(&svc, "ServiceId");
    let threads: Vec<_> = (0..8i64)
        .map(|w| {
            let (p, sid) = (d.client(PROVIDER), sid.clone());
            std::thread::spawn(move || {
                for i in 0..15 {
                    p.call(
                        "AddUserToVpcEndpointService",
                        &[
                            ("ServiceId", sid.clone()),
                            ("UserId", (7_000_000 + w * 100 + i).to_string()),
                        ],
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let users = p
        .call(
            "ListVpcEndpointServiceUsers",
            &[("ServiceId", sid), ("MaxResults", "50".into())],
        )
        .unwrap();
    assert_eq!(users["TotalCount"], "121", "8 x 15 entries plus the owner");
}

#[test]
fn healthz_and_unknown_action() {
    let d = Daemon::new();
    let body = ureq::get(&format!("http://127.0.0.1:{}/healthz", d.port))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let e = d.client(PROVIDER).call("NoSuchAction", &[]).unwrap_err();
    assert_eq!(e.code(), Some("InvalidAction.NotFound"));
    let bad = Client::new(
        &format!("127.0.0.1:{}", d.port),
        PROVIDER.0,
        "wrong-secret",
        "cn-hangzhou",
    );
    assert_eq!(
        bad.call("DescribeRegions", &[]).unwrap_err().code(),
        Some("SignatureDoesNotMatch")
    );
}

#[test]
fn r1_cross_region_requests_fail_clearly() {
    let d = Daemon::new();
    let other = Client::new(&d.endpoint(), PROVIDER.0, PROVIDER.1, "cn-beijing");
    let e = other.call("ListVpcEndpointServices", &[]).unwrap_err();
    assert_eq!(e.code(), Some("IllegalParam.RegionId"));
    let p = d.client(PROVIDER);
    let c = d.client(CONSUMER1);
    let (sid, _) = setup_connected(&p, &c);
    let e = c
        .call(
            "CreateVpcEndpoint",
            &[
                ("ServiceId", sid),
                ("ServiceRegionId", "cn-beijing".into()),
                ("VpcId", "vpc-consumer1".into()),
                ("SecurityGroupId.1", "sg-c1all".into()),
                ("Zone.1.ZoneId", "cn-hangzhou-a".into()),
                ("Zone.1.VSwitchId", "vsw-c1a".into()),
            ],
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("Mismatch.RegionId"));
}

#[test]
fn r18_daemon_answers_endpoint_names_over_udp() {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};

    let d = Daemon::new();
    let (provider, consumer) = (d.client(PROVIDER), d.client(CONSUMER1));
    let (_, eid) = setup_connected(&provider, &consumer);
    let ep = consumer.call("GetVpcEndpointAttribute", &[("EndpointId", eid)]).unwrap();
    let name = s(&ep, "EndpointDomain");
    let mut query = Message::query();
    query.metadata.id = 7;
    query.add_query(Query::query(Name::from_ascii(format!("{name}.")).unwrap(), RecordType::A));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&query.to_vec().unwrap(), ("127.0.0.1", d.dns_port)).unwrap();
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    let mut got: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    got.sort();
    assert_eq!(got, vec!["192.168.1.1", "192.168.2.1"]);
}
