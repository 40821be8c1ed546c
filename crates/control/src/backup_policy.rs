//! Backup policies (DescribeBackupPolicy, ModifyBackupPolicy), the automatic backups they
//! schedule, and retention: sets and archived logs older than the policy keeps are
//! deleted, never the newest set at or before the retention cut, which every point in time
//! still retained needs to start from.

use crate::{Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Datelike, Duration as Days, NaiveTime, Utc, Weekday};
use std::path::Path;
use std::time::Duration;
use store::{BackupFilter, BackupMode, BackupPolicy, BackupRow, BackupStatus, InstanceRow, InstanceStatus, StoreError};
use wire::Action;

/// How often due automatic backups are started.
const SCHEDULE_EVERY: Duration = Duration::from_secs(10);
/// How often retention is applied: it reads every instance's sets, and a set expires by
/// days, not seconds.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// Alibaba's bounds on both retention periods, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 7..=730;

/// What ModifyBackupPolicy asks to change, as sent (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub preferred_time: Option<String>,
    pub preferred_period: Option<String>,
    pub retention_days: Option<String>,
    pub backup_log: Option<String>,
    pub enable_backup_log: Option<String>,
    pub log_retention_days: Option<String>,
    pub mode: Option<String>,
}

/// The policy of an instance that never had one set: every day, in an hour of the day
/// chosen from its id (so a fleet's backups do not all start at once), kept 7 days, with
/// its log.
pub fn default_policy(instance_id: &str, account_uid: &str, since: DateTime<Utc>) -> BackupPolicy {
    let hour = instance_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 24;
    BackupPolicy {
        instance_id: instance_id.to_string(),
        account_uid: account_uid.to_string(),
        preferred_time: format!("{hour:02}:00Z-{:02}:00Z", (hour + 1) % 24),
        preferred_period: WEEKDAYS.join(","),
        retention_days: 7,
        log_backup: true,
        log_retention_days: 7,
        updated_at: since,
    }
}

/// `HH:mmZ-HH:mmZ` → (start, end), which may cross midnight.
fn parse_window(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = text.split_once('-')?;
    let time = |t: &str| NaiveTime::parse_from_str(t.strip_suffix('Z')?, "%H:%M").ok();
    let (start, end) = (time(a)?, time(b)?);
    (start != end).then_some((start, end))
}

fn parse_period(text: &str) -> Option<Vec<Weekday>> {
    let days: Option<Vec<Weekday>> = text.split(',').map(|d| d.trim().parse::<Weekday>().ok().filter(|_| WEEKDAYS.contains(&d.trim()))).collect();
    let mut days = days?;
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    Some(days)
}

/// The start of the policy's window that is open at `now`, if one is.
fn open_window(policy: &BackupPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (start, end) = parse_window(&policy.preferred_time)?;
    let days = parse_period(&policy.preferred_period)?;
    // The window of today, or of yesterday when it crosses midnight.
    for back in [0, 1] {
        let day = now.date_naive() - Days::days(back);
        if !days.contains(&day.weekday()) {
            continue;
        }
        let opened = day.and_time(start).and_utc();
        let length = if end > start { end - start } else { end - start + Days::days(1) };
        if opened <= now && now < opened + length {
            return Some(opened);
        }
    }
    None
}

/// Whether an automatic backup is due at `now`: a window is open, it opened after the
/// instance was created (a new instance waits for its next window), and no automatic
/// backup was started since it opened.
pub fn backup_due(policy: &BackupPolicy, created: DateTime<Utc>, last_automatic: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match open_window(policy, now) {
        Some(opened) => opened > created && last_automatic.is_none_or(|last| last < opened),
        None => false,
    }
}

/// The next moment an automatic backup starts, after `now`.
fn next_window(policy: &BackupPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (start, _) = parse_window(&policy.preferred_time)?;
    let days = parse_period(&policy.preferred_period)?;
    (0..8).map(|ahead| (now.date_naive() + Days::days(ahead)).and_time(start).and_utc()).find(|t| *t > now && days.contains(&t.weekday()))
}

/// Which of an instance's ended sets retention deletes at `now`: those older than the
/// retention, except the newest successful one at or before the cut (the start of every
/// point in time still kept).
pub fn expired_sets(sets: &[BackupRow], retention_days: i64, now: DateTime<Utc>) -> Vec<i64> {
    let cut = now - Days::days(retention_days);
    let when = |s: &BackupRow| s.consistent_at.or(s.finished_at).unwrap_or(s.created_at);
    let base = sets.iter().filter(|s| s.status == BackupStatus::Success && when(s) <= cut).max_by_key(|s| when(s)).map(|s| s.id);
    sets.iter().filter(|s| s.status.is_terminal() && when(s) <= cut && Some(s.id) != base).map(|s| s.id).collect()
}

/// Before which moment archived log files are no longer needed at `now`: those written
/// before the newest successful set at or before the log retention cut started (a restore
/// to any kept moment starts from that set or a later one). `None`: keep them all.
pub fn logs_needed_from(sets: &[BackupRow], policy: &BackupPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !policy.log_backup {
        return Some(now);
    }
    let cut = now - Days::days(policy.log_retention_days);
    sets.iter()
        .filter(|s| s.status == BackupStatus::Success && s.consistent_at.is_some_and(|c| c <= cut))
        .max_by_key(|s| s.consistent_at)
        .and_then(|s| s.started_at)
}

fn days_in_range(name: &str, value: &str) -> Result<i64> {
    match value.trim().parse::<i64>() {
        Ok(days) if RETENTION_DAYS.contains(&days) => Ok(days),
        _ => Err(ControlError::invalid(name, format!("{value:?} must be a number of days from 7 to 730"))),
    }
}

impl ControlPlane {
    /// The instance's policy, or the default one.
    pub(crate) async fn policy_of(&self, row: &InstanceRow) -> Result<BackupPolicy> {
        Ok(self.store.get_backup_policy(&row.id).await?.unwrap_or_else(|| default_policy(&row.id, &row.account_uid, row.created_at)))
    }

    /// DescribeBackupPolicy: the policy and when its next backup starts.
    pub async fn describe_backup_policy(&self, caller: &Caller, instance_id: &str) -> Result<(BackupPolicy, Option<DateTime<Utc>>)> {
        let row = self.authorized_instance(caller, Action::DescribeBackupPolicy, instance_id).await?;
        let policy = self.policy_of(&row).await?;
        let next = next_window(&policy, Utc::now());
        Ok((policy, next))
    }

    /// ModifyBackupPolicy: every value checked before anything changes.
    pub async fn modify_backup_policy(&self, caller: &Caller, instance_id: &str, change: PolicyChange) -> Result<BackupPolicy> {
        let row = self.authorized_instance(caller, Action::ModifyBackupPolicy, instance_id).await?;
        if row.status != InstanceStatus::Running {
            return Err(ControlError::IncorrectInstanceState(format!("The instance {} is {}; its backup policy can be changed only while it is Running.", row.id, row.status)));
        }
        match change.mode.as_deref() {
            None | Some("DataBackupPolicy" | "LogBackupPolicy") => {}
            Some(other) => return Err(ControlError::invalid("BackupPolicyMode", format!("{other:?} is not one of DataBackupPolicy, LogBackupPolicy"))),
        }
        let mut policy = self.policy_of(&row).await?;
        if let Some(t) = change.preferred_time {
            if parse_window(&t).is_none() {
                return Err(ControlError::invalid("PreferredBackupTime", format!("{t:?} is not a UTC window like 02:00Z-03:00Z")));
            }
            policy.preferred_time = t;
        }
        if let Some(p) = change.preferred_period {
            match parse_period(&p) {
                Some(days) if days.len() >= 2 => {
                    policy.preferred_period = days.iter().map(|d| WEEKDAYS[d.num_days_from_monday() as usize]).collect::<Vec<_>>().join(",")
                }
                _ => return Err(ControlError::invalid("PreferredBackupPeriod", format!("{p:?} must name at least two of Monday..Sunday, comma-separated"))),
            }
        }
        if let Some(d) = change.retention_days {
            policy.retention_days = days_in_range("BackupRetentionPeriod", &d)?;
        }
        let log = match (change.backup_log.as_deref(), change.enable_backup_log.as_deref()) {
            (Some("Enable"), _) | (_, Some("True" | "true" | "1")) => Some(true),
            (Some("Disabled"), _) | (_, Some("False" | "false" | "0")) => Some(false),
            (Some(other), _) => return Err(ControlError::invalid("BackupLog", format!("{other:?} is not one of Enable, Disabled"))),
            (_, Some(other)) => return Err(ControlError::invalid("EnableBackupLog", format!("{other:?} is not one of True, False, 1, 0"))),
            (None, None) => None,
        };
        if let Some(on) = log {
            policy.log_backup = on;
        }
        if let Some(d) = change.log_retention_days {
            policy.log_retention_days = days_in_range("LogBackupRetentionPeriod", &d)?;
        }
        if policy.log_retention_days > policy.retention_days {
            return Err(ControlError::invalid(
                "LogBackupRetentionPeriod",
                format!("{} days is longer than the data backups are kept ({} days)", policy.log_retention_days, policy.retention_days),
            ));
        }
        policy.updated_at = Utc::now();
        self.store.put_backup_policy(&policy).await?;
        Ok(policy)
    }

    /// Starts the scheduler: due automatic backups every few seconds, retention every minute.
    pub(crate) fn spawn_backup_scheduler(&self) {
        let Some(plane) = self.self_arc() else { return };
        crate::supervisor::on_running_instances(&plane, SCHEDULE_EVERY, |plane, rows| async move {
            for row in &rows {
                if let Err(e) = plane.start_due_backup(row).await {
                    tracing::warn!(instance = %row.id, error = %e, "could not start an automatic backup");
                }
            }
        });
        crate::supervisor::on_running_instances(&plane, RETENTION_EVERY, |plane, _| async move {
            if let Err(e) = plane.apply_retention().await {
                tracing::warn!(error = %e, "could not apply backup retention");
            }
        });
    }

    async fn start_due_backup(&self, row: &InstanceRow) -> Result<()> {
        let policy = self.policy_of(row).await?;
        let filter = BackupFilter { instance_id: Some(row.id.clone()), mode: Some(BackupMode::Automated), ..Default::default() };
        let last = self.store.list_backups(&filter, Some(store::Page { number: 1, size: 1 })).await?.items.first().map(|b| b.created_at);
        if !backup_due(&policy, row.created_at, last, Utc::now()) {
            tracing::trace!(instance = %row.id, window = %policy.preferred_time, ?last, "no automatic backup due");
            return Ok(());
        }
        let job = BackupRow::queued(row, BackupMode::Automated, Utc::now());
        match self.store.begin_backup(&job).await {
            Ok(id) => {
                tracing::info!(instance = %row.id, backup_id = id, "automatic backup started");
                self.spawn_backup(BackupRow { id, ..job });
                Ok(())
            }
            // A manual one runs: the window stays open, the next tick tries again.
            Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every instance's expired sets and the archived logs no kept moment needs.
    async fn apply_retention(&self) -> Result<()> {
        let ended = BackupFilter { status: Some(vec![BackupStatus::Success, BackupStatus::Failed]), ..Default::default() };
        let mut all = self.store.list_backups(&ended, None).await?.items;
        all.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let now = Utc::now();
        for sets in all.chunk_by(|a, b| a.instance_id == b.instance_id) {
            let instance_id = &sets[0].instance_id;
            let policy = match self.store.get_backup_policy(instance_id).await? {
                Some(p) => p,
                None => match self.store.get_instance(instance_id).await {
                    Ok(row) => default_policy(&row.id, &row.account_uid, row.created_at),
                    Err(_) => default_policy(instance_id, &sets[0].account_uid, now),
                },
            };
            for id in expired_sets(sets, policy.retention_days, now) {
                let Some(set) = sets.iter().find(|s| s.id == id) else { continue };
                if !set.location.is_empty() {
                    let _ = std::fs::remove_dir_all(&set.location);
                }
                self.store.delete_backup(id).await?;
                tracing::info!(instance = %instance_id, backup_id = id, "backup set expired and deleted");
            }
            if let Some(before) = logs_needed_from(sets, &policy, now) {
                remove_logs_before(&self.logs_dir(instance_id), before);
            }
        }
        Ok(())
    }
}

/// Removes the archived log files last written before `before` (the area's own marker
/// stays).
fn remove_logs_before(dir: &Path, before: DateTime<Utc>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry.metadata().ok().and_then(|m| m.modified().ok()).is_some_and(|t| DateTime::<Utc>::from(t) < before);
        if old && entry.file_name() != super::backups::CLOSED_AT {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove an expired log file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(time: &str, period: &str) -> BackupPolicy {
        BackupPolicy { preferred_time: time.into(), preferred_period: period.into(), ..default_policy("pgm-x", "1", Utc::now()) }
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // 2026-12-07 is a Monday.
        Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap()
    }

    #[test]
    fn a_backup_is_due_once_per_open_window_on_the_policy_days() {
        let p = policy("02:00Z-03:00Z", "Monday,Wednesday");
        let created = at(1, 0, 0);
        assert!(backup_due(&p, created, None, at(7, 2, 30)), "Monday, inside the window");
        assert!(!backup_due(&p, created, Some(at(7, 2, 1)), at(7, 2, 30)), "already taken in this window");
        assert!(backup_due(&p, created, Some(at(6, 2, 1)), at(7, 2, 0)), "the last one was of an earlier window");
        assert!(!backup_due(&p, created, None, at(7, 3, 0)), "the window has closed");
        assert!(!backup_due(&p, created, None, at(8, 2, 30)), "Tuesday is not a policy day");
        assert!(!backup_due(&p, at(7, 2, 10), None, at(7, 2, 30)), "a new instance waits for its next window");
        let night = policy("23:30Z-00:30Z", "Sunday,Monday");
        assert!(backup_due(&night, created, None, at(8, 0, 10)), "a window crossing midnight, opened on Monday");
        assert!(!backup_due(&night, created, None, at(9, 0, 10)), "Wednesday's early hours: Tuesday is not a policy day");
        assert_eq!(next_window(&p, at(7, 2, 30)), Some(at(9, 2, 0)));
    }

    #[test]
    fn policies_are_parsed_strictly() {
        assert_eq!(parse_window("02:00Z-03:00Z"), Some((NaiveTime::from_hms_opt(2, 0, 0).unwrap(), NaiveTime::from_hms_opt(3, 0, 0).unwrap())));
        for bad in ["02:00-03:00", "2:00Z", "25:00Z-01:00Z", "02:00Z-02:00Z", ""] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
        assert_eq!(parse_period("Wednesday,Monday,Monday").map(|d| d.len()), Some(2));
        assert_eq!(parse_period("Mon,Tue"), None, "full names only");
        let id = default_policy("pgm-abc", "1", Utc::now());
        assert!(parse_window(&id.preferred_time).is_some() && parse_period(&id.preferred_period).map(|d| d.len()) == Some(7));
    }

    fn set(id: i64, days_ago: i64, status: BackupStatus, now: DateTime<Utc>) -> BackupRow {
        let t = now - Days::days(days_ago);
        BackupRow {
            id,
            status,
            consistent_at: (status == BackupStatus::Success).then_some(t),
            started_at: Some(t),
            finished_at: Some(t),
            ..BackupRow::queued(&InstanceRow::sample("pgm-x", "1", t), BackupMode::Automated, t)
        }
    }

    #[test]
    fn retention_keeps_the_base_of_the_oldest_kept_moment() {
        let now = at(20, 12, 0);
        let sets = vec![
            set(1, 20, BackupStatus::Success, now),
            set(2, 10, BackupStatus::Success, now),
            set(3, 9, BackupStatus::Failed, now),
            set(4, 8, BackupStatus::Success, now),
            set(5, 3, BackupStatus::Success, now),
        ];
        // 7 days kept: 4 (8 days old) is the base of moments 7 days ago.
        assert_eq!(expired_sets(&sets, 7, now), vec![1, 2, 3]);
        assert_eq!(expired_sets(&sets, 30, now), Vec::<i64>::new());
        let p = BackupPolicy { log_retention_days: 7, ..policy("02:00Z-03:00Z", "Monday,Tuesday") };
        assert_eq!(logs_needed_from(&sets, &p, now), Some(now - Days::days(8)));
        assert_eq!(logs_needed_from(&sets[4..], &p, now), None, "no set old enough: every log is still needed");
        let off = BackupPolicy { log_backup: false, ..p };
        assert_eq!(logs_needed_from(&sets, &off, now), Some(now));
    }
}
