import type { FusedContext } from './group-query-attention';

export function decomposeContribAttention(ctx: FusedContext): string {
  throw ctx.e.unsupported('this op');
}
