#![allow(missing_docs, clippy::unwrap_used)]
mod common;
use std::sync::Arc;
use lockbox::audit::*;
use lockbox::api::Timestamp;
use lockbox_token::token_test;
token_test!(fn perf(t) {
    let store = Arc::new(lockbox_store::Store::open(&t.dir().join("m"))?);
    let log = AuditLog::open(store, Arc::new(t.open()?), AuditConfig::default(), Arc::new(lockbox::SystemClock))?;
    let ev = AuditEvent { time: Timestamp::now(), request_id: "00000000-0000-4000-8000-000000000000".into(), account: "111122223333".into(), principal: "arn:aws:iam::111122223333:root".into(), operation: "Encrypt".into(), key_arn: Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()), encryption_context: Default::default(), error: None, source: "in-process".into(), grant_id: None };
    let n = 100_000;
    let t0 = std::time::Instant::now();
    for _ in 0..n { log.append(ev.clone())?; }
    let per = t0.elapsed() / n;
    let t1 = std::time::Instant::now();
    for _ in 0..n { std::hint::black_box(ev.clone()); }
    let clone = t1.elapsed() / n;
    log.close()?;
    Err(format!("append incl clone {per:?}, clone alone {clone:?}").into())
});
