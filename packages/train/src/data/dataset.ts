// The top-down sample table shared by the COCO and MPII readers, the augmentation and the loader.
//
// Columnar on purpose: one typed array per field, not one object per sample. COCO train2017 gives
// 149,813 samples; this table holds them in about 51 MB (341 B per sample: centre and scale 16 B each,
// joints 17·2·8 B, visibility 17 B, image index, score, area 12 B, annotation id 8 B), and it can be
// posted to loader workers as a handful of buffers (each worker gets a copy). The per-image table keeps
// one path string per image.

export type DatasetKind = 'coco' | 'mpii';

export interface ImageInfo {
  /** Full path of the image file. */
  path: string;
  /** COCO image id (MPII: the index of the image in the annotation file's order of first use). */
  id: number;
  /** Size from the annotations when known, else 0 (the loader reads it from the decoded image). */
  width: number;
  height: number;
}

export interface PoseDataset {
  kind: DatasetKind;
  numJoints: number;
  /** Left/right joint pairs swapped by the flip augmentation. */
  flipPairs: readonly (readonly [number, number])[];
  /** Joint ids of the upper body, for the half-body augmentation. */
  upperBodyIds: readonly number[];
  /** Number of samples. */
  length: number;
  images: ImageInfo[];
  /** Per sample: index into `images`. */
  imageIndex: Int32Array;
  /** Per sample: centre (x, y) in pixels, [N, 2]. */
  centers: Float64Array;
  /** Per sample: scale (w/200, h/200), [N, 2]. */
  scales: Float64Array;
  /** Per sample: joint coordinates (x, y) in pixels, 0-based, [N, J, 2]. */
  joints: Float64Array;
  /** Per sample: joint visibility 0/1, [N, J]. */
  jointsVis: Uint8Array;
  /** Per sample: the box score (1 for ground-truth boxes, the detector's score for detections). */
  scores: Float32Array;
  /** Per sample: COCO annotation id (−1 for detections and MPII). */
  annIds: Float64Array;
  /** Per sample: GT segmentation area (COCO; 0 where unknown). */
  areas: Float32Array;
  /**
   * MPII only, when given: head box [x1, y1, x2, y2] per sample, [N, 4] (NaN where unknown); float64 as
   * the official `headboxes_src`.
   */
  headBoxes?: Float64Array;
}

/** One sample, read out of the table (copies of its rows). */
export interface PoseSample {
  index: number;
  image: ImageInfo;
  center: [number, number];
  scale: [number, number];
  joints: Float64Array;
  jointsVis: Uint8Array;
  score: number;
  annId: number;
  area: number;
  headBox?: [number, number, number, number];
}

export function getSample(ds: PoseDataset, i: number): PoseSample {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
    throw new RangeError(`sample index ${i} out of range [0, ${ds.length})`);
  }
  const J = ds.numJoints;
  const s: PoseSample = {
    index: i,
    image: ds.images[ds.imageIndex[i]!]!,
    center: [ds.centers[2 * i]!, ds.centers[2 * i + 1]!],
    scale: [ds.scales[2 * i]!, ds.scales[2 * i + 1]!],
    joints: ds.joints.slice(i * J * 2, (i + 1) * J * 2),
    jointsVis: ds.jointsVis.slice(i * J, (i + 1) * J),
    score: ds.scores[i]!,
    annId: ds.annIds[i]!,
    area: ds.areas[i]!,
  };
  if (ds.headBoxes) {
    const h = ds.headBoxes;
    s.headBox = [h[4 * i]!, h[4 * i + 1]!, h[4 * i + 2]!, h[4 * i + 3]!];
  }
  return s;
}

/** Growable columns used by the readers while they scan the annotations. */
export class SampleTableBuilder {
  length = 0;
  private cap = 0;
  imageIndex = new Int32Array(0);
  centers = new Float64Array(0);
  scales = new Float64Array(0);
  joints = new Float64Array(0);
  jointsVis = new Uint8Array(0);
  scores = new Float32Array(0);
  annIds = new Float64Array(0);
  areas = new Float32Array(0);
  headBoxes: Float64Array | undefined;

  constructor(
    readonly numJoints: number,
    withHeadBoxes = false,
  ) {
    if (withHeadBoxes) this.headBoxes = new Float64Array(0);
  }

  private grow(): void {
    const cap = Math.max(64, this.cap * 2);
    const J = this.numJoints;
    const g = <T extends Float64Array | Float32Array | Int32Array | Uint8Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.imageIndex = g(this.imageIndex, cap);
    this.centers = g(this.centers, cap * 2);
    this.scales = g(this.scales, cap * 2);
    this.joints = g(this.joints, cap * J * 2);
    this.jointsVis = g(this.jointsVis, cap * J);
    this.scores = g(this.scores, cap);
    this.annIds = g(this.annIds, cap);
    this.areas = g(this.areas, cap);
    if (this.headBoxes) this.headBoxes = g(this.headBoxes, cap * 4);
    this.cap = cap;
  }

  /** Appends a sample; returns its index. Joints/visibility are written by the caller via the index. */
  push(imageIndex: number, cx: number, cy: number, sx: number, sy: number, score: number, annId: number, area: number): number {
    if (this.length === this.cap) this.grow();
    const i = this.length++;
    this.imageIndex[i] = imageIndex;
    this.centers[2 * i] = cx;
    this.centers[2 * i + 1] = cy;
    this.scales[2 * i] = sx;
    this.scales[2 * i + 1] = sy;
    this.scores[i] = score;
    this.annIds[i] = annId;
    this.areas[i] = area;
    if (this.headBoxes) this.headBoxes.fill(NaN, 4 * i, 4 * i + 4);
    return i;
  }

  build(
    kind: DatasetKind,
    images: ImageInfo[],
    flipPairs: readonly (readonly [number, number])[],
    upperBodyIds: readonly number[],
  ): PoseDataset {
    const n = this.length;
    const J = this.numJoints;
    const ds: PoseDataset = {
      kind,
      numJoints: J,
      flipPairs,
      upperBodyIds,
      length: n,
      images,
      imageIndex: this.imageIndex.slice(0, n),
      centers: this.centers.slice(0, 2 * n),
      scales: this.scales.slice(0, 2 * n),
      joints: this.joints.slice(0, n * J * 2),
      jointsVis: this.jointsVis.slice(0, n * J),
      scores: this.scores.slice(0, n),
      annIds: this.annIds.slice(0, n),
      areas: this.areas.slice(0, n),
    };
    if (this.headBoxes) ds.headBoxes = this.headBoxes.slice(0, 4 * n);
    return ds;
  }
}

/** A subset of a dataset (e.g. for tests or a quick run), sharing the image table. */
export function subsetDataset(ds: PoseDataset, indices: ArrayLike<number>): PoseDataset {
  const J = ds.numJoints;
  const b = new SampleTableBuilder(J, ds.headBoxes !== undefined);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.length) throw new RangeError(`subsetDataset: index ${i} out of range`);
    const o = b.push(
      ds.imageIndex[i]!,
      ds.centers[2 * i]!,
      ds.centers[2 * i + 1]!,
      ds.scales[2 * i]!,
      ds.scales[2 * i + 1]!,
      ds.scores[i]!,
      ds.annIds[i]!,
      ds.areas[i]!,
    );
    b.joints.set(ds.joints.subarray(i * J * 2, (i + 1) * J * 2), o * J * 2);
    b.jointsVis.set(ds.jointsVis.subarray(i * J, (i + 1) * J), o * J);
    if (ds.headBoxes) b.headBoxes!.set(ds.headBoxes.subarray(4 * i, 4 * i + 4), 4 * o);
  }
  return b.build(ds.kind, ds.images, ds.flipPairs, ds.upperBodyIds);
}
