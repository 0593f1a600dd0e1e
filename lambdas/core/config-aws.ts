import { z } from 'zod';

/** Settings that only the AWS deployment reads (infra/aws). */
export const awsConfigSchema = z
  .strictObject({
    /** Delivery networking: `connector` (no VPC, 587/465 with TLS+AUTH) or `port25` (VPC + NAT + Elastic IP). @default 'connector' */
    delivery: z.enum(['connector', 'port25']).default('connector'),
  })
  .prefault({});

export type AwsConfig = z.infer<typeof awsConfigSchema>;
