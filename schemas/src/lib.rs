//! Mindset's event shapes. The `.avsc` files under `avro/<family>/v<N>.avsc` are the single source of
//! truth; this crate embeds them, gives them Rust types ([`events`]), and owns the wire format:
//! Avro single-object encoding (`C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint of the writer
//! schema + Avro binary datum). A reader looks the fingerprint up among every released version of the
//! family and resolves the datum to the latest version (Avro schema resolution fills defaults of fields
//! that older writers did not have: that is the upcast). Released versions never change; the
//! `avro/fingerprints.lock` file and `tests/schemas.rs` enforce it.

/// Calls `$m!` with every payload variant, in the schema's union order (checked by
/// `tests/schemas.rs`), so each codec lists the variants once.
macro_rules! for_each_payload {
    ($m:ident) => {
        $m!(
            CustomerUpserted,
            OrderPlaced,
            OrderRefunded,
            CartUpdated,
            CheckoutStarted,
            CheckoutCompleted,
            ProductViewed,
            ProductSearched,
            ReviewPosted,
            MessageReceived,
            ProductUpserted,
            PriceChanged,
            InventoryChanged,
            ConsentChanged,
            RedactionRequested,
            CartItemChanged,
            IdentityLinked,
        );
    };
}

pub mod events;
pub mod examples;
pub mod fast;
pub mod features;
pub mod insights;

use std::sync::LazyLock;

use apache_avro::{Schema, rabin::Rabin, types::Value};
pub use events::*;
pub use features::CustomerFeatures;
pub use insights::TextInsight;

/// First two bytes of every single-object encoded message (Avro specification).
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Why bytes could not be read as an event. Every variant is poison: retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not Avro single-object encoded (missing C3 01 marker, {len} bytes)")]
    NotAvro { len: usize },
    #[error(
        "unknown schema fingerprint {fingerprint:016x} for {family}: no released version has it"
    )]
    UnknownSchema {
        family: &'static str,
        fingerprint: u64,
    },
    #[error("schema fingerprint {fingerprint:016x} belongs to {found}, expected {family}")]
    WrongFamily {
        family: &'static str,
        found: &'static str,
        fingerprint: u64,
    },
    #[error("corrupt {family} v{version} datum: {reason}")]
    Corrupt {
        family: &'static str,
        version: u32,
        reason: String,
    },
    #[error("{family} v{version} datum does not match the Rust type: {reason}")]
    Shape {
        family: &'static str,
        version: u32,
        reason: String,
    },
}

/// Why a value could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{family} has no version {version}")]
    NoSuchVersion { family: &'static str, version: u32 },
    #[error("{family} v{version}: {reason}")]
    Invalid {
        family: &'static str,
        version: u32,
        reason: String,
    },
}

/// One released version of a schema family.
pub struct SchemaVersion {
    pub version: u32,
    pub schema: Schema,
    pub fingerprint: u64,
    pub source: &'static str,
}

/// All released versions of one schema (one `avro/<family>/` folder).
pub struct SchemaFamily {
    pub name: &'static str,
    pub versions: Vec<SchemaVersion>,
}

impl SchemaFamily {
    fn load(name: &'static str, sources: &[(u32, &'static str)]) -> SchemaFamily {
        let versions = sources
            .iter()
            .map(|&(version, source)| {
                let schema = Schema::parse_str(source)
                    .unwrap_or_else(|e| panic!("schemas/avro/{name}/v{version}.avsc: {e}"));
                let fingerprint = fingerprint(&schema);
                SchemaVersion {
                    version,
                    schema,
                    fingerprint,
                    source,
                }
            })
            .collect();
        SchemaFamily { name, versions }
    }

    pub fn latest(&self) -> &SchemaVersion {
        self.versions
            .last()
            .expect("a family has at least one version")
    }

    pub fn latest_version(&self) -> u32 {
        self.latest().version
    }

    pub fn version(&self, version: u32) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub fn by_fingerprint(&self, fingerprint: u64) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| v.fingerprint == fingerprint)
    }

    /// Encode an Avro value (already shaped for `version`) as a single-object message.
    pub fn write_value(&self, version: u32, value: Value) -> Result<Vec<u8>, EncodeError> {
        let v = self.version(version).ok_or(EncodeError::NoSuchVersion {
            family: self.name,
            version,
        })?;
        let datum =
            apache_avro::to_avro_datum(&v.schema, value).map_err(|e| EncodeError::Invalid {
                family: self.name,
                version,
                reason: e.to_string(),
            })?;
        let mut out = Vec::with_capacity(HEADER_LEN + datum.len());
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&v.fingerprint.to_le_bytes());
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// Decode a single-object message of any released version, resolved to the latest version by
    /// Avro schema resolution. Returns the value and the version it was written with. (Families
    /// with unions of records use [`SchemaFamily::read_writer_value`] and resolve per branch.)
    pub fn read_value(&self, bytes: &[u8]) -> Result<(Value, u32), DecodeError> {
        let (value, writer) = self.read_writer_value(bytes)?;
        let latest = self.latest();
        if writer.version == latest.version {
            return Ok((value, writer.version));
        }
        let value = value
            .resolve(&latest.schema)
            .map_err(|e| DecodeError::Shape {
                family: self.name,
                version: writer.version,
                reason: format!("cannot upcast to v{}: {e}", latest.version),
            })?;
        Ok((value, writer.version))
    }

    /// Decode a single-object message with the schema it was written with, unresolved.
    pub fn read_writer_value(&self, bytes: &[u8]) -> Result<(Value, &SchemaVersion), DecodeError> {
        let fingerprint = header_fingerprint(bytes)?;
        let writer = match self.by_fingerprint(fingerprint) {
            Some(w) => w,
            None => {
                return Err(match family_of(fingerprint) {
                    Some(found) => DecodeError::WrongFamily {
                        family: self.name,
                        found,
                        fingerprint,
                    },
                    None => DecodeError::UnknownSchema {
                        family: self.name,
                        fingerprint,
                    },
                });
            }
        };
        let mut datum = &bytes[HEADER_LEN..];
        let value =
            apache_avro::from_avro_datum(&writer.schema, &mut datum, None).map_err(|e| {
                DecodeError::Corrupt {
                    family: self.name,
                    version: writer.version,
                    reason: e.to_string(),
                }
            })?;
        if !datum.is_empty() {
            return Err(DecodeError::Corrupt {
                family: self.name,
                version: writer.version,
                reason: format!("{} trailing bytes after the datum", datum.len()),
            });
        }
        Ok((value, writer))
    }
}

/// CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form.
pub fn fingerprint(schema: &Schema) -> u64 {
    let fp = schema.fingerprint::<Rabin>();
    let mut b = [0u8; 8];
    b.copy_from_slice(&fp.bytes[..8]);
    u64::from_le_bytes(b)
}

/// Decode with the direct codec when `bytes` were written with the family's latest version;
/// `Ok(None)` when they were written with an older one.
pub(crate) fn decode_latest<T: fast::Dec>(
    family: &SchemaFamily,
    bytes: &[u8],
) -> Result<Option<T>, DecodeError> {
    let latest = family.latest();
    if header_fingerprint(bytes)? != latest.fingerprint {
        return Ok(None);
    }
    fast::datum(&bytes[HEADER_LEN..])
        .map(Some)
        .map_err(|e| DecodeError::Corrupt {
            family: family.name,
            version: latest.version,
            reason: *e.0,
        })
}

fn header_fingerprint(bytes: &[u8]) -> Result<u64, DecodeError> {
    if bytes.len() < HEADER_LEN || bytes[..2] != SINGLE_OBJECT_MAGIC {
        return Err(DecodeError::NotAvro { len: bytes.len() });
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(u64::from_le_bytes(b))
}

/// Decodes canonical events one after another into values it keeps, one per payload type: a
/// consumer reading a stream allocates only when an event outgrows the last one of its type. (A
/// fresh event allocates a dozen strings, the largest part of decoding one.) Events of an older
/// schema version go through apache-avro as in [`CanonicalEvent::decode`].
#[derive(Debug, Default)]
pub struct CanonicalDecoder {
    slots: Vec<Option<CanonicalEvent>>,
}

impl CanonicalDecoder {
    pub fn new() -> CanonicalDecoder {
        CanonicalDecoder::default()
    }

    /// The event in `bytes`, equal to what [`CanonicalEvent::decode`] returns.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<&CanonicalEvent, DecodeError> {
        let family = &*CANONICAL_EVENT;
        let latest = family.latest();
        if header_fingerprint(bytes)? != latest.fingerprint {
            let ev = CanonicalEvent::decode_as(bytes, latest.version)?;
            return Ok(self.keep(ev));
        }
        let body = &bytes[HEADER_LEN..];
        let corrupt = |e: fast::FastError| DecodeError::Corrupt {
            family: family.name,
            version: latest.version,
            reason: *e.0,
        };
        let i = fast::canonical_payload_index(body).map_err(corrupt)?;
        // Slot i holds the last event of payload branch i (see `keep`).
        if let Some(Some(_)) = self.slots.get(i) {
            if let Err(e) = fast::datum_into(body, self.slots[i].as_mut().expect("checked above")) {
                // Half overwritten: not to be reused.
                self.slots[i] = None;
                return Err(corrupt(e));
            }
            return Ok(self.slots[i].as_ref().expect("decoded into"));
        }
        let ev = fast::datum(body).map_err(corrupt)?;
        Ok(self.keep(ev))
    }

    fn keep(&mut self, ev: CanonicalEvent) -> &CanonicalEvent {
        let i = fast::payload_union_index(&ev.payload);
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].insert(ev)
    }
}

/// The canonical events (`avro/canonical_event/`).
pub static CANONICAL_EVENT: LazyLock<SchemaFamily> = LazyLock::new(|| {
    SchemaFamily::load(
        "canonical_event",
        &[
            (1, include_str!("../avro/canonical_event/v1.avsc")),
            (2, include_str!("../avro/canonical_event/v2.avsc")),
            (3, include_str!("../avro/canonical_event/v3.avsc")),
        ],
    )
});

/// The payload types (union branches) a released canonical-event version has, in union order.
/// A reader of version N reads every payload type of N and earlier; a payload type added later
/// (e.g. `IdentityLinked`, v3) needs readers upgraded before producers write it.
pub fn canonical_payload_types(version: u32) -> Vec<String> {
    let Some(v) = CANONICAL_EVENT.version(version) else {
        return Vec::new();
    };
    let Schema::Record(r) = &v.schema else {
        return Vec::new();
    };
    let Some(Schema::Union(u)) = r.lookup.get("payload").map(|&i| &r.fields[i].schema) else {
        return Vec::new();
    };
    u.variants()
        .iter()
        .filter_map(|s| match s {
            Schema::Record(r) => Some(r.name.name.clone()),
            _ => None,
        })
        .collect()
}

/// Raw platform payloads (`avro/raw_payload/`).
pub static RAW_PAYLOAD: LazyLock<SchemaFamily> = LazyLock::new(|| {
    SchemaFamily::load(
        "raw_payload",
        &[(1, include_str!("../avro/raw_payload/v1.avsc"))],
    )
});

/// Customer feature snapshots (`avro/customer_features/`).
pub static CUSTOMER_FEATURES: LazyLock<SchemaFamily> = LazyLock::new(|| {
    SchemaFamily::load(
        "customer_features",
        &[
            (1, include_str!("../avro/customer_features/v1.avsc")),
            (2, include_str!("../avro/customer_features/v2.avsc")),
        ],
    )
});

/// Per-text insights from the nlp stream-app (`avro/text_insight/`).
pub static TEXT_INSIGHT: LazyLock<SchemaFamily> = LazyLock::new(|| {
    SchemaFamily::load(
        "text_insight",
        &[(1, include_str!("../avro/text_insight/v1.avsc"))],
    )
});

/// Every schema family, for tooling and tests.
pub fn families() -> [&'static SchemaFamily; 4] {
    [
        &CANONICAL_EVENT,
        &RAW_PAYLOAD,
        &CUSTOMER_FEATURES,
        &TEXT_INSIGHT,
    ]
}

fn family_of(fingerprint: u64) -> Option<&'static str> {
    families()
        .into_iter()
        .find(|f| f.by_fingerprint(fingerprint).is_some())
        .map(|f| f.name)
}

/// Deterministic event id: UUIDv5 over tenant, platform, event type and the platform's own ids.
/// The same webhook delivered twice, or the same order seen by a poller and a webhook, gets the
/// same id, so every consumer can drop the repeat.
pub fn event_id(
    tenant: &str,
    platform: Platform,
    event_type: &str,
    platform_ids: &[&str],
) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d69_6e64_7365_7400_8000_6576_656e_7473);
    let mut name = String::with_capacity(64);
    for part in [tenant, platform.symbol(), event_type]
        .into_iter()
        .chain(platform_ids.iter().copied())
    {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        name.push_str(&part.len().to_string());
        name.push(':');
        name.push_str(part);
    }
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

// ---------------------------------------------------------------------------------------------
// CanonicalEvent <-> Avro

impl CanonicalEvent {
    /// Encode with the latest schema version (the direct codec in [`fast`]).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(fast::single_object(
            CANONICAL_EVENT.latest().fingerprint,
            self,
        ))
    }

    /// Encode with an older released version (a producer pinned during a rolling upgrade; tests).
    /// Fields the version does not have are left out.
    pub fn encode_version(&self, version: u32) -> Result<Vec<u8>, EncodeError> {
        let family = &*CANONICAL_EVENT;
        let sv = family.version(version).ok_or(EncodeError::NoSuchVersion {
            family: family.name,
            version,
        })?;
        let invalid = |reason: String| EncodeError::Invalid {
            family: family.name,
            version,
            reason,
        };
        let Schema::Record(record) = &sv.schema else {
            return Err(invalid("top level is not a record".into()));
        };
        let payload_schema = &record.fields[record.lookup["payload"]].schema;
        let Schema::Union(union) = payload_schema else {
            return Err(invalid("payload is not a union".into()));
        };
        let name = self.payload.type_name();
        let (idx, branch) = union
            .variants()
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s, Schema::Record(r) if r.name.name == name))
            .ok_or_else(|| invalid(format!("payload type {name} is not in this version")))?;
        let inner = payload_to_value(&self.payload).map_err(|e| invalid(e.to_string()))?;
        let inner = inner
            .resolve(branch)
            .map_err(|e| invalid(format!("{name}: {e}")))?;
        let mut rec = apache_avro::types::Record::new(&sv.schema)
            .ok_or_else(|| invalid("not a record schema".into()))?;
        rec.put("event_id", self.event_id.as_str());
        rec.put("tenant_id", self.tenant_id.as_str());
        let platform_idx = Platform::ALL
            .iter()
            .position(|p| *p == self.platform)
            .expect("in ALL");
        rec.put(
            "platform",
            Value::Enum(platform_idx as u32, self.platform.symbol().to_owned()),
        );
        rec.put("source_id", self.source_id.as_str());
        rec.put(
            "customer_key",
            match &self.customer_key {
                Some(k) => Value::Union(1, Box::new(Value::String(k.clone()))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        );
        rec.put("occurred_at", Value::TimestampMillis(self.occurred_at));
        rec.put("received_at", Value::TimestampMillis(self.received_at));
        rec.put("schema_version", Value::Int(version as i32));
        rec.put("payload", Value::Union(idx as u32, Box::new(inner)));
        family.write_value(version, rec.into())
    }

    /// Decode a single-object message of any released version into the current Rust type:
    /// the latest version through the direct codec in [`fast`], older ones through apache-avro.
    pub fn decode(bytes: &[u8]) -> Result<CanonicalEvent, DecodeError> {
        if let Some(fast) = decode_latest(&CANONICAL_EVENT, bytes)? {
            return Ok(fast);
        }
        Self::decode_as(bytes, CANONICAL_EVENT.latest_version())
    }

    /// Decode as a reader of schema `reader_version` would see it (fields that version lacks come
    /// back as their defaults). The payload union is resolved branch by branch, by record name.
    pub fn decode_as(bytes: &[u8], reader_version: u32) -> Result<CanonicalEvent, DecodeError> {
        let family = &*CANONICAL_EVENT;
        let (value, writer) = family.read_writer_value(bytes)?;
        let version = writer.version;
        let reader = family.version(reader_version).unwrap_or(family.latest());
        let shape = |reason: String| DecodeError::Shape {
            family: family.name,
            version,
            reason,
        };
        let Value::Record(fields) = value else {
            return Err(shape("not a record".into()));
        };
        let mut env = EnvelopeFields::default();
        let mut payload = None;
        for (name, v) in fields {
            match (name.as_str(), v) {
                ("event_id", Value::String(s)) => env.event_id = Some(s),
                ("tenant_id", Value::String(s)) => env.tenant_id = Some(s),
                ("platform", Value::Enum(_, s)) => {
                    env.platform = Some(
                        Platform::from_symbol(&s).ok_or_else(|| shape(format!("platform {s}")))?,
                    )
                }
                ("source_id", Value::String(s)) => env.source_id = Some(s),
                ("customer_key", Value::Union(_, b)) => {
                    env.customer_key = match *b {
                        Value::String(s) => Some(s),
                        _ => None,
                    }
                }
                ("occurred_at", Value::TimestampMillis(t) | Value::Long(t)) => {
                    env.occurred_at = Some(t)
                }
                ("received_at", Value::TimestampMillis(t) | Value::Long(t)) => {
                    env.received_at = Some(t)
                }
                ("schema_version", _) => {}
                ("payload", Value::Union(idx, inner)) => payload = Some((idx, *inner)),
                (other, v) => return Err(shape(format!("unexpected field {other}: {v:?}"))),
            }
        }
        let (idx, inner) = payload.ok_or_else(|| shape("no payload".into()))?;
        let branch = payload_branches(&writer.schema)
            .and_then(|b| b.get(idx as usize).copied())
            .ok_or_else(|| shape(format!("payload branch {idx}")))?;
        let inner = if writer.version == reader.version {
            inner
        } else {
            let reader_branch = payload_branches(&reader.schema)
                .and_then(|_| payload_branch_schema(&reader.schema, branch))
                .ok_or_else(|| {
                    shape(format!(
                        "payload {branch} is unknown to schema v{}",
                        reader.version
                    ))
                })?;
            inner
                .resolve(reader_branch)
                .map_err(|e| shape(format!("{branch} to v{}: {e}", reader.version)))?
        };
        let payload =
            payload_from_value(branch, &inner).map_err(|e| shape(format!("{branch}: {e}")))?;
        let missing = |f: &str| shape(format!("missing {f}"));
        Ok(CanonicalEvent {
            event_id: env.event_id.ok_or_else(|| missing("event_id"))?,
            tenant_id: env.tenant_id.ok_or_else(|| missing("tenant_id"))?,
            platform: env.platform.ok_or_else(|| missing("platform"))?,
            source_id: env.source_id.ok_or_else(|| missing("source_id"))?,
            customer_key: env.customer_key,
            occurred_at: env.occurred_at.ok_or_else(|| missing("occurred_at"))?,
            received_at: env.received_at.ok_or_else(|| missing("received_at"))?,
            schema_version: version as i32,
            payload,
        })
    }
}

#[derive(Default)]
struct EnvelopeFields {
    event_id: Option<String>,
    tenant_id: Option<String>,
    platform: Option<Platform>,
    source_id: Option<String>,
    customer_key: Option<String>,
    occurred_at: Option<i64>,
    received_at: Option<i64>,
}

fn payload_union(schema: &Schema) -> Option<&apache_avro::schema::UnionSchema> {
    let Schema::Record(record) = schema else {
        return None;
    };
    match &record.fields[*record.lookup.get("payload")?].schema {
        Schema::Union(u) => Some(u),
        _ => None,
    }
}

/// Record names of the payload union's branches, in order.
fn payload_branches(schema: &Schema) -> Option<Vec<&str>> {
    payload_union(schema)?
        .variants()
        .iter()
        .map(|s| match s {
            Schema::Record(r) => Some(r.name.name.as_str()),
            _ => None,
        })
        .collect()
}

fn payload_branch_schema<'a>(schema: &'a Schema, name: &str) -> Option<&'a Schema> {
    payload_union(schema)?
        .variants()
        .iter()
        .find(|s| matches!(s, Schema::Record(r) if r.name.name == name))
}

macro_rules! payload_codec {
    ($($variant:ident),* $(,)?) => {
        fn payload_to_value(p: &Payload) -> Result<Value, apache_avro::Error> {
            match p {
                $(Payload::$variant(x) => apache_avro::to_value(x),)*
            }
        }

        fn payload_from_value(branch: &str, v: &Value) -> Result<Payload, String> {
            match branch {
                $(stringify!($variant) => apache_avro::from_value(v)
                    .map(Payload::$variant)
                    .map_err(|e| e.to_string()),)*
                other => Err(format!("no Rust type for payload {other}")),
            }
        }
    };
}

for_each_payload!(payload_codec);

impl RawPayload {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(fast::single_object(RAW_PAYLOAD.latest().fingerprint, self))
    }

    pub fn decode(bytes: &[u8]) -> Result<RawPayload, DecodeError> {
        match decode_latest(&RAW_PAYLOAD, bytes)? {
            Some(raw) => Ok(raw),
            None => reference::decode_value(&RAW_PAYLOAD, bytes),
        }
    }
}

/// The apache-avro path for the latest versions, kept as the reference the direct codec in
/// [`fast`] is checked against (and used for older versions).
pub mod reference {
    use super::*;

    pub fn encode_canonical(ev: &CanonicalEvent) -> Result<Vec<u8>, EncodeError> {
        ev.encode_version(CANONICAL_EVENT.latest_version())
    }

    pub fn decode_canonical(bytes: &[u8]) -> Result<CanonicalEvent, DecodeError> {
        CanonicalEvent::decode_as(bytes, CANONICAL_EVENT.latest_version())
    }

    pub fn encode_value<T: serde::Serialize>(
        family: &SchemaFamily,
        v: &T,
    ) -> Result<Vec<u8>, EncodeError> {
        let version = family.latest_version();
        let invalid = |reason: String| EncodeError::Invalid {
            family: family.name,
            version,
            reason,
        };
        let value = apache_avro::to_value(v)
            .map_err(|e| invalid(e.to_string()))?
            .resolve(&family.latest().schema)
            .map_err(|e| invalid(e.to_string()))?;
        family.write_value(version, value)
    }

    pub fn decode_value<T: serde::de::DeserializeOwned>(
        family: &SchemaFamily,
        bytes: &[u8],
    ) -> Result<T, DecodeError> {
        let (value, version) = family.read_value(bytes)?;
        apache_avro::from_value(&value).map_err(|e| DecodeError::Shape {
            family: family.name,
            version,
            reason: e.to_string(),
        })
    }
}
