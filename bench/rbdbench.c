/*
 * bench/rbdbench.c — the physical baseline for `npm run bench`: what librbd itself costs, without
 * HTTP, JSON or JavaScript in the way.
 *
 * Built by scripts/bench.sh:  gcc -O2 -Wall -o bench/rbdbench bench/rbdbench.c -lrbd -lrados -lpthread
 *
 * usage: rbdbench -c CONF -p POOL [options]
 *   -c CONF     ceph.conf to read (required)
 *   -k KEYRING  keyring file (default: whatever CONF says)
 *   -n NAME     client name (default client.admin)
 *   -p POOL     pool (required)
 *   -N IMAGES   number of images (default 1000)
 *   -t THREADS  concurrency of create / details / remove (1..256, default 1)
 *   -r REPS     repetitions of each listing (default 10)
 *   -P PREFIX   image name prefix (default "rbdbench-"); names are PREFIX%06d
 *   -s BYTES    image size (default 1 GiB)
 *   -x PHASES   comma-separated subset of create,names,page,details,remove (default: all, in that order)
 *   -F          fill: in the create phase an image that already exists counts as made (EEXIST is not an
 *               error), so a pool can be topped up to IMAGES after an interrupted run (npm run bench:scale)
 *   -o ORDER    object size of created images as a power of two (default 0: the cluster's, 22)
 *
 * Phases:
 *   create   rbd_create() of IMAGES images with the conf's default features, THREADS at a time
 *   names    rbd_list2() of the pool, REPS times: ms per listing
 *   page     a page of 100 with details: rbd_list2(), sort the names, open+stat+close the first 100
 *   details  a full listing with details: rbd_list2(), then open read-only + rbd_stat + close of every
 *            image, THREADS at a time; REPS times (at most 3)
 *   remove   rbd_remove() of the IMAGES images, THREADS at a time
 *
 * Prints one JSON object on stdout; diagnostics on stderr. Exit status 1 if anything failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#define PAGE 100
#define MAX_THREADS 256

struct opts {
  const char *conf, *keyring, *client, *pool, *prefix, *phases;
  int images, threads, reps, fill, order;
  uint64_t size;
};
static struct opts O = {
    .client = "client.admin", .prefix = "rbdbench-", .phases = "create,names,page,details,remove",
    .images = 1000, .threads = 1, .reps = 10, .size = 1ULL << 30,
};
static rados_t cluster;
static rados_ioctx_t ioctx;
static int failed;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- one JSON object, built as we go ---------------------------------------------------------- */
static int json_first = 1;
static void key(const char *k) {
  printf("%s\"%s\":", json_first ? "" : ",", k);
  json_first = 0;
}
static void open_obj(const char *k) {
  key(k);
  putchar('{');
  json_first = 1;
}
static void close_obj(void) {
  putchar('}');
  json_first = 0;
}
static void num(const char *k, double v) {
  key(k);
  printf("%.3f", v);
}
static void integer(const char *k, long long v) {
  key(k);
  printf("%lld", v);
}
static void str(const char *k, const char *v) {
  key(k);
  putchar('"');
  for (; *v; v++) {
    if (*v == '"' || *v == '\\') putchar('\\');
    if ((unsigned char)*v >= 0x20) putchar(*v);
  }
  putchar('"');
}

/* latency summary in ms of n samples in seconds (sorts them) */
static void lat_summary(const char *k, double *s, int n) {
  open_obj(k);
  if (n > 0) {
    qsort(s, (size_t)n, sizeof *s, by_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s[i];
    num("mean", 1e3 * sum / n);
    num("min", 1e3 * s[0]);
    num("p50", 1e3 * s[n / 2]);
    num("p99", 1e3 * s[(int)((n - 1) * 0.99)]);
    num("max", 1e3 * s[n - 1]);
  }
  close_obj();
}

/* ---- work spread over threads ----------------------------------------------------------------- */
enum op { OP_CREATE, OP_STAT, OP_REMOVE };
struct batch {
  enum op op;
  char **names;       /* the images to work on */
  int count;
  double *lat;        /* per-image latency, seconds */
  atomic_int next;    /* next index to take */
  atomic_int errors;
};

static const char *op_name(enum op op) {
  return op == OP_CREATE ? "create" : op == OP_STAT ? "open+stat" : "remove";
}

static int do_one(enum op op, const char *name) {
  int r, order = 0;
  rbd_image_t img;
  rbd_image_info_t info;
  switch (op) {
    case OP_CREATE:
      order = O.order;
      r = rbd_create(ioctx, name, O.size, &order);
      return O.fill && r == -EEXIST ? 0 : r;
    case OP_REMOVE:
      return rbd_remove(ioctx, name);
    case OP_STAT:
      r = rbd_open_read_only(ioctx, name, &img, NULL);
      if (r < 0) return r;
      r = rbd_stat(img, &info, sizeof info);
      rbd_close(img);
      return r;
  }
  return -EINVAL;
}

static void *worker(void *arg) {
  struct batch *b = arg;
  for (;;) {
    int i = atomic_fetch_add(&b->next, 1);
    if (i >= b->count) break;
    double t0 = mono();
    int r = do_one(b->op, b->names[i]);
    b->lat[i] = mono() - t0;
    if (r < 0 && atomic_fetch_add(&b->errors, 1) < 3)
      fprintf(stderr, "rbdbench: %s %s: %s\n", op_name(b->op), b->names[i], strerror(-r));
  }
  return NULL;
}

/* runs op over names[0..count) with O.threads threads; returns elapsed seconds, fills lat */
static double run_batch(enum op op, char **names, int count, double *lat, int *errors) {
  struct batch b = {.op = op, .names = names, .count = count, .lat = lat};
  atomic_init(&b.next, 0);
  atomic_init(&b.errors, 0);
  int nt = O.threads < count ? O.threads : count;
  pthread_t th[MAX_THREADS];
  double t0 = mono();
  for (int t = 0; t < nt; t++)
    if (pthread_create(&th[t], NULL, worker, &b) != 0) {
      fprintf(stderr, "rbdbench: pthread_create failed\n");
      exit(1);
    }
  for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
  double el = mono() - t0;
  *errors = atomic_load(&b.errors);
  if (*errors) failed = 1;
  return el;
}

static void batch_phase(const char *label, enum op op, char **names, int count) {
  double *lat = calloc((size_t)(count ? count : 1), sizeof *lat);
  int errors = 0;
  double el = run_batch(op, names, count, lat, &errors);
  open_obj(label);
  integer("count", count);
  integer("threads", O.threads);
  num("total_s", el);
  num("rate_per_s", el > 0 ? count / el : 0);
  num("ms_per_op", count ? 1e3 * el / count : 0);
  integer("errors", errors);
  lat_summary("lat_ms", lat, count);
  close_obj();
  free(lat);
  fprintf(stderr, "rbdbench: %-7s %d images, %d threads: %.2f s (%.1f/s), %d errors\n", label, count,
          O.threads, el, el > 0 ? count / el : 0, errors);
}

/* ---- listing ---------------------------------------------------------------------------------- */
/* rbd_list2 into a malloc'd array of strdup'd names; returns count or -errno */
static int list_names(char ***out) {
  size_t max = 1024;
  rbd_image_spec_t *specs = NULL;
  int r;
  for (;;) {
    rbd_image_spec_t *p = realloc(specs, max * sizeof *specs);
    if (!p) { free(specs); return -ENOMEM; }
    specs = p;
    r = rbd_list2(ioctx, specs, &max); /* -ERANGE: max now holds the number needed */
    if (r != -ERANGE) break;
  }
  if (r < 0) { free(specs); return r; }
  char **names = malloc((max ? max : 1) * sizeof *names);
  for (size_t i = 0; i < max; i++) names[i] = strdup(specs[i].name);
  rbd_image_spec_list_cleanup(specs, max);
  free(specs);
  *out = names;
  return (int)max;
}

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

static void names_phase(void) {
  double *lat = calloc((size_t)O.reps, sizeof *lat);
  int count = 0;
  for (int i = 0; i < O.reps; i++) {
    char **names;
    double t0 = mono();
    int r = list_names(&names);
    lat[i] = mono() - t0;
    if (r < 0) {
      fprintf(stderr, "rbdbench: rbd_list2: %s\n", strerror(-r));
      failed = 1;
      break;
    }
    count = r;
    free_names(names, r);
  }
  open_obj("names");
  integer("count", count);
  integer("reps", O.reps);
  lat_summary("ms", lat, O.reps);
  close_obj();
  fprintf(stderr, "rbdbench: names   %d images: median %.2f ms\n", count, 1e3 * lat[O.reps / 2]);
  free(lat);
}

/* one listing with details: list2, optionally sort and keep `limit`, open+stat each at O.threads */
static double detail_listing(int limit, int *count, int *errors, double *op_lat_out) {
  char **names;
  double t0 = mono();
  int n = list_names(&names);
  if (n < 0) {
    fprintf(stderr, "rbdbench: rbd_list2: %s\n", strerror(-n));
    failed = 1;
    *count = 0;
    return 0;
  }
  if (limit > 0) {
    qsort(names, (size_t)n, sizeof *names, by_string);
  }
  int k = limit > 0 && limit < n ? limit : n;
  double *lat = calloc((size_t)(k ? k : 1), sizeof *lat);
  run_batch(OP_STAT, names, k, lat, errors);
  double el = mono() - t0;
  if (op_lat_out) memcpy(op_lat_out, lat, (size_t)k * sizeof *lat);
  free(lat);
  free_names(names, n);
  *count = k;
  return el;
}

static void details_phase(const char *label, int limit, int reps) {
  double *lat = calloc((size_t)reps, sizeof *lat);
  double *op_lat = NULL;
  int count = 0, errors = 0, e;
  for (int i = 0; i < reps; i++) {
    if (i == reps - 1) op_lat = calloc((size_t)(O.images > PAGE ? O.images : PAGE) + 1, sizeof *op_lat);
    lat[i] = detail_listing(limit, &count, &e, op_lat);
    errors += e;
  }
  open_obj(label);
  integer("count", count);
  integer("threads", O.threads);
  integer("reps", reps);
  integer("errors", errors);
  lat_summary("ms", lat, reps);
  num("images_per_s", lat[reps / 2] > 0 ? count / lat[reps / 2] : 0);
  if (op_lat && count > 0) {
    op_lat = realloc(op_lat, (size_t)count * sizeof *op_lat);
    lat_summary("open_stat_ms", op_lat, count);
  }
  close_obj();
  fprintf(stderr, "rbdbench: %-7s %d images, %d threads: median %.1f ms\n", label, count, O.threads,
          1e3 * lat[reps / 2]);
  free(op_lat);
  free(lat);
}

/* ---- main ------------------------------------------------------------------------------------- */
static int has_phase(const char *p) {
  size_t l = strlen(p);
  for (const char *s = O.phases; (s = strstr(s, p)) != NULL; s += l)
    if ((s == O.phases || s[-1] == ',') && (s[l] == ',' || s[l] == '\0')) return 1;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: rbdbench -c CONF -p POOL [-k KEYRING] [-n client.NAME] [-N IMAGES] [-t THREADS]\n"
          "                [-r REPS] [-P PREFIX] [-s BYTES] [-x create,names,page,details,remove] [-F] [-o ORDER]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "c:k:n:p:N:t:r:P:s:x:o:Fh")) != -1) {
    switch (c) {
      case 'c': O.conf = optarg; break;
      case 'k': O.keyring = optarg; break;
      case 'n': O.client = optarg; break;
      case 'p': O.pool = optarg; break;
      case 'N': O.images = atoi(optarg); break;
      case 't': O.threads = atoi(optarg); break;
      case 'r': O.reps = atoi(optarg); break;
      case 'P': O.prefix = optarg; break;
      case 's': O.size = strtoull(optarg, NULL, 0); break;
      case 'x': O.phases = optarg; break;
      case 'F': O.fill = 1; break;
      case 'o': O.order = atoi(optarg); break;
      default: usage();
    }
  }
  if (!O.conf || !O.pool || O.images < 0 || O.threads < 1 || O.threads > MAX_THREADS || O.reps < 1) usage();

  double t0 = mono();
  int r = rados_create2(&cluster, "ceph", O.client, 0);
  if (r == 0) r = rados_conf_read_file(cluster, O.conf);
  if (r == 0 && O.keyring) r = rados_conf_set(cluster, "keyring", O.keyring);
  if (r == 0) r = rados_connect(cluster);
  if (r < 0) {
    fprintf(stderr, "rbdbench: connecting as %s with %s: %s\n", O.client, O.conf, strerror(-r));
    return 1;
  }
  double connect_ms = 1e3 * (mono() - t0);
  r = rados_ioctx_create(cluster, O.pool, &ioctx);
  if (r < 0) {
    fprintf(stderr, "rbdbench: pool %s: %s\n", O.pool, strerror(-r));
    rados_shutdown(cluster);
    return 1;
  }

  char **mine = malloc((size_t)(O.images ? O.images : 1) * sizeof *mine);
  for (int i = 0; i < O.images; i++) {
    if (asprintf(&mine[i], "%s%06d", O.prefix, i) < 0) return 1;
  }

  int major, minor, extra;
  rbd_version(&major, &minor, &extra);
  char ver[32];
  snprintf(ver, sizeof ver, "%d.%d.%d", major, minor, extra);

  putchar('{');
  str("tool", "rbdbench");
  str("librbd", ver);
  str("pool", O.pool);
  str("prefix", O.prefix);
  integer("images", O.images);
  integer("threads", O.threads);
  integer("image_bytes", (long long)O.size);
  num("connect_ms", connect_ms);
  if (has_phase("create")) batch_phase("create", OP_CREATE, mine, O.images);
  if (has_phase("names")) names_phase();
  if (has_phase("page")) details_phase("page", PAGE, O.reps);
  if (has_phase("details")) details_phase("details", 0, O.reps < 3 ? O.reps : 3);
  if (has_phase("remove")) batch_phase("remove", OP_REMOVE, mine, O.images);
  integer("ok", !failed);
  puts("}");
  fflush(stdout);

  free_names(mine, O.images);
  rados_ioctx_destroy(ioctx);
  rados_shutdown(cluster);
  return failed ? 1 : 0;
}
