//! Every file under `shared/platforms/` is classified here: a payload or signature vector (and the
//! test that feeds it through the connector), or not a payload (and why). A file added to, or
//! removed from, the shared folder fails this test until it is classified.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::shared_dir;

/// (path under shared/platforms, how it is covered)
const FILES: &[(&str, &str)] = &[
    // Shopify
    (
        "shopify/webhooks/orders_create.json",
        "payload: shopify::orders_create_webhook_maps_field_by_field, redelivery_…, guest_orders_…",
    ),
    (
        "shopify/webhooks/customers_create.json",
        "payload: shopify::customers_create_webhook_and_rest_page",
    ),
    (
        "shopify/webhooks/checkouts_create.json",
        "payload: shopify::checkouts_create_gives_checkout_cart_and_customer",
    ),
    (
        "shopify/webhooks/_headers.json",
        "headers: shopify::documented_headers_are_kept_without_credentials",
    ),
    (
        "shopify/rest_admin/orders_list.status_any.json",
        "payload: shopify::rest_orders_page_maps_order_customer_consents_and_refund",
    ),
    (
        "shopify/rest_admin/customers_list.json",
        "payload: shopify::customers_create_webhook_and_rest_page",
    ),
    (
        "shopify/signatures/webhook_hmac_vectors.json",
        "vectors: shopify::official_hmac_vector_…, derived_vectors_over_the_webhook_fixtures",
    ),
    (
        "shopify/http/rest_headers_cases.json",
        "not a payload: REST pagination and rate-limit headers (poller)",
    ),
    (
        "shopify/oauth/oauth_flow.json",
        "not a payload: OAuth token exchange",
    ),
    ("shopify/SOURCES.md", "provenance"),
    // WooCommerce
    (
        "woocommerce/webhooks/order_created.payload.json",
        "payload: woocommerce::order_created_payload_maps_field_by_field (+ derived signature)",
    ),
    (
        "woocommerce/webhooks/_headers_and_delivery.json",
        "headers and ping: woocommerce::order_created_payload_…, the_creation_ping_…",
    ),
    (
        "woocommerce/rest_v3/orders.list_all_orders.json",
        "payload: woocommerce::rest_orders_list_with_refunds",
    ),
    (
        "woocommerce/rest_v3/customers.list_all_customers.json",
        "payload: woocommerce::customers",
    ),
    (
        "woocommerce/signatures/webhook_signature_vectors.json",
        "vectors: woocommerce::official_and_derived_signature_vectors",
    ),
    (
        "woocommerce/auth/authentication.json",
        "not a payload: REST API authentication (poller)",
    ),
    (
        "woocommerce/http/pagination_errors_ratelimit.json",
        "not a payload: pagination and error bodies (poller)",
    ),
    ("woocommerce/SOURCES.md", "provenance"),
    // Amazon
    (
        "amazon_sp_api/notifications/OrderChangeNotification.example.json",
        "payload: amazon::order_change_envelope_is_verified, order_change_gives_no_event_…",
    ),
    (
        "amazon_sp_api/notifications/OrderChangeNotification.schema.json",
        "schema: its example equals the example file (amazon::order_change_gives_no_event_…)",
    ),
    (
        "amazon_sp_api/examples/ordersV0.getOrders.200.example.json",
        "payload: amazon::get_orders_…, order_placed_joins_…",
    ),
    (
        "amazon_sp_api/examples/ordersV0.getOrderItems.200.example.json",
        "payload: amazon::get_orders_…, order_placed_joins_…",
    ),
    (
        "amazon_sp_api/models/ordersV0.json",
        "not a payload: OpenAPI model (shapes read from it)",
    ),
    (
        "amazon_sp_api/models/notifications.json",
        "not a payload: subscriptions API model",
    ),
    (
        "amazon_sp_api/models/tokens_2021-03-01.json",
        "not a payload: restricted data tokens API model",
    ),
    (
        "amazon_sp_api/http/rate_limits_pagination_errors.json",
        "not a payload: rate limits (poller)",
    ),
    (
        "amazon_sp_api/lwa/_notes.json",
        "not a payload: Login with Amazon notes",
    ),
    (
        "amazon_sp_api/lwa/refresh_token.request.http.txt",
        "not a payload: LWA token request",
    ),
    (
        "amazon_sp_api/lwa/refresh_token.response.body.json",
        "not a payload: LWA token response",
    ),
    ("amazon_sp_api/SOURCES.md", "provenance"),
    // Flipkart
    (
        "flipkart/notifications/shipment_created.example.json",
        "payload: flipkart::shipment_created_maps_field_by_field",
    ),
    (
        "flipkart/notifications/packed.example.json",
        "payload: flipkart::status_and_return_notifications_…",
    ),
    (
        "flipkart/notifications/shipment_created.structure.jsonc",
        "negative: not JSON, refused (flipkart::the_structure_file_…)",
    ),
    (
        "flipkart/api_examples/get-shipment-details.json",
        "payload (examples[0]): flipkart::shipment_api_examples",
    ),
    (
        "flipkart/api_examples/search-pre-dispatch-shipment-post.json",
        "payload (examples[0]): flipkart::shipment_api_examples",
    ),
    (
        "flipkart/signatures/notification_signature_vectors.json",
        "vectors: flipkart::official_vector_…, tampered_vector_fails",
    ),
    (
        "flipkart/http_status_codes.json",
        "not a payload: response codes",
    ),
    (
        "flipkart/oauth/oauth.json",
        "not a payload: OAuth token requests",
    ),
    ("flipkart/SOURCES.md", "provenance"),
    (
        "README.md",
        "the signing-scheme table, implemented by each verify",
    ),
];

fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, root, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel);
        }
    }
}

#[test]
fn every_shared_file_is_classified_and_every_payload_is_tested() {
    let root = shared_dir();
    let mut present = BTreeSet::new();
    walk(&root, &root, &mut present);
    let listed: BTreeSet<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(listed.len(), FILES.len(), "a file is listed twice");
    let unlisted: Vec<_> = present.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&present).collect();
    assert!(
        unlisted.is_empty(),
        "shared files with no test or reason here: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "listed files that are gone: {missing:?}"
    );
    // Every JSON payload parses (the structure file is the one documented exception).
    for (path, how) in FILES {
        if how.starts_with("payload") || how.starts_with("vectors") || how.starts_with("headers") {
            let bytes = std::fs::read(root.join(path)).unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}
