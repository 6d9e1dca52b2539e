//! The engine's operations, one file per family (in the manner of mini-redis's `src/cmd/`),
//! and one match from a [`Request`] to the code that serves it.
//!
//! The match is generated from the operation table in `lockbox-api`, so an operation added
//! there does not compile until the engine has the method its row names. Each operation resolves its key, asks `authz` for an
//! [`Authorized`] proof (which also checks the key state its table row allows), and acts
//! through paths that take the proof.

mod agreement;
mod aliases;
mod crypto;
mod data_key_pairs;
mod data_keys;
mod deletion;
mod grants;
mod import;
mod keys;
mod mac;
mod policies;
mod replication;
mod rotation;
mod sign;
mod tags;

use std::sync::Arc;

use lockbox_api::{Action, KeyRef, KmsError, Request, Response};
use lockbox_store::KeyRecord;

use crate::authz::{Authorized, Facts};
use crate::core::{Aliases, Call, Engine};

/// The dispatch, derived from the operation table's rows: operation `X`, whose row names the
/// method `x`, runs `Engine::x(call, request)`, found in this module's family files. A new
/// row does not compile until the engine has that method.
macro_rules! dispatch {
    ($(
        $(#[doc = $doc:literal])+
        $op:ident, $method:ident($req:ty) -> $resp:ty { $($row:tt)* }
    )+) => {
        impl Engine {
            /// Runs one operation for `call`'s caller. Authorization happens inside each
            /// operation; auditing around this call, in `EngineClient`.
            pub(crate) fn dispatch(
                &self,
                call: &mut Call<'_>,
                request: Request,
            ) -> Result<Response, KmsError> {
                call.dry_run = request.dry_run();
                let response = match request {
                    $(Request::$op(r) => Response::$op(self.$method(call, r)?),)+
                };
                if call.dry_run {
                    // Every operation with DryRun stops at `Call::proceed` (the dry-run
                    // tests call each one); one that did not must not answer success.
                    return Err(KmsError::internal(format!(
                        "{} ran to the end under DryRun",
                        call.op.name()
                    )));
                }
                Ok(response)
            }
        }
    };
}

lockbox_api::operation_table!(dispatch);

impl Engine {
    /// Applies `change` to key `key_id` under the write lock, once the caller is authorized
    /// for `action` (and the key's state allows the call's operation), and stores the result
    /// durably.
    pub(crate) fn modify(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        facts: Facts<'_>,
        change: impl FnMut(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _w = self.writes.lock();
        let r = self.resolve(call, key_id, Aliases::Refused)?;
        let auth = self.authorize(call, action, r, facts)?;
        self.write_key(auth, change)
    }

    /// Resolves the key a read names (aliases refused) and authorizes `action` on it.
    pub(crate) fn authorized_read(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
    ) -> Result<Authorized, KmsError> {
        let r: Arc<KeyRecord> = self.resolve(call, key_id, Aliases::Refused)?;
        self.authorize(call, action, r, Facts::default())
    }
}

/// Refuses a blob member of `n` bytes outside 1..=`max`, in AWS's words (the wire decoder
/// refuses the same; this holds an embedding caller to it too).
pub(super) fn check_length(member: &str, n: usize, max: usize) -> Result<(), KmsError> {
    if n == 0 || n > max {
        return Err(KmsError::length(member, n, max));
    }
    Ok(())
}
