//! Any bytes, under any topic shopify handles: `normalise` returns, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindset_connectors::{Context, shopify};

const TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "refunds/create",
    "customers/update",
    "checkouts/update",
    "carts/update",
    "customers/redact",
    "customers/data_request",
    "shop/redact",
    "rest/orders",
    "rest/customers",
    "rest/checkouts",
    "rest/refunds",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let topic = TOPICS[usize::from(pick) % TOPICS.len()];
    let ctx = Context::new("fuzz", 1).with_shop_currency("USD");
    let _ = shopify::normalise(topic, body, &ctx);
});
