import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../../core/errors';
import { checkModelFolder, pickedFolderSource } from './picked-folder';

describe('checkModelFolder', () => {
  const words = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      expect(isAtmanError(e, 'MODEL_FILES_MISSING')).toBe(true);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  it('accepts a model folder and names what a non-model folder lacks', () => {
    expect(() => checkModelFolder('m', ['config.json', 'tokenizer.json', 'onnx/model.onnx'])).not.toThrow();
    const msg = words(() => checkModelFolder('Photos', ['a.jpg', 'b.jpg']));
    expect(msg).toContain('"Photos" is not a model folder');
    expect(msg).toContain('config.json, tokenizer.json, onnx/model.onnx');
    expect(msg).toContain('It holds a.jpg, b.jpg.');
  });

  it('hints at the usual mistakes', () => {
    expect(words(() => checkModelFolder('onnx', ['model.onnx', 'model_q4.onnx']))).toMatch(/pick the model's own folder/);
    expect(words(() => checkModelFolder('m', ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx'], 'fp32'))).toMatch(/has the q4 variant; choose that \(or auto\) instead of fp32/);
    // auto takes whatever graph is there; a vision-language folder has no model.onnx at all
    expect(() => checkModelFolder('m', ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx'])).not.toThrow();
    expect(() => checkModelFolder('m', ['config.json', 'tokenizer.json', 'onnx/decoder_model_merged_q4f16.onnx'], 'q4f16')).not.toThrow();
    expect(words(() => checkModelFolder('m', ['config.json', 'tokenizer.json', 'onnx/model_q4f16.onnx'], 'q4'))).toMatch(/has the q4f16 variant/);
    expect(words(() => checkModelFolder('m', ['a/config.json', 'b/config.json']))).toMatch(/several models \(a, b\)/);
    expect(words(() => checkModelFolder('m', []))).toMatch(/It is empty/);
  });

  it('pickedFolderSource reads files by their model-relative path even from raw picker paths', async () => {
    const src = pickedFolderSource('m', [
      { path: 'm/config.json', file: new Blob(['{"a":1}']) },
      { path: 'm/tokenizer.json', file: new Blob(['{}']) },
      { path: 'm/onnx/model_q4.onnx', file: new Blob(['q4']) },
    ], 'q4');
    expect(await src.has('onnx/model_q4.onnx')).toBe(true);
    expect(new TextDecoder().decode(await src.read('config.json'))).toBe('{"a":1}');
  });
});
