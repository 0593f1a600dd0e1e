/**
 * The worker thread of the mail pool (see mail-workers.ts): computes a message's SPF, DKIM and
 * DMARC verdicts, its summary for the record and its text for the search index, the CPU-heavy steps of taking a message in,
 * off the runtime's main thread.
 */
import { workerData } from 'node:worker_threads';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import { type IndexBody, indexBody } from '../../lambdas/core/search/indexer.js';
import { type MessageSummary, summariseMessage } from '../../lambdas/core/summarise.js';
import type { MailTask, MailWorkerData } from './mail-workers.js';
import { createLocalResolver } from './resolver.js';
import { computeVerdicts } from './verdicts.js';
import { serveTasks } from './worker-pool.js';

const { dns } = workerData as MailWorkerData;
const resolver = createLocalResolver(dns as LifeboatConfig['local']['dns']);

/** A message arrives as a Uint8Array (structured clone drops the Buffer class). */
const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

serveTasks((task: MailTask): Promise<Verdicts | MessageSummary | IndexBody> => {
  switch (task.kind) {
    case 'verdicts':
      return computeVerdicts({ ...task.input, raw: bufferOf(task.input.raw), resolver });
    case 'summary':
      return summariseMessage(bufferOf(task.raw));
    case 'index':
      return indexBody(bufferOf(task.raw));
  }
});
