//! Look-ahead: the probes of the tasks ahead, taken in the round trip of the probe that needs
//! the node now, and kept until their tasks ask for them.
//!
//! A no-op rerun otherwise costs one round trip per task per host; on a real network that is
//! the whole cost. When a task's probe must go to its node, the host's next tasks are
//! templated with what the host knows now ([`crate::task::HostTask`] does it, quietly) and
//! the read-only probes of those that can be are sent in the same request
//! ([`drover_connection::Batch`]). Their outputs wait here.
//!
//! A kept output is used only when its task, templated again when it runs, asks for exactly
//! the same request (script, `environment`, `become`) over the same connection, and when no
//! request that may change anything (anything but a probe, on any host) ran since before the
//! batch was sent: such requests move the run's change counter when they start and when they
//! end, and each kept output remembers the counter it was taken under. So a probe is never
//! used across a change, whoever made it; otherwise the task probes again. The counter also
//! moves when time passes on purpose or someone may act meanwhile (a retry's delay; after a
//! module a batch stops at: `pause`, `wait_for`, `uri`, facts, includes) and after a task
//! that was not satisfied (a module may change things without a request, as `fetch` writes on
//! the controller). Outputs are used once. A batch takes at most [`MAX_BATCH_BYTES`].
//!
//! Each host's window (how many probes a batch takes ahead) adapts: it doubles while batches
//! are used up, and shrinks when a change throws one away, so a first run that changes
//! everything sends few probes it will not use.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use drover_connection::{Output, Request};

/// The window a host starts with.
const FIRST_WINDOW: usize = 16;
/// The largest window.
const MAX_WINDOW: usize = 64;

/// The most script bytes a batch takes ahead (a plain channel or a local shell passes the
/// script as one argument, which Linux limits to 128 KiB).
pub(crate) const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The run's look-ahead state.
pub(crate) struct LookAhead {
    enabled: bool,
    /// Moves when a request that may change something starts and when it ends.
    changes: AtomicU64,
    /// Per connection (its address in the pool, stable for the run).
    hosts: Mutex<HashMap<usize, Kept>>,
}

/// One connection's kept probes.
struct Kept {
    /// The change counter when the batch was sent.
    taken_at: u64,
    probes: Vec<(Request, Output)>,
    window: usize,
    /// The change counter at this connection's last probe (a window that fell to zero opens
    /// again after a probe with no change since the one before).
    last_seen: u64,
}

impl Kept {
    fn new() -> Kept {
        Kept {
            taken_at: 0,
            probes: Vec::new(),
            window: FIRST_WINDOW,
            last_seen: u64::MAX,
        }
    }
}

/// Two requests ask the same of the node.
fn same(a: &Request, b: &Request) -> bool {
    a.script == b.script
        && a.escalation == b.escalation
        && a.stdin.is_none()
        && b.stdin.is_none()
        && a.timeout.is_none()
        && b.timeout.is_none()
}

/// A request that can go in a batch (self-contained: no stdin, no time limit).
pub(crate) fn batchable(request: &Request) -> bool {
    request.stdin.is_none() && request.timeout.is_none()
}

impl LookAhead {
    /// The run's state; `enabled: false` keeps every probe a round trip of its own.
    pub(crate) fn new(enabled: bool) -> LookAhead {
        LookAhead {
            enabled,
            changes: AtomicU64::new(0),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// A request that may change something starts or ends (on any host).
    pub(crate) fn changing(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// The change counter, read before a batch is sent.
    pub(crate) fn now(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// The kept output for `request` on connection `conn`, if it is still good (used once).
    /// Otherwise `None`, and how many probes the next batch may take ahead (0: none).
    pub(crate) fn take(&self, conn: usize, request: &Request) -> Result<Output, usize> {
        if !self.enabled {
            return Err(0);
        }
        let now = self.now();
        let mut hosts = crate::play::lock(&self.hosts);
        let kept = hosts.entry(conn).or_insert_with(Kept::new);
        let quiet_since_last = kept.last_seen == now;
        kept.last_seen = now;
        if kept.taken_at != now && !kept.probes.is_empty() {
            // a change since the batch: everything it took is thrown away
            kept.probes.clear();
            kept.window /= 4;
        }
        if let Some(i) = kept.probes.iter().position(|(r, _)| same(r, request)) {
            let (_, out) = kept.probes.remove(i);
            if kept.probes.is_empty() {
                kept.window = (kept.window * 2).clamp(2, MAX_WINDOW);
            }
            return Ok(out);
        }
        if kept.window == 0 && quiet_since_last {
            kept.window = 2;
        }
        Err(kept.window)
    }

    /// Keeps a batch's probes taken ahead, sent when the change counter was `taken_at`.
    pub(crate) fn keep(&self, conn: usize, taken_at: u64, probes: Vec<(Request, Output)>) {
        let mut hosts = crate::play::lock(&self.hosts);
        let kept = hosts.entry(conn).or_insert_with(Kept::new);
        kept.taken_at = taken_at;
        kept.probes = probes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(text: &str) -> Output {
        Output {
            status: 0,
            stdout: text.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    /// A kept probe answers its own request once, and never after a change started or ended
    /// anywhere after its batch was sent.
    #[test]
    fn a_probe_taken_before_a_change_is_never_used() {
        let ahead = LookAhead::new(true);
        let (a, b) = (Request::new("stat a"), Request::new("stat b"));
        assert_eq!(ahead.take(1, &a), Err(FIRST_WINDOW));
        let at = ahead.now();
        ahead.keep(1, at, vec![(a.clone(), out("A")), (b.clone(), out("B"))]);
        assert_eq!(ahead.take(1, &a), Ok(out("A")));
        assert_eq!(
            ahead.take(1, &a).map(|_| ()),
            Err(FIRST_WINDOW),
            "used once"
        );
        // a change (on any connection) after the batch was sent
        ahead.keep(1, at, vec![(b.clone(), out("B"))]);
        ahead.changing();
        assert!(ahead.take(1, &b).is_err());
        // a batch sent while a change ran (its start was before, its end after)
        let at = ahead.now();
        ahead.keep(1, at, vec![(b.clone(), out("B"))]);
        ahead.changing();
        assert!(ahead.take(1, &b).is_err());
        // another connection's probes are its own
        let at = ahead.now();
        ahead.keep(2, at, vec![(b.clone(), out("B"))]);
        assert!(ahead.take(1, &b).is_err());
        assert_eq!(ahead.take(2, &b), Ok(out("B")));
    }

    /// The same script under another `become` is another request.
    #[test]
    fn become_is_part_of_the_request() {
        let ahead = LookAhead::new(true);
        let plain = Request::new("id -u");
        let root = Request::new("id -u").with_become(drover_connection::Become::root());
        ahead.keep(1, ahead.now(), vec![(plain, out("1000"))]);
        assert!(ahead.take(1, &root).is_err());
    }

    /// Windows double while batches are used up, shrink when a change throws one away, and
    /// open again after a quiet probe; switched off, nothing is ever kept or asked for.
    #[test]
    fn windows_follow_what_batches_are_worth() {
        let ahead = LookAhead::new(true);
        let a = Request::new("a");
        assert_eq!(ahead.take(1, &a), Err(16));
        ahead.keep(1, ahead.now(), vec![(a.clone(), out(""))]);
        assert!(ahead.take(1, &a).is_ok());
        assert_eq!(ahead.take(1, &a), Err(32));
        ahead.keep(1, ahead.now(), vec![(a.clone(), out(""))]);
        ahead.changing();
        assert_eq!(ahead.take(1, &a), Err(8));
        ahead.keep(1, ahead.now(), vec![(a.clone(), out(""))]);
        ahead.changing();
        assert_eq!(ahead.take(1, &a), Err(2));
        ahead.keep(1, ahead.now(), vec![(a.clone(), out(""))]);
        ahead.changing();
        assert_eq!(ahead.take(1, &a), Err(0));
        ahead.changing();
        assert_eq!(ahead.take(1, &a), Err(0));
        assert_eq!(ahead.take(1, &a), Err(2), "no change since the last probe");
        let off = LookAhead::new(false);
        off.keep(1, off.now(), vec![(a.clone(), out(""))]);
        assert_eq!(off.take(1, &a), Err(0));
    }
}
