// The person who approves: headless Debian chromium, driven by playwright-core, opens an
// approval URL, signs in with a token and presses a button, as an approver would.
//
//   node approver.mjs URL TOKEN approve|deny|look [--reason TEXT] [--screenshot PATH]
//
// Prints one JSON line: {"signed_in": bool, "clicked": "Approve"|"Deny"|null,
// "status": <HTTP status of the last page>, "text": <the page's visible text>}.
// CHROMIUM names the browser binary (default: /usr/bin/chromium, Debian's).
import { chromium } from 'playwright-core';

const [url, token, action, ...rest] = process.argv.slice(2);
const option = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
if (!url || token === undefined || !['approve', 'deny', 'look'].includes(action)) {
  console.error('usage: node approver.mjs URL TOKEN approve|deny|look [--reason TEXT] [--screenshot PATH]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Root in a container has no user namespaces for chromium's sandbox.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const out = { signed_in: false, clicked: null, status: null, text: '' };
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  let response = await page.goto(url);
  out.status = response ? response.status() : null;
  const tokenField = page.getByLabel('Token', { exact: true });
  if (await tokenField.count()) {
    await tokenField.fill(token);
    const [nav] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    out.status = nav ? nav.status() : out.status;
  }
  out.signed_in = (await page.getByLabel('Token', { exact: true }).count()) === 0;
  const name = action === 'approve' ? 'Approve' : action === 'deny' ? 'Deny' : null;
  if (out.signed_in && name) {
    const button = page.getByRole('button', { name, exact: true });
    if (await button.count()) {
      const reason = option('--reason');
      if (name === 'Deny' && reason !== undefined) {
        await page.getByLabel('Reason').fill(reason);
      }
      const [nav] = await Promise.all([page.waitForNavigation(), button.click()]);
      out.clicked = name;
      out.status = nav ? nav.status() : out.status;
    }
  }
  const shot = option('--screenshot');
  if (shot) {
    await page.screenshot({ path: shot, fullPage: true });
  }
  out.text = await page.innerText('body');
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
