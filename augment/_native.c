/*
 * augment._native: compiled pixel kernels for ``kernels: fast``, and the label path's
 * helpers (COCO's annotations read, indexed and spelled; boxes moved and judged), at the
 * end of the file.
 *
 * Each kernel computes exactly what torchvision's uint8 tensor kernel computes: the
 * same float32 operations, in the same order, with the same rounding (or, for the
 * resize, torch's integer arithmetic), so its output equals torchvision's reference bit
 * for bit (tests/test_native.py checks every one of the 2^24 RGB colours, and the
 * resize on random images and boxes). Without this module, augment runs torchvision's kernel
 * itself: the same bytes, only slower. So a job's output never depends on whether
 * the extension was built.
 *
 * Exactness rules for this file: no fast-math; -ffp-contract=off (setup.py), so
 * a * b + c is never fused into one rounding unless torch fuses it too; fmod(x, 1) and
 * floor(x) are computed as x - trunc(x) and trunc(x), which are exact for the small
 * magnitudes here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define W 8     /* lanes per vector: two SSE/NEON registers, or one AVX2 register */
#define CHUNK 256 /* pixels converted to planar floats at a time (stays in L1) */

/* Helpers are inlined into each build, so each is compiled for that build's target. */
#define INLINE static inline __attribute__((always_inline))

typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));

/* mask ? a : b, lane by lane; mask lanes are 0 or -1 */
INLINE vf sel(vi mask, vf a, vf b) {
    vi ai, bi, ri;
    vf r;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ri = (ai & mask) | (bi & ~mask);
    memcpy(&r, &ri, sizeof r);
    return r;
}

INLINE vf trunc_v(vf x) { return __builtin_convertvector(__builtin_convertvector(x, vi), vf); }

/*
 * torchvision.transforms.v2.functional.adjust_hue_image on uint8 RGB, W pixels:
 * to_dtype(float32, scale) -> _rgb_to_hsv -> h.add_(factor).remainder_(1) ->
 * _hsv_to_rgb -> to_dtype(uint8, scale). The comments name torchvision's steps.
 */
INLINE void hue_lanes(vf *rgb_r, vf *rgb_g, vf *rgb_b, float factor) {
    const float inv255 = (float)(1.0 / 255.0);           /* image.to(float32).mul_(1 / 255) */
    const float sixth = (float)(1.0 / 6.0);
    const float to_u8 = (float)(255.0 + 1.0 - 1e-3);     /* image.mul(255 + 1 - eps).to(uint8) */
    const vf zero = {0}, one = zero + 1.0f;
    vf r = *rgb_r * inv255, g = *rgb_g * inv255, b = *rgb_b * inv255;
    /* _rgb_to_hsv */
    vf maxc = sel(r > g, r, g), minc = sel(r < g, r, g);
    maxc = sel(maxc > b, maxc, b);
    minc = sel(minc < b, minc, b);
    vi eqc = maxc == minc;
    vf range = maxc - minc;
    vf s = range / sel(eqc, one, maxc);
    vf div = sel(eqc, one, range);
    /* rc, gc, bc = (maxc - r) / div, ...; h = hr + hg + hb, where
     * hr = (bc - gc) * mask_r, hg = (rc + 2 - bc) * mask_g, hb = (gc + 4 - rc) * mask_b
     * and the masks are 0 or 1, one of them 1: the other two terms are +-0 and leave
     * the sum as it is, so only the term its mask keeps is computed, from the two
     * quotients it needs (bc - gc is (bc + 0) - gc exactly: bc >= 0). Three divisions,
     * not four, and the same bits. */
    vi mask_r = maxc == r, mask_g = (maxc == g) & ~mask_r;
    vf first = sel(mask_r, b, sel(mask_g, r, g)), second = sel(mask_r, g, sel(mask_g, b, r));
    vf add = sel(mask_r, zero, sel(mask_g, zero + 2.0f, zero + 4.0f));
    vf x = (((maxc - first) / div + add) - (maxc - second) / div) * sixth + 1.0f; /* .mul_(1/6).add_(1).fmod_(1) */
    vf h = x - trunc_v(x);
    /* h.add_(hue_factor).remainder_(1.0): fmod, then + 1 where the result is negative */
    h = h + factor;
    h = h - trunc_v(h);
    h = sel(h < zero, h + 1.0f, h);
    /* _hsv_to_rgb */
    vf h6 = h * 6.0f;
    vf i = trunc_v(h6); /* floor: h6 >= 0 */
    vf f = h6 - i;
    i = sel(i == 6.0f, zero, i); /* i.remainder_(6) */
    vf sxf = s * f, oms = one - s;
    /* torchvision clamps q, t and p to [0, 1]; they are in it already, so the clamps are
     * left out: s = range / maxc and f are in [0, 1] (f < 1), and rounding is monotone,
     * so sxf <= s <= 1, one - sxf >= 0, and sxf + oms <= fl(s + fl(1 - s)) = 1
     * (fl(1 - s) is off by at most 2^-25, which the sum rounds away), and products of
     * values in [0, 1] stay in [0, 1]. (The test of every colour checks it too.) */
    vf q = (one - sxf) * maxc;
    vf t = (sxf + oms) * maxc;
    vf p = oms * maxc;
    vf v = maxc;
    vi i0 = i == 0.0f, i1 = i == 1.0f, i2 = i == 2.0f, i3 = i == 3.0f, i4 = i == 4.0f, i5 = i == 5.0f;
    vf R = sel(i0 | i5, v, sel(i1, q, sel(i2 | i3, p, t)));
    vf G = sel(i1 | i2, v, sel(i0, t, sel(i3, q, p)));
    vf B = sel(i3 | i4, v, sel(i2, t, sel(i5, q, p)));
    *rgb_r = R * to_u8;
    *rgb_g = G * to_u8;
    *rgb_b = B * to_u8;
}

static uint8_t identity[256];

/* Pixels are processed CHUNK at a time: unpacked to planar floats (through the map),
 * computed W lanes at a time, truncated and packed back. S is the bytes per pixel:
 * 3 (packed RGB) or 4 (Pillow's own memory: RGB and a padding byte, left as it is);
 * each kernel is compiled for both, with S a constant. */
typedef struct {
    float r[CHUNK] __attribute__((aligned(32)));
    float g[CHUNK] __attribute__((aligned(32)));
    float b[CHUNK] __attribute__((aligned(32)));
} Planar;

/* Maps n bytes through a 256-byte table, src to dst (which may be src); with S = 4 the
 * fourth byte of every four (the padding byte) is copied as it is. NULL where the build
 * has no vector table lookup: the kernels then look bytes up one by one as they read. */
typedef void (*Mapper)(const uint8_t *src, uint8_t *dst, Py_ssize_t n, const uint8_t *map, int S);

INLINE Py_ssize_t unpack(const uint8_t *px, Py_ssize_t start, Py_ssize_t n, const uint8_t *map, Planar *x, int S,
                         Mapper mapper) {
    Py_ssize_t m = n - start < CHUNK ? n - start : CHUNK;
    const uint8_t *p8 = px + S * start;
    uint8_t mapped[4 * CHUNK];
    if (map != identity && mapper != NULL) { /* a pending table, looked up by vectors first */
        mapper(p8, mapped, S * m, map, S);
        p8 = mapped;
        map = identity;
    }
    if (map != identity) { /* a pending table: looked up byte by byte */
        for (Py_ssize_t j = 0; j < m; j++) {
            x->r[j] = map[p8[S * j]];
            x->g[j] = map[p8[S * j + 1]];
            x->b[j] = map[p8[S * j + 2]];
        }
    } else if (m == CHUNK) { /* no table, a fixed trip count: the compiler vectorises this */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (S == 4) { /* W pixels are W 32-bit words, R in the low byte: shifts and masks */
            const vi byte = (vi){0} + 0xff;
            for (Py_ssize_t j = 0; j < CHUNK; j += W) {
                vi v;
                memcpy(&v, p8 + 4 * j, sizeof v);
                vf r = __builtin_convertvector(v & byte, vf), g = __builtin_convertvector((v >> 8) & byte, vf),
                   b = __builtin_convertvector((v >> 16) & byte, vf);
                memcpy(x->r + j, &r, sizeof r);
                memcpy(x->g + j, &g, sizeof g);
                memcpy(x->b + j, &b, sizeof b);
            }
            return m;
        }
#endif
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            x->r[j] = p8[S * j];
            x->g[j] = p8[S * j + 1];
            x->b[j] = p8[S * j + 2];
        }
        return m;
    } else {
        for (Py_ssize_t j = 0; j < m; j++) {
            x->r[j] = p8[S * j];
            x->g[j] = p8[S * j + 1];
            x->b[j] = p8[S * j + 2];
        }
    }
    for (Py_ssize_t j = m; j < CHUNK; j++)
        x->r[j] = x->g[j] = x->b[j] = 0.0f;
    return m;
}

/* .to(uint8) of values in [0, 256): truncation */
INLINE void pack(const Planar *x, Py_ssize_t start, Py_ssize_t m, uint8_t *px, int S) {
    uint8_t *p8 = px + S * start;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (S == 4 && m == CHUNK) { /* as in unpack; the padding byte (the high one) is kept */
        const vi byte = (vi){0} + 0xff, pad = (vi){0} + ~0x00ffffff;
        for (Py_ssize_t j = 0; j < CHUNK; j += W) {
            vf r, g, b;
            vi v;
            memcpy(&r, x->r + j, sizeof r);
            memcpy(&g, x->g + j, sizeof g);
            memcpy(&b, x->b + j, sizeof b);
            memcpy(&v, p8 + 4 * j, sizeof v);
            v = (v & pad) | (__builtin_convertvector(r, vi) & byte) | ((__builtin_convertvector(g, vi) & byte) << 8) |
                ((__builtin_convertvector(b, vi) & byte) << 16);
            memcpy(p8 + 4 * j, &v, sizeof v);
        }
        return;
    }
#endif
    if (m == CHUNK) {
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            p8[S * j] = (uint8_t)(int32_t)x->r[j];
            p8[S * j + 1] = (uint8_t)(int32_t)x->g[j];
            p8[S * j + 2] = (uint8_t)(int32_t)x->b[j];
        }
        return;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        p8[S * j] = (uint8_t)(int32_t)x->r[j];
        p8[S * j + 1] = (uint8_t)(int32_t)x->g[j];
        p8[S * j + 2] = (uint8_t)(int32_t)x->b[j];
    }
}

INLINE void hue_impl(uint8_t *px, Py_ssize_t n, const uint8_t *map, float factor, int S, Mapper mapper) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x, S, mapper);
        for (Py_ssize_t j = 0; j < CHUNK; j += W) {
            vf r, g, b;
            memcpy(&r, x.r + j, sizeof r);
            memcpy(&g, x.g + j, sizeof g);
            memcpy(&b, x.b + j, sizeof b);
            hue_lanes(&r, &g, &b, factor);
            memcpy(x.r + j, &r, sizeof r);
            memcpy(x.g + j, &g, sizeof g);
            memcpy(x.b + j, &b, sizeof b);
        }
        pack(&x, start, m, px, S);
    }
}

/* _rgb_to_grayscale_image(preserve_dtype=False).floor_():
 * r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114). torch computes add_ with an
 * alpha as a fused multiply-add (Vectorized::fmadd), hence fmaf. */
INLINE float gray_of(float r, float g, float b) {
    float l = fmaf(b, 0.114f, fmaf(g, 0.587f, r * 0.2989f));
    return (float)(int)l; /* floor: l >= 0 */
}

INLINE void gray_impl(const uint8_t *px, uint8_t *out, Py_ssize_t n, const uint8_t *map, int S, Mapper mapper) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x, S, mapper);
        for (Py_ssize_t j = 0; j < CHUNK; j++)
            x.r[j] = gray_of(x.r[j], x.g[j], x.b[j]);
        for (Py_ssize_t j = 0; j < m; j++)
            out[start + j] = (uint8_t)(int)x.r[j];
    }
}

/* The sum of those floored grays, for adjust_contrast's mean */
INLINE int64_t gray_sum_impl(const uint8_t *px, Py_ssize_t n, const uint8_t *map, int S, Mapper mapper) {
    Planar x;
    int64_t total = 0;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        unpack(px, start, n, map, &x, S, mapper); /* lanes past the last pixel are 0: gray 0 */
        int32_t part = 0;                         /* at most 255 * CHUNK */
        for (Py_ssize_t j = 0; j < CHUNK; j++)
            part += (int32_t)gray_of(x.r[j], x.g[j], x.b[j]);
        total += part;
    }
    return total;
}

/* _blend(image, other, ratio): image.mul(ratio).add_(other, alpha=1 - ratio).clamp_(0, 255),
 * other being the gray above (adjust_saturation_image), the image's mean
 * (adjust_contrast_image) or 0 (adjust_brightness_image). */
INLINE float blend_one(float x, float other, float ratio, float alpha) {
    float v = fmaf(other, alpha, x * ratio);
    v = v < 0.0f ? 0.0f : v;
    return v > 255.0f ? 255.0f : v;
}

INLINE void saturation_impl(uint8_t *px, Py_ssize_t n, const uint8_t *map, float ratio, float alpha, int S,
                            Mapper mapper) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x, S, mapper);
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            float l = gray_of(x.r[j], x.g[j], x.b[j]);
            x.r[j] = blend_one(x.r[j], l, ratio, alpha);
            x.g[j] = blend_one(x.g[j], l, ratio, alpha);
            x.b[j] = blend_one(x.b[j], l, ratio, alpha);
        }
        pack(&x, start, m, px, S);
    }
}

/* Each kernel is compiled several times (the builds below), the fastest the CPU runs
 * chosen at run time. The build changes the speed, never the result: every operation
 * is IEEE float32, lane by lane, and fmaf is fused in all (an instruction, or libm's
 * exact fmaf); a table lookup is a table lookup however it is done. */
#define BUILD(ATTR, SUFFIX)                                                                                        \
    ATTR static void hue_##SUFFIX(uint8_t *px, Py_ssize_t n, const uint8_t *map, float factor, int S,            \
                                  Mapper mapper) {                                                                 \
        if (S == 4)                                                                                                \
            hue_impl(px, n, map, factor, 4, mapper);                                                               \
        else                                                                                                       \
            hue_impl(px, n, map, factor, 3, mapper);                                                               \
    }                                                                                                              \
    ATTR static void gray_##SUFFIX(const uint8_t *px, uint8_t *out, Py_ssize_t n, const uint8_t *map, int S,     \
                                   Mapper mapper) {                                                                \
        if (S == 4)                                                                                                \
            gray_impl(px, out, n, map, 4, mapper);                                                                 \
        else                                                                                                       \
            gray_impl(px, out, n, map, 3, mapper);                                                                 \
    }                                                                                                              \
    ATTR static int64_t gray_sum_##SUFFIX(const uint8_t *px, Py_ssize_t n, const uint8_t *map, int S,            \
                                          Mapper mapper) {                                                         \
        return S == 4 ? gray_sum_impl(px, n, map, 4, mapper) : gray_sum_impl(px, n, map, 3, mapper);              \
    }                                                                                                              \
    ATTR static void saturation_##SUFFIX(uint8_t *px, Py_ssize_t n, const uint8_t *map, float ratio, float alpha, \
                                         int S, Mapper mapper) {                                                   \
        if (S == 4)                                                                                                \
            saturation_impl(px, n, map, ratio, alpha, 4, mapper);                                                  \
        else                                                                                                       \
            saturation_impl(px, n, map, ratio, alpha, 3, mapper);                                                  \
    }

BUILD(, generic)

/* Builds, by index: the portable one; on x86-64 (GCC or clang) AVX2+FMA; and the same
 * AVX2+FMA code with table lookups by AVX-512 VBMI byte permutes, 64 bytes at a time
 * (brightness and contrast are tables, applied on their own or folded into the next
 * pass; byte by byte they cost as much as a hue pass's arithmetic). (The float code
 * compiled with AVX-512 allowed was tried: ColorJitter was 5% slower with it on an
 * AVX-512 CPU, so no build compiles it so.) */
enum { GENERIC, AVX2, VBMI, N_BUILDS };
static const char *const build_names[N_BUILDS] = {"generic", "avx2", "vbmi"};
static int best_build = GENERIC;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
BUILD(__attribute__((target("avx2,fma"))), avx2)

/* vpermi2b looks 64 bytes up in a 128-byte table by their low 7 bits: once in each half
 * of the table, then the high bit picks the half. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void map_vbmi(const uint8_t *src, uint8_t *dst,
                                                                             Py_ssize_t n, const uint8_t *map,
                                                                             int S) {
    const __m512i t0 = _mm512_loadu_si512((const void *)map), t1 = _mm512_loadu_si512((const void *)(map + 64)),
                  t2 = _mm512_loadu_si512((const void *)(map + 128)),
                  t3 = _mm512_loadu_si512((const void *)(map + 192));
    const __mmask64 keep = S == 4 ? 0x8888888888888888ULL : 0; /* every fourth byte, as it is */
    Py_ssize_t i = 0;
    for (; i < n; i += 64) {
        __mmask64 part = n - i >= 64 ? ~0ULL : (~0ULL >> (64 - (n - i))); /* the last, partial vector */
        __m512i v = _mm512_maskz_loadu_epi8(part, (const void *)(src + i));
        __m512i low = _mm512_permutex2var_epi8(t0, v, t1), high = _mm512_permutex2var_epi8(t2, v, t3);
        __m512i out = _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low, high);
        _mm512_mask_storeu_epi8((void *)(dst + i), part, _mm512_mask_blend_epi8(keep, out, v));
    }
}

static int detect_build(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return GENERIC;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vbmi")
               ? VBMI
               : AVX2;
}
#else
static int detect_build(void) { return GENERIC; }
#define hue_avx2 hue_generic
#define gray_avx2 gray_generic
#define gray_sum_avx2 gray_sum_generic
#define saturation_avx2 saturation_generic
#define map_vbmi NULL
#endif

/* A build's table lookup: vectors (VBMI), or byte by byte as the pixels are read. */
static Mapper mapper_of(int build) { return build == VBMI ? map_vbmi : NULL; }

/* --- Rotation: Pillow's nearest-neighbour affine transform ---------------------------
 *
 * What Pillow's ImagingTransformAffine computes for a nearest-neighbour affine map whose
 * corners fit its 16.16 fixed-point range (its affine_fixed): output pixel (x, y) takes
 * input pixel (xx >> 16, yy >> 16), xx = a2 + y * a1 + x * a0 (and yy likewise) in
 * 32-bit integers, where that is inside the input; other pixels keep what the output
 * holds (the fill colour). Integer sums are exact in any order, so the columns are
 * computed 8 at a time, with gathers where the CPU has AVX2. */

/* Pillow's FLOOR(v * 65536.0 + 0.5), for |v| < 32768 */
static int32_t fix16(double v) {
    double x = v * 65536.0 + 0.5;
    return x < 0.0 ? (int32_t)floor(x) : (int32_t)x;
}

/* Pillow's check_fixed: a corner's coordinates are within the fixed-point range */
static int fits_fixed(const double a[6], int x, int y) {
    return fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
}

typedef struct {
    int32_t a0, a1, a2, a3, a4, a5;
} Fixed;

/* Where an output row or column starts: in range (the corners are), though a product
 * alone may not be, so it is formed in 64 bits. */
INLINE int32_t fixed_at(int32_t base, int64_t n, int32_t step) { return (int32_t)(base + n * step); }

INLINE void affine_row_scalar(const uint8_t *src, Py_ssize_t sw, Py_ssize_t sh, uint8_t *out, Py_ssize_t from,
                              Py_ssize_t dw, int32_t row_x, int32_t row_y, const Fixed *f, int S) {
    int32_t xx = fixed_at(row_x, from, f->a0), yy = fixed_at(row_y, from, f->a3);
    for (Py_ssize_t x = from; x < dw; x++, xx += f->a0, yy += f->a3) {
        int32_t xin = xx >> 16, yin = yy >> 16;
        if (xin >= 0 && xin < sw && yin >= 0 && yin < sh)
            memcpy(out + S * x, src + S * (yin * sw + xin), S);
    }
}

INLINE void affine_generic(const uint8_t *src, Py_ssize_t sw, Py_ssize_t sh, uint8_t *dst, Py_ssize_t dw,
                           Py_ssize_t dh, const Fixed *f, int S) {
    for (Py_ssize_t y = 0; y < dh; y++)
        affine_row_scalar(src, sw, sh, dst + S * dw * y, 0, dw, fixed_at(f->a2, y, f->a1), fixed_at(f->a5, y, f->a4), f,
                          S);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 4-byte pixels, 8 columns at a time: a masked gather (lanes outside keep what they held) */
__attribute__((target("avx2,fma"))) static void affine_avx2(const uint8_t *src, Py_ssize_t sw, Py_ssize_t sh,
                                                            uint8_t *dst, Py_ssize_t dw, Py_ssize_t dh,
                                                            const Fixed *f) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step_x = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(f->a0)),
                  step_y = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(f->a3));
    const __m256i width = _mm256_set1_epi32((int32_t)sw), height = _mm256_set1_epi32((int32_t)sh),
                  minus1 = _mm256_set1_epi32(-1);
    for (Py_ssize_t y = 0; y < dh; y++) {
        int32_t row_x = fixed_at(f->a2, y, f->a1), row_y = fixed_at(f->a5, y, f->a4);
        int32_t *out = (int32_t *)(dst + 4 * dw * y);
        Py_ssize_t x = 0;
        for (; x + 8 <= dw; x += 8) {
            /* lane sums wrap modulo 2^32, and the true values are in range: exact */
            __m256i xx = _mm256_add_epi32(_mm256_set1_epi32(fixed_at(row_x, x, f->a0)), step_x);
            __m256i yy = _mm256_add_epi32(_mm256_set1_epi32(fixed_at(row_y, x, f->a3)), step_y);
            __m256i xin = _mm256_srai_epi32(xx, 16), yin = _mm256_srai_epi32(yy, 16);
            __m256i inside = _mm256_and_si256(
                _mm256_and_si256(_mm256_cmpgt_epi32(xin, minus1), _mm256_cmpgt_epi32(width, xin)),
                _mm256_and_si256(_mm256_cmpgt_epi32(yin, minus1), _mm256_cmpgt_epi32(height, yin)));
            if (_mm256_testz_si256(inside, inside))
                continue;
            __m256i index = _mm256_add_epi32(_mm256_mullo_epi32(yin, width), xin);
            __m256i kept = _mm256_loadu_si256((const __m256i *)(out + x)); /* lanes outside keep the fill */
            _mm256_storeu_si256((__m256i *)(out + x),
                                _mm256_mask_i32gather_epi32(kept, (const int *)src, index, inside, 4));
        }
        affine_row_scalar(src, sw, sh, (uint8_t *)out, x, dw, row_x, row_y, f, 4);
    }
}
#else
#define affine_avx2(src, sw, sh, dst, dw, dh, f) affine_generic(src, sw, sh, dst, dw, dh, f, 4)
#endif

/* The build a call asks for by name (None: the best this CPU runs), or -1 with an
 * exception set. */
static int pick_build(const char *name, const char *func) {
    if (name == NULL)
        return best_build;
    for (int b = 0; b <= best_build; b++)
        if (strcmp(name, build_names[b]) == 0)
            return b;
    PyErr_Format(PyExc_ValueError, "%s: build %s is not one this CPU runs (it runs up to %s)", func, name,
                 build_names[best_build]);
    return -1;
}

static void release(Py_buffer *view, Py_buffer *table) {
    PyBuffer_Release(view);
    if (table->buf != NULL)
        PyBuffer_Release(table);
}

/* The pixels must be 3 or 4 bytes each (``stride``): packed RGB, or RGB and a padding
 * byte; the table, where one is given, the 256 values every byte is mapped through as
 * it is read (a pending brightness or contrast step, folded into this pass). Sets *build
 * to the build asked for by name (pick_build). Returns the map, or NULL with an
 * exception set and the buffers released. */
static const uint8_t *check_args(Py_buffer *view, Py_buffer *table, int stride, const char *build_name, int *build,
                                  const char *name) {
    if ((*build = pick_build(build_name, name)) < 0) {
        /* the exception is set */
    } else if (stride != 3 && stride != 4) {
        PyErr_Format(PyExc_ValueError, "%s: stride %d is neither 3 (RGB) nor 4 (RGB and a padding byte)", name,
                     stride);
    } else if (view->len % stride != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %d-byte pixels", name, view->len,
                     stride);
    } else if (table->buf != NULL && table->len != 256) {
        PyErr_Format(PyExc_ValueError, "%s: the table has %zd bytes, not 256", name, table->len);
    } else {
        return table->buf != NULL ? (const uint8_t *)table->buf : identity;
    }
    release(view, table);
    return NULL;
}

PyDoc_STRVAR(hue_doc,
             "hue(rgb, factor, table=None, build=None, stride=3, /)\n\n"
             "torchvision's adjust_hue, in place, on a writable buffer of 8-bit RGB pixels.\n"
             "factor: the hue shift in turns, in [-0.5, 0.5]. table: 256 bytes every value is\n"
             "mapped through first (a pending brightness or contrast step), or None. build:\n"
             "None for the fastest this CPU runs (VARIANT), or one of BUILDS by name (the tests\n"
             "compare them; all give the same bytes).\n"
             "stride: bytes per pixel, 3 (packed RGB) or 4 (RGB and a padding byte, untouched:\n"
             "Pillow's memory). The same arguments for saturation and gray.");

static PyObject *hue(PyObject *self, PyObject *args) {
    float factor;
    int stride = 3;
    const char *build_name = NULL;
    Py_buffer view, table = {0};
    if (!PyArg_ParseTuple(args, "w*f|z*zi:hue", &view, &factor, &table, &build_name, &stride))
        return NULL;
    int build;
    const uint8_t *map = check_args(&view, &table, stride, build_name, &build, "hue");
    if (map == NULL)
        return NULL;
    if (!(factor >= -0.5f && factor <= 0.5f)) {
        release(&view, &table);
        return PyErr_Format(PyExc_ValueError, "hue: factor %R is not in [-0.5, 0.5]", PyTuple_GET_ITEM(args, 1));
    }
    Py_BEGIN_ALLOW_THREADS
    (build == GENERIC ? hue_generic : hue_avx2)((uint8_t *)view.buf, view.len / stride, map, factor, stride,
                                               mapper_of(build));
    Py_END_ALLOW_THREADS
    release(&view, &table);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(saturation_doc,
             "saturation(rgb, factor, table=None, build=None, stride=3, /)\n\n"
             "torchvision's adjust_saturation, in place, on a writable buffer of 8-bit RGB\n"
             "pixels: a blend with the floored gray. factor >= 0. The rest as for hue.");

static PyObject *saturation(PyObject *self, PyObject *args) {
    double factor;
    int stride = 3;
    const char *build_name = NULL;
    Py_buffer view, table = {0};
    if (!PyArg_ParseTuple(args, "w*d|z*zi:saturation", &view, &factor, &table, &build_name, &stride))
        return NULL;
    int build;
    const uint8_t *map = check_args(&view, &table, stride, build_name, &build, "saturation");
    if (map == NULL)
        return NULL;
    if (!(factor >= 0.0)) {
        release(&view, &table);
        return PyErr_Format(PyExc_ValueError, "saturation: factor %R is negative", PyTuple_GET_ITEM(args, 1));
    }
    /* torch casts both Python scalars to float32: ratio, and alpha = 1.0 - ratio in double */
    float ratio = (float)factor, alpha = (float)(1.0 - factor);
    Py_BEGIN_ALLOW_THREADS
    (build == GENERIC ? saturation_generic : saturation_avx2)((uint8_t *)view.buf, view.len / stride, map, ratio,
                                                              alpha, stride, mapper_of(build));
    Py_END_ALLOW_THREADS
    release(&view, &table);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(gray_doc,
             "gray(rgb, table=None, build=None, stride=3, /) -> bytearray\n\n"
             "The floored gray of 8-bit RGB pixels, one byte each, as torchvision's\n"
             "adjust_contrast and adjust_saturation compute it before blending. The rest as\n"
             "for hue.");

/* The arguments of gray and gray_sum: (rgb, table=None, build=None, stride=3). Returns
 * the map (check_args), or NULL with an exception set and nothing held. */
static const uint8_t *gray_args(PyObject *args, const char *format, const char *name, Py_buffer *view,
                                Py_buffer *table, int *build, int *stride) {
    const char *build_name = NULL;
    *stride = 3;
    if (!PyArg_ParseTuple(args, format, view, table, &build_name, stride))
        return NULL;
    return check_args(view, table, *stride, build_name, build, name);
}

static PyObject *gray(PyObject *self, PyObject *args) {
    Py_buffer view, table = {0};
    int build, stride;
    const uint8_t *map = gray_args(args, "y*|z*zi:gray", "gray", &view, &table, &build, &stride);
    if (map == NULL)
        return NULL;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, view.len / stride);
    if (out != NULL) {
        uint8_t *dst = (uint8_t *)PyByteArray_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        (build == GENERIC ? gray_generic : gray_avx2)((const uint8_t *)view.buf, dst, view.len / stride, map, stride,
                                                     mapper_of(build));
        Py_END_ALLOW_THREADS
    }
    release(&view, &table);
    return out;
}

PyDoc_STRVAR(gray_sum_doc,
             "gray_sum(rgb, table=None, build=None, stride=3, /) -> int\n\n"
             "The sum of the floored grays gray() gives, without making them: adjust_contrast's\n"
             "mean is this over the number of pixels. The arguments as for gray.");

static PyObject *gray_sum(PyObject *self, PyObject *args) {
    Py_buffer view, table = {0};
    int build, stride;
    const uint8_t *map = gray_args(args, "y*|z*zi:gray_sum", "gray_sum", &view, &table, &build, &stride);
    if (map == NULL)
        return NULL;
    int64_t total;
    Py_BEGIN_ALLOW_THREADS
    total = (build == GENERIC ? gray_sum_generic : gray_sum_avx2)((const uint8_t *)view.buf, view.len / stride, map,
                                                                  stride, mapper_of(build));
    Py_END_ALLOW_THREADS
    release(&view, &table);
    return PyLong_FromLongLong(total);
}

PyDoc_STRVAR(blend_table_doc,
             "blend_table(ratio, other, /) -> bytes\n\n"
             "torchvision's uint8 _blend(image, other, ratio) for each of the 256 values, with\n"
             "other a float32 (0 for adjust_brightness, the mean for adjust_contrast): the\n"
             "lookup table of those steps.");

static PyObject *blend_table(PyObject *self, PyObject *args) {
    double ratio_d, other_d;
    if (!PyArg_ParseTuple(args, "dd:blend_table", &ratio_d, &other_d))
        return NULL;
    if (!(ratio_d >= 0.0))
        return PyErr_Format(PyExc_ValueError, "blend_table: ratio %R is negative", PyTuple_GET_ITEM(args, 0));
    /* as in saturation: both scalars cast to float32, alpha computed in double first */
    float ratio = (float)ratio_d, alpha = (float)(1.0 - ratio_d), other = (float)other_d;
    uint8_t out[256];
    for (int v = 0; v < 256; v++)
        out[v] = (uint8_t)(int)blend_one((float)v, other, ratio, alpha);
    return PyBytes_FromStringAndSize((const char *)out, 256);
}

PyDoc_STRVAR(lut_doc,
             "lut(pixels, table, stride=1, build=None, /)\n\n"
             "Map the bytes of a writable buffer through a 256-byte table, in place. stride 4:\n"
             "the first three bytes of every four (RGB pixels with a padding byte, left as it is).\n"
             "build: as for hue.");

static PyObject *lut(PyObject *self, PyObject *args) {
    Py_buffer view, table;
    int stride = 1, build = 0;
    const char *build_name = NULL;
    if (!PyArg_ParseTuple(args, "w*y*|iz:lut", &view, &table, &stride, &build_name))
        return NULL;
    if ((build = pick_build(build_name, "lut")) < 0) {
        /* the exception is set */
    } else if (table.len != 256) {
        PyErr_Format(PyExc_ValueError, "lut: the table has %zd bytes, not 256", table.len);
    } else if (stride != 1 && stride != 4) {
        PyErr_Format(PyExc_ValueError, "lut: stride %d is neither 1 nor 4", stride);
    } else if (view.len % stride != 0) {
        PyErr_Format(PyExc_ValueError, "lut: %zd bytes is not a whole number of %d-byte pixels", view.len, stride);
    } else {
        uint8_t map[256];
        uint8_t *px = (uint8_t *)view.buf;
        Mapper mapper = mapper_of(build);
        memcpy(map, table.buf, 256);
        Py_BEGIN_ALLOW_THREADS
        if (mapper != NULL) {
            mapper(px, px, view.len, map, stride);
        } else if (stride == 1) {
            for (Py_ssize_t j = 0; j < view.len; j++)
                px[j] = map[px[j]];
        } else {
            for (Py_ssize_t j = 0; j < view.len; j += 4) {
                px[j] = map[px[j]];
                px[j + 1] = map[px[j + 1]];
                px[j + 2] = map[px[j + 2]];
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&table);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(affine_nearest_doc,
             "affine_nearest(src, width, height, dst, out_width, out_height, stride, matrix, build=None, /) -> bool\n\n"
             "Pillow's nearest-neighbour affine transform (Image.transform with AFFINE, NEAREST),\n"
             "from the pixels of src (width x height) into dst (out_width x out_height), both\n"
             "stride bytes a pixel (1, or 4: Pillow's memory). matrix: Pillow's six coefficients.\n"
             "Pixels that map outside src are left as dst holds them (the fill colour). Returns\n"
             "False, touching nothing, where Pillow would not take its fixed-point path (a scaling\n"
             "matrix, or corners beyond its range): the caller then asks Pillow.");

static PyObject *affine_nearest(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t sw, sh, dw, dh;
    int stride;
    double a[6];
    const char *build_name = NULL;
    if (!PyArg_ParseTuple(args, "y*nnw*nni(dddddd)|z:affine_nearest", &src, &sw, &sh, &dst, &dw, &dh, &stride, &a[0],
                          &a[1], &a[2], &a[3], &a[4], &a[5], &build_name))
        return NULL;
    PyObject *result = NULL;
    int build = pick_build(build_name, "affine_nearest");
    if (build < 0) {
        /* the exception is set */
    } else if (stride != 1 && stride != 4) {
        PyErr_Format(PyExc_ValueError, "affine_nearest: stride %d is neither 1 nor 4", stride);
    } else if (sw < 0 || sh < 0 || dw < 0 || dh < 0 || src.len != stride * sw * sh || dst.len != stride * dw * dh ||
               sw > INT32_MAX || sh > INT32_MAX || dw > INT32_MAX || dh > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "affine_nearest: %zd and %zd bytes are not %zdx%zd and %zdx%zd pixels of %d bytes",
                     src.len, dst.len, sw, sh, dw, dh, stride);
    } else if ((a[1] == 0 && a[3] == 0) || !(fits_fixed(a, 0, 0) && fits_fixed(a, (int)dw, (int)dh) &&
                                              fits_fixed(a, 0, (int)dh) && fits_fixed(a, (int)dw, 0))) {
        result = Py_NewRef(Py_False); /* Pillow's scaling path, or its floating-point one */
    } else {
        Fixed f = {fix16(a[0]), fix16(a[1]), fix16(a[2] + a[0] * 0.5 + a[1] * 0.5), fix16(a[3]), fix16(a[4]),
                   fix16(a[5] + a[3] * 0.5 + a[4] * 0.5)};
        Py_BEGIN_ALLOW_THREADS
        if (stride == 4 && build != GENERIC && sw * sh <= INT32_MAX) /* the gather's indices are 32-bit */
            affine_avx2((const uint8_t *)src.buf, sw, sh, (uint8_t *)dst.buf, dw, dh, &f);
        else if (stride == 4)
            affine_generic((const uint8_t *)src.buf, sw, sh, (uint8_t *)dst.buf, dw, dh, &f, 4);
        else
            affine_generic((const uint8_t *)src.buf, sw, sh, (uint8_t *)dst.buf, dw, dh, &f, 1);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_True);
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}

/* --- Antialiased bilinear resize: torch's uint8 kernel ----------------------------------
 *
 * What torch's _upsample_bilinear2d_aa computes for a uint8 image with antialiasing (its
 * AVX2 kernel and its portable one give the same bytes): separable, the width first,
 * then the height, each pass rounding to 8 bits. Each axis has Pillow's triangle-filter
 * weights, computed in double as torch computes them (_compute_indices_min_size_weights_aa
 * in ATen's UpSampleKernel.cpp), then scaled to int16 at one precision p for the whole
 * axis (_compute_index_ranges_int16_weights). An output value is
 * (2^(p-1) + sum of weight * input) >> p, clamped to 0..255: integer arithmetic, exact in
 * any order, so the vector and the scalar code give the same bytes. */

typedef struct {
    Py_ssize_t *start; /* the first input index of each output */
    int *count;        /* its number of taps */
    int16_t *k;        /* its weights, `taps` per output */
    int taps, precision;
} Axis;

static void axis_free(Axis *a) {
    PyMem_RawFree(a->start);
    PyMem_RawFree(a->count);
    PyMem_RawFree(a->k);
    a->start = NULL, a->count = NULL, a->k = NULL;
}

/* Returns 0, or -1 out of memory. in, out >= 1. */
static int axis_init(Axis *a, Py_ssize_t in, Py_ssize_t out) {
    const double scale = (double)in / (double)out;
    const double support = scale >= 1.0 ? 1.0 * scale : 1.0; /* bilinear: half its 2 taps, widened */
    const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    const int max_taps = (int)ceil(support) * 2 + 1;
    a->taps = max_taps;
    a->start = PyMem_RawMalloc(sizeof(Py_ssize_t) * out);
    a->count = PyMem_RawMalloc(sizeof(int) * out);
    a->k = PyMem_RawMalloc(sizeof(int16_t) * out * max_taps);
    double *w = PyMem_RawMalloc(sizeof(double) * out * max_taps);
    if (a->start == NULL || a->count == NULL || a->k == NULL || w == NULL) {
        PyMem_RawFree(w);
        axis_free(a);
        return -1;
    }
    double wt_max = 0.0;
    for (Py_ssize_t i = 0; i < out; i++) {
        const double center = scale * ((double)i + 0.5);
        int64_t xmin = (int64_t)(center - support + 0.5), xmax = (int64_t)(center + support + 0.5);
        xmin = xmin < 0 ? 0 : xmin;
        xmax = xmax > in ? in : xmax;
        int64_t n = xmax - xmin;
        n = n < 0 ? 0 : n > max_taps ? max_taps : n; /* torch's clamp: rounding can give one more */
        double *wi = w + i * max_taps, total = 0.0;
        int64_t j = 0;
        for (; j < n; j++) {
            double x = fabs(((double)(j + xmin) - center + 0.5) * invscale);
            wi[j] = x < 1.0 ? 1.0 - x : 0.0;
            total += wi[j];
        }
        if (total != 0.0)
            for (j = 0; j < n; j++) {
                wi[j] /= total;
                wt_max = wi[j] > wt_max ? wi[j] : wt_max;
            }
        for (; j < max_taps; j++)
            wi[j] = 0.0;
        a->start[i] = (Py_ssize_t)xmin;
        a->count[i] = (int)n;
    }
    int p = 0;
    for (; p < 22; p++) /* the most bits that keep the largest weight below 2^15 */
        if ((int)(0.5 + wt_max * (1 << (p + 1))) >= (1 << 15))
            break;
    a->precision = p;
    for (Py_ssize_t i = 0; i < out * max_taps; i++) {
        double v = w[i] * (1 << p);
        a->k[i] = (int16_t)(v < 0 ? (int)(-0.5 + v) : (int)(0.5 + v));
    }
    PyMem_RawFree(w);
    return 0;
}

INLINE uint8_t clip8(int32_t v, int p) {
    v >>= p; /* arithmetic shift: floor, as torch's */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One row through the width's weights: `S`-byte pixels in (S = 3 or 4), 4-byte pixels
 * out, the padding byte 255. */
INLINE void hrow_scalar(const uint8_t *in, uint8_t *out, const Axis *a, Py_ssize_t from, Py_ssize_t ow, int S) {
    const int32_t half = 1 << (a->precision - 1);
    for (Py_ssize_t x = from; x < ow; x++) {
        const uint8_t *p = in + S * a->start[x];
        const int16_t *k = a->k + x * a->taps;
        int32_t r = half, g = half, b = half;
        for (int j = 0; j < a->count[x]; j++) {
            r += k[j] * p[S * j];
            g += k[j] * p[S * j + 1];
            b += k[j] * p[S * j + 2];
        }
        out[4 * x] = clip8(r, a->precision);
        out[4 * x + 1] = clip8(g, a->precision);
        out[4 * x + 2] = clip8(b, a->precision);
        out[4 * x + 3] = 255;
    }
}

/* One output row through the height's weights, from 4-byte pixels rows `stride` bytes
 * apart, columns [from, ow). */
INLINE void vrow_scalar(const uint8_t *in, Py_ssize_t stride, uint8_t *out, const Axis *a, Py_ssize_t y,
                        Py_ssize_t from, Py_ssize_t ow) {
    const int32_t half = 1 << (a->precision - 1);
    const uint8_t *top = in + stride * a->start[y];
    const int16_t *k = a->k + y * a->taps;
    for (Py_ssize_t x = from; x < ow; x++) {
        int32_t r = half, g = half, b = half;
        for (int j = 0; j < a->count[y]; j++) {
            const uint8_t *p = top + stride * j + 4 * x;
            r += k[j] * p[0];
            g += k[j] * p[1];
            b += k[j] * p[2];
        }
        out[4 * x] = clip8(r, a->precision);
        out[4 * x + 1] = clip8(g, a->precision);
        out[4 * x + 2] = clip8(b, a->precision);
        out[4 * x + 3] = 255;
    }
}

/* The width's pass: h rows of w S-byte pixels, `row` bytes apart, into rows of ow 4-byte
 * pixels. */
static void hpass_generic(const uint8_t *src, Py_ssize_t row, Py_ssize_t h, int S, uint8_t *dst, const Axis *a,
                          Py_ssize_t ow) {
    for (Py_ssize_t y = 0; y < h; y++)
        hrow_scalar(src + row * y, dst + 4 * ow * y, a, 0, ow, S);
}

/* The height's pass: rows of ow 4-byte pixels, `row` bytes apart, into oh such rows. */
static void vpass_generic(const uint8_t *src, Py_ssize_t row, Py_ssize_t ow, uint8_t *dst, const Axis *a,
                          Py_ssize_t oh) {
    for (Py_ssize_t y = 0; y < oh; y++)
        vrow_scalar(src, row, dst + 4 * ow * y, a, y, 0, ow);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* Two rows at a time, one in each 128-bit lane; two taps at a time: a pair of pixels
 * spread to 16-bit (p0, p1) pairs per channel, multiplied by (k0, k1) and summed in one
 * madd. A lone last tap pairs its pixel with weight 0. */
INLINE __m128i pair_mask(int S) {
    return S == 4 ? _mm_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1)
                  : _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
}

#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2")))

INLINE_AVX2 __m256i hpair_avx2(const uint8_t *in0, const uint8_t *in1, Py_ssize_t at, const int16_t *k, int n, int S,
                          __m256i mask, __m256i acc) {
    int j = 0;
    for (; j + 1 < n; j += 2) {
        int32_t kk;
        memcpy(&kk, k + j, 4);
        __m256i px = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)(in0 + at + S * j))),
                                             _mm_loadl_epi64((const __m128i *)(in1 + at + S * j)), 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(px, mask), _mm256_set1_epi32(kk)));
    }
    if (j < n) { /* a lone last tap: the pixel after it is read too, and weighs 0 */
        __m128i p0, p1;
        if (S == 4) {
            int32_t v0, v1;
            memcpy(&v0, in0 + at + 4 * j, 4);
            memcpy(&v1, in1 + at + 4 * j, 4);
            p0 = _mm_cvtsi32_si128(v0), p1 = _mm_cvtsi32_si128(v1);
        } else { /* 8 bytes: inside the buffer, since a row follows in1 (see hpass_avx2) */
            p0 = _mm_loadl_epi64((const __m128i *)(in0 + at + 3 * j));
            p1 = _mm_loadl_epi64((const __m128i *)(in1 + at + 3 * j));
        }
        __m256i px = _mm256_inserti128_si256(_mm256_castsi128_si256(p0), p1, 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(px, mask), _mm256_set1_epi32((uint16_t)k[j])));
    }
    return acc;
}

/* srai, then the int32 lanes of a, b, c, d (each a pixel of two rows) as clamped bytes:
 * lane 0 holds the four pixels of the first row, lane 1 those of the second */
INLINE_AVX2 __m256i hpack_avx2(__m256i a, __m256i b, __m256i c, __m256i d, __m128i shift) {
    a = _mm256_sra_epi32(a, shift), b = _mm256_sra_epi32(b, shift);
    c = _mm256_sra_epi32(c, shift), d = _mm256_sra_epi32(d, shift);
    return _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
}

INLINE_AVX2 void hrows2_avx2(const uint8_t *in0, const uint8_t *in1, uint8_t *out0, uint8_t *out1, const Axis *a,
                             Py_ssize_t ow, int S) {
    const __m256i mask = _mm256_broadcastsi128_si256(pair_mask(S));
    const __m256i half = _mm256_set1_epi32(1 << (a->precision - 1)), pad = _mm256_set1_epi32((int)0xff000000u);
    const __m128i shift = _mm_cvtsi32_si128(a->precision);
    const Py_ssize_t *start = a->start;
    const int *count = a->count;
    const int16_t *k = a->k;
    const int taps = a->taps;
    Py_ssize_t x = 0;
    for (; x + 4 <= ow; x += 4) { /* four pixels of each row, packed and stored together */
        __m256i p0 = hpair_avx2(in0, in1, S * start[x], k + x * taps, count[x], S, mask, half);
        __m256i p1 = hpair_avx2(in0, in1, S * start[x + 1], k + (x + 1) * taps, count[x + 1], S, mask, half);
        __m256i p2 = hpair_avx2(in0, in1, S * start[x + 2], k + (x + 2) * taps, count[x + 2], S, mask, half);
        __m256i p3 = hpair_avx2(in0, in1, S * start[x + 3], k + (x + 3) * taps, count[x + 3], S, mask, half);
        __m256i px = _mm256_or_si256(hpack_avx2(p0, p1, p2, p3, shift), pad);
        _mm_storeu_si128((__m128i *)(out0 + 4 * x), _mm256_castsi256_si128(px));
        _mm_storeu_si128((__m128i *)(out1 + 4 * x), _mm256_extracti128_si256(px, 1));
    }
    for (; x < ow; x++) {
        __m256i p = hpair_avx2(in0, in1, S * start[x], k + x * taps, count[x], S, mask, half);
        p = _mm256_or_si256(hpack_avx2(p, p, p, p, shift), pad);
        int32_t v0 = _mm256_cvtsi256_si32(p), v1 = _mm_cvtsi128_si32(_mm256_extracti128_si256(p, 1));
        memcpy(out0 + 4 * x, &v0, 4);
        memcpy(out1 + 4 * x, &v1, 4);
    }
}

/* The width's pass, rows in pairs. With 3-byte pixels a load reads 8 bytes, up to five
 * past the last pixel it needs: only rows with that many bytes after them in the buffer
 * (`end` bytes from src) are read so; the rest by the scalar code. */
__attribute__((target("avx2"))) static void hpass_avx2(const uint8_t *src, Py_ssize_t row, Py_ssize_t h, int S,
                                                         Py_ssize_t end, uint8_t *dst, const Axis *a, Py_ssize_t ow,
                                                         Py_ssize_t w) {
    Py_ssize_t y = 0, safe = h;
    if (S == 3)
        safe = end < 3 * w + 5 ? 0 : (end - 3 * w - 5) / row + 1;
    safe = safe < h ? safe : h;
    for (; y + 2 <= safe; y += 2) /* S a constant in each: the loads and shuffles are its own */
        if (S == 4)
            hrows2_avx2(src + row * y, src + row * (y + 1), dst + 4 * ow * y, dst + 4 * ow * (y + 1), a, ow, 4);
        else
            hrows2_avx2(src + row * y, src + row * (y + 1), dst + 4 * ow * y, dst + 4 * ow * (y + 1), a, ow, 3);
    for (; y < h; y++)
        hrow_scalar(src + row * y, dst + 4 * ow * y, a, 0, ow, S);
}

/* The height's pass, 8 pixels (32 bytes) at a time: two rows' bytes interleaved into
 * 16-bit (row0, row1) pairs, multiplied by (k0, k1) and summed in one madd. */
__attribute__((target("avx2"))) static void vpass_avx2(const uint8_t *src, Py_ssize_t stride, Py_ssize_t ow,
                                                         uint8_t *dst, const Axis *a, Py_ssize_t oh) {
    const __m256i zero = _mm256_setzero_si256(), pad = _mm256_set1_epi32((int)0xff000000u);
    const __m256i half = _mm256_set1_epi32(1 << (a->precision - 1));
    const __m128i shift = _mm_cvtsi32_si128(a->precision);
    for (Py_ssize_t y = 0; y < oh; y++) {
        const uint8_t *top = src + stride * a->start[y];
        const int16_t *k = a->k + y * a->taps;
        const int n = a->count[y];
        uint8_t *out = dst + 4 * ow * y;
        Py_ssize_t x = 0;
        for (; x + 8 <= ow; x += 8) {
            __m256i s0 = half, s1 = half, s2 = half, s3 = half;
            for (int j = 0; j < n; j += 2) {
                const __m256i r0 = _mm256_loadu_si256((const __m256i *)(top + stride * j + 4 * x));
                const __m256i r1 = j + 1 < n ? _mm256_loadu_si256((const __m256i *)(top + stride * (j + 1) + 4 * x))
                                             : zero;
                const __m256i kk = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)k[j] |
                                                                ((uint32_t)(uint16_t)(j + 1 < n ? k[j + 1] : 0) << 16)));
                const __m256i lo = _mm256_unpacklo_epi8(r0, r1), hi = _mm256_unpackhi_epi8(r0, r1);
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), kk));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), kk));
                s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), kk));
                s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), kk));
            }
            s0 = _mm256_sra_epi32(s0, shift);
            s1 = _mm256_sra_epi32(s1, shift);
            s2 = _mm256_sra_epi32(s2, shift);
            s3 = _mm256_sra_epi32(s3, shift);
            __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(s0, s1), _mm256_packs_epi32(s2, s3));
            _mm256_storeu_si256((__m256i *)(out + 4 * x), _mm256_or_si256(bytes, pad));
        }
        vrow_scalar(src, stride, out, a, y, x, ow);
    }
}
#else
#define hpass_avx2(src, row, h, S, end, dst, a, ow, w) hpass_generic(src, row, h, S, dst, a, ow)
#define vpass_avx2 vpass_generic
#endif

PyDoc_STRVAR(resize_bilinear_doc,
             "resize_bilinear(src, offset, row, width, height, stride, dst, out_width, out_height, build=None, /)\n\n"
             "torch's antialiased bilinear resize of a uint8 RGB image (what torchvision's\n"
             "resize gives a uint8 tensor where torch resizes uint8 natively). The image is\n"
             "height rows of width pixels in src, the first at byte offset, each row bytes after\n"
             "the one before, stride bytes a pixel (3: packed RGB; 4: Pillow's memory, whose\n"
             "padding byte is ignored). dst receives out_width x out_height 4-byte pixels\n"
             "(Pillow's RGB memory, the padding byte 255).");

static PyObject *resize_bilinear(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t offset, row, w, h, ow, oh;
    int stride;
    const char *build_name = NULL;
    if (!PyArg_ParseTuple(args, "y*nnnniw*nn|z:resize_bilinear", &src, &offset, &row, &w, &h, &stride, &dst, &ow, &oh,
                          &build_name))
        return NULL;
    int build = pick_build(build_name, "resize_bilinear");
    if (build < 0) {
        /* the exception is set */
    } else if (stride != 3 && stride != 4) {
        PyErr_Format(PyExc_ValueError, "resize_bilinear: stride %d is neither 3 nor 4", stride);
    } else if (w < 1 || h < 1 || ow < 1 || oh < 1 || w > INT32_MAX / 4 || h > INT32_MAX / 4 || ow > INT32_MAX / 4 ||
               oh > INT32_MAX / 4 || offset < 0 || row < stride * w || offset > src.len ||
               (src.len - offset - stride * w) / row < h - 1 || src.len - offset < stride * w ||
               dst.len != 4 * ow * oh) {
        PyErr_Format(PyExc_ValueError, "resize_bilinear: %zd bytes do not hold %zd rows of %zd %d-byte pixels, %zd "
                     "bytes apart from byte %zd, or %zd bytes are not %zdx%zd 4-byte pixels", src.len, h, w, stride,
                     row, offset, dst.len, ow, oh);
    } else {
        Axis across = {0}, down = {0};
        uint8_t *mid = NULL;
        const int wide = ow != w, tall = oh != h;
        if ((wide && axis_init(&across, w, ow) < 0) || (tall && axis_init(&down, h, oh) < 0) ||
            (tall && (wide || stride == 3) && (mid = PyMem_RawMalloc(4 * ow * h)) == NULL)) {
            PyErr_NoMemory();
        } else {
            const uint8_t *in = (const uint8_t *)src.buf + offset;
            const Py_ssize_t end = src.len - offset;
            uint8_t *out = (uint8_t *)dst.buf;
            Py_BEGIN_ALLOW_THREADS
            uint8_t *first = tall ? mid : out; /* where the width's pass (or a copy) goes, ow pixels a row */
            if (wide && build != GENERIC)
                hpass_avx2(in, row, h, stride, end, first, &across, ow, w);
            else if (wide)
                hpass_generic(in, row, h, stride, first, &across, ow);
            else if (first != NULL) /* the width stays: the pixels as they are, 4 bytes each */
                for (Py_ssize_t y = 0; y < h; y++)
                    for (Py_ssize_t x = 0; x < w; x++) {
                        memcpy(first + 4 * (w * y + x), in + row * y + stride * x, 3);
                        first[4 * (w * y + x) + 3] = 255;
                    }
            if (tall) { /* from the width's pass, or straight from src's 4-byte pixels */
                const uint8_t *rows = first != NULL ? first : in;
                const Py_ssize_t apart = first != NULL ? 4 * ow : row;
                if (build != GENERIC)
                    vpass_avx2(rows, apart, ow, out, &down, oh);
                else
                    vpass_generic(rows, apart, ow, out, &down, oh);
            }
            Py_END_ALLOW_THREADS
        }
        PyMem_RawFree(mid);
        axis_free(&across);
        axis_free(&down);
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(add_padding_doc,
             "add_padding(rgb, pixels, /)\n\n"
             "The reverse of drop_padding: packed RGB (3 bytes a pixel) written into a buffer of\n"
             "RGB pixels with a padding byte (4 bytes a pixel, Pillow's memory), the padding\n"
             "byte 255 as Pillow's own RGB unpacker writes it.");

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 4 pixels per 12 bytes read: a byte shuffle and the padding bytes set */
__attribute__((target("avx2"))) static Py_ssize_t add_padding_avx2(const uint8_t *src, uint8_t *dst, Py_ssize_t n) {
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    const __m128i pad = _mm_set1_epi32((int)0xff000000u);
    Py_ssize_t i = 0;
    for (; i + 6 <= n; i += 4) /* reads 16 bytes: 4 pixels and the next 4 bytes, inside the buffer */
        _mm_storeu_si128((__m128i *)(dst + 4 * i),
                         _mm_or_si128(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 3 * i)), spread), pad));
    return i;
}
#endif

static PyObject *add_padding(PyObject *self, PyObject *args) {
    Py_buffer rgb, pixels;
    if (!PyArg_ParseTuple(args, "y*w*:add_padding", &rgb, &pixels))
        return NULL;
    if (rgb.len % 3 != 0 || pixels.len != rgb.len / 3 * 4) {
        PyErr_Format(PyExc_ValueError, "add_padding: %zd bytes of RGB do not fill %zd bytes of 4-byte pixels", rgb.len,
                     pixels.len);
    } else {
        const uint8_t *src = (const uint8_t *)rgb.buf;
        uint8_t *dst = (uint8_t *)pixels.buf;
        Py_ssize_t n = rgb.len / 3, i = 0;
        Py_BEGIN_ALLOW_THREADS
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (best_build != GENERIC)
            i = add_padding_avx2(src, dst, n);
#endif
        for (; i < n; i++) {
            dst[4 * i] = src[3 * i];
            dst[4 * i + 1] = src[3 * i + 1];
            dst[4 * i + 2] = src[3 * i + 2];
            dst[4 * i + 3] = 255;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&rgb);
    PyBuffer_Release(&pixels);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(drop_padding_doc,
             "drop_padding(pixels, width, box=None, /) -> bytearray\n\n"
             "Packed RGB (3 bytes a pixel) from an image of RGB pixels with a padding byte (4 bytes\n"
             "a pixel, ``width`` pixels a row, as Pillow keeps RGB): the whole image, or the box\n"
             "(left, top, right, bottom) of it.");

static PyObject *drop_padding(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t width, left = 0, top = 0, right = -1, bottom = -1;
    PyObject *box = Py_None;
    if (!PyArg_ParseTuple(args, "y*n|O:drop_padding", &view, &width, &box))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t rows = width > 0 ? view.len / 4 / width : 0;
    if (width <= 0 || view.len != 4 * width * rows) {
        PyErr_Format(PyExc_ValueError, "drop_padding: %zd bytes is not whole rows of %zd 4-byte pixels", view.len,
                     width);
    } else if (box != Py_None && !PyArg_ParseTuple(box, "nnnn", &left, &top, &right, &bottom)) {
        /* the exception is set */
    } else {
        if (box == Py_None)
            right = width, bottom = rows;
        if (left < 0 || top < 0 || right < left || bottom < top || right > width || bottom > rows) {
            PyErr_Format(PyExc_ValueError, "drop_padding: box %R is not inside the %zdx%zd image", box, width, rows);
        } else if ((out = PyByteArray_FromStringAndSize(NULL, 3 * (right - left) * (bottom - top))) != NULL) {
            const uint8_t *src = (const uint8_t *)view.buf;
            uint8_t *dst = (uint8_t *)PyByteArray_AS_STRING(out);
            Py_ssize_t n = right - left;
            Py_BEGIN_ALLOW_THREADS
            for (Py_ssize_t y = top; y < bottom && n > 0; y++) {
                const uint8_t *row = src + 4 * (y * width + left);
                /* four bytes at a time, the fourth overwritten by the next pixel's first */
                for (Py_ssize_t j = 0; j + 1 < n; j++)
                    memcpy(dst + 3 * j, row + 4 * j, 4);
                memcpy(dst + 3 * (n - 1), row + 4 * (n - 1), 3);
                dst += 3 * n;
            }
            Py_END_ALLOW_THREADS
        }
    }
    PyBuffer_Release(&view);
    return out;
}

/* --- Pillow's pixel memory, through its Arrow export (Pillow >= 11.2) --------------- */

struct ArrowArray { /* the Arrow C data interface, https://arrow.apache.org/docs/format/CDataInterface.html */
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* A writable buffer over an exported array's bytes; it holds the capsule, which holds
 * the image's memory, for as long as anything (a numpy array) holds it. */
typedef struct {
    PyObject_HEAD
    PyObject *capsule;
    void *data;
    Py_ssize_t len;
} Memory;

static int memory_getbuffer(PyObject *obj, Py_buffer *view, int flags) {
    Memory *m = (Memory *)obj;
    return PyBuffer_FillInfo(view, obj, m->data, m->len, 0, flags);
}

static void memory_dealloc(PyObject *obj) {
    Py_XDECREF(((Memory *)obj)->capsule);
    Py_TYPE(obj)->tp_free(obj);
}

static PyBufferProcs memory_as_buffer = {memory_getbuffer, NULL};

static PyTypeObject MemoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "augment._native.Memory",
    .tp_basicsize = sizeof(Memory),
    .tp_dealloc = memory_dealloc,
    .tp_as_buffer = &memory_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writable bytes of a Pillow image's memory (see memory()).",
};

PyDoc_STRVAR(memory_doc,
             "memory(array_capsule, nbytes, /) -> Memory\n\n"
             "The bytes of an 8-bit Pillow image, writable and shared with the image, from the\n"
             "ArrowArray capsule of image.__arrow_c_array__(): an L image's pixels (one byte\n"
             "each), or a multi-band image's (four bytes each: Pillow's RGB has a padding byte).\n"
             "nbytes: the size the caller expects; anything else is refused.");

static PyObject *memory(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_ssize_t nbytes;
    if (!PyArg_ParseTuple(args, "On:memory", &capsule, &nbytes))
        return NULL;
    struct ArrowArray *array = PyCapsule_GetPointer(capsule, "arrow_array");
    if (array == NULL)
        return NULL;
    if (array->release == NULL)
        return PyErr_Format(PyExc_ValueError, "memory: the array was released");
    /* a multi-band image is a fixed-size list of its bands: the bytes are the child's */
    if (array->n_children == 1 && array->children != NULL)
        array = array->children[0];
    if (array == NULL || array->n_children != 0 || array->n_buffers != 2 || array->offset != 0 ||
        array->buffers[1] == NULL || array->length != nbytes)
        return PyErr_Format(PyExc_ValueError, "memory: not an array of %zd bytes", nbytes);
    Memory *m = PyObject_New(Memory, &MemoryType);
    if (m == NULL)
        return NULL;
    Py_INCREF(capsule);
    m->capsule = capsule;
    m->data = (void *)array->buffers[1];
    m->len = nbytes;
    return (PyObject *)m;
}

/* ---- COCO's numbers -------------------------------------------------------------
 * Not a pixel kernel: the text of a moved COCO annotation's coordinates, which Python
 * spells one float repr at a time (most of what writing a moved box cost). Each value is
 * rounded exactly as augment.labels.coco.rounded rounds it, and spelled as str() spells
 * the int or float that gives: a whole number as an int; else, from 1e-4 up, the
 * decimal k / 10^6 without trailing zeros, which is the shortest text that reads back
 * as the double nearest it (repr's own rule: any other text of at most six decimals is
 * 1e-6 or more away, and doubles below 1e5 are ~1e-11 apart), so repr gives exactly it;
 * below 1e-4, repr's exponent form, by repr itself. */

PyDoc_STRVAR(coco_numbers_doc,
"coco_numbers(values) -> tuple\n\n"
"Each float64 of ``values`` (a buffer) as ``str(augment.labels.coco.rounded(...))`` spells\n"
"it; ``None`` where a near-tie lies below 1e-4, or a value at 2^33 or beyond (Python's round then).");

/* ASCII text as a str, without decoding it as UTF-8 */
static PyObject *ascii_str(const char *text, Py_ssize_t len) {
    PyObject *out = PyUnicode_New(len, 127);
    if (out != NULL)
        memcpy(PyUnicode_DATA(out), text, (size_t)len);
    return out;
}

/* the decimal digits of a, written backwards ending at end; returns where they begin */
static char *digits_before(char *end, unsigned long long a) {
    do {
        *--end = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    return end;
}

/* A value rint(v * 10^6) cannot round surely (a near-tie, or 1e5 or more, where the product's
 * own error may pass the margin), as Python's round(v, 6) rounds it: the decimal digits of v's
 * exact binary value rounded to six places (dtoa's mode 3, which round() uses), then, as above,
 * without trailing zeros, a whole number as an int. Below 2^33 that text is the repr of the
 * double round() reads back. None (Python's round) below 1e-4 (an exponent form) or beyond. */
static PyObject *exact_number(double v) {
    if (!(fabs(v) >= 1e-4 && fabs(v) < 8589934592.0)) {
        Py_INCREF(Py_None);
        return Py_None;
    }
    char *digits = PyOS_double_to_string(v, 'f', 6, 0, NULL);
    if (digits == NULL)
        return NULL;
    Py_ssize_t len = (Py_ssize_t)strlen(digits);
    while (digits[len - 1] == '0')
        len--;
    if (digits[len - 1] == '.')
        len--;
    PyObject *text = ascii_str(digits, len);  /* |v| >= 1e-4: never rounds to 0, never "-0" */
    PyMem_Free(digits);
    return text;
}

/* One value's text (see above); None where Python's round must say it. */
static PyObject *number_text(double v) {
    double scaled = v * 1e6;
    double nearest = rint(scaled);
    if (!(fabs(fabs(scaled - nearest) - 0.5) > 1e-4) || !(fabs(scaled) < 1e11))
        return exact_number(v);
    long long k = (long long)nearest; /* |k| < 1e11: exact */
    unsigned long long a = k < 0 ? (unsigned long long)(-k) : (unsigned long long)k;
    unsigned long long frac = a % 1000000ULL;
    if (frac != 0 && a < 100) {  /* below 1e-4: repr's exponent form, by repr */
        char *repr = PyOS_double_to_string(nearest / 1e6 + 0.0, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        PyObject *text = repr == NULL ? NULL : ascii_str(repr, (Py_ssize_t)strlen(repr));
        PyMem_Free(repr);
        return text;
    }
    char buffer[48];
    char *end = buffer + sizeof buffer, *p = end;
    if (frac != 0) {  /* the decimals, without trailing zeros */
        int places = 6;
        while (frac % 10 == 0) {
            frac /= 10;
            places--;
        }
        for (; places > 0; places--, frac /= 10)
            *--p = (char)('0' + frac % 10);
        *--p = '.';
    }
    p = digits_before(p, a / 1000000ULL);
    if (k < 0)  /* a whole -0 was k == 0: no sign */
        *--p = '-';
    return ascii_str(p, end - p);
}

static PyObject *coco_numbers(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:coco_numbers", &view))
        return NULL;
    if (view.len % sizeof(double)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "coco_numbers: a buffer of float64");
        return NULL;
    }
    const double *values = (const double *)view.buf;
    Py_ssize_t n = view.len / (Py_ssize_t)sizeof(double);
    PyObject *out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *text = number_text(values[i]);
        if (text == NULL)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, i, text);
    }
    PyBuffer_Release(&view);
    return out;
}

PyDoc_STRVAR(coco_boxes_doc,
"coco_boxes(boxes, area_first=None) -> tuple | None\n\n"
"The texts of XYXY float64 boxes as COCO's writer spells them: per box x0, y0, x1 - x0,\n"
"y1 - y0 and their product (numpy's arithmetic), each as coco_numbers spells it; the area\n"
"first for a box whose byte in ``area_first`` is not 0. ``None`` where a number is not\n"
"finite, or one needs Python's round: the caller goes the long way.");

static PyObject *coco_boxes(PyObject *self, PyObject *args) {
    Py_buffer view, first = {0};
    if (!PyArg_ParseTuple(args, "y*|z*:coco_boxes", &view, &first))
        return NULL;
    Py_ssize_t n = view.len / (Py_ssize_t)(4 * sizeof(double));
    if (view.len != n * 4 * (Py_ssize_t)sizeof(double) || (first.buf != NULL && first.len != n)) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&first);
        PyErr_SetString(PyExc_ValueError, "coco_boxes: 4 float64 a box, and a byte a box in area_first");
        return NULL;
    }
    const double *b = (const double *)view.buf;
    const uint8_t *area_first = (const uint8_t *)first.buf;
    PyObject *out = PyTuple_New(n * 5);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++, b += 4) {
        double w = b[2] - b[0], h = b[3] - b[1];
        double values[5] = {b[0], b[1], w, h, w * h};
        int shift = area_first != NULL && area_first[i] ? 4 : 0;  /* area, x0, y0, w, h */
        for (int k = 0; k < 5; k++) {
            double v = values[(k + shift) % 5];
            PyObject *text = isfinite(v) ? number_text(v) : (Py_INCREF(Py_None), Py_None);
            if (text == Py_None) {
                Py_DECREF(text);
                Py_CLEAR(out);
                Py_INCREF(Py_None);
                out = Py_None;
                goto done;
            }
            if (text == NULL) {
                Py_CLEAR(out);
                goto done;
            }
            PyTuple_SET_ITEM(out, i * 5 + k, text);
        }
    }
done:
    PyBuffer_Release(&view);
    PyBuffer_Release(&first);
    return out;
}

/* ---- Boxes through a rotation or an affine ------------------------------------------
 * augment.labels.moves._affine box by box: each corner mapped as numpy maps it (x * a + y * b
 * + c, two products and two sums, no fused multiply-add), the box of the four corners. */

PyDoc_STRVAR(affine_boxes_doc,
"affine_boxes(boxes, out, a, b, c, d, e, f)\n\n"
"The XYXY float64 boxes of ``boxes`` mapped by x' = x*a + y*b + c, y' = x*d + y*e + f, corner\n"
"by corner, into ``out`` (a writable buffer of the same size): each the box of its corners.");

static PyObject *affine_boxes(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    double m[6];
    if (!PyArg_ParseTuple(args, "y*w*dddddd:affine_boxes", &src, &dst, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]))
        return NULL;
    if (src.len != dst.len || src.len % (4 * (Py_ssize_t)sizeof(double))) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "affine_boxes: two buffers of 4 float64 a box");
        return NULL;
    }
    Py_ssize_t n = src.len / (4 * (Py_ssize_t)sizeof(double));
    const double *b = (const double *)src.buf;
    double *o = (double *)dst.buf;
    for (Py_ssize_t i = 0; i < n; i++, b += 4, o += 4) {
        const double xs[4] = {b[0], b[2], b[2], b[0]}, ys[4] = {b[1], b[1], b[3], b[3]};
        double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
        for (int k = 0; k < 4; k++) {
            double x = xs[k] * m[0] + ys[k] * m[1] + m[2];
            double y = xs[k] * m[3] + ys[k] * m[4] + m[5];
            if (k == 0 || x < x0 || isnan(x)) x0 = isnan(x0) ? x0 : x;
            if (k == 0 || x > x1 || isnan(x)) x1 = isnan(x1) ? x1 : x;
            if (k == 0 || y < y0 || isnan(y)) y0 = isnan(y0) ? y0 : y;
            if (k == 0 || y > y1 || isnan(y)) y1 = isnan(y1) ? y1 : y;
        }
        o[0] = x0;
        o[1] = y0;
        o[2] = x1;
        o[3] = y1;
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    Py_RETURN_NONE;
}

/* ---- What the rules say of moved boxes --------------------------------------------
 * augment.labels.follow's numpy arithmetic, box by box, with the same operations in the same
 * order (the clamp itself stays numpy's): per box, bit 0 its clamped box has a side under
 * min_side (the object left the image), bit 1 an area under min_area, bit 2 less than
 * min_visibility of its area before the clamp (where min_visibility > 0; else bit 1's
 * answer), bit 3 the clamp moved an edge by more than cut. Comparisons with NaN are false,
 * as numpy's are. */

PyDoc_STRVAR(box_rules_doc,
"box_rules(raw, clamped, flags, min_side, cut, min_area, min_visibility) -> int\n\n"
"Per box (float64 XYXY buffers), the rules' flags into the uint8 buffer ``flags`` (see\n"
"augment.labels.follow); returns every box's flags or-ed together.");

static PyObject *box_rules(PyObject *self, PyObject *args) {
    Py_buffer raw, clamped, flags;
    double min_side, cut, min_area, min_visibility;
    if (!PyArg_ParseTuple(args, "y*y*w*dddd:box_rules", &raw, &clamped, &flags, &min_side, &cut, &min_area,
                          &min_visibility))
        return NULL;
    Py_ssize_t n = flags.len;
    if (raw.len != n * 4 * (Py_ssize_t)sizeof(double) || clamped.len != raw.len) {
        PyBuffer_Release(&raw);
        PyBuffer_Release(&clamped);
        PyBuffer_Release(&flags);
        PyErr_SetString(PyExc_ValueError, "box_rules: raw and clamped hold 4 float64 per flag");
        return NULL;
    }
    const double *r = (const double *)raw.buf, *b = (const double *)clamped.buf;
    uint8_t *out = (uint8_t *)flags.buf;
    unsigned all = 0;
    for (Py_ssize_t i = 0; i < n; i++, r += 4, b += 4) {
        double w = b[2] - b[0], h = b[3] - b[1];
        double area = w * h;
        unsigned f = 0;
        if (w < min_side || h < min_side)
            f |= 1;
        if (area < min_area)
            f |= 2;
        if (min_visibility > 0) {
            double before = (r[2] - r[0]) * (r[3] - r[1]);
            if (before > 0 && area / before < min_visibility)
                f |= 4;
        } else if (f & 2) {
            f |= 4;
        }
        for (int k = 0; k < 4; k++)
            if (fabs(b[k] - r[k]) > cut)
                f |= 8;
        out[i] = (uint8_t)f;
        all |= f;
    }
    PyBuffer_Release(&raw);
    PyBuffer_Release(&clamped);
    PyBuffer_Release(&flags);
    return PyLong_FromUnsignedLong(all);
}

/* ---- A COCO input's annotations, read and templated ---------------------------------
 * augment.labels.coco reads an image's annotations (each a dict as json.loads made it,
 * validated by read_coco) into arrays, and augment.labels.coco_lines makes their text with
 * %s where a moved box's numbers go: here one pass over the dicts does each, without a
 * Python object per field. Anything these do not spell exactly as Python does (a type
 * json.loads does not make, text that is not UTF-8) returns None: the caller goes the
 * Python way. */

PyDoc_STRVAR(coco_arrays_doc,
"coco_arrays(annotations, boxes, categories, ids) -> int | None\n\n"
"Each annotation's ``bbox`` (x, y, width, height) as XYXY float64 into ``boxes`` (x + width,\n"
"y + height, as numpy adds them), its ``category_id`` and ``id`` into the int64 buffers\n"
"``categories`` and ``ids``. Returns 1 where an annotation has a segmentation or keypoints\n"
"(truthy), else 0; ``None`` where a value is not what read_coco lets through.");

/* the fields these look up, made once (PyInit__native) */
static PyObject *key_bbox, *key_category_id, *key_id, *key_image_id, *key_segmentation, *key_keypoints, *key_width,
    *key_height;

static int make_keys(void) {
    return (key_bbox = PyUnicode_InternFromString("bbox")) != NULL &&
           (key_category_id = PyUnicode_InternFromString("category_id")) != NULL &&
           (key_id = PyUnicode_InternFromString("id")) != NULL &&
           (key_image_id = PyUnicode_InternFromString("image_id")) != NULL &&
           (key_width = PyUnicode_InternFromString("width")) != NULL &&
           (key_height = PyUnicode_InternFromString("height")) != NULL &&
           (key_segmentation = PyUnicode_InternFromString("segmentation")) != NULL &&
           (key_keypoints = PyUnicode_InternFromString("keypoints")) != NULL ? 0 : -1;
}

/* a str key is the ASCII name (its length first: most keys are not) */
static int key_is(PyObject *key, const char *name, Py_ssize_t len) {
    return PyUnicode_GET_LENGTH(key) == len && PyUnicode_CompareWithASCIIString(key, name) == 0;
}

static int plain_int(PyObject *value, long long *out) {
    if (!PyLong_CheckExact(value))
        return 0;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && !(*out == -1 && PyErr_Occurred());
}

static int plain_double(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    if (!PyLong_CheckExact(value))
        return 0;
    *out = PyLong_AsDouble(value);  /* correctly rounded, as numpy converts an int */
    if (*out == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* a value json.loads makes: its hash, equality and truth run no Python code (a subclass's
 * could run any, and free what these hold borrowed) */
static int json_value(PyObject *v) {
    return v == Py_None || PyBool_Check(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v) ||
           PyUnicode_CheckExact(v) || PyList_CheckExact(v) || PyDict_CheckExact(v);
}

/* dict[key] truthy: 1 or 0, -1 where it is not a json.loads value (the caller gives way) */
static int truthy(PyObject *dict, PyObject *key) {
    PyObject *value = PyDict_GetItemWithError(dict, key);  /* borrowed */
    if (value == NULL) {
        PyErr_Clear();
        return 0;
    }
    return json_value(value) ? PyObject_IsTrue(value) : -1;
}

static PyObject *coco_arrays(PyObject *self, PyObject *args) {
    PyObject *anns;
    Py_buffer boxes, cats, ids;
    if (!PyArg_ParseTuple(args, "O!w*w*w*:coco_arrays", &PyList_Type, &anns, &boxes, &cats, &ids))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(anns);
    PyObject *result = NULL;
    if (boxes.len != n * 4 * (Py_ssize_t)sizeof(double) || cats.len != n * (Py_ssize_t)sizeof(long long) ||
        ids.len != cats.len) {
        PyErr_SetString(PyExc_ValueError, "coco_arrays: 4 float64 and two int64 per annotation");
        goto done;
    }
    double *b = (double *)boxes.buf;
    long long *c = (long long *)cats.buf, *d = (long long *)ids.buf;
    int more = 0;
    for (Py_ssize_t i = 0; i < n; i++, b += 4) {
        PyObject *ann = PyList_GET_ITEM(anns, i);
        if (!PyDict_CheckExact(ann))
            goto fallback;
        PyObject *box = PyDict_GetItemWithError(ann, key_bbox);  /* borrowed, as the two below */
        PyObject *cat = PyDict_GetItemWithError(ann, key_category_id), *id = PyDict_GetItemWithError(ann, key_id);
        if (box == NULL || !PyList_CheckExact(box) || PyList_GET_SIZE(box) != 4 || cat == NULL || id == NULL ||
            !plain_int(cat, &c[i]) || !plain_int(id, &d[i]))
            goto fallback;
        for (int k = 0; k < 4; k++)
            if (!plain_double(PyList_GET_ITEM(box, k), &b[k]))
                goto fallback;
        b[2] = b[2] + b[0];
        b[3] = b[3] + b[1];
        int segmented = truthy(ann, key_segmentation), posed = truthy(ann, key_keypoints);
        if (segmented < 0 || posed < 0)
            goto fallback;
        more |= segmented | posed;
    }
    result = PyLong_FromLong(more);
    goto done;
fallback:
    PyErr_Clear();
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&boxes);
    PyBuffer_Release(&cats);
    PyBuffer_Release(&ids);
    return result;
}

PyDoc_STRVAR(coco_templates_doc,
"coco_templates(annotations, encode_string, encode) -> (list, bytes) | None\n\n"
"Per annotation, the text augment.labels.coco_lines' templates hold: the compact JSON of\n"
"{\"category_id\": ..., **its other fields but id and image_id, \"bbox\": ..., \"area\": ...}\n"
"(the box and the area where the annotation has them, else last), ``%`` doubled, with\n"
"``[%s,%s,%s,%s]`` for the box and ``%s`` for the area; and a byte per annotation, 1 where\n"
"its area comes before its box. Strings are spelled by ``encode_string`` (json's\n"
"c_encode_basestring), lists and dicts by ``encode``; ints, floats, bools and None as json\n"
"spells them. ``None`` where a value is neither (or a float not finite, or a key not a str).");

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Text;

/* room for n more bytes */
static int text_reserve(Text *t, Py_ssize_t n) {
    if (t->len + n > t->cap) {
        Py_ssize_t cap = (t->len + n) * 2 + 64;
        char *data = PyMem_Realloc(t->data, (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->data = data;
        t->cap = cap;
    }
    return 0;
}

static int text_put(Text *t, const char *s, Py_ssize_t n) {
    if (text_reserve(t, n) < 0)
        return -1;
    memcpy(t->data + t->len, s, (size_t)n);
    t->len += n;
    return 0;
}

/* text that is not a placeholder: a '%' doubled, as %-formatting reads it back */
static int text_put_literal(Text *t, const char *s, Py_ssize_t n) {
    if (text_reserve(t, 2 * n) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        t->data[t->len++] = s[i];
        if (s[i] == '%')
            t->data[t->len++] = '%';
    }
    return 0;
}

/* a str's UTF-8 as literal text; -1 with an error (a lone surrogate: not UTF-8) */
static int text_put_str(Text *t, PyObject *str) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(str, &n);
    return s == NULL ? -1 : text_put_literal(t, s, n);
}

/* an ASCII str that json spells as itself in quotes (no control character, quote or
 * backslash: nothing to escape) written so: 1; 0 where it is not one */
static int text_put_plain(Text *t, PyObject *str) {
    if (!PyUnicode_IS_ASCII(str))
        return 0;
    const char *s = (const char *)PyUnicode_DATA(str);
    Py_ssize_t n = PyUnicode_GET_LENGTH(str);
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return 0;
    return text_put(t, "\"", 1) < 0 || text_put_literal(t, s, n) < 0 || text_put(t, "\"", 1) < 0 ? -1 : 1;
}

/* the value's JSON: 1 written, 0 not one this spells (the caller falls back), -1 an error */
static int text_put_value(Text *t, PyObject *value, PyObject *encode_string, PyObject *encode) {
    if (value == Py_None)
        return text_put(t, "null", 4) < 0 ? -1 : 1;
    if (value == Py_True)
        return text_put(t, "true", 4) < 0 ? -1 : 1;
    if (value == Py_False)
        return text_put(t, "false", 5) < 0 ? -1 : 1;
    if (PyFloat_CheckExact(value)) {
        double v = PyFloat_AS_DOUBLE(value);
        if (!isfinite(v))
            return 0;
        char *repr = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);  /* float.__repr__ */
        if (repr == NULL)
            return -1;
        int status = text_put(t, repr, (Py_ssize_t)strlen(repr));
        PyMem_Free(repr);
        return status < 0 ? -1 : 1;
    }
    PyObject *spelled;
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow) {  /* int.__repr__'s digits, without a str */
            char digits[24];
            int n = snprintf(digits, sizeof digits, "%lld", v);
            return text_put(t, digits, n) < 0 ? -1 : 1;
        }
        spelled = PyObject_Repr(value);
    } else if (PyUnicode_CheckExact(value)) {
        int plain = text_put_plain(t, value);
        if (plain != 0)
            return plain;
        spelled = PyObject_CallOneArg(encode_string, value);
    }
    else if (PyList_CheckExact(value) || PyDict_CheckExact(value))
        spelled = PyObject_CallOneArg(encode, value);
    else
        return 0;
    if (spelled == NULL)
        return -1;
    int status = PyUnicode_Check(spelled) ? text_put_str(t, spelled) : (PyErr_SetString(PyExc_TypeError,
                                                                           "an encoder gave no str"), -1);
    Py_DECREF(spelled);
    return status < 0 ? -1 : 1;
}

static PyObject *coco_templates(PyObject *self, PyObject *args) {
    PyObject *anns, *encode_string, *encode;
    if (!PyArg_ParseTuple(args, "O!OO:coco_templates", &PyList_Type, &anns, &encode_string, &encode))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(anns);
    PyObject *texts = PyList_New(n), *first = PyBytes_FromStringAndSize(NULL, n);
    Text t = {NULL, 0, 0};
    int status = texts == NULL || first == NULL ? -1 : 1;
    /* The encoder runs a subclass's code where a value is one (never in what json.loads makes),
     * which could change the list or free an annotation: each is held while it is written, and
     * a list that changed size gives way. */
    for (Py_ssize_t i = 0; status > 0 && i < n; i++) {
        if (PyList_GET_SIZE(anns) != n) {
            status = 0;
            break;
        }
        PyObject *ann = PyList_GET_ITEM(anns, i), *key, *value, *cat;
        if (!PyDict_CheckExact(ann) || (cat = PyDict_GetItemWithError(ann, key_category_id)) == NULL ||
            !PyLong_CheckExact(cat)) {
            status = 0;
            break;
        }
        Py_INCREF(ann);
        t.len = 0;
        int has_box = 0, has_area = 0;
        PyBytes_AS_STRING(first)[i] = 0;
        status = text_put(&t, "{\"category_id\":", 15) < 0 ? -1 : text_put_value(&t, cat, encode_string, encode);
        Py_ssize_t pos = 0;
        while (status > 0 && PyDict_Next(ann, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key)) {
                status = 0;
                break;
            }
            if (key_is(key, "id", 2) || key_is(key, "image_id", 8) || key_is(key, "category_id", 11))
                continue;
            status = text_put(&t, ",", 1) < 0 ? -1 : text_put_value(&t, key, encode_string, encode);
            if (status > 0)
                status = text_put(&t, ":", 1) < 0 ? -1 : 1;
            if (status <= 0)
                break;
            if (key_is(key, "bbox", 4)) {
                has_box = 1;
                status = text_put(&t, "[%s,%s,%s,%s]", 13) < 0 ? -1 : 1;
            } else if (key_is(key, "area", 4)) {
                has_area = 1;
                PyBytes_AS_STRING(first)[i] = (char)!has_box;
                status = text_put(&t, "%s", 2) < 0 ? -1 : 1;
            } else {
                status = text_put_value(&t, value, encode_string, encode);
            }
        }
        if (status > 0 && !has_box)
            status = text_put(&t, ",\"bbox\":[%s,%s,%s,%s]", 21) < 0 ? -1 : 1;
        if (status > 0 && !has_area)
            status = text_put(&t, ",\"area\":%s", 10) < 0 ? -1 : 1;
        if (status > 0)
            status = text_put(&t, "}", 1) < 0 ? -1 : 1;
        if (status > 0) {
            PyObject *text = PyUnicode_DecodeUTF8(t.data, t.len, NULL);
            if (text == NULL)
                status = -1;
            else
                PyList_SET_ITEM(texts, i, text);
        }
        Py_DECREF(ann);
    }
    PyMem_Free(t.data);
    if (status > 0 && PyList_GET_SIZE(anns) != n)
        status = 0;
    if (status > 0)
        return Py_BuildValue("(NN)", texts, first);
    Py_XDECREF(texts);
    Py_XDECREF(first);
    /* an Exception (an encoder's: a NaN in a list; a str that is not UTF-8; a MemoryError):
     * the Python way does the work again, and raises it again where it is one */
    if (status < 0 && !PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
    PyErr_Clear();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(coco_index_doc,
"coco_index(annotations, start, images, categories, seen, grouped, tolerance) -> int\n\n"
"augment.labels.coco's index from ``annotations[start]`` on: each annotation\n"
"coco._plainly_valid says valid (the same checks, where ints are exact as doubles) has its\n"
"id added to the set ``seen`` and is appended to ``grouped[its image_id]`` (a list made where\n"
"there is none). Returns the index of the first it cannot say valid (Python's checks then\n"
"say why, or that it is), or len(annotations).");

#define EXACT_INT (4503599627370496.0)  /* 2^52: such ints, their sums too, are exact as doubles */

/* a JSON number as a double that stands for it exactly: an int below 2^52, a finite float */
static int exact_double(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return isfinite(*out);
    }
    long long v;
    if (!plain_int(value, &v)) {
        PyErr_Clear();
        return 0;
    }
    *out = (double)v;
    return fabs(*out) < EXACT_INT;
}

/* the value of dict[key], NULL where there is none or the lookup fails (no error left) */
static PyObject *lookup(PyObject *dict, PyObject *key) {
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL)
        PyErr_Clear();
    return value;
}

/* coco._plainly_valid: 1 valid, 0 no verdict */
static int plainly_valid(PyObject *ann, PyObject *images, PyObject *categories, PyObject *seen, double tol) {
    if (!PyDict_CheckExact(ann))
        return 0;
    PyObject *box = lookup(ann, key_bbox), *ident = lookup(ann, key_id), *image_id = lookup(ann, key_image_id);
    PyObject *category = lookup(ann, key_category_id), *image;
    /* from here on no Python code runs: every value hashed or tested is one json.loads makes */
    if (box == NULL || !PyList_CheckExact(box) || PyList_GET_SIZE(box) != 4 || ident == NULL ||
        !PyLong_CheckExact(ident) || image_id == NULL || category == NULL || !json_value(image_id) ||
        !json_value(category))
        return 0;
    int posed = truthy(ann, key_keypoints), segmented = truthy(ann, key_segmentation);
    if (posed != 0 || segmented != 0 || PySet_Contains(seen, ident) != 0 ||
        (image = lookup(images, image_id)) == NULL || !PyDict_CheckExact(image) ||
        PyDict_Contains(categories, category) != 1) {
        PyErr_Clear();
        return 0;
    }
    PyObject *width = lookup(image, key_width), *height = lookup(image, key_height);
    double b[4], w, h;
    for (int k = 0; k < 4; k++)
        if (!exact_double(PyList_GET_ITEM(box, k), &b[k]))
            return 0;
    if (width == NULL || height == NULL || !exact_double(width, &w) || !exact_double(height, &h) ||
        !PyLong_CheckExact(width) || !PyLong_CheckExact(height))
        return 0;
    return b[2] > 0 && b[3] > 0 && b[0] >= -tol && b[1] >= -tol && b[0] + b[2] <= w + tol && b[1] + b[3] <= h + tol;
}

static PyObject *coco_index(PyObject *self, PyObject *args) {
    PyObject *anns, *images, *categories, *seen, *grouped;
    Py_ssize_t at;
    double tol;
    if (!PyArg_ParseTuple(args, "O!nO!O!O!O!d:coco_index", &PyList_Type, &anns, &at, &PyDict_Type, &images,
                          &PyDict_Type, &categories, &PySet_Type, &seen, &PyDict_Type, &grouped, &tol))
        return NULL;
    for (; at >= 0 && at < PyList_GET_SIZE(anns); at++) {
        PyObject *ann = PyList_GET_ITEM(anns, at);
        if (!plainly_valid(ann, images, categories, seen, tol))
            break;
        PyObject *image_id = lookup(ann, key_image_id), *ident = lookup(ann, key_id);  /* both there: looked at */
        if (image_id == NULL || ident == NULL)
            break;
        PyObject *group = PyDict_GetItemWithError(grouped, image_id);
        if (group == NULL) {
            if (PyErr_Occurred())
                return NULL;
            group = PyList_New(0);
            if (group == NULL || PyDict_SetItem(grouped, image_id, group) < 0) {
                Py_XDECREF(group);
                return NULL;
            }
            Py_DECREF(group);  /* grouped holds it */
        }
        if (PySet_Add(seen, ident) < 0 || PyList_Append(group, ann) < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(at);
}

static PyMethodDef methods[] = {
    {"lut", lut, METH_VARARGS, lut_doc},
    {"hue", hue, METH_VARARGS, hue_doc},
    {"saturation", saturation, METH_VARARGS, saturation_doc},
    {"gray", gray, METH_VARARGS, gray_doc},
    {"gray_sum", gray_sum, METH_VARARGS, gray_sum_doc},
    {"blend_table", blend_table, METH_VARARGS, blend_table_doc},
    {"affine_nearest", affine_nearest, METH_VARARGS, affine_nearest_doc},
    {"drop_padding", drop_padding, METH_VARARGS, drop_padding_doc},
    {"add_padding", add_padding, METH_VARARGS, add_padding_doc},
    {"resize_bilinear", resize_bilinear, METH_VARARGS, resize_bilinear_doc},
    {"memory", memory, METH_VARARGS, memory_doc},
    {"coco_numbers", coco_numbers, METH_VARARGS, coco_numbers_doc},
    {"coco_boxes", coco_boxes, METH_VARARGS, coco_boxes_doc},
    {"box_rules", box_rules, METH_VARARGS, box_rules_doc},
    {"affine_boxes", affine_boxes, METH_VARARGS, affine_boxes_doc},
    {"coco_arrays", coco_arrays, METH_VARARGS, coco_arrays_doc},
    {"coco_templates", coco_templates, METH_VARARGS, coco_templates_doc},
    {"coco_index", coco_index, METH_VARARGS, coco_index_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "augment._native",
    "Compiled pixel kernels, bit-exact with torchvision's uint8 tensor kernels.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    for (int v = 0; v < 256; v++)
        identity[v] = (uint8_t)v;
    best_build = detect_build();
    if (PyType_Ready(&MemoryType) < 0 || make_keys() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    PyObject *builds = PyTuple_New(best_build + 1);
    for (int b = 0; builds != NULL && b <= best_build; b++) {
        PyObject *name = PyUnicode_FromString(build_names[b]);
        if (name == NULL)
            Py_CLEAR(builds);
        else
            PyTuple_SET_ITEM(builds, b, name);
    }
    if (m == NULL || builds == NULL || PyModule_AddStringConstant(m, "VARIANT", build_names[best_build]) < 0 ||
        PyModule_AddObject(m, "BUILDS", builds) < 0) {
        Py_XDECREF(builds);
        Py_XDECREF(m);
        return NULL;
    }
    return m;
}
