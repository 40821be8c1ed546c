//! Text work on the DDL `SHOW CREATE` gives: which secondary keys of a table can be built
//! after its data, and the statements that recreate views, routines, triggers and events
//! under another database name.

use super::conn::{ident, literal};
use super::plan::Routine;

/// A table's `CREATE TABLE` with its deferrable secondary keys taken out, and the
/// `ADD ...` clauses that put them back after the load.
///
/// Keys are deferred only where building them later leaves the same table: not when a
/// foreign key is involved (its index must exist from the start, or InnoDB makes one of
/// its own), not FULLTEXT or SPATIAL keys, and not UNIQUE keys of a table without a
/// primary key (the first such key becomes InnoDB's clustered index). Re-added in their
/// original order, the keys come out in the same order `SHOW CREATE TABLE` lists them,
/// because the server sorts keys by kind and then by creation.
pub(crate) fn defer_keys(create: &str, referenced: bool) -> (String, Vec<String>) {
    let lines: Vec<&str> = create.lines().collect();
    let Some(close) = lines.iter().rposition(|l| l.starts_with(')')) else {
        return (create.to_string(), Vec::new());
    };
    if close < 1 || referenced {
        return (create.to_string(), Vec::new());
    }
    let body: Vec<&str> = lines[1..close].iter().map(|l| l.trim_end().trim_end_matches(',')).collect();
    let has_fk = body.iter().any(|l| l.contains(" FOREIGN KEY "));
    let has_pk = body.iter().any(|l| l.trim_start().starts_with("PRIMARY KEY"));
    if has_fk {
        return (create.to_string(), Vec::new());
    }
    // The AUTO_INCREMENT column must lead some key at every moment: its keys stay.
    let auto_increment = body
        .iter()
        .find(|l| l.trim_start().starts_with('`') && l.contains(" AUTO_INCREMENT"))
        .and_then(|l| l.trim_start().strip_prefix('`')?.split('`').next().map(|c| format!("(`{c}`")));
    let deferrable = |l: &str| {
        let t = l.trim_start();
        let columns = t.split_once("` (").map(|(_, cols)| format!("({cols}"));
        let leads_auto_increment = matches!((&auto_increment, &columns), (Some(c), Some(cols)) if cols.starts_with(c.as_str()));
        !leads_auto_increment && (t.starts_with("KEY `") || (has_pk && t.starts_with("UNIQUE KEY `")))
    };
    let kept: Vec<&str> = body.iter().copied().filter(|l| !deferrable(l)).collect();
    let deferred: Vec<String> = body.iter().copied().filter(|l| deferrable(l)).map(|l| format!("ADD {}", l.trim_start())).collect();
    if deferred.is_empty() {
        return (create.to_string(), Vec::new());
    }
    let mut out = String::new();
    out.push_str(lines[0]);
    out.push('\n');
    out.push_str(&kept.join(",\n"));
    out.push('\n');
    out.push_str(&lines[close..].join("\n"));
    (out, deferred)
}

/// Tables named in a `REFERENCES` clause of any of `creates` (same database).
pub(crate) fn referenced_tables(creates: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for c in creates {
        for part in c.split(" REFERENCES `").skip(1) {
            if let Some(end) = part.find("` (") {
                // A name with a backtick in it appears doubled; `db`.`t` names another database.
                let name = &part[..end];
                if !name.contains("`.`") {
                    out.push(name.replace("``", "`"));
                }
            }
        }
    }
    out
}

/// The statements that create `object` in database `db`, copied from database `source`:
/// its session settings, then its DDL. Views name their tables with the database, so the
/// source's name is replaced by `db` in them. With `replace`, the DDL is
/// `CREATE OR REPLACE`, so that finishing a publication twice is harmless.
///
/// The DDL was read as utf8mb4; it is sent so, unless it is plain ASCII, which reads the
/// same in whatever `character_set_client` the object was made under, which is then kept.
pub(crate) fn create_statements(object: &Routine, source: &str, db: &str, replace: bool) -> Vec<String> {
    let mut ddl = object.ddl.clone();
    if object.kind == "VIEW" {
        ddl = ddl.replace(&format!("{}.", ident(source)), &format!("{}.", ident(db)));
    }
    if replace {
        if let Some(rest) = ddl.strip_prefix("CREATE ") {
            if !rest.starts_with("OR REPLACE ") {
                ddl = format!("CREATE OR REPLACE {rest}");
            }
        }
    }
    let client = if ddl.is_ascii() && !object.charset_client.is_empty() { object.charset_client.as_str() } else { "utf8mb4" };
    let mut settings = vec![format!("character_set_client = {}", literal(client))];
    if !object.collation_connection.is_empty() {
        settings.push(format!("collation_connection = {}", literal(&object.collation_connection)));
    }
    // A view keeps no sql_mode: `SHOW CREATE VIEW` prints it canonically, with backslash
    // escapes, so it is read back under a mode without NO_BACKSLASH_ESCAPES whatever the
    // session had for the object before.
    let sql_mode = if object.kind == "VIEW" { "NO_ENGINE_SUBSTITUTION" } else { object.sql_mode.as_str() };
    settings.push(format!("sql_mode = {}", literal(sql_mode)));
    if !object.time_zone.is_empty() {
        settings.push(format!("time_zone = {}", literal(&object.time_zone)));
    }
    vec![format!("USE {}", ident(db)), format!("SET SESSION {}", settings.join(", ")), ddl]
}

/// The event as it is created to prove it can be: disabled, so that it never fires on
/// the staging tables. `SHOW CREATE EVENT` always prints `ON COMPLETION [NOT] PRESERVE`
/// followed by the status.
pub(crate) fn disabled_event(event: &Routine) -> Routine {
    let ddl = event.ddl.replacen(" PRESERVE ENABLE", " PRESERVE DISABLE", 1);
    Routine { ddl, ..event.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SBTEST: &str = "CREATE TABLE `sbtest1` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `k` int(11) NOT NULL DEFAULT 0,\n  `c` char(120) NOT NULL DEFAULT '',\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `c_u` (`c`),\n  KEY `k_1` (`k`)\n) ENGINE=InnoDB AUTO_INCREMENT=100 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

    /// The table defers exactly `deferred` and keeps `kept` in its CREATE.
    fn assert_defers(table: &str, deferred: &[&str], kept: &str) {
        let (create, keys) = defer_keys(table, false);
        assert_eq!(keys, deferred);
        assert!(create.contains(kept), "{kept} left {create}");
    }

    #[test]
    fn secondary_keys_are_deferred_in_order() {
        let (create, keys) = defer_keys(SBTEST, false);
        assert_eq!(keys, vec!["ADD UNIQUE KEY `c_u` (`c`)", "ADD KEY `k_1` (`k`)"]);
        assert!(create.ends_with("  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=100 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"), "{create}");
        assert!(!create.contains("k_1"));
    }

    #[test]
    fn keys_stay_where_foreign_keys_or_clustering_depend_on_them() {
        assert!(defer_keys(SBTEST, true).1.is_empty());
        let fk = "CREATE TABLE `c` (\n  `id` int NOT NULL,\n  `p` int,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `parent` (`id`)\n) ENGINE=InnoDB";
        assert!(defer_keys(fk, false).1.is_empty());
        assert_eq!(referenced_tables(&[fk]), vec!["parent"]);
        let nopk = "CREATE TABLE `n` (\n  `a` int NOT NULL,\n  `b` int,\n  UNIQUE KEY `a` (`a`),\n  KEY `b` (`b`)\n) ENGINE=InnoDB";
        assert_defers(nopk, &["ADD KEY `b` (`b`)"], "UNIQUE KEY `a`");
    }

    #[test]
    fn a_key_the_auto_increment_column_needs_stays() {
        let t = "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `id` int NOT NULL AUTO_INCREMENT,\n  `k` int,\n  PRIMARY KEY (`a`),\n  KEY `by_id` (`id`),\n  KEY `k` (`k`)\n) ENGINE=InnoDB";
        assert_defers(t, &["ADD KEY `k` (`k`)"], "KEY `by_id` (`id`)");
    }

    #[test]
    fn events_are_proven_disabled() {
        let e = Routine {
            kind: "EVENT".into(),
            name: "e".into(),
            sql_mode: String::new(),
            time_zone: "+00:00".into(),
            charset_client: "utf8mb4".into(),
            collation_connection: "utf8mb4_general_ci".into(),
            ddl: "CREATE DEFINER=`a`@`%` EVENT `e` ON SCHEDULE EVERY 1 SECOND ON COMPLETION NOT PRESERVE ENABLE DO DELETE FROM t".into(),
        };
        assert!(disabled_event(&e).ddl.contains("NOT PRESERVE DISABLE DO"));
    }

    #[test]
    fn views_are_pointed_at_the_new_database() {
        let v = Routine {
            kind: "VIEW".into(),
            name: "v".into(),
            sql_mode: String::new(),
            time_zone: String::new(),
            charset_client: "utf8mb4".into(),
            collation_connection: "utf8mb4_general_ci".into(),
            ddl: "CREATE ALGORITHM=UNDEFINED DEFINER=`a`@`%` SQL SECURITY DEFINER VIEW `v` AS select `shop`.`t`.`a` AS `a` from `shop`.`t`".into(),
        };
        let s = create_statements(&v, "shop", "copy", true);
        assert_eq!(s[0], "USE `copy`");
        assert_eq!(s[2], "CREATE OR REPLACE ALGORITHM=UNDEFINED DEFINER=`a`@`%` SQL SECURITY DEFINER VIEW `v` AS select `copy`.`t`.`a` AS `a` from `copy`.`t`");
    }
}
