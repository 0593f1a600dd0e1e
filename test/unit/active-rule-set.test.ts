import { describe, expect, it } from 'vitest';
import {
  type ActiveRuleSetEvent,
  applyActiveRuleSet,
  type ReceiptRuleSets,
  responseBody,
} from '../../infra/aws/custom-resources/active-rule-set.js';

/** SES's receipt rule sets of one region: which one is active, and every call made. */
function fakeSes(active: string | undefined) {
  const calls: string[] = [];
  const state = { active };
  const sets: ReceiptRuleSets = {
    async activeName() {
      calls.push('describe');
      return state.active;
    },
    async activate(name) {
      calls.push(`activate ${name}`);
      state.active = name;
    },
    async deactivate() {
      calls.push('deactivate');
      state.active = undefined;
    },
  };
  return { sets, calls, state };
}

const ours = { RuleSetName: 'Lifeboat-inbound' };

describe('applyActiveRuleSet', () => {
  it('activates the stack’s rule set on create, replacing the set that was active', async () => {
    const ses = fakeSes('legacy-rules');
    const result = await applyActiveRuleSet({ RequestType: 'Create', ResourceProperties: ours }, ses.sets);
    expect(ses.state.active).toBe('Lifeboat-inbound');
    expect(result).toEqual({ physicalResourceId: 'Lifeboat-inbound', outcome: 'activated' });
  });

  it('activates it again on update', async () => {
    const ses = fakeSes(undefined);
    await applyActiveRuleSet({ RequestType: 'Update', ResourceProperties: ours }, ses.sets);
    expect(ses.state.active).toBe('Lifeboat-inbound');
  });

  it('deactivates the stack’s rule set on delete while it is still the active one', async () => {
    const ses = fakeSes('Lifeboat-inbound');
    const result = await applyActiveRuleSet({ RequestType: 'Delete', ResourceProperties: ours }, ses.sets);
    expect(ses.state.active).toBeUndefined();
    expect(result.outcome).toBe('deactivated');
  });

  it('leaves a set the admin activated since alone on delete', async () => {
    const ses = fakeSes('merged-rules');
    const result = await applyActiveRuleSet({ RequestType: 'Delete', ResourceProperties: ours }, ses.sets);
    expect(ses.state.active).toBe('merged-rules');
    expect(ses.calls).toEqual(['describe']);
    expect(result.outcome).toBe('left-active-set-alone');
  });

  it('changes nothing on delete when no set is active', async () => {
    const ses = fakeSes(undefined);
    await applyActiveRuleSet({ RequestType: 'Delete', ResourceProperties: ours }, ses.sets);
    expect(ses.calls).toEqual(['describe']);
  });

  it('refuses a request without a rule set name', async () => {
    const ses = fakeSes('Lifeboat-inbound');
    await expect(
      applyActiveRuleSet({ RequestType: 'Delete', ResourceProperties: { RuleSetName: '' } }, ses.sets),
    ).rejects.toThrow(/RuleSetName/);
    expect(ses.calls).toEqual([]);
  });
});

describe('responseBody', () => {
  it('answers CloudFormation with the request’s ids, the status and the reason', () => {
    const event: ActiveRuleSetEvent = {
      RequestType: 'Delete',
      ResponseURL: 'https://cloudformation-custom-resource-response.example/abc',
      StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Lifeboat/1',
      RequestId: 'req-1',
      LogicalResourceId: 'InboundActivateRuleSet',
      PhysicalResourceId: 'Lifeboat-inbound',
      ResourceProperties: ours,
    };
    expect(JSON.parse(responseBody(event, 'FAILED', 'Lifeboat-inbound', 'AccessDenied'))).toEqual({
      Status: 'FAILED',
      Reason: 'AccessDenied',
      PhysicalResourceId: 'Lifeboat-inbound',
      StackId: event.StackId,
      RequestId: 'req-1',
      LogicalResourceId: 'InboundActivateRuleSet',
    });
  });
});
