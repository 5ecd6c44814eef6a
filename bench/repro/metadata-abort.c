// Minimal reproduction attempt of the librbd 16.2 abort seen by the probe (N2):
//   AsyncOpTracker::~AsyncOpTracker(): ceph_assert(m_pending_ops == 0)
// THREADS threads, each in a loop: rbd_open (read-write: registers a watch), rbd_metadata_set of a VALUE_BYTES
// value (sends a header-update notification to every other open handle), rbd_close. No FFI, no Node.
// Build: cc -O2 -o metadata-abort metadata-abort.c -lrbd -lrados -lpthread
// Run:   CEPH_CONF=... ./metadata-abort <pool> <image> <threads> <seconds> [value_bytes]
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static rados_ioctx_t io;
static const char *image;
static int seconds;
static size_t value_bytes = 16000;
static volatile long done_ops;

static void *worker(void *arg) {
  long n = (long)arg;
  char key[64];
  char *value = malloc(value_bytes + 1);
  memset(value, 'v', value_bytes);
  value[value_bytes] = 0;
  time_t end = time(NULL) + seconds;
  for (long i = 0; time(NULL) < end; i++) {
    rbd_image_t img;
    int r = rbd_open(io, image, &img, NULL);
    if (r < 0) { fprintf(stderr, "open: %d\n", r); continue; }
    snprintf(key, sizeof key, "key%ld_%ld", n, i % 50);
    r = rbd_metadata_set(img, key, value);
    if (r < 0) fprintf(stderr, "set: %d\n", r);
    rbd_close(img);
    __sync_fetch_and_add(&done_ops, 1);
  }
  free(value);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: %s pool image threads seconds [value_bytes]\n", argv[0]); return 2; }
  image = argv[2];
  int threads = atoi(argv[3]);
  seconds = atoi(argv[4]);
  if (argc > 5) value_bytes = (size_t)atol(argv[5]);
  rados_t cluster;
  if (rados_create(&cluster, NULL) < 0 || rados_conf_read_file(cluster, NULL) < 0 || rados_connect(cluster) < 0) return 1;
  if (rados_ioctx_create(cluster, argv[1], &io) < 0) return 1;
  pthread_t t[256];
  for (long i = 0; i < threads && i < 256; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (long i = 0; i < threads && i < 256; i++) pthread_join(t[i], NULL);
  printf("%ld metadata sets, no abort\n", done_ops);
  rados_ioctx_destroy(io);
  rados_shutdown(cluster);
  return 0;
}
