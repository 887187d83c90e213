// `npm run workshop`: builds the playground and serves it to a class on the local network over
// https, with the models fetched beforehand (`npm run fetch-model -- <owner/name>`) served from
// the same origin. https because browsers give WebGPU and cross-origin isolation (threaded WASM)
// only to secure contexts, and a LAN address over plain http is not one. The certificate is
// @vitejs/plugin-basic-ssl's self-signed one (students accept it once), or the teacher's own
// with --cert/--key. Prints the address and a QR code to put on the projector.
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import basicSsl from '@vitejs/plugin-basic-ssl';
import QRCode from 'qrcode';
import { type PreviewServer, build, preview } from 'vite';
import { DEFAULT_WORKSHOP_DIR } from '../src/cli/fetch-model.ts';
import { listServedModels, serveWorkshopModels } from '../vite-plugins/workshop-models.ts';

export interface WorkshopOptions {
  port: number;
  /** the interface to listen on; 0.0.0.0 (every one) for a class */
  host: string;
  models: string;
  /** serve an existing build instead of building */
  dist: string;
  build: boolean;
  cert?: string;
  key?: string;
}

/** The https addresses students can reach: every non-internal IPv4 interface (or the one host given). */
export function lanAddresses(host: string, port: number): string[] {
  if (host !== '0.0.0.0') return [`https://${host}:${port}/`];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(`https://${a.address}:${port}/`);
  }
  return out.length ? out : [`https://localhost:${port}/`];
}

export async function startWorkshop(o: WorkshopOptions): Promise<PreviewServer> {
  if (o.build) await build({ mode: 'production', logLevel: 'warn', build: { outDir: o.dist } });
  const own = o.cert && o.key ? { cert: await readFile(o.cert), key: await readFile(o.key) } : null;
  return preview({
    mode: 'production',
    logLevel: 'warn',
    build: { outDir: o.dist },
    plugins: [...(own ? [] : [basicSsl({ name: 'atman-workshop' })]), serveWorkshopModels(resolve(o.models))],
    preview: { host: o.host, port: o.port, strictPort: true, ...(own ? { https: own } : {}) },
  });
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8443' },
      host: { type: 'string', default: '0.0.0.0' },
      models: { type: 'string', default: DEFAULT_WORKSHOP_DIR },
      dist: { type: 'string', default: 'dist' },
      'no-build': { type: 'boolean', default: false },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) throw new Error(`--port takes a port number (1 to 65535), not "${values.port}".`);
  if (!!values.cert !== !!values.key) throw new Error('Give --cert and --key together (PEM files), or neither for a self-signed certificate.');
  const models = await listServedModels(resolve(values.models));
  await startWorkshop({ port, host: values.host, models: values.models, dist: values.dist, build: !values['no-build'], ...(values.cert ? { cert: values.cert, key: values.key! } : {}) });
  const urls = lanAddresses(values.host, port);
  const out = process.stdout;
  out.write(`\nThe playground is served on:\n${urls.map((u) => `  ${u}`).join('\n')}\n\n`);
  out.write(await QRCode.toString(urls[0]!, { type: 'terminal', small: true }));
  out.write(
    values.cert
      ? '\nWith your certificate: no warning if it is valid for that address.\n'
      : '\nThe certificate is self-signed: each browser asks once to proceed ("Advanced" → "Proceed").\n',
  );
  out.write(
    models.length
      ? `\nModels served from this machine (${resolve(values.models)}):\n${models.map((m) => `  ${m.repo}  ${m.onnx.join(', ')}  ${(m.bytes / 1e6).toFixed(0)} MB`).join('\n')}\n`
      : `\nNo fetched models in ${resolve(values.models)}: the bundled demos work; add hub models with npm run fetch-model -- <owner/name>.\n`,
  );
  out.write('\nStop with Ctrl+C.\n');
}

if (process.argv[1]?.endsWith('workshop.ts')) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
