use super::Reply;
use control::{classes, Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{ActionParameters, DescribeAvailableClasses, DescribeRegions};

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
