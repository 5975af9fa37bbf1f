/* vit_edge_prepare: a grey image (a camera's or touch panel's buffer) to the model's 28x28 input,
 * step by step as vit_edge/device/preprocess.py does it (in the page too, as WebAssembly), with its
 * constants (VE_PP_*, generated from Python into vit_edge_model.h):
 *
 *   grey bytes, pooled toward the ink when larger than VIT_EDGE_WORK_SIDE -> a table around the
 *   page becomes paper -> white ink on black, the paper's light divided away, ink judged against
 *   the paper's local noise, printed lines (ruling, grids, form boxes) taken away -> pieces of ink,
 *   specks dropped -> crop -> thin strokes thickened to MNIST's width -> longer side 20 px
 *   (Pillow's resampling) -> 28x28 with the centre of mass at (14, 14).
 *
 * Memory: one pool of VIT_EDGE_PREPARE_BYTES (see vit_edge.h), sized for VIT_EDGE_WORK_SIDE: 96 by
 * default, a microcontroller's, where the model's arena is most of it; predict's 1024 is
 * -DVIT_EDGE_WORK_SIDE=1024. Larger images are pooled toward the ink to fit, as predict pools
 * beyond 1024 px. The image is a byte a pixel; the ink, its deviation from the paper and the
 * stretched ink are made again a row at a time wherever a step reads them, from the grey levels
 * and the grids of the paper's light and noise, so no step holds a plane of floats. */
#include <math.h>
#include <string.h>

#include "vit_edge.h"

#define WS VIT_EDGE_WORK_SIDE
/* the printed-line search keeps rows in 16 bits: a sheared page is at most WS + WS / 8 + 2 rows */
typedef char ve_work_side_fits[(WS + WS / 8 + 2 < 65536L) ? 1 : -1];
/* a piece's label, and a provisional one: at most w * h + 1 of them */
#if WS * WS + 2 < 65536L
typedef unsigned short label_t;
#else
typedef int label_t;
#endif
#define PI 3.14159265358979323846 /* C99 has no PI */

typedef struct {
    int w, h;
    float *a;
} image;

/* A grid read row by row, its rows stride floats apart */
typedef struct {
    int w, h, stride;
    float *a;
} grid;

static float *grid_row(const grid *g, int y) { return g->a + (size_t)y * g->stride; }

static grid whole(const image *im) { return (grid){im->w, im->h, im->w, im->a}; }

/* One pool, used as a stack; each call to vit_edge_prepare starts it empty. Every size below is
   bounded by the working image (at most WS x WS), checked as it is taken. The pool is one block
   (ve_pool_memory): offsets below own_floats are its own; above, the model's arena, which an
   inference overwrites (vit_edge_prepare_digit then makes the ink map again). */
static float *pool;
static size_t own_floats, pool_floats, used;

static void find_pool(void) {
    unsigned long own, lent;
    pool = (float *)ve_pool_memory(&own, &lent), own_floats = own / 4, pool_floats = (own + lent) / 4;
}

/* an offset rounded up to 8 bytes (a double or a long may be stored there) */
static size_t place(size_t offset) { return offset + (offset & 1); }

/* n floats' room */
static float *take(size_t n) {
    const size_t start = place(used);
    if (start + n > pool_floats) return NULL;
    used = start + n;
    return pool + start;
}

/* n floats' worth at p, the last thing in the pool, moved down to `mark`, and the pool cut back to
   their end: what lay between (the steps that made them) goes. Returns where they lie now. */
static void *settle_at(const void *p, size_t n, size_t mark) {
    mark = place(mark);
    memmove(pool + mark, p, sizeof(float) * n);
    used = mark + n;
    return pool + mark;
}

/* an image made above `mark` moved down to it */
static void settle(image *im, size_t mark) { im->a = (float *)settle_at(im->a, (size_t)im->w * im->h, mark); }

static int pyround(double x) { return (int)rint(x); } /* Python's round(): halves to even */
static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
/* fmaxf for numbers (never NaN here) without a libm call in the per-pixel loops */
static float fmax2(float a, float b) { return a > b ? a : b; }
static float fmin2(float a, float b) { return a < b ? a : b; }

/* The k-th smallest (0-based) by quickselect; leaves a[k+1 ...] >= a[k]. Float32 values, as
   numpy's (a double copy gave the same answers at twice the memory traffic). */
static double select_k(float *a, int n, int k) {
    int lo = 0, hi = n - 1;
    while (hi > lo) {
        float pivot = a[(lo + hi) >> 1];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j], a[j] = t, i++, j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

static double next_above(const float *a, int n, int k) {
    float m = INFINITY;
    for (int i = k + 1; i < n; i++) m = a[i] < m ? a[i] : m;
    return m;
}

/* numpy's median of a float32 array (the middle pair averaged in float32); scratch: n floats */
static float median32(const float *v, int n, float *scratch) {
    for (int i = 0; i < n; i++) scratch[i] = v[i];
    int k = (n - 1) >> 1;
    double lo = select_k(scratch, n, k);
    return n % 2 ? (float)lo : (float)(lo + next_above(scratch, n, k)) / 2.0f;
}

/* ---- step 1: grey levels, pooled toward the ink when larger than WS ---- */

/* the k-th smallest (0-based) of the values a histogram counts */
static int hist_rank(const long *hist, long k) {
    int v = 0;
    for (long seen = hist[0]; seen <= k; seen += hist[++v]) {}
    return v;
}

/* A plane of bytes: the grey levels (0-255, k standing for k / 255 as Python's float32), or masks */
typedef struct {
    int w, h;
    unsigned char *a;
} bytes;

/* n bytes' room */
static unsigned char *take_bytes(size_t n) { return (unsigned char *)take((n + 3) / 4); }

/* Dark ink on light paper when the darkest grey lies further below the median than the lightest
   above it (Python's _dark_on_light, here from a histogram of the bytes). */
static int dark_on_light_bytes(const unsigned char *g, int w, int h, int stride) {
    long hist[256] = {0}, n = (long)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) hist[g[(long)y * stride + x]]++;
    int lo = 0, hi = 255;
    while (!hist[lo]) lo++;
    while (!hist[hi]) hi--;
    double mid = (hist_rank(hist, (n - 1) / 2) + hist_rank(hist, n / 2)) / 2.0;
    return mid - lo > hi - mid;
}

static long levels[256]; /* a histogram of the working image's levels, for level_stats */

static void count_levels(const bytes *g) {
    memset(levels, 0, sizeof levels);
    for (long i = 0; i < (long)g->w * g->h; i++) levels[g->a[i]]++;
}

/* The side of the blocks a w x h frame is pooled in to fit WS (1: none; Python's pool_factor) */
static int pool_factor(int w, int h) { return (imax(w, h) + WS - 1) / WS; }

/* The working image's grey levels: the frame itself, or pooled toward the ink in blocks */
static int to_grey(const unsigned char *g, int w, int h, int stride, bytes *out) {
    const int factor = pool_factor(w, h);
    out->w = (w + factor - 1) / factor, out->h = (h + factor - 1) / factor;
    if (!(out->a = take_bytes((size_t)out->w * out->h))) return 0;
    if (factor == 1) { /* the common case (a pad, a screen-sized picture): a copy */
        for (int y = 0; y < h; y++) memcpy(out->a + (size_t)y * w, g + (long)y * stride, (size_t)w);
        return 1;
    }
    const int dark = dark_on_light_bytes(g, w, h, stride), ow = out->w;
    /* Python pads the last blocks with the paper's shade, which never wins the pooling: the blocks
       are pooled over their pixels inside the frame alone, row by row of the frame (a pass for the
       paper's shade and a test per pixel cost twice as much on Cortex-M4) */
    for (int oy = 0; oy < out->h; oy++) {
        unsigned char *best = out->a + (size_t)oy * ow;
        memset(best, dark ? 255 : 0, (size_t)ow);
        for (int y = oy * factor; y < imin((oy + 1) * factor, h); y++) {
            const unsigned char *row = g + (long)y * stride;
            for (int ox = 0, x = 0; ox < ow; ox++) {
                const int end = imin(x + factor, w);
                int b = best[ox];
                if (dark)
                    for (; x < end; x++) b = row[x] < b ? row[x] : b;
                else
                    for (; x < end; x++) b = row[x] > b ? row[x] : b;
                best[ox] = (unsigned char)b;
            }
        }
    }
    return 1;
}


/* ---- steps 2-4: find the ink (Python's find_ink) ---- */

static int radius_cells(int shorter, int cell) {
    return imax(1, pyround((double)shorter * VE_PP_LIGHT_RADIUS / cell));
}

typedef float (*reducer)(float *block, int n, float *scratch);

static float median_of(float *b, int n, float *s) { return median32(b, n, s); }

static float mad_of(float *b, int n, float *s) {
    float m = median32(b, n, s);
    for (int i = 0; i < n; i++) b[i] = fabsf(b[i] - m);
    return 1.4826f * median32(b, n, s);
}

/* A plane read a row at a time: row y's w floats, made into out (so that a step reads the ink or
   its deviation without a plane of them) */
typedef void (*row_source)(const void *plane, int y, float *out);

/* Each cell x cell block of a w x h plane reduced to one value, the last rows and columns repeated
   to fill it; the plane read a band of cell rows at a time */
static int cell_values(const void *plane, row_source row, int w, int h, int cell, reducer f, image *out) {
    out->w = (w + cell - 1) / cell, out->h = (h + cell - 1) / cell;
    if (!(out->a = take((size_t)out->w * out->h))) return 0;
    const size_t mark = used;
    float *band = take((size_t)cell * w), *block = take((size_t)cell * cell), *scratch = take((size_t)cell * cell);
    if (!band || !block || !scratch) return 0;
    for (int gy = 0; gy < out->h; gy++) {
        for (int y = 0; y < cell; y++) row(plane, imin(gy * cell + y, h - 1), band + (size_t)y * w);
        for (int gx = 0; gx < out->w; gx++) {
            int k = 0;
            for (int y = 0; y < cell; y++)
                for (int x = gx * cell; x < (gx + 1) * cell; x++) block[k++] = band[(size_t)y * w + imin(x, w - 1)];
            out->a[gy * out->w + gx] = f(block, k, scratch);
        }
    }
    used = mark;
    return 1;
}

/* min (or max) over [i - r, i + r] clipped to [0, n), for a line of n values `step` apart: van Herk
   and Gil-Werman's running extremes within blocks of 2r + 1, the clipped ends padded with the
   identity; three comparisons an element whatever r is. fwd, back: n + 2r floats each (back first
   holds the padded line, then its backward extremes in place). One function for min, one for max. */
#define VE_FILTER_LINE(name, BETTER, IDENTITY)                                                        \
    static void name(const float *src, float *dst, int n, int step, int r, float *fwd, float *back) { \
        const int k = 2 * r + 1, m = n + 2 * r;                                                       \
        for (int p = 0; p < r; p++) back[p] = back[r + n + p] = IDENTITY;                              \
        for (int i = 0; i < n; i++) back[r + i] = src[(long)i * step];                                 \
        for (int p = 0; p < m; p += k) {                                                                \
            const int end = imin(p + k, m);                                                             \
            float b = fwd[p] = back[p];                                                                 \
            for (int q = p + 1; q < end; q++) fwd[q] = b = BETTER(b, back[q]);                          \
        }                                                                                               \
        for (int p = (m - 1) / k * k; p >= 0; p -= k) {                                                 \
            const int end = imin(p + k, m);                                                             \
            float b = back[end - 1];                                                                    \
            for (int q = end - 2; q >= p; q--) back[q] = b = BETTER(b, back[q]);                        \
        }                                                                                               \
        for (int i = 0; i < n; i++) dst[(long)i * step] = BETTER(back[i], fwd[i + k - 1]);             \
    }
#define VE_LESS(a, b) ((a) < (b) ? (a) : (b))
#define VE_MORE(a, b) ((a) > (b) ? (a) : (b))
VE_FILTER_LINE(min_line, VE_LESS, INFINITY)
VE_FILTER_LINE(max_line, VE_MORE, -INFINITY)
#undef VE_LESS
#undef VE_MORE
#undef VE_FILTER_LINE

/* min (or max) over a (2r+1)-square, clipped at the edges; separable, columns first, in place (a
   line is copied before it is written); work: 2 (max(w, h) + 2r) */
static void filter(image *g, int r, int is_min, float *work) {
    const int side = imax(g->w, g->h) + 2 * r;
    void (*line)(const float *, float *, int, int, int, float *, float *) = is_min ? min_line : max_line;
    for (int x = 0; x < g->w; x++) line(g->a + x, g->a + x, g->h, g->w, r, work, work + side);
    for (int y = 0; y < g->h; y++) line(g->a + (long)y * g->w, g->a + (long)y * g->w, g->w, 1, r, work, work + side);
}

static int opening(image *g, int r) {
    const size_t mark = used;
    float *work = take((size_t)2 * (imax(g->w, g->h) + 2 * r));
    if (!work) return 0;
    filter(g, r, 1, work);
    filter(g, r, 0, work);
    used = mark;
    return 1;
}

/* Row yi of grid g extended p cells past its left and right edges (Python's _light_opening: 2 x the
   edge - its mirror image where that is more than the edge, else the edge) */
static void extended_row(const image *g, int p, int yi, float *row) {
    const float *v = g->a + (size_t)yi * g->w, e0 = v[0], e1 = v[g->w - 1];
    memcpy(row + p, v, sizeof(float) * g->w);
    for (int k = 1; k <= p; k++) {
        const int m = imin(k, g->w - 1);
        row[p - k] = fmax2(2.0f * e0 - v[m], e0), row[p + g->w - 1 + k] = fmax2(2.0f * e1 - v[g->w - 1 - m], e1);
    }
}

/* Python's _light_opening of grid g, into out: the grid extended p = 2r cells past each edge (rows
   first, then columns over the widened rows), opened, and cut back. The extended grid is made a
   row at a time and its min filter kept only within r of the grid's columns, where the max filter
   reads it: the grid's cells see the same windows as in the whole extended grid (a min or max does
   not depend on the order it is taken in). out: rows of the pool's memory, read where they lie. */
static int light_opening(const image *g, int r, grid *out) {
    const int p = 2 * r, pw = g->w + 2 * p, ph = g->h + 2 * p, hw = g->w + 2 * r, side = imax(pw, ph) + 2 * r;
    float *opened = take((size_t)ph * hw);
    if (!opened) return 0;
    const grid m = {hw, ph, hw, opened};
    const size_t mark = used;
    float *row = take((size_t)pw), *first = take((size_t)pw), *last = take((size_t)pw), *mirror = take((size_t)pw);
    float *work = take((size_t)2 * side), *col = take((size_t)ph);
    if (!row || !first || !last || !mirror || !work || !col) return 0;
    extended_row(g, p, 0, first), extended_row(g, p, g->h - 1, last);
    for (int y = 0; y < ph; y++) {
        if (y >= p && y < p + g->h) extended_row(g, p, y - p, row);
        else { /* rows beyond the top and bottom, from the extended rows */
            const int k = y < p ? p - y : y - (p + g->h - 1), mm = imin(k, g->h - 1);
            const float *edge = y < p ? first : last;
            extended_row(g, p, y < p ? mm : g->h - 1 - mm, mirror);
            for (int x = 0; x < pw; x++) row[x] = fmax2(2.0f * edge[x] - mirror[x], edge[x]);
        }
        min_line(row, row, pw, 1, r, work, work + side);
        memcpy(grid_row(&m, y), row + r, sizeof(float) * hw);
    }
    for (int x = 0; x < hw; x++) { /* down the columns: the min over all rows, then the max over those within r of the grid's */
        for (int y = 0; y < ph; y++) col[y] = grid_row(&m, y)[x];
        min_line(col, col, ph, 1, r, work, work + side);
        max_line(col + r, col + r, g->h + 2 * r, 1, r, work, work + side);
        for (int y = p; y < p + g->h; y++) grid_row(&m, y)[x] = col[y];
    }
    for (int y = p; y < p + g->h; y++) max_line(grid_row(&m, y), grid_row(&m, y), hw, 1, r, work, work + side);
    *out = (grid){g->w, g->h, hw, opened + (size_t)p * hw + r}; /* the grid's own cells */
    used = mark; /* the line buffers go */
    return 1;
}

/* Bilinear between cell centres at pixel (x, y) (Python's _upsample, float32 as numpy) */
static void cell_weight(int k, int cell, int size, int *i0, int *i1, float *t) {
    double u = (k + 0.5) / cell - 0.5;
    u = u < 0 ? 0 : (u > size - 1 ? size - 1 : u);
    *i0 = (int)floor(u), *i1 = imin(*i0 + 1, size - 1), *t = (float)(u - *i0);
}

/* The upsampled plane row by row, so that a step reads it without holding it: each column's two
   cells and weight once, and one row of the grid and one of the plane. */
typedef struct {
    grid g; /* (its values stay where they are) */
    int cell, w, *x0, *x1;
    float *tx, *r, *row;
} upsampler;

/* an upsampler of g to width w, from the pool (the caller gives it back) */
static int upsampler_take(const grid *g, int cell, int w, upsampler *u) {
    *u = (upsampler){*g, cell, w, (int *)take((size_t)w), (int *)take((size_t)w), take((size_t)w),
                     take((size_t)g->w), take((size_t)w)};
    if (!u->x0 || !u->x1 || !u->tx || !u->r || !u->row) return 0;
    for (int x = 0; x < w; x++) cell_weight(x, cell, g->w, &u->x0[x], &u->x1[x], &u->tx[x]);
    return 1;
}

/* row y of the plane: between grid rows, then between columns (numpy's order) */
static const float *upsampled_row(const upsampler *u, int y) {
    int y0, y1;
    float ty;
    cell_weight(y, u->cell, u->g.h, &y0, &y1, &ty);
    const float *a = grid_row(&u->g, y0), *b = grid_row(&u->g, y1);
    for (int x = 0; x < u->g.w; x++) u->r[x] = a[x] * (1.0f - ty) + b[x] * ty;
    for (int x = 0; x < u->w; x++) u->row[x] = u->r[u->x0[x]] * (1.0f - u->tx[x]) + u->r[u->x1[x]] * u->tx[x];
    return u->row;
}

/* Mean over a (2r+1)-square, edge pixels repeated past the border: float64 sums, as numpy's (the
   padded image's cumsum(0).cumsum(1), c, and its corners' differences), in place. Row y of the mean
   reads rows y and y + k of c, and row Y of c the columns' running sums down to image row Y - 1 - r:
   c is made a row at a time, k + 1 rows kept, each image row read before the mean is written there. */
static int box_mean(image *img, int r) {
    const int w = img->w, h = img->h, pw = w + 2 * r + 1, k = 2 * r + 1;
    const size_t mark = used;
    double *column = (double *)(void *)take((size_t)pw * 2), *c = (double *)(void *)take((size_t)pw * (k + 1) * 2);
    if (!column || !c) return 0;
    for (int x = 0; x < pw; x++) column[x] = 0.0;
    for (int y = 0, next = 0; y < h; y++) {
        for (; next <= y + k; next++) { /* row `next` of c: 0 first, then down the columns and along the row */
            double *row = c + (size_t)(next % (k + 1)) * pw;
            const int sy = imin(imax(next - 1 - r, 0), h - 1);
            row[0] = 0.0;
            for (int x = 1; x < pw; x++) {
                column[x] += next ? img->a[(size_t)sy * w + imin(imax(x - 1 - r, 0), w - 1)] : 0.0;
                row[x] = row[x - 1] + column[x];
            }
        }
        const double *top = c + (size_t)(y % (k + 1)) * pw, *bottom = c + (size_t)((y + k) % (k + 1)) * pw;
        for (int x = 0; x < w; x++) {
            double total = bottom[x + k] - top[x + k] - bottom[x] + top[x];
            img->a[(size_t)y * w + x] = (float)(total / (k * k));
        }
    }
    used = mark;
    return 1;
}

/* The ink map (Python's InkMap): what a crop of the ink needs, without a plane of floats. The ink
   is made again row by row from the grey levels, the paper's light and noise (grids), the
   strongest ink and a bit a pixel for the pieces that are not kept. */
typedef struct {
    bytes g;              /* the working image's grey levels (a table around a page made paper) */
    int dark;             /* dark ink on light paper */
    const float *ink;     /* 256: each grey level's ink, white on black */
    upsampler light;      /* the paper's light, a row at a time from its grid */
    const float *plane;   /* the deviation, when the page was smoothed (a plane then); else NULL */
    upsampler noise;      /* the paper's noise, the same way */
    float strongest;
    const unsigned char *unkept; /* bits: pixels of pieces that are not kept (their ink is 0) */
    int n, (*box)[4];     /* the kept pieces: top, bottom, left, right (ends exclusive) */
    float *row;           /* a row of the map's ink */
} ink_map;

/* row y of the ink (Python's 1 - grey when dark on light, else the grey) */
static void ink_row(const void *map, int y, float *out) {
    const ink_map *m = (const ink_map *)map;
    const unsigned char *g = m->g.a + (size_t)y * m->g.w;
    for (int x = 0; x < m->g.w; x++) out[x] = m->ink[g[x]];
}

/* row y of the ink's deviation from the paper: 1 - grey / paper (dark on light: light multiplies
   the paper's reflectance), else the ink less the light */
static void deviation_row(const ink_map *m, int y, float *d) {
    const int w = m->g.w;
    if (m->plane) {
        memcpy(d, m->plane + (size_t)y * w, sizeof(float) * w);
        return;
    }
    const float *b = upsampled_row(&m->light, y);
    const unsigned char *g = m->g.a + (size_t)y * w;
    /* (the polarity tested outside the loops: GCC recomputed a double comparison per pixel, a
       library call on single-precision FPUs) */
    if (m->dark)
        for (int x = 0; x < w; x++) d[x] = (m->ink[g[x]] - b[x]) / fmax2(1.0f - b[x], 1.0f / 255.0f);
    else
        for (int x = 0; x < w; x++) d[x] = m->ink[g[x]] - b[x];
}

static void deviation_source(const void *map, int y, float *out) { deviation_row((const ink_map *)map, y, out); }

/* The paper's noise (Python's _noise): each cell's robust deviation, opened; read row by row through
   an upsampler of its grid (both from the pool) */
static int noise_rows(ink_map *m, int shorter) {
    const int cell = imax(VE_PP_NOISE_CELL, shorter / VE_PP_NOISE_CELLS);
    image g;
    if (!cell_values(m, deviation_source, m->g.w, m->g.h, cell, mad_of, &g) || !opening(&g, radius_cells(shorter, cell)))
        return 0;
    const grid rows = whole(&g);
    return upsampler_take(&rows, cell, m->g.w, &m->noise);
}

/* The paper's light: cells of 1/LIGHT_CELLS of the shorter side (2 px at least), their medians
   opened, and an upsampler of the opened grid; the grid is kept where its medians were */
static int light_rows(ink_map *m, int shorter) {
    const int cell = imax(2, shorter / VE_PP_LIGHT_CELLS), r = radius_cells(shorter, cell);
    image medians;
    grid opened;
    if (!cell_values(m, ink_row, m->g.w, m->g.h, cell, median_of, &medians) || !light_opening(&medians, r, &opened))
        return 0;
    for (int y = 0; y < medians.h; y++) /* (each row lies above where it goes) */
        memmove(medians.a + (size_t)y * medians.w, grid_row(&opened, y), sizeof(float) * medians.w);
    used = (size_t)(medians.a - pool) + (size_t)medians.w * medians.h;
    const grid cells = whole(&medians);
    return upsampler_take(&cells, cell, m->g.w, &m->light);
}

/* ---- the page, not the table (Python's page_only) ---- */

/* min (is_min) or max of a 0/1 line of n bytes `step` apart over [i - r, i + r] clipped to [0, n), in
   place: a running count of the ones in the window. copy: n bytes. */
static void morph_line(unsigned char *a, int n, long step, int r, int is_min, unsigned char *copy) {
    int lo = 0, hi = -1, ones = 0;
    for (int i = 0; i < n; i++) copy[i] = a[i * step];
    for (int i = 0; i < n; i++) {
        for (const int end = imin(i + r, n - 1); hi < end;) ones += copy[++hi];
        for (const int start = imax(i - r, 0); lo < start;) ones -= copy[lo++];
        a[i * step] = (unsigned char)(is_min ? ones == hi - lo + 1 : ones > 0);
    }
}

/* Python's _shrink (is_min) or _grow of a 0/1 grid by a (2r+1)-square (separable, clipped at the
   edges), into out */
static int morph(const unsigned char *mask, int w, int h, int r, int is_min, unsigned char *out) {
    const size_t mark = used;
    unsigned char *copy = (unsigned char *)take((size_t)imax(w, h) / 4 + 1);
    if (!copy) return 0;
    memcpy(out, mask, (size_t)w * h);
    for (int x = 0; x < w; x++) morph_line(out + x, h, w, r, is_min, copy);
    for (int y = 0; y < h; y++) morph_line(out + (long)y * w, w, 1, r, is_min, copy);
    used = mark;
    return 1;
}

/* 8-connected pieces of a mask (the pixels holding `bit`): labels 1..n in order of each piece's
   first pixel (row by row), as Python numbers them. Two passes with union-find on provisional
   labels. A provisional label starts where no pixel to the W, NW, N or NE is ink, so no two starts
   touch: parent needs ceil(h / 2) ceil(w / 2) + 1 labels. */
static int label_pieces(const unsigned char *mask, unsigned char bit, int w, int h, label_t *labels, label_t *parent) {
    int next = 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x, root = 0;
            labels[i] = 0;
            if (!(mask[i] & bit)) continue;
            const int nb[4][2] = {{0, -1}, {-1, -1}, {-1, 0}, {-1, 1}}; /* W, NW, N, NE: seen already */
            for (int k = 0; k < 4; k++) {
                int yy = y + nb[k][0], xx = x + nb[k][1];
                if (yy < 0 || xx < 0 || xx >= w || !labels[yy * w + xx]) continue;
                int other = labels[yy * w + xx];
                while (parent[other] != other) other = parent[other] = parent[parent[other]];
                if (!root) root = other;
                else if (other != root) {
                    int lo = imin(root, other);
                    parent[imax(root, other)] = (label_t)lo, root = lo;
                }
            }
            if (!root) root = next, parent[next] = (label_t)next, next++;
            labels[i] = (label_t)root;
        }
    /* Roots renumbered 1..n in order (a root is its piece's first provisional label). A parent is
       below its child, so in ascending order each parent holds its final number already. */
    int n = 0;
    for (int l = 1; l < next; l++) parent[l] = parent[l] == l ? (label_t)++n : parent[parent[l]];
    for (int i = 0; i < w * h; i++)
        if (labels[i]) labels[i] = parent[labels[i]];
    return n;
}

typedef struct {
    label_t *labels, *area; /* area: each piece's (1..n), in the union-find's table */
    int n;
} pieces;

/* 8-connected pieces of a mask with their areas */
static int find_pieces(const unsigned char *mask, unsigned char bit, int w, int h, pieces *p) {
    p->labels = (label_t *)take(((size_t)w * h * sizeof(label_t) + 3) / 4);
    p->area = (label_t *)take((((size_t)(h + 1) / 2 * (size_t)((w + 1) / 2) + 2) * sizeof(label_t) + 3) / 4);
    if (!p->labels || !p->area) return 0;
    p->n = label_pieces(mask, bit, w, h, p->labels, p->area);
    for (int l = 0; l <= p->n; l++) p->area[l] = 0;
    for (long i = 0; i < (long)w * h; i++) p->area[p->labels[i]]++;
    p->area[0] = 0; /* (the pixels outside every piece) */
    return 1;
}

/* a piece's box: top, bottom, left, right (ends exclusive) */
static void piece_box(const pieces *p, int w, int h, int l, int *b) {
    b[0] = h, b[1] = 0, b[2] = w, b[3] = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (p->labels[y * w + x] == l) b[0] = imin(b[0], y), b[1] = imax(b[1], y + 1), b[2] = imin(b[2], x), b[3] = imax(b[3], x + 1);
}

/* ---- the page, not the table (Python's page_only) ---- */

/* The page grid's cells in half grey levels (2 x the median of a cell's levels): a grid, or, where
   a cell is one pixel, twice the grey image's own levels; turned over (510 - v) while the dark
   side is looked at as a page */
typedef struct {
    const unsigned char *grey;
    const unsigned short *grid;
    int dark;
} halves;

static int half(const halves *c, long i) {
    const int v = c->grid ? c->grid[i] : 2 * c->grey[i];
    return c->dark ? 510 - v : v;
}

/* numpy's median of the half levels a histogram (511 bins) counts */
static double hist_median(const long *hist, long count) {
    const int v = hist_rank(hist, (count - 1) / 2);
    return count % 2 ? v : (v + hist_rank(hist, count / 2)) / 2.0;
}

#define VE_HALVES 511 /* half grey levels 0..510 */

/* Python's _page_cells: 1 and the page's cells in `page` when the grid shows a page on a table,
   touching under `most` of the frame's border; 0 when not, -1 when out of memory */
static int page_test(const halves *c, int gw, int gh, double most, unsigned char *page) {
    const long n = (long)gw * gh;
    long *hist = (long *)take((VE_HALVES * sizeof(long) + 3) / 4);
    if (!hist) return -1;
    memset(hist, 0, VE_HALVES * sizeof(long));
    for (long i = 0; i < n; i++) hist[half(c, i)]++;
    /* Otsu over the levels there are: the split with the largest variance between the sides, from
       exact sums */
    double total = 0.0, sums = 0.0, best = -1.0, low = 0.0, high = 0.0;
    long below = 0;
    int cut = -1;
    for (int v = 0; v < VE_HALVES; v++) total += (double)v * hist[v];
    for (int v = 0; v < VE_HALVES; v++) {
        if (!hist[v]) continue;
        below += hist[v], sums += (double)v * hist[v];
        if (below == n) break;
        const double d = sums / below - (total - sums) / (n - below), between = d * d * (double)below * (double)(n - below);
        if (between > best) best = between, cut = v, low = sums / below, high = (total - sums) / (n - below);
    }
    if (cut < 0 || high - low < VE_PP_PAGE_CONTRAST * 510) return 0;
    unsigned char *bright = take_bytes((size_t)n);
    const size_t marked = used; /* each labelling goes once read */
    if (!bright) return -1;
    for (long i = 0; i < n; i++) bright[i] = half(c, i) > cut;
    pieces lit, dark;
    if (!find_pieces(bright, 1, gw, gh, &lit)) return -1;
    if (!lit.n) return 0;
    int i = 1, b[4];
    long area = 0, holes = 0;
    for (int l = 2; l <= lit.n; l++)
        if (lit.area[l] > lit.area[i]) i = l;
    piece_box(&lit, gw, gh, i, b);
    for (long j = 0; j < n; j++) area += page[j] = lit.labels[j] == i, bright[j] = !page[j];
    used = marked;
    if (!find_pieces(bright, 1, gw, gh, &dark)) return -1;
    /* dark pieces that touch no border are the writing, holes: those that do are marked (area 0) */
    for (int x = 0; x < gw; x++) dark.area[dark.labels[x]] = dark.area[dark.labels[(long)(gh - 1) * gw + x]] = 0;
    for (int y = 0; y < gh; y++) dark.area[dark.labels[(long)y * gw]] = dark.area[dark.labels[(long)y * gw + gw - 1]] = 0;
    for (long j = 0; j < n; j++) holes += bright[j] = dark.labels[j] && dark.area[dark.labels[j]];
    if (holes > VE_PP_PAGE_WRITING * (area + holes)) return 0; /* mostly hole: a light ring, not a page */
    for (long j = 0; j < n; j++) page[j] = page[j] || bright[j];
    used = marked;
    area += holes;
    long border = 0;
    for (int x = 0; x < gw; x++) border += page[x] + page[(long)(gh - 1) * gw + x];
    for (int y = 0; y < gh; y++) border += page[(long)y * gw] + page[(long)y * gw + gw - 1];
    const double share = (double)area / n, solid = (double)area / ((double)(b[1] - b[0]) * (b[3] - b[2]));
    if (!(VE_PP_PAGE_MIN <= share && share <= VE_PP_PAGE_MAX && solid >= VE_PP_PAGE_SOLID && border < most * 2 * (gw + gh)))
        return 0;
    /* a page's edge is a step: the rings two cells inside and outside the split differ. The page
       shrunk by 2 and 3 and grown by 2 and 3, as bits 0-3 of `bright` */
    unsigned char *t = take_bytes((size_t)n);
    if (!t || !morph(page, gw, gh, 2, 1, bright)) return -1;
    for (int r = 1; r < 4; r++) {
        if (!morph(page, gw, gh, 2 + r % 2, r < 2, t)) return -1;
        for (long j = 0; j < n; j++) bright[j] |= (unsigned char)(t[j] << r);
    }
    long *inside = (long *)take((2 * VE_HALVES * sizeof(long) + 3) / 4), *outside = inside + VE_HALVES, ins = 0, outs = 0;
    if (!inside) return -1;
    memset(inside, 0, 2 * VE_HALVES * sizeof(long));
    for (long j = 0; j < n; j++) {
        if ((bright[j] & 3) == 1) inside[half(c, j)]++, ins++;
        if ((bright[j] & 12) == 8) outside[half(c, j)]++, outs++;
    }
    if (!ins || !outs) return 0;
    return !(hist_median(inside, ins) - hist_median(outside, outs) < VE_PP_PAGE_CONTRAST * 510);
}

/* page_test on the light side, else on the dark one (Python's page_only), its working memory
   given back */
static int page_cells(halves *c, int gw, int gh, unsigned char *page) {
    const size_t mark = used;
    int found = page_test(c, gw, gh, 0.5, page);
    used = mark;
    if (!found) {
        c->dark = 1;
        found = page_test(c, gw, gh, VE_PP_PAGE_INSIDE, page);
        c->dark = 0, used = mark;
    }
    return found;
}

#define VE_UNKNOWN 0xFFFF

/* Python's _fill_outward on half levels: unknown cells take the mean of their known neighbours,
   rounded (halves up), ring by ring (in place: a cell filled in this ring is marked in
   `filled_now`, and is not known until the next) */
static void fill_outward(unsigned short *g, int w, int h, unsigned char *filled_now) {
    for (;;) {
        int missing = 0, filled = 0;
        memset(filled_now, 0, (size_t)w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const long i = (long)y * w + x;
                if (g[i] != VE_UNKNOWN) continue;
                long total = 0, count = 0;
                missing = 1;
                for (int yy = imax(y - 1, 0); yy <= imin(y + 1, h - 1); yy++)
                    for (int xx = imax(x - 1, 0); xx <= imin(x + 1, w - 1); xx++) {
                        const long j = (long)yy * w + xx;
                        if (g[j] != VE_UNKNOWN && !filled_now[j]) total += g[j], count++;
                    }
                if (count) g[i] = (unsigned short)((2 * total + count) / (2 * count)), filled_now[i] = 1, filled = 1;
            }
        if (!missing || !filled) return;
    }
}

/* the grey level nearest half level v (Python's rint(v / 2), clipped); v: float32 as upsampled */
static unsigned char nearest_level(float v) {
    const float l = rintf(v / 2.0f);
    return (unsigned char)(l < 0.0f ? 0 : (l > 255.0f ? 255 : l));
}

/* a half-level grid as float32 (Python's astype), unknown as -1 */
static float half_float(unsigned short v) {
    /* (no branch: GCC would convert in an IT block, which the assembler refuses on the Cortex-M55) */
    return (float)((int)v - ((int)(v == VE_UNKNOWN) << 16));
}

/* grey levels as floats, for a page grid's medians */
static void level_row(const void *plane, int y, float *out) {
    const bytes *g = (const bytes *)plane;
    for (int x = 0; x < g->w; x++) out[x] = (float)g->a[(size_t)y * g->w + x];
}

/* Python's page_only, in place: 1 when the image was a page on a table, 0 when it stays, -1 when
   out of memory */
static int page_only(bytes *grey) {
    const int w = grey->w, h = grey->h;
    if (imin(w, h) < VE_PP_PAGE_MIN_SIDE) return 0;
    const size_t mark = used;
    const int cell = imax(1, imax(w, h) / VE_PP_PAGE_GRID), gw = (w + cell - 1) / cell, gh = (h + cell - 1) / cell;
    const long n = (long)gw * gh;
    halves cells = {grey->a, NULL, 0}; /* a one-pixel cell's median is its pixel: the grey itself */
    if (cell > 1) {
        image medians;
        unsigned short *grid;
        if (!cell_values(grey, level_row, w, h, cell, median_of, &medians)) return -1;
        if (!(grid = (unsigned short *)take(((size_t)n * 2 + 3) / 4))) return -1;
        for (long i = 0; i < n; i++) grid[i] = (unsigned short)(2.0f * medians.a[i]);
        cells.grid = grid;
    }
    unsigned char *page = take_bytes((size_t)n);
    if (!page) return -1;
    const int found = page_cells(&cells, gw, gh, page);
    if (found <= 0) {
        used = mark;
        return found;
    }
    /* cells on the page's edge hold some table: the light is carried out from the cells inside them */
    unsigned char *a = take_bytes((size_t)n);
    unsigned short *light = (unsigned short *)take(((size_t)n * 2 + 3) / 4);
    if (!a || !light || !morph(page, gw, gh, 1, 1, a)) return -1;
    for (long i = 0; i < n; i++) light[i] = a[i] ? (unsigned short)half(&cells, i) : VE_UNKNOWN;
    fill_outward(light, gw, gh, a);
    const int margin = 1 + imax(1, pyround(VE_PP_PAGE_MARGIN * imin(w, h) / cell));
    if (!morph(page, gw, gh, margin, 1, a)) return -1; /* the page kept: the rest is table */
    if (cell == 1) {
        for (long i = 0; i < n; i++)
            if (!a[i]) grey->a[i] = nearest_level(half_float(light[i]));
    } else { /* the table (where the page is not kept) gets the light carried outward, row by row */
        image keep = {gw, gh, take((size_t)n)}, lit = {gw, gh, take((size_t)n)};
        if (!keep.a || !lit.a) return -1;
        for (long i = 0; i < n; i++) keep.a[i] = a[i], lit.a[i] = half_float(light[i]);
        upsampler kept_rows, lit_rows;
        const grid keep_rows = whole(&keep), light_rows = whole(&lit);
        if (!upsampler_take(&keep_rows, cell, w, &kept_rows) || !upsampler_take(&light_rows, cell, w, &lit_rows)) return -1;
        for (int y = 0; y < h; y++) {
            const float *kept = upsampled_row(&kept_rows, y), *l = upsampled_row(&lit_rows, y);
            for (int x = 0; x < w; x++)
                if (!(kept[x] > 0.999f)) grey->a[(size_t)y * w + x] = nearest_level(l[x]);
        }
    }
    used = mark;
    return 1;
}

/* ---- printed lines are paper (Python's printed_lines) ---- */

/* Python's _skew: the angle (radians) within LINE_ANGLE of level at which the ink's rows pile up
   most sharply. The ink's (sub-sampled) pixels are kept column by column: ys holds their rows,
   column x's from first[x] to first[x + 1], so an angle moves a whole column's rows by its one
   rounded rise. hist: rows + columns + 2 ints; shift: a column's rise (x tan, rounded). */
typedef struct {
    const unsigned short *ys; /* rows below 2^16 (see ve_work_side_fits) */
    const int *first;
    long *hist;
    int *shift, w, span;
} ink_columns;

/* A mask read through a view of the flags plane: (y, x) is byte y sy + x sx, in the mask when it
   holds a bit of `in` and none of `out`. A transposed view swaps the strides (no copy). */
typedef struct {
    unsigned char *f;
    long sy, sx;
    int h, w;
    unsigned char in, out;
} view;

static int on(const view *v, int y, int x) {
    const unsigned char b = v->f[y * v->sy + x * v->sx];
    return (b & v->in) && !(b & v->out);
}

/* rint(x * t), as the double product rounds: from a float product wherever that lies clear of a
   half (its error is under 2e-5 for |x| < 4096 and |t| < 1, so the double's rounding is the same),
   and from the double product itself where it does not (double arithmetic is a library call on
   single-precision FPUs). */
static int rounded_product(int x, double t, float tf) {
    const float v = (float)x * tf;
    const int r = (int)(v + (v < 0.0f ? -0.5f : 0.5f)); /* the nearest integer, away from a half */
    const float d = v - (float)r;
    return x < 4096 && d > -0.499f && d < 0.499f ? r : (int)rint(x * t);
}

static double peakiness(const ink_columns *c, double degrees) {
    const double t = tan(degrees * (PI / 180.0));
    int most = 0;
    for (int x = 0; x < c->w; x++) c->shift[x] = rounded_product(x, t, (float)t), most = imax(most, c->shift[x]);
    /* rows counted from the lowest a sheared row can be (shift[0] = 0, so most >= 0), not the
       lowest there is: the histogram moves, its sum of squares does not */
    memset(c->hist, 0, sizeof(long) * c->span);
    for (int x = 0; x < c->w; x++) {
        long *column = c->hist + most - c->shift[x];
        for (int j = c->first[x]; j < c->first[x + 1]; j++) column[c->ys[j]]++;
    }
    long long dot = 0; /* numpy's int64 dot, exact */
    for (int i = 0; i < c->span; i++) dot += (long long)c->hist[i] * c->hist[i];
    return (double)dot;
}

static double best_angle(const ink_columns *c, double start, double stop, double step) {
    const int n = (int)ceil((stop - start) / step);
    const double delta = (start + step) - start; /* numpy's arange: start + i * delta */
    double best = start, most = -1.0;
    for (int i = 0; i < n; i++) {
        double d = i == 1 ? start + step : start + i * delta, v = peakiness(c, d);
        if (v > most) most = v, best = d;
    }
    return best;
}

static double skew(const view *m, long total) {
    const int h = m->h, w = m->w;
    const long step = total / 100000 > 1 ? total / 100000 : 1;
    const int k = (int)((total + step - 1) / step);
    unsigned short *ys = (unsigned short *)take((size_t)k / 2 + 1);
    int *first = (int *)take((size_t)w + 1), *shift = (int *)take((size_t)w);
    ink_columns c = {ys, first, (long *)take((size_t)(h + w + 2) * sizeof(long) / sizeof(float) + 1), shift, w,
                     h + w + 2};
    if (!ys || !first || !shift || !c.hist) return NAN;
    long seen = 0;
    memset(first, 0, sizeof(int) * ((size_t)w + 1));
    for (int y = 0; y < h; y++) /* Python's sub-sample (every step-th ink pixel, row by row), counted by column */
        for (int x = 0; x < w; x++)
            if (on(m, y, x) && seen++ % step == 0) first[x + 1]++;
    for (int x = 0; x < w; x++) first[x + 1] += first[x], shift[x] = first[x]; /* shift: each column's next slot */
    seen = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (on(m, y, x) && seen++ % step == 0) ys[shift[x]++] = (unsigned short)y;
    double best = best_angle(&c, -VE_PP_LINE_ANGLE, VE_PP_LINE_ANGLE + 0.01, 0.5);
    best = best_angle(&c, best - 0.4, best + 0.41, 0.1);
    return best * (PI / 180.0);
}

/* Runs of a row (of `slack`) with breaks of up to LINE_GAP bridged: the next run from *x on */
static int next_run(const unsigned char *row, const unsigned char *below, int w, int *x, int *x0, int *x1) {
#define SLACK(c) (row[c] || (below && below[c]))
    while (*x < w && !SLACK(*x)) ++*x;
    if (*x >= w) return 0;
    *x0 = *x1 = *x;
    for (++*x; *x < w; ++*x)
        if (SLACK(*x)) {
            if (*x - *x1 > VE_PP_LINE_GAP + 1) break;
            *x1 = *x;
        }
#undef SLACK
    return 1;
}

/* a run's height is kept in a byte (level_lines' sh): a median over 127 would not be exact */
typedef char ve_max_thick_fits[VE_PP_MAX_THICK < 127 ? 1 : -1];

/* the flags plane's bits (find_ink) */
#define VE_FAINT 1   /* above the faint marks' contrast: where printed lines are looked for */
#define VE_LEVEL 2   /* a level candidate line, found on the faint marks (first pass) */
#define VE_PLUMB 4   /* a plumb one */
#define VE_LINE 8    /* a printed line's pixel (at the end; VE_ACROSS before) */
#define VE_ACROSS 8  /* a stroke's pixel where it crosses a candidate, on the candidate's row */
#define VE_FOUND 16  /* a pass's candidates; then a mask to label */
#define VE_SURE 32   /* a comb's tooth */
#define VE_LEVELS 64 /* a level candidate of either pass */
#define VE_PLUMBS 128

/* A comb's bars, by group (a bar's rows within 2 of each other): first row, length, start,
   thickness; picked: 1 a tooth, 2 in a comb's cells; the sheared mask they were found in (H x w,
   nonzero: ink); the view they were sheared from and its columns' offsets (sheared row = y +
   offset[x]), whose faint marks a comb's spine is looked for in */
typedef struct {
    const int *at, *size, *from;
    const double *thick;
    unsigned char *picked;
    int groups;
    const unsigned char *sh;
    int H, w;
    const view *m;
    const int *offset;
    const unsigned char *lined; /* on a candidate line's row: a line's piece */
} bars;

/* Python's _alike: bars i and j of one length and thickness, side by side */
static int alike(const bars *b, int i, int j) {
    return imax(b->size[i] - b->size[j], b->size[j] - b->size[i]) <= VE_PP_LINE_GAP &&
           fabs(b->thick[i] - b->thick[j]) <= 1 &&
           imin(b->from[i] + b->size[i], b->from[j] + b->size[j]) > imax(b->from[i], b->from[j]);
}

/* Python's _across: bar j is bar i lengthened by writing that touches its ends */
static int across(const bars *b, int i, int j) {
    return fabs(b->thick[i] - b->thick[j]) <= 1 && b->from[j] <= b->from[i] + VE_PP_LINE_GAP &&
           b->from[j] + b->size[j] >= b->from[i] + b->size[i] - VE_PP_LINE_GAP && 4 * b->size[j] <= 5 * b->size[i];
}

/* ink in the sheared mask's row r, a row and the next as one */
static int ink_at(const bars *b, int r, int x) {
    return b->sh[r * b->w + x] || (r + 1 < b->H && b->sh[(r + 1) * b->w + x]);
}

/* Python's _merged: whether a tooth like bar g stands within `reach` of row `at`, merged with
   writing: a row's run of ink through the bar's middle column, along its length (a pixel short at
   most) and no further than LINE_GAP px past either end of it */
static int merged(const bars *b, int at, int reach, int g) {
    const int x0 = b->from[g], n = b->size[g], mid = x0 + n / 2;
    for (int r = imax(0, at - reach); r <= at + reach && r < b->H; r++) {
        if (!ink_at(b, r, mid)) continue; /* (mid < x0 + n <= w) */
        int first = mid, end = mid + 1;
        while (first > 0 && ink_at(b, r, first - 1)) first--;
        while (end < b->w && ink_at(b, r, end)) end++;
        if (end - first >= n - 1 && first >= x0 - VE_PP_LINE_GAP && end <= x0 + n + VE_PP_LINE_GAP) return 1;
    }
    return 0;
}

/* a faint mark in the sheared view's row r (Python's joined), a row and the next as one */
static int mark_at(const bars *b, int r, int x) {
    const int y = r - b->offset[x];
    return (y >= 0 && y < b->m->h && (b->m->f[y * b->m->sy + x * b->m->sx] & VE_FAINT)) ||
           (y + 1 >= 0 && y + 1 < b->m->h && (b->m->f[(y + 1) * b->m->sy + x * b->m->sx] & VE_FAINT));
}

/* Python's _followed: whether faint marks run unbroken from (row, c) to row end, a column aside at
   most a row */
static int followed(const bars *b, int row, int end, int c) {
    const int step = end > row ? 1 : -1;
    for (int r = row; r != end;) {
        r += step;
        if (mark_at(b, r, c)) continue;
        if (c > 0 && mark_at(b, r, c - 1)) c--;
        else if (c + 1 < b->w && mark_at(b, r, c + 1)) c++;
        else return 0;
    }
    return 1;
}

/* Python's _spine: whether a line of faint marks runs across the bars through row `row` within
   LINE_GAP columns of x (a bar's end), unbroken from row top to row bottom: a comb's spine */
static int spine(const bars *b, int row, int top, int bottom, int x) {
    for (int c = imax(0, x - VE_PP_LINE_GAP); c <= x + VE_PP_LINE_GAP && c < b->w; c++)
        if (mark_at(b, row, c) && followed(b, row, top, c) && followed(b, row, bottom, c)) return 1;
    return 0;
}

/* Python's _chain: how many bars stand at one pitch with bars i and j, and into *one how many of
   them are alike both; with mark, they are picked and the bars in their cells set apart */
static int chain(const bars *b, int i, int j, int *one, int mark) {
    const int pitch = b->at[j] - b->at[i], slack = imax(8 * VE_PP_LINE_GAP, pitch); /* eighths of a pixel */
    int n = 2, skipped = 0, first = b->at[i], last_at = b->at[j];
    *one = 2;
    int lo = imin(b->from[i], b->from[j]), hi = imax(b->from[i] + b->size[i], b->from[j] + b->size[j]);
    if (mark) b->picked[i] = b->picked[j] = 1;
    for (int step = 1; step >= -1; step -= 2) {
        int last = step > 0 ? j : i, ref = last, skip = 1;
        while (skip == 1 || (skip == 2 && !skipped)) {
            const int want = b->at[last] + step * skip * pitch;
            int k = last + step, found = -1, both = 0;
            while (k >= 0 && k < b->groups && step * 8 * (want - b->at[k]) > slack) k += step;
            for (; k >= 0 && k < b->groups && step * 8 * (b->at[k] - want) <= slack; k += step) {
                both = alike(b, i, k) && alike(b, j, k);
                if (!b->picked[k] && (both || across(b, ref, k))) {
                    found = k;
                    break;
                }
            }
            if (found < 0) {
                skip++;
                continue;
            }
            if (skip == 2 && !merged(b, b->at[last] + step * pitch, slack / 8, ref)) break; /* the tooth passed over */
            if (both) ref = found, ++*one;
            n++, skipped |= skip == 2, last = found, skip = 1;
            first = imin(first, b->at[found]), last_at = imax(last_at, b->at[found]);
            lo = imin(lo, b->from[found]), hi = imax(hi, b->from[found] + b->size[found]);
            if (mark) b->picked[found] = 1;
        }
    }
    /* a spine joins them, unless they are lines: it reaches the last tooth, and the first one's rows */
    const int top = imin(first + 2, b->at[i]), end = b->from[i] + b->size[i] - 1;
    const int line = b->size[i] >= VE_PP_LINE_ASPECT * b->thick[i] || b->lined[i];
    if (*one >= 3 && !line && !spine(b, b->at[i], top, last_at, b->from[i]) && !spine(b, b->at[i], top, last_at, end))
        *one = 0; /* (fewer than three alike are no chain: the spine would not matter) */
    if (mark)
        for (int g = 0; g < b->groups; g++)
            if (!b->picked[g] && first < b->at[g] && b->at[g] < last_at &&
                imin(b->from[g] + b->size[g], hi) > imax(b->from[g], lo))
                b->picked[g] = 2;
    return n;
}

/* Python's _teeth: the sheared rows of straight bars (length[r] > 0 from column start[r], of
   thickness bar[r]) that stand three or more in a row at one pitch, side by side, of one length
   (within LINE_GAP px) and thickness (within a pixel), into tooth: chains of three alike and the
   teeth that writing lengthens, taken longest first, of two alike the one at the wider pitch, a
   bar in one chain only and none in a chain's cells. A bar's rows within 2 of each other are one
   bar, at its first row, of its first longest run; a tooth's rows are those of its thickness,
   within a pixel; a chain counts only where a spine joins it (spine). sh: the sheared mask (H x w);
   m, offset: the view it was sheared from and its offsets; group, at, size, from: H ints; thick: H doubles;
   picked, lined: H bytes; lines: the candidate lines' thickness per row (-1: none). */
static void teeth(const int *length, const int *start, const double *bar, const double *lines, const unsigned char *sh,
                  int H, int w, const view *m, const int *offset, unsigned char *tooth, int *group, int *at, int *size,
                  int *from, double *thick, unsigned char *picked, unsigned char *lined) {
    int groups = 0;
    for (int r = 0, last = -3; r < H; r++) {
        if (!length[r]) continue;
        if (!groups || r - last > 2) at[groups] = r, size[groups] = 0, picked[groups] = 0, lined[groups] = 0, groups++;
        const int g = groups - 1;
        if (length[r] > size[g]) size[g] = length[r], thick[g] = bar[r], from[g] = start[r];
        group[r] = g, last = r;
    }
    for (int r = 0; r < H; r++) /* on the row of a candidate line as thick as the bar: a piece of it */
        if (length[r] && lines[r] >= 0 && fabs(lines[r] - thick[group[r]]) <= 1) lined[group[r]] = 1;
    const bars b = {at, size, from, thick, picked, groups, sh, H, w, m, offset, lined};
    for (;;) {
        int best = 0, best_pitch = 0, bi = -1, bj = -1;
        for (int i = 0; i < groups; i++)
            for (int j = i + 1; j < groups; j++) {
                if (picked[i] || picked[j] || !alike(&b, i, j)) continue;
                int one;
                const int n = chain(&b, i, j, &one, 0), pitch = at[j] - at[i];
                if (one >= 3 && (bi < 0 || n > best || (n == best && pitch > best_pitch)))
                    best = n, best_pitch = pitch, bi = i, bj = j;
            }
        if (bi < 0) break;
        int one;
        chain(&b, bi, bj, &one, 1);
    }
    for (int r = 0; r < H; r++) /* a tooth's rows of its thickness: a thick stroke beside it is none */
        tooth[r] = length[r] && picked[group[r]] == 1 && fabs(bar[r] - thick[group[r]]) <= 1;
}

/* Python's _level_lines: candidate printed lines within LINE_ANGLE of level in the view's mask,
   into `bit` (at the mask's pixels: a line's pixels are its own), and, with_teeth (the plumb
   passes), a comb's teeth among the straight bars also into VE_SURE; 0, or -1 when out of memory */
static int level_lines(const view *m, unsigned char bit, double *angle, int with_teeth) {
    const size_t mark = used;
    const int h = m->h, w = m->w;
    long total = 0;
    for (long i = 0; i < (long)w * h; i++) m->f[i] &= (unsigned char)~bit;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) total += on(m, y, x);
    if (!total) return 0;
    if (*angle != *angle) *angle = skew(m, total); /* (NaN: the ink's own) */
    const double t = tan(*angle);
    used = mark; /* the skew's columns go */
    int *offset = (int *)take((size_t)w), low = 0, high = 0;
    if (t != t || !offset) return -1;
    for (int x = 0; x < w; x++) offset[x] = (int)rint(-(double)x * t), low = imin(low, offset[x]);
    for (int x = 0; x < w; x++) offset[x] -= low, high = imax(high, offset[x]);
    const int H = h + high + 1; /* sheared row = y + offset[x]: a line at the skew becomes one row */
    /* the sheared mask, each ink pixel holding the height of its column's run of ink (0: no ink),
       up to 255: a line is at most MAX_THICK < 127 rows thick (ve_max_thick_fits), so a longer run
       decides as 255 does (a median over one is over 128 either way) */
    unsigned char *sh = take_bytes((size_t)H * w), *tooth = take_bytes((size_t)H), *picked = take_bytes((size_t)H);
    unsigned char *lined = take_bytes((size_t)H);
    float *extent = take((size_t)w), *scratch = take((size_t)w); /* heights below 2^24: exact as floats */
    /* per sheared row: a candidate line's thickness (-1: none), a straight bar's thickness and length
       (0: none); then, per bar, its group's first row, length and thickness */
    double *lines = (double *)take((size_t)2 * H), *bar = (double *)take((size_t)2 * H), *thick = (double *)take((size_t)2 * H);
    int *length = (int *)take((size_t)H), *start = (int *)take((size_t)H), *group = (int *)take((size_t)H);
    int *at = (int *)take((size_t)H), *size = (int *)take((size_t)H), *from = (int *)take((size_t)H);
    if (!sh || !tooth || !picked || !lined || !extent || !scratch || !lines || !bar || !thick || !length || !start || !group || !at ||
        !size || !from)
        return -1;
    memset(sh, 0, (size_t)H * w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (on(m, y, x)) sh[(y + offset[x]) * w + x] = 1;
    for (int x = 0; x < w; x++)
        for (int r = 0, top = 0; r <= H; r++) {
            if (r < H && sh[r * w + x]) continue;
            for (int k = top; k < r; k++) sh[k * w + x] = (unsigned char)imin(r - top, 255);
            top = r + 1;
        }
    const double thick_max = VE_PP_MAX_THICK;
    for (int r = 0; r < H; r++) lines[r] = -1.0, length[r] = 0, tooth[r] = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && with_teeth) { /* a comb's teeth are candidate lines too */
            teeth(length, start, bar, lines, sh, H, w, m, offset, tooth, group, at, size, from, thick, picked, lined);
            for (int r = 0; r < H; r++)
                if (tooth[r]) lines[r] = bar[r];
        }
        for (int r = 0; r < H - 1; r++) {
            int x = 0, x0, x1;
            while (next_run(sh + (long)r * w, sh + (long)(r + 1) * w, w, &x, &x0, &x1)) {
                double thickness = 0;
                int line = r;
                const int n = x1 - x0 + 1;
                if (pass == 0 && n < VE_PP_TOOTH_ASPECT) continue; /* (a bar is at least a pixel thick) */
                if (pass == 1) {
                    line = lines[r] >= 0 ? r : (r && lines[r - 1] >= 0 ? r - 1 : r + 1);
                    thickness = lines[line];
                    if (thickness < 0 || n < 2 * thickness) continue;
                }
                const int widest = pass ? (int)floor(thickness + 2) : 0;
                const unsigned char bits = (unsigned char)(bit | (pass && tooth[line] ? VE_SURE : 0));
                int k = 0;
                for (int c = x0; c <= x1; c++) { /* the run's ink, on row r or r + 1 */
                    const int row = sh[r * w + c] ? r : r + 1, i = row * w + c;
                    if (!sh[i]) continue;
                    const int e = sh[i];
                    if (pass == 0) extent[k++] = (float)e;
                    else if (e <= widest) { /* no wider than the line: no stroke crosses it here */
                        int top = row;
                        while (top > 0 && sh[(top - 1) * w + c]) top--;
                        for (int j = 0; j < e; j++) m->f[(top + j - offset[c]) * m->sy + c * m->sx] |= bits;
                    } else /* a stroke crosses the line: its pixel on the line's row keeps the line one */
                        m->f[(row - offset[c]) * m->sy + c * m->sx] |= VE_ACROSS;
                }
                if (pass == 0 && (thickness = median32(extent, k, scratch)) <= thick_max && n >= VE_PP_TOOTH_ASPECT * thickness) {
                    bar[r] = thickness, length[r] = n, start[r] = x0;
                    if (n >= VE_PP_LINE_ASPECT * thickness) lines[r] = thickness;
                }
            }
        }
    }
    used = mark;
    return 0;
}

/* The height of the tallest piece of the pixels holding `bit` that is no speck beside the
   heaviest; weighed: a piece's weight is how many more of its pixels are no candidate line
   (VE_LEVELS, VE_PLUMBS) than are, else its area. -1 when out of memory. The pieces' table holds,
   in turn, each one's area, its weight (2 taken away for each candidate pixel, down to 0: positive
   exactly when Python's is), whether it is big, its first row + 1 (a pass down the page) and 0
   once its last row is met (a pass up): no more memory than the labels. */
static int tallest_piece(unsigned char *f, unsigned char bit, int weighed, int w, int h) {
    const size_t mark = used;
    const label_t big = (label_t)~(label_t)0; /* (no row + 1 reaches it: rows fit a label) */
    pieces p;
    if (!find_pieces(f, bit, w, h, &p)) return -1;
    int heaviest = 0, tallest = 0;
    for (long i = 0; weighed && i < (long)w * h; i++) {
        label_t *a = p.area + p.labels[i];
        if (f[i] & (VE_LEVELS | VE_PLUMBS)) *a = (label_t)(*a > 2 ? *a - 2 : 0);
    }
    for (int l = 1; l <= p.n; l++) heaviest = imax(heaviest, p.area[l]);
    for (int l = 1; l <= p.n; l++) p.area[l] = p.area[l] && p.area[l] >= VE_PP_SPECK_FRACTION * heaviest ? big : 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int l = p.labels[y * w + x];
            if (p.area[l] == big) p.area[l] = (label_t)(y + 1);
        }
    for (int y = h - 1; y >= 0; y--)
        for (int x = 0; x < w; x++) {
            const int l = p.labels[y * w + x];
            if (l && p.area[l]) tallest = imax(tallest, y + 2 - p.area[l]), p.area[l] = 0;
        }
    used = mark;
    return tallest;
}

/* Python's _writing_height: the taller of the tallest piece of the faint marks without the
   candidate lines and the tallest piece of them all fewer than half of whose pixels are candidates;
   -1 when out of memory */
static int writing_height(unsigned char *f, int w, int h) {
    for (long i = 0; i < (long)w * h; i++)
        f[i] = (unsigned char)((f[i] & ~VE_FOUND) | ((f[i] & VE_FAINT) && !(f[i] & (VE_LEVELS | VE_PLUMBS)) ? VE_FOUND : 0));
    const int rest = tallest_piece(f, VE_FOUND, 0, w, h);
    const int all = rest < 0 ? -1 : tallest_piece(f, VE_FAINT, 1, w, h);
    return all < 0 ? -1 : imax(rest, all);
}

/* Python's _structure: the candidates (VE_LEVELS, VE_PLUMBS) that are printed, judged against the
   writing's height, into VE_LINE with the teeth (VE_SURE); 0, or -1 when out of memory */
static int structure(unsigned char *f, int w, int h) {
    const long n = (long)w * h;
    long candidates = 0;
    for (long i = 0; i < n; i++) candidates += (f[i] & (VE_LEVELS | VE_PLUMBS)) != 0;
    if (!candidates) { /* (nothing to judge) */
        for (long i = 0; i < n; i++) f[i] &= (unsigned char)~VE_LINE;
        return 0;
    }
    const int height = writing_height(f, w, h);
    if (height < 0) return -1;
    for (long i = 0; i < n; i++)
        f[i] = (unsigned char)((f[i] & ~VE_FOUND) | (f[i] & (VE_LEVELS | VE_PLUMBS | VE_ACROSS) ? VE_FOUND : 0));
    const size_t mark = used;
    pieces p;
    if (!find_pieces(f, VE_FOUND, w, h, &p)) return -1;
    /* a structure of fewer pixels than FRAME heights of the writing spans too little to be printed
       (see below): only the others get a record, numbered in the pieces' table (0: none) */
    int records = 0;
    for (int l = 1; l <= p.n; l++) p.area[l] = (label_t)(height && p.area[l] >= VE_PP_FRAME * height ? ++records : 0);
    p.area[0] = 0;
    if (!height) { /* no writing to judge against: a structure with a level line is printed */
        for (long i = 0; i < n; i++)
            if (f[i] & VE_LEVELS) p.area[p.labels[i]] = 1;
        for (long i = 0; i < n; i++) {
            const int line = (f[i] & VE_SURE) || ((f[i] & (VE_LEVELS | VE_PLUMBS)) && p.area[p.labels[i]]);
            f[i] = (unsigned char)((f[i] & ~VE_LINE) | (line ? VE_LINE : 0));
        }
        used = mark;
        return 0;
    }
    /* per record: its level pixels' first and last row, first and last column, then its plumb
       pixels' (first > last: none), in labels, which hold any coordinate; then whether its level
       lines are printed (1) and its plumb ones (2) */
    label_t (*span)[8] = (label_t (*)[8])take(((size_t)records + 1) * 8 * sizeof(label_t) / 4 + 1);
    unsigned char *printed = take_bytes((size_t)records + 1);
    if (!span || !printed) return -1;
    for (int r = 0; r <= records; r++)
        for (int k = 0; k < 8; k += 2) span[r][k] = (label_t)imax(w, h), span[r][k + 1] = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const long i = (long)y * w + x;
            const int r = p.area[p.labels[i]];
            for (int k = 0; k < 2 && r; k++)
                if (f[i] & (k ? VE_PLUMBS : VE_LEVELS)) {
                    label_t *s = span[r] + 4 * k;
                    s[0] = (label_t)imin(s[0], y), s[1] = (label_t)imax(s[1], y);
                    s[2] = (label_t)imin(s[2], x), s[3] = (label_t)imax(s[3], x);
                }
        }
    printed[0] = 0;
    for (int r = 1; r <= records; r++) {
        int d[4]; /* level rows, level columns, plumb rows, plumb columns spanned */
        for (int k = 0; k < 4; k++) d[k] = imax(span[r][2 * k + 1] - span[r][2 * k], 0);
        const int frame = d[0] >= VE_PP_FRAME * height && d[3] >= VE_PP_FRAME_WIDTH * height;
        printed[r] = (unsigned char)((frame || d[1] >= VE_PP_LINE_SPAN * height) | (frame || d[2] >= VE_PP_LINE_SPAN * height) << 1);
    }
    for (long i = 0; i < n; i++) {
        const int r = p.area[p.labels[i]], kind = printed[r];
        const int line = (f[i] & VE_SURE) || ((f[i] & VE_LEVELS) && (kind & 1)) || ((f[i] & VE_PLUMBS) && (kind & 2));
        f[i] = (unsigned char)((f[i] & ~VE_LINE) | (line ? VE_LINE : 0));
    }
    used = mark;
    return 0;
}

/* Python's printed_lines: the pixels of printed structure (ruling, a margin, a grid, a box, a comb,
   a fill-in line) among the flags' faint marks (VE_FAINT), into VE_LINE; level and plumb candidates
   found twice, each the second time without the other's; 1, or 0 when out of memory */
static int printed_lines(unsigned char *f, int h, int w) {
    view level = {f, w, 1, h, w, VE_FAINT, 0}, plumb = {f, 1, w, w, h, VE_FAINT, 0};
    const long n = (long)w * h;
    for (long i = 0; i < n; i++) f[i] &= VE_FAINT;
    double tilt = NAN, lean = NAN, any;
    if (level_lines(&level, VE_LEVEL, &tilt, 0) < 0 || level_lines(&plumb, VE_PLUMB, &lean, 1) < 0) return 0;
    level.out = VE_PLUMB, plumb.out = VE_LEVEL;
    int level_found = 0;
    for (long i = 0; i < n && !level_found; i++) level_found = (f[i] & VE_LEVEL) != 0;
    /* the second passes, and, where there are level lines, one for plumb lines at right angles to
       their skew (a form is square) */
    for (int k = 0; k < 3; k++) {
        if (k == 2 && (!level_found || lean == -tilt)) break;
        any = k == 2 ? -tilt : NAN;
        if (level_lines(k ? &plumb : &level, VE_FOUND, &any, k > 0) < 0) return 0;
        for (long i = 0; i < n; i++)
            if (f[i] & (VE_FOUND | (k ? VE_PLUMB : VE_LEVEL))) f[i] |= k ? VE_PLUMBS : VE_LEVELS;
    }
    return structure(f, w, h) == 0;
}


/* The darkest, median (median32's) and lightest values of the working image, whose values are all
   k / 255 (k a byte): read from the histogram of its levels instead of passes over the page */
static void level_stats(long n, float *lo, double *mid, float *hi) {
    int least = 0, most = 255;
    while (!levels[least]) least++;
    while (!levels[most]) most--;
    const float a = (float)hist_rank(levels, (n - 1) / 2) / 255.0f, b = (float)hist_rank(levels, n / 2) / 255.0f;
    *lo = (float)least / 255.0f, *hi = (float)most / 255.0f;
    *mid = n % 2 ? a : (float)((double)a + (double)b) / 2.0f;
}

/* The pieces of ink (flags 1) and the specks among them (no larger than box_area px, small beside
   the largest, or shorter than SPECK_EXTENT of the page) and the slivers along the image's border
   (Python's _along_border: on it in one run over half their extent along a side): the ink map's kept boxes, in the order of
   their labels, and its bits for the pixels of pieces that are not kept (in the flags' memory);
   0 or a negative code */
static int kept_pieces(ink_map *m, unsigned char *f, int box_area, int shorter) {
    const int w = m->g.w, h = m->g.h;
    const long n = (long)w * h;
    pieces p;
    if (!find_pieces(f, 1, w, h, &p)) return VIT_EDGE_TOO_LARGE;
    int largest = 0, big = 0, kept = 0;
    for (int l = 1; l <= p.n; l++) largest = imax(largest, p.area[l]);
    const double speck = fmax(box_area, VE_PP_SPECK_FRACTION * largest);
    for (int l = 1; l <= p.n; l++) big += p.area[l] > speck;
    /* area, top, bottom, left, right, then its longest run on the image's left, right, top and bottom side */
    int (*stat)[9] = (int (*)[9])take((size_t)9 * big + 9);
    if (!stat) return VIT_EDGE_TOO_LARGE;
    for (int l = 1, k = 0; l <= p.n; l++) { /* a piece's area gives way to its number among the big ones */
        if (p.area[l] > speck) {
            stat[k][0] = p.area[l], stat[k][1] = h, stat[k][2] = 0, stat[k][3] = w, stat[k][4] = 0;
            for (int j = 5; j < 9; j++) stat[k][j] = 0;
        }
        p.area[l] = p.area[l] > speck ? (label_t)++k : 0;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int k = p.area[p.labels[y * w + x]];
            if (!k) continue;
            int *b = stat[k - 1] + 1;
            b[0] = imin(b[0], y), b[1] = imax(b[1], y + 1), b[2] = imin(b[2], x), b[3] = imax(b[3], x + 1);
        }
    for (int side = 0; side < 4; side++) { /* each piece's longest run on each side of the image */
        const int along = side < 2 ? h : w;
        const long first = side == 1 ? w - 1 : side == 3 ? (long)(h - 1) * w : 0, step = side < 2 ? w : 1;
        for (int i = 0, run = 0, prev = -1; i < along; i++) {
            const int k = p.area[p.labels[first + i * step]];
            run = k == prev ? run + 1 : 1, prev = k;
            if (k) stat[k - 1][5 + side] = imax(stat[k - 1][5 + side], run);
        }
    }
    long total = 0;
    for (int k = 0; k < big; k++) { /* a kept piece keeps its area; the others' is 0 */
        const int *b = stat[k] + 1, *side = stat[k] + 5, tall = b[1] - b[0], wide = b[3] - b[2];
        if (imax(tall, wide) < VE_PP_SPECK_EXTENT * shorter) stat[k][0] = 0;
        if (2 * imax(side[0], side[1]) >= tall || 2 * imax(side[2], side[3]) >= wide) stat[k][0] = 0; /* a sliver */
        total += stat[k][0];
    }
    if (total < VE_PP_MIN_INK_PIXELS) return VIT_EDGE_BLANK;
    for (long i = 0; i < n; i++) { /* 1: a pixel of a piece that is not kept */
        const int l = p.labels[i], k = p.area[l];
        f[i] = (unsigned char)(l && !(k && stat[k - 1][0]));
    }
    int (*box)[4] = (int (*)[4])stat; /* the kept boxes, moved down in place */
    for (int k = 0; k < big; k++)
        if (stat[k][0]) memmove(box[kept++], stat[k] + 1, sizeof box[0]);
    unsigned char bits = 0; /* the flags become bits, in place (byte i / 8 is read before it is written) */
    for (long i = 0; i < n; i++) {
        bits |= (unsigned char)(f[i] << (i & 7));
        if ((i & 7) == 7 || i == n - 1) f[i >> 3] = bits, bits = 0;
    }
    m->unkept = f, m->n = kept;
    m->box = (int (*)[4])settle_at(box, (size_t)4 * kept, (size_t)((float *)(void *)f - pool) + ((size_t)n / 8 + 4) / 4);
    return 0;
}

/* the ink map's row y: the ink stretched (FLOOR_SIGMAS local deviations are 0, the strongest ink
   1), the pieces that are not kept taken away; in m->row */
static const float *map_row(const ink_map *m, int y) {
    const int w = m->g.w;
    float *v = m->row;
    deviation_row(m, y, v);
    const float *nz = upsampled_row(&m->noise, y);
    for (int x = 0; x < w; x++) {
        const float fl = (float)VE_PP_FLOOR_SIGMAS * nz[x], s = (v[x] - fl) / fmax2(m->strongest - fl, 1e-6f);
        v[x] = s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
    }
    if (m->unkept) {
        const long i = (long)y * w;
        for (int x = 0; x < w; x++)
            if (m->unkept[(i + x) >> 3] >> ((i + x) & 7) & 1) v[x] = 0.0f;
    }
    return v;
}

/* positive floats order as their bits do */
static unsigned key_of(float v) {
    unsigned k;
    memcpy(&k, &v, sizeof k);
    return k;
}

static float value_of(unsigned k) {
    float v;
    memcpy(&v, &k, sizeof v);
    return v;
}

#define VE_BINS 1024

/* how many candidates' deviations (flags 1) have each key in [lo, hi], in bins of 2^shift keys;
   with shift < 0, the least key above hi instead (returned) */
static unsigned count_keys(const ink_map *m, const unsigned char *f, unsigned lo, unsigned hi, int shift, unsigned *bins) {
    const int w = m->g.w;
    unsigned least = 0xFFFFFFFFu;
    if (shift >= 0) memset(bins, 0, sizeof(unsigned) * VE_BINS);
    for (int y = 0; y < m->g.h; y++) {
        const unsigned char *c = f + (size_t)y * w;
        int x = 0;
        while (x < w && !c[x]) x++;
        if (x == w) continue; /* (a row with no candidate) */
        deviation_row(m, y, m->row);
        for (; x < w; x++) {
            if (!c[x]) continue;
            const unsigned k = key_of(m->row[x]);
            if (shift < 0) least = k > hi && k < least ? k : least;
            else if (k >= lo && k <= hi) bins[(k - lo) >> shift]++;
        }
    }
    return least;
}

/* numpy's percentile (linear) of the candidates' deviations (flags 1; count of them, their keys
   from lo to hi): the k-th smallest by radix selection on the keys, a pass over the page for each
   10 bits of their range; NaN when out of memory */
static double candidates_percentile(const ink_map *m, const unsigned char *f, long count, unsigned lo, unsigned hi, double q) {
    const double pos = q / 100.0 * (count - 1);
    const long k = (long)floor(pos);
    long rank = k, below = 0, inside = count; /* candidates under lo, and in [lo, hi] */
    const size_t mark = used;
    unsigned *bins = (unsigned *)take(VE_BINS);
    if (!bins) return NAN;
    while (lo < hi) {
        int shift = 0, b = 0;
        while (((hi - lo) >> shift) >= VE_BINS) shift++;
        count_keys(m, f, lo, hi, shift, bins);
        for (; rank >= (long)bins[b]; b++) rank -= bins[b], below += bins[b];
        inside = bins[b], lo += (unsigned)b << shift;
        hi = shift ? (hi - lo < (1u << shift) - 1 ? hi : lo + (1u << shift) - 1) : lo;
    }
    used = mark;
    const double kth = value_of(lo);
    if (pos == k) return kth;
    const double next = below + inside > k + 1 ? kth : value_of(count_keys(m, f, lo, lo, -1, NULL));
    return kth + (next - kth) * (pos - k);
}

/* Python's find_ink into the ink map; returns 0, VIT_EDGE_BLANK or VIT_EDGE_TOO_LARGE, or VE_NO_PAGE
   when page (look for a page on a table) found one with nothing written on it: then it was none,
   and the caller reads the whole image again without looking. The pool is a
   stack: the grey levels, the light's and the noise's grids, a plane of flags (masks as bits), then
   each step's working memory, which goes when the step is done. */
#define VE_NO_PAGE (-99) /* find_ink's own: a page with nothing written on it (never returned to users) */
static int find_ink(bytes *grey, ink_map *m, int page) {
    const int w = grey->w, h = grey->h, shorter = imin(w, h);
    const long n = (long)w * h;
    float lo, hi;
    double mid;
    const int paged = page ? page_only(grey) : 0; /* the table around a page becomes paper */
    const int blank = paged ? VE_NO_PAGE : VIT_EDGE_BLANK;
    if (paged < 0) return VIT_EDGE_TOO_LARGE;
    count_levels(grey);
    level_stats(n, &lo, &mid, &hi);
    float *ink = take(256);
    memset(m, 0, sizeof *m);
    m->g = *grey, m->dark = mid - lo > hi - mid, m->ink = ink, m->row = take((size_t)w);
    if (!ink || !m->row) return VIT_EDGE_TOO_LARGE;
    for (int v = 0; v < 256; v++) ink[v] = m->dark ? 1.0f - (float)v / 255.0f : (float)v / 255.0f;
    if (!light_rows(m, shorter)) return VIT_EDGE_TOO_LARGE;
    const size_t noise_at = used;
    if (!noise_rows(m, shorter)) return VIT_EDGE_TOO_LARGE;
    int smooth = 0, smoothed = 0;
    if (shorter / 100 > 0) { /* (a smaller page is never smoothed, whatever its noise's level) */
        const size_t noise_end = used;
        float *all = take((size_t)n);
        if (!all) return VIT_EDGE_TOO_LARGE;
        for (int y = 0; y < h; y++) memcpy(all + (size_t)y * w, upsampled_row(&m->noise, y), sizeof(float) * w);
        const float level = median32(all, (int)n, all);
        used = noise_end;
        smooth = imin(imin(VE_PP_MAX_SMOOTH, (int)ceil((level / VE_PP_SMOOTH_NOISE - 1) / 2)), shorter / 100);
        smoothed = level > VE_PP_SMOOTH_NOISE && smooth > 0;
    }
    if (smoothed) { /* a smoothed page is a plane of its deviation, and measures its noise again */
        used = noise_at;
        image dev = {w, h, take((size_t)n)};
        if (!dev.a) return VIT_EDGE_TOO_LARGE;
        for (int y = 0; y < h; y++) deviation_row(m, y, dev.a + (size_t)y * w);
        if (!box_mean(&dev, smooth)) return VIT_EDGE_TOO_LARGE;
        m->plane = dev.a;
        if (!noise_rows(m, shorter)) return VIT_EDGE_TOO_LARGE;
    }
    unsigned char *f = take_bytes((size_t)n);
    if (!f) return VIT_EDGE_TOO_LARGE;
    /* printed lines are found on fainter marks than ink, so their faint edges go with them */
    for (int y = 0; y < h; y++) {
        deviation_row(m, y, m->row);
        const float *nz = upsampled_row(&m->noise, y), *d = m->row;
        unsigned char *faint = f + (size_t)y * w;
        for (int x = 0; x < w; x++) faint[x] = d[x] > fmax2((float)(VE_PP_MIN_CONTRAST / 2), (float)VE_PP_FLOOR_SIGMAS * nz[x]);
    }
    if (!printed_lines(f, h, w)) return VIT_EDGE_TOO_LARGE;
    long strong = 0;
    unsigned least = 0xFFFFFFFFu, most = 0;
    for (int y = 0; y < h; y++) { /* candidates: above the contrast and the local noise, not on a printed line */
        deviation_row(m, y, m->row);
        const float *nz = upsampled_row(&m->noise, y), *d = m->row;
        for (int x = 0; x < w; x++) {
            unsigned char *c = f + (size_t)y * w + x;
            *c = d[x] > fmax2((float)VE_PP_MIN_CONTRAST, (float)VE_PP_NOISE_SIGMAS * nz[x]) && !(*c & VE_LINE);
            if (*c) {
                const unsigned k = key_of(d[x]);
                strong++, least = k < least ? k : least, most = k > most ? k : most;
            }
        }
    }
    if (strong < VE_PP_MIN_INK_PIXELS) return blank;
    const double strongest = candidates_percentile(m, f, strong, least, most, 90.0); /* robust to a few hot pixels */
    if (strongest != strongest) return VIT_EDGE_TOO_LARGE;
    m->strongest = (float)strongest;
    for (int y = 0; y < h; y++) { /* the candidates above INK_THRESHOLD, stretched */
        const float *v = map_row(m, y);
        for (int x = 0; x < w; x++) f[(size_t)y * w + x] &= (unsigned char)(v[x] > (float)VE_PP_INK_THRESHOLD);
    }
    const int status = kept_pieces(m, f, smoothed ? (2 * smooth + 1) * (2 * smooth + 1) : 1, shorter);
    return status == VIT_EDGE_BLANK ? blank : status;
}


static int digits; /* vit_edge_digits() */
static int (*input_box)[4], boxes; /* each digit's box in the last ink map, and how many */
static ink_map last;               /* the last vit_edge_prepare's ink map ... */
static size_t last_mark;           /* ... and digit boxes, kept in the pool up to here */

/* The ink inside one digit's box (Python's InkMap.crop(box, cut)): the ink map's pixels there, since
   the kept pieces that reach into a digit's box are its own (count_digits) */
static int crop_box(const ink_map *m, const int *b, image *out) {
    const int top = b[0], left = b[2];
    out->w = b[3] - left, out->h = b[1] - top;
    if (!(out->a = take((size_t)out->w * out->h))) return VIT_EDGE_TOO_LARGE;
    for (int y = 0; y < out->h; y++) memcpy(out->a + (size_t)y * out->w, map_row(m, top + y) + left, sizeof(float) * out->w);
    return 0;
}

/* The box around every kept piece: top, bottom, left, right */
static void ink_box(const ink_map *m, int box[4]) {
    box[0] = m->g.h, box[1] = 0, box[2] = m->g.w, box[3] = 0;
    for (int k = 0; k < m->n; k++)
        box[0] = imin(box[0], m->box[k][0]), box[1] = imax(box[1], m->box[k][1]),
        box[2] = imin(box[2], m->box[k][2]), box[3] = imax(box[3], m->box[k][3]);
}

/* The ink around every kept piece (Python's InkMap.crop with no box) */
static int crop_ink(const ink_map *m, image *out) {
    int box[4];
    ink_box(m, box);
    return crop_box(m, box, out);
}

/* How many digits a group of touching digits holds (Python's split_touching on the column profile
   of InkMap.crop(box)): as many as its width holds at DIGIT_PITCH of its height when each cut finds
   a valley; 0 when one does not (the group stays whole). profile: 3 x width
   floats; cuts: the parts' column edges (n + 1 of them, from 0 to width). */
static int touching_parts(const ink_map *m, const int *g, float *profile, int *cuts) {
    const int top = g[0], bottom = g[1], width = g[3] - g[2];
    for (int x = 0; x < width; x++) profile[x] = 0.0f;
    for (int y = top; y < bottom; y++) { /* row by row, as numpy sums a column of float32 */
        const float *row = map_row(m, y) + g[2];
        for (int x = 0; x < width; x++) profile[x] += row[x];
    }
    const int n = imax(2, pyround(width / (VE_PP_DIGIT_PITCH * (bottom - top))));
    const double pitch = (double)width / n;
    float *positive = profile + width, *scratch = profile + 2 * width;
    int k = 0;
    for (int x = 0; x < width; x++)
        if (profile[x] > 0.0f) positive[k++] = profile[x];
    const double typical = k ? median32(positive, k, scratch) : 0.0;
    cuts[0] = 0, cuts[n] = width;
    for (int c = 1; c < n; c++) {
        int lo = (int)(c * pitch - pitch / 3), hi = imin((int)(c * pitch + pitch / 3) + 1, width), at = lo;
        for (int x = lo + 1; x < hi; x++) at = profile[x] < profile[at] ? x : at;
        if (profile[at] > VE_PP_VALLEY * typical) return 0;
        cuts[c] = at;
    }
    return n;
}

/* Python's _parts_of_one: neighbouring groups a (left) and b are one digit's parts (segments);
   stacked: both short and together not (tried first) */
static int parts_of_one(const int *a, const int *b, int tallest, int stacked) {
    const int ha = a[1] - a[0], hb = b[1] - b[0];
    const int width = b[3] - a[2], height = imax(a[1], b[1]) - imin(a[0], b[0]);
    if (b[2] - a[3] > VE_PP_PART_GAP * tallest || width > height) return 0;
    if (stacked) return imax(ha, hb) < VE_PP_PART_HEIGHT * tallest && VE_PP_PART_HEIGHT * tallest <= height;
    const int *part = hb < ha ? b : a; /* Python's min() keeps the first of equal heights */
    const int length = imax(part[1] - part[0], part[3] - part[2]);
    return imin(ha, hb) < VE_PP_PART_HEIGHT * tallest && length >= VE_PP_PART_LENGTH * tallest;
}

/* Python's _without_bars, in place: the groups but printed bars, a group whose strokes are under
   BAR_THIN as wide as the others' (their median) and which runs past the tallest of them by more
   than that width; how many are left, or -1 when out of memory. Only a group taller than all the
   others can run past them: without one nothing is measured, and with one every group's stroke
   width (Python's stroke_width of its crop) is counted in one pass down the map's rows. */
static int without_bars(const ink_map *m, int (*group)[6], int groups) {
    int at = 0, tallest = 0, second = 0;
    for (int i = 0; i < groups; i++) {
        const int h = group[i][1] - group[i][0];
        if (h > tallest) second = tallest, tallest = h, at = i;
        else second = imax(second, h);
    }
    if (groups < 2 || tallest == second) return groups;
    const size_t mark = used;
    const int w = m->g.w;
    double *other = (double *)(void *)take((size_t)2 * groups);
    int *area = (int *)take((size_t)groups), *edges = (int *)take((size_t)groups); /* (at most the map's pixels) */
    unsigned char *above = take_bytes((size_t)w); /* the row above's mask */
    if (!other || !area || !edges || !above) return -1;
    int top = m->g.h, bottom = 0;
    for (int i = 0; i < groups; i++) top = imin(top, group[i][0]), bottom = imax(bottom, group[i][1]), area[i] = edges[i] = 0;
    for (int y = top; y <= bottom; y++) { /* and a row past the last: each box's edges with the padding below */
        const float *v = y < bottom ? map_row(m, y) : NULL;
        for (int i = 0; i < groups; i++) {
            const int *b = group[i];
            if (y < b[0] || y > b[1]) continue;
            int left = 0; /* the padding left of the box */
            for (int x = b[2]; x < b[3]; x++) {
                const int here = y < b[1] && v[x] > 0.5f, up = y > b[0] && above[x];
                area[i] += here, edges[i] += (here != left) + (here != up), left = here;
            }
            edges[i] += left; /* the padding right of the box */
        }
        if (v)
            for (int x = 0; x < w; x++) above[x] = v[x] > 0.5f;
    }
    int n = 0;
    double thin = 0.0;
    for (int i = 0; i < groups; i++) {
        const double width = 2.0 * area[i] / fmax(edges[i] * PI / 4, 1e-9);
        if (i == at) {
            thin = width;
            continue;
        }
        int k = n++; /* the others' widths, sorted */
        for (; k > 0 && other[k - 1] > width; k--) other[k] = other[k - 1];
        other[k] = width;
    }
    const double median = n % 2 ? other[n / 2] : (other[n / 2 - 1] + other[n / 2]) / 2;
    used = mark;
    if (thin >= VE_PP_BAR_THIN * median || tallest - second <= median) return groups;
    memmove(group + at, group + at + 1, sizeof group[0] * (size_t)(groups - at - 1));
    return groups - 1;
}

/* Python's _closed_in: pieces order[first..i-1] (a group's) reach over the columns of piece
   order[i] both above and below it (a seven-segment digit's right segments) */
static int closed_in(const ink_map *m, const int *order, int first, int i) {
    const int *b = m->box[order[i]];
    int above = 0, below = 0;
    for (int j = first; j < i; j++) {
        const int *p = m->box[order[j]];
        if (imin(p[3], b[3]) <= imax(p[2], b[2])) continue;
        above |= p[0] + p[1] < 2 * b[0], below |= p[0] + p[1] > 2 * b[1];
    }
    return above && below;
}

/* Python's _nearer_after: group b, which could join a before it, is instead a part of c after it,
   nearer to it (a 7's upper-left segment, nearer its own bar than the digit before) */
static int nearer_after(const int *a, const int *b, const int *c, int tallest, int stacked) {
    return c && c[2] - b[3] < b[2] - a[3] && parts_of_one(b, c, tallest, stacked);
}

/* Python's _overlapping: the pieces in `order` (left to right) sharing more than OVERLAP of the
   narrower one's columns with the group before are one, and so is a piece that group closes in
   (closed_in); a group: top, bottom, left, right, its pieces, the longest dot's longer side (a big
   number: none); how many. The group of each piece goes to `member` when given. */
static int overlapping(const ink_map *m, const int *order, int k, int (*group)[6], int *member) {
    int groups = 0, first = 0; /* the current group's first piece: a group's pieces follow each other */
    for (int i = 0; i < k; i++) {
        const int *b = m->box[order[i]];
        int *g = groups ? group[groups - 1] : 0;
        const int longer = imax(b[1] - b[0], b[3] - b[2]), shorter = imin(b[1] - b[0], b[3] - b[2]);
        const int dot = longer < 2 * shorter ? longer : 1 << 30;
        if (g && (imin(b[3], g[3]) - b[2] > VE_PP_OVERLAP * imin(b[3] - b[2], g[3] - g[2]) ||
                  closed_in(m, order, first, i)))
            g[0] = imin(g[0], b[0]), g[1] = imax(g[1], b[1]), g[3] = imax(g[3], b[3]), g[4]++, g[5] = imax(g[5], dot);
        else memcpy(group[groups++], b, 4 * sizeof(int)), group[groups - 1][4] = 1, group[groups - 1][5] = dot, first = i;
        if (member) member[i] = groups - 1;
    }
    return groups;
}

/* numpy's medians of the tops and bottoms of the groups at least DIGIT_HEIGHT of the tallest (the
   line of writing, not dashes, specks or dots); how many there are, -1 when out of memory */
static int line_medians(int (*group)[6], int groups, int tallest, double *top, double *bottom) {
    const size_t mark = used;
    int *v = (int *)take((size_t)groups), n = 0;
    if (!v) return -1;
    for (int side = 0; side < 2; side++) {
        n = 0;
        for (int i = 0; i < groups; i++) { /* insertion sort */
            if (group[i][1] - group[i][0] < VE_PP_DIGIT_HEIGHT * tallest) continue;
            int j = n++;
            for (; j > 0 && v[j - 1] > group[i][side]; j--) v[j] = v[j - 1];
            v[j] = group[i][side];
        }
        if (n) *(side ? bottom : top) = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    }
    used = mark;
    return n;
}

/* Python's _digit_groups, counted: kept pieces left to right (a stable sort by left edge), a piece
   sharing more than OVERLAP of the narrower one's columns with the current group joins it; pieces
   wholly above or below the digit-sized groups' median rows by more than PART_GAP of the tallest (a
   unit label) leave the group they joined, and the groups are made again; a printed bar goes (without_bars); then a
   digit's parts join where the writing is in segments (parts_of_one); groups at least DIGIT_HEIGHT
   as tall as the tallest are digits, but for one or two dots (a colon: pieces shorter than DOT of
   the tallest, less than twice as long as wide) and printed bars (without_bars). A group wider than TOUCHING_WIDTH x its height is touching
   digits: it counts as the parts split_touching cuts it into, or as two when it cannot be cut
   (Python's Reading.count). Each digit's box goes to input_box, as Python's read_image lists them.
   A digit's input is all the kept ink in its box (Python's crop with cut), a slanted neighbour's
   few shared columns included. */
static int count_digits(const ink_map *m) {
    const size_t start = used;
    /* a group: top, bottom, left, right, its pieces, the longest dot's longer side (a big number: none) */
    int *order = (int *)take((size_t)m->n + 1), (*group)[6] = (int (*)[6])take((size_t)6 * m->n + 6);
    float *profile = take((size_t)3 * m->g.w + 3);
    int *cuts = (int *)take((size_t)m->g.w + 2);
    input_box = (int (*)[4])take((size_t)4 * (m->g.w + m->n + 1)); /* parts are at least 1 px wide */
    boxes = 0;
    if (!order || !group || !profile || !cuts || !input_box) return 0;
    int k = 0, groups = 0, tallest = 0, count = 0, several = 0;
    for (int i = 0; i < m->n; i++) {
        int j = k++;
        for (; j > 0 && m->box[order[j - 1]][2] > m->box[i][2]; j--) order[j] = order[j - 1];
        order[j] = i;
    }
    int *member = (int *)take((size_t)m->n + 1);
    if (!member) return 0;
    groups = overlapping(m, order, k, group, member);
    double top = 0.0, bottom = 0.0;
    for (int i = 0; i < groups; i++) tallest = imax(tallest, group[i][1] - group[i][0]);
    const int line = line_medians(group, groups, tallest, &top, &bottom);
    if (line < 0) return 0;
    if (line > 1) { /* a label under or over the line of writing joins no digit it shares columns with */
        const double margin = VE_PP_PART_GAP * tallest;
        for (int i = 0; i < groups; i++) group[i][4] = 0;
        for (int i = 0; i < k; i++) { /* a piece on the line: its group's count of pieces (reused) marks it */
            const int *b = m->box[order[i]], on = b[1] >= top - margin && b[0] <= bottom + margin;
            group[member[i]][4] |= on, member[i] = on ? -1 : member[i];
        }
        int kept = 0; /* a piece off the line stays where its group is wholly off it */
        for (int i = 0; i < k; i++)
            if (member[i] < 0 || !group[member[i]][4]) order[kept++] = order[i];
        if (kept < k) k = kept;
        groups = overlapping(m, order, k, group, NULL); /* (made again: the counts were reused) */
    }
    if ((groups = without_bars(m, group, groups)) < 0) return 0; /* a printed bar goes before it sets the height */
    tallest = 0;
    for (int i = 0; i < groups; i++) tallest = imax(tallest, group[i][1] - group[i][0]);
    /* writing in segments: a digit's parts join (Python's _grouped), stacked parts first */
    for (int stacked = 1; stacked >= 0 && k >= VE_PP_PART_PIECES * groups; stacked--) {
        int joined = 0;
        for (int i = 0; i < groups; i++) {
            int *a = joined ? group[joined - 1] : 0, *b = group[i];
            const int *c = i + 1 < groups ? group[i + 1] : 0; /* (not moved yet) */
            if (a && parts_of_one(a, b, tallest, stacked) && !nearer_after(a, b, c, tallest, stacked))
                a[0] = imin(a[0], b[0]), a[1] = imax(a[1], b[1]), a[3] = b[3], a[4] += b[4], a[5] = imax(a[5], b[5]);
            else memmove(group[joined++], b, sizeof group[0]);
        }
        groups = joined;
    }
    int digit_groups = 0; /* the digit-sized groups but a colon's dots */
    for (int i = 0; i < groups; i++) {
        const int *g = group[i], height = g[1] - g[0];
        if (height >= VE_PP_DIGIT_HEIGHT * tallest && (g[4] > 2 || g[5] >= VE_PP_DOT * tallest))
            memmove(group[digit_groups++], g, sizeof group[0]);
    }
    if ((groups = without_bars(m, group, digit_groups)) < 0) return 0;
    for (int i = 0; i < groups; i++) {
        const int *g = group[i], height = g[1] - g[0];
        const int parts = g[3] - g[2] < VE_PP_TOUCHING_WIDTH * height ? 0 : touching_parts(m, g, profile, cuts);
        for (int k = 0; k < (parts ? parts : 1); k++) { /* top, bottom, left, right */
            int *b = input_box[boxes++];
            b[0] = g[0], b[1] = g[1], b[2] = parts ? g[2] + cuts[k] : g[2], b[3] = parts ? g[2] + cuts[k + 1] : g[3];
        }
        count += parts ? parts : 1;
        several += !parts && g[3] - g[2] >= VE_PP_TOUCHING_WIDTH * height; /* unsplit: two digits at least */
    }
    input_box = (int (*)[4])settle_at(input_box, (size_t)4 * boxes, start); /* the boxes stay; the rest goes */
    return count + several;
}

int vit_edge_digits(void) { return digits; }

/* ---- steps 5-6: thicken thin strokes, fit to 20 px, centre by mass ---- */

/* Crop to the pixels above INK_THRESHOLD (Python's _crop), in place (each row moves to where no
   row still to move lies), c being the last thing in the pool: the pool is cut back to its end;
   0 if there are none. */
static int crop_threshold(image *c) {
    int top = c->h, bottom = -1, left = c->w, right = -1;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++)
            if (c->a[y * c->w + x] > (float)VE_PP_INK_THRESHOLD)
                top = imin(top, y), bottom = imax(bottom, y), left = imin(left, x), right = imax(right, x);
    if (bottom < 0) return 0;
    const int w = right - left + 1, h = bottom - top + 1;
    for (int y = 0; y < h; y++) memmove(c->a + y * w, c->a + (top + y) * c->w + left, sizeof(float) * w);
    used -= (size_t)c->w * c->h - (size_t)w * h, c->w = w, c->h = h;
    return 1;
}

static double stroke_width(const image *c) { /* 2 x area / perimeter of the mask > 0.5 */
    long area = 0, edges = 0;
    for (int y = -1; y < c->h; y++)
        for (int x = -1; x < c->w; x++) {
            int here = y >= 0 && x >= 0 && c->a[y * c->w + x] > 0.5f;
            int right = y >= 0 && x + 1 < c->w && c->a[y * c->w + x + 1] > 0.5f;
            int below = x >= 0 && y + 1 < c->h && c->a[(y + 1) * c->w + x] > 0.5f;
            area += here, edges += (here != right) + (here != below);
        }
    return 2.0 * area / fmax(edges * PI / 4, 1e-9);
}

static double filter_bilinear(double x) { x = fabs(x); return x < 1 ? 1 - x : 0; }

/* Pillow's sin(x pi) / (x pi) times the same of x / 3, from one sine: sin(3a) = sin a (3 - 4 sin^2 a).
   (A double sine is thousands of instructions on single-precision FPUs; the weights move by
   ulps of a double, far below the float32 pixels they make.) */
static double filter_lanczos(double x) {
    if (!(x >= -3 && x < 3)) return 0;
    if (x == 0) return 1;
    const double a = x / 3 * PI, s = sin(a);
    return s * (3 - 4 * s * s) / (x * PI) * (s / a);
}

/* Pillow's resampling of a float image (ImagingResample): separable, horizontal pass first. c: the
   last thing in the pool, replaced by its resampling (each pass settles over its input) */
static int resize(image *c, int ow, int oh, int lanczos) {
    double (*f)(double) = lanczos ? filter_lanczos : filter_bilinear;
    const double support0 = lanczos ? 3.0 : 1.0;
    const size_t mark = used - (size_t)c->w * c->h;
    image cur = *c;
    for (int pass = 0; pass < 2; pass++) {
        int in_size = pass ? cur.h : cur.w, out_size = pass ? oh : ow;
        if (in_size == out_size) continue;
        image next = {pass ? cur.w : ow, pass ? oh : cur.h, NULL};
        if (!(next.a = take((size_t)next.w * next.h))) return 0;
        const size_t next_end = used;
        double scale = (double)in_size / out_size, fs = fmax(scale, 1.0), support = support0 * fs;
        double *k = (double *)take(2 * ((size_t)(2 * support) + 3)); /* the taps of one output pixel */
        if (!k) return 0;
        for (int i = 0; i < out_size; i++) {
            double center = (i + 0.5) * scale, ww = 0;
            int xmin = imax((int)(center - support + 0.5), 0);
            int xmax = imin((int)(center + support + 0.5), in_size) - xmin;
            for (int t = 0; t < xmax; t++) ww += k[t] = f((t + xmin - center + 0.5) / fs);
            for (int t = 0; t < xmax && ww != 0; t++) k[t] /= ww;
            int across = pass ? cur.w : cur.h;
            for (int j = 0; j < across; j++) {
                double s = 0;
                for (int t = 0; t < xmax; t++) { /* a crop is mostly paper, 0: double arithmetic is a
                                                    library call on single-precision FPUs, and a zero
                                                    term leaves s as it is (s starts at +0; +0 + -0 is +0) */
                    const float v = pass ? cur.a[(xmin + t) * cur.w + j] : cur.a[j * cur.w + xmin + t];
                    if (v != 0.0f) s += v * k[t];
                }
                next.a[pass ? i * next.w + j : j * next.w + i] = (float)s;
            }
        }
        used = next_end; /* the taps go, then the pass's input */
        settle(&next, mark);
        cur = next;
    }
    *c = cur;
    return 1;
}

/* c: the last thing in the pool; each result settles over what made it, c included */
static int thicken(image *c) {
    const size_t mark = used - (size_t)c->w * c->h;
    double out_width = stroke_width(c) * VE_PP_BOX / imax(c->w, c->h);
    if (out_width >= VE_PP_MNIST_THIN) return 1;
    int side = imax(c->w, c->h);
    if (side > VE_PP_FINE_SIDE) { /* max pooling toward the ink, padded with the crop's least value, in
                                     place: an output row lies before the input rows it is made from */
        int f = (side + VE_PP_FINE_SIDE - 1) / VE_PP_FINE_SIDE;
        image p = {(c->w + f - 1) / f, (c->h + f - 1) / f, c->a};
        float least = INFINITY;
        for (int i = 0; i < c->w * c->h; i++) least = fmin2(least, c->a[i]);
        for (int oy = 0; oy < p.h; oy++)
            for (int ox = 0; ox < p.w; ox++) {
                float best = -INFINITY;
                for (int y = oy * f; y < (oy + 1) * f; y++)
                    for (int x = ox * f; x < (ox + 1) * f; x++)
                        best = fmax2(best, (y < c->h && x < c->w) ? c->a[y * c->w + x] : least);
                p.a[oy * p.w + ox] = best;
            }
        *c = p;
        settle(c, mark);
    } else if (side < VE_PP_FINE_SIDE) {
        double f = (double)VE_PP_FINE_SIDE / side;
        if (!resize(c, imax(1, pyround(c->w * f)), imax(1, pyround(c->h * f)), 0)) return 0;
        for (int i = 0; i < c->w * c->h; i++) c->a[i] = fmin2(1.0f, fmax2(0.0f, c->a[i]));
    }
    double width = stroke_width(c), s = imax(c->w, c->h);
    double target = VE_PP_MNIST_THIN + (VE_PP_MNIST_STROKE - VE_PP_MNIST_THIN) * (1 - out_width / VE_PP_MNIST_THIN);
    double radius = (target * s / VE_PP_BOX - width) / (1 - target / VE_PP_BOX) / 2;
    if (radius < 0.5) return 1;
    const int pad = (int)ceil(radius), r = (int)floor(radius), w = c->w + 2 * pad, h = c->h + 2 * pad;
    /* the crop padded with 0 in place (rows from the last, each to where no row still to move lies) */
    const size_t start = place(mark);
    if (start + (size_t)w * h > pool_floats) return 0;
    float *d = pool + start;
    for (int y = c->h - 1; y >= 0; y--) memmove(d + (y + pad) * w + pad, c->a + y * c->w, sizeof(float) * c->w);
    for (int y = 0; y < h; y++)
        if (y < pad || y >= pad + c->h) memset(d + y * w, 0, sizeof(float) * w);
        else memset(d + y * w, 0, sizeof(float) * pad), memset(d + y * w + pad + c->w, 0, sizeof(float) * pad);
    used = start + (size_t)w * h;
    /* grey dilation by a disk (a round pen), in place: a row is made from the rows within r of it,
       those above it as they were before (kept in a ring of r + 1 rows) */
    float *ring = take((size_t)(r + 1) * w), *out = take((size_t)w);
    if (!ring || !out) return 0;
    for (int y = 0; y < h; y++) {
        memcpy(ring + (size_t)(y % (r + 1)) * w, d + (size_t)y * w, sizeof(float) * w);
        memcpy(out, d + (size_t)y * w, sizeof(float) * w);
        for (int dy = -r; dy <= r; dy++) {
            const int sy = y - dy;
            if (sy < 0 || sy >= h) continue;
            const float *src = sy > y ? d + (size_t)sy * w : ring + (size_t)(sy % (r + 1)) * w;
            for (int dx = -r; dx <= r; dx++) {
                if (!(dy || dx) || dy * dy + dx * dx > radius * radius) continue;
                for (int x = imax(0, dx); x < w + imin(0, dx); x++) out[x] = fmax2(out[x], src[x - dx]);
            }
        }
        memcpy(d + (size_t)y * w, out, sizeof(float) * w);
    }
    image dilated = {w, h, d};
    *c = dilated;
    used = start + (size_t)w * h; /* the ring goes */
    return 1;
}

/* c: the ink's crop, the last thing in the pool; each step's input goes once its output is made */
static int mnist_style(image c, float pixels[784]) {
    const size_t mark = used - (size_t)c.w * c.h;
    image small;
    if (!crop_threshold(&c)) return VIT_EDGE_BLANK;
    if (!thicken(&c)) return VIT_EDGE_TOO_LARGE;
    settle(&c, mark);
    if (!crop_threshold(&c)) return VIT_EDGE_BLANK;
    double scale = (double)VE_PP_BOX / imax(c.w, c.h);
    small = c;
    if (!resize(&small, imax(1, pyround(c.w * scale)), imax(1, pyround(c.h * scale)), 1)) return VIT_EDGE_TOO_LARGE;
    double total = 0, cy = 0, cx = 0; /* pixel by pixel in double, as preprocess.py sums them */
    for (int y = 0; y < small.h; y++)
        for (int x = 0; x < small.w; x++) {
            float v = fmin2(1.0f, fmax2(0.0f, small.a[y * small.w + x]));
            small.a[y * small.w + x] = v, total += v, cy += (double)v * y, cx += (double)v * x;
        }
    if (total <= 0) return VIT_EDGE_BLANK;
    int top = imin(imax(pyround(VE_PP_CENTRE - cy / total), 0), VE_PP_SIDE - small.h);
    int left = imin(imax(pyround(VE_PP_CENTRE - cx / total), 0), VE_PP_SIDE - small.w);
    memset(pixels, 0, sizeof(float) * 784);
    for (int y = 0; y < small.h; y++)
        for (int x = 0; x < small.w; x++) pixels[(top + y) * VE_PP_SIDE + left + x] = small.a[y * small.w + x];
    return 0;
}

static const unsigned char *frame; /* the last vit_edge_prepare's image ... */
static int frame_w, frame_h, frame_stride, counted;
static int map_kept; /* ... and whether its ink map is in the pool */

/* The frame's ink map and digit boxes (steps 1-4), kept in the pool up to last_mark: 0, or a
   negative code */
static int map_frame(void) {
    bytes grey;
    int status = VE_NO_PAGE;
    /* a page with nothing written on it was none: the grey levels again, the table as it was */
    for (int page = 1; status == VE_NO_PAGE; page = 0) {
        used = 0, boxes = 0, map_kept = 0;
        if (!to_grey(frame, frame_w, frame_h, frame_stride, &grey)) return VIT_EDGE_TOO_LARGE;
        status = find_ink(&grey, &last, page);
    }
    if (status) return status;
    if (!(counted = count_digits(&last))) return VIT_EDGE_TOO_LARGE; /* (at least 1: some ink is kept) */
    last_mark = used, map_kept = 1;
    return 0;
}

/* A crop moves down over the ink map where the map reaches into the model's arena (a
   microcontroller's pool, which an inference overwrites): the last steps have the whole pool, and
   the next digit makes the map again from the frame */
static void crop_alone(image *crop) {
    if (last_mark <= own_floats) return;
    settle(crop, 0);
    map_kept = 0;
}

int vit_edge_prepare(const unsigned char *gray, int width, int height, int stride, float pixels[784]) {
    image crop;
    digits = 0, boxes = 0;
    if (!gray || width < 1 || height < 1 || stride < width) return VIT_EDGE_BAD_ARGUMENT;
    find_pool();
    frame = gray, frame_w = width, frame_h = height, frame_stride = stride;
    int status = map_frame();
    if (status || (status = crop_ink(&last, &crop))) {
        boxes = 0;
        return status;
    }
    crop_alone(&crop);
    if ((status = mnist_style(crop, pixels))) {
        boxes = 0;
        return status;
    }
    digits = counted;
    return 0;
}

int vit_edge_inputs(void) { return digits ? (boxes < 2 ? 1 : boxes) : 0; }

int vit_edge_digit_box(int k, int box[4]) {
    if (!box || k < 0 || k >= vit_edge_inputs()) return VIT_EDGE_BAD_ARGUMENT;
    if (!map_kept) { /* an inference may have written over the boxes (see crop_alone) */
        const int status = map_frame();
        if (status) return status;
    }
    int b[4];
    if (boxes < 2) ink_box(&last, b);
    else memcpy(b, input_box[k], sizeof b);
    /* the working image's pixels to the frame's: blocks of `factor` pixels (to_grey) */
    const int factor = pool_factor(frame_w, frame_h), limit[4] = {frame_h, frame_h, frame_w, frame_w};
    for (int i = 0; i < 4; i++) box[i] = imin(b[i] * factor, limit[i]);
    return 0;
}

int vit_edge_prepare_digit(int k, float pixels[784]) {
    image crop;
    if (!pixels || k < 0 || k >= vit_edge_inputs()) return VIT_EDGE_BAD_ARGUMENT;
    if (!map_kept) {
        const int status = map_frame();
        if (status) return status;
    }
    used = last_mark; /* the ink map and the boxes stay; what the last digit took goes */
    int status = boxes < 2 ? crop_ink(&last, &crop) : crop_box(&last, input_box[k], &crop);
    if (status) return status;
    crop_alone(&crop);
    return mnist_style(crop, pixels);
}
