import { readFileSync } from 'node:fs';
import http from 'node:http';
import { LifeboatError } from '../../lambdas/core/errors.js';
import { adminTokenFile } from './http-api.js';

/**
 * Longest the CLI waits for the admin API's answer. Every admin action answers once its state
 * is written (the hand-over runs after the answer), so this only ends the wait on a process
 * that took the connection and never answered.
 */
export const API_TIMEOUT_MS = 60_000;

/** The admin API (and so the runtime) does not answer. */
export class NotRunningError extends LifeboatError {
  constructor(host: string, port: number) {
    super(
      'NOT_RUNNING',
      `Lifeboat is not running (nothing answers on ${host}:${port}): start it with \`npm start\``,
    );
  }
}

/** One call to the admin API: the answer's JSON body, or its error as a LifeboatError with the API's code. */
export type AdminCall = (method: string, route: string, body?: unknown) => Promise<Record<string, unknown>>;

export interface AdminClientOptions {
  host: string;
  port: number;
  /** The data folder, where the runtime keeps the admin token. */
  dataDir: string;
  /** Who acts, for the audit log (`x-lifeboat-actor`). */
  actor: string;
}

function readToken(dataDir: string): string | null {
  try {
    return readFileSync(adminTokenFile(dataDir), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * One HTTP request on loopback. node:http rather than fetch: fetch loads undici on first use,
 * a noticeable part of a short command's run.
 */
function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: API_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The running runtime's admin API, as the CLI's continuity commands use it: the same handler,
 * authorisation, audit and errors as API Gateway's in AWS. A refused connection says the runtime
 * is not running and how to start it.
 */
export function adminClient(options: AdminClientOptions): AdminCall {
  const { host, port } = options;
  return async (method, route, body) => {
    const token = readToken(options.dataDir);
    let res: { status: number; text: string };
    try {
      res = await request(
        `http://${host}:${port}${route}`,
        method,
        {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          'x-lifeboat-actor': options.actor,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body ? JSON.stringify(body) : undefined,
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') throw new NotRunningError(host, port);
      if (code === 'ETIMEDOUT')
        throw new LifeboatError(
          'API_TIMEOUT',
          `no answer from ${host}:${port} within ${API_TIMEOUT_MS / 1000} s`,
        );
      throw new LifeboatError('API_UNREACHABLE', `cannot reach ${host}:${port}: ${(err as Error).message}`);
    }
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(res.text) as Record<string, unknown>;
    } catch {
      throw new LifeboatError(
        'NOT_LIFEBOAT',
        `something that is not Lifeboat's admin API answers on ${host}:${port} (HTTP ${res.status}): check local.apiPort`,
      );
    }
    if (res.status === 401 && !token) {
      throw new LifeboatError(
        'NO_TOKEN',
        `no admin token in ${adminTokenFile(options.dataDir)}: the Lifeboat answering on ${host}:${port} keeps its data in another folder (local.dataDir, LIFEBOAT_CONFIG_FILE)`,
      );
    }
    if (res.status < 200 || res.status > 299)
      throw new LifeboatError(String(data.error ?? `HTTP_${res.status}`), String(data.message ?? data.error));
    return data;
  };
}
