// The subcommands: their flags, checks and what they print.
import { CONFIG_NAMES, type ConfigName, countFlops, countParams, createModel, flopTable, getConfig, resultTokenRects, tokenGraphics } from '@tmpose/model';
import { type Precision, init, io } from '@tmpose/tensor';
import {
  COCO_KEYPOINT_NAMES,
  MPII_JOINT_NAMES,
  cocoKeypointStatsJson,
  drawPosesToFile,
  estimatePosesInFile,
  evaluateCocoKeypoints,
  evaluateModelOnCoco,
  evaluateModelOnMpii,
  exportWeights,
  formatCocoKeypointSummary,
  formatPckhJoints,
  inspectImageFile,
  loadCoco,
  loadMpii,
  loadMpiiGroundTruth,
  modelFromCheckpoint,
  resolveDataLayout,
  TrainingInterrupted,
  train,
} from '@tmpose/train';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { isImageCollection, predictMany } from './predict-many.js';

export interface Command {
  summary: string;
  run(args: string[]): Promise<void>;
}

type Flags = Record<string, string | boolean | undefined>;

function parse(args: string[], spec: Record<string, 'string' | 'boolean'>, positionals = false): { values: Flags; positionals: string[] } {
  const options = Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }]));
  const parsed = parseArgs({ args, options, allowPositionals: positionals, strict: true });
  return { values: parsed.values as Flags, positionals: parsed.positionals };
}

function need(value: string | undefined, flag: string): string {
  if (!value) throw new Error(`missing ${flag}`);
  return value;
}

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${flag} must be a number, got '${value}'`);
  return n;
}

function configName(value: string): ConfigName {
  if (!(CONFIG_NAMES as string[]).includes(value)) throw new Error(`unknown config '${value}'; choose one of ${CONFIG_NAMES.join(', ')}`);
  return value as ConfigName;
}

/** The options of a JSON settings file, checked against the command's flags. */
async function readSettings(path: string, spec: Record<string, 'string' | 'boolean'>): Promise<Flags> {
  const json = await readJsonFile(path, 'settings');
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: expected a JSON object of options`);
  const out: Flags = {};
  for (const [key, value] of Object.entries(json)) {
    const type = spec[key];
    if (!type || key === 'settings') throw new Error(`${path}: unknown option '${key}' (options: ${Object.keys(spec).filter((k) => k !== 'settings').join(', ')})`);
    if (type === 'boolean' ? typeof value !== 'boolean' : typeof value !== 'string' && typeof value !== 'number' && !Array.isArray(value)) {
      throw new Error(`${path}: option '${key}' must be a ${type === 'boolean' ? 'boolean' : 'string or number'}, got ${JSON.stringify(value)}`);
    }
    out[key] = type === 'boolean' ? (value as boolean) : Array.isArray(value) ? value.join(',') : String(value);
  }
  return out;
}

/** --precision: f32 (the default), f16 (mixed precision) or auto (f16 where the adapter has shader-f16). */
function precisionFlag(value: string | undefined): Precision {
  const names: Record<string, Precision> = { f32: 'float32', float32: 'float32', f16: 'float16', float16: 'float16', auto: 'auto' };
  if (value === undefined) return 'float32';
  const p = names[value];
  if (!p) throw new Error(`--precision must be f32, f16 or auto, got '${value}'`);
  return p;
}

/** --config for bare weights (an official .pth); our checkpoints name their own. */
const optionalConfig = (value: string | boolean | undefined) => (typeof value === 'string' ? configName(value) : undefined);

/** Writes a text file atomically (temporary file, then rename), as every output of the command. */
const writeTextAtomic = (path: string, text: string) => io.writeFileAtomic(path, new TextEncoder().encode(text));

/** The shell's exit status for a process ended by `signal` (128 + its number): 130 for SIGINT, 143 for SIGTERM. */
const signalExitCode = (signal: NodeJS.Signals) => (signal === 'SIGTERM' ? 143 : 130);

/** An argument as typed into a shell. */
const quoteArg = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

async function readJsonFile(path: string, what: string): Promise<unknown> {
  if (!existsSync(path)) throw new Error(`${path}: no such ${what} file`);
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

export const commands: Record<string, Command> = {
  train: {
    summary: 'tmpose train --config tmpose-b --data <COCO | MPII root> --out <run dir> [--pretrained hrnet_w32-36af842e.pth] [--epochs --batch-size --lr --milestones --resume | --overwrite --divergence --precision f32 | f16 | auto --no-graph ...] [--settings <file.json>]',
    async run(args) {
      const spec = {
        settings: 'string',
        config: 'string',
        data: 'string',
        out: 'string',
        epochs: 'string',
        'batch-size': 'string',
        lr: 'string',
        milestones: 'string',
        seed: 'string',
        workers: 'string',
        'samples-per-epoch': 'string',
        'log-every': 'string',
        'eval-every': 'string',
        flip: 'boolean',
        resume: 'boolean',
        overwrite: 'boolean',
        divergence: 'string',
        'cache-images': 'boolean',
        pretrained: 'string',
        precision: 'string',
        'no-graph': 'boolean',
      } as const;
      const { values: flags } = parse(args, spec);
      // A settings file holds the same options as the flags ({"epochs": 300, "batch-size": 32, ...});
      // flags given on the command line win.
      const values: Flags = { ...(flags.settings ? await readSettings(String(flags.settings), spec) : {}), ...flags };
      // Ctrl-C or SIGTERM: the run finishes its step, saves a checkpoint and stops (TrainingInterrupted);
      // a second signal quits at once (an unfinished atomic write is cleaned up by the next run).
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(signalExitCode(signal));
        console.error(`\n${signal}: finishing the current step and saving a checkpoint (send it again to quit at once)`);
        controller.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const result = await train({
        config: configName(need(values.config as string | undefined, '--config')),
        data: need(values.data as string | undefined, '--data'),
        out: need(values.out as string | undefined, '--out'),
        epochs: number(values.epochs as string | undefined, '--epochs'),
        batchSize: number(values['batch-size'] as string | undefined, '--batch-size'),
        lr: number(values.lr as string | undefined, '--lr'),
        milestones: values.milestones ? String(values.milestones).split(',').map((m) => number(m, '--milestones')!) : undefined,
        seed: number(values.seed as string | undefined, '--seed'),
        workers: number(values.workers as string | undefined, '--workers'),
        samplesPerEpoch: number(values['samples-per-epoch'] as string | undefined, '--samples-per-epoch'),
        logEvery: number(values['log-every'] as string | undefined, '--log-every'),
        evalEvery: number(values['eval-every'] as string | undefined, '--eval-every'),
        flipTest: Boolean(values.flip),
        resume: Boolean(values.resume),
        overwrite: Boolean(values.overwrite),
        divergence: number(values.divergence as string | undefined, '--divergence'),
        cacheImages: Boolean(values['cache-images']),
        pretrained: values.pretrained as string | undefined,
        precision: precisionFlag(values.precision as string | undefined),
        // Steps are captured and replayed unless --no-graph (the same numbers either way).
        graph: values['no-graph'] ? false : undefined,
        signal: controller.signal,
      })
        .catch((err: unknown) => {
          if (!(err instanceof TrainingInterrupted)) throw err;
          const signal = String(err.reason) as NodeJS.Signals;
          const again = ['train', ...args.filter((a) => a !== '--resume' && a !== '--overwrite'), '--resume'].map(quoteArg).join(' ');
          const how = err.checkpoint ? `; to continue: tmpose ${again}` : '';
          throw Object.assign(new Error(`${signal}: ${err.message}${how}`), { exitCode: signalExitCode(signal) });
        })
        .finally(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        });
      if (result.steps === 0) {
        console.log(`nothing to train: ${result.checkpoint} already holds ${result.epochs} epochs (raise --epochs to train on)`);
        return;
      }
      const best = result.best >= 0 ? `best ${result.metric} ${result.best.toFixed(4)}` : 'not validated';
      const amp = result.precision === 'float16' ? ` (mixed precision, ${result.skippedSteps} steps skipped on overflow)` : '';
      console.log(`done: ${result.epochs} epochs${amp}, last loss ${result.lastLoss.toExponential(3)}, ${best}; checkpoint ${result.checkpoint}`);
    },
  },

  eval: {
    summary: 'tmpose eval --checkpoint <file> [--config <name> for an official .pth] --data <COCO root | MPII root or .json> [--boxes gt | <detections.json>] [--flip] [--out results.json]',
    async run(args) {
      const { values } = parse(args, {
        checkpoint: 'string',
        config: 'string',
        data: 'string',
        boxes: 'string',
        flip: 'boolean',
        out: 'string',
        'batch-size': 'string',
      });
      const data = resolveDataLayout(need(values.data as string | undefined, '--data'));
      const boxes = (values.boxes as string | undefined) ?? 'gt';
      if (boxes !== 'gt' && !existsSync(boxes)) throw new Error(`${boxes}: no such detection file`);
      const { model } = await modelFromCheckpoint(need(values.checkpoint as string | undefined, '--checkpoint'), optionalConfig(values.config));
      const [H, W] = model.config.imageSize;
      const batchSize = number(values['batch-size'] as string | undefined, '--batch-size');
      if (data.kind === 'mpii') {
        if (model.config.numJoints !== 16) throw new Error(`MPII data needs a 16-joint model (an -mpii config); this one has ${model.config.numJoints} joints`);
        const dataset = await loadMpii({ annotationFile: data.annotationFile, imageRoot: data.imageRoot });
        if (dataset.length === 0) throw new Error(`${data.annotationFile}: no person to evaluate`);
        // PCKh as the official evaluation computes it, from annot/gt_valid.mat when the folder has it.
        const groundTruth = data.gtValidFile ? await loadMpiiGroundTruth(data.gtValidFile) : undefined;
        const evaluation = await evaluateModelOnMpii(model, dataset, { flip: Boolean(values.flip), batchSize }, groundTruth);
        console.log(`${evaluation.table}\n${formatPckhJoints(evaluation.result)}`);
        return;
      }
      const layout = data.coco;
      const dataset = await loadCoco({
        annotationFile: layout.valAnnotations,
        imageRoot: layout.valImages,
        aspectRatio: W / H,
        ...(boxes === 'gt' ? {} : { detectionFile: boxes }),
      });
      if (dataset.length === 0) throw new Error(`${boxes === 'gt' ? layout.valAnnotations : boxes}: no person to evaluate`);
      const evaluation = await evaluateModelOnCoco(model, dataset, layout.valAnnotations, {
        flip: Boolean(values.flip),
        batchSize,
      });
      console.log(evaluation.summary);
      if (values.out) await writeTextAtomic(String(values.out), JSON.stringify(evaluation.results));
      console.log(cocoKeypointStatsJson(evaluation.stats));
    },
  },

  predict: {
    summary:
      'tmpose predict --checkpoint <file> [--config <name>] <image> [--boxes <json>] [--flip] [--keep <ratio> --seed <n>] --out <image.png> [--json <keypoints.json>]\n' +
      '  tmpose predict --checkpoint <file> <folder | images.json> [--image-root <dir>] [--boxes <detections.json> --box-score 0] [--flip] --results <results.json> [--out <dir>]',
    async run(args) {
      const spec = { checkpoint: 'string', config: 'string', boxes: 'string', out: 'string', flip: 'boolean', json: 'string', results: 'string', 'box-score': 'string', 'image-root': 'string', 'batch-size': 'string', keep: 'string', seed: 'string' } as const;
      const { values, positionals } = parse(args, spec, true);
      if (positionals[0] && isImageCollection(positionals[0])) {
        const { model } = await modelFromCheckpoint(need(values.checkpoint as string | undefined, '--checkpoint'), optionalConfig(values.config));
        await predictMany(model, {
          source: positionals[0],
          imageRoot: values['image-root'] as string | undefined,
          boxes: values.boxes as string | undefined,
          boxScore: number(values['box-score'] as string | undefined, '--box-score') ?? 0,
          flip: Boolean(values.flip),
          results: need(values.results as string | undefined, '--results'),
          draw: values.out as string | undefined,
          batchSize: number(values['batch-size'] as string | undefined, '--batch-size'),
        });
        model.dispose();
        return;
      }
      const image = positionals[0];
      if (!image) throw new Error('missing <image>');
      if (!existsSync(image)) throw new Error(`${image}: no such image file`);
      // As in training: a JPEG cut short is used with its missing part grey, and said so.
      if ((await inspectImageFile(image)).truncated) console.error(`warning: ${image} is cut short; its missing part is filled grey`);
      const out = need(values.out as string | undefined, '--out');
      let boxes: [number, number, number, number][] | undefined;
      if (values.boxes) {
        const json = await readJsonFile(String(values.boxes), 'boxes');
        const list = Array.isArray(json) ? json : [];
        boxes = list.map((b: unknown, i: number) => {
          const box = (b && typeof b === 'object' && 'bbox' in b ? (b as { bbox: unknown }).bbox : b) as unknown;
          if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number')) {
            throw new Error(`${values.boxes}: entry ${i} must be [x, y, w, h] or { "bbox": [x, y, w, h] }`);
          }
          // A box without area has no crop to warp (its affine transform is singular).
          if (!(box[2] > 0 && box[3] > 0)) throw new Error(`${values.boxes}: entry ${i} is an empty box (${JSON.stringify(box)}); width and height must be positive`);
          return box as [number, number, number, number];
        });
      }
      // With --keep the model sees that share of its tokens (TMPose's masking), drawn under the skeletons.
      const keep = number(values.keep as string | undefined, '--keep');
      if (keep !== undefined && !(keep > 0 && keep <= 1)) throw new Error(`--keep must be in (0, 1], got ${keep}`);
      const seed = number(values.seed as string | undefined, '--seed');
      const { model } = await modelFromCheckpoint(need(values.checkpoint as string | undefined, '--checkpoint'), optionalConfig(values.config));
      const result = await estimatePosesInFile(model, image, { boxes: boxes?.length ? boxes : undefined, flip: Boolean(values.flip), keep, seed });
      const people = result.people;
      await drawPosesToFile(image, people, out, tokenGraphics(resultTokenRects(result)));
      if (values.json) {
        // The keypoints in image pixels, [x, y, score] per joint (score = the heatmap peak), per person.
        const joints = model.config.numJoints === 16 ? MPII_JOINT_NAMES : model.config.numJoints === 17 ? COCO_KEYPOINT_NAMES : undefined;
        const doc = { image, joints, people: people.map((p) => ({ score: p.score, keypoints: p.keypoints })) };
        await writeTextAtomic(String(values.json), `${JSON.stringify(doc)}\n`);
      }
      console.log(`${people.length} ${people.length === 1 ? 'person' : 'people'} drawn to ${out}${values.json ? `, keypoints to ${values.json}` : ''}`);
    },
  },

  export: {
    summary: 'tmpose export --checkpoint <run/best.safetensors> [--config <name> for an official .pth] --out <model.safetensors> [--dtype float32 | float16]: the weights alone, the configuration in the metadata; float16 halves the file',
    async run(args) {
      const { values } = parse(args, { checkpoint: 'string', config: 'string', out: 'string', dtype: 'string' });
      const out = need(values.out as string | undefined, '--out');
      const dtype = (values.dtype as string | undefined) ?? 'float32';
      if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype must be float32 or float16, got '${dtype}'`);
      const { model } = await modelFromCheckpoint(need(values.checkpoint as string | undefined, '--checkpoint'), optionalConfig(values.config));
      try {
        const count = await exportWeights(model, out, { dtype });
        console.log(`${count} tensors of ${model.config.name} to ${out} (${dtype})`);
      } finally {
        model.dispose();
      }
    },
  },

  info: {
    summary: 'tmpose info --config <name>: parameters and FLOPs (both conventions)',
    async run(args) {
      const { values } = parse(args, { config: 'string' });
      const name = configName(need(values.config as string | undefined, '--config'));
      const config = getConfig(name);
      await init();
      const model = createModel(config);
      console.log(`${name}: ${config.dataset.toUpperCase()} ${config.imageSize.join('x')}, keep ${config.keep} (${config.sampler}, PE ${config.pe})`);
      console.log(`parameters: ${countParams(model).toLocaleString('en-US')} (all), ${countParams(model, { convention: 'paper' }).toLocaleString('en-US')} (paper's counter: Conv/BN/Linear only)`);
      model.dispose();
      const macs = countFlops(config, { keep: config.keep, convention: 'macs' });
      const paper = countFlops(config, { keep: config.keep, convention: 'paper' });
      console.log(`at keep ${config.keep}: true GMACs ${macs.total.toFixed(3)} (transformer ${macs.transformer.toFixed(3)}); paper GFLOPs ${paper.total.toFixed(3)} (transformer ${paper.transformer.toFixed(3)})`);
      console.log(flopTable(config));
    },
  },

  score: {
    summary: 'tmpose score --gt <annotations.json> --results <results.json>: COCO keypoint AP as pycocotools',
    async run(args) {
      const { values } = parse(args, { gt: 'string', results: 'string', json: 'string' });
      const gt = await readJsonFile(need(values.gt as string | undefined, '--gt'), 'annotation');
      const results = await readJsonFile(need(values.results as string | undefined, '--results'), 'results');
      const evaluation = evaluateCocoKeypoints(gt, results);
      console.log(formatCocoKeypointSummary(evaluation.stats));
      const json = cocoKeypointStatsJson(evaluation.stats);
      if (values.json) await writeTextAtomic(String(values.json), json);
      else console.log(json);
    },
  },

  demo: {
    summary: 'tmpose demo [--out <dir>] [--epochs N]: train `tiny` on the bundled COCO sample, evaluate, draw predictions',
    async run(args) {
      const { values } = parse(args, { out: 'string', epochs: 'string', data: 'string', lr: 'string' });
      await runDemo({
        out: values.out as string | undefined,
        epochs: number(values.epochs as string | undefined, '--epochs'),
        data: values.data as string | undefined,
        lr: number(values.lr as string | undefined, '--lr'),
      });
    },
  },
};

export function usage(): string {
  return ['usage: tmpose <command> [options]', '', ...Object.values(commands).map((c) => `  ${c.summary}`)].join('\n');
}
