//! Test hooks shared by both engines' copies; without the `testing` feature every call is
//! a no-op and nothing of them is compiled in.

#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
use crate::error::{MoveError, Result};
use crate::CopyOptions;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Hooks {
    #[cfg(feature = "testing")]
    cancel: CancellationToken,
    #[cfg(feature = "testing")]
    test: crate::TestHooks,
}

impl Hooks {
    #[cfg_attr(not(feature = "testing"), allow(unused_variables))]
    pub fn new(opts: &CopyOptions, cancel: &CancellationToken) -> Self {
        #[cfg(feature = "testing")]
        {
            let mut test = opts.hooks.clone();
            if let Some(armed) = failpoint::from_env() {
                test.failpoint = Some(armed);
            }
            Hooks { cancel: cancel.clone(), test }
        }
        #[cfg(not(feature = "testing"))]
        Hooks {}
    }

    /// Fails, cancels or exits at `step` if a failpoint names it.
    #[cfg_attr(not(feature = "testing"), allow(unused_variables))]
    pub fn fail(&self, step: &str) -> Result<()> {
        #[cfg(feature = "testing")]
        if let Some((name, action)) = &self.test.failpoint {
            if name == step {
                tracing::warn!(step, ?action, "failpoint");
                match action {
                    failpoint::Action::Error => return Err(MoveError::Internal(format!("failpoint {step}"))),
                    failpoint::Action::Cancel => {
                        self.cancel.cancel();
                        return Err(MoveError::Canceled);
                    }
                    failpoint::Action::Exit => std::process::exit(101),
                }
            }
        }
        Ok(())
    }

    /// SQL to run on the destination right before `table` of `destination` is verified.
    #[cfg_attr(not(feature = "testing"), allow(unused_variables))]
    pub fn tamper_sql(&self, destination: &str, table: &str) -> Option<String> {
        #[cfg(feature = "testing")]
        if let Some(t) = &self.test.tamper {
            if t.database == destination && t.table == table {
                return Some(t.sql.clone());
            }
        }
        None
    }
}
