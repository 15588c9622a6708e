//! Any body under any kind (`<kind>\n<body>`, see `src/lib.rs`): `flipkart::normalise` returns,
//! never panics, and what it accepts keeps the connectors' contract. The kind `verify` fuzzes the
//! notification headers instead: the body's first line is `X_Authorization`, the rest `X_Date`.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use mindset_connectors::{
    Headers,
    flipkart::{self, NotificationAuth},
};
use mindset_connectors_fuzz::{check, context, headers, owner, split};

fuzz_target!(|data: &[u8]| {
    let (kind, body) = split(data);
    if kind == "verify" {
        let (authorization, date) = split(body);
        let headers: Headers = [
            ("X_Authorization".to_owned(), authorization),
            (
                "X_Date".to_owned(),
                String::from_utf8_lossy(date).into_owned(),
            ),
        ]
        .into();
        let auth = NotificationAuth::new("fuzz-app", "fuzz-secret", "https://example.com/fk");
        // 2015-05-19T09:02:15Z, the instant of Flipkart's published sample.
        if let Err(e) = flipkart::verify(&auth, &headers, 1_432_026_135_000) {
            assert!(e.is_authentication(), "{e}");
        }
        return;
    }
    let headers = headers();
    let ctx = context(&headers, &owner);
    check(&kind, body, &flipkart::normalise(&kind, body, &ctx));
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mindset_connectors_fuzz::mutate(data, size, max_size, seed)
});
