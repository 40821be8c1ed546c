//! Tags of instances: TagResources, UntagResources, ListTagResources and DescribeTags,
//! with Alibaba's limits (20 tags per instance, 50 instances per call, keys unique per
//! instance and overwritten by a new value). Tags are also what RAM conditions
//! (`rds:ResourceTag`) read, so every instance named is authorized before any changes.

use crate::{Caller, ControlError, ControlPlane, Result};
use std::collections::BTreeMap;
use store::{InstanceFilter, InstanceRow};
use wire::Action;

const MAX_TAGS_PER_INSTANCE: usize = 20;
const MAX_INSTANCES_PER_CALL: usize = 50;
/// Rows of ListTagResources per page.
const LIST_PAGE: usize = 50;

fn refused(code: &'static str, message: String) -> ControlError {
    ControlError::TagRefused { code, message }
}

fn check_resource_type(resource_type: &str) -> Result<()> {
    if resource_type.eq_ignore_ascii_case("INSTANCE") {
        Ok(())
    } else {
        Err(refused("InvalidResourceType.NotSupported", format!("ResourceType {resource_type:?} is not supported; tags are on instances (INSTANCE).")))
    }
}

/// A key: 1 to 128 characters, not Alibaba's reserved `aliyun`/`acs:` prefixes, no URL.
fn check_key(key: &str) -> Result<()> {
    let bad = |why: &str| refused("InvalidTagKey.Malformed", format!("The tag key {key:?} is not valid: {why}."));
    if key.is_empty() || key.chars().count() > 128 {
        return Err(bad("it must be 1 to 128 characters long"));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aliyun") || lower.starts_with("acs:") {
        return Err(bad("it must not start with aliyun or acs:"));
    }
    if lower.contains("http://") || lower.contains("https://") {
        return Err(bad("it must not contain http:// or https://"));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<()> {
    let lower = value.to_ascii_lowercase();
    if value.chars().count() > 128 || lower.contains("http://") || lower.contains("https://") {
        return Err(refused("InvalidTagValue.Malformed", format!("The value of tag {key:?} must be at most 128 characters and contain no URL.")));
    }
    Ok(())
}

fn check_instance_count(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Err(ControlError::invalid("ResourceId", "name at least one instance (ResourceId.1)"));
    }
    if ids.len() > MAX_INSTANCES_PER_CALL {
        return Err(refused("NumberExceed.ResourceIds", format!("{} instances were named; at most {MAX_INSTANCES_PER_CALL} per call.", ids.len())));
    }
    Ok(())
}

/// One tag of one instance (ListTagResources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedResource {
    pub instance_id: String,
    pub key: String,
    pub value: String,
}

impl ControlPlane {
    /// The caller's instances `ids`, each authorized for `action` (before anything changes).
    async fn tagged_instances(&self, caller: &Caller, action: Action, region: &str, ids: &[String]) -> Result<Vec<InstanceRow>> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self.authorized_instance(caller, action, id).await?;
            if row.region_id != region {
                return Err(ControlError::InstanceNotFound(id.clone()));
            }
            if !rows.iter().any(|r: &InstanceRow| r.id == row.id) {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// TagResources: adds the tags to every instance named (a key it has gets the new value).
    pub async fn tag_instances(&self, caller: &Caller, region: &str, resource_type: &str, ids: &[String], tags: &[(String, String)]) -> Result<()> {
        let region = self.check_region(Some(region))?;
        check_resource_type(resource_type)?;
        check_instance_count(ids)?;
        if tags.is_empty() {
            return Err(ControlError::invalid("Tag", "give at least one tag (Tag.1.Key)"));
        }
        if tags.len() > MAX_TAGS_PER_INSTANCE {
            return Err(refused("NumberExceed.Tags", format!("{} tags were given; an instance holds at most {MAX_TAGS_PER_INSTANCE}.", tags.len())));
        }
        let mut asked: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in tags {
            check_key(key)?;
            check_value(key, value)?;
            if asked.insert(key, value).is_some() {
                return Err(refused("InvalidTagKey.Malformed", format!("The tag key {key:?} is given twice.")));
            }
        }
        let rows = self.tagged_instances(caller, Action::TagResources, &region, ids).await?;
        let mut changed = Vec::with_capacity(rows.len());
        for row in rows {
            let mut tags = row.tags.clone();
            for (key, value) in &asked {
                match tags.iter_mut().find(|(k, _)| k == key) {
                    Some(existing) => existing.1 = value.to_string(),
                    None => tags.push((key.to_string(), value.to_string())),
                }
            }
            if tags.len() > MAX_TAGS_PER_INSTANCE {
                return Err(refused("NumberExceed.Tags", format!("Instance {} would hold {} tags; at most {MAX_TAGS_PER_INSTANCE}.", row.id, tags.len())));
            }
            changed.push((row, tags));
        }
        for (row, tags) in changed {
            self.set_tags(&row, tags).await?;
        }
        Ok(())
    }

    /// UntagResources: removes the keys named (or, with `all`, every tag) from every
    /// instance named; keys an instance does not have are no error.
    pub async fn untag_instances(&self, caller: &Caller, region: &str, resource_type: &str, ids: &[String], keys: &[String], all: bool) -> Result<()> {
        let region = self.check_region(Some(region))?;
        check_resource_type(resource_type)?;
        check_instance_count(ids)?;
        if keys.is_empty() && !all {
            return Err(ControlError::invalid("TagKey", "name the keys to remove (TagKey.1), or give All=true"));
        }
        if keys.len() > MAX_TAGS_PER_INSTANCE {
            return Err(refused("NumberExceed.Tags", format!("{} keys were given; at most {MAX_TAGS_PER_INSTANCE}.", keys.len())));
        }
        let rows = self.tagged_instances(caller, Action::UntagResources, &region, ids).await?;
        for row in rows {
            let tags: Vec<(String, String)> = if all { Vec::new() } else { row.tags.iter().filter(|(k, _)| !keys.contains(k)).cloned().collect() };
            if tags.len() != row.tags.len() {
                self.set_tags(&row, tags).await?;
            }
        }
        Ok(())
    }

    async fn set_tags(&self, row: &InstanceRow, tags: Vec<(String, String)>) -> Result<()> {
        let mut changed = self.store.get_instance(&row.id).await?;
        changed.tags = tags;
        let status = changed.status;
        self.store.update_instance_if(&changed, status).await?;
        Ok(())
    }

    /// ListTagResources: the tags of the instances named, or of the caller's instances in
    /// the region that hold every tag of `filter`; one row per instance and tag, a page at
    /// a time (`next_token` is where the next page starts).
    pub async fn list_tag_resources(
        &self,
        caller: &Caller,
        region: &str,
        resource_type: &str,
        ids: &[String],
        filter: &[(String, String)],
        next_token: Option<&str>,
    ) -> Result<(Vec<TaggedResource>, Option<String>)> {
        let region = self.check_region(Some(region))?;
        check_resource_type(resource_type)?;
        if ids.len() > MAX_INSTANCES_PER_CALL {
            return Err(refused("NumberExceed.ResourceIds", format!("{} instances were named; at most {MAX_INSTANCES_PER_CALL} per call.", ids.len())));
        }
        if ids.is_empty() && filter.is_empty() {
            return Err(ControlError::invalid("ResourceId", "name instances (ResourceId.N) or tags (Tag.N.Key) to list"));
        }
        let rows = self.tag_scope(caller, Action::ListTagResources, &region, ids).await?;
        let start = match next_token {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| ControlError::invalid("NextToken", "it is not a token this API returned"))?,
        };
        let all: Vec<TaggedResource> = rows
            .iter()
            .filter(|r| holds(r, filter))
            .flat_map(|r| r.tags.iter().map(|(k, v)| TaggedResource { instance_id: r.id.clone(), key: k.clone(), value: v.clone() }))
            .collect();
        let page: Vec<TaggedResource> = all.iter().skip(start).take(LIST_PAGE).cloned().collect();
        let next = (start + page.len() < all.len()).then(|| (start + page.len()).to_string());
        Ok((page, next))
    }

    /// DescribeTags: each tag (of one instance, or of the caller's instances in the region)
    /// with the instances holding it, optionally only the tags of `wanted`.
    pub async fn describe_tags(&self, caller: &Caller, region: &str, instance: Option<&str>, wanted: &[(String, String)]) -> Result<Vec<((String, String), Vec<String>)>> {
        let region = self.check_region(Some(region))?;
        let ids: Vec<String> = instance.map(|i| vec![i.to_string()]).unwrap_or_default();
        let rows = self.tag_scope(caller, Action::DescribeTags, &region, &ids).await?;
        let mut by_tag: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for row in &rows {
            for tag in &row.tags {
                if wanted.is_empty() || wanted.iter().any(|(k, v)| k == &tag.0 && (v.is_empty() || v == &tag.1)) {
                    by_tag.entry(tag.clone()).or_default().push(row.id.clone());
                }
            }
        }
        Ok(by_tag.into_iter().collect())
    }

    /// The instances `ids` (each authorized), or all of the caller's in the region.
    async fn tag_scope(&self, caller: &Caller, action: Action, region: &str, ids: &[String]) -> Result<Vec<InstanceRow>> {
        if !ids.is_empty() {
            return self.tagged_instances(caller, action, region, ids).await;
        }
        self.authorize_any_instance(caller, action, region).await?;
        let filter = InstanceFilter { account_uid: Some(caller.account_uid().to_string()), region_id: Some(region.to_string()), ..Default::default() };
        Ok(self.store.list_instances(&filter, None).await?.items)
    }
}

/// Whether the instance holds every tag of `filter` (a tag given without a value matches
/// any value of its key).
fn holds(row: &InstanceRow, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| row.tags.iter().any(|(rk, rv)| rk == k && (v.is_empty() || rv == v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_follow_alibaba_s_rules() {
        assert!(check_key("env").is_ok());
        for bad in ["", "aliyun-x", "ACS:thing", "see http://x"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_key(&"k".repeat(129)).is_err());
        assert!(check_value("k", "").is_ok());
        assert!(check_value("k", &"v".repeat(129)).is_err());
        assert!(check_resource_type("instance").is_ok() && check_resource_type("disk").is_err());
    }
}
