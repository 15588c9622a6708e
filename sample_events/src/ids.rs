//! Platform-looking object ids. Sequential ids (customers, orders, checkouts, refunds, reviews,
//! products) come from a per-platform sequence number assigned in time order; token ids (sessions,
//! carts, messages) come from a bijective mix of a unique key, so they never collide.

use mindset_schemas::Platform;

/// SplitMix64 finalizer: a bijection on `u64`, so distinct inputs give distinct outputs.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over bytes, then mixed: a stable hash independent of the platform and std's hasher.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    mix(h)
}

/// A key unique per (customer, counter): customer index in the high bits.
pub fn key(customer: usize, kind: u64, counter: u64) -> u64 {
    ((customer as u64) << 32) | (kind << 28) | (counter & 0x0FFF_FFFF)
}

/// A 16-hex-digit token, unique for distinct `(salt, key)`.
pub fn token16(salt: u64, key: u64) -> String {
    format!("{:016x}", mix(key ^ salt))
}

/// A 32-hex-digit token (Shopify cart tokens look like this).
pub fn token32(salt: u64, key: u64) -> String {
    let a = mix(key ^ salt);
    format!("{a:016x}{:016x}", mix(a ^ 0x5EED))
}

/// `n` mapped bijectively onto `[0, 10^digits)` (for `n < 10^digits`) with a scrambled look.
fn scramble_digits(n: u64, digits: u32, salt: u64) -> u128 {
    let m = 10u128.pow(digits);
    // Multiplier coprime with 10 (odd, not a multiple of 5): a bijection modulo 10^digits.
    let a = (6_364_136_223_846_793_005u128 % m) | 1;
    let a = if a.is_multiple_of(5) { a + 2 } else { a };
    let b = (salt as u128) % m;
    ((n as u128) * a + b) % m
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_13(x: u64) -> String {
    (0..13)
        .map(|i| BASE32[((x >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// A platform customer id for the `n`-th customer (in signup order) of a platform.
/// `gap_sum` is a running total of small random gaps, so numeric ids increase unevenly.
pub fn customer_id(platform: Platform, n: u64, gap_sum: u64, salt: u64) -> String {
    match platform {
        Platform::Shopify => (7_001_000 + gap_sum).to_string(),
        Platform::Woocommerce => (1_200 + gap_sum).to_string(),
        Platform::Amazon => format!("A{}", base32_13(mix(n ^ salt))),
        Platform::Flipkart => format!("ACC{:016X}", mix(n ^ salt ^ 0xF11F)),
        other => format!("{}-{n}", other.symbol().to_lowercase()),
    }
}

/// `(order_id, order_number)` of the `n`-th order of a platform.
pub fn order_id(
    platform: Platform,
    n: u64,
    gap_sum: u64,
    currency: &str,
    salt: u64,
) -> (String, Option<String>) {
    match platform {
        Platform::Shopify => (
            (5_102_000_000 + gap_sum).to_string(),
            Some(format!("#{}", 1_001 + n)),
        ),
        Platform::Woocommerce => {
            let id = (4_800 + gap_sum).to_string();
            (id.clone(), Some(id))
        }
        Platform::Amazon => {
            let prefix = match currency {
                "EUR" => 302 + mix(n) % 5,
                "GBP" => 202 + mix(n) % 5,
                _ => 111 + mix(n) % 4,
            };
            let d = scramble_digits(n, 14, salt);
            (
                format!("{prefix}-{:07}-{:07}", d / 10_000_000, d % 10_000_000),
                None,
            )
        }
        Platform::Flipkart => (format!("OD{:018}", scramble_digits(n, 18, salt)), None),
        other => (format!("{}-order-{n}", other.symbol().to_lowercase()), None),
    }
}

/// Checkout id of the `n`-th checkout of a platform.
pub fn checkout_id(platform: Platform, gap_sum: u64) -> String {
    match platform {
        Platform::Woocommerce => format!("wc-checkout-{}", 88_000 + gap_sum),
        _ => (30_100_000_000 + gap_sum).to_string(),
    }
}

/// Refund id of the `n`-th refund of a platform.
pub fn refund_id(platform: Platform, n: u64, gap_sum: u64, salt: u64) -> String {
    match platform {
        Platform::Shopify => (912_000_000 + gap_sum).to_string(),
        Platform::Woocommerce => (9_100 + gap_sum).to_string(),
        Platform::Amazon => format!("AMZ-ADJ-{:010}", scramble_digits(n, 10, salt)),
        Platform::Flipkart => format!("RF{:016}", scramble_digits(n, 16, salt)),
        other => format!("{}-refund-{n}", other.symbol().to_lowercase()),
    }
}

/// Review id of the `n`-th review of a platform.
pub fn review_id(platform: Platform, n: u64, gap_sum: u64, salt: u64) -> String {
    match platform {
        Platform::Shopify => (40_500_000 + gap_sum).to_string(),
        Platform::Woocommerce => (21_000 + gap_sum).to_string(),
        Platform::Amazon => format!("R{}", base32_13(mix(n ^ salt ^ 0xA3A3))),
        Platform::Flipkart => format!("rv-{:016x}", mix(n ^ salt ^ 0xF1F1)),
        other => format!("{}-review-{n}", other.symbol().to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique() {
        let mut seen = BTreeSet::new();
        for n in 0..20_000u64 {
            assert!(seen.insert(order_id(Platform::Amazon, n, 0, "USD", 7).0[4..].to_owned()));
            assert!(seen.insert(order_id(Platform::Flipkart, n, 0, "INR", 7).0));
            assert!(seen.insert(customer_id(Platform::Amazon, n, 0, 7)));
            assert!(seen.insert(refund_id(Platform::Amazon, n, 0, 7)));
            assert!(seen.insert(review_id(Platform::Amazon, n, 0, 7)));
        }
    }
}
