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

/** Where the main thread's busy time went, by component. */
export interface Breakdown {
  /** The span profiled. */
  totalMs: number;
  /** Of it, the main thread waiting for I/O (the profile's idle samples). */
  idleMs: number;
  /** Busy time by component, largest first; shares are of the busy time. */
  shares: Array<{ component: string; ms: number; share: number }>;
}

/**
 * The parts of the single-node runtime a reader knows, each the packages and files that make it
 * up, matched against the owner of a frame (an npm package, a project file, or a Node.js module).
 * First match wins. Work done inside better-sqlite3's native code or an fs call is charged to the
 * frame that made the call, so the SQLite adapter and the file store each count their system calls.
 */
const COMPONENTS: Array<[string, RegExp]> = [
  [
    'SQLite (better-sqlite3, the store adapter)',
    /^(better-sqlite3|bindings|lambdas\/adapters\/local\/sqlite-store\.ts)$/,
  ],
  [
    'files and fsync (raw messages and receipts: open, write, fsync, rename, read)',
    /^(lambdas\/adapters\/local\/file-blobs\.ts|infra\/local\/receipts\.ts|node:internal\/fs\/.*|node:fs)$/,
  ],
  [
    'SMTP in (smtp-server, the receiver)',
    /^(smtp-server|ipv6-normalize|base32\.js|infra\/local\/receiver\.ts)$/,
  ],
  [
    'SPF, DKIM and DMARC verdicts (mailauth)',
    /^(mailauth|@postalsys\/.*|ipaddr\.js|tldts|tldts-core|psl|joi|@hapi\/.*|undici|fast-xml-parser|infra\/local\/(verdicts|resolver)\.ts)$/,
  ],
  [
    'parse (mailparser and its decoders, the summary)',
    /^(mailparser|@zone-eu\/mailsplit|html-to-text|he|tlds|linkify-it|uc\.micro|selderee|parseley|leac|entities|htmlparser2|domhandler|domutils|dom-serializer|domelementtype|peberminta|deepmerge|lambdas\/core\/summarise\.ts)$/,
  ],
  ['SMTP out (nodemailer, the mailer)', /^(nodemailer|lambdas\/adapters\/smtp-mailer\.ts)$/],
  ['Lifeboat code (lambdas/, infra/local/) and zod', /^(lambdas\/.*|infra\/local\/.*|zod)$/],
  ['TypeScript loader at start-up (tsx, esbuild)', /^(tsx|esbuild|get-tsconfig)$/],
];

/**
 * Decoders several components share (mailauth and mailparser both use libmime): their time goes
 * to the component that called them, found further up the stack.
 */
const SHARED = /^(libmime|libqp|libbase64|iconv-lite|encoding-japanese|punycode\.js|punycode)$/;

/** What owns a frame: `better-sqlite3`, `lambdas/core/deliver.ts`, `node:internal/fs/promises`, `bench/…`. */
function ownerOf(url: string): string | undefined {
  if (!url) return undefined;
  const at = url.lastIndexOf('node_modules/');
  if (at !== -1) {
    const rest = url.slice(at + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:internal/fs/') || url === 'node:fs') return url;
  const m = /\/((?:lambdas|infra\/local|bench|test)\/.*)$/.exec(url);
  return m?.[1];
}

/** The profiler's own work in a bench child (starting and stopping it) belongs to no component. */
const HARNESS = /^bench\//;

/**
 * Sums a V8 CPU profile of the main thread by component: each busy sample goes to the nearest
 * frame up its stack that belongs to a component (so Node's own socket and fs work is charged to
 * whoever asked for it). Samples under the bench harness (the profiler's own start and stop) are
 * left out; idle samples are counted apart; garbage collection and frames with no package on
 * the stack get lines of their own.
 */
export function breakdown(profile: CpuProfile): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((leaf, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const leafName = byId.get(leaf)?.callFrame.functionName;
    let component: string | undefined;
    let shared: string | undefined;
    if (leafName === '(idle)') {
      total += dt;
      idle += dt;
      return;
    }
    if (leafName === '(garbage collector)') component = 'garbage collection';
    else if (leafName === '(program)') component = 'native code outside JavaScript (V8, libuv)';
    for (
      let id: number | undefined = leaf;
      component === undefined && id !== undefined;
      id = parent.get(id)
    ) {
      const owner = ownerOf(byId.get(id)?.callFrame.url ?? '');
      if (owner === undefined) continue;
      if (HARNESS.test(owner)) return;
      if (SHARED.test(owner)) {
        shared ??= owner;
        continue;
      }
      component = COMPONENTS.find(([, re]) => re.test(owner))?.[0] ?? `other: ${owner}`;
    }
    total += dt;
    component ??= shared
      ? `other: ${shared}`
      : 'Node.js internals with no package on the stack (socket reads, timers)';
    totals.set(component, (totals.get(component) ?? 0) + dt);
  });
  const busy = total - idle;
  const shares = [...totals]
    .map(([component, us]) => ({ component, ms: us / 1000, share: us / busy }))
    .sort((a, b) => b.share - a.share);
  return { totalMs: total / 1000, idleMs: idle / 1000, shares };
}

export async function readProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
}

/**
 * `1.20 ms SQLite … (31%); 0.52 ms SMTP out … (14%); …; 0.10 ms other (3%)` per message, for the
 * components of at least `minShare` of the busy time.
 */
export function describeBreakdown(b: Breakdown, messages: number, minShare = 0.02): string {
  const perMessage = (ms: number) => `${(ms / messages).toFixed(2)} ms`;
  const shown = b.shares.filter((s) => s.share >= minShare);
  const restMs = b.shares.filter((s) => s.share < minShare).reduce((sum, s) => sum + s.ms, 0);
  const busyMs = b.totalMs - b.idleMs;
  return [
    ...shown.map((s) => `${perMessage(s.ms)} ${s.component} (${Math.round(s.share * 100)}%)`),
    `${perMessage(restMs)} other (${Math.round((restMs / busyMs) * 100)}%)`,
  ].join('; ');
}

/** `4.10 ms a message, busy 83% of the span` for the main thread of a profiled run. */
export function describeBusy(b: Breakdown, messages: number): string {
  const busyMs = b.totalMs - b.idleMs;
  return `${(busyMs / messages).toFixed(2)} ms a message, busy ${Math.round((busyMs / b.totalMs) * 100)}% of the span`;
}
