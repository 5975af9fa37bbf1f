/* Exercises vit_edge.h's return codes and arguments; prints one line per check, "name value". */
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
    return 0;
}
