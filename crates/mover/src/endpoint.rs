//! Where a copy reads and writes: an admin login on one server, whatever its engine.

use std::fmt;

/// An admin login on one server: one that can read every object copied (on the
/// source) and create databases and roles (on the destination). It names a server, not a database.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Endpoint {
    // The password is left out so that an endpoint can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password() {
        let e = Endpoint { host: "h".into(), port: 1, user: "u".into(), password: "s3cret".into() };
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
