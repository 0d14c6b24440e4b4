//! eplink's dataplane from userspace: the embedded XDP object, the loader that attaches it
//! and pins its maps under a bpffs directory, and typed access to those maps.
//!
//! The map ABI itself lives in `eplink_abi` (re-exported as [`abi`]) so the XDP program and
//! userspace share one definition of every key and value.

pub use eplink_abi as abi;

mod clock;
mod loader;
mod maps;


pub use clock::{Clock, Sample, CLOCK_PIN};
pub use loader::{AttachMode, Dataplane, LoadOptions};
pub use maps::{to_v4, v4, Flow, Maps};

#[cfg(feature = "test-support")]
pub mod fixture;

/// The XDP object built from `ebpf/` by `build.rs`.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/eplink.bpf.o"));

/// Everything that can go wrong loading, attaching or accessing the dataplane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pin directory is not on a bpffs.
    #[error("{0} is not on a mounted bpffs: mount one with `mount -t bpf bpf /sys/fs/bpf` (note that `ip netns exec` remounts /sys and hides it; use `nsenter --net=/var/run/netns/NAME` instead)")]
    NoBpffs(std::path::PathBuf),
    /// Loading the object or a map failed.
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// The verifier or the kernel refused the program.
    #[error("loading the XDP program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map { map: &'static str, source: aya::maps::MapError },
    /// A pinned map or link could not be opened or written.
    #[error("pin {path}: {reason}")]
    Pin { path: std::path::PathBuf, reason: String },
    /// No interface of that name.
    #[error("no network interface named {0:?}")]
    NoInterface(String),
    /// An index outside a map's capacity.
    #[error("{what} {index} is out of range (capacity {capacity})")]
    OutOfRange { what: &'static str, index: u32, capacity: u32 },
    /// The kernel's clock could not be read or measured.
    #[error("dataplane clock: {0}")]
    Clock(String),
    /// Filesystem error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
