// The model in the page: onnxruntime-web's WebAssembly backend, files served beside the page
// (ort/), no request leaves the page's own origin. model.json holds what the ONNX metadata says
// (temperature, min_confidence, labels), written by `vit-edge web`.
import * as ort from "./ort/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static host lacks

export async function loadModel() {
  const info = await (await fetch("model.json")).json();
  const session = await ort.InferenceSession.create(info.model, { executionProviders: ["wasm"] });
  return { session, info, input: session.inputNames[0], output: session.outputNames[0] };
}

export async function logits(model, pixels) {
  const n = pixels.length / 784;
  const feeds = { [model.input]: new ort.Tensor("float32", pixels, [n, 1, 28, 28]) };
  const out = await model.session.run(feeds);
  return out[model.output].data;
}

export function softmax(z) {
  const m = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

// The same rule as `vit-edge predict`: uncertain below the model's recorded min_confidence.
export function answer(model, z) {
  const p = softmax(z);
  const order = p.map((v, d) => [d, v]).sort((a, b) => b[1] - a[1]);
  const threshold = Number(model.info.min_confidence ?? 0.9);
  return { prediction: order[0][0], confidence: order[0][1], top: order.slice(0, 3), uncertain: order[0][1] < threshold };
}
