//! The shop's catalogue: products across eight categories with brands, price tiers, variants,
//! popularity and launch dates, and each product's price timeline (sales, permanent drops and
//! rises). Prices are US cents; a customer sees them converted at fixed rates (see `people`).

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use crate::calendar::{MS_PER_DAY, Sale};
use crate::people::charm;
use crate::weighted;

/// Price tiers, cheapest first.
pub const TIERS: [&str; 4] = ["budget", "mid", "premium", "luxury"];

/// A product noun: display name, lower-case word used in text, price multiplier, variant kind.
pub struct Noun {
    pub name: &'static str,
    pub word: &'static str,
    pub price_mult: f64,
    pub variants: VariantKind,
}

#[derive(Clone, Copy)]
pub enum VariantKind {
    Sizes,
    ShoeSizes,
    Colours,
    Single,
}

/// A product category with its brands per tier.
pub struct Category {
    pub name: &'static str,
    pub code: &'static str,
    pub share: f64,
    pub price_mult: f64,
    pub tier_weights: [f64; 4],
    pub brands: [&'static [&'static str]; 4],
    pub nouns: &'static [Noun],
    pub descriptors: &'static [&'static str],
}

const fn noun(
    name: &'static str,
    word: &'static str,
    price_mult: f64,
    variants: VariantKind,
) -> Noun {
    Noun {
        name,
        word,
        price_mult,
        variants,
    }
}

use VariantKind::{Colours, ShoeSizes, Single, Sizes};

pub static CATEGORIES: [Category; 8] = [
    Category {
        name: "apparel",
        code: "APP",
        share: 60.0,
        price_mult: 1.0,
        tier_weights: [0.30, 0.37, 0.23, 0.10],
        brands: [
            &["Basix", "Thread & Co"],
            &["Northwind", "Field Studio", "Marlowe"],
            &["Atelier Nord", "Harrow & Vale"],
            &["Maison Lumen"],
        ],
        nouns: &[
            noun("Merino Sweater", "sweater", 1.2, Sizes),
            noun("Linen Shirt", "shirt", 1.0, Sizes),
            noun("Denim Jacket", "jacket", 1.5, Sizes),
            noun("Chino Trousers", "trousers", 1.0, Sizes),
            noun("Cotton T-Shirt", "t-shirt", 0.5, Sizes),
            noun("Wool Coat", "coat", 2.5, Sizes),
            noun("Rain Jacket", "rain jacket", 1.6, Sizes),
            noun("Summer Dress", "dress", 1.2, Sizes),
            noun("Hoodie", "hoodie", 0.9, Sizes),
            noun("Silk Blouse", "blouse", 1.4, Sizes),
            noun("Knit Beanie", "beanie", 0.4, Colours),
            noun("Leather Belt", "belt", 0.6, Sizes),
            noun("Ankle Boots", "boots", 1.8, ShoeSizes),
            noun("Canvas Sneakers", "sneakers", 1.3, ShoeSizes),
        ],
        descriptors: &[
            "Classic",
            "Relaxed",
            "Slim-Fit",
            "Organic",
            "Everyday",
            "Heritage",
            "Oversized",
            "Tailored",
        ],
    },
    Category {
        name: "electronics",
        code: "ELC",
        share: 45.0,
        price_mult: 1.6,
        tier_weights: [0.28, 0.37, 0.25, 0.10],
        brands: [
            &["Voltix", "Zapp"],
            &["Auralink", "Kestrel Audio"],
            &["Sonora", "Lumio Labs"],
            &["Vanta Acoustics"],
        ],
        nouns: &[
            noun("Wireless Earbuds", "earbuds", 1.0, Colours),
            noun("Noise-Cancelling Headphones", "headphones", 2.0, Colours),
            noun("Smartwatch", "smartwatch", 2.2, Colours),
            noun("Bluetooth Speaker", "speaker", 0.9, Colours),
            noun("Fitness Tracker", "fitness tracker", 0.8, Colours),
            noun("Power Bank", "power bank", 0.4, Single),
            noun("Mechanical Keyboard", "keyboard", 1.0, Single),
            noun("Action Camera", "camera", 2.4, Single),
            noun("E-Reader", "e-reader", 1.4, Single),
            noun("Wireless Charger", "charger", 0.35, Single),
            noun("Smart Lamp", "lamp", 0.6, Single),
            noun("Portable Projector", "projector", 2.8, Single),
        ],
        descriptors: &["Pro", "Mini", "Max", "Air", "S2", "Go", "Studio", "Lite"],
    },
    Category {
        name: "home",
        code: "HOM",
        share: 45.0,
        price_mult: 1.0,
        tier_weights: [0.32, 0.36, 0.22, 0.10],
        brands: [
            &["Homely", "Nest Basics"],
            &["Oak & Ember", "Linea Home"],
            &["Fjordhaus", "Terra Atelier"],
            &["Casa Aurelia"],
        ],
        nouns: &[
            noun("Ceramic Mug Set", "mug set", 0.5, Colours),
            noun("Linen Duvet Cover", "duvet cover", 1.6, Colours),
            noun("Cast Iron Skillet", "skillet", 0.9, Single),
            noun("Scented Candle", "candle", 0.35, Single),
            noun("Throw Blanket", "blanket", 0.9, Colours),
            noun("Table Lamp", "lamp", 1.3, Single),
            noun("Chef's Knife", "knife", 1.1, Single),
            noun("French Press", "french press", 0.6, Single),
            noun("Bath Towel Set", "towel set", 0.8, Colours),
            noun("Ceramic Planter", "planter", 0.5, Single),
            noun("Wall Clock", "clock", 0.7, Single),
            noun("Cushion Cover", "cushion cover", 0.3, Colours),
        ],
        descriptors: &[
            "Nordic",
            "Rustic",
            "Minimal",
            "Handmade",
            "Stoneware",
            "Artisan",
            "Modern",
            "Cosy",
        ],
    },
    Category {
        name: "beauty",
        code: "BEA",
        share: 40.0,
        price_mult: 0.8,
        tier_weights: [0.30, 0.36, 0.24, 0.10],
        brands: [
            &["Glow Daily", "Purely"],
            &["Bloom Botanics", "Velvet Skin"],
            &["Lumière Lab", "Solenne"],
            &["Maison Iris"],
        ],
        nouns: &[
            noun("Vitamin C Serum", "serum", 0.8, Single),
            noun("Hydrating Face Cream", "face cream", 0.9, Single),
            noun("Matte Lipstick", "lipstick", 0.5, Colours),
            noun("Eau de Parfum", "perfume", 1.8, Single),
            noun("Hair Repair Mask", "hair mask", 0.6, Single),
            noun("Sunscreen SPF 50", "sunscreen", 0.45, Single),
            noun("Night Cream", "night cream", 1.0, Single),
            noun("Eyeshadow Palette", "palette", 0.8, Single),
            noun("Cleansing Balm", "cleansing balm", 0.6, Single),
            noun("Body Lotion", "body lotion", 0.4, Single),
        ],
        descriptors: &[
            "Radiance",
            "Pure",
            "Velvet",
            "Botanical",
            "Intense",
            "Gentle",
            "Glow",
            "Silk",
        ],
    },
    Category {
        name: "sports",
        code: "SPT",
        share: 35.0,
        price_mult: 1.0,
        tier_weights: [0.30, 0.38, 0.24, 0.08],
        brands: [
            &["Stride", "FitBasics"],
            &["Peak Motion", "Trailcraft"],
            &["Altura", "Apex Pro"],
            &["Summit Atelier"],
        ],
        nouns: &[
            noun("Yoga Mat", "yoga mat", 0.7, Colours),
            noun("Running Shoes", "running shoes", 1.8, ShoeSizes),
            noun("Adjustable Dumbbells", "dumbbells", 2.5, Single),
            noun("Cycling Jersey", "jersey", 1.0, Sizes),
            noun("Trail Backpack", "backpack", 1.4, Colours),
            noun("Tennis Racket", "racket", 1.6, Single),
            noun("Foam Roller", "foam roller", 0.5, Single),
            noun("Insulated Water Bottle", "water bottle", 0.4, Colours),
            noun("Resistance Bands", "resistance bands", 0.35, Single),
            noun("Training Shorts", "shorts", 0.6, Sizes),
        ],
        descriptors: &[
            "Trail",
            "Aero",
            "Flex",
            "Endurance",
            "Ultra",
            "Core",
            "Summit",
            "Swift",
        ],
    },
    Category {
        name: "books",
        code: "BOK",
        share: 30.0,
        price_mult: 0.35,
        tier_weights: [0.50, 0.40, 0.10, 0.0],
        brands: [
            &["Paperlane Press", "Owl Pocket Books"],
            &["Harbor House", "Quill & Ink"],
            &["Folio Collectors"],
            &[],
        ],
        nouns: &[
            noun("Novel", "novel", 1.0, Single),
            noun("Cookbook", "cookbook", 1.3, Single),
            noun("Memoir", "memoir", 1.1, Single),
            noun("Travel Guide", "travel guide", 0.9, Single),
            noun("Thriller", "thriller", 0.9, Single),
            noun("Picture Book", "picture book", 0.8, Single),
        ],
        descriptors: &[
            "Silent Harbour",
            "A Map of Small Hours",
            "Salt and Saffron",
            "Last Orchard",
            "Winter Light",
            "Glass Meridian",
            "Roads Less Taken",
            "Midnight in Lisbon",
            "Clockmaker's Daughter",
            "Wild Kitchen",
            "Letters from Kyoto",
            "Ninth Wave",
        ],
    },
    Category {
        name: "luxury accessories",
        code: "LUX",
        share: 25.0,
        price_mult: 1.0,
        tier_weights: [0.0, 0.0, 0.45, 0.55],
        brands: [
            &[],
            &[],
            &["Aurelia", "Castellane"],
            &["Maison Valmont", "Orsini Milano", "Heritage Royale"],
        ],
        nouns: &[
            noun("Leather Handbag", "handbag", 1.6, Colours),
            noun("Automatic Watch", "watch", 3.0, Single),
            noun("Silk Tie", "tie", 0.4, Colours),
            noun("Gold Cufflinks", "cufflinks", 0.9, Single),
            noun("Cashmere Wrap", "wrap", 1.0, Colours),
            noun("Designer Sunglasses", "sunglasses", 0.6, Single),
            noun("Leather Wallet", "wallet", 0.5, Colours),
            noun("Pearl Earrings", "earrings", 1.2, Single),
            noun("Silk Scarf", "scarf", 0.6, Colours),
            noun("Leather Briefcase", "briefcase", 1.5, Single),
        ],
        descriptors: &[
            "Signature",
            "Heritage",
            "Monogram",
            "Riviera",
            "Classique",
            "Atelier",
            "Noir",
            "Imperial",
        ],
    },
    Category {
        name: "toys",
        code: "TOY",
        share: 20.0,
        price_mult: 0.7,
        tier_weights: [0.40, 0.42, 0.18, 0.0],
        brands: [
            &["Playpal", "Tiny Tots"],
            &["Wonderblocks", "Little Forest"],
            &["Heirloom Toys"],
            &[],
        ],
        nouns: &[
            noun("Wooden Train Set", "train set", 0.8, Single),
            noun("Building Blocks", "building blocks", 0.7, Single),
            noun("Plush Bear", "teddy bear", 0.4, Colours),
            noun("1000-Piece Puzzle", "puzzle", 0.4, Single),
            noun("Remote Control Car", "remote control car", 1.0, Colours),
            noun("Art Kit", "art kit", 0.6, Single),
        ],
        descriptors: &[
            "Explorer",
            "Rainbow",
            "Adventure",
            "Classic",
            "Junior",
            "Deluxe",
            "Woodland",
            "Starry",
        ],
    },
];

/// Number of categories.
pub const N_CAT: usize = 8;

const TIER_BASE_USD: [f64; 4] = [1_500.0, 4_500.0, 14_000.0, 60_000.0];

const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const SHOE_SIZES: &[&str] = &["38", "39", "40", "41", "42", "43", "44"];
const COLOURS: &[&str] = &[
    "Black", "White", "Navy", "Sand", "Olive", "Rose", "Grey", "Burgundy",
];

/// One product of the catalogue.
pub struct Product {
    pub id: String,
    pub title: String,
    pub slug: String,
    pub category: usize,
    pub noun: usize,
    pub tier: usize,
    pub brand: &'static str,
    pub variants: Vec<(String, String)>,
    pub popularity: f64,
    pub launch_at: i64,
    pub initial_stock: i32,
    /// `[at, price, regular]`: the price from `at` on, and the non-sale price then. The first point
    /// is the launch price.
    pub prices: Vec<PricePoint>,
    pub compare_at: Option<i64>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricePoint {
    pub at: i64,
    pub price: i64,
    pub regular: i64,
}

impl Product {
    pub fn category_name(&self) -> &'static str {
        CATEGORIES[self.category].name
    }

    /// The short word for the product in text ("sweater", "headphones").
    pub fn word(&self) -> &'static str {
        CATEGORIES[self.category].nouns[self.noun].word
    }

    fn point_at(&self, t: i64) -> &PricePoint {
        let i = self.prices.partition_point(|p| p.at <= t);
        &self.prices[i.saturating_sub(1)]
    }

    /// Price in US cents at `t`.
    pub fn price_at(&self, t: i64) -> i64 {
        self.point_at(t).price
    }

    /// Whether the product is discounted (a sale or markdown below its regular price) at `t`.
    pub fn on_sale_at(&self, t: i64) -> bool {
        let p = self.point_at(t);
        p.price < p.regular
    }

    /// The lowest price in `(from, to]`.
    pub fn min_price_between(&self, from: i64, to: i64) -> i64 {
        let mut min = self.price_at(from);
        for p in self.prices.iter().filter(|p| p.at > from && p.at <= to) {
            min = min.min(p.price);
        }
        min
    }
}

/// The catalogue and its lookup tables.
pub struct Catalog {
    pub products: Vec<Product>,
    /// Product indices per category and tier.
    pub by_cat_tier: Vec<[Vec<usize>; 4]>,
    /// How many products the shop's search finds for each product word.
    pub word_hits: BTreeMap<&'static str, i32>,
    /// How many products are tagged as gift ideas.
    pub gift_ideas: i32,
}

impl Catalog {
    /// Products the shop's search finds for a product word (title contains it, or it is the
    /// product's word).
    pub fn hits(&self, word: &str) -> i32 {
        self.word_hits.get(word).copied().unwrap_or(0)
    }
}

/// Product counts per category for a catalogue of `total` products (at least one each).
fn category_counts(total: usize) -> [usize; N_CAT] {
    let total = total.max(N_CAT);
    let share_sum: f64 = CATEGORIES.iter().map(|c| c.share).sum();
    let mut counts = [0usize; N_CAT];
    let mut assigned = 0;
    for (i, c) in CATEGORIES.iter().enumerate() {
        counts[i] = ((total as f64 * c.share / share_sum).floor() as usize).max(1);
        assigned += counts[i];
    }
    let mut i = 0;
    while assigned < total {
        counts[i % N_CAT] += 1;
        assigned += 1;
        i += 1;
    }
    counts
}

/// Build the catalogue: products, their launch dates and price timelines.
pub fn build(
    rng: &mut ChaCha8Rng,
    products: usize,
    stock_factor: f64,
    start: i64,
    end: i64,
    sales: &[Sale],
) -> Catalog {
    let span = end - start;
    let noise = LogNormal::new(0.0, 0.2).expect("valid");
    let popularity = LogNormal::new(0.0, 0.9).expect("valid");
    let mut list = Vec::new();
    let mut titles = std::collections::BTreeSet::new();
    for (ci, count) in category_counts(products).into_iter().enumerate() {
        let cat = &CATEGORIES[ci];
        for _ in 0..count {
            let tier = weighted(rng, &cat.tier_weights);
            let brands = cat.brands[tier];
            // Retry until the title is new; fall back to a numbered edition.
            let mut chosen = None;
            for attempt in 0..40 {
                let brand = brands[rng.random_range(0..brands.len() as u32) as usize];
                let ni = rng.random_range(0..cat.nouns.len() as u32) as usize;
                let desc =
                    cat.descriptors[rng.random_range(0..cat.descriptors.len() as u32) as usize];
                let mut title = if ci == 5 {
                    let edition = ["Paperback", "Hardcover", "Illustrated Edition"][tier.min(2)];
                    format!("{desc}: A {} ({edition})", cat.nouns[ni].name)
                } else {
                    format!("{brand} {desc} {}", cat.nouns[ni].name)
                };
                if attempt == 39 {
                    title = format!("{title} {}", titles.len() + 2);
                }
                if titles.insert(title.clone()) {
                    chosen = Some((brand, ni, title));
                    break;
                }
            }
            let (brand, ni, title) = chosen.expect("the last attempt always succeeds");
            let n = &cat.nouns[ni];
            let base = TIER_BASE_USD[tier] * cat.price_mult * n.price_mult * noise.sample(rng);
            let price = charm(base as i64, "USD");
            let launched_later = rng.random_bool(0.15);
            let launch_at = if launched_later {
                start + (span as f64 * rng.random_range(0.1..0.9)) as i64
            } else {
                start
            };
            let variants: Vec<String> = match n.variants {
                Sizes => SIZES.iter().map(|s| s.to_string()).collect(),
                ShoeSizes => SHOE_SIZES.iter().map(|s| s.to_string()).collect(),
                Colours => {
                    let k = rng.random_range(2..=4u32) as usize;
                    let first = rng.random_range(0..COLOURS.len() as u32) as usize;
                    (0..k)
                        .map(|j| COLOURS[(first + j * 3) % COLOURS.len()].to_string())
                        .collect()
                }
                Single => vec!["Default".to_string()],
            };
            let stock_base = [420.0, 220.0, 90.0, 24.0][tier];
            let initial_stock =
                ((stock_base * stock_factor * rng.random_range(0.6..1.4)) as i32).max(3);
            list.push((
                launch_at,
                ci,
                ni,
                tier,
                brand,
                title,
                price,
                variants,
                popularity.sample(rng),
                initial_stock,
            ));
        }
    }
    // Product ids increase with launch date, like a platform's auto-increment.
    list.sort_by(|a, b| a.0.cmp(&b.0).then(a.5.cmp(&b.5)));
    let mut id_base = 8_100_000_000u64;
    let mut variant_base = 43_000_000_000u64;
    let mut out = Vec::with_capacity(list.len());
    for (launch_at, ci, ni, tier, brand, title, price, variants, pop, initial_stock) in list {
        id_base += rng.random_range(1..=400u64);
        let id = id_base.to_string();
        let variants = variants
            .into_iter()
            .map(|label| {
                variant_base += rng.random_range(1..=9u64);
                (variant_base.to_string(), label)
            })
            .collect();
        let slug = title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let mut tags = vec![CATEGORIES[ci].name.to_string(), TIERS[tier].to_string()];
        if launch_at > start {
            tags.push("new-arrival".into());
        }
        if pop > 2.0 {
            tags.push("bestseller".into());
        }
        if rng.random_bool(0.12) {
            tags.push("gift-idea".into());
        }
        let prices = price_timeline(rng, price, tier, launch_at, end, sales);
        let compare_at = (rng.random_bool(0.08)).then(|| charm(price * 5 / 4, "USD"));
        out.push(Product {
            id,
            title,
            slug,
            category: ci,
            noun: ni,
            tier,
            brand,
            variants,
            popularity: pop,
            launch_at,
            initial_stock,
            prices,
            compare_at,
            tags,
        });
    }
    let mut by_cat_tier: Vec<[Vec<usize>; 4]> = (0..N_CAT).map(|_| Default::default()).collect();
    for (i, p) in out.iter().enumerate() {
        by_cat_tier[p.category][p.tier].push(i);
    }
    let mut word_hits = BTreeMap::new();
    for cat in &CATEGORIES {
        for n in cat.nouns {
            let hits = out
                .iter()
                .filter(|p| p.word() == n.word || p.title.to_lowercase().contains(n.word))
                .count() as i32;
            word_hits.insert(n.word, hits);
        }
    }
    let gift_ideas = out
        .iter()
        .filter(|p| p.tags.iter().any(|t| t == "gift-idea"))
        .count() as i32;
    Catalog {
        products: out,
        by_cat_tier,
        word_hits,
        gift_ideas,
    }
}

/// Sales the product joins, plus up to two permanent changes outside sales (mostly markdowns,
/// some increases).
fn price_timeline(
    rng: &mut ChaCha8Rng,
    launch_price: i64,
    tier: usize,
    launch_at: i64,
    end: i64,
    sales: &[Sale],
) -> Vec<PricePoint> {
    // (at, kind): kind 0 = permanent change (pct, signed), 1 = sale start (pct), 2 = sale end.
    let mut changes: Vec<(i64, u8, i64)> = Vec::new();
    let luxury_factor = if tier == 3 { 0.35 } else { 1.0 };
    // Only sales that start after the launch; one running at launch is already in the price.
    for s in sales.iter().filter(|s| s.start > launch_at) {
        if rng.random_bool((s.participation as f64 / 1000.0 * luxury_factor).min(1.0)) {
            let steps = (s.max_pct - 10) / 5;
            let pct = 10 + 5 * rng.random_range(0..=steps);
            changes.push((s.start, 1, pct));
            changes.push((s.end, 2, 0));
        }
    }
    let permanent = [0u32, 0, 1, 1, 1, 2][rng.random_range(0..6u32) as usize];
    for _ in 0..permanent {
        let at = launch_at
            + MS_PER_DAY
            + (rng.random::<f64>() * (end - launch_at - 2 * MS_PER_DAY).max(1) as f64) as i64;
        let at = at - at.rem_euclid(MS_PER_DAY) + 6 * 3_600_000;
        let in_sale = sales
            .iter()
            .any(|s| at >= s.start - MS_PER_DAY && at < s.end + MS_PER_DAY);
        if in_sale || at >= end {
            continue;
        }
        let pct = if rng.random_bool(0.65) {
            -(rng.random_range(10..=30i64))
        } else {
            rng.random_range(5..=12i64)
        };
        changes.push((at, 0, pct));
    }
    changes.retain(|c| c.0 < end);
    changes.sort();
    let mut points = vec![PricePoint {
        at: launch_at,
        price: launch_price,
        regular: launch_price,
    }];
    let mut regular = launch_price;
    let mut sale_pct = 0;
    for (at, kind, pct) in changes {
        match kind {
            0 => regular = charm(regular * (100 + pct) / 100, "USD"),
            1 => sale_pct = pct,
            _ => sale_pct = 0,
        }
        let price = if sale_pct > 0 {
            charm(regular * (100 - sale_pct) / 100, "USD")
        } else {
            regular
        };
        let last = points.last().expect("non-empty");
        if price != last.price || regular != last.regular {
            points.push(PricePoint { at, price, regular });
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        assert_eq!(category_counts(300).iter().sum::<usize>(), 300);
        assert_eq!(category_counts(60).iter().sum::<usize>(), 60);
        assert!(category_counts(3).iter().all(|&c| c == 1));
    }
}
