//! The node image: built offline from the recipe in `sandbox/image/`
//! (debootstrap + `docker import`), tagged with a hash of that recipe so an
//! unchanged recipe reuses the image and an edited one rebuilds it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::docker;
use crate::error::{Error, Result};

/// Repository name of every node image.
pub const IMAGE_REPOSITORY: &str = "drover-node";

/// Which node image to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ImageVariant {
    /// With python3, so Ansible can run against the same nodes (comparison tests).
    #[default]
    WithPython,
    /// Without python3: proves drover needs none on the nodes.
    NoPython,
}

impl ImageVariant {
    fn tag_prefix(self) -> &'static str {
        match self {
            ImageVariant::WithPython => "bookworm",
            ImageVariant::NoPython => "bookworm-nopy",
        }
    }
}

impl fmt::Display for ImageVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageVariant::WithPython => "python3",
            ImageVariant::NoPython => "no-python",
        })
    }
}

/// The directory holding the image recipe, below the repository root.
pub fn recipe_dir(repo_root: &Path) -> PathBuf {
    repo_root.join("sandbox").join("image")
}

/// SHA-256 over the recipe files (names and contents, in name order) and
/// the variant, in hex.
pub fn recipe_hash(repo_root: &Path, variant: ImageVariant) -> Result<String> {
    let dir = recipe_dir(repo_root);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(Error::io(&dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    hasher.update(variant.tag_prefix().as_bytes());
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        hasher.update(name.unwrap_or_default().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&path).map_err(Error::io(&path))?);
        hasher.update([0]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The full `name:tag` of the image the current recipe builds.
pub fn image_tag(repo_root: &Path, variant: ImageVariant) -> Result<String> {
    let hash = recipe_hash(repo_root, variant)?;
    Ok(format!(
        "{IMAGE_REPOSITORY}:{}-{}",
        variant.tag_prefix(),
        &hash[..12]
    ))
}

/// What [`ensure_image`] did.
#[derive(Debug, Clone)]
pub struct ImageOutcome {
    /// The image `name:tag`.
    pub tag: String,
    /// Whether it was built now (false: reused).
    pub built: bool,
    /// How long building took (zero when reused).
    pub elapsed: Duration,
}

/// Makes sure the image of the current recipe exists, building it when it is
/// missing or when `rebuild` is set.
pub fn ensure_image(
    repo_root: &Path,
    variant: ImageVariant,
    rebuild: bool,
) -> Result<ImageOutcome> {
    docker::ensure_available()?;
    let tag = image_tag(repo_root, variant)?;
    if !rebuild && docker::image_exists(&tag)? {
        return Ok(ImageOutcome {
            tag,
            built: false,
            elapsed: Duration::ZERO,
        });
    }
    let started = Instant::now();
    let script = recipe_dir(repo_root).join("build-image");
    let mut cmd = Command::new(&script);
    cmd.arg(&tag);
    if variant == ImageVariant::NoPython {
        cmd.arg("--no-python");
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(Error::io(&script))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{} {tag}", script.display()),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let elapsed = started.elapsed();
    remove_stale_images(variant, &tag);
    Ok(ImageOutcome {
        tag,
        built: true,
        elapsed,
    })
}

/// Removes images of `variant` built from older recipes (best effort: an
/// image still used by a container stays).
fn remove_stale_images(variant: ImageVariant, current: &str) {
    let Ok(tags) = local_images() else { return };
    for tag in tags {
        if tag != current && is_variant_tag(&tag, variant) {
            let _ = docker::docker(["rmi", &tag]);
        }
    }
}

/// Whether `tag` is `drover-node:<variant prefix>-<12 hex>`.
fn is_variant_tag(tag: &str, variant: ImageVariant) -> bool {
    let prefix = format!("{IMAGE_REPOSITORY}:{}-", variant.tag_prefix());
    tag.strip_prefix(&prefix)
        .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Tags of all node images present locally (any recipe version).
pub fn local_images() -> Result<Vec<String>> {
    let out = docker::docker([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        IMAGE_REPOSITORY,
    ])?;
    Ok(out.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = recipe_dir(root.path());
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
        root
    }

    #[test]
    fn variant_tags() {
        let py = "drover-node:bookworm-0123456789ab";
        let nopy = "drover-node:bookworm-nopy-0123456789ab";
        assert!(is_variant_tag(py, ImageVariant::WithPython));
        assert!(!is_variant_tag(nopy, ImageVariant::WithPython));
        assert!(is_variant_tag(nopy, ImageVariant::NoPython));
        assert!(!is_variant_tag(
            "drover-node:bookworm-test",
            ImageVariant::WithPython
        ));
    }

    #[test]
    fn tag_changes_with_recipe_and_variant_only() {
        let a = recipe(&[("build-image", "echo a"), ("configure-rootfs", "x")]);
        let b = recipe(&[("build-image", "echo a"), ("configure-rootfs", "x")]);
        let c = recipe(&[("build-image", "echo b"), ("configure-rootfs", "x")]);
        let tag = |r: &tempfile::TempDir, v| image_tag(r.path(), v).expect("tag");
        assert_eq!(
            tag(&a, ImageVariant::WithPython),
            tag(&b, ImageVariant::WithPython)
        );
        assert_ne!(
            tag(&a, ImageVariant::WithPython),
            tag(&c, ImageVariant::WithPython)
        );
        assert_ne!(
            tag(&a, ImageVariant::WithPython),
            tag(&a, ImageVariant::NoPython)
        );
        assert!(tag(&a, ImageVariant::NoPython).starts_with("drover-node:bookworm-nopy-"));
    }
}
