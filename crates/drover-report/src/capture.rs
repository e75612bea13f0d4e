//! An in-memory writer whose contents stay readable after it is boxed into a reporter.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Inner {
    bytes: Vec<u8>,
    flushes: usize,
}

/// A cloneable in-memory writer: give one clone to a reporter, read the other.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
}

impl Capture {
    /// An empty buffer.
    pub fn new() -> Capture {
        Capture::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().bytes.clone()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock().bytes).into_owned()
    }

    /// How many times the writer was flushed.
    pub fn flushes(&self) -> usize {
        self.lock().flushes
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flushes += 1;
        Ok(())
    }
}
