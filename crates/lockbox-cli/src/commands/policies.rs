//! put-key-policy, get-key-policy, list-key-policies.

use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{GetKeyPolicyArgs, ListKeyPoliciesArgs, PutKeyPolicyArgs};
use crate::error::{CliError, OrKms};
use crate::output::print_json;
use crate::params;

pub(crate) fn put_key_policy(kms: &dyn Kms, a: PutKeyPolicyArgs) -> Result<(), CliError> {
    const OP: &str = "PutKeyPolicy";
    let key = params::key_ref(OP, &a.key_id)?;
    let policy = params::text("--policy", &a.policy)?;
    let req = PutKeyPolicyRequest::new(key, policy, a.policy_name.as_deref())
        .op(OP)?
        .with_bypass_policy_lockout_safety_check(a.bypass_policy_lockout_safety_check);
    kms.put_key_policy(req).op(OP)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyOut {
    policy: String,
    policy_name: String,
}

pub(crate) fn get_key_policy(kms: &dyn Kms, a: GetKeyPolicyArgs) -> Result<(), CliError> {
    const OP: &str = "GetKeyPolicy";
    let key = params::key_ref(OP, &a.key_id)?;
    let req = GetKeyPolicyRequest::new(key, a.policy_name.as_deref()).op(OP)?;
    let out = kms.get_key_policy(req).op(OP)?;
    print_json(&GetKeyPolicyOut {
        policy: out.policy,
        policy_name: out.policy_name,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyPoliciesOut {
    policy_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_key_policies(kms: &dyn Kms, a: ListKeyPoliciesArgs) -> Result<(), CliError> {
    const OP: &str = "ListKeyPolicies";
    let key = params::key_ref(OP, &a.key_id)?;
    let (policy_names, next_token) = paginate(&a.page, 1000, |limit, marker| {
        let mut req = ListKeyPoliciesRequest::new(key.clone());
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_key_policies(req).op(OP)?;
        Ok((page.policy_names, page.next_marker))
    })?;
    print_json(&ListKeyPoliciesOut {
        policy_names,
        next_token,
    })
}
