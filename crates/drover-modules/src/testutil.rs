//! Helpers shared by this crate's unit tests.

use std::path::{Path, PathBuf};

/// Sets `path`'s modification time an hour back (its change time stays now).
pub(crate) fn age(path: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// The one entry of a directory.
pub(crate) fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

/// Writes into `bin` a `sha256sum` that reads its input and prints `fake`.
pub(crate) fn fake_sha256sum(bin: &Path) {
    let fake_sum = bin.join("sha256sum");
    std::fs::write(&fake_sum, "#!/bin/sh\ncat >/dev/null; echo fake -\n").unwrap();
    std::fs::set_permissions(
        &fake_sum,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
}
