// Reverse-mode autograd on a tape. Each op records a Node: the edges to its inputs' nodes (or leaves),
// the tensors its backward rule needs, and the rule itself. backward() walks the nodes in reverse
// topological order. Nodes are reference-counted so that a graph nobody can reach frees its memory.
import { keep, tidy } from './scope.js';
import type { DType } from './dtype.js';
import { fmt, sameShape } from './shape.js';
import type { Tensor } from './tensor.js';
import { add } from './ops/elementwise.js';
import { onesLike } from './ops/create.js';

type Edge = { node: Node } | { leaf: Tensor } | null;

/**
 * The gradients already pending on a node's inputs (from their other consumers), offered to its rule:
 * a kernel that produces input i's gradient can add it into the pending one in place, instead of the
 * engine launching an add. Rules that don't ask are unaffected.
 */
export interface Pending {
  /**
   * Input i's pending gradient, handed over to the rule, when a kernel may write into it: its buffer is
   * its own (no other gradient or view shares it), contiguous from offset 0, of `dtype`. Else null, and
   * the engine adds as usual. A rule that takes it must return for input i a gradient that includes it
   * (usually that very tensor, accumulated into); the engine stores that as input i's gradient.
   */
  take(i: number, dtype: DType): Tensor | null;
}

export type BackwardRule = (grad: Tensor, saved: Tensor[], pending: Pending) => (Tensor | null)[];

let gradEnabled = true;

/** Runs fn without recording autograd graphs (like `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export class Node {
  refs = 0;
  released = false;
  constructor(
    readonly name: string,
    readonly edges: Edge[],
    public saved: Tensor[],
    readonly rule: BackwardRule,
  ) {}

  /** Called when a tensor or a later node stops referring to this node. */
  unref(): void {
    if (--this.refs > 0) return;
    this.freeSaved();
    for (const e of this.edges) if (e && 'node' in e) e.node.unref();
  }

  /** Frees the saved tensors; the node can't run its backward rule after this. */
  freeSaved(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }
}

/**
 * Attaches a backward rule to `out` if any input requires a gradient. `save` lists the tensors the
 * rule needs: they are kept alive (as internal handles) even if the caller disposes them.
 */
export function record<T extends Tensor>(
  out: T,
  name: string,
  inputs: Tensor[],
  save: Tensor[],
  rule: BackwardRule,
): T {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  const edges: Edge[] = inputs.map((t) => {
    if (!t.requiresGrad) return null;
    if (t.gradFn) {
      t.gradFn.refs++;
      return { node: t.gradFn };
    }
    return { leaf: t };
  });
  const saved = save.map((t) => t.view(t.shape, t.strides, t.offset, false));
  const node = new Node(name, edges, saved, rule);
  node.refs = 1;
  out.gradFn = node;
  out.requiresGrad = true;
  return out;
}

function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.edges.length) {
      top[1]++;
      const e = node.edges[i];
      if (e && 'node' in e && !seen.has(e.node)) {
        seen.add(e.node);
        stack.push([e.node, 0]);
      }
    } else {
      order.push(node);
      stack.pop();
    }
  }
  return order.reverse();
}

function accumulate(into: Tensor | undefined, g: Tensor): Tensor {
  // A new handle on g's buffer: backward rules may return the same tensor for several inputs.
  const alias = g.view(g.shape, g.strides, g.offset);
  if (!into) return alias;
  const sum = add(into, alias);
  into.dispose();
  alias.dispose();
  return sum;
}

export function backward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) throw new Error('backward: the tensor does not require grad (no input had requiresGrad set)');
  if (!grad && root.size !== 1) {
    throw new Error(`backward: a gradient must be given for a non-scalar tensor of shape ${fmt(root.shape)}`);
  }
  if (grad && !sameShape(grad.shape, root.shape)) {
    throw new Error(`backward: gradient shape ${fmt(grad.shape)} does not match tensor shape ${fmt(root.shape)}`);
  }
  // As PyTorch: a gradient of another dtype would be read as the wrong element type by the rules' kernels.
  if (grad && grad.dtype !== root.dtype) {
    throw new Error(`backward: gradient dtype ${grad.dtype} does not match tensor dtype ${root.dtype} (${fmt(root.shape)}); convert it with .to('${root.dtype}')`);
  }
  noGrad(() =>
    tidy(() => {
      const seed = grad ?? onesLike(root);
      if (!root.gradFn) {
        root.grad = keep(accumulate(root.grad ?? undefined, seed)) as Tensor<'float32'>;
        return;
      }
      const grads = new Map<Node, Tensor>([[root.gradFn, seed]]);
      for (const node of topoOrder(root.gradFn)) {
        const g = grads.get(node);
        if (!g) continue;
        grads.delete(node);
        if (node.released) {
          throw new Error(
            `backward: the graph through '${node.name}' was already freed; pass { retainGraph: true } to the first backward()`,
          );
        }
        const pending: Pending = {
          take: (i, dtype) => {
            const edge = node.edges[i];
            // Only gradients inside this backward: a leaf's .grad may be held by the caller.
            if (!edge || !('node' in edge)) return null;
            const p = grads.get(edge.node);
            if (!p || p.storage.refs !== 1 || p.offset !== 0 || !p.isContiguous || p.dtype !== dtype) return null;
            grads.delete(edge.node);
            return p;
          },
        };
        // In a scope of its own: what the rule makes besides its results (views of g...) is freed at once.
        const inputGrads = tidy(() => node.rule(g, node.saved, pending));
        node.edges.forEach((edge, i) => {
          const gi = inputGrads[i];
          if (!edge || !gi) return;
          if ('node' in edge) {
            grads.set(edge.node, accumulate(grads.get(edge.node), gi));
          } else if (!edge.leaf.isDisposed) {
            edge.leaf.grad = keep(accumulate(edge.leaf.grad ?? undefined, gi)) as Tensor<'float32'>;
          }
        });
        // The engine holds its own handles (accumulate's aliases): dropping the rule's now frees each
        // gradient once the nodes that read it have run, and leaves a buffer's refs counting only the
        // pending gradients on it (what take() tests).
        for (const gi of new Set(inputGrads)) if (gi && gi !== grad) gi.dispose();
        if (g !== grad) g.dispose();
        if (!retainGraph) node.freeSaved();
      }
    }),
  );
}
