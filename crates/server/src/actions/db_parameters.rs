//! Parameters (DescribeParameterTemplates, DescribeParameters, ModifyParameter,
//! DescribeModifyParameterLog), shaped as Alibaba's: counts and flags are strings where
//! the SDK models say so.

use super::{page, parse_time, time, Reply};
use control::parameters::ParameterRequest;
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{DescribeModifyParameterLog, DescribeParameterTemplates, DescribeParameters, ModifyParameter};

pub(crate) async fn templates(plane: &ControlPlane, caller: &Caller, p: DescribeParameterTemplates) -> Reply {
    let (engine, version, definitions) = plane.parameter_templates(caller, &p.engine, &p.engine_version).await?;
    let records: Vec<_> = definitions
        .iter()
        .map(|d| {
            json!({
                "ParameterName": d.name,
                "ParameterValue": d.default,
                "ParameterDescription": d.description,
                "CheckingCode": d.range(),
                "ForceModify": "true",
                "ForceRestart": d.restart.to_string(),
            })
        })
        .collect();
    Ok(json!({"Engine": engine, "EngineVersion": version, "ParameterCount": records.len().to_string(), "Parameters": {"TemplateRecord": records}}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeParameters) -> Reply {
    let found = plane.describe_parameters(caller, &p.instance).await?;
    let configured: Vec<_> = found
        .configured
        .iter()
        .map(|(d, v)| json!({"ParameterName": d.name, "ParameterValue": v, "ParameterDescription": d.description}))
        .collect();
    let running: Vec<_> = found
        .running
        .iter()
        .map(|(d, v)| {
            json!({
                "ParameterName": d.name,
                "ParameterValue": v,
                "ParameterDescription": d.description,
                "ParameterDefaultValue": d.default,
                "ParameterValueRange": d.range(),
                "ForceRestart": d.restart.to_string(),
            })
        })
        .collect();
    Ok(json!({
        "Engine": found.row.engine,
        "EngineVersion": found.row.engine_version,
        "ConfigParameters": {"DBInstanceParameter": configured},
        "RunningParameters": {"DBInstanceParameter": running},
        "ParamGroupInfo": {"ParamGroupId": "", "ParameterGroupName": "", "ParameterGroupDesc": "", "ParameterGroupType": ""},
    }))
}

pub(crate) async fn modify(plane: &ControlPlane, caller: &Caller, p: ModifyParameter) -> Reply {
    let req = ParameterRequest { parameters: p.parameters, force_restart: p.force_restart == Some(true), group_id: p.group_id, switch_time_mode: p.switch_time_mode };
    plane.modify_parameters(caller, &p.instance, req).await?;
    Ok(json!({}))
}

pub(crate) async fn log(plane: &ControlPlane, caller: &Caller, p: DescribeModifyParameterLog) -> Reply {
    let from = parse_time(Some(&p.start_time), "StartTime")?.unwrap_or_default();
    let to = parse_time(Some(&p.end_time), "EndTime")?.unwrap_or_default() + chrono::Duration::seconds(59);
    if to < from {
        return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
    }
    let page = page(p.page, 30, 100)?;
    let (row, log) = plane.parameter_log(caller, &p.instance, from, to, page).await?;
    let items: Vec<_> = log
        .items
        .iter()
        .map(|c| {
            json!({
                "ParameterName": c.name,
                "OldParameterValue": c.old_value,
                "NewParameterValue": c.new_value,
                "Status": c.status,
                "ModifyTime": time(c.created_at),
            })
        })
        .collect();
    Ok(json!({
        "DBInstanceId": row.id,
        "Engine": row.engine,
        "EngineVersion": row.engine_version,
        "Items": {"ParameterChangeLog": items},
        "PageNumber": page.number,
        "PageRecordCount": items.len(),
        "TotalRecordCount": log.total,
    }))
}
