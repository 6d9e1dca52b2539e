//! The key policy operations: PutKeyPolicy (with the lockout safety check), GetKeyPolicy,
//! ListKeyPolicies. Policies are decided in `authz`; these read and write them.

use lockbox_api::*;

use crate::authz::{Facts, Value, default_policy, parse_policy};
use crate::core::{Aliases, Call, Engine, check_limit, invalid_marker};
use crate::policy::keys;

impl Engine {
    pub(crate) fn put_key_policy(
        &self,
        call: &mut Call<'_>,
        req: PutKeyPolicyRequest,
    ) -> Result<(), KmsError> {
        let _w = self.writes.lock();
        // The key first, then the document: AWS answers NotFoundException for a missing key
        // whatever the policy says.
        let r = self.resolve(call, &req.key_id, Aliases::Refused)?;
        let facts = Facts {
            extra: vec![(
                keys::BYPASS_POLICY_LOCKOUT_SAFETY_CHECK,
                Value::Bool(req.bypass_policy_lockout_safety_check),
            )],
            ..Facts::default()
        };
        let auth = self.authorize(call, Action::PutKeyPolicy, r, facts)?;
        let policy = parse_policy(&req.policy)?;
        if !req.bypass_policy_lockout_safety_check {
            self.check_lockout(call, &self.arn(auth.record()), &policy)?;
        }
        self.write_key(auth, |r| {
            r.policy = Some(req.policy.clone());
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn get_key_policy(
        &self,
        call: &mut Call<'_>,
        req: GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        let auth = self.authorized_read(call, Action::GetKeyPolicy, &req.key_id)?;
        let r = auth.record();
        let policy = match &r.policy {
            Some(doc) => doc.clone(),
            None => default_policy(self.arn_scope().partition(), &r.account),
        };
        Ok(GetKeyPolicyResponse {
            policy,
            policy_name: DEFAULT_POLICY_NAME.to_owned(),
        })
    }

    pub(crate) fn list_key_policies(
        &self,
        call: &mut Call<'_>,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        check_limit(req.limit, 1000, 100)?;
        let _auth = self.authorized_read(call, Action::ListKeyPolicies, &req.key_id)?;
        if req.marker.is_some() {
            return Err(invalid_marker());
        }
        Ok(ListKeyPoliciesResponse {
            policy_names: vec![DEFAULT_POLICY_NAME.to_owned()],
            next_marker: None,
            truncated: false,
        })
    }
}
