//! The Ansible the compatibility and parity suites compare against is exactly the one
//! `scripts/ansible-reference.txt` pins: every installed distribution has its pinned version and
//! nothing else is installed (pip and setuptools aside). A reference that floats (a fresh venv
//! picking up a new PyYAML) would otherwise turn those suites red, or green, for a reason that
//! has nothing to do with drover.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

/// PEP 503 name normalization (`Jinja2` and `jinja2`, `ansible_core` and `ansible-core`).
fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// `name==version` pins of the reference file (continuation and hash lines skipped).
fn pins(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--"))
        .map(|l| {
            let spec = l.trim_end_matches('\\').trim();
            let (name, version) = spec
                .split_once("==")
                .unwrap_or_else(|| panic!("`{spec}` is not pinned with =="));
            (normalize(name), version.to_string())
        })
        .collect()
}

/// The pins of `scripts/ansible-reference.txt`, and the count of its wheel hashes.
fn reference() -> (BTreeMap<String, String>, usize) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ansible-reference.txt"),
    )
    .unwrap();
    (pins(&text), text.matches("--hash=sha256:").count())
}

#[test]
fn the_pin_file_pins_every_package_by_hash() {
    let (pins, hashes) = reference();
    for name in ["ansible-core", "pyyaml", "jinja2", "markupsafe", "jmespath"] {
        assert!(pins.contains_key(name), "{name} is not pinned");
    }
    assert_eq!(hashes, pins.len(), "one wheel hash per pin");
}

#[test]
fn the_installed_reference_is_the_pinned_one() {
    let Some(bin) = common::require_ansible("the_installed_reference_is_the_pinned_one") else {
        return;
    };
    // every distribution with its version, then whether PyYAML has libyaml's loader
    let out = Command::new(bin.join("python"))
        .args([
            "-c",
            "import importlib.metadata as m, yaml\nfor d in m.distributions(): print(d.metadata['Name'], d.version)\nprint('libyaml', yaml.__with_libyaml__)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (dists, libyaml) = stdout.trim_end().rsplit_once('\n').unwrap();
    let have: BTreeMap<String, String> = dists
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (normalize(n), v.to_string()))
        .filter(|(n, _)| n != "pip" && n != "setuptools")
        .collect();
    assert_eq!(
        have,
        reference().0,
        "the venv at {} is not scripts/ansible-reference.txt; rerun scripts/test (it rebuilds the venv)",
        bin.display()
    );
    // the loader is the C one the pins were checked with
    assert_eq!(libyaml, "libyaml True");
}
