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

#[test]
fn the_pin_file_pins_every_package_by_hash() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ansible-reference.txt"),
    )
    .unwrap();
    let pins = pins(&text);
    for name in ["ansible-core", "pyyaml", "jinja2", "markupsafe", "jmespath"] {
        assert!(pins.contains_key(name), "{name} is not pinned");
    }
    let hashes = text.matches("--hash=sha256:").count();
    assert_eq!(hashes, pins.len(), "one wheel hash per pin");
}

#[test]
fn the_installed_reference_is_the_pinned_one() {
    let Some(bin) = common::ansible_bin() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ansible-core is required in CI; run scripts/test");
        }
        eprintln!("SKIPPED: ansible-core not found (set DROVER_ANSIBLE_BIN_DIR)");
        return;
    };
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ansible-reference.txt"),
    )
    .unwrap();
    let want = pins(&text);
    let out = Command::new(bin.join("python"))
        .args([
            "-c",
            "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let have: BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (normalize(n), v.to_string()))
        .filter(|(n, _)| n != "pip" && n != "setuptools")
        .collect();
    assert_eq!(
        have,
        want,
        "the venv at {} is not scripts/ansible-reference.txt; rerun scripts/test (it rebuilds the venv)",
        bin.display()
    );
    // and the loader is the C one the pins were checked with
    let out = Command::new(bin.join("python"))
        .args(["-c", "import yaml; print(yaml.__with_libyaml__)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True");
}
