// The worker's watch on onnxruntime's GPU device, against a device whose loss the test decides
// (the real device, destroyed mid-run, is e2e/engine-client.spec.ts).
import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../src/core/errors';
import { createDeviceWatch } from './device-watch';

function device() {
  let lose: (info: { reason: string; message: string }) => void = () => {};
  const lost = new Promise<{ reason: string; message: string }>((r) => (lose = r));
  return { d: { lost, destroy: () => lose({ reason: 'destroyed', message: 'Device was destroyed.' }) } };
}
const codeOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (isAtmanError(e) ? e.code : (e as Error).message));

describe('device watch', () => {
  it('passes results and errors through while the device is fine', async () => {
    const w = createDeviceWatch();
    w.watch(Promise.resolve(device().d));
    expect(await w.guard(async () => 7)).toBe(7);
    expect(await codeOf(w.guard(() => Promise.reject(new Error('Invalid input shape'))))).toBe('Invalid input shape');
  });

  it('ends a run that never settles when the device is lost, and refuses runs after', async () => {
    const w = createDeviceWatch();
    const { d } = device();
    w.watch(d);
    const run = codeOf(w.guard(() => new Promise(() => {})));
    d.destroy();
    expect(await run).toBe('DEVICE_LOST');
    expect(w.lost).toBe('destroyed: Device was destroyed.');
    expect(await codeOf(w.guard(async () => 1))).toBe('DEVICE_LOST');
  });

  it("blames the device for a backend error that came just before the browser settled `lost`", async () => {
    const w = createDeviceWatch();
    const { d } = device();
    w.watch(d);
    const run = codeOf(
      w.guard(async () => {
        setTimeout(() => d.destroy(), 50);
        throw new Error('failed to call OrtRun(). ... Failed to download data from buffer. wgpu::MapAsyncStatus value: 4');
      }),
    );
    expect(await run).toBe('DEVICE_LOST');
  });

  it('a device destroyed after forget() (onnxruntime releasing its last session) is no loss; the next device is watched', async () => {
    const w = createDeviceWatch();
    const first = device();
    w.watch(first.d);
    await Promise.resolve();
    w.forget();
    first.d.destroy();
    await new Promise((r) => setTimeout(r, 0));
    expect(w.lost).toBeNull();
    const second = device();
    w.watch(second.d);
    await Promise.resolve();
    expect(await w.guard(async () => 2)).toBe(2);
    second.d.destroy();
    await new Promise((r) => setTimeout(r, 0));
    expect(w.lost).toBe('destroyed: Device was destroyed.');
  });
});
