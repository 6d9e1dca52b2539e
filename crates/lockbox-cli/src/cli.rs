//! The command line: `aws kms` names and flags, plus a few of Lockbox's own.

use clap::{ArgGroup, Args, Parser, Subcommand};

/// Lockbox: AWS KMS operations on keys held in a PKCS#11 token.
///
/// Commands and flags follow `aws kms`; output is the JSON the AWS CLI prints. Blobs are
/// base64 on the command line, or raw bytes with fileb://PATH. The data directory is
/// $LOCKBOX_HOME (default: $XDG_DATA_HOME/lockbox, else ~/.local/share/lockbox); with SoftHSM
/// installed, the first command provisions it with a token of its own. PINs are never taken
/// from the command line. Commands act as $LOCKBOX_CALLER (a principal ARN) when it is set,
/// else as the data directory's configured caller, and key policies and grants decide what
/// that caller may do.
///
/// demo, inspect-token, key-usage, maintain, doctor, backup, restore, audit, encrypt-file and
/// decrypt-file are Lockbox's own commands. Exit codes: 0 success; 1 maintain, doctor or audit verify printed its
/// report and it shows failures or problems, restore printed a rollback it was not told to
/// accept, or encrypt-file or decrypt-file failed on a file; 252
/// the command line or a parameter could not be read; 254 the operation failed (the AWS error
/// name is on stderr); 255 Lockbox could not start, or its token or store failed, or (with
/// --endpoint-url) no response came from the endpoint (as the AWS CLI: "Could not connect to the
/// endpoint URL", read and connect timeouts, a connection closed, TLS).
#[derive(Parser)]
#[command(name = "lockbox", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) remote: RemoteArgs,
    #[command(flatten)]
    pub(crate) aws: crate::aws_options::AwsArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the KMS commands go: the local data directory's engine, or a server.
#[derive(Args)]
pub(crate) struct RemoteArgs {
    /// Send KMS commands to this endpoint (`lockbox serve`, or any AWS KMS endpoint) instead of
    /// the local data directory; audit, doctor, key-usage and maintain too, to a `lockbox
    /// serve` whose server.toml names the caller in `operators`. Credentials come from
    /// $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, never from the command line
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// The Region of the KMS commands (default: $AWS_REGION, else $AWS_DEFAULT_REGION; locally,
    /// else the data directory's [arn] region). With --endpoint-url, requests are signed for it
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// A PEM file of CA certificates to trust for the endpoint's TLS certificate (instead of
    /// the built-in roots)
    // With an endpoint from the flag, the environment or the profile (`aws_options::apply`).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) ca_bundle: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// A guided run on a freshly provisioned SoftHSM token in ./lockbox-demo
    Demo(DemoArgs),
    /// Serve the data directory's keys as an AWS KMS endpoint (AWS CLI, SDKs)
    ///
    /// Creates credentials.toml (mode 0600) with a first credential for the configured caller
    /// if there is none, and prints its secret once. Settings come from server.toml in the
    /// data directory; these flags override them. Serves until SIGINT or SIGTERM, then lets
    /// requests in flight finish.
    Serve(ServeArgs),
    /// Show the token and every Lockbox object on it, with its security attributes
    InspectToken,
    /// Show each material version of a key and the encryptions it has made
    ///
    /// Encryptions are counted durably in blocks reserved ahead of use (encryption_count_block,
    /// 4096 by default); a process gives back what it reserved and did not use when it ends,
    /// so Encryptions is the count made. A process that was killed leaves the rest of its
    /// block counted: then Encryptions is an upper bound, by at most one block per such
    /// process. EncryptionsReserved, shown when a running engine holds a reservation, is what
    /// it may use before reserving again.
    KeyUsage(KeyIdArgs),
    /// Run the maintenance that is due: automatic rotations and deletions whose date has come
    ///
    /// Prints {"Rotated": [...], "Deleted": [...], "Failed": [...]} and exits 1 if anything
    /// failed (it is tried again on the next pass). Lockbox also runs this pass whenever it
    /// opens; what that pass did is listed too.
    Maintain,
    /// Name every known crash state of the data directory and what to do; check the token's
    /// objects against the key records
    ///
    /// First, before anything repairs them, the start-up states: a token root file a kill cut
    /// short, a missing or stale copy of it, an incomplete sled snapshot, files open to
    /// others, a half-finished provisioning, the directory in use. Without --repair it stops
    /// there if it found any. Then it opens the directory, which finishes interrupted
    /// deletions and destroys orphaned token objects older than the grace period, and lists
    /// material that records name but the token does not hold. One line per finding; the last
    /// starts with OK: or PROBLEMS:. Exits 1 if anything remains wrong.
    Doctor(DoctorArgs),
    /// Write a consistent backup of the data directory to a new directory DEST
    ///
    /// Copies the metadata (a logical export), lockbox.toml and, when this directory
    /// provisioned its own SoftHSM token, the token's files; PIN files and credentials.toml
    /// only when asked. Works while the directory is in use by this or another command's
    /// engine only through `lockbox serve`'s admin socket (see docs/operations.md). A real
    /// HSM's partition is backed up with the vendor's tools, beside this.
    Backup(BackupArgs),
    /// Restore a backup made by `lockbox backup` into the data directory
    ///
    /// Verifies the backup first (manifest, checksums), then compares it with the directory
    /// and prints what the rollback takes back: keys made after the backup, keys deleted
    /// since, material versions rotated in since, aliases that differ. Without
    /// --accept-rollback it changes nothing and exits 1. With it, the replaced files are kept
    /// in pre-restore-<time>/ in the data directory. Run with no SRC to finish a restore that
    /// was interrupted.
    Restore(RestoreArgs),
    /// Export or verify the audit log (one record per KMS call, sealed in the token)
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create, list or delete the access keys `lockbox serve` accepts (credentials.toml)
    ///
    /// A running server reloads the file when it changes: no restart. These commands do not
    /// open the engine, so they work while `lockbox serve` runs.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Create a customer master key in the token
    CreateKey(CreateKeyArgs),
    /// Describe a key
    DescribeKey(DescribeKeyArgs),
    /// List keys
    ListKeys(PageArgs),
    /// Replace a key's description
    UpdateKeyDescription(UpdateKeyDescriptionArgs),
    /// Enable a key
    EnableKey(KeyIdArgs),
    /// Disable a key
    DisableKey(KeyIdArgs),
    /// Schedule a key's deletion after 7 to 30 days
    ScheduleKeyDeletion(ScheduleKeyDeletionArgs),
    /// Cancel a scheduled deletion (the key stays disabled)
    CancelKeyDeletion(KeyIdArgs),
    /// Turn on automatic rotation of a key's material (default every 365 days)
    EnableKeyRotation(EnableKeyRotationArgs),
    /// Turn off automatic rotation of a key's material
    DisableKeyRotation(KeyIdArgs),
    /// Show whether a key rotates automatically, how often, and when next
    GetKeyRotationStatus(KeyIdArgs),
    /// Rotate a key's material now (earlier ciphertexts still decrypt)
    RotateKeyOnDemand(KeyIdArgs),
    /// List a key's material rotations
    ListKeyRotations(ListKeyRotationsArgs),
    /// Get a wrapping public key and an import token (24 hours) to import key material into
    /// a key of origin EXTERNAL
    GetParametersForImport(GetParametersForImportArgs),
    /// Import wrapped key material into a key of origin EXTERNAL
    ImportKeyMaterial(ImportKeyMaterialArgs),
    /// Delete a key's imported key material (the key waits for an import again)
    DeleteImportedKeyMaterial(DeleteImportedKeyMaterialArgs),
    /// Replicate a multi-Region primary key into another Region
    ///
    /// The replica has the primary's key id, key material, key spec, usage, origin and
    /// rotation, and its own description, policy, tags, aliases and state: a ciphertext of
    /// either decrypts with the other. It is Enabled at once (PendingImport when the primary's
    /// material is imported: import the same material into it). Prints ReplicaKeyMetadata,
    /// ReplicaPolicy and ReplicaTags.
    ReplicateKey(ReplicateKeyArgs),
    /// Make the replica of a multi-Region key in another Region its primary (prints nothing)
    ///
    /// --key-id names the current primary, in this command's Region; it becomes a replica.
    /// Both keys must be Enabled.
    UpdatePrimaryRegion(UpdatePrimaryRegionArgs),
    /// Create an alias for a key
    CreateAlias(AliasArgs),
    /// Point an alias at another key
    UpdateAlias(AliasArgs),
    /// Delete an alias
    DeleteAlias(AliasNameArgs),
    /// List aliases
    ListAliases(ListAliasesArgs),
    /// Add or overwrite tags on a key
    TagResource(TagResourceArgs),
    /// Remove tags from a key
    UntagResource(UntagResourceArgs),
    /// List a key's tags
    ListResourceTags(ListResourceTagsArgs),
    /// Replace a key's policy (prints nothing)
    ///
    /// The new policy must let you change it again, unless
    /// --bypass-policy-lockout-safety-check is given.
    PutKeyPolicy(PutKeyPolicyArgs),
    /// Show a key's policy document
    GetKeyPolicy(GetKeyPolicyArgs),
    /// List a key's policy names (a key has one, "default")
    ListKeyPolicies(ListKeyPoliciesArgs),
    /// Give a principal some operations on a key, at once
    CreateGrant(CreateGrantArgs),
    /// List a key's grants
    ListGrants(ListGrantsArgs),
    /// List the grants a principal may retire
    ListRetirableGrants(ListRetirableGrantsArgs),
    /// Retire a grant: by its token, or by key and grant id (prints nothing)
    ///
    /// Allowed to the grant's retiring principal, to its grantee if the grant includes
    /// RetireGrant, and to the root of the account that created it.
    #[command(
        override_usage = "lockbox retire-grant --grant-token <GRANT_TOKEN>\n       \
                                lockbox retire-grant --key-id <KEY_ID> --grant-id <GRANT_ID>"
    )]
    RetireGrant(RetireGrantArgs),
    /// Revoke a grant of a key (prints nothing)
    RevokeGrant(RevokeGrantArgs),
    /// Encrypt up to 4096 bytes under a key
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext blob
    Decrypt(DecryptArgs),
    /// Decrypt and encrypt again under another key or context, inside Lockbox
    ReEncrypt(ReEncryptArgs),
    /// Generate a data key: plaintext and encrypted under a key
    GenerateDataKey(GenerateDataKeyArgs),
    /// Generate a data key, encrypted under a key only
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyArgs),
    /// Random bytes from the token
    GenerateRandom(GenerateRandomArgs),
    /// Sign a message (or its digest) with an asymmetric SIGN_VERIFY key
    Sign(SignArgs),
    /// Verify a signature with an asymmetric SIGN_VERIFY key
    ///
    /// Prints SignatureValid: true, or fails with KMSInvalidSignatureException (exit 254).
    Verify(VerifyArgs),
    /// The public key of an asymmetric key (DER SubjectPublicKeyInfo), and its algorithms
    GetPublicKey(GetPublicKeyArgs),
    /// An HMAC of a message with a GENERATE_VERIFY_MAC key
    GenerateMac(GenerateMacArgs),
    /// Verify an HMAC with a GENERATE_VERIFY_MAC key
    ///
    /// Prints MacValid: true, or fails with KMSInvalidMacException (exit 254).
    VerifyMac(VerifyMacArgs),
    /// Generate a key pair: public key, private key, and the private key encrypted
    ///
    /// The public key is DER SubjectPublicKeyInfo, the private key PKCS#8 DER; the private key
    /// is also encrypted under a symmetric key, into a blob decrypt opens (with the same
    /// encryption context).
    GenerateDataKeyPair(GenerateDataKeyPairArgs),
    /// Generate a key pair: public key and encrypted private key only
    GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairArgs),
    /// ECDH of a KEY_AGREEMENT key and a peer's public key (computed in the token)
    DeriveSharedSecret(DeriveSharedSecretArgs),
    /// Encrypt files of any size into AWS Encryption SDK messages under one or more keys
    ///
    /// Each input file becomes one message (format version 2, framed), readable by
    /// decrypt-file and by the AWS Encryption SDKs and CLI. The output of a file is written
    /// under a temporary name (mode 0600) in its destination directory, synced, and renamed
    /// into place once the whole message is written; on any error nothing is left behind. An
    /// existing output is kept unless --force is given. Failed files are named on stderr, one
    /// line each; the others are still done, and the exit code is then 1.
    EncryptFile(EncryptFileArgs),
    /// Decrypt AWS Encryption SDK messages (from encrypt-file or an AWS Encryption SDK)
    ///
    /// A file output is written under a temporary name (mode 0600) in its destination
    /// directory and renamed into place only after the whole message, with its signature,
    /// has verified: a tampered, truncated or unreadable message leaves no output at all.
    /// To stdout (--output -), plaintext of authenticated frames is written before the end is
    /// checked; use a file output for all-or-nothing. Without --key-id, any KMS key the caller
    /// may use to decrypt is tried (discovery). With --recursive, only files whose names end
    /// with the suffix are taken. Failed files are named on stderr, one line each; the others
    /// are still done, and the exit code is then 1.
    DecryptFile(DecryptFileArgs),
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Directory to provision (recreated if an earlier demo made it)
    #[arg(long, default_value = "lockbox-demo")]
    pub(crate) home: String,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:7300)
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// PEM certificate chain, leaf first: serve HTTPS (needs --tls-key)
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub(crate) tls_cert: Option<String>,
    /// PEM private key of the certificate
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub(crate) tls_key: Option<String>,
    /// Serve plain HTTP on a non-loopback address. Dangerous: plaintexts and data keys cross
    /// the network in the clear
    #[arg(long)]
    pub(crate) dangerously_allow_plain_http: bool,
    /// Run due maintenance (automatic rotations, deletions, expiry of imported material; each
    /// action audited) and reconciliation every SECONDS
    #[arg(long, value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) maintenance_interval: u64,
    /// The log on stderr (startup, one line per request, refusals included): text or JSON
    /// lines. Levels come from RUST_LOG (default info)
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub(crate) log_format: crate::logging::LogFormat,
}

#[derive(Args)]
pub(crate) struct KeyIdArgs {
    /// Key ID or key ARN (key-usage also takes an alias name or alias ARN)
    #[arg(long)]
    pub(crate) key_id: String,
}

#[derive(Args)]
pub(crate) struct DescribeKeyArgs {
    /// Key ID, key ARN, alias name or alias ARN
    #[arg(long)]
    pub(crate) key_id: String,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
}

/// The AWS CLI's `--grant-tokens`, for the operations a grant can allow.
#[derive(Args)]
pub(crate) struct GrantTokenArgs {
    /// Grant tokens from create-grant, up to 10 (a grant works without its token in Lockbox;
    /// a token given must be one Lockbox issued)
    #[arg(long, num_args = 1.., value_name = "TOKEN")]
    pub(crate) grant_tokens: Vec<String>,
}

/// The AWS CLI's `--dry-run` / `--no-dry-run`, for the operations whose model has DryRun.
#[derive(Args)]
pub(crate) struct DryRunArgs {
    /// Check that the call would succeed (key, state, permissions, parameters) without making
    /// it: the answer is DryRunOperationException if it would have
    #[arg(long, overrides_with = "no_dry_run")]
    pub(crate) dry_run: bool,
    /// Make the call (the default)
    #[arg(long = "no-dry-run", overrides_with = "dry_run")]
    pub(crate) no_dry_run: bool,
}

#[derive(Args)]
pub(crate) struct CreateKeyArgs {
    /// Description (up to 8192 characters)
    #[arg(long, default_value = "")]
    pub(crate) description: String,
    /// ENCRYPT_DECRYPT (the default for SYMMETRIC_DEFAULT), SIGN_VERIFY, GENERATE_VERIFY_MAC
    /// or KEY_AGREEMENT; required with every other key spec
    #[arg(long)]
    pub(crate) key_usage: Option<String>,
    /// SYMMETRIC_DEFAULT (the default), RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256,
    /// ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, HMAC_224, HMAC_256, HMAC_384 or
    /// HMAC_512
    #[arg(long)]
    pub(crate) key_spec: Option<String>,
    /// AWS_KMS (the default) or EXTERNAL (no material: import it with
    /// get-parameters-for-import and import-key-material)
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// Tags: TagKey=k,TagValue=v ... or JSON [{"TagKey":"k","TagValue":"v"}]
    #[arg(long, num_args = 1..)]
    pub(crate) tags: Vec<String>,
    /// The key policy: a JSON document, or file://PATH (default: every principal of the
    /// key's account may do everything)
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Create the key even if its policy would not let you change the policy later.
    /// Dangerous: no one may then be able to manage the key
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
    /// Create a multi-Region primary key (an mrk- id), to replicate into other Regions with
    /// replicate-key
    #[arg(long)]
    pub(crate) multi_region: bool,
}

#[derive(Args)]
pub(crate) struct ReplicateKeyArgs {
    /// The multi-Region primary key: key ID or key ARN, in this command's Region
    #[arg(long)]
    pub(crate) key_id: String,
    /// The Region of the new replica (such as eu-west-1); it must hold no key of the family
    #[arg(long)]
    pub(crate) replica_region: String,
    /// The replica's key policy: a JSON document, or file://PATH (default: every principal of
    /// the key's account may do everything). Not shared with the primary
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Create the replica even if its policy would not let you change the policy later.
    /// Dangerous: no one may then be able to manage the replica
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
    /// The replica's description (default: none; not the primary's)
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// The replica's tags (default: none; not the primary's): TagKey=k,TagValue=v ... or JSON
    /// [{"TagKey":"k","TagValue":"v"}]
    #[arg(long, num_args = 1..)]
    pub(crate) tags: Vec<String>,
}

#[derive(Args)]
pub(crate) struct UpdatePrimaryRegionArgs {
    /// The current multi-Region primary key: key ID or key ARN, in this command's Region
    #[arg(long)]
    pub(crate) key_id: String,
    /// The Region of the replica that becomes the primary
    #[arg(long)]
    pub(crate) primary_region: String,
}

/// The AWS CLI's pagination flags.
#[derive(Args)]
pub(crate) struct PageArgs {
    /// Stop after this many items and print a NextToken
    #[arg(long)]
    pub(crate) max_items: Option<u32>,
    /// Items fetched per call
    #[arg(long)]
    pub(crate) page_size: Option<u32>,
    /// Resume from the NextToken of an earlier call
    #[arg(long)]
    pub(crate) starting_token: Option<String>,
    /// With --no-paginate: the one call's Limit
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// With --no-paginate: the one call's Marker (a NextMarker printed before)
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Args)]
pub(crate) struct UpdateKeyDescriptionArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// The new description
    #[arg(long)]
    pub(crate) description: String,
}

#[derive(Args)]
pub(crate) struct ScheduleKeyDeletionArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Waiting period, 7 to 30 days (default 30)
    #[arg(long)]
    pub(crate) pending_window_in_days: Option<u32>,
}

#[derive(Args)]
pub(crate) struct EnableKeyRotationArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Days between automatic rotations, 90 to 2560 (default 365)
    #[arg(long)]
    pub(crate) rotation_period_in_days: Option<u32>,
}

#[derive(Args)]
pub(crate) struct ListKeyRotationsArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// ROTATIONS_ONLY (the default) or ALL_KEY_MATERIAL (adds the key's first material)
    #[arg(long)]
    pub(crate) include_key_material: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Args)]
pub(crate) struct GetParametersForImportArgs {
    /// Key ID or key ARN of a key of origin EXTERNAL
    #[arg(long)]
    pub(crate) key_id: String,
    /// RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256
    #[arg(long)]
    pub(crate) wrapping_algorithm: String,
    /// RSA_2048, RSA_3072 or RSA_4096
    #[arg(long)]
    pub(crate) wrapping_key_spec: String,
    /// Also write the wrapping public key (DER) to this file
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key_out: Option<String>,
    /// Also write the import token to this file
    #[arg(long, value_name = "FILE")]
    pub(crate) import_token_out: Option<String>,
}

#[derive(Args)]
pub(crate) struct ImportKeyMaterialArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// The import token from get-parameters-for-import: fileb://PATH or base64
    #[arg(long)]
    pub(crate) import_token: String,
    /// The wrapped key material: fileb://PATH or base64
    #[arg(long)]
    pub(crate) encrypted_key_material: String,
    /// KEY_MATERIAL_EXPIRES (the default; needs --valid-to) or KEY_MATERIAL_DOES_NOT_EXPIRE
    #[arg(long)]
    pub(crate) expiration_model: Option<String>,
    /// When the material expires: 2026-12-31T00:00:00Z or seconds since 1970 (at most 365
    /// days ahead)
    #[arg(long)]
    pub(crate) valid_to: Option<String>,
    /// NEW_KEY_MATERIAL or EXISTING_KEY_MATERIAL (symmetric keys; see rotate-key-on-demand)
    #[arg(long)]
    pub(crate) import_type: Option<String>,
    /// A description of this material (symmetric keys)
    #[arg(long)]
    pub(crate) key_material_description: Option<String>,
    /// The KeyMaterialId being re-imported (symmetric keys)
    #[arg(long)]
    pub(crate) key_material_id: Option<String>,
}

#[derive(Args)]
pub(crate) struct DeleteImportedKeyMaterialArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Which material (default: the current one)
    #[arg(long)]
    pub(crate) key_material_id: Option<String>,
}

#[derive(Args)]
pub(crate) struct AliasArgs {
    /// alias/NAME
    #[arg(long)]
    pub(crate) alias_name: String,
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) target_key_id: String,
}

#[derive(Args)]
pub(crate) struct AliasNameArgs {
    /// alias/NAME
    #[arg(long)]
    pub(crate) alias_name: String,
}

#[derive(Args)]
pub(crate) struct ListAliasesArgs {
    /// Only aliases of this key (key ID or key ARN)
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Args)]
pub(crate) struct TagResourceArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Tags: TagKey=k,TagValue=v ... or JSON [{"TagKey":"k","TagValue":"v"}]
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) tags: Vec<String>,
}

#[derive(Args)]
pub(crate) struct UntagResourceArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Tag keys to remove
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) tag_keys: Vec<String>,
}

#[derive(Args)]
pub(crate) struct ListResourceTagsArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Args)]
pub(crate) struct PutKeyPolicyArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// The policy: a JSON document, or file://PATH
    #[arg(long)]
    pub(crate) policy: String,
    /// default (a key has one policy, named default)
    #[arg(long)]
    pub(crate) policy_name: Option<String>,
    /// Apply the policy even if it would not let you change it again. Dangerous: no one
    /// may then be able to manage the key
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
}

#[derive(Args)]
pub(crate) struct GetKeyPolicyArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// default (a key has one policy, named default)
    #[arg(long)]
    pub(crate) policy_name: Option<String>,
}

#[derive(Args)]
pub(crate) struct ListKeyPoliciesArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Args)]
pub(crate) struct CreateGrantArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Who gets the permissions: a principal ARN (arn:aws:iam::ACCOUNT:root, user/NAME,
    /// role/NAME, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)
    #[arg(long)]
    pub(crate) grantee_principal: String,
    /// The operations allowed, e.g. Encrypt Decrypt GenerateDataKey ReEncryptFrom
    /// ReEncryptTo GenerateDataKeyWithoutPlaintext DescribeKey CreateGrant RetireGrant
    #[arg(long, num_args = 1.., required = true, value_name = "OPERATION")]
    pub(crate) operations: Vec<String>,
    /// Who may retire the grant (a principal ARN)
    #[arg(long)]
    pub(crate) retiring_principal: Option<String>,
    /// Conditions on the encryption context: EncryptionContextSubset={k1=v1,k2=v2} (the
    /// request's context must contain these pairs) or EncryptionContextEquals={k1=v1} (it
    /// must be exactly these), or JSON {"EncryptionContextSubset":{"k1":"v1"}}, or file://PATH
    #[arg(long)]
    pub(crate) constraints: Option<String>,
    /// A name: retrying with the same name and parameters returns the same grant
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct ListGrantsArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Only this grant
    #[arg(long)]
    pub(crate) grant_id: Option<String>,
    /// Only grants for this principal ARN
    #[arg(long)]
    pub(crate) grantee_principal: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Args)]
pub(crate) struct ListRetirableGrantsArgs {
    /// The principal ARN whose retirable grants to list (in your account)
    #[arg(long)]
    pub(crate) retiring_principal: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// Either `--grant-token`, or `--key-id` with `--grant-id`: clap refuses any other shape,
/// naming the flags.
#[derive(Args)]
#[command(group(ArgGroup::new("grant").required(true).args(["grant_token", "key_id"])))]
pub(crate) struct RetireGrantArgs {
    /// The grant token create-grant returned
    #[arg(long)]
    pub(crate) grant_token: Option<String>,
    /// Key ID or key ARN (with --grant-id)
    #[arg(long, requires = "grant_id")]
    pub(crate) key_id: Option<String>,
    /// The grant id (with --key-id)
    #[arg(long, requires = "key_id", conflicts_with = "grant_token")]
    pub(crate) grant_id: Option<String>,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct RevokeGrantArgs {
    /// Key ID or key ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// The grant id
    #[arg(long)]
    pub(crate) grant_id: String,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct EncryptArgs {
    /// Key ID, key ARN, alias name or alias ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// Data to encrypt: fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) plaintext: String,
    /// Encryption context: k1=v1,k2=v2 or JSON {"k1":"v1"}
    #[arg(long)]
    pub(crate) encryption_context: Option<String>,
    /// SYMMETRIC_DEFAULT (the default)
    #[arg(long)]
    pub(crate) encryption_algorithm: Option<String>,
    /// Write the raw ciphertext blob to this file (- for standard output) instead of
    /// printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) ciphertext_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct DecryptArgs {
    /// The ciphertext blob: fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) ciphertext_blob: String,
    /// The encryption context it was made with
    #[arg(long)]
    pub(crate) encryption_context: Option<String>,
    /// Require the blob to be this key's (any key reference form)
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// SYMMETRIC_DEFAULT (the default)
    #[arg(long)]
    pub(crate) encryption_algorithm: Option<String>,
    /// Write the raw plaintext to this file (mode 0600; - for standard output) instead of
    /// printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) plaintext_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct ReEncryptArgs {
    /// The ciphertext blob: fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) ciphertext_blob: String,
    /// The key to encrypt under (any key reference form)
    #[arg(long)]
    pub(crate) destination_key_id: String,
    /// Require the blob to be this key's
    #[arg(long)]
    pub(crate) source_key_id: Option<String>,
    /// The encryption context the blob was made with
    #[arg(long)]
    pub(crate) source_encryption_context: Option<String>,
    /// The encryption context to bind to the new blob
    #[arg(long)]
    pub(crate) destination_encryption_context: Option<String>,
    /// SYMMETRIC_DEFAULT (the default)
    #[arg(long)]
    pub(crate) source_encryption_algorithm: Option<String>,
    /// SYMMETRIC_DEFAULT (the default)
    #[arg(long)]
    pub(crate) destination_encryption_algorithm: Option<String>,
    /// Write the raw new ciphertext blob to this file (- for standard output)
    #[arg(long, value_name = "FILE")]
    pub(crate) ciphertext_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct GenerateDataKeyArgs {
    /// Key ID, key ARN, alias name or alias ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// AES_256 or AES_128 (or give --number-of-bytes)
    #[arg(long)]
    pub(crate) key_spec: Option<String>,
    /// Length of the data key, 1 to 1024 bytes (or give --key-spec)
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) number_of_bytes: Option<i64>,
    /// Encryption context: k1=v1,k2=v2 or JSON {"k1":"v1"}
    #[arg(long)]
    pub(crate) encryption_context: Option<String>,
    /// Write the raw encrypted data key to this file instead of printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) ciphertext_out: Option<String>,
    /// Write the raw plaintext data key to this file (mode 0600) instead of printing it
    /// in base64 (generate-data-key only)
    #[arg(long, value_name = "FILE")]
    pub(crate) plaintext_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct GenerateRandomArgs {
    /// How many bytes, 1 to 1024
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) number_of_bytes: Option<i64>,
    /// Write the raw bytes to this file (mode 0600; - for standard output) instead of
    /// printing them in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) plaintext_out: Option<String>,
}

#[derive(Args)]
pub(crate) struct SignArgs {
    /// Key ID, key ARN, alias name or alias ARN of a SIGN_VERIFY key
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message (up to 4096 bytes), or its digest with --message-type DIGEST:
    /// fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) message: String,
    /// RAW (the default: Lockbox hashes the message) or DIGEST (the message is the digest, of
    /// exactly the algorithm's hash length)
    #[arg(long)]
    pub(crate) message_type: Option<String>,
    /// RSASSA_PSS_SHA_256|384|512, RSASSA_PKCS1_V1_5_SHA_256|384|512 or ECDSA_SHA_256|384|512
    /// (the key's spec allows some: see describe-key)
    #[arg(long)]
    pub(crate) signing_algorithm: String,
    /// Write the raw signature to this file (- for standard output) instead of printing it in
    /// base64
    #[arg(long, value_name = "FILE")]
    pub(crate) signature_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// Key ID, key ARN, alias name or alias ARN of a SIGN_VERIFY key
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message that was signed, or its digest with --message-type DIGEST: fileb://PATH for
    /// raw bytes, or base64
    #[arg(long)]
    pub(crate) message: String,
    /// RAW (the default) or DIGEST
    #[arg(long)]
    pub(crate) message_type: Option<String>,
    /// The signature: fileb://PATH for raw bytes (as sign --signature-out writes it), or base64
    #[arg(long)]
    pub(crate) signature: String,
    /// The algorithm the signature was made with
    #[arg(long)]
    pub(crate) signing_algorithm: String,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct GetPublicKeyArgs {
    /// Key ID, key ARN, alias name or alias ARN of an asymmetric key
    #[arg(long)]
    pub(crate) key_id: String,
    /// Write the raw DER public key to this file (- for standard output) instead of printing
    /// it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
}

#[derive(Args)]
pub(crate) struct GenerateMacArgs {
    /// Key ID, key ARN, alias name or alias ARN of a GENERATE_VERIFY_MAC key
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message, up to 4096 bytes: fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) message: String,
    /// HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384 or HMAC_SHA_512 (the one the key's spec names)
    #[arg(long)]
    pub(crate) mac_algorithm: String,
    /// Write the raw MAC to this file (- for standard output) instead of printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) mac_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct VerifyMacArgs {
    /// Key ID, key ARN, alias name or alias ARN of a GENERATE_VERIFY_MAC key
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message: fileb://PATH for raw bytes, or base64
    #[arg(long)]
    pub(crate) message: String,
    /// The algorithm the MAC was made with
    #[arg(long)]
    pub(crate) mac_algorithm: String,
    /// The MAC: fileb://PATH for raw bytes (as generate-mac --mac-out writes it), or base64
    #[arg(long)]
    pub(crate) mac: String,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct GenerateDataKeyPairArgs {
    /// The symmetric key that encrypts the private key: key ID, key ARN, alias name or alias
    /// ARN
    #[arg(long)]
    pub(crate) key_id: String,
    /// RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521 or
    /// ECC_SECG_P256K1
    #[arg(long)]
    pub(crate) key_pair_spec: String,
    /// Encryption context of the encrypted private key: k1=v1,k2=v2 or JSON {"k1":"v1"}
    #[arg(long)]
    pub(crate) encryption_context: Option<String>,
    /// Write the raw DER public key (SubjectPublicKeyInfo) to this file instead of printing it
    /// in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key_out: Option<String>,
    /// Write the raw PKCS#8 DER private key to this file (mode 0600) instead of printing it in
    /// base64 (generate-data-key-pair only)
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key_out: Option<String>,
    /// Write the raw encrypted private key to this file instead of printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) ciphertext_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Args)]
pub(crate) struct DeriveSharedSecretArgs {
    /// Key ID, key ARN, alias name or alias ARN of a KEY_AGREEMENT key
    #[arg(long)]
    pub(crate) key_id: String,
    /// ECDH
    #[arg(long)]
    pub(crate) key_agreement_algorithm: String,
    /// The peer's public key, DER SubjectPublicKeyInfo on the key's curve: fileb://PATH for
    /// raw bytes, or base64
    #[arg(long)]
    pub(crate) public_key: String,
    /// Write the raw shared secret to this file (mode 0600; - for standard output) instead of
    /// printing it in base64
    #[arg(long, value_name = "FILE")]
    pub(crate) shared_secret_out: Option<String>,
    #[command(flatten)]
    pub(crate) grant_tokens: GrantTokenArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Write audited calls as JSON Lines with CloudTrail's field names
    Export(AuditExportArgs),
    /// Check the hash chain, every seal (in the token) and the token's high-water mark
    ///
    /// Prints a short report. Exits 0 when everything agrees (records after the last seal
    /// are reported as an unsealed tail, not a problem), 1 when something does not, with
    /// each problem named by its sequence number. A pruned log is checked from the seal
    /// it kept on; with --exported, the segment files pruning wrote are checked too.
    Verify(AuditVerifyArgs),
    /// Export the sealed segments `[audit] retention` lets go to segment files and remove
    /// them from the store (what maintenance does on its own)
    ///
    /// Prints one line per file written and where the stored chain starts now. Does nothing
    /// when no retention is configured or given.
    Prune(AuditPruneArgs),
}

#[derive(Args)]
pub(crate) struct AuditPruneArgs {
    /// Prune segments sealed longer ago than this (a number and s, m, h or d: 90d), instead
    /// of `[audit] retention`
    #[arg(long, value_name = "AGE")]
    pub(crate) retention: Option<String>,
    /// Prune the oldest segments while at least N entries stay after them, instead of
    /// `[audit] retention_records`
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) retention_records: Option<u64>,
}

impl AuditPruneArgs {
    /// `configured`, with what the options give in place of its settings (both replaced
    /// when either is given).
    pub(crate) fn retention(
        &self,
        configured: &lockbox::audit::Retention,
    ) -> Result<lockbox::audit::Retention, crate::error::CliError> {
        if self.retention.is_none() && self.retention_records.is_none() {
            return Ok(configured.clone());
        }
        let max_age = self
            .retention
            .as_deref()
            .map(lockbox::audit::parse_age)
            .transpose()
            .map_err(|e| crate::error::CliError::param("--retention", e))?;
        Ok(lockbox::audit::Retention {
            max_age,
            max_records: self.retention_records,
            export_dir: configured.export_dir.clone(),
        })
    }
}

#[derive(Args)]
pub(crate) struct AuditVerifyArgs {
    /// Also check the segment files in this directory (pruning's export directory): each
    /// on its own, each against the one before, and the last against the store
    #[arg(long, value_name = "DIR")]
    pub(crate) exported: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum CredentialsCommand {
    /// Make a new access key for a principal; its secret is printed once (to a terminal)
    Create {
        /// The principal it authenticates as (an IAM ARN: arn:aws:iam::ACCOUNT:root,
        /// :user/NAME, :role/NAME)
        #[arg(long)]
        principal: String,
    },
    /// List the access key ids and their principals (never a secret)
    List,
    /// Remove an access key: requests signed with it are refused from then on
    Delete {
        /// The access key id to remove
        #[arg(long)]
        access_key_id: String,
    },
}

#[derive(Args)]
pub(crate) struct AuditExportArgs {
    /// Only events at or after this time (RFC 3339, e.g. 2025-01-01T00:00:00Z)
    #[arg(long)]
    pub(crate) start_time: Option<String>,
    /// Only events at or before this time (RFC 3339)
    #[arg(long)]
    pub(crate) end_time: Option<String>,
    /// Only events on this key: key ID, key ARN, alias name or alias ARN (an alias is resolved
    /// to the key it names now). Refusals name no key, so they are left out
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// Only events by this principal (ARN)
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// Write to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<String>,
}

/// What `encrypt-file` and `decrypt-file` read and where they write.
#[derive(Args)]
pub(crate) struct FileArgs {
    /// Where to write: a file (one input), a directory (several inputs, or --recursive: the
    /// input tree is mirrored below it), or - for standard output (one input). Default: next to
    /// each input
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) output: Option<String>,
    /// The suffix encrypt-file appends to output names and decrypt-file strips
    #[arg(long, default_value = ".encrypted")]
    pub(crate) suffix: String,
    /// Take every regular file below each directory input (symbolic links are not followed)
    #[arg(long, short = 'r')]
    pub(crate) recursive: bool,
    /// Replace outputs that already exist
    #[arg(long)]
    pub(crate) force: bool,
    /// No progress bar
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// At the end, print on stderr how many files were done, how many data keys came from
    /// the KMS, and how many came from the cache
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
    /// Files, directories (with --recursive), or - for standard input
    #[arg(required = true, value_name = "INPUT")]
    pub(crate) inputs: Vec<String>,
}

#[derive(Args)]
pub(crate) struct EncryptFileArgs {
    /// A key to encrypt the data key under (key ID, key ARN, alias name or alias ARN); repeat
    /// for more keys: the message then decrypts with any one of them. The first generates the
    /// data key
    #[arg(long = "key-id", required = true, value_name = "KEY_ID")]
    pub(crate) key_ids: Vec<String>,
    /// Encryption context pairs, k1=v1,k2=v2 or JSON {"k1":"v1"}; may be repeated. Stored in
    /// the clear in the message and authenticated
    #[arg(long, value_name = "PAIRS")]
    pub(crate) encryption_context: Vec<String>,
    /// 0578 (AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 signature) or 0478 (the
    /// same without the signature)
    #[arg(long, default_value = "0578", value_name = "SUITE")]
    pub(crate) algorithm_suite: String,
    /// Plaintext bytes per frame, 1 to 2147483647
    #[arg(long, default_value_t = 65536, value_name = "BYTES")]
    pub(crate) frame_length: u32,
    /// Reuse a data key for up to this many seconds across the files of this run (as the AWS
    /// Encryption SDK's caching materials manager does); without it, every file gets its own.
    /// Standard input, of unknown length, always gets its own
    #[arg(long, value_name = "SECONDS")]
    pub(crate) cache_max_age: Option<u64>,
    /// With --cache-max-age: messages per cached data key (default 2^32)
    #[arg(long, requires = "cache_max_age", value_name = "N")]
    pub(crate) cache_max_messages: Option<u64>,
    /// With --cache-max-age: plaintext bytes per cached data key (default 2^63-1)
    #[arg(long, requires = "cache_max_age", value_name = "N")]
    pub(crate) cache_max_bytes: Option<u64>,
    /// With --cache-max-age: data keys held at once (default 100)
    #[arg(long, requires = "cache_max_age", value_name = "N")]
    pub(crate) cache_capacity: Option<usize>,
    #[command(flatten)]
    pub(crate) files: FileArgs,
}

#[derive(Args)]
pub(crate) struct DecryptFileArgs {
    /// Decrypt only with this key (key ID, key ARN, alias name or alias ARN); may be
    /// repeated. Without it, any KMS key named in the message is tried (discovery)
    #[arg(long = "key-id", value_name = "KEY_ID")]
    pub(crate) key_ids: Vec<String>,
    /// Pairs the message's encryption context must hold, k1=v1,k2=v2 or JSON {"k1":"v1"};
    /// may be repeated. A message without them is refused before any KMS call
    #[arg(long, value_name = "PAIRS")]
    pub(crate) encryption_context: Vec<String>,
    /// Refuse messages with more encrypted data keys than this (before any KMS call)
    #[arg(long, value_name = "N")]
    pub(crate) max_encrypted_data_keys: Option<u16>,
    /// Refuse messages whose frames are longer than this many bytes (before any KMS call): a
    /// frame is held in memory, one per thread, until it authenticates
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_frame_length: Option<u32>,
    /// Reuse a decrypted data key for up to this many seconds across the files of this run
    #[arg(long, value_name = "SECONDS")]
    pub(crate) cache_max_age: Option<u64>,
    #[command(flatten)]
    pub(crate) files: FileArgs,
}

#[derive(Args)]
pub(crate) struct BackupArgs {
    /// The backup directory to create (it must not exist)
    #[arg(value_name = "DEST")]
    pub(crate) dest: std::path::PathBuf,
    /// Also copy the SoftHSM token's PIN files: whoever holds the backup then holds the keys
    #[arg(long)]
    pub(crate) include_pins: bool,
    /// Also copy credentials.toml (the server's secret access keys)
    #[arg(long)]
    pub(crate) include_credentials: bool,
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory (omit it to finish an interrupted restore)
    #[arg(value_name = "SRC")]
    pub(crate) src: Option<std::path::PathBuf>,
    /// Accept the rollback the comparison prints, and restore
    #[arg(long)]
    pub(crate) accept_rollback: bool,
}

/// Flags of `doctor`.
#[derive(Args)]
pub(crate) struct DoctorArgs {
    /// Make the safe repairs (restore the token's root file from its verified copy, refresh
    /// the copy after a login, remove incomplete sled snapshots, take group and other
    /// permissions off), and refuse the unsafe ones, saying why
    #[arg(long)]
    pub(crate) repair: bool,
    /// Print the report as one JSON object (Ok, Summary, Problems, Lines, Token, KeySpecs)
    /// instead of lines; the exit status is the same
    #[arg(long)]
    pub(crate) json: bool,
}
