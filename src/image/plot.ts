/**
 * A small line-chart plotter that writes PNGs, so the trainer can draw its loss curve
 * without a plotting library, a browser or Python.
 *
 * It draws into an RGB byte canvas: a white background, light grid lines, two axes with
 * numeric tick labels, one polyline per series, a title and a legend. Text uses a 5x7
 * bitmap font defined below as pictures of '#' and '.' (the way such fonts were drawn
 * for early terminals). Lines are Bresenham's algorithm, clipped to the plot area.
 */
import { writePngBytes } from './png';

export type Rgb = readonly [number, number, number];

export interface LossSeries {
  name: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  /** default: the next colour of PALETTE */
  color?: Rgb;
}

export interface PlotOptions {
  /** image size in pixels (default 640 x 400) */
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /**
   * Logarithmic y axis (default false). Diffusion losses fall fast and then slowly, so
   * on a log scale the later progress is still visible. Points with y <= 0 are skipped.
   */
  logY?: boolean;
}

/** Where things ended up, so a caller (or a test) can map data to pixels. */
export interface PlotLayout {
  width: number;
  height: number;
  /** the rectangle the curves are drawn in; left/top inclusive, right/bottom the axis lines */
  plotArea: { left: number; top: number; right: number; bottom: number };
  /** data range across the plot area; for logY the y range is in log10 units */
  xRange: [number, number];
  yRange: [number, number];
  logY: boolean;
}

/** Matplotlib's "tab10" colours: distinct from each other and readable on white. */
export const PALETTE: readonly Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID_GRAY: Rgb = [228, 228, 228];
const LEGEND_BORDER: Rgb = [160, 160, 160];

// ---------------------------------------------------------------------------------------
// The font: 5 pixels wide, 7 high, rows top to bottom separated by '|', '#' = ink.
// Lowercase letters are drawn as capitals; unknown characters as '?'.
// ---------------------------------------------------------------------------------------
export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** pixels from one character's left edge to the next: the glyph and one blank column */
export const GLYPH_ADVANCE = GLYPH_WIDTH + 1;

export const FONT_5X7: Readonly<Record<string, string>> = {
  '0': '.###.|#...#|#..##|#.#.#|##..#|#...#|.###.',
  '1': '..#..|.##..|..#..|..#..|..#..|..#..|.###.',
  '2': '.###.|#...#|....#|...#.|..#..|.#...|#####',
  '3': '#####|...#.|..#..|...#.|....#|#...#|.###.',
  '4': '...#.|..##.|.#.#.|#..#.|#####|...#.|...#.',
  '5': '#####|#....|####.|....#|....#|#...#|.###.',
  '6': '..##.|.#...|#....|####.|#...#|#...#|.###.',
  '7': '#####|....#|...#.|..#..|.#...|.#...|.#...',
  '8': '.###.|#...#|#...#|.###.|#...#|#...#|.###.',
  '9': '.###.|#...#|#...#|.####|....#|...#.|.##..',
  A: '.###.|#...#|#...#|#####|#...#|#...#|#...#',
  B: '####.|#...#|#...#|####.|#...#|#...#|####.',
  C: '.###.|#...#|#....|#....|#....|#...#|.###.',
  D: '###..|#..#.|#...#|#...#|#...#|#..#.|###..',
  E: '#####|#....|#....|####.|#....|#....|#####',
  F: '#####|#....|#....|####.|#....|#....|#....',
  G: '.###.|#...#|#....|#.###|#...#|#...#|.####',
  H: '#...#|#...#|#...#|#####|#...#|#...#|#...#',
  I: '.###.|..#..|..#..|..#..|..#..|..#..|.###.',
  J: '..###|...#.|...#.|...#.|...#.|#..#.|.##..',
  K: '#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#',
  L: '#....|#....|#....|#....|#....|#....|#####',
  M: '#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#',
  N: '#...#|#...#|##..#|#.#.#|#..##|#...#|#...#',
  O: '.###.|#...#|#...#|#...#|#...#|#...#|.###.',
  P: '####.|#...#|#...#|####.|#....|#....|#....',
  Q: '.###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#',
  R: '####.|#...#|#...#|####.|#.#..|#..#.|#...#',
  S: '.####|#....|#....|.###.|....#|....#|####.',
  T: '#####|..#..|..#..|..#..|..#..|..#..|..#..',
  U: '#...#|#...#|#...#|#...#|#...#|#...#|.###.',
  V: '#...#|#...#|#...#|#...#|#...#|.#.#.|..#..',
  W: '#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.',
  X: '#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#',
  Y: '#...#|#...#|.#.#.|..#..|..#..|..#..|..#..',
  Z: '#####|....#|...#.|..#..|.#...|#....|#####',
  '.': '.....|.....|.....|.....|.....|.##..|.##..',
  ',': '.....|.....|.....|.....|.##..|..#..|.#...',
  '-': '.....|.....|.....|.###.|.....|.....|.....',
  '+': '.....|..#..|..#..|#####|..#..|..#..|.....',
  '=': '.....|.....|#####|.....|#####|.....|.....',
  ':': '.....|.##..|.##..|.....|.##..|.##..|.....',
  '/': '.....|....#|...#.|..#..|.#...|#....|.....',
  '(': '...#.|..#..|.#...|.#...|.#...|..#..|...#.',
  ')': '.#...|..#..|...#.|...#.|...#.|..#..|.#...',
  '_': '.....|.....|.....|.....|.....|.....|#####',
  '%': '##...|##..#|...#.|..#..|.#...|#..##|...##',
  '?': '.###.|#...#|....#|...#.|..#..|.....|..#..',
  ' ': '.....|.....|.....|.....|.....|.....|.....',
};

function glyphFor(ch: string): string {
  return FONT_5X7[ch] ?? FONT_5X7[ch.toUpperCase()] ?? FONT_5X7['?'];
}

/** Width in pixels of `text` drawn at `scale` (no trailing blank column). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

// ---------------------------------------------------------------------------------------
// The canvas
// ---------------------------------------------------------------------------------------

/** An RGB image, 3 bytes per pixel, rows top to bottom: the layout PNG stores. */
export class RgbCanvas {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb = WHITE) {
    this.data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Pixels outside the canvas are ignored, which keeps the drawing code free of checks. */
  setPixel(x: number, y: number, color: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = color[0];
    this.data[i + 1] = color[1];
    this.data[i + 2] = color[2];
  }

  getPixel(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 3;
    return [this.data[i], this.data[i + 1], this.data[i + 2]];
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) this.setPixel(xx, yy, color);
  }

  /** Outline of a rectangle, one pixel wide, corners (x0, y0) and (x1, y1) included. */
  strokeRect(x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
    for (let x = x0; x <= x1; x++) {
      this.setPixel(x, y0, color);
      this.setPixel(x, y1, color);
    }
    for (let y = y0; y <= y1; y++) {
      this.setPixel(x0, y, color);
      this.setPixel(x1, y, color);
    }
  }

  /**
   * Bresenham's line from (x0, y0) to (x1, y1), integer pixels, both ends drawn. Only
   * pixels for which `keep(x, y)` is true are set (used to clip to the plot area).
   */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, keep: (x: number, y: number) => boolean = () => true): void {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy; // the error term tracks how far the pixel is from the true line
    let x = x0;
    let y = y0;
    for (;;) {
      if (keep(x, y)) this.setPixel(x, y, color);
      if (x === x1 && y === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  /** Draws text with its top-left corner at (x, y); each font pixel becomes scale x scale. */
  text(text: string, x: number, y: number, color: Rgb, scale = 1): void {
    for (let k = 0; k < text.length; k++) {
      const rows = glyphFor(text[k]).split('|');
      const left = x + k * GLYPH_ADVANCE * scale;
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (rows[r][col] === '#') this.fillRect(left + col * scale, y + r * scale, scale, scale, color);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Ticks
// ---------------------------------------------------------------------------------------

/**
 * Tick step and positions covering [lo, hi] with about `target` intervals, the step being
 * 1, 2 or 5 times a power of ten (steps people read easily). The returned range is [lo, hi]
 * widened outward to whole steps, so the first and last ticks sit on the plot's edges.
 */
export function niceTicks(lo: number, hi: number, target = 5): { step: number; ticks: number[]; lo: number; hi: number } {
  if (!(hi > lo)) {
    // a flat series: give it a unit-sized window around its value
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / target;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const fraction = rough / power;
  const step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  // ticks as integer multiples of step, so 0.1*3 does not print as 0.30000000000000004
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return { step, ticks, lo: ticks[0], hi: ticks[ticks.length - 1] };
}

/** A short label for a tick value: '0', '0.25', '1500', '2e5', '1e-4'. */
export function formatTickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e5 || abs < 1e-3) {
    // toExponential with no argument uses as many digits as the value needs
    return Number(v.toPrecision(6)).toExponential().replace('e+', 'e');
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

/** Label for the tick 10^k on a log axis. */
function powerOfTenLabel(k: number): string {
  return k >= -3 && k <= 4 ? formatTickLabel(Math.pow(10, k), Math.pow(10, Math.min(k, 0))) : `1e${k}`;
}

// ---------------------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------------------

/**
 * Draws the series as lines and writes the chart to `file` (a PNG of opts.width x
 * opts.height). Non-finite points (and, with logY, y <= 0) are left out and break the
 * line there. Returns the layout used.
 */
export function plotLossCurve(file: string, series: LossSeries[], opts: PlotOptions = {}): PlotLayout {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 160 && height >= 120)) {
    throw new Error(`plotLossCurve(${file}): width and height must be integers of at least 160 x 120, got ${width} x ${height}`);
  }
  const logY = opts.logY ?? false;
  for (const s of series) {
    if (s.xs.length !== s.ys.length) throw new Error(`plotLossCurve(${file}): series '${s.name}' has ${s.xs.length} xs but ${s.ys.length} ys`);
  }

  // The values actually drawn: y in log10 units on a log axis; unusable points become null.
  const toPlotY = (y: number) => (logY ? (y > 0 ? Math.log10(y) : NaN) : y);
  const points = series.map((s) =>
    Array.from({ length: s.xs.length }, (_, i) => {
      const x = s.xs[i];
      const y = toPlotY(s.ys[i]);
      return Number.isFinite(x) && Number.isFinite(y) ? { x, y } : null;
    }),
  );
  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  for (const p of points.flat()) {
    if (!p) continue;
    xMin = Math.min(xMin, p.x);
    xMax = Math.max(xMax, p.x);
    yMin = Math.min(yMin, p.y);
    yMax = Math.max(yMax, p.y);
  }
  if (xMin > xMax) [xMin, xMax, yMin, yMax] = [0, 1, 0, 1]; // nothing to draw: an empty frame

  const xTicks = niceTicks(xMin, xMax, Math.max(2, Math.floor(width / 110)));
  let yTickValues: number[];
  let yTickLabels: string[];
  let yLo: number, yHi: number;
  if (logY) {
    // ticks at whole powers of ten; the axis spans whole decades
    yLo = Math.floor(yMin);
    yHi = Math.max(Math.ceil(yMax), yLo + 1);
    const every = Math.ceil((yHi - yLo) / 8); // at most ~8 labels
    yTickValues = [];
    for (let k = yLo; k <= yHi; k += every) yTickValues.push(k);
    yTickLabels = yTickValues.map(powerOfTenLabel);
  } else {
    const t = niceTicks(yMin, yMax, Math.max(2, Math.floor(height / 70)));
    [yLo, yHi, yTickValues] = [t.lo, t.hi, t.ticks];
    yTickLabels = t.ticks.map((v) => formatTickLabel(v, t.step));
  }
  const xTickLabels = xTicks.ticks.map((v) => formatTickLabel(v, xTicks.step));

  // Margins from what goes in them: title and y label above, tick labels left and below.
  const titleScale = 2;
  const top = 12 + (opts.title ? GLYPH_HEIGHT * titleScale + 10 : 0) + (opts.yLabel ? GLYPH_HEIGHT + 8 : 0);
  const left = 12 + Math.max(...yTickLabels.map((s) => textWidth(s))) + 8;
  const bottom = height - (12 + GLYPH_HEIGHT + 8 + (opts.xLabel ? GLYPH_HEIGHT + 8 : 0));
  const right = width - 1 - Math.max(16, Math.ceil(textWidth(xTickLabels[xTickLabels.length - 1]) / 2) + 4);
  const area = { left, top, right, bottom };

  const px = (x: number) => Math.round(left + ((x - xTicks.lo) / (xTicks.hi - xTicks.lo)) * (right - left));
  const py = (y: number) => Math.round(bottom - ((y - yLo) / (yHi - yLo)) * (bottom - top));
  const inside = (x: number, y: number) => x >= left && x <= right && y >= top && y <= bottom;

  const canvas = new RgbCanvas(width, height);

  // grid lines and tick labels
  xTicks.ticks.forEach((v, i) => {
    const x = px(v);
    canvas.line(x, top, x, bottom, GRID_GRAY);
    canvas.line(x, bottom, x, bottom + 4, BLACK);
    canvas.text(xTickLabels[i], x - Math.floor(textWidth(xTickLabels[i]) / 2), bottom + 8, BLACK);
  });
  yTickValues.forEach((v, i) => {
    const y = py(v);
    canvas.line(left, y, right, y, GRID_GRAY);
    canvas.line(left - 4, y, left, y, BLACK);
    canvas.text(yTickLabels[i], left - 8 - textWidth(yTickLabels[i]), y - Math.floor(GLYPH_HEIGHT / 2), BLACK);
  });

  // the curves, over the grid
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    let prev: { x: number; y: number } | null = null;
    for (const p of points[k]) {
      if (!p) {
        prev = null; // a gap in the data is a gap in the line
        continue;
      }
      const cur = { x: px(p.x), y: py(p.y) };
      if (prev) canvas.line(prev.x, prev.y, cur.x, cur.y, color, inside);
      else if (inside(cur.x, cur.y)) canvas.setPixel(cur.x, cur.y, color); // a lone point still shows
      prev = cur;
    }
  });

  // axes last, so curves lying on the edge do not hide them
  canvas.line(left, top, left, bottom, BLACK);
  canvas.line(left, bottom, right, bottom, BLACK);

  // texts
  if (opts.title) {
    canvas.text(opts.title, Math.floor((width - textWidth(opts.title, titleScale)) / 2), 12, BLACK, titleScale);
  }
  if (opts.yLabel) canvas.text(opts.yLabel, 12, top - GLYPH_HEIGHT - 8, BLACK);
  if (opts.xLabel) {
    canvas.text(opts.xLabel, Math.floor((left + right - textWidth(opts.xLabel)) / 2), bottom + 8 + GLYPH_HEIGHT + 8, BLACK);
  }

  // legend in the top-right corner of the plot area, where falling loss curves rarely are
  const named = series.map((s, k) => ({ name: s.name, color: s.color ?? PALETTE[k % PALETTE.length] })).filter((s) => s.name);
  if (named.length > 0) {
    const sample = 16; // length of the coloured line before each name
    const rowHeight = GLYPH_HEIGHT + 6;
    const boxW = 6 + sample + 6 + Math.max(...named.map((s) => textWidth(s.name))) + 6;
    const boxH = 6 + named.length * rowHeight;
    const x0 = right - 6 - boxW;
    const y0 = top + 6;
    canvas.fillRect(x0, y0, boxW, boxH, WHITE);
    canvas.strokeRect(x0, y0, x0 + boxW - 1, y0 + boxH - 1, LEGEND_BORDER);
    named.forEach((s, i) => {
      const rowTop = y0 + 6 + i * rowHeight;
      const mid = rowTop + Math.floor(GLYPH_HEIGHT / 2);
      canvas.fillRect(x0 + 6, mid - 1, sample, 2, s.color);
      canvas.text(s.name, x0 + 6 + sample + 6, rowTop, BLACK);
    });
  }

  writePngBytes(file, canvas.data, 3, height, width);
  return { width, height, plotArea: area, xRange: [xTicks.lo, xTicks.hi], yRange: [yLo, yHi], logY };
}
