/*
 * bench/rbdclone.c — the librbd baseline for clones (bench/clones.ts): rbd_clone3 of one snapshot, clone
 * format 2 (as the service asks for it), THREADS at a time, then rbd_remove of the clones.
 *
 *   gcc -O2 -Wall -o rbdclone bench/rbdclone.c -lrbd -lrados -lpthread
 *   rbdclone -c CONF [-k KEYRING] [-n client.admin] -p POOL -i PARENT -s SNAP [-N 100] [-t 1] [-P clone-]
 *
 * Prints one JSON object on stdout: {"clones", "threads", "seconds", "perSecond", "p50Ms", "p99Ms",
 * "removeSeconds"}; diagnostics on stderr; exit status 1 if a call failed.
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

static const char *conf, *keyring, *client = "client.admin", *pool, *parent, *snap, *prefix = "clone-";
static int n = 100, threads = 1, failed;
static rados_ioctx_t io;
static atomic_int next;
static double *lat;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *cloner(void *arg) {
  (void)arg;
  for (;;) {
    int i = atomic_fetch_add(&next, 1);
    if (i >= n) return NULL;
    char name[128];
    snprintf(name, sizeof name, "%s%06d", prefix, i);
    rbd_image_options_t o;
    rbd_image_options_create(&o); /* a new one per call: librbd edits the one it is given */
    rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
    double t0 = now();
    int r = rbd_clone3(io, parent, snap, io, name, o);
    lat[i] = (now() - t0) * 1000;
    rbd_image_options_destroy(o);
    if (r < 0) { fprintf(stderr, "rbd_clone3 %s: %s\n", name, strerror(-r)); failed = 1; }
  }
}

static void *remover(void *arg) {
  (void)arg;
  for (;;) {
    int i = atomic_fetch_add(&next, 1);
    if (i >= n) return NULL;
    char name[128];
    snprintf(name, sizeof name, "%s%06d", prefix, i);
    int r = rbd_remove(io, name);
    if (r < 0 && r != -ENOENT) { fprintf(stderr, "rbd_remove %s: %s\n", name, strerror(-r)); failed = 1; }
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double run(void *(*fn)(void *)) {
  pthread_t t[256];
  atomic_store(&next, 0);
  double t0 = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, fn, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return now() - t0;
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "c:k:n:p:i:s:N:t:P:")) != -1) {
    switch (c) {
      case 'c': conf = optarg; break;
      case 'k': keyring = optarg; break;
      case 'n': client = optarg; break;
      case 'p': pool = optarg; break;
      case 'i': parent = optarg; break;
      case 's': snap = optarg; break;
      case 'N': n = atoi(optarg); break;
      case 't': threads = atoi(optarg); break;
      case 'P': prefix = optarg; break;
      default: return 2;
    }
  }
  /* an empty snapshot name makes rbd_clone3 fail a ceph_assert: refuse it here */
  if (!conf || !pool || !parent || !snap || !*snap || n < 1 || threads < 1 || threads > 256) {
    fprintf(stderr, "usage: rbdclone -c CONF -p POOL -i PARENT -s SNAP [-k KEYRING] [-n CLIENT] [-N N] [-t THREADS] [-P PREFIX]\n");
    return 2;
  }
  rados_t cluster;
  if (rados_create2(&cluster, "ceph", client, 0) < 0 || rados_conf_read_file(cluster, conf) < 0
      || (keyring && rados_conf_set(cluster, "keyring", keyring) < 0) || rados_connect(cluster) < 0
      || rados_ioctx_create(cluster, pool, &io) < 0) {
    fprintf(stderr, "cannot connect to %s / pool %s\n", conf, pool);
    return 1;
  }
  lat = calloc(n, sizeof *lat);
  double secs = run(cloner);
  qsort(lat, n, sizeof *lat, cmp);
  double rm = run(remover);
  printf("{\"clones\":%d,\"threads\":%d,\"seconds\":%.3f,\"perSecond\":%.1f,\"p50Ms\":%.1f,\"p99Ms\":%.1f,\"removeSeconds\":%.3f}\n",
         n, threads, secs, n / secs, lat[n / 2], lat[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1], rm);
  rados_ioctx_destroy(io);
  rados_shutdown(cluster);
  return failed;
}
