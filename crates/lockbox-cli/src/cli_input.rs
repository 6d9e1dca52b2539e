//! `--cli-input-json` and `--generate-cli-skeleton`: a command's parameters as one JSON object
//! of the operation's member names (`{"KeyId": "...", "EncryptionContext": {...}}`), as the
//! AWS CLI takes and prints them.
//!
//! Both are handled before the command line is parsed (a command's required flags may be in
//! the JSON): the skeleton is printed from the command's own flags, and the JSON's members
//! become the flags they name (`KeyId` is `--key-id`), after those on the command line, which
//! win. Values: strings as they are (blobs in base64, as in the JSON the AWS CLI takes),
//! numbers, `true` for a switch, lists of strings as several values, objects and lists of
//! objects as JSON text (which every map and list flag reads).

use std::ffi::OsString;

use clap::CommandFactory;
use serde_json::{Map, Value};

use crate::cli::Cli;
use crate::error::CliError;

/// What to run: the command line (with the JSON's flags added), or nothing (a skeleton was
/// printed).
pub(crate) enum Prepared {
    Args(Vec<OsString>),
    Printed,
}

/// Flags of the AWS CLI or of Lockbox that are no member of an operation's input.
const NOT_MEMBERS: [&str; 4] = ["help", "max-items", "page-size", "starting-token"];

/// Whether a flag is a member of the operation's input: not the AWS CLI's pagination flags,
/// not Lockbox's own `--*-out` files and `--no-*` switches.
fn is_member(long: &str) -> bool {
    !NOT_MEMBERS.contains(&long) && !long.ends_with("-out") && !long.starts_with("no-")
}

fn member_name(long: &str) -> String {
    long.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Reads the process's command line and applies the two options, if given.
pub(crate) fn prepare() -> Result<Prepared, CliError> {
    prepare_args(std::env::args_os().collect())
}

fn prepare_args(mut args: Vec<OsString>) -> Result<Prepared, CliError> {
    let root = Cli::command();
    let sub = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find_map(|a| root.find_subcommand(a).cloned());
    let take = |args: &mut Vec<OsString>, flag: &str| -> Option<Option<String>> {
        let eq = format!("{flag}=");
        let i = args
            .iter()
            .position(|a| a.to_str().is_some_and(|s| s == flag || s.starts_with(&eq)))?;
        let a = args.remove(i);
        let a = a.to_str().unwrap_or_default().to_owned();
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(Some(v.to_owned()));
        }
        if i < args.len() && args[i].to_str().is_some_and(|s| !s.starts_with("--")) {
            return Some(args.remove(i).into_string().ok());
        }
        Some(None)
    };
    if let Some(kind) = take(&mut args, "--generate-cli-skeleton") {
        let Some(sub) = &sub else {
            return Err(CliError::param(
                "--generate-cli-skeleton",
                "name a command: lockbox <command> --generate-cli-skeleton",
            ));
        };
        if kind.as_deref().is_some_and(|k| k != "input") {
            return Err(CliError::param(
                "--generate-cli-skeleton",
                "only `input` (the default) is supported",
            ));
        }
        crate::output::print_json(&skeleton(sub))?;
        return Ok(Prepared::Printed);
    }
    let Some(json) = take(&mut args, "--cli-input-json") else {
        return Ok(Prepared::Args(args));
    };
    let bad = |m: String| CliError::param("--cli-input-json", m);
    let json = json.ok_or_else(|| bad("needs a value: JSON, or file://PATH".to_owned()))?;
    let text = match json.strip_prefix("file://") {
        Some(path) => zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {path}: {e}")))?,
        ),
        None => zeroize::Zeroizing::new(json),
    };
    let members: Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let Some(sub) = sub else {
        return Err(bad(
            "name a command: lockbox <command> --cli-input-json ...".to_owned(),
        ));
    };
    let given: Vec<String> = args
        .iter()
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or_default().to_owned())
        .collect();
    for (name, value) in members {
        let arg = sub
            .get_arguments()
            .find(|a| {
                a.get_long()
                    .is_some_and(|l| is_member(l) && member_name(l) == name)
            })
            .ok_or_else(|| {
                bad(format!(
                    "Unknown parameter in input: \"{name}\" (the members of {} are: {})",
                    sub.get_name(),
                    members_of(&sub).join(", ")
                ))
            })?;
        let long = arg.get_long().unwrap_or_default().to_owned();
        if given.contains(&long) {
            // The command line wins, as in the AWS CLI.
            continue;
        }
        let flag = OsString::from(format!("--{long}"));
        let is_switch = !arg.get_action().takes_values();
        match value {
            Value::Bool(b) if is_switch => {
                if b {
                    args.push(flag);
                }
            }
            Value::Null => {}
            Value::String(s) => {
                args.push(flag);
                args.push(s.into());
            }
            Value::Number(n) => {
                args.push(flag);
                args.push(n.to_string().into());
            }
            Value::Bool(b) => {
                args.push(flag);
                args.push(b.to_string().into());
            }
            Value::Array(items) if items.iter().all(|v| v.is_string()) => {
                args.push(flag);
                args.extend(items.into_iter().filter_map(|v| match v {
                    Value::String(s) => Some(OsString::from(s)),
                    _ => None,
                }));
            }
            other => {
                args.push(flag);
                args.push(other.to_string().into());
            }
        }
    }
    Ok(Prepared::Args(args))
}

fn members_of(sub: &clap::Command) -> Vec<String> {
    sub.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| is_member(l))
        .map(member_name)
        .collect()
}

/// The command's members with placeholder values, as the AWS CLI's skeleton has them: `""`
/// for strings, the first choice of a fixed set, `0` for numbers, `true` for switches, `[""]`
/// for lists.
fn skeleton(sub: &clap::Command) -> Ordered {
    let mut out = Vec::new();
    for arg in sub.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if !is_member(long) {
            continue;
        }
        let value = if !arg.get_action().takes_values() {
            Value::Bool(true)
        } else {
            let choices = arg.get_possible_values();
            let one = match choices.first() {
                Some(c) => Value::String(c.get_name().to_owned()),
                None if [
                    clap::builder::ValueParser::from(clap::value_parser!(u32)).type_id(),
                    clap::builder::ValueParser::from(clap::value_parser!(u64)).type_id(),
                ]
                .contains(&arg.get_value_parser().type_id()) =>
                {
                    Value::from(0)
                }
                None => Value::String(String::new()),
            };
            if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
                Value::Array(vec![one])
            } else {
                one
            }
        };
        out.push((member_name(long), value));
    }
    Ordered(out)
}

/// An object whose members print in the command's flag order.
struct Ordered(Vec<(String, Value)>);

impl serde::Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_members_become_flags_and_the_command_line_wins() {
        let out = prepare_args(args(&[
            "lockbox",
            "encrypt",
            "--key-id",
            "alias/cli",
            "--cli-input-json",
            r#"{"KeyId": "alias/json", "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}, "GrantTokens": ["t1", "t2"]}"#,
        ]))
        .ok()
        .unwrap();
        let Prepared::Args(out) = out else { panic!() };
        let out: Vec<&str> = out.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            out,
            [
                "lockbox",
                "encrypt",
                "--key-id",
                "alias/cli",
                "--encryption-context",
                r#"{"a":"b"}"#,
                "--grant-tokens",
                "t1",
                "t2",
                "--plaintext",
                "aGk="
            ]
        );
        let e = prepare_args(args(&[
            "lockbox",
            "encrypt",
            "--cli-input-json",
            r#"{"Nope": 1}"#,
        ]))
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), 252);
        assert!(
            e.to_string()
                .contains("Unknown parameter in input: \"Nope\""),
            "{e}"
        );
    }

    #[test]
    fn skeletons_name_the_members() {
        let root = Cli::command();
        let sub = root.find_subcommand("schedule-key-deletion").unwrap();
        let s = serde_json::to_string(&skeleton(sub)).unwrap();
        assert_eq!(s, r#"{"KeyId":"","PendingWindowInDays":0}"#);
    }
}
