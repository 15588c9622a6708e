// Writes custom-pixel.js, the code to paste in Shopify admin -> Settings -> Customer events ->
// Add custom pixel: src/mapping.js without its exports, plus the subscriptions. A custom pixel has
// no settings, so the host and write key are constants at the top for the merchant to fill in.
//   node build-custom-pixel.mjs          (re-run after changing src/mapping.js)
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

export function customPixel() {
  const mapping = readFileSync(new URL("src/mapping.js", import.meta.url), "utf8").replace(/^export /gm, "");
  return `// Mindset custom pixel, generated from src/mapping.js by build-custom-pixel.mjs: do not edit by hand.
// Paste it in Shopify admin -> Settings -> Customer events -> Add custom pixel, fill in the two
// values below, save, and connect. See docs/collect.md.
const MINDSET_HOST = "https://collect.example.com"; // where mindset serve answers
const MINDSET_WRITE_KEY = "wk_REPLACE_ME"; // the shop's write key

${mapping}
const handle = createPixel({ host: MINDSET_HOST, writeKey: MINDSET_WRITE_KEY, browser, init });
for (const name of EVENTS) analytics.subscribe(name, handle);
`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(new URL("custom-pixel.js", import.meta.url), customPixel());
}
