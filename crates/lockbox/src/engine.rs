//! Opening an engine, and the callers' way in: the public face of [`Engine`], whose value
//! and internals are in `core`.
//!
//! Opening takes the data directory's lock, refuses a directory a restore left half-done,
//! assembles the engine (`core`), then runs one reconciliation (`reconcile`) and one
//! maintenance pass (`lifecycle`).

use std::sync::Arc;

use lockbox_api::Caller;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::core::Engine;
use crate::error::Error;
use crate::report::OpenReport;

impl Engine {
    /// Opens the token and the metadata store named by `config`.
    pub fn open(config: Config) -> Result<Engine, Error> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Engine::open`], with a clock of the caller's (tests move time with it).
    ///
    /// Opening reconciles the token with the store (finishing interrupted deletions,
    /// destroying orphans past their grace period, reporting missing material) and then runs
    /// one maintenance pass. Problems either finds are logged, not fatal: the engine serves
    /// every key it can.
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Engine, Error> {
        config.lifecycle.check().map_err(Error::Config)?;
        crate::config::make_private_dir(&config.data_dir)?;
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        crate::backup::refuse_interrupted_restore(&config.data_dir)?;
        let mut engine = Engine::assemble(config, clock, lock)?;
        let reconciliation = engine.reconcile();
        match &reconciliation {
            Ok(r) if r.has_problems() => tracing::error!(
                missing = r.missing.len(),
                orphans = r.orphans.len(),
                "reconciliation found problems; run `lockbox doctor`"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reconciliation at open failed"),
        }
        let maintenance = engine.maintain();
        if let Err(e) = &maintenance {
            tracing::error!(error = %e, "maintenance at open failed");
        }
        engine.opened = OpenReport {
            reconciliation,
            maintenance,
        };
        Ok(engine)
    }

    /// What the reconciliation and maintenance passes run by opening found and did.
    pub fn open_report(&self) -> &OpenReport {
        &self.opened
    }

    /// The spec of the key `key` names, as `caller_account` sees it in `region` (aliases followed),
    /// without authorization or audit: for a server to choose the request-rate quota a call
    /// draws on before making it. `None` when it names no key (the call then fails on its
    /// own, authorized and audited).
    pub fn key_spec_of(
        &self,
        caller_account: &str,
        region: &str,
        key: &lockbox_api::KeyRef,
    ) -> Option<lockbox_api::KeySpec> {
        self.resolve_in(caller_account, region, key, &mut None)
            .ok()
            .map(|r| r.spec)
    }

    /// A [`Kms`](lockbox_api::Kms) whose every call is made by `caller`: authorized against
    /// each key's policy and grants, and written to the audit trail.
    pub fn client(&self, caller: Caller) -> crate::EngineClient<'_> {
        crate::EngineClient::new(self, caller)
    }

    /// The same as [`Engine::client`], holding the engine by `Arc`, so the client can be
    /// kept (as an `Arc<dyn Kms>`, say) without borrowing.
    pub fn shared_client(self: &Arc<Self>, caller: Caller) -> crate::EngineClient<'static> {
        crate::EngineClient::shared(Arc::clone(self), caller)
    }
}
