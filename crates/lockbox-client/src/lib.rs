//! A client of a Lockbox server (or of any endpoint that speaks AWS KMS's JSON 1.1 protocol).
//!
//! - [`RemoteKms`]: a [`lockbox_api::Kms`] whose every call is one request through a
//!   [`Transport`]; bodies are encoded and decoded by [`lockbox_api::wire`], the same shapes
//!   the server reads and writes.
//! - [`http_client`]: the HTTP(S) transport (ureq, rustls), SigV4-signed, with credentials
//!   from the environment as the AWS CLI reads them ([`http_client::EnvCredentials`]).
//! - [`sigv4`]: the SigV4 signer, and the canonicalization the server's verifier shares.
//!
//! Depends on lockbox-api only (and an HTTP client): a program that only talks to a server
//! links no cryptoki, sled, hyper or tokio (`tests/deps.rs` checks it).
#![forbid(unsafe_code)]

mod credentials;
pub mod http_client;
mod http_io;
pub mod remote;
pub mod sigv4;

pub use credentials::SecretKey;
pub use http_client::is_transport_failure;
pub use remote::{RemoteKms, Transport, error_from_response, is_throttling};
