import { request } from 'node:https';
import {
  DescribeActiveReceiptRuleSetCommand,
  SESClient,
  SetActiveReceiptRuleSetCommand,
} from '@aws-sdk/client-ses';

/**
 * The custom resource that makes the stack's receipt rule set the active one. CloudFormation cannot
 * activate a rule set, and SES refuses to delete the active set, so deleting the stack deactivates it
 * first, but only while it is still the active one: an admin who has since activated another set
 * (their own, or a merged copy) keeps it active.
 */

/** The fields of a CloudFormation custom resource request this handler reads. */
export interface ActiveRuleSetEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
  ResourceProperties: { RuleSetName: string };
}

/** What the handler asks of SES (receipt rules exist only in the SES v1 API). */
export interface ReceiptRuleSets {
  /** The name of the region's active rule set, if any. */
  activeName(): Promise<string | undefined>;
  activate(name: string): Promise<void>;
  /** Leaves the region with no active rule set. */
  deactivate(): Promise<void>;
}

export interface ActiveRuleSetResult {
  physicalResourceId: string;
  /** What the handler did, for the log and the CloudFormation response. */
  outcome: 'activated' | 'deactivated' | 'left-active-set-alone';
}

/**
 * Create and Update activate `RuleSetName`; Delete deactivates it only if it is still active.
 * @throws Error when `RuleSetName` is missing
 */
export async function applyActiveRuleSet(
  event: Pick<ActiveRuleSetEvent, 'RequestType' | 'ResourceProperties'>,
  sets: ReceiptRuleSets,
): Promise<ActiveRuleSetResult> {
  const name = event.ResourceProperties?.RuleSetName;
  if (typeof name !== 'string' || name === '') throw new Error('RuleSetName is required');
  if (event.RequestType !== 'Delete') {
    await sets.activate(name);
    return { physicalResourceId: name, outcome: 'activated' };
  }
  if ((await sets.activeName()) !== name) {
    return { physicalResourceId: name, outcome: 'left-active-set-alone' };
  }
  await sets.deactivate();
  return { physicalResourceId: name, outcome: 'deactivated' };
}

/** SES receipt rule sets through the SDK. */
export function sesReceiptRuleSets(client: SESClient): ReceiptRuleSets {
  return {
    async activeName() {
      const out = await client.send(new DescribeActiveReceiptRuleSetCommand({}));
      return out.Metadata?.Name;
    },
    async activate(name) {
      await client.send(new SetActiveReceiptRuleSetCommand({ RuleSetName: name }));
    },
    async deactivate() {
      // SetActiveReceiptRuleSet without a name leaves no set active (SES API reference).
      await client.send(new SetActiveReceiptRuleSetCommand({}));
    },
  };
}

/** The body CloudFormation expects at the request's presigned ResponseURL. */
export function responseBody(
  event: ActiveRuleSetEvent,
  status: 'SUCCESS' | 'FAILED',
  physicalResourceId: string,
  reason: string,
): string {
  return JSON.stringify({
    Status: status,
    Reason: reason,
    PhysicalResourceId: physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
}

function putResponse(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // An empty content type, as the presigned URL was signed without one (cfn-response does the same).
    const req = request(
      url,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () =>
          (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`response PUT ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let client: SESClient | undefined;

/**
 * Lambda entry: always answers CloudFormation, SUCCESS or FAILED with the reason, so a failure shows in
 * the stack events at once instead of after CloudFormation's hour-long wait.
 */
export async function handler(event: ActiveRuleSetEvent): Promise<void> {
  let status: 'SUCCESS' | 'FAILED' = 'SUCCESS';
  let reason = '';
  let physicalResourceId = event.PhysicalResourceId ?? event.ResourceProperties?.RuleSetName ?? 'none';
  try {
    client ??= new SESClient({});
    const result = await applyActiveRuleSet(event, sesReceiptRuleSets(client));
    physicalResourceId = result.physicalResourceId;
    reason = result.outcome;
    console.log(
      JSON.stringify({ msg: 'active rule set', request: event.RequestType, outcome: result.outcome }),
    );
  } catch (err) {
    status = 'FAILED';
    reason = (err as Error).message;
    console.error(
      JSON.stringify({ msg: 'active rule set failed', request: event.RequestType, error: reason }),
    );
  }
  await putResponse(event.ResponseURL, responseBody(event, status, physicalResourceId, reason));
}
