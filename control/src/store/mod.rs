//! Persistence of the connection table behind a trait, with the SQLite implementation.
//!
//! The table is stored one row per service and per endpoint (JSON bodies), plus a counters row
//! and the `ClientToken` replies. A commit writes exactly the rows a command touched, in one
//! transaction, together with the call's idempotency record.

mod sqlite;

use std::collections::{BTreeSet, HashMap};

pub use sqlite::SqliteStore;

use crate::model::{Dirty, Table};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused an operation.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row does not decode (corruption or a newer schema).
    #[error("stored {what} {id} does not decode: {source}")]
    Decode {
        /// Row kind.
        what: &'static str,
        /// Row key.
        id: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A helper thread could not start.
    #[error("store thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The database was written by an incompatible version.
    #[error("store schema version {0} is not supported (expected {1})")]
    Schema(i64, i64),
}

/// A stored `ClientToken` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReply {
    /// The first call's response body (without `RequestId`), JSON.
    pub response: String,
    /// When it was stored (Unix seconds); replies expire after 24 h.
    pub created: i64,
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The connection table.
    pub table: Table,
    /// Idempotency records keyed by `uid/action/token`.
    pub tokens: HashMap<String, TokenReply>,
}

/// A durable home for the connection table.
pub trait Store: Send {
    /// Reads everything.
    fn load(&mut self) -> Result<Loaded, StoreError>;
    /// Writes the `dirty` rows of `table` (deleting rows whose object is gone) and the
    /// idempotency record, atomically and durably. Returns only after the commit.
    fn commit(
        &mut self,
        table: &Table,
        dirty: &BTreeSet<Dirty>,
        token: Option<(&str, &TokenReply)>,
    ) -> Result<(), StoreError>;
    /// Forgets idempotency records created before `before` (Unix seconds).
    fn expire_tokens(&mut self, before: i64) -> Result<usize, StoreError>;
}
