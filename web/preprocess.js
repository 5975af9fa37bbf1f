// The browser twin of vit_edge/device/preprocess.py, step by step, with the same constants:
// RGBA pixels -> grey (transparency flattened onto paper), pooled toward the ink when larger than
// WORK_SIDE -> white ink on black, the paper's light divided away and ink judged against the
// paper's local noise -> pieces of ink, specks dropped -> crop -> thin strokes thickened to MNIST's
// width -> longer side 20 px (Pillow's Lanczos resampling, reimplemented) -> 28x28 with the centre
// of mass at (14, 14). tests/test_web.py checks it against the Python on shared images. Float32
// rounding follows numpy's (Math.fround where numpy computes in float32).

// The constants are Python's (vit_edge/device/preprocess.py CONSTANTS), written into constants.js
// by the server (vit_edge/device/webpage.py): one definition for both.
import {
  WORK_SIDE, INK_THRESHOLD, MIN_CONTRAST, NOISE_SIGMAS, FLOOR_SIGMAS, MIN_INK_PIXELS, LIGHT_CELLS,
  LIGHT_RADIUS, NOISE_CELLS, NOISE_CELL, SMOOTH_NOISE, MAX_SMOOTH, SPECK_FRACTION, SPECK_EXTENT,
  DIGIT_HEIGHT, BOX, SIDE, CENTRE, MNIST_STROKE, MNIST_THIN, FINE_SIDE,
} from "./constants.js";

export class BlankImage extends Error {}

// A 2-D float image: {w, h, a: Float32Array(w * h)}.
const image = (w, h, a = new Float32Array(w * h)) => ({ w, h, a });

// Python's round(): halves go to the even neighbour.
function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// The k-th smallest value (0-based) by quickselect, O(n): a full sort of the pad's 313,600 pixels
// took most of a prediction's time. Leaves a[k + 1 ...] >= a[k].
function select(a, k) {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
  }
  return a[k];
}

function nextAbove(a, k) { // the (k+1)-th smallest, after select(a, k)
  let m = Infinity;
  for (let i = k + 1; i < a.length; i++) if (a[i] < m) m = a[i];
  return m;
}

function median(values) {
  const a = Float64Array.from(values);
  const n = a.length, k = (n - 1) >> 1;
  const lo = select(a, k);
  return n % 2 ? lo : (lo + nextAbove(a, k)) / 2;
}

function percentile(values, q) { // numpy's default (linear interpolation)
  const a = Float64Array.from(values);
  const pos = (q / 100) * (a.length - 1);
  const k = Math.floor(pos);
  const lo = select(a, k);
  return pos === k ? lo : lo + (nextAbove(a, k) - lo) * (pos - k);
}

// Step 1: integer grey levels (Pillow's "L": ITU-R 601 luma in fixed point), alpha flattened.
export function toGrey(rgba, w, h) {
  let opaque = true;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) { opaque = false; break; }
  const luma = new Uint8Array(w * h);
  for (let i = 0, j = 0; j < luma.length; i += 4, j++) {
    luma[j] = (rgba[i] * 19595 + rgba[i + 1] * 38470 + rgba[i + 2] * 7471 + 0x8000) >>> 16;
  }
  let grey = luma;
  if (!opaque) {
    // transparent pixels become paper of the opposite shade to the strokes (drawing apps)
    let ink = 0, weight = 0;
    for (let j = 0; j < luma.length; j++) { ink += luma[j] * rgba[4 * j + 3]; weight += rgba[4 * j + 3]; }
    const paper = ink / Math.max(weight, 1e-9) < 127.5 ? 255 : 0;
    grey = new Uint8Array(w * h);
    for (let j = 0; j < luma.length; j++) {
      const a = rgba[4 * j + 3];
      grey[j] = (luma[j] * a + paper * (255 - a) + 127) / 255; // Pillow's composite blend
    }
  }
  const factor = Math.ceil(Math.max(w, h) / WORK_SIDE);
  let out = { w, h, a: grey };
  if (factor > 1) out = poolTowardInk(out, factor, darkOnLight(out));
  const f = new Float32Array(out.w * out.h);
  for (let j = 0; j < f.length; j++) f[j] = out.a[j] / 255;
  return image(out.w, out.h, f);
}

// Dark ink on light paper when the darkest pixel is further below the median than the lightest is
// above it (Python's _dark_on_light).
function darkOnLight(img) {
  let lo = Infinity, hi = -Infinity;
  for (const v of img.a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const mid = median(img.a);
  return mid - lo > hi - mid;
}

// Shrink by an integer factor keeping, per block, the pixel most like ink (a hairline stays).
export function poolTowardInk(img, factor, dark) {
  const { w, h, a } = img;
  let paper = dark ? -Infinity : Infinity;
  for (const v of a) paper = dark ? Math.max(paper, v) : Math.min(paper, v);
  const ow = Math.ceil(w / factor), oh = Math.ceil(h / factor);
  const out = new a.constructor(ow * oh);
  for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    let best = dark ? Infinity : -Infinity;
    for (let y = oy * factor; y < (oy + 1) * factor; y++) for (let x = ox * factor; x < (ox + 1) * factor; x++) {
      const v = y < h && x < w ? a[y * w + x] : paper;
      best = dark ? Math.min(best, v) : Math.max(best, v);
    }
    out[oy * ow + ox] = best;
  }
  return { w: ow, h: oh, a: out };
}

// Steps 2-4: white ink on black, the paper's light divided away, ink judged against the paper's
// local noise, stretched so paper is 0 and ink 1, cut into 8-connected pieces (Python's find_ink).
const f32 = Math.fround;
const F_MIN_CONTRAST = f32(MIN_CONTRAST), F_MAD = f32(1.4826), F_PAPER_MIN = f32(1 / 255);

function radius(short, cell) { return Math.max(1, pyRound((short * LIGHT_RADIUS) / cell)); }

// The cell x cell blocks of an image, its last rows and columns repeated to fill them.
function cellValues(img, cell, reduce) {
  const { w, h, a } = img;
  const gw = Math.ceil(w / cell), gh = Math.ceil(h / cell);
  const out = image(gw, gh), block = new Float32Array(cell * cell);
  for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
    let k = 0;
    for (let y = gy * cell; y < (gy + 1) * cell; y++) for (let x = gx * cell; x < (gx + 1) * cell; x++) {
      block[k++] = a[Math.min(y, h - 1) * w + Math.min(x, w - 1)];
    }
    out.a[gy * gw + gx] = reduce(block);
  }
  return out;
}

function median32(values) { // numpy's median of a float32 array, in float32
  const a = Float32Array.from(values);
  const n = a.length, k = (n - 1) >> 1;
  const lo = select(a, k);
  return n % 2 ? lo : f32((lo + nextAbove(a, k)) / 2);
}

function madOf(block) {
  const m = median32(block);
  const dev = block.map((v) => Math.abs(f32(v - m)));
  return f32(F_MAD * median32(dev));
}

// Min or max over a (2r+1)-square, the window clipped at the edges; separable, rows first.
function filter(img, r, isMin) {
  const { w, h } = img;
  const pass = (src, along) => {
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let best = isMin ? Infinity : -Infinity;
      const c = along ? y : x, n = along ? h : w;
      for (let t = Math.max(0, c - r); t <= Math.min(n - 1, c + r); t++) {
        const v = along ? src[t * w + x] : src[y * w + t];
        best = isMin ? Math.min(best, v) : Math.max(best, v);
      }
      out[y * w + x] = best;
    }
    return out;
  };
  return image(w, h, pass(pass(img.a, true), false));
}

function opening(img, r) { return filter(filter(img, r, true), r, false); }

// Python's _light_opening: extrapolate 2r cells past each edge where the light rises toward it.
function lightOpening(g, r) {
  const p = 2 * r;
  let cur = g;
  for (const axis of [0, 1]) {
    const { w, h, a } = cur;
    const n = axis === 0 ? h : w;
    const ow = axis === 0 ? w : w + 2 * p, oh = axis === 0 ? h + 2 * p : h;
    const out = image(ow, oh);
    const at = (i, j) => (axis === 0 ? a[i * w + j] : a[j * w + i]); // i along the axis
    const set = (i, j, v) => { if (axis === 0) out.a[i * ow + j] = v; else out.a[j * ow + i] = v; };
    const across = axis === 0 ? w : h;
    for (let j = 0; j < across; j++) {
      for (let i = 0; i < n; i++) set(i + p, j, at(i, j));
      for (let k = 1; k <= p; k++) {
        const m = Math.min(k, n - 1);
        const e0 = at(0, j), e1 = at(n - 1, j);
        set(p - k, j, Math.max(f32(2 * e0 - at(m, j)), e0));
        set(n - 1 + p + k, j, Math.max(f32(2 * e1 - at(n - 1 - m, j)), e1));
      }
    }
    cur = out;
  }
  const o = opening(cur, r);
  const out = image(g.w, g.h);
  for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) out.a[y * g.w + x] = o.a[(y + p) * o.w + x + p];
  return out;
}

// Bilinear between cell centres back to w x h pixels (Python's _upsample, float32 like numpy).
function upsample(g, cell, w, h) {
  const weights = (n, size) => {
    const i0 = new Int32Array(n), i1 = new Int32Array(n), t = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const u = Math.min(Math.max((k + 0.5) / cell - 0.5, 0), size - 1);
      i0[k] = Math.floor(u); i1[k] = Math.min(i0[k] + 1, size - 1); t[k] = u - i0[k];
    }
    return [i0, i1, t];
  };
  const [y0, y1, ty] = weights(h, g.h), [x0, x1, tx] = weights(w, g.w);
  const rows = new Float32Array(h * g.w);
  for (let y = 0; y < h; y++) {
    const a = f32(1 - ty[y]);
    for (let x = 0; x < g.w; x++) rows[y * g.w + x] = f32(f32(g.a[y0[y] * g.w + x] * a) + f32(g.a[y1[y] * g.w + x] * ty[y]));
  }
  const out = image(w, h);
  for (let x = 0; x < w; x++) {
    const b = f32(1 - tx[x]);
    for (let y = 0; y < h; y++) out.a[y * w + x] = f32(f32(rows[y * g.w + x0[x]] * b) + f32(rows[y * g.w + x1[x]] * tx[x]));
  }
  return out;
}

// Mean over a (2r+1)-square, edge pixels repeated past the border: float64 prefix sums as numpy's.
function boxMean(img, r) {
  const { w, h, a } = img;
  const pw = w + 2 * r, ph = h + 2 * r;
  const c = new Float64Array((pw + 1) * (ph + 1));
  for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) {
    const v = a[Math.min(Math.max(y - r, 0), h - 1) * w + Math.min(Math.max(x - r, 0), w - 1)];
    c[(y + 1) * (pw + 1) + x + 1] = v + c[y * (pw + 1) + x + 1]; // cumsum down the columns first
  }
  for (let y = 1; y <= ph; y++) for (let x = 1; x <= pw; x++) c[y * (pw + 1) + x] += c[y * (pw + 1) + x - 1];
  const k = 2 * r + 1, out = image(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const at = (yy, xx) => c[yy * (pw + 1) + xx];
    out.a[y * w + x] = (at(y + k, x + k) - at(y, x + k) - at(y + k, x) + at(y, x)) / (k * k);
  }
  return out;
}

function noiseMap(dev, short) {
  const cell = Math.max(NOISE_CELL, Math.floor(short / NOISE_CELLS));
  return upsample(opening(cellValues(dev, cell, madOf), radius(short, cell)), cell, dev.w, dev.h);
}

// 8-connected pieces of a mask, numbered in order of first pixel (union-find on runs, as Python).
export function labelPieces(mask, w, h) {
  const parent = [0];
  const find = (i) => { while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; };
  const rowRuns = [];
  let previous = [];
  for (let y = 0; y < h; y++) {
    const runs = [];
    let j = 0;
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x] || (x > 0 && mask[y * w + x - 1])) continue;
      let end = x;
      while (end < w && mask[y * w + end]) end++;
      while (j < previous.length && previous[j][1] < x) j++;
      let root = 0;
      for (let k = j; k < previous.length && previous[k][0] <= end; k++) {
        const other = find(previous[k][2]);
        if (root === 0) root = other;
        else if (other !== root) { parent[Math.max(root, other)] = Math.min(root, other); root = Math.min(root, other); }
      }
      if (root === 0) { parent.push(parent.length); root = parent.length - 1; }
      runs.push([x, end, root]);
    }
    rowRuns.push(runs);
    previous = runs;
  }
  const roots = parent.map((_, i) => find(i));
  const compact = new Int32Array(parent.length);
  const unique = [...new Set(roots.slice(1))].sort((p, q) => p - q);
  unique.forEach((r, i) => { compact[r] = i + 1; });
  const labels = new Int32Array(w * h);
  const areas = new Array(unique.length).fill(0);
  const boxes = unique.map(() => [h, 0, w, 0]);
  rowRuns.forEach((runs, y) => {
    for (const [start, end, run] of runs) {
      const i = compact[roots[run]];
      labels.fill(i, y * w + start, y * w + end);
      areas[i - 1] += end - start;
      const b = boxes[i - 1];
      b[0] = Math.min(b[0], y); b[1] = Math.max(b[1], y + 1); b[2] = Math.min(b[2], start); b[3] = Math.max(b[3], end);
    }
  });
  return { labels, areas, boxes };
}

// Pieces whose columns overlap are one digit; groups at least DIGIT_HEIGHT of the tallest are digits.
function digitGroups(boxes) {
  const groups = [];
  for (const [top, bottom, left, right] of [...boxes].sort((p, q) => p[2] - q[2])) {
    const g = groups[groups.length - 1];
    if (g && left < g[3]) { g[0] = Math.min(g[0], top); g[1] = Math.max(g[1], bottom); g[3] = Math.max(g[3], right); }
    else groups.push([top, bottom, left, right]);
  }
  const tallest = Math.max(0, ...groups.map((g) => g[1] - g[0]));
  return groups.filter((g) => g[1] - g[0] >= DIGIT_HEIGHT * tallest);
}

export function findInk(grey) {
  const dark = darkOnLight(grey);
  const { w, h } = grey;
  const ink = image(w, h, grey.a.map((v) => (dark ? f32(1 - v) : v)));
  const short = Math.min(w, h);
  const cell = Math.max(1, Math.floor(short / LIGHT_CELLS));
  const background = upsample(lightOpening(cellValues(ink, cell, median32), radius(short, cell)), cell, w, h);
  let dev = image(w, h);
  for (let j = 0; j < w * h; j++) {
    const b = background.a[j];
    dev.a[j] = dark ? f32(f32(ink.a[j] - b) / Math.max(f32(1 - b), F_PAPER_MIN)) : f32(ink.a[j] - b);
  }
  let noise = noiseMap(dev, short);
  const level = median32(noise.a);
  const smooth = Math.min(MAX_SMOOTH, Math.ceil((level / SMOOTH_NOISE - 1) / 2), Math.floor(short / 100));
  const smoothed = level > SMOOTH_NOISE && smooth > 0;
  if (smoothed) { dev = boxMean(dev, smooth); noise = noiseMap(dev, short); }
  const candidates = new Uint8Array(w * h), strong = [];
  for (let j = 0; j < w * h; j++) {
    if (dev.a[j] > Math.max(F_MIN_CONTRAST, f32(NOISE_SIGMAS * noise.a[j]))) { candidates[j] = 1; strong.push(dev.a[j]); }
  }
  if (strong.length < MIN_INK_PIXELS) throw new BlankImage("blank image: no ink found");
  const strongest = f32(percentile(strong, 90));
  const stretched = image(w, h), mask = new Uint8Array(w * h);
  for (let j = 0; j < w * h; j++) {
    const floor = f32(FLOOR_SIGMAS * noise.a[j]);
    const v = f32(f32(dev.a[j] - floor) / Math.max(f32(strongest - floor), f32(1e-6)));
    stretched.a[j] = Math.min(1, Math.max(0, v));
    mask[j] = candidates[j] && stretched.a[j] > INK_THRESHOLD ? 1 : 0;
  }
  const { labels, areas, boxes } = labelPieces(mask, w, h);
  const speck = Math.max(smoothed ? (2 * smooth + 1) ** 2 : 1, SPECK_FRACTION * Math.max(0, ...areas));
  const kept = areas.map((area, i) => {
    const [t, b, l, r] = boxes[i];
    return area > speck && Math.max(b - t, r - l) >= SPECK_EXTENT * short;
  });
  const total = areas.reduce((s, area, i) => s + (kept[i] ? area : 0), 0);
  if (total < MIN_INK_PIXELS) throw new BlankImage("blank image: no ink found");
  return { ink: stretched, labels, kept, boxes, groups: digitGroups(boxes.filter((_, i) => kept[i])) };
}

// The ink around every kept piece, specks removed (Python's InkMap.crop with no box).
function cropInk(map) {
  const { ink, labels, kept, boxes } = map;
  const box = [Infinity, -Infinity, Infinity, -Infinity];
  boxes.forEach((b, i) => {
    if (!kept[i]) return;
    box[0] = Math.min(box[0], b[0]); box[1] = Math.max(box[1], b[1]); box[2] = Math.min(box[2], b[2]); box[3] = Math.max(box[3], b[3]);
  });
  const [top, bottom, left, right] = box;
  const out = image(right - left, bottom - top);
  for (let y = top; y < bottom; y++) for (let x = left; x < right; x++) {
    const l = labels[y * ink.w + x];
    out.a[(y - top) * out.w + x - left] = l > 0 && !kept[l - 1] ? 0 : ink.a[y * ink.w + x];
  }
  return out;
}

export function strokeWidth(img, threshold = 0.5) { // 2 x area / perimeter, as in Python
  const { w, h, a } = img;
  const at = (x, y) => x >= 0 && y >= 0 && x < w && y < h && a[y * w + x] > threshold;
  let area = 0, edges = 0;
  for (let y = -1; y < h; y++) for (let x = -1; x < w; x++) {
    const here = at(x, y);
    area += here ? 1 : 0;
    if (here !== at(x + 1, y)) edges++;
    if (here !== at(x, y + 1)) edges++;
  }
  return (2 * area) / Math.max((edges * Math.PI) / 4, 1e-9);
}

function crop(img) {
  const { w, h, a } = img;
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (a[y * w + x] > INK_THRESHOLD) {
      top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
    }
  }
  if (bottom < 0) throw new BlankImage("blank image: no ink found");
  const cw = right - left + 1, ch = bottom - top + 1;
  const out = image(cw, ch);
  for (let y = 0; y < ch; y++) out.a.set(a.subarray((top + y) * w + left, (top + y) * w + left + cw), y * cw);
  return out;
}

function pad(img, p) {
  const out = image(img.w + 2 * p, img.h + 2 * p);
  for (let y = 0; y < img.h; y++) out.a.set(img.a.subarray(y * img.w, (y + 1) * img.w), (y + p) * out.w + p);
  return out;
}

export function diskDilate(img, radius) {
  const { w, h, a } = img;
  const out = Float32Array.from(a);
  const r = Math.floor(radius);
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
    if ((dy || dx) && dy * dy + dx * dx <= radius * radius) {
      for (let y = Math.max(0, dy); y < h + Math.min(0, dy); y++) for (let x = Math.max(0, dx); x < w + Math.min(0, dx); x++) {
        const v = a[(y - dy) * w + (x - dx)];
        if (v > out[y * w + x]) out[y * w + x] = v;
      }
    }
  }
  return image(w, h, out);
}

const FILTERS = {
  bilinear: { support: 1.0, f: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },
  lanczos: {
    support: 3.0,
    f: (x) => {
      const sinc = (t) => (t === 0 ? 1 : Math.sin(t * Math.PI) / (t * Math.PI));
      return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
    },
  },
};

// Pillow's resampling (ImagingResample on a float image): separable, horizontal pass first.
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale, ss = 1.0 / filterscale;
  const rows = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let ww = 0;
    for (let x = 0; x < xmax; x++) { k[x] = filter.f((x + xmin - center + 0.5) * ss); ww += k[x]; }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    rows.push({ xmin, k });
  }
  return rows;
}

export function resize(img, ow, oh, name) {
  const filter = FILTERS[name];
  let cur = img;
  if (ow !== cur.w) {
    const co = coefficients(cur.w, ow, filter);
    const out = image(ow, cur.h);
    for (let y = 0; y < cur.h; y++) for (let x = 0; x < ow; x++) {
      const { xmin, k } = co[x];
      let s = 0;
      for (let t = 0; t < k.length; t++) s += cur.a[y * cur.w + xmin + t] * k[t];
      out.a[y * ow + x] = s;
    }
    cur = out;
  }
  if (oh !== cur.h) {
    const co = coefficients(cur.h, oh, filter);
    const out = image(cur.w, oh);
    for (let y = 0; y < oh; y++) for (let x = 0; x < cur.w; x++) {
      const { xmin, k } = co[y];
      let s = 0;
      for (let t = 0; t < k.length; t++) s += cur.a[(xmin + t) * cur.w + x] * k[t];
      out.a[y * cur.w + x] = s;
    }
    cur = out;
  }
  return cur;
}

function strokeTarget(width) {
  return MNIST_THIN + (MNIST_STROKE - MNIST_THIN) * (1 - width / MNIST_THIN);
}

// Step 4: thin strokes thickened toward MNIST's width, at FINE_SIDE px, with a disk.
export function thicken(c) {
  const outWidth = (strokeWidth(c) * BOX) / Math.max(c.w, c.h);
  if (outWidth >= MNIST_THIN) return c;
  const side = Math.max(c.w, c.h);
  if (side > FINE_SIDE) c = poolTowardInk(c, Math.ceil(side / FINE_SIDE), false);
  else if (side < FINE_SIDE) {
    const f = FINE_SIDE / side;
    c = resize(c, Math.max(1, pyRound(c.w * f)), Math.max(1, pyRound(c.h * f)), "bilinear");
    c.a = c.a.map((v) => Math.min(1, Math.max(0, v)));
  }
  const width = strokeWidth(c), s = Math.max(c.w, c.h);
  const target = strokeTarget(outWidth);
  const radius = ((target * s) / BOX - width) / (1 - target / BOX) / 2;
  if (radius < 0.5) return c;
  return diskDilate(pad(c, Math.ceil(radius)), radius);
}

// Step 5: longer side to 20 px, centre of mass at (14, 14) in 28x28.
export function mnistStyle(ink) {
  const c = crop(thicken(crop(ink)));
  const scale = BOX / Math.max(c.w, c.h);
  const small = resize(c, Math.max(1, pyRound(c.w * scale)), Math.max(1, pyRound(c.h * scale)), "lanczos");
  let total = 0, cy = 0, cx = 0;
  for (let y = 0; y < small.h; y++) for (let x = 0; x < small.w; x++) {
    const v = Math.min(1, Math.max(0, small.a[y * small.w + x]));
    small.a[y * small.w + x] = v;
    total += v; cy += v * y; cx += v * x;
  }
  if (total <= 0) throw new BlankImage("blank image: no ink found");
  const top = Math.min(Math.max(pyRound(CENTRE - cy / total), 0), SIDE - small.h);
  const left = Math.min(Math.max(pyRound(CENTRE - cx / total), 0), SIDE - small.w);
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < small.h; y++) for (let x = 0; x < small.w; x++) out[(top + y) * SIDE + left + x] = small.a[y * small.w + x];
  return out;
}

// RGBA pixels (an ImageData's data) -> the model's 28x28 input, float32 in [0, 1].
export function preprocess(rgba, w, h) {
  return read(rgba, w, h).pixels;
}

// The whole ink as one input, and how many digit-sized groups stand side by side (Python's read).
export function read(rgba, w, h) {
  const map = findInk(toGrey(rgba, w, h));
  return { pixels: mnistStyle(cropInk(map)), digits: map.groups.length };
}
