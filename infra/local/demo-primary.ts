import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

/**
 * A stand-in primary mail server for trying Lifeboat out: it accepts everything on loopback and
 * writes each message to `<dir>/<time>-<n>.eml`. It is not a mail store; a real config points
 * Lifeboat at Exchange, Google Workspace or Postfix instead.
 */
export function createDemoPrimary(
  dir: string,
  onMessage?: (file: string, recipients: string[]) => void,
): SMTPServer {
  let n = 0;
  return new SMTPServer({
    name: 'demo-primary.local',
    banner: 'Lifeboat DEMO primary (writes messages to a folder)',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
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
