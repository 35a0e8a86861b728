/**
 * Group communication: groups and views, best-effort and reliable
 * multicast, FIFO, causal and total order (two-phase and fixed sequencer),
 * overlapping groups in one order through a spanning tree, traces and
 * their checkers; total order from a JetStream stream. Built on the channels' public index only.
 * See docs/groups.md.
 * @module
 */
export { GroupError, type GroupErrorCode } from '../../errors.js';
export { Group, joinGroup, type GroupDelivery, type GroupMessage, type GroupStats, type GroupView, type GroupViewChange } from './group.js';
export { type GroupOptions, type GroupOrder } from './options.js';
export { GroupTraceWriter, groupMessageId, readGroupTrace, type GroupEvent, type GroupEventKind } from './trace.js';
export { checkGroupTraces, describeViolations, type CheckGroupOptions, type GroupProperty, type GroupViolation } from './checkers.js';
export { TotalOrderLab, type LabBufferRow, type LabMessage } from './lab.js';
export { joinOverlappingGroups, OverlappingGroups, TREE_VIEW } from './tree.js';
export { type OverlapMessage, type OverlapOptions, type OverlapStats, type OverlapTree } from './tree-options.js';
export {
  formatSpanningTree,
  spanningTree,
  MAX_TREE_GROUPS,
  MAX_TREE_NODES,
  type OverlapGroups,
  type TreeParents,
} from './tree-topology.js';
export { JETSTREAM_PACKAGE } from '../jetstream.js';
export { joinStreamGroup, StreamGroup, STREAM_VIEW, type StreamGroupStats, type StreamPublished } from './stream-group.js';
export { type StreamGroupOptions } from './stream-options.js';
export { STREAM_PIPELINE } from './stream-order.js';
