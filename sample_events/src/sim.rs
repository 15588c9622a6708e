//! One customer's life, simulated on its own random stream: signup, storefront sessions at a
//! personal rate (searches, views, carts, checkouts, orders, abandonment and recovery), what
//! follows an order (reviews, refunds, questions, complaints, feedback), consent changes and
//! drop-out. The result is a list of internal acts with times; ids and events are made later (see
//! `build`).

use mindset_schemas::{ConsentChannel, MessageChannel, Platform};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use crate::calendar::{
    MAX_SEASONALITY, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, Sale, sale_at,
    seasonality,
};
use crate::catalog::{CATEGORIES, Catalog, N_CAT};
use crate::people::{MARKETS, Market, local_price, platform_markets, shipping_rule};
use crate::persona::{Behaviour, Persona, shares};
use crate::text::{self, Ctx, Emotion, Intent, Problem};
use crate::weighted;

/// What every customer's simulation shares.
pub struct World<'a> {
    pub catalog: &'a Catalog,
    pub sales: &'a [Sale],
    pub start: i64,
    pub end: i64,
}

/// The last instant a session may start, so everything it does happens before the window ends.
const SESSION_MARGIN: i64 = 2 * MS_PER_HOUR;

/// A product in a cart or an order line, priced in the customer's currency.
#[derive(Debug, Clone)]
pub struct Item {
    pub product: usize,
    pub variant: usize,
    pub qty: i32,
    pub unit: i64,
}

#[derive(Debug, Clone)]
pub struct OrderLineSim {
    pub item: Item,
    pub discount: i64,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub at: i64,
    pub lines: Vec<OrderLineSim>,
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub codes: Vec<&'static str>,
    pub financial_status: &'static str,
    pub channel: &'static str,
    /// The session whose checkout this order completes.
    pub checkout_session: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Checkout {
    pub at: i64,
    pub total: i64,
    pub line_count: i32,
    pub draft: Order,
    pub order: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Cart {
    pub updates: Vec<(i64, Vec<Item>)>,
    pub checkout: Option<Checkout>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub no: u32,
    pub start: i64,
    /// Browsing views happen in `[start, browse_end)`.
    pub browse_end: i64,
    /// Mean number of browsing views; the count is `floor(appetite * scale + round_u)`.
    pub appetite: f64,
    pub round_u: f64,
    pub searches: Vec<(i64, String, i32)>,
    /// Views of products the customer went on to put in the cart or buy.
    pub views: Vec<(i64, usize)>,
    pub cart: Option<Cart>,
}

#[derive(Debug, Clone)]
pub enum Act {
    Upsert {
        at: i64,
        accepts_marketing: bool,
        vip: bool,
    },
    Consent {
        at: i64,
        channel: ConsentChannel,
        granted: bool,
        source: &'static str,
    },
    Session(usize),
    Order(usize),
    Refund {
        at: i64,
        order: usize,
        reason: &'static str,
        /// `(line index, quantity, amount)`.
        lines: Vec<(usize, i32, i64)>,
        shipping: i64,
    },
    Review {
        at: i64,
        product: usize,
        verified: bool,
        rating: i32,
        title: String,
        text: String,
    },
    Message {
        at: i64,
        channel: MessageChannel,
        thread: u32,
        text: String,
        order: Option<usize>,
    },
}

/// Category, tier and brand preferences.
pub struct Prefs {
    pub categories: [f64; N_CAT],
    pub tiers: [f64; 4],
    /// Products of the customer's favourite brands (brand-loyal customers).
    pub favourites: Vec<usize>,
}

pub struct Customer {
    pub idx: usize,
    pub persona: Persona,
    pub platform: Platform,
    pub guest: bool,
    pub prime: bool,
    pub market: &'static Market,
    pub city: usize,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub has_email: bool,
    pub phone: Option<String>,
    pub accepts_marketing: bool,
    pub source_tag: &'static str,
    pub signup_at: i64,
    pub prefs: Prefs,
    pub acts: Vec<Act>,
    pub sessions: Vec<Session>,
    pub orders: Vec<Order>,
    /// Seed of the streams used when events are made (browsing views).
    pub salt: u64,
    pub last_at: i64,
}

impl Customer {
    pub fn currency(&self) -> &'static str {
        self.market.currency
    }

    pub fn marketplace(&self) -> bool {
        matches!(self.platform, Platform::Amazon | Platform::Flipkart)
    }

    fn behaviour(&self) -> &'static Behaviour {
        self.persona.behaviour()
    }

    /// A product this customer would look at around `t`.
    pub fn pick_product(&self, rng: &mut ChaCha8Rng, catalog: &Catalog, t: i64) -> usize {
        let b = self.behaviour();
        let price_sensitive = self.persona == Persona::PriceSensitiveAnxious;
        let products = &catalog.products;
        if !self.prefs.favourites.is_empty() && rng.random_bool(b.brand_loyalty) {
            let launched = |p: &&usize| products[**p].launch_at <= t;
            let favourites = self.prefs.favourites.iter().filter(launched);
            if let Some(p) = weighted_pick(rng, favourites, |p| products[*p].popularity) {
                return *p;
            }
        }
        for _ in 0..8 {
            let cat = weighted(rng, &self.prefs.categories);
            let lists = &catalog.by_cat_tier[cat];
            let mut tiers = self.prefs.tiers;
            for (w, list) in tiers.iter_mut().zip(lists.iter()) {
                if list.is_empty() {
                    *w = 0.0;
                }
            }
            if tiers.iter().all(|&w| w <= 0.0) {
                // The customer wants none of the tiers this category has: take its closest one.
                let wanted = self
                    .prefs
                    .tiers
                    .iter()
                    .enumerate()
                    .fold(
                        0,
                        |best, (i, &w)| if w > self.prefs.tiers[best] { i } else { best },
                    );
                match (0..4)
                    .filter(|&t| !lists[t].is_empty())
                    .min_by_key(|&t| t.abs_diff(wanted))
                {
                    Some(t) => tiers[t] = 1.0,
                    None => continue,
                }
            }
            let tier = weighted(rng, &tiers);
            let candidates = lists[tier].iter().filter(|&&p| products[p].launch_at <= t);
            let weight = |p: &usize| {
                let prod = &products[*p];
                let sale = if price_sensitive && prod.on_sale_at(t) {
                    6.0
                } else {
                    1.0
                };
                prod.popularity * sale
            };
            if let Some(p) = weighted_pick(rng, candidates, weight) {
                return *p;
            }
        }
        // Anything launched by then (products are sorted by launch date).
        let launched = products.partition_point(|p| p.launch_at <= t).max(1);
        rng.random_range(0..launched as u32) as usize
    }
}

/// One item of `items` drawn with probability proportional to `weight` (two passes, no buffer);
/// `None` when there are none.
fn weighted_pick<'a, T: 'a>(
    rng: &mut ChaCha8Rng,
    items: impl Iterator<Item = &'a T> + Clone,
    weight: impl Fn(&T) -> f64,
) -> Option<&'a T> {
    let total: f64 = items.clone().map(&weight).sum();
    let mut last = None;
    if total <= 0.0 {
        return items.last();
    }
    let mut r = rng.random::<f64>() * total;
    for item in items {
        let w = weight(item);
        if r < w {
            return Some(item);
        }
        r -= w;
        last = Some(item);
    }
    last
}

/// Share of storefront customers who check out as guests.
const GUEST_SHARE: f64 = 0.05;

/// Simulate customer `idx` on its own stream.
pub fn simulate(idx: usize, rng: &mut ChaCha8Rng, w: &World) -> Customer {
    let persona = Persona::ALL[weighted(rng, &shares())];
    let b = persona.behaviour();
    let platform = [
        Platform::Shopify,
        Platform::Woocommerce,
        Platform::Amazon,
        Platform::Flipkart,
    ][weighted(rng, &b.platforms)];
    let markets = platform_markets(platform);
    let mw: Vec<f64> = markets.iter().map(|m| m.1).collect();
    let market = &MARKETS[markets[weighted(rng, &mw)].0];
    let city = rng.random_range(0..market.cities.len() as u32) as usize;
    let first_name =
        market.first_names[rng.random_range(0..market.first_names.len() as u32) as usize];
    let last_name = market.last_names[rng.random_range(0..market.last_names.len() as u32) as usize];
    let marketplace = matches!(platform, Platform::Amazon | Platform::Flipkart);
    let guest = !marketplace && rng.random_bool(GUEST_SHARE);
    let has_email = platform != Platform::Flipkart || rng.random_bool(0.55);
    let phone_p = match platform {
        Platform::Flipkart => 0.95,
        Platform::Amazon => 0.15,
        _ => 0.35,
    };
    let phone = rng.random_bool(phone_p).then(|| phone_number(rng, market));
    let accepts_marketing = !marketplace && rng.random_bool(b.marketing);
    let sw: Vec<f64> = b.sources.iter().map(|s| s.1).collect();
    let source_tag = b.sources[weighted(rng, &sw)].0;
    let prime = platform == Platform::Amazon && rng.random_bool(0.7);

    // Signups grow over the window: density rises linearly to twice its starting level.
    let span = (w.end - w.start - SESSION_MARGIN - MS_PER_DAY).max(MS_PER_DAY);
    let u: f64 = rng.random();
    let x = ((1.0 + 3.0 * u).sqrt() - 1.0).clamp(0.0, 1.0);
    let signup_at = w.start + (span as f64 * x) as i64;

    let mut categories = b.categories;
    let taste = Gamma::new(1.5, 1.0 / 1.5).expect("valid");
    for c in categories.iter_mut() {
        *c *= taste.sample(rng);
    }
    let mut prefs = Prefs {
        categories,
        tiers: b.tiers,
        favourites: Vec::new(),
    };
    if b.brand_loyalty > 0.0 {
        let n = if rng.random_bool(0.6) { 1 } else { 2 };
        let mut brands = Vec::new();
        for _ in 0..n {
            let cat = weighted(rng, &prefs.categories);
            let tier = weighted(rng, &prefs.tiers);
            let pool = CATEGORIES[cat].brands[tier];
            if !pool.is_empty() {
                brands.push((cat, pool[rng.random_range(0..pool.len() as u32) as usize]));
            }
        }
        prefs.favourites = w
            .catalog
            .products
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                brands
                    .iter()
                    .any(|&(c, br)| c == p.category && br == p.brand)
            })
            .map(|(i, _)| i)
            .collect();
    }

    let mut c = Customer {
        idx,
        persona,
        platform,
        guest,
        prime,
        market,
        city,
        first_name,
        last_name,
        has_email,
        phone,
        accepts_marketing,
        source_tag,
        signup_at,
        prefs,
        acts: Vec::new(),
        sessions: Vec::new(),
        orders: Vec::new(),
        salt: rng.random(),
        last_at: signup_at,
    };
    Life::new(rng, &c).run(rng, &mut c, w);
    c.acts.retain(|a| act_at(a, &c.sessions, &c.orders) < w.end);
    c.acts.sort_by_key(|a| act_at(a, &c.sessions, &c.orders));
    c.last_at = c
        .acts
        .iter()
        .map(|a| act_at(a, &c.sessions, &c.orders))
        .max()
        .unwrap_or(signup_at);
    c
}

/// When an act happens.
pub fn act_at(a: &Act, sessions: &[Session], orders: &[Order]) -> i64 {
    match a {
        Act::Upsert { at, .. }
        | Act::Consent { at, .. }
        | Act::Refund { at, .. }
        | Act::Review { at, .. }
        | Act::Message { at, .. } => *at,
        Act::Session(i) => sessions[*i].start,
        Act::Order(i) => orders[*i].at,
    }
}

fn phone_number(rng: &mut ChaCha8Rng, m: &Market) -> String {
    match m.country {
        // Numbers reserved for fiction where a country has them.
        "US" | "CA" => format!(
            "+1{}555{:04}",
            rng.random_range(201..990u32),
            rng.random_range(100..200u32)
        ),
        "GB" => format!("+447700900{:03}", rng.random_range(0..1000u32)),
        "AU" => format!("+614915707{:02}", rng.random_range(0..100u32)),
        "IN" => format!(
            "+91{}{:09}",
            rng.random_range(6..10u32),
            rng.random_range(0..1_000_000_000u32)
        ),
        _ => format!(
            "{}6{:08}",
            m.phone_prefix,
            rng.random_range(0..100_000_000u32)
        ),
    }
}

fn uniform_ms(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// The running state of one customer's simulation.
struct Life {
    rate_per_day: f64,
    dropout_after_order: f64,
    trigger_order: u32,
    alive: bool,
    orders: u32,
    threads: u32,
    pending: Option<usize>,
    vip: bool,
}

impl Life {
    fn new(rng: &mut ChaCha8Rng, c: &Customer) -> Life {
        let b = c.behaviour();
        let mean = b.sessions_per_month / 30.0;
        let rate_per_day = Gamma::new(b.rate_shape, mean / b.rate_shape)
            .expect("valid")
            .sample(rng)
            .max(0.004);
        let k = 10.0;
        let m = b.dropout_after_order;
        let dropout_after_order = Beta::new(m * k, (1.0 - m) * k).expect("valid").sample(rng);
        let trigger_order = [1, 2, 3][weighted(rng, &[0.45, 0.35, 0.2])];
        Life {
            rate_per_day,
            dropout_after_order,
            trigger_order,
            alive: true,
            orders: 0,
            threads: 0,
            pending: None,
            vip: false,
        }
    }

    fn run(&mut self, rng: &mut ChaCha8Rng, c: &mut Customer, w: &World) {
        let last_start = w.end - SESSION_MARGIN;
        if !c.guest && !c.marketplace() {
            c.acts.push(Act::Upsert {
                at: c.signup_at,
                accepts_marketing: c.accepts_marketing,
                vip: false,
            });
        }
        let mut t = c.signup_at + rng.random_range(5..90i64) * MS_PER_SECOND;
        let mut first = true;
        while self.alive && t < last_start {
            let end = self.session(rng, c, w, t, first);
            first = false;
            if !self.alive {
                break;
            }
            t = self.next_session(rng, c, w, end);
        }
    }

    /// The start of the next session after one that ended at `after`.
    fn next_session(&self, rng: &mut ChaCha8Rng, c: &Customer, w: &World, after: i64) -> i64 {
        let b = c.behaviour();
        let mut t = after;
        let day = MS_PER_DAY as f64;
        if b.regularity > 1.0 {
            let gap = Gamma::new(b.regularity, 1.0 / (self.rate_per_day * b.regularity))
                .expect("valid")
                .sample(rng);
            t += (gap * day / seasonality(t)) as i64;
        } else {
            // Poisson process thinned by season and sales.
            let boost = b.sale_boost.max(1.0);
            let max_rate = self.rate_per_day * MAX_SEASONALITY * boost;
            let exp = Exp::new(max_rate).expect("positive rate");
            loop {
                t += (exp.sample(rng) * day) as i64;
                if t >= w.end {
                    return t;
                }
                let sale = if sale_at(w.sales, t).is_some() {
                    b.sale_boost
                } else {
                    1.0
                };
                let rate = self.rate_per_day * seasonality(t) * sale;
                if rng.random::<f64>() * max_rate < rate {
                    break;
                }
            }
        }
        // Move the session to an hour this customer is likely to shop at, in their own time zone.
        let offset = c.market.cities[c.city].utc_offset_min * MS_PER_MINUTE;
        let local_day = (t + offset).div_euclid(MS_PER_DAY);
        let hour = weighted(
            rng,
            if b.night_owl {
                &NIGHT_OWL_HOURS
            } else {
                &DAY_HOURS
            },
        ) as i64;
        let placed =
            local_day * MS_PER_DAY + hour * MS_PER_HOUR + rng.random_range(0..MS_PER_HOUR) - offset;
        let earliest = after + 20 * MS_PER_MINUTE;
        if placed > earliest {
            placed
        } else {
            earliest + rng.random_range(0..3 * MS_PER_HOUR)
        }
    }

    /// One storefront visit (or, for marketplace customers, possibly a marketplace purchase).
    /// Returns when it ended.
    fn session(
        &mut self,
        rng: &mut ChaCha8Rng,
        c: &mut Customer,
        w: &World,
        start: i64,
        first: bool,
    ) -> i64 {
        let b = c.behaviour();
        let persona = c.persona;
        let on_sale = sale_at(w.sales, start).is_some();
        let no = c.sessions.len() as u32;
        let minutes = Gamma::new(2.0, 4.0 + b.views * 1.5)
            .expect("valid")
            .sample(rng)
            .clamp(1.0, 90.0);
        let duration = (minutes * MS_PER_MINUTE as f64) as i64;
        let mut session = Session {
            no,
            start,
            browse_end: start + duration,
            appetite: Gamma::new(2.0, b.views / 2.0).expect("valid").sample(rng),
            round_u: rng.random(),
            searches: Vec::new(),
            views: Vec::new(),
            cart: None,
        };
        let mut end = start + duration;

        // A recovered checkout: the customer comes back and pays for what they left.
        if let Some(si) = self.pending.take() {
            let prev = c.sessions[si]
                .cart
                .as_ref()
                .and_then(|k| k.checkout.as_ref())
                .map(|k| k.at);
            let recover = b.recover
                * if on_sale && persona == Persona::PriceSensitiveAnxious {
                    1.5
                } else {
                    1.0
                };
            if prev.is_some_and(|at| start - at < 7 * MS_PER_DAY)
                && rng.random_bool(recover.min(1.0))
            {
                let at = start + rng.random_range(40..300i64) * MS_PER_SECOND;
                let checkout = c.sessions[si]
                    .cart
                    .as_mut()
                    .and_then(|k| k.checkout.as_mut())
                    .expect("pending checkout");
                let mut order = checkout.draft.clone();
                order.at = at;
                order.checkout_session = Some(si);
                let oi = c.orders.len();
                checkout.order = Some(oi);
                c.orders.push(order);
                c.acts.push(Act::Order(oi));
                session.browse_end = at;
                session.appetite *= 0.3;
                c.sessions.push(session);
                c.acts.push(Act::Session(no as usize));
                self.after_order(rng, c, w, oi);
                return at.max(end);
            }
        }

        // Searches.
        let search_p = if c.guest { b.search * 0.5 } else { b.search };
        if rng.random_bool(search_p) {
            let n = 1 + if persona == Persona::CuriousBrowser {
                rng.random_range(0..2u32)
            } else {
                0
            };
            for k in 0..n {
                let at = start
                    + (k as i64) * rng.random_range(30..150i64) * MS_PER_SECOND
                    + 2 * MS_PER_SECOND;
                let p = c.pick_product(rng, w.catalog, start);
                let (q, results) = search_query(rng, persona, w.catalog, p);
                session.searches.push((at, q, results));
            }
        }

        // Buying intent.
        let mut cart_p = b.cart;
        if on_sale {
            cart_p *= if persona == Persona::PriceSensitiveAnxious {
                2.0
            } else {
                1.1
            };
        }
        if first && persona != Persona::CuriousBrowser {
            cart_p *= 1.4;
        }
        if c.marketplace() {
            // No cart or checkout is visible on a marketplace: only the orders that come of them.
            cart_p *= b.checkout * b.complete * 1.15;
        }
        let buys = c.guest || (first && c.marketplace()) || rng.random_bool(cart_p.min(0.97));

        if c.marketplace() {
            if buys {
                let n = 1 + geometric(rng, b.another_item, 4);
                let at =
                    start + uniform_ms(rng, 2 * MS_PER_MINUTE, duration.max(3 * MS_PER_MINUTE));
                // A first-time marketplace buyer is unknown to the shop before the order.
                let researched = !first && rng.random_bool(0.4);
                let mut items = Vec::new();
                for k in 0..n {
                    let p = c.pick_product(rng, w.catalog, start);
                    if researched {
                        let vt =
                            start + (k as i64 + 1) * rng.random_range(20..90i64) * MS_PER_SECOND;
                        session.views.push((vt.min(at - MS_PER_SECOND), p));
                    }
                    items.push(self.item(rng, c, w, p, at));
                }
                if !researched {
                    session.appetite = 0.0;
                }
                session.browse_end = at;
                if first {
                    // A marketplace buyer becomes known to the shop with their first order.
                    c.signup_at = at - MS_PER_SECOND;
                    c.acts.push(Act::Upsert {
                        at: at - MS_PER_SECOND,
                        accepts_marketing: false,
                        vip: false,
                    });
                }
                let order = self.build_order(rng, c, w, &items, at, None);
                let oi = c.orders.len();
                c.orders.push(order);
                c.sessions.push(session);
                c.acts.push(Act::Session(no as usize));
                c.acts.push(Act::Order(oi));
                self.after_order(rng, c, w, oi);
                return end.max(at);
            }
        } else if buys {
            let mut cart = Cart {
                updates: Vec::new(),
                checkout: None,
            };
            let n = 1 + geometric(rng, b.another_item, 4);
            let mut tc = start
                + uniform_ms(
                    rng,
                    MS_PER_MINUTE,
                    (duration * 6 / 10).max(2 * MS_PER_MINUTE),
                );
            session.browse_end = tc - MS_PER_MINUTE;
            let mut items: Vec<Item> = Vec::new();
            for _ in 0..n {
                let p = c.pick_product(rng, w.catalog, tc);
                if items.iter().any(|it| it.product == p) {
                    continue;
                }
                session
                    .views
                    .push((tc - rng.random_range(15..90i64) * MS_PER_SECOND, p));
                items.push(self.item(rng, c, w, p, tc));
                cart.updates.push((tc, items.clone()));
                tc += rng.random_range(40..240i64) * MS_PER_SECOND;
            }
            if items.len() > 1 && rng.random_bool(0.12) {
                let k = rng.random_range(0..items.len() as u32) as usize;
                items.remove(k);
                cart.updates.push((tc, items.clone()));
                tc += rng.random_range(20..90i64) * MS_PER_SECOND;
            } else if rng.random_bool(0.1) {
                items[0].qty += 1;
                cart.updates.push((tc, items.clone()));
                tc += rng.random_range(20..90i64) * MS_PER_SECOND;
            }
            let checkout_p = if c.guest {
                b.checkout.max(0.8)
            } else {
                b.checkout
            };
            if rng.random_bool(checkout_p) {
                let at = tc + rng.random_range(30..180i64) * MS_PER_SECOND;
                let draft = self.build_order(rng, c, w, &items, at, Some(no as usize));
                let mut checkout = Checkout {
                    at,
                    total: draft.total,
                    line_count: draft.lines.len() as i32,
                    draft,
                    order: None,
                };
                let complete_p = if c.guest {
                    b.complete.max(0.75)
                } else {
                    b.complete
                };
                let completes = rng.random_bool(complete_p);
                let mut placed = None;
                if completes {
                    let mut order = checkout.draft.clone();
                    order.at = at + rng.random_range(60..420i64) * MS_PER_SECOND;
                    let oi = c.orders.len();
                    checkout.order = Some(oi);
                    end = end.max(order.at);
                    c.orders.push(order);
                    placed = Some(oi);
                } else {
                    end = end.max(at);
                }
                cart.checkout = Some(checkout);
                session.cart = Some(cart);
                c.sessions.push(session);
                c.acts.push(Act::Session(no as usize));
                if let Some(oi) = placed {
                    c.acts.push(Act::Order(oi));
                    self.after_order(rng, c, w, oi);
                } else if !c.guest {
                    self.pending = Some(no as usize);
                }
                self.session_extras(rng, c, w, no as usize, first);
                if placed.is_none() && rng.random_bool(b.dropout_idle) {
                    self.alive = false;
                }
                if c.guest && (placed.is_none() || self.orders >= 2 || rng.random_bool(0.6)) {
                    self.alive = false;
                }
                return end;
            }
            end = end.max(tc);
            session.cart = Some(cart);
        }
        c.sessions.push(session);
        c.acts.push(Act::Session(no as usize));
        self.session_extras(rng, c, w, no as usize, first);
        if rng.random_bool(b.dropout_idle) || c.guest {
            self.alive = false;
        }
        end
    }

    /// Chat questions, unverified reviews and consent changes that can happen during a visit.
    fn session_extras(
        &mut self,
        rng: &mut ChaCha8Rng,
        c: &mut Customer,
        w: &World,
        si: usize,
        first: bool,
    ) {
        let b = c.behaviour();
        let persona = c.persona;
        let s = &c.sessions[si];
        let (start, browse_end) = (s.start, s.browse_end.max(s.start + MS_PER_MINUTE));
        let known = s.views.first().map(|v| v.1);
        if rng.random_bool(b.chat) {
            let p = known.unwrap_or_else(|| c.pick_product(rng, w.catalog, start));
            let intent = match persona {
                Persona::PriceSensitiveAnxious if rng.random_bool(0.8) => Intent::Anxious,
                Persona::LuxurySeeker if rng.random_bool(0.6) => Intent::Concierge,
                Persona::ImpulsiveEmotional | Persona::FrustratedAtRisk if rng.random_bool(0.3) => {
                    Intent::Anxious
                }
                _ => Intent::PreSale,
            };
            let thread = self.new_thread();
            let mut at = uniform_ms(rng, start + MS_PER_MINUTE, browse_end);
            let replies = if rng.random_bool(0.3) { 2 } else { 1 };
            for _ in 0..replies {
                let text = text::message(rng, persona, intent, &ctx(w.catalog, p, 0));
                c.acts.push(Act::Message {
                    at,
                    channel: MessageChannel::Chat,
                    thread,
                    text,
                    order: None,
                });
                at += rng.random_range(40..300i64) * MS_PER_SECOND;
            }
        }
        // Browsers sometimes review what they have only looked at.
        if persona == Persona::CuriousBrowser && rng.random_bool(0.012) {
            let p = known.unwrap_or_else(|| c.pick_product(rng, w.catalog, start));
            let emotion = [Emotion::Neutral, Emotion::Joy, Emotion::Surprise]
                [weighted(rng, &[0.6, 0.3, 0.1])];
            self.review(rng, c, w, p, browse_end + MS_PER_MINUTE, emotion, false);
        }
        if c.guest {
            return;
        }
        if first && !c.marketplace() && rng.random_bool(0.1) {
            c.acts.push(Act::Consent {
                at: start + 3 * MS_PER_SECOND,
                channel: ConsentChannel::Tracking,
                granted: rng.random_bool(0.65),
                source: "cookie_banner",
            });
        }
        if !c.marketplace() && rng.random_bool(0.004) {
            c.acts.push(Act::Consent {
                at: start + 90 * MS_PER_SECOND,
                channel: ConsentChannel::Push,
                granted: true,
                source: "mobile_app",
            });
        }
        if c.accepts_marketing && rng.random_bool(0.006) {
            self.unsubscribe(c, start + 20 * MS_PER_SECOND, "email_footer");
        }
    }

    fn new_thread(&mut self) -> u32 {
        self.threads += 1;
        self.threads
    }

    fn unsubscribe(&mut self, c: &mut Customer, at: i64, source: &'static str) {
        if !c.accepts_marketing || c.guest {
            return;
        }
        c.accepts_marketing = false;
        c.acts.push(Act::Consent {
            at,
            channel: ConsentChannel::Email,
            granted: false,
            source,
        });
        if !c.marketplace() {
            c.acts.push(Act::Upsert {
                at: at + 2 * MS_PER_SECOND,
                accepts_marketing: false,
                vip: self.vip,
            });
        }
    }

    /// One product as a cart or order line at `at`.
    fn item(&self, rng: &mut ChaCha8Rng, c: &Customer, w: &World, p: usize, at: i64) -> Item {
        let prod = &w.catalog.products[p];
        let qty = if prod.tier == 0 {
            [1, 2, 3][weighted(rng, &[0.8, 0.15, 0.05])]
        } else if prod.tier == 1 && rng.random_bool(0.06) {
            2
        } else {
            1
        };
        Item {
            product: p,
            variant: rng.random_range(0..prod.variants.len() as u32) as usize,
            qty,
            unit: local_price(prod.price_at(at), c.currency()),
        }
    }

    /// Price an order: line discounts (multi-buy), a discount code, shipping, sales tax.
    fn build_order(
        &self,
        rng: &mut ChaCha8Rng,
        c: &Customer,
        w: &World,
        items: &[Item],
        at: i64,
        checkout_session: Option<usize>,
    ) -> Order {
        let b = c.behaviour();
        let currency = c.currency();
        let lines: Vec<OrderLineSim> = items
            .iter()
            .map(|it| {
                let tier = w.catalog.products[it.product].tier;
                let discount = if it.qty >= 2 && tier <= 1 {
                    it.unit * it.qty as i64 / 10
                } else {
                    0
                };
                OrderLineSim {
                    item: it.clone(),
                    discount,
                }
            })
            .collect();
        let subtotal: i64 = lines
            .iter()
            .map(|l| l.item.unit * l.item.qty as i64 - l.discount)
            .sum();
        let (free_over, fee) = shipping_rule(currency);
        let mut codes = Vec::new();
        let mut pct = 0;
        let mut free_shipping = false;
        match c.platform {
            Platform::Amazon => {
                if rng.random_bool(b.discount_code * 0.4) {
                    codes.push("AMZ-COUPON-5");
                    pct = 5;
                }
            }
            Platform::Flipkart => {
                if rng.random_bool(b.discount_code * 0.5) {
                    codes.push("BANKOFFER10");
                    pct = 10;
                }
            }
            _ => {
                let on_sale = sale_at(w.sales, at).is_some();
                if self.orders == 0
                    && !c.guest
                    && c.accepts_marketing
                    && rng.random_bool((b.discount_code + 0.2).min(0.9))
                {
                    codes.push("WELCOME10");
                    pct = 10;
                } else if !on_sale && rng.random_bool(b.discount_code) {
                    let (code, p) = if c.persona == Persona::BrandLoyalConfident && self.orders >= 3
                    {
                        ("LOYAL15", 15)
                    } else {
                        [
                            ("SAVE15", 15),
                            ("FLASH20", 20),
                            ("FREESHIP", 0),
                            ("SPRING10", 10),
                        ][weighted(rng, &[0.35, 0.2, 0.3, 0.15])]
                    };
                    codes.push(code);
                    pct = p;
                    free_shipping = code == "FREESHIP";
                }
            }
        }
        let discount = subtotal * pct / 100;
        let after = subtotal - discount;
        let shipping =
            if free_shipping || after >= free_over || (c.platform == Platform::Amazon && c.prime) {
                0
            } else {
                fee
            };
        let tax = after * c.market.cities[c.city].tax_bp / 10_000;
        let total = after + shipping + tax;
        let financial_status = if c.platform == Platform::Flipkart && rng.random_bool(0.35) {
            "pending"
        } else {
            "paid"
        };
        let channel = if c.marketplace() {
            "marketplace"
        } else if rng.random_bool(if c.persona == Persona::ImpulsiveEmotional {
            0.55
        } else {
            0.25
        }) {
            "mobile_app"
        } else {
            "web"
        };
        Order {
            at,
            lines,
            subtotal,
            discount,
            shipping,
            tax,
            total,
            codes,
            financial_status,
            channel,
            checkout_session,
        }
    }

    /// Everything an order sets off: profile updates, consent, reviews, refunds, questions,
    /// complaints, and possibly the end of the relationship.
    fn after_order(&mut self, rng: &mut ChaCha8Rng, c: &mut Customer, w: &World, oi: usize) {
        let b = c.behaviour();
        let persona = c.persona;
        self.orders += 1;
        let at = c.orders[oi].at;
        let storefront = !c.marketplace() && !c.guest;
        if storefront {
            if self.orders == 1 && !c.accepts_marketing && rng.random_bool(0.15) {
                c.accepts_marketing = true;
                c.acts.push(Act::Consent {
                    at: at + 5 * MS_PER_SECOND,
                    channel: ConsentChannel::Email,
                    granted: true,
                    source: "checkout",
                });
                c.acts.push(Act::Upsert {
                    at: at + 7 * MS_PER_SECOND,
                    accepts_marketing: true,
                    vip: self.vip,
                });
            }
            if self.orders == 1 && c.phone.is_some() && rng.random_bool(0.12) {
                c.acts.push(Act::Consent {
                    at: at + 6 * MS_PER_SECOND,
                    channel: ConsentChannel::Sms,
                    granted: true,
                    source: "checkout",
                });
            }
            if self.orders == 5 {
                self.vip = true;
                c.acts.push(Act::Upsert {
                    at: at + 60 * MS_PER_SECOND,
                    accepts_marketing: c.accepts_marketing,
                    vip: true,
                });
            }
        }
        let main = {
            let o = &c.orders[oi];
            o.lines[rng.random_range(0..o.lines.len() as u32) as usize]
                .item
                .product
        };
        let delivered = at + rng.random_range(2..8i64) * MS_PER_DAY;

        if persona == Persona::FrustratedAtRisk && self.orders == self.trigger_order {
            self.trouble(rng, c, w, oi, main, true);
            self.alive = false;
            return;
        }
        if rng.random_bool(0.03) {
            self.trouble(rng, c, w, oi, main, false);
            if rng.random_bool(0.3) {
                self.alive = false;
            }
            return;
        }
        if rng.random_bool(b.wismo) {
            let intent = if persona == Persona::FrustratedAtRisk {
                Intent::WismoAngry
            } else {
                Intent::WismoWorried
            };
            let channel = [
                MessageChannel::Support,
                MessageChannel::Email,
                MessageChannel::Chat,
            ][weighted(rng, &[0.5, 0.3, 0.2])];
            let m_at =
                at + rng.random_range(3..9i64) * MS_PER_DAY + rng.random_range(0..MS_PER_DAY);
            let days = (m_at - at) / MS_PER_DAY;
            let thread = self.new_thread();
            let text = text::message(rng, persona, intent, &ctx(w.catalog, main, days));
            c.acts.push(Act::Message {
                at: m_at,
                channel,
                thread,
                text,
                order: Some(oi),
            });
        }
        let mut adjusted = false;
        if persona == Persona::PriceSensitiveAnxious {
            let paid = c.orders[oi]
                .lines
                .iter()
                .find(|l| l.item.product == main)
                .map_or(0, |l| l.item.unit);
            let prod = &w.catalog.products[main];
            let later = local_price(
                prod.min_price_between(at, at + 14 * MS_PER_DAY),
                c.currency(),
            );
            if later < paid && rng.random_bool(0.6) {
                adjusted = true;
                let drop_at = prod
                    .prices
                    .iter()
                    .find(|p| p.at > at && local_price(p.price, c.currency()) < paid)
                    .map_or(at + MS_PER_DAY, |p| p.at);
                let m_at = drop_at + rng.random_range(2..40i64) * MS_PER_HOUR;
                let thread = self.new_thread();
                let days = (m_at - at) / MS_PER_DAY;
                let text = text::message(
                    rng,
                    persona,
                    Intent::PriceAdjust,
                    &ctx(w.catalog, main, days.max(1)),
                );
                c.acts.push(Act::Message {
                    at: m_at,
                    channel: MessageChannel::Support,
                    thread,
                    text,
                    order: Some(oi),
                });
                if rng.random_bool(0.4) {
                    let li = c.orders[oi]
                        .lines
                        .iter()
                        .position(|l| l.item.product == main)
                        .expect("main line");
                    let amount = (paid - later).min(refundable_line(&c.orders[oi], li));
                    c.acts.push(Act::Refund {
                        at: m_at + rng.random_range(1..3i64) * MS_PER_DAY,
                        order: oi,
                        reason: "price_adjustment",
                        lines: vec![(li, 0, amount)],
                        shipping: 0,
                    });
                }
            }
        }
        if !adjusted && rng.random_bool(b.refund) {
            let reason = match persona {
                Persona::ImpulsiveEmotional => ["changed_mind", "wrong_size", "changed_mind"]
                    [rng.random_range(0..3u32) as usize],
                Persona::LuxurySeeker => {
                    ["not_as_described", "changed_mind"][rng.random_range(0..2u32) as usize]
                }
                Persona::PriceSensitiveAnxious => ["changed_mind", "found_cheaper", "wrong_size"]
                    [rng.random_range(0..3u32) as usize],
                _ => {
                    ["changed_mind", "wrong_size", "defective"][rng.random_range(0..3u32) as usize]
                }
            };
            let m_at = delivered + rng.random_range(1..6i64) * MS_PER_DAY;
            if rng.random_bool(0.5) {
                let thread = self.new_thread();
                let text = text::message(
                    rng,
                    persona,
                    Intent::ReturnRequest,
                    &ctx(w.catalog, main, 0),
                );
                c.acts.push(Act::Message {
                    at: m_at,
                    channel: MessageChannel::Support,
                    thread,
                    text,
                    order: Some(oi),
                });
            }
            let order = &c.orders[oi];
            let li = order
                .lines
                .iter()
                .position(|l| l.item.product == main)
                .expect("main line");
            let (lines, shipping) = if order.lines.len() > 1 && reason != "defective" {
                refund_lines(order, &[li], false)
            } else {
                refund_lines(
                    order,
                    &(0..order.lines.len()).collect::<Vec<_>>(),
                    reason == "defective",
                )
            };
            c.acts.push(Act::Refund {
                at: m_at + rng.random_range(3..12i64) * MS_PER_DAY,
                order: oi,
                reason,
                lines,
                shipping,
            });
        } else if rng.random_bool(b.review) {
            let emotion = review_emotion(rng, persona);
            let r_at = delivered + rng.random_range(2..15i64) * MS_PER_DAY;
            self.review(rng, c, w, main, r_at, emotion, true);
        }
        if rng.random_bool(b.feedback) {
            let intent = if rng.random_bool(0.7) {
                Intent::Praise
            } else {
                Intent::SurpriseNote
            };
            let channel = [
                MessageChannel::Feedback,
                MessageChannel::Email,
                MessageChannel::Social,
                MessageChannel::Sms,
            ][weighted(rng, &[0.5, 0.25, 0.2, 0.05])];
            let thread = self.new_thread();
            let m_at = delivered
                + rng.random_range(0..4i64) * MS_PER_DAY
                + rng.random_range(0..MS_PER_DAY);
            let text = text::message(rng, persona, intent, &ctx(w.catalog, main, 0));
            c.acts.push(Act::Message {
                at: m_at,
                channel,
                thread,
                text,
                order: Some(oi),
            });
        }
        if rng.random_bool(self.dropout_after_order) {
            self.alive = false;
        }
    }

    /// Something goes wrong with an order: complaints, maybe escalation, a refund, a bad review,
    /// and for at-risk customers a goodbye and an unsubscribe.
    fn trouble(
        &mut self,
        rng: &mut ChaCha8Rng,
        c: &mut Customer,
        w: &World,
        oi: usize,
        product: usize,
        at_risk: bool,
    ) {
        let persona = c.persona;
        let order_at = c.orders[oi].at;
        let problem = Problem::ALL[weighted(rng, &[0.25, 0.2, 0.12, 0.2, 0.15, 0.08])];
        let channel = if rng.random_bool(0.7) {
            MessageChannel::Support
        } else {
            MessageChannel::Email
        };
        let thread = self.new_thread();
        let mut t =
            order_at + rng.random_range(3..11i64) * MS_PER_DAY + rng.random_range(0..MS_PER_DAY);
        let days = (t - order_at) / MS_PER_DAY;
        let text = text::message(
            rng,
            persona,
            Intent::Problem(problem),
            &ctx(w.catalog, product, days),
        );
        c.acts.push(Act::Message {
            at: t,
            channel,
            thread,
            text,
            order: Some(oi),
        });
        if rng.random_bool(if at_risk { 0.7 } else { 0.25 }) {
            t += rng.random_range(1..5i64) * MS_PER_DAY + rng.random_range(0..MS_PER_DAY);
            let intent = if rng.random_bool(0.7) {
                Intent::Escalation
            } else {
                Intent::WismoAngry
            };
            let days = (t - order_at) / MS_PER_DAY;
            let text = text::message(rng, persona, intent, &ctx(w.catalog, product, days));
            c.acts.push(Act::Message {
                at: t,
                channel,
                thread,
                text,
                order: Some(oi),
            });
        }
        if rng.random_bool(if at_risk { 0.75 } else { 0.9 }) {
            t += rng.random_range(1..7i64) * MS_PER_DAY;
            let order = &c.orders[oi];
            let all: Vec<usize> = (0..order.lines.len()).collect();
            let (lines, shipping) = refund_lines(order, &all, true);
            c.acts.push(Act::Refund {
                at: t,
                order: oi,
                reason: problem.refund_reason(),
                lines,
                shipping,
            });
        }
        if rng.random_bool(if at_risk { 0.7 } else { 0.45 }) {
            t += rng.random_range(1..5i64) * MS_PER_DAY;
            let emotion = if problem == Problem::Late || rng.random_bool(0.2) {
                Emotion::Sadness
            } else {
                problem.emotion()
            };
            self.review(rng, c, w, product, t, emotion, true);
        }
        if at_risk {
            if rng.random_bool(0.5) {
                t += rng.random_range(2..10i64) * MS_PER_DAY;
                let ch = [
                    MessageChannel::Email,
                    MessageChannel::Support,
                    MessageChannel::Social,
                ][weighted(rng, &[0.5, 0.3, 0.2])];
                let text =
                    text::message(rng, persona, Intent::Goodbye, &ctx(w.catalog, product, 0));
                c.acts.push(Act::Message {
                    at: t,
                    channel: ch,
                    thread,
                    text,
                    order: Some(oi),
                });
            }
            if rng.random_bool(0.6) {
                t += rng.random_range(1..15i64) * MS_PER_DAY;
                self.unsubscribe(c, t, "email_footer");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn review(
        &mut self,
        rng: &mut ChaCha8Rng,
        c: &mut Customer,
        w: &World,
        product: usize,
        at: i64,
        emotion: Emotion,
        verified: bool,
    ) {
        let days = rng.random_range(3..40i64);
        let (title, text) = text::review(rng, c.persona, emotion, &ctx(w.catalog, product, days));
        let rating = text::rating_for(rng, emotion);
        c.acts.push(Act::Review {
            at,
            product,
            verified,
            rating,
            title,
            text,
        });
    }
}

/// Hour-of-day weights (local time) for night owls and for everyone else.
const NIGHT_OWL_HOURS: [f64; 24] = [
    6.0, 5.0, 3.5, 1.5, 0.5, 0.3, 0.3, 0.5, 0.8, 1.0, 1.0, 1.2, 1.5, 1.3, 1.0, 1.0, 1.2, 1.5, 2.0,
    2.5, 3.5, 5.0, 6.5, 7.0,
];
const DAY_HOURS: [f64; 24] = [
    0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.2, 3.0, 3.2, 3.4, 4.0, 3.8, 3.0, 2.8, 2.8, 3.0, 3.6,
    4.5, 5.0, 4.2, 2.6, 1.2,
];

fn review_emotion(rng: &mut ChaCha8Rng, persona: Persona) -> Emotion {
    use Emotion::*;
    let (emotions, weights): (&[Emotion], &[f64]) = match persona {
        Persona::ImpulsiveEmotional => (
            &[Joy, Surprise, Neutral, Sadness, Anger],
            &[0.6, 0.15, 0.1, 0.1, 0.05],
        ),
        Persona::PriceSensitiveAnxious => (
            &[Joy, Neutral, Fear, Sadness, Anger],
            &[0.25, 0.35, 0.2, 0.12, 0.08],
        ),
        Persona::BrandLoyalConfident => (&[Joy, Surprise, Neutral], &[0.72, 0.1, 0.18]),
        Persona::CuriousBrowser => (&[Neutral, Joy, Surprise, Sadness], &[0.5, 0.3, 0.1, 0.1]),
        Persona::LuxurySeeker => (
            &[Joy, Surprise, Neutral, Sadness, Disgust],
            &[0.5, 0.2, 0.15, 0.1, 0.05],
        ),
        Persona::FrustratedAtRisk => (&[Joy, Neutral, Sadness, Anger], &[0.3, 0.4, 0.2, 0.1]),
    };
    emotions[weighted(rng, weights)]
}

/// How many more items (each added with probability `p`), at most `max`.
fn geometric(rng: &mut ChaCha8Rng, p: f64, max: u32) -> u32 {
    let mut n = 0;
    while n < max && rng.random_bool(p) {
        n += 1;
    }
    n
}

fn ctx<'a>(catalog: &'a Catalog, p: usize, days: i64) -> Ctx<'a> {
    let prod = &catalog.products[p];
    Ctx {
        title: &prod.title,
        brand: prod.brand,
        word: prod.word(),
        category: prod.category,
        days,
        plural: prod.word().ends_with('s') && !prod.word().ends_with("ss"),
    }
}

/// A line's share of what was paid: its net price less its share of the order discount, plus its
/// share of the tax.
fn refundable_line(order: &Order, li: usize) -> i64 {
    let l = &order.lines[li];
    let net = l.item.unit * l.item.qty as i64 - l.discount;
    let discount_share = if order.subtotal > 0 {
        order.discount * net / order.subtotal
    } else {
        0
    };
    let taxable = net - discount_share;
    let base = order.subtotal - order.discount;
    let tax_share = if base > 0 {
        order.tax * taxable / base
    } else {
        0
    };
    taxable + tax_share
}

/// Refund lines for `which` lines of an order, and the shipping refunded. A refund of every line
/// with shipping returns exactly the order total.
fn refund_lines(
    order: &Order,
    which: &[usize],
    with_shipping: bool,
) -> (Vec<(usize, i32, i64)>, i64) {
    let mut lines: Vec<(usize, i32, i64)> = which
        .iter()
        .map(|&li| (li, order.lines[li].item.qty, refundable_line(order, li)))
        .collect();
    let shipping = if with_shipping { order.shipping } else { 0 };
    if which.len() == order.lines.len() {
        // Rounding leftovers go to the last line, so the lines add up to what was paid for them.
        let paid_for_lines = order.total - order.shipping;
        let sum: i64 = lines.iter().map(|l| l.2).sum();
        if let Some(last) = lines.last_mut() {
            last.2 += paid_for_lines - sum;
        }
    }
    (lines, shipping)
}

/// A search query about a product, and how many products it finds.
fn search_query(
    rng: &mut ChaCha8Rng,
    persona: Persona,
    catalog: &Catalog,
    p: usize,
) -> (String, i32) {
    let prod = &catalog.products[p];
    let word = prod.word();
    let brand = prod.brand.to_lowercase();
    let count = |word: &str| catalog.hits(word);
    let kind = match persona {
        Persona::PriceSensitiveAnxious => weighted(rng, &[2.0, 0.5, 3.0, 0.2, 0.5, 0.5, 0.5]),
        Persona::LuxurySeeker => weighted(rng, &[1.5, 2.0, 0.0, 2.5, 0.5, 0.3, 0.3]),
        Persona::CuriousBrowser => weighted(rng, &[2.0, 1.0, 0.5, 0.5, 2.0, 1.0, 0.6]),
        _ => weighted(rng, &[3.0, 1.0, 0.5, 0.3, 0.5, 0.5, 0.4]),
    };
    match kind {
        0 => (word.to_string(), count(word)),
        1 => {
            let n = catalog
                .products
                .iter()
                .filter(|q| q.brand == prod.brand && q.word() == word)
                .count() as i32;
            (format!("{brand} {word}"), n)
        }
        2 => {
            let q = [
                "cheap {w}",
                "{w} sale",
                "{w} discount",
                "{w} under 50",
                "best price {w}",
            ][rng.random_range(0..5u32) as usize]
                .replace("{w}", word);
            (q, count(word))
        }
        3 => {
            let q = ["luxury {w}", "designer {w}", "{w} gift box", "premium {w}"]
                [rng.random_range(0..4u32) as usize]
                .replace("{w}", word);
            let n = catalog
                .products
                .iter()
                .filter(|q| q.word() == word && q.tier >= 2)
                .count() as i32;
            (q, n)
        }
        4 => {
            let q = [
                "{w} reviews",
                "best {w} 2025",
                "{w} vs",
                "how to choose a {w}",
                "{w} size guide",
            ][rng.random_range(0..5u32) as usize]
                .replace("{w}", word);
            (q, count(word))
        }
        5 => {
            let q = [
                "gift for her",
                "gift for him",
                "gift ideas",
                "birthday present",
                "christmas gifts",
            ][rng.random_range(0..5u32) as usize];
            (q.to_string(), catalog.gift_ideas)
        }
        _ => {
            // A typo: two letters swapped; the shop's search finds nothing.
            let mut chars: Vec<char> = word.chars().collect();
            if chars.len() > 3 {
                let i = rng.random_range(1..chars.len() as u32 - 1) as usize;
                chars.swap(i, i + 1);
            }
            let q: String = chars.into_iter().collect();
            let n = if q == word { count(word) } else { 0 };
            (q, n)
        }
    }
}
