//! The server's error log (DescribeErrorLogs): `server.log` in the instance's directory
//! (`log-error` in my.cnf). MariaDB stamps its lines in the server's local time, in whole
//! seconds: `2026-12-04 21:35:40 42 [ERROR] message`.

use engine::ErrorLogEntry;

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
