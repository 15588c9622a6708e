// Mindset web pixel (app extension). Settings: host, writeKey (see shopify.extension.toml).
import { register } from "@shopify/web-pixels-extension";
import { EVENTS, createPixel } from "./mapping.js";

register(({ analytics, browser, settings, init }) => {
  const handle = createPixel({ host: settings.host, writeKey: settings.writeKey, browser, init });
  for (const name of EVENTS) analytics.subscribe(name, handle);
});
