import './quiet.js';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LifeboatError } from '../../lambdas/core/errors.js';
import { adminClient } from './cli-api.js';
import { CONTINUITY_COMMANDS, continuityCommand } from './cli-continuity.js';
import { DRILL_USAGE } from './cli-drill.js';
import { REPLAY_USAGE } from './cli-replay.js';
import { loadLocalConfig } from './load-config.js';

export const USAGE = `usage: lifeboat <command> [options]

  status                      continuity state, open event, deliveries per state, holds
  events                      continuity events, newest first
  event <id>                  one event with its evidence and hand-over progress
  ack <id>                    acknowledge an alert (stops repeat pages and automatic invocation)
  invoke [--route R] [--reason TEXT]
                              invoke continuity: hold mail for the primary, open webmail
  revoke                      revoke continuity: hand held mail over to the primary
  schedule --start ISO --end ISO [--route R] [--reason TEXT]
                              plan continuity for maintenance
  outbox                      pages and texts sent (SMS and email)
  audit [--csv] [--actor A] [--action X] [--target T] [--since ISO] [--until ISO]
                              who did what, and what Lifeboat did on its own
  primary down|up             demo mode only: switch the demo primary off and on (rehearse an outage)
  messages [--day YYYY-MM-DD] messages received that day (UTC, default today), each recipient's state
  queue [--state S] [--route R] [--recipient ADDR] [--sender ADDR|@DOMAIN]
        [--older-than MIN] [--newer-than MIN]
                              deliveries waiting or stuck (all states but delivered)
  show <messageId>            one message and each recipient's delivery
  retry <messageId> [rcpt]    send failed, held or quarantined deliveries again now
  flush                       attempt every due delivery now (like postqueue -f)
  hold|release|bounce|delete <id…> [--reason TEXT]
  reroute <id…> --route R [--reason TEXT]
                              act on deliveries, each <messageId> (all its recipients) or
                              <messageId>/<recipient>, up to 500; bounce sends the sender a DSN
  quarantine [release <id…> --reason TEXT | delete <id…>]
                              quarantined mail with its verdicts; release or delete it
  send --to ADDR [--from ADDR] [--subject S] [--body B]
                              send a test message to the local gateway
  notify (--template invoke|revoke | --text TEXT) [--group G… | --user ID…]
         [--channel sms|email] [--dry-run]
                              text (and email personal addresses of) staff; --dry-run shows the
                              exact text per channel, its SMS segments and who gets it
  notify status [id]          staff notices, or one with each recipient's status
  notify resume <id>          send what a notice left queued
  settings [show]             the configuration in effect, secrets masked; * marks overrides
  settings set <path> <value> [--reason TEXT]
                              override a threshold, paging contact or staff notice setting
                              (a list: comma-separated); validated like the config file
  settings reset <path>       return a setting to its deployed value
  users                       staff who may sign in to the webmail: id, name, addresses, phone, status
  users add <id> --name NAME --address ADDR [--address ALIAS] [--phone +44…] [--group G]
            [--password-prompt | --password-stdin]
                              add a member of staff or change their details (the primary address first)
  users import <file.csv|file.json>
                              add or update everyone in a directory file (columns id, name,
                              addresses, groups, phone); one bad row imports nothing
  users passwd <id> [--password-stdin]
                              set the password of the built-in sign-in
  users totp <id>             enrol an authenticator app for the built-in sign-in (prints the
                              otpauth:// link and its secret); admins need one (adminMfa)
  users … --user-pool ID [--region R]
                              the same against the AWS staff user pool (Cognito) instead
${REPLAY_USAGE}
${DRILL_USAGE}
  import-legacy               import the data folder of an earlier version (dynalite and s3rver
                              folders) into this one's store; run once, with Lifeboat stopped

  --as NAME                   who acts, for the audit log (default: <your login>@localhost)
  --json                      show, retry, flush and the admin API commands: print JSON for scripts

Reads the same config as npm start (LIFEBOAT_CONFIG_FILE or ./lifeboat.config.json).
Exit status: 0 done, 1 refused or failed (the reason is printed), 2 a command or option misused.`;

const MAIL_COMMANDS = ['messages', 'queue', 'show', 'retry', 'flush'];
/** The console's queue, quarantine and audit commands: core actions on the data folder's store. */
const QUEUE_ADMIN_COMMANDS = ['hold', 'release', 'reroute', 'bounce', 'delete', 'quarantine', 'audit'];
MAIL_COMMANDS.push(...QUEUE_ADMIN_COMMANDS);
const COMMANDS = new Set<string>([
  ...CONTINUITY_COMMANDS,
  ...MAIL_COMMANDS,
  'send',
  'notify',
  'settings',
  'users',
  'replay',
  'drill',
  'import-legacy',
]);

/** Where the CLI writes, and the environment it reads its config from. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Standard input, read whole (`users … --password-stdin`). @default process.stdin */
  stdin?: (() => Promise<string>) | undefined;
  /** Asks for a password without echo. @default the terminal, when there is one */
  prompt?: ((question: string) => Promise<string>) | undefined;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        state: { type: 'string' },
        recipient: { type: 'string' },
        sender: { type: 'string' },
        'older-than': { type: 'string' },
        'newer-than': { type: 'string' },
        csv: { type: 'boolean' },
        actor: { type: 'string' },
        action: { type: 'string' },
        target: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        to: { type: 'string' },
        from: { type: 'string' },
        subject: { type: 'string' },
        day: { type: 'string' },
        route: { type: 'string' },
        reason: { type: 'string' },
        start: { type: 'string' },
        end: { type: 'string' },
        as: { type: 'string' },
        body: { type: 'string' },
        json: { type: 'boolean' },
        name: { type: 'string' },
        address: { type: 'string', multiple: true },
        group: { type: 'string', multiple: true },
        phone: { type: 'string' },
        'password-prompt': { type: 'boolean' },
        'password-stdin': { type: 'boolean' },
        'user-pool': { type: 'string' },
        region: { type: 'string' },
        mailbox: { type: 'string', multiple: true },
        'skip-ids': { type: 'string' },
        event: { type: 'string' },
        template: { type: 'string' },
        text: { type: 'string' },
        user: { type: 'string', multiple: true },
        channel: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean' },
        'confirm-production': { type: 'boolean' },
        auto: { type: 'boolean' },
        html: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new LifeboatError('USAGE', (err as Error).message);
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    (command ? io.out : io.err)(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (!COMMANDS.has(command)) throw new LifeboatError('USAGE', `unknown command ${command}`);
  const { values, positionals } = parse(rest);
  const { config } = loadLocalConfig(io.env, io.cwd);
  // Relative to where the command runs, as for npm start.
  config.local.dataDir = path.resolve(io.cwd, config.local.dataDir);
  const actor = values.as ?? `${userInfo().username}@localhost`;
  const line = (text: string) => io.out(`${text}\n`);

  if ((CONTINUITY_COMMANDS as readonly string[]).includes(command)) {
    const call = adminClient({
      host: config.local.listen,
      port: config.local.apiPort,
      dataDir: config.local.dataDir,
      actor,
    });
    return continuityCommand(command, positionals, values, call, line);
  }
  if (command === 'settings') {
    const { settingsCommand } = await import('./cli-settings.js');
    const call = adminClient({
      host: config.local.listen,
      port: config.local.apiPort,
      dataDir: config.local.dataDir,
      actor,
    });
    return settingsCommand(positionals, values, call, line);
  }
  if (command === 'notify') {
    const { notifyCommand } = await import('./cli-notify.js');
    const call = adminClient({
      host: config.local.listen,
      port: config.local.apiPort,
      dataDir: config.local.dataDir,
      actor,
    });
    return notifyCommand(positionals, values, call, line);
  }
  if (command === 'drill') {
    const { drillCommand } = await import('./cli-drill.js');
    const call = adminClient({
      host: config.local.listen,
      port: config.local.apiPort,
      dataDir: config.local.dataDir,
      actor,
    });
    return drillCommand(positionals, values, call, io.out);
  }
  if (command === 'replay') {
    const { replayCommand } = await import('./cli-replay.js');
    const client = () =>
      adminClient({
        host: config.local.listen,
        port: config.local.apiPort,
        dataDir: config.local.dataDir,
        actor,
      });
    return replayCommand(positionals, values, client, {
      line,
      out: io.out,
      cwd: io.cwd,
      stdin: io.stdin ?? readStdin,
    });
  }
  if (command === 'users') {
    const users = await import('./cli-users.js');
    let target: import('./cli-users.js').StaffTarget;
    if (values['user-pool']) {
      const { createCognitoStaffProvisioner } = await import('../../lambdas/adapters/cognito-staff.js');
      target = users.poolStaffTarget(
        createCognitoStaffProvisioner({ userPoolId: values['user-pool'], region: values.region }),
        config.domains,
      );
    } else {
      target = users.localStaffTarget(
        adminClient({
          host: config.local.listen,
          port: config.local.apiPort,
          dataDir: config.local.dataDir,
          actor,
        }),
      );
    }
    return users.usersCommand(positionals, values, target, {
      line,
      cwd: io.cwd,
      stdin: io.stdin ?? readStdin,
      prompt: io.prompt ?? users.terminalPrompt(),
    });
  }
  if (MAIL_COMMANDS.includes(command)) {
    const { mailCommand } = await import('./cli-mail.js');
    return mailCommand(command, positionals, values, {
      config,
      actor,
      out: line,
      err: (t) => io.err(`${t}\n`),
    });
  }
  if (command === 'send') {
    if (!values.to) throw new LifeboatError('USAGE', 'send needs --to ADDRESS');
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({
      host: config.local.listen,
      port: config.local.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    try {
      const info = await transport.sendMail({
        from: values.from ?? 'someone@example.org',
        to: values.to,
        subject: values.subject ?? 'Hello from Lifeboat',
        text: values.body ?? 'This message went through the Lifeboat gateway.',
      });
      line(`accepted: ${info.response}\nMessage-ID: ${info.messageId}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESOCKET' && /ECONNREFUSED/.test((err as Error).message))
        throw new LifeboatError(
          'NOT_RUNNING',
          `Lifeboat is not running (nothing answers on ${config.local.listen}:${config.local.smtpPort}): start it with \`npm start\``,
        );
      throw err;
    } finally {
      transport.close();
    }
    return 0;
  }
  // import-legacy
  const [{ importLegacyData }, { consoleLogger }, { dataLayout }] = await Promise.all([
    import('./legacy-import.js'),
    import('./console-logger.js'),
    import('./data-dir.js'),
  ]);
  const result = await importLegacyData(config, dataLayout(config.local.dataDir).dataDir, consoleLogger());
  line(
    `imported ${result.messages} messages and ${result.deliveries} deliveries; start Lifeboat again with npm start`,
  );
  return 0;
}

/** Standard input, whole. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs one `lifeboat` command and resolves with its exit status: 0 done, 1 refused or failed
 * (the reason on stderr, as the admin API words it), 2 a command or option misused.
 */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'USAGE') {
      io.err(`lifeboat: ${e.message}\nRun \`npx lifeboat help\` for the commands and their options.\n`);
      return 2;
    }
    io.err(`lifeboat: ${err instanceof LifeboatError ? e.message : (e.stack ?? e.message)}\n`);
    return 1;
  }
}
