/* fastact: in-place activation kernels over flat float32/float64 buffers.
 *
 * Plain C, no Python: the Cython bridge validates every argument before it
 * calls anything here, so these functions trust their inputs (sizes agree,
 * pointers are valid, parameters are in range).
 *
 * Conventions
 *   - "forward" writes f(x) to out; out may equal x (in place).
 *   - "backward" multiplies delta in place by the slope, taken from y = f(x)
 *     for FA_FROM_OUTPUT activations and from the saved input x otherwise.
 *     delta must not overlap y or x (the bridge copies when it would).
 *   - Row-wise kernels see a C-ordered (rows, cols) matrix.
 *   - n_threads is the most threads a call may use, 0 meaning OpenMP's
 *     default (omp_get_max_threads()); 1 runs on the calling thread.  OpenMP
 *     is used only when the buffer is big enough to pay for it.  Results
 *     never depend on n_threads.
 */
#ifndef FASTACT_H
#define FASTACT_H

#include <stddef.h>

/* The activation table: one row per activation, in the order of the enum.
 * X(ID, name, slope_from, pattern)
 *   slope_from: OUTPUT or INPUT (what backward needs)
 *   pattern:    ELEMENTWISE, PER_FEATURE (prelu), ROWWISE (softmax family),
 *               REDUCE (maxout)
 * Adding an elementwise activation: a row here, its fwd_/slope_ pair in
 * act_scalar.h, and its description in fastact/_table.py. */
#define FA_ACTIVATION_TABLE(X)                           \
    X(IDENTITY,     identity,     OUTPUT, ELEMENTWISE)   \
    X(LOGISTIC,     logistic,     OUTPUT, ELEMENTWISE)   \
    X(TANH,         tanh,         OUTPUT, ELEMENTWISE)   \
    X(RELU,         relu,         OUTPUT, ELEMENTWISE)   \
    X(LEAKY_RELU,   leaky_relu,   OUTPUT, ELEMENTWISE)   \
    X(ELU,          elu,          OUTPUT, ELEMENTWISE)   \
    X(SELU,         selu,         OUTPUT, ELEMENTWISE)   \
    X(CELU,         celu,         OUTPUT, ELEMENTWISE)   \
    X(SOFTPLUS,     softplus,     OUTPUT, ELEMENTWISE)   \
    X(SOFTSIGN,     softsign,     OUTPUT, ELEMENTWISE)   \
    X(HARD_SIGMOID, hard_sigmoid, OUTPUT, ELEMENTWISE)   \
    X(HARD_TANH,    hard_tanh,    OUTPUT, ELEMENTWISE)   \
    X(RELU6,        relu6,        OUTPUT, ELEMENTWISE)   \
    X(EXP,          exp,          OUTPUT, ELEMENTWISE)   \
    X(STEP,         step,         OUTPUT, ELEMENTWISE)   \
    X(SWISH,        swish,        INPUT,  ELEMENTWISE)   \
    X(GELU,         gelu,         INPUT,  ELEMENTWISE)   \
    X(GELU_TANH,    gelu_tanh,    INPUT,  ELEMENTWISE)   \
    X(MISH,         mish,         INPUT,  ELEMENTWISE)   \
    X(HARDSWISH,    hardswish,    INPUT,  ELEMENTWISE)   \
    X(PRELU,        prelu,        OUTPUT, PER_FEATURE)   \
    X(SOFTMAX,      softmax,      OUTPUT, ROWWISE)       \
    X(LOG_SOFTMAX,  log_softmax,  OUTPUT, ROWWISE)       \
    X(MAXOUT,       maxout,       INPUT,  REDUCE)

#define FA_ENUM_ROW(ID, name, from, pattern) FA_##ID,
typedef enum { FA_ACTIVATION_TABLE(FA_ENUM_ROW) FA_N_ACTIVATIONS } fa_kind;
#undef FA_ENUM_ROW

/* Scalar parameters; their meaning per activation is listed in act_scalar.h
 * (alpha, beta, threshold, scale, min_val/max_val). */
typedef struct { double a, b; } fa_params;

/* name of each kind, NULL-terminated, in enum order */
extern const char *const fa_kind_names[];
/* 1 if the slope needs the forward input x, 0 if the output y suffices */
extern const int fa_slope_from_input[];

/* ---- elementwise: any kind whose pattern is ELEMENTWISE ---- */
void fa_forward_f32(fa_kind k, const fa_params *p, const float *x, float *out,
                    size_t n, int n_threads);
void fa_forward_f64(fa_kind k, const fa_params *p, const double *x, double *out,
                    size_t n, int n_threads);
/* src is y for slope-from-output kinds, x for slope-from-input kinds */
void fa_backward_f32(fa_kind k, const fa_params *p, const float *src,
                     float *delta, size_t n, int n_threads);
void fa_backward_f64(fa_kind k, const fa_params *p, const double *src,
                     double *delta, size_t n, int n_threads);

/* ---- prelu: alpha has one entry per column ---- */
void fa_prelu_forward_f32(const float *x, float *out, const float *alpha,
                          size_t rows, size_t cols, int n_threads);
void fa_prelu_forward_f64(const double *x, double *out, const double *alpha,
                          size_t rows, size_t cols, int n_threads);
/* grad_alpha[j] = sum_i delta_ij * y_ij / alpha_j over y_ij <= 0, taken with
 * the incoming delta; then delta *= slope.  grad_alpha may be NULL. */
void fa_prelu_backward_f32(const float *y, float *delta, const float *alpha,
                           float *grad_alpha, size_t rows, size_t cols);
void fa_prelu_backward_f64(const double *y, double *delta, const double *alpha,
                           double *grad_alpha, size_t rows, size_t cols);

/* ---- softmax family, along rows of length cols ---- */
void fa_softmax_forward_f32(const float *x, float *out, size_t rows, size_t cols, int n_threads);
void fa_softmax_forward_f64(const double *x, double *out, size_t rows, size_t cols, int n_threads);
void fa_log_softmax_forward_f32(const float *x, float *out, size_t rows, size_t cols, int n_threads);
void fa_log_softmax_forward_f64(const double *x, double *out, size_t rows, size_t cols, int n_threads);
void fa_softmax_backward_f32(const float *y, float *delta, size_t rows, size_t cols, int n_threads);
void fa_softmax_backward_f64(const double *y, double *delta, size_t rows, size_t cols, int n_threads);
void fa_log_softmax_backward_f32(const float *y, float *delta, size_t rows, size_t cols, int n_threads);
void fa_log_softmax_backward_f64(const double *y, double *delta, size_t rows, size_t cols, int n_threads);

/* ---- maxout: x is (rows, m*k), out is (rows, m); ties go to the first piece ---- */
void fa_maxout_forward_f32(const float *x, float *out, size_t rows, size_t m, size_t k);
void fa_maxout_forward_f64(const double *x, double *out, size_t rows, size_t m, size_t k);
/* grad_x (rows, m*k) is overwritten: delta routed to each arg-max piece */
void fa_maxout_backward_f32(const float *x, const float *delta, float *grad_x,
                            size_t rows, size_t m, size_t k);
void fa_maxout_backward_f64(const double *x, const double *delta, double *grad_x,
                            size_t rows, size_t m, size_t k);

/* ---- fused layer kernels (C-ordered (rows, cols) matrices) ----
 * bias_act_forward: z = f(z + bias) in place, one pass; if saved_input is not
 * NULL, z + bias is stored there too (for slope-from-input kinds).
 * k may be any ELEMENTWISE kind, FA_SOFTMAX or FA_LOG_SOFTMAX. */
void fa_bias_act_forward_f32(fa_kind k, const fa_params *p, float *z, const float *bias,
                             float *saved_input, size_t rows, size_t cols, int n_threads);
void fa_bias_act_forward_f64(fa_kind k, const fa_params *p, double *z, const double *bias,
                             double *saved_input, size_t rows, size_t cols, int n_threads);
/* act_backward_bias_grad: delta *= slope (src as in fa_backward), then
 * bias_grad[j] = sum_i delta_ij (overwritten).  ELEMENTWISE kinds only. */
void fa_act_backward_bias_grad_f32(fa_kind k, const fa_params *p, const float *src,
                                   float *delta, float *bias_grad, size_t rows, size_t cols,
                                   int n_threads);
void fa_act_backward_bias_grad_f64(fa_kind k, const fa_params *p, const double *src,
                                   double *delta, double *bias_grad, size_t rows, size_t cols,
                                   int n_threads);

/* ---- fused output layer + loss ----
 * z holds logits on entry and the gradient of the mean loss w.r.t. the logits
 * on return: w_i (p_i - t_i) / sum(w), with p = softmax(z) (or sigmoid(z)).
 * If proba is not NULL the probabilities are written there too.
 * weights may be NULL (all ones).  Returns the (weighted) mean loss,
 * computed from log-sum-exp / softplus, never log of a rounded probability.
 * softmax: loss_i = -sum_j t_ij log p_ij ; logistic: sum_j softplus(z) - t z */
double fa_softmax_xent_f32(float *z, const float *t, const float *weights, float *proba,
                           size_t rows, size_t cols);
double fa_softmax_xent_f64(double *z, const double *t, const double *weights, double *proba,
                           size_t rows, size_t cols);
double fa_logistic_bxent_f32(float *z, const float *t, const float *weights, float *proba,
                             size_t rows, size_t cols);
double fa_logistic_bxent_f64(double *z, const double *t, const double *weights, double *proba,
                             size_t rows, size_t cols);

#endif
