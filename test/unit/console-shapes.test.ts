import { describe, expect, expectTypeOf, it } from 'vitest';
import * as constants from '../../lambdas/console/constants.js';
import type * as shapes from '../../lambdas/console/schemas.js';
import type { ContinuityEvent } from '../../lambdas/core/continuity.js';
import type { ContinuityStatus } from '../../lambdas/core/continuity-service.js';
import type { FlowSeries } from '../../lambdas/core/flow-metrics.js';
import { type DeliveryRecord, deliveryStates } from '../../lambdas/core/model.js';
import type { QuarantinePreview } from '../../lambdas/core/quarantine-preview.js';
import type { DeliveryDetail, QUEUE_ACTIONS, QuarantinedItem } from '../../lambdas/core/queue-admin.js';
import { QUEUE_STATES } from '../../lambdas/core/queue-ops.js';
import type { AuditEntry, NotificationRecord } from '../../lambdas/ports.js';

// The admin API's shapes as the console reads them (lambdas/console/schemas.ts) sit apart from the
// core's types, which live beside Node-only code the browser's type check cannot load; these checks
// run in the type check (`npm run typecheck`), so a field renamed on the server fails the build.
describe('the admin API’s published shapes', () => {
  it('fit every answer the core gives', () => {
    expectTypeOf<ContinuityEvent>().toExtend<shapes.ContinuityEvent>();
    expectTypeOf<ContinuityStatus>().toExtend<shapes.StatusResponse>();
    expectTypeOf<DeliveryRecord>().toExtend<shapes.DeliveryRecord>();
    expectTypeOf<DeliveryDetail>().toExtend<shapes.DeliveryDetail>();
    expectTypeOf<QuarantinedItem>().toExtend<shapes.QuarantinedItem>();
    expectTypeOf<QuarantinePreview>().toExtend<shapes.QuarantinePreview>();
    expectTypeOf<AuditEntry>().toExtend<shapes.AuditEntry>();
    expectTypeOf<NotificationRecord>().toExtend<shapes.NotificationRecord>();
    expectTypeOf<FlowSeries>().toExtend<shapes.FlowSeries>();
    expectTypeOf<(typeof QUEUE_ACTIONS)[number]>().toEqualTypeOf<shapes.QueueAction>();
  });

  it('name the same delivery and queue states as the core', () => {
    expect(constants.DELIVERY_STATES).toEqual(deliveryStates);
    expect(constants.QUEUE_STATES).toEqual(QUEUE_STATES);
  });
});
