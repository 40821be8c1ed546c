//! Every served action, in-process: the real router, control plane and SQLite store, with
//! in-memory engines (`engine-fake`) posing as PostgreSQL and MariaDB through their real
//! catalogues. Requests are signed as the official V3 SDK signs them and driven through
//! `tower::ServiceExt::oneshot`: no socket, no engine process, seconds for the lot.
//! Parameters, RAM checks, the error envelope and the control plane's rules are checked
//! here; what needs a real server is tested against real engines in the other files.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use control::{ControlConfig, ControlPlane};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const KEY_ID: &str = "LTAIrouter00000000000001";
const SECRET: &str = "router-test-secret-0123456789";

struct Api {
    router: axum::Router,
    _plane: Arc<ControlPlane>,
    _dir: tempfile::TempDir,
}

/// What the server answered: HTTP status and body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

impl Api {
    async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut ControlConfig)) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ControlConfig::new(dir.path().join("data"));
        config.root_key = Some((KEY_ID.into(), SECRET.into()));
        config.port_range = (41000, 41999);
        config.supervise_every = Duration::from_secs(1);
        adjust(&mut config);
        let store = store::SqliteStore::open(&dir.path().join("metadata.db")).unwrap();
        let engines: Vec<Arc<dyn engine::Engine>> = vec![
            Arc::new(engine_fake::FakeEngine::new(&engine_postgres::CATALOGUE)),
            Arc::new(engine_fake::FakeEngine::new(&engine_mariadb::CATALOGUE)),
        ];
        let plane = ControlPlane::start(config, Arc::new(store), engines).await.expect("start control plane");
        let router = server::router(plane.clone(), server::ServerConfig::default());
        Api { router, _plane: plane, _dir: dir }
    }

    async fn send_as(&self, key: (&str, &str), version: &str, action: &str, params: &[(&str, &str)]) -> Answer {
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let call = wire::client::Call { action, version, params: &params, access_key_id: key.0, secret: key.1, now: chrono::Utc::now(), nonce: &nonce };
        let signed = call.sign_v3("openrds.test");
        let mut request = Request::post(format!("/?{}", signed.query));
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        let mut request = request.body(Body::from(signed.body)).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 9], 50000))));
        self.raw(request).await
    }

    async fn raw(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        Answer { status, body }
    }

    /// An unsigned GET of a monitoring endpoint: status, content type and text.
    async fn get(&self, path: &str) -> (u16, String, String) {
        let response = self.router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap_or_default().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn rds(&self, action: &str, params: &[(&str, &str)]) -> Answer {
        self.send_as((KEY_ID, SECRET), wire::RDS_VERSION, action, params).await
    }

    async fn ram(&self, action: &str, params: &[(&str, &str)]) -> Answer {
        self.send_as((KEY_ID, SECRET), wire::RAM_VERSION, action, params).await
    }

    /// The call must succeed; its body.
    async fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let a = self.rds(action, params).await;
        assert_eq!(a.status, 200, "{action} {params:?}: {}", a.body);
        a.body
    }

    /// The call must fail with `status` and `code`, in the envelope.
    async fn refused(&self, action: &str, params: &[(&str, &str)], status: u16, code: &str) -> Answer {
        let a = self.rds(action, params).await;
        assert_eq!((a.status, a.code()), (status, code), "{action} {params:?}: {}", a.body);
        assert_envelope(&a);
        a
    }

    async fn create(&self, engine: &str, class: &str) -> String {
        let body = self
            .ok(
                "CreateDBInstance",
                &[
                    ("RegionId", "cn-hangzhou"),
                    ("Engine", engine),
                    ("EngineVersion", if class.starts_with("pg") { "15.0" } else { "10.11" }),
                    ("DBInstanceClass", class),
                    ("DBInstanceStorage", "20"),
                    ("DBInstanceNetType", "Intranet"),
                    ("PayType", "Postpaid"),
                    ("SecurityIPList", "127.0.0.1"),
                ],
            )
            .await;
        let id = body["DBInstanceId"].as_str().unwrap().to_string();
        self.wait_status(&id, "Running").await;
        id
    }

    async fn status(&self, id: &str) -> String {
        let body = self.ok("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await;
        body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap_or("").to_string()
    }

    async fn wait_status(&self, id: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.status(id).await == wanted {
                return;
            }
            assert!(Instant::now() < deadline, "{id} never became {wanted}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Alibaba's error envelope: Code, Message, RequestId, HostId (and Recommend).
fn assert_envelope(a: &Answer) {
    for field in ["Code", "Message", "RequestId", "HostId"] {
        assert!(a.body[field].as_str().is_some_and(|s| !s.is_empty()), "envelope lacks {field}: {}", a.body);
    }
}

#[tokio::test]
async fn the_envelope_and_the_signature() {
    let api = Api::start().await;
    let regions = api.ok("DescribeRegions", &[]).await;
    assert!(regions["RequestId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(!regions["Regions"]["RDSRegion"].as_array().unwrap().is_empty());

    let bad = api.send_as((KEY_ID, "not-the-secret"), wire::RDS_VERSION, "DescribeRegions", &[]).await;
    assert_eq!((bad.status, bad.code()), (400, "SignatureDoesNotMatch"));
    assert_envelope(&bad);
    let unknown = api.send_as(("LTAInobody000000000000", SECRET), wire::RDS_VERSION, "DescribeRegions", &[]).await;
    assert_eq!(unknown.code(), "InvalidAccessKeyId.NotFound");
    let unsigned = api.raw(Request::get("/?Action=DescribeRegions&Version=2014-08-15").body(Body::empty()).unwrap()).await;
    assert!(unsigned.status == 400 || unsigned.status == 403, "{}", unsigned.body);
    assert_envelope(&unsigned);
    api.refused("NoSuchAction", &[], 404, "InvalidAction.NotFound").await;
    let ram_on_rds = api.send_as((KEY_ID, SECRET), wire::RAM_VERSION, "DescribeRegions", &[]).await;
    assert!(ram_on_rds.status >= 400, "{}", ram_on_rds.body);
    assert_envelope(&ram_on_rds);
}

#[tokio::test]
async fn instances_from_creation_to_deletion() {
    let api = Api::start().await;
    let create = |engine: &'static str, class: &'static str, storage: &'static str| {
        [
            ("RegionId", "cn-hangzhou"),
            ("Engine", engine),
            ("EngineVersion", "15.0"),
            ("DBInstanceClass", class),
            ("DBInstanceStorage", storage),
            ("DBInstanceNetType", "Intranet"),
            ("PayType", "Postpaid"),
        ]
    };
    api.refused("CreateDBInstance", &create("SQLServer", "pg.n2.small.1", "20"), 400, "InvalidEngine.NotSupported").await;
    api.refused("CreateDBInstance", &create("PostgreSQL", "mariadb.x4.large.2c", "20"), 400, "InvalidDBInstanceClass.NotFound").await;
    api.refused("CreateDBInstance", &create("PostgreSQL", "pg.n2.small.1", "7"), 400, "InvalidDBInstanceStorage.Malformed").await;
    api.refused("CreateDBInstance", &[("RegionId", "cn-hangzhou")], 400, "MissingEngine").await;
    let mut dry = create("postgresql", "pg.n2.small.1", "20").to_vec();
    dry.push(("DryRun", "true"));
    let dry = api.ok("CreateDBInstance", &dry).await;
    assert_eq!((dry["DryRun"].as_bool(), dry["DryRunResult"].as_bool()), (Some(true), Some(true)), "{dry}");
    assert!(api.ok("DescribeDBInstances", &[("RegionId", "cn-hangzhou")]).await["Items"]["DBInstance"].as_array().unwrap().is_empty());

    // The engine typed in lower case is PostgreSQL, answered in its canonical spelling.
    let id = api.create("postgresql", "pg.n2.small.1").await;
    assert!(id.starts_with("pgm-"), "{id}");
    let listed = api.ok("DescribeDBInstances", &[("RegionId", "cn-hangzhou"), ("Engine", "POSTGRESQL")]).await;
    let items = listed["Items"]["DBInstance"].as_array().unwrap();
    assert_eq!((items.len(), items[0]["Engine"].as_str()), (1, Some("PostgreSQL")), "{listed}");
    let none = api.ok("DescribeDBInstances", &[("RegionId", "cn-hangzhou"), ("Engine", "MariaDB")]).await;
    assert!(none["Items"]["DBInstance"].as_array().unwrap().is_empty());
    let attribute = api.ok("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await;
    assert_eq!(attribute["Items"]["DBInstanceAttribute"][0]["DBInstanceClassType"], "x");
    // The listing's entry (serialised from typed fields) says what the attribute's does.
    let entry = items[0].as_object().unwrap();
    let full = attribute["Items"]["DBInstanceAttribute"][0].as_object().unwrap();
    assert_eq!(entry.len(), 35, "{listed}");
    for (name, value) in entry {
        if name != "DBInstanceStatus" {
            assert_eq!(full.get(name), Some(value), "{name} in {listed} and {attribute}");
        }
    }
    assert_eq!(listed["RequestId"].as_str().map(str::len), attribute["RequestId"].as_str().map(str::len), "{listed}");
    api.refused("DescribeDBInstanceAttribute", &[("DBInstanceId", "pgm-doesnotexist")], 404, "InvalidDBInstanceId.NotFound").await;
    let net = api.ok("DescribeDBInstanceNetInfo", &[("DBInstanceId", &id)]).await;
    assert!(net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"].as_str().is_some());

    api.ok("ModifySecurityIps", &[("DBInstanceId", &id), ("SecurityIps", "10.0.0.0/8,127.0.0.1")]).await;
    api.refused("ModifySecurityIps", &[("DBInstanceId", &id), ("SecurityIps", "300.1.1.1")], 400, "InvalidSecurityIPList.Format").await;
    let ips = api.ok("DescribeDBInstanceIPArrayList", &[("DBInstanceId", &id)]).await;
    assert!(ips.to_string().contains("10.0.0.0/8"), "{ips}");

    api.ok("RestartDBInstance", &[("DBInstanceId", &id)]).await;
    api.wait_status(&id, "Running").await;
    api.ok("DeleteDBInstance", &[("DBInstanceId", &id)]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.rds("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await.status == 200 {
        assert!(Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn databases_and_accounts_follow_each_engines_rules() {
    let api = Api::start().await;
    let (pg, maria) = tokio::join!(api.create("PostgreSQL", "pg.n2.small.1"), api.create("MariaDB", "mariadb.n2.medium.1"));
    assert!(maria.starts_with("rm-"), "{maria}");
    api.ok("CreateDatabase", &[("DBInstanceId", &pg), ("DBName", "shop"), ("CharacterSetName", "utf8")]).await;
    api.refused("CreateDatabase", &[("DBInstanceId", &pg), ("DBName", "shop"), ("CharacterSetName", "UTF8")], 400, "InvalidDBName.Duplicate").await;
    // Each engine reserves its own names only.
    api.refused("CreateDatabase", &[("DBInstanceId", &pg), ("DBName", "template1"), ("CharacterSetName", "UTF8")], 400, "InvalidDBName.Format").await;
    api.ok("CreateDatabase", &[("DBInstanceId", &maria), ("DBName", "template1"), ("CharacterSetName", "utf8mb4")]).await;
    api.refused("CreateDatabase", &[("DBInstanceId", &maria), ("DBName", "mysql"), ("CharacterSetName", "utf8mb4")], 400, "InvalidDBName.Format").await;
    api.refused("CreateDatabase", &[("DBInstanceId", &maria), ("DBName", "shop"), ("CharacterSetName", "UTF8,C,C")], 400, "InvalidCharacterSetName.Format").await;
    api.refused("CreateDatabase", &[("DBInstanceId", &pg), ("DBName", "Bad Name"), ("CharacterSetName", "UTF8")], 400, "InvalidDBName.Format").await;
    let dbs = api.ok("DescribeDatabases", &[("DBInstanceId", &pg)]).await;
    assert_eq!(dbs["Databases"]["Database"][0]["DBName"], "shop", "{dbs}");

    api.ok("CreateAccount", &[("DBInstanceId", &pg), ("AccountName", "app"), ("AccountPassword", "Str0ng_pass")]).await;
    api.refused("CreateAccount", &[("DBInstanceId", &pg), ("AccountName", "app2"), ("AccountPassword", "weak")], 400, "InvalidAccountPassword.Malformed").await;
    api.refused("CreateAccount", &[("DBInstanceId", &pg), ("AccountName", "pg_x"), ("AccountPassword", "Str0ng_pass")], 400, "InvalidAccountName.Format").await;
    api.ok("CreateAccount", &[("DBInstanceId", &maria), ("AccountName", "pg_x"), ("AccountPassword", "Str0ng_pass")]).await;
    api.refused("CreateAccount", &[("DBInstanceId", &pg), ("AccountName", "app"), ("AccountPassword", "Str0ng_pass")], 400, "InvalidAccountName.Duplicate").await;
    api.ok("GrantAccountPrivilege", &[("DBInstanceId", &pg), ("AccountName", "app"), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")]).await;
    api.refused(
        "GrantAccountPrivilege",
        &[("DBInstanceId", &pg), ("AccountName", "app"), ("DBName", "shop"), ("AccountPrivilege", "Everything")],
        400,
        "InvalidAccountPrivilege.Malformed",
    )
    .await;
    let accounts = api.ok("DescribeAccounts", &[("DBInstanceId", &pg)]).await;
    assert!(accounts.to_string().contains("ReadOnly"), "{accounts}");
    api.ok("RevokeAccountPrivilege", &[("DBInstanceId", &pg), ("AccountName", "app"), ("DBName", "shop")]).await;
    api.ok("ResetAccountPassword", &[("DBInstanceId", &pg), ("AccountName", "app"), ("AccountPassword", "An0ther_pass")]).await;
    api.ok("DeleteAccount", &[("DBInstanceId", &pg), ("AccountName", "app")]).await;
    api.refused("DeleteAccount", &[("DBInstanceId", &pg), ("AccountName", "app")], 404, "InvalidAccountName.NotFound").await;
    api.ok("DeleteDatabase", &[("DBInstanceId", &pg), ("DBName", "shop")]).await;
    api.refused("DeleteDatabase", &[("DBInstanceId", &pg), ("DBName", "shop")], 404, "InvalidDBName.NotFound").await;
}

#[tokio::test]
async fn imports_are_checked_run_and_described() {
    let api = Api::start().await;
    let (src, dst, small) = tokio::join!(
        api.create("PostgreSQL", "pg.x4.large.2c"),
        api.create("PostgreSQL", "pg.x4.large.2c"),
        api.create("PostgreSQL", "pg.n2.small.1")
    );
    let maria = api.create("MariaDB", "mariadb.x4.large.2c").await;
    api.ok("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await;
    let import = |to: &str, from: &str, info: &str| {
        [("DBInstanceId", to.to_string()), ("SourceDBInstanceId", from.to_string()), ("DBInfo", info.to_string())]
    };
    let map = r#"{"DBNames":{"shop":"shop_copy"}}"#;
    for (to, from, info, status, code) in [
        (&dst, &small, map, 400, "IncorrectDBInstanceType"),
        (&maria, &src, map, 400, "InstanceEngineType.NotSupport"),
        (&dst, &src, "{not json", 400, "InvalidDBInfo.Malformed"),
        (&dst, &src, r#"{"DBNames":{"shop":"template1"}}"#, 400, "InvalidDBName.Format"),
        (&dst, &"pgm-nosuchinstance".to_string(), map, 404, "InvalidDBInstanceId.NotFound"),
    ] {
        let p = import(to, from, info);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        api.refused("ImportDatabaseBetweenInstances", &p, status, code).await;
    }
    let p = import(&dst, &src, map);
    let mut p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.push(("DryRun", "true"));
    let dry = api.ok("ImportDatabaseBetweenInstances", &p).await;
    assert_eq!((dry["DryRun"].as_bool(), dry["DryRunResult"].as_bool()), (Some(true), Some(true)), "{dry}");
    assert!(dry.get("ImportId").is_none(), "{dry}");
    p.pop();
    let started = api.ok("ImportDatabaseBetweenInstances", &p).await;
    let import_id = started["ImportId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let progress = api.ok("DescribeImportProgress", &[("DBInstanceId", &dst), ("ImportId", &import_id)]).await;
        if progress["Status"] == "Success" {
            break progress;
        }
        assert!(progress["Status"] != "Failed", "{progress}");
        assert!(Instant::now() < deadline, "{progress}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["Result"]["Databases"][0]["Destination"], "shop_copy", "{done}");
    let dbs = api.ok("DescribeDatabases", &[("DBInstanceId", &dst)]).await;
    assert!(dbs.to_string().contains("shop_copy"), "{dbs}");
    let listed = api.ok("DescibeImportsFromDatabase", &[("DBInstanceId", &dst)]).await;
    assert!(listed.to_string().contains(&import_id), "{listed}");
    api.ok("DescribeImportsForSQLServer", &[("DBInstanceId", &dst)]).await;
    api.refused("CancelImport", &[("DBInstanceId", &dst), ("ImportId", &import_id)], 403, "IncorrectImportState").await;
    api.refused("DescribeImportProgress", &[("DBInstanceId", &dst), ("ImportId", "999999")], 404, "InvalidImportId.NotFound").await;
}

#[tokio::test]
async fn classes_and_regions() {
    let api = Api::start().await;
    let classes = api.ok("DescribeAvailableClasses", &[("RegionId", "cn-hangzhou"), ("Engine", "mariadb")]).await;
    let list = classes["DBInstanceClasses"].as_array().unwrap();
    assert!(!list.is_empty() && list.iter().all(|c| c["Engine"] == "MariaDB"), "{classes}");
    let all = api.ok("DescribeAvailableClasses", &[("RegionId", "cn-hangzhou")]).await;
    assert!(all["DBInstanceClasses"].as_array().unwrap().len() > list.len());
    api.refused("DescribeAvailableClasses", &[("RegionId", "mars-1")], 404, "InvalidRegionId.NotFound").await;
}

#[tokio::test]
async fn ram_users_keys_and_policies_decide_what_a_caller_may_do() {
    let api = Api::start().await;
    let user = api.ram("CreateUser", &[("UserName", "alice")]).await;
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(api.ram("CreateUser", &[("UserName", "alice")]).await.code(), "EntityAlreadyExists.User");
    assert_eq!(api.ram("GetUser", &[("UserName", "alice")]).await.status, 200);
    assert!(api.ram("ListUsers", &[]).await.body.to_string().contains("alice"));
    let key = api.ram("CreateAccessKey", &[("UserName", "alice")]).await.body;
    let (id, secret) = (key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(), key["AccessKey"]["AccessKeySecret"].as_str().unwrap().to_string());
    let create_params = [
        ("RegionId", "cn-hangzhou"),
        ("Engine", "PostgreSQL"),
        ("EngineVersion", "15.0"),
        ("DBInstanceClass", "pg.n2.small.1"),
        ("DBInstanceStorage", "20"),
        ("DBInstanceNetType", "Intranet"),
        ("PayType", "Postpaid"),
    ];
    let alice = |action: &'static str| {
        let (id, secret) = (id.clone(), secret.clone());
        let (api, params) = (&api, &create_params);
        async move { api.send_as((&id, &secret), wire::RDS_VERSION, action, params).await }
    };
    let denied = alice("DescribeDBInstances").await;
    assert_eq!((denied.status, denied.code()), (403, "Forbidden.RAM"), "{}", denied.body);
    assert_envelope(&denied);

    let document = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"}]}"#;
    assert_eq!(api.ram("CreatePolicy", &[("PolicyName", "readers"), ("PolicyDocument", document)]).await.status, 200);
    assert_eq!(api.ram("CreatePolicy", &[("PolicyName", "bad"), ("PolicyDocument", "{")]).await.code(), "MalformedPolicyDocument");
    assert!(api.ram("ListPolicies", &[]).await.body.to_string().contains("readers"));
    let attach = api.ram("AttachPolicyToUser", &[("PolicyType", "Custom"), ("PolicyName", "readers"), ("UserName", "alice")]).await;
    assert_eq!(attach.status, 200, "{}", attach.body);
    assert!(api.ram("ListPoliciesForUser", &[("UserName", "alice")]).await.body.to_string().contains("readers"));
    assert_eq!(alice("DescribeDBInstances").await.status, 200);
    let create = alice("CreateDBInstance").await;
    assert_eq!(create.code(), "Forbidden.RAM", "{}", create.body);

    assert_eq!(api.ram("UpdateAccessKey", &[("UserName", "alice"), ("UserAccessKeyId", &id), ("Status", "Inactive")]).await.status, 200);
    assert_eq!(alice("DescribeDBInstances").await.code(), "InvalidAccessKeyId.Inactive");
    assert!(api.ram("ListAccessKeys", &[("UserName", "alice")]).await.body.to_string().contains("Inactive"));
    assert_eq!(api.ram("DetachPolicyFromUser", &[("PolicyType", "Custom"), ("PolicyName", "readers"), ("UserName", "alice")]).await.status, 200);
    assert_eq!(api.ram("DeleteAccessKey", &[("UserName", "alice"), ("UserAccessKeyId", &id)]).await.status, 200);
    assert_eq!(api.ram("DeletePolicy", &[("PolicyName", "readers")]).await.status, 200);
    assert_eq!(api.ram("DeleteUser", &[("UserName", "alice")]).await.status, 200);
    assert_eq!(api.ram("GetUser", &[("UserName", "alice")]).await.code(), "EntityNotExist.User");
}

/// Backups with the in-memory engine: a set is taken, listed, cloned into an instance with
/// the same databases, and deleted; policies and log listings answer in their shapes; the
/// refusals have their codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_clones_and_policies() {
    let api = Api::start().await;
    let id = api.create("PostgreSQL", "pg.x4.large.2c").await;
    api.ok("CreateDatabase", &[("DBInstanceId", &id), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await;
    let job = api.ok("CreateBackup", &[("DBInstanceId", &id)]).await["BackupJobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tasks = api.ok("DescribeBackupTasks", &[("DBInstanceId", &id), ("BackupJobId", &job)]).await;
        if tasks["Items"]["BackupJob"][0]["BackupStatus"] == "Finished" {
            break;
        }
        assert!(Instant::now() < deadline, "{tasks}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sets = api.ok("DescribeBackups", &[("DBInstanceId", &id)]).await;
    assert_eq!(sets["TotalRecordCount"], "1", "{sets}");
    assert_eq!(sets["Items"]["Backup"][0]["BackupId"], job.as_str());
    api.refused("CreateBackup", &[("DBInstanceId", &id), ("BackupMethod", "Logical")], 403, "OperationDenied.BackupMethod").await;
    api.refused("DeleteBackup", &[("DBInstanceId", &id), ("BackupId", "999")], 404, "InvalidBackupId.NotFound").await;
    api.refused("CloneDBInstance", &[("DBInstanceId", &id), ("RestoreTime", "2020-01-01T00:00:00Z"), ("PayType", "Postpaid")], 400, "InvalidParameter").await;

    let clone = api.ok("CloneDBInstance", &[("DBInstanceId", &id), ("BackupId", &job), ("PayType", "Postpaid")]).await;
    let clone_id = clone["DBInstanceId"].as_str().unwrap().to_string();
    api.wait_status(&clone_id, "Running").await;
    let dbs = api.ok("DescribeDatabases", &[("DBInstanceId", &clone_id)]).await;
    assert_eq!(dbs["Databases"]["Database"][0]["DBName"], "shop", "{dbs}");

    let policy = api.ok("DescribeBackupPolicy", &[("DBInstanceId", &id)]).await;
    assert_eq!(policy["BackupRetentionPeriod"], 7, "{policy}");
    let changed = api.ok("ModifyBackupPolicy", &[("DBInstanceId", &id), ("BackupRetentionPeriod", "30"), ("PreferredBackupPeriod", "Monday,Friday")]).await;
    assert_eq!((changed["BackupRetentionPeriod"].as_i64(), changed["PreferredBackupPeriod"].as_str()), (Some(30), Some("Monday,Friday")), "{changed}");
    api.refused("ModifyBackupPolicy", &[("DBInstanceId", &id), ("BackupRetentionPeriod", "3")], 400, "InvalidParameter").await;
    let logs = api.ok("DescribeLogBackupFiles", &[("DBInstanceId", &id), ("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2030-01-01T00:00Z")]).await;
    assert_eq!(logs["TotalRecordCount"], 0, "the fake engine archives no log: {logs}");
    let binlogs = api.ok("DescribeBinlogFiles", &[("DBInstanceId", &id), ("StartTime", "2026-01-01T00:00:00Z"), ("EndTime", "2030-01-01T00:00:00Z")]).await;
    assert_eq!(binlogs["Items"]["BinLogFile"].as_array().map(Vec::len), Some(0), "{binlogs}");
    api.refused("DescribeBinlogFiles", &[("DBInstanceId", &id), ("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2030-01-01T00:00:00Z")], 400, "InvalidParameter").await;

    // Into an existing instance: a private server restored from the set, then an import.
    let recovery = [("BackupId", job.as_str()), ("TargetDBInstanceId", clone_id.as_str())];
    api.refused("RecoveryDBInstance", &[recovery[0], ("DBInstanceId", &id), ("DbNames", r#"{"shop":"renamed"}"#)], 400, "InvalidParameter").await;
    api.refused("RecoveryDBInstance", &[recovery[1], ("DbNames", "shop")], 400, "InvalidParameter").await;
    let started = api.ok("RecoveryDBInstance", &[recovery[0], recovery[1], ("DbNames", r#"{"shop":"shop_back"}"#)]).await;
    assert_eq!(started["DBInstanceId"], clone_id.as_str(), "{started}");
    let task = started["OrderId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let progress = api.ok("DescribeImportProgress", &[("DBInstanceId", &clone_id), ("ImportId", &task)]).await;
        if progress["Status"] == "Success" {
            break;
        }
        assert!(progress["Status"] != "Failed", "{progress}");
        assert!(Instant::now() < deadline, "{progress}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.wait_status(&clone_id, "Running").await;
    let dbs = api.ok("DescribeDatabases", &[("DBInstanceId", &clone_id)]).await;
    assert!(dbs.to_string().contains("shop_back"), "{dbs}");

    api.ok("DeleteBackup", &[("DBInstanceId", &id), ("BackupId", &job)]).await;
    assert_eq!(api.ok("DescribeBackups", &[("DBInstanceId", &id)]).await["TotalRecordCount"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_two_changes() {
    // Storage counted in MiB: the fake server's 8 MiB fill a 5 "GB" quota.
    let api = Api::start_with(|c| c.storage_unit_bytes = 1 << 20).await;
    let id = api.create("PostgreSQL", "pg.x4.large.2c").await;
    api.ok("CreateDatabase", &[("DBInstanceId", &id), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await;
    api.ok("CreateAccount", &[("DBInstanceId", &id), ("AccountName", "owner1"), ("AccountPassword", "Passw0rd_ok")]).await;

    api.ok("ModifyDBInstanceSpec", &[("DBInstanceId", &id), ("DBInstanceClass", "pg.x8.xlarge.4c")]).await;
    api.wait_status(&id, "Running").await;
    api.ok("ModifyDBInstanceSpec", &[("DBInstanceId", &id), ("DBInstanceStorage", "40")]).await;
    let attrs = api.ok("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await;
    let attrs = &attrs["Items"]["DBInstanceAttribute"][0];
    assert_eq!((attrs["DBInstanceClass"].as_str(), attrs["DBInstanceStorage"].as_i64()), (Some("pg.x8.xlarge.4c"), Some(40)), "{attrs}");
    api.refused("ModifyDBInstanceSpec", &[("DBInstanceId", &id), ("DBInstanceStorage", "5")], 403, "InvalidReduceDiskSize").await;
    api.refused("ModifyDBInstanceSpec", &[("DBInstanceId", &id)], 400, "InvalidParameter").await;

    api.ok("ModifyDBInstanceDescription", &[("DBInstanceId", &id), ("DBInstanceDescription", "orders")]).await;
    api.ok("ModifyDBInstanceMaintainTime", &[("DBInstanceId", &id), ("MaintainTime", "03:00Z-04:00Z")]).await;
    api.ok("ModifyDBDescription", &[("DBInstanceId", &id), ("DBName", "shop"), ("DBDescription", "the shop")]).await;
    api.ok("ModifyAccountDescription", &[("DBInstanceId", &id), ("AccountName", "owner1"), ("AccountDescription", "owner")]).await;
    let attrs = api.ok("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await;
    let attrs = &attrs["Items"]["DBInstanceAttribute"][0];
    assert_eq!((attrs["DBInstanceDescription"].as_str(), attrs["MaintainTime"].as_str()), (Some("orders"), Some("03:00Z-04:00Z")), "{attrs}");

    api.ok("ModifyDBInstanceDeletionProtection", &[("DBInstanceId", &id), ("DeletionProtection", "true")]).await;
    api.refused("DeleteDBInstance", &[("DBInstanceId", &id)], 403, "OperationDenied.DeletionProtection").await;
    api.ok("ModifyDBInstanceDeletionProtection", &[("DBInstanceId", &id), ("DeletionProtection", "false")]).await;

    api.ok("StopDBInstance", &[("DBInstanceId", &id), ("RegionId", "cn-hangzhou")]).await;
    api.wait_status(&id, "Stopped").await;
    api.refused("StartDBInstance", &[("DBInstanceId", "pgm-nosuchinstance")], 404, "InvalidDBInstanceId.NotFound").await;
    api.ok("StartDBInstance", &[("DBInstanceId", &id)]).await;
    api.wait_status(&id, "Running").await;
    api.refused("StartDBInstance", &[("DBInstanceId", &id)], 403, "IncorrectDBInstanceState").await;
}

#[tokio::test]
async fn monitoring_endpoints_are_unsigned_and_count_what_happens() {
    let api = Api::start().await;
    let id = api.create("PostgreSQL", "pg.x4.large.2c").await;
    api.refused("DescribeDBInstanceAttribute", &[("DBInstanceId", "pgm-nosuchinstance")], 404, "InvalidDBInstanceId.NotFound").await;
    api.refused("NoSuchAction", &[], 404, "InvalidAction.NotFound").await;
    assert_eq!(api.get("/health").await.0, 200);
    assert_eq!(api.get("/ready").await.0, 200);
    let (status, kind, text) = api.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    for line in [
        r#"openrds_api_requests_total{action="CreateDBInstance",code="OK"} 1"#,
        r#"openrds_api_requests_total{action="DescribeDBInstanceAttribute",code="InvalidDBInstanceId.NotFound"} 1"#,
        r#"openrds_api_requests_total{action="unknown",code="InvalidAction.NotFound"} 1"#,
        r#"openrds_instances{status="Running"} 1"#,
        &format!(r#"openrds_instance_up{{instance="{id}",engine="PostgreSQL"}} 1"#),
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("openrds_api_request_duration_seconds_bucket{"), "{text}");
    assert!(text.contains("openrds_import_bytes_total 0"), "{text}");
}

#[tokio::test]
async fn discovery_and_tags() {
    let api = Api::start().await;
    let (a, b) = tokio::join!(api.create("PostgreSQL", "pg.x4.large.2c"), api.create("PostgreSQL", "pg.x4.large.2c"));
    let zones = api.ok("DescribeAvailableZones", &[("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL")]).await;
    let zone = &zones["AvailableZones"][0];
    assert_eq!(zone["ZoneId"], "cn-hangzhou-h", "{zones}");
    assert_eq!(zone["SupportedEngines"][0]["Engine"], "PostgreSQL", "{zones}");
    api.refused("DescribeAvailableZones", &[("RegionId", "cn-hangzhou"), ("Engine", "Oracle")], 400, "InvalidEngine.NotSupported").await;

    api.ok("CheckDBNameAvailable", &[("DBInstanceId", &a), ("DBName", "shop")]).await;
    api.ok("CreateDatabase", &[("DBInstanceId", &a), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await;
    api.refused("CheckDBNameAvailable", &[("DBInstanceId", &a), ("DBName", "shop")], 400, "InvalidDBName.Duplicate").await;
    api.refused("CheckDBNameAvailable", &[("DBInstanceId", &a), ("DBName", "Bad-Name!")], 400, "InvalidDBName.Format").await;
    api.ok("CheckAccountNameAvailable", &[("DBInstanceId", &a), ("AccountName", "owner1")]).await;
    api.ok("CreateAccount", &[("DBInstanceId", &a), ("AccountName", "owner1"), ("AccountPassword", "Passw0rd_ok")]).await;
    api.refused("CheckAccountNameAvailable", &[("DBInstanceId", &a), ("AccountName", "owner1")], 400, "InvalidAccountName.Duplicate").await;

    let tag = [("RegionId", "cn-hangzhou"), ("ResourceType", "INSTANCE"), ("ResourceId.1", a.as_str()), ("ResourceId.2", b.as_str()), ("Tag.1.Key", "env"), ("Tag.1.Value", "prod")];
    api.ok("TagResources", &tag).await;
    api.ok("TagResources", &[tag[0], tag[1], tag[2], ("Tag.1.Key", "team"), ("Tag.1.Value", "data")]).await;
    api.refused("TagResources", &[tag[0], tag[1], tag[2], ("Tag.1.Key", "aliyun-x"), ("Tag.1.Value", "v")], 400, "InvalidTagKey.Malformed").await;
    api.refused("TagResources", &[tag[0], ("ResourceType", "DISK"), tag[2], tag[4], tag[5]], 400, "InvalidResourceType.NotSupported").await;
    let listed = api.ok("ListTagResources", &[tag[0], tag[1], ("ResourceId.1", a.as_str())]).await;
    let rows = listed["TagResources"]["TagResource"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    let by_tag = api.ok("ListTagResources", &[tag[0], tag[1], ("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]).await;
    assert_eq!(by_tag["TagResources"]["TagResource"].as_array().unwrap().len(), 3, "env on both, team on a: {by_tag}");
    let described = api.ok("DescribeTags", &[("RegionId", "cn-hangzhou"), ("Tags", r#"{"env":"prod"}"#)]).await;
    let ids = &described["Items"]["TagInfos"][0]["DBInstanceIds"]["DBInstanceIds"];
    assert_eq!(ids.as_array().map(Vec::len), Some(2), "{described}");
    api.ok("UntagResources", &[tag[0], tag[1], ("ResourceId.1", a.as_str()), ("TagKey.1", "env")]).await;
    api.ok("UntagResources", &[tag[0], tag[1], ("ResourceId.1", b.as_str()), ("All", "true")]).await;
    let left = api.ok("DescribeTags", &[("RegionId", "cn-hangzhou")]).await;
    assert_eq!(left["Items"]["TagInfos"].as_array().map(Vec::len), Some(1), "only team=data on a: {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_listed_changed_and_logged() {
    let api = Api::start().await;
    let id = api.create("PostgreSQL", "pg.x4.large.2c").await;
    let templates = api.ok("DescribeParameterTemplates", &[("Engine", "PostgreSQL"), ("EngineVersion", "15.0")]).await;
    assert_eq!(templates["ParameterCount"], "2", "{templates}");
    assert_eq!(templates["Parameters"]["TemplateRecord"][0]["CheckingCode"], "[64-2147483647]", "{templates}");
    api.refused("DescribeParameterTemplates", &[("Engine", "PostgreSQL"), ("EngineVersion", "9.6")], 400, "InvalidEngineVersion.NotSupported").await;

    api.ok("ModifyParameter", &[("DBInstanceId", &id), ("Parameters", r#"{"work_mem":"8192","max_locks_per_transaction":128}"#)]).await;
    for (parameters, why) in [(r#"{"work_mem":"1"}"#, "out of range"), (r#"{"shared_buffers":"1GB"}"#, "not offered"), ("not json", "malformed"), ("{}", "empty")] {
        let a = api.rds("ModifyParameter", &[("DBInstanceId", &id), ("Parameters", parameters)]).await;
        assert_eq!((a.status, a.code()), (400, "InvalidParameter"), "{why}: {}", a.body);
    }
    let described = api.ok("DescribeParameters", &[("DBInstanceId", &id)]).await;
    let running = described["RunningParameters"]["DBInstanceParameter"].as_array().unwrap();
    let value = |name: &str| running.iter().find(|p| p["ParameterName"] == name).map(|p| p["ParameterValue"].clone());
    assert_eq!((value("work_mem"), value("max_locks_per_transaction")), (Some("8192".into()), Some("64".into())), "{described}");
    assert_eq!(described["ConfigParameters"]["DBInstanceParameter"].as_array().map(Vec::len), Some(2), "{described}");
    let log_params = [("DBInstanceId", id.as_str()), ("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")];
    let before = api.ok("DescribeModifyParameterLog", &log_params).await;
    let status = |log: &serde_json::Value, name: &str| log["Items"]["ParameterChangeLog"].as_array().unwrap().iter().find(|c| c["ParameterName"] == name).map(|c| c["Status"].clone());
    assert_eq!(status(&before, "max_locks_per_transaction"), Some("Unapplied".into()), "{before}");
    assert_eq!(status(&before, "work_mem"), Some("Applied".into()), "{before}");
    // Forcerestart: the change that waited is in effect once the instance runs again.
    api.ok("ModifyParameter", &[("DBInstanceId", &id), ("Parameters", r#"{"max_locks_per_transaction":"128"}"#), ("Forcerestart", "true")]).await;
    api.wait_status(&id, "Running").await;
    let after = api.ok("DescribeModifyParameterLog", &log_params).await;
    assert_eq!(after["TotalRecordCount"], 3, "{after}");
    assert_eq!(status(&after, "max_locks_per_transaction"), Some("Applied".into()), "{after}");
}

#[tokio::test]
async fn resource_usage_and_error_logs() {
    let api = Api::start().await;
    let id = api.create("PostgreSQL", "pg.x4.large.2c").await;
    let usage = api.ok("DescribeResourceUsage", &[("DBInstanceId", &id)]).await;
    assert_eq!(usage["DBInstanceId"], id.as_str(), "{usage}");
    assert_eq!(usage["DataSize"], 8 << 20, "the fake's 8 MiB: {usage}");
    assert_eq!(usage["DiskUsed"].as_u64(), Some(usage["DataSize"].as_u64().unwrap() + usage["LogSize"].as_u64().unwrap()), "{usage}");
    let logs = api.ok("DescribeErrorLogs", &[("DBInstanceId", &id), ("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")]).await;
    assert_eq!(logs["TotalRecordCount"], 0, "the fake logs nothing: {logs}");
    let slow = api.ok("DescribeSlowLogRecords", &[("DBInstanceId", &id), ("StartTime", "2026-01-01T00:00:00Z"), ("EndTime", "2099-01-01T00:00:00Z")]).await;
    assert_eq!((slow["TotalRecordCount"].as_u64(), slow["Engine"].as_str()), (Some(0), Some("PostgreSQL")), "{slow}");
    let stats = api.ok("DescribeSlowLogs", &[("DBInstanceId", &id), ("StartTime", "2026-01-01Z"), ("EndTime", "2026-12-31Z")]).await;
    assert_eq!((stats["TotalRecordCount"].as_u64(), stats["StartTime"].as_str()), (Some(0), Some("2026-01-01Z")), "{stats}");
    api.refused("DescribeSlowLogs", &[("DBInstanceId", &id), ("StartTime", "2026-01-01Z"), ("EndTime", "2026-12-31Z"), ("SortKey", "Nope")], 400, "InvalidParameter").await;
    api.refused("DescribeErrorLogs", &[("DBInstanceId", &id), ("StartTime", "2099-01-01T00:00Z"), ("EndTime", "2026-01-01T00:00Z")], 400, "InvalidStartTimeAndEndTime.Malformed").await;
}

/// DescribeDBInstancePerformance over the fake's counters, sampled every second: each
/// engine's keys with their figures, rates from consecutive samples; the refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performance_is_sampled_and_answered_per_engine() {
    let api = Api::start_with(|c| c.performance_sample_every = Duration::from_secs(1)).await;
    let (pg, maria) = tokio::join!(api.create("PostgreSQL", "pg.x4.large.2c"), api.create("MariaDB", "mariadb.x4.large.2c"));
    let window = |id: &str, key: &str| -> Vec<(String, String)> {
        [("DBInstanceId", id), ("Key", key), ("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2099-01-01T00:00Z")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let call = |id: &str, key: &str| {
        let params = window(id, key);
        let api = &api;
        async move {
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            api.ok("DescribeDBInstancePerformance", &refs).await
        }
    };
    // Three samples at least: two points.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = call(&maria, "MySQL_QPSTPS,MySQL_Sessions").await;
        if body["PerformanceKeys"]["PerformanceKey"][0]["Values"]["PerformanceValue"].as_array().is_some_and(|v| v.len() >= 2) {
            break body;
        }
        assert!(Instant::now() < deadline, "no samples: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!((body["DBInstanceId"].as_str(), body["Engine"].as_str()), (Some(maria.as_str()), Some("MariaDB")), "{body}");
    assert_eq!((body["StartTime"].as_str(), body["EndTime"].as_str()), (Some("2026-01-01T00:00Z"), Some("2099-01-01T00:00Z")), "{body}");
    let keys = &body["PerformanceKeys"]["PerformanceKey"];
    assert_eq!((keys[0]["Key"].as_str(), keys[0]["ValueFormat"].as_str()), (Some("MySQL_QPSTPS"), Some("QPS&TPS")), "{body}");
    let point = &keys[0]["Values"]["PerformanceValue"][1];
    let figures: Vec<f64> = point["Value"].as_str().unwrap().split('&').map(|v| v.parse().unwrap()).collect();
    // The fake runs 10 statements and 2 transactions a sample, a second or so apart.
    assert!(figures[0] > 2.0 && figures[0] <= 10.0 / 0.5 && figures[1] > 0.0 && figures[1] < figures[0], "{point}");
    assert!(point["Date"].as_str().unwrap().ends_with('Z'), "{point}");
    assert_eq!((keys[1]["Key"].as_str(), keys[1]["ValueFormat"].as_str()), (Some("MySQL_Sessions"), Some("active_session&total_session")));
    assert_eq!(keys[1]["Values"]["PerformanceValue"][0]["Value"], "1&3", "{body}");

    let pg_body = call(&pg, "CpuUsage,MemoryUsage,PgSQL_Session,PgSQL_SpaceUsage").await;
    let pg_keys = &pg_body["PerformanceKeys"]["PerformanceKey"];
    assert_eq!(pg_keys.as_array().map(Vec::len), Some(4), "{pg_body}");
    assert_eq!(pg_keys[1]["Unit"], "%");
    // 64 MiB of the class's 16 GiB.
    assert_eq!(pg_keys[1]["Values"]["PerformanceValue"][0]["Value"], "0.39", "{pg_body}");
    assert_eq!(pg_keys[3]["Values"]["PerformanceValue"][0]["Value"].as_str().map(|v| v.parse::<u64>().unwrap() >= 8 << 20), Some(true), "{pg_body}");
    // A window before any sample is empty, not an error.
    let empty = api
        .ok("DescribeDBInstancePerformance", &[("DBInstanceId", &pg), ("Key", "CpuUsage"), ("StartTime", "2020-01-01T00:00Z"), ("EndTime", "2020-01-01T01:00Z")])
        .await;
    assert_eq!(empty["PerformanceKeys"]["PerformanceKey"][0]["Values"]["PerformanceValue"], serde_json::json!([]), "{empty}");

    let [from, to] = [("StartTime", "2026-01-01T00:00Z"), ("EndTime", "2026-01-02T00:00Z")];
    let perf = "DescribeDBInstancePerformance";
    api.refused(perf, &[("DBInstanceId", &maria), ("Key", "PgSQL_Session"), from, to], 400, "InvalidParameter").await;
    api.refused(perf, &[("DBInstanceId", &pg), ("Key", "Nope"), from, to], 400, "InvalidParameter").await;
    api.refused(perf, &[("DBInstanceId", "pgm-doesnotexist"), ("Key", "CpuUsage"), from, to], 404, "InvalidDBInstanceId.NotFound").await;
    api.refused(perf, &[("DBInstanceId", &pg), ("Key", "CpuUsage"), ("StartTime", "2026-01-03T00:00Z"), to], 400, "InvalidStartTimeAndEndTime.Malformed").await;
    api.refused(perf, &[("DBInstanceId", &pg), ("Key", "CpuUsage"), ("StartTime", "yesterday"), to], 400, "InvalidParameter").await;
    let missing = api.rds(perf, &[("DBInstanceId", &pg), ("Key", "CpuUsage"), to]).await;
    assert_eq!((missing.status, missing.code()), (400, "MissingStartTime"), "{}", missing.body);
}

#[tokio::test]
async fn character_sets_are_those_create_database_accepts() {
    let api = Api::start().await;
    let pg = api.ok("DescribeCharacterSetName", &[("RegionId", "cn-hangzhou"), ("Engine", "PostgreSQL")]).await;
    assert_eq!(pg["Engine"], "PostgreSQL");
    let names = pg["CharacterSetNameItems"]["CharacterSetName"].as_array().unwrap().clone();
    assert!(names.contains(&"UTF8".into()) && names.contains(&"SQL_ASCII".into()), "{pg}");
    let maria = api.ok("DescribeCharacterSetName", &[("RegionId", "cn-hangzhou"), ("Engine", "mariadb")]).await;
    assert_eq!(maria["CharacterSetNameItems"]["CharacterSetName"], serde_json::json!(["utf8mb4", "utf8", "latin1", "gbk"]), "{maria}");
    // Every one listed makes a database.
    let id = api.create("MariaDB", "mariadb.x4.large.2c").await;
    for (i, charset) in ["utf8mb4", "utf8", "latin1", "gbk"].iter().enumerate() {
        let name = format!("cs{i}");
        api.ok("CreateDatabase", &[("DBInstanceId", &id), ("DBName", &name), ("CharacterSetName", charset)]).await;
    }
    api.refused("DescribeCharacterSetName", &[("RegionId", "cn-hangzhou"), ("Engine", "Oracle")], 400, "InvalidEngine.NotSupported").await;
    api.refused("DescribeCharacterSetName", &[("RegionId", "mars-1"), ("Engine", "PostgreSQL")], 404, "InvalidRegionId.NotFound").await;
}

/// Every served action (`wire::Action`, whose every value the dispatcher routes) is called
/// by a test of this file.
#[test]
fn every_served_action_is_exercised_here() {
    let this_file = include_str!("router.rs");
    let missing: Vec<&str> =
        wire::Action::ALL.iter().map(|a| a.name()).filter(|name| !this_file.contains(&format!("\"{name}\""))).collect();
    assert!(missing.is_empty(), "served actions without an in-process test: {missing:?}");
}
