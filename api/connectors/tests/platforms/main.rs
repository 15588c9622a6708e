//! Every shared platform fixture and every fixture written for this crate, through `verify` and
//! `normalise`, checked field by field. `coverage` makes sure no shared file is left out.

mod amazon;
mod coverage;
mod flipkart;
mod shopify;
mod support;
mod woocommerce;
