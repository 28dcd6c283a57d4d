/**
 * A --dataset the readers cannot load (an unknown kind, a missing IDX or CIFAR-10 folder)
 * is the user's mistake, not a bug: every command that takes --dataset prints the reader's
 * message as one line, `tiny-ddpm: <message>`, with no stack trace, and exits with code 2.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../src/cli/main';
import { DatasetError, loadDataset } from '../src/data';
import { writeImagePng } from '../src/image/png';

/** main(args) with stderr caught: the exit code and the lines it printed. */
async function run(args: string[]): Promise<{ code: number; lines: string[] }> {
  const chunks: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: unknown }).write = (s: string) => (chunks.push(String(s)), true);
  try {
    const code = await main(args);
    return { code, lines: chunks.join('').split('\n').filter((l) => l !== '') };
  } finally {
    (process.stderr as unknown as { write: unknown }).write = orig;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-cli-errors-'));
const missing = path.join(tmp, 'no-such-dir');
const VALID = 'mnist, mnist-idx:<dir>, fashion-mnist[:<dir>], cifar10:<dir>';
const BAD: [spec: string, message: string][] = [
  ['idx:/x', `unknown dataset 'idx:/x'; valid datasets are: ${VALID}`],
  [`mnist-idx:${missing}`, `IDX dataset directory not found: ${missing}`],
  [`cifar10:${missing}`, `CIFAR-10 directory not found: ${missing}`],
];

/** Two 28x28 gray PNGs, enough for eval to get past its folder check to the dataset. */
function samplesFolder(): string {
  const dir = path.join(tmp, 'samples');
  fs.mkdirSync(dir, { recursive: true });
  for (const i of [0, 1]) writeImagePng(path.join(dir, `${i}.png`), new Float32Array(28 * 28).fill(i), 1, 28, 28, [0, 1]);
  return dir;
}

describe('[unit 6: cli] a bad --dataset is one line, without a stack trace', function () {
  this.timeout(60000);

  it('the readers throw a DatasetError for each case', () => {
    for (const [spec, message] of BAD) {
      expect(() => loadDataset(spec)).to.throw(DatasetError).with.property('message', message);
    }
  });

  const commands: [name: string, args: (spec: string) => string[]][] = [
    ['train', (spec) => ['train', '--dataset', spec, '--backend', 'ref', '--out', path.join(tmp, 'run')]],
    ['noise', (spec) => ['noise', '--dataset', spec, '--out', path.join(tmp, 'noise.png')]],
    ['eval', (spec) => ['eval', '--dataset', spec, '--backend', 'ref', '--samples', samplesFolder(), '--classifier', path.join('assets', 'mnist-classifier.safetensors')]],
    ['classifier', (spec) => ['classifier', '--dataset', spec, '--backend', 'ref', '--out', path.join(tmp, 'c.safetensors')]],
  ];
  for (const [name, args] of commands) {
    for (const [spec, message] of BAD) {
      it(`tiny-ddpm ${name} --dataset ${spec.replace(tmp, '<tmp>')}`, async () => {
        const { code, lines } = await run(args(spec));
        expect(code).to.equal(2);
        expect(lines.filter((l) => /^\s+at /.test(l)), lines.join('\n')).to.deep.equal([]);
        // the error is the last line and the only one of its kind (train names its backend
        // and eval may warn about the classifier before the data is loaded)
        expect(lines[lines.length - 1]).to.equal(`tiny-ddpm: ${message}`);
        expect(lines.filter((l) => l.startsWith('tiny-ddpm: ')), lines.join('\n')).to.deep.equal([`tiny-ddpm: ${message}`]);
      });
    }
  }

  it('the installed command exits with code 2 and prints the one line', function () {
    this.timeout(120000);
    const cli = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', cli, 'noise', '--dataset', 'idx:/x', '--out', path.join(tmp, 'n.png')], {
      encoding: 'utf8',
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, TINY_DDPM_SINGLE_THREADED_GC: '0' }, // no relaunch: one Node start is enough here
    });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.equal(`tiny-ddpm: ${BAD[0][1]}\n`);
  });
});
