/**
 * A local stand-in for the Hugging Face Hub: it answers the requests
 * @huggingface/hub makes the way huggingface.co does, so src/hub/ runs against
 * it through hubUrl / HF_ENDPOINT and nothing in the tests reaches the network.
 *
 *   GET /api/models/O/R/revision/REV?expand=...   model info (sha = the commit); a missing repo: 401, X-Error-Code RepoNotFound
 *   GET /api/models/O/R/tree/REV?recursive=true   the file list in pages (Link: <...>; rel="next"): type, oid (git blob
 *                                                 sha1), size, lfs {oid (sha256), size, pointerSize}; directories too
 *   GET /O/R/resolve/REV/PATH                     small files: the bytes (ETag = git oid); LFS files: 302 to
 *                                                 /lfs-store/SHA256 with X-Linked-Size / X-Linked-ETag; a missing
 *                                                 file: 404, X-Error-Code EntryNotFound
 *   GET /lfs-store/SHA256                         the LFS bytes; Range: bytes=S-E / S- answered 206 + Content-Range
 *
 * Faults for the tests: `serve` bytes that differ from the listed ones (a bad
 * download), `cut` the next body of a file after N bytes (a broken connection).
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeFile {
  data: Buffer;
  /** stored in LFS (a redirect, an lfs entry in the listing): files over 10 MB on the Hub, any file here */
  lfs?: boolean;
  /** the bytes actually served, when they differ from the listed `data` */
  serve?: Buffer;
}

export interface FakeRepo {
  commit: string;
  files: Record<string, FakeFile>;
}

export interface SeenRequest {
  method: string;
  path: string;
  range?: string;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitOid = (b: Buffer) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: SeenRequest[] = [];
  /** repository path -> bytes of the next full or ranged body after which the connection is destroyed */
  readonly cut = new Map<string, number>();
  /** entries per page of the tree listing */
  pageSize = 3;
  private server: Server | undefined;
  url = "";

  addRepo(name: string, files: Record<string, FakeFile>, commit = createHash("sha1").update(name).digest("hex")): void {
    this.repos.set(name, { commit, files });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((ok) => this.server!.listen(0, "127.0.0.1", ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  /** requests whose path includes `part` */
  seen(part: string): SeenRequest[] {
    return this.requests.filter((r) => r.path.includes(part));
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  }

  private notFound(res: ServerResponse, code: "RepoNotFound" | "EntryNotFound", message: string): void {
    // the Hub answers an anonymous request for a missing (or private) repository with 401
    this.json(res, code === "RepoNotFound" ? 401 : 404, { error: message }, { "X-Error-Code": code, "X-Error-Message": message });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const range = req.headers.range;
    this.requests.push({ method: req.method ?? "GET", path: url.pathname, ...(range ? { range } : {}) });
    const p = decodeURIComponent(url.pathname);
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, "RepoNotFound", "Repository not found");
      return this.json(res, 200, {
        _id: createHash("md5").update(m[1]!).digest("hex").slice(0, 24), id: m[1], sha: repo.commit, private: false, gated: false,
        downloads: 0, likes: 0, lastModified: "2026-01-01T00:00:00.000Z", pipeline_tag: "text-generation",
        siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })),
      });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, "RepoNotFound", "Repository not found");
      if (m[2] !== repo.commit && m[2] !== "main") return this.json(res, 404, { error: `Invalid rev id: ${m[2]}` }, { "X-Error-Code": "RevisionNotFound" });
      const entries: unknown[] = [];
      const dirs = new Set<string>();
      for (const [path, f] of Object.entries(repo.files).sort(([a], [b]) => a.localeCompare(b))) {
        const parts = path.split("/");
        for (let i = 1; i < parts.length; i++) {
          const dir = parts.slice(0, i).join("/");
          if (!dirs.has(dir)) {
            dirs.add(dir);
            entries.push({ type: "directory", oid: gitOid(Buffer.from(dir)), size: 0, path: dir });
          }
        }
        entries.push({
          type: "file", oid: gitOid(f.data), size: f.data.length, path,
          ...(f.lfs ? { lfs: { oid: sha256(f.data), size: f.data.length, pointerSize: 134 } } : {}),
        });
      }
      const start = Number(url.searchParams.get("cursor") ?? 0);
      const page = entries.slice(start, start + this.pageSize);
      const headers: Record<string, string> = {};
      if (start + this.pageSize < entries.length) {
        const next = new URL(url);
        next.searchParams.set("cursor", String(start + this.pageSize));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      return this.json(res, 200, page, headers);
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, "RepoNotFound", "Repository not found");
      const f = repo.files[m[3]!];
      if (!f) return this.notFound(res, "EntryNotFound", `${m[3]} does not exist on "${m[2]}"`);
      if (f.lfs) {
        res.writeHead(302, {
          Location: `/lfs-store/${sha256(f.data)}?path=${encodeURIComponent(`${m[1]}/${m[3]}`)}`,
          "X-Linked-Size": String(f.data.length), "X-Linked-ETag": `"${sha256(f.data)}"`, ETag: `"${gitOid(f.data)}"`,
        });
        return void res.end();
      }
      return this.body(req, res, `${m[1]}/${m[3]}`, f.serve ?? f.data, `"${gitOid(f.data)}"`);
    }
    if ((m = /^\/lfs-store\/([0-9a-f]{64})$/.exec(p))) {
      const key = url.searchParams.get("path") ?? "";
      const [owner, name, ...rest] = key.split("/");
      const f = this.repos.get(`${owner}/${name}`)?.files[rest.join("/")];
      if (!f || sha256(f.data) !== m[1]) return this.json(res, 404, { error: "not found" });
      return this.body(req, res, key, f.serve ?? f.data, `"${m[1]}"`);
    }
    this.json(res, 404, { error: "Not Found" });
  }

  /** The bytes with Range support; `cut` breaks a body (not the one-byte probes) after its count. */
  private body(req: IncomingMessage, res: ServerResponse, key: string, data: Buffer, etag: string): void {
    let start = 0, end = data.length - 1, status = 200;
    const range = req.headers.range;
    if (range) {
      const r = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!r || Number(r[1]) >= data.length) {
        res.writeHead(416, { "Content-Range": `bytes */${data.length}` });
        return void res.end();
      }
      start = Number(r[1]);
      end = r[2] ? Math.min(Number(r[2]), data.length - 1) : data.length - 1;
      status = 206;
    }
    const slice = data.subarray(start, end + 1);
    res.writeHead(status, {
      "Content-Type": "application/octet-stream", "Content-Length": String(slice.length), "Accept-Ranges": "bytes", ETag: etag,
      ...(status === 206 ? { "Content-Range": `bytes ${start}-${end}/${data.length}` } : {}),
    });
    const cutAt = this.cut.get(key.split("/").slice(2).join("/")) ?? this.cut.get(key);
    if (cutAt !== undefined && slice.length > 1) {
      this.cut.delete(key.split("/").slice(2).join("/"));
      this.cut.delete(key);
      // the connection breaks mid-body: the client sees fewer bytes than Content-Length
      res.write(slice.subarray(0, cutAt), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  }
}
