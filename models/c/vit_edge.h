/* vit-edge: a Vision Transformer for handwritten digits, in plain C99 for microcontrollers.
 *
 * No malloc, no runtime library beyond <math.h>, no ONNX Runtime. The weights are const arrays (they
 * stay in flash); the only mutable state is one static block, vit_edge_prepare's pool ending in the
 * model's arena of VIT_EDGE_ARENA_BYTES, so the functions below are not reentrant: call them from
 * one thread (or guard them).
 *
 * Numerics: INT8 weights (symmetric, one scale per output channel) times INT8 activations
 * (symmetric, one scale per token) with int32 accumulation; LayerNorm, attention, softmax, GELU in
 * float. Build with -DVIT_EDGE_FP32 for the float reference (4x the weight flash). Cores without
 * an FPU get vit_edge_integer.c's pass instead: the same INT8 products, and fixed point (no float
 * operation) for the rest; compile all four .c files, the header picks (VIT_EDGE_INTEGER below).
 * On Arm cores with the DSP extension (Cortex-M4, M7, M33) the int8 dot products use SMLAD, and on
 * cores with Helium (Cortex-M55, M85) MVE's VMLADAVA; -DVIT_EDGE_PLAIN_C turns both off.
 */
#ifndef VIT_EDGE_H
#define VIT_EDGE_H

#include "vit_edge_model.h"

/* Cores without an FPU (RISC-V rv32imac, Cortex-M0+ and M3) run the forward pass in integers
   (vit_edge_integer.c; -DVIT_EDGE_INTEGER chooses it anywhere, -DVIT_EDGE_INTEGER=0 never). */
#ifndef VIT_EDGE_INTEGER
#if !defined(VIT_EDGE_FP32) && ((defined(__riscv) && !defined(__riscv_flen)) || (defined(__arm__) && !defined(__ARM_FP)))
#define VIT_EDGE_INTEGER 1
#else
#define VIT_EDGE_INTEGER 0
#endif
#endif
#if VIT_EDGE_INTEGER && defined(VIT_EDGE_FP32)
#error "VIT_EDGE_INTEGER runs the INT8 weights: build it without VIT_EDGE_FP32"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* vit_edge_prepare's return codes */
#define VIT_EDGE_BLANK (-1)        /* no ink: a blank page */
#define VIT_EDGE_TOO_LARGE (-2)    /* the working image does not fit VIT_EDGE_PREPARE_BYTES */
#define VIT_EDGE_BAD_ARGUMENT (-3) /* no buffer, a size under 1, or stride < width */
/* vit_edge_predict's refusal: a pixel is NaN, infinite or outside [0, 1] (probs is left alone) */
#define VIT_EDGE_BAD_PIXELS (-4)

/* Images whose longer side is over VIT_EDGE_WORK_SIDE are pooled toward the ink to it, as predict
   does beyond VE_PP_WORK_SIDE (1024 px). The default is a microcontroller's: 96 px (a QVGA frame
   pools 4:1); a host that wants predict's own inputs sets -DVIT_EDGE_WORK_SIDE=1024, as the page,
   the tests and the example's host build do. */
#ifndef VIT_EDGE_WORK_SIDE
#define VIT_EDGE_WORK_SIDE 96
#endif
/* vit_edge_prepare's pool, used as a stack (each step's working memory goes when the step is done),
   in floats for a working side s, the most any step holds at once. The image is a byte a pixel
   and the ink is made again row by row where a step reads it, so under 100 px (never smoothed):
   - finding the ink: 3/2 s^2 + 1024 (the grey levels, the light's grid, a byte of flags and a
     16-bit label a pixel; measured 1.45 s^2 at 96 x 96);
   - the last steps: a crop, or the two passes of a resize to the 80 px where thin strokes are
     thickened, or its dilation and the resize to 20 px (the ink map moves out of their way when it
     reaches the model's arena, and is made again for the next digit);
   from 100 px, where a noisy page is smoothed (a plane of its deviation) and labels take 32 bits
   from 256: 11/4 s^2 + 4096.
   The pool's last part is the model's arena, lent between inferences; at a small side the arena
   holds all of it, and 4 KB before it are the pool's own. 58 KB at 96 px and below, of which the
   arena is 54 KB (the library's static RAM: 59 KB on Cortex-M4); 11 MB at 1024. */
#define VE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VE_SS(s) ((long)(s) * (long)(s))
#define VE_LAST_FLOATS(s) VE_MAX(VE_MAX(VE_SS(s) + 20L * (s) + 64, 80L * ((s) < 79 ? (s) : 79) + 6464L), 10400L)
#define VE_PEAK_FLOATS(s) \
    ((s) < 100 ? VE_MAX(3 * VE_SS(s) / 2 + 1024L, VE_LAST_FLOATS(s)) : 11 * VE_SS(s) / 4 + 4096L)
#ifndef VIT_EDGE_PREPARE_BYTES /* a smaller pool may be set: too small returns VIT_EDGE_TOO_LARGE */
#define VIT_EDGE_PREPARE_BYTES \
    (VIT_EDGE_ARENA_BYTES + VE_MAX(4 * VE_PEAK_FLOATS(VIT_EDGE_WORK_SIDE) - VIT_EDGE_ARENA_BYTES, 4096L))
#endif
/* The pool's last VIT_EDGE_ARENA_BYTES are the model's arena, lent between inferences, when the pool
   is that and 4 KB more: one static block in vit_edge.c (or vit_edge_integer.c), the pool's own
   part first. */
#define VIT_EDGE_LENT_BYTES (VIT_EDGE_PREPARE_BYTES >= VIT_EDGE_ARENA_BYTES + 4096L ? VIT_EDGE_ARENA_BYTES : 0)
#define VIT_EDGE_OWN_BYTES ((VIT_EDGE_PREPARE_BYTES - VIT_EDGE_LENT_BYTES + 7) / 8 * 8)

/* The probability under which an answer should be marked unsure, as `vit-edge predict` does. */
#define VIT_EDGE_MIN_CONFIDENCE VE_MIN_CONFIDENCE

/* The static arena (RAM): the residual stream, every token's query, key and value, two tokens'
   work (vit_edge.c checks at compile time that it fits). */
#define VIT_EDGE_ARENA_FLOATS (VE_TOKENS * VE_DIM * 4 + VE_TOKENS + 2 * VE_MAX_IN + 2 * VE_MLP + 5 * VE_DIM)
#define VIT_EDGE_ARENA_BYTES (4 * VIT_EDGE_ARENA_FLOATS + 6 * VE_MAX_IN + 16)

/* pixels: 28x28 floats in [0,1], row-major, as predict's preprocessing makes them (white digit on
   black: `vit-edge predict --save-input DIR` shows them). Returns the digit 0-9, or
   VIT_EDGE_BAD_PIXELS for a pixel outside [0, 1]; probs (calibrated, may be NULL) gets the 10
   probabilities. */
int vit_edge_predict(const float pixels[784], float probs[10]);

/* The same forward pass, giving the 10 calibrated logits (softmax of them is probs); all 0 for a
   pixel outside [0, 1]. */
void vit_edge_logits(const float pixels[784], float logits[10]);

/* gray: width x height bytes (0 black .. 255 white, either polarity), rows stride bytes apart.
   Fills pixels as predict's preprocessing would; returns 0, or a negative code (VIT_EDGE_BLANK when
   there is no ink). Uses its static pool (VIT_EDGE_PREPARE_BYTES, the model's arena its last part). */
int vit_edge_prepare(const unsigned char *gray, int width, int height, int stride, float pixels[784]);

/* How many digits the last successful vit_edge_prepare found side by side (pieces whose columns
   overlap are one group; a group much wider than tall is touching digits, counted as the parts its
   column profile splits into, or as two when it has no narrow joint): over 1, one answer for the
   image should be marked unsure, as predict marks it. 0 after a failed call. */
int vit_edge_digits(void);

/* Several digits read one by one, as `predict --number` reads them: after a successful
   vit_edge_prepare, vit_edge_inputs() inputs (left to right; 1 for a single digit, and fewer than
   vit_edge_digits() when touching digits could not be split), each given by
   vit_edge_prepare_digit(k, pixels) for k = 0 .. vit_edge_inputs() - 1. Returns 0, or
   VIT_EDGE_BAD_ARGUMENT for a k out of range or no successful vit_edge_prepare before it. Where
   the image's ink map reaches into the model's arena (a microcontroller's pool: see above), each
   digit makes the map again from vit_edge_prepare's gray: keep that buffer as it was until the
   last digit is read. */
int vit_edge_inputs(void);
int vit_edge_prepare_digit(int k, float pixels[784]);

/* Where the k-th of those digits lies in the frame given to vit_edge_prepare, in its own pixels:
   box = top, bottom, left, right (bottom and right exclusive), as Python's Reading.boxes; for a
   single digit, the box around all the ink kept. Returns 0, or VIT_EDGE_BAD_ARGUMENT as above. A
   page collecting a user's digits crops the frame there (with a margin). */
int vit_edge_digit_box(int k, int box[4]);

/* library-internal: vit_edge_prepare's pool (own bytes, then the lent arena's) */
void *ve_pool_memory(unsigned long *own, unsigned long *lent);

#ifdef __cplusplus
}
#endif

#endif
