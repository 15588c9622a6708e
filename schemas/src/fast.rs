//! A direct Avro binary codec for the latest version of each schema, checked byte for byte
//! against apache-avro (the reference path) by `tests/fast_codec.rs`. apache-avro builds a
//! `Value` tree and resolves it for every record (about 30k encodes and 60k decodes per second
//! here); this writes and reads the same bytes straight from the Rust types, an order of
//! magnitude faster. Data written with an older version, and anything this path does not cover,
//! goes through apache-avro.
//!
//! Each record lists its fields in schema order (`avro_record!`); a mismatch with the `.avsc`
//! shows up as different bytes in the equivalence tests. The reader never panics on bad input:
//! every length is checked against what is left.

use std::collections::BTreeMap;

use crate::{
    events::*,
    features::{CustomerFeatures, TraitCue},
    insights::*,
};

/// Why bytes did not decode. Boxed so that every `Result` the reader returns stays two words
/// (an `i64` or a length comes back in registers, not through memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastError(pub Box<String>);

pub type Result<T> = std::result::Result<T, FastError>;

#[cold]
fn err<T>(what: impl Into<String>) -> Result<T> {
    Err(FastError(Box::new(what.into())))
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn long(&mut self) -> Result<i64> {
        // Most varints here (lengths, union indexes, small counts) are one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
        }
        self.long_slow()
    }

    #[inline(never)]
    fn long_slow(&mut self) -> Result<i64> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return err("unexpected end of input in a varint");
            };
            self.pos += 1;
            if shift >= 64 {
                return err("varint longer than 10 bytes");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn int(&mut self) -> Result<i32> {
        let v = self.long()?;
        i32::try_from(v).or_else(|_| err(format!("int out of range: {v}")))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return err(format!(
                "length {n} beyond the {} bytes left",
                self.remaining()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn len(&mut self) -> Result<usize> {
        let n = self.long()?;
        usize::try_from(n).or_else(|_| err(format!("negative length {n}")))
    }

    /// Item count of the next array or map block (0 ends it).
    fn block(&mut self) -> Result<usize> {
        let n = self.long()?;
        let n = if n < 0 {
            self.long()?; // block size in bytes, not needed
            n.unsigned_abs()
        } else {
            n as u64
        };
        let n = usize::try_from(n).or_else(|_| err("block too large"))?;
        if n > self.remaining() {
            return err(format!(
                "block of {n} items beyond the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }
}

pub trait Enc {
    fn enc(&self, out: &mut Vec<u8>);
}

pub trait Dec: Sized {
    fn dec(r: &mut Reader<'_>) -> Result<Self>;

    /// Decode over `self`, reusing its allocations (strings, vectors, a payload of the same
    /// branch): a consumer that decodes record after record into one value allocates only when a
    /// record outgrows it. Equal to `*self = Self::dec(r)?` on success; after an error `self` holds
    /// a mix of old and new fields and must not be used.
    fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
        *self = Self::dec(r)?;
        Ok(())
    }
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

impl Enc for i64 {
    fn enc(&self, out: &mut Vec<u8>) {
        put_long(out, *self);
    }
}
impl Dec for i64 {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        r.long()
    }
}
impl Enc for i32 {
    fn enc(&self, out: &mut Vec<u8>) {
        put_long(out, i64::from(*self));
    }
}
impl Dec for i32 {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        r.int()
    }
}
impl Enc for bool {
    fn enc(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}
impl Dec for bool {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        match r.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => err(format!("boolean byte {b}")),
        }
    }
}
impl Enc for f64 {
    fn enc(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl Dec for f64 {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        Ok(f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")))
    }
}
/// `b` as text. Nearly every string here is short and ASCII, and `is_ascii` checks those a word
/// at a time, well under the fixed cost of the full UTF-8 validator.
#[inline]
fn utf8(b: &[u8]) -> Result<&str> {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).or_else(|_| err("string is not UTF-8"))
}

impl Enc for String {
    fn enc(&self, out: &mut Vec<u8>) {
        put_long(out, self.len() as i64);
        out.extend_from_slice(self.as_bytes());
    }
}
impl Dec for String {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        let n = r.len()?;
        Ok(utf8(r.take(n)?)?.to_owned())
    }

    fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let n = r.len()?;
        let s = utf8(r.take(n)?)?;
        self.clear();
        self.push_str(s);
        Ok(())
    }
}
/// `["null", T]`.
impl<T: Enc> Enc for Option<T> {
    fn enc(&self, out: &mut Vec<u8>) {
        match self {
            None => put_long(out, 0),
            Some(v) => {
                put_long(out, 1);
                v.enc(out);
            }
        }
    }
}
impl<T: Dec> Dec for Option<T> {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        match r.long()? {
            0 => Ok(None),
            1 => Ok(Some(T::dec(r)?)),
            i => err(format!("union index {i} of an optional field")),
        }
    }

    fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
        match (r.long()?, self.as_mut()) {
            (0, _) => *self = None,
            (1, Some(v)) => v.dec_into(r)?,
            (1, None) => *self = Some(T::dec(r)?),
            (i, _) => return err(format!("union index {i} of an optional field")),
        }
        Ok(())
    }
}
impl<T: Enc> Enc for Vec<T> {
    fn enc(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            put_long(out, self.len() as i64);
            for v in self {
                v.enc(out);
            }
        }
        put_long(out, 0);
    }
}
impl<T: Dec> Dec for Vec<T> {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        let mut out = Vec::new();
        loop {
            let n = r.block()?;
            if n == 0 {
                return Ok(out);
            }
            out.reserve(n);
            for _ in 0..n {
                out.push(T::dec(r)?);
            }
        }
    }

    fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let mut len = 0;
        loop {
            let n = r.block()?;
            if n == 0 {
                self.truncate(len);
                return Ok(());
            }
            for _ in 0..n {
                match self.get_mut(len) {
                    Some(v) => v.dec_into(r)?,
                    None => self.push(T::dec(r)?),
                }
                len += 1;
            }
        }
    }
}
impl<V: Enc> Enc for BTreeMap<String, V> {
    fn enc(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            put_long(out, self.len() as i64);
            for (k, v) in self {
                k.enc(out);
                v.enc(out);
            }
        }
        put_long(out, 0);
    }
}
impl<V: Dec> Dec for BTreeMap<String, V> {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        let mut out = BTreeMap::new();
        loop {
            let n = r.block()?;
            if n == 0 {
                return Ok(out);
            }
            for _ in 0..n {
                let k = String::dec(r)?;
                out.insert(k, V::dec(r)?);
            }
        }
    }
}

macro_rules! avro_record {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Enc for $t {
            fn enc(&self, out: &mut Vec<u8>) {
                $(self.$f.enc(out);)*
            }
        }
        impl Dec for $t {
            fn dec(r: &mut Reader<'_>) -> Result<Self> {
                Ok($t { $($f: Dec::dec(r)?,)* })
            }

            fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
                $(self.$f.dec_into(r)?;)*
                Ok(())
            }
        }
    };
}

macro_rules! avro_enum {
    ($t:ident { $($v:ident),* $(,)? }) => {
        impl Enc for $t {
            fn enc(&self, out: &mut Vec<u8>) {
                const ALL: &[$t] = &[$($t::$v),*];
                let i = ALL.iter().position(|x| x == self).expect("listed");
                put_long(out, i as i64);
            }
        }
        impl Dec for $t {
            fn dec(r: &mut Reader<'_>) -> Result<Self> {
                const ALL: &[$t] = &[$($t::$v),*];
                let i = r.long()?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| ALL.get(i).copied())
                    .ok_or_else(|| FastError(Box::new(format!("{} symbol index {i}", stringify!($t)))))
            }
        }
    };
}

avro_enum!(Platform {
    Shopify,
    Woocommerce,
    Amazon,
    Flipkart,
    Storefront,
    Import,
    Other
});
avro_enum!(MessageChannel {
    Chat,
    Support,
    Feedback,
    Email,
    Sms,
    Social,
    Other
});
avro_enum!(MessageAuthor {
    Customer,
    Agent,
    System
});
avro_enum!(ConsentChannel {
    Email,
    Sms,
    Push,
    Tracking,
    All
});

avro_enum!(TextKind { Review, Message });
avro_enum!(SentimentLabel { Negative, Positive });
avro_enum!(SentimentSource { Model, Lexicon });
avro_enum!(Trait {
    Openness,
    Conscientiousness,
    Extraversion,
    Agreeableness,
    Neuroticism
});
avro_record!(SentimentScore {
    label,
    score,
    source
});
avro_record!(EmotionScores {
    anger,
    disgust,
    fear,
    joy,
    neutral,
    sadness,
    surprise
});
avro_record!(BigFive {
    openness,
    conscientiousness,
    extraversion,
    agreeableness,
    neuroticism
});
avro_record!(Cue {
    trait_,
    cue,
    contribution
});
avro_record!(TraitEvidence {
    signal,
    weight,
    cues
});
avro_record!(TextInsight {
    event_id,
    tenant_id,
    customer_key,
    occurred_at,
    kind,
    product_id,
    chars,
    sentiment,
    emotions,
    traits,
    models
});

avro_record!(CustomerUpserted {
    platform_customer_id,
    email,
    phone,
    first_name,
    last_name,
    country,
    city,
    accepts_marketing,
    platform_created_at,
    tags
});
avro_record!(OrderLine {
    product_id,
    variant_id,
    sku,
    title,
    category,
    brand,
    quantity,
    unit_price_minor,
    discount_minor
});
avro_record!(OrderPlaced {
    order_id,
    order_number,
    currency,
    lines,
    subtotal_minor,
    discount_minor,
    shipping_minor,
    tax_minor,
    total_minor,
    discount_codes,
    financial_status,
    is_test,
    guest,
    checkout_id,
    channel
});
avro_record!(RefundLine {
    product_id,
    quantity,
    amount_minor
});
avro_record!(OrderRefunded {
    order_id,
    refund_id,
    currency,
    amount_minor,
    reason,
    lines
});
avro_record!(CartLine {
    product_id,
    variant_id,
    title,
    quantity,
    unit_price_minor
});
avro_record!(CartUpdated {
    cart_id,
    currency,
    lines,
    total_minor,
    session_id
});
avro_record!(CheckoutStarted {
    checkout_id,
    cart_id,
    currency,
    total_minor,
    line_count,
    recovery_url
});
avro_record!(CheckoutCompleted {
    checkout_id,
    order_id,
    currency,
    total_minor
});
avro_record!(ProductViewed {
    product_id,
    variant_id,
    title,
    category,
    price_minor,
    currency,
    url,
    session_id
});
avro_record!(ProductSearched {
    query,
    results_count,
    session_id
});
avro_record!(ReviewPosted {
    review_id,
    product_id,
    rating,
    title,
    text,
    verified_purchase,
    language
});
avro_record!(MessageReceived {
    message_id,
    channel,
    thread_id,
    text,
    language,
    author
});
avro_record!(ProductUpserted {
    product_id,
    title,
    category,
    brand,
    currency,
    price_minor,
    compare_at_price_minor,
    status,
    tags
});
avro_record!(PriceChanged {
    product_id,
    variant_id,
    currency,
    old_price_minor,
    new_price_minor
});
avro_record!(InventoryChanged {
    product_id,
    variant_id,
    available,
    previous
});
avro_record!(ConsentChanged {
    channel,
    granted,
    source
});
avro_record!(RedactionRequested {
    request_id,
    email,
    phone,
    orders_to_redact
});
avro_record!(CartItemChanged {
    cart_id,
    product_id,
    variant_id,
    title,
    quantity,
    unit_price_minor,
    currency,
    session_id
});
avro_record!(IdentityLinked {
    from_key,
    reason,
    anonymous_id,
    user_id
});

macro_rules! payload_union {
    ($($v:ident),* $(,)?) => {
        /// The payload's branch index in the schema's union.
        pub fn payload_union_index(p: &Payload) -> usize {
            let mut i = 0usize;
            $(
                if let Payload::$v(_) = p {
                    return i;
                }
                i += 1;
            )*
            unreachable!("every variant is listed ({i})")
        }

        impl Enc for Payload {
            fn enc(&self, out: &mut Vec<u8>) {
                let mut i = 0i64;
                $(
                    if let Payload::$v(x) = self {
                        put_long(out, i);
                        x.enc(out);
                        return;
                    }
                    i += 1;
                )*
                unreachable!("every variant is listed ({i})")
            }
        }
        impl Dec for Payload {
            fn dec(r: &mut Reader<'_>) -> Result<Self> {
                let idx = r.long()?;
                let mut i = 0i64;
                $(
                    if idx == i {
                        return Ok(Payload::$v(Dec::dec(r)?));
                    }
                    i += 1;
                )*
                err(format!("payload union index {idx} of {i}"))
            }

            fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
                let idx = r.long()?;
                let mut i = 0i64;
                $(
                    if idx == i {
                        match self {
                            Payload::$v(x) => x.dec_into(r)?,
                            other => *other = Payload::$v(Dec::dec(r)?),
                        }
                        return Ok(());
                    }
                    i += 1;
                )*
                err(format!("payload union index {idx} of {i}"))
            }
        }
    };
}

// Union order of the schema's payload (tests/schemas.rs checks it equals the enum's order).
for_each_payload!(payload_union);

impl Enc for CanonicalEvent {
    fn enc(&self, out: &mut Vec<u8>) {
        self.event_id.enc(out);
        self.tenant_id.enc(out);
        self.platform.enc(out);
        self.source_id.enc(out);
        self.customer_key.enc(out);
        self.occurred_at.enc(out);
        self.received_at.enc(out);
        // The version written is the one this codec writes, whatever the event was read from.
        (crate::CANONICAL_EVENT.latest_version() as i32).enc(out);
        self.payload.enc(out);
    }
}

impl Dec for CanonicalEvent {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        Ok(CanonicalEvent {
            event_id: Dec::dec(r)?,
            tenant_id: Dec::dec(r)?,
            platform: Dec::dec(r)?,
            source_id: Dec::dec(r)?,
            customer_key: Dec::dec(r)?,
            occurred_at: Dec::dec(r)?,
            received_at: Dec::dec(r)?,
            schema_version: {
                i32::dec(r)?;
                crate::CANONICAL_EVENT.latest_version() as i32
            },
            payload: Dec::dec(r)?,
        })
    }

    fn dec_into(&mut self, r: &mut Reader<'_>) -> Result<()> {
        self.event_id.dec_into(r)?;
        self.tenant_id.dec_into(r)?;
        self.platform = Dec::dec(r)?;
        self.source_id.dec_into(r)?;
        self.customer_key.dec_into(r)?;
        self.occurred_at = Dec::dec(r)?;
        self.received_at = Dec::dec(r)?;
        i32::dec(r)?;
        self.schema_version = crate::CANONICAL_EVENT.latest_version() as i32;
        self.payload.dec_into(r)
    }
}

avro_record!(CustomerFeatures {
    tenant_id,
    customer_key,
    feature_version,
    as_of,
    shop_clock,
    events,
    first_seen,
    last_seen,
    shop_currency,
    orders,
    first_order_at,
    last_order_at,
    monetary_minor,
    avg_order_value_minor,
    units,
    avg_basket_units,
    categories,
    discount_order_share,
    refunds,
    refunded_minor,
    return_rate,
    carts,
    checkouts_started,
    checkouts_completed,
    cart_abandonment_rate,
    product_views,
    searches,
    browse_to_buy,
    mean_days_between_orders,
    active_hour,
    night_share,
    reviews,
    mean_rating,
    messages,
    recency_days,
    r_score,
    f_score,
    m_score,
    spend_percentile,
    price_tier,
    p_alive,
    expected_orders_90d,
    clv_12m_minor,
    texts,
    sentiment_mean,
    sentiment_recent,
    sentiment_trend,
    negative_share,
    emotions,
    dominant_emotion,
    ocean,
    ocean_confidence,
    ocean_cues,
    merged_into,
    dropped,
});
avro_record!(TraitCue {
    trait_,
    cue,
    event_id,
    contribution
});

impl Enc for RawPayload {
    fn enc(&self, out: &mut Vec<u8>) {
        self.raw_id.enc(out);
        self.tenant_id.enc(out);
        self.platform.enc(out);
        self.source.enc(out);
        self.received_at.enc(out);
        self.headers.enc(out);
        self.content_type.enc(out);
        put_long(out, self.body.len() as i64);
        out.extend_from_slice(&self.body);
    }
}

impl Dec for RawPayload {
    fn dec(r: &mut Reader<'_>) -> Result<Self> {
        Ok(RawPayload {
            raw_id: Dec::dec(r)?,
            tenant_id: Dec::dec(r)?,
            platform: Dec::dec(r)?,
            source: Dec::dec(r)?,
            received_at: Dec::dec(r)?,
            headers: Dec::dec(r)?,
            content_type: Dec::dec(r)?,
            body: {
                let n = r.len()?;
                r.take(n)?.to_vec()
            },
        })
    }
}

/// Encode `v` as a single-object message with the given fingerprint.
pub fn single_object<T: Enc>(fingerprint: u64, v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&crate::SINGLE_OBJECT_MAGIC);
    out.extend_from_slice(&fingerprint.to_le_bytes());
    v.enc(&mut out);
    out
}

/// Decode a datum (after the 10-byte header) that must be consumed whole.
pub fn datum<T: Dec>(bytes: &[u8]) -> Result<T> {
    let mut r = Reader::new(bytes);
    let v = T::dec(&mut r)?;
    if r.remaining() != 0 {
        return err(format!("{} trailing bytes after the datum", r.remaining()));
    }
    Ok(v)
}

/// The payload's union index of a canonical event datum (after the header), read by skipping
/// the envelope without decoding it.
pub fn canonical_payload_index(bytes: &[u8]) -> Result<usize> {
    let mut r = Reader::new(bytes);
    let skip_string = |r: &mut Reader<'_>| -> Result<()> {
        let n = r.len()?;
        r.take(n).map(|_| ())
    };
    skip_string(&mut r)?; // event_id
    skip_string(&mut r)?; // tenant_id
    r.long()?; // platform
    skip_string(&mut r)?; // source_id
    if r.long()? != 0 {
        skip_string(&mut r)?; // customer_key
    }
    r.long()?; // occurred_at
    r.long()?; // received_at
    r.long()?; // schema_version
    let i = r.long()?;
    usize::try_from(i).or_else(|_| err(format!("payload union index {i}")))
}

/// [`datum`] over an existing value, reusing its allocations (see [`Dec::dec_into`]).
pub fn datum_into<T: Dec>(bytes: &[u8], v: &mut T) -> Result<()> {
    let mut r = Reader::new(bytes);
    v.dec_into(&mut r)?;
    if r.remaining() != 0 {
        return err(format!("{} trailing bytes after the datum", r.remaining()));
    }
    Ok(())
}
