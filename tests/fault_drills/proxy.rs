//! A TCP proxy on 127.0.0.1 in front of a sandbox node's SSH port, for fault drills: it can
//! slow the traffic to a byte rate (so a signal lands in the middle of an upload) and freeze
//! (stop forwarding in both directions while keeping the sockets open: a silent partition,
//! packets dropped, no RST).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// The proxy's controls, shared with its threads.
#[derive(Default)]
struct Controls {
    /// Bytes per second in each direction; 0 = unlimited.
    rate: AtomicU64,
    /// Forward nothing while set.
    frozen: AtomicBool,
}

/// A running proxy (its threads live as long as the test process).
pub struct Proxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    controls: Arc<Controls>,
}

impl Proxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards every connection to
    /// 127.0.0.1:`target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let controls = Arc::new(Controls::default());
        let shared = controls.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let controls = shared.clone();
                    thread::spawn(move || pump(from, to, &controls));
                }
            }
        });
        Proxy { port, controls }
    }

    /// Limits each direction to `bytes_per_second` (0: no limit).
    pub fn set_rate(&self, bytes_per_second: u64) {
        self.controls.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    /// Stops (true) or resumes (false) forwarding.
    pub fn freeze(&self, frozen: bool) {
        self.controls.frozen.store(frozen, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` in chunks of a tenth of the rate per tenth of a second, holding
/// everything while frozen.
fn pump(mut from: TcpStream, mut to: TcpStream, controls: &Controls) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while controls.frozen.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
        let rate = controls.rate.load(Ordering::SeqCst);
        let chunk = if rate == 0 {
            buf.len()
        } else {
            usize::try_from(rate / 10)
                .unwrap_or(buf.len())
                .clamp(1, buf.len())
        };
        let n = match from.read(&mut buf[..chunk]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // what was read when the link froze is held until it thaws, as TCP would retransmit
        while controls.frozen.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if rate != 0 {
            thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
