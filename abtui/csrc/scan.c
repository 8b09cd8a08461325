/* scan(): plain metric lines of a learned shape straight into columns of doubles. */
#include "speedups.h"

#define MAX_KEYS 64

enum kind { K_STEP = 'S', K_METRIC = 'M', K_IGNORED = 'I', K_ANNOTATION = 'A' };

typedef struct {
    const char *name[MAX_KEYS];
    Py_ssize_t len[MAX_KEYS];
    char kind[MAX_KEYS];
    int column[MAX_KEYS]; /* metric keys: their column; others -1 */
    int n;
} shape_t;

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

PyObject *scan(PyObject *self, PyObject *args) {
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
