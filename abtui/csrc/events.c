/* The events.jsonl codec for its common lines (ASCII, integer tokens). */
#include "speedups.h"

/* {"t":T,"o":TOKEN,"l":"LINE"} a line, as EventWriter writes it */

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
PyObject *encode_events(PyObject *self, PyObject *args) {
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
PyObject *decode_events(PyObject *self, PyObject *args) {
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
