// Records a transaction site's messages in a TraceRecorder, each named after
// its two-phase commit message (VOTE_REQ, VOTE YES, VOTE NO, COMMIT, ABORT,
// ACK, ...), for a space-time diagram. Give `traceLinks(recorder)` as the
// site's `onLink` option, on every site (the messages carry a vector-clock
// stamp, so both ends must trace). Used by examples/tx-diagram.ts and the
// trace test (test/tx-trace.test.ts).
//
// How: TraceRecorder.attach labels every event of an end the same way; here
// each message is decoded to name it, recorded by hand (recorder.send and
// recorder.receive), and carried in vectorClockHook's envelope, so the
// stamps are the ones attach would put on the wire.
import {
  decodeTxMessage as decodeMessage,
  txMessageName as messageName,
  TxMessageType as Msg,
  vectorClockHook,
  VectorClock,
  type SiteLink,
  type Stamp,
  type TraceRecorder,
  type TxMessage as Message,
} from '../../lib/index.js';

/** The name and the details a message is recorded with: its type (and vote, decision or status), its transaction. */
export function describeTxMessage(m: Message): { label: string; data?: { tx: string; why?: string } } {
  const name = messageName(m.t);
  if (m.t === Msg.REQUEST || m.t === Msg.REPLY) return { label: name };
  const label =
    m.t === Msg.VOTE
      ? `VOTE ${m.y ? 'YES' : 'NO'}`
      : m.t === Msg.DECISION
        ? `DECISION ${m.d}`
        : m.t === Msg.STATUS
          ? `STATUS ${m.s}`
          : name;
  return { label, data: m.t === Msg.VOTE && m.why !== undefined ? { tx: m.x, why: m.why } : { tx: m.x } };
}

/**
 * The `onLink` option that traces every connection of a site in `recorder`.
 * `peerOf(address)` names the process at an address this site connects to
 * (the send events then say `to`); on a connection a peer opened, the peer
 * is learnt from its first message.
 */
export function traceLinks(
  recorder: TraceRecorder,
  peerOf: (address: string) => string | undefined = () => undefined,
): (link: SiteLink) => void {
  // Unwraps received envelopes; the recorder's own clock merges the stamp when recorder.receive records the event.
  const unwrap = vectorClockHook(new VectorClock(`${recorder.process}-unwrap`), { onReceive: (stamp) => (received = stamp) });
  let received: Stamp | undefined;
  return (link) => {
    let peer = link.direction === 'out' ? peerOf(link.peer) : undefined;
    let pinned: Stamp['time'] | undefined;
    const stamp = vectorClockHook(recorder.clock, { stamp: () => pinned });
    link.duplex.sender.intercept({
      send(bytes, event) {
        pinned = recorder.send({ ...describeTxMessage(decodeMessage(bytes)), to: peer }).stamp.time;
        try {
          return stamp.send!(bytes, event);
        } finally {
          pinned = undefined;
        }
      },
    });
    link.duplex.receiver.intercept({
      receive(bytes, event) {
        received = undefined;
        const payload = unwrap.receive!(bytes, event) as Uint8Array;
        peer ??= received!.sender;
        let details: ReturnType<typeof describeTxMessage>;
        try {
          details = describeTxMessage(decodeMessage(payload));
        } catch {
          details = { label: 'malformed' }; // the site drops the connection
        }
        recorder.receive(received!, details);
        return payload;
      },
    });
  };
}
