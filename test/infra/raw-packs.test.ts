import { beforeAll, describe, expect, it } from 'vitest';
import { list, logicalId, type Statement, type Synthesized, synth } from './stack.js';

/** Every statement of one function role's policies. */
function statementsOf(s: Synthesized, role: string): Statement[] {
  return Object.entries(s.template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(role))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
}

describe('raw-mail packing grants', () => {
  let s: Synthesized;
  let bucket: unknown;
  const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucket, `/${prefix}*`]] });
  beforeAll(() => {
    s = synth();
    bucket = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail'), 'Arn'] };
  });

  it('lets the sweep delete originals below raw/ with s3:DeleteObject only, and no other function delete raw mail', () => {
    const deletes = Object.entries(s.template.findResources('AWS::IAM::Policy')).flatMap(([id, p]) =>
      (p.Properties.PolicyDocument.Statement as Statement[])
        .filter((st) => list(st.Action).some((a) => /^s3:Delete/.test(a)))
        .map((st) => ({ id: id.replace(/RoleDefaultPolicy.*/, ''), st })),
    );
    const onRaw = deletes.filter(({ st }) => JSON.stringify(st.Resource).includes('/raw/'));
    expect(onRaw.map(({ id }) => id)).toEqual(['DeliverySweep']);
    expect(onRaw[0]?.st).toMatchObject({ Sid: 'DeletePackedRawMail', Action: 's3:DeleteObject' });
    expect(onRaw[0]?.st.Resource).toEqual(objects('raw/'));
    // Never a version: a deleted original stays recoverable for the raw/ rule's noncurrent days.
    for (const { st } of deletes) expect(list(st.Action)).not.toContain('s3:DeleteObjectVersion');
  });

  it('lets the sweep put and read packs below packs/ (with the mail key), and deliver nothing there', () => {
    const sweep = statementsOf(s, 'DeliverySweep');
    const onPacks = sweep.filter((st) => JSON.stringify(st.Resource).includes('/packs/'));
    const actions = onPacks.flatMap((st) => list(st.Action));
    expect(actions).toEqual(expect.arrayContaining(['s3:PutObject', 's3:GetObject*']));
    expect(actions.filter((a) => a.startsWith('s3:Delete'))).toEqual([]);
    for (const st of onPacks) expect(list(st.Resource)).toContainEqual(objects('packs/'));
    const key = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::KMS::Key', 'StoreKey'), 'Arn'] };
    const keyActions = sweep
      .filter((st) => JSON.stringify(st.Resource) === JSON.stringify(key))
      .flatMap((st) => list(st.Action));
    expect(keyActions).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));
    const deliver = statementsOf(s, 'DeliveryDeliver');
    expect(JSON.stringify(deliver)).not.toContain('/packs/');
    expect(deliver.flatMap((st) => list(st.Action)).filter((a) => a.startsWith('s3:Delete'))).toEqual([]);
  });
});
