//! Any body under any topic (`<topic>\n<body>`, see `src/lib.rs`): `woocommerce::normalise`
//! returns, never panics, and what it accepts keeps the connectors' contract; an unsigned body
//! is refused by `verify` unless it is the creation ping.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use mindset_connectors::woocommerce::{self, Delivery};
use mindset_connectors_fuzz::{check, context, headers, owner, split};

fuzz_target!(|data: &[u8]| {
    let (topic, body) = split(data);
    let headers = headers();
    let ctx = context(&headers, &owner);
    check(&topic, body, &woocommerce::normalise(&topic, body, &ctx));
    match woocommerce::verify("secret", &headers, body) {
        Ok(Delivery::Ping { webhook_id }) => {
            assert_eq!(woocommerce::ping_webhook_id(body), Some(webhook_id));
        }
        Ok(Delivery::Signed) => panic!("an unsigned body passed verify"),
        Err(e) => assert!(e.is_authentication(), "{e}"),
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mindset_connectors_fuzz::mutate(data, size, max_size, seed)
});
