//! Any body as any track API call (`<call>\n<body>`, see `src/lib.rs`): `track`, `identify`,
//! `page`, `screen`, `alias`, `group`; `batch` for a batched message naming its own `type`;
//! `messages` for a `/v1/messages` body. `segment::normalise` / `normalise_text` return, never
//! panic, and what they accept keeps the connectors' contract.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use mindset_connectors::segment::{self, Call, Links};
use mindset_connectors_fuzz::{check, context, headers, owner, split};

fuzz_target!(|data: &[u8]| {
    let (call, body) = split(data);
    let headers = headers();
    let ctx = context(&headers, &owner);
    // A tenant that already joined a browser to a customer, as the track API's map would hold.
    let known = HashMap::from([("anon:a-1".to_owned(), "email:z@example.com".to_owned())]);
    let mut links = Links::new(&known);
    let batch = serde_json::Map::from_iter([(
        "sentAt".to_owned(),
        serde_json::json!("2026-01-01T00:00:09Z"),
    )]);
    let result = match call.as_str() {
        "messages" => segment::normalise_text(&ctx, body, &mut links),
        "batch" => segment::normalise(&ctx, None, &batch, body, &mut links),
        name => segment::normalise(
            &ctx,
            Call::from_name(name),
            &serde_json::Map::new(),
            body,
            &mut links,
        ),
    };
    check(&call, body, &result);
    for (from, to) in links.made() {
        assert_ne!(from, to, "{call}: a key joined to itself");
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mindset_connectors_fuzz::mutate(data, size, max_size, seed)
});
