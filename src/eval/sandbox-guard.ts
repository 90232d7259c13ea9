/**
 * The Python preamble of the sandbox (see sandbox.ts and docs/EVAL.md). It runs
 * in the sandboxed interpreter before the untrusted program:
 *
 *   1. resource limits: RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE,
 *      RLIMIT_CORE=0 (soft = hard, so the program cannot raise them again);
 *   2. reads the untrusted program (prog.py in the sandbox directory);
 *   3. installs an audit hook (PEP 578) that refuses, with PermissionError:
 *      - opening, listing, changing to, removing or renaming any path outside
 *        the sandbox directory, except reading the Python installation's own
 *        library directories (imports of the standard library must work);
 *      - socket connect/bind/sendto (the network namespace is the main wall);
 *      - starting other programs (subprocess, os.system, os.exec*, spawn),
 *        which would run without this hook;
 *      - ctypes (which can rewrite the interpreter's memory, hook included);
 *   4. executes the program as __main__ and exits with a per-run random status
 *      when it ran to its end: exit(0), sys.exit() or os._exit(0) from the
 *      program is a failure, as SystemExit is in the original harness (the
 *      preamble and prog.py are deleted before the program runs, so the
 *      status is not in a file it could read).
 */
export interface GuardLimits {
  cpuSeconds: number;
  memoryBytes: number;
  maxProcesses: number;
  maxFileBytes: number;
  auditHook: boolean;
  /** exit status that means "ran to the end" (random per run, so exit(0) is not a pass) */
  passCode: number;
}

export function guardSource(l: GuardLimits): string {
  return `import os, sys, resource, sysconfig
def _lim(name, v):
    r = getattr(resource, name, None)
    if r is None:
        return
    try:
        resource.setrlimit(r, (v, v))
    except (ValueError, OSError):
        pass
try:
    resource.setrlimit(resource.RLIMIT_CPU, (${l.cpuSeconds}, ${l.cpuSeconds + 1}))
except (ValueError, OSError):
    pass
_lim("RLIMIT_AS", ${l.memoryBytes})
_lim("RLIMIT_NPROC", ${l.maxProcesses})
_lim("RLIMIT_FSIZE", ${l.maxFileBytes})
_lim("RLIMIT_CORE", 0)
sys.dont_write_bytecode = True
_HERE = os.path.realpath(os.getcwd())
with open(os.path.join(_HERE, "prog.py"), "r", encoding="utf-8") as _f:
    _SRC = _f.read()
os.remove(os.path.join(_HERE, "prog.py"))
os.remove(os.path.abspath(__file__))
_LIBS = set()
for _k in ("stdlib", "platstdlib", "purelib", "platlib"):
    try:
        _LIBS.add(os.path.realpath(sysconfig.get_paths()[_k]))
    except Exception:
        pass
_LIBS = tuple(sorted(_LIBS))
_PATH_EVENTS = {"os.listdir", "os.scandir", "os.chdir", "os.remove", "os.rmdir", "os.rename", "os.mkdir",
                "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate", "os.utime", "shutil.rmtree",
                "shutil.copyfile", "shutil.move", "glob.glob", "os.startfile"}
_DENY = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "subprocess.Popen", "os.system",
         "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn", "ctypes.", "os.forkpty", "os.add_dll_directory",
         "sys.setprofile.", "sys.settrace.", "cpython.remote_debugger_script", "os.startfile")
def _inside(p, base):
    return p == base or p.startswith(base + os.sep)
def _check(path, write):
    if isinstance(path, int) or path is None:
        return
    try:
        p = os.fsdecode(os.fspath(path))
    except TypeError:
        return
    full = os.path.realpath(os.path.join(_HERE, p))
    if _inside(full, _HERE):
        return
    if not write and any(_inside(full, b) for b in _LIBS):
        return
    raise PermissionError("sandbox: access outside the sandbox directory refused: " + p)
def _make_hook():
    busy = [False]  # a closure cell, not a global the program could reach through sys.modules
    def hook(event, args):
        if busy[0]:
            return
        busy[0] = True
        try:
            if event == "open":
                mode, flags = args[1], args[2] if len(args) > 2 else 0
                write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
                _check(args[0], write)
            elif event in _PATH_EVENTS:
                for a in args[:2]:
                    if isinstance(a, (str, bytes, os.PathLike)):
                        _check(a, event not in ("os.listdir", "os.scandir", "os.chdir", "glob.glob"))
            elif event.startswith(_DENY):
                raise PermissionError("sandbox: " + event + " refused")
        finally:
            busy[0] = False
    return hook
${l.auditHook ? "sys.addaudithook(_make_hook())" : "pass"}
del _f, _k
_PASS = ${l.passCode}
import types as _types
_main = _types.ModuleType("__main__")
_main.__builtins__ = __builtins__
sys.modules["__main__"] = _main  # the program's own module: the preamble's globals are not its __main__
try:
    exec(compile(_SRC, os.path.join(_HERE, "prog.py"), "exec"), _main.__dict__)
except SystemExit as _e:
    sys.stderr.write("sandbox: the program called exit(%r) before it ended\\n" % (_e.code,))
    sys.stderr.flush()
    os._exit(1)
try:
    sys.stdout.flush()
    sys.stderr.flush()
finally:
    os._exit(_PASS)
`;
}
