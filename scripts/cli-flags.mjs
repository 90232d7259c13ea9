// The bench scripts' command lines: `args` (process.argv after the script) and
// flag(name, default), the value after `--name` (default when absent).
export function cliFlags(args = process.argv.slice(2)) {
  const flag = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  return { args, flag };
}
