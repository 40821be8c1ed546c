//! Security IP lists enforced by the engines themselves: a login from an address outside
//! the list is refused by PostgreSQL or MariaDB, one inside succeeds; ModifySecurityIps
//! (Cover, Append, Delete, groups) and DescribeDBInstanceIPArrayList; the list survives a
//! restart. Several loopback addresses stand for several clients.
//! The MariaDB side is reached through a relay bound to the client address, as its
//! driver cannot choose one.

mod common;

use common::*;
use std::net::SocketAddr;

/// A PostgreSQL login as `app` from `from` (a loopback address).
async fn pg_login(port: u16, from: &str) -> Result<(), String> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse::<SocketAddr>().unwrap()).unwrap();
    let stream = socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.map_err(|e| e.to_string())?;
    let mut config = tokio_postgres::Config::new();
    config.user("app").password("App_pass_123").dbname("postgres");
    let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    client.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| e.to_string())
}

/// A local port whose one connection is relayed to `127.0.0.1:port` from the address
/// `from`, for clients that cannot choose their own source address.
async fn relay_from(from: &str, port: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let from: SocketAddr = format!("{from}:0").parse().unwrap();
    tokio::spawn(async move {
        let Ok((mut client, _)) = listener.accept().await else { return };
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(from).unwrap();
        let Ok(mut server) = socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await else { return };
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
    local
}

/// A MariaDB login as `app` from `from`.
async fn mariadb_login(port: u16, from: &str) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let local = relay_from(from, port).await;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(local)
        .user(Some("app"))
        .pass(Some("App_pass_123"))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| e.to_string())?;
    let one: Option<u8> = conn.query_first("SELECT 1").await.map_err(|e| e.to_string())?;
    let _ = conn.disconnect().await;
    (one == Some(1)).then_some(()).ok_or_else(|| "no answer".into())
}

async fn login(c: &Client, id: &str, from: &str) -> Result<(), String> {
    let port = c.port(id).await;
    if id.starts_with("pgm-") {
        pg_login(port, from).await
    } else {
        mariadb_login(port, from).await
    }
}

async fn assert_logins(c: &Client, id: &str, allowed: &[&str], refused: &[&str]) {
    for from in allowed {
        login(c, id, from).await.unwrap_or_else(|e| panic!("{id}: a login from {from} must succeed: {e}"));
    }
    for from in refused {
        let err = login(c, id, from).await.expect_err(&format!("{id}: a login from {from} must be refused"));
        assert!(!err.contains("password authentication failed") && !err.contains("Access denied for user 'app'@'127.0.0.1' (using password: YES)"), "{err}");
    }
}

async fn modify(c: &Client, id: &str, params: &[(&str, &str)]) -> Reply {
    let mut all = vec![("DBInstanceId", id)];
    all.extend_from_slice(params);
    c.call("ModifySecurityIps", &all).await
}

async fn groups(c: &Client, id: &str) -> Vec<(String, String)> {
    c.listed_pairs("DescribeDBInstanceIPArrayList", id, ["Items", "DBInstanceIPArray"], "DBInstanceIPArrayName", "SecurityIPList").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_refuse_logins_from_outside_the_security_ip_list() {
    let (_server, c) = serve().await;
    let (pg, maria) = c.running_pg_and_mariadb().await;
    for id in [&pg, &maria] {
        c.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "app"), ("AccountPassword", "App_pass_123"), ("AccountType", "Super")]).await.ok();

        // Created with 127.0.0.1 only.
        assert_eq!(groups(&c, id).await, [("default".to_string(), "127.0.0.1".to_string())]);
        assert_logins(&c, id, &["127.0.0.1"], &["127.0.0.2", "127.0.0.3"]).await;

        modify(&c, id, &[("SecurityIps", "127.0.0.2"), ("ModifyMode", "Append")]).await.ok();
        assert_logins(&c, id, &["127.0.0.1", "127.0.0.2"], &["127.0.0.3"]).await;

        // A group of its own.
        modify(&c, id, &[("SecurityIps", "127.0.0.3/32"), ("DBInstanceIPArrayName", "app_servers")]).await.ok();
        assert_logins(&c, id, &["127.0.0.3"], &["127.0.0.4"]).await;
        let listed = groups(&c, id).await;
        assert!(listed.contains(&("app_servers".into(), "127.0.0.3/32".into())) && listed.contains(&("default".into(), "127.0.0.1,127.0.0.2".into())), "{listed:?}");
        let attribute = c.call("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await.ok();
        assert_eq!(attribute["Items"]["DBInstanceAttribute"][0]["SecurityIPList"], "127.0.0.1,127.0.0.2,127.0.0.3/32");

        // Delete takes entries out; a group left empty goes, the default may not.
        modify(&c, id, &[("SecurityIps", "127.0.0.2"), ("ModifyMode", "Delete")]).await.ok();
        assert_logins(&c, id, &["127.0.0.1"], &["127.0.0.2"]).await;
        modify(&c, id, &[("SecurityIps", "127.0.0.3/32"), ("DBInstanceIPArrayName", "app_servers"), ("ModifyMode", "Delete")]).await.ok();
        assert_logins(&c, id, &[], &["127.0.0.3"]).await;
        modify(&c, id, &[("SecurityIps", "127.0.0.1"), ("ModifyMode", "Delete")]).await.err(400, "InvalidSecurityIPList.Format");

        // Refusals, none of which changes anything.
        for bad in ["127.0.0.256", "10.0.0.0/33", "not-an-ip", "127.0.0.1,,127.0.0.2"] {
            modify(&c, id, &[("SecurityIps", bad)]).await.err(400, "InvalidSecurityIPList.Format");
        }
        modify(&c, id, &[("SecurityIps", "127.0.0.5,127.0.0.5")]).await.err(400, "InvalidSecurityIPList.Duplicate");
        modify(&c, id, &[("SecurityIps", "127.0.0.5"), ("ModifyMode", "Replace")]).await.err(400, "InvalidParameter");
        c.call("ModifySecurityIps", &[("DBInstanceId", id)]).await.err(400, "MissingSecurityIps");
        assert_eq!(groups(&c, id).await, [("default".to_string(), "127.0.0.1".to_string())]);

        // Cover with a block; it survives a restart of the engine.
        modify(&c, id, &[("SecurityIps", "127.0.0.0/30")]).await.ok();
        c.call("RestartDBInstance", &[("DBInstanceId", id)]).await.ok();
        c.wait_status(id, "Running").await;
        assert_logins(&c, id, &["127.0.0.1", "127.0.0.2", "127.0.0.3"], &["127.0.0.4", "127.0.0.9"]).await;
    }
    // CreateDBInstance checks the list too.
    let mut params = vec![("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL"), ("EngineVersion", "15.0"), ("DBInstanceClass", "pg.n2.small.1"), ("DBInstanceStorage", "20")];
    params.push(("SecurityIPList", "127.0.0.1,300.0.0.1"));
    c.call("CreateDBInstance", &params).await.err(400, "InvalidSecurityIPList.Format");
    c.delete_all(&[&pg, &maria]).await;
}
