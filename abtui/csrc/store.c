/* The store's bucket statistics (fold, merge) and its memory (tune_malloc). */
#include "speedups.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

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
PyObject *fold(PyObject *self, PyObject *args) {
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
PyObject *merge(PyObject *self, PyObject *args) {
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

/* The store's columns are long arrays that grow by ~6 % at a time (array's policy). glibc
 * serves them from the heap once its mmap threshold has risen (it does when a big block
 * is freed), and a heap realloc copies the whole column: 16 copies of every byte over a
 * run. Fixed at its default (128 KiB), big columns stay mmapped and realloc moves pages
 * instead (mremap). Returns whether the setting took. */
PyObject *tune_malloc(PyObject *self, PyObject *noargs) {
#ifdef __GLIBC__
    return PyBool_FromLong(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);
#else
    Py_RETURN_FALSE;
#endif
}
