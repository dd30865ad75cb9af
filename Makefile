# yiqiban — plain Makefile.
#   make            build build/release/yiqiban
#   make demo       install what is missing, build, start the demo server
#   make web        build the web UI into web/dist (skipped when its sources are unchanged)
#   make check      install what is missing, build (normal and ASan+UBSan), run every test
#   make asan       build the sanitizer variant into build/asan/
#   make bench      measure (bench/run) and write docs/benchmarks.md; bench-smoke: tiny run
#   make V=1 ...    show the compiler command lines
# Variables: ADDR (demo listen address, default 127.0.0.1:8080), DEMO_DB.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libsodium libqrencode libpng libzip expat xlsxwriter libcurl
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wundef
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
INCS    := -Isrc -Ibuild/gen
LIBS     = $(PKGLIBS) -lpthread -lm

VARIANT ?= release
ifeq ($(VARIANT),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else
  OPT := -O2 -g
  LDOPT :=
endif

B       := build/$(VARIANT)
SRCS    := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
OBJS    := $(patsubst src/%.c,$(B)/obj/%.o,$(SRCS)) $(B)/obj/gen/migrations.o
MAINOBJ := $(B)/obj/cli/main.o
TESTSRC := $(wildcard tests/unit/test_*.c)
TESTS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TESTSRC))
SQLS    := $(sort $(wildcard sql/*.sql))

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

ADDR    ?= 127.0.0.1:8080
DEMO_DB ?= demo-data/yiqiban.db

.PHONY: all deps build asan unit check demo clean api-test fmt bench bench-bin bench-smoke web
.DEFAULT_GOAL := all

all: deps-quiet
	@$(MAKE) --no-print-directory build VARIANT=release

deps:
	@scripts/install-deps.sh

deps-quiet:
	@scripts/install-deps.sh

build: $(B)/yiqiban $(TESTS)

asan:
	@$(MAKE) --no-print-directory build VARIANT=asan

$(B)/yiqiban: $(MAINOBJ) $(B)/libyiqiban.a
	@echo "  LINK $@"
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LIBS)

$(B)/libyiqiban.a: $(OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<  ($(VARIANT))"
	$(Q)$(CC) $(CSTD) $(WARN) $(OPT) $(INCS) $(PKGCFLAGS) -MMD -MP -c -o $@ $<

build/gen/migrations.c: $(SQLS) scripts/embed-sql.sh
	@mkdir -p build/gen
	$(Q)scripts/embed-sql.sh $(SQLS) > $@.tmp && mv $@.tmp $@

$(B)/obj/gen/migrations.o: build/gen/migrations.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CSTD) $(WARN) $(OPT) $(INCS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libyiqiban.a
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes $(OPT) $(INCS) $(PKGCFLAGS) -o $@ $< $(B)/libyiqiban.a $(LIBS) -lcmocka $(LDOPT)

# The web UI (Vue + Vite) in web/dist, served by `yiqiban serve` at /. Rebuilt
# only when a source, the lock file or the installed packages changed.
WEB_SRCS = $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.js \
           web/package.json web/package-lock.json web/scripts/compress.mjs
web: deps-quiet
	@$(MAKE) --no-print-directory web/dist/index.html

web/dist/index.html: $(WEB_SRCS) web/node_modules/.yiqiban-lock.sha256
	@echo "  WEB  web/dist"
	$(Q)cd web && npm run --silent build >/dev/null
	@touch $@

# Unit tests of one variant.
unit: build
	@tests/run-unit.sh $(B)/tests

check: deps-quiet
	@$(MAKE) --no-print-directory web/dist/index.html
	@$(MAKE) --no-print-directory build VARIANT=release
	@$(MAKE) --no-print-directory build VARIANT=asan
	@tests/run-all.sh

demo: deps-quiet
	@$(MAKE) --no-print-directory web/dist/index.html
	@$(MAKE) --no-print-directory build VARIANT=release
	@scripts/demo.sh build/release/yiqiban "$(DEMO_DB)" "$(ADDR)"

# Benchmarks (not tests): bench/run measures and writes docs/benchmarks.md.
BENCHW  := $(CSTD) $(WARN) -O2 -g
bench-bin: build/bench/hello build/bench/sqlite_insert build/bench/geo_lookup

build/bench/hello: bench/hello.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BENCHW) $(shell pkg-config --cflags libmicrohttpd) -o $@ $< $(shell pkg-config --libs libmicrohttpd)

build/bench/sqlite_insert: bench/sqlite_insert.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BENCHW) $(shell pkg-config --cflags sqlite3) -o $@ $< $(shell pkg-config --libs sqlite3)

# geo_lookup links the library of the variant built (release by default, as bench/run builds it).
build/bench/geo_lookup: bench/geo_lookup.c $(B)/libyiqiban.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BENCHW) $(INCS) $(PKGCFLAGS) -o $@ $< $(B)/libyiqiban.a $(LIBS) $(LDOPT)

bench: deps-quiet
	@bench/run

bench-smoke: deps-quiet
	@bench/run --smoke

clean:
	rm -rf build

fmt:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c

-include $(shell find build -name '*.d' 2>/dev/null)
