// A real browser running mindset.js against a Mindset server.
//   node storefront.mjs <mindset-base-url> <writeKey> <storefront-port>
// Serves fixtures/shop.html on 127.0.0.1:<storefront-port>, shops in headless Chromium, and checks
// what the script posted: a visit, a Do-Not-Track visit (nothing may be sent), a visit that waits
// for consent, and one whose sends fail (the calls must come back from the retry queue).
// Prints {"anonymousId", "requests", "dntRequests", ...} on success; exits 1 with a message on failure.
import http from "node:http";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, writeKey, port] = process.argv.slice(2);
if (!base || !writeKey || !port) {
  console.error("usage: node storefront.mjs <mindset-base-url> <writeKey> <storefront-port>");
  process.exit(2);
}
const mindset = base.replace(/\/$/, "");
const shop = `http://127.0.0.1:${port}`;
const html = readFileSync(new URL("fixtures/shop.html", import.meta.url), "utf8")
  .replaceAll("MINDSET_BASE_URL", mindset)
  .replaceAll("MINDSET_WRITE_KEY", writeKey);

const server = http.createServer((req, res) => {
  const path = new URL(req.url, shop).pathname;
  if (!["/", "/search", "/consent"].includes(path)) return res.writeHead(404).end();
  const body = path === "/consent" ? html.replace("data-write-key=", 'data-consent="pending" data-write-key=') : html;
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(body);
});
await new Promise((ok) => server.listen(Number(port), "127.0.0.1", ok));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});

// Every POST the page makes to Mindset's /v1/ routes, with its parsed body and answer.
function watch(page) {
  const posts = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(mindset + "/v1/")) return;
    const post = { url: r.url(), method: r.method(), body: null, status: null };
    try {
      post.body = JSON.parse(r.postData());
    } catch {}
    posts.push(post);
    r.response().then((a) => a && (post.status = a.status())).catch(() => (post.status = "failed"));
  });
  return posts;
}
const loaded = (page) => page.waitForFunction(() => window.mindset && !Array.isArray(window.mindset));
// Waits until every watched request has an answer and none came for `quiet` ms.
async function settle(posts, quiet = 800) {
  let seen = -1;
  for (let i = 0; i < 100 && (seen !== posts.length || posts.some((p) => p.status === null)); i++) {
    seen = posts.length;
    await new Promise((ok) => setTimeout(ok, quiet / 4));
  }
  await new Promise((ok) => setTimeout(ok, quiet));
}
const calls = (posts) => posts.flatMap((p) => (p.body && p.body.batch) || []);
const label = (m) => (m.type === "track" ? m.event : m.type);

function check(ok, message) {
  if (!ok) throw new Error(message);
}

async function visit() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const posts = watch(page);
  await page.goto(shop + "/");
  await loaded(page);
  await page.fill("#search input[type=search]", "red shoes");
  await Promise.all([page.waitForURL("**/search?q=red+shoes"), page.press("#search input[type=search]", "Enter")]);
  await loaded(page);
  await page.click("#add");
  await page.click("#remove");
  await page.evaluate(() => window.mindset.flush());
  const anonymousId = await page.evaluate(() => window.mindset.anonymousId());
  await settle(posts);
  await context.close();

  const sent = calls(posts);
  check(posts.every((p) => p.method === "POST" && p.url === mindset + "/v1/batch"), "posts other than /v1/batch");
  // A beacon sent by a page that is navigating away is answered after Chromium stops reporting it (null).
  check(posts.every((p) => p.status === 200 || p.status === null), `answers: ${posts.map((p) => p.status).join(", ")}`);
  check(posts.every((p) => p.body && p.body.writeKey === writeKey && p.body.sentAt), "a batch without writeKey/sentAt");
  const want = ["page", "Newsletter Viewed", "Product Viewed", "Products Searched", "Product Added", "Product Removed"];
  for (const w of want) check(sent.some((m) => label(m) === w), `no "${w}" was sent; got ${sent.map(label)}`);
  check(sent.filter((m) => m.type === "page").length === 2, "expected one page call per page load");
  check(new Set(sent.map((m) => m.messageId)).size === sent.length, "a messageId was sent twice");
  check(sent.every((m) => m.anonymousId === anonymousId), "calls with another anonymousId");
  check(sent.every((m) => m.timestamp && m.sentAt && m.context.library.name === "mindset.js"), "missing fields");
  const find = (e) => sent.find((m) => m.event === e).properties;
  const viewed = find("Product Viewed");
  check(viewed.product_id === "p-1" && viewed.name === "Red Runner" && viewed.price === 19.99, "Product Viewed props");
  check(viewed.currency === "USD" && viewed.category === "Shoes" && viewed.sku === "RR-42", "Product Viewed props");
  check(find("Products Searched").query === "red shoes", "Products Searched query");
  const added = find("Product Added");
  check(added.product_id === "p-1" && added.quantity === 2 && added.cart_id === "c-1" && added.price === 19.99,
    `Product Added props ${JSON.stringify(added)}`);
  check(find("Product Removed").quantity === 1, "Product Removed quantity");
  return { anonymousId, requests: posts.length, calls: sent.map(label) };
}

async function dntVisit() {
  const context = await browser.newContext();
  await context.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1", configurable: true }));
  const page = await context.newPage();
  const posts = watch(page);
  await page.goto(shop + "/");
  await loaded(page);
  await page.click("#add");
  await page.evaluate(() => window.mindset.flush());
  const stored = await page.evaluate(() => Object.keys(localStorage).concat(Object.keys(sessionStorage)));
  await settle(posts, 1500);
  await context.close();
  check(stored.length === 0, `Do-Not-Track visit stored ${stored}`);
  return posts.length;
}

// With data-consent="pending" nothing is sent or stored until mindset.consent(true); then the held
// calls go out, with the userId of an identify made while waiting.
async function consentVisit() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const posts = watch(page);
  await page.goto(shop + "/consent");
  await loaded(page);
  await page.evaluate(() => window.mindset.identify("u-7", { email: "grace@example.com" }));
  await page.evaluate(() => window.mindset.flush());
  await settle(posts);
  const before = posts.length;
  const stored = await page.evaluate(() => Object.keys(localStorage).concat(Object.keys(sessionStorage)));
  await page.evaluate(() => window.mindset.consent(true));
  await settle(posts);
  await context.close();
  check(before === 0 && stored.length === 0, `before consent: ${before} requests, stored ${stored}`);
  const sent = calls(posts);
  for (const w of ["page", "Product Viewed", "identify"]) check(sent.some((m) => label(m) === w), `no held "${w}"`);
  check(sent.find((m) => m.type === "identify").userId === "u-7", "identify lost its userId");
  return sent.length;
}

// On a page opened with ?offline every send fails (no sendBeacon, fetch rejects), so the calls wait
// in localStorage; the next page must send them again, with the same messageIds, as soon as it loads.
async function retryVisit() {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Navigator.prototype.sendBeacon = () => false;
    if (location.search === "?offline") {
      window.fetch = () => Promise.reject(new TypeError("offline"));
    } else if (localStorage.getItem("mindset.retry")) { // skip the backoff wait
      localStorage.setItem("mindset.retry", JSON.stringify({ ...JSON.parse(localStorage.getItem("mindset.retry")), next: 0 }));
    }
  });
  const page = await context.newPage();
  await page.goto(shop + "/?offline");
  await loaded(page);
  await page.evaluate(() => window.mindset.flush());
  const kept = await page.evaluate(() => JSON.parse(localStorage.getItem("mindset.retry")));
  check(kept && kept.msgs.length >= 2, "nothing was kept for retry after a failed send");
  const posts = watch(page);
  await page.goto(shop + "/");
  await loaded(page);
  await settle(posts);
  const left = await page.evaluate(() => localStorage.getItem("mindset.retry"));
  await context.close();
  const delivered = new Set(calls(posts.filter((p) => p.status === 200)).map((m) => m.messageId));
  check(kept.msgs.every((m) => delivered.has(m.messageId)), "retried calls did not arrive");
  check(left === null, "the retry queue was not emptied");
  return kept.msgs.length;
}

let code = 0;
try {
  const summary = await visit();
  summary.dntRequests = await dntVisit();
  check(summary.dntRequests === 0, `Do-Not-Track visit sent ${summary.dntRequests} requests`);
  summary.consentCalls = await consentVisit();
  summary.retried = await retryVisit();
  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(`storefront: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
