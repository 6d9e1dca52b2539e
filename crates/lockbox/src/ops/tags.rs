//! The tag operations: TagResource, UntagResource, ListResourceTags.

use lockbox_api::*;

use crate::authz::Facts;
use crate::core::{Call, Engine, check_limit, invalid_marker, marker_position, opaque_marker};

impl Engine {
    pub(crate) fn tag_resource(
        &self,
        call: &mut Call<'_>,
        req: TagResourceRequest,
    ) -> Result<(), KmsError> {
        self.modify(
            call,
            Action::TagResource,
            &req.key_id,
            Facts::default(),
            |r| merge_tags(&mut r.tags, &req.tags),
        )?;
        Ok(())
    }

    pub(crate) fn untag_resource(
        &self,
        call: &mut Call<'_>,
        req: UntagResourceRequest,
    ) -> Result<(), KmsError> {
        for k in &req.tag_keys {
            check_tag_key(k)?;
        }
        self.modify(
            call,
            Action::UntagResource,
            &req.key_id,
            Facts::default(),
            |r| {
                r.tags
                    .retain(|t| !req.tag_keys.iter().any(|k| k == t.key()));
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn list_resource_tags(
        &self,
        call: &mut Call<'_>,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let limit = check_limit(req.limit, 50, 50)?;
        let auth = self.authorized_read(call, Action::ListResourceTags, &req.key_id)?;
        let r = auth.record();
        let start = match &req.marker {
            Some(m) => marker_position("tags", m)?
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= r.tags.len())
                .ok_or_else(invalid_marker)?,
            None => 0,
        };
        let end = (start + limit).min(r.tags.len());
        let more = end < r.tags.len();
        Ok(ListResourceTagsResponse {
            tags: r.tags[start..end].to_vec(),
            next_marker: more.then(|| opaque_marker("tags", &end.to_string())),
            truncated: more,
        })
    }
}

pub(super) fn merge_tags(existing: &mut Vec<Tag>, new: &[Tag]) -> Result<(), KmsError> {
    for (i, t) in new.iter().enumerate() {
        if new[..i].iter().any(|u| u.key() == t.key()) {
            return Err(KmsError::new(
                ErrorKind::Tag,
                format!("Duplicate tag key '{}' in the request", t.key()),
            ));
        }
    }
    for t in new {
        match existing.iter_mut().find(|e| e.key() == t.key()) {
            Some(e) => *e = t.clone(),
            None => existing.push(t.clone()),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        // TagException, as AWS answers it (not LimitExceededException).
        return Err(KmsError::new(
            ErrorKind::Tag,
            format!("A key can have at most {MAX_TAGS_PER_KEY} tags"),
        ));
    }
    existing.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(())
}
