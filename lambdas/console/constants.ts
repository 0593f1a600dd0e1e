/**
 * The admin API's constants the console needs at run time, in a module without zod so the
 * browser bundle takes them without a validator (the shapes are in ./schemas.ts, imported as
 * types). test/unit/console-shapes.test.ts pins them to the core's.
 */
import { type DeliveryState, deliveryStates, queueStates } from '../core/model.js';

/** Every delivery state, in the model's order. */
export const DELIVERY_STATES: readonly DeliveryState[] = deliveryStates;

/** The queue's states: everything but delivered (the admin API's `state` filter). */
export const QUEUE_STATES: readonly DeliveryState[] = queueStates;
