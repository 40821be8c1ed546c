//! Roles and accounts an import makes on the destination (for what copied objects name)
//! are accounts: DescribeAccounts lists them as unable to log in, CreateAccount or
//! ResetAccountPassword gives them a login keeping what they own and hold, and
//! DeleteAccount removes them. Both engines, through the API.

mod common;

use engine_postgres::testing::PgConnect;
use common::*;
use mysql_async::prelude::Queryable;

async fn accounts(c: &Client, id: &str) -> Vec<(String, String)> {
    c.listed_pairs("DescribeAccounts", id, ["Accounts", "DBInstanceAccount"], "AccountName", "AccountStatus").await
}

fn status_of(list: &[(String, String)], name: &str) -> Option<String> {
    list.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone())
}

/// The accounts are listed with a login; then DeleteAccount removes `deleted`.
async fn available_then_deleted(c: &Client, id: &str, available: &[&str], deleted: &str) {
    let listed = accounts(c, id).await;
    for name in available {
        assert_eq!(status_of(&listed, name).as_deref(), Some("Available"), "{name}: {listed:?}");
    }
    c.call("DeleteAccount", &[("DBInstanceId", id), ("AccountName", deleted)]).await.ok();
    assert_eq!(status_of(&accounts(c, id).await, deleted), None);
}

async fn import(c: &Client, dst: &str, src: &str, info: &str) -> serde_json::Value {
    let started = c.call("ImportDatabaseBetweenInstances", &[("DBInstanceId", dst), ("SourceDBInstanceId", src), ("DBInfo", info)]).await.ok();
    let done = c.wait_import(dst, started["ImportId"].as_str().unwrap()).await;
    assert_eq!(done["Status"], "Success", "{done}");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_roles_an_import_creates_become_accounts() {
    let (server, c) = serve().await;
    let setup = "CREATE ROLE app_owner NOLOGIN; CREATE ROLE reporting NOLOGIN; CREATE ROLE auditor NOLOGIN;
                 CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'a');
                 ALTER TABLE orders OWNER TO app_owner; GRANT SELECT ON orders TO reporting; GRANT SELECT ON orders TO auditor";
    let (src, dst) = server.pg_pair_with_shop(&c, setup).await;
    let done = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#).await;
    let created = done["Result"]["RolesCreated"].to_string();
    assert!(created.contains("app_owner") && created.contains("reporting"), "{done}");

    let listed = accounts(&c, &dst).await;
    for role in ["app_owner", "reporting", "auditor"] {
        assert_eq!(status_of(&listed, role).as_deref(), Some("Unavailable"), "{role} is listed without a login: {listed:?}");
    }
    // CreateAccount gives the role its login and it keeps what it owns.
    c.call("CreateAccount", &[("DBInstanceId", &dst), ("AccountName", "app_owner"), ("AccountPassword", "Owner_pass_1")]).await.ok();
    let port = c.port(&dst).await;
    let owner = engine::Login { host: "127.0.0.1".into(), port, user: "app_owner".into(), password: "Owner_pass_1".into() };
    owner.connect("shop_copy").await.batch_execute("ALTER TABLE orders ADD COLUMN extra int; INSERT INTO orders VALUES (2, 'b', 0)").await.expect("the owner still owns");
    // A login account of that name now exists.
    c.call("CreateAccount", &[("DBInstanceId", &dst), ("AccountName", "app_owner"), ("AccountPassword", "Owner_pass_1")])
        .await
        .err(400, "InvalidAccountName.Duplicate");
    // ResetAccountPassword does the same for another.
    c.call("ResetAccountPassword", &[("DBInstanceId", &dst), ("AccountName", "reporting"), ("AccountPassword", "Report_pass_1")]).await.ok();
    let reporter = engine::Login { host: "127.0.0.1".into(), port, user: "reporting".into(), password: "Report_pass_1".into() };
    let n: i64 = reporter.connect("shop_copy").await.query_one("SELECT count(*) FROM orders", &[]).await.unwrap().get(0);
    assert_eq!(n, 2, "its grant came along");
    // DeleteAccount works on one that never got a login.
    available_then_deleted(&c, &dst, &["app_owner", "reporting"], "auditor").await;

    c.delete_all(&[&src, &dst]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_accounts_an_import_needs_are_made_locked_and_can_be_given_a_login() {
    let (server, c) = serve().await;
    let (src, dst) = c.running_mariadb_pair("mariadb.x4.large.2c").await;
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "utf8mb4")]).await.ok();
    for name in ["reporter", "clerk"] {
        c.call("CreateAccount", &[("DBInstanceId", &src), ("AccountName", name), ("AccountPassword", "Src_pass_123")]).await.ok();
        c.call("GrantAccountPrivilege", &[("DBInstanceId", &src), ("AccountName", name), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")]).await.ok();
    }
    let s = server.admin_of(&c, &src).await;
    let mut sc = engine_mariadb::testing::connect(&s, Some("shop")).await;
    sc.query_drop("CREATE TABLE orders (id INT PRIMARY KEY, note TEXT)").await.unwrap();
    sc.query_drop("INSERT INTO orders VALUES (1, 'a'), (2, 'b')").await.unwrap();
    drop(sc);
    let done = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#).await;
    let result = done["Result"].to_string();
    assert!(result.contains("reporter") && result.contains("clerk") && !result.contains("AccountsMissing"), "{done}");

    let listed = accounts(&c, &dst).await;
    for name in ["reporter", "clerk"] {
        assert_eq!(status_of(&listed, name).as_deref(), Some("Unavailable"), "{name}: {listed:?}");
    }
    let port = c.port(&dst).await;
    let login = |user: &str, password: &str| engine::Login { host: "127.0.0.1".into(), port, user: user.into(), password: password.into() };
    let opts = |l: &engine::Login| {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(l.host.clone())
            .tcp_port(l.port)
            .user(Some(l.user.clone()))
            .pass(Some(l.password.clone()))
            .db_name(Some("shop_copy"))
            .prefer_socket(false)
    };
    assert!(mysql_async::Conn::new(opts(&login("reporter", ""))).await.is_err(), "a locked account cannot log in");
    c.call("ResetAccountPassword", &[("DBInstanceId", &dst), ("AccountName", "reporter"), ("AccountPassword", "Dst_pass_123")]).await.ok();
    let mut r = mysql_async::Conn::new(opts(&login("reporter", "Dst_pass_123"))).await.expect("ResetAccountPassword gives it a login");
    let n: Option<u64> = r.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(2), "its grants came along");
    c.call("CreateAccount", &[("DBInstanceId", &dst), ("AccountName", "clerk"), ("AccountPassword", "Dst_pass_123")]).await.ok();
    mysql_async::Conn::new(opts(&login("clerk", "Dst_pass_123"))).await.expect("CreateAccount gives it a login");
    available_then_deleted(&c, &dst, &["reporter", "clerk"], "clerk").await;

    c.delete_all(&[&src, &dst]).await;
}
