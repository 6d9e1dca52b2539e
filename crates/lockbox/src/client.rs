//! [`EngineClient`]: the engine as one caller sees it. Every call is authorized inside the
//! operation and, whatever its outcome, written to the audit trail here.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lockbox_api::*;

use crate::core::{Call, Engine};

/// The engine acting for one caller. Implements [`Kms`]; cheap to make (one per request is
/// fine) and `Send + Sync`.
///
/// ```no_run
/// # fn f(engine: &lockbox::Engine) -> Result<(), lockbox::api::KmsError> {
/// use lockbox::api::{Caller, CreateKeyRequest, Kms, Principal};
/// let alice = Caller::new(Principal::parse("arn:aws:iam::111122223333:user/alice")?);
/// let key = engine.client(alice).create_key(CreateKeyRequest::new())?;
/// # Ok(()) }
/// ```
pub struct EngineClient<'e> {
    engine: EngineHandle<'e>,
    caller: Caller,
    // The request number of the latest call, plus one (0: no call yet).
    last_request: AtomicU64,
}

/// A borrowed engine ([`Engine::client`]) or a shared one ([`Engine::shared_client`]).
enum EngineHandle<'e> {
    Borrowed(&'e Engine),
    Shared(Arc<Engine>),
}

impl Deref for EngineHandle<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            EngineHandle::Borrowed(e) => e,
            EngineHandle::Shared(e) => e,
        }
    }
}

impl<'e> EngineClient<'e> {
    pub(crate) fn new(engine: &'e Engine, caller: Caller) -> Self {
        EngineClient {
            engine: EngineHandle::Borrowed(engine),
            caller,
            last_request: AtomicU64::new(0),
        }
    }

    pub(crate) fn shared(engine: Arc<Engine>, caller: Caller) -> EngineClient<'static> {
        EngineClient {
            engine: EngineHandle::Shared(engine),
            caller,
            last_request: AtomicU64::new(0),
        }
    }

    /// Who this client acts for.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The request id (UUID text) of the latest call made through this client, as its audit
    /// record names it; `None` before the first call. A server returns it to its client
    /// (`x-amzn-RequestId`), so that the two can be matched.
    pub fn last_request_id(&self) -> Option<String> {
        match self.last_request.load(Ordering::Acquire) {
            0 => None,
            n => Some(crate::audit::uuid_text(self.engine.request_id(n - 1))),
        }
    }

    /// Runs operation `op` as the caller, then audits it: allowed or denied, succeeded or
    /// failed. If the audit record cannot be written, the call fails (fail closed).
    fn run<T>(
        &self,
        op: Operation,
        context: Option<EncryptionContext>,
        f: impl FnOnce(&Engine, &mut Call<'_>) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let mut call = Call::new(&self.caller, op);
        let mut result = match self.engine.region_of(&self.caller) {
            Ok(_) => f(&self.engine, &mut call),
            Err(e) => Err(e),
        };
        // Strict consistency: nothing is answered on the strength of a key state, policy or
        // grant that a call acknowledged meanwhile (on any node) has changed. The retry is
        // authorized afresh.
        if result.is_ok() {
            match self.engine.basis_holds(&call) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(op = ?op, "strict consistency: the key or grant changed during the call");
                    result = Err(KmsError::internal(crate::CONFLICT_MESSAGE));
                }
                Err(e) => result = Err(e),
            }
        }
        let n = self.engine.next_request();
        self.last_request.store(n + 1, Ordering::Release);
        self.engine.audit_call(
            self.engine.request_id(n),
            &call,
            context,
            result.as_ref().err(),
        )?;
        result
    }
}

impl Kms for EngineClient<'_> {
    fn call(&self, request: Request) -> Result<Response, KmsError> {
        let op = request.operation();
        // What the audit record keeps of the request: the encryption context the call used
        // (for ReEncrypt, the destination's).
        let context = match &request {
            Request::Encrypt(r) => Some(r.encryption_context.clone()),
            Request::Decrypt(r) => Some(r.encryption_context.clone()),
            Request::ReEncrypt(r) => Some(r.destination_encryption_context.clone()),
            Request::GenerateDataKey(r) | Request::GenerateDataKeyWithoutPlaintext(r) => {
                Some(r.encryption_context.clone())
            }
            _ => None,
        };
        self.run(op, context, |e, c| e.dispatch(c, request))
    }
}
