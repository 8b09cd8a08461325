/* Strict JSON pieces the scanner and the events reader share: strings, numbers (correctly
 * rounded), any value. Each returns the byte after what it read, or NULL to refuse. */
#include "speedups.h"

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Bytes that end a run of plain string content: the quote, the backslash, controls and
 * non-ASCII bytes. */
unsigned char SPECIAL[256];

void init_special(void) {
    for (int c = 0; c < 256; c++) SPECIAL[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
}

/* A JSON string at p (on its opening quote); returns the byte after the closing quote,
 * or NULL. Only plain ASCII and the simple escapes are taken. */
const char *skip_string(const char *p, const char *end, int *escaped) {
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
const char *parse_number(const char *p, const char *end, double *out, int *is_int,
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
const char *skip_value(const char *p, const char *end, int depth) {
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
