/*
 * vmtool: the small, independent instrument of the VM end-to-end test (tests/vm/run).
 *
 * It does not share code with gnomon on purpose: the test checks gnomond's real clock
 * path with a second, simple implementation of the measurements (SNTP offset,
 * realtime - CLOCK_MONOTONIC_RAW, adjtimex state).
 *
 * Reading commands work anywhere. Commands that change the clock (step, freq) refuse
 * to run unless /proc/cmdline carries gnomon_vm_test=1, which only the test VM's kernel
 * command line has: run on the host by mistake, they change nothing.
 *
 *   vmtool show                         adjtimex modes=0, one line of key=value
 *   vmtool host-state                   realtime-raw and adjtimex state (host check)
 *   vmtool step SECONDS                 (VM only) ADJ_SETOFFSET|ADJ_NANO by SECONDS
 *   vmtool freq PPM                     (VM only) ADJ_FREQUENCY to PPM, tick nominal
 *   vmtool leftover SECONDS             (VM only) leave the kernel what a previous daemon
 *                                       leaves: a PLL offset (STA_PLL, time constant 10,
 *                                       ADJ_OFFSET) and an adjtime() slew, both SECONDS
 *   vmtool offset ADDR PORT [N]         SNTP: server minus local, best of N, seconds
 *   vmtool sync ADDR PORT               (VM only) step by the measured offset
 *   vmtool watch SECONDS [JUMP_S]       sample realtime-raw every 50 ms; report steps
 *                                       (changes larger than JUMP_S, default 0.05 s,
 *                                       within one sample) and the fastest slew (ppm over
 *                                       2 s windows) at the end
 *   vmtool serve PORT START LI          (host) a bare NTP server on 127.0.0.1:PORT whose
 *                                       clock reads Unix time START at its first request
 *                                       and runs at this host's rate from there, with
 *                                       leap indicator LI; exits after 300 s
 *
 * Build: gcc -O2 -static -o vmtool vmtool.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#define MARKER "gnomon_vm_test=1"
#define NTP_UNIX_DELTA 2208988800ULL

static int in_test_vm(void)
{
    char line[4096];
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f)
        return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n"))
        if (strcmp(tok, MARKER) == 0)
            return 1;
    return 0;
}

static void require_vm(void)
{
    if (!in_test_vm()) {
        fprintf(stderr, "vmtool: refusing to change a clock outside the test VM "
                        "(no " MARKER " on the kernel command line)\n");
        exit(3);
    }
}

static double ts_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* realtime - monotonic_raw, read as close together as we can (raw read twice). */
static double rt_minus_raw(double *raw_out)
{
    struct timespec r1, rt, r2;
    clock_gettime(CLOCK_MONOTONIC_RAW, &r1);
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC_RAW, &r2);
    double raw = (r1.tv_sec + r2.tv_sec) * 0.5 + (r1.tv_nsec + r2.tv_nsec) * 0.5e-9;
    if (raw_out)
        *raw_out = raw;
    return (rt.tv_sec - raw) + rt.tv_nsec * 1e-9;
}

static int show(const char *prefix)
{
    struct timex tx;
    /* What is left of an adjtime() slew (read only). */
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_OFFSET_SS_READ;
    long adjtime_left = adjtimex(&tx) < 0 ? -1 : tx.offset;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    if (state < 0) {
        perror("adjtimex");
        return 1;
    }
    int nano = (tx.status & STA_NANO) != 0;
    printf("%sstate=%d status=0x%x unsync=%d ins=%d del=%d nano=%d offset=%ld freq_ppm=%.3f "
           "maxerror_us=%ld esterror_us=%ld tick=%ld tai=%d adjtime_left_us=%ld\n",
           prefix, state, tx.status, !!(tx.status & STA_UNSYNC), !!(tx.status & STA_INS),
           !!(tx.status & STA_DEL), nano, tx.offset, tx.freq / 65536.0, tx.maxerror,
           tx.esterror, tx.tick, tx.tai, adjtime_left);
    return 0;
}

static int step(double seconds)
{
    require_vm();
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    long long ns = llround(seconds * 1e9);
    long long sec = ns / 1000000000LL, rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        sec -= 1;
    }
    tx.modes = ADJ_SETOFFSET | ADJ_NANO;
    tx.time.tv_sec = sec;
    tx.time.tv_usec = rem;
    if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) {
        perror("clock_adjtime(ADJ_SETOFFSET)");
        return 1;
    }
    /* Back to microsecond mode, so the state we hand over is the ordinary one. */
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_MICRO;
    adjtimex(&tx);
    return 0;
}

static int freq(double ppm)
{
    require_vm();
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_FREQUENCY | ADJ_TICK;
    tx.freq = lround(ppm * 65536.0);
    tx.tick = 1000000 / sysconf(_SC_CLK_TCK);
    if (adjtimex(&tx) < 0) {
        perror("adjtimex(ADJ_FREQUENCY)");
        return 1;
    }
    return 0;
}

static int leftover(double seconds)
{
    require_vm();
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_STATUS | ADJ_TIMECONST | ADJ_OFFSET | ADJ_MICRO;
    tx.status = STA_PLL;
    tx.constant = 10;
    tx.offset = lround(seconds * 1e6);
    if (adjtimex(&tx) < 0) {
        perror("adjtimex(ADJ_OFFSET)");
        return 1;
    }
    long us = lround(seconds * 1e6);
    struct timeval delta = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    if (adjtime(&delta, NULL) < 0) {
        perror("adjtime");
        return 1;
    }
    return 0;
}

static uint64_t to_ntp(double unix_s)
{
    double ntp = unix_s + (double)NTP_UNIX_DELTA;
    uint64_t sec = (uint64_t)floor(ntp);
    uint64_t frac = (uint64_t)((ntp - floor(ntp)) * 4294967296.0);
    return (sec << 32) | (frac & 0xffffffffULL);
}

static double from_ntp(const unsigned char *p)
{
    uint32_t sec = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    uint32_t frac = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    return (double)sec - (double)NTP_UNIX_DELTA + frac / 4294967296.0;
}

static void put_ntp(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Best (lowest delay) of n SNTP exchanges; returns 0 and sets *offset, *delay. */
static int measure(const char *addr, int port, int n, double *offset, double *delay)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    int got = 0;
    double best_delay = 1e9, best_offset = 0;
    for (int i = 0; i < n; i++) {
        unsigned char pkt[48] = {0}, resp[128];
        pkt[0] = (0 << 6) | (4 << 3) | 3;
        double t1 = ts_s(CLOCK_REALTIME);
        uint64_t xmt = to_ntp(t1) ^ (uint64_t)(i + 1); /* unique origin */
        put_ntp(pkt + 40, xmt);
        send(fd, pkt, sizeof pkt, 0);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 500) == 1) {
            ssize_t len = recv(fd, resp, sizeof resp, 0);
            double t4 = ts_s(CLOCK_REALTIME);
            unsigned char want[8];
            put_ntp(want, xmt);
            if (len >= 48 && memcmp(resp + 24, want, 8) == 0) {
                double t2 = from_ntp(resp + 32), t3 = from_ntp(resp + 40);
                double d = (t4 - t1) - (t3 - t2);
                if (d < best_delay) {
                    best_delay = d;
                    best_offset = ((t2 - t1) + (t3 - t4)) / 2;
                }
                got++;
            }
        }
        usleep(20000);
    }
    close(fd);
    if (!got)
        return -1;
    *offset = best_offset;
    *delay = best_delay;
    return 0;
}

static volatile sig_atomic_t stop_watch;
static void on_term(int sig)
{
    (void)sig;
    stop_watch = 1;
}

static int watch(double seconds, double jump_s)
{
    signal(SIGTERM, on_term);
    double raw0, prev_raw;
    double v0 = rt_minus_raw(&raw0), prev = v0;
    prev_raw = raw0;
    int jumps = 0;
    double jump_total = 0, max_rate = 0;
    /* 2 s windows for the slew rate, with steps taken out (the emulated clock's
     * timer noise reaches a few hundred ppm over 1 s). */
    double win_raw = raw0, win_v = v0, win_jumps = 0;
    for (;;) {
        usleep(50000);
        double raw, v = rt_minus_raw(&raw);
        double dv = v - prev;
        if (fabs(dv) > jump_s) {
            jumps++;
            jump_total += dv;
            win_jumps += dv;
            printf("watch: step of %+.6f s at +%.2f s\n", dv, raw - raw0);
        }
        if (raw - win_raw >= 2.0) {
            double rate = fabs((v - win_v - win_jumps) / (raw - win_raw)) * 1e6;
            if (rate > max_rate)
                max_rate = rate;
            win_raw = raw;
            win_v = v;
            win_jumps = 0;
        }
        prev = v;
        prev_raw = raw;
        if (raw - raw0 >= seconds || stop_watch)
            break;
    }
    (void)prev_raw;
    printf("watch steps=%d step_total=%+.6f slew_total=%+.6f max_slew_ppm=%.0f\n", jumps,
           jump_total, prev - v0 - jump_total, max_rate);
    return 0;
}

static int serve(int port, double start, int li)
{
    double offset_s = 0;
    int started = 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("serve: bind");
        return 1;
    }
    double end = ts_s(CLOCK_MONOTONIC) + 300;
    while (ts_s(CLOCK_MONOTONIC) < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 1000) != 1)
            continue;
        unsigned char req[128], resp[48] = {0};
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t len = recvfrom(fd, req, sizeof req, 0, (struct sockaddr *)&from, &fl);
        if (len < 48 || (req[0] & 7) != 3)
            continue;
        if (!started) {
            offset_s = start - ts_s(CLOCK_REALTIME);
            started = 1;
        }
        double t2 = ts_s(CLOCK_REALTIME) + offset_s;
        int vn = (req[0] >> 3) & 7;
        resp[0] = (unsigned char)((li << 6) | (vn << 3) | 4);
        resp[1] = 1;        /* stratum */
        resp[2] = req[2];   /* poll */
        resp[3] = (unsigned char)-20;
        resp[7] = 0x10;     /* root delay 1/4096 s... */
        resp[11] = 0x10;    /* root dispersion */
        memcpy(resp + 12, "LEAP", 4);
        put_ntp(resp + 16, to_ntp(t2 - 1));
        memcpy(resp + 24, req + 40, 8);
        put_ntp(resp + 32, to_ntp(t2));
        put_ntp(resp + 40, to_ntp(ts_s(CLOCK_REALTIME) + offset_s));
        sendto(fd, resp, sizeof resp, 0, (struct sockaddr *)&from, fl);
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        goto usage;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "show"))
        return show("");
    if (!strcmp(cmd, "host-state")) {
        double raw, v = rt_minus_raw(&raw);
        printf("rt_minus_raw=%.9f raw=%.6f ", v, raw);
        return show("");
    }
    if (!strcmp(cmd, "step") && argc == 3)
        return step(atof(argv[2]));
    if (!strcmp(cmd, "leftover") && argc == 3)
        return leftover(atof(argv[2]));
    if (!strcmp(cmd, "freq") && argc == 3)
        return freq(atof(argv[2]));
    if ((!strcmp(cmd, "offset") || !strcmp(cmd, "sync")) && argc >= 4) {
        double offset, delay;
        int n = argc >= 5 ? atoi(argv[4]) : 8;
        if (!strcmp(cmd, "sync"))
            require_vm();
        if (measure(argv[2], atoi(argv[3]), n, &offset, &delay) < 0) {
            fprintf(stderr, "vmtool: no reply from %s:%s\n", argv[2], argv[3]);
            return 1;
        }
        printf("offset=%+.6f delay=%.6f\n", offset, delay);
        return !strcmp(cmd, "sync") ? step(offset) : 0;
    }
    if (!strcmp(cmd, "watch") && argc >= 3)
        return watch(atof(argv[2]), argc >= 4 ? atof(argv[3]) : 0.05);
    if (!strcmp(cmd, "serve") && argc == 5)
        return serve(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
usage:
    fprintf(stderr, "usage: see the comment at the top of tests/vm/vmtool.c\n");
    return 2;
}
