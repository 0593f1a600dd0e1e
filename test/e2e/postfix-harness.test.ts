import { writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, probePort } from './support/net.js';
import { PostfixInstance } from './support/postfix.js';
import { describeWithPostfix } from './support/requirements.js';
import { SmtpSink } from './support/smtp-sink.js';
import { sendWithSwaks } from './support/swaks.js';

describeWithPostfix('PostfixInstance', () => {
  describe('mailbox mode', () => {
    let primary: PostfixInstance;

    beforeAll(async () => {
      primary = await PostfixInstance.create({ mode: 'mailbox', domains: ['corp.test', 'branch.test'] });
    });
    afterEach(async () => {
      await primary.start();
      await primary.clearMessages();
    });
    afterAll(async () => {
      await primary?.dispose();
    });

    it('delivers each accepted message to the Maildir under its Message-ID', async () => {
      const first = await sendWithSwaks({
        port: primary.port,
        to: 'ann@corp.test',
        header: { 'Message-Id': '<first@sender.example>' },
      });
      const second = await sendWithSwaks({
        port: primary.port,
        to: 'bob@branch.test',
        header: { 'Message-Id': '<second@sender.example>' },
        body: 'second message',
      });
      expect([first.exitCode, second.exitCode]).toEqual([0, 0]);

      const messages = await primary.waitForMessages(2);
      expect(messages.map((message) => [message.messageId, message.recipient]).sort()).toEqual([
        ['<first@sender.example>', 'ann@corp.test'],
        ['<second@sender.example>', 'bob@branch.test'],
      ]);
      expect((await primary.messageIds()).sort()).toEqual([
        '<first@sender.example>',
        '<second@sender.example>',
      ]);
    });

    it('stores a message as the client sent it, below its own delivery headers', async () => {
      const message = [
        'From: Ann <ann@sender.example>',
        'To: team@corp.test',
        'Subject: quarterly figures',
        'Message-ID: <as-sent@sender.example>',
        'X-Unusual:  spacing   kept',
        '',
        'Body line one.',
        '.leading dot survives dot-stuffing',
      ].join('\n');
      const file = `${primary.dir}/as-sent.eml`;
      await writeFile(file, message);

      const result = await sendWithSwaks({
        port: primary.port,
        from: 'ann@sender.example',
        to: 'team@corp.test',
        data: file,
      });
      expect(result.exitCode).toBe(0);

      const [delivered] = await primary.waitForMessages(1);
      // swaks ends DATA with its own line break, so the file carries none.
      expect(delivered?.original.toString('utf8')).toBe(`${message}\n`);
      expect(delivered?.sender).toBe('ann@sender.example');
    });

    it('refuses a recipient in a domain it does not host', async () => {
      const result = await sendWithSwaks({ port: primary.port, to: 'someone@elsewhere.example' });
      expect(result.exitCode).toBe(24); // swaks: RCPT TO rejected
      expect(result.stdout).toContain('Relay access denied');
    });

    it('refuses connections while stopped and accepts mail again once started', async () => {
      await primary.stop();
      expect(await primary.isRunning()).toBe(false);
      expect(await probePort(primary.port)).toBe('refused');
      const whileDown = await sendWithSwaks({ port: primary.port, to: 'ann@corp.test' });
      expect(whileDown.exitCode).toBe(2); // swaks: could not connect

      await primary.start();
      expect(await primary.isRunning()).toBe(true);
      const afterRestart = await sendWithSwaks({
        port: primary.port,
        to: 'ann@corp.test',
        header: { 'Message-Id': '<after-restart@sender.example>' },
      });
      expect(afterRestart.exitCode).toBe(0);
      await primary.waitForMessages(1);
      expect(await primary.messageIds()).toEqual(['<after-restart@sender.example>']);
    });
  });

  describe('relay mode', () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('defers while the next hop is down and delivers on flush once it is up', async () => {
      const sinkPort = await freePort();
      const relay = await PostfixInstance.create({
        mode: 'relay',
        domains: ['corp.test'],
        relayhost: `127.0.0.1:${sinkPort}`,
      });
      cleanups.push(() => relay.dispose());

      const sent = await sendWithSwaks({
        port: relay.port,
        to: 'ann@corp.test',
        header: { 'Message-Id': '<deferred@sender.example>' },
      });
      expect(sent.exitCode).toBe(0);
      await relay.waitForQueueSize(1, { queues: 'deferred' });

      const sink = await SmtpSink.start({ port: sinkPort });
      cleanups.push(() => sink.close());
      await relay.flush();
      await sink.waitForMessages(1);
      await relay.waitForQueueSize(0);

      expect(sink.messages.map((message) => message.to)).toEqual([['ann@corp.test']]);
      expect(sink.messages[0]?.raw.toString('utf8')).toContain('Message-Id: <deferred@sender.example>');
    });

    it('relays into another instance running side by side', async () => {
      const primary = await PostfixInstance.create({ mode: 'mailbox', domains: ['corp.test'] });
      cleanups.push(() => primary.dispose());
      const relay = await PostfixInstance.create({
        mode: 'relay',
        domains: ['corp.test'],
        relayhost: `127.0.0.1:${primary.port}`,
      });
      cleanups.push(() => relay.dispose());

      for (const n of [1, 2, 3]) {
        const result = await sendWithSwaks({
          port: relay.port,
          to: 'ann@corp.test',
          header: { 'Message-Id': `<chain-${n}@sender.example>` },
        });
        expect(result.exitCode).toBe(0);
      }

      await primary.waitForMessages(3);
      expect((await primary.messageIds()).sort()).toEqual([
        '<chain-1@sender.example>',
        '<chain-2@sender.example>',
        '<chain-3@sender.example>',
      ]);
    });
  });
});
