//! The eXpServer checker: the official grader's checks, runnable anywhere without Docker.
//!
//! `cargo xtask check-stage N` and the end-to-end tests both use this library, so a test and the
//! command line run exactly the same checks. The pieces:
//!
//! - [`stages`]: the registry, one entry per stage naming its binary, helpers, config, checks
//!   and demo; adding a stage is adding an entry there;
//! - [`process`], [`ports`], [`layout`], [`upstream`], [`procstat`]: the harness (start a
//!   program in the grader's directory layout, know when it listens, measure it, kill it, a
//!   Python or a fake upstream beside it), used by the end-to-end tests of every crate too;
//! - [`target`]: what is checked, our binary on any ports or a student's command line on the
//!   course's ports;
//! - [`checks`]: the grader's checks, one list per stage, with timeouts and real bounds;
//!   `checks::http::client` is the one HTTP response reader of the project;
//! - [`runner`] and [`report`]: running a stage's list like the grader and printing each result;
//! - [`flaws`]: measurements that show the flaws early stages keep on purpose;
//! - [`bench`]: the finished server next to nginx under `wrk`.

pub mod bench;
pub mod cargo_build;
pub mod checks;
pub mod flaws;
pub mod layout;
pub mod plot;
pub mod ports;
pub mod process;
pub mod procstat;
pub mod report;
pub mod runner;
pub mod stages;
pub mod target;
pub mod upstream;

pub use report::Report;
pub use runner::{check_ours, check_stage, start_ours, Options, StageRun};
pub use target::Target;
