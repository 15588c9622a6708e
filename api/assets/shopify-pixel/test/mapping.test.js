// node --test api/assets/shopify-pixel/test/   (no npm install needed)
import test from "node:test";
import assert from "node:assert/strict";
import { EVENTS, createPixel, toMessages } from "../src/mapping.js";
import { customPixel } from "../build-custom-pixel.mjs";
import { readFileSync } from "node:fs";

// Events shaped as Shopify's Web Pixels API documents them.
const context = {
  document: {
    location: { href: "https://shop.example/products/red-runner?x=1", pathname: "/products/red-runner", search: "?x=1" },
    referrer: "https://www.google.com/",
    title: "Red Runner",
  },
  navigator: { language: "en-US", userAgent: "Mozilla/5.0 test" },
};
const variant = {
  id: "45737128657113",
  image: { src: "https://cdn.shopify.com/red.jpg" },
  price: { amount: 19.99, currencyCode: "USD" },
  product: { id: "8950526378201", title: "Red Runner", type: "Shoes", untranslatedTitle: "Red Runner", url: "/products/red-runner", vendor: "Acme" },
  sku: "RR-42",
  title: "42",
  untranslatedTitle: "42",
};
const line = { cost: { totalAmount: { amount: 39.98, currencyCode: "USD" } }, merchandise: variant, quantity: 2 };
const checkout = {
  billingAddress: { firstName: "Ada", lastName: "Lovelace" },
  currencyCode: "USD",
  discountApplications: [{ type: "DISCOUNT_CODE", title: "WELCOME10", value: { amount: 4, currencyCode: "USD" } }],
  discountsAmount: { amount: 4, currencyCode: "USD" },
  email: "ada@example.com",
  lineItems: [{ id: "li-1", quantity: 2, title: "Red Runner", variant, finalLinePrice: { amount: 35.98, currencyCode: "USD" } }],
  order: { id: "5123456789", customer: { id: "7001", isFirstOrder: true } },
  phone: null,
  shippingLine: { price: { amount: 5, currencyCode: "USD" } },
  subtotalPrice: { amount: 35.98, currencyCode: "USD" },
  token: "ck-abc",
  totalPrice: { amount: 43.98, currencyCode: "USD" },
  totalTax: { amount: 2, currencyCode: "USD" },
};
const ev = (name, data, n = 1) => ({
  id: `sh-${name}-${n}`, clientId: "client-1", name, seq: n, timestamp: "2026-03-01T10:00:00.000Z", type: "standard", context, data,
});

test("page_viewed is a page call with the document's url, path, referrer and title", () => {
  const [m] = toMessages(ev("page_viewed", {}));
  assert.equal(m.type, "page");
  assert.equal(m.messageId, "sh-page_viewed-1");
  assert.equal(m.anonymousId, "client-1");
  assert.equal(m.timestamp, "2026-03-01T10:00:00.000Z");
  assert.deepEqual(m.properties, {
    path: "/products/red-runner", referrer: "https://www.google.com/", search: "?x=1", title: "Red Runner",
    url: "https://shop.example/products/red-runner?x=1",
  });
  assert.equal(m.context.library.name, "mindset-shopify-pixel");
  assert.equal(m.context.userAgent, "Mozilla/5.0 test");
  assert.equal("userId" in m, false);
});

test("product_viewed is Product Viewed with the variant's product fields", () => {
  const [m] = toMessages(ev("product_viewed", { productVariant: variant }), { userId: 7001 });
  assert.equal(m.event, "Product Viewed");
  assert.equal(m.userId, "7001");
  assert.deepEqual(m.properties, {
    product_id: "8950526378201", variant: "45737128657113", sku: "RR-42", name: "Red Runner", brand: "Acme",
    category: "Shoes", price: 19.99, currency: "USD", url: "/products/red-runner", image_url: "https://cdn.shopify.com/red.jpg",
  });
});

test("search_submitted is Products Searched with the query", () => {
  const [m] = toMessages(ev("search_submitted", { searchResult: { query: "red shoes", productVariants: [variant] } }));
  assert.equal(m.event, "Products Searched");
  assert.deepEqual(m.properties, { query: "red shoes" });
});

test("cart lines are Product Added / Product Removed with quantity and the cart id", () => {
  const [added] = toMessages(ev("product_added_to_cart", { cartLine: line }), { cartId: "c-1" });
  assert.equal(added.event, "Product Added");
  assert.equal(added.properties.cart_id, "c-1");
  assert.equal(added.properties.product_id, "8950526378201");
  assert.equal(added.properties.quantity, 2);
  assert.equal(added.properties.price, 19.99);
  const [removed] = toMessages(ev("product_removed_from_cart", { cartLine: { ...line, quantity: 1 } }));
  assert.equal(removed.event, "Product Removed");
  assert.equal(removed.properties.quantity, 1);
  assert.equal("cart_id" in removed.properties, false);
  assert.deepEqual(toMessages(ev("product_added_to_cart", { cartLine: null })), []);
});

test("cart_viewed is Cart Viewed with its lines as products", () => {
  const cart = { id: "gid://shopify/Cart/c-9", cost: { totalAmount: { amount: 39.98, currencyCode: "USD" } }, lines: [line], totalQuantity: 2 };
  const [m] = toMessages(ev("cart_viewed", { cart }));
  assert.equal(m.event, "Cart Viewed");
  assert.equal(m.properties.cart_id, "gid://shopify/Cart/c-9");
  assert.equal(m.properties.value, 39.98);
  assert.equal(m.properties.products.length, 1);
  assert.equal(m.properties.products[0].quantity, 2);
  assert.deepEqual(toMessages(ev("cart_viewed", { cart: null })), []);
});

test("checkout_started is Checkout Started with totals, coupon and products", () => {
  const [m] = toMessages(ev("checkout_started", { checkout: { ...checkout, order: null } }));
  assert.equal(m.event, "Checkout Started");
  assert.deepEqual(m.properties, {
    checkout_id: "ck-abc", total: 43.98, revenue: 35.98, value: 43.98, tax: 2, shipping: 5, discount: 4,
    coupon: "WELCOME10", currency: "USD",
    products: [{
      product_id: "8950526378201", variant: "45737128657113", sku: "RR-42", name: "Red Runner", brand: "Acme",
      category: "Shoes", price: 19.99, currency: "USD", url: "/products/red-runner",
      image_url: "https://cdn.shopify.com/red.jpg", quantity: 2,
    }],
  });
});

test("checkout_completed is an identify of the buyer, then Order Completed", () => {
  const [id, order] = toMessages(ev("checkout_completed", { checkout }));
  assert.equal(id.type, "identify");
  assert.equal(id.messageId, "sh-checkout_completed-1-identify");
  assert.equal(id.userId, "7001");
  assert.equal(id.anonymousId, "client-1");
  assert.deepEqual(id.traits, { email: "ada@example.com", firstName: "Ada", lastName: "Lovelace" });
  assert.equal(order.event, "Order Completed");
  assert.equal(order.messageId, "sh-checkout_completed-1");
  assert.equal(order.userId, "7001");
  assert.equal(order.properties.order_id, "5123456789");
  assert.equal(order.properties.total, 43.98);
  assert.equal(order.properties.products[0].quantity, 2);
});

test("events Mindset does not map give no messages", () => {
  assert.deepEqual(toMessages(ev("collection_viewed", { collection: {} })), []);
  assert.equal(EVENTS.length, 8);
});

function fakeBrowser(beaconAnswer = true) {
  const storage = new Map();
  const beacons = [];
  return {
    beacons,
    localStorage: {
      getItem: async (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: async (k, v) => void storage.set(k, v),
    },
    sendBeacon: async (url, body) => (beacons.push({ url, body: JSON.parse(body) }), beaconAnswer),
  };
}

test("the pixel posts one batch per event to host/v1/batch with the write key, and identifies a customer once", async () => {
  const browser = fakeBrowser();
  const init = { data: { customer: { id: "7001", email: "ada@example.com", firstName: "Ada", lastName: null, phone: null }, cart: { id: "c-1" } } };
  const handle = createPixel({ host: "https://collect.example.com/", writeKey: "wk_1", browser, init });
  assert.equal(await handle(ev("page_viewed", {}, 1)), true);
  assert.equal(await handle(ev("product_added_to_cart", { cartLine: line }, 2)), true);
  assert.equal(browser.beacons.length, 2);
  const [first, second] = browser.beacons;
  assert.equal(first.url, "https://collect.example.com/v1/batch");
  assert.equal(first.body.writeKey, "wk_1");
  assert.ok(first.body.sentAt);
  assert.deepEqual(first.body.batch.map((m) => m.type), ["identify", "page"]);
  assert.deepEqual(first.body.batch[0].traits, { email: "ada@example.com", firstName: "Ada" });
  assert.ok(first.body.batch.every((m) => m.userId === "7001" && m.sentAt === first.body.sentAt));
  assert.deepEqual(second.body.batch.map((m) => m.event), ["Product Added"]);
  assert.equal(second.body.batch[0].properties.cart_id, "c-1");
});

test("the pixel falls back to fetch when sendBeacon refuses", async () => {
  const posted = [];
  const fetch = async (url, req) => (posted.push({ url, req }), { ok: true });
  const handle = createPixel({ host: "https://collect.example.com", writeKey: "wk_1", browser: fakeBrowser(false), init: {}, fetch });
  assert.equal(await handle(ev("search_submitted", { searchResult: { query: "boots" } })), true);
  assert.equal(posted.length, 1);
  assert.equal(posted[0].req.method, "POST");
  assert.equal(posted[0].req.keepalive, true);
  assert.equal(JSON.parse(posted[0].req.body).batch[0].properties.query, "boots");
});

test("custom-pixel.js is up to date with src/mapping.js (run build-custom-pixel.mjs)", () => {
  assert.equal(readFileSync(new URL("../custom-pixel.js", import.meta.url), "utf8"), customPixel());
});
