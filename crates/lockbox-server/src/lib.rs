//! Lockbox on the wire: the only crate that knows HTTP.
//!
//! - [`wire`]: the AWS KMS JSON 1.1 protocol: every operation's request and response bodies
//!   (blobs as base64, timestamps as epoch seconds) and errors (`{"__type", "message"}`),
//!   for both ends: the server decodes requests and encodes responses, the remote client the
//!   reverse.
//! - [`sigv4`] and [`credentials`]: AWS Signature Version 4, verified against a credentials
//!   file (access key id -> secret, principal) on the server and made by the client.
//! - [`server`] and [`throttle`]: `lockbox serve`: HTTP/1.1 (TLS with rustls), limits,
//!   per-account token-bucket throttling, health, graceful shutdown; engine calls run on
//!   blocking threads, never on the async workers.
//! - [`remote`]: [`remote::RemoteKms`], a [`lockbox_api::Kms`] that calls a server.
//! - [`admin`]: the local admin socket `lockbox serve` offers in its data directory, through
//!   which `lockbox backup` reaches the serving engine.
#![forbid(unsafe_code)]

pub mod admin;
pub mod credentials;
pub mod error;
pub mod http_client;
pub mod remote;
pub mod server;
pub mod sigv4;
pub mod throttle;
pub mod wire;

pub use error::WireError;
