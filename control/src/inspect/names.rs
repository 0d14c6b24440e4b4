//! Names for the dataplane's indexes: the committed connection table, read without writing.
//!
//! The CLI must never create, migrate or lock the daemon's store: it opens the `SQLite` file
//! read-only (`SQLITE_OPEN_READ_ONLY`; WAL readers take no write lock, so a running daemon is
//! never blocked) and decodes the same rows `SqliteStore::load` does.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{
    inventory::{Inventory, InventoryError},
    model::{DataplaneZone, Endpoint, Service, Table, dataplane_view},
};

/// Failures while reading names.
#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    /// The inventory does not load.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The store file is missing: the daemon never ran with this inventory.
    #[error("store {0} does not exist (has eplinkd run with this inventory?)")]
    NoStore(PathBuf),
    /// `SQLite` refused.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
    /// A row does not decode.
    #[error("store {path}: {what} {id} does not decode: {source}")]
    Decode {
        /// The database.
        path: PathBuf,
        /// Row kind.
        what: &'static str,
        /// Row key.
        id: String,
        /// The error.
        source: serde_json::Error,
    },
}

/// Reads services and endpoints of the store at `path`, read-only.
pub fn load_table_read_only(path: &Path) -> Result<Table, NamesError> {
    if !path.exists() {
        return Err(NamesError::NoStore(path.to_owned()));
    }
    let sql = |source| NamesError::Sqlite { path: path.to_owned(), source };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
    let rows = |table: &str| -> Result<Vec<(String, String)>, NamesError> {
        let mut st = conn.prepare(&format!("SELECT id, body FROM {table}")).map_err(sql)?;
        let it = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(sql)?;
        it.collect::<Result<_, _>>().map_err(sql)
    };
    let decode_err = |what: &'static str, id: &str| {
        let id = id.to_owned();
        move |source| NamesError::Decode { path: path.to_owned(), what, id, source }
    };
    let mut t = Table::default();
    for (id, body) in rows("services")? {
        let s: Service = serde_json::from_str(&body).map_err(decode_err("service", &id))?;
        t.services.insert(id, s);
    }
    for (id, body) in rows("endpoints")? {
        let e: Endpoint = serde_json::from_str(&body).map_err(decode_err("endpoint", &id))?;
        t.endpoints.insert(id, e);
    }
    Ok(t)
}

/// The dataplane view of the committed table named by the inventory at `inventory`.
pub fn load_view(inventory: &Path) -> Result<Vec<DataplaneZone>, NamesError> {
    let inv = Inventory::load(inventory)?;
    let table = load_table_read_only(&inv.store.path)?;
    Ok(dataplane_view(&table, &inv))
}
