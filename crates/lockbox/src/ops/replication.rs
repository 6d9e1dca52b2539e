//! The multi-Region operations: ReplicateKey, UpdatePrimaryRegion.

use lockbox_api::*;

use crate::core::{Call, Engine};

impl Engine {
    pub(crate) fn replicate_key(
        &self,
        _call: &mut Call<'_>,
        _req: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        Err(not_yet("ReplicateKey"))
    }

    pub(crate) fn update_primary_region(
        &self,
        _call: &mut Call<'_>,
        _req: UpdatePrimaryRegionRequest,
    ) -> Result<(), KmsError> {
        Err(not_yet("UpdatePrimaryRegion"))
    }
}

fn not_yet(op: &str) -> KmsError {
    KmsError::new(
        ErrorKind::UnsupportedOperation,
        format!("{op} is not available in this build of Lockbox"),
    )
}
