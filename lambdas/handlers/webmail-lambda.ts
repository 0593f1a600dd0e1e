import { defaultWebmailContext } from '../adapters/webmail-context.js';
import { createWebmailHandler } from './webmail.js';

/**
 * The staff webmail API in AWS: the shared handler (webmail.ts) behind API Gateway's JWT
 * authorizer, with the DynamoDB store, the mail bucket and S3 presigned download links.
 */
export const handler = createWebmailHandler(defaultWebmailContext);
