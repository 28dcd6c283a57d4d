/**
 * [unit 1: tensors] Freeing device memory: tidy() frees what a block created except what it
 * returns, and assign_ never lets two storages own one buffer. A reference backend that
 * counts free() calls stands in for a GPU.
 */
import { expect } from 'chai';
import { RefBackend } from '../src/backend/ref';
import { withBackend } from '../src/backend/registry';
import { tensor, randn, tidy, noGrad } from '../src';
import type { Buf } from '../src/backend/backend';

class CountingBackend extends RefBackend {
  freed = new Set<Buf>();
  free(buf: Buf): void {
    if (this.freed.has(buf)) throw new Error('double free');
    this.freed.add(buf);
  }
}

describe('[unit 1: tensors] memory: tidy and assign_', () => {
  it('tidy frees intermediates and keeps returned tensors (also inside arrays and objects)', () => {
    const b = new CountingBackend();
    withBackend(b, () => {
      const x = tensor([1, 2, 3]);
      let inner: ReturnType<typeof tensor> | null = null;
      const out = tidy(() => {
        inner = x.mul(2).add(1); // intermediate
        const y = inner.exp();
        return { y, list: [y.sum()] };
      });
      expect(inner!.storage.isDisposed).to.equal(true);
      expect(out.y.storage.isDisposed).to.equal(false);
      expect(out.list[0].storage.isDisposed).to.equal(false);
      expect(x.storage.isDisposed).to.equal(false); // made outside the scope
      expect(out.list[0].item()).to.be.closeTo(Math.exp(3) + Math.exp(5) + Math.exp(7), 1e-3);
      expect(() => inner!.toArray()).to.throw(/disposed/);
    });
  });

  it('nested scopes hand survivors to the enclosing scope; a throw frees everything', () => {
    const b = new CountingBackend();
    withBackend(b, () => {
      let kept: ReturnType<typeof tensor> | null = null;
      tidy(() => {
        kept = tidy(() => randn([2]).mul(3));
        expect(kept!.storage.isDisposed).to.equal(false);
        return null; // the outer scope returns nothing: kept goes too
      });
      expect(kept!.storage.isDisposed).to.equal(true);
      let made: ReturnType<typeof tensor> | null = null;
      expect(() =>
        tidy(() => {
          made = randn([2]);
          throw new Error('boom');
        }),
      ).to.throw('boom');
      expect(made!.storage.isDisposed).to.equal(true);
    });
  });

  it('assign_ from a non-contiguous source never leaves the parameter\'s buffer to another storage\'s finalizer', async function () {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) this.skip(); // needs node --expose-gc (set in .mocharc.js)
    const b = new CountingBackend();
    const p = withBackend(b, () => tensor([[0, 0], [0, 0]]));
    withBackend(b, () => {
      let src: ReturnType<typeof tensor> | null = tensor([[1, 2], [3, 4]]).transpose(0, 1); // not contiguous: assign_ makes a dense copy
      noGrad(() => p.assign_(src!));
      src = null;
    });
    // let the garbage collector take every temporary, and their finalizers free the buffers
    for (let i = 0; i < 5; i++) {
      gc!();
      await new Promise((r) => setImmediate(r));
    }
    expect(b.freed.size, 'the finalizers ran').to.be.greaterThan(0);
    expect(b.freed.has(p.storage.buf), "the parameter's buffer was freed by a temporary's finalizer").to.equal(false);
    expect(Array.from(p.toArray())).to.deep.equal([1, 3, 2, 4]);
  });
});
