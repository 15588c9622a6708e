//! Prints what a configuration generates and how long it takes, and optionally writes it out:
//! `cargo run --release -p mindset-sample-events --example stats [standard|small] [out.jsonl]`.

use std::collections::BTreeMap;
use std::time::Instant;

use mindset_sample_events::{GenConfig, Persona, generate_with_truth, usd_minor};
use mindset_schemas::Payload;

fn main() {
    let cfg = match std::env::args().nth(1).as_deref() {
        Some("small") => GenConfig::small(),
        _ => GenConfig::standard(),
    };
    let t0 = Instant::now();
    let g = generate_with_truth(&cfg);
    let elapsed = t0.elapsed();
    if let Some(path) = std::env::args().nth(2) {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create output"));
        mindset_sample_events::write_jsonl(&g.events, file).expect("write output");
    }
    println!(
        "{} events (target {}) in {:.1} ms, browse scale {:.3}",
        g.events.len(),
        cfg.target_events,
        elapsed.as_secs_f64() * 1e3,
        g.browse_scale
    );

    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_platform: BTreeMap<&str, usize> = BTreeMap::new();
    for ev in &g.events {
        *by_type.entry(ev.payload.type_name()).or_default() += 1;
        *by_platform.entry(ev.platform.symbol()).or_default() += 1;
    }
    println!("\nby payload type:");
    for (k, v) in &by_type {
        println!("  {k:<20} {v:>7}");
    }
    println!("\nby platform:");
    for (k, v) in &by_platform {
        println!("  {k:<20} {v:>7}");
    }

    // Per persona: customers, orders, views, mean order value (USD), refunds, one-time buyers.
    let persona: BTreeMap<&str, Persona> = g
        .customers
        .iter()
        .map(|c| (c.customer_key.as_str(), c.persona))
        .collect();
    #[derive(Default)]
    struct Row {
        customers: usize,
        orders: usize,
        views: usize,
        value_usd: i64,
        refunds: usize,
        abandoned: usize,
        messages: usize,
        reviews: usize,
        stars: i64,
    }
    let mut rows: BTreeMap<Persona, Row> = BTreeMap::new();
    let mut orders_per_customer: BTreeMap<&str, usize> = BTreeMap::new();
    let mut checkouts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &g.customers {
        rows.entry(c.persona).or_default().customers += 1;
    }
    for ev in &g.events {
        let Some(key) = ev.customer_key.as_deref() else {
            continue;
        };
        let Some(p) = persona.get(key) else { continue };
        let row = rows.entry(*p).or_default();
        match &ev.payload {
            Payload::OrderPlaced(o) => {
                row.orders += 1;
                row.value_usd += usd_minor(o.total_minor, &o.currency);
                *orders_per_customer.entry(key).or_default() += 1;
            }
            Payload::ProductViewed(_) => row.views += 1,
            Payload::OrderRefunded(_) => row.refunds += 1,
            Payload::CheckoutStarted(_) => *checkouts.entry(key).or_default() += 1,
            Payload::MessageReceived(_) => row.messages += 1,
            Payload::ReviewPosted(r) => {
                row.reviews += 1;
                row.stars += r.rating as i64;
            }
            _ => {}
        }
    }
    for (key, n) in &checkouts {
        let done = orders_per_customer.get(key).copied().unwrap_or(0);
        if let Some(p) = persona.get(key) {
            rows.entry(*p).or_default().abandoned += n.saturating_sub(done);
        }
    }
    println!(
        "\n{:<24} {:>6} {:>7} {:>8} {:>9} {:>8} {:>8} {:>7} {:>6}",
        "persona", "cust", "orders", "views", "AOV $", "refunds", "abandon", "msgs", "stars"
    );
    for (p, r) in &rows {
        println!(
            "{:<24} {:>6} {:>7} {:>8} {:>9.2} {:>8} {:>8} {:>7} {:>6.2}",
            p.name(),
            r.customers,
            r.orders,
            r.views,
            r.value_usd as f64 / r.orders.max(1) as f64 / 100.0,
            r.refunds,
            r.abandoned,
            r.messages,
            r.stars as f64 / r.reviews.max(1) as f64,
        );
    }
    let mut hist: BTreeMap<usize, usize> = BTreeMap::new();
    for n in orders_per_customer.values() {
        *hist.entry((*n).min(10)).or_default() += 1;
    }
    println!("\norders per buying customer (10 = 10+): {hist:?}");
    println!(
        "customers without an order: {}",
        g.customers.len() - orders_per_customer.len()
    );
    let sessions: std::collections::BTreeSet<&str> = g
        .events
        .iter()
        .filter_map(|ev| match &ev.payload {
            Payload::ProductViewed(v) => v.session_id.as_deref(),
            Payload::ProductSearched(s) => s.session_id.as_deref(),
            Payload::CartUpdated(c) => c.session_id.as_deref(),
            _ => None,
        })
        .collect();
    println!("storefront sessions with events: {}", sessions.len());
}
