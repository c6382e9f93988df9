//! The checkpoint container shared by the models: a magic tag, a format
//! version, little-endian fields, and a 64-bit checksum of everything
//! before it. Reading checks every length against the bytes actually
//! present before allocating, so truncated or garbage input is an error,
//! never a panic or a huge allocation.

use crate::{Error, Result};

/// Version of every format written by this crate.
const VERSION: u32 = 1;

/// A checksum of `b`: four interleaved SplitMix-mixed lanes of 8-byte
/// words (fast enough for checkpoints of hundreds of megabytes), then the
/// tail and the length.
fn checksum(b: &[u8]) -> u64 {
    use ferrograph_sample::rng::mix;
    let mut h = [0x5851_f42d_4c95_7f2du64, 0x1405_7b7e_f767_814f, 0x2545_f491_4f6c_dd1d, 0x9e37_79b9_7f4a_7c15];
    let mut chunks = b.chunks_exact(32);
    for c in &mut chunks {
        for (l, h) in h.iter_mut().enumerate() {
            let w = u64::from_le_bytes(c[l * 8..l * 8 + 8].try_into().expect("8 bytes"));
            *h = mix(*h ^ w);
        }
    }
    let mut out = mix(h[0] ^ mix(h[1] ^ mix(h[2] ^ mix(h[3]))));
    for &x in chunks.remainder() {
        out = mix(out ^ u64::from(x));
    }
    mix(out ^ b.len() as u64)
}

/// Builds a checkpoint.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 8]) -> Writer {
        let mut w = Writer { buf: Vec::new() };
        w.buf.extend_from_slice(magic);
        w.u32(VERSION);
        w
    }

    pub(crate) fn u32(&mut self, x: u32) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }

    pub(crate) fn usize(&mut self, x: usize) {
        self.u64(x as u64);
    }

    pub(crate) fn f32(&mut self, x: f32) {
        self.u32(x.to_bits());
    }

    pub(crate) fn f32s(&mut self, xs: impl IntoIterator<Item = f32>) {
        for x in xs {
            self.f32(x);
        }
    }

    pub(crate) fn u32s(&mut self, xs: impl IntoIterator<Item = u32>) {
        for x in xs {
            self.u32(x);
        }
    }

    /// The bytes, checksum appended.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let sum = checksum(&self.buf);
        self.u64(sum);
        self.buf
    }
}

/// Reads a checkpoint written by [`Writer`].
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Checkpoint(msg.into())
}

impl<'a> Reader<'a> {
    /// Checks the checksum, the magic tag (`what` names the model in
    /// errors) and the version.
    pub(crate) fn open(bytes: &'a [u8], magic: &[u8; 8], what: &str) -> Result<Reader<'a>> {
        if bytes.len() < 8 + 4 + 8 {
            return Err(bad(format!("{} bytes are too few for a {what} checkpoint", bytes.len())));
        }
        if &bytes[..8] != magic {
            return Err(bad(format!("not a {what} checkpoint (wrong magic bytes)")));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(bad(format!("the {what} checkpoint is truncated or corrupted (checksum mismatch)")));
        }
        let mut r = Reader { buf: body, at: 8 };
        let version = r.u32()?;
        if version != VERSION {
            return Err(bad(format!("{what} checkpoint format version {version}; this build reads version {VERSION}")));
        }
        Ok(r)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.at < len {
            return Err(bad("the checkpoint ends early"));
        }
        let s = &self.buf[self.at..self.at + len];
        self.at += len;
        Ok(s)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub(crate) fn usize(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| bad("a count does not fit this machine"))
    }

    pub(crate) fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// `count` 4-byte fields, checked against the bytes left before
    /// anything is allocated.
    fn words(&mut self, count: usize) -> Result<&'a [u8]> {
        let len = count.checked_mul(4).ok_or_else(|| bad("an array length overflows"))?;
        self.take(len)
    }

    pub(crate) fn f32s(&mut self, count: usize) -> Result<Vec<f32>> {
        Ok(self.words(count)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    pub(crate) fn u32s(&mut self, count: usize) -> Result<Vec<u32>> {
        Ok(self.words(count)?.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    /// Every byte was read.
    pub(crate) fn finish(self) -> Result<()> {
        if self.at != self.buf.len() {
            return Err(bad(format!("{} unexpected bytes after the checkpoint's fields", self.buf.len() - self.at)));
        }
        Ok(())
    }
}

/// `a · b · …` or an error naming what overflowed.
pub(crate) fn product(factors: &[usize]) -> Result<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f)).ok_or_else(|| bad("array sizes overflow"))
}
