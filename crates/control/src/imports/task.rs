//! An import task as the domain sees it: its row, and the only ways its status and phase
//! change, always together (a task never reads `Success` in phase `Failed`).

use chrono::Utc;
use store::{ImportPhase, ImportStatus, ImportTaskRow};

/// A task being run or recovered. Reads go through to the row; status, phase, error and
/// end time change only through the transitions below.
#[derive(Debug, Clone)]
pub struct ImportTask(ImportTaskRow);

impl ImportTask {
    pub fn new(row: ImportTaskRow) -> ImportTask {
        ImportTask(row)
    }

    /// A new attempt from a fresh snapshot, under a staging tag of its own.
    pub fn start_attempt(&mut self) {
        let t = &mut self.0;
        t.attempts += 1;
        t.status = ImportStatus::Running;
        t.phase = ImportPhase::Starting;
        t.error.clear();
        t.staging_tag = crate::ids::staging_tag(t.id, t.attempts);
        t.started_at.get_or_insert(Utc::now());
    }

    /// The copy is published and verified; `result` is its report (JSON).
    pub fn succeed(&mut self, result: String) {
        self.end(ImportStatus::Success, String::new());
        self.0.result = result;
    }

    /// Ends the task `Failed` or `Canceled` with what to tell the caller, or `Success`.
    pub fn end(&mut self, status: ImportStatus, message: String) {
        debug_assert!(status.is_terminal(), "{status} does not end a task");
        let t = &mut self.0;
        t.status = status;
        t.phase = match status {
            ImportStatus::Success => ImportPhase::Done,
            ImportStatus::Canceled => ImportPhase::Canceled,
            _ => ImportPhase::Failed,
        };
        t.error = message;
        t.finished_at = Some(Utc::now());
    }

    /// Adds to the message of an ended task what is left to know (a cleanup that failed).
    pub fn add_to_error(&mut self, more: &str) {
        self.0.error = format!("{} {more}", self.0.error).trim().to_string();
    }

    /// The task ends now (after its cleanup): the end time the caller sees.
    pub fn finish_now(&mut self) {
        self.0.finished_at = Some(Utc::now());
    }

    /// Keeps the progress the copy last wrote (the task's final account of it).
    pub fn set_progress(&mut self, progress: String) {
        self.0.progress = progress;
    }

    /// The mark the publish gate recorded, if the task may have published.
    pub fn publication_mark(&self) -> Option<serde_json::Value> {
        if self.0.phase != ImportPhase::Publishing {
            return None;
        }
        let marks: serde_json::Value = serde_json::from_str(&self.0.result).ok()?;
        marks.get("Publishing").cloned()
    }
}

impl std::ops::Deref for ImportTask {
    type Target = ImportTaskRow;

    fn deref(&self) -> &ImportTaskRow {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ImportTaskRow {
        ImportTaskRow {
            id: 7,
            account_uid: "1".into(),
            source_id: "a".into(),
            dest_id: "b".into(),
            engine: "Toy".into(),
            db_names: vec![("s".into(), "d".into())],
            status: ImportStatus::Pending,
            phase: ImportPhase::Queued,
            attempts: 0,
            error: "old".into(),
            progress: String::new(),
            result: String::new(),
            staging_tag: String::new(),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn status_and_phase_change_together() {
        let mut t = ImportTask::new(row());
        t.start_attempt();
        assert_eq!((t.status, t.phase, t.attempts, t.error.as_str()), (ImportStatus::Running, ImportPhase::Starting, 1, ""));
        assert!(!t.staging_tag.is_empty() && t.started_at.is_some());
        let first_tag = t.staging_tag.clone();
        t.start_attempt();
        assert_ne!(t.staging_tag, first_tag, "each attempt builds under its own tag");
        t.end(ImportStatus::Canceled, "canceled".into());
        assert_eq!((t.status, t.phase), (ImportStatus::Canceled, ImportPhase::Canceled));
        t.succeed("{}".into());
        assert_eq!((t.status, t.phase, t.error.as_str()), (ImportStatus::Success, ImportPhase::Done, ""));
        assert!(t.finished_at.is_some());
    }
}
