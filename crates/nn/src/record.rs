//! Module parameters to and from bytes (burn's burnpack records), with
//! every failure — truncated bytes, a tensor missing, a shape that differs
//! from the module's — an error that names it, never a panic.

use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Bytes;

use crate::{Error, Result};

/// The parameters of `module` as bytes.
pub fn to_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    module.clone().into_record().into_bytes().map(|b| b.to_vec()).map_err(|e| Error::Decode { what: "parameters", message: e.to_string() })
}

/// Loads parameters written by [`to_bytes`] into `module` (which gives the
/// expected shapes).
pub fn from_bytes<M: Module>(module: M, bytes: &[u8]) -> Result<M> {
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| Error::Decode { what: "parameters", message: e.to_string() })?;
    module.try_load_record(record).map_err(|e| match e {
        RecordError::Validation(m) => Error::Shape(m),
        RecordError::Io(m) => Error::Decode { what: "parameters", message: m },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gnn::{ConvKind, GnnConfig};

    #[test]
    fn shapes_that_differ_and_garbage_are_errors_not_panics() {
        let a = GnnConfig::new(ConvKind::Sage).init(8, 3, 1);
        let bytes = to_bytes(&a).unwrap();
        assert!(from_bytes(GnnConfig::new(ConvKind::Sage).init(8, 3, 2), &bytes).is_ok());
        let wider = GnnConfig { hidden: vec![32], ..GnnConfig::new(ConvKind::Sage) }.init(8, 3, 1);
        let e = from_bytes(wider, &bytes).unwrap_err().to_string();
        assert!(e.contains("do not fit"), "{e}");
        assert!(from_bytes(GnnConfig::new(ConvKind::Sage).init(8, 3, 1), &bytes[..bytes.len() / 2]).is_err());
        assert!(from_bytes(GnnConfig::new(ConvKind::Sage).init(8, 3, 1), b"not a record").is_err());
    }
}
