//! eplink control plane: inventory, the PrivateLink domain model, the API and its store.

pub mod api;
pub mod cli;
pub mod client;
pub mod inspect;
pub mod inventory;
pub mod model;
pub mod reconcile;
pub mod state;
pub mod store;
