// The page's engine: vit-edge's C (export/c: vit_edge_prepare and the ViT's forward pass) compiled
// to WebAssembly (vit_edge.wasm, built by vit_edge/export/wasm.py). The same preprocessing as
// `vit-edge predict`, with its constants compiled in from Python, and the INT8 model in 0.3 MB.
// The module imports nothing: no request leaves the page's own origin.

export class BlankImage extends Error {}

export async function loadEngine(url = "vit_edge.wasm") {
  const response = await fetch(url);
  const { instance } = WebAssembly.instantiateStreaming
    ? await WebAssembly.instantiateStreaming(response, {})
    : await WebAssembly.instantiate(await response.arrayBuffer(), {});
  return instance.exports;
}

// RGBA bytes (a canvas's ImageData.data) -> { pixels: the 28x28 input, digits: groups side by side }
export function read(engine, rgba, w, h) {
  const at = engine.ve_buffer(rgba.length);
  if (!at) throw new Error(`a ${w}x${h} image does not fit in the page's memory`);
  new Uint8Array(engine.memory.buffer, at, rgba.length).set(rgba);
  const status = engine.ve_read(w, h);
  if (status === engine.ve_blank()) throw new BlankImage("blank image: no ink found");
  if (status === engine.ve_too_large()) throw new Error(`a ${w}x${h} image is too large to prepare`);
  if (status !== 0) throw new Error(`cannot read a ${w}x${h} image (code ${status})`);
  const pixels = new Float32Array(engine.memory.buffer, engine.ve_pixels(), 784).slice();
  return { pixels, digits: engine.ve_digits() };
}

// After read(): each digit side by side as its own 28x28 input, left to right (predict --number)
export function readDigits(engine) {
  const inputs = [];
  for (let k = 0; k < engine.ve_inputs(); k++) {
    if (engine.ve_read_digit(k) !== 0) throw new Error(`cannot read digit ${k + 1} of the image`);
    inputs.push(new Float32Array(engine.memory.buffer, engine.ve_pixels(), 784).slice());
  }
  return inputs;
}

// After read(): where each of readDigits' digits lies in the image, [top, bottom, left, right] in its
// pixels (bottom and right exclusive)
export function digitBoxes(engine) {
  const boxes = [];
  for (let k = 0; k < engine.ve_inputs(); k++) {
    const at = engine.ve_digit_box(k);
    if (!at) throw new Error(`no box for digit ${k + 1} of the image`);
    boxes.push(Array.from(new Int32Array(engine.memory.buffer, at, 4)));
  }
  return boxes;
}

// The C engine's calibrated logits for a 28x28 input
export function logits(engine, pixels) {
  new Float32Array(engine.memory.buffer, engine.ve_pixels(), 784).set(pixels);
  return new Float32Array(engine.memory.buffer, engine.ve_logits(), 10).slice();
}

export function softmax(z) {
  const m = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

// The same rule as `vit-edge predict`: uncertain below the model's min_confidence.
export function answer(z, minConfidence) {
  const p = softmax(z);
  const order = p.map((v, d) => [d, v]).sort((a, b) => b[1] - a[1]);
  return { prediction: order[0][0], confidence: order[0][1], top: order.slice(0, 3), uncertain: order[0][1] < minConfidence };
}
