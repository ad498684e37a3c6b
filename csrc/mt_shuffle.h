/* fastact: NumPy's legacy RandomState.shuffle of an int64 array, the same
 * swaps from the same draws, with the MT19937 state advanced exactly as
 * NumPy advances it, only faster.
 *
 * The estimators shuffle the row order once per epoch with the RandomState
 * scikit-learn would use (sklearn.utils.shuffle draws rs.shuffle(arange(n))),
 * so that a fit follows scikit-learn's batches.  NumPy's shuffle draws one
 * tempered MT19937 word at a time through a function pointer and regenerates
 * the 624-word state with a scalar loop: 12.8 us for 1,347 rows, 3.6% of a
 * T1 fit.  Here the regeneration ("twist") and the tempering run as
 * vectorizable loops over the whole state, and the shuffle's rejection loop
 * reads the tempered words from a buffer.
 *
 * The state is NumPy's mt19937_state (numpy/random/src/mt19937/mt19937.h):
 * key[624] then pos, the index of the next word to temper and return; a
 * twist happens when pos reaches 624.  A draw below max (NumPy's
 * random_interval for max < 2^32) is the next word masked to the smallest
 * all-ones mask >= max, redrawn while it exceeds max.  The shuffle is
 * Fisher-Yates from the last element down (NumPy's _shuffle_raw).
 *
 * The caller checks once that this reproduces RandomState.shuffle (state
 * layout and algorithm) before relying on it.  Plain C, header only.
 */
#ifndef FASTACT_MT_SHUFFLE_H
#define FASTACT_MT_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

#define FA_MT_N 624
#define FA_MT_M 397

typedef struct {
    uint32_t key[FA_MT_N];
    int pos;
} fa_mt19937_state;

#define FA_MT_TWIST(u, v, w) \
    ((w) ^ ((((u) & 0x80000000u) | ((v) & 0x7fffffffu)) >> 1) ^ \
     ((0u - ((v) & 1u)) & 0x9908b0dfu))

/* The state regeneration, in NumPy's order.  Word i needs the old words
 * i + 1 and i + 397, or (from i = 227 on) the new word i - 227: dependences
 * at least 227 apart, so the loops vectorize. */
static void fa_mt_twist(uint32_t *restrict key) {
    size_t i;
    for (i = 0; i < FA_MT_N - FA_MT_M; i++)
        key[i] = FA_MT_TWIST(key[i], key[i + 1], key[i + FA_MT_M]);
    for (; i < FA_MT_N - 1; i++)
        key[i] = FA_MT_TWIST(key[i], key[i + 1], key[i + FA_MT_M - FA_MT_N]);
    key[FA_MT_N - 1] = FA_MT_TWIST(key[FA_MT_N - 1], key[0], key[FA_MT_M - 1]);
}

/* out[i] = tempered key[i] for i in [from, 624) */
static void fa_mt_temper(const uint32_t *restrict key, uint32_t *restrict out, size_t from) {
    for (size_t i = from; i < FA_MT_N; i++) {
        uint32_t y = key[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        out[i] = y;
    }
}

/* Shuffles x[0 .. n) in place as RandomState.shuffle does (n - 1 < 2^32).
 * The loop runs over draws, not elements, without branching on them: a
 * rejected draw (a quarter to a half of them) swaps x[i] with itself and
 * keeps i.  Written with a branch per rejection it mispredicted a good part
 * of them: 1,347 rows through shuffle_rows 10.5 -> 7.3 us (1.1 us of it the
 * Python call), NumPy's shuffle 12.5 us in the same process. */
static void fa_mt_shuffle_i64(fa_mt19937_state *st, int64_t *x, size_t n) {
    uint32_t words[FA_MT_N];
    size_t pos = (size_t)st->pos;
    if (n < 2) return;
    if (pos < FA_MT_N) fa_mt_temper(st->key, words, pos);
    size_t i = n - 1;
    while (i > 0) {
        if (pos == FA_MT_N) {
            fa_mt_twist(st->key);
            fa_mt_temper(st->key, words, 0);
            pos = 0;
        }
        /* draws until the words run out or the shuffle ends */
        for (; pos < FA_MT_N && i > 0; pos++) {
            uint32_t max = (uint32_t)i;
            uint32_t mask = 0xFFFFFFFFu >> __builtin_clz(max); /* smallest 2^k - 1 >= max */
            uint32_t v = words[pos] & mask;
            size_t accept = v <= max;
            size_t j = accept ? (size_t)v : i;
            int64_t t = x[i];
            x[i] = x[j];
            x[j] = t;
            i -= accept;
        }
    }
    st->pos = (int)pos;
}

#endif
