//! The KMS actions a policy may name: [`Action::ALL`], the table's list, sorted by name.
//!
//! Every API operation of botocore's KMS model, plus the three permissions that are no API
//! operation: `ReEncryptFrom` and `ReEncryptTo` (ReEncrypt is authorized as these, once on
//! each key) and `SynchronizeMultiRegionKey`. A statement's actions are compiled to a bit set
//! over this list: bit `i` is `Action::ALL[i]`.

use lockbox_api::Action;

/// Bits in an action set; the const assertion keeps the list inside it.
pub(super) type ActionBits = u128;

const _: () = assert!(Action::ALL.len() <= ActionBits::BITS as usize);

/// The name (without `kms:`) of every action, in the order of [`Action::ALL`].
pub(super) fn names() -> impl Iterator<Item = &'static str> {
    Action::ALL.iter().map(|a| a.name())
}

/// The index in [`Action::ALL`] of a request's action (`kms:Encrypt`), `None` when it is no
/// known KMS action. The canonical spelling is found by binary search; any other casing by a
/// scan.
pub(super) fn index(action: &str) -> Option<usize> {
    let name = strip_service(action)?;
    Action::ALL
        .binary_search_by(|a| a.name().cmp(name))
        .ok()
        .or_else(|| index_of_name(name))
}

/// The index of a policy's action name (without `kms:`), compared case-insensitively.
pub(super) fn index_of_name(name: &str) -> Option<usize> {
    names().position(|known| known.eq_ignore_ascii_case(name))
}

/// `Encrypt` for `kms:Encrypt` (any casing of `kms`), `None` for another service.
pub(super) fn strip_service(action: &str) -> Option<&str> {
    let (service, name) = action.split_once(':')?;
    service.eq_ignore_ascii_case("kms").then_some(name)
}
