//! The grouping engine of the topology builder: a stable counting sort of
//! `(key, value, payload)` triples into CSR rows, done in place.
//!
//! 1. **count**: one read of the keys gives, per chunk of the input, the
//!    number of entries per *bucket* (a range of `2^shift` consecutive keys,
//!    sized so that a bucket's entries fit in L2);
//! 2. **partition**: a second read streams every entry into its bucket's
//!    range of one buffer (stable: chunks own consecutive slots of every
//!    bucket), through [`LineWriter`](super::lines::LineWriter). An entry is
//!    packed as `low key bits << value_bits | value` in one `u32` when that
//!    fits, else as a `u32` value plus a `u16` key;
//! 3. **place**: each bucket (in parallel) is copied to thread-local memory,
//!    ordered there, by key only or by `(key, value)` for sorted rows, with
//!    an LSD radix sort (stable, so equal entries keep input order), and
//!    written back over its own range as plain values.
//!
//! The partition buffer therefore *becomes* the CSR's `targets` (and the
//! payload buffer its payload): besides the output and the small per-thread
//! scratch, nothing of the size of the edge list is allocated. On a cold
//! process that matters twice: every fresh page costs a kernel fault and
//! zeroing.

use std::ops::Range;

use rayon::prelude::*;

use super::lines::LineWriter;
use super::{SharedMut, big_vec};

/// A sequence of `(key, value, payload)` triples read in chunks, in a fixed order.
pub(super) trait Pairs: Sync {
    /// About how many triples there are (chooses the bucket size).
    fn approx_len(&self) -> usize;
    /// Splits the items into about `n` chunks.
    fn chunks(&self, n: usize) -> Vec<Range<usize>>;
    /// Calls `f(key, value, payload)` for every triple of chunk `range`, in order.
    fn for_each(&self, range: Range<usize>, f: impl FnMut(u64, u64, u32));
}

/// The result of a grouping.
pub(super) struct Sorted {
    pub offsets: Vec<u64>,
    pub values: Vec<u32>,
    pub payload: Option<Vec<u32>>,
    /// Rows `k` holding value `k` (self-loops), when asked for.
    pub diagonal: u64,
}

/// What went wrong: a key or a value outside its bound (the caller finds
/// and names the position), or too many entries.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Bad {
    Key,
    Value,
    TooMany(usize),
}

/// What one grouping is asked to do.
#[derive(Clone, Copy, Debug)]
pub(super) struct Job {
    pub num_keys: usize,
    /// Values are below this bound (checked).
    pub num_values: usize,
    pub payload: bool,
    /// Order each row by value (then input order) rather than input order only.
    pub sort_rows: bool,
    /// Count rows `k` that hold value `k`.
    pub diagonal: bool,
}

/// Layout knobs; the defaults are what [`Layout::choose`] picks, tests force others.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tuning {
    /// Average entries per bucket (0: default).
    pub bucket_entries: usize,
    /// Always use the `u32` value + `u16` key layout.
    pub force_split: bool,
}

#[derive(Clone, Copy, Debug)]
struct Layout {
    shift: u32,
    value_bits: u32,
    packed: bool,
    buckets: usize,
}

const DEFAULT_BUCKET_ENTRIES: usize = 16_384;
const MAX_BUCKETS: usize = 8192;

fn bits_for(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

impl Layout {
    fn choose(total: usize, num_keys: usize, num_values: usize, t: Tuning) -> Layout {
        let per = if t.bucket_entries == 0 { DEFAULT_BUCKET_ENTRIES } else { t.bucket_entries };
        let value_bits = bits_for(num_values).max(1);
        let goal = (total / per).clamp(1, MAX_BUCKETS);
        let mut shift = bits_for(num_keys.div_ceil(goal).max(1));
        let packed_max = 32u32.saturating_sub(value_bits);
        let packed = if t.force_split || value_bits >= 32 {
            false
        } else if shift <= packed_max {
            true
        } else if (num_keys >> packed_max) < MAX_BUCKETS {
            // More, smaller buckets, to keep the one-word layout.
            shift = packed_max;
            true
        } else {
            false
        };
        if !packed {
            shift = shift.min(16);
        }
        let buckets = (num_keys >> shift) + 1;
        Layout { shift, value_bits, packed, buckets }
    }
}

/// Word of the in-cache sort: `key_low << value_bits | value`.
trait Word: Copy + Default + Send + Sync + 'static {
    fn digit(self, shift: u32, mask: u32) -> usize;
    fn low32(self) -> u32;
    fn key(self, value_bits: u32) -> usize;
}

impl Word for u32 {
    #[inline(always)]
    fn digit(self, shift: u32, mask: u32) -> usize {
        ((self >> shift) & mask) as usize
    }
    #[inline(always)]
    fn low32(self) -> u32 {
        self
    }
    #[inline(always)]
    fn key(self, value_bits: u32) -> usize {
        (self >> value_bits) as usize
    }
}

impl Word for u64 {
    #[inline(always)]
    fn digit(self, shift: u32, mask: u32) -> usize {
        ((self >> shift) as u32 & mask) as usize
    }
    #[inline(always)]
    fn low32(self) -> u32 {
        self as u32
    }
    #[inline(always)]
    fn key(self, value_bits: u32) -> usize {
        (self >> value_bits) as usize
    }
}

const DIGIT: u32 = 11;

/// Per-thread memory of the place step.
#[derive(Default)]
struct Scratch<W> {
    a: Vec<W>,
    b: Vec<W>,
    pa: Vec<u32>,
    pb: Vec<u32>,
    hist: Vec<u32>,
    count: Vec<u32>,
}

/// Stable LSD radix sort of `s.a` (with `s.pa` alongside when `pay`) on
/// bits `lo..hi`, whose digit histograms are already in `s.hist`; the
/// result is left in `s.a` / `s.pa`.
fn radix<W: Word>(s: &mut Scratch<W>, pay: bool, lo: u32, hi: u32) {
    let n = s.a.len();
    if n < 2 || hi <= lo {
        return;
    }
    let passes = (hi - lo).div_ceil(DIGIT) as usize;
    let bins = 1usize << DIGIT;
    let mask = (1u32 << DIGIT) - 1;
    s.b.resize(n, W::default());
    if pay {
        s.pb.resize(n, 0);
    }
    for p in 0..passes {
        let sh = lo + p as u32 * DIGIT;
        let h = &mut s.hist[p * bins..(p + 1) * bins];
        // A digit shared by every entry moves nothing.
        if h[s.a[0].digit(sh, mask)] as usize == n {
            continue;
        }
        let mut run = 0u32;
        for c in h.iter_mut() {
            let k = *c;
            *c = run;
            run += k;
        }
        for i in 0..n {
            let x = s.a[i];
            let d = x.digit(sh, mask);
            // SAFETY: `d` < bins; the prefix sums keep every slot below `n`, each written once.
            unsafe {
                let q = *h.get_unchecked(d) as usize;
                *h.get_unchecked_mut(d) = q as u32 + 1;
                *s.b.get_unchecked_mut(q) = x;
                if pay {
                    *s.pb.get_unchecked_mut(q) = *s.pa.get_unchecked(i);
                }
            }
        }
        std::mem::swap(&mut s.a, &mut s.b);
        if pay {
            std::mem::swap(&mut s.pa, &mut s.pb);
        }
    }
}

/// Groups `pairs` by key; see the module docs.
pub(super) fn group<P: Pairs>(pairs: &P, job: Job, tuning: Tuning) -> Result<Sorted, Bad> {
    let t0 = std::time::Instant::now();
    let threads = rayon::current_num_threads().max(1);
    let chunks = pairs.chunks(threads);
    let Job { num_keys, num_values, payload, .. } = job;
    let lay = Layout::choose(pairs.approx_len(), num_keys, num_values, tuning);
    let nb = lay.buckets;
    let shift = lay.shift;
    // 1. Count entries per bucket per chunk; keys past the bound land in an
    //    extra bucket and fail the job.
    let limit = num_keys as u64;
    let last = limit.saturating_sub(1);
    let counted: Vec<(Vec<usize>, bool)> = chunks
        .par_iter()
        .map(|r| {
            let mut c = vec![0usize; nb];
            let mut bad = false;
            pairs.for_each(r.clone(), |k, _, _| {
                bad |= k >= limit;
                // SAFETY: the index is at most `last >> shift` < nb.
                unsafe { *c.get_unchecked_mut((k.min(last) >> shift) as usize) += 1 };
            });
            (c, bad)
        })
        .collect();
    if counted.iter().any(|c| c.1) {
        return Err(Bad::Key);
    }
    let mut cursors: Vec<Vec<usize>> = counted.into_iter().map(|c| c.0).collect();
    let mut bucket_start = vec![0usize; nb + 1];
    let mut run = 0usize;
    for b in 0..nb {
        bucket_start[b] = run;
        for c in cursors.iter_mut() {
            let n = c[b];
            c[b] = run;
            run += n;
        }
    }
    bucket_start[nb] = run;
    let total = run;
    if total > u32::MAX as usize {
        return Err(Bad::TooMany(total));
    }
    // 2. Partition.
    let mut main: Vec<u32> = big_vec(total);
    let mut keys: Vec<u16> = big_vec(if lay.packed { 0 } else { total });
    let mut pay: Vec<u32> = big_vec(if payload { total } else { 0 });
    let (mp, kp, pp) = (SharedMut(main.as_mut_ptr()), SharedMut(keys.as_mut_ptr()), SharedMut(pay.as_mut_ptr()));
    let key_mask = (1u64 << shift) - 1;
    let vbits = lay.value_bits;
    let vlimit = num_values as u64;
    let bad_value = chunks
        .par_iter()
        .zip(cursors.par_iter_mut())
        .map(|(r, cur)| {
            let start: Vec<usize> = cur[..nb].to_vec();
            let mut wm = LineWriter::new(mp.ptr(), &start);
            let mut wk = LineWriter::new(kp.ptr(), if lay.packed { &[] } else { &start[..] });
            let mut wp = LineWriter::new(pp.ptr(), if payload { &start[..] } else { &[] });
            let mut bad = false;
            pairs.for_each(r.clone(), |k, v, q| {
                bad |= v >= vlimit;
                let b = (k >> shift) as usize;
                // SAFETY: `b` < nb (keys were checked in step 1); each (chunk,
                // bucket) owns the slots from its cursor start to the next
                // chunk's, all below `total`; each slot is written once, and
                // only by the writer of the range that owns it.
                unsafe {
                    let pos = *cur.get_unchecked(b);
                    *cur.get_unchecked_mut(b) = pos + 1;
                    let low = k & key_mask;
                    if lay.packed {
                        wm.put(b, pos, ((low << vbits) | (v & ((1 << vbits) - 1))) as u32);
                    } else {
                        wm.put(b, pos, v as u32);
                        wk.put(b, pos, low as u16);
                    }
                    if payload {
                        wp.put(b, pos, q);
                    }
                }
            });
            // SAFETY: `cur` holds the final cursors of this chunk's ranges.
            unsafe {
                wm.finish(&cur[..nb]);
                if !lay.packed {
                    wk.finish(&cur[..nb]);
                }
                if payload {
                    wp.finish(&cur[..nb]);
                }
            }
            bad
        })
        .reduce(|| false, |a, b| a | b);
    drop(cursors);
    // SAFETY: step 2 wrote every slot below `total` of each buffer in use.
    unsafe {
        main.set_len(total);
        if !lay.packed {
            keys.set_len(total);
        }
        if payload {
            pay.set_len(total);
        }
    }
    if bad_value {
        return Err(Bad::Value);
    }
    tracing::debug!(secs = t0.elapsed().as_secs_f64(), "count + partition");
    // 3. Place each bucket.
    let mut offsets: Vec<u64> = big_vec(num_keys + 1);
    let optr = SharedMut(offsets.as_mut_ptr());
    let diag = if lay.packed {
        place::<u32>(&mut main, &[], &mut pay, &bucket_start, lay, job, optr)
    } else {
        place::<u64>(&mut main, &keys, &mut pay, &bucket_start, lay, job, optr)
    };
    drop(keys);
    tracing::debug!(secs = t0.elapsed().as_secs_f64(), "placed");
    // SAFETY: every key below `num_keys` lies in exactly one bucket, which
    // wrote its offset; the last one is written here.
    unsafe { offsets.set_len(num_keys + 1) };
    offsets[num_keys] = total as u64;
    Ok(Sorted { offsets, values: main, payload: payload.then_some(pay), diagonal: diag })
}

/// Builds the sort word of entry `i` of a bucket.
trait Compose: Word {
    fn compose(main: u32, key: u16, value_bits: u32) -> Self;
}
impl Compose for u32 {
    #[inline(always)]
    fn compose(main: u32, _: u16, _: u32) -> Self {
        main
    }
}
impl Compose for u64 {
    #[inline(always)]
    fn compose(main: u32, key: u16, value_bits: u32) -> Self {
        (u64::from(key) << value_bits) | u64::from(main)
    }
}

/// Step 3 over all buckets in parallel; returns the diagonal count.
fn place<W: Compose>(main: &mut [u32], keys: &[u16], pay: &mut [u32], bucket_start: &[usize], lay: Layout, job: Job, optr: SharedMut<u64>) -> u64 {
    let nb = lay.buckets;
    let (vbits, shift) = (lay.value_bits, lay.shift);
    let vmask = if vbits >= 32 { u32::MAX } else { (1u32 << vbits) - 1 };
    let num_keys = job.num_keys;
    let mp = SharedMut(main.as_mut_ptr());
    let pp = SharedMut(pay.as_mut_ptr());
    (0..nb)
        .into_par_iter()
        .map_init(Scratch::<W>::default, |s, b| {
            let (lo, hi) = (bucket_start[b], bucket_start[b + 1]);
            let k0 = b << shift;
            if k0 >= num_keys {
                return 0;
            }
            let k1 = ((b + 1) << shift).min(num_keys);
            // SAFETY: bucket ranges are disjoint, so this task alone reads and
            // writes main[lo..hi] and pay[lo..hi]; `keys` is only read.
            let (m, p) = unsafe {
                (
                    std::slice::from_raw_parts_mut(mp.ptr().add(lo), hi - lo),
                    if job.payload { std::slice::from_raw_parts_mut(pp.ptr().add(lo), hi - lo) } else { &mut [][..] },
                )
            };
            // Copy the bucket out, counting rows and (for sorted rows) value digits.
            let rows = k1 - k0;
            s.count.clear();
            s.count.resize(rows, 0);
            let passes = if job.sort_rows { vbits.div_ceil(DIGIT) as usize } else { 0 };
            let bins = 1usize << DIGIT;
            let dmask = (1u32 << DIGIT) - 1;
            s.hist.clear();
            s.hist.resize(passes * bins, 0);
            s.a.clear();
            s.a.reserve(m.len());
            for (i, &x) in m.iter().enumerate() {
                let w = if keys.is_empty() { W::compose(x, 0, vbits) } else { W::compose(x, keys[lo + i], vbits) };
                s.a.push(w);
                // SAFETY: keys of this bucket are below `rows`; digits below `bins`.
                unsafe {
                    *s.count.get_unchecked_mut(w.key(vbits)) += 1;
                    for p in 0..passes {
                        *s.hist.get_unchecked_mut(p * bins + w.digit(p as u32 * DIGIT, dmask)) += 1;
                    }
                }
            }
            s.pa.clear();
            s.pa.extend_from_slice(p);
            // Order by value (LSD passes over the value bits) ...
            radix(s, job.payload, 0, if job.sort_rows { vbits } else { 0 });
            // ... then one stable pass by row, straight into the output.
            let mut run = lo as u64;
            for (i, c) in s.count.iter_mut().enumerate() {
                // SAFETY: key ranges of buckets are disjoint and below num_keys.
                unsafe { optr.write(k0 + i, run) };
                let n = *c;
                *c = (run - lo as u64) as u32;
                run += u64::from(n);
            }
            for (i, &x) in s.a.iter().enumerate() {
                let key = x.key(vbits);
                let v = x.low32() & vmask;
                // SAFETY: `key` < rows; the prefix sums keep slots below the bucket's length.
                unsafe {
                    let q = *s.count.get_unchecked(key) as usize;
                    *s.count.get_unchecked_mut(key) = q as u32 + 1;
                    *m.get_unchecked_mut(q) = v;
                    if job.payload {
                        *p.get_unchecked_mut(q) = *s.pa.get_unchecked(i);
                    }
                }
            }
            // Rows that hold their own index (rows are sorted when this is asked).
            let mut diag = 0u64;
            if job.diagonal {
                let mut start = 0usize;
                for (i, &end) in s.count.iter().enumerate() {
                    let row = &m[start..end as usize];
                    if row.binary_search(&((k0 + i) as u32)).is_ok() {
                        diag += 1;
                    }
                    start = end as usize;
                }
            }
            diag
        })
        .sum()
}
