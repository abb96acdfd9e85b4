/* The SRU recurrence on CPU, forward and backward: one call each per layer, OpenMP over batch x hidden.
 *
 * Lei et al., "Simple Recurrent Units for Highly Parallelizable Recurrence", EMNLP 2018, eqs. (3)-(5)
 * with the v2 peephole terms, for every step t of one lane (a batch row, a direction, a hidden unit):
 *
 *     f_t = sigmoid(f'_t + v_f c_{t-1} + b_f)       c_t = f_t c_{t-1} + (1 - f_t) x~_t
 *     r_t = sigmoid(r'_t + v_r c_{t-1} + b_r)       h_t = r_t g(c_t) + (1 - r_t) x'_t
 *
 * Layouts are those of forecast/kernels/sru_reference.py, read in place: u (B, T, dirs, k, D) with
 * k = 3 or 4 components [x~, f', r'(, x')], h (B, T, dirs, D), v and b (2, dirs, D),
 * c0 and c_last (B, dirs, D). Direction 1 walks t from T - 1 down to 0, so no tensor is ever flipped.
 * The highway x' is a pointer and a row stride: u's 4th component (stride k D) or a tensor of its own (D).
 * For training, the forward also keeps every f_t and r_t, (f, r) pairs of rows of D at a pointer and a row
 * stride: over u's own f' and r' (stride k D), which the backward no longer needs, or in a tensor of their
 * own (B, T, dirs, 2, D). The backward then computes no sigmoid: it costs about 40% less. Of the cell
 * states it keeps only those that enter each SEGMENT of steps (in reading order), (B, S, dirs, D) with
 * S = ceil(T / SEGMENT): the backward replays a segment's c_t from its kept f_t and x~_t (two products and a
 * sum per lane, the forward's own expression, `cell`, so the same bits) into a buffer that stays in cache,
 * then walks it back. Memory and traffic for the states shrink SEGMENT times.
 *
 * No torch headers: plain C compiles in about a second on first use (forecast/kernels/build.py).
 * Compiled as it is, this file includes itself twice: the kernels once per scalar type REAL.
 */
#ifndef REAL

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Lanes per task: a block of hidden units walked through all steps, a vector loop per step. */
#define BLOCK 256

/* Software prefetch. A task's rows lie dirs k D values apart from one step to the next; from 2 KB apart
 * (both directions, k = 4, D = 64) the hardware prefetchers stop following them and every step waits on
 * memory: the forward took 2.6-3 times as long per lane there. So each step asks for the first AHEAD_LINES
 * cache lines of each row it will read or write AHEAD steps later; the rest of a longer row the hardware
 * fetches on its own. Both values were chosen by timing 2 and 4 steps, and 2, 4 and all lines, at
 * (B, T, dirs, D) = (64, 96, 1, 64), (64, 96, 2, 64), (32, 336, 2, 128) and (64, 96, 2, 256). */
#define AHEAD 2
#define AHEAD_LINES 4

/* Steps per segment of kept cell states (see above): a task's replay buffer is (SEGMENT + 1) x BLOCK values.
 * Exported as sru_segment, from which the caller sizes c_all. */
#define SEGMENT 16
const int64_t sru_segment = SEGMENT;

/* Ask for the first AHEAD_LINES cache lines of the `bytes` bytes at `row` (to be written, if `write`). */
static inline void prefetch_row(const void *row, int64_t bytes, const int write) {
    for (int64_t byte = 0; byte < bytes && byte < 64 * AHEAD_LINES; byte += 64) {
        if (write) __builtin_prefetch((const char *)row + byte, 1);
        else __builtin_prefetch((const char *)row + byte, 0);
    }
}

/* exp for float32 in a form compilers vectorize (libm's expf stays a scalar call without -ffast-math):
 * 2^n p(r) with x = n ln2 + r, |r| <= ln2 / 2, p Cephes' degree-6 polynomial. Within 1.01 ulp of the
 * exact value on [-87.3, 88.3] (checked on every 7th float there); clamped outside it, where the
 * sigmoid is within 5e-39 of 0 or 1. */
static inline float exp_f32(float x) {
    x = x < -87.3f ? -87.3f : x; /* comparisons, not fminf: a NaN stays a NaN */
    x = x > 88.3f ? 88.3f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 2^23 */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3333519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t bits; float value; } scale = {.bits = ((int32_t)n + 127) << 23};
    return p * scale.value;
}

/* tanh for float32 in a form compilers vectorize (libm's tanhf is a scalar call, ten times the cost of the
 * rest of a step): Cephes' tanhf, an odd polynomial below |x| = 0.625, else 1 - 2 / (e^{2|x|} + 1) with
 * exp_f32. Both branches are computed and one is selected, so the loop keeps no branch. */
static inline float tanh_f32(float x) {
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                   3.33332819422e-1f) * z * x + x;
    float a = x < 0 ? -x : x;
    float large = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
    large = x < 0 ? -large : large;
    return a < 0.625f ? small : large;
}

#define REAL float
#define NAME(name) name##_f32
#define EXP exp_f32
#define TANH tanh_f32
#include "sru_cpu.c"
#undef REAL
#undef NAME
#undef EXP
#undef TANH

#define REAL double
#define NAME(name) name##_f64
#define EXP exp
#define TANH tanh
#include "sru_cpu.c"

#else /* the kernels for one scalar type REAL */

static inline REAL NAME(sigmoid)(REAL x) { return 1 / (1 + EXP(-x)); }

/* c_t from c_{t-1}: in the forward and in the backward's replay, so that both compute the same bits. */
static inline REAL NAME(cell)(REAL f, REAL c_before, REAL x_tilde) { return f * c_before + (1 - f) * x_tilde; }

/* One step of `width` lanes. Called with constant `use_tanh` and `keep`, so that once inlined the loop has
 * no branch left and vectorizes. With `keep` it writes f and r to f_out and r_out, which may be f_pre and
 * r_pre themselves: each lane reads its pre-activation before it writes its gate. */
static inline __attribute__((always_inline)) void NAME(forward_step)(
    int64_t width, const REAL *x_tilde, const REAL *f_pre, const REAL *r_pre, const REAL *x_highway,
    const REAL *v_f, const REAL *v_r, const REAL *b_f, const REAL *b_r, REAL *restrict c, REAL *restrict h,
    REAL *f_out, REAL *r_out, const int use_tanh, const int keep) {
#pragma omp simd
    for (int64_t j = 0; j < width; j++) {
        REAL f = NAME(sigmoid)(f_pre[j] + v_f[j] * c[j] + b_f[j]);
        REAL r = NAME(sigmoid)(r_pre[j] + v_r[j] * c[j] + b_r[j]);
        c[j] = NAME(cell)(f, c[j], x_tilde[j]);
        REAL g = use_tanh ? TANH(c[j]) : c[j];
        h[j] = r * g + (1 - r) * x_highway[j];
        if (keep) {
            f_out[j] = f;
            r_out[j] = r;
        }
    }
}

/* Forward: h and c_last; for training (c_all and gates not NULL) the c entering each segment into c_all
 * (B, S, dirs, D) and every (f_t, r_t) at gates, rows `gates_stride` apart (gates may point into u: u + D,
 * stride k D). */
void NAME(sru_forward)(REAL *u, const REAL *highway, int64_t highway_stride, const REAL *v, const REAL *b,
                       const REAL *c0, REAL *h, REAL *c_all, REAL *gates, int64_t gates_stride, REAL *c_last,
                       int64_t batch, int64_t steps, int64_t dirs, int64_t k, int64_t size, int use_tanh,
                       int num_threads) {
    int64_t blocks = (size + BLOCK - 1) / BLOCK, segments = (steps + SEGMENT - 1) / SEGMENT;
#pragma omp parallel for schedule(static) num_threads(num_threads)
    for (int64_t task = 0; task < batch * dirs * blocks; task++) {
        int64_t pair = task / blocks, start = (task % blocks) * BLOCK, dir = pair % dirs; /* pair: (b, dir) */
        int64_t width = size - start < BLOCK ? size - start : BLOCK;
        const REAL *v_f = v + dir * size + start, *v_r = v + (dirs + dir) * size + start;
        const REAL *b_f = b + dir * size + start, *b_r = b + (dirs + dir) * size + start;
        REAL c[BLOCK];
        memcpy(c, c0 + pair * size + start, width * sizeof(REAL));
        for (int64_t step = 0; step < steps; step++) {
            int64_t t = dir == 0 ? step : steps - 1 - step;
            int64_t row = ((pair / dirs) * steps + t) * dirs + dir; /* (b, t, dir) */
            const REAL *x_tilde = u + row * k * size + start, *x_highway = highway + row * highway_stride + start;
            if (c_all && step % SEGMENT == 0) {
                int64_t kept = ((pair / dirs) * segments + step / SEGMENT) * dirs + dir; /* (b, segment, dir) */
                memcpy(c_all + kept * size + start, c, width * sizeof(REAL));
            }
            REAL *f_out = gates ? gates + row * gates_stride + start : NULL, *r_out = f_out ? f_out + size : NULL;
            if (step + AHEAD < steps) { /* the rows of step + AHEAD: x~, f', r' (3 rows of D in u), x', h */
                int64_t next = dir == 0 ? row + AHEAD * dirs : row - AHEAD * dirs, bytes = width * sizeof(REAL);
                for (int64_t part = 0; part < 3; part++) prefetch_row(u + (next * k + part) * size + start, bytes, 0);
                prefetch_row(highway + next * highway_stride + start, bytes, 0);
                prefetch_row(h + next * size + start, bytes, 1);
                if (gates && gates != u + size) { /* gates of their own; over u, they are f' and r' */
                    prefetch_row(gates + next * gates_stride + start, bytes, 1);
                    prefetch_row(gates + next * gates_stride + size + start, bytes, 1);
                }
            }
#define FORWARD_STEP(use_tanh, keep)                                                                              \
    NAME(forward_step)(width, x_tilde, x_tilde + size, x_tilde + 2 * size, x_highway, v_f, v_r, b_f, b_r, c,      \
                       h + row * size + start, f_out, r_out, use_tanh, keep)
            switch (2 * !!use_tanh + !!gates) {
                case 0: FORWARD_STEP(0, 0); break;
                case 1: FORWARD_STEP(0, 1); break;
                case 2: FORWARD_STEP(1, 0); break;
                default: FORWARD_STEP(1, 1);
            }
#undef FORWARD_STEP
        }
        memcpy(c_last + pair * size + start, c, width * sizeof(REAL));
    }
}

/* The pointers of one step of one lane block in the backward pass. */
struct NAME(backward_rows) {
    const REAL *x_tilde, *f, *r, *x_highway, *c_before, *c_t, *grad_h;
    REAL *grad_x_tilde, *grad_f_pre, *grad_r_pre, *grad_x_highway;
};

/* The running sums of one lane block: what flows back along c, and the gradients of v and b. */
struct NAME(backward_sums) {
    REAL c[BLOCK], v_f[BLOCK], v_r[BLOCK], b_f[BLOCK], b_r[BLOCK];
};

/* One step back, with constant `use_tanh` and `highway_grad` (see forward_step). */
static inline __attribute__((always_inline)) void NAME(backward_step)(
    int64_t width, struct NAME(backward_rows) rows, const REAL *v_f, const REAL *v_r,
    struct NAME(backward_sums) *restrict grad, const int use_tanh, const int highway_grad) {
#pragma omp simd
    for (int64_t j = 0; j < width; j++) {
        REAL f = rows.f[j], r = rows.r[j];
        REAL g = use_tanh ? TANH(rows.c_t[j]) : rows.c_t[j];
        REAL grad_g = rows.grad_h[j] * r;
        REAL grad_r = rows.grad_h[j] * (g - rows.x_highway[j]) * r * (1 - r);
        REAL grad_c = grad->c[j] + (use_tanh ? grad_g * (1 - g * g) : grad_g);
        REAL grad_f = grad_c * (rows.c_before[j] - rows.x_tilde[j]) * f * (1 - f);
        rows.grad_x_tilde[j] = grad_c * (1 - f);
        rows.grad_f_pre[j] = grad_f;
        rows.grad_r_pre[j] = grad_r;
        if (highway_grad) rows.grad_x_highway[j] = rows.grad_h[j] * (1 - r);
        grad->c[j] = grad_c * f + grad_f * v_f[j] + grad_r * v_r[j];
        grad->v_f[j] += grad_f * rows.c_before[j];
        grad->v_r[j] += grad_r * rows.c_before[j];
        grad->b_f[j] += grad_f;
        grad->b_r[j] += grad_r;
    }
}

/* For sru_backward, within one task: ask for the rows of step `at_step` (as in sru_forward). The replay's x~
 * and f (REPLAY_ROWS) AHEAD steps ahead of the replay and, from the walk back of a segment, those of the first
 * AHEAD steps of the next segment to replay; the rest of what the walk back reads or writes (WALK_ROWS)
 * AHEAD steps ahead of it. */
#define STEP_ROW(at_step) ((sample * steps + (dir == 0 ? (at_step) : steps - 1 - (at_step))) * dirs + dir)
#define REPLAY_ROWS(at_step)                                                                                      \
    do {                                                                                                          \
        int64_t next = STEP_ROW(at_step);                                                                         \
        prefetch_row(u + next * k * size + start, bytes, grad_u == u);                                            \
        prefetch_row(gates + next * gates_stride + start, bytes, gates == grad_u + size);                         \
    } while (0)
#define WALK_ROWS(at_step)                                                                                        \
    do {                                                                                                          \
        int64_t next = STEP_ROW(at_step);                                                                         \
        prefetch_row(gates + next * gates_stride + size + start, bytes, gates == grad_u + size);                  \
        if (grad_u != u)                                                                                          \
            for (int64_t part = 0; part < 3; part++) prefetch_row(grad_u + (next * k + part) * size + start, bytes, 1); \
        prefetch_row(highway + next * highway_stride + start, bytes, highway == grad_highway);                    \
        if (grad_highway && grad_highway != highway)                                                              \
            prefetch_row(grad_highway + next * grad_highway_stride + start, bytes, 1);                            \
        prefetch_row(grad_h + next * size + start, bytes, 0);                                                     \
    } while (0)

/* Backward, from the last step of each direction's reading order to its first, with the segments' first c and
 * every f_t and r_t the forward kept (c_all; gates, as in sru_forward): segment by segment, from the last, it
 * replays the segment's c_t, then walks its steps back. Of u it reads x~ and x' only. grad_u may be u itself (and
 * grad_highway u's x'): each lane reads its values of a step before it writes their gradients, so nothing here
 * is `restrict`. grad_c_last may be NULL (no gradient reached c_last), grad_highway too (x' needs none).
 * grad_vb gets one partial sum per batch row, (B, 4, dirs, D) = [v_f, v_r, b_f, b_r]: the caller sums over
 * B, so no two threads write the same address. */
void NAME(sru_backward)(const REAL *u, const REAL *highway, int64_t highway_stride, const REAL *gates,
                        int64_t gates_stride, const REAL *v, const REAL *c_all, const REAL *grad_h,
                        const REAL *grad_c_last, REAL *grad_u, REAL *grad_highway, int64_t grad_highway_stride,
                        REAL *grad_c0, REAL *grad_vb, int64_t batch, int64_t steps, int64_t dirs, int64_t k,
                        int64_t size, int use_tanh, int num_threads) {
    int64_t blocks = (size + BLOCK - 1) / BLOCK, lanes = dirs * size, segments = (steps + SEGMENT - 1) / SEGMENT;
#pragma omp parallel for schedule(static) num_threads(num_threads)
    for (int64_t task = 0; task < batch * dirs * blocks; task++) {
        int64_t pair = task / blocks, start = (task % blocks) * BLOCK, dir = pair % dirs, sample = pair / dirs;
        int64_t width = size - start < BLOCK ? size - start : BLOCK, bytes = width * sizeof(REAL);
        const REAL *v_f = v + dir * size + start, *v_r = v + (dirs + dir) * size + start;
        struct NAME(backward_sums) grad = {{0}};
        REAL c[SEGMENT + 1][BLOCK]; /* c entering the segment, then c after each of its steps */
        if (grad_c_last) memcpy(grad.c, grad_c_last + pair * size + start, bytes);
        for (int64_t segment = segments - 1; segment >= 0; segment--) {
            int64_t first = segment * SEGMENT, end = first + SEGMENT < steps ? first + SEGMENT : steps;
            memcpy(c[0], c_all + ((sample * segments + segment) * dirs + dir) * size + start, bytes);
            for (int64_t step = first; step < end; step++) { /* the forward's c_t, from its kept f_t */
                int64_t t = dir == 0 ? step : steps - 1 - step, row = (sample * steps + t) * dirs + dir;
                if (step + AHEAD < end) REPLAY_ROWS(step + AHEAD);
                const REAL *x_tilde = u + row * k * size + start, *f = gates + row * gates_stride + start;
                const REAL *before = c[step - first];
                REAL *after = c[step - first + 1];
#pragma omp simd
                for (int64_t j = 0; j < width; j++) after[j] = NAME(cell)(f[j], before[j], x_tilde[j]);
            }
            if (segment > 0)
                for (int64_t ahead = first - SEGMENT; ahead < first - SEGMENT + AHEAD; ahead++) REPLAY_ROWS(ahead);
            for (int64_t step = end - 1; step >= first; step--) {
                int64_t t = dir == 0 ? step : steps - 1 - step;
                int64_t row = (sample * steps + t) * dirs + dir, at = row * size + start, at_u = row * k * size + start;
                const REAL *f = gates + row * gates_stride + start;
                if (step >= AHEAD) WALK_ROWS(step - AHEAD);
                struct NAME(backward_rows) rows = {
                    .x_tilde = u + at_u, .f = f, .r = f + size, .x_highway = highway + row * highway_stride + start,
                    .c_before = c[step - first], .c_t = c[step - first + 1], .grad_h = grad_h + at,
                    .grad_x_tilde = grad_u + at_u, .grad_f_pre = grad_u + at_u + size,
                    .grad_r_pre = grad_u + at_u + 2 * size,
                    .grad_x_highway = grad_highway ? grad_highway + row * grad_highway_stride + start : NULL,
                };
                switch (2 * !!use_tanh + !!grad_highway) {
                    case 0: NAME(backward_step)(width, rows, v_f, v_r, &grad, 0, 0); break;
                    case 1: NAME(backward_step)(width, rows, v_f, v_r, &grad, 0, 1); break;
                    case 2: NAME(backward_step)(width, rows, v_f, v_r, &grad, 1, 0); break;
                    default: NAME(backward_step)(width, rows, v_f, v_r, &grad, 1, 1);
                }
            }
        }
#undef STEP_ROW
#undef REPLAY_ROWS
#undef WALK_ROWS
        memcpy(grad_c0 + pair * size + start, grad.c, width * sizeof(REAL));
        REAL *partial = grad_vb + sample * 4 * lanes + dir * size + start; /* this batch row's [v_f, v_r, b_f, b_r] */
        memcpy(partial, grad.v_f, width * sizeof(REAL));
        memcpy(partial + lanes, grad.v_r, width * sizeof(REAL));
        memcpy(partial + 2 * lanes, grad.b_f, width * sizeof(REAL));
        memcpy(partial + 3 * lanes, grad.b_r, width * sizeof(REAL));
    }
}

#endif
