// Shopify standard customer events -> Segment messages for Mindset's /v1/batch.
// No Shopify import here: src/index.js (app extension) and custom-pixel.js (pasted in the admin)
// both use it, and test/mapping.test.js runs it under plain `node --test`.

export const VERSION = "0.1.0";
export const EVENTS = [
  "page_viewed",
  "product_viewed",
  "search_submitted",
  "product_added_to_cart",
  "product_removed_from_cart",
  "cart_viewed",
  "checkout_started",
  "checkout_completed",
];

const amount = (money) => (money && money.amount != null ? Number(money.amount) : undefined);
const clean = (o) => {
  for (const k of Object.keys(o)) if (o[k] == null || o[k] === "") delete o[k];
  return o;
};

// A ProductVariant (with its product) as a Segment ecommerce product.
export function product(variant, quantity) {
  if (!variant) return clean({ quantity });
  const p = variant.product || {};
  return clean({
    product_id: p.id,
    variant: variant.id,
    sku: variant.sku,
    name: p.title || variant.title,
    brand: p.vendor,
    category: p.type,
    price: amount(variant.price),
    currency: variant.price && variant.price.currencyCode,
    url: p.url,
    image_url: variant.image && variant.image.src,
    quantity,
  });
}

function checkoutProps(c) {
  const codes = (c.discountApplications || []).filter((d) => d.type === "DISCOUNT_CODE").map((d) => d.title);
  return clean({
    checkout_id: c.token,
    order_id: c.order && c.order.id,
    total: amount(c.totalPrice),
    revenue: amount(c.subtotalPrice),
    value: amount(c.totalPrice),
    tax: amount(c.totalTax),
    shipping: amount(c.shippingLine && c.shippingLine.price),
    discount: amount(c.discountsAmount),
    coupon: codes.join(",") || undefined,
    currency: c.currencyCode,
    products: (c.lineItems || []).map((li) =>
      clean({ ...product(li.variant, li.quantity), name: li.title || (li.variant && li.variant.product.title) })),
  });
}

function context(event) {
  const doc = (event.context && event.context.document) || {};
  const loc = doc.location || {};
  const nav = (event.context && event.context.navigator) || {};
  return {
    library: { name: "mindset-shopify-pixel", version: VERSION },
    locale: nav.language,
    page: clean({ path: loc.pathname, referrer: doc.referrer, search: loc.search, title: doc.title, url: loc.href }),
    userAgent: nav.userAgent,
  };
}

// The identify for a customer: the storefront's logged-in one (init.data.customer), or the buyer
// of a completed checkout. Its messageId derives from the event's, so a resend is de-duplicated.
export function identifyMessage(event, userId, traits) {
  return clean({
    type: "identify",
    messageId: `${event.id}-identify`,
    timestamp: event.timestamp,
    anonymousId: event.clientId,
    userId: userId == null ? undefined : String(userId),
    traits: clean({ ...traits }),
    context: context(event),
  });
}

// The Segment messages for one Shopify event ([] for an event Mindset does not map).
// opts.userId: the logged-in customer's id; opts.cartId: the cart id from init.data.cart.
export function toMessages(event, opts = {}) {
  const d = event.data || {};
  const base = {
    messageId: event.id,
    timestamp: event.timestamp,
    anonymousId: event.clientId,
    userId: opts.userId == null ? undefined : String(opts.userId),
    context: context(event),
  };
  const track = (name, properties) => clean({ type: "track", event: name, ...base, properties: clean(properties) });
  const line = (l) => ({ cart_id: opts.cartId, ...product(l && l.merchandise, l && l.quantity) });
  switch (event.name) {
    case "page_viewed":
      return [clean({ type: "page", ...base, properties: { ...base.context.page } })];
    case "product_viewed":
      return [track("Product Viewed", product(d.productVariant))];
    case "search_submitted":
      return [track("Products Searched", { query: d.searchResult && d.searchResult.query })];
    case "product_added_to_cart":
      return d.cartLine ? [track("Product Added", line(d.cartLine))] : [];
    case "product_removed_from_cart":
      return d.cartLine ? [track("Product Removed", line(d.cartLine))] : [];
    case "cart_viewed": {
      const cart = d.cart;
      if (!cart) return [];
      const total = cart.cost && cart.cost.totalAmount;
      return [track("Cart Viewed", {
        cart_id: cart.id || opts.cartId,
        value: amount(total),
        currency: total && total.currencyCode,
        products: (cart.lines || []).map((l) => product(l.merchandise, l.quantity)),
      })];
    }
    case "checkout_started":
      return d.checkout ? [track("Checkout Started", checkoutProps(d.checkout))] : [];
    case "checkout_completed": {
      const c = d.checkout;
      if (!c) return [];
      const buyer = (c.order && c.order.customer && c.order.customer.id) || base.userId;
      const name = c.billingAddress || c.shippingAddress || {};
      const out = [];
      if (c.email || c.phone || buyer) {
        out.push(identifyMessage(event, buyer, { email: c.email, phone: c.phone, firstName: name.firstName, lastName: name.lastName }));
      }
      out.push(clean({ ...track("Order Completed", checkoutProps(c)), userId: buyer == null ? undefined : String(buyer) }));
      return out;
    }
    default:
      return [];
  }
}

// The event handler a pixel subscribes: maps, adds one identify per browser for a logged-in
// customer, and posts a batch with the write key in the body (sendBeacon, else fetch).
// config: {host, writeKey}; browser: the pixel API's browser; init: the pixel API's init.
export function createPixel({ host, writeKey, browser, init, fetch = globalThis.fetch }) {
  const data = (init && init.data) || {};
  const customer = data.customer;
  const cartId = data.cart && data.cart.id;
  const url = String(host).replace(/\/$/, "") + "/v1/batch";

  async function identifyOnce(event) {
    if (!customer || !customer.id) return [];
    const key = "mindset.identified";
    if ((await browser.localStorage.getItem(key)) === String(customer.id)) return [];
    await browser.localStorage.setItem(key, String(customer.id));
    const { email, phone, firstName, lastName } = customer;
    return [identifyMessage(event, customer.id, { email, phone, firstName, lastName })];
  }

  return async function handle(event) {
    const batch = (await identifyOnce(event)).concat(toMessages(event, { userId: customer && customer.id, cartId }));
    if (!batch.length) return false;
    const sentAt = new Date().toISOString();
    const body = JSON.stringify({ batch: batch.map((m) => ({ ...m, sentAt })), sentAt, writeKey });
    try {
      if (browser && browser.sendBeacon && (await browser.sendBeacon(url, body))) return true;
    } catch (e) {
      // fall through to fetch
    }
    const answer = await fetch(url, { method: "POST", body, keepalive: true, headers: { "Content-Type": "text/plain" } });
    return answer.ok;
  };
}
