//! ImportDatabaseBetweenInstances through the API: refusals in order, states during the
//! task, the verified copy under its new name, invisibility, listing and cancel.

mod common;

use common::*;


async fn databases(c: &Client, id: &str) -> Vec<String> {
    let r = c.call("DescribeDatabases", &[("DBInstanceId", id)]).await.ok();
    r["Databases"]["Database"].as_array().unwrap().iter().map(|d| d["DBName"].as_str().unwrap().to_string()).collect()
}


async fn connect(c: &Client, id: &str, db: &str) -> tokio_postgres::Client {
    let net = c.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await.ok();
    let port: u16 = net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"].as_str().unwrap().parse().unwrap();
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("owner1")
        .password("Owner_pass1")
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect as owner1");
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_bad_requests_then_copies_renamed_and_verified() {
    let (server, c) = serve().await;
    let (src, dst, general) = tokio::join!(c.create_pg("pg.x4.large.2c"), c.create_pg("pg.x4.large.2c"), c.create_pg("pg.n2.medium.1"));
    for id in [&src, &dst, &general] {
        c.wait_status(id, "Running").await;
        c.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "owner1"), ("AccountPassword", "Owner_pass1")]).await.ok();
    }
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")])
        .await
        .ok();
    let s = connect(&c, &src, "shop").await;
    s.batch_execute(
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, amount numeric, tags text[], doc jsonb);
         INSERT INTO orders (note, amount, tags, doc)
           SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE E'line\\ttab\\nnew ' || g || ' ü' END, g / 3.0, ARRAY['a', g::text], jsonb_build_object('g', g)
           FROM generate_series(1, 200000) g;
         CREATE TABLE nokey (v text); INSERT INTO nokey VALUES ('x'), ('x'), (NULL);
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;",
    )
    .await
    .unwrap();
    // A destination database that is not empty may not be replaced.
    c.call("CreateDatabase", &[("DBInstanceId", &dst), ("DBName", "busy"), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")])
        .await
        .ok();
    connect(&c, &dst, "busy").await.batch_execute("CREATE TABLE keep (i int)").await.unwrap();

    let imp = |info: &'static str, d: &str, s: &str| {
        let (c, d, s) = (c.clone(), d.to_string(), s.to_string());
        async move { c.call("ImportDatabaseBetweenInstances", &[("DBInstanceId", &d), ("SourceDBInstanceId", &s), ("DBInfo", info)]).await }
    };
    c.call("ImportDatabaseBetweenInstances", &[("DBInstanceId", &dst), ("SourceDBInstanceId", &src)]).await.err(400, "MissingDBInfo");
    imp("{not json", &dst, &src).await.err(400, "InvalidDBInfo.Malformed");
    imp(r#"{"DBNames":[]}"#, &dst, &src).await.err(400, "InvalidDBInfo.Malformed");
    imp(r#"{"DBNames":{"shop":"a/b"}}"#, &dst, &src).await.err(400, "InvalidDBName.Format");
    imp(r#"{"DBNames":{"shop":"xx","shop2":"xx"}}"#, &dst, &src).await.err(400, "InvalidDBName.Duplicate");
    imp(r#"{"DBNames":["shop"]}"#, &src, &src).await.err(400, "InvalidParameter");
    imp(r#"{"DBNames":["shop"]}"#, &dst, "pgm-nosuchinstance").await.err(404, "InvalidDBInstanceId.NotFound");
    imp(r#"{"DBNames":["shop"]}"#, &general, &src).await.err(400, "IncorrectDBInstanceType");
    imp(r#"{"DBNames":["nosuchdb"]}"#, &dst, &src).await.err(404, "InvalidDBName.NotFound");
    imp(r#"{"DBNames":{"shop":"busy"}}"#, &dst, &src).await.err(400, "InvalidDBName.Duplicate");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()), "refusals change nothing");

    let started = imp(r#"{"DBNames":{"shop":"shop_copy"}}"#, &dst, &src).await.ok();
    let import_id = started["ImportId"].as_str().expect("ImportId is a string").to_string();
    assert!(import_id.parse::<u64>().is_ok(), "ImportId is a decimal integer: {import_id}");
    let p = c.call("DescribeImportProgress", &[("DBInstanceId", &dst), ("ImportId", &import_id)]).await.ok();
    if !matches!(p["Status"].as_str(), Some("Success" | "Failed")) {
        assert_eq!(c.status(&src).await, "Migrating");
        assert_eq!(c.status(&dst).await, "Importing");
        c.call("DeleteDBInstance", &[("DBInstanceId", &dst)]).await.err(403, "OperationDenied.DBInstanceStatus");
        imp(r#"{"DBNames":{"shop":"again"}}"#, &dst, &src).await.err(403, "IncorrectDBInstanceState");
        assert!(!databases(&c, &dst).await.contains(&"shop_copy".to_string()), "invisible until done");
    }
    let done = c.wait_import(&dst, &import_id).await;
    assert_eq!(done["Status"], "Success", "{done}");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    let names = databases(&c, &dst).await;
    assert!(names.contains(&"shop_copy".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("_openrds")), "no staging database left: {names:?}");

    let d = connect(&c, &dst, "shop_copy").await;
    for q in [
        "SELECT count(*)::text || ':' || sum(hashtextextended(o::text, 0))::text FROM orders o",
        "SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(n::text, 0)), 0)::text FROM nokey n",
        "SELECT count(*)::text FROM big_orders",
    ] {
        let a: String = s.query_one(q, &[]).await.unwrap().get(0);
        let b: String = d.query_one(q, &[]).await.unwrap().get(0);
        assert_eq!(a, b, "{q}");
    }
    d.batch_execute("INSERT INTO orders (note) VALUES ('sequence continues')").await.unwrap();

    for instance in [&src, &dst] {
        let listed = c
            .call("DescibeImportsFromDatabase", &[("DBInstanceId", instance), ("Engine", "PostgreSQL"), ("StartTime", "2020-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")])
            .await
            .ok();
        let item = &listed["Items"]["ImportResultFromDB"][0];
        assert_eq!(item["ImportId"].to_string(), import_id);
        assert_eq!(item["ImportDataStatus"], "Success");
        let legacy = c.call("DescribeImportsForSQLServer", &[("DBInstanceId", instance), ("StartTime", "2020-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")]).await.ok();
        assert_eq!(legacy["Items"]["SQLServerImport"][0]["ImportStatus"], "Success");
    }
    c.call("CancelImport", &[("DBInstanceId", &dst), ("ImportId", &import_id)]).await.err(403, "IncorrectImportState");
    c.call("CancelImport", &[("DBInstanceId", &dst), ("ImportId", "999999")]).await.err(404, "InvalidImportId.NotFound");

    // Cancel: the task ends Canceled and leaves nothing on the destination.
    let started = imp(r#"{"DBNames":{"shop":"shop_cancel"}}"#, &dst, &src).await.ok();
    let cancel_id = started["ImportId"].as_str().unwrap().to_string();
    let r = c.call("CancelImport", &[("DBInstanceId", &src), ("ImportId", &cancel_id)]).await;
    let ended = c.wait_import(&dst, &cancel_id).await;
    if r.status == 200 {
        assert_eq!(ended["Status"], "Canceled", "{ended}");
        let names = databases(&c, &dst).await;
        assert!(!names.iter().any(|n| n == "shop_cancel" || n.starts_with("_openrds")), "{names:?}");
    } else {
        r.err(403, "IncorrectImportState");
    }
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    drop((s, d));
    for id in [&src, &dst, &general] {
        c.call("DeleteDBInstance", &[("DBInstanceId", id)]).await.ok();
    }
    for id in [&src, &dst, &general] {
        c.wait_status(id, "gone").await;
    }
    server.stop().await;
}
