//! The import operations: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial (keys of Origin EXTERNAL).

use lockbox_api::*;

use crate::core::{Call, Engine};

impl Engine {
    pub(crate) fn get_parameters_for_import(
        &self,
        _call: &mut Call<'_>,
        _req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse, KmsError> {
        Err(not_yet("GetParametersForImport"))
    }

    pub(crate) fn import_key_material(
        &self,
        _call: &mut Call<'_>,
        _req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse, KmsError> {
        Err(not_yet("ImportKeyMaterial"))
    }

    pub(crate) fn delete_imported_key_material(
        &self,
        _call: &mut Call<'_>,
        _req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
        Err(not_yet("DeleteImportedKeyMaterial"))
    }
}

fn not_yet(op: &str) -> KmsError {
    KmsError::new(
        ErrorKind::UnsupportedOperation,
        format!("{op} is not available in this build of Lockbox"),
    )
}
