import type { FusedContext } from './group-query-attention';

export function decomposeMultiHeadAttention(ctx: FusedContext): string {
  throw ctx.e.unsupported('this op');
}
