/* Template of mlp_train.h, included once per dtype with REAL (element type)
 * and SFX (f32 / f64) defined.  Every function is static. */

#define MLP_CAT_(a, b) a##_##b
#define MLP_CAT(a, b) MLP_CAT_(a, b)
#define MFN(name) MLP_CAT(name, SFX)

/* ------------------------------------------------------------------ */
/* Gathering batch rows                                                */

/* out[i, :] = X[rows[i], :] for a dense X with element strides (s0, s1).
 * Row copies of a large batch are shared among n_threads: a copy is bound by
 * the memory bandwidth one core can draw, and each row lands in the same
 * place whoever copies it. */
static void MFN(mlp_gather)(const REAL *X, ptrdiff_t s0, ptrdiff_t s1, const int64_t *rows,
                            size_t n_rows, size_t n_cols, REAL *out, int n_threads) {
    if (s1 == 1) {
        int nt = n_rows * n_cols * sizeof(REAL) >= MLP_GATHER_PAR_BYTES ? n_threads : 1;
        if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
            for (ptrdiff_t i = 0; i < (ptrdiff_t)n_rows; i++)
                memcpy(out + i * n_cols, X + rows[i] * s0, n_cols * sizeof(REAL));
        } else {   /* not through OpenMP: see MLP_FOR_CHUNKS */
            for (size_t i = 0; i < n_rows; i++)
                memcpy(out + i * n_cols, X + rows[i] * s0, n_cols * sizeof(REAL));
        }
        return;
    }
    for (size_t i = 0; i < n_rows; i++) {
        const REAL *src = X + rows[i] * s0;
        for (size_t j = 0; j < n_cols; j++) out[i * n_cols + j] = src[(ptrdiff_t)j * s1];
    }
}

/* ------------------------------------------------------------------ */
/* First layer of a CSR input                                          */

MLP_TARGETS static void MFN(mlp_axpy)(REAL *restrict y, const REAL *restrict x, REAL a,
                                      size_t n) {
    for (size_t j = 0; j < n; j++) y[j] += a * x[j];
}

/* out[i, :] = sum_k X[rows[i], k] W[k, :]  (W is n_features x fan_out) */
/* rows == NULL means the consecutive rows row0, row0 + 1, ... */
static void MFN(mlp_csr_forward)(const REAL *data, const int32_t *indices, const int32_t *indptr,
                                 const int64_t *rows, int64_t row0, size_t n_rows, const REAL *W,
                                 size_t fan_out, REAL *out) {
    for (size_t i = 0; i < n_rows; i++) {
        REAL *o = out + i * fan_out;
        memset(o, 0, fan_out * sizeof(REAL));
        int64_t r = rows ? rows[i] : row0 + (int64_t)i;
        for (int32_t p = indptr[r]; p < indptr[r + 1]; p++)
            MFN(mlp_axpy)(o, W + (size_t)indices[p] * fan_out, data[p], fan_out);
    }
}

/* gW = X[rows]^T delta, overwriting gW (n_features x fan_out) */
static void MFN(mlp_csr_weight_grad)(const REAL *data, const int32_t *indices,
                                     const int32_t *indptr, const int64_t *rows, size_t n_rows,
                                     const REAL *delta, size_t fan_out, REAL *gW,
                                     size_t n_features) {
    memset(gW, 0, n_features * fan_out * sizeof(REAL));
    for (size_t i = 0; i < n_rows; i++) {
        int64_t r = rows[i];
        for (int32_t p = indptr[r]; p < indptr[r + 1]; p++)
            MFN(mlp_axpy)(gW + (size_t)indices[p] * fan_out, delta + i * fan_out, data[p],
                          fan_out);
    }
}

/* ------------------------------------------------------------------ */
/* Regression losses on the output logits z (rows x cols), in place.   */
/* On return z holds d loss / d z.  `total` is the sum of the weights  */
/* (or the row count) the loss is averaged over; w may be NULL.        */

/* scikit-learn's squared_loss: 0.5 * mean_j sum_i w_i (z_ij - t_ij)^2 / total.
 * Its gradient, as scikit-learn back-propagates it, is w_i (z - t) / total
 * (the mean over outputs is not applied to the gradient). */
static double MFN(mlp_squared_loss)(REAL *z, const REAL *t, const REAL *w, size_t rows,
                                    size_t cols, double total) {
    double loss = 0;
    for (size_t r = 0; r < rows; r++) {
        double wr = w ? (double)w[r] : 1.0;
        REAL scale = (REAL)(wr / total);
        double row = 0;
        for (size_t j = 0; j < cols; j++) {
            REAL d = z[r * cols + j] - t[r * cols + j];
            row += (double)d * (double)d;
            z[r * cols + j] = scale * d;
        }
        loss += wr * row;
    }
    return 0.5 * loss / total / (double)cols;
}

/* scikit-learn's poisson_loss with the exp output activation:
 * sum_j sum_i w_i (t log(t / p) - t + p) / total, p = e^z, computed from z
 * (t log t - t z) so that no log of a rounded p is taken.  Gradient
 * w_i (p - t) / total. */
static double MFN(mlp_poisson_loss)(REAL *z, const REAL *t, const REAL *w, size_t rows,
                                    size_t cols, double total) {
    double loss = 0;
    for (size_t r = 0; r < rows; r++) {
        double wr = w ? (double)w[r] : 1.0;
        REAL scale = (REAL)(wr / total);
        double row = 0;
        for (size_t j = 0; j < cols; j++) {
            double zz = (double)z[r * cols + j], tt = (double)t[r * cols + j];
            double p = exp(zz);
            row += (tt > 0 ? tt * (log(tt) - zz) : 0.0) - tt + p;
            z[r * cols + j] = scale * (REAL)(p - tt);
        }
        loss += wr * row;
    }
    return loss / total;
}

/* ------------------------------------------------------------------ */
/* Inverted dropout                                                    */

/* mask_i = 1/keep with probability keep, else 0; out_i = a_i * mask_i.
 * The draw for element i depends only on (key, first + i): `first` places
 * these n elements in a larger mask (a batch computed in chunks draws the
 * masks it would draw at once). */
static void MFN(mlp_dropout_forward)(const REAL *a, REAL *mask, REAL *out, size_t n, double keep,
                                     uint64_t key, uint64_t first) {
    uint64_t threshold = (uint64_t)(keep * 9007199254740992.0); /* keep * 2^53 */
    REAL scale = (REAL)(1.0 / keep);
    for (size_t i = 0; i < n; i++) {
        uint64_t u = mlp_mix64(key + (first + i) * 0x9E3779B97F4A7C15ULL) >> 11;
        REAL m = u < threshold ? scale : 0;
        mask[i] = m;
        out[i] = a[i] * m;
    }
}

MLP_TARGETS static void MFN(mlp_mul_inplace)(REAL *restrict d, const REAL *restrict m, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] *= m[i];
}

MLP_TARGETS static double MFN(mlp_sumsq)(const REAL *p, size_t n);

/* ------------------------------------------------------------------ */
/* Optimizer updates over one contiguous range of parameters.          */
/* The gradient used is g + l2 * p (l2 = alpha / sum of weights for    */
/* coefficients, 0 for intercepts).  When sumsq is not NULL, sum(p^2)  */
/* of the parameters before the update is added to *sumsq.             */

static void MFN(mlp_adam_range)(REAL *restrict p, const REAL *restrict g, REAL *restrict m,
                                REAL *restrict v, size_t n, REAL l2, REAL b1, REAL c1, REAL b2,
                                REAL c2, REAL lr, REAL eps, double *sumsq) {
    size_t i = 0;
#ifdef MLP_X86_AVX2
    if (mlp_has_avx512())
        i = MFN(mlp_adam_avx512)(p, g, m, v, n, l2, b1, c1, b2, c2, lr, eps, sumsq);
    else if (mlp_has_avx2())
        i = MFN(mlp_adam_avx2)(p, g, m, v, n, l2, b1, c1, b2, c2, lr, eps, sumsq);
#endif
    if (sumsq) *sumsq += MFN(mlp_sumsq)(p + i, n - i);
    for (; i < n; i++) {
        REAL gk = g[i] + l2 * p[i];
        REAL mk = b1 * m[i] + c1 * gk;
        REAL vk = b2 * v[i] + c2 * (gk * gk);
        m[i] = mk;
        v[i] = vk;
        p[i] += (-lr * mk) / (MLP_SQRT(vk) + eps);
    }
}

/* The update of n parameters in chunks, threaded (MLP_FOR_CHUNKS) */
static void MFN(mlp_adam_update)(REAL *restrict p, const REAL *restrict g, REAL *restrict m,
                                 REAL *restrict v, size_t n, REAL l2, REAL b1, REAL c1, REAL b2,
                                 REAL c2, REAL lr, REAL eps, double *sumsq, int n_threads) {
    MLP_FOR_CHUNKS(n, n_threads, sumsq, i0, len, part,
                   MFN(mlp_adam_range)(p + i0, g + i0, m + i0, v + i0, len, l2, b1, c1, b2, c2,
                                       lr, eps, part));
}

/* scikit-learn's SGDOptimizer: v = mu v - lr g; p += nesterov ? mu v - lr g : v */
MLP_TARGETS static void MFN(mlp_sgd_range)(REAL *restrict p, const REAL *restrict g,
                                            REAL *restrict vel, size_t n, REAL l2, REAL mu,
                                            REAL lr, int nesterov, double *sumsq) {
    if (sumsq) *sumsq += MFN(mlp_sumsq)(p, n);
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            REAL gk = g[i] + l2 * p[i];
            REAL vk = mu * vel[i] - lr * gk;
            vel[i] = vk;
            p[i] += mu * vk - lr * gk;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            REAL gk = g[i] + l2 * p[i];
            REAL vk = mu * vel[i] - lr * gk;
            vel[i] = vk;
            p[i] += vk;
        }
    }
}

/* in chunks, threaded, as mlp_adam_update */
static void MFN(mlp_sgd_update)(REAL *restrict p, const REAL *restrict g, REAL *restrict vel,
                                size_t n, REAL l2, REAL mu, REAL lr, int nesterov,
                                double *sumsq, int n_threads) {
    MLP_FOR_CHUNKS(n, n_threads, sumsq, i0, len, part,
                   MFN(mlp_sgd_range)(p + i0, g + i0, vel + i0, len, l2, mu, lr, nesterov,
                                      part));
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

/* sum(p^2): partial sums in 2 * MLP_LANES lanes of REAL, folded in double */
MLP_TARGETS static double MFN(mlp_sumsq)(const REAL *p, size_t n) {
    REAL acc[2 * MLP_LANES] = {0};
    size_t i = 0;
    for (; i + 2 * MLP_LANES <= n; i += 2 * MLP_LANES)
        for (int k = 0; k < 2 * MLP_LANES; k++) acc[k] += p[i + k] * p[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += p[i] * p[i];
    double s = 0;
    for (int k = 0; k < 2 * MLP_LANES; k++) s += (double)acc[k];
    return s;
}

/* g += l2 * p */
MLP_TARGETS static void MFN(mlp_add_scaled)(REAL *restrict g, const REAL *restrict p, REAL l2,
                                            size_t n) {
    for (size_t i = 0; i < n; i++) g[i] += l2 * p[i];
}

MLP_TARGETS static void MFN(mlp_scale)(REAL *x, REAL s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* 1 when every entry is finite: x - x is 0 for finite x and NaN otherwise */
MLP_TARGETS static int MFN(mlp_all_finite)(const REAL *x, size_t n) {
    REAL acc[2 * MLP_LANES] = {0};
    size_t i = 0;
    for (; i + 2 * MLP_LANES <= n; i += 2 * MLP_LANES)
        for (int k = 0; k < 2 * MLP_LANES; k++) acc[k] += x[i + k] - x[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += x[i] - x[i];
    REAL s = 0;
    for (int k = 0; k < 2 * MLP_LANES; k++) s += acc[k];
    return s == 0;
}

/* out[i, :] = x[i, :] W for a few rows (the one-row predict path):
 * an axpy per input feature, cheaper than a BLAS call at this size. */
static void MFN(mlp_small_matmul)(const REAL *x, size_t ldx, size_t rows, size_t fan_in,
                                  const REAL *W, size_t fan_out, REAL *out) {
    for (size_t r = 0; r < rows; r++) {
        REAL *o = out + r * fan_out;
        memset(o, 0, fan_out * sizeof(REAL));
        const REAL *xr = x + r * ldx;
        for (size_t k = 0; k < fan_in; k++)
            if (xr[k] != 0 || xr[k] != xr[k]) MFN(mlp_axpy)(o, W + k * fan_out, xr[k], fan_out);
    }
}

#undef MLP_CAT_
#undef MLP_CAT
#undef MFN
