//! Pigsty-shaped templates rendered by drover must equal, byte for byte, what ansible-core's
//! `template` module renders for the same inventory.
//!
//! `pigsty_templates_match_committed_ansible_output` runs offline against `fixtures/pigsty/expected`
//! (recorded from ansible-core 2.18.19); `pigsty_templates_match_live_ansible` runs the real
//! ansible-playbook (`connection: local`, templates into a temp dir) and compares again.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Inventory, JSON_QUERY_PLUGIN, ansible_bin_dir, missing, python_has, run_playbook};
use drover_template::{Templar, Vars};
use serde_json::{Map, Value, json};

const TEMPLATES: &[(&str, &str)] = &[
    ("consul.json.j2", "consul.json"),
    ("node-meta.json.j2", "node-meta.json"),
    ("pgsql-targets.yml.j2", "pg-test.yml"),
    ("prometheus.yml.j2", "prometheus.yml"),
];

const HOST: &str = "10.10.10.10";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pigsty")
}

fn play_vars() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "target_cluster": "pg-test",
        "dcs_nodename": "{{ dcs_servers | dict2items | selectattr('value', 'equalto', inventory_hostname) | map(attribute='key') | first | default(pg_instance) }}"
    }) else {
        unreachable!()
    };
    m
}

fn drover_render(inventory: &Arc<Inventory>, template: &str) -> String {
    let templar = Templar::default();
    let vars = Vars::new(inventory.vars_for(HOST, &play_vars())).with_hostvars(inventory.clone());
    let path = fixtures().join("templates").join(template);
    let text = std::fs::read_to_string(&path).unwrap();
    match templar.render_template_file(&path.display().to_string(), &text, &vars) {
        Ok(out) => out.value,
        Err(d) => panic!("drover failed to render {template}:\n{d}"),
    }
}

fn inventory() -> Arc<Inventory> {
    Arc::new(Inventory::load(&fixtures().join("inventory.yml")))
}

#[test]
fn pigsty_templates_match_committed_ansible_output() {
    let inventory = inventory();
    for (template, output) in TEMPLATES {
        let expected = std::fs::read_to_string(fixtures().join("expected").join(output))
            .unwrap_or_else(|e| panic!("missing fixture {output}: {e}"));
        let ours = drover_render(&inventory, template);
        assert_eq!(ours, expected, "drover's {output} differs from Ansible's");
    }
}

#[test]
fn pigsty_templates_match_live_ansible() {
    let Some(bin) = ansible_bin_dir() else { return };
    if !python_has(&bin, "jmespath") {
        missing(
            "python module `jmespath` (needed for json_query) is not importable by ansible's python; pip install jmespath",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(dir.path().join("filter_plugins")).unwrap();
    std::fs::write(
        dir.path().join("filter_plugins/json_query.py"),
        JSON_QUERY_PLUGIN,
    )
    .unwrap();
    let mut tasks = String::new();
    for (template, output) in TEMPLATES {
        tasks.push_str(&format!(
            "    - template:\n        src: {}\n        dest: {}\n",
            fixtures().join("templates").join(template).display(),
            out.join(output).display()
        ));
    }
    let vars_yaml: String = play_vars()
        .iter()
        .map(|(k, v)| format!("    {k}: {}\n", serde_json::to_string(v).unwrap()))
        .collect();
    let playbook = format!(
        "- hosts: '{HOST}'\n  connection: local\n  gather_facts: false\n  vars:\n{vars_yaml}  tasks:\n{tasks}"
    );
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    let inventory_path = fixtures().join("inventory.yml");
    run_playbook(
        &bin,
        dir.path(),
        &["-i", inventory_path.to_str().unwrap(), "site.yml"],
    );

    let inventory = inventory();
    let update = std::env::var("DROVER_UPDATE_FIXTURES").is_ok_and(|v| v == "1");
    for (template, output) in TEMPLATES {
        let theirs = std::fs::read_to_string(out.join(output)).unwrap();
        if update {
            std::fs::write(fixtures().join("expected").join(output), &theirs).unwrap();
        }
        let ours = drover_render(&inventory, template);
        assert_eq!(
            ours, theirs,
            "drover's {output} differs from ansible-core's"
        );
        let committed =
            std::fs::read_to_string(fixtures().join("expected").join(output)).unwrap_or_default();
        assert_eq!(
            committed, theirs,
            "fixture expected/{output} is stale; rerun with DROVER_UPDATE_FIXTURES=1"
        );
    }
}
