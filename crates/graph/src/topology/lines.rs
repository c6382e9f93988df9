//! Software write-combining for the partition step of the builder.
//!
//! Partitioning scatters a stream of entries into a few thousand output
//! ranges at once. With plain stores every cache line of every range is
//! first read from memory (the write-allocate "RFO") and the hardware
//! prefetchers, which follow a few dozen streams, cannot hide that: measured
//! on this project's 2-core machine, scattering 10M `u32` into 256 or more
//! ranges costs 6–8 ns per entry, against 2 ns into 16. [`LineWriter`] keeps
//! one 64-byte line per range in cache and writes each line, once complete,
//! with non-temporal stores that skip the read (Balkesen et al.'s SWWC
//! partitioning); a partition then costs about as much as a sequential copy.
//! Lines only partly owned by a range (its first and last) are written with
//! ordinary stores, so ranges that share a line never overwrite each other.

use std::marker::PhantomData;

const LINE: usize = 64;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; LINE]);

/// Buffers one cache line per range of an output array of `T`.
pub(super) struct LineWriter<T: Copy> {
    base: *mut T,
    lines: Vec<Line>,
    /// First position each range may write (owned by this writer).
    start: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Copy> LineWriter<T> {
    const PER_LINE: usize = LINE / std::mem::size_of::<T>();

    /// A writer for ranges starting at `start` (positions into `base`).
    pub(super) fn new(base: *mut T, start: &[usize]) -> Self {
        assert!(LINE.is_multiple_of(std::mem::size_of::<T>()) && std::mem::align_of::<T>() == std::mem::size_of::<T>());
        LineWriter { base, lines: vec![Line([0; LINE]); start.len()], start: start.to_vec(), _t: PhantomData }
    }

    /// Slot of position `pos` within its cache line.
    #[inline(always)]
    fn slot(&self, pos: usize) -> usize {
        (self.base as usize / std::mem::size_of::<T>() + pos) % Self::PER_LINE
    }

    /// Writes `x` at position `pos` of range `r` (positions of a range are
    /// written in increasing order, each once).
    ///
    /// # Safety
    /// `pos` lies inside the output allocation and inside range `r`, which
    /// no other writer writes.
    #[inline(always)]
    pub(super) unsafe fn put(&mut self, r: usize, pos: usize, x: T) {
        let slot = self.slot(pos);
        // SAFETY: `r` < ranges (the caller's bucket index) and `slot` < PER_LINE.
        let line = unsafe { self.lines.get_unchecked_mut(r) };
        let cells = line.0.as_mut_ptr() as *mut T;
        unsafe { cells.add(slot).write(x) };
        if slot + 1 == Self::PER_LINE {
            let start = unsafe { *self.start.get_unchecked(r) };
            if pos + 1 >= start + Self::PER_LINE {
                let first = pos + 1 - Self::PER_LINE;
                // The whole line belongs to this range: one aligned streaming write.
                unsafe { stream_line(self.base.add(first) as *mut u8, line) };
            } else {
                for p in start..=pos {
                    unsafe { self.base.add(p).write(*cells.add(self.slot(p))) };
                }
            }
        }
    }

    /// Writes what is still buffered; `end[r]` is one past the last position
    /// written in range `r`.
    ///
    /// # Safety
    /// As for [`put`](Self::put); `end` holds the writer's final cursors.
    pub(super) unsafe fn finish(self, end: &[usize]) {
        for (r, &e) in end.iter().enumerate() {
            let line_start = e - self.slot(e).min(e);
            let from = line_start.max(self.start[r]);
            let cells = self.lines[r].0.as_ptr() as *const T;
            for p in from..e {
                unsafe { self.base.add(p).write(*cells.add(self.slot(p))) };
            }
        }
        fence();
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stream_line(dst: *mut u8, line: &Line) {
    use std::arch::x86_64::{__m128i, _mm_load_si128, _mm_stream_si128};
    // SSE2 is part of x86_64, so no run-time detection is needed; the
    // write-combining buffer merges the four stores into one line write.
    let src = line.0.as_ptr() as *const __m128i;
    let dst = dst as *mut __m128i;
    // SAFETY: `dst` is 64-byte aligned (a whole line of the output) and `line` is too.
    unsafe {
        for i in 0..4 {
            _mm_stream_si128(dst.add(i), _mm_load_si128(src.add(i)));
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn stream_line(dst: *mut u8, line: &Line) {
    // SAFETY: as above.
    unsafe { std::ptr::copy_nonoverlapping(line.0.as_ptr(), dst, LINE) }
}

/// Orders this thread's streaming stores before whatever synchronisation follows.
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}
