//! Loading the XDP program, attaching it to interfaces with their roles, and pinning.
//!
//! Layout under the pin directory: one file per map (named as in `eplink_abi::ALL_MAPS`),
//! the clock program (`clock`, see `Clock`) and `links/<ifname>` for each attachment. A new `Dataplane` with the same directory
//! adopts the pinned maps (and so every flow), and re-attaching an interface with a pinned
//! link swaps the program in place (`BPF_LINK_UPDATE`) instead of detaching it.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

use aya::{
    programs::{links::FdLink, links::PinnedLink, Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use eplink_abi as abi;
use log::{info, warn};

use crate::{
    clock::{Clock, CLOCK_PIN},
    maps::Maps,
    Error, Result, OBJECT,
};

/// How an interface ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) XDP.
    Native,
    /// Generic (skb) XDP: the driver has no native support; slower, but correct.
    Generic,
    /// An existing pinned link now runs this program (atomic replacement).
    Replaced,
}

/// Capacities and location of a dataplane instance.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// bpffs directory holding the pinned maps and links.
    pub pin_dir: PathBuf,
    /// Capacity of each flow table.
    pub max_flows: u32,
}

impl LoadOptions {
    /// Default capacities, pinned under `pin_dir`.
    #[must_use]
    pub fn new(pin_dir: impl Into<PathBuf>) -> Self {
        LoadOptions { pin_dir: pin_dir.into(), max_flows: abi::MAX_FLOWS }
    }
}

/// The loaded XDP program and its maps.
pub struct Dataplane {
    ebpf: Ebpf,
    maps: Maps,
    pin_dir: PathBuf,
    clock: Option<Clock>,
}

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &raw mut st) == 0 && st.f_type == BPF_FS_MAGIC
    }
}

impl Dataplane {
    /// Loads the program, creating or adopting the pinned maps under `opts.pin_dir`.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        // Check the parent first: creating the directory on a plain sysfs fails with a
        // bare ENOENT, which would not tell the operator what is wrong.
        let parent = opts.pin_dir.parent().unwrap_or(&opts.pin_dir);
        if !is_bpffs(parent) && !is_bpffs(&opts.pin_dir) {
            return Err(Error::NoBpffs(opts.pin_dir.clone()));
        }
        std::fs::create_dir_all(opts.pin_dir.join("links"))?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&opts.pin_dir)
            .map_max_entries(abi::MAP_CT_FWD, opts.max_flows)
            .map_max_entries(abi::MAP_CT_REV, opts.max_flows)
            .load(OBJECT)?;
        let prog: &mut Xdp = program(&mut ebpf)?;
        prog.load()?;
        let mut maps = Maps::take(&mut ebpf)?;
        // A fresh flow cache starts in epoch 1 (on); an adopted one keeps its epoch.
        maps.set_flow_cache(true)?;
        pin_clock(&mut ebpf, &opts.pin_dir)?;
        Ok(Dataplane { ebpf, maps, pin_dir: opts.pin_dir.clone(), clock: None })
    }

    /// The dataplane's clock (HZ is measured on first use, in about 50 ms).
    pub fn clock(&mut self) -> Result<&Clock> {
        Ok(match &mut self.clock {
            Some(c) => c,
            slot => slot.insert(Clock::open_pinned(&self.pin_dir)?),
        })
    }

    /// The typed maps.
    #[must_use]
    pub fn maps(&self) -> &Maps {
        &self.maps
    }

    /// The typed maps, for writing.
    pub fn maps_mut(&mut self) -> &mut Maps {
        &mut self.maps
    }

    /// The loaded program (for `test_run`).
    pub fn program(&mut self) -> Result<&mut Xdp> {
        program(&mut self.ebpf)
    }

    /// The benchmark baseline program (see `eplink_baseline` in the XDP object), loaded on
    /// first use. It is never attached.
    pub fn baseline(&mut self) -> Result<&mut Xdp> {
        let p: &mut Xdp = self
            .ebpf
            .program_mut(abi::BASELINE_PROGRAM_NAME)
            .ok_or_else(|| Error::Pin { path: PathBuf::from(abi::BASELINE_PROGRAM_NAME), reason: "program missing from the object".into() })?
            .try_into()?;
        if p.fd().is_err() {
            p.load()?;
        }
        Ok(p)
    }

    /// The pin directory.
    #[must_use]
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Attaches the program to `ifname` and pins the link, so the interface keeps forwarding
    /// when this process exits. Native mode first; generic mode only as a logged fallback.
    /// If a pinned link exists already, the program behind it is replaced atomically.
    pub fn attach(&mut self, ifname: &str) -> Result<AttachMode> {
        let link_pin = self.pin_dir.join("links").join(ifname);
        let prog = program(&mut self.ebpf)?;
        if link_pin.exists() {
            let pinned = PinnedLink::from_pin(&link_pin)
                .map_err(|e| Error::Pin { path: link_pin.clone(), reason: e.to_string() })?;
            let link = aya::programs::xdp::XdpLink::try_from(FdLink::from(pinned))
                .map_err(|e| Error::Pin { path: link_pin.clone(), reason: e.to_string() })?;
            let id = prog.attach_to_link(link)?;
            // The pin keeps the link alive: dropping our handle only closes a descriptor.
            drop(prog.take_link(id)?);
            info!("{ifname}: replaced the program behind the pinned link");
            return Ok(AttachMode::Replaced);
        }
        let (id, mode) = match prog.attach(ifname, XdpMode::Driver) {
            Ok(id) => (id, AttachMode::Native),
            Err(native) => {
                warn!("{ifname}: native XDP refused ({native}); falling back to generic XDP");
                (prog.attach(ifname, XdpMode::Skb)?, AttachMode::Generic)
            }
        };
        let link = FdLink::try_from(prog.take_link(id)?)
            .map_err(|e| Error::Pin { path: link_pin.clone(), reason: e.to_string() })?;
        link.pin(&link_pin).map_err(|e| Error::Pin { path: link_pin.clone(), reason: e.to_string() })?;
        info!("{ifname}: attached ({mode:?})");
        Ok(mode)
    }

    /// Detaches the program from `ifname` (removes its pinned link).
    pub fn detach(&mut self, ifname: &str) -> Result<()> {
        let link_pin = self.pin_dir.join("links").join(ifname);
        if link_pin.exists() {
            let pinned = PinnedLink::from_pin(&link_pin)
                .map_err(|e| Error::Pin { path: link_pin.clone(), reason: e.to_string() })?;
            pinned.unpin().map_err(|e| Error::Pin { path: link_pin, reason: e.to_string() })?;
        }
        Ok(())
    }

    /// Removes every pin under `pin_dir` (maps and links): the program detaches and the
    /// maps are freed once no process holds them. The flows are gone after this.
    pub fn remove_pins(pin_dir: &Path) -> Result<()> {
        if !pin_dir.exists() {
            return Ok(());
        }
        let links = pin_dir.join("links");
        if links.exists() {
            for e in std::fs::read_dir(&links)? {
                std::fs::remove_file(e?.path())?;
            }
            std::fs::remove_dir(&links)?;
        }
        for name in abi::ALL_MAPS.iter().chain(&[CLOCK_PIN]) {
            let p = pin_dir.join(name);
            if p.exists() {
                std::fs::remove_file(p)?;
            }
        }
        std::fs::remove_dir(pin_dir)?;
        Ok(())
    }
}

/// Loads the clock program and pins it as `clock`, replacing the pin of an earlier load.
fn pin_clock(ebpf: &mut Ebpf, pin_dir: &Path) -> Result<()> {
    let p: &mut Xdp = ebpf
        .program_mut(abi::CLOCK_PROGRAM_NAME)
        .ok_or_else(|| Error::Pin { path: PathBuf::from(abi::CLOCK_PROGRAM_NAME), reason: "program missing from the object".into() })?
        .try_into()?;
    p.load()?;
    let path = pin_dir.join(CLOCK_PIN);
    let pin_err = |e: &dyn std::fmt::Display| Error::Pin { path: path.clone(), reason: e.to_string() };
    if path.exists() {
        std::fs::remove_file(&path).map_err(|e| pin_err(&e))?;
    }
    p.pin(&path).map_err(|e| pin_err(&e))
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp> {
    let p = ebpf
        .program_mut(abi::PROGRAM_NAME)
        .ok_or_else(|| Error::Pin { path: PathBuf::from(abi::PROGRAM_NAME), reason: "program missing from the object".into() })?;
    Ok(p.try_into()?)
}
