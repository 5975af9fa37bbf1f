/* A host program around the library: reads images from standard input and prints answers.
 *
 *   ./vit_edge_example < images.f32          28x28 float32 images in [0,1], one after another:
 *                                            "digit confidence [?]" per image
 *   ./vit_edge_example --logits < images.f32 the 10 logits per image, as float32 on stdout
 *
 * On a board, fill the 28x28 input as `vit-edge predict` prepares it and call vit_edge_predict();
 * nothing else is needed. */
#include <stdio.h>
#include <string.h>

#include "../vit_edge.h"

static void answer(const float pixels[784]) {
    float probs[10];
    int digit = vit_edge_predict(pixels, probs);
    printf("%d %.4f%s\n", digit, probs[digit], probs[digit] < VIT_EDGE_MIN_CONFIDENCE ? " ?" : "");
}

int main(int argc, char **argv) {
    static float pixels[784];
    int logits = argc == 2 && strcmp(argv[1], "--logits") == 0;
    while (fread(pixels, sizeof(float), 784, stdin) == 784) {
        if (logits) {
            float out[10];
            vit_edge_logits(pixels, out);
            fwrite(out, sizeof(float), 10, stdout);
        } else {
            answer(pixels);
        }
    }
    return 0;
}
