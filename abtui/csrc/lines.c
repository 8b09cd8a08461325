/* Chunks into lines: newlines() counts them, split() cuts them as LineAssembler does. */
#include "speedups.h"

/* Lines in a buffer: newlines counted with memchr. */
PyObject *newlines(PyObject *self, PyObject *args) {
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
PyObject *split(PyObject *self, PyObject *args) {
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
