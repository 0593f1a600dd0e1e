import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createWebServer, localAppConfig } from '../../infra/local/web-server.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { routeHealth } from '../../lambdas/core/continuity-service.js';

const base = {
  organisation: 'T',
  domains: ['example.com'],
  routes: [{ name: 'p', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 25 }] }],
};

describe('continuity.paging.consoleUrl', () => {
  it('defaults to the local runtime’s console on its listen address and port', () => {
    const config = parseConfig(base, 't');
    expect(config.continuity.paging.consoleUrl).toBe('http://127.0.0.1:8787/console');
    const wide = parseConfig({ ...base, local: { listen: '0.0.0.0', apiPort: 9000 } }, 't');
    expect(wide.continuity.paging.consoleUrl).toBe('http://127.0.0.1:9000/console');
  });

  it('keeps the configured address', () => {
    const config = parseConfig(
      { ...base, continuity: { paging: { consoleUrl: 'https://lb.example.org/console' } } },
      't',
    );
    expect(config.continuity.paging.consoleUrl).toBe('https://lb.example.org/console');
  });
});

describe('createWebServer', () => {
  it('sends a link to /events/<id> (consoleUrl set to the bare origin) to the console’s event page', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-web-'));
    const serve = createWebServer({ distDir: dir, appConfig: () => localAppConfig('http://127.0.0.1:1') });
    const server = http.createServer((req, res) => {
      void serve(req, res).then((served) => {
        if (!served) res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${origin}/events/20261122-0930-ab12`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/console/events/20261122-0930-ab12');
      const bare = await fetch(`${origin}/console`, { redirect: 'manual' });
      expect(bare.headers.get('location')).toBe('/console/');
      // Anything that is not an event id is not redirected.
      const odd = await fetch(`${origin}/events/a/b`, { redirect: 'manual' });
      expect(odd.status).toBe(404);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('routeHealth', () => {
  it('gives each configured route its hosts, whether a hold covers it and its probes’ streaks', () => {
    const config = parseConfig(
      {
        ...base,
        domains: ['example.com', 'example.org'],
        routes: [
          { name: 'exchange', domains: ['example.com'], hosts: [{ host: 'mx1.test' }, { host: 'mx2.test' }] },
          { name: 'google', domains: ['example.org'], hosts: [{ host: 'aspmx.test', port: 587 }] },
        ],
      },
      't',
    );
    const streaks = {
      'exchange/smtp': { failures: 2, successes: 0 },
      'exchange/organic': { failures: 0, successes: 4 },
      'google/smtp': { failures: 0, successes: 9 },
    };
    expect(routeHealth(config.routes, streaks, [{ scope: 'exchange' }])).toEqual([
      {
        name: 'exchange',
        domains: ['example.com'],
        hosts: ['mx1.test:25', 'mx2.test:25'],
        held: true,
        probes: [
          { probe: 'smtp', failures: 2, successes: 0 },
          { probe: 'organic', failures: 0, successes: 4 },
        ],
      },
      {
        name: 'google',
        domains: ['example.org'],
        hosts: ['aspmx.test:587'],
        held: false,
        probes: [{ probe: 'smtp', failures: 0, successes: 9 }],
      },
    ]);
    expect(routeHealth(config.routes, {}, [{ scope: '*' }]).every((r) => r.held)).toBe(true);
  });
});
