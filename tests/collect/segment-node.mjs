// Segment's own Node client, pointed at Mindset only by its host option.
//   node segment-node.mjs <mindset-base-url> <writeKey>
// Sends identify, the ecommerce track events Mindset maps, page, group, alias and a custom event,
// then flushes. Prints {"sent": [{type, event?, messageId}, ...]}; exits 1 if the client reports
// any error (a refused batch, an unreachable server) or if any call was not delivered.
import { Analytics } from "@segment/analytics-node";

const [baseUrl, writeKey] = process.argv.slice(2);
if (!baseUrl || !writeKey) {
  console.error("usage: node segment-node.mjs <mindset-base-url> <writeKey>");
  process.exit(2);
}

const analytics = new Analytics({ writeKey, host: baseUrl, path: "/v1/batch", flushAt: 20, flushInterval: 200 });
const errors = new Set();
analytics.on("error", (e) => errors.add(`${e.code}: ${(e.reason && e.reason.message) || e.reason}`));
const answers = [];
analytics.on("http_response", (r) => answers.push(r.status));

const sent = [];
const record = (type, event) => (err, ctx) => {
  sent.push({ type, ...(event ? { event } : {}), messageId: ctx && ctx.event.messageId });
};
const track = (event, properties, who = { userId: "u-42" }) =>
  analytics.track({ ...who, event, properties }, record("track", event));

const products = [{ product_id: "p-1", sku: "RR-42", name: "Red Runner", price: 19.99, quantity: 2, category: "Shoes" }];
analytics.identify(
  { userId: "u-42", anonymousId: "anon-1", traits: { email: "Ada@Example.com", firstName: "Ada" } },
  record("identify"),
);
track("Product Viewed", { product_id: "p-1", name: "Red Runner", price: 19.99, currency: "USD", category: "Shoes" });
track("Products Searched", { query: "red shoes" });
track("Product Added", { cart_id: "c-1", product_id: "p-1", price: 19.99, quantity: 2 });
track("Order Completed", { order_id: "o-9", total: 39.98, revenue: 39.98, currency: "USD", products });
analytics.page({ userId: "u-42", name: "Checkout", properties: { url: "https://shop.example/checkout", path: "/checkout" } },
  record("page"));
analytics.group({ userId: "u-42", groupId: "g-7", traits: { name: "Example Co" } }, record("group"));
analytics.alias({ userId: "u-42", previousId: "anon-1" }, record("alias"));
track("Newsletter Subscribed", { list: "weekly" });

await analytics.closeAndFlush({ timeout: 15000 });
if (sent.length !== 9) errors.add(`${sent.length} of 9 calls were settled (is the server up?)`);
if (!answers.length || answers.some((s) => s !== 200)) errors.add(`HTTP answers: ${answers.join(", ") || "none"}`);
if (errors.size) {
  console.error(`segment-node: ${[...errors].join("; ")}`);
  process.exit(1);
}
console.log(JSON.stringify({ sent }));
