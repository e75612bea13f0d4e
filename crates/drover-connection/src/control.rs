//! Where the SSH masters' control sockets live, and how long.
//!
//! Each user has one private base directory: `$XDG_RUNTIME_DIR/drover` when `XDG_RUNTIME_DIR`
//! is an absolute directory of the user's and short enough, else `/tmp/drover-<uid>`. It is
//! created with mode 0700; an existing one that is not a directory owned by the user is refused
//! (another user could reach the sockets), and one of the user's own with a wider mode is
//! narrowed to 0700.
//!
//! Each run makes `run-<pid>` in it (mode 0700) and holds an advisory lock (`flock`) on it for
//! as long as the process lives. The openssh crate puts each master in a
//! `.ssh-connectionXXXXXX` directory there (socket `master`, log `log`), and drover writes each
//! host's generated ssh options file there while the master starts. Dropping the
//! [`ControlDir`] tells any master still in it to exit (`ssh -O exit`) and removes it.
//!
//! A run that cannot clean up (SIGKILL, a crash, power loss) leaves its `run-*` directory
//! behind. The next run's [`ControlDir::new`] sweeps the base: every `run-<pid>` whose process
//! is gone and whose lock is free (the kernel releases it when the process dies, however it
//! dies) has its masters told to exit and is removed. Until a next run, a leaked master ends
//! by itself after [`CONTROL_PERSIST_IDLE`] seconds without a client (`ControlPersist`).

use std::ffi::OsStr;
use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Seconds a master stays up with no client (`ControlPersist`). Drover closes its masters at
/// the end of a run; this bounds the life of one leaked by a run that was killed.
pub const CONTROL_PERSIST_IDLE: usize = 60;

/// How long cleaning up waits for leaked masters to answer `ssh -O exit` (they are asked all at
/// once; a master that does not answer is left to its idle timeout).
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// The longest run directory path. Socket paths must fit `sun_path` (108 bytes with the NUL):
/// in the run directory the openssh crate makes `.ssh-connectionXXXXXX/master`, and ssh first
/// binds that path plus `.` and 16 random characters, then renames it.
const MAX_RUN_DIR_LEN: usize =
    107 - "/.ssh-connectionXXXXXX/master".len() - ".XXXXXXXXXXXXXXXX".len();

/// The longest `/run-…` name a base directory must leave room for (the largest Linux pid, and
/// a counter for more than one run directory in one process).
const MAX_RUN_NAME_LEN: usize = "/run-4194304-999".len();

// The usual base directories leave room for any run directory name.
const _: () = assert!("/run/user/4294967294/drover".len() + MAX_RUN_NAME_LEN <= MAX_RUN_DIR_LEN);
const _: () = assert!("/tmp/drover-4294967294".len() + MAX_RUN_NAME_LEN <= MAX_RUN_DIR_LEN);

/// Run directories this process has made (the first is `run-<pid>`, later ones
/// `run-<pid>-<n>`), so no two in one process share a name.
static RUN_DIRS: AtomicU32 = AtomicU32::new(0);

/// The run's private directory for the SSH masters' control sockets: `run-<pid>` in the user's
/// base directory (see the module documentation), mode 0700. Dropping it stops any master
/// still in it and removes it.
#[derive(Debug)]
pub struct ControlDir {
    path: PathBuf,
    /// The user's base directory (where persistent masters live, see [`ControlDir::masters`]).
    base: PathBuf,
    /// The directory, open: its lock tells later runs that this one is alive.
    _lock: File,
}

impl ControlDir {
    /// Makes the run's directory in the user's base directory (`$XDG_RUNTIME_DIR/drover`, else
    /// `/tmp/drover-<uid>`), after cleaning up what killed runs left there. Fails when the base
    /// directory exists and is not a private directory of the user's; the error says what to do.
    pub fn new() -> io::Result<ControlDir> {
        let uid = current_uid();
        if let Some(base) = runtime_base(uid)
            && prepare_base(&base, uid).is_ok()
        {
            return ControlDir::start(&base);
        }
        let base = PathBuf::from(format!("/tmp/drover-{uid}"));
        prepare_base(&base, uid)?;
        ControlDir::start(&base)
    }

    /// [`ControlDir::new`] with the base directory given (created 0700 if missing, refused
    /// unless it is a directory of the current user's; narrowed to 0700 if it is).
    pub fn in_base(base: &Path) -> io::Result<ControlDir> {
        prepare_base(base, current_uid())?;
        ControlDir::start(base)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory for the persistent masters of one connection (`fingerprint`: a digest of
    /// everything that defines it), `m-<fingerprint>` in the base directory, mode 0700, and
    /// locked (exclusively, waiting for another run that holds it) until the returned
    /// [`MasterDir`] drops: one run at a time finds, replaces or starts its master. Masters
    /// left dead in it (a socket nobody answers) are for the caller to clear.
    pub async fn masters(&self, fingerprint: &str) -> io::Result<MasterDir> {
        let path = self.base.join(format!("m-{fingerprint}"));
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => fs::set_permissions(&path, Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(&path)?;
                if !meta.is_dir() || meta.uid() != current_uid() {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is not a directory of yours; remove it (drover keeps the ssh \
                             masters of one connection there)",
                            path.display()
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
        let file = File::open(&path)?;
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(io::Error::other)??;
        Ok(MasterDir { path, _lock: file })
    }

    /// Sweeps `base`, then makes and locks this run's directory in it.
    fn start(base: &Path) -> io::Result<ControlDir> {
        sweep(base);
        let pid = std::process::id();
        loop {
            let n = RUN_DIRS.fetch_add(1, Ordering::Relaxed);
            let path = base.join(match n {
                0 => format!("run-{pid}"),
                n => format!("run-{pid}-{n}"),
            });
            if path.as_os_str().len() > MAX_RUN_DIR_LEN {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is too long for ssh control sockets (at most {MAX_RUN_DIR_LEN} bytes); \
                         set XDG_RUNTIME_DIR to a shorter directory",
                        path.display()
                    ),
                ));
            }
            // A directory with this name is from an earlier process that had our pid (this
            // process never reuses a name): clean it up and take the name, unless it is locked.
            if fs::symlink_metadata(&path).is_ok() {
                match lock_if_free(&path) {
                    Some(lock) => clean_up(&[(path.clone(), lock)]),
                    None => continue,
                }
            }
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot create {}: {e}", path.display()),
                    ));
                }
            }
            // The umask can only have narrowed 0700; make it exactly that.
            fs::set_permissions(&path, Permissions::from_mode(0o700))?;
            let lock = File::open(&path)?;
            lock.try_lock().map_err(io::Error::from)?;
            return Ok(ControlDir {
                path,
                base: base.to_path_buf(),
                _lock: lock,
            });
        }
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        // Masters the run closed are gone already; any other (a connection never closed, a
        // panic) is stopped now rather than after its idle timeout.
        exit_masters(&[self.path.as_path()]);
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// One connection's directory of persistent masters, locked while it lives (see
/// [`ControlDir::masters`]).
#[derive(Debug)]
pub struct MasterDir {
    path: PathBuf,
    _lock: File,
}

impl MasterDir {
    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The control sockets of the masters started here (`.ssh-connectionXXXXXX/master`), and
    /// removes the directories of masters that are gone (no socket left).
    pub fn sockets(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let socket = entry.path().join("master");
            if fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
                found.push(socket);
            } else {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        found
    }

    /// Forgets a master that does not answer: asks it to exit (in case it still runs) and
    /// removes its directory.
    pub fn discard(&self, socket: &Path) {
        if let Some(dir) = socket.parent() {
            exit_masters(&[dir]);
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The effective user id (the owner of what this process creates).
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `$XDG_RUNTIME_DIR/drover`, when `XDG_RUNTIME_DIR` is an absolute path to a directory owned
/// by `uid` (not one left in the environment by `sudo -E`, say) and short enough for sockets.
fn runtime_base(uid: u32) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR")?);
    let meta = fs::metadata(&dir).ok()?;
    let base = dir.join("drover");
    (dir.is_absolute()
        && meta.is_dir()
        && meta.uid() == uid
        && base.as_os_str().len() + MAX_RUN_NAME_LEN <= MAX_RUN_DIR_LEN)
        .then_some(base)
}

/// Makes `base` a private directory of `uid`'s: creates it with mode 0700, or checks that the
/// existing one is a directory (not a symlink) owned by `uid`, and narrows its mode to 0700.
fn prepare_base(base: &Path, uid: u32) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(base) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "cannot create {} for drover's ssh control sockets: {e}",
                    base.display()
                ),
            ));
        }
    }
    let meta = fs::symlink_metadata(base)?;
    let refuse = |what: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} {what}; drover keeps its ssh control sockets there and needs it to be a \
                 private directory of yours. Remove it, or set XDG_RUNTIME_DIR to a private \
                 directory of yours",
                base.display()
            ),
        ))
    };
    if !meta.is_dir() {
        return refuse(if meta.file_type().is_symlink() {
            "is a symbolic link".into()
        } else {
            "exists and is not a directory".into()
        });
    }
    if meta.uid() != uid {
        return refuse(format!(
            "belongs to uid {}, not to you (uid {uid})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        fs::set_permissions(base, Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The pid in a run directory's name (`run-<pid>` or `run-<pid>-<n>`).
fn run_pid(name: &OsStr) -> Option<u32> {
    let rest = name.to_str()?.strip_prefix("run-")?;
    let (pid, n) = rest.split_once('-').unwrap_or((rest, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(pid) && digits(n)) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this pid exists (`/proc/<pid>`). Without `/proc` this says no and
/// the run directory's lock decides alone.
fn process_exists(pid: u32) -> bool {
    Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists()
}

/// The directory, open and locked, when no live run holds its lock.
fn lock_if_free(dir: &Path) -> Option<File> {
    let file = File::open(dir).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// Cleans up after killed runs: every `run-*` directory in `base` whose process is gone and
/// whose lock is free. Nothing here is an error: what cannot be removed now is tried again by
/// the next run.
fn sweep(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    let entries: Vec<_> = entries.flatten().collect();
    // persistent masters' directories left with no master (each ended after its idle time)
    for entry in &entries {
        let path = entry.path();
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("m-"))
            && sockets(&path, 1).is_empty()
            && let Some(lock) = lock_if_free(&path)
        {
            let _ = fs::remove_dir_all(&path);
            drop(lock);
        }
    }
    let stale: Vec<(PathBuf, File)> = entries
        .into_iter()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|entry| run_pid(&entry.file_name()).is_some_and(|pid| !process_exists(pid)))
        .filter_map(|entry| {
            let path = entry.path();
            lock_if_free(&path).map(|lock| (path, lock))
        })
        .collect();
    clean_up(&stale);
}

/// Stops the masters in locked, stale run directories and removes the directories.
fn clean_up(stale: &[(PathBuf, File)]) {
    let dirs: Vec<&Path> = stale.iter().map(|(path, _)| path.as_path()).collect();
    exit_masters(&dirs);
    for dir in dirs {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Asks every master whose socket is in these directories (or one level below) to exit, all at
/// once, and waits up to [`EXIT_WAIT`] for them.
fn exit_masters(dirs: &[&Path]) {
    let sockets = dirs.iter().flat_map(|dir| sockets(dir, 1));
    let children: Vec<Child> = sockets
        .filter_map(|socket| {
            Command::new("ssh")
                // No config: the socket is all it needs, and a user's `Match exec` must not run.
                .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-O", "exit", "-S"])
                .arg(socket)
                .arg("drover-cleanup")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    let deadline = Instant::now() + EXIT_WAIT;
    for mut child in children {
        while let Ok(None) = child.try_wait() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The sockets in `dir` and, `depth` levels down, in its subdirectories (symlinks not followed).
fn sockets(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        match entry.file_type() {
            Ok(t) if t.is_socket() => found.push(entry.path()),
            Ok(t) if t.is_dir() && depth > 0 => found.extend(sockets(&entry.path(), depth - 1)),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn the_base_and_run_directories_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("drover");
        let control = ControlDir::in_base(&base).unwrap();
        assert_eq!(mode(&base), 0o700);
        assert_eq!(mode(control.path()), 0o700);
        assert_eq!(control.path().parent(), Some(base.as_path()));
        assert!(
            run_pid(control.path().file_name().unwrap()) == Some(std::process::id()),
            "{}",
            control.path().display()
        );
        // a second one in the same process gets its own name
        let other = ControlDir::in_base(&base).unwrap();
        assert_ne!(other.path(), control.path());
        let path = control.path().to_path_buf();
        drop(control);
        assert!(!path.exists(), "removed on drop");
        assert!(other.path().exists());
    }

    #[test]
    fn a_base_directory_of_ours_that_is_too_open_is_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("drover");
        fs::create_dir(&base).unwrap();
        fs::set_permissions(&base, Permissions::from_mode(0o755)).unwrap();
        prepare_base(&base, current_uid()).unwrap();
        assert_eq!(mode(&base), 0o700);
    }

    #[test]
    fn a_base_that_is_not_a_private_directory_of_ours_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let uid = current_uid();

        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        let err = prepare_base(&file, uid).unwrap_err().to_string();
        assert!(err.contains("exists and is not a directory"), "{err}");
        assert!(err.contains("XDG_RUNTIME_DIR"), "{err}");

        let target = tmp.path().join("target");
        fs::create_dir(&target).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = prepare_base(&link, uid).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");

        // someone else's directory (the owner is what differs: here it is us, and we pretend
        // to be another user); its mode is left alone
        let theirs = tmp.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, Permissions::from_mode(0o755)).unwrap();
        let err = prepare_base(&theirs, uid + 1).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "belongs to uid {uid}, not to you (uid {})",
                uid + 1
            )),
            "{err}"
        );
        assert_eq!(mode(&theirs), 0o755);
        let err = ControlDir::in_base(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn the_sweep_removes_dead_runs_and_keeps_live_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("drover");
        prepare_base(&base, current_uid()).unwrap();
        // No Linux pid reaches 4194304 (PID_MAX_LIMIT), so these processes do not exist.
        let dead = base.join("run-4194305");
        let dead_numbered = base.join("run-4194306-2");
        // This process is alive (and its directory not locked: the pid alone keeps it).
        let live = base.join(format!("run-{}-999", std::process::id()));
        // A dead pid whose lock is held: a live run in another pid namespace.
        let locked = base.join("run-4194307");
        // Not a run directory: left alone.
        let other = base.join("notes");
        for dir in [&dead, &dead_numbered, &live, &locked, &other] {
            fs::create_dir_all(dir.join(".ssh-connectionAbCdEf")).unwrap();
            fs::write(dir.join(".ssh-connectionAbCdEf/log"), "").unwrap();
        }
        let holder = File::open(&locked).unwrap();
        holder.lock().unwrap();

        let control = ControlDir::in_base(&base).unwrap();
        assert!(!dead.exists());
        assert!(!dead_numbered.exists());
        assert!(live.exists());
        assert!(locked.exists());
        assert!(other.exists());

        // the lock is released when its holder ends: then the directory goes too. (A process
        // that another test thread is forking holds a copy of the descriptor until it execs,
        // so the release may take a moment here.)
        drop(holder);
        let deadline = Instant::now() + Duration::from_secs(5);
        while locked.exists() && Instant::now() < deadline {
            sweep(&base);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!locked.exists());
        assert!(live.exists());
        assert!(
            control.path().exists(),
            "the sweeping run's own directory is kept"
        );
    }

    #[test]
    fn run_directory_names() {
        assert_eq!(run_pid(OsStr::new("run-42")), Some(42));
        assert_eq!(run_pid(OsStr::new("run-42-3")), Some(42));
        for name in [
            "run-",
            "run-+4",
            "run-4-",
            "run-x",
            "drover-42",
            "run-4-2-1",
        ] {
            assert_eq!(run_pid(OsStr::new(name)), None, "{name}");
        }
    }

    #[test]
    fn socket_paths_fit_in_sun_path() {
        let run_dir = "x".repeat(MAX_RUN_DIR_LEN);
        let bound = format!("{run_dir}/.ssh-connectionAbCdEf/master.0123456789abcdef");
        assert_eq!(bound.len(), 107);
    }
}
