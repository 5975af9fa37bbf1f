/* The C engine on an emulated Cortex-M board: every image in images.h through vit_edge_predict,
 * one line each ("i digit p0 ... p9"), then every grey buffer in images.h through vit_edge_prepare
 * and vit_edge_predict (the same lines), then the cost of one inference:
 *   instructions: SysTick under `qemu -icount shift=0` ticks once every CYCLES_PER_TICK instructions
 *   (Arm); minstret counts them one by one (RISC-V)
 *   stack: the deepest the stack went below main's frame (painted before, scanned after)
 *   prepare: the most a vit_edge_prepare call took; last: what the last buffer took (the camera frame),
 *   and its pixels */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "images.h"
#include "vit_edge.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define PAINT 0xA5A5A5A5u
#define STACK_WATCH 8192 /* bytes below main's frame that are painted and watched */

#if defined(HOST) /* the reference run on the build machine: the same lines, no board registers */
static uint32_t ticks(void) { return 0; }
#define SPENT(t0) 0u
#elif defined(__riscv) /* minstret, instructions retired (csrr rd, minstret: .insn for assemblers without zicsr) */
static uint32_t ticks(void) {
    uint32_t n;
    __asm__ volatile(".insn i 0x73, 2, %0, x0, -1278" : "=r"(n));
    return n;
}
#define SPENT(t0) (ticks() - (t0))
#else /* SysTick counts down, 24 bits */
static uint32_t ticks(void) { return SYST_CVR; }
#define SPENT(t0) (((t0) - ticks()) & 0xFFFFFFu)
#endif

int main(void) {
    static float pixels[784];
    volatile uint32_t marker = 0;
    uint32_t *top = (uint32_t *)((uintptr_t)&marker & ~(uintptr_t)3) - 64;
#ifndef HOST
    for (int i = 0; i < STACK_WATCH / 4; i++) top[-i] = PAINT;
#ifndef __riscv
    SYST_RVR = 0xFFFFFFu, SYST_CVR = 0, SYST_CSR = 5; /* enable, processor clock, no interrupt */
#endif
#endif
    uint32_t worst = 0;
    for (int n = 0; n < N_IMAGES; n++) {
        float probs[10];
        for (int i = 0; i < 784; i++) pixels[i] = IMAGES[n][i] / 255.0f;
        uint32_t t0 = ticks();
        int digit = vit_edge_predict(pixels, probs);
        uint32_t spent = SPENT(t0);
        if (spent > worst) worst = spent;
        printf("%d %d", n, digit);
        for (int c = 0; c < 10; c++) printf(" %.6f", (double)probs[c]);
        printf("\n");
    }
    int used = 0;
#ifndef HOST
    for (int i = STACK_WATCH / 4 - 1; i >= 0; i--)
        if (top[-i] != PAINT) { used = i * 4; break; }
#endif
    (void)top;
    uint32_t prepare_worst = 0, prepare_last = 0, last_pixels = 0;
    for (int n = 0; n < N_GRAYS; n++) { /* grey buffers, as a camera or touch panel gives them */
        float probs[10];
        uint32_t t0 = ticks();
        int status = vit_edge_prepare(GRAYS[n].pixels, GRAYS[n].width, GRAYS[n].height, GRAYS[n].width, pixels);
        uint32_t spent = SPENT(t0);
        if (spent > prepare_worst) prepare_worst = spent;
        prepare_last = spent, last_pixels = (uint32_t)(GRAYS[n].width * GRAYS[n].height);
        int digit = status == 0 ? vit_edge_predict(pixels, probs) : status;
        printf("%d %d", N_IMAGES + n, digit);
        for (int c = 0; c < 10; c++) printf(" %.6f", status == 0 ? (double)probs[c] : 0.0);
        printf("\n");
    }
    printf("ticks %lu stack %d arena %d prepare %lu last %lu pixels %lu\n", (unsigned long)worst, used + 256,
           (int)VIT_EDGE_ARENA_BYTES, (unsigned long)prepare_worst, (unsigned long)prepare_last,
           (unsigned long)last_pixels);
    exit(0);
}
