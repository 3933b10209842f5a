/**
 * The Traffic Inspector page in a real browser: Chromium (/usr/bin/chromium, driven by
 * playwright-core) opens the edge's console, signs in with an API key, sees a request that was
 * just sent appear in the live list, opens its detail (headers, bodies, policy decisions,
 * member, region), and replays it — plain and edited — while the upstream checks it got the
 * replays (`meshgate-replay-of`). Request data with HTML in it must show as text. Screenshots go
 * to test-output/ui/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ACME_KEY, GLOBEX_KEY } from '../helpers/admin-cluster.js';
import { eventually, send, startAgent, startEdge, type EdgeHandle } from '../helpers/gateway.js';
import { REPO_ROOT, stopAll } from '../helpers/procs.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = join(REPO_ROOT, 'test-output', 'ui');

const POLICY = `
on_http_request:
  - name: orders
    expressions: ["req.url.path.startsWith('/orders')"]
    actions:
      - type: add-headers
        config: {headers: {x-route: orders}}
`;

describe('console page: Traffic Inspector in Chromium', function () {
  this.timeout(90_000);
  let edge: EdgeHandle;
  let up: RecordingUpstream;
  let consoleUrl = '';
  let browser: BrowserContext;
  let page: Page;
  let profile = '';

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: make test-deps installs it (apt-get install chromium)`);
    mkdirSync(OUT, { recursive: true });
    up = await startRecordingUpstream();
    edge = await startEdge(
      `
region: eu
node_id: eu-console
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", console: "127.0.0.1:0"}
accounts:
  - {name: acme, authtokens: [tok_acme], api_keys: [${ACME_KEY}], inspect: {full: true}}
  - {name: globex, authtokens: [tok_globex], api_keys: [${GLOBEX_KEY}]}
`,
      { 'policy.yml': POLICY },
    );
    consoleUrl = `http://${edge.proc.logs().find((l) => l.msg === 'ready')!.listeners.console}`;
    await startAgent('ui-agent', { upstreamPort: up.port, url: 'http://shop.example.com', edge, authtoken: 'tok_acme', policyFile: join(edge.dir, 'policy.yml') });
    await eventually('the agent serves', async () => (await send(edge.http, 'shop.example.com', '/ping')).status === 200);
    profile = mkdtempSync(join(tmpdir(), 'meshgate-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 900 },
      timeout: 30_000,
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });
  after(async () => {
    await browser?.close();
    await stopAll();
    await up?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (edge) rmSync(edge.dir, { recursive: true, force: true });
  });

  it('refuses a wrong API key with the reason', async () => {
    await page.goto(`${consoleUrl}/`);
    assert.equal(new URL(page.url()).pathname, '/inspect', '/ leads to the inspector');
    await page.getByTestId('api-key').fill('not-a-key-0123456789');
    await page.getByTestId('sign-in').click();
    await page.getByText('this API key is unknown or revoked').waitFor();
  });

  it('shows a request just sent, opens its detail, and replays it to the upstream', async () => {
    await page.getByTestId('api-key').fill(ACME_KEY);
    await page.getByTestId('sign-in').click();
    await page.getByTestId('request-list').waitFor({ state: 'attached' });

    // sent after the page is open: the live list must pick it up
    const path = `/orders/${Math.random().toString(36).slice(2, 8)}`;
    const evil = '<img src=x onerror="window.__pwned=1">';
    const body = JSON.stringify({ item: 'book', qty: 2, note: '<b>bold?</b>' });
    const sent = await send(edge.http, 'shop.example.com', path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-evil': evil } });
    assert.equal(sent.status, 200);
    const row = page.locator('[data-testid=request-row]', { hasText: path });
    await row.waitFor();
    assert.match(await row.innerText(), /POST[\s\S]*200[\s\S]*eu[\s\S]*agent · eu/);
    const id = await row.getAttribute('data-id');
    assert.match(id ?? '', /^req_/);

    await row.click();
    const detail = page.getByTestId('detail');
    await detail.getByText(`http://shop.example.com${path}`).waitFor();
    await detail.getByText(id!, { exact: true }).waitFor();
    const text = await detail.innerText();
    assert.match(text, /Received by\s+edge eu-console · region eu/);
    assert.match(text, /Served by\s+ep_\w+ · agent · region eu · node eu-console · http:\/\/shop\.example\.com/);
    assert.match(text, /Trace id/);
    assert.match(text, /on_http_request\[0\]\s+orders · matched/);
    assert.match(text, /add-headers/);
    // request data shows as text, never as markup
    await detail.getByText(evil, { exact: true }).waitFor();
    assert.match(await page.getByTestId('request-body').innerText(), /"note": "<b>bold\?<\/b>"/);
    assert.equal(await detail.locator('img, b').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    await page.screenshot({ path: join(OUT, 'console-inspector-detail.png') });

    await page.getByTestId('replay').click();
    const result = page.getByTestId('replay-result');
    await result.getByText(/replayed as req_/).waitFor();
    assert.match(await result.innerText(), /^200 replayed as req_\w+ on edge eu-console \(eu\)/);
    const seen = await up.waitFor((s) => s.headers['meshgate-replay-of'] === id);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, path);
    assert.equal(seen.head, body);
    assert.equal(seen.headers['x-route'], 'orders');
    // the replay shows up in the list, marked
    await page.locator('[data-testid=request-row]', { hasText: 'replay' }).first().waitFor();
    await page.screenshot({ path: join(OUT, 'console-inspector-replayed.png') });
  });

  it('replays an edited request (Edit & replay)', async () => {
    const row = page.locator('[data-testid=request-row]', { hasText: '/orders/' }).last();
    const id = (await row.getAttribute('data-id'))!;
    await row.click();
    await page.getByTestId('detail').getByText(id, { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Edit & replay' }).click();
    const form = page.locator('#edit');
    await form.locator('input').nth(1).fill('/orders/edited?from=ui');
    await form.locator('textarea').nth(1).fill('{"edited":true}');
    await page.getByRole('button', { name: 'Send changed request' }).click();
    await page.getByTestId('replay-result').getByText(/replayed as req_/).waitFor();
    const seen = await up.waitFor((s) => s.headers['meshgate-replay-of'] === id && s.url === '/orders/edited?from=ui');
    assert.equal(seen.head, '{"edited":true}');
    assert.equal(seen.headers['x-evil'], '<img src=x onerror="window.__pwned=1">', 'the other headers are kept');
  });

  it("shows another account's key none of these requests", async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('api-key').fill(GLOBEX_KEY);
    await page.getByTestId('sign-in').click();
    await page.getByText('Requests to your endpoints show up here as they arrive.').waitFor();
    assert.equal(await page.locator('[data-testid=request-row]').count(), 0);
  });
});
