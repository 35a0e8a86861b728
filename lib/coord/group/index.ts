/**
 * Group communication: groups and views, best-effort and reliable
 * multicast, FIFO, causal and total order (two-phase and fixed sequencer),
 * traces and their checkers. Built on the channels' public index only.
 * See docs/groups.md.
 * @module
 */
export { GroupError, type GroupErrorCode } from '../../errors.js';
export { Group, joinGroup, type GroupDelivery, type GroupMessage, type GroupStats, type GroupView, type GroupViewChange } from './group.js';
export { type GroupOptions, type GroupOrder } from './options.js';
export { GroupTraceWriter, groupMessageId, readGroupTrace, type GroupEvent, type GroupEventKind } from './trace.js';
export {
  checkGroupTraces,
  describeViolations,
  type CheckGroupOptions,
  type GroupProperty,
  type GroupViolation,
} from './checkers.js';
export { TotalOrderLab, type LabBufferRow, type LabMessage } from './lab.js';
