//! The contract between eplink's XDP program and userspace: map names, capacities, key and
//! value layouts, outcome codes, and the pure arithmetic (checksums, token buckets, port
//! selection, flow state) that both sides must agree on.
//!
//! Every type here is `#[repr(C)]` with explicit padding and a compile-time size assertion:
//! the same bytes are written by Rust userspace and read by the BPF program. Addresses in
//! ENI keys, zone connections, SNAT pools and flow entries are 16 bytes with a family tag so
//! IPv6 fits without changing them; IPv4 uses the first four bytes and leaves the rest zero.
//! Flow *keys* are IPv4-only and compact (see `FlowKey`). Fields that hold network-byte-order
//! values end in `_be`.
#![no_std]
#![expect(clippy::inline_always, reason = "the XDP program inlines everything it calls: one function, one stack frame")]
#![expect(clippy::pub_underscore_fields, reason = "`_pad` fields are explicit ABI padding, public so values can be built with struct literals")]

pub mod bucket;
pub mod csum;
pub mod flow;
pub mod maps;
pub mod outcome;
pub mod port;

pub use maps::*;
pub use outcome::{Outcome, OUTCOME_COUNT};
