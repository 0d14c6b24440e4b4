//! Shared test support: a real `eplinkd` on a private store and port, killed on drop.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eplink_control::client::Client;

pub const PROVIDER: (&str, &str) = ("LTAIproviderkey", "provider-secret-0001");
pub const CONSUMER1: (&str, &str) = ("LTAIconsumer1key", "consumer1-secret-0001");
pub const CONSUMER2: (&str, &str) = ("LTAIconsumer2key", "consumer2-secret-0001");
pub const C1_UID: i64 = 2_222_222_222_222_222;

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub dns_port: u16,
    child: Option<Child>,
}

impl Daemon {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dns_port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let inv = include_str!("../../examples/inventory.toml")
            .replace(
                "listen = \"127.0.0.1:8053\"",
                &format!("listen = \"127.0.0.1:{dns_port}\""),
            )
            .replace(
                "listen = \"127.0.0.1:8080\"",
                &format!("listen = \"127.0.0.1:{port}\""),
            )
            .replace(
                "path = \"eplink-state.db\"",
                &format!("path = \"{}\"", dir.path().join("state.db").display()),
            );
        std::fs::write(dir.path().join("inventory.toml"), inv).unwrap();
        let mut d = Self {
            dir,
            port,
            dns_port,
            child: None,
        };
        d.start();
        d
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.path().join("inventory.toml")
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("eplinkd.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_eplinkd"))
            .arg("--no-dataplane")
            .arg("--inventory")
            .arg(self.inventory())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn eplinkd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("eplinkd exited at start with {st}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "eplinkd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("eplinkd.log")).unwrap_or_default()
    }

    pub fn client(&self, (k, s): (&str, &str)) -> Client {
        Client::new(&format!("127.0.0.1:{}", self.port), k, s, "cn-hangzhou")
    }

    /// `host:port` of the API.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
