//! The API end to end: signed HTTP calls to the real server, real PostgreSQL instances.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_errors_use_the_envelope_and_change_nothing() {
    let (server, c) = serve().await;

    let r = c.call("DescribeDBInstances", &[]).await;
    r.err(400, "MissingRegionId");
    let r = c.call("NoSuchAction", &[]).await;
    r.err(404, "InvalidAction.NotFound");
    let r = c.with_key(KEY_ID, "wrong-secret").call("DescribeRegions", &[]).await;
    r.err(400, "SignatureDoesNotMatch");
    assert!(!r.body["Message"].as_str().unwrap().contains(SECRET), "a message never carries the secret");
    let r = c.with_key("LTAInosuchkey", "x").call("DescribeRegions", &[]).await;
    r.err(404, "InvalidAccessKeyId.NotFound");
    let r = c.call("DescribeDBInstanceAttribute", &[("DBInstanceId", "pgm-doesnotexist")]).await;
    r.err(404, "InvalidDBInstanceId.NotFound");
    let r = c.call("DescribeDBInstances", &[("RegionId", "mars-1")]).await;
    r.err(404, "InvalidRegionId.NotFound");
    let r = c.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou"), ("PageSize", "abc")]).await;
    r.err(400, "InvalidParameter");
    assert!(r.body["Message"].as_str().unwrap().contains("PageSize"));

    let base = [
        ("RegionId", "cn-hangzhou"),
        ("DBInstanceStorage", "20"),
        ("DBInstanceNetType", "Intranet"),
        ("PayType", "Postpaid"),
        ("SecurityIPList", "127.0.0.1"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let r = c.call("CreateDBInstance", &with(&[("Engine", "Oracle"), ("EngineVersion", "19"), ("DBInstanceClass", "pg.x4.large.2c")])).await;
    r.err(400, "InvalidEngine.NotSupported");
    assert!(r.body["Message"].as_str().unwrap().contains("PostgreSQL"), "names what is offered");
    let r = c.call("CreateDBInstance", &with(&[("Engine", "PostgreSQL"), ("EngineVersion", "9.6"), ("DBInstanceClass", "pg.x4.large.2c")])).await;
    r.err(400, "InvalidEngineVersion.NotSupported");
    assert!(r.body["Message"].as_str().unwrap().contains("15.0"));
    let r = c.call("CreateDBInstance", &with(&[("Engine", "PostgreSQL"), ("EngineVersion", "15.0"), ("DBInstanceClass", "pg.bogus")])).await;
    r.err(400, "InvalidDBInstanceClass.NotFound");
    let r = c.call("CreateDBInstance", &with(&[("Engine", "PostgreSQL"), ("EngineVersion", "15.0")])).await;
    r.err(400, "MissingDBInstanceClass");

    let listed = c.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await.ok();
    assert_eq!(listed["TotalRecordCount"], 0, "refused calls created nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_nonce_and_stale_timestamp_are_refused() {
    let server = start_server().await;
    let host = server.addr.to_string();
    let send = |signed: wire::client::SignedCall| {
        let host = host.clone();
        async move {
            let mut req = reqwest::Client::new().post(format!("http://{host}/?{}", signed.query));
            for (k, v) in &signed.headers {
                if k != "host" {
                    req = req.header(k, v);
                }
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap()).unwrap())
        }
    };
    let now = chrono::Utc::now();
    let call = wire::client::Call { action: "DescribeRegions", version: wire::RDS_VERSION, params: &[], access_key_id: KEY_ID, secret: SECRET, now, nonce: "nonce-once" };
    let signed = call.sign_v3(&host);
    assert_eq!(send(signed.clone()).await.0, 200);
    let (status, body) = send(signed).await;
    assert_eq!((status, body["Code"].as_str().unwrap()), (400, "SignatureNonceUsed"));

    let old = now - chrono::Duration::minutes(20);
    let signed = wire::client::Call { now: old, nonce: "nonce-old", ..call }.sign_v3(&host);
    let (status, body) = send(signed).await;
    assert_eq!((status, body["Code"].as_str().unwrap()), (400, "InvalidTimeStamp.Expired"));

    let v1 = wire::client::Call { nonce: "nonce-v1", ..call }.sign_v1("GET");
    let resp = reqwest::get(format!("http://{host}/?{}", v1.query)).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "V1 GET as pop-core sends it");

    let resp = reqwest::get(format!("http://{host}/?Action=DescribeRegions&Version=2014-08-15")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_lifecycle_databases_accounts_and_real_connections() {
    let (server, c) = serve().await;
    let id = c.create_pg("pg.x4.large.2c").await;
    let attr = c.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await.ok();
    let status = attr["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap().to_string();
    assert!(status == "Creating" || status == "Running", "{status}");
    c.wait_status(&id, "Running").await;
    a_listing_answered_again_shows_every_change(&c, &id).await;

    let attr = c.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await.ok();
    let a = &attr["Items"]["DBInstanceAttribute"][0];
    assert_eq!(a["DBInstanceClassType"], "d");
    assert_eq!(a["DBInstanceStorage"], 20);
    assert!(a["DBInstanceDiskUsed"].as_str().unwrap().parse::<u64>().unwrap() > 0);

    let net = c.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", &id)]).await.ok();
    let info = &net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0];
    let host = info["IPAddress"].as_str().unwrap().to_string();
    let port: u16 = info["Port"].as_str().unwrap().parse().unwrap();

    c.call("CreateAccount", &[("DBInstanceId", &id), ("AccountName", "owner1"), ("AccountPassword", "Owner_pass1")]).await.ok();
    c.call("CreateAccount", &[("DBInstanceId", &id), ("AccountName", "reader1"), ("AccountPassword", "Reader_pass1")]).await.ok();
    c.call(
        "CreateDatabase",
        &[("DBInstanceId", &id), ("DBName", "appdb"), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")],
    )
    .await
    .ok();
    // (action, parameters besides the instance, error code)
    type Refusal<'a> = (&'a str, [(&'a str, &'a str); 2], &'a str);
    let refused: [Refusal; 4] = [
        ("CreateAccount", [("AccountName", "weak1"), ("AccountPassword", "password")], "InvalidAccountPassword.Malformed"),
        ("CreateAccount", [("AccountName", "owner1"), ("AccountPassword", "Owner_pass1")], "InvalidAccountName.Duplicate"),
        ("CreateDatabase", [("DBName", "appdb"), ("CharacterSetName", "UTF8")], "InvalidDBName.Duplicate"),
        ("CreateDatabase", [("DBName", "Bad Name"), ("CharacterSetName", "UTF8")], "InvalidDBName.Format"),
    ];
    for (action, params, code) in refused {
        let params = [&[("DBInstanceId", id.as_str())][..], &params[..]].concat();
        c.call(action, &params).await.err(400, code);
    }

    let connect = |user: &'static str, password: &'static str| {
        let host = host.clone();
        async move {
            let (client, conn) = tokio_postgres::Config::new()
                .host(&host)
                .port(port)
                .user(user)
                .password(password)
                .dbname("appdb")
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect as a created account");
            tokio::spawn(conn);
            client
        }
    };
    let owner = connect("owner1", "Owner_pass1").await;
    owner.batch_execute("CREATE TABLE t (id int primary key, v text); INSERT INTO t VALUES (1, 'a');").await.unwrap();
    let db_owner: String = owner.query_one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'", &[]).await.unwrap().get(0);
    assert_eq!(db_owner, "owner1");

    c.call("GrantAccountPrivilege", &[("DBInstanceId", &id), ("AccountName", "reader1"), ("DBName", "appdb"), ("AccountPrivilege", "ReadOnly")])
        .await
        .ok();
    let reader = connect("reader1", "Reader_pass1").await;
    let n: i64 = reader.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    assert!(reader.batch_execute("INSERT INTO t VALUES (2, 'b')").await.is_err(), "read-only cannot write");

    let accounts = c.call("DescribeAccounts", &[("DBInstanceId", &id), ("AccountName", "reader1")]).await.ok();
    let privs = &accounts["Accounts"]["DBInstanceAccount"][0]["DatabasePrivileges"]["DatabasePrivilege"];
    assert_eq!(privs[0]["DBName"], "appdb");
    assert_eq!(privs[0]["AccountPrivilege"], "ReadOnly");

    // A database made by SQL shows up too; system databases do not.
    owner.batch_execute("SELECT 1").await.unwrap();
    c.call("CreateAccount", &[("DBInstanceId", &id), ("AccountName", "super1"), ("AccountPassword", "Super_pass1"), ("AccountType", "Super")])
        .await
        .ok();
    let sup = connect("super1", "Super_pass1").await;
    sup.batch_execute("CREATE DATABASE sqlmade").await.unwrap();
    let is_super: bool = sup.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[]).await.unwrap().get(0);
    assert!(!is_super, "Super accounts are not PostgreSQL superusers");
    let dbs = c.call("DescribeDatabases", &[("DBInstanceId", &id)]).await.ok();
    let names: Vec<&str> = dbs["Databases"]["Database"].as_array().unwrap().iter().map(|d| d["DBName"].as_str().unwrap()).collect();
    assert!(names.contains(&"appdb") && names.contains(&"sqlmade"), "{names:?}");
    assert!(!names.iter().any(|n| ["postgres", "template0", "template1"].contains(n)), "{names:?}");
    drop(sup);

    c.call("RevokeAccountPrivilege", &[("DBInstanceId", &id), ("AccountName", "reader1"), ("DBName", "appdb")]).await.ok();
    assert!(reader.query_one("SELECT count(*) FROM t", &[]).await.is_err(), "revoked account cannot read");
    drop(reader);
    drop(owner);
    c.call("DeleteDatabase", &[("DBInstanceId", &id), ("DBName", "sqlmade")]).await.ok();
    c.call("DeleteDatabase", &[("DBInstanceId", &id), ("DBName", "sqlmade")]).await.err(404, "InvalidDBName.NotFound");

    c.call("RestartDBInstance", &[("DBInstanceId", &id)]).await.ok();
    c.call("CreateDatabase", &[("DBInstanceId", &id), ("DBName", "during"), ("CharacterSetName", "UTF8")])
        .await
        .err(403, "OperationDenied.DBInstanceStatus");
    c.wait_status(&id, "Running").await;

    c.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await.ok();
    c.wait_status(&id, "gone").await;
    assert!(std::net::TcpStream::connect((host.as_str(), port)).is_err(), "the engine is gone with the instance");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ram_policies_allow_and_deny_and_accounts_are_isolated() {
    let server = start_server().await;
    let root = server.client();
    let ram = root.ram();
    let mine = root.create_pg("pg.n2.medium.1").await;
    ram.call("CreateUser", &[("UserName", "alice")]).await.ok();
    let key = ram.call("CreateAccessKey", &[("UserName", "alice")]).await.ok();
    let (kid, ksecret) = (key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(), key["AccessKey"]["AccessKeySecret"].as_str().unwrap().to_string());
    ram.call(
        "CreatePolicy",
        &[
            ("PolicyName", "describe-only"),
            (
                "PolicyDocument",
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"},{"Effect":"Deny","Action":"rds:DescribeDBInstanceAttribute","Resource":"acs:rds:*:*:dbinstance/*"}]}"#,
            ),
        ],
    )
    .await
    .ok();
    ram.call("CreatePolicy", &[("PolicyName", "broken"), ("PolicyDocument", "{not json")]).await.err(400, "MalformedPolicyDocument");
    ram.call("AttachPolicyToUser", &[("PolicyType", "Custom"), ("PolicyName", "describe-only"), ("UserName", "alice")]).await.ok();
    let listed = ram.call("ListPoliciesForUser", &[("UserName", "alice")]).await.ok();
    assert_eq!(listed["Policies"]["Policy"][0]["PolicyName"], "describe-only");

    let alice = root.with_key(&kid, &ksecret);
    alice.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await.ok();
    let r = alice
        .call(
            "CreateDBInstance",
            &[("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL"), ("EngineVersion", "15.0"), ("DBInstanceClass", "pg.n2.medium.1"), ("DBInstanceStorage", "20")],
        )
        .await;
    r.err(403, "Forbidden.RAM");
    alice.ram().call("CreateUser", &[("UserName", "mallory")]).await.err(403, "Forbidden.RAM");

    // Another account's instance does not exist for the caller.
    let (_, other) = control::identity::create_tenant(&store::SqliteStore::open(&server.dir.path().join("metadata.db")).unwrap(), "other")
        .await
        .unwrap();
    let other = root.with_key(&other.access_key_id, &other.access_key_secret);
    let body = other
        .call(
            "CreateDBInstance",
            &[("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL"), ("EngineVersion", "15.0"), ("DBInstanceClass", "pg.n2.medium.1"), ("DBInstanceStorage", "20")],
        )
        .await
        .ok();
    let theirs = body["DBInstanceId"].as_str().unwrap().to_string();
    root.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &theirs)]).await.err(404, "InvalidDBInstanceId.NotFound");
    root.call("DeleteDBInstance", &[("DBInstanceId", &theirs)]).await.err(404, "InvalidDBInstanceId.NotFound");
    let listed = root.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await.ok();
    assert_eq!(listed["TotalRecordCount"], 1, "only the caller's own instances are listed");
    assert_eq!(listed["Items"]["DBInstance"][0]["DBInstanceId"], mine.as_str());
    // The explicit Deny wins over the Describe* allow.
    alice.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &mine)]).await.err(403, "Forbidden.RAM");
    alice.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", &mine)]).await.ok();
    alice.call("DeleteDBInstance", &[("DBInstanceId", &mine)]).await.err(403, "Forbidden.RAM");
    other.wait_status(&theirs, "Running").await;

    // Disabled keys stop working at once.
    ram.call("UpdateAccessKey", &[("UserAccessKeyId", &kid), ("Status", "Inactive"), ("UserName", "alice")]).await.ok();
    alice.call("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await.err(400, "InvalidAccessKeyId.Inactive");
    ram.call("DeleteUser", &[("UserName", "alice")]).await.err(409, "DeleteConflict.User.AccessKey");
    ram.call("DeleteAccessKey", &[("UserAccessKeyId", &kid), ("UserName", "alice")]).await.ok();
    ram.call("DetachPolicyFromUser", &[("PolicyType", "Custom"), ("PolicyName", "describe-only"), ("UserName", "alice")]).await.ok();
    ram.call("DeleteUser", &[("UserName", "alice")]).await.ok();
    ram.call("DeletePolicy", &[("PolicyName", "describe-only")]).await.ok();
    let users = ram.call("ListUsers", &[]).await.ok();
    assert_eq!(users["Users"]["User"].as_array().unwrap().len(), 0);

    other.call("DeleteDBInstance", &[("DBInstanceId", &theirs)]).await.ok();
    root.wait_status(&mine, "Running").await;
    root.call("DeleteDBInstance", &[("DBInstanceId", &mine)]).await.ok();
    other.wait_status(&theirs, "gone").await;
    root.wait_status(&mine, "gone").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_adopts_engines_and_revives_dead_ones() {
    let (server, c) = serve().await;
    let id = c.create_pg("pg.n2.medium.1").await;
    c.wait_status(&id, "Running").await;
    let net = c.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", &id)]).await.ok();
    let port: u16 = net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"].as_str().unwrap().parse().unwrap();
    let dir = server.stop().await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "engines outlive the control plane");

    // Kill the engine while no control plane runs: the next one must start it again.
    let pid_file = dir.path().join("data/instances").join(&id).join("data/postmaster.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().lines().next().unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server = start_server_in(dir).await;
    let c = server.client();
    c.wait_status(&id, "Running").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the dead engine was not restarted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    c.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await.ok();
    c.wait_status(&id, "gone").await;
    server.stop().await;
}

/// The server keeps the text of listings it answered: asked again it answers the same
/// entries with a RequestId of their own, asked otherwise (paging by token) it answers
/// in that shape, and after a change it answers the change.
async fn a_listing_answered_again_shows_every_change(c: &Client, id: &str) {
    let list = |params: Vec<(&'static str, &'static str)>| async move {
        let mut all = vec![("RegionId", "cn-hangzhou")];
        all.extend(params);
        c.call("DescribeDBInstances", &all).await.ok()
    };
    let description = |listing: &serde_json::Value| {
        let items = listing["Items"]["DBInstance"].as_array().unwrap();
        items.iter().find(|item| item["DBInstanceId"] == id).map(|item| item["DBInstanceDescription"].as_str().unwrap().to_string()).unwrap()
    };
    let (first, again) = (list(vec![]).await, list(vec![]).await);
    assert_ne!(first["RequestId"], again["RequestId"]);
    let without_id = |mut listing: serde_json::Value| {
        listing.as_object_mut().unwrap().remove("RequestId");
        listing
    };
    assert_eq!(without_id(first.clone()), without_id(again));
    let by_token = list(vec![("MaxResults", "1")]).await;
    assert_eq!(by_token["Items"]["DBInstance"].as_array().unwrap().len(), 1);
    assert_eq!(by_token["NextToken"], "", "{by_token}");
    assert_eq!(first["NextToken"], "");

    c.call("ModifyDBInstanceDescription", &[("DBInstanceId", id), ("DBInstanceDescription", "renamed-for-listing")]).await.ok();
    assert_eq!(description(&list(vec![]).await), "renamed-for-listing");
    let paged = list(vec![("PageSize", "10"), ("PageNumber", "2")]).await;
    assert_eq!((paged["PageNumber"].as_u64(), paged["Items"]["DBInstance"].as_array().unwrap().len()), (Some(2), 0));
}
