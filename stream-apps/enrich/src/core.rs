//! The pure core of enrich: no async, no log. [`Enrich::apply`] folds one canonical event into
//! its shop's and customer's state; [`Enrich::features`] computes a customer's snapshot. Time is
//! the shop's event-time clock (the newest event seen), never the wall clock, so a replay of the
//! same log gives the same snapshots byte for byte, and once all events are in, the state does
//! not depend on the order they arrived in.
//!
//! Cleaning happens here: a repeated `event_id` changes nothing; an order seen twice (create,
//! then paid/updated webhooks) counts once, its newest version winning; test orders, orders with
//! a non-positive total and amounts in a currency without a configured rate are not folded in
//! but counted per reason in the snapshot's `dropped` map.
//!
//! Identity: an `IdentityLinked` event joins its `from_key` (an anonymous browser, a user id) to the
//! customer it is keyed by. The joined key's state is absorbed into that customer, and its later
//! events and insights are folded there; its own snapshot then only says where it went
//! (`merged_into`). Absorbing is a union (sums, sets, min/max, newest order version), so the
//! result is the same whether a key's events arrive before or after its join.
//!
//! Text insights from the nlp app ([`Enrich::apply_insight`]) are kept per customer by event time
//! and id, one per text, and summed in that order when a snapshot is made: sentiment level and
//! trend, the emotion mix, and Big Five scores with their confidence and the cues behind them.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
};

/// Hash maps and sets with foldhash (randomly seeded, several times quicker than SipHash on
/// the short keys and 128-bit ids here). Nothing is emitted in their iteration order.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

use serde::{Deserialize, Serialize};

use mindset_schemas::{
    CanonicalEvent, CustomerFeatures, MessageAuthor, Payload, TextInsight,
    features::TraitCue,
    insights::{BigFive, EmotionScores, SentimentLabel, Trait},
};

use crate::{
    lifetime::{
        BgNbd, BgNbdParams, ClvHorizon, CustomerSummary, DAYS_PER_MONTH, GammaGamma,
        GammaGammaParams, Purchase, customer_lifetime_value,
    },
    sketch::{Buckets, Sketch},
};

const DAY_MS: f64 = 86_400_000.0;
/// 2: the text features (sentiment, emotions, Big Five) joined in.
pub const FEATURE_VERSION: i32 = 2;

/// Configuration of the core.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichConfig {
    /// Currency every amount is converted to, per tenant; `default_currency` otherwise.
    pub shop_currency: BTreeMap<String, String>,
    pub default_currency: String,
    /// Units of each currency per 1 USD (reference rates; the rate used is kept with each order).
    pub rates_per_usd: BTreeMap<String, f64>,
    /// Buyers a shop needs before its BG/NBD and Gamma-Gamma models are fitted.
    pub min_buyers_for_models: usize,
    /// Monthly discount rate of the 12-month CLV.
    pub monthly_discount_rate: f64,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        let rates = [
            ("USD", 1.0),
            ("EUR", 0.92),
            ("GBP", 0.79),
            ("INR", 83.0),
            ("JPY", 150.0),
            ("CAD", 1.36),
            ("AUD", 1.52),
            ("CHF", 0.88),
            ("SEK", 10.5),
            ("BRL", 5.0),
            ("MXN", 17.0),
            ("SGD", 1.34),
            ("AED", 3.67),
        ];
        EnrichConfig {
            shop_currency: BTreeMap::new(),
            default_currency: "USD".into(),
            rates_per_usd: rates.iter().map(|(c, r)| (c.to_string(), *r)).collect(),
            min_buyers_for_models: 50,
            monthly_discount_rate: 0.01,
        }
    }
}

/// Decimal places of a currency's minor unit (ISO 4217).
pub fn exponent(currency: &str) -> i32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" => 0,
        "BHD" | "KWD" | "JOD" | "OMR" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

/// What [`Enrich::apply`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Folded into the state of the event's customer.
    Customer,
    /// A catalogue change (prices used for the price tier).
    Catalog,
    /// Seen before (same `event_id`): nothing changed.
    Duplicate,
    /// Counted in the customer's `dropped` map, not folded in, for this reason.
    Dropped { reason: &'static str },
    /// A customer event without a customer key (the log never holds one; the connectors refuse it).
    NoCustomer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    /// (occurred_at, event_id) of the version kept: the newest wins, whatever the arrival order.
    version: (i64, String),
    at: i64,
    total: i64,
    units: i64,
    discounted: bool,
    fx_rate: f64,
    products: Vec<String>,
    categories: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Customer {
    /// Ids (hashed) of every event folded into this customer: a repeated event changes nothing.
    #[serde(with = "id_set")]
    ids: IdSet,
    events: i64,
    first_seen: i64,
    last_seen: i64,
    orders: BTreeMap<String, Order>,
    refunds: BTreeMap<String, (String, i64)>,
    carts: BTreeSet<String>,
    checkouts_started: BTreeSet<String>,
    checkouts_completed: BTreeSet<String>,
    views: i32,
    searches: i32,
    hours: [u32; 24],
    reviews: i32,
    rating_sum: i64,
    messages: i32,
    #[serde(with = "drop_reasons")]
    dropped: BTreeMap<&'static str, i64>,
    /// The customer's text insights by (event time, event id hash): one per text.
    #[serde(with = "texts_by_time")]
    texts: BTreeMap<(i64, u128), Text>,
}

/// What enrich keeps of one text insight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Text {
    occurred_at: i64,
    event_id: String,
    score: f64,
    negative: bool,
    emotions: Option<[f64; 7]>,
    traits: Option<TextTraits>,
}

/// Per trait (signal, weight), and the cues (trait, cue, contribution).
type TextTraits = ([(f64, f64); 5], Vec<(Trait, String, f64)>);

/// Prior weight of the trait confidence: a trait's confidence is Σweight / (Σweight + this).
const TRAIT_PRIOR_WEIGHT: f64 = 2.0;
/// Cues kept per trait in a snapshot.
const CUES_PER_TRAIT: usize = 2;

/// The values a customer contributes to the shop's sketches (buyers only).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Contribution {
    last_order_day: f64,
    orders: f64,
    monetary: f64,
    aov: f64,
}

impl Customer {
    /// Takes in another key's state (an identity join): the union of the two.
    fn absorb(&mut self, o: Customer) {
        if o.events > 0 {
            if self.events == 0 {
                self.first_seen = o.first_seen;
                self.last_seen = o.last_seen;
            } else {
                self.first_seen = self.first_seen.min(o.first_seen);
                self.last_seen = self.last_seen.max(o.last_seen);
            }
        }
        self.events += o.events;
        self.ids.extend(o.ids);
        for (id, order) in o.orders {
            match self.orders.get(&id) {
                Some(existing) if existing.version >= order.version => {}
                _ => {
                    self.orders.insert(id, order);
                }
            }
        }
        for (id, refund) in o.refunds {
            // The same refund from two keys: keep one, whichever order they came in.
            let kept = self.refunds.entry(id).or_insert_with(|| refund.clone());
            if refund > *kept {
                *kept = refund;
            }
        }
        self.carts.extend(o.carts);
        self.checkouts_started.extend(o.checkouts_started);
        self.checkouts_completed.extend(o.checkouts_completed);
        self.views += o.views;
        self.searches += o.searches;
        for (h, n) in self.hours.iter_mut().zip(o.hours) {
            *h += n;
        }
        self.reviews += o.reviews;
        self.rating_sum += o.rating_sum;
        self.messages += o.messages;
        for (reason, n) in o.dropped {
            *self.dropped.entry(reason).or_default() += n;
        }
        self.texts.extend(o.texts);
    }

    /// The customer's purchase history for BG/NBD and Gamma-Gamma, in days and shop-currency
    /// major units, observed up to `clock`.
    fn summary(&self, clock: i64, exponent: i32) -> Option<CustomerSummary> {
        let purchases: Vec<Purchase> = self
            .orders
            .values()
            .map(|o| Purchase {
                time: (o.at as f64 / DAY_MS).floor(),
                amount: o.total as f64 / 10f64.powi(exponent),
            })
            .collect();
        CustomerSummary::from_purchases(&purchases, (clock as f64 / DAY_MS).floor())
            .ok()
            .flatten()
    }

    fn monetary(&self) -> i64 {
        let spent: i64 = self.orders.values().map(|o| o.total).sum();
        let refunded: i64 = self.refunds.values().map(|(_, a)| *a).sum();
        spent - refunded
    }

    fn contribution(&self) -> Option<Contribution> {
        let last = self.orders.values().map(|o| o.at).max()?;
        let n = self.orders.len() as f64;
        let gross: i64 = self.orders.values().map(|o| o.total).sum();
        Some(Contribution {
            last_order_day: last as f64 / DAY_MS,
            orders: n,
            monetary: self.monetary().max(0) as f64,
            aov: gross as f64 / n,
        })
    }
}

struct Shop {
    currency: String,
    clock: i64,
    customers: HashMap<String, Customer>,
    /// Ids of the catalogue events folded in (customer events' ids are kept by their customer).
    catalog_seen: HashSet<u128>,
    recency: Sketch,
    frequency: Sketch,
    monetary: Sketch,
    aov: Sketch,
    /// product -> ((occurred_at, event_id) of the price kept, price in shop minor units).
    catalog: HashMap<String, ((i64, String), i64)>,
    prices: Sketch,
    /// The shop's fitted churn and spend models (time unit: days), and the clock they were fitted at.
    models: Option<Models>,
    /// Orders folded in since the last fit.
    orders_since_fit: u64,
    /// P(alive), expected orders and CLV by (frequency, recency, age, spend) under `models`
    /// (emptied when they change): a cache, not state.
    lifetime_memo: RefCell<HashMap<[u64; 4], LifetimeValues>>,
    /// Identity joins: a key to the key it was joined to (followed until a key joined to nothing).
    aliases: HashMap<String, String>,
    /// Keys whose state was absorbed into another customer, with that state's last event time.
    merged: HashMap<String, i64>,
}

type LifetimeValues = (Option<f64>, Option<f64>, Option<i64>);
/// Histories kept in a shop's lifetime cache before it is emptied.
const LIFETIME_MEMO_MAX: usize = 100_000;

/// A shop's fitted lifetime models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Models {
    pub purchases: BgNbd,
    pub spend: Option<GammaGamma>,
    pub fitted_at: i64,
    pub buyers: usize,
}

fn money_sketch() -> Sketch {
    Sketch::new(Buckets::Log {
        gamma: 1.02,
        min: 1.0,
        max: 1e13,
    })
}

impl Shop {
    fn new(currency: String) -> Shop {
        Shop {
            currency,
            clock: 0,
            customers: HashMap::default(),
            catalog_seen: HashSet::default(),
            // Days since 2000-01-01 up to 2100.
            recency: Sketch::new(Buckets::Linear {
                origin: 10_957.0,
                width: 1.0,
                max: 47_482.0,
            }),
            frequency: Sketch::new(Buckets::Log {
                gamma: 1.02,
                min: 1.0,
                max: 1e6,
            }),
            monetary: money_sketch(),
            aov: money_sketch(),
            catalog: HashMap::default(),
            prices: money_sketch(),
            models: None,
            orders_since_fit: 0,
            lifetime_memo: RefCell::new(HashMap::default()),
            aliases: HashMap::default(),
            merged: HashMap::default(),
        }
    }

    /// Whether `key` was joined to another key (the common case, no, is one hash lookup).
    fn joined(&self, key: &str) -> bool {
        !self.aliases.is_empty() && self.aliases.contains_key(key)
    }

    /// The customer a key's activity is counted under: the end of its chain of joins.
    fn resolve<'a>(&'a self, key: &'a str) -> &'a str {
        let mut at = key;
        // A chain is short; the bound only guards against a cycle slipping in.
        for _ in 0..64 {
            match self.aliases.get(at) {
                Some(next) if next != at => at = next,
                _ => break,
            }
        }
        at
    }

    /// Joins `from` to `to`: records the alias and absorbs `from`'s state (if any) into the
    /// customer `to` resolves to. A join that would close a cycle changes nothing.
    fn join(&mut self, from: &str, to: &str) -> bool {
        let target = self.resolve(to).to_owned();
        if self.resolve(from) == target {
            return false;
        }
        self.aliases.insert(from.to_owned(), to.to_owned());
        if let Some(absorbed) = self.customers.remove(from) {
            let target_state = self.customers.entry(target).or_default();
            let before = (absorbed.contribution(), target_state.contribution());
            self.merged.insert(from.to_owned(), absorbed.last_seen);
            target_state.absorb(absorbed);
            let after = target_state.contribution();
            self.update_sketches(before.0, None);
            self.update_sketches(before.1, after);
        }
        true
    }

    fn update_sketches(&mut self, old: Option<Contribution>, new: Option<Contribution>) {
        if old == new {
            return;
        }
        if let Some(o) = old {
            self.recency.remove(o.last_order_day);
            self.frequency.remove(o.orders);
            self.monetary.remove(o.monetary);
            self.aov.remove(o.aov);
        }
        if let Some(n) = new {
            self.recency.insert(n.last_order_day);
            self.frequency.insert(n.orders);
            self.monetary.insert(n.monetary);
            self.aov.insert(n.aov);
        }
    }
}

/// The enrich core: every shop's state.
pub struct Enrich {
    config: EnrichConfig,
    shops: BTreeMap<String, Shop>,
}

/// Convert `amount` minor units of `from` into minor units of `to`, with the configured rates.
fn convert(config: &EnrichConfig, amount: i64, from: &str, to: &str) -> Option<(i64, f64)> {
    if from == to {
        return Some((amount, 1.0));
    }
    let rf = *config.rates_per_usd.get(from)?;
    let rt = *config.rates_per_usd.get(to)?;
    let rate = rt / rf;
    let major = amount as f64 / 10f64.powi(exponent(from));
    Some((
        (major * rate * 10f64.powi(exponent(to))).round() as i64,
        rate,
    ))
}

fn id_hash(event_id: &str) -> u128 {
    match uuid::Uuid::parse_str(event_id) {
        Ok(u) => u.as_u128(),
        Err(_) => {
            // FNV-1a, 128-bit, for ids that are not UUIDs.
            let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
            for b in event_id.as_bytes() {
                h ^= u128::from(*b);
                h = h.wrapping_mul(0x0000000001000000000000000000013B);
            }
            h
        }
    }
}

impl Enrich {
    pub fn new(config: EnrichConfig) -> Enrich {
        Enrich {
            config,
            shops: BTreeMap::new(),
        }
    }

    fn shop(&mut self, tenant: &str) -> &mut Shop {
        if !self.shops.contains_key(tenant) {
            let currency = self
                .config
                .shop_currency
                .get(tenant)
                .unwrap_or(&self.config.default_currency)
                .clone();
            self.shops.insert(tenant.to_owned(), Shop::new(currency));
        }
        self.shops.get_mut(tenant).expect("inserted")
    }

    /// Fold one event in.
    pub fn apply(&mut self, ev: &CanonicalEvent) -> Applied {
        let id = id_hash(&ev.event_id);
        let tenant = ev.tenant_id.as_str();
        if ev.payload.is_catalog() {
            let shop = self.shop(tenant);
            // The clock is a max: a repeated event leaves it as it was.
            shop.clock = shop.clock.max(ev.occurred_at);
            if !shop.catalog_seen.insert(id) {
                return Applied::Duplicate;
            }
            self.apply_catalog(tenant, ev);
            return Applied::Catalog;
        }
        // The shop is looked up once (fields of `self` are borrowed apart from here on).
        self.shop(tenant);
        let Enrich { config, shops } = self;
        let shop = shops.get_mut(tenant).expect("created above");
        shop.clock = shop.clock.max(ev.occurred_at);
        let Some(key) = ev.customer_key.as_deref() else {
            return Applied::NoCustomer;
        };
        if let Payload::IdentityLinked(link) = &ev.payload {
            shop.join(&link.from_key, key);
        }
        let resolved = shop.joined(key).then(|| shop.resolve(key).to_owned());
        let customer = resolved.as_deref().unwrap_or(key);

        // Amounts in the shop currency, or why not.
        let shop_currency = shop.currency.as_str();
        let converted = match &ev.payload {
            Payload::OrderPlaced(o) if o.is_test => Err("test_order"),
            Payload::OrderPlaced(o) if o.total_minor <= 0 => Err("non_positive_total"),
            Payload::OrderPlaced(o) => {
                convert(config, o.total_minor, &o.currency, shop_currency).ok_or("unknown_currency")
            }
            Payload::OrderRefunded(r) if r.amount_minor <= 0 => Err("non_positive_total"),
            Payload::OrderRefunded(r) => {
                convert(config, r.amount_minor, &r.currency, shop_currency)
                    .ok_or("unknown_currency")
            }
            _ => Ok((0, 1.0)),
        };

        if !shop.customers.contains_key(customer) {
            shop.customers
                .insert(customer.to_owned(), Customer::default());
        }
        let c = shop.customers.get_mut(customer).expect("inserted");
        // After the join above: a repeated join finds its keys joined already, and the ids of a
        // joined key's events moved with its state.
        if !c.ids.insert(id) {
            return Applied::Duplicate;
        }
        // Only orders and refunds move what a customer contributes to the sketches.
        let moves_money = matches!(
            ev.payload,
            Payload::OrderPlaced(_) | Payload::OrderRefunded(_)
        );
        let before = if moves_money { c.contribution() } else { None };
        if c.events == 0 {
            c.first_seen = ev.occurred_at;
            c.last_seen = ev.occurred_at;
        }
        c.events += 1;
        c.first_seen = c.first_seen.min(ev.occurred_at);
        c.last_seen = c.last_seen.max(ev.occurred_at);
        let (amount, rate) = match converted {
            Ok(a) => a,
            Err(reason) => {
                *c.dropped.entry(reason).or_default() += 1;
                return Applied::Dropped { reason };
            }
        };
        let hour = ((ev.occurred_at.rem_euclid(86_400_000)) / 3_600_000) as usize;
        match &ev.payload {
            Payload::OrderPlaced(o) => {
                let order = Order {
                    version: (ev.occurred_at, ev.event_id.clone()),
                    at: ev.occurred_at,
                    total: amount,
                    units: o.lines.iter().map(|l| i64::from(l.quantity.max(0))).sum(),
                    discounted: o.discount_minor > 0
                        || !o.discount_codes.is_empty()
                        || o.lines.iter().any(|l| l.discount_minor > 0),
                    fx_rate: rate,
                    products: o.lines.iter().map(|l| l.product_id.clone()).collect(),
                    categories: o.lines.iter().filter_map(|l| l.category.clone()).collect(),
                };
                match c.orders.get(&o.order_id) {
                    Some(existing) if existing.version >= order.version => {}
                    _ => {
                        c.orders.insert(o.order_id.clone(), order);
                    }
                }
                shop.orders_since_fit += 1;
                c.hours[hour] += 1;
            }
            Payload::OrderRefunded(r) => {
                c.refunds
                    .insert(r.refund_id.clone(), (r.order_id.clone(), amount));
            }
            Payload::CartUpdated(cart) => {
                c.carts.insert(cart.cart_id.clone());
                c.hours[hour] += 1;
            }
            Payload::CartItemChanged(item) => {
                // An item added to a cart whose whole content is not known still opens that cart
                // (keyed by the cart, else by the browsing session).
                if item.quantity > 0
                    && let Some(cart) = item.cart_id.as_ref().or(item.session_id.as_ref())
                {
                    c.carts.insert(cart.clone());
                }
                c.hours[hour] += 1;
            }
            Payload::CheckoutStarted(co) => {
                c.checkouts_started.insert(co.checkout_id.clone());
            }
            Payload::CheckoutCompleted(co) => {
                c.checkouts_completed.insert(co.checkout_id.clone());
            }
            Payload::ProductViewed(_) => {
                c.views += 1;
                c.hours[hour] += 1;
            }
            Payload::ProductSearched(_) => {
                c.searches += 1;
                c.hours[hour] += 1;
            }
            Payload::ReviewPosted(r) => {
                c.reviews += 1;
                c.rating_sum += i64::from(r.rating.clamp(1, 5));
            }
            Payload::MessageReceived(m) => {
                if m.author == MessageAuthor::Customer {
                    c.messages += 1;
                    c.hours[hour] += 1;
                }
            }
            // A join was applied above; it is not behaviour.
            Payload::CustomerUpserted(_)
            | Payload::IdentityLinked(_)
            | Payload::ConsentChanged(_)
            | Payload::RedactionRequested(_) => {}
            Payload::ProductUpserted(_)
            | Payload::PriceChanged(_)
            | Payload::InventoryChanged(_) => {
                unreachable!("catalog events handled above")
            }
        }
        if moves_money {
            let after = c.contribution();
            shop.update_sketches(before, after);
        }
        Applied::Customer
    }

    fn apply_catalog(&mut self, tenant: &str, ev: &CanonicalEvent) {
        let price = match &ev.payload {
            Payload::ProductUpserted(p) => {
                Some((p.product_id.clone(), p.price_minor, p.currency.clone()))
            }
            Payload::PriceChanged(p) => {
                Some((p.product_id.clone(), p.new_price_minor, p.currency.clone()))
            }
            _ => None,
        };
        let Some((product, minor, currency)) = price else {
            return;
        };
        let shop_currency = self.shops[tenant].currency.as_str();
        let Some((converted, _)) = convert(&self.config, minor, &currency, shop_currency) else {
            return;
        };
        // The newest price wins, whatever the arrival order.
        let version = (ev.occurred_at, ev.event_id.clone());
        let shop = self.shop(tenant);
        match shop.catalog.get(&product) {
            Some((v, _)) if *v >= version => {}
            Some((_, old)) => {
                let old = *old;
                shop.prices.remove(old as f64);
                shop.prices.insert(converted as f64);
                shop.catalog.insert(product, (version, converted));
            }
            None => {
                shop.prices.insert(converted as f64);
                shop.catalog.insert(product, (version, converted));
            }
        }
    }

    /// Fit every shop's BG/NBD and Gamma-Gamma models that has new orders since its last fit and
    /// enough buyers; returns the tenants refitted. Deterministic: the same state gives the same
    /// parameters, whatever order the events arrived in.
    pub fn refit(&mut self) -> Vec<String> {
        let min = self.config.min_buyers_for_models;
        let mut refitted = Vec::new();
        for (tenant, shop) in &mut self.shops {
            if shop.orders_since_fit == 0 {
                continue;
            }
            let e = exponent(&shop.currency);
            let mut keys: Vec<&String> = shop.customers.keys().collect();
            keys.sort();
            let summaries: Vec<CustomerSummary> = keys
                .iter()
                .filter_map(|k| shop.customers[*k].summary(shop.clock, e))
                .collect();
            if summaries.len() < min {
                continue;
            }
            let Ok(purchases) = BgNbd::fit(&summaries) else {
                tracing::warn!(
                    tenant,
                    buyers = summaries.len(),
                    "BG/NBD fit failed; keeping the previous model"
                );
                continue;
            };
            let repeat: Vec<CustomerSummary> = summaries
                .iter()
                .filter(|s| s.frequency > 0)
                .copied()
                .collect();
            let spend = GammaGamma::fit(&repeat).ok().map(|f| f.model);
            shop.models = Some(Models {
                purchases: purchases.model,
                spend,
                fitted_at: shop.clock,
                buyers: summaries.len(),
            });
            shop.orders_since_fit = 0;
            shop.lifetime_memo.get_mut().clear();
            refitted.push(tenant.clone());
        }
        refitted
    }

    /// The shop's fitted models, if any.
    pub fn models(&self, tenant: &str) -> Option<Models> {
        self.shops.get(tenant)?.models
    }

    /// Buyers of a shop (customers with at least one order), in key order.
    pub fn buyers(&self, tenant: &str) -> Vec<String> {
        let Some(shop) = self.shops.get(tenant) else {
            return Vec::new();
        };
        let mut out: Vec<String> = shop
            .customers
            .iter()
            .filter(|(_, c)| !c.orders.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Tenants and customers known, in order.
    pub fn customers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .shops
            .iter()
            .flat_map(|(t, s)| s.customers.keys().map(move |c| (t.clone(), c.clone())))
            .collect();
        out.sort();
        out
    }

    /// The customer a key's activity is counted under (itself unless it was joined to another).
    pub fn resolve<'a>(&'a self, tenant: &str, key: &'a str) -> &'a str {
        match self.shops.get(tenant) {
            Some(shop) if shop.joined(key) => shop.resolve(key),
            _ => key,
        }
    }

    /// Fold one text insight in (from `text.insights.v1`). An insight repeated (same event id)
    /// changes nothing; an insight may arrive before its customer's events do.
    pub fn apply_insight(&mut self, i: &TextInsight) -> Applied {
        let id = id_hash(&i.event_id);
        let shop = self.shop(&i.tenant_id);
        let customer = shop.resolve(&i.customer_key).to_owned();
        let c = shop.customers.entry(customer).or_default();
        if c.texts.contains_key(&(i.occurred_at, id)) {
            return Applied::Duplicate;
        }
        let traits = i.traits.as_ref().map(|t| {
            let (s, w) = (t.signal.to_array(), t.weight.to_array());
            let per_trait = std::array::from_fn(|k| (s[k].clamp(-1.0, 1.0), w[k].max(0.0)));
            let cues = t
                .cues
                .iter()
                .map(|c| (c.trait_, c.cue.clone(), c.contribution))
                .collect();
            (per_trait, cues)
        });
        c.texts.insert(
            (i.occurred_at, id),
            Text {
                occurred_at: i.occurred_at,
                event_id: i.event_id.clone(),
                score: i.sentiment.score,
                negative: i.sentiment.label == SentimentLabel::Negative,
                emotions: i.emotions.map(|e| e.to_array()),
                traits,
            },
        );
        Applied::Customer
    }

    /// The customer's snapshot as of the shop clock.
    pub fn features(&self, tenant: &str, customer: &str) -> Option<CustomerFeatures> {
        let shop = self.shops.get(tenant)?;
        if !shop.customers.contains_key(customer)
            && let Some(&as_of) = shop.merged.get(customer)
        {
            return Some(merged_marker(shop, tenant, customer, as_of));
        }
        let c = shop.customers.get(customer)?;
        if c.events == 0 {
            // Only insights so far: the customer's events are still to come.
            return None;
        }
        let text = text_features(&c.texts);
        let orders = c.orders.len() as i32;
        let mut times: Vec<i64> = c.orders.values().map(|o| o.at).collect();
        times.sort_unstable();
        let gross: i64 = c.orders.values().map(|o| o.total).sum();
        let monetary = c.monetary();
        let units: i64 = c.orders.values().map(|o| o.units).sum();
        let categories: BTreeSet<&String> = c
            .orders
            .values()
            .flat_map(|o| o.categories.iter())
            .collect();
        let discounted = c.orders.values().filter(|o| o.discounted).count();
        let refunded_minor: i64 = c.refunds.values().map(|(_, a)| *a).sum();
        let per_order = |n: f64| {
            if orders > 0 {
                n / f64::from(orders)
            } else {
                0.0
            }
        };
        let started = c.checkouts_started.len();
        let completed = c
            .checkouts_started
            .intersection(&c.checkouts_completed)
            .count();
        let activity: u32 = c.hours.iter().sum();
        let active_hour = if activity == 0 {
            -1
        } else {
            // Earliest hour among the most active, for determinism.
            let max = *c.hours.iter().max().expect("24 hours");
            c.hours.iter().position(|h| *h == max).expect("max exists") as i32
        };
        let night: u32 = c.hours[22..].iter().chain(&c.hours[..6]).sum();
        let contribution = c.contribution();
        let (r_score, f_score, m_score, spend_percentile) = match contribution {
            Some(k) => (
                shop.recency.score(k.last_order_day),
                shop.frequency.score(k.orders),
                shop.monetary.score(k.monetary),
                shop.aov.rank(k.aov),
            ),
            None => (1, 1, 1, 0.0),
        };
        let tiers: Vec<f64> = c
            .orders
            .values()
            .flat_map(|o| o.products.iter())
            .filter_map(|p| shop.catalog.get(p))
            .map(|(_, price)| shop.prices.rank(*price as f64))
            .collect();
        let recency_from = times.last().copied().unwrap_or(c.first_seen);
        let e = exponent(&shop.currency);
        let lifetime = shop.models.zip(c.summary(shop.clock, e)).map(|(m, s)| {
            // Many customers share a history (one order on the same day); the series behind these
            // values are the costliest part of a snapshot, so they are kept per history and model.
            let memo_key = [
                u64::from(s.frequency),
                s.recency.to_bits(),
                s.age.to_bits(),
                // Gamma–Gamma ignores the spend of a customer without repeat orders.
                if s.frequency > 0 {
                    s.monetary_value.to_bits()
                } else {
                    0
                },
            ];
            if let Some(v) = shop.lifetime_memo.borrow().get(&memo_key) {
                return *v;
            }
            let p_alive = m.purchases.p_alive(s.frequency, s.recency, s.age).ok();
            let expected = m
                .purchases
                .expected_purchases(90.0, s.frequency, s.recency, s.age)
                .ok();
            let clv = m.spend.and_then(|g| {
                customer_lifetime_value(
                    &m.purchases,
                    &g,
                    &s,
                    &ClvHorizon {
                        months: 12,
                        monthly_discount_rate: self.config.monthly_discount_rate,
                        time_units_per_month: DAYS_PER_MONTH,
                    },
                )
                .ok()
                .map(|v| (v * 10f64.powi(e)).round() as i64)
            });
            let mut memo = shop.lifetime_memo.borrow_mut();
            if memo.len() >= LIFETIME_MEMO_MAX {
                memo.clear();
            }
            memo.insert(memo_key, (p_alive, expected, clv));
            (p_alive, expected, clv)
        });
        let (p_alive, expected_orders_90d, clv_12m_minor) = lifetime.unwrap_or((None, None, None));
        Some(CustomerFeatures {
            tenant_id: tenant.to_owned(),
            customer_key: customer.to_owned(),
            feature_version: FEATURE_VERSION,
            as_of: c.last_seen,
            shop_clock: shop.clock,
            events: c.events,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            shop_currency: shop.currency.clone(),
            orders,
            first_order_at: times.first().copied(),
            last_order_at: times.last().copied(),
            monetary_minor: monetary,
            avg_order_value_minor: if orders > 0 {
                gross / i64::from(orders)
            } else {
                0
            },
            units,
            avg_basket_units: per_order(units as f64),
            categories: categories.len() as i32,
            discount_order_share: per_order(discounted as f64),
            refunds: c.refunds.len() as i32,
            refunded_minor,
            return_rate: per_order(c.refunds.len() as f64),
            carts: c.carts.len() as i32,
            checkouts_started: started as i32,
            checkouts_completed: c.checkouts_completed.len() as i32,
            cart_abandonment_rate: if started > 0 {
                (started - completed) as f64 / started as f64
            } else {
                0.0
            },
            product_views: c.views,
            searches: c.searches,
            browse_to_buy: if orders > 0 {
                f64::from(c.views) / f64::from(orders)
            } else {
                f64::from(c.views)
            },
            mean_days_between_orders: (times.len() > 1).then(|| {
                (times[times.len() - 1] - times[0]) as f64 / DAY_MS / (times.len() - 1) as f64
            }),
            active_hour,
            night_share: if activity > 0 {
                f64::from(night) / f64::from(activity)
            } else {
                0.0
            },
            reviews: c.reviews,
            mean_rating: (c.reviews > 0).then(|| c.rating_sum as f64 / f64::from(c.reviews)),
            messages: c.messages,
            recency_days: (shop.clock - recency_from).max(0) as f64 / DAY_MS,
            r_score,
            f_score,
            m_score,
            spend_percentile,
            price_tier: if tiers.is_empty() {
                -1.0
            } else {
                tiers.iter().sum::<f64>() / tiers.len() as f64
            },
            p_alive,
            expected_orders_90d,
            clv_12m_minor,
            texts: c.texts.len() as i32,
            sentiment_mean: text.sentiment_mean,
            sentiment_recent: text.sentiment_recent,
            sentiment_trend: text.sentiment_trend,
            negative_share: text.negative_share,
            emotions: text.emotions,
            dominant_emotion: text.dominant_emotion,
            ocean: text.ocean,
            ocean_confidence: text.ocean_confidence,
            ocean_cues: text.ocean_cues,
            merged_into: None,
            dropped: c
                .dropped
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        })
    }
}

/// The text part of a snapshot.
#[derive(Default)]
struct TextFeatures {
    sentiment_mean: Option<f64>,
    sentiment_recent: Option<f64>,
    sentiment_trend: Option<f64>,
    negative_share: f64,
    emotions: Option<EmotionScores>,
    dominant_emotion: Option<String>,
    ocean: Option<BigFive>,
    ocean_confidence: Option<BigFive>,
    ocean_cues: Vec<TraitCue>,
}

/// Sums over the texts in key order (event time, id), so the result does not depend on the
/// order insights arrived in.
fn text_features(texts: &BTreeMap<(i64, u128), Text>) -> TextFeatures {
    let n = texts.len();
    if n == 0 {
        return TextFeatures::default();
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let scores: Vec<f64> = texts.values().map(|t| t.score).collect();
    let recent_from = n.saturating_sub(3);
    let sentiment_recent = mean(&scores[recent_from..]);
    let sentiment_trend = (n >= 4).then(|| sentiment_recent - mean(&scores[..recent_from]));

    let mixes: Vec<[f64; 7]> = texts.values().filter_map(|t| t.emotions).collect();
    let emotions = (!mixes.is_empty()).then(|| {
        let mut sum = [0.0; 7];
        for m in &mixes {
            for (s, v) in sum.iter_mut().zip(m) {
                *s += v;
            }
        }
        EmotionScores::from_array(sum.map(|s| s / mixes.len() as f64))
    });
    let dominant_emotion = emotions.map(|e| {
        const NEUTRAL: usize = 4;
        let a = e.to_array();
        let best = (0..7)
            .filter(|&k| k != NEUTRAL)
            .fold(0, |b, k| if a[k] > a[b] { k } else { b });
        let label = if a[best] >= 0.15 { best } else { NEUTRAL };
        EmotionScores::LABELS[label].to_owned()
    });

    let mut weighted = [0.0f64; 5];
    let mut weights = [0.0f64; 5];
    let mut any_traits = false;
    let mut cues: [Vec<TraitCue>; 5] = Default::default();
    for t in texts.values() {
        let Some((per_trait, text_cues)) = &t.traits else {
            continue;
        };
        any_traits = true;
        for (k, (signal, weight)) in per_trait.iter().enumerate() {
            weighted[k] += weight * signal;
            weights[k] += weight;
        }
        for (tr, cue, contribution) in text_cues {
            let k = Trait::ALL
                .iter()
                .position(|a| a == tr)
                .expect("every trait is listed");
            cues[k].push(TraitCue {
                trait_: TRAIT_NAMES[k].to_owned(),
                cue: cue.clone(),
                event_id: t.event_id.clone(),
                contribution: per_trait[k].1 * contribution,
            });
        }
    }
    let (ocean, ocean_confidence, ocean_cues) = if any_traits {
        let score = std::array::from_fn(|k| {
            if weights[k] > 0.0 {
                (0.5 + 0.5 * weighted[k] / weights[k]).clamp(0.0, 1.0)
            } else {
                0.5
            }
        });
        let confidence = weights.map(|w| w / (w + TRAIT_PRIOR_WEIGHT));
        let mut kept = Vec::new();
        for mut per in cues {
            // Largest effect first; ties broken by text and cue, for determinism.
            per.sort_by(|a, b| {
                b.contribution
                    .abs()
                    .total_cmp(&a.contribution.abs())
                    .then_with(|| a.event_id.cmp(&b.event_id))
                    .then_with(|| a.cue.cmp(&b.cue))
            });
            kept.extend(per.into_iter().take(CUES_PER_TRAIT));
        }
        (
            Some(BigFive::from_array(score)),
            Some(BigFive::from_array(confidence)),
            kept,
        )
    } else {
        (None, None, Vec::new())
    };
    TextFeatures {
        sentiment_mean: Some(mean(&scores)),
        sentiment_recent: Some(sentiment_recent),
        sentiment_trend,
        negative_share: texts.values().filter(|t| t.negative).count() as f64 / n as f64,
        emotions,
        dominant_emotion,
        ocean,
        ocean_confidence,
        ocean_cues,
    }
}

const TRAIT_NAMES: [&str; 5] = [
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
];

/// The last snapshot of a key joined to another customer: it only says where its activity went.
fn merged_marker(shop: &Shop, tenant: &str, key: &str, as_of: i64) -> CustomerFeatures {
    CustomerFeatures {
        tenant_id: tenant.to_owned(),
        customer_key: key.to_owned(),
        feature_version: FEATURE_VERSION,
        as_of,
        shop_clock: shop.clock,
        events: 0,
        first_seen: as_of,
        last_seen: as_of,
        shop_currency: shop.currency.clone(),
        orders: 0,
        first_order_at: None,
        last_order_at: None,
        monetary_minor: 0,
        avg_order_value_minor: 0,
        units: 0,
        avg_basket_units: 0.0,
        categories: 0,
        discount_order_share: 0.0,
        refunds: 0,
        refunded_minor: 0,
        return_rate: 0.0,
        carts: 0,
        checkouts_started: 0,
        checkouts_completed: 0,
        cart_abandonment_rate: 0.0,
        product_views: 0,
        searches: 0,
        browse_to_buy: 0.0,
        mean_days_between_orders: None,
        active_hour: -1,
        night_share: 0.0,
        reviews: 0,
        mean_rating: None,
        messages: 0,
        recency_days: 0.0,
        r_score: 1,
        f_score: 1,
        m_score: 1,
        spend_percentile: 0.0,
        price_tier: -1.0,
        p_alive: None,
        expected_orders_90d: None,
        clv_12m_minor: None,
        texts: 0,
        sentiment_mean: None,
        sentiment_recent: None,
        sentiment_trend: None,
        negative_share: 0.0,
        emotions: None,
        dominant_emotion: None,
        ocean: None,
        ocean_confidence: None,
        ocean_cues: Vec::new(),
        merged_into: Some(shop.resolve(key).to_owned()),
        dropped: BTreeMap::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Changelog: the state, one record per key, so a restart reads O(keys) instead of the inputs
// ---------------------------------------------------------------------------------------------

/// Which part of a shop's state a changelog record holds (the id part of its `tenant|id` key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateId {
    /// The shop: its clock, the orders since the last fit and the fitted models (`s`).
    Shop,
    /// A customer key: its state, or the customer it was joined to (`k:<key>`).
    Key(String),
    /// A catalogue product's price (`p:<product>`).
    Product(String),
}

impl StateId {
    pub fn encode(&self) -> String {
        match self {
            StateId::Shop => "s".to_owned(),
            StateId::Key(k) => format!("k:{k}"),
            StateId::Product(p) => format!("p:{p}"),
        }
    }

    pub fn parse(id: &str) -> Result<StateId, String> {
        match id.split_once(':') {
            _ if id == "s" => Ok(StateId::Shop),
            Some(("k", k)) => Ok(StateId::Key(k.to_owned())),
            Some(("p", p)) => Ok(StateId::Product(p.to_owned())),
            _ => Err(format!(
                "unknown state id {id:?} (expected s, k:<key> or p:<product>)"
            )),
        }
    }
}

/// The first byte of every changelog record: the version of its layout. The rest is the
/// record's Rust type in postcard (serde's compact binary form; floats exact, sets sorted), so
/// a state record is a fraction of its JSON size and quick to write. [`state_json`] shows one.
pub const STATE_FORMAT: u8 = 2;

fn encode_state<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialised into a buffer kept per thread, then copied out at its exact size: one
    // allocation per record instead of a doubling from one byte.
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        scratch.push(STATE_FORMAT);
        let out = postcard::to_extend(v, std::mem::take(scratch)).expect("the state serialises");
        let bytes = out.clone();
        *scratch = out;
        bytes
    })
}

fn decode_state<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (format, rest) = match bytes.split_first() {
        Some((&f, rest)) if f == STATE_FORMAT || f == 1 => (f, rest),
        Some((v, _)) => {
            return Err(format!(
                "state format {v}, this enrich reads formats 1 and {STATE_FORMAT}"
            ));
        }
        None => return Err("empty record".to_owned()),
    };
    // Format 1 differs only in how a customer's event ids are written (see `id_set`).
    id_set::FORMAT_1.with(|f| f.set(format == 1));
    let decoded = postcard::take_from_bytes(rest);
    id_set::FORMAT_1.with(|f| f.set(false));
    match decoded {
        Ok((v, [])) => Ok(v),
        Ok((_, left)) => Err(format!("{} bytes left over", left.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// A changelog record as JSON, for people (`mindset tail enrich.state.v1`).
pub fn state_json(id: &StateId, bytes: &[u8]) -> Result<serde_json::Value, String> {
    let json = match id {
        StateId::Shop => serde_json::to_value(decode_state::<ShopState>(bytes)?),
        StateId::Key(_) => serde_json::to_value(decode_state::<KeyState>(bytes)?),
        StateId::Product(_) => serde_json::to_value(decode_state::<ProductState>(bytes)?),
    };
    json.map_err(|e| e.to_string())
}

/// A customer key's record: its state, or where it went.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum KeyStateRef<'a> {
    Customer(&'a Customer),
    Alias {
        to: &'a str,
        merged_last_seen: Option<i64>,
    },
}

/// [`KeyStateRef`] as read back (the same layout).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum KeyState {
    Customer(Box<Customer>),
    Alias {
        to: String,
        merged_last_seen: Option<i64>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopState {
    clock: i64,
    orders_since_fit: u64,
    models: Option<ModelsState>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsState {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    /// Gamma–Gamma p, q, γ.
    spend: Option<[f64; 3]>,
    fitted_at: i64,
    buyers: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductState {
    version: (i64, String),
    price: i64,
}

impl Enrich {
    /// The changelog record of one part of a shop's state (see [`STATE_FORMAT`]), `None` where
    /// there is nothing to keep (a key never seen).
    pub fn state_record(&self, tenant: &str, id: &StateId) -> Option<Vec<u8>> {
        let shop = self.shops.get(tenant)?;
        Some(match id {
            StateId::Shop => encode_state(&ShopState {
                clock: shop.clock,
                orders_since_fit: shop.orders_since_fit,
                models: shop.models.map(|m| {
                    let p = m.purchases.params();
                    ModelsState {
                        r: p.r,
                        alpha: p.alpha,
                        a: p.a,
                        b: p.b,
                        spend: m.spend.map(|g| {
                            let g = g.params();
                            [g.p, g.q, g.gamma]
                        }),
                        fitted_at: m.fitted_at,
                        buyers: m.buyers,
                    }
                }),
            }),
            StateId::Key(key) => match (shop.customers.get(key), shop.aliases.get(key)) {
                (Some(c), _) => encode_state(&KeyStateRef::Customer(c)),
                (None, Some(to)) => encode_state(&KeyStateRef::Alias {
                    to,
                    merged_last_seen: shop.merged.get(key).copied(),
                }),
                (None, None) => return None,
            },
            StateId::Product(p) => {
                let (version, price) = shop.catalog.get(p)?;
                encode_state(&ProductState {
                    version: version.clone(),
                    price: *price,
                })
            }
        })
    }

    /// Take in one changelog record; a later record of the same id replaces an earlier one.
    /// Call [`Enrich::finish_restore`] once every record is in.
    pub fn restore_record(
        &mut self,
        tenant: &str,
        id: &StateId,
        value: &[u8],
    ) -> Result<(), String> {
        let shop = self.shop(tenant);
        match id {
            StateId::Shop => {
                let st: ShopState = decode_state(value)?;
                shop.clock = shop.clock.max(st.clock);
                shop.orders_since_fit = st.orders_since_fit;
                shop.lifetime_memo.get_mut().clear();
                shop.models = match st.models {
                    None => None,
                    Some(m) => {
                        let purchases = BgNbd::new(BgNbdParams {
                            r: m.r,
                            alpha: m.alpha,
                            a: m.a,
                            b: m.b,
                        })
                        .map_err(|e| e.to_string())?;
                        let spend = match m.spend {
                            None => None,
                            Some([p, q, gamma]) => Some(
                                GammaGamma::new(GammaGammaParams { p, q, gamma })
                                    .map_err(|e| e.to_string())?,
                            ),
                        };
                        Some(Models {
                            purchases,
                            spend,
                            fitted_at: m.fitted_at,
                            buyers: m.buyers,
                        })
                    }
                };
            }
            StateId::Key(key) => match decode_state(value)? {
                KeyState::Customer(c) => {
                    shop.aliases.remove(key);
                    shop.merged.remove(key);
                    shop.customers.insert(key.clone(), *c);
                }
                KeyState::Alias {
                    to,
                    merged_last_seen,
                } => {
                    shop.customers.remove(key);
                    shop.aliases.insert(key.clone(), to);
                    match merged_last_seen {
                        Some(at) => shop.merged.insert(key.clone(), at),
                        None => shop.merged.remove(key),
                    };
                }
            },
            StateId::Product(p) => {
                let st: ProductState = decode_state(value)?;
                shop.catalog.insert(p.clone(), (st.version, st.price));
            }
        }
        Ok(())
    }

    /// After the last [`Enrich::restore_record`]: rebuild what is derived from the records (the
    /// quantile sketches, and the clock, which is at least every event kept).
    pub fn finish_restore(&mut self) {
        for shop in self.shops.values_mut() {
            let fresh = Shop::new(shop.currency.clone());
            shop.recency = fresh.recency;
            shop.frequency = fresh.frequency;
            shop.monetary = fresh.monetary;
            shop.aov = fresh.aov;
            shop.prices = fresh.prices;
            let contributions: Vec<Contribution> = shop
                .customers
                .values()
                .filter_map(Customer::contribution)
                .collect();
            for c in contributions {
                shop.update_sketches(None, Some(c));
            }
            let mut clock = shop.clock;
            for (version, price) in shop.catalog.values() {
                shop.prices.insert(*price as f64);
                clock = clock.max(version.0);
            }
            for c in shop.customers.values().filter(|c| c.events > 0) {
                clock = clock.max(c.last_seen);
            }
            shop.clock = clock;
        }
    }

    /// Every part of every shop's state, in order: what a full changelog holds.
    pub fn state_ids(&self) -> Vec<(String, StateId)> {
        let mut out = Vec::new();
        for (tenant, shop) in &self.shops {
            out.push((tenant.clone(), StateId::Shop));
            let mut keys: Vec<&String> = shop.customers.keys().chain(shop.aliases.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            out.extend(
                keys.into_iter()
                    .map(|k| (tenant.clone(), StateId::Key(k.clone()))),
            );
            let mut products: Vec<&String> = shop.catalog.keys().collect();
            products.sort_unstable();
            out.extend(
                products
                    .into_iter()
                    .map(|p| (tenant.clone(), StateId::Product(p.clone()))),
            );
        }
        out
    }

    /// The product a catalogue event is about.
    pub fn catalog_product(ev: &CanonicalEvent) -> Option<&str> {
        match &ev.payload {
            Payload::ProductUpserted(p) => Some(&p.product_id),
            Payload::PriceChanged(p) => Some(&p.product_id),
            Payload::InventoryChanged(p) => Some(&p.product_id),
            _ => None,
        }
    }
}

/// A customer's event-id hashes, kept sorted: a customer has tens of events, so a binary search
/// and an insert into a short array beat hashing, and the changelog writes the set as it is.
#[derive(Debug, Clone, Default, PartialEq)]
struct IdSet(Vec<u128>);

impl IdSet {
    /// Adds `id`; false when it was there already.
    fn insert(&mut self, id: u128) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    fn extend(&mut self, other: IdSet) {
        self.0.extend(other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }
}

/// Event-id hashes, sorted (so the same set gives the same bytes). In the changelog (format 2)
/// they are one byte string of 16 little-endian bytes each: postcard wrote a `u128` as a
/// 19-byte varint, one byte at a time. Format 1 records (a sequence of `u128`) are still read.
/// For people (JSON) they are a list of 32-digit hex strings (JSON numbers stop at 64 bits).
mod id_set {
    use std::{cell::Cell, fmt};

    use serde::{
        Deserialize, Deserializer, Serializer,
        de::{Error, Visitor},
    };

    use super::IdSet;

    thread_local! {
        /// Set while a format 1 record is read.
        pub static FORMAT_1: Cell<bool> = const { Cell::new(false) };
    }

    pub fn serialize<S: Serializer>(ids: &IdSet, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return s.collect_seq(ids.0.iter().map(|id| format!("{id:032x}")));
        }
        let mut bytes = Vec::with_capacity(ids.0.len() * 16);
        for id in &ids.0 {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        s.serialize_bytes(&bytes)
    }

    struct Bytes;

    impl Visitor<'_> for Bytes {
        type Value = Vec<u128>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("event-id hashes, 16 bytes each")
        }

        fn visit_bytes<E: Error>(self, b: &[u8]) -> Result<Vec<u128>, E> {
            if !b.len().is_multiple_of(16) {
                return Err(E::custom(format!(
                    "{} bytes of event-id hashes, not a multiple of 16",
                    b.len()
                )));
            }
            Ok(b.chunks_exact(16)
                .map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes")))
                .collect())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IdSet, D::Error> {
        let mut ids = if d.is_human_readable() {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|h| u128::from_str_radix(h, 16).map_err(D::Error::custom))
                .collect::<Result<_, _>>()?
        } else if FORMAT_1.with(Cell::get) {
            Vec::<u128>::deserialize(d)?
        } else {
            d.deserialize_bytes(Bytes)?
        };
        ids.sort_unstable();
        ids.dedup();
        Ok(IdSet(ids))
    }
}

/// Drop counts by reason; a reason read back must be one this core gives.
mod drop_reasons {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    const REASONS: [&str; 3] = ["test_order", "non_positive_total", "unknown_currency"];

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<&'static str, i64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<&'static str, i64>, D::Error> {
        let m: BTreeMap<String, i64> = BTreeMap::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| {
                REASONS
                    .iter()
                    .find(|r| **r == k)
                    .map(|r| (*r, v))
                    .ok_or_else(|| D::Error::custom(format!("unknown drop reason {k:?}")))
            })
            .collect()
    }
}

/// Texts as a list in (time, id) order; the map key is derived again when read.
mod texts_by_time {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Text, id_hash};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<(i64, u128), Text>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(i64, u128), Text>, D::Error> {
        let texts: Vec<Text> = Vec::deserialize(d)?;
        Ok(texts
            .into_iter()
            .map(|t| ((t.occurred_at, id_hash(&t.event_id)), t))
            .collect())
    }
}
