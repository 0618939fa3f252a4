// The live loss plot: one line on a canvas, the y axis from 0 to the highest loss so far.

export function drawLossPlot(canvas: HTMLCanvasElement, losses: readonly number[], totalSteps: number): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const pad = { left: 46, right: 8, top: 8, bottom: 22 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#555';
  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.left + 0.5, pad.top + 0.5, w, h);
  if (!losses.length) {
    ctx.fillText('loss (JointsMSE) per step', pad.left + 8, pad.top + 16);
    return;
  }
  const top = Math.max(...losses) * 1.05;
  const steps = Math.max(totalSteps, losses.length, 2);
  const x = (i: number) => pad.left + (i / (steps - 1)) * w;
  const y = (v: number) => pad.top + h - (v / top) * h;
  ctx.textAlign = 'right';
  ctx.fillText(top.toExponential(1), pad.left - 4, pad.top + 8);
  ctx.fillText('0', pad.left - 4, pad.top + h);
  ctx.textAlign = 'center';
  ctx.fillText(`step ${losses.length} of ${totalSteps}`, pad.left + w / 2, height - 6);
  ctx.strokeStyle = '#1f77b4';
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  if (losses.length === 1) ctx.lineTo(x(0) + 2, y(losses[0]!));
  ctx.stroke();
}
