import { describe, expect, it } from 'vitest';
import { smsCost } from '../../lambdas/console/notices.js';
import type { ConfigInput } from '../../lambdas/core/config.js';
import type { ContinuityEvent, Evidence, Notice } from '../../lambdas/core/continuity.js';
import { composeNotice, SMS_MAX_CHARS } from '../../lambdas/core/notices.js';
import { testConfig } from '../support/fixtures.js';

type ContinuityInput = NonNullable<ConfigInput['continuity']>;

/** A realistic deployment: a long organisation name and a console on its own host name. */
function configWith(continuity: ContinuityInput = {}, organisation = 'Northwind Traders Holdings Ltd') {
  return testConfig({
    organisation,
    continuity: {
      ...continuity,
      paging: {
        adminPhones: ['+447700900123', '+447700900456'],
        adminEmails: ['oncall@northwind-alerts.example.org'],
        consoleUrl: 'https://lifeboat-console.northwind-traders.example.org/',
        ...continuity.paging,
      },
      staff: {
        phones: ['+447700900789'],
        webmailUrl: 'https://lifeboat-console.northwind-traders.example.org/mail',
        ...continuity.staff,
      },
    },
  });
}

const link = 'https://lifeboat-console.northwind-traders.example.org/events/20261122T100100-a1b2c3';

/** What an SMTP check records against a primary that answers with a long, chatty refusal. */
const longDetail =
  'mx1.cloud.test:587 421 4.3.2 The service is not available at the moment because the mailbox servers are undergoing scheduled maintenance, please try again later (ref 7f3a9c); mx2.cloud.test:587 connect ETIMEDOUT';

function evidence(overrides: Partial<Evidence> = {}): Evidence {
  return {
    probe: 'smtp',
    route: 'cloud',
    ok: false,
    detail: longDetail,
    figures: { hostsUp: 0, hosts: 2, latencyMs: 30_000 },
    at: '2026-11-22T10:01:00.000Z',
    ...overrides,
  };
}

function event(overrides: Partial<ContinuityEvent> = {}): ContinuityEvent {
  return {
    id: '20261122T100100-a1b2c3',
    openedAt: '2026-11-22T10:01:00.000Z',
    closedAt: null,
    state: 'alerting',
    openedBy: 'probe',
    scope: '*',
    evidence: [
      evidence({ at: '2026-11-22T10:00:00.000Z', detail: 'mx1.cloud.test:587 connect ECONNREFUSED' }),
      evidence(),
    ],
    acknowledgedAt: null,
    acknowledgedBy: null,
    invokedAt: null,
    invokedBy: null,
    invokeMode: null,
    revokedAt: null,
    revokedBy: null,
    lastPagedAt: '2026-11-22T10:01:00.000Z',
    pages: 1,
    recoveredAt: null,
    scheduledStart: null,
    scheduledEnd: null,
    reason: null,
    handover: null,
    ...overrides,
  };
}

const invoked = event({
  state: 'continuity',
  invokedAt: '2026-11-22T10:20:00.000Z',
  invokedBy: 'operations.duty-manager@northwind-traders.example.org',
  invokeMode: 'manual',
});

/** Every notice, on an event in the state it is sent in. */
const everyNotice: Array<[Notice, ContinuityEvent]> = [
  ['alert', event()],
  ['repeat', event({ pages: 12 })],
  ['all-clear', event({ state: 'normal', closedAt: '2026-11-22T10:05:00.000Z' })],
  ['invoked', invoked],
  ['flow-restored', { ...invoked, recoveredAt: '2026-11-22T11:00:00.000Z' }],
  [
    'revoked',
    {
      ...invoked,
      state: 'recovering',
      revokedAt: '2026-11-22T12:00:00.000Z',
      revokedBy: 'operations.duty-manager@northwind-traders.example.org',
    },
  ],
  [
    'recovered',
    {
      ...invoked,
      state: 'normal',
      closedAt: '2026-11-22T12:10:00.000Z',
      handover: {
        startedAt: '2026-11-22T12:00:00.000Z',
        total: 18_342,
        released: 18_342,
        finishedAt: '2026-11-22T12:10:00.000Z',
      },
    },
  ],
  [
    'scheduled',
    event({
      state: 'normal',
      openedBy: 'schedule',
      evidence: [],
      scheduledStart: '2026-11-28T22:00:00.000Z',
      scheduledEnd: '2026-11-29T02:00:00.000Z',
    }),
  ],
];

const smsTo = (notice: Notice, e: ContinuityEvent, config = configWith()) =>
  composeNotice(notice, e, config).find((d) => d.channel === 'sms' && d.audience === 'admins');

describe('composeNotice', () => {
  describe('admin SMS', () => {
    it.each(everyNotice)('keeps the %s text within one 160-character segment', (notice, e) => {
      const sms = smsTo(notice, e);
      expect(sms?.text.length).toBeLessThanOrEqual(SMS_MAX_CHARS);
    });

    it.each(everyNotice)('ends the %s text with the whole one-click link to the event', (notice, e) => {
      expect(smsTo(notice, e)?.text.endsWith(link)).toBe(true);
    });

    it.each(everyNotice)(
      'writes the %s text in GSM-7 characters only, so it is not sent as UCS-2',
      (notice, e) => {
        // U+2026 '…' and other non-GSM characters make the whole SMS UCS-2: 70 characters a segment.
        expect(smsTo(notice, e)?.text).toMatch(/^[ -~]*$/);
        expect(smsTo(notice, e)?.text).not.toContain('…');
      },
    );

    const shortConsole = { paging: { consoleUrl: 'https://lb.example.org' } };

    it('says in the alert what failed, clipped to fit', () => {
      const sms = smsTo('alert', event(), configWith(shortConsole, 'Acme'))!;
      expect(sms.text).toMatch(
        /^Lifeboat Acme: primary mail failing \(cloud: smtp mx1\.cloud\.test:587 421 4\.3\.2 .+\.\.\.\)\. Invoke: https:\/\/lb\.example\.org\/events\/20261122T100100-a1b2c3$/,
      );
      expect(sms.text).toHaveLength(SMS_MAX_CHARS);
    });

    it('sends the whole evidence detail when it fits', () => {
      const short = event({ evidence: [evidence({ detail: 'mx1.cloud.test:587 connect ECONNREFUSED' })] });
      expect(smsTo('alert', short, configWith(shortConsole, 'Acme'))?.text).toBe(
        'Lifeboat Acme: primary mail failing (cloud: smtp mx1.cloud.test:587 connect ECONNREFUSED). Invoke: https://lb.example.org/events/20261122T100100-a1b2c3',
      );
    });

    it('numbers repeated pages', () => {
      const sms = smsTo('repeat', event({ pages: 3 }))!;
      expect(sms.text.startsWith('REPEAT 3: Lifeboat Northwind Traders Holdings Ltd')).toBe(true);
      expect(sms.subject).toBe(
        'REPEAT 3: Lifeboat ALERT Northwind Traders Holdings Ltd: primary mail failing',
      );
    });

    it('names the reason of an alert-less event when there is no probe evidence', () => {
      const e = event({ evidence: [], openedBy: 'admin', reason: 'server room flooded' });
      expect(smsTo('alert', e, configWith({}, 'Acme'))?.text).toContain('(server room flooded)');
    });

    it('says who invoked continuity, or that it was automatic or scheduled', () => {
      const config = configWith({}, 'Acme');
      const by = (e: ContinuityEvent) => smsTo('invoked', e, config)?.text;
      expect(by({ ...invoked, invokedBy: 'ops@example.org' })).toContain(
        'continuity invoked by ops@example.org.',
      );
      expect(by({ ...invoked, invokeMode: 'auto', invokedBy: 'lifeboat' })).toContain(
        'continuity invoked automatically.',
      );
      expect(by({ ...invoked, invokeMode: 'scheduled', invokedBy: 'lifeboat' })).toContain(
        'continuity invoked as scheduled.',
      );
    });

    it('goes to every admin phone at once', () => {
      expect(smsTo('alert', event())?.to).toEqual(['+447700900123', '+447700900456']);
    });

    it('is not composed when no admin phones are configured', () => {
      const config = configWith({ paging: { adminPhones: [] } });
      const drafts = composeNotice('alert', event(), config);
      expect(drafts.map((d) => [d.channel, d.audience])).toEqual([['email', 'admins']]);
    });
  });

  describe('admin email', () => {
    it('carries the evidence of the alert, newest last, with time, route and probe', () => {
      const email = composeNotice('alert', event(), configWith()).find((d) => d.channel === 'email')!;
      expect(email.to).toEqual(['oncall@northwind-alerts.example.org']);
      expect(email.subject).toBe('Lifeboat ALERT Northwind Traders Holdings Ltd: primary mail failing');
      expect(email.text).toContain(
        'Evidence:\n  2026-11-22T10:00:00.000Z cloud smtp: mx1.cloud.test:587 connect ECONNREFUSED\n' +
          `  2026-11-22T10:01:00.000Z cloud smtp: ${longDetail}\n`,
      );
      expect(email.text).toContain(`Invoke continuity (staff get webmail) or acknowledge: ${link}`);
    });

    it('lists at most the last ten findings', () => {
      const many = Array.from({ length: 25 }, (_, i) => evidence({ detail: `finding ${i}` }));
      const email = composeNotice('alert', event({ evidence: many }), configWith()).find(
        (d) => d.channel === 'email',
      )!;
      expect(email.text).not.toContain('finding 14');
      expect(email.text.match(/finding \d+/g)).toEqual(
        Array.from({ length: 10 }, (_, i) => `finding ${i + 15}`),
      );
    });

    it('says when continuity will be invoked automatically', () => {
      const email = composeNotice('alert', event(), configWith({ autoInvokeAfterMinutes: 45 })).find(
        (d) => d.channel === 'email',
      )!;
      expect(email.text).toContain('continuity is invoked automatically 45 minutes after the alert');
    });

    it('says when automatic invocation is off', () => {
      const email = composeNotice('alert', event(), configWith({ autoInvokeAfterMinutes: null })).find(
        (d) => d.channel === 'email',
      )!;
      expect(email.text).toContain('Automatic invocation is off');
    });

    it('reports how many deliveries the hand-over released', () => {
      const [, recovered] = everyNotice.find(([n]) => n === 'recovered')!;
      const email = composeNotice('recovered', recovered, configWith()).find((d) => d.channel === 'email')!;
      expect(email.text).toContain('(18342 deliveries)');
    });

    it('is not composed when no admin addresses are configured', () => {
      const config = configWith({ paging: { adminEmails: [] } });
      expect(composeNotice('alert', event(), config).map((d) => d.channel)).toEqual(['sms']);
    });
  });

  describe('staff text', () => {
    it('goes to staff phones only, with the webmail address and no console link', () => {
      const drafts = composeNotice('staff-invoked', invoked, configWith());
      expect(drafts).toEqual([
        {
          channel: 'sms',
          audience: 'staff',
          to: ['+447700900789'],
          subject: 'Northwind Traders Holdings Ltd email continuity',
          text: 'Northwind Traders Holdings Ltd: our email is down. Read and send work mail at https://lifeboat-console.northwind-traders.example.org/mail - if the company sign-in fails there, choose the option to get a code by text to this phone.',
          eventId: '20261122T100100-a1b2c3',
          notice: 'staff-invoked',
        },
      ]);
    });

    it('is the configured invoke text, in GSM-7 within two segments', () => {
      const [draft] = composeNotice('staff-invoked', invoked, configWith());
      expect(smsCost(draft?.text ?? '')).toMatchObject({ encoding: 'gsm-7', segments: 2 });
    });

    it('is not composed when no staff phones are configured', () => {
      expect(composeNotice('staff-invoked', invoked, configWith({ staff: { phones: [] } }))).toEqual([]);
    });

    it('never reaches staff phones with an admin notice', () => {
      for (const [notice, e] of everyNotice) {
        const recipients = composeNotice(notice, e, configWith()).flatMap((d) => d.to);
        expect(recipients).not.toContain('+447700900789');
      }
    });
  });

  it('tags every draft with its event and notice, for the outbox', () => {
    for (const [notice, e] of everyNotice) {
      for (const draft of composeNotice(notice, e, configWith())) {
        expect(draft).toMatchObject({ eventId: e.id, notice });
      }
    }
  });
});
