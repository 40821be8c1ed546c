//! One failpoint mechanism for the whole workspace. Code names its steps
//! (`failpoint::armed("after_plan")`); a test arms one step, either in the environment of
//! the process it starts, `OPENRDS_FAILPOINT=<step>[=<error|cancel|exit>]` (exit when no
//! action is given: a crash), or in-process by handing the step to the code under test
//! (the mover's `TestHooks`). Without the `enabled` feature, which only test builds turn
//! on, [`armed`] is a constant `None` and nothing of this is in the binary.

/// What an armed step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The step fails with an internal error.
    Error,
    /// The work's cancellation is triggered at the step.
    Cancel,
    /// The process exits at once (status 101), as in a crash.
    Exit,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "error" => Action::Error,
            "cancel" => Action::Cancel,
            "exit" => Action::Exit,
            _ => return None,
        })
    }
}

/// The environment variable that arms a step.
pub const VARIABLE: &str = "OPENRDS_FAILPOINT";

/// The step armed in the environment, if any, and what it does.
pub fn from_env() -> Option<(String, Action)> {
    if !cfg!(feature = "enabled") {
        return None;
    }
    parse(&std::env::var(VARIABLE).ok()?)
}

fn parse(value: &str) -> Option<(String, Action)> {
    match value.split_once('=') {
        Some((step, action)) => Some((step.to_string(), Action::parse(action)?)),
        None if !value.is_empty() => Some((value.to_string(), Action::Exit)),
        None => None,
    }
}

/// What `step` does if the environment arms it. A step that only exits can call
/// [`exit_if_armed`] instead.
pub fn armed(step: &str) -> Option<Action> {
    from_env().filter(|(armed, _)| armed == step).map(|(_, action)| {
        tracing::warn!(step, ?action, "failpoint");
        action
    })
}

/// Ends the process at `step` if the environment arms it (whatever the action: at these
/// steps only a crash makes sense).
pub fn exit_if_armed(step: &str) {
    if armed(step).is_some() {
        std::process::exit(101);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_actions_are_read() {
        assert_eq!(parse("after_plan=cancel"), Some(("after_plan".into(), Action::Cancel)));
        assert_eq!(parse("after_accept"), Some(("after_accept".into(), Action::Exit)));
        assert_eq!(parse("after_plan=explode"), None);
        assert_eq!(parse(""), None);
    }
}
