//! What a user of the sample data relies on: it is deterministic, the right size, valid against the
//! schema, internally consistent, and the personas leave visible traces.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use mindset_sample_events::{
    GenConfig, Generated, Persona, generate, generate_with_truth, read_jsonl, usd_minor,
    write_jsonl,
};
use mindset_schemas::{CanonicalEvent, Payload, Platform, examples::every_payload};

static STANDARD: LazyLock<Generated> =
    LazyLock::new(|| generate_with_truth(&GenConfig::standard()));
static SMALL: LazyLock<Vec<CanonicalEvent>> = LazyLock::new(|| generate(&GenConfig::small()));

fn within(actual: usize, target: usize, pct: usize) -> bool {
    actual.abs_diff(target) * 100 <= target * pct
}

#[test]
fn same_config_gives_the_same_events() {
    assert_eq!(generate(&GenConfig::small()), *SMALL);
    let again = generate(&GenConfig::standard());
    assert!(
        again == STANDARD.events,
        "standard set differs between runs"
    );
}

#[test]
fn another_seed_gives_other_events() {
    let cfg = GenConfig {
        seed: GenConfig::small().seed + 1,
        ..GenConfig::small()
    };
    let other = generate(&cfg);
    assert_ne!(other, *SMALL);
    let ids: BTreeSet<&str> = SMALL.iter().map(|e| e.event_id.as_str()).collect();
    let shared = other
        .iter()
        .filter(|e| ids.contains(e.event_id.as_str()))
        .count();
    assert!(
        shared * 2 < other.len(),
        "{shared} of {} event ids shared",
        other.len()
    );
}

#[test]
fn counts_land_on_the_target() {
    let std = GenConfig::standard();
    assert!(
        within(STANDARD.events.len(), std.target_events, 2),
        "{} events for a target of {}",
        STANDARD.events.len(),
        std.target_events
    );
    let small = GenConfig::small();
    assert!(
        within(SMALL.len(), small.target_events, 2),
        "{} small events",
        SMALL.len()
    );
    let customers: BTreeSet<&str> = STANDARD
        .events
        .iter()
        .filter_map(|e| e.customer_key.as_deref())
        .collect();
    assert!(
        within(customers.len(), std.customers, 5),
        "{} customers",
        customers.len()
    );
    assert_eq!(STANDARD.customers.len(), customers.len());
    let products = STANDARD
        .events
        .iter()
        .filter(|e| matches!(e.payload, Payload::ProductUpserted(_)))
        .count();
    assert_eq!(products, std.products);
}

/// Every event of the small set, and up to 2,000 evenly spread events of each payload type of the
/// standard set (the whole standard set takes ~10 s in a debug build; the shapes repeat).
#[test]
fn events_round_trip_through_avro() {
    let mut by_type: BTreeMap<&str, Vec<&CanonicalEvent>> = BTreeMap::new();
    for ev in &STANDARD.events {
        by_type.entry(ev.payload.type_name()).or_default().push(ev);
    }
    let sample = by_type.values().flat_map(|evs| {
        let step = evs.len().div_ceil(2_000);
        evs.iter().copied().step_by(step)
    });
    for ev in sample.chain(SMALL.iter()) {
        let bytes = ev
            .encode()
            .unwrap_or_else(|e| panic!("{} {}: {e}", ev.payload.type_name(), ev.event_id));
        let back = CanonicalEvent::decode(&bytes).expect("decodes");
        assert!(
            back == *ev,
            "{} {} changed in a round trip",
            ev.payload.type_name(),
            ev.event_id
        );
    }
}

#[test]
fn jsonl_round_trips() {
    let mut buf = Vec::new();
    write_jsonl(&SMALL, &mut buf).unwrap();
    assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), SMALL.len());
    assert_eq!(read_jsonl(buf.as_slice()).unwrap(), *SMALL);

    let mut broken = buf.clone();
    let third_line = broken
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    broken[third_line] = b'[';
    let err = read_jsonl(broken.as_slice()).unwrap_err().to_string();
    assert!(err.starts_with("line 3: "), "{err}");
}

#[test]
fn event_ids_are_unique_and_events_sorted() {
    for events in [&STANDARD.events, &*SMALL] {
        let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "duplicate event ids");
        assert!(
            events
                .windows(2)
                .all(|w| (w[0].occurred_at, &w[0].event_id) < (w[1].occurred_at, &w[1].event_id)),
            "not sorted by (occurred_at, event_id)"
        );
    }
}

#[test]
fn envelopes_are_well_formed() {
    let cfg = GenConfig::standard();
    let start = cfg.end_ms - 19 * 31 * 86_400_000;
    let mut late = 0;
    for ev in &STANDARD.events {
        assert_eq!(ev.tenant_id, cfg.tenant_id);
        assert!(
            ev.occurred_at >= start && ev.occurred_at < cfg.end_ms,
            "{ev:?}"
        );
        let delay = ev.received_at - ev.occurred_at;
        assert!((0..=6 * 3_600_000 + 600_000).contains(&delay), "{ev:?}");
        if delay > 5_000 {
            late += 1;
        }
        assert!(!ev.source_id.is_empty());
        match &ev.customer_key {
            None => assert!(ev.payload.is_catalog(), "{ev:?}"),
            Some(key) => {
                assert!(!ev.payload.is_catalog(), "{ev:?}");
                let (platform, id) = key.split_once(':').expect("platform:id");
                assert!(
                    ["shopify", "woocommerce", "amazon", "flipkart"].contains(&platform),
                    "{key}"
                );
                assert!(!id.is_empty());
            }
        }
    }
    assert!(
        late > 50 && late < STANDARD.events.len() / 100,
        "{late} late arrivals"
    );
    // A customer's key carries the platform of their own records.
    for ev in &STANDARD.events {
        if let (Payload::CustomerUpserted(c), Some(key)) = (&ev.payload, &ev.customer_key) {
            let expected = format!(
                "{}:{}",
                ev.platform.symbol().to_lowercase(),
                c.platform_customer_id
            );
            assert_eq!(*key, expected);
        }
    }
}

#[test]
fn every_platform_and_payload_type_appears() {
    let platforms: BTreeSet<Platform> = STANDARD.events.iter().map(|e| e.platform).collect();
    for p in [
        Platform::Shopify,
        Platform::Woocommerce,
        Platform::Amazon,
        Platform::Flipkart,
        Platform::Storefront,
    ] {
        assert!(platforms.contains(&p), "no {p:?} events");
    }
    let types: BTreeSet<&str> = STANDARD
        .events
        .iter()
        .map(|e| e.payload.type_name())
        .collect();
    for p in every_payload(true) {
        assert!(types.contains(p.type_name()), "no {} events", p.type_name());
    }
    let small: BTreeSet<&str> = SMALL.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(small, types, "the small set lacks some payload types");
    // Browsing is storefront-only; carts too.
    for ev in &STANDARD.events {
        if matches!(
            ev.payload,
            Payload::ProductViewed(_) | Payload::ProductSearched(_) | Payload::CartUpdated(_)
        ) {
            assert_eq!(ev.platform, Platform::Storefront);
        }
    }
}

#[test]
fn money_adds_up() {
    let mut orders: BTreeMap<&str, &mindset_schemas::OrderPlaced> = BTreeMap::new();
    let mut currencies: BTreeMap<Platform, BTreeSet<&str>> = BTreeMap::new();
    for ev in &STANDARD.events {
        match &ev.payload {
            Payload::OrderPlaced(o) => {
                let lines: i64 = o
                    .lines
                    .iter()
                    .map(|l| l.quantity as i64 * l.unit_price_minor - l.discount_minor)
                    .sum();
                assert_eq!(o.subtotal_minor, lines, "{}", o.order_id);
                assert_eq!(
                    o.total_minor,
                    o.subtotal_minor - o.discount_minor + o.shipping_minor + o.tax_minor,
                    "{}",
                    o.order_id
                );
                assert!(o.total_minor > 0 && o.discount_minor >= 0 && o.tax_minor >= 0);
                assert!(!o.is_test);
                assert!(
                    o.lines
                        .iter()
                        .all(|l| l.quantity > 0 && l.unit_price_minor > 0)
                );
                currencies
                    .entry(ev.platform)
                    .or_default()
                    .insert(&o.currency);
                orders.insert(&o.order_id, o);
            }
            Payload::CartUpdated(c) => {
                let sum: i64 = c
                    .lines
                    .iter()
                    .map(|l| l.quantity as i64 * l.unit_price_minor)
                    .sum();
                assert_eq!(c.total_minor, sum);
                assert!(!c.lines.is_empty());
            }
            _ => {}
        }
    }
    assert_eq!(currencies[&Platform::Flipkart], BTreeSet::from(["INR"]));
    assert!(!currencies[&Platform::Amazon].contains("INR"));
    assert!(currencies[&Platform::Amazon].contains("USD"));
    assert!(!currencies[&Platform::Shopify].contains("INR"));

    let mut refunded: BTreeMap<&str, i64> = BTreeMap::new();
    let mut completed = 0;
    for ev in &STANDARD.events {
        match &ev.payload {
            Payload::OrderRefunded(r) => {
                let o = orders
                    .get(r.order_id.as_str())
                    .expect("refund of a known order");
                assert_eq!(r.currency, o.currency);
                assert!(r.amount_minor > 0);
                let lines: i64 = r.lines.iter().map(|l| l.amount_minor).sum();
                assert!(lines <= r.amount_minor);
                *refunded.entry(&r.order_id).or_default() += r.amount_minor;
            }
            Payload::CheckoutCompleted(c) => {
                let o = orders
                    .get(c.order_id.as_str())
                    .expect("completed checkout has an order");
                assert_eq!(o.checkout_id.as_deref(), Some(c.checkout_id.as_str()));
                assert_eq!(o.total_minor, c.total_minor);
                completed += 1;
            }
            _ => {}
        }
    }
    for (id, amount) in refunded {
        assert!(
            amount <= orders[id].total_minor,
            "order {id} refunded {amount}"
        );
    }
    let with_checkout = orders.values().filter(|o| o.checkout_id.is_some()).count();
    assert_eq!(completed, with_checkout);
    assert!(orders.values().any(|o| o.guest));
}

#[test]
fn events_follow_each_other_in_a_sensible_order() {
    let mut seen_customer: BTreeSet<&str> = BTreeSet::new();
    let mut products: BTreeSet<&str> = BTreeSet::new();
    let mut orders: BTreeSet<&str> = BTreeSet::new();
    let mut redacted: BTreeSet<&str> = BTreeSet::new();
    for ev in &STANDARD.events {
        let key = ev.customer_key.as_deref();
        if let Some(k) = key {
            assert!(
                !redacted.contains(k),
                "{k} active after a redaction request"
            );
        }
        match &ev.payload {
            Payload::CustomerUpserted(_) => {
                seen_customer.insert(key.unwrap());
            }
            Payload::ProductUpserted(p) => {
                products.insert(&p.product_id);
            }
            Payload::PriceChanged(p) => assert!(products.contains(p.product_id.as_str())),
            Payload::InventoryChanged(p) => assert!(products.contains(p.product_id.as_str())),
            Payload::ProductViewed(v) => assert!(products.contains(v.product_id.as_str())),
            Payload::OrderPlaced(o) => {
                for l in &o.lines {
                    assert!(
                        products.contains(l.product_id.as_str()),
                        "order of an unlaunched product"
                    );
                }
                if !o.guest {
                    assert!(
                        seen_customer.contains(key.unwrap()),
                        "order before the customer exists"
                    );
                }
                orders.insert(&o.order_id);
            }
            Payload::OrderRefunded(r) => {
                assert!(orders.contains(r.order_id.as_str()), "refund before order")
            }
            Payload::RedactionRequested(r) => {
                assert!(
                    r.orders_to_redact
                        .iter()
                        .all(|o| orders.contains(o.as_str()))
                );
                redacted.insert(key.unwrap());
            }
            _ => {}
        }
    }
    let n = redacted.len();
    assert!((1..=10).contains(&n), "{n} redaction requests");
}

#[test]
fn texts_are_varied_and_ratings_fit_them() {
    let mut texts = BTreeSet::new();
    let mut channels = BTreeSet::new();
    for ev in &STANDARD.events {
        match &ev.payload {
            Payload::ReviewPosted(r) => {
                assert!((1..=5).contains(&r.rating));
                let t = r.text.to_lowercase();
                let angry = [
                    "unacceptable",
                    "waste of money",
                    "disgusting",
                    "revolting",
                    "never again",
                ];
                if angry.iter().any(|w| t.contains(w)) {
                    assert!(r.rating <= 2, "rating {} for: {}", r.rating, r.text);
                }
                if t.contains("absolutely love") || t.contains("highly recommend") {
                    assert!(r.rating >= 4, "rating {} for: {}", r.rating, r.text);
                }
                texts.insert(r.text.as_str());
            }
            Payload::MessageReceived(m) => {
                assert!(!m.text.contains('{'), "unfilled placeholder: {}", m.text);
                channels.insert(format!("{:?}", m.channel));
                texts.insert(m.text.as_str());
            }
            _ => {}
        }
    }
    assert!(texts.len() > 2_000, "{} distinct texts", texts.len());
    for c in ["Chat", "Support", "Feedback", "Email", "Social"] {
        assert!(channels.contains(c), "no {c} messages");
    }
}

/// Per persona: orders, mean order value in US cents, views, refunds, abandoned checkouts, reviews.
#[derive(Default, Debug)]
struct Traits {
    customers: usize,
    orders: usize,
    value_usd: i64,
    views: usize,
    refunds: usize,
    checkouts: usize,
    completed: usize,
    night_orders: usize,
    stars: i64,
    reviews: usize,
}

fn traits() -> BTreeMap<Persona, Traits> {
    let persona: BTreeMap<&str, (Persona, &str)> = STANDARD
        .customers
        .iter()
        .map(|c| (c.customer_key.as_str(), (c.persona, c.currency.as_str())))
        .collect();
    let mut out: BTreeMap<Persona, Traits> = BTreeMap::new();
    for c in &STANDARD.customers {
        out.entry(c.persona).or_default().customers += 1;
    }
    for ev in &STANDARD.events {
        let Some((p, currency)) = ev.customer_key.as_deref().and_then(|k| persona.get(k)) else {
            continue;
        };
        let t = out.entry(*p).or_default();
        match &ev.payload {
            Payload::OrderPlaced(o) => {
                t.orders += 1;
                t.value_usd += usd_minor(o.total_minor, &o.currency);
            }
            Payload::ProductViewed(_) => t.views += 1,
            Payload::OrderRefunded(_) => t.refunds += 1,
            Payload::CheckoutStarted(_) => t.checkouts += 1,
            Payload::CheckoutCompleted(_) => t.completed += 1,
            Payload::ReviewPosted(r) => {
                t.reviews += 1;
                t.stars += r.rating as i64;
            }
            _ => {}
        }
        if matches!(
            ev.payload,
            Payload::CheckoutStarted(_) | Payload::OrderPlaced(_)
        ) {
            // Local time, roughly, from the customer's currency.
            let offset_min = match *currency {
                "USD" => -360,
                "CAD" => -300,
                "EUR" => 60,
                "AUD" => 600,
                "INR" => 330,
                _ => 0,
            };
            let local_hour =
                (ev.occurred_at + offset_min * 60_000).rem_euclid(86_400_000) / 3_600_000;
            if !(3..22).contains(&local_hour) {
                t.night_orders += 1;
            }
        }
    }
    out
}

#[test]
fn personas_leave_visible_traces() {
    let t = traits();
    let aov = |p: Persona| t[&p].value_usd as f64 / t[&p].orders.max(1) as f64;
    let views_per_order = |p: Persona| t[&p].views as f64 / t[&p].orders.max(1) as f64;
    let refund_rate = |p: Persona| t[&p].refunds as f64 / t[&p].orders.max(1) as f64;
    let abandon_rate = |p: Persona| 1.0 - t[&p].completed as f64 / t[&p].checkouts.max(1) as f64;
    let stars = |p: Persona| t[&p].stars as f64 / t[&p].reviews.max(1) as f64;
    let orders_per_customer = |p: Persona| t[&p].orders as f64 / t[&p].customers as f64;
    use Persona::*;

    assert!(
        aov(LuxurySeeker) >= 3.0 * aov(PriceSensitiveAnxious),
        "{t:#?}"
    );
    assert!(aov(LuxurySeeker) >= 3.0 * aov(ImpulsiveEmotional), "{t:#?}");
    assert!(
        views_per_order(CuriousBrowser) >= 5.0 * views_per_order(BrandLoyalConfident),
        "{t:#?}"
    );
    assert!(
        refund_rate(FrustratedAtRisk) >= 2.0 * refund_rate(BrandLoyalConfident),
        "{t:#?}"
    );
    assert!(
        abandon_rate(PriceSensitiveAnxious) >= 2.0 * abandon_rate(BrandLoyalConfident),
        "{t:#?}"
    );
    assert!(
        stars(BrandLoyalConfident) >= stars(FrustratedAtRisk) + 1.5,
        "{t:#?}"
    );
    assert!(
        orders_per_customer(ImpulsiveEmotional) >= 2.0 * orders_per_customer(CuriousBrowser),
        "{t:#?}"
    );
    assert!(
        orders_per_customer(BrandLoyalConfident) >= 1.5 * orders_per_customer(LuxurySeeker),
        "{t:#?}"
    );
    let night =
        |p: Persona| t[&p].night_orders as f64 / (t[&p].orders + t[&p].checkouts).max(1) as f64;
    assert!(
        night(ImpulsiveEmotional) >= 2.0 * night(BrandLoyalConfident),
        "{t:#?}"
    );
}

#[test]
fn purchase_frequency_looks_like_a_real_shop() {
    let mut orders: BTreeMap<&str, usize> = BTreeMap::new();
    for ev in &STANDARD.events {
        if let (Payload::OrderPlaced(_), Some(k)) = (&ev.payload, &ev.customer_key) {
            *orders.entry(k).or_default() += 1;
        }
    }
    let buyers = orders.len();
    let once = orders.values().filter(|&&n| n == 1).count();
    let heavy = orders.values().filter(|&&n| n >= 8).count();
    assert!(once * 100 >= buyers * 40, "{once} of {buyers} buy once");
    assert!(heavy * 100 >= buyers, "{heavy} of {buyers} buy 8+ times");
    assert!(
        heavy * 100 <= buyers * 10,
        "{heavy} of {buyers} buy 8+ times"
    );
    let never = STANDARD.customers.len() - buyers;
    assert!(never * 10 >= STANDARD.customers.len(), "{never} never buy");
}

#[test]
fn the_direct_codec_matches_apache_avro_on_the_whole_small_shop() {
    use mindset_schemas::reference;
    for ev in mindset_sample_events::generate(&mindset_sample_events::GenConfig::small()) {
        let fast = ev.encode().unwrap();
        assert_eq!(
            fast,
            reference::encode_canonical(&ev).unwrap(),
            "{}",
            ev.event_id
        );
        assert_eq!(reference::decode_canonical(&fast).unwrap(), ev);
    }
}
