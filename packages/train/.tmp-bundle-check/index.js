// src/data/dataset.ts
function getSample(ds, i) {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
    throw new RangeError(`sample index ${i} out of range [0, ${ds.length})`);
  }
  const J = ds.numJoints;
  const s = {
    index: i,
    image: ds.images[ds.imageIndex[i]],
    center: [ds.centers[2 * i], ds.centers[2 * i + 1]],
    scale: [ds.scales[2 * i], ds.scales[2 * i + 1]],
    joints: ds.joints.slice(i * J * 2, (i + 1) * J * 2),
    jointsVis: ds.jointsVis.slice(i * J, (i + 1) * J),
    score: ds.scores[i],
    annId: ds.annIds[i],
    area: ds.areas[i]
  };
  if (ds.headBoxes) {
    const h = ds.headBoxes;
    s.headBox = [h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]];
  }
  return s;
}
var SampleTableBuilder = class {
  constructor(numJoints, withHeadBoxes = false) {
    this.numJoints = numJoints;
    if (withHeadBoxes) this.headBoxes = new Float32Array(0);
  }
  numJoints;
  length = 0;
  cap = 0;
  imageIndex = new Int32Array(0);
  centers = new Float64Array(0);
  scales = new Float64Array(0);
  joints = new Float64Array(0);
  jointsVis = new Uint8Array(0);
  scores = new Float32Array(0);
  annIds = new Float64Array(0);
  areas = new Float32Array(0);
  headBoxes;
  grow() {
    const cap = Math.max(64, this.cap * 2);
    const J = this.numJoints;
    const g = (a, n) => {
      const b = new a.constructor(n);
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
  push(imageIndex, cx, cy, sx, sy, score, annId, area) {
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
  build(kind, images, flipPairs, upperBodyIds) {
    const n = this.length;
    const J = this.numJoints;
    const ds = {
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
      areas: this.areas.slice(0, n)
    };
    if (this.headBoxes) ds.headBoxes = this.headBoxes.slice(0, 4 * n);
    return ds;
  }
};
function subsetDataset(ds, indices) {
  const J = ds.numJoints;
  const b = new SampleTableBuilder(J, ds.headBoxes !== void 0);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.length) throw new RangeError(`subsetDataset: index ${i} out of range`);
    const o = b.push(
      ds.imageIndex[i],
      ds.centers[2 * i],
      ds.centers[2 * i + 1],
      ds.scales[2 * i],
      ds.scales[2 * i + 1],
      ds.scores[i],
      ds.annIds[i],
      ds.areas[i]
    );
    b.joints.set(ds.joints.subarray(i * J * 2, (i + 1) * J * 2), o * J * 2);
    b.jointsVis.set(ds.jointsVis.subarray(i * J, (i + 1) * J), o * J);
    if (ds.headBoxes) b.headBoxes.set(ds.headBoxes.subarray(4 * i, 4 * i + 4), 4 * o);
  }
  return b.build(ds.kind, ds.images, ds.flipPairs, ds.upperBodyIds);
}

// src/data/coco.ts
var COCO_FLIP_PAIRS = [
  [1, 2],
  [3, 4],
  [5, 6],
  [7, 8],
  [9, 10],
  [11, 12],
  [13, 14],
  [15, 16]
];
var COCO_UPPER_BODY_IDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
var COCO_KEYPOINT_NAMES = [
  "nose",
  "left_eye",
  "right_eye",
  "left_ear",
  "right_ear",
  "left_shoulder",
  "right_shoulder",
  "left_elbow",
  "right_elbow",
  "left_wrist",
  "right_wrist",
  "left_hip",
  "right_hip",
  "left_knee",
  "right_knee",
  "left_ankle",
  "right_ankle"
];
var PIXEL_STD = 200;
var f32 = Math.fround;
function xywhToCenterScale(x, y, w, h, aspectRatio = 192 / 256, padding = 1.25) {
  const cx = f32(x + (w - 1) * 0.5);
  const cy = f32(y + (h - 1) * 0.5);
  if (w > aspectRatio * h) h = w * 1 / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  let sx = f32(w / PIXEL_STD);
  let sy = f32(h / PIXEL_STD);
  if (cx !== -1) {
    sx = f32(sx * padding);
    sy = f32(sy * padding);
  }
  return { center: [cx, cy], scale: [sx, sy] };
}
function sanitizeBox(bbox, imageWidth, imageHeight, area = 1) {
  const [x, y, w, h] = bbox;
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(imageWidth - 1, x1 + Math.max(0, w - 1));
  const y2 = Math.min(imageHeight - 1, y1 + Math.max(0, h - 1));
  if (area > 0 && x2 >= x1 && y2 >= y1) return [x1, y1, x2 - x1 + 1, y2 - y1 + 1];
  return null;
}
var CocoFormatError = class extends Error {
  name = "CocoFormatError";
};
function fail(where, what, got) {
  let g;
  try {
    g = JSON.stringify(got);
    if (g === void 0) g = String(got);
    if (g.length > 80) g = `${g.slice(0, 77)}...`;
  } catch {
    g = String(got);
  }
  throw new CocoFormatError(`${where}: expected ${what}, got ${g}`);
}
function num(v, where) {
  if (typeof v !== "number" || !Number.isFinite(v)) fail(where, "a finite number", v);
  return v;
}
function obj(v, where) {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(where, "an object", v);
  return v;
}
function arr(v, where) {
  if (!Array.isArray(v)) fail(where, "an array", v);
  return v;
}
function numArray(v, n, where) {
  const a = arr(v, where);
  if (a.length !== n) fail(where, `an array of ${n} numbers (has ${a.length})`, v);
  for (let i = 0; i < n; i++) if (typeof a[i] !== "number" || !Number.isFinite(a[i])) fail(`${where}[${i}]`, "a finite number", a[i]);
  return a;
}
function join(root, name) {
  if (!root) return name;
  return root.endsWith("/") ? root + name : `${root}/${name}`;
}
function cocoFileName(id2) {
  return `${String(id2).padStart(12, "0")}.jpg`;
}
function readImages(json, imageRoot, src) {
  const list = arr(json.images, `${src}: images`);
  const images = new Array(list.length);
  const byId = /* @__PURE__ */ new Map();
  for (let i = 0; i < list.length; i++) {
    const where = `${src}: images[${i}]`;
    const im = obj(list[i], where);
    const id2 = num(im.id, `${where}.id`);
    const width = num(im.width, `${where}.width`);
    const height = num(im.height, `${where}.height`);
    let file = im.file_name;
    if (file === void 0) file = cocoFileName(id2);
    else if (typeof file !== "string" || file.length === 0) fail(`${where}.file_name`, "a file name", file);
    if (byId.has(id2)) fail(`${where}.id`, "a unique image id", id2);
    byId.set(id2, i);
    images[i] = { path: join(imageRoot, file), id: id2, width, height };
  }
  return { images, byId };
}
function personCategory(json, src) {
  if (json.categories === void 0) return { id: 1, numJoints: 17 };
  const cats = arr(json.categories, `${src}: categories`);
  for (let i = 0; i < cats.length; i++) {
    const c = obj(cats[i], `${src}: categories[${i}]`);
    if (c.name === "person" || cats.length === 1 && c.name === void 0) {
      const id2 = num(c.id, `${src}: categories[${i}].id`);
      const kps = c.keypoints === void 0 ? COCO_KEYPOINT_NAMES : arr(c.keypoints, `${src}: categories[${i}].keypoints`);
      return { id: id2, numJoints: kps.length };
    }
  }
  throw new CocoFormatError(`${src}: categories: no "person" category`);
}
function cocoFromJson(json, options, source = "annotations") {
  const aspect = options.aspectRatio ?? 192 / 256;
  let images = [];
  let byId = /* @__PURE__ */ new Map();
  let cat = { id: 1, numJoints: 17 };
  let root;
  if (json !== void 0) {
    root = obj(json, source);
    ({ images, byId } = readImages(root, options.imageRoot, source));
    cat = personCategory(root, source);
  }
  const J = cat.numJoints;
  const b = new SampleTableBuilder(J);
  if (options.detections !== void 0) {
    const src = "detections";
    const dets = arr(options.detections, src);
    const thr = options.imageThreshold ?? 0;
    for (let i = 0; i < dets.length; i++) {
      const where = `${src}[${i}]`;
      const d = obj(dets[i], where);
      const catId = num(d.category_id, `${where}.category_id`);
      const imageId = num(d.image_id, `${where}.image_id`);
      const box = numArray(d.bbox, 4, `${where}.bbox`);
      const score = num(d.score, `${where}.score`);
      if (catId !== 1) continue;
      if (score < thr) continue;
      let ii = byId.get(imageId);
      if (ii === void 0) {
        if (root !== void 0) fail(`${where}.image_id`, "an id listed in the annotation file's images", imageId);
        ii = images.length;
        images.push({ path: join(options.imageRoot, cocoFileName(imageId)), id: imageId, width: 0, height: 0 });
        byId.set(imageId, ii);
      }
      const { center, scale } = xywhToCenterScale(box[0], box[1], box[2], box[3], aspect);
      const k = b.push(ii, center[0], center[1], scale[0], scale[1], score, -1, 0);
      b.jointsVis.fill(1, k * J, (k + 1) * J);
    }
    return b.build("coco", images, COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS);
  }
  if (root === void 0) throw new Error("cocoFromJson: neither annotations nor detections given");
  const anns = arr(root.annotations, `${source}: annotations`);
  const perImage = images.map(() => []);
  for (let i = 0; i < anns.length; i++) {
    const where = `${source}: annotations[${i}]`;
    const a = obj(anns[i], where);
    const imageId = num(a.image_id, `${where}.image_id`);
    const ii = byId.get(imageId);
    if (ii === void 0) fail(`${where}.image_id`, "an id listed in images", imageId);
    perImage[ii].push(i);
  }
  for (let ii = 0; ii < images.length; ii++) {
    const im = images[ii];
    for (const i of perImage[ii]) {
      const where = `${source}: annotations[${i}]`;
      const a = anns[i];
      const crowd = a.iscrowd === void 0 ? 0 : num(a.iscrowd, `${where}.iscrowd`);
      if (crowd) continue;
      const catId = num(a.category_id, `${where}.category_id`);
      if (catId !== cat.id) continue;
      const box = numArray(a.bbox, 4, `${where}.bbox`);
      const area = num(a.area, `${where}.area`);
      const kp = numArray(a.keypoints, 3 * J, `${where}.keypoints`);
      const clean = sanitizeBox(box, im.width, im.height, area);
      if (clean === null) continue;
      let max = -Infinity;
      for (const v of kp) if (v > max) max = v;
      if (max === 0) continue;
      const { center, scale } = xywhToCenterScale(clean[0], clean[1], clean[2], clean[3], aspect);
      const id2 = a.id === void 0 ? -1 : num(a.id, `${where}.id`);
      const k = b.push(ii, center[0], center[1], scale[0], scale[1], 1, id2, area);
      for (let j = 0; j < J; j++) {
        b.joints[(k * J + j) * 2] = kp[3 * j];
        b.joints[(k * J + j) * 2 + 1] = kp[3 * j + 1];
        const v = kp[3 * j + 2];
        b.jointsVis[k * J + j] = v > 1 ? 1 : v > 0 ? v : 0;
      }
    }
  }
  return b.build("coco", images, COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS);
}
function blankJsonValues(buf, keys) {
  let blanked = 0;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const key of keys) {
    const needle = Buffer.from(`"${key}"`);
    let pos = 0;
    for (; ; ) {
      const at = b.indexOf(needle, pos);
      if (at < 0) break;
      pos = at + needle.length;
      let p = at - 1;
      while (p >= 0 && isWs(b[p])) p--;
      if (p < 0 || b[p] !== 123 && b[p] !== 44) continue;
      let q = pos;
      while (q < b.length && isWs(b[q])) q++;
      if (b[q] !== 58) continue;
      q++;
      while (q < b.length && isWs(b[q])) q++;
      const start = q;
      const end = skipValue(b, start);
      if (end - start >= 4) {
        b[start] = 110;
        b[start + 1] = 117;
        b[start + 2] = 108;
        b[start + 3] = 108;
        b.fill(32, start + 4, end);
        blanked++;
      }
      pos = end;
    }
  }
  return blanked;
}
function isWs(c) {
  return c === 32 || c === 10 || c === 13 || c === 9;
}
function skipValue(b, i) {
  const c = b[i];
  if (c === 34) return skipString(b, i);
  if (c === 91 || c === 123) {
    let depth = 0;
    let p2 = i;
    while (p2 < b.length) {
      const d = b[p2];
      if (d === 34) {
        p2 = skipString(b, p2);
        continue;
      }
      if (d === 91 || d === 123) depth++;
      else if (d === 93 || d === 125) {
        depth--;
        if (depth === 0) return p2 + 1;
      }
      p2++;
    }
    return p2;
  }
  let p = i;
  while (p < b.length) {
    const d = b[p];
    if (d === 44 || d === 125 || d === 93 || isWs(d)) break;
    p++;
  }
  return p;
}
function skipString(b, i) {
  let p = i + 1;
  while (p < b.length) {
    const d = b[p];
    if (d === 92) p += 2;
    else if (d === 34) return p + 1;
    else p++;
  }
  return p;
}
async function readJson(path, blank) {
  const { readFile } = await import("node:fs/promises");
  let buf;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${e.message}`);
  }
  if (blank.length) blankJsonValues(buf, blank);
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${e.message}`);
  }
}
async function loadCoco(options) {
  const blank = options.dropSegmentation === false ? [] : ["segmentation"];
  const json = options.annotationFile ? await readJson(options.annotationFile, blank) : void 0;
  const detections = options.detectionFile ? await readJson(options.detectionFile, []) : void 0;
  if (json === void 0 && detections === void 0) {
    throw new Error("loadCoco: give annotationFile, detectionFile or both");
  }
  try {
    return cocoFromJson(json, { ...options, detections }, options.annotationFile ?? "annotations");
  } catch (e) {
    if (e instanceof CocoFormatError && detections !== void 0 && e.message.startsWith("detections")) {
      throw new CocoFormatError(`${options.detectionFile}: ${e.message}`);
    }
    throw e;
  }
}

// src/data/mpii.ts
var MPII_FLIP_PAIRS = [
  [0, 5],
  [1, 4],
  [2, 3],
  [10, 15],
  [11, 14],
  [12, 13]
];
var MPII_UPPER_BODY_IDS = [7, 8, 9, 10, 11, 12, 13, 14, 15];
var MpiiFormatError = class extends Error {
  name = "MpiiFormatError";
};
function fail2(where, what, got) {
  let g;
  try {
    g = JSON.stringify(got) ?? String(got);
    if (g.length > 80) g = `${g.slice(0, 77)}...`;
  } catch {
    g = String(got);
  }
  throw new MpiiFormatError(`${where}: expected ${what}, got ${g}`);
}
function num2(v, where) {
  if (typeof v !== "number" || !Number.isFinite(v)) fail2(where, "a finite number", v);
  return v;
}
function headBox(v, where) {
  if (Array.isArray(v) && v.length === 4) return v.map((x, k) => num2(x, `${where}[${k}]`));
  if (Array.isArray(v) && v.length === 2 && Array.isArray(v[0]) && Array.isArray(v[1])) {
    const a = v[0];
    const b = v[1];
    return [num2(a[0], `${where}[0][0]`), num2(a[1], `${where}[0][1]`), num2(b[0], `${where}[1][0]`), num2(b[1], `${where}[1][1]`)];
  }
  fail2(where, "[x1, y1, x2, y2] or [[x1, y1], [x2, y2]]", v);
}
function mpiiFromJson(json, options, source = "mpii") {
  const J = options.numJoints ?? 16;
  if (!Array.isArray(json)) fail2(source, "a list of records", json);
  const recs = json;
  const hasHead = options.headBoxes !== void 0 || recs.some((r) => typeof r === "object" && r !== null && ("headbox" in r || "head_box" in r));
  if (options.headBoxes && options.headBoxes.length !== recs.length) {
    throw new MpiiFormatError(`headBoxes: ${options.headBoxes.length} boxes for ${recs.length} records`);
  }
  const b = new SampleTableBuilder(J, hasHead);
  const images = [];
  const byName = /* @__PURE__ */ new Map();
  const root = options.imageRoot;
  for (let i = 0; i < recs.length; i++) {
    const where = `${source}[${i}]`;
    const r = recs[i];
    if (typeof r !== "object" || r === null || Array.isArray(r)) fail2(where, "a record object", r);
    const a = r;
    if (typeof a.image !== "string" || !a.image) fail2(`${where}.image`, "an image file name", a.image);
    const name = a.image;
    let ii = byName.get(name);
    if (ii === void 0) {
      ii = images.length;
      images.push({ path: root ? root.endsWith("/") ? root + name : `${root}/${name}` : name, id: ii, width: 0, height: 0 });
      byName.set(name, ii);
    }
    const c = a.center;
    if (!Array.isArray(c) || c.length !== 2) fail2(`${where}.center`, "[x, y]", c);
    let cx = num2(c[0], `${where}.center[0]`);
    let cy = num2(c[1], `${where}.center[1]`);
    let s = num2(a.scale, `${where}.scale`);
    if (cx !== -1) {
      cy = cy + 15 * s;
      s = s * 1.25;
    }
    cx -= 1;
    cy -= 1;
    const k = b.push(ii, cx, cy, s, s, 1, -1, 0);
    if (a.joints !== void 0) {
      const jts = a.joints;
      if (!Array.isArray(jts) || jts.length !== J) fail2(`${where}.joints`, `${J} [x, y] pairs`, jts);
      const vis = a.joints_vis;
      if (!Array.isArray(vis) || vis.length !== J) fail2(`${where}.joints_vis`, `${J} visibility flags`, vis);
      for (let j = 0; j < J; j++) {
        const p = jts[j];
        if (!Array.isArray(p) || p.length < 2) fail2(`${where}.joints[${j}]`, "[x, y]", p);
        b.joints[(k * J + j) * 2] = num2(p[0], `${where}.joints[${j}][0]`) - 1;
        b.joints[(k * J + j) * 2 + 1] = num2(p[1], `${where}.joints[${j}][1]`) - 1;
        const v = num2(vis[j], `${where}.joints_vis[${j}]`);
        b.jointsVis[k * J + j] = v > 0 ? 1 : 0;
      }
    }
    if (hasHead) {
      const hb = options.headBoxes ? headBox(options.headBoxes[i], `headBoxes[${i}]`) : a.headbox !== void 0 ? headBox(a.headbox, `${where}.headbox`) : a.head_box !== void 0 ? headBox(a.head_box, `${where}.head_box`) : void 0;
      if (hb) b.headBoxes.set(hb, 4 * k);
    }
  }
  return b.build("mpii", images, MPII_FLIP_PAIRS, MPII_UPPER_BODY_IDS);
}
async function loadMpii(options) {
  const { readFile } = await import("node:fs/promises");
  let text;
  try {
    text = await readFile(options.annotationFile, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${options.annotationFile}: ${e.message}`);
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${options.annotationFile} is not valid JSON: ${e.message}`);
  }
  return mpiiFromJson(json, options, options.annotationFile);
}

// src/data/affine.ts
var IMAGENET_MEAN = [0.485, 0.456, 0.406];
var IMAGENET_STD = [0.229, 0.224, 0.225];
var f322 = Math.fround;
function luSolve(a, b, m, eps) {
  for (let i = 0; i < m; i++) {
    let k = i;
    for (let j = i + 1; j < m; j++) if (Math.abs(a[j * m + i]) > Math.abs(a[k * m + i])) k = j;
    if (Math.abs(a[k * m + i]) < eps) return false;
    if (k !== i) {
      for (let j = i; j < m; j++) {
        const t2 = a[i * m + j];
        a[i * m + j] = a[k * m + j];
        a[k * m + j] = t2;
      }
      const t = b[i];
      b[i] = b[k];
      b[k] = t;
    }
    const d = -1 / a[i * m + i];
    for (let j = i + 1; j < m; j++) {
      const alpha = a[j * m + i] * d;
      for (let kk = i + 1; kk < m; kk++) a[j * m + kk] = a[j * m + kk] + alpha * a[i * m + kk];
      b[j] = b[j] + alpha * b[i];
    }
    a[i * m + i] = -d;
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = b[i];
    for (let kk = i + 1; kk < m; kk++) s -= a[i * m + kk] * b[kk];
    b[i] = s * a[i * m + i];
  }
  return true;
}
function solveAffine(src, dst) {
  const a = new Float64Array(36);
  const b = new Float64Array(6);
  for (let i = 0; i < 3; i++) {
    const j = i * 12;
    const k = i * 12 + 6;
    a[j] = a[k + 3] = src[2 * i];
    a[j + 1] = a[k + 4] = src[2 * i + 1];
    a[j + 2] = a[k + 5] = 1;
    b[i * 2] = dst[2 * i];
    b[i * 2 + 1] = dst[2 * i + 1];
  }
  if (!luSolve(a, b, 6, 2220446049250313e-31 * 100)) {
    throw new Error(`solveAffine: the three source points are collinear (${Array.from(src).join(", ")})`);
  }
  return b;
}
function getAffineTransform(center, scale, rot, outputSize, inverse = false, scaleDtype = "auto") {
  const s0 = typeof scale === "number" ? scale : scale[0];
  const f32Scale = scaleDtype === "float32" || scaleDtype === "auto" && f322(s0) === s0;
  const srcW = f32Scale ? f322(s0 * 200) : s0 * 200;
  const [dstW, dstH] = outputSize;
  const rotRad = Math.PI * rot / 180;
  const sn = Math.sin(rotRad);
  const cs = Math.cos(rotRad);
  const p1 = (srcW - 1) * -0.5;
  const srcDirX = 0 * cs - p1 * sn;
  const srcDirY = 0 * sn + p1 * cs;
  const src = new Float64Array(6);
  const dst = new Float64Array(6);
  src[0] = f322(center[0]);
  src[1] = f322(center[1]);
  src[2] = f322(center[0] + srcDirX);
  src[3] = f322(center[1] + srcDirY);
  dst[0] = f322((dstW - 1) * 0.5);
  dst[1] = f322((dstH - 1) * 0.5);
  dst[2] = f322((dstW - 1) * 0.5 + 0);
  dst[3] = f322((dstH - 1) * 0.5 + f322((dstW - 1) * -0.5));
  third(src);
  third(dst);
  return inverse ? solveAffine(dst, src) : solveAffine(src, dst);
}
function third(p) {
  const dx = f322(p[0] - p[2]);
  const dy = f322(p[1] - p[3]);
  p[4] = f322(p[2] + -dy);
  p[5] = f322(p[3] + dx);
}
function affinePoint(m, x, y) {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}
function invertAffine(m) {
  const M = Float64Array.from(m);
  let D = M[0] * M[4] - M[1] * M[3];
  D = D !== 0 ? 1 / D : 0;
  const A11 = M[4] * D;
  const A22 = M[0] * D;
  M[0] = A11;
  M[1] = M[1] * -D;
  M[3] = M[3] * -D;
  M[4] = A22;
  const b1 = -M[0] * M[2] - M[1] * M[5];
  const b2 = -M[3] * M[2] - M[4] * M[5];
  M[2] = b1;
  M[5] = b2;
  return M;
}
function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}
function saturateInt(x) {
  return x >= 2147483647 ? 2147483647 : x <= -2147483648 ? -2147483648 : x;
}
function saturateShort(x) {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}
function warpAffineU8(src, srcW, srcH, m, dstW, dstH, options = {}) {
  const cn = 3;
  if (src.length < srcW * srcH * cn) {
    throw new Error(`warpAffineU8: source has ${src.length} bytes, expected ${srcW}\xD7${srcH}\xD73`);
  }
  const out = options.out ?? new Uint8Array(dstW * dstH * cn);
  if (out.length < dstW * dstH * cn) throw new Error("warpAffineU8: output buffer too small");
  const flip = options.flip === true;
  const M = invertAffine(m);
  const adelta = new Int32Array(dstW);
  const bdelta = new Int32Array(dstW);
  for (let x = 0; x < dstW; x++) {
    adelta[x] = saturateInt(rint(M[0] * x * 1024));
    bdelta[x] = saturateInt(rint(M[3] * x * 1024));
  }
  const sstep = srcW * cn;
  const w1 = srcW - 1;
  const h1 = srcH - 1;
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const X0 = saturateInt(rint((M[1] * y + M[2]) * 1024)) + 16;
    const Y0 = saturateInt(rint((M[4] * y + M[5]) * 1024)) + 16;
    for (let x = 0; x < dstW; x++, o += 3) {
      const X = X0 + adelta[x] >> 5;
      const Y = Y0 + bdelta[x] >> 5;
      const sx = saturateShort(X >> 5);
      const sy = saturateShort(Y >> 5);
      const fx = X & 31;
      const fy = Y & 31;
      const w00 = (32 - fy) * (32 - fx) * 32;
      const w01 = (32 - fy) * fx * 32;
      const w10 = fy * (32 - fx) * 32;
      const w11 = fy * fx * 32;
      if (sx >= 0 && sx < w1 && sy >= 0 && sy < h1) {
        let p0;
        let p1;
        if (flip) {
          p0 = sy * sstep + (w1 - sx) * 3;
          p1 = p0 - 3;
        } else {
          p0 = sy * sstep + sx * 3;
          p1 = p0 + 3;
        }
        const p2 = p0 + sstep;
        const p3 = p1 + sstep;
        out[o] = src[p0] * w00 + src[p1] * w01 + src[p2] * w10 + src[p3] * w11 + 16384 >> 15;
        out[o + 1] = src[p0 + 1] * w00 + src[p1 + 1] * w01 + src[p2 + 1] * w10 + src[p3 + 1] * w11 + 16384 >> 15;
        out[o + 2] = src[p0 + 2] * w00 + src[p1 + 2] * w01 + src[p2 + 2] * w10 + src[p3 + 2] * w11 + 16384 >> 15;
      } else if (sx >= srcW || sx + 1 < 0 || sy >= srcH || sy + 1 < 0) {
        out[o] = 0;
        out[o + 1] = 0;
        out[o + 2] = 0;
      } else {
        const x0in = sx >= 0 && sx < srcW;
        const x1in = sx + 1 >= 0 && sx + 1 < srcW;
        const y0in = sy >= 0 && sy < srcH;
        const y1in = sy + 1 >= 0 && sy + 1 < srcH;
        const c0 = flip ? w1 - sx : sx;
        const c1 = flip ? w1 - sx - 1 : sx + 1;
        const p0 = x0in && y0in ? sy * sstep + c0 * 3 : -1;
        const p1 = x1in && y0in ? sy * sstep + c1 * 3 : -1;
        const p2 = x0in && y1in ? (sy + 1) * sstep + c0 * 3 : -1;
        const p3 = x1in && y1in ? (sy + 1) * sstep + c1 * 3 : -1;
        for (let k = 0; k < 3; k++) {
          const v = (p0 >= 0 ? src[p0 + k] * w00 : 0) + (p1 >= 0 ? src[p1 + k] * w01 : 0) + (p2 >= 0 ? src[p2 + k] * w10 : 0) + (p3 >= 0 ? src[p3 + k] * w11 : 0);
          out[o + k] = v + 16384 >> 15;
        }
      }
    }
  }
  return out;
}
function normalizeTable(mean = IMAGENET_MEAN, std = IMAGENET_STD) {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f322(mean[c]);
    const s = f322(std[c]);
    for (let v = 0; v < 256; v++) t[c * 256 + v] = f322(f322(f322(v / 255) - m) / s);
  }
  return t;
}
var defaultTable;
function warpAffineToCHW(src, srcW, srcH, m, dstW, dstH, options = {}) {
  const plane = dstW * dstH;
  const hwc = warpAffineU8(src, srcW, srcH, m, dstW, dstH, {
    flip: options.flip,
    out: options.scratch && options.scratch.length >= plane * 3 ? options.scratch : void 0
  });
  const table = options.table ?? (defaultTable ??= normalizeTable());
  const out = options.out ?? new Float32Array(3 * plane);
  const off = options.outOffset ?? 0;
  if (out.length < off + 3 * plane) throw new Error("warpAffineToCHW: output buffer too small");
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[off + i] = table[hwc[j]];
    out[off + plane + i] = table[256 + hwc[j + 1]];
    out[off + 2 * plane + i] = table[512 + hwc[j + 2]];
  }
  return out;
}

// src/data/transforms.ts
var COCO_AUGMENT = Object.freeze({
  scaleFactor: 0.35,
  rotationFactor: 45,
  rotationProb: 0.6,
  flip: true,
  flipProb: 0.5,
  halfBodyProb: 0.3,
  numJointsHalfBody: 8,
  aspectRatio: 192 / 256,
  float32: true
});
var MPII_AUGMENT = Object.freeze({
  scaleFactor: 0.25,
  rotationFactor: 30,
  rotationProb: 0.6,
  flip: true,
  flipProb: 0.5,
  halfBodyProb: -1,
  numJointsHalfBody: 8,
  aspectRatio: 1,
  float32: false
});
var id = (x) => x;
function halfBodyTransform(joints, vis, upperBodyIds, aspectRatio, rng) {
  const J = vis.length;
  const upper = [];
  const lower = [];
  const isUpper = new Uint8Array(J);
  for (const u of upperBodyIds) if (u < J) isUpper[u] = 1;
  for (let j = 0; j < J; j++) {
    if (vis[j] > 0) (isUpper[j] ? upper : lower).push(j);
  }
  let sel;
  if (rng.randn() < 0.5 && upper.length > 2) sel = upper;
  else sel = lower.length > 2 ? lower : upper;
  if (sel.length < 2) return null;
  const f = Math.fround;
  let sx = 0;
  let sy = 0;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const j of sel) {
    const x = f(joints[2 * j]);
    const y = f(joints[2 * j + 1]);
    sx += x;
    sy += y;
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  const center = [f(sx / sel.length), f(sy / sel.length)];
  let w = f(maxX - minX) + 1;
  let h = f(maxY - minY) + 1;
  if (w > aspectRatio * h) h = w * 1 / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  const scale = [f(f(w / 200) * 1.5), f(f(h / 200) * 1.5)];
  return { center, scale };
}
function fliplrJoints(joints, vis, width, pairs) {
  const J = vis.length;
  for (let j = 0; j < J; j++) joints[2 * j] = width - joints[2 * j] - 1;
  for (const [a, b] of pairs) {
    for (let k = 0; k < 2; k++) {
      const t2 = joints[2 * a + k];
      joints[2 * a + k] = joints[2 * b + k];
      joints[2 * b + k] = t2;
    }
    const t = vis[a];
    vis[a] = vis[b];
    vis[b] = t;
  }
  for (let j = 0; j < J; j++) {
    joints[2 * j] = joints[2 * j] * vis[j];
    joints[2 * j + 1] = joints[2 * j + 1] * vis[j];
  }
}
function augment(state, cfg, flipPairs, upperBodyIds, imageWidth, rng) {
  const f = cfg.float32 ? Math.fround : id;
  const vis = state.jointsVis;
  let nVis = 0;
  for (let j = 0; j < vis.length; j++) nVis += vis[j];
  if (cfg.halfBodyProb > 0 && nVis > cfg.numJointsHalfBody && rng.random() < cfg.halfBodyProb) {
    const hb = halfBodyTransform(state.joints, vis, upperBodyIds, cfg.aspectRatio, rng);
    if (hb) {
      state.center = hb.center;
      state.scale = hb.scale;
      state.halfBody = true;
    }
  }
  const sf = cfg.scaleFactor;
  const k = f(Math.min(Math.max(rng.randn() * sf + 1, 1 - sf), 1 + sf));
  state.scale = [f(state.scale[0] * k), f(state.scale[1] * k)];
  const rf = cfg.rotationFactor;
  state.rotation = rng.random() <= cfg.rotationProb ? Math.min(Math.max(rng.randn() * rf, -rf * 2), rf * 2) : 0;
  if (cfg.flip && rng.random() <= cfg.flipProb) {
    fliplrJoints(state.joints, vis, imageWidth, flipPairs);
    state.center = [f(imageWidth - state.center[0] - 1), state.center[1]];
    state.flipped = true;
  }
  return state;
}

// src/data/targets.ts
function generateTarget(joints, visible, options, target, targetOffset, weights, weightOffset) {
  const [W, H] = options.heatmapSize;
  const sigma = options.sigma ?? 2;
  const tmpSize = sigma * 3;
  const J = visible.length;
  const plane = W * H;
  const gx = new Float64Array(W);
  const gy = new Float64Array(H);
  const denom = 2 * sigma * sigma;
  for (let j = 0; j < J; j++) {
    const base = targetOffset + j * plane;
    let w = visible[j];
    const mx = joints[2 * j];
    const my = joints[2 * j + 1];
    const ulx = Math.trunc(mx - tmpSize);
    const uly = Math.trunc(my - tmpSize);
    const brx = Math.trunc(mx + tmpSize + 1);
    const bry = Math.trunc(my + tmpSize + 1);
    if (ulx >= W || uly >= H || brx < 0 || bry < 0 || !Number.isFinite(mx) || !Number.isFinite(my)) w = 0;
    weights[weightOffset + j] = w;
    if (!(w > 0.5)) {
      target.fill(0, base, base + plane);
      continue;
    }
    for (let x = 0; x < W; x++) gx[x] = Math.exp(-((x - mx) * (x - mx)) / denom);
    for (let y = 0; y < H; y++) gy[y] = Math.exp(-((y - my) * (y - my)) / denom);
    for (let y = 0; y < H; y++) {
      const row = base + y * W;
      const g = gy[y];
      for (let x = 0; x < W; x++) target[row + x] = gx[x] * g;
    }
  }
}

// src/data/rng.ts
function mix32(x) {
  x = x + 2654435769 | 0;
  x = Math.imul(x ^ x >>> 16, 2246822507);
  x = Math.imul(x ^ x >>> 13, 3266489909);
  return (x ^ x >>> 16) >>> 0;
}
function hashKeys(seed, ...keys) {
  let h = mix32(seed >>> 0 ^ mix32(Math.floor(seed / 2 ** 32) >>> 0));
  for (const k of keys) {
    if (typeof k === "number") {
      h = mix32(h ^ mix32(k >>> 0) ^ Math.imul(Math.floor(k / 2 ** 32) >>> 0, 668265263));
    } else {
      for (let i = 0; i < k.length; i++) h = mix32(h ^ k.charCodeAt(i));
      h = mix32(h ^ k.length);
    }
  }
  return h;
}
var Rng = class {
  a;
  b;
  c;
  d;
  /** A generator for the stream named by `seed` and `keys` (see `hashKeys`). */
  constructor(seed, ...keys) {
    const h = hashKeys(seed, ...keys);
    this.a = mix32(h ^ 1);
    this.b = mix32(h ^ 2);
    this.c = mix32(h ^ 3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }
  /** A uniform 32-bit unsigned integer. */
  nextU32() {
    const t = (this.a + this.b | 0) + this.d | 0;
    this.d = this.d + 1 | 0;
    this.a = this.b ^ this.b >>> 9;
    this.b = this.c + (this.c << 3) | 0;
    this.c = this.c << 21 | this.c >>> 11;
    this.c = this.c + t | 0;
    return t >>> 0;
  }
  /** Uniform in [0, 1) with 53 random bits (numpy's `random()` / Python's `random.random()`). */
  random() {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }
  /** Standard normal (numpy's `randn()`), Box–Muller; one draw per call, so the stream stays simple. */
  randn() {
    let u = this.random();
    while (u === 0) u = this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Uniform integer in [0, n). */
  int(n) {
    return Math.floor(this.random() * n);
  }
};
function permutation(n, rng) {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

// src/data/image.ts
var sharpPromise;
async function loadSharp() {
  sharpPromise ??= import("sharp").then((m) => {
    const sharp = m.default ?? m;
    sharp.cache(false);
    return sharp;
  });
  return sharpPromise;
}
var DECODE = { sequentialRead: true, failOn: "none" };
async function decodeImageBuffer(buf, name = "image") {
  const sharp = await loadSharp();
  let data;
  let info;
  try {
    ({ data, info } = await sharp(buf, DECODE).keepIccProfile().raw().toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new Error(`cannot decode image ${name}: ${e.message}`);
  }
  const { width, height } = info;
  const n = width * height;
  const cn = info.channels;
  if (cn === 3) return { data: new Uint8Array(data.buffer, data.byteOffset, n * 3), width, height };
  if (cn === 4) {
    const meta = await sharp(buf, DECODE).metadata();
    if (meta.space === "cmyk") {
      try {
        const r = await sharp(buf, DECODE).toColourspace("srgb").removeAlpha().raw().toBuffer({ resolveWithObject: true });
        if (r.info.channels === 3) return { data: new Uint8Array(r.data.buffer, r.data.byteOffset, n * 3), width, height };
      } catch (e) {
        throw new Error(`cannot decode image ${name}: ${e.message}`);
      }
    }
  }
  const out = new Uint8Array(n * 3);
  if (cn === 1 || cn === 2) {
    for (let i = 0; i < n; i++) {
      const v = data[i * cn];
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else if (cn >= 3) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[i * cn];
      out[3 * i + 1] = data[i * cn + 1];
      out[3 * i + 2] = data[i * cn + 2];
    }
  } else {
    throw new Error(`cannot decode image ${name}: ${cn} channels`);
  }
  return { data: out, width, height };
}
async function readImage(path) {
  const { readFile } = await import("node:fs/promises");
  let buf;
  try {
    buf = await readFile(path);
  } catch (e) {
    const err = e;
    throw new Error(`cannot read image ${path}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
  }
  return decodeImageBuffer(buf, path);
}
var ImageCache = class {
  constructor(maxBytes) {
    this.maxBytes = maxBytes;
  }
  maxBytes;
  map = /* @__PURE__ */ new Map();
  bytes = 0;
  get size() {
    return this.map.size;
  }
  get usedBytes() {
    return this.bytes;
  }
  get(key, path) {
    const hit = this.map.get(key);
    if (hit) return hit;
    const p = readImage(path);
    if (this.bytes < this.maxBytes) {
      this.map.set(key, p);
      p.then(
        (im) => {
          this.bytes += im.data.byteLength;
        },
        () => {
          this.map.delete(key);
        }
      );
    }
    return p;
  }
};

// src/data/sample.ts
function allocBatch(batchSize, numJoints, cfg) {
  const [iw, ih] = cfg.inputSize;
  const [hw, hh] = cfg.heatmapSize;
  return {
    images: new Float32Array(batchSize * 3 * ih * iw),
    targets: new Float32Array(batchSize * numJoints * hh * hw),
    targetWeights: new Float32Array(batchSize * numJoints)
  };
}
var SampleWorkspace = class {
  table;
  scratch = new Uint8Array(0);
  constructor(cfg) {
    this.table = normalizeTable(cfg.mean, cfg.std);
  }
};
function processSample(ds, index, image, cfg, seed, epoch, position, out, slot, ws) {
  const J = ds.numJoints;
  const [iw, ih] = cfg.inputSize;
  const [hw, hh] = cfg.heatmapSize;
  const state = {
    center: [ds.centers[2 * index], ds.centers[2 * index + 1]],
    scale: [ds.scales[2 * index], ds.scales[2 * index + 1]],
    rotation: 0,
    flipped: false,
    halfBody: false,
    joints: ds.joints.slice(index * J * 2, (index + 1) * J * 2),
    jointsVis: ds.jointsVis.slice(index * J, (index + 1) * J)
  };
  if (cfg.train) {
    const rng = new Rng(seed, "sample", epoch, position);
    augment(state, cfg.augment, ds.flipPairs, ds.upperBodyIds, image.width, rng);
  }
  const trans = getAffineTransform(state.center, state.scale, state.rotation, cfg.inputSize);
  const transHm = getAffineTransform(state.center, state.scale, state.rotation, cfg.heatmapSize);
  if (ws.scratch.length < iw * ih * 3) ws.scratch = new Uint8Array(iw * ih * 3);
  warpAffineToCHW(image.data, image.width, image.height, trans, iw, ih, {
    flip: state.flipped,
    table: ws.table,
    out: out.images,
    outOffset: slot * 3 * ih * iw,
    scratch: ws.scratch
  });
  const jointsIn = new Array(J * 2);
  const jointsHm = new Float64Array(J * 2);
  const vis = state.jointsVis;
  for (let j = 0; j < J; j++) {
    const x = state.joints[2 * j];
    const y = state.joints[2 * j + 1];
    if (vis[j] > 0) {
      const [ax, ay] = affinePoint(trans, x, y);
      const [hx, hy] = affinePoint(transHm, x, y);
      jointsIn[2 * j] = ax;
      jointsIn[2 * j + 1] = ay;
      jointsHm[2 * j] = hx;
      jointsHm[2 * j + 1] = hy;
    } else {
      jointsIn[2 * j] = x;
      jointsIn[2 * j + 1] = y;
      jointsHm[2 * j] = x;
      jointsHm[2 * j + 1] = y;
    }
  }
  generateTarget(
    jointsHm,
    vis,
    { heatmapSize: cfg.heatmapSize, sigma: cfg.sigma },
    out.targets,
    slot * J * hh * hw,
    out.targetWeights,
    slot * J
  );
  const im = ds.images[ds.imageIndex[index]];
  return {
    index,
    position,
    imageId: im.id,
    imagePath: im.path,
    imageWidth: image.width,
    imageHeight: image.height,
    center: state.center,
    scale: state.scale,
    rotation: state.rotation,
    flipped: state.flipped,
    halfBody: state.halfBody,
    score: ds.scores[index],
    annId: ds.annIds[index],
    area: ds.areas[index],
    joints: jointsIn,
    jointsVis: Array.from(vis)
  };
}

// src/data/batch.ts
var BatchBuilder = class {
  constructor(ds, cfg, cacheBytes, decodeConcurrency = 3) {
    this.ds = ds;
    this.cfg = cfg;
    this.decodeConcurrency = decodeConcurrency;
    this.ws = new SampleWorkspace(cfg);
    this.cache = cacheBytes > 0 ? new ImageCache(cacheBytes) : void 0;
  }
  ds;
  cfg;
  decodeConcurrency;
  ws;
  cache;
  image(index) {
    const ii = this.ds.imageIndex[index];
    const path = this.ds.images[ii].path;
    return this.cache ? this.cache.get(ii, path) : readImage(path);
  }
  async build(task) {
    const n = task.indices.length;
    const out = allocBatch(n, this.ds.numJoints, this.cfg);
    const meta = new Array(n);
    const pending = new Array(n);
    let next = 0;
    const launch = () => {
      if (next < n) {
        const p = this.image(task.indices[next]);
        p.catch(() => {
        });
        pending[next++] = p;
      }
    };
    for (let k = 0; k < Math.max(1, this.decodeConcurrency); k++) launch();
    for (let s = 0; s < n; s++) {
      const image = await pending[s];
      pending[s] = void 0;
      launch();
      const index = task.indices[s];
      try {
        meta[s] = processSample(this.ds, index, image, this.cfg, task.seed, task.epoch, task.positions[s], out, s, this.ws);
      } catch (e) {
        throw new Error(`sample ${index} (${this.ds.images[this.ds.imageIndex[index]].path}): ${e.message}`);
      }
    }
    return { id: task.id, ...out, meta };
  }
};

// src/data/loader.ts
var DEFAULT_CACHE_BYTES = 1024 ** 3;
var DataLoader = class {
  dataset;
  batchSize;
  train;
  shuffle;
  seed;
  dropLast;
  samplesPerEpoch;
  workers;
  prefetch;
  config;
  cacheBytes;
  decodeConcurrency;
  pool;
  local;
  nextId = 1;
  closed = false;
  constructor(dataset, options) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    if (dataset.length === 0) throw new Error("DataLoader: the dataset is empty");
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.train = options.train ?? true;
    this.shuffle = options.shuffle ?? this.train;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.samplesPerEpoch = options.samplesPerEpoch ?? dataset.length;
    if (!Number.isInteger(this.samplesPerEpoch) || this.samplesPerEpoch < 1) {
      throw new Error(`DataLoader: samplesPerEpoch must be a positive integer, got ${options.samplesPerEpoch}`);
    }
    this.workers = options.workers ?? defaultWorkers();
    if (!Number.isInteger(this.workers) || this.workers < 0) throw new Error(`DataLoader: bad workers ${options.workers}`);
    this.prefetch = Math.max(1, options.prefetch ?? 2 * Math.max(1, this.workers));
    const c = options.cacheImages ?? false;
    this.cacheBytes = c === true ? DEFAULT_CACHE_BYTES : c === false ? 0 : Math.max(0, c);
    this.decodeConcurrency = options.decodeConcurrency ?? 3;
    const mpii = dataset.kind === "mpii";
    const inputSize = options.inputSize ?? (mpii ? [256, 256] : [192, 256]);
    const heatmapSize = options.heatmapSize ?? [inputSize[0] / 4, inputSize[1] / 4];
    const aug = { ...mpii ? MPII_AUGMENT : COCO_AUGMENT, ...options.augment };
    if (!options.augment?.aspectRatio && !mpii) aug.aspectRatio = inputSize[0] / inputSize[1];
    this.config = {
      train: this.train,
      inputSize: [inputSize[0], inputSize[1]],
      heatmapSize: [heatmapSize[0], heatmapSize[1]],
      sigma: options.sigma ?? 2,
      augment: aug,
      mean: options.mean,
      std: options.std
    };
  }
  /** Batches per epoch. */
  get length() {
    return this.dropLast ? Math.floor(this.samplesPerEpoch / this.batchSize) : Math.ceil(this.samplesPerEpoch / this.batchSize);
  }
  /** The dataset indices of epoch `epoch`, in order. */
  order(epoch) {
    const N = this.dataset.length;
    const E = this.samplesPerEpoch;
    const out = new Int32Array(E);
    if (!this.shuffle) {
      for (let k = 0; k < E; k++) out[k] = k % N;
      return out;
    }
    for (let r = 0, k = 0; k < E; r++) {
      const p = permutation(N, new Rng(this.seed, "shuffle", epoch, r));
      const m = Math.min(N, E - k);
      out.set(m === N ? p : p.subarray(0, m), k);
      k += m;
    }
    return out;
  }
  /** The batches of epoch `epoch`, in order. Breaking out of the loop early is fine. */
  async *epoch(epoch) {
    if (this.closed) throw new Error("DataLoader: closed");
    const order = this.order(epoch);
    const nb = this.length;
    const B = this.batchSize;
    const tasks = [];
    for (let b = 0; b < nb; b++) {
      const start = b * B;
      const end = Math.min(start + B, order.length);
      const positions = new Int32Array(end - start);
      for (let k = 0; k < positions.length; k++) positions[k] = start + k;
      tasks.push({ id: 0, epoch, seed: this.seed, indices: order.slice(start, end), positions });
    }
    const inFlight = [];
    let submitted = 0;
    const submit = () => {
      const t = tasks[submitted++];
      t.id = this.nextId++;
      const p = this.run(t);
      p.catch(() => {
      });
      inFlight.push(p);
    };
    try {
      for (let b = 0; b < nb; b++) {
        while (submitted < nb && inFlight.length < this.prefetch) submit();
        const r = await inFlight.shift();
        yield this.toBatch(epoch, b, r);
      }
    } finally {
      inFlight.length = 0;
    }
  }
  toBatch(epoch, index, r) {
    const [iw, ih] = this.config.inputSize;
    const [hw, hh] = this.config.heatmapSize;
    const n = r.meta.length;
    const J = this.dataset.numJoints;
    return {
      epoch,
      index,
      size: n,
      images: r.images,
      targets: r.targets,
      targetWeights: r.targetWeights,
      imageShape: [n, 3, ih, iw],
      targetShape: [n, J, hh, hw],
      weightShape: [n, J],
      meta: r.meta
    };
  }
  async run(task) {
    if (this.closed) throw new Error("DataLoader: closed");
    if (this.workers === 0) {
      this.local ??= new BatchBuilder(this.dataset, this.config, this.cacheBytes, this.decodeConcurrency);
      return this.local.build(task);
    }
    const pool = await (this.pool ??= this.startPool());
    const live = pool.filter((s) => !s.dead);
    if (live.length === 0) throw pool[0].dead;
    let slot = live[0];
    for (const s of live) if (s.pending.size < slot.pending.size) slot = s;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(task.id, { resolve, reject });
      const msg = { type: "batch", task };
      slot.worker.postMessage(msg);
    });
  }
  async startPool() {
    const { Worker } = await import("node:worker_threads");
    const { bootstrap } = await workerBootstrap();
    const init = {
      type: "init",
      dataset: this.dataset,
      config: this.config,
      cacheBytes: this.cacheBytes,
      decodeConcurrency: this.decodeConcurrency
    };
    const slots = [];
    const ready = [];
    for (let i = 0; i < this.workers; i++) {
      const worker = new Worker(bootstrap, { eval: true, name: `tmpose-loader-${i}` });
      const slot = { worker, pending: /* @__PURE__ */ new Map(), dead: void 0 };
      slots.push(slot);
      let onReady;
      let onFail;
      ready.push(
        new Promise((res, rej) => {
          onReady = res;
          onFail = rej;
        })
      );
      const failAll = (err) => {
        if (slot.dead) return;
        slot.dead = err;
        onFail(err);
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on("message", (msg) => {
        if (msg.type === "ready") {
          onReady();
          return;
        }
        const id2 = msg.type === "batch" ? msg.result.id : msg.id;
        const p = slot.pending.get(id2);
        if (!p) return;
        slot.pending.delete(id2);
        if (slot.pending.size === 0) worker.unref();
        if (msg.type === "batch") p.resolve(msg.result);
        else p.reject(new Error(msg.message));
      });
      worker.on("error", (e) => failAll(new Error(`loader worker ${i} failed: ${e.message}`)));
      worker.on("exit", (code) => failAll(new Error(`loader worker ${i} exited (code ${code})`)));
      worker.postMessage(init);
    }
    await Promise.all(ready);
    for (const s of slots) if (s.pending.size === 0) s.worker.unref();
    return slots;
  }
  /** Stops the workers. The loader cannot be used afterwards. */
  async close() {
    this.closed = true;
    const pool = this.pool;
    this.pool = void 0;
    if (!pool) return;
    let slots;
    try {
      slots = await pool;
    } catch {
      return;
    }
    const err = new Error("DataLoader: closed");
    await Promise.all(
      slots.map(async (s) => {
        s.dead ??= err;
        for (const p of s.pending.values()) p.reject(err);
        s.pending.clear();
        await s.worker.terminate();
      })
    );
  }
  async [Symbol.asyncDispose]() {
    await this.close();
  }
};
function defaultWorkers() {
  const proc = globalThis.process;
  const os = proc?.getBuiltinModule?.("node:os");
  if (os) return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const n = globalThis.navigator?.hardwareConcurrency;
  return Math.max(1, n ?? 1);
}
async function workerBootstrap() {
  const self = import.meta.url;
  const fromSource = /\.[cm]?tsx?$/.test(new URL(self).pathname);
  const entry = fromSource ? new URL("./worker.ts", self).href : self;
  let register = "";
  if (fromSource) {
    const { createRequire } = await import("node:module");
    const { pathToFileURL } = await import("node:url");
    let api;
    try {
      const pkg = createRequire(self).resolve("tsx/package.json");
      api = pathToFileURL(pkg.replace(/package\.json$/, "dist/esm/api/index.mjs")).href;
    } catch {
      throw new Error("DataLoader: running from TypeScript sources needs the `tsx` package for the workers (or use workers: 0)");
    }
    register = `const api = await import(${JSON.stringify(api)}); api.register();`;
  }
  const bootstrap = `(async () => { ${register} const m = await import(${JSON.stringify(entry)}); await m.runLoaderWorker(); })().catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', id: -1, message: String(e && e.stack || e) }); throw e; });`;
  return { bootstrap };
}

// src/data/worker.ts
async function runLoaderWorker() {
  const { parentPort, isMainThread } = await import("node:worker_threads");
  if (isMainThread || !parentPort) return;
  const port = parentPort;
  let builder;
  let chain = Promise.resolve();
  port.on("message", (msg) => {
    if (msg.type === "init") {
      builder = new BatchBuilder(msg.dataset, msg.config, msg.cacheBytes, msg.decodeConcurrency);
      port.postMessage({ type: "ready" });
      return;
    }
    if (msg.type === "batch") {
      const task = msg.task;
      chain = chain.then(async () => {
        if (!builder) {
          port.postMessage({ type: "error", id: task.id, message: "loader worker: batch before init" });
          return;
        }
        try {
          const result = await builder.build(task);
          port.postMessage({ type: "batch", result }, [
            result.images.buffer,
            result.targets.buffer,
            result.targetWeights.buffer
          ]);
        } catch (e) {
          port.postMessage({ type: "error", id: task.id, message: e.message ?? String(e) });
        }
      });
    }
  });
}
export {
  BatchBuilder,
  COCO_AUGMENT,
  COCO_FLIP_PAIRS,
  COCO_KEYPOINT_NAMES,
  COCO_UPPER_BODY_IDS,
  DataLoader,
  IMAGENET_MEAN,
  IMAGENET_STD,
  ImageCache,
  MPII_AUGMENT,
  MPII_FLIP_PAIRS,
  MPII_UPPER_BODY_IDS,
  PIXEL_STD,
  Rng,
  SampleWorkspace,
  affinePoint,
  allocBatch,
  augment,
  blankJsonValues,
  cocoFromJson,
  decodeImageBuffer,
  fliplrJoints,
  generateTarget,
  getAffineTransform,
  getSample,
  halfBodyTransform,
  hashKeys,
  invertAffine,
  loadCoco,
  loadMpii,
  mpiiFromJson,
  normalizeTable,
  permutation,
  processSample,
  readImage,
  runLoaderWorker,
  sanitizeBox,
  solveAffine,
  subsetDataset,
  warpAffineToCHW,
  warpAffineU8,
  xywhToCenterScale
};
