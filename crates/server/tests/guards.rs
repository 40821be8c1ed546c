//! Refusals found by review, each through the real server against real engines: reserved
//! and malformed names never reach an engine (imports included), DryRun checks
//! everything and changes nothing, an import task needs RAM on both its instances, and
//! CreateDBInstance's OrderId is numeric.

mod common;

use engine_postgres::testing::PgConnect;
use common::*;

async fn databases(c: &Client, id: &str) -> Vec<String> {
    let r = c.call("DescribeDatabases", &[("DBInstanceId", id)]).await.ok();
    r["Databases"]["Database"].as_array().unwrap().iter().map(|d| d["DBName"].as_str().unwrap().to_string()).collect()
}

async fn import(c: &Client, dst: &str, src: &str, info: &str, extra: &[(&str, &str)]) -> Reply {
    let mut params = vec![("DBInstanceId", dst), ("SourceDBInstanceId", src), ("DBInfo", info)];
    params.extend_from_slice(extra);
    c.call("ImportDatabaseBetweenInstances", &params).await
}

async fn task_count(c: &Client, id: &str) -> usize {
    let listed = c
        .call("DescibeImportsFromDatabase", &[("DBInstanceId", id), ("Engine", "PostgreSQL"), ("StartTime", "2020-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")])
        .await
        .ok();
    listed["Items"]["ImportResultFromDB"].as_array().map(Vec::len).unwrap_or(0)
}

const CREATE_PG: [(&str, &str); 5] =
    [("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL"), ("EngineVersion", "15.0"), ("DBInstanceClass", "pg.n2.small.1"), ("DBInstanceStorage", "20")];

/// A RAM user of the root account whose policy is `document`; its signing client.
async fn ram_user(root: &Client, name: &str, document: &str) -> Client {
    let ram = root.ram();
    ram.call("CreateUser", &[("UserName", name)]).await.ok();
    let key = ram.call("CreateAccessKey", &[("UserName", name)]).await.ok();
    let policy = format!("{name}-policy");
    ram.call("CreatePolicy", &[("PolicyName", &policy), ("PolicyDocument", document)]).await.ok();
    ram.call("AttachPolicyToUser", &[("PolicyType", "Custom"), ("PolicyName", &policy), ("UserName", name)]).await.ok();
    root.with_key(key["AccessKey"]["AccessKeyId"].as_str().unwrap(), key["AccessKey"]["AccessKeySecret"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_check_everything_and_change_nothing() {
    let (_server, c) = serve().await;
    let listed = |c: Client| async move {
        let r = c.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await.ok();
        r["Items"]["DBInstance"].as_array().map(Vec::len).unwrap_or(0)
    };

    // CreateDBInstance: a RAM user without the right is refused before anything else is
    // looked at, even with a request that would otherwise fail on its class.
    let reader = ram_user(&c, "reader", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"}]}"#).await;
    let mut params = CREATE_PG.to_vec();
    params.push(("DryRun", "true"));
    reader.call("CreateDBInstance", &params).await.err(403, "Forbidden.RAM");
    let mut bad_class = params.clone();
    bad_class[3] = ("DBInstanceClass", "pg.no.such.class");
    reader.call("CreateDBInstance", &bad_class).await.err(403, "Forbidden.RAM");
    // For a caller with the right, every check runs.
    c.call("CreateDBInstance", &bad_class).await.err(400, "InvalidDBInstanceClass.NotFound");
    let mut bad_region = params.clone();
    bad_region[0] = ("RegionId", "cn-nowhere");
    c.call("CreateDBInstance", &bad_region).await.err(404, "InvalidRegionId.NotFound");
    let passed = c.call("CreateDBInstance", &params).await.ok();
    assert_eq!((passed["DryRun"].as_bool(), passed["DryRunResult"].as_bool()), (Some(true), Some(true)), "{passed}");
    assert!(passed.get("DBInstanceId").is_none(), "{passed}");
    assert_eq!(listed(c.clone()).await, 0, "a dry run creates no instance");

    // A real creation's OrderId is a number, as Alibaba's.
    let created = c.call("CreateDBInstance", &CREATE_PG).await.ok();
    let order = created["OrderId"].as_str().unwrap();
    assert!(!order.is_empty() && order.chars().all(|ch| ch.is_ascii_digit()), "OrderId {order:?}");
    let general = created["DBInstanceId"].as_str().unwrap().to_string();

    // ImportDatabaseBetweenInstances: every refusal of the real call, then a pass that
    // copies nothing.
    let (src, dst) = tokio::join!(c.create_pg("pg.x4.large.2c"), c.create_pg("pg.x4.large.2c"));
    c.wait_running(&[&src, &dst, &general]).await;
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
    let dry = [("DryRun", "true")];
    import(&c, &dst, &src, "{not json", &dry).await.err(400, "InvalidDBInfo.Malformed");
    import(&c, &dst, &src, r#"{"DBNames":["nosuchdb"]}"#, &dry).await.err(404, "InvalidDBName.NotFound");
    import(&c, &dst, &src, r#"{"DBNames":{"shop":"template1"}}"#, &dry).await.err(400, "InvalidDBName.Format");
    import(&c, &general, &src, r#"{"DBNames":["shop"]}"#, &dry).await.err(400, "IncorrectDBInstanceType");
    let passed = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#, &dry).await.ok();
    assert_eq!(passed["DryRunResult"].as_bool(), Some(true), "{passed}");
    assert!(passed.get("ImportId").is_none(), "{passed}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    assert_eq!(task_count(&c, &dst).await, 0, "a dry run makes no task");
    assert!(!databases(&c, &dst).await.contains(&"shop_copy".to_string()), "a dry run copies nothing");

    c.delete_all(&[&src, &dst, &general]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_and_malformed_names_never_reach_an_engine() {
    let (server, c) = serve().await;
    let (src, dst, msrc, mdst) = tokio::join!(
        c.create_pg("pg.x4.large.2c"),
        c.create_pg("pg.x4.large.2c"),
        c.create_mariadb("mariadb.x4.large.2c", "20"),
        c.create_mariadb("mariadb.x4.large.2c", "20")
    );
    c.wait_running(&[&src, &dst, &msrc, &mdst]).await;
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
    c.call("CreateDatabase", &[("DBInstanceId", &msrc), ("DBName", "shop"), ("CharacterSetName", "utf8mb4")]).await.ok();

    // The staging prefix is openrds's: a user database of that name would be hidden and
    // dropped by an import's cleanup.
    for (id, charset) in [(&src, "UTF8"), (&msrc, "utf8mb4")] {
        c.call("CreateDatabase", &[("DBInstanceId", id), ("DBName", "ors_stg_i1a1_mine"), ("CharacterSetName", charset)])
            .await
            .err(400, "InvalidDBName.Format");
        c.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "ors_stg_x"), ("AccountPassword", "Some_pass1")])
            .await
            .err(400, "InvalidAccountName.Format");
    }
    // Each engine refuses its own system names, and only its own.
    for name in ["template1", "postgres", "template0", "information_schema", "pg_catalog", "openrds_admin", "pg_shadow"] {
        c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", name), ("CharacterSetName", "UTF8")]).await.err(400, "InvalidDBName.Format");
    }
    for name in ["mysql", "sys", "performance_schema", "information_schema"] {
        c.call("CreateDatabase", &[("DBInstanceId", &msrc), ("DBName", name), ("CharacterSetName", "utf8mb4")]).await.err(400, "InvalidDBName.Format");
    }
    c.call("CreateDatabase", &[("DBInstanceId", &msrc), ("DBName", "pg_stats"), ("CharacterSetName", "utf8mb4")]).await.ok();
    c.call("CreateAccount", &[("DBInstanceId", &msrc), ("AccountName", "pg_reader"), ("AccountPassword", "Reader_pass1")]).await.ok();
    c.call("CreateAccount", &[("DBInstanceId", &src), ("AccountName", "pg_reader"), ("AccountPassword", "Reader_pass1")])
        .await
        .err(400, "InvalidAccountName.Format");

    // Imports: the same rules, for source and destination names, before anything is
    // copied.
    let before = databases(&c, &dst).await;
    for info in [
        r#"{"DBNames":{"shop":"template1"}}"#,
        r#"{"DBNames":{"shop":"postgres"}}"#,
        r#"{"DBNames":{"shop":"template0"}}"#,
        r#"{"DBNames":{"shop":"information_schema"}}"#,
        r#"{"DBNames":{"shop":"pg_catalog"}}"#,
        r#"{"DBNames":{"shop":"openrds_admin"}}"#,
        r#"{"DBNames":{"shop":"Bad Name;drop"}}"#,
        r#"{"DBNames":{"shop":"ors_stg_i9a1_x"}}"#,
        r#"{"DBNames":{"template1":"copy"}}"#,
    ] {
        import(&c, &dst, &src, info, &[]).await.err(400, "InvalidDBName.Format");
    }
    for info in [r#"{"DBNames":{"shop":"mysql"}}"#, r#"{"DBNames":{"shop":"sys"}}"#, r#"{"DBNames":{"shop":"performance_schema"}}"#, r#"{"DBNames":{"shop":"information_schema"}}"#] {
        import(&c, &mdst, &msrc, info, &[]).await.err(400, "InvalidDBName.Format");
    }
    // A source named twice is a duplicate, even where JSON would keep only the last.
    import(&c, &dst, &src, r#"{"DBNames":{"shop":"one","shop":"two"}}"#, &[]).await.err(400, "InvalidDBName.Duplicate");
    assert_eq!(databases(&c, &dst).await, before, "nothing reached the destination");
    assert_eq!(task_count(&c, &dst).await, 0);
    let pg = server.admin_of(&c, &dst).await.connect("postgres").await;
    let templates: i64 = pg.query_one("SELECT count(*) FROM pg_database WHERE datname IN ('template0', 'template1')", &[]).await.unwrap().get(0);
    assert_eq!(templates, 2, "PostgreSQL's templates are where they were");

    c.delete_all(&[&src, &dst, &msrc, &mdst]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_task_needs_ram_on_both_its_instances() {
    let (server, c) = serve().await;
    let (src, dst) = server.pg_pair_with_shop(&c, "CREATE TABLE t AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 300000) g").await;
    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#, &[]).await.ok();
    let import_id = started["ImportId"].as_str().unwrap().to_string();

    // A user allowed on the source only.
    let policy = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":["rds:CancelImport","rds:DescribeImportProgress","rds:DescribeDBInstanceAttribute"],"Resource":"acs:rds:*:*:dbinstance/{src}"}}]}}"#
    );
    let partial = ram_user(&c, "halfway", &policy).await;
    partial.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &src)]).await.ok();
    partial.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &dst)]).await.err(403, "Forbidden.RAM");
    partial.call("DescribeImportProgress", &[("DBInstanceId", &src), ("ImportId", &import_id)]).await.err(403, "Forbidden.RAM");
    partial.call("CancelImport", &[("DBInstanceId", &src), ("ImportId", &import_id)]).await.err(403, "Forbidden.RAM");

    // Allowed on both, the same calls work.
    let both = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":["rds:DescribeImportProgress"],"Resource":["acs:rds:*:*:dbinstance/{src}","acs:rds:*:*:dbinstance/{dst}"]}}]}}"#
    );
    let full = ram_user(&c, "whole", &both).await;
    full.call("DescribeImportProgress", &[("DBInstanceId", &src), ("ImportId", &import_id)]).await.ok();

    let done = c.wait_import(&dst, &import_id).await;
    assert_eq!(done["Status"], "Success", "the refused cancel did not stop it: {done}");
    c.delete_all(&[&src, &dst]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ram_races_never_fail_and_never_hand_out_a_dead_key() {
    let server = start_server().await;
    let root = server.client();
    let ram = root.ram();
    for round in 0..15 {
        let name = format!("racer{round}");
        ram.call("CreateUser", &[("UserName", &name)]).await.ok();
        let params = [("UserName", name.as_str())];
        let (create, delete) = tokio::join!(ram.call("CreateAccessKey", &params), ram.call("DeleteUser", &params));
        assert!(create.status < 500 && delete.status < 500, "{} {} / {} {}", create.status, create.body, delete.status, delete.body);
        if create.status == 200 {
            // The key it was given must exist: the user could not be deleted under it.
            assert_eq!(delete.status, 409, "{}", delete.body);
            assert_eq!(delete.body["Code"], "DeleteConflict.User.AccessKey");
            let key_id = create.body["AccessKey"]["AccessKeyId"].as_str().unwrap();
            let keys = ram.call("ListAccessKeys", &[("UserName", &name)]).await.ok();
            assert!(keys.to_string().contains(key_id), "{keys}");
        } else {
            create.err(404, "EntityNotExist.User");
            assert_eq!(delete.status, 200, "{}", delete.body);
        }
    }

    // A key cannot disable itself: its holder would be locked out for good.
    let me = ram.call("CreateAccessKey", &[]).await.ok();
    let (id, secret) = (me["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(), me["AccessKey"]["AccessKeySecret"].as_str().unwrap().to_string());
    let itself = root.with_key(&id, &secret).ram();
    itself.call("UpdateAccessKey", &[("UserAccessKeyId", &id), ("Status", "Inactive")]).await.err(400, "InvalidParameter");
    itself.call("DescribeRegions", &[]).await;
    root.call("DescribeRegions", &[]).await.ok();
    // Another key of the same account may.
    ram.call("UpdateAccessKey", &[("UserAccessKeyId", &id), ("Status", "Inactive")]).await.ok();
    root.with_key(&id, &secret).call("DescribeRegions", &[]).await.err(400, "InvalidAccessKeyId.Inactive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_named_like_staging_is_neither_hidden_nor_dropped_by_an_import() {
    let (server, c) = serve().await;
    let (src, dst) = c.running_pg_pair("pg.x4.large.2c").await;
    // A Super account may create databases by SQL, and name them as it likes; this is the
    // name the first import's staging prefix had before tags were random.
    c.call("CreateAccount", &[("DBInstanceId", &dst), ("AccountName", "boss"), ("AccountPassword", "Boss_pass1"), ("AccountType", "Super")]).await.ok();
    let port = c.port(&dst).await;
    let boss = engine::Login { host: "127.0.0.1".into(), port, user: "boss".into(), password: "Boss_pass1".into() };
    boss.connect("postgres").await.batch_execute("CREATE DATABASE ors_stg_i1a1_mine").await.unwrap();
    boss.connect("ors_stg_i1a1_mine").await.batch_execute("CREATE TABLE precious AS SELECT 1 AS v").await.unwrap();
    assert!(databases(&c, &dst).await.contains(&"ors_stg_i1a1_mine".to_string()), "a user's database is listed whatever its name");

    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
    let admin = server.admin_of(&c, &src).await;
    admin.connect("shop").await.batch_execute("CREATE TABLE t AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 1000000) g").await.unwrap();
    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#, &[]).await.ok();
    let import_id = started["ImportId"].as_str().unwrap().to_string();
    assert_eq!(import_id, "1", "the first task of this server");
    c.call("CancelImport", &[("DBInstanceId", &dst), ("ImportId", &import_id)]).await;
    let ended = c.wait_import(&dst, &import_id).await;
    assert!(matches!(ended["Status"].as_str(), Some("Canceled" | "Success")), "{ended}");
    let n: i32 = boss.connect("ors_stg_i1a1_mine").await.query_one("SELECT v FROM precious", &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "the import's cleanup left the user's database alone");
    assert!(databases(&c, &dst).await.contains(&"ors_stg_i1a1_mine".to_string()));
    c.call("DeleteDatabase", &[("DBInstanceId", &dst), ("DBName", "ors_stg_i1a1_mine")]).await.ok();

    c.delete_all(&[&src, &dst]).await;
}
