import { describe, expect, it } from 'vitest';
import type { ContinuityEvent, FlowPoint, NotificationRecord } from '../../lambdas/console/schemas.js';
import { MfaRequiredError } from '../../lambdas/core/admin-mfa.js';
import { MIN_VISIBLE_BUCKETS, visiblePoints } from '../../web/src/console/flow-window.js';
import { parseView, viewPath } from '../../web/src/console/route.js';
import { parseValue, valueText } from '../../web/src/console/setting-values.js';
import { timelineOf } from '../../web/src/console/timeline.js';
import { explainCode, outcomeWords } from '../../web/src/console/words.js';
import { returnPath } from '../../web/src/mail/return-path.js';

const EVENT: ContinuityEvent = {
  id: '20261122T093000-ab12',
  openedAt: '2026-11-22T09:30:00.000Z',
  closedAt: '2026-11-22T11:02:00.000Z',
  state: 'normal',
  openedBy: 'probe',
  scope: '*',
  evidence: [
    {
      probe: 'smtp',
      route: 'exchange',
      ok: false,
      detail: 'mx1:25 ECONNREFUSED',
      figures: { hostsUp: 0, hosts: 1 },
      at: '2026-11-22T09:30:00.000Z',
    },
  ],
  acknowledgedAt: '2026-11-22T09:34:00.000Z',
  acknowledgedBy: 'alice@example.com',
  invokedAt: '2026-11-22T09:35:00.000Z',
  invokedBy: 'alice@example.com',
  invokeMode: 'manual',
  revokedAt: '2026-11-22T11:00:00.000Z',
  revokedBy: 'bob@example.com',
  lastPagedAt: '2026-11-22T09:30:00.000Z',
  pages: 1,
  recoveredAt: '2026-11-22T10:55:00.000Z',
  scheduledStart: null,
  scheduledEnd: null,
  reason: 'Exchange is down',
  handover: {
    startedAt: '2026-11-22T11:00:00.000Z',
    total: 40,
    released: 40,
    finishedAt: '2026-11-22T11:02:00.000Z',
  },
};

function note(n: Partial<NotificationRecord>): NotificationRecord {
  return {
    id: `n${Math.random()}`,
    at: '2026-11-22T09:30:01.000Z',
    channel: 'sms',
    audience: 'admins',
    to: ['+447700900901'],
    subject: '',
    text: '',
    eventId: EVENT.id,
    notice: 'alert',
    ...n,
  };
}

describe('timelineOf', () => {
  it('tells the event’s steps in order with who did each, pages grouped by notice', () => {
    const items = timelineOf(EVENT, [
      note({}),
      note({ channel: 'email', to: ['oncall@ops.example'] }),
      note({
        at: '2026-11-22T09:35:01.000Z',
        audience: 'staff',
        notice: 'staff-invoked',
        to: ['+1', '+2', '+3'],
      }),
      note({ eventId: 'another-event', notice: 'repeat' }),
    ]);
    expect(items.map((i) => [i.what, i.who ?? null])).toEqual([
      ['Detected by the probes', null],
      ['Admins paged', null],
      ['Acknowledged', 'alice@example.com'],
      ['Continuity invoked', 'alice@example.com'],
      ['Staff texted where to read mail', null],
      ['Primary accepts mail again', null],
      ['Continuity revoked', 'bob@example.com'],
      ['Hand-over started', null],
      ['Handed over', null],
      ['All clear: event closed', null],
    ]);
    expect(items[1]?.detail).toBe('Sent to 1 by SMS and 1 by email.');
    expect(items[3]?.detail).toBe('every route · Exchange is down');
    expect(items[8]?.detail).toBe('40 released to the primary in 2 min');
  });

  it('puts each extension of a planned window on the timeline, with who and the new end', () => {
    const items = timelineOf(
      {
        ...EVENT,
        extensions: [
          {
            at: '2026-11-22T10:00:00.000Z',
            by: 'carol@example.com',
            hours: 2,
            from: '2026-11-22T11:00:00.000Z',
            to: '2026-11-22T13:00:00.000Z',
          },
        ],
      },
      [],
    );
    const extended = items.find((i) => i.what === 'Extended by 2 hours');
    expect(extended).toMatchObject({ who: 'carol@example.com', kind: 'act' });
    expect(extended?.detail).toMatch(/^Planned end .+ \(was .+\)$/);
    // In order: after the invocation, before flow was restored.
    const order = items.map((i) => i.what);
    expect(order.indexOf('Extended by 2 hours')).toBe(order.indexOf('Continuity invoked') + 1);
  });

  it('tells the staff notices, replays and drill steps tied to the event, once each', () => {
    const items = timelineOf(
      EVENT,
      [note({ at: '2026-11-22T09:40:00.000Z', audience: 'staff', notice: 'staff-notice', to: ['+1', '+2'] })],
      {
        notices: [
          {
            id: 'n-1',
            createdAt: '2026-11-22T09:40:00.000Z',
            createdBy: 'alice@example.com',
            template: null,
            audience: { kind: 'groups', groups: ['sales'] },
            channels: ['sms'],
            texts: { sms: null, email: null },
            eventId: EVENT.id,
            state: 'done',
            finishedAt: '2026-11-22T09:40:02.000Z',
            counts: { queued: 0, sent: 2, failed: 1, skipped: 0 },
          },
        ],
        replays: [
          {
            id: '20261122T120000-0a1b2c',
            state: 'finished',
            createdAt: '2026-11-22T11:05:00.000Z',
            createdBy: 'bob@example.com',
            updatedAt: '2026-11-22T11:06:00.000Z',
            window: { from: '2026-11-21T09:00:00.000Z', to: '2026-11-22T09:00:00.000Z' },
            mailboxes: null,
            route: null,
            eventId: EVENT.id,
            reason: null,
            skipIds: 3,
            progress: {
              total: 10,
              done: 10,
              sent: 7,
              present: 3,
              outOfScope: 0,
              failed: 0,
              position: null,
              ratePerSecond: null,
            },
            retryAt: null,
            error: null,
            startedAt: '2026-11-22T11:05:00.000Z',
            finishedAt: '2026-11-22T11:06:00.000Z',
          },
        ],
        drills: [
          {
            id: 'd-1',
            state: 'completed',
            scope: { kind: 'route', route: 'test' },
            holdScope: 'test',
            production: false,
            auto: true,
            reason: null,
            startedAt: '2026-11-22T09:29:00.000Z',
            startedBy: 'alice@example.com',
            finishedAt: '2026-11-22T11:02:00.000Z',
            eventId: EVENT.id,
            steps: [
              { step: 'started', at: '2026-11-22T09:29:00.000Z', by: 'alice@example.com', detail: null },
              { step: 'first-sign-in', at: null, by: null, detail: null },
            ],
            probes: { count: 3, messageIds: [], held: 0, delivered: 3 },
            cancelledBy: null,
            outcome: null,
            report: null,
          },
        ],
      },
    );
    const told = items.map((i) => i.what);
    expect(told.filter((w) => /notice|Staff/.test(w))).toEqual(['Staff notice sent to group sales']);
    expect(items.find((i) => i.what === 'Staff notice sent to group sales')).toMatchObject({
      who: 'alice@example.com',
      detail: 'Own words: 2 sent, 1 NOT SENT',
      kind: 'problem',
    });
    expect(told).toContain('Replay of the archive started');
    expect(items.find((i) => i.what === 'Replay finished')?.detail).toBe('7 sent, 3 skipped, 0 failed');
    expect(told[0]).toBe('Drill: Drill started (outage simulated for the scope)');
    expect(told.filter((w) => w.startsWith('Drill:'))).toHaveLength(1);
  });

  it('marks a page the notifier refused, with its error', () => {
    const [, page] = timelineOf({ ...EVENT, acknowledgedAt: null }, [
      note({ error: 'SMS sandbox: +447700900901 is not verified' }),
    ]);
    expect(page?.kind).toBe('problem');
    expect(page?.detail).toContain('NOT SENT: sms: SMS sandbox');
  });
});

describe('parseView', () => {
  it('reads the link in an admin’s page as the event’s view, and every view back from its path', () => {
    expect(parseView('/console/events/20261122T093000-ab12')).toEqual({
      name: 'event',
      id: '20261122T093000-ab12',
    });
    const views = [
      { name: 'status' },
      { name: 'events' },
      { name: 'event', id: 'ev-1' },
      { name: 'delivery', messageId: '0100018f.ab', recipient: 'alice@example.com' },
      { name: 'quarantine' },
      { name: 'notices' },
      { name: 'notice', id: 'n-1' },
      { name: 'replays' },
      { name: 'replay', id: '20261122T110000-0a1b2c' },
      { name: 'drills' },
      { name: 'drill', id: 'd-1' },
      { name: 'settings' },
    ] as const;
    for (const v of views) {
      const url = new URL(viewPath(v), 'https://lifeboat.example');
      expect(parseView(url.pathname, url.search)).toEqual(v);
    }
    // An address ends in a TLD the server would take for a file extension: it rides in the query.
    expect(viewPath(views[3])).toBe('/console/delivery?message=0100018f.ab&recipient=alice%40example.com');
    const queue = parseView('/console/queue', '?state=deferred&route=exchange');
    expect(queue.name === 'queue' && queue.params.get('route')).toBe('exchange');
    expect(parseView('/console/nothing/here').name).toBe('missing');
  });
});

describe('returnPath', () => {
  it('brings the user back to a path of the same app, and nowhere else', () => {
    expect(returnPath('/console/', '/console/events/ev-1')).toBe('/console/events/ev-1');
    expect(returnPath('/mail/', '#/m/abc')).toBe('/mail/#/m/abc');
    expect(returnPath('/mail/', '')).toBe('/mail/');
    for (const bad of [
      '//evil.example/console/',
      '/mail/',
      '/console/../admin',
      'https://evil.example',
      42,
    ]) {
      expect(returnPath('/console/', bad)).toBe('/console/');
    }
  });
});

describe('outcomeWords', () => {
  it('says what was done and why each refused delivery was refused, in plain words', () => {
    const words = outcomeWords('bounce', {
      action: 'bounce',
      done: 1,
      refused: 1,
      results: [
        { messageId: 'm1', recipient: 'a@example.com', ok: true, state: 'failed' },
        {
          messageId: 'm2',
          recipient: 'b@example.com',
          ok: false,
          error: { code: 'NULL_SENDER', message: 'delivery m2 has a null envelope sender (<>)' },
        },
      ],
    });
    expect(words).toEqual({
      summary: 'Bounce: done for 1, refused for 1.',
      refusals: ['b@example.com: This message has no sender to bounce to (<>).'],
    });
    expect(explainCode('CONTINUITY_STATE', 'continuity is not invoked')).toBe('Continuity is not invoked.');
    // The admin API's refusal of an admin without a second factor says how to set one up.
    const mfa = new MfaRequiredError('alice@example.com', 'the token says nothing of a second factor');
    expect(explainCode(mfa.code, mfa.message)).toMatch(
      /^Administrators sign in here with a second factor\. alice@example\.com signed in without a second factor .+lifeboat users totp alice@example\.com.+and sign in again\.$/,
    );
  });
});

describe('visiblePoints', () => {
  const none = { count: 0, p50: null, p95: null, mean: null };
  /** A six-hour minute series, empty but for `busy` minutes at the end. */
  function series(busy: number): FlowPoint[] {
    return Array.from({ length: 360 }, (_, i) => ({
      start: new Date(Date.UTC(2026, 10, 22, 6, i)).toISOString(),
      accepted: i >= 360 - busy ? 2 : 0,
      delivered: i >= 360 - busy ? 2 : 0,
      deferred: 0,
      failed: 0,
      latencySeconds: none,
      smtpMs: none,
      probeRttSeconds: none,
      depth: null,
    }));
  }

  it('starts the charts just before the first minute with mail when the gateway is newer than the range', () => {
    const shown = visiblePoints(series(20));
    expect(shown).toHaveLength(21);
    expect(shown[0]?.accepted).toBe(0);
    expect(shown[1]?.accepted).toBe(2);
    expect(shown.at(-1)?.start).toBe(series(20).at(-1)?.start);
  });

  it('keeps a few buckets so a line has a shape, and the whole range when it is full or empty', () => {
    expect(visiblePoints(series(2))).toHaveLength(MIN_VISIBLE_BUCKETS);
    expect(visiblePoints(series(360))).toHaveLength(360);
    expect(visiblePoints(series(0))).toHaveLength(360);
  });
});

describe('parseValue', () => {
  it('reads what an admin typed as the value the setting takes, and says what is wrong otherwise', () => {
    expect(parseValue('integer', ' 5 ', false)).toEqual({ value: 5 });
    expect(parseValue('integer', '2.5', false)).toEqual({ problem: 'Type a whole number.' });
    expect(parseValue('ratio', '0.4', false)).toEqual({ value: 0.4 });
    expect(parseValue('ratio', '40', false)).toHaveProperty('problem');
    expect(parseValue('integer-or-null', '', true)).toEqual({ value: null });
    expect(parseValue('phones', '+447700900901\n +447700900902, ', false)).toEqual({
      value: ['+447700900901', '+447700900902'],
    });
    expect(valueText(null)).toBe('off');
    expect(valueText(['sales', 'ops'])).toBe('sales, ops');
  });
});
