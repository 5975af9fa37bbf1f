/* Exercises vit_edge.h's return codes and arguments; prints one line per check, "name value". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vit_edge.h"

#define W 40
#define H 30
#define STRIDE 57

int main(void) {
    static unsigned char packed[H * W], padded[H * STRIDE];
    float a[784], b[784], probs[10];
    memset(packed, 230, sizeof packed);
    memset(padded, 0, sizeof padded); /* the bytes past each row's end are black: they must be ignored */
    for (int y = 5; y < 25; y++)
        for (int x = 18; x < 22; x++) packed[y * W + x] = 20; /* a "1" */
    for (int y = 0; y < H; y++) memcpy(padded + y * STRIDE, packed + y * W, W);
    printf("packed %d\n", vit_edge_prepare(packed, W, H, W, a));
    printf("digits_after_success %d\n", vit_edge_digits());
    printf("padded %d\n", vit_edge_prepare(padded, W, H, STRIDE, b));
    printf("stride_same_pixels %d\n", memcmp(a, b, sizeof a) == 0);
    printf("null_buffer %d\n", vit_edge_prepare(NULL, W, H, W, a));
    printf("digits_after_failure %d\n", vit_edge_digits());
    printf("zero_width %d\n", vit_edge_prepare(packed, 0, H, W, a));
    printf("zero_height %d\n", vit_edge_prepare(packed, W, 0, W, a));
    printf("stride_under_width %d\n", vit_edge_prepare(packed, W, H, W - 1, a));
    memset(packed, 200, sizeof packed);
    printf("blank %d\n", vit_edge_prepare(packed, W, H, W, a));
    printf("digits_after_blank %d\n", vit_edge_digits());
    int with = vit_edge_predict(b, probs), without = vit_edge_predict(b, NULL);
    printf("predict_null_probs_same %d\n", with == without);
    printf("predict_digit %d\n", without);
    /* sizes a buffer can have: one pixel, a line 100,000 wide (pooled to the working side) */
    static unsigned char line[100000];
    memset(line, 255, sizeof line);
    printf("one_pixel %d\n", vit_edge_prepare(packed, 1, 1, 1, a));
    printf("long_line %d\n", vit_edge_prepare(line, 100000, 1, 100000, a));
    for (int i = 40000; i < 40100; i++) line[i] = 0;
    printf("long_line_with_ink %d\n", vit_edge_prepare(line, 100000, 1, 100000, a));
    unsigned seed = 12345; /* noise: whatever it reads, it must return a code or a digit */
    for (int i = 0; i < H * W; i++) seed = seed * 1103515245u + 12345u, packed[i] = (unsigned char)(seed >> 16);
    int noise = vit_edge_prepare(packed, W, H, W, a);
    printf("noise_handled %d\n", noise == VIT_EDGE_BLANK || (noise == 0 && vit_edge_predict(a, probs) >= 0));
    /* pixels the engine must refuse: NaN, infinities, values outside [0, 1] */
    const float bad[] = {NAN, INFINITY, -INFINITY, -0.5f, 1.5f};
    int refused = 0, logits_zero = 1;
    for (int k = 0; k < 5; k++) {
        memcpy(a, b, sizeof a);
        a[400] = bad[k];
        float logits[10];
        refused += vit_edge_predict(a, probs) == VIT_EDGE_BAD_PIXELS;
        vit_edge_logits(a, logits);
        for (int c = 0; c < 10; c++) logits_zero &= logits[c] == 0.0f;
    }
    printf("bad_pixels_refused %d\n", refused);
    printf("bad_pixels_logits_zero %d\n", logits_zero);
    return 0;
}
