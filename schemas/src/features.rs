//! Rust type of `avro/customer_features/` (checked by the round-trip test in `tests/schemas.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CUSTOMER_FEATURES, DecodeError, EncodeError};

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
    pub dropped: BTreeMap<String, i64>,
}

impl CustomerFeatures {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(crate::fast::single_object(
            CUSTOMER_FEATURES.latest().fingerprint,
            self,
        ))
    }

    pub fn decode(bytes: &[u8]) -> Result<CustomerFeatures, DecodeError> {
        let family = &*CUSTOMER_FEATURES;
        let latest = family.latest();
        let (value, version) = match bytes.get(2..10) {
            Some(fp)
                if bytes[..2] == crate::SINGLE_OBJECT_MAGIC
                    && u64::from_le_bytes(fp.try_into().expect("8 bytes"))
                        == latest.fingerprint =>
            {
                return crate::fast::datum(&bytes[10..]).map_err(|e| DecodeError::Corrupt {
                    family: family.name,
                    version: latest.version,
                    reason: e.0,
                });
            }
            _ => family.read_value(bytes)?,
        };
        apache_avro::from_value(&value).map_err(|e| DecodeError::Shape {
            family: family.name,
            version,
            reason: e.to_string(),
        })
    }
}
