import { defaultWebmailContext } from '../adapters/webmail-context.js';
import { createWebmailHandler } from './webmail.js';

const webmail = createWebmailHandler(defaultWebmailContext);

/**
 * The staff webmail API in AWS: the shared handler (webmail.ts) behind API Gateway's JWT
 * authorizer, with the DynamoDB store, the mail bucket and S3 presigned download links. A send's
 * wake-up for the outbound queue is on its way before the response returns (Lambda freezes what
 * is still in flight after it).
 */
export async function handler(event: unknown) {
  try {
    return await webmail(event);
  } finally {
    await defaultWebmailContext().wakes?.settle();
  }
}
