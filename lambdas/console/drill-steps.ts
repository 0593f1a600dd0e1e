/**
 * A drill's steps in the order they happen, and what each means, for the API, the console and the
 * printable report alike. No imports, so the console takes them without a validator.
 */

/** The steps of a drill, in the order they happen. */
export const drillSteps = [
  'started',
  'detected',
  'paged',
  'acknowledged',
  'invoked',
  'staff-notified',
  'probes-sent',
  'probes-visible',
  'first-sign-in',
  'revoked',
  'handed-over',
  'all-clear',
] as const;
export type DrillStepName = (typeof drillSteps)[number];

/** What each step means, for the console and the printable report. */
export const drillStepLabels: Record<DrillStepName, string> = {
  started: 'Drill started (outage simulated for the scope)',
  detected: 'Outage detected by the probes (event opened)',
  paged: 'Admins paged',
  acknowledged: 'Page acknowledged',
  invoked: 'Continuity invoked for the scope',
  'staff-notified': 'Staff in scope texted',
  'probes-sent': 'Probe messages sent through the scope',
  'probes-visible': 'Probe messages visible in the test mailbox',
  'first-sign-in': 'First webmail sign-in by a user in scope',
  revoked: 'Continuity revoked',
  'handed-over': 'Hand-over complete (held probe mail delivered)',
  'all-clear': 'All clear (event closed)',
};
