//! Any body under any topic (`<topic>\n<body>`, see `src/lib.rs`): `shopify::normalise` returns,
//! never panics, and what it accepts keeps the connectors' contract.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use mindset_connectors::shopify;
use mindset_connectors_fuzz::{check, context, headers, owner, split};

fuzz_target!(|data: &[u8]| {
    let (topic, body) = split(data);
    let headers = headers();
    let ctx = context(&headers, &owner);
    check(&topic, body, &shopify::normalise(&topic, body, &ctx));
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mindset_connectors_fuzz::mutate(data, size, max_size, seed)
});
