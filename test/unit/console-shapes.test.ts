import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ContinuityEvent } from '../../lambdas/core/continuity.js';
import type { ContinuityStatus } from '../../lambdas/core/continuity-service.js';
import type { FlowSeries } from '../../lambdas/core/flow-metrics.js';
import { type DeliveryRecord, deliveryStates } from '../../lambdas/core/model.js';
import type { QuarantinePreview } from '../../lambdas/core/quarantine-preview.js';
import type { DeliveryDetail, QUEUE_ACTIONS, QuarantinedItem } from '../../lambdas/core/queue-admin.js';
import { QUEUE_STATES } from '../../lambdas/core/queue-ops.js';
import type { AuditEntry, NotificationRecord } from '../../lambdas/ports.js';
import * as consoleTypes from '../../web/src/console/types.js';

// The console restates the admin API's shapes (web/src/console/types.ts) because the server's
// types sit beside Node-only code; these checks run in the type check (`npm run typecheck`), so a
// field renamed on the server fails the build.
describe('the console’s view of the admin API', () => {
  it('fits every answer the API gives', () => {
    expectTypeOf<ContinuityEvent>().toExtend<consoleTypes.ContinuityEvent>();
    expectTypeOf<ContinuityStatus>().toExtend<consoleTypes.StatusResponse>();
    expectTypeOf<DeliveryRecord>().toExtend<consoleTypes.DeliveryRecord>();
    expectTypeOf<DeliveryDetail>().toExtend<consoleTypes.DeliveryDetail>();
    expectTypeOf<QuarantinedItem>().toExtend<consoleTypes.QuarantinedItem>();
    expectTypeOf<QuarantinePreview>().toExtend<consoleTypes.QuarantinePreview>();
    expectTypeOf<AuditEntry>().toExtend<consoleTypes.AuditEntry>();
    expectTypeOf<NotificationRecord>().toExtend<consoleTypes.NotificationRecord>();
    expectTypeOf<FlowSeries>().toExtend<consoleTypes.FlowSeries>();
    expectTypeOf<(typeof QUEUE_ACTIONS)[number]>().toEqualTypeOf<consoleTypes.QueueAction>();
  });

  it('knows the same delivery and queue states as the server', () => {
    expect(consoleTypes.DELIVERY_STATES).toEqual(deliveryStates);
    expect(consoleTypes.QUEUE_STATES).toEqual(QUEUE_STATES);
  });
});
