use super::Reply;
use control::{classes, Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{ActionParameters, DescribeAvailableClasses, DescribeAvailableZones, DescribeRegions};

pub(crate) async fn describe_regions(plane: &ControlPlane, _caller: &Caller, _p: DescribeRegions) -> Reply {
    let regions: Vec<_> = plane
        .config()
        .regions
        .iter()
        .flat_map(|r| {
            r.zones.iter().map(move |z| {
                json!({"RegionId": r.id, "ZoneId": z, "ZoneName": z, "LocalName": r.local_name,
                       "RegionEndpoint": plane.config().advertised_endpoint})
            })
        })
        .collect();
    Ok(json!({"Regions": {"RDSRegion": regions}}))
}

pub(crate) async fn describe_classes(plane: &ControlPlane, caller: &Caller, p: DescribeAvailableClasses) -> Reply {
    let region = plane.check_region(p.region_id.as_deref())?;
    plane.authorize_any_instance(caller, DescribeAvailableClasses::ACTION, &region).await?;
    let engine = p.engine.as_deref();
    let classes: Vec<_> = plane
        .catalogues()
        .into_iter()
        .filter(|catalogue| engine.is_none_or(|e| catalogue.kind.matches(e)))
        .flat_map(|catalogue| catalogue.classes.iter().map(move |c| (catalogue.kind, c)))
        .map(|(kind, c)| {
            json!({
                "DBInstanceClass": c.code,
                "DBInstanceClassType": c.family.code(),
                "Engine": kind.as_str(),
                "Cpu": c.cpu.to_string(),
                "MemoryClass": format!("{}GB", c.memory_mb / 1024),
                "DBInstanceMemory": c.memory_mb,
                "MaxConnections": c.max_connections,
                "MaxIOPS": c.max_iops,
                "DBInstanceStorageRange": {"MinValue": classes::STORAGE_MIN_GB, "MaxValue": classes::STORAGE_MAX_GB, "Step": classes::STORAGE_STEP_GB},
                "ReferencePrice": "0",
            })
        })
        .collect();
    Ok(json!({"DBInstanceClasses": classes, "RegionId": region}))
}

/// DescribeAvailableZones: each zone of the region, with the engine's versions installed
/// on this host and what an instance of them may be created as.
pub(crate) async fn describe_zones(plane: &ControlPlane, caller: &Caller, p: DescribeAvailableZones) -> Reply {
    let region = plane.check_region(Some(&p.region_id))?;
    plane.authorize_any_instance(caller, DescribeAvailableZones::ACTION, &region).await?;
    let (engine, versions) = plane.engine_offer(&p.engine)?;
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
    let versions: Vec<_> = versions
        .iter()
        .filter(|v| p.engine_version.as_deref().is_none_or(|want| want == v.as_str() || want == major(v)))
        .map(|v| {
            let categories: Vec<_> = ["Basic", "HighAvailability"]
                .iter()
                .filter(|c| p.category.as_deref().is_none_or(|want| want.eq_ignore_ascii_case(c)))
                .map(|c| {
                    let storage: Vec<_> = STORAGE_TYPES.iter().map(|t| json!({"StorageType": t})).collect();
                    json!({"Category": c, "SupportedStorageTypes": storage})
                })
                .collect();
            json!({"Version": v, "SupportedCategorys": categories})
        })
        .collect();
    let zones: Vec<_> = plane
        .config()
        .region(&region)
        .map(|r| r.zones.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|z| p.zone_id.as_deref().is_none_or(|want| want == z))
        .map(|z| json!({"RegionId": region, "ZoneId": z, "SupportedEngines": [{"Engine": engine, "SupportedEngineVersions": versions}]}))
        .collect();
    Ok(json!({"AvailableZones": zones}))
}

/// The storage types CreateDBInstance records (one host's disks, whatever the name).
const STORAGE_TYPES: &[&str] = &["local_ssd", "cloud_ssd", "cloud_essd"];
