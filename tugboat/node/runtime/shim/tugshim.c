/*
 * tugshim: the per-container shim in C (same contract as runc_shim.py, the fallback).
 *
 * Why C: one shim lives per container for the container's whole life, so its memory is paid
 * 110 times on a full node. The Python shim costs ~10 MiB RSS (an interpreter each); this
 * one, linked statically, well under 1 MiB. It is built by `make setup` when gcc is present;
 * without it the agent runs the Python shim, which behaves the same.
 *
 * What it does (see runc_shim.py for the why of each step): forks once and detaches
 * (setsid, child subreaper), runs `runc create` with the container's stdio on pipes (or
 * receives the terminal master from runc over a console socket when --tty), prints
 * "ok <init pid> <shim pid>" or "err <message>" on stdout, then writes both output streams
 * to the CRI log (`<RFC3339Nano> stdout|stderr F|P <content>`, lines split at 16 KiB), and
 * with --stdin keeps the container's stdin open and serves it on the unix socket
 * `attach.sock` in its directory. Frames on that socket: 1 type byte, 4-byte big-endian
 * length, payload: 'd' stdin data, 'r' terminal size (u16 width, u16 height), 'c' stdin EOF.
 * With --stdin-once the container's stdin is closed when the first attach client closes its
 * stdin or goes away (upstream's stdinOnce). When init exits it reads the memory cgroup's
 * oom_kill counter, drains the output (≤ 5 s) and writes exit.json atomically.
 * SIGUSR1 reopens the log file (rotation by the agent).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 16384
#define MAX_CLIENTS 4
#define FRAME_MAX 65536
#define DRAIN_SECONDS 5

static const char *o_runc, *o_root, *o_id, *o_bundle, *o_dir, *o_log = "", *o_oom = "";
static int o_stdin, o_tty, o_stdin_once;
static volatile sig_atomic_t reopen_log;
static int sig_w = -1, log_fd = -1;

struct stream {
    int fd;
    const char *name;
    size_t len;
    char buf[MAX_LINE + 1];
};

struct client {
    int fd;
    size_t len;
    char buf[FRAME_MAX + 5];
};

static struct stream out_s = {.fd = -1, .name = "stdout"}, err_s = {.fd = -1, .name = "stderr"};
static struct client clients[MAX_CLIENTS];
static int stdin_fd = -1, tty_fd = -1, listen_fd = -1, stdin_done, stdin_close_pending;
static char pend[FRAME_MAX];
static size_t pend_len, pend_off;

static void on_signal(int sig) {
    int e = errno;
    char c = (char)sig;
    if (sig == SIGUSR1) reopen_log = 1;
    if (write(sig_w, &c, 1) < 0) { /* pipe full: a wake-up is pending anyway */ }
    errno = e;
}

static void mkdir_parents(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
}

static int open_log(void) {
    if (!*o_log) return open("/dev/null", O_WRONLY | O_CLOEXEC);
    mkdir_parents(o_log);
    return open(o_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static int rfc3339nano(char *out, size_t n) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int len = (int)strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts.tv_nsec) {
        char frac[16];
        snprintf(frac, sizeof frac, "%09ld", ts.tv_nsec);
        int k = 9;
        while (k > 0 && frac[k - 1] == '0') k--;
        frac[k] = 0;
        len += snprintf(out + len, n - len, ".%s", frac);
    }
    out[len++] = 'Z';
    out[len] = 0;
    return len;
}

static void write_record(const char *stream, char tag, const char *data, size_t len) {
    char hdr[96];
    if (reopen_log) {
        reopen_log = 0;
        close(log_fd);
        log_fd = open_log();
    }
    int h = rfc3339nano(hdr, 64);
    h += snprintf(hdr + h, sizeof hdr - h, " %s %c ", stream, tag);
    struct iovec iov[3] = {{hdr, (size_t)h}, {(void *)data, len}, {"\n", 1}};
    if (writev(log_fd, iov, 3) < 0) perror("shim: log write failed");  /* keep draining regardless */
}

static void stream_records(struct stream *s) {
    for (;;) {
        size_t scan = s->len < MAX_LINE + 1 ? s->len : MAX_LINE + 1;
        char *nl = memchr(s->buf, '\n', scan);
        size_t used;
        if (nl) {
            write_record(s->name, 'F', s->buf, (size_t)(nl - s->buf));
            used = (size_t)(nl - s->buf) + 1;
        } else if (s->len > MAX_LINE) {
            write_record(s->name, 'P', s->buf, MAX_LINE);
            used = MAX_LINE;
        } else {
            return;
        }
        memmove(s->buf, s->buf + used, s->len - used);
        s->len -= used;
    }
}

static void stream_close(struct stream *s) {
    if (s->len) write_record(s->name, 'F', s->buf, s->len);
    s->len = 0;
    if (s->fd >= 0 && s->fd != tty_fd) close(s->fd);
    s->fd = -1;
}

static void stream_read(struct stream *s) {
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {  /* EOF, or EIO from a terminal whose other side closed */
        stream_close(s);
        return;
    }
    s->len += (size_t)n;
    stream_records(s);
}

/* ---- stdin ---- */

static void close_stdin(void) {
    if (stdin_done) return;
    if (pend_off < pend_len) {  /* flush first */
        stdin_close_pending = 1;
        return;
    }
    stdin_done = 1;
    if (o_tty) {
        if (write(tty_fd, "\x04", 1) < 0) { /* terminal gone */ }
    } else if (stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
    }
}

static void flush_stdin(void) {
    int fd = o_tty ? tty_fd : stdin_fd;
    while (pend_off < pend_len) {
        ssize_t n = write(fd, pend + pend_off, pend_len - pend_off);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {  /* the container closed its stdin: drop what is left */
            pend_off = pend_len;
            break;
        }
        pend_off += (size_t)n;
    }
    pend_off = pend_len = 0;
    if (stdin_close_pending) {
        stdin_close_pending = 0;
        close_stdin();
    }
}

static void client_drop(struct client *c) {
    close(c->fd);
    c->fd = -1;
    c->len = 0;
    if (o_stdin_once) close_stdin();
}

/* Handle complete frames while stdin can take them; stops when data is pending. */
static void client_frames(struct client *c) {
    while (c->fd >= 0 && pend_len == 0 && c->len >= 5) {
        uint32_t n = ((uint32_t)(uint8_t)c->buf[1] << 24) | ((uint32_t)(uint8_t)c->buf[2] << 16) |
                     ((uint32_t)(uint8_t)c->buf[3] << 8) | (uint32_t)(uint8_t)c->buf[4];
        if (n > FRAME_MAX) {
            client_drop(c);
            return;
        }
        if (c->len < 5 + n) return;
        char type = c->buf[0];
        const char *p = c->buf + 5;
        if (type == 'd' && !stdin_done && !stdin_close_pending) {
            memcpy(pend, p, n);
            pend_len = n;
            pend_off = 0;
            flush_stdin();
        } else if (type == 'r' && o_tty && n == 4) {
            struct winsize ws = {0};
            ws.ws_col = (unsigned short)(((uint8_t)p[0] << 8) | (uint8_t)p[1]);
            ws.ws_row = (unsigned short)(((uint8_t)p[2] << 8) | (uint8_t)p[3]);
            ioctl(tty_fd, TIOCSWINSZ, &ws);
        } else if (type == 'c' && o_stdin_once) {
            close_stdin();
        }
        memmove(c->buf, c->buf + 5 + n, c->len - 5 - n);
        c->len -= 5 + n;
    }
}

static void client_read(struct client *c) {
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        client_drop(c);
        return;
    }
    c->len += (size_t)n;
    client_frames(c);
}

static void accept_client(void) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (stdin_done) {  /* stdinOnce and already used: nothing to attach to */
        close(fd);
        return;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            clients[i].fd = fd;
            clients[i].len = 0;
            return;
        }
    }
    close(fd);
}

static int listen_unix(const char *name, int backlog) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", name);
    unlink(name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(name, 0600) < 0 || listen(fd, backlog) < 0) {
        perror("shim: listen");
        exit(1);
    }
    return fd;
}

static int recv_fd(int sock) {
    char data[256];
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {data, sizeof data};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

/* ---- process ---- */

static int oom_killed(void) {
    if (!*o_oom) return 0;
    FILE *f = fopen(o_oom, "r");
    if (!f) return 0;
    char key[64];
    long long value;
    int hit = 0;
    while (fscanf(f, "%63s %lld", key, &value) == 2) {
        if (!strcmp(key, "oom_kill")) hit = value > 0;
    }
    fclose(f);
    return hit;
}

static void write_exit(int code, double finished, int oom) {
    char buf[160];
    int n = snprintf(buf, sizeof buf, "{\"exit_code\": %d, \"finished_at\": %.6f, \"oom_killed\": %s}", code, finished,
                     oom ? "true" : "false");
    int fd = open("exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) < 0 || close(fd) < 0 || rename("exit.json.tmp", "exit.json") < 0)
        perror("shim: exit.json");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int exit_code(int status) {
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void set_nonblock(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void usage(void) {
    fprintf(stderr, "usage: tugshim --runc R --root R --id ID --bundle B --dir D [--log F] [--oom-file F] "
                    "[--stdin] [--stdin-once] [--tty]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--stdin")) o_stdin = 1;
        else if (!strcmp(a, "--stdin-once")) o_stdin_once = 1;
        else if (!strcmp(a, "--tty")) o_tty = 1;
        else if (!strcmp(a, "--runc")) dst = &o_runc;
        else if (!strcmp(a, "--root")) dst = &o_root;
        else if (!strcmp(a, "--id")) dst = &o_id;
        else if (!strcmp(a, "--bundle")) dst = &o_bundle;
        else if (!strcmp(a, "--dir")) dst = &o_dir;
        else if (!strcmp(a, "--log")) dst = &o_log;
        else if (!strcmp(a, "--oom-file")) dst = &o_oom;
        else usage();
        if (dst) {
            if (++i >= argc) usage();
            *dst = argv[i];
        }
    }
    if (!o_runc || !o_root || !o_id || !o_bundle || !o_dir) usage();
}

/* Fork+exec `runc create`; returns its exit code (the shim's stdio become the container's). */
static int runc_create(int in_fd, int out_fd, int err_fd) {
    const char *argv[20];
    int n = 0;
    argv[n++] = o_runc;
    argv[n++] = "--root"; argv[n++] = o_root;
    argv[n++] = "--log"; argv[n++] = "runc.log";
    argv[n++] = "--log-format"; argv[n++] = "json";
    argv[n++] = "create"; argv[n++] = "--bundle"; argv[n++] = o_bundle;
    argv[n++] = "--pid-file"; argv[n++] = "init.pid";
    if (o_tty) { argv[n++] = "--console-socket"; argv[n++] = "console.sock"; }
    argv[n++] = o_id;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) return 255;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(o_runc, (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 255;
    return exit_code(status);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    if (chdir(o_dir) < 0) {
        printf("err cannot enter %s\n", o_dir);
        return 1;
    }
    pid_t child = fork();
    if (child < 0) return 1;
    if (child > 0) _exit(0);  /* detach: the agent's child exits at once */
    setsid();
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    FILE *pf = fopen("shim.pid", "w");
    if (pf) {
        fprintf(pf, "%d", (int)getpid());
        fclose(pf);
    }
    log_fd = open_log();
    int sp[2];
    if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) return 1;
    sig_w = sp[1];
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);

    int console = o_tty ? listen_unix("console.sock", 1) : -1;
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, in_p[2] = {-1, -1};
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) return 1;
    if (o_stdin && !o_tty && pipe2(in_p, O_CLOEXEC) < 0) return 1;
    int rc = runc_create(in_p[0] >= 0 ? in_p[0] : null_fd, out_p[1], err_p[1]);
    close(out_p[1]);
    close(err_p[1]);
    if (in_p[0] >= 0) close(in_p[0]);
    out_s.fd = out_p[0];
    err_s.fd = err_p[0];
    if (rc == 0 && o_tty) {
        set_nonblock(console);
        int conn = accept4(console, NULL, NULL, SOCK_CLOEXEC);
        tty_fd = conn >= 0 ? recv_fd(conn) : -1;
        if (conn >= 0) close(conn);
        if (tty_fd < 0) rc = 254;
    }
    if (console >= 0) {
        close(console);
        unlink("console.sock");
    }
    if (rc != 0) {
        printf("err runc create exited with %d\n", rc);
        return 1;
    }
    FILE *ip = fopen("init.pid", "r");
    int init_pid = 0;
    if (!ip || fscanf(ip, "%d", &init_pid) != 1 || init_pid <= 0) {
        printf("err runc wrote no init pid\n");
        return 1;
    }
    fclose(ip);
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    if (o_tty) {
        set_nonblock(tty_fd);
        close(out_s.fd);  /* the terminal carries the output; runc's own pipes stay quiet */
        out_s.fd = tty_fd;
    }
    if (in_p[1] >= 0) {
        stdin_fd = in_p[1];
        set_nonblock(stdin_fd);
    }
    if (o_stdin) {
        listen_fd = listen_unix("attach.sock", 4);
        set_nonblock(listen_fd);
    } else {
        stdin_done = 1;
    }
    printf("ok %d %d\n", init_pid, (int)getpid());
    fflush(stdout);
    dup2(null_fd, 1);
    dup2(null_fd, 0);

    int code = -1, oom = 0;
    double finished = 0, drain_until = 0;
    for (;;) {
        struct pollfd fds[5 + MAX_CLIENTS];
        int idx[5 + MAX_CLIENTS];
        int n = 0;
        fds[n] = (struct pollfd){.fd = sp[0], .events = POLLIN}; idx[n++] = -1;
        if (out_s.fd >= 0) { fds[n] = (struct pollfd){.fd = out_s.fd, .events = POLLIN}; idx[n++] = -2; }
        if (err_s.fd >= 0) { fds[n] = (struct pollfd){.fd = err_s.fd, .events = POLLIN}; idx[n++] = -3; }
        if (listen_fd >= 0) { fds[n] = (struct pollfd){.fd = listen_fd, .events = POLLIN}; idx[n++] = -4; }
        if (pend_len && (o_tty ? tty_fd : stdin_fd) >= 0) {
            fds[n] = (struct pollfd){.fd = o_tty ? tty_fd : stdin_fd, .events = POLLOUT};
            idx[n++] = -5;
        }
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0 && !pend_len) {
                fds[n] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
                idx[n++] = i;
            }
        int timeout = -1;
        if (code >= 0) {
            if (out_s.fd < 0 && err_s.fd < 0) break;
            timeout = (int)((drain_until - now()) * 1000);
            if (timeout <= 0) break;
        }
        if (poll(fds, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents) continue;
            switch (idx[k]) {
            case -1: {
                char drain[64];
                while (read(sp[0], drain, sizeof drain) > 0) {}
                int status;
                pid_t w;
                while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
                    if (w == init_pid) {
                        code = exit_code(status);
                        finished = now();
                        oom = oom_killed();  /* before the agent's `runc delete` removes the cgroup */
                        drain_until = finished + DRAIN_SECONDS;
                    }
                }
                break;
            }
            case -2: if (out_s.fd >= 0) stream_read(&out_s); break;
            case -3: if (err_s.fd >= 0) stream_read(&err_s); break;
            case -4: accept_client(); break;
            case -5:
                flush_stdin();
                for (int i = 0; i < MAX_CLIENTS && !pend_len; i++) client_frames(&clients[i]);
                break;
            default: if (clients[idx[k]].fd >= 0) client_read(&clients[idx[k]]); break;
            }
        }
    }
    if (out_s.fd >= 0) stream_close(&out_s);
    if (err_s.fd >= 0) stream_close(&err_s);
    if (listen_fd >= 0) unlink("attach.sock");
    write_exit(code < 0 ? 255 : code, finished ? finished : now(), oom);
    return 0;
}
