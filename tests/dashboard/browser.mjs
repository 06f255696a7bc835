// Loads every dashboard page in Debian's chromium (headless) through playwright-core, waits until Streamlit
// has finished running the page and its plotly charts are drawn, saves a screenshot, and prints one JSON line
// per page: {page, title, charts, errors, stray, deploy}: `stray` lists the lines of the page's text that show an
// object's repr or Streamlit's DeltaGenerator docstring, `deploy` counts Deploy buttons in the toolbar.
// Usage: node browser.mjs BASE_URL OUT_DIR page1 page2 ...
import { chromium } from "playwright-core";

const [base, outDir, ...pages] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
for (const page of pages) {
  const p = await ctx.newPage();
  const url = page === "fleet" ? base + "/" : `${base}/${page}`;
  const result = { page, url, title: null, charts: 0, errors: [], stray: [], deploy: null };
  try {
    await p.goto(url, { waitUntil: "domcontentloaded", timeout: 60000 });
    await p.waitForSelector("h1", { timeout: 90000 });
    // Streamlit shows a status widget while the script runs; wait until it is gone, then for the charts
    await p.waitForFunction(() => !document.querySelector('[data-testid="stStatusWidget"]'), null, { timeout: 120000 });
    if (page !== "whatif") {
      await p.waitForSelector(".js-plotly-plot .main-svg", { timeout: 60000 });
    }
    await p.waitForTimeout(500);
    result.title = await p.locator("h1").first().innerText();
    result.charts = await p.locator(".js-plotly-plot").count();
    result.errors = await p.locator('[data-testid="stException"]').allInnerTexts();
    // the rendered text as a reader sees it, help boxes included
    const text = await p.evaluate(() => document.body.innerText);
    result.stray = text.split("\n").filter((l) => /object at 0x|DeltaGenerator/.test(l));
    result.stray.push(...(await p.locator('[data-testid="stHelp"], [data-testid="stDocstring"]').allInnerTexts()));
    result.deploy = await p.locator('[data-testid="stAppDeployButton"], button:has-text("Deploy")').count();
    await p.screenshot({ path: `${outDir}/${page}.png`, fullPage: true });
  } catch (e) {
    result.errors.push(String(e));
    await p.screenshot({ path: `${outDir}/${page}-failed.png`, fullPage: true }).catch(() => {});
  }
  console.log(JSON.stringify(result));
  await p.close();
}
await browser.close();
