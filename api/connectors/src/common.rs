//! What every connector shares: money, time, identity, the raw payload, and building events.
//!
//! - **Money** ([`minor_units`]): a decimal amount as text (`"199.00"`, or a JSON number, read
//!   back as the shortest text that round-trips) becomes an integer count of the currency's minor
//!   unit by its ISO 4217 exponent ([`currency_exponent`]: JPY and KRW 0, BHD, KWD, JOD, OMR and
//!   TND 3, CLF 4, most others 2). No floats are involved. Digits beyond the exponent must be
//!   zeros (`"10.00"` JPY is 10, `"25.99"` JPY is an error): a connector never rounds money.
//! - **Time** ([`rfc3339_millis`], [`utc_naive_millis`], [`http_date_secs`]): platform timestamps
//!   become milliseconds since the Unix epoch. Event timestamps must be after 1970.
//! - **Identity** ([`customer_key`]): `email:<trimmed lowercase email>` when the payload has an
//!   email address; else `<platform>:<platform customer id>`; else, for guests,
//!   `guest:<platform>:<object id>` (the order id, or the checkout, cart or review id for those
//!   payloads). The platform's own customer id always stays in `CustomerUpserted`.
//! - **Raw payloads** ([`raw_payload`]): `raw_id` is a UUIDv5 over tenant, platform, topic and the
//!   platform's object ids and version stamps, so a redelivery gets the same id. Headers are kept
//!   with lowercase names, except credentials (`authorization`, `x_authorization`, `cookie`,
//!   `x-amz-access-token`).
//! - **Events**: `event_id` is [`mindset_schemas::event_id`] over the payload type and the
//!   platform's ids (plus the version stamp for facts that change, such as an updated order).

use std::fmt;

use mindset_schemas::{CANONICAL_EVENT, CanonicalEvent, Payload, Platform, RawPayload, event_id};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::{Context, Error, Headers, Normalised};

/// The lowercase platform name used in keys, raw payloads and error messages.
pub fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Shopify => "shopify",
        Platform::Woocommerce => "woocommerce",
        Platform::Amazon => "amazon",
        Platform::Flipkart => "flipkart",
        Platform::Storefront => "storefront",
        Platform::Import => "import",
        Platform::Other => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// Money

/// ISO 4217 minor-unit exponent of a currency (how many decimals its amounts have).
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" | "XXX" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// A currency code as canonical events carry it: three ASCII letters, upper case.
pub fn currency_code(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!("{raw:?} is not an ISO 4217 currency code"))
    }
}

/// Parse a decimal amount (`"199.00"`, `"-3.5"`, `"12"`) into minor units of `currency`.
pub fn minor_units(amount: &str, currency: &str) -> Result<i64, String> {
    let exponent = currency_exponent(currency);
    let text = amount.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(format!("{amount:?} is not a decimal amount"));
    }
    let fraction = fraction.unwrap_or("");
    let (kept, dropped) = fraction.split_at(fraction.len().min(exponent as usize));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{amount:?} has more decimals than {currency} allows ({exponent})"
        ));
    }
    let overflow = || format!("{amount:?} is too large");
    let mut value: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    for _ in kept.len()..exponent as usize {
        value = value.checked_mul(10).ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

/// Sum amounts that are already in minor units, refusing overflow.
pub(crate) fn checked_sum(values: impl IntoIterator<Item = i64>) -> Result<i64, String> {
    values
        .into_iter()
        .try_fold(0i64, |acc, v| acc.checked_add(v))
        .ok_or_else(|| "sum of amounts overflows".to_owned())
}

/// `total / quantity`, rounded half away from zero (unit prices from line totals).
pub(crate) fn per_unit(total: i64, quantity: i64) -> i64 {
    if quantity <= 0 {
        return total;
    }
    let q = total / quantity;
    let r = total % quantity;
    if r.abs() * 2 >= quantity {
        q + total.signum()
    } else {
        q
    }
}

// ---------------------------------------------------------------------------------------------
// Time

fn after_epoch(ms: i64, raw: &str) -> Result<i64, String> {
    if ms > 0 {
        Ok(ms)
    } else {
        Err(format!("{raw:?} is not after 1970-01-01"))
    }
}

/// An RFC 3339 / ISO 8601 timestamp with offset (`2021-12-31T19:00:00-05:00`,
/// `2020-01-11T00:09:53.109Z`) in epoch milliseconds.
pub fn rfc3339_millis(raw: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|e| format!("{raw:?} is not an RFC 3339 timestamp: {e}"))?;
    after_epoch(t.timestamp_millis(), raw)
}

/// A timestamp without offset that the platform documents as UTC (WooCommerce `*_gmt` fields,
/// `2017-03-22T19:28:02`), in epoch milliseconds. A trailing `Z` or offset is accepted too.
pub fn utc_naive_millis(raw: &str) -> Result<i64, String> {
    let s = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return after_epoch(t.timestamp_millis(), raw);
    }
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|e| format!("{raw:?} is not a UTC timestamp: {e}"))?;
    after_epoch(t.and_utc().timestamp_millis(), raw)
}

/// An HTTP date (`Tue, 19 May 2015 09:02:15 GMT`) in epoch seconds.
pub fn http_date_secs(raw: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc2822(raw.trim())
        .map_err(|e| format!("{raw:?} is not an HTTP date: {e}"))?;
    Ok(t.timestamp())
}

// ---------------------------------------------------------------------------------------------
// Identity

/// Trimmed, lowercase email, or `None` when `raw` is not an address (empty, no `@`, spaces).
pub fn normalise_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty() || domain.is_empty() || e.chars().any(char::is_whitespace) {
        return None;
    }
    Some(e)
}

/// The `customer_key` of the module docs. `guest_object_id` names the guest's order (or checkout,
/// cart, review) when there is neither an email nor a platform customer id.
pub fn customer_key(
    platform: Platform,
    email: Option<&str>,
    platform_customer_id: Option<&str>,
    guest_object_id: &str,
) -> String {
    if let Some(email) = email.and_then(normalise_email) {
        return format!("email:{email}");
    }
    let name = platform_name(platform);
    match platform_customer_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        Some(id) => format!("{name}:{id}"),
        None => format!("guest:{name}:{guest_object_id}"),
    }
}

/// The first of `candidates` that is a usable email address.
pub(crate) fn first_email<'a>(
    candidates: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    candidates.into_iter().flatten().find_map(normalise_email)
}

// ---------------------------------------------------------------------------------------------
// Text

/// Plain text from the HTML fragments platforms put in titles and reviews: tags removed, common
/// entities decoded, whitespace collapsed.
pub fn html_text(raw: &str) -> String {
    let mut no_tags = String::with_capacity(raw.len());
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                no_tags.push(' ');
            }
            _ if !in_tag => no_tags.push(c),
            _ => {}
        }
    }
    let decoded = decode_entities(&no_tags);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decode HTML character references: the named ones platforms emit and numeric ones.
pub fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "hellip" => Some('…'),
                "rsquo" => Some('’'),
                "lsquo" => Some('‘'),
                "rdquo" => Some('”'),
                "ldquo" => Some('“'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse::<u32>().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Headers

/// A header's value, matching the name case-insensitively.
pub fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "x_authorization",
    "x-authorization",
    "cookie",
    "x-amz-access-token",
];

/// The raw payload of a delivery: `raw_ids` are the platform's object ids and version stamps.
pub fn raw_payload(
    platform: Platform,
    topic: &str,
    raw_ids: &[String],
    body: &[u8],
    ctx: &Context<'_>,
) -> RawPayload {
    let mut parts: Vec<&str> = vec![topic];
    parts.extend(raw_ids.iter().map(String::as_str));
    let headers: Headers = ctx
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| !CREDENTIAL_HEADERS.contains(&k.as_str()))
        .collect();
    let content_type = header(ctx.headers, "content-type")
        .map(str::to_owned)
        .or_else(|| {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            matches!(first, Some(b'{' | b'[')).then(|| "application/json".to_owned())
        });
    RawPayload {
        raw_id: event_id(ctx.tenant_id, platform, "RawPayload", &parts),
        tenant_id: ctx.tenant_id.to_owned(),
        platform: platform_name(platform).to_owned(),
        source: topic.to_owned(),
        received_at: ctx.received_at,
        headers,
        content_type,
        body: body.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Deserialize a JSON body, reporting serde's path, line and column on failure.
pub(crate) fn parse_json<T: DeserializeOwned>(
    platform: Platform,
    topic: &str,
    body: &[u8],
) -> Result<T, Error> {
    let malformed = |path: String, e: serde_json::Error| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        Error::Malformed {
            platform: platform_name(platform),
            topic: topic.to_owned(),
            path,
            line: e.line(),
            column: e.column(),
            reason,
        }
    };
    // Plain serde first (about 4x faster); only a body that fails is read again with
    // serde_path_to_error, to say where it failed. The body's UTF-8 is checked once, in bulk:
    // from a `&str` serde_json skips checking each string it reads (from bytes that took a
    // tenth of a 10 KB Shopify order's parse). JSON is UTF-8 (RFC 8259), so a body that is not
    // goes to the explaining path, which reports where.
    if let Ok(text) = std::str::from_utf8(body)
        && let Ok(value) = serde_json::from_str::<T>(text)
    {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        malformed(path, e.into_inner())
    })?;
    de.end().map_err(|e| malformed(".".to_owned(), e))?;
    Ok(value)
}

/// Deserialize part of a body that was first read as a JSON value (Amazon's `Payload`,
/// Flipkart's `attributes`); `at` is the part's path, prefixed to serde's.
pub(crate) fn parse_value<T: DeserializeOwned>(
    platform: Platform,
    topic: &str,
    value: serde_json::Value,
    at: &str,
) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            at.to_owned()
        } else {
            format!("{at}.{inner}")
        };
        Error::Malformed {
            platform: platform_name(platform),
            topic: topic.to_owned(),
            path,
            line: 0,
            column: 0,
            reason: e.into_inner().to_string(),
        }
    })
}

/// A platform id: JSON string or integer, kept as text (Shopify ids exceed 2^53).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (string or integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Id {
    /// `None` for the "no such object" ids platforms send (`""`, `0`).
    pub fn present(&self) -> Option<&str> {
        let s = self.0.trim();
        (!s.is_empty() && s != "0").then_some(s)
    }
}

/// A money amount as decimal text: a JSON string, or a JSON number written back as the shortest
/// text that reads as the same number (`89.99`, never `89.98999…`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Amount(pub String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount (decimal string or number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                Ok(Amount(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                Ok(Amount(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Amount {
    /// `None` for an empty string (WooCommerce's "no price").
    pub fn text(&self) -> Option<&str> {
        let s = self.0.trim();
        (!s.is_empty()).then_some(s)
    }
}

/// A timestamp as text, or as epoch milliseconds (Amazon's MFN notifications).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stamp {
    Text(String),
    Millis(i64),
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Stamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp (ISO 8601 string or epoch milliseconds)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Stamp, E> {
                Ok(Stamp::Text(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Stamp, E> {
                i64::try_from(v)
                    .map(Stamp::Millis)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Stamp, E> {
                Ok(Stamp::Millis(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Stamp {
    pub fn millis(&self) -> Result<i64, String> {
        match self {
            Stamp::Text(s) => rfc3339_millis(s),
            Stamp::Millis(ms) => after_epoch(*ms, &ms.to_string()),
        }
    }
}

/// `null` reads as the type's default (platforms send `null` for empty lists and flags).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Building the result

/// Collects the events of one payload and turns field problems into [`Error::Invalid`].
pub(crate) struct Out<'c, 'a> {
    pub ctx: &'c Context<'a>,
    pub platform: Platform,
    pub topic: String,
    pub events: Vec<CanonicalEvent>,
    pub note: Option<String>,
}

impl<'c, 'a> Out<'c, 'a> {
    pub fn new(ctx: &'c Context<'a>, platform: Platform, topic: &str) -> Result<Self, Error> {
        if ctx.tenant_id.is_empty() || ctx.tenant_id.contains('|') {
            return Err(Error::BadTenant(ctx.tenant_id.to_owned()));
        }
        Ok(Out {
            ctx,
            platform,
            topic: topic.to_owned(),
            events: Vec::new(),
            note: None,
        })
    }

    pub fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            platform: platform_name(self.platform),
            topic: self.topic.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Adapt a `Result<_, String>` from the helpers above to a field error.
    pub fn field<T>(&self, field: &str, r: Result<T, String>) -> Result<T, Error> {
        r.map_err(|reason| self.invalid(field, reason))
    }

    pub fn money(&self, field: &str, amount: &str, currency: &str) -> Result<i64, Error> {
        self.field(field, minor_units(amount, currency))
    }

    pub fn currency(&self, field: &str, raw: &str) -> Result<String, Error> {
        self.field(field, currency_code(raw))
    }

    pub fn required<'v>(&self, field: &str, value: Option<&'v str>) -> Result<&'v str, Error> {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.invalid(field, "missing or empty"))
    }

    pub fn quantity(&self, field: &str, q: i64) -> Result<i32, Error> {
        i32::try_from(q).map_err(|_| self.invalid(field, format!("quantity {q} is out of range")))
    }

    /// Add one event. Its id is `event_id(tenant, platform, payload type, ids)`.
    pub fn push(
        &mut self,
        ids: &[&str],
        source_id: &str,
        customer_key: Option<String>,
        occurred_at: i64,
        payload: Payload,
    ) {
        self.events.push(CanonicalEvent {
            event_id: event_id(self.ctx.tenant_id, self.platform, payload.type_name(), ids),
            tenant_id: self.ctx.tenant_id.to_owned(),
            platform: self.platform,
            source_id: source_id.to_owned(),
            customer_key,
            occurred_at,
            received_at: self.ctx.received_at,
            schema_version: CANONICAL_EVENT.latest_version() as i32,
            payload,
        });
    }

    /// Record why the payload gave no (or fewer) events.
    pub fn note(&mut self, why: impl Into<String>) {
        let why = why.into();
        self.note = Some(match self.note.take() {
            Some(prev) => format!("{prev}; {why}"),
            None => why,
        });
    }

    /// Say why a list gave no events when it is empty (a poller's last page, a shipment without
    /// items): `what` names what the list holds.
    pub fn note_if_empty(&mut self, len: usize, what: &str) {
        if len == 0 {
            self.note(format!("{}: no {what}", self.topic));
        }
    }

    pub fn finish(self, raw_ids: &[String], body: &[u8]) -> Normalised {
        Normalised {
            raw: raw_payload(self.platform, &self.topic, raw_ids, body, self.ctx),
            events: self.events,
            note: self.note,
        }
    }
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_by_exponent_without_floats() {
        assert_eq!(minor_units("199.00", "USD"), Ok(19_900));
        assert_eq!(minor_units("0.9", "USD"), Ok(90));
        assert_eq!(minor_units("12", "EUR"), Ok(1_200));
        assert_eq!(minor_units("-10.00", "USD"), Ok(-1_000));
        assert_eq!(minor_units("1500", "JPY"), Ok(1_500));
        assert_eq!(minor_units("10.00", "JPY"), Ok(10));
        assert_eq!(minor_units("1.234", "KWD"), Ok(1_234));
        assert_eq!(minor_units("1.2", "BHD"), Ok(1_200));
        assert_eq!(minor_units("295.0", "INR"), Ok(29_500));
        assert_eq!(minor_units("0.0001", "CLF"), Ok(1));
        assert!(
            minor_units("25.99", "JPY")
                .unwrap_err()
                .contains("more decimals than JPY")
        );
        assert!(minor_units("1.005", "USD").is_err());
        for bad in [
            "", "-", "abc", "1e3", "1.", ".5", "1,00", "1.2.3", " ", "+-1", "٣",
        ] {
            assert!(minor_units(bad, "USD").is_err(), "{bad:?}");
        }
        assert!(
            minor_units("99999999999999999999", "USD")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(minor_units("92233720368547758.07", "USD"), Ok(i64::MAX));
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(currency_code("usd").unwrap(), "USD");
        assert!(currency_code("US").is_err());
        assert!(currency_code("U$D").is_err());
        assert_eq!(currency_exponent("KRW"), 0);
        assert_eq!(currency_exponent("OMR"), 3);
        assert_eq!(currency_exponent("INR"), 2);
    }

    #[test]
    fn per_unit_rounds_half_away_from_zero() {
        assert_eq!(per_unit(600, 2), 300);
        assert_eq!(per_unit(1000, 3), 333);
        assert_eq!(per_unit(1001, 2), 501);
        assert_eq!(per_unit(-1001, 2), -501);
        assert_eq!(per_unit(500, 0), 500);
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            rfc3339_millis("2021-12-31T19:00:00-05:00"),
            Ok(1_640_995_200_000)
        );
        assert_eq!(
            rfc3339_millis("2020-01-11T00:09:53.109Z"),
            Ok(1_578_701_393_109)
        );
        assert_eq!(
            utc_naive_millis("2017-03-22T19:28:02"),
            Ok(1_490_210_882_000)
        );
        assert_eq!(
            http_date_secs("Tue, 19 May 2015 09:02:15 GMT"),
            Ok(1_432_026_135)
        );
        assert!(rfc3339_millis("1969-12-31T23:59:59Z").is_err());
        assert!(rfc3339_millis("yesterday").is_err());
        assert_eq!(
            Stamp::Millis(1_595_882_000_633).millis(),
            Ok(1_595_882_000_633)
        );
    }

    #[test]
    fn identity_rules() {
        let k = |e, id| customer_key(Platform::Shopify, e, id, "1001");
        assert_eq!(
            k(Some("  Bob@Example.COM "), Some("7")),
            "email:bob@example.com"
        );
        assert_eq!(k(Some("not an email"), Some("7")), "shopify:7");
        assert_eq!(k(None, Some("7")), "shopify:7");
        assert_eq!(k(Some(""), None), "guest:shopify:1001");
        assert_eq!(k(None, Some(" ")), "guest:shopify:1001");
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_text("Ship Your Idea &ndash; Color: Black"),
            "Ship Your Idea – Color: Black"
        );
        assert_eq!(html_text("<p>Nice album!</p>\n"), "Nice album!");
        assert_eq!(
            html_text("a &amp;amp; b &#039;c&#x27; &bogus; &"),
            "a &amp; b 'c' &bogus; &"
        );
    }
}
