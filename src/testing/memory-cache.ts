// Cache Storage in memory for the model-cache tests: Responses are kept as bytes plus headers, as
// the browser's Cache Storage keeps them, so a cached answer reads back like a fresh one.
import type { CacheLike } from '../runtime/sources/model-cache';

export class MemoryCache implements CacheLike {
  readonly store = new Map<string, { body: Uint8Array; headers: [string, string][] }>();
  async match(url: string): Promise<Response | undefined> {
    const e = this.store.get(url);
    return e ? new Response(new Blob([e.body as Uint8Array<ArrayBuffer>]), { headers: e.headers }) : undefined;
  }
  async put(url: string, res: Response): Promise<void> {
    this.store.set(url, { body: new Uint8Array(await res.arrayBuffer()), headers: [...res.headers] });
  }
  async delete(url: string): Promise<boolean> {
    return this.store.delete(url);
  }
  async keys(): Promise<Array<{ url: string }>> {
    return [...this.store.keys()].map((url) => ({ url }));
  }
}
