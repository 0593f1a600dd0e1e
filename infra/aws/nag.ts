import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges a cdk-nag rule on a construct and everything under it, with the reason an auditor will
 * read. With `findings`, only those findings of the rule (`AwsSolutions-IAM5[Resource::…]`) are
 * acknowledged, so a new wildcard elsewhere still fails synth.
 */
export function acknowledgeNag(
  scope: IConstruct,
  rule: string,
  reason: string,
  findings?: readonly string[],
): void {
  const ids = findings === undefined ? [rule] : findings.map((finding) => `${rule}[${finding}]`);
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}

/** The cdk-nag finding for an IAM resource `<LogicalId.Arn>` followed by `suffix` (e.g. `/raw/*`). */
export function arnFinding(resource: IConstruct, suffix = ''): string {
  const cfn = resource.node.defaultChild as CfnElement;
  return `Resource::<${Stack.of(resource).getLogicalId(cfn)}.Arn>${suffix}`;
}
