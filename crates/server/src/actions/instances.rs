use super::{invalid, page, time, Answer, Reply};
use crate::ServerError;
use control::instances::InstanceView;
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use control::model::{InstanceFilter, InstanceRow};
use wire::parameters::{
    self, DeleteDBInstance, DescribeDBInstanceAttribute, DescribeDBInstanceNetInfo, DescribeDBInstances, ModifyDBInstanceDeletionProtection, ModifyDBInstanceDescription,
    ModifyDBInstanceMaintainTime, ModifyDBInstanceSpec, RestartDBInstance, StartDBInstance, StopDBInstance,
};

pub(crate) async fn create(plane: &ControlPlane, caller: &Caller, req: parameters::CreateDBInstance) -> Reply {
    if let Some(pay) = &req.pay_type {
        if !matches!(pay.as_str(), "Postpaid" | "Prepaid" | "Serverless") {
            return Err(invalid("PayType", format!("{pay:?} must be Postpaid, Prepaid or Serverless")));
        }
    }
    let Some(row) = plane.create_instance(caller, req).await? else {
        return Ok(json!({"DryRun": true, "DryRunResult": true, "Message": "The request passed the dry run."}));
    };
    Ok(json!({
        "DBInstanceId": row.id,
        "OrderId": control::order_id(),
        "ConnectionString": row.host,
        "Port": row.port.to_string(),
        "TaskId": "",
        "DryRun": false,
        "DryRunResult": false,
        "TagResult": !row.tags.is_empty(),
    }))
}

/// One instance in DescribeDBInstances' `Items.DBInstance` (and the base of
/// DescribeDBInstanceAttribute's item). A struct of borrowed fields serialised straight
/// to text: a listing of a hundred instances is the API's most frequent large answer, and
/// building it as a tree of JSON values cost more than the rest of the call together.
#[derive(serde::Serialize)]
struct InstanceItem<'a> {
    #[serde(rename = "DBInstanceId")]
    id: &'a str,
    #[serde(rename = "DBInstanceDescription")]
    description: &'a str,
    #[serde(rename = "DBInstanceStatus")]
    status: control::model::InstanceStatus,
    #[serde(rename = "DBInstanceType")]
    instance_type: &'static str,
    #[serde(rename = "Engine")]
    engine: &'a str,
    #[serde(rename = "EngineVersion")]
    engine_version: &'a str,
    #[serde(rename = "DBInstanceClass")]
    class: &'a str,
    #[serde(rename = "Category")]
    category: &'a str,
    #[serde(rename = "DBInstanceNetType")]
    net_type: &'a str,
    #[serde(rename = "InstanceNetworkType")]
    network_type: &'a str,
    #[serde(rename = "ConnectionMode")]
    connection_mode: &'static str,
    #[serde(rename = "ConnectionString")]
    host: &'a str,
    #[serde(rename = "Port")]
    port: String,
    #[serde(rename = "CreateTime")]
    create_time: String,
    #[serde(rename = "ExpireTime")]
    expire_time: &'static str,
    #[serde(rename = "DestroyTime")]
    destroy_time: &'static str,
    #[serde(rename = "LockMode")]
    lock_mode: &'static str,
    #[serde(rename = "LockReason")]
    lock_reason: &'static str,
    #[serde(rename = "MasterInstanceId")]
    master_instance_id: &'static str,
    #[serde(rename = "GuardDBInstanceId")]
    guard_instance_id: &'static str,
    #[serde(rename = "TempDBInstanceId")]
    temp_instance_id: &'static str,
    #[serde(rename = "ReadOnlyDBInstanceIds")]
    read_only_ids: ReadOnlyIds,
    #[serde(rename = "RegionId")]
    region_id: &'a str,
    #[serde(rename = "ZoneId")]
    zone_id: &'a str,
    #[serde(rename = "VpcId")]
    vpc_id: &'static str,
    #[serde(rename = "VSwitchId")]
    vswitch_id: &'static str,
    #[serde(rename = "PayType")]
    pay_type: &'a str,
    #[serde(rename = "ResourceGroupId")]
    resource_group_id: &'static str,
    #[serde(rename = "DBInstanceMemory")]
    memory_mb: u64,
    #[serde(rename = "DBInstanceCPU")]
    cpu: String,
    #[serde(rename = "DBInstanceStorageType")]
    storage_type: &'a str,
    #[serde(rename = "DeletionProtection")]
    deletion_protection: bool,
    #[serde(rename = "MutriORsignle")]
    multi_or_single: bool,
    #[serde(rename = "Tips")]
    tips: &'static str,
    #[serde(rename = "TipsLevel")]
    tips_level: &'static str,
}

/// `{"ReadOnlyDBInstanceId": []}`: this host runs no read-only replicas.
#[derive(serde::Serialize)]
struct ReadOnlyIds {
    #[serde(rename = "ReadOnlyDBInstanceId")]
    ids: [&'static str; 0],
}

impl<'a> InstanceItem<'a> {
    fn new(row: &'a InstanceRow, class: Option<&control::model::InstanceClass>) -> InstanceItem<'a> {
        InstanceItem {
            id: &row.id,
            description: &row.description,
            status: row.status,
            instance_type: "Primary",
            engine: &row.engine,
            engine_version: &row.engine_version,
            class: &row.class_code,
            category: &row.category,
            net_type: &row.net_type,
            network_type: &row.network_type,
            connection_mode: "Standard",
            host: &row.host,
            port: row.port.to_string(),
            create_time: time(row.created_at),
            expire_time: "",
            destroy_time: "",
            lock_mode: "Unlock",
            lock_reason: "",
            master_instance_id: "",
            guard_instance_id: "",
            temp_instance_id: "",
            read_only_ids: ReadOnlyIds { ids: [] },
            region_id: &row.region_id,
            zone_id: &row.zone_id,
            vpc_id: "",
            vswitch_id: "",
            pay_type: &row.pay_type,
            resource_group_id: "",
            memory_mb: class.map(|c| c.memory_mb).unwrap_or_default(),
            cpu: class.map(|c| c.cpu.to_string()).unwrap_or_default(),
            storage_type: &row.storage_type,
            deletion_protection: row.deletion_protection,
            multi_or_single: false,
            tips: "",
            tips_level: "",
        }
    }
}

/// DescribeDBInstances' answer, serialised as it is built.
#[derive(serde::Serialize)]
struct InstanceListing<'a> {
    #[serde(rename = "Items")]
    items: InstanceListingItems<'a>,
    #[serde(rename = "PageNumber")]
    page_number: u32,
    #[serde(rename = "PageRecordCount")]
    page_record_count: usize,
    #[serde(rename = "TotalRecordCount")]
    total_record_count: u64,
    #[serde(rename = "NextToken")]
    next_token: String,
}

#[derive(serde::Serialize)]
struct InstanceListingItems<'a> {
    #[serde(rename = "DBInstance")]
    instances: Vec<InstanceItem<'a>>,
}

pub(crate) async fn describe_all(plane: &ControlPlane, caller: &Caller, p: DescribeDBInstances) -> Result<Answer, ServerError> {
    let region = plane.check_region(Some(&p.region_id))?;
    let filter = InstanceFilter {
        account_uid: None,
        region_id: Some(region),
        ids: p.ids.as_deref().map(super::list),
        engine: p.engine,
        engine_version: p.engine_version,
        status: match p.status.as_deref() {
            None => None,
            Some(s) => Some(control::model::InstanceStatus::parse(s).ok_or_else(|| {
                let known: Vec<&str> = control::model::InstanceStatus::ALL.iter().map(|s| s.as_str()).collect();
                invalid("DBInstanceStatus", format!("{s:?} is not one of {}", known.join(", ")))
            })?),
        },
        class_code: p.class,
        search_key: p.search_key,
        with_private: false,
    };
    // MaxResults/NextToken paging replaces PageSize/PageNumber when given.
    let (page, token_mode) = match p.max_results {
        Some(max) => {
            if max == 0 || max > 100 {
                return Err(invalid("MaxResults", format!("{max} must be between 1 and 100")));
            }
            let number = match p.next_token.as_deref() {
                None => 1,
                Some(t) => t.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| invalid("NextToken", "it is not a token this API returned"))?,
            };
            (control::model::Page { number, size: max }, true)
        }
        None => (page(p.page, 30, 100)?, false),
    };
    let listing = plane.describe_instances(caller, filter, Some(page)).await?;
    if let Some(text) = ListingTexts::find(&listing, page, token_mode) {
        return Ok(Answer::Shared(text));
    }
    let instances: Vec<InstanceItem<'_>> =
        listing.items.iter().map(|row| InstanceItem::new(row, plane.find_class(&row.class_code).map(|(_, class)| class))).collect();
    let more = (page.number as u64) * (page.size as u64) < listing.total;
    let next_token = if token_mode && more { (page.number + 1).to_string() } else { String::new() };
    // An entry is about 700 bytes of JSON.
    let size_hint = 256 + 768 * listing.items.len();
    let answer = Answer::encode(&InstanceListing {
        items: InstanceListingItems { instances },
        page_number: page.number,
        page_record_count: listing.items.len(),
        total_record_count: listing.total,
        next_token,
    }, size_hint)?;
    let Answer::Encoded(text) = answer else { return Ok(answer) };
    let text: std::sync::Arc<str> = text.into();
    ListingTexts::keep(listing, page, token_mode, std::sync::Arc::clone(&text));
    Ok(Answer::Shared(text))
}

/// The text of the last listings answered, by the store's cached listing each was made
/// from: dashboards and tools ask for the same listing over and over between changes,
/// and serialising a hundred instances again was a tenth of such a call's CPU. A listing
/// is the same allocation for as long as the store's cache holds it unchanged, and an
/// entry holds it, so its address cannot be reused by a newer listing while the entry
/// lives; any write makes the store answer with a new listing, which misses here. The
/// text depends on nothing else but the page asked for and how (the class catalogue is
/// fixed at build time).
struct ListingTexts;

struct ListingText {
    listing: std::sync::Arc<control::model::Paged<InstanceRow>>,
    page: control::model::Page,
    token_mode: bool,
    text: std::sync::Arc<str>,
}

static LISTING_TEXTS: std::sync::Mutex<std::collections::VecDeque<ListingText>> = std::sync::Mutex::new(std::collections::VecDeque::new());

impl ListingTexts {
    /// How many texts are kept: a few callers' listings and pages; a hundred instances'
    /// text is about 70 KB.
    const CAPACITY: usize = 16;

    fn find(listing: &std::sync::Arc<control::model::Paged<InstanceRow>>, page: control::model::Page, token_mode: bool) -> Option<std::sync::Arc<str>> {
        let texts = LISTING_TEXTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        texts
            .iter()
            .find(|kept| std::sync::Arc::ptr_eq(&kept.listing, listing) && kept.page == page && kept.token_mode == token_mode)
            .map(|kept| std::sync::Arc::clone(&kept.text))
    }

    fn keep(listing: std::sync::Arc<control::model::Paged<InstanceRow>>, page: control::model::Page, token_mode: bool, text: std::sync::Arc<str>) {
        let mut texts = LISTING_TEXTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Entries of listings the store no longer holds can never be found again.
        texts.retain(|kept| std::sync::Arc::strong_count(&kept.listing) > 1);
        if texts.len() >= Self::CAPACITY {
            texts.pop_front();
        }
        texts.push_back(ListingText { listing, page, token_mode, text });
    }
}

fn attribute_item(view: &InstanceView) -> Result<Value, ServerError> {
    let row = &view.row;
    let mut item = Answer::tree(&InstanceItem::new(row, Some(view.class)))?;
    let extra = json!({
        "CurrentKernelVersion": row.engine_version,
        "DBInstanceClassType": view.class.family.code(),
        "DBInstanceStorage": row.storage_gb,
        "DBInstanceDiskUsed": view.disk_used.map(|b| b.to_string()).unwrap_or_else(|| "0".into()),
        "MaxConnections": view.class.max_connections,
        "MaxIOPS": view.class.max_iops,
        "AccountMaxQuantity": 500,
        "DBMaxQuantity": 500,
        "SecurityIPList": row.security_ip_list,
        "SecurityIPMode": "normal",
        "CreationTime": time(row.created_at),
        "AvailabilityValue": "100.0%",
        "IncrementSourceDBInstanceId": "",
        "MaintainTime": row.maintain_time,
        // What one host's instance is, in the 16.x model's fields: the installed minor is
        // the latest this host has, nothing upgrades it behind the caller, one zone, IPv4.
        "LatestKernelVersion": row.engine_version,
        "AutoUpgradeMinorVersion": "Manual",
        "MasterZone": row.zone_id,
        "SlaveZones": {"SlaveZone": []},
        "IPType": "IPv4",
        "MaxIOMBPS": 0,
        "ReadOnlyStatus": "OFF",
        "BurstingEnabled": false,
        "ColdDataEnabled": false,
        "CanTempUpgrade": false,
        "DBClusterNodes": {"DBClusterNode": []},
        "DedicatedHostGroupId": "",
        "ConsoleVersion": "",
        "Extra": {"DBInstanceIds": {"DBInstanceId": []}},
    });
    if let (Some(obj), Value::Object(more)) = (item.as_object_mut(), extra) {
        obj.extend(more);
    }
    Ok(item)
}

pub(crate) async fn describe_attribute(plane: &ControlPlane, caller: &Caller, p: DescribeDBInstanceAttribute) -> Reply {
    let view = plane.describe_instance(caller, &p.instance).await?;
    Ok(json!({"Items": {"DBInstanceAttribute": [attribute_item(&view)?]}}))
}

pub(crate) async fn delete(plane: &ControlPlane, caller: &Caller, p: DeleteDBInstance) -> Reply {
    let row = plane.delete_instance(caller, &p.instance).await?;
    Ok(json!({"RegionId": row.region_id}))
}

pub(crate) async fn restart(plane: &ControlPlane, caller: &Caller, p: RestartDBInstance) -> Reply {
    plane.restart_instance(caller, &p.instance).await?;
    Ok(json!({}))
}

pub(crate) async fn stop(plane: &ControlPlane, caller: &Caller, p: StopDBInstance) -> Reply {
    plane.stop_instance(caller, &p.instance).await?;
    Ok(json!({}))
}

pub(crate) async fn start(plane: &ControlPlane, caller: &Caller, p: StartDBInstance) -> Reply {
    plane.start_instance(caller, &p.instance).await?;
    Ok(json!({"TaskId": 0, "MigrationId": 0}))
}

/// ModifyDBInstanceSpec: class and storage, applied at once (`EffectiveTime` Immediate);
/// the billing and placement parameters are accepted for what they are on one host.
pub(crate) async fn modify_spec(plane: &ControlPlane, caller: &Caller, p: ModifyDBInstanceSpec) -> Reply {
    if let Some(t) = p.effective_time.as_deref() {
        if t != "Immediate" {
            return Err(invalid("EffectiveTime", format!("{t:?}: openrds applies a change at once (Immediate); MaintainTime and ScheduleTime are not offered")));
        }
    }
    if let Some(d) = p.direction.as_deref() {
        if !matches!(d, "Up" | "Down") {
            return Err(invalid("Direction", format!("{d:?} is not one of Up, Down")));
        }
    }
    if let Some(pay) = p.pay_type.as_deref() {
        if !matches!(pay, "Postpaid" | "Prepaid") {
            return Err(invalid("PayType", format!("{pay:?} is not one of Postpaid, Prepaid")));
        }
    }
    let change = control::modify::SpecChange { class: p.class, storage_gb: p.storage_gb };
    let row = plane.modify_spec(caller, &p.instance, change).await?;
    Ok(json!({"DBInstanceId": row.id, "OrderId": control::order_id().parse::<i64>().unwrap_or_default()}))
}

pub(crate) async fn modify_description(plane: &ControlPlane, caller: &Caller, p: ModifyDBInstanceDescription) -> Reply {
    plane.modify_instance_description(caller, &p.instance, &p.description).await?;
    Ok(json!({}))
}

pub(crate) async fn modify_deletion_protection(plane: &ControlPlane, caller: &Caller, p: ModifyDBInstanceDeletionProtection) -> Reply {
    plane.modify_deletion_protection(caller, &p.instance, p.protect).await?;
    Ok(json!({}))
}

pub(crate) async fn modify_maintain_time(plane: &ControlPlane, caller: &Caller, p: ModifyDBInstanceMaintainTime) -> Reply {
    plane.modify_maintain_time(caller, &p.instance, &p.window).await?;
    Ok(json!({}))
}

pub(crate) async fn net_info(plane: &ControlPlane, caller: &Caller, p: DescribeDBInstanceNetInfo) -> Reply {
    let row = plane.net_info(caller, &p.instance).await?;
    Ok(json!({
        "InstanceNetworkType": row.network_type,
        "SecurityIPMode": "normal",
        "DBInstanceNetInfos": {"DBInstanceNetInfo": [{
            "ConnectionString": row.host,
            "IPAddress": row.host,
            "IPType": if row.network_type == "Classic" { "Inner" } else { "Private" },
            "Port": row.port.to_string(),
            "VPCId": "",
            "VSwitchId": "",
            "ConnectionStringType": "Normal",
            "Upgradeable": "Disabled",
            "ExpiredTime": "",
            "MaxDelayTime": "",
            "DistributionType": "",
            "DBInstanceWeights": {"DBInstanceWeight": []},
            "SecurityIPGroups": {"securityIPGroup": [{"SecurityIPGroupName": "default", "SecurityIPs": row.security_ip_list}]},
        }]},
    }))
}
