/* abtui._speedups: the hot loops of ingest, in C. Optional: abtui/speedups.py falls back
 * to the pure-Python paths (the same records, bit for bit) when this is not built.
 *
 * scan(buf, pos, keys, kinds, limit) reads plain metric lines of a learned shape straight into
 * columns of doubles, with no Python object per value. It takes exactly the lines the
 * msgspec Struct path of abtui.ingest.decode takes and stops at the first line it does not
 * (the caller hands that line to the general path): unknown or repeated keys, a missing
 * or non-integer step, a metric that is not a finite number, escapes other than the
 * simple ones, non-ASCII bytes, nesting deeper than 32 - anything unusual.
 *
 * split(...) and newlines(...) cut chunks into lines. fold(...) and merge(...) are the
 * store's bucket statistics: sums left to right (as appends add up), min/max keeping the
 * first of equal values (as Python's min and max do). encode_events / decode_events are
 * the events.jsonl codec for its common lines; tune_malloc keeps big columns mmapped.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#define MAX_KEYS 64
#define MAX_DEPTH 32
#define MAX_NUMBER 400 /* longer numbers are left to the general path */

enum kind { K_STEP = 'S', K_METRIC = 'M', K_IGNORED = 'I', K_ANNOTATION = 'A' };

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    const char *name[MAX_KEYS];
    Py_ssize_t len[MAX_KEYS];
    char kind[MAX_KEYS];
    int column[MAX_KEYS]; /* metric keys: their column; others -1 */
    int n;
} shape_t;

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* Bytes that end a run of plain string content: the quote, the backslash, controls and
 * non-ASCII bytes. */
static unsigned char SPECIAL[256];

static void init_special(void) {
    for (int c = 0; c < 256; c++) SPECIAL[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
}

/* The first special byte (SPECIAL) in [p, end), or end: 16 bytes at a time with SSE2. */
static inline const char *next_special(const char *p, const char *end) {
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed: below 0x20 is a control byte or one of 0x80..0xff */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(m);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && !SPECIAL[(unsigned char)*p]) p++;
    return p;
}

/* A JSON string at p (on its opening quote); returns the byte after the closing quote,
 * or NULL. Only plain ASCII and the simple escapes are taken. */
static const char *skip_string(const char *p, const char *end, int *escaped) {
    p++;
    while (p < end) {
        p = next_special(p, end);
        if (p >= end) return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (p + 1 >= end) return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                *escaped = 1;
                p += 2;
                continue;
            default:
                return NULL; /* \u escapes (surrogates...) and invalid ones */
            }
        }
        if (c < 0x20 || c >= 0x80) return NULL;
        p++;
    }
    return NULL;
}

/* A JSON number at p. Sets *out (the correctly rounded double) and *is_int (no fraction
 * and no exponent), and *ival for integers of at most 19 digits below 2**63 (*ival_ok).
 * Returns the byte after it or NULL. */
static const char *parse_number(const char *p, const char *end, double *out, int *is_int,
                                int64_t *ival, int *ival_ok) {
    const char *start = p;
    int neg = 0;
    uint64_t mant = 0;
    long exp10 = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    const char *digits = p;
    while (p < end && (unsigned char)(*p - '0') < 10) mant = mant * 10 + (uint64_t)(*p++ - '0');
    Py_ssize_t nint = p - digits, nfrac = 0;
    if (nint == 0 || (nint > 1 && *digits == '0')) return NULL; /* JSON: no "01", no "-" */
    *is_int = 1;
    if (p < end && *p == '.') {
        const char *frac = ++p;
        while (p < end && (unsigned char)(*p - '0') < 10)
            mant = mant * 10 + (uint64_t)(*p++ - '0');
        nfrac = p - frac;
        if (nfrac == 0) return NULL;
        *is_int = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        *is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) { eneg = *p == '-'; p++; }
        if (p >= end || (unsigned char)(*p - '0') >= 10) return NULL;
        while (p < end && (unsigned char)(*p - '0') < 10) {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg) exp10 = -exp10;
    }
    int exact = nint + nfrac <= 19; /* else mant wrapped: only the slow path knows */
    *ival_ok = *is_int && exact && mant <= (uint64_t)INT64_MAX; /* |step| < 2**63 */
    if (*ival_ok) *ival = neg ? -(int64_t)mant : (int64_t)mant;
    if (exact) {
        if (mant == 0) {
            *out = neg ? -0.0 : 0.0;
            return p;
        }
        long e = exp10 - (long)nfrac;
        if (mant <= ((uint64_t)1 << 53) && e >= -22 && e <= 22) {
            /* Clinger's fast path: both exact doubles, one correctly rounded operation */
            double v = (double)mant;
            v = e < 0 ? v / POW10[-e] : v * POW10[e];
            *out = neg ? -v : v;
            return p;
        }
    }
    if (p - start >= MAX_NUMBER) return NULL;
    char tmp[MAX_NUMBER + 1];
    memcpy(tmp, start, (size_t)(p - start));
    tmp[p - start] = '\0';
    double v = PyOS_string_to_double(tmp, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    *out = v;
    return p;
}

/* Any JSON value: returns the byte after it, or NULL. */
static const char *skip_value(const char *p, const char *end, int depth) {
    double d;
    int is_int, ival_ok, escaped = 0;
    int64_t ival;
    if (p >= end) return NULL;
    switch (*p) {
    case '"':
        return skip_string(p, end, &escaped);
    case 't':
        return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;
    case 'f':
        return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;
    case 'n':
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    case '[':
    case '{': {
        char close = *p == '[' ? ']' : '}';
        int object = *p == '{';
        if (depth >= MAX_DEPTH) return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (object) {
                if (p >= end || *p != '"') return NULL;
                p = skip_string(p, end, &escaped);
                if (!p) return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = skip_ws(p + 1, end);
            }
            p = skip_value(p, end, depth + 1);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p = skip_ws(p + 1, end);
        }
    }
    default:
        /* msgspec refuses numbers out of the double range even where it skips them */
        p = parse_number(p, end, &d, &is_int, &ival, &ival_ok);
        return p && d - d == 0.0 ? p : NULL;
    }
}

static inline int find_key(const shape_t *s, const char *k, Py_ssize_t len, int guess) {
    if (guess < s->n && s->len[guess] == len && memcmp(s->name[guess], k, (size_t)len) == 0)
        return guess;
    for (int i = 0; i < s->n; i++)
        if (s->len[i] == len && memcmp(s->name[i], k, (size_t)len) == 0) return i;
    return -1;
}

/* One line from p into row values. Returns where it ends (its newline, or end) if the
 * fast path takes it, else NULL. No token of a taken line spans a newline (whitespace here
 * is space, tab and \r; strings refuse control bytes), so the line is parsed against the
 * end of the buffer and must be followed by a newline or the end. */
static const char *scan_line(const shape_t *s, const char *p, const char *end, double *row,
                             int64_t *step) {
    uint64_t seen = 0;
    int have_step = 0, guess = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return NULL;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return NULL; /* no step */
    for (;;) {
        int escaped = 0;
        if (p >= end || *p != '"') return NULL;
        const char *k = p + 1;
        int i;
        Py_ssize_t glen = guess < s->n ? s->len[guess] : -1;
        if (glen >= 0 && end - k > glen && k[glen] == '"' &&
            memcmp(k, s->name[guess], (size_t)glen) == 0) {
            i = guess; /* the key that came next last time: no need to scan it */
            p = k + glen + 1;
        } else {
            p = skip_string(p, end, &escaped);
            if (!p || escaped) return NULL;
            i = find_key(s, k, p - 1 - k, guess);
        }
        if (i < 0 || (seen >> i) & 1) return NULL; /* unknown or repeated key */
        seen |= (uint64_t)1 << i;
        guess = i + 1;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p = skip_ws(p + 1, end);
        if (p >= end) return NULL;
        char kind = s->kind[i];
        if (kind == K_STEP || kind == K_METRIC) {
            double v;
            int is_int, ival_ok;
            int64_t iv;
            p = parse_number(p, end, &v, &is_int, &iv, &ival_ok);
            if (!p) return NULL;
            if (kind == K_STEP) {
                if (!is_int || !ival_ok) return NULL;
                *step = iv;
                have_step = 1;
            } else {
                if (v - v != 0.0) return NULL; /* inf: the general path counts it */
                row[s->column[i]] = v;
            }
        } else {
            char c = *p;
            if (kind == K_ANNOTATION && (c == '-' || (c >= '0' && c <= '9'))) return NULL;
            p = skip_value(p, end, 1);
            if (!p) return NULL;
        }
        p = skip_ws(p, end);
        if (p >= end) return NULL;
        if (*p == '}') break;
        if (*p != ',') return NULL;
        p = skip_ws(p + 1, end);
    }
    p = skip_ws(p + 1, end);
    return have_step && (p == end || *p == '\n') ? p : NULL;
}

static int load_shape(shape_t *s, PyObject *keys, const char *kinds, Py_ssize_t nkinds) {
    if (!PyTuple_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(keys);
    if (n > MAX_KEYS || n != nkinds) {
        PyErr_SetString(PyExc_ValueError, "at most 64 keys, one kind each");
        return -1;
    }
    int col = 0;
    s->n = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(keys, i);
        if (!PyBytes_Check(k)) {
            PyErr_SetString(PyExc_TypeError, "keys must be bytes");
            return -1;
        }
        s->name[i] = PyBytes_AS_STRING(k);
        s->len[i] = PyBytes_GET_SIZE(k);
        s->kind[i] = kinds[i];
        s->column[i] = kinds[i] == K_METRIC ? col++ : -1;
    }
    return col;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, nkinds, limit;
    PyObject *keys, *result = NULL;
    const char *kinds;
    shape_t shape;
    if (!PyArg_ParseTuple(args, "y*nO!s#n", &view, &pos, &PyTuple_Type, &keys, &kinds, &nkinds,
                          &limit))
        return NULL;
    const char *buf = view.buf, *end = buf + view.len;
    int ncols = load_shape(&shape, keys, kinds, nkinds);
    if (ncols < 0 || pos < 0 || pos > view.len || limit < 0) {
        if (ncols >= 0) PyErr_SetString(PyExc_ValueError, "pos or limit out of range");
        PyBuffer_Release(&view);
        return NULL;
    }
    /* room for a few lines, doubled as needed: a refused first line costs little */
    Py_ssize_t cap = limit < 64 ? limit : 64;
    Py_ssize_t misses[MAX_KEYS] = {0};
    PyObject *steps = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(double));
    PyObject *cols = PyList_New(ncols);
    double *colp[MAX_KEYS];
    double row[MAX_KEYS];
    if (!steps || !cols) goto done;
    for (int c = 0; c < ncols; c++) {
        PyObject *b = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(double));
        if (!b) goto done;
        PyList_SET_ITEM(cols, c, b);
        colp[c] = (double *)PyBytes_AS_STRING(b);
    }
    const uint64_t missing_bits = 0x7ff8000000000000ULL; /* float("nan"): abtui's MISSING */
    double missing;
    memcpy(&missing, &missing_bits, sizeof missing);
    double *stepp = (double *)PyBytes_AS_STRING(steps);
    int64_t first = 0, last = 0, step = 0;
    int increasing = 1;
    Py_ssize_t n = 0;
    const char *p = buf + pos;
    while (p < end && n < limit) {
        if (n == cap) {
            cap = cap * 2 < limit ? cap * 2 : limit;
            if (_PyBytes_Resize(&steps, cap * (Py_ssize_t)sizeof(double)) < 0) goto done;
            stepp = (double *)PyBytes_AS_STRING(steps);
            for (int c = 0; c < ncols; c++) {
                PyObject *b = PyList_GET_ITEM(cols, c);
                if (_PyBytes_Resize(&b, cap * (Py_ssize_t)sizeof(double)) < 0) {
                    Py_INCREF(Py_None);
                    PyList_SET_ITEM(cols, c, Py_None);
                    goto done;
                }
                PyList_SET_ITEM(cols, c, b);
                colp[c] = (double *)PyBytes_AS_STRING(b);
            }
        }
        const char *eol;
        for (int c = 0; c < ncols; c++) row[c] = missing;
        if (!(eol = scan_line(&shape, p, end, row, &step))) break;
        for (int c = 0; c < ncols; c++) {
            colp[c][n] = row[c];
            misses[c] += row[c] != row[c];
        }
        stepp[n] = (double)step;
        if (n == 0) first = step;
        else if (step <= last) increasing = 0;
        last = step;
        n++;
        p = eol < end ? eol + 1 : end;
    }
    if (_PyBytes_Resize(&steps, n * (Py_ssize_t)sizeof(double)) < 0) goto done;
    for (int c = 0; c < ncols; c++) {
        PyObject *b = PyList_GET_ITEM(cols, c);
        if (_PyBytes_Resize(&b, n * (Py_ssize_t)sizeof(double)) < 0) {
            PyList_SET_ITEM(cols, c, Py_None);
            Py_INCREF(Py_None);
            goto done;
        }
        PyList_SET_ITEM(cols, c, b);
    }
    PyObject *missed = PyTuple_New(ncols);
    if (!missed) goto done;
    for (int c = 0; c < ncols; c++) {
        PyObject *k = PyLong_FromSsize_t(misses[c]);
        if (!k) {
            Py_DECREF(missed);
            goto done;
        }
        PyTuple_SET_ITEM(missed, c, k);
    }
    result = Py_BuildValue("nnLLNOON", (Py_ssize_t)(p - buf), n, (long long)first,
                           (long long)last, PyBool_FromLong(increasing), steps, cols, missed);
done:
    Py_XDECREF(steps);
    Py_XDECREF(cols);
    PyBuffer_Release(&view);
    return result;
}

static int append_bytes(PyObject *arr, const void *data, Py_ssize_t nbytes) {
    PyObject *b = PyBytes_FromStringAndSize(data, nbytes);
    if (!b) return -1;
    PyObject *r = PyObject_CallMethod(arr, "frombytes", "O", b);
    Py_DECREF(b);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

/* fold(bx, bt, bsum, bmin, bmax, bn, values, steps, times, size, max_buckets, i)
 *   -> (i, top)
 * The bucket part of Series._extend for values[i:] (already appended to the series):
 * tops up the open bucket, adds full buckets of ``size`` and a last partial one, until
 * the values are used up or ``max_buckets`` is reached (then the caller merges and calls
 * again from the returned i). ``top`` is the largest value folded (-inf if none). The
 * same numbers as the Python code: sums left to right, the first of equal extremes. */
static PyObject *fold(PyObject *self, PyObject *args) {
    PyObject *arr[6];
    Py_buffer vals, stp, tms, cur[4];
    Py_ssize_t size, maxb, i;
    int held = 0;
    PyObject *result = NULL;
    double *nx = NULL, *nt = NULL, *ns = NULL, *nlo = NULL, *nhi = NULL;
    long *nn = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOy*y*y*nnn", &arr[0], &arr[1], &arr[2], &arr[3], &arr[4],
                          &arr[5], &vals, &stp, &tms, &size, &maxb, &i))
        return NULL;
    Py_ssize_t n = vals.len / (Py_ssize_t)sizeof(double);
    const double *v = vals.buf, *sv = stp.buf, *tv = tms.buf;
    double top = -Py_HUGE_VAL;
    if (size < 1 || i < 0 || stp.len < vals.len || tms.len < vals.len) {
        PyErr_SetString(PyExc_ValueError, "bad size, start or column lengths");
        goto done;
    }
    /* the open bucket: written in place (bsum, bmin, bmax, bn) */
    for (int c = 0; c < 4; c++) {
        if (PyObject_GetBuffer(arr[2 + c], &cur[c], PyBUF_WRITABLE) < 0) goto done;
        held = c + 1;
    }
    Py_ssize_t nb = cur[3].len / (Py_ssize_t)sizeof(long);
    if (cur[0].len != nb * (Py_ssize_t)sizeof(double) || cur[1].len != cur[0].len ||
        cur[2].len != cur[0].len) {
        PyErr_SetString(PyExc_ValueError, "bucket columns of different lengths");
        goto done;
    }
    long *cnt = cur[3].buf;
    if (nb > 0 && i < n && cnt[nb - 1] < size) {
        double *bs = cur[0].buf, *blo = cur[1].buf, *bhi = cur[2].buf;
        Py_ssize_t room = size - cnt[nb - 1], k = n - i < room ? n - i : room;
        double sum = bs[nb - 1], lo = v[i], hi = v[i];
        for (Py_ssize_t q = i; q < i + k; q++) {
            sum += v[q];
            if (v[q] < lo) lo = v[q];
            if (v[q] > hi) hi = v[q];
        }
        bs[nb - 1] = sum;
        if (lo < blo[nb - 1]) blo[nb - 1] = lo;
        if (hi > bhi[nb - 1]) bhi[nb - 1] = hi;
        cnt[nb - 1] += (long)k;
        top = hi;
        i += k;
    }
    for (int c = 0; c < held; c++) PyBuffer_Release(&cur[c]);
    held = 0;
    /* new buckets, at most up to max_buckets */
    Py_ssize_t room = maxb - nb, want = 0;
    if (room > 0 && i < n) want = (n - i + size - 1) / size;
    if (want > room) want = room;
    if (want > 0) {
        nx = PyMem_Malloc((size_t)want * sizeof(double) * 5);
        nn = PyMem_Malloc((size_t)want * sizeof(long));
        if (!nx || !nn) {
            PyErr_NoMemory();
            goto done;
        }
        nt = nx + want, ns = nt + want, nlo = ns + want, nhi = nlo + want;
        for (Py_ssize_t b = 0; b < want; b++) {
            Py_ssize_t k = n - i < size ? n - i : size;
            double sum = v[i], lo = v[i], hi = v[i];
            for (Py_ssize_t q = i + 1; q < i + k; q++) {
                sum += v[q];
                if (v[q] < lo) lo = v[q];
                if (v[q] > hi) hi = v[q];
            }
            nx[b] = sv[i], nt[b] = tv[i], ns[b] = sum, nlo[b] = lo, nhi[b] = hi;
            nn[b] = (long)k;
            if (hi > top) top = hi;
            i += k;
        }
        const double *cols[5] = {nx, nt, ns, nlo, nhi};
        for (int c = 0; c < 5; c++)
            if (append_bytes(arr[c], cols[c], want * (Py_ssize_t)sizeof(double)) < 0) goto done;
        if (append_bytes(arr[5], nn, want * (Py_ssize_t)sizeof(long)) < 0) goto done;
    }
    result = Py_BuildValue("nd", i, top);
done:
    for (int c = 0; c < held; c++) PyBuffer_Release(&cur[c]);
    PyMem_Free(nx);
    PyMem_Free(nn);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&stp);
    PyBuffer_Release(&tms);
    return result;
}

/* Neighbouring buckets merged: sums added, the first of equal extremes kept (Python's
 * min(a, b) and max(a, b)); an odd last bucket is kept as it is. */
static PyObject *merge(PyObject *self, PyObject *args) {
    Py_buffer in[4];
    PyObject *out[4] = {NULL, NULL, NULL, NULL}, *result = NULL;
    int got = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &in[0], &in[1], &in[2], &in[3])) return NULL;
    got = 4;
    Py_ssize_t n = in[0].len / (Py_ssize_t)sizeof(double);
    if (in[1].len != in[0].len || in[2].len != in[0].len ||
        in[3].len != n * (Py_ssize_t)sizeof(long)) {
        PyErr_SetString(PyExc_ValueError, "columns of different lengths");
        goto done;
    }
    Py_ssize_t m = (n + 1) / 2;
    for (int c = 0; c < 4; c++) {
        out[c] = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)(c == 3 ? sizeof(long)
                                                                         : sizeof(double)));
        if (!out[c]) goto done;
    }
    const double *s = in[0].buf, *lo = in[1].buf, *hi = in[2].buf;
    const long *cnt = in[3].buf;
    double *os = (double *)PyBytes_AS_STRING(out[0]), *olo = (double *)PyBytes_AS_STRING(out[1]),
           *ohi = (double *)PyBytes_AS_STRING(out[2]);
    long *ocnt = (long *)PyBytes_AS_STRING(out[3]);
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_ssize_t a = 2 * i, b = 2 * i + 1;
        if (b >= n) {
            os[i] = s[a], olo[i] = lo[a], ohi[i] = hi[a], ocnt[i] = cnt[a];
            break;
        }
        os[i] = s[a] + s[b];
        olo[i] = lo[b] < lo[a] ? lo[b] : lo[a];
        ohi[i] = hi[b] > hi[a] ? hi[b] : hi[a];
        ocnt[i] = cnt[a] + cnt[b];
    }
    result = Py_BuildValue("OOOO", out[0], out[1], out[2], out[3]);
done:
    for (int c = 0; c < 4; c++) Py_XDECREF(out[c]);
    for (int c = 0; c < got; c++) PyBuffer_Release(&in[c]);
    return result;
}

/* Lines in a buffer: newlines counted with memchr. */
static PyObject *newlines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t count = 0;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const char *p = view.buf, *end = p + view.len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* split(data, base, held, cap) -> (lines, ends, rest) or None.
 * The complete lines of a chunk (one trailing \r dropped), the stream offset after each
 * (base + its newline's index + 1), and where the unterminated rest starts. The first line
 * continues ``held`` bytes the caller holds (its \r is left to the caller). None when a line would exceed ``cap`` bytes:
 * the caller's general path cuts it. */
static PyObject *split(PyObject *self, PyObject *args) {
    Py_buffer view;
    long long base;
    Py_ssize_t held, cap;
    PyObject *lines = NULL, *ends = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*Lnn", &view, &base, &held, &cap)) return NULL;
    const char *buf = view.buf, *end = buf + view.len, *p = buf;
    lines = PyList_New(0);
    ends = PyList_New(0);
    if (!lines || !ends) goto done;
    Py_ssize_t before = held;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        if (before + (nl - p) > cap) goto too_long;
        Py_ssize_t len = nl - p;
        /* the first line of a held one: the caller joins the parts, then drops a \r */
        if (len > 0 && nl[-1] == '\r' && !(p == buf && held > 0)) len--;
        PyObject *line = PyBytes_FromStringAndSize(p, len);
        if (!line) goto done;
        int bad = PyList_Append(lines, line);
        Py_DECREF(line);
        if (bad) goto done;
        PyObject *off = PyLong_FromLongLong(base + (nl - buf) + 1);
        if (!off) goto done;
        bad = PyList_Append(ends, off);
        Py_DECREF(off);
        if (bad) goto done;
        p = nl + 1;
        before = 0;
    }
    if (before + (end - p) > cap) goto too_long;
    result = Py_BuildValue("OOn", lines, ends, (Py_ssize_t)(p - buf));
    goto done;
too_long:
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(lines);
    Py_XDECREF(ends);
    PyBuffer_Release(&view);
    return result;
}

/* ---- events.jsonl: {"t":T,"o":TOKEN,"l":"LINE"} a line, as EventWriter writes it ---- */

static const char HEX[] = "0123456789abcdef";

static char *write_int(char *o, long long v) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    if (v < 0) *o++ = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n) *o++ = tmp[--n];
    return o;
}

/* encode_events(raws, tokens, stamp) -> bytes, or None (a line that is not ASCII, a token
 * that is not an int: the caller's msgspec path). The bytes msgspec writes: \" \\ \b \t
 * \n \f \r, other controls as \u00xx, DEL as it is. */
static PyObject *encode_events(PyObject *self, PyObject *args) {
    PyObject *raws, *tokens;
    Py_buffer stamp;
    if (!PyArg_ParseTuple(args, "O!O!y*", &PyList_Type, &raws, &PyList_Type, &tokens, &stamp))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(raws), size = 0;
    PyObject *out = NULL;
    if (PyList_GET_SIZE(tokens) != n) goto refuse;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = PyList_GET_ITEM(raws, i), *tok = PyList_GET_ITEM(tokens, i);
        if (!PyBytes_CheckExact(raw) || !PyLong_CheckExact(tok)) goto refuse;
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(raw);
        Py_ssize_t len = PyBytes_GET_SIZE(raw);
        (void)b;
        /* {"t": ,"o": ,"l":" "}\n, the token, and the line, every byte escaped at worst */
        size += 20 + 20 + stamp.len + 6 * len;
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) goto done;
    char *o = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = PyList_GET_ITEM(raws, i);
        int overflow = 0;
        long long tok = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(tokens, i), &overflow);
        if (overflow || (tok == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            Py_CLEAR(out);
            goto refuse;
        }
        memcpy(o, "{\"t\":", 5), o += 5;
        memcpy(o, stamp.buf, (size_t)stamp.len), o += stamp.len;
        memcpy(o, ",\"o\":", 5), o += 5;
        o = write_int(o, tok);
        memcpy(o, ",\"l\":\"", 6), o += 6;
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(raw);
        Py_ssize_t len = PyBytes_GET_SIZE(raw);
        for (Py_ssize_t k = 0; k < len; k++) {
            Py_ssize_t run = (const unsigned char *)next_special((const char *)b + k,
                                                                 (const char *)b + len) - b;
            memcpy(o, b + k, (size_t)(run - k));
            o += run - k;
            if ((k = run) >= len) break;
            unsigned char c = b[k];
            if (c >= 0x80) { /* not ASCII: msgspec checks UTF-8 and writes it */
                Py_CLEAR(out);
                goto refuse;
            }
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\t': *o++ = 't'; break;
            case '\n': *o++ = 'n'; break;
            case '\f': *o++ = 'f'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0', *o++ = HEX[c >> 4], *o++ = HEX[c & 15];
            }
        }
        memcpy(o, "\"}\n", 3), o += 3;
    }
    if (_PyBytes_Resize(&out, o - PyBytes_AS_STRING(out)) < 0) out = NULL;
    goto done;
refuse:
    out = Py_None;
    Py_INCREF(out);
done:
    PyBuffer_Release(&stamp);
    return out;
}

/* decode_events(lines) -> (joined, times, tokens, truncated), or None.
 * Lines exactly as EventWriter writes them (a number "t", an int "o", an ASCII "l" with the
 * escapes above, maybe ,"x":1): their lines joined by \n, the times as bytes of doubles,
 * the tokens, and the cut flags (None if no line was cut). Anything else - base64 lines,
 * string tokens, a torn or foreign line - is None: the caller's msgspec path decides. */
static PyObject *decode_events(PyObject *self, PyObject *args) {
    PyObject *lines, *joined = NULL, *times = NULL, *tokens = NULL, *cuts = NULL;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &lines)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(lines), size = 0, ncut = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyBytes_CheckExact(line)) Py_RETURN_NONE;
        size += PyBytes_GET_SIZE(line);
    }
    joined = PyBytes_FromStringAndSize(NULL, size);
    times = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    tokens = PyList_New(n);
    if (!joined || !times || !tokens) goto done;
    char *o = PyBytes_AS_STRING(joined), *o0 = o;
    double *tv = (double *)PyBytes_AS_STRING(times);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        const char *p = PyBytes_AS_STRING(line), *end = p + PyBytes_GET_SIZE(line);
        double t, unused;
        int is_int, ok;
        int64_t tok;
        if (end - p < 5 || memcmp(p, "{\"t\":", 5) != 0) goto refuse;
        p = parse_number(p + 5, end, &t, &is_int, &tok, &ok);
        if (!p || t - t != 0.0 || end - p < 5 || memcmp(p, ",\"o\":", 5) != 0) goto refuse;
        p = parse_number(p + 5, end, &unused, &is_int, &tok, &ok);
        if (!p || !ok || end - p < 6 || memcmp(p, ",\"l\":\"", 6) != 0) goto refuse;
        p += 6;
        if (i > 0) *o++ = '\n';
        for (;;) {
            const char *q = next_special(p, end);
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
            p = q;
            if (p >= end) goto refuse;
            unsigned char c = (unsigned char)*p;
            if (c == '"') break;
            if (c < 0x20 || c >= 0x80) goto refuse;
            if (c != '\\') { *o++ = (char)c, p++; continue; }
            if (end - p < 2) goto refuse;
            switch (p[1]) {
            case '"': case '\\': case '/': *o++ = p[1]; break;
            case 'b': *o++ = '\b'; break;
            case 't': *o++ = '\t'; break;
            case 'f': *o++ = '\f'; break;
            case 'r': *o++ = '\r'; break;
            case 'u': { /* a control byte: \u00xx, xx < 0x20, never \n */
                if (end - p < 6 || p[2] != '0' || p[3] != '0') goto refuse;
                int hi = p[4] - '0', lo = p[5];
                lo = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10
                                                                               : -1;
                if ((hi != 0 && hi != 1) || lo < 0 || hi * 16 + lo == '\n') goto refuse;
                *o++ = (char)(hi * 16 + lo);
                p += 4;
                break;
            }
            default: goto refuse; /* \n: a stored line never holds one */
            }
            p += 2;
        }
        p++;
        int cut = 0;
        if (end - p >= 6 && memcmp(p, ",\"x\":1", 6) == 0) cut = 1, p += 6;
        if (end - p != 2 || p[0] != '}' || p[1] != '\n') goto refuse;
        PyObject *k = PyLong_FromLongLong(tok);
        if (!k) goto done;
        PyList_SET_ITEM(tokens, i, k);
        tv[i] = t;
        if (cut) {
            if (!cuts) {
                cuts = PyList_New(n);
                if (!cuts) goto done;
                for (Py_ssize_t q = 0; q < n; q++) {
                    Py_INCREF(Py_False);
                    PyList_SET_ITEM(cuts, q, Py_False);
                }
            }
            Py_INCREF(Py_True);
            Py_SETREF(PyList_GET_ITEM(cuts, i), Py_True);
            ncut++;
        }
    }
    if (_PyBytes_Resize(&joined, o - o0) < 0) goto done;
    result = Py_BuildValue("OOOO", joined, times, tokens, cuts ? cuts : Py_None);
    goto done;
refuse:
    result = Py_None;
    Py_INCREF(result);
done:
    (void)ncut;
    Py_XDECREF(joined);
    Py_XDECREF(times);
    Py_XDECREF(tokens);
    Py_XDECREF(cuts);
    return result;
}

/* The store's columns are long arrays that grow by ~6 % at a time (array's policy). glibc
 * serves them from the heap once its mmap threshold has risen (it does when a big block
 * is freed), and a heap realloc copies the whole column: 16 copies of every byte over a
 * run. Fixed at its default (128 KiB), big columns stay mmapped and realloc moves pages
 * instead (mremap). Returns whether the setting took. */
static PyObject *tune_malloc(PyObject *self, PyObject *noargs) {
#ifdef __GLIBC__
    return PyBool_FromLong(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"encode_events", encode_events, METH_VARARGS,
     "encode_events(raws, tokens, stamp) -> events.jsonl bytes, or None"},
    {"decode_events", decode_events, METH_VARARGS,
     "decode_events(lines) -> (joined, times, tokens, truncated), or None"},
    {"tune_malloc", tune_malloc, METH_NOARGS,
     "tune_malloc() -> bool: keep big columns mmapped (glibc), so growing one copies nothing"},
    {"fold", fold, METH_VARARGS,
     "fold(bx, bt, bsum, bmin, bmax, bn, values, steps, times, size, max_buckets, i) "
     "-> (i, top)"},
    {"split", split, METH_VARARGS,
     "split(data, base, held, cap) -> (lines, ends, rest_start), or None if a line is too long"},
    {"merge", merge, METH_VARARGS,
     "merge(sums, mins, maxs, counts) -> the same, neighbours merged, as bytes"},
    {"newlines", newlines, METH_VARARGS, "newlines(buf) -> how many b'\\n' it holds"},
    {"scan", scan, METH_VARARGS,
     "scan(buf, pos, keys, kinds, limit) -> (stop, lines, first_step, last_step, "
     "increasing, steps, columns, missing)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups",
                                    "abtui's ingest hot loops in C", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    init_special();
    return PyModule_Create(&module);
}
