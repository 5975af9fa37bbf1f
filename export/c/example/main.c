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
 *   ./vit_edge_example --number W H < img.u8   the digits side by side read one by one, as
 *                                            `predict --number`: "number confidence [?]"
 *   ./vit_edge_example --inputs W H < img.u8   each digit's 28x28 input, as float32 on stdout
 *   ./vit_edge_example --boxes W H < img.u8    where each digit lies in the image:
 *                                            "top bottom left right" per digit
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
    if (digit < 0) { /* VIT_EDGE_BAD_PIXELS: not 28x28 floats in [0, 1] */
        printf("error %d: a pixel is not a number in [0, 1]\n", digit);
        return;
    }
    printf("%d %.4f%s\n", digit, probs[digit], several || probs[digit] < VIT_EDGE_MIN_CONFIDENCE ? " ?" : "");
}

/* Each digit side by side on its own (or its input written out): the number and the product of the
   digits' confidences, marked "?" under VIT_EDGE_MIN_CONFIDENCE or when touching digits stayed whole. */
static int read_number(int print) {
    static float pixels[784];
    float probs[10], confidence = 1.0f;
    for (int k = 0; k < vit_edge_inputs(); k++) {
        if (vit_edge_prepare_digit(k, pixels) != 0) return printf("error\n"), 1;
        if (!print) {
            fwrite(pixels, sizeof(float), 784, stdout);
            continue;
        }
        int digit = vit_edge_predict(pixels, probs);
        printf("%d", digit), confidence *= probs[digit];
    }
    if (print)
        printf(" %.4f%s\n", confidence,
               confidence < VIT_EDGE_MIN_CONFIDENCE || vit_edge_digits() > vit_edge_inputs() ? " ?" : "");
    return 0;
}

/* the program's input buffer (the library allocates nothing): up to 4x the working image */
static unsigned char gray[4L * VIT_EDGE_WORK_SIDE * VIT_EDGE_WORK_SIDE];

int main(int argc, char **argv) {
    static float pixels[784];
    const int image = argc == 4 && (strcmp(argv[1], "--gray") == 0 || strcmp(argv[1], "--prepare") == 0 ||
                                    strcmp(argv[1], "--number") == 0 || strcmp(argv[1], "--inputs") == 0 ||
                                    strcmp(argv[1], "--boxes") == 0);
    if (image) {
        int w = atoi(argv[2]), h = atoi(argv[3]);
        if (w < 1 || h < 1 || (long)w * h > (long)sizeof gray) return 2;
        if (fread(gray, 1, (size_t)w * (size_t)h, stdin) != (size_t)w * (size_t)h) return 2;
        int status = vit_edge_prepare(gray, w, h, w, pixels);
        if (status != 0) {
            printf(status == VIT_EDGE_BLANK ? "blank\n" : "error %d\n", status);
            return 1;
        }
        if (argv[1][2] == 'p') fwrite(pixels, sizeof(float), 784, stdout), fprintf(stderr, "digits %d\n", vit_edge_digits());
        else if (argv[1][2] == 'g') answer(pixels, vit_edge_digits() > 1);
        else if (argv[1][2] == 'b')
            for (int k = 0, b[4]; k < vit_edge_inputs() && vit_edge_digit_box(k, b) == 0; k++)
                printf("%d %d %d %d\n", b[0], b[1], b[2], b[3]);
        else return read_number(argv[1][2] == 'n');
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
