//! get-parameters-for-import, import-key-material, delete-imported-key-material: bring your
//! own key material into a key of origin EXTERNAL (see `docs/formats/import.md` for how to
//! wrap it).

use lockbox::api::*;
use serde::Serialize;

use crate::cli::{
    DeleteImportedKeyMaterialArgs, GetParametersForImportArgs, ImportKeyMaterialArgs,
};
use crate::error::{CliError, OrKms};
use crate::output::{RawOut, b64, date, print_json, write_raw};
use crate::params;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ParametersOut {
    key_id: String,
    import_token: String,
    public_key: String,
    parameters_valid_to: String,
}

pub(crate) fn get_parameters_for_import(
    kms: &dyn Kms,
    a: GetParametersForImportArgs,
) -> Result<(), CliError> {
    const OP: &str = "GetParametersForImport";
    let req = GetParametersForImportRequest::new(
        params::key_ref(OP, &a.key_id)?,
        a.wrapping_algorithm.parse::<AlgorithmSpec>().op(OP)?,
        a.wrapping_key_spec.parse::<WrappingKeySpec>().op(OP)?,
    );
    let out = kms.get_parameters_for_import(req).op(OP)?;
    if let Some(path) = &a.public_key_out {
        write_raw(&RawOut::parse(path), &out.public_key)?;
    }
    if let Some(path) = &a.import_token_out {
        write_raw(&RawOut::parse(path), &out.import_token)?;
    }
    print_json(&ParametersOut {
        key_id: out.key_id.to_string(),
        import_token: b64(&out.import_token),
        public_key: b64(&out.public_key),
        parameters_valid_to: date(out.parameters_valid_to),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImportOut {
    key_id: String,
    key_material_id: String,
}

pub(crate) fn import_key_material(kms: &dyn Kms, a: ImportKeyMaterialArgs) -> Result<(), CliError> {
    const OP: &str = "ImportKeyMaterial";
    let token = params::blob("--import-token", &a.import_token)?;
    let material = params::blob("--encrypted-key-material", &a.encrypted_key_material)?;
    let mut req = ImportKeyMaterialRequest::new(
        params::key_ref(OP, &a.key_id)?,
        token.to_vec(),
        material.to_vec(),
    );
    req.expiration_model = a
        .expiration_model
        .map(|s| s.parse::<ExpirationModelType>())
        .transpose()
        .op(OP)?;
    req.import_type = a
        .import_type
        .map(|s| s.parse::<ImportType>())
        .transpose()
        .op(OP)?;
    req.valid_to = a
        .valid_to
        .as_deref()
        .map(|v| timestamp("--valid-to", v))
        .transpose()?;
    req.key_material_description = a.key_material_description;
    req.key_material_id = a.key_material_id;
    let out = kms.import_key_material(req).op(OP)?;
    print_json(&ImportOut {
        key_id: out.key_id.to_string(),
        key_material_id: out.key_material_id,
    })
}

pub(crate) fn delete_imported_key_material(
    kms: &dyn Kms,
    a: DeleteImportedKeyMaterialArgs,
) -> Result<(), CliError> {
    const OP: &str = "DeleteImportedKeyMaterial";
    let mut req = DeleteImportedKeyMaterialRequest::new(params::key_ref(OP, &a.key_id)?);
    req.key_material_id = a.key_material_id;
    let out = kms.delete_imported_key_material(req).op(OP)?;
    print_json(&ImportOut {
        key_id: out.key_id.to_string(),
        key_material_id: out.key_material_id,
    })
}

/// A timestamp as the AWS CLI takes one: seconds since 1970 (a fraction allowed), or
/// `YYYY-MM-DDTHH:MM:SS` with `Z` (UTC) and optional fractional seconds.
fn timestamp(param: &'static str, v: &str) -> Result<Timestamp, CliError> {
    let bad = || {
        CliError::param(
            param,
            format!("'{v}' is not a time: use 2026-12-31T00:00:00Z or seconds since 1970"),
        )
    };
    if let Ok(secs) = v.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 1e14 {
            return Err(bad());
        }
        // Rounded to the millisecond the wire carries.
        #[allow(clippy::cast_possible_truncation)]
        return Ok(Timestamp::from_unix_millis((secs * 1000.0).round() as i64));
    }
    let v2 = v.strip_suffix('Z').ok_or_else(bad)?;
    let (day, time) = v2.split_once('T').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = day.split('-').collect();
    let (whole, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = whole.split(':').collect();
    let ([y, mo, da], [h, mi, s]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let (y, mo, da, h, mi, s) = (num(y)?, num(mo)?, num(da)?, num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        num(&digits)?
    };
    // Days from 1970-01-01 to y-mo-da (proleptic Gregorian), H. Hinnant's days_from_civil.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(Timestamp::from_unix_millis(
        ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_to_takes_both_forms_the_aws_cli_takes() {
        let t = |v| timestamp("--valid-to", v).map(Timestamp::unix_millis).ok();
        assert_eq!(t("0"), Some(0));
        assert_eq!(t("1735689600"), Some(1_735_689_600_000));
        assert_eq!(t("1735689600.5"), Some(1_735_689_600_500));
        assert_eq!(t("2025-01-01T00:00:00Z"), Some(1_735_689_600_000));
        assert_eq!(t("2024-02-29T12:34:56.789Z"), Some(1_709_210_096_789));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "tomorrow",
            "2025-01-01",
            "2025-13-01T00:00:00Z",
            "2025-01-01T00:00:00",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
