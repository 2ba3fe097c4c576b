/*
 * unicode.c — the Unicode knowledge Python's str methods need: UTF-8 decoding, whitespace, printability, letters,
 * and simple case mapping (internal to api/template).
 *
 * Owns: tu_* from value.h. Case mapping covers ASCII, Latin-1, Latin Extended-A and Additional, Greek, Cyrillic,
 * Armenian and fullwidth Latin — the scripts chat templates meet in role names and schema types. Characters
 * outside these tables are treated as uncased (upper() leaves them alone), and printability outside the common
 * control and format ranges is assumed. Python's full Unicode database is not reproduced.
 *
 * Pure functions; thread-safe.
 */
#include "value.h"

uint32_t tu_decode(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *i;
    unsigned c = u[p];
    if (c < 0x80) {
        *i = p + 1;
        return c;
    }
    int need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, cp = c & 0x07, min = 0x10000;
    else
        goto invalid;
    for (int k = 1; k <= need; k++) {
        if (p + (size_t)k >= n || (u[p + k] & 0xC0) != 0x80) goto invalid;
        cp = (cp << 6) | (u[p + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto invalid;
    *i = p + (size_t)need + 1;
    return cp;
invalid:
    *i = p + 1;
    return 0xDC00 + c; /* surrogateescape, as Python decodes undecodable bytes */
}

size_t tu_len(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80)
            i++;
        else
            tu_decode(s, n, &i);
        count++;
    }
    return count;
}

size_t tu_offset(const char *s, size_t n, size_t cp) {
    size_t i = 0;
    while (cp > 0 && i < n) {
        if ((unsigned char)s[i] < 0x80)
            i++;
        else
            tu_decode(s, n, &i);
        cp--;
    }
    return i;
}

bool tu_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool tu_isprint(uint32_t c) {
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
    if (c < 0x300) return true;
    if (tu_isspace(c)) return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E) return false;
    if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F)) return false;
    if ((c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF0 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF)
        return false;
    if ((c >= 0xE0000 && c <= 0xE0FFF) || c >= 0xF0000) return false;
    return true;
}

/* ---- case tables ---- */

/* Pairs where the upper-case letter has the even (or odd) code point and the lower case follows it. */
typedef struct {
    uint32_t lo, hi; /* inclusive range of both cases */
    uint8_t upper_odd;
} tpair_t;

static const tpair_t pairs[] = {
    {0x0100, 0x012F, 0}, {0x0132, 0x0137, 0}, {0x0139, 0x0148, 1}, {0x014A, 0x0177, 0}, {0x0179, 0x017E, 1},
    {0x01A0, 0x01A5, 0}, {0x01CD, 0x01DC, 1}, {0x01DE, 0x01EF, 0}, {0x01F8, 0x021F, 0}, {0x0222, 0x0233, 0},
    {0x0460, 0x0481, 0}, {0x048A, 0x04BF, 0}, {0x04C1, 0x04CE, 1}, {0x04D0, 0x052F, 0}, {0x1E00, 0x1E95, 0},
    {0x1EA0, 0x1EFF, 0}, {0x03D8, 0x03EF, 0},
};

/* The digraph letters U+01C4..U+01CC and U+01F1..U+01F3 come in threes: upper, title, lower. */
static bool is_digraph(uint32_t c) { return (c >= 0x1C4 && c <= 0x1CC) || (c >= 0x1F1 && c <= 0x1F3); }
static uint32_t digraph(uint32_t c, int want) {
    uint32_t base = c >= 0x1F1 ? 0x1F1 : 0x1C4;
    return c - (c - base) % 3 + (uint32_t)want;
}

/* Ranges where lower = upper + delta. */
typedef struct {
    uint32_t ulo, uhi; /* upper-case range */
    int32_t delta;     /* lower - upper */
} tshift_t;

static const tshift_t shifts[] = {
    {0x0041, 0x005A, 32}, {0x00C0, 0x00D6, 32},   {0x00D8, 0x00DE, 32},   {0x0391, 0x03A1, 32},
    {0x03A3, 0x03AB, 32}, {0x0388, 0x038A, 37},   {0x0410, 0x042F, 32},   {0x0400, 0x040F, 80},
    {0x0531, 0x0556, 48}, {0xFF21, 0xFF3A, 32},   {0x0386, 0x0386, 38},   {0x038C, 0x038C, 64},
    {0x038E, 0x038F, 63}, {0x0178, 0x0178, -121}, {0x10A0, 0x10C5, 7264}, {0x24B6, 0x24CF, 26},
};

uint32_t tu_lower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (is_digraph(c)) return digraph(c, 2);
    for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++)
        if (c >= shifts[i].ulo && c <= shifts[i].uhi) return (uint32_t)((int32_t)c + shifts[i].delta);
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (c >= pairs[i].lo && c <= pairs[i].hi && (c & 1) == pairs[i].upper_odd) return c + 1;
    if (c == 0x130) return 'i';
    return c;
}

uint32_t tu_upper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (is_digraph(c)) return digraph(c, 0);
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if (c == 0x3C2) return 0x3A3;
    for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
        int64_t u = (int64_t)c - shifts[i].delta;
        if (u >= shifts[i].ulo && u <= shifts[i].uhi) return (uint32_t)u;
    }
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (c >= pairs[i].lo && c <= pairs[i].hi && (c & 1) != pairs[i].upper_odd) return c - 1;
    return c;
}

bool tu_iscased_upper(uint32_t c) { return tu_lower(c) != c || c == 0x130; }
bool tu_iscased_lower(uint32_t c) { return tu_upper(c) != c || c == 0xDF; }

bool tu_isdigit(uint32_t c) { return c >= '0' && c <= '9'; }

bool tu_isalpha(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == 0xAA || c == 0xBA || c == 0xDF) return true;
    if (tu_iscased_upper(c) || tu_iscased_lower(c)) return true;
    return (c >= 0x0100 && c <= 0x024F) || (c >= 0x0370 && c <= 0x03FF && c != 0x37E && c != 0x387) ||
           (c >= 0x0400 && c <= 0x0481) || (c >= 0x048A && c <= 0x052F) || (c >= 0x05D0 && c <= 0x05EA) ||
           (c >= 0x0620 && c <= 0x064A) || (c >= 0x0671 && c <= 0x06D3) || (c >= 0x0904 && c <= 0x0939) ||
           (c >= 0x0E01 && c <= 0x0E30) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x1E00 && c <= 0x1FFF) ||
           (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A) || (c >= 0x20000 && c <= 0x2FA1F);
}

bool tu_isalnum_w(uint32_t c) {
    if (c < 0x80) return tu_isalpha(c) || tu_isdigit(c) || c == '_';
    return tu_isalpha(c) || c == 0xB2 || c == 0xB3 || c == 0xB9 || (c >= 0x0660 && c <= 0x0669) ||
           (c >= 0xFF10 && c <= 0xFF19);
}

int tu_put_upper(trender_t *r, tbuf_t *b, uint32_t cp) {
    if (cp == 0xDF) return tb_put(r, b, "SS", 2);
    return tb_putcp(r, b, tu_upper(cp));
}

int tu_put_title(trender_t *r, tbuf_t *b, uint32_t cp) {
    if (cp == 0xDF) return tb_put(r, b, "Ss", 2);
    if (is_digraph(cp)) return tb_putcp(r, b, digraph(cp, 1)); /* Dž, Lj, Nj, Dz */
    return tb_putcp(r, b, tu_upper(cp));
}

int tu_put_lower(trender_t *r, tbuf_t *b, uint32_t cp) {
    if (cp == 0x130) return tb_put(r, b, "i\xcc\x87", 3);
    return tb_putcp(r, b, tu_lower(cp));
}
