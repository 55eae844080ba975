// The devstack console in a real browser: playwright-core driving Debian's chromium, headless.
//
// Env: CONSOLE_URL (the page, e.g. http://127.0.0.1:4597/console), ORDER_ID (an order placed
// through the gateway), SCREENSHOT (where to save the PNG), optional CHROMIUM (default
// /usr/bin/chromium), DLQ (default InventoryDeadLetterQueue), TIMEOUT_MS (per wait, default
// 120000). Exits 0 when every check passed; 1 with the reason otherwise.
//
// Checks: the saga timeline of ORDER_ID shows every hop up to CONFIRMED; a message injected
// into the DLQ with the form is listed by its "messages" button; the "redrive" button moves it
// and the DLQ's visible count changes; a screenshot is saved.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { randomUUID } from "node:crypto";

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const consoleUrl = need("CONSOLE_URL");
const orderId = need("ORDER_ID");
const screenshot = need("SCREENSHOT");
const dlq = process.env.DLQ || "InventoryDeadLetterQueue";
const timeout = Number(process.env.TIMEOUT_MS || 120000);

const HOPS = [
  ["request", "POST /orders"],
  ["delivery", "OrderPlaced → reserve-stock"],
  ["delivery", "StockReserved → capture-payment"],
  ["delivery", "PaymentCaptured → process-orders"],
  ["status", "CONFIRMED"],
];

const step = (what) => console.log(`console test: ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Root in a container has no user namespaces for chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = null;
const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
try {
  step(`opening ${consoleUrl}`);
  await page.goto(consoleUrl, { waitUntil: "load", timeout });
  await page.getByTestId("updated").filter({ hasText: "updated" }).waitFor({ timeout });

  step(`saga of order ${orderId}`);
  await page.getByTestId("saga-input").fill(orderId);
  await page.getByTestId("saga-submit").click();
  for (const [kind, label] of HOPS) {
    const outcome = kind === "delivery" ? '[data-outcome="ok"]' : "";
    const hop = page.locator(`[data-testid="saga-hop"][data-kind="${kind}"][data-label="${label}"]${outcome}`);
    await hop.first().waitFor({ state: "visible", timeout });
    step(`  hop ${label}`);
  }
  const labels = await page.getByTestId("saga-hop").evaluateAll((hs) => hs.map((h) => h.dataset.label));
  const positions = HOPS.map(([, l]) => labels.indexOf(l));
  if (positions.some((p, i) => p < 0 || (i > 0 && p < positions[i - 1]))) {
    throw new Error(`the hops are not in saga order: ${JSON.stringify(labels)}`);
  }
  if (labels[labels.length - 1] !== "CONFIRMED") throw new Error(`CONFIRMED is not the last hop: ${JSON.stringify(labels)}`);

  step(`injecting a message into ${dlq}`);
  const marker = `console-test-${randomUUID()}`;
  const row = page.locator(`[data-testid="queue-row"][data-queue="${dlq}"]`);
  await row.waitFor({ timeout });
  await page.getByTestId("inject-queue").selectOption(dlq);
  await page.getByTestId("inject-body").fill(JSON.stringify({ event_type: "ConsoleTest", marker }));
  await page.getByTestId("inject-submit").click();
  await page.getByTestId("queue-result").filter({ hasText: "injected message" }).waitFor({ timeout });
  const depth = row.getByTestId("queue-depth");
  await page.waitForFunction(
    ([q]) => Number(document.querySelector(`[data-testid="queue-row"][data-queue="${q}"] [data-testid="queue-depth"]`)?.textContent) >= 1,
    [dlq], { timeout, polling: 250 });

  step("listing the DLQ's messages");
  await row.getByTestId("peek").click();
  await page.getByTestId("dlq-message").filter({ hasText: marker }).waitFor({ timeout });
  const before = Number(await depth.textContent());
  step(`  ${before} message(s) visible; redriving`);

  await row.getByTestId("redrive").click();
  await page.getByTestId("queue-result").filter({ hasText: /redrive: moved [1-9]/ }).waitFor({ timeout });
  await page.waitForFunction(
    ([q, n]) => {
      const t = document.querySelector(`[data-testid="queue-row"][data-queue="${q}"] [data-testid="queue-depth"]`)?.textContent;
      return t !== undefined && t !== "?" && Number(t) !== n;
    },
    [dlq, before], { timeout, polling: 250 });
  step(`  ${await depth.textContent()} message(s) visible after the redrive`);

  await page.getByTestId("saga-timeline").scrollIntoViewIfNeeded();
} catch (e) {
  failed = e;
} finally {
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  step(`screenshot ${screenshot}`);
  await browser.close();
}
if (failed) {
  console.error(`console test FAILED: ${failed.stack || failed}`);
  process.exit(1);
}
step("passed");
