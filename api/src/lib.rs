//! The top of the flow: the `mindset` command line, the HTTP ingest of platform webhooks
//! ([`ingest`]) and of first-party events ([`collect`]: the Segment-compatible track API and the
//! storefront script), both served by `mindset serve`, and (as it lands) the projection API.

pub mod cli;
pub mod collect;
pub mod connect;
pub mod import;
pub mod ingest;
pub mod models;
pub mod poll;
pub mod serve;
