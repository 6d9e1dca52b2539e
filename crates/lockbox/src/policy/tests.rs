//! Table-driven tests: decisions, malformed documents, and parse/evaluate totality.

use proptest::prelude::*;

use super::{ConditionValues, Decision, MAX_POLICY_BYTES, Policy, Request};

use Decision::{Allow, ExplicitDeny, NotApplicable};

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const BOB: &str = "arn:aws:iam::444455556666:user/bob";
const DAVE: &str = "arn:aws:iam::444455556666:user/dave";
const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/KeyAdmin";
const ADMIN_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops-session";
const OTHER_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Reader/ops-session";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab";
const FOREIGN_KEY: &str =
    "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// One row: a policy, a request, and the decision it must get.
struct Case {
    name: String,
    policy: String,
    principal: &'static str,
    account: &'static str,
    action: &'static str,
    resource: &'static str,
    context: ConditionValues,
    expect: Decision,
}

/// Alice (account 111122223333) calls kms:Encrypt on KEY with an empty context, unless the
/// row says otherwise.
fn case(name: &str, policy: impl Into<String>, expect: Decision) -> Case {
    Case {
        name: name.to_owned(),
        policy: policy.into(),
        principal: ALICE,
        account: ACCOUNT,
        action: "kms:Encrypt",
        resource: KEY,
        context: ConditionValues::new(),
        expect,
    }
}

impl Case {
    fn by(mut self, principal: &'static str, account: &'static str) -> Self {
        self.principal = principal;
        self.account = account;
        self
    }
    fn action(mut self, action: &'static str) -> Self {
        self.action = action;
        self
    }
    fn on(mut self, resource: &'static str) -> Self {
        self.resource = resource;
        self
    }
    fn with(mut self, key: &str, value: &str) -> Self {
        self.context.set(key, value);
        self
    }
    fn with_many(mut self, key: &str, values: &[&str]) -> Self {
        self.context
            .set_many(key, values.iter().map(|v| (*v).to_owned()).collect());
        self
    }
    fn with_bool(mut self, key: &str, value: bool) -> Self {
        self.context.set_bool(key, value);
        self
    }
    fn with_number(mut self, key: &str, value: i64) -> Self {
        self.context.set_number(key, value);
        self
    }
}

/// A policy document around the given statements.
fn policy(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// A statement on every resource; `principal` and `action` are JSON.
fn stmt(effect: &str, principal: &str, action: &str) -> String {
    format!(r#"{{"Effect":"{effect}","Principal":{principal},"Action":{action},"Resource":"*"}}"#)
}

/// A statement with a Condition (JSON).
fn stmt_if(effect: &str, principal: &str, action: &str, condition: &str) -> String {
    format!(
        r#"{{"Effect":"{effect}","Principal":{principal},"Action":{action},"Resource":"*","Condition":{condition}}}"#
    )
}

/// A policy that allows everyone everything when `condition` (JSON) holds.
fn allow_if(condition: &str) -> String {
    policy(&[stmt_if("Allow", r#""*""#, r#""kms:*""#, condition)])
}

/// A policy that allows `principal` (JSON) everything.
fn allow_principal(principal: &str) -> String {
    policy(&[stmt("Allow", principal, r#""kms:*""#)])
}

/// A policy that allows everyone the `action` (JSON).
fn allow_action(action: &str) -> String {
    policy(&[stmt("Allow", r#""*""#, action)])
}

/// A policy that allows everyone everything on the `resource` (JSON).
fn allow_resource(element: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:*","{element}":{resource}}}}}"#
    )
}

fn everyone_everything() -> String {
    allow_action(r#""kms:*""#)
}

/// Separation of duties: KeyAdmin administers, alice uses.
fn separation_of_duties() -> String {
    policy(&separation_of_duties_statements())
}

fn separation_of_duties_statements() -> Vec<String> {
    vec![
        format!(
            r#"{{"Sid":"Administer","Effect":"Allow","Principal":{{"AWS":"{ADMIN_ROLE}"}},
            "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*",
                      "kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*",
                      "kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],
            "Resource":"*"}}"#
        ),
        format!(
            r#"{{"Sid":"Use","Effect":"Allow","Principal":{{"AWS":["{ALICE}"]}},
            "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*",
                      "kms:DescribeKey"],
            "Resource":"*"}}"#
        ),
    ]
}

#[allow(clippy::too_many_lines)]
fn decision_cases() -> Vec<Case> {
    let sod = separation_of_duties;
    vec![
        // --- Effect and precedence ---
        case("allow everything", everyone_everything(), Allow),
        case(
            "deny beats allow in a later statement",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                stmt("Deny", r#""*""#, r#""kms:Encrypt""#),
            ]),
            ExplicitDeny,
        ),
        case(
            "deny beats allow in an earlier statement",
            policy(&[
                stmt("Deny", r#"{"AWS":"111122223333"}"#, r#""kms:Encrypt""#),
                stmt("Allow", &format!(r#"{{"AWS":"{ALICE}"}}"#), r#""kms:Encrypt""#),
            ]),
            ExplicitDeny,
        ),
        case(
            "deny beats allow within one statement list for the same principal and action",
            policy(&[
                stmt("Allow", &format!(r#"{{"AWS":"{ALICE}"}}"#), r#""kms:Encrypt""#),
                stmt("Deny", &format!(r#"{{"AWS":"{ALICE}"}}"#), r#""kms:Encrypt""#),
                stmt("Allow", r#""*""#, r#""*""#),
            ]),
            ExplicitDeny,
        ),
        case(
            "deny for another action leaves the allow",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                stmt("Deny", r#""*""#, r#""kms:Decrypt""#),
            ]),
            Allow,
        ),
        case(
            "deny whose condition fails leaves the allow",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                stmt_if(
                    "Deny",
                    r#""*""#,
                    r#""kms:*""#,
                    r#"{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}"#,
                ),
            ]),
            Allow,
        ),
        case(
            "deny alone",
            policy(&[stmt("Deny", r#""*""#, r#""kms:Encrypt""#)]),
            ExplicitDeny,
        ),
        case(
            "implicit deny: only another action allowed",
            allow_action(r#""kms:Decrypt""#),
            NotApplicable,
        ),
        case(
            "implicit deny: deny for another action, nothing allowed",
            policy(&[stmt("Deny", r#""*""#, r#""kms:Decrypt""#)]),
            NotApplicable,
        ),
        // --- Actions ---
        case("kms:* matches any KMS action", everyone_everything(), Allow).action("kms:PutKeyPolicy"),
        case("* matches any action", allow_action(r#""*""#), Allow).action("kms:ScheduleKeyDeletion"),
        case("kms:Generate* matches GenerateDataKeyPair", allow_action(r#""kms:Generate*""#), Allow)
            .action("kms:GenerateDataKeyPair"),
        case("kms:Generate* does not match Encrypt", allow_action(r#""kms:Generate*""#), NotApplicable),
        case("kms:?ncrypt matches Encrypt", allow_action(r#""kms:?ncrypt""#), Allow),
        case("kms:?ncrypt does not match Decrypt", allow_action(r#""kms:?ncrypt""#), NotApplicable)
            .action("kms:Decrypt"),
        case("kms:?ncrypt does not match ReEncrypt", allow_action(r#""kms:?ncrypt""#), NotApplicable)
            .action("kms:ReEncrypt"),
        case("action names are case-insensitive", allow_action(r#""KMS:eNcRyPt""#), Allow),
        case("wildcards are case-insensitive", allow_action(r#""kms:generate*""#), Allow)
            .action("kms:GenerateMac"),
        case("a request action in odd casing still matches", allow_action(r#""kms:Encrypt""#), Allow)
            .action("kms:ENCRYPT"),
        case("action array", allow_action(r#"["kms:Decrypt","kms:Encrypt"]"#), Allow),
        case("kms:ReEncrypt* covers ReEncryptFrom", allow_action(r#""kms:ReEncrypt*""#), Allow)
            .action("kms:ReEncryptFrom"),
        case("kms:ReEncrypt* covers ReEncryptTo", allow_action(r#""kms:ReEncrypt*""#), Allow)
            .action("kms:ReEncryptTo"),
        case(
            "NotAction allows what it does not name",
            policy(&[r#"{"Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}"#.to_owned()]),
            Allow,
        ),
        case(
            "NotAction does not allow what it names",
            policy(&[r#"{"Effect":"Allow","Principal":"*","NotAction":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}"#.to_owned()]),
            NotApplicable,
        ),
        case(
            "Deny with NotAction denies everything else",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                r#"{"Effect":"Deny","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}"#.to_owned(),
            ]),
            ExplicitDeny,
        ),
        case(
            "Deny with NotAction spares the action it names",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                r#"{"Effect":"Deny","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}"#.to_owned(),
            ]),
            Allow,
        )
        .action("kms:Decrypt"),
        case("an action the list lacks still matches kms:*", everyone_everything(), Allow)
            .action("kms:SomeFutureOperation"),
        case("an action the list lacks matches no named action", allow_action(r#""kms:Encrypt""#), NotApplicable)
            .action("kms:SomeFutureOperation"),
        case(
            "an action the list lacks matches a wildcard by name",
            allow_action(r#""kms:Some*""#),
            Allow,
        )
        .action("kms:SomeFutureOperation"),
        case("another service's action matches only *", everyone_everything(), NotApplicable)
            .action("s3:GetObject"),
        // --- Principals ---
        case("Principal * matches another account", allow_principal(r#""*""#), Allow).by(BOB, OTHER_ACCOUNT),
        case("AWS * matches another account", allow_principal(r#"{"AWS":"*"}"#), Allow).by(BOB, OTHER_ACCOUNT),
        case("account id matches a user of that account", allow_principal(r#"{"AWS":"111122223333"}"#), Allow),
        case("account id matches a role session of that account", allow_principal(r#"{"AWS":"111122223333"}"#), Allow)
            .by(ADMIN_SESSION, ACCOUNT),
        case("account id does not match another account", allow_principal(r#"{"AWS":"111122223333"}"#), NotApplicable)
            .by(BOB, OTHER_ACCOUNT),
        case(
            "root ARN matches a user of that account",
            allow_principal(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#),
            Allow,
        ),
        case(
            "root ARN matches a role of that account",
            allow_principal(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#),
            Allow,
        )
        .by(ADMIN_ROLE, ACCOUNT),
        case(
            "root ARN does not match another account",
            allow_principal(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#),
            NotApplicable,
        )
        .by(BOB, OTHER_ACCOUNT),
        case(
            "root ARN in another partition does not match",
            allow_principal(r#"{"AWS":"arn:aws-cn:iam::111122223333:root"}"#),
            NotApplicable,
        ),
        case("user ARN matches that user", allow_principal(&format!(r#"{{"AWS":"{ALICE}"}}"#)), Allow),
        case(
            "user ARN does not match another user of the account",
            allow_principal(&format!(r#"{{"AWS":"{ALICE}"}}"#)),
            NotApplicable,
        )
        .by(CAROL, ACCOUNT),
        case(
            "user ARNs compare case-sensitively",
            allow_principal(r#"{"AWS":"arn:aws:iam::111122223333:user/Alice"}"#),
            NotApplicable,
        ),
        case("role ARN matches that role", allow_principal(&format!(r#"{{"AWS":"{ADMIN_ROLE}"}}"#)), Allow)
            .by(ADMIN_ROLE, ACCOUNT),
        case("role ARN matches a session of that role", allow_principal(&format!(r#"{{"AWS":"{ADMIN_ROLE}"}}"#)), Allow)
            .by(ADMIN_SESSION, ACCOUNT),
        case(
            "role ARN with a path matches a session of that role",
            allow_principal(r#"{"AWS":"arn:aws:iam::111122223333:role/team/ops/KeyAdmin"}"#),
            Allow,
        )
        .by(ADMIN_SESSION, ACCOUNT),
        case(
            "role ARN does not match a session of another role",
            allow_principal(&format!(r#"{{"AWS":"{ADMIN_ROLE}"}}"#)),
            NotApplicable,
        )
        .by(OTHER_SESSION, ACCOUNT),
        case(
            "role ARN does not match the same role name in another account",
            allow_principal(&format!(r#"{{"AWS":"{ADMIN_ROLE}"}}"#)),
            NotApplicable,
        )
        .by("arn:aws:sts::444455556666:assumed-role/KeyAdmin/ops-session", OTHER_ACCOUNT),
        case(
            "assumed-role ARN matches that session",
            allow_principal(&format!(r#"{{"AWS":"{ADMIN_SESSION}"}}"#)),
            Allow,
        )
        .by(ADMIN_SESSION, ACCOUNT),
        case(
            "assumed-role ARN does not match another session",
            allow_principal(&format!(r#"{{"AWS":"{ADMIN_SESSION}"}}"#)),
            NotApplicable,
        )
        .by("arn:aws:sts::111122223333:assumed-role/KeyAdmin/other", ACCOUNT),
        case(
            "principal list matches any member",
            allow_principal(&format!(r#"{{"AWS":["{BOB}","{ALICE}"]}}"#)),
            Allow,
        ),
        case(
            "service principal never matches",
            allow_principal(r#"{"Service":"ec2.amazonaws.com"}"#),
            NotApplicable,
        ),
        case(
            "service principal beside an AWS principal",
            allow_principal(&format!(r#"{{"Service":["logs.amazonaws.com"],"AWS":"{ALICE}"}}"#)),
            Allow,
        ),
        case(
            "NotPrincipal with Deny denies everyone else",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                format!(r#"{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#),
            ]),
            ExplicitDeny,
        )
        .by(BOB, OTHER_ACCOUNT),
        case(
            "NotPrincipal with Deny spares the principal it names",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                format!(r#"{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#),
            ]),
            Allow,
        ),
        case(
            "NotPrincipal naming a service matches everyone",
            policy(&[r#"{"Effect":"Allow","NotPrincipal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}"#.to_owned()]),
            Allow,
        ),
        // --- Cross-account ---
        case(
            "key in A allows B's root: a B user may use it",
            allow_principal(r#"{"AWS":"arn:aws:iam::444455556666:root"}"#),
            Allow,
        )
        .by(BOB, OTHER_ACCOUNT),
        case(
            "key in A allows B's root: A's own users are not named",
            allow_principal(r#"{"AWS":"arn:aws:iam::444455556666:root"}"#),
            NotApplicable,
        ),
        case(
            "key in A allows B's user bob",
            allow_principal(&format!(r#"{{"AWS":"{BOB}"}}"#)),
            Allow,
        )
        .by(BOB, OTHER_ACCOUNT),
        case(
            "key in A allows B's user bob, not B's dave",
            allow_principal(&format!(r#"{{"AWS":"{BOB}"}}"#)),
            NotApplicable,
        )
        .by(DAVE, OTHER_ACCOUNT),
        case(
            "key in A allows B's root only to decrypt",
            policy(&[stmt("Allow", r#"{"AWS":"444455556666"}"#, r#""kms:Decrypt""#)]),
            NotApplicable,
        )
        .by(BOB, OTHER_ACCOUNT),
        case(
            "cross-account with kms:CallerAccount",
            allow_if(r#"{"StringEquals":{"kms:CallerAccount":"444455556666"}}"#),
            Allow,
        )
        .by(BOB, OTHER_ACCOUNT)
        .with("kms:CallerAccount", OTHER_ACCOUNT),
        // --- Resources ---
        case("resource * matches", allow_resource("Resource", r#""*""#), Allow),
        case("exact key ARN matches", allow_resource("Resource", &format!(r#""{KEY}""#)), Allow),
        case("exact key ARN does not match another key", allow_resource("Resource", &format!(r#""{KEY}""#)), NotApplicable)
            .on(OTHER_KEY),
        case(
            "wildcard key ARN matches keys of the account",
            allow_resource("Resource", r#""arn:aws:kms:*:111122223333:key/*""#),
            Allow,
        )
        .on(OTHER_KEY),
        case(
            "wildcard key ARN does not match another account's key",
            allow_resource("Resource", r#""arn:aws:kms:*:111122223333:key/*""#),
            NotApplicable,
        )
        .on(FOREIGN_KEY),
        case(
            "alias ARN pattern does not match a key",
            allow_resource("Resource", r#""arn:aws:kms:*:111122223333:alias/*""#),
            NotApplicable,
        ),
        case("NotResource spares other keys", allow_resource("NotResource", &format!(r#""{OTHER_KEY}""#)), Allow),
        case("NotResource excludes the key it names", allow_resource("NotResource", &format!(r#"["{KEY}"]"#)), NotApplicable),
        // --- String operators ---
        case("StringEquals matches", allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}"#), Allow)
            .with("kms:KeySpec", "SYMMETRIC_DEFAULT"),
        case("StringEquals is case-sensitive", allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}"#), NotApplicable)
            .with("kms:KeySpec", "symmetric_default"),
        case("StringEquals on an absent key is false", allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}"#), NotApplicable),
        case("StringEquals: policy values OR", allow_if(r#"{"StringEquals":{"kms:KeyUsage":["SIGN_VERIFY","ENCRYPT_DECRYPT"]}}"#), Allow)
            .with("kms:KeyUsage", "ENCRYPT_DECRYPT"),
        case("StringNotEquals holds for another value", allow_if(r#"{"StringNotEquals":{"kms:KeyOrigin":"EXTERNAL"}}"#), Allow)
            .with("kms:KeyOrigin", "AWS_KMS"),
        case("StringNotEquals fails for the value", allow_if(r#"{"StringNotEquals":{"kms:KeyOrigin":"EXTERNAL"}}"#), NotApplicable)
            .with("kms:KeyOrigin", "EXTERNAL"),
        case(
            "StringNotEquals fails when any policy value matches",
            allow_if(r#"{"StringNotEquals":{"kms:KeyOrigin":["AWS_CLOUDHSM","EXTERNAL"]}}"#),
            NotApplicable,
        )
        .with("kms:KeyOrigin", "EXTERNAL"),
        case("StringNotEquals on an absent key is true", allow_if(r#"{"StringNotEquals":{"kms:KeyOrigin":"EXTERNAL"}}"#), Allow),
        case(
            "StringEqualsIgnoreCase matches another casing",
            allow_if(r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:stage":"PROD"}}"#),
            Allow,
        )
        .with("kms:EncryptionContext:stage", "prod"),
        case(
            "StringEqualsIgnoreCase folds non-ASCII case",
            allow_if(r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:city":"ZÜRICH"}}"#),
            Allow,
        )
        .with("kms:EncryptionContext:city", "zürich"),
        case(
            "StringNotEqualsIgnoreCase fails for another casing",
            allow_if(r#"{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:stage":"PROD"}}"#),
            NotApplicable,
        )
        .with("kms:EncryptionContext:stage", "Prod"),
        case(
            "StringNotEqualsIgnoreCase holds for another value",
            allow_if(r#"{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:stage":"PROD"}}"#),
            Allow,
        )
        .with("kms:EncryptionContext:stage", "dev"),
        case("StringLike with *", allow_if(r#"{"StringLike":{"kms:RequestAlias":"alias/app-*"}}"#), Allow)
            .with("kms:RequestAlias", "alias/app-payments"),
        case("StringLike with ?", allow_if(r#"{"StringLike":{"kms:RequestAlias":"alias/app-?"}}"#), Allow)
            .with("kms:RequestAlias", "alias/app-1"),
        case("StringLike is case-sensitive", allow_if(r#"{"StringLike":{"kms:RequestAlias":"alias/app-*"}}"#), NotApplicable)
            .with("kms:RequestAlias", "alias/APP-payments"),
        case("StringNotLike fails on a match", allow_if(r#"{"StringNotLike":{"kms:RequestAlias":"alias/app-*"}}"#), NotApplicable)
            .with("kms:RequestAlias", "alias/app-payments"),
        case("StringNotLike holds otherwise", allow_if(r#"{"StringNotLike":{"kms:RequestAlias":"alias/app-*"}}"#), Allow)
            .with("kms:RequestAlias", "alias/other"),
        // --- ARN operators ---
        case(
            "ArnLike matches a role pattern",
            allow_if(r#"{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:role/*"}}"#),
            Allow,
        )
        .with("kms:GranteePrincipal", ADMIN_ROLE),
        case(
            "ArnLike wildcard stays inside its segment",
            allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:*:bucket/a:b"}}"#),
            NotApplicable,
        )
        .with("aws:SourceArn", "arn:aws:s3:::bucket/a:b"),
        case(
            "ArnLike wildcards in several segments",
            allow_if(r#"{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::*:role/Key*"}}"#),
            Allow,
        )
        .with("kms:GranteePrincipal", ADMIN_ROLE),
        case(
            "ArnLike on a value that is no ARN is false",
            allow_if(r#"{"ArnLike":{"kms:GranteePrincipal":"arn:*:*:*:*:*"}}"#),
            NotApplicable,
        )
        .with("kms:GranteePrincipal", "KeyAdmin"),
        case(
            "ArnEquals matches exactly",
            allow_if(&format!(r#"{{"ArnEquals":{{"kms:RetiringPrincipal":"{ADMIN_ROLE}"}}}}"#)),
            Allow,
        )
        .with("kms:RetiringPrincipal", ADMIN_ROLE),
        case(
            "ArnNotEquals holds for another ARN",
            allow_if(&format!(r#"{{"ArnNotEquals":{{"aws:PrincipalArn":"{ADMIN_ROLE}"}}}}"#)),
            Allow,
        )
        .with("aws:PrincipalArn", ALICE),
        case(
            "ArnNotLike fails on a match",
            allow_if(r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#),
            NotApplicable,
        )
        .with("aws:PrincipalArn", ALICE),
        // --- Numeric operators ---
        case(
            "NumericEquals",
            allow_if(r#"{"NumericEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}"#),
            Allow,
        )
        .action("kms:ScheduleKeyDeletion")
        .with_number("kms:ScheduleKeyDeletionPendingWindowInDays", 30),
        case(
            "NumericEquals with a JSON number",
            allow_if(r#"{"NumericEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":30}}"#),
            Allow,
        )
        .with("kms:ScheduleKeyDeletionPendingWindowInDays", "30"),
        case(
            "NumericEquals compares numbers, not text",
            allow_if(r#"{"NumericEquals":{"kms:RotationPeriodInDays":"90.0"}}"#),
            Allow,
        )
        .with_number("kms:RotationPeriodInDays", 90),
        case(
            "NumericNotEquals holds for another number",
            allow_if(r#"{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}}"#),
            Allow,
        )
        .with_number("kms:RotationPeriodInDays", 90),
        case(
            "NumericNotEquals fails for the number",
            allow_if(r#"{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}}"#),
            NotApplicable,
        )
        .with_number("kms:RotationPeriodInDays", 365),
        case(
            "Deny NumericLessThan: 7 days is under 30",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                stmt_if(
                    "Deny",
                    r#""*""#,
                    r#""kms:ScheduleKeyDeletion""#,
                    r#"{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}"#,
                ),
            ]),
            ExplicitDeny,
        )
        .action("kms:ScheduleKeyDeletion")
        .with_number("kms:ScheduleKeyDeletionPendingWindowInDays", 7),
        case(
            "NumericLessThan is strict",
            allow_if(r#"{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}"#),
            NotApplicable,
        )
        .with_number("kms:ScheduleKeyDeletionPendingWindowInDays", 30),
        case(
            "NumericLessThanEquals includes the bound",
            allow_if(r#"{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"365"}}"#),
            Allow,
        )
        .with_number("kms:RotationPeriodInDays", 365),
        case(
            "NumericGreaterThan is strict",
            allow_if(r#"{"NumericGreaterThan":{"kms:RotationPeriodInDays":"90"}}"#),
            NotApplicable,
        )
        .with_number("kms:RotationPeriodInDays", 90),
        case(
            "NumericGreaterThan above the bound",
            allow_if(r#"{"NumericGreaterThan":{"kms:RotationPeriodInDays":"90"}}"#),
            Allow,
        )
        .with_number("kms:RotationPeriodInDays", 91),
        case(
            "NumericGreaterThanEquals includes the bound",
            allow_if(r#"{"NumericGreaterThanEquals":{"kms:RotationPeriodInDays":"90"}}"#),
            Allow,
        )
        .with_number("kms:RotationPeriodInDays", 90),
        case(
            "numeric operator on a non-numeric request value is false",
            allow_if(r#"{"NumericGreaterThanEquals":{"kms:RotationPeriodInDays":"90"}}"#),
            NotApplicable,
        )
        .with("kms:RotationPeriodInDays", "lots"),
        case(
            "numeric operator on an absent key is false",
            allow_if(r#"{"NumericGreaterThanEquals":{"kms:RotationPeriodInDays":"90"}}"#),
            NotApplicable,
        ),
        case(
            "NumericNotEquals on an absent key is true",
            allow_if(r#"{"NumericNotEquals":{"kms:RotationPeriodInDays":"90"}}"#),
            Allow,
        ),
        case(
            "kms:ValidTo before a date",
            allow_if(r#"{"NumericLessThan":{"kms:ValidTo":"1767225600"}}"#),
            Allow,
        )
        .action("kms:ImportKeyMaterial")
        .with_number("kms:ValidTo", 1_735_689_600),
        // --- Bool ---
        case(
            "Bool true",
            allow_if(r#"{"Bool":{"kms:GrantIsForAWSResource":"true"}}"#),
            Allow,
        )
        .action("kms:CreateGrant")
        .with_bool("kms:GrantIsForAWSResource", true),
        case(
            "Bool false does not match true",
            allow_if(r#"{"Bool":{"kms:GrantIsForAWSResource":false}}"#),
            NotApplicable,
        )
        .with_bool("kms:GrantIsForAWSResource", true),
        case(
            "Bool compares case-insensitively",
            allow_if(r#"{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"TRUE"}}"#),
            Allow,
        )
        .with("kms:BypassPolicyLockoutSafetyCheck", "True"),
        case(
            "Bool on an absent key is false",
            allow_if(r#"{"Bool":{"kms:MultiRegion":"false"}}"#),
            NotApplicable,
        ),
        case(
            "BoolIfExists on an absent key is true",
            allow_if(r#"{"BoolIfExists":{"kms:MultiRegion":"false"}}"#),
            Allow,
        ),
        // --- Null ---
        case("Null true: key absent", allow_if(r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#), Allow),
        case("Null true: key present", allow_if(r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#), NotApplicable)
            .with_many("kms:EncryptionContextKeys", &["dept"]),
        case("Null false: key present", allow_if(r#"{"Null":{"kms:EncryptionContextKeys":false}}"#), Allow)
            .with_many("kms:EncryptionContextKeys", &["dept"]),
        case("Null false: key absent", allow_if(r#"{"Null":{"kms:EncryptionContextKeys":"false"}}"#), NotApplicable),
        case("Null true: empty list is absent", allow_if(r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#), Allow)
            .with_many("kms:EncryptionContextKeys", &[]),
        case(
            "Deny when no encryption context",
            policy(&[
                stmt("Allow", r#""*""#, r#""kms:*""#),
                stmt_if("Deny", r#""*""#, r#""kms:Encrypt""#, r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#),
            ]),
            ExplicitDeny,
        ),
        // --- IfExists ---
        case(
            "StringEqualsIfExists: absent is true",
            allow_if(r#"{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#),
            Allow,
        ),
        case(
            "StringEqualsIfExists: present and different is false",
            allow_if(r#"{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#),
            NotApplicable,
        )
        .with("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256"),
        case(
            "StringEqualsIfExists: present and equal is true",
            allow_if(r#"{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#),
            Allow,
        )
        .with("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
        case(
            "StringNotEqualsIfExists: present and equal is false",
            allow_if(r#"{"StringNotEqualsIfExists":{"kms:SigningAlgorithm":"RSASSA_PKCS1_V1_5_SHA_256"}}"#),
            NotApplicable,
        )
        .action("kms:Sign")
        .with("kms:SigningAlgorithm", "RSASSA_PKCS1_V1_5_SHA_256"),
        case(
            "NumericLessThanEqualsIfExists: absent is true",
            allow_if(r#"{"NumericLessThanEqualsIfExists":{"kms:RotationPeriodInDays":"365"}}"#),
            Allow,
        ),
        case(
            "ArnLikeIfExists: present and no match is false",
            allow_if(r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::reports/*"}}"#),
            NotApplicable,
        )
        .with("aws:SourceArn", "arn:aws:s3:::other/x"),
        // --- Set qualifiers and multi-valued keys ---
        case(
            "ForAnyValue: one request value matches",
            allow_if(r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"dept"}}"#),
            Allow,
        )
        .with_many("kms:EncryptionContextKeys", &["project", "dept"]),
        case(
            "ForAnyValue: no request value matches",
            allow_if(r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"dept"}}"#),
            NotApplicable,
        )
        .with_many("kms:EncryptionContextKeys", &["project", "owner"]),
        case(
            "ForAnyValue: absent key is false",
            allow_if(r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"dept"}}"#),
            NotApplicable,
        ),
        case(
            "ForAnyValue: empty list is false",
            allow_if(r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"dept"}}"#),
            NotApplicable,
        )
        .with_many("kms:EncryptionContextKeys", &[]),
        case(
            "ForAnyValue:StringNotEquals: one value differs",
            allow_if(r#"{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"dept"}}"#),
            Allow,
        )
        .with_many("kms:EncryptionContextKeys", &["dept", "project"]),
        case(
            "ForAllValues: every request value is allowed",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept","project","owner"]}}"#),
            Allow,
        )
        .with_many("kms:EncryptionContextKeys", &["dept", "project"]),
        case(
            "ForAllValues: one request value is not allowed",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept","project"]}}"#),
            NotApplicable,
        )
        .with_many("kms:EncryptionContextKeys", &["dept", "secret"]),
        case(
            "ForAllValues: absent key is true",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept"]}}"#),
            Allow,
        ),
        case(
            "ForAllValues: empty list is true",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept"]}}"#),
            Allow,
        )
        .with_many("kms:EncryptionContextKeys", &[]),
        case(
            "ForAllValues:StringNotLike: every value avoids the pattern",
            allow_if(r#"{"ForAllValues:StringNotLike":{"kms:EncryptionContextKeys":"aws:*"}}"#),
            Allow,
        )
        .with_many("kms:EncryptionContextKeys", &["dept", "project"]),
        case(
            "ForAllValues:StringNotLike: one value hits the pattern",
            allow_if(r#"{"ForAllValues:StringNotLike":{"kms:EncryptionContextKeys":"aws:*"}}"#),
            NotApplicable,
        )
        .with_many("kms:EncryptionContextKeys", &["dept", "aws:internal"]),
        case(
            "ForAllValues on kms:GrantOperations",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt","GenerateDataKey"]}}"#),
            Allow,
        )
        .action("kms:CreateGrant")
        .with_many("kms:GrantOperations", &["Decrypt", "Encrypt"]),
        case(
            "ForAllValues on kms:GrantOperations rejects an extra operation",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}"#),
            NotApplicable,
        )
        .action("kms:CreateGrant")
        .with_many("kms:GrantOperations", &["Decrypt", "CreateGrant"]),
        case(
            "ForAllValues on a single-valued key treats it as a set of one",
            allow_if(r#"{"ForAllValues:StringEquals":{"kms:CallerAccount":["111122223333","444455556666"]}}"#),
            Allow,
        )
        .with("kms:CallerAccount", ACCOUNT),
        case(
            "multi-valued key without a qualifier: any value matches",
            allow_if(r#"{"StringEquals":{"kms:ResourceAliases":"alias/payments"}}"#),
            Allow,
        )
        .with_many("kms:ResourceAliases", &["alias/app", "alias/payments"]),
        case(
            "multi-valued key without a qualifier, negated: one value matches, so false",
            allow_if(r#"{"StringNotEquals":{"kms:ResourceAliases":"alias/payments"}}"#),
            NotApplicable,
        )
        .with_many("kms:ResourceAliases", &["alias/app", "alias/payments"]),
        case(
            "multi-valued key without a qualifier, negated: no value matches, so true",
            allow_if(r#"{"StringNotEquals":{"kms:ResourceAliases":"alias/payments"}}"#),
            Allow,
        )
        .with_many("kms:ResourceAliases", &["alias/app", "alias/reports"]),
        // --- Combining ---
        case(
            "keys under one operator AND",
            allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT"}}"#),
            NotApplicable,
        )
        .with("kms:KeySpec", "SYMMETRIC_DEFAULT")
        .with("kms:KeyUsage", "SIGN_VERIFY"),
        case(
            "operators AND",
            allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"},"Bool":{"kms:MultiRegion":"true"}}"#),
            Allow,
        )
        .with("kms:KeySpec", "SYMMETRIC_DEFAULT")
        .with_bool("kms:MultiRegion", true),
        case(
            "operators AND: one fails",
            allow_if(r#"{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"},"Bool":{"kms:MultiRegion":"true"}}"#),
            NotApplicable,
        )
        .with("kms:KeySpec", "SYMMETRIC_DEFAULT")
        .with_bool("kms:MultiRegion", false),
        case("empty Condition always holds", allow_if("{}"), Allow),
        // --- Condition keys ---
        case(
            "kms:EncryptionContext:<key> matches",
            allow_if(r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#),
            Allow,
        )
        .with("kms:EncryptionContext:Department", "Finance"),
        case(
            "kms:EncryptionContext:<key>: the key name is case-insensitive",
            allow_if(r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#),
            Allow,
        )
        .with("KMS:encryptioncontext:department", "Finance"),
        case(
            "kms:EncryptionContext:<key>: the value is case-sensitive",
            allow_if(r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#),
            NotApplicable,
        )
        .with("kms:EncryptionContext:Department", "finance"),
        case(
            "kms:EncryptionContext:<key>: another key does not count",
            allow_if(r#"{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}"#),
            NotApplicable,
        )
        .with("kms:EncryptionContext:Team", "Finance"),
        case(
            "condition key in the policy in any casing",
            allow_if(r#"{"StringEquals":{"KMS:CALLERACCOUNT":"111122223333"}}"#),
            Allow,
        )
        .with("kms:CallerAccount", ACCOUNT),
        case(
            "kms:CallerAccount of another account",
            allow_if(r#"{"StringEquals":{"kms:CallerAccount":"111122223333"}}"#),
            NotApplicable,
        )
        .by(BOB, OTHER_ACCOUNT)
        .with("kms:CallerAccount", OTHER_ACCOUNT),
        case(
            "kms:RequestAlias exact",
            allow_if(r#"{"StringEquals":{"kms:RequestAlias":"alias/payments"}}"#),
            Allow,
        )
        .with("kms:RequestAlias", "alias/payments"),
        case(
            "kms:KeyOrigin",
            allow_if(r#"{"StringEquals":{"kms:KeyOrigin":"AWS_KMS"}}"#),
            Allow,
        )
        .action("kms:GenerateDataKey")
        .with("kms:KeyOrigin", "AWS_KMS"),
        case(
            "kms:ViaService",
            allow_if(r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#),
            NotApplicable,
        ),
        case(
            "kms:GrantConstraintType",
            allow_if(r#"{"StringEquals":{"kms:GrantConstraintType":"EncryptionContextSubset"}}"#),
            Allow,
        )
        .action("kms:CreateGrant")
        .with("kms:GrantConstraintType", "EncryptionContextSubset"),
        case(
            "kms:RecipientAttestation:ImageSha384",
            allow_if(r#"{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":"ABC123"}}"#),
            Allow,
        )
        .action("kms:Decrypt")
        .with("kms:RecipientAttestation:ImageSha384", "abc123"),
        case(
            "kms:MessageType",
            allow_if(r#"{"StringEquals":{"kms:MessageType":"DIGEST"}}"#),
            Allow,
        )
        .action("kms:Sign")
        .with("kms:MessageType", "DIGEST"),
        case(
            "aws: keys are accepted; unset means absent",
            allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"}}"#),
            NotApplicable,
        ),
        case(
            "aws: keys match when set",
            allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"}}"#),
            Allow,
        )
        .with("aws:PrincipalTag/team", "payments"),
        // --- Separation of duties ---
        case("admin may put the key policy", sod(), Allow).by(ADMIN_ROLE, ACCOUNT).action("kms:PutKeyPolicy"),
        case("admin may schedule deletion", sod(), Allow).by(ADMIN_ROLE, ACCOUNT).action("kms:ScheduleKeyDeletion"),
        case("admin may cancel deletion", sod(), Allow).by(ADMIN_SESSION, ACCOUNT).action("kms:CancelKeyDeletion"),
        case("admin may revoke grants", sod(), Allow).by(ADMIN_ROLE, ACCOUNT).action("kms:RevokeGrant"),
        case("admin may not encrypt", sod(), NotApplicable).by(ADMIN_ROLE, ACCOUNT),
        case("admin may not decrypt", sod(), NotApplicable).by(ADMIN_SESSION, ACCOUNT).action("kms:Decrypt"),
        case("admin may not generate data keys", sod(), NotApplicable)
            .by(ADMIN_ROLE, ACCOUNT)
            .action("kms:GenerateDataKey"),
        case("user may encrypt", sod(), Allow),
        case("user may re-encrypt from", sod(), Allow).action("kms:ReEncryptFrom"),
        case("user may generate data keys without plaintext", sod(), Allow).action("kms:GenerateDataKeyWithoutPlaintext"),
        case("user may describe the key", sod(), Allow).action("kms:DescribeKey"),
        case("user may not put the key policy", sod(), NotApplicable).action("kms:PutKeyPolicy"),
        case("user may not schedule deletion", sod(), NotApplicable).action("kms:ScheduleKeyDeletion"),
        case("someone else may do neither", sod(), NotApplicable).by(CAROL, ACCOUNT),
    ]
}

#[test]
fn decisions() {
    let cases = decision_cases();
    let mut failures = Vec::new();
    let mut ran = 0;
    let (mut lean_conditions, mut conditions_rows, mut resource_rows) = (0, 0, 0);
    for case in &cases {
        // A row whose policy is deliberately malformed belongs in the other table.
        let policy = match Policy::parse(&case.policy) {
            Ok(policy) => policy,
            Err(e) => {
                failures.push(format!("{}: policy rejected: {e}", case.name));
                continue;
            }
        };
        let request = Request {
            principal_arn: case.principal,
            principal_account: case.account,
            action: case.action,
            resource: case.resource,
            conditions: &case.context,
        };
        let got = policy.evaluate(&request);
        ran += 1;
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
        // The engine skips building what the policy says it does not read: the decision
        // must not change when those parts are left empty.
        let empty = ConditionValues::new();
        let lean = Request {
            resource: if policy.reads_resource() {
                case.resource
            } else {
                ""
            },
            conditions: if policy.reads_conditions() {
                &case.context
            } else {
                &empty
            },
            ..request
        };
        if policy.evaluate(&lean) != got {
            failures.push(format!(
                "{}: reads_conditions()={} / reads_resource()={} but the decision changed \
                 without them",
                case.name,
                policy.reads_conditions(),
                policy.reads_resource()
            ));
        }
        lean_conditions += usize::from(!policy.reads_conditions());
        conditions_rows += usize::from(policy.reads_conditions());
        resource_rows += usize::from(policy.reads_resource());
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(ran >= 60, "only {ran} cases ran");
    // The table has rows on both sides of each shortcut.
    assert!(lean_conditions > 20 && conditions_rows > 20 && resource_rows > 2);
    assert!(resource_rows < ran && lean_conditions < ran);
}

/// A one-statement policy with `body` (the statement's JSON fields).
fn one(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#)
}

/// `Effect`, `Principal`, `Action` and `Resource` that are all fine, for rows that break another field.
const OK: &str = r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#;

fn with_condition(condition: &str) -> String {
    one(&format!(r#"{OK},"Condition":{condition}"#))
}

#[allow(clippy::too_many_lines)]
fn malformed_cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "too large",
            format!(r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{{{OK}}}]}}"#, "x".repeat(MAX_POLICY_BYTES)),
            "Policy: document is 32881 bytes; a key policy may have at most 32768",
        ),
        (
            "not JSON",
            "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    }\n".to_owned(),
            "Policy: not valid JSON at line 4 column 5: expected value",
        ),
        (
            "empty document",
            String::new(),
            "Policy: not valid JSON at line 1 column 0: EOF while parsing a value",
        ),
        (
            "duplicate key",
            "{\"Version\":\"2012-10-17\",\n\"Statement\":{\"Effect\":\"Allow\",\"Effect\":\"Deny\"}}".to_owned(),
            "Policy: not valid JSON at line 2 column 38: duplicate key \"Effect\"",
        ),
        ("not an object", "[]".to_owned(), "Policy: must be a JSON object"),
        (
            "unknown version",
            format!(r#"{{"Version":"2012-10-18","Statement":[{{{OK}}}]}}"#),
            r#"Policy: Version must be "2012-10-17" or "2008-10-17", found "2012-10-18""#,
        ),
        (
            "version as a number",
            format!(r#"{{"Version":2012,"Statement":[{{{OK}}}]}}"#),
            r#"Policy: Version must be "2012-10-17" or "2008-10-17", found a number"#,
        ),
        (
            "Id not a string",
            format!(r#"{{"Version":"2012-10-17","Id":7,"Statement":[{{{OK}}}]}}"#),
            "Policy: Id must be a string, found a number",
        ),
        (
            "unknown top-level field",
            format!(r#"{{"Version":"2012-10-17","Statements":[{{{OK}}}]}}"#),
            r#"Policy: unknown field "Statements""#,
        ),
        (
            "no Statement",
            r#"{"Version":"2012-10-17"}"#.to_owned(),
            "Policy: Statement is missing",
        ),
        (
            "empty Statement",
            r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
            "Policy: Statement must not be empty",
        ),
        (
            "Statement a string",
            r#"{"Version":"2012-10-17","Statement":"Allow"}"#.to_owned(),
            "Policy: Statement must be an object or an array, found a string",
        ),
        (
            "statement not an object",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{OK}}},"Deny"]}}"#),
            "Statement 2: must be a JSON object, found a string",
        ),
        (
            "Effect in lower case",
            one(r#""Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Effect must be "Allow" or "Deny", found "allow""#,
        ),
        (
            "Effect missing",
            one(r#""Principal":"*","Action":"kms:*","Resource":"*""#),
            "Statement 1: Effect is missing",
        ),
        (
            "unknown statement field, named with the Sid",
            one(&format!(r#""Sid":"Use",{OK},"Conditions":{{}}"#)),
            r#"Statement 1 (Sid "Use"): unknown field "Conditions""#,
        ),
        (
            "Sid not a string",
            one(&format!(r#""Sid":1,{OK}"#)),
            "Statement 1: Sid must be a string, found a number",
        ),
        (
            "duplicate Sid",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Use",{OK}}},{{"Sid":"Use",{OK}}}]}}"#),
            r#"Statement 2 (Sid "Use"): duplicate Sid "Use""#,
        ),
        (
            "Principal and NotPrincipal",
            one(r#""Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*""#),
            "Statement 1: has both Principal and NotPrincipal; use one",
        ),
        (
            "no Principal",
            one(r#""Effect":"Allow","Action":"kms:*","Resource":"*""#),
            "Statement 1: Principal or NotPrincipal is required",
        ),
        (
            "no Action",
            one(r#""Effect":"Allow","Principal":"*","Resource":"*""#),
            "Statement 1: Action or NotAction is required",
        ),
        (
            "Action and NotAction",
            one(r#""Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*""#),
            "Statement 1: has both Action and NotAction; use one",
        ),
        (
            "no Resource",
            one(r#""Effect":"Allow","Principal":"*","Action":"kms:*""#),
            "Statement 1: Resource or NotResource is required",
        ),
        (
            "Principal as a bare ARN",
            one(r#""Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: must be "*" or an object such as {"AWS": ...}, found "arn:aws:iam::111122223333:root""#,
        ),
        (
            "wildcard inside a principal ARN",
            one(r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: unsupported principal "arn:aws:iam::111122223333:user/*""#,
        ),
        (
            "account id of 11 digits",
            one(r#""Effect":"Allow","Principal":{"AWS":["111122223333","11112222333"]},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: unsupported principal "11112222333""#,
        ),
        (
            "malformed account in an ARN",
            one(r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1111-2222-3333:root"},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: unsupported principal "arn:aws:iam::1111-2222-3333:root""#,
        ),
        (
            "group principal",
            one(r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/admins"},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: unsupported principal "arn:aws:iam::111122223333:group/admins""#,
        ),
        (
            "Federated principal",
            one(r#""Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: Principal: unsupported principal type "Federated""#,
        ),
        (
            "CanonicalUser in NotPrincipal",
            one(r#""Effect":"Deny","NotPrincipal":{"CanonicalUser":"79a59df900b949e55d96a1e698fbace"},"Action":"kms:*","Resource":"*""#),
            r#"Statement 1: NotPrincipal: unsupported principal type "CanonicalUser""#,
        ),
        (
            "Principal naming nobody",
            one(r#""Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*""#),
            "Statement 1: Principal: names no principal",
        ),
        (
            "empty AWS list",
            one(r#""Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*""#),
            "Statement 1: Principal: AWS must not be an empty array",
        ),
        (
            "misspelt action",
            one(r#""Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:Encrpyt"],"Resource":"*""#),
            r#"Statement 1: Action: unknown KMS action "kms:Encrpyt""#,
        ),
        (
            "misspelt NotAction",
            one(r#""Effect":"Allow","Principal":"*","NotAction":"kms:Decrpyt","Resource":"*""#),
            r#"Statement 1: NotAction: unknown KMS action "kms:Decrpyt""#,
        ),
        (
            "another service's action",
            one(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*""#),
            r#"Statement 1: Action: unsupported action "s3:GetObject": Lockbox serves only kms: actions"#,
        ),
        (
            "action without a service",
            one(r#""Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*""#),
            r#"Statement 1: Action: unsupported action "Encrypt": Lockbox serves only kms: actions"#,
        ),
        (
            "action not a string",
            one(r#""Effect":"Allow","Principal":"*","Action":["kms:Encrypt",3],"Resource":"*""#),
            "Statement 1: Action: must hold strings, found a number",
        ),
        (
            "resource that is no ARN",
            one(r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/1234"}"#).replace("}}", "}"),
            r#"Statement 1: Resource: "key/1234" is neither "*" nor an ARN"#,
        ),
        (
            "resource with a policy variable",
            one(r#""Effect":"Allow","Principal":"*","Action":"kms:*","NotResource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*""#),
            r#"Statement 1: NotResource: "arn:aws:kms:*:${aws:PrincipalAccount}:key/*" uses a policy variable, which Lockbox does not support"#,
        ),
        (
            "unsupported operator, named with the Sid",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admin",{OK}}},{{"Sid":"AllowUse",{OK},"Condition":{{"StringEqual":{{"kms:CallerAccount":"111122223333"}}}}}}]}}"#
            ),
            r#"Statement 2 (Sid "AllowUse"): Condition: unsupported operator "StringEqual""#,
        ),
        (
            "Null with IfExists",
            with_condition(r#"{"NullIfExists":{"kms:KeySpec":"true"}}"#),
            r#"Statement 1: Condition: unsupported operator "NullIfExists""#,
        ),
        (
            "Null with a set qualifier",
            with_condition(r#"{"ForAnyValue:Null":{"kms:KeySpec":"true"}}"#),
            r#"Statement 1: Condition: unsupported operator "ForAnyValue:Null""#,
        ),
        (
            "operator in the wrong case",
            with_condition(r#"{"stringequals":{"kms:KeySpec":"RSA_2048"}}"#),
            r#"Statement 1: Condition: unsupported operator "stringequals""#,
        ),
        (
            "unknown set qualifier",
            with_condition(r#"{"ForEachValue:StringEquals":{"kms:KeySpec":"RSA_2048"}}"#),
            r#"Statement 1: Condition: unsupported operator "ForEachValue:StringEquals""#,
        ),
        (
            "numeric operator with a word",
            with_condition(r#"{"NumericLessThan":{"kms:RotationPeriodInDays":"ninety"}}"#),
            r#"Statement 1: Condition: NumericLessThan: kms:RotationPeriodInDays: value "ninety" is not a number"#,
        ),
        (
            "numeric operator with a boolean",
            with_condition(r#"{"NumericEqualsIfExists":{"kms:RotationPeriodInDays":[90,true]}}"#),
            r#"Statement 1: Condition: NumericEqualsIfExists: kms:RotationPeriodInDays: value "true" is not a number"#,
        ),
        (
            "Bool with yes",
            with_condition(r#"{"Bool":{"kms:GrantIsForAWSResource":"yes"}}"#),
            r#"Statement 1: Condition: Bool: kms:GrantIsForAWSResource: value "yes" is not true or false"#,
        ),
        (
            "Null with a number",
            with_condition(r#"{"Null":{"kms:EncryptionContextKeys":1}}"#),
            r#"Statement 1: Condition: Null: kms:EncryptionContextKeys: value "1" is not true or false"#,
        ),
        (
            "ArnLike with something that is no ARN",
            with_condition(r#"{"ArnLike":{"aws:PrincipalArn":"role/*"}}"#),
            r#"Statement 1: Condition: ArnLike: aws:PrincipalArn: value "role/*" is not an ARN"#,
        ),
        (
            "misspelt KMS condition key",
            with_condition(r#"{"StringEquals":{"kms:EncryptionContxt:dept":"x"}}"#),
            r#"Statement 1: Condition: StringEquals: unknown KMS condition key "kms:EncryptionContxt:dept""#,
        ),
        (
            "encryption context key without a name",
            with_condition(r#"{"StringEquals":{"kms:EncryptionContext:":"x"}}"#),
            r#"Statement 1: Condition: StringEquals: unknown KMS condition key "kms:EncryptionContext:""#,
        ),
        (
            "misspelt kms:CallerAccount",
            with_condition(r#"{"StringEquals":{"kms:CallerAcount":"111122223333"}}"#),
            r#"Statement 1: Condition: StringEquals: unknown KMS condition key "kms:CallerAcount""#,
        ),
        (
            "condition key without a service",
            with_condition(r#"{"StringEquals":{"CallerAccount":"111122223333"}}"#),
            r#"Statement 1: Condition: StringEquals: condition key "CallerAccount" is not of the form service:name"#,
        ),
        (
            "condition value an object",
            with_condition(r#"{"StringEquals":{"kms:KeySpec":{"a":"b"}}}"#),
            "Statement 1: Condition: StringEquals: kms:KeySpec: values must be strings, numbers or booleans, found an object",
        ),
        (
            "condition value null",
            with_condition(r#"{"StringEquals":{"kms:KeySpec":["RSA_2048",null]}}"#),
            "Statement 1: Condition: StringEquals: kms:KeySpec: values must be strings, numbers or booleans, found null",
        ),
        (
            "empty condition value list",
            with_condition(r#"{"StringEquals":{"kms:KeySpec":[]}}"#),
            "Statement 1: Condition: StringEquals: kms:KeySpec: empty value list",
        ),
        (
            "condition value with a policy variable",
            with_condition(r#"{"StringEquals":{"kms:CallerAccount":"${aws:PrincipalAccount}"}}"#),
            r#"Statement 1: Condition: StringEquals: kms:CallerAccount: value "${aws:PrincipalAccount}" uses a policy variable, which Lockbox does not support"#,
        ),
        (
            "operator without keys",
            with_condition(r#"{"StringEquals":{}}"#),
            "Statement 1: Condition: StringEquals: names no condition key",
        ),
        (
            "operator body not an object",
            with_condition(r#"{"StringEquals":["kms:KeySpec"]}"#),
            "Statement 1: Condition: StringEquals: must be a JSON object",
        ),
        (
            "Condition not an object",
            with_condition(r#""kms:KeySpec""#),
            "Statement 1: Condition must be a JSON object",
        ),
        (
            "third statement named",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{{OK}}},{{{OK}}},{{"Sid":"Third","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"Bool":{{"kms:MultiRegion":"maybe"}}}}}}]}}"#
            ),
            r#"Statement 3 (Sid "Third"): Condition: Bool: kms:MultiRegion: value "maybe" is not true or false"#,
        ),
    ]
}

#[test]
fn malformed_policies_are_rejected_with_the_exact_message() {
    let cases = malformed_cases();
    let mut failures = Vec::new();
    for (name, document, expected) in &cases {
        match Policy::parse(document) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) if e.message() == *expected && e.to_string() == *expected => {}
            Err(e) => failures.push(format!("{name}:\n  expected {expected}\n  got      {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 20);
}

#[test]
fn a_policy_at_the_size_limit_is_accepted() {
    let head = format!(r#"{{"Version":"2012-10-17","Statement":[{{{OK}}}],"Id":""#);
    let padding = MAX_POLICY_BYTES - head.len() - 2;
    let document = format!("{head}{}\"}}", "x".repeat(padding));
    assert_eq!(document.len(), MAX_POLICY_BYTES);
    assert!(Policy::parse(&document).is_ok());
}

#[test]
fn version_is_optional_and_2008_is_accepted() {
    for document in [
        format!(r#"{{"Statement":{{{OK}}}}}"#),
        format!(r#"{{"Version":"2008-10-17","Id":"key-default-1","Statement":{{{OK}}}}}"#),
    ] {
        assert!(Policy::parse(&document).is_ok(), "{document}");
    }
}

#[test]
fn every_kms_condition_key_aws_defines_is_accepted() {
    for key in [
        "kms:BypassPolicyLockoutSafetyCheck",
        "kms:CallerAccount",
        "kms:CustomerMasterKeySpec",
        "kms:CustomerMasterKeyUsage",
        "kms:DataKeyPairSpec",
        "kms:EncryptionAlgorithm",
        "kms:EncryptionContext:anything at all",
        "kms:EncryptionContextKeys",
        "kms:ExpirationModel",
        "kms:GrantConstraintType",
        "kms:GrantIsForAWSResource",
        "kms:GrantOperations",
        "kms:GranteePrincipal",
        "kms:KeyAgreementAlgorithm",
        "kms:KeyOrigin",
        "kms:KeySpec",
        "kms:KeyUsage",
        "kms:MacAlgorithm",
        "kms:MessageType",
        "kms:MultiRegion",
        "kms:MultiRegionKeyType",
        "kms:PrimaryRegion",
        "kms:ReEncryptOnSameKey",
        "kms:RecipientAttestation:PCR0",
        "kms:ReplicaRegion",
        "kms:RequestAlias",
        "kms:ResourceAliases",
        "kms:RetiringPrincipal",
        "kms:RotationPeriodInDays",
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        "kms:SigningAlgorithm",
        "kms:ValidTo",
        "kms:ViaService",
        "kms:WrappingAlgorithm",
        "kms:WrappingKeySpec",
    ] {
        let document = with_condition(&format!(r#"{{"StringEqualsIfExists":{{"{key}":"x"}}}}"#));
        assert!(Policy::parse(&document).is_ok(), "{key}");
    }
}

#[test]
fn every_known_action_is_accepted_and_the_list_is_sorted() {
    let names: Vec<&str> = super::actions::names().collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    for action in names {
        let document = one(&format!(
            r#""Effect":"Allow","Principal":"*","Action":"kms:{action}","Resource":"*""#
        ));
        let policy = Policy::parse(&document).unwrap();
        let context = ConditionValues::new();
        let name = format!("kms:{action}");
        let request = Request {
            principal_arn: ALICE,
            principal_account: ACCOUNT,
            action: &name,
            resource: KEY,
            conditions: &context,
        };
        assert_eq!(policy.evaluate(&request), Allow, "{action}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = Policy::parse(&deep).unwrap_err();
    assert!(e.message().starts_with("Policy: "), "{e}");
    let deep_condition = with_condition(&format!(
        r#"{{"StringEquals":{{"kms:KeySpec":{}1{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    ));
    assert!(Policy::parse(&deep_condition).is_err());
}

#[test]
fn setting_a_key_again_replaces_it() {
    let policy =
        Policy::parse(&allow_if(r#"{"StringEquals":{"kms:KeySpec":"RSA_2048"}}"#)).unwrap();
    let mut context = ConditionValues::new();
    context.set("kms:KeySpec", "RSA_2048");
    context.set("KMS:KEYSPEC", "RSA_4096");
    let request = Request {
        principal_arn: ALICE,
        principal_account: ACCOUNT,
        action: "kms:Sign",
        resource: KEY,
        conditions: &context,
    };
    assert_eq!(policy.evaluate(&request), NotApplicable);
    context.set_many("kms:keyspec", Vec::new());
    let request = Request {
        principal_arn: ALICE,
        principal_account: ACCOUNT,
        action: "kms:Sign",
        resource: KEY,
        conditions: &context,
    };
    assert_eq!(policy.evaluate(&request), NotApplicable);
}

/// A policy that exercises every part of the evaluator, for the totality tests.
fn rich_policy() -> Policy {
    let mut statements = separation_of_duties_statements();
    statements.push(stmt_if(
        "Deny",
        r#"{"AWS":["111122223333","arn:aws:iam::444455556666:root"]}"#,
        r#"["kms:?ncrypt","kms:ReEncrypt*"]"#,
        r#"{"Null":{"kms:EncryptionContextKeys":"true"},
                "ForAllValues:StringNotLike":{"kms:EncryptionContextKeys":"aws*"},
                "NumericLessThanIfExists":{"kms:RotationPeriodInDays":"90.5"},
                "ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},
                "StringEqualsIgnoreCase":{"kms:EncryptionContext:Stage":"PRÖD"},
                "BoolIfExists":{"kms:MultiRegion":"true"}}"#,
    ));
    Policy::parse(&policy(&statements)).unwrap()
}

/// Byte strings that look like policy pieces, so random documents get past the JSON parser.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\"Version\"",
    "\"2012-10-17\"",
    "\"Statement\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Deny\"",
    "\"Principal\"",
    "\"NotPrincipal\"",
    "\"AWS\"",
    "\"Service\"",
    "\"*\"",
    "\"Action\"",
    "\"NotAction\"",
    "\"kms:*\"",
    "\"kms:Encrypt\"",
    "\"kms:Gen*\"",
    "\"Resource\"",
    "\"NotResource\"",
    "\"arn:aws:kms:*:111122223333:key/*\"",
    "\"Condition\"",
    "\"StringEquals\"",
    "\"ForAllValues:StringNotLikeIfExists\"",
    "\"Null\"",
    "\"NumericLessThan\"",
    "\"Bool\"",
    "\"ArnLike\"",
    "\"kms:EncryptionContext:a\"",
    "\"kms:CallerAccount\"",
    "\"111122223333\"",
    "\"arn:aws:iam::111122223333:root\"",
    "\"arn:aws:iam::111122223333:role/R\"",
    "\"true\"",
    "true",
    "null",
    "12",
    "-1.5e3",
    "\"Sid\"",
    "\"a\"",
    "\"${x}\"",
    "\"\u{e9}\"",
    " ",
];

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Policy::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parse_never_panics_on_policy_pieces(picks in proptest::collection::vec(0..PIECES.len(), 0..200)) {
        let document: String = picks.iter().map(|&i| PIECES[i]).collect();
        if let Ok(policy) = Policy::parse(&document) {
            let context = ConditionValues::new();
            let _ = policy.evaluate(&Request {
                principal_arn: ALICE,
                principal_account: ACCOUNT,
                action: "kms:Encrypt",
                resource: KEY,
                conditions: &context,
            });
        }
    }

    #[test]
    fn damaged_policies_parse_or_fail_cleanly(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = separation_of_duties().into_bytes();
        for (at, byte) in edits {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let _ = Policy::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn evaluate_never_panics(
        principal in any::<String>(),
        account in any::<String>(),
        action in any::<String>(),
        resource in any::<String>(),
        values in proptest::collection::vec(any::<String>(), 0..4),
        number in any::<i64>(),
    ) {
        let policy = rich_policy();
        let mut context = ConditionValues::new();
        context.set_many("kms:EncryptionContextKeys", values.clone());
        context.set("kms:EncryptionContext:stage", values.first().cloned().unwrap_or_default());
        context.set("aws:PrincipalArn", principal.clone());
        context.set_number("kms:RotationPeriodInDays", number);
        context.set("kms:MultiRegion", action.clone());
        for action in [action.as_str(), "kms:Encrypt", "kms:ReEncryptTo"] {
            let _ = policy.evaluate(&Request {
                principal_arn: &principal,
                principal_account: &account,
                action,
                resource: &resource,
                conditions: &context,
            });
        }
    }
}
