/**
 * Build and serve the playground (playground/): the library, its autograd and its gpu.js
 * kernels bundled for a browser tab by esbuild, with the files the page fetches.
 *
 *   npm run playground                         build into playground/dist/ and serve it on http://localhost:8080
 *   npm run playground -- --port 9000
 *   npm run playground:build                   only build playground/dist/ (static files for any web host)
 *   npm run playground:build -- --out DIR
 *   npx ts-node --transpile-only scripts/playground.ts screenshot --png docs/images/playground.png [--backend auto] [--train-steps 20]
 *                                              open the page in headless Chromium, sample and train a little, save a screenshot
 *
 * What goes into the folder:
 *   index.html, app.js          the page and the bundle (library + kernels + gpu.js)
 *   mnist-ddpm.safetensors      the shipped pretrained checkpoint (assets/), which the page samples
 *   digits-train.u8, labels-train.u8   the 9,000 bundled training digits as bytes (0-255) and their labels,
 *                               in the order the library's loader gives them (src/data/mnist-bundled.ts)
 *
 * The library imports a few Node modules (fs, path, os, worker_threads, v8, gl) for what a
 * page never does (reading files, worker threads, headless GL); the bundle replaces each with
 * a module whose every function throws "not available in a browser", so a page that reached
 * one would say so instead of failing quietly.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
export const PLAYGROUND_DIR = path.join(ROOT, 'playground');
const NODE_ONLY = ['fs', 'path', 'os', 'worker_threads', 'v8', 'gl', 'child_process', 'zlib', 'stream', 'util', 'crypto', 'url', 'module', 'perf_hooks'];

/** Build the page into `out`; returns the files written. */
export async function buildPlayground(out = path.join(PLAYGROUND_DIR, 'dist'), log: (s: string) => void = () => {}): Promise<string[]> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const esbuild = require('esbuild') as typeof import('esbuild');
  fs.mkdirSync(out, { recursive: true });
  const started = Date.now();
  const nodeOnly: import('esbuild').Plugin = {
    name: 'node-only',
    setup(build) {
      const filter = new RegExp(`^(node:)?(${NODE_ONLY.join('|')})$`);
      build.onResolve({ filter }, (a) => ({ path: a.path.replace(/^node:/, ''), namespace: 'node-only' }));
      build.onLoad({ filter: /.*/, namespace: 'node-only' }, (a) => ({
        contents:
          `const name = ${JSON.stringify(a.path)};\n` +
          `const fail = (what) => () => { throw new Error("'" + what + "' of Node's " + name + " module is not available in a browser"); };\n` +
          `module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : fail(String(key))) });\n`,
        loader: 'js',
      }));
    },
  };
  const result = await esbuild.build({
    entryPoints: [path.join(PLAYGROUND_DIR, 'app.ts')],
    bundle: true,
    outfile: path.join(out, 'app.js'),
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    // gpu.js's "browser" field points at its prebuilt bundle; the library reaches into gpu.js's
    // sources (the WebAssembly kernel it patches), so the bundle takes the sources throughout
    mainFields: ['main'],
    sourcemap: true,
    // the runner checks which gpu.js kernel class ran by its name (a silent fallback is an error), so names must survive bundling
    keepNames: true,
    plugins: [nodeOnly],
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  for (const w of result.warnings) log(`esbuild: ${w.text}`);
  fs.copyFileSync(path.join(PLAYGROUND_DIR, 'index.html'), path.join(out, 'index.html'));
  const shipped = path.join(ROOT, 'assets', 'mnist-ddpm.safetensors');
  if (fs.existsSync(shipped)) fs.copyFileSync(shipped, path.join(out, 'mnist-ddpm.safetensors'));
  else log(`playground: ${path.relative(ROOT, shipped)} is missing: the page's Sample tab will say so`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadBundledMnist } = require('../src/data/mnist-bundled') as typeof import('../src/data/mnist-bundled');
  const digits = loadBundledMnist({ split: 'train' });
  fs.writeFileSync(path.join(out, 'digits-train.u8'), Uint8Array.from(digits.images, (v) => Math.round(v * 255)));
  fs.writeFileSync(path.join(out, 'labels-train.u8'), Uint8Array.from(digits.labels));
  const files = fs.readdirSync(out).sort();
  log(`playground: built ${path.relative(process.cwd(), out) || out}/ in ${((Date.now() - started) / 1000).toFixed(1)} s: ${files.map((f) => `${f} (${Math.round(fs.statSync(path.join(out, f)).size / 1024)} KiB)`).join(', ')}`);
  return files;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.safetensors': 'application/octet-stream', '.u8': 'application/octet-stream', '.png': 'image/png',
};

/** Serve a built folder on localhost (the tests use port 0: any free port). */
export function servePlayground(dir: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path.join(dir, url === '/' ? 'index.html' : url);
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** The flags this machine's headless Chromium needs: no sandbox as root, no background connections (the network is closed), WebGL on SwiftShader. */
export const HEADLESS_CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

/**
 * Open the built page in headless Chromium on `backend`, sample with the page's default
 * settings (10 images, DDIM 25, classes in turn, the checkpoint's guidance: 1.5 for the shipped one), train `trainSteps` steps in the
 * tab, and save a screenshot of the whole page: the README's picture, and the speeds it quotes.
 */
async function screenshot(dir: string, file: string, backend: string, trainSteps: number, chromiumPath: string): Promise<void> {
  const server = await servePlayground(dir, 0);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: HEADLESS_CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/?backend=${backend}`);
    await page.waitForFunction(() => (window as any).playground.status !== 'starting', null, { timeout: 300000 });
    console.log(await page.textContent('#backend'));
    const click = (id: string) => page.evaluate((i) => void setTimeout(() => document.getElementById(i)!.click(), 0), id);
    await click('sample-run');
    await page.waitForFunction(() => (window as any).playground.lastSample || (window as any).playground.errors.length, null, { timeout: 1800000, polling: 1000 });
    console.log(`sample: ${await page.textContent('#sample-status')}`);
    await page.fill('#train-steps', String(trainSteps));
    await page.fill('#train-grid-every', String(trainSteps));
    await click('train-start');
    await page.waitForFunction(() => /^finished/.test(document.getElementById('train-status')!.textContent ?? '') || (window as any).playground.errors.length, null, { timeout: 1800000, polling: 1000 });
    console.log(`train: ${await page.textContent('#train-status')}; ${await page.textContent('#train-fixed')}`);
    const errors = await page.evaluate(() => (window as any).playground.errors as string[]);
    if (errors.length) throw new Error(`the page reported: ${errors.join('; ')}`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`playground: wrote ${file}`);
  } finally {
    await browser.close();
    server.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flag = (name: string) => {
    const i = rest.indexOf(`--${name}`);
    if (i < 0) return undefined;
    if (i + 1 >= rest.length) throw new Error(`playground: --${name} needs a value`);
    return rest[i + 1];
  };
  for (let i = 0; i < rest.length; i += 2) {
    if (!['--out', '--port', '--png', '--backend', '--train-steps'].includes(rest[i])) {
      throw new Error(`playground: unknown option '${rest[i]}' (options: --out DIR; serve: --port N; screenshot: --png FILE, --backend SPEC, --train-steps N)`);
    }
  }
  if (!['build', 'serve', 'screenshot'].includes(command)) throw new Error(`playground: the command is 'build', 'serve' or 'screenshot', got '${command ?? ''}'`);
  const out = path.resolve(flag('out') ?? path.join(PLAYGROUND_DIR, 'dist'));
  await buildPlayground(out, console.log);
  if (command === 'screenshot') {
    const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
    if (!fs.existsSync(chromiumPath)) throw new Error(`playground: screenshot: no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
    await screenshot(out, path.resolve(flag('png') ?? 'runs/playground.png'), flag('backend') ?? 'auto', Number(flag('train-steps') ?? 20), chromiumPath);
    return;
  }
  if (command === 'serve') {
    const port = Number(flag('port') ?? 8080);
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new Error(`playground: --port must be a port number, got '${flag('port')}'`);
    const server = await servePlayground(out, port);
    const at = server.address() as { port: number };
    console.log(`playground: open http://localhost:${at.port}/ (Ctrl-C stops)`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
