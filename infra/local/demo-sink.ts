import type { SMTPServer } from 'smtp-server';
import { createFolderSmtpServer, type OnFolderMessage } from './demo-primary.js';

/**
 * Demo mode's relay for mail to outside addresses: an SMTP server on loopback that writes each
 * message it takes to `<dir>/<time>-<n>.eml`, so a newcomer can see what the webmail sent out.
 * It refuses recipients whose local part is `nobody` or starts with `bounce` (550 5.1.1), so the
 * bounce notice can be tried too.
 */
export function createDemoSink(dir: string, onMessage?: OnFolderMessage): SMTPServer {
  return createFolderSmtpServer({
    dir,
    name: 'demo-sink.local',
    banner: 'Lifeboat DEMO relay (writes outgoing mail to a folder)',
    onMessage,
    onRcptTo(address, _session, callback) {
      const local = address.address.slice(0, address.address.lastIndexOf('@')).toLowerCase();
      if (local === 'nobody' || local.startsWith('bounce')) {
        return callback(
          Object.assign(new Error(`5.1.1 <${address.address}>: no such user (demo sink)`), {
            responseCode: 550,
          }),
        );
      }
      callback();
    },
  });
}
