//! `lockbox serve`: the data directory's engine as an AWS KMS endpoint.
//!
//! Opens (and on first use provisions) the data directory, creates `credentials.toml` (0600)
//! with a first credential for the configured default caller if there is none, starts the
//! server, prints what to paste into a shell to use it with the AWS CLI, and serves until
//! SIGINT or SIGTERM, then shuts down gracefully.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use lockbox_server::admin::AdminSocket;
use lockbox_server::credentials::CredentialStore;
use lockbox_server::server::{AwsKms, Server, ServerConfig, ServerError};

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::home;

/// The credentials file's name inside the data directory.
const CREDENTIALS_FILE: &str = "credentials.toml";

/// Writes a line to standard output; a closed pipe ends the command with an error.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| CliError::Setup(format!("cannot write output: {e}")))?
    };
}

pub(crate) fn serve(a: ServeArgs) -> Result<(), CliError> {
    crate::logging::init(a.log_format)?;
    let dir = home::data_dir()?;
    let mut config = ServerConfig::load(&dir).map_err(setup)?;
    if let Some(listen) = a.listen {
        config.listen = listen;
    }
    if let Some(cert) = a.tls_cert {
        config.tls_cert = Some(PathBuf::from(cert));
    }
    if let Some(key) = a.tls_key {
        config.tls_key = Some(PathBuf::from(key));
    }
    if a.dangerously_allow_plain_http {
        config.dangerously_allow_plain_http = true;
    }
    // Before anything is provisioned or created: a refused configuration changes nothing.
    config.check_all().map_err(setup)?;

    let engine = Arc::new(home::open_engine(&dir)?);
    // What is served, for the log (the server adds its address, Regions and TLS).
    let installed = lockbox::Config::load(&dir)?;
    tracing::info!(
        data_dir = %dir.display(),
        store = %installed.data_dir.join("metadata").display(),
        token = %installed.token.token,
        token_module = %installed.token.module.display(),
        label_prefix = %installed.token.label_prefix,
        account = %installed.arn.account(),
        "lockbox serve: opened the data directory"
    );
    let path = dir.join(CREDENTIALS_FILE);
    let created = if path.exists() {
        None
    } else {
        let principal = engine.default_caller("cli").principal().clone();
        let new = CredentialStore::create(&path, &principal)
            .map_err(|e| CliError::Setup(format!("{}: {e}", path.display())))?;
        Some((principal, new))
    };
    // Read now, and again whenever it changes: no restart after adding or removing one.
    let credentials =
        AwsKms::watching(&path).map_err(|e| CliError::Setup(format!("{}: {e}", path.display())))?;

    let region = config
        .region
        .clone()
        .unwrap_or_else(|| engine.arn_scope().region().to_owned());
    let tls = config.tls();
    let cert = config.tls_cert.clone();
    let admin = AdminSocket::start_with(
        Arc::clone(&engine),
        &dir,
        Some(crate::through_server::runner()),
    )
    .map_err(setup)?;
    // Due rotations, deletions and expiries happen while it serves, not only when it opens.
    let maintenance = engine
        .start_maintenance(std::time::Duration::from_secs(a.maintenance_interval))
        .map_err(|e| CliError::Setup(format!("cannot start the maintenance thread: {e}")))?;
    let server =
        Server::start_with_runner(engine, credentials, config, crate::through_server::runner())
            .map_err(setup)?;
    server.shutdown_on_signal().map_err(setup)?;

    let addr = server.local_addr();
    let host = if addr.ip().is_unspecified() {
        if tls {
            "localhost".to_owned()
        } else {
            "127.0.0.1".to_owned()
        }
    } else if tls && addr.ip().is_loopback() {
        "localhost".to_owned()
    } else {
        match addr {
            std::net::SocketAddr::V4(v4) => v4.ip().to_string(),
            std::net::SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        }
    };
    let endpoint = format!(
        "{}://{host}:{}",
        if tls { "https" } else { "http" },
        addr.port()
    );
    say!(
        "lockbox: serving AWS KMS at {endpoint} (listening on {addr}; data directory {})",
        dir.display()
    );
    say!("Credentials: {} (mode 0600)", path.display());
    say!(
        "Maintenance: due rotations, deletions and expiries every {} s (audited)",
        a.maintenance_interval
    );
    say!(
        "Admin socket: {} (lockbox commands on this data directory run through it)\n",
        admin.path().display()
    );
    match created {
        Some((principal, new)) if std::io::stdout().is_terminal() => {
            say!("A first credential was created for {principal}.");
            say!("Its secret is shown this once; paste these lines into your shell:\n");
            say!("export AWS_ACCESS_KEY_ID={}", new.access_key_id());
            say!(
                "export AWS_SECRET_ACCESS_KEY={}",
                new.secret().expose_secret()
            );
        }
        Some((principal, new)) => {
            say!("A first credential was created for {principal}.");
            say!(
                "Standard output is not a terminal, so its secret is not printed; read \
                 secret_access_key from {} for access key {}:\n",
                path.display(),
                new.access_key_id()
            );
            say!("export AWS_ACCESS_KEY_ID={}", new.access_key_id());
            say!("export AWS_SECRET_ACCESS_KEY=<secret_access_key from the credentials file>");
        }
        None => {
            say!("Use a credential from the credentials file (secrets were shown when created):\n");
            say!("export AWS_ACCESS_KEY_ID=<access key id>");
            say!("export AWS_SECRET_ACCESS_KEY=<its secret>");
        }
    }
    // AWS_REGION for the AWS CLI v2 and the SDKs; the AWS CLI v1 reads only the other.
    say!("export AWS_REGION={region} AWS_DEFAULT_REGION={region}");
    if let (true, Some(cert)) = (tls, cert) {
        say!(
            "export AWS_CA_BUNDLE={}    # if the certificate is self-signed",
            cert.display()
        );
    }
    say!("\naws kms create-key --endpoint-url {endpoint}\n");
    say!("Serving until SIGINT (Ctrl-C) or SIGTERM.");
    server.wait().map_err(setup)?;
    drop(maintenance);
    drop(admin);
    say!("lockbox: stopped");
    Ok(())
}

fn setup(e: ServerError) -> CliError {
    CliError::Setup(e.to_string())
}
