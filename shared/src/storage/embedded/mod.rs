//! The embedded default: a SQLite database file for records, experiments and confounders,
//! a local folder for panels, and an in-process queue. Data written by one run is there for
//! the next; several processes (e.g. functions under `cargo lambda watch`) can share the file
//! (WAL mode, busy timeout).

mod panels;
mod queue;
mod sqlite;

pub use panels::LocalPanelStore;
pub use queue::InProcessQueue;
pub use sqlite::SqliteStore;
