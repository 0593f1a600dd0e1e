import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../test/e2e/support/executables.js';
import { type PostfixInstance, postfixUnavailableReason } from '../test/e2e/support/postfix.js';
import { processTreeCpuMs } from './host.js';

/** Why Postfix cannot be the reference here, or undefined when it can. */
export function postfixMissing(): string | undefined {
  if (findExecutable('postfix') === undefined) return 'Postfix not installed: run apt-get install postfix';
  const reason = postfixUnavailableReason();
  return reason === undefined ? undefined : `Postfix cannot run here: ${reason}`;
}

/**
 * The main.cf settings that bear on how fast Postfix receives, queues and relays. The reference
 * is Postfix as the distribution ships it, apart from those the harness sets and the notes name.
 * Durability has no setting: cleanup(8) fsyncs every queue file before smtpd answers 250, always.
 */
const SPEED_SETTINGS = [
  'in_flow_delay',
  'default_process_limit',
  'initial_destination_concurrency',
  'default_destination_concurrency_limit',
  'smtp_connection_cache_on_demand',
  'smtp_connection_reuse_count_limit',
  'smtp_connection_cache_time_limit',
  'qmgr_message_active_limit',
] as const;

function postconf(args: readonly string[]): string | undefined {
  const tool = findExecutable('postconf');
  if (tool === undefined) return undefined;
  try {
    return execFileSync(tool, args, { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** `in_flow_delay 0s (shipped: 1s), …`: the speed settings of this instance that differ from Postfix's defaults. */
export function postfixTuning(instance: PostfixInstance): string {
  const changed: string[] = [];
  for (const name of SPEED_SETTINGS) {
    const value = postconf(['-c', instance.configDir, '-h', name]);
    const shipped = postconf(['-d', '-h', name]);
    if (value !== undefined && shipped !== undefined && value !== shipped)
      changed.push(`${name} ${value} (shipped: ${shipped})`);
  }
  return changed.length > 0 ? changed.join(', ') : 'none';
}

/** Postfix's version, e.g. `3.7.11`. */
export function postfixVersion(): string {
  return postconf(['-d', '-h', 'mail_version']) ?? 'unknown';
}

/**
 * CPU used so far by the instance's master daemon and every process under it (smtpd, cleanup,
 * qmgr, smtp, the ones that have exited included), in milliseconds; undefined when unknown.
 */
export function postfixCpuMs(instance: PostfixInstance): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(instance.queueDir, 'pid', 'master.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? processTreeCpuMs(pid) : undefined;
  } catch {
    return undefined;
  }
}
