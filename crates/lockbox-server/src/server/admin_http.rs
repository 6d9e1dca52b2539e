//! `POST /lockbox/admin`: Lockbox's own commands (`audit`, `doctor`, `key-usage`,
//! `maintain`) for `lockbox --endpoint-url`, signed with SigV4 as any KMS request and allowed
//! only to the principals `server.toml`'s `operators` names (decision 0027).
//!
//! The body is `{"Args": ["key-usage", "--key-id", "..."]}`; the answer is the command's
//! `{"Stdout","Exit","Stderr"}` (`admin::CommandOutput`), run by the embedder's
//! `CommandRunner` as the authenticated principal, in the Region its signature names, from
//! the peer's address. A principal that is not an operator is answered 400
//! `AccessDeniedException`, recorded as a refusal; an operator's command is an audit event
//! (`LockboxAdmin`, the command in `lockbox:command`) before it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::{Answer, Frontend, Shared, source_of};
use crate::error::WireError;

/// The path of the admin route.
pub(super) const PATH: &str = "/lockbox/admin";
/// The name it has in logs and refusal records.
const OPERATION: &str = "LockboxAdmin";
/// Lockbox's own commands served remotely: the installation-wide reports and upkeep.
const REMOTE_COMMANDS: [&str; 4] = ["audit", "doctor", "key-usage", "maintain"];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AdminBody {
    args: Vec<String>,
}

pub(super) async fn api<F: Frontend>(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared<F>>,
) -> Answer {
    let with_op = |a: Answer| Answer {
        operation: Some(OPERATION),
        ..a
    };
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        shared.config.body_read_timeout(),
        Limited::new(body, shared.config.max_body_bytes).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        _ => {
            return with_op(
                Answer::error(WireError::new(
                    400,
                    "SerializationException",
                    "cannot read the request body (too large, too slow or cut short)",
                ))
                .closing(),
            );
        }
    };
    let principal =
        match shared
            .frontend
            .authenticate(&parts, &body, &shared.region, SystemTime::now())
        {
            Ok(p) => p,
            Err(e) => return with_op(Answer::error(e)),
        };
    let with_principal = |a: Answer| Answer {
        principal: Some(principal.arn().to_owned()),
        ..with_op(a)
    };
    if !shared
        .config
        .operators
        .iter()
        .any(|o| o.as_str() == principal.arn())
    {
        return with_principal(Answer::error(WireError::new(
            400,
            "AccessDeniedException",
            format!(
                "{} is not an operator of this server: Lockbox's own commands are allowed to \
                 the principals server.toml's operators names",
                principal.arn()
            ),
        )));
    }
    let args = match serde_json::from_slice::<AdminBody>(&body) {
        Ok(b) => b.args,
        Err(e) => {
            return with_principal(Answer::error(WireError::new(
                400,
                "SerializationException",
                format!("the body must be {{\"Args\": [...]}}: {e}"),
            )));
        }
    };
    if !args
        .first()
        .is_some_and(|c| REMOTE_COMMANDS.contains(&c.as_str()))
    {
        return with_principal(Answer::error(WireError::new(
            400,
            "ValidationException",
            format!("only {} run through {PATH}", REMOTE_COMMANDS.join(", ")),
        )));
    }
    let Some(runner) = shared.runner.clone() else {
        return with_principal(Answer::error(WireError::new(
            400,
            "UnsupportedOperationException",
            "this server runs no commands",
        )));
    };
    let region = crate::sigv4::scope_region(&parts.headers);
    // An operator's command reads or changes the whole installation: it is an audit event
    // of its own (eventName LockboxAdmin, the command in lockbox:command), written before it
    // runs; a command that cannot be audited does not run.
    let command = match args.get(1) {
        Some(sub) if args[0] == "audit" => format!("audit {sub}"),
        _ => args[0].clone(),
    };
    let event = lockbox::audit::AuditEvent {
        time: lockbox_api::Timestamp::now(),
        request_id: uuid::Uuid::new_v4().to_string(),
        account: principal.account().to_owned(),
        principal: principal.arn().to_owned(),
        operation: OPERATION.to_owned(),
        key_arn: None,
        encryption_context: std::collections::BTreeMap::from([(
            "lockbox:command".to_owned(),
            command,
        )]),
        error: None,
        source: source_of(peer.ip()),
        grant_id: None,
        region: region.clone(),
    };
    if let Err(e) = shared.engine.audit().append(event) {
        return with_principal(Answer::error(WireError::new(
            500,
            "KMSInternalException",
            format!("the command was not run: its audit event could not be written: {e}"),
        )));
    }
    let engine = Arc::clone(&shared.engine);
    let arn = principal.arn().to_owned();
    let source = source_of(peer.ip());
    tracing::info!(principal = %arn, command = %args[0], "admin command");
    let out =
        tokio::task::spawn_blocking(move || runner(&engine, args, Some(arn), region, &source))
            .await;
    match out.map(|o| serde_json::to_vec(&o)) {
        Ok(Ok(body)) => Answer {
            engine_called: true,
            ..with_principal(Answer::ok(body))
        },
        _ => with_principal(Answer::error(WireError::new(
            500,
            "KMSInternalException",
            "the command failed to run",
        ))),
    }
}
