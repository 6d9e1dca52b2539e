//! replicate-key, update-primary-region: the members of a multi-Region key in other Regions.

use lockbox::api::*;
use serde::Serialize;

use crate::cli::{ReplicateKeyArgs, UpdatePrimaryRegionArgs};
use crate::error::{CliError, OrKms};
use crate::output::{KeyMetadataOut, TagOut, print_json};
use crate::params;

/// ReplicateKey's answer, as the AWS CLI prints it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicateOut {
    replica_key_metadata: KeyMetadataOut,
    replica_policy: String,
    replica_tags: Vec<TagOut>,
}

pub(crate) fn replicate_key(kms: &dyn Kms, a: ReplicateKeyArgs) -> Result<(), CliError> {
    const OP: &str = "ReplicateKey";
    let mut req = ReplicateKeyRequest::new(params::key_ref(OP, &a.key_id)?, &a.replica_region)
        .with_tags(params::tags("--tags", &a.tags)?)
        .with_bypass_policy_lockout_safety_check(a.bypass_policy_lockout_safety_check);
    if let Some(p) = &a.policy {
        req = req.with_policy(params::text("--policy", p)?);
    }
    if let Some(d) = a.description {
        req = req.with_description(d);
    }
    let out = kms.replicate_key(req).op(OP)?;
    print_json(&ReplicateOut {
        replica_key_metadata: KeyMetadataOut::from(&out.replica_key_metadata),
        replica_policy: out.replica_policy,
        replica_tags: out.replica_tags.iter().map(TagOut::from).collect(),
    })
}

pub(crate) fn update_primary_region(
    kms: &dyn Kms,
    a: UpdatePrimaryRegionArgs,
) -> Result<(), CliError> {
    const OP: &str = "UpdatePrimaryRegion";
    let req = UpdatePrimaryRegionRequest::new(params::key_ref(OP, &a.key_id)?, &a.primary_region);
    kms.update_primary_region(req).op(OP)
}
