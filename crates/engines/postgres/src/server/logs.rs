//! The server's log, for DescribeErrorLogs and DescribeSlowLogRecords: `server.log` in the
//! instance's directory, written with openrds's `log_line_prefix` (`%m [%p] %q%u@%d %r `,
//! in UTC), so each session's error or slow statement names its user, database and
//! client. Statements that run a second or longer are logged with their duration
//! (`log_min_duration_statement`, a parameter callers may change).

use engine::{ErrorLogEntry, SlowQuery};

/// What postgresql.conf says of the log (lifecycle.rs writes it).
pub(super) const LOG_SETTINGS: &str = "log_timezone = 'UTC'\nlog_line_prefix = '%m [%p] %q%u@%d %r '\nlog_min_duration_statement = 1000\n";

/// The statements logged with their duration between `from_ms` and `to_ms` (by when they
/// started: the line is stamped when they ended), with their continuation lines.
pub(super) fn slow_queries(text: &str, from_ms: i64, to_ms: i64) -> Vec<SlowQuery> {
    let mut found: Vec<SlowQuery> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if let Some((at_ms, session, rest)) = stamped(line) {
            open = false;
            let Some(rest) = rest.strip_prefix("LOG:  duration: ") else { continue };
            let Some((ms, rest)) = rest.split_once(" ms  ") else { continue };
            let Ok(duration) = ms.parse::<f64>() else { continue };
            // `statement: SQL`, or `execute <name>: SQL` for the extended protocol.
            let Some((_, sql)) = rest.split_once(": ") else { continue };
            let started_ms = at_ms - duration.round() as i64;
            if !(from_ms..=to_ms).contains(&started_ms) {
                continue;
            }
            let (user, database, client) = who(session);
            found.push(SlowQuery { started_ms, duration_ms: duration.round() as i64, sql: sql.to_string(), user, database, client, rows_sent: 0, rows_examined: 0, lock_ms: 0 });
            open = true;
        } else if let (true, Some(last)) = (open, found.last_mut()) {
            last.sql.push('\n');
            last.sql.push_str(line);
        }
    }
    found
}

/// A line that starts an entry: its time (unix ms), its session part and the rest.
fn stamped(line: &str) -> Option<(i64, &str, &str)> {
    let (stamp, rest) = line.split_once(" UTC [")?;
    let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.3f").ok()?.and_utc();
    let (_pid, rest) = rest.split_once("] ")?;
    let start = rest.match_indices(": ").map(|(i, _)| rest[..i].rfind(' ').map_or(0, |s| s + 1)).next().unwrap_or(0);
    let (session, tail) = rest.split_at(start);
    Some((at.timestamp_millis(), session, tail))
}

/// (user, database, client) of a session part `user@db host(port) `.
fn who(session: &str) -> (String, String, String) {
    let (mut user, mut database, mut client) = (String::new(), String::new(), String::new());
    if let Some((who, from)) = session.trim().split_once(' ') {
        if let Some((u, d)) = who.split_once('@') {
            user = u.to_string();
            database = d.to_string();
        }
        client = from.split('(').next().unwrap_or_default().to_string();
    }
    (user, database, client)
}

const LEVELS: &[&str] = &["ERROR:", "FATAL:", "PANIC:"];

/// The errors of `text` between `from_ms` and `to_ms`, with the lines that follow each
/// (DETAIL, HINT, STATEMENT, CONTEXT) appended.
pub(super) fn errors(text: &str, from_ms: i64, to_ms: i64) -> Vec<ErrorLogEntry> {
    let mut found: Vec<ErrorLogEntry> = Vec::new();
    // Whether the entry being read is an error kept in `found`.
    let mut open = false;
    for line in text.lines() {
        match parse(line) {
            Line::Error(entry) => {
                open = (from_ms..=to_ms).contains(&entry.at_ms);
                if open {
                    found.push(entry);
                }
            }
            Line::Other => open = false,
            Line::More(more) => {
                if let (true, Some(last)) = (open, found.last_mut()) {
                    last.message.push('\n');
                    last.message.push_str(more);
                }
            }
        }
    }
    found
}

enum Line<'a> {
    /// An error the server logged.
    Error(ErrorLogEntry),
    /// More of the entry before it: its own stamped DETAIL/HINT/STATEMENT/CONTEXT line
    /// (from the keyword on), or an unstamped one.
    More(&'a str),
    /// Any other entry.
    Other,
}

const MORE: &[&str] = &["DETAIL:", "HINT:", "STATEMENT:", "CONTEXT:", "QUERY:"];

fn parse(line: &str) -> Line<'_> {
    // 2026-12-04 21:35:40.123 UTC [4242] alice@shop 127.0.0.1(51234) ERROR:  message
    let Some((stamp, rest)) = line.split_once(" UTC [") else { return Line::More(line.trim()) };
    let Some(at) = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.3f").ok().map(|t| t.and_utc()) else { return Line::More(line.trim()) };
    let Some((_pid, rest)) = rest.split_once("] ") else { return Line::Other };
    // The level is the first `WORD:` after the session part (user@db client, or nothing).
    let Some(start) = rest.match_indices(": ").map(|(i, _)| rest[..i].rfind(' ').map_or(0, |s| s + 1)).next() else { return Line::Other };
    let (session, tail) = rest.split_at(start);
    if MORE.iter().any(|m| tail.starts_with(m)) {
        return Line::More(tail);
    }
    let Some(level) = LEVELS.iter().find(|l| tail.starts_with(**l)) else { return Line::Other };
    let message = tail[level.len()..].trim().to_string();
    let (user, database, client) = who(session);
    Line::Error(ErrorLogEntry { at_ms: at.timestamp_millis(), message, user, database, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_with_their_session_and_following_lines() {
        let log = "\
2026-12-04 21:35:40.123 UTC [4242] alice@shop 127.0.0.1(51234) ERROR:  relation \"nope\" does not exist at character 15
2026-12-04 21:35:40.123 UTC [4242] alice@shop 127.0.0.1(51234) STATEMENT:  SELECT * FROM nope
2026-12-04 21:35:41.000 UTC [77] LOG:  checkpoint starting: time
2026-12-04 21:35:42.500 UTC [4243] bob@crm 10.0.0.7(40000) FATAL:  password authentication failed for user \"bob\"
2026-12-04 21:35:42.500 UTC [4243] bob@crm 10.0.0.7(40000) DETAIL:  Connection matched pg_hba.conf line 3
2026-12-04 21:36:00.000 UTC [77] ERROR:  could not write file
";
        let all = errors(log, 0, i64::MAX);
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!((all[0].user.as_str(), all[0].database.as_str(), all[0].client.as_str()), ("alice", "shop", "127.0.0.1"));
        assert_eq!(all[0].message, "relation \"nope\" does not exist at character 15\nSTATEMENT:  SELECT * FROM nope");
        assert!(all[1].message.starts_with("password authentication failed") && all[1].message.contains("DETAIL:"), "{}", all[1].message);
        assert_eq!((all[2].user.as_str(), all[2].message.as_str()), ("", "could not write file"));
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_millis();
        assert_eq!(errors(log, at("2026-12-04 21:35:42"), at("2026-12-04 21:35:59")).len(), 1);
    }

    #[test]
    fn slow_statements_with_their_start_and_session() {
        let log = "\
2026-12-04 21:35:41.500 UTC [4242] alice@shop 127.0.0.1(51234) LOG:  duration: 1500.250 ms  statement: SELECT pg_sleep(1.5),
\t  42
2026-12-04 21:35:50.000 UTC [4243] bob@crm 10.0.0.7(40000) LOG:  duration: 2000.000 ms  execute <unnamed>: SELECT count(*) FROM t
2026-12-04 21:35:51.000 UTC [77] LOG:  checkpoint complete
";
        let all = slow_queries(log, 0, i64::MAX);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!((all[0].user.as_str(), all[0].database.as_str(), all[0].duration_ms), ("alice", "shop", 1500));
        assert_eq!(all[0].sql, "SELECT pg_sleep(1.5),\n\t  42");
        assert_eq!(all[1].sql, "SELECT count(*) FROM t");
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_millis();
        assert_eq!(all[1].started_ms, at("2026-12-04 21:35:48"));
        assert_eq!(slow_queries(log, at("2026-12-04 21:35:45"), at("2026-12-04 21:36:00")).len(), 1);
    }
}
