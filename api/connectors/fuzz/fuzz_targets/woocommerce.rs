//! Any bytes, under any topic woocommerce handles: `normalise` returns, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindset_connectors::{Context, woocommerce};

const TOPICS: &[&str] = &[
    "order.created",
    "order.updated",
    "customer.updated",
    "product.updated",
    "product_review.created",
    "action.woocommerce_product_review_created",
    "order.deleted",
    "rest/orders",
    "rest/customers",
    "rest/products",
    "rest/products/reviews",
    "ping",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let topic = TOPICS[usize::from(pick) % TOPICS.len()];
    let ctx = Context::new("fuzz", 1).with_shop_currency("USD");
    let _ = woocommerce::normalise(topic, body, &ctx);
    let _ = woocommerce::verify("secret", &Default::default(), body);
});
