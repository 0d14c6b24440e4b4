//! eplink control plane: inventory, the PrivateLink domain model, the API and its store.
#![expect(
    clippy::missing_panics_doc,
    reason = "the only panics are `expect`s on lookups validated just before, i.e. internal invariants"
)]

pub mod api;
pub mod cli;
pub mod client;
pub mod dns;
pub mod health;
pub mod inspect;
pub mod inventory;
pub mod model;
pub mod reconcile;
pub mod state;
pub mod store;
