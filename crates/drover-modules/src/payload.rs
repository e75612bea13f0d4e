//! What a module writes to nodes: bytes in memory, or a controller file that is read and
//! hashed once per run and streamed from disk to each host that needs it.
//!
//! A [`Payload`] is cheap to clone (every host's task shares one), knows its length and its
//! SHA-256 (the probe compares it with the node's file) and SHA-1 (Ansible's `checksum`), and
//! becomes a request's stdin without being copied. A file's payload is cached by path, length
//! and modification time, so sixteen hosts copying one 14 MB package cost one read and one
//! hash on the controller, and no host holds its own copy in memory.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use drover_connection::Stdin;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Bytes to write to a node (see the module documentation).
#[derive(Clone, Debug)]
pub struct Payload(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    source: Source,
    len: u64,
}

#[derive(Debug)]
enum Source {
    /// Hashed when first asked.
    Memory(Arc<[u8]>, OnceLock<Hashes>),
    /// Hashed as it was read.
    File(PathBuf, Hashes),
}

#[derive(Debug)]
struct Hashes {
    sha256: String,
    sha1: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hashes {
    fn of_bytes(data: &[u8]) -> Hashes {
        Hashes {
            sha256: hex(&Sha256::digest(data)),
            sha1: hex(&Sha1::digest(data)),
        }
    }

    fn of(mut read: impl Read) -> std::io::Result<Hashes> {
        let (mut sha256, mut sha1) = (Sha256::new(), Sha1::new());
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = read.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha256.update(&buf[..n]);
            sha1.update(&buf[..n]);
        }
        Ok(Hashes {
            sha256: hex(&sha256.finalize()),
            sha1: hex(&sha1.finalize()),
        })
    }
}

/// One file version's payload, read once: hosts that ask while it is being read wait for it
/// rather than read it again. A read error is kept too (kind and message).
type Entry = Arc<OnceLock<Result<Payload, (std::io::ErrorKind, String)>>>;

/// Files of this run: (path, length, modification time) → their payload.
type Cache = Mutex<HashMap<(PathBuf, u64, Option<SystemTime>), Entry>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

impl Payload {
    /// Bytes in memory (hashed when first asked).
    pub fn bytes(data: impl Into<Vec<u8>>) -> Payload {
        let data: Arc<[u8]> = data.into().into();
        Payload(Arc::new(Inner {
            len: data.len() as u64,
            source: Source::Memory(data, OnceLock::new()),
        }))
    }

    /// A controller file: read and hashed now, unless this run already did (or is doing) so
    /// for the same path, length and modification time; its bytes stay on disk.
    pub fn file(path: &Path) -> std::io::Result<Payload> {
        let meta = std::fs::metadata(path)?;
        let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
        let entry = cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        entry
            .get_or_init(|| Payload::read(path).map_err(|e| (e.kind(), e.to_string())))
            .clone()
            .map_err(|(kind, message)| std::io::Error::new(kind, message))
    }

    /// Reads and hashes a file (or takes its hashes from the controller's hash cache).
    fn read(path: &Path) -> std::io::Result<Payload> {
        Payload::read_kept(path, kept::dir().as_deref())
    }

    /// [`Payload::read`] with the hash cache in `kept` (none: always hashed).
    fn read_kept(path: &Path, kept: Option<&Path>) -> std::io::Result<Payload> {
        let file = std::fs::File::open(path)?;
        let stamp = kept::Stamp::of(&file.metadata()?);
        if let (Some(dir), Some(stamp)) = (kept, &stamp)
            && let Some(hashes) = kept::find(dir, stamp)
        {
            return Ok(Payload(Arc::new(Inner {
                source: Source::File(path.to_path_buf(), hashes),
                len: stamp.len,
            })));
        }
        let mut counted = CountingReader { inner: file, n: 0 };
        let hashes = Hashes::of(&mut counted)?;
        if let (Some(dir), Some(stamp)) = (kept, stamp)
            && stamp.len == counted.n
            && kept::Stamp::of(&counted.inner.metadata()?).as_ref() == Some(&stamp)
        {
            kept::keep(dir, &stamp, &hashes);
        }
        Ok(Payload(Arc::new(Inner {
            source: Source::File(path.to_path_buf(), hashes),
            len: counted.n,
        })))
    }

    /// The length in bytes.
    pub fn len(&self) -> u64 {
        self.0.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    fn hashes(&self) -> &Hashes {
        match &self.0.source {
            Source::Memory(data, hashes) => hashes.get_or_init(|| Hashes::of_bytes(data)),
            Source::File(_, hashes) => hashes,
        }
    }

    /// SHA-256, hex.
    pub fn sha256(&self) -> &str {
        &self.hashes().sha256
    }

    /// SHA-1, hex (Ansible's `checksum`).
    pub fn sha1(&self) -> &str {
        &self.hashes().sha1
    }

    /// The bytes, when they are in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        match &self.0.source {
            Source::Memory(data, _) => Some(data),
            Source::File(..) => None,
        }
    }

    /// All the bytes (read from disk for a file: for `--diff`, which shows them).
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match &self.0.source {
            Source::Memory(data, _) => Ok(data.to_vec()),
            Source::File(path, _) => std::fs::read(path),
        }
    }

    /// What a request feeds to stdin to send these bytes.
    pub fn stdin(&self) -> Stdin {
        match &self.0.source {
            Source::Memory(data, _) => Stdin::Bytes(data.clone()),
            Source::File(path, _) => Stdin::File {
                path: path.clone(),
                len: self.0.len,
            },
        }
    }
}

/// The controller's hash cache: the hashes of large files across runs, so a rerun does not
/// read a 150 MB tarball again to learn it has not changed.
///
/// One small file per inode in `$XDG_CACHE_HOME/drover/sums/` (else `~/.cache/...`): the
/// file's stamp (device, inode, size, modification and change times to the nanosecond) on the
/// first line, its SHA-256 and SHA-1 on the next. Any write moves a file's change time (which
/// no one can set back) or, replacing it, its inode; a file changed within the last two
/// seconds is not kept (a later write in the same clock tick would not move its stamp). Only
/// files of [`kept::MIN`] bytes or more (packages, archives; not small files that may be
/// secrets). A cache that cannot be read or written costs a hash, never a wrong answer.
mod kept {
    use super::Hashes;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    /// The smallest file kept.
    pub(super) const MIN: u64 = 1024 * 1024;

    /// The cache directory, when the user has a home.
    pub(super) fn dir() -> Option<PathBuf> {
        // a relative XDG_CACHE_HOME is ignored, as the XDG spec says
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| Path::new(v).is_absolute()) {
            Some(cache) => PathBuf::from(cache),
            None => {
                PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache")
            }
        };
        Some(base.join("drover").join("sums"))
    }

    /// What identifies one version of a file.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Stamp {
        name: String,
        line: String,
        pub(super) len: u64,
        settled: bool,
    }

    impl Stamp {
        /// The stamp of a regular file of at least [`MIN`] bytes.
        pub(super) fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
            if !meta.is_file() || meta.len() < MIN {
                return None;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            let settled = [meta.mtime(), meta.ctime()]
                .iter()
                .all(|t| u64::try_from(*t).is_ok_and(|t| t + 2 < now));
            Some(Stamp {
                name: format!("{}-{}", meta.dev(), meta.ino()),
                line: format!(
                    "{}-{} {} {}.{:09} {}.{:09}",
                    meta.dev(),
                    meta.ino(),
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    meta.ctime(),
                    meta.ctime_nsec()
                ),
                len: meta.len(),
                settled,
            })
        }
    }

    /// The kept hashes of this very version, if any.
    pub(super) fn find(dir: &Path, stamp: &Stamp) -> Option<Hashes> {
        let text = std::fs::read_to_string(dir.join(&stamp.name)).ok()?;
        let mut lines = text.lines();
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        match (lines.next(), lines.next(), lines.next()) {
            (Some(line), Some(sha256), Some(sha1))
                if line == stamp.line && hex(sha256, 64) && hex(sha1, 40) =>
            {
                Some(Hashes {
                    sha256: sha256.to_string(),
                    sha1: sha1.to_string(),
                })
            }
            _ => None,
        }
    }

    /// Keeps a settled version's hashes (atomically; failures are ignored).
    pub(super) fn keep(dir: &Path, stamp: &Stamp, hashes: &Hashes) {
        use std::os::unix::fs::DirBuilderExt;
        if !stamp.settled
            || std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .is_err()
        {
            return;
        }
        use std::io::Write;
        let temp = dir.join(format!(".{}.{}", stamp.name, std::process::id()));
        let text = format!("{}\n{}\n{}\n", stamp.line, hashes.sha256, hashes.sha1);
        // a new file (never written through something planted at its name), renamed over
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if written.is_err() || std::fs::rename(&temp, dir.join(&stamp.name)).is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
}

/// Counts what it reads (a file's length is what was hashed, even if it grew since `stat`).
struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large file's hashes are kept across runs once it has settled, and believed only for
    /// the very same version: a rewrite in place with the old modification time is read again.
    #[test]
    fn large_files_keep_their_hashes_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let (path, cache) = (dir.path().join("big"), dir.path().join("sums"));
        let data = vec![3u8; kept::MIN as usize];
        std::fs::write(&path, &data).unwrap();
        let age = || crate::testutil::age(&path);
        age();
        let read = || Payload::read_kept(&path, Some(&cache)).unwrap();
        let want = Payload::bytes(data.clone());
        // changed just now: hashed, not kept
        assert_eq!(read().sha256(), want.sha256());
        assert!(!cache.exists());
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(read().sha1(), want.sha1());
        let entry = crate::testutil::only_entry(&cache);
        // the kept hashes answer (a planted wrong hash shows they were not recomputed)
        let text = std::fs::read_to_string(&entry).unwrap();
        let planted = text.replace(want.sha256(), &"0".repeat(64));
        std::fs::write(&entry, &planted).unwrap();
        assert_eq!(read().sha256(), "0".repeat(64));
        // rewritten in place, same size and modification time: read again
        let mut other = data.clone();
        other[1] = 4;
        std::fs::write(&path, &other).unwrap();
        age();
        assert_eq!(read().sha256(), Payload::bytes(other).sha256());
        // small files are never kept
        std::fs::write(dir.path().join("small"), b"secret").unwrap();
        assert!(kept::Stamp::of(&std::fs::metadata(dir.path().join("small")).unwrap()).is_none());
    }

    #[test]
    fn bytes_and_files_hash_alike_and_a_file_is_read_once_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").unwrap();
        let memory = Payload::bytes(b"hello\n".to_vec());
        let file = Payload::file(&path).unwrap();
        assert_eq!(memory.sha256(), file.sha256());
        assert_eq!(memory.sha1(), "f572d396fae9206628714fb2ce00f72e94f2258f");
        assert_eq!((memory.len(), file.len()), (6, 6));
        assert_eq!(file.in_memory(), None);
        assert_eq!(
            file.stdin(),
            Stdin::File {
                path: path.clone(),
                len: 6
            }
        );
        // the same version of the file: the same payload, not read again
        let again = Payload::file(&path).unwrap();
        assert!(Arc::ptr_eq(&file.0, &again.0));
        // a new version is read again
        std::fs::write(&path, b"hello, world\n").unwrap();
        let changed = Payload::file(&path).unwrap();
        assert_eq!(changed.len(), 13);
        assert_ne!(changed.sha256(), file.sha256());
        assert_eq!(changed.read_all().unwrap(), b"hello, world\n");
    }

    /// Hosts that ask for one file at once share one read: every one gets the same payload.
    #[test]
    fn hosts_asking_at_once_share_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![7u8; 8 * 1024 * 1024]).unwrap();
        let payloads: Vec<Payload> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Payload::file(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(payloads.iter().all(|p| Arc::ptr_eq(&p.0, &payloads[0].0)));
        let missing = Payload::file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
