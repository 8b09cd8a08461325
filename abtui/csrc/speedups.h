/* abtui's C loops: what the files of abtui/csrc share. See module.c for the whole. */
#ifndef ABTUI_SPEEDUPS_H
#define ABTUI_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#define MAX_DEPTH 32
#define MAX_NUMBER 400 /* longer numbers are left to the general path */

/* ---- json.c: strict JSON pieces ---- */
extern unsigned char SPECIAL[256]; /* the quote, the backslash, controls, non-ASCII */
void init_special(void);

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
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

const char *skip_string(const char *p, const char *end, int *escaped);
const char *parse_number(const char *p, const char *end, double *out, int *is_int,
                         int64_t *ival, int *ival_ok);
const char *skip_value(const char *p, const char *end, int depth);

/* ---- the module's functions ---- */
PyObject *scan(PyObject *self, PyObject *args);          /* scan.c */
PyObject *newlines(PyObject *self, PyObject *args);      /* lines.c */
PyObject *split(PyObject *self, PyObject *args);
PyObject *fold(PyObject *self, PyObject *args);          /* store.c */
PyObject *merge(PyObject *self, PyObject *args);
PyObject *tune_malloc(PyObject *self, PyObject *noargs);
PyObject *encode_events(PyObject *self, PyObject *args); /* events.c */
PyObject *decode_events(PyObject *self, PyObject *args);

#endif
