import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/** Told of each message a folder server wrote: its file and the envelope recipients. */
export type OnFolderMessage = (file: string, recipients: string[]) => void;

/**
 * An SMTP server on loopback that writes each message it takes to `<dir>/<time>-<n>.eml` and
 * answers `250` naming the file: the demo primary and the demo relay. No AUTH, no STARTTLS: it
 * listens on loopback only and stands in for a server, it is not one.
 */
export function createFolderSmtpServer(options: {
  dir: string;
  name: string;
  banner: string;
  onMessage?: OnFolderMessage | undefined;
  /** Refuses a recipient by calling back with an error (the demo relay's bounce addresses). */
  onRcptTo?: SMTPServerOptions['onRcptTo'];
}): SMTPServer {
  const { dir, onMessage } = options;
  let n = 0;
  return new SMTPServer({
    name: options.name,
    banner: options.banner,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    ...(options.onRcptTo ? { onRcptTo: options.onRcptTo } : {}),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const file = path.join(dir, `${Date.now()}-${String(++n).padStart(4, '0')}.eml`);
        // Private like the rest of the data folder: these are the organisation's messages.
        mkdir(dir, { recursive: true, mode: 0o700 })
          .then(() => writeFile(file, Buffer.concat(chunks), { mode: 0o600 }))
          .then(() => {
            onMessage?.(
              file,
              session.envelope.rcptTo.map((r) => r.address),
            );
            callback(null, `2.0.0 Ok: saved as ${path.basename(file)}`);
          })
          .catch((err: Error) => callback(Object.assign(err, { responseCode: 451 })));
      });
    },
  });
}

/**
 * A stand-in primary mail server for trying Lifeboat out: it accepts everything on loopback and
 * writes each message to `<dir>/<time>-<n>.eml`. It is not a mail store; a real config points
 * Lifeboat at Exchange, Google Workspace or Postfix instead.
 */
export function createDemoPrimary(dir: string, onMessage?: OnFolderMessage): SMTPServer {
  return createFolderSmtpServer({
    dir,
    name: 'demo-primary.local',
    banner: 'Lifeboat DEMO primary (writes messages to a folder)',
    onMessage,
  });
}
