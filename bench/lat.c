/* A closed-loop HTTP/1.1 keep-alive load for bench/tail-trace.mjs: as `wrk -t1 -cN` does (one
 * thread, each connection one request at a time), but every request's send and answer time is
 * written out (CLOCK_MONOTONIC ns, the clock of `perf record -k CLOCK_MONOTONIC` and of Node's
 * performance timeline), so each slow request can be matched with what the processes serving it
 * were doing then. wrk's histogram has no times, and its Lua cannot tell which connection an
 * answer came on.
 *
 *   lat PORT PATH CONNECTIONS SECONDS POST_BYTES [OUT]
 *
 * Answers must carry a Content-Length (the bench app's do). Prints one summary line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

typedef struct { int fd; char *buf; size_t have; long long sent_at; } conn_t;
typedef struct { long long start, end; } rec_t;

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static char *request;
static size_t request_len;
static long long give_up_at;

static void send_request(conn_t *c) {
  size_t sent = 0;
  c->sent_at = now();
  c->have = 0;
  while (sent < request_len) {
    ssize_t w = write(c->fd, request + sent, request_len - sent);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {  /* a send buffer full: SO_SNDBUF below makes it rare */
      if (now() > give_up_at) { fprintf(stderr, "the server stopped reading\n"); exit(1); }
      struct timespec pause = {0, 20000};
      nanosleep(&pause, NULL);
      continue;
    }
    if (w < 0) { perror("write"); exit(1); }
    sent += (size_t)w;
  }
}

static int by_value(const void *x, const void *y) {
  long long a = *(const long long *)x, b = *(const long long *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: lat PORT PATH CONNECTIONS SECONDS POST_BYTES [OUT]\n"); return 2; }
  int port = atoi(argv[1]), n = atoi(argv[3]), post = atoi(argv[5]);
  const char *path = argv[2], *out = argc > 6 ? argv[6] : NULL;
  double seconds = atof(argv[4]);
  char head[512];
  int head_len = post
    ? snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", path, post)
    : snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
  request_len = (size_t)head_len + (size_t)post;
  request = malloc(request_len);
  memcpy(request, head, (size_t)head_len);
  memset(request + head_len, 'a', (size_t)post);

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)n, sizeof *conns);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
    int sndbuf = 4 * (int)request_len + 65536;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(fd, F_SETFL, O_NONBLOCK);  /* every wait is epoll's, bounded */
    conns[i].fd = fd;
    conns[i].buf = malloc(BUF);
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }
  size_t cap = 1 << 22, count = 0;
  rec_t *recs = malloc(cap * sizeof *recs);
  long long start = now(), end = start + (long long)(seconds * 1e9);
  give_up_at = end + 5000000000LL;
  for (int i = 0; i < n; i++) send_request(&conns[i]);
  struct epoll_event events[64];
  while (now() < end) {
    int k = epoll_wait(ep, events, 64, 1000);  /* bounded: a stalled server ends the run at `end` */
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) { perror("epoll_wait"); return 1; }
    for (int j = 0; j < k; j++) {
      conn_t *c = &conns[events[j].data.u32];
      ssize_t r = read(c->fd, c->buf + c->have, BUF - c->have);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) { fprintf(stderr, "connection closed by the server\n"); return 1; }
      c->have += (size_t)r;
      char *blank = memmem(c->buf, c->have, "\r\n\r\n", 4);
      if (!blank) continue;
      size_t head_end = (size_t)(blank + 4 - c->buf);
      char *cl = memmem(c->buf, head_end, "ontent-Length: ", 15);
      if (!cl) cl = memmem(c->buf, head_end, "ontent-length: ", 15);
      if (!cl) { fprintf(stderr, "an answer without Content-Length\n"); return 1; }
      size_t length = strtoul(cl + 15, NULL, 10);
      if (c->have < head_end + length) continue;
      long long done = now();
      if (count < cap) recs[count++] = (rec_t){c->sent_at, done};
      send_request(c);
    }
  }
  if (count == 0) { fprintf(stderr, "no answers\n"); return 1; }
  long long *lat = malloc(count * sizeof *lat);
  for (size_t i = 0; i < count; i++) lat[i] = recs[i].end - recs[i].start;
  qsort(lat, count, sizeof *lat, by_value);
  printf("requests %zu rps %.0f p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n", count, count / seconds,
         lat[count / 2] / 1e6, lat[count * 9 / 10] / 1e6, lat[count * 99 / 100] / 1e6, lat[count * 999 / 1000] / 1e6, lat[count - 1] / 1e6);
  if (out) {
    FILE *f = fopen(out, "w");
    if (!f) { perror(out); return 1; }
    for (size_t i = 0; i < count; i++) fprintf(f, "%lld %lld\n", recs[i].start, recs[i].end);
    fclose(f);
  }
  return 0;
}
