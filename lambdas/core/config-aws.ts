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

/** An https URL with no credentials, query or fragment (a SAML metadata document, an OIDC issuer). */
const httpsUrl = (what: string) =>
  z.string().refine(
    (value) => {
      if (!URL.canParse(value) || /[?#]/.test(value)) return false;
      const url = new URL(value);
      return url.protocol === 'https:' && url.username === '' && url.password === '';
    },
    { message: `must be the https URL of ${what}, with no query or fragment` },
  );

/** An ACM certificate ARN in us-east-1: CloudFront and Cognito custom domains take only those. */
const usEast1Certificate = z
  .string()
  .regex(
    /^arn:aws:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]{36}$/,
    'must be the ARN of an ACM certificate in us-east-1 (CloudFront and Cognito custom domains use only that region), e.g. arn:aws:acm:us-east-1:123456789012:certificate/…',
  );

const hostName = z
  .string()
  .max(253)
  .regex(/^(?!-)[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a lower-case DNS name such as mail.example.com');

/** A domain of your own, served with a certificate you made in ACM in us-east-1. */
const customDomainSchema = z.strictObject({
  /** The DNS name, e.g. `lifeboat.example.com`; you point it at the stack's output yourself. */
  domainName: hostName,
  /** ACM certificate in us-east-1 that covers `domainName`. */
  certificateArn: usEast1Certificate,
});

/**
 * Cognito's identity provider names: 1–32 characters, no spaces or underscores at the ends
 * (CreateIdentityProvider ProviderName). Shown on the managed login page's button.
 */
const providerName = z
  .string()
  .regex(
    /^[^_\s][^\s]{0,30}[^_\s]$/,
    'must be 2–32 characters with no spaces, not starting or ending with _',
  );

/**
 * The claim or SAML attribute holding a user's addresses (comma-separated), mapped to
 * `custom:addresses`; optional, since the directory can list them instead.
 */
const addressesAttribute = z.string().min(1).max(256).optional();

/** Sign-in through the corporate identity provider, federated into the staff user pool. */
const federationSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** SAML 2.0: Entra ID (enterprise application), AD FS (relying party trust), Google Workspace (custom SAML app). */
    type: z.literal('saml'),
    /** The provider's name in the pool and on the sign-in button. @default 'Corporate' */
    name: providerName.default('Corporate'),
    /** The IdP's federation metadata URL; Cognito reads it at deploy and keeps its signing certificates current. */
    metadataUrl: httpsUrl('the identity provider’s SAML metadata document'),
    /** @default the WS-Federation email claim Entra ID and AD FS send */
    emailAttribute: z
      .string()
      .min(1)
      .default('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'),
    /** SAML attribute with the user's addresses, comma-separated. @default none */
    addressesAttribute,
  }),
  z.strictObject({
    /** OpenID Connect: Entra ID (app registration), Google, Okta, AD FS 2019 and later. */
    type: z.literal('oidc'),
    /** @default 'Corporate' */
    name: providerName.default('Corporate'),
    /** The issuer, exactly as the `iss` claim of its tokens. */
    issuer: httpsUrl('an OIDC issuer, exactly as the iss claim of its tokens'),
    /** The client id of the app registered at the IdP for the pool. */
    clientId: z.string().min(1),
    /**
     * Secrets Manager secret (name or ARN) holding the client secret as plain text: CloudFormation
     * resolves it at deploy, so it is never in the template.
     */
    clientSecretId: z.string().min(1),
    /** @default ['openid', 'email', 'profile'] */
    scopes: z.array(z.string().min(1)).default(['openid', 'email', 'profile']),
    /** @default 'email' */
    emailClaim: z.string().min(1).default('email'),
    /** Claim with the user's addresses, comma-separated. @default none */
    addressesAttribute,
  }),
]);

/** The staff user pool: staff and admins (a group), the web app's sign-in. */
const staffAuthSchema = z
  .strictObject({
    /**
     * The managed login's prefix domain, `<prefix>.auth.<region>.amazoncognito.com`; unique in the
     * region. Cognito refuses prefixes containing aws, amazon or cognito.
     * @default '<stackName in lower case>-<account id>'
     */
    domainPrefix: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be lower-case letters, digits and dashes')
      .refine((p) => !/aws|amazon|cognito/.test(p), {
        message: 'Cognito refuses a prefix containing aws, amazon or cognito',
      })
      .optional(),
    /** Serve managed login from a domain of your own instead of the prefix domain. @default none */
    customDomain: customDomainSchema.optional(),
    /**
     * Let staff register a passkey and sign in with it (Cognito Essentials; WebAuthn with user
     * verification, which counts as the pool's required second factor).
     * @default true
     */
    passkeys: z.boolean().default(true),
    /** The corporate identity provider; without it every user signs in to Cognito directly. @default none */
    federation: federationSchema.optional(),
  })
  .prefault({});

/** Where the web app (webmail and console) is served from. */
const webSchema = z
  .strictObject({
    /** Serve the web app from a domain of your own instead of CloudFront's `*.cloudfront.net`. @default none */
    customDomain: customDomainSchema.optional(),
  })
  .prefault({});

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
    /**
     * The staff user pool (staff and the admin group): managed login, break-glass by SMS code or
     * passkey, optional federation. @default a pool with the prefix domain, passkeys on, no federation
     */
    staffAuth: staffAuthSchema,
    /** The web app's domain. @default CloudFront's own domain */
    web: webSchema,
    /**
     * The SES configuration set mail sent from the webmail goes out with; its bounce, complaint and
     * delivery events come back to the sender's Sent view (a bounce as a notice in their mailbox).
     * @default `<stackName>-webmail`, created by the stack
     */
    sendingConfigurationSet: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, dashes and underscores (64 at most)')
      .optional(),
    /**
     * The From address of staff notices sent by email to personal addresses (SES v2 from the domain
     * identity of its domain, which must be an accepted domain). Only the admin API function may
     * send from it, and only through that identity.
     * @default `continuity@<first accepted domain>` (see staffEmailFrom in infra/aws/constructs/api.ts)
     */
    staffEmailFrom: z
      .email('must be an email address such as continuity@example.com')
      .transform((a) => a.toLowerCase())
      .optional(),
    /**
     * The custom MAIL FROM subdomain set on each domain identity the stack creates (`bounce` makes
     * `bounce.example.com`), so mail sent from the webmail passes SPF aligned with its From domain
     * (DMARC). Until its MX and TXT records exist (stack outputs `MailFromRecords…`), SES falls back
     * to its own amazonses.com MAIL FROM, so sending works either way. @default "bounce"
     */
    mailFromSubdomain: z
      .string()
      .regex(
        /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
        'must be one DNS label: lower-case letters, digits and dashes',
      )
      .default('bounce'),
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
    const auth = aws.staffAuth?.customDomain?.domainName;
    if (auth !== undefined && auth === aws.web?.customDomain?.domainName) {
      ctx.addIssue({
        code: 'custom',
        path: ['staffAuth', 'customDomain', 'domainName'],
        message:
          'must differ from web.customDomain.domainName: sign-in and the web app each need a name of their own (e.g. auth.lifeboat.example.com)',
      });
    }
  })
  .prefault({});

export type AwsConfig = z.infer<typeof awsConfigSchema>;
export type AdminAuthConfig = z.infer<typeof adminAuthSchema>;
export type StaffAuthConfig = z.infer<typeof staffAuthSchema>;
export type FederationConfig = z.infer<typeof federationSchema>;
