//! Keeping instances apart on one host. When openrds runs as root, each instance's engine
//! runs:
//!
//! - as a system user and group of its own (`openrds-<instance id>`), which owns the
//!   instance's data and logs (0700/0600), so one instance's processes cannot open another
//!   instance's files, nor openrds's (root-only);
//! - in a mount namespace of its own, where openrds's directory of instances is an empty
//!   tmpfs except for the instance's own directory, and `/tmp`, `/var/tmp`, `/dev/shm` and
//!   `/run/lock` are private: whatever a tenant runs through the engine (a server-side
//!   `COPY ... PROGRAM`, `SELECT ... INTO OUTFILE`, a log file setting) neither sees
//!   the other instances nor leaves files where the host or another instance would read
//!   them. The process keeps no capability and cannot gain one (`no_new_privs`: setuid
//!   programs do not elevate);
//! - in a control group per instance with the CPU quota and memory limit of its class, so
//!   one busy or runaway instance cannot starve the others.
//!
//! The namespace is made by `unshare` and a short shell script run as root, which joins the
//! control groups, mounts, and then `exec`s `setpriv` to drop to the instance's user: the
//! engine's pid is the one openrds spawned, and no `unsafe` `pre_exec` hook is needed.

use crate::process::RunAs;
use crate::{EngineError, ErrorKind, InstanceSpec, ServerSettings};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How one instance's processes are confined: who they run as, which control groups they
/// join, and which directory they may see.
#[derive(Debug, Clone)]
pub struct Confinement {
    pub user: RunAs,
    /// Control group directories (one per v1 controller, or one v2 group).
    cgroups: Vec<PathBuf>,
    /// The instance's directory: the one part of `hidden` that stays visible.
    keep: PathBuf,
    /// The directory holding every instance's directory; an empty tmpfs in the namespace.
    hidden: Option<PathBuf>,
}

/// The system user of an instance: `openrds-` and the instance id, within the 32
/// characters `useradd` allows; ids that do not fit, or have characters a user name may not
/// hold, are shortened with a hash so two instances never share a user.
pub fn system_user_name(instance_id: &str) -> String {
    let clean: String = instance_id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let name = format!("openrds-{clean}");
    if name.len() <= 32 && clean == instance_id {
        return name;
    }
    let hash = instance_id.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("openrds-{}-{:08x}", &clean[..clean.len().min(14)], hash as u32)
}

/// `useradd`/`userdel` lock /etc/passwd; concurrent calls in this process wait for each
/// other instead of failing, and calls of other processes are retried.
static USER_TOOLS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn lookup(name: &str) -> Result<Option<RunAs>, EngineError> {
    nix::unistd::User::from_name(name)
        .map(|u| u.map(|u| RunAs { uid: u.uid.as_raw(), gid: u.gid.as_raw() }))
        .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("cannot look up the system user {name}: {e}")))
}

/// Runs a shadow-utils tool, retrying while another process holds the password files.
async fn user_tool(program: &str, args: &[&str], ok_codes: &[i32]) -> Result<(), EngineError> {
    let _serial = USER_TOOLS.lock().await;
    let mut last = String::new();
    for _ in 0..100 {
        let out = tokio::process::Command::new(program)
            .args(args)
            .output()
            .await
            .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("cannot run {program}: {e}")))?;
        let code = out.status.code().unwrap_or(-1);
        if out.status.success() || ok_codes.contains(&code) {
            return Ok(());
        }
        last = format!("{program} {} failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
        // 1 and 10: the password or group file is locked by someone else. 8 (userdel): a
        // process of the user is still there, one just killed and not yet gone (a loaded
        // host takes a while to reap a server it killed).
        let transient = code == 1 || code == 10 || (program == "userdel" && code == 8);
        if !transient {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(EngineError::new(ErrorKind::HostSetup, last))
}

/// The instance's system user, made if missing (idempotent). Its home is the instance's
/// directory (not made by useradd), which is how [`sweep_orphaned_users`] tells a user
/// whose instance is gone.
pub async fn ensure_user(instance_id: &str, instance_dir: &Path) -> Result<RunAs, EngineError> {
    let name = system_user_name(instance_id);
    if let Some(user) = lookup(&name)? {
        return Ok(user);
    }
    let comment = format!("{USER_COMMENT} {instance_id}");
    let home = instance_dir.to_string_lossy();
    user_tool(
        "useradd",
        &["--system", "--user-group", "--no-create-home", "--home-dir", &home, "--shell", "/usr/sbin/nologin", "--comment", &comment, &name],
        // 9: made meanwhile by another call.
        &[9],
    )
    .await?;
    lookup(&name)?.ok_or_else(|| EngineError::new(ErrorKind::HostSetup, format!("useradd made no user {name}")))
}

/// What the GECOS field of an instance's user starts with.
const USER_COMMENT: &str = "openrds instance";

/// Removes the users of instances whose directory is gone and that run no process, and
/// then their control groups: left
/// by an instance whose files were removed without DeleteDBInstance (a test's temporary
/// directory, a host cleaned by hand), they would otherwise pile up in the system uid
/// range and hand a later instance a uid with a past.
pub async fn sweep_orphaned_users() {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else { return };
    let busy = process_uids();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, uid, _, comment, home, ..] = fields[..] else { continue };
        let Ok(uid) = uid.parse::<u32>() else { continue };
        if !name.starts_with("openrds-") || !comment.starts_with(USER_COMMENT) || Path::new(home).exists() || busy.contains(&uid) {
            continue;
        }
        tracing::info!(user = name, "removing the system user of an instance whose directory is gone");
        if let Err(e) = user_tool("userdel", &[name], &[6]).await {
            tracing::warn!(user = name, error = %e, "cannot remove an orphaned instance user");
        }
        if nix::unistd::Group::from_name(name).ok().flatten().is_some() {
            let _ = user_tool("groupdel", &[name], &[6]).await;
        }
    }
    sweep_orphaned_cgroups();
}

/// Removes the control groups of instances that have no user any more and hold no
/// process (see [`sweep_orphaned_users`]).
pub fn sweep_orphaned_cgroups() {
    let root = Path::new(CGROUP_ROOT);
    for parent in [root.join("memory"), root.join("cpu"), root.to_path_buf()].map(|d| d.join(CGROUP_PARENT)) {
        let Ok(entries) = std::fs::read_dir(&parent) else { continue };
        for entry in entries.flatten() {
            let group = entry.path();
            let Some(id) = entry.file_name().to_str().map(str::to_string) else { continue };
            if !group.is_dir() || lookup(&system_user_name(&id)).ok().flatten().is_some() {
                continue;
            }
            if std::fs::read_to_string(group.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty()) {
                let _ = std::fs::remove_dir(&group);
            }
        }
    }
}

/// The real uids of every live process (zombies, which nothing may reap promptly in a
/// container, hold nothing).
fn process_uids() -> std::collections::HashSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Default::default() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| crate::process::pid_alive(pid))
        .filter_map(process_uid)
        .collect()
}

/// Removes the instance's system user and group (idempotent). Called once its files and
/// processes are gone, so a later user with the same uid inherits nothing.
pub async fn remove_user(instance_id: &str) -> Result<(), EngineError> {
    let name = system_user_name(instance_id);
    if lookup(&name)?.is_some() {
        // 6: no such user (removed meanwhile).
        user_tool("userdel", &[&name], &[6]).await?;
    }
    if nix::unistd::Group::from_name(&name).ok().flatten().is_some() {
        user_tool("groupdel", &[&name], &[6]).await?;
    }
    Ok(())
}

/// The controllers openrds limits, and where they are mounted.
enum Hierarchy {
    /// cgroup v1: one directory per controller.
    V1 { memory: PathBuf, cpu: PathBuf },
    /// cgroup v2: one unified tree.
    V2(PathBuf),
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The group under which every instance's group sits. At the top of each hierarchy, not
/// under openrds's own group: engines outlive openrds, and a service manager that stops
/// openrds by its group must not take the instances with it.
const CGROUP_PARENT: &str = "openrds";
/// CPU quota period (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

fn hierarchy() -> Option<Hierarchy> {
    let root = Path::new(CGROUP_ROOT);
    let (memory, cpu) = (root.join("memory"), root.join("cpu"));
    if memory.join("cgroup.procs").is_file() && cpu.join("cgroup.procs").is_file() {
        return Some(Hierarchy::V1 { memory, cpu });
    }
    let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).ok()?;
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    (has("memory") && has("cpu")).then(|| Hierarchy::V2(root.to_path_buf()))
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

fn cgroup_error(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::new(ErrorKind::HostSetup, format!("configure the control group {}: {e}", path.display()))
}

fn make_group(dir: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(|e| cgroup_error(dir, e))
}

/// The instance's control groups, made if missing, with the class's limits (re-applied at
/// every start, so a new class takes effect). `None` where the host offers no writable
/// memory and cpu controllers.
fn ensure_cgroups(instance_id: &str, settings: &ServerSettings) -> Result<Vec<PathBuf>, EngineError> {
    let memory_bytes = settings.memory_mb.max(64) * 1024 * 1024;
    let quota_us = u64::from(settings.cpu.max(1)) * CPU_PERIOD_US;
    match hierarchy() {
        None => {
            tracing::warn!(instance = %instance_id, "no cgroup memory and cpu controllers on this host: the instance's resources are not limited");
            Ok(Vec::new())
        }
        Some(Hierarchy::V1 { memory, cpu }) => {
            let mem = memory.join(CGROUP_PARENT).join(instance_id);
            make_group(&mem)?;
            set_v1_memory(&mem, memory_bytes)?;
            let cpu = cpu.join(CGROUP_PARENT).join(instance_id);
            make_group(&cpu)?;
            write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string()).map_err(|e| cgroup_error(&cpu, e))?;
            write(&cpu.join("cpu.cfs_quota_us"), &quota_us.to_string()).map_err(|e| cgroup_error(&cpu, e))?;
            Ok(vec![mem, cpu])
        }
        Some(Hierarchy::V2(root)) => {
            let parent = root.join(CGROUP_PARENT);
            make_group(&parent)?;
            for dir in [&root, &parent] {
                write(&dir.join("cgroup.subtree_control"), "+memory +cpu").map_err(|e| cgroup_error(dir, e))?;
            }
            let group = parent.join(instance_id);
            make_group(&group)?;
            write(&group.join("memory.max"), &memory_bytes.to_string()).map_err(|e| cgroup_error(&group, e))?;
            // Without swap accounting a limited group would swap instead of being held.
            let _ = write(&group.join("memory.swap.max"), "0");
            write(&group.join("cpu.max"), &format!("{quota_us} {CPU_PERIOD_US}")).map_err(|e| cgroup_error(&group, e))?;
            Ok(vec![group])
        }
    }
}

/// v1 memory limit, and the same limit on memory plus swap where swap is accounted, so the
/// group cannot swap its way past its class. memsw may never be below the memory limit,
/// so the order of the two writes depends on whether the limit grows or shrinks.
fn set_v1_memory(dir: &Path, bytes: u64) -> Result<(), EngineError> {
    let limit = dir.join("memory.limit_in_bytes");
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let value = bytes.to_string();
    if !memsw.exists() {
        return write(&limit, &value).map_err(|e| cgroup_error(dir, e));
    }
    if write(&limit, &value).is_ok() {
        let _ = write(&memsw, &value);
        return Ok(());
    }
    write(&memsw, &value).and_then(|()| write(&limit, &value)).map_err(|e| cgroup_error(dir, e))
}

/// Removes the instance's control groups; they must hold no process any more.
fn remove_cgroups(instance_id: &str) {
    let root = Path::new(CGROUP_ROOT);
    for dir in [root.join("memory"), root.join("cpu"), root.to_path_buf()] {
        let group = dir.join(CGROUP_PARENT).join(instance_id);
        if group.is_dir() {
            if let Err(e) = std::fs::remove_dir(&group) {
                tracing::warn!(instance = %instance_id, group = %group.display(), error = %e, "cannot remove the control group");
            }
        }
    }
}

/// The control group directory of `instance_id` for the memory controller, if any: where
/// its usage and limit can be read.
pub fn memory_cgroup(instance_id: &str) -> Option<PathBuf> {
    match hierarchy()? {
        Hierarchy::V1 { memory, .. } => Some(memory.join(CGROUP_PARENT).join(instance_id)),
        Hierarchy::V2(root) => Some(root.join(CGROUP_PARENT).join(instance_id)),
    }
}

/// CPU time and memory of one instance's processes, read from the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUse {
    /// Microseconds of CPU, cumulative.
    pub cpu_usec: u64,
    /// Bytes held now.
    pub memory_bytes: u64,
}

/// What the processes of `instance_id` use: from its control group where they run in
/// one (CPU time from cgroup v2's `cpu.stat`, memory as the group's working set, that is
/// its usage less the page cache it could drop), else from `/proc`: the CPU time of the
/// server `server_pid` and its children (with the time of the children it reaped, so
/// the sum does not drop when a session ends) and their resident memory.
pub fn resource_use(instance_id: &str, server_pid: Option<i32>) -> ResourceUse {
    let (mut cpu, mut memory, mut pids) = (None, None, Vec::new());
    match hierarchy() {
        Some(Hierarchy::V2(root)) => {
            let group = root.join(CGROUP_PARENT).join(instance_id);
            pids = read_pids(&group.join("cgroup.procs"));
            if !pids.is_empty() {
                cpu = stat_value(&group.join("cpu.stat"), "usage_usec");
                let inactive = stat_value(&group.join("memory.stat"), "inactive_file").unwrap_or(0);
                memory = read_u64(&group.join("memory.current")).map(|m| m.saturating_sub(inactive));
            }
        }
        Some(Hierarchy::V1 { memory: mem, .. }) => {
            let group = mem.join(CGROUP_PARENT).join(instance_id);
            pids = read_pids(&group.join("cgroup.procs"));
            if !pids.is_empty() {
                let inactive = stat_value(&group.join("memory.stat"), "total_inactive_file").unwrap_or(0);
                memory = read_u64(&group.join("memory.usage_in_bytes")).map(|m| m.saturating_sub(inactive));
            }
        }
        None => {}
    }
    if pids.is_empty() {
        pids = server_pid.map(process_tree).unwrap_or_default();
    }
    ResourceUse {
        cpu_usec: cpu.unwrap_or_else(|| pids.iter().filter_map(|p| process_cpu_usec(*p)).sum()),
        memory_bytes: memory.unwrap_or_else(|| pids.iter().filter_map(|p| process_rss(*p)).sum()),
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path).map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect()).unwrap_or_default()
}

/// The value of `key` in a `key value` per line file (`cpu.stat`, `memory.stat`).
fn stat_value(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces):
/// the first is the state (field 3 of proc(5)).
fn proc_stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// User and system time of the process and of the children it reaped, microseconds
/// (`/proc` counts in ticks of 1/100 s, USER_HZ, on every Linux ABI).
fn process_cpu_usec(pid: i32) -> Option<u64> {
    let f = proc_stat_fields(pid)?;
    let ticks: u64 = (11..=14).filter_map(|i| f.get(i)?.parse::<u64>().ok()).sum();
    Some(ticks * 10_000)
}

fn process_rss(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// `root` and every process descending from it.
fn process_tree(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![root] };
    let parents: Vec<(i32, i32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, proc_stat_fields(pid)?.get(1)?.parse().ok()?)))
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    tree
}

/// The confinement of the instance `spec` names: its user (made if missing), its control
/// groups (limits applied), and the directory it may see.
pub async fn confine(spec: &InstanceSpec) -> Result<Confinement, EngineError> {
    let user = ensure_user(&spec.id, &spec.dir).await?;
    let cgroups = ensure_cgroups(&spec.id, &spec.settings)?;
    Ok(Confinement { user, cgroups, keep: spec.dir.clone(), hidden: spec.dir.parent().map(Path::to_path_buf) })
}

/// Undoes [`confine`] once the instance's processes and files are gone.
pub async fn release(spec: &InstanceSpec) -> Result<(), EngineError> {
    remove_cgroups(&spec.id);
    remove_user(&spec.id).await
}

/// Joins the control groups, hides every instance directory but the own one and the
/// host's shared temporary directories, then becomes the instance's user for good.
/// Arguments: uid gid keep hidden cgroup... -- program args...
const LAUNCH_SCRIPT: &str = r#"set -e
uid=$1 gid=$2 keep=$3 hidden=$4
shift 4
while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
exec 3<"$keep"
for d in /tmp /var/tmp /dev/shm /run/lock; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=1777,nosuid,nodev openrds-private "$d"; fi
done
if [ -n "$hidden" ]; then
    mkdir -p "$hidden"
    mount -t tmpfs -o mode=0711,nosuid,nodev openrds-hidden "$hidden"
    mkdir -p "$keep"
    mount --no-canonicalize --bind /proc/self/fd/3 "$keep"
fi
exec 3<&-
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs -- "$@"
"#;

impl Confinement {
    /// A command that runs `program` confined. The caller adds stdio, environment and the
    /// working directory (relative to the confined view, which shows the own directory at
    /// its usual path).
    pub fn command(&self, program: &Path, args: Vec<OsString>) -> std::process::Command {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", LAUNCH_SCRIPT, "openrds-launch"]);
        cmd.arg(self.user.uid.to_string()).arg(self.user.gid.to_string()).arg(&self.keep);
        cmd.arg(self.hidden.as_deref().unwrap_or(Path::new("")));
        cmd.args(&self.cgroups).arg("--").arg(program).args(args);
        cmd
    }

    pub fn owner(&self) -> RunAs {
        self.user
    }
}

/// Gives every file under `path` (itself included, symlinks not followed) to `user`. Used
/// when an instance made by an earlier version, whose files belonged to the shared engine
/// user, moves to a user of its own.
pub fn chown_tree(path: &Path, user: RunAs) -> Result<(), EngineError> {
    let fail = |p: &Path, e: std::io::Error| EngineError::new(ErrorKind::HostSetup, format!("chown {}: {e}", p.display()));
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid)).map_err(|e| fail(path, e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail(path, e))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| fail(path, e))? {
            let entry = entry.map_err(|e| fail(path, e))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

/// The uid owning `path`, if it exists.
pub fn owner_uid(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

/// The real uid of a running process.
pub fn process_uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_tree_counts_its_own_cpu_and_memory() {
        let me = std::process::id() as i32;
        let used = resource_use("no-such-instance", Some(me));
        assert!(used.memory_bytes > 0, "{used:?}");
        assert!(process_tree(me).contains(&me));
        assert!(process_cpu_usec(me).is_some());
    }

    #[test]
    fn user_names_fit_useradd() {
        for id in ["pgm-abcdefghij0123456789", "rm-abcdefghij0123456789"] {
            assert_eq!(system_user_name(id), format!("openrds-{id}"), "a usual id is kept whole");
        }
        let long = system_user_name("pgm-a-very-long-instance-identifier");
        assert!(long.len() <= 32 && long.starts_with("openrds-pgm-a-very-"), "{long}");
        assert_ne!(long, system_user_name("pgm-a-very-long-instance-identifieR"));
        let odd = system_user_name("Test_1");
        assert!(odd.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{odd}");
    }
}
