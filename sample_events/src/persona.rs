//! The six latent customer personas and the behaviour parameters each one drives. A persona is
//! never written into an event; it only shapes rates, baskets, timing and text, so segmentation
//! downstream has real structure to find (and [`crate::CustomerTruth`] lets tests check that it
//! does).

use crate::catalog::N_CAT;

/// A customer's latent persona.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Persona {
    /// Many small, quick orders, often late at night; emotional, exclamatory texts.
    ImpulsiveEmotional,
    /// Buys on sales and price drops, abandons many carts, asks anxious questions.
    PriceSensitiveAnxious,
    /// Regular cadence, the same brands, positive reviews.
    BrandLoyalConfident,
    /// Many views and searches, few orders, neutral questions.
    CuriousBrowser,
    /// Few, high-value premium and luxury orders.
    LuxurySeeker,
    /// Early purchases, then complaints, refunds and silence.
    FrustratedAtRisk,
}

impl Persona {
    pub const ALL: [Persona; 6] = [
        Persona::ImpulsiveEmotional,
        Persona::PriceSensitiveAnxious,
        Persona::BrandLoyalConfident,
        Persona::CuriousBrowser,
        Persona::LuxurySeeker,
        Persona::FrustratedAtRisk,
    ];

    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Persona::ImpulsiveEmotional => "impulsive_emotional",
            Persona::PriceSensitiveAnxious => "price_sensitive_anxious",
            Persona::BrandLoyalConfident => "brand_loyal_confident",
            Persona::CuriousBrowser => "curious_browser",
            Persona::LuxurySeeker => "luxury_seeker",
            Persona::FrustratedAtRisk => "frustrated_at_risk",
        }
    }

    pub(crate) fn behaviour(self) -> &'static Behaviour {
        &BEHAVIOURS[self as usize]
    }
}

/// How a persona behaves. Probabilities are per session, per cart, per checkout or per order, as
/// named.
pub(crate) struct Behaviour {
    /// Share of customers.
    pub share: f64,
    /// Weights over Shopify, WooCommerce, Amazon, Flipkart.
    pub platforms: [f64; 4],
    /// Mean storefront sessions per 30 days (customers' own rates are gamma-distributed around it).
    pub sessions_per_month: f64,
    /// Gamma shape of the per-customer rate (small = very uneven).
    pub rate_shape: f64,
    /// Gamma shape of the gaps between sessions (1 = Poisson; larger = a regular cadence).
    pub regularity: f64,
    /// Activity multiplier while a sale runs.
    pub sale_boost: f64,
    pub cart: f64,
    pub checkout: f64,
    pub complete: f64,
    /// Chance an abandoned checkout is completed at the next session within a week.
    pub recover: f64,
    /// Mean chance of going quiet for good after an order (per-customer, beta-distributed).
    pub dropout_after_order: f64,
    /// Chance of going quiet for good after a session without an order.
    pub dropout_idle: f64,
    /// Mean number of browsing views per session, beyond the products put in the cart.
    pub views: f64,
    pub search: f64,
    /// Chance of adding one more product to the cart (repeatedly).
    pub another_item: f64,
    pub tiers: [f64; 4],
    pub categories: [f64; N_CAT],
    /// Chance a pick comes from the customer's favourite brands.
    pub brand_loyalty: f64,
    pub discount_code: f64,
    pub refund: f64,
    pub review: f64,
    /// Chance of a chat question during a session.
    pub chat: f64,
    /// Chance of unsolicited feedback after an order.
    pub feedback: f64,
    /// Chance of asking where an order is.
    pub wismo: f64,
    pub night_owl: bool,
    pub marketing: f64,
    /// Acquisition source tags and weights.
    pub sources: &'static [(&'static str, f64)],
}

static BEHAVIOURS: [Behaviour; 6] = [
    // ImpulsiveEmotional
    Behaviour {
        share: 0.16,
        platforms: [0.42, 0.14, 0.26, 0.18],
        sessions_per_month: 1.1,
        rate_shape: 1.6,
        regularity: 1.0,
        sale_boost: 1.3,
        cart: 0.55,
        checkout: 0.85,
        complete: 0.92,
        recover: 0.5,
        dropout_after_order: 0.15,
        dropout_idle: 0.06,
        views: 1.0,
        search: 0.15,
        another_item: 0.18,
        tiers: [0.48, 0.40, 0.11, 0.01],
        categories: [3.0, 2.0, 1.0, 3.0, 1.0, 0.5, 0.5, 1.0],
        brand_loyalty: 0.0,
        discount_code: 0.20,
        refund: 0.12,
        review: 0.15,
        chat: 0.03,
        feedback: 0.08,
        wismo: 0.04,
        night_owl: true,
        marketing: 0.65,
        sources: &[
            ("src:instagram", 4.0),
            ("src:tiktok", 4.0),
            ("src:google", 1.0),
            ("src:direct", 1.0),
        ],
    },
    // PriceSensitiveAnxious
    Behaviour {
        share: 0.22,
        platforms: [0.24, 0.24, 0.27, 0.25],
        sessions_per_month: 0.85,
        rate_shape: 1.3,
        regularity: 1.0,
        sale_boost: 3.2,
        cart: 0.30,
        checkout: 0.55,
        complete: 0.45,
        recover: 0.35,
        dropout_after_order: 0.16,
        dropout_idle: 0.06,
        views: 1.4,
        search: 0.35,
        another_item: 0.22,
        tiers: [0.68, 0.28, 0.04, 0.0],
        categories: [2.0, 1.5, 2.5, 1.5, 1.5, 1.5, 0.1, 1.5],
        brand_loyalty: 0.0,
        discount_code: 0.65,
        refund: 0.08,
        review: 0.15,
        chat: 0.08,
        feedback: 0.03,
        wismo: 0.14,
        night_owl: false,
        marketing: 0.55,
        sources: &[
            ("src:deals-site", 4.0),
            ("src:google", 3.0),
            ("src:email", 1.5),
            ("src:direct", 1.0),
        ],
    },
    // BrandLoyalConfident
    Behaviour {
        share: 0.16,
        platforms: [0.45, 0.30, 0.15, 0.10],
        sessions_per_month: 0.6,
        rate_shape: 5.0,
        regularity: 4.0,
        sale_boost: 1.0,
        cart: 0.6,
        checkout: 0.93,
        complete: 0.95,
        recover: 0.6,
        dropout_after_order: 0.06,
        dropout_idle: 0.03,
        views: 0.7,
        search: 0.2,
        another_item: 0.25,
        tiers: [0.12, 0.50, 0.33, 0.05],
        categories: [2.0, 1.5, 1.5, 1.5, 2.0, 1.5, 0.5, 1.0],
        brand_loyalty: 0.85,
        discount_code: 0.12,
        refund: 0.03,
        review: 0.3,
        chat: 0.02,
        feedback: 0.07,
        wismo: 0.02,
        night_owl: false,
        marketing: 0.75,
        sources: &[
            ("src:direct", 4.0),
            ("src:email", 3.0),
            ("src:referral", 2.0),
            ("src:google", 1.0),
        ],
    },
    // CuriousBrowser
    Behaviour {
        share: 0.22,
        platforms: [0.42, 0.34, 0.14, 0.10],
        sessions_per_month: 1.2,
        rate_shape: 1.4,
        regularity: 1.0,
        sale_boost: 1.2,
        cart: 0.08,
        checkout: 0.45,
        complete: 0.6,
        recover: 0.2,
        dropout_after_order: 0.25,
        dropout_idle: 0.07,
        views: 3.0,
        search: 0.55,
        another_item: 0.1,
        tiers: [0.22, 0.40, 0.28, 0.10],
        categories: [1.5, 3.0, 2.0, 1.0, 1.5, 2.5, 0.5, 1.0],
        brand_loyalty: 0.0,
        discount_code: 0.10,
        refund: 0.05,
        review: 0.08,
        chat: 0.04,
        feedback: 0.02,
        wismo: 0.03,
        night_owl: false,
        marketing: 0.35,
        sources: &[
            ("src:google", 4.0),
            ("src:pinterest", 2.0),
            ("src:blog", 2.0),
            ("src:direct", 1.0),
        ],
    },
    // LuxurySeeker
    Behaviour {
        share: 0.08,
        platforms: [0.55, 0.10, 0.27, 0.08],
        sessions_per_month: 0.5,
        rate_shape: 2.0,
        regularity: 1.5,
        sale_boost: 1.0,
        cart: 0.35,
        checkout: 0.85,
        complete: 0.86,
        recover: 0.5,
        dropout_after_order: 0.10,
        dropout_idle: 0.05,
        views: 1.5,
        search: 0.3,
        another_item: 0.06,
        tiers: [0.0, 0.02, 0.28, 0.70],
        categories: [1.5, 1.5, 1.0, 2.0, 0.5, 0.3, 5.0, 0.2],
        brand_loyalty: 0.3,
        discount_code: 0.03,
        refund: 0.06,
        review: 0.25,
        chat: 0.08,
        feedback: 0.10,
        wismo: 0.05,
        night_owl: false,
        marketing: 0.5,
        sources: &[
            ("src:direct", 3.0),
            ("src:magazine", 3.0),
            ("src:instagram", 2.0),
            ("src:referral", 1.0),
        ],
    },
    // FrustratedAtRisk
    Behaviour {
        share: 0.16,
        platforms: [0.30, 0.25, 0.25, 0.20],
        sessions_per_month: 0.85,
        rate_shape: 1.6,
        regularity: 1.0,
        sale_boost: 1.2,
        cart: 0.50,
        checkout: 0.82,
        complete: 0.86,
        recover: 0.4,
        dropout_after_order: 0.06,
        dropout_idle: 0.05,
        views: 1.0,
        search: 0.3,
        another_item: 0.16,
        tiers: [0.30, 0.45, 0.20, 0.05],
        categories: [2.0, 2.0, 2.0, 1.5, 1.5, 1.0, 0.5, 1.0],
        brand_loyalty: 0.0,
        discount_code: 0.25,
        refund: 0.10,
        review: 0.2,
        chat: 0.04,
        feedback: 0.03,
        wismo: 0.10,
        night_owl: false,
        marketing: 0.45,
        sources: &[
            ("src:google", 3.0),
            ("src:facebook", 3.0),
            ("src:direct", 1.0),
            ("src:deals-site", 1.0),
        ],
    },
];

/// Persona shares, in [`Persona::ALL`] order.
pub(crate) fn shares() -> [f64; 6] {
    let mut out = [0.0; 6];
    for (o, b) in out.iter_mut().zip(BEHAVIOURS.iter()) {
        *o = b.share;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one() {
        let s: f64 = shares().iter().sum();
        assert!((s - 1.0).abs() < 1e-9);
        for p in Persona::ALL {
            assert_eq!(Persona::ALL[p as usize], p);
        }
    }
}
