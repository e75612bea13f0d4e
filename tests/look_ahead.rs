#![allow(clippy::unwrap_used)]
//! The look-ahead (probes of the tasks ahead taken in one round trip) changes nothing anyone
//! can see but the number of round trips: over every parity fixture, a first run, a rerun,
//! `--check` and `--diff` print the same output and leave the same files with it on and off
//! (`DROVER_LOOK_AHEAD=false`); and a probe taken before a change is never used, on the host
//! that changed or on another one.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{copy_tree, without_times};

/// One fixture copied twice: look-ahead off (`off/`) and on (`on/`).
struct Fixture {
    dir: tempfile::TempDir,
    /// Two local hosts for fixtures with more than `site.yml`, as the parity tests run them.
    multi: bool,
}

fn fixture(name: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(name);
    let multi = std::fs::read_dir(&src).unwrap().count() > 1;
    for mode in ["off", "on"] {
        let root = dir.path().join(mode);
        copy_tree(&src, &root);
        std::fs::create_dir_all(root.join("out")).unwrap();
        let hosts = if multi {
            "h1 ansible_connection=local\nh2 ansible_connection=local\n"
        } else {
            "localhost ansible_connection=local\n"
        };
        std::fs::write(root.join("hosts"), hosts).unwrap();
    }
    Fixture { dir, multi }
}

/// Runs drover on `root` with the look-ahead `on` or off: (exit code, stdout with the
/// directory replaced, stderr).
fn drover(root: &Path, on: bool, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .current_dir(root)
        .arg("play")
        .arg(root.join("site.yml"))
        .arg("-i")
        .arg(root.join("hosts"))
        .arg("-e")
        .arg(format!("out_dir={}", root.join("out").display()))
        .args(extra)
        .env("NO_COLOR", "1")
        .env("DROVER_LOOK_AHEAD", if on { "true" } else { "false" })
        .output()
        .unwrap();
    let clean = |bytes: &[u8]| {
        without_times(
            &String::from_utf8_lossy(bytes).replace(&root.display().to_string(), "<root>"),
        )
    };
    (out.status.code(), clean(&out.stdout), clean(&out.stderr))
}

/// Every file under `dir` with its contents and mode, sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let contents = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.push((
                path.strip_prefix(dir).unwrap().to_path_buf(),
                contents,
                meta.permissions().mode(),
            ));
        }
    }
    out.sort();
    out
}

/// The parity fixtures, each a directory under `tests/parity/`.
fn parity_fixtures() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    names
}

#[test]
fn the_same_output_with_and_without_look_ahead_over_the_parity_fixtures() {
    let fixtures = parity_fixtures();
    assert!(fixtures.len() >= 8, "{fixtures:?}");
    for name in &fixtures {
        let fixture = fixture(name);
        let steps: &[(&str, &[&str])] = &[
            ("first run", &[]),
            ("rerun", &[]),
            ("check", &["--check"]),
            ("diff", &["--diff"]),
            ("check and diff", &["--check", "--diff"]),
        ];
        for (step, args) in steps {
            let mut args = args.to_vec();
            if fixture.multi {
                // both tools' parity runs use one fork for a stable host order
                args.extend(["-f", "1"]);
            }
            let off = drover(&fixture.dir.path().join("off"), false, &args);
            let on = drover(&fixture.dir.path().join("on"), true, &args);
            assert_eq!(
                off, on,
                "{name}, {step}: output differs with the look-ahead"
            );
            assert_eq!(
                files(&fixture.dir.path().join("off/out")),
                files(&fixture.dir.path().join("on/out")),
                "{name}, {step}: files differ with the look-ahead"
            );
        }
    }
}

/// A directory holding `playbook` as `site.yml`, `hosts` as the inventory and an empty `out/`.
fn case_dir(playbook: &str, hosts: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    std::fs::write(dir.path().join("hosts"), hosts).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    dir
}

/// The round trips a JSON run reports, summed over its host results (not loop summaries).
fn round_trips(json: &str) -> u64 {
    json.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result")
        .map(|e| e["round_trips"].as_u64().unwrap_or(0))
        .sum()
}

/// A no-op rerun of a dozen file tasks (two loops among them) takes one round trip with the
/// look-ahead, one per probe without it.
#[test]
fn a_no_op_rerun_takes_one_round_trip() {
    let dir = case_dir(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: path={{ out_dir }}/d state=directory
    - copy: dest={{ out_dir }}/d/{{ item }} content="{{ item }}\n"
      loop: [a, b, c, d, e]
    - lineinfile: path={{ out_dir }}/d/l line=more create=yes
    - stat: path={{ out_dir }}/d/a
      register: st
    - debug: msg="size {{ st.stat.size }}"
    - template: src=t.j2 dest={{ out_dir }}/d/t
    - file: path={{ out_dir }}/d/{{ item }} mode=0600
      loop: [a, b, c]
"#,
        "h1 ansible_connection=local\n",
    );
    let root = dir.path();
    std::fs::write(root.join("t.j2"), "hello {{ inventory_hostname }}\n").unwrap();
    let run = |on: bool| {
        let (code, stdout, stderr) = drover(root, on, &["--output", "json"]);
        assert_eq!(code, Some(0), "{stderr}");
        stdout
    };
    run(true);
    let off = run(false);
    let on = run(true);
    assert_eq!(round_trips(&off), 12, "{off}");
    assert_eq!(round_trips(&on), 1, "{on}");
    assert!(on.contains(r#""size 2""#) || on.contains("size 2"), "{on}");
}

/// A task that changes a file, then one that reads it: the second task's probe went out in the
/// first one's batch, before the change, and must not be used (on the host that changed it,
/// nor on another host whose batch was taken while the change ran).
#[test]
fn a_probe_taken_before_a_change_is_never_used() {
    let dir = case_dir(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: the same file on both hosts, made the same
      copy: dest={{ out_dir }}/stable content=x
    - name: h1 writes the shared file; on h2 this is the stable file again (a no-op)
      copy:
        dest: "{{ out_dir }}/{{ 'shared' if inventory_hostname == 'h1' else 'stable' }}"
        content: "{{ 'written by h1' if inventory_hostname == 'h1' else 'x' }}"
    - name: both read the shared file
      stat: path={{ out_dir }}/shared
      register: shared
    - name: on h1, the file its own task wrote; on h2, the file h1 wrote
      debug:
        msg: "{{ inventory_hostname }} sees {{ shared.stat.exists }} {{ shared.stat.size | default(0) }}"
"#,
        "h1 ansible_connection=local\nh2 ansible_connection=local\n",
    );
    let root = dir.path();
    for attempt in 0..5 {
        let out = root.join("out");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        // the stable file exists: on h2 the second task is a no-op that batches the stat
        std::fs::write(out.join("stable"), "x").unwrap();
        let (code, stdout, stderr) = drover(root, true, &[]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        for host in ["h1", "h2"] {
            assert!(
                stdout.contains(&format!("\"msg\": \"{host} sees True 13\"")),
                "attempt {attempt}: {host} used a probe taken before h1's change:\n{stdout}"
            );
        }
    }
}

/// Runs `playbook` on one local host `h1` in a fresh directory, with `background` (a shell
/// command, run from the directory) started just before; returns drover's stdout.
fn run_with_background(playbook: &str, background: &str) -> String {
    let dir = case_dir(playbook, "h1 ansible_connection=local\n");
    let root = dir.path();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(background)
        .current_dir(root.join("out"))
        .spawn()
        .unwrap();
    let (code, stdout, stderr) = drover(root, true, &[]);
    child.wait().unwrap();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    stdout
}

/// What happens while drover waits (a retry's delay, a `pause`, a `wait_for`) or what a module
/// changes without a request of its own (`fetch` writes on the controller) ends what was taken
/// before: the tasks after see the world as it is then.
#[test]
fn waits_and_controller_writes_end_what_was_taken_before() {
    // a retried probe whose batch took the same request for the next task: the file appears
    // during the first delay, so the second attempt must see it (a reused output would take a
    // third attempt), and so must the next task
    let out = run_with_background(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - stat: path={{ out_dir }}/ready
      register: first
      until: first.stat.exists
      retries: 10
      delay: 1
    - stat: path={{ out_dir }}/ready
      register: second
    - debug: msg="second sees {{ second.stat.exists }} after {{ first.attempts }}"
"#,
        "sleep 0.5; touch ready",
    );
    assert!(
        out.contains("\"msg\": \"second sees True after 1\"")
            || out.contains("\"msg\": \"second sees True after 2\""),
        "{out}"
    );

    // a probe kept for a task that was then skipped, and the same request after a pause
    // during which the file appeared
    let out = run_with_background(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: a no-op, whose batch takes the probes ahead
      file: path={{ out_dir }} state=directory
    - set_fact:
        look: false
    - stat: path={{ out_dir }}/late
      when: look | default(true)
    - pause: seconds=2
    - stat: path={{ out_dir }}/late
      register: late
    - debug: msg="after the pause {{ late.stat.exists }}"
"#,
        "sleep 1; touch late",
    );
    assert!(out.contains("\"msg\": \"after the pause True\""), "{out}");

    // fetch writes on the controller in its finish: the stat after it sees the copy
    let out = run_with_background(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: dest={{ out_dir }}/src content=fetched
    - fetch: src={{ out_dir }}/src dest={{ out_dir }}/fetched/
    - stat: path={{ out_dir }}/fetched/h1{{ out_dir }}/src
      register: copy
    - debug: msg="fetched {{ copy.stat.exists }}"
"#,
        "true",
    );
    assert!(out.contains("\"msg\": \"fetched True\""), "{out}");
}
