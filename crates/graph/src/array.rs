//! Typed arrays that live either in RAM or in a memory-mapped snapshot file.
//!
//! This is the storage abstraction of the crate: everything a [`crate::Graph`]
//! holds is an [`Array`] of plain little-endian values, so the same reading
//! code serves a graph just built and a snapshot opened from disk.

use std::fmt;
use std::sync::Arc;

use bytemuck::Pod;
use memmap2::Mmap;

/// A read-only array of `T`, owned or memory-mapped.
///
/// Invariant for `Mapped`: `offset` and `len` describe a byte range of `map`
/// whose start is aligned for `T` and whose length is `len * size_of::<T>()`.
pub enum Array<T: Pod> {
    /// Held in RAM.
    Owned(Vec<T>),
    /// A window of a memory-mapped file.
    Mapped {
        /// The mapping (shared; one per file).
        map: Arc<Mmap>,
        /// Byte offset of element 0.
        offset: usize,
        /// Number of elements.
        len: usize,
    },
}

impl<T: Pod> Array<T> {
    /// The elements.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Array::Owned(v) => v,
            Array::Mapped { map, offset, len } => {
                if *len == 0 {
                    return &[];
                }
                let bytes = &map[*offset..*offset + len * std::mem::size_of::<T>()];
                // Alignment and length were checked when the mapping was made.
                bytemuck::cast_slice(bytes)
            }
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Array::Owned(v) => v.len(),
            Array::Mapped { len, .. } => *len,
        }
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the elements in bytes.
    pub fn byte_len(&self) -> usize {
        self.len() * std::mem::size_of::<T>()
    }

    /// Whether the array is memory-mapped rather than owned.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Array::Mapped { .. })
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.as_slice())
    }

    /// Maps every page of a memory-mapped array into this process now
    /// (`MADV_POPULATE_READ`, reading from disk what is not cached), so that
    /// the random reads of sampling and gathering do not fault page by page
    /// later. Returns whether it did: owned arrays are resident already, a
    /// kernel before 5.14 lacks the call, and an array larger than half the
    /// memory the kernel reports available is left to page on demand (a
    /// graph larger than memory must not be pulled in whole).
    pub fn prefault(&self) -> bool {
        let Array::Mapped { map, offset, .. } = self else { return false };
        let bytes = self.byte_len();
        if bytes == 0 || available_memory().is_none_or(|a| bytes as u64 > a / 2) {
            return false;
        }
        #[cfg(target_os = "linux")]
        {
            map.advise_range(memmap2::Advice::PopulateRead, *offset, bytes).is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (map, offset);
            false
        }
    }

    /// Views `map[offset..]` as `len` elements of `T`, checking bounds and alignment.
    pub fn mapped(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Self> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let end = offset.checked_add(bytes)?;
        if end > map.len() {
            return None;
        }
        if len > 0 && !(map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<T>()) {
            return None;
        }
        Some(Array::Mapped { map, offset, len })
    }
}

impl<T: Pod> From<Vec<T>> for Array<T> {
    fn from(v: Vec<T>) -> Self {
        Array::Owned(v)
    }
}

impl<T: Pod> Default for Array<T> {
    fn default() -> Self {
        Array::Owned(Vec::new())
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_slice();
        let kind = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Array<{kind}, len {}>", s.len())?;
        if s.len() <= 8 {
            write!(f, "{s:?}")?;
        }
        Ok(())
    }
}

/// Variable-length byte strings stored as one byte buffer plus `n + 1` offsets.
///
/// Invariant: `offsets[0] == 0`, offsets are non-decreasing and
/// `offsets[n] == bytes.len()`.
#[derive(Debug, Default)]
pub struct StringArray {
    /// `len() + 1` offsets into `bytes`.
    pub offsets: Array<u64>,
    /// Concatenated UTF-8 bytes.
    pub bytes: Array<u8>,
}

impl StringArray {
    /// Builds from owned strings.
    pub fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut offsets = Vec::with_capacity(items.len() + 1);
        let mut bytes = Vec::new();
        offsets.push(0u64);
        for s in items {
            bytes.extend_from_slice(s.as_ref().as_bytes());
            offsets.push(bytes.len() as u64);
        }
        StringArray { offsets: offsets.into(), bytes: bytes.into() }
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no strings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th string. Invalid UTF-8 (only possible in a tampered snapshot) reads as "".
    pub fn get(&self, i: usize) -> &str {
        let o = self.offsets.as_slice();
        let (a, b) = (o[i] as usize, o[i + 1] as usize);
        std::str::from_utf8(&self.bytes.as_slice()[a..b]).unwrap_or("")
    }

    /// Checks the offsets invariant (used when opening and verifying snapshots).
    pub fn check(&self) -> Result<(), String> {
        let o = self.offsets.as_slice();
        if o.is_empty() {
            return Err("string offsets are empty".into());
        }
        if o[0] != 0 || *o.last().unwrap_or(&0) != self.bytes.len() as u64 {
            return Err("string offsets do not span the string bytes".into());
        }
        if o.windows(2).any(|w| w[0] > w[1]) {
            return Err("string offsets decrease".into());
        }
        Ok(())
    }
}

/// `MemAvailable` of `/proc/meminfo` in bytes (`None` where there is none).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// How far ahead a loop over random rows prefetches: a random row costs a
/// DRAM miss for its offsets and another for its entries; touching rows a
/// few items ahead lets those misses overlap.
pub const AHEAD: usize = 8;

/// Prefetches element `i` of `s` into the cache (no effect when out of bounds
/// or off x86-64).
#[inline]
pub fn touch<T>(s: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i < s.len() {
        // SAFETY: prefetching has no effect on memory; the address is in bounds.
        unsafe { std::arch::x86_64::_mm_prefetch(s.as_ptr().add(i) as *const i8, std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, i);
}

/// The first of `nodes` that is not below `n`, if any. The largest is found
/// first, in a pass the compiler vectorises; the offender is looked for
/// only when there is one (a search that stops at the first hit does not
/// vectorise, and every batch of every sampling call runs this check).
pub fn first_outside(nodes: &[u32], n: usize) -> Option<u32> {
    if nodes.iter().fold(0, |m, &v| m.max(v)) as usize >= n { nodes.iter().copied().find(|&v| v as usize >= n) } else { None }
}

/// Checks a worker-thread count a user asked for: at least one, and at
/// most 8 per core (at least 64). Each thread of a pool is started up
/// front, so a huge count is unbounded work before anything runs (60,000
/// threads kept `ferrograph --threads 60000 info` busy past 30 s, and
/// `ferrograph.set_num_threads(10**6)` hung the next call); more threads
/// than that never help a CPU-bound kernel. The error reads
/// `N threads: …`.
pub fn check_threads(n: usize) -> std::result::Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = 8 * cores.max(8);
    match n {
        0 => Err("0 threads: at least one".into()),
        n if n > max => Err(format!("{n} threads: at most {max} (8 per core, this machine has {cores})")),
        n => Ok(n),
    }
}

/// Keeps freed memory in the process instead of returning it to the
/// kernel, so that a training step's large, short-lived buffers (feature
/// blocks, activations, gradients: megabytes each, every step) reuse warm
/// pages instead of faulting in and zeroing fresh ones. Measured: page
/// faults were about a third of a step's time before this. glibc only; a
/// no-op elsewhere. Call once, early, before threads start. The CLI calls
/// it first thing; the Python package leaves it to the user
/// (`ferrograph.tune_allocator()`).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before
    // other threads allocate.
    unsafe {
        // 32 MiB is glibc's ceiling for the mmap threshold on 64-bit.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_bounded() {
        assert_eq!(check_threads(1), Ok(1));
        assert_eq!(check_threads(64), Ok(64));
        assert!(check_threads(0).unwrap_err().starts_with("0 threads"));
        let e = check_threads(1_000_000).unwrap_err();
        assert!(e.starts_with("1000000 threads: at most "), "{e}");
    }
}
