//! The real AWS clients against a Lockbox server: the AWS CLI v1 (`aws kms ...
//! --endpoint-url`) and boto3 run `tests/clients/e2e.sh`, `tests/clients/e2e_boto3.py` and
//! `tests/clients/e2e_import.py` (bring your own key material), `tests/clients/e2e_answers.py`
//! (STS GetCallerIdentity, DryRun),
//! unchanged, against `Server::start` on 127.0.0.1:0 over a throwaway SoftHSM token, with a
//! freshly generated credential. They prove that what botocore signs, sends and parses
//! (SigV4, AWS JSON 1.1, blobs, errors and exit codes) is what the server speaks.
//!
//! The virtualenv, the skip (`LOCKBOX_SKIP_AWS_CLIENTS=1`, refused under `CI`) and the
//! server with its cleared client environment are in `common/clients.rs`, shared with
//! tests/esdk_python.rs.

#[path = "common/clients.rs"]
mod clients;

use lockbox_token::testing::{TestResult, TestToken};

use clients::TestServer;

#[test]
fn aws_cli_and_boto3_against_a_fresh_server() {
    clients::run_with_python_clients(
        module_path!(),
        "aws_cli_and_boto3_against_a_fresh_server",
        against_a_fresh_server,
    );
}

fn against_a_fresh_server(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let clients = clients::clients_dir();
    let scripts = [
        (server.command("bash"), clients.join("e2e.sh")),
        (
            server.command(server.python()),
            clients.join("e2e_boto3.py"),
        ),
        // Bring your own key material (issue 15): every import operation, all four
        // wrapping algorithms.
        (
            server.command(server.python()),
            clients.join("e2e_import.py"),
        ),
        // STS GetCallerIdentity and DryRun (issue 15).
        (
            server.command(server.python()),
            clients.join("e2e_answers.py"),
        ),
    ];
    for (mut interpreter, script) in scripts {
        let out = interpreter.arg(&script).output()?;
        clients::check(&script.display(), &out)?;
    }
    server.stop()
}

/// boto3 in three Regions of one server (issue 15): `tests/clients/regions_boto3.py`.
#[test]
fn boto3_in_three_regions() {
    clients::run_with_python_clients(module_path!(), "boto3_in_three_regions", in_three_regions);
}

fn in_three_regions(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let script = clients::clients_dir().join("regions_boto3.py");
    let out = server.command(server.python()).arg(&script).output()?;
    clients::check(&script.display(), &out)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    if !(last.starts_with("regions_boto3.py: ") && last.ends_with(" checks passed")) {
        return Err(format!("{} did not finish: {stdout}", script.display()).into());
    }
    eprintln!("{last}");
    server.stop()
}
