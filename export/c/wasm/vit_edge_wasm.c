/* vit-edge in a web page: the C engine and its preprocessing as a WebAssembly module with no imports.
 *
 * The page copies a canvas's RGBA pixels into ve_buffer(), calls ve_read() (grey levels as Pillow's
 * "L" makes them, transparency flattened onto paper, then vit_edge_prepare), then ve_logits(). One
 * static state: call from one thread (a page's main thread or one worker). Built by
 * vit_edge/export/wasm.py (clang --target=wasm32-wasi), which names every export below. */
#include <stdlib.h>

#include "../vit_edge.h"

static unsigned char *buffer;
static size_t buffer_bytes;
static float pixels[784], logits[10];

/* A buffer of at least `bytes` for the page to fill (its old contents are not kept); 0 when the
   memory cannot grow that far. */
unsigned char *ve_buffer(int bytes) {
    if (bytes < 0) return 0;
    if ((size_t)bytes > buffer_bytes) {
        free(buffer);
        buffer = malloc((size_t)bytes);
        buffer_bytes = buffer ? (size_t)bytes : 0;
    }
    return buffer;
}

/* Pillow's ITU-R 601 luma in fixed point, as Image.convert("L") computes it */
static int luma(const unsigned char *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

/* RGBA to grey in place (the grey bytes fill the buffer's first width x height bytes). Transparent
   pixels become paper of the opposite shade to the strokes' alpha-weighted one, as predict does for
   a drawing app's black strokes on a transparent canvas; Pillow's composite rounds the blend. */
static void rgba_to_grey(unsigned char *p, long n) {
    int opaque = 1;
    for (long i = 0; i < n && opaque; i++) opaque = p[4 * i + 3] == 255;
    int paper = 255;
    if (!opaque) {
        double ink = 0, weight = 0;
        for (long i = 0; i < n; i++) ink += (double)luma(p + 4 * i) * p[4 * i + 3], weight += p[4 * i + 3];
        paper = ink / (weight > 1e-9 ? weight : 1e-9) < 127.5 ? 255 : 0;
    }
    for (long i = 0; i < n; i++) {
        const int a = p[4 * i + 3], l = luma(p + 4 * i);
        p[i] = (unsigned char)(opaque ? l : (l * a + paper * (255 - a) + 127) / 255);
    }
}

/* The buffer's width x height RGBA pixels to the model's input: 0, or vit_edge_prepare's negative
   code (VIT_EDGE_BLANK: no ink). */
int ve_read(int width, int height) {
    if (width < 1 || height < 1 || (size_t)width * (size_t)height * 4 > buffer_bytes) return VIT_EDGE_BAD_ARGUMENT;
    rgba_to_grey(buffer, (long)width * height);
    return vit_edge_prepare(buffer, width, height, width, pixels);
}

/* The digit-sized groups of ink the last ve_read found side by side (1 for a single digit). */
int ve_digits(void) { return vit_edge_digits(); }

/* How many digits ve_read_digit gives, left to right (1 for a single digit). */
int ve_inputs(void) { return vit_edge_inputs(); }

/* The k-th digit's 28x28 input, into ve_pixels(), as `predict --number` reads it: 0, or a code. */
int ve_read_digit(int k) { return vit_edge_prepare_digit(k, pixels); }

/* Where the k-th digit lies in the last ve_read's image: top, bottom, left, right in its pixels
   (vit_edge_digit_box), or 0 for a k out of range. */
int *ve_digit_box(int k) {
    static int box[4];
    return vit_edge_digit_box(k, box) ? 0 : box;
}

/* The 28x28 input: ve_read's, or the page's own (it may write here before ve_logits). */
float *ve_pixels(void) { return pixels; }

/* The model's 10 calibrated logits for ve_pixels(). */
float *ve_logits(void) {
    vit_edge_logits(pixels, logits);
    return logits;
}

float ve_min_confidence(void) { return VIT_EDGE_MIN_CONFIDENCE; }

/* ve_read's codes, from vit_edge.h: the page compares with these, not with copies of the numbers. */
int ve_blank(void) { return VIT_EDGE_BLANK; }
int ve_too_large(void) { return VIT_EDGE_TOO_LARGE; }
