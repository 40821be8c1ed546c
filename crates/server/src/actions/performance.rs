//! DescribeDBInstancePerformance and DescribeCharacterSetName, shaped as Alibaba's.

use super::{parse_time, time, Reply};
use control::{Caller, ControlError, ControlPlane};
use serde_json::json;
use wire::parameters::{ActionParameters, DescribeCharacterSetName, DescribeDBInstancePerformance};

/// `StartTime`/`EndTime` in `yyyy-MM-ddTHH:mmZ` (seconds accepted too); the window is
/// answered as asked, each point dated to the second it was sampled.
pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeDBInstancePerformance) -> Reply {
    let from = parse_time(Some(&p.start_time), "StartTime")?.unwrap_or_default();
    let to = parse_time(Some(&p.end_time), "EndTime")?.unwrap_or_default();
    if to < from {
        return Err(ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into()).into());
    }
    // The end minute is whole: `10:05Z` takes the samples of 10:05:59 too.
    let until = if p.end_time.len() <= "2026-01-01T00:00Z".len() { to + chrono::Duration::seconds(59) } else { to };
    let (row, series) = plane.performance(caller, &p.instance, &p.key, from, until).await?;
    let keys: Vec<_> = series
        .iter()
        .map(|s| {
            let values: Vec<_> = s.points.iter().map(|(at, value)| json!({"Value": value, "Date": time(*at)})).collect();
            json!({"Key": s.key.name, "Unit": s.key.unit, "ValueFormat": s.key.value_format(), "Values": {"PerformanceValue": values}})
        })
        .collect();
    let minute = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%MZ").to_string();
    Ok(json!({
        "DBInstanceId": row.id,
        "Engine": row.engine,
        "StartTime": minute(from),
        "EndTime": minute(to),
        "PerformanceKeys": {"PerformanceKey": keys},
    }))
}

/// The character sets CreateDatabase accepts for the engine: on PostgreSQL the
/// encodings (each also with `,collate,ctype`), on MariaDB the character sets.
pub(crate) async fn character_sets(plane: &ControlPlane, caller: &Caller, p: DescribeCharacterSetName) -> Reply {
    let region = plane.check_region(Some(&p.region_id))?;
    plane.authorize_any_instance(caller, DescribeCharacterSetName::ACTION, &region).await?;
    let (engine, _) = plane.engine_offer(&p.engine)?;
    let charsets = plane.catalogues().into_iter().find(|c| c.kind.as_str() == engine).map(|c| c.charsets).unwrap_or_default();
    Ok(json!({"Engine": engine, "CharacterSetNameItems": {"CharacterSetName": charsets}}))
}
