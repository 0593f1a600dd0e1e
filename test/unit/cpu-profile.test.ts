import { describe, expect, it } from 'vitest';
import { breakdown, describeBreakdown } from '../../bench/cpu-profile.js';

const ROOT = 'file:///repo';
const NM = `${ROOT}/node_modules`;

/**
 * A profile whose samples are the given stacks (outermost frame first), each sampled for 1 ms.
 * A frame is `name@url`; `url` may be empty for native code.
 */
function profileOf(stacks: string[][]) {
  const nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children: number[] }> = [
    { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] },
  ];
  const samples: number[] = [];
  for (const stack of stacks) {
    let parent = nodes[0] as (typeof nodes)[number];
    for (const frame of stack) {
      const [functionName = '', url = ''] = frame.split('@');
      const node = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
      nodes.push(node);
      parent.children.push(node.id);
      parent = node;
    }
    samples.push(parent.id);
  }
  return { nodes, samples, timeDeltas: samples.map(() => 1000) };
}

const shareOf = (b: ReturnType<typeof breakdown>, prefix: string) =>
  b.shares.find((s) => s.component.startsWith(prefix))?.ms ?? 0;

describe('breakdown', () => {
  it('charges native SQLite and fs calls to the adapter that made them', () => {
    const b = breakdown(
      profileOf([
        [`replaceDelivery@${ROOT}/lambdas/adapters/local/sqlite-store.ts`, 'run@'],
        [
          `getRaw@${ROOT}/lambdas/adapters/local/file-blobs.ts`,
          'open@node:internal/fs/promises',
          'openFileHandle@',
        ],
        ['readFileHandle@node:internal/fs/promises', 'fstat@'],
      ]),
    );
    expect(shareOf(b, 'SQLite')).toBe(1);
    expect(shareOf(b, 'files and fsync')).toBe(2);
  });

  it('charges a shared decoder to the component that called it', () => {
    const b = breakdown(
      profileOf([
        [`authenticate@${NM}/mailauth/lib/mailauth.js`, `decodeWords@${NM}/libmime/lib/libmime.js`],
        [`parse@${NM}/mailparser/lib/mail-parser.js`, `decodeWords@${NM}/libmime/lib/libmime.js`],
      ]),
    );
    expect(shareOf(b, 'SPF, DKIM and DMARC')).toBe(1);
    expect(shareOf(b, 'parse')).toBe(1);
  });

  it('leaves out the bench harness and counts idle time apart from the busy shares', () => {
    const b = breakdown(
      profileOf([
        [`main@${ROOT}/bench/pipeline-runtime.ts`, 'post@node:inspector', 'dispatch@'],
        ['(idle)@'],
        [`send@${NM}/nodemailer/lib/smtp-connection/index.js`],
      ]),
    );
    expect(b.idleMs).toBe(1);
    expect(b.totalMs).toBe(2);
    expect(b.shares).toEqual([{ component: 'SMTP out (nodemailer, the mailer)', ms: 1, share: 1 }]);
  });

  it('says each component per message', () => {
    const b = breakdown(
      profileOf([
        [`onData@${NM}/smtp-server/lib/smtp-connection.js`],
        [`onData@${NM}/smtp-server/lib/smtp-connection.js`],
        [`run@${ROOT}/lambdas/adapters/local/sqlite-store.ts`],
        [`run@${ROOT}/lambdas/adapters/local/sqlite-store.ts`],
      ]),
    );
    expect(describeBreakdown(b, 2)).toBe(
      '1.00 ms SMTP in (smtp-server, the receiver) (50%); 1.00 ms SQLite (better-sqlite3, the store adapter) (50%); 0.00 ms other (0%)',
    );
  });
});
