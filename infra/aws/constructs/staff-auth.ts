import { Aws, Duration, Fn, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import type { FederationConfig } from '../../../lambdas/core/config-aws.js';
import { acknowledgeNag } from '../nag.js';

/** The custom attribute with a user's addresses, comma-separated (the directory's `addresses`). */
export const ADDRESSES_ATTRIBUTE = 'addresses';

/** Cognito caps a custom string attribute at 2,048 characters: about 30 long addresses. */
const ADDRESSES_MAX_LENGTH = 2048;

/** Long passphrases with every character class (cdk-nag COG1 asks for at least 8). */
export const PASSWORD_MIN_LENGTH = 14;

/** A temporary password handed out at enrolment lasts a week: long enough to reach everyone. */
const TEMPORARY_PASSWORD_DAYS = 7;

/**
 * ID and access tokens live an hour (API Gateway checks `exp`); the web app renews them with the
 * refresh token, which lasts a working day. After that a staff member signs in again.
 */
const TOKEN_VALIDITY = Duration.hours(1);
const REFRESH_TOKEN_VALIDITY = Duration.hours(12);

/**
 * The scopes the web app asks for: no `aws.cognito.signin.user.admin`, so a token the web app holds
 * cannot call Cognito's user APIs (change attributes, list devices) on the user's behalf.
 */
const WEB_SCOPES = [
  cognito.OAuthScope.OPENID,
  cognito.OAuthScope.EMAIL,
  cognito.OAuthScope.PROFILE,
  cognito.OAuthScope.PHONE,
];

/** Managed login's current look (version 2): the only one with passkey sign-in. */
const MANAGED_LOGIN_VERSION = cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN;

/** The managed login's prefix: the configured one, or `<stack name in lower case>-<account id>`. */
function domainPrefix(config: LifeboatConfig, stack: Stack): string {
  return config.aws.staffAuth.domainPrefix ?? Fn.join('-', [stack.stackName.toLowerCase(), Aws.ACCOUNT_ID]);
}

/**
 * Managed login's host name, known before the domain exists, so the pool (its passkey relying party)
 * and the web app's CSP need no reference to the domain resource: the custom domain, or
 * `<prefix>.auth.<region>.amazoncognito.com`.
 */
export function staffSignInHost(config: LifeboatConfig, stack: Stack): string {
  return (
    config.aws.staffAuth.customDomain?.domainName ??
    Fn.join('', [domainPrefix(config, stack), '.auth.', Aws.REGION, '.amazoncognito.com'])
  );
}

/** The origin of Cognito's OpenID endpoints (discovery, keys): `https://cognito-idp.<region>.amazonaws.com`. */
export function cognitoIssuerOrigin(): string {
  return Fn.join('', ['https://cognito-idp.', Aws.REGION, '.', Aws.URL_SUFFIX]);
}

export interface StaffAuthProps {
  readonly config: LifeboatConfig;
  /** The web app's origin (`https://…`, no path): sign-in returns to its `/mail/` and `/console/`. */
  readonly webOrigin: string;
}

/**
 * Staff sign-in: one Cognito user pool for staff and admins (the admins are the group `adminGroup`),
 * with managed login on a domain of its own, the web app's clients (authorization code with PKCE,
 * no secret), optional federation to the corporate IdP, and break-glass that does not depend on it:
 * a Cognito password with a one-time code texted to a personal phone, or a passkey.
 *
 * Every Cognito sign-in needs a second factor (MFA required, pool-wide): an SMS code, an
 * authenticator app, or a passkey with user verification. Never email: the corporate mailbox is what
 * is down. Federated users bring their IdP's own MFA (Cognito never adds a factor to them).
 */
export class StaffAuth extends Construct {
  readonly userPool: cognito.UserPool;
  readonly domain: cognito.UserPoolDomain;
  /** The web app's client for Cognito sign-in (password + SMS code, passkey). */
  readonly webClient: cognito.UserPoolClient;
  /** The web app's client for the corporate IdP; only with `aws.staffAuth.federation`. */
  readonly federatedClient: cognito.UserPoolClient | undefined;
  /** The client the CLI steps of the guide sign admins in with (password + second factor, no browser). */
  readonly cliClient: cognito.UserPoolClient;
  /** The federated identity provider's name in the pool (the sign-in button). */
  readonly providerName: string | undefined;
  /** `https://cognito-idp.<region>.amazonaws.com/<pool id>`: the tokens' `iss`, the web app's authority. */
  readonly issuer: string;
  /** `https://<managed login domain>` with no path. */
  readonly signInOrigin: string;
  /** The passkey relying party: the managed login domain, where passkeys are made and used. */
  readonly relyingPartyId: string;

  constructor(scope: Construct, id: string, props: StaffAuthProps) {
    super(scope, id);
    const { config, webOrigin } = props;
    const stack = Stack.of(this);
    const { staffAuth } = config.aws;

    const prefix = domainPrefix(config, stack);
    const signInHost = staffSignInHost(config, stack);
    this.signInOrigin = Fn.join('', ['https://', signInHost]);
    // WebAuthn binds a passkey to the domain of the page that makes it: managed login's, which must
    // then be the relying party (Cognito API Reference, WebAuthnConfigurationType.RelyingPartyId).
    this.relyingPartyId = signInHost;

    this.userPool = new cognito.UserPool(this, 'Pool', {
      userPoolName: `${stack.stackName}-staff`,
      selfSignUpEnabled: false,
      // Staff sign in with their work address, which they know by heart; federated users arrive as
      // `<provider>_<id>` with their address mapped from the IdP.
      signInAliases: { email: true },
      signInCaseSensitive: false,
      // An admin creates each user with the address and phone already verified; Cognito verifies
      // only a change, and keeps the old value until the new one is confirmed, so a stolen session
      // cannot move the break-glass phone elsewhere.
      autoVerify: { email: true, phone: true },
      keepOriginal: { email: true, phone: true },
      standardAttributes: {
        email: { required: true, mutable: true },
        phoneNumber: { required: false, mutable: true },
        fullname: { required: false, mutable: true },
      },
      customAttributes: {
        [ADDRESSES_ATTRIBUTE]: new cognito.StringAttribute({
          minLen: 0,
          maxLen: ADDRESSES_MAX_LENGTH,
          mutable: true,
        }),
      },
      mfa: cognito.Mfa.REQUIRED,
      // SMS to the personal phone (through an SNS role the pool makes) and authenticator apps; never
      // email, which lands in the mailbox that is down.
      mfaSecondFactor: { sms: true, otp: true, email: false },
      mfaMessage: `Lifeboat sign-in code for ${config.organisation}: {####}`,
      userVerification: { smsMessage: `Lifeboat ${config.organisation}: your verification code is {####}` },
      // Sent by SMS to the personal phone (`lifeboat users` never asks Cognito for an email invitation).
      userInvitation: {
        smsMessage: `Lifeboat ${config.organisation} emergency mail: sign in at ${webOrigin}/mail/ as {username} with temporary password {####}`,
      },
      passwordPolicy: {
        minLength: PASSWORD_MIN_LENGTH,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(TEMPORARY_PASSWORD_DAYS),
      },
      // Recovery by an admin only. Email is the mailbox that is down; the phone is the second
      // factor, and recovering through it would leave one factor (Cognito offers phone recovery
      // only without SMS MFA for that reason). An admin sets a temporary password instead.
      accountRecovery: cognito.AccountRecovery.NONE,
      signInPolicy: { allowedFirstAuthFactors: { password: true, passkey: staffAuth.passkeys } },
      passkeyRelyingPartyId: staffAuth.passkeys ? this.relyingPartyId : undefined,
      passkeyUserVerification: staffAuth.passkeys ? cognito.PasskeyUserVerification.REQUIRED : undefined,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (staffAuth.passkeys) {
      // A passkey with user verification (fingerprint, face, device PIN) is two factors in one, and
      // counts as the pool's required MFA (Cognito API Reference, WebAuthnConfigurationType).
      (this.userPool.node.defaultChild as cognito.CfnUserPool).webAuthnFactorConfiguration =
        'MULTI_FACTOR_WITH_USER_VERIFICATION';
    }
    this.issuer = this.userPool.userPoolProviderUrl;

    this.userPool.addGroup('AdminGroup', {
      groupName: config.adminGroup,
      description: 'Lifeboat admins: may use the admin API and console',
    });

    this.domain = this.userPool.addDomain('Domain', {
      managedLoginVersion: MANAGED_LOGIN_VERSION,
      ...(staffAuth.customDomain
        ? {
            customDomain: {
              domainName: staffAuth.customDomain.domainName,
              certificate: acm.Certificate.fromCertificateArn(
                this,
                'DomainCertificate',
                staffAuth.customDomain.certificateArn,
              ),
            },
          }
        : { cognitoDomain: { domainPrefix: prefix } }),
    });

    let provider: cognito.IUserPoolIdentityProvider | undefined;
    if (staffAuth.federation) {
      provider = this.identityProvider(staffAuth.federation);
      this.providerName = provider.providerName;
    }

    const callbackUrls = [`${webOrigin}/mail/`, `${webOrigin}/console/`];
    const oAuth = (providers: cognito.UserPoolClientIdentityProvider[]) => ({
      flows: { authorizationCodeGrant: true },
      scopes: WEB_SCOPES,
      callbackUrls,
      logoutUrls: callbackUrls,
      providers,
    });
    const common = {
      generateSecret: false,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: TOKEN_VALIDITY,
      accessTokenValidity: TOKEN_VALIDITY,
      refreshTokenValidity: REFRESH_TOKEN_VALIDITY,
    } satisfies Partial<cognito.UserPoolClientOptions>;

    // A staff member can get a token from this client through the API too (USER_AUTH), so it may
    // write no attribute at all: `custom:addresses` decides whose mail they read, and email who they are.
    this.webClient = this.userPool.addClient('Web', {
      ...common,
      userPoolClientName: 'lifeboat-web',
      // Managed login's choice of password or passkey is the USER_AUTH flow (Cognito Developer Guide,
      // "Configure authentication methods for managed login").
      authFlows: { user: true, userSrp: true },
      oAuth: oAuth([cognito.UserPoolClientIdentityProvider.COGNITO]),
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      writeAttributes: new cognito.ClientAttributes(),
    });

    if (provider && staffAuth.federation) {
      // Cognito writes the mapped attributes of a federated user at every sign-in, through the
      // client's write permissions. Only the IdP signs users in here: no API sign-in flow, so no
      // Cognito user can get a token that writes their own addresses.
      const client = this.userPool.addClient('WebFederated', {
        ...common,
        userPoolClientName: 'lifeboat-web-sso',
        oAuth: oAuth([cognito.UserPoolClientIdentityProvider.custom(provider.providerName)]),
        supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.custom(provider.providerName)],
        writeAttributes: new cognito.ClientAttributes()
          .withStandardAttributes({ email: true, fullname: true })
          .withCustomAttributes(ADDRESSES_ATTRIBUTE),
      });
      (client.node.defaultChild as cognito.CfnUserPoolClient).explicitAuthFlows = [
        'ALLOW_REFRESH_TOKEN_AUTH',
      ];
      client.node.addDependency(provider);
      this.federatedClient = client;
    }

    // The admin API's own client for the guide's CLI steps (and scripts): password and second factor
    // through the API, no browser. It writes no attribute either.
    this.cliClient = this.userPool.addClient('Cli', {
      ...common,
      userPoolClientName: 'lifeboat-cli',
      authFlows: { userSrp: true, userPassword: true },
      disableOAuth: true,
      writeAttributes: new cognito.ClientAttributes(),
    });

    // Managed login (version 2) shows nothing until the domain has a style: Cognito's own.
    new cognito.CfnManagedLoginBranding(this, 'Branding', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.webClient.userPoolClientId,
      useCognitoProvidedValues: true,
    });
    if (this.federatedClient) {
      new cognito.CfnManagedLoginBranding(this, 'FederatedBranding', {
        userPoolId: this.userPool.userPoolId,
        clientId: this.federatedClient.userPoolClientId,
        useCognitoProvidedValues: true,
      });
    }

    acknowledgeNag(
      this.userPool,
      'AwsSolutions-COG8',
      'Threat protection (the Plus feature plan) is off on purpose: nobody can sign up (an admin enrols each user), every Cognito sign-in needs a second factor (SMS code, authenticator app or passkey with user verification), and federated users bring their IdP’s own policies; Plus adds a per-user charge for adaptive rules that would need tuning for a service used mostly during outages.',
    );
    const smsRole = this.userPool.node.tryFindChild('smsRole');
    if (smsRole) {
      acknowledgeNag(
        smsRole,
        'AwsSolutions-IAM5',
        'Cognito texts sign-in codes to phone numbers, which have no ARN: sns:Publish needs Resource "*" (Cognito Developer Guide, SMS message settings); only Cognito, with this pool’s external id, may assume the role.',
        ['Resource::*'],
      );
    }
  }

  /** Every client id the web app signs in with: the API's authorizer accepts tokens issued to these. */
  get webClientIds(): string[] {
    return [this.webClient, this.federatedClient]
      .filter((c): c is cognito.UserPoolClient => c !== undefined)
      .map((c) => c.userPoolClientId);
  }

  /** The corporate IdP: SAML (metadata URL) or OIDC (issuer, client id, secret from Secrets Manager). */
  private identityProvider(federation: FederationConfig): cognito.IUserPoolIdentityProvider {
    const custom: Record<string, cognito.ProviderAttribute> = {};
    if (federation.type === 'saml') {
      if (federation.addressesAttribute) {
        custom[`custom:${ADDRESSES_ATTRIBUTE}`] = cognito.ProviderAttribute.other(
          federation.addressesAttribute,
        );
      }
      return new cognito.UserPoolIdentityProviderSaml(this, 'Saml', {
        userPool: this.userPool,
        name: federation.name,
        metadata: cognito.UserPoolIdentityProviderSamlMetadata.url(federation.metadataUrl),
        attributeMapping: {
          email: cognito.ProviderAttribute.other(federation.emailAttribute),
          custom,
        },
        idpSignout: false,
      });
    }
    if (federation.addressesAttribute) {
      custom[`custom:${ADDRESSES_ATTRIBUTE}`] = cognito.ProviderAttribute.other(
        federation.addressesAttribute,
      );
    }
    return new cognito.UserPoolIdentityProviderOidc(this, 'Oidc', {
      userPool: this.userPool,
      name: federation.name,
      issuerUrl: federation.issuer,
      clientId: federation.clientId,
      // A dynamic reference CloudFormation resolves at deploy: the secret is never in the template.
      clientSecret: SecretValue.secretsManager(federation.clientSecretId).unsafeUnwrap(),
      scopes: [...federation.scopes],
      attributeRequestMethod: cognito.OidcAttributeRequestMethod.GET,
      attributeMapping: {
        email: cognito.ProviderAttribute.other(federation.emailClaim),
        fullname: cognito.ProviderAttribute.other('name'),
        custom,
      },
    });
  }
}
