/**
 * Tests of the image layer: PNG writing and reading (exact at 8 bits), the grid layout,
 * and the loss-curve plotter. PNG headers are checked by reading the bytes directly, and
 * "foreign" PNGs are made with pngjs's default RGBA encoder, independently of our writer.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Generator } from '../src/random';
import { makeGrid, readImagePng, valueToByte, writeGridPng, writeImagePng } from '../src/image/png';
import { FONT_5X7, GLYPH_HEIGHT, GLYPH_WIDTH, formatTickLabel, niceTicks, plotLossCurve } from '../src/image/plot';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-ddpm-image-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Width, height, bit depth and colour type from a PNG's IHDR chunk (bytes 16..25). */
function pngHeader(file: string) {
  const b = fs.readFileSync(file);
  expect(b.subarray(0, 8)).to.deep.equal(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), bitDepth: b[24], colorType: b[25] };
}

/** n random bytes, from a seeded generator so failures repeat. */
function randomBytes(n: number, seed: number): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => g.randint(256));
}

describe('[unit 6: pictures] PNG writing and reading', () => {
  it('maps values to bytes linearly over the range, clamping outside and NaN to 0', () => {
    expect(valueToByte(-1, [-1, 1])).to.equal(0);
    expect(valueToByte(1, [-1, 1])).to.equal(255);
    expect(valueToByte(0, [-1, 1])).to.equal(128); // 127.5 rounds up
    expect(valueToByte(0.5, [0, 1])).to.equal(128);
    expect(valueToByte(-3, [-1, 1])).to.equal(0);
    expect(valueToByte(7, [-1, 1])).to.equal(255);
    expect(valueToByte(NaN, [-1, 1])).to.equal(0);
  });

  it('round-trips an 8-bit grayscale image exactly, written as a gray PNG', () => {
    const [h, w] = [7, 5];
    const bytes = randomBytes(h * w, 1);
    bytes[0] = 0;
    bytes[1] = 255;
    const file = path.join(tmp, 'gray.png');
    writeImagePng(file, Float32Array.from(bytes, (b) => b / 255), 1, h, w, [0, 1]);
    expect(pngHeader(file)).to.deep.equal({ width: w, height: h, bitDepth: 8, colorType: 0 });
    const back = readImagePng(file);
    expect([back.c, back.h, back.w]).to.deep.equal([1, h, w]);
    expect(Array.from(back.data)).to.deep.equal(bytes.map((b) => Math.fround(b / 255)));
  });

  it('round-trips exactly from the default [-1, 1] range too', () => {
    const bytes = randomBytes(28 * 28, 2);
    const file = path.join(tmp, 'minus-one-one.png');
    writeImagePng(file, Float32Array.from(bytes, (b) => (b / 255) * 2 - 1), 1, 28, 28);
    expect(Array.from(readImagePng(file).data)).to.deep.equal(bytes.map((b) => Math.fround(b / 255)));
  });

  it('round-trips an RGB image, keeping the channel planes apart', () => {
    const [c, h, w] = [3, 4, 6];
    const bytes = randomBytes(c * h * w, 3);
    const file = path.join(tmp, 'rgb.png');
    writeImagePng(file, Float32Array.from(bytes, (b) => b / 255), c, h, w, [0, 1]);
    expect(pngHeader(file).colorType).to.equal(2);
    const back = readImagePng(file);
    expect([back.c, back.h, back.w]).to.deep.equal([c, h, w]);
    expect(Array.from(back.data)).to.deep.equal(bytes.map((b) => Math.fround(b / 255)));
    // and the file holds R,G,B interleaved: pixel (y=2, x=3) read by pngjs itself
    const png = PNG.sync.read(fs.readFileSync(file));
    const p = (2 * w + 3) * 4;
    expect([png.data[p], png.data[p + 1], png.data[p + 2]]).to.deep.equal([0, 1, 2].map((ch) => bytes[(ch * h + 2) * w + 3]));
  });

  it('clamps values outside the range', () => {
    const file = path.join(tmp, 'clamped.png');
    writeImagePng(file, Float32Array.from([-5, -1, 0, 1, 5, NaN]), 1, 2, 3);
    const back = readImagePng(file);
    expect(Array.from(back.data).map((v) => Math.round(v * 255))).to.deep.equal([0, 0, 128, 255, 255, 0]);
  });

  it('reads foreign RGBA and gray+alpha PNGs', () => {
    const [w, h] = [3, 2];
    const rgba = new PNG({ width: w, height: h });
    const bytes = randomBytes(w * h * 4, 4);
    rgba.data = Buffer.from(bytes);
    const file = path.join(tmp, 'foreign-rgba.png');
    fs.writeFileSync(file, PNG.sync.write(rgba, { colorType: 6 }));
    const back = readImagePng(file);
    expect([back.c, back.h, back.w]).to.deep.equal([3, h, w]);
    for (let ch = 0; ch < 3; ch++) {
      for (let i = 0; i < w * h; i++) expect(back.data[ch * w * h + i]).to.equal(Math.fround(bytes[i * 4 + ch] / 255));
    }
    const grayAlpha = path.join(tmp, 'foreign-gray-alpha.png');
    fs.writeFileSync(grayAlpha, PNG.sync.write(rgba, { colorType: 4 }));
    expect(readImagePng(grayAlpha).c).to.equal(1);
  });

  it('creates parent directories, and names a missing or broken file', () => {
    const file = path.join(tmp, 'a', 'b', 'c', 'deep.png');
    writeImagePng(file, new Float32Array(4), 1, 2, 2);
    expect(fs.existsSync(file)).to.equal(true);
    const missing = path.join(tmp, 'missing.png');
    expect(() => readImagePng(missing)).to.throw(Error, missing);
    const broken = path.join(tmp, 'broken.png');
    fs.writeFileSync(broken, 'not a png');
    expect(() => readImagePng(broken)).to.throw(Error, broken);
    expect(() => writeImagePng(path.join(tmp, 'x.png'), new Float32Array(5), 1, 2, 2)).to.throw(/1x2x2 = 4 values, got 5/);
    expect(() => writeImagePng(path.join(tmp, 'x.png'), new Float32Array(8), 2, 2, 2)).to.throw(/c must be 1 \(gray\) or 3 \(RGB\)/);
  });
});

describe('[unit 6: pictures] makeGrid', () => {
  // image k, channel ch, pixel (y, x) has the value 1000k + 100ch + 10y + x: every value
  // says where it came from
  const value = (k: number, ch: number, y: number, x: number) => 1000 * k + 100 * ch + 10 * y + x;
  function images(n: number, c: number, h: number, w: number): Float32Array {
    const out = new Float32Array(n * c * h * w);
    for (let k = 0; k < n; k++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((k * c + ch) * h + y) * w + x] = value(k, ch, y, x);
    return out;
  }

  it('puts image k at row floor(k/nrow), column k%nrow, with padding between and around', () => {
    const [n, c, h, w, nrow, pad] = [5, 1, 3, 4, 3, 1];
    const grid = makeGrid(images(n, c, h, w), n, c, h, w, nrow, pad, -1);
    // 2 rows, 3 columns: height 2*(3+1)+1, width 3*(4+1)+1
    expect([grid.c, grid.h, grid.w]).to.deep.equal([1, 9, 16]);
    const at = (y: number, x: number) => grid.data[y * grid.w + x];
    const covered = new Set<number>();
    for (let k = 0; k < n; k++) {
      const top = pad + Math.floor(k / nrow) * (h + pad);
      const left = pad + (k % nrow) * (w + pad);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          expect(at(top + y, left + x), `image ${k} pixel (${y}, ${x})`).to.equal(value(k, 0, y, x));
          covered.add((top + y) * grid.w + left + x);
        }
      }
    }
    // everything else, the empty sixth tile included, is padding
    for (let i = 0; i < grid.data.length; i++) if (!covered.has(i)) expect(grid.data[i]).to.equal(-1);
  });

  it('lays out each colour channel the same way', () => {
    const grid = makeGrid(images(2, 3, 2, 2), 2, 3, 2, 2, 8, 2, 0);
    expect([grid.c, grid.h, grid.w]).to.deep.equal([3, 6, 10]); // one row of two: 1*(2+2)+2, 2*(2+2)+2
    const at = (ch: number, y: number, x: number) => grid.data[(ch * grid.h + y) * grid.w + x];
    expect(at(2, 2 + 1, 2 + 4 + 0)).to.equal(value(1, 2, 1, 0));
    expect(at(1, 2, 2)).to.equal(value(0, 1, 0, 0));
    expect(at(1, 0, 0)).to.equal(0);
  });

  it('writeGridPng writes the grid, padding gray by default', () => {
    const file = path.join(tmp, 'grid.png');
    const tiles = new Float32Array(4 * 2 * 2).fill(-1); // black in the default [-1, 1] range
    tiles.fill(1, 3 * 4, 4 * 4); // image 3 white
    const grid = writeGridPng(file, tiles, 4, 1, 2, 2, { nrow: 2, padding: 1 });
    const back = readImagePng(file);
    expect([back.h, back.w]).to.deep.equal([grid.h, grid.w]);
    expect([back.h, back.w]).to.deep.equal([7, 7]);
    const byte = (y: number, x: number) => Math.round(back.data[y * back.w + x] * 255);
    expect(byte(0, 0)).to.equal(128); // padding: 0 in [-1, 1] is mid-gray
    expect(byte(1, 1)).to.equal(0); // image 0
    expect(byte(4, 4)).to.equal(255); // image 3 (row 1, column 1)
  });
});

describe('[unit 6: pictures] plot', () => {
  it('picks 1-2-5 tick steps and formats their labels', () => {
    expect(niceTicks(0, 1, 5)).to.deep.equal({ step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], lo: 0, hi: 1 });
    const t = niceTicks(3, 997, 5);
    expect(t.step).to.equal(200);
    expect(t.ticks).to.deep.equal([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0.013, 0.048, 4).ticks).to.deep.equal([0.01, 0.02, 0.03, 0.04, 0.05]);
    expect(formatTickLabel(0.3, 0.1)).to.equal('0.3');
    expect(formatTickLabel(1500, 500)).to.equal('1500');
    expect(formatTickLabel(200000, 100000)).to.equal('2e5');
    expect(formatTickLabel(0.00015, 0.00005)).to.equal('1.5e-4');
    expect(formatTickLabel(0, 1)).to.equal('0');
  });

  it('has a well-formed 5x7 glyph for every character it claims', () => {
    for (const [ch, glyph] of Object.entries(FONT_5X7)) {
      const rows = glyph.split('|');
      expect(rows, `glyph '${ch}'`).to.have.length(GLYPH_HEIGHT);
      for (const r of rows) expect(r, `glyph '${ch}'`).to.match(new RegExp(`^[#.]{${GLYPH_WIDTH}}$`));
    }
    for (const ch of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-e') expect(FONT_5X7[ch] ?? FONT_5X7[ch.toUpperCase()], ch).to.be.a('string');
  });

  /** Is there a pixel of colour `rgb` within `r` pixels of (x, y)? */
  function colourNear(img: { data: Float32Array; h: number; w: number }, x: number, y: number, rgb: number[], r = 2): boolean {
    for (let yy = y - r; yy <= y + r; yy++) {
      for (let xx = x - r; xx <= x + r; xx++) {
        if (xx < 0 || yy < 0 || xx >= img.w || yy >= img.h) continue;
        const px = [0, 1, 2].map((ch) => Math.round(img.data[(ch * img.h + yy) * img.w + xx] * 255));
        if (px.every((v, i) => v === rgb[i])) return true;
      }
    }
    return false;
  }

  it('writes a PNG of the asked size with the curve where the data is', () => {
    const file = path.join(tmp, 'plots', 'loss.png');
    const red = [255, 0, 0] as const;
    const xs = Array.from({ length: 101 }, (_, i) => i);
    const ys = xs.map((x) => 1 - x / 100);
    const layout = plotLossCurve(file, [{ name: 'loss', xs, ys, color: red }], { width: 320, height: 240, title: 'loss', xLabel: 'step' });
    expect(pngHeader(file)).to.include({ width: 320, height: 240 });
    const img = readImagePng(file);
    expect([img.c, img.h, img.w]).to.deep.equal([3, 240, 320]);

    // map data to pixels from the reported layout, independently of the plotter's code
    const { left, right, top, bottom } = layout.plotArea;
    const toPixel = (x: number, y: number) => [
      Math.round(left + ((x - layout.xRange[0]) / (layout.xRange[1] - layout.xRange[0])) * (right - left)),
      Math.round(bottom - ((y - layout.yRange[0]) / (layout.yRange[1] - layout.yRange[0])) * (bottom - top)),
    ];
    expect(layout.xRange[0]).to.be.at.most(0);
    expect(layout.xRange[1]).to.be.at.least(100);
    for (const x of [5, 30, 55, 80, 95]) {
      const [px, py] = toPixel(x, 1 - x / 100);
      expect(colourNear(img, px, py, [...red]), `curve at x=${x} -> pixel (${px}, ${py})`).to.equal(true);
      // and not where the data is not: the same column, far above or below the curve
      const [, far] = toPixel(x, 1 - x / 100 > 0.5 ? 0.05 : 0.95);
      expect(colourNear(img, px, far, [...red], 1)).to.equal(false);
    }
    // the background is white and the axes are drawn in black
    expect(colourNear(img, 2, 2, [255, 255, 255], 0)).to.equal(true);
    expect(colourNear(img, left, Math.round((top + bottom) / 2), [0, 0, 0], 0)).to.equal(true);
    expect(colourNear(img, Math.round((left + right) / 2), bottom, [0, 0, 0], 0)).to.equal(true);
  });

  it('draws on a log y axis, skipping non-positive and non-finite values', () => {
    const file = path.join(tmp, 'log.png');
    const blue = [0, 0, 255];
    const xs = Array.from({ length: 201 }, (_, i) => i * 10);
    const ys = xs.map((x) => Math.pow(10, -x / 1000)); // a straight line from 1 to 0.01 in log10
    ys[50] = NaN;
    ys[60] = 0;
    const layout = plotLossCurve(file, [{ name: 'mse', xs, ys, color: [0, 0, 255] }], { width: 400, height: 300, logY: true });
    expect(layout.logY).to.equal(true);
    expect(layout.yRange).to.deep.equal([-2, 0]); // whole decades: 0.01 .. 1
    const img = readImagePng(file);
    const { left, right, top, bottom } = layout.plotArea;
    for (const x of [200, 1000, 1700]) {
      const px = Math.round(left + ((x - layout.xRange[0]) / (layout.xRange[1] - layout.xRange[0])) * (right - left));
      const py = Math.round(bottom - ((-x / 1000 - layout.yRange[0]) / (layout.yRange[1] - layout.yRange[0])) * (bottom - top));
      expect(colourNear(img, px, py, blue), `log curve at x=${x}`).to.equal(true);
    }
  });

  it('draws several series in different colours with a legend, and refuses bad input', () => {
    const file = path.join(tmp, 'two.png');
    const xs = [0, 1, 2, 3];
    const layout = plotLossCurve(file, [
      { name: 'train', xs, ys: [4, 3, 2, 1] },
      { name: 'ema', xs, ys: [4, 3.5, 3, 2.5] },
    ]);
    expect([layout.width, layout.height]).to.deep.equal([640, 400]);
    const img = readImagePng(file);
    // the first two palette colours both appear
    let blue = 0;
    let orange = 0;
    for (let i = 0; i < img.h * img.w; i++) {
      const px = [0, 1, 2].map((ch) => Math.round(img.data[ch * img.h * img.w + i] * 255));
      if (px[0] === 31 && px[1] === 119 && px[2] === 180) blue++;
      if (px[0] === 255 && px[1] === 127 && px[2] === 14) orange++;
    }
    expect(blue).to.be.greaterThan(50);
    expect(orange).to.be.greaterThan(50);
    expect(() => plotLossCurve(file, [{ name: 'x', xs: [1, 2], ys: [1] }])).to.throw(/2 xs but 1 ys/);
    expect(() => plotLossCurve(file, [], { width: 10, height: 10 })).to.throw(/at least 160 x 120/);
  });
});
