//! Start-up recovery and supervision. Engines outlive the control plane; on start every
//! instance row is reconciled with what runs, and transient states left by a crash are
//! finished or undone. Then two loops keep Running instances running: a watcher that
//! looks at the engines' processes four times a second (cheap: a pid file and `/proc`), so a
//! death shows in the API as `Rebooting` at once and the engine is started again; and a
//! slower one that also logs in, for engines that are up but do not answer.

use store::InstanceStatus;
use crate::{ControlPlane, Result};
use engine::Liveness;
use std::sync::Arc;
use std::time::Duration;
use store::{InstanceFilter, InstanceRow};

/// How often the watcher looks at the engines' processes.
const WATCH_EVERY: Duration = Duration::from_millis(250);

pub(crate) async fn recover(plane: &Arc<ControlPlane>) -> Result<()> {
    // Only root makes (and can remove) instance users.
    if nix::unistd::geteuid().is_root() {
        engine::isolation::sweep_orphaned_users().await;
    }
    let every = InstanceFilter { with_private: true, ..Default::default() };
    let rows = plane.store.list_instances(&every, None).await?.items;
    for row in rows {
        match row.status {
            // A recovery's private server is restored by its task (recover_imports).
            InstanceStatus::Creating if row.is_private() => {}
            InstanceStatus::Creating => {
                tracing::info!(instance = %row.id, "resuming an interrupted creation");
                plane.spawn_provision(row);
            }
            InstanceStatus::Deleting => {
                tracing::info!(instance = %row.id, "resuming an interrupted deletion");
                plane.spawn_delete(row);
            }
            InstanceStatus::Rebooting => plane.spawn_restart(row),
            InstanceStatus::Stopping => plane.spawn_stop(row),
            InstanceStatus::DBInstanceClassChanging => plane.spawn_apply_spec(row),
            // Nothing stops instances yet; whoever did keeps them stopped.
            InstanceStatus::Stopped => {}
            _ => {
                if let Err(e) = ensure_running(plane, &row).await {
                    tracing::error!(instance = %row.id, error = %e, "could not start the engine; the supervisor retries");
                } else if row.is_private() {
                    // Only openrds's administrator ever logs in to a recovery's server.
                } else if let Err(e) = plane.apply_security_ips(&row).await {
                    // Instances of earlier versions had lists the engine did not enforce.
                    tracing::error!(instance = %row.id, error = %e, "could not apply the security IP list");
                }
            }
        }
    }
    Ok(())
}

pub(crate) async fn ensure_running(plane: &ControlPlane, row: &store::InstanceRow) -> Result<()> {
    let _engine = plane.lock_engine(&row.id).await;
    match plane.liveness(row).await? {
        Liveness::Running => Ok(()),
        state => {
            tracing::warn!(instance = %row.id, ?state, "engine is not running; starting it");
            let engine = plane.engine_of(row)?;
            engine.start(&plane.spec(row)?).await?;
            plane
                .store
                .append_event(&format!("dbinstance/{}", row.id), "EngineRestarted", &format!("{{\"was\":\"{state:?}\"}}"))
                .await?;
            Ok(())
        }
    }
}

/// Every `period` until shutdown, hands `visit` the plane and its `Running` instances.
pub(crate) fn on_running_instances<F, Fut>(plane: &Arc<ControlPlane>, period: Duration, visit: F)
where
    F: Fn(Arc<ControlPlane>, Vec<InstanceRow>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    on_instances_in(plane, period, &[InstanceStatus::Running], visit)
}

/// States in which an instance's engine runs and takes writes (its own or an import's).
pub(crate) const WRITING: &[InstanceStatus] = &[InstanceStatus::Running, InstanceStatus::Migrating, InstanceStatus::Importing, InstanceStatus::Restoring];

/// Every `period` until shutdown, hands `visit` the plane and its instances in `statuses`.
pub(crate) fn on_instances_in<F, Fut>(plane: &Arc<ControlPlane>, period: Duration, statuses: &'static [InstanceStatus], visit: F)
where
    F: Fn(Arc<ControlPlane>, Vec<InstanceRow>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(plane);
    let token = plane.shutdown.clone();
    plane.tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            let Some(plane) = weak.upgrade() else { return };
            let mut rows = Vec::new();
            for status in statuses {
                let filter = InstanceFilter { status: Some(*status), ..Default::default() };
                match plane.store.list_instances(&filter, None).await {
                    Ok(page) => rows.extend(page.items),
                    Err(e) => tracing::warn!(error = %e, "the supervisor could not list instances"),
                }
            }
            visit(plane, rows).await;
        }
    });
}

/// Starts the watcher: a Running instance whose engine process is gone becomes
/// `Rebooting` and is started again (back to `Running` whatever the outcome; the slower
/// loop keeps trying).
pub(crate) fn spawn_watcher(plane: &Arc<ControlPlane>) {
    on_running_instances(plane, WATCH_EVERY, |plane, rows| async move {
        for row in rows {
            let (Ok(engine), Ok(spec)) = (plane.engine_of(&row), plane.spec(&row)) else { continue };
            if engine.server_running(&spec) {
                continue;
            }
            // Only a row still Running moves: a delete or restart begun meanwhile
            // stopped the engine on purpose.
            let Ok(row) = plane.store.transition_instance(&row.id, &[InstanceStatus::Running], InstanceStatus::Rebooting).await else { continue };
            tracing::warn!(instance = %row.id, "the engine's process is gone; starting it again");
            let _ = plane.store.append_event(&format!("dbinstance/{}", row.id), "EngineDied", "{}").await;
            plane.spawn_restart(row);
        }
    });
}

pub(crate) fn spawn(plane: &Arc<ControlPlane>) {
    on_running_instances(plane, plane.config.supervise_every, |plane, rows| async move {
        for row in rows {
            if plane.shutdown.is_cancelled() {
                return;
            }
            if let Err(e) = ensure_running(&plane, &row).await {
                tracing::error!(instance = %row.id, error = %e, "could not restart a dead engine");
            }
        }
    });
}
