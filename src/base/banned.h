/*
 * banned.h — functions we do not use: unbounded copies and formats, and
 * non-reentrant tokenizers. Included last by every .c file via the Makefile
 * (-include), so a use is a compile error.
 */
#ifndef YQ_BANNED_H
#define YQ_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_use_buf_or_snprintf

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)

#endif
