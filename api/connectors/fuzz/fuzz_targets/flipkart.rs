//! Any bytes, under any topic flipkart handles: `normalise` returns, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindset_connectors::{Context, flipkart};

const TOPICS: &[&str] = &[
    "notification",
    "shipment_created",
    "shipments",
    "return_created",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let topic = TOPICS[usize::from(pick) % TOPICS.len()];
    let ctx = Context::new("fuzz", 1).with_shop_currency("USD");
    let _ = flipkart::normalise(topic, body, &ctx);
});
