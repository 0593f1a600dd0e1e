/**
 * The worker thread of the mail pool (see mail-workers.ts): computes a message's SPF, DKIM and
 * DMARC verdicts, its summary for the record and its text for the search index (one parse), the CPU-heavy steps of taking a message in,
 * off the runtime's main thread.
 */
import os from 'node:os';
import { workerData } from 'node:worker_threads';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import { type IndexBody, indexBody } from '../../lambdas/core/search/indexer.js';
import { type MessageReading, readMessage } from '../../lambdas/core/summarise.js';
import { MAIL_WORKER_NICE, type MailTask, type MailWorkerData } from './mail-workers.js';
import { createLocalResolver } from './resolver.js';
import { computeVerdicts } from './verdicts.js';
import { serveTasks } from './worker-pool.js';

const { dns } = workerData as MailWorkerData;

/** The highest nice value there is (the lowest priority). */
const LOWEST_PRIORITY = 19;

// Below the main thread (see MAIL_WORKER_NICE). Linux alone: there the nice value is per thread
// and this sets this thread's; elsewhere (macOS) it would lower the whole process, main thread
// included. Where the system refuses, the worker runs at the process's priority.
if (process.platform === 'linux') {
  try {
    os.setPriority(Math.min(LOWEST_PRIORITY, os.getPriority() + MAIL_WORKER_NICE));
  } catch {
    // Nothing lost but the preference.
  }
}
const resolver = createLocalResolver(dns as LifeboatConfig['local']['dns']);

/** A message arrives as a Uint8Array (structured clone drops the Buffer class). */
const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

serveTasks((task: MailTask): Promise<Verdicts | MessageReading | IndexBody> => {
  switch (task.kind) {
    case 'verdicts':
      return computeVerdicts({ ...task.input, raw: bufferOf(task.input.raw), resolver });
    case 'read':
      return readMessage(bufferOf(task.raw));
    case 'index':
      return indexBody(bufferOf(task.raw));
  }
});
