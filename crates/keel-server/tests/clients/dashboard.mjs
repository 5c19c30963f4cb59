// The dashboard in a real browser (Debian's chromium, driven headless by puppeteer-core): the administrator
// signs in and sees the server and every database, the chart updates live while a load runs, a screenshot is
// taken; a database's token shows that database alone; a wrong token is refused. Prints measurements to
// stderr and "ok" last.
import puppeteer from "puppeteer-core";

const { KEEL_URL, ADMIN_TOKEN, DB_NAME, DB_TOKEN, SCREENSHOT, CHROMIUM } = process.env;
const check = (condition, message) => { if (!condition) throw new Error(message); };

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  const failures = [];
  page.on("pageerror", (error) => failures.push(String(error)));
  page.on("console", (message) => { if (message.type() === "error") failures.push(message.text()); });
  page.on("response", (response) => { if (response.status() >= 400) failures.push(response.status() + " " + response.url()); });

  await page.goto(KEEL_URL + "/dashboard", { waitUntil: "load" });
  const paint = await page.evaluate(() => new Promise((resolve) => {
    new PerformanceObserver((list) => resolve(list.getEntries().map((p) => [p.name, Math.round(p.startTime)])))
      .observe({ type: "paint", buffered: true });
  }));
  const weight = await page.evaluate(() =>
    performance.getEntriesByType("resource").reduce((sum, r) => sum + r.decodedBodySize, 0)
    + performance.getEntriesByType("navigation")[0].decodedBodySize);
  console.error(`dashboard: first paint ${JSON.stringify(paint)} ms, page weight ${weight} bytes`);
  check(weight < 200 * 1024, `the page weighs ${weight} bytes`);

  // The administrator: the server section and the database, with a chart that moves under the load.
  async function signIn(token) {
    await page.type("#token", token);
    await page.click("#sign-in button[type=submit]");
  }
  await signIn(ADMIN_TOKEN);
  const section = `[data-database="${DB_NAME}"]`;
  await page.waitForSelector(section, { timeout: 15000 });
  check(!(await page.$eval("#server", (s) => s.hidden)), "the administrator sees the server section");
  await page.waitForFunction((section) => {
    const figure = document.querySelector(`${section} [data-figure="commands/s"] .value`);
    return figure && parseFloat(figure.textContent.replace(/,/g, "")) > 0 && Number(document.body.dataset.updates) >= 3;
  }, { timeout: 20000 }, section);
  const updates = Number(await page.$eval("body", (b) => b.dataset.updates));
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const later = Number(await page.$eval("body", (b) => b.dataset.updates));
  check(later >= updates + 1, `updates are pushed (${updates} then ${later})`);
  check(await page.$(`${section} .chart.ops canvas`), "the commands chart is drawn");
  const clients = await page.$$eval(`${section} .clients tbody tr`, (rows) => rows.map((r) => r.textContent));
  check(clients.some((row) => row.includes("dashboard-load")), `the client list shows the load: ${clients}`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const databases = await page.$$eval("[data-database]", (all) => all.map((s) => s.dataset.database));
  check(databases.length >= 2, `the administrator sees every database: ${databases}`);

  // A database's own token: that database, no server section, nothing of another database.
  await page.click("#sign-out");
  await signIn(DB_TOKEN);
  await page.waitForSelector(section, { timeout: 15000 });
  await page.waitForFunction(() => Number(document.body.dataset.updates) > 0);
  const own = await page.$$eval("[data-database]", (all) => all.map((s) => s.dataset.database));
  check(own.length === 1 && own[0] === DB_NAME, `a database's token sees only its database: ${own}`);
  check(await page.$eval("#server", (s) => s.hidden), "a database's token does not see the server");

  check(failures.length === 0, `the page logged errors: ${failures}`);

  // A wrong token is refused, and the page says so.
  await page.click("#sign-out");
  await signIn("not-a-token");
  await page.waitForFunction(() => document.querySelector("#sign-in-error").textContent.length > 0, { timeout: 10000 });
  console.log("ok");
} finally {
  await browser.close();
}
