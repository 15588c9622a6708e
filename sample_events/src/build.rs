//! From simulation to events: builds the catalogue, simulates every customer, assigns platform ids
//! in time order, derives inventory from orders, picks a handful of redaction requests, tunes the
//! browsing volume to the target event count, and writes every act as canonical events.

use std::collections::BTreeSet;

use mindset_schemas::{
    CANONICAL_EVENT, CanonicalEvent, CartItemChanged, CartLine, CartUpdated, CheckoutCompleted,
    CheckoutStarted, ConsentChanged, CustomerUpserted, IdentityLinked, InventoryChanged,
    MessageAuthor, MessageChannel, MessageReceived, OrderLine, OrderPlaced, OrderRefunded, Payload,
    Platform, PriceChanged, ProductSearched, ProductUpserted, ProductViewed, RedactionRequested,
    RefundLine, ReviewPosted, event_id,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calendar::{self, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, window_start};
use crate::catalog::{self, Catalog};
use crate::ids::{self, hash_str, key, mix, token16, token32};
use crate::people::{EMAIL_DOMAINS, email_part, local_price};
use crate::sim::{Act, Customer, World, act_at, simulate};
use crate::{CustomerTruth, GenConfig, Generated};

/// Most browsing views one session can have, however the volume is tuned.
const MAX_BROWSE_VIEWS: usize = 120;
/// Largest browsing scale tried when tuning to the target.
const MAX_SCALE: f64 = 64.0;

pub fn run(cfg: &GenConfig) -> Generated {
    let end = cfg.end_ms;
    let start = window_start(end, cfg.months.max(1));
    let sales = calendar::sales(start, end);
    let mut master = ChaCha8Rng::seed_from_u64(cfg.seed);

    let mut cat_rng = ChaCha8Rng::seed_from_u64(master.random());
    let per_product = cfg.customers as f64 / cfg.products.max(1) as f64;
    let stock_factor =
        (per_product / (5_000.0 / 300.0) * cfg.months.max(1) as f64 / 18.0).clamp(0.05, 50.0);
    let catalog = catalog::build(&mut cat_rng, cfg.products, stock_factor, start, end, &sales);

    let world = World {
        catalog: &catalog,
        sales: &sales,
        start,
        end,
    };
    let seeds: Vec<u64> = (0..cfg.customers).map(|_| master.random()).collect();
    let customers: Vec<Customer> = seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| simulate(i, &mut ChaCha8Rng::seed_from_u64(s), &world))
        .collect();

    let mut rng = ChaCha8Rng::seed_from_u64(master.random());
    let salt: u64 = rng.random();
    let ids = Ids::assign(&mut rng, &customers, salt);
    let inventory = inventory(&mut rng, &catalog, &customers, &ids, end);
    let redactions = redactions(&mut rng, &customers, cfg.customers, end);

    // Tune browsing so the total lands on the target.
    let fixed = catalog_event_count(&catalog, &inventory)
        + redactions.len()
        + customers.iter().map(customer_event_count).sum::<usize>();
    let sessions: Vec<(f64, f64)> = customers
        .iter()
        .flat_map(|c| c.sessions.iter().map(|s| (s.appetite, s.round_u)))
        .collect();
    let scale = browse_scale(fixed, &sessions, cfg.target_events);

    let mut out = Out {
        tenant: &cfg.tenant_id,
        version: CANONICAL_EVENT.latest_version() as i32,
        events: Vec::with_capacity(cfg.target_events + 1_000),
    };
    emit_catalog(&mut out, &catalog, &inventory, start);
    for c in &customers {
        emit_customer(&mut out, c, &ids, &catalog, scale, cfg, salt);
    }
    for &(ci, at) in &redactions {
        emit_redaction(&mut out, &customers[ci], &ids, at, salt);
    }
    let events = sorted(out.events);

    let truth = customers
        .iter()
        .filter(|c| !c.acts.is_empty())
        .map(|c| CustomerTruth {
            customer_key: ids.key[c.idx].clone(),
            persona: c.persona,
            platform: c.platform,
            currency: c.currency().to_owned(),
            guest: c.guest,
        })
        .collect();
    Generated {
        events,
        customers: truth,
        browse_scale: scale,
    }
}

/// Events by `occurred_at`, ties by `event_id`. Sorts indices and then permutes in place, so each
/// (large) event moves at most once more.
fn sorted(mut events: Vec<CanonicalEvent>) -> Vec<CanonicalEvent> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (&events[a], &events[b]);
        a.occurred_at
            .cmp(&b.occurred_at)
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
    // dest[i]: where the event now at i belongs.
    let mut dest = vec![0; order.len()];
    for (pos, &i) in order.iter().enumerate() {
        dest[i] = pos;
    }
    for i in 0..events.len() {
        while dest[i] != i {
            let j = dest[i];
            events.swap(i, j);
            dest.swap(i, j);
        }
    }
    events
}

// ---------------------------------------------------------------------------------------------
// Ids

/// Platform ids, assigned per platform in time order.
struct Ids {
    customer: Vec<String>,
    key: Vec<String>,
    email: Vec<Option<String>>,
    /// Per customer, per order: `(order_id, order_number)`.
    order: Vec<Vec<(String, Option<String>)>>,
    /// Per customer, per session: checkout id.
    checkout: Vec<Vec<Option<String>>>,
    /// Per customer, per act: refund or review id.
    act: Vec<Vec<Option<String>>>,
}

fn platform_index(p: Platform) -> usize {
    match p {
        Platform::Shopify => 0,
        Platform::Woocommerce => 1,
        Platform::Amazon => 2,
        _ => 3,
    }
}

/// Per-platform sequence numbers and running id gaps, handed out in time order.
struct Sequencer {
    n: [u64; 4],
    gap_sum: [u64; 4],
    max_gap: [u64; 4],
}

impl Sequencer {
    fn new(max_gap: [u64; 4]) -> Sequencer {
        Sequencer {
            n: [0; 4],
            gap_sum: [0; 4],
            max_gap,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng, p: Platform) -> (u64, u64) {
        let i = platform_index(p);
        let n = self.n[i];
        self.n[i] += 1;
        self.gap_sum[i] += rng.random_range(1..=self.max_gap[i]);
        (n, self.gap_sum[i])
    }
}

impl Ids {
    fn assign(rng: &mut ChaCha8Rng, customers: &[Customer], salt: u64) -> Ids {
        let n = customers.len();
        let mut ids = Ids {
            customer: vec![String::new(); n],
            key: vec![String::new(); n],
            email: vec![None; n],
            order: customers
                .iter()
                .map(|c| vec![(String::new(), None); c.orders.len()])
                .collect(),
            checkout: customers
                .iter()
                .map(|c| vec![None; c.sessions.len()])
                .collect(),
            act: customers.iter().map(|c| vec![None; c.acts.len()]).collect(),
        };

        // Customers, in signup order.
        let mut order: Vec<(i64, usize)> = customers.iter().map(|c| (c.signup_at, c.idx)).collect();
        order.sort();
        let mut seq = Sequencer::new([97, 3, 1, 1]);
        for &(_, ci) in &order {
            let c = &customers[ci];
            let platform = c.platform.symbol().to_lowercase();
            if c.guest {
                ids.key[ci] = format!("{platform}:guest-{}", token16(salt ^ 0x6E57, key(ci, 0, 0)));
                continue;
            }
            let (k, gaps) = seq.next(rng, c.platform);
            let id = ids::customer_id(c.platform, k, gaps, salt);
            ids.key[ci] = format!("{platform}:{id}");
            ids.customer[ci] = id;
        }
        // Emails, in simulation order; unique per platform.
        let mut taken = BTreeSet::new();
        for c in customers {
            if c.guest || !c.has_email {
                continue;
            }
            let email = if c.platform == Platform::Amazon {
                format!(
                    "{}@marketplace.amazon.example",
                    &token16(salt ^ 0xA11A, key(c.idx, 0, 0))[..14]
                )
            } else {
                let first = email_part(c.first_name);
                let last = email_part(c.last_name);
                let domain =
                    EMAIL_DOMAINS[rng.random_range(0..EMAIL_DOMAINS.len() as u32) as usize];
                let local = match rng.random_range(0..4u32) {
                    0 => format!("{first}.{last}"),
                    1 => format!("{first}{}", rng.random_range(1..100u32)),
                    2 => format!("{}{last}{}", &first[..1], rng.random_range(70..100u32)),
                    _ => format!("{first}_{last}{}", rng.random_range(1..1000u32)),
                };
                let mut email = format!("{local}@{domain}");
                if taken.contains(&email) {
                    email = format!("{local}.{}@{domain}", c.idx);
                }
                email
            };
            taken.insert(email.clone());
            ids.email[c.idx] = Some(email);
        }

        // Orders, checkouts, refunds and reviews, each in time order.
        let mut orders = Vec::new();
        let mut checkouts = Vec::new();
        let mut acts = Vec::new();
        for c in customers {
            for a in &c.acts {
                if let Act::Order(oi) = a {
                    orders.push((c.orders[*oi].at, c.idx, *oi));
                }
            }
            for (si, s) in c.sessions.iter().enumerate() {
                if let Some(k) = s.cart.as_ref().and_then(|k| k.checkout.as_ref()) {
                    checkouts.push((k.at, c.idx, si));
                }
            }
            for (ai, a) in c.acts.iter().enumerate() {
                match a {
                    Act::Refund { at, .. } => acts.push((*at, c.idx, ai, 0u8)),
                    Act::Review { at, .. } => acts.push((*at, c.idx, ai, 1u8)),
                    _ => {}
                }
            }
        }
        orders.sort();
        checkouts.sort();
        acts.sort();
        let mut seq = Sequencer::new([4_000, 4, 1, 1]);
        for (_, ci, oi) in orders {
            let c = &customers[ci];
            let (k, gaps) = seq.next(rng, c.platform);
            ids.order[ci][oi] = ids::order_id(c.platform, k, gaps, c.currency(), salt);
        }
        let mut seq = Sequencer::new([900, 3, 1, 1]);
        for (_, ci, si) in checkouts {
            let (_, gaps) = seq.next(rng, customers[ci].platform);
            ids.checkout[ci][si] = Some(ids::checkout_id(customers[ci].platform, gaps));
        }
        let mut refunds = Sequencer::new([300, 3, 1, 1]);
        let mut reviews = Sequencer::new([50, 5, 1, 1]);
        for (_, ci, ai, kind) in acts {
            let p = customers[ci].platform;
            ids.act[ci][ai] = Some(if kind == 0 {
                let (k, gaps) = refunds.next(rng, p);
                ids::refund_id(p, k, gaps, salt)
            } else {
                let (k, gaps) = reviews.next(rng, p);
                ids::review_id(p, k, gaps, salt)
            });
        }
        ids
    }
}

// ---------------------------------------------------------------------------------------------
// Inventory and redactions

/// One stock movement of a product.
struct StockMove {
    product: usize,
    at: i64,
    available: i32,
    previous: i32,
    /// The order that caused it, or `None` for a restock.
    order_id: Option<String>,
}

/// Stock falls with every order (oversold stock stays at 0) and is restocked to its starting
/// level some days after it drops below a quarter of it.
fn inventory(
    rng: &mut ChaCha8Rng,
    catalog: &Catalog,
    customers: &[Customer],
    ids: &Ids,
    end: i64,
) -> Vec<StockMove> {
    let mut demand: Vec<Vec<(i64, String, i32)>> = vec![Vec::new(); catalog.products.len()];
    for c in customers {
        for a in &c.acts {
            let Act::Order(oi) = a else { continue };
            let o = &c.orders[*oi];
            let order_id = &ids.order[c.idx][*oi].0;
            let mut per_product: Vec<(usize, i32)> = Vec::new();
            for l in &o.lines {
                match per_product.iter_mut().find(|(p, _)| *p == l.item.product) {
                    Some(e) => e.1 += l.item.qty,
                    None => per_product.push((l.item.product, l.item.qty)),
                }
            }
            for (p, qty) in per_product {
                let delay = 2 * MS_PER_SECOND + ((hash_str(order_id) ^ p as u64) % 25_000) as i64;
                demand[p].push((o.at + delay, order_id.clone(), qty));
            }
        }
    }
    let mut out = Vec::new();
    for (p, mut moves) in demand.into_iter().enumerate() {
        moves.sort();
        let initial = catalog.products[p].initial_stock;
        let reorder = (initial / 4).max(1);
        let mut available = initial;
        let mut restock_at: Option<i64> = None;
        for (at, order_id, qty) in moves {
            if let Some(r) = restock_at.filter(|&r| r <= at) {
                out.push(StockMove {
                    product: p,
                    at: r,
                    available: initial,
                    previous: available,
                    order_id: None,
                });
                available = initial;
                restock_at = None;
            }
            let next = (available - qty).max(0);
            out.push(StockMove {
                product: p,
                at,
                available: next,
                previous: available,
                order_id: Some(order_id),
            });
            available = next;
            if available < reorder && restock_at.is_none() {
                let lead = rng.random_range(5..15i64) * MS_PER_DAY;
                let r = at + lead;
                restock_at = Some(r - r.rem_euclid(MS_PER_DAY) + 7 * MS_PER_HOUR);
            }
        }
        if let Some(r) = restock_at.filter(|&r| r < end) {
            out.push(StockMove {
                product: p,
                at: r,
                available: initial,
                previous: available,
                order_id: None,
            });
        }
    }
    out
}

/// A handful of customers who went quiet ask to be forgotten near the end: `(customer, at)`.
fn redactions(
    rng: &mut ChaCha8Rng,
    customers: &[Customer],
    n_customers: usize,
    end: i64,
) -> Vec<(usize, i64)> {
    let candidates: Vec<usize> = customers
        .iter()
        .filter(|c| {
            matches!(c.platform, Platform::Shopify | Platform::Woocommerce)
                && !c.guest
                && !c.acts.is_empty()
                && c.last_at < end - 45 * MS_PER_DAY
        })
        .map(|c| c.idx)
        .collect();
    let want = (n_customers / 1_000).max(1).min(candidates.len());
    let mut chosen = BTreeSet::new();
    while chosen.len() < want {
        chosen.insert(candidates[rng.random_range(0..candidates.len() as u32) as usize]);
    }
    chosen
        .into_iter()
        .map(|ci| {
            let at = end - rng.random_range(MS_PER_HOUR..21 * MS_PER_DAY);
            (ci, at)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Counting and tuning

fn catalog_event_count(catalog: &Catalog, inventory: &[StockMove]) -> usize {
    // ProductUpserted + initial stock + every price change.
    catalog
        .products
        .iter()
        .map(|p| 2 + p.prices.len() - 1)
        .sum::<usize>()
        + inventory.len()
}

/// Events a customer produces, apart from browsing views.
fn customer_event_count(c: &Customer) -> usize {
    c.acts
        .iter()
        .map(|a| match a {
            Act::Session(si) => {
                let s = &c.sessions[*si];
                let cart = s.cart.as_ref().map_or(0, |k| {
                    k.updates.len()
                        + k.updates.first().map_or(0, |(_, items)| items.len())
                        + usize::from(k.checkout.is_some())
                });
                let identify = usize::from(*si == 0);
                s.searches.len() + s.views.len() + cart + identify
            }
            Act::Order(oi) => 1 + usize::from(c.orders[*oi].checkout_session.is_some()),
            _ => 1,
        })
        .sum()
}

fn browse_views(appetite: f64, round_u: f64, scale: f64) -> usize {
    ((appetite * scale + round_u).floor() as usize).min(MAX_BROWSE_VIEWS)
}

/// The browsing scale whose total is closest to `target` (total rises with the scale).
fn browse_scale(fixed: usize, sessions: &[(f64, f64)], target: usize) -> f64 {
    let total = |s: f64| {
        fixed
            + sessions
                .iter()
                .map(|&(a, u)| browse_views(a, u, s))
                .sum::<usize>()
    };
    if total(0.0) >= target {
        return 0.0;
    }
    if total(MAX_SCALE) <= target {
        return MAX_SCALE;
    }
    let (mut lo, mut hi) = (0.0, MAX_SCALE);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if total(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if target - total(lo) <= total(hi) - target {
        lo
    } else {
        hi
    }
}

// ---------------------------------------------------------------------------------------------
// Events

struct Out<'a> {
    tenant: &'a str,
    version: i32,
    events: Vec<CanonicalEvent>,
}

impl Out<'_> {
    fn push(
        &mut self,
        platform: Platform,
        ids: &[&str],
        source_id: &str,
        customer_key: Option<&str>,
        at: i64,
        payload: Payload,
    ) {
        let event_id = event_id(self.tenant, platform, payload.type_name(), ids);
        // A few seconds of delivery delay; about one in 250 arrives up to six hours late.
        let h = hash_str(&event_id);
        let delay = if h % 1_000 < 4 {
            10 * MS_PER_MINUTE + ((h >> 20) % (6 * MS_PER_HOUR) as u64) as i64
        } else {
            ((h >> 20) % 5_001) as i64
        };
        self.events.push(CanonicalEvent {
            event_id,
            tenant_id: self.tenant.to_owned(),
            platform,
            source_id: source_id.to_owned(),
            customer_key: customer_key.map(str::to_owned),
            occurred_at: at,
            received_at: at + delay,
            schema_version: self.version,
            payload,
        });
    }
}

/// The catalogue lives in the Shopify store (the other channels sync from it).
const CATALOG_PLATFORM: Platform = Platform::Shopify;

fn emit_catalog(out: &mut Out, catalog: &Catalog, inventory: &[StockMove], start: i64) {
    for (i, p) in catalog.products.iter().enumerate() {
        // The initial import takes a few minutes; later launches happen at their own time.
        let at = if p.launch_at == start {
            start + i as i64 * 700
        } else {
            p.launch_at
        };
        let at_s = at.to_string();
        out.push(
            CATALOG_PLATFORM,
            &[&p.id, &at_s],
            &p.id,
            None,
            at,
            Payload::ProductUpserted(ProductUpserted {
                product_id: p.id.clone(),
                title: p.title.clone(),
                category: Some(p.category_name().to_owned()),
                brand: Some(p.brand.to_owned()),
                currency: "USD".to_owned(),
                price_minor: p.prices[0].price,
                compare_at_price_minor: p.compare_at,
                status: "active".to_owned(),
                tags: p.tags.clone(),
            }),
        );
        out.push(
            CATALOG_PLATFORM,
            &[&p.id, "initial"],
            &p.id,
            None,
            at + 300,
            Payload::InventoryChanged(InventoryChanged {
                product_id: p.id.clone(),
                variant_id: None,
                available: p.initial_stock,
                previous: None,
            }),
        );
        for w in p.prices.windows(2) {
            let at_s = w[1].at.to_string();
            out.push(
                CATALOG_PLATFORM,
                &[&p.id, &at_s],
                &p.id,
                None,
                w[1].at,
                Payload::PriceChanged(PriceChanged {
                    product_id: p.id.clone(),
                    variant_id: None,
                    currency: "USD".to_owned(),
                    old_price_minor: Some(w[0].price),
                    new_price_minor: w[1].price,
                }),
            );
        }
    }
    for m in inventory {
        let p = &catalog.products[m.product];
        let at_s = m.at.to_string();
        let cause = m.order_id.as_deref().unwrap_or("restock");
        out.push(
            CATALOG_PLATFORM,
            &[&p.id, cause, &at_s],
            &p.id,
            None,
            m.at,
            Payload::InventoryChanged(InventoryChanged {
                product_id: p.id.clone(),
                variant_id: None,
                available: m.available,
                previous: Some(m.previous),
            }),
        );
    }
}

/// Where a message arrives: the storefront chat widget, a social inbox, or the customer's platform.
fn message_platform(channel: MessageChannel, customer_platform: Platform) -> Platform {
    match channel {
        MessageChannel::Chat => Platform::Storefront,
        MessageChannel::Social => Platform::Other,
        _ => customer_platform,
    }
}

fn emit_customer(
    out: &mut Out,
    c: &Customer,
    ids: &Ids,
    catalog: &Catalog,
    scale: f64,
    cfg: &GenConfig,
    salt: u64,
) {
    let ck = ids.key[c.idx].as_str();
    let cid = ids.customer[c.idx].as_str();
    let currency = c.currency();
    let shop = format!("https://{}.example.com", cfg.tenant_id);
    let mut messages = 0u64;
    for (ai, act) in c.acts.iter().enumerate() {
        let at = act_at(act, &c.sessions, &c.orders);
        let at_s = at.to_string();
        match act {
            Act::Upsert {
                accepts_marketing,
                vip,
                ..
            } => {
                let mut tags = vec![c.source_tag.to_owned()];
                if *accepts_marketing {
                    tags.push("newsletter".into());
                }
                if c.prime {
                    tags.push("prime".into());
                }
                if *vip {
                    tags.push("vip".into());
                }
                let city = &c.market.cities[c.city];
                out.push(
                    c.platform,
                    &[cid, &at_s],
                    cid,
                    Some(ck),
                    at,
                    Payload::CustomerUpserted(CustomerUpserted {
                        platform_customer_id: cid.to_owned(),
                        email: ids.email[c.idx].clone(),
                        phone: c.phone.clone(),
                        first_name: Some(c.first_name.to_owned()),
                        last_name: Some(c.last_name.to_owned()),
                        country: Some(c.market.country.to_owned()),
                        city: Some(city.name.to_owned()),
                        accepts_marketing: *accepts_marketing,
                        platform_created_at: Some(c.signup_at),
                        tags,
                    }),
                );
            }
            Act::Consent {
                channel,
                granted,
                source,
                ..
            } => {
                let ch = format!("{channel:?}");
                out.push(
                    c.platform,
                    &[cid, &ch, &at_s],
                    cid,
                    Some(ck),
                    at,
                    Payload::ConsentChanged(ConsentChanged {
                        channel: *channel,
                        granted: *granted,
                        source: Some((*source).to_owned()),
                    }),
                );
            }
            Act::Session(si) => emit_session(out, c, *si, ids, catalog, scale, &shop, salt),
            Act::Order(oi) => {
                let o = &c.orders[*oi];
                let (order_id, order_number) = &ids.order[c.idx][*oi];
                let checkout_id = o
                    .checkout_session
                    .and_then(|si| ids.checkout[c.idx][si].clone());
                let lines = o
                    .lines
                    .iter()
                    .map(|l| {
                        let p = &catalog.products[l.item.product];
                        let (variant_id, variant) = &p.variants[l.item.variant];
                        OrderLine {
                            product_id: p.id.clone(),
                            variant_id: Some(variant_id.clone()),
                            sku: Some(sku(catalog, l.item.product, variant)),
                            title: p.title.clone(),
                            category: Some(p.category_name().to_owned()),
                            brand: Some(p.brand.to_owned()),
                            quantity: l.item.qty,
                            unit_price_minor: l.item.unit,
                            discount_minor: l.discount,
                        }
                    })
                    .collect();
                out.push(
                    c.platform,
                    &[order_id],
                    order_id,
                    Some(ck),
                    at,
                    Payload::OrderPlaced(OrderPlaced {
                        order_id: order_id.clone(),
                        order_number: order_number.clone(),
                        currency: currency.to_owned(),
                        lines,
                        subtotal_minor: o.subtotal,
                        discount_minor: o.discount,
                        shipping_minor: o.shipping,
                        tax_minor: o.tax,
                        total_minor: o.total,
                        discount_codes: o.codes.iter().map(|s| (*s).to_owned()).collect(),
                        financial_status: o.financial_status.to_owned(),
                        is_test: false,
                        guest: c.guest,
                        checkout_id: checkout_id.clone(),
                        channel: Some(o.channel.to_owned()),
                    }),
                );
                if let Some(checkout_id) = checkout_id {
                    let delay = 1_000 + (hash_str(order_id) % 2_000) as i64;
                    out.push(
                        c.platform,
                        &[&checkout_id, order_id],
                        &checkout_id,
                        Some(ck),
                        at + delay,
                        Payload::CheckoutCompleted(CheckoutCompleted {
                            checkout_id: checkout_id.clone(),
                            order_id: order_id.clone(),
                            currency: currency.to_owned(),
                            total_minor: o.total,
                        }),
                    );
                }
            }
            Act::Refund {
                order,
                reason,
                lines,
                shipping,
                ..
            } => {
                let o = &c.orders[*order];
                let order_id = &ids.order[c.idx][*order].0;
                let refund_id = ids.act[c.idx][ai].as_deref().expect("refund id assigned");
                let lines: Vec<RefundLine> = lines
                    .iter()
                    .map(|&(li, qty, amount)| RefundLine {
                        product_id: catalog.products[o.lines[li].item.product].id.clone(),
                        quantity: qty,
                        amount_minor: amount,
                    })
                    .collect();
                let amount = lines.iter().map(|l| l.amount_minor).sum::<i64>() + shipping;
                out.push(
                    c.platform,
                    &[order_id, refund_id],
                    refund_id,
                    Some(ck),
                    at,
                    Payload::OrderRefunded(OrderRefunded {
                        order_id: order_id.clone(),
                        refund_id: refund_id.to_owned(),
                        currency: currency.to_owned(),
                        amount_minor: amount,
                        reason: Some((*reason).to_owned()),
                        lines,
                    }),
                );
            }
            Act::Review {
                product,
                verified,
                rating,
                title,
                text,
                ..
            } => {
                let review_id = ids.act[c.idx][ai].as_deref().expect("review id assigned");
                out.push(
                    c.platform,
                    &[review_id],
                    review_id,
                    Some(ck),
                    at,
                    Payload::ReviewPosted(ReviewPosted {
                        review_id: review_id.to_owned(),
                        product_id: Some(catalog.products[*product].id.clone()),
                        rating: *rating,
                        title: Some(title.clone()),
                        text: text.clone(),
                        verified_purchase: *verified,
                        language: Some("en".to_owned()),
                    }),
                );
            }
            Act::Message {
                channel,
                thread,
                text,
                order,
                ..
            } => {
                messages += 1;
                let message_id = format!("msg_{}", token16(salt ^ 0x4D53, key(c.idx, 3, messages)));
                let thread_id = format!(
                    "th_{}",
                    token16(salt ^ 0x5448, key(c.idx, 4, *thread as u64))
                );
                let text = match order {
                    Some(oi) => {
                        let (id, number) = &ids.order[c.idx][*oi];
                        text.replace("{order}", number.as_deref().unwrap_or(id))
                    }
                    None => text.replace("{order}", "my last order"),
                };
                out.push(
                    message_platform(*channel, c.platform),
                    &[&message_id],
                    &message_id,
                    Some(ck),
                    at,
                    Payload::MessageReceived(MessageReceived {
                        message_id: message_id.clone(),
                        channel: *channel,
                        thread_id: Some(thread_id),
                        text,
                        language: Some("en".to_owned()),
                        author: MessageAuthor::Customer,
                    }),
                );
            }
        }
    }
}

fn sku(catalog: &Catalog, p: usize, variant: &str) -> String {
    let prod = &catalog.products[p];
    let brand: String = prod
        .brand
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .take(3)
        .collect::<String>()
        .to_uppercase();
    let code = catalog::CATEGORIES[prod.category].code;
    if variant == "Default" {
        format!("{code}-{brand}-{p:04}")
    } else {
        format!("{code}-{brand}-{p:04}-{}", variant.to_uppercase())
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_session(
    out: &mut Out,
    c: &Customer,
    si: usize,
    ids: &Ids,
    catalog: &Catalog,
    scale: f64,
    shop: &str,
    salt: u64,
) {
    let s = &c.sessions[si];
    let ck = ids.key[c.idx].as_str();
    let currency = c.currency();
    let session_id = format!(
        "sess_{}",
        token16(salt ^ 0x5E55, key(c.idx, 1, s.no as u64))
    );

    // Searches and views in time order share one sequence.
    enum Hit<'a> {
        Search(&'a str, i32),
        View(usize),
    }
    let mut hits: Vec<(i64, Hit)> = Vec::new();
    for (at, q, n) in &s.searches {
        hits.push((*at, Hit::Search(q, *n)));
    }
    for &(at, p) in &s.views {
        hits.push((at, Hit::View(p)));
    }
    let extra = browse_views(s.appetite, s.round_u, scale);
    if extra > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(c.salt ^ mix(s.no as u64)));
        let lo = s.start + MS_PER_SECOND;
        let hi = s.browse_end.max(lo + MS_PER_MINUTE);
        for _ in 0..extra {
            let at = rng.random_range(lo..hi);
            let p = c.pick_product(&mut rng, catalog, at);
            hits.push((at, Hit::View(p)));
        }
    }
    hits.sort_by_key(|h| h.0);
    if si == 0 {
        // The first visit starts anonymous; the shopper signs in (the storefront's identify)
        // and the browser's anonymous id is joined to the customer.
        let anonymous_id = token16(salt ^ 0xA707, key(c.idx, 6, 0));
        out.push(
            Platform::Storefront,
            &[&anonymous_id, ck],
            &session_id,
            Some(ck),
            s.start,
            Payload::IdentityLinked(IdentityLinked {
                from_key: format!("anon:{anonymous_id}"),
                reason: "identify".to_owned(),
                anonymous_id: Some(anonymous_id.clone()),
                user_id: None,
            }),
        );
    }
    for (seq, (at, hit)) in hits.into_iter().enumerate() {
        let seq_s = seq.to_string();
        let payload = match hit {
            Hit::Search(q, n) => Payload::ProductSearched(ProductSearched {
                query: q.to_owned(),
                results_count: Some(n),
                session_id: Some(session_id.clone()),
            }),
            Hit::View(p) => {
                let prod = &catalog.products[p];
                Payload::ProductViewed(ProductViewed {
                    product_id: prod.id.clone(),
                    variant_id: None,
                    title: Some(prod.title.clone()),
                    category: Some(prod.category_name().to_owned()),
                    price_minor: Some(local_price(prod.price_at(at), currency)),
                    currency: Some(currency.to_owned()),
                    url: Some(format!("{shop}/products/{}", prod.slug)),
                    session_id: Some(session_id.clone()),
                })
            }
        };
        out.push(
            Platform::Storefront,
            &[&session_id, &seq_s],
            &session_id,
            Some(ck),
            at,
            payload,
        );
    }

    let Some(cart) = &s.cart else { return };
    let cart_id = token32(salt ^ 0xCA27, key(c.idx, 2, s.no as u64));
    for (k, (at, items)) in cart.updates.iter().enumerate() {
        let k_s = k.to_string();
        if k == 0 {
            // The storefront script reports the first add-to-cart click ("Product Added") a
            // moment before the platform's cart webhook reports the whole cart.
            for it in items {
                let p = &catalog.products[it.product];
                out.push(
                    Platform::Storefront,
                    &[&cart_id, "added", &p.id],
                    &cart_id,
                    Some(ck),
                    *at - 2 * MS_PER_SECOND,
                    Payload::CartItemChanged(CartItemChanged {
                        cart_id: Some(cart_id.clone()),
                        product_id: p.id.clone(),
                        variant_id: Some(p.variants[it.variant].0.clone()),
                        title: Some(p.title.clone()),
                        quantity: it.qty,
                        unit_price_minor: Some(it.unit),
                        currency: Some(currency.to_owned()),
                        session_id: Some(session_id.clone()),
                    }),
                );
            }
        }
        let lines: Vec<CartLine> = items
            .iter()
            .map(|it| {
                let p = &catalog.products[it.product];
                CartLine {
                    product_id: p.id.clone(),
                    variant_id: Some(p.variants[it.variant].0.clone()),
                    title: Some(p.title.clone()),
                    quantity: it.qty,
                    unit_price_minor: it.unit,
                }
            })
            .collect();
        let total = items.iter().map(|it| it.unit * it.qty as i64).sum();
        out.push(
            Platform::Storefront,
            &[&cart_id, &k_s],
            &cart_id,
            Some(ck),
            *at,
            Payload::CartUpdated(CartUpdated {
                cart_id: cart_id.clone(),
                currency: currency.to_owned(),
                lines,
                total_minor: total,
                session_id: Some(session_id.clone()),
            }),
        );
    }
    if let Some(k) = &cart.checkout {
        let checkout_id = ids.checkout[c.idx][si]
            .as_deref()
            .expect("checkout id assigned");
        let token = token16(salt ^ 0xC0, key(c.idx, 5, s.no as u64));
        out.push(
            c.platform,
            &[checkout_id],
            checkout_id,
            Some(ck),
            k.at,
            Payload::CheckoutStarted(CheckoutStarted {
                checkout_id: checkout_id.to_owned(),
                cart_id: Some(cart_id.clone()),
                currency: currency.to_owned(),
                total_minor: k.total,
                line_count: k.line_count,
                recovery_url: Some(format!("{shop}/checkouts/{token}/recover")),
            }),
        );
    }
}

fn emit_redaction(out: &mut Out, c: &Customer, ids: &Ids, at: i64, salt: u64) {
    let request_id = format!("gdpr_{}", token16(salt ^ 0x6D, key(c.idx, 6, 0)));
    let orders: Vec<String> = c
        .acts
        .iter()
        .filter_map(|a| match a {
            Act::Order(oi) => Some(ids.order[c.idx][*oi].0.clone()),
            _ => None,
        })
        .collect();
    out.push(
        c.platform,
        &[&request_id],
        &request_id,
        Some(&ids.key[c.idx]),
        at,
        Payload::RedactionRequested(RedactionRequested {
            request_id: request_id.clone(),
            email: ids.email[c.idx].clone(),
            phone: c.phone.clone(),
            orders_to_redact: orders,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_hits_the_target() {
        let sessions: Vec<(f64, f64)> = (0..1_000)
            .map(|i| (1.0 + (i % 7) as f64, (i % 10) as f64 / 10.0))
            .collect();
        let s = browse_scale(500, &sessions, 6_000);
        let total = 500
            + sessions
                .iter()
                .map(|&(a, u)| browse_views(a, u, s))
                .sum::<usize>();
        assert!(total.abs_diff(6_000) <= 10, "{total}");
        assert_eq!(browse_scale(10_000, &sessions, 6_000), 0.0);
    }
}
