//! Tags of instances (TagResources, UntagResources, ListTagResources, DescribeTags),
//! shaped as Alibaba's.

use super::{invalid, Reply};
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{DescribeTags, ListTagResources, TagResources, UntagResources};

pub(crate) async fn tag(plane: &ControlPlane, caller: &Caller, p: TagResources) -> Reply {
    plane.tag_instances(caller, &p.region_id, &p.resource_type, &p.ids.0, &p.tags.0).await?;
    Ok(json!({}))
}

pub(crate) async fn untag(plane: &ControlPlane, caller: &Caller, p: UntagResources) -> Reply {
    plane.untag_instances(caller, &p.region_id, &p.resource_type, &p.ids.0, &p.keys.0, p.all == Some(true)).await?;
    Ok(json!({}))
}

pub(crate) async fn list(plane: &ControlPlane, caller: &Caller, p: ListTagResources) -> Reply {
    let (rows, next) = plane.list_tag_resources(caller, &p.region_id, &p.resource_type, &p.ids.0, &p.tags.0, p.next_token.as_deref()).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| json!({"ResourceId": r.instance_id, "ResourceType": "ALIYUN::RDS::INSTANCE", "TagKey": r.key, "TagValue": r.value}))
        .collect();
    Ok(json!({"TagResources": {"TagResource": items}, "NextToken": next.unwrap_or_default()}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeTags) -> Reply {
    if let Some(t) = p.resource_type.as_deref() {
        if !t.eq_ignore_ascii_case("INSTANCE") {
            return Err(invalid("ResourceType", format!("{t:?}: tags are on instances (INSTANCE)")));
        }
    }
    let wanted: Vec<(String, String)> = match p.tags.as_deref() {
        None => Vec::new(),
        Some(text) => {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|_| invalid("Tags", r#"it is not a JSON object like {"key":"value"}"#))?;
            map.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect()
        }
    };
    let tags = plane.describe_tags(caller, &p.region_id, p.instance.as_deref(), &wanted).await?;
    let items: Vec<_> = tags
        .iter()
        .map(|((key, value), ids)| json!({"TagKey": key, "TagValue": value, "DBInstanceIds": {"DBInstanceIds": ids}}))
        .collect();
    Ok(json!({"Items": {"TagInfos": items}}))
}
