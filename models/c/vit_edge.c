/* vit-edge's forward pass in C99: the ViT of Dosovitskiy et al. (2020) for 28x28 digits, top to
 * bottom as vit_edge/model.py runs it. The residual stream and every token's query, key and value
 * are the only per-image arrays (the arena below); everything else is one token's work. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vit_edge.h"
#include "vit_edge_weights.h"

#if defined(__ARM_FEATURE_MVE) && !defined(VIT_EDGE_FP32) && !defined(VIT_EDGE_PLAIN_C)
#include <arm_mve.h>
#define VE_MVE 1 /* Helium (Cortex-M55, M85): 16 int8 MACs an instruction, VMLADAVA */
#elif defined(__ARM_FEATURE_SIMD32) && !defined(VIT_EDGE_FP32) && !defined(VIT_EDGE_PLAIN_C)
#define VE_SMLAD 1 /* dual 16-bit multiply-accumulate: 2 MACs an instruction on Cortex-M4/M7/M33 */
#endif
#if defined(__wasm_simd128__) && !defined(VIT_EDGE_FP32) && !defined(VIT_EDGE_PLAIN_C)
#include <wasm_simd128.h>
#define VE_WASM_SIMD 1 /* WebAssembly SIMD (the page): 8 MACs an i32x4.dot_i16x8 */
#endif

#if !VIT_EDGE_INTEGER /* the float pass; cores without an FPU take vit_edge_integer.c's */

/* One block: vit_edge_prepare's pool, then the model's arena, its last part (lent to the pool between
   inferences: nothing in the arena outlives one). A build without vit_edge_prepare.c sets
   -DVIT_EDGE_PREPARE_BYTES=0 and keeps the arena alone. */
static struct {
    double pool[VIT_EDGE_OWN_BYTES / 8 ? VIT_EDGE_OWN_BYTES / 8 : 1];
    struct {
        float x[VE_TOKENS][VE_DIM];       /* the residual stream */
        float qkv[VE_TOKENS][3 * VE_DIM]; /* every token's query, key and value, from the block's input */
        float scores[VE_TOKENS];
        /* two tokens' work side by side: the linear layers read each weight once for both */
        float in[2][VE_MAX_IN], hidden[2][VE_MLP], y[2][VE_DIM], out[2][VE_DIM], head[VE_DIM];
#ifndef VIT_EDGE_FP32
        short x16[2 * VE_MAX_IN];     /* the input to a linear layer, quantized and widened to 16 bits
                                         (in SMLAD's pair order, two tokens' groups of 4 interleaved, for
                                         SMLAD); after floats only, so 4-byte aligned for SMLAD's LDRD
                                         whatever VE_MAX_IN is */
        signed char xq[2][VE_MAX_IN]; /* ... and as bytes, token by token */
#endif
    } arena;
} memory;
#define arena (memory.arena)

/* C99 has no static_assert: a negative array size stops the build if the header's figure is short */
typedef char ve_arena_fits[(sizeof arena <= VIT_EDGE_ARENA_BYTES) ? 1 : -1];

/* the block: the pool's own part and the arena lent to it, one after the other */
void *ve_pool_memory(unsigned long *own, unsigned long *lent) {
    *own = (unsigned long)((char *)&arena - (char *)&memory), *lent = VIT_EDGE_LENT_BYTES ? sizeof arena : 0;
    return &memory;
}

static void layer_norm(const ve_norm *n, const float *x, float *y, int size) {
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < size; i++) mean += x[i];
    mean /= (float)size;
    for (int i = 0; i < size; i++) var += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(var / (float)size + VE_LN_EPS);
    for (int i = 0; i < size; i++) y[i] = (x[i] - mean) * inv * n->weight[i] + n->bias[i];
}

#ifdef VIT_EDGE_FP32

static void linear_rows(const ve_linear *l, const float *x, float *y, int from) {
    for (int o = from; o < l->out; o++) {
        const float *w = l->w + (long)o * l->in;
        float acc = 0.0f;
        for (int i = 0; i < l->in; i++) acc += w[i] * x[i];
        y[o] = acc + l->bias[o];
    }
}

#else

/* Token slot t's activations to int8 (arena.xq[t]) with their own symmetric scale: an image's
   answer never depends on anything but the image (a batch-wide scale would). Returns the scale. */
static float quantize(const float *x, int n, int t) {
    float top = 0.0f;
    for (int i = 0; i < n; i++) { /* not fmaxf: a libm call on Cortex-M4 (its NaN rules; no NaN here) */
        const float a = fabsf(x[i]);
        top = a > top ? a : top;
    }
    float scale = top > 0.0f ? top / 127.0f : 1.0f, inv = 1.0f / scale;
    /* round half up, branch-free: |v| <= 127, so v + 128.5 is positive and truncation floors it */
    signed char *q = arena.xq[t];
    for (int i = 0; i < n; i++) q[i] = (signed char)((int)(x[i] * inv + 128.5f) - 128);
    return scale;
}

/* The first `tokens` slots widened into arena.x16 for the vector loops. SMLAD: each group of 4
   inputs as (x0, x2), (x1, x3), the halves SXTB16 makes of a weight word, the tokens' groups
   interleaved. WebAssembly: token 0's inputs in order. */
static void widen(int tokens, int n) {
#ifdef VE_SMLAD
    for (int i = 0; i + 3 < n; i += 4)
        for (int t = 0; t < tokens; t++) {
            const signed char *q = arena.xq[t] + i;
            short *d = arena.x16 + i * tokens + 4 * t;
            d[0] = q[0], d[1] = q[2], d[2] = q[1], d[3] = q[3];
        }
#endif
#ifdef VE_WASM_SIMD
    for (int i = 0; i < n; i++) arena.x16[i] = arena.xq[0][i];
#endif
    (void)tokens, (void)n;
}

static long dot_plain(const signed char *w, const signed char *xq, int from, int n) {
    long acc = 0;
    for (int i = from; i < n; i++) acc += (long)w[i] * xq[i];
    return acc;
}

#ifdef VE_SMLAD
/* One word of 4 weights from channel pointer w into sum acc, with the widened inputs xlo = (x0, x2)
   and xhi = (x1, x3): the weight pointer post-incremented, SXTB16 making both halfword pairs. */
#define VE_STEP(w, acc, xlo, xhi)                                                       \
    "ldr %[p], [%[" w "]], #4\n\t"                                                       \
    "sxtb16 %[t], %[p]\n\t"                                                              \
    "smlad %[" acc "], %[t], %[" xlo "], %[" acc "]\n\t"                                 \
    "sxtb16 %[p], %[p], ror #8\n\t"                                                      \
    "smlad %[" acc "], %[p], %[" xhi "], %[" acc "]\n\t"

/* Two output channels at once, 8 inputs a step, in assembly: the 8 widened inputs come in two LDRDs
   for both channels, every pointer is post-incremented: 24 instructions for 16 multiply-adds,
   where the compiler's loops took 28 (it updated the pointers apart, or spilled with four
   channels). Integer sums: the plain loop's (the plain C build gives identical outputs). */
static void dot2(const signed char *w0, const signed char *w1, int n, long *a0, long *a1) {
    const short *x = arena.x16;
    const signed char *end = w0 + (n & ~7);
    int32_t acc0 = 0, acc1 = 0;
    uint32_t x02, x13, x46, x57, p, t;
    if (w0 < end)
        __asm__ volatile("1:\n\t"
                         "ldrd %[x02], %[x13], [%[x]], #8\n\t"
                         "ldrd %[x46], %[x57], [%[x]], #8\n\t"
                         VE_STEP("w0", "a0", "x02", "x13") VE_STEP("w0", "a0", "x46", "x57")
                         VE_STEP("w1", "a1", "x02", "x13") VE_STEP("w1", "a1", "x46", "x57")
                         "cmp %[w0], %[end]\n\t"
                         "bne 1b"
                         : [a0] "+r"(acc0), [a1] "+r"(acc1), [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x),
                           [x02] "=&r"(x02), [x13] "=&r"(x13), [x46] "=&r"(x46), [x57] "=&r"(x57),
                           [p] "=&r"(p), [t] "=&r"(t)
                         : [end] "r"(end)
                         : "cc", "memory");
    const int i = n & ~7;
    *a0 = acc0 + dot_plain(w0 - i, arena.xq[0], i, n), *a1 = acc1 + dot_plain(w1 - i, arena.xq[0], i, n);
}

/* One weight word of output channel w into token A's sum a and token B's sum b: widened once,
   multiplied into both tokens' inputs (xa*, xb*). */
#define VE_STEP2(w, a, b)                                                              \
    "ldr %[p], [%[" w "]], #4\n\t"                                                      \
    "sxtb16 %[t], %[p]\n\t"                                                             \
    "smlad %[" a "], %[t], %[xa02], %[" a "]\n\t"                                        \
    "smlad %[" b "], %[t], %[xb02], %[" b "]\n\t"                                        \
    "sxtb16 %[p], %[p], ror #8\n\t"                                                     \
    "smlad %[" a "], %[p], %[xa13], %[" a "]\n\t"                                        \
    "smlad %[" b "], %[p], %[xb13], %[" b "]\n\t"
#define VE_INPUTS2                                                                     \
    "ldrd %[xa02], %[xa13], [%[x]], #8\n\t"                                               \
    "ldrd %[xb02], %[xb13], [%[x]], #8\n\t"

/* Two output channels for two tokens at once (widen(2, n)'s interleaved inputs): each weight word
   is loaded and widened once for both tokens, 34 instructions for 32 multiply-adds where dot2
   takes 48. Integer sums: the plain loop's. acc: token A's two sums, then token B's. */
static void dot2x2(const signed char *w0, const signed char *w1, int n, long acc[4]) {
    const short *x = arena.x16;
    const signed char *end = w0 + (n & ~7);
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    uint32_t xa02, xa13, xb02, xb13, p, t;
    if (w0 < end)
        __asm__ volatile("1:\n\t"
                         VE_INPUTS2 VE_STEP2("w0", "a0", "b0") VE_STEP2("w1", "a1", "b1")
                         VE_INPUTS2 VE_STEP2("w0", "a0", "b0") VE_STEP2("w1", "a1", "b1")
                         "cmp %[w0], %[end]\n\t"
                         "bne 1b"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [w0] "+r"(w0),
                           [w1] "+r"(w1), [x] "+r"(x), [xa02] "=&r"(xa02), [xa13] "=&r"(xa13),
                           [xb02] "=&r"(xb02), [xb13] "=&r"(xb13), [p] "=&r"(p), [t] "=&r"(t)
                         : [end] "r"(end)
                         : "cc", "memory");
    const int i = n & ~7;
    w0 -= i, w1 -= i;
    acc[0] = a0 + dot_plain(w0, arena.xq[0], i, n), acc[1] = a1 + dot_plain(w1, arena.xq[0], i, n);
    acc[2] = b0 + dot_plain(w0, arena.xq[1], i, n), acc[3] = b1 + dot_plain(w1, arena.xq[1], i, n);
}
#endif

#ifdef VE_MVE
/* Four output channels at once, 16 weights a load: int8 x int8 summed into int32 across the vector
   (VMLADAVA), the input loaded once for all four, every pointer walking (post-increment loads).
   Integer sums: the same answer as the plain loop. */
static void dot4(const signed char *w, int n, long acc[4]) {
    const signed char *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n, *x = arena.xq[0], *end = w + (n & ~15);
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (const signed char *w0 = w; w0 < end; w0 += 16, w1 += 16, w2 += 16, w3 += 16, x += 16) {
        const int8x16_t v = vld1q_s8(x);
        a0 = vmladavaq_s8(a0, vld1q_s8(w0), v), a1 = vmladavaq_s8(a1, vld1q_s8(w1), v);
        a2 = vmladavaq_s8(a2, vld1q_s8(w2), v), a3 = vmladavaq_s8(a3, vld1q_s8(w3), v);
    }
    const int i = n & ~15;
    const signed char *q = arena.xq[0];
    acc[0] = a0 + dot_plain(w, q, i, n), acc[1] = a1 + dot_plain(w + n, q, i, n);
    acc[2] = a2 + dot_plain(w + 2 * n, q, i, n), acc[3] = a3 + dot_plain(w + 3 * n, q, i, n);
}
#endif

#ifdef VE_WASM_SIMD
static long lanes_sum(v128_t v) {
    return (long)wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
           wasm_i32x4_extract_lane(v, 3);
}

/* Four output channels at once, 8 weights a load (sign-extended to 16 bits as they load): the
   widened input is loaded once for all four. Integer sums: the same answer as the plain loop. */
static void dot4(const signed char *w, int n, long acc[4]) {
    v128_t a0 = wasm_i32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 7 < n; i += 8) {
        const v128_t x = wasm_v128_load(arena.x16 + i);
        a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(w + i), x));
        a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(w + n + i), x));
        a2 = wasm_i32x4_add(a2, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(w + 2 * n + i), x));
        a3 = wasm_i32x4_add(a3, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(w + 3 * n + i), x));
    }
    const signed char *q = arena.xq[0];
    acc[0] = lanes_sum(a0) + dot_plain(w, q, i, n), acc[1] = lanes_sum(a1) + dot_plain(w + n, q, i, n);
    acc[2] = lanes_sum(a2) + dot_plain(w + 2 * n, q, i, n), acc[3] = lanes_sum(a3) + dot_plain(w + 3 * n, q, i, n);
}
#endif

/* y = W x + b with int8 weights and this token's int8 activations, int32 sums rescaled to float;
   rows before `from` are not made */
static void linear_rows(const ve_linear *l, const float *x, float *y, int from) {
    const float sx = quantize(x, l->in, 0);
    int o = from;
    widen(1, l->in);
#ifdef VE_SMLAD
    for (; o + 1 < l->out; o += 2) {
        long a0, a1;
        dot2(l->q + (long)o * l->in, l->q + (long)(o + 1) * l->in, l->in, &a0, &a1);
        y[o] = (float)a0 * (l->scale[o] * sx) + l->bias[o];
        y[o + 1] = (float)a1 * (l->scale[o + 1] * sx) + l->bias[o + 1];
    }
#endif
#if defined(VE_MVE) || defined(VE_WASM_SIMD)
    for (; o + 3 < l->out; o += 4) {
        long acc[4];
        dot4(l->q + (long)o * l->in, l->in, acc);
        for (int k = 0; k < 4; k++) y[o + k] = (float)acc[k] * (l->scale[o + k] * sx) + l->bias[o + k];
    }
#endif
    for (; o < l->out; o++) {
        long acc = dot_plain(l->q + (long)o * l->in, arena.xq[0], 0, l->in);
        y[o] = (float)acc * (l->scale[o] * sx) + l->bias[o];
    }
}

#endif

#ifdef VE_SMLAD
/* linear_rows for two tokens at once (xa -> ya, xb -> yb): each token's own scale, its own sums,
   so each gets exactly linear_rows' floats. (Helium keeps one token a pass: a two-token dot4 ran
   out of registers and saved nothing on Cortex-M55.) */
static void linear_rows2(const ve_linear *l, const float *xa, const float *xb, float *ya, float *yb, int from) {
    const float sa = quantize(xa, l->in, 0), sb = quantize(xb, l->in, 1);
    int o = from;
    widen(2, l->in);
    for (; o + 1 < l->out; o += 2) {
        long acc[4];
        dot2x2(l->q + (long)o * l->in, l->q + (long)(o + 1) * l->in, l->in, acc);
        for (int k = 0; k < 2; k++) {
            ya[o + k] = (float)acc[k] * (l->scale[o + k] * sa) + l->bias[o + k];
            yb[o + k] = (float)acc[2 + k] * (l->scale[o + k] * sb) + l->bias[o + k];
        }
    }
    for (; o < l->out; o++) {
        const signed char *w = l->q + (long)o * l->in;
        ya[o] = (float)dot_plain(w, arena.xq[0], 0, l->in) * (l->scale[o] * sa) + l->bias[o];
        yb[o] = (float)dot_plain(w, arena.xq[1], 0, l->in) * (l->scale[o] * sb) + l->bias[o];
    }
}
#else
static void linear_rows2(const ve_linear *l, const float *xa, const float *xb, float *ya, float *yb, int from) {
    linear_rows(l, xa, ya, from);
    linear_rows(l, xb, yb, from);
}
#endif

static void linear(const ve_linear *l, const float *x, float *y) { linear_rows(l, x, y, 0); }

/* `tokens` (1 or 2) tokens through one layer, rows from `from`: xa -> ya (and xb -> yb) */
static void linear_n(const ve_linear *l, int tokens, const float *xa, const float *xb, float *ya, float *yb, int from) {
    if (tokens == 2)
        linear_rows2(l, xa, xb, ya, yb, from);
    else
        linear_rows(l, xa, ya, from);
}

/* e^x for x <= 0 (softmax's arguments), to about 1 ulp: Cody and Waite's reduction to 2^k e^r,
   |r| <= ln2/2, and Cephes' polynomial for e^r. A libm expf costs about 4x as many instructions. */
static float exp_neg(float x) {
    if (x < -87.0f) return 0.0f;
    const int k = (int)(x * 1.44269504f - 0.5f); /* round(x / ln 2), x <= 0 */
    const float r = x - (float)k * 0.693359375f - (float)k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f, p = p * r + 8.3334519073e-3f, p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f, p = p * r + 5.0000001201e-1f;
    const uint32_t bits = (uint32_t)(k + 127) << 23; /* 2^k, k >= -126 */
    float scale;
    memcpy(&scale, &bits, 4);
    return (p * r * r + r + 1.0f) * scale;
}

/* erf(x) by Abramowitz and Stegun 7.1.28: 1 - 1/(1 + a1 x + ... + a6 x^6)^16, absolute error
   under 3e-7, odd in x; no exponential, one division. */
static float erf_approx(float x) {
    const float a = fabsf(x);
    float d = ((((0.0000430638f * a + 0.0002765672f) * a + 0.0001520143f) * a + 0.0092705272f) * a +
               0.0422820123f) * a + 0.0705230784f;
    d = 1.0f + d * a;
    d *= d, d *= d, d *= d, d *= d; /* ^16 */
    const float y = 1.0f - 1.0f / d;
    return x < 0.0f ? -y : y;
}

/* GELU as torch computes it (the exact, erf form) */
static float gelu(float x) { return 0.5f * x * (1.0f + erf_approx(x * 0.70710678f)); }

/* SPT's channel c at (r, col) (vit_edge_weights.h) */
static float channel_pixel(const float *pixels, int c, int r, int col) {
    const int i = ve_channel_index(c, r, col);
    return i < 0 ? 0.0f : pixels[i];
}

/* Patches in row-major order, each flattened channel by channel, then rows, then columns,
   normalised as the model's first step does, and linearly projected to the model width. */
static void patch_input(const float *pixels, int p, float *in) {
    int k = 0, top = (p / VE_GRID) * VE_PATCH, left = (p % VE_GRID) * VE_PATCH;
    for (int c = 0; c < VE_CHANNELS; c++)
        for (int r = 0; r < VE_PATCH; r++)
            for (int col = 0; col < VE_PATCH; col++)
                in[k++] = (channel_pixel(pixels, c, top + r, left + col) - VE_MEAN) / VE_STD;
#if VE_PATCH_NORM
    layer_norm(&ve_weights.patch_norm, in, in, VE_PATCH_DIM);
#endif
}

static void embed_patches(const float *pixels) {
    const ve_model *m = &ve_weights;
    for (int p = 0; p < VE_GRID * VE_GRID; p += 2) {
        const int tokens = p + 1 < VE_GRID * VE_GRID ? 2 : 1;
        for (int t = 0; t < tokens; t++) patch_input(pixels, p + t, arena.in[t]);
        linear_n(&m->patch_embed, tokens, arena.in[0], arena.in[1], arena.x[VE_EXTRA + p],
                 arena.x[VE_EXTRA + p + tokens - 1], 0);
    }
    memcpy(arena.x[0], m->cls_token, sizeof arena.x[0]);
#if VE_DISTILL
    memcpy(arena.x[1], m->dist_token, sizeof arena.x[1]);
#endif
    for (int n = 0; n < VE_TOKENS; n++)
        for (int i = 0; i < VE_DIM; i++) arena.x[n][i] += m->pos_embed[n * VE_DIM + i];
}

#ifdef VE_WASM_SIMD
/* The block's keys transposed (dimension by token, tokens padded to a multiple of 4), so that four
   tokens' scores grow side by side in one vector with each lane's sum in the plain loop's order:
   the same floats as the plain C, four at a time. (Helium's float vectors gained nothing measurable
   on Cortex-M55 and cost 13 KB of RAM for these keys: it keeps the plain loop.) */
#define VE_KT ((VE_TOKENS + 3) / 4 * 4)
static float kt[VE_DIM][VE_KT];

static void transpose_keys(void) {
    for (int j = 0; j < VE_TOKENS; j++)
        for (int i = 0; i < VE_DIM; i++) kt[i][j] = arena.qkv[j][VE_DIM + i];
}

static void scores4(const float *q, int off, int n) {
    for (int j = 0; j < VE_TOKENS; j += 4) {
        v128_t s = wasm_f32x4_splat(0.0f);
        for (int i = 0; i < VE_HEAD_DIM; i++)
            s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_f32x4_splat(q[i]), wasm_v128_load(&kt[off + i][j])));
        float four[4];
        wasm_v128_store(four, s);
        for (int t = 0; t < 4 && j + t < VE_TOKENS; t++) arena.scores[j + t] = (VE_LSA && j + t == n) ? -INFINITY : four[t];
    }
}
#endif

/* MHSA(LN(x)) for token n into y, heads side by side, once every token's query, key and value are
   known (the output projection is the caller's). */
#ifdef __GNUC__
__attribute__((noinline)) /* inlined twice into attend_and_mix, it took 9% more instructions on Cortex-M55 */
#endif
static void attend(const ve_block *b, int n, float *y) {
    for (int h = 0; h < VE_HEADS; h++) {
        const int off = h * VE_HEAD_DIM;
        float q[VE_HEAD_DIM], acc[VE_HEAD_DIM], top = -INFINITY, total = 0.0f;
        for (int i = 0; i < VE_HEAD_DIM; i++) q[i] = arena.qkv[n][off + i] * b->attn_scale, acc[i] = 0.0f;
#ifdef VE_WASM_SIMD
        scores4(q, off, n);
#else
        for (int j = 0; j < VE_TOKENS; j++) { /* (q * scale) @ k, as the model does */
            const float *k = arena.qkv[j] + VE_DIM + off;
            float s = 0.0f;
            for (int i = 0; i < VE_HEAD_DIM; i++) s += q[i] * k[i];
            arena.scores[j] = (VE_LSA && j == n) ? -INFINITY : s; /* LSA: no token attends to itself */
        }
#endif
        for (int j = 0; j < VE_TOKENS; j++) top = top > arena.scores[j] ? top : arena.scores[j];
        for (int j = 0; j < VE_TOKENS; j++) total += arena.scores[j] = exp_neg(arena.scores[j] - top);
        for (int j = 0; j < VE_TOKENS; j++) { /* the head's sums stay in registers */
            const float p = arena.scores[j], *v = arena.qkv[j] + 2 * VE_DIM + off;
            for (int i = 0; i < VE_HEAD_DIM; i++) acc[i] += p * v[i];
        }
        const float inv = 1.0f / total;
        for (int i = 0; i < VE_HEAD_DIM; i++) y[off + i] = acc[i] * inv;
    }
}

/* x + MHSA(LN(x)), then x + MLP(LN(x)), for `tokens` (1 or 2) tokens from n: a token's own floats
   whether it goes alone or beside another, the pair sharing each weight load. */
static void attend_and_mix(const ve_block *b, int n, int tokens) {
    for (int t = 0; t < tokens; t++) attend(b, n + t, arena.y[t]);
    linear_n(&b->proj, tokens, arena.y[0], arena.y[1], arena.out[0], arena.out[1], 0);
    for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < VE_DIM; i++) arena.x[n + t][i] += arena.out[t][i];
        layer_norm(&b->norm2, arena.x[n + t], arena.in[t], VE_DIM);
    }
    linear_n(&b->fc1, tokens, arena.in[0], arena.in[1], arena.hidden[0], arena.hidden[1], 0);
    for (int t = 0; t < tokens; t++)
        for (int i = 0; i < VE_MLP; i++) arena.hidden[t][i] = gelu(arena.hidden[t][i]);
    linear_n(&b->fc2, tokens, arena.hidden[0], arena.hidden[1], arena.out[0], arena.out[1], 0);
    for (int t = 0; t < tokens; t++)
        for (int i = 0; i < VE_DIM; i++) arena.x[n + t][i] += arena.out[t][i];
}

/* One encoder block; `outputs` tokens go on through it. After the last block only the CLS (and
   distillation) token is read, so that block finishes just those: every token's key and value are
   still needed, but the other tokens' queries, attention and MLP would be thrown away. */
static void encoder_block(const ve_block *b, int outputs) {
    for (int n = 0; n < VE_TOKENS; n += 2) { /* queries, keys and values, all from the block's input */
        const int tokens = n + 1 < VE_TOKENS ? 2 : 1;
        for (int t = 0; t < tokens; t++) layer_norm(&b->norm1, arena.x[n + t], arena.in[t], VE_DIM);
        /* a pair makes both queries if the first needs its own (one unread query at most) */
        linear_n(&b->qkv, tokens, arena.in[0], arena.in[1], arena.qkv[n], arena.qkv[n + tokens - 1],
                 n < outputs ? 0 : VE_DIM);
    }
#ifdef VE_WASM_SIMD
    transpose_keys();
#endif
    for (int n = 0; n < outputs; n += 2) attend_and_mix(b, n, n + 1 < outputs ? 2 : 1);
}

void ve_forward(const float pixels[784], float logits[10]) {
    const ve_model *m = &ve_weights;
    embed_patches(pixels);
    for (int l = 0; l < VE_DEPTH; l++) encoder_block(&m->blocks[l], l + 1 < VE_DEPTH ? VE_TOKENS : VE_EXTRA);
    layer_norm(&m->norm, arena.x[0], arena.in[0], VE_DIM);
    linear(&m->head_hidden, arena.in[0], arena.head);
    for (int i = 0; i < VE_DIM; i++) arena.head[i] = tanhf(arena.head[i]);
    linear(&m->head_out, arena.head, logits);
#if VE_DISTILL /* DeiT at inference: the two heads averaged */
    layer_norm(&m->norm, arena.x[1], arena.in[0], VE_DIM);
    linear(&m->head_dist, arena.in[0], arena.head);
    for (int c = 0; c < VE_CLASSES; c++) logits[c] = (logits[c] + arena.head[c]) / 2.0f;
#endif
}

#endif

/* A pixel outside [0, 1] (NaN, infinity, or a caller's unscaled bytes) would carry NaN or an
   overflow into the int8 conversions: such an image is refused, never guessed at. */
static int bad_pixels(const float pixels[784]) {
    for (int i = 0; i < 784; i++)
        if (!(pixels[i] >= 0.0f && pixels[i] <= 1.0f)) return 1; /* NaN fails both tests */
    return 0;
}

void vit_edge_logits(const float pixels[784], float logits[10]) {
    if (bad_pixels(pixels)) {
        for (int c = 0; c < VE_CLASSES; c++) logits[c] = 0.0f; /* no preference: every digit alike */
        return;
    }
    ve_forward(pixels, logits);
}

int vit_edge_predict(const float pixels[784], float probs[10]) {
    float logits[VE_CLASSES], total = 0.0f;
    int best = 0;
    if (bad_pixels(pixels)) return VIT_EDGE_BAD_PIXELS;
    vit_edge_logits(pixels, logits);
    for (int c = 1; c < VE_CLASSES; c++)
        if (logits[c] > logits[best]) best = c;
    if (probs) {
        for (int c = 0; c < VE_CLASSES; c++) total += probs[c] = expf(logits[c] - logits[best]);
        for (int c = 0; c < VE_CLASSES; c++) probs[c] /= total;
    }
    return best;
}
