/**
 * Causality you can see: logical and vector clocks, clock stamps on channel
 * messages, traces and happens-before, the causality-violation check, causal
 * delivery by hold-back, ShiViz export, and seeded fault injection.
 * Built on the channels' public index only. See docs/causality.md.
 * @module
 */
export { CausalityError, type CausalityErrorCode } from '../../errors.js';
export {
  LamportClock,
  MAX_PROCESS_ID_LENGTH,
  MAX_VECTOR_ENTRIES,
  VectorClock,
  VectorTime,
  compareLamport,
  validateProcessId,
  type Ordering,
  type VectorClockOptions,
} from './clocks.js';
export {
  decodeLamportTime,
  decodeVectorTime,
  encodeLamportTime,
  encodeVectorTime,
  vectorTimeFromJSON,
  type DecodeTimeOptions,
} from './clock-codec.js';
export {
  lamportClockHook,
  messageId,
  vectorClockHook,
  type LamportClockHookOptions,
  type Stamp,
  type VectorClockHookOptions,
} from './stamp.js';
export {
  MAX_LABEL_LENGTH,
  Trace,
  concurrent,
  eventId,
  happenedBefore,
  readTrace,
  writeTrace,
  type ParseTraceOptions,
  type TraceEvent,
  type TraceEventKind,
  type TraceMessage,
} from './trace.js';
export {
  MAX_DATA_LENGTH,
  RECEIVED_KEPT,
  TraceRecorder,
  type AttachOptions,
  type EventDetails,
  type ReceivedMessage,
  type TracedEnd,
  type TraceRecorderOptions,
} from './recorder.js';
export { findCausalityViolations, type CausalityViolation } from './violations.js';
export { HoldBackQueue, type Delivery, type HoldBackResult } from './holdback.js';
export { SHIVIZ_REGEX, describeEvent, toShiViz, type ShiVizOptions } from './shiviz.js';
export { toSpaceTimeHtml, type DiagramOptions } from './diagram.js';
export { SeededRandom, seedFromEnv } from './prng.js';
export { FAULT_LOG_LIMIT, FaultInjector, type FaultPlan, type InjectedFault, type MessageFaults, type PointFault } from './faults.js';
