/* A host program around the library: reads images from standard input and prints answers.
 *
 *   ./vit_edge_example < images.f32          28x28 float32 images in [0,1], one after another:
 *                                            "digit confidence [?]" per image
 *   ./vit_edge_example --logits < images.f32 the 10 logits per image, as float32 on stdout
 *   ./vit_edge_example --gray W H < img.u8   a W x H grey image (bytes, row by row): prepared by
 *                                            vit_edge_prepare, then predicted ("blank" when no ink;
 *                                            "?" also when it holds several digits side by side)
 *   ./vit_edge_example --prepare W H < img.u8  the same image's 28x28 input, as float32 on stdout,
 *                                            and "digits N" on stderr
 *
 * On a board, call vit_edge_prepare() on the camera's or touch panel's grey buffer, then
 * vit_edge_predict(); nothing else is needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vit_edge.h"

static void answer(const float pixels[784], int several) {
    float probs[10];
    int digit = vit_edge_predict(pixels, probs);
    printf("%d %.4f%s\n", digit, probs[digit], several || probs[digit] < VIT_EDGE_MIN_CONFIDENCE ? " ?" : "");
}

/* the program's input buffer (the library allocates nothing): up to 4x the working image */
static unsigned char gray[4L * VIT_EDGE_WORK_SIDE * VIT_EDGE_WORK_SIDE];

int main(int argc, char **argv) {
    static float pixels[784];
    if (argc == 4 && (strcmp(argv[1], "--gray") == 0 || strcmp(argv[1], "--prepare") == 0)) {
        int w = atoi(argv[2]), h = atoi(argv[3]);
        if (w < 1 || h < 1 || (long)w * h > (long)sizeof gray) return 2;
        if (fread(gray, 1, (size_t)w * (size_t)h, stdin) != (size_t)w * (size_t)h) return 2;
        int status = vit_edge_prepare(gray, w, h, w, pixels);
        if (status != 0) {
            printf(status == VIT_EDGE_BLANK ? "blank\n" : "error %d\n", status);
            return 1;
        }
        if (argv[1][2] == 'p') fwrite(pixels, sizeof(float), 784, stdout), fprintf(stderr, "digits %d\n", vit_edge_digits());
        else answer(pixels, vit_edge_digits() > 1);
        return 0;
    }
    int logits = argc == 2 && strcmp(argv[1], "--logits") == 0;
    while (fread(pixels, sizeof(float), 784, stdin) == 784) {
        if (logits) {
            float out[10];
            vit_edge_logits(pixels, out);
            fwrite(out, sizeof(float), 10, stdout);
        } else {
            answer(pixels, 0);
        }
    }
    return 0;
}
