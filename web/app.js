// The page: a drawing pad (pointer events: mouse, touch, pen), a prediction while drawing,
// the top 3 as bars, the 28x28 input the model sees, and "open image" for any picture file.
// model.json says which engine computes the logits: the C engine in WebAssembly (the default),
// or onnxruntime-web (`vit-edge web --engine ort`); the preprocessing is the C engine's in both.
import { Collection, NOT_A_DIGIT, cropRects, labelsFor } from "./collect.js";
import { BlankImage, answer, digitBoxes, loadEngine, logits as engineLogits, read, readDigits } from "./engine.js";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });
const seen = document.getElementById("seen").getContext("2d");
const $ = (id) => document.getElementById(id);
let model = null; // { info, engine, logits: async (pixels) => Float32Array, minConfidence }
let timer = null;
let drawing = null;

function clearPad() {
  clearTimeout(timer);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  $("file").value = "";
  show(null, model ? "draw a digit, or several side by side" : "loading the model…");
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

function stroke(from, to) {
  ctx.strokeStyle = "#111";
  ctx.lineWidth = Number($("pen").value);
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (e) => {
  try {
    pad.setPointerCapture(e.pointerId); // keep the stroke when the pen leaves the pad
  } catch {
    // a synthetic pointer has nothing to capture
  }
  drawing = point(e);
  stroke(drawing, drawing);
  schedule();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const p = point(e);
  stroke(drawing, p);
  drawing = p;
  schedule();
});
for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(type, () => {
    if (drawing) predictPad();
    drawing = null;
  });
}
$("clear").addEventListener("click", () => {
  stopCamera();
  clearPad();
});

$("file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    show(null, `${file.name}: not an image this browser can open`); // the old answer goes too
    return;
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const c = canvas.getContext("2d");
  c.drawImage(bitmap, 0, 0);
  const data = c.getImageData(0, 0, bitmap.width, bitmap.height);
  await predictPixels(data.data, data.width, data.height);
});

// ---- the camera: the guide box of each frame, read as soon as the last answer is back ----
const GUIDE = { left: 0.1, top: 0.25, width: 0.8, height: 0.5 }; // of the frame, as .guide in style.css
const NOTHING_READ = "nothing read: point the box at a written digit";
const READ_WIDTH = 320; // the box is scaled to at most this many px across: enough for a digit
const video = $("video");
const grab = document.createElement("canvas");
const grabCtx = grab.getContext("2d", { willReadFrequently: true });
let stream = null;
let frozen = false;
const cameraStats = { answers: 0, reading: false, frozenReads: 0 }; // answers so far: the tests time them

$("camera-button").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
$("freeze").addEventListener("click", () => {
  frozen = !frozen;
  $("freeze").textContent = frozen ? "Go on" : "Freeze";
  if (frozen) video.pause(), readFrozen();
  else video.play().then(readFrames);
});

// The frame in view when frozen is read once more, after any read in flight: the answer shown is
// the frozen picture's, not the one before it
async function readFrozen() {
  while (cameraStats.reading) await new Promise((done) => setTimeout(done, 5));
  if (!stream || !frozen) return;
  window.vitEdge.cameraLast = await readGuide().catch(() => null);
  cameraStats.frozenReads++;
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    show(null, "No camera here: browsers allow one only on https:// pages or http://localhost; the pad still works.");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (err) {
    stream = null;
    show(null, `The camera was refused or is unavailable (${err.name}); the pad still works.`);
    return;
  }
  video.srcObject = stream;
  await video.play();
  frozen = false;
  $("camera").hidden = false;
  $("pad").hidden = $("pen-label").hidden = true;
  $("freeze").hidden = false;
  $("freeze").textContent = "Freeze";
  $("camera-button").textContent = "Pad";
  cameraStats.answers = 0;
  readFrames();
}

function stopCamera() {
  if (!stream) return;
  for (const track of stream.getTracks()) track.stop();
  stream = null;
  video.srcObject = null;
  $("camera").hidden = $("freeze").hidden = true;
  $("pad").hidden = $("pen-label").hidden = false;
  $("camera-button").textContent = "Camera";
}

// The guide box in the video's own pixels: [x, y, width, height]
function guideRect() {
  const w = video.videoWidth, h = video.videoHeight;
  return [GUIDE.left * w, GUIDE.top * h, GUIDE.width * w, GUIDE.height * h];
}

// A region of a source (the video, a canvas) as the RGBA pixels read: at most READ_WIDTH across
function grabPixels(source, [sx, sy, sw, sh]) {
  const scale = Math.min(1, READ_WIDTH / sw);
  grab.width = Math.max(1, Math.round(sw * scale));
  grab.height = Math.max(1, Math.round(sh * scale));
  grabCtx.drawImage(source, sx, sy, sw, sh, 0, 0, grab.width, grab.height);
  return grabCtx.getImageData(0, 0, grab.width, grab.height);
}

// The guide box of the frame in view, read and shown
function readGuide() {
  const data = grabPixels(video, guideRect());
  return predictPixels(data.data, data.width, data.height, NOTHING_READ);
}

async function readFrames() {
  if (!stream || frozen || cameraStats.reading || !video.videoWidth) return;
  cameraStats.reading = true;
  try {
    window.vitEdge.cameraLast = await readGuide();
    cameraStats.answers++;
  } catch {
    // predictPixels has shown why this frame could not be read; the next one may be readable
  }
  cameraStats.reading = false;
  requestAnimationFrame(readFrames); // the next frame as soon as this answer is shown
}

function schedule() { // debounced: a prediction while drawing, not one per pointer event
  clearTimeout(timer);
  timer = setTimeout(predictPad, 120);
}

async function predictPad() {
  clearTimeout(timer);
  const data = ctx.getImageData(0, 0, pad.width, pad.height);
  return predictPixels(data.data, data.width, data.height);
}

async function predictPixels(rgba, w, h, blankMessage = null) {
  if (!model) return null;
  const t0 = performance.now();
  let input, digits;
  try {
    ({ pixels: input, digits } = read(model.engine, rgba, w, h));
  } catch (err) {
    show(null, err instanceof BlankImage && blankMessage ? blankMessage : err.message);
    if (!(err instanceof BlankImage)) throw err;
    return null;
  }
  const t1 = performance.now();
  let result = answer(await model.logits(input), model.minConfidence);
  if (digits > 1) result = await readNumber(digits, result); // several digits side by side
  result.ms = performance.now() - t0;
  result.inferenceMs = performance.now() - t1;
  result.input = input;
  show(result);
  window.vitEdge.last = result;
  return result;
}

// Several digits read one by one, as `predict --number`: the number, the product of the digits'
// confidences, unsure by the same rule or when touching digits could not be split apart.
async function readNumber(digits, whole) {
  const each = [];
  for (const pixels of readDigits(model.engine)) each.push(answer(await model.logits(pixels), model.minConfidence));
  if (each.length < 2) return { ...whole, uncertain: true }; // touching digits kept whole: one unsure answer
  const confidence = each.reduce((p, a) => p * a.confidence, 1);
  return {
    prediction: each.map((a) => a.prediction).join(""),
    confidence,
    top: each.map((a) => [a.prediction, a.confidence]),
    digits: each,
    uncertain: confidence < model.minConfidence || digits > each.length,
  };
}

function show(result, message = "") {
  $("digit").textContent = result ? String(result.prediction) : "";
  $("unsure").hidden = !(result && result.uncertain);
  $("bars").replaceChildren(...(result ? result.top : []).map(([d, p]) => {
    const li = document.createElement("li");
    li.innerHTML = `<span>${d}</span><span class="bar" style="width:${(100 * p).toFixed(1)}%"></span><span class="p">${p.toFixed(3)}</span>`;
    return li;
  }));
  const img = seen.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = result ? Math.round(255 * result.input[i]) : 0;
    img.data.set([v, v, v, 255], 4 * i);
  }
  seen.putImageData(img, 0, 0);
  const each = result && result.digits ? "each digit's confidence; " : "";
  if (result) $("status").textContent = `${each}${result.ms.toFixed(1)} ms in the page (${model.info.runtime})`;
  else $("status").textContent = message;
}

async function load() {
  const info = await (await fetch("model.json")).json();
  const engine = await loadEngine(info.engine_file);
  let logits = async (pixels) => engineLogits(engine, pixels);
  let minConfidence = engine.ve_min_confidence();
  if (info.engine === "ort") { // loaded only when asked for: the default page never fetches ONNX Runtime
    const ort = await import("./model.js");
    const session = await ort.loadModel(info);
    logits = (pixels) => ort.logits(session, pixels);
    minConfidence = Number(info.min_confidence ?? 0.9);
  }
  model = { info, engine, logits, minConfidence };
  $("status").textContent = `model ready: ${info.model} (${info.runtime}); draw a digit, or several side by side`;
  // ms from the navigation's start to a page that can predict (scripts/web_benchmark.py reads it)
  return { ...info, min_confidence: minConfidence, ready_ms: performance.now() };
}

// ---- Collect: the frame's digits kept as labelled images, for `vit-edge train --data` ----
const collection = new Collection();
let collecting = false;

$("collect-button").addEventListener("click", () => {
  collecting = !collecting;
  $("collect").hidden = !collecting;
  $("collect-button").setAttribute("aria-pressed", String(collecting));
  if (collecting) {
    showCounts();
    $("collect-label").focus();
  }
});
$("collect").addEventListener("submit", (e) => {
  e.preventDefault();
  keepReading($("collect-label").value);
});
$("not-digit").addEventListener("click", () => keepNotADigit());
$("undo").addEventListener("click", () => undoLast());
$("download").addEventListener("click", () => download());
document.addEventListener("keydown", (e) => {
  if (!collecting || e.key !== "n" || e.ctrlKey || e.metaKey || e.altKey) return;
  e.preventDefault(); // n is never a digit typed into the reading
  keepNotADigit();
});

// The frame being read, in its own pixels: the camera's guide box at the video's resolution, or the pad
function frameCanvas() {
  return stream ? regionCanvas(video, guideRect()) : pad;
}

// A region [x, y, width, height] of a source (the video, a canvas) as a canvas of its own, pixel for pixel
function regionCanvas(source, [x, y, w, h]) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(w);
  canvas.height = Math.round(h);
  canvas.getContext("2d").drawImage(source, x, y, w, h, 0, 0, canvas.width, canvas.height);
  return canvas;
}

// The frame's digits as the live reading finds them, each box in the frame's own pixels
function findDigits(frame) {
  const data = grabPixels(frame, [0, 0, frame.width, frame.height]);
  const scale = data.width / frame.width;
  try {
    const { digits } = read(model.engine, data.data, data.width, data.height);
    const boxes = digitBoxes(model.engine).map(([t, b, l, r]) =>
      [Math.floor(t / scale), Math.ceil(b / scale), Math.floor(l / scale), Math.ceil(r / scale)]);
    return { digits, boxes };
  } catch (err) {
    if (err instanceof BlankImage) return { digits: 0, boxes: [] };
    throw err;
  }
}

function png(frame, rect) {
  const canvas = regionCanvas(frame, rect);
  return new Promise((done) => canvas.toBlob(async (blob) => done(new Uint8Array(await blob.arrayBuffer())), "image/png"));
}

async function keepReading(typed) {
  if (!model) return null;
  const frame = frameCanvas();
  const { digits, boxes } = findDigits(frame);
  const verdict = labelsFor(typed, digits);
  if (!verdict.error && boxes.length !== digits) verdict.error = "digits touch and could not be split apart: nothing kept";
  if (verdict.error) return collectNote(verdict.error), null;
  const rects = cropRects(boxes, frame.width, frame.height);
  const images = [];
  for (const [k, rect] of rects.entries()) images.push({ label: verdict.labels[k], data: await png(frame, rect) });
  $("collect-label").value = "";
  return store(collection.keep(images), `kept ${verdict.labels.join(" ")}`);
}

async function keepNotADigit() {
  if (!model) return null;
  const frame = frameCanvas();
  const data = await png(frame, [0, 0, frame.width, frame.height]);
  return store(collection.keep([{ label: NOT_A_DIGIT, data }]), "kept the frame as not a digit");
}

// With `vit-edge web --collect DIR`, each image is written into DIR too (the server's answer is shown)
async function store(items, message) {
  let problem = "";
  if (model.info.collect) {
    for (const item of items) {
      const response = await fetch(`collect/${item.label}/${item.name}`,
        { method: "POST", headers: { "Content-Type": "image/png" }, body: item.data });
      if (response.status !== 201) problem = `; not written to the folder (${response.status} ${await response.text()})`;
    }
  }
  collectNote(message + problem);
  showCounts();
  return items.map(({ label, name }) => `${label}/${name}`);
}

async function undoLast() {
  const gone = collection.undo();
  if (!gone.length) return collectNote("nothing to undo"), [];
  if (model.info.collect)
    for (const item of gone) await fetch(`collect/${item.label}/${item.name}`, { method: "DELETE" });
  collectNote(`took back ${gone.map((item) => (item.label === NOT_A_DIGIT ? "not a digit" : item.label)).join(" ")}`);
  showCounts();
  return gone.map(({ label, name }) => `${label}/${name}`);
}

function download() {
  if (!collection.items.length) return collectNote("nothing collected yet");
  const url = URL.createObjectURL(new Blob([collection.zip()], { type: "application/zip" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = "vit-edge-digits.zip";
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  collectNote(`${collection.items.length} images in vit-edge-digits.zip: vit-edge train --data on its folder`);
}

function showCounts() {
  $("counts").textContent = collection.summary();
}

function collectNote(text) {
  $("collect-note").textContent = text;
}

// For tests and the curious: the same steps the page runs, callable from the console.
window.vitEdge = {
  ready: load(),
  read: (rgba, w, h) => {
    const r = read(model.engine, rgba, w, h);
    const boxes = digitBoxes(model.engine);
    const inputs = readDigits(model.engine).map((p) => Array.from(p));
    return { pixels: Array.from(r.pixels), digits: r.digits, inputs, boxes };
  },
  logits: async (pixels) => Array.from(await model.logits(Float32Array.from(pixels))),
  predictPad,
  predictRgba: predictPixels, // an opened image's path: RGBA bytes, width, height
  clearPad,
  last: null,
  camera: cameraStats,
  cameraLast: null,
  guide: GUIDE,
  collect: { keepReading, keepNotADigit, undoLast, counts: () => collection.counts(), items: () => collection.items.length },
};
clearPad();
