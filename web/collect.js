// Collect mode: the user's own digits, labelled as they go, kept as images in the frame's own pixels
// (not the 28x28 input, so that `vit-edge train --data` prepares them as `predict` would a photo),
// and handed out as a zip in the layout train --data reads: 0/ ... 9/ and not-a-digit/.
// Nothing leaves the page unless `vit-edge web --collect DIR` serves it: then each image is also
// written into DIR on this machine, and undo takes it back out.

export const NOT_A_DIGIT = "not-a-digit";
export const LABELS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", NOT_A_DIGIT];
// Around a digit's box: a quarter of its height above and below, and as much on each side unless a
// neighbour is nearer (then half the gap, so that a crop holds one digit and some paper)
const MARGIN = 0.25;

// Each digit's crop rectangle [x, y, w, h] in a w x h frame, from its box (top, bottom, left, right)
export function cropRects(boxes, width, height) {
  return boxes.map(([top, bottom, left, right], k) => {
    const m = Math.max(1, Math.round(MARGIN * (bottom - top)));
    const before = k > 0 ? Math.max(0, Math.floor((left - boxes[k - 1][3]) / 2)) : m;
    const after = k < boxes.length - 1 ? Math.max(0, Math.floor((boxes[k + 1][2] - right) / 2)) : m;
    const x0 = Math.max(0, left - Math.min(m, before)), x1 = Math.min(width, right + Math.min(m, after));
    const y0 = Math.max(0, top - m), y1 = Math.min(height, bottom + m);
    return [x0, y0, x1 - x0, y1 - y0];
  });
}

// What was typed, as the labels of the digits found; or why it cannot be kept
export function labelsFor(typed, found) {
  const text = typed.replace(/\s+/g, "");
  if (!/^[0-9]+$/.test(text)) return { error: "type the digits you see (0-9), or press n for not a digit" };
  if (found === 0) return { error: "no digit found in the frame: nothing kept" };
  if (text.length !== found) {
    const s = (n) => (n === 1 ? "" : "s");
    return { error: `typed ${text.length} digit${s(text.length)}, found ${found}: nothing kept` };
  }
  return { labels: [...text] };
}

// The kept images, in order, with a count per label; undo takes back the last reading kept (all
// of its digits, as they were kept together)
export class Collection {
  constructor() {
    this.items = []; // { label, name, data: Uint8Array, reading }
    this.readings = 0;
    this.stamp = new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 14);
  }

  // [{ label, data }] from one frame -> the items, each with its file's name
  keep(images) {
    const reading = ++this.readings;
    const kept = images.map(({ label, data }, k) => {
      const name = `${this.stamp}-${String(reading).padStart(4, "0")}-${k + 1}.png`;
      return { label, name, data, reading };
    });
    this.items.push(...kept);
    return kept;
  }

  undo() {
    const last = this.items.length ? this.items[this.items.length - 1].reading : null;
    const gone = this.items.filter((item) => item.reading === last);
    this.items = this.items.filter((item) => item.reading !== last);
    return gone;
  }

  counts() {
    const n = Object.fromEntries(LABELS.map((l) => [l, 0]));
    for (const { label } of this.items) n[label]++;
    return n;
  }

  summary() {
    const n = this.counts();
    return LABELS.map((l) => `${l === NOT_A_DIGIT ? "not a digit" : l}: ${n[l]}`).join(" · ");
  }

  zip() {
    return zipStored(this.items.map(({ label, name, data }) => ({ path: `${label}/${name}`, data })));
  }
}

// ---- a zip with every file stored (the images are compressed already): APPNOTE 6.3's local
// headers, the central directory and its end record; CRC-32 as zlib computes it ----
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data) {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function zipStored(files) {
  const encoder = new TextEncoder(), parts = [], central = [];
  let offset = 0;
  for (const { path, data } of files) {
    const name = encoder.encode(path), crc = crc32(data);
    const local = header(30, name, [[0, 0x04034b50, 4], [4, 20, 2], [8, 0, 2], [10, 0, 2], [12, 0x21, 2],
      [14, crc, 4], [18, data.length, 4], [22, data.length, 4], [26, name.length, 2]]);
    central.push(header(46, name, [[0, 0x02014b50, 4], [4, 20, 2], [6, 20, 2], [14, 0x21, 2], [16, crc, 4],
      [20, data.length, 4], [24, data.length, 4], [28, name.length, 2], [42, offset, 4]]));
    parts.push(local, data);
    offset += local.length + data.length;
  }
  const size = central.reduce((s, c) => s + c.length, 0);
  const end = header(22, new Uint8Array(), [[0, 0x06054b50, 4], [8, files.length, 2], [10, files.length, 2],
    [12, size, 4], [16, offset, 4]]);
  const out = new Uint8Array(offset + size + end.length);
  let at = 0;
  for (const p of [...parts, ...central, end]) out.set(p, at), (at += p.length);
  return out;
}

// A fixed-size little-endian header ([offset, value, bytes] fields; the rest 0), then the name
function header(size, name, fields) {
  const bytes = new Uint8Array(size + name.length), view = new DataView(bytes.buffer);
  for (const [at, value, n] of fields) n === 4 ? view.setUint32(at, value, true) : view.setUint16(at, value, true);
  bytes.set(name, size);
  return bytes;
}
