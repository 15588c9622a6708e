//! Where customers live and what they pay in: markets (country, currency, cities with their UTC
//! offsets and sales tax), exchange rates, charm pricing, shipping rules and names.

use mindset_schemas::Platform;

/// A city: name, UTC offset in minutes, sales tax added at checkout in basis points (0 where prices
/// include VAT/GST).
pub struct City {
    pub name: &'static str,
    pub utc_offset_min: i64,
    pub tax_bp: i64,
}

/// A country and its currency.
pub struct Market {
    pub country: &'static str,
    pub currency: &'static str,
    pub phone_prefix: &'static str,
    pub cities: &'static [City],
    pub first_names: &'static [&'static str],
    pub last_names: &'static [&'static str],
}

const fn city(name: &'static str, utc_offset_min: i64, tax_bp: i64) -> City {
    City {
        name,
        utc_offset_min,
        tax_bp,
    }
}

const EN_FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan", "Harper",
    "Mason", "Amelia", "Logan", "Ella", "Jack", "Grace", "Henry", "Chloe", "Owen", "Zoe", "Daniel",
    "Lily", "Samuel", "Hannah", "Caleb", "Nora", "Isaac", "Ruby", "Leo", "Maya", "Aaron", "Priya",
    "Marcus", "Sofia", "Tyler", "Aisha", "Ryan", "Jasmine", "Dylan",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Evans",
    "Edwards", "Collins", "Stewart",
];
const UK_LAST: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Turner", "Khan", "Murphy", "Kelly",
    "O'Brien", "Byrne", "Walsh",
];
const DE_FIRST: &[&str] = &[
    "Lukas", "Anna", "Leon", "Marie", "Finn", "Sophie", "Jonas", "Lea", "Paul", "Lena", "Felix",
    "Hannah", "Elias", "Mia", "Noah", "Emilia", "Moritz", "Clara", "Jan", "Laura",
];
const DE_LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Braun",
    "Zimmermann",
];
const FR_FIRST: &[&str] = &[
    "Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Arthur", "Inès", "Gabriel",
    "Jade", "Raphaël", "Louise", "Adam", "Alice", "Théo",
];
const FR_LAST: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Fournier",
];
const NL_FIRST: &[&str] = &[
    "Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Milan", "Sophie", "Levi", "Fenna", "Bram",
    "Saar",
];
const NL_LAST: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
];
const ES_FIRST: &[&str] = &[
    "Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo", "Valeria", "Álvaro", "Paula", "Daniel",
    "Carmen", "Javier",
];
const ES_LAST: &[&str] = &[
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Ruiz",
    "Díaz",
];
const IT_FIRST: &[&str] = &[
    "Giulia",
    "Leonardo",
    "Sofia",
    "Francesco",
    "Aurora",
    "Alessandro",
    "Ginevra",
    "Lorenzo",
    "Beatrice",
    "Matteo",
    "Chiara",
    "Marco",
];
const IT_LAST: &[&str] = &[
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
    "Greco", "Bruno", "Gallo",
];
const IN_FIRST: &[&str] = &[
    "Aarav",
    "Ananya",
    "Vivaan",
    "Diya",
    "Aditya",
    "Isha",
    "Arjun",
    "Saanvi",
    "Rohan",
    "Kavya",
    "Vihaan",
    "Aditi",
    "Karan",
    "Meera",
    "Rahul",
    "Pooja",
    "Siddharth",
    "Neha",
    "Varun",
    "Riya",
    "Nikhil",
    "Sneha",
    "Harsh",
    "Tanvi",
];
const IN_LAST: &[&str] = &[
    "Sharma",
    "Verma",
    "Gupta",
    "Patel",
    "Reddy",
    "Iyer",
    "Nair",
    "Singh",
    "Kumar",
    "Mehta",
    "Joshi",
    "Chatterjee",
    "Das",
    "Rao",
    "Pillai",
    "Kapoor",
    "Malhotra",
    "Agarwal",
    "Bose",
    "Menon",
];

pub static MARKETS: &[Market] = &[
    Market {
        country: "US",
        currency: "USD",
        phone_prefix: "+1",
        cities: &[
            city("New York", -300, 888),
            city("Chicago", -360, 1_025),
            city("Austin", -360, 825),
            city("Denver", -420, 881),
            city("Los Angeles", -480, 950),
            city("Seattle", -480, 1_035),
            city("Boston", -300, 625),
            city("Atlanta", -300, 890),
        ],
        first_names: EN_FIRST,
        last_names: EN_LAST,
    },
    Market {
        country: "CA",
        currency: "CAD",
        phone_prefix: "+1",
        cities: &[
            city("Toronto", -300, 1_300),
            city("Vancouver", -480, 1_200),
            city("Montreal", -300, 1_498),
            city("Calgary", -420, 500),
        ],
        first_names: EN_FIRST,
        last_names: EN_LAST,
    },
    Market {
        country: "GB",
        currency: "GBP",
        phone_prefix: "+44",
        cities: &[
            city("London", 0, 0),
            city("Manchester", 0, 0),
            city("Bristol", 0, 0),
            city("Edinburgh", 0, 0),
            city("Leeds", 0, 0),
        ],
        first_names: EN_FIRST,
        last_names: UK_LAST,
    },
    Market {
        country: "IE",
        currency: "EUR",
        phone_prefix: "+353",
        cities: &[city("Dublin", 0, 0), city("Cork", 0, 0)],
        first_names: EN_FIRST,
        last_names: UK_LAST,
    },
    Market {
        country: "DE",
        currency: "EUR",
        phone_prefix: "+49",
        cities: &[
            city("Berlin", 60, 0),
            city("Munich", 60, 0),
            city("Hamburg", 60, 0),
            city("Cologne", 60, 0),
        ],
        first_names: DE_FIRST,
        last_names: DE_LAST,
    },
    Market {
        country: "FR",
        currency: "EUR",
        phone_prefix: "+33",
        cities: &[
            city("Paris", 60, 0),
            city("Lyon", 60, 0),
            city("Bordeaux", 60, 0),
        ],
        first_names: FR_FIRST,
        last_names: FR_LAST,
    },
    Market {
        country: "NL",
        currency: "EUR",
        phone_prefix: "+31",
        cities: &[
            city("Amsterdam", 60, 0),
            city("Utrecht", 60, 0),
            city("Rotterdam", 60, 0),
        ],
        first_names: NL_FIRST,
        last_names: NL_LAST,
    },
    Market {
        country: "ES",
        currency: "EUR",
        phone_prefix: "+34",
        cities: &[
            city("Madrid", 60, 0),
            city("Barcelona", 60, 0),
            city("Valencia", 60, 0),
        ],
        first_names: ES_FIRST,
        last_names: ES_LAST,
    },
    Market {
        country: "IT",
        currency: "EUR",
        phone_prefix: "+39",
        cities: &[
            city("Milan", 60, 0),
            city("Rome", 60, 0),
            city("Turin", 60, 0),
        ],
        first_names: IT_FIRST,
        last_names: IT_LAST,
    },
    Market {
        country: "AU",
        currency: "AUD",
        phone_prefix: "+61",
        cities: &[
            city("Sydney", 600, 0),
            city("Melbourne", 600, 0),
            city("Brisbane", 600, 0),
            city("Perth", 480, 0),
        ],
        first_names: EN_FIRST,
        last_names: EN_LAST,
    },
    Market {
        country: "IN",
        currency: "INR",
        phone_prefix: "+91",
        cities: &[
            city("Mumbai", 330, 0),
            city("Bengaluru", 330, 0),
            city("Delhi", 330, 0),
            city("Hyderabad", 330, 0),
            city("Chennai", 330, 0),
            city("Pune", 330, 0),
            city("Kolkata", 330, 0),
        ],
        first_names: IN_FIRST,
        last_names: IN_LAST,
    },
];

/// Markets a platform's customers come from, with weights (index into [`MARKETS`]).
pub fn platform_markets(platform: Platform) -> &'static [(usize, f64)] {
    match platform {
        Platform::Shopify => &[
            (0, 45.0),
            (1, 10.0),
            (2, 15.0),
            (3, 3.0),
            (4, 6.0),
            (5, 4.0),
            (6, 3.0),
            (7, 2.0),
            (8, 2.0),
            (9, 10.0),
        ],
        Platform::Woocommerce => &[
            (0, 30.0),
            (2, 20.0),
            (3, 4.0),
            (4, 12.0),
            (5, 8.0),
            (6, 5.0),
            (7, 3.0),
            (8, 3.0),
            (9, 15.0),
        ],
        Platform::Amazon => &[
            (0, 55.0),
            (2, 20.0),
            (4, 12.0),
            (5, 6.0),
            (7, 3.0),
            (8, 4.0),
        ],
        _ => &[(10, 100.0)],
    }
}

/// Units of a currency per 10,000 US cents' worth (fixed rates, so output never drifts).
fn fx_per_10k(currency: &str) -> i64 {
    match currency {
        "EUR" => 9_200,
        "GBP" => 7_900,
        "CAD" => 13_700,
        "AUD" => 15_300,
        "INR" => 835_000,
        _ => 10_000,
    }
}

/// Convert US cents to the minor units of `currency` (no rounding to a price point).
pub fn from_usd(usd_minor: i64, currency: &str) -> i64 {
    usd_minor * fx_per_10k(currency) / 10_000
}

/// Convert minor units of `currency` back to US cents (for comparing amounts across currencies).
pub fn to_usd(minor: i64, currency: &str) -> i64 {
    minor * 10_000 / fx_per_10k(currency)
}

/// Round an amount to a shop price point: 24.99, 249.99, 1,250.00; ₹499, ₹4,199.
pub fn charm(minor: i64, currency: &str) -> i64 {
    let units = ((minor + 50) / 100).max(1);
    if currency == "INR" {
        let step = if units < 1_000 { 10 } else { 100 };
        let rounded = ((units + step / 2) / step * step).max(step);
        (rounded - 1) * 100
    } else if units < 1_000 {
        units.max(2) * 100 - 1
    } else {
        (units + 5) / 10 * 1_000
    }
}

/// Price of a product in a customer's currency, from its US-cent price.
pub fn local_price(usd_minor: i64, currency: &str) -> i64 {
    if currency == "USD" {
        usd_minor
    } else {
        charm(from_usd(usd_minor, currency), currency)
    }
}

/// `(free_over, flat_fee)` shipping rule of a currency, in minor units.
pub fn shipping_rule(currency: &str) -> (i64, i64) {
    match currency {
        "EUR" => (5_000, 495),
        "GBP" => (4_000, 399),
        "CAD" => (7_500, 899),
        "AUD" => (8_000, 995),
        "INR" => (49_900, 4_000),
        _ => (5_000, 599),
    }
}

/// Free-mail style domains; all under reserved example names.
pub const EMAIL_DOMAINS: &[&str] = &[
    "mail.example.com",
    "inbox.example.net",
    "post.example.org",
    "example.com",
    "webmail.example.net",
];

/// ASCII-fold a name for an email local part ("Müller" → "muller", "de Jong" → "dejong").
pub fn email_part(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let folded = match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => continue,
        };
        out.push(folded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charm_prices() {
        assert_eq!(charm(2_480, "USD"), 2_499);
        assert_eq!(charm(24_970, "EUR"), 24_999);
        assert_eq!(charm(124_700, "GBP"), 125_000);
        assert_eq!(charm(420_000, "INR"), 419_900);
        assert_eq!(charm(49_000, "INR"), 48_900);
        assert_eq!(email_part("Müller"), "muller");
        assert_eq!(email_part("O'Brien"), "obrien");
        assert_eq!(email_part("Álvaro"), "alvaro");
    }

    #[test]
    fn every_platform_has_markets() {
        for p in [
            Platform::Shopify,
            Platform::Woocommerce,
            Platform::Amazon,
            Platform::Flipkart,
        ] {
            assert!(!platform_markets(p).is_empty());
        }
    }
}
