#![allow(clippy::unwrap_used)]
//! The `drover` binary as a user runs it: help, completions, man pages, extra vars, exit codes
//! and error messages (pinned text, like `just`'s error tests).

use std::path::Path;
use std::process::{Command, Output};

fn drover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env_remove("DROVER_INVENTORY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temp dir holding a playbook `site.yml` and an INI inventory `hosts` (local connections).
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(site: &str, hosts: &str) -> Scratch {
        let s = Scratch(tempfile::tempdir().unwrap());
        s.write("site.yml", site);
        s.write("hosts", hosts);
        s
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    /// `drover play site.yml -i hosts <extra>`.
    fn play(&self, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("play")
            .arg(self.path("site.yml"))
            .arg("-i")
            .arg(self.path("hosts"))
            .args(extra)
            .env("NO_COLOR", "1")
            .env_remove("DROVER_INVENTORY")
            .output()
            .unwrap()
    }
}

/// `./playbooks/<playbook> --list-tags` run through its shebang from the repository root (it
/// finds `inventory/` beside the playbooks directory, like Pigsty's `./infra.yml`).
fn list_tags_through_the_shebang(playbook: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_drover")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(format!("./playbooks/{playbook}"))
        .arg("--list-tags")
        .current_dir(root)
        .env("PATH", path)
        .env_remove("DROVER_INVENTORY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Every tag is on some `TAGS: [...]` line of a `--list-tags` listing.
fn assert_tags_listed(listing: &str, tags: &[&str]) {
    for tag in tags {
        let listed = listing
            .lines()
            .filter(|l| l.contains("TAGS: ["))
            .any(|l| l.split(['[', ']', ',']).any(|word| word.trim() == *tag));
        assert!(listed, "tag `{tag}` missing from --list-tags:\n{listing}");
    }
}

#[test]
fn help_lists_the_subcommands() {
    let out = drover(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for sub in ["play", "inventory", "sandbox", "completions", "man"] {
        assert!(help.contains(sub), "missing {sub} in help:\n{help}");
    }
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = drover(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("drover"), "{shell}");
        assert!(
            script.contains("skip-tags"),
            "{shell} completion lacks play flags"
        );
    }
}

#[test]
fn man_pages_are_generated() {
    let out = drover(&["man"]);
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH drover"),
        "{page}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = drover(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "drover.1",
        "drover-play.1",
        "drover-inventory.1",
        "drover-sandbox.1",
    ] {
        assert!(dir.path().join(page).exists(), "missing {page}");
    }
}

#[test]
fn bad_arguments_exit_2_like_argparse() {
    let out = drover(&["play"]);
    assert_eq!(out.status.code(), Some(2));
    let out = drover(&["play", "x.yml", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_inventory_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("site.yml");
    std::fs::write(&pb, "- hosts: all\n  tasks: []\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["play", pb.to_str().unwrap(), "--list-hosts"])
        .current_dir(dir.path())
        .env_remove("DROVER_INVENTORY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: no inventory given and none found"),
        "{err}"
    );
    assert!(err.contains("help: pass `-i INVENTORY`"), "{err}");
}

#[test]
fn extra_vars_files_need_an_at_sign() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("hosts");
    std::fs::write(&inv, "localhost\n").unwrap();
    let pb = dir.path().join("site.yml");
    std::fs::write(&pb, "- hosts: all\n  tasks: []\n").unwrap();
    let out = drover(&[
        "play",
        pb.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "-e",
        "./vars.yml",
        "--list-hosts",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("prepend extra_vars filename"));
}

#[test]
fn repository_playbooks_are_executable_with_a_drover_shebang() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let first = std::fs::read_to_string(&path).unwrap();
            let first = first.lines().next().unwrap_or("");
            assert_eq!(first, "#!/usr/bin/env -S drover play", "{}", path.display());
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{} is not executable", path.display());
        }
    }
}

#[test]
fn a_playbook_runs_through_its_shebang_and_finds_the_inventory() {
    let listing = list_tags_through_the_shebang("infra.yml");
    assert!(
        listing.contains("playbook: ./playbooks/infra.yml"),
        "{listing}"
    );
    assert!(
        listing.contains("play #2 (all): Infra Init\tTAGS: [infra]"),
        "{listing}"
    );
    assert!(listing.contains("node_repo, node_repo_add"), "{listing}");
    // Pigsty's tags (issue "Pigsty infra")
    assert_tags_listed(
        &listing,
        &[
            "infra",
            "repo",
            "dcs",
            "consul",
            "consul_check",
            "consul_install",
            "consul_config",
            "consul_server",
            "consul_agent",
            "node_exporter",
            "register",
            "register_consul_postgres",
            "prometheus",
            "prometheus_install",
            "prometheus_config",
            "prometheus_launch",
            "prometheus_targets",
            "prometheus_reload",
            "nameserver",
        ],
    );
}

#[test]
fn pgsql_playbook_lists_pigstys_tags() {
    // `./playbooks/pgsql.yml --list-tags`, as a Pigsty user would run it (issue "Pigsty pgsql")
    let listing = list_tags_through_the_shebang("pgsql.yml");
    assert!(
        listing.contains("play #2 (all): Pgsql Init\tTAGS: [pgsql]"),
        "{listing}"
    );
    assert_tags_listed(
        &listing,
        &[
            "pgsql",
            "postgres",
            "pg_install",
            "pg_dbsu",
            "pg_dir",
            "pg_config",
            "pg_primary",
            "pg_init",
            "pg_replica",
            "pg_hba",
            "pg_user",
            "pg_db",
            "pgbouncer",
            "monitor",
            "pg_exporter",
            "pgbouncer_exporter",
            "service",
            "haproxy",
            "register",
        ],
    );
}

const DEBUG_PLAY: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n";

#[test]
fn a_limit_that_leaves_no_host_stops_the_run() {
    // ansible-playbook 2.18: `-l nohost` → "ERROR! Specified inventory, host pattern and/or
    // --limit leaves us with no hosts to target.", exit 1, listings included; a limit that
    // still matches a host only warns about the part that matched nothing.
    let s = Scratch::new(
        DEBUG_PLAY,
        "a ansible_connection=local\nb ansible_connection=local\n",
    );
    for extra in [&["-l", "nohost"][..], &["-l", "nohost", "--list-tasks"][..]] {
        let out = s.play(extra);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{extra:?}: {}",
            text(&out.stdout)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(
                "Specified inventory, host pattern and/or --limit leaves us with no hosts to target."
            ),
            "{stderr}"
        );
        assert!(!text(&out.stdout).contains("PLAY ["), "a play started");
    }
    let out = s.play(&["-l", "a,nohost"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("[WARNING]: Could not match supplied host pattern, ignoring: nohost\n"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("ok: [a]"));
}

#[test]
fn keyword_values_drover_cannot_use_are_errors() {
    // Each of these used to run (or silently run nothing) with exit 0. ansible-playbook 2.18:
    // serial abc 250 (a crash), max_fail_percentage 4, throttle 1, gather_facts 4, a
    // vars_files directory 4. drover: the same codes (serial: 4, Ansible's code for an invalid
    // value), never a banner first. (tests/bad-inputs runs these against Ansible too.)
    let s = Scratch::new(DEBUG_PLAY, "a ansible_connection=local\n");
    std::fs::create_dir(s.path("vfdir")).unwrap();
    let play = |play_keywords: &str, task_keywords: &str| {
        s.write(
            "site.yml",
            &format!("- hosts: all\n{play_keywords}  tasks:\n    - debug: msg=hi\n{task_keywords}"),
        );
        s.play(&[])
    };
    let cases = [
        (
            "  serial: abc\n",
            "",
            4,
            "the field `serial` has an invalid value `abc`",
            "site.yml:2:11",
        ),
        (
            "  serial: [1, x]\n",
            "",
            4,
            "the field `serial` has an invalid value",
            "site.yml:2:11",
        ),
        (
            "  max_fail_percentage: lots\n",
            "",
            4,
            "the field `max_fail_percentage` has an invalid value `lots`",
            "site.yml:2:24",
        ),
        (
            "  gather_facts: maybe\n",
            "",
            4,
            "the field `gather_facts` has an invalid value `maybe`",
            "site.yml:2:17",
        ),
        (
            "",
            "      throttle: fast\n",
            1,
            "the field `throttle` has an invalid value `fast`",
            "site.yml:4:17",
        ),
        (
            "  vars_files: [vfdir]\n",
            "",
            4,
            "vfdir (a directory)",
            "site.yml:2:16",
        ),
    ];
    for (play_keywords, task_keywords, code, message, location) in cases {
        let out = play(play_keywords, task_keywords);
        let stderr = text(&out.stderr);
        let what = format!("{play_keywords}{task_keywords}");
        assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
        assert!(stderr.contains(message), "{what}: {stderr}");
        assert!(stderr.contains(location), "{what}: {stderr}");
        assert!(
            !text(&out.stdout).contains("PLAY ["),
            "{what}: a play banner was printed"
        );
    }
    // -f 0: ansible-playbook's "must be >= 1", exit 2
    let out = s.play(&["-f", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--forks) must be >= 1"));
}

#[test]
fn delegate_to_a_host_outside_the_inventory_connects_to_it() {
    // delegate_to a name the inventory does not have ran the task on the controller and said
    // `changed: [localhost -> nohost]`; Ansible connects to that name (here sent to a closed
    // loopback port with -e, as -e applies to delegated hosts too) and reports it unreachable.
    let s = Scratch::new("", "a ansible_connection=local\n");
    let marker = s.path("ran-here");
    s.write(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch {}\n      delegate_to: nohost\n    - command: echo local\n      delegate_to: localhost\n",
            marker.display()
        ),
    );
    let out = s.play(&["-e", "ansible_host=127.0.0.1", "-e", "ansible_port=9"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains("fatal: [a -> nohost]: UNREACHABLE!"),
        "{stdout}"
    );
    assert!(!marker.exists(), "the task ran on the controller");
}

#[test]
fn a_templated_list_of_tags_is_flattened_like_ansible() {
    // `tags: "{{ my_tags }}"` listed as [["alpha","beta"]] and `-t alpha` ran nothing; Ansible
    // 2.18 lists `TASK TAGS: [alpha, beta, gamma]` and runs the task.
    let s = Scratch::new(
        "- hosts: all\n  gather_facts: false\n  vars:\n    my_tags: [alpha, beta]\n  tasks:\n    - debug: msg=tagged\n      tags: \"{{ my_tags }}\"\n    - debug: msg=other\n      tags: gamma\n",
        "a ansible_connection=local\n",
    );
    let play = |extra: &[&str]| {
        let out = s.play(extra);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let listing = play(&["--list-tags"]);
    assert!(
        listing.contains("TASK TAGS: [alpha, beta, gamma]"),
        "{listing}"
    );
    let run = play(&["-t", "alpha"]);
    assert!(
        run.contains("\"msg\": \"tagged\"") && !run.contains("\"msg\": \"other\""),
        "{run}"
    );
}

#[test]
fn templates_see_ansible_managed_and_the_template_variables() {
    // `{{ ansible_managed }}` was undefined in a `template:` task (the code that defines the
    // template module's variables was never called). ansible-playbook 2.18 renders this same
    // template to `# Ansible managed from t.j2 to <dest>`.
    let s = Scratch::new("", "a ansible_connection=local\n");
    s.write(
        "t.j2",
        "# {{ ansible_managed }} from {{ template_path }} to {{ template_destpath }}\n",
    );
    let dest = s.path("out.txt");
    s.write(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - template: src=t.j2 dest={}\n",
            dest.display()
        ),
    );
    let out = s.play(&[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        format!("# Ansible managed from t.j2 to {}\n", dest.display())
    );
}

/// Run-time failures drover diagnoses name the task's (or the expression's) file:line:col:
/// on stderr in human output (stdout stays Ansible's) and as the `error` field of the
/// `host_result` event in `--output json`. One row per kind of failure.
#[test]
fn run_time_errors_name_their_location() {
    let site = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: undefined variable in an argument
      debug:
        msg: \"{{ nope }}\"
      ignore_errors: true
    - name: loop over a string
      debug:
        msg: x
      loop: \"{{ 'abc' }}\"
      ignore_errors: true
    - name: unknown module argument
      file:
        path: /tmp
        colour: red
      ignore_errors: true
    - name: no_log keyword that is not a boolean
      command: 'true'
      no_log: \"{{ 'maybe' }}\"
      ignore_errors: true
    - name: retries that are not a number
      command: 'true'
      until: true
      retries: \"{{ 'abc' }}\"
      ignore_errors: true
";
    let s = Scratch::new(site, "a ansible_connection=local\n");
    let out = s.play(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let site_path = s.path("site.yml").display().to_string();
    for (line_col, kind) in [
        ("6:18", "template"),
        ("11:13", "invalid"),
        ("13:7", "module"),
        ("20:15", "invalid"),
        ("25:16", "invalid"),
    ] {
        let want = format!("  --> {site_path}:{line_col} ({kind} error, host a)");
        assert!(stderr.contains(&want), "missing `{want}` in:\n{stderr}");
    }
    let json = s.play(&["--output", "json"]);
    let events: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let errors: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| e.get("error"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["location"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert_eq!(
        errors[2],
        ("module".to_string(), format!("{site_path}:13:7"))
    );
}

#[test]
fn unsafe_values_are_never_templated() {
    // `!unsafe` text stays literal in play vars, task args, a YAML inventory and
    // group_vars/host_vars files, also when reached through another variable. Every value below
    // is what ansible-playbook 2.18 prints or writes for this same play and inventory.
    let s = Scratch::new(
        "",
        "all:\n  vars:\n    z: ZZ\n    gv: !unsafe '{{ z }}'\n  hosts:\n    localhost:\n      ansible_connection: local\n      hv: !unsafe '{{ z }}-h'\n      hx: '{{ hv }}'\n",
    );
    std::fs::create_dir_all(s.path("group_vars")).unwrap();
    std::fs::create_dir_all(s.path("host_vars")).unwrap();
    s.write("group_vars/all.yml", "fv: !unsafe '{{ z }}-f'\n");
    s.write("host_vars/localhost.yml", "hf: !unsafe '{{ z }}-hf'\n");
    let dest = s.path("out.txt");
    s.write(
        "site.yml",
        &format!(
            r#"- hosts: all
  gather_facts: false
  vars:
    y: !unsafe "{{{{ z }}}}"
    x: "{{{{ y }}}}"
    w: "a-{{{{ y }}}}-b"
    d:
      k: !unsafe "{{{{ z }}}}"
      j: "{{{{ z }}}}"
    all_of_them: "{{{{ [gv, hv, hx, fv, hf, hostvars.localhost.hv] }}}}"
  tasks:
    - debug: var=y
    - debug: var=x
    - debug: var=w
    - debug: var=d
    - debug: var=all_of_them
    - copy:
        content: !unsafe "{{{{ z }}}}"
        dest: {dest}
"#,
            dest = dest.display()
        ),
    );
    let out = s.play(&[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for shown in [
        r#""y": "{{ z }}""#,
        r#""x": "{{ z }}""#,
        r#""w": "a-{{ z }}-b""#,
        "\"d\": {\n        \"j\": \"ZZ\",\n        \"k\": \"{{ z }}\"\n    }",
        "\"{{ z }}\",\n        \"{{ z }}-h\",\n        \"{{ z }}-h\",\n        \"{{ z }}-f\",\n        \"{{ z }}-hf\",\n        \"{{ z }}-h\"\n",
    ] {
        assert!(stdout.contains(shown), "{shown} not in:\n{stdout}");
    }
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{{ z }}");
    // and `drover inventory --list` shows them as ansible-inventory --list does
    let listed = drover(&[
        "inventory",
        "-i",
        s.path("hosts").to_str().unwrap(),
        "--list",
    ]);
    assert!(
        text(&listed.stdout).contains(
            "\"gv\": {\n                    \"__ansible_unsafe\": \"{{ z }}\"\n                }"
        ),
        "{}",
        text(&listed.stdout)
    );
}

#[test]
fn registered_results_are_data_and_debug_templates_once() {
    // What ansible-playbook 2.18 prints for this play: a registered result that holds `{{ z }}`
    // stays that text (Ansible wraps results as unsafe), `debug: msg` is templated once (drover
    // templated it twice), a set_fact value is an ordinary variable (templated when used).
    let s = Scratch::new(
        "- hosts: all\n  gather_facts: false\n  vars:\n    z: ZZ\n  tasks:\n    - debug:\n        msg: \"{% raw %}{{ z }}{% endraw %}\"\n      register: d\n    - set_fact:\n        f1: \"{% raw %}{{ z }}{% endraw %}\"\n    - command: echo \"{% raw %}{{ z }}{% endraw %}\"\n      register: c\n    - debug: msg=\"{{ d.msg }} {{ f1 }} {{ c.stdout }}\"\n",
        "a ansible_connection=local\n",
    );
    let out = s.play(&[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let msgs: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"msg\""))
        .map(str::trim)
        .collect();
    assert_eq!(
        msgs,
        ["\"msg\": \"{{ z }}\"", "\"msg\": \"{{ z }} ZZ {{ z }}\""],
        "{stdout}"
    );
}

#[test]
fn infinities_nan_and_big_integers_print_as_python_does() {
    // Every line below is what ansible-playbook 2.18 prints for this play: JSON can hold
    // neither infinities nor integers beyond 64 bits, Python prints them bare.
    let s = Scratch::new(
        "- hosts: all\n  gather_facts: false\n  vars:\n    i: .inf\n    n: -.inf\n    nn: .nan\n    big: 123456789012345678901234567890\n  tasks:\n    - debug: var=i\n    - debug: msg=\"{{ n }}\"\n    - debug: var=nn\n    - debug: msg=\"{{ i + 1 }} {{ i > 5 }} {{ big + 1 }}\"\n    - debug: var=big\n    - debug: msg=\"{{ [i, big] | to_json }}\"\n    - debug: msg=\"{{ big * 2 }}\"\n",
        "a ansible_connection=local\n",
    );
    let out = s.play(&[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let shown: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("    \""))
        .map(str::trim)
        .collect();
    assert_eq!(
        shown,
        [
            "\"i\": Infinity",
            "\"msg\": -Infinity",
            "\"nn\": NaN",
            "\"msg\": \"inf True 123456789012345678901234567891\"",
            "\"big\": 123456789012345678901234567890",
            "\"msg\": \"[Infinity, 123456789012345678901234567890]\"",
            "\"msg\": \"246913578024691357802469135780\"",
        ],
        "{stdout}"
    );
}
