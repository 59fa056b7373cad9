// The checkout page's script: a plain ES module, run by the browser as it is. It pays through
// tollgate/client (served at /demo/client.js), lists every attempt, and shows the ledger.
import { idempotentFetch, newIdempotencyKey } from './client.js';

/** What is paid. `delayMs` is the sample's slow payment provider, so that fast clicks overlap. */
const CART = { amount: 25, delayMs: 1000 };
/** How many responses of each payment the flaky network loses. */
const LOST_RESPONSES = 2;

const $ = (id) => document.getElementById(id);

/** Every checkout of this page, in order; the last is the one the button pays. */
const checkouts = [];
let clicks = 0;
let pending = 0;
let settled = 0;
/** The ledger as last read. */
let ledger = [];

/** A new checkout (a new cart to pay), with a new key: on load, and when the shopper asks. */
function newCheckout() {
  checkouts.push({ number: checkouts.length + 1, key: newIdempotencyKey(), clicks: 0 });
  const current = checkouts.at(-1);
  $('checkout-number').textContent = String(current.number);
  $('checkout-key').textContent = current.key;
  $('paid').textContent = '';
  $('new-checkout').disabled = true;
  renderCheckouts();
}

/**
 * `fetch` over a flaky network: the request reaches the server and is handled, then its first
 * `count` responses are lost on the way back (a dropped connection, a mobile network switching
 * cells). To the client that is a network failure: it cannot know whether the payment was made.
 */
function losingFetch(count) {
  let lost = 0;
  return async (input, init) => {
    const response = await fetch(input, init);
    if (lost >= count) return response;
    lost += 1;
    await response.body?.cancel();
    const error = new TypeError(`the ${response.status} response was lost on its way back`);
    error.lostStatus = response.status;
    throw error;
  };
}

async function pay() {
  const checkout = checkouts.at(-1);
  const click = ++clicks;
  checkout.clicks += 1;
  pending += 1;
  document.body.dataset.pending = String(pending);
  const flaky = $('flaky').checked;
  status(`click ${click}: paying checkout ${checkout.number}…`);
  try {
    const { response, replayed, attempts } = await idempotentFetch('/payments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CART),
      // One key per checkout, not per click: every click of this checkout is the same payment.
      idempotencyKey: checkout.key,
      timeoutMs: 30_000,
      ...(flaky ? { fetch: losingFetch(LOST_RESPONSES) } : {}),
      onAttempt: (report) => listAttempt(click, report),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      status(
        `click ${click}: paid ${body.id}${replayed ? ' (a replay of the first answer)' : ''} after ${attempts} attempt(s)`,
        'ok',
      );
      // Paid: more clicks on this checkout get the same receipt; a new checkout gets a new key.
      if (checkout === checkouts.at(-1)) {
        $('paid').textContent = `, paid: ${body.id}`;
        $('new-checkout').disabled = false;
      }
    } else {
      status(`click ${click}: ${response.status} ${body.title ?? ''}`.trim(), 'refused');
    }
  } catch (error) {
    // No answer at all: the payment may have been made. The checkout keeps its key, so the next
    // click asks again about the same payment instead of making a second one.
    status(`click ${click}: no answer (${error.message}); pay again to retry safely`, 'refused');
  } finally {
    try {
      await showLedger();
    } finally {
      pending -= 1;
      settled += 1;
      // For the page's own test: how many clicks are still paying, and how many have settled.
      document.body.dataset.pending = String(pending);
      document.body.dataset.settled = String(settled);
    }
  }
}

function listAttempt(click, report) {
  const lost = report.error?.lostStatus;
  const cells = [
    String(click),
    String(report.attempt),
    report.status !== undefined
      ? String(report.status)
      : lost !== undefined
        ? `lost (server answered ${lost})`
        : `network error`,
    report.replayed ? 'yes' : 'no',
    report.key.slice(0, 8),
    report.retryInMs === undefined ? '' : `in ${(report.retryInMs / 1000).toFixed(2)} s`,
  ];
  const row = document.createElement('tr');
  row.dataset.click = String(click);
  row.dataset.key = report.key;
  row.dataset.status = report.status === undefined ? 'lost' : String(report.status);
  row.dataset.replayed = String(report.replayed);
  if (report.status === undefined) row.className = 'lost';
  else if (report.status < 300) row.className = 'ok';
  for (const text of cells) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
  row.cells[4].title = report.key;
  $('attempts').append(row);
}

function status(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

async function showLedger() {
  const response = await fetch('/payments');
  const { count, payments } = await response.json();
  ledger = payments;
  $('ledger-count').textContent = `${count} payment(s) in all.`;
  $('ledger').replaceChildren(
    ...payments.slice(-12).map((payment) => {
      const row = document.createElement('tr');
      row.dataset.key = payment.key;
      for (const text of [payment.id, payment.amount.toFixed(2), payment.key.slice(0, 8)]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      const token = document.createElement('td');
      token.textContent = String(payment.fencingToken);
      row.append(token);
      return row;
    }),
  );
  renderCheckouts();
  document.body.dataset.ledgerCount = String(count);
}

function renderCheckouts() {
  $('checkouts').replaceChildren(
    ...checkouts.map((checkout) => {
      const row = document.createElement('tr');
      row.dataset.key = checkout.key;
      const paid = ledger.filter((payment) => payment.key === checkout.key).length;
      row.dataset.payments = String(paid);
      for (const text of [checkout.number, checkout.key.slice(0, 8), checkout.clicks, paid]) {
        const cell = document.createElement('td');
        cell.textContent = String(text);
        row.append(cell);
      }
      return row;
    }),
  );
}

newCheckout();
$('pay').addEventListener('click', () => void pay());
$('new-checkout').addEventListener('click', newCheckout);
document.body.dataset.pending = '0';
await showLedger();
document.body.dataset.ready = 'true';
