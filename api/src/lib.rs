//! The top of the flow: the `mindset` command line (and, as they land, HTTP ingest and the
//! projection API).

pub mod cli;
