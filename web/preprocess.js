// The browser twin of vit_edge/device/preprocess.py, step by step, with the same constants:
// RGBA pixels -> grey (transparency flattened onto paper), pooled toward the ink when larger than
// WORK_SIDE -> white ink on black -> contrast-stretched ink -> crop -> thin strokes thickened to
// MNIST's width -> longer side 20 px (Pillow's Lanczos resampling, reimplemented) -> 28x28 with
// the centre of mass at (14, 14). tests/test_web.py checks it against the Python on shared images.

export const WORK_SIDE = 1024;
export const INK_THRESHOLD = 0.3;
export const MIN_CONTRAST = 0.15;
export const NOISE_SIGMAS = 6.0;
export const MIN_INK_PIXELS = 8;
export const BOX = 20, SIDE = 28, CENTRE = 14.0;
export const MNIST_STROKE = 2.50, MNIST_THIN = 1.79, FINE_SIDE = 4 * BOX;

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
  if (factor > 1) out = poolTowardInk(out, factor, darkOnLight(out, 255));
  const f = new Float32Array(out.w * out.h);
  for (let j = 0; j < f.length; j++) f[j] = out.a[j] / 255;
  return image(out.w, out.h, f);
}

function darkOnLight(img, top) {
  const { w, h, a } = img;
  const m = Math.max(1, Math.floor(Math.min(h, w) / 20));
  const border = [];
  for (let y = 0; y < m; y++) for (let x = 0; x < w; x++) border.push(a[y * w + x]);
  for (let y = h - m; y < h; y++) for (let x = 0; x < w; x++) border.push(a[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = 0; x < m; x++) border.push(a[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = w - m; x < w; x++) border.push(a[y * w + x]);
  return median(border) > top / 2;
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

// Step 2-3: white ink on black, paper to 0 and ink to 1; a page without ink is blank.
export function toInk(grey) {
  const dark = darkOnLight(grey, 1.0);
  const ink = new Float32Array(grey.a.length);
  for (let j = 0; j < ink.length; j++) ink[j] = dark ? 1 - grey.a[j] : grey.a[j];
  const paper = median(ink);
  const dev = new Float32Array(ink.length);
  for (let j = 0; j < ink.length; j++) dev[j] = ink[j] - paper;
  const noise = 1.4826 * median(dev.map(Math.abs));
  const floor = Math.max(MIN_CONTRAST, NOISE_SIGMAS * noise);
  const candidates = dev.filter((v) => v > floor);
  if (candidates.length < MIN_INK_PIXELS) throw new BlankImage("blank image: no ink found");
  const strongest = percentile(candidates, 90);
  for (let j = 0; j < dev.length; j++) dev[j] = Math.min(1, Math.max(0, dev[j] / strongest));
  return image(grey.w, grey.h, dev);
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
  return mnistStyle(toInk(toGrey(rgba, w, h)));
}
