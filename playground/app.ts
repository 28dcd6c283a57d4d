/**
 * The playground page: the controls and pictures around engine.ts. Long work (sampling,
 * training) runs one step per turn of the event loop, so the page paints and answers between
 * steps and never waits longer than one network evaluation.
 *
 * For the end-to-end tests (test/playground.test.ts) the page keeps its state on
 * `window.playground`: the backend, the last samples and the losses.
 */
import { PLAYGROUND_BACKENDS, TabTraining, digitsDataset, loadPlaygroundModel, noiseImage, sampleFrames, startBackend, type PlaygroundModel, type SampleSettings } from './engine';
import { toSignedPixels, type ImageDataset } from '../src/data/dataset';
import { TextConditioner } from '../src/train/condition';
import { NoiseSchedule } from '../src/diffusion/schedule';

interface PageState {
  /** 'starting' until the backend, checkpoint and digits are in; then 'ready' or 'busy' */
  status: 'starting' | 'ready' | 'busy' | 'failed';
  backend: { spec: string; name: string; reason: string; renderer: string } | null;
  model: string | null;
  lastSample: { settings: SampleSettings; x: number[]; msPerStep: number } | null;
  losses: number[];
  /** the loss on one fixed batch (TabTraining.fixedBatchLoss) at the steps it was measured */
  fixedLosses: { step: number; loss: number }[];
  errors: string[];
}

const state: PageState = { status: 'starting', backend: null, model: null, lastSample: null, losses: [], fixedLosses: [], errors: [] };
(window as unknown as { playground: PageState }).playground = state;

const $ = <T extends HTMLElement = HTMLCanvasElement>(id: string) => document.getElementById(id) as T;
const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function showError(message: string): void {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  state.errors.push(message);
}
function clearError(): void {
  $('error').hidden = true;
}

// ---------------------------------------------------------------------------------------
// pictures

/** Draw n images [n, 1, h, w] (values in [-1, 1]) in a grid of `cols` columns, each pixel `zoom` x `zoom`. */
function drawGrid(canvas: HTMLCanvasElement, x: Float32Array, n: number, h: number, w: number, cols: number, zoom = 3, range: [number, number] = [-1, 1]): void {
  const rows = Math.ceil(n / cols);
  const pad = 2;
  canvas.width = cols * (w * zoom + pad) + pad;
  canvas.height = rows * (h * zoom + pad) + pad;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#333';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const img = ctx.createImageData(w * zoom, h * zoom);
  const [lo, hi] = range;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h * zoom; y++) {
      for (let xx = 0; xx < w * zoom; xx++) {
        const v = x[i * h * w + Math.floor(y / zoom) * w + Math.floor(xx / zoom)];
        const g = Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
        const o = (y * w * zoom + xx) * 4;
        img.data[o] = img.data[o + 1] = img.data[o + 2] = g;
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, pad + (i % cols) * (w * zoom + pad), pad + Math.floor(i / cols) * (h * zoom + pad));
  }
}

/** The loss of every step (grey) and its running mean (blue), on a log scale. */
function drawLoss(canvas: HTMLCanvasElement, losses: number[]): void {
  const ctx = canvas.getContext('2d')!;
  const { width: W, height: H } = canvas;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#555';
  ctx.font = '12px sans-serif';
  if (losses.length < 2) {
    ctx.fillText('the loss appears here', 10, 20);
    return;
  }
  const logs = losses.map((l) => Math.log10(Math.max(l, 1e-8)));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const px = (i: number) => 40 + (i / (losses.length - 1)) * (W - 50);
  const py = (v: number) => 10 + (1 - (v - lo) / Math.max(hi - lo, 1e-6)) * (H - 30);
  const line = (ys: number[], color: string) => {
    ctx.strokeStyle = color;
    ctx.beginPath();
    ys.forEach((v, i) => (i ? ctx.lineTo(px(i), py(v)) : ctx.moveTo(px(i), py(v))));
    ctx.stroke();
  };
  line(logs, '#bbb');
  let m = logs[0];
  line(logs.map((v) => (m = 0.95 * m + 0.05 * v)), '#1f5fbf');
  ctx.fillText(`${10 ** hi < 0.01 ? (10 ** hi).toExponential(1) : (10 ** hi).toFixed(3)}`, 2, 14);
  ctx.fillText(`${10 ** lo < 0.01 ? (10 ** lo).toExponential(1) : (10 ** lo).toFixed(3)}`, 2, H - 20);
  ctx.fillText(`step ${losses.length} (log scale)`, W - 130, H - 4);
}

// ---------------------------------------------------------------------------------------
// the backend, the checkpoint, the digits

function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
  if (!gl) return 'no WebGL in this browser';
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return `${gl instanceof WebGL2RenderingContext ? 'WebGL2' : 'WebGL'} on ${info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)}`;
}

async function fetchBytes(file: string): Promise<Uint8Array> {
  const res = await fetch(file);
  if (!res.ok) throw new Error(`could not fetch '${file}' from this page's server (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

let model: PlaygroundModel | null = null;
let digits: ImageDataset | null = null;
let busy = false;

function useModel(m: PlaygroundModel): void {
  model = m;
  state.model = m.summary;
  $('model-info').textContent = m.summary;
  const select = $<HTMLSelectElement>('sample-class');
  select.length = 1;
  m.classNames.forEach((name, k) => select.add(new Option(name, String(k))));
  const conditional = m.conditioner !== null;
  select.disabled = !conditional;
  $<HTMLInputElement>('sample-guidance').disabled = !conditional;
  $<HTMLInputElement>('sample-prompt').disabled = !(m.conditioner instanceof TextConditioner);
  $<HTMLInputElement>('sample-guidance').value = String(m.trainedGuidance);
  $('sample-guidance-value').textContent = String(m.trainedGuidance);
}

// ---------------------------------------------------------------------------------------
// Sample

let stopSampling = false;

function sampleSettings(): SampleSettings {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  const cls = $<HTMLSelectElement>('sample-class').value;
  const prompt = $<HTMLInputElement>('sample-prompt').value.trim();
  return {
    n: num('sample-n'), sampler: $<HTMLSelectElement>('sample-sampler').value as 'ddim' | 'ddpm', steps: num('sample-steps'), eta: num('sample-eta'), seed: num('sample-seed'),
    classIndex: cls === '' ? null : Number(cls), prompt: prompt || null, guidance: model?.conditioner ? num('sample-guidance') : undefined,
  };
}

/** Run the reverse process one step per turn, drawing x_t, the predicted x_0 and the strip. */
async function runSampling(m: PlaygroundModel, settings: SampleSettings, canvases: { xt: HTMLCanvasElement; x0?: HTMLCanvasElement; strip?: HTMLCanvasElement }, status: (s: string) => void): Promise<Float32Array | null> {
  const [, h, w] = m.imageShape;
  const cols = m.conditioner && settings.classIndex == null && !settings.prompt ? Math.min(settings.n, m.conditioner.numClasses) : Math.ceil(Math.sqrt(settings.n));
  const frames = sampleFrames(m, settings);
  const stripX: Float32Array[] = [];
  const stripX0: Float32Array[] = [];
  const started = performance.now();
  let steps = 0;
  for (;;) {
    const r = frames.next();
    if (r.done) {
      const ms = steps ? (performance.now() - started) / steps : 0;
      status(`done: ${settings.n} images, ${steps} steps, ${ms.toFixed(0)} ms per step on ${state.backend?.name}`);
      return r.value;
    }
    const f = r.value;
    steps = f.index;
    drawGrid(canvases.xt, f.x, settings.n, h, w, cols);
    if (canvases.x0 && f.x0) drawGrid(canvases.x0, f.x0, settings.n, h, w, cols);
    if (canvases.strip) {
      stripX.push(f.x.slice(0, h * w));
      stripX0.push(f.x0 ? f.x0.slice(0, h * w) : new Float32Array(h * w).fill(-1));
      const both = new Float32Array(stripX.length * 2 * h * w);
      stripX.forEach((a, k) => both.set(a, k * h * w));
      stripX0.forEach((a, k) => both.set(a, (stripX.length + k) * h * w));
      drawGrid(canvases.strip, both, stripX.length * 2, h, w, stripX.length, 2);
    }
    status(`step ${f.index}/${f.total}${f.t === null ? ' (x_T: pure noise)' : `, t = ${f.t}`}, ${f.index ? ((performance.now() - started) / f.index).toFixed(0) : '-'} ms per step`);
    await nextTurn();
    if (stopSampling) {
      frames.return(new Float32Array(0));
      status(`stopped at step ${f.index}/${f.total}`);
      return null;
    }
  }
}

async function onSample(): Promise<void> {
  if (!model || busy) return;
  clearError();
  busy = true;
  state.status = 'busy';
  stopSampling = false;
  $<HTMLButtonElement>('sample-run').disabled = true;
  $<HTMLButtonElement>('sample-stop').disabled = false;
  const settings = sampleSettings();
  $('sample-status').textContent = 'starting (the first step compiles the kernels)...';
  await nextTurn(); // paint, and let the click return, before the first step
  const started = performance.now();
  try {
    const x = await runSampling(model, settings, { xt: $<HTMLCanvasElement>('sample-xt'), x0: $<HTMLCanvasElement>('sample-x0'), strip: $<HTMLCanvasElement>('sample-strip') }, (s) => ($('sample-status').textContent = s));
    if (x) state.lastSample = { settings, x: Array.from(x), msPerStep: (performance.now() - started) / Math.max(1, settings.sampler === 'ddpm' ? model.schedule.T : settings.steps) };
  } catch (err) {
    showError(`sample: ${(err as Error).message}`);
  } finally {
    busy = false;
    state.status = 'ready';
    $<HTMLButtonElement>('sample-run').disabled = false;
    $<HTMLButtonElement>('sample-stop').disabled = true;
  }
}

async function onCheckpointFile(input: HTMLInputElement): Promise<void> {
  const file = input.files?.[0];
  if (!file) return;
  clearError();
  try {
    useModel(loadPlaygroundModel(new Uint8Array(await file.arrayBuffer()), file.name));
  } catch (err) {
    showError(`checkpoint: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Forward process

const defaultSchedule = new NoiseSchedule();

function drawForward(): void {
  if (!digits) return;
  const t = Number($<HTMLInputElement>('fwd-t').value);
  $('fwd-t-value').textContent = String(t);
  const index = Math.max(0, Math.min(digits.n - 1, Math.floor(Number($<HTMLInputElement>('fwd-index').value) || 0)));
  const image = digits.images.subarray(index * 784, (index + 1) * 784);
  try {
    const r = noiseImage(model?.schedule ?? defaultSchedule, image, [1, 28, 28], t, Number($<HTMLInputElement>('fwd-seed').value));
    drawGrid($('fwd-x0'), toSignedPixels(image), 1, 28, 28, 1);
    drawGrid($('fwd-noise'), r.noise, 1, 28, 28, 1, 3, [-3, 3]);
    drawGrid($('fwd-xt'), r.xt, 1, 28, 28, 1);
    $('fwd-info').textContent = `digit ${index} (a ${digits.labels[index]}): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps = ${r.signalScale.toFixed(4)} x_0 + ${r.noiseScale.toFixed(4)} eps (noise shown over [-3, 3])`;
  } catch (err) {
    showError(`forward process: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Train

let run: TabTraining | null = null;
let paused = false;

async function trainLoop(): Promise<void> {
  const status = (s: string) => ($('train-status').textContent = s);
  const gridEvery = Math.max(0, Math.floor(Number($<HTMLInputElement>('train-grid-every').value)));
  const measure = () => {
    const loss = run!.fixedBatchLoss();
    state.fixedLosses.push({ step: run!.step, loss });
    const first = state.fixedLosses[0];
    $('train-fixed').textContent = `loss on a fixed batch of 16 digits (fixed t and noise): ${first.loss.toFixed(4)} at step ${first.step}, ${loss.toFixed(4)} at step ${run!.step}`;
  };
  if (run && run.step === 0) measure();
  let started = performance.now();
  let stepsHere = 0;
  while (run && !run.done && !paused) {
    const outcome = run.trainStep();
    if (!outcome.updated) {
      showError(`train: the ${Number.isFinite(outcome.loss) ? `gradient norm became ${outcome.gradNorm}` : `loss became ${outcome.loss}`} at step ${run.step + 1}; nothing was updated. Try a lower learning rate.`);
      paused = true;
      break;
    }
    stepsHere++;
    state.losses = run.losses.slice();
    drawLoss($('train-loss'), run.losses);
    status(`step ${run.step}/${run.config.steps}, loss ${outcome.loss.toFixed(4)}, ${((performance.now() - started) / stepsHere).toFixed(0)} ms per step on ${state.backend?.name}`);
    await nextTurn();
    if (gridEvery > 0 && (run.step % gridEvery === 0 || run.done)) {
      measure();
      const m = run.samplingModel();
      await runSampling(m, { n: 10, sampler: 'ddim', steps: 10, eta: 0, seed: 0, classIndex: null, guidance: m.conditioner ? 2 : undefined }, { xt: $<HTMLCanvasElement>('train-grid') }, (s) => status(`step ${run!.step}: sampling a grid, ${s}`));
      started = performance.now();
      stepsHere = 0;
    }
  }
  if (run && state.fixedLosses[state.fixedLosses.length - 1].step !== run.step) measure();
  if (run?.done) status(`finished: ${run.step} steps, last loss ${run.losses[run.losses.length - 1].toFixed(4)}; download the checkpoint to sample it from the command line`);
  else if (run) status(`paused at step ${run.step}`);
}

async function onTrainStart(): Promise<void> {
  if (!digits || busy) return;
  clearError();
  try {
    run = new TabTraining({
      model: $<HTMLSelectElement>('train-model').value, batchSize: Number($<HTMLInputElement>('train-batch').value),
      steps: Number($<HTMLInputElement>('train-steps').value), lr: Number($<HTMLInputElement>('train-lr').value),
    }, digits);
  } catch (err) {
    showError(`train: ${(err as Error).message}`);
    return;
  }
  paused = false;
  $('train-status').textContent = 'starting (the first step compiles the kernels)...';
  await nextTurn();
  state.losses = [];
  state.fixedLosses = [];
  await guardedTraining();
}

async function guardedTraining(): Promise<void> {
  busy = true;
  state.status = 'busy';
  $<HTMLButtonElement>('train-start').disabled = true;
  $<HTMLButtonElement>('train-pause').disabled = false;
  $<HTMLButtonElement>('train-pause').textContent = 'Pause';
  $<HTMLButtonElement>('train-download').disabled = false;
  try {
    await trainLoop();
  } catch (err) {
    showError(`train: ${(err as Error).message}`);
  } finally {
    busy = false;
    state.status = 'ready';
    $<HTMLButtonElement>('train-start').disabled = false;
    $<HTMLButtonElement>('train-pause').textContent = run && !run.done ? 'Resume' : 'Pause';
    $<HTMLButtonElement>('train-pause').disabled = !run || run.done;
  }
}

async function onTrainPause(): Promise<void> {
  if (!run) return;
  if (busy) {
    paused = true; // the loop stops after this step
    return;
  }
  paused = false;
  await guardedTraining();
}

function onDownload(): void {
  if (!run) return;
  const blob = new Blob([run.checkpointBytes() as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'playground-checkpoint.safetensors';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---------------------------------------------------------------------------------------
// start

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const spec = params.get('backend') ?? 'auto';
  const select = $<HTMLSelectElement>('backend-choice');
  for (const b of PLAYGROUND_BACKENDS) select.add(new Option(b, b, b === spec, b === spec));
  select.onchange = () => {
    params.set('backend', select.value);
    location.search = params.toString();
  };
  const renderer = webglRenderer();
  try {
    if (!(PLAYGROUND_BACKENDS as readonly string[]).includes(spec)) throw new Error(`unknown backend '${spec}' in the address; one of ${PLAYGROUND_BACKENDS.join(', ')}`);
    const choice = startBackend(spec);
    state.backend = { spec: choice.spec, name: choice.backend.name, reason: choice.reason, renderer };
    const where = choice.spec === 'gpujs:gpu' ? `the GPU through gpu.js's WebGL mode (${renderer})` : choice.spec === 'gpujs:webasm' ? `the CPU through gpu.js's WebAssembly mode (this browser: ${renderer})` : `the CPU (${choice.spec}; this browser: ${renderer})`;
    $('backend').textContent = `running on ${choice.backend.name}: ${where}. Why: ${choice.reason}.`;
  } catch (err) {
    state.status = 'failed';
    $('backend').textContent = 'no backend';
    showError(`backend: ${(err as Error).message}`);
    return;
  }
  $<HTMLInputElement>('sample-guidance').oninput = (e) => ($('sample-guidance-value').textContent = (e.target as HTMLInputElement).value);
  $('sample-run').onclick = () => void onSample();
  $('sample-stop').onclick = () => (stopSampling = true);
  $<HTMLInputElement>('checkpoint-file').onchange = (e) => void onCheckpointFile(e.target as HTMLInputElement);
  for (const id of ['fwd-t', 'fwd-index', 'fwd-seed']) $(id).oninput = drawForward;
  $('train-start').onclick = () => void onTrainStart();
  $('train-pause').onclick = () => void onTrainPause();
  $('train-download').onclick = onDownload;
  drawLoss($('train-loss'), []);
  const name = params.get('checkpoint') ?? 'mnist-ddpm.safetensors';
  const [ckpt, bytes, labels] = await Promise.allSettled([fetchBytes(name), fetchBytes('digits-train.u8'), fetchBytes('labels-train.u8')]);
  try {
    if (bytes.status === 'rejected') throw bytes.reason;
    if (labels.status === 'rejected') throw labels.reason;
    digits = digitsDataset(bytes.value, labels.value);
    drawForward();
  } catch (err) {
    showError(`digits: ${(err as Error).message}`);
  }
  try {
    if (ckpt.status === 'rejected') throw ckpt.reason;
    useModel(loadPlaygroundModel(ckpt.value, name));
  } catch (err) {
    $('model-info').textContent = 'no model loaded: load a checkpoint file below';
    showError(`checkpoint: ${(err as Error).message}`);
  }
  state.status = 'ready';
}

void start();
