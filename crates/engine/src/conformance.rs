//! The engine contract as tests, written once and run against every engine (feature
//! `conformance`): an engine crate's `tests/conformance.rs` is one line,
//! `engine::conformance_suite!(make_engine);` (`make_engine, with_processes` for an engine
//! that runs server processes). What the suite checks is what the control plane relies on,
//! whatever the engine: lifecycle and adoption, idempotent stop and destroy, databases and
//! accounts with their error kinds, privileges as listed, the administrator's connection,
//! that a crashed server shows as stopped and starts again and a frozen one as
//! unresponsive, and that a restore holds what its backup held (and, where the engine
//! archives its log, what was committed by the moment asked for). What only one engine
//! can show (its files, its SQL, the privileges it enforces) stays in that engine's own
//! tests.

use crate::prelude::*;
use crate::{AccountKind, ErrorKind, InstanceSpec, Liveness, Privilege};
use std::future::Future;
use std::sync::Arc;

/// What every engine's own real-server tests need besides the contract: a directory the
/// instance's user can pass through, ports, the processes of a data directory, and the
/// host leftovers (user, groups) of an instance a test did not destroy.
pub mod support {
    use crate::{InstanceSpec, ServerSettings};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// The permission bits of `path`.
    pub fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    /// Checks the layout every engine keeps for an instance in `spec.dir`, confined
    /// (`isolate`) or not: the directory is ours and only traversable, `data/` and the
    /// server log belong to the engine's user (the instance's own, never the host's
    /// shared `shared_user`), the administrator's credentials to us alone. Returns the
    /// engine's uid.
    pub fn assert_own_layout(spec: &InstanceSpec, isolate: bool, shared_user: &str) -> u32 {
        use std::os::unix::fs::MetadataExt;
        let owner = |p: &Path| std::fs::metadata(p).expect("metadata").uid();
        let me = nix::unistd::geteuid().as_raw();
        let engine_uid = if isolate {
            let name = crate::isolation::system_user_name(&spec.id);
            nix::unistd::User::from_name(&name).unwrap().unwrap_or_else(|| panic!("the instance's user {name} exists")).uid.as_raw()
        } else {
            me
        };
        assert_ne!(Some(engine_uid), nix::unistd::User::from_name(shared_user).unwrap().map(|u| u.uid.as_raw()), "not the shared engine user");
        assert_eq!((mode(&spec.dir), owner(&spec.dir)), (0o711, me), "the instance directory");
        assert_eq!((mode(&spec.dir.join("data")), owner(&spec.dir.join("data"))), (0o700, engine_uid), "the data directory");
        assert_eq!((mode(&spec.dir.join("admin.json")), owner(&spec.dir.join("admin.json"))), (0o600, me), "the credentials");
        assert_eq!(owner(&spec.dir.join("server.log")), engine_uid, "the server log");
        engine_uid
    }

    /// A server provisioned for a test in a directory of its own, its security IP list
    /// applied as the control plane does right after provisioning (accounts may log in
    /// from this host); on drop, whatever the test did, its processes are killed and its
    /// directory and host user removed.
    pub struct Provisioned<E: crate::Engine> {
        pub engine: E,
        pub spec: InstanceSpec,
        pub dir: TestDir,
    }

    impl<E: crate::Engine> Provisioned<E> {
        pub async fn new(engine: E, id: &str) -> Self {
            let dir = TestDir::new();
            let spec = dir.spec(id, free_port());
            engine.provision(&spec).await.unwrap_or_else(|e| panic!("provision {id}: {e}"));
            engine.set_allowed_addresses(&spec, &["127.0.0.1/32".to_string()]).await.unwrap_or_else(|e| panic!("allow {id}: {e}"));
            Provisioned { engine, spec, dir }
        }
    }

    pub use crate::OnHost;

    impl<E: OnHost> Provisioned<E> {
        /// Provisioned with the host's binaries.
        pub async fn provision(id: &str) -> Self {
            Self::new(E::on_host(), id).await
        }
    }

    impl<E: crate::Engine> Drop for Provisioned<E> {
        fn drop(&mut self) {
            // Only servers of this test, found by their directory: a recorded pid may be stale.
            for pid in processes_in(&crate::lifecycle::data_dir(&self.spec)) {
                crate::process::kill_server(pid);
            }
            let _ = std::fs::remove_dir_all(&self.spec.dir);
            remove_host_leftovers(&self.spec);
        }
    }

    /// An instance of `memory_mb` and `max_connections` under `dir`, listening on
    /// 127.0.0.1:`port`: for tests of the configuration an engine renders for a class.
    pub fn class_spec(id: &str, dir: &str, port: u16, memory_mb: u64, max_connections: u32) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            dir: dir.into(),
            listen_host: "127.0.0.1".into(),
            port,
            settings: ServerSettings { memory_mb, cpu: 2, max_connections },
        }
    }

    /// The value of `name = value` in a rendered configuration file.
    pub fn conf_value(conf: &str, name: &str) -> String {
        conf.lines().find_map(|l| l.strip_prefix(&format!("{name} = "))).unwrap_or_else(|| panic!("{name} missing")).to_string()
    }

    /// A port nobody listens on right now.
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
    }

    /// A temporary parent the engine user can pass through (tempdirs are 0700).
    pub struct TestDir {
        tmp: tempfile::TempDir,
    }

    impl TestDir {
        #[allow(clippy::new_without_default)]
        pub fn new() -> TestDir {
            let tmp = tempfile::tempdir().expect("temp dir");
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod temp dir");
            TestDir { tmp }
        }

        /// An instance `id` under this directory, listening on `port`, of a small class.
        pub fn spec(&self, id: &str, port: u16) -> InstanceSpec {
            InstanceSpec {
                id: id.into(),
                dir: self.tmp.path().join(id),
                listen_host: "127.0.0.1".into(),
                port,
                settings: ServerSettings { memory_mb: 512, cpu: 1, max_connections: 40 },
            }
        }

        pub fn path(&self) -> &Path {
            self.tmp.path()
        }
    }

    /// Whether a process (not a zombie) with this pid exists.
    pub fn process_alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()).unwrap_or("?");
                state != "Z" && state != "X"
            }
            Err(_) => false,
        }
    }

    /// Processes whose working directory is `data` (a server and its backends).
    pub fn processes_in(data: &Path) -> Vec<i32> {
        let Ok(data) = data.canonicalize() else { return Vec::new() };
        std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                    .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data))
                    .filter(|pid| process_alive(*pid))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What DeleteDBInstance removes besides the files: the instance's system user, group
    /// and control groups (already gone when the test destroyed the instance).
    pub fn remove_host_leftovers(spec: &InstanceSpec) {
        let user = crate::isolation::system_user_name(&spec.id);
        let _ = std::process::Command::new("userdel").arg(&user).stderr(std::process::Stdio::null()).status();
        let _ = std::process::Command::new("groupdel").arg(&user).stderr(std::process::Stdio::null()).status();
        for controller in ["memory", "cpu"] {
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(controller).join("openrds").join(&spec.id));
        }
    }
}

/// Makes the engine under test (a fresh adapter each call, as after a restart).
pub type Factory = fn() -> Arc<dyn Engine>;

/// Expands to one `#[tokio::test]` per check of the contract, for the engine `factory`
/// makes (a `fn() -> Arc<dyn Engine>`).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            a_server_is_provisioned_stopped_started_restarted_and_destroyed,
            a_running_server_is_adopted_by_a_new_adapter,
            databases_are_created_listed_and_dropped,
            accounts_are_created_granted_revoked_and_dropped,
            the_administrator_reaches_the_server,
            a_backup_restores_what_it_held_and_a_corrupt_one_is_refused,
            a_restore_to_a_moment_holds_what_was_committed_by_then,
            parameters_run_as_set_and_survive_a_restart,
        );
    };
    // Engines that run server processes: also what a crash of them must look like.
    ($factory:expr, with_processes) => {
        $crate::conformance_suite!($factory);
        $crate::conformance_suite!(@tests $factory; a_killed_server_is_stopped_and_starts_again, a_frozen_server_is_unresponsive,
            a_failed_provision_leaves_nothing);
    };
    (@tests $factory:expr; $($check:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            $crate::conformance::$check($factory).await;
        }
    )+};
}

/// A temporary directory the instance's own system user can pass through, the spec of an
/// instance in it, and a provisioned server that is destroyed whatever the check did.
async fn with_instance<F, Fut>(factory: Factory, name: &str, check: F)
where
    F: FnOnce(Arc<dyn Engine>, InstanceSpec) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tmp = support::TestDir::new();
    let id = format!("cf-{name}-{}", std::process::id() % 100_000);
    let spec = tmp.spec(&id, support::free_port());
    let engine = factory();
    engine.provision(&spec).await.unwrap_or_else(|e| panic!("provision {id}: {e}"));
    engine.set_allowed_addresses(&spec, &["127.0.0.1/32".to_string()]).await.unwrap_or_else(|e| panic!("allow {id}: {e}"));
    let outcome = tokio::spawn(check(engine.clone(), spec.clone())).await;
    let destroyed = engine.destroy(&spec).await;
    let _ = crate::isolation::release(&spec).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    destroyed.unwrap_or_else(|e| panic!("destroy {id}: {e}"));
}

pub async fn a_server_is_provisioned_stopped_started_restarted_and_destroyed(factory: Factory) {
    with_instance(factory, "life", |engine, spec| async move {
        assert_eq!(engine.liveness(&spec).await, Liveness::Running, "running once provisioned");
        assert!(engine.server_running(&spec));
        // What the data takes, as the engine measures it (nothing yet may be 0).
        engine.disk_used(&spec).await.expect("disk used");
        engine.stop(&spec).await.expect("stop");
        assert_eq!(engine.liveness(&spec).await, Liveness::Stopped);
        assert!(!engine.server_running(&spec));
        engine.stop(&spec).await.expect("a second stop is harmless");
        engine.start(&spec).await.expect("start");
        engine.start(&spec).await.expect("starting a running server leaves it alone");
        assert_eq!(engine.liveness(&spec).await, Liveness::Running);
        engine.restart(&spec).await.expect("restart");
        assert_eq!(engine.liveness(&spec).await, Liveness::Running);
        engine.destroy(&spec).await.expect("destroy");
        assert!(!spec.dir.exists(), "destroy removes the instance's directory");
        assert!(!engine.server_running(&spec));
        engine.destroy(&spec).await.expect("a second destroy is harmless");
    })
    .await;
}

/// A crash (every process of the server killed outright) shows as `Stopped`, and `start`
/// brings the server back.
pub async fn a_killed_server_is_stopped_and_starts_again(factory: Factory) {
    with_instance(factory, "kill", |engine, spec| async move {
        for pid in support::processes_in(&crate::lifecycle::data_dir(&spec)) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while engine.liveness(&spec).await != Liveness::Stopped {
            assert!(std::time::Instant::now() < deadline, "a killed server is Stopped");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(!engine.server_running(&spec));
        engine.start(&spec).await.expect("start after a crash");
        assert_eq!(engine.liveness(&spec).await, Liveness::Running);
    })
    .await;
}

/// A server that cannot start (its port is taken) fails `Unavailable` and leaves nothing;
/// a directory in use is neither overwritten nor removed; calls on an instance that is not
/// there say so.
pub async fn a_failed_provision_leaves_nothing(factory: Factory) {
    let engine = factory();
    let dir = support::TestDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
    let spec = dir.spec("cf-taken", taken.local_addr().expect("its address").port());
    let err = engine.provision(&spec).await.expect_err("the port is taken");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(!spec.dir.exists(), "the failed instance's directory is removed");
    assert!(support::processes_in(&crate::lifecycle::data_dir(&spec)).is_empty());
    assert!(std::fs::read_dir(dir.path()).expect("the test directory").next().is_none(), "nothing left beside it");
    drop(taken);

    let spec = dir.spec("cf-busy", support::free_port());
    std::fs::create_dir_all(&spec.dir).expect("a directory in use");
    std::fs::write(spec.dir.join("precious"), "x").expect("someone's file");
    assert_eq!(engine.provision(&spec).await.expect_err("the directory is in use").kind, ErrorKind::AlreadyExists);
    assert!(spec.dir.join("precious").exists(), "someone else's files stay");

    let spec = dir.spec("cf-absent", support::free_port());
    assert_eq!(engine.liveness(&spec).await, Liveness::Stopped);
    assert_eq!(engine.start(&spec).await.expect_err("nothing to start").kind, ErrorKind::NotFound);
    engine.stop(&spec).await.expect("stopping what is not there is harmless");
    engine.destroy(&spec).await.expect("destroying what is not there is harmless");
    assert_eq!(engine.admin(&spec).expect_err("no administrator").kind, ErrorKind::NotFound);
}

/// A server whose processes are stopped by SIGSTOP (frozen, still there) is
/// `Unresponsive`; once SIGCONT lets them go on, `Running` again.
pub async fn a_frozen_server_is_unresponsive(factory: Factory) {
    with_instance(factory, "frozen", |engine, spec| async move {
        use nix::sys::signal::{kill, Signal};
        let processes: Vec<_> = support::processes_in(&crate::lifecycle::data_dir(&spec)).into_iter().map(nix::unistd::Pid::from_raw).collect();
        assert!(!processes.is_empty(), "the server's processes");
        // A process may end meanwhile (a backend on its way out, reaped once its parent
        // runs again): that is no failure of the check.
        let signal_all = |signal: Signal| {
            for &pid in &processes {
                match kill(pid, signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => panic!("{signal} to {pid}: {e}"),
                }
            }
        };
        signal_all(Signal::SIGSTOP);
        assert_eq!(engine.liveness(&spec).await, Liveness::Unresponsive, "a frozen server");
        assert!(engine.server_running(&spec), "a frozen server's process is still there");
        signal_all(Signal::SIGCONT);
        assert_eq!(engine.liveness(&spec).await, Liveness::Running, "the server going on");
    })
    .await;
}

pub async fn a_running_server_is_adopted_by_a_new_adapter(factory: Factory) {
    with_instance(factory, "adopt", move |_, spec| async move {
        // As after openrds restarts: a new adapter finds the server by its files alone.
        let again = factory();
        assert_eq!(again.liveness(&spec).await, Liveness::Running);
        assert!(again.server_running(&spec));
        again.list_databases(&spec).await.expect("the new adapter manages the server");
    })
    .await;
}

/// The engine's default character set, as its catalogue parses it.
fn default_charset(engine: &dyn Engine) -> crate::CharsetSpec {
    let catalogue = engine.catalogue();
    (catalogue.parse_charset)(catalogue.default_charset).expect("the catalogue's default charset parses")
}

pub async fn databases_are_created_listed_and_dropped(factory: Factory) {
    with_instance(factory, "dbs", |engine, spec| async move {
        let charset = default_charset(&*engine);
        engine.create_database(&spec, "shop", &charset).await.expect("create");
        let listed = engine.list_databases(&spec).await.expect("list");
        let names: Vec<&str> = listed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["shop"], "only user databases are listed");
        assert!(listed[0].charset.eq_ignore_ascii_case(&charset.charset), "{:?}", listed[0]);
        assert_eq!(engine.user_object_count(&spec, "shop").await.expect("count"), 0, "a new database is empty");
        let again = engine.create_database(&spec, "shop", &charset).await.expect_err("a second create");
        assert_eq!(again.kind, ErrorKind::AlreadyExists, "{again}");
        engine.drop_database(&spec, "shop").await.expect("drop");
        assert!(!engine.list_databases(&spec).await.expect("list").iter().any(|d| d.name == "shop"));
        let gone = engine.drop_database(&spec, "shop").await.expect_err("a second drop");
        assert_eq!(gone.kind, ErrorKind::NotFound, "{gone}");
    })
    .await;
}

pub async fn accounts_are_created_granted_revoked_and_dropped(factory: Factory) {
    with_instance(factory, "accts", |engine, spec| async move {
        let charset = default_charset(&*engine);
        engine.create_database(&spec, "shop", &charset).await.expect("create database");
        engine.create_account(&spec, "app", "Str0ng_pass", AccountKind::Normal).await.expect("create account");
        let again = engine.create_account(&spec, "app", "Str0ng_pass", AccountKind::Normal).await.expect_err("a second create");
        assert_eq!(again.kind, ErrorKind::AlreadyExists, "{again}");
        engine.create_account(&spec, "boss", "Str0ng_pass", AccountKind::Super).await.expect("create a Super account");
        let accounts = engine.list_accounts(&spec).await.expect("list");
        let find = |name: &str| accounts.iter().find(|a| a.name == name).cloned();
        let app = find("app").expect("app listed");
        assert!(app.can_login && app.kind == AccountKind::Normal && app.privileges.is_empty(), "{app:?}");
        assert_eq!(find("boss").map(|a| a.kind), Some(AccountKind::Super));
        assert!(accounts.iter().all(|a| a.name == "app" || a.name == "boss"), "no internal account is listed: {accounts:?}");

        engine.grant(&spec, "app", "shop", Privilege::ReadOnly).await.expect("grant");
        let app = engine.list_accounts(&spec).await.expect("list").into_iter().find(|a| a.name == "app").expect("app");
        assert_eq!(app.privileges, vec![("shop".to_string(), Privilege::ReadOnly)]);
        engine.grant(&spec, "app", "shop", Privilege::ReadWrite).await.expect("a grant replaces what was held");
        let app = engine.list_accounts(&spec).await.expect("list").into_iter().find(|a| a.name == "app").expect("app");
        assert_eq!(app.privileges, vec![("shop".to_string(), Privilege::ReadWrite)]);
        engine.revoke(&spec, "app", "shop").await.expect("revoke");
        let app = engine.list_accounts(&spec).await.expect("list").into_iter().find(|a| a.name == "app").expect("app");
        assert!(app.privileges.is_empty(), "{app:?}");

        engine.reset_password(&spec, "app", "An0ther_pass").await.expect("reset");
        let missing = engine.reset_password(&spec, "nobody", "An0ther_pass").await.expect_err("reset of no account");
        assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
        engine.drop_account(&spec, "app").await.expect("drop");
        assert!(!engine.list_accounts(&spec).await.expect("list").iter().any(|a| a.name == "app"));
    })
    .await;
}

pub async fn the_administrator_reaches_the_server(factory: Factory) {
    with_instance(factory, "admin", |engine, spec| async move {
        let admin = engine.admin(&spec).expect("admin connection");
        assert_eq!(admin.port, spec.port);
        assert!(!admin.user.is_empty() && !admin.password.is_empty() && !admin.maintenance_db.is_empty());
        // The copier reaches the server the way the control plane hands it over.
        let endpoint = mover::Endpoint { host: admin.host, port: admin.port, user: admin.user, password: admin.password };
        engine.copier().discard(&endpoint, "conformance").await.expect("discarding nothing is harmless");
    })
    .await;
}

/// A backup holds what was there when it was taken and nothing written after; a new server
/// made from it has it, with its accounts and their privileges; a backup with one changed
/// byte is `Corrupt`.
/// A fresh server runs every curated parameter at its stated default; a value set takes
/// effect at once, one that needs a restart after it; both survive further restarts.
pub async fn parameters_run_as_set_and_survive_a_restart(factory: Factory) {
    with_instance(factory, "params", |engine, spec| async move {
        let Some(parameters) = engine.parameters() else { return };
        let definitions = parameters.definitions();
        let running = parameters.running(&spec).await.expect("running parameters");
        for d in definitions {
            assert_eq!(running.get(d.name).map(String::as_str), Some(d.default), "{} runs at its stated default", d.name);
        }
        // One of each kind: a value other than the default, at the edge of the range.
        let pick = |restart: bool| -> Option<(&'static str, String)> {
            let d = definitions.iter().find(|d| d.restart == restart)?;
            let value = match d.kind {
                crate::parameters::ParameterKind::Integer { min, max } => if d.default == min.to_string() { max.min(min + 1000) } else { min }.to_string(),
                crate::parameters::ParameterKind::Choice(words) => words.iter().find(|w| **w != d.default)?.to_string(),
            };
            Some((d.name, value))
        };
        let (now, later) = (pick(false).expect("a parameter that applies at once"), pick(true));
        let mut values: std::collections::BTreeMap<String, String> = [(now.0.to_string(), now.1.clone())].into();
        if let Some((name, value)) = &later {
            values.insert(name.to_string(), value.clone());
        }
        parameters.configure(&spec, &values).await.expect("configure");
        assert_eq!(parameters.configured(&spec).expect("configured"), values);
        let running = parameters.running(&spec).await.expect("running parameters");
        assert_eq!(running.get(now.0), Some(&now.1), "{} applies at once", now.0);
        if let Some((name, _)) = &later {
            let d = crate::parameters::find(definitions, name).expect("defined");
            assert_eq!(running.get(*name).map(String::as_str), Some(d.default), "{name} waits for a restart");
        }
        engine.restart(&spec).await.expect("restart");
        let running = parameters.running(&spec).await.expect("running parameters");
        for (name, value) in &values {
            assert_eq!(running.get(name), Some(value), "{name} after a restart");
        }
    })
    .await;
}

pub async fn a_backup_restores_what_it_held_and_a_corrupt_one_is_refused(factory: Factory) {
    with_instance(factory, "backup", |engine, spec| async move {
        let charset = default_charset(&*engine);
        engine.create_database(&spec, "before", &charset).await.expect("create database");
        engine.create_account(&spec, "keeper", "Str0ng_pass", AccountKind::Normal).await.expect("create account");
        engine.grant(&spec, "keeper", "before", Privilege::ReadWrite).await.expect("grant");
        let backups = support::TestDir::new();
        let target = backups.path().join("b1");
        let set = engine.take_backup(&spec, &target).await.expect("take a backup");
        engine.create_database(&spec, "after", &charset).await.expect("create database");
        assert!(set.size_bytes > 0 && set.size_bytes == crate::backup::size_of(&target), "{set:?}");
        assert_eq!(crate::backup::checksum(&target).expect("checksum"), set.checksum);
        let again = engine.take_backup(&spec, &target).await.expect_err("a backup never overwrites another");
        assert_eq!(again.kind, ErrorKind::AlreadyExists, "{again}");
        engine.verify_backup(&target).await.expect("a fresh backup verifies");

        let restored = backups.spec(&format!("{}-r", spec.id), support::free_port());
        engine.provision_from_backup(&restored, &target, None).await.expect("provision from the backup");
        let outcome = {
            let (engine, restored, spec, charset) = (engine.clone(), restored.clone(), spec.clone(), charset.clone());
            tokio::spawn(async move {
                assert_eq!(engine.liveness(&restored).await, Liveness::Running);
                let names: Vec<String> = engine.list_databases(&restored).await.expect("list").into_iter().map(|d| d.name).collect();
                assert_eq!(names, ["before"], "what the backup held, and nothing written after it");
                let accounts = engine.list_accounts(&restored).await.expect("accounts");
                let keeper = accounts.into_iter().find(|a| a.name == "keeper").expect("the account");
                assert_eq!(keeper.privileges, vec![("before".to_string(), Privilege::ReadWrite)]);
                engine.create_database(&restored, "new", &charset).await.expect("the restored server takes writes");
                assert!(!engine.list_databases(&spec).await.expect("list").iter().any(|d| d.name == "new"), "the source is untouched");
            })
            .await
        };
        engine.destroy(&restored).await.expect("destroy the restored server");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }

        // One byte of the largest file flipped, as a failing disk would.
        let largest = largest_file(&crate::backup::data_of(&target));
        let mut bytes = std::fs::read(&largest).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&largest, &bytes).expect("corrupt");
        let e = engine.verify_backup(&target).await.expect_err("a corrupt backup");
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    })
    .await;
}

/// A restore to a moment, from a backup before it and the log archived since, holds every
/// transaction committed by that moment and none after; the archive holds whole files only.
/// An engine that archives no log refuses such a restore.
pub async fn a_restore_to_a_moment_holds_what_was_committed_by_then(factory: Factory) {
    with_instance(factory, "pitr", |engine, spec| async move {
        let charset = default_charset(&*engine);
        let backups = support::TestDir::new();
        let (set, logs) = (backups.path().join("b1"), backups.path().join("log"));
        let restored = backups.spec(&format!("{}-r", spec.id), support::free_port());
        engine.create_database(&spec, "before", &charset).await.expect("create database");
        engine.take_backup(&spec, &set).await.expect("take a backup");
        if !engine.archives_logs() {
            let target = crate::RestoreTarget { until_unix: Some(crate::backup::now_unix() as i64), logs };
            let e = engine.provision_from_backup(&restored, &set, Some(&target)).await.expect_err("no log to replay");
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
            return;
        }
        engine.create_database(&spec, "early", &charset).await.expect("create database");
        // The periodic sweep, while the server goes on writing.
        engine.archive_logs(&spec, &logs).await.expect("archive the log");
        // The next whole second, after "early" committed; "late" commits more than a second
        // after it (a log stamped in whole seconds tells only which second an event is in).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
        let until = now.as_secs() as i64 + 1;
        tokio::time::sleep(std::time::Duration::from_millis(2200) - std::time::Duration::from_nanos(now.subsec_nanos().into())).await;
        engine.create_database(&spec, "late", &charset).await.expect("create database");
        engine.close_log(&spec).await.expect("close the log");
        engine.archive_logs(&spec, &logs).await.expect("archive the log");
        let archived: Vec<String> = std::fs::read_dir(&logs).expect("the log area").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(!archived.is_empty() && archived.iter().all(|n| !n.ends_with(".part")), "{archived:?}");

        let target = crate::RestoreTarget { until_unix: Some(until), logs: logs.clone() };
        engine.provision_from_backup(&restored, &set, Some(&target)).await.expect("restore to the moment");
        let outcome = {
            let (engine, restored, charset) = (engine.clone(), restored.clone(), charset.clone());
            tokio::spawn(async move {
                let mut names: Vec<String> = engine.list_databases(&restored).await.expect("list").into_iter().map(|d| d.name).collect();
                names.sort();
                assert_eq!(names, ["before", "early"], "what was committed by the moment, nothing after");
                engine.create_database(&restored, "new", &charset).await.expect("the restored server takes writes");
            })
            .await
        };
        engine.destroy(&restored).await.expect("destroy the restored server");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
        assert_eq!(std::fs::read_dir(&logs).expect("the log area").count(), archived.len(), "a restore only reads the archive");
    })
    .await;
}

fn largest_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let meta = entry.metadata().expect("stat");
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() && best.as_ref().is_none_or(|(size, _)| meta.len() > *size) {
                best = Some((meta.len(), entry.path()));
            }
        }
    }
    best.expect("a file").1
}
