/**
 * Two compute threads in a Node without --single-threaded-gc get one warning line on stderr
 * (src/single-threaded-gc.ts): not with the flag, not with TINY_DDPM_SINGLE_THREADED_GC=0.
 * The flag is fixed when Node starts, so each case runs in a child process of its own.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { hasSingleThreadedGc } from '../src/single-threaded-gc';
import { availability } from '../src/backend/gpujs/availability';

const ROOT = path.join(__dirname, '..');

/**
 * Two webasm backends with webasmThreads: 2, two matmuls each, large enough for two threads,
 * then the warning asked for again; prints the kernels' run paths.
 */
const CHILD = `
const { GpuJsBackend } = require('./src/backend/gpujs/backend');
const p = { batch: 1, m: 64, k: 33, n: 260, transA: false, transB: false, broadcastA: false, broadcastB: false };
const paths = [];
for (let k = 0; k < 2; k++) {
  const b = new GpuJsBackend({ mode: 'webasm', webasmThreads: 2 });
  for (let i = 0; i < 2; i++) b.toArray(b.matmul(b.fromArray(new Float32Array(64 * 33).fill(1)), b.fromArray(new Float32Array(33 * 260).fill(1)), p), 64 * 260);
  for (const c of b.runner.cache.values()) paths.push(c.kernel.kernel._lastRunPath);
  b.destroy();
}
// a second place that starts a thread (DataParallel does this) gets no second line
require('./src/single-threaded-gc').warnWithoutSingleThreadedGc('DataParallel on 2 threads');
process.stdout.write(paths.join(',') + '\\n');
`;

function child(nodeArgs: string[], env: Record<string, string | undefined> = {}): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [...nodeArgs, '-r', 'ts-node/register/transpile-only', '-e', CHILD], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TINY_DDPM_SINGLE_THREADED_GC: undefined, ...env }, // (undefined: not set)
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('[unit 6: training] the --single-threaded-gc warning', function () {
  this.timeout(120000);

  it('reads the flag from execArgv: both spellings, --single-threaded, and --no-... undoing it', () => {
    expect(hasSingleThreadedGc([])).to.equal(false);
    expect(hasSingleThreadedGc(['--expose-gc'])).to.equal(false);
    expect(hasSingleThreadedGc(['--single-threaded-gc'])).to.equal(true);
    expect(hasSingleThreadedGc(['--single_threaded_gc'])).to.equal(true);
    expect(hasSingleThreadedGc(['--single-threaded'])).to.equal(true);
    expect(hasSingleThreadedGc(['--single-threaded-gc', '--no-single-threaded-gc'])).to.equal(false);
    expect(hasSingleThreadedGc(['--no-single-threaded-gc', '--single-threaded-gc'])).to.equal(true);
  });

  describe('webasmThreads: 2, in a child Node', () => {
    before(function () {
      if (!availability('webasm').ok) this.skip();
    });
    const twoThreads = (stdout: string) => expect(stdout.trim().split(',')).to.include('two-threads');

    it('warns once, in one line, without the flag', () => {
      const r = child([]);
      expect(r.status, r.stderr).to.equal(0);
      twoThreads(r.stdout);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines.length, r.stderr).to.equal(1);
      expect(lines[0]).to.match(/^tiny-ddpm: warning: webasm kernels on two threads \(webasmThreads: 2\) in a Node started without --single-threaded-gc: /);
      expect(lines[0]).to.contain('3.9-4.1 s instead of 2.9 s'); // what it costs
      expect(lines[0]).to.contain('run node --single-threaded-gc, or the tiny-ddpm command'); // how to fix it
    });

    it('is silent with --single-threaded-gc', () => {
      const r = child(['--single-threaded-gc']);
      expect(r.status, r.stderr).to.equal(0);
      twoThreads(r.stdout);
      expect(r.stderr).to.equal('');
    });

    it('is silent with TINY_DDPM_SINGLE_THREADED_GC=0', () => {
      const r = child([], { TINY_DDPM_SINGLE_THREADED_GC: '0' });
      expect(r.status, r.stderr).to.equal(0);
      twoThreads(r.stdout);
      expect(r.stderr).to.equal('');
    });
  });
});
