/*
 * augment._jpeg: decode only the rows and columns of a JPEG that a crop keeps, with
 * Pillow's own libjpeg, so the pixels are Pillow's.
 *
 * RandomResizedCrop keeps a box of, on average, about half of the image; the rest is
 * decoded and thrown away. libjpeg-turbo can skip that work: jpeg_crop_scanline()
 * limits the inverse DCT, upsampling and colour conversion to the columns of the box,
 * and jpeg_skip_scanlines() skips them for the rows around it (the entropy decoding
 * still reads every block: Huffman data cannot be skipped).
 *
 * Same pixels as Pillow's full decode, by construction and by test:
 *
 * - The library is the very one Pillow's ``_imaging`` module is linked against, found
 *   through that module (dlopen of its path, then dlsym, which searches the module's
 *   own dependencies first), with Pillow's decoder settings: the library's defaults,
 *   out_color_space RGB (three components) or grayscale (one).
 * - "Fancy" chroma upsampling treats the edges of a partial row as the image's edges,
 *   so a margin of one iMCU is decoded on each side of the box and dropped.
 * - Any warning or error (a truncated or corrupt file, an unexpected layout) gives
 *   None, and the caller decodes with Pillow, which then does what it always does; so
 *   do arithmetic-coded and lossless files, which Pillow's chunked reading may refuse.
 *   Every row is entropy-decoded and the file is read to its end, so a file that
 *   Pillow would refuse is noticed here too.
 *
 * The header files are libjpeg-turbo's (augment/_vendor/libjpeg-turbo, the stable
 * JPEG_LIB_VERSION 62 ABI that Pillow's wheels ship); a library with another ABI
 * refuses the struct size in jpeg_CreateDecompress, and load() then returns False.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <dlfcn.h>
#include "jpeglib.h"

static struct {
    struct jpeg_error_mgr *(*std_error)(struct jpeg_error_mgr *);
    void (*create)(j_decompress_ptr, int, size_t);
    void (*destroy)(j_decompress_ptr);
    void (*mem_src)(j_decompress_ptr, const unsigned char *, unsigned long);
    int (*read_header)(j_decompress_ptr, boolean);
    boolean (*start)(j_decompress_ptr);
    void (*crop)(j_decompress_ptr, JDIMENSION *, JDIMENSION *);
    JDIMENSION (*skip)(j_decompress_ptr, JDIMENSION);
    JDIMENSION (*read)(j_decompress_ptr, JSAMPARRAY, JDIMENSION);
    boolean (*finish)(j_decompress_ptr);
    /* encoding (encode()): optional, `encoding` says whether they were all found */
    void (*create_c)(j_compress_ptr, int, size_t);
    void (*destroy_c)(j_compress_ptr);
    void (*mem_dest)(j_compress_ptr, unsigned char **, unsigned long *);
    void (*defaults)(j_compress_ptr);
    void (*quality)(j_compress_ptr, int, boolean);
    void (*start_c)(j_compress_ptr, boolean);
    JDIMENSION (*write)(j_compress_ptr, JSAMPARRAY, JDIMENSION);
    void (*finish_c)(j_compress_ptr);
} api;
static int loaded = 0, encoding = 0;

struct errors {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warned;
};

static void on_error(j_common_ptr cinfo) { longjmp(((struct errors *)cinfo->err)->jump, 1); }

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) /* a warning: corrupt data, a premature end of the file... */
        ((struct errors *)cinfo->err)->warned = 1;
}

static void no_output(j_common_ptr cinfo) { (void)cinfo; }

static void init_errors(struct errors *err) {
    api.std_error(&err->pub);
    err->pub.error_exit = on_error;
    err->pub.emit_message = on_message;
    err->pub.output_message = no_output;
    err->warned = 0;
}

/* Whether the library answers with the ABI these headers describe. */
static int abi_matches(void) {
    struct jpeg_decompress_struct cinfo;
    struct errors err;
    init_errors(&err);
    cinfo.err = &err.pub;
    if (setjmp(err.jump))
        return 0; /* "Wrong JPEG library version" or "JPEG parameter struct mismatch" */
    api.create(&cinfo, JPEG_LIB_VERSION, sizeof cinfo);
    api.destroy(&cinfo);
    return 1;
}

PyDoc_STRVAR(load_doc,
"load(module_path) -> bool\n\n"
"Bind to the libjpeg that the extension module at module_path (Pillow's _imaging) is\n"
"linked against. False where that library lacks the partial-decoding calls or has\n"
"another ABI; decode_box() then always returns None.");

static PyObject *load(PyObject *self, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s:load", &path))
        return NULL;
    void *handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == NULL)
        handle = dlopen(path, RTLD_LAZY);
    loaded = 0;
    if (handle == NULL)
        Py_RETURN_FALSE;
#define BIND(field, name) \
    if ((*(void **)&api.field = dlsym(handle, name)) == NULL) \
        Py_RETURN_FALSE;
    BIND(std_error, "jpeg_std_error")
    BIND(create, "jpeg_CreateDecompress")
    BIND(destroy, "jpeg_destroy_decompress")
    BIND(mem_src, "jpeg_mem_src")
    BIND(read_header, "jpeg_read_header")
    BIND(start, "jpeg_start_decompress")
    BIND(crop, "jpeg_crop_scanline")
    BIND(skip, "jpeg_skip_scanlines")
    BIND(read, "jpeg_read_scanlines")
    BIND(finish, "jpeg_finish_decompress")
#undef BIND
    loaded = abi_matches();
    encoding = loaded;
#define BIND_OPTIONAL(field, name) \
    if ((*(void **)&api.field = dlsym(handle, name)) == NULL) \
        encoding = 0;
    BIND_OPTIONAL(create_c, "jpeg_CreateCompress")
    BIND_OPTIONAL(destroy_c, "jpeg_destroy_compress")
    BIND_OPTIONAL(mem_dest, "jpeg_mem_dest")
    BIND_OPTIONAL(defaults, "jpeg_set_defaults")
    BIND_OPTIONAL(quality, "jpeg_set_quality")
    BIND_OPTIONAL(start_c, "jpeg_start_compress")
    BIND_OPTIONAL(write, "jpeg_write_scanlines")
    BIND_OPTIONAL(finish_c, "jpeg_finish_compress")
#undef BIND_OPTIONAL
    return PyBool_FromLong(loaded);
}

/* Pixels decoded here: malloc'd memory, writable, shared through the buffer protocol
 * (no copy into a bytearray), freed with the object. */
typedef struct {
    PyObject_HEAD
    unsigned char *data;
    Py_ssize_t len;
} Pixels;

static int pixels_getbuffer(PyObject *obj, Py_buffer *view, int flags) {
    Pixels *p = (Pixels *)obj;
    return PyBuffer_FillInfo(view, obj, p->data, p->len, 0, flags);
}

static void pixels_dealloc(PyObject *obj) {
    free(((Pixels *)obj)->data);
    Py_TYPE(obj)->tp_free(obj);
}

static Py_ssize_t pixels_length(PyObject *obj) { return ((Pixels *)obj)->len; }

static PyBufferProcs pixels_as_buffer = {pixels_getbuffer, NULL};
static PySequenceMethods pixels_as_sequence = {.sq_length = pixels_length};

static PyTypeObject PixelsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "augment._jpeg.Pixels",
    .tp_basicsize = sizeof(Pixels),
    .tp_dealloc = pixels_dealloc,
    .tp_as_buffer = &pixels_as_buffer,
    .tp_as_sequence = &pixels_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Decoded pixels (a writable buffer; len() is its size in bytes).",
};

/* Where decode_into puts the box: `rows` rows of `row` bytes, the box's columns from
 * byte `offset` of each row, `length` bytes of them. */
struct box_rows {
    unsigned char *data;
    size_t row, offset, length;
};

/*
 * Decode rows [top, bottom) and columns [left, right) of the JPEG in data into newly
 * allocated memory (out->data, for the caller to free): each row as libjpeg gives it
 * (the columns of the box and a margin around them), or, if packed, only the box's
 * bytes, row after row. Returns 1, or 0 where the caller should decode with Pillow
 * instead. Runs without the GIL.
 */
static int decode_into(const unsigned char *data, size_t size, JDIMENSION left, JDIMENSION top, JDIMENSION right,
                       JDIMENSION bottom, JDIMENSION width, JDIMENSION height, int channels, int packed,
                       struct box_rows *out) {
    struct jpeg_decompress_struct cinfo;
    struct errors err;
    unsigned char *volatile rows = NULL, *volatile spare = NULL;
    init_errors(&err);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        free(rows);
        free(spare);
        api.destroy(&cinfo);
        return 0;
    }
    api.create(&cinfo, JPEG_LIB_VERSION, sizeof cinfo);
    api.mem_src(&cinfo, data, (unsigned long)size);
    if (api.read_header(&cinfo, TRUE) != JPEG_HEADER_OK || cinfo.data_precision != 8 ||
        cinfo.num_components != channels || cinfo.image_width != width || cinfo.image_height != height)
        goto refuse;
    /* Huffman-coded DCT only (baseline, extended or progressive). Pillow feeds libjpeg
     * the file in chunks, which an arithmetic decoder cannot resume across: Pillow
     * refuses such a file over 64 KiB, and this decoder, which reads it whole, would
     * not. Lossless JPEG (a first scan other than 0-63 outside progressive mode) is
     * left to Pillow too. */
    if (cinfo.arith_code || (!cinfo.progressive_mode && (cinfo.Ss != 0 || cinfo.Se != DCTSIZE2 - 1)))
        goto refuse;
    cinfo.out_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE; /* as Pillow asks */
    if (!api.start(&cinfo) || cinfo.output_width != width || cinfo.output_height != height ||
        cinfo.output_components != channels)
        goto refuse;

    /* One iMCU of margin on each side, where the edges of a partial decode may differ. */
    JDIMENSION margin_x = (JDIMENSION)cinfo.max_h_samp_factor * DCTSIZE;
    JDIMENSION margin_y = (JDIMENSION)cinfo.max_v_samp_factor * DCTSIZE;
    JDIMENSION x0 = left > margin_x ? left - margin_x : 0;
    JDIMENSION x1 = right + margin_x < width ? right + margin_x : width;
    JDIMENSION y0 = top > margin_y ? top - margin_y : 0;
    JDIMENSION span = x1 - x0;
    if (span < width)
        api.crop(&cinfo, &x0, &span); /* x0 moves left to an iMCU boundary */
    if (x0 > left || x0 + cinfo.output_width < right)
        goto refuse;
    const size_t row = (size_t)cinfo.output_width * channels, offset = (size_t)(left - x0) * channels;
    const size_t length = (size_t)(right - left) * channels, n = bottom - top;
    /* the rows as libjpeg writes them, straight into the result; the margin above the box
     * goes into its first row, written over after */
    rows = malloc(row * n);
    if (rows == NULL)
        goto refuse;
    if (y0 > 0 && api.skip(&cinfo, y0) != y0)
        goto refuse;
    while (cinfo.output_scanline < bottom) {
        JDIMENSION y = cinfo.output_scanline;
        JSAMPROW at[1] = {rows + (y >= top ? (size_t)(y - top) * row : 0)};
        if (api.read(&cinfo, at, 1) != 1)
            goto refuse;
    }
    /* The rest of the file, so that a truncated or corrupt tail warns: skipped rows are
     * entropy-decoded, except that a skip to the very end only marks the end as
     * reached; so skip to the last row, and read that (into a spare row). */
    if (cinfo.output_scanline < height && (spare = malloc(row)) == NULL)
        goto refuse;
    if (cinfo.output_scanline + 1 < height)
        api.skip(&cinfo, height - 1 - cinfo.output_scanline);
    if (cinfo.output_scanline < height) {
        JSAMPROW last[1] = {spare};
        if (api.read(&cinfo, last, 1) != 1)
            goto refuse;
    }
    if (!api.finish(&cinfo) || err.warned)
        goto refuse;
    free(spare);
    api.destroy(&cinfo);
    if (packed) { /* row i moves from i * row + offset to i * length: never over a row not yet moved */
        for (size_t i = 0; i < n; i++)
            memmove(rows + i * length, rows + i * row + offset, length);
        out->row = length, out->offset = 0;
    } else {
        out->row = row, out->offset = offset;
    }
    out->data = rows, out->length = length;
    return 1;

refuse:
    free(rows);
    free(spare);
    api.destroy(&cinfo);
    return 0;
}

PyDoc_STRVAR(decode_box_doc,
"decode_box(data, size, channels, box, packed=True) -> Pixels | (Pixels, offset, row) | None\n\n"
"The pixels of box = (left, top, right, bottom) of the JPEG in data, whose header says\n"
"size = (width, height) and channels = 3 (RGB) or 1 (L); the same bytes as Pillow's full\n"
"decode cropped to the box. packed: channels bytes a pixel, row after row. Not packed:\n"
"the rows as libjpeg decodes them (wider than the box), row bytes apart, the box's\n"
"first pixel offset bytes into each; no copy is made. None where the caller should let\n"
"Pillow decode instead: load() has not bound a library, the file is not what the header\n"
"promised, or libjpeg warned or failed (a truncated or corrupt file).");

static PyObject *decode_box(PyObject *self, PyObject *args) {
    Py_buffer data;
    unsigned int width, height, left, top, right, bottom;
    int channels, packed = 1;
    if (!PyArg_ParseTuple(args, "y*(II)i(IIII)|p:decode_box", &data, &width, &height, &channels, &left, &top, &right,
                          &bottom, &packed))
        return NULL;
    if ((channels != 1 && channels != 3) || left >= right || top >= bottom || right > width || bottom > height) {
        PyBuffer_Release(&data);
        return PyErr_Format(PyExc_ValueError, "decode_box: box (%u, %u, %u, %u) is not inside a %ux%u image, "
                            "or channels %d is not 1 or 3", left, top, right, bottom, width, height, channels);
    }
    if (!loaded) {
        PyBuffer_Release(&data);
        Py_RETURN_NONE;
    }
    Pixels *pixels = PyObject_New(Pixels, &PixelsType);
    if (pixels == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    struct box_rows out = {NULL, 0, 0, 0};
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = decode_into(data.buf, (size_t)data.len, left, top, right, bottom, width, height, channels, packed, &out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    pixels->data = out.data; /* NULL where refused: freeing it is a no-op */
    pixels->len = ok ? (Py_ssize_t)(out.row * (bottom - top)) : 0;
    if (!ok) {
        Py_DECREF(pixels);
        Py_RETURN_NONE;
    }
    if (packed)
        return (PyObject *)pixels;
    return Py_BuildValue("Nnn", (PyObject *)pixels, (Py_ssize_t)out.offset, (Py_ssize_t)out.row);
}

/* --- Encoding, as Pillow's JPEG encoder does with its defaults ----------------------
 *
 * Image.save(f, "JPEG", quality=q) of an RGB or L image with no metadata runs, in
 * Pillow's JpegEncode.c: in_color_space JCS_RGB (3 components) or JCS_GRAYSCALE,
 * jpeg_set_defaults, jpeg_set_quality(q, TRUE), jpeg_start_compress(TRUE), the rows,
 * jpeg_finish_compress. This does the same calls on the same library, so the bytes are
 * the same (images.encode checks that once, against Pillow, before relying on it),
 * without Pillow's Python layers, and reads Pillow's own 4-byte pixels in place
 * (JCS_EXT_RGBX: libjpeg-turbo's colour conversion takes the 4-byte layout as it takes
 * the 3-byte one) instead of packing every row to 3 bytes first. */

/* The JPEG of rows height rows of width pixels, stride bytes each (4: RGB and a padding
 * byte; 3: RGB; 1: gray), row bytes apart; into *out (malloc'd, for the caller to free).
 * Returns 1, or 0 on any error. Runs without the GIL. */
static int encode_into(const unsigned char *pixels, JDIMENSION width, JDIMENSION height, int stride, size_t row,
                       int quality, unsigned char **out, unsigned long *size) {
    struct jpeg_compress_struct cinfo;
    struct errors err;
    JSAMPROW *volatile rows = NULL;
    memset(&cinfo, 0, sizeof cinfo); /* a failed create leaves nothing for destroy to free */
    init_errors(&err);
    cinfo.err = &err.pub;
    *out = NULL, *size = 0;
    if (setjmp(err.jump)) {
        free(rows);
        free(*out);
        *out = NULL;
        api.destroy_c(&cinfo);
        return 0;
    }
    api.create_c(&cinfo, JPEG_LIB_VERSION, sizeof cinfo);
    rows = malloc(sizeof(JSAMPROW) * height);
    if (rows == NULL) {
        api.destroy_c(&cinfo);
        return 0;
    }
    for (JDIMENSION y = 0; y < height; y++)
        rows[y] = (JSAMPROW)(pixels + y * row);
    api.mem_dest(&cinfo, out, size); /* grows its own buffer as it needs */
    cinfo.image_width = width, cinfo.image_height = height;
    cinfo.input_components = stride;
    cinfo.in_color_space = stride == 4 ? JCS_EXT_RGBX : stride == 3 ? JCS_RGB : JCS_GRAYSCALE;
    api.defaults(&cinfo);
    api.quality(&cinfo, quality, TRUE);
    api.start_c(&cinfo, TRUE);
    while (cinfo.next_scanline < height)
        api.write(&cinfo, rows + cinfo.next_scanline, height - cinfo.next_scanline);
    api.finish_c(&cinfo);
    api.destroy_c(&cinfo);
    free(rows);
    return 1;
}

PyDoc_STRVAR(encode_doc,
"encode(pixels, size, stride, quality) -> bytes | None\n\n"
"The JPEG Pillow's encoder makes of an RGB (stride 3, or 4: RGB and a padding byte, as\n"
"Pillow keeps it) or L (stride 1) image of size = (width, height) whose pixels are the\n"
"buffer pixels, at quality 1-100, with Pillow's defaults (see augment/_jpeg.c). None\n"
"where load() bound no library with the encoding calls, or libjpeg failed.");

static PyObject *encode(PyObject *self, PyObject *args) {
    Py_buffer view;
    unsigned int width, height;
    int stride, quality;
    if (!PyArg_ParseTuple(args, "y*(II)ii:encode", &view, &width, &height, &stride, &quality))
        return NULL;
    if ((stride != 1 && stride != 3 && stride != 4) || quality < 1 || quality > 100 || width == 0 || height == 0 ||
        (size_t)view.len != (size_t)width * height * stride) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "encode: %zd bytes are not a %ux%u image of %d-byte pixels, or "
                            "quality %d is not in 1-100", view.len, width, height, stride, quality);
    }
    if (!encoding) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    unsigned char *out;
    unsigned long size;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = encode_into(view.buf, width, height, stride, (size_t)width * stride, quality, &out, &size);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (!ok)
        Py_RETURN_NONE;
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)size);
    free(out);
    return result;
}

/* --- The header, as Pillow's JPEG plugin reads it, for plain files ------------------
 *
 * Pillow's Image.open parses a JPEG's markers in Python: some 15 us an image, 40 in a
 * job, where the other work keeps its code out of the caches. Most files have a header
 * whose reading cannot surprise: this parser answers for those only, and says None for
 * every other, which Pillow then opens as before (so whatever Pillow does with an odd
 * file, raising included, stays what happens). It answers only where Pillow's open
 * succeeds with format JPEG, mode RGB or L, that size, and no EXIF orientation, and
 * tests/test_jpeg.py checks that on thousands of damaged headers.
 *
 * Plain means: FF D8, then segments each FF, a marker and a length that fits the data
 * (no fill bytes, no junk between them), up to a start of scan (SOS), among:
 *
 * - DHT, DRI, COM: Pillow skips or stores them;
 * - DQT: its tables as long as their precision says (Pillow raises otherwise);
 * - exactly one SOF0, SOF1 or SOF2 before the SOS: 8 bits, 1 or 3 components, a size
 *   of at least 1 x 1 (Pillow refuses, or gives CMYK, otherwise);
 * - APP0-APP15, whose contents Pillow stores, except those it reads in ways that could
 *   raise or change what it reports: APP1 (EXIF and XMP: an orientation, which
 *   Pillow's getexif reads from either), an APP2 MPF (a multi-picture file is MPO, not
 *   JPEG), an ICC APP2 shorter than its 14-byte preamble, an APP13 Photoshop block, a
 *   JFIF APP0 or an Adobe APP14 too short for the fields Pillow unpacks.
 */
static unsigned u16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

static int starts(const unsigned char *seg, size_t n, const char *prefix, size_t len) {
    return n >= len && memcmp(seg, prefix, len) == 0;
}

/* 1 where Pillow reads the APPn segment seg (n bytes) without a surprise, else 0 */
static int plain_app(unsigned marker, const unsigned char *seg, size_t n) {
    switch (marker) {
    case 0xE0:
        return !starts(seg, n, "JFIF", 4) || n >= 7; /* i16(s, 5): the version */
    case 0xE1:
        return 0; /* EXIF or XMP: an orientation (and anything else: left to Pillow) */
    case 0xE2:
        if (starts(seg, n, "MPF\0", 4))
            return 0;
        return !starts(seg, n, "ICC_PROFILE\0", 12) || n >= 14; /* the sort reads byte 13 */
    case 0xED:
        return !starts(seg, n, "Photoshop 3.0\0", 14);
    case 0xEE:
        return !starts(seg, n, "Adobe", 5) || n >= 7; /* i16(s, 5) */
    default:
        return 1;
    }
}

/* 1 where every table of a DQT segment is as long as its precision says */
static int plain_dqt(const unsigned char *seg, size_t n) {
    while (n > 0) {
        size_t table = 1 + (seg[0] >> 4 == 0 ? 1 : 2) * 64;
        if (n < table)
            return 0;
        seg += table, n -= table;
    }
    return 1;
}

PyDoc_STRVAR(header_doc,
"header(data) -> (width, height, channels) | None\n\n"
"The size and channels (3: RGB, 1: L) of a JPEG whose header is plain (see\n"
"augment/_jpeg.c): exactly what PIL.Image.open reports for it, with no EXIF orientation.\n"
"None for any other data, which only Pillow can tell about.");

static PyObject *header(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:header", &view))
        return NULL;
    const unsigned char *d = view.buf;
    size_t len = (size_t)view.len, pos = 2;
    unsigned width = 0, height = 0, channels = 0;
    int frames = 0, ok = 0;
    if (len < 3 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF)
        goto done;
    while (pos + 4 <= len && d[pos] == 0xFF) {
        unsigned marker = d[pos + 1], length = u16(d + pos + 2);
        if (length < 2 || pos + 2 + length > len)
            break;
        const unsigned char *seg = d + pos + 4;
        size_t n = length - 2;
        if (marker == 0xDA) { /* start of scan: the header is complete */
            ok = frames == 1;
            break;
        }
        if (marker >= 0xE0 && marker <= 0xEF) {
            if (!plain_app(marker, seg, n))
                break;
        } else if (marker == 0xDB) {
            if (!plain_dqt(seg, n))
                break;
        } else if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
            if (++frames > 1 || n < 6 || seg[0] != 8 || (seg[5] != 1 && seg[5] != 3))
                break;
            height = u16(seg + 1), width = u16(seg + 3), channels = seg[5];
            if (width == 0 || height == 0)
                break;
        } else if (marker != 0xC4 && marker != 0xDD && marker != 0xFE) {
            break; /* any other marker: Pillow's to judge */
        }
        pos += 2 + length;
    }
done:
    PyBuffer_Release(&view);
    if (!ok)
        Py_RETURN_NONE;
    return Py_BuildValue("III", width, height, channels);
}

static PyMethodDef methods[] = {
    {"header", header, METH_VARARGS, header_doc},
    {"encode", encode, METH_VARARGS, encode_doc},
    {"load", load, METH_VARARGS, load_doc},
    {"decode_box", decode_box, METH_VARARGS, decode_box_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "augment._jpeg",
    "Decode only a box of a JPEG, with Pillow's own libjpeg (see augment/_jpeg.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__jpeg(void) {
    if (PyType_Ready(&PixelsType) < 0)
        return NULL;
    return PyModule_Create(&module);
}
