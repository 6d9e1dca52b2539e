//! Opening an engine, and the callers' way in: the public face of [`Engine`], whose value
//! and internals are in `core`.
//!
//! Opening takes the data directory's lock, refuses a directory a restore left half-done,
//! assembles the engine (`core`), finishes interrupted deletions, runs one maintenance pass
//! (`lifecycle`), and starts one reconciliation (`reconcile`) on a thread of its own: it
//! lists every token object, which is linear in the token's size, so opening does not wait
//! for it (issue 18).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lockbox_api::Caller;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::core::Engine;
use crate::error::Error;
use crate::report::{AtOpen, MaintenanceReport, OpenReport};

impl Engine {
    /// Opens the token and the metadata store named by `config`.
    pub fn open(config: Config) -> Result<Engine, Error> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Engine::open`], with a clock of the caller's (tests move time with it).
    ///
    /// Opening finishes deletions a crash interrupted and runs one maintenance pass, then
    /// returns, leaving a reconciliation of the token with the store (destroying orphans past
    /// their grace period, reporting missing material) running on a thread of its own; the
    /// engine serves meanwhile, and [`Engine::open_report`] waits for it. Problems either
    /// finds are logged, not fatal: the engine serves every key it can.
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Engine, Error> {
        config.lifecycle.check().map_err(Error::Config)?;
        crate::config::make_private_dir(&config.data_dir)?;
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        crate::backup::refuse_interrupted_restore(&config.data_dir)?;
        let engine = Engine::assemble(config, clock, lock)?;
        let finished = engine.finish_deletions();
        if let Err(e) = &finished {
            tracing::error!(error = %e, "finishing interrupted deletions at open failed");
        }
        let maintenance = engine.maintain();
        if let Err(e) = &maintenance {
            tracing::error!(error = %e, "maintenance at open failed");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let reconciler = engine.reconciler();
        let now = engine.clock.now();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lockbox-reconcile".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let r = reconciler.run(&flag, now, &|_| {});
                match &r {
                    Ok(r) if r.has_problems() => tracing::error!(
                        missing = r.missing.len(),
                        orphans = r.orphans.len(),
                        "reconciliation found problems; run `lockbox doctor`"
                    ),
                    Ok(r) => tracing::debug!(
                        objects = r.objects,
                        keys = r.keys,
                        seconds = started.elapsed().as_secs_f64(),
                        "reconciliation at open done"
                    ),
                    Err(_) if flag.load(Ordering::Relaxed) => {}
                    Err(e) => tracing::error!(error = %e, "reconciliation at open failed"),
                }
                r
            })
            .map_err(|e| {
                tracing::warn!(error = %e,
                "could not start the reconciliation thread; reconciling before open returns")
            })
            .ok();
        let ran_here = match thread {
            Some(_) => None,
            None => Some(engine.reconciler().run(&stop, now, &|_| {})),
        };
        *engine.at_open.lock() = Some(AtOpen {
            finished,
            maintenance,
            stop,
            thread,
            ran_here,
        });
        Ok(engine)
    }

    /// What the reconciliation and maintenance passes run by opening found and did. Waits
    /// for the reconciliation opening started in the background, if it is still running.
    pub fn open_report(&self) -> &OpenReport {
        self.opened.get_or_init(|| {
            let Some(mut at) = self.at_open.lock().take() else {
                // Only an engine that is closing has no record of its open.
                return OpenReport {
                    reconciliation: Err(lockbox_api::KmsError::internal("the engine is closing")),
                    maintenance: Ok(MaintenanceReport::default()),
                };
            };
            let joined = match at.ran_here.take() {
                Some(r) => Some(Ok(r)),
                None => at.thread.take().map(|t| t.join()),
            };
            let reconciliation = match (at.finished, joined) {
                (Err(e), _) => Err(e),
                (Ok(finished), Some(Ok(Ok(mut r)))) => {
                    r.finished_deletions = finished;
                    Ok(r)
                }
                (Ok(_), Some(Ok(Err(e)))) => Err(e),
                (Ok(_), Some(Err(_)) | None) => Err(lockbox_api::KmsError::internal(
                    "the reconciliation thread ended without a report",
                )),
            };
            OpenReport {
                reconciliation,
                maintenance: at.maintenance,
            }
        })
    }

    /// Stops the reconciliation opening started, if it is still running, and waits for it
    /// (it checks between steps; a listing in progress is finished first). Run when the
    /// engine closes, before the token and store it uses are closed.
    pub(crate) fn stop_background(&self) {
        if let Some(mut at) = self.at_open.lock().take() {
            at.stop.store(true, Ordering::Relaxed);
            if let Some(t) = at.thread.take() {
                let _ = t.join();
            }
        }
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
