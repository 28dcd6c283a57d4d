/**
 * Issue 12: the webasm mode's pool of output arrays (src/backend/gpujs/host-pool.ts, runner.ts).
 *
 * A kernel's output is copied into an array a freed buffer gave back. Reuse must never be
 * visible: the same numbers, bit for bit, with the pool and without it (the independent
 * computation here is the same kernels copying into fresh arrays); an array the backend did
 * not make is never reused; a freed buffer cannot be read; and what waits in, or for, the pool
 * stays bounded, also in a synchronous loop that never lets a finalizer run.
 */
import { expect } from 'chai';
import * as v8 from 'v8';
import * as vm from 'vm';
import { availability, GpuJsBackend } from '../src/backend/gpujs';
import { HostPool } from '../src/backend/gpujs/host-pool';
import { withBackend } from '../src/backend/registry';
import { tensor } from '../src/creation';
import { createUNet } from '../src/nn/unet';
import { Adam } from '../src/optim';
import { mseLoss } from '../src/ops/loss';
import { Generator } from '../src/random';

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('[unit 3: kernels] the webasm output pool (HostPool)', () => {
  it('hands a released array out again for the same length, and a new one for another length', () => {
    const pool = new HostPool(1 << 20);
    const a = pool.acquire(100);
    pool.release(a);
    expect(pool.acquire(100)).to.equal(a);
    const b = pool.acquire(100);
    expect(b).to.not.equal(a);
    pool.release(b);
    expect(pool.acquire(101)).to.not.equal(b);
    expect(pool.stats()).to.deep.include({ hits: 1, misses: 3 });
  });

  it('never reuses an array it did not make, nor a view of part of one, nor one released twice', () => {
    const pool = new HostPool(1 << 20);
    const foreign = new Float32Array(64);
    pool.release(foreign);
    expect(pool.acquire(64)).to.not.equal(foreign);
    const mine = pool.acquire(32);
    pool.release(mine.subarray(0, 16));
    expect(pool.stats().idleBytes).to.equal(0);
    pool.release(mine);
    pool.release(mine);
    expect(pool.stats().idleBytes).to.equal(128);
    const first = pool.acquire(32);
    const second = pool.acquire(32);
    expect(first).to.equal(mine);
    expect(second, 'handed out twice').to.not.equal(mine);
  });

  it('keeps at most capBytes idle: past it, it lets go of what it held', () => {
    const pool = new HostPool(1000); // 250 floats
    const arrays = [pool.acquire(100), pool.acquire(100), pool.acquire(100)];
    pool.release(arrays[0]);
    pool.release(arrays[1]);
    expect(pool.stats().idleBytes).to.equal(800);
    pool.release(arrays[2]); // 1200 > 1000: the two idle ones go, this one stays
    expect(pool.stats().idleBytes).to.equal(400);
    expect(pool.acquire(100)).to.equal(arrays[2]);
    const big = pool.acquire(300);
    pool.release(big); // larger than the cap on its own
    expect(pool.stats().idleBytes).to.equal(0);
  });
});

describe('[unit 3: kernels] the webasm output pool in the backend', function () {
  before(function () {
    if (!availability('webasm').ok) this.skip();
  });

  it('a unet-mini training step gives the same bits with the pool and without it, and the pool is used', async function () {
    const run = async (webasmPool: boolean) => {
      const backend = new GpuJsBackend({ mode: 'webasm', webasmPool });
      try {
        const g = new Generator(3);
        const model = withBackend(backend, () => createUNet('unet-mini', { generator: new Generator(0) }));
        const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
        const losses: number[] = [];
        for (let step = 0; step < 3; step++) {
          withBackend(backend, () => {
            const x = tensor(Array.from({ length: 2 * 28 * 28 }, () => g.normal())).reshape([2, 1, 28, 28]);
            const noise = tensor(Array.from({ length: 2 * 28 * 28 }, () => g.normal())).reshape([2, 1, 28, 28]);
            const loss = mseLoss(model.forward(x, [5, 700]), noise);
            opt.zeroGrad();
            loss.backward();
            opt.step();
            losses.push(loss.item());
          });
          // as the trainer does: let the garbage collector's finalizers hand dead storages back
          (globalThis as { gc?: () => void }).gc?.();
          await new Promise((r) => setImmediate(r));
        }
        const params = withBackend(backend, () => model.namedParameters().map(([name, p]) => [name, bits(p.toArray())] as const));
        return { losses, params, pool: backend.memoryStats().pool };
      } finally {
        backend.destroy();
      }
    };
    const fresh = await run(false);
    const pooled = await run(true);
    expect(fresh.pool).to.equal(null);
    expect(pooled.pool!.hits, 'outputs served from reused arrays').to.be.greaterThan(100);
    expect(pooled.losses).to.deep.equal(fresh.losses);
    for (let i = 0; i < fresh.params.length; i++) {
      expect(pooled.params[i][1], `parameter ${fresh.params[i][0]}`).to.deep.equal(fresh.params[i][1]);
    }
  });

  it('a freed buffer cannot be read, and what toArray() returned and what fromArray() was given are never reused', () => {
    const g = new GpuJsBackend({ mode: 'webasm' });
    try {
      const given = Float32Array.from({ length: 4096 }, (_, i) => i);
      const x = g.fromArray(given);
      const y = g.unary('neg', x, 4096);
      const read = g.toArray(y, 4096);
      g.free!(y);
      g.free!(x);
      expect(() => g.toArray(y, 4096)).to.throw(/freed/);
      expect(() => g.unary('exp', y, 4096)).to.throw(/freed/);
      const z = g.fromArray(new Float32Array(4096).fill(7));
      for (let i = 0; i < 4; i++) g.free!(g.unary('square', z, 4096)); // outputs of y's length, through the pool
      expect(g.memoryStats().pool!.hits).to.be.greaterThan(0);
      expect(Array.from(read.subarray(0, 3))).to.deep.equal([-0, -1, -2]);
      expect(given[4095]).to.equal(4095);
      expect(Array.from(g.toArray(g.unary('neg', z, 4096), 2))).to.deep.equal([-7, -7]);
    } finally {
      g.destroy();
    }
  });

  it('a synchronous loop that drops its tensors registers at most the watch limit for the finalizers', () => {
    const g = new GpuJsBackend({ mode: 'webasm', webasmPoolBytes: 64 * 1024 }); // watches at most 256 KiB
    try {
      withBackend(g, () => {
        const x = tensor(Array.from({ length: 4096 }, (_, i) => i / 4096));
        let peak = 0;
        for (let i = 0; i < 200; i++) {
          x.mul(2).add(1).exp(); // 3 outputs of 16 KiB, dropped; no finalizer runs inside this loop
          peak = Math.max(peak, g.memoryStats().pool!.watchedBytes);
        }
        expect(peak).to.be.at.most(256 * 1024);
        expect(peak, 'some outputs were registered').to.be.greaterThan(0);
      });
    } finally {
      g.destroy();
    }
  });

  it('tensors that are just dropped come back to the pool once the garbage collector and their finalizers ran', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const g = new GpuJsBackend({ mode: 'webasm' });
    try {
      const x = withBackend(g, () => tensor(Array.from({ length: 4096 }, (_, i) => i / 4096)));
      withBackend(g, () => {
        for (let i = 0; i < 20; i++) x.mul(2).add(1);
      });
      const before = g.memoryStats().pool!;
      for (let k = 0; k < 3; k++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      const after = g.memoryStats().pool!;
      expect(after.idleBytes - before.idleBytes, 'bytes handed back').to.be.at.least(30 * 4096 * 4);
      expect(after.watchedBytes).to.be.below(before.watchedBytes);
      const y = withBackend(g, () => x.mul(3));
      expect(g.memoryStats().pool!.hits).to.equal(after.hits + 1);
      expect(y.toArray()[4095]).to.be.closeTo((3 * 4095) / 4096, 1e-6);
    } finally {
      g.destroy();
    }
  });
});
