//! The server's error log (DescribeErrorLogs): `server.log` in the instance's directory
//! (`log-error` in my.cnf). MariaDB stamps its lines in the server's local time, in whole
//! seconds: `2026-12-04 21:35:40 42 [ERROR] message`.

use engine::{ErrorLogEntry, SlowQuery};

/// The statements of the slow query log (`slow.log`) that started between `from_ms` and
/// `to_ms`. Each entry is `# User@Host: u[u] @ host [ip]`, `# Thread_id: .. Schema: db`,
/// `# Query_time: s  Lock_time: s  Rows_sent: n  Rows_examined: n`, `SET timestamp=<unix>;`
/// (when the statement started) and the statement.
pub(super) fn slow_queries(text: &str, from_ms: i64, to_ms: i64) -> Vec<SlowQuery> {
    let mut found = Vec::new();
    let mut current: Option<SlowQuery> = None;
    let mut in_sql = false;
    let close = |q: Option<SlowQuery>, found: &mut Vec<SlowQuery>| {
        if let Some(q) = q.filter(|q| !q.sql.is_empty() && (from_ms..=to_ms).contains(&q.started_ms)) {
            found.push(q);
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# User@Host: ") {
            close(current.take(), &mut found);
            in_sql = false;
            let user = rest.split('[').next().unwrap_or_default().trim().to_string();
            let client = rest.rsplit_once('[').map(|(_, ip)| ip.trim_end_matches(']').trim().to_string()).unwrap_or_default();
            current = Some(SlowQuery { started_ms: 0, duration_ms: 0, sql: String::new(), user, database: String::new(), client, rows_sent: 0, rows_examined: 0, lock_ms: 0 });
            continue;
        }
        // The header the server writes at each start ends the entry before it.
        if line.contains(", Version: ") || line.starts_with("Tcp port:") || line.starts_with("Time\t") {
            close(current.take(), &mut found);
            in_sql = false;
            continue;
        }
        let Some(q) = current.as_mut() else { continue };
        if let Some(rest) = line.strip_prefix("# ") {
            if in_sql {
                // The next entry's `# Time:` line.
                close(current.take(), &mut found);
                in_sql = false;
                continue;
            }
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // An empty value leaves the next field's name where the value would be.
            for pair in fields.windows(2).filter(|p| !p[1].ends_with(':')) {
                let number = |s: &str| s.parse::<f64>().unwrap_or(0.0);
                match pair[0] {
                    "Schema:" => q.database = pair[1].to_string(),
                    "Query_time:" => q.duration_ms = (number(pair[1]) * 1000.0).round() as i64,
                    "Lock_time:" => q.lock_ms = (number(pair[1]) * 1000.0).round() as i64,
                    "Rows_sent:" => q.rows_sent = number(pair[1]) as i64,
                    "Rows_examined:" => q.rows_examined = number(pair[1]) as i64,
                    _ => {}
                }
            }
        } else if let Some(unix) = line.strip_prefix("SET timestamp=").and_then(|t| t.trim_end_matches(';').parse::<i64>().ok()) {
            q.started_ms = unix * 1000;
            in_sql = true;
        } else if in_sql {
            if !q.sql.is_empty() {
                q.sql.push('\n');
            }
            q.sql.push_str(line);
        } else if let Some(db) = line.strip_prefix("use ").map(|d| d.trim_end_matches(';').trim_matches('`')) {
            if q.database.is_empty() {
                q.database = db.to_string();
            }
        }
    }
    close(current.take(), &mut found);
    found
}

/// The `[ERROR]` lines of `text` between `from_ms` and `to_ms`, with the unstamped lines
/// that follow each appended; `local` turns the log's local time into UTC.
pub(super) fn errors(text: &str, from_ms: i64, to_ms: i64, local: impl Fn(chrono::NaiveDateTime) -> Option<i64>) -> Vec<ErrorLogEntry> {
    let mut found: Vec<ErrorLogEntry> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        let stamped = line.get(..19).and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok());
        match stamped {
            Some(at) => {
                let rest = &line[19..];
                open = false;
                let Some((_, message)) = rest.split_once(" [ERROR] ") else { continue };
                let Some(at_ms) = local(at) else { continue };
                if (from_ms..=to_ms).contains(&at_ms) {
                    open = true;
                    found.push(ErrorLogEntry { at_ms, message: message.trim().to_string(), user: String::new(), database: String::new(), client: String::new() });
                }
            }
            None => {
                if let (true, Some(last)) = (open, found.last_mut()) {
                    if !line.trim().is_empty() {
                        last.message.push('\n');
                        last.message.push_str(line.trim());
                    }
                }
            }
        }
    }
    found
}

/// The server's local time as UTC milliseconds (the server runs in the host's zone).
pub(super) fn host_local(at: chrono::NaiveDateTime) -> Option<i64> {
    use chrono::TimeZone;
    chrono::Local.from_local_datetime(&at).earliest().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_statements_with_their_session() {
        let log = "\
/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1-log (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld.sock
Time\t\t    Id Command\tArgument
# Time: 261204 21:35:41
# User@Host: app[app] @  [127.0.0.1]
# Thread_id: 8  Schema: shop  QC_hit: No
# Query_time: 1.500123  Lock_time: 0.000050  Rows_sent: 1  Rows_examined: 0
# Rows_affected: 0  Bytes_sent: 63
SET timestamp=1796418940;
SELECT SLEEP(1.5),
  42;
# User@Host: bob[bob] @ localhost [10.0.0.7]
# Thread_id: 9  Schema:   QC_hit: No
# Query_time: 2.000000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 1000
use crm;
SET timestamp=1796418950;
UPDATE t SET x = 1;
";
        let all = slow_queries(log, 0, i64::MAX);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!((all[0].user.as_str(), all[0].database.as_str(), all[0].client.as_str()), ("app", "shop", "127.0.0.1"));
        assert_eq!((all[0].started_ms, all[0].duration_ms, all[0].rows_sent), (1796418940000, 1500, 1));
        assert_eq!(all[0].sql, "SELECT SLEEP(1.5),\n  42;");
        assert_eq!((all[1].database.as_str(), all[1].rows_examined, all[1].client.as_str()), ("crm", 1000, "10.0.0.7"));
        assert_eq!(slow_queries(log, 1796418945000, i64::MAX).len(), 1);
    }

    #[test]
    fn error_lines_and_what_follows_them() {
        let log = "\
2026-12-04 21:35:40 0 [Note] Starting MariaDB 10.11.19
2026-12-04 21:35:41 12 [ERROR] Incorrect definition of table mysql.event: expected column 'definer'
  at line 4
2026-12-04 21:35:42 0 [Warning] Aborted connection 13
2026-12-04 21:35:50 0 [ERROR] InnoDB: Cannot open datafile './shop/t.ibd'
";
        let utc = |t: chrono::NaiveDateTime| Some(t.and_utc().timestamp_millis());
        let all = errors(log, 0, i64::MAX, utc);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].message, "Incorrect definition of table mysql.event: expected column 'definer'\nat line 4");
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_millis();
        assert_eq!(errors(log, at("2026-12-04 21:35:45"), at("2026-12-04 21:36:00"), utc).len(), 1);
    }
}
