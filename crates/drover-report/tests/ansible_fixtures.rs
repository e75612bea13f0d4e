//! Byte-for-byte comparisons with real ansible-playbook 2.18 output.
//!
//! Each test feeds the event sequence the executor emits for one of the playbooks in
//! `fixtures/playbooks` and compares the human reporter's stdout with what ansible-playbook
//! printed for it (`fixtures/*.out`, made by `fixtures/capture.sh`; see `fixtures/README.md` for
//! what was normalized). Results are given in the *register* form (with `failed`/`skipped`, keys
//! in module order), so the reporter's cleaning and key sorting are part of what is checked.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use drover_events::{Diff, Event, HostResult, HostStats, Sink, Status};
use drover_report::{Capture, HumanOptions, HumanReporter, JsonReporter, exit_code};
use serde_json::{Value, json};

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

fn render(events: &[Event], opts: HumanOptions) -> (String, String) {
    let out = Capture::new();
    let err = Capture::new();
    let r = HumanReporter::new(opts, Box::new(out.clone()), Box::new(err.clone()));
    for e in events {
        r.emit(e);
    }
    (out.text(), err.text())
}

fn plain(verbosity: u8) -> HumanOptions {
    HumanOptions::plain(verbosity, false)
}

fn colored(diff: bool) -> HumanOptions {
    HumanOptions {
        color: true,
        ..HumanOptions::plain(0, diff)
    }
}

/// Compares line by line first, for a readable failure, then byte for byte.
fn assert_same(got: &str, want: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} differs", i + 1);
    }
    assert_eq!(got, want);
}

fn play(name: &str, hosts: &[&str]) -> Event {
    Event::PlayStart {
        name: name.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
    }
}

fn task(name: &str, line: u32, hosts: usize) -> Event {
    Event::TaskStart {
        name: name.into(),
        action: String::new(),
        location: format!("/tmp/drover-report-fixtures/verbose.yml:{line}"),
        handler: false,
        hosts,
    }
}

fn handler(name: &str, hosts: usize) -> Event {
    Event::TaskStart {
        name: name.into(),
        action: String::new(),
        location: String::new(),
        handler: true,
        hosts,
    }
}

fn done() -> Event {
    Event::TaskDone {
        duration: Duration::from_millis(30),
    }
}

fn hr(host: &str, status: Status, result: Value) -> HostResult {
    HostResult {
        host: host.into(),
        delegated_to: None,
        status,
        item: None,
        result,
        ignored: false,
        diffs: vec![],
        duration: Duration::from_millis(10),
        round_trips: 1,
        error: None,
    }
}

fn ev(r: HostResult) -> Event {
    Event::HostResult(r)
}

fn ignored(mut r: HostResult) -> HostResult {
    r.ignored = true;
    r
}

fn item(mut r: HostResult, label: &str) -> Event {
    r.item = Some(label.into());
    Event::HostResult(r)
}

/// The command module's result (timestamps as pinned by capture.sh), in module key order.
fn command(argv: &[&str], stdout: &str, rc: i64, changed: bool) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    let mut v = json!({
        "changed": changed, "stdout": stdout, "stderr": "", "rc": rc, "cmd": argv,
        "start": "2026-01-01 00:00:00.000000", "end": "2026-01-01 00:00:00.001000",
        "delta": "0:00:00.001000", "msg": "", "stdout_lines": lines, "stderr_lines": [],
        "failed": rc != 0,
    });
    if rc != 0 {
        v["msg"] = json!("non-zero return code");
    }
    v
}

fn with_loop_var(mut v: Value, item: &str) -> Value {
    v["item"] = json!(item);
    v["ansible_loop_var"] = json!("item");
    v
}

fn skip_result(condition: Value) -> Value {
    json!({"skipped": true, "skip_reason": "Conditional result was False",
           "false_condition": condition, "changed": false})
}

fn ok(host: &str) -> Event {
    ev(hr(host, Status::Ok, command(&["true"], "", 0, false)))
}

fn skipped(host: &str, condition: &str) -> Event {
    ev(hr(host, Status::Skipped, skip_result(json!(condition))))
}

fn loop_skipped(host: &str) -> Event {
    Event::LoopDone(hr(
        host,
        Status::Skipped,
        json!({"results": [], "skipped": true, "changed": false, "msg": "All items skipped"}),
    ))
}

fn stats(host: &str, counts: [u32; 7]) -> HostStats {
    let [ok, changed, unreachable, failed, skipped, rescued, ignored] = counts;
    HostStats {
        host: host.into(),
        ok,
        changed,
        unreachable,
        failed,
        skipped,
        rescued,
        ignored,
    }
}

fn recap(hosts: Vec<HostStats>) -> Event {
    Event::Recap {
        hosts,
        duration: Duration::from_secs(3),
        interrupted: false,
    }
}

/// fixtures/playbooks/main.yml: ok, changed, skipped, ignored failure, loops (labels, skipped
/// items, all skipped, a failed item), delegation, no_log, a role task and its handler.
fn main_events() -> Vec<Event> {
    let both = ["h1", "h2"];
    let mut e = vec![
        Event::PlaybookStart {
            path: "main.yml".into(),
            check: false,
        },
        play("Main play", &both),
        task("web : render config", 2, 2),
    ];
    for h in both {
        e.push(ev(hr(
            h,
            Status::Changed,
            command(&["echo", "configured"], "configured", 0, true),
        )));
    }
    e.push(done());
    e.extend([task("ok task", 6, 2), ok("h1"), ok("h2"), done()]);
    let nobody = "inventory_hostname == 'nobody'";
    e.extend([
        task("skipped task", 9, 2),
        skipped("h1", nobody),
        skipped("h2", nobody),
        done(),
    ]);
    e.extend([
        task("partly skipped", 12, 2),
        ok("h1"),
        skipped("h2", "inventory_hostname == 'h1'"),
        done(),
    ]);
    e.extend([
        task("failing ignored", 16, 2),
        skipped("h1", "inventory_hostname == 'h2'"),
        ev(ignored(hr(
            "h2",
            Status::Failed,
            json!({"failed": true, "msg": "boom", "changed": false}),
        ))),
        done(),
    ]);
    e.push(task("loop items", 21, 2));
    for h in both {
        let a = command(&["echo", "a"], "a", 0, false);
        let b = command(&["echo", "b"], "b", 0, true);
        e.push(item(hr(h, Status::Ok, with_loop_var(a, "a")), "a"));
        e.push(item(hr(h, Status::Changed, with_loop_var(b, "b")), "b"));
        let c = with_loop_var(skip_result(json!("item != 'c'")), "c");
        e.push(item(hr(h, Status::Skipped, c), "c"));
        e.push(Event::LoopDone(hr(
            h,
            Status::Changed,
            json!({"changed": true, "results": []}),
        )));
    }
    e.push(done());
    e.push(task("loop with label", 26, 2));
    for h in both {
        for x in ["x1", "x2"] {
            let r = command(&["true"], "", 0, false);
            e.push(item(hr(h, Status::Ok, r), x));
        }
        e.push(Event::LoopDone(hr(
            h,
            Status::Ok,
            json!({"changed": false, "results": []}),
        )));
    }
    e.push(done());
    e.push(task("loop all skipped", 33, 2));
    for h in both {
        for x in ["a", "b"] {
            e.push(item(
                hr(
                    h,
                    Status::Skipped,
                    with_loop_var(skip_result(json!(false)), x),
                ),
                x,
            ));
        }
        e.push(loop_skipped(h));
    }
    e.push(done());
    let mut delegated = hr("h1", Status::Ok, command(&["true"], "", 0, false));
    delegated.delegated_to = Some("h2".into());
    e.extend([task("delegated", 37, 2), ev(delegated), ok("h2"), done()]);
    e.push(task("secret", 42, 2));
    for h in both {
        e.push(ev(hr(
            h,
            Status::Changed,
            json!({"censored": CENSORED, "changed": true}),
        )));
    }
    e.push(done());
    e.extend([
        task("secret failure", 45, 2),
        ev(ignored(hr(
            "h1",
            Status::Failed,
            json!({"censored": CENSORED, "changed": true}),
        ))),
        skipped("h2", "inventory_hostname == 'h1'"),
        done(),
    ]);
    e.push(task("loop item fails", 51, 2));
    let t = with_loop_var(command(&["true"], "", 0, false), "true");
    let f = with_loop_var(command(&["false"], "", 1, false), "false");
    e.push(item(hr("h1", Status::Ok, t), "true"));
    e.push(item(hr("h1", Status::Failed, f), "false"));
    e.push(Event::LoopDone(ignored(hr(
        "h1",
        Status::Failed,
        json!({"failed": true, "msg": "One or more items failed", "changed": false, "results": []}),
    ))));
    for x in ["true", "false"] {
        let r = with_loop_var(skip_result(json!("inventory_hostname == 'h1'")), x);
        e.push(item(hr("h2", Status::Skipped, r), x));
    }
    e.push(loop_skipped("h2"));
    e.push(done());
    e.push(handler("web : restart web", 2));
    for h in both {
        e.push(ev(hr(
            h,
            Status::Changed,
            command(&["echo", "restarted"], "restarted", 0, true),
        )));
    }
    e.push(done());
    e.push(recap(vec![
        stats("h2", [8, 4, 0, 0, 5, 0, 1]),
        stats("h1", [10, 5, 0, 0, 3, 0, 2]),
    ]));
    e
}

#[test]
fn main_playbook_like_ansible() {
    let (out, err) = render(&main_events(), plain(0));
    assert_same(&out, include_str!("fixtures/main.out"));
    assert_eq!(err, "");
}

#[test]
fn main_playbook_colors_like_ansible() {
    let (out, _) = render(&main_events(), colored(false));
    assert_same(&out, include_str!("fixtures/main_color.out"));
}

#[test]
fn failed_host_like_ansible() {
    let events = vec![
        play("Failing play", &["h1"]),
        task("first", 5, 1),
        ok("h1"),
        done(),
        task("breaks", 8, 1),
        ev(hr(
            "h1",
            Status::Failed,
            json!({"msg": "it broke: \"quoted\" ünïcode", "changed": false, "failed": true}),
        )),
        done(),
        recap(vec![stats("h1", [1, 0, 0, 1, 0, 0, 0])]),
    ];
    let (out, _) = render(&events, plain(0));
    assert_same(&out, include_str!("fixtures/failed.out"));
    let Event::Recap { hosts, .. } = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(exit_code(hosts, false), 2, "ansible-playbook exited 2");
}

/// Ansible's linear strategy sends `NO MORE HOSTS LEFT` twice when max_fail_percentage breaks
/// the play (once for the percentage, once for "all hosts failed"); the executor emits what
/// happened and the reporter prints one banner per event.
fn no_more_hosts_events() -> Vec<Event> {
    vec![
        play("Fragile play", &["h1", "h2"]),
        task("breaks on h1", 6, 2),
        ev(hr(
            "h1",
            Status::Failed,
            json!({"failed": true, "msg": "broken", "changed": false}),
        )),
        skipped("h2", "inventory_hostname == 'h1'"),
        done(),
        Event::NoHostsRemaining,
        Event::NoHostsRemaining,
        recap(vec![
            stats("h1", [0, 0, 0, 1, 0, 0, 0]),
            stats("h2", [0, 0, 0, 0, 1, 0, 0]),
        ]),
    ]
}

#[test]
fn no_more_hosts_left_like_ansible() {
    let (out, _) = render(&no_more_hosts_events(), plain(0));
    assert_same(&out, include_str!("fixtures/no_more_hosts.out"));
    let (out, _) = render(&no_more_hosts_events(), colored(false));
    assert_same(&out, include_str!("fixtures/no_more_hosts_color.out"));
}

#[test]
fn unreachable_host_like_ansible() {
    let msg = "Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused";
    let events = vec![
        play("Unreachable play", &["127.0.0.1"]),
        task("ping it", 5, 1),
        ev(hr(
            "127.0.0.1",
            Status::Unreachable,
            json!({"unreachable": true, "msg": msg, "changed": false}),
        )),
        done(),
        recap(vec![stats("127.0.0.1", [0, 0, 1, 0, 0, 0, 0])]),
    ];
    let (out, _) = render(&events, plain(0));
    assert_same(&out, include_str!("fixtures/unreachable.out"));
    let Event::Recap { hosts, .. } = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(exit_code(hosts, false), 4, "ansible-playbook exited 4");
}

/// fixtures/playbooks/verbose.yml, run at -v and -vvv.
fn verbose_events() -> Vec<Event> {
    let facts = json!({"ansible_facts": {"word": "ünïcode \"q\"", "ratio": 0.00001,
        "nested": {"b": [1, 2], "a": {}}, "big": 1e16}, "changed": false});
    let mut echo = command(&["echo", "hi"], "hi", 0, true);
    echo["invocation"] = json!({"module_args": {
        "_raw_params": "echo hi", "_uses_shell": false, "argv": null, "chdir": null,
        "creates": null, "executable": null, "expand_argument_vars": true, "removes": null,
        "stdin": null, "stdin_add_newline": true, "strip_empty_ends": true}});
    let assert = json!({"changed": false, "msg": "All assertions passed",
                        "_ansible_verbose_always": true});
    let item_a = json!({"ansible_facts": {"item_fact": "a"}, "changed": false, "item": "a",
                        "ansible_loop_var": "item", "_ansible_item_label": "a"});
    let item_b = with_loop_var(skip_result(json!("item == 'a'")), "b");
    vec![
        Event::PlaybookStart {
            path: "/tmp/drover-report-fixtures/verbose.yml".into(),
            check: false,
        },
        play("Verbose play", &["h1"]),
        task("facts", 5, 1),
        ev(hr("h1", Status::Ok, facts)),
        done(),
        task("echo", 11, 1),
        ev(hr("h1", Status::Changed, echo)),
        done(),
        task("assert it", 13, 1),
        ev(hr("h1", Status::Ok, assert)),
        done(),
        task("skipped", 16, 1),
        ev(hr("h1", Status::Skipped, skip_result(json!(false)))),
        done(),
        task("loop facts", 19, 1),
        item(hr("h1", Status::Ok, item_a), "a"),
        item(hr("h1", Status::Skipped, item_b), "b"),
        Event::LoopDone(hr(
            "h1",
            Status::Ok,
            json!({"changed": false, "results": []}),
        )),
        done(),
        task("loop all skipped", 24, 1),
        item(
            hr(
                "h1",
                Status::Skipped,
                with_loop_var(skip_result(json!(false)), "a"),
            ),
            "a",
        ),
        loop_skipped("h1"),
        done(),
        task("secret", 28, 1),
        ev(hr(
            "h1",
            Status::Ok,
            json!({"censored": CENSORED, "changed": false}),
        )),
        done(),
        task("fail", 32, 1),
        ev(ignored(hr(
            "h1",
            Status::Failed,
            json!({"failed": true, "msg": "nope", "changed": false}),
        ))),
        done(),
        recap(vec![stats("h1", [6, 1, 0, 0, 2, 0, 1])]),
    ]
}

#[test]
fn verbose_like_ansible() {
    let (out, _) = render(&verbose_events(), plain(1));
    assert_same(&out, include_str!("fixtures/verbose.out"));
}

#[test]
fn very_verbose_like_ansible() {
    let (out, _) = render(&verbose_events(), plain(3));
    assert_same(&out, include_str!("fixtures/verbose3.out"));
}

/// The no_log'ed results print exactly as Ansible's censored ones, at every verbosity.
#[test]
fn no_log_results_print_like_ansible() {
    let events = [
        task("secret", 28, 1),
        ev(hr(
            "h1",
            Status::Ok,
            json!({"censored": CENSORED, "changed": false}),
        )),
        ev(ignored(hr(
            "h1",
            Status::Failed,
            json!({"censored": CENSORED, "changed": true}),
        ))),
    ];
    let (quiet, _) = render(&events, plain(0));
    assert!(quiet.ends_with(&format!(
        "ok: [h1]\nfatal: [h1]: FAILED! => {{\"censored\": \"{CENSORED}\", \"changed\": true}}\n...ignoring\n"
    )));
    let (verbose, _) = render(&events, plain(1));
    assert!(verbose.contains(&format!(
        "ok: [h1] => {{\"censored\": \"{CENSORED}\", \"changed\": false}}\n"
    )));
    // The same lines appear in the real captures.
    assert!(include_str!("fixtures/main.out").contains(&format!(
        "fatal: [h1]: FAILED! => {{\"censored\": \"{CENSORED}\", \"changed\": true}}\n...ignoring\n"
    )));
}

fn diff_events() -> Vec<Event> {
    let mut config = hr(
        "h1",
        Status::Changed,
        json!({"changed": true, "dest": "/tmp/drover-report-diff/app.conf",
        "diff": {"before": "port = 8300\nmode = server\n"}}),
    );
    config.diffs = vec![Diff {
        unified: "--- before: /tmp/drover-report-diff/app.conf\n+++ after: /tmp/drover-report-diff/app.conf\n\
                  @@ -1,2 +1,3 @@\n-port = 8300\n+port = 8500\n mode = server\n+log = info\n"
            .into(),
    }];
    let mut fresh = hr("h1", Status::Changed, json!({"changed": true}));
    fresh.diffs = vec![Diff {
        unified: "--- before\n+++ after: /tmp/drover-report-diff/new.conf\n@@ -0,0 +1 @@\n+fresh\n\
                  \\ No newline at end of file\n"
            .into(),
    }];
    let mut same = hr("h1", Status::Ok, json!({"changed": false}));
    // An unchanged file has no diff to show, even if one was computed.
    same.diffs = vec![Diff {
        unified: String::new(),
    }];
    vec![
        play("Diff play", &["h1"]),
        task("write config", 5, 1),
        ev(config),
        done(),
        task("write unchanged", 9, 1),
        ev(same),
        done(),
        task("write new file", 13, 1),
        ev(fresh),
        done(),
        recap(vec![stats("h1", [3, 2, 0, 0, 0, 0, 0])]),
    ]
}

#[test]
fn diff_like_ansible() {
    let (out, _) = render(&diff_events(), HumanOptions::plain(0, true));
    assert_same(&out, include_str!("fixtures/diff.out"));
    let (out, _) = render(&diff_events(), colored(true));
    assert_same(&out, include_str!("fixtures/diff_color.out"));
    // Whether a task shows its diff (`--diff`, or `diff:` on the task, block or play) is the
    // executor's decision: it sends no diffs otherwise (drover-executor's tests).
}

#[test]
fn json_lines_stream_one_event_per_line() {
    let buf = Capture::new();
    let r = JsonReporter::new(Box::new(buf.clone()));
    let events = main_events();
    for e in &events {
        r.emit(e);
    }
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), events.len());
    for (line, e) in lines.iter().zip(&events) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v, serde_json::to_value(e).unwrap());
    }
    assert_eq!(buf.flushes(), events.len());
}

/// docs/output-json.md's example stream is exactly what the JSON reporter writes.
#[test]
fn json_doc_example_is_what_the_reporter_prints() {
    let doc = include_str!("../../../docs/output-json.md");
    let start = doc.find("```jsonl\n").unwrap() + "```jsonl\n".len();
    let block = &doc[start..];
    let block = &block[..block.find("```").unwrap()];
    let mut changed = hr(
        "10.10.10.10",
        Status::Changed,
        json!({"changed": true, "dest": "/etc/consul.d/consul.json"}),
    );
    changed.diffs = vec![Diff {
        unified: "--- before: /etc/consul.d/consul.json\n+++ after: /etc/consul.d/consul.json\n\
                  @@ -1 +1 @@\n-{\"server\": false}\n+{\"server\": true}\n"
            .into(),
    }];
    changed.duration = Duration::from_micros(41_200);
    changed.round_trips = 2;
    let mut skipped = hr(
        "10.10.10.11",
        Status::Skipped,
        skip_result(json!("consul_role == 'server'")),
    );
    skipped.duration = Duration::from_micros(300);
    skipped.round_trips = 0;
    let events = [
        Event::PlaybookStart {
            path: "playbooks/site.yml".into(),
            check: false,
        },
        play("Configure consul", &["10.10.10.10", "10.10.10.11"]),
        Event::TaskStart {
            name: "consul : render config".into(),
            action: "template".into(),
            location: "roles/consul/tasks/main.yml:12".into(),
            handler: false,
            hosts: 2,
        },
        ev(changed),
        ev(skipped),
        Event::TaskDone {
            duration: Duration::from_millis(42),
        },
        Event::Warning {
            message: "consul_datacenter is not set; using 'pigsty'".into(),
        },
        Event::Recap {
            hosts: vec![
                stats("10.10.10.10", [1, 1, 0, 0, 0, 0, 0]),
                stats("10.10.10.11", [0, 0, 0, 0, 1, 0, 0]),
            ],
            duration: Duration::from_millis(1250),
            interrupted: false,
        },
    ];
    let buf = Capture::new();
    let r = JsonReporter::new(Box::new(buf.clone()));
    for e in &events {
        r.emit(e);
    }
    assert_same(&buf.text(), block);
}

/// A warning goes to stderr, wrapped at 79 columns like Ansible's (after a hyphen here), in
/// bright purple when colored; stdout is unaffected.
#[test]
fn warning_like_ansible() {
    let events = [
        Event::Warning {
            message: "Could not match supplied host pattern, ignoring: \
                      consul-servers-in-the-second-datacenter-that-does-not-exist-yet"
                .into(),
        },
        play("Warning play", &["h1"]),
        task("first", 5, 1),
        ok("h1"),
        done(),
        recap(vec![stats("h1", [1, 0, 0, 0, 0, 0, 0])]),
    ];
    let (out, err) = render(&events, plain(0));
    assert_same(&out, include_str!("fixtures/warning.out"));
    assert_same(&err, include_str!("fixtures/warning.err"));
    let (out, err) = render(&events, colored(false));
    assert_same(&out, include_str!("fixtures/warning_color.out"));
    assert_same(&err, include_str!("fixtures/warning_color.err"));
}
