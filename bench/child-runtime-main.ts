/**
 * The child's side of a ChildRuntime (bench/child-runtime.ts): the local runtime in a process of
 * its own with one route to the primary, set up from its command line
 *
 *   <script> <primary port> <data dir> <ratePerSecond> <concurrency>
 *
 * and driven by lines on stdin. Every child answers `idle` (waits for deliveries in flight and
 * prints `idle {"queue":{…}}`, deliveries by state) and `stop` (shuts down and exits); the script
 * handles the rest. Nothing runs on a timer: the sweep and the probe are off, so a figure measures
 * only what its commands start.
 */
import { createInterface } from 'node:readline';
import { type Runtime, startRuntime } from '../infra/local/runtime.js';
import { parseConfig } from '../lambdas/core/config.js';

/** The primary's domain; the parent addresses its messages to it. */
export const PRIMARY_DOMAIN = 'corp.test';

export interface BenchChild {
  runtime: Runtime;
  /** Prints `tag {json}`, the line the parent's ChildRuntime.expect waits for. */
  reply(tag: string, body: unknown): void;
}

/**
 * Reads the command line (`script` names the usage line) and starts the runtime.
 * @throws Error with the usage when an argument is missing or out of range
 */
export async function startBenchChild(script: string, configLabel: string): Promise<BenchChild> {
  const primaryPort = Number(process.argv[2]);
  const dataDir = process.argv[3] ?? '';
  const ratePerSecond = Number(process.argv[4]);
  const concurrency = Number(process.argv[5]);
  if (
    !Number.isInteger(primaryPort) ||
    primaryPort <= 0 ||
    dataDir === '' ||
    !(ratePerSecond > 0) ||
    !(concurrency > 0)
  ) {
    throw new Error(`usage: ${script} <primary port> <data dir> <ratePerSecond> <concurrency>`);
  }
  const config = parseConfig(
    {
      organisation: 'Lifeboat bench',
      hostname: 'lifeboat.bench.test',
      domains: [PRIMARY_DOMAIN],
      routes: [
        {
          name: 'primary',
          domains: [PRIMARY_DOMAIN],
          hosts: [{ host: '127.0.0.1', port: primaryPort }],
          tls: 'none',
        },
      ],
      continuity: { handover: { ratePerSecond, concurrency } },
      local: { dataDir },
    },
    configLabel,
  );
  const runtime = await startRuntime({
    config,
    dataDir,
    ports: { smtp: 0, api: 0 },
    api: false,
    sweepIntervalMs: 0,
    probeIntervalMs: 0,
  });
  return {
    runtime,
    reply: (tag, body) => process.stdout.write(`${tag} ${JSON.stringify(body)}\n`),
  };
}

/**
 * Prints `ready {"smtpPort":…}`, then serves stdin's lines until `stop` (or stdin's end): `idle`
 * here, any other line by `command`. Returns once stopped; the caller then calls finishBenchChild.
 */
export async function serveBenchChild(
  child: BenchChild,
  command: (line: string) => Promise<void>,
): Promise<void> {
  child.reply('ready', { smtpPort: child.runtime.smtpPort });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'idle') {
      await child.runtime.idle();
      child.reply('idle', { queue: await child.runtime.ctx.store.countByState() });
    } else if (line === 'stop') {
      break;
    } else {
      await command(line);
    }
  }
}

/** Shuts the runtime down and exits. */
export async function finishBenchChild(child: BenchChild): Promise<never> {
  await child.runtime.stop();
  process.exit(0);
}
