import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASSUMPTIONS, renderCostTable, workedMonth } from '../../bench/aws-cost.js';
import { REPO_ROOT } from '../../infra/aws/deployment-config.js';

const readme = () => readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

describe('workedMonth', () => {
  it('is the table the README shows under "What it costs"', () => {
    expect(readme()).toContain(renderCostTable());
  });

  it('is the per-user cost and the ratios the README states', () => {
    const month = workedMonth();
    // Prose is compared with its line breaks as spaces, so re-wrapping a paragraph breaks nothing.
    const text = readme().replace(/\s+/g, ' ');
    expect(text).toContain(`**$${(month.totalUsd / ASSUMPTIONS.users).toFixed(2)} per user a month**`);
    expect(text).toContain(`($${(month.port25TotalUsd / ASSUMPTIONS.users).toFixed(2)} with \`port25\`)`);
    expect(text).toContain(`**${month.ratio.toFixed(2)} times SES receiving alone**`);
    expect(text).toContain(`it is ${month.dedicated.ratio.toFixed(2)} times`);
  });

  it('packs small mail into Glacier Instant Retrieval too, and moves nothing there by a lifecycle transition', () => {
    const noLargeMail = workedMonth({ ...ASSUMPTIONS, smallShare: 1 });
    const glacier = noLargeMail.items.find((i) => i.item.startsWith('S3 Glacier Instant Retrieval'));
    expect(glacier?.usd).toBeGreaterThan(0);
    expect(noLargeMail.items.some((i) => i.item.startsWith('S3 lifecycle transitions'))).toBe(false);
  });

  it('states what replaying a month of packed mail costs', () => {
    const { packedReplay } = workedMonth();
    const text = readme().replace(/\s+/g, ' ');
    expect(text).toContain(`replay of a month of packed mail costs about $${packedReplay.usd.toFixed(2)}`);
  });
});
