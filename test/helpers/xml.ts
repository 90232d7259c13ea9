/**
 * A strict little XML well-formedness check for the SVG charts (no XML
 * dependency): one root, every tag closed in order, attributes quoted and
 * unique, text and attribute values free of raw "<" and of "&" outside
 * entities. Returns the elements found, with their attributes and text.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const unescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");

function checkText(s: string, where: string): void {
  if (s.includes("<")) throw new Error(`raw "<" in ${where}`);
  if (s.replace(ENTITY, "").includes("&")) throw new Error(`raw "&" in ${where}: ${s.slice(0, 60)}`);
}

export function parseXml(doc: string): XmlElement[] {
  let s = doc.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: XmlElement[] = [];
  const all: XmlElement[] = [];
  let roots = 0;
  while (s.length) {
    const lt = s.indexOf("<");
    const text = lt < 0 ? s : s.slice(0, lt);
    checkText(text, "text");
    if (text.trim() && stack.length === 0) throw new Error("text outside the root element");
    if (stack.length) stack[stack.length - 1]!.text += unescape(text);
    if (lt < 0) break;
    s = s.slice(lt);
    const close = /^<\/([A-Za-z][\w:.-]*)\s*>/.exec(s);
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== close[1]) throw new Error(`</${close[1]}> closes <${top?.name ?? "nothing"}>`);
      s = s.slice(close[0].length);
      continue;
    }
    const open = /^<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(s);
    if (!open) throw new Error(`malformed tag at ${JSON.stringify(s.slice(0, 60))}`);
    const attrs: Record<string, string> = {};
    for (const m of open[2]!.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      if (m[1]! in attrs) throw new Error(`duplicate attribute ${m[1]} on <${open[1]}>`);
      const v = m[2] ?? m[3] ?? "";
      checkText(v, `attribute ${m[1]}`);
      attrs[m[1]!] = unescape(v);
    }
    if (stack.length === 0 && ++roots > 1) throw new Error("more than one root element");
    const el: XmlElement = { name: open[1]!, attrs, text: "" };
    all.push(el);
    if (!open[3]) stack.push(el);
    s = s.slice(open[0].length);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (roots !== 1) throw new Error("no root element");
  return all;
}
