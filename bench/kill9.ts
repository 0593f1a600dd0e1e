import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { StateCounts } from '../lambdas/ports.js';
import {
  freePort,
  LifeboatProcess,
  senderMessage,
  writeConfigFile,
} from '../test/support/lifeboat-process.js';
import { type PrimaryTransaction, TestPrimary } from '../test/support/primary.js';
import { routeTo, sendRaw } from '../test/support/runtime.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt } from './stats.js';

/** kill -9s of the runtime per run: the issue's drill. */
const KILLS = 20;
/** Concurrent sending MTAs, each sending one message after another for the whole run. */
const SENDERS = 8;
/** Messages acknowledged between one restart and the next kill: a random count in this range. */
const ACCEPTED_BETWEEN_KILLS = [10, 30] as const;
/** A kill lands this many milliseconds (at random, up to) after its count is reached: mid-transaction or mid-delivery. */
const KILL_JITTER_MS = 20;
/**
 * The killer: a process of its own that, told a pid and a delay on a line of its input, waits
 * that long on its own event loop, sends SIGKILL and answers with the time it did. Issued from
 * the bench's own event loop, the kill would come right after the loop's poll phase, in which
 * the counting primary has just written its replies, and often lands tens of microseconds after
 * a 250 (3 of the 4 copies resent in one run), before any runtime can have read it. A crash keeps
 * no such appointment with the primary. It runs at the highest priority the system allows it
 * (KILLER_NICE): waiting for a core at an ordinary one, its timer would fire whenever a core came
 * free, and on two busy cores that is when the bench's process has just written the primary's
 * replies and gone back to waiting (half the kills of one run within 3.4 ms after a 250).
 */
const KILLER_NICE = -20;
const KILLER_SOURCE = `
try { require('node:os').setPriority(${KILLER_NICE}); } catch {}
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\\n')) !== -1) {
    const [pid, delay] = buffered.slice(0, nl).split(' ').map(Number);
    buffered = buffered.slice(nl + 1);
    setTimeout(() => {
      try { process.kill(pid, 'SIGKILL'); } catch {}
      process.stdout.write(process.hrtime.bigint() + '\\n');
    }, delay);
  }
});
`;
/** A sender retries a transaction that failed (runtime dead, connection cut) after this pause. */
const RETRY_PAUSE_MS = 100;
/** Aim: at most one extra copy at the primary per this many kills. */
const AIM_KILLS_PER_DUPLICATE = 20;
/** Draining after the last kill gives up after this long: a message still missing then is lost. */
const DRAIN_LIMIT_MS = 120_000;
const DOMAIN = 'bench.test';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] as number);
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Extra copies at the primary, by cause. */
export interface Duplicates {
  /** Copies of one stored message beyond the first: a delivery a kill cut short after the primary's 250. */
  resent: number;
  /**
   * Stored messages beyond one per Message-ID: the sender sent a message again because a kill cut
   * its transaction after Lifeboat had stored it.
   */
  storedTwice: number;
}

/**
 * Copies at the primary beyond one per Message-ID, split by cause: the same gateway id more than
 * once is a resent delivery; more than one gateway id for one Message-ID is a message stored twice.
 */
export function countDuplicates(
  transactions: readonly Pick<PrimaryTransaction, 'messageId' | 'gatewayId'>[],
): Duplicates {
  const byMessage = new Map<string, Map<string, number>>();
  for (const t of transactions) {
    const copies = byMessage.get(t.messageId ?? '') ?? new Map<string, number>();
    copies.set(t.gatewayId ?? '', (copies.get(t.gatewayId ?? '') ?? 0) + 1);
    byMessage.set(t.messageId ?? '', copies);
  }
  let resent = 0;
  let storedTwice = 0;
  for (const copies of byMessage.values()) {
    storedTwice += copies.size - 1;
    for (const n of copies.values()) resent += n - 1;
  }
  return { resent, storedTwice };
}

/** Where each resent delivery stood when the kill that cost the extra copy landed. */
export interface ResentCause {
  /** The delivery's state in the dead process's database, read before the restart. */
  stateAtKill: string;
  /** Whether the primary had taken the first copy before the kill (else the copy came after, from a later process). */
  firstCopyBeforeKill: boolean;
  /** Milliseconds from the primary taking the first copy to the kill. */
  msBeforeKill: number;
}

/** Each delivery's state in a stopped runtime's database, by gateway id and recipient. */
function deliveryStates(database: string): Map<string, string> {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare<[], { message_id: string; recipient: string; state: string }>(
        'SELECT message_id, recipient, state FROM deliveries',
      )
      .all();
    return new Map(rows.map((r) => [`${r.message_id} ${r.recipient.toLowerCase()}`, r.state]));
  } finally {
    db.close();
  }
}

/**
 * Milliseconds from the primary taking each message (its 250 on the way) to Lifeboat's recorded
 * `delivered` (its deliveredAt): the window in which a kill costs a second copy, one per delivery
 * (for a resent one, of the copy that was recorded).
 */
function recordLags(database: string, transactions: readonly PrimaryTransaction[]): number[] {
  // The last copy's: a resent delivery's recorded `delivered` is its second attempt's.
  const last = new Map<string, number>();
  for (const t of transactions) last.set(`${t.gatewayId ?? ''} ${(t.to[0] ?? '').toLowerCase()}`, t.at);
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare<[], { message_id: string; recipient: string; record: string }>(
        "SELECT message_id, recipient, record FROM deliveries WHERE state = 'delivered'",
      )
      .all();
    const lags: number[] = [];
    for (const r of rows) {
      const at = last.get(`${r.message_id} ${r.recipient.toLowerCase()}`);
      const deliveredAt = (JSON.parse(r.record) as { deliveredAt: string | null }).deliveredAt;
      if (at !== undefined && deliveredAt) lags.push(Date.parse(deliveredAt) - at);
    }
    return lags.sort((a, b) => a - b);
  } finally {
    db.close();
  }
}

/**
 * For every copy at the primary beyond the first of one gateway id: the last kill before that
 * copy arrived, what the first copy's delivery record said at that kill, and how long before the
 * kill the primary had taken the first copy.
 */
export function resentCauses(
  transactions: readonly Pick<PrimaryTransaction, 'gatewayId' | 'to' | 'hrAt'>[],
  kills: readonly { hrAt: bigint; states: Map<string, string> }[],
): ResentCause[] {
  const seen = new Map<string, bigint>();
  const causes: ResentCause[] = [];
  for (const t of transactions) {
    const key = `${t.gatewayId ?? ''} ${(t.to[0] ?? '').toLowerCase()}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, t.hrAt);
      continue;
    }
    const kill = [...kills].reverse().find((k) => k.hrAt <= t.hrAt);
    if (!kill) continue;
    causes.push({
      stateAtKill: kill.states.get(key) ?? 'no record',
      firstCopyBeforeKill: first <= kill.hrAt,
      msBeforeKill: Number(kill.hrAt - first) / 1e6,
    });
  }
  return causes;
}

/** Starts the killer process (see KILLER_SOURCE); a kill resolves with its time on the monotonic clock. */
function startKiller(): {
  kill(pid: number, delayMs: number): Promise<bigint>;
  /** The killer's nice value: KILLER_NICE, or what the system left it where raising it is refused. */
  nice(): number;
  stop(): void;
} {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['-e', KILLER_SOURCE]);
  const waiting: Array<(hrAt: bigint) => void> = [];
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const hrAt = BigInt(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(hrAt);
    }
  });
  return {
    kill(pid, delayMs) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${pid} ${delayMs}\n`);
      });
    },
    nice: () => os.getPriority(child.pid),
    stop: () => child.kill(),
  };
}

const randomBetween = ([low, high]: readonly [number, number]) =>
  low + Math.floor(Math.random() * (high - low + 1));

/**
 * Duplicates per kill -9: `npm start` in a process of its own relays to a counting SMTP primary
 * while 8 senders send without pause; it is killed 20 times, each time after a random number of
 * acknowledged messages and a random few milliseconds (so kills land mid-transaction and
 * mid-delivery), and started again on the same data. After the last start it drains, and every
 * copy at the primary beyond one per Message-ID is counted, by cause.
 */
export const kill9Figure: Figure = {
  name: 'kill9',
  async run(): Promise<FigureResult> {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-kill9-'));
    const primary = await TestPrimary.start();
    const killer = startKiller();
    let lifeboat: LifeboatProcess | undefined;
    /** Senders start no new message once this is false, and finish the one they are sending. */
    let sending = true;
    /** Senders give up even the message they are sending (the run failed). */
    let aborted = false;
    try {
      const ports = { smtp: await freePort(), api: await freePort() };
      const dataDir = path.join(dir, 'data');
      const configFile = await writeConfigFile(dir, {
        organisation: 'Lifeboat kill -9 bench',
        domains: [DOMAIN],
        routes: [routeTo('primary', [primary], { domains: [DOMAIN] })],
        queue: { sweepIntervalSeconds: 5, minBackoffSeconds: 5, maxBackoffSeconds: 60 },
        local: { dataDir, smtpPort: ports.smtp, apiPort: ports.api },
      });
      lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });

      const accepted = new Map<string, string>();
      let failures = 0;
      const senders = Array.from({ length: SENDERS }, async (_, s) => {
        for (let n = 0; sending; n++) {
          const m = senderMessage('kill9-bench', DOMAIN, s, n);
          while (!aborted) {
            try {
              accepted.set(m.messageId, (await sendRaw(ports.smtp, { to: [m.recipient], raw: m.raw })).id);
              break;
            } catch {
              failures++;
              await sleep(RETRY_PAUSE_MS);
            }
          }
        }
      });

      const started = Date.now();
      const kills: { hrAt: bigint; states: Map<string, string> }[] = [];
      let killerNice = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const at = accepted.size + randomBetween(ACCEPTED_BETWEEN_KILLS);
        while (accepted.size < at) await sleep(2);
        const killedAt = await killer.kill(lifeboat.pid, Math.random() * KILL_JITTER_MS);
        killerNice = killer.nice();
        await lifeboat.kill9();
        kills.push({ hrAt: killedAt, states: deliveryStates(path.join(dataDir, 'lifeboat.db')) });
        lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
      }
      sending = false;
      await Promise.all(senders);
      const loadSeconds = (Date.now() - started) / 1000;

      // Drained: nothing queued, delivering or deferred, and every acknowledged message arrived.
      const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
      const drainUntil = Date.now() + DRAIN_LIMIT_MS;
      let queue: StateCounts | undefined;
      let missing: string[] = [];
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${ports.api}/admin/status`, {
          headers: { authorization: `Bearer ${token}` },
        });
        queue = ((await res.json()) as { queue: StateCounts }).queue;
        const arrived = new Set(primary.transactions.map((t) => t.gatewayId));
        missing = [...accepted].filter(([, id]) => !arrived.has(id)).map(([messageId]) => messageId);
        const waiting = queue.queued + queue.delivering + queue.deferred;
        if ((waiting === 0 && missing.length === 0) || Date.now() > drainUntil) break;
        await sleep(200);
      }

      const { resent, storedTwice } = countDuplicates(primary.transactions);
      const causes = resentCauses(primary.transactions, kills);
      const lags = recordLags(path.join(dataDir, 'lifeboat.db'), primary.transactions);
      const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? Number.NaN;
      const byState = new Map<string, number>();
      for (const c of causes) {
        const k = `${c.stateAtKill}${c.firstCopyBeforeKill ? '' : ' (first copy after the kill)'}`;
        byState.set(k, (byState.get(k) ?? 0) + 1);
      }
      const ms = (c: ResentCause) => `${c.msBeforeKill.toFixed(2)} ms`;
      const before = causes.filter((c) => c.firstCopyBeforeKill);
      const after = causes.filter((c) => !c.firstCopyBeforeKill);
      const perKill = (resent + storedTwice) / KILLS;
      const aim = 1 / AIM_KILLS_PER_DUPLICATE;
      const row: Row = {
        id: 'kill9.duplicates',
        figure: `Duplicates per kill -9 (${KILLS} kills of \`npm start\` during delivery, ${SENDERS} senders)`,
        value: `${fmt(perKill)} per kill (${resent} resent, ${storedTwice} stored twice; ${missing.length} lost)`,
        reference: `${accepted.size} messages acknowledged, ${primary.transactions.length} transactions at the primary`,
        ratio: '—',
        aim: `≤ ${fmt(aim)} per kill (1 in ${AIM_KILLS_PER_DUPLICATE}), none lost`,
        verdict: perKill <= aim && missing.length === 0 ? 'PASS' : 'MISS',
        data: {
          kills: KILLS,
          senders: SENDERS,
          accepted: accepted.size,
          transactions: primary.transactions.length,
          resent,
          storedTwice,
          lost: missing.length,
          senderRetries: failures,
          loadSeconds,
          queue,
          resentCauses: causes,
          recordLagMs: { n: lags.length, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: lags.at(-1) },
        },
      };
      return {
        rows: [row],
        notes: [
          `kill -9, the window: from the primary taking a message to Lifeboat's recorded \`delivered\` (deliveredAt, millisecond clock), over ${lags.length} deliveries: median ${fmt(pct(0.5), 'ms')}, p90 ${fmt(pct(0.9), 'ms')}, p99 ${fmt(pct(0.99), 'ms')}, most ${fmt(lags.at(-1) ?? Number.NaN, 'ms')}.`,
          `kill -9, where the resent copies came from (the delivery's state in the killed process's database; the primary took the first copy a median ${fmt(median(causes.map((c) => c.msBeforeKill)), 'ms')} before the kill, on the monotonic clock): ${[...byState].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}. The primary's 250 given before the kill and not recorded: ${before.length}${before.length ? ` (${before.map(ms).join(', ')} before it)` : ''}; the final dot sent before the kill, read and answered by the primary only after it: ${after.length}${after.length ? ` (${after.map((c) => `${(-c.msBeforeKill).toFixed(2)} ms`).join(', ')} after it)` : ''}.`,
          `kill -9: ${KILLS} kills of the runtime process over ${fmt(loadSeconds, 's')} of load (${SENDERS} senders without pause, each kill after ${ACCEPTED_BETWEEN_KILLS[0]}–${ACCEPTED_BETWEEN_KILLS[1]} acknowledged messages and up to ${KILL_JITTER_MS} ms, waited out by a killer process of its own at nice ${killerNice}, so that no kill keeps time with the primary's replies), each followed by a restart on the same data, then drained. "Resent" is a delivery whose primary 250 came back while \`delivered\` was not yet recorded; "stored twice" a message its sender sent again because the kill cut its transaction after Lifeboat had stored it.`,
        ],
      };
    } finally {
      sending = false;
      aborted = true;
      killer.stop();
      await lifeboat?.stop();
      await primary.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
