/* The machine's physical limits that benches/README.md sets the micro benchmarks against
 * (`benches/bench.sh limits`): memcpy bandwidth, the rate of finding line ends with memchr
 * (the floor of any line-oriented decoder), and the latency of a dependent random load over
 * 1 GiB (a hash table far larger than the caches). One thread each; the copy and the scan
 * take the best of several runs, the random walk one run of 20 M loads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GIB (1UL << 30)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void *alloc(size_t n) {
  void *p = malloc(n);
  if (!p) { fprintf(stderr, "limits: cannot allocate %zu bytes\n", n); exit(1); }
  return p;
}

static void copy_bandwidth(void) {
  char *a = alloc(GIB), *b = alloc(GIB);
  memset(a, 1, GIB);
  memset(b, 2, GIB);
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    double t = now();
    memcpy(b, a, GIB);
    t = now() - t;
    if (t < best) best = t;
  }
  printf("memcpy          %6.2f GB/s copied (1 GiB, best of 5)\n", GIB / best / 1e9);
  if (b[12] != 1) exit(2);
  free(a);
  free(b);
}

static void line_framing(void) {
  char *b = alloc(GIB);
  memset(b, 'x', GIB);
  for (size_t i = 399; i < GIB; i += 400) b[i] = '\n';
  double best = 1e9;
  size_t lines = 0;
  for (int r = 0; r < 3; r++) {
    lines = 0;
    double t = now();
    for (char *p = b, *e = b + GIB; (p = memchr(p, '\n', e - p)); p++) lines++;
    t = now() - t;
    if (t < best) best = t;
  }
  printf("memchr framing  %6.2f GB/s (1 GiB of 400-byte lines, %zu lines, best of 3)\n",
         GIB / best / 1e9, lines);
  free(b);
}

static void random_load(void) {
  size_t n = GIB / sizeof(size_t);
  size_t *order = alloc(GIB), *next = alloc(GIB);
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < n; i++) order[i] = i;
  for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates with xorshift */
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    size_t j = s % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++) next[order[i]] = order[(i + 1) % n]; /* one cycle */
  size_t p = order[0], steps = 20000000;
  double t = now();
  for (size_t i = 0; i < steps; i++) p = next[p];
  t = now() - t;
  printf("random load     %6.1f ns per dependent load (1 GiB, %zu loads; end %zu)\n",
         t / steps * 1e9, steps, p % 2);
  free(order);
  free(next);
}

int main(void) {
  copy_bandwidth();
  line_framing();
  random_load();
  return 0;
}
