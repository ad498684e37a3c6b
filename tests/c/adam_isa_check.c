/* Adam's AVX2 and AVX-512 loops (csrc/mlp_train.h) give the same parameters,
 * moments and sum of squares, bit for bit, for lengths that leave every kind
 * of tail; prints SAME, DIFFER, or SKIP without AVX-512 or x86-64.
 *   gcc -O3 -fopenmp -I csrc tests/c/adam_isa_check.c -lm && ./a.out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include "mlp_train.h"

#define N 1037
int main(void) {
#ifndef MLP_X86_AVX2
    printf("SKIP: no x86-64 vector loops in this build\n");
    return 0;
#else
    if (!mlp_has_avx512()) {
        printf("SKIP: no AVX-512F here\n");
        return 0;
    }
    int bad = 0;
    for (int rep = 0; rep < 50; rep++) {
        float p[2][N], g[N], m[2][N], v[2][N]; double ss[2] = {0, 0};
        double pd[2][N], gd[N], md[2][N], vd[2][N]; double sd[2] = {0, 0};
        srand(rep);
        for (int i = 0; i < N; i++) {
            p[0][i] = p[1][i] = pd[0][i] = pd[1][i] = (float)rand() / RAND_MAX - 0.5f;
            g[i] = gd[i] = (float)rand() / RAND_MAX - 0.5f;
            m[0][i] = m[1][i] = md[0][i] = md[1][i] = (float)rand() / RAND_MAX * 0.1f;
            v[0][i] = v[1][i] = vd[0][i] = vd[1][i] = (float)rand() / RAND_MAX * 0.01f;
        }
        size_t n = N - rep;
        size_t a = mlp_adam_avx2_f32(p[0], g, m[0], v[0], n, 1e-4f, 0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 1e-8f, &ss[0]);
        size_t b = mlp_adam_avx512_f32(p[1], g, m[1], v[1], n, 1e-4f, 0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 1e-8f, &ss[1]);
        size_t c = mlp_adam_avx2_f64(pd[0], gd, md[0], vd[0], n, 1e-4, 0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8, &sd[0]);
        size_t d = mlp_adam_avx512_f64(pd[1], gd, md[1], vd[1], n, 1e-4, 0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8, &sd[1]);
        if (a != b || c != d || memcmp(p[0], p[1], sizeof p[0]) || memcmp(m[0], m[1], sizeof m[0]) ||
            memcmp(v[0], v[1], sizeof v[0]) || ss[0] != ss[1] || memcmp(pd[0], pd[1], sizeof pd[0]) ||
            memcmp(md[0], md[1], sizeof md[0]) || memcmp(vd[0], vd[1], sizeof vd[0]) || sd[0] != sd[1]) {
            printf("rep %d n %zu differ: %zu %zu %zu %zu ss %.17g %.17g sd %.17g %.17g\n", rep, n, a, b, c, d, ss[0], ss[1], sd[0], sd[1]);
            bad++;
        }
    }
    printf(bad ? "DIFFER\n" : "SAME\n");
    return bad != 0;
#endif
}
