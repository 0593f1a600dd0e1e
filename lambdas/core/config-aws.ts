import * as z from 'zod';

/** Retention periods CloudWatch Logs accepts (PutRetentionPolicy rejects any other number of days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * Longest stack name we accept: the SES receipt rule set is named `<stackName>-inbound` and SES caps
 * rule set names at 64 characters.
 */
export const MAX_STACK_NAME_LENGTH = 48;

/**
 * Default cap on deliver's concurrent runs, each one SMTP session to the primary. With the sweeper's 8
 * and the probe's hand-over of 2 that makes 20 sessions at most: the number Postfix itself opens to one
 * destination by default (`default_destination_concurrency_limit = 20`), which primaries are sized for.
 */
export const DEFAULT_DELIVER_CONCURRENCY = 10;

/**
 * Lambda keeps at least 100 unreserved concurrent executions per account, so no function may reserve
 * more than the rest of an account's default quota of 1,000 allows; 900 leaves room for the probe's 1.
 */
export const MAX_DELIVER_CONCURRENCY = 900;

const alarmEmail = z
  .string()
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address such as ops@example.com');

/**
 * An OIDC issuer as API Gateway's JWT authorizer takes it: https (the authorizer fetches
 * `<issuer>/.well-known/openid-configuration` and the keys over TLS), no query or fragment, and
 * spelt exactly as the `iss` claim of the tokens (Entra ID v1 tokens end in `/`, v2 tokens do not).
 */
const oidcIssuer = z.string().refine(
  (value) => {
    if (!URL.canParse(value) || /[?#]/.test(value)) return false;
    const url = new URL(value);
    return url.protocol === 'https:' && url.username === '' && url.password === '';
  },
  {
    message:
      'must be the https URL of an OIDC issuer, exactly as the iss claim of its tokens (e.g. https://login.microsoftonline.com/<tenant-id>/v2.0), with no query or fragment',
  },
);

/** Sign-in to the admin API through the organisation's own identity provider. */
const adminAuthSchema = z.strictObject({
  /** The issuer (`iss` claim) of the tokens the admin console sends. */
  issuer: oidcIssuer,
  /**
   * Accepted audiences, usually the client id of the console's app registration. A token must carry one
   * of them in `aud` (or, when it has no `aud`, in `client_id`).
   */
  audience: z
    .array(z.string().min(1, 'must not be empty'))
    .min(1, 'list at least one audience: the client id (or app id URI) of the admin console'),
});

/** Settings that only the AWS deployment reads (infra/aws). */
export const awsConfigSchema = z
  .strictObject({
    /**
     * Name of the CloudFormation stack; also prefixes the SES receipt rule set. Use a different name per
     * deployment in one account and region.
     * @default 'Lifeboat'
     */
    stackName: z
      .string()
      .max(MAX_STACK_NAME_LENGTH)
      .regex(
        /^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$/,
        'must be letters, digits and dashes, starting with a letter',
      )
      .default('Lifeboat'),
    /**
     * Delivery networking. `connector`: no VPC; the primary takes mail on 587/465 with TLS and SMTP AUTH.
     * `port25`: deliver and sweep run in a VPC behind a NAT gateway with an Elastic IP, for a primary that
     * only takes mail on port 25 (AWS must first lift the port-25 limit on that IP).
     * @default 'connector'
     */
    delivery: z.enum(['connector', 'port25']).default('connector'),
    /**
     * `port25` only: the allocation id (`eipalloc-…`) of an Elastic IP you already own, so the address
     * AWS unblocked and the primary allows survives a redeploy. Unset: the stack allocates one.
     */
    elasticIpAllocationId: z
      .string()
      .regex(
        /^eipalloc-[0-9a-f]{8,17}$/,
        'must be an Elastic IP allocation id such as eipalloc-0123456789abcdef0',
      )
      .optional(),
    /**
     * Make SES refuse senders that do not use STARTTLS. Off by default: RFC 3207 §4 says a publicly
     * referenced MX must not require TLS, and refusing mail the primary would have taken is a loss.
     * @default false
     */
    requireTls: z.boolean().default(false),
    /**
     * Make the receipt rule set active when the stack deploys. Only one rule set is active per account and
     * region: set false if another rule set must stay active, and activate by hand (see the stack output).
     * @default true
     */
    activateRuleSet: z.boolean().default(true),
    /**
     * Create an SES domain identity (Easy DKIM) for each accepted domain; the stack outputs the DKIM CNAMEs.
     * Set false when the domains are already verified identities in this account and region.
     * @default true
     */
    manageDomainIdentities: z.boolean().default(true),
    /**
     * Who may call the admin API. Set: the organisation's own OIDC provider (Entra ID, Okta …) signs admins in
     * and API Gateway checks its tokens. Unset: the stack creates a Cognito user pool with the group
     * `adminGroup`, TOTP MFA required and no self sign-up, and a client for the console.
     * @default a Cognito user pool created by the stack
     */
    adminAuth: adminAuthSchema.optional(),
    /**
     * Most deliver runs at once (Lambda reserved concurrency): a burst of arrivals then queues in Lambda
     * instead of opening one SMTP session per message against the primary. The sweeper picks up what
     * waits longer.
     * @default 10
     */
    deliverConcurrency: z
      .number()
      .int()
      .min(1)
      .max(MAX_DELIVER_CONCURRENCY)
      .default(DEFAULT_DELIVER_CONCURRENCY),
    /** Addresses that get alarm notifications by email (each must confirm the SNS subscription). @default [] */
    alarmEmails: z.array(alarmEmail).default([]),
    /** Alarm when the oldest deferred delivery has waited longer than this. @default 60 */
    oldestDeferredAlarmMinutes: z.number().int().min(5).max(10080).default(60),
    /** Days Lambda logs are kept (a value CloudWatch Logs accepts). Logs hold ids and outcomes, never mail. @default 90 */
    logRetentionDays: z
      .number()
      .int()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
  })
  .superRefine((aws, ctx) => {
    if (aws.elasticIpAllocationId !== undefined && aws.delivery !== 'port25') {
      ctx.addIssue({
        code: 'custom',
        path: ['elasticIpAllocationId'],
        message: "only used when delivery is 'port25'",
      });
    }
  })
  .prefault({});

export type AwsConfig = z.infer<typeof awsConfigSchema>;
export type AdminAuthConfig = z.infer<typeof adminAuthSchema>;
