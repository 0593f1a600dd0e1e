/**
 * One Lambda workload in a fresh process, bundled as the stack bundles a handler, so its resident
 * memory is what the function's memory setting must hold: `node child.mjs <workload> <sinkPort>`.
 * Prints one JSON line: the resident set after imports (init) and its peak over the workload.
 *
 * Workloads use SES's largest message (40 MB on the wire) and read it the way the S3 adapter does
 * (the SDK collects the body's chunks, concatenates them, and the adapter copies that into a Buffer),
 * with each read allocating afresh, as a download does.
 */
import { silentLogger } from '../lambdas/adapters/logger.js';
import { createSmtpMailer } from '../lambdas/adapters/smtp-mailer.js';
import { parseConfig } from '../lambdas/core/config.js';
import { deliverMessage } from '../lambdas/core/deliver.js';
import { ingestMessage } from '../lambdas/core/ingest.js';
import { mapWithConcurrency } from '../lambdas/core/sweep.js';
import type { BlobStore } from '../lambdas/ports.js';
import { ManualClock, MemoryStore } from '../test/support/memory-store.js';

/** SES's S3 action stores messages up to 40 MB, headers and encoding included. */
export const LARGEST_MESSAGE_BYTES = 40 * 1024 * 1024;

/** The SDK's stream hands the body over in chunks of about this size. */
const CHUNK_BYTES = 64 * 1024;

export type Workload = 'init' | 'ingest' | 'deliver' | 'handover' | 'sweep';

/** Messages in flight at once: the hand-over's default concurrency, and the sweeper's. */
export const IN_FLIGHT: Record<Workload, number> = { init: 0, ingest: 1, deliver: 1, handover: 2, sweep: 8 };

/** The largest message: headers, a short text part and a base64 attachment filling it to 40 MB. */
function largestMessage(): Buffer {
  const head = Buffer.from(
    [
      'From: Sender <sender@example.org>',
      'To: Ann <ann@bench.test>',
      'Subject: the largest message SES stores',
      'Message-ID: <largest@example.org>',
      'Date: Sun, 22 Nov 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Please find the file attached.',
      '--b',
      'Content-Type: application/octet-stream; name="archive.bin"',
      'Content-Disposition: attachment; filename="archive.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      '',
    ].join('\r\n'),
  );
  const tail = Buffer.from('\r\n--b--\r\n');
  const body = Buffer.alloc(LARGEST_MESSAGE_BYTES - head.length - tail.length);
  body.fill(`${'QUJD'.repeat(19)}\r\n`);
  return Buffer.concat([head, body, tail]);
}

/** Raw mail read as the S3 adapter reads it: chunks, their concatenation, then a Buffer copy. */
class DownloadedBlobs implements BlobStore {
  async getRaw(): Promise<Buffer> {
    const source = largestMessage();
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < source.length; at += CHUNK_BYTES) {
      chunks.push(new Uint8Array(source.subarray(at, at + CHUNK_BYTES)));
    }
    const joined = new Uint8Array(source.length);
    let offset = 0;
    for (const chunk of chunks) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return Buffer.from(joined);
  }
  async putRaw(): Promise<void> {}
}

/** A one-line message, so the delivery workloads create their records without parsing the large one. */
const smallBlobs: BlobStore = {
  getRaw: async () => Buffer.from('From: s@example.org\r\nTo: ann@bench.test\r\nSubject: x\r\n\r\nx\r\n'),
  putRaw: async () => {},
};

const peakBytes = () => process.resourceUsage().maxRSS * 1024;

async function run(workload: Workload, sinkPort: number): Promise<void> {
  const config = parseConfig({
    domains: ['bench.test'],
    routes: [
      {
        name: 'primary',
        domains: ['bench.test'],
        hosts: [{ host: '127.0.0.1', port: sinkPort }],
        tls: 'none',
      },
    ],
  });
  const clock = new ManualClock();
  const store = new MemoryStore();
  const blobs = new DownloadedBlobs();
  const mailer = createSmtpMailer({ hostname: 'lifeboat.bench.test' });
  const deps = { blobs, store, mailer, config, clock, log: silentLogger };
  const initBytes = peakBytes();

  const messages = Array.from({ length: IN_FLIGHT[workload] }, (_, i) => `m${i}`);
  // Ingest parses the largest message; the delivery workloads record small ones and send the largest.
  const ingestDeps = { ...deps, blobs: workload === 'ingest' ? blobs : smallBlobs };
  for (const id of messages) {
    await ingestMessage(
      {
        messageId: id,
        rawKey: `raw/${id}`,
        envelopeFrom: 'sender@example.org',
        recipients: ['ann@bench.test'],
        receivedAt: clock.now().toISOString(),
        verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      },
      ingestDeps,
    );
  }
  if (workload !== 'ingest' && workload !== 'init') {
    const results = await mapWithConcurrency(messages, messages.length, (id) => deliverMessage(id, deps));
    const delivered = results.reduce((n, r) => n + r.delivered, 0);
    if (delivered !== messages.length) {
      const states = await Promise.all(messages.map((id) => store.listDeliveries(id)));
      throw new Error(
        `${delivered} of ${messages.length} delivered: ${JSON.stringify(states.flat().map((d) => [d.state, d.lastError ?? d.lastResponse]))}`,
      );
    }
  }
  await mailer.close();
  process.stdout.write(`${JSON.stringify({ workload, initBytes, peakBytes: peakBytes() })}\n`);
}

const [workload, port] = process.argv.slice(2);
run(workload as Workload, Number(port)).catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
