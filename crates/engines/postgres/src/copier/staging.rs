//! The destination side around the data: staging databases (named so a task's leftovers
//! can always be found and dropped), roles created for the copy, database-level
//! properties, and publication by rename.
//!
//! Every name a task creates on the destination starts with the task's staging prefix,
//! and every role it creates carries a comment naming that prefix until publication, so
//! [`super::drop_staging`] can undo a task after a crash with nothing but its tag.

use super::conn::{ident, literal, PgEndpoint, MAINTENANCE_DB};
use mover::staging::{aside_name, staging_prefix};
use mover::Endpoint;
use super::error::{pg_error, Result};
use mover::{MoveError, Side};
use super::plan::DbInfo;
use std::collections::BTreeSet;
use tokio_postgres::Client;

fn role_marker(tag: &str) -> String {
    format!("created by openrds-mover for {}", staging_prefix(tag))
}

fn dst_err(what: &str) -> impl FnOnce(tokio_postgres::Error) -> MoveError + '_ {
    move |e| pg_error(Side::Destination, what, e)
}

pub(crate) async fn maintenance(dest: &Endpoint) -> Result<Client> {
    dest.connect(MAINTENANCE_DB, Side::Destination).await
}

pub(crate) async fn server_version(client: &Client, side: Side) -> Result<i32> {
    let v: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(|e| pg_error(side, "read server version", e))?
        .get(0);
    v.parse().map_err(|_| MoveError::Internal(format!("{side} reports server_version_num {v:?}")))
}

/// What the destination server and login allow the load sessions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Destination {
    /// A superuser may edit the catalog of its staging tables while loading them
    /// ([`super::data::PartLoad::unchecked_lengths`]).
    pub superuser: bool,
    /// The server compresses TOAST values with LZ4 when asked (PostgreSQL 14+, built with it).
    pub lz4: bool,
}

pub(crate) async fn destination(client: &Client) -> Result<Destination> {
    let r = client
        .query_one(
            "SELECT current_setting('is_superuser') = 'on', \
               coalesce((SELECT 'lz4' = ANY(enumvals) FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression'), false)",
            &[],
        )
        .await
        .map_err(dst_err("read the login's attributes"))?;
    Ok(Destination { superuser: r.get(0), lz4: r.get(1) })
}

pub(crate) async fn database_exists(client: &Client, name: &str) -> Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(dst_err("look up database"))?
        .is_some())
}

/// `None` if `name` holds no user objects, else a short description of what it holds.
pub(crate) async fn user_objects(dest: &Endpoint, name: &str) -> Result<Option<String>> {
    let c = dest.connect(name, Side::Destination).await?;
    let r = c
        .query_one(
            "SELECT \
               (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'), \
               (SELECT count(*) FROM pg_catalog.pg_proc WHERE oid >= 16384), \
               (SELECT count(*) FROM pg_catalog.pg_type WHERE oid >= 16384 AND typrelid = 0 AND typcategory <> 'A'), \
               (SELECT count(*) FROM pg_catalog.pg_namespace WHERE oid >= 16384 AND nspname !~ '^pg_'), \
               (SELECT count(*) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'), \
               (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)",
            &[],
        )
        .await
        .map_err(dst_err("inspect destination database"))?;
    let kinds = ["relations", "functions", "types", "schemas", "extensions", "large objects"];
    let parts: Vec<String> = kinds
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let n: i64 = r.get(i);
            (n > 0).then(|| format!("{n} {k}"))
        })
        .collect();
    Ok((!parts.is_empty()).then(|| parts.join(", ")))
}

/// Databases named with the task's prefix (staging and moved-aside ones).
pub(crate) async fn list_staging(client: &Client, tag: &str) -> Result<Vec<String>> {
    let prefix = staging_prefix(tag);
    let names: Vec<String> = client
        .query("SELECT datname::text FROM pg_catalog.pg_database", &[])
        .await
        .map_err(dst_err("list databases"))?
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| n.starts_with(&prefix))
        .collect();
    Ok(names)
}

/// Drops the task's databases (sessions in them are ended) and the roles it created that
/// nothing uses any more.
pub(crate) async fn drop_all(client: &Client, tag: &str) -> Result<()> {
    for name in list_staging(client, tag).await? {
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&name)))
            .await
            .map_err(dst_err("drop staging database"))?;
        tracing::info!(database = %name, "dropped staging database");
    }
    let roles: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE pg_catalog.shobj_description(oid, 'pg_authid') = $1",
            &[&role_marker(tag)],
        )
        .await
        .map_err(dst_err("list roles created by the task"))?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    for role in roles {
        // A role that something else started using meanwhile stays.
        if let Err(e) = client.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&role))).await {
            tracing::warn!(role = %role, error = %e, "kept a role created by the task");
        }
    }
    Ok(())
}

/// Creates the roles of `roles` missing on the destination, NOLOGIN and without password,
/// marked as the task's until publication. Returns those it created.
pub(crate) async fn create_roles(client: &Client, roles: &BTreeSet<String>, tag: &str) -> Result<Vec<String>> {
    let wanted: Vec<&str> = roles.iter().map(String::as_str).collect();
    let existing: BTreeSet<String> = client
        .query("SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1)", &[&wanted])
        .await
        .map_err(dst_err("look up roles"))?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let mut created = Vec::new();
    for role in roles.iter().filter(|r| !existing.contains(*r)) {
        let sql = format!("CREATE ROLE {} NOLOGIN; COMMENT ON ROLE {} IS {}", ident(role), ident(role), literal(&role_marker(tag)));
        match client.batch_execute(&sql).await {
            Ok(()) => created.push(role.clone()),
            // Created by someone else meanwhile: it exists, which is all we need.
            Err(e) if e.code().map(|c| c.code()) == Some("42710") => {}
            Err(e) => return Err(pg_error(Side::Destination, &format!("create role {role}"), e)),
        }
    }
    Ok(created)
}

/// Published: the roles are ordinary roles from now on.
pub(crate) async fn unmark_roles(client: &Client, roles: &[String]) -> Result<()> {
    for role in roles {
        client
            .batch_execute(&format!("COMMENT ON ROLE {} IS NULL", ident(role)))
            .await
            .map_err(dst_err("finish created role"))?;
    }
    Ok(())
}

/// CREATE DATABASE with the source's encoding and locale, from template0 so nothing of
/// the destination's template1 leaks in.
pub(crate) async fn create_staging(client: &Client, name: &str, info: &DbInfo, dest_version: i32) -> Result<()> {
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        ident(name),
        literal(&info.encoding),
        literal(&info.collate),
        literal(&info.ctype)
    );
    if dest_version >= 150000 {
        match (info.locale_provider.as_deref(), info.icu_locale.as_deref()) {
            (Some("i"), Some(l)) => sql.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {}", literal(l))),
            (Some("b"), Some(l)) => sql.push_str(&format!(" LOCALE_PROVIDER builtin BUILTIN_LOCALE {}", literal(l))),
            _ => {}
        }
    }
    client.batch_execute(&sql).await.map_err(dst_err("create staging database"))
}

/// Settings whose value is a list of quoted items (GUC_LIST_QUOTE): each item must be
/// given as its own literal, as pg_dump does, or the list becomes one item.
const LIST_SETTINGS: &[&str] = &["search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries", "shared_preload_libraries", "unix_socket_directories"];

fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        item.push('"');
                    } else {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        items.push(item);
        if chars.next().is_none() {
            break;
        }
    }
    items.retain(|i| !i.is_empty());
    items
}

fn setting_value(name: &str, value: &str) -> String {
    if LIST_SETTINGS.contains(&name) {
        let items = split_list(value);
        if items.is_empty() {
            return "''".into();
        }
        items.iter().map(|i| literal(i)).collect::<Vec<_>>().join(", ")
    } else {
        literal(value)
    }
}

/// Owner, comment, privileges and settings of the source database, applied to the
/// staging database (they follow it through the rename, so they end up under the
/// destination name). Settings come last: they could affect sessions opened on the
/// database, and none are opened after this.
pub(crate) async fn apply_properties(client: &Client, staging: &str, info: &DbInfo) -> Result<Vec<String>> {
    let db = ident(staging);
    let mut sql = format!("ALTER DATABASE {db} OWNER TO {};\n", ident(&info.owner));
    if let Some(c) = &info.comment {
        sql.push_str(&format!("COMMENT ON DATABASE {db} IS {};\n", literal(c)));
    }
    if let Some(acl) = &info.acl {
        sql.push_str(&format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC;\nREVOKE ALL ON DATABASE {db} FROM {};\n", ident(&info.owner)));
        for (grantee, privilege, grantable) in acl {
            let to = grantee.as_deref().map(ident).unwrap_or_else(|| "PUBLIC".into());
            let opt = if *grantable { " WITH GRANT OPTION" } else { "" };
            sql.push_str(&format!("GRANT {privilege} ON DATABASE {db} TO {to}{opt};\n"));
        }
    }
    let mut applied = Vec::new();
    for (role, configs) in &info.settings {
        for entry in configs {
            let Some((name, value)) = entry.split_once('=') else { continue };
            let target = match role {
                Some(r) => format!("ALTER ROLE {} IN DATABASE {db}", ident(r)),
                None => format!("ALTER DATABASE {db}"),
            };
            sql.push_str(&format!("{target} SET {} = {};\n", ident(name), setting_value(name, value)));
            applied.push(match role {
                Some(r) => format!("{r}:{entry}"),
                None => entry.clone(),
            });
        }
    }
    client.batch_execute(&sql).await.map_err(dst_err("apply database properties"))?;
    Ok(applied)
}

/// One database to publish.
pub(crate) struct Publication {
    pub staging: String,
    pub destination: String,
}

/// Renames every staging database to its final name in one transaction, so either all
/// of a task's databases appear or none do. An existing destination database (checked
/// empty again here, since it may have changed during the copy) is moved aside in the
/// same transaction and dropped after. Returns which destinations were replaced.
pub(crate) async fn publish(client: &mut Client, dest: &Endpoint, items: &[Publication], tag: &str) -> Result<Vec<bool>> {
    let mut replaced = Vec::with_capacity(items.len());
    for p in items {
        let exists = database_exists(client, &p.destination).await?;
        if exists {
            if let Some(detail) = user_objects(dest, &p.destination).await? {
                return Err(MoveError::DestinationNotEmpty { database: p.destination.clone(), detail });
            }
        }
        replaced.push(exists);
    }
    let names: Vec<&str> = items.iter().flat_map(|p| [p.destination.as_str(), p.staging.as_str()]).collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        // A database cannot be renamed while anyone is connected to it.
        client
            .query(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE datname = ANY($1) AND pid <> pg_catalog.pg_backend_pid()",
                &[&names],
            )
            .await
            .map_err(dst_err("end sessions before publication"))?;
        let tx = client.transaction().await.map_err(dst_err("begin publication"))?;
        let mut sql = String::new();
        for (p, replace) in items.iter().zip(&replaced) {
            if *replace {
                sql.push_str(&format!("ALTER DATABASE {} RENAME TO {};\n", ident(&p.destination), ident(&aside_name(&p.destination, tag))));
            }
        }
        for p in items {
            sql.push_str(&format!("ALTER DATABASE {} RENAME TO {};\n", ident(&p.staging), ident(&p.destination)));
        }
        let result = match tx.batch_execute(&sql).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => break,
            // 55006: a session (ours closing, autovacuum, an application) is still in
            // one of the databases; end it and try again.
            Err(e) if e.code().map(|c| c.code()) == Some("55006") && attempt < 5 => {
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(pg_error(Side::Destination, "publish (rename staging databases)", e)),
        }
    }
    for (p, replace) in items.iter().zip(&replaced) {
        if *replace {
            let aside = aside_name(&p.destination, tag);
            // Published already: a leftover is dropped by drop_staging later.
            if let Err(e) = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&aside))).await {
                tracing::warn!(database = %aside, error = %e, "could not drop the replaced destination database");
            }
        }
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_are_split_like_pg_dump() {
        assert_eq!(split_list("\"$user\", public"), vec!["$user", "public"]);
        assert_eq!(split_list("a,\"b \"\"q\"\"\""), vec!["a", "b \"q\""]);
        assert_eq!(setting_value("search_path", "\"$user\", public"), "'$user', 'public'");
        assert_eq!(setting_value("work_mem", "64MB"), "'64MB'");
    }
}
