//! The shared shell of every Mindset hop: the log ([`log::Log`], with the [`embedded`] and
//! [`kafka`] backends), typed topics on top of it ([`typed`]), the consume–process–produce–commit
//! loop with dead letters ([`shell`]), configuration ([`config`]), shutdown and telemetry.

pub mod config;
pub mod embedded;
pub mod kafka;
pub mod log;
pub mod partition;
pub mod shell;
pub mod shutdown;
pub mod telemetry;

pub use log::{CommitPosition, Consumer, Delivered, Log, LogError, Message, Producer, Record};
