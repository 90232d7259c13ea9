/*
 * lowbit-sandbox: runs one untrusted program (HumanEval's Python) isolated by
 * the kernel, not by anything the program can reach. Linux only.
 *
 *   lowbit-sandbox [--check] [--uid N] [--work-bytes N] [--tmp-bytes N] [--inodes N]
 *                  [--cpu S] [--as BYTES] [--nproc N] [--fsize BYTES] -- PROGRAM ARGS...
 *
 * The current directory holds the files to run (copied into the sandbox: at
 * most 64 regular files, not followed through links) and an empty directory
 * "root" (the mount point of the new root). Layers, outermost first:
 *
 *   H (this process; started as root with --uid N, it first becomes uid and
 *     gid N with no supplementary groups: lowbit passes 65534, "nobody")
 *     unshare(user, mount, net, pid, ipc, uts); uid/gid maps 0 -> own uid
 *   C (PID 1 of the new PID namespace, root of the outer user namespace)
 *     builds a new root on a tmpfs: /usr /lib* /bin /sbin bound read-only,
 *     /dev with null zero full random urandom only, a new /proc, /tmp and
 *     /sandbox (the program's cwd, a size-limited tmpfs holding copies of the
 *     files), /etc empty; pivot_root into it, the host's root detached;
 *     then forks P and reaps until P ends (its exit ends every process of
 *     the namespace).
 *   P unshare(user, mount) once more: every mount made above is now locked
 *     (MNT_LOCKED: it cannot be unmounted or remounted from this namespace),
 *     uid/gid maps 65534 -> 0 (the program is not root even in its own
 *     namespace), no_new_privs, empty capability sets, bounding and ambient
 *     sets cleared, resource limits (soft = hard), a seccomp filter that
 *     refuses mount, umount2, pivot_root, chroot, unshare, setns, clone with
 *     namespace flags, clone3, ptrace, process_vm_*, keyctl, bpf, ... with
 *     EPERM, then execve(PROGRAM).
 *
 * Exit status: the program's (128 + n when it died of signal n); 125 and a
 * line "lowbit-sandbox: <step>: <reason>" on stderr when a layer could not be
 * set up (nothing is run then). --check sets every layer up and runs nothing:
 * exit 0 means this machine supports the sandbox.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#define FAIL_STATUS 125
#define MAX_FILES 64
#define INNER_ID 65534

struct options {
  int check;
  unsigned long long work_bytes, tmp_bytes, inodes;
  long long cpu, as, nproc, fsize, uid;
  char** argv;
};

static void fail(const char* step) {
  fprintf(stderr, "lowbit-sandbox: %s: %s\n", step, errno ? strerror(errno) : "failed");
  _exit(FAIL_STATUS);
}

static void failf(const char* step, const char* what) {
  fprintf(stderr, "lowbit-sandbox: %s: %s: %s\n", step, what, errno ? strerror(errno) : "failed");
  _exit(FAIL_STATUS);
}

static unsigned long long parse_num(const char* flag, const char* s) {
  char* end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s ? s : "", &end, 10);
  if (!s || !*s || *end || errno || v == 0) {
    errno = 0;
    failf("bad option", flag);
  }
  return v;
}

static struct options parse(int argc, char** argv) {
  struct options o = {0, 64ull << 20, 64ull << 20, 4096, -1, -1, -1, -1, -1, NULL};
  int i = 1;
  for (; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) { i++; break; }
    if (!strcmp(a, "--check")) { o.check = 1; continue; }
    if (!strcmp(a, "--work-bytes")) o.work_bytes = parse_num(a, v);
    else if (!strcmp(a, "--tmp-bytes")) o.tmp_bytes = parse_num(a, v);
    else if (!strcmp(a, "--inodes")) o.inodes = parse_num(a, v);
    else if (!strcmp(a, "--cpu")) o.cpu = (long long)parse_num(a, v);
    else if (!strcmp(a, "--as")) o.as = (long long)parse_num(a, v);
    else if (!strcmp(a, "--nproc")) o.nproc = (long long)parse_num(a, v);
    else if (!strcmp(a, "--fsize")) o.fsize = (long long)parse_num(a, v);
    else if (!strcmp(a, "--uid")) o.uid = (long long)parse_num(a, v);
    else { errno = 0; failf("unknown option", a); }
    i++;
  }
  if (i < argc) o.argv = argv + i;
  if (!o.check && !o.argv) { errno = 0; fail("no program given"); }
  return o;
}

/* --- small helpers ------------------------------------------------------ */

static void write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) failf("open", path);
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) failf("write", path);
  close(fd);
}

static void map_ids(unsigned inner, unsigned outer) {
  char line[64];
  write_file("/proc/self/setgroups", "deny");
  snprintf(line, sizeof line, "%u %u 1\n", inner, outer);
  write_file("/proc/self/uid_map", line);
  write_file("/proc/self/gid_map", line);
}

static void close_extra_fds(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
  for (int fd = 3; fd < 65536; fd++) close(fd);
}

static void mkdir_in(const char* root, const char* name, mode_t mode) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", root, name);
  if (mkdir(p, mode) != 0 && errno != EEXIST) failf("mkdir", p);
  chmod(p, mode); /* not subject to the umask */
}

static void mount_tmpfs(const char* at, unsigned long long bytes, unsigned long long inodes, const char* mode) {
  char opts[128];
  snprintf(opts, sizeof opts, "size=%llu,nr_inodes=%llu,mode=%s", bytes, inodes, mode);
  if (mount("none", at, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) failf("mount tmpfs", at);
}

/* Bind `src` at `dst` read-only, keeping the flags the source mount has (a
 * user namespace may not clear nosuid/nodev/noexec of a mount it inherited). */
static void bind_ro(const char* src, const char* dst, int recursive) {
  struct statvfs sv;
  if (statvfs(src, &sv) != 0) failf("statvfs", src);
  if (mount(src, dst, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) != 0) failf("bind mount", src);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID;
  if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  if (mount(NULL, dst, NULL, flags, NULL) != 0) failf("remount read-only", dst);
}

/* --- the new root ------------------------------------------------------- */

static void add_system_dir(const char* root, const char* name) {
  char src[256], dst[4096], target[4096];
  struct stat st;
  snprintf(src, sizeof src, "/%s", name);
  if (lstat(src, &st) != 0) return; /* absent here (e.g. /lib32) */
  snprintf(dst, sizeof dst, "%s/%s", root, name);
  if (S_ISLNK(st.st_mode)) { /* merged /usr: /bin -> usr/bin */
    ssize_t n = readlink(src, target, sizeof target - 1);
    if (n < 0) failf("readlink", src);
    target[n] = 0;
    if (symlink(target, dst) != 0) failf("symlink", dst);
  } else if (S_ISDIR(st.st_mode)) {
    mkdir_in(root, name, 0755);
    bind_ro(src, dst, 1);
  }
}

static void add_device(const char* root, const char* name) {
  char src[64], dst[4096];
  snprintf(src, sizeof src, "/dev/%s", name);
  snprintf(dst, sizeof dst, "%s/dev/%s", root, name);
  int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) failf("create", dst);
  close(fd);
  if (mount(src, dst, NULL, MS_BIND, NULL) != 0) failf("bind mount", src);
}

static void add_symlink(const char* root, const char* name, const char* target) {
  char dst[4096];
  snprintf(dst, sizeof dst, "%s/%s", root, name);
  if (symlink(target, dst) != 0) failf("symlink", dst);
}

/* Copies the regular files of the staging directory (not "root") into dst. */
static void copy_files(int from_dir, const char* dst, unsigned long long budget) {
  DIR* d = fdopendir(dup(from_dir));
  if (!d) fail("open the staging directory");
  struct dirent* e;
  int count = 0;
  char buf[65536], path[4096];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "root")) continue;
    int in = openat(from_dir, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) failf("open", e->d_name);
    if (!S_ISREG(st.st_mode)) { errno = 0; failf("not a regular file", e->d_name); }
    if (++count > MAX_FILES) { errno = 0; fail("too many files to copy"); }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dst, e->d_name) >= sizeof path) { errno = ENAMETOOLONG; failf("path", e->d_name); }
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) failf("create", path);
    for (;;) {
      ssize_t n = read(in, buf, sizeof buf);
      if (n < 0) failf("read", e->d_name);
      if (n == 0) break;
      if ((unsigned long long)n > budget) { errno = 0; fail("the files exceed --work-bytes"); }
      budget -= (unsigned long long)n;
      if (write(out, buf, (size_t)n) != n) failf("write", path);
    }
    close(in);
    close(out);
  }
  closedir(d);
}

static void build_root(const struct options* o) {
  int staging = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (staging < 0) fail("open the staging directory");
  /* paths relative to the staging directory: its ancestors need not be searchable by this uid */
  const char* root = "root";
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make mounts private");
  mount_tmpfs(root, 1 << 20, 256, "755");
  static const char* system_dirs[] = {"usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"};
  for (size_t i = 0; i < sizeof system_dirs / sizeof *system_dirs; i++) add_system_dir(root, system_dirs[i]);
  mkdir_in(root, "etc", 0755);
  mkdir_in(root, "dev", 0755);
  static const char* devices[] = {"null", "zero", "full", "random", "urandom"};
  for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) add_device(root, devices[i]);
  add_symlink(root, "dev/fd", "/proc/self/fd");
  add_symlink(root, "dev/stdin", "/proc/self/fd/0");
  add_symlink(root, "dev/stdout", "/proc/self/fd/1");
  add_symlink(root, "dev/stderr", "/proc/self/fd/2");
  char p[4096];
  mkdir_in(root, "dev/shm", 01777);
  snprintf(p, sizeof p, "%s/dev/shm", root);
  mount_tmpfs(p, o->tmp_bytes, o->inodes, "1777");
  mkdir_in(root, "tmp", 01777);
  snprintf(p, sizeof p, "%s/tmp", root);
  mount_tmpfs(p, o->tmp_bytes, o->inodes, "1777");
  mkdir_in(root, "sandbox", 0755);
  snprintf(p, sizeof p, "%s/sandbox", root);
  mount_tmpfs(p, o->work_bytes, o->inodes, "755");
  copy_files(staging, p, o->work_bytes);
  close(staging);
  mkdir_in(root, "proc", 0555);
  snprintf(p, sizeof p, "%s/proc", root);
  if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount /proc");
  mkdir_in(root, ".old", 0700);
  if (chdir(root) != 0) fail("chdir to the new root");
  if (syscall(SYS_pivot_root, ".", ".old") != 0) fail("pivot_root");
  if (chdir("/") != 0) fail("chdir /");
  if (umount2("/.old", MNT_DETACH) != 0) fail("detach the host's root");
  if (rmdir("/.old") != 0) fail("rmdir /.old");
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) fail("remount / read-only");
  if (sethostname("sandbox", 7) != 0) fail("sethostname");
}

/* --- P: the last layers before the program ------------------------------ */

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#else
#error "lowbit-sandbox: seccomp filter written for x86-64 and aarch64 only"
#endif

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */)
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static void install_seccomp(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
      /* the x32 ABI's numbers: refuse them all */
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
      /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      /* clone: refuse namespace flags (argument 0 on x86-64 and aarch64) */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      DENY(__NR_mount), DENY(__NR_umount2), DENY(__NR_pivot_root), DENY(__NR_chroot),
      DENY(__NR_unshare), DENY(__NR_setns), DENY(__NR_ptrace), DENY(__NR_process_vm_readv),
      DENY(__NR_process_vm_writev), DENY(__NR_keyctl), DENY(__NR_add_key), DENY(__NR_request_key),
      DENY(__NR_bpf), DENY(__NR_perf_event_open), DENY(__NR_userfaultfd), DENY(__NR_init_module),
      DENY(__NR_finit_module), DENY(__NR_delete_module), DENY(__NR_kexec_load), DENY(__NR_kexec_file_load),
      DENY(__NR_reboot), DENY(__NR_swapon), DENY(__NR_swapoff), DENY(__NR_syslog), DENY(__NR_acct),
      DENY(__NR_quotactl), DENY(__NR_open_by_handle_at), DENY(__NR_name_to_handle_at),
      DENY(__NR_fsopen), DENY(__NR_fsconfig), DENY(__NR_fsmount), DENY(__NR_fspick),
      DENY(__NR_move_mount), DENY(__NR_open_tree), DENY(__NR_mount_setattr), DENY(__NR_sethostname),
      DENY(__NR_setdomainname), DENY(__NR_kcmp), DENY(__NR_pidfd_getfd), DENY(__NR_personality),
#if defined(__x86_64__)
      DENY(__NR_iopl), DENY(__NR_ioperm), DENY(__NR_modify_ldt),
#endif
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof *f), f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) fail("install the seccomp filter");
}

static void drop_capabilities(void) {
  for (int cap = 0; cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("drop the bounding set");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) fail("clear the ambient set");
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &h, d) != 0) fail("clear the capability sets");
}

static void set_limit(int resource, long long v, const char* name) {
  if (v < 0) return;
  struct rlimit r = {(rlim_t)v, (rlim_t)v};
  if (resource == RLIMIT_CPU) r.rlim_max = (rlim_t)v + 1; /* SIGXCPU at v s, SIGKILL one second later */
  if (setrlimit(resource, &r) != 0) fail(name);
}

static void enter_program(const struct options* o) {
  if (chdir("/sandbox") != 0) fail("chdir /sandbox");
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) fail("unshare the inner user namespace");
  map_ids(INNER_ID, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
  set_limit(RLIMIT_CPU, o->cpu, "RLIMIT_CPU");
  set_limit(RLIMIT_AS, o->as, "RLIMIT_AS");
  set_limit(RLIMIT_NPROC, o->nproc, "RLIMIT_NPROC");
  set_limit(RLIMIT_FSIZE, o->fsize, "RLIMIT_FSIZE");
  set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  drop_capabilities();
  install_seccomp();
  if (o->check) _exit(0);
  execvp(o->argv[0], o->argv);
  failf("execvp", o->argv[0]);
}

/* --- the process tree --------------------------------------------------- */

static int status_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return FAIL_STATUS;
}

/* Waits for `pid`, reaping any other child meanwhile; returns its status. */
static int wait_for(pid_t pid) {
  for (;;) {
    int st;
    pid_t w = waitpid(-1, &st, __WALL);
    if (w == pid) return status_of(st);
    if (w < 0 && errno != EINTR) return FAIL_STATUS;
  }
}

static void become(long long id) {
  if (id < 0) return;
  if (getuid() != 0) { errno = EPERM; fail("--uid needs root"); }
  if (setgroups(0, NULL) != 0) fail("setgroups");
  if (setresgid((gid_t)id, (gid_t)id, (gid_t)id) != 0) fail("setresgid");
  if (setresuid((uid_t)id, (uid_t)id, (uid_t)id) != 0) fail("setresuid");
  if (getuid() != (uid_t)id || geteuid() != (uid_t)id) { errno = EPERM; fail("setresuid"); }
  /* a uid change leaves the process non-dumpable: /proc/self would stay root's and the id maps unwritable */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail("PR_SET_DUMPABLE");
}

int main(int argc, char** argv) {
  struct options o = parse(argc, argv);
  close_extra_fds();
  become(o.uid);
  uid_t uid = getuid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
    fail("unshare (user namespaces unavailable?)");
  map_ids(0, uid);
  pid_t init = fork();
  if (init < 0) fail("fork");
  if (init > 0) _exit(wait_for(init));
  /* C: PID 1 of the new PID namespace */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("PR_SET_PDEATHSIG");
  build_root(&o);
  pid_t prog = fork();
  if (prog < 0) fail("fork");
  if (prog == 0) enter_program(&o);
  _exit(wait_for(prog)); /* PID 1 exiting kills every process left in the namespace */
}
