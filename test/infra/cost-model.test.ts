import { beforeAll, describe, expect, it } from 'vitest';
import { ASSUMPTIONS, PROBE_TICKS, TICK_QUEUES } from '../../bench/aws-cost.js';
import { METRICS } from '../../infra/aws/constructs/monitoring.js';
import { logicalId, type Synthesized, synth } from './stack.js';

/**
 * The worked month (bench/aws-cost.ts, the README's cost table) prices what the stack deploys: these
 * fail when a construct adds or drops a billed resource and the model was not told.
 */
describe('the worked month against the stack', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });
  const count = (type: string) => Object.keys(s.template.findResources(type)).length;

  it('prices every alarm, dashboard and customer managed key the stack creates', () => {
    expect(count('AWS::CloudWatch::Alarm')).toBe(ASSUMPTIONS.alarms);
    expect(count('AWS::CloudWatch::Dashboard')).toBe(ASSUMPTIONS.dashboards);
    expect(count('AWS::KMS::Key')).toBe(ASSUMPTIONS.customerManagedKeys);
  });

  it('lists what sending from the webmail creates, outside the normal month', () => {
    const sendingQueues = Object.keys(s.template.findResources('AWS::SQS::Queue')).filter((id) =>
      id.startsWith('Sending'),
    );
    expect(sendingQueues).toHaveLength(ASSUMPTIONS.sendingQueues);
    expect(count('AWS::SES::ConfigurationSet')).toBe(ASSUMPTIONS.sendingConfigurationSets);
    const rules = Object.keys(s.template.findResources('AWS::Events::Rule')).filter((id) =>
      id.startsWith('Sending'),
    );
    expect(rules).toHaveLength(ASSUMPTIONS.sendingEventRules);
  });

  it('prices the long polls of every event source mapping on a sending queue in the month', () => {
    const sendingQueues = Object.keys(s.template.findResources('AWS::SQS::Queue')).filter((id) =>
      id.startsWith('Sending'),
    );
    const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).filter((m) =>
      sendingQueues.includes(m.Properties.EventSourceArn?.['Fn::GetAtt']?.[0]),
    );
    expect(mappings).toHaveLength(ASSUMPTIONS.sendingQueueMappings);
  });

  it('prices one custom metric per name the stack reads from the Lifeboat namespace, and no other', () => {
    const template = JSON.stringify(s.template.toJSON());
    for (const name of Object.values(METRICS)) expect(template).toContain(name);
    for (const alarm of Object.values(s.template.findResources('AWS::CloudWatch::Alarm'))) {
      if (alarm.Properties.Namespace === 'Lifeboat') {
        expect(Object.values(METRICS)).toContain(alarm.Properties.MetricName);
      }
    }
    expect(ASSUMPTIONS.customMetrics).toBe(Object.keys(METRICS).length);
  });

  it('bills the probe one round per tick and a delaying queue, polled by one event source mapping, per later tick', () => {
    const delays = Object.entries(s.template.findResources('AWS::SQS::Queue'))
      .filter(([id]) => id.startsWith('ContinuityRoundTick'))
      .map(([, q]) => q.Properties.DelaySeconds);
    expect(delays).toEqual(PROBE_TICKS.slice(1));
    expect(delays).toHaveLength(TICK_QUEUES);
    const probe = logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
    const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) => m.Properties.FunctionName.Ref === probe,
    );
    expect(mappings).toHaveLength(TICK_QUEUES);
    s.template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
  });
});
