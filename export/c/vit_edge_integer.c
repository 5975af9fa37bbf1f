/* vit-edge's forward pass in integers only, for cores without an FPU (RISC-V rv32imac, Cortex-M0+
 * and M3), where each float operation is a library call of tens of instructions. It is vit_edge.c's
 * pass, top to bottom, in the manner of I-BERT (Kim et al., ICML 2021) and I-ViT (Li and Gu, ICCV
 * 2023):
 *   - activations are Q16 fixed point (int32, 1.0 = 65536);
 *   - a linear layer multiplies the INT8 weights by the token's activations in int8, as vit_edge.c
 *     does, and rescales each int32 sum by one dyadic number m * 2^-s (I-BERT's requantisation);
 *   - LayerNorm takes an integer square root;
 *   - softmax and tanh take e^-x as 2^-t: a shift for t's whole part, a table for its fraction;
 *   - GELU is read from a table (linear interpolation, error under 1e-4);
 *   - attention multiplies 12-bit queries, keys and values.
 * The weights are the INT8 build's; their float scales and biases are read from their bits with
 * integer operations. Only the 10 logits become floats, at the end.
 * vit_edge.h chooses this file's pass on cores without an FPU; -DVIT_EDGE_INTEGER chooses it anywhere. */
#include <stdint.h>
#include <string.h>

#include "vit_edge.h"
#include "vit_edge_weights.h"

#if VIT_EDGE_INTEGER

#define VE_Q 16         /* fraction bits of an activation */
#define VE_KV_MAX 2047 /* queries, keys and values in attention: 12-bit integers */
#define VE_LN_EPS_Q32 ((int64_t)(VE_LN_EPS * 4294967296.0 + 0.5))

/* One block: vit_edge_prepare's pool, then the model's arena, its last part (lent to the pool between
   inferences: nothing in the arena outlives one). A build without vit_edge_prepare.c sets
   -DVIT_EDGE_PREPARE_BYTES=0 and keeps the arena alone. */
static struct {
    double pool[VIT_EDGE_OWN_BYTES / 8 ? VIT_EDGE_OWN_BYTES / 8 : 1];
    struct {
        int32_t x[VE_TOKENS][VE_DIM];       /* the residual stream, Q16 */
        int32_t qkv[VE_TOKENS][3 * VE_DIM]; /* queries Q16; keys and values in +-VE_KV_MAX once all are made */
        int32_t scores[VE_TOKENS];
        int32_t in[VE_MAX_IN], hidden[VE_MLP], y[VE_DIM], out[VE_DIM], head[VE_DIM];
        int32_t key_top[VE_HEADS], value_top[VE_HEADS]; /* each head's keys' and values' largest |Q16| */
        signed char xq[VE_MAX_IN];                      /* one token's input to a linear layer, quantized */
    } arena;
} memory;
#define arena (memory.arena)

typedef char ve_arena_fits[(sizeof arena <= VIT_EDGE_ARENA_BYTES) ? 1 : -1];

/* the block: the pool's own part and the arena lent to it, one after the other */
void *ve_pool_memory(unsigned long *own, unsigned long *lent) {
    *own = (unsigned long)((char *)&arena - (char *)&memory), *lent = VIT_EDGE_LENT_BYTES ? sizeof arena : 0;
    return &memory;
}

/* m * 2^-s, with m in [2^30, 2^31) (or 0): I-BERT's dyadic numbers, for scales. */
typedef struct {
    int64_t m;
    int s;
} ve_dyadic;

/* A float constant of the model as a dyadic number, from its bits (no float operation). */
static ve_dyadic dyadic(const float *f) {
    uint32_t u;
    memcpy(&u, f, 4);
    const int e = (int)(u >> 23 & 255);
    if (e == 0) return (ve_dyadic){0, 0}; /* zero, or a subnormal: under any resolution here */
    const int64_t m = (int64_t)((u & 0x7FFFFFu) | 0x800000u) << 7;
    return (ve_dyadic){u >> 31 ? -m : m, 157 - e};
}

/* v * 2^-s as a dyadic number (v >= 0) */
static ve_dyadic normalize(int64_t v, int s) {
    if (v <= 0) return (ve_dyadic){0, 0};
    for (; v >= (int64_t)1 << 31; v >>= 1) s--;
    for (; v < (int64_t)1 << 30; v <<= 1) s++;
    return (ve_dyadic){v, s};
}

/* a * b for a positive a and b of either sign; m keeps 29-31 bits */
static ve_dyadic times(ve_dyadic a, ve_dyadic b) {
    return (ve_dyadic){a.m * b.m / ((int64_t)1 << 31), a.s + b.s - 31};
}

/* round(v * 2^-s), halves up, held within +-INT32_MAX (so sums of two never overflow an int64, and
   an extreme model saturates instead of wrapping) */
static int32_t rescale(int64_t v, int s) {
    if (s > 62) return 0;
    if (s > 0) v = (v + ((int64_t)1 << (s - 1))) >> s; /* arithmetic shift: floor */
    for (; s < 0 && v > -INT32_MAX && v < INT32_MAX; s++) v *= 2;
    return v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
}

static int32_t saturate(int64_t v) { return rescale(v, 0); }

/* a float constant in Q16 */
static int32_t fixed(const float *f) {
    const ve_dyadic d = dyadic(f);
    return rescale(d.m, d.s - VE_Q);
}

static int32_t magnitude(int32_t v) { return v < 0 ? -v : v; }
static int32_t largest(int32_t top, int32_t v) { return magnitude(v) > top ? magnitude(v) : top; }

static void layer_norm(const ve_norm *n, const int32_t *x, int32_t *y, int size) {
    int64_t sum = 0;
    for (int i = 0; i < size; i++) sum += x[i];
    const int32_t mean = (int32_t)(sum / size);
    uint64_t var = 0;
    for (int i = 0; i < size; i++) var += (uint64_t)(((int64_t)x[i] - mean) * ((int64_t)x[i] - mean));
    var = var / (uint64_t)size + VE_LN_EPS_Q32; /* Q32 */
    uint64_t root = 0, bit = (uint64_t)1 << 62;  /* the standard deviation in Q16: sqrt bit by bit */
    while (bit > var) bit >>= 2;
    for (; bit; bit >>= 2)
        if (var >= root + bit) var -= root + bit, root = (root >> 1) + bit;
        else root >>= 1;
    const int64_t inv = ((int64_t)1 << 46) / (int64_t)root; /* 1 / sd in Q30 */
    for (int i = 0; i < size; i++) {
        const ve_dyadic w = dyadic(&n->weight[i]);
        const int32_t z = rescale(((int64_t)x[i] - mean) * inv, 30);
        y[i] = saturate((int64_t)rescale(z * w.m, w.s) + fixed(&n->bias[i]));
    }
}

/* One token's activations to int8 with its own scale, top / 127, as vit_edge.c does; returns top. */
static int32_t quantize(const int32_t *x, int n) {
    int32_t top = 0;
    for (int i = 0; i < n; i++) top = largest(top, x[i]);
    const int64_t r = top ? ((int64_t)127 << 32) / top : 0; /* 127 / top in Q32 */
    for (int i = 0; i < n; i++) arena.xq[i] = (signed char)((x[i] * r + ((int64_t)1 << 31)) >> 32);
    return top;
}

/* Four output channels at once: each input byte is loaded once for all four. */
static void dot4(const signed char *w, int n, int32_t acc[4]) {
    const signed char *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int i = 0; i < n; i++) {
        const int32_t x = arena.xq[i];
        a0 += w[i] * x, a1 += w1[i] * x, a2 += w2[i] * x, a3 += w3[i] * x;
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* a sum of int8 products back to Q16: times the channel's weight scale and the token's scale */
static int32_t requantize(const ve_linear *l, int o, int32_t acc, ve_dyadic token) {
    const ve_dyadic c = times(token, dyadic(&l->scale[o]));
    return saturate((int64_t)rescale(acc * c.m, c.s - VE_Q) + fixed(&l->bias[o]));
}

/* y = W x + b with int8 weights and this token's int8 activations; rows before `from` are not made */
static void linear_rows(const ve_linear *l, const int32_t *x, int32_t *y, int from) {
    const ve_dyadic token = normalize(((int64_t)quantize(x, l->in) << 24) / 127, 24 + VE_Q);
    int o = from;
    for (; o + 3 < l->out; o += 4) {
        int32_t acc[4];
        dot4(l->q + (long)o * l->in, l->in, acc);
        for (int k = 0; k < 4; k++) y[o + k] = requantize(l, o + k, acc[k], token);
    }
    for (; o < l->out; o++) {
        int32_t acc = 0;
        for (int i = 0; i < l->in; i++) acc += l->q[(long)o * l->in + i] * arena.xq[i];
        y[o] = requantize(l, o, acc, token);
    }
}

static void linear(const ve_linear *l, const int32_t *x, int32_t *y) { linear_rows(l, x, y, 0); }

/* Made by export/c_export.py integer_tables() (tests/test_c_engine.py checks this copy). */
static const int32_t POW2[257] = {
    16777216, 16731851, 16686609, 16641490, 16596492, 16551616, 16506861, 16462228, 16417715, 16373322, 16329050, 16284897,
    16240863, 16196949, 16153153, 16109476, 16065917, 16022476, 15979152, 15935945, 15892855, 15849882, 15807025, 15764283,
    15721658, 15679147, 15636752, 15594471, 15552304, 15510252, 15468313, 15426487, 15384775, 15343175, 15301688, 15260313,
    15219050, 15177899, 15136859, 15095929, 15055111, 15014403, 14973805, 14933316, 14892937, 14852668, 14812507, 14772455,
    14732511, 14692675, 14652947, 14613326, 14573813, 14534406, 14495106, 14455912, 14416824, 14377841, 14338964, 14300193,
    14261526, 14222963, 14184505, 14146151, 14107901, 14069754, 14031710, 13993769, 13955931, 13918195, 13880561, 13843028,
    13805598, 13768268, 13731039, 13693911, 13656884, 13619956, 13583129, 13546401, 13509772, 13473242, 13436812, 13400479,
    13364245, 13328109, 13292070, 13256129, 13220286, 13184539, 13148888, 13113335, 13077877, 13042515, 13007249, 12972078,
    12937002, 12902021, 12867135, 12832343, 12797645, 12763041, 12728530, 12694113, 12659789, 12625557, 12591419, 12557372,
    12523418, 12489555, 12455784, 12422104, 12388516, 12355018, 12321610, 12288294, 12255067, 12221930, 12188882, 12155924,
    12123055, 12090275, 12057584, 12024981, 11992466, 11960039, 11927700, 11895448, 11863283, 11831206, 11799215, 11767310,
    11735492, 11703760, 11672114, 11640553, 11609078, 11577687, 11546382, 11515161, 11484025, 11452973, 11422004, 11391120,
    11360319, 11329601, 11298967, 11268415, 11237946, 11207559, 11177254, 11147032, 11116891, 11086831, 11056853, 11026956,
    10997140, 10967404, 10937749, 10908174, 10878679, 10849263, 10819928, 10790671, 10761494, 10732395, 10703375, 10674434,
    10645571, 10616786, 10588079, 10559449, 10530897, 10502422, 10474024, 10445703, 10417458, 10389290, 10361198, 10333182,
    10305242, 10277377, 10249587, 10221873, 10194234, 10166669, 10139179, 10111763, 10084422, 10057154, 10029960, 10002839,
    9975792, 9948818, 9921917, 9895089, 9868333, 9841650, 9815039, 9788499, 9762032, 9735636, 9709311, 9683058,
    9656875, 9630764, 9604722, 9578752, 9552851, 9527021, 9501261, 9475570, 9449948, 9424396, 9398913, 9373499,
    9348154, 9322877, 9297668, 9272528, 9247455, 9222451, 9197514, 9172644, 9147842, 9123107, 9098438, 9073837,
    9049301, 9024833, 9000430, 8976093, 8951823, 8927617, 8903477, 8879403, 8855394, 8831449, 8807569, 8783754,
    8760003, 8736317, 8712694, 8689136, 8665641, 8642209, 8618841, 8595536, 8572295, 8549116, 8525999, 8502945,
    8479954, 8457025, 8434157, 8411352, 8388608
};
static const int32_t GELU[257] = {
    -8, -9, -11, -12, -14, -15, -17, -19, -22, -24, -27, -31,
    -34, -38, -43, -48, -53, -59, -66, -74, -82, -91, -100, -111,
    -123, -136, -150, -165, -182, -200, -220, -242, -265, -291, -318, -348,
    -381, -415, -453, -494, -537, -584, -634, -688, -745, -807, -873, -943,
    -1017, -1097, -1181, -1271, -1366, -1466, -1572, -1684, -1803, -1927, -2058, -2195,
    -2339, -2489, -2647, -2811, -2982, -3160, -3345, -3537, -3735, -3940, -4152, -4370,
    -4594, -4824, -5060, -5301, -5546, -5796, -6050, -6308, -6567, -6829, -7093, -7357,
    -7620, -7883, -8144, -8401, -8655, -8903, -9146, -9380, -9606, -9822, -10027, -10219,
    -10398, -10560, -10706, -10833, -10940, -11026, -11089, -11127, -11139, -11123, -11079, -11003,
    -10895, -10753, -10576, -10362, -10110, -9819, -9487, -9113, -8696, -8234, -7728, -7175,
    -6575, -5927, -5230, -4484, -3689, -2843, -1946, -998, 0, 1050, 2150, 3301,
    4503, 5756, 7058, 8409, 9809, 11257, 12752, 14294, 15880, 17511, 19185, 20901,
    22658, 24454, 26288, 28159, 30065, 32005, 33977, 35981, 38013, 40073, 42159, 44270,
    46404, 48559, 50734, 52928, 55138, 57365, 59605, 61858, 64122, 66396, 68678, 70969,
    73265, 75567, 77872, 80181, 82492, 84803, 87115, 89427, 91737, 94044, 96350, 98652,
    100950, 103243, 105532, 107816, 110094, 112366, 114632, 116892, 119145, 121391, 123631, 125864,
    128090, 130309, 132521, 134727, 136925, 139117, 141302, 143481, 145653, 147820, 149980, 152134,
    154282, 156425, 158563, 160695, 162823, 164945, 167063, 169177, 171287, 173392, 175494, 177592,
    179687, 181778, 183867, 185953, 188035, 190116, 192194, 194269, 196343, 198414, 200484, 202552,
    204618, 206683, 208746, 210808, 212869, 214929, 216988, 219045, 221102, 223158, 225214, 227269,
    229323, 231376, 233429, 235482, 237534, 239585, 241637, 243688, 245738, 247789, 249839, 251889,
    253938, 255988, 258037, 260087, 262136
};

/* 2^(-t) in Q24 for t >= 0 in Q16: a shift by t's whole part, the table (interpolated) for the rest */
static int32_t pow2_neg(int32_t t) {
    const int whole = t >> VE_Q, i = (t & 0xFFFF) >> 8, r = t & 255;
    if (whole > 24) return 0;
    const int32_t v = POW2[i] - (((POW2[i] - POW2[i + 1]) * r + 128) >> 8);
    return whole ? (v + (1 << (whole - 1))) >> whole : v;
}

/* GELU (erf form) of a Q16 value: 0 under -4, x over 4 (both within 1.3e-4), the table between */
static int32_t gelu(int32_t x) {
    if (x <= -(4 << VE_Q)) return 0;
    if (x >= (4 << VE_Q)) return x;
    const int32_t u = x + (4 << VE_Q);
    const int i = u >> 11, r = u & 2047; /* steps of 1/32: 2048 in Q16 */
    return GELU[i] + (((GELU[i + 1] - GELU[i]) * r + 1024) >> 11);
}

/* tanh of a Q16 value as (1 - e) / (1 + e), e = e^(-2|x|) = 2^(-2|x| log2 e) */
static int32_t tanh_q16(int32_t x) {
    static const int64_t two_log2e = (int64_t)(2.0 * 1.4426950408889634 * 536870912.0 + 0.5); /* Q29 */
    const int64_t e = pow2_neg(rescale(magnitude(x) * two_log2e, 29)); /* Q24 */
    const int32_t t = (int32_t)((((int64_t)1 << 24) - e) * 65536 / (((int64_t)1 << 24) + e));
    return x < 0 ? -t : t;
}

/* SPT's channel c at (r, col) (vit_edge_weights.h), normalised, in Q16 */
static int32_t channel_pixel(const float *pixels, int c, int r, int col) {
    static const int32_t mean = (int32_t)(VE_MEAN * 65536.0 + 0.5), inv_std = (int32_t)(65536.0 / VE_STD + 0.5);
    const int i = ve_channel_index(c, r, col);
    const int32_t p = i < 0 ? 0 : fixed(&pixels[i]);
    return rescale((int64_t)(p - mean) * inv_std, VE_Q);
}

static void embed_patches(const float *pixels) {
    const ve_model *m = &ve_weights;
    for (int p = 0; p < VE_GRID * VE_GRID; p++) {
        int k = 0, top = (p / VE_GRID) * VE_PATCH, left = (p % VE_GRID) * VE_PATCH;
        for (int c = 0; c < VE_CHANNELS; c++)
            for (int r = 0; r < VE_PATCH; r++)
                for (int col = 0; col < VE_PATCH; col++) arena.in[k++] = channel_pixel(pixels, c, top + r, left + col);
#if VE_PATCH_NORM
        layer_norm(&m->patch_norm, arena.in, arena.in, VE_PATCH_DIM);
#endif
        linear(&m->patch_embed, arena.in, arena.x[VE_EXTRA + p]);
    }
    for (int i = 0; i < VE_DIM; i++) arena.x[0][i] = fixed(&m->cls_token[i]);
#if VE_DISTILL
    for (int i = 0; i < VE_DIM; i++) arena.x[1][i] = fixed(&m->dist_token[i]);
#endif
    for (int n = 0; n < VE_TOKENS; n++)
        for (int i = 0; i < VE_DIM; i++)
            arena.x[n][i] = saturate((int64_t)arena.x[n][i] + fixed(&m->pos_embed[n * VE_DIM + i]));
}

/* One head's keys (or values), every token's, to integers in +-VE_KV_MAX in place; returns the
   largest |Q16| they had, their scale's numerator. */
static int32_t squeeze(int off) {
    int32_t top = 0;
    for (int j = 0; j < VE_TOKENS; j++)
        for (int i = 0; i < VE_HEAD_DIM; i++) top = largest(top, arena.qkv[j][off + i]);
    const int64_t r = top ? ((int64_t)VE_KV_MAX << 32) / top : 0;
    for (int j = 0; j < VE_TOKENS; j++)
        for (int i = 0; i < VE_HEAD_DIM; i++)
            arena.qkv[j][off + i] = (int32_t)((arena.qkv[j][off + i] * r + ((int64_t)1 << 31)) >> 32);
    return top;
}

/* One head of x + MHSA(LN(x)) for token n: 12-bit scores, softmax by powers of two, normalised to
   Q16 weights, times the 12-bit values. */
static void attend_head(const ve_block *b, int n, int h) {
    /* log2(e) / VE_KV_MAX^2 as m * 2^-52 (the scores' unit, times log2 e for base 2) */
    static const ve_dyadic log2e_kv = {
        (int64_t)(1.4426950408889634 / (VE_KV_MAX * (double)VE_KV_MAX) * 4503599627370496.0 + 0.5), 52};
    static const ve_dyadic inv_kv = {(int64_t)(2199023255552.0 / VE_KV_MAX + 0.5), 41}; /* 1 / VE_KV_MAX */
    const int off = h * VE_HEAD_DIM;
    int32_t q[VE_HEAD_DIM], acc[VE_HEAD_DIM], top = 0, best = INT32_MIN;
    for (int i = 0; i < VE_HEAD_DIM; i++) top = largest(top, arena.qkv[n][off + i]);
    ve_dyadic scale = dyadic(&b->attn_scale);
    const int64_t sign = scale.m < 0 ? -1 : 1; /* a negative temperature (LSA learns it) goes into q */
    const int64_t r = top ? sign * (((int64_t)VE_KV_MAX << 32) / top) : 0;
    scale.m *= sign;
    for (int i = 0; i < VE_HEAD_DIM; i++)
        q[i] = (int32_t)((arena.qkv[n][off + i] * r + ((int64_t)1 << 31)) >> 32), acc[i] = 0;
    for (int j = 0; j < VE_TOKENS; j++) {
        const int32_t *k = arena.qkv[j] + VE_DIM + off;
        int32_t s = 0;
        for (int i = 0; i < VE_HEAD_DIM; i++) s += q[i] * k[i];
        arena.scores[j] = s;
        if (!(VE_LSA && j == n) && s > best) best = s; /* LSA: no token attends to itself */
    }
    /* a score unit in powers of two: top * key_top * attn_scale * log2(e) / (VE_KV_MAX^2 2^32) */
    const ve_dyadic unit =
        times(times(normalize((int64_t)top * arena.key_top[h], 2 * VE_Q), scale), log2e_kv);
    int64_t total = 0;
    for (int j = 0; j < VE_TOKENS; j++) {
        const int32_t t = rescale(((int64_t)best - arena.scores[j]) * unit.m, unit.s - VE_Q);
        total += arena.scores[j] = (VE_LSA && j == n) ? 0 : pow2_neg(t); /* Q24 */
    }
    const int64_t inv = ((int64_t)1 << 48) / total; /* 1 / total in Q24 */
    for (int j = 0; j < VE_TOKENS; j++) {
        const int32_t p = (int32_t)((arena.scores[j] * inv + ((int64_t)1 << 31)) >> 32);
        const int32_t *v = arena.qkv[j] + 2 * VE_DIM + off;
        for (int i = 0; i < VE_HEAD_DIM; i++) acc[i] += p * v[i]; /* Q16 weights summing to 1 */
    }
    const ve_dyadic value = times(normalize(arena.value_top[h], VE_Q), inv_kv);
    for (int i = 0; i < VE_HEAD_DIM; i++) arena.y[off + i] = rescale(acc[i] * value.m, value.s);
}

static void attend(const ve_block *b, int n) {
    for (int h = 0; h < VE_HEADS; h++) attend_head(b, n, h);
    linear(&b->proj, arena.y, arena.out);
    for (int i = 0; i < VE_DIM; i++) arena.x[n][i] = saturate((int64_t)arena.x[n][i] + arena.out[i]);
}

static void feed_forward(const ve_block *b, int n) {
    layer_norm(&b->norm2, arena.x[n], arena.in, VE_DIM);
    linear(&b->fc1, arena.in, arena.hidden);
    for (int i = 0; i < VE_MLP; i++) arena.hidden[i] = gelu(arena.hidden[i]);
    linear(&b->fc2, arena.hidden, arena.out);
    for (int i = 0; i < VE_DIM; i++) arena.x[n][i] = saturate((int64_t)arena.x[n][i] + arena.out[i]);
}

/* As vit_edge.c's: after the last block only the CLS (and distillation) token is read. */
static void encoder_block(const ve_block *b, int outputs) {
    for (int n = 0; n < VE_TOKENS; n++) {
        layer_norm(&b->norm1, arena.x[n], arena.in, VE_DIM);
        linear_rows(&b->qkv, arena.in, arena.qkv[n], n < outputs ? 0 : VE_DIM); /* queries: only if read */
    }
    for (int h = 0; h < VE_HEADS; h++) {
        arena.key_top[h] = squeeze(VE_DIM + h * VE_HEAD_DIM);
        arena.value_top[h] = squeeze(2 * VE_DIM + h * VE_HEAD_DIM);
    }
    for (int n = 0; n < outputs; n++) {
        attend(b, n);
        feed_forward(b, n);
    }
}

/* the MLP head on a token, in Q16 */
static void head(const ve_linear *hidden, const ve_linear *out, int token, int32_t logits[VE_CLASSES]) {
    layer_norm(&ve_weights.norm, arena.x[token], arena.in, VE_DIM);
    if (!hidden) {
        linear(out, arena.in, logits);
        return;
    }
    linear(hidden, arena.in, arena.head);
    for (int i = 0; i < VE_DIM; i++) arena.head[i] = tanh_q16(arena.head[i]);
    linear(out, arena.head, logits);
}

void ve_forward(const float pixels[784], float logits[VE_CLASSES]) {
    const ve_model *m = &ve_weights;
    int32_t q16[VE_CLASSES];
    embed_patches(pixels);
    for (int l = 0; l < VE_DEPTH; l++) encoder_block(&m->blocks[l], l + 1 < VE_DEPTH ? VE_TOKENS : VE_EXTRA);
    head(&m->head_hidden, &m->head_out, 0, q16);
#if VE_DISTILL /* DeiT at inference: the two heads averaged */
    int32_t dist[VE_CLASSES];
    head(0, &m->head_dist, 1, dist);
    for (int c = 0; c < VE_CLASSES; c++) q16[c] = (int32_t)(((int64_t)q16[c] + dist[c]) / 2);
#endif
    for (int c = 0; c < VE_CLASSES; c++) logits[c] = (float)q16[c] / 65536.0f;
}

#else
typedef int ve_integer_pass_unused; /* the float pass is vit_edge.c's; C99 wants a declaration here */
#endif
