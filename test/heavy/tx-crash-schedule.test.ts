// A seeded, randomized crash schedule for two-phase commit: round after
// round, a random site (the client-coordinator or one of three partitions)
// is killed at a random point of the protocol on a random hit, while ten
// transfers run at once; its log is cut back to its last fdatasync, it is
// restarted, and each transfer is checked on its own: applied on both
// partitions or on neither, applied when the client was told committed,
// not applied when told aborted. Replay a failure with TX_SEED=<seed>.
import { describe, expect, it } from 'vitest';

import { SeededRandom } from '../../lib/coord/causality/index.js';
import { sleep } from '../support/helpers.js';
import { keysOf, TxCluster } from '../support/tx-cluster.js';

const POINTS = [
  'coordinator:before-precommit-log',
  'coordinator:after-precommit-log',
  'coordinator:before-vote-request',
  'coordinator:after-vote-request',
  'coordinator:before-decision-log',
  'coordinator:after-decision-log',
  'coordinator:before-decision-send',
  'coordinator:after-decision-send',
  'coordinator:before-end-log',
  'coordinator:after-end-log',
  'participant:before-prepared-log',
  'participant:after-prepared-log',
  'participant:before-vote-send',
  'participant:after-vote-send',
  'participant:before-commit-log',
  'participant:after-commit-log',
  'participant:before-ack-send',
  'participant:after-ack-send',
];
const ROUNDS = Number(process.env.TX_ROUNDS ?? 30);
const TRANSFERS = 10;
const seed = Number(process.env.TX_SEED ?? 20261202);

describe('randomized crash schedule', () => {
  it(
    `${ROUNDS} rounds of ${TRANSFERS} transfers, a random site killed at a random point each (seed ${seed})`,
    { timeout: 600_000 },
    async () => {
      const rng = new SeededRandom(seed, 'tx-schedule');
      // Small logs: checkpoints run all the time, between and during the crashes.
      const c = new TxCluster({ TX_CHECKPOINT_BYTES: '2048' });
      const keys = [0, 1, 2].map((p) => keysOf(p, 3, ROUNDS * TRANSFERS));
      let kills = 0;
      let committed = 0;
      try {
        await c.startPartitions(3);
        const client = await c.startClient();
        for (let round = 0; round < ROUNDS; round++) {
          const point = POINTS[rng.int(0, POINTS.length - 1)]!;
          const from = rng.int(1, 3);
          const pairs = Array.from({ length: TRANSFERS }, (_, i) => {
            const x = rng.int(0, 2);
            const y = (x + 1 + rng.int(0, 1)) % 3;
            const n = round * TRANSFERS + i;
            return [keys[x]![n]!, keys[y]![n]!] as const;
          });
          const what = `round ${round}: ${point} hit ${from} (seed ${seed})`;
          TxCluster.tell(client, `init 100 ${pairs.flat().join(' ')}`);
          const init = await client.proc.waitFor(/^init (.*)$/m, 30_000).catch(() => undefined);
          expect(init?.[1], `${what}: init; client: ${client.proc.output().slice(-800)}`).toBe('committed');
          await c.quiesce(30_000); // applied everywhere before a site is killed
          const plan = { seed: seed + round, points: { [point]: { kill: true, from } } };
          const victim = point.startsWith('coordinator') ? client : c.partitions[rng.int(0, 2)]!;
          // Every round starts from a clean output, so "committed" lines are this round's.
          if ((await c.restart(victim, plan, { mayDie: true })).diedEarly) {
            kills++; // killed while it recovered: start it again without the fault, the round goes on
            await c.restart(victim);
          }
          if (victim !== client) await c.restart(client);
          pairs.forEach(([a, b], i) => TxCluster.tell(client, `transfer ${i} ${a} ${b} 1`));
          const died = await Promise.race([
            victim.proc.child.exited.then(() => true),
            Promise.all(pairs.map((_, i) => client.proc.waitFor(new RegExp(`^tx ${i} `, 'm'), 60_000))).then(() => false),
          ]);
          // A point after the client's answer (a participant's commit, ack) is reached a moment after the last answer.
          const dead = died || (await Promise.race([victim.proc.child.exited.then(() => true), sleep(1500).then(() => false)]));
          const told = client.proc.output();
          if (dead) kills++;
          if (process.env.TX_DEBUG) console.error(what, victim.name, dead, (told.match(/^tx \d+ \S+ \S+/gm) ?? []).join(','));
          await c.restart(victim);
          const entries = await c.quiesce(30_000);
          pairs.forEach(([a, b], i) => {
            const [x, y] = [Number(entries.get(a)), Number(entries.get(b))];
            const applied = x === 99 && y === 101;
            expect(applied || (x === 100 && y === 100), `${what}: transfer ${i} torn: ${x}, ${y}`).toBe(true);
            if (new RegExp(`^tx ${i} committed`, 'm').test(told))
              expect(applied, `${what}: transfer ${i} was acknowledged and is lost`).toBe(true);
            if (new RegExp(`^tx ${i} aborted`, 'm').test(told))
              expect(applied, `${what}: transfer ${i} aborted and was applied`).toBe(false);
            if (applied) committed++;
          });
        }
      } finally {
        await c.close();
      }
      // The schedule must actually crash things and commit things.
      expect(kills).toBeGreaterThan(ROUNDS / 2);
      expect(committed).toBeGreaterThan(ROUNDS * 2);
    },
  );
});
