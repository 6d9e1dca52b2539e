//! Lockbox's wire decoder against every input constraint of botocore's KMS model (issue
//! 15, "AWS's exact answers"): `tests/model/kms_constraints.py` turns the model into cases
//! (a valid baseline per operation; one past each length and value bound; a value outside
//! each enum and pattern; each required member left out), and this test decodes each with
//! `Request::decode`, as the server does, and measures whether the answer is AWS's:
//! `ValidationException`, "1 validation error detected: Value ... at '<member path>' failed
//! to satisfy constraint: <AWS's rule>".
//!
//! Where Lockbox answers otherwise is listed in `tests/model/known-differences.txt` (one line
//! per case: operation, case, what Lockbox answers), and the test fails on any difference
//! not listed and on any listed one that is gone, so the list (and the table in
//! docs/aws-compatibility.md built from it) stays measured. The full report, with every
//! message, is written to `<target>/tmp/model-constraints.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/clients.rs"]
mod clients;

use std::collections::BTreeSet;
use std::process::Command;

use lockbox::api::{Operation, Request};

fn enum_set(s: &str) -> Option<BTreeSet<String>> {
    let inner = s.rsplit_once("enum value set: [")?.1.strip_suffix(']')?;
    Some(inner.split(", ").map(str::to_owned).collect())
}

/// Whether `message` is AWS's validation message for `path` and `rule`. The value shown is
/// not compared (AWS shows a blob as a Java buffer's description; Lockbox shortens long
/// values), nor an enum set's order (AWS lists it in an order of its own).
fn matches(message: &str, path: &str, rule: &str) -> bool {
    let Some(rest) = message.strip_prefix("1 validation error detected: Value") else {
        return false;
    };
    let at = format!(" at '{path}' failed to satisfy constraint: ");
    let Some((_, got_rule)) = rest.split_once(&at) else {
        return false;
    };
    match (enum_set(rule), enum_set(got_rule)) {
        (Some(want), Some(got)) => want == got,
        _ => got_rule == rule,
    }
}

#[test]
fn the_wire_decoder_answers_each_model_constraint_as_aws_does() {
    if clients::skip_requested("the_wire_decoder_answers_each_model_constraint_as_aws_does") {
        return;
    }
    let venv = clients::python_env().expect("the pinned Python clients (botocore's model)");
    let script = clients::clients_dir().join("../model/kms_constraints.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .output()
        .expect("run kms_constraints.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let mut not_implemented = BTreeSet::new();
    let mut operations = BTreeSet::new();
    let mut differences = BTreeSet::new();
    let mut report =
        String::from("| Operation | Case | AWS answers | Lockbox answers |\n|---|---|---|---|\n");
    let (mut measured, mut same) = (0, 0);
    for c in &cases {
        let name = c["operation"].as_str().unwrap();
        let Some(op) = Operation::from_name(name) else {
            not_implemented.insert(name.to_owned());
            continue;
        };
        operations.insert(name);
        let case = c["case"].as_str().unwrap();
        let body = serde_json::to_vec(&c["body"]).unwrap();
        let result = Request::decode(op, &body);
        measured += 1;
        let (want, got, ok) = match (&c["expect"], &result) {
            (serde_json::Value::Null, Ok(_)) => {
                ("accepted".to_owned(), "accepted".to_owned(), true)
            }
            (serde_json::Value::Null, Err(e)) => (
                "accepted".to_owned(),
                format!("{}: {}", e.code, e.message),
                false,
            ),
            (want, got) => {
                let path = want["path"].as_str().unwrap();
                let rule = want["rule"].as_str().unwrap();
                let want_text = format!("ValidationException at '{path}': {rule}");
                match got {
                    Ok(_) => (want_text, "accepted".to_owned(), false),
                    Err(e) => {
                        let ok = e.code == "ValidationException" && matches(&e.message, path, rule);
                        (want_text, format!("{}: {}", e.code, e.message), ok)
                    }
                }
            }
        };
        if ok {
            same += 1;
        } else {
            let short = match &result {
                Ok(_) => "accepted".to_owned(),
                Err(e) if e.code == "ValidationException" => {
                    "ValidationException (other wording)".to_owned()
                }
                Err(e) => e.code.to_string(),
            };
            differences.insert(format!("{name} | {case} | {short}"));
            let cell = |s: &str| s.replace('|', "\\|").chars().take(300).collect::<String>();
            report.push_str(&format!(
                "| {name} | {} | {} | {} |\n",
                cell(case),
                cell(&want),
                cell(&got)
            ));
        }
    }
    let report = format!(
        "{measured} cases over {} operations; {same} answered as AWS does; {} differ; not \
         implemented: {}\n\n{report}",
        operations.len(),
        differences.len(),
        not_implemented
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("model-constraints.md"),
        &report,
    )
    .unwrap();

    let known_file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model/known-differences.txt");
    let known: BTreeSet<String> = std::fs::read_to_string(&known_file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let new: Vec<_> = differences.difference(&known).collect();
    let gone: Vec<_> = known.difference(&differences).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "differences from AWS not in {}:\n{}\nlisted but no longer measured:\n{}\n(report: \
         target/tmp/model-constraints.md)",
        known_file.display(),
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        gone.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert!(
        measured > 300 && same > 200,
        "{measured} measured, {same} as AWS: the generator broke"
    );
}
