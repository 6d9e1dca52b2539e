//! One module per family of commands; each command parses its flags into a request, calls
//! the engine, and prints the answer.

pub(crate) mod aliases;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod credentials;
pub(crate) mod crypto;
pub(crate) mod decrypt_file;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod encrypt_file;
pub(crate) mod grants;
pub(crate) mod import;
pub(crate) mod key_pairs;
pub(crate) mod keys;
pub(crate) mod mac;
pub(crate) mod policies;
pub(crate) mod replicas;
pub(crate) mod rotation;
pub(crate) mod serve;
pub(crate) mod signing;
pub(crate) mod tags;
pub(crate) mod token;
pub(crate) mod upkeep;

use crate::cli::PageArgs;
use crate::error::CliError;

/// Fetches pages as the AWS CLI does: all of them, or up to `--max-items` with a NextToken
/// to resume from. `max_limit` is the operation's largest page.
pub(crate) fn paginate<T>(
    page: &PageArgs,
    max_limit: u32,
    mut fetch: impl FnMut(Option<u32>, Option<String>) -> Result<(Vec<T>, Option<String>), CliError>,
) -> Result<(Vec<T>, Option<String>), CliError> {
    // --no-paginate: one call, its Limit and Marker as given (`aws_options::raw_page`).
    if let Some(one) = crate::aws_options::raw_page(page)? {
        return fetch(one.0, one.1);
    }
    let mut items = Vec::new();
    let mut marker = page.starting_token.clone();
    loop {
        let taken = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let remaining = page.max_items.map(|m| m.saturating_sub(taken));
        if remaining == Some(0) {
            return Ok((items, marker));
        }
        let limit = match (page.page_size, remaining) {
            (Some(p), Some(r)) => Some(p.min(r)),
            (Some(p), None) => Some(p),
            (None, Some(r)) => Some(r.min(max_limit)),
            (None, None) => None,
        };
        let (batch, next) = fetch(limit, marker.take())?;
        items.extend(batch);
        match next {
            Some(n) => marker = Some(n),
            None => return Ok((items, None)),
        }
    }
}
