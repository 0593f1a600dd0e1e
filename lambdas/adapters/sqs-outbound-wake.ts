import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { Clock, Logger } from '../ports.js';

/** SQS delays one message at most 15 minutes (DelaySeconds 0–900); a later time is waited out in steps. */
export const MAX_SQS_DELAY_SECONDS = 900;

/** One wake-up on the outbound queue: run the outbound worker at `dueAt`. Names no message or user. */
export const outboundWakeSchema = z.strictObject({ dueAt: z.iso.datetime() });
export type OutboundWake = z.infer<typeof outboundWakeSchema>;

/** Whole seconds from now until `dueAt`, within what SQS can delay a message. */
export function wakeDelaySeconds(dueAt: string, now: Date): number {
  const seconds = Math.ceil((Date.parse(dueAt) - now.getTime()) / 1000);
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, seconds));
}

export interface OutboundWakes {
  /** Puts a wake-up for `dueAt` on the queue (delayed up to 15 minutes). */
  request(dueAt: string): Promise<void>;
  /** The core's `wake`: a request in the background, awaited by `settle` before the function returns. */
  wake(dueAt: string): void;
  /** Waits for every background request; one that failed is logged, its message picked up by a later run. */
  settle(): Promise<void>;
}

/**
 * The outbound queue in AWS: SQS standard, each wake-up delayed until its time (the end of an undo
 * window, a retry), so nothing polls while no one sends. A wake-up carries only a time: the worker
 * sends whatever is due then (listSendingDue), so a lost or duplicated one costs a delay or a run,
 * never a message sent twice (the worker's claim is a conditional write).
 */
export function createSqsOutboundWakes(options: {
  sqs: Pick<SQSClient, 'send'>;
  queueUrl: string;
  clock: Clock;
  log: Logger;
}): OutboundWakes {
  const pending = new Set<Promise<void>>();
  const request = async (dueAt: string) => {
    await options.sqs.send(
      new SendMessageCommand({
        QueueUrl: options.queueUrl,
        MessageBody: JSON.stringify({ dueAt } satisfies OutboundWake),
        DelaySeconds: wakeDelaySeconds(dueAt, options.clock.now()),
      }),
    );
  };
  return {
    request,
    wake(dueAt) {
      const p = request(dueAt)
        .catch((err: Error) =>
          options.log.error('outbound wake-up not queued; the next run of the worker sends what is due', {
            dueAt,
            error: err.message,
          }),
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async settle() {
      await Promise.all([...pending]);
    },
  };
}
