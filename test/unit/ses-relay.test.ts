import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createSesRelay } from '../../lambdas/adapters/ses-relay.js';

const ses = mockClient(SESv2Client);
afterEach(() => ses.reset());

describe('createSesRelay', () => {
  it('sends the raw message in the configuration set, tagged with the sender and the sent message', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-1' });
    const relay = createSesRelay(new SESv2Client({ region: 'eu-west-1' }), 'lifeboat-webmail');
    const result = await relay.send(
      { from: 'alice@example.com', to: ['x@outside.test'] },
      Buffer.from('raw'),
      {
        user: 'alice',
        id: '20261122T100000000Z-abc',
      },
    );
    expect(result.providerId).toBe('ses-1');
    expect(result.outcomes).toEqual([
      expect.objectContaining({ recipient: 'x@outside.test', status: 'delivered' }),
    ]);
    const input = ses.commandCalls(SendEmailCommand)[0]?.args[0].input;
    expect(input?.ConfigurationSetName).toBe('lifeboat-webmail');
    expect(input?.EmailTags).toEqual([
      { Name: 'lifeboat-user', Value: Buffer.from('alice').toString('base64url') },
      { Name: 'lifeboat-sent', Value: '20261122T100000000Z-abc' },
    ]);
  });

  it('reads a rejection as failed and throttling as deferred', async () => {
    const relay = createSesRelay(new SESv2Client({ region: 'eu-west-1' }), 'set');
    ses
      .on(SendEmailCommand)
      .rejects(Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' }));
    expect(
      (await relay.send({ from: 'a@example.com', to: ['x@o.test'] }, Buffer.from('r'))).outcomes[0]?.status,
    ).toBe('failed');
    ses
      .on(SendEmailCommand)
      .rejects(
        Object.assign(new Error('Maximum sending rate exceeded'), { name: 'TooManyRequestsException' }),
      );
    expect(
      (await relay.send({ from: 'a@example.com', to: ['x@o.test'] }, Buffer.from('r'))).outcomes[0]?.status,
    ).toBe('deferred');
  });
});
