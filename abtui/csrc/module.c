/* abtui._speedups: the hot loops of ingest, in C. Optional: abtui/speedups.py falls back
 * to the pure-Python paths (the same records, bit for bit) when this is not built.
 * Files: json.c (strict JSON pieces), scan.c, lines.c, store.c, events.c; this one is
 * the module.
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
#include "speedups.h"

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
