//! Load-time errors: each names file:line:column, quotes the line, suggests the nearest valid
//! name and says what to do. Unsupported Ansible features are refused by name.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use drover_playbook::{LoadOptions, load_playbook};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Loads `site.yml` from a temp dir holding `files`; returns the rendered error with the temp
/// path replaced by `<dir>`.
fn load_error(files: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), files);
    let err = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap_err();
    err.to_string()
        .replace(&tmp.path().display().to_string(), "<dir>")
}

#[test]
fn unknown_play_keyword_is_pinned() {
    let got = load_error(&[("site.yml", "- hosts: all\n  taks:\n    - ping:\n")]);
    assert_eq!(
        got,
        "error: unknown play keyword `taks`\n --> <dir>/site.yml:2:3\n  |\n2 |   taks:\n  |   ^^^^ not a play keyword\n  = help: did you mean `tasks` or `tags`? (fix the spelling, or remove the key)\n"
    );
}

#[test]
fn unknown_module_in_role_points_into_the_role_file() {
    let got = load_error(&[
        ("site.yml", "- hosts: all\n  roles: [web]\n"),
        (
            "roles/web/tasks/main.yml",
            "- name: install\n  packge: name=nginx\n",
        ),
    ]);
    assert!(
        got.contains("unknown task keyword or module `packge`"),
        "{got}"
    );
    assert!(got.contains("<dir>/roles/web/tasks/main.yml:2:3"), "{got}");
    assert!(got.contains("did you mean `package`?"), "{got}");
    assert!(got.contains("2 |   packge: name=nginx"), "{got}");
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let cases: &[(&str, &str)] = &[
        (
            "- hosts: all\n  vars_prompt:\n    - name: x\n",
            "`vars_prompt` is not supported",
        ),
        (
            "- hosts: all\n  strategy: free\n",
            "only `strategy: linear`",
        ),
        (
            "- hosts: all\n  tasks:\n    - local_action: command id\n",
            "`local_action` is not supported",
        ),
        (
            "- hosts: all\n  tasks:\n    - command: sleep 9\n      async: 10\n      poll: 0\n",
            "`async` is not supported",
        ),
        (
            "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      with_fileglob: '*.j2'\n",
            "`with_fileglob` is not supported",
        ),
        (
            "- hosts: all\n  tasks:\n    - community.general.ufw: rule=allow\n",
            "`community.general.ufw` is not supported",
        ),
        (
            "- hosts: all\n  tasks:\n    - group_by: key=x\n",
            "`group_by` is not supported",
        ),
        (
            "- hosts: all\n  vars:\n    secret: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n",
            "`!vault`",
        ),
        (
            "- hosts: all\n  tasks:\n    - debug: msg=hi\n      loop: [1]\n      loop_control: {break_when: x}\n",
            "`break_when` is not supported",
        ),
    ];
    for (site, want) in cases {
        let got = load_error(&[("site.yml", site)]);
        assert!(got.contains(want), "want {want:?} in:\n{got}");
        assert!(got.contains("<dir>/site.yml:"), "no location in:\n{got}");
    }
}

#[test]
fn structural_errors_say_what_to_do() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("site.yml", "- name: no hosts\n  tasks: []\n")],
            "play has no `hosts`",
        ),
        (
            &[("site.yml", "- hosts: all\n  roles: [nope]\n")],
            "role `nope` not found",
        ),
        (
            &[
                ("site.yml", "- hosts: all\n  roles: [wbe]\n"),
                ("roles/web/tasks/main.yml", "- ping:\n"),
            ],
            "roles beside the playbook: web",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - import_tasks: missing.yml\n",
            )],
            "cannot find the task file `missing.yml`",
        ),
        (
            &[
                (
                    "site.yml",
                    "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
                ),
                ("a.yml", "- import_tasks: a.yml\n"),
            ],
            "import loop",
        ),
        (
            &[
                ("site.yml", "- hosts: all\n  roles: [a]\n"),
                ("roles/a/meta/main.yml", "dependencies: [b]\n"),
                ("roles/b/meta/main.yml", "dependencies: [a]\n"),
            ],
            "depends on itself",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - block:\n        - ping:\n      register: x\n",
            )],
            "unknown block keyword `register`",
        ),
        (
            &[
                (
                    "site.yml",
                    "- hosts: all\n  tasks:\n    - import_role: {name: r, tasks_from: nope}\n",
                ),
                ("roles/r/tasks/main.yml", "- ping:\n"),
            ],
            "has no task file `nope`",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - include_tasks: {file: a.yml, aply: {tags: x}}\n",
            )],
            "did you mean `apply`?",
        ),
        (
            &[("site.yml", "- import_playbook: other.yml\n")],
            "cannot find the playbook `other.yml`",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - shell: echo \"unterminated\n",
            )],
            "unbalanced jinja2 block or quotes",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - ping:\n      tags: {a: 1}\n",
            )],
            "`tags` must be a list of strings",
        ),
        (
            &[(
                "site.yml",
                "- hosts: all\n  tasks:\n    - import_playbook: x.yml\n",
            )],
            "only valid at play level",
        ),
        (
            &[("site.yml", "hosts: all\n")],
            "a playbook must be a list of plays",
        ),
    ];
    for (files, want) in cases {
        let got = load_error(files);
        assert!(got.contains(want), "want {want:?} in:\n{got}");
    }
}

#[test]
fn loads_every_supported_keyword() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "site.yml",
                r#"- name: all keywords
  hosts: [web, db]
  vars: {a: 1}
  vars_files: [v.yml]
  become: true
  become_user: root
  gather_facts: false
  connection: ssh
  serial: 1
  any_errors_fatal: true
  max_fail_percentage: 10
  ignore_errors: false
  environment: {X: "1"}
  strategy: linear
  tags: [p]
  pre_tasks:
    - ansible.builtin.ping:
  roles:
    - { role: r, when: a == 1, tags: [rt], vars: {b: 2}, param: 3, become: true }
  tasks:
    - name: every task keyword
      shell: echo {{ item }}
      args: {chdir: /tmp}
      when: [a == 1, b == 2]
      loop: [1, 2]
      loop_control: {loop_var: item, label: "{{ item }}", index_var: i, pause: 1, extended: true}
      register: out
      notify: [h1, topic]
      tags: t
      become: true
      become_user: postgres
      ignore_errors: true
      ignore_unreachable: true
      changed_when: false
      failed_when: out.rc > 1
      delegate_to: localhost
      run_once: true
      throttle: 1
      no_log: true
      check_mode: false
      diff: false
      until: out is success
      retries: 3
      delay: 1
      environment: {Y: "2"}
      vars: {c: 3}
      any_errors_fatal: false
    - with_items: [1]
      debug: msg={{ item }}
    - with_dict: {a: 1}
      debug: var=item
    - include_role: {name: r, tasks_from: main, apply: {tags: [x]}}
  post_tasks:
    - meta: flush_handlers
  handlers:
    - name: h1
      listen: topic
      command: "true"
"#,
            ),
            ("v.yml", "x: 1\n"),
            ("roles/r/tasks/main.yml", "- name: in r\n  debug: msg=hi\n"),
            ("roles/r/handlers/main.yml", "- name: rh\n  debug: msg=h\n"),
        ],
    );
    let pb = load_playbook(&tmp.path().join("site.yml"), LoadOptions::default()).unwrap();
    let play = &pb.plays[0];
    assert_eq!(play.hosts, ["web", "db"]);
    assert_eq!(play.keywords.literal_bool("become"), Some(true));
    assert_eq!(play.handlers.len(), 2);
    assert_eq!(play.handlers[0].display_name(), "r : rh");
    assert_eq!(
        play.handlers[0].when.len(),
        1,
        "role handlers inherit the role's `when`"
    );
    assert_eq!(play.handlers[1].listen, ["topic"]);
    let drover_playbook::Item::Task(t) = &play.tasks[0] else {
        panic!()
    };
    assert_eq!(t.when.len(), 2);
    assert_eq!(t.keywords.get("become_user").unwrap().value, "postgres");
    assert_eq!(t.keywords.environment.len(), 2, "play and task environment");
    assert_eq!(t.tags, ["p", "t"]);
    assert_eq!(t.loop_spec.as_ref().unwrap().kind, "loop");
    assert_eq!(t.arg_str("chdir"), Some("/tmp"));
    assert_eq!(t.arg_str("_raw_params"), Some("echo {{ item }}"));
    let drover_playbook::Item::Task(r) = &play.role_tasks[0] else {
        panic!()
    };
    assert_eq!(r.display_name(), "r : in r");
    assert_eq!(r.when.len(), 1);
    assert_eq!(r.tags, ["p", "rt"]);
    assert_eq!(r.role.as_ref().unwrap().layer.params["param"], 3);
}

#[test]
fn meta_actions_drover_does_not_run_are_refused_at_load_time() {
    // `meta: end_batch` passed --syntax-check and failed at run time.
    for (action, why) in [
        ("end_batch", "use `meta: end_play`"),
        ("end_role", "skip the rest of the role"),
        ("refresh_inventory", "does not change the inventory"),
    ] {
        let got = load_error(&[(
            "site.yml",
            &format!("- hosts: all\n  tasks:\n    - meta: {action}\n"),
        )]);
        assert!(
            got.contains(&format!("`meta: {action}` is not supported by drover")),
            "{got}"
        );
        assert!(got.contains("<dir>/site.yml:3:13"), "{got}");
        assert!(got.contains(why), "{got}");
    }
}
