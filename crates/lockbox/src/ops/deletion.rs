//! Scheduled deletion: ScheduleKeyDeletion and CancelKeyDeletion. The deletion itself, when
//! its date comes, is `lifecycle`'s (`delete_locked`).

use lockbox_api::*;

use crate::authz::{Facts, Value};
use crate::core::{Call, Engine};
use crate::error::from_store;
use crate::policy::keys;

impl Engine {
    pub(crate) fn schedule_key_deletion(
        &self,
        call: &mut Call<'_>,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let window = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            return Err(KmsError::validation(format!(
                "PendingWindowInDays must be between 7 and 30 (it is {window})"
            )));
        }
        let date = self.clock.now().plus_days(window);
        let facts = Facts {
            extra: vec![(
                keys::SCHEDULE_KEY_DELETION_PENDING_WINDOW_IN_DAYS,
                Value::Number(i64::from(window)),
            )],
            ..Facts::default()
        };
        let action = Action::ScheduleKeyDeletion;
        let r = self.modify(call, action, &req.key_id, facts, |r| {
            // A multi-Region primary is not deleted while it has replicas: it waits in
            // PendingReplicaDeletion, and its window starts when the last replica is deleted
            // (`delete_locked`).
            r.state = if r
                .family
                .as_ref()
                .is_some_and(|f| f.primary == r.region && !f.replicas.is_empty())
            {
                KeyState::PendingReplicaDeletion
            } else {
                KeyState::PendingDeletion
            };
            r.deletion = Some(lockbox_store::Deletion {
                date,
                window_days: window,
            });
            Ok(())
        })?;
        tracing::info!(key = %r.id, days = window, state = %r.state, "key deletion scheduled");
        Ok(ScheduleKeyDeletionResponse {
            key_id: self.arn(&r),
            deletion_date: (r.state == KeyState::PendingDeletion).then_some(date),
            key_state: r.state,
            pending_window_in_days: window,
        })
    }

    pub(crate) fn cancel_key_deletion(
        &self,
        call: &mut Call<'_>,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let action = Action::CancelKeyDeletion;
        let facts = Facts::default();
        let r = self.modify(call, action, &req.key_id, facts, |r| {
            // A deletion that began (and was interrupted) cannot be taken back: some of the
            // key's material may already be destroyed. Reconciliation finishes it.
            if self
                .store
                .tombstone(r.slot())
                .map_err(|e| from_store("cancel key deletion", e))?
                .is_some()
            {
                return Err(KmsError::new(
                    ErrorKind::KmsInvalidState,
                    format!(
                        "{} is being deleted; the deletion cannot be cancelled.",
                        self.arn(r)
                    ),
                ));
            }
            // A key whose imported material is gone waits for an import again, as in AWS.
            r.state = if r.origin == Origin::External && r.materials.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            r.deletion = None;
            Ok(())
        })?;
        Ok(CancelKeyDeletionResponse {
            key_id: self.arn(&r),
        })
    }
}
