//! Rust type of `avro/customer_features/` (checked by the round-trip test in `tests/schemas.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    CUSTOMER_FEATURES, DecodeError, EncodeError,
    insights::{BigFive, EmotionScores},
};

/// A customer's feature snapshot (see the schema for each field's meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerFeatures {
    pub tenant_id: String,
    pub customer_key: String,
    pub feature_version: i32,
    pub as_of: i64,
    pub shop_clock: i64,
    pub events: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub shop_currency: String,
    pub orders: i32,
    pub first_order_at: Option<i64>,
    pub last_order_at: Option<i64>,
    pub monetary_minor: i64,
    pub avg_order_value_minor: i64,
    pub units: i64,
    pub avg_basket_units: f64,
    pub categories: i32,
    pub discount_order_share: f64,
    pub refunds: i32,
    pub refunded_minor: i64,
    pub return_rate: f64,
    pub carts: i32,
    pub checkouts_started: i32,
    pub checkouts_completed: i32,
    pub cart_abandonment_rate: f64,
    pub product_views: i32,
    pub searches: i32,
    pub browse_to_buy: f64,
    pub mean_days_between_orders: Option<f64>,
    pub active_hour: i32,
    pub night_share: f64,
    pub reviews: i32,
    pub mean_rating: Option<f64>,
    pub messages: i32,
    pub recency_days: f64,
    pub r_score: i32,
    pub f_score: i32,
    pub m_score: i32,
    pub spend_percentile: f64,
    pub price_tier: f64,
    pub p_alive: Option<f64>,
    pub expected_orders_90d: Option<f64>,
    pub clv_12m_minor: Option<i64>,
    #[serde(default)]
    pub texts: i32,
    #[serde(default)]
    pub sentiment_mean: Option<f64>,
    #[serde(default)]
    pub sentiment_recent: Option<f64>,
    #[serde(default)]
    pub sentiment_trend: Option<f64>,
    #[serde(default)]
    pub negative_share: f64,
    #[serde(default)]
    pub emotions: Option<EmotionScores>,
    #[serde(default)]
    pub dominant_emotion: Option<String>,
    #[serde(default)]
    pub ocean: Option<BigFive>,
    #[serde(default)]
    pub ocean_confidence: Option<BigFive>,
    #[serde(default)]
    pub ocean_cues: Vec<TraitCue>,
    #[serde(default)]
    pub merged_into: Option<String>,
    pub dropped: BTreeMap<String, i64>,
}

/// One cue behind a customer's trait score: which text, what matched, how much it moved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitCue {
    #[serde(rename = "trait")]
    pub trait_: String,
    pub cue: String,
    pub event_id: String,
    pub contribution: f64,
}

impl CustomerFeatures {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(crate::fast::single_object(
            CUSTOMER_FEATURES.latest().fingerprint,
            self,
        ))
    }

    pub fn decode(bytes: &[u8]) -> Result<CustomerFeatures, DecodeError> {
        match crate::decode_latest(&CUSTOMER_FEATURES, bytes)? {
            Some(f) => Ok(f),
            None => crate::reference::decode_value(&CUSTOMER_FEATURES, bytes),
        }
    }
}
