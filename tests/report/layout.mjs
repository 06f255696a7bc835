// Opens a gpufleet HTML report in Debian's chromium (headless) through playwright-core, waits for every plotly
// chart to be drawn, saves screenshots (first screen and full page), and prints one JSON object of layout facts
// the Python test asserts on. Usage: node layout.mjs REPORT.html OUT_DIR
import { chromium } from "playwright-core";

const [report, outDir] = process.argv.slice(2);
const VIEW = { width: 1400, height: 900 };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const page = await (await browser.newContext({ viewport: VIEW })).newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto("file://" + report, { waitUntil: "load", timeout: 60000 });
await page.waitForFunction(
  () => [...document.querySelectorAll(".js-plotly-plot")].every((d) => d.querySelector(".main-svg")),
  null,
  { timeout: 60000 },
);
await page.waitForTimeout(300);
await page.screenshot({ path: `${outDir}/report-first-screen.png` });
await page.screenshot({ path: `${outDir}/report-full.png`, fullPage: true });

const facts = await page.evaluate((view) => {
  // text boxes of one chart that a reader must be able to read: legend entries, axis titles, tick labels,
  // the chart title; two of them overlapping (by more than a pixel either way) is a layout fault
  const SEL = ".legendtext, .g-xtitle text, .g-ytitle text, .g-y2title text, .xtick text, .ytick text, .y2tick text, .gtitle";
  const overlaps = [];
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    const boxes = [...plot.querySelectorAll(SEL)]
      .filter((e) => e.textContent.trim() !== "")
      .map((e) => ({ text: e.textContent.trim(), cls: e.closest("[class]")?.getAttribute("class"), r: e.getBoundingClientRect() }))
      .filter((b) => b.r.width > 0 && b.r.height > 0);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) {
          overlaps.push({ chart: plot.id, a: boxes[i].text, b: boxes[j].text });
        }
      }
    }
  }
  const ranges = [...document.querySelectorAll(".js-plotly-plot")].map((p) => {
    const l = p._fullLayout;
    const axes = Object.keys(l).filter((k) => /^[xy]axis\d*$/.test(k));
    return { chart: p.id, axes: Object.fromEntries(axes.map((k) => [k, { range: l[k].range, type: l[k].type }])) };
  });
  const summary = document.querySelector("#executive-summary");
  const body = document.body.innerText;
  const bad = ["undefined", "NaN", "object at 0x"].filter((w) => body.includes(w));
  // every figure the page marks as money, and every "$…" in its text
  const money = [...document.querySelectorAll(".usd")].map((e) => e.textContent.trim());
  const dollarsInText = body.match(/\$[^\s)<,;]*(?:,\d{3})*(?:\.\d+)?/g) || [];
  const links = [...document.querySelectorAll("#executive-summary a[href^='#']")].map((a) => ({
    href: a.getAttribute("href"),
    target: !!document.getElementById(a.getAttribute("href").slice(1)),
  }));
  return {
    charts: document.querySelectorAll(".js-plotly-plot").length,
    summaryTop: summary ? summary.getBoundingClientRect().top : null,
    summaryText: summary ? summary.innerText : null,
    viewportHeight: view.height,
    overlaps,
    ranges,
    bad,
    money,
    dollarsInText,
    links,
  };
}, VIEW);
facts.errors = errors;
console.log(JSON.stringify(facts));
await browser.close();
