//! The human reporter on a real terminal: this test re-runs itself inside a pseudo-terminal
//! (util-linux `script`) and checks what reached the terminal: colors on (unless `NO_COLOR`),
//! the progress line drawn and cleared around log lines, banners as wide as Ansible's
//! (`columns - 1`).
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use drover_events::{Event, HostResult, HostStats, Sink, Status};
use drover_report::{ColorChoice, HumanOptions, HumanReporter};
use serde_json::json;

const CHILD: &str = "DROVER_REPORT_PTY_CHILD";

/// Runs only inside the pseudo-terminal started by the tests below.
#[test]
fn pty_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let r = HumanReporter::stdio(HumanOptions::for_stdout(0, false, false, ColorChoice::Auto));
    r.emit(&Event::PlayStart {
        name: "tty".into(),
        hosts: vec![],
    });
    r.emit(&Event::TaskStart {
        name: "slow task".into(),
        action: String::new(),
        location: String::new(),
        handler: false,
        hosts: 2,
    });
    for host in ["h1", "h2"] {
        std::thread::sleep(Duration::from_millis(400));
        r.emit(&Event::HostResult(HostResult {
            host: host.into(),
            delegated_to: None,
            status: Status::Changed,
            item: None,
            result: json!({"changed": true}),
            ignored: false,
            diffs: vec![],
            duration: Duration::from_millis(400),
            round_trips: 1,
            error: None,
        }));
    }
    r.emit(&Event::TaskDone {
        duration: Duration::from_millis(800),
    });
    r.emit(&Event::Recap {
        hosts: vec![HostStats {
            host: "h1".into(),
            ok: 1,
            changed: 1,
            ..Default::default()
        }],
        duration: Duration::from_secs(1),
        interrupted: false,
    });
}

/// Runs the child test in a 40x120 pty; returns what the terminal received.
fn run_in_pty(no_color: bool) -> Option<String> {
    run_in_pty_with(no_color, "xterm")
}

/// Same with a given `TERM`.
fn run_in_pty_with(no_color: bool, term: &str) -> Option<String> {
    let have_script = Command::new("script").arg("--version").output().is_ok();
    if !have_script {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "util-linux `script` is needed for the terminal test (apt-get install bsdutils)"
        );
        eprintln!("skipping: `script` (util-linux) not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "drover-report-pty-{}-{no_color}-{term}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("typescript");
    let exe = std::env::current_exe().unwrap();
    let inner = format!(
        "stty rows 40 cols 120; {} --exact pty_child --nocapture --test-threads 1",
        exe.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &inner])
        .arg(&log)
        .env(CHILD, "1")
        .env("TERM", term);
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let status = cmd.output().unwrap().status;
    assert!(status.success(), "child failed: {status}");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    std::fs::remove_dir_all(&dir).unwrap();
    Some(text)
}

#[test]
fn human_output_on_a_terminal() {
    let Some(text) = run_in_pty(false) else {
        return;
    };
    let lines: Vec<&str> = text.split("\r\n").collect();
    // Banners fill columns - 1 = 119, plus the star separator: 120 cells, as ansible-playbook.
    let banner = lines.iter().find(|l| l.starts_with("PLAY [tty] ")).unwrap();
    assert_eq!(banner.len(), 120, "{banner:?}");
    // Colors are on.
    assert!(text.contains("\x1b[0;33mchanged: [h1]\x1b[0m"), "{text:?}");
    // The progress line was drawn.
    assert!(text.contains("TASK [slow task] [0/2]"), "{text:?}");
    // Every host line starts on a line the bar was just cleared from (never torn).
    for (at, _) in text.match_indices("changed: [h") {
        assert!(
            text[..at].ends_with("\r\x1b[2K\x1b[0;33m"),
            "{:?}",
            &text[..at]
        );
    }
    // After the task the bar is cleared before the recap, and never drawn again.
    assert!(text.contains("\r\x1b[2K\r\nPLAY RECAP"), "{text:?}");
    let after = &text[text.find("PLAY RECAP").unwrap()..];
    assert!(!after.contains("slow task"), "{after:?}");
}

#[test]
fn no_color_on_a_terminal() {
    let Some(text) = run_in_pty(true) else {
        return;
    };
    assert!(text.contains("\r\x1b[2Kchanged: [h1]\r\n"), "{text:?}");
    assert!(!text.contains("\x1b[0;33m"), "{text:?}");
}

#[test]
fn dumb_terminal_gets_plain_lines() {
    let Some(text) = run_in_pty_with(false, "dumb") else {
        return;
    };
    assert!(!text.contains("\x1b["), "{text:?}");
    assert!(!text.contains("[0/2]"), "{text:?}");
    assert!(
        text.contains("\r\nchanged: [h1]\r\nchanged: [h2]\r\n"),
        "{text:?}"
    );
}
