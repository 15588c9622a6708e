//! `mindset import` on an embedded log: each kind maps field by field from CSV and JSON lines, bad
//! rows are reported by line and nothing is written, and a re-run or a resumed run never writes a
//! row twice.

mod support;

use std::path::{Path, PathBuf};

use mindset::import::{Checkpoint, ImportError, Kind, Options, Report, run};
use mindset_pipeline::Log;
use mindset_schemas::{
    CanonicalEvent, CustomerUpserted, MessageAuthor, MessageChannel, MessageReceived, OrderLine,
    OrderPlaced, Payload, Platform, RawPayload, ReviewPosted, event_id,
};
use mindset_topics::{CUSTOMER_EVENTS, RAW_PAYLOADS, TopicSpec, ValueCodec};
use serde_json::{Value, json};
use sha2::Digest;

const TENANT: &str = "shop-1";
/// 2026-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn opts() -> Options {
    Options {
        now: NOW,
        progress: false,
        ..Options::new()
    }
}

struct Shop {
    dir: tempfile::TempDir,
    log: Log,
}

impl Shop {
    async fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let log = support::open_log(dir.path()).await;
        Shop { dir, log }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn import(&self, file: &Path, opts: &Options) -> Result<Report, ImportError> {
        run(&self.log, TENANT, file, opts, &self.data_dir()).await
    }

    async fn count(&self, topic: &TopicSpec) -> u64 {
        support::count(&self.log, topic).await
    }

    async fn total(&self) -> u64 {
        support::sizes(&self.log).await.values().sum()
    }

    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<(String, V)> {
        support::read(&self.log, topic).await
    }

    /// Canonical events in file order (by source id), with their record keys.
    async fn events(&self) -> Vec<(String, CanonicalEvent)> {
        let mut evs = self.read::<CanonicalEvent>(&CUSTOMER_EVENTS.spec).await;
        evs.sort_by(|a, b| a.1.source_id.cmp(&b.1.source_id));
        evs
    }

    /// Raw rows, sorted by body.
    async fn raws(&self) -> Vec<RawPayload> {
        let mut raws: Vec<RawPayload> = self
            .read::<RawPayload>(&RAW_PAYLOADS.spec)
            .await
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        raws.sort_by(|a, b| a.body.cmp(&b.body));
        raws
    }
}

fn checkpoint_path(data_dir: &Path, file: &Path) -> PathBuf {
    let digest = sha2::Sha256::digest(std::fs::read(file).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    data_dir.join("imports").join(format!("{hex}.json"))
}

fn read_checkpoint(data_dir: &Path, file: &Path) -> Checkpoint {
    serde_json::from_slice(&std::fs::read(checkpoint_path(data_dir, file)).unwrap()).unwrap()
}

fn ev(
    kind: &str,
    id: &str,
    key: &str,
    occurred_at: i64,
    payload: Payload,
) -> (String, CanonicalEvent) {
    let event = CanonicalEvent {
        event_id: event_id(TENANT, Platform::Import, payload.type_name(), &[kind, id]),
        tenant_id: TENANT.into(),
        platform: Platform::Import,
        source_id: id.into(),
        customer_key: Some(key.into()),
        occurred_at,
        received_at: NOW,
        schema_version: mindset_schemas::CANONICAL_EVENT.latest_version() as i32,
        payload,
    };
    (format!("{TENANT}|{key}"), event)
}

/// Import `<stem>.csv` and `<stem>.jsonl` into two fresh logs; both must give `expected` (keys and
/// events) and one raw row per data row with the row's JSON as body. Returns the CSV's raw rows.
async fn both_formats(stem: &str, opts: &Options, expected: &[(String, CanonicalEvent)]) {
    for ext in ["csv", "jsonl"] {
        let file = fixture(&format!("{stem}.{ext}"));
        let shop = Shop::new().await;
        let report = shop.import(&file, opts).await.unwrap();
        assert!(report.problems.is_empty(), "{ext}: {report}");
        let events = shop.events().await;
        assert_eq!(events.len(), expected.len(), "{ext}");
        for (got, want) in events.iter().zip(expected) {
            assert_eq!(got, want, "{ext}");
        }
        assert_eq!(report.events_written, expected.len() as u64, "{ext}");

        // Every data row is kept raw: platform, source, tenant, the row itself as JSON.
        let raws = shop.raws().await;
        assert_eq!(raws.len() as u64, report.rows, "{ext}");
        assert_eq!(report.rows_written, report.rows, "{ext}");
        let text = std::fs::read_to_string(&file).unwrap();
        let expected_bodies: Vec<Value> = if ext == "jsonl" {
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        } else {
            let mut r = csv::Reader::from_reader(text.as_bytes());
            let headers = r.headers().unwrap().clone();
            r.records()
                .map(|rec| {
                    let rec = rec.unwrap();
                    Value::Object(
                        headers
                            .iter()
                            .zip(rec.iter())
                            .map(|(h, v)| (h.to_owned(), Value::String(v.to_owned())))
                            .collect(),
                    )
                })
                .collect()
        };
        let mut bodies: Vec<Value> = raws
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let mut want_bodies = expected_bodies.clone();
        let by_text = |a: &Value, b: &Value| a.to_string().cmp(&b.to_string());
        bodies.sort_by(by_text);
        want_bodies.sort_by(by_text);
        assert_eq!(bodies, want_bodies, "{ext}");
        for r in &raws {
            assert_eq!(r.platform, "import");
            assert_eq!(r.source, format!("import:{stem}"));
            assert_eq!(r.tenant_id, TENANT);
            assert_eq!(r.received_at, NOW);
            assert_eq!(r.content_type.as_deref(), Some("application/json"));
        }
        let ids: std::collections::BTreeSet<&str> =
            raws.iter().map(|r| r.raw_id.as_str()).collect();
        assert_eq!(ids.len(), raws.len(), "{ext}: raw ids are distinct");
    }
}

#[tokio::test]
async fn reviews_map_field_by_field() {
    let expected = [
        ev(
            "reviews",
            "r-1",
            "email:ada@example.com",
            1_762_078_500_000,
            Payload::ReviewPosted(ReviewPosted {
                review_id: "r-1".into(),
                product_id: Some("p-1".into()),
                rating: 5,
                title: Some("Lovely".into()),
                text: "Soft, warm and true to size.".into(),
                verified_purchase: true,
                language: Some("en".into()),
            }),
        ),
        ev(
            "reviews",
            "r-2",
            "import:c-7",
            1_762_156_800_000,
            Payload::ReviewPosted(ReviewPosted {
                review_id: "r-2".into(),
                product_id: Some("p-2".into()),
                rating: 2,
                title: None,
                text: "Too small.\nReturned it.".into(),
                verified_purchase: false,
                language: None,
            }),
        ),
    ];
    both_formats("reviews", &opts(), &expected).await;
}

#[tokio::test]
async fn chats_map_field_by_field() {
    let msg = |id: &str, channel, thread: Option<&str>, author, text: &str, lang: Option<&str>| {
        Payload::MessageReceived(MessageReceived {
            message_id: id.into(),
            channel,
            thread_id: thread.map(Into::into),
            text: text.into(),
            language: lang.map(Into::into),
            author,
        })
    };
    let expected = [
        ev(
            "chats",
            "m-1",
            "email:bob@example.com",
            1_762_243_200_000,
            msg(
                "m-1",
                MessageChannel::Chat,
                Some("t-1"),
                MessageAuthor::Customer,
                "Where is my order?",
                Some("en"),
            ),
        ),
        ev(
            "chats",
            "m-2",
            "email:bob@example.com",
            1_762_243_500_000,
            msg(
                "m-2",
                MessageChannel::Chat,
                Some("t-1"),
                MessageAuthor::Agent,
                "It ships today.",
                None,
            ),
        ),
        ev(
            "chats",
            "m-3",
            "import:c-9",
            1_762_344_000_000,
            msg(
                "m-3",
                MessageChannel::Support,
                None,
                MessageAuthor::System,
                "Ticket closed.",
                None,
            ),
        ),
    ];
    both_formats("chats", &opts(), &expected).await;
}

#[tokio::test]
async fn orders_group_their_lines_field_by_field() {
    let expected = [
        ev(
            "orders",
            "o-1",
            "email:ada@example.com",
            1_762_430_400_000,
            Payload::OrderPlaced(OrderPlaced {
                order_id: "o-1".into(),
                order_number: None,
                currency: "EUR".into(),
                lines: vec![
                    OrderLine {
                        product_id: "p-1".into(),
                        variant_id: None,
                        sku: None,
                        title: "Linen shirt".into(),
                        category: Some("apparel".into()),
                        brand: None,
                        quantity: 2,
                        unit_price_minor: 4_550,
                        discount_minor: 0,
                    },
                    OrderLine {
                        product_id: "p-3".into(),
                        variant_id: None,
                        sku: None,
                        title: "Socks".into(),
                        category: None,
                        brand: None,
                        quantity: 1,
                        unit_price_minor: 400,
                        discount_minor: 0,
                    },
                ],
                subtotal_minor: 9_500,
                discount_minor: 0,
                shipping_minor: 0,
                tax_minor: 0,
                total_minor: 8_500,
                discount_codes: vec!["WELCOME".into()],
                financial_status: "paid".into(),
                is_test: false,
                guest: false,
                checkout_id: None,
                channel: None,
            }),
        ),
        ev(
            "orders",
            "o-2",
            "import:c-7",
            1_762_507_800_000,
            Payload::OrderPlaced(OrderPlaced {
                order_id: "o-2".into(),
                order_number: None,
                // The row has no currency: --currency JPY (no minor unit).
                currency: "JPY".into(),
                lines: vec![OrderLine {
                    product_id: "p-2".into(),
                    variant_id: None,
                    sku: None,
                    title: "Wool hat".into(),
                    category: None,
                    brand: None,
                    quantity: 1,
                    unit_price_minor: 1_500,
                    discount_minor: 0,
                }],
                subtotal_minor: 1_500,
                discount_minor: 0,
                shipping_minor: 0,
                tax_minor: 0,
                total_minor: 1_500,
                discount_codes: vec![],
                financial_status: "paid".into(),
                is_test: false,
                guest: false,
                checkout_id: None,
                channel: None,
            }),
        ),
    ];
    let o = Options {
        currency: Some("jpy".into()),
        ..opts()
    };
    both_formats("orders", &o, &expected).await;
}

#[tokio::test]
async fn customers_map_field_by_field() {
    let expected = [
        ev(
            "customers",
            "c-1",
            "email:ada@example.com",
            1_705_276_800_000,
            Payload::CustomerUpserted(CustomerUpserted {
                platform_customer_id: "c-1".into(),
                email: Some("ada@example.com".into()),
                phone: Some("+44 20 7946 0000".into()),
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                country: Some("GB".into()),
                city: Some("London".into()),
                accepts_marketing: true,
                platform_created_at: Some(1_705_276_800_000),
                tags: vec![],
            }),
        ),
        // No created_at: the event is as of the import.
        ev(
            "customers",
            "c-2",
            "import:c-2",
            NOW,
            Payload::CustomerUpserted(CustomerUpserted {
                platform_customer_id: "c-2".into(),
                email: None,
                phone: None,
                first_name: Some("Bo".into()),
                last_name: None,
                country: Some("SE".into()),
                city: None,
                accepts_marketing: false,
                platform_created_at: None,
                tags: vec![],
            }),
        ),
    ];
    both_formats("customers", &opts(), &expected).await;
}

#[tokio::test]
async fn dry_run_reports_every_bad_csv_row_by_line_and_writes_nothing() {
    let shop = Shop::new().await;
    let file = fixture("reviews_bad.csv");
    let dry = Options {
        dry_run: true,
        ..opts()
    };
    let report = shop.import(&file, &dry).await.unwrap();
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            // Line 2's quoted body spans lines 2 and 3: the next row starts on line 4.
            "line 4: email: neither email nor customer_id is given (one is required)",
            "line 5: rating: \"five\" is not a whole number from 1 to 5",
            "line 6: review_id: \"r-1\" already appears at line 2",
            "line 6: created_at: \"2025-11-02\" is not a timestamp after 1970 (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)",
            "line 8: row: has 4 fields, the header has 7",
        ]
    );
    assert_eq!(
        (report.rows, report.rows_ok, report.rows_bad, report.events),
        (6, 2, 4, 2)
    );
    let text = report.to_string();
    assert!(
        text.contains("rows ok 2, rows bad 4; events that would be written 2"),
        "{text}"
    );
    assert!(text.contains("nothing written"), "{text}");
    assert_eq!(shop.total().await, 0);
    assert!(!shop.data_dir().join("imports").exists());

    // A real run refuses the file, lists the same problems, and writes nothing either.
    let err = shop.import(&file, &opts()).await.unwrap_err();
    match &err {
        ImportError::BadRows { rows, problems } => {
            assert_eq!(*rows, 6);
            assert_eq!(
                problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
                lines
            );
        }
        other => panic!("expected BadRows, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with("4 of 6 rows are bad; nothing written"),
        "{message}"
    );
    assert!(message.contains("line 8: row: has 4 fields"), "{message}");
    assert_eq!(shop.total().await, 0);
    assert!(!checkpoint_path(&shop.data_dir(), &file).exists());
}

#[tokio::test]
async fn dry_run_reports_bad_jsonl_lines_counting_blank_lines() {
    let shop = Shop::new().await;
    let dry = Options {
        dry_run: true,
        kind: Some(Kind::Orders),
        ..opts()
    };
    let report = shop
        .import(&fixture("orders_bad.jsonl"), &dry)
        .await
        .unwrap();
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert_eq!(
        lines[0],
        "line 3: currency: missing, and no --currency given"
    );
    assert_eq!(
        lines[1],
        "line 3: quantity: \"0\" is not a whole number of at least 1"
    );
    assert_eq!(
        lines[2],
        "line 4: order_id: order \"o-1\" already ended (it starts at line 1); the rows of one order must be contiguous"
    );
    assert!(
        lines[3].starts_with("line 5: row: not JSON: "),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "line 6: row: not a JSON object");
    assert_eq!(
        lines[5],
        "line 7: currency: \"EURO\" is not an ISO 4217 currency code"
    );
    assert_eq!(
        lines[6],
        "line 9: customer_id: \"c-2\" differs from \"c-1\" given earlier for this order (from line 8)"
    );
    // Eight rows (the blank line 2 is none); o-1 alone is whole and good.
    assert_eq!(
        (report.rows, report.rows_ok, report.rows_bad, report.events),
        (8, 2, 6, 1)
    );
    assert_eq!(shop.total().await, 0);
}

#[tokio::test]
async fn a_second_run_imports_nothing_and_says_so() {
    let shop = Shop::new().await;
    let file = fixture("orders.csv");
    let o = Options {
        currency: Some("JPY".into()),
        ..opts()
    };
    let first = shop.import(&file, &o).await.unwrap();
    assert_eq!((first.rows_written, first.events_written), (3, 2));
    let events = shop.count(&CUSTOMER_EVENTS.spec).await;
    let raws = shop.count(&RAW_PAYLOADS.spec).await;
    assert_eq!((events, raws), (2, 3));
    assert_eq!(
        read_checkpoint(&shop.data_dir(), &file),
        Checkpoint {
            file: file.display().to_string(),
            kind: Kind::Orders,
            tenant: TENANT.into(),
            rows_done: 3,
            events_written: 2,
        }
    );

    let again = shop.import(&file, &o).await.unwrap();
    assert_eq!(
        (again.already_done, again.rows_written, again.events_written),
        (3, 0, 0)
    );
    assert!(
        again
            .to_string()
            .ends_with("already imported: 3 rows; nothing to do"),
        "{again}"
    );
    assert_eq!(shop.count(&CUSTOMER_EVENTS.spec).await, events);
    assert_eq!(shop.count(&RAW_PAYLOADS.spec).await, raws);

    // A dry run of an imported file says so too, and that nothing is left to write.
    let dry = shop
        .import(
            &file,
            &Options {
                dry_run: true,
                ..o.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!((dry.already_done, dry.events), (3, 0));
    assert!(
        dry.to_string().contains("(already imported: 3 rows)"),
        "{dry}"
    );
}

#[tokio::test]
async fn a_resumed_run_writes_only_the_rows_after_the_checkpoint() {
    let shop = Shop::new().await;
    let file = fixture("chats.csv");
    // As a run killed after its first durable chunk of two rows leaves it.
    let cp = checkpoint_path(&shop.data_dir(), &file);
    std::fs::create_dir_all(cp.parent().unwrap()).unwrap();
    std::fs::write(
        &cp,
        serde_json::to_vec(&json!({
            "file": file.display().to_string(), "kind": "chats", "tenant": TENANT,
            "rows_done": 2, "events_written": 2,
        }))
        .unwrap(),
    )
    .unwrap();
    let report = shop.import(&file, &opts()).await.unwrap();
    assert_eq!(
        (
            report.already_done,
            report.rows_written,
            report.events_written
        ),
        (2, 1, 1)
    );
    let events = shop.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.source_id, "m-3");
    let raws = shop.raws().await;
    assert_eq!(raws.len(), 1);
    let body: Value = serde_json::from_slice(&raws[0].body).unwrap();
    assert_eq!(body["message_id"], "m-3");
    let done = read_checkpoint(&shop.data_dir(), &file);
    assert_eq!((done.rows_done, done.events_written), (3, 3));
}

#[tokio::test]
async fn chunks_hold_whole_orders_and_each_is_checkpointed() {
    let shop = Shop::new().await;
    let file = fixture("orders.csv");
    // A checkpoint in the middle of order o-1 (a chunk never ends there, but a hand-edited one
    // might): o-1 is sent again whole, its event id unchanged.
    let cp = checkpoint_path(&shop.data_dir(), &file);
    std::fs::create_dir_all(cp.parent().unwrap()).unwrap();
    std::fs::write(
        &cp,
        serde_json::to_vec(&json!({
            "file": "orders.csv", "kind": "orders", "tenant": TENANT,
            "rows_done": 1, "events_written": 0,
        }))
        .unwrap(),
    )
    .unwrap();
    let o = Options {
        currency: Some("JPY".into()),
        chunk_rows: 1,
        ..opts()
    };
    let report = shop.import(&file, &o).await.unwrap();
    assert_eq!((report.rows_written, report.events_written), (3, 2));
    let events = shop.events().await;
    let ids: Vec<&str> = events.iter().map(|(_, e)| e.source_id.as_str()).collect();
    assert_eq!(ids, ["o-1", "o-2"]);
    match &events[0].1.payload {
        Payload::OrderPlaced(o) => assert_eq!(o.lines.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(read_checkpoint(&shop.data_dir(), &file).rows_done, 3);
}

#[tokio::test]
async fn the_kind_comes_from_the_flag_or_the_file_name_or_the_import_is_refused() {
    let shop = Shop::new().await;
    let file = shop.dir.path().join("export.csv");
    std::fs::copy(fixture("customers.csv"), &file).unwrap();
    let err = shop.import(&file, &opts()).await.unwrap_err();
    assert!(
        matches!(&err, ImportError::Usage(m) if m.contains("--kind reviews|chats|orders|customers")),
        "{err}"
    );
    let other = shop.dir.path().join("customers.xlsx");
    std::fs::copy(fixture("customers.csv"), &other).unwrap();
    let err = shop.import(&other, &opts()).await.unwrap_err();
    assert!(err.to_string().contains("unknown format"), "{err}");
    assert_eq!(shop.total().await, 0);

    let with_kind = Options {
        kind: Some(Kind::Customers),
        ..opts()
    };
    let report = shop.import(&file, &with_kind).await.unwrap();
    assert_eq!(report.events_written, 2);
    // The same content under another kind is refused by its checkpoint, not imported twice.
    let err = shop
        .import(
            &file,
            &Options {
                kind: Some(Kind::Reviews),
                ..opts()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::Checkpoint { .. }), "{err}");
}
