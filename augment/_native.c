/*
 * augment._native: compiled pixel kernels for ``kernels: fast``.
 *
 * Each kernel computes exactly what torchvision's uint8 tensor kernel computes: the
 * same float32 operations, in the same order, with the same rounding, so its output
 * equals torchvision's reference bit for bit (tests/test_native.py checks every one of
 * the 2^24 RGB colours). Without this module, augment runs torchvision's kernel
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

INLINE vf clamp01(vf x) {
    const vf zero = {0}, one = zero + 1.0f;
    return sel(x < zero, zero, sel(x > one, one, x));
}

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
    vf rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    vf is_r = sel(maxc == r, one, zero), is_g = sel(maxc == g, one, zero);
    vf hg = ((rc + 2.0f) - bc) * (is_g * (one - is_r));  /* rc.add(2).sub_(bc).mul_(mask) */
    vf hr = (bc - gc) * is_r;
    vf hb = ((gc + 4.0f) - rc) * ((one - is_r) * (one - is_g));
    vf x = ((hr + hg) + hb) * sixth + 1.0f;              /* h.mul_(1 / 6).add_(1).fmod_(1) */
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
    vf q = clamp01((one - sxf) * maxc);
    vf t = clamp01((sxf + oms) * maxc);
    vf p = clamp01(oms * maxc);
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
 * computed W lanes at a time, truncated and packed back. */
typedef struct {
    float r[CHUNK] __attribute__((aligned(32)));
    float g[CHUNK] __attribute__((aligned(32)));
    float b[CHUNK] __attribute__((aligned(32)));
} Planar;

INLINE Py_ssize_t unpack(const uint8_t *px, Py_ssize_t start, Py_ssize_t n, const uint8_t *map, Planar *x) {
    Py_ssize_t m = n - start < CHUNK ? n - start : CHUNK;
    const uint8_t *p8 = px + 3 * start;
    if (map != identity) { /* a pending table: looked up byte by byte */
        for (Py_ssize_t j = 0; j < m; j++) {
            x->r[j] = map[p8[3 * j]];
            x->g[j] = map[p8[3 * j + 1]];
            x->b[j] = map[p8[3 * j + 2]];
        }
    } else if (m == CHUNK) { /* no table, a fixed trip count: the compiler vectorises this */
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            x->r[j] = p8[3 * j];
            x->g[j] = p8[3 * j + 1];
            x->b[j] = p8[3 * j + 2];
        }
        return m;
    } else {
        for (Py_ssize_t j = 0; j < m; j++) {
            x->r[j] = p8[3 * j];
            x->g[j] = p8[3 * j + 1];
            x->b[j] = p8[3 * j + 2];
        }
    }
    for (Py_ssize_t j = m; j < CHUNK; j++)
        x->r[j] = x->g[j] = x->b[j] = 0.0f;
    return m;
}

/* .to(uint8) of values in [0, 256): truncation */
INLINE void pack(const Planar *x, Py_ssize_t start, Py_ssize_t m, uint8_t *px) {
    uint8_t *p8 = px + 3 * start;
    if (m == CHUNK) {
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            p8[3 * j] = (uint8_t)(int32_t)x->r[j];
            p8[3 * j + 1] = (uint8_t)(int32_t)x->g[j];
            p8[3 * j + 2] = (uint8_t)(int32_t)x->b[j];
        }
        return;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        p8[3 * j] = (uint8_t)(int32_t)x->r[j];
        p8[3 * j + 1] = (uint8_t)(int32_t)x->g[j];
        p8[3 * j + 2] = (uint8_t)(int32_t)x->b[j];
    }
}

INLINE void hue_impl(uint8_t *px, Py_ssize_t n, const uint8_t *map, float factor) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x);
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
        pack(&x, start, m, px);
    }
}

/* _rgb_to_grayscale_image(preserve_dtype=False).floor_():
 * r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114). torch computes add_ with an
 * alpha as a fused multiply-add (Vectorized::fmadd), hence fmaf. */
INLINE float gray_of(float r, float g, float b) {
    float l = fmaf(b, 0.114f, fmaf(g, 0.587f, r * 0.2989f));
    return (float)(int)l; /* floor: l >= 0 */
}

INLINE void gray_impl(const uint8_t *px, uint8_t *out, Py_ssize_t n, const uint8_t *map) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x);
        for (Py_ssize_t j = 0; j < CHUNK; j++)
            x.r[j] = gray_of(x.r[j], x.g[j], x.b[j]);
        for (Py_ssize_t j = 0; j < m; j++)
            out[start + j] = (uint8_t)(int)x.r[j];
    }
}

/* _blend(image, gray, factor): image.mul(factor).add_(gray, alpha=1 - factor).clamp_(0, 255),
 * with gray as above (adjust_saturation_image). */
INLINE float blend_one(float x, float other, float ratio, float alpha) {
    float v = fmaf(other, alpha, x * ratio);
    v = v < 0.0f ? 0.0f : v;
    return v > 255.0f ? 255.0f : v;
}

INLINE void saturation_impl(uint8_t *px, Py_ssize_t n, const uint8_t *map, float ratio, float alpha) {
    Planar x;
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t m = unpack(px, start, n, map, &x);
        for (Py_ssize_t j = 0; j < CHUNK; j++) {
            float l = gray_of(x.r[j], x.g[j], x.b[j]);
            x.r[j] = blend_one(x.r[j], l, ratio, alpha);
            x.g[j] = blend_one(x.g[j], l, ratio, alpha);
            x.b[j] = blend_one(x.b[j], l, ratio, alpha);
        }
        pack(&x, start, m, px);
    }
}

/* A portable build of each kernel, and on x86-64 an AVX2+FMA build chosen at run time.
 * The build changes the speed, never the result: every operation is IEEE float32, lane
 * by lane, and fmaf is fused in both (an instruction, or libm's exact fmaf). */
static void hue_generic(uint8_t *px, Py_ssize_t n, const uint8_t *map, float factor) { hue_impl(px, n, map, factor); }
static void gray_generic(const uint8_t *px, uint8_t *out, Py_ssize_t n, const uint8_t *map) {
    gray_impl(px, out, n, map);
}
static void saturation_generic(uint8_t *px, Py_ssize_t n, const uint8_t *map, float ratio, float alpha) {
    saturation_impl(px, n, map, ratio, alpha);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_BUILD 1
#define AVX2 __attribute__((target("avx2,fma")))
AVX2 static void hue_avx2(uint8_t *px, Py_ssize_t n, const uint8_t *map, float factor) { hue_impl(px, n, map, factor); }
AVX2 static void gray_avx2(const uint8_t *px, uint8_t *out, Py_ssize_t n, const uint8_t *map) {
    gray_impl(px, out, n, map);
}
AVX2 static void saturation_avx2(uint8_t *px, Py_ssize_t n, const uint8_t *map, float ratio, float alpha) {
    saturation_impl(px, n, map, ratio, alpha);
}
static int use_avx2(int generic) {
    return !generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static int use_avx2(int generic) { (void)generic; return 0; }
#define hue_avx2 hue_generic
#define gray_avx2 gray_generic
#define saturation_avx2 saturation_generic
#endif

static void release(Py_buffer *view, Py_buffer *table) {
    PyBuffer_Release(view);
    if (table->buf != NULL)
        PyBuffer_Release(table);
}

/* The pixels must be packed RGB (3 bytes each); the table, where one is given, the
 * 256 values every byte is mapped through as it is read (a pending brightness or
 * contrast step, folded into this pass). Returns the map, or NULL with an exception
 * set and the buffers released. */
static const uint8_t *check_args(Py_buffer *view, Py_buffer *table, const char *name) {
    if (view->len % 3 != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of RGB pixels", name, view->len);
    } else if (table->buf != NULL && table->len != 256) {
        PyErr_Format(PyExc_ValueError, "%s: the table has %zd bytes, not 256", name, table->len);
    } else {
        return table->buf != NULL ? (const uint8_t *)table->buf : identity;
    }
    release(view, table);
    return NULL;
}

PyDoc_STRVAR(hue_doc,
             "hue(rgb, factor, table=None, generic=False, /)\n\n"
             "torchvision's adjust_hue, in place, on a writable buffer of packed 8-bit RGB pixels\n"
             "(3 bytes each). factor: the hue shift in turns, in [-0.5, 0.5]. table: 256 bytes\n"
             "every value is mapped through first (a pending brightness or contrast step), or\n"
             "None. generic: run the portable build even where the AVX2 one would (the tests\n"
             "compare the two). The same arguments for saturation and gray.");

static PyObject *hue(PyObject *self, PyObject *args) {
    float factor;
    int generic = 0;
    Py_buffer view, table = {0};
    if (!PyArg_ParseTuple(args, "w*f|z*p:hue", &view, &factor, &table, &generic))
        return NULL;
    const uint8_t *map = check_args(&view, &table, "hue");
    if (map == NULL)
        return NULL;
    if (!(factor >= -0.5f && factor <= 0.5f)) {
        release(&view, &table);
        return PyErr_Format(PyExc_ValueError, "hue: factor %R is not in [-0.5, 0.5]", PyTuple_GET_ITEM(args, 1));
    }
    int avx2 = use_avx2(generic);
    Py_BEGIN_ALLOW_THREADS
    if (avx2)
        hue_avx2((uint8_t *)view.buf, view.len / 3, map, factor);
    else
        hue_generic((uint8_t *)view.buf, view.len / 3, map, factor);
    Py_END_ALLOW_THREADS
    release(&view, &table);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(saturation_doc,
             "saturation(rgb, factor, table=None, generic=False, /)\n\n"
             "torchvision's adjust_saturation, in place, on a writable buffer of packed 8-bit RGB\n"
             "pixels: a blend with the floored gray. factor >= 0. table, generic: as for hue.");

static PyObject *saturation(PyObject *self, PyObject *args) {
    double factor;
    int generic = 0;
    Py_buffer view, table = {0};
    if (!PyArg_ParseTuple(args, "w*d|z*p:saturation", &view, &factor, &table, &generic))
        return NULL;
    const uint8_t *map = check_args(&view, &table, "saturation");
    if (map == NULL)
        return NULL;
    if (!(factor >= 0.0)) {
        release(&view, &table);
        return PyErr_Format(PyExc_ValueError, "saturation: factor %R is negative", PyTuple_GET_ITEM(args, 1));
    }
    /* torch casts both Python scalars to float32: ratio, and alpha = 1.0 - ratio in double */
    float ratio = (float)factor, alpha = (float)(1.0 - factor);
    int avx2 = use_avx2(generic);
    Py_BEGIN_ALLOW_THREADS
    if (avx2)
        saturation_avx2((uint8_t *)view.buf, view.len / 3, map, ratio, alpha);
    else
        saturation_generic((uint8_t *)view.buf, view.len / 3, map, ratio, alpha);
    Py_END_ALLOW_THREADS
    release(&view, &table);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(gray_doc,
             "gray(rgb, table=None, generic=False, /) -> bytearray\n\n"
             "The floored gray of packed 8-bit RGB pixels, one byte each, as torchvision's\n"
             "adjust_contrast and adjust_saturation compute it before blending. table, generic:\n"
             "as for hue.");

static PyObject *gray(PyObject *self, PyObject *args) {
    Py_buffer view, table = {0};
    int generic = 0;
    if (!PyArg_ParseTuple(args, "y*|z*p:gray", &view, &table, &generic))
        return NULL;
    const uint8_t *map = check_args(&view, &table, "gray");
    if (map == NULL)
        return NULL;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, view.len / 3);
    if (out != NULL) {
        int avx2 = use_avx2(generic);
        uint8_t *dst = (uint8_t *)PyByteArray_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        if (avx2)
            gray_avx2((const uint8_t *)view.buf, dst, view.len / 3, map);
        else
            gray_generic((const uint8_t *)view.buf, dst, view.len / 3, map);
        Py_END_ALLOW_THREADS
    }
    release(&view, &table);
    return out;
}

PyDoc_STRVAR(lut_doc,
             "lut(pixels, table, /)\n\n"
             "Map every byte of a writable buffer through a 256-byte table, in place.");

static PyObject *lut(PyObject *self, PyObject *args) {
    Py_buffer view, table;
    if (!PyArg_ParseTuple(args, "w*y*:lut", &view, &table))
        return NULL;
    if (table.len != 256) {
        PyErr_Format(PyExc_ValueError, "lut: the table has %zd bytes, not 256", table.len);
    } else {
        uint8_t map[256];
        uint8_t *px = (uint8_t *)view.buf;
        memcpy(map, table.buf, 256);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t j = 0; j < view.len; j++)
            px[j] = map[px[j]];
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&table);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"lut", lut, METH_VARARGS, lut_doc},
    {"hue", hue, METH_VARARGS, hue_doc},
    {"saturation", saturation, METH_VARARGS, saturation_doc},
    {"gray", gray, METH_VARARGS, gray_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "augment._native",
    "Compiled pixel kernels, bit-exact with torchvision's uint8 tensor kernels.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    for (int v = 0; v < 256; v++)
        identity[v] = (uint8_t)v;
#ifdef HAVE_AVX2_BUILD
    __builtin_cpu_init();
#endif
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "VARIANT", use_avx2(0) ? "avx2" : "generic") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
