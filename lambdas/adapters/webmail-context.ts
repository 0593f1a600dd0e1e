import { parseConfigJson, recordDays } from '../core/config.js';
import { parseDirectory } from '../core/directory.js';
import type { SearchDeps } from '../core/search/indexer.js';
import type { WebmailContext } from '../handlers/webmail-routes.js';
import { systemClock } from '../ports.js';
import { createAwsClients, type LifeboatEnv, readEnv } from './context.js';
import { createDynamoSendingStore } from './dynamo-sending.js';
import { createDynamoStore } from './dynamo-store.js';
import { jsonLogger } from './logger.js';
import { createS3Blobs } from './s3-blobs.js';
import { createS3LinkSigner } from './s3-link-signer.js';
import { createWebmailSendingDeps, readSendingEnv } from './sending-context.js';
import type { OutboundWakes } from './sqs-outbound-wake.js';

/**
 * The search index's writer and readers in a Lambda function: records from DynamoDB, raw mail and
 * each mailbox's index blobs (`index/…`) from the mail bucket. No index is kept loaded between
 * invocations: the indexer writes the blobs in another function, and a kept copy would go stale.
 */
export function createSearchDeps(env: LifeboatEnv): SearchDeps {
  const config = parseConfigJson(env.LIFEBOAT_CONFIG, 'LIFEBOAT_CONFIG');
  const { dynamo, s3 } = createAwsClients(env);
  const blobs = createS3Blobs(s3, env.BUCKET_NAME);
  return {
    config,
    store: createDynamoStore(dynamo, { tableName: env.TABLE_NAME, retentionDays: recordDays(config) }),
    blobs,
    indexBlobs: blobs,
    clock: systemClock,
    log: jsonLogger(),
  };
}

/**
 * The webmail function's context: the search deps, the staff directory the config lists (Cognito's
 * `custom:addresses` claim adds to it; `webmail.directoryFile` is read by the local runtime only),
 * and links as S3 presigned URLs.
 */
export function createWebmailContext(
  env: LifeboatEnv,
  processEnv: NodeJS.ProcessEnv = process.env,
): WebmailContext & { wakes?: OutboundWakes | undefined } {
  const deps = createSearchDeps(env);
  const { s3, dynamo } = createAwsClients(env);
  const config = parseConfigJson(env.LIFEBOAT_CONFIG, 'LIFEBOAT_CONFIG');
  const directory = parseDirectory(config.webmail.users ?? [], {
    source: 'webmail.users',
    domains: config.domains,
  });
  // The table holds the organisation's state too: the banner, and whether a send is during an event.
  const continuity = createDynamoStore(dynamo, {
    tableName: env.TABLE_NAME,
    retentionDays: recordDays(config),
  });
  // Sending where the stack deployed its queue (OUTBOUND_QUEUE_URL); without it those endpoints answer 404.
  const sendingEnv = readSendingEnv(processEnv);
  const sending = sendingEnv
    ? createWebmailSendingDeps(
        {
          ...deps,
          config,
          continuity,
          dynamo,
          s3,
          tableName: env.TABLE_NAME,
          bucket: env.BUCKET_NAME,
        },
        sendingEnv,
      )
    : undefined;
  return {
    ...deps,
    config,
    directory,
    continuity,
    links: createS3LinkSigner({ ...deps, s3, bucket: env.BUCKET_NAME }),
    sending: sending?.deps,
    wakes: sending?.wakes,
    // The admin job records share the table: a running drill's first sign-in is recorded there.
    drills: createDynamoSendingStore(dynamo, { tableName: env.TABLE_NAME }),
  };
}

let webmail: (WebmailContext & { wakes?: OutboundWakes | undefined }) | undefined;
let search: SearchDeps | undefined;

/** The webmail context of this Lambda instance, built at the first request (cold start). */
export function defaultWebmailContext(): WebmailContext & { wakes?: OutboundWakes | undefined } {
  webmail ??= createWebmailContext(readEnv());
  return webmail;
}

/** The indexer's deps of this Lambda instance, built at the first batch (cold start). */
export function defaultSearchDeps(): SearchDeps {
  search ??= createSearchDeps(readEnv());
  return search;
}
