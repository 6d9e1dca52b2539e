//! The server side: decode a request, call the engine, encode the answer.

use lockbox_api::*;
use serde_json::Value;

use super::Operation;
use super::json::{Input, Output};
use crate::error::WireError;

/// The most characters of a key identifier (`KeyIdType`).
const KEY_ID_MAX: usize = 2048;
/// The most characters of a paging marker (`MarkerType`).
const MARKER_MAX: usize = 1024;
/// The largest page size the model allows (`LimitType`); operations narrow it.
const LIMIT_MAX: u32 = 1000;
/// The legacy `CustomerMasterKeySpec` values (the ones before `KeySpec` replaced it).
const LEGACY_SPECS: usize = 13;

fn kms(e: KmsError) -> WireError {
    WireError::from_kms(&e)
}

pub(super) fn serve(kms_: &dyn Kms, op: Operation, mut m: Input) -> Result<Vec<u8>, WireError> {
    let m = &mut m;
    let unit = |r: Result<(), KmsError>| r.map(|()| b"{}".to_vec()).map_err(kms);
    match op {
        Operation::CreateKey => {
            let r = kms_.create_key(create_key(m)?).map_err(kms)?;
            Ok(metadata_body(&r.key_metadata))
        }
        Operation::DescribeKey => {
            let key = key_ref(m, "KeyId")?;
            let tokens = grant_tokens(m)?;
            let r = kms_
                .describe_key(DescribeKeyRequest::new(key).with_grant_tokens(tokens))
                .map_err(kms)?;
            Ok(metadata_body(&r.key_metadata))
        }
        Operation::ListKeys => {
            let (limit, marker) = paging(m)?;
            if let Some(owners) = m.opt_str_list("ResourceOwners")? {
                for o in &owners {
                    match o.as_str() {
                        "SELF" => {}
                        "OTHER_ACCOUNTS_VIA_RAM" => {
                            return Err(super::json::unsupported(
                                "ResourceOwners OTHER_ACCOUNTS_VIA_RAM is not supported: \
                                 Lockbox shares no keys through Resource Access Manager",
                            ));
                        }
                        other => {
                            return Err(m.constraint(
                                "ResourceOwners",
                                Some(other),
                                "Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]",
                            ));
                        }
                    }
                }
            }
            let mut req = ListKeysRequest::new();
            req.limit = limit;
            req.marker = marker;
            let r = kms_.list_keys(req).map_err(kms)?;
            let keys = r
                .keys
                .iter()
                .map(|k| {
                    let mut o = Output::new();
                    o.put_text("KeyId", k.key_id).put_text("KeyArn", &k.key_arn);
                    o.into_value()
                })
                .collect();
            let mut o = Output::new();
            o.put_list("Keys", keys);
            Ok(page(o, r.next_marker, r.truncated))
        }
        Operation::UpdateKeyDescription => {
            let key = key_ref(m, "KeyId")?;
            let description = m.str("Description")?;
            unit(kms_.update_key_description(UpdateKeyDescriptionRequest::new(key, description)))
        }
        Operation::EnableKey => unit(kms_.enable_key(EnableKeyRequest::new(key_ref(m, "KeyId")?))),
        Operation::DisableKey => {
            unit(kms_.disable_key(DisableKeyRequest::new(key_ref(m, "KeyId")?)))
        }
        Operation::ScheduleKeyDeletion => {
            let mut req = ScheduleKeyDeletionRequest::new(key_ref(m, "KeyId")?);
            req.pending_window_in_days = m.opt_u32("PendingWindowInDays", 1, 365)?;
            let r = kms_.schedule_key_deletion(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_text("KeyId", &r.key_id)
                .put_timestamp("DeletionDate", r.deletion_date)
                .put_text("KeyState", r.key_state)
                .put("PendingWindowInDays", r.pending_window_in_days);
            Ok(o.into_body())
        }
        Operation::CancelKeyDeletion => {
            let r = kms_
                .cancel_key_deletion(CancelKeyDeletionRequest::new(key_ref(m, "KeyId")?))
                .map_err(kms)?;
            let mut o = Output::new();
            o.put_text("KeyId", &r.key_id);
            Ok(o.into_body())
        }
        Operation::CreateAlias => unit(kms_.create_alias(alias_request(m)?)),
        Operation::UpdateAlias => unit(kms_.update_alias(alias_request(m)?)),
        Operation::DeleteAlias => {
            let alias = m.parse_str("AliasName", AliasName::parse)?;
            unit(kms_.delete_alias(DeleteAliasRequest::new(alias)))
        }
        Operation::ListAliases => {
            let mut req = ListAliasesRequest::new();
            req.key_id = opt_key_ref(m, "KeyId")?;
            (req.limit, req.marker) = paging(m)?;
            let r = kms_.list_aliases(req).map_err(kms)?;
            let aliases = r
                .aliases
                .iter()
                .map(|a| {
                    let mut o = Output::new();
                    o.put_text("AliasName", &a.alias_name)
                        .put_text("AliasArn", &a.alias_arn)
                        .put_text("TargetKeyId", a.target_key_id)
                        .put_timestamp("CreationDate", a.creation_date)
                        .put_timestamp("LastUpdatedDate", a.last_updated_date);
                    o.into_value()
                })
                .collect();
            let mut o = Output::new();
            o.put_list("Aliases", aliases);
            Ok(page(o, r.next_marker, r.truncated))
        }
        Operation::TagResource => {
            let key = key_ref(m, "KeyId")?;
            let tags = tags(m, true)?;
            unit(kms_.tag_resource(TagResourceRequest::new(key, tags)))
        }
        Operation::UntagResource => {
            let key = key_ref(m, "KeyId")?;
            let keys = m
                .opt_str_list("TagKeys")?
                .ok_or_else(|| m.missing("TagKeys"))?;
            unit(kms_.untag_resource(UntagResourceRequest::new(key, keys)))
        }
        Operation::ListResourceTags => {
            let mut req = ListResourceTagsRequest::new(key_ref(m, "KeyId")?);
            (req.limit, req.marker) = paging(m)?;
            let r = kms_.list_resource_tags(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_list("Tags", r.tags.iter().map(tag_value).collect());
            Ok(page(o, r.next_marker, r.truncated))
        }
        Operation::Encrypt => {
            let key = key_ref(m, "KeyId")?;
            let plaintext = m.secret("Plaintext", MAX_PLAINTEXT_LEN)?;
            let mut req = EncryptRequest::new(key, plaintext)
                .with_encryption_context(context(m, "EncryptionContext")?)
                .with_grant_tokens(grant_tokens(m)?);
            req.encryption_algorithm = algorithm(m, "EncryptionAlgorithm")?;
            m.dry_run()?;
            let r = kms_.encrypt(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_blob("CiphertextBlob", &r.ciphertext_blob)
                .put_text("KeyId", &r.key_id)
                .put_text("EncryptionAlgorithm", r.encryption_algorithm);
            Ok(o.into_body())
        }
        Operation::Decrypt => {
            let mut req = DecryptRequest::new(m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?)
                .with_encryption_context(context(m, "EncryptionContext")?)
                .with_grant_tokens(grant_tokens(m)?);
            req.key_id = opt_key_ref(m, "KeyId")?;
            req.encryption_algorithm = algorithm(m, "EncryptionAlgorithm")?;
            refuse_recipient(m)?;
            m.dry_run()?;
            let r = kms_.decrypt(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_text("KeyId", &r.key_id)
                .put_text("EncryptionAlgorithm", r.encryption_algorithm);
            Ok(secret_body(o, &r.plaintext))
        }
        Operation::ReEncrypt => {
            let blob = m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?;
            let source_context = context(m, "SourceEncryptionContext")?;
            let source_key = opt_key_ref(m, "SourceKeyId")?;
            let destination = key_ref(m, "DestinationKeyId")?;
            let mut req = ReEncryptRequest::new(blob, destination)
                .with_source_encryption_context(source_context)
                .with_destination_encryption_context(context(m, "DestinationEncryptionContext")?)
                .with_grant_tokens(grant_tokens(m)?);
            req.source_key_id = source_key;
            req.source_encryption_algorithm = algorithm(m, "SourceEncryptionAlgorithm")?;
            req.destination_encryption_algorithm = algorithm(m, "DestinationEncryptionAlgorithm")?;
            m.dry_run()?;
            let r = kms_.re_encrypt(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_blob("CiphertextBlob", &r.ciphertext_blob)
                .put_text("SourceKeyId", &r.source_key_id)
                .put_text("KeyId", &r.key_id)
                .put_text("SourceEncryptionAlgorithm", r.source_encryption_algorithm)
                .put_text(
                    "DestinationEncryptionAlgorithm",
                    r.destination_encryption_algorithm,
                );
            Ok(o.into_body())
        }
        Operation::GenerateDataKey => {
            let req = data_key_request(m)?;
            refuse_recipient(m)?;
            m.dry_run()?;
            let r = kms_.generate_data_key(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_blob("CiphertextBlob", &r.ciphertext_blob)
                .put_text("KeyId", &r.key_id);
            Ok(secret_body(o, &r.plaintext))
        }
        Operation::GenerateDataKeyWithoutPlaintext => {
            let req = data_key_request(m)?;
            m.dry_run()?;
            let r = kms_.generate_data_key_without_plaintext(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_blob("CiphertextBlob", &r.ciphertext_blob)
                .put_text("KeyId", &r.key_id);
            Ok(o.into_body())
        }
        Operation::GenerateRandom => {
            let n = m
                .opt_int("NumberOfBytes", 1, i64::from(MAX_NUMBER_OF_BYTES))?
                .ok_or_else(|| m.missing("NumberOfBytes"))?;
            let n = NumberOfBytes::new(n).map_err(kms)?;
            m.refuse(
                "CustomKeyStoreId",
                "Lockbox has no custom key stores; random bytes come from its token",
            )?;
            refuse_recipient(m)?;
            let r = kms_
                .generate_random(GenerateRandomRequest::new(n))
                .map_err(kms)?;
            Ok(secret_body(Output::new(), &r.plaintext))
        }
        Operation::EnableKeyRotation => {
            let mut req = EnableKeyRotationRequest::new(key_ref(m, "KeyId")?);
            req.rotation_period_in_days = m.opt_u32(
                "RotationPeriodInDays",
                MIN_ROTATION_PERIOD_DAYS,
                MAX_ROTATION_PERIOD_DAYS,
            )?;
            unit(kms_.enable_key_rotation(req))
        }
        Operation::DisableKeyRotation => {
            unit(kms_.disable_key_rotation(DisableKeyRotationRequest::new(key_ref(m, "KeyId")?)))
        }
        Operation::GetKeyRotationStatus => {
            let r = kms_
                .get_key_rotation_status(GetKeyRotationStatusRequest::new(key_ref(m, "KeyId")?))
                .map_err(kms)?;
            let mut o = Output::new();
            o.put("KeyRotationEnabled", r.key_rotation_enabled)
                .put_text("KeyId", r.key_id)
                .put_opt("RotationPeriodInDays", r.rotation_period_in_days);
            if let Some(t) = r.next_rotation_date {
                o.put_timestamp("NextRotationDate", t);
            }
            if let Some(t) = r.on_demand_rotation_start_date {
                o.put_timestamp("OnDemandRotationStartDate", t);
            }
            Ok(o.into_body())
        }
        Operation::RotateKeyOnDemand => {
            let r = kms_
                .rotate_key_on_demand(RotateKeyOnDemandRequest::new(key_ref(m, "KeyId")?))
                .map_err(kms)?;
            let mut o = Output::new();
            o.put_text("KeyId", r.key_id);
            Ok(o.into_body())
        }
        Operation::ListKeyRotations => {
            let mut req = ListKeyRotationsRequest::new(key_ref(m, "KeyId")?);
            req.include_key_material = m.opt_parse("IncludeKeyMaterial", str::parse)?;
            (req.limit, req.marker) = paging(m)?;
            let r = kms_.list_key_rotations(req).map_err(kms)?;
            let rotations = r
                .rotations
                .iter()
                .map(|e| {
                    let mut o = Output::new();
                    o.put_text("KeyId", e.key_id)
                        .put("KeyMaterialId", e.key_material_id.clone())
                        .put_text("KeyMaterialState", e.key_material_state)
                        .put_opt("RotationType", e.rotation_type.map(|t| t.to_string()));
                    if let Some(t) = e.rotation_date {
                        o.put_timestamp("RotationDate", t);
                    }
                    o.into_value()
                })
                .collect();
            let mut o = Output::new();
            o.put_list("Rotations", rotations);
            Ok(page(o, r.next_marker, r.truncated))
        }
        Operation::PutKeyPolicy => {
            let key = key_ref(m, "KeyId")?;
            let name = policy_name(m)?;
            let policy = m.str("Policy")?;
            let bypass = m
                .opt_bool("BypassPolicyLockoutSafetyCheck")?
                .unwrap_or(false);
            let req = PutKeyPolicyRequest::new(key, policy, name.as_deref())
                .map_err(kms)?
                .with_bypass_policy_lockout_safety_check(bypass);
            unit(kms_.put_key_policy(req))
        }
        Operation::GetKeyPolicy => {
            let key = key_ref(m, "KeyId")?;
            let name = policy_name(m)?;
            let req = GetKeyPolicyRequest::new(key, name.as_deref()).map_err(kms)?;
            let r = kms_.get_key_policy(req).map_err(kms)?;
            let mut o = Output::new();
            o.put("Policy", r.policy).put("PolicyName", r.policy_name);
            Ok(o.into_body())
        }
        Operation::ListKeyPolicies => {
            let mut req = ListKeyPoliciesRequest::new(key_ref(m, "KeyId")?);
            (req.limit, req.marker) = paging(m)?;
            let r = kms_.list_key_policies(req).map_err(kms)?;
            let mut o = Output::new();
            o.put_list(
                "PolicyNames",
                r.policy_names.into_iter().map(Value::String).collect(),
            );
            Ok(page(o, r.next_marker, r.truncated))
        }
        Operation::CreateGrant => {
            let r = kms_.create_grant(create_grant(m)?).map_err(kms)?;
            let mut o = Output::new();
            o.put("GrantToken", r.grant_token)
                .put("GrantId", r.grant_id);
            Ok(o.into_body())
        }
        Operation::ListGrants => {
            let (limit, marker) = paging(m)?;
            let mut req = ListGrantsRequest::new(key_ref(m, "KeyId")?);
            req.limit = limit;
            req.marker = marker;
            req.grant_id = grant_id(m, false)?;
            req.grantee_principal = m.opt_parse("GranteePrincipal", Principal::parse)?;
            refuse_service_principal(m, "GranteeServicePrincipal")?;
            let r = kms_.list_grants(req).map_err(kms)?;
            Ok(grants_body(r))
        }
        Operation::ListRetirableGrants => {
            let (limit, marker) = paging(m)?;
            let principal = m.parse_str("RetiringPrincipal", Principal::parse)?;
            refuse_service_principal(m, "RetiringServicePrincipal")?;
            let mut req = ListRetirableGrantsRequest::new(principal);
            req.limit = limit;
            req.marker = marker;
            let r = kms_.list_retirable_grants(req).map_err(kms)?;
            Ok(grants_body(r))
        }
        Operation::RetireGrant => {
            let token = m.opt_str("GrantToken")?;
            let key = opt_key_ref(m, "KeyId")?;
            let id = grant_id(m, false)?;
            m.dry_run()?;
            let req = match (token, key, id) {
                (Some(token), _, _) => RetireGrantRequest::by_token(token).map_err(kms)?,
                (None, Some(key), Some(id)) => RetireGrantRequest::by_id(key, id),
                (None, _, _) => {
                    return Err(super::json::validation(
                        "RetireGrant needs either GrantToken, or both KeyId and GrantId",
                    ));
                }
            };
            unit(kms_.retire_grant(req))
        }
        Operation::RevokeGrant => {
            let key = key_ref(m, "KeyId")?;
            let id = grant_id(m, true)?.ok_or_else(|| m.missing("GrantId"))?;
            m.dry_run()?;
            unit(kms_.revoke_grant(RevokeGrantRequest::new(key, id)))
        }
    }
}

fn create_key(m: &mut Input) -> Result<CreateKeyRequest, WireError> {
    let mut req = CreateKeyRequest::new();
    req.policy = m.opt_str("Policy")?;
    if let Some(d) = m.opt_str("Description")? {
        req.description = d;
    }
    req.key_usage = m.opt_parse("KeyUsage", str::parse)?;
    let legacy = m.opt_parse("CustomerMasterKeySpec", |s| {
        s.parse::<KeySpec>().map_err(|_| {
            KmsError::constraint(
                "customerMasterKeySpec",
                s,
                "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, \
                 ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, \
                 SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2]",
            )
        })
    })?;
    let spec = m.opt_parse("KeySpec", str::parse)?;
    req.key_spec = match (spec, legacy) {
        (Some(_), Some(_)) => {
            return Err(super::json::validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
                 CustomerMasterKeySpec is deprecated: use KeySpec.",
            ));
        }
        (spec, legacy) => spec.or(legacy),
    };
    req.origin = m.opt_parse("Origin", str::parse)?;
    m.refuse(
        "CustomKeyStoreId",
        "Lockbox has no custom key stores; its keys live in its own token",
    )?;
    m.refuse("XksKeyId", "Lockbox has no external key stores")?;
    if m.opt_bool("MultiRegion")? == Some(true) {
        return Err(super::json::unsupported(
            "MultiRegion is not supported: Lockbox has no multi-Region keys",
        ));
    }
    req.bypass_policy_lockout_safety_check = m
        .opt_bool("BypassPolicyLockoutSafetyCheck")?
        .unwrap_or(false);
    req.tags = tags(m, false)?;
    Ok(req)
}

fn create_grant(m: &mut Input) -> Result<CreateGrantRequest, WireError> {
    let key = key_ref(m, "KeyId")?;
    refuse_service_principal(m, "GranteeServicePrincipal")?;
    refuse_service_principal(m, "RetiringServicePrincipal")?;
    let grantee = m.parse_str("GranteePrincipal", Principal::parse)?;
    let retiring = m.opt_parse("RetiringPrincipal", Principal::parse)?;
    let ops = m
        .opt_str_list("Operations")?
        .ok_or_else(|| m.missing("Operations"))?;
    let ops = ops
        .iter()
        .map(|s| s.parse::<GrantOperation>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(kms)?;
    let mut req = CreateGrantRequest::new(key, grantee, ops).with_grant_tokens(grant_tokens(m)?);
    if let Some(p) = retiring {
        req = req.with_retiring_principal(p);
    }
    if let Some(mut c) = m.opt_object("Constraints")? {
        c.refuse(
            "SourceArn",
            "Lockbox grants constrain only the encryption context",
        )?;
        req = req.with_constraints(GrantConstraints {
            encryption_context_subset: opt_context(&mut c, "EncryptionContextSubset")?,
            encryption_context_equals: opt_context(&mut c, "EncryptionContextEquals")?,
        });
    }
    if let Some(name) = m.opt_parse("Name", GrantName::new)? {
        req = req.with_name(name);
    }
    m.dry_run()?;
    Ok(req)
}

fn data_key_request(m: &mut Input) -> Result<GenerateDataKeyRequest, WireError> {
    let key = key_ref(m, "KeyId")?;
    let ctx = context(m, "EncryptionContext")?;
    let n = m.opt_int("NumberOfBytes", 1, i64::from(MAX_NUMBER_OF_BYTES))?;
    let spec = m.opt_parse("KeySpec", str::parse::<DataKeySpec>)?;
    let size = DataKeySize::from_parts(n, spec).map_err(kms)?;
    Ok(GenerateDataKeyRequest::new(key, size)
        .with_encryption_context(ctx)
        .with_grant_tokens(grant_tokens(m)?))
}

fn alias_request(m: &mut Input) -> Result<AliasRequest, WireError> {
    let alias = m.parse_str("AliasName", AliasName::parse)?;
    let target = key_ref(m, "TargetKeyId")?;
    Ok(AliasRequest::new(alias, target))
}

/// A key identifier member (any of the four forms; the operation decides which it takes).
fn opt_key_ref(m: &mut Input, name: &str) -> Result<Option<KeyRef>, WireError> {
    let Some(s) = m.opt_str(name)? else {
        return Ok(None);
    };
    if s.is_empty() || s.len() > KEY_ID_MAX {
        return Err(m.constraint(name, Some(&s), "Member must have length between 1 and 2048"));
    }
    KeyRef::parse(&s).map(Some).map_err(kms)
}

fn key_ref(m: &mut Input, name: &str) -> Result<KeyRef, WireError> {
    opt_key_ref(m, name)?.ok_or_else(|| m.missing(name))
}

fn opt_context(m: &mut Input, name: &str) -> Result<Option<EncryptionContext>, WireError> {
    match m.opt_str_map(name)? {
        None => Ok(None),
        Some(pairs) => EncryptionContext::new(pairs).map(Some).map_err(kms),
    }
}

fn context(m: &mut Input, name: &str) -> Result<EncryptionContext, WireError> {
    Ok(opt_context(m, name)?.unwrap_or_default())
}

fn grant_tokens(m: &mut Input) -> Result<GrantTokens, WireError> {
    match m.opt_str_list("GrantTokens")? {
        None => Ok(GrantTokens::none()),
        Some(t) => GrantTokens::new(t).map_err(kms),
    }
}

fn algorithm(m: &mut Input, name: &str) -> Result<Option<EncryptionAlgorithm>, WireError> {
    m.opt_parse(name, str::parse)
}

fn paging(m: &mut Input) -> Result<(Option<u32>, Option<String>), WireError> {
    let limit = m.opt_u32("Limit", 1, LIMIT_MAX)?;
    let marker = m.opt_str("Marker")?;
    if let Some(s) = &marker
        && (s.is_empty() || s.len() > MARKER_MAX)
    {
        return Err(m.constraint(
            "Marker",
            Some(s),
            "Member must have length between 1 and 1024",
        ));
    }
    Ok((limit, marker))
}

fn policy_name(m: &mut Input) -> Result<Option<String>, WireError> {
    m.opt_str("PolicyName")
}

fn grant_id(m: &mut Input, required: bool) -> Result<Option<String>, WireError> {
    let id = m.opt_str("GrantId")?;
    match &id {
        Some(s) if s.is_empty() || s.len() > 128 => Err(m.constraint(
            "GrantId",
            Some(s),
            "Member must have length between 1 and 128",
        )),
        None if required => Err(m.missing("GrantId")),
        _ => Ok(id),
    }
}

fn tags(m: &mut Input, required: bool) -> Result<Vec<Tag>, WireError> {
    let Some(items) = m.opt_object_list("Tags")? else {
        return if required {
            Err(m.missing("Tags"))
        } else {
            Ok(Vec::new())
        };
    };
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        let key = item.str("TagKey")?;
        let value = item.str("TagValue")?;
        out.push(Tag::new(key, value).map_err(kms)?);
    }
    Ok(out)
}

fn refuse_recipient(m: &mut Input) -> Result<(), WireError> {
    m.refuse(
        "Recipient",
        "Lockbox has no Nitro Enclaves attestation; plaintext is returned to the caller",
    )
}

fn refuse_service_principal(m: &mut Input, name: &str) -> Result<(), WireError> {
    m.refuse(
        name,
        "Lockbox has no AWS service principals; name an IAM principal ARN",
    )
}

/// `KeyMetadata`, shaped as botocore's model shapes it.
pub(super) fn metadata_value(md: &KeyMetadata) -> Value {
    let mut o = Output::new();
    o.put("AWSAccountId", md.aws_account_id.clone())
        .put_text("KeyId", md.key_id)
        .put_text("Arn", &md.arn)
        .put_timestamp("CreationDate", md.creation_date)
        .put("Enabled", md.enabled)
        .put("Description", md.description.clone())
        .put_text("KeyUsage", md.key_usage)
        .put_text("KeyState", md.key_state)
        .put_text("Origin", md.origin)
        .put_text("KeyManager", md.key_manager)
        .put_text("KeySpec", md.key_spec)
        .put_list(
            "EncryptionAlgorithms",
            md.encryption_algorithms
                .iter()
                .map(|a| Value::String(a.to_string()))
                .collect(),
        )
        .put("MultiRegion", md.multi_region)
        .put_opt(
            "PendingDeletionWindowInDays",
            md.pending_deletion_window_in_days,
        );
    if KeySpec::ALL[..LEGACY_SPECS].contains(&md.key_spec) {
        o.put_text("CustomerMasterKeySpec", md.key_spec);
    }
    if let Some(t) = md.deletion_date {
        o.put_timestamp("DeletionDate", t);
    }
    o.into_value()
}

fn metadata_body(md: &KeyMetadata) -> Vec<u8> {
    let mut o = Output::new();
    o.put("KeyMetadata", metadata_value(md));
    o.into_body()
}

fn tag_value(t: &Tag) -> Value {
    let mut o = Output::new();
    o.put("TagKey", t.key().to_owned())
        .put("TagValue", t.value().to_owned());
    o.into_value()
}

fn page(mut o: Output, next_marker: Option<String>, truncated: bool) -> Vec<u8> {
    o.put_opt("NextMarker", next_marker)
        .put("Truncated", truncated);
    o.into_body()
}

fn grants_body(r: ListGrantsResponse) -> Vec<u8> {
    let grants = r
        .grants
        .iter()
        .map(|g| {
            let mut o = Output::new();
            o.put_text("KeyId", &g.key_id)
                .put("GrantId", g.grant_id.clone())
                .put_opt("Name", g.name.clone())
                .put_timestamp("CreationDate", g.creation_date)
                .put("GranteePrincipal", g.grantee_principal.clone())
                .put_opt("RetiringPrincipal", g.retiring_principal.clone())
                .put("IssuingAccount", g.issuing_account.clone())
                .put_list(
                    "Operations",
                    g.operations
                        .iter()
                        .map(|op| Value::String(op.to_string()))
                        .collect(),
                );
            if let Some(c) = &g.constraints {
                let mut co = Output::new();
                if let Some(ctx) = &c.encryption_context_subset {
                    co.put_map("EncryptionContextSubset", ctx.as_map());
                }
                if let Some(ctx) = &c.encryption_context_equals {
                    co.put_map("EncryptionContextEquals", ctx.as_map());
                }
                o.put("Constraints", co.into_value());
            }
            o.into_value()
        })
        .collect();
    let mut o = Output::new();
    o.put_list("Grants", grants);
    page(o, r.next_marker, r.truncated)
}

/// A body carrying plaintext: built in a zeroizing buffer, then handed over whole (the
/// buffer moves out without a copy; the caller zeroizes it once sent).
fn secret_body(o: Output, plaintext: &Plaintext) -> Vec<u8> {
    let mut body = o.into_body_with_secret("Plaintext", plaintext.expose_secret());
    std::mem::take(&mut *body)
}
