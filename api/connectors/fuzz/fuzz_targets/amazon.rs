//! Any body under any kind (`<kind>\n<body>`, see `src/lib.rs`): `amazon::normalise` returns,
//! never panics, and what it accepts keeps the connectors' contract. A `notification` body also
//! goes through `verify` and `order_change`. The kind `order_placed` fuzzes the join of an
//! orders page with its item pages: the body is the `getOrders`/`getOrder` page, then each
//! `getOrderItems` page after a line `---`; the order joined is the first one the page names
//! (`"AmazonOrderId":"<id>"`), else a fixed id.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use mindset_connectors::amazon;
use mindset_connectors_fuzz::{check, check_event, context, headers, owner, split};

const ORDER_ID: &str = "902-3159896-1390916";

fn pages(body: &[u8]) -> Vec<&[u8]> {
    let mut pages = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(5).position(|w| w == b"\n---\n") {
        pages.push(&rest[..i]);
        rest = &rest[i + 5..];
    }
    pages.push(rest);
    pages
}

fn first_order_id(page: &[u8]) -> Option<&str> {
    let key = b"\"AmazonOrderId\":\"";
    let at = page.windows(key.len()).position(|w| w == key)? + key.len();
    let len = page[at..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&page[at..at + len]).ok()
}

fuzz_target!(|data: &[u8]| {
    let (kind, body) = split(data);
    let headers = headers();
    let ctx = context(&headers, &owner);
    if kind == "order_placed" {
        let pages = pages(body);
        let (orders, items) = pages.split_first().expect("pages() gives at least one");
        let id = first_order_id(orders).unwrap_or(ORDER_ID);
        if let Ok(joined) = amazon::order_placed(orders, id, items, &ctx) {
            for ev in &joined.events {
                check_event(&kind, ev);
            }
            if joined.events.is_empty() {
                assert!(joined.note.is_some(), "an order without events says why");
            }
        }
        return;
    }
    check(&kind, body, &amazon::normalise(&kind, body, &ctx));
    if kind == "notification" {
        if let Ok(n) = amazon::verify(body, Some("amzn1.sellerapps.app.fuzz")) {
            assert_eq!(n.application_id, "amzn1.sellerapps.app.fuzz");
        }
        if let Ok(change) = amazon::order_change(body) {
            assert!(!change.amazon_order_id.trim().is_empty(), "{change:?}");
        }
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mindset_connectors_fuzz::mutate(data, size, max_size, seed)
});
