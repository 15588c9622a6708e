//! Identity joins: an anonymous browser (or a user id) joined to a customer by `IdentityLinked`
//! counts under that customer, whether its events arrive before or after the join; its own last
//! snapshot says where it went.

use mindset_schemas::{CanonicalEvent, IdentityLinked, Payload, examples};
use rand::{SeedableRng, seq::SliceRandom};

use mindset_enrich::core::{Enrich, EnrichConfig};

const SHOP: &str = "shop-1";

fn payload(type_name: &str) -> Payload {
    examples::every_payload(false)
        .into_iter()
        .find(|p| p.type_name() == type_name)
        .unwrap()
}

fn at(customer: &str, seq: u64, day: i64, p: Payload) -> CanonicalEvent {
    let mut e = examples::event(SHOP, Some(customer), seq, p);
    e.occurred_at = 1_700_000_000_000 + day * 86_400_000;
    e
}

fn order(customer: &str, seq: u64, day: i64, id: &str, total: i64) -> CanonicalEvent {
    let Payload::OrderPlaced(mut o) = payload("OrderPlaced") else {
        unreachable!()
    };
    o.order_id = id.into();
    o.total_minor = total;
    at(customer, seq, day, Payload::OrderPlaced(o))
}

fn link(to: &str, from: &str, seq: u64, day: i64) -> CanonicalEvent {
    at(
        to,
        seq,
        day,
        Payload::IdentityLinked(IdentityLinked {
            from_key: from.into(),
            reason: "identify".into(),
            anonymous_id: None,
            user_id: None,
        }),
    )
}

/// anon:x browses and buys as a guest; user:u views; anon:x is joined to user:u, user:u to the
/// customer email:a, who also bought.
fn history() -> Vec<CanonicalEvent> {
    vec![
        at("anon:x", 1, 1, payload("ProductViewed")),
        at("anon:x", 2, 2, payload("ProductViewed")),
        at("anon:x", 3, 2, payload("ProductSearched")),
        order("anon:x", 4, 3, "o-guest", 5_000),
        at("user:u", 5, 4, payload("ProductViewed")),
        link("user:u", "anon:x", 6, 5),
        link("email:a", "user:u", 7, 6),
        order("email:a", 8, 10, "o-1", 12_000),
        at("anon:x", 9, 11, payload("ProductViewed")),
    ]
}

fn fold(events: &[CanonicalEvent]) -> Enrich {
    let mut core = Enrich::new(EnrichConfig::default());
    for e in events {
        core.apply(e);
    }
    core
}

#[test]
fn joined_keys_count_under_the_customer_in_any_order() {
    let events = history();
    let core = fold(&events);
    assert_eq!(core.resolve(SHOP, "anon:x"), "email:a");
    assert_eq!(core.resolve(SHOP, "user:u"), "email:a");
    let f = core.features(SHOP, "email:a").unwrap();
    assert_eq!(f.orders, 2, "the guest order and the customer's");
    assert_eq!(f.monetary_minor, 17_000);
    assert_eq!(f.product_views, 4);
    assert_eq!(f.searches, 1);
    assert_eq!(f.events, 9);
    assert_eq!(f.first_seen, events[0].occurred_at);
    assert_eq!(f.merged_into, None);
    // The joined keys' last snapshots say where their activity went.
    for key in ["anon:x", "user:u"] {
        let m = core.features(SHOP, key).unwrap();
        assert_eq!(m.merged_into.as_deref(), Some("email:a"));
        assert_eq!((m.events, m.orders), (0, 0));
    }
    assert_eq!(
        core.customers(),
        vec![(SHOP.to_owned(), "email:a".to_owned())]
    );

    let reference = f.encode().unwrap();
    for seed in 0..40 {
        let mut shuffled = events.clone();
        shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let core = fold(&shuffled);
        let f = core.features(SHOP, "email:a").unwrap();
        assert_eq!(
            f.encode().unwrap(),
            reference,
            "order {seed} changed the customer"
        );
        assert_eq!(
            core.customers().len(),
            1,
            "order {seed} left a key unjoined"
        );
    }
}

#[test]
fn a_join_that_would_close_a_cycle_changes_nothing() {
    let mut events = history();
    events.push(link("anon:x", "email:a", 10, 12));
    let core = fold(&events);
    assert_eq!(core.resolve(SHOP, "email:a"), "email:a");
    assert_eq!(core.resolve(SHOP, "anon:x"), "email:a");
    assert_eq!(core.features(SHOP, "email:a").unwrap().orders, 2);
}
