// The backend badge's cause when there is no WebGPU: a plain-http page on a LAN address is not a
// secure context, and that, not the browser, is why (see gpuMissingReason).
import { describe, expect, it } from 'vitest';
import { gpuMissingReason, probeWebGpu } from './web-backend';

describe('gpuMissingReason', () => {
  it('a non-secure context says WebGPU and cross-origin isolation need https or localhost', () => {
    expect(gpuMissingReason({ isSecureContext: false, origin: 'http://192.168.1.20:5173' })).toBe(
      'this page is not a secure context (http://192.168.1.20:5173): WebGPU and cross-origin isolation need https or localhost',
    );
    expect(gpuMissingReason({ isSecureContext: false })).toMatch(/not a secure context \(plain http\)/);
  });

  it('a secure context (or one that does not say) without WebGPU blames the browser', () => {
    expect(gpuMissingReason({ isSecureContext: true, origin: 'https://example.org' })).toBe('WebGPU unavailable in this browser');
    expect(gpuMissingReason({})).toBe('WebGPU unavailable in this browser');
  });

  it('the probe reads the running context: Node has no navigator.gpu and no isSecureContext', async () => {
    expect(await probeWebGpu()).toEqual({ webgpu: false, adapter: null, shaderF16: false, reason: 'WebGPU unavailable in this browser' });
  });
});
