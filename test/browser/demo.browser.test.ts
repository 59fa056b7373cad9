/**
 * The checkout demo (`GET /demo`) in a real browser: headless Chromium from the system's packages,
 * driven by playwright-core, against the built sample processes of every variant. It clicks Pay
 * five times fast, then pays once more through the flaky network, and counts the payments in the
 * ledger: one per checkout. The screenshot in docs/images/demo.png is taken here.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LedgerEntry } from '../../sample-app/src/shared/payments.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

/** CHROMIUM_PATH when set (and then only it), else where Debian and other systems put it. */
const CHROMIUM =
  process.env.CHROMIUM_PATH ||
  ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
const NO_CHROMIUM =
  CHROMIUM === undefined
    ? 'no Chromium found: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH'
    : existsSync(CHROMIUM)
      ? undefined
      : `CHROMIUM_PATH is ${CHROMIUM}, which does not exist`;

const SCREENSHOT = resolve('docs/images/demo.png');

const VARIANTS = [
  { name: 'Nest on Express', entry: 'sample-app/dist/sample-app/src/main.js', screenshot: true },
  { name: 'Nest on Fastify', entry: 'sample-app/dist/sample-app/src/fastify/main.js' },
  { name: 'plain Express', entry: 'sample-app/dist/sample-app/src/express/main.js' },
] as const;

// Without Chromium the test is skipped on a developer's machine, and fails in CI, saying why.
const describeInBrowser = NO_CHROMIUM && !process.env.CI ? describe.skip : describe;
if (NO_CHROMIUM) console.warn(`test/browser: ${NO_CHROMIUM}`);

interface AttemptRow {
  click: number;
  key: string;
  status: string;
  replayed: boolean;
}

// The callbacks below run in the page; the tests are compiled without the DOM's types, so they
// read attributes rather than `dataset`, and wait on an expression.
const attempts = async (page: Page): Promise<AttemptRow[]> => {
  const rows = await page.$$eval('#attempts tr', (elements) =>
    elements.map((row) =>
      ['click', 'key', 'status', 'replayed'].map((name) => row.getAttribute(`data-${name}`) ?? ''),
    ),
  );
  return rows.map(([click, key, status, replayed]) => ({
    click: Number(click),
    key: key ?? '',
    status: status ?? '',
    replayed: replayed === 'true',
  }));
};

/** Waits until `clicks` clicks have settled and none is still paying. */
const settled = (page: Page, clicks: number): Promise<unknown> =>
  page.waitForFunction(
    `document.body.dataset.settled === '${clicks}' && document.body.dataset.pending === '0'`,
    undefined,
    { timeout: 20_000 },
  );

describeInBrowser('the checkout demo in Chromium', () => {
  let browser: Browser;
  const samples = new Map<string, SampleProcess>();

  beforeAll(async () => {
    // Each test then fails with the reason, so the run's count says so too.
    if (NO_CHROMIUM) return;
    // A short lease, as the fault tests use: a stalled payment frees its key within the test.
    const env = { TOLLGATE_LEASE: '2s' };
    const [launched, ...started] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM }),
      ...VARIANTS.map((variant) => startSampleProcess(env, resolve(variant.entry))),
    ]);
    browser = launched as Browser;
    VARIANTS.forEach((variant, i) => samples.set(variant.name, started[i] as SampleProcess));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([...samples.values()].map((sample) => sample.kill('SIGTERM')));
  });

  it.each(VARIANTS)(
    '$name: five fast clicks and a payment through the flaky network make one payment per checkout',
    async (variant) => {
      if (NO_CHROMIUM) throw new Error(`The browser test needs Chromium: ${NO_CHROMIUM}`);
      const { baseUrl } = samples.get(variant.name)!;
      const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('response', (response) => {
        if (response.status() === 404) problems.push(`${response.url()}: 404`);
      });
      page.on('console', (message) => {
        // Chromium logs every 4xx it fetches, the 409s the client retries included: not errors.
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
          problems.push(message.text());
      });
      try {
        await page.goto(`${baseUrl}/demo`);
        await page.waitForSelector('body[data-ready="true"]');
        const firstKey = await page.textContent('#checkout-key');
        expect(firstKey).toMatch(/^[0-9a-f-]{36}$/);

        // Five clicks, fast: five mouse presses in a row, as a frantic user's (five separate
        // click() calls take a CDP round trip each, which a loaded machine can stretch past the
        // provider's 1 s). One pays; the others overlap it.
        const pay = page.locator('#pay');
        await pay.click({ clickCount: 5 });
        await settled(page, 5);
        const rows = await attempts(page);
        expect(new Set(rows.map((row) => row.key))).toEqual(new Set([firstKey]));
        // Every click ends with the payment: one answer that ran it, four replays of it.
        const last = [1, 2, 3, 4, 5].map((click) =>
          rows.filter((row) => row.click === click).at(-1),
        );
        expect(last.map((row) => row?.status)).toEqual(['201', '201', '201', '201', '201']);
        expect(last.filter((row) => !row?.replayed)).toHaveLength(1);
        // The overlapping clicks met "in progress" and were retried with the same key.
        expect(rows.filter((row) => row.status === '409').length).toBeGreaterThan(0);

        // A new checkout, paid through a network that loses the first two responses.
        await page.click('#new-checkout');
        const secondKey = await page.textContent('#checkout-key');
        expect(secondKey).not.toBe(firstKey);
        await page.check('#flaky');
        await pay.click();
        await settled(page, 6);
        const flaky = (await attempts(page)).filter((row) => row.click === 6);
        expect(flaky.map((row) => [row.key, row.status, row.replayed])).toEqual([
          [secondKey, 'lost', false],
          [secondKey, 'lost', false],
          [secondKey, '201', true],
        ]);

        // The ledger, from the server and as the page shows it: one payment per checkout.
        const ledger = (await (await fetch(`${baseUrl}/payments`)).json()) as {
          count: number;
          payments: LedgerEntry[];
        };
        const paid = (key: string | null) =>
          ledger.payments.filter((entry) => entry.key === key).length;
        expect([paid(firstKey), paid(secondKey)]).toEqual([1, 1]);
        const shown = await page.$$eval('#checkouts tr', (rows) =>
          rows.map((row) => [row.getAttribute('data-key'), row.getAttribute('data-payments')]),
        );
        expect(shown.slice(0, 2)).toEqual([
          [firstKey, '1'],
          [secondKey, '1'],
        ]);
        expect(await page.getAttribute('body', 'data-ledger-count')).toBe(String(ledger.count));
        expect(problems).toEqual([]);

        if ('screenshot' in variant) {
          mkdirSync(dirname(SCREENSHOT), { recursive: true });
          await page.screenshot({ path: SCREENSHOT, fullPage: true });
        }
      } finally {
        await context.close();
      }
    },
    45_000,
  );
});
