//! Errors as the wire carries them: [`WireError`], defined with the wire shapes in
//! lockbox-api.

pub use lockbox_api::wire::WireError;
