// The space-time diagram, rendered by a real headless Chromium (the OS
// package; .ci/run installs it): the CLI turns trace files recorded by the
// causal-delivery example into a page, the page draws its SVG in the
// browser, and the DOM Chromium dumps has every event and message, the
// held-back delivery, the violation, and no markup smuggled in by a label.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { readTrace, toSpaceTimeHtml, Trace, TraceRecorder } from '../lib/index.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pipc-diagram-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The DOM after the page's scripts ran, as Chromium serialises it. */
async function renderedDom(htmlFile: string): Promise<string> {
  if (CHROMIUM === undefined) throw new Error('chromium is not installed: apt-get install -y chromium (.ci/run does)');
  const profile = mkdtempSync(join(dir, 'profile-'));
  const args = ['--headless', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${htmlFile}`];
  if (process.getuid?.() === 0) args.unshift('--no-sandbox'); // Chromium refuses to sandbox as root
  const { stdout } = await run(CHROMIUM, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function count(dom: string, re: RegExp): number {
  return dom.match(re)?.length ?? 0;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'lib/coord/causality/cli.ts'), ...args], {
      timeout: 30_000,
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('space-time diagram in headless Chromium', () => {
  it('draws every event and message of real traces, the held-back delivery and the violation', async () => {
    await run(process.execPath, ['--import', 'tsx', join(root, 'examples/causal-delivery.ts'), dir], { timeout: 30_000 });
    for (const name of ['without-hold-back', 'with-hold-back']) {
      const traceFile = join(dir, `${name}.trace`);
      const html = join(dir, `${name}.html`);
      expect((await cli('diagram', html, traceFile)).code).toBe(0);
      const trace = await readTrace(traceFile);
      const receives = trace.events.filter((e) => e.kind === 'receive').length;
      const dom = await renderedDom(html);
      expect(count(dom, /<(circle|rect) [^>]*data-event="/g)).toBe(trace.events.length);
      for (const e of trace.events) expect(dom).toContain(`data-event="${e.id}"`);
      expect(count(dom, /<line [^>]*data-message="/g)).toBe(receives);
      expect(count(dom, /<line [^>]*data-process="/g)).toBe(trace.processes.length);
      const held = name === 'with-hold-back' ? 1 : 0;
      const violations = name === 'with-hold-back' ? 0 : 1;
      expect(dom).toContain(
        `data-rendered="${trace.events.length} events, ${receives} messages, ${held} held back, ${violations} causality violations"`,
      );
      expect(count(dom, /data-held="P3#4"/g)).toBe(held); // P3 delivers m2 (its 4th event) after m1's receive and delivery
      expect(count(dom, /class="message violation"/g)).toBe(violations);
      expect(count(dom, /class="event deliver violation"/g)).toBe(violations);
    }
    expect((await cli('check', join(dir, 'without-hold-back.trace'))).code).toBe(1);
    expect(await cli('check', join(dir, 'with-hold-back.trace'))).toEqual({ code: 0, stdout: 'no causality violation\n' });
    expect((await cli('diagram', join(dir, 'with-hold-back.html'), join(dir, 'with-hold-back.trace'))).code).toBe(2); // exists: never overwritten
    expect((await cli('nonsense')).code).toBe(2);
  }, 120_000);

  it('labels reach the page as text only, never as markup', async () => {
    const a = new TraceRecorder('a');
    a.local({ label: '</script><img src=x onerror="document.title=1"><b>bold</b>' });
    a.annotate('<svg onload=alert(1)>');
    const html = join(dir, 'hostile.html');
    writeFileSync(html, toSpaceTimeHtml(Trace.merge(a), { title: '<i>title</i>' }));
    const dom = await renderedDom(html);
    expect(dom).not.toMatch(/<img|<b>|<i>|<svg onload/);
    expect(dom).toContain('&lt;/script&gt;&lt;img src=x');
    expect(dom).toContain('data-rendered="2 events, 0 messages, 0 held back, 0 causality violations"');
  }, 60_000);
});
