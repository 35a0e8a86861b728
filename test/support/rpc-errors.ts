// How the RPC tests look at a call that should fail.
import { RpcError } from '../../lib/index.js';

/** The RpcError `p` rejects with; anything else (a resolution, another error) fails the test. */
export async function rpcRejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** `'resolved'`, the RpcError's code, or the other error as text: for one `expect` on how a call ended. */
export async function rpcOutcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof RpcError ? err.code : String(err);
  }
}
