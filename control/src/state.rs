//! The single owner of the connection table: one writer thread applies commands in arrival
//! order, commits each to the store, and only then replies. Readers take a shared lock and
//! never see an uncommitted change (the writer holds the lock across apply and commit).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use rand::Rng;
use tokio::sync::{oneshot, watch};

use crate::inventory::Inventory;
use crate::model::{Ctx, IdSource, ModelError, Table, Uid};
use crate::store::{Store, StoreError, TokenReply};

/// How long a `ClientToken` reply is remembered (seconds).
pub const TOKEN_TTL_S: i64 = 24 * 3600;

/// Errors of the state owner.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The model refused the command.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store failed; nothing was acknowledged.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
    /// A command panicked (a bug); its changes were rolled back by reloading the store.
    #[error("internal error while applying the command: {0}")]
    Panicked(String),
    /// The writer is gone (daemon shutting down).
    #[error("the state owner has stopped")]
    Stopped,
}

/// A command's body: runs against the table and renders its reply body (JSON object, without
/// `RequestId`).
pub type Apply =
    Box<dyn FnOnce(&mut Table, &mut Ctx<'_>) -> Result<serde_json::Value, ModelError> + Send>;

/// One write request.
pub struct Command {
    /// Caller.
    pub caller: Uid,
    /// Validate only.
    pub dry_run: bool,
    /// Idempotency key `uid/action/token`, if the call carried a `ClientToken`.
    pub token: Option<String>,
    /// The change.
    pub apply: Apply,
}

struct Job {
    cmd: Command,
    reply: oneshot::Sender<Result<serde_json::Value, StateError>>,
}

/// Random ids: prefix + 20 lowercase alphanumerics.
pub struct RandomIds;

impl IdSource for RandomIds {
    fn fresh(&mut self, prefix: &str) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let tail: String = (0..20)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect();
        format!("{prefix}{tail}")
    }
}

/// Current UTC time as the API formats it.
#[must_use]
pub fn now_iso() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .expect("UTC time formats")
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Handle to the state: cheap to clone, used by API handlers and (later) the reconciler.
#[derive(Clone)]
pub struct State {
    table: Arc<RwLock<Table>>,
    inv: Arc<Inventory>,
    tx: std::sync::mpsc::Sender<Job>,
    version: watch::Receiver<u64>,
}

impl State {
    /// Loads the store and starts the writer thread.
    pub fn start(inv: Arc<Inventory>, mut store: Box<dyn Store>) -> Result<Self, StoreError> {
        store.expire_tokens(now_unix() - TOKEN_TTL_S)?;
        let loaded = store.load()?;
        let table = Arc::new(RwLock::new(loaded.table));
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let (vtx, vrx) = watch::channel(0u64);
        let writer_table = Arc::clone(&table);
        let writer_inv = Arc::clone(&inv);
        let mut tokens = loaded.tokens;
        std::thread::Builder::new()
            .name("eplink-state".into())
            .spawn(move || {
                let mut ids = RandomIds;
                let mut version = 0u64;
                while let Ok(job) = rx.recv() {
                    let r = apply_one(
                        &writer_table,
                        &writer_inv,
                        store.as_mut(),
                        &mut tokens,
                        &mut ids,
                        job.cmd,
                    );
                    if matches!(r, Ok((_, true))) {
                        version += 1;
                        vtx.send_replace(version);
                    }
                    let _ = job.reply.send(r.map(|(v, _)| v));
                }
            })
            .expect("spawn the state thread");
        Ok(Self {
            table,
            inv,
            tx,
            version: vrx,
        })
    }

    /// Applies a write and waits for its commit.
    pub async fn write(&self, cmd: Command) -> Result<serde_json::Value, StateError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { cmd, reply })
            .map_err(|_| StateError::Stopped)?;
        rx.await.map_err(|_| StateError::Stopped)?
    }

    /// Applies a write from a non-async context (tests, CLI tools).
    pub fn write_blocking(&self, cmd: Command) -> Result<serde_json::Value, StateError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { cmd, reply })
            .map_err(|_| StateError::Stopped)?;
        rx.blocking_recv().map_err(|_| StateError::Stopped)?
    }

    /// Records a health verdict for a service resource (R24): zone connections on an unhealthy
    /// resource move to another available resource of the same zone, durably. Returns the
    /// endpoints that moved. For the health prober; not an API call.
    pub async fn set_resource_health(
        &self,
        service: &str,
        zone: &str,
        resource: &str,
        healthy: bool,
    ) -> Result<Vec<String>, StateError> {
        let owner = self.read().services.get(service).map(|s| s.owner);
        let Some(owner) = owner else {
            return Ok(Vec::new());
        };
        let (service, zone, resource) = (service.to_owned(), zone.to_owned(), resource.to_owned());
        let apply: Apply = Box::new(move |t, ctx| {
            let moved = t.set_resource_health(ctx.inv, &service, &zone, &resource, healthy);
            Ok(serde_json::json!(moved))
        });
        let v = self
            .write(Command {
                caller: owner,
                dry_run: false,
                token: None,
                apply,
            })
            .await?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }

    /// A consistent read view of the committed table.
    pub fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The inventory.
    #[must_use]
    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inv
    }

    /// A receiver that changes after every committed change (for the reconciler).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.clone()
    }
}

/// Applies one command under the write lock; returns the reply and whether anything changed.
fn apply_one(
    table: &RwLock<Table>,
    inv: &Inventory,
    store: &mut dyn Store,
    tokens: &mut HashMap<String, TokenReply>,
    ids: &mut RandomIds,
    cmd: Command,
) -> Result<(serde_json::Value, bool), StateError> {
    let now = now_unix();
    if let Some(k) = &cmd.token
        && let Some(prev) = tokens.get(k).filter(|p| p.created > now - TOKEN_TTL_S)
    {
        let v = serde_json::from_str(&prev.response).unwrap_or(serde_json::Value::Null);
        return Ok((v, false));
    }
    let mut guard = table
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ctx = Ctx {
        caller: cmd.caller,
        now: now_iso(),
        dry_run: cmd.dry_run,
        inv,
        ids,
    };
    let apply = cmd.apply;
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&mut guard, &mut ctx)));
    let result = match result {
        Ok(r) => r,
        Err(p) => {
            // The command may have half-changed the table: put back what the store holds.
            let what = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "a command panicked; reloading the table from the store");
            match store.load() {
                Ok(l) => *guard = l.table,
                Err(e) => tracing::error!(error = %e, "reload failed"),
            }
            return Err(StateError::Panicked(what));
        }
    };
    let dirty = guard.take_dirty();
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            debug_assert!(dirty.is_empty(), "a refused command changed {dirty:?}");
            return Err(e.into());
        }
    };
    let reply = cmd.token.as_ref().map(|_| TokenReply {
        response: value.to_string(),
        created: now,
    });
    let token = cmd.token.as_deref().zip(reply.as_ref());
    if let Err(e) = store.commit(&guard, &dirty, token) {
        // The change is not durable: put the table back to what the store holds.
        tracing::error!(error = %e, "commit failed; reloading the table from the store");
        match store.load() {
            Ok(l) => *guard = l.table,
            Err(e2) => tracing::error!(error = %e2, "reload failed too"),
        }
        return Err(e.into());
    }
    if let (Some(k), Some(r)) = (cmd.token, reply) {
        tokens.insert(k, r);
    }
    Ok((value, !dirty.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateService, IpVersion, Payer, ResourceSpec};
    use crate::store::SqliteStore;

    const PROVIDER: Uid = 1_111_111_111_111_111;

    fn state() -> State {
        let inv = Inventory::parse(include_str!("../examples/inventory.toml")).unwrap();
        State::start(Arc::new(inv), Box::new(SqliteStore::in_memory().unwrap())).unwrap()
    }

    fn create(token: Option<&str>, dry_run: bool) -> Command {
        Command {
            caller: PROVIDER,
            dry_run,
            token: token.map(|t| format!("{PROVIDER}/CreateVpcEndpointService/{t}")),
            apply: Box::new(|t, ctx| {
                let id = t.create_service(
                    ctx,
                    CreateService {
                        resource_type: None,
                        resources: vec![ResourceSpec {
                            id: "nlb-prov2".into(),
                            resource_type: None,
                            zone: "cn-hangzhou-a".into(),
                        }],
                        auto_accept: true,
                        zone_affinity: false,
                        ip_version: IpVersion::IPv4,
                        payer: Payer::Endpoint,
                        description: String::new(),
                    },
                )?;
                Ok(serde_json::json!({ "ServiceId": id }))
            }),
        }
    }

    #[test]
    fn client_token_replays_the_first_reply_without_a_second_change() {
        let st = state();
        let a = st.write_blocking(create(Some("t1"), false)).unwrap();
        let b = st.write_blocking(create(Some("t1"), false)).unwrap();
        assert_eq!(a, b);
        assert_eq!(st.read().services.len(), 1);
        // another token is another request (and the resource is now taken)
        let e = st.write_blocking(create(Some("t2"), false)).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::Model(ModelError::EndpointServiceResourceExist(..))
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_panicking_command_is_rolled_back_and_the_owner_lives_on() {
        let st = state();
        st.write_blocking(create(None, false)).unwrap();
        let before = st.read().services.clone();
        let boom = Command {
            caller: PROVIDER,
            dry_run: false,
            token: None,
            apply: Box::new(|t, _| {
                t.services.clear();
                panic!("bug");
            }),
        };
        assert!(matches!(st.write_blocking(boom), Err(StateError::Panicked(m)) if m == "bug"));
        assert_eq!(st.read().services, before);
        // and the writer still serves
        let e = st.write_blocking(create(None, false)).unwrap_err();
        assert!(matches!(
            e,
            StateError::Model(ModelError::EndpointServiceResourceExist(..))
        ));
    }

    #[test]
    fn dry_run_commits_nothing_and_bumps_no_version() {
        let st = state();
        let v0 = *st.subscribe().borrow();
        let e = st.write_blocking(create(None, true)).unwrap_err();
        assert!(matches!(e, StateError::Model(ModelError::DryRunOperation)));
        assert!(st.read().services.is_empty());
        assert_eq!(*st.subscribe().borrow(), v0);
        st.write_blocking(create(None, false)).unwrap();
        assert_eq!(*st.subscribe().borrow(), v0 + 1);
    }

    #[test]
    fn r24_health_verdict_is_committed_through_the_state_owner() {
        let st = state();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let id = st.write_blocking(create(None, false)).unwrap()["ServiceId"]
            .as_str()
            .unwrap()
            .to_owned();
        // unknown resources and services are ignored
        assert!(
            rt.block_on(st.set_resource_health(&id, "cn-hangzhou-a", "nlb-nope", false))
                .unwrap()
                .is_empty()
        );
        assert!(
            rt.block_on(st.set_resource_health("epsrv-none", "cn-hangzhou-a", "nlb-prov2", false))
                .unwrap()
                .is_empty()
        );
        rt.block_on(st.set_resource_health(&id, "cn-hangzhou-a", "nlb-prov2", false))
            .unwrap();
        assert!(
            !st.read().services[&id]
                .resources
                .values()
                .next()
                .unwrap()
                .healthy
        );
    }
}
