//! Id arrays on the wire: `bytes` fields of little-endian integers (see
//! `proto/graph.proto`), a copy at each end.

/// `xs` as little-endian bytes.
pub(crate) fn pack_u32(xs: &[u32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(xs.len() * 4);
    for x in xs {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}

/// `xs` as little-endian bytes.
pub(crate) fn pack_u64(xs: &[u64]) -> Vec<u8> {
    let mut b = Vec::with_capacity(xs.len() * 8);
    for x in xs {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}

/// `xs` as little-endian bytes.
pub(crate) fn pack_f32(xs: &[f32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(xs.len() * 4);
    for x in xs {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}

/// The f32s of a field; as [`unpack_u32`].
pub(crate) fn unpack_f32(b: &[u8], what: &str) -> Result<Vec<f32>, String> {
    Ok(unpack_u32(b, what)?.into_iter().map(f32::from_bits).collect())
}

/// The u32s of a field; `what` names the field when its length is not a
/// multiple of 4.
pub(crate) fn unpack_u32(b: &[u8], what: &str) -> Result<Vec<u32>, String> {
    if !b.len().is_multiple_of(4) {
        return Err(format!("`{what}` holds {} bytes, not a whole number of u32", b.len()));
    }
    Ok(b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The u64s of a field; as [`unpack_u32`].
pub(crate) fn unpack_u64(b: &[u8], what: &str) -> Result<Vec<u64>, String> {
    if !b.len().is_multiple_of(8) {
        return Err(format!("`{what}` holds {} bytes, not a whole number of u64", b.len()));
    }
    Ok(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

/// Number of u32s in a field (its length must be checked by unpacking).
pub(crate) fn count_u32(b: &[u8]) -> usize {
    b.len() / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_ragged_fields_are_refused() {
        let xs = [0u32, 1, u32::MAX, 123_456_789];
        assert_eq!(unpack_u32(&pack_u32(&xs), "nodes").unwrap(), xs);
        let ys = [0u64, u64::MAX, 1 << 40];
        assert_eq!(unpack_u64(&pack_u64(&ys), "degrees").unwrap(), ys);
        let e = unpack_u32(&[1, 2, 3], "nodes").unwrap_err();
        assert!(e.contains("`nodes`") && e.contains("3 bytes"), "{e}");
        assert!(unpack_u64(&[0; 12], "degrees").is_err());
        let fs = [0.0f32, -1.5, f32::MAX, f32::MIN_POSITIVE];
        assert_eq!(unpack_f32(&pack_f32(&fs), "values").unwrap(), fs);
    }
}
