import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import { ManualClock } from '../support/memory-store.js';
import { repoRoot } from '../support/runtime.js';
import { freePort } from './support/net.js';
import { type DeliveredMessage, PostfixInstance } from './support/postfix.js';
import { describeWithPostfix } from './support/requirements.js';
import { sendWithSwaks } from './support/swaks.js';

const DOMAIN = 'corp.test';
const GATEWAY = 'lifeboat.e2e.test';
/** The one mailbox the primary refuses at RCPT, as an Exchange does for a deleted user. */
const GONE = `gone@${DOMAIN}`;
const MIN_BACKOFF_SECONDS = 300;

/** Lifeboat's one trace header as it lands in a Maildir file (LF line endings). */
function traceHeaderPattern(gatewayId: string, recipient: string | null): RegExp {
  const forClause = recipient ? `\\n\\tfor <${recipient.replace(/[.]/g, '\\.')}>` : '';
  return new RegExp(
    `^Received: by ${GATEWAY.replace(/[.]/g, '\\.')} \\(Lifeboat\\) id ${gatewayId}${forClause};\\n\\t[A-Z][a-z]{2}, \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000\\n`,
  );
}

/** How many copies of each Message-ID are in the primary's Maildir. */
async function copiesById(primary: PostfixInstance): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const id of await primary.messageIds()) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

function runCli(args: string[], configFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(repoRoot, 'bin/lifeboat.mjs'), ...args],
      { cwd: repoRoot, env: { ...process.env, LIFEBOAT_CONFIG_FILE: configFile }, timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`lifeboat ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

describeWithPostfix('the mail path with Postfix as the primary', () => {
  let primary: PostfixInstance;
  let runtime: Runtime;
  let dataDir: string;
  let configFile: string;
  const clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));

  /** Sends one message to Lifeboat with swaks and returns the gateway's id from its 250 reply. */
  async function send(options: { to: string[]; messageId?: string; data?: string }): Promise<string> {
    const result = await sendWithSwaks({
      port: runtime.smtpPort,
      from: 'ann@sender.example',
      to: options.to,
      ...(options.data ? { data: options.data } : {}),
      ...(options.messageId ? { header: { 'Message-Id': options.messageId } } : {}),
    });
    expect(result.exitCode, result.stdout).toBe(0);
    const id = /queued as ([a-z0-9]+)/.exec(result.stdout)?.[1];
    if (!id) throw new Error(`no gateway id in the reply:\n${result.stdout}`);
    return id;
  }

  async function deliveries(gatewayId: string): Promise<DeliveryRecord[]> {
    const list = await runtime.ctx.store.listDeliveries(gatewayId);
    return list.sort((a, b) => a.recipient.localeCompare(b.recipient));
  }

  /** Waits until Lifeboat has finished every attempt it started and Postfix has nothing queued. */
  async function settle(): Promise<void> {
    await runtime.idle();
    await primary.waitForQueueSize(0, { timeoutMs: 30_000 });
  }

  async function sweepAfter(seconds: number): Promise<void> {
    clock.advance(seconds);
    await runtime.sweep({});
    await runtime.idle();
  }

  beforeAll(async () => {
    primary = await PostfixInstance.create({
      mode: 'mailbox',
      domains: [DOMAIN],
      mainCf: {
        smtpd_recipient_restrictions: `check_recipient_access inline:{{${GONE}=550 5.1.1 <${GONE}>: Recipient address rejected: no such user}}`,
      },
    });
    dataDir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
    // Fixed ports, written into the config file too, so the CLI finds this runtime as it finds `npm start`.
    const [smtpPort, apiPort] = [await freePort(), await freePort()];
    const input: ConfigInput = {
      organisation: 'Lifeboat e2e',
      hostname: GATEWAY,
      domains: [DOMAIN],
      routes: [
        {
          name: 'postfix',
          domains: [DOMAIN],
          hosts: [{ host: primary.address, port: primary.port }],
          tls: 'opportunistic',
          connectTimeoutSeconds: 5,
          socketTimeoutSeconds: 20,
        },
      ],
      queue: { minBackoffSeconds: MIN_BACKOFF_SECONDS, maxBackoffSeconds: 4000 },
      local: { dataDir, smtpPort, apiPort },
    };
    configFile = join(dataDir, 'lifeboat.config.json');
    await writeFile(configFile, JSON.stringify(input, null, 2));
    runtime = await startRuntime({
      config: parseConfig(input, 'e2e config'),
      dataDir,
      ports: { smtp: smtpPort, api: apiPort },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      clock,
    });
  });

  afterEach(async () => {
    await primary.start();
    await primary.clearMessages();
  });

  afterAll(async () => {
    await runtime?.stop();
    await primary?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('relays each message to the Postfix Maildir once, with one trace header on top of the headers as sent', async () => {
    const sent: Array<{ gatewayId: string; messageId: string; recipient: string; text: string }> = [];
    for (const n of [1, 2, 3, 4, 5]) {
      const messageId = `<path-${n}@sender.example>`;
      const recipient = `user${n}@${DOMAIN}`;
      // Headers a mail engineer would check survive: a folded DKIM signature, an encoded word,
      // odd spacing, a sender's own Received; and a body line that needs dot-stuffing.
      const text = [
        `Received: from mta.sender.example (mta.sender.example [192.0.2.10])\n\tby mx.sender.example; Mon, 2 Mar 2026 09:00:0${n} +0000`,
        'DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=sel;\n\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=dGVzdA==',
        'From: Ann Sender <ann@sender.example>',
        `To: User ${n} <${recipient}>`,
        `Subject: =?UTF-8?Q?Quarterly_figures_caf=C3=A9_${n}?=`,
        `Date: Mon, 2 Mar 2026 09:00:0${n} +0000`,
        `Message-ID: ${messageId}`,
        'X-Unusual:  spacing   kept',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        `Message ${n}.`,
        '.a line that starts with a dot',
        '',
        '-- ',
        'Ann',
      ].join('\n');
      const file = join(dataDir, `path-${n}.eml`);
      await writeFile(file, text);
      sent.push({ gatewayId: await send({ to: [recipient], data: file }), messageId, recipient, text });
    }
    await settle();

    const copies = await copiesById(primary);
    expect(Object.fromEntries(copies)).toEqual(Object.fromEntries(sent.map((s) => [s.messageId, 1])));
    const delivered = await primary.messages();
    for (const s of sent) {
      const copy = delivered.find((m) => m.messageId === s.messageId) as DeliveredMessage;
      expect(copy.recipient).toBe(s.recipient);
      expect(copy.sender).toBe('ann@sender.example');
      const original = copy.original.toString('utf8');
      const trace = traceHeaderPattern(s.gatewayId, s.recipient).exec(original);
      expect(trace, original.slice(0, 300)).not.toBeNull();
      // Below the trace header: the message exactly as sent (swaks ends DATA with one line break).
      expect(original.slice(trace?.[0].length)).toBe(`${s.text}\n`);
      expect(original.match(/\(Lifeboat\)/g)).toHaveLength(1);
      expect((await deliveries(s.gatewayId)).map((d) => [d.recipient, d.state, d.attempts])).toEqual([
        [s.recipient, 'delivered', 1],
      ]);
    }
  });

  it('defers while Postfix is down, keeps every message, and delivers each once after it is back', async () => {
    await primary.stop();
    const ids = ['<outage-1@sender.example>', '<outage-2@sender.example>', '<outage-3@sender.example>'];
    const gatewayIds: string[] = [];
    for (const [i, messageId] of ids.entries()) {
      gatewayIds.push(await send({ to: [`user${i + 1}@${DOMAIN}`], messageId }));
    }
    await runtime.idle();

    const t0 = clock.now().getTime();
    for (const gatewayId of gatewayIds) {
      const [d] = await deliveries(gatewayId);
      expect(d?.state).toBe('deferred');
      expect(d?.attempts).toBe(1);
      expect(d?.lastError).toMatch(/ECONNREFUSED|connect/i);
      expect(Date.parse(d?.nextAttemptAt ?? '')).toBe(t0 + MIN_BACKOFF_SECONDS * 1000);
      // Nothing lost: the raw message is in the store, Message-ID and all.
      const message = await runtime.ctx.store.getMessage(gatewayId);
      const raw = await runtime.ctx.blobs.getRaw(message?.rawKey ?? '');
      expect(raw.toString('latin1')).toContain(`Message-Id: ${ids[gatewayIds.indexOf(gatewayId)]}`);
    }

    // What an admin sees: the CLI lists each deferred delivery with the primary's refusal.
    const queue = await runCli(['queue', '--state', 'deferred'], configFile);
    for (const gatewayId of gatewayIds)
      expect(queue).toMatch(new RegExp(`${gatewayId}\\s.*\\sdeferred\\s+1\\s`));

    // Not yet due: a sweep a minute later leaves them alone.
    await sweepAfter(60);
    for (const gatewayId of gatewayIds) expect((await deliveries(gatewayId))[0]?.attempts).toBe(1);

    // Due while still down: a second attempt, and the backoff doubles.
    await sweepAfter(MIN_BACKOFF_SECONDS - 60);
    for (const gatewayId of gatewayIds) {
      const [d] = await deliveries(gatewayId);
      expect([d?.state, d?.attempts]).toEqual(['deferred', 2]);
      expect(Date.parse(d?.nextAttemptAt ?? '') - clock.now().getTime()).toBe(2 * MIN_BACKOFF_SECONDS * 1000);
    }
    expect(await primary.messageIds()).toEqual([]);

    await primary.start();
    await sweepAfter(2 * MIN_BACKOFF_SECONDS);
    await settle();
    for (const gatewayId of gatewayIds) {
      expect((await deliveries(gatewayId)).map((d) => [d.state, d.attempts])).toEqual([['delivered', 3]]);
    }
    expect(Object.fromEntries(await copiesById(primary))).toEqual(
      Object.fromEntries(ids.map((id) => [id, 1])),
    );

    // Later sweeps find nothing due: still one copy each.
    await sweepAfter(4000);
    await settle();
    expect(Object.fromEntries(await copiesById(primary))).toEqual(
      Object.fromEntries(ids.map((id) => [id, 1])),
    );
  });

  it('hands a message for three recipients to Postfix in one transaction, one copy per recipient', async () => {
    const recipients = [`ann@${DOMAIN}`, `bob@${DOMAIN}`, `cat@${DOMAIN}`];
    const messageId = '<three@sender.example>';
    const gatewayId = await send({ to: recipients, messageId });
    await settle();

    const copies = await primary.messages();
    expect(copies.map((m) => [m.messageId, m.recipient]).sort()).toEqual(
      recipients.map((r) => [messageId, r]),
    );
    for (const copy of copies) {
      // No `for` clause: one copy must not tell its recipient who else got it.
      expect(copy.original.toString('utf8')).toMatch(traceHeaderPattern(gatewayId, null));
    }
    // Postfix's cleanup logs each message it receives once: one transaction carried all three.
    const received = (await primary.log()).match(/cleanup\[\d+\]: \w+: message-id=<three@sender\.example>/g);
    expect(received).toHaveLength(1);
    expect((await deliveries(gatewayId)).map((d) => [d.recipient, d.state])).toEqual(
      recipients.map((r) => [r, 'delivered']),
    );
  });

  it('fails the recipient Postfix refuses with 550 and delivers the others', async () => {
    const recipients = [`ann@${DOMAIN}`, GONE, `bob@${DOMAIN}`];
    const messageId = '<one-refused@sender.example>';
    const gatewayId = await send({ to: recipients, messageId });
    await settle();

    expect((await primary.messages()).map((m) => [m.messageId, m.recipient]).sort()).toEqual([
      [messageId, `ann@${DOMAIN}`],
      [messageId, `bob@${DOMAIN}`],
    ]);
    const byRecipient = Object.fromEntries((await deliveries(gatewayId)).map((d) => [d.recipient, d]));
    expect(byRecipient[`ann@${DOMAIN}`]?.state).toBe('delivered');
    expect(byRecipient[`bob@${DOMAIN}`]?.state).toBe('delivered');
    expect(byRecipient[GONE]?.state).toBe('failed');
    expect(byRecipient[GONE]?.lastError).toMatch(/550 5\.1\.1 .*no such user/);

    // A 5xx is final: later sweeps neither retry the refused recipient nor resend the others.
    await sweepAfter(4000);
    await settle();
    expect((await deliveries(gatewayId)).map((d) => [d.recipient, d.state, d.attempts])).toEqual([
      [`ann@${DOMAIN}`, 'delivered', 1],
      [`bob@${DOMAIN}`, 'delivered', 1],
      [GONE, 'failed', 1],
    ]);
    expect(await primary.messageIds()).toEqual([messageId, messageId]);
  });
});
