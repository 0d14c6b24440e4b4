//! The dataplane's clock, as userspace sees it.
//!
//! Flow entries are stamped with kernel jiffies (`bpf_jiffies64`, which the verifier
//! inlines: see `eplink_abi::flow`). Userspace has no system call for jiffies, so it asks
//! the kernel through the object's `eplink_clock` program: one `BPF_PROG_TEST_RUN` returns
//! `bpf_jiffies64()` and `bpf_ktime_get_ns()` read in the same instant. The rate (HZ) is
//! measured once, from jiffy edge to jiffy edge over at least 50 ms, and snapped to the
//! common `CONFIG_HZ` values (100, 250, 300, 1000) when it is within 5 % of one; anything
//! else is measured again over half a second and rounded.
//!
//! The program is pinned as `clock` in the pin directory next to the maps, so the `eplink`
//! CLI reads flow ages from the pins alone, like everything else.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use aya_obj::programs::XdpAttachType;

use crate::{Error, Result};

/// Name of the clock program's pin in the pin directory.
pub const CLOCK_PIN: &str = "clock";

/// The span HZ is first measured over. An edge sampled late (the thread was preempted)
/// shifts the result by that delay over the span: 1 ms in 50 ms is 2 %.
const SPAN_NS: u64 = 50_000_000;
/// The span of the second measurement, when the first is not near a common value.
const LONG_SPAN_NS: u64 = 500_000_000;
/// `CONFIG_HZ` values kernels are built with.
const COMMON_HZ: [u32; 4] = [100, 250, 300, 1000];
/// Jiffies that do not advance for this long mean a kernel without a tick: give up.
const STALL: Duration = Duration::from_secs(2);

/// One reading of the kernel's clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// `jiffies_64`.
    pub jiffies: u64,
    /// `CLOCK_MONOTONIC`, nanoseconds.
    pub mono_ns: u64,
}

/// The kernel's jiffies and their rate.
#[derive(Debug)]
pub struct Clock {
    prog: Xdp,
    hz: u64,
}

impl Clock {
    /// A clock reading through `prog` (the loaded `eplink_clock` program); measures HZ.
    pub(crate) fn new(prog: Xdp) -> Result<Self> {
        let mut c = Clock { prog, hz: 0 };
        c.hz = c.measure_hz()?;
        Ok(c)
    }

    /// The clock of the dataplane pinned under `pin_dir`.
    pub fn open_pinned(pin_dir: &Path) -> Result<Self> {
        let path = pin_dir.join(CLOCK_PIN);
        let prog = Xdp::from_pin(&path, XdpAttachType::Interface)
            .map_err(|e| Error::Pin { path: path.clone(), reason: e.to_string() })?;
        Self::new(prog)
    }

    /// Jiffies per second on this kernel (`CONFIG_HZ`).
    #[must_use]
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// The current jiffies and monotonic time.
    pub fn sample(&self) -> Result<Sample> {
        let frame = [0u8; 64];
        let mut out = [0u8; 64 + 256];
        let opts = TestRunOptions { data_in: Some(&frame), data_out: Some(&mut out), repeat: 1, ..TestRunOptions::default() };
        self.prog.test_run(opts)?;
        let word = |i: usize| u64::from_ne_bytes(out[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        Ok(Sample { jiffies: word(0), mono_ns: word(1) })
    }

    /// The current jiffies.
    pub fn now(&self) -> Result<u64> {
        Ok(self.sample()?.jiffies)
    }

    /// Whole seconds between jiffies `then` and `now` (0 if `then` is later).
    #[must_use]
    pub fn secs_between(&self, then: u64, now: u64) -> u64 {
        now.saturating_sub(then) / self.hz.max(1)
    }

    fn measure_hz(&self) -> Result<u64> {
        let raw = self.measure_over(SPAN_NS)?;
        if let Some(hz) = COMMON_HZ.into_iter().find(|hz| (raw - f64::from(*hz)).abs() <= f64::from(*hz) * 0.05) {
            return Ok(u64::from(hz));
        }
        let raw = self.measure_over(LONG_SPAN_NS)?;
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a positive rate of a few thousand at most")]
        Ok(raw.round() as u64)
    }

    /// Jiffies per second between two jiffy edges at least `span_ns` apart.
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    fn measure_over(&self, span_ns: u64) -> Result<f64> {
        let first = self.next_edge(self.sample()?)?;
        let mut edge = first;
        while edge.mono_ns - first.mono_ns < span_ns {
            edge = self.next_edge(edge)?;
        }
        Ok((edge.jiffies - first.jiffies) as f64 * 1e9 / (edge.mono_ns - first.mono_ns) as f64)
    }

    /// The first sample after `s` whose jiffies differ from `s`'s.
    fn next_edge(&self, s: Sample) -> Result<Sample> {
        let start = Instant::now();
        loop {
            let n = self.sample()?;
            if n.jiffies != s.jiffies {
                return Ok(n);
            }
            if start.elapsed() > STALL {
                return Err(Error::Clock(format!("jiffies did not advance in {STALL:?}")));
            }
        }
    }
}
