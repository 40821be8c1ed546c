//! ImportDatabaseBetweenInstances and the calls that watch and cancel its tasks.

use control::model::ImportStatus;
use super::{page, parse_time, time, Reply};
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use control::model::ImportTaskRow;
use wire::parameters::{ActionParameters, CancelImport, ImportListing, DescibeImportsFromDatabase, DescribeImportProgress, DescribeImportsForSQLServer, ImportDatabaseBetweenInstances};

pub(crate) async fn start(plane: &ControlPlane, caller: &Caller, p: ImportDatabaseBetweenInstances) -> Reply {
    match plane.start_import(caller, &p.instance, &p.source, &p.db_info, p.dry_run == Some(true)).await? {
        Some(id) => Ok(json!({"ImportId": id.to_string()})),
        None => Ok(json!({"DryRun": true, "DryRunResult": true, "Message": "The request passed the dry run; nothing was copied."})),
    }
}


/// One page of tasks, each shown by `item`; with the page asked for and the count of all.
struct Listed {
    items: Vec<Value>,
    total: u64,
    page: control::model::Page,
}

async fn list(
    plane: &ControlPlane,
    caller: &Caller,
    p: ImportListing,
    action: wire::Action,
    item: impl Fn(&ImportTaskRow) -> Value,
) -> Result<Listed, crate::ServerError> {
    let from = parse_time(p.start_time.as_deref(), "StartTime")?;
    // EndTime names a minute; everything within that minute is included.
    let to = parse_time(p.end_time.as_deref(), "EndTime")?.map(|t| t + chrono::Duration::seconds(59));
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(super::invalid("EndTime", "it must not be before StartTime"));
        }
    }
    let page = page(p.page, 30, 100)?;
    let result = plane.list_imports(caller, action, &p.instance, p.import_id, from, to, page).await?;
    Ok(Listed { items: result.items.iter().map(item).collect(), total: result.total, page })
}

/// `ImportDataStatus` as DescibeImportsFromDatabase spells it.
fn data_status(t: &ImportTaskRow) -> &'static str {
    match t.status {
        ImportStatus::Pending => "NotStart",
        ImportStatus::Running => "FullImporting",
        ImportStatus::Success => "Success",
        ImportStatus::Canceling => "Canceling",
        ImportStatus::Canceled => "Canceled",
        ImportStatus::Failed => "Failed",
    }
}

fn description(t: &ImportTaskRow) -> String {
    if t.error.is_empty() {
        format!("{}: {}", t.status, t.phase)
    } else {
        t.error.clone()
    }
}

pub(crate) async fn from_database(plane: &ControlPlane, caller: &Caller, p: DescibeImportsFromDatabase) -> Reply {
    let listed = list(plane, caller, p.listing, DescibeImportsFromDatabase::ACTION, |t| {
        json!({
            "ImportId": t.id,
            "ImportDataType": "Full",
            "ImportDataStatus": data_status(t),
            "ImportDataStatusDescription": description(t),
            "IncrementalImportingTime": "",
            "SourceDBInstanceId": t.source_id,
            "DBInstanceId": t.dest_id,
            "DBNames": t.db_names.iter().map(|(s, d)| json!({"Source": s, "Destination": d})).collect::<Vec<_>>(),
        })
    })
    .await?;
    Ok(json!({
        "Items": {"ImportResultFromDB": listed.items},
        "PageNumber": listed.page.number,
        "PageRecordCount": listed.items.len(),
        "TotalRecordCount": listed.total,
    }))
}

pub(crate) async fn for_sql_server(plane: &ControlPlane, caller: &Caller, p: DescribeImportsForSQLServer) -> Reply {
    let listed = list(plane, caller, p.listing, DescribeImportsForSQLServer::ACTION, |t| {
        let status = match t.status {
            ImportStatus::Running => "Importing",
            other => other.as_str(),
        };
        json!({
            "ImportId": t.id,
            "FileName": "",
            "DBName": t.db_names.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>().join(","),
            "ImportStatus": status,
            "StartTime": time(t.started_at.unwrap_or(t.created_at)),
        })
    })
    .await?;
    let n = listed.items.len();
    Ok(json!({
        "Items": {"SQLServerImport": listed.items},
        "PageNumber": listed.page.number,
        "TotalRecordCounts": listed.total,
        "SQLItemsCounts": n,
        "TotalRecordCount": listed.total,
        "PageRecordCount": n,
    }))
}

pub(crate) async fn cancel(plane: &ControlPlane, caller: &Caller, p: CancelImport) -> Reply {
    plane.cancel_import(caller, &p.instance, p.import_id).await?;
    Ok(json!({}))
}

pub(crate) async fn progress(plane: &ControlPlane, caller: &Caller, p: DescribeImportProgress) -> Reply {
    let t = plane.import_progress(caller, &p.instance, p.import_id).await?;
    let parse = |s: &str| if s.is_empty() { Value::Null } else { serde_json::from_str(s).unwrap_or(Value::Null) };
    Ok(json!({
        "ImportId": t.id.to_string(),
        "Status": t.status,
        "Phase": t.phase,
        "SourceDBInstanceId": t.source_id,
        "DBInstanceId": t.dest_id,
        "DBNames": t.db_names.iter().map(|(s, d)| json!({"Source": s, "Destination": d})).collect::<Vec<_>>(),
        "Attempts": t.attempts,
        "CreateTime": time(t.created_at),
        "StartTime": t.started_at.map(time).unwrap_or_default(),
        "EndTime": t.finished_at.map(time).unwrap_or_default(),
        "Error": t.error,
        "Progress": parse(&t.progress),
        "Result": parse(&t.result),
    }))
}
