import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where CPU goes, by component, as shares of the sampled time. */
export interface Breakdown {
  totalMs: number;
  shares: Array<{ component: string; share: number }>;
}

/** npm packages (and project folders) grouped into the parts of the local pipeline a reader knows. */
const COMPONENTS: Array<[string, RegExp]> = [
  ['AWS SDK v3 clients (request building, signing, serde)', /^@aws-sdk\/|^@smithy\/|^@aws-crypto\//],
  [
    'DynamoDB emulator (dynalite + LevelDB)',
    /^(dynalite|classic-level|abstract-level|level-|levelup|leveldown|memdown|lock|big\.js|lazy|once|async|lodash)/,
  ],
  [
    'S3 emulator (s3rver + koa)',
    /^(s3rver|koa|@koa\/|fs-extra|graceful-fs|xmlbuilder|fast-xml-parser|busboy|statuses|http-errors|mime)/,
  ],
  [
    'SES stand-in: receiver + SPF/DKIM/DMARC (smtp-server, mailauth)',
    /^(smtp-server|mailauth|ipaddr|punycode|infra\/local)/,
  ],
  [
    'Ingest parse (mailparser and its decoders)',
    /^(mailparser|@zone-eu|libmime|libqp|libbase64|iconv-lite|encoding-japanese|html-to-text|he|tlds|linkify-it|punycode\.js|uc\.micro|selderee|parseley|leac|entities|htmlparser2|domhandler|domutils|dom-serializer|peberminta|deepmerge)/,
  ],
  ['SMTP out (nodemailer)', /^nodemailer/],
  ['Lifeboat code (lambdas/) and zod', /^(lambdas\/|zod)/],
  ['TypeScript loader at start-up (tsx, esbuild)', /^(tsx|esbuild|get-tsconfig)/],
];

function ownerOf(url: string): string | undefined {
  if (!url) return undefined;
  const at = url.lastIndexOf('node_modules/');
  if (at !== -1) {
    const rest = url.slice(at + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const m = /\/(lambdas|infra\/local|bench)\//.exec(url);
  return m ? `${m[1]}/` : undefined;
}

/**
 * Sums a V8 CPU profile by component: each sample goes to the nearest frame up its stack that
 * belongs to a package or project folder (so Node's own http and fs work is charged to whoever
 * called it). GC, idle and frames with no package on the stack get their own lines.
 */
export function breakdown(profile: CpuProfile): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((leaf, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const leafName = byId.get(leaf)?.callFrame.functionName;
    let component: string | undefined;
    if (leafName === '(idle)') component = 'idle';
    else if (leafName === '(garbage collector)') component = 'garbage collection';
    for (
      let id: number | undefined = leaf;
      component === undefined && id !== undefined;
      id = parent.get(id)
    ) {
      const owner = ownerOf(byId.get(id)?.callFrame.url ?? '');
      if (owner !== undefined)
        component = COMPONENTS.find(([, re]) => re.test(owner))?.[0] ?? `other: ${owner}`;
    }
    component ??= 'Node.js internals with no package on the stack (sockets, HTTP parsing, timers)';
    totals.set(component, (totals.get(component) ?? 0) + dt);
  });
  const shares = [...totals]
    .map(([component, us]) => ({ component, share: us / total }))
    .sort((a, b) => b.share - a.share);
  return { totalMs: total / 1000, shares };
}

export async function readProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
}

/** `41% AWS SDK …, 22% DynamoDB emulator …` for the components above `minShare`. */
export function describeBreakdown(b: Breakdown, minShare = 0.02): string {
  const shown = b.shares.filter((s) => s.share >= minShare);
  const rest = 1 - shown.reduce((sum, s) => sum + s.share, 0);
  return [
    ...shown.map((s) => `${Math.round(s.share * 100)}% ${s.component}`),
    `${Math.round(rest * 100)}% other`,
  ].join('; ');
}
