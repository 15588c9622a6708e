//! One example event of every payload type, fully populated or with every optional field empty.
//! Used by schema round-trip tests here and by conformance tests of the log.

use crate::*;

/// Every payload variant, with all optional fields set (`full = true`) or unset.
pub fn every_payload(full: bool) -> Vec<Payload> {
    let s = |v: &str| full.then(|| v.to_owned());
    let n = |v: i64| full.then_some(v);
    let list = |v: &[&str]| {
        if full {
            v.iter().map(|x| x.to_string()).collect()
        } else {
            Vec::new()
        }
    };
    vec![
        Payload::CustomerUpserted(CustomerUpserted {
            platform_customer_id: "207119551".into(),
            email: s("bob.norman@mail.example.com"),
            phone: s("+16136120707"),
            first_name: s("Bob"),
            last_name: s("Norman"),
            country: s("CA"),
            city: s("Ottawa"),
            accepts_marketing: full,
            platform_created_at: n(1_700_000_000_000),
            tags: list(&["vip", "newsletter"]),
        }),
        Payload::OrderPlaced(OrderPlaced {
            order_id: "450789469".into(),
            order_number: s("#1001"),
            currency: "USD".into(),
            lines: vec![OrderLine {
                product_id: "632910392".into(),
                variant_id: s("808950810"),
                sku: s("IPOD2008PINK"),
                title: "IPod Nano - 8gb".into(),
                category: s("electronics"),
                brand: s("Apple"),
                quantity: 1,
                unit_price_minor: 19_900,
                discount_minor: 300,
            }],
            subtotal_minor: 19_900,
            discount_minor: 300,
            shipping_minor: 1_000,
            tax_minor: 1_100,
            total_minor: 21_700,
            discount_codes: list(&["TENOFF"]),
            financial_status: "paid".into(),
            is_test: full,
            guest: !full,
            checkout_id: s("901414060"),
            channel: s("web"),
        }),
        Payload::OrderRefunded(OrderRefunded {
            order_id: "450789469".into(),
            refund_id: "509562969".into(),
            currency: "USD".into(),
            amount_minor: 4_199,
            reason: s("damaged"),
            lines: if full {
                vec![RefundLine {
                    product_id: "632910392".into(),
                    quantity: 1,
                    amount_minor: 4_199,
                }]
            } else {
                Vec::new()
            },
        }),
        Payload::CartUpdated(CartUpdated {
            cart_id: "eeafa272cebfd4b22385bc4b645e762c".into(),
            currency: "EUR".into(),
            lines: vec![CartLine {
                product_id: "p-1".into(),
                variant_id: s("v-1"),
                title: s("Linen shirt"),
                quantity: 2,
                unit_price_minor: 4_500,
            }],
            total_minor: 9_000,
            session_id: s("sess-1"),
        }),
        Payload::CheckoutStarted(CheckoutStarted {
            checkout_id: "co-1".into(),
            cart_id: s("cart-1"),
            currency: "EUR".into(),
            total_minor: 9_000,
            line_count: 1,
            recovery_url: s("https://shop.example.com/recover/co-1"),
        }),
        Payload::CheckoutCompleted(CheckoutCompleted {
            checkout_id: "co-1".into(),
            order_id: "o-1".into(),
            currency: "EUR".into(),
            total_minor: 9_000,
        }),
        Payload::ProductViewed(ProductViewed {
            product_id: "p-1".into(),
            variant_id: s("v-1"),
            title: s("Linen shirt"),
            category: s("apparel"),
            price_minor: n(4_500),
            currency: s("EUR"),
            url: s("https://shop.example.com/p/linen-shirt"),
            session_id: s("sess-1"),
        }),
        Payload::ProductSearched(ProductSearched {
            query: "linen shirt".into(),
            results_count: full.then_some(12),
            session_id: s("sess-1"),
        }),
        Payload::ReviewPosted(ReviewPosted {
            review_id: "r-1".into(),
            product_id: s("p-1"),
            rating: 4,
            title: s("Nice fabric"),
            text: "Great shirt, runs a bit small.".into(),
            verified_purchase: full,
            language: s("en"),
        }),
        Payload::MessageReceived(MessageReceived {
            message_id: "m-1".into(),
            channel: if full {
                MessageChannel::Support
            } else {
                MessageChannel::Chat
            },
            thread_id: s("t-1"),
            text: "Where is my order? It is two weeks late.".into(),
            language: s("en"),
            author: if full {
                MessageAuthor::Agent
            } else {
                MessageAuthor::Customer
            },
        }),
        Payload::ProductUpserted(ProductUpserted {
            product_id: "p-1".into(),
            title: "Linen shirt".into(),
            category: s("apparel"),
            brand: s("Acme"),
            currency: "EUR".into(),
            price_minor: 4_500,
            compare_at_price_minor: n(6_000),
            status: "active".into(),
            tags: list(&["summer"]),
        }),
        Payload::PriceChanged(PriceChanged {
            product_id: "p-1".into(),
            variant_id: s("v-1"),
            currency: "EUR".into(),
            old_price_minor: n(6_000),
            new_price_minor: 4_500,
        }),
        Payload::InventoryChanged(InventoryChanged {
            product_id: "p-1".into(),
            variant_id: s("v-1"),
            available: 3,
            previous: full.then_some(10),
        }),
        Payload::ConsentChanged(ConsentChanged {
            channel: ConsentChannel::Sms,
            granted: full,
            source: s("checkout"),
        }),
        Payload::RedactionRequested(RedactionRequested {
            request_id: "rr-1".into(),
            email: s("bob.norman@mail.example.com"),
            phone: s("+16136120707"),
            orders_to_redact: list(&["450789469"]),
        }),
        Payload::CartItemChanged(CartItemChanged {
            cart_id: s("c-1"),
            product_id: "p-1".into(),
            variant_id: s("v-1"),
            title: s("Linen shirt"),
            quantity: if full { -1 } else { 2 },
            unit_price_minor: n(4_500),
            currency: s("EUR"),
            session_id: s("sess-1"),
        }),
        Payload::IdentityLinked(IdentityLinked {
            from_key: "anon:8f3c2a".into(),
            reason: "identify".into(),
            anonymous_id: s("8f3c2a"),
            user_id: s("u-42"),
        }),
    ]
}

/// Wrap a payload in an envelope with a deterministic id.
pub fn event(tenant: &str, customer: Option<&str>, seq: u64, payload: Payload) -> CanonicalEvent {
    let seq_s = seq.to_string();
    CanonicalEvent {
        event_id: event_id(tenant, Platform::Shopify, payload.type_name(), &[&seq_s]),
        tenant_id: tenant.to_owned(),
        platform: Platform::Shopify,
        source_id: seq_s,
        customer_key: customer.map(str::to_owned),
        occurred_at: 1_700_000_000_000 + seq as i64,
        received_at: 1_700_000_000_500 + seq as i64,
        schema_version: CANONICAL_EVENT.latest_version() as i32,
        payload,
    }
}
