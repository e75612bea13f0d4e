//! Reporters for drover runs: they turn [`drover_events::Event`]s into output.
//!
//! - [`HumanReporter`]: ansible-playbook's output (ansible-core 2.18 default callback) byte for
//!   byte — banners, per-host lines, `-v` results, `--diff` diffs, colors, PLAY RECAP — plus a
//!   progress line on a terminal and an optional `--profile` report.
//! - [`JsonReporter`]: `--output json`, one event per line (docs/output-json.md).
//! - [`exit_code`]: ansible-playbook's exit codes from the recap.
//!
//! ```
//! use drover_events::{Event, Sink};
//! use drover_report::{Capture, HumanOptions, HumanReporter};
//!
//! let out = Capture::new();
//! let reporter = HumanReporter::new(HumanOptions::plain(0, false), Box::new(out.clone()), Box::new(std::io::sink()));
//! reporter.emit(&Event::PlayStart { name: "site".into(), hosts: vec![] });
//! assert!(out.text().starts_with("\nPLAY [site] ****"));
//! ```

pub mod banner;
mod capture;
pub mod color;
pub mod dump;
pub mod exit;
pub mod format;
mod human;
mod json;
pub mod profile;
pub mod progress;
pub mod textwrap;

pub use capture::Capture;
pub use color::ColorChoice;
pub use exit::exit_code;
pub use human::{HumanOptions, HumanReporter};
pub use json::JsonReporter;
