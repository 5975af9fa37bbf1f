// `vit-edge web --engine ort`: the ONNX model in onnxruntime-web's WebAssembly backend, files served
// beside the page (ort/). The page's preprocessing stays the C engine's (engine.js); only the
// logits come from here. model.json holds what the ONNX metadata says, written by `vit-edge web`.
import * as ort from "./ort/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static host lacks

export async function loadModel(info) {
  const session = await ort.InferenceSession.create(info.model, { executionProviders: ["wasm"] });
  return { session, input: session.inputNames[0], output: session.outputNames[0] };
}

export async function logits(model, pixels) {
  const feeds = { [model.input]: new ort.Tensor("float32", pixels, [pixels.length / 784, 1, 28, 28]) };
  const out = await model.session.run(feeds);
  return out[model.output].data;
}
