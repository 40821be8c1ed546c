//! Post-data: indexes and constraints built as early as possible, the rest restored by
//! pg_restore afterwards.
//!
//! The post-data section is dumped once per database (DDL only, a small archive). Its
//! table of contents names each entry by catalog and object OID, which the plan knows
//! too: indexes and key constraints of loaded tables are taken out of the archive's list
//! and become "early" jobs that run as soon as their table is loaded, overlapping with
//! the COPY of other tables. Their SQL is pg_dump's own (so CLUSTER ON, REPLICA IDENTITY
//! and statistics targets come along); a plain primary or unique key is built as
//! `CREATE UNIQUE INDEX` + `ADD CONSTRAINT ... USING INDEX`, so that several indexes of
//! one table build side by side instead of queueing behind an ACCESS EXCLUSIVE lock.
//! Everything else (foreign keys, triggers, rules, policies, partitioned-parent indexes
//! and their ATTACH, comments on indexes, materialized view refreshes) stays in the list
//! restored by `pg_restore -j` after all data is in.

use super::conn::{ident, qualified};
use super::plan::{DbPlan, IndexPlan};
use std::collections::{HashMap, HashSet};

const PG_CLASS: u32 = 1259;
const PG_CONSTRAINT: u32 = 2606;

/// One line of `pg_restore -l`.
#[derive(Debug, Clone)]
pub(crate) struct TocEntry {
    pub line: String,
    pub catalog: u32,
    pub oid: u32,
}

/// Entries of a `pg_restore -l` listing (comment lines skipped).
pub(crate) fn parse_toc(listing: &str) -> Vec<TocEntry> {
    listing
        .lines()
        .filter(|l| !l.trim_start().starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let (_, rest) = l.split_once(';')?;
            let mut it = rest.split_whitespace();
            let catalog = it.next()?.parse().ok()?;
            let oid = it.next()?.parse().ok()?;
            Some(TocEntry { line: l.to_string(), catalog, oid })
        })
        .collect()
}

/// An index or key constraint to build once `table_oid` is loaded.
#[derive(Debug, Clone)]
pub(crate) struct EarlyIndex {
    pub table_oid: u32,
    pub name: String,
    /// Statements to run one by one, each in its own transaction.
    pub statements: Vec<String>,
}

/// Splits the archive's entries into early candidates (in plan order) and the rest.
pub(crate) fn partition_entries<'a>(plan: &'a DbPlan, toc: &[TocEntry]) -> (Vec<(&'a IndexPlan, TocEntry)>, Vec<TocEntry>) {
    let loaded: HashSet<u32> = plan.tables.iter().map(|t| t.oid).collect();
    let mut by_key: HashMap<(u32, u32), &TocEntry> = HashMap::new();
    for e in toc {
        by_key.insert((e.catalog, e.oid), e);
    }
    let mut early = Vec::new();
    let mut taken: HashSet<(u32, u32)> = HashSet::new();
    for ix in &plan.indexes {
        if !loaded.contains(&ix.table_oid) {
            continue;
        }
        let key = match &ix.constraint {
            Some(c) => (PG_CONSTRAINT, c.oid),
            None => (PG_CLASS, ix.index_oid),
        };
        if let Some(e) = by_key.get(&key) {
            if taken.insert(key) {
                early.push((ix, (*e).clone()));
            }
        }
    }
    let rest = toc.iter().filter(|e| !taken.contains(&(e.catalog, e.oid))).cloned().collect();
    (early, rest)
}

/// Splits `pg_restore -f -` output into its preamble (session settings) and the SQL of
/// each entry, in order. `None` if the shape is not the expected one; the caller then
/// leaves every entry to pg_restore.
pub(crate) fn split_sql(sql: &str, expected: usize) -> Option<(String, Vec<String>)> {
    let mut preamble = String::new();
    let mut entries: Vec<String> = Vec::new();
    for line in sql.lines() {
        if line.starts_with("-- Name: ") && line.contains("; Type: ") {
            entries.push(String::new());
            continue;
        }
        // Comments and psql meta-commands (\restrict) are not SQL.
        if line.starts_with("--") || line.starts_with('\\') {
            continue;
        }
        match entries.last_mut() {
            Some(e) => {
                e.push_str(line);
                e.push('\n');
            }
            None => {
                preamble.push_str(line);
                preamble.push('\n');
            }
        }
    }
    (entries.len() == expected).then_some((preamble, entries))
}

/// pg_dump's statements of one entry, split at statement ends. Index and constraint
/// definitions hold no semicolon followed by a newline inside a statement.
fn statements(sql: &str) -> Vec<String> {
    sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("{s};")).collect()
}

/// The statements of one early entry.
pub(crate) fn early_statements(plan: &DbPlan, ix: &IndexPlan, entry_sql: &str) -> EarlyIndex {
    let mut stmts = statements(entry_sql);
    let table = plan.tables.iter().find(|t| t.oid == ix.table_oid);
    let name;
    match (&ix.constraint, table) {
        // A plain key of a non-partition table: unique index first, constraint after.
        (Some(c), Some(t)) if ix.plain_unique && (c.kind == "p" || c.kind == "u") && !t.is_partition && !stmts.is_empty() && stmts[0].contains("ADD CONSTRAINT") => {
            let kind = if c.kind == "p" { "PRIMARY KEY" } else { "UNIQUE" };
            let deferral = match (c.deferrable, c.deferred) {
                (true, true) => " DEFERRABLE INITIALLY DEFERRED",
                (true, false) => " DEFERRABLE",
                _ => "",
            };
            let mut v = vec![
                format!("{};", ix.indexdef),
                format!(
                    "ALTER TABLE ONLY {} ADD CONSTRAINT {} {kind} USING INDEX {}{deferral};",
                    qualified(&t.schema, &t.name),
                    ident(&c.name),
                    ident(&ix.index_name)
                ),
            ];
            v.extend(stmts.drain(1..));
            stmts = v;
            name = c.name.clone();
        }
        (Some(c), _) => name = c.name.clone(),
        (None, _) => name = ix.index_name.clone(),
    }
    EarlyIndex { table_oid: ix.table_oid, name, statements: stmts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_lines() {
        let toc = parse_toc(
            ";\n; Archive created\n;\n3197; 2606 16396 CONSTRAINT public t t_pkey postgres\n3198; 1259 16398 INDEX public t_v_idx postgres\n",
        );
        assert_eq!(toc.len(), 2);
        assert_eq!((toc[0].catalog, toc[0].oid), (2606, 16396));
        assert_eq!((toc[1].catalog, toc[1].oid), (1259, 16398));
    }

    #[test]
    fn split_restore_output() {
        let sql = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres\n--\n\nALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n\nALTER TABLE public.t CLUSTER ON t_pkey;\n\n--\n-- Name: t_v_idx; Type: INDEX; Schema: public; Owner: postgres\n--\n\nCREATE INDEX t_v_idx ON public.t USING btree (v);\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n";
        let (pre, entries) = split_sql(sql, 2).expect("two entries");
        assert!(pre.contains("SET statement_timeout = 0;") && !pre.contains("restrict"));
        let s = statements(&entries[0]);
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("ALTER TABLE ONLY public.t") && s[0].ends_with("PRIMARY KEY (id);"));
        assert_eq!(s[1], "ALTER TABLE public.t CLUSTER ON t_pkey;");
        assert_eq!(statements(&entries[1]), vec!["CREATE INDEX t_v_idx ON public.t USING btree (v);"]);
        assert!(split_sql(sql, 3).is_none());
    }
}
