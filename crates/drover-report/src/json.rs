//! `--output json`: one JSON object per event per line, flushed per line. The format is
//! documented (with its stability promise) in docs/output-json.md.

use std::io::Write;
use std::sync::Mutex;

use drover_events::{Event, Sink};

/// Writes each event as `serde_json::to_string(&event)` plus `\n`, flushing after every line so
/// a consumer sees events as they happen. Write errors (a closed pipe) are ignored, as
/// ansible-playbook ignores `EPIPE` on stdout; the run itself goes on.
pub struct JsonReporter {
    writer: Mutex<Box<dyn Write + Send>>,
}

impl JsonReporter {
    /// A reporter writing to `writer` (stdout for `--output json`).
    pub fn new(writer: Box<dyn Write + Send>) -> JsonReporter {
        JsonReporter {
            writer: Mutex::new(writer),
        }
    }
}

impl Sink for JsonReporter {
    fn emit(&self, event: &Event) {
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        let mut w = match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = w.write_all(line.as_bytes()).and_then(|()| w.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capture;
    use std::time::Duration;

    #[test]
    fn one_tagged_object_per_line() {
        let buf = Capture::new();
        let r = JsonReporter::new(Box::new(buf.clone()));
        r.emit(&Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into()],
        });
        r.emit(&Event::TaskDone {
            duration: Duration::from_millis(12),
        });
        assert_eq!(
            buf.text(),
            "{\"event\":\"play_start\",\"name\":\"p\",\"hosts\":[\"h1\"]}\n\
             {\"event\":\"task_done\",\"duration\":12.0}\n"
        );
        assert_eq!(buf.flushes(), 2);
    }
}
