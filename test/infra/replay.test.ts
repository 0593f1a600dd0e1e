import { describe, expect, it } from 'vitest';
import { list, logicalId, type Statement, type Synthesized, synth } from './stack.js';

/** The statements of one function's role policy. */
function policyOf(s: Synthesized, prefix: string): Statement[] {
  const id = logicalId(s.template, 'AWS::IAM::Policy', prefix);
  return s.template.findResources('AWS::IAM::Policy')[id]?.Properties.PolicyDocument.Statement as Statement[];
}

// Replays of the raw archive are carried on by the sweep function, which runs every minute: it
// already talks SMTP to the primary (in the delivery VPC in port25 mode, with the routes' SMTP AUTH
// secrets), reads raw/ and packs/ (it packs the archive itself) and writes the table, which is all a
// replay needs. No function gains a grant for replays.
describe('replays in AWS', () => {
  it('run in the sweep function, scheduled every minute, whose handler carries them on', () => {
    const s = synth();
    const fns = s.template.findResources('AWS::Lambda::Function');
    const sweep = fns[logicalId(s.template, 'AWS::Lambda::Function', 'DeliverySweepFunction')];
    expect(sweep?.Properties.Handler).toBe('index.handler');
    const rule =
      s.template.findResources('AWS::Events::Rule')[
        logicalId(s.template, 'AWS::Events::Rule', 'DeliverySweepSchedule')
      ];
    expect(rule?.Properties.ScheduleExpression).toBe('rate(1 minute)');
  });

  it('lets the sweep list and read raw/ and packs/ (the archive by time), and otherwise only put packs and delete packed originals', () => {
    const s = synth();
    const bucketArn = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail'), 'Arn'] };
    const under = (p: string) => ({ 'Fn::Join': ['', [bucketArn, `/${p}*`]] });
    const onMail = policyOf(s, 'DeliverySweepRoleDefaultPolicy').filter((st) =>
      JSON.stringify(st.Resource).includes(JSON.stringify(bucketArn)),
    );
    // s3:ListBucket (ListObjectsV2) is on the bucket; objects are readable below raw/ and packs/ only.
    const reads = onMail.filter((st) => list(st.Action).every((a) => /^s3:(Get|List)/.test(a)));
    expect(reads).toHaveLength(1);
    const [read] = reads as [Statement];
    expect(list(read.Action)).toEqual(expect.arrayContaining(['s3:GetObject*', 's3:List*']));
    expect(read.Resource).toEqual([bucketArn, under('packs/'), under('raw/')]);
    // The packer's writes: packs below packs/, and DeleteObject (never a version) on raw/ originals.
    const writes = onMail.filter((st) => st !== read);
    for (const st of writes) {
      const actions = list(st.Action);
      if (actions.some((a) => a.startsWith('s3:Delete'))) {
        expect(actions).toEqual(['s3:DeleteObject']);
        expect(st.Resource).toEqual(under('raw/'));
      } else {
        expect(actions.every((a) => /^s3:(Put|Abort)/.test(a))).toBe(true);
        expect(st.Resource).toEqual(under('packs/'));
      }
    }
    expect(writes).toHaveLength(2);
  });

  it('keeps a replay job in the table the sweep already writes, with conditional puts', () => {
    const s = synth();
    const tableArn = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::DynamoDB::Table', 'StoreTable'), 'Arn'] };
    const dynamo = policyOf(s, 'DeliverySweepRoleDefaultPolicy').filter((st) =>
      list(st.Action).some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamo).toHaveLength(1);
    expect(list(dynamo[0]?.Action ?? [])).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:DeleteItem',
      ]),
    );
    expect(dynamo[0]?.Resource).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }]);
  });
});
