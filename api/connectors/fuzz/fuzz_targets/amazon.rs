//! Any bytes, under any topic amazon handles: `normalise` returns, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindset_connectors::{Context, amazon};

const TOPICS: &[&str] = &[
    "notification",
    "ORDER_CHANGE",
    "getOrders",
    "getOrder",
    "getOrderItems",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let topic = TOPICS[usize::from(pick) % TOPICS.len()];
    let ctx = Context::new("fuzz", 1).with_shop_currency("USD");
    let _ = amazon::normalise(topic, body, &ctx);
    let _ = amazon::order_placed(body, "902-3159896-1390916", &[body], &ctx);
});
