/**
 * One spec, every backend: `forEachBackend` runs a describe block once per available backend,
 * with that backend current. The reference backend always runs; others are listed in
 * `BACKEND_FACTORIES` and can be chosen with TD_BACKENDS=ref,gpujs-webasm,... (default: all
 * that can start on this machine).
 */
import type { Backend } from '../../src/backend/backend';
import { RefBackend } from '../../src/backend/ref';
import { setBackend } from '../../src/backend/registry';

export interface BackendCase {
  name: string;
  /** returns null (and a reason) when this backend cannot run here */
  create: () => { backend: Backend } | { skip: string };
  /** relative tolerance that float32 kernels on this backend meet against the reference */
  rtol: number;
}

export const BACKEND_FACTORIES: BackendCase[] = [{ name: 'ref', create: () => ({ backend: new RefBackend() }), rtol: 1e-5 }];

const cache = new Map<string, { backend: Backend } | { skip: string }>();

export function selectedBackends(): BackendCase[] {
  const want = process.env.TD_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  return want ? BACKEND_FACTORIES.filter((b) => want.includes(b.name)) : BACKEND_FACTORIES;
}

export function forEachBackend(title: string, body: (bc: BackendCase) => void): void {
  for (const bc of selectedBackends()) {
    describe(`${title} [${bc.name}]`, function () {
      let previous: Backend | undefined;
      before(function () {
        if (!cache.has(bc.name)) cache.set(bc.name, bc.create());
        const made = cache.get(bc.name)!;
        if ('skip' in made) {
          console.log(`      (skipping ${bc.name}: ${made.skip})`);
          this.skip();
        }
        previous = setBackend((made as { backend: Backend }).backend);
      });
      after(function () {
        if (previous) setBackend(previous);
      });
      body(bc);
    });
  }
}
