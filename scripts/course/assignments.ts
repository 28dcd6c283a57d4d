/**
 * The course's assignments, in course order: what each asks a learner to read and where the
 * solution lives. The source marks each solution region with a pair of comment lines
 *
 *   // BEGIN SOLUTION <n>
 *   ...the reference solution...
 *   // END SOLUTION <n>
 *
 * `npm run student -- DIR` copies the repository with every region replaced by
 * `throw new Error('TODO: assignment <n>')`; `npm run grade` runs the tests tagged
 * `[assignment <n>: ...]` (test/course/) and prints a score per assignment.
 */
export interface Assignment {
  n: number;
  title: string;
  /** the assignment's page */
  page: string;
  /** the files that hold its solution regions */
  files: string[];
  /** the test file of its tagged tests */
  test: string;
}

export const ASSIGNMENTS: readonly Assignment[] = [
  { n: 1, title: 'strides and views', page: 'docs/course/01-strides-and-views.md', files: ['src/ops/views.ts'], test: 'test/course/01-strides-and-views.test.ts' },
  { n: 2, title: 'broadcasting undone: sumToShape', page: 'docs/course/02-sum-to-shape.md', files: ['src/autograd.ts'], test: 'test/course/02-sum-to-shape.test.ts' },
  { n: 3, title: 'the topological order of backward', page: 'docs/course/03-topological-order.md', files: ['src/autograd.ts'], test: 'test/course/03-topological-order.test.ts' },
  { n: 4, title: "an op's backward, checked by gradCheck", page: 'docs/course/04-op-backward.md', files: ['src/ops/elementwise.ts'], test: 'test/course/04-op-backward.test.ts' },
  { n: 5, title: 'a gpu.js kernel: softmax', page: 'docs/course/05-gpujs-kernel.md', files: ['kernels/softmax.ts'], test: 'test/course/05-gpujs-kernel.test.ts' },
  { n: 6, title: 'conv2d backward', page: 'docs/course/06-conv2d-backward.md', files: ['src/backend/ref/conv.ts'], test: 'test/course/06-conv2d-backward.test.ts' },
  { n: 7, title: 'GroupNorm', page: 'docs/course/07-groupnorm.md', files: ['src/ops/norm.ts'], test: 'test/course/07-groupnorm.test.ts' },
  { n: 8, title: 'the forward process q(x_t | x_0)', page: 'docs/course/08-forward-process.md', files: ['src/diffusion/forward.ts'], test: 'test/course/08-forward-process.test.ts' },
  { n: 9, title: 'the DDPM step', page: 'docs/course/09-ddpm-step.md', files: ['src/diffusion/samplers.ts'], test: 'test/course/09-ddpm-step.test.ts' },
  { n: 10, title: 'the DDIM step', page: 'docs/course/10-ddim-step.md', files: ['src/diffusion/samplers.ts'], test: 'test/course/10-ddim-step.test.ts' },
  { n: 11, title: 'classifier-free guidance', page: 'docs/course/11-guidance.md', files: ['src/diffusion/objective.ts'], test: 'test/course/11-guidance.test.ts' },
];

/** The tag that names an assignment in its tests' titles. */
export function assignmentTag(a: Pick<Assignment, 'n' | 'title'>): string {
  return `[assignment ${a.n}: ${a.title}]`;
}
