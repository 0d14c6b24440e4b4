//! SQLite store: WAL journal, `synchronous=FULL`, one transaction per commit.
//!
//! Durability choice: in WAL mode `synchronous=NORMAL` survives a process crash (`kill -9`)
//! but may lose the last commits on power loss or an OS crash, because the WAL is only synced
//! at checkpoints. eplink acknowledges a call only after its commit and promises that nothing
//! acknowledged is lost, so it uses `FULL`: the WAL is fsynced at every commit. One fsync per
//! call is the price; it stays within the write-latency budget on local disks.
//!
//! Checkpoints: SQLite's automatic checkpoint runs inside the commit that crosses the WAL size
//! threshold, which puts a whole checkpoint (and its fsync of the database file) into one
//! unlucky call's latency. Automatic checkpoints are therefore off and a background thread runs
//! a `PASSIVE` checkpoint on its own connection every 500 ms; passive checkpoints never block
//! the writer.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Loaded, Store, StoreError, TokenReply};
use crate::model::{Dirty, Endpoint, Meta, Service, Table};

const SCHEMA_VERSION: i64 = 1;

/// The SQLite-backed store.
pub struct SqliteStore {
    conn: Connection,
    stop: Option<Arc<AtomicBool>>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(s) = &self.stop {
            s.store(true, Ordering::Relaxed);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, with a background checkpointer.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        let mut store = Self::init(conn)?;
        store.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let ckpt = Connection::open(path)?;
        ckpt.busy_timeout(std::time::Duration::from_millis(100))?;
        std::thread::Builder::new()
            .name("eplink-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    if let Err(e) = ckpt.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })?;
        store.stop = Some(stop);
        Ok(store)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS endpoints (id TEXT PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS client_tokens (
                 k TEXT PRIMARY KEY, response TEXT NOT NULL, created INTEGER NOT NULL);",
        )?;
        let v: Option<i64> = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        match v {
            None => {
                conn.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => return Err(StoreError::Schema(other, SCHEMA_VERSION)),
        }
        Ok(Self { conn, stop: None })
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    id: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Decode {
        what,
        id: id.to_owned(),
        source,
    })
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let mut out = Loaded::default();
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare("SELECT id, body FROM services")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, body) = row?;
                let s: Service = decode("service", &id, &body)?;
                out.table.services.insert(id, s);
            }
            let mut st = tx.prepare("SELECT id, body FROM endpoints")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, body) = row?;
                let e: Endpoint = decode("endpoint", &id, &body)?;
                out.table.endpoints.insert(id, e);
            }
            let meta: Option<String> = tx
                .query_row("SELECT v FROM meta WHERE k = 'meta'", [], |r| r.get(0))
                .optional()?;
            if let Some(m) = meta {
                out.table.meta = decode::<Meta>("meta", "meta", &m)?;
            }
            let mut st = tx.prepare("SELECT k, response, created FROM client_tokens")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    TokenReply {
                        response: r.get(1)?,
                        created: r.get(2)?,
                    },
                ))
            })?;
            for row in rows {
                let (k, v) = row?;
                out.tokens.insert(k, v);
            }
        }
        tx.commit()?;
        out.table.rebuild_index();
        Ok(out)
    }

    fn commit(
        &mut self,
        table: &Table,
        dirty: &BTreeSet<Dirty>,
        token: Option<(&str, &TokenReply)>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for d in dirty {
            match d {
                Dirty::Service(id) => match table.services.get(id) {
                    Some(s) => {
                        let body = serde_json::to_string(s).expect("a service serializes");
                        tx.execute(
                            "INSERT INTO services (id, body) VALUES (?1, ?2)
                             ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                            params![id, body],
                        )?;
                    }
                    None => {
                        tx.execute("DELETE FROM services WHERE id = ?1", [id])?;
                    }
                },
                Dirty::Endpoint(id) => match table.endpoints.get(id) {
                    Some(e) => {
                        let body = serde_json::to_string(e).expect("an endpoint serializes");
                        tx.execute(
                            "INSERT INTO endpoints (id, body) VALUES (?1, ?2)
                             ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                            params![id, body],
                        )?;
                    }
                    None => {
                        tx.execute("DELETE FROM endpoints WHERE id = ?1", [id])?;
                    }
                },
                Dirty::Meta => {
                    let body = serde_json::to_string(&table.meta).expect("meta serializes");
                    tx.execute(
                        "INSERT INTO meta (k, v) VALUES ('meta', ?1) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                        [body],
                    )?;
                }
            }
        }
        if let Some((k, reply)) = token {
            tx.execute(
                "INSERT OR REPLACE INTO client_tokens (k, response, created) VALUES (?1, ?2, ?3)",
                params![k, reply.response, reply.created],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn expire_tokens(&mut self, before: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM client_tokens WHERE created < ?1", [before])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::model::{Ctx, IdSource, IpVersion, Payer, Principal, ResourceSpec};

    struct SeqIds(u32);
    impl IdSource for SeqIds {
        fn fresh(&mut self, prefix: &str) -> String {
            self.0 += 1;
            format!("{prefix}{:020}", self.0)
        }
    }

    fn populate(t: &mut Table, inv: &Inventory) -> (String, String) {
        let mut ids = SeqIds(0);
        let mut ctx = Ctx {
            caller: 1_111_111_111_111_111,
            now: "2026-12-04T00:00:00Z".into(),
            dry_run: false,
            inv,
            ids: &mut ids,
        };
        let svc = t
            .create_service(
                &mut ctx,
                crate::model::CreateService {
                    resource_type: None,
                    resources: vec![
                        ResourceSpec {
                            id: "nlb-prov1".into(),
                            resource_type: None,
                            zone: "cn-hangzhou-a".into(),
                        },
                        ResourceSpec {
                            id: "nlb-prov1".into(),
                            resource_type: None,
                            zone: "cn-hangzhou-b".into(),
                        },
                    ],
                    auto_accept: true,
                    zone_affinity: false,
                    ip_version: IpVersion::IPv4,
                    payer: Payer::Endpoint,
                    description: "d".into(),
                },
            )
            .unwrap();
        t.add_user(&ctx, &svc, Principal::Account(2_222_222_222_222_222))
            .unwrap();
        ctx.caller = 2_222_222_222_222_222;
        let ep = t
            .create_endpoint(
                &mut ctx,
                crate::model::CreateEndpoint {
                    service_id: Some(svc.clone()),
                    service_name: None,
                    vpc_id: "vpc-consumer1".into(),
                    zones: vec![crate::model::ZoneSpec {
                        zone: "cn-hangzhou-a".into(),
                        vswitch_id: "vsw-c1a".into(),
                        ip: None,
                        ip6: None,
                    }],
                    security_groups: vec!["sg-c1all".into()],
                    ip_version: IpVersion::IPv4,
                    zone_affinity: false,
                    name: "e".into(),
                    description: String::new(),
                },
            )
            .unwrap();
        (svc, ep)
    }

    #[test]
    fn reopen_after_writes_reloads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let inv = Inventory::parse(include_str!("../../examples/inventory.toml")).unwrap();
        let mut t = Table::default();
        let (svc, ep) = populate(&mut t, &inv);
        {
            let mut s = SqliteStore::open(&path).unwrap();
            let dirty = t.take_dirty();
            let tok = TokenReply {
                response: "{\"EndpointId\":\"x\"}".into(),
                created: 5,
            };
            s.commit(&t, &dirty, Some(("2/CreateVpcEndpoint/tok", &tok)))
                .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.table.services, t.services);
        assert_eq!(loaded.table.endpoints, t.endpoints);
        assert_eq!(loaded.table.meta, t.meta);
        assert_eq!(loaded.table.used_v4("vsw-c1a"), t.used_v4("vsw-c1a"));
        assert_eq!(
            loaded.table.resource_load(&svc, "cn-hangzhou-a"),
            t.resource_load(&svc, "cn-hangzhou-a")
        );
        assert_eq!(loaded.tokens["2/CreateVpcEndpoint/tok"].created, 5);
        // deletions are persisted too
        let mut t2 = loaded.table;
        t2.endpoints.remove(&ep);
        let dirty = BTreeSet::from([Dirty::Endpoint(ep.clone())]);
        s.commit(&t2, &dirty, None).unwrap();
        drop(s);
        let loaded = SqliteStore::open(&path).unwrap().load().unwrap();
        assert!(loaded.table.endpoints.is_empty());
        assert!(loaded.table.services.contains_key(&svc));
    }

    #[test]
    fn tokens_expire() {
        let mut s = SqliteStore::in_memory().unwrap();
        let t = Table::default();
        s.commit(
            &t,
            &BTreeSet::new(),
            Some((
                "a",
                &TokenReply {
                    response: "{}".into(),
                    created: 1,
                },
            )),
        )
        .unwrap();
        s.commit(
            &t,
            &BTreeSet::new(),
            Some((
                "b",
                &TokenReply {
                    response: "{}".into(),
                    created: 100,
                },
            )),
        )
        .unwrap();
        assert_eq!(s.expire_tokens(50).unwrap(), 1);
        assert_eq!(s.load().unwrap().tokens.len(), 1);
    }

    #[test]
    fn wal_and_full_sync_are_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("w.db")).unwrap();
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = s
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2);
    }
}
