//! After a restart: the tasks a crash interrupted are finished (published before it) or
//! undone and run again, or ended.

use store::ImportStatus;
use super::*;

impl ControlPlane {
    /// At start-up: every unfinished task's staging databases are dropped; a task being
    /// canceled ends `Canceled`, one out of attempts ends `Failed`, others run again.
    pub(crate) async fn recover_imports(&self) -> Result<()> {
        for task in self.store.unfinished_imports().await? {
            if let Some(ended) = self.published_before_crash(&task).await {
                self.store.end_import(&ended).await?;
                self.release_private_source(&ended.source_id).await;
                continue;
            }
            // A recovery whose backup was still being restored: restored again, unless it
            // was being canceled.
            let restoring = matches!(self.store.get_instance(&task.source_id).await, Ok(s) if s.is_private() && s.status == store::InstanceStatus::Creating);
            if restoring && task.status != ImportStatus::Canceling {
                tracing::info!(import_id = task.id, "resuming an interrupted recovery from its backup set");
                self.spawn_recovery(task);
                continue;
            }
            let dest = self.store.get_instance(&task.dest_id).await;
            let cleaned = match &dest {
                Ok(dest) => match self.engine_of(dest).and_then(|e| Ok((e.clone(), self.spec(dest)?))) {
                    Ok((engine, spec)) => {
                        let _ = engine.start(&spec).await;
                        match engine.admin(&spec) {
                            Ok(admin) if !task.staging_tag.is_empty() => {
                                engine.copier().discard(&endpoint(admin), &task.staging_tag).await.map_err(|e| e.to_string())
                            }
                            Ok(_) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let ending = match (&cleaned, task.status) {
                (_, ImportStatus::Canceling) => Some((ImportStatus::Canceled, "The import was canceled; the destination is as it was before.".to_string())),
                (Err(e), _) => Some((ImportStatus::Failed, format!("Recovery after a restart could not clean the destination: {e}"))),
                (Ok(()), _) if task.attempts >= MAX_ATTEMPTS => Some((
                    ImportStatus::Failed,
                    format!("The import was interrupted {} times (last: a restart of openrds); giving up.", task.attempts),
                )),
                _ => None,
            };
            match ending {
                Some((status, error)) => {
                    tracing::warn!(import_id = task.id, %status, "ending an interrupted import");
                    let source = task.source_id.clone();
                    let mut ended = ImportTask::new(task);
                    ended.end(status, error);
                    self.store.end_import(&ended).await?;
                    self.release_private_source(&source).await;
                }
                None => {
                    tracing::info!(import_id = task.id, attempt = task.attempts + 1, "resuming an interrupted import from a fresh snapshot");
                    self.spawn_import(task);
                }
            }
        }
        Ok(())
    }

    /// A task that crashed while publishing: whether the mark recorded at its publish
    /// gate shows the copy published (verification had passed before the gate), in which
    /// case the mover finishes what publication left and the task is returned ended
    /// `Success`. `None` means not published (or not knowable now), and the usual
    /// recovery applies.
    pub(super) async fn published_before_crash(&self, task: &ImportTaskRow) -> Option<ImportTask> {
        let task = ImportTask::new(task.clone());
        let mark = task.publication_mark()?;
        let mark = &mark;
        let dest = self.store.get_instance(&task.dest_id).await.ok()?;
        let engine = self.engine_of(&dest).ok()?.clone();
        let spec = self.spec(&dest).ok()?;
        let _ = engine.start(&spec).await;
        let admin = endpoint(engine.admin(&spec).ok()?);
        match engine.copier().published(&admin, &task.staging_tag, mark).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell whether the import had published");
                return None;
            }
        }
        tracing::info!(import_id = task.id, "the import had published before the restart; ending it Success");
        let mut ended = task.clone();
        ended.succeed(serde_json::json!({
            "Databases": task.db_names.iter().map(|(s, d)| serde_json::json!({"Source": s, "Destination": d})).collect::<Vec<_>>(),
            "Verified": true,
            "Note": "the verified copy was published, then the task was interrupted (a restart or a lost connection) and finished from its publication mark; per-table figures were not kept"
        })
        .to_string());
        Some(ended)
    }
}
