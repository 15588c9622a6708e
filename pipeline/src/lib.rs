//! The shared shell of every Mindset hop: the log ([`log::Log`], with the [`embedded`] and
//! [`kafka`] backends), the consume–process–produce–commit
//! loop with dead letters ([`shell`]), publishing canonical events ([`publish`]), configuration ([`config`]), shutdown and telemetry.

pub mod config;
pub mod embedded;
pub mod kafka;
pub mod log;
pub mod partition;
pub mod publish;
pub mod shell;
pub mod shutdown;
pub mod telemetry;

pub use log::{CommitPosition, Consumer, Delivered, Log, LogError, Message, Producer, Record};
