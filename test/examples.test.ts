/**
 * [examples] The quick example scripts run from a fresh checkout and print what their
 * comments promise (the training and sampling examples are exercised by the trainer's tests).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..');
const runExample = (file: string) =>
  spawnSync(process.execPath, [path.join(root, 'node_modules', 'ts-node', 'dist', 'bin.js'), '--transpile-only', file], { cwd: root, encoding: 'utf8', env: { ...process.env, TINY_DDPM_SINGLE_THREADED_GC: '0' } });

describe('[examples] the quick scripts run', function () {
  this.timeout(120000);

  it('04-write-your-own-op: softplus passes gradCheck, and the wrong backward fails it', () => {
    const r = runExample('examples/04-write-your-own-op.ts');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/gradCheck on \[4, 5\]:\s+ok true/);
    expect(r.stdout).to.match(/gradCheck on the wrong backward:\s+ok false/);
  });

  it('06-write-a-kernel: the softplus kernel matches float64 on every gpu.js mode that starts (JavaScript and WebAssembly at least)', () => {
    const r = runExample('examples/06-write-a-kernel.ts');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^cpu: 10000 elements .* \(within 0.00001: ok\)$/m);
    expect(r.stdout).to.match(/^webasm: 10000 elements .* \(within 0.00001: ok\)$/m);
    expect(r.stdout).to.not.include('TOO LARGE');
  });
});
