import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

/**
 * Demo mode's relay for mail to outside addresses: an SMTP server on loopback that writes each
 * message it takes to `<dir>/<time>-<n>.eml`, so a newcomer can see what the webmail sent out.
 * It refuses recipients whose local part is `nobody` or starts with `bounce` (550 5.1.1), so the
 * bounce notice can be tried too.
 */
export function createDemoSink(
  dir: string,
  onMessage?: (file: string, recipients: string[]) => void,
): SMTPServer {
  let n = 0;
  return new SMTPServer({
    name: 'demo-sink.local',
    banner: 'Lifeboat DEMO relay (writes outgoing mail to a folder)',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const local = address.address.slice(0, address.address.lastIndexOf('@')).toLowerCase();
      if (local === 'nobody' || local.startsWith('bounce')) {
        return callback(
          Object.assign(new Error('5.1.1 <' + address.address + '>: no such user (demo sink)'), {
            responseCode: 550,
          }),
        );
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const file = path.join(dir, `${Date.now()}-${String(++n).padStart(4, '0')}.eml`);
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
