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

    /// Reads and hashes a file.
    fn read(path: &Path) -> std::io::Result<Payload> {
        let file = std::fs::File::open(path)?;
        let mut counted = CountingReader { inner: file, n: 0 };
        let hashes = Hashes::of(&mut counted)?;
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
