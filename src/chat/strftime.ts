/**
 * Python's `datetime.strftime` in the C locale, for chat templates'
 * `strftime_now` (transformers passes `datetime.now().strftime`; Llama 3.x
 * templates print "Today Date: 15 Jan 2026" with it). Directives other than
 * these are left as written.
 */
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** day of the year, 1-based (Python's %j) */
function dayOfYear(d: Date): number {
  return Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1)) / 86_400_000) + 1;
}

export function strftime(d: Date, format: string): string {
  return format.replace(/%[YymdebBaAHIMSpj%]/g, (t) => {
    switch (t) {
      case "%Y": return String(d.getFullYear());
      case "%y": return pad(d.getFullYear() % 100);
      case "%m": return pad(d.getMonth() + 1);
      case "%d": return pad(d.getDate());
      case "%e": return String(d.getDate()).padStart(2, " ");
      case "%b": return MONTHS[d.getMonth()]!.slice(0, 3);
      case "%B": return MONTHS[d.getMonth()]!;
      case "%a": return DAYS[d.getDay()]!.slice(0, 3);
      case "%A": return DAYS[d.getDay()]!;
      case "%H": return pad(d.getHours());
      case "%I": return pad(d.getHours() % 12 || 12);
      case "%M": return pad(d.getMinutes());
      case "%S": return pad(d.getSeconds());
      case "%p": return d.getHours() < 12 ? "AM" : "PM";
      case "%j": return pad(dayOfYear(d), 3);
      default: return "%";
    }
  });
}
