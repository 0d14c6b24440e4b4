//! Bandwidth enforcement: charges a frame to the GCRA bucket of (ENI, direction) with one
//! lock-free compare-and-exchange (the arithmetic is `eplink_abi::bucket`).

use core::intrinsics::{atomic_cxchg, AtomicOrdering::Relaxed};

use aya_ebpf::helpers::bpf_ktime_get_ns;
use eplink_abi::{
    bucket::{conform, Limit, TICKS_PER_NS},
    Outcome, ZoneConn,
};

use crate::{maps::BUCKETS, Exit};

/// Attempts before a contended bucket gives up (and the frame counts as over the limit).
const CAS_TRIES: u32 = 4;

/// Charges `bytes` to the bucket; `DropRateLimited` if the frame exceeds the limit.
#[inline(always)]
pub fn charge(eni: u32, dir: u32, bytes: u64, zc: &ZoneConn) -> Result<(), Exit> {
    let limit = Limit { cost_per_byte_q16: zc.cost_per_byte_q16, tolerance_ticks: zc.tolerance_ticks };
    if limit.cost_per_byte_q16 == 0 {
        return Ok(());
    }
    let over = Exit::eni(Outcome::DropRateLimited, eni);
    let Some(slot) = BUCKETS.get_ptr_mut(eni * 2 + dir) else {
        return Err(over);
    };
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() } * TICKS_PER_NS;
    let cost = limit.cost(bytes);
    // The BPF target spec declares no compare-and-swap, so `AtomicU64::compare_exchange` is
    // unavailable; the intrinsic lowers to BPF_CMPXCHG, which ISA v3 (-C target-cpu=v3) has.
    // LLVM's BPF backend cannot select an atomic load; an aligned 8-byte volatile load is a
    // single instruction and cannot tear, and the compare-and-exchange validates it anyway.
    // SAFETY: slot points at an 8-byte aligned u64 inside an array map value, valid for the
    // program's run; other CPUs only write it through compare-and-exchange.
    let mut cur = unsafe { core::ptr::read_volatile(slot) };
    for _ in 0..CAS_TRIES {
        let Some(next) = conform(cur, now, cost, limit.tolerance_ticks) else {
            return Err(over);
        };
        // SAFETY: as above.
        let (actual, swapped) = unsafe { atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(slot, cur, next) };
        if swapped {
            return Ok(());
        }
        cur = actual;
    }
    Err(over)
}
