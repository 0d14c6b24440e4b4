//! The `eplink` CLI against a real `eplinkd`: the seed workflow through the command line,
//! tables, `--json`, and exit codes.

mod common;

use std::process::{Command, Output};

use common::{CONSUMER1, Daemon, PROVIDER};
use serde_json::Value;

fn eplink(d: &Daemon, who: (&str, &str), args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eplink"))
        .args(args)
        .env("EPLINK_ENDPOINT", d.endpoint())
        .env("EPLINK_ACCESS_KEY_ID", who.0)
        .env("EPLINK_ACCESS_KEY_SECRET", who.1)
        .env(
            "EPLINK_CONFIG",
            d.dir.path().join("no-such-credentials.toml"),
        )
        .env_remove("EPLINK_REGION")
        .env_remove("EPLINK_PROFILE")
        .output()
        .expect("run eplink")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "eplink failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).expect("--json prints JSON")
}

#[test]
#[expect(clippy::too_many_lines, reason = "one workflow, step by step")]
fn cli_seed_workflow_provider_and_consumer() {
    let d = Daemon::new();
    let created = json(&eplink(
        &d,
        PROVIDER,
        &[
            "--json",
            "service",
            "create",
            "--type",
            "nlb",
            "--resource",
            "nlb-prov1@cn-hangzhou-a",
            "--resource",
            "nlb-prov1@cn-hangzhou-b",
        ],
    ));
    let sid = created["ServiceId"].as_str().unwrap().to_owned();
    ok(&eplink(
        &d,
        PROVIDER,
        &["whitelist", "add", &sid, "2222222222222222"],
    ));
    let avail = ok(&eplink(&d, CONSUMER1, &["service", "available"]));
    assert!(
        avail.lines().next().unwrap().starts_with("SERVICE"),
        "{avail}"
    );
    assert!(avail.contains(&sid), "{avail}");
    let ep = json(&eplink(
        &d,
        CONSUMER1,
        &[
            "--json",
            "endpoint",
            "create",
            "--service",
            &sid,
            "--vpc",
            "vpc-consumer1",
            "--zone",
            "cn-hangzhou-a:vsw-c1a",
            "--zone",
            "cn-hangzhou-b:vsw-c1b:192.168.2.77",
            "--sg",
            "sg-c1all",
        ],
    ));
    assert_eq!(ep["ConnectionStatus"], "Disconnected");
    let eid = ep["EndpointId"].as_str().unwrap().to_owned();
    ok(&eplink(
        &d,
        PROVIDER,
        &["connection", "allow", &sid, &eid, "--bandwidth", "1000"],
    ));
    let table = ok(&eplink(
        &d,
        PROVIDER,
        &["connection", "list", "--service", &sid],
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "header + one row per zone:\n{table}");
    assert!(
        lines[1].contains("Connected") && lines[1].contains("1000"),
        "{table}"
    );
    // zone disconnect, manual allocation, enable
    ok(&eplink(
        &d,
        PROVIDER,
        &["zone-connection", "disable", &sid, &eid, "cn-hangzhou-a"],
    ));
    ok(&eplink(
        &d,
        PROVIDER,
        &[
            "zone-connection",
            "allocate",
            &sid,
            &eid,
            "cn-hangzhou-a",
            "--resource",
            "nlb-prov1",
        ],
    ));
    ok(&eplink(
        &d,
        PROVIDER,
        &["zone-connection", "enable", &sid, &eid, "cn-hangzhou-a"],
    ));
    let show = ok(&eplink(&d, CONSUMER1, &["endpoint", "show", &eid]));
    assert!(show.contains("192.168.2.77"), "{show}");
    // refusals keep their meaning in exit codes: 1 refused, 4 not found, 3 auth
    let del = eplink(&d, PROVIDER, &["service", "delete", &sid]);
    assert_eq!(del.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&del.stderr).contains("EndpointServiceConnectionDependence"));
    assert_eq!(
        eplink(
            &d,
            CONSUMER1,
            &["endpoint", "show", "ep-00000000000000000000"]
        )
        .status
        .code(),
        Some(4)
    );
    assert_eq!(
        eplink(&d, ("LTAIproviderkey", "wrong-secret-1"), &["regions"])
            .status
            .code(),
        Some(3)
    );
    // the documented delete order
    ok(&eplink(&d, PROVIDER, &["connection", "reject", &sid, &eid]));
    ok(&eplink(
        &d,
        PROVIDER,
        &["resource", "detach", &sid, "nlb-prov1@cn-hangzhou-a"],
    ));
    ok(&eplink(
        &d,
        PROVIDER,
        &["resource", "detach", &sid, "nlb-prov1@cn-hangzhou-b"],
    ));
    ok(&eplink(&d, PROVIDER, &["service", "delete", &sid]));
    let list = ok(&eplink(&d, CONSUMER1, &["endpoint", "list"]));
    assert!(list.contains("ServiceDeleted"), "{list}");
    ok(&eplink(&d, CONSUMER1, &["endpoint", "delete", &eid]));
}

#[test]
fn cli_without_credentials_exits_6_and_unreachable_exits_5() {
    let o = Command::new(env!("CARGO_BIN_EXE_eplink"))
        .args(["regions"])
        .env_remove("EPLINK_ACCESS_KEY_ID")
        .env_remove("EPLINK_ACCESS_KEY_SECRET")
        .env("EPLINK_CONFIG", "/nonexistent/eplink.toml")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(6));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = Command::new(env!("CARGO_BIN_EXE_eplink"))
        .args(["--region", "cn-hangzhou", "zones"])
        .env("EPLINK_ENDPOINT", format!("127.0.0.1:{port}"))
        .env("EPLINK_ACCESS_KEY_ID", "x")
        .env("EPLINK_ACCESS_KEY_SECRET", "yyyyyyyy")
        .env("EPLINK_CONFIG", "/nonexistent/eplink.toml")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn cli_reads_a_profile_file() {
    let d = Daemon::new();
    let path = d.dir.path().join("credentials.toml");
    std::fs::write(
        &path,
        format!("[prov]\nendpoint = \"{}\"\naccess_key_id = \"{}\"\naccess_key_secret = \"{}\"\nregion = \"cn-hangzhou\"\n", d.endpoint(), PROVIDER.0, PROVIDER.1),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eplink"))
        .args(["--profile", "prov", "zones"])
        .env("EPLINK_CONFIG", &path)
        .env_remove("EPLINK_ACCESS_KEY_ID")
        .env_remove("EPLINK_ACCESS_KEY_SECRET")
        .env_remove("EPLINK_ENDPOINT")
        .output()
        .unwrap();
    let out = ok(&o);
    assert_eq!(
        out,
        "ZONE           NAME\ncn-hangzhou-a  Hangzhou Zone A\ncn-hangzhou-b  Hangzhou Zone B\n"
    );
}
