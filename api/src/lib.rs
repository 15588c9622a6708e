//! The top of the flow: the `mindset` command line, the HTTP ingest of platform webhooks
//! ([`ingest`], served by `mindset serve`), and (as it lands) the projection API.

pub mod cli;
pub mod ingest;
