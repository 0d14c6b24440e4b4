//! Per-CPU counters: every packet's outcome globally, and traffic and drops per ENI.

use eplink_abi::Outcome;

use crate::{
    maps::{ENI_STATS, GLOBAL_STATS},
    NO_ENI,
};

/// Counts one packet of `bytes` bytes with this outcome, for the ENI if it has one.
#[inline(always)]
pub fn count(outcome: Outcome, eni: u32, bytes: u64) {
    if let Some(c) = GLOBAL_STATS.get_ptr_mut(outcome as u32) {
        // SAFETY: per-CPU slot: no other CPU writes it, and XDP runs with preemption off.
        unsafe { *c += 1 };
    }
    if eni == NO_ENI {
        return;
    }
    let Some(s) = ENI_STATS.get_ptr_mut(eni) else {
        return;
    };
    // SAFETY: per-CPU slot, as above.
    let s = unsafe { &mut *s };
    match outcome {
        Outcome::Forwarded | Outcome::PassNoNeighbour => {
            s.fwd_packets += 1;
            s.fwd_bytes += bytes;
        }
        Outcome::Reversed => {
            s.rev_packets += 1;
            s.rev_bytes += bytes;
        }
        o if o.is_drop() => {
            // LLVM knows an `Outcome` is below OUTCOME_COUNT and drops the bounds check, but
            // on some paths the verifier cannot prove it; black_box hides the range so the
            // check stays in the object.
            let i = core::hint::black_box(o as u32) as usize;
            if let Some(d) = s.drops.get_mut(i) {
                *d += 1;
            }
        }
        // Answered pings are the ENI's own business: counted globally only.
        _ => {}
    }
}
