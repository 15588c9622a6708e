//! Any bytes, as any track API call, a batched message or a `/v1/messages` body: `normalise`
//! returns, never panics.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mindset_connectors::{
    Context,
    segment::{self, Call, Links},
};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ctx = Context::new("fuzz", 1).with_shop_currency("USD");
    let known: HashMap<String, String> = HashMap::new();
    let mut links = Links::new(&known);
    let none = serde_json::Map::new();
    let _ = match pick % 8 {
        6 => segment::normalise(&ctx, None, &none, body, &mut links),
        7 => segment::normalise_text(&ctx, body, &mut links),
        i => segment::normalise(&ctx, Some(Call::ALL[usize::from(i)]), &none, body, &mut links),
    };
});
