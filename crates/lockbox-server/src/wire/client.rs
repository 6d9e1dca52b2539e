//! The client side: encode a request, decode the answer. [`crate::remote::RemoteKms`] uses
//! these; the member names are the ones the server side reads.

use lockbox_api::*;
use serde_json::Value;
use zeroize::Zeroizing;

use super::Operation;
use super::json::{Input, Output};
use crate::error::WireError;

/// Decodes a success body of `op` with `f`; a body that does not fit the model is a
/// `KMSInternalException` naming the operation and what was wrong.
pub(crate) fn decode<T>(
    op: Operation,
    body: &[u8],
    f: impl FnOnce(&mut Input) -> Result<T, WireError>,
) -> Result<T, KmsError> {
    Input::parse(body).and_then(|mut m| f(&mut m)).map_err(|e| {
        KmsError::internal(format!(
            "The server's {} response does not fit the AWS KMS model: {}",
            op.name(),
            e.message
        ))
    })
}

fn kms(e: KmsError) -> WireError {
    WireError::from_kms(&e)
}

// ---- request encoders ----

fn key_only(key: &KeyRef) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", key);
    o.into_body()
}

fn put_context(o: &mut Output, name: &str, ctx: &EncryptionContext) {
    if !ctx.is_empty() {
        o.put_map(name, ctx.as_map());
    }
}

fn put_tokens(o: &mut Output, tokens: &GrantTokens) {
    if !tokens.as_slice().is_empty() {
        o.put_list(
            "GrantTokens",
            tokens
                .as_slice()
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        );
    }
}

fn put_paging(o: &mut Output, limit: Option<u32>, marker: &Option<String>) {
    o.put_opt("Limit", limit).put_opt("Marker", marker.clone());
}

fn tags_value(tags: &[Tag]) -> Vec<Value> {
    tags.iter()
        .map(|t| {
            let mut o = Output::new();
            o.put("TagKey", t.key().to_owned())
                .put("TagValue", t.value().to_owned());
            o.into_value()
        })
        .collect()
}

pub(crate) fn create_key_request(r: &CreateKeyRequest) -> Vec<u8> {
    let mut o = Output::new();
    if !r.description.is_empty() {
        o.put("Description", r.description.clone());
    }
    o.put_opt("KeyUsage", r.key_usage.map(|u| u.to_string()))
        .put_opt("KeySpec", r.key_spec.map(|s| s.to_string()))
        .put_opt("Origin", r.origin.map(|s| s.to_string()))
        .put_opt("Policy", r.policy.clone());
    if r.bypass_policy_lockout_safety_check {
        o.put("BypassPolicyLockoutSafetyCheck", true);
    }
    if !r.tags.is_empty() {
        o.put_list("Tags", tags_value(&r.tags));
    }
    o.into_body()
}

pub(crate) fn describe_key_request(r: &DescribeKeyRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id);
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body()
}

pub(crate) fn list_keys_request(r: &ListKeysRequest) -> Vec<u8> {
    let mut o = Output::new();
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

pub(crate) fn update_key_description_request(r: &UpdateKeyDescriptionRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put("Description", r.description.clone());
    o.into_body()
}

pub(crate) fn enable_key_request(r: &EnableKeyRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn disable_key_request(r: &DisableKeyRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn schedule_key_deletion_request(r: &ScheduleKeyDeletionRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put_opt("PendingWindowInDays", r.pending_window_in_days);
    o.into_body()
}

pub(crate) fn cancel_key_deletion_request(r: &CancelKeyDeletionRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn alias_request(r: &AliasRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("AliasName", &r.alias_name)
        .put_text("TargetKeyId", &r.target_key_id);
    o.into_body()
}

pub(crate) fn delete_alias_request(r: &DeleteAliasRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("AliasName", &r.alias_name);
    o.into_body()
}

pub(crate) fn list_aliases_request(r: &ListAliasesRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_opt("KeyId", r.key_id.as_ref().map(|k| k.to_string()));
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

pub(crate) fn tag_resource_request(r: &TagResourceRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put_list("Tags", tags_value(&r.tags));
    o.into_body()
}

pub(crate) fn untag_resource_request(r: &UntagResourceRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id).put_list(
        "TagKeys",
        r.tag_keys.iter().cloned().map(Value::String).collect(),
    );
    o.into_body()
}

pub(crate) fn list_resource_tags_request(r: &ListResourceTagsRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id);
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

/// Encrypt's body holds the plaintext (base64): a zeroizing buffer, sized once.
pub(crate) fn encrypt_request(r: &EncryptRequest) -> Zeroizing<Vec<u8>> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id).put_opt(
        "EncryptionAlgorithm",
        r.encryption_algorithm.map(|a| a.to_string()),
    );
    put_context(&mut o, "EncryptionContext", &r.encryption_context);
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body_with_secret("Plaintext", r.plaintext.expose_secret())
}

pub(crate) fn decrypt_request(r: &DecryptRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_blob("CiphertextBlob", &r.ciphertext_blob)
        .put_opt("KeyId", r.key_id.as_ref().map(|k| k.to_string()))
        .put_opt(
            "EncryptionAlgorithm",
            r.encryption_algorithm.map(|a| a.to_string()),
        );
    put_context(&mut o, "EncryptionContext", &r.encryption_context);
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body()
}

pub(crate) fn re_encrypt_request(r: &ReEncryptRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_blob("CiphertextBlob", &r.ciphertext_blob)
        .put_opt(
            "SourceKeyId",
            r.source_key_id.as_ref().map(|k| k.to_string()),
        )
        .put_text("DestinationKeyId", &r.destination_key_id)
        .put_opt(
            "SourceEncryptionAlgorithm",
            r.source_encryption_algorithm.map(|a| a.to_string()),
        )
        .put_opt(
            "DestinationEncryptionAlgorithm",
            r.destination_encryption_algorithm.map(|a| a.to_string()),
        );
    put_context(
        &mut o,
        "SourceEncryptionContext",
        &r.source_encryption_context,
    );
    put_context(
        &mut o,
        "DestinationEncryptionContext",
        &r.destination_encryption_context,
    );
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body()
}

pub(crate) fn generate_data_key_request(r: &GenerateDataKeyRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id);
    match r.size {
        DataKeySize::Spec(spec) => o.put_text("KeySpec", spec),
        DataKeySize::Bytes(n) => o.put("NumberOfBytes", n.get()),
    };
    put_context(&mut o, "EncryptionContext", &r.encryption_context);
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body()
}

pub(crate) fn generate_random_request(r: &GenerateRandomRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put("NumberOfBytes", r.number_of_bytes.get());
    o.into_body()
}

pub(crate) fn enable_key_rotation_request(r: &EnableKeyRotationRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put_opt("RotationPeriodInDays", r.rotation_period_in_days);
    o.into_body()
}

pub(crate) fn disable_key_rotation_request(r: &DisableKeyRotationRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn get_key_rotation_status_request(r: &GetKeyRotationStatusRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn rotate_key_on_demand_request(r: &RotateKeyOnDemandRequest) -> Vec<u8> {
    key_only(&r.key_id)
}

pub(crate) fn list_key_rotations_request(r: &ListKeyRotationsRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id).put_opt(
        "IncludeKeyMaterial",
        r.include_key_material.map(|i| i.to_string()),
    );
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

pub(crate) fn put_key_policy_request(r: &PutKeyPolicyRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put("PolicyName", DEFAULT_POLICY_NAME)
        .put("Policy", r.policy.clone());
    if r.bypass_policy_lockout_safety_check {
        o.put("BypassPolicyLockoutSafetyCheck", true);
    }
    o.into_body()
}

pub(crate) fn get_key_policy_request(r: &GetKeyPolicyRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put("PolicyName", DEFAULT_POLICY_NAME);
    o.into_body()
}

pub(crate) fn list_key_policies_request(r: &ListKeyPoliciesRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id);
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

fn constraints_value(c: &GrantConstraints) -> Value {
    let mut o = Output::new();
    if let Some(ctx) = &c.encryption_context_subset {
        o.put_map("EncryptionContextSubset", ctx.as_map());
    }
    if let Some(ctx) = &c.encryption_context_equals {
        o.put_map("EncryptionContextEquals", ctx.as_map());
    }
    o.into_value()
}

pub(crate) fn create_grant_request(r: &CreateGrantRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put_text("GranteePrincipal", &r.grantee_principal)
        .put_opt(
            "RetiringPrincipal",
            r.retiring_principal.as_ref().map(|p| p.to_string()),
        )
        .put_list(
            "Operations",
            r.operations
                .iter()
                .map(|op| Value::String(op.to_string()))
                .collect(),
        )
        .put_opt("Constraints", r.constraints.as_ref().map(constraints_value))
        .put_opt("Name", r.name.as_ref().map(|n| n.as_str().to_owned()));
    put_tokens(&mut o, &r.grant_tokens);
    o.into_body()
}

pub(crate) fn list_grants_request(r: &ListGrantsRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put_opt("GrantId", r.grant_id.clone())
        .put_opt(
            "GranteePrincipal",
            r.grantee_principal.as_ref().map(|p| p.to_string()),
        );
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

pub(crate) fn list_retirable_grants_request(r: &ListRetirableGrantsRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("RetiringPrincipal", &r.retiring_principal);
    put_paging(&mut o, r.limit, &r.marker);
    o.into_body()
}

pub(crate) fn retire_grant_request(r: &RetireGrantRequest) -> Vec<u8> {
    let mut o = Output::new();
    match &r.target {
        RetireGrantTarget::Token(t) => {
            o.put("GrantToken", t.clone());
        }
        RetireGrantTarget::Id { key_id, grant_id } => {
            o.put_text("KeyId", key_id).put("GrantId", grant_id.clone());
        }
    }
    o.into_body()
}

pub(crate) fn revoke_grant_request(r: &RevokeGrantRequest) -> Vec<u8> {
    let mut o = Output::new();
    o.put_text("KeyId", &r.key_id)
        .put("GrantId", r.grant_id.clone());
    o.into_body()
}

// ---- response decoders ----

/// A key ARN member.
fn key_arn(m: &mut Input, name: &str) -> Result<KeyArn, WireError> {
    let s = m.str(name)?;
    match KeyRef::parse(&s).map_err(kms)? {
        KeyRef::KeyArn(arn) => Ok(arn),
        _ => Err(super::json::serialization(format!(
            "Value of {} must be a key ARN",
            m.wire_name(name)
        ))),
    }
}

/// A key id member; AWS sometimes answers with the key ARN, which names the same id.
fn key_id(m: &mut Input, name: &str) -> Result<KeyId, WireError> {
    let s = m.str(name)?;
    match KeyRef::parse(&s).map_err(kms)? {
        KeyRef::Id(id) => Ok(id),
        KeyRef::KeyArn(arn) => Ok(arn.key_id()),
        _ => Err(super::json::serialization(format!(
            "Value of {} must be a key id or key ARN",
            m.wire_name(name)
        ))),
    }
}

fn parsed<T: std::str::FromStr<Err = KmsError>>(m: &mut Input, name: &str) -> Result<T, WireError> {
    m.parse_str(name, str::parse)
}

fn opt_u32(m: &mut Input, name: &str) -> Result<Option<u32>, WireError> {
    m.opt_u32(name, 0, u32::MAX)
}

fn truncated(m: &mut Input) -> Result<(Option<String>, bool), WireError> {
    let marker = m.opt_str("NextMarker")?;
    let truncated = m.opt_bool("Truncated")?.unwrap_or(false);
    Ok((marker, truncated))
}

fn list(m: &mut Input, name: &str) -> Result<Vec<Input>, WireError> {
    Ok(m.opt_object_list(name)?.unwrap_or_default())
}

pub(crate) fn metadata(m: &mut Input) -> Result<KeyMetadata, WireError> {
    let mut md = m.object_of("KeyMetadata")?;
    let md = &mut md;
    let key_state: KeyState = parsed(md, "KeyState")?;
    let encryption_algorithms = md
        .opt_str_list("EncryptionAlgorithms")?
        .unwrap_or_default()
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(kms)?;
    Ok(KeyMetadata {
        aws_account_id: md.str("AWSAccountId")?,
        key_id: key_id(md, "KeyId")?,
        arn: key_arn(md, "Arn")?,
        creation_date: md.timestamp("CreationDate")?,
        enabled: md
            .opt_bool("Enabled")?
            .unwrap_or(key_state == KeyState::Enabled),
        description: md.opt_str("Description")?.unwrap_or_default(),
        key_usage: parsed(md, "KeyUsage")?,
        key_state,
        deletion_date: md.opt_timestamp("DeletionDate")?,
        origin: parsed(md, "Origin")?,
        key_manager: md
            .opt_parse("KeyManager", str::parse)?
            .unwrap_or(KeyManager::Customer),
        key_spec: parsed(md, "KeySpec")?,
        encryption_algorithms,
        multi_region: md.opt_bool("MultiRegion")?.unwrap_or(false),
        pending_deletion_window_in_days: opt_u32(md, "PendingDeletionWindowInDays")?,
    })
}

pub(crate) fn create_key_response(m: &mut Input) -> Result<CreateKeyResponse, WireError> {
    Ok(CreateKeyResponse {
        key_metadata: metadata(m)?,
    })
}

pub(crate) fn describe_key_response(m: &mut Input) -> Result<DescribeKeyResponse, WireError> {
    Ok(DescribeKeyResponse {
        key_metadata: metadata(m)?,
    })
}

pub(crate) fn list_keys_response(m: &mut Input) -> Result<ListKeysResponse, WireError> {
    let keys = list(m, "Keys")?
        .into_iter()
        .map(|mut k| {
            Ok(KeyListEntry {
                key_id: key_id(&mut k, "KeyId")?,
                key_arn: key_arn(&mut k, "KeyArn")?,
            })
        })
        .collect::<Result<_, WireError>>()?;
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListKeysResponse {
        keys,
        next_marker,
        truncated,
    })
}

pub(crate) fn schedule_key_deletion_response(
    m: &mut Input,
) -> Result<ScheduleKeyDeletionResponse, WireError> {
    Ok(ScheduleKeyDeletionResponse {
        key_id: key_arn(m, "KeyId")?,
        deletion_date: m.timestamp("DeletionDate")?,
        key_state: parsed(m, "KeyState")?,
        pending_window_in_days: opt_u32(m, "PendingWindowInDays")?
            .ok_or_else(|| m.missing("PendingWindowInDays"))?,
    })
}

pub(crate) fn cancel_key_deletion_response(
    m: &mut Input,
) -> Result<CancelKeyDeletionResponse, WireError> {
    Ok(CancelKeyDeletionResponse {
        key_id: key_arn(m, "KeyId")?,
    })
}

pub(crate) fn list_aliases_response(m: &mut Input) -> Result<ListAliasesResponse, WireError> {
    let mut aliases = Vec::new();
    for mut a in list(m, "Aliases")? {
        let alias_name: AliasName = m_parse(&mut a, "AliasName", AliasName::parse)?;
        let alias_arn = match KeyRef::parse(&a.str("AliasArn")?).map_err(kms)? {
            KeyRef::AliasArn(arn) => arn,
            _ => {
                return Err(super::json::serialization(
                    "Value of Aliases.AliasArn must be an alias ARN",
                ));
            }
        };
        let creation_date = a.timestamp("CreationDate")?;
        aliases.push(AliasListEntry {
            alias_name,
            alias_arn,
            target_key_id: key_id(&mut a, "TargetKeyId")?,
            creation_date,
            last_updated_date: a.opt_timestamp("LastUpdatedDate")?.unwrap_or(creation_date),
        });
    }
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListAliasesResponse {
        aliases,
        next_marker,
        truncated,
    })
}

fn m_parse<T>(
    m: &mut Input,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, KmsError>,
) -> Result<T, WireError> {
    m.parse_str(name, f)
}

pub(crate) fn list_resource_tags_response(
    m: &mut Input,
) -> Result<ListResourceTagsResponse, WireError> {
    let tags = list(m, "Tags")?
        .into_iter()
        .map(|mut t| {
            let key = t.str("TagKey")?;
            let value = t.str("TagValue")?;
            Tag::new(key, value).map_err(kms)
        })
        .collect::<Result<_, _>>()?;
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListResourceTagsResponse {
        tags,
        next_marker,
        truncated,
    })
}

pub(crate) fn encrypt_response(m: &mut Input) -> Result<EncryptResponse, WireError> {
    Ok(EncryptResponse {
        ciphertext_blob: m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?,
        key_id: key_arn(m, "KeyId")?,
        encryption_algorithm: algorithm(m, "EncryptionAlgorithm")?,
    })
}

fn algorithm(m: &mut Input, name: &str) -> Result<EncryptionAlgorithm, WireError> {
    Ok(m.opt_parse(name, str::parse)?
        .unwrap_or(EncryptionAlgorithm::SymmetricDefault))
}

pub(crate) fn decrypt_response(m: &mut Input) -> Result<DecryptResponse, WireError> {
    Ok(DecryptResponse {
        key_id: key_arn(m, "KeyId")?,
        plaintext: m.secret("Plaintext", MAX_PLAINTEXT_LEN)?,
        encryption_algorithm: algorithm(m, "EncryptionAlgorithm")?,
    })
}

pub(crate) fn re_encrypt_response(m: &mut Input) -> Result<ReEncryptResponse, WireError> {
    Ok(ReEncryptResponse {
        ciphertext_blob: m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?,
        source_key_id: key_arn(m, "SourceKeyId")?,
        key_id: key_arn(m, "KeyId")?,
        source_encryption_algorithm: algorithm(m, "SourceEncryptionAlgorithm")?,
        destination_encryption_algorithm: algorithm(m, "DestinationEncryptionAlgorithm")?,
    })
}

pub(crate) fn generate_data_key_response(
    m: &mut Input,
) -> Result<GenerateDataKeyResponse, WireError> {
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?,
        plaintext: m.secret("Plaintext", usize::from(MAX_NUMBER_OF_BYTES))?,
        key_id: key_arn(m, "KeyId")?,
    })
}

pub(crate) fn generate_data_key_without_plaintext_response(
    m: &mut Input,
) -> Result<GenerateDataKeyWithoutPlaintextResponse, WireError> {
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: m.blob("CiphertextBlob", MAX_CIPHERTEXT_LEN)?,
        key_id: key_arn(m, "KeyId")?,
    })
}

pub(crate) fn generate_random_response(m: &mut Input) -> Result<GenerateRandomResponse, WireError> {
    Ok(GenerateRandomResponse {
        plaintext: m.secret("Plaintext", usize::from(MAX_NUMBER_OF_BYTES))?,
    })
}

pub(crate) fn get_key_rotation_status_response(
    m: &mut Input,
) -> Result<GetKeyRotationStatusResponse, WireError> {
    Ok(GetKeyRotationStatusResponse {
        key_rotation_enabled: m.opt_bool("KeyRotationEnabled")?.unwrap_or(false),
        key_id: key_id(m, "KeyId")?,
        rotation_period_in_days: opt_u32(m, "RotationPeriodInDays")?,
        next_rotation_date: m.opt_timestamp("NextRotationDate")?,
        on_demand_rotation_start_date: m.opt_timestamp("OnDemandRotationStartDate")?,
    })
}

pub(crate) fn rotate_key_on_demand_response(
    m: &mut Input,
) -> Result<RotateKeyOnDemandResponse, WireError> {
    Ok(RotateKeyOnDemandResponse {
        key_id: key_id(m, "KeyId")?,
    })
}

pub(crate) fn list_key_rotations_response(
    m: &mut Input,
) -> Result<ListKeyRotationsResponse, WireError> {
    let rotations = list(m, "Rotations")?
        .into_iter()
        .map(|mut r| {
            Ok(RotationsListEntry {
                key_id: key_id(&mut r, "KeyId")?,
                key_material_id: r.str("KeyMaterialId")?,
                key_material_state: parsed(&mut r, "KeyMaterialState")?,
                rotation_date: r.opt_timestamp("RotationDate")?,
                rotation_type: r.opt_parse("RotationType", str::parse)?,
            })
        })
        .collect::<Result<_, WireError>>()?;
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListKeyRotationsResponse {
        rotations,
        next_marker,
        truncated,
    })
}

pub(crate) fn get_key_policy_response(m: &mut Input) -> Result<GetKeyPolicyResponse, WireError> {
    Ok(GetKeyPolicyResponse {
        policy: m.str("Policy")?,
        policy_name: m
            .opt_str("PolicyName")?
            .unwrap_or_else(|| DEFAULT_POLICY_NAME.to_owned()),
    })
}

pub(crate) fn list_key_policies_response(
    m: &mut Input,
) -> Result<ListKeyPoliciesResponse, WireError> {
    let policy_names = m.opt_str_list("PolicyNames")?.unwrap_or_default();
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListKeyPoliciesResponse {
        policy_names,
        next_marker,
        truncated,
    })
}

pub(crate) fn create_grant_response(m: &mut Input) -> Result<CreateGrantResponse, WireError> {
    Ok(CreateGrantResponse {
        grant_token: m.str("GrantToken")?,
        grant_id: m.str("GrantId")?,
    })
}

fn opt_context(m: &mut Input, name: &str) -> Result<Option<EncryptionContext>, WireError> {
    match m.opt_str_map(name)? {
        None => Ok(None),
        Some(pairs) => EncryptionContext::new(pairs).map(Some).map_err(kms),
    }
}

pub(crate) fn list_grants_response(m: &mut Input) -> Result<ListGrantsResponse, WireError> {
    let mut grants = Vec::new();
    for mut g in list(m, "Grants")? {
        let constraints = match g.opt_object("Constraints")? {
            None => None,
            Some(mut c) => Some(GrantConstraints {
                encryption_context_subset: opt_context(&mut c, "EncryptionContextSubset")?,
                encryption_context_equals: opt_context(&mut c, "EncryptionContextEquals")?,
            }),
        };
        let operations = g
            .opt_str_list("Operations")?
            .unwrap_or_default()
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(kms)?;
        grants.push(GrantListEntry {
            key_id: key_arn(&mut g, "KeyId")?,
            grant_id: g.str("GrantId")?,
            name: g.opt_str("Name")?,
            creation_date: g.timestamp("CreationDate")?,
            grantee_principal: g.str("GranteePrincipal")?,
            retiring_principal: g.opt_str("RetiringPrincipal")?,
            issuing_account: g.str("IssuingAccount")?,
            operations,
            constraints,
        });
    }
    let (next_marker, truncated) = truncated(m)?;
    Ok(ListGrantsResponse {
        grants,
        next_marker,
        truncated,
    })
}
