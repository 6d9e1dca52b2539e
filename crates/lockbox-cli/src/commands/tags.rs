//! tag-resource, untag-resource, list-resource-tags.

use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{ListResourceTagsArgs, TagResourceArgs, UntagResourceArgs};
use crate::error::{CliError, OrKms};
use crate::output::{TagOut, print_json};
use crate::params;

pub(crate) fn tag_resource(kms: &dyn Kms, a: TagResourceArgs) -> Result<(), CliError> {
    const OP: &str = "TagResource";
    let key = params::key_ref(OP, &a.key_id)?;
    let tags = params::tags("--tags", &a.tags)?;
    kms.tag_resource(TagResourceRequest::new(key, tags)).op(OP)
}

pub(crate) fn untag_resource(kms: &dyn Kms, a: UntagResourceArgs) -> Result<(), CliError> {
    const OP: &str = "UntagResource";
    let key = params::key_ref(OP, &a.key_id)?;
    kms.untag_resource(UntagResourceRequest::new(key, a.tag_keys))
        .op(OP)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsOut {
    tags: Vec<TagOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_resource_tags(kms: &dyn Kms, a: ListResourceTagsArgs) -> Result<(), CliError> {
    const OP: &str = "ListResourceTags";
    let key = params::key_ref(OP, &a.key_id)?;
    let (tags, next_token) = paginate(&a.page, 50, |limit, marker| {
        let mut req = ListResourceTagsRequest::new(key.clone());
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_resource_tags(req).op(OP)?;
        Ok((
            page.tags.iter().map(TagOut::from).collect(),
            page.next_marker,
        ))
    })?;
    print_json(&ListTagsOut { tags, next_token })
}
