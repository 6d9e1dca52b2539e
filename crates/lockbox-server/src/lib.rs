//! Lockbox served on the wire: the only crate that serves HTTP.
//!
//! - [`wire`]: [`wire::serve`]: a request body decoded, the engine called, the answer
//!   encoded, all with the shapes of [`lockbox_api::wire`] (the client uses the same ones).
//! - [`sigv4`] and [`credentials`]: AWS Signature Version 4 verified against a credentials
//!   file (access key id -> secret, principal). The canonicalization is shared with the
//!   signer in lockbox-client (server -> client is an allowed arrow).
//! - [`server`] and [`throttle`]: `lockbox serve`: HTTP/1.1 (TLS with rustls), limits,
//!   per-account token-bucket throttling, health, graceful shutdown; engine calls run on
//!   blocking threads, never on the async workers.
//! - [`admin`]: the local admin socket `lockbox serve` offers in its data directory, through
//!   which `lockbox backup` reaches the serving engine.
//!
//! The remote client (`RemoteKms`, the HTTP transport, the signer) is lockbox-client.
#![forbid(unsafe_code)]

pub mod admin;
pub mod credentials;
pub mod error;
pub mod server;
pub mod sigv4;
pub mod throttle;
pub mod wire;

pub use error::WireError;
