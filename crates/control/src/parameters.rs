//! Parameters of instances: DescribeParameterTemplates, DescribeParameters, ModifyParameter
//! and DescribeModifyParameterLog, over each engine's curated list (`engine::parameters`).
//! The engine keeps the values where its server reads them at every start; the store keeps
//! the log of changes. A value that needs a restart is written at once and takes effect at
//! the next start, or now with `Forcerestart`.

use crate::{Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use engine::parameters::{ParameterDef, Parameters};
use engine::Engine;
use std::collections::BTreeMap;
use store::{InstanceRow, InstanceStatus, Page, Paged, ParameterChange, ParameterChangeStatus};
use wire::Action;

/// An instance's parameters: those set through the API, and every curated one as the
/// server runs it now.
#[derive(Debug, Clone)]
pub struct InstanceParameters {
    pub row: InstanceRow,
    pub configured: Vec<(&'static ParameterDef, String)>,
    pub running: Vec<(&'static ParameterDef, String)>,
}

/// What ModifyParameter asks for, as sent.
#[derive(Debug, Clone, Default)]
pub struct ParameterRequest {
    /// A JSON object `{"name":"value",...}`.
    pub parameters: Option<String>,
    pub force_restart: bool,
    pub group_id: Option<String>,
    pub switch_time_mode: Option<String>,
}

fn offered(engine: &dyn Engine) -> Result<&dyn Parameters> {
    engine.parameters().ok_or_else(|| ControlError::invalid("Engine", format!("{} instances have no parameters openrds lets callers change", engine.kind())))
}

impl ControlPlane {
    /// DescribeParameterTemplates: the engine's curated list with its defaults.
    pub async fn parameter_templates(&self, caller: &Caller, engine_name: &str, version: &str) -> Result<(&'static str, String, &'static [ParameterDef])> {
        let region = self.config.regions[0].id.clone();
        self.authorize_any_instance(caller, Action::DescribeParameterTemplates, &region).await?;
        let engine = self.engine_named(engine_name)?;
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
        let versions = engine.versions();
        let version = versions.iter().find(|v| v.as_str() == version || major(v) == version || major(v) == major(version)).cloned().ok_or_else(|| {
            ControlError::EngineVersionNotSupported(format!("EngineVersion {version} of {} is not available on this host; available: {}.", engine.kind(), versions.join(", ")))
        })?;
        Ok((engine.kind().as_str(), version, offered(engine.as_ref())?.definitions()))
    }

    /// DescribeParameters.
    pub async fn describe_parameters(&self, caller: &Caller, id: &str) -> Result<InstanceParameters> {
        let row = self.authorized_instance(caller, Action::DescribeParameters, id).await?;
        let (engine, spec) = self.running_engine(&row)?;
        let parameters = offered(engine.as_ref())?;
        let definitions = parameters.definitions();
        let configured = parameters.configured(&spec)?;
        let running = parameters.running(&spec).await?;
        let pick = |values: &BTreeMap<String, String>, all: bool| -> Vec<(&'static ParameterDef, String)> {
            definitions
                .iter()
                .filter_map(|d| match values.get(d.name) {
                    Some(v) => Some((d, v.clone())),
                    None if all => Some((d, d.default.to_string())),
                    None => None,
                })
                .collect()
        };
        Ok(InstanceParameters { configured: pick(&configured, false), running: pick(&running, true), row })
    }

    /// ModifyParameter: every name and value checked before any is written; logged with
    /// the value it replaced. With `Forcerestart`, an instance whose change needs a restart
    /// goes `Rebooting` and restarts.
    pub async fn modify_parameters(&self, caller: &Caller, id: &str, req: ParameterRequest) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyParameter, id).await?;
        if req.group_id.is_some() {
            return Err(ControlError::invalid("ParameterGroupId", "parameter templates are not offered; give the values in Parameters"));
        }
        match req.switch_time_mode.as_deref() {
            None | Some("Immediate") => {}
            Some(other) => return Err(ControlError::invalid("SwitchTimeMode", format!("{other:?}: openrds applies a change at once (Immediate)"))),
        }
        let text = req.parameters.as_deref().ok_or_else(|| ControlError::invalid("Parameters", r#"give the values to set, as {"name":"value"}"#))?;
        let asked: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| ControlError::invalid("Parameters", r#"it is not a JSON object like {"name":"value"}"#))?;
        if asked.is_empty() {
            return Err(ControlError::invalid("Parameters", "give at least one parameter"));
        }
        let (engine, spec) = self.running_engine(&row)?;
        let parameters = offered(engine.as_ref())?;
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &asked {
            let def = engine::parameters::find(parameters.definitions(), name).ok_or_else(|| {
                ControlError::invalid("Parameters", format!("{name} is not a parameter callers may change on {} instances; DescribeParameterTemplates lists them", engine.kind()))
            })?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
                _ => return Err(ControlError::invalid("Parameters", format!("the value of {name} must be a string or a number"))),
            };
            let checked = def.check(&text).map_err(|why| ControlError::invalid("Parameters", format!("{name}: {why}")))?;
            values.insert(name.clone(), checked);
        }
        let running = parameters.running(&spec).await?;
        parameters.configure(&spec, &values).await?;
        let now = Utc::now();
        let mut restart_needed = false;
        let changes: Vec<ParameterChange> = values
            .iter()
            .map(|(name, value)| {
                let def = engine::parameters::find(parameters.definitions(), name).expect("checked above");
                let old = running.get(name).cloned().unwrap_or_else(|| def.default.to_string());
                let waits = def.restart && &old != value;
                restart_needed |= waits;
                ParameterChange {
                    id: 0,
                    instance_id: row.id.clone(),
                    name: name.clone(),
                    old_value: old,
                    new_value: value.clone(),
                    status: if waits { ParameterChangeStatus::Unapplied } else { ParameterChangeStatus::Applied },
                    created_at: now,
                }
            })
            .collect();
        self.store.record_parameter_changes(&changes).await?;
        tracing::info!(instance = %row.id, parameters = ?values, restart_needed, "parameters changed");
        if restart_needed && req.force_restart {
            self.transition_from_running(&row, InstanceStatus::Rebooting).await?;
            self.spawn_restart(row);
        }
        Ok(())
    }

    /// DescribeModifyParameterLog: changes made in [`from`, `to`], newest first. A change
    /// that waited for a restart shows `Applied` once the server runs with it.
    pub async fn parameter_log(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>, page: Page) -> Result<(InstanceRow, Paged<ParameterChange>)> {
        let row = self.authorized_instance(caller, Action::DescribeModifyParameterLog, id).await?;
        let mut log = self.store.list_parameter_changes(&row.id, from, to, Some(page)).await?;
        if log.items.iter().any(|c| c.status == ParameterChangeStatus::Unapplied) && row.status == InstanceStatus::Running {
            let engine = self.engine_of(&row)?;
            if let (Some(parameters), Ok(spec)) = (engine.parameters(), self.spec(&row)) {
                if let Ok(running) = parameters.running(&spec).await {
                    for change in log.items.iter_mut().filter(|c| c.status == ParameterChangeStatus::Unapplied) {
                        if running.get(&change.name) == Some(&change.new_value) {
                            change.status = ParameterChangeStatus::Applied;
                        }
                    }
                }
            }
        }
        Ok((row, log))
    }
}
