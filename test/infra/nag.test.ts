import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { SMS_PUBLISH_REASON } from '../../infra/aws/constructs/continuity.js';
import { synth } from './stack.js';

const port25 = {
  routes: [
    {
      name: 'primary',
      domains: ['example.com', 'example.org'],
      hosts: [{ host: 'mx.example.com', port: 25 }],
    },
  ],
  // The other sign-in: the organisation's own OIDC provider instead of the stack's Cognito pool.
  aws: {
    delivery: 'port25' as const,
    adminAuth: {
      issuer: 'https://login.microsoftonline.com/contoso-tenant/v2.0',
      audience: ['api://lifeboat'],
    },
  },
};

/** Every acknowledgment recorded under a construct: rule id and reason. */
function acknowledgments(root: IConstruct): { id: string; reason: string }[] {
  return root.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })));
}

describe('cdk-nag AwsSolutions', () => {
  for (const [mode, overrides] of [
    ['connector', {}],
    ['port25', port25],
  ] as const) {
    it(`reports no unacknowledged finding (${mode})`, () => {
      const { stack } = synth(overrides);
      const report = new AwsSolutionsChecks(stack).validateScope(stack);
      expect(
        report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
      expect(report.success).toBe(true);
    });

    it(`gives every acknowledgment a written reason (${mode})`, () => {
      const { stack } = synth(overrides);
      const acks = acknowledgments(stack).filter(({ id }) => id.includes('AwsSolutions'));
      expect(acks.length).toBeGreaterThan(0);
      for (const { id, reason } of acks) {
        expect(id).toMatch(/AwsSolutions-[A-Z0-9]+/);
        expect(reason.length, id).toBeGreaterThan(40);
      }
    });
  }

  it('acknowledges wildcards finding by finding, never a whole IAM5 rule', () => {
    const { stack } = synth(port25);
    const iam5 = acknowledgments(stack).filter(({ id }) => id.includes('AwsSolutions-IAM5'));
    expect(iam5.length).toBeGreaterThan(0);
    for (const { id } of iam5) expect(id).toMatch(/AwsSolutions-IAM5\[(Action|Resource)::.+\]$/);
  });

  it('justifies Resource "*" for SMS on the SMS policies alone, and the Cognito plan on the pool alone', () => {
    const { stack } = synth();
    const ackedWith = (match: (id: string, reason: string) => boolean) =>
      stack.node
        .findAll()
        .filter((c) =>
          c.node.metadata.some(
            (m) =>
              m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY &&
              Object.entries(m.data as Record<string, string>).some(([id, reason]) => match(id, reason)),
          ),
        )
        .map((c) => c.node.path)
        .sort();
    expect(
      ackedWith(
        (id, reason) => id.includes('AwsSolutions-IAM5[Resource::*]') && reason === SMS_PUBLISH_REASON,
      ),
    ).toEqual(['Lifeboat/AdminApi/Api/SmsPaging', 'Lifeboat/Continuity/Probe/SmsPaging']);
    expect(ackedWith((_id, reason) => reason === SMS_PUBLISH_REASON)).toHaveLength(2);
    expect(ackedWith((id) => id.includes('AwsSolutions-COG8'))).toEqual(['Lifeboat/StaffAuth/Pool']);
  });
});
