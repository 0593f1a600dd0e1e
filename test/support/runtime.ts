import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import type { BlobFs } from '../../lambdas/adapters/local/file-blobs.js';
import { RAW_PREFIX, type SesEvent } from '../../lambdas/adapters/ses-event.js';
import { type ConfigInput, type LifeboatConfig, parseConfig } from '../../lambdas/core/config.js';
import type { DeliveryRecord, MessageRecord } from '../../lambdas/core/model.js';
import type { Logger, Mailer } from '../../lambdas/ports.js';
import { ManualClock } from './memory-store.js';
import type { TestPrimary } from './primary.js';

/** The repository's root folder. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The accepted domain of every test config unless a test names others. */
export const TEST_DOMAIN = 'example.com';

/** A route host entry pointing at a test primary. */
export function hostOf(primary: TestPrimary): { host: string; port: number } {
  return { host: primary.host, port: primary.port };
}

type RouteInput = ConfigInput['routes'][number];

/**
 * A route to test primaries. Timeouts are shortened from the defaults (30 s and 120 s) so a
 * test that goes wrong fails in seconds; a test about timeouts sets its own.
 */
export function routeTo(
  name: string,
  primaries: TestPrimary[],
  serves: { domains?: string[]; addresses?: string[] },
  overrides: Partial<RouteInput> = {},
): RouteInput {
  return {
    name,
    ...serves,
    hosts: primaries.map(hostOf),
    connectTimeoutSeconds: 5,
    socketTimeoutSeconds: 10,
    ...overrides,
  };
}

/**
 * A validated config: `example.com` accepted and routed to `primary` unless `overrides` says
 * otherwise. Everything else keeps its documented default (backoff 300 s doubling, lease 300 s).
 */
export function testConfig(
  primary: TestPrimary | null,
  overrides: Partial<ConfigInput> = {},
  routeOverrides: Partial<RouteInput> = {},
): LifeboatConfig {
  return parseConfig(
    {
      organisation: 'Lifeboat tests',
      domains: [TEST_DOMAIN],
      routes: primary ? [routeTo('primary', [primary], { domains: [TEST_DOMAIN] }, routeOverrides)] : [],
      ...overrides,
    },
    'test config',
  );
}

/** A fresh, empty data folder under the system temp folder. */
export function makeDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'lifeboat-test-'));
}

export interface OutgoingMail {
  /** Envelope sender. @default 'sender@sender.example' */
  from?: string;
  /** Envelope recipients. */
  to: string[];
  /** The message, sent byte for byte (nodemailer only adds SMTP's CRLF and dot-stuffing). */
  raw: Buffer | string;
}

export interface AcceptedMail {
  /** The gateway's message id, from its `250 … queued as <id>` reply. */
  id: string;
  response: string;
  accepted: string[];
  rejected: string[];
}

export interface StartOptions {
  config: LifeboatConfig;
  /** Reuse a data folder (restart tests); otherwise a temp folder is made and removed on stop. */
  dataDir?: string;
  /** @default a ManualClock at the real time now, so SES-stamped arrival times agree with it */
  clock?: ManualClock;
  /** @default true, as in AWS */
  deliverOnIngest?: boolean;
  mailer?: Mailer;
  log?: Logger;
  /** Serve the runtime's admin API (on a free port) where the runtime has one. @default false */
  api?: boolean;
  /** The file calls of the raw and receipt folders, for a test that records them. */
  fs?: BlobFs;
  /** Run the sweep timer every this many milliseconds. @default 0, off: tests sweep by hand */
  sweepIntervalMs?: number;
}

export interface TestRuntime extends Runtime {
  dataDir: string;
  clock: ManualClock;
  /** Sends a message to the gateway's SMTP port as a sending MTA would; resolves on 250. */
  send(mail: OutgoingMail): Promise<AcceptedMail>;
  /** Sends, then waits for the first delivery attempt that ingest asked for. */
  sendAndSettle(mail: OutgoingMail): Promise<AcceptedMail>;
  /** A message's deliveries, by recipient. */
  deliveries(messageId: string): Promise<DeliveryRecord[]>;
  delivery(messageId: string, recipient: string): Promise<DeliveryRecord>;
  message(messageId: string): Promise<MessageRecord | undefined>;
  /** Moves the clock on and runs one sweep, as the scheduled sweeper would. */
  sweepAfter(seconds: number): Promise<void>;
  /** Stores raw bytes where SES's S3 action would and returns the Lambda action's event. */
  sesEvent(id: string, raw: Buffer, recipients: string[], from?: string): Promise<SesEvent>;
}

/** Sends raw bytes to an SMTP port with nodemailer, as a sending MTA would. */
export async function sendRaw(port: number, mail: OutgoingMail): Promise<AcceptedMail> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    name: 'mta.sender.example',
  });
  try {
    const info = await transport.sendMail({
      envelope: { from: mail.from ?? 'sender@sender.example', to: mail.to },
      raw: mail.raw,
    });
    const id = /queued as ([A-Za-z0-9._-]+)/.exec(info.response)?.[1];
    if (!id) throw new Error(`no message id in the reply ${info.response}`);
    return {
      id,
      response: info.response,
      accepted: info.accepted.map(String),
      rejected: info.rejected.map(String),
    };
  } finally {
    transport.close();
  }
}

/**
 * Starts the local runtime (SQLite and file stores, the SES stand-in and the handlers) on free
 * ports in a temp data folder, with the sweeper timer off and a manual clock: tests sweep by hand.
 */
export async function startTestRuntime(options: StartOptions): Promise<TestRuntime> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await makeDataDir());
  const clock = options.clock ?? new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  // Built apart from the call so that options a newer runtime understands (the admin API's port,
  // the probe timer) are passed without tying these helpers to one version of RuntimeOptions.
  const runtimeOptions = {
    config: options.config,
    dataDir,
    ports: { smtp: 0, api: 0 },
    // Timers off: tests sweep by hand, and a probe round would open sessions on the test primaries.
    sweepIntervalMs: options.sweepIntervalMs ?? 0,
    probeIntervalMs: 0,
    api: options.api ?? false,
    clock,
    ...(options.deliverOnIngest === undefined ? {} : { deliverOnIngest: options.deliverOnIngest }),
    ...(options.mailer ? { mailer: options.mailer } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.fs ? { fs: options.fs } : {}),
  };
  const runtime = await startRuntime(runtimeOptions);
  let stopped: Promise<void> | undefined;
  const test: TestRuntime = {
    ...runtime,
    dataDir,
    clock,
    send: (mail) => sendRaw(runtime.smtpPort, mail),
    async sendAndSettle(mail) {
      const accepted = await sendRaw(runtime.smtpPort, mail);
      await runtime.idle();
      return accepted;
    },
    async deliveries(messageId) {
      const list = await runtime.ctx.store.listDeliveries(messageId);
      return list.sort((a, b) => a.recipient.localeCompare(b.recipient));
    },
    async delivery(messageId, recipient) {
      const d = await runtime.ctx.store.getDelivery({ messageId, recipient });
      if (!d) throw new Error(`no delivery of ${messageId} for ${recipient}`);
      return d;
    },
    message: (messageId) => runtime.ctx.store.getMessage(messageId),
    async sweepAfter(seconds) {
      clock.advance(seconds);
      await runtime.sweep({});
      await runtime.idle();
    },
    async sesEvent(id, raw, recipients, from = 'sender@sender.example') {
      await runtime.ctx.blobs.putRaw(`${RAW_PREFIX}${id}`, raw);
      const now = clock.now().toISOString();
      const pass = { status: 'PASS' };
      return {
        Records: [
          {
            eventSource: 'aws:ses',
            ses: {
              mail: { timestamp: now, source: from, messageId: id, destination: recipients },
              receipt: {
                timestamp: now,
                recipients,
                spamVerdict: pass,
                virusVerdict: pass,
                spfVerdict: pass,
                dkimVerdict: pass,
                dmarcVerdict: pass,
                action: { type: 'Lambda', invocationType: 'Event' },
              },
            },
          },
        ],
      };
    },
    stop() {
      stopped ??= (async () => {
        await runtime.stop();
        if (ownsDir) await rm(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  return test;
}

/**
 * What a file becomes on the SMTP wire, and so in S3: SMTP (RFC 5321 §2.3.8) carries lines ending
 * in CRLF, so nodemailer turns every bare LF and every bare CR into CRLF, and DATA ends with a
 * line end, so a file without a final newline gains one CRLF. Dot-stuffing is undone by the
 * receiver and leaves no trace. Every other byte passes unchanged: 8-bit bytes, NUL, and lines
 * longer than RFC 5322's 998 characters (neither nodemailer nor smtp-server enforces that limit).
 */
export function smtpWireForm(file: Buffer): Buffer {
  const text = file.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  return Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'latin1');
}

/** A fixture message from test/integration/fixtures. */
export function readFixture(name: string): Promise<Buffer> {
  return readFile(path.join(repoRoot, 'test/integration/fixtures', name));
}
