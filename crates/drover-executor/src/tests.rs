//! The executor's task pipeline on the controller itself (`ansible_connection: local`): no
//! sandbox, real shells. Each test loads a playbook from text, runs it, and reads the events.

use std::path::Path;
use std::sync::{Arc, Mutex};

use drover_events::{Event, HostResult, HostStats, Sink, Status};
use drover_inventory::Inventory;
use drover_playbook::{LoadOptions, TagFilter, load_playbook};
use drover_template::Templar;
use serde_json::{Map, Value, json};

use crate::{Executor, RunOptions};

/// Keeps every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Sink for Recorder {
    fn emit(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// What a run produced.
struct Ran {
    events: Vec<Event>,
    stats: Vec<HostStats>,
    _dir: tempfile::TempDir,
}

impl Ran {
    /// Each `HostResult` (per item too) and `LoopDone` in order, as (host, status, result).
    fn results(&self) -> Vec<&HostResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::HostResult(r) | Event::LoopDone(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn statuses(&self) -> Vec<Status> {
        self.results().iter().map(|r| r.status).collect()
    }

    fn stat(&self, host: &str) -> HostStats {
        self.stats
            .iter()
            .find(|s| s.host == host)
            .cloned()
            .unwrap_or_default()
    }
}

/// Runs `playbook` on local hosts `hosts` (an INI inventory).
fn run_with(playbook: &str, hosts: &str, check: bool) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.yml");
    std::fs::write(
        &site,
        playbook.replace("@DIR@", &dir.path().display().to_string()),
    )
    .unwrap();
    let inventory = dir.path().join("hosts");
    std::fs::write(&inventory, hosts).unwrap();
    let templar = Arc::new(Templar::default());
    let loaded = Inventory::load(&[inventory]).unwrap();
    let book = load_playbook(&site, LoadOptions::default()).unwrap();
    let recorder = Arc::new(Recorder::default());
    let options = RunOptions {
        check,
        diff: false,
        forks: 5,
        verbosity: 0,
        force_handlers: false,
        extra_vars: Map::new(),
        filter: TagFilter::new::<&str>(&[], &[]),
        look_ahead: true,
    };
    let executor = Executor::new(
        Arc::new(loaded.inventory),
        options,
        recorder.clone(),
        templar.clone(),
        templar,
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = runtime.block_on(executor.run(&[book]));
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let events = std::mem::take(&mut *recorder.0.lock().unwrap());
    Ran {
        events,
        stats: summary.stats,
        _dir: dir,
    }
}

fn run(playbook: &str) -> Ran {
    run_with(playbook, "a ansible_connection=local\n", false)
}

fn play(tasks: &str) -> String {
    format!("- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

#[test]
fn a_node_module_goes_through_probe_plan_apply_and_is_idempotent() {
    let tasks = "    - copy:\n        content: \"x\\n\"\n        dest: \"@DIR@/f\"\n    - copy:\n        content: \"x\\n\"\n        dest: \"@DIR@/f\"\n";
    let ran = run(&play(tasks));
    assert_eq!(ran.statuses(), [Status::Changed, Status::Ok]);
    let trips: Vec<u32> = ran.results().iter().map(|r| r.round_trips).collect();
    // a change: probe + apply; already right: the probe only
    assert_eq!(trips, [2, 1]);
    assert_eq!(ran.stat("a").changed, 1);
}

#[test]
fn check_mode_predicts_without_touching_and_commands_are_skipped() {
    let tasks = "    - copy:\n        content: \"x\\n\"\n        dest: \"@DIR@/f\"\n    - command: touch @DIR@/g\n    - stat:\n        path: \"@DIR@/f\"\n      register: st\n    - assert:\n        that: not st.stat.exists\n";
    let ran = run_with(&play(tasks), "a ansible_connection=local\n", true);
    assert_eq!(
        ran.statuses(),
        [Status::Changed, Status::Skipped, Status::Ok, Status::Ok]
    );
}

#[test]
fn typed_errors_reach_the_event_with_their_kind_and_location() {
    let tasks = "    - debug:\n        msg: \"{{ nope }}\"\n      ignore_errors: true\n    - file:\n        path: /tmp\n        colour: red\n      ignore_errors: true\n    - command: 'true'\n      vars:\n        ansible_connection: carrier-pigeon\n      ignore_errors: true\n    - lineinfile:\n        path: \"@DIR@/f\"\n        regexp: \"(unclosed\"\n        line: x\n        create: true\n      ignore_errors: true\n    - copy:\n        src: no-such-file.txt\n        dest: \"@DIR@/g\"\n      ignore_errors: true\n";
    let ran = run(&play(tasks));
    let errors: Vec<(String, String)> = ran
        .results()
        .iter()
        .map(|r| {
            let e = r.error.as_ref().expect("a typed error");
            let location = e.location.clone().unwrap_or_default();
            let line_col = location.rsplitn(3, ':').take(2).collect::<Vec<_>>();
            (e.kind.clone(), format!("{}:{}", line_col[1], line_col[0]))
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("template".to_string(), "5:18".to_string()),
            ("module".to_string(), "7:7".to_string()),
            ("invalid".to_string(), "11:7".to_string()),
            // a bad regex and a missing `src`: the module's errors, at the task
            ("module".to_string(), "15:7".to_string()),
            ("module".to_string(), "21:7".to_string()),
        ]
    );
    assert!(ran.results().iter().all(|r| r.ignored));
}

#[test]
fn failed_when_and_changed_when_see_the_result_and_keep_its_changed() {
    let tasks = "    - shell: echo hi; exit 3\n      register: r\n      failed_when: r.rc != 3\n    - command: echo hi\n      changed_when: false\n    - command: echo hi\n      register: r2\n      failed_when: \"'hi' in r2.stdout\"\n      ignore_errors: true\n";
    let ran = run(&play(tasks));
    assert_eq!(
        ran.statuses(),
        [Status::Changed, Status::Ok, Status::Failed]
    );
    assert_eq!(ran.results()[2].result["failed_when_result"], json!(true));
}

#[test]
fn until_retries_until_the_condition_holds() {
    let tasks = "    - shell: echo x >> @DIR@/n; wc -l < @DIR@/n\n      register: r\n      until: r.stdout | int >= 3\n      retries: 5\n      delay: 0\n";
    let ran = run(&play(tasks));
    let retries = ran
        .events
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .count();
    assert_eq!(retries, 2);
    assert_eq!(ran.results()[0].result["attempts"], json!(3));
    assert_eq!(ran.statuses(), [Status::Changed]);
}

#[test]
fn a_loop_reports_each_item_then_the_summary() {
    let tasks = "    - command: echo {{ item }}\n      loop: [1, 2, 3]\n      when: item != 2\n      register: r\n    - assert:\n        that:\n          - r.results | length == 3\n          - r.results[1].skipped\n";
    let ran = run(&play(tasks));
    assert_eq!(
        ran.statuses(),
        [
            Status::Changed,
            Status::Skipped,
            Status::Changed,
            Status::Changed,
            Status::Ok
        ]
    );
}

#[test]
fn no_log_censors_results_and_failures() {
    let tasks = "    - command: echo secret-value\n      no_log: true\n    - fail:\n        msg: secret-value\n      no_log: \"{{ true }}\"\n      ignore_errors: true\n    - debug:\n        msg: \"{{ undefined_secret }}\"\n      no_log: true\n      ignore_errors: true\n";
    let ran = run(&play(tasks));
    let text = format!("{:?}", ran.results());
    assert!(!text.contains("secret-value"), "{text}");
    assert!(!text.contains("undefined_secret"), "{text}");
    // the location of the failure stays
    let failure = ran.results()[2].error.clone().unwrap();
    assert!(failure.location.unwrap().ends_with(":11:18"));
}

/// `always:` runs for hosts that failed in the block and those that did not, and a host that
/// failed stays failed afterwards (with no flag flipped back and forth).
#[test]
fn always_runs_for_failed_hosts_who_stay_failed() {
    let playbook = "- hosts: all\n  gather_facts: false\n  tasks:\n    - block:\n        - command: /bin/false\n          when: inventory_hostname == 'a'\n      always:\n        - command: echo first-in-always\n        - command: /bin/false\n          when: inventory_hostname == 'b'\n        - command: echo after-a-failure-in-always\n    - command: echo next\n";
    let ran = run_with(
        playbook,
        "a ansible_connection=local\nb ansible_connection=local\nc ansible_connection=local\n",
        false,
    );
    let hosts_of = |cmd: &str| -> Vec<String> {
        let mut hosts: Vec<String> = ran
            .results()
            .iter()
            .filter(|r| {
                r.result
                    .get("cmd")
                    .is_some_and(|c| c.to_string().contains(cmd))
            })
            .map(|r| r.host.clone())
            .collect();
        hosts.sort();
        hosts
    };
    assert_eq!(hosts_of("first-in-always"), ["a", "b", "c"]);
    // b failed inside `always`: it leaves it; a (failed before it) goes on inside it
    assert_eq!(hosts_of("after-a-failure"), ["a", "c"]);
    // after the block, only the host that never failed
    assert_eq!(hosts_of("next"), ["c"]);
    assert_eq!((ran.stat("a").failed, ran.stat("b").failed), (1, 1));
}

#[test]
fn rescue_clears_the_failure_and_counts_it_rescued() {
    let tasks = "    - block:\n        - command: /bin/false\n      rescue:\n        - debug:\n            msg: \"{{ ansible_failed_result.rc }}\"\n    - command: echo next\n";
    let ran = run(&play(tasks));
    let s = ran.stat("a");
    assert_eq!((s.failed, s.rescued), (0, 1));
    assert_eq!(ran.results()[1].result["msg"], json!("1"));
    assert_eq!(ran.statuses().last(), Some(&Status::Changed));
}

#[test]
fn engine_modules_set_facts_and_include_vars() {
    let playbook = "- hosts: all\n  gather_facts: false\n  tasks:\n    - set_fact:\n        \"{{ 'x' ~ 1 }}\": 5\n    - include_vars:\n        file: \"@DIR@/v.yml\"\n    - assert:\n        that: [x1 == 5, from_file == 'yes']\n";
    let ran = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.yml");
        std::fs::write(&path, "from_file: 'yes'\n").unwrap();
        let text = playbook.replace("@DIR@/v.yml", &path.display().to_string());
        let ran = run(&text);
        drop(dir);
        ran
    };
    assert_eq!(ran.statuses(), [Status::Ok, Status::Ok, Status::Ok]);
}

#[test]
fn drover_var_origin_names_the_inventory_line_of_the_current_hosts_var() {
    // `a ansible_connection=local pg_role=primary`: the value starts in column 36
    let tasks = "    - assert:\n        that:\n          - lookup('drover_var_origin', 'pg_role').endswith('/hosts:1:36')\n          - lookup('drover_var_origin', 'pg_nope') == ''\n";
    let ran = run_with(
        &play(tasks),
        "a ansible_connection=local pg_role=primary\n",
        false,
    );
    assert_eq!(ran.statuses(), [Status::Ok], "{:?}", ran.results());
}

#[test]
fn registered_results_are_data_not_templates() {
    let tasks = "    - command: echo '{{ '{{' }} x {{ '}}' }}'\n      register: r\n    - set_fact:\n        seen: \"{{ r.stdout }}\"\n    - assert:\n        that: r.stdout == '{' ~ '{ x }' ~ '}'\n";
    let ran = run(&format!(
        "- hosts: all\n  gather_facts: false\n  vars:\n    x: X\n  tasks:\n{tasks}"
    ));
    assert_eq!(
        ran.statuses(),
        [Status::Changed, Status::Ok, Status::Ok],
        "{:?}",
        ran.results()
    );
}

#[test]
fn an_unknown_delegate_transport_is_an_error_not_a_fallback() {
    let tasks = "    - command: touch @DIR@/ran\n      vars:\n        ansible_connection: docker\n      ignore_errors: true\n";
    let ran = run(&play(tasks));
    let r = ran.results()[0];
    assert_eq!(r.status, Status::Failed);
    assert!(
        r.result["msg"]
            .as_str()
            .unwrap()
            .contains("`ansible_connection: docker` is not supported"),
        "{:?}",
        r.result
    );
    assert!(!Path::new(&ran._dir.path().join("ran")).exists());
    let _ = Value::Null;
}

#[test]
fn diffs_are_sent_only_when_the_tasks_diff_mode_is_on() {
    let tasks = "    - copy:\n        content: \"a\\n\"\n        dest: \"@DIR@/f\"\n    - copy:\n        content: \"b\\n\"\n        dest: \"@DIR@/f\"\n    - copy:\n        content: \"c\\n\"\n        dest: \"@DIR@/f\"\n      diff: true\n";
    let ran = run(&play(tasks));
    let diffs: Vec<usize> = ran.results().iter().map(|r| r.diffs.len()).collect();
    assert_eq!(diffs, [0, 0, 1]);
    assert!(ran.results()[2].diffs[0].unified.contains("-b\n+c"));
}

#[test]
fn an_include_that_cannot_be_loaded_names_the_include_task() {
    // as in Ansible, a failed include ends the host's play even with ignore_errors: one run each
    let failure = |tasks: &str| {
        let ran = run(&play(tasks));
        let e = ran.results()[0].error.clone().unwrap();
        (e.kind, e.location.unwrap())
    };
    let (kind, location) = failure("    - include_tasks: missing.yml\n");
    assert_eq!(kind, "include");
    assert!(location.ends_with("site.yml:4:7"), "{location}");
    // an error inside the included file points there
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(&broken, "- debug: msg=x\n  bogus_keyword: 1\n").unwrap();
    let (kind, location) = failure(&format!("    - include_tasks: {}\n", broken.display()));
    assert_eq!(kind, "include");
    assert!(location.contains("broken.yml:2:"), "{location}");
}
